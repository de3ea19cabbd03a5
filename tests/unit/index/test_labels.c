/*
 * test_labels.c -- unit tests of labels.c: UTF-8 checking, normalisation and
 * its error messages, labels.Compare, formatting, and the labels key (its
 * order property against labels.Compare, round trips, malformed keys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "labels.h"
#include "testutil.h"

#define L(n, v) {(n), sizeof(n) - 1, (v), sizeof(v) - 1}
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* Normalise and expect failure with a message containing every needle. */
static void expect_bad(promstore_label *l, size_t n, ps_name_rules rules, ...)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    size_t cnt = n;
    assert_int_equal(ps_labels_normalize(l, &cnt, rules, &err), PROMSTORE_E_BAD_LABELS);
    assert_int_equal(err.status, PROMSTORE_E_BAD_LABELS);
    va_list ap;
    va_start(ap, rules);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;) {
        if (strstr(err.message, needle) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    }
    va_end(ap);
}

static void expect_ok(promstore_label *l, size_t *n, ps_name_rules rules)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = ps_labels_normalize(l, n, rules, &err);
    if (st != PROMSTORE_OK)
        fail_msg("normalize failed: %s", err.message);
}

/* --- UTF-8 --- */

static void test_utf8(void **state)
{
    (void)state;
    assert_true(ps_utf8_valid("", 0));
    assert_true(ps_utf8_valid("abc", 3));
    assert_true(ps_utf8_valid("\0", 1));
    assert_true(ps_utf8_valid("\xc3\xa9", 2));            /* é */
    assert_true(ps_utf8_valid("\xe2\x82\xac", 3));        /* € */
    assert_true(ps_utf8_valid("\xf0\x9f\x98\x80", 4));    /* emoji */
    assert_true(ps_utf8_valid("\xed\x9f\xbf", 3));        /* U+D7FF */
    assert_true(ps_utf8_valid("\xee\x80\x80", 3));        /* U+E000 */
    assert_true(ps_utf8_valid("\xf4\x8f\xbf\xbf", 4));    /* U+10FFFF */
    assert_false(ps_utf8_valid("\x80", 1));               /* lone continuation */
    assert_false(ps_utf8_valid("\xc3", 1));               /* truncated */
    assert_false(ps_utf8_valid("\xe2\x82", 2));           /* truncated */
    assert_false(ps_utf8_valid("\xc0\xaf", 2));           /* overlong '/' */
    assert_false(ps_utf8_valid("\xc1\xbf", 2));           /* overlong */
    assert_false(ps_utf8_valid("\xe0\x80\xaf", 3));       /* overlong */
    assert_false(ps_utf8_valid("\xf0\x80\x80\xaf", 4));   /* overlong */
    assert_false(ps_utf8_valid("\xed\xa0\x80", 3));       /* U+D800 */
    assert_false(ps_utf8_valid("\xed\xbf\xbf", 3));       /* U+DFFF */
    assert_false(ps_utf8_valid("\xf4\x90\x80\x80", 4));   /* U+110000 */
    assert_false(ps_utf8_valid("\xf5\x80\x80\x80", 4));
    assert_false(ps_utf8_valid("\xff", 1));
    assert_false(ps_utf8_valid("\xc3\x28", 2));           /* bad continuation */
    assert_false(ps_utf8_valid("ab\xe2\x82\xac\xe2", 6)); /* truncated at end */
    /* The length is honoured: the bad byte lies outside it. */
    assert_true(ps_utf8_valid("ab\xff", 2));
}

/* --- normalize --- */

static void test_normalize_sorts(void **state)
{
    (void)state;
    promstore_label l[] = {L("job", "api"), L("__name__", "up"), L("instance", "x:1"),
                           L("a", "1"), L("Z", "2")};
    size_t n = COUNT(l);
    expect_ok(l, &n, PS_NAMES_UTF8);
    assert_int_equal(n, 5);
    const char *want[] = {"Z", "__name__", "a", "instance", "job"};
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(l[i].name, want[i], strlen(want[i]));
    assert_memory_equal(l[1].value, "up", 2);
}

