/*
 * fuzz_remote_read -- promstore_remote_read_open(), _next() until done, and
 * _close() over remote read request bodies, against a small store filled at
 * start (a few series, a few hundred samples each, stale markers, and one
 * long series whose SAMPLES answer spans several 64 KiB snappy fragments).
 *
 * Input: byte 0 chooses the form of the rest.
 *   bit 0 clear: the rest is the body as sent (snappy bytes).
 *   bit 0 set:   the rest is the ReadRequest protobuf; the harness
 *                compresses it.
 *   bit 1 set:   close the reader after the first piece (a client that went
 *                away mid-stream).
 * Invariants: a well-formed answer with status 200, 400 or 413 (503 would
 * mean a leaked reader slot, 500 a storage error the input caused); on 200,
 * every streamed piece is one whole frame with a valid CRC32C that decodes
 * as a ChunkedReadResponse whose query_index is in range and whose chunks
 * decode; a SAMPLES body decompresses to a ReadResponse with one result per
 * query and every sample inside its query's time range, and its bytes are
 * what snappy_compress makes of the decoded answer (the fragments it was
 * compressed in join into the whole's encoding), and the SAMPLES reader
 * fails in next() on nothing (its limits were met in open(), the work
 * budget among them: its second pass is not charged). A 200 never answers
 * more queries or matchers than the caps the store was opened with.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "fuzz_common.h"
#include "remote.pb-c.h"
#include "xor.h"

#define CT_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

static const int g_allowed[] = {200, 400, 413, 0};

static void opts(promstore_options *o)
{
    o->read_frame_bytes = 512;        /* several frames per answer */
    o->max_samples_per_query = 10000; /* reachable: the store holds 10500 */
    o->max_decoded_bytes = 1u << 20;  /* keep hostile length headers cheap */
    o->max_queries_per_read = 4;      /* the request caps, reachable */
    o->max_matchers_per_query = 4;
    o->max_work_per_read = 3000000;   /* a few costly regex values spend it */
}

/* Five series, 300 samples each 15 s apart: several chunks per series. */
static void fill(promstore *db)
{
    static const char *const jobs[] = {"node", "node", "prom", "api", "\xc3\xa9t\xc3\xa9"};
    static const char *const inst[] = {"a:9100", "b:9100", "localhost:9090", "a:80", "x"};
    for (int s = 0; s < 5; s++) {
        promstore_label l[3] = {
            {"__name__", 8, s < 3 ? "up" : "http_requests_total", s < 3 ? 2 : 19},
            {"instance", 8, inst[s], strlen(inst[s])},
            {"job", 3, jobs[s], strlen(jobs[s])},
        };
        promstore_sample smp[300];
        for (int i = 0; i < 300; i++) {
            double v = s == 3 ? (double)(i * i) : (double)(i % 2);
            smp[i].timestamp_ms = 1000000 + (int64_t)i * 15000;
            memcpy(&smp[i].value_bits, &v, sizeof v);
            if (i == 150)
                smp[i].value_bits = PROMSTORE_STALE_NAN_BITS;
        }
        promstore_series ser = {l, 3, smp, 300};
        promstore_error err;
        if (promstore_append(db, &ser, 1, NULL, &err) != PROMSTORE_OK)
            fuzz_fail("fill: %s", err.message);
    }
    /* 9000 samples: ~160 KiB as SAMPLES, three snappy fragments. */
    enum { LONG = 9000 };
    static promstore_sample smp[LONG];
    for (int i = 0; i < LONG; i++) {
        double v = (double)i * 0.1;
        smp[i].timestamp_ms = 1000000 + (int64_t)i * 15000;
        memcpy(&smp[i].value_bits, &v, sizeof v);
    }
    promstore_label l[2] = {{"__name__", 8, "long", 4}, {"job", 3, "node", 4}};
    promstore_series ser = {l, 2, smp, LONG};
    promstore_error err;
    if (promstore_append(db, &ser, 1, NULL, &err) != PROMSTORE_OK)
        fuzz_fail("fill: %s", err.message);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_setup(opts, fill);
    return 0;
}

