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
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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
    if (own.dir[0] != '\0')
        h_fixture_done(&own); /* also when the server never started */
    memset(&own, 0, sizeof own);
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
    int fd = h_connect(f->srv.port, 0);
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

/* --- Item: memory held by bodies ------------------------------------------- */

/* Send all n bytes of p; false when the connection failed. */
static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}

/* Send n filler bytes. */
static bool send_filler(int fd, size_t n)
{
    static char block[64 << 10];
    memset(block, 0xa5, sizeof block);
    while (n > 0) {
        size_t k = n < sizeof block ? n : sizeof block;
        if (!send_all(fd, block, k))
            return false;
        n -= k;
    }
    return true;
}

/* A field of /proc/PID/status in KiB (VmRSS, VmHWM), or -1. */
static long proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    long kib = -1;
    size_t n = strlen(field);
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    if (fp)
        fclose(fp);
    return kib;
}

/* Read until the end of a response head ("\r\n\r\n") or timeout_s; false when none came. */
static bool read_head(int fd, double timeout_s, char *out, size_t len)
{
    size_t got = 0;
    double t0 = h_now_s();
    out[0] = '\0';
    while (strstr(out, "\r\n\r\n") == NULL && got < len - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        double left = timeout_s - (h_now_s() - t0);
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            return false;
        ssize_t n = recv(fd, out + got, len - 1 - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
        out[got] = '\0';
    }
    return strstr(out, "\r\n\r\n") != NULL;
}

/*
 * Sixteen unauthenticated GET /-/healthy, each with a 32 MiB body, sent at
 * once: each used to be buffered in full (RSS 527 MiB), and at the default
 * 512 connections that is 16 GiB. A route that takes no body refuses one at
 * the headers (413), reads it without keeping it, and only then answers.
 */
static void test_health_check_bodies(void **state)
{
    (void)state;
    enum { N = 16 };
    const size_t body = 32u << 20, held = body - (1u << 20);
    h_fixture *f = start_own("bodies", NULL);
    long hwm0 = proc_kib(f->srv.pid, "VmHWM");
    assert_true(hwm0 > 0);
    int fds[N];
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n",
                      body);
    /* All sixteen hold all but the last MiB of their bodies at once. */
    for (int i = 0; i < N; i++) {
        fds[i] = h_connect(f->srv.port, 0);
        assert_true(fds[i] >= 0);
        assert_true(send_all(fds[i], head, (size_t)hl));
        assert_true(send_filler(fds[i], held));
    }
    long grown = proc_kib(f->srv.pid, "VmHWM") - hwm0;
    int refused = 0;
    char out[4096], line[256];
    for (int i = 0; i < N; i++) {
        assert_true(send_filler(fds[i], body - held));
        shutdown(fds[i], SHUT_WR);
        h_read_until_close(fds[i], 10.0, out, sizeof out);
        close(fds[i]);
        raw_body_line(out, line, sizeof line);
        if (raw_status(out) == 413 && strstr(line, "/-/healthy takes no request body"))
            refused++;
    }
    fprintf(stderr, "CASE health_check_bodies | %d GET /-/healthy with 32 MiB bodies at once | "
                    "%d of %d: 413 %s | peak RSS grew %ld KiB\n",
            N, refused, N, line, grown);
    assert_int_equal(refused, N);
    assert_true(grown < 64 * 1024);
    h_response r;
    assert_int_equal(h_request(f, "GET", "/-/healthy", NULL, NULL, 0, &r), 200);
    h_response_free(&r);
    h_fixture_done(f);
}

/*
 * A global budget for bodies in flight: two slow writes hold 3 MiB each of
 * an 8 MiB budget, so a third with an announced length, and a chunked one
 * whose buffer must grow past the budget, get 503 with Retry-After while
 * health checks answer; once the two complete, a body as large fits again.
 */
