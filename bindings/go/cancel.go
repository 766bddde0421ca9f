package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Blocking calls (a get that waits, GetMany, Wait) wait in one C call, with
// the library's canceller (os_canceller), never in slices:
//
//   - A call with no context (Get, GetMany, Wait) waits with the Store's
//     closing canceller, which Close cancels before it takes the handle, so
//     the waits under way end at once and return ErrClosed.
//   - A call with a context that can be done (GetContext, GetManyContext,
//     WaitContext) waits with a canceller of its own, which a
//     context.AfterFunc cancels when the context is done; Close cancels it
//     too, since it is registered with the Store for the length of the call.
//     Such cancellers are reused (reset) rather than made anew for each call.
//   - A context done before the call is no different: the call is made,
//     with its canceller cancelled already, and, as in the C API, it still
//     succeeds if it finds what it asks for without waiting (a present
//     object is got, enough sealed objects end a Wait); only a wait is
//     cancelled. Returning the context's error up front instead would make
//     a Go get fail where the same get from C succeeds.

// newCanceller makes a C canceller.
func newCanceller(op string) (*C.os_canceller, error) {
	var c *C.os_canceller
	var e *C.os_error
	if err := failure(op, C.os_canceller_new_e(&c, &e), e); err != nil {
		return nil, err
	}
	return c, nil
}

// cancelWhenDone has the C canceller c cancelled when ctx is done, for the
// length of one C call: at once if ctx is done already (its AfterFunc runs
// in a goroutine of its own, perhaps after the call began to wait). The
// function it returns, called once the call is back, stops that and says
// whether c was cancelled through ctx, having let that cancel finish: then
// c must be reset before it serves another call.
func cancelWhenDone(ctx context.Context, c *C.os_canceller) (settle func() (cancelled bool)) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		C.os_canceller_cancel(c)
		close(fired)
	})
	early := ctx.Err() != nil
	if early {
		C.os_canceller_cancel(c)
	}
	return func() bool {
		if stop() {
			return early
		}
		<-fired
		return true
	}
}

// waitCanceller returns the canceller a wait of ctx uses and a function
// to call, while the call still holds s.mu shared, once the wait is over.
// It fails with ErrClosed once Close has begun.
func (s *Store) waitCanceller(op string, ctx context.Context) (*C.os_canceller, func(), error) {
	if ctx.Done() == nil {
		// Never done: only Close can cancel this wait.
		return s.closing, func() {}, nil
	}
	s.waitsMu.Lock()
	if s.closingBegun {
		s.waitsMu.Unlock()
		return nil, nil, ErrClosed
	}
	var c *C.os_canceller
	if n := len(s.spare); n > 0 {
		c, s.spare = s.spare[n-1], s.spare[:n-1]
	}
	s.waitsMu.Unlock()
	if c == nil {
		var err error
		if c, err = newCanceller(op); err != nil {
			return nil, nil, err
		}
	}
	s.waitsMu.Lock()
	if s.closingBegun {
		s.waitsMu.Unlock()
		C.os_canceller_free(c)
		return nil, nil, ErrClosed
	}
	s.waits[c] = struct{}{}
	s.waitsMu.Unlock()

	settle := cancelWhenDone(ctx, c)
	done := func() {
		cancelled := settle()
		s.waitsMu.Lock()
		defer s.waitsMu.Unlock()
		delete(s.waits, c)
		if s.closingBegun {
			// Close cancelled it (and frees the spares once it holds the
			// handle, after this call): it cannot serve another wait.
			C.os_canceller_free(c)
			return
		}
		if cancelled {
			C.os_canceller_reset(c)
		}
		s.spare = append(s.spare, c)
	}
	return c, done, nil
}

// beginClose cancels every wait under way on the Store, and makes later
// ones fail with ErrClosed, so that Close can take the handle at once.
func (s *Store) beginClose() {
	s.waitsMu.Lock()
	defer s.waitsMu.Unlock()
	if s.closingBegun {
		return
	}
	s.closingBegun = true
	if s.closing != nil {
		C.os_canceller_cancel(s.closing)
	}
	for c := range s.waits {
		C.os_canceller_cancel(c)
	}
}

// freeCancellers frees the Store's cancellers; Close calls it holding s.mu,
// when no call can be using them.
func (s *Store) freeCancellers() {
	s.waitsMu.Lock()
	defer s.waitsMu.Unlock()
	for _, c := range s.spare {
		C.os_canceller_free(c)
	}
	s.spare = nil
	if s.closing != nil {
		C.os_canceller_free(s.closing)
		s.closing = nil
	}
}

// doWait is do for a call that may block: f gets the handle and the
// canceller to wait with. A cancelled wait returns ctx's error, wrapped
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded), if ctx
// is done, else ErrClosed (Close cancelled it). A ctx done before the call
// does not stop it: f runs with its canceller cancelled, and succeeds if it
// need not wait (see the top of this file).
func (s *Store) doWait(op string, ctx context.Context, e **C.os_error,
	f func(h *C.os_store, c *C.os_canceller) C.os_status) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return ErrClosed
	}
	c, done, err := s.waitCanceller(op, ctx)
	if err != nil {
		return err
	}
	*e = nil
	st := f(s.h, c)
	// The handle must outlive the C call even if the caller drops s.
	runtime.KeepAlive(s)
	done()
	err = failure(op, st, *e)
	*e = nil
	if errors.Is(err, ErrCancelled) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("objstore: %s: %w", op, ctxErr)
		}
		return ErrClosed
	}
	return err
}

// cMillis converts a wait's timeout to the C API's timeout_ms: -1 for
// Forever, else whole milliseconds rounded up, so that a short positive
// wait never becomes 0 (no wait).
func cMillis(timeout time.Duration) C.int64_t {
	if timeout == Forever {
		return -1
	}
	ms := int64((timeout + time.Millisecond - 1) / time.Millisecond)
	return C.int64_t(max(ms, 1))
}
