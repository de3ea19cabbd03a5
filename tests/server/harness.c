/*
 * harness.c -- process, HTTP and protobuf helpers for the server tests (see
 * harness.h). The protobuf is written and read by hand, field by field: the
 * smoke test needs three message types and must not depend on generated code.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka's headers need these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

const char *h_binary;
const char *h_backend;

void h_args(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s lmdb|sqlite PATH-TO-promstore\n", argv[0]);
        exit(2);
    }
    h_backend = argv[1];
    h_binary = argv[2];
}

double h_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- Files ------------------------------------------------------------------ */

char *h_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    assert_non_null(buf);
    if (f != NULL) {
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += n;
            if (cap - len < 2) {
                cap *= 2;
                buf = realloc(buf, cap);
                assert_non_null(buf);
            }
        }
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

void h_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

void h_tmpdir(char *out, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, len, "%s/promstore-srvtest-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(out));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void h_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- Processes -------------------------------------------------------------- */

/* fork + exec the binary with argv; stdout/stderr redirected. */
static pid_t spawn(const char *const *argv, const char *out_path, const char *err_path,
                   bool add_backend)
{
    const char *args[64];
    size_t n = 0;
    char backend_flag[64];
    args[n++] = h_binary;
    if (add_backend) {
        snprintf(backend_flag, sizeof backend_flag, "--storage.backend=%s", h_backend);
        args[n++] = backend_flag;
    }
    for (size_t i = 0; argv[i] && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0)
        _exit(127);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(h_binary, (char *const *)args);
    _exit(127);
}

/* The port of the "Listening on" line, 0 while there is none. */
static int listening_port(const char *log)
{
    for (const char *line = log; line && *line;) {
        const char *end = strchr(line, '\n');
        if (end == NULL)
            break; /* a line still being written */
        const char *hit = strstr(line, "msg=\"Listening on\"");
        if (hit && hit < end) {
            const char *a = strstr(line, " address=");
            const char *colon = a ? memrchr(a, ':', (size_t)(end - a)) : NULL;
            if (colon)
                return atoi(colon + 1);
        }
        line = end + 1;
    }
    return 0;
}

int h_start(h_server *s, const char *log_path, const char *const *argv)
{
    memset(s, 0, sizeof *s);
    snprintf(s->log_path, sizeof s->log_path, "%s", log_path);
    /* Empty the log here, not in the child: a previous run's port must not be read. */
    FILE *f = fopen(log_path, "w");
    if (f != NULL)
        fclose(f);
    s->pid = spawn(argv, NULL, log_path, true);
    if (s->pid < 0)
        return -1;
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 750; i++) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        char *log = h_slurp(log_path);
        s->port = listening_port(log);
        free(log);
        if (s->port > 0)
            return 0;
        nanosleep(&tick, NULL);
    }
    h_stop(s, SIGKILL);
    return -1;
}