static void test_normalize_drops_empty_values(void **state)
{
    (void)state;
    promstore_label l[] = {L("b", ""), L("__name__", "up"), L("a", ""), L("c", "x")};
    size_t n = COUNT(l);
    expect_ok(l, &n, PS_NAMES_LEGACY);
    assert_int_equal(n, 2);
    assert_int_equal(l[0].name_len, 8);
    assert_memory_equal(l[1].name, "c", 1);
    /* A duplicate whose copy has an empty value is no duplicate. */
    promstore_label d[] = {L("job", ""), L("job", "a")};
    n = COUNT(d);
    expect_ok(d, &n, PS_NAMES_UTF8);
    assert_int_equal(n, 1);
}

static void test_normalize_large(void **state)
{
    (void)state;
    enum { N = 3000 };
    promstore_label *l = calloc(N, sizeof *l);
    char (*names)[8] = calloc(N, sizeof *names);
    assert_non_null(l);
    assert_non_null(names);
    /* Names l0000..l2999 in a scrambled order (1237 is prime to 3000). */
    for (size_t i = 0; i < N; i++) {
        size_t k = (i * 1237) % N;
        snprintf(names[i], sizeof names[i], "l%04zu", k);
        l[i].name = names[i];
        l[i].name_len = 5;
        l[i].value = "v";
        l[i].value_len = 1;
    }
    size_t n = N;
    expect_ok(l, &n, PS_NAMES_LEGACY);
    assert_int_equal(n, N);
    for (size_t i = 1; i < n; i++)
        assert_true(memcmp(l[i - 1].name, l[i].name, 5) < 0);
    /* And a duplicate among thousands is found. */
    l[1500].name = l[10].name;
    n = N;
    expect_bad(l, n, PS_NAMES_LEGACY, "duplicate label name", "\"l0010\"", NULL);
    free(l);
    free(names);
}

static void test_normalize_errors(void **state)
{
    (void)state;
    promstore_error err;
    size_t n = 0;
    assert_int_equal(ps_labels_normalize(NULL, &n, PS_NAMES_UTF8, &err),
                     PROMSTORE_E_BAD_LABELS);
    assert_non_null(strstr(err.message, "no labels"));

    promstore_label all_empty[] = {L("job", ""), L("__name__", "")};
    expect_bad(all_empty, COUNT(all_empty), PS_NAMES_UTF8, "no label has a non-empty value",
               "job=\"\"", NULL);

    promstore_label dup[] = {L("job", "b"), L("__name__", "up"), L("job", "a")};
    expect_bad(dup, COUNT(dup), PS_NAMES_UTF8, "duplicate label name \"job\"",
               "{__name__=\"up\", job=\"", NULL);

    promstore_label empty_name[] = {L("__name__", "up"), L("", "x")};
    expect_bad(empty_name, COUNT(empty_name), PS_NAMES_UTF8, "empty label name",
               "__name__=\"up\"", NULL);

    promstore_label bad_value[] = {L("__name__", "up"), L("job", "a\xff")};
    expect_bad(bad_value, COUNT(bad_value), PS_NAMES_UTF8, "UTF-8", "\"job\"",
               "job=\"a\\xff\"", NULL);

    promstore_label bad_name[] = {L("__name__", "up"), L("j\xc0\xafob", "a")};
    expect_bad(bad_name, COUNT(bad_name), PS_NAMES_UTF8, "invalid UTF-8 in label name",
               "\\xc0\\xaf", NULL);

    promstore_label surrogate[] = {L("__name__", "\xed\xa0\x80")};
    expect_bad(surrogate, COUNT(surrogate), PS_NAMES_UTF8, "UTF-8", "__name__", NULL);

    /* No err: just the code. */
    promstore_label dup2[] = {L("a", "1"), L("a", "2")};
    n = 2;
    assert_int_equal(ps_labels_normalize(dup2, &n, PS_NAMES_UTF8, NULL),
                     PROMSTORE_E_BAD_LABELS);
}

