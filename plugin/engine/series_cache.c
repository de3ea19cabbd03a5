/* series_cache.c -- see series_cache.h. */
#include "series_cache.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_SLOTS 1024

void ps_cache_init(ps_series_cache *c, size_t budget_bytes)
{
    memset(c, 0, sizeof *c);
    c->budget_bytes = budget_bytes;
}

void ps_cache_free(ps_series_cache *c)
{
    for (size_t i = 0; i < c->n_slots; i++)
        ps_free(c->slots[i].head);
    ps_free(c->slots);
    ps_free(c->arena);
    memset(c, 0, sizeof *c);
}

void ps_cache_clear(ps_series_cache *c)
{
    size_t budget = c->budget_bytes;
    ps_cache_free(c);
    c->budget_bytes = budget;
}

ps_cache_slot *ps_cache_find(ps_series_cache *c, uint64_t hash, const uint8_t *key, size_t klen)
{
    if (c->n_slots == 0)
        return NULL;
    hash |= 1; /* 0 marks an empty slot */
    size_t mask = c->n_slots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        ps_cache_slot *s = &c->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && s->key_len == klen &&
            memcmp(c->arena + s->key_off, key, klen) == 0)
            return s;
    }
}

/* Memory the cache holds: what its budget is compared with. */
static size_t footprint(const ps_series_cache *c)
{
    return c->arena_cap + c->n_slots * sizeof(ps_cache_slot) + c->head_bytes;
}

/* Free an entry's head copy and say what is known of the head now. */
static void drop_head(ps_series_cache *c, ps_cache_slot *s, uint8_t state)
{
    c->head_bytes -= s->head_cap;
    ps_free(s->head);
    s->head = NULL;
    s->head_len = s->head_cap = 0;
    s->head_state = state;
}

void ps_cache_set_head(ps_series_cache *c, ps_cache_slot *s, const void *head, size_t len)
{
    if (head == NULL) {
        drop_head(c, s, PS_HEAD_ABSENT);
        return;
    }
    /* Round up so a growing chunk is not reallocated on every sample. */
    size_t cap = (len + 127) & ~(size_t)127;
    /*
     * Heads grow with every sample while the series set stays the same, so
     * the budget is checked here too, not only when a series is added: over
     * it, this copy is dropped and the head is read from the store instead.
     */
    if (s->head_cap < cap && c->budget_bytes != 0 &&
        footprint(c) + (cap - s->head_cap) > c->budget_bytes) {
        drop_head(c, s, PS_HEAD_UNKNOWN);
        return;
    }
    /* A sealed head starts a small chunk: give back what the full one took. */
    if (s->head_cap < cap || s->head_cap >= 2 * cap + 256) {
        uint8_t *h = ps_realloc(s->head, cap);
        if (h == NULL) {
            s->head_state = PS_HEAD_UNKNOWN; /* forget rather than mislead */
            return;
        }
        c->head_bytes += cap;
        c->head_bytes -= s->head_cap;
        s->head = h;
        s->head_cap = (uint32_t)cap;
    }
    memcpy(s->head, head, len);
    s->head_len = (uint32_t)len;
    s->head_state = PS_HEAD_CACHED;
}

static int grow_slots(ps_series_cache *c)
{
    size_t n = c->n_slots ? c->n_slots * 2 : INITIAL_SLOTS;
    ps_cache_slot *slots = ps_calloc(n, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < c->n_slots; i++) {
        ps_cache_slot *s = &c->slots[i];
        if (s->hash == 0)
            continue;
        size_t j = s->hash & (n - 1);
        while (slots[j].hash != 0)
            j = (j + 1) & (n - 1);
        slots[j] = *s;
    }
    ps_free(c->slots);
    c->slots = slots;
    c->n_slots = n;
    return 0;
}
static int reserve_arena(ps_series_cache *c, size_t more)
{
    if (c->arena_len + more <= c->arena_cap)
        return 0;
    size_t cap = c->arena_cap ? c->arena_cap : 64 * 1024;
    while (cap < c->arena_len + more)
        cap *= 2;
    uint8_t *a = ps_realloc(c->arena, cap);
    if (a == NULL)
        return -1;
    c->arena = a;
    c->arena_cap = cap;
    return 0;
}

ps_cache_slot *ps_cache_put(ps_series_cache *c, uint64_t hash, const uint8_t *key, size_t klen,
                            uint64_t id)
{
    if (c->budget_bytes != 0 && footprint(c) > c->budget_bytes)
        ps_cache_clear(c); /* start over rather than grow past the budget */
    if ((c->n_used + 1) * 4 > c->n_slots * 3 && grow_slots(c) != 0)
        return NULL;
    if (reserve_arena(c, klen) != 0)
        return NULL;
    hash |= 1;
    size_t mask = c->n_slots - 1;
    size_t i = hash & mask;
    while (c->slots[i].hash != 0)
        i = (i + 1) & mask;
    memcpy(c->arena + c->arena_len, key, klen);
    c->slots[i] = (ps_cache_slot){hash, id, c->arena_len, (uint32_t)klen, 0, 0, NULL, PS_HEAD_UNKNOWN};
    c->arena_len += klen;
    c->n_used++;
    return &c->slots[i];
}
