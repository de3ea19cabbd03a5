/*
 * test_read_budget.c -- what one read may cost (plugin/engine/budget.h), on a
 * real store of each backend: `test_read_budget lmdb|sqlite`.
 *
 *   - max_matchers_per_query: a query with more matchers fails with
 *     PROMSTORE_E_LIMIT naming the cap, one at the cap is answered;
 *   - max_work_per_read: a costly regex over many values, and a selection of
 *     many series, end with PROMSTORE_E_LIMIT naming the budget (and the
 *     matcher that spent it) where an unlimited budget answers them all;
 *   - read_deadline_ms: a read that works past its deadline fails naming it;
 *   - a range holding no sample of the store is answered empty without
 *     visiting a single series (white-box: the budget's counters, through
 *     engine.h's ps_query_open), and a range holding data is still answered.
 *
 * The ABI cases go through promstore_query; only the counters need the
 * engine's inside (engine.h, store.h for the handle).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine.h"
#include "helpers.h"
#include "promstore.h"

/* 40 a's: the value on which (a*)*b|.* makes PCRE2's backtracker give up. */
#define AS40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* n series cost{job=AS40-<i>} with one sample at TU_T0. */
static void costly_values(promstore *db, int n)
{
    promstore_sample s = SMP(TU_T0, 1);
    for (int i = 0; i < n; i++) {
        char job[64];
        snprintf(job, sizeof job, "%s-%d", AS40, i);
        tu_lset ls = LS("__name__", "cost", "job", job, NULL);
        tu_append1_ok(db, &ls, &s, 1);
    }
}

/* n series many{i=<i>}, each with samples at TU_T0 and TU_T0 + 1000. */
static void many_series(promstore *db, int n)
{
    promstore_sample s[2] = {SMP(TU_T0, 1), SMP(TU_T0 + 1000, 2)};
    enum { BATCH = 500 };
    char(*vals)[16] = tu_calloc(BATCH, sizeof *vals);
    tu_lset *ls = tu_calloc(BATCH, sizeof *ls);
    promstore_series *ser = tu_calloc(BATCH, sizeof *ser);
    for (int done = 0; done < n;) {
        int k = 0;
        for (; k < BATCH && done < n; k++, done++) {
            snprintf(vals[k], sizeof vals[k], "%06d", done);
            ls[k] = LS("__name__", "many", "i", vals[k], NULL);
            ser[k] = SER(&ls[k], s, 2);
        }
        tu_append_ok(db, ser, (size_t)k);
    }
    free(vals);
    free(ls);
    free(ser);
}

/* promstore_query + read to the end: the status, with the message in *err. */
static promstore_status read_all(promstore *db, const promstore_matcher *m, size_t n,
                                 int64_t mint, int64_t maxt, size_t *series,
                                 promstore_error *err)
{
    tu_result r = {0};
    promstore_status st = tu_query_collect(db, m, n, mint, maxt, TU_SAMPLES, &r, err);
    if (series)
        *series = r.n;
    tu_result_free(&r);
    return st;
}

static void expect_limit(promstore_status st, const promstore_error *err, const char *needle)
{
    if (st != PROMSTORE_E_LIMIT || strstr(err->message, needle) == NULL)
        fail_msg("want PROMSTORE_E_LIMIT naming %s, got %d: %s", needle, st, err->message);
    print_message("  %s\n", err->message);
}

static void test_matchers_cap(void **state)
{
    tu_store *f = *state;
    promstore_options d;
    promstore_options_init(&d);
    assert_int_equal(d.max_matchers_per_query, 64);
    f->opts.max_matchers_per_query = 3;
    tu_store_reopen(f);
    many_series(f->db, 3);
    promstore_matcher m[4] = {MT(PROMSTORE_MATCH_EQ, "__name__", "many"),
                              MT(PROMSTORE_MATCH_NEQ, "i", "x"),
                              MT(PROMSTORE_MATCH_NEQ, "i", "y"),
                              MT(PROMSTORE_MATCH_NEQ, "i", "z")};
    promstore_error err = {0};
    size_t n = 0;
    assert_int_equal(read_all(f->db, m, 3, TU_FULL, &n, &err), PROMSTORE_DONE);
    assert_int_equal(n, 3);
    promstore_series_iter *it = (promstore_series_iter *)&err; /* must be cleared */
    promstore_status st = promstore_query(f->db, m, 4, TU_FULL, &it, &err);
    assert_null(it);
    expect_limit(st, &err, "4 matchers, more than max_matchers_per_query (3)");
    /* The label calls walk a query too. */
    promstore_string_iter *names = NULL;
    expect_limit(promstore_label_names(f->db, m, 4, TU_FULL, &names, &err), &err,
                 "more than max_matchers_per_query (3)");
    assert_null(names);
    expect_limit(promstore_label_values(f->db, "i", 1, m, 4, TU_FULL, &names, &err), &err,
                 "more than max_matchers_per_query (3)");
    assert_null(names);
    /* 0: no cap. */
    f->opts.max_matchers_per_query = 0;
    tu_store_reopen(f);
    assert_int_equal(read_all(f->db, m, 4, TU_FULL, &n, &err), PROMSTORE_DONE);
    assert_int_equal(n, 3);
}

