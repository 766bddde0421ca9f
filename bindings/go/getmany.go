package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GetMany gets and pins several objects, waiting up to timeout for those
// not sealed yet, like Ray's ray.get(list). The result has one entry per
// ID (IDs may repeat; each entry is its own pin, to be released on its own).
// Timeouts are as for [Store.Get].
//
// When every object was got, the error is nil. When the wait ended with
// some still missing, the result holds the objects that were got (pinned:
// release them) and nil for the missing ones, and the error matches
// ErrNotFound (NoWait) or ErrTimeout (a positive timeout). On any other
// error the result is nil and nothing is pinned.
func (s *Store) GetMany(ids []ID, timeout time.Duration) ([]*Object, error) {
	return s.getMany(context.Background(), ids, timeout)
}

// GetManyContext is GetMany that waits until every object is sealed or ctx
// is done; then it returns the partial result, as GetMany does on a
// timeout, with an error wrapping ctx.Err(). Only the wait is cancelled:
// with ctx done already, the objects present are still got (all of them:
// a nil error; some: the partial result and ctx's error), as
// os_get_many_cancellable does with a cancelled canceller.
func (s *Store) GetManyContext(ctx context.Context, ids []ID) ([]*Object, error) {
	return s.getMany(ctx, ids, Forever)
}

func (s *Store) getMany(ctx context.Context, ids []ID, timeout time.Duration) ([]*Object, error) {
	objs := make([]*Object, len(ids))
	if len(ids) == 0 {
		return objs, nil
	}
	cids, _ := cIDs(ids)
	bufs := make([]C.os_buffer, len(ids))
	expired := timeout < 0 && timeout != Forever
	ms := C.int64_t(0)
	if timeout != NoWait && !expired {
		ms = cMillis(timeout)
	}
	var e *C.os_error
	err := s.doWait("get many", ctx, &e, func(h *C.os_store, c *C.os_canceller) C.os_status {
		return C.os_get_many_cancellable_e(h, &cids[0], C.size_t(len(cids)), ms, c, &bufs[0], &e)
	})
	// The library fills the entries it pinned on success, on a timeout and
	// on a cancellation; on any other failure it pins nothing.
	for i := range ids {
		if bufs[i].data != nil {
			objs[i] = newObject(s, ids[i])
			objs[i].buf = bufs[i]
		}
	}
	if expired && errors.Is(err, ErrNotFound) {
		// An expired deadline: one look, and "absent" means timed out.
		err = &Error{Op: "get many", Status: StatusTimeout,
			Message: fmt.Sprintf("%d of %d objects were not sealed within %v", countNil(objs), len(ids), timeout)}
	}
	switch {
	case err == nil:
		return objs, nil
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrNotFound),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return objs, err
	default:
		// A hard failure, which pinned nothing, or Close, which drops
		// every pin: the caller has nothing to release.
		for _, o := range objs {
			if o != nil {
				_ = o.Release()
			}
		}
		return nil, err
	}
}

func countNil(objs []*Object) int {
	n := 0
	for _, o := range objs {
		if o == nil {
			n++
		}
	}
	return n
}