static void test_normalize_legacy_vs_utf8(void **state)
{
    (void)state;
    size_t n;
    /* Dots, spaces, dashes and non-ASCII are fine names under UTF8... */
    promstore_label u[] = {L("service.name", "a"), L("with space", "b"),
                           L("k8s-pod", "c"), L("\xc3\xa9t\xc3\xa9", "d"),
                           L("__name__", "http.requests total")};
    n = COUNT(u);
    expect_ok(u, &n, PS_NAMES_UTF8);
    assert_int_equal(n, 5);

    /* ...and refused under LEGACY, naming the label. */
    promstore_label l1[] = {L("__name__", "up"), L("service.name", "a")};
    expect_bad(l1, COUNT(l1), PS_NAMES_LEGACY, "invalid label name \"service.name\"",
               "{__name__=\"up\", \"service.name\"=\"a\"}", NULL);
    promstore_label l2[] = {L("__name__", "up"), L("with space", "a")};
    expect_bad(l2, COUNT(l2), PS_NAMES_LEGACY, "invalid label name \"with space\"", NULL);
    promstore_label l3[] = {L("__name__", "up"), L("1abc", "a")};
    expect_bad(l3, COUNT(l3), PS_NAMES_LEGACY, "invalid label name \"1abc\"", NULL);
    /* ':' is for metric names only. */
    promstore_label l4[] = {L("__name__", "up"), L("a:b", "a")};
    expect_bad(l4, COUNT(l4), PS_NAMES_LEGACY, "invalid label name \"a:b\"", NULL);

    promstore_label m1[] = {L("__name__", "http.requests"), L("job", "a")};
    expect_bad(m1, COUNT(m1), PS_NAMES_LEGACY, "invalid metric name \"http.requests\"",
               "job=\"a\"", NULL);
    promstore_label m2[] = {L("__name__", "1up")};
    expect_bad(m2, COUNT(m2), PS_NAMES_LEGACY, "invalid metric name", NULL);

    /* Legacy accepts the classic forms, ':' in metric names included. */
    promstore_label ok[] = {L("__name__", "job:rate5m:sum"), L("_x9", "any value . :"),
                            L("Ab_1", "\xe2\x82\xac")};
    n = COUNT(ok);
    expect_ok(ok, &n, PS_NAMES_LEGACY);
    assert_int_equal(n, 3);
    /* The value of other labels is free text even in legacy mode. */
    promstore_label colon_start[] = {L("__name__", ":x")};
    n = 1;
    expect_ok(colon_start, &n, PS_NAMES_LEGACY);
}

/* --- compare --- */

static void test_compare(void **state)
{
    (void)state;
    promstore_label A[] = {L("A", "x")};
    promstore_label N[] = {L("__name__", "x")};
    promstore_label a[] = {L("a", "x")};
    assert_true(ps_labels_compare(A, 1, N, 1) < 0);
    assert_true(ps_labels_compare(N, 1, a, 1) < 0);
    assert_true(ps_labels_compare(A, 1, a, 1) < 0);
    assert_true(ps_labels_compare(a, 1, A, 1) > 0);
    assert_int_equal(ps_labels_compare(a, 1, a, 1), 0);

    promstore_label p1[] = {L("__name__", "up"), L("job", "a")};
    promstore_label p2[] = {L("__name__", "up"), L("job", "a"), L("zone", "z")};
    assert_true(ps_labels_compare(p1, 2, p2, 3) < 0);
    assert_true(ps_labels_compare(p2, 3, p1, 2) > 0);
    assert_true(ps_labels_compare(NULL, 0, p1, 2) < 0);
    assert_int_equal(ps_labels_compare(NULL, 0, NULL, 0), 0);

    /* Values: byte-wise, a prefix first, and high bytes after ASCII. */
    promstore_label v1[] = {L("job", "a")};
    promstore_label v2[] = {L("job", "ab")};
    promstore_label v3[] = {L("job", "b")};
    promstore_label v4[] = {L("job", "\xc3\xa9")};
    assert_true(ps_labels_compare(v1, 1, v2, 1) < 0);
    assert_true(ps_labels_compare(v2, 1, v3, 1) < 0);
    assert_true(ps_labels_compare(v3, 1, v4, 1) < 0);
    /* Names are compared before values, pair by pair. */
    promstore_label n1[] = {L("a", "z"), L("b", "a")};
    promstore_label n2[] = {L("b", "a")};
    assert_true(ps_labels_compare(n1, 2, n2, 1) < 0);
    /* Name prefix: "job" < "job2" whatever the values. */
    promstore_label q1[] = {L("job", "zzz")};
    promstore_label q2[] = {L("job2", "a")};
    assert_true(ps_labels_compare(q1, 1, q2, 1) < 0);
    /* Embedded NUL bytes count. */
    promstore_label z1[] = {{"a", 1, "x\0", 2}};
    promstore_label z2[] = {{"a", 1, "x", 1}};
    assert_true(ps_labels_compare(z2, 1, z1, 1) < 0);
}

