/*
 * Tests of the C API, compiled against include/objstore.h and linked to the
 * built library (run under AddressSanitizer and UBSan by tests/c/run.sh).
 *
 * Every function is called with each NULL argument and each bad value it
 * documents, and its status and os_last_error() are checked; then the
 * normal paths: put/get/release/delete, create/seal/abort, get_many,
 * waiting, listing, stats, a full store, an object larger than the store;
 * errors as objects (the _e functions), processes, pin holders, the audit;
 * publishing and fetching through a file:// remote; cancelling blocked
 * waits (os_canceller).
 * test_abi_evolution.c checks the versions and the struct_size rule.
 */
#define _GNU_SOURCE
#include "objstore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char store_name[128];

/* A fresh store for each test (capacity 0: attach to the current one). */
static os_store *open_store(uint64_t capacity) {
    if (capacity != 0) os_destroy(store_name);
    os_options opts = os_options_default();
    opts.capacity_bytes = capacity;
    os_store *s = NULL;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_OK);
    return s;
}

static os_object_id make_id(uint8_t fill) {
    os_object_id id;
    memset(id.bytes, fill, OS_ID_SIZE);
    return id;
}

static void test_null_arguments(void) {
    os_store *s = open_store(8 << 20);
    os_object_id id = make_id(1), out_id;
    os_buffer buf;
    os_store_stats st = {.struct_size = sizeof st};
    bool b;
    uint8_t *p;
    uint64_t cursor = 0;
    size_t n;
    os_object_info info[4] = {{.struct_size = sizeof info[0]}};

    CHECK_STATUS(os_open(NULL, NULL, &s), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "name") != NULL);
    CHECK_STATUS(os_open(store_name, NULL, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_close(NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_destroy(NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_collect(NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_stats(NULL, &st), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_stats(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_list(NULL, &cursor, info, 4, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_list(s, NULL, info, 4, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_list(s, &cursor, NULL, 4, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_list(s, &cursor, info, 0, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_list(s, &cursor, info, 4, NULL), OS_INVALID_ARGUMENT);

    CHECK_STATUS(os_put(NULL, "x", 1, &out_id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_put(s, NULL, 1, &out_id), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "data") != NULL);
    CHECK_STATUS(os_put(s, "x", 1, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_put_with_meta(s, "x", 1, NULL, 3, &out_id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create(NULL, &id, 1, NULL, 0, &p), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create(s, NULL, 1, NULL, 0, &p), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create(s, &id, 1, NULL, 2, &p), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create(s, &id, 1, NULL, 0, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create_new(NULL, 1, NULL, 0, &out_id, &p), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create_new(s, 1, NULL, 1, &out_id, &p), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create_new(s, 1, NULL, 0, NULL, &p), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_create_new(s, 1, NULL, 0, &out_id, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_seal(NULL, &id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_seal(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_abort(NULL, &id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_abort(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get(NULL, &id, 0, &buf), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get(s, NULL, 0, &buf), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get(s, &id, 0, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_many(NULL, &id, 1, 0, &buf), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_many(s, NULL, 1, 0, &buf), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_many(s, &id, 1, 0, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_many(s, NULL, 0, 0, NULL), OS_OK);
    CHECK_STATUS(os_release(NULL, &id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_release(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_delete(NULL, &id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_delete(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_contains(NULL, &id, &b), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_contains(s, NULL, &b), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_contains(s, &id, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_id_from_hex(NULL, &out_id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_id_from_hex("00", NULL), OS_INVALID_ARGUMENT);
    os_id_to_hex(NULL, NULL); /* documented no-op */
    CHECK(os_version() != NULL && strlen(os_version()) > 0);
    CHECK_STATUS(os_close(s), OS_OK);
}

static void test_bad_values(void) {
    os_options opts = os_options_default();
    os_store *s = NULL;
    CHECK(opts.struct_size == sizeof(os_options));
    CHECK(opts.max_processes == 256 && opts.mode == 0600 && opts.spill_dir == NULL);

    opts.struct_size = 4;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "struct_size") != NULL);
    opts = os_options_default();
    opts.flags = 0x100;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_INVALID_ARGUMENT);
    opts = os_options_default();
    opts.flags = OS_OPEN_CREATE_ONLY | OS_OPEN_ATTACH_ONLY;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_INVALID_ARGUMENT);
    opts = os_options_default();
    opts.max_processes = 100000;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_INVALID_ARGUMENT);
    opts = os_options_default();
    opts.mode = 01000000;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_open("", NULL, &s), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_open("..", NULL, &s), OS_INVALID_ARGUMENT);
    CHECK(s == NULL); /* outputs untouched on failure */

    opts = os_options_default();
    opts.flags = OS_OPEN_ATTACH_ONLY;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_NOT_FOUND);
    CHECK_STATUS(os_destroy(store_name), OS_NOT_FOUND);
    CHECK_STATUS(os_open("/nonexistent-dir/store", NULL, &s), OS_NOT_FOUND);

    os_object_id id;
    CHECK_STATUS(os_id_from_hex("abc", &id), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "40 hex") != NULL);
    CHECK_STATUS(os_id_from_hex("zz00000000000000000000000000000000000000", &id), OS_INVALID_ARGUMENT);
    CHECK(strcmp(os_status_str(OS_TIMEOUT), "timed out") == 0);
    CHECK(strcmp(os_status_str(12345), "unknown status") == 0);
}

static void test_hex(void) {
    os_object_id id, back;
    char hex[41];
    for (int i = 0; i < OS_ID_SIZE; i++) id.bytes[i] = (uint8_t)(i * 17);
    os_id_to_hex(&id, hex);
    char want[41];
    for (int i = 0; i < OS_ID_SIZE; i++) snprintf(want + 2 * i, 3, "%02x", id.bytes[i]);
    CHECK(strlen(hex) == 40);
    CHECK(strcmp(hex, want) == 0);
    CHECK_STATUS(os_id_from_hex(hex, &back), OS_OK);
    CHECK(memcmp(&id, &back, sizeof id) == 0);
    for (int i = 0; i < 40; i++)
        if (want[i] >= 'a') want[i] = (char)(want[i] - 'a' + 'A');
    CHECK_STATUS(os_id_from_hex(want, &back), OS_OK);
    CHECK(memcmp(&id, &back, sizeof id) == 0);
}

static void test_round_trip(void) {
    os_store *s = open_store(32 << 20);
    const char meta[] = "float32 (2,2)";
    float data[4] = {1, 2, 3, 4};
    os_object_id id;
    os_buffer buf;
    bool present = false;

    CHECK_STATUS(os_put_with_meta(s, data, sizeof data, meta, sizeof meta, &id), OS_OK);
    CHECK_STATUS(os_contains(s, &id, &present), OS_OK);
    CHECK(present);
    CHECK_STATUS(os_get(s, &id, 0, &buf), OS_OK);
    CHECK(buf.data_len == sizeof data && memcmp(buf.data, data, sizeof data) == 0);
    CHECK(buf.meta_len == sizeof meta && memcmp(buf.meta, meta, sizeof meta) == 0);
    CHECK(((uintptr_t)buf.data % 64) == 0);
    CHECK_STATUS(os_release(s, &id), OS_OK);
    CHECK_STATUS(os_release(s, &id), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_delete(s, &id), OS_OK);
    CHECK_STATUS(os_delete(s, &id), OS_NOT_FOUND);
    CHECK_STATUS(os_get(s, &id, 0, &buf), OS_NOT_FOUND);
    CHECK_STATUS(os_get(s, &id, 30, &buf), OS_TIMEOUT);

    /* A zero-length object. */
    CHECK_STATUS(os_put(s, NULL, 0, &id), OS_OK);
    CHECK_STATUS(os_get(s, &id, 0, &buf), OS_OK);
    CHECK(buf.data != NULL && buf.data_len == 0 && buf.meta_len == 0);
    CHECK_STATUS(os_release(s, &id), OS_OK);

    /* create / seal / abort with a chosen ID. */
    os_object_id chosen = make_id(0xab);
    uint8_t *w = NULL;
    CHECK_STATUS(os_create(s, &chosen, 1000, "m", 1, &w), OS_OK);
    CHECK(w != NULL && ((uintptr_t)w % 64) == 0);
    memset(w, 0x5a, 1000);
    CHECK_STATUS(os_get(s, &chosen, 0, &buf), OS_NOT_FOUND);
    CHECK_STATUS(os_delete(s, &chosen), OS_NOT_SEALED);
    CHECK_STATUS(os_create(s, &chosen, 10, NULL, 0, &w), OS_ALREADY_EXISTS);
    CHECK_STATUS(os_seal(s, &chosen), OS_OK);
    CHECK_STATUS(os_seal(s, &chosen), OS_ALREADY_EXISTS);
    CHECK_STATUS(os_abort(s, &chosen), OS_ALREADY_EXISTS);
    CHECK_STATUS(os_get(s, &chosen, -1, &buf), OS_OK);
    CHECK(buf.data_len == 1000 && buf.data[999] == 0x5a && buf.meta_len == 1 && buf.meta[0] == 'm');
    CHECK_STATUS(os_delete(s, &chosen), OS_OK); /* deferred: we still pin it */
    CHECK_STATUS(os_create(s, &chosen, 10, NULL, 0, &w), OS_ALREADY_EXISTS);
    CHECK(buf.data[0] == 0x5a);
    CHECK_STATUS(os_release(s, &chosen), OS_OK);
    CHECK_STATUS(os_create(s, &chosen, 10, NULL, 0, &w), OS_OK);
    CHECK_STATUS(os_abort(s, &chosen), OS_OK);
    CHECK_STATUS(os_seal(s, &chosen), OS_NOT_FOUND);

    /* create_new: the library picks the ID. */
    os_object_id fresh, fresh2;
    CHECK_STATUS(os_create_new(s, 3, NULL, 0, &fresh, &w), OS_OK);
    memcpy(w, "new", 3);
    CHECK_STATUS(os_create_new(s, 3, NULL, 0, &fresh2, &w), OS_OK);
    CHECK(memcmp(&fresh, &fresh2, sizeof fresh) != 0);
    CHECK_STATUS(os_abort(s, &fresh2), OS_OK);
    CHECK_STATUS(os_seal(s, &fresh), OS_OK);
    CHECK_STATUS(os_get(s, &fresh, 0, &buf), OS_OK);
    CHECK(buf.data_len == 3 && memcmp(buf.data, "new", 3) == 0);
    CHECK_STATUS(os_release(s, &fresh), OS_OK);

    os_object_id unknown = make_id(0xcd);
    CHECK_STATUS(os_release(s, &unknown), OS_NOT_FOUND);
    CHECK_STATUS(os_seal(s, &unknown), OS_NOT_FOUND);
    CHECK_STATUS(os_close(s), OS_OK);
}

static void test_get_many(void) {
    os_store *s = open_store(16 << 20);
    os_object_id ids[3];
    os_buffer out[3];
    CHECK_STATUS(os_put(s, "a", 1, &ids[0]), OS_OK);
    CHECK_STATUS(os_put(s, "bb", 2, &ids[1]), OS_OK);
    ids[2] = make_id(0x77);
    CHECK_STATUS(os_get_many(s, ids, 2, 0, out), OS_OK);
    CHECK(out[0].data_len == 1 && out[1].data_len == 2);
    CHECK_STATUS(os_release(s, &ids[0]), OS_OK);
    CHECK_STATUS(os_release(s, &ids[1]), OS_OK);
    CHECK_STATUS(os_get_many(s, ids, 3, 0, out), OS_NOT_FOUND);
    CHECK(out[0].data != NULL && out[1].data != NULL && out[2].data == NULL);
    CHECK_STATUS(os_release(s, &ids[0]), OS_OK);
    CHECK_STATUS(os_release(s, &ids[1]), OS_OK);
    CHECK_STATUS(os_get_many(s, ids, 3, 20, out), OS_TIMEOUT);
    CHECK(out[2].data == NULL);
    CHECK_STATUS(os_release(s, &ids[0]), OS_OK);
    CHECK_STATUS(os_release(s, &ids[1]), OS_OK);
    os_store_stats st = {.struct_size = sizeof st};
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.pinned_count == 0 && st.object_count == 2);
    CHECK_STATUS(os_close(s), OS_OK);
}

struct late_put {
    os_store *s;
    os_object_id id;
};

static void *put_later(void *arg) {
    struct late_put *lp = arg;
    usleep(50 * 1000);
    uint8_t *w;
    if (os_create(lp->s, &lp->id, 5, NULL, 0, &w) == OS_OK) {
        memcpy(w, "later", 5);
        os_seal(lp->s, &lp->id);
    }
    return NULL;
}

static void test_wait(void) {
    os_store *s = open_store(16 << 20);
    struct late_put lp = {s, make_id(0x99)};
    pthread_t t;
    pthread_create(&t, NULL, put_later, &lp);
    os_buffer buf;
    CHECK_STATUS(os_get(s, &lp.id, 30000, &buf), OS_OK);
    CHECK(buf.data_len == 5 && memcmp(buf.data, "later", 5) == 0);
    pthread_join(t, NULL);
    CHECK_STATUS(os_release(s, &lp.id), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* A wait set: each object handed out once as it is sealed (one blocked
 * until another thread's put); bad arguments; freed after its store. */
static void test_wait_set(void) {
    os_store *s = open_store(16 << 20);
    os_object_id ids[3] = {make_id(0xa1), make_id(0xa2), make_id(0xa3)};
    os_object_id out_id;
    CHECK_STATUS(os_put_ex(s, "b", 1, NULL, 0, 0, &out_id), OS_OK);
    os_wait_set *set = NULL;
    CHECK_STATUS(os_wait_set_new(NULL, ids, 3, &set), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_new(s, NULL, 3, &set), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_new(s, ids, 3, NULL), OS_INVALID_ARGUMENT);
    uint8_t *data;
    CHECK_STATUS(os_create(s, &ids[1], 3, NULL, 0, &data), OS_OK);
    memcpy(data, "one", 3);
    CHECK_STATUS(os_seal(s, &ids[1]), OS_OK);
    CHECK_STATUS(os_wait_set_new(s, ids, 3, &set), OS_OK);
    size_t got[3] = {9, 9, 9}, n = 7;
    CHECK_STATUS(os_wait_set_next(NULL, 3, 0, NULL, got, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_next(set, 0, 0, NULL, got, &n), OS_INVALID_ARGUMENT);
    CHECK(n == 0);
    CHECK_STATUS(os_wait_set_next(set, 3, 0, NULL, NULL, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_next(set, 3, 0, NULL, got, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_next(set, 3, 0, NULL, got, &n), OS_OK);
    CHECK(n == 1 && got[0] == 1);
    CHECK_STATUS(os_wait_set_next(set, 3, 0, NULL, got, &n), OS_TIMEOUT);
    CHECK(n == 0);
    struct late_put lp = {s, ids[2]};
    pthread_t t;
    pthread_create(&t, NULL, put_later, &lp);
    CHECK_STATUS(os_wait_set_next(set, 3, 30000, NULL, got, &n), OS_OK);
    CHECK(n == 1 && got[0] == 2);
    pthread_join(t, NULL);
    os_canceller *c;
    CHECK_STATUS(os_canceller_new(&c), OS_OK);
    CHECK_STATUS(os_canceller_cancel(c), OS_OK);
    CHECK_STATUS(os_wait_set_next(set, 3, -1, c, got, &n), OS_CANCELLED);
    os_canceller_free(c);
    CHECK_STATUS(os_close(s), OS_OK);
    /* The set keeps the mapping: usable after its store handle closed. */
    CHECK_STATUS(os_wait_set_next(set, 3, 0, NULL, got, &n), OS_TIMEOUT);
    os_wait_set_free(set);
    os_wait_set_free(NULL);
}

/* A wait set grows (os_wait_set_add): the added IDs get indices after the
 * set's, one sealed already is handed out by the next wait, one sealed
 * later by another thread wakes a wait blocked after the set handed out
 * all it held, an ID added twice twice; bad arguments; a set used after a
 * fork is refused. */
static void test_wait_set_add(void) {
    os_store *s = open_store(16 << 20);
    os_object_id ids[5] = {make_id(0xb1), make_id(0xb2), make_id(0xb3), make_id(0xb4), make_id(0xb5)};
    os_wait_set *set = NULL;
    CHECK_STATUS(os_wait_set_new(s, ids, 1, &set), OS_OK);
    CHECK_STATUS(os_wait_set_add(NULL, ids, 1), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_add(set, NULL, 2), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_set_add(set, NULL, 0), OS_OK);
    os_error *err = NULL;
    CHECK_STATUS(os_wait_set_add_e(NULL, ids, 1, &err), OS_INVALID_ARGUMENT);
    CHECK(err != NULL && os_error_status(err) == OS_INVALID_ARGUMENT);
    os_error_free(err);
    uint8_t *data;
    CHECK_STATUS(os_create(s, &ids[0], 1, NULL, 0, &data), OS_OK);
    CHECK_STATUS(os_seal(s, &ids[0]), OS_OK);
    size_t got[4] = {9, 9, 9, 9}, n = 7;
    CHECK_STATUS(os_wait_set_next(set, 4, 0, NULL, got, &n), OS_OK);
    CHECK(n == 1 && got[0] == 0);
    /* All handed out: an empty answer, until more are added. */
    CHECK_STATUS(os_wait_set_next(set, 4, 0, NULL, got, &n), OS_OK);
    CHECK(n == 0);
    CHECK_STATUS(os_create(s, &ids[2], 1, NULL, 0, &data), OS_OK);
    CHECK_STATUS(os_seal(s, &ids[2]), OS_OK);
    CHECK_STATUS(os_wait_set_add_e(set, &ids[1], 3, &err), OS_OK); /* indices 1, 2, 3 */
    CHECK(err == NULL);
    CHECK_STATUS(os_wait_set_next(set, 4, 0, NULL, got, &n), OS_OK);
    CHECK(n == 1 && got[0] == 2);
    CHECK_STATUS(os_wait_set_next(set, 4, 0, NULL, got, &n), OS_TIMEOUT);
    struct late_put lp = {s, ids[3]};
    pthread_t t;
    pthread_create(&t, NULL, put_later, &lp);
    CHECK_STATUS(os_wait_set_next(set, 4, 30000, NULL, got, &n), OS_OK);
    CHECK(n == 1 && got[0] == 3);
    pthread_join(t, NULL);
    os_object_id twice[2] = {ids[4], ids[4]};
    CHECK_STATUS(os_wait_set_add(set, twice, 2), OS_OK); /* indices 4, 5 */
    CHECK_STATUS(os_create(s, &ids[4], 1, NULL, 0, &data), OS_OK);
    CHECK_STATUS(os_seal(s, &ids[4]), OS_OK);
    CHECK_STATUS(os_wait_set_next(set, 4, 0, NULL, got, &n), OS_OK);
    CHECK(n == 2 && got[0] == 4 && got[1] == 5);
    pid_t pid = fork();
    if (pid == 0) {
        /* The inherited set belongs to the parent. */
        _exit(os_wait_set_add(set, ids, 1) == OS_INVALID_ARGUMENT ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Unchanged by the child: index 1 is still waited for. */
    CHECK_STATUS(os_create(s, &ids[1], 1, NULL, 0, &data), OS_OK);
    CHECK_STATUS(os_seal(s, &ids[1]), OS_OK);
    CHECK_STATUS(os_wait_set_next(set, 4, 0, NULL, got, &n), OS_OK);
    CHECK(n == 1 && got[0] == 1);
    os_wait_set_free(set);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* Cancelling waits: a call blocked with a canceller, from another thread.
 * No duration is asserted: a thread that is not back within a generous
 * bound (cancel_bound_s) counts as a failure rather than hanging the run. */
static const int cancel_bound_s = 10;

enum blocked_call { BLOCKED_GET, BLOCKED_GET_E, BLOCKED_GET_MANY, BLOCKED_WAIT };

struct blocked {
    os_store *s;
    const os_canceller *c;
    enum blocked_call call;
    os_object_id ids[2]; /* absent, unless a test puts one */
    os_buffer bufs[2];
    bool ready[2];
    os_status status;
    os_status error_status; /* BLOCKED_GET_E: the error object's status */
};

static void *block_in_call(void *arg) {
    struct blocked *b = arg;
    switch (b->call) {
    case BLOCKED_GET:
        b->status = os_get_cancellable(b->s, &b->ids[0], -1, b->c, &b->bufs[0]);
        break;
    case BLOCKED_GET_E: {
        os_error *err = NULL;
        b->status = os_get_cancellable_e(b->s, &b->ids[0], -1, b->c, &b->bufs[0], &err);
        b->error_status = os_error_status(err);
        os_error_free(err);
        break;
    }
    case BLOCKED_GET_MANY:
        b->status = os_get_many_cancellable(b->s, b->ids, 2, -1, b->c, b->bufs);
        break;
    case BLOCKED_WAIT:
        b->status = os_wait_cancellable(b->s, b->ids, 2, 2, -1, b->c, b->ready, NULL);
        break;
    }
    return NULL;
}

/* Runs the call on a thread and joins it within the bound: true if the
 * thread came back. With cancel_after_ms >= 0 the main thread cancels `c`
 * that long after starting it (the call is blocked by then, most likely;
 * either order must give OS_CANCELLED). */
static bool run_blocked(struct blocked *b, os_canceller *c, int cancel_after_ms) {
    pthread_t t;
    if (pthread_create(&t, NULL, block_in_call, b) != 0) return false;
    if (cancel_after_ms >= 0) {
        usleep((useconds_t)cancel_after_ms * 1000);
        CHECK_STATUS(os_canceller_cancel(c), OS_OK);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += cancel_bound_s;
    if (pthread_timedjoin_np(t, NULL, &deadline) != 0) {
        fprintf(stderr, "a cancelled call was not back within %d s\n", cancel_bound_s);
        exit(1); /* the thread is stuck in the call: nothing else can run */
    }
    return true;
}

static void test_cancel(void) {
    os_store *s = open_store(16 << 20);
    os_object_id absent = make_id(0xc0), present = make_id(0xc1), out_id;
    os_buffer buf;
    bool ready[2];
    os_canceller *c = NULL;

    /* Bad arguments. */
    CHECK_STATUS(os_canceller_new(NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_canceller_cancel(NULL), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "canceller") != NULL);
    CHECK_STATUS(os_canceller_reset(NULL), OS_INVALID_ARGUMENT);
    os_canceller_free(NULL);
    CHECK_STATUS(os_canceller_new(&c), OS_OK);
    CHECK(c != NULL);
    CHECK_STATUS(os_get_cancellable(NULL, &absent, 0, c, &buf), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_cancellable(s, NULL, 0, c, &buf), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_cancellable(s, &absent, 0, c, NULL), OS_INVALID_ARGUMENT);
    os_object_id two[2] = {absent, present};
    os_buffer bufs[2];
    CHECK_STATUS(os_get_many_cancellable(NULL, two, 2, 0, c, bufs), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_many_cancellable(s, NULL, 2, 0, c, bufs), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_get_many_cancellable(s, two, 2, 0, c, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_cancellable(NULL, two, 2, 1, 0, c, ready, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_cancellable(s, two, 2, 3, 0, c, ready, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait_cancellable(s, two, 2, 1, 0, c, NULL, NULL), OS_INVALID_ARGUMENT);
    os_error *err = NULL;
    CHECK_STATUS(os_canceller_cancel_e(NULL, &err), OS_INVALID_ARGUMENT);
    CHECK(os_error_status(err) == OS_INVALID_ARGUMENT);
    os_error_free(err);

    /* A NULL canceller is the plain call; a canceller not cancelled changes
     * nothing. */
    CHECK_STATUS(os_get_cancellable(s, &absent, 0, NULL, &buf), OS_NOT_FOUND);
    CHECK_STATUS(os_get_cancellable(s, &absent, 1, c, &buf), OS_TIMEOUT);
    CHECK_STATUS(os_wait_cancellable(s, two, 2, 1, 1, NULL, ready, NULL), OS_TIMEOUT);

    /* A get blocked forever on an absent ID, cancelled from this thread. */
    struct blocked b = {.s = s, .c = c, .call = BLOCKED_GET, .ids = {absent, absent}};
    CHECK(run_blocked(&b, c, 50));
    CHECK_STATUS(b.status, OS_CANCELLED);

    /* Cancelled stays cancelled (until reset), and cancelling again is
     * fine: a call made now returns at once. */
    CHECK_STATUS(os_canceller_cancel(c), OS_OK);
    CHECK_STATUS(os_get_cancellable(s, &absent, -1, c, &buf), OS_CANCELLED);
    CHECK(strstr(os_last_error(), "cancelled") != NULL);
    b = (struct blocked){.s = s, .c = c, .call = BLOCKED_GET_E, .ids = {absent, absent}};
    CHECK(run_blocked(&b, c, -1));
    CHECK_STATUS(b.status, OS_CANCELLED);
    CHECK(b.error_status == OS_CANCELLED);

    /* A wait that need not block still succeeds through a cancelled
     * canceller: only waiting is cancelled. */
    CHECK_STATUS(os_put(s, "here", 4, &out_id), OS_OK);
    present = out_id;
    CHECK_STATUS(os_get_cancellable(s, &present, -1, c, &buf), OS_OK);
    CHECK(buf.data_len == 4 && memcmp(buf.data, "here", 4) == 0);
    CHECK_STATUS(os_release(s, &present), OS_OK);

    /* get_many, cancelled before the call: the present entry is pinned, the
     * absent one NULL, as at a timeout. */
    b = (struct blocked){.s = s, .c = c, .call = BLOCKED_GET_MANY, .ids = {present, absent}};
    CHECK(run_blocked(&b, c, -1));
    CHECK_STATUS(b.status, OS_CANCELLED);
    CHECK(b.bufs[0].data != NULL && b.bufs[0].data_len == 4);
    CHECK(b.bufs[1].data == NULL);
    CHECK_STATUS(os_release(s, &present), OS_OK);

    /* Reset re-arms it: waits time out again, and a blocked get_many and
     * wait are each cancelled from this thread. */
    CHECK_STATUS(os_canceller_reset(c), OS_OK);
    CHECK_STATUS(os_get_cancellable(s, &absent, 1, c, &buf), OS_TIMEOUT);
    b = (struct blocked){.s = s, .c = c, .call = BLOCKED_GET_MANY, .ids = {present, absent}};
    CHECK(run_blocked(&b, c, 50));
    CHECK_STATUS(b.status, OS_CANCELLED);
    CHECK(b.bufs[0].data != NULL && b.bufs[1].data == NULL);
    CHECK_STATUS(os_release(s, &present), OS_OK);

    CHECK_STATUS(os_canceller_reset(c), OS_OK);
    b = (struct blocked){.s = s, .c = c, .call = BLOCKED_WAIT, .ids = {present, absent}};
    CHECK(run_blocked(&b, c, 50));
    CHECK_STATUS(b.status, OS_CANCELLED);
    CHECK(b.ready[0] && !b.ready[1]);

    os_canceller_free(c);
    CHECK_STATUS(os_delete(s, &present), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK);
}

static void test_list_and_stats(void) {
    os_store *s = open_store(16 << 20);
    os_object_id id;
    for (int i = 0; i < 10; i++) CHECK_STATUS(os_put(s, "0123456789", (size_t)i, &id), OS_OK);
    uint8_t *w;
    os_object_id pending = make_id(0x31);
    CHECK_STATUS(os_create(s, &pending, 3, NULL, 0, &w), OS_OK);
    uint64_t cursor = 0;
    size_t total = 0, unsealed = 0, n = 0;
    os_object_info info[3] = {{.struct_size = sizeof info[0]}};
    int calls = 0;
    while (cursor != OS_LIST_END && calls++ < 1000000) {
        CHECK_STATUS(os_list(s, &cursor, info, 3, &n), OS_OK);
        CHECK(n <= 3);
        for (size_t i = 0; i < n; i++) {
            total++;
            if (info[i].state == OS_OBJECT_UNSEALED) unsealed++;
        }
    }
    CHECK(total == 11 && unsealed == 1);
    /* What each entry says of an object's references and flags. */
    os_object_id counted, cached;
    CHECK_STATUS(os_put_ex(s, "c", 1, NULL, 0, OS_OBJECT_REFCOUNTED, &counted), OS_OK);
    CHECK_STATUS(os_put_ex(s, "e", 1, NULL, 0, OS_OBJECT_EVICTABLE, &cached), OS_OK);
    CHECK_STATUS(os_ref(s, &id), OS_OK);
    size_t checked = 0;
    cursor = 0;
    while (cursor != OS_LIST_END) {
        info[0].struct_size = sizeof info[0];
        CHECK_STATUS(os_list(s, &cursor, info, 3, &n), OS_OK);
        for (size_t i = 0; i < n; i++) {
            CHECK(info[i].struct_size == sizeof info[i]);
            if (memcmp(&info[i].id, &counted, sizeof counted) == 0) {
                CHECK(info[i].flags == OS_OBJECT_REFCOUNTED && info[i].referencing_processes == 1);
                checked++;
            } else if (memcmp(&info[i].id, &cached, sizeof cached) == 0) {
                CHECK(info[i].flags == OS_OBJECT_EVICTABLE && info[i].referencing_processes == 0);
                checked++;
            } else if (memcmp(&info[i].id, &id, sizeof id) == 0) {
                CHECK(info[i].flags == 0 && info[i].referencing_processes == 1); /* a plain object, referenced */
                checked++;
            } else {
                CHECK(info[i].flags == 0 && info[i].referencing_processes == 0);
            }
        }
    }
    CHECK(checked == 3);
    CHECK_STATUS(os_unref(s, &id), OS_OK);
    CHECK_STATUS(os_unref(s, &counted), OS_OK);
    CHECK_STATUS(os_delete(s, &cached), OS_OK);
    os_store_stats st = {.struct_size = sizeof st};
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.object_count == 10 && st.unsealed_count == 1 && st.attached_processes == 1);
    CHECK(st.capacity_bytes == (16 << 20) && st.max_processes == 256);
    CHECK_STATUS(os_collect(s), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK); /* aborts the unsealed object */
    s = open_store(0);
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.unsealed_count == 0 && st.object_count == 10);
    CHECK_STATUS(os_close(s), OS_OK);
}

static void test_full_and_too_large(void) {
    os_store *s = open_store(2 << 20);
    static uint8_t big[3 << 20];
    os_object_id id;
    CHECK_STATUS(os_put(s, big, sizeof big, &id), OS_TOO_LARGE);
    int stored = 0;
    os_status st;
    while ((st = os_put(s, big, 100000, &id)) == OS_OK) stored++;
    CHECK_STATUS(st, OS_OUT_OF_MEMORY);
    CHECK(stored >= 10);
    CHECK(strstr(os_last_error(), "full") != NULL);
    CHECK_STATUS(os_close(s), OS_OK);
}

static void test_open_flags_and_mode(void) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/objstore-ctest-%d", getpid());
    os_options opts = os_options_default();
    opts.capacity_bytes = 1 << 20;
    opts.mode = 0640;
    opts.flags = OS_OPEN_CREATE_ONLY;
    os_store *s = NULL, *t = NULL;
    CHECK_STATUS(os_open(path, &opts, &s), OS_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0640);
    CHECK_STATUS(os_open(path, &opts, &t), OS_ALREADY_EXISTS);
    opts.flags = OS_OPEN_ATTACH_ONLY;
    CHECK_STATUS(os_open(path, &opts, &t), OS_OK);
    os_object_id id;
    os_buffer buf;
    CHECK_STATUS(os_put(s, "shared", 6, &id), OS_OK);
    CHECK_STATUS(os_get(t, &id, 0, &buf), OS_OK);
    CHECK(buf.data_len == 6);
    CHECK_STATUS(os_release(t, &id), OS_OK);
    CHECK_STATUS(os_close(t), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK);
    CHECK_STATUS(os_destroy(path), OS_OK);
    CHECK(access(path, F_OK) != 0);

    /* A file that is not a store. */
    FILE *f = fopen(path, "w");
    fputs("not a store", f);
    fclose(f);
    CHECK_STATUS(os_open(path, NULL, &s), OS_CORRUPT);
    unlink(path);
}

static void test_fork_child_reopens(void) {
    os_store *s = open_store(16 << 20);
    os_object_id id;
    CHECK_STATUS(os_put(s, "parent", 6, &id), OS_OK);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        os_buffer buf;
        /* The inherited handle belongs to the parent. */
        if (os_get(s, &id, 0, &buf) != OS_INVALID_ARGUMENT) bad |= 1;
        os_store *mine = NULL;
        if (os_open(store_name, NULL, &mine) != OS_OK) bad |= 2;
        if (mine && os_get(mine, &id, 0, &buf) != OS_OK) bad |= 4;
        if (mine && (buf.data_len != 6 || memcmp(buf.data, "parent", 6) != 0)) bad |= 8;
        if (mine) os_close(mine);
        os_close(s); /* frees the child's copy only */
        _exit(bad);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    os_buffer buf;
    CHECK_STATUS(os_get(s, &id, 0, &buf), OS_OK);
    CHECK_STATUS(os_release(s, &id), OS_OK);
    os_store_stats st = {.struct_size = sizeof st};
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.attached_processes == 1 && st.pinned_count == 0);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* An error object outlives the thread that made it, and the thread's later
 * failures. */
struct failing_get {
    os_store *s;
    os_object_id id;
    os_status status;
    os_error *err;
};

static void *fail_a_get(void *arg) {
    struct failing_get *f = arg;
    os_buffer buf;
    f->status = os_get_e(f->s, &f->id, 0, &buf, &f->err);
    return NULL;
}

static void test_error_objects(void) {
    os_store *s = open_store(8 << 20);
    os_object_id absent = make_id(0x42), id;
    char hex[41];
    os_id_to_hex(&absent, hex);
    os_buffer buf;

    /* A failure: the status, and the message naming the ID. */
    os_error *err = NULL;
    CHECK_STATUS(os_get_e(s, &absent, 0, &buf, &err), OS_NOT_FOUND);
    CHECK(err != NULL);
    CHECK(os_error_status(err) == OS_NOT_FOUND);
    CHECK(strstr(os_error_message(err), hex) != NULL);
    /* The thread's last error says the same. */
    CHECK(strcmp(os_last_error(), os_error_message(err)) == 0);

    /* Later failures on this thread leave it as it was. */
    const char *first = os_error_message(err);
    CHECK_STATUS(os_open("", NULL, &s), OS_INVALID_ARGUMENT);
    CHECK(strstr(first, hex) != NULL && strstr(os_error_message(err), hex) != NULL);
    os_error_free(err);

    /* Success sets *err to NULL, whatever it held. */
    err = (os_error *)&buf; /* any pointer that is not NULL */
    CHECK_STATUS(os_put_e(s, "x", 1, &id, &err), OS_OK);
    CHECK(err == NULL);

    /* err may be NULL: the status alone. */
    CHECK_STATUS(os_get_e(s, &absent, 0, &buf, NULL), OS_NOT_FOUND);

    /* NULL errors: OK, "", and free does nothing. */
    CHECK(os_error_status(NULL) == OS_OK);
    CHECK(strcmp(os_error_message(NULL), "") == 0);
    os_error_free(NULL);

    /* Made on one thread, read and freed on another after it ended. */
    struct failing_get f[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (struct failing_get){s, make_id((uint8_t)(0x60 + i)), OS_OK, NULL};
        pthread_create(&t[i], NULL, fail_a_get, &f[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        char want[41];
        os_id_to_hex(&f[i].id, want);
        CHECK_STATUS(f[i].status, OS_NOT_FOUND);
        CHECK(f[i].err != NULL && os_error_status(f[i].err) == OS_NOT_FOUND);
        CHECK(strstr(os_error_message(f[i].err), want) != NULL);
        os_error_free(f[i].err);
    }

    /* Other calls: the argument errors and the store-level ones. */
    CHECK_STATUS(os_put_e(NULL, "x", 1, &id, &err), OS_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(os_error_message(err), "store is NULL") != NULL);
    os_error_free(err);
    os_options opts = os_options_default();
    opts.flags = OS_OPEN_ATTACH_ONLY;
    os_store *none = NULL;
    CHECK_STATUS(os_open_e("objstore-ctest-no-such-store", &opts, &none, &err), OS_NOT_FOUND);
    CHECK(none == NULL && err != NULL && strstr(os_error_message(err), "objstore-ctest-no-such-store") != NULL);
    os_error_free(err);
    CHECK_STATUS(os_check_version_e(OS_VERSION_NUMBER + 1, &err), OS_INCOMPATIBLE);
    CHECK(err != NULL && os_error_status(err) == OS_INCOMPATIBLE);
    os_error_free(err);
    CHECK_STATUS(os_delete_e(s, &id, &err), OS_OK);
    CHECK(err == NULL);
    CHECK_STATUS(os_close_e(s, &err), OS_OK);
    CHECK(err == NULL);
}

/* Processes, pin holders and the audit, with a second process pinning. */
static void test_inspect(void) {
    os_store *s = open_store(16 << 20);
    os_object_id id, absent = make_id(0x5c);
    CHECK_STATUS(os_put(s, "pinned", 6, &id), OS_OK);

    os_process_info procs[4] = {{.struct_size = sizeof procs[0]}};
    size_t n = 99;
    CHECK_STATUS(os_processes(s, procs, 4, &n), OS_OK);
    CHECK(n == 1 && procs[0].pid == (uint32_t)getpid() && procs[0].struct_size == sizeof procs[0]);
    CHECK_STATUS(os_pin_holders(s, &id, procs, 4, &n), OS_OK);
    CHECK(n == 0);
    CHECK_STATUS(os_pin_holders(s, &absent, procs, 4, &n), OS_NOT_FOUND);
    CHECK_STATUS(os_processes(s, NULL, 4, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_processes(s, procs, 4, NULL), OS_INVALID_ARGUMENT);
    /* Bad outputs are refused before the object is looked up. */
    CHECK_STATUS(os_pin_holders(s, &absent, NULL, 4, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_pin_holders(s, &absent, procs, 4, NULL), OS_INVALID_ARGUMENT);

    /* A child attaches, pins the object and waits for a byte on a pipe. */
    int ready[2], go[2];
    CHECK(pipe(ready) == 0 && pipe(go) == 0);
    pid_t child = fork();
    if (child == 0) {
        os_store *mine = NULL;
        os_buffer buf;
        char c = 0;
        int ok = os_open(store_name, NULL, &mine) == OS_OK && os_get(mine, &id, 0, &buf) == OS_OK;
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) ok = 0;
        if (mine) os_close(mine);
        _exit(ok ? 0 : 1);
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    os_buffer buf;
    CHECK_STATUS(os_get(s, &id, 0, &buf), OS_OK);

    CHECK_STATUS(os_processes(s, NULL, 0, &n), OS_OK); /* count only */
    CHECK(n == 2);
    CHECK_STATUS(os_pin_holders(s, &id, procs, 4, &n), OS_OK);
    CHECK(n == 2);
    int saw_child = 0, saw_self = 0;
    for (size_t i = 0; i < n && i < 4; i++) {
        saw_child |= procs[i].pid == (uint32_t)child;
        saw_self |= procs[i].pid == (uint32_t)getpid();
    }
    CHECK(saw_child && saw_self);
    /* A short array gets the first entries and the whole count. */
    os_process_info one[1] = {{.struct_size = sizeof one[0]}};
    CHECK_STATUS(os_pin_holders(s, &id, one, 1, &n), OS_OK);
    CHECK(n == 2 && (one[0].pid == (uint32_t)child || one[0].pid == (uint32_t)getpid()));
    CHECK_STATUS(os_release(s, &id), OS_OK);
    CHECK_STATUS(os_pin_holders(s, &id, procs, 4, &n), OS_OK);
    CHECK(n == 1 && procs[0].pid == (uint32_t)child);

    CHECK(write(go[1], "x", 1) == 1);
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_STATUS(os_pin_holders(s, &id, procs, 4, &n), OS_OK);
    CHECK(n == 0);
    close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);

    /* A sound, quiet store: no problem, an empty report. */
    char report[256];
    size_t problems = 99, needed = 0;
    CHECK_STATUS(os_audit(s, report, sizeof report, &problems, &needed), OS_OK);
    CHECK(problems == 0 && report[0] == '\0' && needed == 1);
    CHECK_STATUS(os_audit(s, NULL, 0, &problems, NULL), OS_OK);
    CHECK_STATUS(os_audit(s, NULL, 8, &problems, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_audit(s, report, sizeof report, NULL, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* The audit finds spilled objects whose spill files were removed. */
static void test_audit_finds_problems(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/objstore-ctest-spill-%d", getpid());
    os_destroy(store_name);
    os_options opts = os_options_default();
    opts.capacity_bytes = 2 << 20;
    opts.spill_dir = dir;
    os_store *s = NULL;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_OK);
    CHECK(os_spill_dir(s) != NULL && strcmp(os_spill_dir(s), dir) == 0);
    CHECK(os_remote_url(s) == NULL);
    static uint8_t block[100000];
    os_object_id id;
    os_store_stats st = {.struct_size = sizeof st};
    for (int i = 0; i < 100; i++) {
        CHECK_STATUS(os_put(s, block, sizeof block, &id), OS_OK);
        CHECK_STATUS(os_stats(s, &st), OS_OK);
        if (st.spilled_count >= 3) break;
    }
    CHECK(st.spilled_count >= 3 && st.spills_total >= st.spilled_count);

    /* An operator removes the spill files. */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -f %s/*", dir);
    CHECK(system(cmd) == 0);

    size_t problems = 0, needed = 0;
    char report[4096];
    CHECK_STATUS(os_audit(s, report, sizeof report, &problems, &needed), OS_OK);
    CHECK(problems == st.spilled_count);
    CHECK(strstr(report, "no spill file") != NULL);
    CHECK(needed == strlen(report) + 1);
    /* A short buffer gets the start of the report, terminated. */
    char shortbuf[16];
    CHECK_STATUS(os_audit(s, shortbuf, sizeof shortbuf, &problems, &needed), OS_OK);
    CHECK(strlen(shortbuf) == sizeof shortbuf - 1 && strncmp(shortbuf, report, sizeof shortbuf - 1) == 0);
    CHECK(needed > sizeof shortbuf);
    CHECK_STATUS(os_close(s), OS_OK);
    CHECK_STATUS(os_destroy(store_name), OS_OK);
    rmdir(dir);
}

/* References and tickets: a REFCOUNTED object goes with its last
 * reference; a ticket moves one and is taken once; each failure has its
 * status. */
static void test_references(void) {
    os_store *s = open_store(16 << 20);
    os_store *t = NULL;
    os_options opts = os_options_default();
    CHECK_STATUS(os_open(store_name, &opts, &t), OS_OK);
    os_object_id id, other, absent = make_id(0x7e);
    os_store_stats st = {.struct_size = sizeof st};
    uint64_t ticket = 0;
    uint8_t *p = NULL;

    CHECK_STATUS(os_put_ex(s, "counted", 7, "m", 1, OS_OBJECT_REFCOUNTED, &id), OS_OK);
    CHECK_STATUS(os_put_ex(s, "x", 1, NULL, 0, 1u << 9, &other), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_put_ex(s, "plain", 5, NULL, 0, 0, &other), OS_OK);
    CHECK_STATUS(os_unref(s, &other), OS_NOT_FOUND);
    CHECK_STATUS(os_ref(s, &absent), OS_NOT_FOUND);
    CHECK_STATUS(os_ref(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_ref_give(s, &id, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.object_count == 2 && st.references == 1 && st.referenced_count == 1 && st.tickets == 0);

    /* Hand the creator's reference to the other handle by ticket. */
    uint64_t outstanding = 7;
    CHECK_STATUS(os_tickets_outstanding(s, &outstanding), OS_OK);
    CHECK(outstanding == 0);
    CHECK_STATUS(os_tickets_wait(s, 0, NULL), OS_OK);
    CHECK_STATUS(os_ref_give(s, &id, &ticket), OS_OK);
    CHECK_STATUS(os_unref(s, &id), OS_NOT_FOUND);
    CHECK_STATUS(os_tickets_outstanding(s, &outstanding), OS_OK);
    CHECK(outstanding == 1);
    CHECK_STATUS(os_tickets_outstanding(s, NULL), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_tickets_outstanding(NULL, &outstanding), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_tickets_wait(s, 10, NULL), OS_TIMEOUT);
    {
        os_canceller *c = NULL;
        CHECK_STATUS(os_canceller_new(&c), OS_OK);
        os_canceller_cancel(c);
        os_error *werr = NULL;
        CHECK_STATUS(os_tickets_wait_e(s, -1, c, &werr), OS_CANCELLED);
        CHECK(werr != NULL);
        os_error_free(werr);
        os_canceller_free(c);
    }
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.tickets == 1 && st.object_count == 2);
    CHECK_STATUS(os_ref_take(t, &other, ticket), OS_NOT_FOUND);
    CHECK_STATUS(os_ref_take(t, &id, ticket ^ 1), OS_NOT_FOUND);
    CHECK_STATUS(os_ref_take(t, &id, ticket), OS_OK);
    CHECK_STATUS(os_ref_take(t, &id, ticket), OS_NOT_FOUND);
    CHECK_STATUS(os_tickets_wait(s, -1, NULL), OS_OK);
    CHECK_STATUS(os_tickets_outstanding_e(t, &outstanding, NULL), OS_OK);
    CHECK(outstanding == 0);
    CHECK_STATUS(os_ref(t, &id), OS_OK);
    CHECK_STATUS(os_unref(t, &id), OS_OK);
    CHECK_STATUS(os_unref(t, &id), OS_OK);
    bool present = true;
    CHECK_STATUS(os_contains(s, &id, &present), OS_OK);
    CHECK(!present);
    CHECK_STATUS(os_ref(t, &id), OS_NOT_FOUND);

    /* Created in place: the creator's reference from create on. */
    os_object_id made;
    CHECK_STATUS(os_create_ex(s, NULL, 16, NULL, 0, OS_OBJECT_REFCOUNTED, &made, &p), OS_OK);
    memset(p, 3, 16);
    CHECK_STATUS(os_unref(s, &made), OS_NOT_SEALED);
    CHECK_STATUS(os_seal(s, &made), OS_OK);
    os_buffer buf;
    CHECK_STATUS(os_get(t, &made, 0, &buf), OS_OK);
    CHECK_STATUS(os_unref(s, &made), OS_OK);
    CHECK_STATUS(os_contains(s, &made, &present), OS_OK);
    CHECK(present); /* pinned: kept until the release */
    CHECK_STATUS(os_release(t, &made), OS_OK);
    CHECK_STATUS(os_contains(s, &made, &present), OS_OK);
    CHECK(!present);
    os_object_id chosen = make_id(0x31);
    CHECK_STATUS(os_create_ex(s, &chosen, 8, NULL, 0, OS_OBJECT_REFCOUNTED, &made, &p), OS_OK);
    CHECK(memcmp(made.bytes, chosen.bytes, OS_ID_SIZE) == 0);
    CHECK_STATUS(os_abort(s, &chosen), OS_OK);
    CHECK_STATUS(os_unref(s, &chosen), OS_NOT_FOUND);

    /* A ticket outlives its handle while its process is attached. */
    CHECK_STATUS(os_put_ex(t, "given", 5, NULL, 0, OS_OBJECT_REFCOUNTED, &id), OS_OK);
    CHECK_STATUS(os_ref_give_e(t, &id, &ticket, NULL), OS_OK);
    CHECK_STATUS(os_close(t), OS_OK);
    CHECK_STATUS(os_ref_take(s, &id, ticket), OS_OK);
    os_error *err = NULL;
    CHECK_STATUS(os_unref_e(s, &id, &err), OS_OK);
    CHECK(err == NULL);
    CHECK_STATUS(os_unref_e(s, &id, &err), OS_NOT_FOUND);
    CHECK(err != NULL);
    os_error_free(err);
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.object_count == 1 && st.references == 0 && st.tickets == 0);

    /* Evictable objects make room before anything else (no spill directory
     * here: without them the put would fail). */
    static uint8_t chunk[(1 << 20) - 4096];
    CHECK_STATUS(os_delete(s, &other), OS_OK);
    os_object_id cached[16];
    int n = 0;
    while (n < 16 && os_put_ex(s, chunk, sizeof chunk, NULL, 0, OS_OBJECT_EVICTABLE, &cached[n]) == OS_OK) n++;
    CHECK(n >= 14);
    CHECK_STATUS(os_put(s, chunk, sizeof chunk, &id), OS_OK);
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.evictions_total >= 1);

    /* os_wait: n of m, no pins; ready written on a timeout too. */
    os_object_id w[3] = {make_id(0x61), make_id(0x62), make_id(0x63)};
    bool ready[3] = {true, true, true};
    size_t nready = 99;
    CHECK_STATUS(os_put_ex(s, "b", 1, NULL, 0, 0, &id), OS_OK);
    w[1] = id;
    CHECK_STATUS(os_wait(s, w, 3, 2, 0, ready, &nready), OS_TIMEOUT);
    CHECK(!ready[0] && ready[1] && !ready[2] && nready == 1);
    CHECK_STATUS(os_wait(s, w, 3, 1, 20, ready, NULL), OS_OK);
    CHECK(ready[1]);
    CHECK_STATUS(os_wait(s, w, 3, 4, 0, ready, &nready), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_wait(s, NULL, 0, 0, 0, NULL, &nready), OS_OK);
    CHECK(nready == 0);
    CHECK_STATUS(os_wait(s, w, 3, 1, 0, NULL, &nready), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_stats(s, &st), OS_OK);
    CHECK(st.pinned_count == 0);
    CHECK(strcmp(os_status_str(OS_CANCELLED), "cancelled") == 0);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* The remote tier over a file:// remote: publish from one store, get in
 * another (a second machine); the statuses of the calls' bad arguments. The
 * library make builds has the remote tier. */
static void test_remote(void) {
    char dir[] = "/tmp/objstore-ctest-remote-XXXXXX", url[64], other[160];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof url, "file://%s", dir);
    snprintf(other, sizeof other, "%s-b", store_name);
    os_destroy(store_name);
    os_destroy(other);
    os_options opts = os_options_default();
    opts.capacity_bytes = 8 << 20;
    opts.remote_url = url;
    os_store *a = NULL, *b = NULL;
    CHECK_STATUS(os_open(store_name, &opts, &a), OS_OK);
    CHECK_STATUS(os_open(other, &opts, &b), OS_OK);
    /* The URL is the store's, fixed at creation: an attacher that names
     * none sees it too. The strings belong to their handles. */
    CHECK(os_remote_url(a) != NULL && strcmp(os_remote_url(a), url) == 0);
    os_options attach = os_options_default();
    attach.flags = OS_OPEN_ATTACH_ONLY;
    os_store *a2 = NULL;
    CHECK_STATUS(os_open(store_name, &attach, &a2), OS_OK);
    CHECK(os_remote_url(a2) != NULL && strcmp(os_remote_url(a2), url) == 0);
    CHECK(os_spill_dir(a2) == NULL);
    CHECK_STATUS(os_close(a2), OS_OK);
    CHECK(os_remote_url(NULL) == NULL && os_spill_dir(NULL) == NULL);
    static uint8_t data[300000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 1);
    os_object_id id;
    CHECK_STATUS(os_put_with_meta(a, data, sizeof data, "meta", 4, &id), OS_OK);
    CHECK_STATUS(os_publish(a, &id, 10000), OS_OK);
    CHECK_STATUS(os_publish(a, &id, 0), OS_OK); /* there already */
    os_buffer buf;
    CHECK_STATUS(os_get(b, &id, 10000, &buf), OS_OK);
    CHECK(buf.data_len == sizeof data && memcmp(buf.data, data, sizeof data) == 0);
    CHECK(buf.meta_len == 4 && memcmp(buf.meta, "meta", 4) == 0);
    CHECK_STATUS(os_release(b, &id), OS_OK);
    os_store_stats st = {.struct_size = sizeof st};
    CHECK_STATUS(os_stats(b, &st), OS_OK);
    CHECK(st.fetches_total == 1 && st.fetched_bytes == sizeof data + 4);
    st.struct_size = sizeof st;
    CHECK_STATUS(os_stats(a, &st), OS_OK);
    CHECK(st.publishes_total >= 1); /* a small object is uploaded again */
    /* Absent everywhere: NOT_FOUND at once with timeout 0. */
    os_object_id missing = make_id(0xe7);
    CHECK_STATUS(os_get(b, &missing, 0, &buf), OS_NOT_FOUND);
    CHECK_STATUS(os_publish(a, &missing, 0), OS_NOT_FOUND);
    CHECK_STATUS(os_unpublish(a, &id, 0), OS_OK);
    CHECK_STATUS(os_unpublish(a, &id, 0), OS_NOT_FOUND);
    os_error *err = NULL;
    CHECK_STATUS(os_unpublish_e(a, &id, 0, &err), OS_NOT_FOUND);
    CHECK(err != NULL && os_error_status(err) == OS_NOT_FOUND);
    os_error_free(err);
    CHECK_STATUS(os_publish(NULL, &id, 0), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_publish(a, NULL, 0), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_unpublish(NULL, &id, 0), OS_INVALID_ARGUMENT);
    /* Fixed at creation: another URL is refused; a store without a remote
     * cannot publish. */
    opts.remote_url = "file:///tmp/objstore-ctest-elsewhere";
    os_store *c = NULL;
    CHECK_STATUS(os_open(store_name, &opts, &c), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "fixed when the store is created") != NULL);
    CHECK_STATUS(os_close(a), OS_OK);
    CHECK_STATUS(os_close(b), OS_OK);
    os_destroy(other);
    os_store *plain = open_store(1 << 20);
    CHECK_STATUS(os_put(plain, "x", 1, &id), OS_OK);
    CHECK_STATUS(os_publish(plain, &id, 0), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "no remote") != NULL);
    CHECK(os_remote_url(plain) == NULL && os_spill_dir(plain) == NULL);
    CHECK_STATUS(os_close(plain), OS_OK);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    snprintf(store_name, sizeof store_name, "objstore-ctest-%d", getpid());
    os_destroy(store_name);
    test_bad_values();
    test_null_arguments();
    os_destroy(store_name);
    test_hex();
    test_round_trip();
    test_get_many();
    test_wait();
    test_wait_set();
    test_wait_set_add();
    test_cancel();
    test_list_and_stats();
    os_destroy(store_name);
    test_full_and_too_large();
    os_destroy(store_name);
    test_open_flags_and_mode();
    test_fork_child_reopens();
    test_error_objects();
    test_inspect();
    test_audit_finds_problems();
    test_references();
    os_destroy(store_name);
    test_remote();
    os_destroy(store_name);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C API tests passed\n");
    return 0;
}
