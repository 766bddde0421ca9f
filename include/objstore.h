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
 * closed; an os_canceller returned by os_canceller_new and not freed; a
 * string NUL-terminated; a buffer or array as long as its length
 * argument says; an output writable. Outputs are written only on success,
 * unless a function says otherwise.
 *
 * Errors: after a failure, os_last_error() gives this thread's detail
 * message. Every function that can fail (that returns an os_status) has a
 * twin named with _e (os_get_e, os_open_e, ...) taking one more argument,
 * os_error **err, that receives the failure itself (status and message) as
 * an object the caller frees with os_error_free: for callers whose tasks
 * move between threads between two calls (Go's goroutines, Java's virtual
 * threads), which cannot be sure to read os_last_error() on the thread that
 * failed.
 *
 * Structs that grow (the struct_size rule): os_options, os_store_stats,
 * os_object_info and os_process_info begin with uint32_t struct_size, and
 * later versions only add fields at their end. The caller sets struct_size
 * to sizeof the struct as it was compiled (os_options_default() does it for
 * options; for an array, struct_size of the first entry gives the size of
 * every entry, and is set again before each call, since the library
 * rewrites it). The library then reads or writes that many bytes and never
 * more, so a program built against an older header keeps working with a
 * newer library, and the reverse:
 * - a struct the library fills gets the fields both know, zeros for the
 *   caller's fields the library does not know, and struct_size set to the
 *   bytes holding fields the library knows;
 * - a struct the library reads (options) takes the defaults for fields the
 *   caller does not know, and must hold zero (the default) in fields the
 *   library does not know, else OS_INVALID_ARGUMENT;
 * - a struct_size below the first version's (OS_OPTIONS_MIN_SIZE,
 *   OS_STORE_STATS_MIN_SIZE, ...) is OS_INVALID_ARGUMENT.
 *
 * Versions: OS_VERSION_MAJOR, _MINOR, _PATCH and OS_VERSION_NUMBER say
 * which version this header declares; os_version() and os_version_number()
 * which library is loaded; os_check_version(OS_VERSION_NUMBER) whether the
 * loaded library can serve this program (at least as new, and of the same
 * major version: for 0.x, of the same minor).
 */

#ifndef OBJSTORE_H
#define OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version of objstore this header declares (Cargo.toml's). Compare
 * OS_VERSION_NUMBER with OS_MAKE_VERSION in #if; at run time,
 * os_check_version(OS_VERSION_NUMBER) checks the loaded library. */

#define OS_VERSION_MAJOR 0
#define OS_VERSION_MINOR 1
#define OS_VERSION_PATCH 0
#define OS_VERSION_STRING "0.1.0"

/**
 * A version as one number, MAJOR * 1000000 + MINOR * 1000 + PATCH.
 */
#define OS_MAKE_VERSION(major, minor, patch) ((major) * 1000000 + (minor) * 1000 + (patch))

/**
 * This header's version as one number: OS_MAKE_VERSION(OS_VERSION_MAJOR,
 * OS_VERSION_MINOR, OS_VERSION_PATCH).
 */
#define OS_VERSION_NUMBER 1000

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
 * A blocked get, get_many or wait was cancelled from another
 * thread through its canceller.
 */
#define OS_CANCELLED 14

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
 * Object flag (`os_put_ex`, `os_create_ex`): freed when no process holds a
 * reference or a pin.
 */
#define OS_OBJECT_REFCOUNTED 1

/**
 * Object flag: may be deleted when memory runs short, before anything is
 * spilled: least recently used first, and for an allocation that needs a
 * run of pages (or a new slab), the entries that empty the cheapest such
 * run, those not read lately first (not every entry in the store).
 */
#define OS_OBJECT_EVICTABLE 2

/**
 * The smallest `struct_size` `os_open` and `os_options_init` accept: the
 * size of the first version of `os_options`.
 */
#define OS_OPTIONS_MIN_SIZE 48

/**
 * The smallest `struct_size` `os_stats` accepts: the first version of
 * `os_store_stats`, up to `reclaimed_processes`.
 */
#define OS_STORE_STATS_MIN_SIZE 88

/**
 * The smallest entry `struct_size` `os_list` accepts: the first version of
 * `os_object_info`.
 */
#define OS_OBJECT_INFO_MIN_SIZE 56

/**
 * The smallest entry `struct_size` `os_processes` and `os_pin_holders`
 * accept: the first version of `os_process_info`.
 */
#define OS_PROCESS_INFO_MIN_SIZE 12

/**
 * Cancels the waits it is given to (`os_get_cancellable`,
 * `os_get_many_cancellable`, `os_wait_cancellable`) from another thread.
 * Opaque; made by `os_canceller_new`, freed by `os_canceller_free`. Any
 * number of threads may wait with one canceller, on any stores, and any
 * thread may cancel it.
 */
typedef struct os_canceller os_canceller;

/**
 * A failure of a call: its status and its message. Owned by the caller,
 * who frees it with `os_error_free`; may be read and freed on any thread.
 * Opaque.
 */
typedef struct os_error os_error;

/**
 * A handle to an attached store. Opaque; safe to use from many threads at
 * once; valid in the process that opened it only.
 */
typedef struct os_store os_store;

