/*
 * C tests of the exit-cause recorder: keel_exit_cause_ensure starting this very
 * program as the detached watcher (main dispatches to keel_exit_cause_watcher_main, the
 * documented entry point), a SIGKILLed service recorded once, a disarmed stop silent,
 * the service unaffected by its watcher's death, and bad input (NULLs, bad JSON, bad
 * names, a dead pid, a program that does not dispatch).
 * Built by run.sh with gcc -Wall -Wextra -Werror -fsanitize=address,undefined and run
 * with LeakSanitizer on.
 */
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SLEN(s) (sizeof(s) - 1)

extern char **environ;

static char dir[256];

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t spawn_sleeper(void) {
    pid_t pid = -1;
    char *argv[] = {"sleep", "120", NULL};
    if (posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ) != 0) {
        return -1;
    }
    return pid;
}

/* Whether `pid` is a live (non-zombie) process. */
static bool alive(long pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' && close[2] != 'Z' && close[2] != 'X';
}

/* The file's contents (malloc'd, NUL-terminated) or NULL. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    char *buf = malloc(65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static bool log_has(const char *log, const char *needle) {
    char *t = slurp(log);
    bool has = t && strstr(t, needle);
    free(t);
    return has;
}

/* The integer after `"key":` in a JSON text, -1 when absent. */
static long json_long(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static void test_sigkill_is_recorded_once_and_ensure_is_idempotent(void) {
    pid_t svc = spawn_sleeper();
    CHECK(svc > 0);
    char opts[512];
    int n = snprintf(opts, sizeof opts,
                     "{\"name\":\"c-web\",\"pid\":%d,\"stateDir\":\"%s/a\",\"topProcesses\":3}",
                     (int)svc, dir);
    keel_string *out = NULL;
    CHECK_OK(keel_exit_cause_ensure(opts, (size_t)n, &out));
    CHECK(strstr(out->data, "\"state\":\"spawned\"") != NULL);
    long watcher = json_long(out->data, "watcherPid");
    keel_string_free(out);
    CHECK(watcher > 1 && alive(watcher));
    CHECK_OK(keel_exit_cause_ensure(opts, (size_t)n, &out));
    CHECK(strstr(out->data, "\"state\":\"already\"") != NULL);
    CHECK(json_long(out->data, "watcherPid") == watcher);
    keel_string_free(out);

    char sd[300];
    int sdn = snprintf(sd, sizeof sd, "%s/a", dir);
    CHECK_OK(keel_exit_cause_status(sd, (size_t)sdn, "c-web", SLEN("c-web"), &out));
    CHECK(strstr(out->data, "\"watcherAlive\":true") != NULL);
    keel_string_free(out);

    CHECK(kill(svc, SIGKILL) == 0);
    char log[300];
    int logn = snprintf(log, sizeof log, "%s/a/exits.log", dir);
    for (int i = 0; i < 1000 && !log_has(log, "ev=server-exit"); i++) {
        sleep_ms(20);
    }
    for (int i = 0; i < 1000 && alive(watcher); i++) {
        sleep_ms(20);
    }
    CHECK(waitpid(svc, NULL, 0) == svc);
    CHECK(log_has(log, "ev=server-exit name=c-web"));
    CHECK(log_has(log, "signal=SIGKILL"));
    CHECK_OK(keel_exit_cause_tail(log, (size_t)logn, 10, &out));
    const char *first = strstr(out->data, "\"line\"");
    CHECK(first != NULL && strstr(first + 1, "\"line\"") == NULL); /* exactly one */
    CHECK(strstr(out->data, "\"forensics\":") != NULL);
    keel_string_free(out);
}

static void test_disarm_is_silent_and_the_service_survives_its_watcher(void) {
    pid_t svc = spawn_sleeper();
    CHECK(svc > 0);
    char opts[512];
    int n = snprintf(opts, sizeof opts, "{\"name\":\"c-db\",\"pid\":%d,\"stateDir\":\"%s/b\"}",
                     (int)svc, dir);
    keel_string *out = NULL;
    CHECK_OK(keel_exit_cause_ensure(opts, (size_t)n, &out));
    long watcher = json_long(out->data, "watcherPid");
    keel_string_free(out);
    CHECK(kill((pid_t)watcher, SIGKILL) == 0);
    for (int i = 0; i < 1000 && alive(watcher); i++) {
        sleep_ms(20);
    }
    sleep_ms(100);
    CHECK(waitpid(svc, NULL, WNOHANG) == 0); /* still running */
    CHECK_OK(keel_exit_cause_ensure(opts, (size_t)n, &out));
    CHECK(strstr(out->data, "\"state\":\"spawned\"") != NULL);
    keel_string_free(out);

    char sd[300];
    int sdn = snprintf(sd, sizeof sd, "%s/b", dir);
    CHECK_OK(keel_exit_cause_disarm(sd, (size_t)sdn, "c-db", SLEN("c-db"), 0, &out));
    CHECK(strstr(out->data, "\"state\":\"disarmed\"") != NULL);
    CHECK(strstr(out->data, "\"watcherStopped\":true") != NULL);
    keel_string_free(out);
    CHECK(kill(svc, SIGKILL) == 0);
    CHECK(waitpid(svc, NULL, 0) == svc);
    sleep_ms(300);
    char log[300];
    snprintf(log, sizeof log, "%s/b/exits.log", dir);
    CHECK(!log_has(log, "ev=server-exit"));
    CHECK_OK(keel_exit_cause_disarm(sd, (size_t)sdn, "never", SLEN("never"), 0, &out));
    CHECK(strstr(out->data, "\"state\":\"absent\"") != NULL);
    keel_string_free(out);
    CHECK_OK(keel_exit_cause_status(sd, (size_t)sdn, "never", SLEN("never"), &out));
    CHECK(strcmp(out->data, "null") == 0);
    keel_string_free(out);
}

static void test_bad_input(void) {
    keel_string *out = NULL;
    const char ok[] = "{\"name\":\"x\",\"pid\":2,\"stateDir\":\"/tmp/x\"}";
    CHECK_RC(keel_exit_cause_ensure(ok, SLEN(ok), NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("outcome_json");
    CHECK_RC(keel_exit_cause_ensure(NULL, 5, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_exit_cause_ensure("\xff\xfe", 2, &out), KEEL_INVALID_UTF8);
    CHECK_RC(keel_exit_cause_ensure("{nope", 5, &out), KEEL_INVALID_JSON);
    const char unknown[] = "{\"name\":\"x\",\"pid\":2,\"stateDir\":\"/x\",\"sekret-ghp\":1}";
    CHECK_RC(keel_exit_cause_ensure(unknown, SLEN(unknown), &out), KEEL_INVALID_JSON);
    CHECK_MSG_LACKS("sekret");
    const char badname[] = "{\"name\":\"Bad Name\",\"pid\":2,\"stateDir\":\"/x\"}";
    CHECK_RC(keel_exit_cause_ensure(badname, SLEN(badname), &out), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("options.name");
    const char nopid[] = "{\"name\":\"x\",\"stateDir\":\"/x\"}";
    CHECK_RC(keel_exit_cause_ensure(nopid, SLEN(nopid), &out), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("pid");

    /* A pid that is not running. */
    pid_t dead = spawn_sleeper();
    CHECK(dead > 0);
    kill(dead, SIGKILL);
    waitpid(dead, NULL, 0);
    char opts[512];
    int n = snprintf(opts, sizeof opts, "{\"name\":\"x\",\"pid\":%d,\"stateDir\":\"%s/c\"}",
                     (int)dead, dir);
    CHECK_RC(keel_exit_cause_ensure(opts, (size_t)n, &out), KEEL_EXIT_CAUSE_NOT_RUNNING);

    /* A watcherCommand that does not dispatch to the watcher. */
    pid_t svc = spawn_sleeper();
    CHECK(svc > 0);
    n = snprintf(opts, sizeof opts,
                 "{\"name\":\"x\",\"pid\":%d,\"stateDir\":\"%s/c\",\"watcherCommand\":[\"true\"]}",
                 (int)svc, dir);
    keel_result rc = keel_exit_cause_ensure(opts, (size_t)n, &out);
    kill(svc, SIGKILL);
    waitpid(svc, NULL, 0);
    CHECK_RC(rc, KEEL_EXIT_CAUSE_WATCHER_FAILED);
    CHECK_MSG_HAS("readiness");

    /* A malformed watcher record. */
    char rec[300];
    snprintf(rec, sizeof rec, "%s/c/m.watcher.json", dir);
    FILE *f = fopen(rec, "w");
    CHECK(f != NULL);
    fputs("{oops", f);
    fclose(f);
    chmod(rec, 0600);
    char sd[300];
    int sdn = snprintf(sd, sizeof sd, "%s/c", dir);
    CHECK_RC(keel_exit_cause_status(sd, (size_t)sdn, "m", 1, &out), KEEL_MALFORMED_STATE);
    CHECK_RC(keel_exit_cause_disarm(sd, (size_t)sdn, "m", 1, 0, &out), KEEL_MALFORMED_STATE);
    CHECK_RC(keel_exit_cause_disarm(sd, (size_t)sdn, "Bad Name", 8, 0, &out), KEEL_INVALID_OPTION);
    CHECK_RC(keel_exit_cause_disarm(NULL, 3, "m", 1, 0, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_exit_cause_status(sd, (size_t)sdn, "m", 1, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_exit_cause_tail(NULL, 1, 5, &out), KEEL_NULL_PARAMETER);
    CHECK_OK(keel_exit_cause_tail("/nonexistent/exits.log", SLEN("/nonexistent/exits.log"), 5, &out));
    CHECK(strcmp(out->data, "[]") == 0);
    keel_string_free(out);

    /* The entry point refuses a NULL or malformed spec with status 2. */
    CHECK(keel_exit_cause_watcher_main(NULL, 4) == 2);
    CHECK(keel_exit_cause_watcher_main("\xff", 1) == 2);
}

int main(int argc, char **argv) {
    /* The documented dispatch: this program is also its own exit-cause watcher. */
    if (argc == 3 && strcmp(argv[1], "--keel-exit-cause-watcher") == 0) {
        return keel_exit_cause_watcher_main(argv[2], strlen(argv[2]));
    }
    snprintf(dir, sizeof dir, "/tmp/keel-exit-cause-c-XXXXXX");
    if (!mkdtemp(dir)) {
        return 1;
    }
    RUN(test_sigkill_is_recorded_once_and_ensure_is_idempotent);
    RUN(test_disarm_is_silent_and_the_service_survives_its_watcher);
    RUN(test_bad_input);
    RUN(test_no_leaks);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        return 1;
    }
    return TEST_SUMMARY();
}
