/*
 * test_series_merge.c -- the per-series merge, white-box: ps_series_merge
 * (plugin/engine/series_merge.h) gathering one series' chunks and
 * out-of-order samples in a range and handing them out through its sample
 * and chunk cursors, on a real store of each backend:
 * `test_series_merge lmdb|sqlite`.
 *
 * The ABI suites (test_ooo.c, test_chunks.c) see the merge only where the
 * write path can lead it. Here the store is also written below the write
 * path, with the schema's own records, to pin what it cannot reach:
 *   - an instant stored both in a chunk and as an out-of-order sample: the
 *     sample cursor yields the in-order sample, once; the chunk cursor hands
 *     out both, the out-of-order one encoded on load, ordered by min time;
 *   - a chunk overlapping the range with no sample inside it: the series
 *     loads as having no sample in range, so a query skips it;
 *   - the buffers are reused from series to series: once they have grown,
 *     neither cursor allocates, and a load allocates no more for ten chunks
 *     than for one.
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
#include "keys.h"
#include "labels.h"
#include "mem.h"
#include "series_merge.h"
#include "store.h"

/* The series id of label set ls, through series_key (ls normalised, key whole). */
static uint64_t id_of(promstore *db, const tu_lset *ls)
{
    tu_lset norm = tu_lset_norm(ls);
    uint8_t key[PS_SKEY_MAX];
    size_t klen = ps_labels_key_size(norm.l, norm.n);
    assert_true(klen <= sizeof key);
    ps_labels_key_encode(norm.l, norm.n, key);
    promstore_error err = {0};
    ps_txn *txn = NULL;
    ps_skey_rec r;
    uint64_t id = 0;
    assert_int_equal(ps_txn_begin(&db->sch, 0, &txn, &err), PROMSTORE_OK);
    promstore_status st = ps_skey_get(&db->sch, txn, key, klen, &r, &err);
    if (st == PROMSTORE_OK && r.n_ids == 1)
        id = ps_skey_id(&r, 0);
    ps_txn_abort(&db->sch, txn);
    assert_int_equal(st, PROMSTORE_OK);
    assert_int_not_equal(id, 0);
    return id;
}

/* Store out-of-order samples of series id as the write path would file them. */
static void put_ooo(promstore *db, uint64_t id, const promstore_sample *s, size_t n)
{
    promstore_error err = {0};
    ps_txn *txn = NULL;
    assert_int_equal(ps_txn_begin(&db->sch, 1, &txn, &err), PROMSTORE_OK);
    promstore_status st = PROMSTORE_OK;
    for (size_t i = 0; i < n && st == PROMSTORE_OK; i++) {
        ps_ooo_rec r = {ps_block_of(s[i].timestamp_ms, db->block_ms), id, s[i].timestamp_ms,
                        s[i].value_bits};
        st = ps_ooo_put(&db->sch, txn, &r, &err);
    }
    if (st == PROMSTORE_OK)
        st = ps_txn_commit(&db->sch, txn, &err);
    else
        ps_txn_abort(&db->sch, txn);
    if (st != PROMSTORE_OK)
        fail_msg("ooo put: %s", err.message);
}

/* What one load gave: has_samples, its samples and its chunks (decoded). */
#define CAP 2048
typedef struct loaded {
    int has_samples;
    promstore_sample samples[CAP];
    size_t n_samples;
    promstore_chunk chunks[16]; /* data pointing into chunk_samples: see below */
    size_t n_chunks;
    promstore_sample chunk_samples[16][PS_CHUNK_SAMPLES];
    long chunk_n[16]; /* tu_xor_decode of each chunk */
    promstore_status rc;
    char message[PROMSTORE_ERROR_MESSAGE_MAX];
} loaded;

/* Load series id into an open merge and read both cursors to their ends. */
static void load_and_read(ps_series_merge *m, uint64_t id, loaded *out)
{
    promstore_error err = {0};
    memset(out, 0, sizeof *out);
    out->rc = ps_series_merge_load(m, id, NULL, 0, &out->has_samples, &err);
    while (out->rc == PROMSTORE_OK && out->n_samples < CAP &&
           (out->rc = ps_series_merge_sample(m, &out->samples[out->n_samples], &err)) ==
               PROMSTORE_OK)
        out->n_samples++;
    if (out->rc == PROMSTORE_DONE)
        out->rc = PROMSTORE_OK;
    promstore_chunk c;
    while (out->rc == PROMSTORE_OK && out->n_chunks < 16 &&
           ps_series_merge_chunk(m, &c) == PROMSTORE_OK) {
        out->chunk_n[out->n_chunks] =
            tu_xor_decode(c.data, c.data_len, out->chunk_samples[out->n_chunks], PS_CHUNK_SAMPLES);
        c.data = NULL; /* valid only until the next load */
        out->chunks[out->n_chunks++] = c;
    }
    snprintf(out->message, sizeof out->message, "%s", err.message);
}

