/* testutil.c -- see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const char *g_backend = "lmdb";

char *tu_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (path == NULL)
        abort();
    snprintf(path, n, "%s/promstore-%s-XXXXXX", base, tag);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

void tu_rmtree(char *path)
{
    if (path == NULL)
        return;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

const char *tu_backend_from_argv(int argc, char **argv)
{
    if (argc < 2)
        return g_backend = "lmdb";
    if (strcmp(argv[1], "lmdb") == 0 || strcmp(argv[1], "sqlite") == 0)
        return g_backend = argv[1];
    fprintf(stderr, "usage: %s [lmdb|sqlite]\n", argv[0]);
    exit(2);
}

const char *tu_backend(void)
{
    return g_backend;
}

uint64_t tu_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

double tu_float(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Fail naming the field when buf[0..cap) holds no NUL. */
static void assert_terminated(const char *buf, size_t cap, const char *field)
{
    if (memchr(buf, '\0', cap) == NULL)
        fail_msg("promstore_http_response.%s is not NUL-terminated within its %zu bytes",
                 field, cap);
}

void tu_assert_response_terminated(const promstore_http_response *resp)
{
    if (resp->n_headers > PROMSTORE_HTTP_MAX_HEADERS)
        fail_msg("n_headers is %zu, more than PROMSTORE_HTTP_MAX_HEADERS", resp->n_headers);
    assert_terminated(resp->content_type, sizeof resp->content_type, "content_type");
    assert_terminated(resp->content_encoding, sizeof resp->content_encoding, "content_encoding");
    assert_terminated(resp->message, sizeof resp->message, "message");
    for (size_t i = 0; i < resp->n_headers; i++) {
        char field[48];
        snprintf(field, sizeof field, "headers[%zu].name", i);
        assert_terminated(resp->headers[i].name, sizeof resp->headers[i].name, field);
        snprintf(field, sizeof field, "headers[%zu].value", i);
        assert_terminated(resp->headers[i].value, sizeof resp->headers[i].value, field);
    }
}

uint64_t tu_mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

uint64_t tu_fnv1a(const void *s, size_t n, uint64_t h)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(1099511628211);
    return h;
}

double tu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
