/*
 * protocol.c -- helpers shared by the remote storage protocol entry points:
 * header checks, the snappy body under limits, the bounded protobuf-c
 * allocator and response filling. See protocol.h.
 */
#include "protocol.h"
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

/* --- argument checks -------------------------------------------------------- */

promstore_status ps_proto_args_ok(const promstore *db, const promstore_http_request *req,
                                  const promstore_http_response *resp, promstore_error *err)
{
    if (!ps_engine_handle_ok(db) || req == NULL || resp == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "bad handle or NULL request/response");
    /* Both structs are as of 1.0; a later, longer struct is fine. */
    if (req->struct_size < sizeof *req)
        return ps_fail(err, PROMSTORE_E_INVALID, "request struct_size %zu is too small",
                       req->struct_size);
    if (resp->struct_size < sizeof *resp)
        return ps_fail(err, PROMSTORE_E_INVALID, "response struct_size %zu is too small",
                       resp->struct_size);
    if (req->body == NULL && req->body_len > 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "NULL body with body_len %zu", req->body_len);
    return PROMSTORE_OK;
}

/* --- headers ----------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Trim [*s, *s + *len) of surrounding whitespace. */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

int ps_span_eq_nocase(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (n != len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lower(lit[i]))
            return 0;
    return 1;
}

int ps_span_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Handle one "name=value" parameter of a Content-Type. */
static int content_type_param(const char *p, size_t len, ps_content_type *out)
{
    const char *eq = memchr(p, '=', len);
    if (eq == NULL)
        return -1;
    const char *name = p, *value = eq + 1;
    size_t name_len = (size_t)(eq - p), value_len = len - name_len - 1;
    trim(&name, &name_len);
    trim(&value, &value_len);
    if (value_len >= 2 && value[0] == '"' && value[value_len - 1] == '"') {
        value++;
        value_len -= 2;
    }
    if (ps_span_eq_nocase(name, name_len, "proto")) {
        out->proto = value;
        out->proto_len = value_len;
    }
    /* Other parameters (charset, ...) mean nothing for protobuf; ignore them. */
    return 0;
}

int ps_content_type_parse(const char *header, ps_content_type *out)
{
    memset(out, 0, sizeof *out);
    const char *p = header;
    size_t left = strlen(header);
    int first = 1;
    for (;;) {
        const char *semi = memchr(p, ';', left);
        size_t part = semi ? (size_t)(semi - p) : left;
        const char *s = p;
        size_t n = part;
        trim(&s, &n);
        if (first) {
            if (n == 0)
                return -1;
            out->media = s;
            out->media_len = n;
            first = 0;
        } else if (n > 0 && content_type_param(s, n, out) != 0) {
            return -1;
        }
        if (semi == NULL)
            return 0;
        p = semi + 1;
        left -= part + 1;
    }
}

int ps_proto_check_encoding(const promstore_http_request *req, promstore_http_response *resp)
{
    if (req->content_encoding == NULL)
        return 0;
    const char *s = req->content_encoding;
    size_t n = strlen(s);
    trim(&s, &n);
    if (n == 0 || ps_span_eq_nocase(s, n, "snappy"))
        return 0;
    ps_resp_error(resp, 415, "unsupported Content-Encoding \"%.*s\": only snappy is accepted",
                  (int)(n < 64 ? n : 64), s);
    return -1;
}

/* --- the body ------------------------------------------------------------------ */

const uint8_t ps_snappy_framed_magic[10] = {0xff, 0x06, 0x00, 0x00, 0x73,
                                            0x4e, 0x61, 0x50, 0x70, 0x59};

static int is_framed(const uint8_t *body, size_t len)
{
    return len >= sizeof ps_snappy_framed_magic &&
           memcmp(body, ps_snappy_framed_magic, sizeof ps_snappy_framed_magic) == 0;
}

