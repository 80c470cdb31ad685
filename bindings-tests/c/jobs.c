/*
 * C tests of keel's job watchdogs: keel_job_registry with supervised commands and
 * host-driven jobs (keel_job_ctx). Built by run.sh with
 *   gcc -Wall -Wextra -Werror -fsanitize=address,undefined
 * and run with LeakSanitizer on. Every process these tests start is a real `sh`.
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
#define ID(s) (s), SLEN(s)

/* ---- helpers ---------------------------------------------------------- */

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static keel_job_registry *new_registry(const char *limits) {
    keel_job_registry *r = NULL;
    if (keel_job_registry_new(limits, limits ? strlen(limits) : 0, &r) != KEEL_OK) {
        return NULL;
    }
    return r;
}

/* Poll until no job runs; false after `timeout_ms`. */
static bool wait_idle(const keel_job_registry *r, long timeout_ms) {
    for (long waited = 0; waited <= timeout_ms; waited += 10) {
        size_t n = 99;
        if (keel_job_registry_running_count(r, &n) != KEEL_OK) {
            return false;
        }
        if (n == 0) {
            return true;
        }
        sleep_ms(10);
    }
    return false;
}

/* The job's view JSON as a malloc'd C string (NULL on failure). */
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

#define CHECK_HAS(hay, needle)                                          \
    do {                                                                \
        if (strstr((hay), (needle)) == NULL) {                          \
            FAIL_AT("\"%.1500s\" lacks \"%s\"", (hay), (needle));       \
            free(hay);                                                  \
            return;                                                     \
        }                                                               \
    } while (0)

#define CHECK_LACKS(hay, needle)                                        \
    do {                                                                \
        if (strstr((hay), (needle)) != NULL) {                          \
            FAIL_AT("\"%.1500s\" contains \"%s\"", (hay), (needle));    \
            free(hay);                                                  \
            return;                                                     \
        }                                                               \
    } while (0)

/* Whether `pid` is a live (non-zombie) process. */
static bool pid_alive(long pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' && close[2] != 'Z' && close[2] != 'X';
}

static long read_pid_file(const char *path) {
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            long pid = 0;
            int got = fscanf(f, "%ld", &pid);
            fclose(f);
            if (got == 1 && pid > 1) {
                return pid;
            }
        }
        sleep_ms(10);
    }
    return -1;
}

/* ---- supervised commands ---------------------------------------------- */

/* A command that prints once and then hangs (with a grandchild holding on) is killed
 * by the inactivity watchdog; its whole group goes, and the view says why. */
static void test_run_command_hang_is_killed_for_inactivity(void) {
    char pidfile[] = "/tmp/keel-jobs-c-XXXXXX";
    int fd = mkstemp(pidfile);
    CHECK(fd >= 0);
    close(fd);
    unlink(pidfile);

    keel_job_registry *r = new_registry("{\"inactivityMs\":700}");
    CHECK(r != NULL);
    char spec[512];
    snprintf(spec, sizeof spec,
             "{\"cmd\":\"sh\",\"args\":[\"-c\",\"sleep 60 & echo $! > %s; echo working; wait\"],"
             "\"killGraceMs\":1000}",
             pidfile);
    CHECK_OK(keel_job_registry_run_command(r, ID("hung"), spec, strlen(spec)));
    /* idempotent: a second start of the same id starts nothing */
    CHECK_OK(keel_job_registry_run_command(r, ID("hung"), spec, strlen(spec)));
    long grandchild = read_pid_file(pidfile);
    unlink(pidfile);
    if (grandchild <= 0) {
        keel_job_registry_free(r);
        FAIL_AT("the command never wrote its grandchild's pid");
        return;
    }
    CHECK(pid_alive(grandchild));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "hung");
    keel_job_registry_free(r);
    CHECK(idle);
    CHECK(view != NULL);
    CHECK_HAS(view, "\"state\":\"failed\"");
    CHECK_HAS(view, "\"failureCause\":\"inactivity-timeout\"");
    CHECK_HAS(view, "\"error\":\"Aborted: no agent activity for 700ms (likely hung in command phase; "
                    "no tool had completed yet)\"");
    CHECK_HAS(view, "\"detail\":\"Phase timings: ");
    CHECK_HAS(view, "\"startedAt\":");
    CHECK_HAS(view, "\"heartbeatAt\":");
    free(view);
    CHECK(!pid_alive(grandchild));
}