/*
 * 60 values on which the backtracker gives up, each costing its match limit
 * (1,000,000 steps): a budget of 5,000,000 ends the read within a few
 * values, naming itself and the matcher; no budget answers all 60.
 */
static void test_work_budget_regex(void **state)
{
    tu_store *f = *state;
    f->opts.max_work_per_read = 5000000;
    tu_store_reopen(f);
    costly_values(f->db, 60);
    promstore_matcher m[2] = {MT(PROMSTORE_MATCH_EQ, "__name__", "cost"),
                              MT(PROMSTORE_MATCH_RE, "job", "(a*)*b|.*")};
    promstore_error err = {0};
    expect_limit(read_all(f->db, m, 2, TU_FULL, NULL, &err), &err,
                 "matcher job=~\"(a*)*b|.*\": read work budget spent: more than 5000000 "
                 "steps (max_work_per_read)");

    /* White-box: it stopped after the value that spent it, not at the end. */
    ps_selector *sel = NULL;
    assert_int_equal(ps_selector_compile(m, 2, &sel, &err), PROMSTORE_OK);
    ps_read_budget b;
    ps_read_budget_start(f->db, &b);
    promstore_series_iter *it = NULL;
    assert_int_equal(ps_query_open(f->db, sel, TU_FULL, &b, &it, &err), PROMSTORE_E_LIMIT);
    ps_selector_free(sel);
    assert_int_equal(b.values_tried, 5);
    assert_true(b.work > b.limit);

    f->opts.max_work_per_read = 0;
    tu_store_reopen(f);
    size_t n = 0;
    assert_int_equal(read_all(f->db, m, 2, TU_FULL, &n, &err), PROMSTORE_DONE);
    assert_int_equal(n, 60);
}

/*
 * 300 series of one chunk each: the selection reads 301 postings entries
 * (the pair's lookup and each id) and each series loaded costs 2, so 901
 * steps in all. 500 is spent while the series are walked, not while they
 * are selected: the error comes from promstore_series_iter_next.
 */
static void test_work_budget_series(void **state)
{
    tu_store *f = *state;
    f->opts.max_work_per_read = 500;
    tu_store_reopen(f);
    many_series(f->db, 300);
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "many");
    promstore_error err = {0};
    promstore_series_iter *it = NULL;
    assert_int_equal(promstore_query(f->db, &m, 1, TU_FULL, &it, &err), PROMSTORE_OK);
    promstore_status st;
    size_t n = 0;
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK)
        n++;
    promstore_series_iter_close(it);
    expect_limit(st, &err, "more than 500 steps (max_work_per_read)");
    assert_int_equal(n, (500 - 301) / 2);

    f->opts.max_work_per_read = 901;
    tu_store_reopen(f);
    assert_int_equal(read_all(f->db, &m, 1, TU_FULL, &n, &err), PROMSTORE_DONE);
    assert_int_equal(n, 300);
}

