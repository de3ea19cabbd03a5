/*
 * matcher.c -- label matchers with Prometheus semantics on PCRE2 (see
 * matcher.h): validation, a scanner that refuses the PCRE2 syntax RE2 lacks,
 * anchored dot-all UTF-8 compilation with JIT, bounded matching, and the
 * detection of plain literal alternations.
 *
 * NOTES ON THE DESIGN
 *
 * 1. Bounded matching, never a guessed answer. PCRE2's matcher backtracks,
 *    so a pattern such as (a*)*b|.* takes time exponential in the value,
 *    where RE2 (Prometheus) takes linear time. The backtracker runs under a
 *    match, depth and heap limit (and the JIT under its stack); when it gives
 *    up, the value is matched again with pcre2_dfa_match, which follows every
 *    path at once and does not backtrack: its work is the value's length times
 *    the number of live states, and the live states are bounded by its
 *    workspace (PS_DFA_WORKSPACE). Only when that overflows too is the value
 *    undecided, and then ps_matcher_eval fails with PROMSTORE_E_LIMIT naming
 *    the matcher: the query ends with an error rather than an answer that
 *    differs from RE2's. Before this, a limit counted as "no match" (and so as
 *    "match" for !~): wrong answers without a word.
 *
 * 2. Why not refuse such patterns at compile time. Nested unbounded
 *    quantifiers ((a*)*, (a+)+, (a|a)*) are the usual culprits, but they are
 *    neither necessary ((a|aa)*c, .*.*.*=.*) nor sufficient (anchoring and
 *    PCRE2's own optimisations make (a*)*b harmless), and RE2 accepts all of
 *    them: a refusal would turn answers Prometheus gives into errors. The
 *    fallback answers them instead, and the limit error is kept for what is
 *    left (large counted repetitions nested in one another).
 *
 * 3. The DFA gives the same answer as the backtracker for every construct the
 *    scanner lets through -- except one: PCRE2 10.42's pcre2_dfa_match applies
 *    PCRE2_DOLLAR_ENDONLY to '$' in multiline mode too ((?m)a$\nb does not
 *    match "a\nb" there). A pattern that turns multiline mode on is therefore
 *    never handed to the DFA (dfa_trusted = 0): its limit is an error.
 *
 * 4. Literal alternations (a|b|c, each alternative plain text or escaped
 *    punctuation) never reach PCRE2: they are split, sorted and de-duplicated
 *    once, at compile time, in O(n log n), and a value is matched by binary
 *    search; the selection looks each literal up in the postings directly.
 *    This used to be an insertion sort (quadratic) after a pcre2_compile of
 *    the whole pattern, which with Debian's PCRE2 (16-bit links) refuses a
 *    compiled pattern over 64 KiB: about 3,000 short values, where Prometheus
 *    takes any number (bench/bench_matcher.c measures it).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "matcher.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "labels.h"
#include "mem.h"

/*
 * Backtracking bounds. A label value is short, and an RE2-compatible pattern
 * needs work about linear in it, so a pattern that takes millions of steps is
 * pathological; it is cut off in milliseconds instead of hanging a query.
 */
#define PS_MATCH_LIMIT 1000000u
#define PS_DEPTH_LIMIT 100000u
/* Heap for the interpreter's backtracking frames, in KiB (PCRE2's default is 20 GB). */
#define PS_HEAP_LIMIT_KIB 8192u

/*
 * The DFA fallback's workspace, in ints (note 1): 16 KiB, allocated the
 * first time a matcher needs it. Its work is at most the value's length times
 * about a sixth of this many states: a few milliseconds per value.
 */
#define PS_DFA_WORKSPACE 4096

/* Room for a formatted matcher inside a message. */
#define PS_MATCHER_TEXT_MAX 640

/* --- Shared match context ------------------------------------------------- */

static pthread_once_t ps_mctx_once = PTHREAD_ONCE_INIT;
static pcre2_match_context *ps_mctx;

