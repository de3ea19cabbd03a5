/*
 * test_check.c -- promstore_check(), the offline store verifier, run once per
 * backend: `test_check lmdb|sqlite`.
 *
 * A store is built through the ABI, closed, then (for the corruption cases)
 * damaged through the backend interface of the static library -- the same
 * ordered key/value tables the engine writes -- and checked. Each case
 * asserts the problem is reported with its table, series id and block:
 *   - a healthy store (many series, several blocks, sealed, open and
 *     out-of-order chunks, one retention pass): no problem, and the summary
 *     counts equal what the workload put in;
 *   - a sealed chunk's bytes overwritten with garbage;
 *   - a sealed chunk whose header count disagrees with its samples;
 *   - an open (head) chunk overwritten with garbage;
 *   - a chunk of a series id absent from the series index;
 *   - a postings entry for a series that does not exist;
 *   - a series missing one of its postings entries;
 *   - series_key naming the wrong series (reverse-index mismatch);
 *   - a series whose lastblk entry is gone (retention bookkeeping);
 *   - a block record whose counters disagree with its table;
 *   - the stats record disagreeing with the data;
 *   - SQLite only: a b-tree page header overwritten (integrity_check), and
 *     the walk that then reads the damage reports it too;
 *   - LMDB only: a table header in data.mdb claiming more entries than the
 *     table holds; data.mdb cut to half (reported, and refused by an open);
 *   - a sound store after rounds of retention under a read snapshot, where
 *     LMDB's data.mdb ends before its last page number: no problem;
 * and the refusals: a store open elsewhere (BUSY), a directory without a
 * store (NOT_FOUND, nothing created), the other backend's store, a callback
 * that stops at the first problem.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "backend.h"
#include "keys.h"
#include "labels.h"
#include "promstore.h"
#include "store.h"
#include "testutil.h"

static const char *g_backend = "lmdb";

#define HOUR_MS INT64_C(3600000)
#define T0 INT64_C(1700006400000) /* a multiple of 1 h */
#define STEP_MS INT64_C(30000)
#define MAX_PROBLEMS 256

/* --- fixture ------------------------------------------------------------------ */

typedef struct seen_problem {
    char table[32];
    uint64_t id;
    int64_t block;
    char message[400];
} seen_problem;

typedef struct fx {
    char *dir;
    /* what the workload stored */
    uint64_t series, samples, ooo;
    /* what the last check reported */
    promstore_check_summary sum;
    seen_problem problems[MAX_PROBLEMS];
    size_t n_problems;
    int stop_after; /* the callback stops after this many; 0 = never */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->dir = tu_mkdtemp("check");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static promstore_options options(const fx *f)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = g_backend;
    o.path = f->dir;
    o.block_duration_ms = HOUR_MS;
    o.out_of_order_window_ms = 10 * 60 * 1000;
    return o;
}

/* --- building a store ------------------------------------------------------------ */

/*
 * n series {__name__="check_metric", instance="host-<i>", job="a"|"b"} (every
 * seventh also zone="z<i%3>") with a sample every 30 s, steps [from, to) of
 * 30 s after T0, one append per step, so chunks are cut by size and by block;
 * every tenth series also gets out-of-order samples a few minutes back at
 * every full hour. build_store() appends `hours` hours from T0 that way.
 */
static void append_steps(fx *f, promstore *db, int n, int from, int to)
{
    promstore_error err;
    promstore_series *ss = calloc((size_t)n, sizeof *ss);
    promstore_label *ls = calloc((size_t)n * 4, sizeof *ls);
    promstore_sample *sm = calloc((size_t)n * 2, sizeof *sm);
    char(*inst)[24] = calloc((size_t)n, sizeof *inst);
    char(*zone)[8] = calloc((size_t)n, sizeof *zone);
    assert_true(ss && ls && sm && inst && zone);
    f->series = (uint64_t)n;
    for (int step = from; step < to; step++) {
        int64_t t = T0 + step * STEP_MS;
        for (int i = 0; i < n; i++) {
            snprintf(inst[i], sizeof inst[i], "host-%d", i);
            snprintf(zone[i], sizeof zone[i], "z%d", i % 3);
            promstore_label *l = &ls[4 * i];
            l[0] = (promstore_label){"__name__", 8, "check_metric", 12};
            l[1] = (promstore_label){"instance", 8, inst[i], strlen(inst[i])};
            l[2] = (promstore_label){"job", 3, i % 2 ? "a" : "b", 1};
            l[3] = (promstore_label){"zone", 4, zone[i], strlen(zone[i])};
            ss[i].labels = l;
            ss[i].n_labels = i % 7 == 0 ? 4 : 3;
            sm[2 * i] = (promstore_sample){t + i % 5, tu_bits(step * 1.5 + i)};
            ss[i].samples = &sm[2 * i];
            ss[i].n_samples = 1;
            /* Out of order: a few minutes back, once an hour. */
            if (i % 10 == 0 && step > 20 && step % 120 == 0) {
                sm[2 * i + 1] = (promstore_sample){t - 7 * STEP_MS + 3, tu_bits(-1.0 * i)};
                ss[i].n_samples = 2;
                f->ooo++;
            }
        }
        promstore_append_result r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        assert_int_equal(promstore_append(db, ss, (size_t)n, &r, &err), PROMSTORE_OK);
        assert_int_equal(r.samples_rejected, 0);
        f->samples += r.samples_appended;
    }
    free(ss);
    free(ls);
    free(sm);
    free(inst);
    free(zone);
}

