package objstore

// #cgo pkg-config: objstore
// #include <objstore.h>
import "C"

import (
	"errors"
)

// Status is a status code of the C library (os_status). A Status is itself
// an error, so the sentinel errors below are Status values and
// errors.Is(err, ErrNotFound) matches any [*Error] whose Status is
// StatusNotFound.
type Status uint32

// The status codes of include/objstore.h.
const (
	StatusOK               Status = C.OS_OK
	StatusInvalidArgument  Status = C.OS_INVALID_ARGUMENT
	StatusNotFound         Status = C.OS_NOT_FOUND
	StatusAlreadyExists    Status = C.OS_ALREADY_EXISTS
	StatusOutOfMemory      Status = C.OS_OUT_OF_MEMORY
	StatusTooLarge         Status = C.OS_TOO_LARGE
	StatusTimeout          Status = C.OS_TIMEOUT
	StatusNotSealed        Status = C.OS_NOT_SEALED
	StatusIncompatible     Status = C.OS_INCOMPATIBLE
	StatusCorrupt          Status = C.OS_CORRUPT
	StatusIOError          Status = C.OS_IO_ERROR
	StatusPermissionDenied Status = C.OS_PERMISSION_DENIED
	StatusTooManyProcesses Status = C.OS_TOO_MANY_PROCESSES
	StatusPanic            Status = C.OS_PANIC
)

// String returns the library's static description of the status
// (os_status_str), e.g. "not found".
func (s Status) String() string {
	return C.GoString(C.os_status_str(C.os_status(s)))
}

// Error makes a Status usable as a sentinel error.
func (s Status) Error() string {
	return "objstore: " + s.String()
}

// Sentinel errors, one per status code. Compare with errors.Is.
var (
	// ErrInvalidArgument: a bad argument, a value out of range, or an
	// operation the object's state does not allow (e.g. releasing an
	// object this Store does not pin).
	ErrInvalidArgument error = StatusInvalidArgument
	// ErrNotFound: no such object (or no such store, with AttachOnly); also
	// a get with NoWait of an object not sealed yet.
	ErrNotFound error = StatusNotFound
	// ErrAlreadyExists: the ID names a live object (or the store exists,
	// with CreateOnly); also sealing or aborting an object already sealed.
	ErrAlreadyExists error = StatusAlreadyExists
	// ErrOutOfMemory: the store is full and nothing could be spilled.
	ErrOutOfMemory error = StatusOutOfMemory
	// ErrTooLarge: the object is larger than the store could ever hold.
	ErrTooLarge error = StatusTooLarge
	// ErrTimeout: a positive timeout ran out before the object was sealed.
	ErrTimeout error = StatusTimeout
	// ErrNotSealed: the object is created but not sealed yet.
	ErrNotSealed error = StatusNotSealed
	// ErrIncompatible: a store file of another layout version.
	ErrIncompatible error = StatusIncompatible
	// ErrCorrupt: a store file or spill file that fails its checks.
	ErrCorrupt error = StatusCorrupt
	// ErrIO: an operating-system call failed.
	ErrIO error = StatusIOError
	// ErrPermissionDenied: the caller may not open or create the file.
	ErrPermissionDenied error = StatusPermissionDenied
	// ErrTooManyProcesses: every process slot of the store is taken.
	ErrTooManyProcesses error = StatusTooManyProcesses
	// ErrPanic: a bug in objstore, caught before it reached the caller.
	ErrPanic error = StatusPanic
)

// ErrClosed is returned by every method of a Store (and of its Objects)
// used after Store.Close. It is a Go-side condition, not a library status.
var ErrClosed = errors.New("objstore: store is closed")

// Error is a failure reported by the library: the operation, the status
// code, and the library's detail message for it.
type Error struct {
	// Op is the operation that failed, e.g. "open" or "get".
	Op string
	// Status is the library's status code; never StatusOK.
	Status Status
	// Message is the library's detail message; it may be empty.
	Message string
}

// Error formats the failure as "objstore: op: message".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Status.String()
	}
	return "objstore: " + e.Op + ": " + msg
}

// Unwrap returns the Status, so that errors.Is(err, ErrNotFound) and
// errors.As(err, &status) work.
func (e *Error) Unwrap() error { return e.Status }

// failure turns the result of one C call of the _e family into an error:
// nil for OS_OK, else an *Error with the status and the message of the
// os_error object the call handed back (which it frees).
//
// The library's os_last_error() is per thread, and a goroutine may move to
// another OS thread between two cgo calls, so reading it after the call
// would need runtime.LockOSThread around both. The _e functions instead
// hand the failure back with the status, in the same call, as an object
// valid on any thread: nothing here depends on which thread runs what.
func failure(op string, st C.os_status, e *C.os_error) error {
	if st == C.OS_OK {
		return nil
	}
	msg := ""
	if e != nil {
		msg = C.GoString(C.os_error_message(e))
		C.os_error_free(e)
	}
	return &Error{Op: op, Status: Status(st), Message: msg}
}

func isClosed(err error) bool { return errors.Is(err, ErrClosed) }
