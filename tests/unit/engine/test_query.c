/*
 * test_query.c -- the engine: matchers and series order.
 * Through the public ABI only (promstore.h, linked against libpromstore.so),
 * run once per backend: `test_engine_query lmdb` and `test_engine_query sqlite`.
 *
 *   - matchers with Prometheus semantics (absent label == "", anchored regexes,
 *     '.' matching newline, RE2 syntax), bad matchers refused with a message;
 *   - series order equal to labels.Compare, checked against a comparator
 *     of the tests' own (helpers.c), on a set built to catch the usual
 *     mistakes, and on 20k series.
 *
 * The engine's tests through the ABI are test_append.c, test_chunks.c,
 * test_query.c, test_ooo.c, test_labelnames.c and test_stats.c; what they
 * share is in ../helpers.h.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "promstore.h"

/* ------------------------------------------------------------------------ */
/* Matchers                                                                 */
/* ------------------------------------------------------------------------ */

/* Run the matchers; the result must be exactly the series whose bit is set in
 * `want` (bit i = tu_mdata[i]), in labels.Compare order. */
static void check_match(promstore *db, const promstore_matcher *m, size_t nm, unsigned want,
                        const char *what)
{
    const tu_lset *exp[TU_MDATA_N];
    tu_lset norm[TU_MDATA_N];
    size_t n = 0;
    for (int i = 0; i < TU_MDATA_N; i++)
        if (want & (1u << i)) {
            norm[n] = tu_lset_norm(&tu_mdata[i]);
            exp[n] = &norm[n];
            n++;
        }
    /* Sort the expectation with the tests' own comparator. */
    tu_lsets_sort(exp, n);
    tu_result r;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = tu_query_collect(db, m, nm, TU_FULL, TU_SAMPLES, &r, &err);
    if (st != PROMSTORE_DONE)
        fail_msg("%s: %d: %s", what, st, err.message);
    if (r.n != n) {
        print_message("matcher case: %s\n", what);
        for (size_t i = 0; i < r.n; i++)
            print_message("  got %s\n", r.s[i].key);
    }
    tu_assert_keys(&r, exp, n);
    tu_result_free(&r);
}

