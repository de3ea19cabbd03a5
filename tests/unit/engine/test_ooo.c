/*
 * test_ooo.c -- the engine: out-of-order samples and duplicates.
 * Through the public ABI only (promstore.h, linked against libpromstore.so),
 * run once per backend: `test_engine_ooo lmdb` and `test_engine_ooo sqlite`.
 *
 *   - out-of-order rules without and with a window (also across reopen);
 *   - duplicates: a retried batch, the same sample twice in a batch, clashes
 *     with stored in-order and out-of-order samples; the append result counts;
 *   - many out-of-order samples across a block boundary, and what stats.chunks
 *     counts of them.
 *
 * The engine's tests through the ABI are test_append.c, test_chunks.c,
 * test_query.c, test_ooo.c, test_labelnames.c and test_stats.c; what they
 * share is in ../helpers.h.
 */
#define _GNU_SOURCE
#include <inttypes.h>
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
    tu_assert_stored(f->db, &s, want, n);
    /* A range that only out-of-order samples fall in. */
    tu_result q;
    tu_query_ok(f->db, NULL, 0, 189000, 189999, TU_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    tu_assert_samples_equal(q.s[0].samples, q.s[0].n_samples, &in[2], 1, "ooo only range");
    tu_result_free(&q);
    assert_int_equal(tu_stats(f->db).samples, n);

    /* Across a reopen: the same, and the window still measured from 200000. */
    tu_store_reopen(f);
    tu_assert_stored(f->db, &s, want, n);
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
    assert_int_equal(
        promstore_append(f->db, &(promstore_series){s.l, s.n, &now_old, 1}, 1, &r, &err),
        PROMSTORE_E_OUT_OF_ORDER);
    tu_append1_ok(f->db, &s, &now_ok, 1);
    want[n++] = more;
    want[n++] = newer;
    want[n++] = now_ok;
    qsort(want, n, sizeof *want, tu_sample_cmp);
    tu_store_reopen(f);
    tu_assert_stored(f->db, &s, want, n);
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
    promstore_status st =
        promstore_append(f->db, &(promstore_series){s.l, s.n, &clash, 1}, 1, &r, &err);
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
    tu_assert_stored(f->db, &s, want, n);
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_out_of_order_no_window),
        TU_TEST(test_retried_batch_is_duplicate),
        TU_TEST(test_out_of_order_window),
        TU_TEST(test_out_of_order_duplicates),
        TU_TEST(test_out_of_order_window_many),
    };
    return TU_RUN(argc, argv, "engine_ooo", tests);
}
