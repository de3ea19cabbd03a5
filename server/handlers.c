/*
 * handlers.c -- what each endpoint answers. Remote write and remote read are
 * thin: the library decides every status, header and byte
 * (promstore_remote_write, promstore_remote_read_open/_next), and this file
 * only copies its answer onto the wire, streaming read bodies as they are
 * produced so memory stays bounded by the library's frame size.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "log_limit.h"
#include "metrics.h"

/* Block size MHD asks the read stream for; the reader's pieces are copied in. */
#define STREAM_BLOCK (64u << 10)

/* The request as the protocol entry points take it. */
static promstore_http_request protocol_request(srv_request *r)
{
    promstore_http_request req;
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    req.content_type = srv_http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    req.content_encoding = srv_http_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    req.body = r->body;
    req.body_len = r->len;
    return req;
}

/* The library's headers onto an MHD response; an error body is text/plain. */
static void add_protocol_headers(struct MHD_Response *resp, const promstore_http_response *pr)
{
    if (pr->status >= 400) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    } else {
        if (pr->content_type[0])
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, pr->content_type);
        if (pr->content_encoding[0])
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
                                    pr->content_encoding);
    }
    /* The library's strings are NUL-terminated, n_headers within bounds. */
    for (size_t i = 0; i < pr->n_headers; i++)
        MHD_add_response_header(resp, pr->headers[i].name, pr->headers[i].value);
}

/* A complete (not streamed) protocol answer: the message body for >= 400. */
static enum MHD_Result send_protocol(srv_request *r, const promstore_http_response *pr)
{
    int status = pr->status >= 100 && pr->status <= 599 ? pr->status : 500;
    srv_metrics_status(r->route, status, pr->message);
    size_t len = 0;
    char *body = NULL;
    if (status >= 400) {
        len = strlen(pr->message);
        body = malloc(len + 1);
        if (body == NULL)
            return MHD_NO;
        memcpy(body, pr->message, len);
        body[len++] = '\n';
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    add_protocol_headers(resp, pr);
    return srv_http_send(r, status, resp, pr->message);
}

/* The entry point itself failed (bad struct): our bug, answered as 500. */
static enum MHD_Result send_library_failure(srv_request *r, const promstore_error *err)
{
    char msg[PROMSTORE_ERROR_MESSAGE_MAX + 32];
    snprintf(msg, sizeof msg, "internal error: %s", err->message);
    return srv_http_send_text(r, 500, msg);
}

static enum MHD_Result handle_write(srv_request *r)
{
    promstore_http_request req = protocol_request(r);
    promstore_http_response pr;
    promstore_error err;
    memset(&pr, 0, sizeof pr);
    memset(&err, 0, sizeof err);
    pr.struct_size = sizeof pr;
    if (promstore_remote_write(r->srv->db, &req, &pr, &err) != PROMSTORE_OK)
        return send_library_failure(r, &err);
    srv_metrics_write(&pr);
    return send_protocol(r, &pr);
}

/* A streamed remote-read body: the reader and the piece being copied out. */
struct read_stream {
    promstore_reader *reader;
    const uint8_t *piece;
    size_t len, off;
};

/* MHD pulls the body here; a reader error cuts the stream (the client sees it). */
static ssize_t read_stream_pull(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct read_stream *st = cls;
    while (st->off == st->len) {
        promstore_error err;
        promstore_status rc = promstore_remote_read_next(st->reader, &st->piece, &st->len, &err);
        st->off = 0;
        if (rc == PROMSTORE_DONE)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc != PROMSTORE_OK) {
            if (rc == PROMSTORE_E_LIMIT)
                srv_metrics_read_limit(err.message);
            if (srv_log_limit_admit("/api/v1/read", "cut_short"))
                srv_log(SRV_LOG_WARN, "Remote read cut short", "handler", "/api/v1/read", "err",
                        err.message, NULL);
            st->len = 0;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(buf, st->piece + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void read_stream_free(void *cls)
{
    struct read_stream *st = cls;
    promstore_remote_read_close(st->reader);
    srv_metrics_reads_open(-1);
    free(st);
}

static enum MHD_Result handle_read(srv_request *r)
{
    promstore_http_request req = protocol_request(r);
    promstore_http_response pr;
    promstore_error err;
    promstore_reader *reader = NULL;
    memset(&pr, 0, sizeof pr);
    memset(&err, 0, sizeof err);
    pr.struct_size = sizeof pr;
    if (promstore_remote_read_open(r->srv->db, &req, &pr, &reader, &err) != PROMSTORE_OK)
        return send_library_failure(r, &err);
    if (pr.status != 200 || reader == NULL) {
        promstore_remote_read_close(reader);
        return send_protocol(r, &pr);
    }
    struct read_stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        promstore_remote_read_close(reader);
        return srv_http_send_text(r, 503, "out of memory starting the response");
    }
    st->reader = reader;
    srv_metrics_reads_open(1);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, read_stream_pull, st, read_stream_free);
    if (resp == NULL) {
        read_stream_free(st);
        return MHD_NO;
    }
    add_protocol_headers(resp, &pr);
    return srv_http_send(r, 200, resp, NULL);
}

static enum MHD_Result handle_metrics(srv_request *r)
{
    size_t len;
    char *text = srv_metrics_render(r->srv->db, &len);
    if (text == NULL)
        return srv_http_send_text(r, 500, "out of memory rendering metrics");
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    return srv_http_send(r, 200, resp, NULL);
}

enum MHD_Result srv_handle(srv_request *r)
{
    switch (r->route) {
    case SRV_ROUTE_WRITE:
        return handle_write(r);
    case SRV_ROUTE_READ:
        return handle_read(r);
    case SRV_ROUTE_METRICS:
        return handle_metrics(r);
    case SRV_ROUTE_HEALTHY:
        return srv_http_send_text(r, 200, "Healthy");
    case SRV_ROUTE_READY:
        if (atomic_load(&r->srv->ready))
            return srv_http_send_text(r, 200, "Ready");
        return srv_http_send_text(r, 503, "Service Unavailable");
    default:
        return srv_http_send_text(r, 404, "not found");
    }
}
