/*
 * test_remote_write.c -- promstore_remote_write(), the Prometheus remote write
 * receiver, run once per backend: `test_remote_write lmdb|sqlite`. Request
 * bodies are built here with the generated protobuf-c code and snappy (linked
 * through promstore_static), posted through the ABI, and what was stored is
 * read back through promstore_query().
 *
 * What it covers, every status path of the entry point:
 *   - 204 for 1.0 (no Written headers), 2.0 (exact Written headers); missing
 *     Content-Type is 1.0, missing Content-Encoding is snappy; Content-Type
 *     parameters, case and spaces; metadata-only 1.0 -> 204 with nothing
 *     stored; the same series twice in a request; exemplar/histogram-only 1.0
 *     entries skipped and counted; values bit-exact (stale NaN, NaN, +-Inf,
 *     a subnormal, and -0.0 from a hand-encoded body);
 *   - 415 for bad Content-Type / Content-Encoding sent with a corrupt body;
 *   - 413 for a body over max_request_bytes, for a small body declaring a huge
 *     decoded length, and for a message whose decoding needs too much memory;
 *   - 400 for an empty body, corrupt snappy, framed snappy (message says so),
 *     truncated or garbage protobuf, invalid labels naming the series (and
 *     nothing stored, across append chunks), out-of-order samples naming the
 *     series while the rest is stored; unsorted labels are accepted;
 *   - 2.0: symbols[0] != "", odd labels_refs, refs out of range (series,
 *     exemplar, metadata), missing __name__, empty label set, both
 *     start-timestamp layouts, histograms/exemplars/metadata counted as
 *     dropped with Histograms/Exemplars-Written 0;
 *   - the engine-status -> HTTP mapping (507 full, 503 + Retry-After busy and
 *     no memory, 500 I/O), one-line messages; bad ABI arguments;
 *   - every answer's strings NUL-terminated inside their arrays (checked on
 *     each answer, into a response prefilled with nonzero bytes), also for the
 *     longest answers and for the writers given texts longer than the arrays.
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
#include <snappy-c.h>

#include "helpers.h"
#include "promstore.h"
#include "protocol.h"
#include "remote.pb-c.h"
#include "write_v2.pb-c.h"

#define T0 INT64_C(1700000000000)
#define CT_V1 "application/x-protobuf"
#define CT_V2 "application/x-protobuf;proto=io.prometheus.write.v2.Request"
#define H_SAMPLES "X-Prometheus-Remote-Write-Samples-Written"
#define H_HISTOGRAMS "X-Prometheus-Remote-Write-Histograms-Written"
#define H_EXEMPLARS "X-Prometheus-Remote-Write-Exemplars-Written"

/* ------------------------------------------------------------------------ */
/* A store per test (tu_setup) and a test arena (every builder allocation  */
/* is freed at teardown)                                                    */
/* ------------------------------------------------------------------------ */

static void **g_arena;
static size_t g_arena_n, g_arena_cap;

static void *talloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    assert_non_null(p);
    if (g_arena_n == g_arena_cap) {
        g_arena_cap = g_arena_cap ? 2 * g_arena_cap : 256;
        g_arena = realloc(g_arena, g_arena_cap * sizeof *g_arena);
        assert_non_null(g_arena);
    }
    g_arena[g_arena_n++] = p;
    return p;
}

static void arena_free(void)
{
    for (size_t i = 0; i < g_arena_n; i++)
        free(g_arena[i]);
    free(g_arena);
    g_arena = NULL;
    g_arena_n = g_arena_cap = 0;
}

