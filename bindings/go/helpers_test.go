package objstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Helper processes: a test that needs another process re-runs this test
// binary with helperEnv set to a mode; TestMain sees it and runs that mode
// instead of the tests.
const (
	helperEnv      = "OBJSTORE_GO_TEST_HELPER"
	helperStoreEnv = "OBJSTORE_GO_TEST_STORE"
	helperIDEnv    = "OBJSTORE_GO_TEST_ID"
	helperID2Env   = "OBJSTORE_GO_TEST_ID2"
	// helperLingerEnv is the helper's Options.TicketLinger
	// (time.ParseDuration's form); unset: none.
	helperLingerEnv = "OBJSTORE_GO_TEST_LINGER"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper is the body of a helper process.
func runHelper(mode string) error {
	opts := &Options{AttachOnly: true}
	if linger := os.Getenv(helperLingerEnv); linger != "" {
		d, err := time.ParseDuration(linger)
		if err != nil {
			return err
		}
		opts.TicketLinger = d
	}
	s, err := Open(os.Getenv(helperStoreEnv), opts)
	if mode == "attach" {
		// Report how the attach went, for the parent to check.
		var st Status
		if errors.As(err, &st) {
			fmt.Println(uint32(st))
		} else if err == nil {
			fmt.Println(uint32(StatusOK))
			return s.Close()
		}
		return err
	}
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := ParseID(os.Getenv(helperIDEnv))
	if err != nil {
		return err
	}
	switch mode {
	case "seal":
		// Create, fill in place and seal the object the parent waits for.
		u, err := s.Create(id, 4096, []byte("from another process"))
		if err != nil {
			return err
		}
		fill(u.UnsafeData(), 7)
		return u.Seal()
	case "crash":
		// Pin the object id, half-write the object id2, report, and wait
		// to be killed.
		obj, err := s.Get(id, 10*time.Second)
		if err != nil {
			return err
		}
		id2, err := ParseID(os.Getenv(helperID2Env))
		if err != nil {
			return err
		}
		u, err := s.Create(id2, 1<<16, nil)
		if err != nil {
			return err
		}
		fill(u.UnsafeData()[:1<<15], 9)
		fmt.Println("ready")
		// Block until killed (the parent never writes to stdin).
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = obj
		return errors.New("was not killed")
	case "take":
		// Take the ticket (binary) read from stdin, hold the reference
		// until a line comes, then close it.
		in := bufio.NewReader(os.Stdin)
		wire := make([]byte, TicketSize)
		if _, err := io.ReadFull(in, wire); err != nil {
			return err
		}
		var ticket Ticket
		if err := ticket.UnmarshalBinary(wire); err != nil {
			return err
		}
		if ticket.ID != id {
			return fmt.Errorf("a ticket for %s, not %s", ticket.ID, id)
		}
		r, err := s.TakeTicket(ticket)
		if err != nil {
			return err
		}
		obj, err := s.Get(r.ID(), NoWait)
		if err != nil {
			return err
		}
		if !bytes.Equal(obj.CopyData(), pattern(4096, 5)) {
			return errors.New("the object's bytes differ")
		}
		if err := obj.Release(); err != nil {
			return err
		}
		fmt.Println("taken")
		if _, err := in.ReadString('\n'); err != nil {
			return err
		}
		if err := r.Close(); err != nil {
			return err
		}
		fmt.Println("closed")
		return nil
	case "give-close":
		// Make a refcounted object under id, give its reference, report
		// the ticket, then close the Store (which waits for the take up to
		// the helper's TicketLinger) and report when the Close returned.
		u, err := s.CreateEx(&id, 4096, nil, ObjectRefcounted)
		if err != nil {
			return err
		}
		fill(u.UnsafeData(), 3)
		if err := u.Seal(); err != nil {
			return err
		}
		value, err := s.GiveRef(id)
		if err != nil {
			return err
		}
		fmt.Println(Ticket{ID: id, Value: value})
		fmt.Println("closing")
		if err := s.Close(); err != nil {
			return err
		}
		fmt.Println("closed")
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// startHelper runs this test binary as a helper process in the given mode.
// The process is killed and reaped at the end of the test whatever happens.
func startHelper(t *testing.T, mode, store string, ids ...ID) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd, _, out := startHelperIO(t, mode, store, ids...)
	return cmd, out
}

// startHelperIO is startHelper that also returns the helper's stdin.
func startHelperIO(t *testing.T, mode, store string, ids ...ID) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	return startHelperEnv(t, nil, mode, store, ids...)
}

// startHelperEnv is startHelperIO with more environment variables
// ("NAME=value") for the helper.
func startHelperEnv(t *testing.T, env []string, mode, store string, ids ...ID) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperStoreEnv+"="+store)
	cmd.Env = append(cmd.Env, env...)
	if len(ids) > 0 {
		cmd.Env = append(cmd.Env, helperIDEnv+"="+ids[0].String())
	}
	if len(ids) > 1 {
		cmd.Env = append(cmd.Env, helperID2Env+"="+ids[1].String())
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stdin, bufio.NewReader(stdout)
}

var storeSeq atomic.Int64

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// storeName returns a store name no other test (or test run) uses.
func storeName(t *testing.T) string {
	return fmt.Sprintf("objstore-go-test-%d-%d-%s", os.Getpid(), storeSeq.Add(1),
		strings.Trim(unsafeChars.ReplaceAllString(t.Name(), "-"), "-"))
}

// smallOptions keep test stores small: 16 MiB, 1024 object slots.
func smallOptions() *Options {
	return &Options{CapacityBytes: 16 << 20, MaxObjects: 1024, CreateOnly: true}
}

// newStore creates a fresh, uniquely named store that is closed and
// destroyed when the test ends.
func newStore(t *testing.T, opts *Options) *Store {
	t.Helper()
	if opts == nil {
		opts = smallOptions()
	}
	name := storeName(t)
	s, err := Open(name, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := Destroy(name); err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("Destroy(%q): %v", name, err)
		}
	})
	return s
}

// fill writes a deterministic pattern that depends on seed and position.
func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	fill(b, seed)
	return b
}

// idOf makes a recognisable ID from a string.
func idOf(s string) ID {
	var id ID
	copy(id[:], s)
	return id
}

func mustStats(t *testing.T, s *Store) Stats {
	t.Helper()
	st, err := s.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func mustPut(t *testing.T, s *Store, data, meta []byte) ID {
	t.Helper()
	id, err := s.PutWithMeta(data, meta)
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", len(data), err)
	}
	return id
}

func mustGet(t *testing.T, s *Store, id ID) *Object {
	t.Helper()
	obj, err := s.Get(id, NoWait)
	if err != nil {
		t.Fatalf("Get(%v): %v", id, err)
	}
	return obj
}

func release(t *testing.T, o *Object) {
	t.Helper()
	if err := o.Release(); err != nil {
		t.Fatalf("Release(%v): %v", o.ID(), err)
	}
}

// wantErr fails unless err matches target with errors.Is.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, target)
	}
}
