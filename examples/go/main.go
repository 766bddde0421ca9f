// Command tensors is the objstore tensor walk-through in Go.
//
// A driver puts 15 float32 tensors of shape (i,8,8), i = 1..15, into a
// fresh store, each with metadata "float32 i,8,8", and hands their IDs, as
// hex, to a pool of worker processes: this same program, started again as
// `tensors worker STORE HEX...`. A worker gets each tensor by ID, zero-copy,
// transposes its first two axes straight into a new object of shape
// (8,i,8), created under an ID derived from the input's, and writes
// "INPUT RESULT PID" to its stdout. The driver checks every result against
// the input with its axes swapped, shows that the original objects did not
// change, prints a summary, destroys the store, and exits non-zero on any
// mismatch.
//
// The formats are those of the C and C++ walk-throughs, so a driver in one
// language runs with workers in another (--worker-exe): data in float32,
// row-major, native byte order; metadata "float32 D0,D1,D2"; inputs from
// SplitMix64 seeded with 42, value = (draw >> 40) / 2^24; a result's ID is
// its input's with every bit flipped; the printed checksum is FNV-1a over
// all input bytes.
//
// Run: go run . [--workers N] [--worker-exe PATH]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	objstore "github.com/objstore/objstore/bindings/go"
	"github.com/objstore/objstore/examples/go/internal/tensor"
)

