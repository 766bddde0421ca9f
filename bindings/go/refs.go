package objstore

// #include <objstore.h>
import "C"

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"time"
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
// takes it with TakeRef. [Ref.Give] does the same for a Ref, as a
// [Ticket]. Until then the reference is charged to this
// process, and dropped if it dies or closes the store (after its
// [Options.TicketLinger]); [Store.TicketsOutstanding] counts such tickets
// and [Store.WaitTicketsTaken] waits for their takes.
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

// TicketsOutstanding returns how many tickets this process gave
// ([Store.GiveRef], [Ref.Give], through any of its Stores of the store)
// that no process has taken yet.
func (s *Store) TicketsOutstanding() (uint64, error) {
	var n C.uint64_t
	var e *C.os_error
	err := s.do("tickets outstanding", &e, func(h *C.os_store) C.os_status {
		return C.os_tickets_outstanding_e(h, &n, &e)
	})
	return uint64(n), err
}

// WaitTicketsTaken waits until every ticket this process gave is taken:
// what a process that sent references and is about to close the store or
// exit does, so that its tickets, and the objects they alone hold, do not go
// with it before their receivers take them ([Options.TicketLinger] does the
// same in the Close of the last Store). Timeouts as for [Store.Wait]:
// NoWait looks once, Forever waits until the last take or Close (then
// ErrClosed), any other negative duration is an expired deadline. When
// some are still outstanding at the end, the error matches ErrTimeout and
// its message says how many. A take wakes nobody: the library looks again
// after sleeps growing to 10 ms, so the call returns up to 10 ms after the
// last take.
func (s *Store) WaitTicketsTaken(timeout time.Duration) error {
	return s.waitTicketsTaken(context.Background(), timeout)
}

// WaitTicketsTakenContext is WaitTicketsTaken until the last take or until
// ctx is done; then it returns an error wrapping ctx.Err()
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded). Only the
// wait is cancelled: with no ticket outstanding it returns nil even if ctx
// is done already, as os_tickets_wait does with a cancelled canceller.
func (s *Store) WaitTicketsTakenContext(ctx context.Context) error {
	return s.waitTicketsTaken(ctx, Forever)
}

func (s *Store) waitTicketsTaken(ctx context.Context, timeout time.Duration) error {
	ms := C.int64_t(0)
	if timeout > 0 || timeout == Forever {
		ms = cMillis(timeout)
	}
	var e *C.os_error
	return s.doWait("wait tickets taken", ctx, &e, func(h *C.os_store, c *C.os_canceller) C.os_status {
		return C.os_tickets_wait_e(h, ms, c, &e)
	})
}

// Ref is one reference to an object, held through a Store: while any
// process holds a reference the object is not freed, and an object put
// with ObjectRefcounted is freed when its last reference (and pin) goes.
// A reference is not a pin: Get the object to read it.
//
// Get a Ref from [Store.PutRef] (a new refcounted object, its first
// reference), [Store.NewRef] (one more reference to any sealed object),
// [Store.TakeTicket] (a reference another process gave) or
// [Store.AdoptRef] (a reference the Store already holds), and Close it when
// done; Give moves it to another process instead. A Ref may be used from
// several goroutines; it does its work through its Store, so it is tied to
// it: closing the Store drops the reference (and, unlike C++, the Ref does
// not keep the Store open).
//
// A Ref has no finalizer, on purpose: the garbage collector would drop the
// reference when the Ref becomes unreachable, while the program may still
// use the object by its ID (an ID is a plain value that keeps nothing
// alive), and the object would vanish under it. A Ref never closed keeps
// its object until the Store is closed (explicitly, or by the Store's own
// finalizer) or the process exits.
type Ref struct {
	store *Store
	id    ID

	mu   sync.Mutex
	done bool // closed, given away, or its Store closed
}

func newRef(s *Store, id ID) *Ref { return &Ref{store: s, id: id} }

// ID returns the ID of the object the Ref refers to (also once closed).
func (r *Ref) ID() ID { return r.id }

// Close drops the reference (Unref); an ObjectRefcounted object that
// nothing references or pins any more is deleted. The Ref is closed
// afterwards whatever the result. Close is idempotent: later calls, and a
// Close after Give, return nil. If the Store was closed first, its Close
// already dropped the reference: then Close returns an error that matches
// [ErrClosed] (once; nil afterwards).
func (r *Ref) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.done = true
	err := r.store.Unref(r.id)
	if isClosed(err) {
		return fmt.Errorf("objstore: unref %s: the Store was closed first (which dropped the reference): %w",
			r.id, ErrClosed)
	}
	return err
}

// Give moves the reference into a [Ticket] for another process (or Store)
// to take with [Store.TakeTicket], once; the Ref is closed afterwards, and
// its Close does nothing. Until the ticket is taken, the reference is
// charged to this process and dropped if the process closes its last
// Store of the store or dies: keep a Store open until the taker has it
// ([Store.WaitTicketsTaken] waits for that, and [Options.TicketLinger]
// makes the last Close wait for it). On
// failure the Ref keeps its reference. Giving a closed or given Ref gives
// an error that matches [ErrInvalidArgument].
func (r *Ref) Give() (Ticket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return Ticket{}, r.spent("give")
	}
	value, err := r.store.GiveRef(r.id)
	if err != nil {
		if isClosed(err) {
			r.done = true
		}
		return Ticket{}, err
	}
	r.done = true
	return Ticket{ID: r.id, Value: value}, nil
}