/**
 * A wait set: IDs registered once and waited on many times, each object
 * handed out once when it is sealed (see `os_wait_set_new`). Opaque; made
 * by `os_wait_set_new`, freed by `os_wait_set_free`. Calls on one set are
 * serialized (a second thread's `os_wait_set_next` waits for the first's).
 */
typedef struct os_wait_set os_wait_set;

/**
 * A status code: `OS_OK` (0) or the reason a call failed.
 */
typedef uint32_t os_status;

/**
 * A 20-byte object ID.
 */
typedef struct os_object_id {
    uint8_t bytes[OS_ID_SIZE];
} os_object_id;

/**
 * A process attached to a store (`os_processes`, `os_pin_holders`). The
 * caller sets `struct_size` of the first entry of the array it passes.
 */
typedef struct os_process_info {
    /**
     * The size of an entry as the caller knows it; on return, how many
     * bytes of the entry the library filled with fields it knows.
     */
    uint32_t struct_size;
    /**
     * Its slot in the store's process table.
     */
    uint32_t slot;
    /**
     * Its process ID.
     */
    uint32_t pid;
} os_process_info;

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
 * Options for `os_open`. Get them from `os_options_default()` (or
 * `os_options_init`) and change what you need, so that fields added later
 * keep their defaults.
 */
typedef struct os_options {
    /**
     * The size of this struct as the caller knows it (set by
     * `os_options_default()`), so that fields can be added.
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
    /**
     * The remote tier: "s3://bucket/prefix" (also "file:///dir", and
     * "memory://name" within one process, for tests), fixed when the store
     * is created; an attacher's must be NULL or the same. Endpoint, region
     * and credentials from the usual AWS_* environment variables. NULL: no
     * remote. A library built without the remote tier refuses it with
     * OS_INVALID_ARGUMENT. Added after the first version: read only when
     * `struct_size` reaches past it.
     */
    const char *remote_url;
    /**
     * Milliseconds this process's detach from the store (its last handle
     * closed) waits for the tickets it gave (`os_ref_give`) to be taken
     * before they go with it; see `os_tickets_wait`. 0: none (at once).
     * Handles of one store in a process share their attachment: the
     * longest linger of their opens holds. Added after the first version:
     * read only when `struct_size` reaches past it.
     */
    uint32_t ticket_linger_ms;
} os_options;

/**
 * Counters of a store, from one pass over its object table that does not
 * stop other processes: exact when the store is quiet; under concurrent
 * puts, deletes and spills an object may be counted twice or not at all
 * (`used_bytes` never exceeds `capacity_bytes`).
 *
 * Set `struct_size` to `sizeof(os_store_stats)` before `os_stats` (the
 * rule of the header's preamble): fields may be added at the end.
 */
typedef struct os_store_stats {
    /**
     * Set by the caller to the size of the struct it was compiled with; on
     * return, how many bytes the library filled with fields it knows.
     */
    uint32_t struct_size;
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
    /**
     * Objects spilled to disk since the store was created. Added after the
     * first version: filled only when `struct_size` reaches past it.
     */
    uint64_t spills_total;
    /**
     * Objects read back from disk since the store was created. Added after
     * the first version, like `spills_total`.
     */
    uint64_t restores_total;
    /**
     * References held: one per process and object it holds references to.
     * Added after the first version, like `spills_total`.
     */
    uint64_t references;
    /**
     * Objects with at least one reference. Added like `references`.
     */
    uint64_t referenced_count;
    /**
     * Tickets given (`os_ref_give`) and not yet taken. Added like
     * `references`.
     */
    uint64_t tickets;
    /**
     * OS_OBJECT_EVICTABLE objects deleted to make room since the store was
     * created. Added like `references`.
     */
    uint64_t evictions_total;
    /**
     * Objects uploaded to the remote tier since the store was created (a
     * second publish of an object over 16 MiB uploads nothing; a smaller
     * one is uploaded again), and their bytes (the bodies uploaded: metadata
     * and data, and the header where it leads the body, on a file://
     * remote). Added after the first version.
     */
    uint64_t publishes_total;
    uint64_t published_bytes;
    /**
     * Objects fetched from the remote tier since the store was created, and
     * their bytes (data and metadata). Added after the first version.
     */
    uint64_t fetches_total;
    uint64_t fetched_bytes;
} os_store_stats;

/**
 * One object of a listing (`os_list`). The caller sets `struct_size` of
 * the first entry of the array it passes (see `os_list`).
 */
typedef struct os_object_info {
    /**
     * The size of an entry as the caller knows it; on return, how many
     * bytes of the entry the library filled with fields it knows.
     */
    uint32_t struct_size;
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
    /**
     * Processes holding at least one reference to it (a ticket not taken
     * yet counts for its giver). Added after the first version: a library
     * that does not know it leaves it zero (and says so in `struct_size`).
     */
    uint32_t referencing_processes;
    /**
     * The flags it was put or created with: OS_OBJECT_REFCOUNTED,
     * OS_OBJECT_EVICTABLE. Added like `referencing_processes`.
     */
    uint32_t flags;
} os_object_info;

/**
 * Success.
 */
#define OS_OK 0

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Makes a canceller, not cancelled, and writes it to `*out`; the caller
 * frees it with `os_canceller_free` once no call uses it any more.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (`out` is NULL).
 */
