/*
 * test_server.c -- the `promstore` HTTP server, tested as a user meets it: the
 * real binary runs as a child process on 127.0.0.1 with an ephemeral port
 * (--web.listen-address=127.0.0.1:0, the port read back from its log) and a
 * temporary store, and libcurl talks to it. Run once per backend:
 *
 *   test_server BACKEND PATH-TO-promstore
 *
 * The remote write/read protocol itself is tested in the library; here a
 * smoke test checks that a write lands (204) and reads back. A flood of bad
 * requests leaves a bounded log (--log.rejected-lines) and counts the rest.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "harness.h"

/* Per test: a temporary directory and at most one server (harness.h). */
static int setup(void **state)
{
    h_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    h_fixture_init(f, "server");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    h_fixture_done(*state);
    free(*state);
    return 0;
}

static void url(const h_fixture *f, const char *path, char *out, size_t len)
{
    snprintf(out, len, "http://127.0.0.1:%d%s", f->srv.port, path);
}

static long status_of(const h_fixture *f, const char *method, const char *path,
                      const char *const *headers)
{
    h_response r;
    long st = h_request(f, method, path, headers, NULL, 0, &r);
    h_response_free(&r);
    return st;
}

/* The value of an exposition line that starts with `series` + ' '; -1 if none. */
static double metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -1;
}

static char *scrape(const h_fixture *f, const char *const *headers)
{
    h_response r;
    assert_int_equal(h_request(f, "GET", "/metrics", headers, NULL, 0, &r), 200);
    char *text = r.body;
    r.body = NULL;
    h_response_free(&r);
    return text;
}

/*
 * Scrape until `series` has value `want` (up to 3 s): a request is counted when
 * MHD reports it complete, which can be just after the client has the answer.
 */
static bool wait_metric(const h_fixture *f, const char *series, double want)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 150; i++) {
        char *text = scrape(f, NULL);
        double got = metric(text, series);
        free(text);
        if (got == want)
            return true;
        nanosleep(&tick, NULL);
    }
    return false;
}


static const int64_t smoke_t[] = {1700000000000, 1700000015000};
static const double smoke_v[] = {1.5, -2.25};

static long write_smoke(const h_fixture *f, const char *const *auth_headers)
{
    h_buf body = {0};
    const char *hdrs[8];
    size_t n = 0;
    for (size_t i = 0; h_write_headers[i]; i++)
        hdrs[n++] = h_write_headers[i];
    for (size_t i = 0; auth_headers && auth_headers[i] && n < 7; i++)
        hdrs[n++] = auth_headers[i];
    hdrs[n] = NULL;
    h_write_request(&body, "smoke_metric", "srvtest", smoke_t, smoke_v, 2);
    h_response r;
    long st = h_request(f, "POST", "/api/v1/write", hdrs, body.p, body.len, &r);
    h_response_free(&r);
    h_buf_free(&body);
    return st;
}

