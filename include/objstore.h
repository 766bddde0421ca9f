/*
 * objstore: a shared-memory object store. C API.
 *
 * Generated from the Rust sources by cbindgen; do not edit by hand.
 * See the README's "API conventions" for the rules every function follows:
 * status codes, outputs written only on success, NULL, threads, panics.
 *
 * Threads: every function may be called from any thread, and one os_store
 * handle may be used by many threads at once (os_close excepted: no other
 * call on that handle may run during or after it). A handle belongs to the
 * process that opened it; a fork() child opens the store again.
 * Panics never unwind into C: they are caught and reported as OS_PANIC.
 *
 * Pointers (the contract every function relies on): each pointer argument
 * is either NULL, which a function refuses with OS_INVALID_ARGUMENT where
 * NULL is not allowed (never a crash), or valid for what its documentation
 * says: an os_store handle returned by os_open in this process and not
 * closed; a string NUL-terminated; a buffer or array as long as its length
 * argument says; an output writable. Outputs are written only on success,
 * unless a function says otherwise.
 */

#ifndef OBJSTORE_H
#define OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes (os_status). */

/**
 * Success.
 */
#define OS_OK 0

/**
 * A bad argument: NULL where not allowed, a value out of range, a
 * handle used from another process, an operation the object's
 * state does not allow.
 */
#define OS_INVALID_ARGUMENT 1

/**
 * No such object (or no such store, with OS_OPEN_ATTACH_ONLY).
 */
#define OS_NOT_FOUND 2

/**
 * The ID names a live object (or the store exists, with
 * OS_OPEN_CREATE_ONLY).
 */
#define OS_ALREADY_EXISTS 3

/**
 * The store is full and nothing could be freed or spilled.
 */
#define OS_OUT_OF_MEMORY 4

/**
 * The object is larger than the store could ever hold.
 */
#define OS_TOO_LARGE 5

/**
 * A positive timeout ran out.
 */
#define OS_TIMEOUT 6

/**
 * The object is created but not sealed yet.
 */
#define OS_NOT_SEALED 7

/**
 * A store file of another layout version.
 */
#define OS_INCOMPATIBLE 8

/**
 * A store file (or spill file) that fails its checks.
 */
#define OS_CORRUPT 9

/**
 * An operating-system call failed.
 */
#define OS_IO_ERROR 10

/**
 * The caller may not open or create the file, or the file
 * belongs to someone it should not trust.
 */
#define OS_PERMISSION_DENIED 11

/**
 * Every process slot of the store is held by a live process.
 */
#define OS_TOO_MANY_PROCESSES 12

/**
 * A bug in objstore, caught before it could unwind into the caller.
 */
#define OS_PANIC 13

/**
 * Bytes in an object ID.
 */
#define OS_ID_SIZE 20

/**
 * Create the store; fail with OS_ALREADY_EXISTS if it exists.
 */
#define OS_OPEN_CREATE_ONLY 1

/**
 * Attach to an existing store; fail with OS_NOT_FOUND if there is none.
 */
#define OS_OPEN_ATTACH_ONLY 2

/**
 * Reserve the store's whole memory and map it in now, so that no later call
 * pays for page faults (and a full file system fails the open, not a put).
 */
#define OS_OPEN_PREFAULT 4

/**
 * Align the arena to 2 MiB and ask for transparent huge pages on it.
 */
#define OS_OPEN_HUGEPAGES 8

/**
 * Attach even to a store file that belongs to another user (and accept a
 * spill directory its group may write to): for stores shared between the
 * users of a group. Without it, a store file must belong to the caller or
 * to root, since its owner can read and change every object in it.
 */
#define OS_OPEN_ANY_OWNER 16

/**
 * Object states reported by `os_list`.
 */
#define OS_OBJECT_UNSEALED 1

/**
 * Sealed and in memory.
 */
#define OS_OBJECT_SEALED 2

/**
 * Deleted while pinned: invisible, freed at the last release.
 */
#define OS_OBJECT_DELETED 3

/**
 * Sealed and on disk only (restored by the next get).
 */
#define OS_OBJECT_SPILLED 4

/**
 * The `*cursor` value `os_list` sets when the listing is complete.
 */
#define OS_LIST_END UINT64_MAX

/**
 * A handle to an attached store. Opaque; safe to use from many threads at
 * once; valid in the process that opened it only.
 */
typedef struct os_store os_store;

/**
 * A 20-byte object ID.
 */
typedef struct os_object_id {
    uint8_t bytes[OS_ID_SIZE];
} os_object_id;

/**
 * A status code: `OS_OK` (0) or the reason a call failed.
 */
typedef uint32_t os_status;

