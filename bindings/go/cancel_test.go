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

// A context done before the call cancels only a wait, as a cancelled
// os_canceller does in C: what is there already is still got (a present
// object, every object of a GetManyContext, enough for a WaitContext); what
// is missing gives the context's error at once, with the partial results.
func TestContextDoneBeforeGetsWhatIsPresent(t *testing.T) {
	s := newStore(t, nil)
	present := mustPut(t, s, []byte("here already"), nil)
	absent := idOf("done-before-absent")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()

	for _, done := range []context.Context{ctx, expired} {
		obj, err := s.GetContext(done, present)
		if err != nil {
			t.Fatalf("GetContext of a present object, context done: %v", err)
		}
		if string(obj.CopyData()) != "here already" {
			t.Fatalf("GetContext got %q", obj.CopyData())
		}
		release(t, obj)

		objs, err := s.GetManyContext(done, []ID{present, present})
		if err != nil || objs[0] == nil || objs[1] == nil {
			t.Fatalf("GetManyContext of present objects, context done: %v, %v", objs, err)
		}
		release(t, objs[0])
		release(t, objs[1])

		ready, err := s.WaitContext(done, []ID{present, absent}, 1)
		if err != nil || !ready[0] || ready[1] {
			t.Fatalf("WaitContext for 1 of a present and an absent object, context done: %v, %v", ready, err)
		}
	}

	// What is missing: the context's error, at once (no wait begins).
	start := time.Now()
	if _, err := s.GetContext(ctx, absent); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetContext of an absent object, context done: %v", err)
	}
	if _, err := s.GetContext(expired, absent); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetContext of an absent object, deadline passed: %v", err)
	}
	objs, err := s.GetManyContext(ctx, []ID{present, absent})
	wantErr(t, "GetManyContext of a present and an absent object, context done", err, context.Canceled)
	if objs == nil || objs[0] == nil || objs[1] != nil {
		t.Fatalf("GetManyContext partial result %v", objs)
	}
	release(t, objs[0])
	ready, err := s.WaitContext(ctx, []ID{present, absent}, 2)
	wantErr(t, "WaitContext for 2 of a present and an absent object, context done", err, context.Canceled)
	if !ready[0] || ready[1] {
		t.Fatalf("WaitContext ready %v", ready)
	}
	if d := time.Since(start); d > returnsAtOnce {
		t.Fatalf("calls with a done context took %v", d)
	}

	// The cancellers those calls cancelled are reset before reuse: a later
	// call with a live context waits for its object.
	live, cancelLive := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelLive()
	start = time.Now()
	if _, err := s.GetContext(live, absent); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetContext with a live context after done ones: %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("GetContext with a live context returned after %v: its canceller was still cancelled", d)
	}
	if got := mustStats(t, s).PinnedCount; got != 0 {
		t.Fatalf("PinnedCount %d at the end", got)
	}
}