static void test_matchers(void **state)
{
    tu_store *f = *state;
    tu_load_matcher_data(f->db);
    const unsigned ALL = (1u << TU_MDATA_N) - 1;
    const promstore_match_type EQ = PROMSTORE_MATCH_EQ, NEQ = PROMSTORE_MATCH_NEQ,
                               RE = PROMSTORE_MATCH_RE, NRE = PROMSTORE_MATCH_NRE;
    struct {
        promstore_match_type type;
        const char *name, *value;
        unsigned want;
    } one[] = {
        {EQ, "__name__", "up", 0x37},
        {EQ, "__name__", "down", 0x08},
        {EQ, "__name__", "u", 0},           /* no prefix matching */
        {NEQ, "job", "api", 0x34},          /* db, api\nx, apix */
        {NEQ, "__name__", "up", 0x08},
        {RE, "job", "ap.", 0x0b},           /* anchored: "api" only, not "apix" */
        {RE, "job", "api.x", 0x10},         /* '.' matches newline */
        {RE, "job", "api.*", 0x3b},
        {RE, "job", "a", 0},                /* anchored at both ends */
        {RE, "job", "pi", 0},
        {RE, "job", "api|db", 0x0f},
        {RE, "instance", "[ab]:\\d", 0x03},
        {NRE, "job", "api|db", 0x30},
        {NRE, "job", "a.*", 0x04},
        /* A series without the label is matched as if its value were "". */
        {EQ, "env", "", 0x1d},              /* series without env */
        {NEQ, "env", "", 0x22},             /* series with env */
        {RE, "env", ".*", ALL},             /* .* matches the empty value */
        {RE, "env", ".+", 0x22},
        {NRE, "env", ".+", 0x1d},           /* absent counts as "" */
        {NRE, "env", ".*", 0},
        {NEQ, "env", "staging", 0x1f},      /* absent "" != "staging" */
        {EQ, "env", "staging", 0x20},
        {RE, "env", "prod|", 0x1f},         /* prod, or absent */
        {RE, "env", "pro", 0},
        {EQ, "nonexistent", "", ALL},
        {EQ, "nonexistent", "x", 0},
        {NEQ, "nonexistent", "", 0},
        {NEQ, "nonexistent", "x", ALL},
        {RE, "nonexistent", "x*", ALL},
        {NRE, "nonexistent", "x", ALL},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        promstore_matcher m = MT(one[i].type, one[i].name, one[i].value);
        char what[128];
        snprintf(what, sizeof what, "case %zu: %s %d \"%s\"", i, one[i].name, one[i].type,
                 one[i].value);
        check_match(f->db, &m, 1, one[i].want, what);
    }

    /* No matchers: every series. */
    check_match(f->db, NULL, 0, ALL, "no matchers");

    /* Several matchers are ANDed. */
    promstore_matcher and1[3] = {MT(EQ, "__name__", "up"), MT(EQ, "job", "api"),
                                 MT(EQ, "env", "")};
    check_match(f->db, and1, 3, 0x01, "up, api, no env");
    promstore_matcher and2[2] = {MT(RE, "job", "api.*"), MT(NEQ, "__name__", "down")};
    check_match(f->db, and2, 2, 0x33, "api.* and not down");
    promstore_matcher and3[2] = {MT(EQ, "job", "api"), MT(EQ, "job", "db")};
    check_match(f->db, and3, 2, 0, "contradiction");
    /* Only negative matchers. */
    promstore_matcher neg[2] = {MT(NEQ, "job", "api"), MT(NRE, "env", "stag.*")};
    check_match(f->db, neg, 2, 0x14, "negatives only");

    /* A value with a NUL byte matches by its full length, not up to the NUL. */
    promstore_matcher nul = {PROMSTORE_MATCH_EQ, "job", 3, "api\0zz", 6};
    check_match(f->db, &nul, 1, 0, "EQ with embedded NUL");
    /* Matcher strings need not be NUL-terminated: "jobapi" sliced. */
    static const char slice[] = "jobapiXX";
    promstore_matcher sl = {PROMSTORE_MATCH_EQ, slice, 3, slice + 3, 3};
    check_match(f->db, &sl, 1, 0x0b, "sliced matcher");

    /* RE2 syntax: flags, classes, escaped metacharacters in an alternation
     * (a literal-alternation shortcut must unescape, not compare the source). */
    tu_lset extra[3] = {LS("__name__", "rx", "path", "a.b", NULL),
                     LS("__name__", "rx", "path", "axb", NULL),
                     LS("__name__", "rx", "path", "A|B", NULL)};
    promstore_sample es[1] = {SMP(TU_T0, 1)};
    promstore_series eb[3] = {SER(&extra[0], es, 1), SER(&extra[1], es, 1), SER(&extra[2], es, 1)};
    tu_append_ok(f->db, eb, 3);
    struct {
        promstore_match_type type;
        const char *value;
        const char *want; /* '|'-joined path values, in order */
    } rx[] = {
        {PROMSTORE_MATCH_RE, "a\\.b|zzz", "a.b"},
        {PROMSTORE_MATCH_RE, "a.b|zzz", "a.b|axb"},
        {PROMSTORE_MATCH_RE, "(?i)A\\.B", "a.b"},
        {PROMSTORE_MATCH_RE, "A\\|B", "A|B"},
        {PROMSTORE_MATCH_RE, "[[:lower:]]x[b-c]", "axb"},
        {PROMSTORE_MATCH_RE, "a\\Sb", "a.b|axb"},
        {PROMSTORE_MATCH_NRE, "a\\.b|A\\|B", "axb"},
        {PROMSTORE_MATCH_RE, "(a\\.b)|(axb)", "a.b|axb"},
        {PROMSTORE_MATCH_RE, "a.b|", "a.b|axb"}, /* every rx series has path */
    };
    for (size_t i = 0; i < sizeof rx / sizeof rx[0]; i++) {
        promstore_matcher m2[2] = {MT(EQ, "__name__", "rx"), MT(rx[i].type, "path", rx[i].value)};
        tu_result r;
        tu_query_ok(f->db, m2, 2, TU_FULL, 0, &r);
        char got[64] = "";
        for (size_t k = 0; k < r.n; k++) {
            if (k)
                strcat(got, "|");
            strncat(got, r.s[k].labels[1].value, 8);
        }
        if (strcmp(got, rx[i].want) != 0)
            fail_msg("path %s \"%s\": got \"%s\", want \"%s\"",
                     rx[i].type == PROMSTORE_MATCH_RE ? "=~" : "!~", rx[i].value, got,
                     rx[i].want);
        tu_result_free(&r);
    }

    /* Matchers that match nothing: DONE at once. */
    promstore_matcher none = MT(EQ, "__name__", "no_such_metric");
    promstore_series_iter *it = NULL;
    promstore_error err;
    assert_int_equal(promstore_query(f->db, &none, 1, TU_FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    promstore_series_iter_close(it);
}

static void test_bad_matchers(void **state)
{
    tu_store *f = *state;
    tu_load_matcher_data(f->db);
    struct {
        promstore_match_type type;
        const char *value;
    } bad[] = {
        {PROMSTORE_MATCH_RE, "("},
        {PROMSTORE_MATCH_NRE, "[a-"},
        {PROMSTORE_MATCH_RE, "a{2,1}"},
        {PROMSTORE_MATCH_RE, "(a)\\1"},   /* backreference: RE2 has none */
        {PROMSTORE_MATCH_RE, "(?=a)a"},   /* lookahead */
        {PROMSTORE_MATCH_NRE, "(?<!a)b"}, /* lookbehind */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promstore_matcher m[2] = {MT(PROMSTORE_MATCH_EQ, "__name__", "up"),
                                  MT(bad[i].type, "job", bad[i].value)};
        promstore_series_iter *it = (promstore_series_iter *)(uintptr_t)0x1;
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_query(f->db, m, 2, TU_FULL, &it, &err);
        if (st != PROMSTORE_E_BAD_MATCHER)
            fail_msg("regex \"%s\": status %d, want BAD_MATCHER", bad[i].value, st);
        assert_null(it);
        assert_int_equal(err.status, PROMSTORE_E_BAD_MATCHER);
        /* The message names the matcher: its label name and pattern. */
        assert_non_null(strstr(err.message, "job"));
        if (strchr(bad[i].value, '\\') == NULL) /* a message may escape backslashes */
            assert_non_null(strstr(err.message, bad[i].value));

        /* The same for the label name/value calls. */
        promstore_string_iter *sit = (promstore_string_iter *)(uintptr_t)0x1;
        memset(&err, 0, sizeof err);
        assert_int_equal(promstore_label_names(f->db, m, 2, TU_FULL, &sit, &err),
                         PROMSTORE_E_BAD_MATCHER);
        assert_null(sit);
        assert_true(err.message[0] != '\0');
        sit = (promstore_string_iter *)(uintptr_t)0x1;
        assert_int_equal(promstore_label_values(f->db, "job", 3, m, 2, TU_FULL, &sit, &err),
                         PROMSTORE_E_BAD_MATCHER);
        assert_null(sit);
    }
    /* An unknown matcher type is refused, never treated as some other type. */
    promstore_matcher m = {(promstore_match_type)7, "job", 3, "api", 3};
    promstore_series_iter *it = NULL;
    promstore_error err;
    promstore_status st = promstore_query(f->db, &m, 1, TU_FULL, &it, &err);
    assert_true(st == PROMSTORE_E_BAD_MATCHER || st == PROMSTORE_E_INVALID);
    assert_null(it);
    /* A matcher value that is not UTF-8 cannot match any stored label. */
    promstore_matcher inv = {PROMSTORE_MATCH_RE, "job", 3, "\xff", 1};
    st = promstore_query(f->db, &inv, 1, TU_FULL, &it, &err);
    assert_int_equal(st, PROMSTORE_E_BAD_MATCHER);
}

/*
 * Regexes whose backtracking explodes on a long run of 'a' (docs/RELIABILITY.md,
 * "Costly regexes"). RE2, which Prometheus uses, answers them in linear time,
 * so an answer here must be RE2's or an error naming the matcher -- never
 * "no match" because a limit was hit.
 */
#define AS40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void load_costly_data(promstore *db)
{
    tu_lset a = LS("__name__", "up", "job", AS40, NULL);
    tu_lset b = LS("__name__", "up", "job", "b", NULL);
    promstore_sample s = SMP(TU_T0, 1);
    tu_append1_ok(db, &a, &s, 1);
    tu_append1_ok(db, &b, &s, 1);
}

/* The job values the query selects, joined with '|' in series order. */
static char *costly_jobs(promstore *db, promstore_match_type t, const char *re)
{
    promstore_matcher m[2] = {MT(PROMSTORE_MATCH_EQ, "__name__", "up"), MT(t, "job", re)};
    tu_result r;
    tu_query_ok(db, m, 2, TU_FULL, TU_SAMPLES, &r);
    char *out = tu_calloc(1, 128);
    for (size_t i = 0; i < r.n; i++) {
        const promstore_label *l = tu_find_label(r.s[i].labels, r.s[i].n_labels, "job");
        assert_non_null(l);
        snprintf(out + strlen(out), 128 - strlen(out), "%s%.*s", i ? "|" : "",
                 (int)l->value_len, l->value);
    }
    tu_result_free(&r);
    return out;
}

/* The backtracker gives up on (a*)*b|.* over 40 a's; the answer is still RE2's. */
static void test_costly_regex_answered(void **state)
{
    tu_store *f = *state;
    load_costly_data(f->db);
    TU_ASSERT_STRS(costly_jobs(f->db, PROMSTORE_MATCH_RE, "(a*)*b|.*"), AS40 "|b");
    TU_ASSERT_STRS(costly_jobs(f->db, PROMSTORE_MATCH_NRE, "(a*)*b|.*"), "");
    TU_ASSERT_STRS(costly_jobs(f->db, PROMSTORE_MATCH_RE, "(a|aa)*c|a*"), AS40);
    TU_ASSERT_STRS(costly_jobs(f->db, PROMSTORE_MATCH_NRE, "(a|aa)*c|a*"), "b");
    promstore_matcher m = MT(PROMSTORE_MATCH_RE, "job", "(a*)*b|.*");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", &m, 1, TU_FULL), AS40 "|b");
}

/* One status and message for every call that evaluates the matcher. */
static void assert_limit_error(promstore_status st, const promstore_error *err, const char *what)
{
    if (st != PROMSTORE_E_LIMIT)
        fail_msg("%s: status %d (%s), want PROMSTORE_E_LIMIT", what, st, err->message);
    assert_int_equal(err->status, PROMSTORE_E_LIMIT);
    if (strstr(err->message, "job=~\"(a{1,100}){1,100}b|.*\"") == NULL &&
        strstr(err->message, "job!~\"(a{1,100}){1,100}b|.*\"") == NULL)
        fail_msg("%s: message \"%s\" does not name the matcher", what, err->message);
}

/* Beyond both bounds: an error naming the matcher, from every call. */
static void test_costly_regex_refused(void **state)
{
    tu_store *f = *state;
    load_costly_data(f->db);
    const promstore_match_type types[] = {PROMSTORE_MATCH_RE, PROMSTORE_MATCH_NRE};
    for (size_t i = 0; i < 2; i++) {
        promstore_matcher m = MT(types[i], "job", "(a{1,100}){1,100}b|.*");
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_series_iter *it = (promstore_series_iter *)(uintptr_t)0x1;
        promstore_status st = promstore_query(f->db, &m, 1, TU_FULL, &it, &err);
        assert_limit_error(st, &err, "promstore_query");
        assert_null(it);
        promstore_string_iter *sit = (promstore_string_iter *)(uintptr_t)0x1;
        memset(&err, 0, sizeof err);
        st = promstore_label_values(f->db, "job", 3, &m, 1, TU_FULL, &sit, &err);
        assert_limit_error(st, &err, "promstore_label_values");
        assert_null(sit);
        sit = (promstore_string_iter *)(uintptr_t)0x1;
        memset(&err, 0, sizeof err);
        st = promstore_label_names(f->db, &m, 1, TU_FULL, &sit, &err);
        assert_limit_error(st, &err, "promstore_label_names");
        assert_null(sit);
    }
    /* The store and the same selector without the costly matcher still answer. */
    TU_ASSERT_STRS(costly_jobs(f->db, PROMSTORE_MATCH_RE, "a+|b"), AS40 "|b");
}

/* ------------------------------------------------------------------------ */
/* Sort order                                                               */
/* ------------------------------------------------------------------------ */

static void test_sort_order(void **state)
{
    tu_store *f = *state;
    /* A set built to catch the usual mistakes: uppercase names before '_',
     * names sorting before and after __name__, label sets that are prefixes of
     * others, values that are prefixes of others, multi-byte UTF-8 (above every
     * ASCII byte), U+0000 and U+0001 inside values and names (which a key
     * encoding must escape), and sets where a shorter name list sorts after a
     * longer one. */
    tu_lset s[32];
    size_t n = 0;
    s[n++] = LS("A", "1", NULL);
    s[n++] = LS("A", "1", "__name__", "m", NULL);
    s[n++] = LS("Z", "z", "a", "1", NULL);
    s[n++] = LS("_", "1", NULL);
    s[n++] = LS("__name__", "m", NULL);
    s[n++] = LS("__name__", "m", "a", "1", NULL);
    s[n++] = LS("a", "1", "b", "2", "__name__", "m", NULL);
    s[n++] = LS("__name__", "m", "a", "10", NULL);
    s[n++] = LS("__name__", "m", "a", "2", NULL);
    s[n++] = LS("__name__", "m", "b", "1", NULL);
    s[n++] = LS("__name__", "m", "aa", "1", NULL);
    s[n++] = LS("__name__", "m_", NULL);
    s[n++] = LS("__name__", "m\x7f", NULL);
    s[n++] = LS("__name__", "m\xc3\xa9", NULL);         /* m + U+00E9 */
    s[n++] = LS("__name__", "m\xef\xbf\xbd", NULL);     /* m + U+FFFD */
    s[n++] = LS("__name__", "m\xf0\x9f\x98\x80", NULL); /* m + U+1F600 */
    s[n++] = LS("__name__", "M", NULL);
    s[n++] = LS("__name__a", "1", NULL);
    s[n++] = LS("__nam", "1", NULL);
    s[n++] = LS("a", "1", NULL);
    s[n++] = LS("a", "1", "b", "1", NULL);
    s[n++] = LS("ab", "1", NULL);
    s[n++] = LS("a", "1 ", NULL);
    s[n++] = LS("\xc3\xa9", "1", NULL); /* name U+00E9 */
    s[n++] = LS("a", "\xc3\xa9", NULL);
    s[n++] = LS("a", "z", NULL);
    s[n++] = LS("b", "", "a", "y", NULL); /* b dropped: {a="y"} */
    tu_lset t;
    memset(&t, 0, sizeof t);
    tu_lset_add(&t, "a", 1, "1\0x", 3); /* U+0000 inside a value */
    s[n++] = t;
    memset(&t, 0, sizeof t);
    tu_lset_add(&t, "a", 1, "1\x01", 2); /* U+0001 */
    s[n++] = t;
    memset(&t, 0, sizeof t);
    tu_lset_add(&t, "a\0", 2, "1", 1); /* U+0000 inside a name */
    s[n++] = t;
    memset(&t, 0, sizeof t);
    tu_lset_add(&t, "a", 1, "1", 1);
    tu_lset_add(&t, "a\x01", 2, "1", 1);
    s[n++] = t;
    assert_true(n <= 32);

    /* Append in an order unrelated to the expected one, in two batches. */
    promstore_sample smp[1] = {SMP(TU_T0, 1)};
    promstore_series batch[32];
    for (size_t i = 0; i < n; i++)
        batch[i] = SER(&s[(i * 7) % n], smp, 1); /* 7 is prime to n (31) */
    assert_int_equal(n, 31);
    tu_append_ok(f->db, batch, 13);
    tu_append_ok(f->db, batch + 13, n - 13);

    /* Expected: normalise and sort with the tests' own comparator. */
    tu_lset norm[32];
    const tu_lset *exp[32];
    for (size_t i = 0; i < n; i++) {
        norm[i] = tu_lset_norm(&s[i]);
        exp[i] = &norm[i];
    }
    tu_lsets_sort(exp, n);
    /* The comparator itself, on the cases PROTOCOL.md spells out. */
    tu_lset A = LS("A", "1", NULL), N = LS("__name__", "m", NULL), a = LS("a", "1", NULL);
    assert_true(tu_labels_compare(A.l, A.n, N.l, N.n) < 0);
    assert_true(tu_labels_compare(N.l, N.n, a.l, a.n) < 0);

    tu_result r;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_SAMPLES, &r);
    tu_assert_keys(&r, exp, n);
    tu_result_free(&r);

    /* The same order through a matcher that walks postings instead. */
    promstore_matcher m = MT(PROMSTORE_MATCH_RE, "__name__", "m.*");
    size_t want = 0;
    const tu_lset *sub[32];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < exp[i]->n; k++)
            if (exp[i]->l[k].name_len == 8 && memcmp(exp[i]->l[k].name, "__name__", 8) == 0 &&
                exp[i]->l[k].value[0] == 'm')
                sub[want++] = exp[i];
    tu_query_ok(f->db, &m, 1, TU_FULL, TU_SAMPLES, &r);
    tu_assert_keys(&r, sub, want);
    tu_result_free(&r);
}

