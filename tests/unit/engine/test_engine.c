/*
 * test_engine.c -- the engine's behaviour through the public ABI only
 * (promstore.h, linked against libpromstore.so), run once per backend:
 * `test_engine lmdb` and `test_engine sqlite`.
 *
 * What it covers, each promise of abi/promstore.h in turn:
 *   - append/query round trip: unsorted input labels, labels returned sorted,
 *     strings that are not NUL-terminated, values bit-exact (stale NaN, other
 *     NaN payloads, +-Inf, -0.0, subnormals), inclusive [mint, maxt], negative
 *     timestamps, mint > maxt refused;
 *   - matchers with Prometheus semantics (absent label == "", anchored regexes,
 *     '.' matching newline), bad matchers refused with a message;
 *   - series order equal to labels.Compare, checked against a comparator
 *     of the tests' own (helpers.c), on a set built to catch the usual
 *     mistakes, and on 20k series;
 *   - label validation (all-or-nothing), legacy names, empty values dropped,
 *     long messages cut with "...";
 *   - one series several times in a batch, 1000 samples across chunk and block
 *     boundaries;
 *   - out-of-order rules without and with a window (also across reopen),
 *     duplicates (a retried batch), the append result counts;
 *   - the raw chunk cursor: chunks are decoded by an independent XOR decoder
 *     (helpers.c, written from PROTOCOL.md 3.4) and must hold exactly the
 *     samples;
 *   - label names and values; statistics; per-query limits; reopen; snapshot
 *     isolation of iterators; iterator misuse; bad options.
 */
#define _GNU_SOURCE
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "helpers.h"
#include "promstore.h"

/* ------------------------------------------------------------------------ */
/* Round trip                                                               */
/* ------------------------------------------------------------------------ */

static void test_roundtrip_values(void **state)
{
    tu_store *f = *state;
    /* Names and values are slices of one buffer: nothing is NUL-terminated
     * where the library reads it. */
    static const char buf[] = "__name__http_requests_totaljobapiinstancehost:9090codeGET";
    tu_lset a;
    memset(&a, 0, sizeof a);
    tu_lset_add(&a, buf + 27, 3, buf + 30, 3);           /* job="api" */
    tu_lset_add(&a, buf + 0, 8, buf + 8, 19);            /* __name__="http_requests_total" */
    tu_lset_add(&a, buf + 33, 8, buf + 41, 9);           /* instance="host:9090" */
    tu_lset b = LS("job", "db", "__name__", "up", "Zone", "eu", NULL);
    tu_lset c = LS("__name__", "up", NULL);

    /* Every value class that must come back bit-exact. */
    const uint64_t bits[] = {
        PROMSTORE_STALE_NAN_BITS,   UINT64_C(0x7ff8000000000001), /* Prometheus NaN */
        UINT64_C(0xfff8000000000000), UINT64_C(0x7ff0000000000001), /* -qNaN, sNaN */
        UINT64_C(0x7fffffffffffffff), UINT64_C(0xffffffffffffffff),
        tu_bits(INFINITY),          tu_bits(-INFINITY),
        tu_bits(-0.0),              tu_bits(0.0),
        UINT64_C(1),                tu_bits(DBL_MAX),             /* subnormal, max */
        tu_bits(-DBL_MIN),          tu_bits(0.1),
        tu_bits(1e300),             PROMSTORE_STALE_NAN_BITS,
        tu_bits(42.0),              tu_bits(42.0),
    };
    size_t nb = sizeof bits / sizeof bits[0];
    promstore_sample sa[sizeof bits / sizeof bits[0]];
    int64_t t = TU_T0;
    for (size_t i = 0; i < nb; i++) {
        t += 1 + (int64_t)(i * i * 977) % 40000; /* irregular gaps */
        sa[i] = SMPB(t, bits[i]);
    }
    promstore_sample sb[3] = {SMP(TU_T0, 1), SMP(TU_T0 + 15000, 2), SMPB(TU_T0 + 30000, PROMSTORE_STALE_NAN_BITS)};
    promstore_sample sc[1] = {SMP(TU_T0 + 5, -0.0)};
    promstore_series batch[3] = {SER(&a, sa, nb), SER(&b, sb, 3), SER(&c, sc, 1)};
    promstore_append_result r = tu_append_ok(f->db, batch, 3);
    assert_int_equal(r.samples_appended, nb + 4);
    assert_int_equal(r.samples_duplicate, 0);
    assert_int_equal(r.samples_rejected, 0);
    assert_int_equal(r.series_created, 3);

    tu_result res;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &res);
    /* Expected order computed with the comparator of the tests (helpers.c). */
    tu_lset na = tu_lset_norm(&a), nb_ = tu_lset_norm(&b), nc = tu_lset_norm(&c);
    const tu_lset *order[3] = {&na, &nb_, &nc};
    tu_lsets_sort(order, 3);
    tu_assert_keys(&res, order, 3);
    /* Labels exactly as sent, sorted. */
    const tu_series *qa = tu_find_series(&res, &a);
    assert_non_null(qa);
    assert_string_equal(qa->key,
                        "{__name__=\"http_requests_total\",instance=\"host:9090\",job=\"api\"}");
    const tu_series *qb = tu_find_series(&res, &b);
    assert_non_null(qb);
    assert_string_equal(qb->key, "{Zone=\"eu\",__name__=\"up\",job=\"db\"}");
    tu_assert_series(&res, &a, sa, nb);
    tu_assert_series(&res, &b, sb, 3);
    tu_assert_series(&res, &c, sc, 1);
    /* The chunks hold the same bits. */
    tu_assert_chunks_hold(qa, sa, nb);
    tu_assert_chunks_hold(qb, sb, 3);
    tu_result_free(&res);

    /* Labels returned are NUL-terminated copies owned by the iterator. */
    promstore_series_iter *it = NULL;
    promstore_error err;
    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    const promstore_label *l;
    size_t n;
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_OK);
    /* Reading the labels twice gives the same thing. */
    const promstore_label *l2;
    size_t n2;
    assert_int_equal(promstore_series_iter_labels(it, &l2, &n2), PROMSTORE_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(l[0].name, l2[0].name, l[0].name_len);
    promstore_series_iter_close(it);
}

static void test_time_range_inclusive(void **state)
{
    tu_store *f = *state;
    tu_lset s = LS("__name__", "range", NULL);
    tu_lset o = LS("__name__", "other", NULL);
    promstore_sample smp[5] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3), SMP(4000, 4), SMP(5000, 5)};
    promstore_sample os[1] = {SMP(10000, 10)};
    promstore_series batch[2] = {SER(&s, smp, 5), SER(&o, os, 1)};
    tu_append_ok(f->db, batch, 2);

    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "range");
    tu_result r;
    tu_query_ok(f->db, &m, 1, 2000, 4000, TU_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    tu_assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 1, 3, "[2000,4000]");
    tu_result_free(&r);

    tu_query_ok(f->db, &m, 1, 2001, 3999, TU_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    tu_assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 2, 1, "[2001,3999]");
    tu_result_free(&r);

    /* A one-millisecond range on each edge. */
    tu_query_ok(f->db, &m, 1, 1000, 1000, TU_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    tu_assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp, 1, "[1000,1000]");
    tu_result_free(&r);
    tu_query_ok(f->db, &m, 1, 5000, 5000, TU_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    tu_assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 4, 1, "[5000,5000]");
    tu_result_free(&r);

    /* No sample in range: the series is not selected at all. */
    assert_int_equal(tu_count_series(f->db, &m, 1, 4001, 4999), 0);
    assert_int_equal(tu_count_series(f->db, &m, 1, 5001, INT64_MAX), 0);
    assert_int_equal(tu_count_series(f->db, &m, 1, INT64_MIN, 999), 0);
    /* Without matchers the time range alone selects. */
    assert_int_equal(tu_count_series(f->db, NULL, 0, 5001, 9999), 0);
    assert_int_equal(tu_count_series(f->db, NULL, 0, 5000, 10000), 2);
    assert_int_equal(tu_count_series(f->db, NULL, 0, 6000, 10000), 1);

    /* mint > maxt is a bad argument. */
    promstore_series_iter *it = (promstore_series_iter *)(uintptr_t)0x1;
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_query(f->db, &m, 1, 4000, 3999, &it, &err), PROMSTORE_E_INVALID);
    assert_null(it);
    assert_int_equal(err.status, PROMSTORE_E_INVALID);
    assert_true(err.message[0] != '\0');
    promstore_string_iter *sit = (promstore_string_iter *)(uintptr_t)0x1;
    assert_int_equal(promstore_label_names(f->db, NULL, 0, 10, 9, &sit, &err),
                     PROMSTORE_E_INVALID);
    assert_null(sit);
}

