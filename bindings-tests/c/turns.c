/*
 * C tests of keel's turn runner: keel_turn_run driving the fake agent CLI
 * (core/tests/fixtures/turns/fake_agent.py, real child processes) through a completed
 * turn, a resume, the stall watchdog, an abort from another thread and from the event
 * callback, the session query, the lock timeout, and bad input (NULLs, malformed and
 * out-of-range options, stale handles). Built by run.sh with gcc -Wall -Wextra
 * -Werror -fsanitize=address,undefined and run with LeakSanitizer on.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SLEN(s) (sizeof(s) - 1)
#define SECRET "sk-ant-api03-CTESTSECRETvalue0123456789abcdefABCDEF"

static char tmpdir[256];
static char fake[512];
static const char *more_env = ""; /* extra "K":"V" pairs for the next opts() */

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* core/tests/fixtures/turns/fake_agent.py, found from this file's path. */
static void find_fake(void) {
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');
    size_t dir = slash ? (size_t)(slash - src) : 1;
    if (slash) memcpy(fake, src, dir); else fake[0] = '.';
    strcpy(fake + dir, "/../../core/tests/fixtures/turns/fake_agent.py");
}

/* Options JSON for agent `agent` in state dir `state` (under tmpdir) with extra fields. */
static char *opts(const char *agent, const char *runtime, const char *mode, const char *extra) {
    char *buf = malloc(4096);
    snprintf(buf, 4096,
             "{\"agentName\":\"%s\",\"runtime\":\"%s\",\"stateDir\":\"%s/state\","
             "\"input\":\"do the work\",\"bin\":\"%s\",\"parentAgent\":\"lead\","
             "\"env\":{\"FAKE_MODE\":\"%s\",\"FAKE_SECRET\":\"" SECRET "\","
             "\"FAKE_RECORD\":\"%s/%s.record\"%s%s},\"secrets\":[\"" SECRET "\"]%s%s}",
             agent, runtime, tmpdir, fake, mode, tmpdir, agent, more_env[0] ? "," : "", more_env,
             extra[0] ? "," : "", extra);
    return buf;
}

struct events {
    int count;
    int session_starts;
    int results;
    int leaked; /* an event carried the secret */
    int bad_terminator;
    keel_turn_signal *abort_on_first; /* abort from inside the callback */
    char last_type[32];
};

static void on_event(void *ud, const char *json, size_t len) {
    struct events *ev = ud;
    if (json[len] != '\0' || strlen(json) != len) ev->bad_terminator = 1;
    ev->count++;
    if (strstr(json, "\"type\":\"session_start\"")) ev->session_starts++;
    if (strstr(json, "\"type\":\"result\"")) ev->results++;
    if (strstr(json, "CTESTSECRET")) ev->leaked = 1;
    const char *t = strstr(json, "\"type\":\"");
    if (t) {
        t += 8;
        size_t n = strcspn(t, "\"");
        if (n >= sizeof ev->last_type) n = sizeof ev->last_type - 1;
        memcpy(ev->last_type, t, n);
        ev->last_type[n] = 0;
    }
    if (ev->abort_on_first && ev->count == 1) keel_turn_signal_abort(ev->abort_on_first);
}

/* Run a turn; returns the result JSON (malloc'd copy) or NULL (rc in *rc). */
static char *run(const char *options, struct events *ev, keel_turn_signal *sig, keel_result *rc) {
    keel_string *res = NULL;
    *rc = keel_turn_run(options, strlen(options), ev ? on_event : NULL, ev, sig, &res);
    if (*rc != KEEL_OK) return NULL;
    char *copy = strndup(res->data, res->len);
    keel_string_free(res);
    return copy;
}

#define HAS(json, needle)                                                              \
    do {                                                                               \
        if (!strstr((json), (needle))) {                                               \
            FAIL_AT("result lacks %s: %s", (needle), (json));                          \
            free(json);                                                                \
            return;                                                                    \
        }                                                                              \
    } while (0)

