/*
 * test_remote_read.c -- Prometheus remote read (promstore_remote_read_open /
 * _next / _close and the callback form promstore_remote_read), run once per
 * backend: `test_remote_read lmdb` and `test_remote_read sqlite`. Linked
 * against the static archive, for the generated protobuf-c code (to build
 * requests and decode answers independently of the hand-written encoder in
 * remote_read.c), snappy, and ps_crc32c.
 *
 * What it covers (docs/PROTOCOL.md section 3):
 *   - CRC-32C check value and piecewise use;
 *   - the exact bytes of docs/PROTOCOL.md 3.4's example frame, and the stale-marker
 *     chunk vector;
 *   - negotiation: empty list -> SAMPLES, the client's order, unknown types
 *     skipped, nothing supported -> 400;
 *   - several queries: results / query_index in order; inclusive range; series
 *     in labels.Compare order (checked by a comparator written here); NaN
 *     payloads and -0.0 bit-exact;
 *   - every status path: 415 (type, encoding), 413 (body, declared size), 400
 *     (corrupt snappy, garbage protobuf, bad regex naming it, start > end, no
 *     matchers, unknown matcher type), 503 + Retry-After over the concurrency
 *     limit, query limits -> 400 in SAMPLES and on the first stream frame,
 *     PROMSTORE_E_LIMIT mid-stream with the frames before it intact;
 *   - frames stay within read_frame_bytes (a big series is split, labels
 *     repeated, chunks in order, no sample lost); 20k series stream in
 *     pieces no bigger than a frame and without the heap growing;
 *   - the callback form, a client that goes away, bad arguments;
 *   - every answer's strings NUL-terminated (tu_assert_response_terminated on
 *     each answer served here, into a response prefilled with nonzero bytes).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <snappy-c.h>

#include "crc32c.h"
#include "helpers.h"
#include "promstore.h"
#include "remote.pb-c.h"

#define CT_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
#define STALE PROMSTORE_STALE_NAN_BITS
#define SAMPLES_T PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES
#define STREAMED_T PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS

/* ------------------------------------------------------------------------ */
/* A store per test (tu_setup), reopened when a test changes its options.  */
/* ------------------------------------------------------------------------ */

/* Append one series; labels as "name", "value", ... NULL-terminated. */
static void append(promstore *db, const promstore_sample *s, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    tu_lset ls = tu_lset_va(va_arg(ap, const char *), ap);
    va_end(ap);
    tu_append1_ok(db, &ls, s, n);
}

/* ------------------------------------------------------------------------ */
/* Requests, built with the generated code.                                 */
/* ------------------------------------------------------------------------ */

#define RB_MAXQ 8
#define RB_MAXM 4

typedef struct rq {
    Prometheus__ReadRequest rr;
    Prometheus__Query q[RB_MAXQ];
    Prometheus__Query *qp[RB_MAXQ];
    Prometheus__LabelMatcher m[RB_MAXQ][RB_MAXM];
    Prometheus__LabelMatcher *mp[RB_MAXQ][RB_MAXM];
    Prometheus__ReadRequest__ResponseType types[8];
} rq;

static void rq_init(rq *b)
{
    memset(b, 0, sizeof *b);
    prometheus__read_request__init(&b->rr);
    b->rr.queries = b->qp;
    b->rr.accepted_response_types = b->types;
}

static void rq_query(rq *b, int64_t start, int64_t end)
{
    size_t i = b->rr.n_queries++;
    assert_true(i < RB_MAXQ);
    prometheus__query__init(&b->q[i]);
    b->q[i].start_timestamp_ms = start;
    b->q[i].end_timestamp_ms = end;
    b->q[i].matchers = b->mp[i];
    b->qp[i] = &b->q[i];
}

/* Add a matcher to the last query. */
static void rq_match(rq *b, int type, const char *name, const char *value)
{
    Prometheus__Query *q = &b->q[b->rr.n_queries - 1];
    size_t i = b->rr.n_queries - 1, j = q->n_matchers++;
    assert_true(j < RB_MAXM);
    Prometheus__LabelMatcher *m = &b->m[i][j];
    prometheus__label_matcher__init(m);
    m->type = (Prometheus__LabelMatcher__Type)type;
    m->name.data = (uint8_t *)name;
    m->name.len = strlen(name);
    m->value.data = (uint8_t *)value;
    m->value.len = strlen(value);
    b->mp[i][j] = m;
}

static void rq_accept(rq *b, int type)
{
    b->types[b->rr.n_accepted_response_types++] = (Prometheus__ReadRequest__ResponseType)type;
}

static uint8_t *snappy_of(const uint8_t *p, size_t n, size_t *out_len)
{
    size_t cap = snappy_max_compressed_length(n);
    uint8_t *c = malloc(cap);
    assert_non_null(c);
    *out_len = cap;
    assert_int_equal(snappy_compress((const char *)p, n, (char *)c, out_len), SNAPPY_OK);
    return c;
}

/* The snappy-compressed request body. */
static uint8_t *rq_pack(rq *b, size_t *len)
{
    size_t n = prometheus__read_request__get_packed_size(&b->rr);
    uint8_t *raw = malloc(n ? n : 1);
    assert_non_null(raw);
    prometheus__read_request__pack(&b->rr, raw);
    uint8_t *c = snappy_of(raw, n, len);
    free(raw);
    return c;
}

/* The usual one-query request: name="value" over [start, end]. */
static uint8_t *simple_request(int accept, int64_t start, int64_t end, const char *name,
                               const char *value, size_t *len)
{
    rq b;
    rq_init(&b);
    if (accept >= 0)
        rq_accept(&b, accept);
    rq_query(&b, start, end);
    rq_match(&b, PROMSTORE_MATCH_EQ, name, value);
    return rq_pack(&b, len);
}

/* ------------------------------------------------------------------------ */
/* Serving a request and collecting the answer.                             */
/* ------------------------------------------------------------------------ */

typedef struct body {
    uint8_t *p;
    size_t len, cap;
    size_t pieces, max_piece;
    size_t stop_after; /* make write fail after this many pieces (0: never) */
} body;

static int collect(void *ctx, const uint8_t *d, size_t n)
{
    body *b = ctx;
    if (b->stop_after && b->pieces == b->stop_after)
        return 1;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->pieces++;
    if (n > b->max_piece)
        b->max_piece = n;
    return 0;
}

static void req_init(promstore_http_request *r, const uint8_t *b, size_t n, const char *ct,
                     const char *ce)
{
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    r->content_type = ct;
    r->content_encoding = ce;
    r->body = b;
    r->body_len = n;
}

static void resp_init(promstore_http_response *r)
{
    memset(r, 0xAB, sizeof *r); /* the library must fill everything */
    r->struct_size = sizeof *r;
}

/* Serve body b with the usual Prometheus headers through the callback form. */
static promstore_status serve(promstore *db, const uint8_t *b, size_t n,
                              promstore_http_response *resp, body *out)
{
    promstore_http_request req;
    req_init(&req, b, n, "application/x-protobuf", "snappy");
    resp_init(resp);
    memset(out, 0, sizeof *out);
    promstore_error err;
    promstore_status rc = promstore_remote_read(db, &req, resp, collect, out, &err);
    if (rc != PROMSTORE_E_INVALID)
        tu_assert_response_terminated(resp); /* the answer, even if cut later */
    return rc;
}

/* Serve and expect an error status whose message contains `needle`. */
static void expect_status(promstore *db, const uint8_t *b, size_t n, const char *ct, const char *ce,
                          int status, const char *needle)
{
    promstore_http_request req;
    req_init(&req, b, n, ct, ce);
    promstore_http_response resp;
    resp_init(&resp);
    body out;
    memset(&out, 0, sizeof out);
    promstore_error err;
    assert_int_equal(promstore_remote_read(db, &req, &resp, collect, &out, &err), PROMSTORE_OK);
    tu_assert_response_terminated(&resp);
    if (resp.status != status || strstr(resp.message, needle) == NULL)
        fail_msg("want %d with \"%s\", got %d: %s", status, needle, resp.status, resp.message);
    assert_int_equal(out.pieces, 0);
    free(out.p);
}

