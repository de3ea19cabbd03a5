/*
 * test_backend.c -- the backend conformance suite: every rule written in
 * backends/backend.h, checked through the method table only, against the
 * backend named by argv[1] ("lmdb" or "sqlite"). ctest runs it once per
 * backend (test_backend_lmdb, test_backend_sqlite).
 *
 * cmocka asserts only work on the main thread, so threads started here
 * record what they saw and the main thread asserts on it after joining them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "testutil.h"

static const ps_backend_methods *M; /* the backend under test */
static promstore_error E;            /* error slot of main-thread calls */

/* Run a backend call that must succeed; show its message if it does not. */
#define OK(call)                                                                     \
    do {                                                                             \
        int rc_ = (call);                                                            \
        if (rc_ != 0)                                                                \
            print_message("%s:%d: %s -> %d: %s\n", __FILE__, __LINE__, #call, rc_,   \
                          E.message);                                                \
        assert_int_equal(rc_, 0);                                                    \
    } while (0)

/* ---- helpers (main thread) ---- */

typedef struct fx {
    char *dir;
    ps_backend *be;
} fx;

static ps_backend *be_open(const char *dir, uint32_t flags, uint64_t max_size)
{
    ps_backend_config cfg = {flags, max_size};
    ps_backend *be = NULL;
    OK(M->open(dir, &cfg, &be, &E));
    assert_non_null(be);
    assert_ptr_equal(be->methods, M);
    return be;
}

static void be_reopen(fx *f)
{
    M->close(f->be);
    f->be = NULL;
    f->be = be_open(f->dir, 0, 0);
}

/* Every method is there (a missing one would crash the test calling it). */
static void assert_methods_complete(void)
{
    assert_int_equal(M->version, PS_BACKEND_VERSION);
    assert_non_null(M->open);
    assert_non_null(M->close);
    assert_non_null(M->txn_begin);
    assert_non_null(M->txn_commit);
    assert_non_null(M->txn_abort);
    assert_non_null(M->table_open);
    assert_non_null(M->table_clear);
    assert_non_null(M->get);
    assert_non_null(M->put);
    assert_non_null(M->del);
    assert_non_null(M->cursor_open);
    assert_non_null(M->cursor_seek);
    assert_non_null(M->cursor_first);
    assert_non_null(M->cursor_next);
    assert_non_null(M->cursor_del);
    assert_non_null(M->cursor_close);
    assert_non_null(M->space);
}

