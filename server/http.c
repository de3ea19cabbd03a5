/*
 * http.c -- libmicrohttpd glue. MHD calls on_request() several times per
 * request: first with the headers (we route, check the method and the
 * credentials, and may answer at once), then with each piece of the body
 * (collected up to --web.max-request-bytes), then once more with no data
 * (the handler runs). on_completed() counts the request and frees its state.
 *
 * NOTES ON THE DESIGN
 *
 * 1. The headers decide as much as they can, before a body byte is read or
 *    held (precheck): the framing (400/501, docs/PROTOCOL.md 4.1), the spare
 *    slots (503), the route (404), the method (405), a body where none is
 *    taken (413), the credentials (401), the announced length (413), and the
 *    body budget (503).
 * 2. Such a refusal is answered in one of two ways. A refused framing is
 *    answered at once with "Connection: close": the body cannot be trusted
 *    to end where MHD thinks. Any other is answered only after the body has
 *    been read and dropped (drain_first, bounded in bytes and time), at the
 *    last call, so the connection has no unread data when the answer goes
 *    out: closing on unread data resets the connection, and Go's client
 *    (Prometheus) then loses the answer.
 * 3. Every byte allocated for a body comes out of one budget shared by all
 *    connections (budget_take) and goes back when the request completes
 *    (drop_body), so memory for bodies is bounded by a flag, not by
 *    connections times the body limit.
 * 4. Time is deadline.c's: the whole-request read deadline, the minimum body
 *    rate, the shedding when slots run short. collect() tells it how much of
 *    the body came.
 */
#define _GNU_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "handlers.h"
#include "log.h"
#include "log_limit.h"
#include "metrics.h"
#include "read_pool.h"
#include "tls.h"
#include "units.h"

/* How long resumed reads get to answer at shutdown, after the grace period. */
#define STOP_RESUMED_MS 1000

/* The first buffer for a body whose length is not announced. */
#define BODY_INITIAL (64u << 10)

/*
 * A refused body is read and dropped before the answer goes out, at most
 * this many bytes (or twice --web.max-request-bytes, if more) and for at
 * most this long; past either the connection is cut.
 */
#define DRAIN_MIN_BYTES (64ull << 20)
#define DRAIN_MAX_MS 10000

/*
 * libmicrohttpd takes this many connections past --web.max-connections; those
 * spare ones may ask only for /-/healthy and /-/ready (see deadline.h).
 */
#define SPARE_SLOTS 4

