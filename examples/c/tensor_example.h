/* The tensor walk-through's data, shared by the C examples (the local
 * walk-through in this directory and ../two-machines): 15 float32 tensors of
 * shape (n + 1, 8, 8) generated from one seed, their metadata
 * "float32 D0,D1,...", the transpose each worker computes and the ID it
 * derives for its result. The C++, Go and Python walk-throughs compute the
 * same tensors, so the checksums they print agree. */
#ifndef OBJSTORE_EXAMPLE_TENSOR_H
#define OBJSTORE_EXAMPLE_TENSOR_H

#include <objstore.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { TENSORS = 15, ROWS = 8, COLS = 8, MAX_DIMS = 8 };
#define SEED 42u

static inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The next input value in [0, 1) from the generator. */
static inline float next_value(uint64_t *rng) { return (float)(splitmix64(rng) >> 40) / 16777216.0f; }

/* Writes "float32 D0,D1,..." (no NUL) into buf; returns its length. */
static inline size_t format_meta(char *buf, size_t cap, const uint64_t *dims, int ndims) {
    int n = snprintf(buf, cap, "float32 ");
    for (int d = 0; d < ndims; d++) n += snprintf(buf + n, cap - (size_t)n, d ? ",%" PRIu64 : "%" PRIu64, dims[d]);
    return (size_t)n;
}

/* Parses metadata "float32 D0,D1,..."; returns the number of dims, or -1. */
static inline int parse_meta(const uint8_t *meta, size_t len, uint64_t *dims) {
    static const char prefix[] = "float32 ";
    size_t i = sizeof prefix - 1;
    if (len <= i || memcmp(meta, prefix, i) != 0) return -1;
    int ndims = 0;
    while (i < len) {
        if (ndims == MAX_DIMS) return -1;
        uint64_t v = 0;
        size_t start = i;
        while (i < len && meta[i] >= '0' && meta[i] <= '9' && v < UINT32_MAX) v = v * 10 + (uint64_t)(meta[i++] - '0');
        if (i == start || v == 0) return -1;
        dims[ndims++] = v;
        if (i < len && meta[i++] != ',') return -1;
        if (i == len && meta[len - 1] == ',') return -1;
    }
    return ndims;
}

/* The ID of the result of transposing the input `in`: its bits flipped. A
 * derived ID, as Ray derives a task's return IDs from the task: running a
 * worker twice on one input gives OS_ALREADY_EXISTS, not a duplicate. */
static inline void result_id_of(const os_object_id *in, os_object_id *out) {
    for (int i = 0; i < OS_ID_SIZE; i++) out->bytes[i] = (uint8_t)~in->bytes[i];
}

/* out (b, a, c) = in (a, b, c) with the first two axes swapped. */
static inline void transpose01(const float *in, float *out, uint64_t a, uint64_t b, uint64_t c) {
    for (uint64_t i = 0; i < a; i++)
        for (uint64_t j = 0; j < b; j++)
            memcpy(&out[(j * a + i) * c], &in[(i * b + j) * c], c * sizeof(float));
}

/* Gets `id` (waiting up to `timeout_ms`) and compares shape, size, alignment
 * and values with what is expected; says why not in *why. */
static inline bool check_object(os_store *store, const os_object_id *id, int64_t timeout_ms,
                                const uint64_t *want_dims, const float *want, const char **why) {
    os_buffer buf;
    os_status st = os_get(store, id, timeout_ms, &buf);
    if (st != OS_OK) {
        *why = os_status_str(st);
        return false;
    }
    uint64_t dims[MAX_DIMS];
    int ndims = parse_meta(buf.meta, buf.meta_len, dims);
    size_t bytes = want_dims[0] * want_dims[1] * want_dims[2] * sizeof(float);
    bool ok = false;
    if (ndims != 3 || dims[0] != want_dims[0] || dims[1] != want_dims[1] || dims[2] != want_dims[2])
        *why = "wrong shape";
    else if (buf.data_len != bytes)
        *why = "wrong size";
    else if ((uintptr_t)buf.data % 64 != 0)
        *why = "misaligned";
    else if (memcmp(buf.data, want, bytes) != 0)
        *why = "values differ";
    else
        ok = true;
    os_release(store, id);
    return ok;
}

#endif