static void ps_mctx_init(void)
{
    ps_mctx = pcre2_match_context_create(NULL);
    if (ps_mctx == NULL)
        return;
    pcre2_set_match_limit(ps_mctx, PS_MATCH_LIMIT);
    pcre2_set_depth_limit(ps_mctx, PS_DEPTH_LIMIT);
    pcre2_set_heap_limit(ps_mctx, PS_HEAP_LIMIT_KIB);
}

/*
 * The context is only read while matching, so one serves every thread. If it
 * could not be made, NULL makes PCRE2 use its built-in (larger) limits, which
 * still bound the time; a limit is still never an answer (note 1).
 */
static pcre2_match_context *ps_match_context(void)
{
    pthread_once(&ps_mctx_once, ps_mctx_init);
    return ps_mctx;
}

/* --- Formatting ----------------------------------------------------------- */

static const char *ps_match_op(promstore_match_type t)
{
    switch (t) {
    case PROMSTORE_MATCH_EQ: return "=";
    case PROMSTORE_MATCH_NEQ: return "!=";
    case PROMSTORE_MATCH_RE: return "=~";
    case PROMSTORE_MATCH_NRE: return "!~";
    default: return "?";
    }
}

char *ps_matcher_format(const promstore_matcher *src, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    size_t off = ps_name_format(src->name, src->name_len, buf, cap);
    const char *op = ps_match_op(src->type);
    size_t oplen = strlen(op);
    if (oplen >= cap - off) {
        /* Not even the operator fits: mark the cut as the other writers do. */
        if (cap >= 4)
            memcpy(buf + cap - 4, "...", 4);
        return buf;
    }
    memcpy(buf + off, op, oplen + 1);
    off += oplen;
    ps_quote(src->value, src->value_len, buf + off, cap - off);
    return buf;
}

/* Fail with PROMSTORE_E_BAD_MATCHER: "<what> in matcher name=~"...": <detail>". */
static promstore_status ps_matcher_fail(promstore_error *err,
                                        const promstore_matcher *src,
                                        const char *what, const char *detail)
{
    char text[PS_MATCHER_TEXT_MAX];
    ps_matcher_format(src, text, sizeof text);
    if (detail == NULL || detail[0] == '\0')
        return ps_fail(err, PROMSTORE_E_BAD_MATCHER, "%s in matcher %s", what, text);
    return ps_fail(err, PROMSTORE_E_BAD_MATCHER, "%s in matcher %s: %s", what, text,
                   detail);
}

/* --- Refusing what RE2 lacks ---------------------------------------------- */

/* Where the scanner is and the first refused construct it met. */
typedef struct ps_scan {
    const char *p;
    size_t len;
    size_t i;
    int after_quantifier; /* the previous token was a quantifier */
    int multiline;        /* a flag group turns on 'm' (note 3) */
    const char *refused;  /* description of the refused construct, or NULL */
    size_t at;            /* its offset */
} ps_scan;

static int ps_scan_refuse(ps_scan *s, const char *what, size_t at)
{
    s->refused = what;
    s->at = at;
    return -1;
}

static int ps_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Skip \Q...\E (all literal); i is just past \Q. */
static void ps_scan_quoted(ps_scan *s)
{
    while (s->i + 1 < s->len && !(s->p[s->i] == '\\' && s->p[s->i + 1] == 'E'))
        s->i++;
    s->i = s->i + 1 < s->len ? s->i + 2 : s->len;
}

/*
 * Skip the {...} of \x{41}, \p{Greek} and the like; i is at '{'. Its braces
 * are the escape's, not a counted repetition.
 */
static void ps_scan_braced_argument(ps_scan *s)
{
    while (s->i < s->len && s->p[s->i] != '}')
        s->i++;
    if (s->i < s->len)
        s->i++;
}

/* An escape outside a class; i is at the backslash. */
static int ps_scan_escape(ps_scan *s)
{
    size_t at = s->i;
    if (at + 1 >= s->len) {
        s->i = s->len; /* a trailing backslash: PCRE2 reports it */
        return 0;
    }
    char c = s->p[at + 1];
    s->i = at + 2;
    if (c >= '1' && c <= '9')
        return ps_scan_refuse(s, "backreference", at);
    if (c == 'g' || c == 'k')
        return ps_scan_refuse(s, "backreference or subroutine call", at);
    if (c == 'C')
        return ps_scan_refuse(s, "\\C (single code unit)", at);
    if (c == 'Q')
        ps_scan_quoted(s);
    else if (strchr("xpPoN", c) != NULL && s->i < s->len && s->p[s->i] == '{')
        ps_scan_braced_argument(s);
    return 0;
}

