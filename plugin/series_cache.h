/*
 * series_cache.h -- the writer's map from labels key to series id.
 *
 * Looking a series up in the backend costs a B-tree search and a key build;
 * at millions of samples per second that is most of the work, so the writer
 * keeps the keys it has seen in an open-addressing hash table. It is only a
 * cache: filled lazily after open (nothing to load at start-up), cleared
 * whole when it passes its memory budget or when a write transaction fails,
 * and never read by queries.
 */
#ifndef PS_SERIES_CACHE_H
#define PS_SERIES_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ps_cache_slot {
    uint64_t hash;   /* 0 = empty */
    uint64_t id;
    uint64_t key_off; /* offset of the key in the arena */
    uint32_t key_len;
} ps_cache_slot;

typedef struct ps_series_cache {
    ps_cache_slot *slots;
    size_t n_slots; /* power of two */
    size_t n_used;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    size_t budget_bytes;
} ps_series_cache;

void ps_cache_init(ps_series_cache *c, size_t budget_bytes);
void ps_cache_free(ps_series_cache *c);
void ps_cache_clear(ps_series_cache *c);
/* The id cached for key, or 0 (ids start at 1). */
uint64_t ps_cache_get(const ps_series_cache *c, uint64_t hash, const uint8_t *key, size_t klen);
/* Remember key -> id; silently does nothing when out of memory. */
void ps_cache_put(ps_series_cache *c, uint64_t hash, const uint8_t *key, size_t klen, uint64_t id);

#endif
