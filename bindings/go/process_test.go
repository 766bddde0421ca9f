package objstore

import (
	"bytes"
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
