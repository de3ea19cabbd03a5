/*
 * readbench.c -- promstore-readbench, a Prometheus remote-read client for
 * loopback benchmarks of promstore (or any remote-read endpoint).
 *
 * It sends one ReadRequest (one query: the --match matchers over
 * [--start-ms, --end-ms]) as Prometheus does, N times, one at a time, each on
 * a fresh HTTP/1.1 connection, reads the whole answer and checks it:
 *
 *   --type samples   accepted_response_types left empty, as Prometheus 2.42
 *                    sends it: the answer must be Content-Type
 *                    application/x-protobuf, Content-Encoding snappy; it is
 *                    snappy-decoded and unpacked as a ReadResponse (one result),
 *                    and its series and samples are counted; every sample must
 *                    lie in the range and be in time order.
 *   --type streamed  [STREAMED_XOR_CHUNKS, SAMPLES], as Prometheus >= 2.55: the
 *                    answer must be the streamed Content-Type; the body is
 *                    walked frame by frame AS IT ARRIVES (uvarint length,
 *                    big-endian CRC-32C of the message, a ChunkedReadResponse),
 *                    every CRC is checked (computed here, not with the
 *                    library's code), and series (a series split over
 *                    consecutive frames counts once; series must come in
 *                    labels.Compare order), chunks and samples (each XOR
 *                    chunk's 2-byte count) are counted. Frames larger than
 *                    --max-frame-bytes (50e6, Prometheus's chunked_read_limit)
 *                    are an error. Memory stays at one frame.
 *
 * A non-200 answer prints its status, its Retry-After header (if any) and
 * its body, and counts as an error run. With --expect-series N a 200 whose
 * series count is not N is an error too (a stream cut short, or a wrong
 * answer). Latency is from connect to the last body byte; time to first byte
 * is reported too. The last line is machine-readable ("RESULT k=v ...").
 * Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "remote.pb-c.h"

#define MAX_MATCHERS 16
#define CT_SAMPLES "application/x-protobuf"
#define CT_STREAMED "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
#define ERR_BODY_MAX 4096

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- CRC-32C (Castagnoli, reflected 0x82F63B78), independent of the library -- */

static uint32_t crc_table[8][256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) { /* slicing-by-8, little-endian load */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
            crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
            crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c ^ 0xFFFFFFFFu;
}

/* --- options and the request ----------------------------------------------- */

typedef struct opts {
    const char *url;
    int streamed;
    int64_t start_ms, end_ms;
    int repeat, warmup;
    int timeout_ms;
    uint64_t max_frame_bytes, max_body_bytes;
    int quiet;
    int64_t expect_series; /* -1: not checked */
    Prometheus__LabelMatcher m[MAX_MATCHERS];
    Prometheus__LabelMatcher *mp[MAX_MATCHERS];
    size_t n_m;
} opts;

/* "name=v", "name!=v", "name=~re", "name!~re". 0 or -1. */
static int parse_matcher(const char *s, Prometheus__LabelMatcher *m)
{
    prometheus__label_matcher__init(m);
    size_t nl = strcspn(s, "=!");
    if (nl == 0 || s[nl] == '\0')
        return -1;
    const char *op = s + nl, *v;
    if (strncmp(op, "!=", 2) == 0)
        m->type = PROMETHEUS__LABEL_MATCHER__TYPE__NEQ, v = op + 2;
    else if (strncmp(op, "!~", 2) == 0)
        m->type = PROMETHEUS__LABEL_MATCHER__TYPE__NRE, v = op + 2;
    else if (strncmp(op, "=~", 2) == 0)
        m->type = PROMETHEUS__LABEL_MATCHER__TYPE__RE, v = op + 2;
    else if (op[0] == '=')
        m->type = PROMETHEUS__LABEL_MATCHER__TYPE__EQ, v = op + 1;
    else
        return -1;
    m->name.data = (uint8_t *)s;
    m->name.len = nl;
    m->value.data = (uint8_t *)v;
    m->value.len = strlen(v);
    return 0;
}

