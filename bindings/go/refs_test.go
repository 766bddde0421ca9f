package objstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// A refcounted object goes with its last reference; a ticket moves one to
// another Store and is taken once; each failure is ErrNotFound.
func TestReferencesAndTickets(t *testing.T) {
	s := newStore(t, nil)
	other, err := Open(s.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	id, err := s.PutEx([]byte("counted"), nil, ObjectRefcounted)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Unref(ID{7}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Unref without a reference: %v", err)
	}
	ticket, err := s.GiveRef(id)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.Tickets != 1 || st.ObjectCount != 1 {
		t.Fatalf("stats with a ticket out: %+v", st)
	}
	if err := other.TakeRef(id, ticket^1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a wrong ticket: %v", err)
	}
	if err := other.TakeRef(id, ticket); err != nil {
		t.Fatal(err)
	}
	if err := other.TakeRef(id, ticket); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a ticket taken twice: %v", err)
	}
	if err := other.Ref(id); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.References != 1 || st.ReferencedCount != 1 {
		t.Fatalf("stats with references: %+v", st)
	}
	for i := 0; i < 2; i++ {
		if err := other.Unref(id); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.Contains(id); ok {
		t.Fatal("still there after its last reference")
	}
	if err := s.Ref(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a ref to a deleted object: %v", err)
	}

	u, err := s.CreateEx(nil, 8, nil, ObjectRefcounted)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Unref(u.ID()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Contains(u.ID()); ok {
		t.Fatal("a created refcounted object outlived its creator's reference")
	}
}

// Wait returns when enough objects are sealed, says which, and pins none.
func TestWaitNOfM(t *testing.T) {
	s := newStore(t, nil)
	ids := []ID{{1}, {2}, {3}}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = s.PutAs(ids[1], []byte("one"), nil)
	}()
	ready, err := s.Wait(ids, 1, 10*time.Second)
	if err != nil || !ready[1] || ready[0] || ready[2] {
		t.Fatalf("Wait: %v %v", ready, err)
	}
	ready, err = s.Wait(ids, 2, NoWait)
	if !errors.Is(err, ErrTimeout) || !ready[1] {
		t.Fatalf("Wait for 2, no wait: %v %v", ready, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.WaitContext(ctx, ids, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext: %v", err)
	}
	if st, _ := s.Stats(); st.PinnedCount != 0 {
		t.Fatalf("Wait pinned: %+v", st)
	}
}

func mustContain(t *testing.T, s *Store, id ID, want bool) {
	t.Helper()
	ok, err := s.Contains(id)
	if err != nil {
		t.Fatalf("Contains: %v", err)
	}
	if ok != want {
		t.Fatalf("Contains(%s) = %v, want %v", id, ok, want)
	}
}

// Closing a Ref frees its refcounted object; a second Close is nil.
func TestRefCloseFreesTheObject(t *testing.T) {
	s := newStore(t, nil)
	r, err := s.PutRef([]byte("frees itself"), []byte("m"), 0)
	if err != nil {
		t.Fatal(err)
	}
	id := r.ID()
	obj, err := s.Get(id, NoWait)
	if err != nil {
		t.Fatal(err)
	}
	if string(obj.CopyData()) != "frees itself" || string(obj.CopyMeta()) != "m" {
		t.Fatalf("got %q %q", obj.CopyData(), obj.CopyMeta())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The pin keeps the bytes until it is released; then the object goes.
	if got := string(obj.CopyData()); got != "frees itself" {
		t.Fatalf("pinned bytes after Close: %q", got)
	}
	if err := obj.Release(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, id, false)
	if st := mustStats(t, s); st.ObjectCount != 0 || st.References != 0 {
		t.Fatalf("stats after Close: %+v", st)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Give(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Give after Close: %v", err)
	}
	if _, err := r.Clone(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Clone after Close: %v", err)
	}
	if r.ID() != id {
		t.Fatal("the ID changed with Close")
	}

	if _, err := s.PutRef([]byte("x"), nil, 1<<9); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("PutRef with an unknown flag: %v", err)
	}
	ev, err := s.PutRef([]byte("cache"), nil, ObjectEvictable)
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, ev.ID(), false)
}

// Clone, NewRef and AdoptRef: each Ref is one reference.
func TestRefCloneNewRefAdoptRef(t *testing.T) {
	s := newStore(t, nil)
	a, err := s.PutRef([]byte("shared"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, b.ID(), true)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, b.ID(), false)

	if _, err := s.NewRef(ID{0x77}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NewRef of an absent object: %v", err)
	}
	deleted := mustPut(t, s, []byte("deleted"), nil)
	if err := s.Delete(deleted); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewRef(deleted); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NewRef of a deleted object: %v", err)
	}
	plain := mustPut(t, s, []byte("plain"), nil)
	r, err := s.NewRef(plain)
	if err != nil {
		t.Fatal(err)
	}
	if st := mustStats(t, s); st.ReferencedCount != 1 {
		t.Fatalf("stats with a Ref: %+v", st)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, plain, true) // not refcounted: it stays
	if st := mustStats(t, s); st.ReferencedCount != 0 {
		t.Fatalf("stats after Close: %+v", st)
	}

	u, err := s.CreateEx(nil, 3, nil, ObjectRefcounted)
	if err != nil {
		t.Fatal(err)
	}
	copy(u.UnsafeData(), "new")
	if err := u.Seal(); err != nil {
		t.Fatal(err)
	}
	adopted := s.AdoptRef(u.ID())
	mustContain(t, s, u.ID(), true)
	if err := adopted.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, u.ID(), false)
	if err := s.Unref(u.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the adopted reference was not the Store's: %v", err)
	}
}

// Give empties the Ref; the ticket crosses as bytes to a second Store
// handle of the same store, which takes it once.
func TestRefGiveAndTakeTicketAcrossHandles(t *testing.T) {
	s := newStore(t, nil)
	other, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	r, err := s.PutRef([]byte("across handles"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := r.Give()
	if err != nil {
		t.Fatal(err)
	}
	if ticket.ID != r.ID() {
		t.Fatalf("ticket for %s, Ref to %s", ticket.ID, r.ID())
	}
	if _, err := r.Give(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a second Give: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close after Give: %v", err)
	}
	if st := mustStats(t, s); st.Tickets != 1 {
		t.Fatalf("stats with a ticket out: %+v", st)
	}
	mustContain(t, s, ticket.ID, true)

	wire, err := ticket.MarshalBinary()
	if err != nil || len(wire) != TicketSize || TicketSize != 28 {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(wire), err)
	}
	var got Ticket
	if err := got.UnmarshalBinary(wire); err != nil || got != ticket {
		t.Fatalf("UnmarshalBinary: %v %v", got, err)
	}
	wrong := got
	wrong.Value ^= 1
	if _, err := other.TakeTicket(wrong); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a wrong ticket: %v", err)
	}
	taken, err := other.TakeTicket(got)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.TakeTicket(got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a ticket taken twice: %v", err)
	}
	if _, err := s.TakeTicket(got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a ticket taken twice, by the giver: %v", err)
	}
	if err := s.Unref(ticket.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the giver still holds a reference: %v", err)
	}
	mustContain(t, s, ticket.ID, true)
	if err := taken.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, ticket.ID, false)
	if st := mustStats(t, s); st.Tickets != 0 || st.References != 0 {
		t.Fatalf("stats at the end: %+v", st)
	}
}

