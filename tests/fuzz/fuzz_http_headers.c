/*
 * fuzz_http_headers -- the header parsing of the protocol entry points: the
 * Content-Type and Content-Encoding helpers of plugin/protocol/protocol.h called
 * directly, then promstore_remote_write() and promstore_remote_read_open()
 * with the same headers and a fixed valid body, each answer checked
 * against what the helpers decided.
 *
 * Input: byte 0 bit 0 set: no Content-Type header (NULL); bit 1 set: no
 * Content-Encoding. The rest is split at its first NUL byte: Content-Type
 * before it, Content-Encoding after it (each copied to an exact-size
 * NUL-terminated buffer, so ASan sees any read past the end).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "protocol.h"
#include "remote.pb-c.h"

static uint8_t *g_write_body, *g_read_body;
static size_t g_write_len, g_read_len;

static const int g_any[] = {200, 204, 400, 413, 415, 503, 507, 0};

/* The fixed bodies: one sample of one series, and a query for it. */
static void make_bodies(void)
{
    Prometheus__Label l = PROMETHEUS__LABEL__INIT;
    l.name.data = (uint8_t *)"__name__";
    l.name.len = 8;
    l.value.data = (uint8_t *)"fuzz_headers";
    l.value.len = 12;
    Prometheus__Label *lp = &l;
    Prometheus__Sample s = PROMETHEUS__SAMPLE__INIT;
    s.value = 1;
    s.timestamp = 1000;
    Prometheus__Sample *sp = &s;
    Prometheus__TimeSeries ts = PROMETHEUS__TIME_SERIES__INIT;
    ts.n_labels = 1;
    ts.labels = &lp;
    ts.n_samples = 1;
    ts.samples = &sp;
    Prometheus__TimeSeries *tsp = &ts;
    Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
    wr.n_timeseries = 1;
    wr.timeseries = &tsp;
    uint8_t raw[256];
    size_t n = prometheus__write_request__pack(&wr, raw);
    g_write_body = fuzz_snappy(raw, n, &g_write_len);

    Prometheus__LabelMatcher m = PROMETHEUS__LABEL_MATCHER__INIT;
    m.type = PROMETHEUS__LABEL_MATCHER__TYPE__EQ;
    m.name = l.name;
    m.value = l.value;
    Prometheus__LabelMatcher *mp = &m;
    Prometheus__Query q = PROMETHEUS__QUERY__INIT;
    q.start_timestamp_ms = 0;
    q.end_timestamp_ms = 2000;
    q.n_matchers = 1;
    q.matchers = &mp;
    Prometheus__Query *qp = &q;
    Prometheus__ReadRequest rr = PROMETHEUS__READ_REQUEST__INIT;
    rr.n_queries = 1;
    rr.queries = &qp;
    n = prometheus__read_request__pack(&rr, raw);
    g_read_body = fuzz_snappy(raw, n, &g_read_len);
}

