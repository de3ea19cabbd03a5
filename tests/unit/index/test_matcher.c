/*
 * test_matcher.c -- unit tests of matcher.c: Prometheus matcher semantics on
 * present and absent labels, anchoring, dot-all, UTF-8, refusal of the PCRE2
 * syntax RE2 lacks (without false positives), the match limit, literal
 * alternation detection and formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "matcher.h"
#include "testutil.h"

static promstore_matcher spec(promstore_match_type t, const char *name, const char *value)
{
    promstore_matcher s = {t, name, strlen(name), value, strlen(value)};
    return s;
}

/* Compile or fail the test with the message. */
static void compile_ok(ps_matcher *m, promstore_match_type t, const char *name,
                       const char *value)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_matcher s = spec(t, name, value);
    if (ps_matcher_compile(m, &s, &err) != PROMSTORE_OK)
        fail_msg("compiling %s: %s", value, err.message);
}

/* Expect PROMSTORE_E_BAD_MATCHER with a message holding each needle. */
static void compile_bad(promstore_match_type t, const char *name, const char *value, ...)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    ps_matcher m;
    memset(&m, 0xAB, sizeof m); /* on failure compile must leave it clean */
    promstore_matcher s = spec(t, name, value);
    promstore_status st = ps_matcher_compile(&m, &s, &err);
    if (st != PROMSTORE_E_BAD_MATCHER)
        fail_msg("pattern \"%s\": status %d, want BAD_MATCHER", value, st);
    assert_int_equal(err.status, PROMSTORE_E_BAD_MATCHER);
    va_list ap;
    va_start(ap, value);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (strstr(err.message, needle) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    va_end(ap);
    ps_matcher_free(&m); /* "holds nothing to free": must be safe */
}

/* Whether m accepts v[0..len), which it must be able to decide. */
static int matches_n(ps_matcher *m, const char *v, size_t len)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    int matched = -1;
    if (ps_matcher_eval(m, v, len, &matched, &err) != PROMSTORE_OK)
        fail_msg("matching %s: %s", m->value, err.message);
    assert_true(matched == 0 || matched == 1);
    return matched;
}

static int matches(ps_matcher *m, const char *v)
{
    return matches_n(m, v, strlen(v));
}

/* One-shot: does `name <op> value` accept v ("" stands for an absent label)? */
static int check(promstore_match_type t, const char *value, const char *v)
{
    ps_matcher m;
    compile_ok(&m, t, "job", value);
    int r = matches(&m, v);
    if (v[0] == '\0')
        assert_int_equal(r, m.matches_empty);
    ps_matcher_free(&m);
    return r;
}

#define EQ PROMSTORE_MATCH_EQ
#define NEQ PROMSTORE_MATCH_NEQ
#define RE PROMSTORE_MATCH_RE
#define NRE PROMSTORE_MATCH_NRE

static void test_eq_neq(void **state)
{
    (void)state;
    assert_true(check(EQ, "api", "api"));
    assert_false(check(EQ, "api", "apis"));
    assert_false(check(EQ, "api", "ap"));
    assert_false(check(EQ, "api", ""));       /* absent */
    assert_true(check(EQ, "", ""));           /* name="" selects absent */
    assert_false(check(EQ, "", "x"));
    assert_false(check(NEQ, "api", "api"));
    assert_true(check(NEQ, "api", "web"));
    assert_true(check(NEQ, "api", ""));       /* absent differs from api */
    assert_false(check(NEQ, "", ""));         /* name!="" requires presence */
    assert_true(check(NEQ, "", "x"));
    /* Bytes, not text: a NUL inside counts. */
    ps_matcher m;
    promstore_matcher s = {EQ, "job", 3, "a\0b", 3};
    assert_int_equal(ps_matcher_compile(&m, &s, NULL), PROMSTORE_OK);
    assert_true(matches_n(&m, "a\0b", 3));
    assert_false(matches_n(&m, "a", 1));
    ps_matcher_free(&m);
}

