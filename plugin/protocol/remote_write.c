/*
 * remote_write.c -- promstore_remote_write(): the Prometheus remote write
 * receiver, 1.0 (prometheus.WriteRequest) and 2.0 (io.prometheus.write.v2
 * .Request), on top of promstore_append(). See docs/PROTOCOL.md sections 1,
 * 2 and 4 for the wire rules this follows.
 *
 * FLOW
 *   Content-Type -> Content-Encoding (415, body untouched) -> snappy under the
 *   size limits (413 / 400) -> protobuf-c under a memory bound (413 / 400) ->
 *   a batch of promstore_series whose labels and samples point at or copy
 *   from the decoded message -> every label set validated first (400, nothing
 *   stored) -> promstore_append in chunks -> 204, or the status of the first
 *   storage error (ps_http_status).
 *
 * WHAT IS STORED
 *   Float samples only. Exemplars, native histograms and metadata are decoded,
 *   checked (v2 refs) and counted in resp->*_dropped, which the server
 *   exposes as metrics: that is the documented gap of this version. Start
 *   timestamps (v2 TimeSeries.created_timestamp = 6, or Sample.start_timestamp
 *   = 3 / Histogram.start_timestamp = 17 from Prometheus 3.8) are accepted in
 *   either layout and not stored.
 *
 * THE 2.0 ANSWER (a decision, since nothing here stores histograms/exemplars)
 *   204 when every sample of the request was written, even if histograms or
 *   exemplars were dropped; the three X-Prometheus-Remote-Write-*-Written
 *   headers then say exactly what was written: Samples-Written counts stored
 *   samples plus duplicates of stored ones (they are in the store, so a
 *   retried batch reports the same count), Histograms-Written and
 *   Exemplars-Written are 0. Claiming them written would be a lie the sender
 *   cannot detect; answering 4xx for them would make Prometheus drop the
 *   samples that came with them. With honest 0 counts, Prometheus (2.54+)
 *   reports a request of histograms only as an error, which is true. The
 *   headers are sent on every answer to a request whose Content-Type selects
 *   2.0, and never for 1.0 (as Prometheus does).
 *
 * 1.0 AND 2.0 DIFFERENCES KEPT ON PURPOSE
 *   1.0: entries without samples (exemplar- or histogram-only, as Prometheus
 *   2.42 sends them) are skipped without validation, a series without
 *   __name__ is accepted (2.42 does). 2.0: every TimeSeries is validated, and
 *   one without __name__ or with no labels fails the request with 400, as the
 *   compliance suite requires.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "error.h"
#include "labels.h"
#include "protocol.h"

#include "remote.pb-c.h"
#include "write_v2.pb-c.h"
#include "mem.h"

/* The two media types and their proto= names (docs/PROTOCOL.md 2.1). */
#define PS_MEDIA_PROTOBUF "application/x-protobuf"
#define PS_PROTO_V1 "prometheus.WriteRequest"
#define PS_PROTO_V2 "io.prometheus.write.v2.Request"

/*
 * promstore_append is called per chunk of about this many samples (or series)
 * so that one 32 MiB request does not become a single write transaction of
 * millions of samples. Labels are validated for the whole request before the
 * first chunk, so a bad label set still stores nothing.
 */
#define PS_RW_CHUNK_SAMPLES 65536
#define PS_RW_CHUNK_SERIES 16384

typedef enum rw_kind { RW_V1 = 1, RW_V2 = 2 } rw_kind;

/* The request as the engine sees it; every array owned here. */
typedef struct rw_batch {
    promstore_series *series;
    size_t n_series;
    promstore_label *labels;
    promstore_sample *samples;
    int require_name; /* 2.0: every series must have a __name__ */
} rw_batch;

/* --- headers -------------------------------------------------------------------- */

