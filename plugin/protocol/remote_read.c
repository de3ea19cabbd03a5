/*
 * remote_read.c -- Prometheus remote read (POST /api/v1/read): the request
 * checks, response-type negotiation and the two response bodies, SAMPLES and
 * STREAMED_XOR_CHUNKS (docs/PROTOCOL.md section 3), built on the query
 * iterator of query.c. No network I/O: the front end hands over the headers
 * and body and sends back what promstore_remote_read_next() produces.
 *
 * ORDER OF CHECKS in promstore_remote_read_open(), cheapest first, so that a
 * bad request costs no memory: headers (415) -> a reader slot (503 +
 * Retry-After; taken before the body is decompressed, because the limit is
 * there to bound the memory of concurrent reads) -> compressed size and
 * declared decoded size (413, ps_proto_unsnappy) -> snappy and protobuf
 * decoding (400, 413 past the decoder's memory bound) -> negotiation (400) ->
 * the number of queries (400 past max_queries_per_read) -> every query
 * validated, its matchers counted against max_matchers_per_query (400) ->
 * SAMPLES's first pass, or the first frame of a stream (400 past a limit).
 *
 * WORK: one read budget (ps_read_budget, engine.h) serves every query of
 * the request, started when the queries are checked: the request as a
 * whole may do max_work_per_read steps of work and take read_deadline_ms.
 * SAMPLES's first pass is charged and its second is not -- it repeats the
 * first over the same snapshot, so a request that fit its budget before
 * the 200 is never cut for it after; a stream is charged as it goes.
 * Nothing is handed out before all of that passed, so every error has its
 * own status.
 *
 * SAMPLES: one snappy-compressed ReadResponse, built in bounded memory
 * whatever its size and sent as it is made, in two passes over one read
 * snapshot (ps_snapshot, engine.h) that all queries of the request share,
 * so that both passes read the same series and samples:
 *
 *   1. open() reads every query through to its end and keeps only lengths:
 *      each TimeSeries's (4 bytes a series; one is less than 4 GiB, as the
 *      whole is), each QueryResult's, and the ReadResponse's. The protobuf
 *      wire format puts a length before each message and snappy's block
 *      format the decoded length before everything, so nothing can be sent
 *      before these are known. The limits are met in this pass --
 *      max_samples_per_query and max_series_per_query from the iterator, and
 *      RR_SAMPLES_MAX, the most snappy's 32-bit length can say -- so each
 *      is still a 400 with a status line of its own.
 *   2. next() reads the queries again and writes the same message into
 *      r->frag, RR_FRAGMENT (64 KiB) of decoded bytes at a time, compresses
 *      each with snappy_compress alone and hands out its elements without
 *      the fragment's own length preamble, behind the answer's length in
 *      the first piece. A snappy copy reaches back only inside its
 *      fragment (the reference compresses a whole buffer this way, in
 *      blocks of this size), so the joined elements are one valid stream,
 *      byte for byte what snappy_compress makes of the whole answer. Each
 *      length pass 2 writes is checked against what it then writes; a
 *      difference (a bug: one snapshot reads the same twice) or a storage
 *      error cuts the stream, as the ABI says.
 *
 * Memory is the decoded request, the lengths of pass 1, one series's
 * chunks in the query's merge, a fragment (64 KiB plus one element) and
 * its compressed form (~75 KiB): it does not grow with the samples. The
 * price is reading and decoding the answer twice.
 *
 * STREAMED_XOR_CHUNKS: one frame per next() call, from the current series's
 * chunk cursor. The reader holds one frame buffer (read_frame_bytes plus at
 * most one chunk), one query iterator at a time, and the decoded request; so
 * memory does not grow with the answer. The first frame is built in open(),
 * so that a limit or storage error met on the first series still gets a
 * status code; a later one can only cut the stream (the ABI says so).
 *
 * WIRE ENCODING of the responses is written by hand here rather than through
 * protobuf-c's pack(): pack() wants the whole message as C structs (one per
 * sample), while hand encoding lets a series be written straight into the
 * output buffer. Fields are written in field-number order and proto3
 * defaults (0, "") are left out, exactly as Go's encoder does, so that the
 * streamed bytes equal Prometheus's (the test checks the example frame of
 * docs/PROTOCOL.md 3.4). A value is left out only when its bits are all 0:
 * -0.0 is kept, as Go keeps it, where protobuf-c's pack() drops it.
 * The request is decoded with the generated protobuf-c code.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "crc32c.h"
#include "engine.h"
#include "error.h"
#include "promstore.h"
#include "protocol.h"
#include "remote.pb-c.h"
#include "mem.h"

#define CT_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

/* Room reserved before a frame's ChunkedSeries for the frame header:
 * uvarint(len) 10 + CRC 4 + field tag 1 + uvarint(series len) 10. */
#define FRAME_HEAD 32
/* What a frame adds to its ChunkedSeries: FRAME_HEAD + query_index (1 + 10). */
#define FRAME_OVERHEAD (FRAME_HEAD + 11)

