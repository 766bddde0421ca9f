package objstore

// #include <objstore.h>
import "C"

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Unsealed is an object created with [Store.Create] and not sealed yet:
// writable memory in the store to fill in place (no copy), then
// [Unsealed.Seal] to publish it or [Unsealed.Abort] to drop it. Until
// sealed it is invisible to gets, which wait for the seal. If the Store is
// closed, or the process dies, before the seal, the object is aborted.
type Unsealed struct {
	store *Store
	id    ID
	data  unsafe.Pointer // 64-byte aligned, in the shared mapping
	n     int
	done  atomic.Bool // sealed or aborted
}

// Create creates an object with a caller-chosen ID, size bytes of data to
// be written in place, and metadata meta (copied now). An ID that names a
// live object gives ErrAlreadyExists; one larger than the store gives
// ErrTooLarge; a full store gives ErrOutOfMemory.
func (s *Store) Create(id ID, size int, meta []byte) (*Unsealed, error) {
	if size < 0 {
		return nil, &Error{Op: "create", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("negative size %d", size)}
	}
	cid := cID(id)
	var p *C.uint8_t
	var e *C.os_error
	err := s.do("create", &e, func(h *C.os_store) C.os_status {
		return C.os_create_e(h, &cid, C.size_t(size), bytesPtr(meta), C.size_t(len(meta)), &p, &e)
	})
	if err != nil {
		return nil, err
	}
	return &Unsealed{store: s, id: id, data: unsafe.Pointer(p), n: size}, nil
}

// CreateNew is Create under a fresh ID that the library chooses (as Put
// does), for building an object in place without an ID of your own; the
// Unsealed's ID is the new one.
func (s *Store) CreateNew(size int, meta []byte) (*Unsealed, error) {
	if size < 0 {
		return nil, &Error{Op: "create", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("negative size %d", size)}
	}
	var cid C.os_object_id
	var p *C.uint8_t
	var e *C.os_error
	err := s.do("create", &e, func(h *C.os_store) C.os_status {
		return C.os_create_new_e(h, C.size_t(size), bytesPtr(meta), C.size_t(len(meta)), &cid, &p, &e)
	})
	if err != nil {
		return nil, err
	}
	return &Unsealed{store: s, id: goID(&cid), data: unsafe.Pointer(p), n: size}, nil
}

// ID returns the object's ID.
func (u *Unsealed) ID() ID { return u.id }

// Len returns the length of the object's data in bytes.
func (u *Unsealed) Len() int { return u.n }

// UnsafeData returns the object's writable data as a slice over the shared
// mapping, 64-byte aligned. Fill it, then Seal. It returns nil after Seal,
// Abort, or the Store's Close. The slice must not be used after Seal or Abort (or Close of the
// Store): once sealed the object is immutable and other processes read it,
// and once aborted the memory belongs to other objects. Keep the Unsealed
// reachable while you use the slice.
func (u *Unsealed) UnsafeData() []byte {
	if u.done.Load() || u.store.closed.Load() {
		return nil
	}
	return unsafe.Slice((*byte)(u.data), u.n)
}

// Seal publishes the object: from now on it is visible to gets and
// immutable, and processes waiting for it wake up. Sealing again gives
// ErrAlreadyExists; sealing after Abort gives ErrNotFound; after the
// Store's Close, ErrClosed.
func (u *Unsealed) Seal() error {
	return u.finish("seal", func(h *C.os_store, id *C.os_object_id, e **C.os_error) C.os_status {
		return C.os_seal_e(h, id, e)
	})
}

// Abort drops the object: its memory is freed and its ID is free again.
// Aborting a sealed object gives ErrAlreadyExists; aborting again,
// ErrNotFound.
func (u *Unsealed) Abort() error {
	return u.finish("abort", func(h *C.os_store, id *C.os_object_id, e **C.os_error) C.os_status {
		return C.os_abort_e(h, id, e)
	})
}

func (u *Unsealed) finish(op string, f func(*C.os_store, *C.os_object_id, **C.os_error) C.os_status) error {
	cid := cID(u.id)
	var e *C.os_error
	err := u.store.do(op, &e, func(h *C.os_store) C.os_status { return f(h, &cid, &e) })
	if err == nil || isClosed(err) {
		u.done.Store(true)
	}
	return err
}