static void test_negative_timestamps(void **state)
{
    tu_store *f = *state;
    /* int64 milliseconds before 1970 are valid timestamps, and block
     * arithmetic on them must floor, not truncate toward zero. */
    tu_lset s = LS("__name__", "old", NULL);
    promstore_sample smp[6] = {SMP(-TU_BLOCK_MS - 1, 1), SMP(-TU_BLOCK_MS, 2), SMP(-5000, 3),
                               SMP(-1, 4),            SMP(0, 5),         SMP(1, 6)};
    tu_append1_ok(f->db, &s, smp, 6);
    tu_result r;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &r);
    assert_int_equal(r.n, 1);
    tu_assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp, 6, "negative");
    tu_assert_chunks_hold(&r.s[0], smp, 6);
    tu_result_free(&r);
    tu_query_ok(f->db, NULL, 0, -5000, -1, TU_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    tu_assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 2, 2, "[-5000,-1]");
    tu_result_free(&r);
    promstore_stats st = tu_stats(f->db);
    assert_int_equal(st.min_time_ms, -TU_BLOCK_MS - 1);
    assert_int_equal(st.max_time_ms, 1);
}

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

/* ------------------------------------------------------------------------ */
/* Label validation                                                         */
/* ------------------------------------------------------------------------ */

static void assert_store_empty(promstore *db)
{
    promstore_stats st = tu_stats(db);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(tu_count_series(db, NULL, 0, TU_FULL), 0);
}

static void test_label_validation(void **state)
{
    tu_store *f = *state;
    struct {
        tu_lset ls;
        const char *marker; /* text the message must hold to name the series */
        const char *what;
    } bad[12];
    size_t n = 0;
    memset(bad, 0, sizeof bad);
    bad[n].what = "no labels"; /* ls.n == 0 */
    n++;
    bad[n].ls = LS("a", "", NULL), bad[n].what = "only an empty value";
    n++;
    bad[n].ls = LS("__name__", "empty_name_series", "", "x", NULL);
    bad[n].marker = "empty_name_series", bad[n].what = "empty name";
    n++;
    bad[n].ls = LS("__name__", "dup_metric_xyz", "a", "1", "a", "2", NULL);
    bad[n].marker = "dup_metric_xyz", bad[n].what = "duplicate name";
    n++;
    bad[n].ls = LS("a", "1", "__name__", "dup_same_value", "a", "1", NULL);
    bad[n].marker = "dup_same_value", bad[n].what = "duplicate name and value";
    n++;
    bad[n].ls = LS("__name__", "bad_value_series", "a", "\xff", NULL);
    bad[n].marker = "bad_value_series", bad[n].what = "0xff in value";
    n++;
    bad[n].ls = LS("__name__", "bad_name_series", "\xc3", "x", NULL);
    bad[n].marker = "bad_name_series", bad[n].what = "truncated sequence in name";
    n++;
    bad[n].ls = LS("__name__", "overlong_series", "a", "\xc0\xaf", NULL);
    bad[n].marker = "overlong_series", bad[n].what = "overlong encoding";
    n++;
    bad[n].ls = LS("__name__", "surrogate_series", "a", "\xed\xa0\x80", NULL);
    bad[n].marker = "surrogate_series", bad[n].what = "UTF-16 surrogate";
    n++;
    bad[n].ls = LS("__name__", "too_big_series", "a", "\xf4\x90\x80\x80", NULL);
    bad[n].marker = "too_big_series", bad[n].what = "above U+10FFFF";
    n++;
    bad[n].ls = LS("__name__", "\xe2\x82", "a", "1", NULL);
    bad[n].what = "truncated sequence in __name__ value";
    n++;

    tu_lset good1 = LS("__name__", "good", "k", "1", NULL);
    tu_lset good2 = LS("__name__", "good", "k", "2", NULL);
    promstore_sample smp[2] = {SMP(TU_T0, 1), SMP(TU_T0 + 1, 2)};
    for (size_t i = 0; i < n; i++) {
        /* Alone, and with valid series before and after it in the batch. */
        for (int form = 0; form < 2; form++) {
            promstore_series batch[3] = {SER(&good1, smp, 2), SER(&bad[i].ls, smp, 2),
                                         SER(&good2, smp, 2)};
            promstore_append_result r = tu_append_result();
            promstore_error err;
            memset(&err, 0, sizeof err);
            promstore_status st = form == 0 ? promstore_append(f->db, &batch[1], 1, &r, &err)
                                             : promstore_append(f->db, batch, 3, &r, &err);
            if (st != PROMSTORE_E_BAD_LABELS)
                fail_msg("%s (form %d): status %d, want BAD_LABELS", bad[i].what, form, st);
            assert_int_equal(err.status, PROMSTORE_E_BAD_LABELS);
            assert_true(err.message[0] != '\0');
            if (bad[i].marker != NULL && strstr(err.message, bad[i].marker) == NULL)
                fail_msg("%s: message does not name the series: %s", bad[i].what,
                         err.message);
            assert_int_equal(r.samples_appended, 0);
            assert_int_equal(r.series_created, 0);
            /* All-or-nothing: the valid series were not stored either. */
            assert_store_empty(f->db);
        }
    }
    /* The bad series last in a big batch: still nothing. */
    promstore_series big[5] = {SER(&good1, smp, 2), SER(&good2, smp, 2), SER(&good1, smp, 2),
                               SER(&good2, smp, 2), SER(&bad[3].ls, smp, 2)};
    promstore_error err;
    assert_int_equal(promstore_append(f->db, big, 5, NULL, &err), PROMSTORE_E_BAD_LABELS);
    assert_store_empty(f->db);
    /* The store is still usable, and survives a reopen empty. */
    tu_store_reopen(f);
    assert_store_empty(f->db);
    tu_append1_ok(f->db, &good1, smp, 2);
    assert_int_equal(tu_stats(f->db).series, 1);

    /* Valid UTF-8 of every length, U+0000 and U+10FFFF included, is accepted. */
    tu_lset ok;
    memset(&ok, 0, sizeof ok);
    tu_lset_add(&ok, "__name__", 8, "utf8", 4);
    tu_lset_add(&ok, "v", 1, "\x00\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
                          "\xf4\x8f\xbf\xbf", 20);
    tu_lset_add(&ok, "caf\xc3\xa9", 5, "\xe6\x97\xa5\xe6\x9c\xac", 6);
    tu_append1_ok(f->db, &ok, smp, 2);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_SAMPLES, &q);
    assert_int_equal(q.n, 2);
    assert_non_null(tu_find_series(&q, &ok));
    tu_result_free(&q);
}

static void test_long_message_truncated(void **state)
{
    tu_store *f = *state;
    /* A message naming a huge series is cut to fit and ends with "...". */
    size_t big = 5000;
    char *v = tu_calloc(big, 1);
    memset(v, 'x', big);
    tu_lset ls = LS("__name__", "huge", NULL);
    tu_lset_add(&ls, "a", 1, v, big);
    tu_lset_add(&ls, "a", 1, v, big); /* duplicate name */
    promstore_sample smp = SMP(TU_T0, 1);
    promstore_series s = SER(&ls, &smp, 1);
    promstore_error err;
    memset(&err, 'q', sizeof err);
    assert_int_equal(promstore_append(f->db, &s, 1, NULL, &err), PROMSTORE_E_BAD_LABELS);
    size_t len = strnlen(err.message, sizeof err.message);
    assert_true(len < sizeof err.message);
    assert_true(len >= 3);
    assert_string_equal(err.message + len - 3, "...");
    free(v);
}

static void test_legacy_names(void **state)
{
    tu_store *f = *state;
    const char *legacy_bad[] = {"a-b", "1a", "caf\xc3\xa9", "a b", "a.b"};
    promstore_sample smp = SMP(TU_T0, 1);

    /* Default: UTF-8 names (Prometheus 3) are all accepted. */
    for (size_t i = 0; i < sizeof legacy_bad / sizeof legacy_bad[0]; i++) {
        tu_lset ls = LS("__name__", "names", legacy_bad[i], "v", NULL);
        tu_append1_ok(f->db, &ls, &smp, 1);
    }
    assert_int_equal(tu_stats(f->db).series, 5);

    /* With the flag they are refused, naming the series; legacy-valid ones pass. */
    f->opts.flags = PROMSTORE_OPEN_LEGACY_NAMES;
    tu_store_recreate(f);
    for (size_t i = 0; i < sizeof legacy_bad / sizeof legacy_bad[0]; i++) {
        tu_lset ls = LS("__name__", "legacy_metric", legacy_bad[i], "v", NULL);
        promstore_series s = SER(&ls, &smp, 1);
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_append(f->db, &s, 1, NULL, &err);
        if (st != PROMSTORE_E_BAD_LABELS)
            fail_msg("legacy name \"%s\": status %d", legacy_bad[i], st);
        assert_non_null(strstr(err.message, "legacy_metric"));
    }
    assert_store_empty(f->db);
    tu_lset ok = LS("__name__", "legacy_metric", "a_B9", "v", "_x", "v", "Z", "v", NULL);
    tu_append1_ok(f->db, &ok, &smp, 1);
    assert_int_equal(tu_stats(f->db).series, 1);
}

