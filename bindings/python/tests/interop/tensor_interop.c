/*
 * Reads a tensor Python wrote and writes one back, through the value format
 * of objstore's Python binding (bindings/python/src/objstore/_format.py):
 *
 *     tensor_interop STORE IN_HEX OUT_HEX
 *
 * IN must be a C-order float32 ndarray object (kind 4, dtype "<f4"; any
 * hint, so a torch tensor or a numpy array). OUT is written as the same
 * shape, every value doubled, with hint 1 (a torch tensor to Python).
 * Prints "shape D0xD1... sum S" and exits 0, or says what is wrong and
 * exits 1. A C program needs nothing but objstore.h and the format's doc.
 */
#include <objstore.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, os_status st) {
    fprintf(stderr, "tensor_interop: %s: %s: %s\n", what, os_status_str(st), os_last_error());
    return 1;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: tensor_interop STORE IN_HEX OUT_HEX\n");
        return 2;
    }
    struct os_options opts = os_options_default();
    opts.flags = OS_OPEN_ATTACH_ONLY;
    os_store *store;
    os_status st = os_open(argv[1], &opts, &store);
    if (st != OS_OK) return fail("open", st);
    os_object_id in, out;
    if ((st = os_id_from_hex(argv[2], &in)) != OS_OK || (st = os_id_from_hex(argv[3], &out)) != OS_OK)
        return fail("id", st);
    os_buffer buf;
    if ((st = os_get(store, &in, 1000, &buf)) != OS_OK) return fail("get", st);

    /* Header: magic, version 1, kind 4 (ndarray), hint; then order, dtype
     * form, dtype length, dtype, ndim, shape. */
    const uint8_t *m = buf.meta;
    size_t n = buf.meta_len;
    if (n < 13 || memcmp(m, "OSPY", 4) != 0 || m[4] != 1 || m[5] != 4) {
        fprintf(stderr, "tensor_interop: not an ndarray object of format version 1\n");
        return 1;
    }
    unsigned hint = (unsigned)le(m + 6, 2);
    size_t dlen = (size_t)le(m + 10, 2);
    if (m[8] != 'C' || m[9] != 0 || dlen != 3 || n < 13 + dlen || memcmp(m + 12, "<f4", 3) != 0) {
        fprintf(stderr, "tensor_interop: not a C-order float32 array\n");
        return 1;
    }
    size_t ndim = m[12 + dlen];
    const uint8_t *shape = m + 13 + dlen;
    if (n != 13 + dlen + 8 * ndim) {
        fprintf(stderr, "tensor_interop: metadata of %zu bytes for %zu dimensions\n", n, ndim);
        return 1;
    }
    /* A damaged shape's product could wrap to the data's length: every
     * step is checked. */
    size_t count = 1;
    int overflow = 0;
    printf("hint %u shape ", hint);
    for (size_t i = 0; i < ndim; i++) {
        uint64_t d = le(shape + 8 * i, 8);
        if (d != 0 && (d > SIZE_MAX || count > SIZE_MAX / sizeof(float) / (size_t)d)) overflow = 1;
        else count *= (size_t)d;
        printf("%s%llu", i ? "x" : "", (unsigned long long)d);
    }
    if (overflow) {
        fprintf(stderr, "tensor_interop: the shape's element count overflows\n");
        return 1;
    }
    if (count * sizeof(float) != buf.data_len) {
        fprintf(stderr, "tensor_interop: %zu elements in %zu bytes\n", count, buf.data_len);
        return 1;
    }
    const float *x = (const float *)buf.data;
    double sum = 0;
    for (size_t i = 0; i < count; i++) sum += x[i];
    printf(" sum %.1f\n", sum);

    /* Write OUT: the same metadata with hint 1, the values doubled. */
    uint8_t *meta = malloc(n);
    memcpy(meta, m, n);
    meta[6] = 1;
    meta[7] = 0;
    uint8_t *dst;
    if ((st = os_create(store, &out, buf.data_len, meta, n, &dst)) != OS_OK) return fail("create", st);
    for (size_t i = 0; i < count; i++) ((float *)dst)[i] = 2 * x[i];
    if ((st = os_seal(store, &out)) != OS_OK) return fail("seal", st);
    free(meta);
    os_release(store, &in);
    os_close(store);
    return 0;
}
