/*
 * test_http_limits.c -- attacks on the HTTP layer itself, against the real
 * `promstore` binary (see harness.h): request framing (smuggling), answers
 * sent before the body is read, memory held by bodies, and slow bodies.
 * Run once per backend:
 *
 *   test_http_limits BACKEND PATH-TO-promstore
 *
 * Conflicting framing cannot be sent with curl, so those cases write raw
 * bytes over a TCP socket to 127.0.0.1. Every case prints one
 * "CASE name | request | outcome" line to stderr, for the tables of
 * docs/RELIABILITY.md. Every loop is bounded in count and in time.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "harness.h"

/* Each case's own server; stopped by the teardown even when the case fails. */
static h_fixture own;

static int own_teardown(void **state)
{
    (void)state;
    if (own.srv.pid > 0)
        h_fixture_done(&own);
    return 0;
}

/* Start `own` with extra flags (NULL-terminated, may be NULL). */
static h_fixture *start_own(const char *name, const char *const *extra)
{
    memset(&own, 0, sizeof own);
    h_fixture_init(&own, name);
    h_fixture_start(&own, extra);
    return &own;
}

/* The samples of series `name` over all time (at most max), as a remote read sees them. */
static size_t read_series(const h_fixture *f, const char *name, int64_t *t, double *v, size_t max)
{
    h_buf body = {0};
    h_read_request(&body, name, INT64_MIN, INT64_MAX);
    h_response r;
    long st = h_request(f, "POST", "/api/v1/read", h_read_headers, body.p, body.len, &r);
    h_buf_free(&body);
    if (st != 200) {
        h_dump_log(f->log);
        fail_msg("reading %s answered %ld: %s", name, st, r.body);
    }
    size_t n = 0;
    assert_int_equal(h_read_response_samples(r.body, r.body_len, t, v, max, &n), 0);
    h_response_free(&r);
    return n;
}

/* The status of the first HTTP response in raw bytes, or -1. */
static long raw_status(const char *raw)
{
    long st = -1;
    if (sscanf(raw, "HTTP/1.%*c %ld", &st) != 1)
        return -1;
    return st;
}

/* How many HTTP responses raw holds (status lines at the start of a line). */
static int raw_responses(const char *raw)
{
    int n = strncmp(raw, "HTTP/1.", 7) == 0;
    for (const char *p = raw; (p = strstr(p, "\nHTTP/1.")) != NULL; p++)
        n++;
    return n;
}

/*
 * Send the raw request bytes on a new connection and read until the server
 * closes it or timeout_s pass: the answer in out, how the connection ended
 * (as h_read_until_close), the seconds taken in *secs.
 */
static int raw_exchange(const h_fixture *f, const void *req, size_t len, double timeout_s,
                        char *out, size_t out_len, double *secs)
{
    int fd = h_connect(f->srv.port);
    assert_true(fd >= 0);
    double t0 = h_now_s();
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    int end = h_read_until_close(fd, timeout_s, out, out_len);
    *secs = h_now_s() - t0;
    close(fd);
    return end;
}

static const char *ending(int end)
{
    return end == 1 ? "closed by server" : end == 0 ? "left open" : "reset";
}

/* The first line of an HTTP response's body in raw bytes ("" when none). */
static void raw_body_line(const char *raw, char *out, size_t len)
{
    const char *b = strstr(raw, "\r\n\r\n");
    snprintf(out, len, "%.*s", b ? (int)strcspn(b + 4, "\n") : 0, b ? b + 4 : "");
}

/* --- Item: request framing ------------------------------------------------ */

/*
 * A request line and headers for POST /api/v1/write with extra framing
 * headers (each ending in CRLF), then the blank line.
 */
static void write_head(h_buf *out, const char *framing)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                     "X-Prometheus-Remote-Write-Version: 0.1.0\r\n%s\r\n",
                     framing);
    h_put(out, head, (size_t)n);
}

/*
 * Request smuggling: Content-Length covers a chunked body's terminator and a
 * whole second request behind it. A server framing by Content-Length sees one
 * request; one framing by chunked (libmicrohttpd) sees two and ran the
 * hidden write. Both headers at once is an error to answer 400 and close.
 */