/* Serve and expect a whole 200 answer (its body is not looked at). */
static void expect_served(promstore *db, const uint8_t *b, size_t n)
{
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(db, b, n, &resp, &out), PROMSTORE_OK);
    assert_int_equal(resp.status, 200);
    free(out.p);
}

/* The decoded SAMPLES answer (checks the headers too). */
static Prometheus__ReadResponse *samples_of(const promstore_http_response *resp, const body *b)
{
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->content_type, "application/x-protobuf");
    assert_string_equal(resp->content_encoding, "snappy");
    size_t n;
    assert_int_equal(snappy_uncompressed_length((const char *)b->p, b->len, &n), SNAPPY_OK);
    char *raw = malloc(n ? n : 1);
    assert_non_null(raw);
    assert_int_equal(snappy_uncompress((const char *)b->p, b->len, raw, &n), SNAPPY_OK);
    Prometheus__ReadResponse *rr = prometheus__read_response__unpack(NULL, n, (uint8_t *)raw);
    free(raw);
    assert_non_null(rr);
    return rr;
}

typedef struct frames {
    Prometheus__ChunkedReadResponse *f[32768];
    size_t size[32768]; /* bytes of each whole frame */
    size_t n;
} frames;

static uint64_t get_uvarint(const uint8_t *p, size_t len, size_t *pos)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        assert_true(*pos < len);
        uint8_t c = p[(*pos)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    fail_msg("bad uvarint");
    return 0;
}

/* Split a stream into frames, checking each length and CRC. */
static frames *frames_of(const uint8_t *p, size_t len)
{
    frames *fr = calloc(1, sizeof *fr);
    assert_non_null(fr);
    size_t pos = 0;
    while (pos < len) {
        size_t start = pos;
        uint64_t n = get_uvarint(p, len, &pos);
        assert_true(pos + 4 + n <= len);
        uint32_t crc = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
                       (uint32_t)p[pos + 2] << 8 | p[pos + 3];
        pos += 4;
        assert_int_equal(crc, ps_crc32c(0, p + pos, n));
        assert_true(fr->n < 32768);
        fr->f[fr->n] = prometheus__chunked_read_response__unpack(NULL, n, p + pos);
        assert_non_null(fr->f[fr->n]);
        assert_int_equal(fr->f[fr->n]->n_chunked_series, 1);
        pos += n;
        fr->size[fr->n++] = pos - start;
    }
    return fr;
}

static void frames_free(frames *fr)
{
    for (size_t i = 0; i < fr->n; i++)
        prometheus__chunked_read_response__free_unpacked(fr->f[i], NULL);
    free(fr);
}

static int span_eq(const ProtobufCBinaryData *b, const char *s)
{
    return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

/* labels.Compare on decoded labels. */
static int bytes_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->data, b->data, n) : 0;
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int labels_cmp(Prometheus__Label **a, size_t na, Prometheus__Label **b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = bytes_cmp(&a[i]->name, &b[i]->name);
        if (c)
            return c;
        c = bytes_cmp(&a[i]->value, &b[i]->value);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb;
}

/* The sample count in a chunk's header. */
static size_t xor_count(const ProtobufCBinaryData *d)
{
    return tu_xor_count(d->data, d->len);
}

