package objstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A bound for "returns at once": generous, as the machine may be loaded.
// No test asserts any shorter duration.
const returnsAtOnce = 10 * time.Second

// waitFor fails the test if errc gives nothing within returnsAtOnce.
func waitFor(t *testing.T, what string, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(returnsAtOnce):
		t.Fatalf("%s did not return within %v", what, returnsAtOnce)
		return nil
	}
}

// Each context call, blocked on an absent object, ends when its context is
// cancelled from another goroutine, with the context's error.
func TestContextCancelledWhileBlocked(t *testing.T) {
	s := newStore(t, nil)
	present, err := s.Put([]byte("here"))
	if err != nil {
		t.Fatal(err)
	}
	absent := idOf("cancel-absent")
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetContext", func(ctx context.Context) error {
			_, err := s.GetContext(ctx, absent)
			return err
		}},
		{"GetManyContext", func(ctx context.Context) error {
			objs, err := s.GetManyContext(ctx, []ID{present, absent})
			if objs == nil || objs[0] == nil || objs[1] != nil {
				t.Errorf("GetManyContext: partial result %v", objs)
			} else {
				release(t, objs[0])
			}
			return err
		}},
		{"WaitContext", func(ctx context.Context) error {
			ready, err := s.WaitContext(ctx, []ID{present, absent}, 2)
			if !ready[0] || ready[1] {
				t.Errorf("WaitContext: ready %v", ready)
			}
			return err
		}},
	}
	for _, c := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- c.call(ctx) }()
		time.Sleep(20 * time.Millisecond) // blocked by now, most likely; either order must work
		cancel()
		wantErr(t, c.name+" cancelled while blocked", waitFor(t, c.name, errc), context.Canceled)
	}
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d at the end", got)
	}
}

// A context's deadline ends a blocked call with DeadlineExceeded, and a
// context done before the call makes it return at once.
func TestContextDeadlineAndDoneBefore(t *testing.T) {
	s := newStore(t, nil)
	absent := idOf("deadline-absent")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := s.GetContext(ctx, absent)
		errc <- err
	}()
	wantErr(t, "get until a deadline", waitFor(t, "GetContext", errc), context.DeadlineExceeded)

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	go func() {
		_, err := s.WaitContext(done, []ID{absent}, 1)
		errc <- err
	}()
	wantErr(t, "wait with a context done before", waitFor(t, "WaitContext", errc), context.Canceled)
}

// The cancellers of cancelled calls are reused: a later call on the same
// Store waits again (it is not cancelled by an earlier context) and gets
// the object once it is sealed.
func TestWaitAfterACancelledWait(t *testing.T) {
	s := newStore(t, nil)
	later := idOf("after-cancel")
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := s.GetContext(ctx, later)
			errc <- err
		}()
		cancel()
		wantErr(t, "cancelled get", waitFor(t, "GetContext", errc), context.Canceled)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		obj *Object
		err error
	}
	got := make(chan result, 1)
	go func() {
		obj, err := s.GetContext(ctx, later)
		got <- result{obj, err}
	}()
	if err := s.PutAs(later, []byte("sealed"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || string(r.obj.UnsafeData()) != "sealed" {
			t.Fatalf("get after cancelled gets: %v, %v", r.obj, r.err)
		}
		release(t, r.obj)
	case <-time.After(returnsAtOnce):
		t.Fatal("the get after cancelled gets did not return")
	}
}

// Close ends a context wait too (with ErrClosed, its context not being
// done), and a wait with no context.
func TestCloseEndsContextWaits(t *testing.T) {
	s := newStore(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		_, err := s.GetContext(ctx, idOf("never"))
		errc <- err
	}()
	go func() {
		_, err := s.Wait([]ID{idOf("never")}, 1, Forever)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := waitFor(t, "a wait on a closed store", errc); !errors.Is(err, ErrClosed) {
			t.Fatalf("wait then close: %v, want ErrClosed", err)
		}
	}
}
