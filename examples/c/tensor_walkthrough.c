/*
 * The tensor walk-through, in C.
 *
 * A driver puts 15 float32 tensors of shape (i, 8, 8), i = 1..15, into a
 * fresh store, each with its dtype and shape as metadata, and hands their
 * IDs (as hex) to a pool of worker processes: this same program, started
 * again with fork() + exec() as `tensor_walkthrough worker STORE HEX...`.
 * Each worker gets its tensors by ID (zero-copy), transposes the first two
 * axes, (i, 8, 8) -> (8, i, 8), puts each result as a new object (under an
 * ID derived from the input's), and writes "INPUT_HEX RESULT_HEX PID" lines
 * to its stdout, a pipe to the driver. The
 * driver then checks every result against a transpose it computes itself,
 * shows that the original objects are unchanged, prints a summary and
 * destroys the store. It exits non-zero on any mismatch.
 *
 * The formats are shared with the C++ walk-through (examples/cpp), so a
 * driver in one language can use workers in the other (--worker-exe):
 * - data: float32 values, row-major, native byte order;
 * - metadata: the text "float32 D0,D1,D2" (no NUL), e.g. "float32 1,8,8";
 * - values: a splitmix64 generator seeded with 42, one draw per value in
 *   order (tensor 1 first), value = (draw >> 40) / 2^24, in [0, 1);
 * - a result's ID: the input's ID with every bit flipped;
 * - the printed checksum: FNV-1a (64-bit) over all input bytes in order.
 *
 * Usage: tensor_walkthrough [--workers N] [--worker-exe PATH]
 */
#define _GNU_SOURCE
#include "tensor_example.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_WORKERS = 15 };

/* FNV-1a over bytes, continuing from `h`: a checksum of the inputs, which
 * the C and C++ walk-throughs print identically. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* ---- worker --------------------------------------------------------------- */

static int fail(const char *what, os_status st) {
    fprintf(stderr, "tensor_walkthrough[%d]: %s: %s: %s\n", (int)getpid(), what, os_status_str(st), os_last_error());
    return 1;
}

/* Transposes the tensor `hex` into a new object; prints "IN OUT PID". */
static int work_one(os_store *store, const char *hex) {
    os_object_id in_id, out_id;
    os_buffer in;
    os_status st;
    if ((st = os_id_from_hex(hex, &in_id)) != OS_OK) return fail("parse ID", st);
    if ((st = os_get(store, &in_id, 10000, &in)) != OS_OK) return fail("get input", st);

    int rc = 1;
    uint64_t dims[MAX_DIMS];
    int ndims = parse_meta(in.meta, in.meta_len, dims);
    if (ndims != 3 || dims[0] * dims[1] * dims[2] * sizeof(float) != in.data_len) {
        fprintf(stderr, "tensor_walkthrough: %s: bad metadata '%.*s' for %zu bytes\n", hex, (int)in.meta_len,
                (const char *)in.meta, in.data_len);
        goto out;
    }
    uint64_t out_dims[3] = {dims[1], dims[0], dims[2]};
    char meta[64];
    size_t meta_len = format_meta(meta, sizeof meta, out_dims, 3);
    /* Build the result in place: create, write, seal (one pass, no copy).
     * Data starts 64-byte aligned, so it can be used as floats directly. */
    result_id_of(&in_id, &out_id);
    uint8_t *dst;
    if ((st = os_create(store, &out_id, in.data_len, meta, meta_len, &dst)) != OS_OK) {
        fail("create result", st);
        goto out;
    }
    transpose01((const float *)in.data, (float *)dst, dims[0], dims[1], dims[2]);
    if ((st = os_seal(store, &out_id)) != OS_OK) {
        fail("seal result", st);
        goto out;
    }
    char out_hex[41];
    os_id_to_hex(&out_id, out_hex);
    printf("%s %s %d\n", hex, out_hex, (int)getpid());
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    os_release(store, &in_id);
    return rc;
}

static int worker_main(const char *store_name, int nhex, char **hex) {
    os_options opts = os_options_default();
    opts.flags = OS_OPEN_ATTACH_ONLY;
    os_store *store;
    os_status st = os_open(store_name, &opts, &store);
    if (st != OS_OK) return fail("attach", st);
    int rc = 0;
    for (int i = 0; i < nhex && rc == 0; i++) rc = work_one(store, hex[i]);
    os_close(store);
    return rc;
}