/**
 * A pinned object: read-only views of its data and metadata, valid until
 * the matching `os_release` (or `os_close` of the handle).
 */
typedef struct os_buffer {
    /**
     * First byte of the data, 64-byte aligned. NULL only for an entry of
     * `os_get_many` that was not found.
     */
    const uint8_t *data;
    size_t data_len;
    /**
     * First byte of the metadata (non-NULL even when `meta_len` is 0).
     */
    const uint8_t *meta;
    size_t meta_len;
} os_buffer;

/**
 * Options for `os_open`. Get them from `os_options_default()` and change
 * what you need, so that fields added later keep their defaults.
 */
typedef struct os_options {
    /**
     * Set by `os_options_default()`: the size of this struct as the caller
     * knows it, so fields can be added.
     */
    uint32_t struct_size;
    /**
     * Bytes for objects. 0: 25% of RAM, capped by the free space of the
     * file system holding the store.
     */
    uint64_t capacity_bytes;
    /**
     * Object slots. 0: one per 16 KiB of capacity, at least 65536. Any
     * value >= 1 is allowed.
     */
    uint64_t max_objects;
    /**
     * Processes attached at once (1..4096). 0: 256.
     */
    uint32_t max_processes;
    /**
     * Directory for spill files, fixed when the store is created; an
     * attacher's must be NULL or the same directory. NULL: no spilling, a
     * full store gives OS_OUT_OF_MEMORY.
     */
    const char *spill_dir;
    /**
     * File mode of a new store file. 0: 0600.
     */
    uint32_t mode;
    /**
     * OS_OPEN_* flags, or-ed.
     */
    uint32_t flags;
} os_options;

/**
 * Counters of a store, from one pass over its object table that does not
 * stop other processes: exact when the store is quiet; under concurrent
 * puts, deletes and spills an object may be counted twice or not at all
 * (`used_bytes` never exceeds `capacity_bytes`).
 */
typedef struct os_store_stats {
    uint64_t capacity_bytes;
    /**
     * Memory held by objects now.
     */
    uint64_t used_bytes;
    /**
     * Sealed objects, in memory or spilled.
     */
    uint64_t object_count;
    /**
     * Created, not yet sealed.
     */
    uint64_t unsealed_count;
    /**
     * Objects with at least one pin.
     */
    uint64_t pinned_count;
    /**
     * Objects and bytes now on disk only.
     */
    uint64_t spilled_count;
    uint64_t spilled_bytes;
    uint64_t max_objects;
    uint32_t attached_processes;
    uint32_t max_processes;
    /**
     * Dead processes cleaned up so far.
     */
    uint64_t reclaimed_processes;
} os_store_stats;

/**
 * One object of a listing (`os_list`).
 */
typedef struct os_object_info {
    struct os_object_id id;
    uint64_t data_len;
    uint64_t meta_len;
    /**
     * OS_OBJECT_UNSEALED, OS_OBJECT_SEALED, OS_OBJECT_DELETED or OS_OBJECT_SPILLED.
     */
    uint32_t state;
    /**
     * Processes holding at least one pin on it.
     */
    uint32_t pinning_processes;
    /**
     * Unix time (seconds) of its creation.
     */
    uint64_t created_unix;
} os_object_info;

/**
 * Success.
 */
#define OS_OK 0

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Writes `id` as 40 lower-case hex characters and a NUL into `out` (41
 * bytes). Does nothing if either pointer is NULL. Cannot fail.
 */
void os_id_to_hex(const struct os_object_id *id, char *out);

/**
 * Parses a NUL-terminated string of exactly 40 hex characters (either
 * case) into `*out`.
 *
 * # Returns
 * OS_OK, or OS_INVALID_ARGUMENT (NULL, wrong length, non-hex character;
 * `os_last_error()` says which).
 */
os_status os_id_from_hex(const char *hex, struct os_object_id *out);

/**
 * Stores `len` bytes at `data` as a new, sealed object with a fresh ID.
 *
 * # Arguments
 * - `data`: the bytes to copy in; may be NULL only when `len` is 0.
 * - `out_id`: receives the new ID on success. Must not be NULL.
 *
 * # Returns
 * OS_OK; OS_TOO_LARGE (bigger than the store); OS_OUT_OF_MEMORY (full, and
 * nothing could be freed or spilled); OS_INVALID_ARGUMENT. Thread-safe; the
 * object outlives the process that put it.
 */
os_status os_put(struct os_store *store, const void *data, size_t len, struct os_object_id *out_id);

/**
 * Like `os_put`, with a metadata blob (e.g. a tensor's dtype and shape)
 * stored beside the data and returned by gets in `os_buffer.meta`.
 * `meta` may be NULL only when `meta_len` is 0.
 */
