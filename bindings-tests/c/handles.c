/*
 * C tests of keel's handle, callback and error-message contract (ffi/handle.rs,
 * ffi/error.rs and the callback paths of ffi/redact.rs and ffi/jobs.rs):
 *
 *  - a stale handle is refused with KEEL_INVALID_ARGUMENT even after the allocator
 *    reused its memory (a late helper thread's keel_job_ctx must not fail another,
 *    running job);
 *  - calls made from inside a callback work or fail with a clear error, never
 *    deadlock (a watchdog alarm turns a hang into a failure);
 *  - a successful call leaves keel_last_error_message() empty, and the _free
 *    functions leave it alone, whatever their callbacks did;
 *  - a host job's finalizer runs on the job's thread even when the registry is
 *    freed right after the job was started.
 *
 * Built by run.sh with gcc -Wall -Wextra -Werror -fsanitize=address,undefined.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SLEN(s) (sizeof(s) - 1)

/*
 * AddressSanitizer keeps freed memory in quarantine, so without this the allocator
 * would never hand a freed handle's memory to the next object and the "address
 * reused" cases below could not happen. (keel's handles must be unique anyway.)
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=0"; }

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A hang (deadlock) fails the program instead of stalling the suite. */
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL watchdog: a test hung for 120 s (deadlock?)\n";
    ssize_t ignored = write(1, msg, SLEN(msg));
    (void)ignored;
    _exit(3);
}

static bool wait_idle(const keel_job_registry *r, long timeout_ms) {
    for (long waited = 0; waited <= timeout_ms; waited += 5) {
        size_t n = 99;
        if (keel_job_registry_running_count(r, &n) != KEEL_OK) {
            return false;
        }
        if (n == 0) {
            return true;
        }
        sleep_ms(5);
    }
    return false;
}

static char *view_of(const keel_job_registry *r, const char *id) {
    keel_string *s = NULL;
    if (keel_job_registry_get(r, id, strlen(id), &s) != KEEL_OK) {
        return NULL;
    }
    char *out = malloc(s->len + 1);
    memcpy(out, s->data, s->len);
    out[s->len] = '\0';
    keel_string_free(s);
    return out;
}

/* ---- stale handles ------------------------------------------------------ */

/* Freed redactors stay refused while new ones are made (and memory is reused). */
static void test_stale_redactor_handle_is_refused(void) {
    keel_redactor *old = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &old));
    keel_redactor_free(old);
    for (int i = 0; i < 200; i++) {
        keel_redactor *fresh = NULL;
        CHECK_OK(keel_redactor_new(NULL, 0, &fresh));
        CHECK(fresh != old);
        keel_string *out = NULL;
        CHECK_RC(keel_redactor_redact(old, (const uint8_t *)"x", 1, &out),
                 KEEL_INVALID_ARGUMENT);
        CHECK(out == NULL);
        CHECK_MSG_HAS("not a live keel_redactor");
        /* A late second free of the old handle must not free the new redactor. */
        keel_redactor_free(old);
        CHECK_OK(keel_redactor_redact(fresh, (const uint8_t *)"x", 1, &out));
        keel_string_free(out);
        keel_redactor_free(fresh);
    }
}

/* A handle of one type is not a handle of another. */
static int discard(void *u, const uint8_t *d, size_t n) {
    (void)u;
    (void)d;
    (void)n;
    return 0;
}

static void test_foreign_handle_is_refused(void) {
    keel_redactor *r = NULL;
    keel_stream_redactor *s = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    CHECK_OK(keel_stream_redactor_new(r, discard, NULL, NULL, &s));
    size_t pending = 0;
    CHECK_RC(keel_stream_redactor_pending((const keel_stream_redactor *)(const void *)r,
                                          &pending),
             KEEL_INVALID_ARGUMENT);
    keel_string *out = NULL;
    CHECK_RC(keel_redactor_redact((const keel_redactor *)(const void *)s,
                                  (const uint8_t *)"x", 1, &out),
             KEEL_INVALID_ARGUMENT);
    /* Freeing through the wrong type is ignored: both still work. */
    keel_redactor_free((keel_redactor *)(void *)s);
    keel_stream_redactor_free((keel_stream_redactor *)(void *)r);
    CHECK_OK(keel_stream_redactor_pending(s, &pending));
    CHECK_OK(keel_redactor_redact(r, (const uint8_t *)"x", 1, &out));
    keel_string_free(out);
    keel_stream_redactor_free(s);
    keel_redactor_free(r);
}

