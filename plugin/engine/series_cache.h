/*
 * series_cache.h -- the writer's map from labels key to series id.
 *
 * Looking a series up in the backend costs a B-tree search and a key build;
 * at millions of samples per second that is most of the work, so the writer
 * keeps the keys it has seen in an open-addressing hash table. It is only a
 * cache: filled lazily after open (nothing to load at start-up), cleared
 * whole when it passes its memory budget or when a write transaction fails,
 * and never read by queries.
 *
 * An entry may also hold a copy of the series' head value (its open chunk as
 * stored), so that appending to an active series needs no B-tree read. The
 * copy is updated together with every head write; any failed transaction
 * clears the whole cache, so a copy never outlives the state it mirrors.
 */
#ifndef PS_SERIES_CACHE_H
#define PS_SERIES_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* What an entry knows of the series' head value. */
enum { PS_HEAD_UNKNOWN = 0, PS_HEAD_ABSENT = 1, PS_HEAD_CACHED = 2 };

typedef struct ps_cache_slot {
    uint64_t hash;   /* 0 = empty */
    uint64_t id;
    uint64_t key_off; /* offset of the key in the arena */
    uint32_t key_len;
    uint32_t head_len, head_cap;
    uint8_t *head;    /* malloc'd copy of the head value when PS_HEAD_CACHED */
    uint8_t head_state;
} ps_cache_slot;

typedef struct ps_series_cache {
    ps_cache_slot *slots;
    size_t n_slots; /* power of two */
    size_t n_used;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    size_t head_bytes; /* memory held by head copies */
    size_t budget_bytes;
} ps_series_cache;

void ps_cache_init(ps_series_cache *c, size_t budget_bytes);
void ps_cache_free(ps_series_cache *c);
void ps_cache_clear(ps_series_cache *c);
/* The entry for key, or NULL. Valid until the next put or clear. */
ps_cache_slot *ps_cache_find(ps_series_cache *c, uint64_t hash, const uint8_t *key, size_t klen);
/* Remember key -> id; returns the entry, or NULL when out of memory. */
ps_cache_slot *ps_cache_put(ps_series_cache *c, uint64_t hash, const uint8_t *key, size_t klen,
                            uint64_t id);
/* Record the head value of an entry (NULL, 0: the series has none). */
void ps_cache_set_head(ps_series_cache *c, ps_cache_slot *s, const void *head, size_t len);

#endif
