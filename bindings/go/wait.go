package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"errors"
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

// waitSlice caps each blocking call into the library. A long wait is a loop
// of such slices, which is how Close gets the handle back within one slice
// and how a context's cancellation is noticed. The library wakes a waiter
// as soon as the object is sealed, so slicing adds no latency to a
// successful wait.
const waitSlice = 50 * time.Millisecond

// waitLoop calls try until it returns something other than a timeout, or
// the wait is over. try gets the bound of its own wait in milliseconds: 0
// means do not wait. With timeout 0 try is called once, with 0. With a
// positive timeout the loop ends by then, returning timedOut(); with a
// negative one it ends only when try succeeds, fails otherwise, or ctx is
// done (then the context's error is returned, wrapped).
func waitLoop(ctx context.Context, op string, timeout time.Duration,
	try func(ms int64) error, timedOut func() error) error {
	if timeout == 0 {
		return try(0)
	}
	if timeout < 0 && timeout != Forever {
		// An expired deadline: one look, and "absent" means timed out.
		if err := try(0); !errors.Is(err, ErrNotFound) {
			return err
		}
		return timedOut()
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	ctxDeadline, hasCtxDeadline := ctx.Deadline()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("objstore: %s: %w", op, err)
		}
		slice := waitSlice
		if !deadline.IsZero() {
			rem := time.Until(deadline)
			if rem <= 0 {
				return timedOut()
			}
			slice = min(slice, rem)
		}
		if hasCtxDeadline {
			rem := time.Until(ctxDeadline)
			if rem <= 0 {
				// The context's own timer may not have fired yet.
				return fmt.Errorf("objstore: %s: %w", op, context.DeadlineExceeded)
			}
			slice = min(slice, rem)
		}
		if err := try(ceilMillis(slice)); !errors.Is(err, ErrTimeout) {
			return err
		}
	}
}

// ceilMillis converts a positive duration to whole milliseconds, rounding
// up so that a short positive wait never becomes 0 (no wait).
func ceilMillis(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	return max(ms, 1)
}

// Wait waits until at least numReady of the objects ids are sealed, or the
// timeout ends (NoWait: look once; Forever: no end), taking no pins: Ray's
// ray.wait, for taking results in the order they finish. ready[i] says
// whether ids[i] is sealed (only as many as numReady are looked for); it is
// returned with ErrTimeout too, saying which were.
func (s *Store) Wait(ids []ID, numReady int, timeout time.Duration) ([]bool, error) {
	return s.wait(context.Background(), ids, numReady, timeout)
}

// WaitContext is Wait until numReady are sealed or ctx is done; then it
// returns, with ready as far as it got, an error wrapping ctx.Err().
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
	cids := make([]C.os_object_id, len(ids))
	for i, id := range ids {
		cids[i] = cID(id)
	}
	flags := make([]C.bool, len(ids))
	try := func(ms int64) error {
		var e *C.os_error
		err := s.do("wait", &e, func(h *C.os_store) C.os_status {
			return C.os_wait_e(h, &cids[0], C.size_t(len(cids)), C.size_t(numReady), C.int64_t(ms),
				&flags[0], nil, &e)
		})
		for i, f := range flags {
			ready[i] = bool(f)
		}
		return err
	}
	timedOut := func() error {
		return &Error{Op: "wait", Status: StatusTimeout,
			Message: fmt.Sprintf("fewer than %d of %d objects were sealed within %v", numReady, len(ids), timeout)}
	}
	err := waitLoop(ctx, "wait", timeout, try, timedOut)
	return ready, err
}