static void test_re_empty_rules(void **state)
{
    (void)state;
    assert_true(check(RE, "", ""));
    assert_false(check(RE, "", "a"));
    assert_true(check(RE, ".*", ""));
    assert_true(check(RE, ".*", "anything"));
    assert_false(check(RE, ".+", ""));
    assert_true(check(NRE, ".+", ""));        /* absent has no value */
    assert_false(check(NRE, ".+", "x"));
    assert_true(check(RE, "a|", ""));
    assert_true(check(RE, "a|", "a"));
    assert_false(check(RE, "a|", "b"));
    assert_false(check(NRE, "", ""));
    assert_true(check(NRE, "", "x"));
    assert_true(check(NRE, "api", ""));
    assert_false(check(NRE, "api", "api"));
}

static void test_re_anchoring(void **state)
{
    (void)state;
    assert_true(check(RE, "a", "a"));
    assert_false(check(RE, "a", "ba"));
    assert_false(check(RE, "a", "ab"));
    assert_false(check(RE, "a|b", "ab"));     /* both alternatives anchored */
    assert_true(check(NRE, "a", "ab"));
    /* '$' and the end do not match before a trailing newline. */
    assert_false(check(RE, "a", "a\n"));
    assert_false(check(RE, "a$", "a\n"));
    assert_true(check(RE, "a\n", "a\n"));
    assert_true(check(RE, "^a$", "a"));
    /* A stray ')' cannot break out of the anchors: it is a syntax error. */
    compile_bad(RE, "job", "a)|(b", "invalid regex", NULL);
}

static void test_re_dotall_utf8_flags(void **state)
{
    (void)state;
    assert_true(check(RE, "a.b", "a\nb"));
    assert_true(check(RE, ".*", "line1\nline2\n"));
    assert_false(check(NRE, "a.*", "a\nb"));
    /* '.' is one code point, not one byte. */
    assert_true(check(RE, "caf.", "caf\xc3\xa9"));
    assert_false(check(RE, "caf..", "caf\xc3\xa9"));
    assert_true(check(RE, "\\p{Greek}+", "\xce\xb1\xce\xb2\xce\xb3"));
    assert_false(check(RE, "\\p{Greek}+", "abc"));
    assert_true(check(RE, "[\xc3\xa0-\xc3\xbf]x", "\xc3\xa9x"));
    assert_true(check(RE, "(?i)api", "API"));
    assert_true(check(RE, "(?i:a)pi", "Api"));
    assert_false(check(RE, "(?i:a)pi", "APi"));
    assert_false(check(RE, "api", "API"));
    assert_true(check(RE, "(?P<x>a)b", "ab"));
    assert_true(check(RE, "(?<x>a)b", "ab"));
    assert_true(check(RE, "a{2,3}", "aaa"));
    assert_false(check(RE, "a{2,3}", "aaaa"));
    assert_true(check(RE, "a+?b*?c??", "aab"));
    assert_true(check(RE, "[[:alpha:]]+", "abc"));
    /* An invalid UTF-8 value is no match, never a crash. */
    ps_matcher m;
    compile_ok(&m, RE, "job", ".*");
    assert_false(matches_n(&m, "\xff", 1));
    ps_matcher_free(&m);
}

static void test_invalid(void **state)
{
    (void)state;
    compile_bad(RE, "job", "(", "invalid regex", "job=~\"(\"", "offset", NULL);
    compile_bad(NRE, "job", "[a-", "invalid regex", "job!~\"[a-\"", NULL);
    compile_bad(RE, "job", "a{3,1}", "invalid regex", NULL);
    compile_bad(EQ, "", "x", "empty label name", NULL);
    compile_bad(RE, "", "x", "empty label name", NULL);
    compile_bad(EQ, "jo\xff" "b", "x", "UTF-8", "\\xff", NULL);
    compile_bad(EQ, "job", "a\xc0\xaf", "UTF-8", "job=\"a\\xc0\\xaf\"", NULL);
    compile_bad(RE, "job", "\xed\xa0\x80", "UTF-8", NULL);
    /* An unknown type is refused, not trusted. */
    ps_matcher m;
    promstore_error err;
    promstore_matcher s = {(promstore_match_type)7, "job", 3, "x", 1};
    assert_int_equal(ps_matcher_compile(&m, &s, &err), PROMSTORE_E_BAD_MATCHER);
    ps_matcher_free(&m);
}

