/*
 * mem.h -- the library's one allocation and buffer module.
 *
 * Every allocation of plugin/ and backends/ goes through ps_malloc and its
 * siblings, for two reasons:
 *   - Tests can make the N-th allocation fail (ps_mem_fail_at) and sweep N
 *     over a whole operation, as SQLite's and nghttp2's suites do: every
 *     failure must end in a clean PROMSTORE_E_NOMEM, no crash, no leak, and
 *     a store that is still sound.
 *   - Growth is written once: ps_grow for arrays, ps_buf for bytes, both
 *     checked against size_t overflow, so a hostile length cannot wrap a
 *     capacity into a small allocation.
 *
 * The allocator is the C library's; ps_free(p) is free(p), so memory from
 * these calls may also be freed with free() and vice versa. Nothing here is
 * exported from libpromstore.so.
 *
 * Threads: all calls may be made from any thread. The fault counter is one
 * per process: a test that arms it must not run other work concurrently
 * unless it means that work to take the failure.
 */
#ifndef PS_MEM_H
#define PS_MEM_H

#include <stddef.h>
#include <stdint.h>

/* As malloc/calloc/realloc/free; NULL on failure (or on an injected one). */
void *ps_malloc(size_t n);
void *ps_calloc(size_t count, size_t size);
void *ps_realloc(void *p, size_t n);
void ps_free(void *p);
/* A NUL-terminated copy of the first n bytes of s; NULL on failure. */
char *ps_strndup(const char *s, size_t n);
/* A copy of n bytes (at least one byte is allocated, so n may be 0). */
void *ps_memdup(const void *p, size_t n);

/*
 * Make the array *p, of *cap elements of elem bytes each, hold at least need
 * elements: the capacity doubles from 16 until it does. Returns 0, or -1 when
 * the size overflows or memory runs out; then *p and *cap are unchanged (and
 * *p still owns its memory). PS_GROW(array, cap, need) is the typed form.
 */
int ps_grow(void **p, size_t *cap, size_t need, size_t elem);
#define PS_GROW(array, cap, need) ps_grow((void **)&(array), &(cap), (need), sizeof *(array))

/* A growable byte buffer; zero-initialised it is empty and owns nothing. */
typedef struct ps_buf {
    uint8_t *data;
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
} ps_buf;

/* Room for `more` bytes past len. 0, or -1 (overflow, out of memory; b unchanged). */
int ps_buf_reserve(ps_buf *b, size_t more);
/* Append n bytes. 0 or -1 as ps_buf_reserve. */
int ps_buf_append(ps_buf *b, const void *p, size_t n);
/* Release the memory; b is empty again. */
void ps_buf_free(ps_buf *b);

/*
 * Fault injection, for tests. ps_mem_fail_at(n) with n >= 1 makes the n-th
 * allocation from now fail (once; later ones succeed again); 0 disarms it.
 * ps_mem_count() is the number of allocations since the last
 * ps_mem_fail_at call, so a test can measure an operation (after
 * ps_mem_fail_at(0)), then sweep n over 1..count. ps_mem_failed() says
 * whether the armed failure has happened. Counting starts with the first
 * ps_mem_fail_at call of the process; before it allocations are not counted.
 */
void ps_mem_fail_at(uint64_t n);
uint64_t ps_mem_count(void);
int ps_mem_failed(void);

#endif /* PS_MEM_H */