/* --- the key --- */

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* A random string biased toward the bytes the escape is about. */
static size_t random_string(char *buf, size_t max)
{
    static const unsigned char alphabet[] = {0x00, 0x01, 0x02, 'a', 'b', 0xff, 0x7f};
    size_t len = rnd() % (max + 1);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(rnd() % 4 == 0 ? (unsigned char)rnd()
                                       : alphabet[rnd() % sizeof alphabet]);
    return len;
}

typedef struct rset {
    promstore_label l[4];
    size_t n;
    char bytes[4][2][6];
    uint8_t key[4 * 2 * (2 * 6 + 1)];
    size_t klen;
} rset;

static void random_set(rset *s)
{
    s->n = rnd() % 5;
    for (size_t i = 0; i < s->n; i++) {
        s->l[i].name = s->bytes[i][0];
        s->l[i].name_len = random_string(s->bytes[i][0], 5);
        s->l[i].value = s->bytes[i][1];
        s->l[i].value_len = random_string(s->bytes[i][1], 5);
    }
    s->klen = ps_labels_key_size(s->l, s->n);
    assert_true(s->klen <= sizeof s->key);
    assert_int_equal(ps_labels_key_encode(s->l, s->n, s->key), s->klen);
}

static int key_compare(const rset *a, const rset *b)
{
    size_t m = a->klen < b->klen ? a->klen : b->klen;
    int c = m ? memcmp(a->key, b->key, m) : 0;
    if (c != 0)
        return c;
    return (a->klen > b->klen) - (a->klen < b->klen);
}

/*
 * The property the index relies on: memcmp over keys orders label sets as
 * labels.Compare does. Sets are short with tiny alphabets so that equal
 * prefixes, equal names and prefix strings come up often.
 */
static void test_key_order_property(void **state)
{
    (void)state;
    static rset a, b;
    for (int iter = 0; iter < 20000; iter++) {
        random_set(&a);
        if (rnd() % 3 == 0) {
            /* b shares a prefix with a, then diverges. */
            b = a;
            for (size_t i = 0; i < b.n; i++) {
                b.l[i].name = b.bytes[i][0];
                b.l[i].value = b.bytes[i][1];
            }
            if (b.n > 0 && rnd() % 2)
                b.n = rnd() % (b.n + 1);
            if (b.n > 0) {
                size_t i = rnd() % b.n;
                b.l[i].value_len = random_string(b.bytes[i][1], 5);
            }
            b.klen = ps_labels_key_size(b.l, b.n);
            ps_labels_key_encode(b.l, b.n, b.key);
        } else {
            random_set(&b);
        }
        int want = sign(ps_labels_compare(a.l, a.n, b.l, b.n));
        int got = sign(key_compare(&a, &b));
        if (want != got)
            fail_msg("iteration %d: compare %d, key order %d", iter, want, got);
    }
}