/* A command's result (exit code, redacted tail) is the job's result; knownSecrets are
 * masked in the output. */
static void test_run_command_result_and_redaction(void) {
    keel_job_registry *r = new_registry(NULL);
    CHECK(r != NULL);
    const char *spec =
        "{\"cmd\":\"sh\",\"args\":[\"-c\",\"echo token=c-job-secret-0123456789; exit 3\"],"
        "\"knownSecrets\":[\"c-job-secret-0123456789\"],\"env\":{\"KEEL_X\":\"1\"}}";
    CHECK_OK(keel_job_registry_run_command(r, ID("exit3"), spec, strlen(spec)));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "exit3");
    keel_job_registry_free(r);
    CHECK(idle);
    CHECK(view != NULL);
    CHECK_HAS(view, "\"state\":\"done\"");
    CHECK_HAS(view, "\"exit\":{\"kind\":\"exited\",\"code\":3}");
    CHECK_HAS(view, "\"error\":\"command sh: exited with code 3\"");
    CHECK_HAS(view, "\"groupCleared\":true");
    CHECK_LACKS(view, "c-job-secret-0123456789");
    free(view);
}

/* ---- host-driven jobs ------------------------------------------------- */

struct host_state {
    atomic_int finalized;
    atomic_int saw_cancel;
    atomic_int ran;
    pthread_t work_thread;
    pthread_t caller_thread;
};

static void host_finalizer(void *userdata) {
    struct host_state *st = userdata;
    atomic_fetch_add(&st->finalized, 1);
}

static void well_behaved_work(void *userdata, keel_job_ctx *ctx) {
    struct host_state *st = userdata;
    st->work_thread = pthread_self();
    atomic_store(&st->ran, 1);
    keel_job_ctx_activity(ctx);
    keel_job_ctx_phase(ctx, ID("clone"));
    keel_job_ctx_activity(ctx);
    const char *span = "{\"tool\":\"Bash\",\"seq\":0,\"startedAt\":1,\"ok\":true,\"args\":\"ls\"}";
    keel_job_ctx_span(ctx, span, strlen(span));
    const char *progress = "{\"completed\":1,\"total\":2}";
    keel_job_ctx_progress(ctx, progress, strlen(progress));
    const char *follow = "[{\"kind\":\"question\",\"text\":\"why?\"}]";
    keel_job_ctx_follow_up(ctx, follow, strlen(follow));
    keel_job_ctx_phase(ctx, ID("push"));
    bool cancelled = true;
    keel_job_ctx_is_cancelled(ctx, &cancelled);
    if (cancelled) {
        atomic_store(&st->saw_cancel, 1);
    }
    const char *result = "{\"prUrl\":\"https://example.invalid/pr/1\"}";
    keel_job_ctx_succeed(ctx, result, strlen(result));
    /* a second outcome is refused */
    if (keel_job_ctx_succeed(ctx, result, strlen(result)) != KEEL_JOB_OUTCOME_SET) {
        atomic_store(&st->saw_cancel, 2);
    }
}

