/* The three ways a put can copy its bytes, against each other in one run:
 * glibc's memcpy, `rep movsb`, and non-temporal AVX2 stores, by size, from
 * sources at several offsets into their page to a page-aligned destination
 * (as an object's data is). The figures behind `src/platform/copy.rs`'s
 * choice (BENCHMARKS.md, "Copying into the store"). x86_64 with AVX2.
 *
 *     cc -O2 -o /tmp/copy_methods benches/copy_methods.c && /tmp/copy_methods
 *
 * Each cell is the best of several copies of one buffer into one buffer, in
 * microseconds: what each method can do, caches as they fall. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void string_copy(uint8_t *d, const uint8_t *s, size_t n) {
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

__attribute__((target("avx2"))) static void stream_copy(uint8_t *d, const uint8_t *s, size_t n) {
    size_t head = (64 - ((uintptr_t)d & 63)) & 63, i;
    memcpy(d, s, head);
    for (i = head; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(s + i + 64));
        __m256i e = _mm256_loadu_si256((const __m256i *)(s + i + 96));
        _mm256_stream_si256((__m256i *)(d + i), a);
        _mm256_stream_si256((__m256i *)(d + i + 32), b);
        _mm256_stream_si256((__m256i *)(d + i + 64), c);
        _mm256_stream_si256((__m256i *)(d + i + 96), e);
    }
    _mm_sfence();
    memcpy(d + i, s + i, n - i);
}

int main(void) {
    const size_t max = (size_t)256 << 20;
    uint8_t *src = mmap(0, max + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    uint8_t *dst = mmap(0, max + 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (src == MAP_FAILED || dst == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(src, 1, max + 8192);
    memset(dst, 2, max + 8192);
    const size_t sizes[] = {(size_t)4 << 10, (size_t)64 << 10, (size_t)256 << 10, (size_t)1 << 20,
                            (size_t)4 << 20, (size_t)16 << 20, (size_t)64 << 20, (size_t)256 << 20};
    const int offsets[] = {16, 1040, 3000}; /* 16: where malloc puts large buffers */
    printf("| size | source offset | memcpy | rep movsb | streamed |\n|---|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        int rounds = n >= (64 << 20) ? 6 : n >= (4 << 20) ? 20 : 300;
        for (size_t o = 0; o < sizeof offsets / sizeof *offsets; o++) {
            double best[3] = {1e18, 1e18, 1e18};
            for (int r = 0; r < rounds; r++) {
                for (int m = 0; m < 3; m++) {
                    const uint8_t *s = src + offsets[o];
                    double t0 = now_us();
                    if (m == 0)
                        memcpy(dst, s, n);
                    else if (m == 1)
                        string_copy(dst, s, n);
                    else
                        stream_copy(dst, s, n);
                    double t = now_us() - t0;
                    if (t < best[m]) best[m] = t;
                }
            }
            if (memcmp(dst, src + offsets[o], n) != 0) {
                fprintf(stderr, "copy of %zu bytes is wrong\n", n);
                return 1;
            }
            printf("| %zu KiB | %d | %.1f | %.1f | %.1f |\n", n >> 10, offsets[o], best[0], best[1], best[2]);
        }
    }
    return 0;
}
