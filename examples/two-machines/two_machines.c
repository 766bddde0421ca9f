/*
 * The tensor walk-through (examples/c) across two "machines": two stores
 * that share nothing but a remote (an S3 bucket). run.sh runs each machine
 * in a mount namespace of its own, with a /dev/shm of its own, and calls
 * this program for each step:
 *
 *   two_machines produce STORE REMOTE_URL IDS_FILE        machine A
 *       creates STORE with the remote, puts the 15 float32 tensors of the
 *       walk-through, (i, 8, 8) for i = 1..15, publishes each, and writes
 *       their IDs (hex, one a line) to IDS_FILE.
 *   two_machines create STORE REMOTE_URL                  machine B
 *       creates STORE with the remote (the same URL).
 *   two_machines work STORE HEX...                        machine B, a worker
 *       gets each tensor by ID (absent here: the get fetches it from the
 *       remote), checks its bytes against the walk-through's generator,
 *       transposes the first two axes into a new object under the derived
 *       ID (the input's bits flipped), publishes it and prints
 *       "INPUT_HEX RESULT_HEX PID".
 *   two_machines consume STORE IDS_FILE RESULTS_FILE      machine A
 *       reads the workers' lines, gets every result (fetched from the
 *       remote) and checks it against a transpose computed here, and the
 *       originals against the generator.
 *   two_machines stats STORE     prints the store's counters, "name value"
 *   two_machines destroy STORE
 *
 * Endpoint and credentials of the remote come from the AWS_* environment
 * variables (README, "The remote tier"). The data formats are the
 * walk-through's: float32 row-major, metadata "float32 D0,D1,D2", values
 * from splitmix64 seeded with 42, value = (draw >> 40) / 2^24. Every
 * command exits non-zero on any error or wrong byte.
 */
#define _GNU_SOURCE
#include "tensor_example.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a get waits for an object to be published (and fetched). */
#define GET_TIMEOUT_MS 30000
#define PUBLISH_TIMEOUT_MS 30000

static float *inputs[TENSORS]; /* tensor n has shape (n + 1, 8, 8) */

/* The walk-through's inputs, as every machine can compute them. */
static void generate_inputs(void) {
    uint64_t rng = SEED;
    for (int n = 0; n < TENSORS; n++) {
        size_t count = (size_t)(n + 1) * ROWS * COLS;
        inputs[n] = malloc(count * sizeof(float));
        if (!inputs[n]) abort();
        for (size_t k = 0; k < count; k++) inputs[n][k] = next_value(&rng);
    }
}

static size_t tensor_bytes(int n) { return (size_t)(n + 1) * ROWS * COLS * sizeof(float); }

static const char *prog = "two_machines";

static int fail(const char *what, os_status st) {
    fprintf(stderr, "%s[%d]: %s: %s: %s\n", prog, (int)getpid(), what, os_status_str(st), os_last_error());
    return 1;
}

static int open_store(const char *name, const char *remote_url, uint32_t flags, os_store **store) {
    os_options opts = os_options_default();
    opts.capacity_bytes = 64u << 20;
    opts.remote_url = remote_url;
    opts.flags = flags;
    os_status st = os_open(name, &opts, store);
    return st == OS_OK ? 0 : fail(flags & OS_OPEN_CREATE_ONLY ? "create store" : "attach store", st);
}

/* ---- machine A: the producer ---------------------------------------------- */