/*
 * A SAMPLES answer is compressed a fragment at a time: RR_FRAGMENT is
 * snappy's own block size (kBlockSize in snappy.cc), which snappy_compress
 * cuts a whole buffer into, so the pieces together are byte for byte what
 * it makes of the whole answer. RR_ZHEAD is room before a compressed
 * fragment for the answer's length (a varint of at most 5 bytes).
 */
#define RR_FRAGMENT ((size_t)1 << 16)
#define RR_ZHEAD 10
/* The most one Sample field takes: tag 1 + length 1 + value 9 + timestamp 11. */
#define RR_SAMPLE_MAX 22
/*
 * The largest decoded SAMPLES answer: the snappy block format's length
 * preamble is 32 bits wide (libsnappy and Go's decoder refuse more).
 */
#define RR_SAMPLES_MAX UINT64_C(0xFFFFFFFF)

/* Protobuf wire types. */
#define WT_VARINT 0
#define WT_FIXED64 1
#define WT_LEN 2
#define TAG(field, wt) ((uint8_t)(((field) << 3) | (wt)))

typedef enum rr_mode { RR_SAMPLES, RR_STREAMED } rr_mode;

/* Bodies and frames are built in ps_buf (mem.h). */
typedef ps_buf rr_buf;

struct promstore_reader {
    promstore *db;
    const ps_remote_limits *lim;
    rr_mode mode;
    Prometheus__ReadRequest *req;
    ps_pb_alloc pa;        /* req was decoded from it and is freed through it */
    promstore_matcher *mt; /* matchers of the query being checked */
    size_t mt_cap;
    ps_selector **sel; /* each query's, compiled when checked, freed once opened */
    size_t n_sel;
    ps_read_budget budget;   /* the whole request's work: pass 1, or the stream */
    ps_read_budget replay;   /* SAMPLES pass 2: unbounded, it repeats pass 1 */
    promstore_status failed; /* sticky error: the body is cut */
    int done;

    /* Both: where we are. */
    size_t qi;                 /* query being answered */
    promstore_series_iter *it; /* its iterator, NULL between queries */
    int in_series;             /* the current series has samples or chunks left */

    /* SAMPLES: what pass 1 measured (NOTES), and pass 2's buffers. */
    ps_snapshot *snap;     /* both passes read it */
    uint32_t *series_len;  /* each TimeSeries's length, in the answer's order */
    size_t n_series, series_cap;
    uint64_t *result_len;  /* each QueryResult's length */
    uint64_t answer_len;   /* the ReadResponse's */
    size_t next_series;    /* pass 2: the next series's index in series_len */
    uint64_t series_left;  /* bytes of the current TimeSeries still to make */
    uint64_t made;         /* decoded bytes compressed so far */
    rr_buf frag;           /* decoded bytes not compressed yet */
    uint8_t *zbuf;         /* RR_ZHEAD, then a compressed fragment */
    size_t z_off, z_end;   /* what of zbuf is still to hand out */
    int preamble_sent;     /* the answer's length went out with the first piece */

    /* STREAMED: the frame last built. */
    int have_pending;          /* a chunk read that did not fit the last frame */
    promstore_chunk pending;
    rr_buf frame;
    size_t piece_off, piece_len; /* the frame within frame.data */
    int piece_ready;             /* built in open(), not handed out yet */
};

/* --- protobuf wire writing ----------------------------------------------- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Write v as a varint at p; returns the bytes written (<= 10). */
static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The appenders below assume ps_buf_reserve() made room for what they write. */
static void put_byte(rr_buf *b, uint8_t c)
{
    b->data[b->len++] = c;
}

static void put_varint(rr_buf *b, uint64_t v)
{
    b->len += varint_put(b->data + b->len, v);
}

static void put_bytes(rr_buf *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Size of a length-delimited field holding n bytes, tag included. */
static size_t len_field_size(size_t n)
{
    return 1 + varint_size(n) + n;
}

/* A string field, left out when empty as proto3 does. */
static size_t str_field_size(size_t n)
{
    return n ? len_field_size(n) : 0;
}

static void put_str_field(rr_buf *b, int field, const char *s, size_t n)
{
    if (n == 0)
        return;
    put_byte(b, TAG(field, WT_LEN));
    put_varint(b, n);
    put_bytes(b, s, n);
}

/* Label { name = 1; value = 2; } as field `field` of its parent. */
static size_t label_body_size(const promstore_label *l)
{
    return str_field_size(l->name_len) + str_field_size(l->value_len);
}

static size_t labels_size(const promstore_label *ls, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += len_field_size(label_body_size(&ls[i]));
    return s;
}

static void put_labels(rr_buf *b, int field, const promstore_label *ls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put_byte(b, TAG(field, WT_LEN));
        put_varint(b, label_body_size(&ls[i]));
        put_str_field(b, 1, ls[i].name, ls[i].name_len);
        put_str_field(b, 2, ls[i].value, ls[i].value_len);
    }
}

/* --- request checks and decoding ------------------------------------------ */

/* Negotiate: the first type we support, in the client's order. -1: none. */
static int negotiate(const Prometheus__ReadRequest *rq, rr_mode *mode)
{
    if (rq->n_accepted_response_types == 0) {
        *mode = RR_SAMPLES; /* what Prometheus before 2.55 means */
        return 0;
    }
    for (size_t i = 0; i < rq->n_accepted_response_types; i++) {
        switch ((int)rq->accepted_response_types[i]) {
        case PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES:
            *mode = RR_SAMPLES;
            return 0;
        case PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS:
            *mode = RR_STREAMED;
            return 0;
        default:
            break; /* a type from a newer client: try the next one */
        }
    }
    return -1;
}

