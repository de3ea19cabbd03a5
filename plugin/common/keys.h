/*
 * keys.h -- byte encodings of the engine's keys and values.
 *
 * Integers in keys are big-endian so that memcmp orders them; signed
 * timestamps have their sign bit flipped first, so that negative times sort
 * before positive ones. docs/format/ draws every table key by key, and
 * plugin/engine/schema.c is the one place that builds them.
 */
#ifndef PS_KEYS_H
#define PS_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void ps_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint64_t ps_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline void ps_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t ps_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A timestamp as an order-preserving unsigned key. */
static inline void ps_put_time(uint8_t *p, int64_t t)
{
    ps_put_u64(p, (uint64_t)t ^ UINT64_C(0x8000000000000000));
}

static inline int64_t ps_get_time(const uint8_t *p)
{
    return (int64_t)(ps_get_u64(p) ^ UINT64_C(0x8000000000000000));
}

/* Floor division: the block a timestamp falls in, also for negative times. */
static inline int64_t ps_block_of(int64_t t, int64_t block_ms)
{
    int64_t q = t / block_ms;
    if (t % block_ms != 0 && t < 0)
        q--;
    return q;
}

#endif
