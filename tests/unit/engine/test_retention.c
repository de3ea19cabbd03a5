/*
 * test_retention.c -- retention through the public ABI (promstore.h only), run
 * once per backend (argv[1] is "lmdb" or "sqlite").
 *
 * Covers:
 *   - promstore_apply_retention() over several small blocks: blocks wholly
 *     older than the cutoff vanish, a block straddling the cutoff stays whole,
 *     series left without data vanish from queries, label names/values and
 *     stats, and the result counts equal the ones computed from the workload;
 *     a second call with the same cutoff drops nothing.
 *   - out-of-order samples go with the blocks they fall in.
 *   - a query opened before retention keeps reading its snapshot.
 *   - automatic time retention (retention_time_ms) after appends: the pass
 *     is applied at once with tu_run_retention() (promstore_run_retention,
 *     what the maintenance thread runs), so that its effect can be asserted;
 *     test_maintenance_* check that the thread runs it unasked.
 *   - size retention (retention_size_bytes): the store stays within the limit,
 *     the oldest blocks go first and the newest stay.
 *   - freed space is reused: a second same-sized workload after dropping the
 *     first grows the files by far less than the first did.
 *   - retention on an empty store, and a cutoff in the future (everything goes,
 *     appending afterwards works).
 *
 * Timestamps start at T0, a multiple of 2 h, so block boundaries fall on the
 * same instants whether blocks are aligned to the epoch or to the first
 * sample. Every sample value is a function of its series' instance label and
 * its timestamp, so every query checks value bits as well as timestamps.
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

#include "helpers.h"
#include "promstore.h"

#define MIN_MS INT64_C(60000)
#define D_MS (10 * MIN_MS) /* block duration of every store here */
#define STEP_MS INT64_C(15000)
#define PER_BLOCK ((int)(D_MS / STEP_MS)) /* samples per series per block: 40 */
#define T0 INT64_C(1700006400000)         /* a multiple of 2 h */
#define METRIC "ret_metric"

/* --- small helpers ---------------------------------------------------------- */

static int64_t block_start(int b)
{
    return T0 + (int64_t)b * D_MS;
}

/*
 * The value of a series' sample: a finite double with a random mantissa, so
 * that XOR chunks do not compress it away (the space tests need real bytes).
 */
static uint64_t value_for(const char *instance, size_t len, int64_t ts)
{
    uint64_t r = tu_mix64(tu_fnv1a(instance, len, TU_FNV_OFFSET) ^ (uint64_t)ts);
    return tu_bits((double)(r >> 11) / (double)(UINT64_C(1) << 53) * 1000.0);
}

/* Open f's store with the blocks of this file and these retention options. */
static promstore *open_store(tu_store *f, int64_t retention_ms, uint64_t retention_bytes)
{
    f->opts.block_duration_ms = D_MS;
    f->opts.retention_time_ms = retention_ms;
    f->opts.retention_size_bytes = retention_bytes;
    tu_store_open(f);
    return f->db;
}

/* As open_store, with an out-of-order window. */
static promstore *open_store_ooo(tu_store *f, int64_t ooo_window_ms)
{
    f->opts.out_of_order_window_ms = ooo_window_ms;
    return open_store(f, 0, 0);
}

static promstore_retention_result retain(promstore *db, int64_t cutoff)
{
    promstore_retention_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    promstore_error err = {0};
    promstore_status st = promstore_apply_retention(db, cutoff, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("apply_retention(%lld): %d %s", (long long)cutoff, st, err.message);
    return r;
}


/* --- the workload: series that live over a range of blocks ---------------- */

typedef struct wseries {
    char job[16];
    char instance[16];
    int ephemeral;  /* adds the label ephemeral="yes", found on no other series */
    int first_block; /* inclusive */
    int last_block;  /* inclusive */
} wseries;

/* Samples of w with timestamps in [from, to). */
static uint64_t samples_in(const wseries *w, int64_t from, int64_t to)
{
    int64_t lo = block_start(w->first_block), hi = block_start(w->last_block + 1);
    if (from > lo)
        lo = from;
    if (to < hi)
        hi = to;
    if (hi <= lo)
        return 0;
    /* timestamps are T0 + k*STEP; count those in [lo, hi) */
    int64_t k_lo = (lo - T0 + STEP_MS - 1) / STEP_MS, k_hi = (hi - T0 + STEP_MS - 1) / STEP_MS;
    return (uint64_t)(k_hi - k_lo);
}

static uint64_t total_in(const wseries *ws, size_t n, int64_t from, int64_t to)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += samples_in(&ws[i], from, to);
    return t;
}

/*
 * Append, in one call, the samples of every series in ws with timestamps in
 * [from, to), and check the engine stored exactly those.
 */