static void test_key_round_trip(void **state)
{
    (void)state;
    ps_labelbuf lb;
    memset(&lb, 0, sizeof lb);
    static rset a;
    for (int iter = 0; iter < 5000; iter++) {
        random_set(&a);
        assert_int_equal(ps_labelbuf_decode(&lb, a.key, a.klen), 0);
        assert_int_equal(lb.n, a.n);
        for (size_t i = 0; i < a.n; i++) {
            assert_int_equal(lb.labels[i].name_len, a.l[i].name_len);
            assert_int_equal(lb.labels[i].value_len, a.l[i].value_len);
            assert_memory_equal(lb.labels[i].name, a.l[i].name, a.l[i].name_len);
            assert_memory_equal(lb.labels[i].value, a.l[i].value, a.l[i].value_len);
            assert_int_equal(lb.labels[i].name[lb.labels[i].name_len], '\0');
            assert_int_equal(lb.labels[i].value[lb.labels[i].value_len], '\0');
        }
        assert_int_equal(ps_labels_compare(lb.labels, lb.n, a.l, a.n), 0);
    }
    /* A larger set after small ones: the buffers grow. */
    enum { N = 500 };
    promstore_label *big = calloc(N, sizeof *big);
    char (*names)[8] = calloc(N, sizeof *names);
    assert_non_null(big);
    assert_non_null(names);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "n%04zu", i);
        big[i] = (promstore_label){names[i], 5, "v\001\000w", 4};
    }
    size_t klen = ps_labels_key_size(big, N);
    assert_int_equal(klen, N * (6 + 7));
    uint8_t *key = malloc(klen);
    assert_non_null(key);
    assert_int_equal(ps_labels_key_encode(big, N, key), klen);
    assert_int_equal(ps_labelbuf_decode(&lb, key, klen), 0);
    assert_int_equal(lb.n, N);
    assert_int_equal(ps_labels_compare(lb.labels, lb.n, big, N), 0);
    /* The empty key is the empty set. */
    assert_int_equal(ps_labelbuf_decode(&lb, key, 0), 0);
    assert_int_equal(lb.n, 0);
    free(key);
    free(big);
    free(names);
    ps_labelbuf_free(&lb);
    ps_labelbuf_free(&lb); /* twice is harmless */
}

static void test_key_exact_bytes(void **state)
{
    (void)state;
    promstore_label l[] = {{"a\0", 2, "\001b", 2}};
    uint8_t key[16];
    size_t k = ps_labels_key_encode(l, 1, key);
    const uint8_t want[] = {'a', 1, 1, 0, 1, 2, 'b', 0};
    assert_int_equal(k, sizeof want);
    assert_int_equal(ps_labels_key_size(l, 1), sizeof want);
    assert_memory_equal(key, want, sizeof want);

    uint8_t s[8];
    assert_int_equal(ps_key_string_encode("", 0, s), 1);
    assert_int_equal(s[0], 0);
    char out[16];
    size_t pos = 0;
    assert_int_equal(ps_key_string_decode(want, sizeof want, &pos, out), 2);
    assert_int_equal(pos, 4);
    assert_memory_equal(out, "a\0", 2);
    assert_int_equal(ps_key_string_decode(want, sizeof want, &pos, out), 2);
    assert_int_equal(pos, 8);
    assert_memory_equal(out, "\001b", 2);
    /* At the end there is no string left. */
    assert_int_equal(ps_key_string_decode(want, sizeof want, &pos, out), -1);
}

static void expect_malformed(const uint8_t *key, size_t klen)
{
    ps_labelbuf lb;
    memset(&lb, 0, sizeof lb);
    /* A copy of exactly klen bytes, so ASan sees any read past it. */
    uint8_t *copy = malloc(klen ? klen : 1);
    assert_non_null(copy);
    memcpy(copy, key, klen);
    assert_int_equal(ps_labelbuf_decode(&lb, copy, klen), -1);
    free(copy);
    ps_labelbuf_free(&lb);
}

static void test_key_malformed(void **state)
{
    (void)state;
    expect_malformed((const uint8_t *)"a\0b", 3);             /* no terminator */
    expect_malformed((const uint8_t *)"a\0", 2);              /* odd: name only */
    expect_malformed((const uint8_t *)"a\0b\0c\0", 6);        /* odd */
    expect_malformed((const uint8_t *)"a\001\003\0b\0", 6);   /* bad escape 01 03 */
    expect_malformed((const uint8_t *)"a\001\0\0b\0", 6);     /* 01 00 */
    expect_malformed((const uint8_t *)"a\0b\001", 4);         /* escape cut at end */
    expect_malformed((const uint8_t *)"\001", 1);
    expect_malformed((const uint8_t *)"a", 1);

    /* Every truncation of a valid key is rejected or decodes a shorter set. */
    promstore_label l[] = {L("__name__", "up"), {"j\001b", 4, "x\0y", 3}};
    uint8_t key[64];
    size_t klen = ps_labels_key_encode(l, 2, key);
    ps_labelbuf lb;
    memset(&lb, 0, sizeof lb);
    for (size_t cut = 0; cut < klen; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, key, cut);
        int rc = ps_labelbuf_decode(&lb, copy, cut);
        assert_true(rc == 0 || rc == -1);
        if (rc == 0)
            assert_true(lb.n < 2);
        free(copy);
    }
    /* Random garbage never crashes and never reads out of bounds. */
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = rnd() % 24;
        uint8_t *g = malloc(len ? len : 1);
        assert_non_null(g);
        for (size_t i = 0; i < len; i++)
            g[i] = (uint8_t)(rnd() % 4 == 0 ? rnd() : rnd() % 3);
        int rc = ps_labelbuf_decode(&lb, g, len);
        assert_true(rc == 0 || rc == -1);
        free(g);
    }
    ps_labelbuf_free(&lb);
}