static int produce(const char *name, const char *remote_url, const char *ids_file) {
    os_store *store;
    if (open_store(name, remote_url, OS_OPEN_CREATE_ONLY, &store)) return 1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ids_file);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        perror(tmp);
        os_close(store);
        return 1;
    }
    int rc = 0;
    for (int n = 0; n < TENSORS && rc == 0; n++) {
        uint64_t dims[3] = {(uint64_t)n + 1, ROWS, COLS};
        char meta[64], hex[41];
        size_t meta_len = format_meta(meta, sizeof meta, dims, 3);
        os_object_id id;
        os_status st = os_put_with_meta(store, inputs[n], tensor_bytes(n), meta, meta_len, &id);
        if (st != OS_OK) {
            rc = fail("put", st);
            break;
        }
        /* Upload it to the bucket, where any machine with this remote finds it. */
        if ((st = os_publish(store, &id, PUBLISH_TIMEOUT_MS)) != OS_OK) {
            rc = fail("publish", st);
            break;
        }
        os_id_to_hex(&id, hex);
        fprintf(out, "%s\n", hex);
    }
    if (fclose(out) != 0) rc = 1;
    /* Only complete lists are handed over: the rename is atomic. */
    if (rc == 0 && rename(tmp, ids_file) != 0) {
        perror(ids_file);
        rc = 1;
    }
    os_store_stats stats = {.struct_size = sizeof stats};
    if (rc == 0 && os_stats(store, &stats) == OS_OK)
        printf("A: put and published %d tensors of shape (i,8,8), i = 1..%d: %" PRIu64 " objects, %" PRIu64
               " published (%" PRIu64 " bytes)\n",
               TENSORS, TENSORS, stats.object_count, stats.publishes_total, stats.published_bytes);
    os_close(store);
    return rc;
}

/* ---- machine B: the workers ----------------------------------------------- */