static void append_range(promstore *db, const wseries *ws, size_t n, int64_t from, int64_t to)
{
    promstore_series *ser = calloc(n, sizeof *ser);
    promstore_label(*labels)[4] = calloc(n, sizeof *labels);
    size_t per = (size_t)((to - from) / STEP_MS + 1);
    promstore_sample *smp = calloc(n * per, sizeof *smp);
    assert_true(ser && labels && smp);
    size_t ns = 0;
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        const wseries *w = &ws[i];
        int64_t lo = block_start(w->first_block), hi = block_start(w->last_block + 1);
        if (lo < from)
            lo = from;
        if (hi > to)
            hi = to;
        if (hi <= lo)
            continue;
        size_t nl = 0;
        labels[ns][nl++] = tu_label("__name__", METRIC);
        labels[ns][nl++] = tu_label("job", w->job);
        labels[ns][nl++] = tu_label("instance", w->instance);
        if (w->ephemeral)
            labels[ns][nl++] = tu_label("ephemeral", "yes");
        promstore_sample *s = smp + ns * per;
        size_t k = 0;
        for (int64_t ts = lo; ts < hi; ts += STEP_MS) {
            s[k].timestamp_ms = ts;
            s[k].value_bits = value_for(w->instance, strlen(w->instance), ts);
            k++;
        }
        ser[ns].labels = labels[ns];
        ser[ns].n_labels = nl;
        ser[ns].samples = s;
        ser[ns].n_samples = k;
        expect += k;
        ns++;
    }
    promstore_append_result res = tu_append_result();
    promstore_error err = {0};
    promstore_status st = promstore_append(db, ser, ns, &res, &err);
    free(ser);
    free(labels);
    free(smp);
    if (st != PROMSTORE_OK)
        fail_msg("append [%lld, %lld): %d %s", (long long)from, (long long)to, st, err.message);
    assert_int_equal(res.samples_appended, expect);
    assert_int_equal(res.samples_rejected, 0);
}

/* Append blocks [b0, b1) of the workload, two appends per block. */
static void append_blocks(promstore *db, const wseries *ws, size_t n, int b0, int b1)
{
    for (int b = b0; b < b1; b++) {
        append_range(db, ws, n, block_start(b), block_start(b) + D_MS / 2);
        append_range(db, ws, n, block_start(b) + D_MS / 2, block_start(b + 1));
    }
}

/* What a query saw. */
typedef struct qsum {
    uint64_t series;
    uint64_t samples;
    int64_t min_ts, max_ts;
} qsum;

/*
 * Summarise what an open iterator yields (not closing it), checking on the way
 * (tu_iter_collect) that samples of a series are strictly increasing and
 * within [mint, maxt], that every series has one, and here that they carry
 * the value bits the workload gave them.
 */
static qsum query_sum_it(promstore_series_iter *it, int64_t mint, int64_t maxt)
{
    tu_result r;
    promstore_error err = {0};
    promstore_status st = tu_iter_collect(it, mint, maxt, TU_SAMPLES, &r, &err);
    if (st != PROMSTORE_DONE)
        fail_msg("iter: %d %s", st, err.message);
    qsum q = {0, 0, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < r.n; i++) {
        const tu_series *ser = &r.s[i];
        const promstore_label *inst = tu_find_label(ser->labels, ser->n_labels, "instance");
        assert_non_null(inst);
        q.series++;
        for (size_t k = 0; k < ser->n_samples; k++) {
            const promstore_sample *s = &ser->samples[k];
            assert_int_equal(s->value_bits,
                             value_for(inst->value, inst->value_len, s->timestamp_ms));
            if (s->timestamp_ms < q.min_ts)
                q.min_ts = s->timestamp_ms;
            if (s->timestamp_ms > q.max_ts)
                q.max_ts = s->timestamp_ms;
        }
        q.samples += ser->n_samples;
    }
    tu_result_free(&r);
    return q;
}

static qsum query_sum(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                      int64_t maxt)
{
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    promstore_status st = promstore_query(db, m, nm, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK)
        fail_msg("query: %d %s", st, err.message);
    qsum q = query_sum_it(it, mint, maxt);
    promstore_series_iter_close(it);
    return q;
}

static qsum query_all(promstore *db, int64_t mint, int64_t maxt)
{
    return query_sum(db, NULL, 0, mint, maxt);
}

/* The label names (name == NULL) or the values of label `name`, '|'-joined (tu_strings). */
static void assert_strings(promstore *db, const char *name, const char *expected)
{
    TU_ASSERT_STRS(name == NULL ? tu_label_names(db, NULL, 0, TU_FULL)
                                : tu_label_values(db, name, NULL, 0, TU_FULL),
                   expected);
}

/*
 * The explicit-retention workload over 8 blocks:
 *   10 "app" series over blocks 0..7,
 *    5 "old" series (with ephemeral="yes") over blocks 0..1,
 *    1 "mid" series over blocks 2..4.
 */
#define N_APP 10
#define N_OLD 5
#define N_WS (N_APP + N_OLD + 1)
#define N_BLOCKS 8

