package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// WaitSet is a list of objects waited on together, each handed out once
// when it is sealed (os_wait_set): for a consumer that takes results in the
// order they finish, as a ray.wait loop or Python's as_completed does. Make
// it once with [Store.NewWaitSet], then call [WaitSet.Next] until
// [WaitSet.Remaining] is 0. Unlike [Store.Wait], which looks up every ID on
// every call, a set looks at its IDs once, when it is made, and from then
// on only at the objects sealed since its last look.
//
// A set takes no pins: an object handed out was sealed when the set looked,
// and a get may still find it deleted since.
//
// A set keeps the store's mapping alive by itself: it may outlive the Store
// that made it, and the Store's Close neither ends it nor a Next waiting on
// it (an object sealed later, by another handle or process, is still handed
// out). Close the set when done; Close is idempotent, and a finalizer
// closes a set that becomes unreachable while open, but only as a backstop.
//
// Calls of Next on one set are serialized (a second goroutine's waits for
// the first's). Close may be called from any goroutine at any time: a Next
// waiting then returns ErrClosed.
type WaitSet struct {
	// mu is held by Next for its whole call and by Close while it frees
	// the set: the C API allows no call on a freed set.
	mu  sync.Mutex
	set *C.os_wait_set // nil once closed
	// cancel ends a Next that waits: a context's end cancels it, and so
	// does Close. One is enough, since Nexts are serialized.
	cancel *C.os_canceller

	// closeMu orders Close's cancel against the reset that follows a Next
	// ended by its context, so that a reset never undoes Close's cancel.
	closeMu sync.Mutex
	closing bool

	// n is how many IDs the set holds (atomic: Add grows it under mu,
	// Len reads it without).
	n atomic.Int64
	// remaining is kept here (the C API does not report it), atomic so that
	// Remaining does not wait for a Next under way.
	remaining atomic.Int64
}

// NewWaitSet makes a wait set of the objects ids, whose indices [WaitSet.Next]
// hands out. An ID given twice is handed out twice. The objects sealed
// already are found now and handed out by the first Next. ids may be
// empty (a set with nothing to hand out).
func (s *Store) NewWaitSet(ids []ID) (*WaitSet, error) {
	cids, first := cIDs(ids)
	cancel, err := newCanceller("wait set")
	if err != nil {
		return nil, err
	}
	var set *C.os_wait_set
	var e *C.os_error
	err = s.do("wait set", &e, func(h *C.os_store) C.os_status {
		return C.os_wait_set_new_e(h, first, C.size_t(len(cids)), &set, &e)
	})
	if err != nil {
		C.os_canceller_free(cancel)
		return nil, err
	}
	w := &WaitSet{set: set, cancel: cancel}
	w.n.Store(int64(len(ids)))
	w.remaining.Store(int64(len(ids)))
	runtime.SetFinalizer(w, (*WaitSet).Close)
	return w, nil
}

// Len returns how many IDs the set holds (made with, then added): Next
// hands out indices from 0 to Len()-1.
func (w *WaitSet) Len() int { return int(w.n.Load()) }

// Add adds the objects ids to the set (os_wait_set_add): their indices
// follow those it holds (from Len() on), and Next hands them out as its
// own, an ID given twice, or one the set holds already, once for each time
// it was given. The objects sealed already are found now and handed out by
// the next Next. Each new ID is looked at once, here, so a set that grows
// stays as cheap to wait on as one made whole. Add waits for a Next under
// way on another goroutine (calls on a set are serialized); a closed set
// gives ErrClosed, one made in another process ErrInvalidArgument.
func (w *WaitSet) Add(ids []ID) error {
	cids, first := cIDs(ids)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.set == nil {
		return ErrClosed
	}
	var e *C.os_error
	st := C.os_wait_set_add_e(w.set, first, C.size_t(len(cids)), &e)
	runtime.KeepAlive(w)
	if err := failure("wait set add", st, e); err != nil {
		return err
	}
	w.n.Add(int64(len(ids)))
	w.remaining.Add(int64(len(ids)))
	return nil
}

