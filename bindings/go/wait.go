package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"fmt"
	"time"
)

// Timeouts for [Store.Get] and [Store.GetMany].
const (
	// NoWait makes a get return at once: an object not sealed yet gives
	// ErrNotFound.
	NoWait time.Duration = 0
	// Forever makes a get wait until the object is sealed (or the Store is
	// closed). Only this value means forever: any other negative duration
	// is a deadline already passed (time.Until of a past time), which gives
	// ErrTimeout at once if the object is absent.
	Forever time.Duration = -1
)

// Wait waits until at least numReady of the objects ids are sealed, or the
// timeout ends (NoWait: look once; Forever: no end), taking no pins: Ray's
// ray.wait, for taking results in the order they finish. ready[i] says
// whether ids[i] is sealed (only as many as numReady are looked for); it is
// returned with ErrTimeout too, saying which were.
func (s *Store) Wait(ids []ID, numReady int, timeout time.Duration) ([]bool, error) {
	return s.wait(context.Background(), ids, numReady, timeout)
}

// WaitContext is Wait until numReady are sealed or ctx is done; then it
// returns, with ready as far as it got, an error wrapping ctx.Err(). Only
// the wait is cancelled: if numReady are sealed already, it succeeds even
// with ctx done, as os_wait_cancellable does with a cancelled canceller.
func (s *Store) WaitContext(ctx context.Context, ids []ID, numReady int) ([]bool, error) {
	return s.wait(ctx, ids, numReady, Forever)
}

func (s *Store) wait(ctx context.Context, ids []ID, numReady int, timeout time.Duration) ([]bool, error) {
	ready := make([]bool, len(ids))
	if numReady < 0 || numReady > len(ids) {
		return ready, &Error{Op: "wait", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("waiting for %d of %d objects", numReady, len(ids))}
	}
	if len(ids) == 0 {
		return ready, nil
	}
	cids, _ := cIDs(ids)
	flags := make([]C.bool, len(ids))
	ms := C.int64_t(0)
	if timeout > 0 || timeout == Forever {
		ms = cMillis(timeout)
	}
	var e *C.os_error
	err := s.doWait("wait", ctx, &e, func(h *C.os_store, c *C.os_canceller) C.os_status {
		return C.os_wait_cancellable_e(h, &cids[0], C.size_t(len(cids)), C.size_t(numReady), ms, c,
			&flags[0], nil, &e)
	})
	for i, f := range flags {
		ready[i] = bool(f)
	}
	return ready, err
}