static const struct route {
    const char *path;
    enum srv_route route;
    const char *allow; /* the Allow header of a 405 */
} routes[] = {
    {"/api/v1/write", SRV_ROUTE_WRITE, "POST"},
    {"/api/v1/read", SRV_ROUTE_READ, "POST"},
    {"/metrics", SRV_ROUTE_METRICS, "GET, HEAD"},
    {"/-/healthy", SRV_ROUTE_HEALTHY, "GET, HEAD"},
    {"/-/ready", SRV_ROUTE_READY, "GET, HEAD"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* TLS material stays allocated while the daemon runs. */
static char *tls_cert, *tls_key;
static char tls_priorities[SRV_TLS_PRIORITIES_MAX];

const char *srv_route_name(enum srv_route route)
{
    for (size_t i = 0; i < N_ROUTES; i++)
        if (routes[i].route == route)
            return routes[i].path;
    return "other";
}

const char *srv_http_header(srv_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

enum MHD_Result srv_http_send(srv_request *r, int status, struct MHD_Response *resp,
                              const char *message)
{
    if (resp == NULL)
        return MHD_NO; /* out of memory: MHD closes the connection */
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        r->status = status;
    if (status >= 400) {
        char code[16];
        snprintf(code, sizeof code, "%d", status);
        if (srv_log_limit_admit(srv_route_name(r->route), code))
            srv_log(SRV_LOG_WARN, "Request failed", "handler", srv_route_name(r->route), "code",
                    code, "err", message ? message : "", NULL);
    }
    return rc;
}

/* A text/plain response of text and a newline, not queued yet; NULL when out of memory. */
static struct MHD_Response *text_response(const char *text)
{
    size_t n = strlen(text);
    char *body = malloc(n + 2);
    if (body == NULL)
        return NULL;
    memcpy(body, text, n);
    body[n] = '\n';
    body[n + 1] = '\0';
    struct MHD_Response *resp = MHD_create_response_from_buffer(n + 1, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return resp;
}

enum MHD_Result srv_http_send_text(srv_request *r, int status, const char *text)
{
    struct MHD_Response *resp = text_response(text);
    if (resp == NULL)
        return MHD_NO;
    return srv_http_send(r, status, resp, text);
}

static const struct route *find_route(const char *url)
{
    for (size_t i = 0; i < N_ROUTES; i++)
        if (strcmp(routes[i].path, url) == 0)
            return &routes[i];
    return NULL;
}

static bool method_allowed(const struct route *rt, const char *method)
{
    if (strcmp(rt->allow, "POST") == 0)
        return strcmp(method, "POST") == 0;
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

static enum MHD_Result send_405(srv_request *r, const char *allow)
{
    static const char text[] = "method not allowed\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return srv_http_send(r, 405, resp, "method not allowed");
}

static enum MHD_Result send_401(srv_request *r)
{
    static const char text[] = "unauthorized\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            srv_auth_challenge(&r->srv->auth));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return srv_http_send(r, 401, resp, "missing or wrong credentials");
}

/* 413: r->why when the headers gave a reason, else the body outgrew the limit. */
static enum MHD_Result send_413(srv_request *r)
{
    if (r->why[0] == '\0')
        snprintf(r->why, sizeof r->why, "request body larger than %llu bytes",
                 (unsigned long long)r->srv->cfg->max_request_bytes);
    srv_metrics_limit(SRV_LIMIT_REQUEST_BYTES);
    return srv_http_send_text(r, 413, r->why);
}

/* 503 with Retry-After: the reason is r->why. */
static enum MHD_Result send_503(srv_request *r)
{
    struct MHD_Response *resp = text_response(r->why);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    return srv_http_send(r, 503, resp, r->why);
}

/*
 * The budget of --web.max-body-bytes-in-flight: every byte allocated for a
 * body being received is taken from it first (the announced length at the
 * headers, each growth of a chunked body's buffer as it arrives) and given
 * back when the request completes, so a few hundred connections cannot hold
 * a few hundred maximal bodies at once. False, with nothing taken and the
 * refusal counted, when n bytes do not fit.
 */
static bool budget_take(srv_request *r, size_t n)
{
    uint64_t max = r->srv->cfg->max_body_bytes_in_flight;
    uint_fast64_t held = atomic_load(&r->srv->body_bytes);
    do {
        if (n > max || held > max - n) {
            snprintf(r->why, sizeof r->why,
                     "request bodies being received would pass "
                     "--web.max-body-bytes-in-flight (%llu bytes): retry later",
                     (unsigned long long)max);
            srv_metrics_limit(SRV_LIMIT_BODY_BYTES);
            return false;
        }
    } while (!atomic_compare_exchange_weak(&r->srv->body_bytes, &held, held + n));
    r->reserved += n;
    return true;
}

/* Free the body buffer and give its bytes back to the budget. */
static void drop_body(srv_request *r)
{
    free(r->body);
    r->body = NULL;
    r->cap = 0;
    atomic_fetch_sub(&r->srv->body_bytes, r->reserved);
    r->reserved = 0;
}

/* The announced body length, or -1 when absent or not a number. */
static long long content_length(srv_request *r)
{
    const char *v = srv_http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n;
    char why[64];
    if (v == NULL || srv_parse_uint(v, &n, why, sizeof why) != 0 || n > (uint64_t)LLONG_MAX)
        return -1;
    return (long long)n;
}

/* True when the request carries a body (announced or chunked). */
static bool has_body(srv_request *r)
{
    return content_length(r) > 0 ||
           srv_http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* How often the headers that frame a body occur, and the Transfer-Encoding. */
struct framing {
    unsigned content_length, transfer_encoding;
    const char *coding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct framing *fr = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        fr->content_length++;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 && fr->transfer_encoding++ == 0)
        fr->coding = value;
    return MHD_YES;
}

/* True when a Transfer-Encoding value is exactly the chunked coding (any case). */
static bool plain_chunked(const char *coding)
{
    size_t n = strlen(coding);
    while (n > 0 && (coding[n - 1] == ' ' || coding[n - 1] == '\t'))
        n--;
    return n == 7 && strncasecmp(coding, "chunked", 7) == 0;
}

/*
 * The body must have one framing (docs/PROTOCOL.md 4.1):
 * libmicrohttpd frames by chunked when Content-Length comes too, and keeps the
 * connection, so a request hidden after the chunked end would run (request
 * smuggling); and it has no answer for a coding it cannot undo, it waits for
 * the read timeout. 400 or 501 (the reason in r->why), answered at once and
 * with the connection closed; 0 when the framing is sound.
 */
static int check_framing(srv_request *r)
{
    struct framing fr = {0, 0, NULL};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &fr);
    if (fr.transfer_encoding > 0 && fr.content_length > 0) {
        snprintf(r->why, sizeof r->why,
                 "both Content-Length and Transfer-Encoding are set: the body's framing is "
                 "ambiguous");
        return 400;
    }
    if (fr.content_length > 1) {
        snprintf(r->why, sizeof r->why,
                 "%u Content-Length headers: the body's framing is ambiguous", fr.content_length);
        return 400;
    }
    if (fr.transfer_encoding > 1) {
        snprintf(r->why, sizeof r->why,
                 "%u Transfer-Encoding headers: only one, \"chunked\", is accepted",
                 fr.transfer_encoding);
        return 501;
    }
    if (fr.transfer_encoding == 1 && !plain_chunked(fr.coding)) {
        snprintf(r->why, sizeof r->why,
                 "unsupported Transfer-Encoding \"%.100s\": only chunked is accepted", fr.coding);
        return 501;
    }
    return 0;
}

/*
 * What the headers alone decide: 400 or 501 for the framing, 503 for a spare
 * connection asking for more than a health check (r->closing set for these),
 * 404, 405 (its Allow in *allow), 413 (too large, or a body where none is
 * taken: the reason in r->why) or 401; 0 when the request may go on.
 */
static int precheck(srv_request *r, const char *url, const char *method, const char **allow)
{
    const struct route *rt = find_route(url);
    r->route = rt ? rt->route : SRV_ROUTE_OTHER;
    int framing = check_framing(r);
    if (framing != 0) {
        r->closing = true;
        return framing;
    }
    bool open = r->route == SRV_ROUTE_HEALTHY || r->route == SRV_ROUTE_READY;
    /* A spare connection (deadline.h) serves only the health checks. */
    if (!open && srv_deadline_spare(r->deadline)) {
        snprintf(r->why, sizeof r->why,
                 "all %llu connections (--web.max-connections) are taken; this spare one "
                 "serves only /-/healthy and /-/ready",
                 (unsigned long long)r->srv->cfg->max_connections);
        srv_metrics_limit(SRV_LIMIT_CONNECTIONS);
        r->closing = true;
        return 503;
    }
    if (rt == NULL)
        return 404;
    if (!method_allowed(rt, method)) {
        *allow = rt->allow;
        return 405;
    }
    /* Refused before anything is held: an open health check must not buffer. */
    if (strcmp(rt->allow, "POST") != 0 && has_body(r)) {
        snprintf(r->why, sizeof r->why, "%s takes no request body", rt->path);
        return 413;
    }
    if (!open && !srv_auth_check(&r->srv->auth,
                                 srv_http_header(r, MHD_HTTP_HEADER_AUTHORIZATION)))
        return 401;
    long long announced = content_length(r);
    if (announced > 0 && (uint64_t)announced > r->srv->cfg->max_request_bytes)
        return 413;
    return 0;
}

/* A refusal that closes the connection: nothing more is read from it. */
static enum MHD_Result send_closing(srv_request *r)
{
    struct MHD_Response *resp = text_response(r->why);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->early == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    return srv_http_send(r, r->early, resp, r->why);
}

static enum MHD_Result send_early(srv_request *r)
{
    if (r->closing)
        return send_closing(r);
    switch (r->early) {
    case 404:
        return srv_http_send_text(r, 404, "not found");
    case 405:
        return send_405(r, r->allow);
    case 401:
        return send_401(r);
    case 503:
        return send_503(r);
    default:
        return send_413(r);
    }
}

/* Seconds on the monotonic clock since t0. */
static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* How much of a refused body is read and dropped before answering. */
static uint64_t drain_limit(const srv_request *r)
{
    uint64_t twice = r->srv->cfg->max_request_bytes * 2;
    return twice > DRAIN_MIN_BYTES ? twice : DRAIN_MIN_BYTES;
}

/* The client waits for "100 Continue" before it sends the body. */
static bool expects_continue(srv_request *r)
{
    const char *v = srv_http_header(r, MHD_HTTP_HEADER_EXPECT);
    return v != NULL && strcasecmp(v, "100-continue") == 0;
}

/*
 * Whether a refused request's body is read and dropped before its answer
 * (lingering close, docs/PROTOCOL.md 4.1). Answered while the client is still
 * sending, libmicrohttpd closes the connection on unread data, the kernel
 * resets it, and a Go client (Prometheus) reports "broken pipe" instead of
 * the status, about three times in five, and retries the batch forever. Not
 * when the client waits for 100 Continue (it will not send the body), nor
 * when the announced body is past the drain limit (it is cut anyway).
 */
static bool drain_first(srv_request *r)
{
    long long announced = content_length(r);
    return !expects_continue(r) && (announced < 0 || (uint64_t)announced <= drain_limit(r));
}

/*
 * First call: the headers are in. An announced body takes its length from
 * the budget (budget_take) or is refused with 503. A refused framing is
 * answered now and the connection closed; a refused request with a body is
 * answered once its body has been read and dropped (drain_first), or now when
 * it will not be; anything else is answered at the last call, which keeps the
 * connection alive.
 */
static enum MHD_Result begin(srv_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    srv_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MHD_NO;
    r->srv = s;
    r->conn = conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->deadline = ci ? ci->socket_context : NULL;
    srv_deadline_request_begun(r->deadline);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    *con_cls = r;
    atomic_fetch_add(&s->in_flight, 1);
    r->early = precheck(r, url, method, &r->allow);
    long long announced = content_length(r);
    if (r->early == 0 && announced > 0 && !budget_take(r, (size_t)announced))
        r->early = 503;
    if (r->closing || (r->early != 0 && has_body(r) && !drain_first(r)))
        return send_early(r);
    if (r->early == 0 && announced > 0) {
        r->body = malloc((size_t)announced);
        r->cap = r->body ? (size_t)announced : 0;
        if (r->body == NULL)
            drop_body(r);
    }
    return MHD_YES;
}

/* Append a piece of the body, or note that it cannot be kept. */
static enum MHD_Result collect(srv_request *r, const char *data, size_t n)
{
    uint64_t max = r->srv->cfg->max_request_bytes;
    srv_deadline_body_arrived(r->deadline, n);
    if (r->too_large || r->no_memory || r->over_budget || r->early) {
        /* Drain (see drain_first); a sender that goes on too far or too long is cut off. */
        r->len += n < SIZE_MAX - r->len ? n : 0;
        bool too_much = r->len > drain_limit(r);
        return too_much || seconds_since(&r->start) * 1000 > DRAIN_MAX_MS ? MHD_NO : MHD_YES;
    }
    if (n > max - r->len) {
        r->too_large = true;
        drop_body(r);
        r->len = max + n;
        return MHD_YES;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : BODY_INITIAL;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > max)
            cap = (size_t)max;
        if (!budget_take(r, cap - r->cap)) {
            r->over_budget = true;
            drop_body(r);
            return MHD_YES;
        }
        uint8_t *p = realloc(r->body, cap);
        if (p == NULL) {
            r->no_memory = true;
            drop_body(r);
            return MHD_YES;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return MHD_YES;
}

/* Last call: the whole body is in (or was refused). */
static enum MHD_Result finish(srv_request *r)
{
    srv_deadline_request_read(r->deadline);
    if (r->early)
        return send_early(r);
    if (r->too_large)
        return send_413(r);
    if (r->over_budget)
        return send_503(r);
    if (r->no_memory)
        return srv_http_send_text(r, 503, "out of memory storing the request body");
    return srv_handle(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv_request *r = *con_cls;
    if (r == NULL)
        return begin(cls, conn, url, method, con_cls);
    if (*upload_size != 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        return r->status ? MHD_YES : collect(r, upload_data, n);
    }
    return r->status ? MHD_YES : finish(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    srv_server *s = cls;
    srv_request *r = *con_cls;
    if (r == NULL)
        return;
    if (r->status != 0)
        srv_metrics_request(r->route, r->status, seconds_since(&r->start));
    srv_deadline_request_done(r->deadline);
    srv_read_job_release(r->read); /* a read that never got to its answer */
    drop_body(r);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Connections come and go: track each one's read deadline. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    srv_server *s = cls;
    if (s->deadlines == NULL)
        return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? srv_deadline_track(s->deadlines, ci->connect_fd) : NULL;
    } else {
        srv_deadline_untrack(s->deadlines, *socket_context);
        *socket_context = NULL;
    }
}

static void count_cut(enum srv_cut_reason reason)
{
    srv_metrics_limit(reason == SRV_CUT_DEADLINE      ? SRV_LIMIT_READ_TIMEOUT
                      : reason == SRV_CUT_SLOW_BODY   ? SRV_LIMIT_BODY_RATE
                      : reason == SRV_CUT_WRITE_STALL ? SRV_LIMIT_WRITE_TIMEOUT
                                                      : SRV_LIMIT_CONNECTIONS);
}

/* Shed idle connections once three quarters of the slots are taken. */
static unsigned shed_threshold(unsigned max_connections)
{
    unsigned at = max_connections - max_connections / 4;
    return at > 0 ? at : 1;
}

/* libmicrohttpd's own complaints (bind failures, TLS handshakes) as log lines. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    srv_log(SRV_LOG_WARN, "libmicrohttpd", "err", buf, NULL);
}

/* Resolve the listen address to one socket address. */
static int resolve(const char *addr, struct sockaddr_storage *ss, char *why, size_t why_len)
{
    char host[256], port[8];
    uint16_t p;
    if (srv_split_hostport(addr, host, sizeof host, &p, why, why_len) != 0)
        return -1;
    snprintf(port, sizeof port, "%u", (unsigned)p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &res);
    if (rc != 0) {
        snprintf(why, why_len, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Read a whole (small) PEM file into a NUL-terminated buffer. */
static char *read_pem(const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL)
        goto fail;
    for (;;) {
        if (cap - len < 4096) {
            if (cap >= (1u << 20))
                goto fail; /* no PEM file is a megabyte */
            char *p = realloc(buf, cap + 8192);
            if (p == NULL)
                goto fail;
            buf = p;
            cap += 8192;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    buf[len] = '\0';
    return buf;
fail:
    snprintf(why, why_len, "cannot read \"%s\"", path);
    if (f)
        fclose(f);
    free(buf);
    return NULL;
}

static unsigned worker_threads(const srv_config *cfg)
{
    if (cfg->threads > 0)
        return (unsigned)cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void format_address(const struct sockaddr_storage *ss, uint16_t port, char *out,
                           size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    inet_ntop(ss->ss_family, a, host, sizeof host);
    snprintf(out, len, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}

static int load_tls(const srv_config *cfg, char *why, size_t why_len)
{
    if (cfg->tls_cert_file == NULL)
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(why, why_len, "this libmicrohttpd has no TLS support");
        return -1;
    }
    if (srv_tls_priorities(cfg->tls_min_version, cfg->tls_cipher_suites, tls_priorities,
                           sizeof tls_priorities, why, why_len) != 0)
        return -1;
    tls_cert = read_pem(cfg->tls_cert_file, why, why_len);
    tls_key = tls_cert ? read_pem(cfg->tls_key_file, why, why_len) : NULL;
    return tls_key ? 0 : -1;
}

int srv_http_start(srv_server *s, char *why, size_t why_len)
{
    const srv_config *cfg = s->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (resolve(cfg->listen_address, &ss, why, why_len) != 0 || load_tls(cfg, why, why_len) != 0)
        return -1;

    /*
     * poll(), not epoll (MHD_USE_AUTO picks epoll): with epoll, libmicrohttpd
     * 0.9.75 could stop accepting for good after its connection limit was
     * reached, even once the sweeper had freed every slot (seen with 2000
     * idle sockets against 512 slots: /-/healthy never answered). poll()
     * rebuilds its set on every turn, and a few hundred sockets cost nothing.
     */
    /*
     * Suspend/resume: a remote read's connection waits, suspended, while a
     * read thread works for it (read_pool.h), so no HTTP thread ever waits
     * for a read. MHD_ALLOW_SUSPEND_RESUME includes the ITC that wakes the
     * polling thread on a resume.
     */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls_cert)
        flags |= MHD_USE_TLS;
    unsigned timeout_s = (unsigned)((cfg->read_timeout_ms + 999) / 1000);
    srv_deadline_limits limits = {
        .timeout_ms = cfg->read_timeout_ms,
        .shed_at = shed_threshold((unsigned)cfg->max_connections),
        .max_connections = (unsigned)cfg->max_connections,
        .min_body_rate = cfg->min_body_rate,
        .min_body_grace_ms = cfg->min_body_rate_grace_ms,
        .write_timeout_ms = cfg->write_timeout_ms,
    };
    s->deadlines = srv_deadlines_start(&limits, count_cut);
    if (s->deadlines == NULL) {
        snprintf(why, why_len, "cannot start the connection sweeper thread");
        return -1;
    }
    s->reads = srv_read_pool_start(s->db, (unsigned)cfg->read_concurrent_limit,
                                   cfg->read_queue_timeout_ms);
    if (s->reads == NULL) {
        srv_deadlines_stop(s->deadlines);
        s->deadlines = NULL;
        snprintf(why, why_len, "cannot start the remote-read threads");
        return -1;
    }
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)worker_threads(cfg), NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)(cfg->max_connections + SPARE_SLOTS), NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)cfg->connection_memory_limit, NULL},
        {tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, tls_priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The logger goes first so that MHD reports option problems through it. */
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                                 MHD_OPTION_ARRAY, ops, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
                                 s, MHD_OPTION_END);
    if (s->daemon == NULL) {
        srv_read_pool_stop(s->reads);
        srv_read_pool_free(s->reads);
        s->reads = NULL;
        srv_deadlines_stop(s->deadlines);
        s->deadlines = NULL;
        snprintf(why, why_len, "cannot listen on %s (address in use or not permitted?)",
                 cfg->listen_address);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    char shown[INET6_ADDRSTRLEN + 16];
    format_address(&ss, s->port, shown, sizeof shown);
    srv_log(SRV_LOG_INFO, "Listening on", "address", shown, "tls", tls_cert ? "true" : "false",
            NULL);
    return 0;
}

void srv_http_stop(srv_server *s, int grace_ms)
{
    if (s->daemon == NULL)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Reads waiting for a slot are answered now; they would only use up the grace. */
    srv_read_pool_close(s->reads);
    /* MHD_stop_daemon closes open connections; let running requests end first. */
    struct timespec tick = {0, 10 * 1000 * 1000};
    int waited = 0;
    for (; atomic_load(&s->in_flight) > 0 && waited < grace_ms; waited += 10)
        nanosleep(&tick, NULL);
    /*
     * No connection may stay suspended past here (MHD's rule): the pool
     * refuses its waiters, cuts streams at their next piece and resumes
     * every connection; those then answer and end, given a little more time.
     */
    srv_read_pool_stop(s->reads);
    for (int more = 0; atomic_load(&s->in_flight) > 0 && more < STOP_RESUMED_MS; more += 10)
        nanosleep(&tick, NULL);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    /* After the daemon: every response, and so every read job, is freed. */
    srv_read_pool_free(s->reads);
    s->reads = NULL;
    /* After the daemon: its connections have all been untracked by now. */
    srv_deadlines_stop(s->deadlines);
    s->deadlines = NULL;
    free(tls_cert);
    free(tls_key);
    tls_cert = tls_key = NULL;
}