static void test_refused_constructs(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "(a)\\1", "(a)\\9", "(a)\\g1", "(a)\\g{1}", "(?<n>a)\\k<n>", "(?P<n>a)(?P=n)",
        "a(?=b)", "a(?!b)", "(?<=a)b", "(?<!a)b", "(?>a+)b", "a*+", "a++", "a?+",
        "a{2}+", "a{2,}+", "(a|b(?R))", "(a)(?1)", "(a)(?-1)", "(a)(?+1)",
        "(?<n>a)(?&n)", "(?P<n>a)(?P>n)", "(?(1)a|b)", "\\C", "a(?C1)", "(?C)",
        "(*SKIP)a", "(*UTF)a", "\\x{41}{2}+", "\\p{L}*+", "(?x) a", "(?|a)",
        "(?#comment)a", "x[a](?=b)",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "job=~\"%s\"", refused[i]);
        /* The pattern may need escaping in the message; check the plain ones. */
        if (strchr(refused[i], '\\') != NULL)
            compile_bad(RE, "job", refused[i], "unsupported", "offset", NULL);
        else
            compile_bad(RE, "job", refused[i], "unsupported", want, NULL);
        compile_bad(NRE, "job", refused[i], "unsupported", NULL);
    }
    compile_bad(RE, "job", "a(?=b)", "lookahead", "offset 1", NULL);
    compile_bad(RE, "job", "(?<!a)b", "lookbehind", NULL);
    compile_bad(RE, "job", "a++", "possessive", NULL);
    compile_bad(RE, "job", "(a)\\1", "backreference", NULL);
    compile_bad(RE, "job", "(?>a)", "atomic", NULL);
}

/* Text that looks like a refused construct but is not one. */
static void test_no_false_positives(void **state)
{
    (void)state;
    static const char *const fine[] = {
        "[(?=]",         "[(?<!]x",     "\\(?=",      "\\(\\?=a\\)", "[\\]( ?=]",
        "[]( ?=]",       "[^](?>]",     "a\\++",      "a[+]+",       "a\\*+",
        "a+?",           "a*?",         "a??",        "a{2}?",       "a}+",
        "x{,3}+",        "\\Q(?=\\E",   "[\\Q(?=]\\E]", "[[:alpha:](?=]", "(?i)a",
        "(?-s:a.)",      "(?imsU)a",    "(?:a)+",      "(a)+",       "\\\\(a)",
        "[\\\\](a)",     "\\x{41}+",    "\\p{L}{2}",  "a|b\\.c",     "\\d+\\.\\d+", "(?P<name>x)+",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        ps_matcher m;
        compile_ok(&m, RE, "job", fine[i]);
        ps_matcher_free(&m);
    }
    assert_true(check(RE, "[(?=]+", "(?="));
    assert_true(check(RE, "\\(?=", "="));
    assert_true(check(RE, "\\(?=", "(="));
    assert_true(check(RE, "a\\++", "a++"));
    assert_true(check(RE, "a}+", "a}}"));
    assert_true(check(RE, "\\Q(?=\\E", "(?="));
}

/*
 * (a+)+$ against aaa...b backtracks exponentially; the limit stops the
 * backtracker and the DFA fallback gives RE2's answer.
 */
static void test_catastrophic_pattern(void **state)
{
    (void)state;
    char subject[64 + 2];
    memset(subject, 'a', 64);
    subject[64] = 'b';
    subject[65] = '\0';
    ps_matcher m;
    compile_ok(&m, RE, "job", "(a+)+$");
    assert_false(matches(&m, subject));  /* decided by the DFA */
    assert_true(matches(&m, "aaaa"));     /* still usable afterwards */
    ps_matcher_free(&m);
    compile_ok(&m, NRE, "job", "(a+)+$");
    assert_true(matches(&m, subject));   /* the same, negated */
    assert_false(matches(&m, "aaaa"));
    ps_matcher_free(&m);
    compile_ok(&m, RE, "job", "(x+x+)+y");
    char xs[48 + 1];
    memset(xs, 'x', 48);
    xs[48] = '\0';
    assert_false(matches(&m, xs));
    ps_matcher_free(&m);
}

