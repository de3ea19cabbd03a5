/*
 * log.c -- the logfmt writer behind log.h. A line is built in a stack buffer
 * and written with one write(2) so that lines from the server's threads stay
 * whole; a line too long for the buffer is cut and ends with "...".
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static atomic_int min_level = SRV_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int srv_log_parse_level(const char *s, enum srv_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum srv_log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *srv_log_level_name(enum srv_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "info";
}

void srv_log_set_level(enum srv_log_level level)
{
    atomic_store(&min_level, (int)level);
}

/* A growing line that silently stops at its capacity. */
struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
    bool cut;
};

static void put_char(struct line *l, char c)
{
    /* Keep room for "...\n". */
    if (l->len + 5 >= sizeof l->buf) {
        l->cut = true;
        return;
    }
    l->buf[l->len++] = c;
}

static void put_str(struct line *l, const char *s)
{
    for (; *s; s++)
        put_char(l, *s);
}

static bool needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

/* A logfmt value: bare when safe, otherwise quoted with Go-like escapes. */
static void put_value(struct line *l, const char *v)
{
    if (!needs_quotes(v)) {
        put_str(l, v);
        return;
    }
    put_char(l, '"');
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\') {
            put_char(l, '\\');
            put_char(l, (char)c);
        } else if (c == '\n') {
            put_str(l, "\\n");
        } else if (c == '\r') {
            put_str(l, "\\r");
        } else if (c == '\t') {
            put_str(l, "\\t");
        } else if (c < ' ' || c == 0x7f) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", c);
            put_str(l, esc);
        } else {
            put_char(l, (char)c);
        }
    }
    put_char(l, '"');
}

static void put_timestamp(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
    put_str(l, buf);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return; /* nowhere to report a failing stderr */
        p += w;
        n -= (size_t)w;
    }
}

void srv_log(enum srv_log_level level, const char *msg, ...)
{
    if ((int)level < atomic_load(&min_level))
        return;
    struct line l = {.len = 0, .cut = false};
    put_str(&l, "ts=");
    put_timestamp(&l);
    put_str(&l, " level=");
    put_str(&l, srv_log_level_name(level));
    put_str(&l, " msg=");
    put_value(&l, msg);

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        put_char(&l, ' ');
        put_str(&l, key);
        put_char(&l, '=');
        put_value(&l, value ? value : "");
    }
    va_end(ap);
    if (l.cut)
        memcpy(l.buf + l.len, "...", 3), l.len += 3;
    l.buf[l.len++] = '\n';
    write_all(l.buf, l.len);
}
