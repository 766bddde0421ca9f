// Command worker is the Go stage of the cross-language pipeline
// (../README.md).
//
//	worker STORE TAG N INDEX COUNT [--timeout SECONDS] [--hang-at ITEM]
//
// Worker INDEX of COUNT handles the items i < N with i ≡ INDEX (mod COUNT),
// in order: it waits for input i (a get with a timeout: the producer may
// not have run yet), reads it in place, creates output i under its derived
// ID, writes out[k] = in[k]*2+1 (uint32, wrapping) straight into the shared
// mapping, seals it and releases the input.
//
// An output that already exists was made, or is being made, by another
// process (a worker this one replaces, or a duplicate): the worker waits
// for its seal and counts it as done by someone else. So a replacement for
// a dead worker can be given the same INDEX and COUNT: it redoes only what
// is missing. The dead worker's half-written output does not stand in its
// way: attaching to the store reclaimed it. And while it waits for another
// process's output, the worker runs a collect every 250 ms: if that
// process dies half-way, its object is aborted and this worker takes the
// item over.
//
// --hang-at ITEM (one of this worker's items) is the crash demo's victim:
// at that item the worker keeps its input pinned, creates the output,
// writes half of it, prints a line with "HANGING" and waits to be killed
// (or exits 3 when the timeout runs out).
//
// Exit status 0 when every item of this worker has its output sealed, 1 on
// any failure (including a timeout), 2 for a usage error.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	objstore "github.com/objstore/objstore/bindings/go"
)

// The protocol (../README.md, "Protocol"); the C and C++ programs have
// their own copies.
const (
	capacityBytes = 64 << 20 // of the store, if this program creates it
	maxItems      = 1000     // what fits the 64 MiB store, with room to spare
	stageInput    = 0
	stageOutput   = 1
)

// itemID: bytes 0..8 the run tag, 8..16 the item index (both
// little-endian), 16 the stage, 17..20 zero.
func itemID(tag, item uint64, stage byte) objstore.ID {
	var id objstore.ID
	binary.LittleEndian.PutUint64(id[0:8], tag)
	binary.LittleEndian.PutUint64(id[8:16], item)
	id[16] = stage
	return id
}

// itemLen is the number of uint32 values of item i.
func itemLen(item uint64) int { return int(1000 + (item*7919)%9000) }

// work is what a worker computes from an input value.
func work(v uint32) uint32 { return v*2 + 1 }

type config struct {
	store        string
	tag, n       uint64
	index, count uint64
	timeout      time.Duration
	hangAt       int64 // -1: none
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "worker: %s\nusage: worker STORE TAG N INDEX COUNT [--timeout SECONDS] [--hang-at ITEM]\n"+
		"  TAG: the run tag (decimal, 64-bit); N: items (1..%d); 0 <= INDEX < COUNT; timeout default 30\n",
		msg, maxItems)
	os.Exit(2)
}

// parseU64 parses a decimal number in [lo, hi].
func parseU64(what, s string, lo, hi uint64) uint64 {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		usage(fmt.Sprintf("%s %q is not a decimal number", what, s))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		usage(fmt.Sprintf("%s %q is out of range [%d, %d]", what, s, lo, hi))
	}
	return v
}

func parseArgs(args []string) config {
	c := config{timeout: 30 * time.Second, hangAt: -1}
	var pos []string
	for a := 0; a < len(args); a++ {
		switch args[a] {
		case "--timeout", "--hang-at":
			if a+1 >= len(args) {
				usage(args[a] + " needs a value")
			}
			if args[a] == "--timeout" {
				c.timeout = time.Duration(parseU64("timeout", args[a+1], 1, 86400)) * time.Second
			} else {
				c.hangAt = int64(parseU64("hang-at", args[a+1], 0, maxItems-1))
			}
			a++
		default:
			if strings.HasPrefix(args[a], "-") {
				usage("unknown option " + args[a])
			}
			pos = append(pos, args[a])
		}
	}
	if len(pos) != 5 {
		usage("expected 5 arguments")
	}
	c.store = pos[0]
	c.tag = parseU64("TAG", pos[1], 0, ^uint64(0))
	c.n = parseU64("N", pos[2], 1, maxItems)
	c.count = parseU64("COUNT", pos[4], 1, maxItems)
	c.index = parseU64("INDEX", pos[3], 0, c.count-1)
	if c.hangAt >= 0 && (uint64(c.hangAt) >= c.n || uint64(c.hangAt)%c.count != c.index) {
		usage(fmt.Sprintf("--hang-at %d is not one of this worker's items", c.hangAt))
	}
	return c
}

