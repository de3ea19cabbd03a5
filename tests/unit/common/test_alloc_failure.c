/*
 * test_alloc_failure.c -- every allocation the library makes may fail.
 *
 * The sweep, after nghttp2's failmalloc_test.c and SQLite's *fault.test: run
 * an operation once and count its allocations (plugin/common/mem.h), then run
 * it again from the same starting state once for every n in 1..count with the
 * n-th allocation made to fail. Each run must
 *   - not crash, and leak nothing (the ASan build runs this with leak
 *     detection on);
 *   - succeed, or fail with PROMSTORE_E_NOMEM (over HTTP: 503) and a message;
 *   - leave the store as it was or as the operation makes it, never in
 *     between: an append is all or nothing, and reads return exactly the
 *     answer of a run without failures;
 *   - leave a store that promstore_check() finds sound and that opens again.
 * Operations: open (new and existing store), append, query, retention,
 * remote write and remote read (SAMPLES and STREAMED_XOR_CHUNKS).
 *
 * Usage: test_alloc_failure [lmdb|sqlite]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <snappy-c.h>

#include "mem.h"
#include "promstore.h"
#include "remote.pb-c.h"
#include "testutil.h"

static const char *g_backend = "lmdb";

#define HOUR_MS INT64_C(3600000)

/* ------------------------------------------------------------------------ */
/* A store with a little of everything: sealed chunks, heads, three blocks.  */
/* ------------------------------------------------------------------------ */

typedef struct fixture {
    char *dir;
    promstore *db; /* open between operations, NULL while closed */
} fixture;

static promstore_status open_at(const char *dir, promstore **out, promstore_error *err)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = g_backend;
    o.path = dir;
    o.out_of_order_window_ms = HOUR_MS;
    return promstore_open(&o, out, err);
}

static void reopen(fixture *f)
{
    promstore_error err;
    promstore_status rc = open_at(f->dir, &f->db, &err);
    if (rc != PROMSTORE_OK)
        fail_msg("reopen %s: %s", f->dir, err.message);
}

static void close_db(fixture *f)
{
    if (f->db != NULL)
        assert_int_equal(promstore_close(f->db, NULL), PROMSTORE_OK);
    f->db = NULL;
}

static void append_one(promstore *db, const char *name, const char *job, int64_t t0,
                       int64_t step, size_t n, double v0)
{
    promstore_label l[2] = {{"__name__", 8, name, strlen(name)}, {"job", 3, job, strlen(job)}};
    promstore_sample *s = calloc(n, sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        s[i].timestamp_ms = t0 + (int64_t)i * step;
        s[i].value_bits = tu_bits(v0 + (double)i * 0.5);
    }
    promstore_series ser = {l, 2, s, n};
    promstore_error err;
    promstore_status rc = promstore_append(db, &ser, 1, NULL, &err);
    free(s);
    if (rc != PROMSTORE_OK)
        fail_msg("append %s: %s", name, err.message);
}

/* Three series over three 2 h blocks; 150 samples each seal one chunk. */
static void fill(promstore *db)
{
    append_one(db, "m_a", "x", 0, 15000, 150, 1.0);
    append_one(db, "m_b", "x", 0, 15000, 150, 100.0);
    append_one(db, "m_c", "y", 1000, 60000, 20, -3.0);
    append_one(db, "m_a", "x", 2 * HOUR_MS + 5, 15000, 40, 7.0);
    append_one(db, "m_b", "x", 4 * HOUR_MS + 5, 15000, 10, 9.0);
}

static fixture *fixture_new(void)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_mkdtemp("allocfail");
    reopen(f);
    fill(f->db);
    return f;
}

static void fixture_free(fixture *f)
{
    close_db(f);
    tu_rmtree(f->dir);
    free(f);
}

/* ------------------------------------------------------------------------ */
/* What a store holds, as one number, and whether it is sound.              */
/* ------------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

/*
 * Digest of every series and sample a query over all time returns. An
 * injected failure may end it: then *rc_out is PROMSTORE_E_NOMEM.
 */