/* The snappy-compressed ReadRequest. */
static uint8_t *build_request(opts *o, size_t *len)
{
    Prometheus__Query q = PROMETHEUS__QUERY__INIT;
    Prometheus__Query *qp = &q;
    q.start_timestamp_ms = o->start_ms;
    q.end_timestamp_ms = o->end_ms;
    q.n_matchers = o->n_m;
    q.matchers = o->mp;
    Prometheus__ReadHints h = PROMETHEUS__READ_HINTS__INIT; /* as PromQL sends: start/end */
    h.start_ms = o->start_ms;
    h.end_ms = o->end_ms;
    q.hints = &h;
    Prometheus__ReadRequest rr = PROMETHEUS__READ_REQUEST__INIT;
    rr.n_queries = 1;
    rr.queries = &qp;
    Prometheus__ReadRequest__ResponseType types[2] = {
        PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS,
        PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES};
    if (o->streamed) { /* Prometheus >= 2.55; 2.42 leaves the list empty */
        rr.n_accepted_response_types = 2;
        rr.accepted_response_types = types;
    }
    size_t n = prometheus__read_request__get_packed_size(&rr);
    uint8_t *raw = malloc(n ? n : 1);
    size_t cap = snappy_max_compressed_length(n);
    uint8_t *c = malloc(cap);
    if (!raw || !c)
        return NULL;
    prometheus__read_request__pack(&rr, raw);
    *len = cap;
    if (snappy_compress((const char *)raw, n, (char *)c, len) != SNAPPY_OK) {
        free(raw), free(c);
        return NULL;
    }
    free(raw);
    return c;
}

/* --- checking the answer ----------------------------------------------------- */

typedef struct result {
    int status;
    char content_type[160], content_encoding[64], retry_after[32];
    uint64_t body_bytes;
    uint64_t series, samples, chunks, frames, max_frame;
    double ttfb_s, total_s;
    char err[ERR_BODY_MAX + 256]; /* why the run failed ("" if it did not) */
} result;

/* Consumer of body bytes, fed as they arrive (after de-chunking). */
typedef struct sink {
    const opts *o;
    result *r;
    int is_stream; /* decided from the headers */
    uint8_t *buf;  /* SAMPLES: the whole body; STREAMED: the frame being assembled */
    size_t len, cap;
    int failed;
} sink;

static void sink_fail(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sink_fail(sink *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->r->err, sizeof s->r->err, fmt, ap);
    va_end(ap);
}

