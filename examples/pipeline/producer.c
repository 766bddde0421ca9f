/* producer.c: the C stage of the cross-language pipeline (README.md).
 *
 *   producer STORE TAG N [--timeout SECONDS]
 *
 * Opens the store STORE (creating it if no one has yet), then, for each
 * item i = 0..N-1, creates the input object under its derived ID (run TAG,
 * item i, stage 0), fills it in place with len(i) uint32 values and seals
 * it: an os_create + write + os_seal, no copy. Waiting workers wake at each
 * seal. The inputs stay in the store after the producer exits.
 *
 * An input that is already there (a producer run again with the same tag)
 * is checked value by value instead. Exit status 0 when all N inputs are in
 * the store with the right contents, 1 otherwise, 2 for a usage error.
 */
#define _POSIX_C_SOURCE 200809L
#include <objstore.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- The protocol (README.md, "Protocol"); the Go and C++ programs have their own copies. */

#define CAPACITY_BYTES (64ull << 20) /* of the store, if this program creates it */
#define MAX_ITEMS 1000 /* what fits the 64 MiB store, with room to spare */
enum { STAGE_INPUT = 0, STAGE_OUTPUT = 1 };

/* Bytes 0..8: the run tag, 8..16: the item index (both little-endian),
 * 16: the stage, 17..20: zero. */
static os_object_id item_id(uint64_t tag, uint64_t item, uint8_t stage) {
    os_object_id id;
    memset(&id, 0, sizeof id);
    for (int b = 0; b < 8; b++) {
        id.bytes[b] = (uint8_t)(tag >> (8 * b));
        id.bytes[8 + b] = (uint8_t)(item >> (8 * b));
    }
    id.bytes[16] = stage;
    return id;
}

/* Number of uint32 values of item i. */
static size_t item_len(uint64_t item) { return (size_t)(1000 + (item * 7919) % 9000); }

/* The SplitMix64 finaliser. */
static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Value k of input i. */
static uint32_t input_value(uint64_t tag, uint64_t item, uint64_t k) {
    return (uint32_t)(mix64(tag ^ (item << 32) ^ k) >> 32);
}

/* ---- Plumbing */

static const char *store_name;
static uint64_t tag;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(const char *what, os_status st) {
    fprintf(stderr, "producer (pid %ld): %s: %s: %s\n", (long)getpid(), what, os_status_str(st), os_last_error());
}

/* A decimal number in [min, max]. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s)) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    *out = (uint64_t)v;
    return true;
}

static int usage(void) {
    fprintf(stderr, "usage: producer STORE TAG N [--timeout SECONDS]\n"
                    "  TAG: the run tag (decimal, 64-bit); N: items (1..%d); timeout default 30\n",
            MAX_ITEMS);
    return 2;
}

/* Creates the store, or attaches if it exists, and says which: every
 * program of the pipeline may be the first. (A plain os_open does the same
 * without telling.) */
static os_status open_store(os_store **out, bool *created) {
    os_options opts = os_options_default();
    opts.capacity_bytes = CAPACITY_BYTES;
    for (int attempt = 0;; attempt++) {
        opts.flags = OS_OPEN_CREATE_ONLY;
        os_status st = os_open(store_name, &opts, out);
        if (st == OS_OK) {
            *created = true;
            return st;
        }
        if (st != OS_ALREADY_EXISTS) return st;
        opts.flags = OS_OPEN_ATTACH_ONLY;
        st = os_open(store_name, &opts, out);
        if (st == OS_OK) {
            *created = false;
            return st;
        }
        /* Destroyed between the two calls: try again. */
        if (st != OS_NOT_FOUND || attempt == 10) return st;
    }
}

/* An input already in the store: wait for its seal (another producer may
 * be writing it) and check it. */
static bool check_existing(os_store *store, uint64_t i, int64_t deadline) {
    os_object_id id = item_id(tag, i, STAGE_INPUT);
    int64_t left = deadline - now_ms();
    os_buffer buf;
    os_status st = os_get(store, &id, left > 0 ? left : 0, &buf);
    if (st != OS_OK) {
        fprintf(stderr, "producer: input %" PRIu64 " exists but cannot be read: %s: %s\n", i, os_status_str(st),
                os_last_error());
        return false;
    }
    size_t len = item_len(i);
    bool ok = buf.data_len == len * sizeof(uint32_t);
    const uint32_t *v = (const uint32_t *)(const void *)buf.data;
    for (size_t k = 0; ok && k < len; k++) ok = v[k] == input_value(tag, i, k);
    if (!ok) fprintf(stderr, "producer: input %" PRIu64 " exists with other contents\n", i);
    os_release(store, &id);
    return ok;
}

int main(int argc, char **argv) {
    const char *pos[3];
    int npos = 0;
    uint64_t timeout_s = 30;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--timeout") == 0) {
            if (a + 1 >= argc || !parse_u64(argv[++a], 1, 86400, &timeout_s)) return usage();
        } else if (npos < 3 && argv[a][0] != '-') {
            pos[npos++] = argv[a];
        } else {
            return usage();
        }
    }
    uint64_t n;
    if (npos != 3 || !parse_u64(pos[1], 0, UINT64_MAX, &tag) || !parse_u64(pos[2], 1, MAX_ITEMS, &n)) {
        return usage();
    }
    store_name = pos[0];
    int64_t start = now_ms(), deadline = start + (int64_t)timeout_s * 1000;

    os_store *store;
    bool created;
    os_status st = open_store(&store, &created);
    if (st != OS_OK) {
        fail("open", st);
        return 1;
    }
    printf("producer (pid %ld): %s store %s\n", (long)getpid(), created ? "created" : "attached to", store_name);
    fflush(stdout);

    uint64_t made = 0, existing = 0, bytes = 0;
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++) {
        os_object_id id = item_id(tag, i, STAGE_INPUT);
        size_t len = item_len(i);
        char meta[32];
        int meta_len = snprintf(meta, sizeof meta, "uint32 %zu", len);
        uint8_t *data;
        st = os_create(store, &id, len * sizeof(uint32_t), meta, (size_t)meta_len, &data);
        if (st == OS_ALREADY_EXISTS) {
            ok = check_existing(store, i, deadline);
            existing++;
            continue;
        }
        if (st != OS_OK) {
            fail("create", st);
            ok = false;
            break;
        }
        /* In place, in the shared mapping: data is 64-byte aligned. */
        uint32_t *v = (uint32_t *)(void *)data;
        for (size_t k = 0; k < len; k++) v[k] = input_value(tag, i, k);
        if ((st = os_seal(store, &id)) != OS_OK) {
            fail("seal", st);
            ok = false;
            break;
        }
        made++;
        bytes += len * sizeof(uint32_t);
    }

    if ((st = os_close(store)) != OS_OK) {
        fail("close", st);
        ok = false;
    }
    if (!ok) {
        printf("producer (pid %ld): FAILED after %" PRIu64 " of %" PRIu64 " inputs\n", (long)getpid(),
               made + existing, n);
        return 1;
    }
    printf("producer (pid %ld): run %" PRIu64 ": put %" PRIu64 " inputs (%" PRIu64 " bytes)", (long)getpid(), tag,
           made, bytes);
    if (existing) printf(", %" PRIu64 " already there and checked", existing);
    printf(" in %.3f s\n", (double)(now_ms() - start) / 1000.0);
    return 0;
}