static void build_store(fx *f, int n, int hours, int with_retention)
{
    promstore_options o = options(f);
    promstore *db = NULL;
    promstore_error err;
    int steps = (int)(hours * HOUR_MS / STEP_MS);
    assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);
    append_steps(f, db, n, 0, steps);
    if (with_retention) {
        promstore_retention_result rr;
        memset(&rr, 0, sizeof rr);
        rr.struct_size = sizeof rr;
        assert_int_equal(promstore_apply_retention(db, T0 + HOUR_MS, &rr, &err), PROMSTORE_OK);
        assert_int_equal(rr.blocks_dropped, 1);
        assert_int_equal(rr.series_dropped, 0);
        f->samples -= rr.samples_dropped;
        f->ooo = 0; /* recounted below from the hours kept */
        for (int step = 0; step < steps; step++)
            if (step > 20 && step % 120 == 0 &&
                T0 + step * STEP_MS - 7 * STEP_MS + 3 >= T0 + HOUR_MS)
                f->ooo += (uint64_t)(n + 9) / 10;
    }
    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
}

/* --- running the check ---------------------------------------------------------- */

static int collect(void *ctx, const promstore_check_problem *p)
{
    fx *f = ctx;
    assert_int_equal(p->struct_size, sizeof *p);
    assert_non_null(p->table);
    assert_non_null(p->message);
    if (f->n_problems < MAX_PROBLEMS) {
        seen_problem *s = &f->problems[f->n_problems];
        snprintf(s->table, sizeof s->table, "%s", p->table);
        snprintf(s->message, sizeof s->message, "%s", p->message);
        s->id = p->series_id;
        s->block = p->block_start_ms;
    }
    f->n_problems++;
    return f->stop_after && f->n_problems >= (size_t)f->stop_after;
}

static promstore_status run_check(fx *f, promstore_error *err)
{
    promstore_options o = options(f);
    memset(&f->sum, 0, sizeof f->sum);
    f->sum.struct_size = sizeof f->sum;
    f->n_problems = 0;
    return promstore_check(&o, collect, f, &f->sum, err);
}

static void print_problems(const fx *f)
{
    for (size_t i = 0; i < f->n_problems && i < MAX_PROBLEMS; i++)
        print_message("  problem: table=%s series=%llu block=%lld: %s\n", f->problems[i].table,
                      (unsigned long long)f->problems[i].id, (long long)f->problems[i].block,
                      f->problems[i].message);
}

/* Check, expecting it to run and find problems; returns their number. */
static size_t check_finds(fx *f)
{
    promstore_error err;
    promstore_status rc = run_check(f, &err);
    if (rc != PROMSTORE_OK)
        fail_msg("promstore_check failed: %d %s", rc, err.message);
    assert_int_equal(f->sum.problems, f->n_problems);
    if (f->n_problems == 0)
        fail_msg("the damage was not detected");
    return f->n_problems;
}

/* The problem on table (prefix) for series id (0: any) with text in its message. */
static const seen_problem *find(const fx *f, const char *table, uint64_t id, const char *text)
{
    for (size_t i = 0; i < f->n_problems && i < MAX_PROBLEMS; i++) {
        const seen_problem *p = &f->problems[i];
        if (strncmp(p->table, table, strlen(table)) == 0 && (id == 0 || p->id == id) &&
            (text == NULL || strstr(p->message, text) != NULL))
            return p;
    }
    print_problems(f);
    fail_msg("no problem on table %s for series %llu mentioning \"%s\"", table,
             (unsigned long long)id, text ? text : "");
    return NULL;
}

/* --- damaging a store through the backend interface ---------------------------------- */

/*
 * The store's backend under the schema layer: entries are read and written
 * as bytes (raw_nth, raw_put) and made or taken apart with the schema's
 * encoders and decoders, so the damage is exactly what the test means.
 */
typedef struct raw {
    ps_schema s;
    ps_txn *txn;
} raw;

static void raw_open(raw *r, const fx *f)
{
    promstore_error err;
    ps_backend_config cfg = {0, 0};
    ps_schema_init(&r->s, ps_backend_find(g_backend));
    assert_non_null(r->s.bm);
    if (ps_schema_open(&r->s, f->dir, &cfg, &err) != 0)
        fail_msg("backend open: %s", err.message);
    assert_int_equal(ps_txn_begin(&r->s, 1, &r->txn, &err), 0);
    for (ps_kind k = PS_T_META; k < PS_T_FIXED; k++)
        if (ps_schema_open_table(&r->s, r->txn, k, 0, &err) != 0)
            fail_msg("table %s: %s", ps_kind_name(k), err.message);
}

static void raw_close(raw *r)
{
    promstore_error err;
    if (ps_txn_commit(&r->s, r->txn, &err) != 0)
        fail_msg("commit: %s", err.message);
    ps_schema_close(&r->s);
}

static ps_table raw_table(raw *r, const char *name)
{
    ps_table t;
    promstore_error err;
    if (r->s.bm->table_open(r->txn, name, 0, &t, &err) != 0)
        fail_msg("table %s: %s", name, err.message);
    return t;
}