os_status os_canceller_new(struct os_canceller **out);

/**
 * Cancels every call waiting with this canceller, and every later one
 * until `os_canceller_reset`: each returns OS_CANCELLED (a call that finds
 * what it asked for without waiting still succeeds). Callable from any
 * thread, at any time, any number of times. It takes a lock and makes a
 * system call, so it is not async-signal-safe: a signal handler should
 * wake a thread that calls it (a self-pipe, `sigwait`).
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (`cancel` is NULL).
 */
os_status os_canceller_cancel(const struct os_canceller *cancel);

/**
 * Re-arms a canceller: calls that wait with it from now on wait again
 * until the next `os_canceller_cancel`. Reset only between uses, once no
 * call is waiting with it: a call woken by the cancel but not yet back
 * would see the flag down and wait on.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (`cancel` is NULL).
 */
os_status os_canceller_reset(const struct os_canceller *cancel);

/**
 * Frees a canceller. No call may be waiting with it, or start to. NULL is
 * allowed (nothing happens). Cannot fail.
 */
void os_canceller_free(struct os_canceller *cancel);

/**
 * The status of an error (never OS_OK), or OS_OK for NULL. Cannot fail.
 */
os_status os_error_status(const struct os_error *err);

/**
 * The detail message of an error: what exactly went wrong ("" for NULL).
 * The string belongs to the error and lives until `os_error_free`. Cannot
 * fail.
 */
const char *os_error_message(const struct os_error *err);

/**
 * Frees an error from an `_e` function. NULL is allowed (nothing happens).
 * Cannot fail.
 */
void os_error_free(struct os_error *err);

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
 * Lists the live processes attached to the store (this one included).
 *
 * # Arguments
 * - `out`: an array of `capacity` entries, NULL if `capacity` is 0. The
 *   caller sets `out[0].struct_size` to `sizeof(os_process_info)`: it is
 *   the size of every entry. Each entry written gets the size the library
 *   knows as its `struct_size`, so set `out[0].struct_size` again before
 *   each call that reuses the array.
 * - `out_count`: receives the number of processes, which may be more than
 *   `capacity` (then only the first `capacity` are written: call again with
 *   a larger array). Must not be NULL.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (NULL, or `out[0].struct_size` less than
 * OS_PROCESS_INFO_MIN_SIZE).
 */
os_status os_processes(struct os_store *store,
                       struct os_process_info *out,
                       size_t capacity,
                       size_t *out_count);

/**
 * Lists the live processes that pin an object (sealed, or deleted and
 * still pinned), as `os_processes` lists processes. An object nobody pins
 * has none (`*out_count` 0).
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (no such object); OS_INVALID_ARGUMENT.
 */
os_status os_pin_holders(struct os_store *store,
                         const struct os_object_id *id,
                         struct os_process_info *out,
                         size_t capacity,
                         size_t *out_count);

/**
 * Checks the store's consistency: every byte of object memory free or held
 * by exactly one object, every object indexed once, no pin, step or
 * allocation left to a dead process, every spilled object's file present.
 * It reads the tables without stopping anyone, so it is exact on a quiet
 * store; on a busy one it may report a step another process is in the
 * middle of (look again before concluding). Costs a scan of every table.
 *
 * # Arguments
 * - `report`: receives the problems found, one a line, NUL-terminated,
 *   cut at `report_len - 1` bytes (at a character boundary) if longer; ""
 *   when there are none. May be NULL if `report_len` is 0.
 * - `out_problems`: receives the number of problems. Must not be NULL.
 * - `out_report_len`: receives the length the whole report needs,
 *   terminator included, to call again with a larger buffer. May be NULL.
 *
 * # Returns
 * OS_OK (whatever was found: a problem is not a failure of the call);
 * OS_INVALID_ARGUMENT.
 */
os_status os_audit(struct os_store *store,
                   char *report,
                   size_t report_len,
                   size_t *out_problems,
                   size_t *out_report_len);

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
 * OS_INVALID_ARGUMENT.
 *
 * On a store with a remote (`os_options.remote_url`), an ID absent here is
 * fetched from the remote if it is published there (one process of the
 * machine fetches it into a local object; the others wait for it), and
 * looked for again until the timeout if it is not (with timeout 0 the
 * remote is asked once); a transfer, once begun, runs to its end whatever
 * the timeout. Then also: OS_CORRUPT or OS_INCOMPATIBLE (a
 * damaged remote object, or one of another format version: nothing is
 * kept), OS_PERMISSION_DENIED (credentials refused), OS_IO_ERROR (the
 * endpoint did not answer within the timeout; the message names it),
 * OS_TOO_LARGE or OS_OUT_OF_MEMORY (no room for it here).
 *
 * A process that gets an object twice releases it twice. A get of an
 * object present here is a hash probe and a few atomic operations: no
 * syscall, no allocation, no lock shared with other processes.
 */
os_status os_get(struct os_store *store,
                 const struct os_object_id *id,
                 int64_t timeout_ms,
                 struct os_buffer *out);

/**
 * `os_get`, ending early with OS_CANCELLED if `cancel` is cancelled
 * (`os_canceller_cancel`, from another thread) while it waits, or was
 * before it began. `cancel` may be NULL: then it is `os_get`.
 *
 * # Returns
 * As `os_get`, and OS_CANCELLED (nothing pinned, `*out` not written).
 * On a store with a remote, a request to the remote not answered yet is
 * dropped at the cancel (within about a millisecond); a transfer under way
 * runs to its end first.
 */