os_status os_put_with_meta(struct os_store *store,
                           const void *data,
                           size_t len,
                           const void *meta,
                           size_t meta_len,
                           struct os_object_id *out_id);

/**
 * Creates an object with a caller-chosen ID, to be filled in place and then
 * sealed with `os_seal` (or dropped with `os_abort`). Until sealed it is
 * invisible to gets, which wait for the seal.
 *
 * # Arguments
 * - `id`: the ID; fails with OS_ALREADY_EXISTS if it names a live object.
 * - `data_len`: bytes of data to be written.
 * - `meta`, `meta_len`: metadata, copied now; `meta` may be NULL if 0.
 * - `out_data`: receives a pointer to `data_len` writable bytes, 64-byte
 *   aligned and valid until `os_seal` or `os_abort`.
 *
 * # Returns
 * OS_OK, OS_ALREADY_EXISTS, OS_TOO_LARGE, OS_OUT_OF_MEMORY, OS_INVALID_ARGUMENT.
 * Only this handle may seal or abort the object; if the handle is closed,
 * or its process dies, first, the object is aborted.
 */
os_status os_create(struct os_store *store,
                    const struct os_object_id *id,
                    size_t data_len,
                    const void *meta,
                    size_t meta_len,
                    uint8_t **out_data);

/**
 * Like `os_create`, but the library chooses a fresh ID (as `os_put` does)
 * and writes it to `*out_id`: for building an object in place without
 * inventing an ID.
 *
 * # Returns
 * As `os_create` (never OS_ALREADY_EXISTS).
 */
os_status os_create_new(struct os_store *store,
                        size_t data_len,
                        const void *meta,
                        size_t meta_len,
                        struct os_object_id *out_id,
                        uint8_t **out_data);

/**
 * Seals an object this handle created: from now on it is visible to gets
 * and immutable. Wakes processes waiting for it.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (no such object); OS_ALREADY_EXISTS (already sealed);
 * OS_INVALID_ARGUMENT (created by another handle, or NULL).
 */
os_status os_seal(struct os_store *store, const struct os_object_id *id);

/**
 * Abandons an object this handle created and has not sealed; its memory is
 * freed and its ID free again.
 *
 * # Returns
 * As `os_seal`.
 */
os_status os_abort(struct os_store *store, const struct os_object_id *id);

/**
 * Gets and pins a sealed object. If it is not there yet, waits for another
 * process (or thread) to seal it.
 *
 * # Arguments
 * - `timeout_ms`: 0 = do not wait; < 0 = wait forever; > 0 = wait at most
 *   this many milliseconds.
 * - `out`: receives read-only views of the data and metadata, valid until
 *   the matching `os_release` on this handle (or `os_close`).
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (absent, timeout 0); OS_TIMEOUT (still absent when
 * a positive timeout ran out); OS_CORRUPT (a damaged store);
 * OS_INVALID_ARGUMENT. A process that gets an object twice releases it
 * twice. A get is a hash probe and a few atomic operations: no syscall, no
 * allocation, no lock shared with other processes.
 */
os_status os_get(struct os_store *store,
                 const struct os_object_id *id,
                 int64_t timeout_ms,
                 struct os_buffer *out);

/**
 * Gets and pins `n` objects, waiting up to the timeout for those not yet
 * sealed (like Ray's `ray.get(list)`).
 *
 * # Arguments
 * - `ids`: `n` IDs (may repeat; each entry pins once). NULL only if `n` is 0.
 * - `out`: `n` entries, written in every case except an argument error.
 *
 * # Returns
 * OS_OK when all are pinned. OS_TIMEOUT (positive timeout) or OS_NOT_FOUND
 * (timeout 0) when some are missing: their entries have a NULL `data`, and
 * the others are pinned and must be released. Any other error: no entry is
 * pinned and every `data` is NULL.
 */
os_status os_get_many(struct os_store *store,
                      const struct os_object_id *ids,
                      size_t n,
                      int64_t timeout_ms,
                      struct os_buffer *out);

/**
 * Drops one pin this handle holds on an object. Once no process pins a
 * deleted object, its memory is freed.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (no such object); OS_INVALID_ARGUMENT (this handle
 * holds no pin on it, or NULL).
 */
os_status os_release(struct os_store *store, const struct os_object_id *id);

/**
 * Deletes a sealed object. It is invisible to gets and `os_contains` at
 * once; its memory is freed when the last pin is released, and until then
 * its ID stays reserved (a put of it gives OS_ALREADY_EXISTS).
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (absent or already deleted); OS_NOT_SEALED (created
 * but not sealed); OS_INVALID_ARGUMENT.
 */