/* Point r->mt at the ABI form of query q's matchers (strings stay in r->req). */
static promstore_status query_matchers(promstore_reader *r, const Prometheus__Query *q,
                                       promstore_error *err)
{
    if (q->n_matchers > r->mt_cap) {
        promstore_matcher *m = ps_realloc(r->mt, q->n_matchers * sizeof *m);
        if (m == NULL)
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for %zu matchers", q->n_matchers);
        r->mt = m;
        r->mt_cap = q->n_matchers;
    }
    for (size_t i = 0; i < q->n_matchers; i++) {
        const Prometheus__LabelMatcher *lm = q->matchers[i];
        int t = (int)lm->type;
        if (t < PROMSTORE_MATCH_EQ || t > PROMSTORE_MATCH_NRE)
            return ps_fail(err, PROMSTORE_E_BAD_MATCHER, "matcher %zu has unknown type %d", i, t);
        /* bytes fields: (len, data), not NUL-terminated; the engine checks UTF-8. */
        r->mt[i].type = (promstore_match_type)t;
        /* An absent field has data NULL; the engine wants "" for an empty string. */
        r->mt[i].name = lm->name.data ? (const char *)lm->name.data : "";
        r->mt[i].name_len = lm->name.len;
        r->mt[i].value = lm->value.data ? (const char *)lm->value.data : "";
        r->mt[i].value_len = lm->value.len;
    }
    return PROMSTORE_OK;
}

/*
 * Check one query as promstore_query() would, without opening a snapshot:
 * the range, at least one matcher, and every matcher compiled, into the
 * selector the query is opened with later. Opening a snapshot per query just
 * to check it would let one request hold as many read transactions as it
 * has queries.
 */
static promstore_status check_query(promstore_reader *r, size_t i, promstore_error *err)
{
    const Prometheus__Query *q = r->req->queries[i];
    if (q->start_timestamp_ms > q->end_timestamp_ms)
        return ps_fail(err, PROMSTORE_E_INVALID, "query %zu: start %lld is after end %lld", i,
                       (long long)q->start_timestamp_ms, (long long)q->end_timestamp_ms);
    /*
     * Prometheus's TSDB answers a selector without matchers with nothing, and
     * PromQL never sends one; our promstore_query() would select every series
     * instead. A client asking that is confused, so say so.
     */
    if (q->n_matchers == 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "query %zu has no matchers", i);
    if (r->lim->max_matchers && q->n_matchers > r->lim->max_matchers)
        return ps_fail(err, PROMSTORE_E_LIMIT,
                       "query %zu has %zu matchers, more than max_matchers_per_query (%u)", i,
                       q->n_matchers, (unsigned)r->lim->max_matchers);
    promstore_status rc = query_matchers(r, q, err);
    if (rc == PROMSTORE_OK)
        rc = ps_selector_compile(r->mt, q->n_matchers, &r->sel[i], err);
    if (rc)
        ps_error_prefix(err, "query %zu", i);
    return rc;
}

/* Open query i with the selector check_query compiled; it is not needed again. */
static promstore_status open_query(promstore_reader *r, size_t i, promstore_series_iter **it,
                                   promstore_error *err)
{
    const Prometheus__Query *q = r->req->queries[i];
    promstore_status rc = ps_query_open(r->db, r->sel[i], q->start_timestamp_ms,
                                        q->end_timestamp_ms, &r->budget, it, err);
    ps_selector_free(r->sel[i]);
    r->sel[i] = NULL;
    if (rc)
        ps_error_prefix(err, "query %zu", i);
    return rc;
}

/* --- SAMPLES ----------------------------------------------------------------- */

/* Sample { double value = 1; int64 timestamp = 2; } with proto3 defaults left out. */
static size_t sample_body_size(const promstore_sample *s)
{
    return (s->value_bits ? 9 : 0) +
           (s->timestamp_ms ? 1 + varint_size((uint64_t)s->timestamp_ms) : 0);
}

static void put_sample(rr_buf *b, const promstore_sample *s)
{
    put_byte(b, TAG(2, WT_LEN));
    put_varint(b, sample_body_size(s));
    if (s->value_bits) {
        /* The raw bits, little-endian as fixed64 wants: NaN payloads survive. */
        put_byte(b, TAG(1, WT_FIXED64));
        for (int k = 0; k < 8; k++)
            put_byte(b, (uint8_t)(s->value_bits >> (8 * k)));
    }
    if (s->timestamp_ms) {
        put_byte(b, TAG(2, WT_VARINT));
        put_varint(b, (uint64_t)s->timestamp_ms);
    }
}

/* The error of an answer past RR_SAMPLES_MAX; the caller names the query. */
static promstore_status answer_too_big(promstore_error *err)
{
    return ps_fail(err, PROMSTORE_E_LIMIT,
                   "remote read: the SAMPLES answer would be over %llu bytes decoded, the most "
                   "snappy's block format can carry; narrow the query, lower "
                   "max_samples_per_query or accept STREAMED_XOR_CHUNKS",
                   (unsigned long long)RR_SAMPLES_MAX);
}