static int work_one(os_store *store, const char *hex) {
    os_object_id in_id, out_id;
    os_buffer in;
    os_status st;
    if ((st = os_id_from_hex(hex, &in_id)) != OS_OK) return fail("parse ID", st);
    /* Not in this machine's store: the get fetches it from the remote. */
    if ((st = os_get(store, &in_id, GET_TIMEOUT_MS, &in)) != OS_OK) return fail("get input", st);

    int rc = 1;
    uint64_t dims[MAX_DIMS];
    int ndims = parse_meta(in.meta, in.meta_len, dims);
    if (ndims != 3 || dims[0] < 1 || dims[0] > TENSORS || dims[1] != ROWS || dims[2] != COLS ||
        in.data_len != tensor_bytes((int)dims[0] - 1)) {
        fprintf(stderr, "%s: %s: bad metadata '%.*s' for %zu bytes\n", prog, hex, (int)in.meta_len,
                (const char *)in.meta, in.data_len);
        goto out;
    }
    /* The bytes that came over the remote are the producer's. */
    if (memcmp(in.data, inputs[dims[0] - 1], in.data_len) != 0) {
        fprintf(stderr, "%s: %s: the fetched tensor (%" PRIu64 ",8,8) differs from the producer's\n", prog, hex,
                dims[0]);
        goto out;
    }
    uint64_t out_dims[3] = {dims[1], dims[0], dims[2]};
    char meta[64];
    size_t meta_len = format_meta(meta, sizeof meta, out_dims, 3);
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
    if ((st = os_publish(store, &out_id, PUBLISH_TIMEOUT_MS)) != OS_OK) {
        fail("publish result", st);
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

static int work(const char *name, int nhex, char **hex) {
    os_store *store;
    /* The remote URL is in the store's header: an attacher need not repeat it. */
    if (open_store(name, NULL, OS_OPEN_ATTACH_ONLY, &store)) return 1;
    int rc = 0;
    for (int i = 0; i < nhex && rc == 0; i++) rc = work_one(store, hex[i]);
    os_close(store);
    return rc;
}

/* ---- machine A: the consumer ---------------------------------------------- */

static int consume(const char *name, const char *ids_file, const char *results_file) {
    char hex[TENSORS][41], line[256];
    int n = 0;
    FILE *f = fopen(ids_file, "r");
    if (!f) {
        perror(ids_file);
        return 1;
    }
    while (n < TENSORS && fscanf(f, "%40s", hex[n]) == 1) n++;
    fclose(f);
    if (n != TENSORS) {
        fprintf(stderr, "%s: %s: %d IDs, expected %d\n", prog, ids_file, n, TENSORS);
        return 1;
    }
    /* The workers' lines: which result each input got, and from which worker. */
    os_object_id result[TENSORS];
    bool has_result[TENSORS] = {false};
    int worker[TENSORS] = {0};
    if (!(f = fopen(results_file, "r"))) {
        perror(results_file);
        return 1;
    }
    int errors = 0;
    while (fgets(line, sizeof line, f)) {
        char in_hex[64], out_hex[64];
        int pid, i = 0;
        if (sscanf(line, "%63s %63s %d", in_hex, out_hex, &pid) != 3) continue;
        while (i < TENSORS && strcmp(hex[i], in_hex) != 0) i++;
        if (i == TENSORS || has_result[i] || os_id_from_hex(out_hex, &result[i]) != OS_OK) {
            fprintf(stderr, "%s: unexpected line in %s: %s", prog, results_file, line);
            errors++;
            continue;
        }
        has_result[i] = true;
        worker[i] = pid;
    }
    fclose(f);

    os_store *store;
    if (open_store(name, NULL, OS_OPEN_ATTACH_ONLY, &store)) return 1;
    int results_ok = 0, originals_ok = 0;
    for (int i = 0; i < TENSORS; i++) {
        uint64_t rows = (uint64_t)i + 1;
        uint64_t in_dims[3] = {rows, ROWS, COLS}, out_dims[3] = {ROWS, rows, COLS};
        const char *why = "no result reported";
        os_object_id in_id, derived;
        if (os_id_from_hex(hex[i], &in_id) != OS_OK) {
            fprintf(stderr, "%s: %s: not an ID: %s\n", prog, ids_file, hex[i]);
            errors++;
            continue;
        }
        bool ok = has_result[i];
        if (ok) {
            result_id_of(&in_id, &derived);
            if (memcmp(&derived, &result[i], sizeof derived) != 0) {
                ok = false;
                why = "not the derived result ID";
            }
        }
        if (ok) {
            float *expect = malloc(tensor_bytes(i));
            if (!expect) abort();
            transpose01(inputs[i], expect, rows, ROWS, COLS);
            ok = check_object(store, &result[i], GET_TIMEOUT_MS, out_dims, expect, &why);
            free(expect);
        }
        printf("  tensor %2d  (%2" PRIu64 ",8,8) -> (8,%2" PRIu64 ",8)  id ..%s  B's worker %-7d %s\n", i + 1, rows,
               rows, hex[i] + 30, worker[i], ok ? "ok" : why);
        results_ok += ok;
        if (check_object(store, &in_id, GET_TIMEOUT_MS, in_dims, inputs[i], &why))
            originals_ok++;
        else
            printf("  tensor %2d: original changed: %s\n", i + 1, why);
    }
    printf("A: results correct: %d/%d; originals unchanged: %d/%d\n", results_ok, TENSORS, originals_ok, TENSORS);
    if (results_ok != TENSORS || originals_ok != TENSORS) errors++;
    os_close(store);
    return errors ? 1 : 0;
}

/* ---- both ------------------------------------------------------------------ */

static int stats(const char *name) {
    os_store *store;
    if (open_store(name, NULL, OS_OPEN_ATTACH_ONLY, &store)) return 1;
    os_store_stats s = {.struct_size = sizeof s};
    os_status st = os_stats(store, &s);
    os_close(store);
    if (st != OS_OK) return fail("stats", st);
    printf("objects %" PRIu64 "\npublishes %" PRIu64 "\npublished_bytes %" PRIu64 "\nfetches %" PRIu64
           "\nfetched_bytes %" PRIu64 "\n",
           s.object_count, s.publishes_total, s.published_bytes, s.fetches_total, s.fetched_bytes);
    return 0;
}

static int usage(void) {
    fprintf(stderr,
            "usage: %s produce STORE REMOTE_URL IDS_FILE | create STORE REMOTE_URL | work STORE HEX... |\n"
            "       consume STORE IDS_FILE RESULTS_FILE | stats STORE | destroy STORE\n",
            prog);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    const char *cmd = argv[1], *name = argv[2];
    generate_inputs();
    if (strcmp(cmd, "produce") == 0 && argc == 5) return produce(name, argv[3], argv[4]);
    if (strcmp(cmd, "create") == 0 && argc == 4) {
        os_store *store;
        if (open_store(name, argv[3], OS_OPEN_CREATE_ONLY, &store)) return 1;
        os_close(store);
        return 0;
    }
    if (strcmp(cmd, "work") == 0) return work(name, argc - 3, argv + 3);
    if (strcmp(cmd, "consume") == 0 && argc == 5) return consume(name, argv[3], argv[4]);
    if (strcmp(cmd, "stats") == 0 && argc == 3) return stats(name);
    if (strcmp(cmd, "destroy") == 0 && argc == 3) {
        os_status st = os_destroy(name);
        return st == OS_OK ? 0 : fail("destroy", st);
    }
    return usage();
}