/* A value on which the patterns below make PCRE2's backtracker give up. */
static const char as[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 40 */

/*
 * Patterns on which the backtracker hits its limit long before the end, but
 * RE2 answers in linear time: the answer must still be RE2's.
 */
static void test_costly_patterns_answered(void **state)
{
    (void)state;
    static const struct {
        const char *re;
        int want; /* does the run of 40 a's match? */
    } cases[] = {
        {"(a*)*b|.*", 1}, {"(a|aa)*c|a*", 1}, {"(a*)*b", 0}, {"(a|aa)*b|.*", 1},
        {"(?:(?:a*)*)*b|c", 0}, {"(a|a)*b|(a|a)*", 1}, {"(?s:(a+)+)c|.{40}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ps_matcher m;
        compile_ok(&m, RE, "job", cases[i].re);
        if (matches(&m, as) != cases[i].want)
            fail_msg("job=~\"%s\" on 40 a's: %d, want %d", cases[i].re, !cases[i].want,
                     cases[i].want);
        ps_matcher_free(&m);
        compile_ok(&m, NRE, "job", cases[i].re);
        if (matches(&m, as) == cases[i].want)
            fail_msg("job!~\"%s\" on 40 a's: %d, want %d", cases[i].re, cases[i].want,
                     !cases[i].want);
        ps_matcher_free(&m);
    }
}

/* The call fails with PROMSTORE_E_LIMIT and a message naming the matcher. */
static void expect_undecided(ps_matcher *m, const char *v, const char *text)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    int matched;
    promstore_status st = ps_matcher_eval(m, v, strlen(v), &matched, &err);
    if (st != PROMSTORE_E_LIMIT)
        fail_msg("%s on \"%s\": status %d, want PROMSTORE_E_LIMIT", text, v, st);
    assert_int_equal(err.status, PROMSTORE_E_LIMIT);
    if (strstr(err.message, text) == NULL || strstr(err.message, "regex too costly") == NULL)
        fail_msg("message \"%s\" does not name %s", err.message, text);
}

/* Beyond the backtracker's and the DFA's bounds: an error, never an answer. */
static void test_costly_patterns_refused(void **state)
{
    (void)state;
    static const struct {
        promstore_match_type type;
        const char *re, *text;
    } cases[] = {
        {RE, "(a{1,100}){1,100}b|.*", "job=~\"(a{1,100}){1,100}b|.*\""},
        {NRE, "(a{1,100}){1,100}b|.*", "job!~\"(a{1,100}){1,100}b|.*\""},
        /* Multiline mode is not trusted to the DFA (matcher.c note 3)... */
        {RE, "(?m)(a*)*b|.*", "job=~\"(?m)(a*)*b|.*\""},
        {RE, "(?im:(a*)*b)|.*", "job=~\"(?im:(a*)*b)|.*\""},
    };
    ps_matcher m;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        compile_ok(&m, cases[i].type, "job", cases[i].re);
        expect_undecided(&m, as, cases[i].text);
        /* Still usable afterwards, and as undecided the second time. */
        assert_int_equal(matches(&m, "b"), cases[i].type == RE);
        expect_undecided(&m, as, cases[i].text);
        ps_matcher_free(&m);
    }
    /* ...but turning it off, or other flags, is no reason to refuse. */
    compile_ok(&m, RE, "job", "(?i-m)(a*)*b|.*");
    assert_true(matches(&m, as));
    ps_matcher_free(&m);
    /* Still multiline-correct where no limit is hit: '$' before a newline. */
    assert_true(check(RE, "(?m)a$\nb", "a\nb"));
    assert_false(check(RE, "a$\nb", "a\nb"));
}

static void expect_literals(const char *pattern, size_t n, ...)
{
    ps_matcher m;
    compile_ok(&m, RE, "job", pattern);
    if (m.n_literals != n)
        fail_msg("pattern \"%s\": %zu literals, want %zu", pattern, m.n_literals, n);
    if (n == 0) {
        assert_null(m.literals);
        assert_null(m.literal_lens);
    }
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        assert_int_equal(m.literal_lens[i], strlen(want));
        assert_memory_equal(m.literals[i], want, strlen(want));
        assert_int_equal(m.literals[i][m.literal_lens[i]], '\0');
        /* Every literal is matched by the regex itself. */
        assert_true(matches_n(&m, m.literals[i], m.literal_lens[i]));
    }
    va_end(ap);
    ps_matcher_free(&m);
}

