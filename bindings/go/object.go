package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Object is a pinned, sealed object: a read-only view of its data and
// metadata in the shared mapping. The bytes stay valid and unchanged until
// [Object.Release] (or [Store.Close]). Release every Object you get; there
// is no finalizer (see the package documentation for why).
type Object struct {
	store *Store
	id    ID

	// The C call's arguments live in the Object itself, so that a get and
	// its release allocate nothing but the Object. (cgo's pointer rules
	// apply to the field passed, not the whole struct.)
	cid  C.os_object_id
	buf  C.os_buffer // data is 64-byte aligned, in the shared mapping
	cerr *C.os_error // where a get or release hands back its failure

	// mu is held shared by the copying accessors and exclusively by
	// Release, so a copy never reads memory the release has unpinned.
	mu       sync.RWMutex
	released atomic.Bool
}

func newObject(s *Store, id ID) *Object {
	return &Object{store: s, id: id, cid: cID(id)}
}

// Get gets and pins the sealed object id. If it is not in the store yet, Get
// waits for another process (or goroutine) to seal it: timeout [NoWait]
// (0) does not wait and gives ErrNotFound; a positive timeout gives
// ErrTimeout when it runs out; [Forever] (-1) waits until the object is
// sealed or the Store is closed (ErrClosed); any other negative timeout is
// an expired deadline and gives ErrTimeout at once if the object is absent.
func (s *Store) Get(id ID, timeout time.Duration) (*Object, error) {
	return s.get(context.Background(), id, timeout)
}

// GetContext is Get that waits until the object is sealed or ctx is done;
// then it returns an error wrapping ctx.Err() (errors.Is(err,
// context.Canceled) or context.DeadlineExceeded). Only the wait is
// cancelled: an object present when GetContext looks is got even if ctx is
// done already, as os_get_cancellable does with a cancelled canceller.
func (s *Store) GetContext(ctx context.Context, id ID) (*Object, error) {
	return s.get(ctx, id, Forever)
}

func (s *Store) get(ctx context.Context, id ID, timeout time.Duration) (*Object, error) {
	obj := newObject(s, id)
	if timeout == NoWait || (timeout < 0 && timeout != Forever) {
		// No wait: one look. An expired deadline makes "absent" a timeout.
		err := s.do("get", &obj.cerr, func(h *C.os_store) C.os_status {
			return C.os_get_e(h, &obj.cid, 0, &obj.buf, &obj.cerr)
		})
		if timeout != NoWait && errors.Is(err, ErrNotFound) {
			return nil, &Error{Op: "get", Status: StatusTimeout,
				Message: fmt.Sprintf("object %s was not sealed within %v", id, timeout)}
		}
		if err != nil {
			return nil, err
		}
		return obj, nil
	}
	err := s.doWait("get", ctx, &obj.cerr, func(h *C.os_store, c *C.os_canceller) C.os_status {
		return C.os_get_cancellable_e(h, &obj.cid, cMillis(timeout), c, &obj.buf, &obj.cerr)
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// ID returns the object's ID.
func (o *Object) ID() ID { return o.id }

// Len returns the length of the object's data in bytes.
func (o *Object) Len() int { return int(o.buf.data_len) }

// MetaLen returns the length of the object's metadata in bytes.
func (o *Object) MetaLen() int { return int(o.buf.meta_len) }

// UnsafeData returns the object's data as a slice over the shared mapping:
// no copy. Its first byte is 64-byte aligned. It returns nil after Release
// or the Store's Close.
//
// The slice is valid only until Release (or Close of the Store), and only
// while the Object is reachable: keep the Object alive (e.g. with
// runtime.KeepAlive(obj)) for as long as you use the slice, and never use
// or retain it after Release. It must never be written: other processes
// read the same bytes, and the object is immutable.
func (o *Object) UnsafeData() []byte {
	if o.released.Load() || o.store.closed.Load() {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(o.buf.data)), o.buf.data_len)
}

// UnsafeMeta returns the object's metadata as a slice over the shared
// mapping, under the same rules as [Object.UnsafeData]. It returns nil
// after Release or the Store's Close.
func (o *Object) UnsafeMeta() []byte {
	if o.released.Load() || o.store.closed.Load() {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(o.buf.meta)), o.buf.meta_len)
}

// CopyData returns a copy of the object's data, safe to keep and modify.
// It returns nil if the object has been released or its Store closed.
func (o *Object) CopyData() []byte {
	return o.copyOf(unsafe.Pointer(o.buf.data), int(o.buf.data_len))
}

// CopyMeta returns a copy of the object's metadata, safe to keep and
// modify. It returns nil if the object has been released or its Store
// closed.
func (o *Object) CopyMeta() []byte {
	return o.copyOf(unsafe.Pointer(o.buf.meta), int(o.buf.meta_len))
}

func (o *Object) copyOf(p unsafe.Pointer, n int) []byte {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.released.Load() {
		return nil
	}
	// Hold the Store's shared lock too: Close unmaps what Release would
	// otherwise have kept mapped.
	o.store.mu.RLock()
	defer o.store.mu.RUnlock()
	if o.store.h == nil {
		return nil
	}
	return append([]byte{}, unsafe.Slice((*byte)(p), n)...)
}

// Release drops the object's pin; its views become invalid. Release is
// idempotent: later calls return nil, and so does a Release after the
// Store's Close (which dropped every pin of the Store).
func (o *Object) Release() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.released.Load() {
		return nil
	}
	err := o.store.do("release", &o.cerr, func(h *C.os_store) C.os_status {
		return C.os_release_e(h, &o.cid, &o.cerr)
	})
	if err == nil || isClosed(err) {
		o.released.Store(true)
		return nil
	}
	return err
}