static void test_empty_value_dropped(void **state)
{
    tu_store *f = *state;
    tu_lset withb = LS("a", "1", "b", "", NULL);
    tu_lset without = LS("a", "1", NULL);
    promstore_sample s1 = SMP(TU_T0, 1), s2 = SMP(TU_T0 + 1000, 2);
    promstore_series ser1 = SER(&withb, &s1, 1);
    promstore_append_result r = tu_append_ok(f->db, &ser1, 1);
    assert_int_equal(r.series_created, 1);
    promstore_series ser2 = SER(&without, &s2, 1);
    r = tu_append_ok(f->db, &ser2, 1);
    assert_int_equal(r.series_created, 0); /* the same series */
    assert_int_equal(tu_stats(f->db).series, 1);

    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    assert_string_equal(q.s[0].key, "{a=\"1\"}");
    promstore_sample want[2] = {s1, s2};
    tu_assert_samples_equal(q.s[0].samples, q.s[0].n_samples, want, 2, "merged");
    tu_result_free(&q);

    /* b="" selects it, b!="" does not; b is no label name. */
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "b", "");
    assert_int_equal(tu_count_series(f->db, &m, 1, TU_FULL), 1);
    m = MT(PROMSTORE_MATCH_NEQ, "b", "");
    assert_int_equal(tu_count_series(f->db, &m, 1, TU_FULL), 0);
    promstore_string_iter *it = NULL;
    promstore_error err;
    assert_int_equal(promstore_label_names(f->db, NULL, 0, TU_FULL, &it, &err), PROMSTORE_OK);
    const char *s;
    size_t len;
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_OK);
    assert_string_equal(s, "a");
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
}

static void test_codec_edges(void **state)
{
    tu_store *f = *state;
    /* Timestamp deltas whose delta-of-delta sits on each bucket edge of the
     * XOR encoding (14, 17, 20 and 64 bits, both signs), and values whose XOR
     * windows are edge cases (64 significant bits, leading zeros above 31,
     * reuse of the previous window), all inside one 2h block. */
    static const int64_t deltas[] = {1,     8193,  1,      8194,    1,       65537,
                                     1,     65538, 1,      524289,  1,       524290,
                                     1,     3000000, 1,    7,       7,       7};
    static const uint64_t vals[] = {
        UINT64_C(0x0000000000000001), UINT64_C(0x8000000000000000),
        UINT64_C(0x8000000000000001), UINT64_C(0x0000000000000001),
        UINT64_C(0x00000000ffffffff), UINT64_C(0x00000000fffffffe),
        UINT64_C(0x00000000fffffffc), UINT64_C(0xffffffff00000000),
        PROMSTORE_STALE_NAN_BITS,     UINT64_C(0x7ff8000000000001),
        UINT64_C(0x3ff0000000000000), UINT64_C(0x3ff0000000000000),
        UINT64_C(0),                  UINT64_C(0x8000000000000000),
        UINT64_C(0x7ff0000000000000), UINT64_C(0xfff0000000000000),
        UINT64_C(0x000fffffffffffff), UINT64_C(0x0010000000000000),
        UINT64_C(0x4000000000000000),
    };
    enum { N = sizeof vals / sizeof vals[0] };
    _Static_assert(sizeof deltas / sizeof deltas[0] == N - 1, "one delta per gap");
    int64_t t = (TU_T0 / TU_BLOCK_MS + 1) * TU_BLOCK_MS; /* a block start */
    promstore_sample smp[N];
    for (size_t i = 0; i < N; i++) {
        if (i > 0)
            t += deltas[i - 1];
        smp[i] = SMPB(t, vals[i]);
    }
    assert_true(smp[N - 1].timestamp_ms - smp[0].timestamp_ms < TU_BLOCK_MS);
    tu_lset s = LS("__name__", "codec", NULL);
    tu_append1_ok(f->db, &s, smp, N);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, smp, N);
    tu_assert_chunks_hold(&q.s[0], smp, N);
    tu_result_free(&q);
    /* Appended one at a time (the stored appender state resumes each time). */
    tu_lset s2 = LS("__name__", "codec1", NULL);
    for (size_t i = 0; i < N; i++)
        tu_append1_ok(f->db, &s2, &smp[i], 1);
    tu_store_reopen(f);
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s2, smp, N);
    tu_assert_chunks_hold(tu_find_series(&q, &s2), smp, N);
    /* The same bytes either way. */
    const tu_series *a = tu_find_series(&q, &s), *b = tu_find_series(&q, &s2);
    assert_int_equal(a->n_chunks, b->n_chunks);
    for (size_t i = 0; i < a->n_chunks; i++) {
        assert_int_equal(a->chunks[i].len, b->chunks[i].len);
        assert_memory_equal(a->chunks[i].data, b->chunks[i].data, a->chunks[i].len);
    }
    tu_result_free(&q);

    /* Extreme timestamps: the ends of the int64 range are valid. */
    tu_lset e = LS("__name__", "extreme", NULL);
    promstore_sample ext[3] = {SMP(INT64_MIN, 1), SMP(INT64_MIN + 1, 2), SMP(-1, 3)};
    promstore_sample ext2[2] = {SMP(INT64_MAX - 1, 4), SMP(INT64_MAX, 5)};
    tu_lset e2 = LS("__name__", "extreme2", NULL);
    tu_append1_ok(f->db, &e, ext, 3);
    tu_append1_ok(f->db, &e2, ext2, 2);
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_SAMPLES, &q);
    tu_assert_series(&q, &e, ext, 3);
    tu_assert_series(&q, &e2, ext2, 2);
    tu_result_free(&q);
    tu_query_ok(f->db, NULL, 0, INT64_MAX, INT64_MAX, TU_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    tu_assert_samples_equal(q.s[0].samples, q.s[0].n_samples, &ext2[1], 1, "INT64_MAX");
    tu_result_free(&q);
}

static void test_long_labels(void **state)
{
    tu_store *f = *state;
    /* Many labels, and long values: the header sets no length limit, so both
     * must round-trip (a key-size limit of the backend is the engine's to
     * work around). */
    enum { NL = 150, VL = 200 };
    promstore_label *l = tu_calloc(NL, sizeof *l);
    char(*nm)[8] = tu_calloc(NL, sizeof *nm);
    char *v = tu_calloc(VL, 1);
    memset(v, 'v', VL);
    for (size_t i = 0; i < NL; i++) {
        snprintf(nm[i], sizeof nm[i], "l%03zu", NL - 1 - i); /* reverse order */
        l[i] = (promstore_label){nm[i], 4, v, VL};
    }
    promstore_sample smp = SMP(TU_T0, 1);
    promstore_series s = {l, NL, &smp, 1};
    tu_append_ok(f->db, &s, 1);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.s[0].n_labels, NL);
    assert_string_equal(q.s[0].labels[0].name, "l000");
    assert_string_equal(q.s[0].labels[NL - 1].name, "l149");
    assert_int_equal(q.s[0].labels[NL - 1].value_len, VL);
    tu_result_free(&q);

    /*
     * One long value (a URL or a query text in a label happens in practice).
     * Up to the documented 470-byte pair limit it is stored and found again;
     * past it the append is refused with a message naming the label, and
     * nothing is stored.
     */
    size_t sizes[] = {460, 1000, 16384};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *big = tu_calloc(sizes[i], 1);
        for (size_t k = 0; k < sizes[i]; k++)
            big[k] = (char)('a' + k % 26);
        tu_lset ls = LS("__name__", "longval", NULL);
        tu_lset_add(&ls, "url", 3, big, sizes[i]);
        promstore_series ser = SER(&ls, &smp, 1);
        promstore_append_result r = tu_append_result();
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_append(f->db, &ser, 1, &r, &err);
        promstore_matcher m = {PROMSTORE_MATCH_EQ, "url", 3, big, sizes[i]};
        tu_query_ok(f->db, &m, 1, TU_FULL, TU_SAMPLES, &q);
        if (3 + sizes[i] + 2 <= 470) {
            if (st != PROMSTORE_OK)
                fail_msg("a %zu-byte label value: status %d: %.120s", sizes[i], st, err.message);
            assert_int_equal(q.n, 1);
            assert_int_equal(q.s[0].labels[1].value_len, sizes[i]);
            assert_memory_equal(q.s[0].labels[1].value, big, sizes[i]);
        } else {
            assert_int_equal(st, PROMSTORE_E_BAD_LABELS);
            assert_non_null(strstr(err.message, "label url is too long"));
            assert_non_null(strstr(err.message, "longval"));
            assert_int_equal(r.samples_appended, 0);
            assert_int_equal(q.n, 0);
        }
        tu_result_free(&q);
        free(big);
    }
    free(l);
    free(nm);
    free(v);
}