/* Choose the message from Content-Type; 415 in resp and -1 if unsupported. */
static int message_kind(const promstore_http_request *req, rw_kind *kind,
                        promstore_http_response *resp)
{
    *kind = RW_V1;
    /* Prometheus treats a missing Content-Type as 1.0; Go's Header.Get gives
     * "" for a missing header, so an empty one is missing too. */
    if (req->content_type == NULL || req->content_type[strspn(req->content_type, " \t")] == '\0')
        return 0;
    ps_content_type ct;
    if (ps_content_type_parse(req->content_type, &ct) != 0 ||
        !ps_span_eq_nocase(ct.media, ct.media_len, PS_MEDIA_PROTOBUF))
        goto unsupported;
    if (ct.proto == NULL || ps_span_eq(ct.proto, ct.proto_len, PS_PROTO_V1))
        return 0;
    if (ps_span_eq(ct.proto, ct.proto_len, PS_PROTO_V2)) {
        *kind = RW_V2;
        return 0;
    }
unsupported:
    ps_resp_error(resp, 415,
                  "unsupported Content-Type \"%.100s\": use " PS_MEDIA_PROTOBUF
                  " with proto=" PS_PROTO_V1 " or proto=" PS_PROTO_V2,
                  req->content_type);
    return -1;
}

/* --- the batch --------------------------------------------------------------------- */

/*
 * Carve the batch's arrays for n_series series, n_labels labels and
 * n_samples samples from the decoder's arena pa, so that they count against
 * the same memory bound as the decoded message: a 2.0 label is a pair of
 * refs, as little as 2 bytes of wire, but 32 bytes here, and outside the
 * bound a 1.5 MiB body of refs took 936 MiB. They are released with the
 * arena. 413 (or 503 when malloc itself failed) and -1 past the bound.
 */
static int batch_alloc(rw_batch *b, ps_pb_alloc *pa, size_t n_series, size_t n_labels,
                       size_t n_samples, const char *what, promstore_http_response *resp)
{
    memset(b, 0, sizeof *b);
    size_t series_bytes, labels_bytes, samples_bytes;
    if (__builtin_mul_overflow(n_series ? n_series : 1, sizeof *b->series, &series_bytes) ||
        __builtin_mul_overflow(n_labels ? n_labels : 1, sizeof *b->labels, &labels_bytes) ||
        __builtin_mul_overflow(n_samples ? n_samples : 1, sizeof *b->samples, &samples_bytes)) {
        pa->refused = 1;
    } else {
        b->series = pa->base.alloc(pa, series_bytes);
        b->labels = b->series ? pa->base.alloc(pa, labels_bytes) : NULL;
        b->samples = b->labels ? pa->base.alloc(pa, samples_bytes) : NULL;
    }
    if (b->samples == NULL) {
        ps_proto_decode_failed(pa, what, resp);
        return -1;
    }
    memset(b->series, 0, series_bytes);
    return 0;
}

/* Raw bits of a double: never arithmetic, so the stale NaN stays as sent. */
static uint64_t value_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

/* Point l's name or value at a bytes field; an absent field (NULL data) is "". */
static void set_span(const char **p, size_t *len, const ProtobufCBinaryData *d)
{
    *p = d->data ? (const char *)d->data : "";
    *len = d->data ? d->len : 0;
}

/*
 * Point s at the samples from sm on and fill them from the n protobuf sample
 * messages src[]. Remote write 1.0 and 2.0 samples are different generated
 * types that both carry a double `value` and an int64 `timestamp`; the
 * callers pass where those fields sit. Returns the next free sample.
 */
static promstore_sample *fill_samples(promstore_series *s, promstore_sample *sm,
                                      void *const *src, size_t n, size_t ts_off, size_t v_off)
{
    s->samples = sm;
    s->n_samples = n;
    for (size_t k = 0; k < n; k++, sm++) {
        const unsigned char *m = src[k];
        int64_t t;
        double v;
        memcpy(&t, m + ts_off, sizeof t);
        memcpy(&v, m + v_off, sizeof v);
        sm->timestamp_ms = t;
        sm->value_bits = value_bits(v);
    }
    return sm;
}

static int has_name(const promstore_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ps_span_eq(l[i].name, l[i].name_len, "__name__"))
            return 1;
    return 0;
}

/*
 * Validate every label set of the batch, in place (sorted, empty values
 * dropped), with the engine's own rules, before anything is appended: the
 * request is then all or nothing for bad labels even though it is appended
 * in chunks. 400 naming the series on the first bad one.
 */