/* ---- driver --------------------------------------------------------------- */

struct tensor {
    uint64_t rows;     /* i: shape (i, 8, 8) */
    float *values;     /* what the driver put */
    os_object_id id;   /* the input object */
    char hex[41];
    os_object_id result;
    bool has_result;
    int worker_pid;
};

struct worker {
    pid_t pid;
    FILE *out; /* its stdout */
};

/* Starts `exe worker STORE HEX...` for the tensors w, w + n, w + 2n, ... */
static int spawn_worker(struct worker *w, const char *exe, const char *store_name, struct tensor *t, int first,
                        int step) {
    char *argv[TENSORS + 4];
    int argc = 0;
    argv[argc++] = (char *)exe;
    argv[argc++] = "worker";
    argv[argc++] = (char *)store_name;
    for (int i = first; i < TENSORS; i += step) argv[argc++] = t[i].hex;
    argv[argc] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* The child must not use the driver's store handle; it execs a fresh
         * program that attaches by name. */
        dup2(fds[1], STDOUT_FILENO);
        execv(exe, argv);
        fprintf(stderr, "tensor_walkthrough: exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    w->pid = pid;
    w->out = fdopen(fds[0], "r");
    return w->out ? 0 : -1;
}

/* Reads a worker's "IN OUT PID" lines into the tensors they name. */
static int read_results(struct worker *w, struct tensor *t) {
    char in_hex[64], out_hex[64];
    int pid, found = 0;
    while (fscanf(w->out, "%63s %63s %d", in_hex, out_hex, &pid) == 3) {
        int i = 0;
        while (i < TENSORS && strcmp(t[i].hex, in_hex) != 0) i++;
        if (i == TENSORS || os_id_from_hex(out_hex, &t[i].result) != OS_OK) {
            fprintf(stderr, "driver: unexpected line from worker %d: %s %s\n", (int)w->pid, in_hex, out_hex);
            return -1;
        }
        t[i].has_result = true;
        t[i].worker_pid = pid;
        found++;
    }
    return found;
}

static int driver_main(int nworkers, const char *worker_exe) {
    char store_name[64];
    snprintf(store_name, sizeof store_name, "objstore-tensors-c-%d", (int)getpid());
    os_options opts = os_options_default();
    opts.capacity_bytes = 64u << 20;
    opts.flags = OS_OPEN_CREATE_ONLY;
    os_store *store;
    os_status st = os_open(store_name, &opts, &store);
    if (st != OS_OK) return fail("create store", st);
    printf("store /dev/shm/%s: 64 MiB, %d worker processes (%s)\n", store_name, nworkers, worker_exe);

    int errors = 0, spawned = 0;
    struct tensor t[TENSORS] = {0};
    struct worker workers[MAX_WORKERS] = {0};
    uint64_t rng = SEED, checksum = 0xcbf29ce484222325u;

    /* 1. Put the inputs. */
    for (int n = 0; n < TENSORS && errors == 0; n++) {
        t[n].rows = (uint64_t)n + 1;
        size_t count = t[n].rows * ROWS * COLS;
        t[n].values = malloc(count * sizeof(float));
        if (!t[n].values) {
            errors++;
            break;
        }
        for (size_t k = 0; k < count; k++) t[n].values[k] = next_value(&rng);
        uint64_t dims[3] = {t[n].rows, ROWS, COLS};
        char meta[64];
        size_t meta_len = format_meta(meta, sizeof meta, dims, 3);
        st = os_put_with_meta(store, t[n].values, count * sizeof(float), meta, meta_len, &t[n].id);
        if (st != OS_OK) {
            errors += fail("put", st);
            break;
        }
        os_id_to_hex(&t[n].id, t[n].hex);
        checksum = fnv1a(checksum, t[n].values, count * sizeof(float));
    }
    if (errors == 0)
        printf("put %d tensors of shape (i,8,8), i = 1..%d, float32, seed %u, checksum %016" PRIx64 "\n", TENSORS,
               TENSORS, SEED, checksum);

    /* 2. Hand the IDs to the workers and collect their result IDs. */
    for (int w = 0; w < nworkers && errors == 0; w++) {
        if (spawn_worker(&workers[w], worker_exe, store_name, t, w, nworkers) != 0) {
            fprintf(stderr, "driver: cannot start a worker: %s\n", strerror(errno));
            errors++;
        } else {
            spawned++;
        }
    }
    /* Each worker writes a few hundred bytes, far below a pipe's buffer, so
     * reading the pipes one after another cannot deadlock. */
    for (int w = 0; w < spawned; w++) {
        if (read_results(&workers[w], t) < 0) errors++;
        fclose(workers[w].out);
        int status = 0;
        waitpid(workers[w].pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "driver: worker %d failed (status %#x)\n", (int)workers[w].pid, status);
            errors++;
        }
    }

    /* 3. Check every result against a transpose computed here. */
    int results_ok = 0, originals_ok = 0;
    for (int n = 0; n < TENSORS && errors == 0; n++) {
        uint64_t in_dims[3] = {t[n].rows, ROWS, COLS}, out_dims[3] = {ROWS, t[n].rows, COLS};
        const char *why = "no result reported";
        float *expect = malloc(t[n].rows * ROWS * COLS * sizeof(float));
        bool ok = expect && t[n].has_result;
        if (ok) {
            transpose01(t[n].values, expect, t[n].rows, ROWS, COLS);
            ok = check_object(store, &t[n].result, 0, out_dims, expect, &why);
        }
        free(expect);
        /* IDs shortened to their last 10 hex digits (the first 24 of os_put's
         * IDs are a per-process prefix). */
        char result_hex[41] = "", result[16] = "(none)", worker[16] = "-";
        if (t[n].has_result) {
            os_id_to_hex(&t[n].result, result_hex);
            snprintf(result, sizeof result, "..%s", result_hex + 30);
            snprintf(worker, sizeof worker, "%d", t[n].worker_pid);
        }
        printf("  tensor %2d  (%2" PRIu64 ",8,8) -> (8,%2" PRIu64 ",8)  id ..%s -> %-12s  worker %-7s %s\n", n + 1,
               t[n].rows, t[n].rows, t[n].hex + 30, result, worker, ok ? "ok" : why);
        results_ok += ok;
        /* 4. The input is unchanged: objects are immutable. */
        if (check_object(store, &t[n].id, 0, in_dims, t[n].values, &why))
            originals_ok++;
        else
            printf("  tensor %2d: original changed: %s\n", n + 1, why);
    }
    printf("results correct: %d/%d; originals unchanged: %d/%d\n", results_ok, TENSORS, originals_ok, TENSORS);
    if (results_ok != TENSORS || originals_ok != TENSORS) errors++;

    for (int n = 0; n < TENSORS; n++) free(t[n].values);
    os_store_stats stats = {.struct_size = sizeof stats};
    if (os_stats(store, &stats) == OS_OK)
        printf("store: %" PRIu64 " objects, %" PRIu64 " pinned, %" PRIu64 " KiB used\n", stats.object_count,
               stats.pinned_count, stats.used_bytes >> 10);
    os_close(store);
    st = os_destroy(store_name);
    if (st != OS_OK) errors += fail("destroy store", st);
    printf("%s\n", errors ? "FAILED" : "OK: store destroyed");
    return errors ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "worker") == 0) return worker_main(argv[2], argc - 3, argv + 3);

    int nworkers = 4;
    const char *worker_exe = "/proc/self/exe";
    char self[4096];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            nworkers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--worker-exe") == 0 && i + 1 < argc) {
            worker_exe = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--workers N] [--worker-exe PATH]\n", argv[0]);
            return 2;
        }
    }
    if (nworkers < 1 || nworkers > MAX_WORKERS) {
        fprintf(stderr, "--workers must be 1..%d\n", MAX_WORKERS);
        return 2;
    }
    /* Resolve our own path now, so the workers run this very binary. */
    if (strcmp(worker_exe, "/proc/self/exe") == 0) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return 2;
        self[n] = '\0';
        worker_exe = self;
    }
    return driver_main(nworkers, worker_exe);
}