// A Ticket is a plain value: one goroutine gives, another takes through
// its own Store.
func TestTicketOverAChannel(t *testing.T) {
	s := newStore(t, nil)
	other, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const n = 8
	tickets := make(chan Ticket, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(tickets)
		for i := 0; i < n; i++ {
			r, err := s.PutRef([]byte(fmt.Sprintf("object %d", i)), nil, 0)
			if err != nil {
				t.Error(err)
				return
			}
			ticket, err := r.Give()
			if err != nil {
				t.Error(err)
				return
			}
			tickets <- ticket
		}
	}()
	var ids []ID
	i := 0
	for ticket := range tickets {
		r, err := other.TakeTicket(ticket)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := other.Get(r.ID(), NoWait)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(obj.CopyData()), fmt.Sprintf("object %d", i); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if err := obj.Release(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
		i++
	}
	wg.Wait()
	if i != n {
		t.Fatalf("took %d tickets, want %d", i, n)
	}
	for _, id := range ids {
		mustContain(t, s, id, false)
	}
}

// A ticket crosses a pipe to another process as its binary form; that
// process takes it and holds the object until it closes its Ref.
func TestTicketThroughAPipeToAnotherProcess(t *testing.T) {
	s := newStore(t, nil)
	r, err := s.PutRef(pattern(4096, 5), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := r.Give()
	if err != nil {
		t.Fatal(err)
	}
	cmd, stdin, out := startHelperIO(t, "take", s.Name(), ticket.ID)
	wire, _ := ticket.MarshalBinary()
	if _, err := stdin.Write(wire); err != nil {
		t.Fatal(err)
	}
	if line, err := out.ReadString('\n'); err != nil || line != "taken\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	mustContain(t, s, ticket.ID, true)
	if st := mustStats(t, s); st.Tickets != 0 || st.ReferencedCount != 1 {
		t.Fatalf("stats with the helper's reference: %+v", st)
	}
	if _, err := io.WriteString(stdin, "close\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := out.ReadString('\n'); err != nil || line != "closed\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	mustContain(t, s, ticket.ID, false)
}

// Closing the Store drops its references: a Ref closed afterwards says so
// with ErrClosed, once, and crashes nothing.
func TestRefClosedAfterItsStore(t *testing.T) {
	watch := newStore(t, nil)
	s, err := Open(watch.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.PutRef([]byte("goes with its Store"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	given, err := s.PutRef([]byte("given"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, watch, r.ID(), true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, watch, r.ID(), false)
	err = r.Close()
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), r.ID().String()) {
		t.Fatalf("Close after the Store's Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := given.Give(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Give after the Store's Close: %v", err)
	}
	if err := given.Close(); err != nil {
		t.Fatalf("Close after a failed Give on a closed Store: %v", err)
	}
	if _, err := s.NewRef(r.ID()); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewRef on a closed Store: %v", err)
	}
	if _, err := s.TakeTicket(Ticket{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("TakeTicket on a closed Store: %v", err)
	}
}

// The binary and text forms of a Ticket, and their errors.
func TestTicketEncodings(t *testing.T) {
	ticket := Ticket{ID: idOf("twenty bytes of id!!"), Value: 0x0102030405060708}
	b, err := ticket.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, ticket.ID[:]...), 8, 7, 6, 5, 4, 3, 2, 1)
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalBinary = %x, want %x (the ID, then the value little-endian)", b, want)
	}
	var back Ticket
	for _, n := range []int{0, TicketSize - 1, TicketSize + 1} {
		if err := back.UnmarshalBinary(make([]byte, n)); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("UnmarshalBinary of %d bytes: %v", n, err)
		}
	}
	if s := ticket.String(); len(s) != 2*TicketSize || s[2*IDSize:] != "0807060504030201" {
		t.Fatalf("String = %q", s)
	}
	parsed, err := ParseTicket(strings.ToUpper(ticket.String()))
	if err != nil || parsed != ticket {
		t.Fatalf("ParseTicket: %v %v", parsed, err)
	}
	if _, err := ParseTicket(ticket.String()[1:]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ParseTicket of a short string: %v", err)
	}
	if _, err := ParseTicket("g" + ticket.String()[1:]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ParseTicket of a non-hex string: %v", err)
	}
	j, err := json.Marshal(map[string]Ticket{"t": ticket})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]Ticket
	if err := json.Unmarshal(j, &m); err != nil || m["t"] != ticket {
		t.Fatalf("JSON round trip of %s: %v %v", j, m, err)
	}
}