int h_stop(h_server *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    struct timespec tick = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 1500; i++) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return status;
        }
        nanosleep(&tick, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

void h_dump_log(const char *log_path)
{
    char *log = h_slurp(log_path);
    fprintf(stderr, "--- server log %s ---\n%s--- end ---\n", log_path, log);
    free(log);
}

void h_stop_ok(h_server *s, int sig, const char *log_path)
{
    int status = h_stop(s, sig);
    if (!(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        h_dump_log(log_path);
        fail_msg("the server did not exit 0 on signal %d (wait status %d)", sig, status);
    }
}

/* --- The fixture ------------------------------------------------------------ */

const char *const h_write_headers[] = {"Content-Type: application/x-protobuf",
                                       "Content-Encoding: snappy",
                                       "X-Prometheus-Remote-Write-Version: 0.1.0", NULL};
const char *const h_write_v2_headers[] = {
    "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "Content-Encoding: snappy", "X-Prometheus-Remote-Write-Version: 2.0.0", NULL};
const char *const h_read_headers[] = {"Content-Type: application/x-protobuf",
                                      "Content-Encoding: snappy",
                                      "X-Prometheus-Remote-Read-Version: 0.1.0", NULL};

void h_fixture_init(h_fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    h_tmpdir(f->dir, sizeof f->dir);
    snprintf(f->store, sizeof f->store, "%s/store", f->dir);
    snprintf(f->log, sizeof f->log, "%s/%s.log", f->dir, name);
}

void h_fixture_done(h_fixture *f)
{
    if (f->srv.pid > 0)
        h_stop(&f->srv, SIGKILL);
    if (getenv("KEEP") == NULL)
        h_rmtree(f->dir);
}

void h_fixture_free(h_fixture *f)
{
    if (f == NULL)
        return;
    h_fixture_done(f);
    free(f);
}

void h_fixture_start(h_fixture *f, const char *const *extra)
{
    char path_flag[700];
    const char *argv[32];
    size_t n = 0;
    snprintf(path_flag, sizeof path_flag, "--storage.path=%s", f->store);
    argv[n++] = path_flag;
    argv[n++] = "--web.listen-address=127.0.0.1:0";
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (h_start(&f->srv, f->log, argv) != 0) {
        h_dump_log(f->log);
        fail_msg("the server did not start");
    }
}

int h_run(const char *const *argv, const char *out_path, const char *err_path)
{
    pid_t pid = spawn(argv, out_path, err_path, false);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* --- HTTP --------------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    h_buf *b = ctx;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = (b->len + add + 1) * 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, add);
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

int h_http(const char *method, const char *url, const char *const *headers, const void *body,
           size_t body_len, h_response *resp)
{
    memset(resp, 0, sizeof *resp);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    h_buf rb = {0}, hb = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    /* No 100-continue round trip: the server decides on the headers anyway. */
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    resp->body = rb.p ? (char *)rb.p : strdup("");
    resp->body_len = rb.len;
    resp->headers = hb.p ? (char *)hb.p : strdup("");
    return rc == CURLE_OK ? 0 : -1;
}

void h_response_free(h_response *resp)
{
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof *resp);
}

long h_request(const h_fixture *f, const char *method, const char *path,
               const char *const *headers, const void *body, size_t len, h_response *resp)
{
    char u[256];
    snprintf(u, sizeof u, "http://127.0.0.1:%d%s", f->srv.port, path);
    if (h_http(method, u, headers, body, len, resp) != 0)
        return -1;
    return resp->status;
}

int h_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int h_header(const h_response *resp, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = resp->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            end = line + strlen(line);
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, len, "%.*s", (int)(end - v), v);
            return 0;
        }
        line = *end ? end + 2 : end;
    }
    return -1;
}

/* --- Protobuf ---------------------------------------------------------------- */