/* ------------------------------------------------------------------------ */
/* Batches, chunks and blocks                                               */
/* ------------------------------------------------------------------------ */

static void test_same_series_in_batch(void **state)
{
    tu_store *f = *state;
    tu_lset s1 = LS("__name__", "rep", "k", "v", NULL);
    tu_lset s1b = LS("k", "v", "__name__", "rep", NULL); /* same series, other order */
    tu_lset s1c = LS("k", "v", "__name__", "rep", "e", "", NULL); /* and with an empty label */
    tu_lset t = LS("__name__", "rep", "k", "w", NULL);
    promstore_sample a[3] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3)};
    promstore_sample b[2] = {SMP(4000, 4), SMP(5000, 5)};
    promstore_sample c[1] = {SMP(6000, 6)};
    promstore_sample tt[1] = {SMP(1500, 9)};
    /* A retry of part of the batch inside the batch: duplicates. */
    promstore_sample again[2] = {SMP(5000, 5), SMP(6000, 6)};
    promstore_series batch[5] = {SER(&s1, a, 3), SER(&t, tt, 1), SER(&s1b, b, 2),
                                 SER(&s1c, c, 1), SER(&s1, again, 2)};
    promstore_append_result r = tu_append_ok(f->db, batch, 5);
    assert_int_equal(r.series_created, 2);
    assert_int_equal(r.samples_appended, 7);
    assert_int_equal(r.samples_duplicate, 2);
    assert_int_equal(r.samples_rejected, 0);

    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    assert_int_equal(q.n, 2);
    promstore_sample want[6] = {a[0], a[1], a[2], b[0], b[1], c[0]};
    tu_assert_series(&q, &s1, want, 6);
    tu_assert_series(&q, &t, tt, 1);
    tu_assert_chunks_hold(tu_find_series(&q, &s1), want, 6);
    tu_result_free(&q);
    promstore_stats st = tu_stats(f->db);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples, 7);
}

static void test_many_samples_chunks_blocks(void **state)
{
    tu_store *f = *state;
    /* 1000 samples every 15 s: 4h10m, so > 120 per chunk and across two or
     * three 2h block boundaries. Appended in uneven batches. */
    enum { N = 1000 };
    tu_lset s = LS("__name__", "long", NULL);
    tu_lset o = LS("__name__", "short", NULL);
    promstore_sample *smp = tu_ramp(TU_T0, 15000, N, 0.25);
    for (size_t i = 0; i < N; i++)
        if (i % 97 == 3)
            smp[i].value_bits = PROMSTORE_STALE_NAN_BITS;
    promstore_sample os[3] = {SMP(TU_T0, 1), SMP(TU_T0 + TU_BLOCK_MS, 2), SMP(TU_T0 + 2 * TU_BLOCK_MS, 3)};
    size_t cuts[] = {0, 1, 7, 119, 120, 121, 500, 999, N};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++)
        tu_append1_ok(f->db, &s, smp + cuts[i], cuts[i + 1] - cuts[i]);
    tu_append1_ok(f->db, &o, os, 3);

    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    assert_int_equal(q.n, 2);
    tu_assert_series(&q, &s, smp, N);
    tu_assert_series(&q, &o, os, 3);
    tu_assert_inorder_chunks(tu_find_series(&q, &s), smp, N, TU_BLOCK_MS);
    tu_assert_inorder_chunks(tu_find_series(&q, &o), os, 3, TU_BLOCK_MS);
    size_t all_chunks = q.s[0].n_chunks + q.s[1].n_chunks;
    tu_result_free(&q);

    promstore_stats st = tu_stats(f->db);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples, N + 3);
    assert_int_equal(st.chunks, all_chunks);
    assert_int_equal(st.min_time_ms, TU_T0);
    assert_int_equal(st.max_time_ms, smp[N - 1].timestamp_ms); /* TU_T0 + 4h09m45s */
    /* Data spans blocks TU_T0/B .. (TU_T0+4h10m)/B: no more than 3 blocks can hold it. */
    assert_true(st.blocks <= 3);

    /* A sub-range reading across a block boundary. */
    int64_t boundary = (TU_T0 / TU_BLOCK_MS + 1) * TU_BLOCK_MS;
    tu_query_ok(f->db, NULL, 0, boundary - 60000, boundary + 60000, TU_SAMPLES, &q);
    const tu_series *qs = tu_find_series(&q, &s);
    assert_non_null(qs);
    size_t first = (size_t)((boundary - 60000 - TU_T0 + 14999) / 15000);
    size_t last = (size_t)((boundary + 60000 - TU_T0) / 15000);
    tu_assert_samples_equal(qs->samples, qs->n_samples, smp + first, last - first + 1,
                         "around the boundary");
    tu_result_free(&q);

    /* Everything is still there after a reopen. */
    tu_store_reopen(f);
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, smp, N);
    tu_assert_inorder_chunks(tu_find_series(&q, &s), smp, N, TU_BLOCK_MS);
    tu_result_free(&q);
    free(smp);
}

static void test_chunk_cursor(void **state)
{
    tu_store *f = *state;
    enum { N = 600 };
    tu_lset s = LS("__name__", "chunky", NULL);
    promstore_sample *smp = tu_ramp(TU_T0, 10000, N, 3);
    tu_append1_ok(f->db, &s, smp, N);

    tu_result all;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_CHUNKS, &all);
    assert_int_equal(all.n, 1);
    const tu_series *qa = &all.s[0];
    assert_true(qa->n_chunks >= 5);
    tu_assert_inorder_chunks(qa, smp, N, TU_BLOCK_MS);

    /* A sub-range: exactly the chunks that overlap it, the same bytes. */
    int64_t mint = smp[300].timestamp_ms, maxt = smp[310].timestamp_ms;
    tu_result sub;
    tu_query_ok(f->db, NULL, 0, mint, maxt, TU_CHUNKS, &sub);
    assert_int_equal(sub.n, 1);
    size_t k = 0;
    size_t in_chunks = 0;
    for (size_t i = 0; i < qa->n_chunks; i++) {
        const tu_chunk *c = &qa->chunks[i];
        if (c->maxt < mint || c->mint > maxt)
            continue;
        assert_true(k < sub.s[0].n_chunks);
        const tu_chunk *d = &sub.s[0].chunks[k++];
        assert_int_equal(d->mint, c->mint);
        assert_int_equal(d->maxt, c->maxt);
        assert_int_equal(d->len, c->len);
        assert_memory_equal(d->data, c->data, c->len);
        in_chunks += tu_xor_count(c->data, c->len);
    }
    assert_int_equal(k, sub.s[0].n_chunks);
    assert_true(in_chunks >= 11); /* the chunks hold at least the 11 samples in range */
    tu_result_free(&sub);
    tu_result_free(&all);

    /* The sample and chunk cursors are independent. */
    promstore_series_iter *it = NULL;
    promstore_error err;
    promstore_sample x;
    promstore_chunk c;
    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
        assert_int_equal(x.timestamp_ms, smp[i].timestamp_ms);
    }
    size_t nchunks = 0;
    while (promstore_series_iter_chunk(it, &c, &err) == PROMSTORE_OK)
        nchunks++;
    assert_true(nchunks >= 5);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
    assert_int_equal(x.timestamp_ms, smp[3].timestamp_ms);
    assert_true(x.value_bits == smp[3].value_bits);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    promstore_series_iter_close(it);
    free(smp);
}

static void test_block_duration_fixed_at_creation(void **state)
{
    tu_store *f = *state;
    /* Created with 1h blocks; a later open asking for 2h gets 1h. Observable:
     * no chunk straddles a 1h boundary. */
    f->opts.block_duration_ms = TU_HOUR_MS;
    tu_store_recreate(f);
    f->opts.block_duration_ms = 2 * TU_HOUR_MS;
    tu_store_reopen(f);
    enum { N = 1000 };
    tu_lset s = LS("__name__", "blk", NULL);
    promstore_sample *smp = tu_ramp(TU_T0, 15000, N, 1);
    tu_append1_ok(f->db, &s, smp, N);
    tu_store_reopen(f);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, smp, N);
    tu_assert_inorder_chunks(&q.s[0], smp, N, TU_HOUR_MS);
    tu_result_free(&q);
    free(smp);
}

static void test_bad_options(void **state)
{
    tu_store *f = *state;
    tu_store_close(f);
    struct {
        int64_t block, window, retention;
    } bad[] = {{-1, 0, 0}, {0, -1, 0}, {2 * TU_HOUR_MS, 0, -5}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promstore_options o = f->opts;
        o.block_duration_ms = bad[i].block;
        o.out_of_order_window_ms = bad[i].window;
        o.retention_time_ms = bad[i].retention;
        promstore *db = (promstore *)(uintptr_t)0x1;
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_open(&o, &db, &err);
        if (st != PROMSTORE_E_INVALID)
            fail_msg("bad options %zu: status %d, want INVALID", i, st);
        assert_null(db);
        assert_true(err.message[0] != '\0');
    }
    tu_store_open(f);
}