/* Open a merge over [mint, maxt] in a new read transaction, load series id, read it all. */
static loaded *read_series(promstore *db, uint64_t id, int64_t mint, int64_t maxt)
{
    loaded *out = tu_calloc(1, sizeof *out);
    promstore_error err = {0};
    ps_txn *txn = NULL;
    ps_series_merge m;
    memset(&m, 0, sizeof m);
    promstore_status st = ps_txn_begin(&db->sch, 0, &txn, &err);
    if (st == PROMSTORE_OK)
        st = ps_series_merge_open(&m, &db->sch, txn, db->block_ms, mint, maxt, &err);
    if (st == PROMSTORE_OK)
        load_and_read(&m, id, out);
    ps_series_merge_close(&m);
    ps_txn_abort(&db->sch, txn);
    if (st == PROMSTORE_OK && out->rc != PROMSTORE_OK)
        st = out->rc, snprintf(err.message, sizeof err.message, "%s", out->message);
    if (st != PROMSTORE_OK) {
        free(out);
        fail_msg("merge: %d (%s): %s", st, promstore_strerror(st), err.message);
    }
    return out;
}

/* read_series into the fixture's memory, so that a failing check leaks nothing. */
static loaded *read_into(tu_store *f, uint64_t id, int64_t mint, int64_t maxt)
{
    free(f->mem);
    f->mem = NULL;
    return f->mem = read_series(f->db, id, mint, maxt);
}