static int buf_append(sink *s, const uint8_t *p, size_t n, uint64_t limit)
{
    if (s->len + n > limit) {
        sink_fail(s, "body/frame larger than %" PRIu64 " bytes", limit);
        return -1;
    }
    if (s->len + n > s->cap) {
        size_t nc = s->cap ? s->cap : 65536;
        while (nc < s->len + n)
            nc *= 2;
        uint8_t *b = realloc(s->buf, nc);
        if (!b) {
            sink_fail(s, "out of memory");
            return -1;
        }
        s->buf = b;
        s->cap = nc;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

/* labels.Compare: pair by pair, names then values, byte-wise; a prefix sorts first. */
static int labels_cmp(Prometheus__Label **a, size_t na, Prometheus__Label **b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        const ProtobufCBinaryData *x[2] = {&a[i]->name, &a[i]->value};
        const ProtobufCBinaryData *y[2] = {&b[i]->name, &b[i]->value};
        for (int k = 0; k < 2; k++) {
            size_t l = x[k]->len < y[k]->len ? x[k]->len : y[k]->len;
            int c = l ? memcmp(x[k]->data, y[k]->data, l) : 0;
            if (c)
                return c;
            if (x[k]->len != y[k]->len)
                return x[k]->len < y[k]->len ? -1 : 1;
        }
    }
    return na == nb ? 0 : (na < nb ? -1 : 1);
}

/* Last series of the stream, kept as an unpacked copy of its labels. */
typedef struct last_series {
    Prometheus__ChunkedReadResponse *frame; /* owns the labels below */
    Prometheus__Label **labels;
    size_t n;
} last_series;

static last_series g_last;

static void check_frame(sink *s, const uint8_t *msg, size_t n)
{
    result *r = s->r;
    Prometheus__ChunkedReadResponse *f = prometheus__chunked_read_response__unpack(NULL, n, msg);
    if (!f) {
        sink_fail(s, "frame %" PRIu64 ": not a ChunkedReadResponse", r->frames);
        return;
    }
    if (f->query_index != 0)
        sink_fail(s, "frame %" PRIu64 ": query_index %" PRId64, r->frames, f->query_index);
    Prometheus__ChunkedReadResponse *whole = f;
    for (size_t i = 0; i < whole->n_chunked_series && !s->failed; i++) {
        Prometheus__ChunkedSeries *cs = whole->chunked_series[i];
        int c = g_last.labels ? labels_cmp(g_last.labels, g_last.n, cs->labels, cs->n_labels) : -1;
        if (c > 0)
            sink_fail(s, "frame %" PRIu64 ": series out of labels.Compare order", r->frames);
        else if (c < 0)
            r->series++;
        /* c == 0: the previous series continues in this frame */
        for (size_t j = 0; j < cs->n_labels; j++)
            if (j && labels_cmp(&cs->labels[j - 1], 1, &cs->labels[j], 1) >= 0)
                sink_fail(s, "frame %" PRIu64 ": labels not sorted", r->frames);
        for (size_t j = 0; j < cs->n_chunks; j++) {
            Prometheus__Chunk *ch = cs->chunks[j];
            if (ch->type != PROMETHEUS__CHUNK__ENCODING__XOR || ch->data.len < 2) {
                sink_fail(s, "frame %" PRIu64 ": chunk of type %d, %zu bytes", r->frames,
                          (int)ch->type, ch->data.len);
                break;
            }
            if (ch->max_time_ms < s->o->start_ms || ch->min_time_ms > s->o->end_ms ||
                ch->min_time_ms > ch->max_time_ms)
                sink_fail(s, "frame %" PRIu64 ": chunk [%" PRId64 ",%" PRId64 "] outside the range",
                          r->frames, ch->min_time_ms, ch->max_time_ms);
            r->chunks++;
            r->samples += (uint64_t)ch->data.data[0] << 8 | ch->data.data[1];
        }
        if (i + 1 == whole->n_chunked_series) {
            if (g_last.frame)
                prometheus__chunked_read_response__free_unpacked(g_last.frame, NULL);
            g_last.frame = whole;
            g_last.labels = cs->labels;
            g_last.n = cs->n_labels;
            f = NULL;
        }
    }
    if (f)
        prometheus__chunked_read_response__free_unpacked(f, NULL);
}

/* Walk the complete frames at the start of s->buf; keep the rest. */
static void stream_feed(sink *s, const uint8_t *p, size_t n)
{
    if (buf_append(s, p, n, s->o->max_frame_bytes + 16 + (1 << 16)) != 0) /* + one read */
        return;
    size_t pos = 0;
    while (!s->failed) {
        uint64_t ml = 0;
        size_t q = pos;
        int shift = 0, done = 0;
        while (q < s->len && shift < 64) {
            uint8_t b = s->buf[q++];
            ml |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80)) {
                done = 1;
                break;
            }
        }
        if (!done) {
            if (shift >= 64)
                sink_fail(s, "frame %" PRIu64 ": bad length varint", s->r->frames);
            break;
        }
        if (ml > s->o->max_frame_bytes) {
            sink_fail(s, "frame %" PRIu64 ": %" PRIu64 " bytes, over the %" PRIu64 " limit",
                      s->r->frames, ml, s->o->max_frame_bytes);
            break;
        }
        if (s->len - q < 4 + ml)
            break;
        const uint8_t *c = s->buf + q;
        uint32_t want = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        uint32_t got = crc32c(c + 4, (size_t)ml);
        if (want != got) {
            sink_fail(s, "frame %" PRIu64 ": CRC32C %08x, computed %08x", s->r->frames, want, got);
            break;
        }
        check_frame(s, c + 4, (size_t)ml);
        s->r->frames++;
        uint64_t fl = (q - pos) + 4 + ml;
        if (fl > s->r->max_frame)
            s->r->max_frame = fl;
        pos = q + 4 + (size_t)ml;
    }
    memmove(s->buf, s->buf + pos, s->len - pos);
    s->len -= pos;
}

static void sink_body(sink *s, const uint8_t *p, size_t n)
{
    s->r->body_bytes += n;
    if (s->failed)
        return;
    if (s->r->status != 200) {
        size_t room = s->len < ERR_BODY_MAX ? ERR_BODY_MAX - s->len : 0;
        buf_append(s, p, n < room ? n : room, ERR_BODY_MAX);
    } else if (s->is_stream)
        stream_feed(s, p, n);
    else
        buf_append(s, p, n, s->o->max_body_bytes);
}