// openStore creates the store, or attaches if it exists, and says which:
// every program of the pipeline may be the first. (Open with neither
// CreateOnly nor AttachOnly does the same without telling.)
func openStore(name string) (*objstore.Store, bool, error) {
	for attempt := 0; ; attempt++ {
		s, err := objstore.Open(name, &objstore.Options{CapacityBytes: capacityBytes, CreateOnly: true})
		if err == nil {
			return s, true, nil
		}
		if !errors.Is(err, objstore.ErrAlreadyExists) {
			return nil, false, err
		}
		s, err = objstore.Open(name, &objstore.Options{AttachOnly: true})
		if err == nil {
			return s, false, nil
		}
		// Destroyed between the two calls: try again.
		if !errors.Is(err, objstore.ErrNotFound) || attempt == 10 {
			return nil, false, err
		}
	}
}

type worker struct {
	config
	s        *objstore.Store
	deadline time.Time
	who      string
}

// get waits, until the deadline, for the object id to be sealed.
func (w *worker) get(id objstore.ID) (*objstore.Object, error) {
	left := time.Until(w.deadline)
	if left <= 0 {
		left = objstore.NoWait // a negative timeout would mean Forever
	}
	return w.s.Get(id, left)
}

// uint32s views a 64-byte aligned object's bytes as uint32 values, in
// place (the protocol's byte order is the machine's).
func uint32s(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// checkMeta checks an input's metadata, "uint32 LEN", against its size.
func checkMeta(meta []byte, size int, want int) error {
	var n int
	if _, err := fmt.Sscanf(string(meta), "uint32 %d", &n); err != nil || string(meta) != fmt.Sprintf("uint32 %d", n) {
		return fmt.Errorf("metadata %q is not \"uint32 LEN\"", meta)
	}
	if n != want || size != 4*n {
		return fmt.Errorf("metadata %q, %d bytes: expected %d values", meta, size, want)
	}
	return nil
}

// outcome of one item.
type outcome int

const (
	made     outcome = iota // this worker made the output
	byOther                 // another process made it
	takeover                // another process had begun it and died; this worker made it
)

// collectEvery is how often a worker waiting for another process's output
// checks whether that process died (an os_collect).
const collectEvery = 250 * time.Millisecond

// do makes output i, unless another process made it or is making it.
func (w *worker) do(i uint64) (outcome, error) {
	in, err := w.get(itemID(w.tag, i, stageInput))
	if err != nil {
		return 0, fmt.Errorf("input %d: %w", i, err)
	}
	defer in.Release() // unless we hang below, where it stays pinned
	n := itemLen(i)
	if err := checkMeta(in.UnsafeMeta(), in.Len(), n); err != nil {
		return 0, fmt.Errorf("input %d: %w", i, err)
	}
	outID := itemID(w.tag, i, stageOutput)
	meta := fmt.Sprintf("uint32 %d worker=%d/%d pid=%d", n, w.index, w.count, os.Getpid())
	waited := false
	var u *objstore.Unsealed
	for {
		u, err = w.s.Create(outID, 4*n, []byte(meta))
		if !errors.Is(err, objstore.ErrAlreadyExists) {
			break
		}
		// Sealed already, or being written by another process. (A process
		// that died half-way through it was reclaimed when this one
		// attached, if it died before: then Create succeeded.) Wait a
		// little for the seal...
		left := min(time.Until(w.deadline), collectEvery)
		if left <= 0 {
			return 0, fmt.Errorf("output %d exists but was not sealed within the timeout", i)
		}
		out, err := w.s.Get(outID, left)
		if err == nil {
			return byOther, out.Release()
		}
		if !errors.Is(err, objstore.ErrTimeout) {
			return 0, fmt.Errorf("output %d: %w", i, err)
		}
		if !waited {
			fmt.Printf("%s: output %d is being written by another process: waiting for its seal\n", w.who, i)
			waited = true
		}
		// ...and if its writer has died meanwhile, reclaim what it held:
		// its half-written object is aborted and the ID is free, so the
		// next Create takes the item over. A live writer, even a stopped
		// one, keeps its object.
		if err := w.s.Collect(); err != nil {
			return 0, err
		}
	}
	if err != nil {
		return 0, fmt.Errorf("output %d: %w", i, err)
	}
	result := made
	if waited {
		result = takeover
		fmt.Printf("%s: output %d: its writer died; took it over\n", w.who, i)
	}
	src, dst := uint32s(in.UnsafeData()), uint32s(u.UnsafeData())
	if int64(i) == w.hangAt {
		for k := 0; k < n/2; k++ {
			dst[k] = work(src[k])
		}
		fmt.Printf("%s: HANGING at item %d: input %v pinned, output %v half-written; waiting to be killed\n",
			w.who, i, in.ID(), outID)
		for time.Now().Before(w.deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "%s: was not killed within the timeout\n", w.who)
		os.Exit(3)
	}
	for k := range dst {
		dst[k] = work(src[k])
	}
	if err := u.Seal(); err != nil {
		return 0, fmt.Errorf("seal output %d: %w", i, err)
	}
	return result, nil
}

func main() {
	c := parseArgs(os.Args[1:])
	w := &worker{config: c, deadline: time.Now().Add(c.timeout),
		who: fmt.Sprintf("worker %d/%d (pid %d)", c.index, c.count, os.Getpid())}
	if err := w.run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: FAILED: %v\n", w.who, err)
		os.Exit(1)
	}
}

