package objstore

import (
	"bytes"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestWaitForSealFromProcess: a get waits for an object that another
// process creates and seals.
func TestWaitForSealFromProcess(t *testing.T) {
	s := newStore(t, nil)
	id := idOf("from-child")
	if ok, _ := s.Contains(id); ok {
		t.Fatal("the object exists before the child starts")
	}
	cmd, _ := startHelper(t, "seal", s.Name(), id)
	obj, err := s.Get(id, Forever)
	if err != nil {
		t.Fatal(err)
	}
	defer release(t, obj)
	if !bytes.Equal(obj.UnsafeData(), pattern(4096, 7)) || string(obj.UnsafeMeta()) != "from another process" {
		t.Fatal("the child's object reads back differently")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	// The object outlives the process that made it.
	if ok, _ := s.Contains(id); !ok {
		t.Fatal("the object left with its process")
	}
}

// TestCrashReclaim: a process SIGKILLed while it holds a pin and an
// unsealed object leaves both behind until Collect reclaims them.
func TestCrashReclaim(t *testing.T) {
	s := newStore(t, nil)
	input := mustPut(t, s, pattern(1000, 8), nil)
	half := idOf("half-written")
	cmd, out := startHelper(t, "crash", s.Name(), input, half)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	st := mustStats(t, s)
	if st.PinnedCount != 1 || st.UnsealedCount != 1 || st.AttachedProcesses != 2 {
		t.Fatalf("while the child runs: %+v", st)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // "signal: killed"
	if err := s.Collect(); err != nil {
		t.Fatal(err)
	}
	after := mustStats(t, s)
	if after.PinnedCount != 0 || after.UnsealedCount != 0 || after.AttachedProcesses != 1 ||
		after.ReclaimedProcesses != st.ReclaimedProcesses+1 {
		t.Fatalf("after the kill and Collect: %+v (before %+v)", after, st)
	}
	// The half-written object's ID is free again; the input is intact.
	u, err := s.Create(half, 10, nil)
	if err != nil {
		t.Fatalf("create the half-written ID again: %v", err)
	}
	if err := u.Seal(); err != nil {
		t.Fatal(err)
	}
	obj := mustGet(t, s, input)
	defer release(t, obj)
	if !bytes.Equal(obj.UnsafeData(), pattern(1000, 8)) {
		t.Fatal("the input changed")
	}
}

// TestStoppedProcessKeepsPins: a stopped process is alive; Collect must not
// take its pins or its unsealed object. Once it is killed, they go.
func TestStoppedProcessKeepsPins(t *testing.T) {
	s := newStore(t, nil)
	input := mustPut(t, s, pattern(100, 1), nil)
	cmd, out := startHelper(t, "crash", s.Name(), input, idOf("stopped"))
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := s.Collect(); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.PinnedCount != 1 || st.UnsealedCount != 1 || st.AttachedProcesses != 2 {
		t.Fatalf("a stopped process lost its pins or its unsealed object: %+v", st)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := s.Collect(); err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.PinnedCount != 0 || st.UnsealedCount != 0 || st.AttachedProcesses != 1 {
		t.Fatalf("after the kill: %+v", st)
	}
}

// TestTooManyProcesses: a store for one process refuses a second.
func TestTooManyProcesses(t *testing.T) {
	s := newStore(t, &Options{CapacityBytes: 1 << 20, MaxObjects: 16, MaxProcesses: 1, CreateOnly: true})
	cmd, out := startHelper(t, "attach", s.Name())
	line, _ := out.ReadString('\n')
	_ = cmd.Wait()
	got, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || Status(got) != StatusTooManyProcesses {
		t.Fatalf("second process attaching to a one-process store: status %q, want %d (%v)",
			line, uint32(StatusTooManyProcesses), StatusTooManyProcesses)
	}
	// Once this process detaches, another may attach.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cmd, out = startHelper(t, "attach", s.Name())
	line, _ = out.ReadString('\n')
	if err := cmd.Wait(); err != nil || strings.TrimSpace(line) != "0" {
		t.Fatalf("attach after the only process detached: %q, %v", line, err)
	}
}