/* A POSIX class name such as [:alpha:] inside a class; 1 if skipped. */
static int ps_scan_posix_class(ps_scan *s)
{
    size_t j = s->i + 2;
    if (s->i + 1 >= s->len || s->p[s->i + 1] != ':')
        return 0;
    if (j < s->len && s->p[j] == '^')
        j++;
    while (j < s->len && ((s->p[j] >= 'a' && s->p[j] <= 'z') ||
                          (s->p[j] >= 'A' && s->p[j] <= 'Z')))
        j++;
    if (j + 1 < s->len && s->p[j] == ':' && s->p[j + 1] == ']') {
        s->i = j + 2;
        return 1;
    }
    return 0;
}

/*
 * A character class; i is at '['. Everything in it is literal except escapes
 * and POSIX names, and a ']' right after '[' or '[^' does not close it.
 */
static void ps_scan_class(ps_scan *s)
{
    s->i++;
    if (s->i < s->len && s->p[s->i] == '^')
        s->i++;
    if (s->i < s->len && s->p[s->i] == ']')
        s->i++;
    while (s->i < s->len) {
        char c = s->p[s->i];
        if (c == ']') {
            s->i++;
            return;
        }
        if (c == '\\' && s->i + 1 < s->len) {
            int q = s->p[s->i + 1] == 'Q';
            s->i += 2;
            if (q)
                ps_scan_quoted(s);
            continue;
        }
        if (c == '[' && ps_scan_posix_class(s))
            continue;
        s->i++;
    }
}

/* Flags RE2 knows, as in (?i) (?-s) (?im:...); j is just past "(?". */
static int ps_scan_flag_group(const ps_scan *s, size_t j)
{
    while (j < s->len && s->p[j] != '\0' && strchr("imsU-", s->p[j]) != NULL)
        j++;
    return j < s->len && (s->p[j] == ')' || s->p[j] == ':');
}

/* 1 if the flags from j on, as in (?im-s), turn on 'm'; j is just past "(?". */
static int ps_flags_turn_on_multiline(const ps_scan *s, size_t j)
{
    for (; j < s->len && s->p[j] != ')' && s->p[j] != ':' && s->p[j] != '-'; j++)
        if (s->p[j] == 'm')
            return 1;
    return 0;
}

/* What a "(?" group is, when RE2 lacks it; NULL if it is allowed. */
static const char *ps_group_refusal(const ps_scan *s, size_t j)
{
    char c = j < s->len ? s->p[j] : '\0';
    char d = j + 1 < s->len ? s->p[j + 1] : '\0';
    if (c == ':')
        return NULL;
    if (c == '=' || c == '!')
        return "lookahead";
    if (c == '<' && (d == '=' || d == '!'))
        return "lookbehind";
    if (c == '<')
        return NULL; /* (?<name>...) */
    if (c == 'P' && d == '<')
        return NULL; /* (?P<name>...) */
    if (c == 'P' && d == '=')
        return "backreference";
    if (c == 'P' && d == '>')
        return "subroutine call";
    if (c == '>')
        return "atomic group";
    if (c == 'R' || ps_is_digit(c) || ((c == '+' || c == '-') && ps_is_digit(d)))
        return "recursion or subroutine call";
    if (c == '&')
        return "subroutine call";
    if (c == '(')
        return "conditional group";
    if (c == 'C')
        return "callout";
    if (ps_scan_flag_group(s, j))
        return NULL;
    return "group syntax RE2 does not have";
}

/* An opening parenthesis; i is at '('. */
static int ps_scan_group(ps_scan *s)
{
    size_t at = s->i;
    s->i++;
    if (s->i < s->len && s->p[s->i] == '*')
        return ps_scan_refuse(s, "backtracking verb or option (*...)", at);
    if (s->i < s->len && s->p[s->i] == '?') {
        const char *why = ps_group_refusal(s, s->i + 1);
        if (why != NULL)
            return ps_scan_refuse(s, why, at);
        if (ps_scan_flag_group(s, s->i + 1) && ps_flags_turn_on_multiline(s, s->i + 1))
            s->multiline = 1;
        s->i++; /* the '?' is not a quantifier */
    }
    return 0;
}