/* ------------------------------------------------------------------------ */
/* Out of order and duplicates                                              */
/* ------------------------------------------------------------------------ */

static void test_out_of_order_no_window(void **state)
{
    tu_store *f = *state;
    tu_lset s = LS("__name__", "ooo", "k", "s_series", NULL);
    tu_lset t = LS("__name__", "ooo", "k", "t_series", NULL);
    promstore_sample first[5] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3), SMP(4000, 4),
                                 SMP(5000, 5)};
    tu_append1_ok(f->db, &s, first, 5);

    /* One old sample in a batch: rejected, the rest stored. */
    promstore_sample s2[2] = {SMP(500, 9), SMP(6000, 6)};
    promstore_sample t2[1] = {SMP(100, 1)};
    promstore_series batch[2] = {SER(&s, s2, 2), SER(&t, t2, 1)};
    promstore_append_result r = tu_append_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_append(f->db, batch, 2, &r, &err), PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(err.status, PROMSTORE_E_OUT_OF_ORDER);
    if (strstr(err.message, "s_series") == NULL)
        fail_msg("message does not name the series: %s", err.message);
    assert_int_equal(r.samples_appended, 2);
    assert_int_equal(r.samples_rejected, 1);
    assert_int_equal(r.samples_duplicate, 0);
    assert_int_equal(r.series_created, 1);

    /* Same timestamp as the newest, other value: rejected. */
    promstore_sample s3[1] = {SMP(6000, 7)};
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, s3, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    assert_int_equal(r.samples_appended, 0);
    /* Same timestamp, same value bits: a duplicate, ignored, OK. */
    promstore_sample s4[1] = {SMP(6000, 6)};
    r = tu_append_ok(f->db, &(promstore_series){s.l, s.n, s4, 1}, 1);
    assert_int_equal(r.samples_duplicate, 1);
    assert_int_equal(r.samples_appended, 0);

    /* Going backwards inside one batch: the backward sample is rejected. */
    promstore_sample s5[3] = {SMP(8000, 8), SMP(7000, 7), SMP(9000, 9)};
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, s5, 3}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_appended, 2);
    assert_int_equal(r.samples_rejected, 1);

    /* 0.0 and -0.0 are equal floats but different bits: not a duplicate. */
    promstore_sample z1 = SMP(10000, 0.0), z2 = SMP(10000, -0.0);
    tu_append1_ok(f->db, &s, &z1, 1);
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &z2, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    /* And a NaN equal to itself by bits is a duplicate (NaN != NaN as floats). */
    promstore_sample n1 = SMPB(11000, PROMSTORE_STALE_NAN_BITS);
    tu_append1_ok(f->db, &s, &n1, 1);
    r = tu_append_ok(f->db, &(promstore_series){s.l, s.n, &n1, 1}, 1);
    assert_int_equal(r.samples_duplicate, 1);
    /* A different NaN payload at the same time is a different value. */
    promstore_sample n2 = SMPB(11000, UINT64_C(0x7ff8000000000001));
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &n2, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);

    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    promstore_sample want[10] = {first[0], first[1], first[2], first[3], first[4],
                                 SMP(6000, 6), SMP(8000, 8), SMP(9000, 9), z1, n1};
    tu_assert_series(&q, &s, want, 10);
    tu_assert_series(&q, &t, t2, 1);
    tu_assert_chunks_hold(tu_find_series(&q, &s), want, 10);
    tu_result_free(&q);
    assert_int_equal(tu_stats(f->db).samples, 11);

    /* The newest timestamp survives a reopen: old samples still refused. */
    tu_store_reopen(f);
    promstore_sample late = SMP(10500, 1);
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &late, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    assert_int_equal(tu_stats(f->db).samples, 11);
}

static void test_retried_batch_is_duplicate(void **state)
{
    tu_store *f = *state;
    /* Remote write retries a whole batch when it did not see the answer: the
     * header promises such a batch lands in samples_duplicate with
     * PROMSTORE_OK, even though its samples are older than the newest. */
    tu_lset a = LS("__name__", "retry", "k", "a", NULL);
    tu_lset b = LS("__name__", "retry", "k", "b", NULL);
    promstore_sample sa[4] = {SMP(1000, 1), SMPB(2000, PROMSTORE_STALE_NAN_BITS),
                              SMP(3000, -0.0), SMP(4000, 4)};
    promstore_sample sb[2] = {SMP(1000, 10), SMP(2000, 20)};
    promstore_series batch[2] = {SER(&a, sa, 4), SER(&b, sb, 2)};
    promstore_append_result r = tu_append_ok(f->db, batch, 2);
    assert_int_equal(r.samples_appended, 6);
    assert_int_equal(r.series_created, 2);

    r = tu_append_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_append(f->db, batch, 2, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("retried batch: status %d (%s), appended %" PRIu64 " dup %" PRIu64
                 " rejected %" PRIu64 "; want OK with 6 duplicates",
                 st, err.message, r.samples_appended, r.samples_duplicate, r.samples_rejected);
    assert_int_equal(r.samples_duplicate, 6);
    assert_int_equal(r.samples_appended, 0);
    assert_int_equal(r.samples_rejected, 0);
    assert_int_equal(r.series_created, 0);

    /* The same after a reopen, and a retry that also carries new samples. */
    tu_store_reopen(f);
    promstore_sample sa2[5] = {sa[0], sa[1], sa[2], sa[3], SMP(5000, 5)};
    promstore_series batch2[2] = {SER(&a, sa2, 5), SER(&b, sb, 2)};
    r = tu_append_result();
    st = promstore_append(f->db, batch2, 2, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("retry after reopen: status %d (%s)", st, err.message);
    assert_int_equal(r.samples_duplicate, 6);
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(tu_stats(f->db).samples, 7);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_SAMPLES, &q);
    tu_assert_series(&q, &a, sa2, 5);
    tu_assert_series(&q, &b, sb, 2);
    tu_result_free(&q);
}

static void test_out_of_order_window(void **state)
{
    tu_store *f = *state;
    f->opts.out_of_order_window_ms = 10500;
    tu_store_reopen(f);
    tu_lset s = LS("__name__", "oow", NULL);
    /* 100000 .. 200000 every 10000: newest 200000, window reaches 189500. */
    promstore_sample *base = tu_ramp(100000, 10000, 11, 1);
    tu_append1_ok(f->db, &s, base, 11);

    /* Within the window (the boundary itself included): accepted. */
    promstore_sample in[3] = {SMP(195000, 0.5), SMP(191000, 0.25), SMP(189500, 0.125)};
    promstore_append_result r = tu_append_ok(f->db, &(promstore_series){s.l, s.n, in, 3}, 1);
    assert_int_equal(r.samples_appended, 3);

    /* Beyond it: rejected, naming the series. */
    promstore_sample out = SMP(189499, 7);
    promstore_error err;
    memset(&err, 0, sizeof err);
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &out, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    assert_non_null(strstr(err.message, "oow"));

    /* Merged in time order, by samples and by chunks. */
    promstore_sample want[24];
    size_t n = 0;
    for (size_t i = 0; i < 11; i++)
        want[n++] = base[i];
    want[n++] = in[0];
    want[n++] = in[1];
    want[n++] = in[2];
    qsort(want, n, sizeof *want, tu_sample_cmp);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, want, n);
    tu_assert_chunks_hold(&q.s[0], want, n);
    tu_result_free(&q);
    /* A range that only out-of-order samples fall in. */
    tu_query_ok(f->db, NULL, 0, 189000, 189999, TU_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    tu_assert_samples_equal(q.s[0].samples, q.s[0].n_samples, &in[2], 1, "ooo only range");
    tu_result_free(&q);
    assert_int_equal(tu_stats(f->db).samples, n);

    /* Across a reopen: the same, and the window still measured from 200000. */
    tu_store_reopen(f);
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, want, n);
    tu_assert_chunks_hold(&q.s[0], want, n);
    tu_result_free(&q);
    promstore_sample more = SMP(199999, 3);
    tu_append1_ok(f->db, &s, &more, 1);
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &out, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    /* A newer sample moves the window. */
    promstore_sample newer = SMP(300000, 4);
    tu_append1_ok(f->db, &s, &newer, 1);
    promstore_sample now_old = SMP(289499, 5), now_ok = SMP(289500, 6);
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &now_old, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    tu_append1_ok(f->db, &s, &now_ok, 1);
    want[n++] = more;
    want[n++] = newer;
    want[n++] = now_ok;
    qsort(want, n, sizeof *want, tu_sample_cmp);
    tu_store_reopen(f);
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, want, n);
    tu_assert_chunks_hold(&q.s[0], want, n);
    tu_result_free(&q);
    promstore_stats st = tu_stats(f->db);
    assert_int_equal(st.samples, n);
    assert_int_equal(st.series, 1);
    free(base);
}

