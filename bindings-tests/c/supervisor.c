/*
 * C tests of keel's replenishing supervisor: keel_supervisor driving a cycle of C
 * callbacks (register, run) with backoff, status callbacks, shutdown from a callback
 * and from another thread, the status snapshot, the finalizer, and bad input.
 * Built by run.sh with gcc -Wall -Wextra -Werror -fsanitize=address,undefined and run
 * with LeakSanitizer on.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SLEN(s) (sizeof(s) - 1)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct state {
    atomic_int registers;
    atomic_int runs;
    atomic_int finalized;
    int fail_registers; /* registrations that fail first */
    int stop_after_runs; /* shutdown from inside run after this many */
    int backing_off; /* status events, counted on the _run thread */
    int running;
    int statuses;
    char last_state[32];
    int registration_token;
};

static int32_t on_register(void *ud, keel_supervisor *sup, uint32_t slot, void **reg) {
    (void)sup;
    (void)slot;
    struct state *s = ud;
    int n = atomic_fetch_add(&s->registers, 1);
    if (n < s->fail_registers) {
        return 7;
    }
    *reg = &s->registration_token; /* handed back to run */
    return 0;
}

static int32_t on_run(void *ud, keel_supervisor *sup, uint32_t slot, void *reg) {
    (void)slot;
    struct state *s = ud;
    if (reg != &s->registration_token) {
        return 99;
    }
    int n = atomic_fetch_add(&s->runs, 1) + 1;
    if (s->stop_after_runs > 0 && n >= s->stop_after_runs) {
        keel_supervisor_shutdown(sup);
        return 0;
    }
    if (s->stop_after_runs == 0) {
        /* a long-running worker: wait for shutdown */
        bool stop = false;
        while (!stop) {
            if (keel_supervisor_wait_shutdown(sup, 20, &stop) != KEEL_OK) {
                return 98;
            }
        }
    }
    return 0;
}

static void on_status(void *ud, const char *json, size_t len) {
    struct state *s = ud;
    if (json[len] != '\0') {
        return;
    }
    s->statuses++;
    if (strstr(json, "\"state\":\"backing-off\"")) {
        s->backing_off++;
    }
    if (strstr(json, "\"state\":\"running\"")) {
        s->running++;
    }
    const char *p = strstr(json, "\"state\":\"");
    if (p) {
        p += SLEN("\"state\":\"");
        size_t i = 0;
        while (p[i] && p[i] != '"' && i + 1 < sizeof s->last_state) {
            s->last_state[i] = p[i];
            i++;
        }
        s->last_state[i] = '\0';
    }
}

static void on_finalize(void *ud) {
    struct state *s = ud;
    atomic_fetch_add(&s->finalized, 1);
}

static const keel_supervisor_cycle CYCLE = {on_register, on_run, on_status};

#define FAST "{\"backoffBaseMs\":10,\"backoffMaxMs\":20,\"jitter\":0,\"minCycleMs\":1,\"systemdNotify\":false}"

static void test_replenish_with_backoff_and_status(void) {
    static struct state s;
    memset(&s, 0, sizeof s);
    s.fail_registers = 2;
    s.stop_after_runs = 3;
    keel_supervisor *sup = NULL;
    CHECK_OK(keel_supervisor_new(FAST, SLEN(FAST), &CYCLE, &s, on_finalize, &sup));
    int32_t code = -1;
    CHECK_OK(keel_supervisor_run(sup, &code));
    CHECK(code == 0);
    CHECK(atomic_load(&s.registers) == 5);
    CHECK(atomic_load(&s.runs) == 3);
    CHECK(s.backing_off == 2);
    CHECK(s.running == 3);
    CHECK(strcmp(s.last_state, "offline") == 0);

    keel_string *st = NULL;
    CHECK_OK(keel_supervisor_status(sup, &st));
    CHECK(strstr(st->data, "\"registrationFailures\":2") != NULL);
    CHECK(strstr(st->data, "\"registrations\":3") != NULL);
    CHECK(strstr(st->data, "\"lastError\":\"registration failed: register callback returned 7\"") != NULL);
    CHECK(strstr(st->data, "\"ready\":true") != NULL);
    keel_string_free(st);

    /* run is called once per handle */
    CHECK_RC(keel_supervisor_run(sup, NULL), KEEL_SUPERVISOR_ALREADY_RUNNING);
    CHECK(atomic_load(&s.finalized) == 0);
    keel_supervisor_free(sup);
    CHECK(atomic_load(&s.finalized) == 1);
    keel_supervisor_free(sup); /* idempotent */
    keel_supervisor_free(NULL);
    CHECK(atomic_load(&s.finalized) == 1);
    /* a freed handle is refused */
    CHECK_RC(keel_supervisor_shutdown(sup), KEEL_INVALID_ARGUMENT);
}