int ps_proto_unsnappy(const promstore *db, const uint8_t *body, size_t body_len,
                      const char *what, uint8_t **out, size_t *out_len,
                      promstore_http_response *resp)
{
    const ps_remote_limits *lim = ps_engine_remote_limits(db);
    *out = NULL;
    *out_len = 0;
    if (body_len > lim->max_request_bytes) {
        ps_resp_error(resp, 413, "request body of %zu bytes is larger than the limit of %llu",
                      body_len, (unsigned long long)lim->max_request_bytes);
        return -1;
    }
    /* A framed stream's first bytes happen to parse as a block length, so
     * recognise it first: the sender is misconfigured, tell it how. */
    if (is_framed(body, body_len)) {
        ps_resp_error(resp, 400, "corrupt snappy body: it is in the snappy framed (stream) "
                                 "format, which is not supported; send the block format");
        return -1;
    }
    size_t n = 0;
    if (body_len == 0 ||
        snappy_uncompressed_length((const char *)body, body_len, &n) != SNAPPY_OK) {
        ps_resp_error(resp, 400, "corrupt snappy body: bad length header (%zu bytes received)",
                      body_len);
        return -1;
    }
    if (n > lim->max_decoded_bytes) {
        ps_resp_error(resp, 413, "decoded %s of %zu bytes is larger than the limit of %llu",
                      what, n, (unsigned long long)lim->max_decoded_bytes);
        return -1;
    }
    uint8_t *buf = ps_malloc(n ? n : 1);
    if (buf == NULL) {
        ps_resp_error(resp, 503, "no memory for a decoded %s of %zu bytes", what, n);
        ps_resp_header(resp, "Retry-After", "1");
        return -1;
    }
    size_t got = n;
    if (snappy_uncompress((const char *)body, body_len, (char *)buf, &got) != SNAPPY_OK ||
        got != n) {
        ps_free(buf);
        ps_resp_error(resp, 400, "corrupt snappy body: decompression failed");
        return -1;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

/*
 * Decoding takes more memory than the message's wire size: every submessage
 * becomes a struct (a v2 TimeSeries is 112 bytes, pointer included, for as
 * little as 2 bytes of wire) and every repeated element a pointer. Measured
 * with protobuf-c 1.4.1 on 500-series requests: 1.0 with Prometheus-like
 * labels 5x, 1.0 with one-letter labels 9x, 2.0 (symbols make the wire
 * compact) 8x. 16x plus 1 MiB keeps twice that room for honest requests and
 * still bounds a hostile one: at the default 32 MiB decoded limit at most
 * ~0.5 GiB per request, where unbounded it could reach ~1.8 GiB (56x).
 */
#define PS_PB_RATIO 16
#define PS_PB_SLACK ((size_t)1 << 20)

#define PB_BLOCK_MIN ((size_t)64 << 10)
#define PB_BLOCK_MAX ((size_t)1 << 20)
#define PB_ALIGN 16

/*
 * Objects are carved from blocks and never freed one by one: unpacking a
 * 2,000-series request makes some 16,000 objects, and a malloc/free each
 * showed in profiles of the write path. The bound still counts every byte.
 */
static void *pb_alloc(void *data, size_t size)
{
    ps_pb_alloc *pa = data;
    if (size > pa->limit - pa->used) {
        pa->refused = 1;
        return NULL;
    }
    size_t need = (size + PB_ALIGN - 1) & ~(size_t)(PB_ALIGN - 1);
    if (need == 0)
        need = PB_ALIGN;
    if (pa->blocks == NULL || pa->block_cap - pa->block_used < need) {
        size_t cap = pa->block_cap ? pa->block_cap * 2 : PB_BLOCK_MIN;
        if (cap > PB_BLOCK_MAX)
            cap = PB_BLOCK_MAX;
        if (cap < need + PB_ALIGN)
            cap = need + PB_ALIGN; /* a large array gets a block of its own */
        uint8_t *b = ps_malloc(cap);
        if (b == NULL) {
            pa->oom = 1;
            return NULL;
        }
        memcpy(b, &pa->blocks, sizeof pa->blocks); /* link to the previous block */
        pa->blocks = b;
        pa->block_cap = cap;
        pa->block_used = PB_ALIGN; /* the link lives in the first PB_ALIGN bytes */
    }
    void *p = (uint8_t *)pa->blocks + pa->block_used;
    pa->block_used += need;
    pa->used += size;
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data, (void)p; /* the arena is released whole */
}

void ps_pb_alloc_release(ps_pb_alloc *pa)
{
    while (pa->blocks != NULL) {
        void *prev;
        memcpy(&prev, pa->blocks, sizeof prev);
        ps_free(pa->blocks);
        pa->blocks = prev;
    }
    pa->block_used = pa->block_cap = 0;
}

void ps_pb_alloc_init(ps_pb_alloc *pa, size_t encoded_len)
{
    memset(pa, 0, sizeof *pa);
    pa->base.alloc = pb_alloc;
    pa->base.free = pb_free;
    pa->base.allocator_data = pa;
    if (encoded_len > (SIZE_MAX - PS_PB_SLACK) / PS_PB_RATIO)
        pa->limit = SIZE_MAX;
    else
        pa->limit = encoded_len * PS_PB_RATIO + PS_PB_SLACK;
}

void ps_proto_decode_failed(const ps_pb_alloc *pa, const char *what,
                            promstore_http_response *resp)
{
    if (pa->refused) {
        ps_resp_error(resp, 413, "cannot decode %s: it needs more than %zu bytes of memory",
                      what, pa->limit);
    } else if (pa->oom) {
        ps_resp_error(resp, 503, "cannot decode %s: out of memory", what);
        ps_resp_header(resp, "Retry-After", "1");
    } else {
        ps_resp_error(resp, 400, "cannot decode %s: the protobuf message is malformed or "
                                 "truncated", what);
    }
}

/* --- the response ------------------------------------------------------------------ */

void ps_resp_init(promstore_http_response *resp)
{
    size_t size = resp->struct_size;
    memset(resp, 0, sizeof *resp);
    resp->struct_size = size;
}

void ps_resp_error(promstore_http_response *resp, int status, const char *fmt, ...)
{
    resp->status = status;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", PS_TEXT_PLAIN);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(resp->message, sizeof resp->message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof resp->message)
        memcpy(resp->message + sizeof resp->message - 4, "...", 4);
    /* One line: a sender logs only the first line of the body. */
    for (char *p = resp->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

int ps_resp_header(promstore_http_response *resp, const char *name, const char *fmt, ...)
{
    if (resp->n_headers >= PROMSTORE_HTTP_MAX_HEADERS ||
        strlen(name) >= sizeof resp->headers[0].name)
        return -1;
    promstore_http_header *h = &resp->headers[resp->n_headers];
    snprintf(h->name, sizeof h->name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof h->value, fmt, ap);
    va_end(ap);
    resp->n_headers++;
    return 0;
}

int ps_http_status(promstore_status rc)
{
    switch (rc) {
    case PROMSTORE_OK:
    case PROMSTORE_DONE:
        return 200;
    case PROMSTORE_E_BAD_LABELS:
    case PROMSTORE_E_OUT_OF_ORDER:
    case PROMSTORE_E_INVALID:
    case PROMSTORE_E_BAD_MATCHER:
    case PROMSTORE_E_UNSUPPORTED:
    case PROMSTORE_E_LIMIT:
        return 400;
    case PROMSTORE_E_BUSY:
    case PROMSTORE_E_NOMEM:
        return 503;
    case PROMSTORE_E_FULL:
        return 507;
    default:
        return 500;
    }
}

void ps_resp_engine_error(promstore_http_response *resp, const promstore_error *e)
{
    int status = ps_http_status(e->status);
    if (status < 400)
        status = 500; /* an error without an error code: a bug, but answer safely */
    ps_resp_error(resp, status, "%s", e->message[0] ? e->message : promstore_strerror(e->status));
    if (status == 503)
        ps_resp_header(resp, "Retry-After", "1");
    /*
     * A full store frees itself only as fast as retention allows: the failed
     * append has woken the maintenance thread, whose pass takes a moment, and
     * without retention an operator must act. Ask senders to back off for
     * longer than a busy store would, so that they do not hammer a full disk.
     */
    if (status == 507)
        ps_resp_header(resp, "Retry-After", PS_RETRY_AFTER_FULL_S);
}
