/*
 * C tests of keel's redaction API and of the error model every capability shares
 * (keel_result, keel_last_error_message, keel_string, NULL and UTF-8 checks,
 * handle lifetime). Built by run.sh with
 *   gcc -Wall -Wextra -Werror -fsanitize=address,undefined
 * and run with LeakSanitizer on.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "test.h"

#define SECRET "hunter2-correct-horse-battery"
#define SECRET_B64 "aHVudGVyMi1jb3JyZWN0LWhvcnNlLWJhdHRlcnk="
#define GHP "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
#define PASSWORD_VALUE "supersecretvalue1"

#define SLEN(s) (sizeof(s) - 1)

/* ---- helpers ---------------------------------------------------------- */

static keel_redactor *new_redactor(const char *json) {
    keel_redactor *r = NULL;
    if (keel_redactor_new(json, json ? strlen(json) : 0, &r) != KEEL_OK) {
        return NULL;
    }
    return r;
}

/* Redact a C string; NULL on failure. */
static keel_string *redact_cstr(const keel_redactor *r, const char *in) {
    keel_string *out = NULL;
    if (keel_redactor_redact(r, (const uint8_t *)in, strlen(in), &out) != KEEL_OK) {
        return NULL;
    }
    return out;
}

static bool bytes_contain(const void *data, size_t len, const char *needle) {
    size_t n = strlen(needle);
    const char *d = data;
    if (n > len) {
        return false;
    }
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(d + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool contains(const keel_string *s, const char *needle) {
    return bytes_contain(s->data, s->len, needle);
}

/* A growable byte buffer that a stream's write callback appends to. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    int calls;
    int fail_with;        /* non-zero: the callback returns this */
    int finalized;        /* times the finalizer ran */
    keel_stream_redactor *self; /* for the re-entrancy / free-inside tests */
    keel_result reentrant_rc;
    bool free_inside;
} sink;

static int sink_write(void *userdata, const uint8_t *data, size_t len) {
    sink *s = userdata;
    s->calls++;
    if (s->self != NULL && !s->free_inside) {
        s->reentrant_rc = keel_stream_redactor_write(s->self, data, len);
    }
    if (s->self != NULL && s->free_inside) {
        keel_stream_redactor_free(s->self);
        s->self = NULL;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        while (cap < s->len + len) {
            cap *= 2;
        }
        uint8_t *grown = realloc(s->data, cap);
        if (grown == NULL) {
            return -1;
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return s->fail_with;
}

static void sink_finalize(void *userdata) {
    sink *s = userdata;
    s->finalized++;
}

static void sink_reset(sink *s) {
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* ---- error model ------------------------------------------------------- */

static void test_version_and_result_names(void) {
    const char *v = keel_version();
    CHECK(v != NULL);
    CHECK(strchr(v, '.') != NULL);
    CHECK(strcmp(keel_result_name(KEEL_OK), "KEEL_OK") == 0);
    CHECK(strcmp(keel_result_name(KEEL_NULL_PARAMETER), "KEEL_NULL_PARAMETER") == 0);
    CHECK(strcmp(keel_result_name(KEEL_UNKNOWN_RULE), "KEEL_UNKNOWN_RULE") == 0);
    CHECK(strcmp(keel_result_name(12345), "KEEL_UNKNOWN_RESULT") == 0);
    CHECK(KEEL_OK == 0);
}

static void test_last_error_is_cleared_by_success(void) {
    keel_redactor *r = NULL;
    CHECK_RC(keel_redactor_new("{", 1, &r), KEEL_INVALID_JSON);
    CHECK(strlen(keel_last_error_message()) > 0);
    /* _free and the static-string functions leave the message alone */
    keel_redactor_free(NULL);
    keel_string_free(NULL);
    (void)keel_version();
    CHECK_MSG_HAS("keel_redactor_new(): ");
    CHECK_OK(keel_redactor_new(NULL, 0, &r));
    CHECK(strcmp(keel_last_error_message(), "") == 0);
    keel_redactor_free(r);
}

static void *other_thread_message(void *arg) {
    (void)arg;
    return (void *)keel_last_error_message();
}

static void test_last_error_is_per_thread(void) {
    keel_redactor *r = NULL;
    CHECK_RC(keel_redactor_new("[]", 2, &r), KEEL_INVALID_JSON);
    pthread_t t;
    void *seen = NULL;
    CHECK(pthread_create(&t, NULL, other_thread_message, NULL) == 0);
    CHECK(pthread_join(t, &seen) == 0);
    CHECK(seen != NULL && strcmp((const char *)seen, "") == 0);
    CHECK_MSG_HAS("is not an object");
}

static void test_null_pointers_everywhere(void) {
    keel_redactor *r = new_redactor(NULL);
    CHECK(r != NULL);
    sink s = {0};
    keel_stream_redactor *st = NULL;
    CHECK_OK(keel_stream_redactor_new(r, sink_write, &s, NULL, &st));

    keel_redactor *sentinel_r = (keel_redactor *)(uintptr_t)0x1;
    keel_redactor *r2 = sentinel_r;
    keel_string *sentinel_s = (keel_string *)(uintptr_t)0x1;
    keel_string *out = sentinel_s;
    keel_stream_redactor *st2 = NULL;
    size_t pending = 77;

    CHECK_RC(keel_redactor_new("{}", 2, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("out is NULL");
    CHECK_RC(keel_redactor_new(NULL, 5, &r2), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("options_json is NULL");
    CHECK(r2 == sentinel_r); /* outputs are written only on success */

    CHECK_RC(keel_redactor_add_secret(NULL, SECRET, SLEN(SECRET), NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("redactor is NULL");
    CHECK_RC(keel_redactor_add_secret(r, NULL, 3, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("secret is NULL");
    CHECK_RC(keel_redactor_add_json_secret(NULL, "{}", 2, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redactor_add_json_secret(r, NULL, 2, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("blob is NULL");

    CHECK_RC(keel_redactor_redact(NULL, (const uint8_t *)"x", 1, &out), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("redactor is NULL");
    CHECK_RC(keel_redactor_redact(r, NULL, 1, &out), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("input is NULL");
    CHECK_RC(keel_redactor_redact(r, (const uint8_t *)"x", 1, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("out is NULL");
    CHECK(out == sentinel_s);
    CHECK_RC(keel_redactor_rules_json(NULL, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redactor_rules_json(r, NULL), KEEL_NULL_PARAMETER);

    CHECK_RC(keel_stream_redactor_new(NULL, sink_write, &s, NULL, &st2), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_stream_redactor_new(r, NULL, &s, NULL, &st2), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("write is NULL");
    CHECK_RC(keel_stream_redactor_new(r, sink_write, &s, sink_finalize, NULL), KEEL_NULL_PARAMETER);
    CHECK(s.finalized == 0); /* a failed _new never calls the finalizer */
    CHECK(st2 == NULL);
    CHECK_RC(keel_stream_redactor_write(NULL, (const uint8_t *)"x", 1), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("stream is NULL");
    CHECK_RC(keel_stream_redactor_write(st, NULL, 4), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("data is NULL");
    CHECK_RC(keel_stream_redactor_flush(NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_stream_redactor_finish(NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_stream_redactor_pending(NULL, &pending), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_stream_redactor_pending(st, NULL), KEEL_NULL_PARAMETER);
    CHECK_MSG_HAS("pending_out is NULL");
    CHECK(pending == 77);

    CHECK_RC(keel_register_known_secret(NULL, 3, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redact_secrets(NULL, 2, &out), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redact_secrets((const uint8_t *)"x", 1, NULL), KEEL_NULL_PARAMETER);

    /* NULL with length 0 is an empty input, not an error */
    CHECK_OK(keel_stream_redactor_write(st, NULL, 0));
    CHECK_OK(keel_redactor_redact(r, NULL, 0, &out));
    CHECK(out != NULL && out != sentinel_s && out->len == 0 && out->data != NULL &&
          out->data[0] == '\0');
    keel_string_free(out);
    CHECK_OK(keel_redactor_add_secret(r, NULL, 0, NULL));

    keel_stream_redactor_free(st);
    keel_redactor_free(r);
    sink_reset(&s);
}

static void test_free_null_and_twice(void) {
    keel_redactor_free(NULL);
    keel_stream_redactor_free(NULL);
    keel_string_free(NULL);

    keel_redactor *r = new_redactor(NULL);
    CHECK(r != NULL);
    keel_string *s = redact_cstr(r, "hello");
    CHECK(s != NULL);
    sink k = {0};
    keel_stream_redactor *st = NULL;
    CHECK_OK(keel_stream_redactor_new(r, sink_write, &k, sink_finalize, &st));

    keel_string_free(s);
    keel_string_free(s);
    keel_stream_redactor_free(st);
    keel_stream_redactor_free(st);
    CHECK(k.finalized == 1);
    keel_redactor_free(r);
    keel_redactor_free(r);

    /* a freed handle is refused, not dereferenced */
    keel_string *out = NULL;
    CHECK_RC(keel_redactor_redact(r, (const uint8_t *)"x", 1, &out), KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("not a live keel_redactor");
    CHECK_RC(keel_stream_redactor_flush(st), KEEL_INVALID_ARGUMENT);
    CHECK_MSG_HAS("not a live keel_stream_redactor");
    sink_reset(&k);
}

static void test_wrong_handle_type_is_refused(void) {
    keel_redactor *r = new_redactor(NULL);
    CHECK(r != NULL);
    keel_string *s = redact_cstr(r, "hello");
    CHECK(s != NULL);
    keel_string *out = NULL;
    CHECK_RC(keel_redactor_redact((const keel_redactor *)(void *)s, (const uint8_t *)"x", 1, &out),
             KEEL_INVALID_ARGUMENT);
    /* freeing through the wrong function is ignored, not a double free */
    keel_redactor_free((keel_redactor *)(void *)s);
    CHECK(s->len == 5 && memcmp(s->data, "hello", 5) == 0);
    keel_string_free(s);
    keel_redactor_free(r);
}

/* ---- options ----------------------------------------------------------- */

static void test_invalid_utf8_options_and_secret(void) {
    keel_redactor *r = NULL;
    const char bad_json[] = "{\"mask\": \"\xff\"}";
    CHECK_RC(keel_redactor_new(bad_json, SLEN(bad_json), &r), KEEL_INVALID_UTF8);
    CHECK_MSG_HAS("options_json is not valid UTF-8");
    CHECK_MSG_HAS("offset 10");

    r = new_redactor(NULL);
    CHECK(r != NULL);
    const char bad_secret[] = "topsecret-prefix-\xc3\x28-tail";
    bool added = true;
    CHECK_RC(keel_redactor_add_secret(r, bad_secret, SLEN(bad_secret), &added), KEEL_INVALID_UTF8);
    CHECK_MSG_HAS("secret is not valid UTF-8");
    CHECK_MSG_LACKS("topsecret");
    CHECK(added == true); /* untouched on failure */
    CHECK_RC(keel_register_known_secret(bad_secret, SLEN(bad_secret), NULL), KEEL_INVALID_UTF8);
    CHECK_MSG_LACKS("topsecret");
    keel_redactor_free(r);
}

static void test_malformed_options_json(void) {
    keel_redactor *r = NULL;
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"{\"mask\": ", "options_json is not valid JSON"},
        {"{\"mask\": \"x\",}", "line 1 column"},
        {"[1, 2]", "options is not an object (got an array)"},
        {"{\"maks\": \"x\"}", "options has an unknown field (4 characters; did you mean \"mask\"?)"},
        {"{\"minSecretLength\": \"6\"}", "options.minSecretLength is not a non-negative integer (got a string)"},
        {"{\"secrets\": \"not-a-list-of-secrets\"}", "options.secrets is not an array (got a string)"},
        {"{\"secrets\": [\"ok-secret-1\", 7]}", "options.secrets[1] is not a string (got a number)"},
        {"{\"customRules\": [{\"name\": \"x\"}]}", "options.customRules[0].pattern is missing"},
        {"{\"customRules\": [{\"name\": \"x\", \"patern\": \"y\"}]}", "options.customRules[0] has an unknown field (6 characters; did you mean \"pattern\"?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = NULL;
        CHECK_RC(keel_redactor_new(cases[i].json, strlen(cases[i].json), &r), KEEL_INVALID_JSON);
        CHECK(r == NULL);
        CHECK_MSG_HAS(cases[i].needle);
    }
    /* a negative count is a value out of range */
    CHECK_RC(keel_redactor_new("{\"minSecretLength\": -3}", 23, &r), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("options.minSecretLength is not a non-negative integer");
    /* wrong-type messages name the field, never the value */
    CHECK_RC(keel_redactor_new("{\"secrets\": \"not-a-list-of-secrets\"}", 36, &r), KEEL_INVALID_JSON);
    CHECK_MSG_LACKS("not-a-list");
}

static void test_redactor_option_errors(void) {
    keel_redactor *r = NULL;
    const char *unknown = "{\"disableRules\": [\"no-such-rule\"]}";
    CHECK_RC(keel_redactor_new(unknown, strlen(unknown), &r), KEEL_UNKNOWN_RULE);
    CHECK_MSG_HAS("no-such-rule");
    const char *pattern = "{\"customRules\": [{\"name\": \"broken\", \"pattern\": \"(unclosed\"}]}";
    CHECK_RC(keel_redactor_new(pattern, strlen(pattern), &r), KEEL_INVALID_PATTERN);
    CHECK_MSG_HAS("broken");
    const char *empty = "{\"customRules\": [{\"name\": \"e\", \"pattern\": \"a*\"}]}";
    CHECK_RC(keel_redactor_new(empty, strlen(empty), &r), KEEL_INVALID_PATTERN);
    const char *taken = "{\"customRules\": [{\"name\": \"jwt\", \"pattern\": \"x+\"}]}";
    CHECK_RC(keel_redactor_new(taken, strlen(taken), &r), KEEL_INVALID_RULE_NAME);
    CHECK_RC(keel_redactor_new("{\"mask\": \"\"}", 12, &r), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("mask");
    CHECK_RC(keel_redactor_new("{\"minSecretLength\": 0}", 22, &r), KEEL_INVALID_OPTION);
    CHECK_MSG_HAS("minSecretLength");
    CHECK(r == NULL);
    /* an empty options string and explicit nulls are the defaults */
    CHECK_OK(keel_redactor_new("", 0, &r));
    keel_redactor_free(r);
    CHECK_OK(keel_redactor_new("{\"mask\": null}", 14, &r));
    keel_redactor_free(r);
}

static void test_error_messages_never_contain_secrets(void) {
    keel_redactor *r = NULL;
    /* a secret from the same options, echoed by a rule error */
    const char *a = "{\"secrets\": [\"topsecret-value-1234\"], \"disableRules\": [\"topsecret-value-1234\"]}";
    CHECK_RC(keel_redactor_new(a, strlen(a), &r), KEEL_UNKNOWN_RULE);
    CHECK_MSG_LACKS("topsecret-value-1234");
    CHECK_MSG_HAS("***");
    /* a secret echoed by the regex error (which quotes the pattern) */
    const char *b = "{\"secrets\": [\"zz-secret-pattern-99\"], \"customRules\": "
                    "[{\"name\": \"r\", \"pattern\": \"zz-secret-pattern-99(\"}]}";
    CHECK_RC(keel_redactor_new(b, strlen(b), &r), KEEL_INVALID_PATTERN);
    CHECK_MSG_LACKS("zz-secret-pattern-99");
    /* a JSON credential blob's token */
    const char *c = "{\"jsonSecrets\": [\"{\\\"token\\\": \\\"blob-token-abcdefgh\\\"}\"], "
                    "\"disableRules\": [\"blob-token-abcdefgh\"]}";
    CHECK_RC(keel_redactor_new(c, strlen(c), &r), KEEL_UNKNOWN_RULE);
    CHECK_MSG_LACKS("blob-token-abcdefgh");
    /* a secret registered process-wide */
    CHECK_OK(keel_register_known_secret("global-secret-abc123", 20, NULL));
    const char *d = "{\"disableRules\": [\"global-secret-abc123\"]}";
    CHECK_RC(keel_redactor_new(d, strlen(d), &r), KEEL_UNKNOWN_RULE);
    CHECK_MSG_LACKS("global-secret-abc123");
    /* a credential shape */
    const char *e = "{\"disableRules\": [\"" GHP "\"]}";
    CHECK_RC(keel_redactor_new(e, strlen(e), &r), KEEL_UNKNOWN_RULE);
    CHECK_MSG_LACKS(GHP);
    CHECK(r == NULL);
}

/* ---- redaction --------------------------------------------------------- */

static void test_planted_secrets_are_masked(void) {
    const char *opts = "{\"secrets\": [\"" SECRET "\"]}";
    keel_redactor *r = new_redactor(opts);
    CHECK(r != NULL);
    const char *in = "known " SECRET " b64 " SECRET_B64 " token " GHP
                     " env PASSWORD=" PASSWORD_VALUE " done\n";
    keel_string *out = redact_cstr(r, in);
    CHECK(out != NULL);
    CHECK(out->data[out->len] == '\0');
    CHECK(strlen(out->data) == out->len);
    CHECK(!contains(out, SECRET));
    CHECK(!contains(out, SECRET_B64));
    CHECK(!contains(out, "aHVudGVy"));
    CHECK(!contains(out, "abcdefghijklmnopqrstuvwxyz0123456789"));
    CHECK(!contains(out, PASSWORD_VALUE));
    CHECK(contains(out, "known *** b64"));
    CHECK(contains(out, "ghp_***"));
    CHECK(contains(out, "PASSWORD=***"));
    CHECK(contains(out, " done\n"));
    keel_string_free(out);

    /* add_secret: new, duplicate, too short */
    bool added = false;
    CHECK_OK(keel_redactor_add_secret(r, "later-secret-42", 15, &added));
    CHECK(added == true);
    CHECK_OK(keel_redactor_add_secret(r, "later-secret-42", 15, &added));
    CHECK(added == false);
    CHECK_OK(keel_redactor_add_secret(r, "short", 5, &added));
    CHECK(added == false);
    size_t count = 0;
    const char *blob = "{\"access_token\": \"json-access-token-0001\", \"n\": 1}";
    CHECK_OK(keel_redactor_add_json_secret(r, blob, strlen(blob), &count));
    CHECK(count >= 1);
    out = redact_cstr(r, "a later-secret-42 b json-access-token-0001 c short");
    CHECK(out != NULL);
    CHECK(strcmp(out->data, "a *** b *** c short") == 0);
    keel_string_free(out);
    keel_redactor_free(r);
}

static void test_custom_mask_and_rule(void) {
    const char *opts = "{\"mask\": \"[REDACTED]\", \"secrets\": [\"" SECRET "\"], "
                       "\"customRules\": [{\"name\": \"ticket\", \"pattern\": \"TICKET-[0-9]{6}\"}]}";
    keel_redactor *r = new_redactor(opts);
    CHECK(r != NULL);
    keel_string *out = redact_cstr(r, "see TICKET-123456 and " SECRET);
    CHECK(out != NULL);
    CHECK(strcmp(out->data, "see [REDACTED] and [REDACTED]") == 0);
    keel_string_free(out);
    keel_redactor_free(r);
}

static void test_disable_rule_and_rules_json(void) {
    const char *opts = "{\"disableRules\": [\"github-token\"], "
                       "\"customRules\": [{\"name\": \"ticket\", \"pattern\": \"T-[0-9]+\", \"maxLen\": 64}]}";
    keel_redactor *r = new_redactor(opts);
    CHECK(r != NULL);
    keel_string *out = redact_cstr(r, "token " GHP);
    CHECK(out != NULL);
    CHECK(contains(out, GHP)); /* rule disabled */
    keel_string_free(out);

    keel_string *rules = NULL;
    CHECK_OK(keel_redactor_rules_json(r, &rules));
    CHECK(rules->data[0] == '[');
    CHECK(contains(rules, "{\"name\":\"github-token\","));
    CHECK(contains(rules, "\"enabled\":false"));
    CHECK(contains(rules, "\"name\":\"ticket\""));
    CHECK(contains(rules, "\"kind\":\"custom\""));
    keel_string_free(rules);
    keel_redactor_free(r);
}

static void test_invalid_utf8_input_passes_through(void) {
    keel_redactor *r = new_redactor("{\"secrets\": [\"" SECRET "\"]}");
    CHECK(r != NULL);
    const uint8_t in[] = "\xff\xfe bin \x80\x00 nul " SECRET " \xc3\x28 end";
    const size_t in_len = sizeof in - 1;
    keel_string *out = NULL;
    CHECK_OK(keel_redactor_redact(r, in, in_len, &out));
    const uint8_t want[] = "\xff\xfe bin \x80\x00 nul *** \xc3\x28 end";
    CHECK(out->len == sizeof want - 1);
    CHECK(memcmp(out->data, want, out->len) == 0);
    CHECK(out->data[out->len] == '\0');
    keel_string_free(out);

    /* no secret at all: bytes come back unchanged */
    const uint8_t plain[] = "\x01\x02\xfe\xff plain";
    CHECK_OK(keel_redactor_redact(r, plain, sizeof plain - 1, &out));
    CHECK(out->len == sizeof plain - 1 && memcmp(out->data, plain, out->len) == 0);
    keel_string_free(out);
    keel_redactor_free(r);
}

/* ---- streaming --------------------------------------------------------- */

static const char STREAM_INPUT[] =
    "line one " SECRET " and its base64 " SECRET_B64 "\n"
    "export GITHUB_TOKEN=" GHP "\n"
    "PASSWORD=" PASSWORD_VALUE "\n"
    "url https://user:p4ssw0rd-xyz@example.com/path\n"
    "-----BEGIN PRIVATE KEY-----\nMIIEabcdefghijklmnop\n-----END PRIVATE KEY-----\n"
    "bytes \xff\xfe tail " SECRET;

static void test_stream_any_chunking_equals_one_shot(void) {
    keel_redactor *r = new_redactor("{\"secrets\": [\"" SECRET "\"]}");
    CHECK(r != NULL);
    const size_t n = SLEN(STREAM_INPUT);
    keel_string *one = NULL;
    CHECK_OK(keel_redactor_redact(r, (const uint8_t *)STREAM_INPUT, n, &one));
    CHECK(!contains(one, SECRET));

    static const size_t chunk_sizes[] = {1, 2, 3, 7, 64, 4096};
    for (size_t c = 0; c < sizeof chunk_sizes / sizeof chunk_sizes[0]; c++) {
        sink s = {0};
        keel_stream_redactor *st = NULL;
        CHECK_OK(keel_stream_redactor_new(r, sink_write, &s, sink_finalize, &st));
        for (size_t i = 0; i < n; i += chunk_sizes[c]) {
            size_t len = n - i < chunk_sizes[c] ? n - i : chunk_sizes[c];
            CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)STREAM_INPUT + i, len));
        }
        CHECK_OK(keel_stream_redactor_finish(st));
        size_t pending = 99;
        CHECK_OK(keel_stream_redactor_pending(st, &pending));
        CHECK(pending == 0);
        keel_stream_redactor_free(st);
        CHECK(s.finalized == 1);
        if (s.len != one->len || memcmp(s.data, one->data, one->len) != 0) {
            FAIL_AT("chunk size %zu: stream output (%zu bytes) differs from one-shot (%zu bytes)",
                    chunk_sizes[c], s.len, one->len);
            sink_reset(&s);
            break;
        }
        sink_reset(&s);
    }
    keel_string_free(one);
    keel_redactor_free(r);
}

static void test_stream_holds_back_a_split_secret(void) {
    keel_redactor *r = new_redactor("{\"secrets\": [\"" SECRET "\"]}");
    CHECK(r != NULL);
    sink s = {0};
    keel_stream_redactor *st = NULL;
    CHECK_OK(keel_stream_redactor_new(r, sink_write, &s, NULL, &st));
    CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)"prefix hunter2-corr", 19));
    size_t pending = 0;
    CHECK_OK(keel_stream_redactor_pending(st, &pending));
    CHECK(pending > 0);
    CHECK_OK(keel_stream_redactor_flush(st)); /* must not emit a possible secret prefix */
    CHECK(!bytes_contain(s.data, s.len, "hunter2"));
    CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)"ect-horse-battery!", 18));
    CHECK_OK(keel_stream_redactor_finish(st));
    CHECK(s.len == SLEN("prefix ***!") && memcmp(s.data, "prefix ***!", s.len) == 0);
    /* a finished stream can be reused */
    CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)" again", 6));
    CHECK_OK(keel_stream_redactor_finish(st));
    CHECK(s.len == SLEN("prefix ***! again"));
    keel_stream_redactor_free(st);
    keel_redactor_free(r);
    sink_reset(&s);
}

static void test_stream_sees_later_secrets_and_outlives_redactor(void) {
    keel_redactor *r = new_redactor(NULL);
    CHECK(r != NULL);
    sink s = {0};
    keel_stream_redactor *st = NULL;
    CHECK_OK(keel_stream_redactor_new(r, sink_write, &s, sink_finalize, &st));
    CHECK_OK(keel_redactor_add_secret(r, "added-after-stream-1", 20, NULL));
    keel_redactor_free(r);
    const char *in = "x added-after-stream-1 y";
    CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)in, strlen(in)));
    CHECK_OK(keel_stream_redactor_finish(st));
    CHECK(s.len == 7 && memcmp(s.data, "x *** y", 7) == 0);
    CHECK(s.finalized == 0);
    keel_stream_redactor_free(st);
    CHECK(s.finalized == 1);
    sink_reset(&s);
}

static void test_stream_callback_failure_is_keel_io(void) {
    keel_redactor *r = new_redactor(NULL);
    CHECK(r != NULL);
    sink s = {0};
    s.fail_with = 42;
    keel_stream_redactor *st = NULL;
    CHECK_OK(keel_stream_redactor_new(r, sink_write, &s, NULL, &st));
    /* whichever call hands output to the callback reports its failure */
    keel_result rc = keel_stream_redactor_write(st, (const uint8_t *)"abc\n", 4);
    CHECK(rc == (s.calls > 0 ? KEEL_IO : KEEL_OK));
    int calls = s.calls;
    rc = keel_stream_redactor_finish(st);
    CHECK(rc == (s.calls > calls ? KEEL_IO : KEEL_OK));
    CHECK(s.calls >= 1);
    CHECK(s.len == 4 && memcmp(s.data, "abc\n", 4) == 0);
    rc = keel_stream_redactor_write(st, (const uint8_t *)"x", 1);
    rc = rc == KEEL_OK ? keel_stream_redactor_finish(st) : rc;
    CHECK_RC(rc, KEEL_IO);
    CHECK_MSG_HAS("write callback returned 42");
    keel_stream_redactor_free(st);
    keel_redactor_free(r);
    sink_reset(&s);
}

static void test_stream_reentrancy_and_free_inside_callback(void) {
    keel_redactor *r = new_redactor(NULL);
    CHECK(r != NULL);
    sink s = {0};
    keel_stream_redactor *st = NULL;
    CHECK_OK(keel_stream_redactor_new(r, sink_write, &s, sink_finalize, &st));
    s.self = st;
    CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)"hello world\n", 12));
    CHECK_OK(keel_stream_redactor_finish(st));
    CHECK(s.calls >= 1);
    CHECK(s.reentrant_rc == KEEL_INVALID_ARGUMENT);

    /* freeing the stream from its own callback: finalizer runs once, afterwards */
    s.free_inside = true;
    CHECK_OK(keel_stream_redactor_write(st, (const uint8_t *)"bye\n", 4));
    if (s.self != NULL) { /* nothing was written out yet */
        CHECK_OK(keel_stream_redactor_finish(st));
    }
    CHECK(s.self == NULL);
    CHECK(s.finalized == 1);
    CHECK_RC(keel_stream_redactor_finish(st), KEEL_INVALID_ARGUMENT);
    keel_stream_redactor_free(st);
    CHECK(s.finalized == 1);
    keel_redactor_free(r);
    sink_reset(&s);
}

/* ---- process-wide redactor and threads ---------------------------------- */

static void test_global_redactor(void) {
    bool added = false;
    CHECK_OK(keel_register_known_secret("process-wide-secret-7", 21, &added));
    CHECK(added == true);
    const char *in = "a process-wide-secret-7 b " GHP;
    keel_string *out = NULL;
    CHECK_OK(keel_redact_secrets((const uint8_t *)in, strlen(in), &out));
    CHECK(strcmp(out->data, "a *** b ghp_***") == 0);
    keel_string_free(out);
}

typedef struct {
    keel_redactor *r;
    int ok;
} thread_arg;

static void *redact_many(void *p) {
    thread_arg *a = p;
    for (int i = 0; i < 200; i++) {
        keel_string *out = redact_cstr(a->r, "thread " SECRET " " GHP);
        if (out == NULL) {
            return NULL;
        }
        if (strcmp(out->data, "thread *** ghp_***") == 0) {
            a->ok++;
        }
        keel_string_free(out);
        if (i % 50 == 0) {
            char extra[64];
            snprintf(extra, sizeof extra, "thread-extra-%p-%d", p, i);
            keel_redactor_add_secret(a->r, extra, strlen(extra), NULL);
        }
    }
    return NULL;
}

static void test_redactor_is_thread_safe(void) {
    keel_redactor *r = new_redactor("{\"secrets\": [\"" SECRET "\"]}");
    CHECK(r != NULL);
    pthread_t t[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].r = r;
        args[i].ok = 0;
        CHECK(pthread_create(&t[i], NULL, redact_many, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(args[i].ok == 200);
    }
    keel_redactor_free(r);
}

static void test_short_secrets_are_reported(void) {
    keel_redactor *r = new_redactor("{\"minSecretLength\": 8, \"secrets\": [\"tiny\", \"options-secret-1\"]}");
    size_t ignored = 99;
    CHECK_OK(keel_redactor_short_secrets_ignored(r, &ignored));
    CHECK(ignored == 1);
    keel_secret_status st = KEEL_SECRET_ADDED;
    CHECK_OK(keel_redactor_add_secret_status(r, "1234567", 7, &st));
    CHECK(st == KEEL_SECRET_TOO_SHORT);
    CHECK_OK(keel_redactor_add_secret_status(r, "status-secret-1", 15, &st));
    CHECK(st == KEEL_SECRET_ADDED);
    CHECK_OK(keel_redactor_add_secret_status(r, "status-secret-1", 15, &st));
    CHECK(st == KEEL_SECRET_DUPLICATE);
    CHECK_OK(keel_redactor_add_secret_status(r, "", 0, &st));
    CHECK(st == KEEL_SECRET_TOO_SHORT);
    bool added = true;
    CHECK_OK(keel_redactor_add_secret(r, "short", 5, &added));
    CHECK(added == false);
    CHECK_OK(keel_redactor_short_secrets_ignored(r, &ignored));
    CHECK(ignored == 4);
    CHECK_RC(keel_redactor_add_secret_status(r, "status-secret-2", 15, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redactor_add_secret_status(NULL, "status-secret-2", 15, &st), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redactor_short_secrets_ignored(r, NULL), KEEL_NULL_PARAMETER);
    CHECK_RC(keel_redactor_short_secrets_ignored(NULL, &ignored), KEEL_NULL_PARAMETER);
    keel_string *out = redact_cstr(r, "a status-secret-1 b options-secret-1 c 1234567");
    CHECK(out != NULL);
    CHECK(strcmp(out->data, "a *** b *** c 1234567") == 0);
    keel_string_free(out);
    keel_redactor_free(r);
}

int main(void) {
    RUN(test_version_and_result_names);
    RUN(test_last_error_is_cleared_by_success);
    RUN(test_last_error_is_per_thread);
    RUN(test_null_pointers_everywhere);
    RUN(test_free_null_and_twice);
    RUN(test_wrong_handle_type_is_refused);
    RUN(test_invalid_utf8_options_and_secret);
    RUN(test_malformed_options_json);
    RUN(test_redactor_option_errors);
    RUN(test_error_messages_never_contain_secrets);
    RUN(test_planted_secrets_are_masked);
    RUN(test_short_secrets_are_reported);
    RUN(test_custom_mask_and_rule);
    RUN(test_disable_rule_and_rules_json);
    RUN(test_invalid_utf8_input_passes_through);
    RUN(test_stream_any_chunking_equals_one_shot);
    RUN(test_stream_holds_back_a_split_secret);
    RUN(test_stream_sees_later_secrets_and_outlives_redactor);
    RUN(test_stream_callback_failure_is_keel_io);
    RUN(test_stream_reentrancy_and_free_inside_callback);
    RUN(test_global_redactor);
    RUN(test_redactor_is_thread_safe);
    RUN(test_no_leaks);
    return TEST_SUMMARY();
}