static int fx_setup(void **state)
{
    assert_methods_complete();
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_mkdtemp("backend");
    f->be = be_open(f->dir, 0, 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    M->close(f->be);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static ps_txn *txn_begin(ps_backend *be, int write)
{
    ps_txn *t = NULL;
    OK(M->txn_begin(be, write, &t, &E));
    assert_non_null(t);
    return t;
}

static ps_table table(ps_txn *t, const char *name, int create)
{
    ps_table tb = 0;
    OK(M->table_open(t, name, create, &tb, &E));
    return tb;
}

static void put(ps_txn *t, ps_table tb, const void *k, size_t kl, const void *v, size_t vl)
{
    OK(M->put(t, tb, k, kl, v, vl, &E));
}

static void put_s(ps_txn *t, ps_table tb, const char *k, const char *v)
{
    put(t, tb, k, strlen(k), v, strlen(v));
}

static void expect_val(ps_txn *t, ps_table tb, const void *k, size_t kl, const void *v,
                       size_t vl)
{
    const void *got = NULL;
    size_t glen = 0;
    OK(M->get(t, tb, k, kl, &got, &glen, &E));
    assert_int_equal(glen, vl);
    if (vl > 0)
        assert_memory_equal(got, v, vl);
}

static void expect_s(ps_txn *t, ps_table tb, const char *k, const char *v)
{
    expect_val(t, tb, k, strlen(k), v, strlen(v));
}

static void expect_missing(ps_txn *t, ps_table tb, const void *k, size_t kl)
{
    const void *got = NULL;
    size_t glen = 0;
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(M->get(t, tb, k, kl, &got, &glen, &err), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(err.status, PROMSTORE_E_NOT_FOUND);
}

static void commit(ps_txn *t)
{
    OK(M->txn_commit(t, &E));
}

static ps_cursor *cursor(ps_txn *t, ps_table tb)
{
    ps_cursor *c = NULL;
    OK(M->cursor_open(t, tb, &c, &E));
    assert_non_null(c);
    return c;
}

/* Number of entries of a table, by walking it. */
static size_t count_entries(ps_txn *t, ps_table tb)
{
    ps_cursor *c = cursor(t, tb);
    const void *k, *v;
    size_t kl, vl, n = 0;
    int rc = M->cursor_first(c, &k, &kl, &v, &vl, &E);
    while (rc == 0) {
        n++;
        rc = M->cursor_next(c, &k, &kl, &v, &vl, &E);
    }
    assert_int_equal(rc, PROMSTORE_DONE);
    M->cursor_close(c);
    return n;
}

static void be32(unsigned char *p, uint32_t x)
{
    p[0] = (unsigned char)(x >> 24);
    p[1] = (unsigned char)(x >> 16);
    p[2] = (unsigned char)(x >> 8);
    p[3] = (unsigned char)x;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Deterministic filler: byte i of the value for seed s. */
static void fill(unsigned char *buf, size_t n, uint32_t s)
{
    uint32_t x = s * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
}

static uint32_t rnd(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* ---- the method table ---- */

static void test_method_table(void **state)
{
    (void)state;
    assert_ptr_equal(ps_backend_find(M->name), M);
    assert_null(ps_backend_find("no-such-backend"));
    assert_methods_complete();
    M->close(NULL);     /* NULL is a no-op */
    M->txn_abort(NULL); /* NULL is a no-op */
}

/* ---- open, close, reopen ---- */

static void test_reopen_persists(void **state)
{
    fx *f = *state;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "persist", 1);
    put_s(t, tb, "alpha", "1");
    put_s(t, tb, "beta", "22");
    commit(t);
    t = txn_begin(f->be, 1);
    put_s(t, tb, "gamma", "333"); /* aborted: must not come back */
    M->txn_abort(t);

    be_reopen(f);
    t = txn_begin(f->be, 0);
    tb = table(t, "persist", 0);
    expect_s(t, tb, "alpha", "1");
    expect_s(t, tb, "beta", "22");
    expect_missing(t, tb, "gamma", 5);
    assert_int_equal(count_entries(t, tb), 2);
    commit(t);

    /* Reopen with PS_BACKEND_SYNC: the same data, and writes still work. */
    M->close(f->be);
    f->be = NULL;
    f->be = be_open(f->dir, PS_BACKEND_SYNC, 0);
    t = txn_begin(f->be, 1);
    tb = table(t, "persist", 0);
    expect_s(t, tb, "beta", "22");
    put_s(t, tb, "delta", "4444");
    commit(t);
    be_reopen(f);
    t = txn_begin(f->be, 0);
    tb = table(t, "persist", 0);
    expect_s(t, tb, "delta", "4444");
    assert_int_equal(count_entries(t, tb), 3);
    M->txn_abort(t);
}

/* ---- point operations ---- */

static void test_get_put_del(void **state)
{
    fx *f = *state;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "kv", 1);
    put_s(t, tb, "a", "apple");
    put_s(t, tb, "b", "banana");
    put_s(t, tb, "c", "cherry");
    expect_s(t, tb, "a", "apple"); /* a write txn reads its own writes */
    commit(t);

    t = txn_begin(f->be, 1);
    /* A missing key: NOT_FOUND, with err filled and naming the table. */
    promstore_error err;
    memset(&err, 0, sizeof err);
    const void *v;
    size_t vl;
    assert_int_equal(M->get(t, tb, "zz", 2, &v, &vl, &err), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(err.status, PROMSTORE_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "kv"));

    OK(M->del(t, tb, "b", 1, &E));
    expect_missing(t, tb, "b", 1);
    memset(&err, 0, sizeof err);
    assert_int_equal(M->del(t, tb, "b", 1, &err), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(err.status, PROMSTORE_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "kv"));
    memset(&err, 0, sizeof err);
    assert_int_equal(M->del(t, tb, "never", 5, &err), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(err.status, PROMSTORE_E_NOT_FOUND);

    /* A get's bytes are valid until the next get/put/del: read them in turn. */
    const void *va, *vc;
    size_t la, lc;
    OK(M->get(t, tb, "a", 1, &va, &la, &E));
    assert_int_equal(la, 5);
    assert_memory_equal(va, "apple", 5);
    OK(M->get(t, tb, "c", 1, &vc, &lc, &E));
    assert_int_equal(lc, 6);
    assert_memory_equal(vc, "cherry", 6);
    commit(t);

    /* An aborted txn leaves nothing behind, deletes included. */
    t = txn_begin(f->be, 1);
    put_s(t, tb, "d", "date");
    OK(M->del(t, tb, "a", 1, &E));
    M->txn_abort(t);

    t = txn_begin(f->be, 0);
    expect_s(t, tb, "a", "apple");
    expect_missing(t, tb, "b", 1);
    expect_s(t, tb, "c", "cherry");
    expect_missing(t, tb, "d", 1);
    assert_int_equal(count_entries(t, tb), 2);
    commit(t);
}

static void test_replace_value(void **state)
{
    fx *f = *state;
    unsigned char big[3000];
    fill(big, sizeof big, 7);
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "replace", 1);
    put_s(t, tb, "k", "short");
    commit(t);

    t = txn_begin(f->be, 1);
    put(t, tb, "k", 1, big, sizeof big); /* grow */
    expect_val(t, tb, "k", 1, big, sizeof big);
    commit(t);
    t = txn_begin(f->be, 0);
    expect_val(t, tb, "k", 1, big, sizeof big);
    commit(t);

    t = txn_begin(f->be, 1);
    put_s(t, tb, "k", "xy"); /* shrink: the length must shrink too */
    put_s(t, tb, "k", "xyz");
    commit(t);
    t = txn_begin(f->be, 0);
    expect_s(t, tb, "k", "xyz");
    assert_int_equal(count_entries(t, tb), 1);
    commit(t);
}

static void test_value_sizes(void **state)
{
    fx *f = *state;
    const size_t big1 = (5u << 20) + 7, big2 = 3u << 20;
    unsigned char *b1 = malloc(big1), *b2 = malloc(big2);
    unsigned char maxkey[PS_BACKEND_MAX_KEY];
    assert_non_null(b1);
    assert_non_null(b2);
    fill(b1, big1, 1);
    fill(b2, big2, 2);
    memset(maxkey, 0xab, sizeof maxkey);

    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "sizes", 1);
    put(t, tb, "empty", 5, "", 0);
    put(t, tb, "big1", 4, b1, big1);
    put(t, tb, "big2", 4, b2, big2);
    put(t, tb, maxkey, sizeof maxkey, "max", 3);
    put(t, tb, "\x01", 1, "one", 3);
    expect_val(t, tb, "big1", 4, b1, big1);
    commit(t);

    be_reopen(f);
    t = txn_begin(f->be, 0);
    tb = table(t, "sizes", 0);
    expect_val(t, tb, "empty", 5, "", 0);
    expect_val(t, tb, "big1", 4, b1, big1);
    expect_val(t, tb, "big2", 4, b2, big2);
    expect_val(t, tb, maxkey, sizeof maxkey, "max", 3);
    expect_val(t, tb, "\x01", 1, "one", 3);
    /* The cursor returns the same bytes. */
    ps_cursor *c = cursor(t, tb);
    const void *k, *v;
    size_t kl, vl;
    OK(M->cursor_seek(c, "big1", 4, &k, &kl, &v, &vl, &E));
    assert_int_equal(kl, 4);
    assert_memory_equal(k, "big1", 4);
    assert_int_equal(vl, big1);
    assert_memory_equal(v, b1, big1);
    OK(M->cursor_seek(c, "empty", 5, &k, &kl, &v, &vl, &E));
    assert_int_equal(kl, 5);
    assert_int_equal(vl, 0);
    M->cursor_close(c);
    commit(t);

    /* Replace a multi-MiB value by a small one and back. */
    t = txn_begin(f->be, 1);
    put_s(t, tb, "big1", "tiny");
    put(t, tb, "big2", 4, b1, big1);
    commit(t);
    t = txn_begin(f->be, 0);
    expect_s(t, tb, "big1", "tiny");
    expect_val(t, tb, "big2", 4, b1, big1);
    commit(t);
    free(b1);
    free(b2);
}

/* ---- key order ---- */

typedef struct bkey {
    unsigned char b[PS_BACKEND_MAX_KEY];
    size_t n;
} bkey;

/* The rule of backend.h: memcmp, and a prefix sorts before the longer key. */
static int bkey_cmp(const void *a, const void *b)
{
    const bkey *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->b, y->b, n);
    if (c != 0)
        return c;
    return (x->n > y->n) - (x->n < y->n);
}

static void test_key_order(void **state)
{
    fx *f = *state;
    static const struct {
        const char *b;
        size_t n;
    } raw[] = {
        {"\x00", 1},     {"\x00\x00", 2}, {"\x00\x01", 2}, {"\x01", 1},     {"\x7f", 1},
        {"\x80", 1},     {"\xff", 1},     {"\xff\x00", 2}, {"\xff\xff", 2}, {"a", 1},
        {"ab", 2},       {"abc", 3},      {"abd", 3},      {"b", 1},        {"B", 1},
        {"a\x00", 2},    {"a\xff", 2},    {"\xfe\xff", 2}, {"zzzz", 4},     {"\x00\xff", 2},
    };
    enum { NRAW = sizeof raw / sizeof raw[0], N = NRAW + 2 };
    bkey keys[N];
    memset(keys, 0, sizeof keys);
    for (size_t i = 0; i < NRAW; i++) {
        memcpy(keys[i].b, raw[i].b, raw[i].n);
        keys[i].n = raw[i].n;
    }
    /* The longest keys: all 0xff, and the same one byte shorter. */
    memset(keys[NRAW].b, 0xff, PS_BACKEND_MAX_KEY);
    keys[NRAW].n = PS_BACKEND_MAX_KEY;
    memset(keys[NRAW + 1].b, 0xff, PS_BACKEND_MAX_KEY - 1);
    keys[NRAW + 1].n = PS_BACKEND_MAX_KEY - 1;

    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "order", 1);
    for (size_t i = 0; i < N; i++) { /* a scrambled insertion order */
        size_t j = (i * 7 + 3) % N;
        unsigned char val[4];
        be32(val, (uint32_t)j);
        put(t, tb, keys[j].b, keys[j].n, val, sizeof val);
    }
    commit(t);

    qsort(keys, N, sizeof keys[0], bkey_cmp);
    t = txn_begin(f->be, 0);
    ps_cursor *c = cursor(t, tb);
    const void *k, *v;
    size_t kl, vl, i = 0;
    int rc = M->cursor_first(c, &k, &kl, &v, &vl, &E);
    for (; rc == 0; rc = M->cursor_next(c, &k, &kl, &v, &vl, &E), i++) {
        assert_true(i < N);
        assert_int_equal(kl, keys[i].n);
        assert_memory_equal(k, keys[i].b, kl);
        assert_int_equal(vl, 4);
    }
    assert_int_equal(rc, PROMSTORE_DONE);
    assert_int_equal(i, N);
    /* seek lands on the first key >= the probe. */
    OK(M->cursor_seek(c, "a\x00", 2, &k, &kl, &v, &vl, &E));
    assert_int_equal(kl, 2);
    assert_memory_equal(k, "a\x00", 2);
    OK(M->cursor_seek(c, "ab\x00", 3, &k, &kl, &v, &vl, &E));
    assert_int_equal(kl, 3);
    assert_memory_equal(k, "abc", 3);
    OK(M->cursor_seek(c, "\xff\xff\x00", 3, &k, &kl, &v, &vl, &E));
    assert_int_equal(kl, PS_BACKEND_MAX_KEY - 1);
    M->cursor_close(c);
    commit(t);
}