/*
 * The measured defect: a helper thread of job A keeps A's keel_job_ctx after A's
 * work returned; job B is then running (its context possibly at A's old address);
 * the helper's late keel_job_ctx_fail must be refused and must not fail B.
 */
static keel_job_ctx *_Atomic stale_ctx;

static void quick_work(void *userdata, keel_job_ctx *ctx) {
    (void)userdata;
    atomic_store(&stale_ctx, ctx);
    keel_job_ctx_succeed(ctx, "1", 1);
}

struct blocker {
    atomic_bool release;
    keel_job_ctx *_Atomic ctx;
};

static void blocking_work(void *userdata, keel_job_ctx *ctx) {
    struct blocker *b = userdata;
    atomic_store(&b->ctx, ctx);
    while (!atomic_load(&b->release)) {
        bool cancelled = false;
        if (keel_job_ctx_wait_cancelled(ctx, 5, &cancelled) != KEEL_OK || cancelled) {
            break;
        }
    }
    keel_job_ctx_succeed(ctx, "\"b-done\"", SLEN("\"b-done\""));
}

static void test_stale_job_ctx_cannot_fail_another_job(void) {
    keel_job_registry *r = NULL;
    CHECK_OK(keel_job_registry_new(NULL, 0, &r));
    keel_job_ctx *seen[40];
    int n = 0;
    for (int round = 0; round < 40; round++) {
        char a[32], b_id[32];
        snprintf(a, sizeof a, "a-%d", round);
        snprintf(b_id, sizeof b_id, "b-%d", round);
        atomic_store(&stale_ctx, NULL);
        CHECK_OK(keel_job_registry_start(r, a, strlen(a), quick_work, NULL, NULL));
        CHECK(wait_idle(r, 30000));
        keel_job_ctx *stale = atomic_load(&stale_ctx);
        CHECK(stale != NULL);
        for (int i = 0; i < n; i++) {
            CHECK(seen[i] != stale); /* no context handle is ever handed out twice */
        }
        seen[n++] = stale;

        struct blocker blk;
        atomic_init(&blk.release, false);
        atomic_init(&blk.ctx, NULL);
        CHECK_OK(keel_job_registry_start(r, b_id, strlen(b_id), blocking_work, &blk, NULL));
        while (atomic_load(&blk.ctx) == NULL) {
            sleep_ms(1);
        }
        /* The late helper thread (played by this thread) uses A's context. */
        CHECK_RC(keel_job_ctx_fail(stale, NULL, 0, "late", 4), KEEL_INVALID_ARGUMENT);
        CHECK_MSG_HAS("not a live keel_job_ctx");
        CHECK_RC(keel_job_ctx_activity(stale), KEEL_INVALID_ARGUMENT);
        CHECK_RC(keel_job_ctx_succeed(stale, "2", 1), KEEL_INVALID_ARGUMENT);
        atomic_store(&blk.release, true);
        CHECK(wait_idle(r, 30000));
        char *view = view_of(r, b_id);
        CHECK(view != NULL);
        bool done = strstr(view, "\"state\":\"done\"") != NULL &&
                    strstr(view, "b-done") != NULL && strstr(view, "late") == NULL;
        if (!done) {
            FAIL_AT("job %s was disturbed by a stale context: %.500s", b_id, view);
        }
        free(view);
        if (!done) {
            break;
        }
    }
    keel_job_registry_free(r);
}

/* ---- callbacks calling back into keel ----------------------------------- */

struct reentry {
    keel_stream_redactor *stream;
    int calls;
    keel_result pending_rc;
    size_t pending;
    keel_result write_rc;
    keel_result flush_rc;
    char write_msg[256];
};

static int reentrant_write(void *userdata, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    struct reentry *e = userdata;
    e->calls++;
    e->pending = 12345;
    e->pending_rc = keel_stream_redactor_pending(e->stream, &e->pending);
    e->write_rc = keel_stream_redactor_write(e->stream, (const uint8_t *)"y", 1);
    snprintf(e->write_msg, sizeof e->write_msg, "%s", keel_last_error_message());
    e->flush_rc = keel_stream_redactor_flush(e->stream);
    return 0;
}

