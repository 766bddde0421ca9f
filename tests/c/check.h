/* The checks of the C API tests: each failed check is reported with the
 * thread's last error and counted; main() fails if any did. */
#ifndef OBJSTORE_TEST_CHECK_H
#define OBJSTORE_TEST_CHECK_H

#include <stdio.h>

#include "objstore.h"

static int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__,  \
                    __LINE__, #cond, os_last_error());                               \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#define CHECK_STATUS(expr, want)                                                     \
    do {                                                                             \
        os_status got_ = (expr);                                                     \
        if (got_ != (want)) {                                                        \
            fprintf(stderr, "%s:%d: %s gave %u (%s), want %s; last error: %s\n",     \
                    __FILE__, __LINE__, #expr, got_, os_status_str(got_), #want,     \
                    os_last_error());                                                \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#endif /* OBJSTORE_TEST_CHECK_H */