static void raw_put(raw *r, ps_table t, const void *k, size_t kl, const void *v, size_t vl)
{
    promstore_error err;
    if (r->s.bm->put(r->txn, t, k, kl, v, vl, &err) != 0)
        fail_msg("put: %s", err.message);
}

static void raw_del(raw *r, ps_table t, const void *k, size_t kl)
{
    promstore_error err;
    if (r->s.bm->del(r->txn, t, k, kl, &err) != 0)
        fail_msg("del: %s", err.message);
}

/* A copy of one table entry. */
typedef struct entry {
    uint8_t k[PS_BACKEND_MAX_KEY];
    size_t kl;
    uint8_t v[4096];
    size_t vl;
} entry;

/* The nth entry (0-based) of a table, copied into e. */
static void raw_nth(raw *r, ps_table t, int nth, entry *e)
{
    ps_cursor *c;
    const void *k, *v;
    promstore_error err;
    assert_int_equal(r->s.bm->cursor_open(r->txn, t, &c, &err), 0);
    int rc = r->s.bm->cursor_first(c, &k, &e->kl, &v, &e->vl, &err);
    for (int i = 0; rc == 0 && i < nth; i++)
        rc = r->s.bm->cursor_next(c, &k, &e->kl, &v, &e->vl, &err);
    assert_int_equal(rc, 0);
    assert_true(e->vl <= sizeof e->v);
    memcpy(e->k, k, e->kl);
    memcpy(e->v, v, e->vl);
    r->s.bm->cursor_close(c);
}

/* Entry e read as a record of `kind` (views into e); it must decode. */
static ps_rec decoded(ps_kind kind, const entry *e)
{
    ps_rec rec;
    ps_bad bad;
    if (ps_rec_decode(kind, e->k, e->kl, e->v, e->vl, &rec, &bad) != 0)
        fail_msg("%s entry does not decode: %s", ps_kind_name(kind), bad.why);
    return rec;
}

/* The key of record rec into k; its length. */
static size_t rec_key(ps_kind kind, const ps_rec *rec, uint8_t *k)
{
    size_t kl = ps_rec_key(kind, rec, k);
    assert_true(kl > 0);
    return kl;
}

/* Store rec in table t as the schema encodes it. */
static void raw_put_rec(raw *r, ps_table t, ps_kind kind, const ps_rec *rec)
{
    uint8_t k[PS_BACKEND_MAX_KEY], v[4096];
    size_t kl = rec_key(kind, rec, k), vl = ps_rec_value(kind, rec, v, sizeof v);
    assert_true(vl != SIZE_MAX);
    raw_put(r, t, k, kl, v, vl);
}

/* The block record of the nth block (its first holds sealed chunks). */
static ps_block_rec block_rec(raw *r, int nth)
{
    entry b;
    raw_nth(r, raw_table(r, "blocks"), nth, &b);
    return decoded(PS_T_BLOCKS, &b).block;
}

/* The table and start time of the nth block. */
static ps_table block_table(raw *r, int nth, int64_t *start)
{
    char name[32];
    ps_block_rec b = block_rec(r, nth);
    *start = b.blk * HOUR_MS;
    return raw_table(r, ps_blk_name(b.slot, name, sizeof name));
}

static const char *block_name(raw *r, int nth, char *buf, size_t cap)
{
    return ps_blk_name(block_rec(r, nth).slot, buf, cap);
}

/* The postings record of (name, value) for series id; its pair goes in pair. */
static ps_rec posting(const char *name, const char *value, uint64_t id, uint8_t *pair)
{
    size_t n = ps_pair_encode(name, strlen(name), value, strlen(value), pair, PS_PAIR_MAX);
    assert_true(n > 0);
    return (ps_rec){.posting = {pair, n, id}};
}

/* --- healthy store --------------------------------------------------------------------- */

static void test_healthy_store(void **state)
{
    fx *f = *state;
    build_store(f, 300, 5, 1);
    promstore_error err;
    promstore_status rc = run_check(f, &err);
    if (rc != PROMSTORE_OK)
        fail_msg("promstore_check: %d %s", rc, err.message);
    if (f->n_problems) {
        print_problems(f);
        fail_msg("%zu problems in a healthy store", f->n_problems);
    }
    assert_int_equal(f->sum.struct_size, sizeof f->sum);
    assert_string_equal(f->sum.backend, g_backend);
    assert_int_equal(f->sum.problems, 0);
    assert_int_equal(f->sum.stopped, 0);
    assert_int_equal(f->sum.series, 300);
    /* one entry per label (4 for every seventh series, else 3), plus "all series" */
    uint64_t four = (300 + 6) / 7;
    assert_int_equal(f->sum.postings, 300 * 4 + four);
    assert_int_equal(f->sum.head_chunks, 300);
    assert_int_equal(f->sum.samples, f->samples);
    assert_int_equal(f->sum.ooo_samples, f->ooo);
    assert_true(f->ooo > 0);
    /* 5 h of 1 h blocks, the first dropped: sealed chunks in hours 1..3 (4 is open). */
    assert_int_equal(f->sum.blocks, 3);
    assert_true(f->sum.chunks > f->sum.head_chunks);

    /* The statistics the engine keeps say the same. */
    promstore_options o = options(f);
    promstore *db;
    promstore_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);
    assert_int_equal(promstore_stats_get(db, &st, &err), PROMSTORE_OK);
    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
    assert_int_equal(st.series, f->sum.series);
    assert_int_equal(st.samples, f->sum.samples);
    assert_int_equal(st.chunks, f->sum.chunks);
    assert_int_equal(st.blocks, f->sum.blocks);

    /* A summary struct of an older, shorter layout gets only its fields. */
    promstore_check_summary small;
    memset(&small, 0x5a, sizeof small);
    small.struct_size = offsetof(promstore_check_summary, postings);
    assert_int_equal(promstore_check(&o, NULL, NULL, &small, &err), PROMSTORE_OK);
    assert_int_equal(small.series, 300);
    uint64_t pattern;
    memset(&pattern, 0x5a, sizeof pattern);
    assert_true(small.postings == pattern);
}

