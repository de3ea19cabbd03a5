/*
 * test_stats.c -- the engine: statistics, limits, reopen and snapshots.
 * Through the public ABI only (promstore.h, linked against libpromstore.so),
 * run once per backend: `test_engine_stats lmdb` and `test_engine_stats sqlite`.
 *
 *   - statistics, also after a reopen; per-query limits; reopen keeps
 *     everything and appending goes on;
 *   - snapshot isolation of series and label iterators; iterator misuse; a
 *     successful call leaves *err untouched.
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
#include <strings.h>

#include <cmocka.h>

#include "helpers.h"
#include "promstore.h"

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
    const struct CMUnitTest tests[] = {
        TU_TEST(test_stats),
        TU_TEST(test_limits),
        TU_TEST(test_reopen),
        TU_TEST(test_snapshot),
        TU_TEST(test_iterator_misuse),
    };
    return TU_RUN(argc, argv, "engine_stats", tests);
}