static void make_workload(wseries *ws)
{
    memset(ws, 0, N_WS * sizeof *ws);
    for (int i = 0; i < N_APP; i++) {
        snprintf(ws[i].job, sizeof ws[i].job, "app");
        snprintf(ws[i].instance, sizeof ws[i].instance, "a%02d", i);
        ws[i].first_block = 0;
        ws[i].last_block = N_BLOCKS - 1;
    }
    for (int i = 0; i < N_OLD; i++) {
        wseries *w = &ws[N_APP + i];
        snprintf(w->job, sizeof w->job, "old");
        snprintf(w->instance, sizeof w->instance, "o%02d", i);
        w->ephemeral = 1;
        w->first_block = 0;
        w->last_block = 1;
    }
    wseries *m = &ws[N_APP + N_OLD];
    snprintf(m->job, sizeof m->job, "mid");
    snprintf(m->instance, sizeof m->instance, "m00");
    m->first_block = 2;
    m->last_block = 4;
}

/* --- tests ------------------------------------------------------------------ */

/*
 * Three retention steps over the 8-block workload, each checked against the
 * counts computed from the workload.
 */
static void test_apply_retention_blocks(void **state)
{
    tu_store *f = *state;
    wseries ws[N_WS];
    make_workload(ws);
    promstore *db = open_store(f, 0, 0);
    append_blocks(db, ws, N_WS, 0, N_BLOCKS);

    uint64_t all = total_in(ws, N_WS, INT64_MIN, INT64_MAX);
    promstore_stats s0 = tu_stats(db);
    assert_int_equal(s0.series, N_WS);
    assert_int_equal(s0.samples, all);
    assert_int_equal(s0.min_time_ms, T0);
    assert_int_equal(s0.max_time_ms, block_start(N_BLOCKS) - STEP_MS);
    /* every block but possibly the newest (head) holds sealed chunks */
    assert_true(s0.blocks >= N_BLOCKS - 1 && s0.blocks <= N_BLOCKS);
    /* at least one chunk per series per block it has data in */
    assert_true(s0.chunks >= N_APP * N_BLOCKS + N_OLD * 2 + 3);
    assert_strings(db, NULL, "__name__|ephemeral|instance|job");
    assert_strings(db, "job", "app|mid|old");

    /* Step 1: cutoff on the boundary of block 2 drops blocks 0 and 1, and with
     * them the "old" series, which have no other data. */
    int64_t cut1 = block_start(2);
    promstore_retention_result r = retain(db, cut1);
    uint64_t dropped1 = total_in(ws, N_WS, INT64_MIN, cut1);
    assert_int_equal(r.blocks_dropped, 2);
    assert_int_equal(r.series_dropped, N_OLD);
    assert_int_equal(r.samples_dropped, dropped1);
    assert_int_equal(dropped1, (N_APP + N_OLD) * 2 * PER_BLOCK);

    promstore_stats s1 = tu_stats(db);
    assert_int_equal(s1.series, N_WS - N_OLD);
    assert_int_equal(s1.samples, s0.samples - dropped1);
    assert_int_equal(s1.blocks, s0.blocks - 2);
    assert_true(s1.chunks + (N_APP + N_OLD) * 2 <= s0.chunks);
    assert_int_equal(s1.min_time_ms, cut1);
    assert_int_equal(s1.max_time_ms, s0.max_time_ms);

    qsum q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, N_WS - N_OLD);
    assert_int_equal(q.samples, all - dropped1);
    assert_int_equal(q.min_ts, cut1);
    assert_int_equal(query_all(db, INT64_MIN, cut1 - 1).samples, 0);
    promstore_matcher old = MT(PROMSTORE_MATCH_EQ, "job", "old");
    assert_int_equal(query_sum(db, &old, 1, INT64_MIN, INT64_MAX).series, 0);
    /* the index no longer knows the dropped series' label names and values */
    assert_strings(db, NULL, "__name__|instance|job");
    assert_strings(db, "job", "app|mid");
    assert_strings(db, "ephemeral", "");

    /* The same cutoff again has nothing left to drop. */
    r = retain(db, cut1);
    assert_int_equal(r.blocks_dropped, 0);
    assert_int_equal(r.series_dropped, 0);
    assert_int_equal(r.samples_dropped, 0);

    /* Step 2: a cutoff in the middle of block 3 drops block 2 only; block 3
     * straddles the cutoff and is kept whole, as in Prometheus. "mid" keeps its
     * data in blocks 3 and 4. */
    int64_t cut2 = block_start(3) + D_MS / 2 + STEP_MS / 3;
    r = retain(db, cut2);
    uint64_t dropped2 = total_in(ws, N_WS, cut1, block_start(3));
    assert_int_equal(r.blocks_dropped, 1);
    assert_int_equal(r.series_dropped, 0);
    assert_int_equal(r.samples_dropped, dropped2);
    assert_int_equal(dropped2, (N_APP + 1) * PER_BLOCK);
    assert_int_equal(query_all(db, INT64_MIN, block_start(3) - 1).samples, 0);
    /* every sample at or after the cutoff is still there... */
    assert_int_equal(query_all(db, cut2, INT64_MAX).samples, total_in(ws, N_WS, cut2, INT64_MAX));
    /* ...and so is the older part of the straddling block */
    assert_int_equal(query_all(db, block_start(3), cut2 - 1).samples,
                     total_in(ws, N_WS, block_start(3), cut2));
    promstore_stats s2 = tu_stats(db);
    assert_int_equal(s2.series, N_APP + 1);
    assert_int_equal(s2.samples, s1.samples - dropped2);
    assert_int_equal(s2.blocks, s1.blocks - 1);
    assert_true(s2.chunks < s1.chunks);
    assert_int_equal(s2.min_time_ms, block_start(3));
    assert_strings(db, "job", "app|mid");

    /* Step 3: cutoff at block 5 drops blocks 3 and 4 and the "mid" series. */
    int64_t cut3 = block_start(5);
    r = retain(db, cut3);
    uint64_t dropped3 = total_in(ws, N_WS, block_start(3), cut3);
    assert_int_equal(r.blocks_dropped, 2);
    assert_int_equal(r.series_dropped, 1);
    assert_int_equal(r.samples_dropped, dropped3);
    promstore_stats s3 = tu_stats(db);
    assert_int_equal(s3.series, N_APP);
    assert_int_equal(s3.samples, s2.samples - dropped3);
    assert_int_equal(s3.samples, N_APP * (N_BLOCKS - 5) * PER_BLOCK);
    assert_int_equal(s3.blocks, s2.blocks - 2);
    assert_strings(db, "job", "app");
    q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, N_APP);
    assert_int_equal(q.samples, s3.samples);
    assert_int_equal(q.min_ts, cut3);

    /* The data survives a reopen in its retained form. */
    tu_store_close(f);
    db = open_store(f, 0, 0);
    promstore_stats s4 = tu_stats(db);
    assert_int_equal(s4.series, s3.series);
    assert_int_equal(s4.samples, s3.samples);
    assert_int_equal(s4.blocks, s3.blocks);
    assert_int_equal(s4.min_time_ms, cut3);
    assert_int_equal(query_all(db, INT64_MIN, INT64_MAX).samples, s3.samples);
    tu_store_close(f);
}

