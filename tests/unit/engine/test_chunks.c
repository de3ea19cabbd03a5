/*
 * test_chunks.c -- the engine: batches, chunks and blocks.
 * Through the public ABI only (promstore.h, linked against libpromstore.so),
 * run once per backend: `test_engine_chunks lmdb` and `test_engine_chunks sqlite`.
 *
 *   - one series several times in a batch, 1000 samples across chunk and block
 *     boundaries, chunks of at most 120 samples inside one block each;
 *   - the raw chunk cursor: chunks are decoded by an independent XOR decoder
 *     (helpers.c, written from PROTOCOL.md 3.4) and must hold exactly the
 *     samples; sub-ranges give the same chunk bytes; the sample and chunk
 *     cursors are independent;
 *   - the XOR encoding's edge cases (delta-of-delta buckets, value windows,
 *     the ends of the int64 range), appended at once and one at a time;
 *   - the block duration fixed at creation; bad options refused.
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
    promstore_sample os[3] = {SMP(TU_T0, 1), SMP(TU_T0 + TU_BLOCK_MS, 2),
                              SMP(TU_T0 + 2 * TU_BLOCK_MS, 3)};
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
    tu_assert_stored(f->db, &s, smp, N);
    /* Appended one at a time (the stored appender state resumes each time). */
    tu_lset s2 = LS("__name__", "codec1", NULL);
    for (size_t i = 0; i < N; i++)
        tu_append1_ok(f->db, &s2, &smp[i], 1);
    tu_store_reopen(f);
    tu_result q;
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

    /* Extreme timestamps: the ends of the int64 range are valid (with no future limit). */
    f->opts.max_future_ms = 0;
    tu_store_reopen(f);
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_codec_edges),
        TU_TEST(test_same_series_in_batch),
        TU_TEST(test_many_samples_chunks_blocks),
        TU_TEST(test_chunk_cursor),
        TU_TEST(test_block_duration_fixed_at_creation),
        TU_TEST(test_bad_options),
    };
    return TU_RUN(argc, argv, "engine_chunks", tests);
}
