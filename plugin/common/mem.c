/* mem.c -- see mem.h. */
#include "mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * The fault counter. Until a test first calls ps_mem_fail_at, `active` is 0
 * and an allocation costs one relaxed load more than malloc (no atomic
 * read-modify-write on the allocation path of a production process). Once
 * active, every allocation takes a ticket (so a test can count them); the one
 * whose ticket equals fail_at, if fail_at is not 0, fails.
 */
static atomic_int active;
static atomic_uint_fast64_t fail_at;
static atomic_uint_fast64_t count;
static atomic_int failed;

static int injected_failure(void)
{
    if (!atomic_load_explicit(&active, memory_order_relaxed))
        return 0;
    uint64_t at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    uint64_t ticket = atomic_fetch_add_explicit(&count, 1, memory_order_relaxed) + 1;
    if (at == 0 || ticket != at)
        return 0;
    atomic_store(&failed, 1);
    return 1;
}

void ps_mem_fail_at(uint64_t n)
{
    atomic_store(&count, 0);
    atomic_store(&failed, 0);
    atomic_store(&fail_at, n);
    atomic_store(&active, 1);
}

uint64_t ps_mem_count(void)
{
    return atomic_load(&count);
}

int ps_mem_failed(void)
{
    return atomic_load(&failed);
}

void *ps_malloc(size_t n)
{
    return injected_failure() ? NULL : malloc(n);
}

void *ps_calloc(size_t count_, size_t size)
{
    return injected_failure() ? NULL : calloc(count_, size);
}

void *ps_realloc(void *p, size_t n)
{
    return injected_failure() ? NULL : realloc(p, n);
}

void ps_free(void *p)
{
    free(p);
}

char *ps_strndup(const char *s, size_t n)
{
    char *c = ps_malloc(n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

void *ps_memdup(const void *p, size_t n)
{
    void *c = ps_malloc(n ? n : 1);
    if (c != NULL && n)
        memcpy(c, p, n);
    return c;
}

int ps_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    if (elem != 0 && n > SIZE_MAX / elem)
        return -1;
    void *q = ps_realloc(*p, n * elem);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

int ps_buf_reserve(ps_buf *b, size_t more)
{
    if (more > SIZE_MAX - b->len)
        return -1;
    return ps_grow((void **)&b->data, &b->cap, b->len + more, 1);
}

int ps_buf_append(ps_buf *b, const void *p, size_t n)
{
    if (ps_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void ps_buf_free(ps_buf *b)
{
    ps_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
