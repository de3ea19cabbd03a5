/*
 * fuzz_common.c -- the store, helpers and response checks shared by the
 * fuzz targets. See fuzz_common.h.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <snappy-c.h>

/* Recycle the store past these (checked every TICK_EVERY inputs). */
#define TICK_EVERY 512
#define MAX_SERIES 20000
#define MAX_FILE_BYTES ((uint64_t)256 << 20)

static promstore *g_db;
static char g_dir[PATH_MAX];
static fuzz_opts_fn g_opts;
static fuzz_fill_fn g_fill;
static unsigned long g_ticks;

/*
 * A copy of stderr taken before main(): libFuzzer's -close_fd_mask closes fd
 * 2 (to silence a noisy target) after keeping its own copy, and
 * fuzz_fail() must still be heard.
 */
static int g_err_fd = 2;

__attribute__((constructor)) static void keep_stderr(void)
{
    int fd = dup(2);
    if (fd >= 0)
        g_err_fd = fd;
}

void fuzz_fail(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(g_err_fd, "FUZZ INVARIANT BROKEN: %s\n", msg);
    abort();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void store_open(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/promstore-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_dir) == NULL)
        fuzz_fail("mkdtemp %s failed", g_dir);
    promstore_options o;
    promstore_options_init(&o);
    o.backend = "lmdb";
    o.path = g_dir;
    if (g_opts)
        g_opts(&o);
    promstore_error err;
    if (promstore_open(&o, &g_db, &err) != PROMSTORE_OK)
        fuzz_fail("promstore_open %s: %s", g_dir, err.message);
    if (g_fill)
        g_fill(g_db);
}

static void store_close(void)
{
    promstore_error err;
    if (g_db && promstore_close(g_db, &err) != PROMSTORE_OK)
        fuzz_fail("promstore_close: %s", err.message);
    g_db = NULL;
    rm_tree(g_dir);
    g_dir[0] = '\0';
}

void fuzz_store_setup(fuzz_opts_fn opts, fuzz_fill_fn fill)
{
    g_opts = opts;
    g_fill = fill;
    store_open();
    atexit(store_close);
}

promstore *fuzz_store(void)
{
    return g_db;
}

void fuzz_store_tick(void)
{
    if (++g_ticks % TICK_EVERY != 0)
        return;
    promstore_stats st = {.struct_size = sizeof st};
    promstore_error err;
    if (promstore_stats_get(g_db, &st, &err) != PROMSTORE_OK)
        fuzz_fail("promstore_stats_get: %s", err.message);
    if (st.series > MAX_SERIES || st.file_bytes > MAX_FILE_BYTES) {
        store_close();
        store_open();
    }
}

uint8_t *fuzz_snappy(const uint8_t *p, size_t n, size_t *out_len)
{
    size_t cap = snappy_max_compressed_length(n);
    uint8_t *out = malloc(cap ? cap : 1);
    if (out == NULL)
        fuzz_fail("out of memory");
    *out_len = cap;
    if (snappy_compress((const char *)p, n, (char *)out, out_len) != SNAPPY_OK)
        fuzz_fail("snappy_compress of %zu bytes failed", n);
    return out;
}

uint8_t *fuzz_dup(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    if (q == NULL)
        fuzz_fail("out of memory");
    if (n)
        memcpy(q, p, n);
    return q;
}

char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        fuzz_fail("out of memory");
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void check_str(const char *what, const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        fuzz_fail("response %s is not NUL-terminated", what);
}

