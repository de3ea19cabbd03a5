/*
 * test_series_cache.c -- the writer's series cache keeps to its memory
 * budget while the series set stays the same and only heads grow, and gives
 * memory back when a head is sealed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "series_cache.h"

enum { SERIES = 2000, FULL_HEAD = 1100 };

static size_t footprint(const ps_series_cache *c)
{
    return c->arena_cap + c->n_slots * sizeof(ps_cache_slot) + c->head_bytes;
}

static void fill(ps_series_cache *c, ps_cache_slot **slots)
{
    char key[32];
    for (int i = 0; i < SERIES; i++) {
        int n = snprintf(key, sizeof key, "series-%d", i);
        assert_non_null(ps_cache_put(c, (uint64_t)i * 0x9e3779b97f4a7c15u,
                                     (const uint8_t *)key, (size_t)n, (uint64_t)i + 1));
    }
    /* Slots move when the table grows: take their addresses once it is full. */
    for (int i = 0; i < SERIES; i++) {
        int n = snprintf(key, sizeof key, "series-%d", i);
        slots[i] = ps_cache_find(c, (uint64_t)i * 0x9e3779b97f4a7c15u, (const uint8_t *)key,
                                 (size_t)n);
        assert_non_null(slots[i]);
        assert_int_equal(slots[i]->id, (uint64_t)i + 1);
    }
}

/* Heads growing sample by sample: the footprint stays within the budget. */
static void test_heads_keep_to_the_budget(void **state)
{
    (void)state;
    static uint8_t head[FULL_HEAD];
    static ps_cache_slot *slots[SERIES];
    ps_series_cache c;
    ps_cache_init(&c, 0);
    fill(&c, slots);
    /* A budget with room for the keys and about a quarter of the full heads. */
    size_t budget = footprint(&c) + (size_t)SERIES * FULL_HEAD / 4;
    c.budget_bytes = budget;
    size_t cached = 0;
    for (size_t len = 16; len <= FULL_HEAD; len += 9)
        for (int i = 0; i < SERIES; i++) {
            memset(head, (int)len, len);
            ps_cache_set_head(&c, slots[i], head, len);
            assert_true(footprint(&c) <= budget);
        }
    for (int i = 0; i < SERIES; i++) {
        if (slots[i]->head_state != PS_HEAD_CACHED)
            continue; /* dropped: the head is read from the store instead */
        cached++;
        assert_true(slots[i]->head_len > FULL_HEAD - 9);
        assert_int_equal(slots[i]->head[0], (uint8_t)slots[i]->head_len);
    }
    /* Some copies were kept, not all of them fit. */
    assert_true(cached > 0 && cached < SERIES);
    ps_cache_free(&c);
}

/* Sealing a head (a new, small chunk) gives the full chunk's memory back. */
static void test_sealed_head_shrinks(void **state)
{
    (void)state;
    static uint8_t head[FULL_HEAD];
    static ps_cache_slot *slots[SERIES];
    ps_series_cache c;
    ps_cache_init(&c, 0);
    fill(&c, slots);
    size_t keys = footprint(&c);
    for (int i = 0; i < SERIES; i++)
        ps_cache_set_head(&c, slots[i], head, FULL_HEAD);
    assert_true(c.head_bytes >= (size_t)SERIES * FULL_HEAD);
    for (int i = 0; i < SERIES; i++)
        ps_cache_set_head(&c, slots[i], head, 40);
    assert_int_equal(c.head_bytes, (size_t)SERIES * 128);
    assert_int_equal(footprint(&c), keys + (size_t)SERIES * 128);
    for (int i = 0; i < SERIES; i++) {
        assert_int_equal(slots[i]->head_state, PS_HEAD_CACHED);
        assert_int_equal(slots[i]->head_len, 40);
    }
    ps_cache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_keep_to_the_budget),
        cmocka_unit_test(test_sealed_head_shrinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