/* The measured defect: _pending from the stream's own callback deadlocked. */
static void test_stream_calls_from_its_own_callback(void) {
    keel_redactor *r = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    struct reentry e;
    memset(&e, 0, sizeof e);
    CHECK_OK(keel_stream_redactor_new(r, reentrant_write, &e, NULL, &e.stream));
    /* "tok" could be the start of a secret-looking word: it may be held back. */
    static const char input[] = "hello world\npassword";
    CHECK_OK(keel_stream_redactor_write(e.stream, (const uint8_t *)input, SLEN(input)));
    CHECK(e.calls == 1);
    CHECK(e.pending_rc == KEEL_OK);
    size_t after = 0;
    CHECK_OK(keel_stream_redactor_pending(e.stream, &after));
    CHECK(e.pending == after); /* the same answer inside and outside the callback */
    CHECK(e.write_rc == KEEL_INVALID_ARGUMENT);
    CHECK(strstr(e.write_msg, "own write callback") != NULL);
    CHECK(e.flush_rc == KEEL_INVALID_ARGUMENT);
    CHECK_OK(keel_stream_redactor_finish(e.stream));
    keel_stream_redactor_free(e.stream);
    keel_redactor_free(r);
}

/* Stream A's callback writes to stream B, whose callback writes to A: refused. */
struct pair {
    keel_stream_redactor *a;
    keel_stream_redactor *b;
    keel_result nested_rc;
    keel_result back_rc;
    int b_calls;
};

static int write_a(void *userdata, const uint8_t *data, size_t len) {
    struct pair *p = userdata;
    p->nested_rc = keel_stream_redactor_write(p->b, data, len);
    if (p->nested_rc == KEEL_OK) {
        p->nested_rc = keel_stream_redactor_finish(p->b);
    }
    return 0;
}

static int write_b(void *userdata, const uint8_t *data, size_t len) {
    struct pair *p = userdata;
    p->b_calls++;
    p->back_rc = keel_stream_redactor_write(p->a, data, len);
    return 0;
}

static void test_stream_cycle_through_callbacks_is_refused(void) {
    keel_redactor *r = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    struct pair p;
    memset(&p, 0, sizeof p);
    CHECK_OK(keel_stream_redactor_new(r, write_a, &p, NULL, &p.a));
    CHECK_OK(keel_stream_redactor_new(r, write_b, &p, NULL, &p.b));
    CHECK_OK(keel_stream_redactor_write(p.a, (const uint8_t *)"ping\n", 5));
    CHECK_OK(keel_stream_redactor_finish(p.a));
    CHECK(p.nested_rc == KEEL_OK); /* another stream works from a callback */
    CHECK(p.b_calls >= 1);
    CHECK(p.back_rc == KEEL_INVALID_ARGUMENT); /* back into A: refused, no deadlock */
    keel_stream_redactor_free(p.a);
    keel_stream_redactor_free(p.b);
    keel_redactor_free(r);
}

/* A callback freeing its own stream: the finalizer runs once, after the call. */
struct self_free {
    keel_stream_redactor *stream;
    int finalized;
    int finalized_during_callback;
};

static int freeing_write(void *userdata, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    struct self_free *f = userdata;
    keel_stream_redactor_free(f->stream);
    f->finalized_during_callback = f->finalized;
    return 0;
}

static void count_finalizer(void *userdata) {
    struct self_free *f = userdata;
    f->finalized++;
    /* The stream is gone from here on. */
    size_t pending = 0;
    if (keel_stream_redactor_pending(f->stream, &pending) != KEEL_INVALID_ARGUMENT) {
        f->finalized += 100;
    }
}

