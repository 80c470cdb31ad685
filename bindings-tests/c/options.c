/* The shared option cases (bindings-tests/options-cases.json), run against the C ABI:
 * every case's options text goes to its section's constructor, and the result code and
 * the error message are checked. bindings-tests/node/options.test.mjs runs the same
 * file against the Node addon, so the two surfaces accept and refuse the same options.
 *
 * The data file has one case per line, a flat object of strings; this program reads
 * just that (a tiny scanner, no JSON library). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel.h"
#include "test.h"

/* bindings-tests/options-cases.json, found from this file's path. */
static char *cases_path(void) {
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');
    size_t dir = slash ? (size_t)(slash - src) : 1;
    char *path = malloc(dir + 32);
    if (slash) memcpy(path, src, dir); else path[0] = '.';
    strcpy(path + dir, "/../options-cases.json");
    return path;
}

/* A case: each field's decoded text (malloc'd). */
typedef struct {
    char *section, *name, *options, *code, *field;
} option_case;

/* Decode the JSON string at *p (just after its opening quote) into a new buffer;
 * moves *p past the closing quote. Only escapes the data file uses. */
static char *json_string(const char **p) {
    const char *s = *p;
    char *out = malloc(strlen(s) + 1), *o = out;
    while (*s && *s != '"') {
        if (*s == '\\') {
            s++;
            switch (*s) {
            case 'n': *o++ = '\n'; break;
            case 't': *o++ = '\t'; break;
            case 'u': { /* ASCII only */
                unsigned v = 0;
                sscanf(s + 1, "%4x", &v);
                *o++ = (char)v;
                s += 4;
                break;
            }
            default: *o++ = *s; break; /* \" \\ \/ */
            }
            s++;
        } else {
            *o++ = *s++;
        }
    }
    *o = 0;
    *p = *s ? s + 1 : s;
    return out;
}

/* Parse one case line: {"key": "value", ...}. Returns 0 when the line is not a case. */
static int parse_case(const char *line, option_case *c) {
    memset(c, 0, sizeof *c);
    if (strncmp(line, "{\"section\"", 10) != 0) return 0;
    const char *p = line + 1;
    while (*p) {
        while (*p && *p != '"') p++;
        if (!*p) break;
        p++;
        char *key = json_string(&p);
        while (*p && *p != '"') p++;
        if (!*p) { free(key); break; }
        p++;
        char *value = json_string(&p);
        char **slot = !strcmp(key, "section") ? &c->section
                    : !strcmp(key, "name")    ? &c->name
                    : !strcmp(key, "options") ? &c->options
                    : !strcmp(key, "code")    ? &c->code
                    : !strcmp(key, "field")   ? &c->field
                                              : NULL;
        if (slot && !*slot) *slot = value; else free(value);
        free(key);
    }
    return c->section && c->name && c->options && c->code && c->field;
}

static void free_case(option_case *c) {
    free(c->section); free(c->name); free(c->options); free(c->code); free(c->field);
}

static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

static keel_job_registry *registry_for_commands;

/* The supervisor section only builds supervisors: these callbacks never run. */
static int32_t case_register(void *ud, keel_supervisor *sup, uint32_t slot, void **reg) {
    (void)ud; (void)sup; (void)slot; (void)reg;
    return 1;
}
static int32_t case_run(void *ud, keel_supervisor *sup, uint32_t slot, void *reg) {
    (void)ud; (void)sup; (void)slot; (void)reg;
    return 0;
}
static const keel_supervisor_cycle CASE_CYCLE = {case_register, case_run, NULL};