static void test_host_job_reports_and_finishes(void) {
    static struct host_state st;
    memset(&st, 0, sizeof st);
    st.caller_thread = pthread_self();
    keel_job_registry *r = new_registry("{\"inactivityMs\":60000}");
    CHECK(r != NULL);
    CHECK_OK(keel_job_registry_start(r, ID("host-1"), well_behaved_work, &st, host_finalizer));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "host-1");
    char *again = view_of(r, "host-1");
    /* re-attach: the finished job is not run again; the finalizer runs right away */
    static struct host_state st2;
    memset(&st2, 0, sizeof st2);
    keel_result rc = keel_job_registry_start(r, ID("host-1"), well_behaved_work, &st2, host_finalizer);
    keel_job_registry_free(r);
    CHECK(idle);
    CHECK(rc == KEEL_OK);
    CHECK(atomic_load(&st2.ran) == 0);
    CHECK(atomic_load(&st2.finalized) == 1);
    CHECK(atomic_load(&st.ran) == 1);
    CHECK(atomic_load(&st.finalized) == 1);
    CHECK(atomic_load(&st.saw_cancel) == 0);
    CHECK(!pthread_equal(st.work_thread, st.caller_thread));
    CHECK(view != NULL && again != NULL);
    CHECK_HAS(view, "\"state\":\"done\"");
    CHECK_HAS(view, "\"phase\":\"done\"");
    CHECK_HAS(view, "\"result\":{\"prUrl\":\"https://example.invalid/pr/1\"}");
    CHECK_HAS(view, "\"progress\":{\"completed\":1,\"total\":2}");
    CHECK_HAS(view, "\"spans\":[{\"tool\":\"Bash\"");
    CHECK_HAS(view, "\"args\":\"ls\"");
    CHECK_HAS(view, "\"followUps\":[{\"kind\":\"question\"");
    CHECK_LACKS(again, "\"spans\"");
    CHECK_LACKS(again, "\"followUps\"");
    free(view);
    free(again);
}

/* A host job whose result carries secrets — a registered known secret in a nested
 * string and as an object key, and a GitHub-token shape — is redacted recursively in
 * every view (issue 8 item 3): no `get()` caller ever sees the value. */
#define RESULT_SECRET "c-result-secret-0123456789abcdef"
#define RESULT_TOKEN "ghp_R7mK2pX9vL4qT8nW1yZ6bC3dF5hJ0sA2uE4i"

static void secret_result_work(void *userdata, keel_job_ctx *ctx) {
    (void)userdata;
    const char *result = "{\"log\":{\"lines\":[\"auth " RESULT_SECRET " ok\",\"push with " RESULT_TOKEN
                         "\"]},\"" RESULT_SECRET "\":1,\"count\":2,\"ok\":true}";
    keel_job_ctx_succeed(ctx, result, strlen(result));
}

static void test_host_job_result_is_redacted(void) {
    bool added = false;
    CHECK_OK(keel_register_known_secret(ID(RESULT_SECRET), &added));
    keel_job_registry *r = new_registry(NULL);
    CHECK(r != NULL);
    static struct host_state st;
    memset(&st, 0, sizeof st);
    CHECK_OK(keel_job_registry_start(r, ID("secret-result"), secret_result_work, &st, host_finalizer));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "secret-result");
    char *again = view_of(r, "secret-result");
    keel_job_registry_free(r);
    CHECK(idle);
    CHECK(view != NULL && again != NULL);
    CHECK_HAS(view, "\"state\":\"done\"");
    /* The shape survives: numbers, booleans and the other strings are untouched. */
    CHECK_HAS(view, "\"count\":2");
    CHECK_HAS(view, "\"ok\":true");
    CHECK_HAS(view, "\"auth *** ok\"");
    CHECK_LACKS(view, RESULT_SECRET);
    CHECK_LACKS(view, RESULT_TOKEN);
    CHECK_LACKS(again, RESULT_SECRET);
    CHECK_LACKS(again, RESULT_TOKEN);
    free(view);
    free(again);
}

/* Work that never reports activity: the inactivity watchdog cancels it, the work sees
 * it through the context, and the view names the phase it hung in. */
static void silent_work(void *userdata, keel_job_ctx *ctx) {
    struct host_state *st = userdata;
    atomic_store(&st->ran, 1);
    keel_job_ctx_phase(ctx, ID("agent"));
    for (int i = 0; i < 1000; i++) {
        bool cancelled = false;
        if (keel_job_ctx_wait_cancelled(ctx, 50, &cancelled) != KEEL_OK) {
            return;
        }
        if (cancelled) {
            atomic_store(&st->saw_cancel, 1);
            break;
        }
    }
    keel_job_ctx_fail(ctx, ID("agent"), ID("stopped after cancellation"));
}