/* A query opened before retention keeps reading the snapshot it took. */
static void test_iterator_snapshot_survives_retention(void **state)
{
    tu_store *f = *state;
    wseries ws[N_WS];
    make_workload(ws);
    promstore *db = open_store(f, 0, 0);
    append_blocks(db, ws, N_WS, 0, N_BLOCKS);
    uint64_t all = total_in(ws, N_WS, INT64_MIN, INT64_MAX);

    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    assert_int_equal(promstore_query(db, NULL, 0, INT64_MIN, INT64_MAX, &it, &err), PROMSTORE_OK);
    promstore_retention_result r = retain(db, block_start(4));
    assert_int_equal(r.blocks_dropped, 4);
    qsum q = query_sum_it(it, INT64_MIN, INT64_MAX);
    promstore_series_iter_close(it);
    assert_int_equal(q.series, N_WS);
    assert_int_equal(q.samples, all);
    assert_int_equal(q.min_ts, T0);

    /* a new query sees the retained state */
    q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.samples, all - r.samples_dropped);
    assert_int_equal(q.min_ts, block_start(4));
    tu_store_close(f);
}

/*
 * retention_time_ms = 30 min with 10-min blocks: nothing goes while the data
 * spans less than that; once the newest sample is 2 h ahead, every block
 * whose samples are all older than newest - 30 min is gone without any call to
 * promstore_apply_retention() -- by the configured pass, tu_run_retention().
 */
static void test_time_retention_automatic(void **state)
{
    tu_store *f = *state;
    const int64_t keep = 30 * MIN_MS;
    wseries ws[4];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < 4; i++) {
        snprintf(ws[i].job, sizeof ws[i].job, "auto");
        snprintf(ws[i].instance, sizeof ws[i].instance, "t%d", i);
        ws[i].first_block = 0;
        ws[i].last_block = 11;
    }
    promstore *db = open_store(f, keep, 0);

    /* 30 min minus one step: the oldest sample is not older than newest - keep */
    append_blocks(db, ws, 4, 0, 3);
    tu_run_retention(db);
    promstore_stats s = tu_stats(db);
    assert_int_equal(s.min_time_ms, T0);
    assert_int_equal(s.samples, 4 * 3 * PER_BLOCK);

    append_blocks(db, ws, 4, 3, 12);
    tu_run_retention(db);
    int64_t newest = block_start(12) - STEP_MS;
    int64_t cutoff = newest - keep; /* = block_start(9) - STEP: block 8 straddles */
    s = tu_stats(db);
    assert_int_equal(s.max_time_ms, newest);
    assert_int_equal(s.min_time_ms, block_start(8));
    assert_int_equal(s.samples, total_in(ws, 4, block_start(8), INT64_MAX));
    assert_int_equal(query_all(db, INT64_MIN, block_start(8) - 1).samples, 0);
    assert_int_equal(query_all(db, cutoff, INT64_MAX).samples, total_in(ws, 4, cutoff, INT64_MAX));
    qsum q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, 4);
    assert_int_equal(q.min_ts, block_start(8));
    assert_int_equal(q.max_ts, newest);

    /* the option applies on reopen as well: one more block moves the cutoff */
    tu_store_close(f);
    db = open_store(f, keep, 0);
    ws[0].last_block = ws[1].last_block = ws[2].last_block = ws[3].last_block = 12;
    append_blocks(db, ws, 4, 12, 13);
    tu_run_retention(db);
    s = tu_stats(db);
    assert_int_equal(s.min_time_ms, block_start(9));
    assert_int_equal(query_all(db, INT64_MIN, block_start(9) - 1).samples, 0);
    tu_store_close(f);
}