static void test_many_series(void **state)
{
    tu_store *f = *state;
    /* 20k series whose label values sort differently as text and as numbers,
     * appended in batches in a scrambled order. */
    enum { N = 20000, BATCH = 2500 };
    char(*vals)[16] = tu_calloc(N, sizeof *vals);
    promstore_label(*labels)[3] = tu_calloc(N, sizeof *labels);
    promstore_series *ser = tu_calloc(N, sizeof *ser);
    promstore_sample *smp = tu_calloc(N, sizeof *smp);
    for (size_t i = 0; i < N; i++) {
        size_t k = (i * 7919) % N; /* scrambled, still a permutation */
        int len = snprintf(vals[i], sizeof vals[i], "%zu", k);
        labels[i][0] = (promstore_label){"i", 1, vals[i], (size_t)len};
        labels[i][1] = (promstore_label){"__name__", 8, "many", 4};
        labels[i][2] = (promstore_label){"parity", 6, (k & 1) ? "odd" : "even", (k & 1) ? 3 : 4};
        smp[i] = SMP(TU_T0 + (int64_t)(i % 100), (double)k);
        ser[i] = (promstore_series){labels[i], 3, &smp[i], 1};
    }
    uint64_t created = 0;
    for (size_t i = 0; i < N; i += BATCH)
        created += tu_append_ok(f->db, ser + i, BATCH).series_created;
    assert_int_equal(created, N);
    assert_int_equal(tu_stats(f->db).series, N);

    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "many");
    tu_result r;
    tu_query_ok(f->db, &m, 1, TU_FULL, TU_SAMPLES, &r); /* checks strict order on the way */
    assert_int_equal(r.n, N);
    /* Every k exactly once, each with its own value. */
    unsigned char *seen = tu_calloc(N, 1);
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.s[i].n_labels, 3);
        assert_int_equal(r.s[i].n_samples, 1);
        size_t k = (size_t)strtoul(r.s[i].labels[1].value, NULL, 10);
        assert_string_equal(r.s[i].labels[1].name, "i");
        assert_true(k < N);
        assert_false(seen[k]);
        seen[k] = 1;
        assert_true(r.s[i].samples[0].value_bits == tu_bits((double)k));
    }
    /* Text order: "0" < "1" < "10" < "100" ... */
    assert_string_equal(r.s[0].labels[1].value, "0");
    assert_string_equal(r.s[1].labels[1].value, "1");
    assert_string_equal(r.s[2].labels[1].value, "10");
    assert_string_equal(r.s[3].labels[1].value, "100");
    assert_string_equal(r.s[N - 1].labels[1].value, "9999");
    tu_result_free(&r);

    /* A matcher selecting half of them. */
    promstore_matcher half[2] = {m, MT(PROMSTORE_MATCH_EQ, "parity", "odd")};
    assert_int_equal(tu_count_series(f->db, half, 2, TU_FULL), N / 2);
    /* A time range selecting a hundredth of them (t = TU_T0 + 7 only). */
    assert_int_equal(tu_count_series(f->db, &m, 1, TU_T0 + 7, TU_T0 + 7), N / 100);

    free(seen);
    free(vals);
    free(labels);
    free(ser);
    free(smp);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_matchers),
        TU_TEST(test_bad_matchers),
        TU_TEST(test_costly_regex_answered),
        TU_TEST(test_costly_regex_refused),
        TU_TEST(test_sort_order),
        TU_TEST(test_many_series),
    };
    return TU_RUN(argc, argv, "engine_query", tests);
}
