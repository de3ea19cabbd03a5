/*
 * fuzz_matcher -- label matchers (plugin/index/matcher.c) over hostile
 * patterns and values.
 *
 * Input: byte 0 picks the type (bit 0: =~ or !~); the rest is the pattern,
 * then a NUL, then the value (no NUL: the value is empty). Checked besides
 * memory safety and UB:
 *   1. compiling gives OK, BAD_MATCHER or LIMIT, and a failure leaves a
 *      message naming the matcher ("=~" or "!~" in it);
 *   2. evaluating the value gives OK with 0 or 1, or LIMIT with a message
 *      naming the matcher -- nothing else;
 *   3. !~ is exactly the negation of =~ when both decide;
 *   4. differential: a literal alternation, matched by binary search, gives
 *      the verdict of the same pattern wrapped in (?:...), which goes through
 *      PCRE2 (unless PCRE2 refuses the wrapped pattern as too large).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "matcher.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Compile; 1 if it compiled, 0 if refused (checked as in 1). */
static int compile(ps_matcher *m, promstore_match_type t, const char *p, size_t n)
{
    promstore_matcher src = {t, "job", 3, p, n};
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = ps_matcher_compile(m, &src, &err);
    if (st == PROMSTORE_OK)
        return 1;
    if (st != PROMSTORE_E_BAD_MATCHER && st != PROMSTORE_E_LIMIT)
        fuzz_fail("compile: status %d (%s)", st, err.message);
    if (strstr(err.message, t == PROMSTORE_MATCH_RE ? "=~" : "!~") == NULL)
        fuzz_fail("compile: message \"%s\" does not name the matcher", err.message);
    return 0;
}

/* Evaluate: 0 or 1, or -1 when undecided (checked as in 2). */
static int eval(ps_matcher *m, const char *v, size_t n)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    int matched = -1;
    promstore_status st = ps_matcher_eval(m, v, n, &matched, &err);
    if (st == PROMSTORE_E_LIMIT) {
        if (strstr(err.message, "regex too costly: matcher job") == NULL)
            fuzz_fail("eval: message \"%s\" does not name the matcher", err.message);
        return -1;
    }
    if (st != PROMSTORE_OK || (matched != 0 && matched != 1))
        fuzz_fail("eval: status %d, matched %d (%s)", st, matched, err.message);
    return matched;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t rest = size - 1;
    const char *nul = memchr(p, '\0', rest);
    size_t plen = nul ? (size_t)(nul - p) : rest;
    const char *v = nul ? nul + 1 : "";
    size_t vlen = nul ? rest - plen - 1 : 0;
    promstore_match_type t = (data[0] & 1) ? PROMSTORE_MATCH_NRE : PROMSTORE_MATCH_RE;

    ps_matcher m, neg;
    if (!compile(&m, t, p, plen))
        return 0;
    int got = eval(&m, v, vlen);
    if (compile(&neg, t == PROMSTORE_MATCH_RE ? PROMSTORE_MATCH_NRE : PROMSTORE_MATCH_RE, p,
                plen)) {
        int other = eval(&neg, v, vlen);
        if (got >= 0 && other >= 0 && got == other)
            fuzz_fail("=~ and !~ agree (%d) on the same value", got);
        ps_matcher_free(&neg);
    }
    if (m.literals != NULL && got >= 0) {
        char *wrapped = malloc(plen + 5);
        if (wrapped == NULL)
            fuzz_fail("out of memory");
        memcpy(wrapped, "(?:", 3);
        memcpy(wrapped + 3, p, plen);
        wrapped[plen + 3] = ')';
        ps_matcher re;
        promstore_matcher src = {t, "job", 3, wrapped, plen + 4};
        promstore_error err;
        if (ps_matcher_compile(&re, &src, &err) == PROMSTORE_OK) {
            if (re.literals != NULL)
                fuzz_fail("(?:...) taken for a literal alternation");
            int want = eval(&re, v, vlen);
            if (want >= 0 && want != got)
                fuzz_fail("literal alternation says %d, PCRE2 says %d", got, want);
            ps_matcher_free(&re);
        } else if (strstr(err.message, "too large") == NULL) {
            fuzz_fail("a literal alternation wrapped in (?:) refused: %s", err.message);
        }
        free(wrapped);
    }
    ps_matcher_free(&m);
    return 0;
}
