/*
 * matcher.h -- label matchers with Prometheus semantics.
 *
 * A series without a label is matched as if its value were "". Regexes are
 * fully anchored (the whole value must match), use RE2-like syntax with '.'
 * matching newline too (Prometheus 3's (?s:...)), and run on PCRE2 with its
 * JIT. Constructs RE2 does not have (backreferences, lookaround, possessive
 * quantifiers, atomic groups, recursion, \C) are refused at compile time, so a
 * selector means the same here as in Prometheus. A PCRE2 match limit bounds
 * the time of a pathological pattern.
 */
#ifndef PS_MATCHER_H
#define PS_MATCHER_H

#include <stddef.h>

#include "promstore.h"

typedef struct ps_matcher {
    promstore_match_type type;
    char *name;  /* owned, NUL-terminated copy */
    size_t name_len;
    char *value; /* owned, NUL-terminated copy (the regex source for RE/NRE) */
    size_t value_len;
    void *re;    /* pcre2_code_8 * for RE/NRE, else NULL */
    void *md;    /* pcre2_match_data_8 * for RE/NRE, else NULL */
    int matches_empty; /* 1 if the matcher accepts "" (so: series without the label) */
    /*
     * For RE/NRE whose pattern is a plain alternation of literals (a|b|c) the
     * literals are kept here, so the engine can look them up instead of
     * scanning every value. NULL otherwise.
     */
    char **literals;
    size_t *literal_lens;
    size_t n_literals;
} ps_matcher;

/*
 * Compile src into m. Returns PROMSTORE_OK or PROMSTORE_E_BAD_MATCHER (bad
 * regex, unsupported construct, empty name, name or value not UTF-8) with a
 * message naming the matcher, or PROMSTORE_E_NOMEM.
 * On failure m holds nothing to free.
 */
promstore_status ps_matcher_compile(ps_matcher *m, const promstore_matcher *src,
                                    promstore_error *err);

/*
 * 1 if value[0..len) satisfies the matcher, 0 if not. Pass "" (len 0) for a
 * series without the label. A regex that exceeds the match limit counts as
 * "no match" for RE and "match" for NRE -- never an error mid-query.
 * Threads: one caller at a time per ps_matcher (the match data is shared).
 */
int ps_matcher_matches(ps_matcher *m, const char *value, size_t len);

/* Free what m owns. Safe on a zeroed ps_matcher. */
void ps_matcher_free(ps_matcher *m);

/* "name=\"value\"" style text of a matcher, for error messages; NUL-terminated. */
char *ps_matcher_format(const promstore_matcher *src, char *buf, size_t cap);

#endif