static int teardown(void **state)
{
    int rc = tu_teardown(state);
    arena_free();
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Posting and reading answers                                              */
/* ------------------------------------------------------------------------ */

static uint8_t *snappy_of(const void *raw, size_t len, size_t *out_len)
{
    size_t cap = snappy_max_compressed_length(len);
    uint8_t *out = talloc(cap);
    *out_len = cap;
    assert_int_equal(snappy_compress(raw, len, (char *)out, out_len), SNAPPY_OK);
    return out;
}

/* Post a body and check the invariants every answer has. */
static void post(tu_store *f, const char *ct, const char *ce, const void *body, size_t len,
                 promstore_http_response *resp)
{
    promstore_http_request req = {.struct_size = sizeof req, .content_type = ct,
                                  .content_encoding = ce, .body = body, .body_len = len};
    memset(resp, 0xa5, sizeof *resp);
    resp->struct_size = sizeof *resp;
    promstore_error err = {.status = 777};
    assert_int_equal(promstore_remote_write(f->db, &req, resp, &err), PROMSTORE_OK);
    assert_int_equal(err.status, 777); /* untouched on success */
    tu_assert_response_terminated(resp); /* before any string of it is read */
    assert_null(strchr(resp->message, '\n'));
    assert_string_equal(resp->content_encoding, "");
    if (resp->status >= 400) {
        assert_string_equal(resp->content_type, "text/plain; charset=utf-8");
        assert_true(resp->message[0] != '\0');
    } else {
        assert_int_equal(resp->status, 204);
        assert_string_equal(resp->content_type, "");
        assert_string_equal(resp->message, "");
    }
    for (size_t i = 0; i < resp->n_headers; i++)
        assert_string_not_equal(resp->headers[i].name, "");
}

static const char *header(const promstore_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

static void assert_written(const promstore_http_response *resp, const char *samples,
                           const char *histograms, const char *exemplars)
{
    assert_non_null(header(resp, H_SAMPLES));
    assert_non_null(header(resp, H_HISTOGRAMS));
    assert_non_null(header(resp, H_EXEMPLARS));
    assert_string_equal(header(resp, H_SAMPLES), samples);
    assert_string_equal(header(resp, H_HISTOGRAMS), histograms);
    assert_string_equal(header(resp, H_EXEMPLARS), exemplars);
}

static void assert_no_written(const promstore_http_response *resp)
{
    assert_null(header(resp, H_SAMPLES));
    assert_null(header(resp, H_HISTOGRAMS));
    assert_null(header(resp, H_EXEMPLARS));
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* ------------------------------------------------------------------------ */
/* Reading the store back                                                   */
/* ------------------------------------------------------------------------ */

typedef struct got {
    size_t series;
    size_t n;
    promstore_sample s[64];
    char labels[512]; /* {a="b", ...} of the last series */
} got;

/* Every sample of the series whose `name` label is `value`, in series order. */
static void query_eq(tu_store *f, const char *name, const char *value, got *g)
{
    memset(g, 0, sizeof *g);
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, name, value);
    tu_result r;
    tu_query_ok(f->db, &m, 1, TU_FULL, TU_SAMPLES, &r);
    g->series = r.n;
    for (size_t k = 0; k < r.n; k++) {
        const tu_series *q = &r.s[k];
        size_t off = 0;
        for (size_t i = 0; i < q->n_labels && off < sizeof g->labels; i++)
            off += (size_t)snprintf(g->labels + off, sizeof g->labels - off, "%s%.*s=%.*s",
                                    i ? "," : "", (int)q->labels[i].name_len, q->labels[i].name,
                                    (int)q->labels[i].value_len, q->labels[i].value);
        for (size_t i = 0; i < q->n_samples; i++) {
            assert_true(g->n < 64);
            g->s[g->n++] = q->samples[i];
        }
    }
    tu_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* 1.0 request builder                                                      */
/* ------------------------------------------------------------------------ */

#define CAP 64 /* per-series capacity of every repeated field built here */

typedef struct v1req {
    Prometheus__WriteRequest wr;
    size_t cap;
} v1req;

static v1req *v1_new(size_t cap)
{
    v1req *r = talloc(sizeof *r);
    prometheus__write_request__init(&r->wr);
    r->cap = cap;
    r->wr.timeseries = talloc(cap * sizeof *r->wr.timeseries);
    r->wr.metadata = talloc(CAP * sizeof *r->wr.metadata);
    return r;
}

static ProtobufCBinaryData bin(const char *s)
{
    ProtobufCBinaryData d = {strlen(s), (uint8_t *)s};
    return d;
}

/* A new series with labels kv = {name, value, ..., NULL}. */
static Prometheus__TimeSeries *v1_series(v1req *r, const char *const *kv)
{
    assert_true(r->wr.n_timeseries < r->cap);
    Prometheus__TimeSeries *ts = talloc(sizeof *ts);
    prometheus__time_series__init(ts);
    ts->labels = talloc(CAP * sizeof *ts->labels);
    ts->samples = talloc(CAP * sizeof *ts->samples);
    ts->exemplars = talloc(CAP * sizeof *ts->exemplars);
    ts->histograms = talloc(CAP * sizeof *ts->histograms);
    for (size_t i = 0; kv[i]; i += 2) {
        Prometheus__Label *l = talloc(sizeof *l);
        prometheus__label__init(l);
        l->name = bin(kv[i]);
        l->value = bin(kv[i + 1]);
        ts->labels[ts->n_labels++] = l;
    }
    r->wr.timeseries[r->wr.n_timeseries++] = ts;
    return ts;
}

static void v1_sample(Prometheus__TimeSeries *ts, double v, int64_t t)
{
    Prometheus__Sample *s = talloc(sizeof *s);
    prometheus__sample__init(s);
    s->value = v;
    s->timestamp = t;
    ts->samples[ts->n_samples++] = s;
}

static void v1_metadata(v1req *r, const char *family)
{
    Prometheus__MetricMetadata *m = talloc(sizeof *m);
    prometheus__metric_metadata__init(m);
    m->type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER;
    m->metric_family_name = (char *)family;
    m->help = (char *)"help text";
    m->unit = (char *)"";
    r->wr.metadata[r->wr.n_metadata++] = m;
}

static uint8_t *v1_raw(v1req *r, size_t *len)
{
    *len = prometheus__write_request__get_packed_size(&r->wr);
    uint8_t *raw = talloc(*len);
    assert_int_equal(prometheus__write_request__pack(&r->wr, raw), *len);
    return raw;
}

static void post_v1(tu_store *f, v1req *r, promstore_http_response *resp)
{
    size_t len, clen;
    uint8_t *raw = v1_raw(r, &len);
    uint8_t *body = snappy_of(raw, len, &clen);
    post(f, CT_V1, "snappy", body, clen, resp);
}

/* ------------------------------------------------------------------------ */
/* 2.0 request builder                                                      */
/* ------------------------------------------------------------------------ */

typedef Io__Prometheus__Write__V2__TimeSeries v2ts;

typedef struct v2req {
    Io__Prometheus__Write__V2__Request rq;
    size_t cap;
} v2req;

static v2req *v2_new(size_t cap)
{
    v2req *r = talloc(sizeof *r);
    io__prometheus__write__v2__request__init(&r->rq);
    r->cap = cap;
    r->rq.timeseries = talloc(cap * sizeof *r->rq.timeseries);
    r->rq.symbols = talloc(4 * cap * CAP * sizeof *r->rq.symbols);
    r->rq.symbols[r->rq.n_symbols++] = bin("");
    return r;
}

static uint32_t v2_sym(v2req *r, const char *s)
{
    for (size_t i = 0; i < r->rq.n_symbols; i++)
        if (r->rq.symbols[i].len == strlen(s) &&
            memcmp(r->rq.symbols[i].data, s, r->rq.symbols[i].len) == 0)
            return (uint32_t)i;
    r->rq.symbols[r->rq.n_symbols] = bin(s);
    return (uint32_t)r->rq.n_symbols++;
}

static v2ts *v2_series(v2req *r, const char *const *kv)
{
    assert_true(r->rq.n_timeseries < r->cap);
    v2ts *ts = talloc(sizeof *ts);
    io__prometheus__write__v2__time_series__init(ts);
    ts->labels_refs = talloc(2 * CAP * sizeof *ts->labels_refs);
    ts->samples = talloc(CAP * sizeof *ts->samples);
    ts->histograms = talloc(CAP * sizeof *ts->histograms);
    ts->exemplars = talloc(CAP * sizeof *ts->exemplars);
    for (size_t i = 0; kv[i]; i += 2) {
        ts->labels_refs[ts->n_labels_refs++] = v2_sym(r, kv[i]);
        ts->labels_refs[ts->n_labels_refs++] = v2_sym(r, kv[i + 1]);
    }
    r->rq.timeseries[r->rq.n_timeseries++] = ts;
    return ts;
}

static Io__Prometheus__Write__V2__Sample *v2_sample(v2ts *ts, double v, int64_t t)
{
    Io__Prometheus__Write__V2__Sample *s = talloc(sizeof *s);
    io__prometheus__write__v2__sample__init(s);
    s->value = v;
    s->timestamp = t;
    ts->samples[ts->n_samples++] = s;
    return s;
}

static Io__Prometheus__Write__V2__Histogram *v2_histogram(v2ts *ts, int64_t t)
{
    Io__Prometheus__Write__V2__Histogram *h = talloc(sizeof *h);
    io__prometheus__write__v2__histogram__init(h);
    h->count_case = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_INT;
    h->count_int = 3;
    h->sum = 4.5;
    h->schema = 0;
    h->zero_count_case = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT;
    h->zero_count_int = 1;
    Io__Prometheus__Write__V2__BucketSpan *sp = talloc(sizeof *sp);
    io__prometheus__write__v2__bucket_span__init(sp);
    sp->offset = 0;
    sp->length = 2;
    h->positive_spans = talloc(sizeof *h->positive_spans);
    h->positive_spans[0] = sp;
    h->n_positive_spans = 1;
    h->positive_deltas = talloc(2 * sizeof *h->positive_deltas);
    h->positive_deltas[0] = 1;
    h->positive_deltas[1] = 0;
    h->n_positive_deltas = 2;
    h->timestamp = t;
    ts->histograms[ts->n_histograms++] = h;
    return h;
}

static void v2_exemplar(v2req *r, v2ts *ts, const char *trace_id, double v, int64_t t)
{
    Io__Prometheus__Write__V2__Exemplar *e = talloc(sizeof *e);
    io__prometheus__write__v2__exemplar__init(e);
    e->labels_refs = talloc(2 * sizeof *e->labels_refs);
    e->labels_refs[0] = v2_sym(r, "trace_id");
    e->labels_refs[1] = v2_sym(r, trace_id);
    e->n_labels_refs = 2;
    e->value = v;
    e->timestamp = t;
    ts->exemplars[ts->n_exemplars++] = e;
}

static uint8_t *v2_raw(v2req *r, size_t *len)
{
    *len = io__prometheus__write__v2__request__get_packed_size(&r->rq);
    uint8_t *raw = talloc(*len);
    assert_int_equal(io__prometheus__write__v2__request__pack(&r->rq, raw), *len);
    return raw;
}

static void post_v2(tu_store *f, v2req *r, promstore_http_response *resp)
{
    size_t len, clen;
    uint8_t *raw = v2_raw(r, &len);
    uint8_t *body = snappy_of(raw, len, &clen);
    post(f, CT_V2, "snappy", body, clen, resp);
}

#define LBL(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------------------ */
/* 1.0                                                                      */
/* ------------------------------------------------------------------------ */

static void test_v1_ok(void **state)
{
    tu_store *f = *state;
    v1req *r = v1_new(4);
    Prometheus__TimeSeries *a = v1_series(r, LBL("__name__", "up", "job", "a"));
    v1_sample(a, 1, T0);
    v1_sample(a, 0, T0 + 15000);
    Prometheus__TimeSeries *b = v1_series(r, LBL("__name__", "up", "job", "b"));
    v1_sample(b, 1, T0);
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.n_headers, 0);
    assert_no_written(&resp);
    assert_int_equal(resp.samples_written, 3);
    assert_int_equal(resp.samples_rejected, 0);
    got g;
    query_eq(f, "job", "a", &g);
    assert_int_equal(g.series, 1);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.s[0].timestamp_ms, T0);
    assert_int_equal(g.s[1].timestamp_ms, T0 + 15000);
    assert_int_equal(g.s[0].value_bits, tu_bits(1));
    assert_int_equal(g.s[1].value_bits, tu_bits(0));
    query_eq(f, "__name__", "up", &g);
    assert_int_equal(g.series, 2);
}

/* A missing Content-Type is 1.0, a missing Content-Encoding is snappy, and the
 * accepted spellings of both. */
static void test_v1_header_variants(void **state)
{
    tu_store *f = *state;
    static const char *const cts[] = {
        NULL,
        "application/x-protobuf",
        "application/x-protobuf;proto=prometheus.WriteRequest",
        " Application/X-Protobuf ; proto=prometheus.WriteRequest ",
        "application/x-protobuf; charset=utf-8",
        "application/x-protobuf;proto=\"prometheus.WriteRequest\"",
        "", /* Go's Header.Get cannot tell empty from missing */
    };
    static const char *const ces[] = {NULL, "snappy", " SNAPPY ", "Snappy", ""};
    int64_t t = T0;
    for (size_t i = 0; i < sizeof cts / sizeof *cts; i++) {
        for (size_t j = 0; j < sizeof ces / sizeof *ces; j++) {
            v1req *r = v1_new(1);
            v1_sample(v1_series(r, LBL("__name__", "hv")), 1, t++);
            size_t len, clen;
            uint8_t *raw = v1_raw(r, &len);
            uint8_t *body = snappy_of(raw, len, &clen);
            promstore_http_response resp;
            post(f, cts[i], ces[j], body, clen, &resp);
            if (resp.status != 204)
                fail_msg("ct %s ce %s: %d %s", cts[i] ? cts[i] : "(none)",
                         ces[j] ? ces[j] : "(none)", resp.status, resp.message);
            assert_no_written(&resp);
        }
    }
    got g;
    query_eq(f, "__name__", "hv", &g);
    assert_int_equal(g.n, (sizeof cts / sizeof *cts) * (sizeof ces / sizeof *ces));
}

/* Prometheus sends metadata in requests of their own; they must get 2xx. */
static void test_v1_metadata_only(void **state)
{
    tu_store *f = *state;
    v1req *r = v1_new(1);
    v1_metadata(r, "http_requests_total");
    v1_metadata(r, "up");
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.metadata_dropped, 2);
    assert_int_equal(resp.samples_written, 0);
    assert_int_equal(tu_stats(f->db).series, 0);

    /* An empty message (one byte of snappy: length 0) is fine too. */
    static const uint8_t empty[] = {0x00};
    post(f, CT_V1, "snappy", empty, sizeof empty, &resp);
    assert_int_equal(resp.status, 204);
    post(f, CT_V2, "snappy", empty, sizeof empty, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "0", "0", "0");
}

