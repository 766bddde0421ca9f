package objstore

// #include <objstore.h>
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Object flags for PutEx and CreateEx.
const (
	// ObjectRefcounted: the object is freed when no process holds a
	// reference (Ref) or a pin; the putter holds its first reference.
	ObjectRefcounted uint32 = C.OS_OBJECT_REFCOUNTED
	// ObjectEvictable: the object may be deleted, least recently used
	// first, when memory runs short.
	ObjectEvictable uint32 = C.OS_OBJECT_EVICTABLE
)

// PutEx is PutWithMeta with object flags (ObjectRefcounted,
// ObjectEvictable). With ObjectRefcounted this Store holds the object's
// first reference; drop it with Unref, or hand it over with GiveRef.
func (s *Store) PutEx(data, meta []byte, flags uint32) (ID, error) {
	var cid C.os_object_id
	var e *C.os_error
	err := s.do("put", &e, func(h *C.os_store) C.os_status {
		return C.os_put_ex_e(h, bytesPtr(data), C.size_t(len(data)),
			bytesPtr(meta), C.size_t(len(meta)), C.uint32_t(flags), &cid, &e)
	})
	runtime.KeepAlive(data)
	runtime.KeepAlive(meta)
	if err != nil {
		return ID{}, err
	}
	return goID(&cid), nil
}

// CreateEx is Create (id non-nil) or CreateNew (id nil) with object flags,
// as PutEx: with ObjectRefcounted this Store holds the first reference from
// now on, and an Abort drops it with the object.
func (s *Store) CreateEx(id *ID, size int, meta []byte, flags uint32) (*Unsealed, error) {
	if size < 0 {
		return nil, &Error{Op: "create", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("negative size %d", size)}
	}
	var given *C.os_object_id
	if id != nil {
		c := cID(*id)
		given = &c
	}
	var cid C.os_object_id
	var p *C.uint8_t
	var e *C.os_error
	err := s.do("create", &e, func(h *C.os_store) C.os_status {
		return C.os_create_ex_e(h, given, C.size_t(size), bytesPtr(meta), C.size_t(len(meta)),
			C.uint32_t(flags), &cid, &p, &e)
	})
	runtime.KeepAlive(meta)
	if err != nil {
		return nil, err
	}
	return &Unsealed{store: s, id: goID(&cid), data: unsafe.Pointer(p), n: size}, nil
}

// Ref takes one more reference to a sealed object for this Store: while
// any process holds one, the object is not freed (nor deleted, if
// ObjectRefcounted). A reference is not a pin: the object may be spilled.
// ErrNotFound if it is absent or deleted. Closing the Store drops its
// references.
func (s *Store) Ref(id ID) error {
	cid := cID(id)
	var e *C.os_error
	return s.do("ref", &e, func(h *C.os_store) C.os_status { return C.os_ref_e(h, &cid, &e) })
}

// Unref drops one of this Store's references; an ObjectRefcounted object
// that nothing references or pins any more is deleted. ErrNotFound if this
// Store holds no reference to it.
func (s *Store) Unref(id ID) error {
	cid := cID(id)
	var e *C.os_error
	return s.do("unref", &e, func(h *C.os_store) C.os_status { return C.os_unref_e(h, &cid, &e) })
}

// GiveRef moves one of this Store's references into a ticket, a number to
// send to another process (through a pipe, a channel, a queue), which
// takes it with TakeRef. Until then the reference is charged to this
// process, and dropped if it closes the store or dies.
func (s *Store) GiveRef(id ID) (uint64, error) {
	cid := cID(id)
	var ticket C.uint64_t
	var e *C.os_error
	err := s.do("give", &e, func(h *C.os_store) C.os_status { return C.os_ref_give_e(h, &cid, &ticket, &e) })
	return uint64(ticket), err
}

// TakeRef takes the reference a ticket holds: this Store holds it from now
// on. A ticket is taken at most once: ErrNotFound for one taken already,
// dropped with its giver, or given for another object.
func (s *Store) TakeRef(id ID, ticket uint64) error {
	cid := cID(id)
	var e *C.os_error
	return s.do("take", &e, func(h *C.os_store) C.os_status {
		return C.os_ref_take_e(h, &cid, C.uint64_t(ticket), &e)
	})
}