static uint8_t *unhex(const char *h, size_t *n)
{
    *n = strlen(h) / 2;
    uint8_t *p = malloc(*n);
    assert_non_null(p);
    for (size_t i = 0; i < *n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        p[i] = (uint8_t)v;
    }
    return p;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(ps_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(ps_crc32c(0, "", 0), 0);
    /* In pieces, across the 8-byte stride, equals all at once. */
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    uint32_t whole = ps_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= 17; cut++)
        assert_int_equal(ps_crc32c(ps_crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
    /* Against the bit-at-a-time definition. */
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < sizeof buf; i++) {
        c ^= buf[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    assert_int_equal(whole, ~c);
}

/* docs/PROTOCOL.md 3.4: the example frame, byte for byte. */
static void test_frame_vector(void **state)
{
    tu_store *f = *state;
    promstore_sample s[] = {{1000, tu_bits(1)}, {2000, tu_bits(2)}, {3000, tu_bits(3)}};
    append(f->db, s, 3, "__name__", "up", NULL);
    size_t n;
    uint8_t *req = simple_request(STREAMED_T, 0, 10000, "__name__", "up", &n);
    promstore_http_response resp;
    body b;
    assert_int_equal(serve(f->db, req, n, &resp, &b), PROMSTORE_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, CT_STREAMED);
    assert_string_equal(resp.content_encoding, "");
    assert_int_equal(resp.n_headers, 0);
    assert_string_equal(resp.message, "");
    size_t wn;
    uint8_t *want = unhex("31"
                          "5e917681"
                          "0a2f0a0e0a085f5f6e616d655f5f12027570121d08e80710b817180122130003d00f"
                          "3ff0000000000000e807c25fff6c06",
                          &wn);
    assert_int_equal(b.len, wn);
    assert_memory_equal(b.p, want, wn);
    free(want);
    free(b.p);
    free(req);
}

static void test_negotiation(void **state)
{
    tu_store *f = *state;
    promstore_sample s = {1000, tu_bits(1)};
    append(f->db, &s, 1, "__name__", "up", NULL);
    struct {
        int types[3];
        size_t n;
        int want; /* 0 samples, 1 streamed, -1 400 */
    } cases[] = {
        {{0}, 0, 0},
        {{STREAMED_T, SAMPLES_T}, 2, 1},
        {{SAMPLES_T, STREAMED_T}, 2, 0},
        {{SAMPLES_T}, 1, 0},
        {{STREAMED_T}, 1, 1},
        {{7, STREAMED_T}, 2, 1},
        {{7}, 1, -1},
        {{7, 9}, 2, -1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rq b;
        rq_init(&b);
        for (size_t i = 0; i < cases[c].n; i++)
            rq_accept(&b, cases[c].types[i]);
        rq_query(&b, 0, 5000);
        rq_match(&b, PROMSTORE_MATCH_EQ, "__name__", "up");
        size_t n;
        uint8_t *req = rq_pack(&b, &n);
        if (cases[c].want < 0) {
            expect_status(f->db, req, n, "application/x-protobuf", "snappy", 400,
                          "accepted_response_types");
            free(req);
            continue;
        }
        promstore_http_response resp;
        body out;
        assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
        if (cases[c].want == 0) {
            Prometheus__ReadResponse *rr = samples_of(&resp, &out);
            assert_int_equal(rr->n_results, 1);
            assert_int_equal(rr->results[0]->n_timeseries, 1);
            prometheus__read_response__free_unpacked(rr, NULL);
        } else {
            assert_string_equal(resp.content_type, CT_STREAMED);
            frames *fr = frames_of(out.p, out.len);
            assert_int_equal(fr->n, 1);
            frames_free(fr);
        }
        free(out.p);
        free(req);
    }
}

/* Three series a, b, c with samples at 1000..5000. */
static void three_series(promstore *db)
{
    promstore_sample s[5];
    for (int i = 0; i < 5; i++)
        s[i] = (promstore_sample){1000 * (i + 1), tu_bits(i + 0.5)};
    append(db, s, 5, "__name__", "m", "k", "c", NULL);
    append(db, s, 5, "__name__", "m", "k", "a", NULL);
    append(db, s, 5, "__name__", "m", "k", "b", NULL);
}

/* Several queries: one result each, in order; inclusive range; sorted series. */
static void test_queries_in_order_samples(void **state)
{
    tu_store *f = *state;
    three_series(f->db);
    rq b;
    rq_init(&b);
    rq_query(&b, 2000, 4000); /* q0: k=~"b|a", inclusive [2000, 4000] */
    rq_match(&b, PROMSTORE_MATCH_RE, "k", "b|a");
    rq_query(&b, 0, 10000); /* q1: nothing */
    rq_match(&b, PROMSTORE_MATCH_EQ, "k", "zzz");
    rq_query(&b, 5000, 5000); /* q2: k="c", one instant */
    rq_match(&b, PROMSTORE_MATCH_EQ, "k", "c");
    rq_match(&b, PROMSTORE_MATCH_NEQ, "__name__", "");
    size_t n;
    uint8_t *req = rq_pack(&b, &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    Prometheus__ReadResponse *rr = samples_of(&resp, &out);
    assert_int_equal(rr->n_results, 3);
    Prometheus__QueryResult *q0 = rr->results[0];
    assert_int_equal(q0->n_timeseries, 2);
    assert_true(span_eq(&q0->timeseries[0]->labels[1]->value, "a"));
    assert_true(span_eq(&q0->timeseries[1]->labels[1]->value, "b"));
    for (size_t i = 0; i < 2; i++) {
        Prometheus__TimeSeries *ts = q0->timeseries[i];
        assert_int_equal(ts->n_labels, 2);
        assert_true(span_eq(&ts->labels[0]->name, "__name__"));
        assert_true(span_eq(&ts->labels[0]->value, "m"));
        assert_int_equal(ts->n_samples, 3);
        for (size_t j = 0; j < 3; j++) {
            assert_int_equal(ts->samples[j]->timestamp, 2000 + 1000 * (int64_t)j);
            assert_true(ts->samples[j]->value == (double)j + 1.5);
        }
    }
    assert_int_equal(rr->results[1]->n_timeseries, 0);
    assert_int_equal(rr->results[2]->n_timeseries, 1);
    assert_int_equal(rr->results[2]->timeseries[0]->n_samples, 1);
    assert_int_equal(rr->results[2]->timeseries[0]->samples[0]->timestamp, 5000);
    prometheus__read_response__free_unpacked(rr, NULL);
    free(out.p);
    free(req);
}

static void test_queries_in_order_streamed(void **state)
{
    tu_store *f = *state;
    three_series(f->db);
    rq b;
    rq_init(&b);
    rq_accept(&b, STREAMED_T);
    rq_query(&b, 0, 10000);
    rq_match(&b, PROMSTORE_MATCH_EQ, "k", "c");
    rq_query(&b, 0, 10000);
    rq_match(&b, PROMSTORE_MATCH_EQ, "k", "none");
    rq_query(&b, 0, 10000);
    rq_match(&b, PROMSTORE_MATCH_NEQ, "k", "c");
    size_t n;
    uint8_t *req = rq_pack(&b, &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    assert_int_equal(resp.status, 200);
    frames *fr = frames_of(out.p, out.len);
    assert_int_equal(fr->n, 3);
    const char *want[] = {"c", "a", "b"};
    const int64_t qidx[] = {0, 2, 2};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(fr->f[i]->query_index, qidx[i]);
        Prometheus__ChunkedSeries *cs = fr->f[i]->chunked_series[0];
        assert_true(span_eq(&cs->labels[1]->value, want[i]));
        assert_int_equal(cs->n_chunks, 1);
        assert_int_equal(cs->chunks[0]->type, PROMETHEUS__CHUNK__ENCODING__XOR);
        assert_int_equal(cs->chunks[0]->min_time_ms, 1000);
        assert_int_equal(cs->chunks[0]->max_time_ms, 5000);
        assert_int_equal(xor_count(&cs->chunks[0]->data), 5);
    }
    frames_free(fr);
    free(out.p);
    free(req);
}

/* labels.Compare order, in both modes, on a set built to catch mistakes. */
static void test_sort_order(void **state)
{
    tu_store *f = *state;
    promstore_sample s = {1000, tu_bits(1)};
    append(f->db, &s, 1, "__name__", "up", "a", "10", NULL);
    append(f->db, &s, 1, "__name__", "up", NULL);
    append(f->db, &s, 1, "A", "b", "z", "1", NULL);
    append(f->db, &s, 1, "__name__", "up", "a", "2", NULL);
    append(f->db, &s, 1, "a", "1", "z", "1", NULL);
    append(f->db, &s, 1, "__name__", "up", "a", "1", "b", "0", NULL);
    append(f->db, &s, 1, "__name__", "uq", NULL);
    append(f->db, &s, 1, "__name__", "u", "zz", "x", NULL);
    for (int mode = 0; mode < 2; mode++) {
        rq b;
        rq_init(&b);
        if (mode)
            rq_accept(&b, STREAMED_T);
        rq_query(&b, 0, 2000);
        rq_match(&b, PROMSTORE_MATCH_RE, "nothere", ".*");
        size_t n;
        uint8_t *req = rq_pack(&b, &n);
        promstore_http_response resp;
        body out;
        assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
        Prometheus__Label **prev = NULL;
        size_t nprev = 0, count = 0;
        if (mode == 0) {
            Prometheus__ReadResponse *rr = samples_of(&resp, &out);
            Prometheus__QueryResult *q = rr->results[0];
            count = q->n_timeseries;
            for (size_t i = 0; i < q->n_timeseries; i++) {
                Prometheus__TimeSeries *ts = q->timeseries[i];
                for (size_t j = 1; j < ts->n_labels; j++)
                    assert_true(bytes_cmp(&ts->labels[j - 1]->name, &ts->labels[j]->name) < 0);
                if (prev)
                    assert_true(labels_cmp(prev, nprev, ts->labels, ts->n_labels) < 0);
                prev = ts->labels;
                nprev = ts->n_labels;
            }
            prometheus__read_response__free_unpacked(rr, NULL);
        } else {
            frames *fr = frames_of(out.p, out.len);
            count = fr->n;
            for (size_t i = 0; i < fr->n; i++) {
                Prometheus__ChunkedSeries *cs = fr->f[i]->chunked_series[0];
                if (prev)
                    assert_true(labels_cmp(prev, nprev, cs->labels, cs->n_labels) < 0);
                prev = cs->labels;
                nprev = cs->n_labels;
            }
            frames_free(fr);
        }
        assert_int_equal(count, 8);
        free(out.p);
        free(req);
    }
}

/* NaN payloads, the stale marker, -0.0 and 0.0 come back bit-exact. */
static void test_value_bits(void **state)
{
    tu_store *f = *state;
    const uint64_t bits[] = {STALE, UINT64_C(0x7ff8000000000001), tu_bits(-0.0),
                             0,     tu_bits(1.0 / 0.0),           UINT64_C(0xfff0000000000007),
                             1};
    enum { N = sizeof bits / sizeof bits[0] };
    promstore_sample s[N];
    for (size_t i = 0; i < N; i++)
        s[i] = (promstore_sample){(int64_t)i * 1000 - 2000, bits[i]}; /* t = 0 included */
    append(f->db, s, N, "__name__", "v", NULL);
    size_t n;
    uint8_t *req = simple_request(-1, INT64_MIN, INT64_MAX, "__name__", "v", &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    Prometheus__ReadResponse *rr = samples_of(&resp, &out);
    Prometheus__TimeSeries *ts = rr->results[0]->timeseries[0];
    assert_int_equal(ts->n_samples, N);
    for (size_t i = 0; i < N; i++) {
        uint64_t got;
        memcpy(&got, &ts->samples[i]->value, 8);
        assert_int_equal(got, bits[i]);
        assert_int_equal(ts->samples[i]->timestamp, (int64_t)i * 1000 - 2000);
    }
    prometheus__read_response__free_unpacked(rr, NULL);
    free(out.p);
    free(req);
}

/* The stale-marker chunk vector of docs/PROTOCOL.md 3.4, through the stream. */
static void test_stale_chunk_streamed(void **state)
{
    tu_store *f = *state;
    promstore_sample s[] = {{1000, tu_bits(42)}, {2000, STALE}, {3000, tu_bits(43)}};
    append(f->db, s, 3, "__name__", "st", NULL);
    size_t n;
    uint8_t *req = simple_request(STREAMED_T, 0, 3000, "__name__", "st", &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    frames *fr = frames_of(out.p, out.len);
    assert_int_equal(fr->n, 1);
    Prometheus__Chunk *c = fr->f[0]->chunked_series[0]->chunks[0];
    size_t wn;
    uint8_t *want = unhex("0003d00f4045000000000000e807c5eff6a0000000000057f6b0000000000040", &wn);
    assert_int_equal(c->data.len, wn);
    assert_memory_equal(c->data.data, want, wn);
    free(want);
    frames_free(fr);
    free(out.p);
    free(req);
}

static void test_header_errors(void **state)
{
    tu_store *f = *state;
    const uint8_t junk[] = "\xff\xff\xff\xff not snappy";
    expect_status(f->db, junk, sizeof junk, "application/json", "snappy", 415, "Content-Type");
    expect_status(f->db, junk, sizeof junk, "image/png", NULL, 415, "");
    expect_status(f->db, junk, sizeof junk, "application/x-protobuf", "gzip", 415, "");
    expect_status(f->db, junk, sizeof junk, NULL, "deflate", 415, "");
    expect_status(f->db, junk, sizeof junk,
                  "application/x-protobuf;proto=io.prometheus.write.v2.Request", NULL, 415, "");
    /* Accepted header forms: absent, parameters, case. */
    size_t n;
    uint8_t *req = simple_request(-1, 0, 1, "__name__", "x", &n);
    const char *cts[] = {NULL, "application/x-protobuf", "Application/X-Protobuf",
                         "application/x-protobuf; proto=prometheus.ReadRequest"};
    const char *ces[] = {NULL, "snappy", "", "SNAPPY"};
    for (size_t i = 0; i < 4; i++) {
        promstore_http_request hr;
        req_init(&hr, req, n, cts[i], ces[i]);
        promstore_http_response resp;
        resp_init(&resp);
        body out;
        memset(&out, 0, sizeof out);
        assert_int_equal(promstore_remote_read(f->db, &hr, &resp, collect, &out, NULL),
                         PROMSTORE_OK);
        assert_int_equal(resp.status, 200);
        free(out.p);
    }
    free(req);
}

static void test_body_errors(void **state)
{
    tu_store *f = *state;
    f->opts.max_request_bytes = 64;
    f->opts.max_decoded_bytes = 1000;
    tu_store_reopen(f);
    uint8_t big[65] = {0};
    expect_status(f->db, big, sizeof big, "application/x-protobuf", "snappy", 413, "");
    /* Declares 1001 decoded bytes (uvarint e9 07): refused before decoding. */
    const uint8_t huge[] = {0xe9, 0x07, 0x00, 0x01, 0x02};
    expect_status(f->db, huge, sizeof huge, "application/x-protobuf", "snappy", 413, "");
    /* Declares 10 bytes, then a copy reaching before the start. */
    const uint8_t corrupt[] = {0x0a, 0x05, 0x10, 0x20};
    expect_status(f->db, corrupt, sizeof corrupt, "application/x-protobuf", "snappy", 400, "");
    const uint8_t framed[] = {0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59};
    expect_status(f->db, framed, sizeof framed, NULL, NULL, 400, "");
    /* Valid snappy of bytes that are not a ReadRequest. */
    const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    size_t n;
    uint8_t *c = snappy_of(garbage, sizeof garbage, &n);
    expect_status(f->db, c, n, "application/x-protobuf", "snappy", 400, "ReadRequest");
    free(c);
}

static void test_query_errors(void **state)
{
    tu_store *f = *state;
    promstore_sample s = {1000, tu_bits(1)};
    append(f->db, &s, 1, "__name__", "up", NULL);
    for (int mode = 0; mode < 2; mode++) {
        /* A good first query does not hide a bad second one. */
        rq b;
        rq_init(&b);
        if (mode)
            rq_accept(&b, STREAMED_T);
        rq_query(&b, 0, 5000);
        rq_match(&b, PROMSTORE_MATCH_EQ, "__name__", "up");
        rq_query(&b, 0, 5000);
        rq_match(&b, PROMSTORE_MATCH_RE, "job", "a(b");
        size_t n;
        uint8_t *req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400, "a(b");
        free(req);

        rq_init(&b);
        if (mode)
            rq_accept(&b, STREAMED_T);
        rq_query(&b, 5000, 4999);
        rq_match(&b, PROMSTORE_MATCH_EQ, "__name__", "up");
        req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400, "start");
        free(req);

        rq_init(&b);
        if (mode)
            rq_accept(&b, STREAMED_T);
        rq_query(&b, 0, 5000);
        req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400, "no matchers");
        free(req);

        rq_init(&b);
        rq_query(&b, 0, 5000);
        rq_match(&b, 9, "__name__", "up");
        req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400, "type 9");
        free(req);

        rq_init(&b);
        rq_query(&b, 0, 5000);
        rq_match(&b, PROMSTORE_MATCH_EQ, "", "up");
        req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400, "");
        free(req);
    }
    /* No queries at all: an empty answer, as Prometheus gives. */
    rq b;
    rq_init(&b);
    size_t n;
    uint8_t *req = rq_pack(&b, &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    Prometheus__ReadResponse *rr = samples_of(&resp, &out);
    assert_int_equal(rr->n_results, 0);
    prometheus__read_response__free_unpacked(rr, NULL);
    free(out.p);
    free(req);
}

static promstore_reader *open_reader(promstore *db, const uint8_t *b, size_t n,
                                     promstore_http_response *resp)
{
    promstore_http_request req;
    req_init(&req, b, n, "application/x-protobuf", "snappy");
    resp_init(resp);
    promstore_reader *r = (promstore_reader *)&req; /* must be overwritten */
    promstore_error err;
    assert_int_equal(promstore_remote_read_open(db, &req, resp, &r, &err), PROMSTORE_OK);
    tu_assert_response_terminated(resp);
    if (resp->status == 200)
        assert_non_null(r);
    else
        assert_null(r);
    return r;
}

static void test_concurrency_limit(void **state)
{
    tu_store *f = *state;
    f->opts.max_concurrent_reads = 2;
    tu_store_reopen(f);
    promstore_sample s = {1000, tu_bits(1)};
    append(f->db, &s, 1, "__name__", "up", NULL);
    size_t n;
    uint8_t *req = simple_request(STREAMED_T, 0, 5000, "__name__", "up", &n);
    promstore_http_response resp;
    promstore_reader *r1 = open_reader(f->db, req, n, &resp);
    promstore_reader *r2 = open_reader(f->db, req, n, &resp);
    assert_int_equal(resp.status, 200);
    promstore_reader *r3 = open_reader(f->db, req, n, &resp);
    assert_int_equal(resp.status, 503);
    assert_null(r3);
    assert_non_null(strstr(resp.message, "max_concurrent_reads"));
    assert_int_equal(resp.n_headers, 1);
    assert_string_equal(resp.headers[0].name, "Retry-After");
    assert_string_equal(resp.headers[0].value, "1");
    /* An error answer does not keep a slot, a closed reader gives its back. */
    const uint8_t junk[] = {1, 2, 3};
    expect_status(f->db, junk, sizeof junk, "text/plain", NULL, 415, "");
    promstore_remote_read_close(r1);
    r3 = open_reader(f->db, req, n, &resp);
    assert_int_equal(resp.status, 200);
    promstore_remote_read_close(r2);
    promstore_remote_read_close(r3);
    promstore_remote_read_close(NULL);
    /* Failed opens (400) release their slot too. */
    for (int i = 0; i < 5; i++) {
        uint8_t *bad = simple_request(STREAMED_T, 10, 0, "__name__", "up", &n);
        expect_status(f->db, bad, n, NULL, NULL, 400, "");
        free(bad);
    }
    req = (free(req), simple_request(STREAMED_T, 0, 5000, "__name__", "up", &n));
    r1 = open_reader(f->db, req, n, &resp);
    r2 = open_reader(f->db, req, n, &resp);
    assert_int_equal(resp.status, 200);
    promstore_remote_read_close(r1);
    promstore_remote_read_close(r2);
    free(req);
}

/* N series "lim{i=...}" with 10 samples each. */
static void many_small(promstore *db, int nseries)
{
    promstore_sample s[10];
    for (int i = 0; i < 10; i++)
        s[i] = (promstore_sample){1000 * (i + 1), tu_bits(i)};
    for (int k = 0; k < nseries; k++) {
        char v[16];
        snprintf(v, sizeof v, "%05d", k);
        append(db, s, 10, "__name__", "lim", "i", v, NULL);
    }
}

static void test_limits_samples(void **state)
{
    tu_store *f = *state;
    f->opts.max_samples_per_query = 25;
    tu_store_reopen(f);
    many_small(f->db, 5);
    size_t n;
    uint8_t *req = simple_request(SAMPLES_T, 0, 100000, "__name__", "lim", &n);
    expect_status(f->db, req, n, NULL, NULL, 400, "max_samples_per_query");
    free(req);
    /* Within the limit it works. */
    req = simple_request(SAMPLES_T, 0, 2000, "__name__", "lim", &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    Prometheus__ReadResponse *rr = samples_of(&resp, &out);
    assert_int_equal(rr->results[0]->n_timeseries, 5);
    prometheus__read_response__free_unpacked(rr, NULL);
    free(out.p);
    free(req);

    f->opts.max_samples_per_query = 0;
    f->opts.max_series_per_query = 3;
    tu_store_reopen(f);
    req = simple_request(SAMPLES_T, 0, 100000, "__name__", "lim", &n);
    expect_status(f->db, req, n, NULL, NULL, 400, "max_series_per_query");
    free(req);
}

/*
 * The request's shape is capped before anything is read: more queries than
 * max_queries_per_read, or a query with more matchers than
 * max_matchers_per_query, is a 400 naming the cap; at the caps it is served.
 */
static void test_request_caps(void **state)
{
    tu_store *f = *state;
    f->opts.max_queries_per_read = 2;
    f->opts.max_matchers_per_query = 3;
    tu_store_reopen(f);
    many_small(f->db, 2);
    for (int mode = 0; mode < 2; mode++) {
        rq b;
        rq_init(&b);
        rq_accept(&b, mode ? STREAMED_T : SAMPLES_T);
        for (int q = 0; q < 3; q++) {
            rq_query(&b, 0, 100000);
            rq_match(&b, PROMSTORE_MATCH_EQ, "__name__", "lim");
        }
        size_t n;
        uint8_t *req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400,
                      "the request has 3 queries, more than max_queries_per_read (2)");
        free(req);
        b.rr.n_queries = 2; /* at the cap */
        req = rq_pack(&b, &n);
        expect_served(f->db, req, n);
        free(req);

        rq_init(&b);
        rq_accept(&b, mode ? STREAMED_T : SAMPLES_T);
        rq_query(&b, 0, 100000);
        rq_match(&b, PROMSTORE_MATCH_EQ, "__name__", "lim");
        rq_match(&b, PROMSTORE_MATCH_NEQ, "i", "x");
        rq_match(&b, PROMSTORE_MATCH_NEQ, "i", "y");
        rq_match(&b, PROMSTORE_MATCH_NEQ, "i", "z");
        req = rq_pack(&b, &n);
        expect_status(f->db, req, n, NULL, NULL, 400,
                      "query 0 has 4 matchers, more than max_matchers_per_query (3)");
        free(req);
        b.q[0].n_matchers = 3;
        req = rq_pack(&b, &n);
        expect_served(f->db, req, n);
        free(req);
    }
}

/*
 * One budget for the whole request. 100 series of one chunk cost 301 steps
 * to read (101 postings steps, 2 a series): with a budget of 400 one query
 * is answered in both modes -- SAMPLES reads it twice, and its second pass
 * is not charged -- while two queries together spend it: with SAMPLES a
 * 400 naming max_work_per_read and the query that spent it (pass 1 reads
 * them all before the status); a stream, whose first frame went out with
 * its 200, is cut.
 */
static void test_request_budget(void **state)
{
    tu_store *f = *state;
    f->opts.max_work_per_read = 400;
    tu_store_reopen(f);
    many_small(f->db, 100);
    for (int mode = 0; mode < 2; mode++) {
        rq b;
        rq_init(&b);
        rq_accept(&b, mode ? STREAMED_T : SAMPLES_T);
        for (int q = 0; q < 2; q++) {
            rq_query(&b, 0, 100000);
            rq_match(&b, PROMSTORE_MATCH_EQ, "__name__", "lim");
        }
        size_t n;
        uint8_t *req = rq_pack(&b, &n);
        promstore_http_response resp;
        body out;
        if (mode == 0) {
            expect_status(f->db, req, n, NULL, NULL, 400,
                          "query 1: read work budget spent: more than 400 steps "
                          "(max_work_per_read)");
        } else {
            /* A stream's later frames can only be cut, as the ABI says. */
            assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_E_LIMIT);
            assert_int_equal(resp.status, 200);
            free(out.p);
        }
        free(req);
        b.rr.n_queries = 1;
        req = rq_pack(&b, &n);
        assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
        assert_int_equal(resp.status, 200);
        if (mode == 0) {
            Prometheus__ReadResponse *rr = samples_of(&resp, &out);
            assert_int_equal(rr->results[0]->n_timeseries, 100);
            prometheus__read_response__free_unpacked(rr, NULL);
        }
        free(out.p);
        free(req);
    }
}

/*
 * Big SAMPLES answers. nseries series big{i="00000"...} with nsamples each,
 * every 15 s from TU_T0; the values are a function of (series, sample), so
 * the answer can be checked without keeping what was written, and include
 * the stale marker, -0.0 and 0.0 (which proto3 leaves out) every 997.
 */
static uint64_t big_value(size_t k, size_t j)
{
    switch (j % 997) {
    case 0:
        return STALE;
    case 1:
        return UINT64_C(1) << 63; /* -0.0 */
    case 2:
        return 0;
    default:
        return tu_bits(((double)(k + 1) * 1e6 + (double)j) * 0.5);
    }
}

static int64_t big_time(size_t j)
{
    return TU_T0 + (int64_t)j * 15000;
}

static void big_label(char v[16], size_t k)
{
    snprintf(v, 16, "%05zu", k);
}

/* Written a batch of 8192 samples of every series per append, to be quick. */
static void big_series(promstore *db, size_t nseries, size_t nsamples)
{
    enum { BATCH = 8192 };
    promstore_series *ser = calloc(nseries, sizeof *ser);
    promstore_label *lab = calloc(2 * nseries, sizeof *lab);
    char(*vals)[16] = calloc(nseries, 16);
    promstore_sample *smp = calloc(nseries * BATCH, sizeof *smp);
    assert_true(ser && lab && vals && smp);
    for (size_t k = 0; k < nseries; k++) {
        big_label(vals[k], k);
        lab[2 * k] = (promstore_label){"__name__", 8, "big", 3};
        lab[2 * k + 1] = (promstore_label){"i", 1, vals[k], strlen(vals[k])};
    }
    for (size_t j0 = 0; j0 < nsamples; j0 += BATCH) {
        size_t n = nsamples - j0 < BATCH ? nsamples - j0 : BATCH;
        for (size_t k = 0; k < nseries; k++) {
            promstore_sample *s = smp + k * BATCH;
            for (size_t j = 0; j < n; j++)
                s[j] = (promstore_sample){big_time(j0 + j), big_value(k, j0 + j)};
            ser[k] = (promstore_series){&lab[2 * k], 2, s, n};
        }
        tu_append_ok(db, ser, nseries);
    }
    free(smp);
    free(vals);
    free(lab);
    free(ser);
}

/*
 * The length of series k of big_series as a TimeSeries: protobuf-c's packed
 * size (an encoder independent of remote_read.c's), plus 9 bytes for every
 * -0.0, which protobuf-c leaves out like 0.0 while Go's encoder, as ours,
 * keeps it (its bits are not 0), so that it does not come back as +0.0.
 */
static size_t big_len(size_t k, size_t nsamples)
{
    char v[16];
    big_label(v, k);
    Prometheus__Label l[2], *lp[2] = {&l[0], &l[1]};
    prometheus__label__init(&l[0]);
    prometheus__label__init(&l[1]);
    l[0].name = (ProtobufCBinaryData){8, (uint8_t *)"__name__"};
    l[0].value = (ProtobufCBinaryData){3, (uint8_t *)"big"};
    l[1].name = (ProtobufCBinaryData){1, (uint8_t *)"i"};
    l[1].value = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
    Prometheus__Sample *sm = calloc(nsamples, sizeof *sm);
    Prometheus__Sample **sp = calloc(nsamples, sizeof *sp);
    assert_true(sm && sp);
    size_t negative_zeros = 0;
    for (size_t j = 0; j < nsamples; j++) {
        prometheus__sample__init(&sm[j]);
        uint64_t bits = big_value(k, j);
        memcpy(&sm[j].value, &bits, 8);
        negative_zeros += bits == UINT64_C(1) << 63;
        sm[j].timestamp = big_time(j);
        sp[j] = &sm[j];
    }
    Prometheus__TimeSeries ts;
    prometheus__time_series__init(&ts);
    ts.labels = lp;
    ts.n_labels = 2;
    ts.samples = sp;
    ts.n_samples = nsamples;
    size_t len = prometheus__time_series__get_packed_size(&ts) + 9 * negative_zeros;
    free(sp);
    free(sm);
    return len;
}

/*
 * The decoded answer to one query for big{} is exactly big_series's data:
 * one QueryResult, then each TimeSeries, in label order, of the length
 * big_len says and decoding (protobuf-c) to its labels and every sample bit
 * for bit. One series is decoded at a time, to keep the test's memory small.
 */
static void assert_big_answer(const uint8_t *d, size_t len, size_t nseries, size_t nsamples)
{
    size_t pos = 0;
    assert_int_equal(d[pos++], 0x0a);
    uint64_t rlen = get_uvarint(d, len, &pos);
    assert_int_equal(pos + rlen, len);
    for (size_t k = 0; k < nseries; k++) {
        assert_true(pos < len);
        assert_int_equal(d[pos++], 0x0a);
        uint64_t tl = get_uvarint(d, len, &pos);
        size_t wl = big_len(k, nsamples);
        if (tl != wl || pos + tl > len)
            fail_msg("series %zu: %llu bytes in the answer, %zu wanted", k,
                     (unsigned long long)tl, wl);
        Prometheus__TimeSeries *ts = prometheus__time_series__unpack(NULL, tl, d + pos);
        assert_non_null(ts);
        char v[16];
        big_label(v, k);
        assert_int_equal(ts->n_labels, 2);
        assert_true(span_eq(&ts->labels[0]->name, "__name__"));
        assert_true(span_eq(&ts->labels[0]->value, "big"));
        assert_true(span_eq(&ts->labels[1]->name, "i"));
        assert_true(span_eq(&ts->labels[1]->value, v));
        assert_int_equal(ts->n_samples, nsamples);
        for (size_t j = 0; j < nsamples; j++) {
            uint64_t bits;
            memcpy(&bits, &ts->samples[j]->value, 8);
            if (bits != big_value(k, j) || ts->samples[j]->timestamp != big_time(j))
                fail_msg("series %zu sample %zu: (%lld, %016llx), want (%lld, %016llx)", k, j,
                         (long long)ts->samples[j]->timestamp, (unsigned long long)bits,
                         (long long)big_time(j), (unsigned long long)big_value(k, j));
        }
        prometheus__time_series__free_unpacked(ts, NULL);
        pos += tl;
    }
    assert_int_equal(pos, len);
}

/* Decompress a SAMPLES body with libsnappy, checking the headers. */
static uint8_t *unsnappy_body(const promstore_http_response *resp, const body *b, size_t *n)
{
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->content_type, "application/x-protobuf");
    assert_string_equal(resp->content_encoding, "snappy");
    assert_int_equal(snappy_uncompressed_length((const char *)b->p, b->len, n), SNAPPY_OK);
    uint8_t *raw = malloc(*n ? *n : 1);
    assert_non_null(raw);
    assert_int_equal(snappy_uncompress((const char *)b->p, b->len, (char *)raw, n), SNAPPY_OK);
    return raw;
}

/*
 * Write big_series, read it all back by SAMPLES, and check the answer is
 * exactly that (assert_big_answer). Returns the decoded answer (*dn bytes);
 * *out holds the body as served.
 */
static uint8_t *big_read(tu_store *f, size_t nseries, size_t nsamples, body *out, size_t *dn)
{
    big_series(f->db, nseries, nsamples);
    size_t n;
    uint8_t *req = simple_request(SAMPLES_T, INT64_MIN, INT64_MAX, "__name__", "big", &n);
    promstore_http_response resp;
    assert_int_equal(serve(f->db, req, n, &resp, out), PROMSTORE_OK);
    free(req);
    if (resp.status != 200)
        fail_msg("answered %d: %s", resp.status, resp.message);
    uint8_t *raw = unsnappy_body(&resp, out, dn);
    assert_big_answer(raw, *dn, nseries, nsamples);
    return raw;
}

/*
 * An answer of many snappy fragments (64 KiB each) decodes, with libsnappy,
 * to exactly what was written, and its compressed bytes are exactly what
 * snappy_compress makes of the whole decoded answer: fragments compressed
 * one by one and joined are the encoding of the whole, not just a valid one.
 * Pieces stay within read_frame_bytes.
 */
static void test_samples_many_fragments(void **state)
{
    tu_store *f = *state;
    f->opts.read_frame_bytes = 10000; /* less than a compressed fragment */
    tu_store_reopen(f);
    enum { NS = 5, NSMP = 12000 };
    body out;
    size_t dn;
    uint8_t *raw = big_read(f, NS, NSMP, &out, &dn);
    assert_true(dn > 10 * 65536);
    assert_true(out.max_piece <= 10000);
    size_t zn;
    uint8_t *whole = snappy_of(raw, dn, &zn);
    assert_int_equal(out.len, zn);
    assert_memory_equal(out.p, whole, zn);
    free(whole);
    free(raw);
    free(out.p);
}

/* Big enough to be past the 32 MiB the answer was once capped at: 40 x 50k samples. */
enum { BIG_NS = 40, BIG_NSMP = 50000 };

/* With the default options, an answer past 32 MiB decoded is served whole and exact. */
static void test_samples_past_old_cap(void **state)
{
    body out;
    size_t dn;
    uint8_t *raw = big_read(*state, BIG_NS, BIG_NSMP, &out, &dn);
    assert_true(dn > ((size_t)32 << 20));
    free(raw);
    free(out.p);
}

/* Bytes malloc has handed out: from its arena, and mapped on their own (large blocks). */
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/*
 * The reader's memory does not grow with the answer: the heap, sampled after
 * open and after every piece, stays within a bound far below the answer
 * (36 MiB decoded, ~10 MiB compressed). max_decoded_bytes is raised so that
 * no cap stops a reader that would hold the answer whole. The bound allows
 * the reader's buffers (a fragment, its compressed form), one series's
 * chunks in the merge, and SQLite's page cache (2 MiB by default) on SQLite.
 * ASan's allocator does not report through mallinfo2, so skip it there.
 */
static void test_samples_memory_flat(void **state)
{
    tu_store *f = *state;
    f->opts.max_decoded_bytes = (uint64_t)1 << 30;
    tu_store_reopen(f);
    big_series(f->db, BIG_NS, BIG_NSMP);
    size_t n;
    uint8_t *req = simple_request(SAMPLES_T, INT64_MIN, INT64_MAX, "__name__", "big", &n);
    size_t before = heap_in_use(), peak = before;
    promstore_http_response resp;
    promstore_reader *r = open_reader(f->db, req, n, &resp);
    if (resp.status != 200)
        fail_msg("answered %d: %s", resp.status, resp.message);
    const uint8_t *d;
    size_t len, total = 0;
    promstore_status rc;
    promstore_error err;
    for (;;) { /* sampled after open, then after every piece */
        size_t now = heap_in_use();
        if (now > peak)
            peak = now;
        rc = promstore_remote_read_next(r, &d, &len, &err);
        if (rc != PROMSTORE_OK)
            break;
        total += len;
    }
    assert_int_equal(rc, PROMSTORE_DONE);
    promstore_remote_read_close(r);
    assert_true(total > ((size_t)4 << 20));
#if !defined(__SANITIZE_ADDRESS__)
    size_t bound = (size_t)(strcmp(tu_backend(), "sqlite") == 0 ? 4 : 2) << 20;
    if (peak - before > bound)
        fail_msg("the heap grew by %zu bytes while answering %zu compressed bytes", peak - before,
                 total);
#endif
    free(req);
}

/*
 * The query limits are met in the first pass, before any byte, however far
 * into the answer: 400 naming the limit, nothing written.
 */
static void test_samples_limits_late(void **state)
{
    tu_store *f = *state;
    f->opts.max_samples_per_query = 5 * 12000 - 1; /* the very last sample is one too many */
    tu_store_reopen(f);
    big_series(f->db, 5, 12000);
    size_t n;
    uint8_t *req = simple_request(SAMPLES_T, INT64_MIN, INT64_MAX, "__name__", "big", &n);
    expect_status(f->db, req, n, NULL, NULL, 400, "max_samples_per_query");
    f->opts.max_samples_per_query = 0;
    f->opts.max_series_per_query = 4;
    tu_store_reopen(f);
    expect_status(f->db, req, n, NULL, NULL, 400, "max_series_per_query");
    f->opts.max_series_per_query = 5;
    tu_store_reopen(f);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    assert_int_equal(resp.status, 200);
    free(out.p);
    free(req);
}

static void test_limits_streamed(void **state)
{
    tu_store *f = *state;
    f->opts.max_series_per_query = 3;
    tu_store_reopen(f);
    many_small(f->db, 10);
    size_t n;
    uint8_t *req = simple_request(STREAMED_T, 0, 100000, "__name__", "lim", &n);
    promstore_http_response resp;
    promstore_reader *r = open_reader(f->db, req, n, &resp);
    assert_int_equal(resp.status, 200);
    body out;
    memset(&out, 0, sizeof out);
    promstore_error err;
    promstore_status rc;
    const uint8_t *d;
    size_t len;
    while ((rc = promstore_remote_read_next(r, &d, &len, &err)) == PROMSTORE_OK)
        collect(&out, d, len);
    assert_int_equal(rc, PROMSTORE_E_LIMIT);
    assert_int_equal(err.status, PROMSTORE_E_LIMIT);
    assert_non_null(strstr(err.message, "max_series_per_query"));
    /* Sticky: the body stays cut. */
    assert_int_equal(promstore_remote_read_next(r, &d, &len, &err), PROMSTORE_E_LIMIT);
    promstore_remote_read_close(r);
    frames *fr = frames_of(out.p, out.len);
    assert_int_equal(fr->n, 3);
    for (size_t i = 0; i < 3; i++) {
        char v[16];
        snprintf(v, sizeof v, "%05zu", i);
        assert_true(span_eq(&fr->f[i]->chunked_series[0]->labels[1]->value, v));
        assert_int_equal(xor_count(&fr->f[i]->chunked_series[0]->chunks[0]->data), 10);
    }
    frames_free(fr);
    free(out.p);

    /* The callback form reports the same. */
    promstore_http_request hr;
    req_init(&hr, req, n, NULL, NULL);
    resp_init(&resp);
    memset(&out, 0, sizeof out);
    assert_int_equal(promstore_remote_read(f->db, &hr, &resp, collect, &out, &err),
                     PROMSTORE_E_LIMIT);
    assert_int_equal(resp.status, 200);
    assert_int_equal(out.pieces, 3);
    free(out.p);
    free(req);

    /* A limit met on the very first series is still a proper 400. */
    f->opts.max_series_per_query = 0;
    f->opts.max_bytes_per_query = 10;
    tu_store_reopen(f);
    req = simple_request(STREAMED_T, 0, 100000, "__name__", "lim", &n);
    expect_status(f->db, req, n, NULL, NULL, 400, "max_bytes_per_query");
    free(req);
}

/* One long series split over frames of at most read_frame_bytes. */
static void test_frame_size(void **state)
{
    tu_store *f = *state;
    f->opts.read_frame_bytes = 4096;
    tu_store_reopen(f);
    enum { N = 24000 };
    promstore_sample *s = malloc(N * sizeof *s);
    assert_non_null(s);
    uint64_t seed = 1;
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        s[i] = (promstore_sample){15000 * (int64_t)(i + 1), seed >> 11}; /* noisy values */
    }
    append(f->db, s, N, "__name__", "big", "job", "x", NULL);
    size_t n;
    uint8_t *req = simple_request(STREAMED_T, INT64_MIN, INT64_MAX, "__name__", "big", &n);
    promstore_http_response resp;
    body out;
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    frames *fr = frames_of(out.p, out.len);
    assert_true(fr->n > 10);
    size_t total = 0;
    int64_t last_min = INT64_MIN;
    promstore_sample *got = tu_calloc(N, sizeof *got);
    for (size_t i = 0; i < fr->n; i++) {
        Prometheus__ChunkedSeries *cs = fr->f[i]->chunked_series[0];
        assert_int_equal(cs->n_labels, 2);
        assert_true(span_eq(&cs->labels[1]->value, "x"));
        size_t biggest = 0;
        for (size_t j = 0; j < cs->n_chunks; j++) {
            assert_true(cs->chunks[j]->min_time_ms >= last_min);
            last_min = cs->chunks[j]->min_time_ms;
            /* The chunk bytes hold the next samples, bit for bit (helpers.c's decoder). */
            long k = tu_xor_decode(cs->chunks[j]->data.data, cs->chunks[j]->data.len,
                                   got + total, N - total);
            assert_true(k > 0);
            total += (size_t)k;
            if (cs->chunks[j]->data.len > biggest)
                biggest = cs->chunks[j]->data.len;
        }
        /* Never more than one chunk past the target; full frames are used. */
        assert_true(fr->size[i] <= 4096 + biggest + 32);
        if (i + 1 < fr->n)
            assert_true(fr->size[i] > 4096 - biggest - 64);
    }
    assert_true(out.max_piece <= 4096 + 1100);
    assert_int_equal(total, N);
    tu_assert_samples_equal(got, total, s, N, "decoded frames");
    free(got);
    free(s);
    frames_free(fr);
    free(out.p);
    free(req);

    /* SAMPLES pieces are bounded by the frame size too, and add up to the body. */
    req = simple_request(SAMPLES_T, INT64_MIN, INT64_MAX, "__name__", "big", &n);
    assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
    assert_true(out.pieces > 1);
    assert_true(out.max_piece <= 4096);
    Prometheus__ReadResponse *rr = samples_of(&resp, &out);
    assert_int_equal(rr->results[0]->timeseries[0]->n_samples, N);
    prometheus__read_response__free_unpacked(rr, NULL);
    free(out.p);
    free(req);
}

