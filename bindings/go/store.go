package objstore

// #include <stdlib.h>
// #include <objstore.h>
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Store is a handle to an attached store. It may be used from many
// goroutines at once. Close it when done; a finalizer closes a Store that
// becomes unreachable while open, but only as a backstop, since the
// garbage collector gives no promise of when (or whether) it runs.
type Store struct {
	name string
	// spillDir and remoteURL are fixed when the store is created: read
	// once at open.
	spillDir, remoteURL string

	// mu is held shared by every call into the C handle and exclusively by
	// Close: os_close must not run while another thread uses the handle.
	// A call that waits holds it for the whole wait, so Close first
	// cancels the waits under way (beginClose, see cancel.go).
	mu sync.RWMutex
	h  *C.os_store // nil once closed
	// closed mirrors h == nil for the lock-free Unsafe views, which return
	// nil once the mapping they point into may be gone.
	closed atomic.Bool

	// closing is the canceller of waits with no context; Close cancels it.
	closing *C.os_canceller
	// waitsMu guards the cancellers of the context waits under way
	// (waits), the idle ones kept for reuse (spare), and closingBegun.
	waitsMu      sync.Mutex
	waits        map[*C.os_canceller]struct{}
	spare        []*C.os_canceller
	closingBegun bool
}

// Open opens the store name, creating it if it does not exist (unless
// opts.AttachOnly). A name without a '/' is a store under /dev/shm; a name
// with a '/' is a path (a file on hugetlbfs or on disk). opts may be nil for
// the defaults.
func Open(name string, opts *Options) (*Store, error) {
	copts, free, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer free()
	cname, err := cString("open", "name", name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cname))
	var popts *C.os_options
	if opts != nil {
		popts = &copts
	}
	var h *C.os_store
	var e *C.os_error
	if err := failure("open", C.os_open_e(cname, popts, &h, &e), e); err != nil {
		return nil, err
	}
	closing, err := newCanceller("open")
	if err != nil {
		C.os_close(h)
		return nil, err
	}
	s := &Store{name: name, h: h, closing: closing, waits: map[*C.os_canceller]struct{}{}}
	// The strings belong to the handle: copy them while it is open.
	if d := C.os_spill_dir(h); d != nil {
		s.spillDir = C.GoString(d)
	}
	if u := C.os_remote_url(h); u != nil {
		s.remoteURL = C.GoString(u)
	}
	runtime.SetFinalizer(s, (*Store).Close)
	return s, nil
}

// Destroy removes the store name: its file and its spill files. Processes
// still attached keep working on their mapping until they close it; the
// next Open of the name creates a new store. A store that does not exist
// gives ErrNotFound.
func Destroy(name string) error {
	cname, err := cString("destroy", "name", name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cname))
	var e *C.os_error
	return failure("destroy", C.os_destroy_e(cname, &e), e)
}

// Name returns the name the store was opened with.
func (s *Store) Name() string { return s.name }

// SpillDir returns the store's spill directory, fixed when it was created
// (whatever the Options of this Open said), or "" when it has none.
func (s *Store) SpillDir() string { return s.spillDir }

// RemoteURL returns the store's remote ("s3://bucket/prefix", …), fixed
// when it was created, or "" when it has none.
func (s *Store) RemoteURL() string { return s.remoteURL }

// Close releases every pin this Store holds, aborts the objects it created
// and did not seal, and detaches from the store (the store itself and its
// sealed objects stay; see [Destroy]). Views from this Store's objects
// become invalid. Close is idempotent: later calls return nil. Goroutines
// waiting in a get on this Store return ErrClosed.
func (s *Store) Close() error {
	// The waits under way hold mu shared until they end: end them first.
	s.beginClose()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return nil
	}
	h := s.h
	s.h = nil
	s.closed.Store(true)
	runtime.SetFinalizer(s, nil)
	s.freeCancellers()
	var e *C.os_error
	return failure("close", C.os_close_e(h, &e), e)
}

// do runs one C call of the _e family on the handle under the shared lock,
// so that Close cannot free the handle during the call, and turns its
// status and error object into an error (see failure). e is where the call
// puts its error object: a field of the caller's own value where the call
// is hot (a get, a release), so that passing it to C allocates nothing. A
// closed store gives ErrClosed.
func (s *Store) do(op string, e **C.os_error, f func(h *C.os_store) C.os_status) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := s.h
	if h == nil {
		return ErrClosed
	}
	*e = nil
	st := f(h)
	// The handle must outlive the C call even if the caller drops s.
	runtime.KeepAlive(s)
	err := failure(op, st, *e)
	*e = nil
	return err
}