/*
 * PASS 1: the length of every TimeSeries and QueryResult, and of the whole
 * ReadResponse, read in r->snap. The limits are met here, so that a query
 * past max_samples_per_query or max_series_per_query, or an answer past what
 * the snappy format can carry, is still a 400 before any byte is sent.
 */

/* The length of the current series's TimeSeries, read to its end. */
static promstore_status size_series(promstore_series_iter *it, uint64_t *out,
                                    promstore_error *err)
{
    const promstore_label *ls;
    size_t nl;
    promstore_status rc = promstore_series_iter_labels(it, &ls, &nl);
    if (rc)
        return ps_fail(err, rc, "no current series");
    uint64_t len = labels_size(ls, nl);
    promstore_sample s;
    while ((rc = promstore_series_iter_sample(it, &s, err)) == PROMSTORE_OK) {
        len += len_field_size(sample_body_size(&s));
        if (len > RR_SAMPLES_MAX) /* a cheap test: stops one huge series early */
            return answer_too_big(err);
    }
    if (rc != PROMSTORE_DONE)
        return rc;
    *out = len;
    return PROMSTORE_OK;
}

static promstore_status size_result(promstore_reader *r, size_t qi, promstore_error *err)
{
    promstore_series_iter *it = NULL;
    const Prometheus__Query *q = r->req->queries[qi];
    promstore_status rc = ps_snapshot_query(r->snap, r->sel[qi], q->start_timestamp_ms,
                                            q->end_timestamp_ms, &r->budget, &it, err);
    uint64_t result = 0;
    while (rc == PROMSTORE_OK && (rc = promstore_series_iter_next(it, err)) == PROMSTORE_OK) {
        uint64_t len = 0;
        rc = size_series(it, &len, err);
        if (rc)
            break;
        result += len_field_size(len);
        if (r->answer_len + len_field_size(result) > RR_SAMPLES_MAX) {
            rc = answer_too_big(err);
            break;
        }
        if (PS_GROW(r->series_len, r->series_cap, r->n_series + 1)) {
            rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory for the size of series %zu",
                         r->n_series);
            break;
        }
        r->series_len[r->n_series++] = (uint32_t)len; /* < RR_SAMPLES_MAX */
    }
    promstore_series_iter_close(it);
    if (rc != PROMSTORE_DONE) {
        ps_error_prefix(err, "query %zu", qi);
        return rc;
    }
    r->result_len[qi] = result;
    r->answer_len += len_field_size(result);
    return PROMSTORE_OK;
}

