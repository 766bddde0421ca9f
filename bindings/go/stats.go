package objstore

// #include <objstore.h>
import "C"

import (
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Stats are a store's counters (os_store_stats), computed by one scan of
// its tables.
type Stats struct {
	// CapacityBytes is the memory for objects.
	CapacityBytes uint64
	// UsedBytes is the memory held by objects now.
	UsedBytes uint64
	// ObjectCount is the number of sealed objects, in memory or spilled.
	ObjectCount uint64
	// UnsealedCount is the number of objects created and not sealed yet.
	UnsealedCount uint64
	// PinnedCount is the number of objects with at least one pin.
	PinnedCount uint64
	// SpilledCount is the number of objects now on disk only.
	SpilledCount uint64
	// SpilledBytes is the number of bytes now on disk only.
	SpilledBytes uint64
	// MaxObjects is the number of object slots.
	MaxObjects uint64
	// AttachedProcesses counts processes (not handles) attached now.
	AttachedProcesses uint32
	// MaxProcesses is how many processes may be attached at once.
	MaxProcesses uint32
	// ReclaimedProcesses counts the dead processes cleaned up so far.
	ReclaimedProcesses uint64
	// SpillsTotal counts the objects spilled to disk since the store was
	// created.
	SpillsTotal uint64
	// RestoresTotal counts the objects read back from disk since the store
	// was created.
	RestoresTotal uint64
	// References counts the references held: one per process and object it
	// holds references to ([Store.Ref]).
	References uint64
	// ReferencedCount is the number of objects with at least one reference.
	ReferencedCount uint64
	// Tickets counts the tickets given ([Store.GiveRef]) and not yet taken.
	Tickets uint64
	// EvictionsTotal counts the [ObjectEvictable] objects deleted to make
	// room since the store was created.
	EvictionsTotal uint64
	// PublishesTotal and PublishedBytes count the objects (and their bytes)
	// uploaded to the remote tier since the store was created.
	PublishesTotal uint64
	PublishedBytes uint64
	// FetchesTotal and FetchedBytes count the objects (and their bytes)
	// fetched from the remote tier since the store was created.
	FetchesTotal uint64
	FetchedBytes uint64
}

// Stats returns the store's counters. It costs one scan of the store's
// tables (proportional to MaxObjects).
func (s *Store) Stats() (Stats, error) {
	var c C.os_store_stats
	c.struct_size = C.uint32_t(unsafe.Sizeof(c))
	var e *C.os_error
	if err := s.do("stats", &e, func(h *C.os_store) C.os_status { return C.os_stats_e(h, &c, &e) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		CapacityBytes:      uint64(c.capacity_bytes),
		UsedBytes:          uint64(c.used_bytes),
		ObjectCount:        uint64(c.object_count),
		UnsealedCount:      uint64(c.unsealed_count),
		PinnedCount:        uint64(c.pinned_count),
		SpilledCount:       uint64(c.spilled_count),
		SpilledBytes:       uint64(c.spilled_bytes),
		MaxObjects:         uint64(c.max_objects),
		AttachedProcesses:  uint32(c.attached_processes),
		MaxProcesses:       uint32(c.max_processes),
		ReclaimedProcesses: uint64(c.reclaimed_processes),
		SpillsTotal:        uint64(c.spills_total),
		RestoresTotal:      uint64(c.restores_total),
		References:         uint64(c.references),
		ReferencedCount:    uint64(c.referenced_count),
		Tickets:            uint64(c.tickets),
		EvictionsTotal:     uint64(c.evictions_total),
		PublishesTotal:     uint64(c.publishes_total),
		PublishedBytes:     uint64(c.published_bytes),
		FetchesTotal:       uint64(c.fetches_total),
		FetchedBytes:       uint64(c.fetched_bytes),
	}, nil
}

// ObjectState is where an object is in its life, as [Store.List] reports.
type ObjectState uint32

// The object states of os_list.
const (
	// StateUnsealed: created, not sealed yet.
	StateUnsealed ObjectState = C.OS_OBJECT_UNSEALED
	// StateSealed: sealed and in memory.
	StateSealed ObjectState = C.OS_OBJECT_SEALED
	// StateDeleted: deleted while pinned; invisible, freed at the last
	// release.
	StateDeleted ObjectState = C.OS_OBJECT_DELETED
	// StateSpilled: sealed and on disk only (restored by the next get).
	StateSpilled ObjectState = C.OS_OBJECT_SPILLED
)

// String returns "unsealed", "sealed", "deleted", "spilled" or
// "ObjectState(N)".
func (st ObjectState) String() string {
	switch st {
	case StateUnsealed:
		return "unsealed"
	case StateSealed:
		return "sealed"
	case StateDeleted:
		return "deleted"
	case StateSpilled:
		return "spilled"
	}
	return "ObjectState(" + strconv.FormatUint(uint64(st), 10) + ")"
}

// ObjectInfo describes one object of a listing.
type ObjectInfo struct {
	ID      ID
	DataLen uint64
	MetaLen uint64
	State   ObjectState
	// PinningProcesses is the number of processes holding at least one pin.
	PinningProcesses uint32
	// Created is when the object was created (whole seconds).
	Created time.Time
	// ReferencingProcesses is the number of processes holding at least one
	// reference (a ticket not taken yet counts for its giver).
	ReferencingProcesses uint32
	// Flags are those it was put or created with: ObjectRefcounted,
	// ObjectEvictable.
	Flags uint32
}

// listBatch is how many entries each os_list call returns.
const listBatch = 256

// List returns every object in the store, in every state, by walking
// os_list's cursor. It is a scan, not a snapshot: objects put or deleted
// meanwhile may or may not appear.
func (s *Store) List() ([]ObjectInfo, error) {
	var all []ObjectInfo
	var cursor C.uint64_t
	batch := make([]C.os_object_info, listBatch)
	for cursor != C.OS_LIST_END {
		var n C.size_t
		var e *C.os_error
		batch[0].struct_size = C.uint32_t(unsafe.Sizeof(batch[0]))
		err := s.do("list", &e, func(h *C.os_store) C.os_status {
			return C.os_list_e(h, &cursor, &batch[0], C.size_t(len(batch)), &n, &e)
		})
		if err != nil {
			return nil, err
		}
		for _, c := range batch[:n] {
			all = append(all, ObjectInfo{
				ID:                   goID(&c.id),
				DataLen:              uint64(c.data_len),
				MetaLen:              uint64(c.meta_len),
				State:                ObjectState(c.state),
				PinningProcesses:     uint32(c.pinning_processes),
				Created:              time.Unix(int64(c.created_unix), 0),
				ReferencingProcesses: uint32(c.referencing_processes),
				Flags:                uint32(c.flags),
			})
		}
	}
	return all, nil
}

// ProcessInfo is a process attached to a store.
type ProcessInfo struct {
	// Slot is its slot in the store's process table.
	Slot uint32
	// PID is its process ID.
	PID int
}

// Processes returns the live processes attached to the store, this one
// included.
func (s *Store) Processes() ([]ProcessInfo, error) {
	return s.processList("processes", func(h *C.os_store, out *C.os_process_info, n C.size_t, count *C.size_t,
		e **C.os_error) C.os_status {
		return C.os_processes_e(h, out, n, count, e)
	})
}

// PinHolders returns the live processes that pin the object id (sealed, or
// deleted and still pinned). An unknown ID gives ErrNotFound.
func (s *Store) PinHolders(id ID) ([]ProcessInfo, error) {
	cid := cID(id)
	return s.processList("pin holders", func(h *C.os_store, out *C.os_process_info, n C.size_t, count *C.size_t,
		e **C.os_error) C.os_status {
		return C.os_pin_holders_e(h, &cid, out, n, count, e)
	})
}

// processList runs a C call that fills an array of os_process_info and
// reports how many there are, again with a larger array while they do not
// fit.
func (s *Store) processList(op string, f func(*C.os_store, *C.os_process_info, C.size_t, *C.size_t,
	**C.os_error) C.os_status) ([]ProcessInfo, error) {
	entries := make([]C.os_process_info, 16)
	for {
		var count C.size_t
		var e *C.os_error
		entries[0].struct_size = C.uint32_t(unsafe.Sizeof(entries[0]))
		err := s.do(op, &e, func(h *C.os_store) C.os_status {
			return f(h, &entries[0], C.size_t(len(entries)), &count, &e)
		})
		if err != nil {
			return nil, err
		}
		if int(count) <= len(entries) {
			out := make([]ProcessInfo, count)
			for i := range out {
				out[i] = ProcessInfo{Slot: uint32(entries[i].slot), PID: int(entries[i].pid)}
			}
			return out, nil
		}
		entries = make([]C.os_process_info, int(count)+8)
	}
}

// Audit checks the store's consistency: every byte of object memory free
// or held by exactly one object, no pin, step or allocation left to a dead
// process, every spilled object's file present. It returns the problems
// found, one sentence each; none (nil) on a sound store. It reads the
// tables without stopping other processes, so it is exact on a quiet
// store; on a busy one a step in progress elsewhere may show, so look again
// before concluding.
func (s *Store) Audit() ([]string, error) {
	report := make([]byte, 4096)
	for {
		var problems, needed C.size_t
		var e *C.os_error
		err := s.do("audit", &e, func(h *C.os_store) C.os_status {
			return C.os_audit_e(h, (*C.char)(unsafe.Pointer(&report[0])), C.size_t(len(report)), &problems, &needed, &e)
		})
		if err != nil {
			return nil, err
		}
		if int(needed) <= len(report) {
			text := string(report[:int(needed)-1])
			if text == "" {
				return nil, nil
			}
			return strings.Split(strings.TrimSuffix(text, "\n"), "\n"), nil
		}
		report = make([]byte, int(needed))
	}
}
