/*
 * run.sh's proof that leak checking works here: this program leaks a keel_string
 * and a keel_redactor on purpose and must be reported by test_leak_check() (the
 * same check every test program ends with). Prints "leak detected" or
 * "leak NOT detected".
 */
#include <unistd.h>

#include "../test.h"

__attribute__((noinline)) static void leak(void) {
    keel_redactor *r = NULL;
    keel_string *s = NULL;
    if (keel_redactor_new(NULL, 0, &r) == KEEL_OK) {
        keel_redactor_redact(r, (const uint8_t *)"leaked", 6, &s);
    }
}

int main(void) {
    leak();
    int detected = test_leak_check();
    printf("leak %s\n", detected ? "detected" : "NOT detected");
    fflush(stdout);
    _exit(0); /* skip the at-exit check: the leak is deliberate */
}