/* Pass 1 over every query, then the buffers pass 2 works in. */
static promstore_status size_samples(promstore_reader *r, promstore_error *err)
{
    size_t n = r->req->n_queries;
    promstore_status rc = ps_snapshot_open(r->db, &r->snap, err);
    if (rc)
        return rc;
    r->result_len = ps_calloc(n ? n : 1, sizeof *r->result_len);
    if (r->result_len == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for %zu query results", n);
    for (size_t i = 0; i < n; i++) {
        rc = size_result(r, i, err);
        if (rc)
            return rc;
    }
    /* Room for a whole fragment and one sample past it, which is all a
     * sample run writes (labels reserve their own); the compressed fragment
     * after the room for the answer's length. */
    r->zbuf = ps_malloc(RR_ZHEAD + snappy_max_compressed_length(RR_FRAGMENT));
    if (r->zbuf == NULL || ps_buf_reserve(&r->frag, RR_FRAGMENT + RR_SAMPLE_MAX))
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for the response's buffers");
    return PROMSTORE_OK;
}

/*
 * PASS 2: the same reads again, now written out, a fragment at a time. What
 * pass 2 makes is checked against what pass 1 measured, field by field: one
 * snapshot reads the same both times, so a difference is a bug, and it cuts
 * the stream rather than send a body whose lengths lie.
 */
static promstore_status pass_differs(promstore_reader *r, const char *what, promstore_error *err)
{
    return ps_fail(err, PROMSTORE_E_CORRUPT,
                   "remote read: query %zu read differently in the second pass (%s)", r->qi, what);
}

/* Samples of the current series into r->frag, until the fragment is full or they end. */
static promstore_status make_samples(promstore_reader *r, promstore_error *err)
{
    rr_buf *f = &r->frag;
    while (f->len < RR_FRAGMENT) {
        promstore_sample s;
        promstore_status rc = promstore_series_iter_sample(r->it, &s, err);
        if (rc == PROMSTORE_DONE) {
            r->in_series = 0;
            return r->series_left ? pass_differs(r, "a series ended early", err) : PROMSTORE_OK;
        }
        if (rc)
            return rc;
        size_t need = len_field_size(sample_body_size(&s));
        if (need > r->series_left)
            return pass_differs(r, "a series grew", err);
        r->series_left -= need;
        put_sample(f, &s); /* room: f->len < RR_FRAGMENT, cap RR_FRAGMENT + RR_SAMPLE_MAX */
    }
    return PROMSTORE_OK;
}

/* The next TimeSeries's head and labels into r->frag, or the end of the query. */
static promstore_status make_series_head(promstore_reader *r, promstore_error *err)
{
    promstore_status rc = promstore_series_iter_next(r->it, err);
    if (rc == PROMSTORE_DONE) {
        promstore_series_iter_close(r->it);
        r->it = NULL;
        r->qi++;
        return PROMSTORE_OK;
    }
    if (rc)
        return rc;
    if (r->next_series == r->n_series)
        return pass_differs(r, "one series more", err);
    const promstore_label *ls;
    size_t nl;
    rc = promstore_series_iter_labels(r->it, &ls, &nl);
    if (rc)
        return ps_fail(err, rc, "no current series");
    uint64_t len = r->series_len[r->next_series++];
    size_t head = labels_size(ls, nl);
    if (head > len)
        return pass_differs(r, "labels grew", err);
    if (ps_buf_reserve(&r->frag, 11 + head + RR_SAMPLE_MAX))
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a series's labels");
    put_byte(&r->frag, TAG(1, WT_LEN));
    put_varint(&r->frag, len);
    put_labels(&r->frag, 1, ls, nl);
    r->series_left = len - head;
    r->in_series = 1;
    return PROMSTORE_OK;
}

/*
 * Add the answer's next bytes to r->frag: a QueryResult's head, a
 * TimeSeries's head and labels, or a run of samples. PROMSTORE_OK (maybe
 * with nothing added, between queries), PROMSTORE_DONE, or an error.
 */
static promstore_status make_more(promstore_reader *r, promstore_error *err)
{
    if (r->in_series)
        return make_samples(r, err);
    if (r->it)
        return make_series_head(r, err);
    if (r->qi == r->req->n_queries)
        return r->next_series == r->n_series ? PROMSTORE_DONE
                                             : pass_differs(r, "series missing", err);
    const Prometheus__Query *q = r->req->queries[r->qi];
    promstore_status rc = ps_snapshot_query(r->snap, r->sel[r->qi], q->start_timestamp_ms,
                                            q->end_timestamp_ms, &r->replay, &r->it, err);
    ps_selector_free(r->sel[r->qi]);
    r->sel[r->qi] = NULL;
    if (rc)
        return rc;
    /* A fragment has room past RR_FRAGMENT for this head (11 < RR_SAMPLE_MAX). */
    put_byte(&r->frag, TAG(1, WT_LEN));
    put_varint(&r->frag, r->result_len[r->qi]);
    return PROMSTORE_OK;
}

/*
 * Compress the first RR_FRAGMENT bytes of r->frag (or all that is left at
 * the end) into r->zbuf as snappy elements, without the length preamble
 * snappy_compress writes for the fragment alone; the first piece carries the
 * answer's own. The bytes past the fragment move to the front.
 */
static promstore_status compress_fragment(promstore_reader *r, promstore_error *err)
{
    rr_buf *f = &r->frag;
    size_t n = f->len < RR_FRAGMENT ? f->len : RR_FRAGMENT;
    size_t zlen = snappy_max_compressed_length(RR_FRAGMENT);
    char *z = (char *)r->zbuf + RR_ZHEAD;
    size_t elements = 0; /* the fragment's preamble: skipped */
    if (n) {
        if (snappy_compress((const char *)f->data, n, z, &zlen) != SNAPPY_OK)
            return ps_fail(err, PROMSTORE_E_NOMEM, "snappy could not compress the response");
        elements = varint_size(n);
    } else {
        zlen = 0;
    }
    r->z_end = RR_ZHEAD + zlen;
    r->z_off = RR_ZHEAD + elements;
    if (!r->preamble_sent) {
        uint8_t pre[10];
        size_t pl = varint_put(pre, r->answer_len);
        r->z_off -= pl;
        memcpy(r->zbuf + r->z_off, pre, pl);
        r->preamble_sent = 1;
    }
    r->made += n;
    memmove(f->data, f->data + n, f->len - n);
    f->len -= n;
    return PROMSTORE_OK;
}

/* SAMPLES: the next piece of at most read_frame_bytes of the compressed answer. */
static promstore_status next_samples(promstore_reader *r, const uint8_t **data, size_t *len,
                                     promstore_error *err)
{
    while (r->z_off == r->z_end) {
        if (r->done && r->frag.len == 0 && r->preamble_sent)
            return PROMSTORE_DONE;
        promstore_status rc = PROMSTORE_OK;
        while (!r->done && r->frag.len < RR_FRAGMENT && rc == PROMSTORE_OK)
            rc = make_more(r, err);
        if (rc == PROMSTORE_DONE) {
            r->done = 1;
            if (r->made + r->frag.len != r->answer_len)
                rc = pass_differs(r, "the answer's length", err);
            else
                rc = PROMSTORE_OK;
        }
        if (rc == PROMSTORE_OK)
            rc = compress_fragment(r, err);
        if (rc) {
            r->failed = rc;
            promstore_series_iter_close(r->it); /* release the snapshot now */
            r->it = NULL;
            ps_snapshot_close(r->snap);
            r->snap = NULL;
            return rc;
        }
        if (r->done && r->frag.len == 0) { /* the last fragment: done with the store */
            ps_snapshot_close(r->snap);
            r->snap = NULL;
        }
    }
    size_t n = r->z_end - r->z_off;
    if (n > r->lim->read_frame_bytes)
        n = (size_t)r->lim->read_frame_bytes;
    *data = r->zbuf + r->z_off;
    *len = n;
    r->z_off += n;
    return PROMSTORE_OK;
}

/* --- STREAMED_XOR_CHUNKS ----------------------------------------------------- */

/* Chunk { min_time_ms = 1; max_time_ms = 2; type = 3 (XOR); data = 4; } */
static size_t chunk_body_size(const promstore_chunk *c)
{
    return (c->min_time_ms ? 1 + varint_size((uint64_t)c->min_time_ms) : 0) +
           (c->max_time_ms ? 1 + varint_size((uint64_t)c->max_time_ms) : 0) + 2 +
           len_field_size(c->data_len);
}

static void put_chunk(rr_buf *b, const promstore_chunk *c)
{
    put_byte(b, TAG(2, WT_LEN));
    put_varint(b, chunk_body_size(c));
    if (c->min_time_ms) {
        put_byte(b, TAG(1, WT_VARINT));
        put_varint(b, (uint64_t)c->min_time_ms);
    }
    if (c->max_time_ms) {
        put_byte(b, TAG(2, WT_VARINT));
        put_varint(b, (uint64_t)c->max_time_ms);
    }
    put_byte(b, TAG(3, WT_VARINT));
    put_byte(b, PROMETHEUS__CHUNK__ENCODING__XOR);
    put_byte(b, TAG(4, WT_LEN));
    put_varint(b, c->data_len);
    put_bytes(b, c->data, c->data_len);
}

/*
 * Wrap the ChunkedSeries in frame.data[FRAME_HEAD..len) into a frame:
 * uvarint(len(msg)) + big-endian CRC32C(msg) + msg, where msg is
 * ChunkedReadResponse { chunked_series = 1: [it]; query_index = 2 }. The
 * header is written backwards into the reserved room, so nothing moves.
 */
static void seal_frame(promstore_reader *r)
{
    rr_buf *f = &r->frame;
    size_t series_len = f->len - FRAME_HEAD;
    if (r->qi) { /* proto3 leaves query_index 0 out */
        put_byte(f, TAG(2, WT_VARINT));
        put_varint(f, (uint64_t)r->qi);
    }
    uint8_t tmp[10];
    size_t n = varint_put(tmp, series_len);
    size_t msg = FRAME_HEAD - n - 1;
    f->data[msg] = TAG(1, WT_LEN);
    memcpy(f->data + msg + 1, tmp, n);
    size_t msg_len = f->len - msg;
    uint32_t crc = ps_crc32c(0, f->data + msg, msg_len);
    size_t pos = msg - 4;
    for (int k = 0; k < 4; k++)
        f->data[pos + (size_t)k] = (uint8_t)(crc >> (24 - 8 * k));
    n = varint_put(tmp, msg_len);
    pos -= n;
    memcpy(f->data + pos, tmp, n);
    r->piece_off = pos;
    r->piece_len = f->len - pos;
}

/* Move to the next series, across queries: OK, DONE (no more), or an error. */
static promstore_status next_series(promstore_reader *r, promstore_error *err)
{
    for (;;) {
        if (r->it == NULL) {
            if (r->qi == r->req->n_queries)
                return PROMSTORE_DONE;
            promstore_status rc = open_query(r, r->qi, &r->it, err);
            if (rc)
                return rc;
        }
        promstore_status rc = promstore_series_iter_next(r->it, err);
        if (rc == PROMSTORE_OK) {
            r->in_series = 1;
            return PROMSTORE_OK;
        }
        if (rc != PROMSTORE_DONE)
            return rc;
        promstore_series_iter_close(r->it);
        r->it = NULL;
        r->qi++;
    }
}

/*
 * Add the current series's chunks to the frame until they run out or the
 * next one would take the frame past read_frame_bytes; that one is kept as
 * pending for the next frame, which repeats the labels (a series is split
 * across consecutive frames only when it does not fit one). A frame always
 * takes at least one chunk, so it exceeds the target only when one chunk
 * alone does. *added counts the chunks added. Returns PROMSTORE_OK or an error.
 */
static promstore_status fill_chunks(promstore_reader *r, size_t *added, promstore_error *err)
{
    rr_buf *f = &r->frame;
    *added = 0;
    for (;;) {
        promstore_chunk c;
        if (r->have_pending) {
            c = r->pending;
            r->have_pending = 0;
        } else {
            promstore_status rc = promstore_series_iter_chunk(r->it, &c, err);
            if (rc == PROMSTORE_DONE) {
                r->in_series = 0;
                return PROMSTORE_OK;
            }
            if (rc)
                return rc;
        }
        size_t need = len_field_size(chunk_body_size(&c));
        if (*added && f->len + need + FRAME_OVERHEAD - FRAME_HEAD > r->lim->read_frame_bytes) {
            /* c points into the iterator, untouched until we call it again. */
            r->pending = c;
            r->have_pending = 1;
            return PROMSTORE_OK;
        }
        if (ps_buf_reserve(f, need + 11))
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a frame");
        put_chunk(f, &c);
        (*added)++;
    }
}

/* Build the next frame into r->frame: OK, DONE (no more), or an error. */
static promstore_status build_frame(promstore_reader *r, promstore_error *err)
{
    for (;;) {
        if (!r->in_series) {
            promstore_status rc = next_series(r, err);
            if (rc)
                return rc;
        }
        const promstore_label *ls;
        size_t nl;
        promstore_status rc = promstore_series_iter_labels(r->it, &ls, &nl);
        if (rc)
            return ps_fail(err, rc, "no current series");
        rr_buf *f = &r->frame;
        f->len = 0;
        if (ps_buf_reserve(f, FRAME_HEAD + labels_size(ls, nl) + 11))
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a frame");
        f->len = FRAME_HEAD;
        put_labels(f, 1, ls, nl);
        size_t added = 0;
        rc = fill_chunks(r, &added, err);
        if (rc)
            return rc;
        if (added == 0)
            continue; /* a series with no chunk in range: nothing to say */
        seal_frame(r);
        return PROMSTORE_OK;
    }
}

/* --- the ABI ----------------------------------------------------------------- */

static void reader_free(promstore_reader *r)
{
    if (r == NULL)
        return;
    promstore_series_iter_close(r->it);
    ps_snapshot_close(r->snap); /* after its iterator */
    ps_pb_alloc_release(&r->pa); /* also after a failed unpack */
    ps_free(r->mt);
    for (size_t i = 0; i < r->n_sel; i++)
        ps_selector_free(r->sel[i]);
    ps_free(r->sel);
    ps_free(r->series_len);
    ps_free(r->result_len);
    ps_buf_free(&r->frag);
    ps_free(r->zbuf);
    ps_buf_free(&r->frame);
    ps_engine_read_slot_give(r->db);
    ps_free(r);
}

/*
 * Content-Type: absent, or application/x-protobuf with no proto= parameter or
 * proto=prometheus.ReadRequest. Anything else answers 415 and returns -1.
 */
static int check_content_type(const promstore_http_request *req, promstore_http_response *resp)
{
    if (req->content_type == NULL)
        return 0;
    ps_content_type ct;
    if (ps_content_type_parse(req->content_type, &ct) == 0 &&
        ps_span_eq_nocase(ct.media, ct.media_len, "application/x-protobuf") &&
        (ct.proto == NULL || ps_span_eq(ct.proto, ct.proto_len, "prometheus.ReadRequest")))
        return 0;
    ps_resp_error(resp, 415,
                  "unsupported Content-Type \"%.200s\" for remote read: want "
                  "application/x-protobuf (prometheus.ReadRequest)",
                  req->content_type);
    return -1;
}

/* Decompress and decode the ReadRequest into r->req; on failure answer and return -1. */
static int decode_request(promstore_reader *r, const promstore_http_request *req,
                          promstore_http_response *resp)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (ps_proto_unsnappy(r->db, req->body, req->body_len, "ReadRequest", &raw, &raw_len, resp))
        return -1;
    ps_pb_alloc_init(&r->pa, raw_len);
    r->req = prometheus__read_request__unpack(&r->pa.base, raw_len, raw);
    ps_free(raw);
    if (r->req == NULL) {
        ps_proto_decode_failed(&r->pa, "ReadRequest", resp);
        return -1;
    }
    return 0;
}