func mustOutstanding(t *testing.T, s *Store, want uint64) {
	t.Helper()
	n, err := s.TicketsOutstanding()
	if err != nil || n != want {
		t.Fatalf("TicketsOutstanding = %d, %v; want %d", n, err, want)
	}
}

// TicketsOutstanding counts this process's tickets until they are taken;
// WaitTicketsTaken times out while one is out, and a take from another
// goroutine ends a wait under way.
func TestTicketsOutstandingAndWaitTicketsTaken(t *testing.T) {
	s := newStore(t, nil)
	other, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	mustOutstanding(t, s, 0)
	if err := s.WaitTicketsTaken(NoWait); err != nil {
		t.Fatalf("wait with no ticket out: %v", err)
	}
	r, err := s.PutRef([]byte("on its way"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := r.Give()
	if err != nil {
		t.Fatal(err)
	}
	mustOutstanding(t, s, 1)
	mustOutstanding(t, other, 1) // the process's tickets, whichever Store gave them
	for _, timeout := range []time.Duration{NoWait, time.Microsecond, 20 * time.Millisecond, -time.Second} {
		err := s.WaitTicketsTaken(timeout)
		wantErr(t, fmt.Sprintf("wait %v with a ticket out", timeout), err, ErrTimeout)
		if !strings.Contains(err.Error(), "1 tickets") {
			t.Fatalf("the timeout does not say how many: %v", err)
		}
	}

	// Taken by another goroutine while the wait is under way.
	taken := make(chan *Ref, 1)
	go func() {
		time.Sleep(30 * time.Millisecond)
		r, err := other.TakeTicket(ticket)
		if err != nil {
			t.Error(err)
		}
		taken <- r
	}()
	errc := make(chan error, 1)
	go func() { errc <- s.WaitTicketsTaken(Forever) }()
	if err := waitFor(t, "WaitTicketsTaken", errc); err != nil {
		t.Fatalf("wait until the take: %v", err)
	}
	mine := <-taken
	mustOutstanding(t, s, 0)
	if err := mine.Close(); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, ticket.ID, false)

	// The same with WaitTicketsTakenContext, two tickets taken one after
	// the other: it returns after the second.
	id, err := s.PutEx([]byte("twice"), nil, ObjectRefcounted)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ref(id); err != nil {
		t.Fatal(err)
	}
	var values [2]uint64
	for i := range values {
		if values[i], err = s.GiveRef(id); err != nil {
			t.Fatal(err)
		}
	}
	mustOutstanding(t, s, 2)
	go func() {
		for _, v := range values {
			time.Sleep(30 * time.Millisecond)
			if err := other.TakeRef(id, v); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() { errc <- s.WaitTicketsTakenContext(context.Background()) }()
	if err := waitFor(t, "WaitTicketsTakenContext", errc); err != nil {
		t.Fatalf("wait until the takes: %v", err)
	}
	if st := mustStats(t, s); st.Tickets != 0 {
		t.Fatalf("returned before the last take: %+v", st)
	}
	mustOutstanding(t, other, 0)
	for i := 0; i < 2; i++ {
		if err := other.Unref(id); err != nil {
			t.Fatalf("the takes' references: %v", err)
		}
	}
	mustContain(t, s, id, false)
}

// WaitTicketsTakenContext ends when its context is done (cancelled while
// blocked, a deadline, done before the call), and a Close ends the waits
// on its Store; only the wait is cancelled: with no ticket out it succeeds
// even with a context done already.
func TestWaitTicketsTakenCancelled(t *testing.T) {
	s := newStore(t, nil)
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if err := s.WaitTicketsTakenContext(done); err != nil {
		t.Fatalf("no ticket out, context done: %v", err)
	}
	id, err := s.PutEx([]byte("given"), nil, ObjectRefcounted)
	if err != nil {
		t.Fatal(err)
	}
	value, err := s.GiveRef(id)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a context done before the call", s.WaitTicketsTakenContext(done), context.Canceled)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.WaitTicketsTakenContext(ctx) }()
	time.Sleep(20 * time.Millisecond) // blocked by now, most likely; either order must work
	cancel()
	wantErr(t, "cancelled while blocked", waitFor(t, "WaitTicketsTakenContext", errc), context.Canceled)

	deadline, cancelDeadline := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelDeadline()
	go func() { errc <- s.WaitTicketsTakenContext(deadline) }()
	wantErr(t, "until a deadline", waitFor(t, "WaitTicketsTakenContext", errc), context.DeadlineExceeded)

	// Close ends the waits on its Store, with and without a context; the
	// ticket stays (the process still has the store open through s).
	h, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	background, cancelBackground := context.WithCancel(context.Background())
	defer cancelBackground()
	errs := make(chan error, 2)
	go func() { errs <- h.WaitTicketsTaken(Forever) }()
	go func() { errs <- h.WaitTicketsTakenContext(background) }()
	time.Sleep(20 * time.Millisecond)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		wantErr(t, "a wait across Close", waitFor(t, "a wait across Close", errs), ErrClosed)
	}
	wantErr(t, "a wait on a closed Store", h.WaitTicketsTaken(NoWait), ErrClosed)
	if _, err := h.TicketsOutstanding(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TicketsOutstanding on a closed Store: %v", err)
	}
	mustOutstanding(t, s, 1)

	// The cancellers are re-armed: a later wait is ended by the take alone.
	go func() {
		time.Sleep(30 * time.Millisecond)
		if err := s.TakeRef(id, value); err != nil {
			t.Error(err)
		}
	}()
	later, cancelLater := context.WithCancel(context.Background())
	defer cancelLater()
	go func() { errc <- s.WaitTicketsTakenContext(later) }()
	if err := waitFor(t, "WaitTicketsTakenContext", errc); err != nil {
		t.Fatalf("a wait after cancelled ones: %v", err)
	}
	if err := s.Unref(id); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, id, false)
}