static void test_literals(void **state)
{
    (void)state;
    /* Sorted byte-wise and without repeats. */
    expect_literals("a|b\\.c", 2, "a", "b.c");
    expect_literals("web|api|db", 3, "api", "db", "web");
    expect_literals("api", 1, "api");
    expect_literals("a|a|b", 2, "a", "b");
    expect_literals("a|", 2, "", "a");
    expect_literals("", 1, "");
    expect_literals("x\\|y|z", 2, "x|y", "z");
    expect_literals("a\\\\b", 1, "a\\b");
    expect_literals("caf\xc3\xa9|th\xc3\xa9", 2, "caf\xc3\xa9", "th\xc3\xa9");
    expect_literals("with space|dash-ed", 2, "dash-ed", "with space");
    /* Anything else is not a plain alternation. */
    expect_literals("a.b", 0);
    expect_literals("a|b*", 0);
    expect_literals("(a|b)", 0);
    expect_literals("[ab]", 0);
    expect_literals("(?i)a|b", 0);
    expect_literals("\\d", 0);
    expect_literals("a\\nb", 0);
    expect_literals("^a$", 0);
    expect_literals("a{2}", 0);
    /* NRE too: the engine decides what to do with them. */
    ps_matcher m;
    compile_ok(&m, NRE, "job", "x|y");
    assert_int_equal(m.n_literals, 2);
    ps_matcher_free(&m);
    /* EQ/NEQ never have them. */
    compile_ok(&m, EQ, "job", "x|y");
    assert_int_equal(m.n_literals, 0);
    assert_null(m.re);
    ps_matcher_free(&m);
}