/* Prometheus 2.42 puts each sample in its own TimeSeries entry. */
static void test_v1_same_series_twice(void **state)
{
    tu_store *f = *state;
    v1req *r = v1_new(4);
    v1_sample(v1_series(r, LBL("__name__", "twice", "i", "1")), 1, T0);
    v1_sample(v1_series(r, LBL("__name__", "twice", "i", "1")), 2, T0 + 1000);
    v1_sample(v1_series(r, LBL("i", "1", "__name__", "twice")), 3, T0 + 2000);
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.samples_written, 3);
    got g;
    query_eq(f, "__name__", "twice", &g);
    assert_int_equal(g.series, 1);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.s[2].value_bits, tu_bits(3));
    /* The same request again: duplicates, still 204 and counted as written. */
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.samples_written, 3);
    assert_int_equal(tu_stats(f->db).samples, 3);
}

static const uint64_t g_special_bits[] = {
    UINT64_C(0x7ff0000000000002), /* stale marker, a signalling NaN */
    UINT64_C(0x7ff8000000000001), /* Prometheus's ordinary NaN */
    UINT64_C(0x7ff0000000000000), /* +Inf */
    UINT64_C(0xfff0000000000000), /* -Inf */
    UINT64_C(0x0000000000000001), /* smallest subnormal */
};
#define N_SPECIAL (sizeof g_special_bits / sizeof *g_special_bits)

