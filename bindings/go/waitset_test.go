package objstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// newWaitSet makes a wait set that is closed when the test ends.
func newWaitSet(t *testing.T, s *Store, ids []ID) *WaitSet {
	t.Helper()
	w, err := s.NewWaitSet(ids)
	if err != nil {
		t.Fatalf("NewWaitSet(%d IDs): %v", len(ids), err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("WaitSet.Close: %v", err)
		}
	})
	return w
}

func mustNext(t *testing.T, w *WaitSet, max int, timeout time.Duration) []int {
	t.Helper()
	got, err := w.Next(max, timeout)
	if err != nil {
		t.Fatalf("Next(%d, %v): %v", max, timeout, err)
	}
	return got
}

func waitSetIDs(prefix string, n int) []ID {
	ids := make([]ID, n)
	for i := range ids {
		ids[i] = idOf(fmt.Sprintf("%s-%d", prefix, i))
	}
	return ids
}

// Objects are handed out in the order they are sealed, each once, and the
// set then says there is nothing left.
func TestWaitSetHandsOutInSealOrder(t *testing.T) {
	s := newStore(t, nil)
	ids := waitSetIDs("ws-order", 5)
	w := newWaitSet(t, s, ids)
	if w.Len() != 5 || w.Remaining() != 5 {
		t.Fatalf("a new set: Len %d, Remaining %d", w.Len(), w.Remaining())
	}
	if _, err := w.Next(5, NoWait); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next before any seal: %v, want ErrTimeout", err)
	}
	for k, i := range []int{3, 1, 4, 0, 2} {
		if err := s.PutAs(ids[i], []byte{byte(i)}, nil); err != nil {
			t.Fatal(err)
		}
		if got := mustNext(t, w, 5, time.Second); !reflect.DeepEqual(got, []int{i}) {
			t.Fatalf("after sealing object %d: Next gave %v", i, got)
		}
		if got, want := w.Remaining(), 4-k; got != want {
			t.Fatalf("Remaining %d after %d handed out, want %d", got, k+1, want)
		}
	}
	for i := 0; i < 2; i++ {
		if got := mustNext(t, w, 1, Forever); got == nil || len(got) != 0 {
			t.Fatalf("Next after everything was handed out: %#v, want an empty slice", got)
		}
	}
}

// Objects sealed before the set is made are found when it is made; max
// bounds each batch; an ID given twice is handed out twice.
func TestWaitSetBatchesAndRepeats(t *testing.T) {
	s := newStore(t, nil)
	ids := waitSetIDs("ws-batch", 4)
	for _, id := range ids[:3] {
		if err := s.PutAs(id, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	w := newWaitSet(t, s, append(ids, ids[1]))
	seen := map[int]int{}
	for _, max := range []int{2, 2} {
		got := mustNext(t, w, max, NoWait)
		if len(got) != max {
			t.Fatalf("Next(%d) gave %v", max, got)
		}
		for _, i := range got {
			seen[i]++
		}
	}
	if want := map[int]int{0: 1, 1: 1, 2: 1, 4: 1}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("handed out %v, want %v", seen, want)
	}
	if _, err := w.Next(1, NoWait); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next with only an absent object left: %v, want ErrTimeout", err)
	}
	if err := s.PutAs(ids[3], []byte("y"), nil); err != nil {
		t.Fatal(err)
	}
	if got := mustNext(t, w, 1<<40, Forever); !reflect.DeepEqual(got, []int{3}) {
		t.Fatalf("Next with a huge max gave %v", got)
	}
	if w.Remaining() != 0 {
		t.Fatalf("Remaining %d at the end", w.Remaining())
	}
}