/* 1 if a counted repetition {n}, {n,} or {n,m} starts at i; sets *end past it. */
static int ps_counted_repetition(const ps_scan *s, size_t *end)
{
    size_t j = s->i + 1;
    size_t d = j;
    while (j < s->len && ps_is_digit(s->p[j]))
        j++;
    if (j == d)
        return 0;
    if (j < s->len && s->p[j] == ',') {
        j++;
        while (j < s->len && ps_is_digit(s->p[j]))
            j++;
    }
    if (j >= s->len || s->p[j] != '}')
        return 0;
    *end = j + 1;
    return 1;
}

/* One token outside a class. */
static int ps_scan_token(ps_scan *s)
{
    char c = s->p[s->i];
    size_t end;
    int was_quantifier = s->after_quantifier;
    s->after_quantifier = 0;
    switch (c) {
    case '\\':
        return ps_scan_escape(s);
    case '[':
        ps_scan_class(s);
        return 0;
    case '(':
        return ps_scan_group(s);
    case '+':
        if (was_quantifier)
            return ps_scan_refuse(s, "possessive quantifier", s->i);
        s->after_quantifier = 1;
        s->i++;
        return 0;
    case '*':
        s->after_quantifier = 1;
        s->i++;
        return 0;
    case '?':
        /* A '?' after a quantifier makes it lazy (RE2 has that) and ends it. */
        s->after_quantifier = !was_quantifier;
        s->i++;
        return 0;
    case '{':
        if (ps_counted_repetition(s, &end)) {
            s->after_quantifier = 1;
            s->i = end;
            return 0;
        }
        s->i++;
        return 0;
    default:
        s->i++;
        return 0;
    }
}

/* 0 if the pattern has only syntax RE2 also has, else -1 with s->refused set. */
static int ps_scan_pattern(ps_scan *s, const char *p, size_t len)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->len = len;
    while (s->i < s->len)
        if (ps_scan_token(s) != 0)
            return -1;
    return 0;
}

/* --- Literal alternations ------------------------------------------------- */

/* Characters that make a pattern more than literal text. */
static int ps_is_meta(char c)
{
    return c != '\0' && strchr(".*+?()[]{}^$|\\", c) != NULL;
}

/* An escape that stands for its character: a backslash and ASCII punctuation. */
static int ps_is_literal_escape(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u < 0x7F && !((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
                                    (u >= 'A' && u <= 'Z'));
}

/* Number of alternatives if p is literals separated by '|', else 0. */
static size_t ps_literal_alternatives(const char *p, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\\') {
            if (i + 1 >= len || !ps_is_literal_escape(p[i + 1]))
                return 0;
            i++;
        } else if (p[i] == '|') {
            n++;
        } else if (ps_is_meta(p[i])) {
            return 0;
        }
    }
    return n;
}

static void ps_literals_free(ps_matcher *m)
{
    if (m->literals != NULL)
        for (size_t i = 0; i < m->n_literals; i++)
            ps_free(m->literals[i]);
    ps_free(m->literals);
    ps_free(m->literal_lens);
    m->literals = NULL;
    m->literal_lens = NULL;
    m->n_literals = 0;
}

/* The pattern's alternatives, unescaped, one allocation each. 0 or -1 (memory). */
static int ps_literals_split(ps_matcher *m, size_t n)
{
    m->literals = ps_calloc(n, sizeof *m->literals);
    m->literal_lens = ps_calloc(n, sizeof *m->literal_lens);
    if (m->literals == NULL || m->literal_lens == NULL)
        return -1;
    const char *p = m->value;
    size_t i = 0;
    for (size_t k = 0; k < n; k++) {
        size_t start = i;
        while (i < m->value_len && p[i] != '|')
            i += p[i] == '\\' ? 2 : 1;
        char *lit = ps_malloc(i - start + 1);
        if (lit == NULL)
            return -1;
        m->literals[k] = lit;
        m->n_literals = k + 1;
        size_t w = 0;
        for (size_t j = start; j < i; j++)
            lit[w++] = p[j] == '\\' ? p[++j] : p[j];
        lit[w] = '\0';
        m->literal_lens[k] = w;
        i++; /* past the '|' */
    }
    return 0;
}

