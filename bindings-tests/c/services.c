/*
 * C tests of managed services (keel_services_*): the validator's reason strings
 * (hostile specs, a credential never echoed), NULLs / invalid JSON / unknown fields,
 * a real HTTP service (python3 -m http.server with a background child) brought up,
 * listed healthy with an ETag, restarted, TTL-expired by a sweep, removed — with /proc
 * scanned for the service's processes so none is left behind — and an insecure state
 * file refused with its own code.
 * Built by run.sh with gcc -Wall -Wextra -Werror -fsanitize=address,undefined and run
 * with LeakSanitizer on.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SLEN(s) (sizeof(s) - 1)

/* A cheap command healthcheck (sleep is on the test's allowlist). */
#define HC "\"healthcheck\":{\"type\":\"command\",\"cmd\":\"sleep 0\",\"shell\":false,\"expect_regex\":\"^\",\"interval_s\":0.1,\"timeout_s\":10}"

static char dir[256];
static char workdir[300];
static keel_services *svc;
/* A number no other process on the machine has in its argv: marks the tree. */
static char marker[64];

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* How many live (non-zombie) processes have `needle` as one of their argv words. */
static int procs_with_arg(const char *needle) {
    DIR *d = opendir("/proc");
    if (!d) {
        return -1;
    }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) {
            continue;
        }
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *close_paren = strrchr(buf, ')');
        if (!close_paren || close_paren[2] == 'Z' || close_paren[2] == 'X') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        f = fopen(path, "r");
        if (!f) {
            continue;
        }
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
            if (strcmp(buf + i, needle) == 0) {
                count++;
                break;
            }
        }
    }
    closedir(d);
    return count;
}

/* The integer after `"key":` in a JSON text, -1 when absent or null. */
static long json_long(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) {
        return -1;
    }
    p += strlen(pat);
    while (*p == ' ') {
        p++;
    }
    return (*p >= '0' && *p <= '9') ? strtol(p, NULL, 10) : -1;
}

/* The validator's result for `spec` (a keel_string the caller frees), or NULL. */
static keel_string *validate(const char *spec) {
    keel_string *out = NULL;
    if (keel_services_validate(svc, spec, strlen(spec), NULL, 0, &out) != KEEL_OK) {
        return NULL;
    }
    return out;
}