/* 20k series stream one frame at a time, without the heap growing. */
static void test_many_series_streamed(void **state)
{
    tu_store *f = *state;
    enum { N = 20000 };
    promstore_series *ser = calloc(N, sizeof *ser);
    promstore_label *all = calloc(2 * N, sizeof *all);
    char(*vals)[16] = calloc(N, 16);
    assert_non_null(ser);
    assert_non_null(all);
    assert_non_null(vals);
    promstore_sample s[3] = {{1000, tu_bits(1)}, {2000, tu_bits(2)}, {3000, tu_bits(3)}};
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], 16, "%d", i);
        all[2 * i] = (promstore_label){"__name__", 8, "many", 4};
        all[2 * i + 1] = (promstore_label){"i", 1, vals[i], strlen(vals[i])};
        ser[i] = (promstore_series){&all[2 * i], 2, s, 3};
    }
    promstore_error err;
    assert_int_equal(promstore_append(f->db, ser, N, NULL, &err), PROMSTORE_OK);
    free(ser);
    free(all);
    free(vals);

    size_t n;
    uint8_t *req = simple_request(STREAMED_T, 0, 5000, "__name__", "many", &n);
    promstore_http_response resp;
    promstore_reader *r = open_reader(f->db, req, n, &resp);
    assert_int_equal(resp.status, 200);
    const uint8_t *d;
    size_t len, count = 0;
    promstore_status rc;
    struct mallinfo2 before = mallinfo2();
    size_t peak = before.uordblks;
    while ((rc = promstore_remote_read_next(r, &d, &len, &err)) == PROMSTORE_OK) {
        assert_true(len <= f->opts.read_frame_bytes || len <= (1u << 20));
        assert_true(len < 100); /* one small series per frame */
        size_t pos = 0;
        uint64_t ml = get_uvarint(d, len, &pos);
        assert_int_equal(pos + 4 + ml, len);
        struct mallinfo2 now = mallinfo2();
        if (now.uordblks > peak)
            peak = now.uordblks;
        count++;
    }
    assert_int_equal(rc, PROMSTORE_DONE);
    assert_int_equal(count, N);
    /*
     * The stream itself holds one frame; what else may grow is the backend's
     * own cache: none on LMDB (it maps the file), SQLite's page cache (2 MiB
     * by default) on SQLite. Held frames would add ~1 MiB here on LMDB.
     * ASan's allocator does not report through mallinfo2, so skip it there.
     */
