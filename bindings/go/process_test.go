package objstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// readLine reads the helper's next line, without its newline, failing the
// test if the helper says nothing more within returnsAtOnce.
func readLine(t *testing.T, what string, out *bufio.Reader) string {
	t.Helper()
	lines := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		line, err := out.ReadString('\n')
		if err != nil {
			errc <- fmt.Errorf("%s: helper said %q, then %w", what, line, err)
			return
		}
		lines <- strings.TrimSuffix(line, "\n")
		errc <- nil
	}()
	if err := waitFor(t, what, errc); err != nil {
		t.Fatal(err)
	}
	return <-lines
}

// TestTicketLingerAtClose: a process that gives a ticket and closes its
// Store at once waits in the Close, up to its TicketLinger, for the take:
// here the take comes 200 ms after the giver began to close, and the Close
// returns then, long before the linger is over. Without a linger the Close
// drops the ticket, and the object it alone held, at once.
func TestTicketLingerAtClose(t *testing.T) {
	s := newStore(t, nil)

	id := idOf("lingering ticket")
	cmd, _, out := startHelperEnv(t, []string{helperLingerEnv + "=30s"}, "give-close", s.Name(), id)
	ticket, err := ParseTicket(readLine(t, "the ticket", out))
	if err != nil || ticket.ID != id {
		t.Fatalf("the helper's ticket: %v %v", ticket, err)
	}
	if line := readLine(t, "closing", out); line != "closing" {
		t.Fatalf("helper: %q", line)
	}
	time.Sleep(200 * time.Millisecond) // without the linger, the ticket would be gone by now
	if st := mustStats(t, s); st.Tickets != 1 {
		t.Fatalf("while the helper closes: %+v", st)
	}
	r, err := s.TakeTicket(ticket)
	if err != nil {
		t.Fatalf("take from a lingering giver: %v", err)
	}
	defer r.Close()
	obj := mustGet(t, s, id)
	if !bytes.Equal(obj.CopyData(), pattern(4096, 3)) {
		t.Fatal("the object's bytes differ")
	}
	release(t, obj)
	// The take ends the linger: the Close returns within returnsAtOnce,
	// well short of 30 s.
	if line := readLine(t, "closed", out); line != "closed" {
		t.Fatalf("helper: %q", line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, id, false)

	// No linger: once the helper's Close is back, the ticket and its
	// object are gone.
	id = idOf("dropped ticket")
	cmd, out = startHelper(t, "give-close", s.Name(), id)
	ticket, err = ParseTicket(readLine(t, "the ticket", out))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closing", "closed"} {
		if line := readLine(t, want, out); line != want {
			t.Fatalf("helper: %q, want %q", line, want)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if _, err := s.TakeTicket(ticket); !errors.Is(err, ErrNotFound) {
		t.Fatalf("take after the giver closed with no linger: %v", err)
	}
	mustContain(t, s, id, false)
	if st := mustStats(t, s); st.Tickets != 0 || st.ObjectCount != 0 {
		t.Fatalf("at the end: %+v", st)
	}
}