static void free_bodies(void)
{
    free(g_write_body);
    free(g_read_body);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_setup(NULL, NULL);
    make_bodies();
    atexit(free_bodies);
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A span must lie inside s[0..len), and be trimmed unless it was quoted
 * (whitespace inside quotes is part of the value). */
static void check_span(const char *what, const char *p, size_t n, const char *s, size_t len)
{
    if (p < s || p > s + len || n > (size_t)(s + len - p))
        fuzz_fail("%s span outside the header", what);
    int quoted = p > s && p[-1] == '"' && p + n < s + len && p[n] == '"';
    if (n > 0 && !quoted && (is_space(p[0]) || is_space(p[n - 1])))
        fuzz_fail("%s span is not trimmed", what);
}

/* -1 unsupported, 1 remote write 1.0, 2 remote write 2.0 (docs/PROTOCOL.md 2.1). */
static int write_kind(const char *ct)
{
    if (ct == NULL || ct[strspn(ct, " \t")] == '\0')
        return 1;
    ps_content_type p;
    if (ps_content_type_parse(ct, &p) != 0 ||
        !ps_span_eq_nocase(p.media, p.media_len, "application/x-protobuf"))
        return -1;
    if (p.proto == NULL || ps_span_eq(p.proto, p.proto_len, "prometheus.WriteRequest"))
        return 1;
    if (ps_span_eq(p.proto, p.proto_len, "io.prometheus.write.v2.Request"))
        return 2;
    return -1;
}

static int read_ok(const char *ct)
{
    if (ct == NULL)
        return 1;
    ps_content_type p;
    return ps_content_type_parse(ct, &p) == 0 &&
           ps_span_eq_nocase(p.media, p.media_len, "application/x-protobuf") &&
           (p.proto == NULL || ps_span_eq(p.proto, p.proto_len, "prometheus.ReadRequest"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nul = memchr(rest, 0, n);
    size_t a_len = nul ? (size_t)(nul - rest) : n;
    char *ct = (data[0] & 1) ? NULL : fuzz_strndup(rest, a_len);
    char *ce = (data[0] & 2) ? NULL
                             : fuzz_strndup(nul ? nul + 1 : rest + n, nul ? n - a_len - 1 : 0);

    /* The helpers alone. */
    if (ct != NULL) {
        ps_content_type p1, p2;
        int r1 = ps_content_type_parse(ct, &p1);
        int r2 = ps_content_type_parse(ct, &p2);
        if (r1 != r2 || (r1 == 0 && memcmp(&p1, &p2, sizeof p1) != 0))
            fuzz_fail("ps_content_type_parse is not deterministic");
        if (r1 != 0 && r1 != -1)
            fuzz_fail("ps_content_type_parse returned %d", r1);
        if (r1 == 0) {
            if (p1.media_len == 0)
                fuzz_fail("parsed an empty media type");
            check_span("media", p1.media, p1.media_len, ct, a_len);
            if (p1.proto)
                check_span("proto", p1.proto, p1.proto_len, ct, a_len);
        }
    }
    promstore_http_request req = fuzz_request(ct, ce, g_write_body, g_write_len);
    promstore_http_response resp = fuzz_response();
    resp.status = 0;
    int enc = ps_proto_check_encoding(&req, &resp);
    if (enc != 0 && (enc != -1 || resp.status != 415 || resp.message[0] == '\0'))
        fuzz_fail("ps_proto_check_encoding: %d, status %d", enc, resp.status);
    int kind = write_kind(ct);

    /* Remote write: 415 exactly when a helper refuses, else the body is stored. */
    resp = fuzz_response();
    promstore_error err;
    if (promstore_remote_write(fuzz_store(), &req, &resp, &err) != PROMSTORE_OK)
        fuzz_fail("promstore_remote_write: %s", err.message);
    fuzz_check_response(&resp, g_any);
    if (kind < 0 || enc != 0) {
        if (resp.status != 415)
            fuzz_fail("write: helpers refuse (kind %d, encoding %d), answer %d", kind, enc,
                      resp.status);
    } else if (kind == 1 && resp.status != 204) {
        fuzz_fail("write 1.0: answer %d (%s)", resp.status, resp.message);
    } else if (kind == 2 && resp.status != 204 && resp.status != 400) {
        fuzz_fail("write 2.0 with a 1.0 body: answer %d (%s)", resp.status, resp.message);
    }
    if ((kind == 2) != (fuzz_header(&resp, "X-Prometheus-Remote-Write-Samples-Written") != NULL))
        fuzz_fail("2.0 headers do not follow the Content-Type (kind %d)", kind);

    /* Remote read: the same for its own Content-Type rule. */
    req.body = g_read_body;
    req.body_len = g_read_len;
    resp = fuzz_response();
    promstore_reader *r = NULL;
    if (promstore_remote_read_open(fuzz_store(), &req, &resp, &r, &err) != PROMSTORE_OK)
        fuzz_fail("promstore_remote_read_open: %s", err.message);
    fuzz_check_response(&resp, g_any);
    int want = (enc == 0 && read_ok(ct)) ? 200 : 415;
    if (resp.status != want)
        fuzz_fail("read: answer %d, want %d (%s)", resp.status, want, resp.message);
    promstore_remote_read_close(r);

    free(ct);
    free(ce);
    fuzz_store_tick();
    return 0;
}