struct runner_args {
    keel_supervisor *sup;
    int32_t code;
    keel_result rc;
};

static void *run_thread(void *p) {
    struct runner_args *a = p;
    a->rc = keel_supervisor_run(a->sup, &a->code);
    return NULL;
}

static void test_shutdown_from_another_thread_during_run_and_backoff(void) {
    /* during a run: the run callback waits on keel_supervisor_wait_shutdown */
    static struct state s;
    memset(&s, 0, sizeof s);
    keel_supervisor *sup = NULL;
    CHECK_OK(keel_supervisor_new(FAST, SLEN(FAST), &CYCLE, &s, NULL, &sup));
    struct runner_args a = {sup, -1, KEEL_PANIC};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_thread, &a) == 0);
    for (int i = 0; i < 500 && atomic_load(&s.runs) == 0; i++) {
        sleep_ms(10);
    }
    CHECK(atomic_load(&s.runs) == 1);
    double t0 = now_s();
    CHECK_OK(keel_supervisor_shutdown(sup));
    pthread_join(t, NULL);
    CHECK(now_s() - t0 < 1.0);
    CHECK(a.rc == KEEL_OK && a.code == 0);
    keel_supervisor_free(sup);

    /* during a 30 s backoff: wakes at once */
    static struct state b;
    memset(&b, 0, sizeof b);
    b.fail_registers = 1000;
    const char *slow = "{\"backoffBaseMs\":30000,\"systemdNotify\":false}";
    CHECK_OK(keel_supervisor_new(slow, strlen(slow), &CYCLE, &b, NULL, &sup));
    struct runner_args a2 = {sup, -1, KEEL_PANIC};
    CHECK(pthread_create(&t, NULL, run_thread, &a2) == 0);
    for (int i = 0; i < 500 && atomic_load(&b.registers) == 0; i++) {
        sleep_ms(10);
    }
    sleep_ms(50);
    t0 = now_s();
    CHECK_OK(keel_supervisor_shutdown(sup));
    pthread_join(t, NULL);
    CHECK(now_s() - t0 < 1.0);
    CHECK(a2.rc == KEEL_OK && a2.code == 0);
    CHECK(atomic_load(&b.registers) == 1);
    keel_supervisor_free(sup);
}

static void test_bad_input(void) {
    static struct state s;
    keel_supervisor *sup = NULL;
    CHECK_RC(keel_supervisor_new(NULL, 0, &CYCLE, &s, NULL, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_supervisor_new(NULL, 0, NULL, &s, NULL, &sup), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("cycle");
    keel_supervisor_cycle no_run = {on_register, NULL, NULL};
    CHECK_RC(keel_supervisor_new(NULL, 0, &no_run, &s, on_finalize, &sup), KEEL_INVALID_ARGUMENT);
    CHECK(atomic_load(&s.finalized) == 0);
    const char *bogus = "{\"bogus\":1}";
    CHECK_RC(keel_supervisor_new(bogus, strlen(bogus), &CYCLE, &s, NULL, &sup), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("unknown field (5 characters"); /* described, never echoed */
    const char *zero = "{\"backoffBaseMs\":0}";
    CHECK_RC(keel_supervisor_new(zero, strlen(zero), &CYCLE, &s, NULL, &sup), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("backoffBaseMs");
    const char bad_utf8[] = "{\"pool\":\xff}";
    CHECK_RC(keel_supervisor_new(bad_utf8, SLEN(bad_utf8), &CYCLE, &s, NULL, &sup), KEEL_INVALID_UTF8);
    CHECK(sup == NULL); /* out written only on success */
    CHECK_RC(keel_supervisor_run(NULL, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_supervisor_shutdown(NULL), KEEL_NULL_PARAMETER);
    keel_string *st = NULL;
    CHECK_RC(keel_supervisor_status(NULL, &st), KEEL_NULL_PARAMETER);
    bool stop;
    CHECK_RC(keel_supervisor_wait_shutdown(NULL, 0, &stop), KEEL_NULL_PARAMETER);
}

int main(void) {
    RUN(test_replenish_with_backoff_and_status);
    RUN(test_shutdown_from_another_thread_during_run_and_backoff);
    RUN(test_bad_input);
    RUN(test_no_leaks);
    return TEST_SUMMARY();
}
