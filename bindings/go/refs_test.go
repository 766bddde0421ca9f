package objstore

import (
	"context"
	"errors"
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