os_status os_get_cancellable(struct os_store *store,
                             const struct os_object_id *id,
                             int64_t timeout_ms,
                             const struct os_canceller *cancel,
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
 * `os_get_many`, ending early with OS_CANCELLED if `cancel` is cancelled
 * while it waits, or was before it began. `cancel` may be NULL: then it
 * is `os_get_many`.
 *
 * # Returns
 * As `os_get_many`. OS_CANCELLED is like OS_TIMEOUT: the entries still
 * missing have a NULL `data`, the others are pinned and must be released.
 */
os_status os_get_many_cancellable(struct os_store *store,
                                  const struct os_object_id *ids,
                                  size_t n,
                                  int64_t timeout_ms,
                                  const struct os_canceller *cancel,
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
 * its ID stays reserved (a put of it gives OS_ALREADY_EXISTS). References
 * (`os_ref`) and tickets not yet taken keep a deleted object's memory and
 * ID the same way, until the last is dropped (`os_unref`; a take of the
 * ticket, which then gives OS_NOT_FOUND; the holder's or giver's exit).
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
 * Like `os_put_with_meta`, with object flags.
 *
 * # Arguments
 * - `data`, `len`, `meta`, `meta_len`: as `os_put_with_meta`.
 * - `flags`: OS_OBJECT_REFCOUNTED (freed when no process holds a reference
 *   or a pin; this handle holds the first reference) and
 *   OS_OBJECT_EVICTABLE (may be deleted when memory runs short), or-ed; 0
 *   for a plain object.
 * - `out_id`: receives the new ID on success. Must not be NULL.
 *
 * # Returns
 * As `os_put`; OS_INVALID_ARGUMENT for an unknown flag.
 */
os_status os_put_ex(struct os_store *store,
                    const void *data,
                    size_t len,
                    const void *meta,
                    size_t meta_len,
                    uint32_t flags,
                    struct os_object_id *out_id);

/**
 * Like `os_create` (with `id`) or `os_create_new` (`id` NULL), with object
 * flags as `os_put_ex`. With OS_OBJECT_REFCOUNTED this handle holds the
 * object's first reference from now on; if the object is aborted, the
 * reference goes with it.
 *
 * # Arguments
 * - `id_or_null`: the ID, or NULL for a fresh one.
 * - `data_len`, `meta`, `meta_len`: as `os_create`.
 * - `flags`: as `os_put_ex`.
 * - `out_id`: receives the ID (the one given, or the fresh one). Must not
 *   be NULL.
 * - `out_data`: receives a pointer to `data_len` writable bytes, as
 *   `os_create`. Must not be NULL.
 *
 * # Returns
 * As `os_create`; OS_INVALID_ARGUMENT for an unknown flag.
 */
os_status os_create_ex(struct os_store *store,
                       const struct os_object_id *id_or_null,
                       size_t data_len,
                       const void *meta,
                       size_t meta_len,
                       uint32_t flags,
                       struct os_object_id *out_id,
                       uint8_t **out_data);

/**
 * Takes one more reference to a sealed object for this handle: while any
 * process holds a reference, the object is not freed, and an
 * OS_OBJECT_REFCOUNTED one is not deleted. A reference is not a pin: the
 * object may still be spilled. Closing the handle drops its references.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (absent, deleted, or being deleted because its last
 * reference was dropped); OS_OUT_OF_MEMORY (a process in a slot beyond the
 * first 45 keeps references in a table that is full); OS_INVALID_ARGUMENT.
 */
os_status os_ref(struct os_store *store, const struct os_object_id *id);

/**
 * Drops one of this handle's references. An OS_OBJECT_REFCOUNTED object
 * that no process references or pins any more is deleted (as by
 * `os_delete`) before this returns; a deleted object kept by references is
 * freed with the last one. The pin a spill takes to write the object out
 * does not hold it; nor, therefore, does a get in the process that is
 * spilling that object at that moment (the two share the process's pin):
 * the object is then deleted under the get, whose view stays valid until
 * it is released.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (this handle holds no reference to it);
 * OS_NOT_SEALED (created and not sealed yet: the creator's reference is
 * dropped with an abort); OS_INVALID_ARGUMENT.
 */
os_status os_unref(struct os_store *store, const struct os_object_id *id);

/**
 * Moves one of this handle's references into a ticket, a number that can
 * cross a pipe, a queue or a pickled argument: until a process takes it
 * with `os_ref_take`, the reference is charged to this process and dropped
 * if the process closes the store (its last handle) or dies. There is no
 * moment at which nobody holds the object.
 *
 * # Arguments
 * - `out_ticket`: receives the ticket. Must not be NULL.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (this handle holds no reference, or the object is
 * deleted); OS_OUT_OF_MEMORY (the store's table of tickets is full: it
 * has an entry per 32 object slots, at least 256, for the tickets
 * outstanding and the references of processes in slots past the first
 * 64); OS_INVALID_ARGUMENT.
 */
os_status os_ref_give(struct os_store *store, const struct os_object_id *id, uint64_t *out_ticket);

/**
 * Takes the reference a ticket holds: this handle holds it from now on. A
 * ticket is taken at most once.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (no such ticket outstanding for this object: taken
 * already, dropped with its giver, given for another object, or never
 * given; or the object is absent, or deleted since the ticket was given:
 * then the ticket is dropped, and with it what it held of the deleted
 * object); OS_INVALID_ARGUMENT.
 */
os_status os_ref_take(struct os_store *store, const struct os_object_id *id, uint64_t ticket);

/**
 * How many tickets this process gave (`os_ref_give`, through any of its
 * handles) that no process has taken yet.
 *
 * # Arguments
 * - `out_count`: receives the count. Must not be NULL.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT.
 */
os_status os_tickets_outstanding(struct os_store *store, uint64_t *out_count);

/**
 * Waits until every ticket this process gave is taken: what a process
 * that sent references and is about to exit does (a pool's worker
 * returning results), so that its tickets, and the objects they alone
 * hold, do not go with it before their receivers take them. A process
 * that exits without closing the store leaves its tickets until a
 * survivor reclaims it; one that closes it drops them then, after
 * `os_options.ticket_linger_ms`. Looks at the store's table of tickets
 * again after sleeps growing to 10 ms (a take wakes nobody), so it
 * returns up to 10 ms after the last take or the cancel.
 *
 * # Arguments
 * - `timeout_ms`: as `os_get` (0: look once, < 0: no limit).
 * - `cancel`: as `os_get_cancellable` (NULL: none).
 *
 * # Returns
 * OS_OK (none outstanding); OS_TIMEOUT (some still outstanding: the error
 * says how many); OS_CANCELLED; OS_INVALID_ARGUMENT.
 */
os_status os_tickets_wait(struct os_store *store,
                          int64_t timeout_ms,
                          const struct os_canceller *cancel);

/**
 * Uploads the sealed object `id` to the store's remote
 * (`<prefix>/<40 hex digits of the ID>`), where a get on any machine whose
 * store has the same remote finds it: one PUT up to 16 MiB, above that a
 * multipart upload with parts uploaded in parallel. A process killed midway
 * leaves nothing visible remotely. The object stays pinned for the upload
 * only; the local object is unchanged.
 *
 * # Arguments
 * - `timeout_ms`: > 0 bounds the whole upload; 0 or < 0: no bound but the
 *   client's own retries, which give up on an unreachable endpoint within
 *   seconds.
 *
 * # Returns
 * OS_OK (also if the object was published already); OS_NOT_FOUND (no such
 * object here); OS_NOT_SEALED; OS_INVALID_ARGUMENT (NULL, or a store
 * without a remote, which every store is in a library built without the
 * remote tier); OS_PERMISSION_DENIED (the server refused the credentials);
 * OS_IO_ERROR (the endpoint did not answer, or failed; the message names
 * it); OS_TIMEOUT (not done within `timeout_ms`).
 */
os_status os_publish(struct os_store *store, const struct os_object_id *id, int64_t timeout_ms);

/**
 * Removes the published copy of `id` from the store's remote. Objects
 * already fetched by other machines stay there; the local object stays.
 *
 * # Arguments
 * - `timeout_ms`: as for `os_publish`.
 *
 * # Returns
 * OS_OK; OS_NOT_FOUND (not published); OS_INVALID_ARGUMENT (NULL, or a
 * store without a remote); OS_PERMISSION_DENIED; OS_IO_ERROR.
 */
os_status os_unpublish(struct os_store *store, const struct os_object_id *id, int64_t timeout_ms);

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
 *   only the flags, `spill_dir` and `remote_url` of `opts` matter.
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
 * The store's spill directory (the one it was created with, as an absolute
 * path), or NULL when it has none or `store` is NULL. Cannot fail.
 *
 * # Ownership
 * The string belongs to the handle: valid until `os_close(store)`; do not
 * free it.
 */
const char *os_spill_dir(const struct os_store *store);

/**
 * The store's remote URL ("s3://bucket/prefix", "file:///dir", …) fixed
 * when it was created, or NULL when it has none or `store` is NULL. Cannot
 * fail. (A library built without the remote tier cannot open a store that
 * has a remote, so there it is always NULL.)
 *
 * # Ownership
 * The string belongs to the handle: valid until `os_close(store)`; do not
 * free it.
 */
const char *os_remote_url(const struct os_store *store);

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
 * # Arguments
 * - `out`: the caller sets `out->struct_size` to `sizeof(os_store_stats)`
 *   first; the library fills that many bytes and no more (see the
 *   preamble's rule for structs).
 *
 * # Returns
 * OS_OK, or OS_INVALID_ARGUMENT if an argument is NULL or
 * `out->struct_size` is less than OS_STORE_STATS_MIN_SIZE.
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
 * # Arguments
 * - `out`: an array of `capacity` entries. The caller sets
 *   `out[0].struct_size` to `sizeof(os_object_info)`: it is the size of
 *   every entry, and the library writes no byte past
 *   `capacity * out[0].struct_size`. Each entry written gets the size the
 *   library knows as its `struct_size` (the preamble's rule), so set
 *   `out[0].struct_size` again before each call that reuses the array.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT if an argument is NULL, `capacity` is 0 or
 * `out[0].struct_size` is less than OS_OBJECT_INFO_MIN_SIZE.
 */
os_status os_list(struct os_store *store,
                  uint64_t *cursor,
                  struct os_object_info *out,
                  size_t capacity,
                  size_t *out_count);

/**
 * Fills `*opts` with the default options: every size chosen by the library
 * (0), 256 processes, mode 0600, no spill directory, no flags. The caller
 * sets `opts->struct_size` to `sizeof(os_options)` first; fields the
 * library does not know (a newer header's) are set to zero, which is their
 * default. The header's `os_options_default()` does this for you.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (NULL, or `struct_size` less than
 * OS_OPTIONS_MIN_SIZE).
 */
os_status os_options_init(struct os_options *opts);

/**
 * The library's version, e.g. "0.1.0" (static; do not free). Cannot fail.
 * The header's OS_VERSION_STRING is the version it was made for.
 */
const char *os_version(void);

/**
 * The loaded library's version as a number (see OS_VERSION_NUMBER), e.g.
 * 1000 for 0.1.0. Cannot fail.
 */
uint32_t os_version_number(void);

/**
 * Checks that the loaded library can serve a program compiled against the
 * header of version `header_version`: pass OS_VERSION_NUMBER. The library
 * must be at least as new (a program may use anything its header
 * declares) and of the same major version — for 0.x, of the same minor,
 * the rule of Cargo's semantic versioning, since before 1.0 a minor
 * release may change what a call does.
 *
 * # Returns
 * OS_OK; OS_INCOMPATIBLE (an older library, or another major version;
 * `os_last_error()` names both versions).
 */
os_status os_check_version(uint32_t header_version);

/**
 * Waits until at least `num_ready` of the `n` objects `ids` are sealed, or
 * the timeout ends, taking no pins: a consumer takes results in the order
 * they finish, getting each when `ready` says so.
 *
 * # Arguments
 * - `ids`, `n`: the IDs (`ids` may be NULL only when `n` is 0).
 * - `num_ready`: how many must be sealed, at most `n` (0 returns at once).
 * - `timeout_ms`: as `os_get` (0: look once, < 0: forever).
 * - `ready`: `n` flags; `ready[i]` is set when `ids[i]` is sealed. Only as
 *   many as `num_ready` are looked for, so more may be sealed than set.
 * - `out_num_ready`: receives how many flags are set. May be NULL.
 *
 * Unlike other calls, `ready` and `*out_num_ready` are written on
 * OS_TIMEOUT too (saying which were sealed).
 *
 * # Returns
 * OS_OK (at least `num_ready` sealed); OS_TIMEOUT (fewer when the timeout
 * ended, also with a timeout of 0); OS_INVALID_ARGUMENT (`num_ready` > `n`,
 * or NULL).
 */
os_status os_wait(struct os_store *store,
                  const struct os_object_id *ids,
                  size_t n,
                  size_t num_ready,
                  int64_t timeout_ms,
                  bool *ready,
                  size_t *out_num_ready);

/**
 * `os_wait`, ending early with OS_CANCELLED if `cancel` is cancelled
 * while it waits, or was before it began. `cancel` may be NULL: then it
 * is `os_wait`.
 *
 * # Returns
 * As `os_wait`. On OS_CANCELLED, as on OS_TIMEOUT, `ready` and
 * `*out_num_ready` say which objects were sealed.
 */
os_status os_wait_cancellable(struct os_store *store,
                              const struct os_object_id *ids,
                              size_t n,
                              size_t num_ready,
                              int64_t timeout_ms,
                              const struct os_canceller *cancel,
                              bool *ready,
                              size_t *out_num_ready);

/**
 * Makes a wait set of the `n` objects `ids`, for a consumer that takes
 * results in the order they finish (`concurrent.futures.as_completed`, a
 * `ray.wait` loop): `os_wait_set_next` hands out each object once when it
 * is sealed. Unlike `os_wait`, which looks up every ID it is handed on
 * every call, a set looks at all of them once, here; each later wait
 * looks only at what was sealed since the last one (a wait that finds
 * nothing new reads one word). It takes no pins: an object handed out was
 * sealed when it was looked at, and a get may still find it deleted.
 *
 * The set keeps the store's mapping alive: it may outlive `store` (close
 * the store and free the set in either order). While any set exists, the
 * store's sealers log what they seal (two atomic operations per put).
 *
 * # Arguments
 * - `ids`, `n`: the IDs (`ids` may be NULL only when `n` is 0; an ID given
 *   twice is handed out twice).
 * - `out`: receives the set.
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (NULL, or a store opened before a fork).
 */
os_status os_wait_set_new(struct os_store *store,
                          const struct os_object_id *ids,
                          size_t n,
                          struct os_wait_set **out);

/**
 * Hands out up to `max` objects of the set sealed since it was made and
 * not handed out before, as indices into the IDs it was made with, in the
 * order they were found; waits up to the timeout for at least one.
 *
 * # Arguments
 * - `max`: room in `out_indices` (at least 1).
 * - `timeout_ms`: as `os_get` (0: look once, < 0: forever).
 * - `cancel`: as `os_wait_cancellable` (NULL: none).
 * - `out_indices`: receives the indices; `*out_n`: how many (0 only when
 *   every object of the set was handed out already).
 *
 * # Returns
 * OS_OK; OS_TIMEOUT (none sealed in time, also with a timeout of 0);
 * OS_CANCELLED; OS_INVALID_ARGUMENT (NULL, `max` 0, or a set made before
 * a fork). `*out_n` is 0 on every failure.
 */
os_status os_wait_set_next(struct os_wait_set *set,
                           size_t max,
                           int64_t timeout_ms,
                           const struct os_canceller *cancel,
                           size_t *out_indices,
                           size_t *out_n);

/**
 * Adds the `count` objects `ids` to a wait set: `os_wait_set_next` hands
 * them out as the set's own, their indices following those it holds
 * (those it was made with, then those added before, in order). An ID
 * given twice, or one the set holds already, is handed out once for each
 * time it was given. Those sealed already are found here and handed out
 * by the next `os_wait_set_next`, the others as they are sealed; a set
 * that handed out all it held waits again. Each new ID is looked at once,
 * here, as `os_wait_set_new` does; later waits look only at what was
 * sealed since (an `os_wait` over the grown list would look at all of
 * them on every call). Serialized with `os_wait_set_next` on the set.
 *
 * # Arguments
 * - `ids`, `count`: the IDs (`ids` may be NULL only when `count` is 0,
 *   which adds nothing).
 *
 * # Returns
 * OS_OK; OS_INVALID_ARGUMENT (NULL, or a set made before a fork: the set
 * is unchanged).
 */
os_status os_wait_set_add(struct os_wait_set *set, const struct os_object_id *ids, size_t count);

/**
 * Frees a wait set (NULL: nothing). No call may use it any more.
 */
void os_wait_set_free(struct os_wait_set *set);

/**
 * `os_open`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_open_e(const char *name,
                    const struct os_options *opts,
                    struct os_store **out,
                    struct os_error **err);

/**
 * `os_close`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_close_e(struct os_store *store, struct os_error **err);

/**
 * `os_destroy`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_destroy_e(const char *name, struct os_error **err);

/**
 * `os_collect`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_collect_e(struct os_store *store, struct os_error **err);

/**
 * `os_stats`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_stats_e(struct os_store *store, struct os_store_stats *out, struct os_error **err);

/**
 * `os_list`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_list_e(struct os_store *store,
                    uint64_t *cursor,
                    struct os_object_info *out,
                    size_t capacity,
                    size_t *out_count,
                    struct os_error **err);

/**
 * `os_options_init`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_options_init_e(struct os_options *opts, struct os_error **err);

/**
 * `os_put`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_put_e(struct os_store *store,
                   const void *data,
                   size_t len,
                   struct os_object_id *out_id,
                   struct os_error **err);

/**
 * `os_put_with_meta`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_put_with_meta_e(struct os_store *store,
                             const void *data,
                             size_t len,
                             const void *meta,
                             size_t meta_len,
                             struct os_object_id *out_id,
                             struct os_error **err);

/**
 * `os_create`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_create_e(struct os_store *store,
                      const struct os_object_id *id,
                      size_t data_len,
                      const void *meta,
                      size_t meta_len,
                      uint8_t **out_data,
                      struct os_error **err);

/**
 * `os_create_new`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_create_new_e(struct os_store *store,
                          size_t data_len,
                          const void *meta,
                          size_t meta_len,
                          struct os_object_id *out_id,
                          uint8_t **out_data,
                          struct os_error **err);

/**
 * `os_seal`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_seal_e(struct os_store *store, const struct os_object_id *id, struct os_error **err);

/**
 * `os_abort`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_abort_e(struct os_store *store, const struct os_object_id *id, struct os_error **err);

/**
 * `os_get`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_get_e(struct os_store *store,
                   const struct os_object_id *id,
                   int64_t timeout_ms,
                   struct os_buffer *out,
                   struct os_error **err);

/**
 * `os_get_many`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_get_many_e(struct os_store *store,
                        const struct os_object_id *ids,
                        size_t n,
                        int64_t timeout_ms,
                        struct os_buffer *out,
                        struct os_error **err);

/**
 * `os_publish`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_publish_e(struct os_store *store,
                       const struct os_object_id *id,
                       int64_t timeout_ms,
                       struct os_error **err);

/**
 * `os_unpublish`, handing its error to `*err`: NULL on success, on failure
 * an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_unpublish_e(struct os_store *store,
                         const struct os_object_id *id,
                         int64_t timeout_ms,
                         struct os_error **err);

/**
 * `os_release`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_release_e(struct os_store *store,
                       const struct os_object_id *id,
                       struct os_error **err);

/**
 * `os_delete`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_delete_e(struct os_store *store, const struct os_object_id *id, struct os_error **err);

/**
 * `os_contains`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_contains_e(struct os_store *store,
                        const struct os_object_id *id,
                        bool *out,
                        struct os_error **err);

/**
 * `os_id_from_hex`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_id_from_hex_e(const char *hex, struct os_object_id *out, struct os_error **err);

/**
 * `os_processes`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_processes_e(struct os_store *store,
                         struct os_process_info *out,
                         size_t capacity,
                         size_t *out_count,
                         struct os_error **err);

/**
 * `os_pin_holders`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_pin_holders_e(struct os_store *store,
                           const struct os_object_id *id,
                           struct os_process_info *out,
                           size_t capacity,
                           size_t *out_count,
                           struct os_error **err);

/**
 * `os_audit`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_audit_e(struct os_store *store,
                     char *report,
                     size_t report_len,
                     size_t *out_problems,
                     size_t *out_report_len,
                     struct os_error **err);

/**
 * `os_check_version`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_check_version_e(uint32_t header_version, struct os_error **err);

/**
 * `os_put_ex`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_put_ex_e(struct os_store *store,
                      const void *data,
                      size_t len,
                      const void *meta,
                      size_t meta_len,
                      uint32_t flags,
                      struct os_object_id *out_id,
                      struct os_error **err);

/**
 * `os_create_ex`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_create_ex_e(struct os_store *store,
                         const struct os_object_id *id_or_null,
                         size_t data_len,
                         const void *meta,
                         size_t meta_len,
                         uint32_t flags,
                         struct os_object_id *out_id,
                         uint8_t **out_data,
                         struct os_error **err);

/**
 * `os_ref`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_ref_e(struct os_store *store, const struct os_object_id *id, struct os_error **err);

/**
 * `os_unref`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_unref_e(struct os_store *store, const struct os_object_id *id, struct os_error **err);

/**
 * `os_ref_give`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_ref_give_e(struct os_store *store,
                        const struct os_object_id *id,
                        uint64_t *out_ticket,
                        struct os_error **err);

/**
 * `os_ref_take`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_ref_take_e(struct os_store *store,
                        const struct os_object_id *id,
                        uint64_t ticket,
                        struct os_error **err);

/**
 * `os_wait`, handing its error to `*err`: NULL on success, on failure an
 * error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_wait_e(struct os_store *store,
                    const struct os_object_id *ids,
                    size_t n,
                    size_t num_ready,
                    int64_t timeout_ms,
                    bool *ready,
                    size_t *out_num_ready,
                    struct os_error **err);

/**
 * `os_canceller_new`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_canceller_new_e(struct os_canceller **out, struct os_error **err);

/**
 * `os_canceller_cancel`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_canceller_cancel_e(const struct os_canceller *cancel, struct os_error **err);

/**
 * `os_canceller_reset`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_canceller_reset_e(const struct os_canceller *cancel, struct os_error **err);

/**
 * `os_get_cancellable`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_get_cancellable_e(struct os_store *store,
                               const struct os_object_id *id,
                               int64_t timeout_ms,
                               const struct os_canceller *cancel,
                               struct os_buffer *out,
                               struct os_error **err);

/**
 * `os_get_many_cancellable`, handing its error to `*err`: NULL on success,
 * on failure an error the caller frees with `os_error_free`. `err` may be
 * NULL.
 */
os_status os_get_many_cancellable_e(struct os_store *store,
                                    const struct os_object_id *ids,
                                    size_t n,
                                    int64_t timeout_ms,
                                    const struct os_canceller *cancel,
                                    struct os_buffer *out,
                                    struct os_error **err);

/**
 * `os_wait_cancellable`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_wait_cancellable_e(struct os_store *store,
                                const struct os_object_id *ids,
                                size_t n,
                                size_t num_ready,
                                int64_t timeout_ms,
                                const struct os_canceller *cancel,
                                bool *ready,
                                size_t *out_num_ready,
                                struct os_error **err);

/**
 * `os_wait_set_new`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_wait_set_new_e(struct os_store *store,
                            const struct os_object_id *ids,
                            size_t n,
                            struct os_wait_set **out,
                            struct os_error **err);

/**
 * `os_wait_set_next`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_wait_set_next_e(struct os_wait_set *set,
                             size_t max,
                             int64_t timeout_ms,
                             const struct os_canceller *cancel,
                             size_t *out_indices,
                             size_t *out_n,
                             struct os_error **err);

/**
 * `os_wait_set_add`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be NULL.
 */
os_status os_wait_set_add_e(struct os_wait_set *set,
                            const struct os_object_id *ids,
                            size_t count,
                            struct os_error **err);

/**
 * `os_tickets_outstanding`, handing its error to `*err`: NULL on success,
 * on failure an error the caller frees with `os_error_free`. `err` may be
 * NULL.
 */
os_status os_tickets_outstanding_e(struct os_store *store,
                                   uint64_t *out_count,
                                   struct os_error **err);

/**
 * `os_tickets_wait`, handing its error to `*err`: NULL on success, on
 * failure an error the caller frees with `os_error_free`. `err` may be
 * NULL.
 */
os_status os_tickets_wait_e(struct os_store *store,
                            int64_t timeout_ms,
                            const struct os_canceller *cancel,
                            struct os_error **err);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* OBJSTORE_H */

#ifndef OBJSTORE_H_INLINE
#define OBJSTORE_H_INLINE

/**
 * The default options: every size chosen by the library (0), 256 processes,
 * mode 0600, no spill directory, no flags. Made here, at the size this header
 * gives os_options, by os_options_init: a program compiled against this
 * header keeps working with a later library whose os_options is larger.
 * Cannot fail.
 */
static inline struct os_options os_options_default(void) {
    struct os_options opts;
    opts.struct_size = sizeof opts;
    (void)os_options_init(&opts);
    return opts;
}

#endif  /* OBJSTORE_H_INLINE */