static void test_callback_frees_its_stream(void) {
    keel_redactor *r = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    struct self_free f;
    memset(&f, 0, sizeof f);
    CHECK_OK(keel_stream_redactor_new(r, freeing_write, &f, count_finalizer, &f.stream));
    /* The callback runs (and frees) in one of these; the other is then refused. */
    keel_result w = keel_stream_redactor_write(f.stream, (const uint8_t *)"bye\n", 4);
    keel_result fin = keel_stream_redactor_finish(f.stream);
    CHECK(w == KEEL_OK);
    CHECK(fin == KEEL_OK || fin == KEEL_INVALID_ARGUMENT);
    CHECK(f.finalized_during_callback == 0);
    CHECK(f.finalized == 1);
    keel_stream_redactor_free(f.stream); /* already freed: ignored */
    CHECK(f.finalized == 1);
    keel_redactor_free(r);
}

/* A job's work aborting its own job gets a clear error instead of a long stall. */
struct self_abort {
    keel_job_registry *registry;
    keel_result rc;
    char msg[256];
    keel_result other_rc;
};

static void self_aborting_work(void *userdata, keel_job_ctx *ctx) {
    struct self_abort *s = userdata;
    keel_job_state st = KEEL_JOB_RUNNING;
    s->rc = keel_job_registry_abort(s->registry, "self", 4, "why", 3, &st);
    snprintf(s->msg, sizeof s->msg, "%s", keel_last_error_message());
    /* Another job can be aborted from a work function. */
    s->other_rc = keel_job_registry_abort(s->registry, "nobody", 6, "x", 1, &st);
    keel_job_ctx_fail(ctx, NULL, 0, "gave up", 7);
}

static void test_work_aborting_its_own_job(void) {
    struct self_abort s;
    memset(&s, 0, sizeof s);
    CHECK_OK(keel_job_registry_new(NULL, 0, &s.registry));
    CHECK_OK(keel_job_registry_start(s.registry, "self", 4, self_aborting_work, &s, NULL));
    CHECK(wait_idle(s.registry, 30000));
    CHECK(s.rc == KEEL_INVALID_ARGUMENT);
    CHECK(strstr(s.msg, "its own job") != NULL);
    CHECK(s.other_rc == KEEL_JOB_NOT_FOUND);
    keel_job_registry_free(s.registry);
}

/* ---- the last error message --------------------------------------------- */

static int failing_keel_call_then_ok(void *userdata, const uint8_t *data, size_t len) {
    (void)data;
    (void)len;
    int *inner_failed = userdata;
    keel_redactor *bad = NULL;
    *inner_failed = keel_redactor_new("{", 1, &bad) == KEEL_INVALID_JSON;
    return 0;
}

/* The measured defect: the callback's failure outlived the successful call. */
static void test_success_clears_the_last_error(void) {
    keel_redactor *r = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    int inner_failed = 0;
    keel_stream_redactor *s = NULL;
    CHECK_OK(keel_stream_redactor_new(r, failing_keel_call_then_ok, &inner_failed, NULL, &s));
    CHECK_OK(keel_stream_redactor_write(s, (const uint8_t *)"line\n", 5));
    CHECK(inner_failed == 1);
    CHECK(strcmp(keel_last_error_message(), "") == 0);
    keel_stream_redactor_free(s);
    keel_redactor_free(r);
}

static void finalizer_making_calls(void *userdata) {
    (void)userdata;
    keel_redactor *ok = NULL;
    if (keel_redactor_new(NULL, 0, &ok) == KEEL_OK) { /* success: would clear */
        keel_redactor_free(ok);
    }
    keel_redactor *bad = NULL;
    (void)keel_redactor_new("[", 1, &bad); /* failure: would overwrite */
}

/* _free leaves the last error message alone, even when its finalizer calls keel. */
static void test_free_keeps_the_last_error(void) {
    keel_redactor *r = NULL;
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    keel_stream_redactor *s = NULL;
    CHECK_OK(keel_stream_redactor_new(r, discard, NULL, finalizer_making_calls, &s));
    CHECK_RC(keel_redactor_new(NULL, 5, NULL), KEEL_NULL_PARAMETER);
    const char *before = keel_last_error_message();
    char copy[256];
    snprintf(copy, sizeof copy, "%s", before);
    CHECK(copy[0] != '\0');
    keel_stream_redactor_free(s);
    CHECK(keel_last_error_message() == before);
    CHECK(strcmp(keel_last_error_message(), copy) == 0);
    keel_redactor_free(r);
}

/* ---- finalizers run where the header says -------------------------------- */