static void test_values_bit_exact(void **state)
{
    tu_store *f = *state;
    v1req *r = v1_new(1);
    Prometheus__TimeSeries *ts = v1_series(r, LBL("__name__", "special_v1"));
    v2req *r2 = v2_new(1);
    v2ts *ts2 = v2_series(r2, LBL("__name__", "special_v2"));
    for (size_t i = 0; i < N_SPECIAL; i++) {
        v1_sample(ts, tu_float(g_special_bits[i]), T0 + (int64_t)i);
        v2_sample(ts2, tu_float(g_special_bits[i]), T0 + (int64_t)i);
    }
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    post_v2(f, r2, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "5", "0", "0");
    got g;
    for (int v = 1; v <= 2; v++) {
        query_eq(f, "__name__", v == 1 ? "special_v1" : "special_v2", &g);
        assert_int_equal(g.n, N_SPECIAL);
        for (size_t i = 0; i < N_SPECIAL; i++)
            assert_int_equal(g.s[i].value_bits, g_special_bits[i]);
    }
}

/*
 * -0.0 by hand: protobuf-c's packer leaves out a proto3 double that compares
 * equal to 0, but Go's sends it (it tests the bits), so the receiver must keep
 * the sign bit it gets on the wire.
 */
static void test_negative_zero_on_wire(void **state)
{
    tu_store *f = *state;
    static const uint8_t raw[] = {
        0x0a, 0x20,                                     /* WriteRequest.timeseries, 32 */
        0x0a, 0x11,                                     /* TimeSeries.labels, 17 */
        0x0a, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', /* Label.name */
        0x12, 0x05, 'n', 'e', 'g', 'z', '0',            /* Label.value */
        0x12, 0x0b,                                     /* TimeSeries.samples, 11 */
        0x09, 0, 0, 0, 0, 0, 0, 0, 0x80,                /* Sample.value = -0.0 */
        0x10, 0x01,                                     /* Sample.timestamp = 1 */
    };
    size_t clen;
    uint8_t *body = snappy_of(raw, sizeof raw, &clen);
    promstore_http_response resp;
    post(f, CT_V1, "snappy", body, clen, &resp);
    assert_int_equal(resp.status, 204);
    got g;
    query_eq(f, "__name__", "negz0", &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.s[0].timestamp_ms, 1);
    assert_int_equal(g.s[0].value_bits, UINT64_C(0x8000000000000000));
}

/* Entries without samples (exemplar- or histogram-only) are skipped, counted. */
static void test_v1_exemplar_histogram_only(void **state)
{
    tu_store *f = *state;
    v1req *r = v1_new(4);
    Prometheus__TimeSeries *e = v1_series(r, LBL("__name__", "ex_only"));
    Prometheus__Exemplar *ex = talloc(sizeof *ex);
    prometheus__exemplar__init(ex);
    ex->value = 1;
    ex->timestamp = T0;
    e->exemplars[e->n_exemplars++] = ex;
    Prometheus__TimeSeries *h = v1_series(r, LBL("__name__", "h_only"));
    Prometheus__Histogram *hi = talloc(sizeof *hi);
    prometheus__histogram__init(hi);
    hi->timestamp = T0;
    h->histograms[h->n_histograms++] = hi;
    /* An entry with no labels and no samples is skipped too, not rejected. */
    v1_series(r, LBL(NULL));
    v1_sample(v1_series(r, LBL("__name__", "with_sample")), 5, T0);
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.exemplars_dropped, 1);
    assert_int_equal(resp.histograms_dropped, 1);
    assert_int_equal(resp.samples_written, 1);
    assert_int_equal(tu_stats(f->db).series, 1);
}

/* 1.0 accepts a series without __name__, as Prometheus 2.42 does. */
static void test_v1_no_name_accepted(void **state)
{
    tu_store *f = *state;
    v1req *r = v1_new(1);
    v1_sample(v1_series(r, LBL("job", "noname")), 1, T0);
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    got g;
    query_eq(f, "job", "noname", &g);
    assert_int_equal(g.n, 1);
}

/* ------------------------------------------------------------------------ */
/* 415, 413, 400 before decoding                                            */
/* ------------------------------------------------------------------------ */

static void test_415(void **state)
{
    tu_store *f = *state;
    static const uint8_t corrupt[] = "this is not snappy at all \xff\xff\xff";
    static const char *const bad_ct[] = {
        "application/json",
        "image/png",
        "application/x-protobuf;proto=unknown.Message",
        "application/x-protobuf;proto=prometheus.ReadRequest",
        "application/x-protobuf;proto=io.prometheus.write.v2.request", /* case matters */
        "text/plain",
        "application/x-protobuf;proto",
        " ; proto=prometheus.WriteRequest",
    };
    promstore_http_response resp;
    for (size_t i = 0; i < sizeof bad_ct / sizeof *bad_ct; i++) {
        post(f, bad_ct[i], "snappy", corrupt, sizeof corrupt, &resp);
        if (resp.status != 415)
            fail_msg("Content-Type \"%s\": %d %s", bad_ct[i], resp.status, resp.message);
        assert_contains(resp.message, "Content-Type");
        assert_no_written(&resp);
    }
    static const char *const bad_ce[] = {"gzip", "deflate", "identity", "snappy, gzip", "br"};
    for (size_t i = 0; i < sizeof bad_ce / sizeof *bad_ce; i++) {
        post(f, CT_V1, bad_ce[i], corrupt, sizeof corrupt, &resp);
        assert_int_equal(resp.status, 415);
        assert_contains(resp.message, "Content-Encoding");
        assert_no_written(&resp);
        /* A 2.0 request gets the Written headers on every answer. */
        post(f, CT_V2, bad_ce[i], corrupt, sizeof corrupt, &resp);
        assert_int_equal(resp.status, 415);
        assert_written(&resp, "0", "0", "0");
    }
    assert_int_equal(tu_stats(f->db).series, 0);
}