/*
 * Sort the literals byte-wise and drop repeats, so the engine looks each up
 * once and in key order: O(n log n) (note 4). 0 or -1 (memory; m unchanged).
 */
static int ps_literals_sort_unique(ps_matcher *m)
{
    ps_bytes *v = ps_malloc(m->n_literals * sizeof *v);
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < m->n_literals; i++)
        v[i] = (ps_bytes){m->literals[i], m->literal_lens[i]};
    qsort(v, m->n_literals, sizeof *v, ps_bytes_qsort_cmp);
    size_t k = 0;
    for (size_t i = 0; i < m->n_literals; i++) {
        if (k > 0 && ps_bytes_qsort_cmp(&v[i], &v[k - 1]) == 0) {
            ps_free(v[i].p);
            continue;
        }
        v[k++] = v[i];
    }
    for (size_t i = 0; i < k; i++) {
        m->literals[i] = v[i].p;
        m->literal_lens[i] = v[i].len;
    }
    m->n_literals = k;
    ps_free(v);
    return 0;
}

/*
 * Fill m->literals when the pattern is a plain alternation: 1 if it is, 0 if
 * not, -1 (memory; m->literals left NULL).
 */
static int ps_literals_detect(ps_matcher *m)
{
    size_t n = ps_literal_alternatives(m->value, m->value_len);
    if (n == 0)
        return 0;
    if (ps_literals_split(m, n) != 0 || ps_literals_sort_unique(m) != 0) {
        ps_literals_free(m);
        return -1;
    }
    return 1;
}

/* 1 if value is one of the sorted literals: a binary search. */
static int ps_literals_have(const ps_matcher *m, const char *value, size_t len)
{
    size_t lo = 0, hi = m->n_literals;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ps_bytes_compare(m->literals[mid], m->literal_lens[mid], value, len);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* --- Compiling and matching ----------------------------------------------- */

/*
 * Fully anchored without wrapping the source in ^(?:...)$, so a pattern such
 * as "a)|(b" cannot escape the anchors; ENDANCHORED also keeps '$' and the end
 * from matching before a trailing newline. DOTALL is Prometheus 3's (?s:...).
 */
#define PS_RE_OPTIONS                                                          \
    (PCRE2_UTF | PCRE2_DOTALL | PCRE2_ANCHORED | PCRE2_ENDANCHORED |            \
     PCRE2_DOLLAR_ENDONLY | PCRE2_NO_UTF_CHECK)

static promstore_status ps_regex_compile(ps_matcher *m, const promstore_matcher *src,
                                         promstore_error *err)
{
    ps_scan scan;
    if (ps_scan_pattern(&scan, m->value, m->value_len) != 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s at offset %zu", scan.refused, scan.at);
        return ps_matcher_fail(err, src, "unsupported regex syntax (RE2 lacks it)",
                               detail);
    }
    /* A plain alternation needs no regex at all (note 4). */
    int literal = ps_literals_detect(m);
    if (literal < 0)
        return ps_fail(err, PROMSTORE_E_NOMEM, "out of memory compiling a matcher");
    if (literal)
        return PROMSTORE_OK;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value, m->value_len, PS_RE_OPTIONS,
                                   &code, &off, NULL);
    if (re == NULL) {
        char msg[160], detail[200];
        if (pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg) < 0)
            snprintf(msg, sizeof msg, "PCRE2 error %d", code);
        snprintf(detail, sizeof detail, "%s at offset %zu", msg, (size_t)off);
        return ps_matcher_fail(err, src, "invalid regex", detail);
    }
    m->re = re;
    m->dfa_trusted = !scan.multiline;
    /* JIT is an optimisation: where it is missing pcre2_match interprets. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    /* Only match/no-match is used, so one pair of offsets is enough. */
    m->md = pcre2_match_data_create(1, NULL);
    if (m->md == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "out of memory compiling a matcher");
    return PROMSTORE_OK;
}