// Clone takes another reference to the same object through the same Store
// ([Store.NewRef]). Cloning a closed or given Ref gives an error that
// matches [ErrInvalidArgument].
func (r *Ref) Clone() (*Ref, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil, r.spent("clone")
	}
	return r.store.NewRef(r.id)
}

func (r *Ref) spent(op string) error {
	return &Error{Op: op, Status: StatusInvalidArgument,
		Message: fmt.Sprintf("the Ref to %s is closed or given away", r.id)}
}

// PutRef is PutEx with ObjectRefcounted added to flags (0, or
// ObjectEvictable), returning the new object's first reference as a Ref:
// the object is freed when the last reference is dropped (this Ref's
// Close, unless it was cloned or given) and no pin remains.
func (s *Store) PutRef(data, meta []byte, flags uint32) (*Ref, error) {
	id, err := s.PutEx(data, meta, flags|ObjectRefcounted)
	if err != nil {
		return nil, err
	}
	return newRef(s, id), nil
}

// NewRef takes one more reference to a sealed object (as [Store.Ref]) and
// returns it as a Ref. ErrNotFound if the object is absent or deleted.
func (s *Store) NewRef(id ID) (*Ref, error) {
	if err := s.Ref(id); err != nil {
		return nil, err
	}
	return newRef(s, id), nil
}

// TakeTicket takes the reference a [Ticket] holds (as [Store.TakeRef]) and
// returns it as a Ref. A ticket is taken at most once: ErrNotFound for one
// taken already, dropped with its giver, or never given, or if the object
// is gone.
func (s *Store) TakeTicket(t Ticket) (*Ref, error) {
	if err := s.TakeRef(t.ID, t.Value); err != nil {
		return nil, err
	}
	return newRef(s, t.ID), nil
}

// AdoptRef returns a Ref that owns one of the references this Store
// already holds: one taken with [Store.Ref] or [Store.TakeRef], or the first
// reference of an object made with CreateEx(..., ObjectRefcounted) and
// sealed. It calls nothing; the Ref's Close will drop that reference.
func (s *Store) AdoptRef(id ID) *Ref { return newRef(s, id) }

// TicketSize is the length of a [Ticket]'s binary form.
const TicketSize = IDSize + 8

// Ticket is a reference on its way to another process: what [Ref.Give]
// makes and [Store.TakeTicket] takes, once. It is a plain value: send it
// over a channel, or between processes as its TicketSize bytes
// (MarshalBinary: the ID's 20 bytes, then Value in 8 little-endian bytes,
// the same as C++'s objstore::Ticket::to_bytes) or its text form (String,
// MarshalText: those bytes as 56 hex characters, so it also works in
// JSON).
type Ticket struct {
	// ID is the object the reference is to.
	ID ID
	// Value is the ticket number (os_ref_give's).
	Value uint64
}

// MarshalBinary encodes the ticket in its TicketSize bytes.
func (t Ticket) MarshalBinary() ([]byte, error) {
	b := make([]byte, TicketSize)
	copy(b, t.ID[:])
	binary.LittleEndian.PutUint64(b[IDSize:], t.Value)
	return b, nil
}

// UnmarshalBinary decodes the form of MarshalBinary. Anything but
// TicketSize bytes gives an error that matches [ErrInvalidArgument].
func (t *Ticket) UnmarshalBinary(b []byte) error {
	if len(b) != TicketSize {
		return &Error{Op: "parse ticket", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("a ticket is %d bytes, not %d", TicketSize, len(b))}
	}
	copy(t.ID[:], b[:IDSize])
	t.Value = binary.LittleEndian.Uint64(b[IDSize:])
	return nil
}

// String returns the binary form as 56 lower-case hex characters.
func (t Ticket) String() string {
	b, _ := t.MarshalBinary()
	return hex.EncodeToString(b)
}

// ParseTicket parses the form of [Ticket.String] (either case); anything
// else gives an error that matches [ErrInvalidArgument].
func ParseTicket(s string) (Ticket, error) {
	var t Ticket
	if len(s) != 2*TicketSize {
		return t, &Error{Op: "parse ticket", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("a ticket is %d hex characters, not %d", 2*TicketSize, len(s))}
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return t, &Error{Op: "parse ticket", Status: StatusInvalidArgument,
				Message: fmt.Sprintf("character %q at offset %d of a ticket is not a hex digit", s[i], i)}
		}
	}
	b := make([]byte, TicketSize)
	// Cannot fail: length and digits were checked above.
	_, _ = hex.Decode(b, []byte(s))
	err := t.UnmarshalBinary(b)
	return t, err
}

// MarshalText encodes the ticket as [Ticket.String] does.
func (t Ticket) MarshalText() ([]byte, error) {
	return []byte(t.String()), nil
}

// UnmarshalText parses the form of [Ticket.String], as [ParseTicket].
func (t *Ticket) UnmarshalText(text []byte) error {
	parsed, err := ParseTicket(string(text))
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}
