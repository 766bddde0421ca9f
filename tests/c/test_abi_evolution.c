/*
 * The C API across versions: the version macros against the loaded library,
 * and the struct_size rule — a program built against an older header (its
 * structs smaller) or a newer one (larger) is read and written at exactly
 * its own size. Built with AddressSanitizer by tests/c/run.sh. The library
 * itself is not instrumented, and its small copies are inlined rather than
 * calls to an intercepted memcpy, so ASan alone would not see it write past
 * a struct: an older program's struct is therefore placed at the very end
 * of a page followed by an inaccessible one, where a byte too many faults.
 */
#define _GNU_SOURCE
#include "objstore.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

#if !defined(OS_VERSION_NUMBER) || OS_VERSION_NUMBER < OS_MAKE_VERSION(0, 1, 0)
#error "the header lacks its version macros"
#endif

static char store_name[128];

/* `size` bytes ending exactly where an inaccessible page begins. */
static void *at_page_end(size_t size) {
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *p = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + page, (size_t)page, PROT_NONE) != 0) {
        perror("mmap");
        exit(2);
    }
    return p + page - size;
}

static void free_at_page_end(void *p) {
    long page = sysconf(_SC_PAGESIZE);
    munmap((void *)((uintptr_t)p & ~(uintptr_t)(page - 1)), 2 * (size_t)page);
}

static void test_versions(void) {
    char text[64];
    snprintf(text, sizeof text, "%d.%d.%d", OS_VERSION_MAJOR, OS_VERSION_MINOR, OS_VERSION_PATCH);
    CHECK(strcmp(text, os_version()) == 0);
    CHECK(strcmp(OS_VERSION_STRING, os_version()) == 0);
    CHECK(OS_VERSION_NUMBER == OS_MAKE_VERSION(OS_VERSION_MAJOR, OS_VERSION_MINOR, OS_VERSION_PATCH));
    CHECK(os_version_number() == OS_VERSION_NUMBER);
    CHECK(OS_MAKE_VERSION(1, 2, 3) == 1002003);

    /* This program's header and the library match. */
    CHECK_STATUS(os_check_version(OS_VERSION_NUMBER), OS_OK);
    CHECK_STATUS(os_check_version(OS_MAKE_VERSION(OS_VERSION_MAJOR, OS_VERSION_MINOR, 0)), OS_OK);
    /* A program built against a newer header needs a newer library. */
    CHECK_STATUS(os_check_version(OS_VERSION_NUMBER + 1), OS_INCOMPATIBLE);
    CHECK(strstr(os_last_error(), os_version()) != NULL);
    /* Another major version is never compatible. */
    CHECK_STATUS(os_check_version(OS_MAKE_VERSION(OS_VERSION_MAJOR + 1, 0, 0)), OS_INCOMPATIBLE);
}

/* os_store_stats as its first version declared it. */
struct stats_v1 {
    uint32_t struct_size;
    uint64_t capacity_bytes, used_bytes, object_count, unsealed_count, pinned_count;
    uint64_t spilled_count, spilled_bytes, max_objects;
    uint32_t attached_processes, max_processes;
    uint64_t reclaimed_processes;
};
_Static_assert(sizeof(struct stats_v1) == OS_STORE_STATS_MIN_SIZE, "stats_v1 is the first version");

/* os_store_stats as a later header might declare it. */
struct stats_later {
    os_store_stats now;
    uint64_t added_later[2];
};