static void test_validate_gives_core_reason_strings(void) {
    static const struct {
        const char *spec;
        const char *reason;
    } cases[] = {
        {"{\"specs\":[{\"name\":\"Bad_Name\",\"cmd\":\"sleep\"}]}",
         "\"reason\":\"spec[0]: name-not-kebab-case (Bad_Name)\""},
        {"{\"specs\":[{\"name\":\"a\",\"cmd\":\"rm\",\"args\":[\"-rf\",\"/\"]}]}",
         "\"reason\":\"spec[0]: cmd-not-on-allowlist (rm)\""},
        {"{\"specs\":[{\"name\":\"a\",\"cmd\":\"sleep\",\"ttl_minutes\":0}]}",
         "\"reason\":\"spec[0]: ttl-invalid\""},
        {"{\"specs\":[{\"name\":\"a\",\"cmd\":\"sleep\",\"args\":\"-c x\"}]}",
         "\"reason\":\"spec[0]: args-not-array\""},
        {"{\"specs\":", "\"reason\":\"json-parse: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_string *out = validate(cases[i].spec);
        if (!out) {
            FAIL_AT("case %zu: %s", i, keel_last_error_message());
            return;
        }
        bool ok = strstr(out->data, "\"ok\":false") && strstr(out->data, cases[i].reason);
        if (!ok) {
            FAIL_AT("case %zu: %s lacks %s", i, out->data, cases[i].reason);
        }
        keel_string_free(out);
        if (!ok) {
            return;
        }
    }
    /* A credential-shaped cmd is named in the reason, redacted. */
    const char *token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    char spec[256];
    snprintf(spec, sizeof spec, "{\"specs\":[{\"name\":\"a\",\"cmd\":\"%s\"}]}", token);
    keel_string *out = validate(spec);
    CHECK(out != NULL);
    bool redacted = strstr(out->data, "cmd-not-on-allowlist (") && !strstr(out->data, token);
    keel_string_free(out);
    CHECK(redacted);

    /* A good spec: ok with the normalized value (the default TTL filled in). */
    out = validate("{\"specs\":[{\"name\":\"web\",\"cmd\":\"sleep\",\"args\":[\"5\"],"
                   HC "}]}");
    CHECK(out != NULL);
    bool good = strstr(out->data, "\"ok\":true") && strstr(out->data, "\"ttl_minutes\":720");
    if (!good) {
        FAIL_AT("good spec: %s", out->data);
    }
    keel_string_free(out);
}

static void test_bad_arguments_have_clear_codes(void) {
    keel_string *out = NULL;
    keel_services *h = NULL;
    CHECK_RC(keel_services_new(NULL, 3, NULL, 0, &h), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("state_dir");
    CHECK_RC(keel_services_new(dir, strlen(dir), NULL, 0, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("out");
    CHECK_RC(keel_services_new("", 0, NULL, 0, &h), KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("state_dir is empty");
    CHECK_RC(keel_services_new(dir, strlen(dir), "{", 1, &h), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options_json");
    CHECK_RC(keel_services_new(dir, strlen(dir), "{\"secretKnob\":1}", 16, &h),
             KEEL_INVALID_JSON);
    CHECK_MSG_LACKS("secretKnob"); /* an unknown key is never echoed */
    CHECK_RC(keel_services_new(dir, strlen(dir), "{\"maxNameLength\":\"x\"}", 21, &h),
             KEEL_INVALID_JSON);
    CHECK_MSG_HAS("maxNameLength");
    CHECK(h == NULL); /* outputs are written only on success */
    CHECK_RC(keel_services_new(dir, strlen(dir), "\xff", 1, &h), KEEL_INVALID_UTF8);

    CHECK_RC(keel_services_validate(NULL, "{}", 2, NULL, 0, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_services_validate(svc, "{}", 2, NULL, 0, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_services_validate(svc, NULL, 2, NULL, 0, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_services_validate(svc, "{}", 2, "{\"nope\":true}", 13, &out),
             KEEL_INVALID_JSON);
    CHECK_RC(keel_services_validate(svc, "{}", 2, "[", 1, &out), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("validate_options_json");
    CHECK_RC(keel_services_list(svc, NULL, 0, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_services_sweep(NULL, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_services_restart(svc, "no-such", SLEN("no-such"), &out),
             KEEL_SERVICE_NOT_FOUND);
    CHECK_MSG_HAS("no-such");
    CHECK_RC(keel_services_remove_project(svc, "", 0, &out), KEEL_INVALID_ARGUMENT);
    CHECK_RC(keel_services_up(svc, "{\"specs\":[{\"name\":\"Bad_Name\",\"cmd\":\"sleep\"}]}",
                              SLEN("{\"specs\":[{\"name\":\"Bad_Name\",\"cmd\":\"sleep\"}]}"),
                              NULL, 0, NULL, 0, &out),
             KEEL_SERVICE_SPEC_INVALID);
    CHECK_MSG_HAS("spec[0]: name-not-kebab-case (Bad_Name)");
    CHECK_RC(keel_services_up(svc, "{}", 2, NULL, 0, "{\"owner_project\":7}", 19, &out),
             KEEL_INVALID_JSON);
    CHECK_MSG_HAS("owner");
    CHECK(out == NULL);

    /* A freed handle is refused, and freeing again (or NULL) is harmless. */
    CHECK_OK(keel_services_new(dir, strlen(dir), NULL, 0, &h));
    keel_services_free(h);
    CHECK_RC(keel_services_list(h, NULL, 0, &out), KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("not a live keel_services");
    keel_services_free(h);
    keel_services_free(NULL);
}

static void state_path(char *buf, size_t cap) {
    snprintf(buf, cap, "%s/managed-processes.json", dir);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Set every record's ttl_expires_at to 1000 (long past), as time passing would. */
static bool expire_all(void) {
    char path[300], tmp[320];
    state_path(path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.c-test", path);
    char *text = slurp(path);
    if (!text) {
        return false;
    }
    FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        f = fdopen(fd, "w");
    }
    bool found = false;
    if (f) {
        const char *key = "\"ttl_expires_at\":";
        const char *p = text;
        const char *hit;
        while ((hit = strstr(p, key)) != NULL) {
            hit += strlen(key);
            fwrite(p, 1, (size_t)(hit - p), f);
            fputs("1000", f);
            while (*hit == ' ' || (*hit >= '0' && *hit <= '9') || *hit == '.') {
                hit++;
            }
            p = hit;
            found = true;
        }
        fputs(p, f);
        fclose(f);
    }
    free(text);
    return found && rename(tmp, path) == 0;
}

static void test_real_service_lifecycle(void) {
    int port = free_port();
    CHECK(port > 0);
    char spec[1024];
    int n = snprintf(
        spec, sizeof spec,
        "{\"specs\":[{\"name\":\"c-web\",\"cmd\":\"sh\",\"cwd\":\"%s\",\"ports\":[%d],"
        "\"args\":[\"-c\",\"sleep %s & exec python3 -m http.server --bind 127.0.0.1 %d\"],"
        "\"healthcheck\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:%d/\","
        "\"expect_status\":200,\"interval_s\":0.1,\"timeout_s\":20}}]}",
        workdir, port, marker, port, port);
    const char *owner = "{\"owner_project\":\"c-proj\",\"owner_agent\":\"c-agent\"}";
    keel_string *out = NULL;
    CHECK_OK(keel_services_up(svc, spec, (size_t)n, "{\"requireGitWorkdir\":false}",
                              SLEN("{\"requireGitWorkdir\":false}"), owner, strlen(owner),
                              &out));
    bool healthy = strstr(out->data, "\"healthy\":true") != NULL;
    long pid = json_long(out->data, "pid");
    if (!healthy) {
        FAIL_AT("up: %s", out->data);
    }
    keel_string_free(out);
    if (!healthy) {
        return;
    }
    CHECK(pid > 1);
    CHECK(procs_with_arg(marker) == 1); /* the background sleep of the tree */

    /* Listed healthy, alive, with the owner and an ETag; the project filter works. */
    CHECK_OK(keel_services_list(svc, NULL, 0, &out));
    bool listed = strstr(out->data, "\"name\":\"c-web\"") &&
                  strstr(out->data, "\"health\":\"healthy\"") &&
                  strstr(out->data, "\"alive\":true") &&
                  strstr(out->data, "\"owner_project\":\"c-proj\"") &&
                  strstr(out->data, "\"etag\":\"") && json_long(out->data, "pid") == pid;
    if (!listed) {
        FAIL_AT("list: %s", out->data);
    }
    keel_string_free(out);
    if (!listed) {
        return;
    }
    CHECK_OK(keel_services_list(svc, "other", 5, &out));
    bool empty = strstr(out->data, "\"services\":[]") != NULL;
    keel_string_free(out);
    CHECK(empty);

    /* Restart: a new leader, healthy again, the old tree gone. */
    CHECK_OK(keel_services_restart(svc, "c-web", SLEN("c-web"), &out));
    long pid2 = json_long(out->data, "pid");
    healthy = strstr(out->data, "\"healthy\":true") != NULL;
    if (!healthy) {
        FAIL_AT("restart: %s", out->data);
    }
    keel_string_free(out);
    if (!healthy) {
        return;
    }
    CHECK(pid2 > 1 && pid2 != pid);
    for (int i = 0; i < 500 && procs_with_arg(marker) != 1; i++) {
        sleep_ms(20);
    }
    CHECK(procs_with_arg(marker) == 1); /* the old sleep was killed with its tree */

    /* A sweep keeps a live, unexpired service. */
    CHECK_OK(keel_services_sweep(svc, &out));
    bool kept = json_long(out->data, "scanned") == 1 && json_long(out->data, "ttlExpired") == 0 &&
                json_long(out->data, "deadDropped") == 0;
    if (!kept) {
        FAIL_AT("sweep: %s", out->data);
    }
    keel_string_free(out);
    if (!kept) {
        return;
    }

    /* TTL expiry: the sweep kills the whole tree and drops the record. */
    CHECK(expire_all());
    CHECK_OK(keel_services_sweep(svc, &out));
    bool expired = json_long(out->data, "ttlExpired") == 1 && json_long(out->data, "killedPids") == 1;
    if (!expired) {
        FAIL_AT("sweep after expiry: %s", out->data);
    }
    keel_string_free(out);
    if (!expired) {
        return;
    }
    for (int i = 0; i < 500 && procs_with_arg(marker) != 0; i++) {
        sleep_ms(20);
    }
    CHECK(procs_with_arg(marker) == 0);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%ld", pid2);
    for (int i = 0; i < 500 && access(proc, F_OK) == 0; i++) {
        sleep_ms(20);
    }
    CHECK(access(proc, F_OK) != 0); /* reaped by its shim, not a zombie of ours */
    CHECK_OK(keel_services_list(svc, NULL, 0, &out));
    empty = strstr(out->data, "\"services\":[]") != NULL;
    keel_string_free(out);
    CHECK(empty);
}

static void test_remove_by_name_and_by_project(void) {
    char spec[1024];
    int n = snprintf(spec, sizeof spec,
                     "{\"specs\":[{\"name\":\"c-a\",\"cmd\":\"sh\",\"cwd\":\"%s\","
                     "\"args\":[\"-c\",\"sleep %s & exec sleep 300\"]," HC "},"
                     "{\"name\":\"c-b\",\"cmd\":\"sh\",\"cwd\":\"%s\","
                     "\"args\":[\"-c\",\"sleep %s & exec sleep 300\"]," HC "}]}",
                     workdir, marker, workdir, marker);
    const char *vopts = "{\"requireGitWorkdir\":false}";
    const char *owner = "{\"owner_project\":\"c-proj\"}";
    keel_string *out = NULL;
    CHECK_OK(keel_services_up(svc, spec, (size_t)n, vopts, strlen(vopts), owner, strlen(owner),
                              &out));
    keel_string_free(out);
    for (int i = 0; i < 500 && procs_with_arg(marker) != 2; i++) {
        sleep_ms(20);
    }
    CHECK(procs_with_arg(marker) == 2);

    CHECK_OK(keel_services_remove(svc, "c-a", SLEN("c-a"), &out));
    bool removed = strstr(out->data, "\"removed\":true") && strstr(out->data, "\"killed\":true");
    if (!removed) {
        FAIL_AT("remove: %s", out->data);
    }
    keel_string_free(out);
    if (!removed) {
        return;
    }
    for (int i = 0; i < 500 && procs_with_arg(marker) != 1; i++) {
        sleep_ms(20);
    }
    CHECK(procs_with_arg(marker) == 1);
    CHECK_RC(keel_services_remove(svc, "c-a", SLEN("c-a"), &out), KEEL_SERVICE_NOT_FOUND);

    CHECK_OK(keel_services_remove_project(svc, "c-proj", SLEN("c-proj"), &out));
    bool killed = json_long(out->data, "killed") == 1;
    if (!killed) {
        FAIL_AT("remove_project: %s", out->data);
    }
    keel_string_free(out);
    if (!killed) {
        return;
    }
    for (int i = 0; i < 500 && procs_with_arg(marker) != 0; i++) {
        sleep_ms(20);
    }
    CHECK(procs_with_arg(marker) == 0);
    char log[400];
    snprintf(log, sizeof log, "%s/managed-logs/c-b.log", dir);
    CHECK(access(log, F_OK) != 0); /* its log unlinked */
    CHECK_OK(keel_services_list(svc, NULL, 0, &out));
    bool empty = strstr(out->data, "\"services\":[]") != NULL;
    keel_string_free(out);
    CHECK(empty);
}

static void test_insecure_state_file_has_its_own_code(void) {
    char path[300];
    state_path(path, sizeof path);
    CHECK(access(path, F_OK) == 0);
    CHECK(chmod(path, 0666) == 0);
    keel_string *out = NULL;
    keel_result rc = keel_services_list(svc, NULL, 0, &out);
    keel_result rc2 = keel_services_sweep(svc, &out);
    CHECK(chmod(path, 0600) == 0);
    CHECK(rc == KEEL_INSECURE_FILE);
    CHECK(rc2 == KEEL_INSECURE_FILE);
    CHECK(out == NULL);
    CHECK_OK(keel_services_list(svc, NULL, 0, &out));
    keel_string_free(out);
}

static void test_free_handle(void) {
    keel_services_free(svc);
    keel_services_free(svc);
    svc = NULL;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/keel-c-services-%ld", (long)getpid());
    snprintf(workdir, sizeof workdir, "%s-wd", dir);
    snprintf(marker, sizeof marker, "%ld.%ld", 3000L + (long)getpid() % 1000, (long)time(NULL));
    if (mkdir(workdir, 0700) != 0) {
        printf("FAIL setup: mkdir %s\n", workdir);
        return 1;
    }
    const char *opts = "{\"killGraceMs\":1000,\"executableAllowlist\":[\"sh\",\"sleep\"]}";
    if (keel_services_new(dir, strlen(dir), opts, strlen(opts), &svc) != KEEL_OK) {
        printf("FAIL setup: keel_services_new: %s\n", keel_last_error_message());
        return 1;
    }
    RUN(test_validate_gives_core_reason_strings);
    RUN(test_bad_arguments_have_clear_codes);
    RUN(test_real_service_lifecycle);
    RUN(test_remove_by_name_and_by_project);
    RUN(test_insecure_state_file_has_its_own_code);
    RUN(test_free_handle);
    RUN(test_no_leaks);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, workdir);
    if (system(cmd) != 0) {
        printf("note: could not remove %s\n", dir);
    }
    return TEST_SUMMARY();
}