/*
 * Size retention. The limit is measured, not guessed: the size of this very
 * workload after 10 blocks, so that it holds several blocks whatever the
 * backend's overhead. Then 40 more blocks: after every append the store is
 * within the limit, and at the end the oldest data is gone and what remains
 * is an unbroken run of the newest blocks.
 */
#define SZ_SERIES 100
static void test_size_retention(void **state)
{
    tu_store *f = *state;
    wseries *ws = f->mem = calloc(SZ_SERIES, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < SZ_SERIES; i++) {
        snprintf(ws[i].job, sizeof ws[i].job, "size");
        snprintf(ws[i].instance, sizeof ws[i].instance, "z%03d", i);
        ws[i].first_block = 0;
        ws[i].last_block = 49;
    }
    promstore *db = open_store(f, 0, 0);
    append_blocks(db, ws, SZ_SERIES, 0, 10);
    promstore_stats s = tu_stats(db);
    uint64_t limit = s.bytes_on_disk;
    print_message("size retention (%s): limit %llu bytes = 10 blocks\n", tu_backend(),
                  (unsigned long long)limit);
    assert_true(limit > 0);
    assert_int_equal(s.min_time_ms, T0);
    tu_store_close(f);

    db = open_store(f, 0, limit);
    uint64_t max_seen = 0;
    int over = 0, first_over = -1;
    for (int b = 10; b < 50; b++) {
        for (int half = 0; half < 2; half++) {
            int64_t from = block_start(b) + half * (D_MS / 2);
            append_range(db, ws, SZ_SERIES, from, from + D_MS / 2);
            tu_run_retention(db);
            s = tu_stats(db);
            if (s.bytes_on_disk > max_seen)
                max_seen = s.bytes_on_disk;
            if (s.bytes_on_disk > limit && over++ == 0)
                first_over = b;
        }
    }
    print_message("size retention (%s): max bytes_on_disk %llu, over the limit after %d appends "
                  "(first in block %d); %llu blocks kept, min_time block %lld\n",
                  tu_backend(), (unsigned long long)max_seen, over, first_over,
                  (unsigned long long)s.blocks, (long long)((s.min_time_ms - T0) / D_MS));
    assert_true(s.bytes_on_disk <= limit);

    /* the oldest went first: data remains only from some block on, whole */
    assert_true(s.min_time_ms > T0);
    assert_int_equal((s.min_time_ms - T0) % D_MS, 0);
    assert_int_equal(s.max_time_ms, block_start(50) - STEP_MS);
    /* the newest two blocks at least are all there */
    assert_true(s.min_time_ms <= block_start(48));
    qsum q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, SZ_SERIES);
    assert_int_equal(q.min_ts, s.min_time_ms);
    assert_int_equal(q.samples, total_in(ws, SZ_SERIES, s.min_time_ms, INT64_MAX));
    assert_int_equal(q.samples, s.samples);
    assert_int_equal(query_all(db, INT64_MIN, s.min_time_ms - 1).samples, 0);
    tu_store_close(f);
    f->mem = NULL;
    free(ws);
    /* The header documents no slack ("drop the oldest blocks while the store
     * is larger"), so the store is within the limit after every pass. */
    if (over != 0)
        fail_msg("bytes_on_disk exceeded retention_size_bytes=%llu after %d of 80 appends "
                 "(max %llu)",
                 (unsigned long long)limit, over, (unsigned long long)max_seen);
}

/*
 * Space is reused: round 1 appends ~100 series x 4000 random-valued samples
 * (a few MB), retention drops all of it, round 2 appends the same amount with
 * newer timestamps. Round 2 must grow the files by less than half of what
 * round 1 did, i.e. it mostly lives in the pages round 1 freed.
 */