static void sink_end(sink *s)
{
    result *r = s->r;
    if (r->status != 200) {
        if (!r->err[0])
            snprintf(r->err, sizeof r->err, "HTTP %d%s%s: %.*s", r->status,
                     r->retry_after[0] ? ", Retry-After " : "", r->retry_after, (int)s->len,
                     s->buf ? (const char *)s->buf : "");
        for (char *p = r->err; *p; p++) /* one line per report */
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        return;
    }
    if (s->failed)
        return;
    if (s->is_stream) {
        if (s->len)
            sink_fail(s, "stream ends inside a frame (%zu bytes left)", s->len);
        return;
    }
    size_t n;
    if (s->len == 0 && r->body_bytes == 0) {
        sink_fail(s, "empty SAMPLES body");
        return;
    }
    if (snappy_uncompressed_length((const char *)s->buf, s->len, &n) != SNAPPY_OK) {
        sink_fail(s, "SAMPLES body: bad snappy header");
        return;
    }
    char *raw = malloc(n ? n : 1);
    if (!raw || snappy_uncompress((const char *)s->buf, s->len, raw, &n) != SNAPPY_OK) {
        free(raw);
        sink_fail(s, "SAMPLES body: snappy decode failed");
        return;
    }
    Prometheus__ReadResponse *rr = prometheus__read_response__unpack(NULL, n, (uint8_t *)raw);
    if (!rr) {
        free(raw);
        sink_fail(s, "SAMPLES body: not a ReadResponse (%zu bytes decoded)", n);
        return;
    }
    if (rr->n_results != 1)
        sink_fail(s, "SAMPLES: %zu results for 1 query", rr->n_results);
    for (size_t i = 0; i < rr->n_results && !s->failed; i++) {
        Prometheus__QueryResult *qr = rr->results[i];
        r->series += qr->n_timeseries;
        for (size_t j = 0; j < qr->n_timeseries && !s->failed; j++) {
            Prometheus__TimeSeries *ts = qr->timeseries[j];
            for (size_t k = 0; k < ts->n_samples; k++) {
                int64_t t = ts->samples[k]->timestamp;
                if (t < s->o->start_ms || t > s->o->end_ms ||
                    (k && t <= ts->samples[k - 1]->timestamp)) {
                    sink_fail(s, "SAMPLES: series %zu sample %zu at %" PRId64
                                 " out of range or order", j, k, t);
                    break;
                }
            }
            r->samples += ts->n_samples;
        }
    }
    prometheus__read_response__free_unpacked(rr, NULL);
    free(raw);
}

/* --- HTTP/1.1 ---------------------------------------------------------------- */

typedef struct conn {
    int fd, timeout_ms;
    uint8_t buf[1 << 16];
    size_t len;
} conn;

static int wait_fd(int fd, short ev, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

/* Read more into c->buf. 1 data, 0 EOF, -1 error or timeout. */
static int cfill(conn *c)
{
    if (c->len == sizeof c->buf || wait_fd(c->fd, POLLIN, c->timeout_ms) != 0)
        return -1;
    ssize_t r;
    do
        r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    c->len += (size_t)r;
    return r > 0;
}

static void cconsume(conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Hand n body bytes to the sink (n = UINT64_MAX: until EOF). */
static int cbody(conn *c, sink *s, uint64_t n)
{
    while (n > 0) {
        if (c->len == 0) {
            int f = cfill(c);
            if (f == 0 && n == UINT64_MAX)
                return 0;
            if (f != 1)
                return -1;
        }
        size_t k = c->len < n ? c->len : (size_t)n;
        sink_body(s, c->buf, k);
        cconsume(c, k);
        if (n != UINT64_MAX)
            n -= k;
    }
    return 0;
}

static int cline(conn *c, size_t *n)
{
    for (;;) {
        uint8_t *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e) {
            *n = (size_t)(e - c->buf) + 2;
            return 0;
        }
        if (cfill(c) != 1)
            return -1;
    }
}

static void header_value(const char *h, size_t hl, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = h; p && p < h + hl; p = memchr(p, '\n', (size_t)(h + hl - p))) {
        p += *p == '\n';
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            v += strspn(v, " \t");
            size_t l = strcspn(v, "\r\n");
            if (l >= cap)
                l = cap - 1;
            memcpy(out, v, l);
            out[l] = '\0';
            return;
        }
    }
}