/* ---- cursors ---- */

static void test_cursor_bounds(void **state)
{
    fx *f = *state;
    const void *k, *v;
    size_t kl, vl;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table empty = table(t, "empty", 1);
    ps_table tb = table(t, "bdf", 1);
    put_s(t, tb, "d", "4");
    put_s(t, tb, "b", "2");
    put_s(t, tb, "f", "6");

    /* A write txn's cursor sees its uncommitted puts; an empty table gives DONE. */
    ps_cursor *c = cursor(t, empty);
    assert_int_equal(M->cursor_first(c, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    assert_int_equal(M->cursor_seek(c, "a", 1, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    M->cursor_close(c);
    c = cursor(t, tb);
    OK(M->cursor_first(c, &k, &kl, &v, &vl, &E));
    assert_int_equal(kl, 1);
    assert_memory_equal(k, "b", 1);
    M->cursor_close(c);
    commit(t);

    t = txn_begin(f->be, 0);
    c = cursor(t, empty);
    assert_int_equal(M->cursor_first(c, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    assert_int_equal(M->cursor_seek(c, "\x00", 1, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    M->cursor_close(c);

    static const struct {
        const char *probe, *found;
    } seeks[] = {{"a", "b"}, {"b", "b"}, {"c", "d"}, {"d", "d"}, {"e", "f"}, {"f", "f"}};
    c = cursor(t, tb);
    for (size_t i = 0; i < sizeof seeks / sizeof seeks[0]; i++) {
        OK(M->cursor_seek(c, seeks[i].probe, 1, &k, &kl, &v, &vl, &E));
        assert_int_equal(kl, 1);
        assert_memory_equal(k, seeks[i].found, 1);
        assert_int_equal(vl, 1);
    }
    assert_int_equal(M->cursor_seek(c, "g", 1, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    assert_int_equal(M->cursor_seek(c, "f\x00", 2, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    /* Walk from the middle past the end. */
    OK(M->cursor_seek(c, "c", 1, &k, &kl, &v, &vl, &E));
    OK(M->cursor_next(c, &k, &kl, &v, &vl, &E));
    assert_memory_equal(k, "f", 1);
    assert_memory_equal(v, "6", 1);
    assert_int_equal(M->cursor_next(c, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);

    /* A cursor's bytes stay valid while another cursor moves and get runs. */
    ps_cursor *c2 = cursor(t, tb);
    OK(M->cursor_first(c, &k, &kl, &v, &vl, &E));
    const void *k2, *v2, *g;
    size_t kl2, vl2, gl;
    OK(M->cursor_seek(c2, "e", 1, &k2, &kl2, &v2, &vl2, &E));
    OK(M->get(t, tb, "d", 1, &g, &gl, &E));
    assert_memory_equal(k, "b", 1);
    assert_memory_equal(v, "2", 1);
    assert_memory_equal(k2, "f", 1);
    assert_memory_equal(g, "4", 1);
    M->cursor_close(c2);
    M->cursor_close(c);
    commit(t);
}

static int doomed(uint32_t i)
{
    return i % 3 == 0 || (i >= 500 && i < 900) || i == 1999;
}

static void test_cursor_del(void **state)
{
    fx *f = *state;
    enum { N = 2000 };
    unsigned char key[5] = {'k'}, val[100];
    const void *k, *v;
    size_t kl, vl;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "walk", 1);
    for (uint32_t i = 0; i < N; i++) {
        be32(key + 1, i);
        fill(val, sizeof val, i);
        put(t, tb, key, sizeof key, val, sizeof val);
    }
    commit(t);

    /* Delete while walking: every entry is visited once, in order. */
    t = txn_begin(f->be, 1);
    ps_cursor *c = cursor(t, tb);
    uint32_t expect = 0;
    int rc = M->cursor_first(c, &k, &kl, &v, &vl, &E);
    for (; rc == 0; rc = M->cursor_next(c, &k, &kl, &v, &vl, &E), expect++) {
        assert_int_equal(kl, 5);
        assert_int_equal(rd32((const unsigned char *)k + 1), expect);
        fill(val, sizeof val, expect);
        assert_memory_equal(v, val, sizeof val);
        if (doomed(expect))
            OK(M->cursor_del(c, &E));
    }
    assert_int_equal(rc, PROMSTORE_DONE);
    assert_int_equal(expect, N);
    M->cursor_close(c);
    commit(t);

    t = txn_begin(f->be, 0);
    size_t kept = 0;
    for (uint32_t i = 0; i < N; i++) {
        be32(key + 1, i);
        fill(val, sizeof val, i);
        if (doomed(i)) {
            expect_missing(t, tb, key, sizeof key);
        } else {
            expect_val(t, tb, key, sizeof key, val, sizeof val);
            kept++;
        }
    }
    assert_int_equal(count_entries(t, tb), kept);
    commit(t);

    /* Delete a run from a seek position, then everything. */
    t = txn_begin(f->be, 1);
    c = cursor(t, tb);
    be32(key + 1, 1000);
    OK(M->cursor_seek(c, key, sizeof key, &k, &kl, &v, &vl, &E));
    for (int i = 0; i < 50; i++) {
        assert_int_equal(rd32((const unsigned char *)k + 1) % 3 != 0, 1);
        OK(M->cursor_del(c, &E));
        OK(M->cursor_next(c, &k, &kl, &v, &vl, &E));
    }
    M->cursor_close(c);
    assert_int_equal(count_entries(t, tb), kept - 50);
    c = cursor(t, tb);
    size_t seen = 0;
    for (rc = M->cursor_first(c, &k, &kl, &v, &vl, &E); rc == 0;
         rc = M->cursor_next(c, &k, &kl, &v, &vl, &E)) {
        OK(M->cursor_del(c, &E));
        seen++;
    }
    assert_int_equal(rc, PROMSTORE_DONE);
    assert_int_equal(seen, kept - 50);
    assert_int_equal(M->cursor_first(c, &k, &kl, &v, &vl, &E), PROMSTORE_DONE);
    M->cursor_close(c);
    commit(t);
    t = txn_begin(f->be, 0);
    assert_int_equal(count_entries(t, tb), 0);
    commit(t);
}

/* ---- tables ---- */

static void test_table_missing_and_aborted(void **state)
{
    fx *f = *state;
    ps_table tb = 0;
    promstore_error err;

    ps_txn *t = txn_begin(f->be, 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(M->table_open(t, "nope", 0, &tb, &err), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(err.status, PROMSTORE_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "nope"));
    commit(t);

    t = txn_begin(f->be, 1);
    assert_int_equal(M->table_open(t, "nope", 0, &tb, &E), PROMSTORE_E_NOT_FOUND);
    ps_table ghost = table(t, "ghost", 1);
    put_s(t, ghost, "boo", "!");
    assert_int_equal(table(t, "ghost", 0), ghost); /* visible to its own txn */
    M->txn_abort(t);

    t = txn_begin(f->be, 1);
    assert_int_equal(M->table_open(t, "ghost", 0, &tb, &E), PROMSTORE_E_NOT_FOUND);
    M->txn_abort(t);
    t = txn_begin(f->be, 0);
    assert_int_equal(M->table_open(t, "ghost", 0, &tb, &E), PROMSTORE_E_NOT_FOUND);
    commit(t);
    be_reopen(f);
    t = txn_begin(f->be, 0);
    assert_int_equal(M->table_open(t, "ghost", 0, &tb, &E), PROMSTORE_E_NOT_FOUND);
    commit(t);

    /* Created again for real, it starts empty and its handle stays valid. */
    t = txn_begin(f->be, 1);
    ghost = table(t, "ghost", 1);
    assert_int_equal(count_entries(t, ghost), 0);
    put_s(t, ghost, "real", "yes");
    commit(t);
    t = txn_begin(f->be, 1);
    put_s(t, ghost, "later", "too"); /* the handle outlives its txn */
    commit(t);
    t = txn_begin(f->be, 0);
    assert_int_equal(table(t, "ghost", 0), ghost);
    expect_s(t, ghost, "real", "yes");
    expect_s(t, ghost, "later", "too");
    expect_missing(t, ghost, "boo", 3);
    commit(t);

    /* Names: the longest allowed, and every allowed character class. */
    char longest[PS_BACKEND_MAX_TABLE_NAME + 1];
    memset(longest, 'x', PS_BACKEND_MAX_TABLE_NAME);
    longest[PS_BACKEND_MAX_TABLE_NAME] = '\0';
    t = txn_begin(f->be, 1);
    ps_table t1 = table(t, longest, 1);
    ps_table t2 = table(t, "Az_09.x", 1);
    assert_int_not_equal(t1, t2);
    put_s(t, t1, "k", "long");
    put_s(t, t2, "k", "mixed");
    commit(t);
    be_reopen(f);
    t = txn_begin(f->be, 0);
    expect_s(t, table(t, longest, 0), "k", "long");
    expect_s(t, table(t, "Az_09.x", 0), "k", "mixed");
    commit(t);
}

static void test_table_clear(void **state)
{
    fx *f = *state;
    unsigned char key[4];
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "clearme", 1);
    ps_table other = table(t, "other", 1);
    for (uint32_t i = 0; i < 500; i++) {
        be32(key, i);
        put(t, tb, key, sizeof key, "v", 1);
    }
    put_s(t, other, "stay", "here");
    commit(t);

    ps_txn *old = txn_begin(f->be, 0); /* a snapshot from before the clear */

    t = txn_begin(f->be, 1);
    OK(M->table_clear(t, tb, &E));
    assert_int_equal(count_entries(t, tb), 0);
    be32(key, 3);
    expect_missing(t, tb, key, sizeof key);
    put_s(t, tb, "fresh", "1"); /* usable at once */
    commit(t);

    assert_int_equal(count_entries(old, tb), 500);
    expect_val(old, tb, key, sizeof key, "v", 1);
    commit(old);

    t = txn_begin(f->be, 0);
    assert_int_equal(count_entries(t, tb), 1);
    expect_s(t, tb, "fresh", "1");
    expect_s(t, other, "stay", "here");
    commit(t);

    be_reopen(f);
    t = txn_begin(f->be, 1);
    tb = table(t, "clearme", 0);
    expect_s(t, tb, "fresh", "1");
    OK(M->table_clear(t, tb, &E));
    commit(t);
    t = txn_begin(f->be, 0);
    assert_int_equal(count_entries(t, table(t, "clearme", 0)), 0);
    assert_int_equal(count_entries(t, table(t, "other", 0)), 1);
    commit(t);
}

static void test_many_tables(void **state)
{
    fx *f = *state;
    enum { N = 200 };
    ps_table h[N];
    char name[32], val[32];
    ps_txn *t = txn_begin(f->be, 1);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "tbl.%03d", i);
        h[i] = table(t, name, 1);
        for (int j = 0; j <= i % 5; j++) {
            char key[8];
            snprintf(key, sizeof key, "k%d", j);
            snprintf(val, sizeof val, "%d/%d", i, j);
            put_s(t, h[i], key, val);
        }
    }
    commit(t);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++)
            assert_int_not_equal(h[i], h[j]);

    be_reopen(f);
    t = txn_begin(f->be, 1);
    snprintf(name, sizeof name, "tbl.%03d", 7);
    OK(M->table_clear(t, table(t, name, 0), &E));
    snprintf(name, sizeof name, "tbl.%03d", 13);
    put_s(t, table(t, name, 0), "extra", "x");
    commit(t);

    t = txn_begin(f->be, 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "tbl.%03d", i);
        ps_table tb = table(t, name, 0);
        size_t want = i == 7 ? 0 : (size_t)(i % 5 + 1) + (i == 13);
        assert_int_equal(count_entries(t, tb), want);
        if (i != 7) {
            snprintf(val, sizeof val, "%d/%d", i, 0);
            expect_s(t, tb, "k0", val);
        }
    }
    commit(t);
}

/* ---- isolation ---- */

static void test_snapshot_isolation(void **state)
{
    fx *f = *state;
    ps_table tb, late = 0;
    ps_txn *t = txn_begin(f->be, 1);
    tb = table(t, "snap", 1);
    put_s(t, tb, "k", "1");
    commit(t);

    ps_txn *r1 = txn_begin(f->be, 0);
    expect_s(r1, tb, "k", "1");
    /* Many readers at once, and the writer is not blocked by them. */
    ps_txn *many[50];
    for (int i = 0; i < 50; i++)
        many[i] = txn_begin(f->be, 0);

    t = txn_begin(f->be, 1);
    put_s(t, tb, "k", "2");
    put_s(t, tb, "n", "new");
    commit(t);
    expect_s(r1, tb, "k", "1");
    expect_missing(r1, tb, "n", 1);
    assert_int_equal(count_entries(r1, tb), 1);

    ps_txn *r2 = txn_begin(f->be, 0);
    expect_s(r2, tb, "k", "2");
    expect_s(r2, tb, "n", "new");

    t = txn_begin(f->be, 1);
    put_s(t, tb, "k", "3");
    OK(M->del(t, tb, "n", 1, &E));
    late = table(t, "late", 1); /* a table newer than r1 and r2 */
    put_s(t, late, "x", "y");
    commit(t);
    expect_s(r1, tb, "k", "1");
    expect_s(r2, tb, "k", "2");
    expect_s(r2, tb, "n", "new");
    assert_int_equal(M->table_open(r1, "late", 0, &late, &E), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(M->table_open(r2, "late", 0, &late, &E), PROMSTORE_E_NOT_FOUND);
    for (int i = 0; i < 50; i++) {
        expect_s(many[i], tb, "k", "1");
        if (i % 2)
            M->txn_abort(many[i]);
        else
            commit(many[i]);
    }
    commit(r1);
    M->txn_abort(r2);

    ps_txn *r3 = txn_begin(f->be, 0);
    expect_s(r3, tb, "k", "3");
    expect_missing(r3, tb, "n", 1);
    expect_s(r3, table(r3, "late", 0), "x", "y");
    commit(r3);
}

typedef struct handoff {
    ps_backend *be;
    ps_txn *txn;
    ps_table tb;
    int begin;   /* begin the txn here instead of using it */
    int rc;      /* first failure, 0 if all went well */
    size_t seen; /* entries walked */
} handoff;

/* Use (or begin) a read txn on a thread other than the one that began it. */
static void *handoff_main(void *arg)
{
    handoff *h = arg;
    promstore_error err;
    const void *k, *v;
    size_t kl, vl;
    ps_cursor *c = NULL;
    if (h->begin) {
        h->rc = M->txn_begin(h->be, 0, &h->txn, &err);
        return NULL;
    }
    h->rc = M->get(h->txn, h->tb, "k", 1, &v, &vl, &err);
    if (h->rc == 0 && (vl != 3 || memcmp(v, "old", 3) != 0))
        h->rc = -1000;
    if (h->rc == 0)
        h->rc = M->cursor_open(h->txn, h->tb, &c, &err);
    int rc = h->rc ? h->rc : M->cursor_first(c, &k, &kl, &v, &vl, &err);
    while (rc == 0) {
        h->seen++;
        rc = M->cursor_next(c, &k, &kl, &v, &vl, &err);
    }
    if (h->rc == 0 && rc != PROMSTORE_DONE)
        h->rc = rc;
    M->cursor_close(c);
    return NULL;
}

static void run_thread(handoff *h)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, handoff_main, h), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void test_read_txn_other_thread(void **state)
{
    fx *f = *state;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "threads", 1);
    put_s(t, tb, "k", "old");
    put_s(t, tb, "m", "more");
    commit(t);

    /* Begun here, used on two other threads one after the other, ended here. */
    handoff h = {f->be, txn_begin(f->be, 0), tb, 0, 0, 0};
    t = txn_begin(f->be, 1);
    put_s(t, tb, "k", "new");
    commit(t);
    run_thread(&h);
    assert_int_equal(h.rc, 0);
    assert_int_equal(h.seen, 2);
    h.seen = 0;
    run_thread(&h);
    assert_int_equal(h.rc, 0);
    assert_int_equal(h.seen, 2);
    commit(h.txn);

    /* Begun on another thread (which then ends), used and ended here. */
    handoff b = {f->be, NULL, tb, 1, 0, 0};
    run_thread(&b);
    assert_int_equal(b.rc, 0);
    expect_s(b.txn, tb, "k", "new");
    assert_int_equal(count_entries(b.txn, tb), 2);
    M->txn_abort(b.txn);
}

enum { ACCOUNTS = 64, START_BALANCE = 1000, WRITER_COMMITS = 300, READERS = 4 };

typedef struct reader {
    ps_backend *be;
    ps_table acct, meta;
    const int *stop;
    int iterations;
    int failures;
    char why[256];
} reader;

static void reader_fail(reader *r, const char *fmt, ...)
{
    if (r->failures++ > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static int reader_gen(reader *r, ps_txn *t, uint64_t *gen)
{
    promstore_error err;
    const void *v;
    size_t vl;
    int rc = M->get(t, r->meta, "gen", 3, &v, &vl, &err);
    if (rc || vl != sizeof *gen) {
        reader_fail(r, "get gen: rc %d len %zu: %s", rc, vl, rc ? err.message : "");
        return -1;
    }
    memcpy(gen, v, sizeof *gen);
    return 0;
}

/* One consistent look: ACCOUNTS entries summing to the invariant. */
static int reader_walk(reader *r, ps_txn *t)
{
    promstore_error err;
    ps_cursor *c;
    const void *k, *v;
    size_t kl, vl, n = 0;
    uint64_t sum = 0, bal;
    int rc = M->cursor_open(t, r->acct, &c, &err);
    if (rc) {
        reader_fail(r, "cursor_open: %d: %s", rc, err.message);
        return -1;
    }
    for (rc = M->cursor_first(c, &k, &kl, &v, &vl, &err); rc == 0;
         rc = M->cursor_next(c, &k, &kl, &v, &vl, &err)) {
        if (vl != sizeof bal)
            break;
        memcpy(&bal, v, sizeof bal);
        sum += bal;
        n++;
    }
    M->cursor_close(c);
    if (rc != PROMSTORE_DONE || n != ACCOUNTS ||
        sum != (uint64_t)ACCOUNTS * START_BALANCE) {
        reader_fail(r, "walk: rc %d, %zu accounts, sum %llu", rc, n,
                    (unsigned long long)sum);
        return -1;
    }
    return 0;
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    uint64_t last = 0;
    while (r->failures == 0 &&
           (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE) || r->iterations < 20)) {
        promstore_error err;
        ps_txn *t;
        uint64_t g1, g2;
        int rc = M->txn_begin(r->be, 0, &t, &err);
        if (rc) {
            reader_fail(r, "txn_begin: %d: %s", rc, err.message);
            break;
        }
        if (reader_gen(r, t, &g1) == 0 && reader_walk(r, t) == 0) {
            sched_yield(); /* let the writer commit under this snapshot */
            if (reader_walk(r, t) == 0 && reader_gen(r, t, &g2) == 0) {
                if (g1 != g2)
                    reader_fail(r, "gen changed inside a snapshot: %llu -> %llu",
                                (unsigned long long)g1, (unsigned long long)g2);
                if (g1 < last)
                    reader_fail(r, "gen went back: %llu after %llu",
                                (unsigned long long)g1, (unsigned long long)last);
                last = g1;
            }
        }
        M->txn_abort(t);
        r->iterations++;
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    fx *f = *state;
    unsigned char key[4];
    uint64_t bal[ACCOUNTS], gen = 0;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table acct = table(t, "accounts", 1), meta = table(t, "meta", 1);
    for (uint32_t i = 0; i < ACCOUNTS; i++) {
        bal[i] = START_BALANCE;
        be32(key, i);
        put(t, acct, key, sizeof key, &bal[i], sizeof bal[i]);
    }
    put(t, meta, "gen", 3, &gen, sizeof gen);
    commit(t);

    int stop = 0;
    reader rd[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        rd[i] = (reader){.be = f->be, .acct = acct, .meta = meta, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }
    /* Transfers keep the sum; each commit bumps gen. */
    uint32_t seed = 0x9e3779b9u;
    for (int n = 0; n < WRITER_COMMITS; n++) {
        t = txn_begin(f->be, 1);
        for (int j = 0; j < 8; j++) {
            uint32_t a = rnd(&seed) % ACCOUNTS, b = rnd(&seed) % ACCOUNTS;
            uint64_t amount = rnd(&seed) % (bal[a] + 1);
            bal[a] -= amount;
            bal[b] += amount;
            be32(key, a);
            put(t, acct, key, sizeof key, &bal[a], sizeof bal[a]);
            be32(key, b);
            put(t, acct, key, sizeof key, &bal[b], sizeof bal[b]);
        }
        gen++;
        put(t, meta, "gen", 3, &gen, sizeof gen);
        commit(t);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < READERS; i++) {
        if (rd[i].failures)
            print_message("reader %d: %s\n", i, rd[i].why);
        assert_int_equal(rd[i].failures, 0);
        assert_true(rd[i].iterations >= 20);
    }
    t = txn_begin(f->be, 0);
    uint64_t g;
    const void *v;
    size_t vl;
    OK(M->get(t, meta, "gen", 3, &v, &vl, &E));
    assert_int_equal(vl, sizeof g);
    memcpy(&g, v, sizeof g);
    assert_int_equal(g, WRITER_COMMITS);
    commit(t);
}

/* ---- durability: kill -9 ---- */

enum { KILL_ROUNDS = 6, CHILD_MAX_TXNS = 20000, FILLERS = 16 };

static void txn_value(unsigned char *buf, uint32_t n)
{
    fill(buf, 100, n);
    be32(buf, n);
}

/* The child: commit txns numbered on from the stored count, reporting each. */
static void child_commit_loop(const char *dir, uint32_t flags, int fd)
{
    ps_backend_config cfg = {flags, 0};
    promstore_error err;
    ps_backend *be;
    ps_txn *t;
    ps_table tb;
    unsigned char key[8] = "txn", val[256], cnt[4];
    const void *v;
    size_t vl;
    uint32_t start = 0;
    if (M->open(dir, &cfg, &be, &err) || M->txn_begin(be, 0, &t, &err))
        _exit(10);
    if (M->table_open(t, "dur", 0, &tb, &err) == 0 && M->get(t, tb, "count", 5, &v, &vl, &err) == 0)
        start = rd32(v);
    M->txn_abort(t);
    for (uint32_t n = start + 1; n <= start + CHILD_MAX_TXNS; n++) {
        if (M->txn_begin(be, 1, &t, &err) || M->table_open(t, "dur", 1, &tb, &err))
            _exit(11);
        be32(key + 4, n);
        txn_value(val, n);
        int rc = M->put(t, tb, key, sizeof key, val, 100, &err);
        for (int j = 0; j < FILLERS && rc == 0; j++) {
            unsigned char fk[9] = "fil";
            be32(fk + 4, n);
            fk[8] = (unsigned char)j;
            fill(val, sizeof val, n * 31 + (uint32_t)j);
            rc = M->put(t, tb, fk, sizeof fk, val, sizeof val, &err);
        }
        be32(cnt, n);
        if (rc || M->put(t, tb, "count", 5, cnt, 4, &err) || M->txn_commit(t, &err))
            _exit(12);
        if (write(fd, &n, sizeof n) != sizeof n)
            _exit(13);
    }
    M->close(be);
    _exit(0);
}

/* After a kill: count >= every reported txn, and exactly txns 1..count exist. */
static void verify_after_kill(const char *dir, uint32_t reported)
{
    ps_backend *be = be_open(dir, 0, 0);
    ps_txn *t = txn_begin(be, 0);
    ps_table tb = table(t, "dur", 0);
    const void *v;
    size_t vl;
    unsigned char key[8] = "txn", val[100];
    OK(M->get(t, tb, "count", 5, &v, &vl, &E));
    assert_int_equal(vl, 4);
    uint32_t count = rd32(v);
    assert_true(count >= reported);
    for (uint32_t n = 1; n <= count; n++) {
        be32(key + 4, n);
        txn_value(val, n);
        expect_val(t, tb, key, sizeof key, val, sizeof val);
    }
    be32(key + 4, count + 1);
    expect_missing(t, tb, key, sizeof key);
    commit(t);
    M->close(be);
}

static void test_kill9_durability(void **state)
{
    fx *f = *state;
    M->close(f->be); /* the child owns the directory while it runs */
    f->be = NULL;
    uint32_t reported = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_commit_loop(f->dir, round % 2 ? PS_BACKEND_SYNC : 0, p[1]);
        }
        close(p[1]);
        uint32_t n, got = 0, target = 20 + 37 * (uint32_t)round;
        while (got < target && read(p[0], &n, sizeof n) == sizeof n) {
            assert_true(n > reported);
            reported = n;
            got++;
        }
        kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        while (read(p[0], &n, sizeof n) == sizeof n) /* reports sent before death */
            reported = n;
        close(p[0]);
        assert_int_equal(got, target); /* the child did not fail on its own */
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        verify_after_kill(f->dir, reported);
    }
    f->be = be_open(f->dir, 0, 0);
}

/* ---- space ---- */

typedef struct space_call {
    ps_backend *be;
    ps_backend_space sp;
    int rc;
} space_call;

static void *space_main(void *arg)
{
    space_call *s = arg;
    promstore_error err;
    s->rc = M->space(s->be, &s->sp, &err);
    return NULL;
}

enum { SPACE_VALUES = 2048, SPACE_VALUE_BYTES = 4000 };
#define SPACE_DATA ((uint64_t)SPACE_VALUES * SPACE_VALUE_BYTES)

static void space_fill(ps_backend *be, ps_table tb)
{
    unsigned char key[4], val[SPACE_VALUE_BYTES];
    ps_txn *t = txn_begin(be, 1);
    for (uint32_t i = 0; i < SPACE_VALUES; i++) {
        be32(key, i);
        fill(val, sizeof val, i);
        put(t, tb, key, sizeof key, val, sizeof val);
    }
    commit(t);
}

static ps_backend_space space(ps_backend *be)
{
    ps_backend_space sp = {0, 0};
    OK(M->space(be, &sp, &E));
    assert_true(sp.used_bytes > 0);
    assert_true(sp.used_bytes <= sp.file_bytes);
    return sp;
}

static void test_space(void **state)
{
    fx *f = *state;
    ps_txn *t = txn_begin(f->be, 1);
    ps_table tb = table(t, "bulk", 1), side = table(t, "side", 1);
    put_s(t, side, "tick", "0");
    commit(t);
    ps_backend_space s0 = space(f->be);

    space_fill(f->be, tb);
    ps_backend_space s1 = space(f->be);
    assert_true(s1.used_bytes >= s0.used_bytes + SPACE_DATA);
    assert_true(s1.used_bytes <= 2 * SPACE_DATA + (4u << 20));
    assert_true(s1.file_bytes <= 4 * SPACE_DATA + (16u << 20));

    t = txn_begin(f->be, 1);
    OK(M->table_clear(t, tb, &E));
    commit(t);
    ps_backend_space s2 = space(f->be);
    assert_true(s2.used_bytes + SPACE_DATA / 2 <= s1.used_bytes);
    assert_true(s2.file_bytes >= s1.file_bytes / 2);

    /*
     * Two small commits before refilling: LMDB does not reuse pages freed
     * by the newest commit (it may still need the previous snapshot).
     */
    for (int i = 1; i <= 2; i++) {
        t = txn_begin(f->be, 1);
        put_s(t, side, "tick", i == 1 ? "1" : "2");
        commit(t);
    }
    space_fill(f->be, tb);
    ps_backend_space s3 = space(f->be);
    print_message("space: empty %llu/%llu, full %llu/%llu, cleared %llu/%llu, "
                  "refilled %llu/%llu (used/file bytes)\n",
                  (unsigned long long)s0.used_bytes, (unsigned long long)s0.file_bytes,
                  (unsigned long long)s1.used_bytes, (unsigned long long)s1.file_bytes,
                  (unsigned long long)s2.used_bytes, (unsigned long long)s2.file_bytes,
                  (unsigned long long)s3.used_bytes, (unsigned long long)s3.file_bytes);
    assert_true(s3.used_bytes >= s0.used_bytes + SPACE_DATA);
    assert_true(s3.file_bytes <= s1.file_bytes + s1.file_bytes / 8);

    /* Callable from any thread, also while the write txn is open. */
    t = txn_begin(f->be, 1);
    put_s(t, side, "tick", "3");
    space_call sc = {f->be, {0, 0}, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, space_main, &sc), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    commit(t);
    assert_int_equal(sc.rc, 0);
    assert_true(sc.sp.used_bytes >= SPACE_DATA);
    assert_true(sc.sp.used_bytes <= sc.sp.file_bytes);
}

/* ---- running out of space ---- */

static void test_full(void **state)
{
    fx *f = *state;
    enum { CAP = 8u << 20, VAL = 64u << 10 };
    M->close(f->be);
    f->be = NULL;
    f->be = be_open(f->dir, 0, CAP);
    unsigned char key[4], *val = malloc(VAL);
    assert_non_null(val);
    ps_txn *t = txn_begin(f->be, 1);
    ps_table keep = table(t, "keep", 1);
    for (uint32_t i = 0; i < 100; i++) {
        be32(key, i);
        put(t, keep, key, sizeof key, "kept", 4);
    }
    commit(t);

    /* Write far more than fits; FULL comes from a put or from the commit. */
    promstore_error err;
    memset(&err, 0, sizeof err);
    t = txn_begin(f->be, 1);
    ps_table big = table(t, "big", 1);
    int rc = 0;
    for (uint32_t i = 0; i < 8 * (CAP / VAL) && rc == 0; i++) {
        be32(key, i);
        fill(val, VAL, i);
        rc = M->put(t, big, key, sizeof key, val, VAL, &err);
    }
    if (rc == 0) {
        rc = M->txn_commit(t, &err);
    } else {
        M->txn_abort(t);
    }
    assert_int_equal(rc, PROMSTORE_E_FULL);
    assert_int_equal(err.status, PROMSTORE_E_FULL);

    /* The store holds the last commit, and takes small writes again. */
    ps_table none;
    t = txn_begin(f->be, 0);
    assert_int_equal(count_entries(t, keep), 100);
    assert_int_equal(M->table_open(t, "big", 0, &none, &E), PROMSTORE_E_NOT_FOUND);
    commit(t);
    t = txn_begin(f->be, 1);
    put_s(t, keep, "after", "full");
    commit(t);
    M->close(f->be);
    f->be = NULL;
    f->be = be_open(f->dir, 0, CAP);
    t = txn_begin(f->be, 0);
    keep = table(t, "keep", 0);
    assert_int_equal(count_entries(t, keep), 101);
    expect_s(t, keep, "after", "full");
    commit(t);
    free(val);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(int argc, char **argv)
{
    const char *name = tu_backend_from_argv(argc, argv);
    M = ps_backend_find(name);
    if (M == NULL) {
        fprintf(stderr, "no backend '%s'\n", name);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_table),
        T(test_reopen_persists),
        T(test_get_put_del),
        T(test_replace_value),
        T(test_value_sizes),
        T(test_key_order),
        T(test_cursor_bounds),
        T(test_cursor_del),
        T(test_table_missing_and_aborted),
        T(test_table_clear),
        T(test_many_tables),
        T(test_snapshot_isolation),
        T(test_read_txn_other_thread),
        T(test_concurrent_readers),
        T(test_kill9_durability),
        T(test_space),
        T(test_full),
    };
    char group[64];
    snprintf(group, sizeof group, "backend %s", name);
    return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}