/* CRC32C (Castagnoli), bit by bit: independent of plugin/crc32c.c. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

static int get_uvarint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static void check_chunk(const Prometheus__Chunk *c)
{
    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    int got = 0, rc;
    if (ps_xor_iter_init(&it, c->data.data, c->data.len) != 0)
        fuzz_fail("streamed chunk of %zu bytes does not decode", c->data.len);
    while ((rc = ps_xor_iter_next(&it, &t, &v)) == 1)
        got++;
    if (rc != 0 || got != ps_xor_num_samples(c->data.data, c->data.len))
        fuzz_fail("streamed chunk: decode %d after %d samples", rc, got);
}

/* One piece of a streamed answer: exactly one whole frame. */
static void check_frame(const uint8_t *p, size_t len, size_t n_queries)
{
    size_t pos = 0;
    uint64_t msg_len;
    if (get_uvarint(p, len, &pos, &msg_len) != 0 || len - pos < 4 ||
        msg_len != len - pos - 4)
        fuzz_fail("streamed piece of %zu bytes is not one frame", len);
    uint32_t want = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
                    (uint32_t)p[pos + 2] << 8 | p[pos + 3];
    pos += 4;
    if (crc32c(p + pos, msg_len) != want)
        fuzz_fail("frame CRC32C mismatch");
    Prometheus__ChunkedReadResponse *cr =
        prometheus__chunked_read_response__unpack(NULL, msg_len, p + pos);
    if (cr == NULL)
        fuzz_fail("frame does not decode as ChunkedReadResponse");
    if (cr->query_index < 0 || (uint64_t)cr->query_index >= n_queries)
        fuzz_fail("frame query_index %" PRId64 " of %zu queries", cr->query_index, n_queries);
    if (cr->n_chunked_series == 0)
        fuzz_fail("frame without series");
    for (size_t i = 0; i < cr->n_chunked_series; i++)
        for (size_t j = 0; j < cr->chunked_series[i]->n_chunks; j++)
            check_chunk(cr->chunked_series[i]->chunks[j]);
    prometheus__chunked_read_response__free_unpacked(cr, NULL);
}

