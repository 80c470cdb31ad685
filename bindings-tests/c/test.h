/*
 * A minimal test harness for keel's C tests. Each test prints one line,
 * "PASS <name>" or "FAIL <name>: <file>:<line>: <reason>"; run.sh counts them.
 */
#ifndef KEEL_TEST_H
#define KEEL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel.h"

/* LeakSanitizer is there when AddressSanitizer is (gcc and clang). */
#if defined(__SANITIZE_ADDRESS__)
#define KEEL_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEL_TEST_LSAN 1
#endif
#endif
#ifdef KEEL_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define KEEL_TEST_UNUSED __attribute__((unused))

static KEEL_TEST_UNUSED int test_failed;
static KEEL_TEST_UNUSED int tests_passed;
static KEEL_TEST_UNUSED int tests_failed;
static KEEL_TEST_UNUSED char test_where[64];
static KEEL_TEST_UNUSED char test_reason[2048];

/* Record the first failure of the current test. */
#define FAIL_AT(...)                                                   \
    do {                                                               \
        if (!test_failed) {                                            \
            snprintf(test_where, sizeof test_where, "%s:%d", __FILE__, \
                     __LINE__);                                        \
            snprintf(test_reason, sizeof test_reason, __VA_ARGS__);    \
        }                                                              \
        test_failed = 1;                                               \
    } while (0)

/* Check a condition; on failure record it and leave the test. */
#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            FAIL_AT("CHECK(%s) failed", #cond);                        \
            return;                                                    \
        }                                                              \
    } while (0)

/* Check a keel call's result; on failure show both codes and the message. */
#define CHECK_RC(call, expected)                                       \
    do {                                                               \
        keel_result rc_ = (call);                                      \
        if (rc_ != (expected)) {                                       \
            FAIL_AT("%s returned %s, expected %s (message: %s)", #call, \
                    keel_result_name((int)rc_),                        \
                    keel_result_name((int)(expected)),                 \
                    keel_last_error_message());                        \
            return;                                                    \
        }                                                              \
    } while (0)

#define CHECK_OK(call) CHECK_RC(call, KEEL_OK)

/* The last error message contains `needle`. */
#define CHECK_MSG_HAS(needle)                                          \
    do {                                                               \
        const char *m_ = keel_last_error_message();                    \
        if (m_ == NULL || strstr(m_, (needle)) == NULL) {              \
            FAIL_AT("last error message \"%s\" lacks \"%s\"",          \
                    m_ ? m_ : "(null)", (needle));                     \
            return;                                                    \
        }                                                              \
    } while (0)

/* The last error message does not contain `needle`. */
#define CHECK_MSG_LACKS(needle)                                        \
    do {                                                               \
        const char *m_ = keel_last_error_message();                    \
        if (m_ == NULL || strstr(m_, (needle)) != NULL) {              \
            FAIL_AT("last error message \"%s\" contains \"%s\"",       \
                    m_ ? m_ : "(null)", (needle));                     \
            return;                                                    \
        }                                                              \
    } while (0)

/*
 * Check for leaks now, from main, after the tests. (The check LeakSanitizer runs
 * at exit can miss leaks: stale copies of pointers in the dead stack frames below
 * main still count as references then. Called from main, the test functions'
 * frames lie below the stack pointer and are not scanned.) Returns non-zero when
 * something leaked; the report goes to stderr.
 */
static KEEL_TEST_UNUSED int test_leak_check(void) {
#ifdef KEEL_TEST_LSAN
    return __lsan_do_recoverable_leak_check();
#else
    return 0;
#endif
}

/* The last test of every program: nothing allocated by the tests is left. */
static KEEL_TEST_UNUSED void test_no_leaks(void) {
    CHECK(test_leak_check() == 0);
}

/* Run one test and print its PASS/FAIL line. */
#define RUN(fn)                                                        \
    do {                                                               \
        test_failed = 0;                                               \
        fn();                                                          \
        if (test_failed) {                                             \
            tests_failed++;                                            \
            printf("FAIL %s: %s: %s\n", #fn, test_where, test_reason); \
        } else {                                                       \
            tests_passed++;                                            \
            printf("PASS %s\n", #fn);                                  \
        }                                                              \
        fflush(stdout);                                                \
    } while (0)

/* Print the program's own summary; returns the exit status. */
#define TEST_SUMMARY()                                                 \
    (printf("%s: %d passed, %d failed\n", __FILE__, tests_passed,      \
            tests_failed),                                             \
     tests_failed ? 1 : 0)

#endif