/* Everything about the request, before any byte of the answer: 0, or -1 answered. */
static int check_request(promstore_reader *r, promstore_http_response *resp)
{
    if (negotiate(r->req, &r->mode)) {
        ps_resp_error(resp, 400,
                      "none of the %zu accepted_response_types is supported "
                      "(this server speaks SAMPLES and STREAMED_XOR_CHUNKS)",
                      r->req->n_accepted_response_types);
        return -1;
    }
    promstore_error e;
    size_t n = r->req->n_queries;
    if (r->lim->max_queries && n > r->lim->max_queries) {
        ps_resp_error(resp, 400, "the request has %zu queries, more than max_queries_per_read (%u)",
                      n, (unsigned)r->lim->max_queries);
        return -1;
    }
    r->sel = ps_calloc(n ? n : 1, sizeof *r->sel);
    if (r->sel == NULL) {
        ps_fail(&e, PROMSTORE_E_NOMEM, "no memory for %zu queries", n);
        ps_resp_engine_error(resp, &e);
        return -1;
    }
    r->n_sel = n;
    /* The request's budget and deadline start with its first query's check. */
    ps_read_budget_start(r->db, &r->budget);
    for (size_t i = 0; i < n; i++) {
        if (check_query(r, i, &e)) {
            ps_resp_engine_error(resp, &e);
            return -1;
        }
    }
    return 0;
}