/* --- chunks -------------------------------------------------------------------------------- */

static void test_chunk_garbage(void **state)
{
    fx *f = *state;
    build_store(f, 40, 3, 0);
    raw r;
    entry e;
    int64_t start;
    char name[32];
    raw_open(&r, f);
    ps_table t = block_table(&r, 1, &start);
    raw_nth(&r, t, 5, &e);
    ps_rec c = decoded(PS_T_BLK, &e);
    uint64_t id = c.chunk.id;
    uint8_t data[sizeof e.v];
    uint64_t x = 0x243f6a8885a308d3u;
    memcpy(data, c.chunk.data, c.chunk.len);
    for (size_t i = 2; i < c.chunk.len; i++) { /* keep the count (and the max time) */
        x = x * 6364136223846793005u + 1442695040888963407u;
        data[i] = (uint8_t)(x >> 56);
    }
    c.chunk.data = data;
    raw_put_rec(&r, t, PS_T_BLK, &c);
    block_name(&r, 1, name, sizeof name);
    raw_close(&r);

    check_finds(f);
    const seen_problem *p = find(f, name, id, "chunk");
    assert_int_equal(p->block, start);
}

static void test_chunk_count_mismatch(void **state)
{
    fx *f = *state;
    build_store(f, 40, 3, 0);
    raw r;
    entry e;
    int64_t start;
    char name[32];
    raw_open(&r, f);
    ps_table t = block_table(&r, 0, &start);
    raw_nth(&r, t, 3, &e);
    ps_rec c = decoded(PS_T_BLK, &e);
    uint64_t id = c.chunk.id;
    uint8_t data[sizeof e.v];
    memcpy(data, c.chunk.data, c.chunk.len);
    unsigned n = (unsigned)data[0] << 8 | data[1]; /* the XOR chunk's u16 sample count */
    n -= 1; /* the header now counts one sample fewer than the chunk holds */
    data[0] = (uint8_t)(n >> 8);
    data[1] = (uint8_t)n;
    c.chunk.data = data;
    raw_put_rec(&r, t, PS_T_BLK, &c);
    block_name(&r, 0, name, sizeof name);
    raw_close(&r);

    check_finds(f);
    assert_int_equal(find(f, name, id, "samples its header counts")->block, start);
    /* and the block's counters no longer match its table */
    find(f, "blocks", 0, "record counts");
}

static void test_head_garbage(void **state)
{
    fx *f = *state;
    build_store(f, 40, 3, 0);
    raw r;
    entry e;
    raw_open(&r, f);
    ps_table t = raw_table(&r, "head");
    raw_nth(&r, t, 7, &e);
    ps_rec h = decoded(PS_T_HEAD, &e);
    uint64_t id = h.head.id;
    uint8_t data[sizeof e.v];
    memcpy(data, h.head.chunk, h.head.chunk_len);
    memset(data + 2, 0xff, h.head.chunk_len - 2); /* all but the count */
    h.head.chunk = data;
    raw_put_rec(&r, t, PS_T_HEAD, &h);
    raw_close(&r);

    check_finds(f);
    find(f, "head", id, "open chunk");
}

static void test_chunk_of_missing_series(void **state)
{
    fx *f = *state;
    build_store(f, 40, 3, 0);
    raw r;
    entry e;
    int64_t start;
    char name[32];
    raw_open(&r, f);
    ps_table t = block_table(&r, 1, &start);
    raw_nth(&r, t, 0, &e);
    /* A copy of a valid chunk, filed under series id 37777 that was never created. */
    ps_rec c = decoded(PS_T_BLK, &e);
    c.chunk.id = 37777;
    raw_put_rec(&r, t, PS_T_BLK, &c);
    block_name(&r, 1, name, sizeof name);
    raw_close(&r);

    check_finds(f);
    const seen_problem *p = find(f, name, 37777, "not in the series index");
    assert_int_equal(p->block, start);
}

/* --- the index ---------------------------------------------------------------------------- */

static void test_postings_to_missing_series(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    uint8_t pair[PS_PAIR_MAX];
    raw_open(&r, f);
    ps_rec p = posting("job", "a", 9999, pair);
    raw_put_rec(&r, raw_table(&r, "postings"), PS_T_POSTINGS, &p);
    raw_close(&r);

    assert_int_equal(check_finds(f), 1);
    find(f, "postings", 9999, "job=\"a\"");
}

