/*
 * C tests of keel's credentials API (keel_enrollment_store_*): round trips through
 * the in-memory store and the real Linux kernel keyring (keyutils), the file-mirror
 * fallback, the credential result codes, argument checking, and that the JWT
 * never appears in an error message. Built by run.sh with
 *   gcc -Wall -Wextra -Werror -fsanitize=address,undefined
 * and run with LeakSanitizer on. Every test uses its own temporary directory and,
 * for keyutils, its own keyring service name (removed again by clear).
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* Not JWT-shaped on purpose: no redaction rule would mask it, so if it ever shows
 * up in an error message, keel leaked it. */
#define JWT "opaque-token-Q7x9Lp2Vw4Zr8Kd1Mn5Bv"
#define URL "https://platform.example.com"

static char tmp_root[256];
static char options_buf[1024];

/* ---- helpers ---------------------------------------------------------- */

static bool str_contains(const keel_string *s, const char *needle) {
    size_t n = strlen(needle);
    if (s == NULL || n > s->len) {
        return false;
    }
    for (size_t i = 0; i + n <= s->len; i++) {
        if (memcmp(s->data + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* A fresh directory for one test; the mirror lives in <dir>/agent/. */
static void fresh_dir(char *dir, size_t cap, const char *name) {
    snprintf(dir, cap, "%s/%s", tmp_root, name);
    mkdir(dir, 0700);
}

static void mirror_path(char *out, size_t cap, const char *dir) {
    snprintf(out, cap, "%s/agent/agent-enrollment.cred", dir);
}

/* Remove what a test left: the mirror (normally already cleared), its directory. */
static void remove_dir(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/agent/agent-enrollment.cred", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/agent/agent-enrollment.cred.lock", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/agent", dir);
    rmdir(p);
    rmdir(dir);
}

static const char *options(const char *keyring, const char *service, const char *mirror) {
    snprintf(options_buf, sizeof options_buf,
             "{\"keyring\":\"%s\",\"serviceName\":\"%s\",\"mirrorPath\":\"%s\","
             "\"keyringTimeoutMs\":5000,\"lockTimeoutMs\":5000}",
             keyring, service, mirror);
    return options_buf;
}

static keel_enrollment_store *new_store(const char *json) {
    keel_enrollment_store *s = NULL;
    if (keel_enrollment_store_new(json, strlen(json), &s) != KEEL_OK) {
        return NULL;
    }
    return s;
}

static const char CREDS[] =
    "{\"jwt\":\"" JWT "\",\"jwtExpiresAtUnix\":1900000000,\"agentId\":\"agent-7\","
    "\"tenantId\":\"tenant-3\",\"platformUrl\":\"" URL "\"}";

static keel_result write_creds(keel_enrollment_store *s) {
    return keel_enrollment_store_write(s, CREDS, strlen(CREDS), NULL);
}

/* Whether the kernel keyring can be used here (a container may forbid keyctl). */
static bool keyutils_usable(void) {
    char dir[300], mirror[400], service[64];
    fresh_dir(dir, sizeof dir, "probe");
    mirror_path(mirror, sizeof mirror, dir);
    snprintf(service, sizeof service, "keel-ctest-probe-%d", (int)getpid());
    keel_enrollment_store *s = new_store(options("keyutils", service, mirror));
    bool ok = s != NULL && write_creds(s) == KEEL_OK;
    keel_enrollment_store_clear(s, NULL);
    keel_enrollment_store_free(s);
    remove_dir(dir);
    return ok;
}

/* ---- tests ------------------------------------------------------------ */

static void test_null_arguments(void) {
    keel_enrollment_store *s = NULL;
    keel_string *out = NULL;
    bool b = false;
    CHECK_RC(keel_enrollment_store_new("{}", 2, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("out is NULL");
    CHECK_RC(keel_enrollment_store_new(NULL, 5, &s), KEEL_NULL_PARAMETER);
    CHECK(s == NULL);
    CHECK_RC(keel_enrollment_store_write(NULL, CREDS, strlen(CREDS), NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("store is NULL");
    CHECK_RC(keel_enrollment_store_read_all(NULL, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_enrollment_store_read_jwt(NULL, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_enrollment_store_has_enrollment(NULL, &b), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_enrollment_store_assert_platform_url(NULL, URL, strlen(URL)), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_enrollment_store_clear(NULL, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_enrollment_store_diagnose(NULL, &out), KEEL_NULL_PARAMETER);

    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "nulls");
    mirror_path(mirror, sizeof mirror, dir);
    s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_result rcs[] = {
        keel_enrollment_store_write(s, NULL, 3, NULL),
        keel_enrollment_store_read_all(s, NULL),
        keel_enrollment_store_read_jwt(s, NULL),
        keel_enrollment_store_has_enrollment(s, NULL),
        keel_enrollment_store_assert_platform_url(s, NULL, 4),
        keel_enrollment_store_diagnose(s, NULL),
    };
    keel_enrollment_store_free(s);
    keel_enrollment_store_free(s); /* twice: ignored */
    keel_enrollment_store_free(NULL);
    remove_dir(dir);
    for (size_t i = 0; i < sizeof rcs / sizeof rcs[0]; i++) {
        if (rcs[i] != KEEL_NULL_PARAMETER) {
            FAIL_AT("call %zu returned %s", i, keel_result_name((int)rcs[i]));
            return;
        }
    }
    CHECK(out == NULL);
}

static void test_freed_store_is_refused(void) {
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "freed");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_enrollment_store_free(s);
    bool b;
    keel_result rc = keel_enrollment_store_has_enrollment(s, &b);
    remove_dir(dir);
    CHECK_RC(rc, KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("not a live keel_enrollment_store");
}

static void test_bad_options_name_the_field(void) {
    keel_enrollment_store *s = NULL;
    const char *bad_keyring = "{\"keyring\":\"vault\"}";
    CHECK_RC(keel_enrollment_store_new(bad_keyring, strlen(bad_keyring), &s), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options.keyring");
    const char *typo = "{\"mirorPath\":\"/tmp/x\"}";
    CHECK_RC(keel_enrollment_store_new(typo, strlen(typo), &s), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("unknown field (9 characters; did you mean \"mirrorPath\"?)");
    CHECK_MSG_LACKS("mirorPath");
    const char *wrong_type = "{\"keyringTimeoutMs\":\"soon\"}";
    CHECK_RC(keel_enrollment_store_new(wrong_type, strlen(wrong_type), &s), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options.keyringTimeoutMs is not a non-negative integer");
    const char *zero = "{\"keyring\":\"memory\",\"keyringTimeoutMs\":0,\"mirror\":false}";
    CHECK_RC(keel_enrollment_store_new(zero, strlen(zero), &s), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options.keyringTimeoutMs");
    const char *app = "{\"appName\":\"../etc\",\"mirror\":false}";
    CHECK_RC(keel_enrollment_store_new(app, strlen(app), &s), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options.appName");
    const char *broken = "{\"keyring\":";
    CHECK_RC(keel_enrollment_store_new(broken, strlen(broken), &s), KEEL_INVALID_JSON);
    CHECK_MSG_HAS("options_json is not valid JSON");
    const char bad_utf8[] = "{\"appName\":\"\xff\"}";
    CHECK_RC(keel_enrollment_store_new(bad_utf8, strlen(bad_utf8), &s), KEEL_INVALID_UTF8);
    CHECK(s == NULL);
    /* Empty options mean the defaults (platform keyring = keyutils here). */
    CHECK_OK(keel_enrollment_store_new("", 0, &s));
    keel_enrollment_store_free(s);
}

static void test_bad_creds_name_the_field_never_the_jwt(void) {
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "badcreds");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    struct {
        const char *json;
        keel_result rc;
        const char *needle;
    } cases[] = {
        {"{\"jwt\":\"" JWT "\",\"jwtExpiresAtUnix\":1,\"tenantId\":\"t\",\"platformUrl\":\"" URL "\"}",
         KEEL_INVALID_JSON, "creds.agentId is missing"},
        {"{\"jwt\":\"" JWT "\",\"jwtExpiresAtUnix\":\"soon\",\"agentId\":\"a\",\"tenantId\":\"t\","
         "\"platformUrl\":\"" URL "\"}",
         KEEL_INVALID_JSON, "creds.jwtExpiresAtUnix must be a number"},
        {"{\"jwt\":42,\"jwtExpiresAtUnix\":1,\"agentId\":\"a\",\"tenantId\":\"t\",\"platformUrl\":\"u\"}",
         KEEL_INVALID_JSON, "creds.jwt must be a string"},
        {"{\"jwt\":\"" JWT "\",\"jwtExpiresAtUnix\":1,\"agentId\":\"\",\"tenantId\":\"t\",\"platformUrl\":\"u\"}",
         KEEL_INVALID_JSON, "creds.agentId must not be empty"},
        {"{\"jwt\":\"" JWT "\",", KEEL_INVALID_JSON, "creds is not valid JSON"},
        {"[\"" JWT "\"]", KEEL_INVALID_JSON, "creds must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_result rc = keel_enrollment_store_write(s, cases[i].json, strlen(cases[i].json), NULL);
        const char *m = keel_last_error_message();
        if (rc != cases[i].rc || strstr(m, cases[i].needle) == NULL || strstr(m, JWT) != NULL) {
            FAIL_AT("case %zu: %s \"%s\"", i, keel_result_name((int)rc), m);
            break;
        }
    }
    /* Nothing was stored by the failed writes. */
    bool has = true;
    keel_result rc = keel_enrollment_store_has_enrollment(s, &has);
    keel_enrollment_store_free(s);
    remove_dir(dir);
    CHECK_OK(rc);
    CHECK(!has);
}

static void test_memory_round_trip(void) {
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "memory");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_string *report = NULL, *all = NULL, *jwt = NULL, *diag = NULL, *cleared = NULL;
    bool has = false, has_after = true;
    struct stat st;
    keel_result rcs[8];
    rcs[0] = keel_enrollment_store_write(s, CREDS, strlen(CREDS), &report);
    rcs[1] = stat(mirror, &st) == 0 ? KEEL_OK : KEEL_IO;
    rcs[2] = keel_enrollment_store_read_all(s, &all);
    rcs[3] = keel_enrollment_store_read_jwt(s, &jwt);
    rcs[4] = keel_enrollment_store_has_enrollment(s, &has);
    rcs[5] = keel_enrollment_store_diagnose(s, &diag);
    rcs[6] = keel_enrollment_store_clear(s, &cleared);
    rcs[7] = keel_enrollment_store_has_enrollment(s, &has_after);
    bool ok = true;
    for (int i = 0; i < 8; i++) {
        if (rcs[i] != KEEL_OK) {
            FAIL_AT("step %d returned %s (%s)", i, keel_result_name((int)rcs[i]), keel_last_error_message());
            ok = false;
            break;
        }
    }
    if (ok) {
        if (!str_contains(report, "\"mirrorWritten\":true") || !str_contains(report, "\"warnings\":[]") ||
            str_contains(report, JWT)) {
            FAIL_AT("write report %s", report->data);
        } else if ((st.st_mode & 0777) != 0600) {
            FAIL_AT("mirror mode %o", (unsigned)(st.st_mode & 0777));
        } else if (!str_contains(all, "\"jwt\":\"" JWT "\"") || !str_contains(all, "\"agentId\":\"agent-7\"") ||
                   !str_contains(all, "\"jwtExpiresAtUnix\":1900000000") ||
                   !str_contains(all, "\"source\":\"keyring\"")) {
            FAIL_AT("read_all %s", all->data);
        } else if (!str_contains(jwt, "\"jwt\":\"" JWT "\"") || !str_contains(jwt, "\"expiresAtUnix\":1900000000")) {
            FAIL_AT("read_jwt %s", jwt->data);
        } else if (!has || has_after) {
            FAIL_AT("has_enrollment before %d after %d", has, has_after);
        } else if (!str_contains(diag, "\"resolvedFrom\":\"keyring\"") || !str_contains(diag, "\"inSync\":true") ||
                   str_contains(diag, JWT)) {
            FAIL_AT("diagnose %s", diag->data);
        } else if (!str_contains(cleared, "\"mirrorRemoved\":true") || stat(mirror, &st) == 0) {
            FAIL_AT("clear %s", cleared->data);
        }
    }
    keel_string_free(report);
    keel_string_free(all);
    keel_string_free(jwt);
    keel_string_free(diag);
    keel_string_free(cleared);
    keel_enrollment_store_free(s);
    remove_dir(dir);
}

static void test_keyutils_round_trip_and_mirror_fallback(void) {
    if (!keyutils_usable()) {
        printf("note: the kernel keyring is not usable here; keyutils round trip skipped\n");
        return;
    }
    char dir[300], mirror[400], service[64], other[64];
    fresh_dir(dir, sizeof dir, "keyutils");
    mirror_path(mirror, sizeof mirror, dir);
    snprintf(service, sizeof service, "keel-ctest-%d", (int)getpid());
    snprintf(other, sizeof other, "keel-ctest-daemon-%d", (int)getpid());
    keel_enrollment_store *fg = new_store(options("keyutils", service, mirror));
    /* The daemon: another keyring service (an empty keyring), the same mirror. */
    keel_enrollment_store *daemon = new_store(options("keyutils", other, mirror));
    /* A process with no keyring at all, the same mirror. */
    keel_enrollment_store *mem = new_store(options("memory", service, mirror));
    CHECK(fg != NULL && daemon != NULL && mem != NULL);
    keel_string *report = NULL, *fg_all = NULL, *d_all = NULL, *d_jwt = NULL, *m_all = NULL, *cleared = NULL;
    keel_result rcs[7];
    rcs[0] = keel_enrollment_store_write(fg, CREDS, strlen(CREDS), &report);
    rcs[1] = keel_enrollment_store_read_all(fg, &fg_all);
    rcs[2] = keel_enrollment_store_read_all(daemon, &d_all);
    rcs[3] = keel_enrollment_store_read_jwt(daemon, &d_jwt);
    rcs[4] = keel_enrollment_store_read_all(mem, &m_all);
    rcs[5] = keel_enrollment_store_assert_platform_url(daemon, "HTTPS://Platform.Example.com:443/", strlen("HTTPS://Platform.Example.com:443/"));
    rcs[6] = keel_enrollment_store_clear(fg, &cleared);
    bool ok = true;
    for (int i = 0; i < 7; i++) {
        if (rcs[i] != KEEL_OK) {
            FAIL_AT("step %d returned %s (%s)", i, keel_result_name((int)rcs[i]), keel_last_error_message());
            ok = false;
            break;
        }
    }
    if (ok) {
        if (!str_contains(report, "\"keyringBackend\":\"keyutils\"") ||
            !str_contains(report, "agent-enrollment.platform_url")) {
            FAIL_AT("write report %s", report->data);
        } else if (!str_contains(fg_all, "\"source\":\"keyring\"") || !str_contains(fg_all, JWT)) {
            FAIL_AT("foreground read %s", fg_all->data);
        } else if (!str_contains(d_all, "\"source\":\"fileMirror\"") || !str_contains(d_all, JWT) ||
                   !str_contains(d_all, "\"tenantId\":\"tenant-3\"") || str_contains(d_all, "\"notes\":[]")) {
            FAIL_AT("daemon read (expected the mirror, with a note) %s", d_all->data);
        } else if (!str_contains(d_jwt, "\"source\":\"fileMirror\"") ||
                   !str_contains(d_jwt, "\"expiresAtUnix\":1900000000")) {
            FAIL_AT("daemon read_jwt %s", d_jwt->data);
        } else if (!str_contains(m_all, "\"source\":\"fileMirror\"")) {
            FAIL_AT("memory read %s", m_all->data);
        } else if (!str_contains(cleared, "agent-enrollment.jwt") || !str_contains(cleared, "\"mirrorRemoved\":true")) {
            FAIL_AT("clear %s", cleared->data);
        }
    }
    /* After clear, nobody is enrolled, and a second clear is a no-op. */
    keel_string *again = NULL, *none = NULL;
    keel_result after_fg = keel_enrollment_store_read_all(fg, &none);
    keel_result after_daemon = keel_enrollment_store_read_jwt(daemon, &none);
    keel_result clear_again = keel_enrollment_store_clear(fg, &again);
    if (ok && (after_fg != KEEL_NOT_ENROLLED || after_daemon != KEEL_NOT_ENROLLED || clear_again != KEEL_OK ||
               !str_contains(again, "\"keyringKeysRemoved\":[]"))) {
        FAIL_AT("after clear: %s %s %s", keel_result_name((int)after_fg), keel_result_name((int)after_daemon),
                again ? again->data : "(null)");
    }
    keel_string_free(report);
    keel_string_free(fg_all);
    keel_string_free(d_all);
    keel_string_free(d_jwt);
    keel_string_free(m_all);
    keel_string_free(cleared);
    keel_string_free(again);
    keel_string_free(none);
    keel_enrollment_store_free(fg);
    keel_enrollment_store_free(daemon);
    keel_enrollment_store_free(mem);
    remove_dir(dir);
}

static void test_not_enrolled(void) {
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "empty");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_string *out = NULL;
    bool has = true;
    keel_result a = keel_enrollment_store_read_all(s, &out);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", keel_last_error_message());
    keel_result j = keel_enrollment_store_read_jwt(s, &out);
    keel_result u = keel_enrollment_store_assert_platform_url(s, URL, strlen(URL));
    keel_result h = keel_enrollment_store_has_enrollment(s, &has);
    keel_enrollment_store_free(s);
    remove_dir(dir);
    CHECK_RC(a, KEEL_NOT_ENROLLED);
    CHECK(strstr(msg, "keel_enrollment_store_read_all(): not enrolled") != NULL);
    CHECK(strstr(msg, "agent-enrollment.cred") != NULL); /* says where it looked */
    CHECK_RC(j, KEEL_NOT_ENROLLED);
    CHECK_RC(u, KEEL_NOT_ENROLLED);
    CHECK_RC(h, KEEL_OK);
    CHECK(!has);
    CHECK(out == NULL); /* out-parameters are written only on success */
    CHECK(strcmp(keel_result_name(KEEL_NOT_ENROLLED), "KEEL_NOT_ENROLLED") == 0);
}

static void test_platform_url_mismatch(void) {
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "url");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_result w = write_creds(s);
    const char *same = "https://PLATFORM.example.com:443/";
    keel_result ok = keel_enrollment_store_assert_platform_url(s, same, strlen(same));
    const char *other = "https://user:pa55w0rd-xyz@other.example.com";
    keel_result bad = keel_enrollment_store_assert_platform_url(s, other, strlen(other));
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", keel_last_error_message());
    keel_result empty = keel_enrollment_store_assert_platform_url(s, "", 0);
    char empty_msg[512];
    snprintf(empty_msg, sizeof empty_msg, "%s", keel_last_error_message());
    keel_enrollment_store_clear(s, NULL);
    keel_enrollment_store_free(s);
    remove_dir(dir);
    CHECK_OK(w);
    CHECK_OK(ok);
    CHECK_RC(bad, KEEL_PLATFORM_URL_MISMATCH);
    CHECK(strstr(msg, "platform.example.com") != NULL);
    CHECK(strstr(msg, "other.example.com") != NULL);
    CHECK(strstr(msg, "pa55w0rd-xyz") == NULL);
    CHECK(strstr(msg, JWT) == NULL);
    CHECK_RC(empty, KEEL_INVALID_ARGUMENT);
    CHECK(strstr(empty_msg, "url is empty") != NULL);
}

static void test_insecure_mirror_is_refused_with_the_fix(void) {
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "insecure");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *writer = new_store(options("memory", "keel-ctest", mirror));
    keel_enrollment_store *reader = new_store(options("memory", "keel-ctest", mirror));
    CHECK(writer != NULL && reader != NULL);
    keel_result w = write_creds(writer);
    chmod(mirror, 0644);
    keel_string *out = NULL, *diag = NULL;
    bool has = false;
    keel_result r = keel_enrollment_store_read_all(reader, &out);
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", keel_last_error_message());
    keel_result h = keel_enrollment_store_has_enrollment(reader, &has);
    keel_result d = keel_enrollment_store_diagnose(reader, &diag);
    bool diag_ok = d == KEEL_OK && str_contains(diag, "\"code\":\"mirrorTooOpen\"") &&
                   str_contains(diag, "chmod 600") && !str_contains(diag, JWT);
    /* The writer's keyring still answers: the keyring is the source of truth. */
    keel_string *fg = NULL;
    keel_result f = keel_enrollment_store_read_all(writer, &fg);
    bool fg_ok = f == KEEL_OK && str_contains(fg, "\"source\":\"keyring\"");
    keel_string_free(fg);
    keel_string_free(diag);
    keel_enrollment_store_clear(writer, NULL);
    keel_enrollment_store_free(writer);
    keel_enrollment_store_free(reader);
    remove_dir(dir);
    CHECK_OK(w);
    CHECK_RC(r, KEEL_INSECURE_FILE);
    CHECK(out == NULL);
    CHECK(strstr(msg, "refusing to use") != NULL);
    CHECK(strstr(msg, "0644") != NULL);
    CHECK(strstr(msg, "too open") != NULL);
    CHECK(strstr(msg, "chmod 600") != NULL);
    CHECK(strstr(msg, JWT) == NULL);
    CHECK_RC(h, KEEL_INSECURE_FILE);
    CHECK(diag_ok);
    CHECK(fg_ok);
}

static void test_mirror_written_by_hand_is_read(void) {
    /* A file in the reference format (JSON.stringify + tmp→chmod 600→rename),
     * written by "another implementation": keel reads it. */
    char dir[300], mirror[400], agent[350];
    fresh_dir(dir, sizeof dir, "byhand");
    mirror_path(mirror, sizeof mirror, dir);
    snprintf(agent, sizeof agent, "%s/agent", dir);
    mkdir(agent, 0700);
    char tmp[450];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", mirror, (int)getpid());
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    fputs(CREDS, f);
    fclose(f);
    chmod(tmp, 0600);
    rename(tmp, mirror);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_string *out = NULL;
    keel_result r = keel_enrollment_store_read_all(s, &out);
    bool ok = r == KEEL_OK && str_contains(out, "\"source\":\"fileMirror\"") &&
              str_contains(out, "\"platformUrl\":\"" URL "\"");
    keel_string_free(out);
    keel_enrollment_store_clear(s, NULL);
    keel_enrollment_store_free(s);
    remove_dir(dir);
    CHECK_OK(r);
    CHECK(ok);
}

static void test_mirror_disabled_and_write_warnings(void) {
    char dir[300], blocker[400], mirror[500];
    fresh_dir(dir, sizeof dir, "warn");
    /* The mirror's directory is a regular file: the mirror cannot be written. */
    snprintf(blocker, sizeof blocker, "%s/agent", dir);
    FILE *f = fopen(blocker, "w");
    CHECK(f != NULL);
    fclose(f);
    snprintf(mirror, sizeof mirror, "%s/agent-enrollment.cred", blocker);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL);
    keel_string *report = NULL, *all = NULL;
    keel_result w = keel_enrollment_store_write(s, CREDS, strlen(CREDS), &report);
    keel_result r = keel_enrollment_store_read_all(s, &all);
    bool ok = w == KEEL_OK && str_contains(report, "\"mirrorWritten\":false") &&
              str_contains(report, "\"severity\":\"warning\"") && !str_contains(report, JWT) &&
              r == KEEL_OK && str_contains(all, "\"source\":\"keyring\"");
    keel_string_free(report);
    keel_string_free(all);
    keel_enrollment_store_free(s);
    unlink(blocker);
    rmdir(dir);
    CHECK_OK(w);
    CHECK(ok);

    const char *off = "{\"keyring\":\"memory\",\"mirror\":false}";
    s = new_store(off);
    CHECK(s != NULL);
    report = NULL;
    w = keel_enrollment_store_write(s, CREDS, strlen(CREDS), &report);
    ok = w == KEEL_OK && str_contains(report, "\"mirrorPath\":null") && str_contains(report, "\"mirrorWritten\":false");
    keel_string_free(report);
    keel_enrollment_store_free(s);
    CHECK(ok);
}

static void test_no_jwt_in_any_error_message(void) {
    /* Make every failure path this file exercises happen with the JWT stored, and
     * look at each message. */
    char dir[300], mirror[400];
    fresh_dir(dir, sizeof dir, "nojwt");
    mirror_path(mirror, sizeof mirror, dir);
    keel_enrollment_store *s = new_store(options("memory", "keel-ctest", mirror));
    keel_enrollment_store *reader = new_store(options("memory", "keel-ctest", mirror));
    CHECK(s != NULL && reader != NULL);
    keel_result w = write_creds(s);
    keel_string *out = NULL;
    const char *msgs_ok = NULL;
    keel_enrollment_store_assert_platform_url(s, "https://x.example", 17);
    if (strstr(keel_last_error_message(), JWT)) msgs_ok = "mismatch";
    chmod(mirror, 0640);
    keel_enrollment_store_read_all(reader, &out);
    if (strstr(keel_last_error_message(), JWT)) msgs_ok = "insecure";
    keel_enrollment_store_read_jwt(reader, &out);
    if (strstr(keel_last_error_message(), JWT)) msgs_ok = "insecure jwt";
    chmod(mirror, 0600);
    FILE *f = fopen(mirror, "w");
    if (f) {
        fputs("{\"jwt\":\"" JWT "\",\"agentId\":1}", f);
        fclose(f);
    }
    keel_enrollment_store_read_all(reader, &out);
    if (strstr(keel_last_error_message(), JWT)) msgs_ok = "malformed mirror";
    keel_result nr = keel_enrollment_store_read_all(reader, &out);
    bool names_field = strstr(keel_last_error_message(), "field agentId is not a string") != NULL;
    keel_enrollment_store_clear(s, NULL);
    keel_enrollment_store_free(s);
    keel_enrollment_store_free(reader);
    remove_dir(dir);
    CHECK_OK(w);
    CHECK(out == NULL);
    CHECK_RC(nr, KEEL_NOT_ENROLLED);
    CHECK(names_field);
    if (msgs_ok != NULL) {
        FAIL_AT("the JWT appeared in the %s message", msgs_ok);
    }
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/keel-ctest-cred-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_null_arguments);
    RUN(test_freed_store_is_refused);
    RUN(test_bad_options_name_the_field);
    RUN(test_bad_creds_name_the_field_never_the_jwt);
    RUN(test_memory_round_trip);
    RUN(test_keyutils_round_trip_and_mirror_fallback);
    RUN(test_not_enrolled);
    RUN(test_platform_url_mismatch);
    RUN(test_insecure_mirror_is_refused_with_the_fix);
    RUN(test_mirror_written_by_hand_is_read);
    RUN(test_mirror_disabled_and_write_warnings);
    RUN(test_no_jwt_in_any_error_message);
    RUN(test_no_leaks);
    rmdir(tmp_root);
    return TEST_SUMMARY();
}
