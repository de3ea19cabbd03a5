/*
 * http.h -- the libmicrohttpd glue: starting and stopping the daemon, the
 * per-request state, routing, authentication, body collection, and the
 * helpers handlers.c answers with.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server.h"

/* One request, from its headers to NOTIFY_COMPLETED (kept in *con_cls). */
typedef struct srv_request {
    srv_server *srv;
    struct MHD_Connection *conn;
    struct srv_deadline *deadline; /* its connection's read deadline, or NULL */
    enum srv_route route;
    struct timespec start; /* CLOCK_MONOTONIC at the headers */
    uint8_t *body;
    size_t len, cap;
    bool too_large; /* the body outgrew the limit: answer 413 */
    bool no_memory; /* the body could not be stored: answer 503 */
    bool over_budget; /* bodies in flight reached their budget: answer 503 */
    size_t reserved;  /* bytes of srv->body_bytes this request holds */
    int early;      /* 400, 501, 404, 405, 401 or 413 decided by the headers, or 0 */
    bool closing;   /* the framing is refused: answer at once and close */
    char why[192];  /* the message of an early answer that needs one */
    const char *allow; /* the Allow header of a 405 */
    int status;     /* what was queued, 0 until then */
    struct srv_read_job *read; /* a remote read in the read pool, until its answer */
} srv_request;

/*
 * Start listening as s->cfg says; fills s->daemon and s->port. Returns 0, or
 * -1 with a reason in why.
 */
int srv_http_start(srv_server *s, char *why, size_t why_len);

/*
 * Stop: refuse new connections at once, give requests in flight up to
 * grace_ms to finish, then close everything. The store can be closed after.
 */
void srv_http_stop(srv_server *s, int grace_ms);

/* A request header's value, or NULL. */
const char *srv_http_header(srv_request *r, const char *name);

/*
 * Queue resp with this status (the response is then released), log it at
 * warn when status >= 400 with `message`, and remember the status.
 */
enum MHD_Result srv_http_send(srv_request *r, int status, struct MHD_Response *resp,
                              const char *message);

/* Answer status with a short text/plain body (a newline is added). */
enum MHD_Result srv_http_send_text(srv_request *r, int status, const char *text);

#endif