static void assert_chunk(const loaded *l, size_t i, int64_t mint, int64_t maxt,
                         const promstore_sample *want, size_t n)
{
    assert_true(i < l->n_chunks);
    assert_int_equal(l->chunks[i].min_time_ms, mint);
    assert_int_equal(l->chunks[i].max_time_ms, maxt);
    assert_int_equal(l->chunk_n[i], (long)n);
    tu_assert_samples_equal(l->chunk_samples[i], n, want, n, "chunk");
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */
/* ------------------------------------------------------------------------ */

static void test_same_instant_twice(void **state)
{
    tu_store *f = *state;
    tu_lset ls = LS("__name__", "twice", NULL);
    promstore_sample stored[3] = {SMP(10000, 1), SMP(20000, 2), SMP(30000, 3)};
    tu_append1_ok(f->db, &ls, stored, 3);
    uint64_t id = id_of(f->db, &ls);
    /* 20000 is also an in-order instant: the write path would refuse it. */
    promstore_sample ooo[2] = {SMP(15000, 7), SMP(20000, 99)};
    put_ooo(f->db, id, ooo, 2);

    loaded *l = read_into(f, id, TU_FULL);
    assert_true(l->has_samples);
    promstore_sample merged[4] = {stored[0], ooo[0], stored[1], stored[2]};
    tu_assert_samples_equal(l->samples, l->n_samples, merged, 4, "samples");
    /* The chunks as stored, and the out-of-order samples as one of their own. */
    assert_int_equal(l->n_chunks, 2);
    assert_chunk(l, 0, 10000, 30000, stored, 3);
    assert_chunk(l, 1, 15000, 20000, ooo, 2);

    /* A range inside: samples clipped to it, every chunk overlapping it. */
    l = read_into(f, id, 12000, 25000);
    promstore_sample inside[2] = {ooo[0], stored[1]};
    tu_assert_samples_equal(l->samples, l->n_samples, inside, 2, "samples in [12000, 25000]");
    assert_int_equal(l->n_chunks, 2);
    assert_chunk(l, 0, 10000, 30000, stored, 3);
    assert_chunk(l, 1, 15000, 20000, ooo, 2);
}

static void test_chunk_around_the_range(void **state)
{
    tu_store *f = *state;
    tu_lset ls = LS("__name__", "gap", NULL);
    promstore_sample s[2] = {SMP(100000, 1), SMP(200000, 2)};
    tu_append1_ok(f->db, &ls, s, 2); /* one head chunk, [100000, 200000] */
    uint64_t id = id_of(f->db, &ls);

    /* Overlapping, but no sample inside: nothing in range. */
    loaded *l = read_into(f, id, 120000, 180000);
    assert_false(l->has_samples);
    assert_int_equal(l->n_samples, 0);
    /* One sample inside. */
    l = read_into(f, id, 100000, 180000);
    assert_true(l->has_samples);
    tu_assert_samples_equal(l->samples, l->n_samples, s, 1, "samples in [100000, 180000]");
    /* Not overlapping at all: not even the chunk. */
    l = read_into(f, id, 210000, 300000);
    assert_false(l->has_samples);
    assert_int_equal(l->n_chunks, 0);
}

/*
 * The hot path: once the merge's buffers have grown, reading samples and
 * chunks allocates nothing, and loading a series of ten chunks allocates no
 * more than loading one of one chunk (what is left is the backend's cursors,
 * one per table read, whatever the chunk count).
 */
static void test_buffers_reused(void **state)
{
    tu_store *f = *state;
    enum { BIG = 1200 };
    tu_lset big = LS("__name__", "big", NULL), small = LS("__name__", "small", NULL);
    promstore_sample *ramp = tu_ramp(TU_T0, 1000, BIG, 0);
    promstore_sample ends[2] = {ramp[0], ramp[BIG - 1]};
    tu_append1_ok(f->db, &big, ramp, BIG);
    tu_append1_ok(f->db, &small, ends, 2);
    free(ramp);
    uint64_t big_id = id_of(f->db, &big), small_id = id_of(f->db, &small);

    loaded *l = f->mem = tu_calloc(1, sizeof *l);
    promstore_error err = {0};
    ps_txn *txn = NULL;
    ps_series_merge m;
    assert_int_equal(ps_txn_begin(&f->db->sch, 0, &txn, &err), PROMSTORE_OK);
    promstore_status st = ps_series_merge_open(&m, &f->db->sch, txn, f->db->block_ms, TU_FULL, &err);
    uint64_t count[6] = {0};
    size_t n_big = 0, chunks_big = 0, n_small = 0, chunks_small = 0;
    if (st == PROMSTORE_OK) {
        load_and_read(&m, big_id, l); /* the buffers grow here */
        count[0] = ps_mem_count();
        st = ps_series_merge_load(&m, big_id, NULL, 0, &l->has_samples, &err);
        count[1] = ps_mem_count();
        promstore_sample s;
        promstore_chunk c;
        while (st == PROMSTORE_OK && ps_series_merge_sample(&m, &s, &err) == PROMSTORE_OK)
            n_big++;
        while (st == PROMSTORE_OK && ps_series_merge_chunk(&m, &c) == PROMSTORE_OK)
            chunks_big++;
        count[2] = ps_mem_count();
        if (st == PROMSTORE_OK)
            st = ps_series_merge_load(&m, small_id, NULL, 0, &l->has_samples, &err);
        count[3] = ps_mem_count();
        while (st == PROMSTORE_OK && ps_series_merge_sample(&m, &s, &err) == PROMSTORE_OK)
            n_small++;
        while (st == PROMSTORE_OK && ps_series_merge_chunk(&m, &c) == PROMSTORE_OK)
            chunks_small++;
        count[4] = ps_mem_count();
    }
    ps_series_merge_close(&m);
    ps_txn_abort(&f->db->sch, txn);
    if (st != PROMSTORE_OK)
        fail_msg("merge: %s", err.message);
    assert_int_equal(n_big, BIG);
    assert_int_equal(chunks_big, BIG / PS_CHUNK_SAMPLES);
    assert_int_equal(n_small, 2); /* nothing of the big series left over */
    assert_int_equal(chunks_small, 1);
    print_message("allocations: load of %zu chunks %llu, of 1 chunk %llu; reading %llu, %llu\n",
                  chunks_big, (unsigned long long)(count[1] - count[0]),
                  (unsigned long long)(count[3] - count[2]),
                  (unsigned long long)(count[2] - count[1]),
                  (unsigned long long)(count[4] - count[3]));
    assert_int_equal(count[2], count[1]); /* reading: nothing */
    assert_int_equal(count[4], count[3]);
    assert_int_equal(count[1] - count[0], count[3] - count[2]); /* not per chunk */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_same_instant_twice),
        TU_TEST(test_chunk_around_the_range),
        TU_TEST(test_buffers_reused),
    };
    return TU_RUN(argc, argv, "series_merge", tests);
}