/* The pid the fake recorded (it writes its record after reading stdin). */
static long recorded_pid(const char *agent) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.record", tmpdir, agent);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            char buf[8192];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            const char *p = strstr(buf, "\"pid\": ");
            if (p) return atol(p + 7);
        }
        sleep_ms(50);
    }
    return -1;
}

/* Whether a process is alive (not gone, not a zombie). */
static bool alive(long pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Live descendants of this process (scanning /proc for every process whose parent
 * chain reaches us). */
static int live_descendants(void) {
    pid_t me = getpid();
    int found = 0;
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = atol(e->d_name);
        if (pid <= 0 || pid == me) continue;
        long cur = pid;
        for (int depth = 0; depth < 64 && cur > 1; depth++) {
            char path[64], buf[512];
            snprintf(path, sizeof path, "/proc/%ld/stat", cur);
            FILE *f = fopen(path, "r");
            if (!f) break;
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            const char *p = strrchr(buf, ')');
            char st = 0;
            long ppid = 0;
            if (!p || sscanf(p + 2, "%c %ld", &st, &ppid) != 2) break;
            if (depth == 0 && (st == 'Z' || st == 'X')) break;
            if (ppid == me) { found++; break; }
            cur = ppid;
        }
    }
    closedir(d);
    return found;
}

static void test_claude_turn_completes_with_redacted_events(void) {
    char *o = opts("bob", "claude", "ok", "\"runId\":\"run-c\"");
    struct events ev = {0};
    keel_result rc;
    char *r = run(o, &ev, NULL, &rc);
    free(o);
    CHECK_RC(rc, KEEL_OK);
    CHECK(r != NULL);
    HAS(r, "\"finalState\":\"completed\"");
    HAS(r, "\"initialState\":\"booting\"");
    HAS(r, "\"newSessionId\":\"sess-1\"");
    HAS(r, "\"cleanResult\":true");
    HAS(r, "\"exitCode\":0");
    HAS(r, "\"runId\":\"run-c\"");
    HAS(r, "\"eventCount\":5");
    bool leaked = strstr(r, "CTESTSECRET") != NULL;
    free(r);
    CHECK(!leaked);
    CHECK(ev.count == 5);
    CHECK(ev.session_starts == 1);
    CHECK(ev.results == 1);
    CHECK(strcmp(ev.last_type, "result") == 0);
    CHECK(!ev.leaked);
    CHECK(!ev.bad_terminator);
    CHECK(live_descendants() == 0);
}

static void test_resume_reuses_the_stored_session_and_session_query(void) {
    char *o = opts("bob", "claude", "ok", "\"resume\":true");
    keel_result rc;
    char *r = run(o, NULL, NULL, &rc);
    free(o);
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"resumeMismatch\":false");
    HAS(r, "\"newSessionId\":\"sess-1\"");
    HAS(r, "\"initialState\":\"completed\"");
    free(r);
    char path[512], rec[8192];
    snprintf(path, sizeof path, "%s/bob.record", tmpdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(rec, 1, sizeof rec - 1, f);
    fclose(f);
    rec[n] = 0;
    CHECK(strstr(rec, "\"--resume\", \"sess-1\"") != NULL);

    char state[300];
    snprintf(state, sizeof state, "%s/state", tmpdir);
    keel_string *s = NULL;
    CHECK_OK(keel_turn_session(state, strlen(state), "bob", 3, NULL, 0, &s));
    bool ok = strstr(s->data, "\"state\":\"completed\"") && strstr(s->data, "\"sessionId\":\"sess-1\"") &&
              strstr(s->data, "\"parentAgent\":\"lead\"");
    keel_string_free(s);
    CHECK(ok);
    s = NULL;
    CHECK_OK(keel_turn_session(state, strlen(state), "nobody", 6, NULL, 0, &s));
    ok = strcmp(s->data, "null") == 0;
    keel_string_free(s);
    CHECK(ok);
    /* a state dir that does not exist: no session, nothing created */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-dir", tmpdir);
    s = NULL;
    CHECK_OK(keel_turn_session(missing, strlen(missing), "bob", 3, NULL, 0, &s));
    ok = strcmp(s->data, "null") == 0;
    keel_string_free(s);
    CHECK(ok);
    CHECK(access(missing, F_OK) != 0);
}