/*
 * Before the answer's first byte: pass 1 of SAMPLES, or the first frame of
 * a stream. An error here still has a status of its own: 0, or -1 answered.
 */
static int start_body(promstore_reader *r, promstore_http_response *resp)
{
    promstore_error e;
    promstore_status rc;
    if (r->mode == RR_SAMPLES) {
        rc = size_samples(r, &e);
    } else {
        rc = build_frame(r, &e);
        if (rc == PROMSTORE_OK)
            r->piece_ready = 1;
        else if (rc == PROMSTORE_DONE)
            r->done = 1; /* nothing matched: an empty 200 body */
    }
    if (rc < 0) {
        ps_resp_engine_error(resp, &e);
        return -1;
    }
    resp->status = 200;
    if (r->mode == RR_SAMPLES) {
        snprintf(resp->content_type, sizeof resp->content_type, "application/x-protobuf");
        snprintf(resp->content_encoding, sizeof resp->content_encoding, "snappy");
    } else {
        /* Prometheus's client matches this string as a prefix, space included;
         * no Content-Encoding (docs/PROTOCOL.md 3.3). */
        snprintf(resp->content_type, sizeof resp->content_type, "%s", CT_STREAMED);
    }
    return 0;
}

static promstore_status abi_open(promstore *db, const promstore_http_request *req,
                                 promstore_http_response *resp, promstore_reader **out,
                                 promstore_error *err)
{
    if (out)
        *out = NULL;
    promstore_status rc = ps_proto_args_ok(db, req, resp, err);
    if (rc)
        return rc;
    if (out == NULL || (req->body == NULL && req->body_len))
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_remote_read_open: NULL out or body");
    ps_resp_init(resp);
    if (ps_proto_check_encoding(req, resp) || check_content_type(req, resp))
        return PROMSTORE_OK;
    /* Taken before the body is decoded: the limit is there to bound memory. */
    if (!ps_engine_read_slot_take(db)) {
        ps_resp_error(resp, 503, "too many remote reads at once (max_concurrent_reads is %u)",
                      (unsigned)ps_engine_remote_limits(db)->max_concurrent_reads);
        ps_resp_header(resp, "Retry-After", "1");
        return PROMSTORE_OK;
    }
    promstore_reader *r = ps_calloc(1, sizeof *r);
    if (r == NULL) {
        ps_engine_read_slot_give(db);
        ps_resp_error(resp, 503, "no memory for a remote read");
        ps_resp_header(resp, "Retry-After", "1");
        return PROMSTORE_OK;
    }
    r->db = db;
    r->lim = ps_engine_remote_limits(db);
    if (decode_request(r, req, resp) || check_request(r, resp) || start_body(r, resp))
        goto answered;
    *out = r;
    return PROMSTORE_OK;
answered:
    reader_free(r);
    return PROMSTORE_OK;
}