static void test_series_without_postings(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    uint8_t k[PS_BACKEND_MAX_KEY], pair[PS_PAIR_MAX];
    raw_open(&r, f);
    /* Ids are given in append order: host-5 is series 6. */
    ps_rec p = posting("instance", "host-5", 6, pair);
    raw_del(&r, raw_table(&r, "postings"), k, rec_key(PS_T_POSTINGS, &p, k));
    raw_close(&r);

    assert_int_equal(check_finds(f), 1);
    find(f, "postings", 6, "instance=\"host-5\"");
}

static void test_postings_pair_mismatch(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    uint8_t pair[PS_PAIR_MAX];
    raw_open(&r, f);
    /* Series 6 (host-5) listed under host-6 too: an entry of an existing series. */
    ps_rec p = posting("instance", "host-6", 6, pair);
    raw_put_rec(&r, raw_table(&r, "postings"), PS_T_POSTINGS, &p);
    raw_close(&r);

    assert_int_equal(check_finds(f), 1);
    find(f, "postings", 6, "has no such label");
}

static void test_reverse_index_mismatch(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    entry s3;
    uint8_t skey[PS_SKEY_MAX];
    uint64_t id4 = 4;
    promstore_error err;
    raw_open(&r, f);
    /* series 3's labels key -> id 4 instead of 3 */
    raw_nth(&r, raw_table(&r, "series"), 2, &s3);
    ps_rec s = decoded(PS_T_SERIES, &s3);
    assert_int_equal(s.series.id, 3);
    size_t sl = ps_skey_encode(s.series.key, s.series.key_len, skey);
    assert_int_equal(ps_skey_put(&r.s, r.txn, skey, sl, &id4, 1, &err), PROMSTORE_OK);
    raw_close(&r);

    check_finds(f);
    find(f, "series_key", 3, "names series 4 instead");
    /* the detail pass names the stray entry as well */
    find(f, "series_key", 4, "whose labels are");
}

static void test_lastblk_missing(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    entry e;
    raw_open(&r, f);
    ps_table t = raw_table(&r, "lastblk");
    raw_nth(&r, t, 11, &e);
    uint64_t id = decoded(PS_T_LASTBLK, &e).lastblk.id;
    raw_del(&r, t, e.k, e.kl);
    raw_close(&r);

    assert_int_equal(check_finds(f), 1);
    find(f, "lastblk", id, "retention would never drop");
}

static void test_block_counts(void **state)
{
    fx *f = *state;
    build_store(f, 40, 3, 0);
    raw r;
    entry b;
    raw_open(&r, f);
    ps_table t = raw_table(&r, "blocks");
    raw_nth(&r, t, 0, &b);
    ps_rec rec = decoded(PS_T_BLOCKS, &b);
    rec.block.samples++; /* one sample more than stored */
    raw_put_rec(&r, t, PS_T_BLOCKS, &rec);
    raw_close(&r);

    assert_int_equal(check_finds(f), 1);
    assert_int_equal(find(f, "blocks", 0, "record counts")->block, rec.block.blk * HOUR_MS);
}

static void test_stats_mismatch(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    ps_stats_rec st;
    promstore_error err;
    raw_open(&r, f);
    /* The record is there and of its size (a shorter or longer one does not decode). */
    assert_int_equal(ps_stats_get(&r.s, r.txn, &st, &err), PROMSTORE_OK);
    st.series += 2; /* two series more than the index holds */
    assert_int_equal(ps_stats_put(&r.s, r.txn, &st, &err), PROMSTORE_OK);
    raw_close(&r);

    assert_int_equal(check_finds(f), 1);
    find(f, "meta", 0, "stats count 42 series, the index holds 40");
}

/* --- the backend's own structures (SQLite) -------------------------------------------------- */

