/*
 * log_limit.c -- the per-reason log limiter behind log_limit.h.
 *
 * The reasons are few and fixed by the code (a handler and a status code or
 * a short cause), so they live in a small table searched linearly under one
 * mutex; the lock is taken only on the paths that log a rejection, never by
 * a request that succeeds. Should the table ever fill, further reasons share
 * its last slot ("other"), so memory stays bounded whatever a client sends.
 * The summary line is written outside the lock.
 */
#define _GNU_SOURCE
#include "log_limit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define MAX_REASONS 32

struct reason {
    char handler[40], cause[24];
    int64_t window_start_ms;
    uint64_t lines;       /* written in this window */
    uint64_t pending;     /* suppressed in this window, not yet summarised */
    uint64_t suppressed;  /* suppressed ever (the metric) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct reason reasons[MAX_REASONS];
static size_t n_reasons;
static uint64_t max_lines = 10;
static int64_t interval_ms = 10000;

void srv_log_limit_set(uint64_t lines, int64_t interval)
{
    max_lines = lines;
    interval_ms = interval > 0 ? interval : 1;
}

static struct reason *add(const char *handler, const char *cause)
{
    struct reason *r = &reasons[n_reasons++];
    memset(r, 0, sizeof *r);
    snprintf(r->handler, sizeof r->handler, "%s", handler);
    snprintf(r->cause, sizeof r->cause, "%s", cause);
    return r;
}

static struct reason *find(const char *handler, const char *cause)
{
    for (size_t i = 0; i < n_reasons; i++)
        if (strncmp(reasons[i].handler, handler, sizeof reasons[i].handler - 1) == 0 &&
            strncmp(reasons[i].cause, cause, sizeof reasons[i].cause - 1) == 0)
            return &reasons[i];
    if (n_reasons == MAX_REASONS - 1)
        add("other", "other");
    if (n_reasons == MAX_REASONS)
        return &reasons[MAX_REASONS - 1];
    return add(handler, cause);
}

/* A summary to write once the lock is released. */
struct summary {
    char handler[40], cause[24];
    uint64_t count;
};

static struct summary take_pending(struct reason *r)
{
    struct summary s;
    memcpy(s.handler, r->handler, sizeof s.handler);
    memcpy(s.cause, r->cause, sizeof s.cause);
    s.count = r->pending;
    r->pending = 0;
    r->lines = 0;
    return s;
}

static void write_summary(const struct summary *s)
{
    if (s->count == 0)
        return;
    char count[24], window[32];
    snprintf(count, sizeof count, "%" PRIu64, s->count);
    snprintf(window, sizeof window, "%" PRId64 "ms", interval_ms);
    srv_log(SRV_LOG_WARN, "Suppressed similar log lines", "handler", s->handler, "cause",
            s->cause, "suppressed", count, "window", window, NULL);
}

bool srv_log_limit_admit(const char *handler, const char *cause)
{
    if (max_lines == 0)
        return true;
    int64_t now = srv_monotonic_ms();
    struct summary done = {.count = 0};
    pthread_mutex_lock(&mu);
    struct reason *r = find(handler, cause);
    if (r->lines == 0 || now - r->window_start_ms >= interval_ms) {
        done = take_pending(r);
        r->window_start_ms = now;
    }
    bool ok = r->lines < max_lines;
    if (ok) {
        r->lines++;
    } else {
        r->pending++;
        r->suppressed++;
    }
    pthread_mutex_unlock(&mu);
    write_summary(&done);
    return ok;
}

void srv_log_limit_flush(void)
{
    struct summary todo[MAX_REASONS];
    size_t n = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n_reasons; i++)
        todo[n++] = take_pending(&reasons[i]);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n; i++)
        write_summary(&todo[i]);
}

void srv_log_limit_each(srv_log_limit_fn fn, void *ctx)
{
    struct reason copy[MAX_REASONS];
    pthread_mutex_lock(&mu);
    size_t n = n_reasons;
    memcpy(copy, reasons, n * sizeof *copy);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n; i++)
        fn(ctx, copy[i].handler, copy[i].cause, copy[i].suppressed);
}