struct where {
    pthread_t main_thread;
    pthread_t work_thread;
    pthread_t fin_thread;
    atomic_bool work_ran;
    atomic_bool finalized;
    atomic_int finalized_count;
};

static void where_work(void *userdata, keel_job_ctx *ctx) {
    struct where *w = userdata;
    w->work_thread = pthread_self();
    atomic_store(&w->work_ran, true);
    bool cancelled = false;
    keel_job_ctx_wait_cancelled(ctx, 30000, &cancelled);
    keel_job_ctx_fail(ctx, NULL, 0, "cancelled", 9);
}

static void where_finalizer(void *userdata) {
    struct where *w = userdata;
    w->fin_thread = pthread_self();
    atomic_fetch_add(&w->finalized_count, 1);
    atomic_store(&w->finalized, true);
}

/*
 * The measured defect: freeing the registry right after starting a host job ran the
 * job's finalizer on the runtime thread (the work never ran). The header says: on the
 * job's thread after the work returns.
 */
static void test_finalizer_runs_on_the_job_thread_when_registry_freed_first(void) {
    for (int round = 0; round < 20; round++) {
        struct where w;
        memset(&w, 0, sizeof w);
        atomic_init(&w.work_ran, false);
        atomic_init(&w.finalized, false);
        atomic_init(&w.finalized_count, 0);
        w.main_thread = pthread_self();
        keel_job_registry *r = NULL;
        CHECK_OK(keel_job_registry_new(NULL, 0, &r));
        CHECK_OK(keel_job_registry_start(r, "j", 1, where_work, &w, where_finalizer));
        keel_job_registry_free(r);
        CHECK(!atomic_load(&w.finalized) || atomic_load(&w.work_ran));
        for (int waited = 0; waited < 30000 && !atomic_load(&w.finalized); waited++) {
            sleep_ms(1);
        }
        CHECK(atomic_load(&w.finalized));
        CHECK(atomic_load(&w.work_ran));
        CHECK(atomic_load(&w.finalized_count) == 1);
        CHECK(pthread_equal(w.fin_thread, w.work_thread));
        CHECK(!pthread_equal(w.fin_thread, w.main_thread));
    }
    sleep_ms(50); /* let the last job threads exit before the leak check */
}

/* Re-attach: the finalizer runs before _start returns, on the calling thread. */
static void test_finalizer_on_reattach_runs_on_the_caller(void) {
    keel_job_registry *r = NULL;
    CHECK_OK(keel_job_registry_new(NULL, 0, &r));
    struct where first, again;
    memset(&first, 0, sizeof first);
    memset(&again, 0, sizeof again);
    CHECK_OK(keel_job_registry_start(r, "k", 1, where_work, &first, where_finalizer));
    CHECK_OK(keel_job_registry_start(r, "k", 1, where_work, &again, where_finalizer));
    CHECK(atomic_load(&again.finalized));
    CHECK(!atomic_load(&again.work_ran));
    CHECK(pthread_equal(again.fin_thread, pthread_self()));
    keel_job_state st;
    CHECK_OK(keel_job_registry_abort(r, "k", 1, "done", 4, &st));
    for (int waited = 0; waited < 30000 && !atomic_load(&first.finalized); waited++) {
        sleep_ms(1);
    }
    CHECK(atomic_load(&first.finalized));
    CHECK(pthread_equal(first.fin_thread, first.work_thread));
    keel_job_registry_free(r);
    sleep_ms(50);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(120);
    RUN(test_stale_redactor_handle_is_refused);
    RUN(test_foreign_handle_is_refused);
    RUN(test_stale_job_ctx_cannot_fail_another_job);
    RUN(test_stream_calls_from_its_own_callback);
    RUN(test_stream_cycle_through_callbacks_is_refused);
    RUN(test_callback_frees_its_stream);
    RUN(test_work_aborting_its_own_job);
    RUN(test_success_clears_the_last_error);
    RUN(test_free_keeps_the_last_error);
    RUN(test_finalizer_runs_on_the_job_thread_when_registry_freed_first);
    RUN(test_finalizer_on_reattach_runs_on_the_caller);
    RUN(test_no_leaks);
    return TEST_SUMMARY();
}