os_status os_delete(struct os_store *store, const struct os_object_id *id);

/**
 * Writes to `*out` whether a sealed object with this ID is in the store
 * (in memory or spilled). Does not pin it.
 *
 * # Returns
 * OS_OK or OS_INVALID_ARGUMENT.
 */
os_status os_contains(struct os_store *store, const struct os_object_id *id, bool *out);

/**
 * A static, NUL-terminated description of a status code (any value, known
 * or not). Never NULL; do not free it.
 */
const char *os_status_str(os_status status);

/**
 * The detail message of this thread's last failed call ("" if none). The
 * pointer stays valid for the life of the thread (a per-thread buffer that
 * the next failing call overwrites); do not free it. Cannot fail.
 */
const char *os_last_error(void);

/**
 * Opens the store `name`, creating it if it does not exist.
 *
 * # Arguments
 * - `name`: a store name (no '/': the file /dev/shm/NAME) or a path (with a
 *   '/': a file on hugetlbfs or on disk). Must not be NULL.
 * - `opts`: options from `os_options_default()`, or NULL for the defaults.
 *   When the store exists, its capacity and limits come from the file and
 *   only the flags and `spill_dir` of `opts` matter.
 * - `out`: receives the new handle on success. Must not be NULL.
 *
 * # Returns
 * OS_OK; OS_ALREADY_EXISTS (OS_OPEN_CREATE_ONLY and it exists); OS_NOT_FOUND
 * (OS_OPEN_ATTACH_ONLY and it does not); OS_PERMISSION_DENIED;
 * OS_CORRUPT or OS_INCOMPATIBLE (a damaged or foreign file);
 * OS_OUT_OF_MEMORY (no room for the store file); OS_TOO_MANY_PROCESSES;
 * OS_INVALID_ARGUMENT; OS_IO_ERROR.
 *
 * # Ownership
 * The handle belongs to the caller, who frees it with `os_close`. It may be
 * used from many threads at once, in this process only: a child made by
 * fork() must open the store again. Opening the same store twice in one
 * process gives two handles sharing one attachment.
 */
os_status os_open(const char *name, const struct os_options *opts, struct os_store **out);

/**
 * Closes a handle: releases every pin it holds, aborts the objects it
 * created and did not seal, and frees it. Pointers from its gets become
 * invalid. The last handle of a process detaches the process.
 *
 * In a child made by fork(), closing an inherited handle frees the child's
 * copy only and leaves the store to the parent.
 *
 * # Returns
 * OS_OK, or OS_INVALID_ARGUMENT if `store` is NULL. The handle must not be
 * used again, and no other thread may be using it during the call.
 */
os_status os_close(struct os_store *store);

/**
 * Removes the store `name`: its file and its spill files. Processes still
 * attached keep working on their mapping until they close it; the next
 * `os_open` of the name creates a new store.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND if there is no such store; OS_PERMISSION_DENIED;
 * OS_INVALID_ARGUMENT (NULL or bad name); OS_IO_ERROR.
 */
os_status os_destroy(const char *name);

/**
 * Reclaims what dead processes held: their pins, their unsealed objects,
 * the steps they were in the middle of. The same happens at every attach
 * and whenever an allocation runs short. Thread-safe.
 *
 * # Returns
 * OS_OK, OS_INVALID_ARGUMENT (NULL or a handle of another process), OS_IO_ERROR.
 */
os_status os_collect(struct os_store *store);

/**
 * Writes the store's counters to `*out`. Costs one scan of the store's
 * tables (proportional to max_objects). Thread-safe.
 *
 * # Returns
 * OS_OK, or OS_INVALID_ARGUMENT if an argument is NULL.
 */
os_status os_stats(struct os_store *store, struct os_store_stats *out);

/**
 * Lists the store's objects, a batch at a time.
 *
 * Start with `*cursor = 0`. Each call writes up to `capacity` entries to
 * `out`, their number to `*out_count`, and advances `*cursor`; when the
 * whole store has been listed it sets `*cursor` to OS_LIST_END. The listing
 * is a scan, not a snapshot: objects put or deleted meanwhile may or may not
 * appear.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT if an argument is NULL or `capacity` is 0.
 */
os_status os_list(struct os_store *store,
                  uint64_t *cursor,
                  struct os_object_info *out,
                  size_t capacity,
                  size_t *out_count);

/**
 * Default options: every size chosen by the library (0), 256 processes,
 * mode 0600, no spill directory, no flags. Cannot fail.
 */
struct os_options os_options_default(void);

/**
 * The library's version, e.g. "0.1.0" (static; do not free). Cannot fail.
 */
const char *os_version(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* OBJSTORE_H */
