/*
 * clock.h -- the monotonic clock in milliseconds, which the server's timers
 * (read deadlines, the read queue, the log limiter) all count in, and the
 * struct timespec that pthread_cond_timedwait wants for such a time, on a
 * condition made with srv_monotonic_cond_init.
 *
 * Thread-safety: pure functions.
 */
#ifndef SRV_CLOCK_H
#define SRV_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
static inline int64_t srv_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_MONOTONIC time ms (as srv_monotonic_ms counts) as a timespec. */
static inline struct timespec srv_monotonic_timespec(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    return ts;
}

/* Make c a condition whose timed waits count on CLOCK_MONOTONIC. */
static inline void srv_monotonic_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

#endif