const (
	tensors    = 15
	maxWorkers = 15
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "worker" {
		if err := worker(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintf(os.Stderr, "worker %d: %v\n", os.Getpid(), err)
			os.Exit(1)
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workers := flag.Int("workers", 4, "number of worker processes (1..15)")
	workerExe := flag.String("worker-exe", self, "program to run as `worker STORE HEX...` (e.g. the C or C++ walk-through)")
	flag.Parse()
	if flag.NArg() > 0 || *workers < 1 || *workers > maxWorkers {
		flag.Usage()
		os.Exit(2)
	}
	if !drive(*workers, *workerExe) {
		os.Exit(1)
	}
}

// worker attaches to the store and, for each input ID, writes its result
// as "INPUT RESULT PID".
func worker(store string, hexIDs []string) error {
	s, err := objstore.Open(store, &objstore.Options{AttachOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	out := bufio.NewWriter(os.Stdout)
	for _, h := range hexIDs {
		input, err := objstore.ParseID(h)
		if err != nil {
			return err
		}
		result, _, _, err := tensor.TransposeObject(s, input, 10*time.Second)
		if err != nil {
			return fmt.Errorf("task %v: %w", input, err)
		}
		fmt.Fprintf(out, "%v %v %d\n", input, result, os.Getpid())
	}
	return out.Flush()
}

// report is one line of a worker: which result it made from which input.
type report struct {
	result objstore.ID
	pid    int
}

// drive runs the walk-through and reports whether everything checked out.
// Every problem is printed; the store is destroyed in every case.
func drive(workers int, workerExe string) bool {
	name := fmt.Sprintf("objstore-tensors-go-%d", os.Getpid())
	s, err := objstore.Open(name, &objstore.Options{CapacityBytes: 64 << 20, CreateOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		return false
	}
	fmt.Printf("store /dev/shm/%s: 64 MiB, %d worker processes (%s), objstore %s\n",
		name, workers, workerExe, objstore.Version())
	err = walkThrough(s, name, workers, workerExe)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
	}
	if st, serr := s.Stats(); serr == nil {
		fmt.Printf("store: %d objects, %d pinned, %d KiB used\n", st.ObjectCount, st.PinnedCount, st.UsedBytes>>10)
	}
	s.Close()
	if derr := objstore.Destroy(name); derr != nil {
		fmt.Fprintln(os.Stderr, "driver:", derr)
		err = derr
	}
	if err != nil {
		fmt.Println("FAILED")
		return false
	}
	fmt.Println("OK: store destroyed")
	return true
}

func walkThrough(s *objstore.Store, name string, workers int, workerExe string) error {
	// 1. Put the inputs.
	inputs := tensor.Inputs(tensors, tensor.Seed)
	ids := make([]objstore.ID, tensors)
	for i, t := range inputs {
		var err error
		if ids[i], err = s.PutWithMeta(tensor.Bytes(t), tensor.Meta([]int{i + 1, 8, 8})); err != nil {
			return fmt.Errorf("put input %d: %w", i+1, err)
		}
	}
	fmt.Printf("put %d tensors of shape (i,8,8), i = 1..%d, float32, seed %d, checksum %016x\n",
		tensors, tensors, tensor.Seed, tensor.Checksum(inputs...))

	// 2. Hand the IDs to the workers and collect their reports.
	reports, err := runWorkers(workerExe, name, workers, ids)
	if err != nil {
		return err
	}

	// 3. Pin every result with one GetMany (it would wait for any not
	// sealed yet) and check it against the input with its axes swapped.
	resultIDs := make([]objstore.ID, tensors)
	for i, id := range ids {
		resultIDs[i] = tensor.ResultID(id)
	}
	results, err := s.GetMany(resultIDs, 10*time.Second)
	defer func() {
		for _, o := range results {
			if o != nil {
				o.Release()
			}
		}
	}()
	if err != nil && !errors.Is(err, objstore.ErrTimeout) {
		return fmt.Errorf("get results: %w", err)
	}
	resultsOK, originalsOK := 0, 0
	for i, obj := range results {
		a := i + 1
		r, reported := reports[ids[i]]
		check := "ok"
		switch {
		case !reported:
			check = "no result reported"
		case r.result != resultIDs[i]:
			check = "reported result " + r.result.String() + " is not the input's derived ID"
		case obj == nil:
			check = "result not in the store"
		default:
			if shape, perr := tensor.ParseMeta(obj.UnsafeMeta()); perr != nil {
				check = perr.Error()
			} else if tensor.ShapeString(shape) != tensor.ShapeString([]int{8, a, 8}) {
				check = "wrong shape " + tensor.ShapeString(shape)
			} else if !tensor.IsTranspose01(tensor.Floats(obj.UnsafeData()), inputs[i], a, 8, 8) {
				check = "values differ from the transposed input"
			}
		}
		if check == "ok" {
			resultsOK++
		}
		fmt.Printf("  tensor %2d  (%2d,8,8) -> (8,%2d,8)  id ..%s -> ..%s  worker %-7d %s\n",
			a, a, a, ids[i].String()[30:], resultIDs[i].String()[30:], r.pid, check)

		// 4. The input is unchanged: a transformation makes a new object.
		if in, gerr := s.Get(ids[i], objstore.NoWait); gerr != nil {
			fmt.Printf("  tensor %2d: original: %v\n", a, gerr)
		} else {
			if bytes.Equal(in.UnsafeData(), tensor.Bytes(inputs[i])) && string(in.UnsafeMeta()) == string(tensor.Meta([]int{a, 8, 8})) {
				originalsOK++
			} else {
				fmt.Printf("  tensor %2d: original changed\n", a)
			}
			in.Release()
		}
	}
	// One element row, to see the transpose: input 3 is (3,8,8), its result
	// (8,3,8), and input[2][5][:] == result[5][2][:].
	if results[2] != nil {
		in3, out3 := inputs[2], tensor.Floats(results[2].UnsafeData())
		fmt.Printf("e.g. tensor 3: input[2][5][0:3] = %.4f, result[5][2][0:3] = %.4f\n",
			in3[(2*8+5)*8:(2*8+5)*8+3], out3[(5*3+2)*8:(5*3+2)*8+3])
	}
	fmt.Printf("results correct: %d/%d; originals unchanged: %d/%d\n", resultsOK, tensors, originalsOK, tensors)
	if resultsOK != tensors || originalsOK != tensors {
		return errors.New("some results or originals are wrong")
	}
	return nil
}

// runWorkers starts the worker processes, worker w getting tensors w,
// w+n, w+2n, ... as hex arguments, and collects their reports, keyed by
// input ID. Every worker is reaped, whatever happens.
func runWorkers(exe, store string, workers int, ids []objstore.ID) (map[objstore.ID]report, error) {
	var (
		mu      sync.Mutex
		reports = map[objstore.ID]report{}
		failed  []error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		failed = append(failed, err)
		mu.Unlock()
	}
	for w := 0; w < workers; w++ {
		args := []string{"worker", store}
		for i := w; i < len(ids); i += workers {
			args = append(args, ids[i].String())
		}
		cmd := exec.Command(exe, args...)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			fail(err)
			break
		}
		if err := cmd.Start(); err != nil {
			fail(fmt.Errorf("start worker %s: %w", exe, err))
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines := bufio.NewScanner(stdout)
			for lines.Scan() {
				in, r, perr := parseReport(lines.Text())
				if perr != nil {
					fail(perr)
					continue
				}
				mu.Lock()
				reports[in] = r
				mu.Unlock()
			}
			// Wait only after the last read: it closes the pipe.
			if err := cmd.Wait(); err != nil {
				fail(fmt.Errorf("worker %d: %w", cmd.Process.Pid, err))
			}
		}()
	}
	wg.Wait()
	return reports, errors.Join(failed...)
}

// parseReport parses a worker's "INPUT RESULT PID" line.
func parseReport(line string) (objstore.ID, report, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return objstore.ID{}, report{}, fmt.Errorf("unexpected line from a worker: %q", line)
	}
	in, err1 := objstore.ParseID(f[0])
	out, err2 := objstore.ParseID(f[1])
	pid, err3 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return objstore.ID{}, report{}, fmt.Errorf("unexpected line from a worker: %q: %w", line, err)
	}
	return in, report{result: out, pid: pid}, nil
}