void fuzz_check_response(const promstore_http_response *resp, const int *allowed)
{
    int ok = 0;
    for (const int *a = allowed; *a; a++)
        ok |= *a == resp->status;
    check_str("message", resp->message, sizeof resp->message);
    check_str("content_type", resp->content_type, sizeof resp->content_type);
    check_str("content_encoding", resp->content_encoding, sizeof resp->content_encoding);
    if (!ok)
        fuzz_fail("unexpected status %d (message \"%s\")", resp->status, resp->message);
    if (resp->n_headers > PROMSTORE_HTTP_MAX_HEADERS)
        fuzz_fail("n_headers %zu", resp->n_headers);
    for (size_t i = 0; i < resp->n_headers; i++) {
        check_str("header name", resp->headers[i].name, sizeof resp->headers[i].name);
        check_str("header value", resp->headers[i].value, sizeof resp->headers[i].value);
        if (resp->headers[i].name[0] == '\0')
            fuzz_fail("header %zu has an empty name", i);
    }
    if (resp->status >= 400 && resp->message[0] == '\0')
        fuzz_fail("status %d without a message", resp->status);
    if (resp->status < 400 && resp->message[0] != '\0')
        fuzz_fail("status %d with message \"%s\"", resp->status, resp->message);
    /* The message goes out as a one-line body: no control bytes. */
    for (const char *p = resp->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fuzz_fail("control byte 0x%02x in the message", (unsigned char)*p);
}

const char *fuzz_header(const promstore_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers && i < PROMSTORE_HTTP_MAX_HEADERS; i++)
        if (strcmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

promstore_http_request fuzz_request(const char *content_type, const char *content_encoding,
                                    const uint8_t *body, size_t body_len)
{
    promstore_http_request r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.content_type = content_type;
    r.content_encoding = content_encoding;
    r.body = body;
    r.body_len = body_len;
    return r;
}

promstore_http_response fuzz_response(void)
{
    promstore_http_response r;
    memset(&r, 0xa5, sizeof r); /* the entry point must fill everything */
    r.struct_size = sizeof r;
    return r;
}

uint8_t *fuzz_body(const uint8_t *rest, size_t n, int compress, size_t *len)
{
    if (compress)
        return fuzz_snappy(rest, n, len);
    *len = n;
    return fuzz_dup(rest, n);
}

/* The counts of the answer against those of the message. */
static void check_counts(const char *content_type, const uint8_t *raw, size_t n,
                         fuzz_write_count_fn count, const promstore_http_response *resp)
{
    fuzz_write_counts c = {0, 0, 0, 0};
    if (count(raw, n, &c) != 0) {
        if (resp->status != 400 && resp->status != 413)
            fuzz_fail("undecodable %s answered %d", content_type, resp->status);
        return;
    }
    if (resp->samples_written + resp->samples_rejected > c.samples)
        fuzz_fail("%" PRIu64 " written + %" PRIu64 " rejected of %" PRIu64 " samples",
                  resp->samples_written, resp->samples_rejected, c.samples);
    if (resp->status == 204 &&
        (resp->samples_written != c.samples || resp->samples_rejected != 0 ||
         resp->exemplars_dropped != c.exemplars || resp->histograms_dropped != c.histograms ||
         resp->metadata_dropped != c.metadata))
        fuzz_fail("204 with written %" PRIu64 "/%" PRIu64 " rejected %" PRIu64
                  " exemplars %" PRIu64 "/%" PRIu64 " histograms %" PRIu64 "/%" PRIu64
                  " metadata %" PRIu64 "/%" PRIu64,
                  resp->samples_written, c.samples, resp->samples_rejected,
                  resp->exemplars_dropped, c.exemplars, resp->histograms_dropped, c.histograms,
                  resp->metadata_dropped, c.metadata);
}

int fuzz_remote_write_input(const uint8_t *data, size_t size, const char *content_type,
                            void (*check_answer)(const promstore_http_response *resp),
                            fuzz_write_count_fn count)
{
    static const int allowed[] = {204, 400, 413, 503, 507, 0};
    if (size < 1)
        return 0;
    int compress = data[0] & 1;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    size_t body_len;
    uint8_t *body = fuzz_body(rest, n, compress, &body_len);
    promstore_http_request req = fuzz_request(content_type, "snappy", body, body_len);
    promstore_http_response resp = fuzz_response();
    promstore_error err;
    promstore_status rc = promstore_remote_write(fuzz_store(), &req, &resp, &err);
    if (rc != PROMSTORE_OK)
        fuzz_fail("promstore_remote_write returned %d: %s", rc, err.message);
    fuzz_check_response(&resp, allowed);
    if (check_answer != NULL)
        check_answer(&resp);
    if (compress)
        check_counts(content_type, rest, n, count, &resp);
    free(body);
    fuzz_store_tick();
    return 0;
}
