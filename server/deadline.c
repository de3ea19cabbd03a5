/*
 * deadline.c -- the whole-request read deadline and the stalled-stream
 * write timeout; see deadline.h for why and for the thread rules.
 */
#define _GNU_SOURCE
#include "deadline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct srv_deadline {
    int fd;
    atomic_int_fast64_t clock_start_ms; /* when the clock last started */
    atomic_bool reading;                /* the clock runs */
    atomic_bool begun;                  /* a request's headers are in */
    atomic_int_fast64_t sent_ms;        /* when the stream last handed bytes to MHD */
    atomic_bool sending;                /* the stream waits on the client */
    bool cut;                           /* shut down already (sweeper only) */
    srv_deadline *prev, *next;          /* under the set's lock */
};

struct srv_deadlines {
    int64_t timeout_ms;
    int64_t write_timeout_ms;
    unsigned shed_at;
    void (*on_cut)(enum srv_cut_reason reason);
    pthread_mutex_t lock; /* the list; held while shutting a socket down */
    srv_deadline *head;
    unsigned count; /* connections in the list */
    pthread_cond_t wake;
    bool stopping;
    pthread_t sweeper;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An idle connection is shed after this long when slots run short. */
#define SHED_IDLE_MS 1000

/* Why d should be cut now, or -1 when it may stay. */
static int cut_reason(const srv_deadlines *set, const srv_deadline *d, int64_t now, bool shedding)
{
    if (atomic_load(&d->sending))
        return set->write_timeout_ms > 0 &&
                       now - atomic_load(&d->sent_ms) >= set->write_timeout_ms
                   ? SRV_CUT_WRITE_STALL
                   : -1;
    if (!atomic_load(&d->reading))
        return -1;
    int64_t waited = now - atomic_load(&d->clock_start_ms);
    if (set->timeout_ms > 0 && waited >= set->timeout_ms)
        return SRV_CUT_DEADLINE;
    if (shedding && !atomic_load(&d->begun) && waited >= SHED_IDLE_MS)
        return SRV_CUT_SHED;
    return -1;
}

static void sweep(srv_deadlines *set)
{
    int64_t now = now_ms();
    bool shedding = set->shed_at > 0 && set->count >= set->shed_at;
    for (srv_deadline *d = set->head; d != NULL; d = d->next) {
        int reason = d->cut ? -1 : cut_reason(set, d, now, shedding);
        if (reason < 0)
            continue;
        /* Not close(): the descriptor is libmicrohttpd's; it closes it on EOF. */
        shutdown(d->fd, SHUT_RDWR);
        d->cut = true;
        if (set->on_cut)
            set->on_cut((enum srv_cut_reason)reason);
    }
}

/* The sweeper's period: a quarter of the shortest timeout, within [50 ms, 1 s]. */
static int64_t sweep_every_ms(const srv_deadlines *set)
{
    int64_t shortest = SHED_IDLE_MS;
    if (set->timeout_ms > 0 && set->timeout_ms < shortest)
        shortest = set->timeout_ms;
    if (set->write_timeout_ms > 0 && set->write_timeout_ms < shortest)
        shortest = set->write_timeout_ms;
    int64_t every = shortest / 4;
    return every < 50 ? 50 : every > 1000 ? 1000 : every;
}

static void *sweeper_main(void *arg)
{
    srv_deadlines *set = arg;
    int64_t every = sweep_every_ms(set); /* cuts land at most that late */
    pthread_mutex_lock(&set->lock);
    while (!set->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += every / 1000;
        until.tv_nsec += (every % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&set->wake, &set->lock, &until);
        if (!set->stopping)
            sweep(set);
    }
    pthread_mutex_unlock(&set->lock);
    return NULL;
}

srv_deadlines *srv_deadlines_start(int64_t timeout_ms, int64_t write_timeout_ms,
                                   unsigned shed_at, void (*on_cut)(enum srv_cut_reason reason))
{
    srv_deadlines *set = calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    set->timeout_ms = timeout_ms;
    set->write_timeout_ms = write_timeout_ms;
    set->shed_at = shed_at;
    set->on_cut = on_cut;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&set->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&set->lock, NULL);
    if (pthread_create(&set->sweeper, NULL, sweeper_main, set) != 0) {
        pthread_cond_destroy(&set->wake);
        pthread_mutex_destroy(&set->lock);
        free(set);
        return NULL;
    }
    return set;
}

void srv_deadlines_stop(srv_deadlines *set)
{
    if (set == NULL)
        return;
    pthread_mutex_lock(&set->lock);
    set->stopping = true;
    pthread_cond_signal(&set->wake);
    pthread_mutex_unlock(&set->lock);
    pthread_join(set->sweeper, NULL);
    pthread_cond_destroy(&set->wake);
    pthread_mutex_destroy(&set->lock);
    free(set);
}

srv_deadline *srv_deadline_track(srv_deadlines *set, int fd)
{
    srv_deadline *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->fd = fd;
    atomic_store(&d->clock_start_ms, now_ms());
    atomic_store(&d->reading, true);
    pthread_mutex_lock(&set->lock);
    d->next = set->head;
    if (set->head)
        set->head->prev = d;
    set->head = d;
    set->count++;
    pthread_mutex_unlock(&set->lock);
    return d;
}

void srv_deadline_untrack(srv_deadlines *set, srv_deadline *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&set->lock);
    if (d->prev)
        d->prev->next = d->next;
    else
        set->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    set->count--;
    pthread_mutex_unlock(&set->lock);
    free(d);
}

void srv_deadline_request_begun(srv_deadline *d)
{
    if (d != NULL)
        atomic_store(&d->begun, true);
}

void srv_deadline_request_read(srv_deadline *d)
{
    if (d != NULL)
        atomic_store(&d->reading, false);
}

void srv_deadline_response_sent(srv_deadline *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->sent_ms, now_ms());
    atomic_store(&d->sending, true);
}

void srv_deadline_response_paused(srv_deadline *d)
{
    if (d != NULL)
        atomic_store(&d->sending, false);
}

void srv_deadline_request_done(srv_deadline *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->sending, false);
    atomic_store(&d->clock_start_ms, now_ms());
    atomic_store(&d->begun, false);
    atomic_store(&d->reading, true);
}