static void test_resume_mismatch_is_reported(void) {
    more_env = "\"FAKE_SESSION\":\"other-id\"";
    char *o = opts("bob", "claude", "mismatch", "\"resume\":true");
    more_env = "";
    struct events ev = {0};
    keel_result rc;
    char *r = run(o, &ev, NULL, &rc);
    free(o);
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"resumeMismatch\":true");
    HAS(r, "\"newSessionId\":\"other-id\"");
    free(r);
    CHECK(!ev.leaked);
}

static void test_codex_turn_completes(void) {
    char *o = opts("cody", "codex", "ok", "");
    struct events ev = {0};
    keel_result rc;
    char *r = run(o, &ev, NULL, &rc);
    free(o);
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"finalState\":\"completed\"");
    HAS(r, "\"newSessionId\":\"sess-1\"");
    free(r);
    CHECK(ev.session_starts == 1);
    CHECK(ev.results == 1);
    CHECK(!ev.leaked);
}

static void test_stall_watchdog_kills_the_tree(void) {
    char *o = opts("stally", "claude", "stall", "\"stallMs\":1500,\"killGraceMs\":500");
    struct events ev = {0};
    keel_result rc;
    double t0 = now_s();
    char *r = run(o, &ev, NULL, &rc);
    double took = now_s() - t0;
    free(o);
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"stallAborted\":true");
    HAS(r, "\"finalState\":\"zombie\"");
    HAS(r, "\"killReason\":\"stall\"");
    HAS(r, "\"parentNotified\":true");
    free(r);
    CHECK(took < 30.0); /* the fake sleeps 60 s */
    long pid = recorded_pid("stally");
    CHECK(pid > 0);
    CHECK(!alive(pid));
    CHECK(live_descendants() == 0);
}

struct aborter {
    keel_turn_signal *sig;
    const char *agent;
};

static void *abort_later(void *arg) {
    struct aborter *a = arg;
    recorded_pid(a->agent); /* the CLI is running */
    sleep_ms(200);
    keel_turn_signal_abort(a->sig);
    return NULL;
}

static void test_abort_from_another_thread_kills_the_tree(void) {
    keel_turn_signal *sig = NULL;
    CHECK_OK(keel_turn_signal_new(&sig));
    bool aborted = true;
    CHECK_OK(keel_turn_signal_is_aborted(sig, &aborted));
    CHECK(!aborted);
    char *o = opts("abby", "claude", "ignore_term", "\"killGraceMs\":300");
    struct aborter a = {sig, "abby"};
    pthread_t t;
    pthread_create(&t, NULL, abort_later, &a);
    keel_result rc;
    double t0 = now_s();
    char *r = run(o, NULL, sig, &rc);
    double took = now_s() - t0;
    pthread_join(t, NULL);
    free(o);
    CHECK_OK(keel_turn_signal_is_aborted(sig, &aborted));
    keel_turn_signal_free(sig);
    keel_turn_signal_free(sig); /* idempotent */
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"aborted\":true");
    HAS(r, "\"finalState\":\"zombie\"");
    HAS(r, "\"killReason\":\"abort\"");
    free(r);
    CHECK(aborted);
    CHECK(took < 30.0);
    long pid = recorded_pid("abby");
    CHECK(pid > 0);
    CHECK(!alive(pid)); /* it ignored SIGTERM: SIGKILL after the grace */
    CHECK(live_descendants() == 0);
}