/* A read that works past read_deadline_ms fails naming it; one within it does not. */
static void test_deadline(void **state)
{
    tu_store *f = *state;
    promstore_options d;
    promstore_options_init(&d);
    assert_int_equal(d.read_deadline_ms, 120000);
    f->opts.read_deadline_ms = -1;
    promstore *db = NULL;
    promstore_error err = {0};
    assert_int_equal(promstore_open(&f->opts, &db, &err), PROMSTORE_E_INVALID);
    assert_non_null(strstr(err.message, "read_deadline_ms"));

    f->opts.read_deadline_ms = 5;
    tu_store_reopen(f);
    many_series(f->db, 10);
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "many");
    size_t n = 0;
    promstore_series_iter *it = NULL;
    assert_int_equal(promstore_query(f->db, &m, 1, TU_FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    /* 20 ms later the deadline, 5 ms after the open, has passed. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    expect_limit(promstore_series_iter_next(it, &err), &err,
                 "the read worked longer than 5 ms without yielding a series (read_deadline_ms)");
    promstore_series_iter_close(it);

    /*
     * A read that keeps yielding is never cut, however long it lasts: 8
     * series 60 ms apart take 480 ms against a 200 ms deadline, which
     * restarts with each series (a deadline on the whole read cut every
     * long streamed read of tests/readstorm).
     */
    f->opts.read_deadline_ms = 200;
    tu_store_reopen(f);
    assert_int_equal(promstore_query(f->db, &m, 1, TU_FULL, &it, &err), PROMSTORE_OK);
    struct timespec gap = {0, 60 * 1000 * 1000};
    n = 0;
    promstore_status st;
    while (n < 8 && (st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        n++;
        nanosleep(&gap, NULL);
    }
    promstore_series_iter_close(it);
    if (n != 8)
        fail_msg("a steady read was cut after %zu series: %s", n, err.message);
    n = 0;

    f->opts.read_deadline_ms = 0; /* none */
    tu_store_reopen(f);
    assert_int_equal(promstore_query(f->db, &m, 1, TU_FULL, &it, &err), PROMSTORE_OK);
    nanosleep(&pause, NULL);
    while (promstore_series_iter_next(it, &err) == PROMSTORE_OK)
        n++;
    promstore_series_iter_close(it);
    assert_int_equal(n, 10);
}

/* Series visited and steps counted by one query over [mint, maxt]; *n its series. */
static ps_read_budget count_work(promstore *db, const promstore_matcher *m, size_t nm,
                                 int64_t mint, int64_t maxt, size_t *n)
{
    promstore_error err = {0};
    ps_selector *sel = NULL;
    assert_int_equal(ps_selector_compile(m, nm, &sel, &err), PROMSTORE_OK);
    ps_read_budget b;
    ps_read_budget_start(db, &b);
    promstore_series_iter *it = NULL;
    promstore_status st = ps_query_open(db, sel, mint, maxt, &b, &it, &err);
    ps_selector_free(sel);
    if (st != PROMSTORE_OK)
        fail_msg("ps_query_open: %d: %s", st, err.message);
    *n = 0;
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK)
        ++*n;
    promstore_series_iter_close(it);
    assert_int_equal(st, PROMSTORE_DONE);
    return b;
}

/*
 * A range that holds no sample of the store (before its first, after its
 * last) is answered empty at once: no series visited, no work counted. A
 * range with data still visits and answers every series; so does one that
 * data written after the first query moved into the store's range.
 */
static void test_empty_range_visits_nothing(void **state)
{
    tu_store *f = *state;
    enum { N = 2000 };
    many_series(f->db, N);
    promstore_matcher m[2] = {MT(PROMSTORE_MATCH_EQ, "__name__", "many"),
                              MT(PROMSTORE_MATCH_RE, "i", "0.*")};
    size_t n = 0;
    for (size_t nm = 1; nm <= 2; nm++) {
        ps_read_budget b = count_work(f->db, m, nm, TU_T0 + 1001, TU_T0 + 9000000, &n);
        assert_int_equal(n, 0);
        assert_int_equal(b.series_visited, 0);
        assert_int_equal(b.values_tried, 0);
        assert_int_equal(b.work, 0);
        b = count_work(f->db, m, nm, INT64_MIN, TU_T0 - 1, &n);
        assert_int_equal(n, 0);
        assert_int_equal(b.series_visited, 0);
        assert_int_equal(b.work, 0);
        /* The edges hold data. */
        b = count_work(f->db, m, nm, TU_T0 + 1000, INT64_MAX, &n);
        assert_int_equal(n, N);
        assert_int_equal(b.series_visited, N);
        b = count_work(f->db, m, nm, INT64_MIN, TU_T0, &n);
        assert_int_equal(n, N);
    }
    /* Through the ABI too, and no store-wide figure hides a sample written later. */
    assert_int_equal(tu_count_series(f->db, m, 1, TU_T0 + 5000, TU_T0 + 6000), 0);
    tu_lset ls = LS("__name__", "many", "i", "late", NULL);
    promstore_sample late = SMP(TU_T0 + 5500, 3);
    tu_append1_ok(f->db, &ls, &late, 1);
    assert_int_equal(tu_count_series(f->db, m, 1, TU_T0 + 5000, TU_T0 + 6000), 1);
    /* An empty store answers every range without visiting anything. */
    tu_store_recreate(f);
    ps_read_budget b = count_work(f->db, m, 1, TU_FULL, &n);
    assert_int_equal(n, 0);
    assert_int_equal(b.work, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_matchers_cap),
        TU_TEST(test_work_budget_regex),
        TU_TEST(test_work_budget_series),
        TU_TEST(test_deadline),
        TU_TEST(test_empty_range_visits_nothing),
    };
    return TU_RUN(argc, argv, "read_budget", tests);
}