// Remaining returns how many of the set's objects have not been handed out
// yet (0: every Next from now on returns an empty slice).
func (w *WaitSet) Remaining() int { return int(w.remaining.Load()) }

// Next hands out up to max objects of the set sealed and not handed out
// before, as indices into the IDs it holds (made with, then added), in the
// order they were found, waiting up to timeout for at least one (timeouts
// as for [Store.Wait]: NoWait looks once, Forever has no end). When none was
// sealed in time the error matches ErrTimeout (with NoWait too). An empty
// slice and a nil error mean that every object was handed out already. max
// below 1 gives ErrInvalidArgument; a closed set (also one closed while Next
// waits) gives ErrClosed.
func (w *WaitSet) Next(max int, timeout time.Duration) ([]int, error) {
	return w.next(context.Background(), max, timeout)
}

// NextContext is Next that waits until at least one object is sealed or
// ctx is done; then it returns an error wrapping ctx.Err() (errors.Is(err,
// context.Canceled) or context.DeadlineExceeded), and the set stays usable.
// Only the wait is cancelled: objects sealed already are handed out even if
// ctx is done, as os_wait_set_next does with a cancelled canceller.
func (w *WaitSet) NextContext(ctx context.Context, max int) ([]int, error) {
	return w.next(ctx, max, Forever)
}

func (w *WaitSet) next(ctx context.Context, max int, timeout time.Duration) ([]int, error) {
	if max < 1 {
		return nil, &Error{Op: "wait set next", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("asked for at most %d objects of a wait set", max)}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.set == nil {
		return nil, ErrClosed
	}
	// No more can come than remain, so the buffer need hold no more (max
	// may be huge). With none left the library would answer the same.
	room := min(max, int(w.remaining.Load()))
	if room == 0 {
		return []int{}, nil
	}
	out := make([]C.size_t, room)
	var n C.size_t
	ms := C.int64_t(0)
	if timeout > 0 || timeout == Forever {
		ms = cMillis(timeout)
	}
	var e *C.os_error
	done := w.watch(ctx)
	st := C.os_wait_set_next_e(w.set, C.size_t(room), ms, w.cancel, &out[0], &n, &e)
	// The set must outlive the C call even if the caller drops w.
	runtime.KeepAlive(w)
	done()
	err := failure("wait set next", st, e)
	if errors.Is(err, ErrCancelled) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("objstore: wait set next: %w", ctxErr)
		}
		return nil, ErrClosed
	}
	if err != nil {
		return nil, err
	}
	got := make([]int, int(n))
	for i := range got {
		got[i] = int(out[i])
	}
	w.remaining.Add(-int64(n))
	return got, nil
}

// watch has the set's canceller cancelled when ctx is done, for the length
// of one C call, and returns what to call once the call is back (as
// Store.waitCanceller does for a Store's waits). Called holding w.mu.
func (w *WaitSet) watch(ctx context.Context) func() {
	if ctx.Done() == nil {
		// Never done: only Close can cancel this wait.
		return func() {}
	}
	c := w.cancel
	settle := cancelWhenDone(ctx, c)
	return func() {
		if !settle() {
			return
		}
		// Cancelled through ctx: re-arm c for the next call, unless Close
		// cancelled it for good.
		w.closeMu.Lock()
		defer w.closeMu.Unlock()
		if !w.closing {
			C.os_canceller_reset(c)
		}
	}
}

// Close frees the set. A Next waiting on it returns ErrClosed, and every
// later call of Next too. Close is idempotent and always returns nil (the
// error is there for io.Closer).
func (w *WaitSet) Close() error {
	// A Next under way holds mu until it returns: end its wait first.
	w.closeMu.Lock()
	if !w.closing {
		w.closing = true
		C.os_canceller_cancel(w.cancel)
	}
	w.closeMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.set == nil {
		return nil
	}
	C.os_wait_set_free(w.set)
	w.set = nil
	C.os_canceller_free(w.cancel)
	w.cancel = nil
	runtime.SetFinalizer(w, nil)
	return nil
}