static int batch_validate(promstore *db, rw_batch *b, promstore_http_response *resp)
{
    for (size_t i = 0; i < b->n_series; i++) {
        promstore_series *s = &b->series[i];
        promstore_label *labels = (promstore_label *)s->labels;
        size_t n = s->n_labels;
        promstore_error e;
        if (ps_engine_labels_normalize(db, labels, &n, &e) != PROMSTORE_OK) {
            ps_resp_engine_error(resp, &e);
            return -1;
        }
        s->n_labels = n;
        if (b->require_name && !has_name(labels, n)) {
            char desc[512];
            ps_resp_error(resp, 400, "series %s has no metric name (__name__)",
                          ps_labels_format(labels, n, desc, sizeof desc));
            return -1;
        }
    }
    return 0;
}

/* How far the chunk starting at series `from` goes (exclusive). */
static size_t chunk_end(const rw_batch *b, size_t from)
{
    size_t samples = 0, i = from;
    while (i < b->n_series && i - from < PS_RW_CHUNK_SERIES) {
        samples += b->series[i].n_samples;
        i++;
        if (samples >= PS_RW_CHUNK_SAMPLES)
            break;
    }
    return i;
}

/*
 * Append the batch chunk by chunk. An out-of-order rejection does not stop
 * the request (the engine stored the rest of its chunk, so later chunks go
 * on too); any other error does, and takes precedence in the answer since it
 * asks for a retry. 204 when nothing went wrong.
 */
static void batch_append(promstore *db, const rw_batch *b, promstore_http_response *resp)
{
    promstore_error stop, ooo;
    int have_stop = 0, have_ooo = 0;
    for (size_t i = 0; i < b->n_series && !have_stop;) {
        size_t end = chunk_end(b, i);
        promstore_append_result res = {.struct_size = sizeof res};
        promstore_error e;
        promstore_status rc = promstore_append(db, b->series + i, end - i, &res, &e);
        resp->samples_written += res.samples_appended + res.samples_duplicate;
        resp->samples_rejected += res.samples_rejected;
        if (rc == PROMSTORE_E_OUT_OF_ORDER) {
            if (!have_ooo)
                ooo = e;
            have_ooo = 1;
        } else if (rc != PROMSTORE_OK) {
            stop = e;
            have_stop = 1;
        }
        i = end;
    }
    if (have_stop)
        ps_resp_engine_error(resp, &stop);
    else if (have_ooo)
        ps_resp_engine_error(resp, &ooo);
    else
        resp->status = 204;
}

/*
 * Validate, then append (the batch goes with the decoder's arena). A batch that goes to the engine
 * in one append needs no validation pass of its own: promstore_append is
 * itself all or nothing for bad labels, with the same rules and message.
 */
static void batch_run(promstore *db, rw_batch *b, promstore_http_response *resp)
{
    int one_append = chunk_end(b, 0) == b->n_series && !b->require_name;
    if (one_append || batch_validate(db, b, resp) == 0)
        batch_append(db, b, resp);
}

/* --- 1.0 -------------------------------------------------------------------------- */

/* Fill b from a 1.0 request: series with samples only; count what is dropped. */
static int v1_batch(const Prometheus__WriteRequest *wr, rw_batch *b, ps_pb_alloc *pa,
                    promstore_http_response *resp)
{
    size_t n_series = 0, n_labels = 0, n_samples = 0;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = wr->timeseries[i];
        resp->exemplars_dropped += ts->n_exemplars;
        resp->histograms_dropped += ts->n_histograms;
        if (ts->n_samples == 0)
            continue;
        n_series++;
        n_labels += ts->n_labels;
        n_samples += ts->n_samples;
    }
    resp->metadata_dropped += wr->n_metadata;
    if (batch_alloc(b, pa, n_series, n_labels, n_samples, "WriteRequest", resp))
        return -1;

    promstore_label *l = b->labels;
    promstore_sample *sm = b->samples;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = wr->timeseries[i];
        if (ts->n_samples == 0)
            continue;
        promstore_series *s = &b->series[b->n_series++];
        s->labels = l;
        s->n_labels = ts->n_labels;
        for (size_t j = 0; j < ts->n_labels; j++, l++) {
            set_span(&l->name, &l->name_len, &ts->labels[j]->name);
            set_span(&l->value, &l->value_len, &ts->labels[j]->value);
        }
        sm = fill_samples(s, sm, (void *const *)ts->samples, ts->n_samples,
                          offsetof(Prometheus__Sample, timestamp),
                          offsetof(Prometheus__Sample, value));
    }
    return 0;
}