static void test_413_body_limit(void **state)
{
    tu_store *f = *state;
    f->opts.max_request_bytes = 100;
    tu_store_reopen(f);

    v1req *r = v1_new(1);
    Prometheus__TimeSeries *ts = v1_series(r, LBL("__name__", "big"));
    for (int i = 0; i < 40; i++)
        v1_sample(ts, i * 1.37, T0 + i * 1000);
    size_t len, clen;
    uint8_t *raw = v1_raw(r, &len);
    uint8_t *body = snappy_of(raw, len, &clen);
    assert_true(clen > 100);
    promstore_http_response resp;
    post(f, CT_V1, "snappy", body, clen, &resp);
    assert_int_equal(resp.status, 413);
    assert_contains(resp.message, "limit");
    /* A body under the limit is served. */
    v1req *small = v1_new(1);
    v1_sample(v1_series(small, LBL("__name__", "small")), 1, T0);
    post_v1(f, small, &resp);
    assert_int_equal(resp.status, 204);
}

static void test_413_declared_length(void **state)
{
    tu_store *f = *state;
    /* uvarint 1 GiB, then a few bytes: small on the wire, huge if trusted. */
    static const uint8_t body[] = {0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x41, 0x41};
    promstore_http_response resp;
    post(f, CT_V1, "snappy", body, sizeof body, &resp);
    assert_int_equal(resp.status, 413);
    assert_contains(resp.message, "limit");
    post(f, CT_V2, NULL, body, sizeof body, &resp);
    assert_int_equal(resp.status, 413);
    assert_written(&resp, "0", "0", "0");

    /* With a small decoded limit, an ordinary body over it. */
    f->opts.max_decoded_bytes = 64;
    tu_store_reopen(f);
    v1req *r = v1_new(1);
    Prometheus__TimeSeries *ts = v1_series(r, LBL("__name__", "decoded_big"));
    for (int i = 0; i < 10; i++)
        v1_sample(ts, i, T0 + i);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 413);
}

static void test_400_snappy(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;

    /* An empty body is not a snappy block. */
    post(f, CT_V1, "snappy", "", 0, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "snappy");

    /* A length header that never ends. */
    static const uint8_t bad_len[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    post(f, CT_V1, "snappy", bad_len, sizeof bad_len, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "corrupt snappy");

    /* A good header and a truncated or damaged stream. */
    v1req *r = v1_new(1);
    Prometheus__TimeSeries *ts = v1_series(r, LBL("__name__", "trunc"));
    for (int i = 0; i < 20; i++)
        v1_sample(ts, i, T0 + i);
    size_t len, clen;
    uint8_t *raw = v1_raw(r, &len);
    uint8_t *body = snappy_of(raw, len, &clen);
    post(f, CT_V1, "snappy", body, clen / 2, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "corrupt snappy");

    /* A copy element reaching before the start of the output. */
    static const uint8_t bad_copy[] = {0x08, 0x00, 0x41, 0x0d, 0x20};
    post(f, CT_V1, "snappy", bad_copy, sizeof bad_copy, &resp);
    assert_int_equal(resp.status, 400);
    assert_int_equal(tu_stats(f->db).series, 0);
}

static void test_400_framed_snappy(void **state)
{
    tu_store *f = *state;
    uint8_t body[64];
    memcpy(body, (const uint8_t[]){0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59},
           10);
    /* A compressed-data chunk would follow; its content does not matter. */
    memset(body + 10, 0x42, sizeof body - 10);
    promstore_http_response resp;
    post(f, CT_V1, "snappy", body, sizeof body, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "framed");
    assert_contains(resp.message, "not supported");
    post(f, CT_V2, "snappy", body, sizeof body, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "framed");
    assert_written(&resp, "0", "0", "0");
}

static void test_400_bad_protobuf(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;
    /* Garbage that snappy carries fine but protobuf cannot read. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x07};
    size_t clen;
    uint8_t *body = snappy_of(garbage, sizeof garbage, &clen);
    post(f, CT_V1, "snappy", body, clen, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "cannot decode WriteRequest");
    post(f, CT_V2, "snappy", body, clen, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "cannot decode io.prometheus.write.v2.Request");
    assert_written(&resp, "0", "0", "0");

    /* A valid message cut short. */
    v1req *r = v1_new(1);
    v1_sample(v1_series(r, LBL("__name__", "cut", "job", "j")), 1, T0);
    size_t len;
    uint8_t *raw = v1_raw(r, &len);
    for (size_t cut = 1; cut < len; cut++) {
        body = snappy_of(raw, cut, &clen);
        post(f, CT_V1, "snappy", body, clen, &resp);
        /* The message is one length-delimited field: every prefix is cut. */
        assert_int_equal(resp.status, 400);
    }
    body = snappy_of(raw, len - 1, &clen);
    post(f, CT_V1, "snappy", body, clen, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "cannot decode WriteRequest");
    assert_int_equal(tu_stats(f->db).samples, 0);
}

/* Millions of empty TimeSeries: 2 wire bytes each, ~100 bytes decoded. */
static void test_413_decode_memory(void **state)
{
    tu_store *f = *state;
    size_t n = 4u << 20;
    uint8_t *raw = talloc(n);
    for (size_t i = 0; i < n; i += 2) {
        raw[i] = 0x2a; /* field 5 (timeseries), length-delimited */
        raw[i + 1] = 0x00;
    }
    size_t clen;
    uint8_t *body = snappy_of(raw, n, &clen);
    promstore_http_response resp;
    post(f, CT_V2, "snappy", body, clen, &resp);
    assert_int_equal(resp.status, 413);
    assert_contains(resp.message, "memory");
    assert_written(&resp, "0", "0", "0");
}

/*
 * 2.0 labels are pairs of refs, one byte each on the wire here, but 32 bytes
 * each in the batch handed to the engine. A series with 2M pairs decodes
 * within the bound (4 bytes a ref), and its batch must be counted in it too:
 * 413 naming the memory, before anything is validated or stored. Before the
 * batch was inside the bound, this request built 64 MiB of labels past it and
 * got as far as validation (400, duplicate label names).
 */
static void test_413_v2_label_amplification(void **state)
{
    tu_store *f = *state;
    enum { PAIRS = 2 << 20 };
    v2req *r = v2_new(1);
    v2ts *ts = v2_series(r, LBL("__name__", "amplified"));
    uint32_t a = v2_sym(r, "a");
    uint32_t *refs = talloc((2 + 2 * (size_t)PAIRS) * sizeof *refs);
    memcpy(refs, ts->labels_refs, 2 * sizeof *refs);
    for (size_t i = 2; i < 2 + 2 * (size_t)PAIRS; i++)
        refs[i] = a;
    ts->labels_refs = refs;
    ts->n_labels_refs = 2 + 2 * (size_t)PAIRS;
    v2_sample(ts, 1.0, 1000);
    promstore_http_response resp;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 413);
    assert_contains(resp.message, "memory");
    assert_written(&resp, "0", "0", "0");
}