static void test_body_budget(void **state)
{
    (void)state;
    const size_t body = 3u << 20, sent = 1024;
    const char *extra[] = {"--web.max-request-bytes=4MiB", "--web.max-body-bytes-in-flight=8MiB",
                           NULL};
    h_fixture *f = start_own("budget", extra);
    int slow[2];
    char out[4096], framing[128];
    snprintf(framing, sizeof framing, "Content-Length: %zu\r\nExpect: 100-continue\r\n", body);
    for (int i = 0; i < 2; i++) {
        h_buf head = {0};
        write_head(&head, framing);
        slow[i] = h_connect(f->srv.port, 0);
        assert_true(slow[i] >= 0);
        assert_true(send_all(slow[i], head.p, head.len));
        h_buf_free(&head);
        /* 100 Continue: the headers were taken, and the body's bytes with them. */
        assert_true(read_head(slow[i], 10.0, out, sizeof out));
        assert_int_equal(raw_status(out), 100);
        assert_true(send_filler(slow[i], sent));
    }
    char *big = malloc(body);
    assert_non_null(big);
    memset(big, 0xa5, body);
    h_response r;
    char retry[16] = "";
    long st = h_request(f, "POST", "/api/v1/write", h_write_headers, big, body, &r);
    fprintf(stderr, "CASE body_budget | a third 3 MiB write while two hold 6 of 8 MiB | %ld | %s",
            st, r.body);
    assert_int_equal(st, 503);
    assert_non_null(strstr(r.body, "--web.max-body-bytes-in-flight"));
    assert_int_equal(h_header(&r, "Retry-After", retry, sizeof retry), 0);
    h_response_free(&r);
    const char *chunked[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                             "Transfer-Encoding: chunked", NULL};
    st = h_request(f, "POST", "/api/v1/write", chunked, big, body, &r);
    fprintf(stderr, "CASE body_budget_chunked | a chunked 3 MiB write, the same | %ld | %s", st,
            r.body);
    assert_int_equal(st, 503);
    assert_int_equal(h_header(&r, "Retry-After", retry, sizeof retry), 0);
    h_response_free(&r);
    assert_int_equal(h_request(f, "GET", "/-/healthy", NULL, NULL, 0, &r), 200);
    h_response_free(&r);
    /* The slow two finish (their bodies are not snappy: 400) and give their bytes back. */
    for (int i = 0; i < 2; i++) {
        assert_true(send_filler(slow[i], body - sent));
        shutdown(slow[i], SHUT_WR);
        h_read_until_close(slow[i], 10.0, out, sizeof out);
        close(slow[i]);
        assert_int_equal(raw_status(out), 400);
    }
    assert_int_equal(h_request(f, "POST", "/api/v1/write", h_write_headers, big, body, &r), 400);
    h_response_free(&r);
    assert_int_equal(h_request(f, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    assert_non_null(strstr(r.body, "promstore_limit_hits_total{limit=\"body_bytes_in_flight\"} 2\n"));
    h_response_free(&r);
    free(big);
    h_fixture_done(f);
}

/* --- Item: slow bodies ----------------------------------------------------- */

/* A raw GET of path on its own connection: the status, or -1 without one in timeout_s. */
static long raw_get(const h_fixture *f, const char *path, double timeout_s, double *secs)
{
    char req[256], out[4096];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    raw_exchange(f, req, (size_t)n, timeout_s, out, sizeof out, secs);
    return raw_status(out);
}

/* The value of promstore_limit_hits_total{limit="<limit>"}, or -1. */
static long limit_hits(const h_fixture *f, const char *limit)
{
    h_response r;
    assert_int_equal(h_request(f, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    char key[96];
    snprintf(key, sizeof key, "promstore_limit_hits_total{limit=\"%s\"} ", limit);
    const char *at = strstr(r.body, key);
    long v = at ? strtol(at + strlen(key), NULL, 10) : -1;
    h_response_free(&r);
    return v;
}

/*
 * Every connection slot (--web.max-connections 16) held by a writer that
 * sent complete headers and then sends a body byte a second, at the default
 * read timeout (5 m): such connections are not idle, so they used to keep
 * every slot and /-/healthy got no answer. Now a spare slot answers the
 * health check at once (and refuses anything else there), the slowest body
 * senders are shed while slots run short, and the rest are cut once their
 * body has taken --web.min-body-rate-grace (3 s here) below
 * --web.min-body-rate (4 KiB/s).
 */
static void test_slow_bodies(void **state)
{
    (void)state;
    enum { N = 16 };
    const char *extra[] = {"--web.max-connections=16", "--web.min-body-rate-grace=3s", NULL};
    h_fixture *f = start_own("slowbody", extra);
    int fds[N];
    h_buf head = {0};
    write_head(&head, "Content-Length: 100000\r\n");
    for (int i = 0; i < N; i++) {
        fds[i] = h_connect(f->srv.port, 0);
        assert_true(fds[i] >= 0);
        assert_true(send_all(fds[i], head.p, head.len));
        assert_true(send_all(fds[i], "x", 1));
    }
    h_buf_free(&head);
    double t0 = h_now_s(), health_secs, spare_secs;
    long health = raw_get(f, "/-/healthy", 5.0, &health_secs);
    long spare = raw_get(f, "/metrics", 5.0, &spare_secs);
    /* A byte a second on every socket until the server has cut them all (20 s at most). */
    int closed = 0;
    bool open[N];
    for (int i = 0; i < N; i++)
        open[i] = true;
    while (closed < N && h_now_s() - t0 < 20.0) {
        for (int i = 0; i < N; i++) {
            if (!open[i])
                continue;
            struct pollfd p = {fds[i], POLLIN, 0};
            char buf[512];
            if ((poll(&p, 1, 0) > 0 && recv(fds[i], buf, sizeof buf, 0) <= 0) ||
                send(fds[i], "x", 1, MSG_NOSIGNAL) != 1) {
                open[i] = false;
                closed++;
            }
        }
        struct timespec tick = {1, 0};
        nanosleep(&tick, NULL);
    }
    double all_cut = h_now_s() - t0;
    for (int i = 0; i < N; i++)
        close(fds[i]);
    long shed = limit_hits(f, "connections"), slow = limit_hits(f, "body_rate");
    fprintf(stderr, "CASE slow_bodies | %d writers, headers then a body byte a second, "
                    "--web.max-connections 16, read-timeout 5m | /-/healthy %ld after %.1f s, "
                    "/metrics on a spare slot %ld; %d of %d cut within %.1f s (shed %ld, "
                    "body_rate %ld)\n",
            N, health, health_secs, spare, closed, N, all_cut, shed, slow);
    assert_int_equal(health, 200);
    assert_true(health_secs < 5.0);
    assert_int_equal(spare, 503);
    assert_int_equal(closed, N);
    assert_true(slow > 0);
    assert_true(shed + slow >= N);
    h_response r;
    assert_int_equal(h_request(f, "GET", "/-/healthy", NULL, NULL, 0, &r), 200);
    h_response_free(&r);
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
        cmocka_unit_test_teardown(test_health_check_bodies, own_teardown),
        cmocka_unit_test_teardown(test_body_budget, own_teardown),
        cmocka_unit_test_teardown(test_slow_bodies, own_teardown),
    };
    char group[64];
    snprintf(group, sizeof group, "http_limits_%s", h_backend);
    int failed = cmocka_run_group_tests_name(group, tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