static void write_v1(promstore *db, const uint8_t *buf, size_t len,
                     promstore_http_response *resp)
{
    ps_pb_alloc pa;
    ps_pb_alloc_init(&pa, len);
    Prometheus__WriteRequest *wr = prometheus__write_request__unpack(&pa.base, len, buf);
    if (wr == NULL) {
        ps_proto_decode_failed(&pa, "WriteRequest", resp);
        ps_pb_alloc_release(&pa);
        return;
    }
    rw_batch b;
    if (v1_batch(wr, &b, &pa, resp) == 0)
        batch_run(db, &b, resp);
    ps_pb_alloc_release(&pa);
}

/* --- 2.0 -------------------------------------------------------------------------- */

/* Check a list of label refs: even length, every ref in range. */
static int v2_check_refs(const uint32_t *refs, size_t n, size_t n_symbols, const char *what,
                         size_t series, promstore_http_response *resp)
{
    if (n % 2 != 0) {
        ps_resp_error(resp, 400, "timeseries[%zu]: %s labels_refs has an odd length (%zu)",
                      series, what, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (refs[i] >= n_symbols) {
            ps_resp_error(resp, 400,
                          "timeseries[%zu]: %s label ref %u is out of range (%zu symbols)",
                          series, what, refs[i], n_symbols);
            return -1;
        }
    }
    return 0;
}

/* Check every ref of one series (labels, exemplar labels, metadata). */
static int v2_check_series(const Io__Prometheus__Write__V2__TimeSeries *ts, size_t idx,
                           size_t n_symbols, promstore_http_response *resp)
{
    if (v2_check_refs(ts->labels_refs, ts->n_labels_refs, n_symbols, "series", idx, resp))
        return -1;
    for (size_t j = 0; j < ts->n_exemplars; j++)
        if (v2_check_refs(ts->exemplars[j]->labels_refs, ts->exemplars[j]->n_labels_refs,
                          n_symbols, "exemplar", idx, resp))
            return -1;
    const Io__Prometheus__Write__V2__Metadata *md = ts->metadata;
    if (md && (md->help_ref >= n_symbols || md->unit_ref >= n_symbols)) {
        ps_resp_error(resp, 400,
                      "timeseries[%zu]: metadata help_ref %u or unit_ref %u is out of range "
                      "(%zu symbols)",
                      idx, md->help_ref, md->unit_ref, n_symbols);
        return -1;
    }
    return 0;
}

/* Check the symbols table and every ref, and count what is dropped. */
static int v2_check(const Io__Prometheus__Write__V2__Request *rq, promstore_http_response *resp)
{
    if (rq->n_symbols > 0 && rq->symbols[0].len != 0) {
        ps_resp_error(resp, 400, "symbols[0] must be the empty string, it has %zu bytes",
                      rq->symbols[0].len);
        return -1;
    }
    for (size_t i = 0; i < rq->n_timeseries; i++) {
        const Io__Prometheus__Write__V2__TimeSeries *ts = rq->timeseries[i];
        if (v2_check_series(ts, i, rq->n_symbols, resp))
            return -1;
        resp->histograms_dropped += ts->n_histograms;
        resp->exemplars_dropped += ts->n_exemplars;
        if (ts->metadata != NULL)
            resp->metadata_dropped++;
    }
    return 0;
}

/* Fill b from a checked 2.0 request: every series, labels desymbolized. */
static int v2_batch(const Io__Prometheus__Write__V2__Request *rq, rw_batch *b, ps_pb_alloc *pa,
                    promstore_http_response *resp)
{
    size_t n_labels = 0, n_samples = 0;
    for (size_t i = 0; i < rq->n_timeseries; i++) {
        n_labels += rq->timeseries[i]->n_labels_refs / 2;
        n_samples += rq->timeseries[i]->n_samples;
    }
    if (batch_alloc(b, pa, rq->n_timeseries, n_labels, n_samples,
                    "io.prometheus.write.v2.Request", resp))
        return -1;
    b->require_name = 1;

    const ProtobufCBinaryData *sym = rq->symbols;
    promstore_label *l = b->labels;
    promstore_sample *sm = b->samples;
    for (size_t i = 0; i < rq->n_timeseries; i++) {
        const Io__Prometheus__Write__V2__TimeSeries *ts = rq->timeseries[i];
        promstore_series *s = &b->series[b->n_series++];
        s->labels = l;
        s->n_labels = ts->n_labels_refs / 2;
        for (size_t j = 0; j + 1 < ts->n_labels_refs; j += 2, l++) {
            set_span(&l->name, &l->name_len, &sym[ts->labels_refs[j]]);
            set_span(&l->value, &l->value_len, &sym[ts->labels_refs[j + 1]]);
        }
        /* A series with histograms only has no samples: validated, not created. */
        sm = fill_samples(s, sm, (void *const *)ts->samples, ts->n_samples,
                          offsetof(Io__Prometheus__Write__V2__Sample, timestamp),
                          offsetof(Io__Prometheus__Write__V2__Sample, value));
    }
    return 0;
}

static void write_v2(promstore *db, const uint8_t *buf, size_t len,
                     promstore_http_response *resp)
{
    ps_pb_alloc pa;
    ps_pb_alloc_init(&pa, len);
    Io__Prometheus__Write__V2__Request *rq =
        io__prometheus__write__v2__request__unpack(&pa.base, len, buf);
    if (rq == NULL) {
        ps_proto_decode_failed(&pa, "io.prometheus.write.v2.Request", resp);
        ps_pb_alloc_release(&pa);
        return;
    }
    rw_batch b;
    if (v2_check(rq, resp) == 0 && v2_batch(rq, &b, &pa, resp) == 0)
        batch_run(db, &b, resp);
    ps_pb_alloc_release(&pa);
}

/* The three 2.0 response headers, with what was really stored. */
static void v2_written_headers(promstore_http_response *resp)
{
    ps_resp_header(resp, "X-Prometheus-Remote-Write-Samples-Written", "%llu",
                   (unsigned long long)resp->samples_written);
    ps_resp_header(resp, "X-Prometheus-Remote-Write-Histograms-Written", "%llu",
                   (unsigned long long)resp->histograms_written);
    ps_resp_header(resp, "X-Prometheus-Remote-Write-Exemplars-Written", "%llu",
                   (unsigned long long)resp->exemplars_written);
}

/* --- the entry point ------------------------------------------------------------------ */

promstore_status promstore_remote_write(promstore *db, const promstore_http_request *req,
                                        promstore_http_response *resp, promstore_error *err)
{
    promstore_error local;
    promstore_status rc = ps_proto_args_ok(db, req, resp, &local);
    if (rc != PROMSTORE_OK)
        return ps_report(rc, &local, err);

    ps_resp_init(resp);
    rw_kind kind = RW_V1;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    /* Headers first: the compliance suite sends bad ones with a corrupt body. */
    if (message_kind(req, &kind, resp) || ps_proto_check_encoding(req, resp))
        goto answer;
    const char *what = kind == RW_V2 ? "io.prometheus.write.v2.Request" : "WriteRequest";
    if (ps_proto_unsnappy(db, req->body, req->body_len, what, &raw, &raw_len, resp))
        goto answer;
    if (kind == RW_V2)
        write_v2(db, raw, raw_len, resp);
    else
        write_v1(db, raw, raw_len, resp);
answer:
    ps_free(raw);
    if (resp->status == 0) { /* no path may leave it unset; answer safely if one does */
        ps_resp_error(resp, 500, "remote write: internal error, no status was set");
    }
    if (kind == RW_V2)
        v2_written_headers(resp);
    return PROMSTORE_OK;
}