// Collect reclaims what dead processes held: their pins, their unsealed
// objects, the steps they were in the middle of. The same happens whenever
// a process attaches and whenever an allocation runs short.
func (s *Store) Collect() error {
	var e *C.os_error
	return s.do("collect", &e, func(h *C.os_store) C.os_status { return C.os_collect_e(h, &e) })
}

// Put stores data as a new sealed object with a fresh ID. The bytes are
// copied into the store; data may be reused at once.
func (s *Store) Put(data []byte) (ID, error) {
	return s.PutWithMeta(data, nil)
}

// PutWithMeta is Put with a metadata blob (e.g. a tensor's dtype and shape)
// stored beside the data and returned by gets ([Object.UnsafeMeta]).
func (s *Store) PutWithMeta(data, meta []byte) (ID, error) {
	var cid C.os_object_id
	var e *C.os_error
	err := s.do("put", &e, func(h *C.os_store) C.os_status {
		return C.os_put_with_meta_e(h, bytesPtr(data), C.size_t(len(data)),
			bytesPtr(meta), C.size_t(len(meta)), &cid, &e)
	})
	// Keep the Go buffers alive across the call (they are passed as
	// unsafe.Pointer, which the compiler already treats as a use, but say so).
	runtime.KeepAlive(data)
	runtime.KeepAlive(meta)
	if err != nil {
		return ID{}, err
	}
	return goID(&cid), nil
}

// PutAs stores data and meta as a sealed object under a caller-chosen ID
// (for example one derived from a task's identity), by Create, copy, Seal.
// An ID that names a live object gives ErrAlreadyExists.
func (s *Store) PutAs(id ID, data, meta []byte) error {
	u, err := s.Create(id, len(data), meta)
	if err != nil {
		return err
	}
	copy(u.UnsafeData(), data)
	if err := u.Seal(); err != nil {
		// Best effort: the object must not stay half-made. If Seal failed
		// the object is still ours, so Abort is the right undo.
		_ = u.Abort()
		return err
	}
	return nil
}

// Delete deletes a sealed object. It is invisible to gets and Contains at
// once; its memory is freed when the last pin is released, and until then
// its ID stays reserved. An absent or already deleted ID gives ErrNotFound;
// an object not sealed yet gives ErrNotSealed.
func (s *Store) Delete(id ID) error {
	cid := cID(id)
	var e *C.os_error
	return s.do("delete", &e, func(h *C.os_store) C.os_status { return C.os_delete_e(h, &cid, &e) })
}

// Contains reports whether a sealed object with this ID is in the store (in
// memory or spilled). It does not pin the object.
func (s *Store) Contains(id ID) (bool, error) {
	cid := cID(id)
	var present C.bool
	var e *C.os_error
	err := s.do("contains", &e, func(h *C.os_store) C.os_status { return C.os_contains_e(h, &cid, &present, &e) })
	return bool(present), err
}

// cString copies s to C memory for a call (the caller frees it). A NUL
// byte inside s would silently cut the string short in C, so it is refused.
func cString(op, what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Op: op, Status: StatusInvalidArgument,
			Message: fmt.Sprintf("%s %q contains a NUL byte", what, s)}
	}
	return C.CString(s), nil
}

// bytesPtr returns a pointer to b's first byte, or nil for an empty slice
// (the C API accepts NULL with length 0).
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func cID(id ID) C.os_object_id {
	var c C.os_object_id
	for i, b := range id {
		c.bytes[i] = C.uint8_t(b)
	}
	return c
}

// cIDs converts ids for a C call: the array, and a pointer to its first
// element (nil when ids is empty, which the C functions accept with a
// count of 0).
func cIDs(ids []ID) ([]C.os_object_id, *C.os_object_id) {
	if len(ids) == 0 {
		return nil, nil
	}
	cids := make([]C.os_object_id, len(ids))
	for i, id := range ids {
		cids[i] = cID(id)
	}
	return cids, &cids[0]
}

func goID(c *C.os_object_id) ID {
	var id ID
	for i, b := range c.bytes {
		id[i] = byte(b)
	}
	return id
}