#define RU_SERIES 100
#define RU_BLOCKS 100 /* x 40 samples = 4000 per series */
static void test_space_reused(void **state)
{
    tu_store *f = *state;
    wseries *ws = f->mem = calloc(RU_SERIES, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < RU_SERIES; i++) {
        snprintf(ws[i].job, sizeof ws[i].job, "reuse");
        snprintf(ws[i].instance, sizeof ws[i].instance, "r%03d", i);
        ws[i].first_block = 0;
        ws[i].last_block = 2 * RU_BLOCKS - 1;
    }
    promstore *db = open_store(f, 0, 0);
    uint64_t f0 = tu_stats(db).file_bytes;
    for (int b = 0; b < RU_BLOCKS; b++)
        append_range(db, ws, RU_SERIES, block_start(b), block_start(b + 1));
    promstore_stats s1 = tu_stats(db);
    uint64_t grow1 = s1.file_bytes - f0;

    promstore_retention_result r = retain(db, block_start(RU_BLOCKS));
    assert_int_equal(r.series_dropped, RU_SERIES);
    assert_int_equal(r.samples_dropped, (uint64_t)RU_SERIES * RU_BLOCKS * PER_BLOCK);
    promstore_stats sm = tu_stats(db);
    assert_int_equal(sm.samples, 0);
    assert_true(sm.bytes_on_disk < s1.bytes_on_disk);

    for (int b = RU_BLOCKS; b < 2 * RU_BLOCKS; b++)
        append_range(db, ws, RU_SERIES, block_start(b), block_start(b + 1));
    promstore_stats s2 = tu_stats(db);
    assert_true(s2.file_bytes >= s1.file_bytes);
    uint64_t grow2 = s2.file_bytes - s1.file_bytes;
    print_message("space reuse (%s): file_bytes %llu -> %llu (+%llu) -> %llu (+%llu); "
                  "bytes_on_disk %llu, after retention %llu, round 2 %llu\n",
                  tu_backend(), (unsigned long long)f0, (unsigned long long)s1.file_bytes,
                  (unsigned long long)grow1, (unsigned long long)s2.file_bytes,
                  (unsigned long long)grow2, (unsigned long long)s1.bytes_on_disk,
                  (unsigned long long)sm.bytes_on_disk, (unsigned long long)s2.bytes_on_disk);
    /* the workload is ~3.5 MB of XOR data; file_bytes must reflect it */
    assert_true(grow1 >= 2u * 1024 * 1024);
    assert_true(grow2 < grow1 / 2);
    assert_int_equal(s2.samples, (uint64_t)RU_SERIES * RU_BLOCKS * PER_BLOCK);
    assert_int_equal(query_all(db, INT64_MIN, INT64_MAX).samples, s2.samples);
    tu_store_close(f);
    f->mem = NULL;
    free(ws);
}

/*
 * Out-of-order samples are dropped with the blocks they fall in: one series
 * in order over blocks 0..5, then, within a 1 h out-of-order window, extra
 * samples between the existing ones (ts + 7 s) in block 1 and in block 4.
 * A cutoff at block 3 drops blocks 0..2 with the out-of-order samples of
 * block 1, and keeps those of block 4.
 */
static void test_retention_drops_out_of_order_samples(void **state)
{
    tu_store *f = *state;
    wseries w;
    memset(&w, 0, sizeof w);
    snprintf(w.job, sizeof w.job, "ooo");
    snprintf(w.instance, sizeof w.instance, "q0");
    w.first_block = 0;
    w.last_block = 5;
    promstore *db = open_store_ooo(f, 60 * MIN_MS);
    append_blocks(db, &w, 1, 0, 6);

    enum { N_OOO = 10 };
    int ooo_blocks[2] = {1, 4};
    for (int i = 0; i < 2; i++) {
        promstore_label ls[3] = {tu_label("__name__", METRIC), tu_label("job", w.job),
                                 tu_label("instance", w.instance)};
        promstore_sample smp[N_OOO];
        for (int k = 0; k < N_OOO; k++) {
            int64_t ts = block_start(ooo_blocks[i]) + k * STEP_MS + 7000;
            smp[k] = (promstore_sample){ts, value_for(w.instance, strlen(w.instance), ts)};
        }
        promstore_series ser = {ls, 3, smp, N_OOO};
        promstore_append_result res = tu_append_result();
        promstore_error err = {0};
        promstore_status st = promstore_append(db, &ser, 1, &res, &err);
        if (st != PROMSTORE_OK)
            fail_msg("out-of-order append into block %d: %d %s", ooo_blocks[i], st, err.message);
        assert_int_equal(res.samples_appended, N_OOO);
    }
    uint64_t all = 6 * PER_BLOCK + 2 * N_OOO;
    assert_int_equal(tu_stats(db).samples, all);
    assert_int_equal(query_all(db, INT64_MIN, INT64_MAX).samples, all);

    promstore_retention_result r = retain(db, block_start(3));
    assert_int_equal(r.blocks_dropped, 3);
    assert_int_equal(r.series_dropped, 0);
    assert_int_equal(r.samples_dropped, 3 * PER_BLOCK + N_OOO);
    promstore_stats s = tu_stats(db);
    assert_int_equal(s.samples, 3 * PER_BLOCK + N_OOO);
    assert_int_equal(s.min_time_ms, block_start(3));
    qsum q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.samples, 3 * PER_BLOCK + N_OOO);
    assert_int_equal(q.min_ts, block_start(3));
    /* the out-of-order samples of block 4 are all there, between the others */
    assert_int_equal(query_all(db, block_start(4), block_start(4) + N_OOO * STEP_MS - 1).samples,
                     2 * N_OOO);
    tu_store_close(f);
}