static void test_abort_from_the_event_callback(void) {
    keel_turn_signal *sig = NULL;
    CHECK_OK(keel_turn_signal_new(&sig));
    struct events ev = {0};
    ev.abort_on_first = sig;
    char *o = opts("cally", "claude", "stall", "\"killGraceMs\":300");
    keel_result rc;
    char *r = run(o, &ev, sig, &rc);
    free(o);
    keel_turn_signal_free(sig);
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"aborted\":true");
    free(r);
    CHECK(ev.count >= 1);
    CHECK(live_descendants() == 0);
}

static void test_empty_input_is_a_no_op(void) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"agentName\":\"idle\",\"runtime\":\"claude\",\"stateDir\":\"%s/state\",\"bin\":\"/nonexistent\"}",
             tmpdir);
    keel_result rc;
    char *r = run(buf, NULL, NULL, &rc);
    CHECK_RC(rc, KEEL_OK);
    HAS(r, "\"noOp\":true");
    free(r);
}

static void test_missing_cli_is_a_spawn_error(void) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"agentName\":\"nobin\",\"runtime\":\"codex\",\"stateDir\":\"%s/state\",\"input\":\"x\","
             "\"bin\":\"%s/no-such-cli\"}",
             tmpdir, tmpdir);
    keel_result rc;
    char *r = run(buf, NULL, NULL, &rc);
    CHECK(r == NULL);
    CHECK_RC(rc, KEEL_SPAWN_FAILED);
    CHECK_MSG_HAS("no-such-cli");
}

struct holder {
    char *options;
    keel_result rc;
};

static void *hold_lock(void *arg) {
    struct holder *h = arg;
    keel_string *res = NULL;
    h->rc = keel_turn_run(h->options, strlen(h->options), NULL, NULL, NULL, &res);
    keel_string_free(res);
    return NULL;
}

static void test_a_busy_agent_times_out_naming_the_holder(void) {
    struct holder h = {opts("busy", "claude", "stall", "\"stallMs\":3000,\"killGraceMs\":200"), KEEL_OK};
    pthread_t t;
    pthread_create(&t, NULL, hold_lock, &h);
    CHECK(recorded_pid("busy") > 0); /* the first turn holds the lock */
    char *o = opts("busy", "claude", "ok", "\"lockTimeoutMs\":200");
    keel_result rc;
    char *r = run(o, NULL, NULL, &rc);
    free(o);
    pthread_join(t, NULL);
    free(h.options);
    CHECK(r == NULL);
    CHECK_RC(rc, KEEL_TURN_LOCK_TIMEOUT);
    CHECK_MSG_HAS("busy");
    CHECK_RC(h.rc, KEEL_OK);
}