void h_buf_free(h_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void h_put(h_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void h_put_varint(h_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    h_put(b, tmp, n);
}

void h_put_bytes(h_buf *b, unsigned field, const void *p, size_t n)
{
    h_put_varint(b, (uint64_t)field << 3 | 2);
    h_put_varint(b, n);
    h_put(b, p, n);
}

void h_put_label_n(h_buf *ts, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    h_buf l = {0};
    h_put_bytes(&l, 1, name, name_len);
    h_put_bytes(&l, 2, value, value_len);
    h_put_bytes(ts, 1, l.p, l.len);
    h_buf_free(&l);
}

void h_put_label(h_buf *ts, const char *name, const char *value)
{
    h_put_label_n(ts, name, strlen(name), value, strlen(value));
}

void h_put_sample(h_buf *ts, unsigned field, int64_t t, double v)
{
    h_buf s = {0};
    uint64_t bits;
    memcpy(&bits, &v, 8);
    uint8_t le[8];
    for (int k = 0; k < 8; k++)
        le[k] = (uint8_t)(bits >> (8 * k));
    h_put_varint(&s, 1 << 3 | 1); /* value: double, fixed64 */
    h_put(&s, le, 8);
    h_put_varint(&s, 2 << 3 | 0); /* timestamp: int64 varint */
    h_put_varint(&s, (uint64_t)t);
    h_put_bytes(ts, field, s.p, s.len);
    h_buf_free(&s);
}

void h_snappy(h_buf *out, const void *raw, size_t len)
{
    size_t n = snappy_max_compressed_length(len);
    out->p = malloc(n);
    assert_non_null(out->p);
    assert_int_equal(snappy_compress((const char *)raw, len, (char *)out->p, &n), SNAPPY_OK);
    out->len = out->cap = n;
}

void h_write_request(h_buf *out, const char *name, const char *job, const int64_t *t,
                     const double *v, size_t n)
{
    h_buf ts = {0}, req = {0};
    h_put_label(&ts, "__name__", name);
    h_put_label(&ts, "job", job);
    for (size_t i = 0; i < n; i++)
        h_put_sample(&ts, 2, t[i], v[i]);
    h_put_bytes(&req, 1, ts.p, ts.len);
    h_snappy(out, req.p, req.len);
    h_buf_free(&ts);
    h_buf_free(&req);
}

/* A LabelMatcher {type, name, value} as field 3 of the Query being built. */
static void put_matcher(h_buf *q, int type, const char *name, const char *value)
{
    h_buf m = {0};
    h_put_varint(&m, 1 << 3 | 0);
    h_put_varint(&m, (uint64_t)type);
    h_put_bytes(&m, 2, name, strlen(name));
    h_put_bytes(&m, 3, value, strlen(value));
    h_put_bytes(q, 3, m.p, m.len);
    h_buf_free(&m);
}

void h_write_request_jobs(h_buf *out, const char *name, const char *prefix, size_t first,
                          size_t n, int64_t t, double v)
{
    h_buf req = {0};
    for (size_t i = first; i < first + n; i++) {
        h_buf ts = {0};
        char job[256];
        snprintf(job, sizeof job, "%s-%zu", prefix, i);
        h_put_label(&ts, "__name__", name);
        h_put_label(&ts, "job", job);
        h_put_sample(&ts, 2, t, v);
        h_put_bytes(&req, 1, ts.p, ts.len);
        h_buf_free(&ts);
    }
    h_snappy(out, req.p, req.len);
    h_buf_free(&req);
}

/* A Query's head: its range and __name__=name. */
static void put_query_head(h_buf *q, const char *name, int64_t start, int64_t end)
{
    h_put_varint(q, 1 << 3 | 0);
    h_put_varint(q, (uint64_t)start);
    h_put_varint(q, 2 << 3 | 0);
    h_put_varint(q, (uint64_t)end);
    put_matcher(q, 0 /* EQ */, "__name__", name);
}

void h_read_request_shaped(h_buf *out, const char *name, size_t n_queries, size_t extra,
                           int64_t start, int64_t end)
{
    h_buf req = {0};
    for (size_t i = 0; i < n_queries; i++) {
        h_buf q = {0};
        put_query_head(&q, name, start, end);
        for (size_t k = 0; k < extra; k++) {
            char label[32];
            snprintf(label, sizeof label, "l%zu", k);
            put_matcher(&q, 1 /* NEQ */, label, "x");
        }
        h_put_bytes(&req, 1, q.p, q.len);
        h_buf_free(&q);
    }
    h_put_varint(&req, 2 << 3 | 0);
    h_put_varint(&req, 0); /* accepted_response_types: SAMPLES */
    h_snappy(out, req.p, req.len);
    h_buf_free(&req);
}

/* A ReadRequest of nq copies of one query (the matchers of h_read_request_matching). */
static void read_request(h_buf *out, const char *name, int type, const char *label,
                         const char *value, int64_t start, int64_t end, unsigned nq)
{
    h_buf q = {0}, req = {0};
    put_query_head(&q, name, start, end);
    if (label != NULL)
        put_matcher(&q, type, label, value);
    for (unsigned i = 0; i < nq; i++)
        h_put_bytes(&req, 1, q.p, q.len);
    h_put_varint(&req, 2 << 3 | 0);
    h_put_varint(&req, 0); /* accepted_response_types: SAMPLES */
    h_snappy(out, req.p, req.len);
    h_buf_free(&q);
    h_buf_free(&req);
}

void h_read_request_matching(h_buf *out, const char *name, int type, const char *label,
                             const char *value, int64_t start, int64_t end)
{
    read_request(out, name, type, label, value, start, end, 1);
}

void h_read_request(h_buf *out, const char *name, int64_t start, int64_t end)
{
    read_request(out, name, 0, NULL, NULL, start, end, 1);
}

void h_read_request_repeated(h_buf *out, const char *name, int64_t start, int64_t end,
                             unsigned n_queries)
{
    read_request(out, name, 0, NULL, NULL, start, end, n_queries);
}

/* A protobuf field as the reader sees it. */
typedef struct pb_field {
    unsigned num, wire;
    uint64_t v;          /* varint or fixed64 value */
    const uint8_t *data; /* length-delimited bytes */
    size_t len;
} pb_field;

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Read the next field; 1 at the end, -1 on bad input. */
static int next_field(const uint8_t **p, const uint8_t *end, pb_field *f)
{
    uint64_t key;
    if (*p == end)
        return 1;
    if (get_varint(p, end, &key) != 0)
        return -1;
    f->num = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    switch (f->wire) {
    case 0:
        return get_varint(p, end, &f->v);
    case 1:
        if (end - *p < 8)
            return -1;
        f->v = 0;
        for (int k = 0; k < 8; k++)
            f->v |= (uint64_t)(*p)[k] << (8 * k);
        *p += 8;
        return 0;
    case 2:
        if (get_varint(p, end, &f->v) != 0 || f->v > (uint64_t)(end - *p))
            return -1;
        f->data = *p;
        f->len = (size_t)f->v;
        *p += f->len;
        return 0;
    case 5:
        if (end - *p < 4)
            return -1;
        *p += 4;
        return 0;
    default:
        return -1;
    }
}

/* The first length-delimited field `num` of a message. */
static int first_sub(const uint8_t *msg, size_t len, unsigned num, const uint8_t **sub,
                     size_t *sub_len)
{
    const uint8_t *p = msg, *end = msg + len;
    pb_field f;
    int rc;
    while ((rc = next_field(&p, end, &f)) == 0) {
        if (f.num == num && f.wire == 2) {
            *sub = f.data;
            *sub_len = f.len;
            return 0;
        }
    }
    return -1;
}

/* The decompressed body into *raw (malloc'd, the caller frees it), or -1. */
static int unsnappy(const void *body, size_t len, char **raw, size_t *raw_len)
{
    *raw = NULL;
    if (snappy_uncompressed_length(body, len, raw_len) != SNAPPY_OK || *raw_len > (64u << 20))
        return -1;
    *raw = malloc(*raw_len + 1);
    assert_non_null(*raw);
    return snappy_uncompress(body, len, *raw, raw_len) == SNAPPY_OK ? 0 : -1;
}

int h_read_response_samples(const void *body, size_t len, int64_t *t, double *v, size_t max,
                            size_t *n)
{
    size_t raw_len;
    char *raw;
    int rc = -1;
    if (unsnappy(body, len, &raw, &raw_len) != 0)
        goto out;
    const uint8_t *result, *series;
    size_t result_len, series_len;
    *n = 0;
    if (first_sub((const uint8_t *)raw, raw_len, 1, &result, &result_len) != 0) {
        rc = 0; /* no result at all: zero samples */
        goto out;
    }
    if (first_sub(result, result_len, 1, &series, &series_len) != 0) {
        rc = 0;
        goto out;
    }
    const uint8_t *p = series, *end = series + series_len;
    pb_field f;
    int st;
    while ((st = next_field(&p, end, &f)) == 0) {
        if (f.num != 2 || f.wire != 2 || *n >= max)
            continue;
        const uint8_t *q = f.data, *qend = f.data + f.len;
        pb_field g;
        int64_t ts = 0;
        uint64_t bits = 0;
        while (next_field(&q, qend, &g) == 0) {
            if (g.num == 1 && g.wire == 1)
                bits = g.v;
            else if (g.num == 2 && g.wire == 0)
                ts = (int64_t)g.v;
        }
        t[*n] = ts;
        memcpy(&v[*n], &bits, 8);
        (*n)++;
    }
    rc = st == 1 ? 0 : -1;
out:
    free(raw);
    return rc;
}

long h_read_response_series(const void *body, size_t len)
{
    size_t raw_len, result_len;
    char *raw;
    long n = -1;
    const uint8_t *result;
    if (unsnappy(body, len, &raw, &raw_len) != 0)
        goto out;
    n = 0;
    if (first_sub((const uint8_t *)raw, raw_len, 1, &result, &result_len) != 0)
        goto out; /* no result at all: no series */
    const uint8_t *p = result, *end = result + result_len;
    pb_field f;
    int st;
    while ((st = next_field(&p, end, &f)) == 0)
        n += f.num == 1 && f.wire == 2;
    if (st != 1)
        n = -1;
out:
    free(raw);
    return n;
}

/* --- Raw TCP ----------------------------------------------------------------- */

int h_read_until_close(int fd, double timeout_s, char *out, size_t len)
{
    size_t got = 0;
    double t0 = h_now_s();
    out[0] = '\0';
    for (;;) {
        double left = timeout_s - (h_now_s() - t0);
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return 0;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno == EINTR || errno == EAGAIN ? 0 : -1;
        size_t keep = (size_t)n < len - 1 - got ? (size_t)n : len - 1 - got;
        memcpy(out + got, buf, keep);
        got += keep;
        out[got] = '\0';
    }
}