static void test_out_of_order_duplicates(void **state)
{
    tu_store *f = *state;
    /* Duplicates and clashes are judged against out-of-order samples already
     * stored, and against earlier samples of the same batch, exactly as they
     * are against in-order ones. */
    f->opts.out_of_order_window_ms = 10500;
    tu_store_reopen(f);
    tu_lset s = LS("__name__", "oodup", NULL);
    promstore_sample *base = tu_ramp(100000, 10000, 11, 1); /* newest 200000 */
    tu_append1_ok(f->db, &s, base, 11);
    promstore_sample in[2] = {SMP(195000, 0.5), SMP(191000, 0.25)};
    tu_append1_ok(f->db, &s, in, 2);
    promstore_error err;
    promstore_append_result r;

    /* An in-order sample inside the window, retried / clashed. */
    r = tu_append_ok(f->db, &(promstore_series){s.l, s.n, &base[9], 1}, 1);
    assert_int_equal(r.samples_duplicate, 1);
    promstore_sample clash = SMP(190000, 99);
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &clash, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);

    /* A stored out-of-order sample, retried: a duplicate, not stored twice. */
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &in[1], 1}, 1, &r, &err),
                     PROMSTORE_OK);
    if (r.samples_duplicate != 1 || r.samples_appended != 0)
        fail_msg("retried out-of-order sample: appended %" PRIu64 ", duplicate %" PRIu64
                 "; want 0 and 1",
                 r.samples_appended, r.samples_duplicate);
    /* Same time as a stored out-of-order sample, other value: rejected. */
    clash = SMP(191000, 99);
    r = tu_append_result();
    promstore_status st = promstore_append(f->db, &(promstore_series){s.l, s.n, &clash, 1}, 1, &r, &err);
    if (st != PROMSTORE_E_OUT_OF_ORDER || r.samples_rejected != 1)
        fail_msg("clash with a stored out-of-order sample: status %d, appended %" PRIu64
                 ", rejected %" PRIu64 "; want OUT_OF_ORDER, 0, 1",
                 st, r.samples_appended, r.samples_rejected);
    /* Within one batch: the second copy is a duplicate, a clash is rejected. */
    promstore_sample twice[2] = {SMP(192000, 7), SMP(192000, 7)};
    r = tu_append_ok(f->db, &(promstore_series){s.l, s.n, twice, 2}, 1);
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(r.samples_duplicate, 1);
    promstore_sample clash2[2] = {SMP(193000, 7), SMP(193000, 8)};
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, clash2, 2}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(r.samples_rejected, 1);

    /* What is stored: every first value, each once. */
    promstore_sample want[16];
    size_t n = 0;
    for (size_t i = 0; i < 11; i++)
        want[n++] = base[i];
    want[n++] = in[0];
    want[n++] = in[1];
    want[n++] = twice[0];
    want[n++] = clash2[0];
    qsort(want, n, sizeof *want, tu_sample_cmp);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, want, n);
    tu_assert_chunks_hold(&q.s[0], want, n);
    tu_result_free(&q);
    assert_int_equal(tu_stats(f->db).samples, n);
    free(base);
}

static void test_out_of_order_window_many(void **state)
{
    tu_store *f = *state;
    /* Many out-of-order samples (more than one chunk's worth) interleaved
     * with in-order ones, across a block boundary. */
    f->opts.out_of_order_window_ms = 3 * TU_HOUR_MS;
    tu_store_reopen(f);
    tu_lset s = LS("__name__", "oow_many", NULL);
    enum { N = 600 };
    promstore_sample *even = tu_calloc(N, sizeof *even), *odd = tu_calloc(N, sizeof *odd);
    for (size_t i = 0; i < N; i++) {
        even[i] = SMP(TU_T0 + (int64_t)(2 * i) * 15000, (double)(2 * i));
        odd[i] = SMP(TU_T0 + (int64_t)(2 * i + 1) * 15000, (double)(2 * i + 1));
    }
    tu_append1_ok(f->db, &s, even, N);          /* newest: TU_T0 + 1198*15s (~5h) */
    tu_append1_ok(f->db, &s, odd + 300, N - 300); /* out of order, within 3h */
    promstore_sample *want = tu_calloc(2 * N, sizeof *want);
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        want[n++] = even[i];
    for (size_t i = 300; i < N; i++)
        want[n++] = odd[i];
    qsort(want, n, sizeof *want, tu_sample_cmp);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, want, n);
    tu_assert_chunks_hold(&q.s[0], want, n);
    size_t nchunks = q.s[0].n_chunks;
    tu_result_free(&q);
    tu_store_reopen(f);
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, &s, want, n);
    tu_assert_chunks_hold(&q.s[0], want, n);
    assert_int_equal(q.s[0].n_chunks, nchunks);
    tu_result_free(&q);
    /*
     * stats.chunks counts stored chunks only; out-of-order samples are stored
     * one by one and the chunk cursor encodes them on the fly (header).
     */
    promstore_stats st = tu_stats(f->db);
    assert_int_equal(st.samples, n);
    size_t stored = 0;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    for (size_t i = 0; i < q.s[0].n_chunks; i++)
        stored += (q.s[0].chunks[i].mint - TU_T0) % 30000 == 0; /* in-order ones start even */
    tu_result_free(&q);
    if (st.chunks != stored || stored == 0 || stored >= nchunks)
        fail_msg("stats.chunks %" PRIu64 ", chunk cursor %zu, of which in-order %zu", st.chunks,
                 nchunks, stored);
    free(even);
    free(odd);
    free(want);
}

/* ------------------------------------------------------------------------ */
/* Label names and values                                                   */
/* ------------------------------------------------------------------------ */

static void test_label_names_values(void **state)
{
    tu_store *f = *state;
    tu_load_matcher_data(f->db); /* at TU_T0, TU_T0+1000 */
    tu_lset late = LS("__name__", "late", "zone", "z1", "Alpha", "1", NULL);
    promstore_sample ls = SMP(TU_T0 + 10 * TU_BLOCK_MS, 1);
    tu_append1_ok(f->db, &late, &ls, 1);

    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_FULL), "Alpha|__name__|env|instance|job|zone");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", NULL, 0, TU_FULL), "api|api\nx|apix|db");
    TU_ASSERT_STRS(tu_label_values(f->db, "__name__", NULL, 0, TU_FULL), "down|late|up");
    /* Never the empty value, though most series lack env. */
    TU_ASSERT_STRS(tu_label_values(f->db, "env", NULL, 0, TU_FULL), "prod|staging");

    /* With matchers. */
    promstore_matcher down = MT(PROMSTORE_MATCH_EQ, "__name__", "down");
    TU_ASSERT_STRS(tu_label_names(f->db, &down, 1, TU_FULL), "__name__|job");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", &down, 1, TU_FULL), "api");
    TU_ASSERT_STRS(tu_label_values(f->db, "env", &down, 1, TU_FULL), "");
    promstore_matcher noenv = MT(PROMSTORE_MATCH_EQ, "env", "");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", &noenv, 1, TU_FULL), "api|api\nx|db");
    promstore_matcher re = MT(PROMSTORE_MATCH_RE, "job", "api.*");
    TU_ASSERT_STRS(tu_label_values(f->db, "instance", &re, 1, TU_FULL), "a:1|b:2");
    promstore_matcher nothing = MT(PROMSTORE_MATCH_EQ, "job", "nope");
    TU_ASSERT_STRS(tu_label_names(f->db, &nothing, 1, TU_FULL), "");

    /* With a time restriction: the late series is outside [TU_T0, TU_T0+1000]. */
    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_T0, TU_T0 + 1000), "__name__|env|instance|job");
    TU_ASSERT_STRS(tu_label_values(f->db, "zone", NULL, 0, TU_T0, TU_T0 + 1000), "");
    TU_ASSERT_STRS(tu_label_values(f->db, "zone", NULL, 0, TU_FULL), "z1");
    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_T0 + TU_BLOCK_MS, INT64_MAX), "Alpha|__name__|zone");
    TU_ASSERT_STRS(tu_label_values(f->db, "__name__", NULL, 0, TU_T0 + 1000, TU_T0 + 1000), "down|up");
    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_T0 + 1001, TU_T0 + TU_BLOCK_MS), "");

    /* A name no series has: empty at once. */
    TU_ASSERT_STRS(tu_label_values(f->db, "missing", NULL, 0, TU_FULL), "");
    promstore_string_iter *it = NULL;
    promstore_error err;
    const char *s;
    size_t len;
    assert_int_equal(promstore_label_values(f->db, "missing", 7, NULL, 0, TU_FULL, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
    /* The name need not be NUL-terminated. */
    assert_int_equal(promstore_label_values(f->db, "jobXYZ", 3, NULL, 0, TU_FULL, &it, &err),
                     PROMSTORE_OK);
    TU_ASSERT_STRS(tu_strings(it), "api|api\nx|apix|db");
    /* Values with NUL bytes come back with their full length. */
    tu_lset nul;
    memset(&nul, 0, sizeof nul);
    tu_lset_add(&nul, "nulv", 4, "a\0b", 3);
    tu_append1_ok(f->db, &nul, &ls, 1);
    assert_int_equal(promstore_label_values(f->db, "nulv", 4, NULL, 0, TU_FULL, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
}

static void test_series_without_samples(void **state)
{
    tu_store *f = *state;
    /* An empty batch is a successful no-op. */
    promstore_append_result r = tu_append_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_append(f->db, NULL, 0, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 0);
    assert_int_equal(r.series_created, 0);

    /* A series sent without samples has no data in any range, so neither a
     * query nor the label calls may report it -- not even the full-range
     * label calls that read the index only. */
    tu_lset ghost = LS("__name__", "ghost", "only_on_ghost", "1", NULL);
    tu_lset real = LS("__name__", "real", NULL);
    promstore_sample smp = SMP(TU_T0, 1);
    promstore_series batch[2] = {SER(&ghost, NULL, 0), SER(&real, &smp, 1)};
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, batch, 2, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 1);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(tu_count_series(f->db, NULL, 0, TU_FULL), 1);
        TU_ASSERT_STRS(tu_label_values(f->db, "__name__", NULL, 0, TU_FULL), "real");
        TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_FULL), "__name__");
        TU_ASSERT_STRS(tu_label_values(f->db, "only_on_ghost", NULL, 0, TU_FULL), "");
        promstore_stats st = tu_stats(f->db);
        assert_int_equal(st.samples, 1);
        tu_store_reopen(f);
    }
}