/* One request on a fresh connection. Fills r; 0, or -1 on a transport error. */
static int do_read(const opts *o, const char *host, uint16_t port, const char *path,
                   const uint8_t *body, size_t blen, result *r)
{
    memset(r, 0, sizeof *r);
    sink s = {.o = o, .r = r};
    static conn c;
    c.fd = -1;
    c.len = 0;
    c.timeout_ms = o->timeout_ms;
    int rc = -1;
    double t0 = now_s();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (c.fd < 0)
        goto out;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(r->err, sizeof r->err, "connect: %s", strerror(errno));
        goto out;
    }
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\n"
                      "Content-Type: application/x-protobuf\r\n"
                      "Content-Encoding: snappy\r\nAccept-Encoding: snappy\r\n"
                      "User-Agent: promstore-readbench/1.0\r\n"
                      "X-Prometheus-Remote-Read-Version: 0.1.0\r\n"
                      "Connection: close\r\nContent-Length: %zu\r\n\r\n",
                      path, host, (unsigned)port, blen);
    struct iovec iov[2] = {{head, (size_t)hn}, {(void *)body, blen}};
    int niov = 2;
    struct iovec *v = iov;
    while (niov > 0) {
        if (wait_fd(c.fd, POLLOUT, o->timeout_ms) != 0)
            goto out;
        ssize_t w = writev(c.fd, v, niov);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        while (niov > 0 && (size_t)w >= v->iov_len)
            w -= (ssize_t)v->iov_len, v++, niov--;
        if (niov > 0)
            v->iov_base = (char *)v->iov_base + w, v->iov_len -= (size_t)w;
    }
    uint8_t *end;
    for (;;) {
        while ((end = memmem(c.buf, c.len, "\r\n\r\n", 4)) == NULL)
            if (cfill(&c) != 1) {
                snprintf(r->err, sizeof r->err, "no response headers");
                goto out;
            }
        if (!r->ttfb_s)
            r->ttfb_s = now_s() - t0;
        if (sscanf((const char *)c.buf, "HTTP/1.%*d %d", &r->status) != 1)
            goto out;
        if (r->status >= 200)
            break;
        cconsume(&c, (size_t)(end + 4 - c.buf));
    }
    size_t hl = (size_t)(end - c.buf) + 4;
    char te[64], cl[32];
    header_value((const char *)c.buf, hl, "Content-Type", r->content_type, sizeof r->content_type);
    header_value((const char *)c.buf, hl, "Content-Encoding", r->content_encoding,
                 sizeof r->content_encoding);
    header_value((const char *)c.buf, hl, "Retry-After", r->retry_after, sizeof r->retry_after);
    header_value((const char *)c.buf, hl, "Transfer-Encoding", te, sizeof te);
    header_value((const char *)c.buf, hl, "Content-Length", cl, sizeof cl);
    cconsume(&c, hl);
    if (r->status == 200) {
        if (strcmp(r->content_type, CT_STREAMED) == 0 && !r->content_encoding[0])
            s.is_stream = 1;
        else if (strncmp(r->content_type, CT_SAMPLES, strlen(CT_SAMPLES)) == 0 &&
                 strcasecmp(r->content_encoding, "snappy") == 0)
            s.is_stream = 0;
        else
            sink_fail(&s, "200 with Content-Type \"%s\", Content-Encoding \"%s\"",
                      r->content_type, r->content_encoding);
        if (s.is_stream != o->streamed)
            sink_fail(&s, "asked for %s, got Content-Type \"%s\"",
                      o->streamed ? "streamed" : "samples", r->content_type);
    }
    if (strncasecmp(te, "chunked", 7) == 0) {
        for (;;) {
            size_t n;
            if (cline(&c, &n) != 0)
                goto out;
            unsigned long long sz = strtoull((const char *)c.buf, NULL, 16);
            cconsume(&c, n);
            if (sz == 0)
                break;
            if (cbody(&c, &s, sz) != 0)
                goto out;
            if (cline(&c, &n) != 0 || n != 2)
                goto out;
            cconsume(&c, n);
        }
    } else if (cl[0]) {
        if (cbody(&c, &s, strtoull(cl, NULL, 10)) != 0)
            goto out;
    } else if (cbody(&c, &s, UINT64_MAX) != 0)
        goto out;
    r->total_s = now_s() - t0;
    sink_end(&s);
    if (r->status == 200 && !r->err[0] && o->expect_series >= 0 &&
        r->series != (uint64_t)o->expect_series)
        snprintf(r->err, sizeof r->err, "%" PRIu64 " series, expected %" PRId64, r->series,
                 o->expect_series);
    rc = 0;