/* --- format --- */

static void test_format(void **state)
{
    (void)state;
    char buf[256];
    promstore_label l[] = {L("__name__", "up"), L("job", "a\"b\\c\nd\te"),
                           {"x", 1, "\0\x01\x7f\xff", 4}, L("y", "\xc3\xa9\xc2\x85"),
                           L("a.b", "v")};
    ps_labels_format(l, 4, buf, sizeof buf);
    assert_string_equal(buf, "{__name__=\"up\", job=\"a\\\"b\\\\c\\nd\\te\", "
                             "x=\"\\x00\\x01\\x7f\\xff\", y=\"\xc3\xa9\\u0085\"}");
    ps_labels_format(&l[4], 1, buf, sizeof buf);
    assert_string_equal(buf, "{\"a.b\"=\"v\"}");
    ps_labels_format(NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "{}");
}

static void test_format_truncation(void **state)
{
    (void)state;
    promstore_label l[] = {L("__name__", "up"), L("job", "abcdefghijklmnopqrstuvwxyz")};
    char full[128];
    ps_labels_format(l, 2, full, sizeof full);
    assert_string_equal(full, "{__name__=\"up\", job=\"abcdefghijklmnopqrstuvwxyz\"}");
    size_t flen = strlen(full);
    /* Exactly fitting is not cut. */
    char exact[64];
    ps_labels_format(l, 2, exact, flen + 1);
    assert_string_equal(exact, full);
    /* Every shorter cap: NUL within cap, ends with "...", a prefix of the full text. */
    for (size_t cap = 1; cap <= flen; cap++) {
        char *b = malloc(cap);
        assert_non_null(b);
        ps_labels_format(l, 2, b, cap);
        size_t n = strlen(b);
        assert_true(n < cap);
        if (cap >= 4) {
            assert_true(n >= 3);
            assert_string_equal(b + n - 3, "...");
            assert_memory_equal(b, full, n - 3);
        }
        free(b);
    }
    /* An escape is never split. */
    promstore_label e[] = {L("k", "\n\n\n\n\n\n")};
    char b[12];
    ps_labels_format(e, 1, b, sizeof b); /* {k="\n\n\n... */
    assert_string_equal(b, "{k=\"\\n\\n...");
    char one[1] = {'x'};
    ps_labels_format(e, 1, one, 1);
    assert_int_equal(one[0], '\0');
    /* cap 0 writes nothing. */
    ps_labels_format(e, 1, one, 0);
    assert_int_equal(one[0], '\0');
}

static void test_quote_helpers(void **state)
{
    (void)state;
    char b[32];
    assert_int_equal(ps_quote("a\"b", 3, b, sizeof b), 6);
    assert_string_equal(b, "\"a\\\"b\"");
    ps_name_format("job", 3, b, sizeof b);
    assert_string_equal(b, "job");
    ps_name_format("a b", 3, b, sizeof b);
    assert_string_equal(b, "\"a b\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_normalize_sorts),
        cmocka_unit_test(test_normalize_drops_empty_values),
        cmocka_unit_test(test_normalize_large),
        cmocka_unit_test(test_normalize_errors),
        cmocka_unit_test(test_normalize_legacy_vs_utf8),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_key_order_property),
        cmocka_unit_test(test_key_round_trip),
        cmocka_unit_test(test_key_exact_bytes),
        cmocka_unit_test(test_key_malformed),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_quote_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