/* Read the smoke series back and check both samples bit for bit. */
static void read_smoke(const h_fixture *f)
{
    h_buf body = {0};
    h_read_request(&body, "smoke_metric", 1699999999000, 1700000100000);
    h_response r;
    long st = h_request(f, "POST", "/api/v1/read", h_read_headers, body.p, body.len, &r);
    if (st != 200)
        fprintf(stderr, "read answered %ld: %s\n", st, r.body);
    assert_int_equal(st, 200);
    char enc[64] = "";
    assert_int_equal(h_header(&r, "Content-Encoding", enc, sizeof enc), 0);
    assert_string_equal(enc, "snappy");
    int64_t t[8];
    double v[8];
    size_t n = 0;
    assert_int_equal(h_read_response_samples(r.body, r.body_len, t, v, 8, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(t[i], smoke_t[i]);
        assert_memory_equal(&v[i], &smoke_v[i], sizeof(double));
    }
    h_response_free(&r);
    h_buf_free(&body);
}

static bool file_contains(const char *path, const char *needle)
{
    char *text = h_slurp(path);
    bool hit = strstr(text, needle) != NULL;
    free(text);
    return hit;
}

/* --- Command line and configuration ------------------------------------------ */

static void test_help_lists_flags(void **state)
{
    h_fixture *f = *state;
    char out[700], err[700];
    snprintf(out, sizeof out, "%s/out", f->dir);
    snprintf(err, sizeof err, "%s/err", f->dir);
    const char *argv[] = {"--help", NULL};
    assert_int_equal(h_run(argv, out, err), 0);
    static const char *const flags[] = {
        "--config.file=", "--storage.backend=lmdb", "--storage.path=./data",
        "--storage.retention.time=", "--storage.retention.size=", "--storage.block-duration=",
        "--storage.out-of-order-window=", "--storage.remote.read-concurrent-limit=10",
        "--storage.remote.read-sample-limit=", "--storage.remote.read-series-limit=",
        "--storage.remote.read-max-bytes-in-frame=", "--web.listen-address=127.0.0.1:9201",
        "--web.max-request-bytes=", "--web.basic-auth-user=", "--web.basic-auth-password-file=",
        "--web.bearer-token-file=", "--web.tls-cert-file=", "--web.tls-key-file=",
        "--log.level=info", "(default: 127.0.0.1:9201)"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!file_contains(out, flags[i]))
            fail_msg("--help does not list %s", flags[i]);
}

/* Run with argv; require exit 2 and stderr naming `needle`. */
static void expect_usage_error(h_fixture *f, const char *const *argv, const char *needle)
{
    char out[700], err[700];
    snprintf(out, sizeof out, "%s/out", f->dir);
    snprintf(err, sizeof err, "%s/err", f->dir);
    assert_int_equal(h_run(argv, out, err), 2);
    if (!file_contains(err, needle)) {
        char *text = h_slurp(err);
        fail_msg("stderr does not name %s: %s", needle, text);
    }
}

static void test_bad_flags_exit_2(void **state)
{
    h_fixture *f = *state;
    const char *a1[] = {"--no-such-flag=1", NULL};
    expect_usage_error(f, a1, "--no-such-flag");
    const char *a2[] = {"--storage.retention.time=15x", NULL};
    expect_usage_error(f, a2, "--storage.retention.time");
    const char *a3[] = {"--storage.retention.size", "10XB", NULL};
    expect_usage_error(f, a3, "--storage.retention.size");
    const char *a4[] = {"--storage.backend=oracle", NULL};
    expect_usage_error(f, a4, "--storage.backend");
    const char *a4e[] = {"--storage.backend=", NULL}; /* once a crash (fuzzing) */
    expect_usage_error(f, a4e, "--storage.backend");
    const char *a5[] = {"--web.listen-address=nowhere", NULL};
    expect_usage_error(f, a5, "--web.listen-address");
    const char *a6[] = {"--web.tls-cert-file=/nonexistent.pem", NULL};
    expect_usage_error(f, a6, "--web.tls-key-file");
}

static void test_bad_yaml_exit_2(void **state)
{
    h_fixture *f = *state;
    char cfg[700], flag[720];
    snprintf(cfg, sizeof cfg, "%s/bad.yml", f->dir);
    snprintf(flag, sizeof flag, "--config.file=%s", cfg);
    const char *argv[] = {flag, NULL};

    h_write_file(cfg, "storage:\n  path: /tmp/x\n  retension:\n    time: 15d\n");
    expect_usage_error(f, argv, "storage.retension");
    h_write_file(cfg, "storage:\n  retention:\n    time: soon\n");
    expect_usage_error(f, argv, "storage.retention.time");
    h_write_file(cfg, "storage: {backend: }\n");
    expect_usage_error(f, argv, "--storage.backend");
    h_write_file(cfg, "web: [1, 2]\n");
    expect_usage_error(f, argv, "web");
    h_write_file(cfg, "storage: {path: [unclosed\n");
    expect_usage_error(f, argv, "bad.yml");
}

/* The YAML sets the path, retention and level; a flag overrides the path. */
static void test_flags_override_yaml(void **state)
{
    h_fixture *f = *state;
    char cfg[700], yaml[2048], from_yaml[700], flag[720];
    snprintf(cfg, sizeof cfg, "%s/promstore.yml", f->dir);
    snprintf(from_yaml, sizeof from_yaml, "%s/yaml-store", f->dir);
    snprintf(yaml, sizeof yaml,
             "# promstore test configuration\n"
             "storage:\n"
             "  path: %s\n"
             "  retention:\n"
             "    time: 1h30m\n"
             "    size: 512MB\n"
             "web:\n"
             "  listen_address: 127.0.0.1:1\n"
             "log:\n"
             "  level: debug\n",
             from_yaml);
    h_write_file(cfg, yaml);
    snprintf(flag, sizeof flag, "--config.file=%s", cfg);
    /* start() adds --storage.path and --web.listen-address, which must win. */
    const char *extra[] = {flag, NULL};
    h_fixture_start(f, extra);
    struct stat st;
    assert_int_equal(stat(f->store, &st), 0);
    assert_int_not_equal(stat(from_yaml, &st), 0);
    assert_true(file_contains(f->log, "retention_time=1h30m"));
    assert_true(file_contains(f->log, "retention_size_bytes=536870912"));
    assert_true(file_contains(f->log, "log_level=debug"));
    h_stop_ok(&f->srv, SIGTERM, f->log);
}

/* --- Endpoints -------------------------------------------------------------- */

static void test_health_ready_404_405(void **state)
{
    h_fixture *f = *state;
    h_fixture_start(f, NULL);
    h_response r;
    assert_int_equal(h_request(f, "GET", "/-/healthy", NULL, NULL, 0, &r), 200);
    assert_string_equal(r.body, "Healthy\n");
    h_response_free(&r);
    assert_int_equal(h_request(f, "GET", "/-/ready", NULL, NULL, 0, &r), 200);
    assert_string_equal(r.body, "Ready\n");
    h_response_free(&r);
    assert_int_equal(status_of(f, "HEAD", "/-/healthy", NULL), 200);
    assert_int_equal(status_of(f, "GET", "/nope", NULL), 404);
    assert_int_equal(status_of(f, "GET", "/api/v1/writes", NULL), 404);

    char allow[64];
    assert_int_equal(h_request(f, "GET", "/api/v1/write", NULL, NULL, 0, &r), 405);
    assert_int_equal(h_header(&r, "Allow", allow, sizeof allow), 0);
    assert_string_equal(allow, "POST");
    h_response_free(&r);
    assert_int_equal(h_request(f, "POST", "/metrics", NULL, "x", 1, &r), 405);
    assert_int_equal(h_header(&r, "Allow", allow, sizeof allow), 0);
    assert_string_equal(allow, "GET, HEAD");
    h_response_free(&r);
    assert_int_equal(status_of(f, "DELETE", "/api/v1/read", NULL), 405);
    /* An error response is logged at warn with its handler and code. */
    assert_true(file_contains(f->log, "level=warn msg=\"Request failed\" handler=other code=404"));
    h_stop_ok(&f->srv, SIGTERM, f->log);
}

static void test_metrics_move_after_write(void **state)
{
    h_fixture *f = *state;
    h_fixture_start(f, NULL);
    h_response r;
    char ct[128];
    assert_int_equal(h_request(f, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    assert_int_equal(h_header(&r, "Content-Type", ct, sizeof ct), 0);
    assert_non_null(strstr(ct, "version=0.0.4"));
    assert_non_null(strstr(r.body, "# TYPE promstore_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(r.body, "# TYPE promstore_samples_appended_total counter\n"));
    assert_true(metric(r.body, "promstore_samples_appended_total") == 0);
    assert_true(metric(r.body, "promstore_series") == 0);
    h_response_free(&r);

    assert_int_equal(write_smoke(f, NULL), 204);
    read_smoke(f);

    assert_true(wait_metric(
        f, "promstore_http_requests_total{handler=\"/api/v1/write\",code=\"204\"}", 1));
    assert_true(wait_metric(
        f, "promstore_http_requests_total{handler=\"/api/v1/read\",code=\"200\"}", 1));
    char *text = scrape(f, NULL);
    assert_true(metric(text, "promstore_samples_appended_total") == 2);
    assert_true(metric(text, "promstore_series") == 1);
    assert_true(metric(text, "promstore_samples") == 2);
    assert_true(metric(text, "promstore_storage_bytes") > 0);
    assert_true(metric(text,
                       "promstore_http_requests_total{handler=\"/api/v1/write\",code=\"204\"}") == 1);
    assert_true(metric(text, "promstore_http_request_duration_seconds_count{handler=\"/api/v1/"
                             "write\"}") == 1);
    assert_true(metric(text, "promstore_http_request_duration_seconds_bucket{handler=\"/api/v1/"
                             "write\",le=\"+Inf\"}") == 1);
    free(text);

    /* A second batch with an older sample: one appended, one rejected (400). */
    h_buf body = {0};
    int64_t t[] = {1600000000000, 1700000030000};
    double v[] = {1, 2};
    h_write_request(&body, "smoke_metric", "srvtest", t, v, 2);
    assert_int_equal(h_request(f, "POST", "/api/v1/write", h_write_headers, body.p, body.len, &r),
                     400);
    h_response_free(&r);
    h_buf_free(&body);
    text = scrape(f, NULL);
    assert_true(metric(text, "promstore_samples_appended_total") == 3);
    assert_true(metric(text, "promstore_samples_rejected_total{reason=\"out_of_order\"}") == 1);
    free(text);
    h_stop_ok(&f->srv, SIGTERM, f->log);
}

static void test_body_over_limit_413(void **state)
{
    h_fixture *f = *state;
    const char *extra[] = {"--web.max-request-bytes=1KB", NULL};
    h_fixture_start(f, extra);
    static char big[4096];
    memset(big, 'x', sizeof big);
    h_response r;
    assert_int_equal(h_request(f, "POST", "/api/v1/write", h_write_headers, big, sizeof big, &r),
                     413);
    h_response_free(&r);
    /* Without Content-Length (chunked): refused as the body grows. */
    const char *chunked[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                             "Transfer-Encoding: chunked", NULL};
    assert_int_equal(h_request(f, "POST", "/api/v1/write", chunked, big, sizeof big, &r), 413);
    h_response_free(&r);
    /* A small body still goes through to the library (which finds it is not snappy). */
    assert_int_equal(h_request(f, "POST", "/api/v1/write", h_write_headers, big, 100, &r), 400);
    h_response_free(&r);
    char *text = scrape(f, NULL);
    assert_true(metric(text, "promstore_limit_hits_total{limit=\"request_bytes\"}") == 2);
    free(text);
    h_stop_ok(&f->srv, SIGTERM, f->log);
}

/* A read over --storage.remote.read-sample-limit fails (before or while streaming). */
static void test_read_limit(void **state)
{
    h_fixture *f = *state;
    const char *extra[] = {"--storage.remote.read-sample-limit=1", NULL};
    h_fixture_start(f, extra);
    assert_int_equal(write_smoke(f, NULL), 204);
    h_buf body = {0};
    h_read_request(&body, "smoke_metric", 1699999999000, 1700000100000);
    char u[256];
    url(f, "/api/v1/read", u, sizeof u);
    h_response r;
    int rc = h_http("POST", u, h_read_headers, body.p, body.len, &r);
    /* Either a status of its own, or a 200 whose body is cut (curl reports an error). */
    assert_true(rc != 0 || r.status >= 400);
    h_response_free(&r);
    h_buf_free(&body);
    assert_true(wait_metric(f, "promstore_limit_hits_total{limit=\"query\"}", 1));
    h_stop_ok(&f->srv, SIGTERM, f->log);
}

/* SIGTERM: exit 0 with the store closed; the store then reopens with its data. */
static void test_sigterm_and_reopen(void **state)
{
    h_fixture *f = *state;
    h_fixture_start(f, NULL);
    assert_int_equal(write_smoke(f, NULL), 204);
    h_stop_ok(&f->srv, SIGTERM, f->log);
    assert_true(file_contains(f->log, "msg=\"Store closed, bye\""));
    h_fixture_start(f, NULL);
    read_smoke(f);
    h_stop_ok(&f->srv, SIGINT, f->log);
}

/* --- Authentication and TLS --------------------------------------------------- */

static void check_protected(h_fixture *f, const char *right, const char *wrong,
                            const char *scheme)
{
    const char *good[] = {right, NULL};
    const char *bad[] = {wrong, NULL};
    h_response r;
    char challenge[128];
    assert_int_equal(h_request(f, "GET", "/metrics", NULL, NULL, 0, &r), 401);
    assert_int_equal(h_header(&r, "WWW-Authenticate", challenge, sizeof challenge), 0);
    assert_non_null(strstr(challenge, scheme));
    h_response_free(&r);
    assert_int_equal(status_of(f, "GET", "/metrics", bad), 401);
    assert_int_equal(status_of(f, "GET", "/metrics", good), 200);
    assert_int_equal(write_smoke(f, bad), 401);
    assert_int_equal(write_smoke(f, NULL), 401);
    assert_int_equal(write_smoke(f, good), 204);
    /* Every endpoint but the health checks: remote read and HEAD too. */
    h_buf body = {0};
    h_read_request(&body, "smoke_metric", 1699999999000, 1700000100000);
    const char *read_bad[8], *read_none[8], *read_good[8];
    size_t n = 0;
    for (; h_read_headers[n]; n++)
        read_bad[n] = read_none[n] = read_good[n] = h_read_headers[n];
    read_bad[n] = wrong;
    read_good[n] = right;
    read_none[n] = NULL;
    read_bad[n + 1] = read_good[n + 1] = NULL;
    assert_int_equal(h_request(f, "POST", "/api/v1/read", read_none, body.p, body.len, &r), 401);
    h_response_free(&r);
    assert_int_equal(h_request(f, "POST", "/api/v1/read", read_bad, body.p, body.len, &r), 401);
    h_response_free(&r);
    assert_int_equal(h_request(f, "POST", "/api/v1/read", read_good, body.p, body.len, &r), 200);
    h_response_free(&r);
    h_buf_free(&body);
    assert_int_equal(status_of(f, "HEAD", "/metrics", NULL), 401);
    assert_int_equal(status_of(f, "HEAD", "/metrics", bad), 401);
    /* Health checks stay open, for load balancers and orchestrators. */
    assert_int_equal(status_of(f, "GET", "/-/healthy", NULL), 200);
    assert_int_equal(status_of(f, "GET", "/-/ready", NULL), 200);
}

static void test_basic_auth(void **state)
{
    h_fixture *f = *state;
    char pw[700], flag[760];
    snprintf(pw, sizeof pw, "%s/password", f->dir);
    h_write_file(pw, "s3cret-Passw0rd\n");
    snprintf(flag, sizeof flag, "--web.basic-auth-password-file=%s", pw);
    /* Debug logging: no secret may show up even there. */
    const char *extra[] = {"--web.basic-auth-user=prom", flag, "--log.level=debug", NULL};
    h_fixture_start(f, extra);
    /* base64("prom:s3cret-Passw0rd") and base64("prom:s3cret-Passw0rX") */
    check_protected(f, "Authorization: Basic cHJvbTpzM2NyZXQtUGFzc3cwcmQ=",
                    "Authorization: Basic cHJvbTpzM2NyZXQtUGFzc3cwclg=", "Basic");
    /* The right password for the wrong user is refused too. */
    const char *other[] = {"Authorization: Basic YWRtaW46czNjcmV0LVBhc3N3MHJk", NULL};
    assert_int_equal(status_of(f, "GET", "/metrics", other), 401);
    h_stop_ok(&f->srv, SIGTERM, f->log);
    /* Neither the password, nor the credentials sent, right or wrong. */
    assert_false(file_contains(f->log, "s3cret-Passw0rd"));
    assert_false(file_contains(f->log, "cHJvbTpzM2NyZXQtUGFzc3cwcmQ"));
    assert_false(file_contains(f->log, "cHJvbTpzM2NyZXQtUGFzc3cwclg"));
    assert_true(file_contains(f->log, "auth=basic"));
}

static void test_bearer_token(void **state)
{
    h_fixture *f = *state;
    char tok[700], flag[760];
    snprintf(tok, sizeof tok, "%s/token", f->dir);
    h_write_file(tok, "tok-0123456789abcdef\n");
    snprintf(flag, sizeof flag, "--web.bearer-token-file=%s", tok);
    const char *extra[] = {flag, "--log.level=debug", NULL};
    h_fixture_start(f, extra);
    check_protected(f, "Authorization: Bearer tok-0123456789abcdef",
                    "Authorization: Bearer tok-0123456789abcdeF", "Bearer");
    const char *prefix[] = {"Authorization: Bearer tok-0123456789abcde", NULL};
    assert_int_equal(status_of(f, "GET", "/metrics", prefix), 401);
    h_stop_ok(&f->srv, SIGTERM, f->log);
    assert_false(file_contains(f->log, "tok-0123456789abcde"));
}

static bool have_openssl(void)
{
    return system("command -v openssl >/dev/null 2>&1") == 0;
}

/* A self-signed certificate and key in f->dir, as the two server flags (cflag, kflag). */
static void make_cert(h_fixture *f, char *cflag, char *kflag, size_t len)
{
    if (!have_openssl()) {
        fprintf(stderr, "openssl not found: TLS test skipped\n");
        skip();
    }
    char cmd[4096], cert[700], key[700];
    snprintf(cert, sizeof cert, "%s/cert.pem", f->dir);
    snprintf(key, sizeof key, "%s/key.pem", f->dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 "
             "-subj /CN=127.0.0.1 >/dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    snprintf(cflag, len, "--web.tls-cert-file=%s", cert);
    snprintf(kflag, len, "--web.tls-key-file=%s", key);
}

/*
 * What a handshake with `openssl s_client <args>` to the server agrees on:
 * the cipher's name, or "" when the server refuses (s_client prints
 * "Cipher is (NONE)"). SECLEVEL=0 in args lets the client offer old suites,
 * so that a refusal is the server's.
 */
static void handshake(const h_fixture *f, const char *args, char *cipher, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "echo | timeout 10 openssl s_client -connect 127.0.0.1:%d %s 2>&1 | "
             "sed -n 's/.*Cipher is \\(.*\\)$/\\1/p' | head -1",
             f->srv.port, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    cipher[0] = '\0';
    if (fgets(cipher, (int)len, p) == NULL)
        cipher[0] = '\0';
    pclose(p);
    cipher[strcspn(cipher, "\r\n")] = '\0';
    if (strcmp(cipher, "(NONE)") == 0)
        cipher[0] = '\0';
}

static void expect_handshake(const h_fixture *f, const char *args, const char *want)
{
    char got[128];
    handshake(f, args, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("openssl s_client %s: agreed on \"%s\", want \"%s\"", args, got, want);
}

/*
 * The default TLS policy refuses TLS 1.0 and 1.1 and, for TLS 1.2, static-RSA
 * key exchange and CBC suites; the two flags move it. Before they existed,
 * TLS 1.0 with ECDHE-RSA-AES256-SHA and TLS 1.2 with AES128-SHA were agreed.
 */
static void test_tls_policy(void **state)
{
    h_fixture *f = *state;
    char cflag[760], kflag[760];
    make_cert(f, cflag, kflag, sizeof cflag);
    const char *def[] = {cflag, kflag, NULL};
    h_fixture_start(f, def);
    expect_handshake(f, "-tls1 -cipher DEFAULT@SECLEVEL=0", "");
    expect_handshake(f, "-tls1_1 -cipher DEFAULT@SECLEVEL=0", "");
    expect_handshake(f, "-tls1_2 -cipher AES128-SHA@SECLEVEL=0", "");
    expect_handshake(f, "-tls1_2 -cipher AES128-GCM-SHA256", "");
    expect_handshake(f, "-tls1_2 -cipher ECDHE-RSA-AES128-SHA", "");
    expect_handshake(f, "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256");
    expect_handshake(f, "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305",
                     "ECDHE-RSA-CHACHA20-POLY1305");
    expect_handshake(f, "-tls1_3", "TLS_AES_256_GCM_SHA384");
    h_stop_ok(&f->srv, SIGTERM, f->log);

    const char *only13[] = {cflag, kflag, "--web.tls-min-version=TLS13", NULL};
    h_fixture_start(f, only13);
    expect_handshake(f, "-tls1_2", "");
    expect_handshake(f, "-tls1_3", "TLS_AES_256_GCM_SHA384");
    h_stop_ok(&f->srv, SIGTERM, f->log);

    const char *old[] = {cflag, kflag, "--web.tls-min-version=TLS10",
                         "--web.tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA", NULL};
    h_fixture_start(f, old);
    expect_handshake(f, "-tls1_2 -cipher AES128-SHA@SECLEVEL=0", "AES128-SHA");
    expect_handshake(f, "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256", "");
    h_stop_ok(&f->srv, SIGTERM, f->log);

    const char *bad1[] = {"--web.tls-min-version=SSL3", NULL};
    expect_usage_error(f, bad1, "--web.tls-min-version");
    const char *bad2[] = {"--web.tls-cipher-suites=TLS_RSA_WITH_RC4_128_SHA", NULL};
    expect_usage_error(f, bad2, "TLS_RSA_WITH_RC4_128_SHA");
}

static void test_tls(void **state)
{
    h_fixture *f = *state;
    char cflag[760], kflag[760];
    make_cert(f, cflag, kflag, sizeof cflag);
    const char *extra[] = {cflag, kflag, NULL};
    h_fixture_start(f, extra);
    assert_true(file_contains(f->log, "tls=true"));
    char u[256];
    h_response r;
    snprintf(u, sizeof u, "https://127.0.0.1:%d/-/healthy", f->srv.port);
    assert_int_equal(h_http("GET", u, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "Healthy\n");
    h_response_free(&r);
    snprintf(u, sizeof u, "https://127.0.0.1:%d/api/v1/write", f->srv.port);
    h_buf body = {0};
    h_write_request(&body, "smoke_metric", "srvtest", smoke_t, smoke_v, 2);
    assert_int_equal(h_http("POST", u, h_write_headers, body.p, body.len, &r), 0);
    assert_int_equal(r.status, 204);
    h_response_free(&r);
    h_buf_free(&body);
    /* Plain HTTP on the TLS port gets no HTTP answer. */
    snprintf(u, sizeof u, "http://127.0.0.1:%d/-/healthy", f->srv.port);
    h_http("GET", u, NULL, NULL, 0, &r);
    assert_int_not_equal(r.status, 200);
    h_response_free(&r);
    h_stop_ok(&f->srv, SIGTERM, f->log);
}

/* --- A flood of bad requests and the log ----------------------------------------- */

/* Lines of text holding every one of the NULL-ended needles. */
static size_t count_lines(const char *text, const char *const *needles)
{
    size_t n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        bool all = true;
        for (size_t i = 0; needles[i] && all; i++) {
            const char *hit = memmem(line, len, needles[i], strlen(needles[i]));
            all = hit != NULL;
        }
        n += all;
        line += len + (end != NULL);
    }
    return n;
}

/*
 * 2,000 remote writes whose body is not snappy (400 each), with the limit at
 * 10 lines per hour-long window, so that the whole flood falls in one window
 * however fast the machine is: the log holds exactly 10 "Request failed"
 * lines for it, /metrics counts the 1,990 others as suppressed, and at
 * shutdown one line says 1,990 similar lines were suppressed.
 */
static void test_rejected_flood_log_is_limited(void **state)
{
    h_fixture *f = *state;
    const char *extra[] = {"--log.rejected-lines=10", "--log.rejected-interval=1h", NULL};
    h_fixture_start(f, extra);
    enum { FLOOD = 2000, LINES = 10 };
    h_response r;
    for (int i = 0; i < FLOOD; i++) {
        long st = h_request(f, "POST", "/api/v1/write", h_write_headers, "not snappy", 10, &r);
        h_response_free(&r);
        if (st != 400)
            fail_msg("request %d: status %ld, want 400", i, st);
    }
    assert_int_equal(h_request(f, "GET", "/metrics", NULL, NULL, 0, &r), 200);
    char want[160];
    snprintf(want, sizeof want,
             "promstore_log_lines_suppressed_total{handler=\"/api/v1/write\",cause=\"400\"} %d\n",
             FLOOD - LINES);
    if (strstr(r.body, want) == NULL)
        fail_msg("/metrics lacks %s", want);
    h_response_free(&r);
    h_stop_ok(&f->srv, SIGTERM, f->log);

    char *log = h_slurp(f->log);
    static const char *const failed[] = {"msg=\"Request failed\"", "handler=/api/v1/write",
                                         "code=400", NULL};
    static const char *const summary[] = {"msg=\"Suppressed similar log lines\"",
                                          "handler=/api/v1/write", "cause=400", NULL};
    char count[32];
    snprintf(count, sizeof count, "suppressed=%d ", FLOOD - LINES);
    const char *const summed[] = {"msg=\"Suppressed similar log lines\"", count, NULL};
    size_t n_failed = count_lines(log, failed), n_summary = count_lines(log, summary),
           n_summed = count_lines(log, summed);
    if (n_failed != LINES || n_summary != 1 || n_summed != 1) {
        h_dump_log(f->log);
        fail_msg("%zu \"Request failed\" lines (want %d), %zu summary lines (want 1), "
                 "%zu of them saying %s(want 1)",
                 n_failed, LINES, n_summary, n_summed, count);
    }
    free(log);
}

int main(int argc, char **argv)
{
    h_args(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help_lists_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_flags_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_yaml_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_override_yaml, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_ready_404_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_move_after_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_over_limit_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bearer_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_flood_log_is_limited, setup, teardown),
    };
    char group[64];
    snprintf(group, sizeof group, "server_%s", h_backend);
    int failed = cmocka_run_group_tests_name(group, tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