/* Run a case's constructor; frees what it made. */
static keel_result run_case(const option_case *c) {
    size_t len = strlen(c->options);
    if (!strcmp(c->section, "redactor")) {
        keel_redactor *r = NULL;
        keel_result rc = keel_redactor_new(c->options, len, &r);
        keel_redactor_free(r);
        return rc;
    }
    if (!strcmp(c->section, "enrollmentStore")) {
        keel_enrollment_store *s = NULL;
        keel_result rc = keel_enrollment_store_new(c->options, len, &s);
        keel_enrollment_store_free(s);
        return rc;
    }
    if (!strcmp(c->section, "registry")) {
        keel_job_registry *r = NULL;
        keel_result rc = keel_job_registry_new(c->options, len, &r);
        keel_job_registry_free(r);
        return rc;
    }
    if (!strcmp(c->section, "turn")) {
        keel_string *res = NULL;
        keel_result rc = keel_turn_run(c->options, len, NULL, NULL, NULL, &res);
        if (rc == KEEL_OK && (!res || !strstr(res->data, "\"noOp\":true"))) rc = (keel_result)-2;
        keel_string_free(res);
        return rc;
    }
    if (!strcmp(c->section, "supervisor")) {
        keel_supervisor *sup = NULL;
        keel_result rc = keel_supervisor_new(c->options, len, &CASE_CYCLE, NULL, NULL, &sup);
        keel_supervisor_free(sup);
        return rc;
    }
    if (!strcmp(c->section, "exitCause")) {
        keel_string *out = NULL;
        keel_result rc = keel_exit_cause_ensure(c->options, len, &out);
        keel_string_free(out);
        return rc;
    }
    if (!strcmp(c->section, "command")) {
        static int n;
        char id[32];
        snprintf(id, sizeof id, "case-%d", n++);
        return keel_job_registry_run_command(registry_for_commands, id, strlen(id), c->options, len);
    }
    return (keel_result)-1;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

static void test_shared_option_cases(void) {
    char *path = cases_path();
    char *text = read_file(path);
    free(path);
    CHECK(text != NULL);
    if (!text) return;
    CHECK_OK(keel_job_registry_new("", 0, &registry_for_commands));
    int cases = 0;
    int sections[6] = {0};
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        option_case c;
        if (!parse_case(line, &c)) { free_case(&c); continue; }
        cases++;
        sections[!strcmp(c.section, "enrollmentStore") + 2 * !strcmp(c.section, "registry") +
                 3 * !strcmp(c.section, "command") + 4 * !strcmp(c.section, "supervisor") +
                 5 * !strcmp(c.section, "turn")]++;
        keel_result rc = run_case(&c);
        const char *got = keel_result_name(rc);
        const char *msg = keel_last_error_message();
        int bad = 1;
        if (strcmp(got, c.code) != 0) {
            FAIL_AT("%s / %s: got %s, expected %s (%s)", c.section, c.name, got, c.code, msg);
        } else if (c.field[0] && !strstr(msg, c.field)) {
            FAIL_AT("%s / %s: message \"%s\" does not name \"%s\"", c.section, c.name, msg, c.field);
        } else if (contains_ci(msg, "s3cr3t")) {
            FAIL_AT("%s / %s: message echoes a value: %s", c.section, c.name, msg);
        } else if (rc != KEEL_OK && strlen(msg) > 400) {
            FAIL_AT("%s / %s: message is %zu bytes", c.section, c.name, strlen(msg));
        } else {
            bad = 0;
        }
        if (bad) printf("  case failed: %s / %s: %s -> %s\n", c.section, c.name, got, msg);
        free_case(&c);
    }
    keel_job_registry_free(registry_for_commands);
    free(text);
    CHECK(cases >= 40);
    for (int i = 0; i < 6; i++) CHECK(sections[i] >= 5);
}

/* An unknown 100 MB key makes a short message that does not contain it. */
static void test_huge_unknown_key_gives_a_short_message(void) {
    size_t n = 100u << 20;
    char *json = malloc(n + 16);
    memcpy(json, "{\"", 2);
    memset(json + 2, 'k', n);
    memcpy(json + 2 + n, "\": 1}", 6);
    keel_redactor *r = NULL;
    CHECK_RC(keel_redactor_new(json, strlen(json), &r), KEEL_INVALID_JSON);
    CHECK(r == NULL);
    CHECK(strlen(keel_last_error_message()) < 400);
    CHECK_MSG_HAS("104857600 characters");
    CHECK_MSG_LACKS("kkkkkkkk");
    free(json);
}

int main(void) {
    RUN(test_shared_option_cases);
    RUN(test_huge_unknown_key_gives_a_short_message);
    RUN(test_no_leaks);
    return TEST_SUMMARY();
}