/* ------------------------------------------------------------------------ */
/* Statistics, limits, reopen, snapshots                                    */
/* ------------------------------------------------------------------------ */

static void test_stats(void **state)
{
    tu_store *f = *state;
    promstore_stats st = tu_stats(f->db);
    assert_string_equal(st.backend, tu_backend());
    assert_int_equal(st.series, 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(st.min_time_ms, 0); /* 0 when empty */
    assert_int_equal(st.max_time_ms, 0);

    tu_lset a = LS("__name__", "st", "k", "a", NULL), b = LS("__name__", "st", "k", "b", NULL);
    promstore_sample *sa = tu_ramp(TU_T0, 30000, 250, 1);
    promstore_sample sb[2] = {SMP(TU_T0 - 5000, 1), SMP(TU_T0 + 9000000, 2)};
    promstore_series batch[2] = {SER(&a, sa, 250), SER(&b, sb, 2)};
    tu_append_ok(f->db, batch, 2);
    /* Duplicates and rejected samples are not counted. */
    promstore_error err;
    promstore_append(f->db, batch, 2, NULL, &err);
    promstore_sample oldb = SMP(TU_T0, 7);
    promstore_append(f->db, &(promstore_series){b.l, b.n, &oldb, 1}, 1, NULL, &err);

    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_CHUNKS, &q);
    size_t chunks = 0;
    for (size_t i = 0; i < q.n; i++)
        chunks += q.s[i].n_chunks;
    tu_result_free(&q);

    st = tu_stats(f->db);
    assert_string_equal(st.backend, tu_backend());
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples, 252);
    assert_int_equal(st.chunks, chunks);
    assert_true(st.chunks >= 3); /* 250 samples need at least 3 chunks */
    assert_true(st.bytes_on_disk > 0);
    assert_true(st.file_bytes >= st.bytes_on_disk);
    assert_int_equal(st.min_time_ms, TU_T0 - 5000);
    assert_int_equal(st.max_time_ms, TU_T0 + 9000000);

    /* The same after a reopen. */
    tu_store_reopen(f);
    promstore_stats st2 = tu_stats(f->db);
    assert_string_equal(st2.backend, tu_backend());
    assert_int_equal(st2.series, st.series);
    assert_int_equal(st2.samples, st.samples);
    assert_int_equal(st2.chunks, st.chunks);
    assert_int_equal(st2.min_time_ms, st.min_time_ms);
    assert_int_equal(st2.max_time_ms, st.max_time_ms);
    assert_true(st2.bytes_on_disk > 0);
    free(sa);
}

/* Drain a query (samples and chunks per `want`) and return the first error. */
static promstore_status drain(promstore *db, const promstore_matcher *m, size_t nm, int want,
                              promstore_error *err)
{
    tu_result r;
    promstore_status st = tu_query_collect(db, m, nm, TU_FULL, want, &r, err);
    tu_result_free(&r);
    return st;
}

static void assert_limit(promstore_status st, const promstore_error *err, const char *word)
{
    if (st != PROMSTORE_E_LIMIT)
        fail_msg("status %d, want LIMIT (%s)", st, word);
    assert_int_equal(err->status, PROMSTORE_E_LIMIT);
    if (strcasestr(err->message, word) == NULL)
        fail_msg("limit message does not name the %s limit: %s", word, err->message);
}

static void test_limits(void **state)
{
    tu_store *f = *state;
    tu_lset s[3] = {LS("__name__", "lim", "i", "1", NULL), LS("__name__", "lim", "i", "2", NULL),
                 LS("__name__", "lim", "i", "3", NULL)};
    promstore_sample *smp = tu_ramp(TU_T0, 15000, 1000, 1);
    promstore_series batch[3] = {SER(&s[0], smp, 6), SER(&s[1], smp, 6), SER(&s[2], smp, 1000)};
    tu_append_ok(f->db, batch, 3);
    promstore_matcher all = MT(PROMSTORE_MATCH_EQ, "__name__", "lim");
    promstore_matcher two = MT(PROMSTORE_MATCH_RE, "i", "1|2");
    promstore_matcher one = MT(PROMSTORE_MATCH_EQ, "i", "1");
    promstore_error err;

    /* Series: 3 match, limit 2. Exactly 2 is fine. */
    f->opts.max_series_per_query = 2;
    tu_store_reopen(f);
    memset(&err, 0, sizeof err);
    assert_limit(drain(f->db, &all, 1, 0, &err), &err, "series");
    assert_int_equal(drain(f->db, &two, 1, TU_BOTH, &err), PROMSTORE_DONE);
    f->opts.max_series_per_query = 0;

    /* Samples: 12 in i=~"1|2", limit 10; 6 are fine. */
    f->opts.max_samples_per_query = 10;
    tu_store_reopen(f);
    memset(&err, 0, sizeof err);
    assert_limit(drain(f->db, &two, 1, TU_SAMPLES, &err), &err, "sample");
    assert_int_equal(drain(f->db, &one, 1, TU_SAMPLES, &err), PROMSTORE_DONE);
    f->opts.max_samples_per_query = 0;

    /* Bytes of chunks: the 1000-sample series takes far more than 64 bytes. */
    f->opts.max_bytes_per_query = 64;
    tu_store_reopen(f);
    promstore_matcher big = MT(PROMSTORE_MATCH_EQ, "i", "3");
    memset(&err, 0, sizeof err);
    assert_limit(drain(f->db, &big, 1, TU_CHUNKS, &err), &err, "byte");
    f->opts.max_bytes_per_query = 1 << 20;
    tu_store_reopen(f);
    assert_int_equal(drain(f->db, &big, 1, TU_CHUNKS, &err), PROMSTORE_DONE);
    f->opts.max_bytes_per_query = 0;

    /* Unlimited again. */
    tu_store_reopen(f);
    assert_int_equal(drain(f->db, &all, 1, TU_BOTH, &err), PROMSTORE_DONE);
    free(smp);
}