static void check_samples_body(const uint8_t *body, size_t len, const Prometheus__ReadRequest *rq)
{
    size_t n = 0;
    if (snappy_uncompressed_length((const char *)body, len, &n) != SNAPPY_OK)
        fuzz_fail("SAMPLES body: bad snappy header");
    char *raw = malloc(n ? n : 1);
    if (raw == NULL || snappy_uncompress((const char *)body, len, raw, &n) != SNAPPY_OK)
        fuzz_fail("SAMPLES body does not decompress");
    Prometheus__ReadResponse *rr = prometheus__read_response__unpack(NULL, n, (uint8_t *)raw);
    if (rr == NULL)
        fuzz_fail("SAMPLES body does not decode as ReadResponse");
    if (rr->n_results != rq->n_queries)
        fuzz_fail("%zu results for %zu queries", rr->n_results, rq->n_queries);
    for (size_t q = 0; q < rr->n_results; q++) {
        const Prometheus__Query *qq = rq->queries[q];
        for (size_t s = 0; s < rr->results[q]->n_timeseries; s++) {
            const Prometheus__TimeSeries *ts = rr->results[q]->timeseries[s];
            for (size_t i = 0; i < ts->n_samples; i++) {
                int64_t t = ts->samples[i]->timestamp;
                if (t < qq->start_timestamp_ms || t > qq->end_timestamp_ms)
                    fuzz_fail("query %zu [%" PRId64 ", %" PRId64 "] returned t=%" PRId64, q,
                              qq->start_timestamp_ms, qq->end_timestamp_ms, t);
            }
        }
    }
    prometheus__read_response__free_unpacked(rr, NULL);
    size_t zlen = snappy_max_compressed_length(n);
    char *whole = malloc(zlen ? zlen : 1);
    if (whole == NULL || snappy_compress(raw, n, whole, &zlen) != SNAPPY_OK)
        fuzz_fail("snappy_compress of the decoded answer failed");
    if (zlen != len || memcmp(whole, body, len) != 0)
        fuzz_fail("SAMPLES body (%zu bytes) is not snappy_compress of its %zu decoded bytes "
                  "(%zu)", len, n, zlen);
    free(whole);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int compress = data[0] & 1, stop_early = data[0] & 2;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    size_t body_len;
    uint8_t *body = fuzz_body(rest, n, compress, &body_len);
    promstore_http_request req = fuzz_request("application/x-protobuf", "snappy", body, body_len);
    promstore_http_response resp = fuzz_response();
    promstore_reader *r = NULL;
    promstore_error err;
    promstore_status rc = promstore_remote_read_open(fuzz_store(), &req, &resp, &r, &err);
    if (rc != PROMSTORE_OK)
        fuzz_fail("promstore_remote_read_open returned %d: %s", rc, err.message);
    fuzz_check_response(&resp, g_allowed);
    if ((resp.status == 200) != (r != NULL))
        fuzz_fail("status %d with reader %p", resp.status, (void *)r);
    if (r == NULL) {
        free(body);
        return 0;
    }

    /* The request decoded: decode it here as well, to know its queries. */
    size_t raw_len = 0;
    uint8_t *raw = NULL;
    if (snappy_uncompressed_length((const char *)body, body_len, &raw_len) != SNAPPY_OK ||
        (raw = malloc(raw_len ? raw_len : 1)) == NULL ||
        snappy_uncompress((const char *)body, body_len, (char *)raw, &raw_len) != SNAPPY_OK)
        fuzz_fail("answered 200 to a body snappy cannot decompress");
    Prometheus__ReadRequest *rq = prometheus__read_request__unpack(NULL, raw_len, raw);
    if (rq == NULL)
        fuzz_fail("answered 200 to a ReadRequest protobuf-c cannot decode");

    if (rq->n_queries > 4)
        fuzz_fail("answered 200 to %zu queries, past max_queries_per_read", rq->n_queries);
    for (size_t i = 0; i < rq->n_queries; i++)
        if (rq->queries[i]->n_matchers > 4)
            fuzz_fail("answered 200 to query %zu of %zu matchers, past max_matchers_per_query",
                      i, rq->queries[i]->n_matchers);
    int streamed = strcmp(resp.content_type, CT_STREAMED) == 0;
    if (!streamed && (strcmp(resp.content_type, "application/x-protobuf") != 0 ||
                      strcmp(resp.content_encoding, "snappy") != 0))
        fuzz_fail("200 with Content-Type \"%s\" Content-Encoding \"%s\"", resp.content_type,
                  resp.content_encoding);
    uint8_t *all = NULL;
    size_t all_len = 0;
    for (;;) {
        const uint8_t *piece;
        size_t len;
        rc = promstore_remote_read_next(r, &piece, &len, &err);
        if (rc == PROMSTORE_DONE)
            break;
        if (rc != PROMSTORE_OK) {
            /* A limit met while streaming cuts the body; nothing else may. */
            if (!streamed || rc != PROMSTORE_E_LIMIT)
                fuzz_fail("promstore_remote_read_next returned %d: %s", rc, err.message);
            break;
        }
        if (streamed) {
            check_frame(piece, len, rq->n_queries);
        } else {
            uint8_t *grown = realloc(all, all_len + len);
            if (grown == NULL)
                fuzz_fail("out of memory");
            all = grown;
            memcpy(all + all_len, piece, len);
            all_len += len;
        }
        if (stop_early)
            break;
    }
    if (!streamed && !stop_early)
        check_samples_body(all, all_len, rq);
    promstore_remote_read_close(r);
    free(all);
    prometheus__read_request__free_unpacked(rq, NULL);
    free(raw);
    free(body);
    return 0;
}
