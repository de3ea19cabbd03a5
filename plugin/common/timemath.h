/*
 * timemath.h -- arithmetic on millisecond timestamps that cannot overflow,
 * and the wall clock.
 *
 * Timestamps come from clients and span the whole int64 range (Prometheus
 * allows any int64), so a difference such as "newest minus the retention
 * time" or "a series' newest sample minus the out-of-order window" can leave
 * the range at either end. Signed overflow is undefined behaviour in C; in
 * practice it wraps, and a wrapped cutoff deletes a store or refuses every
 * sample. Every such sum here saturates at INT64_MIN / INT64_MAX instead,
 * which is the answer the comparisons that follow want: a cutoff below every
 * timestamp keeps everything, one above every timestamp drops everything.
 */
#ifndef PS_TIMEMATH_H
#define PS_TIMEMATH_H

#include <stdint.h>
#include <time.h>

/* a + b, saturated to [INT64_MIN, INT64_MAX]. */
static inline int64_t ps_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* a - b, saturated. */
static inline int64_t ps_sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* a * b, saturated. */
static inline int64_t ps_sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    return r;
}

/* The wall clock in milliseconds since the epoch (the clock samples are stamped by). */
static inline int64_t ps_wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