static void test_reopen(void **state)
{
    tu_store *f = *state;
    tu_lset a = LS("__name__", "ro", "k", "a", NULL), b = LS("k", "b", "__name__", "ro", NULL);
    tu_lset c = LS("__name__", "ro2", NULL);
    promstore_sample *sa = tu_ramp(TU_T0, 15000, 300, 1);
    promstore_sample sb[2] = {SMP(TU_T0, 1), SMPB(TU_T0 + 1, PROMSTORE_STALE_NAN_BITS)};
    promstore_sample sc[1] = {SMP(TU_T0 + 99, -1)};
    promstore_series batch[3] = {SER(&a, sa, 200), SER(&b, sb, 2), SER(&c, sc, 1)};
    tu_append_ok(f->db, batch, 3);
    promstore_stats before = tu_stats(f->db);
    tu_result q1;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q1);

    tu_store_reopen(f);
    promstore_stats after = tu_stats(f->db);
    assert_int_equal(after.series, before.series);
    assert_int_equal(after.samples, before.samples);
    assert_int_equal(after.chunks, before.chunks);
    assert_int_equal(after.min_time_ms, before.min_time_ms);
    assert_int_equal(after.max_time_ms, before.max_time_ms);
    tu_result q2;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q2);
    assert_int_equal(q2.n, q1.n);
    for (size_t i = 0; i < q1.n; i++) {
        assert_string_equal(q2.s[i].key, q1.s[i].key);
        tu_assert_samples_equal(q2.s[i].samples, q2.s[i].n_samples, q1.s[i].samples,
                             q1.s[i].n_samples, q1.s[i].key);
        assert_int_equal(q2.s[i].n_chunks, q1.s[i].n_chunks);
    }
    tu_result_free(&q1);
    tu_result_free(&q2);

    /* Appending continues on the existing series: none created. */
    promstore_series more[2] = {SER(&a, sa + 200, 100), SER(&b, sc, 1)};
    /* b's newest is TU_T0+1 and sc is at TU_T0+99: in order. */
    promstore_append_result r = tu_append_ok(f->db, more, 2);
    assert_int_equal(r.series_created, 0);
    assert_int_equal(r.samples_appended, 101);
    assert_int_equal(tu_stats(f->db).series, 3);
    TU_ASSERT_STRS(tu_label_values(f->db, "k", NULL, 0, TU_FULL), "a|b");

    tu_store_reopen(f);
    assert_int_equal(tu_stats(f->db).series, 3);
    assert_int_equal(tu_stats(f->db).samples, 304);
    tu_result q;
    tu_query_ok(f->db, NULL, 0, TU_FULL, TU_BOTH, &q);
    assert_int_equal(q.n, 3);
    tu_assert_series(&q, &a, sa, 300);
    tu_assert_inorder_chunks(tu_find_series(&q, &a), sa, 300, TU_BLOCK_MS);
    promstore_sample wantb[3] = {sb[0], sb[1], sc[0]};
    tu_assert_series(&q, &b, wantb, 3);
    tu_assert_series(&q, &c, sc, 1);
    tu_result_free(&q);
    free(sa);
}

static void test_snapshot(void **state)
{
    tu_store *f = *state;
    tu_lset s = LS("__name__", "snap", "k", "s", NULL), t = LS("__name__", "snap", "k", "t", NULL);
    tu_lset u = LS("__name__", "snap", "k", "u", NULL);
    promstore_sample ss[3] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3)};
    promstore_sample ts[1] = {SMP(1000, 10)};
    promstore_series b1[2] = {SER(&s, ss, 3), SER(&t, ts, 1)};
    tu_append_ok(f->db, b1, 2);

    promstore_error err;
    promstore_series_iter *before = NULL, *partial = NULL, *after = NULL;
    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &before, &err), PROMSTORE_OK);
    /* partial has read into the first series before the append. */
    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &partial, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(partial, &err), PROMSTORE_OK);
    promstore_sample x;
    assert_int_equal(promstore_series_iter_sample(partial, &x, &err), PROMSTORE_OK);
    assert_int_equal(x.timestamp_ms, 1000);

    promstore_sample s2[2] = {SMP(4000, 4), SMP(5000, 5)};
    promstore_sample t2[1] = {SMP(2000, 20)};
    promstore_sample us[1] = {SMP(1500, 100)};
    promstore_series b2[3] = {SER(&s, s2, 2), SER(&t, t2, 1), SER(&u, us, 1)};
    tu_append_ok(f->db, b2, 3); /* the open iterators do not block it */

    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &after, &err), PROMSTORE_OK);

    /* before: the old view, whole. */
    size_t n = 0;
    size_t counts[4] = {0};
    while (promstore_series_iter_next(before, &err) == PROMSTORE_OK) {
        assert_true(n < 4);
        while (promstore_series_iter_sample(before, &x, &err) == PROMSTORE_OK)
            counts[n]++;
        size_t nc = 0;
        promstore_chunk c;
        size_t in_chunks = 0;
        while (promstore_series_iter_chunk(before, &c, &err) == PROMSTORE_OK) {
            nc++;
            in_chunks += tu_xor_count(c.data, c.data_len);
            assert_true(c.max_time_ms <= 3000);
        }
        assert_true(nc >= 1);
        assert_int_equal(in_chunks, counts[n]); /* the chunk bytes are the old ones too */
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 1);
    promstore_series_iter_close(before);

    /* partial: continues in the old view. */
    size_t rest = 0;
    while (promstore_series_iter_sample(partial, &x, &err) == PROMSTORE_OK)
        rest++;
    assert_int_equal(rest, 2);
    assert_int_equal(promstore_series_iter_next(partial, &err), PROMSTORE_OK);
    rest = 0;
    while (promstore_series_iter_sample(partial, &x, &err) == PROMSTORE_OK)
        rest++;
    assert_int_equal(rest, 1);
    assert_int_equal(promstore_series_iter_next(partial, &err), PROMSTORE_DONE);
    promstore_series_iter_close(partial);

    /* after: the new view. */
    n = 0;
    memset(counts, 0, sizeof counts);
    while (promstore_series_iter_next(after, &err) == PROMSTORE_OK) {
        assert_true(n < 4);
        while (promstore_series_iter_sample(after, &x, &err) == PROMSTORE_OK)
            counts[n]++;
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(counts[0], 5);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 1);
    promstore_series_iter_close(after);

    /* A label iterator is a snapshot too. */
    promstore_string_iter *vit = NULL;
    assert_int_equal(promstore_label_values(f->db, "k", 1, NULL, 0, TU_FULL, &vit, &err),
                     PROMSTORE_OK);
    tu_lset v = LS("__name__", "snap", "k", "v", NULL);
    tu_append1_ok(f->db, &v, us, 1);
    TU_ASSERT_STRS(tu_strings(vit), "s|t|u");
    TU_ASSERT_STRS(tu_label_values(f->db, "k", NULL, 0, TU_FULL), "s|t|u|v");
}

static void test_iterator_misuse(void **state)
{
    tu_store *f = *state;
    tu_lset s = LS("__name__", "mis", NULL);
    promstore_sample smp[1] = {SMP(1000, 1)};
    tu_append1_ok(f->db, &s, smp, 1);
    promstore_series_iter *it = NULL;
    promstore_error err;
    const promstore_label *l = NULL;
    size_t n = 0;
    promstore_sample x;
    promstore_chunk c;
    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &it, &err), PROMSTORE_OK);
    /* No series is current before the first next. */
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_E_MISUSE);
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_E_MISUSE);
    assert_int_equal(err.status, PROMSTORE_E_MISUSE);
    assert_int_equal(promstore_series_iter_chunk(it, &c, &err), PROMSTORE_E_MISUSE);
    /* The iterator still works after the refused calls. */
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_DONE);
    /* Nor after the last one. */
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_E_MISUSE);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_E_MISUSE);
    promstore_series_iter_close(it);

    /* A successful call leaves *err untouched. */
    memset(&err, 0, sizeof err);
    err.status = (promstore_status)777;
    strcpy(err.message, "sentinel");
    assert_int_equal(promstore_query(f->db, NULL, 0, TU_FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_chunk(it, &c, &err), PROMSTORE_OK);
    promstore_series_iter_close(it);
    promstore_series ser = SER(&s, (promstore_sample[]){SMP(2000, 2)}, 1);
    assert_int_equal(promstore_append(f->db, &ser, 1, NULL, &err), PROMSTORE_OK);
    promstore_stats st = {.struct_size = sizeof st};
    assert_int_equal(promstore_stats_get(f->db, &st, &err), PROMSTORE_OK);
    assert_int_equal(err.status, 777);
    assert_string_equal(err.message, "sentinel");
}

int main(int argc, char **argv)
{
    tu_backend_from_argv(argc, argv);
    const struct CMUnitTest tests[] = {
        TU_TEST(test_roundtrip_values),
        TU_TEST(test_codec_edges),
        TU_TEST(test_long_labels),
        TU_TEST(test_time_range_inclusive),
        TU_TEST(test_negative_timestamps),
        TU_TEST(test_matchers),
        TU_TEST(test_bad_matchers),
        TU_TEST(test_sort_order),
        TU_TEST(test_many_series),
        TU_TEST(test_label_validation),
        TU_TEST(test_long_message_truncated),
        TU_TEST(test_legacy_names),
        TU_TEST(test_empty_value_dropped),
        TU_TEST(test_same_series_in_batch),
        TU_TEST(test_many_samples_chunks_blocks),
        TU_TEST(test_chunk_cursor),
        TU_TEST(test_block_duration_fixed_at_creation),
        TU_TEST(test_bad_options),
        TU_TEST(test_out_of_order_no_window),
        TU_TEST(test_retried_batch_is_duplicate),
        TU_TEST(test_out_of_order_window),
        TU_TEST(test_out_of_order_duplicates),
        TU_TEST(test_out_of_order_window_many),
        TU_TEST(test_label_names_values),
        TU_TEST(test_series_without_samples),
        TU_TEST(test_stats),
        TU_TEST(test_limits),
        TU_TEST(test_reopen),
        TU_TEST(test_snapshot),
        TU_TEST(test_iterator_misuse),
    };
    return cmocka_run_group_tests_name(tu_group_name("engine"), tests, NULL, NULL);
}