/* Checks that need no allocation: type, name, UTF-8. */
static promstore_status ps_matcher_check(const promstore_matcher *src,
                                         promstore_error *err)
{
    if (src->type != PROMSTORE_MATCH_EQ && src->type != PROMSTORE_MATCH_NEQ &&
        src->type != PROMSTORE_MATCH_RE && src->type != PROMSTORE_MATCH_NRE)
        return ps_matcher_fail(err, src, "unknown matcher type", NULL);
    if (src->name_len == 0)
        return ps_matcher_fail(err, src, "empty label name", NULL);
    if (!ps_utf8_valid(src->name, src->name_len))
        return ps_matcher_fail(err, src, "label name is not valid UTF-8", NULL);
    if (!ps_utf8_valid(src->value, src->value_len))
        return ps_matcher_fail(err, src, "value is not valid UTF-8", NULL);
    return PROMSTORE_OK;
}

promstore_status ps_matcher_compile(ps_matcher *m, const promstore_matcher *src,
                                    promstore_error *err)
{
    if (m == NULL || src == NULL || src->name == NULL ||
        (src->value == NULL && src->value_len != 0)) {
        if (m != NULL)
            memset(m, 0, sizeof *m);
        return ps_fail(err, PROMSTORE_E_INVALID, "matcher: NULL argument");
    }
    memset(m, 0, sizeof *m);
    promstore_status st = ps_matcher_check(src, err);
    if (st != PROMSTORE_OK)
        return st;
    m->type = src->type;
    m->name = ps_strndup(src->name, src->name_len);
    m->value = ps_strndup(src->value != NULL ? src->value : "", src->value_len);
    if (m->name == NULL || m->value == NULL) {
        ps_matcher_free(m);
        return ps_fail(err, PROMSTORE_E_NOMEM, "out of memory compiling a matcher");
    }
    m->name_len = src->name_len;
    m->value_len = src->value_len;
    if (m->type == PROMSTORE_MATCH_RE || m->type == PROMSTORE_MATCH_NRE) {
        st = ps_regex_compile(m, src, err);
        if (st != PROMSTORE_OK) {
            ps_matcher_free(m);
            return st;
        }
    }
    st = ps_matcher_eval(m, "", 0, &m->matches_empty, err);
    if (st != PROMSTORE_OK)
        ps_matcher_free(m);
    return st;
}

/* The backtracker (or its JIT) stopped at one of its bounds: worth the DFA. */
static int ps_backtracker_gave_up(int rc)
{
    return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
           rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
           rc == PCRE2_ERROR_NOMEMORY;
}

/* The value is not UTF-8: no RE2 match over stored values can depend on it. */
static int ps_bad_subject(int rc)
{
    return rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21;
}

/* PROMSTORE_E_LIMIT naming the matcher and the value it could not decide. */
static promstore_status ps_undecided(const ps_matcher *m, const char *value, size_t len,
                                     int rc, promstore_error *err)
{
    promstore_matcher src = {m->type, m->name, m->name_len, m->value, m->value_len};
    char text[PS_MATCHER_TEXT_MAX], quoted[80], why[120];
    ps_matcher_format(&src, text, sizeof text);
    ps_quote(value, len, quoted, sizeof quoted);
    if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)why, sizeof why) < 0)
        snprintf(why, sizeof why, "PCRE2 error %d", rc);
    return ps_fail(err, PROMSTORE_E_LIMIT,
                   "regex too costly: matcher %s could not be evaluated on value %s within "
                   "the matching limits (%s); simplify the regex",
                   text, quoted, why);
}

/*
 * The DFA fallback (note 1): 1 or 0 into *matched, or PROMSTORE_E_LIMIT when
 * it cannot decide either. Its workspace is made on first use.
 */