static void test_bad_input_gets_coded_errors(void) {
    keel_string *res = NULL;
    const char *good = "{\"agentName\":\"x\",\"runtime\":\"claude\",\"stateDir\":\"/tmp/never-used\"}";
    CHECK_RC(keel_turn_run(good, strlen(good), NULL, NULL, NULL, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("result");
    CHECK_RC(keel_turn_run(NULL, 5, NULL, NULL, NULL, &res), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_turn_run(NULL, 0, NULL, NULL, NULL, &res), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options.agentName is missing");
    CHECK_RC(keel_turn_run("\xff\xfe", 2, NULL, NULL, NULL, &res), KEEL_INVALID_UTF8);
    const char *bad_json = "{\"agentName\": \"s3cr3t";
    CHECK_RC(keel_turn_run(bad_json, strlen(bad_json), NULL, NULL, NULL, &res), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options_json is not valid JSON");
    CHECK_MSG_LACKS("s3cr3t");
    const char *runtime = "{\"agentName\":\"x\",\"runtime\":\"gemini\",\"stateDir\":\"/tmp\"}";
    CHECK_RC(keel_turn_run(runtime, strlen(runtime), NULL, NULL, NULL, &res), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options.runtime is not a known name");
    const char *typo = "{\"agentName\":\"x\",\"runtime\":\"claude\",\"stateDir\":\"/tmp\",\"stalMs\":1}";
    CHECK_RC(keel_turn_run(typo, strlen(typo), NULL, NULL, NULL, &res), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("did you mean \"stallMs\"");
    const char *range = "{\"agentName\":\"x\",\"runtime\":\"claude\",\"stateDir\":\"/tmp\",\"maxLineBytes\":1}";
    CHECK_RC(keel_turn_run(range, strlen(range), NULL, NULL, NULL, &res), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("options.maxLineBytes");
    const char *path = "{\"agentName\":\"../etc\",\"runtime\":\"claude\",\"stateDir\":\"/tmp\"}";
    CHECK_RC(keel_turn_run(path, strlen(path), NULL, NULL, NULL, &res), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("options.agentName");
    CHECK(res == NULL);

    /* a freed signal is refused, never used */
    keel_turn_signal *sig = NULL;
    CHECK_OK(keel_turn_signal_new(&sig));
    keel_turn_signal_free(sig);
    CHECK_RC(keel_turn_run(good, strlen(good), NULL, NULL, sig, &res), KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("signal is not a live keel_turn_signal");
    CHECK_RC(keel_turn_signal_abort(sig), KEEL_INVALID_ARGUMENT);
    CHECK_RC(keel_turn_signal_abort(NULL), KEEL_NULL_PARAMETER);
    bool b;
    CHECK_RC(keel_turn_signal_is_aborted(NULL, &b), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_turn_signal_new(NULL), KEEL_NULL_PARAMETER);
    keel_turn_signal_free(NULL);
    /* another handle type is not a signal */
    keel_redactor *red = NULL;
    CHECK_OK(keel_redactor_new("", 0, &red));
    CHECK_RC(keel_turn_signal_abort((keel_turn_signal *)red), KEEL_INVALID_ARGUMENT);
    keel_redactor_free(red);

    keel_string *s = NULL;
    CHECK_RC(keel_turn_session("/tmp", 4, "bob", 3, NULL, 0, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_turn_session(NULL, 4, "bob", 3, NULL, 0, &s), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_turn_session("/tmp", 4, NULL, 3, NULL, 0, &s), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_turn_session("/tmp", 4, "", 0, NULL, 0, &s), KEEL_INVALID_ARGUMENT);
    CHECK_RC(keel_turn_session("", 0, "bob", 3, NULL, 0, &s), KEEL_INVALID_ARGUMENT);
    CHECK_RC(keel_turn_session("/tmp", 4, "bob", 3, "", 0, &s), KEEL_INVALID_ARGUMENT);
    CHECK_RC(keel_turn_session("/tmp", 4, "\xff", 1, NULL, 0, &s), KEEL_INVALID_UTF8);
    /* a file that is not a database */
    char notdb[300];
    snprintf(notdb, sizeof notdb, "%s/not.db", tmpdir);
    FILE *f = fopen(notdb, "w");
    CHECK(f != NULL);
    fputs("this is not a sqlite database, it is long enough to have a header\n", f);
    fclose(f);
    CHECK_RC(keel_turn_session("/tmp", 4, "bob", 3, notdb, strlen(notdb), &s), KEEL_TURN_STORE);
    CHECK(s == NULL);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/keel-c-turns-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    find_fake();
    RUN(test_bad_input_gets_coded_errors);
    RUN(test_claude_turn_completes_with_redacted_events);
    RUN(test_resume_reuses_the_stored_session_and_session_query);
    RUN(test_resume_mismatch_is_reported);
    RUN(test_codex_turn_completes);
    RUN(test_stall_watchdog_kills_the_tree);
    RUN(test_abort_from_another_thread_kills_the_tree);
    RUN(test_abort_from_the_event_callback);
    RUN(test_empty_input_is_a_no_op);
    RUN(test_missing_cli_is_a_spawn_error);
    RUN(test_a_busy_agent_times_out_naming_the_holder);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    RUN(test_no_leaks);
    return TEST_SUMMARY();
}