static void test_sqlite_page_damage(void **state)
{
    fx *f = *state;
    if (strcmp(g_backend, "sqlite") != 0)
        skip();
    build_store(f, 200, 2, 0);
    char file[4096];
    snprintf(file, sizeof file, "%s/promstore.sqlite", f->dir);
    /* The root page of the series table: certainly a b-tree page in use. */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT rootpage FROM sqlite_schema WHERE name = "
                                        "'t_series'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long root = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_true(root > 1);
    /* Its page header: type, free-block pointer, cell count, content start. */
    FILE *fp = fopen(file, "r+b");
    assert_non_null(fp);
    static const uint8_t junk[8] = {0x42, 0xde, 0xad, 0xbe, 0xef, 0x17, 0x17, 0x17};
    assert_int_equal(fseek(fp, (root - 1) * 4096, SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    assert_int_equal(fclose(fp), 0);

    promstore_error err;
    promstore_status rc = run_check(f, &err);
    if (rc != PROMSTORE_OK)
        fail_msg("promstore_check: %d %s", rc, err.message);
    find(f, "(backend)", 0, "integrity_check");
    /* Reading the series table then fails: a finding too, not a failure to run. */
    find(f, "series", 0, "later checks skipped");
}

/*
 * LMDB keeps each table's header (an MDB_db record: entry count, page counts,
 * root) as the value of the table's name in its main database. Raise the
 * entry count of `postings` in every copy of that record in data.mdb: the
 * walk reads fewer entries than the header claims. (Node layout on x86-64:
 * data size u32 = 48, flags u16 = F_SUBDATA, key size u16 = 8, the key, the
 * record with md_entries at offset 32.)
 */
static void test_lmdb_header_damage(void **state)
{
    fx *f = *state;
    if (strcmp(g_backend, "lmdb") != 0)
        skip();
    build_store(f, 40, 2, 0);
    char file[4096];
    snprintf(file, sizeof file, "%s/data.mdb", f->dir);
    FILE *fp = fopen(file, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    uint8_t *data = malloc((size_t)size);
    assert_non_null(data);
    rewind(fp);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    static const uint8_t node[] = {0x30, 0,   0,   0,   0x02, 0,   0x08, 0,
                                   'p',  'o', 's', 't', 'i',  'n', 'g',  's'};
    int patched = 0;
    for (long i = 0; i + (long)sizeof node + 48 <= size; i++) {
        if (memcmp(data + i, node, sizeof node) != 0)
            continue;
        uint64_t entries;
        memcpy(&entries, data + i + sizeof node + 32, 8);
        entries += 5;
        assert_int_equal(fseek(fp, i + (long)sizeof node + 32, SEEK_SET), 0);
        assert_int_equal(fwrite(&entries, 1, 8, fp), 8);
        patched++;
    }
    free(data);
    assert_int_equal(fclose(fp), 0);
    assert_true(patched > 0);

    check_finds(f);
    find(f, "postings", 0, "but the table header counts");
}

/* --- refusals --------------------------------------------------------------------------------- */

static void test_busy_store(void **state)
{
    fx *f = *state;
    build_store(f, 5, 1, 0);
    promstore_options o = options(f);
    promstore *db;
    promstore_error err;
    assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);
    assert_int_equal(run_check(f, &err), PROMSTORE_E_BUSY);
    assert_int_equal(err.status, PROMSTORE_E_BUSY);
    assert_non_null(strstr(err.message, "is open"));
    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
    assert_int_equal(run_check(f, &err), PROMSTORE_OK);
    assert_int_equal(f->sum.problems, 0);
}

static void test_no_store(void **state)
{
    fx *f = *state;
    promstore_options o = options(f);
    promstore_error err;
    char path[4200];
    struct stat st;
    /* An empty directory: nothing is created in it. */
    assert_int_equal(promstore_check(&o, NULL, NULL, NULL, &err), PROMSTORE_E_NOT_FOUND);
    snprintf(path, sizeof path, "%s/FORMAT", f->dir);
    assert_int_not_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/LOCK", f->dir);
    assert_int_not_equal(stat(path, &st), 0);
    /* A path that does not exist stays so. */
    snprintf(path, sizeof path, "%s/none", f->dir);
    o.path = path;
    assert_int_equal(promstore_check(&o, NULL, NULL, NULL, &err), PROMSTORE_E_NOT_FOUND);
    assert_int_not_equal(stat(path, &st), 0);
    /* Bad arguments. */
    o.path = NULL;
    assert_int_equal(promstore_check(&o, NULL, NULL, NULL, &err), PROMSTORE_E_INVALID);
    assert_int_equal(promstore_check(NULL, NULL, NULL, NULL, &err), PROMSTORE_E_INVALID);
    o.path = f->dir;
    o.backend = "nope";
    assert_int_equal(promstore_check(&o, NULL, NULL, NULL, &err), PROMSTORE_E_INVALID);
}

static void test_other_backend(void **state)
{
    fx *f = *state;
    build_store(f, 5, 1, 0);
    promstore_options o = options(f);
    promstore_error err;
    o.backend = strcmp(g_backend, "lmdb") == 0 ? "sqlite" : "lmdb";
    assert_int_equal(promstore_check(&o, NULL, NULL, NULL, &err), PROMSTORE_E_CORRUPT);
    assert_non_null(strstr(err.message, g_backend));
}

static void test_stop_early(void **state)
{
    fx *f = *state;
    build_store(f, 40, 2, 0);
    raw r;
    uint8_t pair[PS_PAIR_MAX];
    raw_open(&r, f);
    ps_table t = raw_table(&r, "postings");
    for (uint64_t id = 5000; id < 5010; id++) {
        ps_rec p = posting("job", "b", id, pair);
        raw_put_rec(&r, t, PS_T_POSTINGS, &p);
    }
    raw_close(&r);

    assert_int_equal(check_finds(f), 10);
    f->stop_after = 3;
    promstore_error err;
    promstore_options o = options(f);
    f->n_problems = 0;
    memset(&f->sum, 0, sizeof f->sum);
    f->sum.struct_size = sizeof f->sum;
    assert_int_equal(promstore_check(&o, collect, f, &f->sum, &err), PROMSTORE_OK);
    assert_int_equal(f->n_problems, 3);
    assert_int_equal(f->sum.problems, 3);
    assert_int_equal(f->sum.stopped, 1);
}

/* --- a cut key equal to a whole one ---------------------------------------------- */

/*
 * Label sets whose key is longer than PS_SKEY_MAX are filed under a cut key
 * (PS_SKEY_PREFIX bytes + an 8-byte hash), which is exactly PS_SKEY_MAX bytes
 * long; a label set whose key is exactly PS_SKEY_MAX bytes is filed whole.
 * So a client can craft K, whose whole key equals the cut key of a long set L
 * (a few thousand hash tries). The engine used to take K's series_key entry
 * for K's own and stored K's samples under L. Both orders must give two
 * series, each with its own sample, and a store the check finds sound.
 */
static void append_one(promstore *db, const promstore_label *l, int64_t t, double v)
{
    promstore_sample smp = {t, 0};
    memcpy(&smp.value_bits, &v, 8);
    promstore_series s = {l, 2, &smp, 1};
    promstore_append_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    promstore_error err;
    if (promstore_append(db, &s, 1, &r, &err) != PROMSTORE_OK)
        fail_msg("append: %s", err.message);
    assert_int_equal(r.series_created, 1);
}

static void test_cut_key_equal_to_whole_key(void **state)
{
    fx *f = *state;
    static char lval[461], kval[427];
    promstore_label L[2] = {{"__name__", 8, "m", 1}, {"a", 1, lval, 460}};
    uint8_t lkey[600], h[8];
    /* An L whose hash bytes can end a label value: 0x02..0x7f, then the 0x00 terminator. */
    int found = 0;
    for (unsigned long tries = 0; tries < 2000000 && !found; tries++) {
        memset(lval, 'x', 440);
        snprintf(lval + 440, 21, "%020lu", tries);
        size_t kl = ps_labels_key_encode(L, 2, lkey);
        ps_put_u64(h, ps_hash64(lkey, kl));
        found = h[7] == 0;
        for (int i = 0; i < 7 && found; i++)
            found = h[i] >= 0x02 && h[i] < 0x80;
    }
    assert_true(found);
    memset(kval, 'x', 419);
    memcpy(kval + 419, h, 7);
    promstore_label K[2] = {{"__name__", 8, "m", 1}, {"a", 1, kval, 426}};
    uint8_t kkey[600], lskey[PS_SKEY_MAX + 8];
    size_t kkl = ps_labels_key_encode(K, 2, kkey);
    size_t lkl = ps_labels_key_encode(L, 2, lkey);
    size_t lsl = ps_skey_encode(lkey, lkl, lskey);
    /* The premise: K's whole key is L's cut key. */
    assert_int_equal(kkl, PS_SKEY_MAX);
    assert_int_equal(lsl, PS_SKEY_MAX);
    assert_memory_equal(kkey, lskey, lsl);

    for (int k_first = 0; k_first < 2; k_first++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s-first", f->dir, k_first ? "k" : "l");
        promstore_options o = options(f);
        o.path = path;
        promstore *db = NULL;
        promstore_error err;
        assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);
        append_one(db, k_first ? K : L, T0, k_first ? 2.0 : 1.0);
        append_one(db, k_first ? L : K, T0 + 1000, k_first ? 1.0 : 2.0);
        /* Each label set reads back its own sample only. */
        for (int which = 0; which < 2; which++) {
            const promstore_label *want = which ? K : L;
            promstore_matcher m[2] = {{PROMSTORE_MATCH_EQ, "__name__", 8, "m", 1},
                                      {PROMSTORE_MATCH_EQ, "a", 1, want[1].value,
                                       want[1].value_len}};
            promstore_series_iter *it;
            assert_int_equal(promstore_query(db, m, 2, 0, INT64_MAX, &it, &err), PROMSTORE_OK);
            assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
            promstore_sample smp;
            assert_int_equal(promstore_series_iter_sample(it, &smp, &err), PROMSTORE_OK);
            double v;
            memcpy(&v, &smp.value_bits, 8);
            assert_true(v == (which ? 2.0 : 1.0));
            assert_int_equal(promstore_series_iter_sample(it, &smp, &err), PROMSTORE_DONE);
            assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
            promstore_series_iter_close(it);
        }
        assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
        memset(&f->sum, 0, sizeof f->sum);
        f->sum.struct_size = sizeof f->sum;
        f->n_problems = 0;
        assert_int_equal(promstore_check(&o, collect, f, &f->sum, &err), PROMSTORE_OK);
        if (f->n_problems)
            print_problems(f);
        assert_int_equal(f->sum.series, 2);
        assert_int_equal(f->sum.problems, 0);
    }
}

/* --- retention under a read snapshot ------------------------------------------------ */

/*
 * count series {__name__="short_lived", hour="<hour>", k="<k>"}, each with one
 * sample in that hour only: the retention that drops the hour drops them,
 * deleting their entries from every index table.
 */
static void append_short_lived(promstore *db, int hour, int count)
{
    promstore_error err;
    promstore_series *ss = calloc((size_t)count, sizeof *ss);
    promstore_label *ls = calloc((size_t)count * 3, sizeof *ls);
    promstore_sample *sm = calloc((size_t)count, sizeof *sm);
    char(*kv)[16] = calloc((size_t)count, sizeof *kv);
    char hv[16];
    assert_true(ss && ls && sm && kv);
    snprintf(hv, sizeof hv, "%d", hour);
    for (int k = 0; k < count; k++) {
        snprintf(kv[k], sizeof kv[k], "%d", k);
        promstore_label *l = &ls[3 * k];
        l[0] = (promstore_label){"__name__", 8, "short_lived", 11};
        l[1] = (promstore_label){"hour", 4, hv, strlen(hv)};
        l[2] = (promstore_label){"k", 1, kv[k], strlen(kv[k])};
        sm[k] = (promstore_sample){T0 + hour * HOUR_MS + 1000, tu_bits(k)};
        ss[k] = (promstore_series){l, 3, &sm[k], 1};
    }
    if (promstore_append(db, ss, (size_t)count, NULL, &err) != PROMSTORE_OK)
        fail_msg("append: %s", err.message);
    free(ss);
    free(ls);
    free(sm);
    free(kv);
}

/*
 * 1 if data.mdb ends before the last page its newest meta page records
 * (LMDB's layout on x86-64: the meta after a 16-byte page header, mm_last_pg
 * at byte 136 and mm_txnid at 144 of pages 0 and 1); 0 otherwise, and always
 * on SQLite.
 */
static int lmdb_file_short(const fx *f)
{
    if (strcmp(g_backend, "lmdb") != 0)
        return 0;
    char file[4200];
    long psize = sysconf(_SC_PAGESIZE);
    uint8_t meta[2][152];
    snprintf(file, sizeof file, "%s/data.mdb", f->dir);
    FILE *fp = fopen(file, "rb");
    assert_non_null(fp);
    for (int m = 0; m < 2; m++) {
        assert_int_equal(fseek(fp, m * psize, SEEK_SET), 0);
        assert_int_equal(fread(meta[m], 1, sizeof meta[m], fp), sizeof meta[m]);
    }
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    assert_int_equal(fclose(fp), 0);
    uint64_t last[2], txnid[2];
    for (int m = 0; m < 2; m++) {
        memcpy(&last[m], meta[m] + 136, 8);
        memcpy(&txnid[m], meta[m] + 144, 8);
    }
    int newest = txnid[1] > txnid[0];
    return (uint64_t)size < (last[newest] + 1) * (uint64_t)psize;
}

/*
 * Retention that runs while a query holds a read snapshot cannot reuse the
 * pages freed after it: once the older free pages are used up, LMDB takes
 * new pages at the end of the map. A page that one commit takes and frees
 * again (a leaf copied for a delete and then emptied by the next ones) is
 * never written, so the file can end before the last page number the meta
 * records, every page past its end being free. Such a store is sound and
 * must pass, every round.
 */
static void test_retention_under_snapshot(void **state)
{
    fx *f = *state;
    const int n = 50, per_hour = (int)(HOUR_MS / STEP_MS);
    promstore_options o = options(f);
    promstore_error err;
    int short_rounds = 0;
    for (int round = 1; round <= 6; round++) {
        promstore *db = NULL;
        assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);
        /*
         * Hour h: 3000 series that live in it only, a snapshot pinned, the
         * hour's samples (their pages now come from the end of the map),
         * then the hour dropped with its 3000 series, still under the
         * snapshot.
         */
        int h = round - 1;
        append_short_lived(db, h, 3000);
        promstore_matcher m = {PROMSTORE_MATCH_EQ, "__name__", 8, "short_lived", 11};
        promstore_series_iter *it = NULL;
        assert_int_equal(promstore_query(db, &m, 1, INT64_MIN, INT64_MAX, &it, &err),
                         PROMSTORE_OK);
        assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
        append_steps(f, db, n, h * per_hour, (h + 1) * per_hour + 2);
        promstore_retention_result rr;
        memset(&rr, 0, sizeof rr);
        rr.struct_size = sizeof rr;
        assert_int_equal(promstore_apply_retention(db, T0 + round * HOUR_MS, &rr, &err),
                         PROMSTORE_OK);
        assert_int_equal(rr.blocks_dropped, 1);
        assert_int_equal(rr.series_dropped, 3000);
        promstore_series_iter_close(it);
        assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
        short_rounds += lmdb_file_short(f);
        promstore_status rc = run_check(f, &err);
        if (rc != PROMSTORE_OK)
            fail_msg("round %d: promstore_check: %d %s", round, rc, err.message);
        if (f->n_problems) {
            print_problems(f);
            fail_msg("round %d: %zu problems in a sound store", round, f->n_problems);
        }
    }
    /* The case this is about did arise (it does on LMDB 0.9.24 from round 3). */
    if (strcmp(g_backend, "lmdb") == 0)
        assert_true(short_rounds > 0);
}