#if !defined(__SANITIZE_ADDRESS__)
    size_t bound = strcmp(tu_backend(), "sqlite") == 0 ? (size_t)3 << 20 : (size_t)128 << 10;
    if (peak - before.uordblks > bound)
        fail_msg("the heap grew by %zu bytes while streaming", peak - before.uordblks);
#endif
    assert_int_equal(promstore_remote_read_next(r, &d, &len, &err), PROMSTORE_DONE);
    promstore_remote_read_close(r);
    free(req);
}

static int stop_cb(void *ctx, const uint8_t *d, size_t n)
{
    (void)d, (void)n;
    ++*(int *)ctx;
    return 1;
}

static void test_callback_and_args(void **state)
{
    tu_store *f = *state;
    many_small(f->db, 3);
    size_t n;
    uint8_t *req = simple_request(STREAMED_T, 0, 100000, "__name__", "lim", &n);
    promstore_http_request hr;
    req_init(&hr, req, n, NULL, NULL);
    promstore_http_response resp;
    resp_init(&resp);
    promstore_error err;
    int calls = 0;
    /* The client goes away after the first piece. */
    assert_int_equal(promstore_remote_read(f->db, &hr, &resp, stop_cb, &calls, &err),
                     PROMSTORE_E_IO);
    assert_int_equal(calls, 1);
    assert_int_equal(resp.status, 200);
    /* An error answer never calls write. */
    calls = 0;
    hr.content_type = "text/html";
    resp_init(&resp);
    assert_int_equal(promstore_remote_read(f->db, &hr, &resp, stop_cb, &calls, &err), PROMSTORE_OK);
    assert_int_equal(resp.status, 415);
    assert_int_equal(calls, 0);
    hr.content_type = NULL;
    /* Bad arguments. */
    promstore_reader *r;
    assert_int_equal(promstore_remote_read_open(NULL, &hr, &resp, &r, &err), PROMSTORE_E_INVALID);
    assert_int_equal(promstore_remote_read_open(f->db, NULL, &resp, &r, &err), PROMSTORE_E_INVALID);
    assert_int_equal(promstore_remote_read_open(f->db, &hr, NULL, &r, &err), PROMSTORE_E_INVALID);
    assert_int_equal(promstore_remote_read_open(f->db, &hr, &resp, NULL, &err),
                     PROMSTORE_E_INVALID);
    resp.struct_size = sizeof resp - 8;
    resp.status = 12345;
    assert_int_equal(promstore_remote_read_open(f->db, &hr, &resp, &r, &err), PROMSTORE_E_INVALID);
    assert_int_equal(resp.status, 12345); /* untouched */
    resp.struct_size = sizeof resp;
    hr.struct_size = 8;
    assert_int_equal(promstore_remote_read_open(f->db, &hr, &resp, &r, &err), PROMSTORE_E_INVALID);
    hr.struct_size = sizeof hr;
    assert_int_equal(promstore_remote_read(f->db, &hr, &resp, NULL, NULL, &err),
                     PROMSTORE_E_INVALID);
    const uint8_t *d;
    size_t len;
    assert_int_equal(promstore_remote_read_next(NULL, &d, &len, &err), PROMSTORE_E_INVALID);
    /* An empty match is an empty 200 body in both modes. */
    for (int mode = 0; mode < 2; mode++) {
        free(req);
        req = simple_request(mode ? STREAMED_T : SAMPLES_T, 0, 100000, "__name__", "nope", &n);
        body out;
        assert_int_equal(serve(f->db, req, n, &resp, &out), PROMSTORE_OK);
        assert_int_equal(resp.status, 200);
        if (mode) {
            assert_int_equal(out.len, 0);
        } else {
            Prometheus__ReadResponse *rr = samples_of(&resp, &out);
            assert_int_equal(rr->n_results, 1);
            assert_int_equal(rr->results[0]->n_timeseries, 0);
            prometheus__read_response__free_unpacked(rr, NULL);
        }
        free(out.p);
    }
    free(req);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        TU_TEST(test_frame_vector),
        TU_TEST(test_negotiation),
        TU_TEST(test_queries_in_order_samples),
        TU_TEST(test_queries_in_order_streamed),
        TU_TEST(test_sort_order),
        TU_TEST(test_value_bits),
        TU_TEST(test_stale_chunk_streamed),
        TU_TEST(test_header_errors),
        TU_TEST(test_body_errors),
        TU_TEST(test_query_errors),
        TU_TEST(test_concurrency_limit),
        TU_TEST(test_limits_samples),
        TU_TEST(test_request_caps),
        TU_TEST(test_request_budget),
        TU_TEST(test_samples_many_fragments),
        TU_TEST(test_samples_past_old_cap),
        TU_TEST(test_samples_memory_flat),
        TU_TEST(test_samples_limits_late),
        TU_TEST(test_limits_streamed),
        TU_TEST(test_frame_size),
        TU_TEST(test_many_series_streamed),
        TU_TEST(test_callback_and_args),
    };
    return TU_RUN(argc, argv, "remote_read", tests);
}