out:
    if (rc != 0 && !r->err[0]) {
        r->total_s = now_s() - t0;
        snprintf(r->err, sizeof r->err,
                 "transport error (cut, reset or timeout) after %.3f s, %" PRIu64
                 " body bytes, status %d", r->total_s, r->body_bytes, r->status);
    }
    if (c.fd >= 0)
        close(c.fd);
    free(s.buf);
    if (g_last.frame)
        prometheus__chunked_read_response__free_unpacked(g_last.frame, NULL);
    memset(&g_last, 0, sizeof g_last);
    return rc;
}

/* --- main ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: promstore-readbench [options] URL\n"
            "  URL                    e.g. http://127.0.0.1:9201/api/v1/read (loopback only)\n"
            "  -m, --match M          a matcher: name=v, name!=v, name=~re, name!~re (repeat;\n"
            "                         at least one)\n"
            "  -T, --type T           samples (as Prometheus 2.42: no accepted types) or\n"
            "                         streamed ([STREAMED_XOR_CHUNKS, SAMPLES], as >= 2.55)\n"
            "  -s, --start-ms T       query start, ms since the epoch (end - 1h)\n"
            "  -e, --end-ms T         query end, inclusive (now)\n"
            "  -n, --repeat N         measured reads, one at a time (5)\n"
            "  -w, --warmup N         unmeasured reads first (0)\n"
            "  -t, --timeout-ms N     per-read I/O timeout (120000)\n"
            "      --max-frame-bytes N  largest streamed frame accepted (50000000)\n"
            "      --max-body-bytes N   largest SAMPLES body accepted (1073741824)\n"
            "      --expect-series N    a 200 must hold exactly N series (not checked)\n"
            "  -q, --quiet            no per-read lines\n"
            "Exit status: 0 when every read got 200 and checked out, 3 otherwise.\n");
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, int n, double p)
{
    if (n == 0)
        return 0;
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

int main(int argc, char **argv)
{
    static opts o = {.repeat = 5, .timeout_ms = 120000, .max_frame_bytes = 50000000,
                     .max_body_bytes = 1ull << 30, .expect_series = -1};
    int have_start = 0, have_end = 0; /* any int64 is a valid time, INT64_MIN too */
    const char *type = "samples";
    static const struct option lo[] = {
        {"match", 1, 0, 'm'},   {"type", 1, 0, 'T'},       {"start-ms", 1, 0, 's'},
        {"end-ms", 1, 0, 'e'},  {"repeat", 1, 0, 'n'},     {"warmup", 1, 0, 'w'},
        {"timeout-ms", 1, 0, 't'}, {"max-frame-bytes", 1, 0, 'F'},
        {"max-body-bytes", 1, 0, 'B'}, {"expect-series", 1, 0, 'E'}, {"quiet", 0, 0, 'q'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "m:T:s:e:n:w:t:qh", lo, NULL)) != -1) {
        switch (ch) {
        case 'm':
            if (o.n_m == MAX_MATCHERS || parse_matcher(optarg, &o.m[o.n_m]) != 0) {
                fprintf(stderr, "readbench: bad or too many matchers: %s\n", optarg);
                return 2;
            }
            o.mp[o.n_m] = &o.m[o.n_m];
            o.n_m++;
            break;
        case 'T': type = optarg; break;
        case 's': o.start_ms = strtoll(optarg, NULL, 10), have_start = 1; break;
        case 'e': o.end_ms = strtoll(optarg, NULL, 10), have_end = 1; break;
        case 'n': o.repeat = atoi(optarg); break;
        case 'w': o.warmup = atoi(optarg); break;
        case 't': o.timeout_ms = atoi(optarg); break;
        case 'F': o.max_frame_bytes = strtoull(optarg, NULL, 10); break;
        case 'B': o.max_body_bytes = strtoull(optarg, NULL, 10); break;
        case 'E': o.expect_series = strtoll(optarg, NULL, 10); break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        o.url = argv[optind];
    o.streamed = strcmp(type, "streamed") == 0;
    if (!have_end)
        o.end_ms = wall_ms();
    if (!have_start)
        o.start_ms = o.end_ms > INT64_MIN + 3600000 ? o.end_ms - 3600000 : INT64_MIN;
    if (!o.url || o.n_m == 0 || (!o.streamed && strcmp(type, "samples") != 0) || o.repeat < 1 ||
        o.repeat > 100000 || o.warmup < 0 || o.timeout_ms < 1 || o.start_ms > o.end_ms ||
        o.expect_series < -1) {
        fprintf(stderr, "readbench: bad arguments\n");
        usage(stderr);
        return 2;
    }
    /* http://127.x.y.z:PORT/path, loopback only */
    char host[64] = "", path[256] = "/";
    unsigned port = 80;
    const char *u = o.url;
    if (strncmp(u, "http://", 7) != 0) {
        fprintf(stderr, "readbench: URL must be http://127.x.y.z:PORT/path\n");
        return 2;
    }
    u += 7;
    size_t hl = strcspn(u, ":/");
    if (hl == 0 || hl >= sizeof host)
        return 2;
    memcpy(host, u, hl);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
        fprintf(stderr, "readbench: loopback only: %s\n", host);
        return 2;
    }
    u += hl;
    if (*u == ':')
        port = (unsigned)strtoul(u + 1, (char **)&u, 10);
    if (*u == '/' && strlen(u) < sizeof path)
        strcpy(path, u);
    if (port == 0 || port > 65535)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    crc_init();
    if (crc32c((const uint8_t *)"123456789", 9) != 0xE3069283u) {
        fprintf(stderr, "readbench: CRC-32C self-check failed\n");
        return 1;
    }

    size_t blen;
    uint8_t *body = build_request(&o, &blen);
    if (!body)
        return 1;
    double *lat = calloc((size_t)o.repeat, sizeof *lat), *ttfb = calloc((size_t)o.repeat, sizeof *ttfb);
    if (!lat || !ttfb)
        return 1;
    int ok = 0, bad = 0, last_status = 0;
    result r, first = {0};
    char last_err[sizeof r.err] = "", last_retry[sizeof r.retry_after] = "-";
    int have_first = 0;
    for (int i = 0; i < o.warmup + o.repeat; i++) {
        int rc = do_read(&o, host, (uint16_t)port, path, body, blen, &r);
        int measured = i >= o.warmup;
        if (!o.quiet)
            printf("%s %d: status %d, %.3f ms (first byte %.3f ms), %" PRIu64 " bytes, %" PRIu64
                   " series, %" PRIu64 " samples, %" PRIu64 " chunks, %" PRIu64 " frames%s%s\n",
                   measured ? "read" : "warmup", measured ? i - o.warmup : i, r.status,
                   r.total_s * 1e3, r.ttfb_s * 1e3, r.body_bytes, r.series, r.samples, r.chunks,
                   r.frames, r.err[0] ? ": " : "", r.err);
        if (!measured)
            continue;
        last_status = r.status;
        if (r.retry_after[0])
            snprintf(last_retry, sizeof last_retry, "%s", r.retry_after);
        if (rc == 0 && r.status == 200 && !r.err[0])
            ok++;
        else {
            bad++;
            snprintf(last_err, sizeof last_err, "%s", r.err);
        }
        lat[i - o.warmup] = r.total_s;
        ttfb[i - o.warmup] = r.ttfb_s;
        if (!have_first) {
            first = r;
            have_first = 1;
        }
        fflush(stdout);
    }
    int n = o.repeat;
    qsort(lat, (size_t)n, sizeof *lat, cmp_d);
    qsort(ttfb, (size_t)n, sizeof *ttfb, cmp_d);
    if (last_err[0])
        fprintf(stderr, "readbench: error: %s\n", last_err);
    printf("RESULT type=%s reads=%d ok=%d errors=%d status=%d p50_ms=%.3f p99_ms=%.3f "
           "min_ms=%.3f max_ms=%.3f ttfb_p50_ms=%.3f bytes=%" PRIu64 " series=%" PRIu64
           " samples=%" PRIu64 " chunks=%" PRIu64 " frames=%" PRIu64 " max_frame=%" PRIu64
           " retry_after=%s\n",
           o.streamed ? "streamed" : "samples", n, ok, bad, last_status, pct(lat, n, 0.5) * 1e3,
           pct(lat, n, 0.99) * 1e3, lat[0] * 1e3, lat[n - 1] * 1e3, pct(ttfb, n, 0.5) * 1e3,
           first.body_bytes, first.series, first.samples, first.chunks, first.frames,
           first.max_frame, last_retry);
    free(lat), free(ttfb), free(body);
    return bad ? 3 : 0;
}