/* Retention on an empty store succeeds, drops nothing, and the store works on. */
static void test_retention_empty_store(void **state)
{
    tu_store *f = *state;
    promstore *db = open_store(f, 0, 0);
    int64_t cutoffs[] = {0, T0, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof cutoffs / sizeof cutoffs[0]; i++) {
        promstore_retention_result r = retain(db, cutoffs[i]);
        assert_int_equal(r.blocks_dropped, 0);
        assert_int_equal(r.series_dropped, 0);
        assert_int_equal(r.samples_dropped, 0);
    }
    /* a NULL result is allowed */
    promstore_error err = {0};
    assert_int_equal(promstore_apply_retention(db, T0, NULL, &err), PROMSTORE_OK);
    tu_assert_store_empty(db);

    wseries w;
    memset(&w, 0, sizeof w);
    snprintf(w.job, sizeof w.job, "e");
    snprintf(w.instance, sizeof w.instance, "e0");
    w.first_block = 0;
    w.last_block = 1;
    append_blocks(db, &w, 1, 0, 2);
    qsum q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, 1);
    assert_int_equal(q.samples, 2 * PER_BLOCK);
    tu_store_close(f);
}

/*
 * A cutoff beyond the newest sample drops everything, the open head chunks
 * too; the index is empty afterwards, and appending (new and old label sets,
 * at timestamps after the cutoff) works.
 */
static void test_retention_future_cutoff(void **state)
{
    tu_store *f = *state;
    wseries ws[N_WS];
    make_workload(ws);
    promstore *db = open_store(f, 0, 0);
    append_blocks(db, ws, N_WS, 0, N_BLOCKS);
    uint64_t all = total_in(ws, N_WS, INT64_MIN, INT64_MAX);
    promstore_stats s0 = tu_stats(db);

    int64_t cutoff = block_start(N_BLOCKS + 10);
    promstore_retention_result r = retain(db, cutoff);
    assert_int_equal(r.series_dropped, N_WS);
    assert_int_equal(r.samples_dropped, all);
    /* every block with sealed chunks, and maybe the head block as well */
    assert_true(r.blocks_dropped >= s0.blocks && r.blocks_dropped <= N_BLOCKS);

    tu_assert_store_empty(db);
    qsum q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, 0);
    assert_strings(db, NULL, "");
    assert_strings(db, "job", "");

    /* the same label sets come back as new series after the cutoff */
    wseries again[N_WS];
    memcpy(again, ws, sizeof again);
    for (int i = 0; i < N_WS; i++) {
        again[i].first_block = N_BLOCKS + 10;
        again[i].last_block = N_BLOCKS + 11;
    }
    append_blocks(db, again, N_WS, N_BLOCKS + 10, N_BLOCKS + 12);
    promstore_stats s = tu_stats(db);
    assert_int_equal(s.series, N_WS);
    assert_int_equal(s.samples, N_WS * 2 * PER_BLOCK);
    assert_int_equal(s.min_time_ms, cutoff);
    q = query_all(db, INT64_MIN, INT64_MAX);
    assert_int_equal(q.series, N_WS);
    assert_int_equal(q.samples, N_WS * 2 * PER_BLOCK);
    assert_int_equal(q.min_ts, cutoff);
    assert_strings(db, "job", "app|mid|old");
    tu_store_close(f);
}

/* --- the maintenance thread ------------------------------------------------ */

/* Poll the stats until done(s) holds, for at most 10 s; returns the last stats. */
static promstore_stats wait_stats(promstore *db, int (*done)(const promstore_stats *, int64_t),
                                  int64_t arg, const char *what)
{
    promstore_stats s = tu_stats(db);
    for (int i = 0; i < 1000 && !done(&s, arg); i++) {
        tu_sleep_ms(10);
        s = tu_stats(db);
    }
    if (!done(&s, arg))
        fail_msg("after 10 s the maintenance thread had not %s (runs %llu, errors %llu)", what,
                 (unsigned long long)s.retention_runs, (unsigned long long)s.retention_errors);
    /*
     * promstore_stats_get reads the stats record from its snapshot before it
     * reads the space and the pass counters, so the read that showed the
     * pass may predate its commit: read once more, now that it is counted.
     */
    s = tu_stats(db);
    assert_true(done(&s, arg));
    return s;
}

/*
 * A pass commits what it drops before it counts it in the stats, so each
 * condition waits for both: the store's state, and the pass counted.
 */