static void test_stats_of_other_versions(void) {
    os_store *s = NULL;
    os_options opts = os_options_default();
    opts.capacity_bytes = 8 << 20;
    CHECK_STATUS(os_open(store_name, &opts, &s), OS_OK);
    os_object_id id;
    CHECK_STATUS(os_put(s, "abc", 3, &id), OS_OK);
    os_store_stats now = {.struct_size = sizeof now};
    CHECK_STATUS(os_stats(s, &now), OS_OK);
    CHECK(now.struct_size == sizeof now && now.object_count == 1);

    /* An older program: its struct, and nothing writable after it. */
    struct stats_v1 *old = at_page_end(sizeof *old);
    memset(old, 0, sizeof *old);
    old->struct_size = sizeof *old;
    CHECK_STATUS(os_stats(s, (os_store_stats *)old), OS_OK);
    CHECK(old->struct_size == OS_STORE_STATS_MIN_SIZE);
    CHECK(old->capacity_bytes == now.capacity_bytes && old->object_count == 1);
    CHECK(old->max_processes == now.max_processes && old->reclaimed_processes == now.reclaimed_processes);
    free_at_page_end(old);
    /* The same in ordinary memory, with bytes after it that must stay. */
    struct {
        struct stats_v1 v1;
        uint8_t after[32];
    } canary;
    memset(&canary, 0x5a, sizeof canary);
    canary.v1.struct_size = sizeof canary.v1;
    CHECK_STATUS(os_stats(s, (os_store_stats *)&canary.v1), OS_OK);
    for (size_t i = 0; i < sizeof canary.after; i++) CHECK(canary.after[i] == 0x5a);

    /* A newer program: the fields the library does not know are zeroed,
     * and struct_size says where the known ones end. */
    struct stats_later *later = malloc(sizeof *later);
    memset(later, 0xab, sizeof *later);
    later->now.struct_size = sizeof *later;
    CHECK_STATUS(os_stats(s, (os_store_stats *)later), OS_OK);
    CHECK(later->now.struct_size == sizeof(os_store_stats));
    CHECK(later->now.object_count == 1 && later->added_later[0] == 0 && later->added_later[1] == 0);
    free(later);

    /* Smaller than the first version, or not set at all: refused. */
    os_store_stats bad = {.struct_size = OS_STORE_STATS_MIN_SIZE - 8};
    CHECK_STATUS(os_stats(s, &bad), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "struct_size") != NULL);
    bad.struct_size = 0;
    CHECK_STATUS(os_stats(s, &bad), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* os_object_info entries as a later header might declare them. */
struct info_later {
    os_object_info now;
    uint64_t added_later;
};

static void test_list_of_a_later_version(void) {
    os_store *s = NULL;
    CHECK_STATUS(os_open(store_name, NULL, &s), OS_OK);
    os_object_id id;
    CHECK_STATUS(os_put(s, "defg", 4, &id), OS_OK);
    /* Exactly capacity entries of the caller's size. */
    enum { CAPACITY = 3 };
    struct info_later *entries = malloc(CAPACITY * sizeof *entries);
    memset(entries, 0xcd, CAPACITY * sizeof *entries);
    entries[0].now.struct_size = sizeof entries[0];
    uint64_t cursor = 0;
    size_t n = 0, seen = 0;
    while (cursor != OS_LIST_END) {
        CHECK_STATUS(os_list(s, &cursor, (os_object_info *)entries, CAPACITY, &n), OS_OK);
        for (size_t i = 0; i < n; i++) {
            CHECK(entries[i].now.struct_size == sizeof(os_object_info));
            CHECK(entries[i].added_later == 0);
            CHECK(entries[i].now.data_len == 3 || entries[i].now.data_len == 4);
            seen++;
        }
        entries[0].now.struct_size = sizeof entries[0];
    }
    CHECK(seen == 2);
    free(entries);
    os_object_info too_small[1] = {{.struct_size = 8}};
    cursor = 0;
    CHECK_STATUS(os_list(s, &cursor, too_small, 1, &n), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* os_object_info as the first header declared it: up to created_unix. */
struct info_v1 {
    uint32_t struct_size;
    os_object_id id;
    uint64_t data_len;
    uint64_t meta_len;
    uint32_t state;
    uint32_t pinning_processes;
    uint64_t created_unix;
};

static void test_list_of_the_first_version(void) {
    CHECK(sizeof(struct info_v1) == OS_OBJECT_INFO_MIN_SIZE);
    CHECK(sizeof(os_object_info) > OS_OBJECT_INFO_MIN_SIZE);
    os_store *s = NULL;
    CHECK_STATUS(os_open(store_name, NULL, &s), OS_OK);
    os_object_id id;
    CHECK_STATUS(os_put_ex(s, "hijk", 4, NULL, 0, OS_OBJECT_REFCOUNTED, &id), OS_OK);
    /* Two entries of the first version's size, the last byte of the
     * second the last byte before an inaccessible page: a library writing
     * the fields added since would fault. */
    struct info_v1 *entries = at_page_end(2 * sizeof *entries);
    entries[0].struct_size = sizeof entries[0];
    uint64_t cursor = 0;
    size_t n = 0, seen = 0;
    while (cursor != OS_LIST_END) {
        CHECK_STATUS(os_list(s, &cursor, (os_object_info *)entries, 2, &n), OS_OK);
        for (size_t i = 0; i < n; i++) {
            CHECK(entries[i].struct_size == OS_OBJECT_INFO_MIN_SIZE);
            CHECK(entries[i].state == OS_OBJECT_SEALED && entries[i].created_unix > 0);
            seen++;
        }
        entries[0].struct_size = sizeof entries[0];
    }
    CHECK(seen == 3);
    CHECK_STATUS(os_unref(s, &id), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK);
}

/* os_options as a later header might declare them. */
struct options_later {
    os_options now;
    uint64_t added_later;
};

static void test_options_of_other_versions(void) {
    os_store *s = NULL;
    /* The first version's size is accepted (today it is the whole struct). */
    os_options first = os_options_default();
    CHECK(first.struct_size == sizeof first && sizeof first >= OS_OPTIONS_MIN_SIZE);
    first.struct_size = OS_OPTIONS_MIN_SIZE;
    CHECK_STATUS(os_open(store_name, &first, &s), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK);

    /* A newer program's options: initialised at its size, the unknown field
     * zero (its default), accepted; set, refused rather than ignored. */
    struct options_later *later = malloc(sizeof *later);
    memset(later, 0xee, sizeof *later);
    later->now.struct_size = sizeof *later;
    CHECK_STATUS(os_options_init(&later->now), OS_OK);
    CHECK(later->now.struct_size == sizeof *later);
    CHECK(later->now.max_processes == 256 && later->now.mode == 0600 && later->now.spill_dir == NULL);
    CHECK(later->added_later == 0);
    CHECK_STATUS(os_open(store_name, &later->now, &s), OS_OK);
    CHECK_STATUS(os_close(s), OS_OK);
    later->added_later = 1;
    CHECK_STATUS(os_open(store_name, &later->now, &s), OS_INVALID_ARGUMENT);
    CHECK(strstr(os_last_error(), "does not know") != NULL);
    free(later);

    /* Smaller than the first version: refused by init and by open. */
    os_options small = os_options_default();
    small.struct_size = OS_OPTIONS_MIN_SIZE - 8;
    CHECK_STATUS(os_options_init(&small), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_open(store_name, &small, &s), OS_INVALID_ARGUMENT);
    CHECK_STATUS(os_options_init(NULL), OS_INVALID_ARGUMENT);
}

static void test_process_info_of_a_later_version(void) {
    struct process_later {
        os_process_info now;
        uint32_t added_later;
    };
    os_store *s = NULL;
    CHECK_STATUS(os_open(store_name, NULL, &s), OS_OK);
    struct process_later *entries = malloc(2 * sizeof *entries);
    memset(entries, 0x77, 2 * sizeof *entries);
    entries[0].now.struct_size = sizeof entries[0];
    size_t n = 0;
    CHECK_STATUS(os_processes(s, (os_process_info *)entries, 2, &n), OS_OK);
    CHECK(n == 1 && entries[0].now.pid == (uint32_t)getpid() && entries[0].added_later == 0);
    CHECK(entries[0].now.struct_size == sizeof(os_process_info));
    /* The second entry was not written (one process). */
    CHECK(entries[1].now.pid == 0x77777777u);
    free(entries);
    CHECK_STATUS(os_close(s), OS_OK);
}

int main(void) {
    snprintf(store_name, sizeof store_name, "objstore-ctest-abi-%d", getpid());
    os_destroy(store_name);
    test_versions();
    test_stats_of_other_versions();
    test_list_of_a_later_version();
    test_list_of_the_first_version();
    test_options_of_other_versions();
    test_process_info_of_a_later_version();
    os_destroy(store_name);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("C ABI evolution tests passed\n");
    return 0;
}