static void test_host_job_ignoring_activity_is_cancelled(void) {
    static struct host_state st;
    memset(&st, 0, sizeof st);
    keel_job_registry *r = new_registry("{\"inactivityMs\":400,\"cancelGraceMs\":5000}");
    CHECK(r != NULL);
    CHECK_OK(keel_job_registry_start(r, ID("silent"), silent_work, &st, host_finalizer));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "silent");
    keel_job_registry_free(r);
    CHECK(idle);
    CHECK(atomic_load(&st.saw_cancel) == 1);
    for (int i = 0; i < 100 && atomic_load(&st.finalized) == 0; i++) {
        sleep_ms(10);
    }
    CHECK(atomic_load(&st.finalized) == 1);
    CHECK(view != NULL);
    CHECK_HAS(view, "\"state\":\"failed\"");
    CHECK_HAS(view, "\"failureCause\":\"inactivity-timeout\"");
    CHECK_HAS(view, "Aborted: no agent activity for 400ms (likely hung in agent phase; no tool had completed yet)");
    free(view);
}

/* keel_job_registry_abort waits for the job to settle and reports the state. */
static void test_host_job_abort(void) {
    static struct host_state st;
    memset(&st, 0, sizeof st);
    keel_job_registry *r = new_registry(NULL);
    CHECK(r != NULL);
    CHECK_OK(keel_job_registry_start(r, ID("abort-me"), silent_work, &st, host_finalizer));
    size_t n = 0;
    CHECK_OK(keel_job_registry_running_count(r, &n));
    CHECK(n == 1);
    keel_job_state state = KEEL_JOB_RUNNING;
    keel_result rc = keel_job_registry_abort(r, ID("abort-me"), ID("user asked"), &state);
    char *view = view_of(r, "abort-me");
    keel_job_state again = KEEL_JOB_RUNNING;
    keel_result rc2 = keel_job_registry_abort(r, ID("abort-me"), ID("twice"), &again);
    keel_result rc3 = keel_job_registry_abort(r, ID("nobody"), ID("x"), &again);
    size_t aborted = 99;
    keel_result rc4 = keel_job_registry_abort_all(r, ID("all"), &aborted);
    keel_job_registry_free(r);
    CHECK(rc == KEEL_OK);
    CHECK(state == KEEL_JOB_FAILED);
    CHECK(rc2 == KEEL_OK && again == KEEL_JOB_FAILED);
    CHECK(rc3 == KEEL_JOB_NOT_FOUND);
    CHECK(rc4 == KEEL_OK && aborted == 0);
    CHECK(view != NULL);
    CHECK_HAS(view, "\"error\":\"Aborted: user asked\"");
    CHECK_HAS(view, "\"failureCause\":\"aborted\"");
    free(view);
}

/* A work function that returns without reporting fails the job. */
static void forgetful_work(void *userdata, keel_job_ctx *ctx) {
    (void)userdata;
    keel_job_ctx_activity(ctx);
}

static void test_host_job_without_outcome_fails(void) {
    keel_job_registry *r = new_registry(NULL);
    CHECK(r != NULL);
    CHECK_OK(keel_job_registry_start(r, ID("forgot"), forgetful_work, NULL, NULL));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "forgot");
    keel_job_registry_free(r);
    CHECK(idle && view != NULL);
    CHECK_HAS(view, "\"failureCause\":\"agent\"");
    CHECK_HAS(view, "returned without calling keel_job_ctx_succeed");
    free(view);
}

/* ---- argument errors -------------------------------------------------- */

