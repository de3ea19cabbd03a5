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

#include "clock.h"

struct srv_deadline {
    int fd;
    atomic_int_fast64_t clock_start_ms; /* when the clock last started */
    atomic_bool reading;                /* the clock runs */
    atomic_bool begun;                  /* a request's headers are in */
    atomic_int_fast64_t begun_ms;       /* when they came in */
    atomic_uint_fast64_t body_bytes;    /* of the current request, so far */
    bool spare;                         /* accepted past max_connections */
    atomic_int_fast64_t sent_ms;        /* when the stream last handed bytes to MHD */
    atomic_bool sending;                /* the stream waits on the client */
    bool cut;                           /* shut down already (sweeper only) */
    srv_deadline *prev, *next;          /* under the set's lock */
};

struct srv_deadlines {
    srv_deadline_limits lim;
    void (*on_cut)(enum srv_cut_reason reason);
    pthread_mutex_t lock; /* the list; held while shutting a socket down */
    srv_deadline *head;
    unsigned count; /* connections in the list */
    pthread_cond_t wake;
    bool stopping;
    pthread_t sweeper;
};

/* An idle connection (or a slow body) is shed after this long when slots run short. */
#define SHED_IDLE_MS 1000

/* Not close(): the descriptor is libmicrohttpd's; it closes it on EOF. */
static void cut(srv_deadlines *set, srv_deadline *d, enum srv_cut_reason reason)
{
    shutdown(d->fd, SHUT_RDWR);
    d->cut = true;
    if (set->on_cut)
        set->on_cut(reason);
}

/*
 * The average rate of d's body since its headers (bytes a second), when it
 * has been arriving for at least grace_ms and is below the minimum; -1 when
 * it is not such a slow body.
 */
static double slow_body_rate(const srv_deadlines *set, srv_deadline *d, int64_t now,
                             int64_t grace_ms)
{
    if (set->lim.min_body_rate == 0 || !atomic_load(&d->begun))
        return -1;
    int64_t took = now - atomic_load(&d->begun_ms);
    if (took < grace_ms || took <= 0)
        return -1;
    double rate = (double)atomic_load(&d->body_bytes) * 1000.0 / (double)took;
    return rate < (double)set->lim.min_body_rate ? rate : -1;
}

struct slow {
    srv_deadline *d;
    double rate;
};

static int slowest_first(const void *a, const void *b)
{
    double x = ((const struct slow *)a)->rate, y = ((const struct slow *)b)->rate;
    return x < y ? -1 : x > y;
}

/*
 * Slots are still short after the idle were shed: cut up to `want` body
 * senders below the minimum rate for a second or more, slowest first. Should
 * the list not be allocated, every one of them is cut.
 */
static void shed_slow_bodies(srv_deadlines *set, int64_t now, unsigned want)
{
    struct slow *list = malloc((size_t)set->count * sizeof *list);
    size_t n = 0;
    for (srv_deadline *d = set->head; d != NULL; d = d->next) {
        double rate;
        if (d->cut || !atomic_load(&d->reading) ||
            (rate = slow_body_rate(set, d, now, SHED_IDLE_MS)) < 0)
            continue;
        if (list == NULL)
            cut(set, d, SRV_CUT_SHED);
        else
            list[n++] = (struct slow){d, rate};
    }
    if (list == NULL)
        return;
    qsort(list, n, sizeof *list, slowest_first);
    for (size_t i = 0; i < n && i < want; i++)
        cut(set, list[i].d, SRV_CUT_SHED);
    free(list);
}

/* A stream the client has taken nothing from for the write timeout. */
static bool write_stalled(const srv_deadlines *set, const srv_deadline *d, int64_t now)
{
    return atomic_load(&d->sending) && set->lim.write_timeout_ms > 0 &&
           now - atomic_load(&d->sent_ms) >= set->lim.write_timeout_ms;
}

static void sweep(srv_deadlines *set)
{
    int64_t now = srv_monotonic_ms();
    unsigned live = 0;
    for (srv_deadline *d = set->head; d != NULL; d = d->next)
        live += !d->cut;
    bool shedding = set->lim.shed_at > 0 && live >= set->lim.shed_at;
    for (srv_deadline *d = set->head; d != NULL; d = d->next) {
        if (d->cut)
            continue;
        if (write_stalled(set, d, now)) {
            cut(set, d, SRV_CUT_WRITE_STALL);
            live--;
            continue;
        }
        if (!atomic_load(&d->reading))
            continue;
        int64_t waited = now - atomic_load(&d->clock_start_ms);
        enum srv_cut_reason reason;
        if (set->lim.timeout_ms > 0 && waited >= set->lim.timeout_ms)
            reason = SRV_CUT_DEADLINE;
        else if (shedding && !atomic_load(&d->begun) && waited >= SHED_IDLE_MS)
            reason = SRV_CUT_SHED;
        else if (slow_body_rate(set, d, now, set->lim.min_body_grace_ms) >= 0)
            reason = SRV_CUT_SLOW_BODY;
        else
            continue;
        cut(set, d, reason);
        live--;
    }
    if (shedding && live >= set->lim.shed_at)
        shed_slow_bodies(set, now, live - set->lim.shed_at + 1);
}

/* The sweeper's period: a quarter of the shortest timeout, within [50 ms, 1 s]. */
static int64_t sweep_every_ms(const srv_deadlines *set)
{
    int64_t shortest = SHED_IDLE_MS;
    if (set->lim.timeout_ms > 0 && set->lim.timeout_ms < shortest)
        shortest = set->lim.timeout_ms;
    if (set->lim.write_timeout_ms > 0 && set->lim.write_timeout_ms < shortest)
        shortest = set->lim.write_timeout_ms;
    int64_t every = shortest / 4;
    return every < 50 ? 50 : every > 1000 ? 1000 : every;
}

static void *sweeper_main(void *arg)
{
    srv_deadlines *set = arg;
    int64_t every = sweep_every_ms(set); /* cuts land at most that late */
    pthread_mutex_lock(&set->lock);
    while (!set->stopping) {
        struct timespec until = srv_monotonic_timespec(srv_monotonic_ms() + every);
        pthread_cond_timedwait(&set->wake, &set->lock, &until);
        if (!set->stopping)
            sweep(set);
    }
    pthread_mutex_unlock(&set->lock);
    return NULL;
}

srv_deadlines *srv_deadlines_start(const srv_deadline_limits *limits,
                                   void (*on_cut)(enum srv_cut_reason reason))
{
    srv_deadlines *set = calloc(1, sizeof *set);
    if (set == NULL)
        return NULL;
    set->lim = *limits;
    set->on_cut = on_cut;
    srv_monotonic_cond_init(&set->wake);
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
    atomic_store(&d->clock_start_ms, srv_monotonic_ms());
    atomic_store(&d->reading, true);
    pthread_mutex_lock(&set->lock);
    d->spare = set->lim.max_connections > 0 && set->count >= set->lim.max_connections;
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
    if (d == NULL)
        return;
    atomic_store(&d->body_bytes, 0);
    atomic_store(&d->begun_ms, srv_monotonic_ms());
    atomic_store(&d->begun, true);
}

void srv_deadline_body_arrived(srv_deadline *d, uint64_t n)
{
    if (d != NULL)
        atomic_fetch_add(&d->body_bytes, n);
}

bool srv_deadline_spare(const srv_deadline *d)
{
    return d != NULL && d->spare;
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
    atomic_store(&d->sent_ms, srv_monotonic_ms());
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
    atomic_store(&d->clock_start_ms, srv_monotonic_ms());
    atomic_store(&d->begun, false);
    atomic_store(&d->reading, true);
}
