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
// timeout, with an error wrapping ctx.Err().
func (s *Store) GetManyContext(ctx context.Context, ids []ID) ([]*Object, error) {
	return s.getMany(ctx, ids, Forever)
}

func (s *Store) getMany(ctx context.Context, ids []ID, timeout time.Duration) ([]*Object, error) {
	objs := make([]*Object, len(ids))
	// missing holds the indexes (into ids) not pinned yet. Each call asks
	// only for those, so an object is pinned exactly once per entry however
	// many slices the wait takes.
	missing := make([]int, len(ids))
	for i := range missing {
		missing[i] = i
	}
	try := func(ms int64) error {
		if len(missing) == 0 {
			return nil
		}
		cids := make([]C.os_object_id, len(missing))
		for k, i := range missing {
			cids[k] = cID(ids[i])
		}
		bufs := make([]C.os_buffer, len(missing))
		var e *C.os_error
		err := s.do("get many", &e, func(h *C.os_store) C.os_status {
			return C.os_get_many_e(h, &cids[0], C.size_t(len(cids)), C.int64_t(ms), &bufs[0], &e)
		})
		if err != nil && !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrNotFound) {
			return err // the library pinned nothing in this call
		}
		still := missing[:0]
		for k, i := range missing {
			if bufs[k].data != nil {
				objs[i] = newObject(s, ids[i])
				objs[i].buf = bufs[k]
			} else {
				still = append(still, i)
			}
		}
		missing = still
		return err
	}
	timedOut := func() error {
		return &Error{Op: "get many", Status: StatusTimeout,
			Message: fmt.Sprintf("%d of %d objects were not sealed within %v", len(missing), len(ids), timeout)}
	}
	err := waitLoop(ctx, "get many", timeout, try, timedOut)
	switch {
	case err == nil:
		return objs, nil
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrNotFound),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return objs, err
	default:
		// A hard failure (or Close) in a later slice: drop the pins of the
		// earlier slices, so that the caller has nothing to release.
		for _, o := range objs {
			if o != nil {
				_ = o.Release()
			}
		}
		return nil, err
	}
}