static void test_null_arguments(void) {
    CHECK_RC(keel_job_registry_new(NULL, 0, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("out is NULL");
    CHECK_RC(keel_job_registry_run_command(NULL, ID("x"), ID("{\"cmd\":\"true\"}")),
             KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("registry is NULL");
    size_t n = 0;
    CHECK_RC(keel_job_registry_running_count(NULL, &n), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_job_ctx_activity(NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_job_ctx_phase(NULL, ID("x")), KEEL_NULL_PARAMETER);
    bool b = false;
    CHECK_RC(keel_job_ctx_is_cancelled(NULL, &b), KEEL_NULL_PARAMETER);
    keel_job_registry_free(NULL);

    keel_job_registry *r = new_registry("");
    CHECK(r != NULL);
    static struct host_state st;
    memset(&st, 0, sizeof st);
    /* NULL work: refused, and the finalizer still runs */
    keel_result rc = keel_job_registry_start(r, ID("w"), NULL, &st, host_finalizer);
    keel_result rc_out = keel_job_registry_running_count(r, NULL);
    keel_string *s = NULL;
    keel_result rc_get = keel_job_registry_get(r, ID("unknown"), &s);
    keel_result rc_get_null = keel_job_registry_get(r, ID("unknown"), NULL);
    keel_result rc_id = keel_job_registry_run_command(r, NULL, 3, ID("{\"cmd\":\"true\"}"));
    keel_result rc_empty = keel_job_registry_run_command(r, "", 0, ID("{\"cmd\":\"true\"}"));
    keel_result rc_utf8 = keel_job_registry_run_command(r, "\xff", 1, ID("{\"cmd\":\"true\"}"));
    keel_job_registry_free(r);
    keel_job_registry_free(r); /* twice is harmless */
    CHECK(rc == KEEL_NULL_PARAMETER);
    CHECK(atomic_load(&st.finalized) == 1);
    CHECK(rc_out == KEEL_NULL_PARAMETER);
    CHECK(rc_get == KEEL_JOB_NOT_FOUND && s == NULL);
    CHECK(rc_get_null == KEEL_NULL_PARAMETER);
    CHECK(rc_id == KEEL_NULL_PARAMETER);
    CHECK(rc_empty == KEEL_INVALID_ARGUMENT);
    CHECK(rc_utf8 == KEEL_INVALID_UTF8);
    /* a freed registry is refused, not dereferenced */
    CHECK_RC(keel_job_registry_running_count(r, &n), KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("not a live keel_job_registry");
}

static void test_bad_spec_json_names_the_field(void) {
    keel_job_registry *r = new_registry(NULL);
    CHECK(r != NULL);
    struct {
        const char *spec;
        keel_result code;
        const char *message;
    } cases[] = {
        {"{\"cmd\":\"sh\",\"args\":\"-c\"}", KEEL_INVALID_JSON, "spec.args is not an array"},
        {"{\"cmd\":\"sh\",\"inactivityMs\":\"5\"}", KEEL_INVALID_JSON,
         "spec.inactivityMs is not a non-negative integer"},
        {"{\"cmd\":\"sh\",\"killGraceMs\":-1}", KEEL_INVALID_OPTION,
         "spec.killGraceMs is not a non-negative integer"},
        {"{\"cmdd\":\"sh\"}", KEEL_INVALID_JSON, "spec has an unknown field (4 characters; did you mean \"cmd\"?)"},
        {"{\"args\":[]}", KEEL_INVALID_JSON, "spec.cmd is missing"},
        {"{\"cmd\":\"sh\",\"env\":{\"A\":1}}", KEEL_INVALID_JSON, "spec.env.A is not a string"},
        {"{\"cmd\":\"sh\",\"env\":[]}", KEEL_INVALID_JSON, "spec.env is not an object"},
        {"[1]", KEEL_INVALID_JSON, "spec is not an object"},
        {"{\"cmd\":", KEEL_INVALID_JSON, "spec_json is not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_result rc = keel_job_registry_run_command(r, ID("bad"), cases[i].spec,
                                                       strlen(cases[i].spec));
        if (rc != cases[i].code) {
            FAIL_AT("case %zu returned %s", i, keel_result_name((int)rc));
            keel_job_registry_free(r);
            return;
        }
        const char *m = keel_last_error_message();
        if (strstr(m, cases[i].message) == NULL) {
            FAIL_AT("case %zu: \"%s\" lacks \"%s\"", i, m, cases[i].message);
            keel_job_registry_free(r);
            return;
        }
    }
    /* an error about a spec never echoes the secrets in it */
    const char *secret_spec =
        "{\"cmd\":\"sh\",\"args\":[\"c-spec-secret-987654321\"],\"tailChars\":\"c-spec-secret-987654321\"}";
    keel_result rc = keel_job_registry_run_command(r, ID("bad"), secret_spec, strlen(secret_spec));
    size_t n = 99;
    keel_job_registry_running_count(r, &n);
    keel_job_registry_free(r);
    CHECK(rc == KEEL_INVALID_JSON);
    CHECK_MSG_LACKS("c-spec-secret-987654321");
    CHECK(n == 0);

    keel_job_registry *bad = NULL;
    CHECK_RC(keel_job_registry_new(ID("{\"inactivityMs\":-5}"), &bad), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("limits.inactivityMs is not a non-negative integer");
    CHECK_RC(keel_job_registry_new(ID("{\"inactivity\":5}"), &bad), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("limits has an unknown field (10 characters; did you mean \"inactivityMs\"?)");
    CHECK(bad == NULL);
    /* the reference's RunnerLimits object is accepted as is */
    CHECK_OK(keel_job_registry_new(
        ID("{\"maxDurationMs\":3600000,\"inactivityMs\":600000,\"coldStartMs\":120000,"
           "\"toolSilenceMs\":1800000}"),
        &bad));
    keel_job_registry_free(bad);
}

static void test_ctx_argument_errors(void);

static void bad_ctx_work(void *userdata, keel_job_ctx *ctx) {
    int *codes = userdata;
    codes[0] = keel_job_ctx_span(ctx, ID("{\"seq\":1}"));
    codes[1] = keel_job_ctx_span(ctx, ID("{\"tool\":\"x\",\"endedAt\":\"soon\"}"));
    codes[2] = keel_job_ctx_progress(ctx, ID("{\"completed\":\"a\"}"));
    codes[3] = keel_job_ctx_fail(ctx, ID("not-a-cause"), ID("m"));
    codes[4] = keel_job_ctx_succeed(ctx, ID("{"));
    codes[5] = keel_job_ctx_metric(ctx, ID("[]"));
    codes[6] = keel_job_ctx_fail(ctx, ID("git"), ID("push rejected"));
}

static void test_ctx_argument_errors(void) {
    static int codes[7];
    keel_job_registry *r = new_registry(NULL);
    CHECK(r != NULL);
    CHECK_OK(keel_job_registry_start(r, ID("ctx-errors"), bad_ctx_work, codes, NULL));
    bool idle = wait_idle(r, 10000);
    char *view = view_of(r, "ctx-errors");
    keel_job_registry_free(r);
    CHECK(idle);
    CHECK(codes[0] == KEEL_INVALID_JSON);
    CHECK(codes[1] == KEEL_INVALID_JSON);
    CHECK(codes[2] == KEEL_INVALID_JSON);
    CHECK(codes[3] == KEEL_INVALID_ARGUMENT);
    CHECK(codes[4] == KEEL_INVALID_JSON);
    CHECK(codes[5] == KEEL_INVALID_JSON);
    CHECK(codes[6] == KEEL_OK);
    CHECK(view != NULL);
    CHECK_HAS(view, "\"error\":\"push rejected\"");
    CHECK_HAS(view, "\"failureCause\":\"git\"");
    free(view);
}

int main(void) {
    RUN(test_run_command_hang_is_killed_for_inactivity);
    RUN(test_run_command_result_and_redaction);
    RUN(test_host_job_reports_and_finishes);
    RUN(test_host_job_result_is_redacted);
    RUN(test_host_job_ignoring_activity_is_cancelled);
    RUN(test_host_job_abort);
    RUN(test_host_job_without_outcome_fails);
    RUN(test_null_arguments);
    RUN(test_bad_spec_json_names_the_field);
    RUN(test_ctx_argument_errors);
    RUN(test_no_leaks);
    return TEST_SUMMARY();
}