/* ------------------------------------------------------------------------ */
/* 400 from validation and the engine                                       */
/* ------------------------------------------------------------------------ */

static void test_400_invalid_labels(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;
    /* A duplicate label name: nothing of the request is stored. */
    v1req *r = v1_new(2);
    v1_sample(v1_series(r, LBL("__name__", "good", "job", "x")), 1, T0);
    v1_sample(v1_series(r, LBL("__name__", "dup", "job", "a", "job", "b")), 1, T0);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "dup");
    assert_int_equal(resp.samples_written, 0);
    assert_int_equal(tu_stats(f->db).series, 0);

    /* Invalid UTF-8 in a value. */
    r = v1_new(1);
    v1_sample(v1_series(r, LBL("__name__", "badutf", "v", "\xc3\x28")), 1, T0);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "badutf");

    /* A series with samples but no labels at all. */
    r = v1_new(1);
    v1_sample(v1_series(r, LBL(NULL)), 1, T0);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_int_equal(tu_stats(f->db).series, 0);

    /* Unsorted labels are accepted and stored sorted. */
    r = v1_new(1);
    v1_sample(v1_series(r, LBL("zone", "z", "__name__", "unsorted", "app", "a")), 1, T0);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    got g;
    query_eq(f, "__name__", "unsorted", &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.labels, "__name__=unsorted,app=a,zone=z");
}

/* A bad label set in the last series of a request larger than one append
 * chunk: still nothing stored. */
static void test_400_invalid_labels_across_chunks(void **state)
{
    tu_store *f = *state;
    enum { N = 20000 };
    v1req *r = v1_new(N + 1);
    char *names = talloc((size_t)N * 16);
    for (size_t i = 0; i < N; i++) {
        char *v = names + i * 16;
        snprintf(v, 16, "%zu", i);
        Prometheus__TimeSeries *ts = v1_series(r, LBL("__name__", "many", "i", v));
        v1_sample(ts, 1, T0);
    }
    v1_sample(v1_series(r, LBL("__name__", "bad", "x", "1", "x", "2")), 1, T0);
    promstore_http_response resp;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_int_equal(tu_stats(f->db).series, 0);

    /* Without the bad one, all 20000 (more than one chunk) are stored. */
    r->wr.n_timeseries = N;
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.samples_written, N);
    assert_int_equal(tu_stats(f->db).series, N);
}

static void test_400_out_of_order(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;
    v1req *r = v1_new(1);
    v1_sample(v1_series(r, LBL("__name__", "ooo", "job", "late")), 1, T0 + 60000);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 204);

    r = v1_new(2);
    v1_sample(v1_series(r, LBL("__name__", "ooo", "job", "late")), 2, T0);
    v1_sample(v1_series(r, LBL("__name__", "ooo", "job", "fresh")), 3, T0);
    post_v1(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "late");
    assert_int_equal(resp.samples_written, 1);
    assert_int_equal(resp.samples_rejected, 1);
    got g;
    query_eq(f, "job", "fresh", &g);
    assert_int_equal(g.n, 1);
    query_eq(f, "job", "late", &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.s[0].timestamp_ms, T0 + 60000);

    /* The same in 2.0: the headers count what was written. */
    v2req *r2 = v2_new(2);
    v2_sample(v2_series(r2, LBL("__name__", "ooo", "job", "late")), 2, T0 + 1);
    v2_sample(v2_series(r2, LBL("__name__", "ooo", "job", "fresh2")), 3, T0);
    post_v2(f, r2, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "late");
    assert_written(&resp, "1", "0", "0");
}

/* ------------------------------------------------------------------------ */
/* 2.0                                                                      */
/* ------------------------------------------------------------------------ */

static void test_v2_ok(void **state)
{
    tu_store *f = *state;
    v2req *r = v2_new(4);
    /* Label refs in random order, as the compliance suite sends them. */
    v2ts *a = v2_series(r, LBL("job", "a", "__name__", "v2up", "instance", "h:1"));
    v2_sample(a, 1, T0);
    v2_sample(a, 1, T0 + 15000);
    v2ts *b = v2_series(r, LBL("__name__", "v2up", "job", "b"));
    v2_sample(b, 0, T0);
    /* Dots, spaces and newlines in names and values (UTF-8 names). */
    v2ts *c = v2_series(r, LBL("__name__", "my.metric name", "la bel", "line\nbreak"));
    v2_sample(c, 7, T0);
    promstore_http_response resp;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "4", "0", "0");
    assert_int_equal(resp.samples_written, 4);
    got g;
    query_eq(f, "job", "a", &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.labels, "__name__=v2up,instance=h:1,job=a");
    query_eq(f, "la bel", "line\nbreak", &g);
    assert_int_equal(g.n, 1);
    /* Retried: duplicates count as written. */
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "4", "0", "0");
}

static void test_v2_bad_symbols(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;

    v2req *r = v2_new(1);
    v2_sample(v2_series(r, LBL("__name__", "s0")), 1, T0);
    r->rq.symbols[0] = bin("not empty");
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "symbols[0]");
    assert_written(&resp, "0", "0", "0");

    r = v2_new(1);
    v2ts *ts = v2_series(r, LBL("__name__", "odd"));
    ts->labels_refs[ts->n_labels_refs++] = 1;
    v2_sample(ts, 1, T0);
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "odd");

    r = v2_new(1);
    ts = v2_series(r, LBL("__name__", "range"));
    ts->labels_refs[1] = 99;
    v2_sample(ts, 1, T0);
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "ref 99 is out of range");

    r = v2_new(1);
    ts = v2_series(r, LBL("__name__", "exref"));
    v2_sample(ts, 1, T0);
    v2_exemplar(r, ts, "abc", 1, T0);
    ts->exemplars[0]->labels_refs[1] = 1000;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "exemplar");

    r = v2_new(1);
    ts = v2_series(r, LBL("__name__", "mdref"));
    v2_sample(ts, 1, T0);
    Io__Prometheus__Write__V2__Metadata *md = talloc(sizeof *md);
    io__prometheus__write__v2__metadata__init(md);
    md->help_ref = 500;
    ts->metadata = md;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "metadata");

    /* No symbols at all, but a label ref. */
    r = v2_new(1);
    ts = v2_series(r, LBL("__name__", "nosym"));
    v2_sample(ts, 1, T0);
    r->rq.n_symbols = 0;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);

    assert_int_equal(tu_stats(f->db).series, 0);
}