static uint64_t digest_query(promstore *db, promstore_status *rc_out)
{
    promstore_error err;
    promstore_series_iter *it = NULL;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    promstore_status rc = promstore_query(db, NULL, 0, INT64_MIN, INT64_MAX, &it, &err);
    while (rc == PROMSTORE_OK && (rc = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *l;
        size_t nl;
        assert_int_equal(promstore_series_iter_labels(it, &l, &nl), PROMSTORE_OK);
        for (size_t i = 0; i < nl; i++) {
            h = fnv(h, l[i].name, l[i].name_len);
            h = fnv(h, "=", 1);
            h = fnv(h, l[i].value, l[i].value_len);
        }
        promstore_sample s;
        while ((rc = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK)
            h = fnv(h, &s, sizeof s);
        if (rc == PROMSTORE_DONE)
            rc = PROMSTORE_OK;
    }
    if (rc == PROMSTORE_DONE)
        rc = PROMSTORE_OK;
    if (rc != PROMSTORE_OK && rc != PROMSTORE_E_NOMEM)
        fail_msg("query failed with %s: %s", promstore_strerror(rc), err.message);
    if (rc == PROMSTORE_E_NOMEM)
        assert_true(err.message[0] != '\0');
    promstore_series_iter_close(it);
    *rc_out = rc;
    return h;
}

static uint64_t digest(promstore *db)
{
    promstore_status rc;
    uint64_t h = digest_query(db, &rc);
    assert_int_equal(rc, PROMSTORE_OK);
    return h;
}

static int count_problem(void *ctx, const promstore_check_problem *p)
{
    fprintf(stderr, "  problem: %s: %s\n", p->table, p->message);
    (*(int *)ctx)++;
    return 0;
}

/* Close, check, reopen: the store must be sound. */
static void assert_sound(fixture *f)
{
    close_db(f);
    promstore_options o;
    promstore_options_init(&o);
    o.backend = g_backend;
    o.path = f->dir;
    promstore_error err;
    int problems = 0;
    promstore_status rc = promstore_check(&o, count_problem, &problems, NULL, &err);
    if (rc != PROMSTORE_OK)
        fail_msg("check could not run: %s", err.message);
    assert_int_equal(problems, 0);
    reopen(f);
}

/* ------------------------------------------------------------------------ */
/* The sweep.                                                               */
/* ------------------------------------------------------------------------ */

typedef struct op {
    const char *name;
    /* Run once on f; returns the status. */
    promstore_status (*run)(fixture *f, void *ctx);
    /* The store's digest before (0: not compared) and after a clean run. */
    uint64_t before, after;
    void *ctx;
} op;

static void check_outcome(op *o, fixture *f, promstore_status rc, int failed, uint64_t n)
{
    if (!failed && rc != PROMSTORE_OK)
        fail_msg("%s: no allocation failed but the run ended %s", o->name, promstore_strerror(rc));
    if (rc != PROMSTORE_OK && rc != PROMSTORE_E_NOMEM)
        fail_msg("%s: allocation %llu failed and the run ended %s, not NOMEM", o->name,
                 (unsigned long long)n, promstore_strerror(rc));
    assert_sound(f);
    uint64_t now = digest(f->db);
    if (rc == PROMSTORE_OK && now != o->after)
        fail_msg("%s: allocation %llu failed, the run said OK, but the store differs", o->name,
                 (unsigned long long)n);
    if (rc != PROMSTORE_OK && now != o->after && now != o->before)
        fail_msg("%s: allocation %llu failed and the store is neither before nor after",
                 o->name, (unsigned long long)n);
}

/*
 * Count the operation's allocations on a fresh fixture, then run it once per
 * allocation with that one failing, each time on a fresh fixture.
 */
static void sweep(op *o)
{
    fixture *f = fixture_new();
    o->before = digest(f->db);
    ps_mem_fail_at(0);
    promstore_status rc = o->run(f, o->ctx);
    uint64_t total = ps_mem_count();
    assert_int_equal(rc, PROMSTORE_OK);
    if (f->db == NULL)
        reopen(f);
    o->after = digest(f->db);
    fixture_free(f);
    assert_true(total > 0);

    uint64_t nomem = 0;
    for (uint64_t n = 1; n <= total; n++) {
        f = fixture_new();
        ps_mem_fail_at(n);
        rc = o->run(f, o->ctx);
        int failed = ps_mem_failed();
        ps_mem_fail_at(0);
        if (f->db == NULL)
            reopen(f);
        nomem += rc == PROMSTORE_E_NOMEM;
        check_outcome(o, f, rc, failed, n);
        fixture_free(f);
    }
    printf("%s on %s: %llu allocations, each failed once: %llu runs ended NOMEM, %llu "
           "recovered\n",
           o->name, g_backend, (unsigned long long)total, (unsigned long long)nomem,
           (unsigned long long)(total - nomem));
    /* A sweep in which no failure ever surfaced tested nothing. */
    assert_true(nomem > 0);
}

/* ------------------------------------------------------------------------ */
/* The operations.                                                          */
/* ------------------------------------------------------------------------ */

/* Open the store at dir (creating it if there is none) and close it again. */
static promstore_status open_then_close(const char *dir)
{
    promstore *db = NULL;
    promstore_error err;
    promstore_status rc = open_at(dir, &db, &err);
    if (rc == PROMSTORE_E_NOMEM)
        assert_true(err.message[0] != '\0');
    if (rc == PROMSTORE_OK)
        assert_int_equal(promstore_close(db, NULL), PROMSTORE_OK);
    else
        assert_null(db);
    return rc;
}

static void test_open(void **state)
{
    (void)state;
    /*
     * Open has no fixture to compare against; sweep it by hand: an existing
     * store (its data must survive every failed open) and a new one.
     */
    fixture *f = fixture_new();
    uint64_t before = digest(f->db);
    close_db(f);
    ps_mem_fail_at(0);
    assert_int_equal(open_then_close(f->dir), PROMSTORE_OK);
    uint64_t total = ps_mem_count(), nomem = 0;
    for (uint64_t n = 1; n <= total; n++) {
        ps_mem_fail_at(n);
        promstore_status rc = open_then_close(f->dir);
        int failed = ps_mem_failed();
        ps_mem_fail_at(0);
        assert_true(rc == PROMSTORE_OK || (failed && rc == PROMSTORE_E_NOMEM));
        nomem += rc == PROMSTORE_E_NOMEM;
        reopen(f);
        assert_true(digest(f->db) == before);
        assert_sound(f);
        close_db(f);
    }
    printf("open of an existing store on %s: %llu allocations, %llu ended NOMEM\n", g_backend,
           (unsigned long long)total, (unsigned long long)nomem);
    assert_true(nomem > 0);
    fixture_free(f);

    char *dir = tu_mkdtemp("allocfail-new");
    ps_mem_fail_at(0);
    assert_int_equal(open_then_close(dir), PROMSTORE_OK);
    total = ps_mem_count();
    tu_rmtree(dir);
    nomem = 0;
    for (uint64_t n = 1; n <= total; n++) {
        dir = tu_mkdtemp("allocfail-new");
        ps_mem_fail_at(n);
        promstore_status rc = open_then_close(dir);
        ps_mem_fail_at(0);
        assert_true(rc == PROMSTORE_OK || rc == PROMSTORE_E_NOMEM);
        nomem += rc == PROMSTORE_E_NOMEM;
        /* Whatever the first open left, the next one makes a sound store. */
        promstore *db = NULL;
        assert_int_equal(open_at(dir, &db, NULL), PROMSTORE_OK);
        assert_int_equal(promstore_close(db, NULL), PROMSTORE_OK);
        promstore_options o;
        promstore_options_init(&o);
        o.backend = g_backend;
        o.path = dir;
        int problems = 0;
        assert_int_equal(promstore_check(&o, count_problem, &problems, NULL, NULL), PROMSTORE_OK);
        assert_int_equal(problems, 0);
        tu_rmtree(dir);
    }
    printf("open of a new store on %s: %llu allocations, %llu ended NOMEM\n", g_backend,
           (unsigned long long)total, (unsigned long long)nomem);
    assert_true(nomem > 0);
}

/* A batch that touches every write path: new series, heads, a new block, ooo. */
static promstore_status run_append(fixture *f, void *ctx)
{
    (void)ctx;
    promstore_label la[2] = {{"__name__", 8, "m_a", 3}, {"job", 3, "x", 1}};
    promstore_label ln[3] = {{"__name__", 8, "m_new", 5}, {"job", 3, "z", 1}, {"k", 1, "v", 1}};
    promstore_label lb[2] = {{"__name__", 8, "m_b", 3}, {"job", 3, "x", 1}};
    promstore_sample sa[130], sn[3], sb[2];
    for (size_t i = 0; i < 130; i++) /* seals a chunk of m_a */
        sa[i] = (promstore_sample){2 * HOUR_MS + 5 + 40 * 15000 + (int64_t)i * 1000,
                                   tu_bits((double)i)};
    for (size_t i = 0; i < 3; i++)
        sn[i] = (promstore_sample){6 * HOUR_MS + (int64_t)i, tu_bits(0.25 * (double)i)};
    sb[0] = (promstore_sample){4 * HOUR_MS + 7, tu_bits(42.0)};        /* out of order */
    sb[1] = (promstore_sample){6 * HOUR_MS + 1, PROMSTORE_STALE_NAN_BITS}; /* next block */
    promstore_series s[3] = {{la, 2, sa, 130}, {ln, 3, sn, 3}, {lb, 2, sb, 2}};
    promstore_error err;
    promstore_status rc = promstore_append(f->db, s, 3, NULL, &err);
    if (rc == PROMSTORE_E_NOMEM)
        assert_true(err.message[0] != '\0');
    return rc;
}

static void test_append(void **state)
{
    (void)state;
    op o = {.name = "append", .run = run_append};
    sweep(&o);
}

static promstore_status run_query(fixture *f, void *ctx)
{
    uint64_t want = *(uint64_t *)ctx;
    promstore_status rc;
    uint64_t got = digest_query(f->db, &rc);
    if (rc == PROMSTORE_OK)
        assert_true(got == want);
    return rc;
}

static void test_query(void **state)
{
    (void)state;
    fixture *f = fixture_new();
    uint64_t want = digest(f->db);
    fixture_free(f);
    op o = {.name = "query", .run = run_query, .ctx = &want};
    sweep(&o);
}

static promstore_status run_retention(fixture *f, void *ctx)
{
    (void)ctx;
    promstore_retention_result res = {.struct_size = sizeof res};
    promstore_error err;
    promstore_status rc = promstore_apply_retention(f->db, 4 * HOUR_MS, &res, &err);
    if (rc == PROMSTORE_OK)
        assert_true(res.blocks_dropped >= 1);
    if (rc == PROMSTORE_E_NOMEM)
        assert_true(err.message[0] != '\0');
    return rc;
}

static void test_retention(void **state)
{
    (void)state;
    op o = {.name = "retention", .run = run_retention};
    sweep(&o);
}

/* ------------------------------------------------------------------------ */
/* The remote protocol.                                                     */
/* ------------------------------------------------------------------------ */

static uint8_t *snappy_of(const void *raw, size_t n, size_t *out_len)
{
    size_t cap = snappy_max_compressed_length(n);
    uint8_t *c = malloc(cap);
    assert_non_null(c);
    *out_len = cap;
    assert_int_equal(snappy_compress(raw, n, (char *)c, out_len), SNAPPY_OK);
    return c;
}

/* Label names and values are bytes in the project's .proto files. */
static ProtobufCBinaryData bin(const char *s)
{
    return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

typedef struct body {
    uint8_t *data;
    size_t len;
} body;

/* A remote write 1.0 body: one existing series, one new, one new label value. */
static body write_body(void)
{
    Prometheus__Label l[6];
    Prometheus__Label *lp[3][2];
    Prometheus__Sample smp[3][4];
    Prometheus__Sample *sp[3][4];
    Prometheus__TimeSeries ts[3];
    Prometheus__TimeSeries *tsp[3];
    const char *names[3] = {"m_a", "m_rw", "m_c"}, *jobs[3] = {"x", "rw", "q"};
    for (int i = 0; i < 3; i++) {
        prometheus__time_series__init(&ts[i]);
        prometheus__label__init(&l[2 * i]);
        prometheus__label__init(&l[2 * i + 1]);
        l[2 * i].name = bin("__name__");
        l[2 * i].value = bin(names[i]);
        l[2 * i + 1].name = bin("job");
        l[2 * i + 1].value = bin(jobs[i]);
        lp[i][0] = &l[2 * i];
        lp[i][1] = &l[2 * i + 1];
        ts[i].labels = lp[i];
        ts[i].n_labels = 2;
        for (int k = 0; k < 4; k++) {
            prometheus__sample__init(&smp[i][k]);
            smp[i][k].timestamp = 6 * HOUR_MS + 10 * k + i;
            smp[i][k].value = 1.5 * k - i;
            sp[i][k] = &smp[i][k];
        }
        ts[i].samples = sp[i];
        ts[i].n_samples = 4;
        tsp[i] = &ts[i];
    }
    Prometheus__WriteRequest wr;
    prometheus__write_request__init(&wr);
    wr.timeseries = tsp;
    wr.n_timeseries = 3;
    size_t n = prometheus__write_request__get_packed_size(&wr);
    uint8_t *raw = malloc(n);
    assert_non_null(raw);
    prometheus__write_request__pack(&wr, raw);
    body b;
    b.data = snappy_of(raw, n, &b.len);
    free(raw);
    return b;
}

static promstore_status run_remote_write(fixture *f, void *ctx)
{
    const body *b = ctx;
    promstore_http_request req = {sizeof req, "application/x-protobuf", "snappy", b->data, b->len};
    promstore_http_response resp = {.struct_size = sizeof resp};
    promstore_error err;
    assert_int_equal(promstore_remote_write(f->db, &req, &resp, &err), PROMSTORE_OK);
    if (resp.status == 204)
        return PROMSTORE_OK;
    /* Out of memory is a 503, so that Prometheus retries the batch. */
    if (resp.status != 503)
        fail_msg("remote write answered %d: %s", resp.status, resp.message);
    assert_true(resp.message[0] != '\0');
    return PROMSTORE_E_NOMEM;
}

static void test_remote_write(void **state)
{
    (void)state;
    body b = write_body();
    op o = {.name = "remote write 1.0", .run = run_remote_write, .ctx = &b};
    sweep(&o);
    free(b.data);
}

typedef struct read_case {
    body req;
    uint8_t *want; /* the whole response body of a run without failures */
    size_t want_len;
} read_case;

static body read_body(Prometheus__ReadRequest__ResponseType type)
{
    Prometheus__LabelMatcher m;
    prometheus__label_matcher__init(&m);
    m.type = PROMETHEUS__LABEL_MATCHER__TYPE__RE;
    m.name = bin("__name__");
    m.value = bin("m_.*");
    Prometheus__LabelMatcher *mp = &m;
    Prometheus__Query q;
    prometheus__query__init(&q);
    q.start_timestamp_ms = 0;
    q.end_timestamp_ms = 8 * HOUR_MS;
    q.matchers = &mp;
    q.n_matchers = 1;
    Prometheus__Query *qp = &q;
    Prometheus__ReadRequest rr;
    prometheus__read_request__init(&rr);
    rr.queries = &qp;
    rr.n_queries = 1;
    rr.accepted_response_types = &type;
    rr.n_accepted_response_types = 1;
    size_t n = prometheus__read_request__get_packed_size(&rr);
    uint8_t *raw = malloc(n);
    assert_non_null(raw);
    prometheus__read_request__pack(&rr, raw);
    body b;
    b.data = snappy_of(raw, n, &b.len);
    free(raw);
    return b;
}

/* Read the whole response; 503 or a NOMEM mid-body count as NOMEM. */
static promstore_status read_all(promstore *db, const body *req, uint8_t **out, size_t *out_len)
{
    promstore_http_request hr = {sizeof hr, "application/x-protobuf", "snappy", req->data,
                                 req->len};
    promstore_http_response resp = {.struct_size = sizeof resp};
    promstore_reader *r = NULL;
    promstore_error err;
    assert_int_equal(promstore_remote_read_open(db, &hr, &resp, &r, &err), PROMSTORE_OK);
    if (resp.status != 200) {
        if (resp.status != 503)
            fail_msg("remote read answered %d: %s", resp.status, resp.message);
        assert_null(r);
        return PROMSTORE_E_NOMEM;
    }
    /* The test's own buffer: plain realloc, which the injection does not reach. */
    uint8_t *got = NULL;
    size_t got_len = 0;
    promstore_status rc;
    const uint8_t *piece;
    size_t len;
    while ((rc = promstore_remote_read_next(r, &piece, &len, &err)) == PROMSTORE_OK) {
        got = realloc(got, got_len + len + 1);
        assert_non_null(got);
        memcpy(got + got_len, piece, len);
        got_len += len;
    }
    promstore_remote_read_close(r);
    if (rc != PROMSTORE_DONE) {
        if (rc != PROMSTORE_E_NOMEM)
            fail_msg("remote read body ended %s: %s", promstore_strerror(rc), err.message);
        free(got);
        return rc;
    }
    *out = got;
    *out_len = got_len;
    return PROMSTORE_OK;
}

static promstore_status run_remote_read(fixture *f, void *ctx)
{
    read_case *c = ctx;
    uint8_t *got = NULL;
    size_t len = 0;
    promstore_status rc = read_all(f->db, &c->req, &got, &len);
    if (rc == PROMSTORE_OK) {
        assert_int_equal(len, c->want_len);
        assert_memory_equal(got, c->want, len);
    }
    free(got);
    return rc;
}

static void sweep_read(Prometheus__ReadRequest__ResponseType type, const char *name)
{
    read_case c = {.req = read_body(type)};
    fixture *f = fixture_new();
    assert_int_equal(read_all(f->db, &c.req, &c.want, &c.want_len), PROMSTORE_OK);
    assert_true(c.want_len > 100);
    fixture_free(f);
    op o = {.name = name, .run = run_remote_read, .ctx = &c};
    sweep(&o);
    free(c.want);
    free(c.req.data);
}

static void test_remote_read_samples(void **state)
{
    (void)state;
    sweep_read(PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES, "remote read SAMPLES");
}

static void test_remote_read_streamed(void **state)
{
    (void)state;
    sweep_read(PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS,
               "remote read STREAMED_XOR_CHUNKS");
}

/* The module itself: growth, overflow, and the counter. */
static void test_mem_module(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(PS_GROW(a, cap, 1), 0);
    assert_int_equal(cap, 16);
    assert_int_equal(PS_GROW(a, cap, 17), 0);
    assert_int_equal(cap, 32);
    int *keep = a;
    assert_int_equal(PS_GROW(a, cap, SIZE_MAX / 2), -1); /* overflows: unchanged */
    assert_ptr_equal(a, keep);
    assert_int_equal(cap, 32);
    ps_mem_fail_at(1);
    assert_int_equal(PS_GROW(a, cap, 33), -1); /* injected: unchanged, still owned */
    assert_true(ps_mem_failed());
    assert_ptr_equal(a, keep);
    assert_int_equal(PS_GROW(a, cap, 33), 0); /* only the first fails */
    ps_mem_fail_at(0);
    ps_free(a);

    ps_buf b = {0};
    assert_int_equal(ps_buf_append(&b, "abc", 3), 0);
    assert_int_equal(ps_buf_reserve(&b, SIZE_MAX - 1), -1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    ps_buf_free(&b);
    assert_null(b.data);

    ps_mem_fail_at(0);
    char *s = ps_strndup("hello", 4);
    assert_string_equal(s, "hell");
    assert_int_equal(ps_mem_count(), 1);
    ps_free(s);
}

int main(int argc, char **argv)
{
    g_backend = tu_backend_from_argv(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_module),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_remote_write),
        cmocka_unit_test(test_remote_read_samples),
        cmocka_unit_test(test_remote_read_streamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
