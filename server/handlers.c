/*
 * handlers.c -- what each endpoint answers. Remote write and remote read are
 * thin: the library decides every status, header and byte
 * (promstore_remote_write, promstore_remote_read_open/_next), and this file
 * only copies its answer onto the wire. A remote read's work runs on the
 * read threads (read_pool.h), its body streamed as they produce it, so
 * memory stays bounded by the library's frame size plus one batch.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "log_limit.h"
#include "metrics.h"
#include "read_pool.h"

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

/* MHD pulls the body here; a reader error cuts the stream (the client sees it). */
static ssize_t read_stream_pull(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    promstore_status failed = PROMSTORE_OK;
    const char *why = "";
    ssize_t n = srv_read_job_pull(cls, buf, max, &failed, &why);
    if (n == MHD_CONTENT_READER_END_WITH_ERROR) {
        if (failed == PROMSTORE_E_LIMIT)
            srv_metrics_read_limit(why);
        if (srv_log_limit_admit("/api/v1/read", "cut_short"))
            srv_log(SRV_LOG_WARN, "Remote read cut short", "handler", "/api/v1/read", "err", why,
                    NULL);
    }
    return n;
}

/* The response is freed (sent, or its connection closed): so are the reader and its slot. */
static void read_stream_free(void *cls)
{
    srv_read_job_release(cls);
    srv_metrics_reads_open(-1);
}

/* Stream the body of an opened read; the response takes the job over. */
static enum MHD_Result stream_read(srv_request *r, srv_read_job *job,
                                   const promstore_http_response *pr)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, read_stream_pull, job, read_stream_free);
    if (resp == NULL)
        return MHD_NO; /* MHD closes the connection; on_completed releases the job */
    r->read = NULL;
    srv_metrics_reads_open(1);
    add_protocol_headers(resp, pr);
    return srv_http_send(r, 200, resp, NULL);
}

/*
 * Called twice (read_pool.h): first it hands the read to a read thread and
 * leaves the connection suspended; after the resume it answers with what
 * the open decided, or 503 when no slot freed in time.
 */
static enum MHD_Result handle_read(srv_request *r)
{
    if (r->read == NULL) {
        promstore_http_request req = protocol_request(r);
        r->read = srv_read_submit(r->srv->reads, r->conn, r->deadline, &req);
        if (r->read == NULL)
            return srv_http_send_text(r, 503, "out of memory starting a remote read");
        return MHD_YES;
    }
    srv_read_job *job = r->read;
    promstore_status rc;
    const promstore_http_response *pr;
    const promstore_error *err;
    enum MHD_Result sent;
    switch (srv_read_job_state(job, &rc, &pr, &err)) {
    case SRV_READ_PENDING:
        return MHD_YES; /* not resumed by the pool: nothing to answer yet */
    case SRV_READ_REFUSED:
        sent = send_protocol(r, pr); /* counted as read_concurrency, as the library's 503 */
        break;
    default:
        if (rc != PROMSTORE_OK)
            sent = send_library_failure(r, err);
        else if (srv_read_job_streams(job))
            return stream_read(r, job, pr);
        else
            sent = send_protocol(r, pr);
        break;
    }
    /* The answer holds copies of what it needs from the job. */
    r->read = NULL;
    srv_read_job_release(job);
    return sent;
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