static promstore_status next_streamed(promstore_reader *r, const uint8_t **data, size_t *len,
                                      promstore_error *err)
{
    if (!r->piece_ready) {
        if (r->done)
            return PROMSTORE_DONE;
        promstore_status rc = build_frame(r, err);
        if (rc == PROMSTORE_DONE) {
            r->done = 1;
            return rc;
        }
        if (rc) {
            r->failed = rc;
            promstore_series_iter_close(r->it); /* release the snapshot now */
            r->it = NULL;
            return rc;
        }
    }
    r->piece_ready = 0;
    *data = r->frame.data + r->piece_off;
    *len = r->piece_len;
    return PROMSTORE_OK;
}

static promstore_status abi_next(promstore_reader *r, const uint8_t **data, size_t *len,
                                 promstore_error *err)
{
    if (r == NULL || data == NULL || len == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_remote_read_next: NULL argument");
    if (r->failed)
        return ps_fail(err, r->failed, "the response failed earlier; close the reader");
    if (r->mode == RR_SAMPLES)
        return next_samples(r, data, len, err);
    return next_streamed(r, data, len, err);
}

promstore_status promstore_remote_read_open(promstore *db, const promstore_http_request *req,
                                            promstore_http_response *resp, promstore_reader **out,
                                            promstore_error *err)
{
    PS_ABI_RETURN(err, abi_open(db, req, resp, out, PS_LOCAL_ERR));
}

promstore_status promstore_remote_read_next(promstore_reader *r, const uint8_t **data, size_t *len,
                                            promstore_error *err)
{
    PS_ABI_RETURN(err, abi_next(r, data, len, PS_LOCAL_ERR));
}

void promstore_remote_read_close(promstore_reader *r)
{
    reader_free(r);
}

static promstore_status abi_read(promstore *db, const promstore_http_request *req,
                                 promstore_http_response *resp, promstore_write_fn write, void *ctx,
                                 promstore_error *err)
{
    if (write == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_remote_read: NULL write callback");
    promstore_reader *r = NULL;
    promstore_status rc = abi_open(db, req, resp, &r, err);
    if (rc || r == NULL)
        return rc; /* an error answer, or bad arguments */
    for (;;) {
        const uint8_t *data = NULL;
        size_t len = 0;
        rc = abi_next(r, &data, &len, err);
        if (rc == PROMSTORE_DONE) {
            rc = PROMSTORE_OK;
            break;
        }
        if (rc)
            break;
        if (write(ctx, data, len) != 0) {
            rc = ps_fail(err, PROMSTORE_E_IO, "remote read: the client went away");
            break;
        }
    }
    reader_free(r);
    return rc;
}

promstore_status promstore_remote_read(promstore *db, const promstore_http_request *req,
                                       promstore_http_response *resp, promstore_write_fn write,
                                       void *ctx, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_read(db, req, resp, write, ctx, PS_LOCAL_ERR));
}