func (w *worker) run() error {
	start := time.Now()
	s, created, err := openStore(w.store)
	if err != nil {
		return fmt.Errorf("open %s: %w", w.store, err)
	}
	w.s = s
	defer s.Close()
	// What the store looks like once this process is attached: an attach
	// reclaims whatever dead processes held, so after a crash these
	// counters already show the dead worker's pins and half-written object
	// gone.
	st, err := s.Stats()
	if err != nil {
		return err
	}
	how := "attached to"
	if created {
		how = "created"
	}
	fmt.Printf("%s: %s store %s: objects=%d unsealed=%d pinned=%d attached=%d reclaimed_processes=%d\n",
		w.who, how, w.store, st.ObjectCount, st.UnsealedCount, st.PinnedCount, st.AttachedProcesses,
		st.ReclaimedProcesses)

	var mine, others, taken []string
	for i := w.index; i < w.n; i += w.count {
		r, err := w.do(i)
		if err != nil {
			return err
		}
		item := strconv.FormatUint(i, 10)
		if r == byOther {
			others = append(others, item)
		} else {
			mine = append(mine, item)
		}
		if r == takeover {
			taken = append(taken, item)
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	tookOver := ""
	if len(taken) > 0 {
		tookOver = fmt.Sprintf(" (%d taken over from a dead writer [%s])", len(taken), strings.Join(taken, " "))
	}
	fmt.Printf("%s: run %d: made %d outputs [%s]%s, %d already made by another process [%s], in %.3f s\n",
		w.who, w.tag, len(mine), strings.Join(mine, " "), tookOver, len(others), strings.Join(others, " "),
		time.Since(start).Seconds())
	return nil
}