static void test_smuggled_request(void **state)
{
    (void)state;
    h_fixture *f = start_own("smuggle", NULL);
    static const int64_t t[] = {1700000000000};
    static const double v[] = {42.0};
    h_buf hidden_body = {0}, hidden = {0}, body = {0}, req = {0};
    h_write_request(&hidden_body, "smuggled_hidden", "smuggle", t, v, 1);
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", hidden_body.len);
    write_head(&hidden, cl);
    h_put(&hidden, hidden_body.p, hidden_body.len);
    h_put(&body, "0\r\n\r\n", 5);
    h_put(&body, hidden.p, hidden.len);
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n", body.len);
    write_head(&req, cl);
    h_put(&req, body.p, body.len);

    char out[8192], line[256];
    double secs;
    int end = raw_exchange(f, req.p, req.len, 10.0, out, sizeof out, &secs);
    raw_body_line(out, line, sizeof line);
    fprintf(stderr, "CASE smuggled_request | Content-Length and Transfer-Encoding: chunked, a "
                    "write hidden after the chunked end | %ld, %d response(s), %s after %.1f s | "
                    "%s\n",
            raw_status(out), raw_responses(out), ending(end), secs, line);
    assert_int_equal(raw_status(out), 400);
    assert_int_equal(raw_responses(out), 1);
    assert_int_equal(end, 1);
    assert_non_null(strstr(line, "Transfer-Encoding"));
    assert_non_null(strstr(line, "Content-Length"));

    int64_t rt[4];
    double rv[4];
    assert_int_equal(read_series(f, "smuggled_hidden", rt, rv, 4), 0);
    /* The control: the same request sent on its own is stored and reads back. */
    h_response r;
    assert_int_equal(h_request(f, "POST", "/api/v1/write", h_write_headers, hidden_body.p,
                               hidden_body.len, &r),
                     204);
    h_response_free(&r);
    assert_int_equal(read_series(f, "smuggled_hidden", rt, rv, 4), 1);
    h_buf_free(&hidden_body);
    h_buf_free(&hidden);
    h_buf_free(&body);
    h_buf_free(&req);
    h_fixture_done(f);
}

/* One framing that is refused at the headers: status, closed, promptly. */
static void refused_framing(const h_fixture *f, const char *name, const char *framing,
                            const char *payload, long want, const char *substr)
{
    h_buf req = {0};
    write_head(&req, framing);
    h_put(&req, payload, strlen(payload));
    char out[8192], line[256], shown[128];
    double secs;
    int end = raw_exchange(f, req.p, req.len, 10.0, out, sizeof out, &secs);
    raw_body_line(out, line, sizeof line);
    snprintf(shown, sizeof shown, "%.*s", (int)strcspn(framing, "\r"), framing);
    fprintf(stderr, "CASE %s | %s | %ld, %s after %.1f s | %s\n", name, shown, raw_status(out),
            ending(end), secs, line);
    if (raw_status(out) != want)
        h_dump_log(f->log);
    assert_int_equal(raw_status(out), want);
    assert_int_equal(end, 1);
    /* Well under the read timeout (5 m): decided by the headers alone. */
    assert_true(secs < 5.0);
    assert_non_null(strstr(line, substr));
    h_buf_free(&req);
}

/*
 * A transfer coding other than plain chunked cannot be framed: 501 and close
 * at once (it used to wait for the read timeout). Two Content-Length headers
 * are as ambiguous as Content-Length with Transfer-Encoding: 400 and close.
 */
static void test_unknown_transfer_coding(void **state)
{
    (void)state;
    h_fixture *f = start_own("coding", NULL);
    refused_framing(f, "gzip_chunked", "Transfer-Encoding: gzip, chunked\r\n",
                    "5\r\nhello\r\n0\r\n\r\n", 501, "gzip, chunked");
    refused_framing(f, "identity", "Transfer-Encoding: identity\r\n", "hello", 501,
                    "identity");
    refused_framing(f, "two_transfer_encodings",
                    "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
                    "5\r\nhello\r\n0\r\n\r\n", 501, "Transfer-Encoding");
    refused_framing(f, "two_content_lengths", "Content-Length: 5\r\nContent-Length: 50\r\n",
                    "hello", 400, "Content-Length");
    /* Plain chunked still works, in any letter case. */
    h_response r;
    const char *hdrs[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                          "Transfer-Encoding: Chunked", NULL};
    h_buf body = {0};
    static const int64_t t[] = {1700000000000};
    static const double v[] = {1.0};
    h_write_request(&body, "chunked_ok", "coding", t, v, 1);
    assert_int_equal(h_request(f, "POST", "/api/v1/write", hdrs, body.p, body.len, &r), 204);
    h_response_free(&r);
    h_buf_free(&body);
    int64_t rt[4];
    double rv[4];
    assert_int_equal(read_series(f, "chunked_ok", rt, rv, 4), 1);
    h_fixture_done(f);
}

int main(int argc, char **argv)
{
    h_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_smuggled_request, own_teardown),
        cmocka_unit_test_teardown(test_unknown_transfer_coding, own_teardown),
    };
    char group[64];
    snprintf(group, sizeof group, "http_limits_%s", h_backend);
    int failed = cmocka_run_group_tests_name(group, tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