static void test_v2_missing_name(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;
    /* 1 of 4 without a name: non-2xx, nothing written. */
    v2req *r = v2_new(4);
    v2_sample(v2_series(r, LBL("__name__", "m1")), 1, T0);
    v2_sample(v2_series(r, LBL("__name__", "m2")), 1, T0);
    v2_sample(v2_series(r, LBL("job", "nameless")), 1, T0);
    v2_sample(v2_series(r, LBL("__name__", "m4")), 1, T0);
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "nameless");
    assert_contains(resp.message, "__name__");
    assert_written(&resp, "0", "0", "0");
    assert_int_equal(tu_stats(f->db).series, 0);

    /* An empty __name__ value is an absent name. */
    r = v2_new(1);
    v2_sample(v2_series(r, LBL("__name__", "", "job", "x")), 1, T0);
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);

    /* An empty label set. */
    r = v2_new(1);
    v2_sample(v2_series(r, LBL(NULL)), 1, T0);
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);

    /* A histogram-only series without a name is rejected too. */
    r = v2_new(1);
    v2_histogram(v2_series(r, LBL("job", "hist_nameless")), T0);
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 400);
    assert_written(&resp, "0", "0", "0");
    assert_int_equal(tu_stats(f->db).series, 0);
}

/* Both start-time layouts decode and are accepted (not stored). */
static void test_v2_start_timestamps(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;
    /* v2.54 .. v3.7: TimeSeries.created_timestamp = 6. */
    v2req *r = v2_new(1);
    v2ts *ts = v2_series(r, LBL("__name__", "ct_old"));
    ts->created_timestamp = T0 - 3600000;
    v2_sample(ts, 10, T0);
    size_t len;
    uint8_t *raw = v2_raw(r, &len);
    /* Field 6, varint: tag byte 0x30 is on the wire. */
    assert_non_null(memchr(raw, 0x30, len));
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "1", "0", "0");

    /* v3.8 on: Sample.start_timestamp = 3, Histogram.start_timestamp = 17. */
    r = v2_new(2);
    ts = v2_series(r, LBL("__name__", "st_new"));
    v2_sample(ts, 11, T0)->start_timestamp = T0 - 3600000;
    v2_sample(ts, 12, T0 + 1000)->start_timestamp = T0 - 3600000;
    v2ts *h = v2_series(r, LBL("__name__", "st_hist"));
    v2_histogram(h, T0)->start_timestamp = T0 - 3600000;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "2", "0", "0");
    assert_int_equal(resp.histograms_dropped, 1);
    got g;
    query_eq(f, "__name__", "st_new", &g);
    assert_int_equal(g.n, 2);
    query_eq(f, "__name__", "ct_old", &g);
    assert_int_equal(g.n, 1);
}

static void test_v2_dropped_counts(void **state)
{
    tu_store *f = *state;
    v2req *r = v2_new(4);
    v2ts *a = v2_series(r, LBL("__name__", "mixed", "job", "a"));
    v2_sample(a, 1, T0);
    v2_exemplar(r, a, "abc123", 1, T0);
    Io__Prometheus__Write__V2__Metadata *md = talloc(sizeof *md);
    io__prometheus__write__v2__metadata__init(md);
    md->type = IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_COUNTER;
    md->help_ref = v2_sym(r, "help me");
    md->unit_ref = v2_sym(r, "seconds");
    a->metadata = md;
    v2ts *h = v2_series(r, LBL("__name__", "hist", "job", "a"));
    v2_histogram(h, T0);
    v2_histogram(h, T0 + 1000);
    /* Metadata only: 2xx, nothing written. */
    v2ts *m = v2_series(r, LBL("__name__", "meta_only"));
    Io__Prometheus__Write__V2__Metadata *md2 = talloc(sizeof *md2);
    io__prometheus__write__v2__metadata__init(md2);
    m->metadata = md2;
    promstore_http_response resp;
    post_v2(f, r, &resp);
    assert_int_equal(resp.status, 204);
    assert_written(&resp, "1", "0", "0");
    assert_int_equal(resp.histograms_dropped, 2);
    assert_int_equal(resp.exemplars_dropped, 1);
    assert_int_equal(resp.metadata_dropped, 2);
    assert_int_equal(resp.histograms_written, 0);
    assert_int_equal(resp.exemplars_written, 0);
    assert_int_equal(tu_stats(f->db).series, 1);
}

/* ------------------------------------------------------------------------ */
/* Status mapping, messages, arguments                                      */
/* ------------------------------------------------------------------------ */

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(ps_http_status(PROMSTORE_E_BAD_LABELS), 400);
    assert_int_equal(ps_http_status(PROMSTORE_E_OUT_OF_ORDER), 400);
    assert_int_equal(ps_http_status(PROMSTORE_E_INVALID), 400);
    assert_int_equal(ps_http_status(PROMSTORE_E_FULL), 507);
    assert_int_equal(ps_http_status(PROMSTORE_E_BUSY), 503);
    assert_int_equal(ps_http_status(PROMSTORE_E_NOMEM), 503);
    assert_int_equal(ps_http_status(PROMSTORE_E_IO), 500);
    assert_int_equal(ps_http_status(PROMSTORE_E_CORRUPT), 500);
    assert_int_equal(ps_http_status(PROMSTORE_E_MISUSE), 500);

    static const struct {
        promstore_status rc;
        int status;
        const char *retry_after; /* NULL: no Retry-After */
    } cases[] = {
        {PROMSTORE_E_FULL, 507, "10"},   {PROMSTORE_E_BUSY, 503, "1"},
        {PROMSTORE_E_NOMEM, 503, "1"},   {PROMSTORE_E_IO, 500, NULL},
        {PROMSTORE_E_CORRUPT, 500, NULL}, {PROMSTORE_E_BAD_LABELS, 400, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        promstore_http_response resp = {.struct_size = sizeof resp};
        ps_resp_init(&resp);
        promstore_error e = {.status = cases[i].rc};
        snprintf(e.message, sizeof e.message, "store says\nno\r\tto {a=\"b\"}");
        ps_resp_engine_error(&resp, &e);
        assert_int_equal(resp.status, cases[i].status);
        assert_string_equal(resp.message, "store says no  to {a=\"b\"}");
        assert_string_equal(resp.content_type, "text/plain; charset=utf-8");
        if (cases[i].retry_after) {
            assert_int_equal(resp.n_headers, 1);
            assert_string_equal(resp.headers[0].name, "Retry-After");
            assert_string_equal(resp.headers[0].value, cases[i].retry_after);
        } else {
            assert_int_equal(resp.n_headers, 0);
        }
    }
}

/*
 * Every string of an answer is NUL-terminated inside its array (the header's
 * promise; post() checks it on every answer of this suite). Here: the answers
 * with the most and the longest strings, then the two writers of the strings
 * on inputs longer than the arrays.
 */
