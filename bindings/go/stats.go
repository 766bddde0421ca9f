package objstore

// #include <objstore.h>
import "C"

import (
	"strconv"
	"time"
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
}

// Stats returns the store's counters. It costs one scan of the store's
// tables (proportional to MaxObjects).
func (s *Store) Stats() (Stats, error) {
	var c C.os_store_stats
	if err := s.do("stats", func(h *C.os_store) C.os_status { return C.os_stats(h, &c) }); err != nil {
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
		err := s.do("list", func(h *C.os_store) C.os_status {
			return C.os_list(h, &cursor, &batch[0], C.size_t(len(batch)), &n)
		})
		if err != nil {
			return nil, err
		}
		for _, c := range batch[:n] {
			all = append(all, ObjectInfo{
				ID:               goID(&c.id),
				DataLen:          uint64(c.data_len),
				MetaLen:          uint64(c.meta_len),
				State:            ObjectState(c.state),
				PinningProcesses: uint32(c.pinning_processes),
				Created:          time.Unix(int64(c.created_unix), 0),
			})
		}
	}
	return all, nil
}
