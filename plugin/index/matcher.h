/*
 * matcher.h -- label matchers with Prometheus semantics.
 *
 * A series without a label is matched as if its value were "". Regexes are
 * fully anchored (the whole value must match), use RE2-like syntax with '.'
 * matching newline too (Prometheus 3's (?s:...)), and run on PCRE2 with its
 * JIT. Constructs RE2 does not have (backreferences, lookaround, possessive
 * quantifiers, atomic groups, recursion, \C) are refused at compile time, so a
 * selector means the same here as in Prometheus. Matching is bounded: when
 * PCRE2's backtracker gives up, a DFA pass answers instead, and only a value
 * neither can decide within its bounds is an error (PROMSTORE_E_LIMIT naming
 * the matcher), never a guessed answer (matcher.c, notes 1-3).
 */
#ifndef PS_MATCHER_H
#define PS_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

typedef struct ps_matcher {
    promstore_match_type type;
    char *name;  /* owned, NUL-terminated copy */
    size_t name_len;
    char *value; /* owned, NUL-terminated copy (the regex source for RE/NRE) */
    size_t value_len;
    void *re;    /* pcre2_code_8 * for RE/NRE that are not literals, else NULL */
    void *md;    /* pcre2_match_data_8 * with re, else NULL */
    int matches_empty; /* 1 if the matcher accepts "" (so: series without the label) */
    int dfa_trusted;   /* the DFA fallback gives RE2's answer (matcher.c note 3) */
    int *dfa_ws;       /* its workspace, made on first use; owned */
    /*
     * For RE/NRE whose pattern is a plain alternation of literals (a|b|c) the
     * literals are kept here, unescaped, sorted byte-wise and distinct, so the
     * engine can look them up instead of scanning every value; such a matcher
     * has no regex (re and md are NULL). NULL otherwise.
     */
    char **literals;
    size_t *literal_lens;
    size_t n_literals;
} ps_matcher;

/*
 * Compile src into m. Returns PROMSTORE_OK or PROMSTORE_E_BAD_MATCHER (bad
 * regex, unsupported construct, empty name, name or value not UTF-8) with a
 * message naming the matcher, PROMSTORE_E_LIMIT (the regex cannot be decided
 * on "" within the bounds, as ps_matcher_eval), or PROMSTORE_E_NOMEM.
 * On failure m holds nothing to free.
 */
promstore_status ps_matcher_compile(ps_matcher *m, const promstore_matcher *src,
                                    promstore_error *err);

/*
 * Whether value[0..len) satisfies the matcher: *matched = 1 or 0. Pass ""
 * (len 0) for a series without the label. A value that is not UTF-8 (the
 * store holds none) satisfies no =~ and every !~.
 * Returns:   PROMSTORE_OK; PROMSTORE_E_LIMIT when the regex cannot be decided
 *   on this value within the matching bounds, with a message naming the
 *   matcher and the value -- the caller must fail its query, since any answer
 *   could differ from RE2's; PROMSTORE_E_NOMEM (the DFA workspace, made on
 *   first need); PROMSTORE_E_INVALID / PROMSTORE_E_MISUSE for NULL arguments
 *   or an uncompiled matcher. On error *matched is unspecified.
 * Threads:   one caller at a time per ps_matcher (match data and workspace
 *   are the matcher's).
 */
promstore_status ps_matcher_eval(ps_matcher *m, const char *value, size_t len, int *matched,
                                 promstore_error *err);

/*
 * ps_matcher_eval that also says what the evaluation cost, in the steps a
 * read's work budget counts (plugin/engine/budget.h, note 2): *steps is 1
 * for =, != and literal alternations; for a regex, the value's length plus
 * one, plus the backtracker's whole match limit (PCRE2 does not report the
 * steps a match took) when it gave up on the value and the DFA answered.
 * *steps is set on PROMSTORE_E_LIMIT too: the work was done.
 */
promstore_status ps_matcher_eval_costed(ps_matcher *m, const char *value, size_t len,
                                        int *matched, uint64_t *steps, promstore_error *err);

/* Free what m owns. Safe on a zeroed ps_matcher. */
void ps_matcher_free(ps_matcher *m);

/* "name=\"value\"" style text of a matcher, for error messages; NUL-terminated. */
char *ps_matcher_format(const promstore_matcher *src, char *buf, size_t cap);

#endif