/* Alternative j of the large alternation: its text, and its escaped form in the pattern. */
static void large_literal(unsigned j, char *text, char *escaped)
{
    static const char *const tail[] = {".", "|", "\\", "*", ""};
    static const char *const tail_escaped[] = {"\\.", "\\|", "\\\\", "\\*", ""};
    sprintf(text, "svc-%u%s", j, tail[j % 5]);
    sprintf(escaped, "svc-%u%s", j, tail_escaped[j % 5]);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * 20,000 alternatives, 5,000 of them repeats, in shuffled order, with escaped
 * punctuation: sorted, distinct, unescaped, matched exactly (no prefix, no
 * neighbour) -- and accepted at all, where PCRE2 refuses a pattern this large.
 */
static void test_large_literal_alternation(void **state)
{
    (void)state;
    enum { N = 20000, DISTINCT = 15000 };
    char *pattern = malloc((size_t)N * 24);
    char **want = malloc(DISTINCT * sizeof *want);
    assert_non_null(pattern);
    assert_non_null(want);
    size_t w = 0;
    uint32_t x = 12345;
    for (unsigned i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u; /* the same shuffle every run */
        unsigned j = i < DISTINCT ? (i * 7919u) % DISTINCT : (x >> 8) % DISTINCT;
        char text[32], escaped[32];
        large_literal(j, text, escaped);
        w += (size_t)sprintf(pattern + w, "%s%s", i ? "|" : "", escaped);
    }
    for (unsigned j = 0; j < DISTINCT; j++) {
        char escaped[32];
        want[j] = malloc(32);
        assert_non_null(want[j]);
        large_literal(j, want[j], escaped);
    }
    qsort(want, DISTINCT, sizeof *want, cmp_cstr);

    ps_matcher m;
    promstore_matcher src = {RE, "job", 3, pattern, w};
    promstore_error err;
    memset(&err, 0, sizeof err);
    if (ps_matcher_compile(&m, &src, &err) != PROMSTORE_OK)
        fail_msg("compiling a %u-way alternation: %.200s", (unsigned)N, err.message);
    assert_int_equal(m.n_literals, DISTINCT);
    assert_null(m.re);
    assert_false(m.matches_empty);
    for (size_t k = 0; k < DISTINCT; k++) {
        if (m.literal_lens[k] != strlen(want[k]) ||
            memcmp(m.literals[k], want[k], m.literal_lens[k]) != 0)
            fail_msg("literal %zu: \"%.*s\", want \"%s\"", k, (int)m.literal_lens[k],
                     m.literals[k], want[k]);
        assert_true(matches(&m, want[k]));
    }
    static const char *const outside[] = {"", "svc-", "svc-1", "svc-0.x", "svc-15000",
                                          "svc-1\\", "svc-0\\.", "svc-2|svc-3", "SVC-0."};
    for (size_t k = 0; k < sizeof outside / sizeof outside[0]; k++)
        if (matches(&m, outside[k]))
            fail_msg("\"%s\" matched", outside[k]);
    ps_matcher_free(&m);
    src.type = NRE;
    assert_int_equal(ps_matcher_compile(&m, &src, &err), PROMSTORE_OK);
    assert_false(matches(&m, want[0]));
    assert_false(matches(&m, want[DISTINCT - 1]));
    assert_true(matches(&m, "svc-1"));
    assert_true(m.matches_empty);
    ps_matcher_free(&m);
    for (unsigned j = 0; j < DISTINCT; j++)
        free(want[j]);
    free(want);
    free(pattern);
}

static void test_format(void **state)
{
    (void)state;
    char buf[64];
    promstore_matcher s = spec(EQ, "job", "a\"b");
    assert_string_equal(ps_matcher_format(&s, buf, sizeof buf), "job=\"a\\\"b\"");
    s = spec(NEQ, "job", "x");
    assert_string_equal(ps_matcher_format(&s, buf, sizeof buf), "job!=\"x\"");
    s = spec(RE, "job", "a\\.b\n");
    assert_string_equal(ps_matcher_format(&s, buf, sizeof buf), "job=~\"a\\\\.b\\n\"");
    s = spec(NRE, "job", ".+");
    assert_string_equal(ps_matcher_format(&s, buf, sizeof buf), "job!~\".+\"");
    s = spec(EQ, "service.name", "x");
    assert_string_equal(ps_matcher_format(&s, buf, sizeof buf), "\"service.name\"=\"x\"");
    /* Cut with "..." and always terminated. */
    s = spec(RE, "job", "abcdefghijklmnopqrstuvwxyz0123456789");
    char small[16];
    ps_matcher_format(&s, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    assert_string_equal(small + strlen(small) - 3, "...");
    assert_memory_equal(small, "job=~\"", 6);
    char tiny[5];
    s = spec(RE, "a_long_label_name", "x");
    ps_matcher_format(&s, tiny, sizeof tiny);
    assert_true(strlen(tiny) < sizeof tiny);
}

static void test_compile_fields_and_free(void **state)
{
    (void)state;
    ps_matcher m;
    memset(&m, 0, sizeof m);
    ps_matcher_free(&m); /* zeroed: nothing to do */
    ps_matcher_free(&m);
    ps_matcher_free(NULL);
    compile_ok(&m, RE, "job", "a.*");
    assert_int_equal(m.type, RE);
    assert_string_equal(m.name, "job");
    assert_int_equal(m.name_len, 3);
    assert_string_equal(m.value, "a.*");
    assert_int_equal(m.value_len, 3);
    assert_non_null(m.re);
    assert_non_null(m.md);
    assert_false(m.matches_empty);
    ps_matcher_free(&m);
    assert_null(m.name);
    assert_null(m.re);
    /* A value given with no pointer but zero length is "". */
    promstore_matcher s = {EQ, "job", 3, NULL, 0};
    assert_int_equal(ps_matcher_compile(&m, &s, NULL), PROMSTORE_OK);
    assert_true(m.matches_empty);
    ps_matcher_free(&m);
    promstore_matcher bad = {EQ, NULL, 3, "x", 1};
    assert_int_equal(ps_matcher_compile(&m, &bad, NULL), PROMSTORE_E_INVALID);
    ps_matcher_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_neq),
        cmocka_unit_test(test_re_empty_rules),
        cmocka_unit_test(test_re_anchoring),
        cmocka_unit_test(test_re_dotall_utf8_flags),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_refused_constructs),
        cmocka_unit_test(test_no_false_positives),
        cmocka_unit_test(test_catastrophic_pattern),
        cmocka_unit_test(test_costly_patterns_answered),
        cmocka_unit_test(test_costly_patterns_refused),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_large_literal_alternation),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_compile_fields_and_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