static promstore_status ps_dfa_matches(ps_matcher *m, PCRE2_SPTR subject, size_t len,
                                       int backtrack_rc, int *matched, promstore_error *err)
{
    if (!m->dfa_trusted)
        return ps_undecided(m, (const char *)subject, len, backtrack_rc, err);
    if (m->dfa_ws == NULL) {
        m->dfa_ws = ps_malloc(PS_DFA_WORKSPACE * sizeof *m->dfa_ws);
        if (m->dfa_ws == NULL)
            return ps_fail(err, PROMSTORE_E_NOMEM, "out of memory matching a regex");
    }
    int rc = pcre2_dfa_match((pcre2_code *)m->re, subject, len, 0, 0,
                             (pcre2_match_data *)m->md, ps_match_context(), m->dfa_ws,
                             PS_DFA_WORKSPACE);
    /* 0: a match whose offsets did not fit (the DFA reports several). */
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) {
        *matched = rc >= 0;
        return PROMSTORE_OK;
    }
    return ps_undecided(m, (const char *)subject, len, rc, err);
}

/*
 * pcre2_match runs the JIT code when there is some, and unlike
 * pcre2_jit_match it checks the subject's UTF-8 first, so a bad value cannot
 * make the JIT read astray.
 */
static promstore_status ps_regex_matches(ps_matcher *m, const char *value, size_t len,
                                         int *matched, uint64_t *steps, promstore_error *err)
{
    PCRE2_SPTR subject = (PCRE2_SPTR)(value != NULL ? value : "");
    int rc = pcre2_match((pcre2_code *)m->re, subject, len, 0, 0, (pcre2_match_data *)m->md,
                         ps_match_context());
    *steps = (uint64_t)len + 1;
    /* 0 means a match whose offsets did not fit: still a match. */
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH || ps_bad_subject(rc)) {
        *matched = rc >= 0;
        return PROMSTORE_OK;
    }
    if (ps_backtracker_gave_up(rc)) {
        *steps += PS_MATCH_LIMIT; /* the most it was allowed (matcher.h) */
        return ps_dfa_matches(m, subject, len, rc, matched, err);
    }
    return ps_undecided(m, (const char *)subject, len, rc, err);
}

static int ps_equal(const ps_matcher *m, const char *value, size_t len)
{
    return len == m->value_len && (len == 0 || memcmp(value, m->value, len) == 0);
}

promstore_status ps_matcher_eval_costed(ps_matcher *m, const char *value, size_t len,
                                        int *matched, uint64_t *steps, promstore_error *err)
{
    if (m == NULL || matched == NULL || steps == NULL || (value == NULL && len != 0))
        return ps_fail(err, PROMSTORE_E_INVALID, "matcher: NULL argument");
    promstore_status st = PROMSTORE_OK;
    *steps = 1;
    switch (m->type) {
    case PROMSTORE_MATCH_EQ:
        *matched = ps_equal(m, value, len);
        return PROMSTORE_OK;
    case PROMSTORE_MATCH_NEQ:
        *matched = !ps_equal(m, value, len);
        return PROMSTORE_OK;
    case PROMSTORE_MATCH_RE:
    case PROMSTORE_MATCH_NRE:
        if (m->literals != NULL)
            *matched = ps_literals_have(m, value, len);
        else if (m->re == NULL)
            return ps_fail(err, PROMSTORE_E_MISUSE, "matcher: regex not compiled");
        else
            st = ps_regex_matches(m, value, len, matched, steps, err);
        if (st == PROMSTORE_OK && m->type == PROMSTORE_MATCH_NRE)
            *matched = !*matched;
        return st;
    default:
        return ps_fail(err, PROMSTORE_E_MISUSE, "matcher: unknown type %d", (int)m->type);
    }
}

promstore_status ps_matcher_eval(ps_matcher *m, const char *value, size_t len, int *matched,
                                 promstore_error *err)
{
    uint64_t steps;
    return ps_matcher_eval_costed(m, value, len, matched, &steps, err);
}

void ps_matcher_free(ps_matcher *m)
{
    if (m == NULL)
        return;
    ps_literals_free(m);
    ps_free(m->dfa_ws);
    pcre2_match_data_free((pcre2_match_data *)m->md);
    pcre2_code_free((pcre2_code *)m->re);
    ps_free(m->name);
    ps_free(m->value);
    memset(m, 0, sizeof *m);
}