static int min_time_reached(const promstore_stats *s, int64_t want)
{
    return s->min_time_ms == want && s->retention_blocks_dropped >= 8;
}

static int within_size(const promstore_stats *s, int64_t limit)
{
    return s->bytes_on_disk <= (uint64_t)limit && s->retention_blocks_dropped > 0;
}

static int runs_reached(const promstore_stats *s, int64_t want)
{
    return s->retention_runs >= (uint64_t)want;
}

/*
 * Time retention without any call: appends only wake the thread, and it cuts
 * where tu_run_retention() would (test_time_retention_automatic's figures).
 */
static void test_maintenance_thread_time(void **state)
{
    tu_store *f = *state;
    wseries ws[4];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < 4; i++) {
        snprintf(ws[i].job, sizeof ws[i].job, "bg");
        snprintf(ws[i].instance, sizeof ws[i].instance, "t%d", i);
        ws[i].last_block = 11;
    }
    promstore *db = open_store(f, 30 * MIN_MS, 0);
    append_blocks(db, ws, 4, 0, 12);
    promstore_stats s = wait_stats(db, min_time_reached, block_start(8), "cut at block 8");
    assert_true(s.retention_runs >= 1);
    assert_true(s.retention_blocks_dropped >= 8);
    assert_int_equal(s.retention_errors, 0);
    assert_int_equal(s.retention_last_error, PROMSTORE_OK);
    assert_int_equal(query_all(db, INT64_MIN, block_start(8) - 1).samples, 0);
    assert_int_equal(s.samples, total_in(ws, 4, block_start(8), INT64_MAX));
    tu_store_close(f);
}

/* Size retention without any call: the thread brings the store under its limit. */
static void test_maintenance_thread_size(void **state)
{
    tu_store *f = *state;
    wseries *ws = f->mem = calloc(SZ_SERIES, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < SZ_SERIES; i++) {
        snprintf(ws[i].job, sizeof ws[i].job, "bgsize");
        snprintf(ws[i].instance, sizeof ws[i].instance, "z%03d", i);
        ws[i].last_block = 29;
    }
    promstore *db = open_store(f, 0, 0);
    append_blocks(db, ws, SZ_SERIES, 0, 10);
    uint64_t limit = tu_stats(db).bytes_on_disk;
    append_blocks(db, ws, SZ_SERIES, 10, 30);
    assert_true(tu_stats(db).bytes_on_disk > limit); /* no limit yet: nothing went */
    tu_store_close(f);

    /* Reopened with the limit: the pass at open brings it down, unasked. */
    db = open_store(f, 0, limit);
    promstore_stats s = wait_stats(db, within_size, (int64_t)limit, "brought the store under its limit");
    assert_true(s.retention_blocks_dropped > 0);
    assert_true(s.min_time_ms > T0);
    assert_int_equal(s.max_time_ms, block_start(30) - STEP_MS);
    assert_int_equal(s.retention_errors, 0);
    tu_store_close(f);
    f->mem = NULL;
    free(ws);
}

/*
 * The timer: with no append at all the thread still runs every
 * maintenance_interval_ms (what lets a full store free itself).
 */
static void test_maintenance_timer(void **state)
{
    tu_store *f = *state;
    f->opts.maintenance_interval_ms = 20;
    promstore *db = open_store(f, 30 * MIN_MS, 0);
    promstore_stats s = wait_stats(db, runs_reached, 5, "run five times on its timer");
    assert_int_equal(s.retention_errors, 0);
    tu_store_close(f);

    /* Without retention there is no thread, and the explicit call does nothing. */
    db = open_store(f, 0, 0);
    tu_sleep_ms(100);
    promstore_retention_result r = tu_run_retention(db);
    assert_int_equal(r.blocks_dropped, 0);
    assert_int_equal(tu_stats(db).retention_runs, 0);
    tu_store_close(f);

    f->opts.maintenance_interval_ms = -1;
    promstore *bad = NULL;
    promstore_error err;
    assert_int_equal(promstore_open(&f->opts, &bad, &err), PROMSTORE_E_INVALID);
    assert_null(bad);
    assert_non_null(strstr(err.message, "maintenance_interval_ms"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST_CLOSED(test_apply_retention_blocks),
        TU_TEST_CLOSED(test_iterator_snapshot_survives_retention),
        TU_TEST_CLOSED(test_time_retention_automatic),
        TU_TEST_CLOSED(test_size_retention),
        TU_TEST_CLOSED(test_maintenance_thread_time),
        TU_TEST_CLOSED(test_maintenance_thread_size),
        TU_TEST_CLOSED(test_maintenance_timer),
        TU_TEST_CLOSED(test_space_reused),
        TU_TEST_CLOSED(test_retention_drops_out_of_order_samples),
        TU_TEST_CLOSED(test_retention_empty_store),
        TU_TEST_CLOSED(test_retention_future_cutoff),
    };
    return TU_RUN(argc, argv, "retention", tests);
}