/*
 * The other side: data.mdb cut to half its length loses pages in use, and
 * the check says so, and an open refuses the store (neither reads them:
 * that would be a SIGBUS).
 */
static void test_lmdb_truncated(void **state)
{
    fx *f = *state;
    if (strcmp(g_backend, "lmdb") != 0)
        skip();
    build_store(f, 40, 2, 0);
    char file[4200];
    struct stat st;
    snprintf(file, sizeof file, "%s/data.mdb", f->dir);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(truncate(file, st.st_size / 2), 0);
    check_finds(f);
    find(f, "(backend)", 0, "the file was truncated");
    /* An open refuses it the same way, instead of dying of SIGBUS at the first read. */
    promstore_options o = options(f);
    promstore *db = NULL;
    promstore_error err;
    assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_E_CORRUPT);
    assert_null(db);
    assert_non_null(strstr(err.message, "the file was truncated"));
}

int main(int argc, char **argv)
{
    g_backend = tu_backend_from_argv(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthy_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_count_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_of_missing_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postings_to_missing_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_without_postings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postings_pair_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_index_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lastblk_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_page_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_header_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_key_equal_to_whole_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_under_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lmdb_truncated, setup, teardown),
    };
    char name[64];
    snprintf(name, sizeof name, "check_%s", g_backend);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