static void test_response_strings_terminated(void **state)
{
    tu_store *f = *state;
    promstore_http_response resp;

    /* 2.0: three headers. */
    v2req *r2 = v2_new(1);
    v2_sample(v2_series(r2, LBL("__name__", "up")), 1, T0);
    post_v2(f, r2, &resp);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.n_headers, 3);
    assert_written(&resp, "1", "0", "0");

    /* 400 with about the longest message the engine writes: a duplicate label
     * in a series of long labels (the series is cut in the message). */
    static char names[26][4], values[26][400];
    const char *kv[2 * 28 + 1];
    size_t k = 0;
    kv[k++] = "__name__";
    kv[k++] = "long";
    for (int i = 0; i < 26; i++) {
        snprintf(names[i], sizeof names[i], "l%c", 'a' + i);
        memset(values[i], 'a' + i, sizeof values[i] - 1);
        kv[k++] = names[i];
        kv[k++] = values[i];
    }
    kv[k++] = "la";
    kv[k++] = "again";
    kv[k] = NULL;
    v1req *r1 = v1_new(1);
    v1_sample(v1_series(r1, kv), 1, T0);
    post_v1(f, r1, &resp);
    assert_int_equal(resp.status, 400);
    assert_contains(resp.message, "la");
    assert_true(strlen(resp.message) > 700);

    /* 415 for a Content-Type of 4 KiB (the message quotes its start). */
    static char ct[4096];
    memset(ct, 'x', sizeof ct - 1);
    static const uint8_t junk[] = {1, 2, 3};
    post(f, ct, NULL, junk, sizeof junk, &resp);
    assert_int_equal(resp.status, 415);

    /* The writers themselves, into a buffer of nonzero bytes. */
    static char text[3 * PROMSTORE_ERROR_MESSAGE_MAX];
    memset(text, 'y', sizeof text - 1);
    memset(&resp, 0xa5, sizeof resp);
    resp.struct_size = sizeof resp;
    ps_resp_init(&resp);
    ps_resp_error(&resp, 400, "%s", text);
    tu_assert_response_terminated(&resp);
    assert_int_equal(strlen(resp.message), sizeof resp.message - 1);
    assert_string_equal(resp.message + sizeof resp.message - 4, "...");

    memset(&resp, 0xa5, sizeof resp);
    resp.struct_size = sizeof resp;
    ps_resp_init(&resp);
    assert_int_equal(ps_resp_header(&resp, "X-Long", "%s", text), 0);
    tu_assert_response_terminated(&resp);
    assert_int_equal(strlen(resp.headers[0].value), sizeof resp.headers[0].value - 1);
    /* A name that does not fit is refused, not cut; so is a header past the room. */
    assert_int_equal(ps_resp_header(&resp, text + sizeof text - 65, "1"), -1);
    while (resp.n_headers < PROMSTORE_HTTP_MAX_HEADERS)
        assert_int_equal(ps_resp_header(&resp, "X-More", "1"), 0);
    assert_int_equal(ps_resp_header(&resp, "X-Over", "1"), -1);
    assert_int_equal(resp.n_headers, PROMSTORE_HTTP_MAX_HEADERS);
    tu_assert_response_terminated(&resp);
}

static void test_content_type_parse(void **state)
{
    (void)state;
    ps_content_type ct;
    assert_int_equal(ps_content_type_parse(" a/b ; x=1;proto = \"p.Q\" ;", &ct), 0);
    assert_true(ps_span_eq(ct.media, ct.media_len, "a/b"));
    assert_true(ps_span_eq(ct.proto, ct.proto_len, "p.Q"));
    assert_int_equal(ps_content_type_parse("a/b", &ct), 0);
    assert_null(ct.proto);
    assert_int_equal(ps_content_type_parse("a/b; novalue", &ct), -1);
    assert_int_equal(ps_content_type_parse("  ", &ct), -1);
}

static void test_bad_args(void **state)
{
    tu_store *f = *state;
    static const uint8_t empty[] = {0x00};
    promstore_http_request req = {.struct_size = sizeof req, .body = empty, .body_len = 1};
    promstore_http_response resp = {.struct_size = sizeof resp};
    promstore_error err;
    assert_int_equal(promstore_remote_write(NULL, &req, &resp, &err), PROMSTORE_E_INVALID);
    assert_int_equal(err.status, PROMSTORE_E_INVALID);
    assert_int_equal(promstore_remote_write(f->db, NULL, &resp, &err), PROMSTORE_E_INVALID);
    assert_int_equal(promstore_remote_write(f->db, &req, NULL, NULL), PROMSTORE_E_INVALID);
    req.struct_size = 8;
    assert_int_equal(promstore_remote_write(f->db, &req, &resp, &err), PROMSTORE_E_INVALID);
    assert_contains(err.message, "struct_size");
    req.struct_size = sizeof req;
    resp.struct_size = 8;
    resp.status = 12345;
    assert_int_equal(promstore_remote_write(f->db, &req, &resp, &err), PROMSTORE_E_INVALID);
    assert_int_equal(resp.status, 12345); /* untouched */
    resp.struct_size = sizeof resp;
    req.body = NULL;
    assert_int_equal(promstore_remote_write(f->db, &req, &resp, &err), PROMSTORE_E_INVALID);
    req.body = empty;
    assert_int_equal(promstore_remote_write(f->db, &req, &resp, &err), PROMSTORE_OK);
    assert_int_equal(resp.status, 204);
}

int main(int argc, char **argv)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_v1_ok),
        T(test_v1_header_variants),
        T(test_v1_metadata_only),
        T(test_v1_same_series_twice),
        T(test_values_bit_exact),
        T(test_negative_zero_on_wire),
        T(test_v1_exemplar_histogram_only),
        T(test_v1_no_name_accepted),
        T(test_415),
        T(test_413_body_limit),
        T(test_413_declared_length),
        T(test_400_snappy),
        T(test_400_framed_snappy),
        T(test_400_bad_protobuf),
        T(test_413_decode_memory),
        T(test_413_v2_label_amplification),
        T(test_400_invalid_labels),
        T(test_400_invalid_labels_across_chunks),
        T(test_400_out_of_order),
        T(test_v2_ok),
        T(test_v2_bad_symbols),
        T(test_v2_missing_name),
        T(test_v2_start_timestamps),
        T(test_v2_dropped_counts),
        T(test_status_mapping),
        T(test_response_strings_terminated),
        T(test_content_type_parse),
        T(test_bad_args),
    };
#undef T
    return TU_RUN(argc, argv, "remote_write", tests);
}