// A Next that waits is woken by a seal from another goroutine, and by one
// from another process.
func TestWaitSetWakesOnSeal(t *testing.T) {
	s := newStore(t, nil)
	ids := waitSetIDs("ws-wake", 2)
	w := newWaitSet(t, s, ids)
	type result struct {
		got []int
		err error
	}
	res := make(chan result, 1)
	next := func() {
		go func() {
			got, err := w.Next(4, Forever)
			res <- result{got, err}
		}()
	}
	next()
	time.Sleep(20 * time.Millisecond) // waiting by now, most likely; either order must work
	if err := s.PutAs(ids[1], []byte("from a goroutine"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.err != nil || !reflect.DeepEqual(r.got, []int{1}) {
			t.Fatalf("Next woken by a seal: %v, %v", r.got, r.err)
		}
	case <-time.After(returnsAtOnce):
		t.Fatal("Next was not woken by a seal")
	}

	next()
	cmd, _ := startHelper(t, "seal", s.Name(), ids[0])
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	select {
	case r := <-res:
		if r.err != nil || !reflect.DeepEqual(r.got, []int{0}) {
			t.Fatalf("Next woken by another process's seal: %v, %v", r.got, r.err)
		}
	case <-time.After(returnsAtOnce):
		t.Fatal("Next was not woken by another process's seal")
	}
}

// A positive timeout, NoWait and an expired deadline give ErrTimeout when
// nothing was sealed; the set is unchanged.
func TestWaitSetTimeout(t *testing.T) {
	s := newStore(t, nil)
	w := newWaitSet(t, s, waitSetIDs("ws-timeout", 3))
	start := time.Now()
	got, err := w.Next(1, 30*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || got != nil {
		t.Fatalf("Next(1, 30ms) of absent objects: %v, %v, want ErrTimeout", got, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Next(1, 30ms) returned after %v", d)
	}
	for _, timeout := range []time.Duration{NoWait, -time.Second} {
		if _, err := w.Next(1, timeout); !errors.Is(err, ErrTimeout) {
			t.Fatalf("Next(1, %v) of absent objects: %v, want ErrTimeout", timeout, err)
		}
	}
	if w.Remaining() != 3 {
		t.Fatalf("Remaining %d after timeouts", w.Remaining())
	}
}

// NextContext blocked on absent objects ends when its context is cancelled
// from another goroutine, or reaches its deadline, with the context's
// error; the set then waits again and hands out what is sealed later.
func TestWaitSetContext(t *testing.T) {
	s := newStore(t, nil)
	ids := waitSetIDs("ws-ctx", 2)
	w := newWaitSet(t, s, ids)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := w.NextContext(ctx, 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // blocked by now, most likely; either order must work
	cancel()
	wantErr(t, "NextContext cancelled while blocked", waitFor(t, "NextContext", errc), context.Canceled)

	deadline, cancelDeadline := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelDeadline()
	go func() {
		_, err := w.NextContext(deadline, 1)
		errc <- err
	}()
	wantErr(t, "NextContext until a deadline", waitFor(t, "NextContext", errc), context.DeadlineExceeded)

	// The set's canceller was re-armed: this wait lasts until the seal.
	live, cancelLive := context.WithCancel(context.Background())
	defer cancelLive()
	type result struct {
		got []int
		err error
	}
	res := make(chan result, 1)
	go func() {
		got, err := w.NextContext(live, 2)
		res <- result{got, err}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.PutAs(ids[0], []byte("later"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.err != nil || !reflect.DeepEqual(r.got, []int{0}) {
			t.Fatalf("NextContext after cancelled ones: %v, %v", r.got, r.err)
		}
	case <-time.After(returnsAtOnce):
		t.Fatal("NextContext after cancelled ones was not woken by the seal")
	}
	if w.Remaining() != 1 {
		t.Fatalf("Remaining %d", w.Remaining())
	}
}

// With a context done before the call, NextContext still hands out what
// is sealed already (only a wait is cancelled, as in the C API), and gives
// the context's error at once when nothing is.
func TestWaitSetContextDoneBefore(t *testing.T) {
	s := newStore(t, nil)
	ids := waitSetIDs("ws-done", 2)
	if err := s.PutAs(ids[1], []byte("here"), nil); err != nil {
		t.Fatal(err)
	}
	w := newWaitSet(t, s, ids)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := w.NextContext(ctx, 2)
	if err != nil || !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("NextContext with a sealed object, context done: %v, %v", got, err)
	}
	got, err = w.NextContext(ctx, 2)
	wantErr(t, "NextContext with nothing sealed, context done", err, context.Canceled)
	if got != nil {
		t.Fatalf("NextContext cancelled gave %v", got)
	}
	// A plain Next afterwards is not cancelled.
	if _, err := w.Next(1, 20*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next after a cancelled NextContext: %v, want ErrTimeout", err)
	}
}

// Close ends a Next waiting with no context and one waiting with a
// context, with ErrClosed; later calls give ErrClosed; Close is idempotent
// and may run from many goroutines at once.
func TestWaitSetClose(t *testing.T) {
	s := newStore(t, nil)
	w, err := s.NewWaitSet(waitSetIDs("ws-close", 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		_, err := w.Next(1, Forever)
		errc <- err
	}()
	go func() {
		_, err := w.NextContext(ctx, 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { closed <- w.Close() }()
	}
	for i := 0; i < 3; i++ {
		if err := waitFor(t, "WaitSet.Close", closed); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := waitFor(t, "a Next on a closed set", errc); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next then Close: %v, want ErrClosed", err)
		}
	}
	if _, err := w.Next(1, NoWait); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if _, err := w.NextContext(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("NextContext after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// A set outlives its Store: after the Store's Close, a Next waiting on it
// goes on waiting and is handed the object another handle seals, and a
// Next made afterwards works too.
func TestWaitSetOutlivesStore(t *testing.T) {
	s := newStore(t, nil)
	other, err := Open(s.Name(), &Options{AttachOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ids := waitSetIDs("ws-outlive", 2)
	w := newWaitSet(t, s, ids)
	type result struct {
		got []int
		err error
	}
	res := make(chan result, 1)
	go func() {
		got, err := w.Next(1, Forever)
		res <- result{got, err}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		t.Fatalf("the Store's Close ended a Next of its wait set: %v, %v", r.got, r.err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := other.PutAs(ids[0], []byte("first"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.err != nil || !reflect.DeepEqual(r.got, []int{0}) {
			t.Fatalf("Next across the Store's Close: %v, %v", r.got, r.err)
		}
	case <-time.After(returnsAtOnce):
		t.Fatal("Next across the Store's Close was not woken by the seal")
	}
	if err := other.PutAs(ids[1], []byte("second"), nil); err != nil {
		t.Fatal(err)
	}
	if got := mustNext(t, w, 2, time.Second); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("Next after the Store's Close gave %v", got)
	}
	if _, err := s.NewWaitSet(ids); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewWaitSet on a closed Store: %v, want ErrClosed", err)
	}
}

// Bad arguments: max below 1 is refused (without using up anything), and
// a set of no IDs has nothing to hand out.
func TestWaitSetBadArguments(t *testing.T) {
	s := newStore(t, nil)
	id := mustPut(t, s, []byte("x"), nil)
	w := newWaitSet(t, s, []ID{id})
	for _, max := range []int{0, -1} {
		if _, err := w.Next(max, NoWait); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Next(%d): %v, want ErrInvalidArgument", max, err)
		}
		if _, err := w.NextContext(context.Background(), max); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("NextContext(%d): %v, want ErrInvalidArgument", max, err)
		}
	}
	if got := mustNext(t, w, 1, NoWait); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("Next after refused calls gave %v", got)
	}

	empty := newWaitSet(t, s, nil)
	if empty.Len() != 0 || empty.Remaining() != 0 {
		t.Fatalf("an empty set: Len %d, Remaining %d", empty.Len(), empty.Remaining())
	}
	if got := mustNext(t, empty, 1, Forever); len(got) != 0 {
		t.Fatalf("Next of an empty set gave %v", got)
	}
}

// Add grows a set: the added IDs get indices from Len() on, one sealed
// already is handed out by the next Next, one sealed later by another
// process wakes a Next that waits after the set handed out all it held; an
// ID added twice is handed out twice. A closed set refuses Add.
func TestWaitSetAdd(t *testing.T) {
	s := newStore(t, nil)
	ids := waitSetIDs("ws-add", 4)
	w := newWaitSet(t, s, ids[:1])
	if err := s.PutAs(ids[0], []byte("first"), nil); err != nil {
		t.Fatal(err)
	}
	if got := mustNext(t, w, 4, NoWait); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("Next gave %v, want [0]", got)
	}
	if err := s.PutAs(ids[2], []byte("before the add"), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]ID{ids[1], ids[2], ids[3], ids[3]}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := w.Add(nil); err != nil {
		t.Fatalf("Add of nothing: %v", err)
	}
	if w.Len() != 5 || w.Remaining() != 4 {
		t.Fatalf("after the add: Len %d, Remaining %d, want 5 and 4", w.Len(), w.Remaining())
	}
	if got := mustNext(t, w, 4, NoWait); !reflect.DeepEqual(got, []int{2}) {
		t.Fatalf("Next after the add gave %v, want [2] (sealed before it)", got)
	}
	type result struct {
		got []int
		err error
	}
	res := make(chan result, 1)
	go func() {
		got, err := w.Next(4, Forever)
		res <- result{got, err}
	}()
	cmd, _ := startHelper(t, "seal", s.Name(), ids[3])
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	select {
	case r := <-res:
		if r.err != nil || !reflect.DeepEqual(r.got, []int{3, 4}) {
			t.Fatalf("Next woken by another process's seal of an added ID: %v, %v", r.got, r.err)
		}
	case <-time.After(returnsAtOnce):
		t.Fatal("Next was not woken by another process's seal of an added ID")
	}
	if w.Remaining() != 1 {
		t.Fatalf("Remaining %d, want 1", w.Remaining())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ids[:1]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add to a closed set: %v, want ErrClosed", err)
	}
}
