package objstore

// #include <stdlib.h>
// #include <objstore.h>
import "C"

import (
	"fmt"
	"math"
	"os"
	"time"
	"unsafe"
)

// Options configure [Open]. The zero value (and a nil *Options) means the
// library's defaults: capacity 25% of RAM (capped by free space), one object
// slot per 16 KiB of capacity (at least 65536), 256 processes, mode 0600,
// no spill directory, create the store if absent or attach to it.
//
// When the store already exists, its capacity and limits come from the
// file, and only the flags, SpillDir and RemoteURL matter.
type Options struct {
	// CapacityBytes is the memory for objects. 0: the default.
	CapacityBytes uint64
	// MaxObjects is the number of object slots. 0: the default; any value
	// >= 1 is allowed.
	MaxObjects uint64
	// MaxProcesses is how many processes may be attached at once
	// (1..4096). 0: 256.
	MaxProcesses uint32
	// SpillDir is where sealed objects are spilled under memory pressure,
	// fixed when the store is created; an attacher's must be empty or the
	// same directory. Empty: no spilling, and a full store gives
	// ErrOutOfMemory.
	SpillDir string
	// Mode is the permission mode of a new store file. 0: 0600.
	Mode os.FileMode
	// CreateOnly fails with ErrAlreadyExists if the store exists.
	CreateOnly bool
	// AttachOnly fails with ErrNotFound if the store does not exist.
	AttachOnly bool
	// Prefault reserves and maps the whole store at open, so that no later
	// call pays for page faults and a full file system fails the open.
	Prefault bool
	// HugePages aligns the arena to 2 MiB and asks for transparent huge
	// pages on it.
	HugePages bool
	// AnyOwner attaches even to a store file of another user (and accepts
	// a spill directory its group may write to): for a store shared by the
	// users of a group. Without it the store file must belong to this user
	// or to root.
	AnyOwner bool
	// RemoteURL is the remote tier, fixed when the store is created:
	// "s3://bucket/prefix" (also "file:///dir"), with endpoint, region and
	// credentials from the usual AWS_* environment variables. An
	// attacher's must be empty or the same. Empty: no remote.
	RemoteURL string
	// TicketLinger is how long this process's detach from the store (the
	// Close of its last Store of it) waits for the tickets it gave
	// ([Store.GiveRef], [Ref.Give]) to be taken before they go with it
	// (see [Store.WaitTicketsTaken]): for a process that sends references
	// and exits at once, such as a pool's worker returning a result. The
	// Stores of one store in a process share their attachment: the longest
	// linger of their Opens holds. 0: none, the tickets go at once.
	// Rounded up to whole milliseconds; negative, or more than
	// math.MaxUint32 milliseconds (about 49 days), gives ErrInvalidArgument.
	TicketLinger time.Duration
}

// toC converts the options to an os_options, starting from
// os_options_default() so that fields added to the C struct later keep
// their defaults. The returned function frees the C strings; call it after
// os_open.
func (o *Options) toC() (C.os_options, func(), error) {
	c := C.os_options_default()
	if o == nil {
		return c, func() {}, nil
	}
	if o.Mode&^os.ModePerm != 0 {
		return c, func() {}, &Error{Op: "open", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("mode %v is not a permission mode", o.Mode)}
	}
	if o.CapacityBytes != 0 {
		c.capacity_bytes = C.uint64_t(o.CapacityBytes)
	}
	if o.MaxObjects != 0 {
		c.max_objects = C.uint64_t(o.MaxObjects)
	}
	if o.MaxProcesses != 0 {
		c.max_processes = C.uint32_t(o.MaxProcesses)
	}
	if o.Mode != 0 {
		c.mode = C.uint32_t(o.Mode.Perm())
	}
	var flags C.uint32_t
	if o.CreateOnly {
		flags |= C.OS_OPEN_CREATE_ONLY
	}
	if o.AttachOnly {
		flags |= C.OS_OPEN_ATTACH_ONLY
	}
	if o.Prefault {
		flags |= C.OS_OPEN_PREFAULT
	}
	if o.HugePages {
		flags |= C.OS_OPEN_HUGEPAGES
	}
	if o.AnyOwner {
		flags |= C.OS_OPEN_ANY_OWNER
	}
	c.flags = flags
	linger, err := lingerMillis(o.TicketLinger)
	if err != nil {
		return c, func() {}, err
	}
	c.ticket_linger_ms = C.uint32_t(linger)
	free := func() {}
	if o.SpillDir != "" {
		// A C string: the struct is passed to C, and Go memory passed to C
		// may not hold Go pointers.
		dir, err := cString("open", "spill directory", o.SpillDir)
		if err != nil {
			return c, func() {}, err
		}
		c.spill_dir = dir
		free = func() { C.free(unsafe.Pointer(dir)) }
	}
	if o.RemoteURL != "" {
		url, err := cString("open", "remote URL", o.RemoteURL)
		if err != nil {
			free()
			return c, func() {}, err
		}
		c.remote_url = url
		freeDir := free
		free = func() {
			freeDir()
			C.free(unsafe.Pointer(url))
		}
	}
	return c, free, nil
}

// lingerMillis converts Options.TicketLinger to os_options.ticket_linger_ms:
// whole milliseconds rounded up, so that a short positive linger never
// becomes 0 (none).
func lingerMillis(d time.Duration) (uint32, error) {
	if d < 0 {
		return 0, &Error{Op: "open", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("negative ticket linger %v", d)}
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > math.MaxUint32 {
		return 0, &Error{Op: "open", Status: StatusInvalidArgument,
			Message: fmt.Sprintf("ticket linger %v is more than %d ms", d, uint64(math.MaxUint32))}
	}
	return uint32(ms), nil
}
