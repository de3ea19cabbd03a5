/*
 * test_schema.c -- the schema layer (plugin/engine/schema.h), run once per
 * backend: `test_schema lmdb|sqlite`.
 *
 *   - every record's encoder and decoder round-trip, and entries of the
 *     wrong shape are reported as a bad key or a bad value;
 *   - the orders keys keep: memcmp of two keys is the order of the numbers
 *     and times they hold (negative times first), and postings pairs sort by
 *     name, then value, then id, whatever their bytes;
 *   - the series_key rule: keys up to PS_SKEY_MAX bytes whole, longer ones
 *     cut to PS_SKEY_PREFIX bytes plus a hash;
 *   - typed reads and writes and the scan object on a real store (a fresh
 *     directory per test, opened through the backend's methods): a prefix
 *     ends the scan at its end, skip-scans visit each distinct name once,
 *     unread and delete behave, and err() reports failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schema.h"
#include "testutil.h"

static const char *g_backend = "lmdb";

/* --- codec: round trips ------------------------------------------------------------------ */

/* Encode r, decode it back into *out; asserts it decodes. */
static void round_trip(ps_kind kind, const ps_rec *r, ps_rec *out, uint8_t *k, uint8_t *v,
                       size_t vcap)
{
    size_t kl = ps_rec_key(kind, r, k);
    size_t vl = ps_rec_value(kind, r, v, vcap);
    assert_true(kl > 0 && kl <= PS_BACKEND_MAX_KEY);
    assert_true(vl != SIZE_MAX);
    ps_bad bad = {0, ""};
    if (ps_rec_decode(kind, k, kl, v, vl, out, &bad) != 0)
        fail_msg("%s: %s", ps_kind_name(kind), bad.why);
    assert_int_equal(bad.what, 0);
}

/* Field by field: the struct has padding. */
static void assert_block_equal(const ps_block_rec *a, const ps_block_rec *b)
{
    assert_int_equal(a->blk, b->blk);
    assert_int_equal(a->slot, b->slot);
    assert_true(a->samples == b->samples && a->chunks == b->chunks && a->bytes == b->bytes);
}

static void test_round_trips(void **state)
{
    (void)state;
    uint8_t k[PS_BACKEND_MAX_KEY], v[PS_HEAD_VALUE_MAX];
    ps_rec out;

    ps_rec m = {.meta = {.key = PS_META_STATS, .stats = {7, 8, 9, -5, INT64_MAX}}};
    round_trip(PS_T_META, &m, &out, k, v, sizeof v);
    assert_int_equal(out.meta.key, PS_META_STATS);
    assert_memory_equal(&out.meta.stats, &m.meta.stats, sizeof m.meta.stats);
    m = (ps_rec){.meta = {.key = PS_META_NEXT_ID, .u64 = UINT64_MAX - 3}};
    round_trip(PS_T_META, &m, &out, k, v, sizeof v);
    assert_int_equal(out.meta.key, PS_META_NEXT_ID);
    assert_true(out.meta.u64 == UINT64_MAX - 3);
    m = (ps_rec){.meta = {.key = PS_META_FORMAT, .text = "1", .text_len = 1}};
    round_trip(PS_T_META, &m, &out, k, v, sizeof v);
    assert_int_equal(out.meta.text_len, 1);
    assert_memory_equal(out.meta.text, "1", 1);

    const uint8_t key[] = {'a', 0, 'b', 0};
    ps_rec s = {.series = {UINT64_C(0x0102030405060708), key, sizeof key}};
    round_trip(PS_T_SERIES, &s, &out, k, v, sizeof v);
    assert_true(out.series.id == s.series.id);
    assert_int_equal(out.series.key_len, sizeof key);
    assert_memory_equal(out.series.key, key, sizeof key);

    uint8_t ids[16];
    ps_put_u64(ids, 5);
    ps_put_u64(ids + 8, 1u << 30);
    ps_rec sk = {.skey = {key, sizeof key, 0, ids, 2}};
    round_trip(PS_T_SERIES_KEY, &sk, &out, k, v, sizeof v);
    assert_int_equal(out.skey.n_ids, 2);
    assert_int_equal(ps_skey_id(&out.skey, 0), 5);
    assert_int_equal(ps_skey_id(&out.skey, 1), 1u << 30);
    assert_false(out.skey.shared);

    uint8_t pair[PS_PAIR_MAX];
    size_t pl = ps_pair_encode("job\x01", 4, "a\0b", 3, pair, sizeof pair);
    assert_int_equal(pl, ps_pair_size("job\x01", 4, "a\0b", 3));
    ps_rec p = {.posting = {pair, pl, 42}};
    round_trip(PS_T_POSTINGS, &p, &out, k, v, sizeof v);
    assert_int_equal(out.posting.id, 42);
    assert_int_equal(out.posting.pair_len, pl);
    char name[PS_PAIR_MAX], value[PS_PAIR_MAX];
    size_t nl, vl;
    assert_int_equal(ps_pair_decode(out.posting.pair, out.posting.pair_len, name, &nl, value, &vl),
                     (long)pl);
    assert_int_equal(nl, 4);
    assert_memory_equal(name, "job\x01", 4);
    assert_int_equal(vl, 3);
    assert_memory_equal(value, "a\0b", 3);
    assert_int_equal(ps_pair_decode(pair, pl - 1, name, &nl, value, &vl), -1);
    assert_int_equal(ps_pair_decode(pair, pl - 1, name, &nl, NULL, NULL), 6); /* the name only */
    assert_int_equal(nl, 4);

    uint8_t state_bytes[PS_XOR_STATE_BYTES], chunk[3] = {0, 1, 0x80};
    for (size_t i = 0; i < sizeof state_bytes; i++)
        state_bytes[i] = (uint8_t)(i * 7);
    ps_rec h = {.head = {9, -1000, 5, state_bytes, chunk, sizeof chunk}};
    round_trip(PS_T_HEAD, &h, &out, k, v, sizeof v);
    assert_int_equal(out.head.id, 9);
    assert_int_equal(out.head.mint, -1000);
    assert_int_equal(out.head.maxt, 5);
    assert_memory_equal(out.head.state, state_bytes, sizeof state_bytes);
    assert_int_equal(out.head.chunk_len, sizeof chunk);
    assert_memory_equal(out.head.chunk, chunk, sizeof chunk);

    ps_rec l = {.lastblk = {-3, 77}};
    round_trip(PS_T_LASTBLK, &l, &out, k, v, sizeof v);
    assert_int_equal(out.lastblk.blk, -3);
    assert_int_equal(out.lastblk.id, 77);

    ps_rec b = {.block = {INT64_MIN + 1, 0xfffffffeu, 1, UINT64_MAX, 3}};
    round_trip(PS_T_BLOCKS, &b, &out, k, v, sizeof v);
    assert_block_equal(&out.block, &b.block);

    ps_rec c = {.chunk = {12, -7, 99, chunk, sizeof chunk}};
    round_trip(PS_T_BLK, &c, &out, k, v, sizeof v);
    assert_int_equal(out.chunk.id, 12);
    assert_int_equal(out.chunk.mint, -7);
    assert_int_equal(out.chunk.maxt, 99);
    assert_int_equal(out.chunk.len, sizeof chunk);
    assert_memory_equal(out.chunk.data, chunk, sizeof chunk);

    ps_rec o = {.ooo = {-1, 3, -3600001, UINT64_C(0x7ff0000000000002)}};
    round_trip(PS_T_OOO, &o, &out, k, v, sizeof v);
    assert_memory_equal(&out.ooo, &o.ooo, sizeof o.ooo);

    /* A value that does not fit the caller's buffer is refused, not cut. */
    assert_true(ps_rec_value(PS_T_BLOCKS, &b, v, 27) == SIZE_MAX);
}

/* The head value the writer builds from a live appender resumes the same appender. */
static void test_head_encode(void **state)
{
    (void)state;
    uint8_t buf[PS_CHUNK_CAP], val[PS_HEAD_VALUE_MAX], again[PS_CHUNK_CAP];
    ps_xor_appender a, b;
    ps_xor_appender_init(&a, buf, sizeof buf);
    for (int i = 0; i < 50; i++)
        assert_int_equal(ps_xor_append(&a, -60000 + i * 15000 + (i % 3), tu_bits(i * 0.25)), 0);
    size_t vl = ps_head_encode(val, -60000, &a, buf);
    ps_head_rec h = {0};
    assert_int_equal(ps_head_decode(val, vl, &h), 0);
    assert_int_equal(h.mint, -60000);
    assert_int_equal(h.maxt, a.t);
    assert_int_equal(h.chunk_len, a.len);
    assert_memory_equal(h.chunk, buf, a.len);
    memcpy(again, h.chunk, h.chunk_len);
    assert_int_equal(ps_xor_appender_load(&b, again, h.chunk_len, sizeof again, h.state), 0);
    assert_int_equal(b.n, a.n);
    assert_int_equal(b.t, a.t);
    assert_true(b.v == a.v);
    /* The generic decoder reads the same bytes as the same record. */
    uint8_t k[8];
    ps_put_u64(k, 4);
    ps_rec r;
    assert_int_equal(ps_rec_decode(PS_T_HEAD, k, 8, val, vl, &r, NULL), 0);
    assert_int_equal(r.head.id, 4);
    assert_int_equal(r.head.maxt, a.t);
    assert_int_equal(ps_head_decode(val, PS_HEAD_HDR + 1, &h), -1);
}

/* Encode r into e's key and value; asserts it fits. */
typedef struct enc {
    uint8_t k[PS_BACKEND_MAX_KEY], v[PS_HEAD_VALUE_MAX];
    size_t kl, vl;
} enc;

static void encode(ps_kind kind, const ps_rec *r, enc *e)
{
    memset(e, 0, sizeof *e);
    e->kl = ps_rec_key(kind, r, e->k);
    e->vl = ps_rec_value(kind, r, e->v, sizeof e->v);
    assert_true(e->kl > 0 && e->vl != SIZE_MAX);
}

/* An entry one byte short or long in its key or value does not decode, and says which. */
static void assert_exact_sizes(ps_kind kind, const ps_rec *r, int value_fixed)
{
    enc e;
    ps_rec out;
    ps_bad bad;
    encode(kind, r, &e);
    assert_int_equal(ps_rec_decode(kind, e.k, e.kl, e.v, e.vl, &out, &bad), 0);
    assert_int_equal(ps_rec_decode(kind, e.k, e.kl - 1, e.v, e.vl, &out, &bad), PS_BAD_KEY);
    assert_true(bad.why[0] != '\0');
    assert_int_equal(ps_rec_decode(kind, e.k, e.kl + 1, e.v, e.vl, &out, &bad), PS_BAD_KEY);
    if (value_fixed) {
        assert_int_equal(ps_rec_decode(kind, e.k, e.kl, e.v, e.vl - 1, &out, &bad), PS_BAD_VALUE);
        assert_int_equal(ps_rec_decode(kind, e.k, e.kl, e.v, e.vl + 1, &out, &bad), PS_BAD_VALUE);
    }
}

/* Entries of the wrong shape: which half is bad, why, and what could still be read. */
static void test_bad_entries(void **state)
{
    (void)state;
    uint8_t chunk[2] = {0, 0}, state_bytes[PS_XOR_STATE_BYTES] = {0};
    ps_rec r, out;
    ps_bad bad;
    enc e;
    char want[64];

    r = (ps_rec){.block = {5, 1, 2, 3, 4}};
    assert_exact_sizes(PS_T_BLOCKS, &r, 1);
    encode(PS_T_BLOCKS, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_BLOCKS, e.k, e.kl, e.v, e.vl - 1, &out, &bad), PS_BAD_VALUE);
    snprintf(want, sizeof want, "record of %zu/%zu bytes", e.kl, e.vl - 1);
    assert_non_null(strstr(bad.why, want));
    assert_int_equal(out.block.blk, 5);
    r = (ps_rec){.ooo = {-1, 11, 7, 9}};
    assert_exact_sizes(PS_T_OOO, &r, 1);
    encode(PS_T_OOO, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_OOO, e.k, e.kl - 1, e.v, e.vl, &out, &bad), PS_BAD_KEY);
    assert_int_equal(out.ooo.blk, -1); /* the leading fields that are whole */
    assert_int_equal(out.ooo.id, 11);
    r = (ps_rec){.lastblk = {-1, 11}};
    assert_exact_sizes(PS_T_LASTBLK, &r, 0);
    r = (ps_rec){.series = {11, chunk, 2}};
    assert_exact_sizes(PS_T_SERIES, &r, 0);
    encode(PS_T_SERIES, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_SERIES, e.k, e.kl + 1, e.v, e.vl, &out, &bad), PS_BAD_KEY);
    snprintf(want, sizeof want, "key of %zu bytes", e.kl + 1);
    assert_non_null(strstr(bad.why, want));
    assert_int_equal(out.series.id, 11);

    /* Chunks and heads: a key of the wrong size, a value too short for its header. */
    r = (ps_rec){.chunk = {11, -5, 6, chunk, sizeof chunk}};
    assert_exact_sizes(PS_T_BLK, &r, 0);
    encode(PS_T_BLK, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_BLK, e.k, e.kl, e.v, e.vl - 1, &out, &bad), PS_BAD_VALUE);
    assert_int_equal(out.chunk.id, 11);
    assert_int_equal(out.chunk.mint, -5);
    assert_int_equal(ps_rec_decode(PS_T_BLK, e.k, e.kl - 1, e.v, e.vl, &out, &bad), PS_BAD_KEY);
    assert_int_equal(out.chunk.id, 11);
    r = (ps_rec){.head = {11, 1, 2, state_bytes, chunk, sizeof chunk}};
    assert_exact_sizes(PS_T_HEAD, &r, 0);
    encode(PS_T_HEAD, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_HEAD, e.k, e.kl, e.v, e.vl - 1, &out, &bad), PS_BAD_VALUE);
    assert_int_equal(out.head.id, 11);
    snprintf(want, sizeof want, "value of %zu bytes", e.vl - 1);
    assert_non_null(strstr(bad.why, want));

    /* Postings: too short for a pair and an id. series_key: ids of 8 bytes, at least one. */
    uint8_t pair[8];
    r = (ps_rec){.posting = {pair, ps_pair_encode("", 0, "", 0, pair, sizeof pair), 3}};
    encode(PS_T_POSTINGS, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_POSTINGS, e.k, e.kl, e.v, e.vl, &out, &bad), 0);
    assert_int_equal(ps_rec_decode(PS_T_POSTINGS, e.k, e.kl - 1, e.v, 0, &out, &bad), PS_BAD_KEY);
    uint8_t ids[16] = {0};
    r = (ps_rec){.skey = {pair, 2, 0, ids, 2}};
    encode(PS_T_SERIES_KEY, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_SERIES_KEY, e.k, e.kl, e.v, e.vl, &out, &bad), 0);
    assert_int_equal(ps_rec_decode(PS_T_SERIES_KEY, e.k, e.kl, e.v, e.vl - 1, &out, &bad),
                     PS_BAD_VALUE);
    assert_int_equal(ps_rec_decode(PS_T_SERIES_KEY, e.k, e.kl, e.v, 0, &out, &bad), PS_BAD_VALUE);

    /* Meta: each record has its size; an unknown name is a bad key. */
    r = (ps_rec){.meta = {.key = PS_META_STATS}};
    assert_exact_sizes(PS_T_META, &r, 1);
    encode(PS_T_META, &r, &e);
    assert_int_equal(ps_rec_decode(PS_T_META, e.k, e.kl, e.v, e.vl - 1, &out, &bad), PS_BAD_VALUE);
    snprintf(want, sizeof want, "\"stats\" record has %zu bytes, not %zu", e.vl - 1, e.vl);
    assert_non_null(strstr(bad.why, want));
    r = (ps_rec){.meta = {.key = PS_META_NEXT_ID}};
    assert_exact_sizes(PS_T_META, &r, 1);
    assert_int_equal(ps_rec_decode(PS_T_META, (const uint8_t *)"nope", 4, e.v, 8, &out, &bad),
                     PS_BAD_KEY);
    /* Without a ps_bad only the verdict comes back. */
    encode(PS_T_BLOCKS, &(ps_rec){.block = {0, 0, 0, 0, 0}}, &e);
    assert_int_equal(ps_rec_decode(PS_T_BLOCKS, e.k, e.kl, e.v, 1, &out, NULL), PS_BAD_VALUE);
}

/* --- codec: orders --------------------------------------------------------------------------- */

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

static int key_cmp(ps_kind kind, const ps_rec *a, const ps_rec *b)
{
    uint8_t ka[PS_BACKEND_MAX_KEY], kb[PS_BACKEND_MAX_KEY];
    size_t la = ps_rec_key(kind, a, ka), lb = ps_rec_key(kind, b, kb);
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? sign(c) : (la > lb) - (la < lb);
}

static int num_cmp(int64_t x, int64_t y)
{
    return (x > y) - (x < y);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Times near the edges and zero, and random ones of every size. */
static int64_t some_time(uint64_t *s)
{
    static const int64_t edges[] = {INT64_MIN, INT64_MIN + 1, -3600000, -1, 0, 1, 7200000,
                                    INT64_MAX - 1, INT64_MAX};
    uint64_t r = rnd(s);
    if (r % 3 == 0)
        return edges[(r >> 8) % (sizeof edges / sizeof edges[0])];
    return (int64_t)(rnd(s) >> (r % 64));
}

static void test_key_order(void **state)
{
    (void)state;
    uint64_t s = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        int64_t t1 = some_time(&s), t2 = some_time(&s), b1 = some_time(&s), b2 = some_time(&s);
        uint64_t i1 = rnd(&s) % 4, i2 = rnd(&s) % 4;
        if (rnd(&s) % 2)
            b2 = b1;
        ps_rec x = {.block = {.blk = b1}}, y = {.block = {.blk = b2}};
        assert_int_equal(key_cmp(PS_T_BLOCKS, &x, &y), num_cmp(b1, b2));
        x = (ps_rec){.ooo = {b1, i1, t1, 0}}, y = (ps_rec){.ooo = {b2, i2, t2, 0}};
        int want = num_cmp(b1, b2) ? num_cmp(b1, b2)
                   : i1 != i2      ? num_cmp((int64_t)i1, (int64_t)i2)
                                   : num_cmp(t1, t2);
        assert_int_equal(key_cmp(PS_T_OOO, &x, &y), want);
        x = (ps_rec){.chunk = {.id = i1, .mint = t1}}, y = (ps_rec){.chunk = {.id = i2, .mint = t2}};
        want = i1 != i2 ? num_cmp((int64_t)i1, (int64_t)i2) : num_cmp(t1, t2);
        assert_int_equal(key_cmp(PS_T_BLK, &x, &y), want);
        x = (ps_rec){.lastblk = {b1, i1}}, y = (ps_rec){.lastblk = {b2, i2}};
        want = num_cmp(b1, b2) ? num_cmp(b1, b2) : num_cmp((int64_t)i1, (int64_t)i2);
        assert_int_equal(key_cmp(PS_T_LASTBLK, &x, &y), want);
        uint64_t u1 = rnd(&s) >> (rnd(&s) % 64), u2 = rnd(&s) >> (rnd(&s) % 64);
        x = (ps_rec){.series = {.id = u1}}, y = (ps_rec){.series = {.id = u2}};
        assert_int_equal(key_cmp(PS_T_SERIES, &x, &y), (u1 > u2) - (u1 < u2));
    }
}

/* Bytes compared as unsigned, a prefix first. */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? sign(c) : (al > bl) - (al < bl);
}

/* Postings keys sort by name, then value, then id, for any bytes (00, 01, ff included). */
static void test_pair_order(void **state)
{
    (void)state;
    static const char alphabet[] = {0x00, 0x01, 0x02, 'a', 'b', (char)0xff};
    uint64_t s = 0x243f6a8885a308d3u;
    for (int i = 0; i < 20000; i++) {
        char str[4][6];
        size_t len[4];
        for (int j = 0; j < 4; j++) {
            len[j] = rnd(&s) % 5;
            for (size_t c = 0; c < len[j]; c++)
                str[j][c] = alphabet[rnd(&s) % sizeof alphabet];
        }
        if (rnd(&s) % 2) /* often the same name */
            memcpy(str[2], str[0], len[2] = len[0]);
        uint64_t id1 = rnd(&s) % 3, id2 = rnd(&s) % 3;
        uint8_t p1[64], p2[64];
        size_t l1 = ps_pair_encode(str[0], len[0], str[1], len[1], p1, sizeof p1);
        size_t l2 = ps_pair_encode(str[2], len[2], str[3], len[3], p2, sizeof p2);
        ps_rec x = {.posting = {p1, l1, id1}}, y = {.posting = {p2, l2, id2}};
        int want = bytes_cmp(str[0], len[0], str[2], len[2]);
        if (want == 0)
            want = bytes_cmp(str[1], len[1], str[3], len[3]);
        if (want == 0)
            want = (id1 > id2) - (id1 < id2);
        assert_int_equal(key_cmp(PS_T_POSTINGS, &x, &y), want);
    }
    /* The all-series pair sorts before every pair with a name. */
    uint8_t all[8], named[8];
    size_t la = ps_pair_encode("", 0, "", 0, all, sizeof all);
    size_t ln = ps_pair_encode("\x00", 1, "", 0, named, sizeof named);
    ps_rec x = {.posting = {all, la, UINT64_MAX}}, y = {.posting = {named, ln, 0}};
    assert_int_equal(key_cmp(PS_T_POSTINGS, &x, &y), -1);
    /* Pairs too long for a key with an id are refused. */
    static char big[PS_PAIR_MAX];
    static uint8_t out[PS_PAIR_MAX];
    memset(big, 'x', sizeof big);
    assert_int_equal(ps_pair_encode("n", 1, big, PS_PAIR_MAX - 3, out, PS_PAIR_MAX), PS_PAIR_MAX);
    assert_int_equal(ps_pair_encode("n", 1, big, PS_PAIR_MAX - 2, out, PS_PAIR_MAX), 0);
}

/* --- the series_key cut rule ------------------------------------------------------------------ */

static void test_cut_key(void **state)
{
    (void)state;
    static uint8_t key[1000], other[1000], out[PS_SKEY_MAX];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = other[i] = (uint8_t)(i * 31 + 7);
    other[sizeof other - 1] ^= 1;
    for (size_t len = PS_SKEY_MAX - 2; len <= PS_SKEY_MAX; len++) {
        assert_int_equal(ps_skey_encode(key, len, out), len);
        assert_memory_equal(out, key, len);
    }
    for (size_t len = PS_SKEY_MAX + 1; len <= sizeof key; len += 97) {
        assert_int_equal(ps_skey_encode(key, len, out), PS_SKEY_MAX);
        assert_memory_equal(out, key, PS_SKEY_PREFIX);
        assert_int_equal(ps_get_u64(out + PS_SKEY_PREFIX), ps_hash64(key, len));
    }
    /* Two long keys that differ only past the cut get different cut keys. */
    uint8_t a[PS_SKEY_MAX], b[PS_SKEY_MAX];
    ps_skey_encode(key, sizeof key, a);
    ps_skey_encode(other, sizeof other, b);
    assert_memory_equal(a, b, PS_SKEY_PREFIX);
    assert_memory_not_equal(a, b, PS_SKEY_MAX);
    /* A key of PS_SKEY_MAX bytes may be a cut key or a whole one: look-ups compare full keys. */
    uint8_t ids[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    ps_rec r;
    assert_int_equal(ps_rec_decode(PS_T_SERIES_KEY, a, PS_SKEY_MAX, ids, 8, &r, NULL), 0);
    assert_true(r.skey.shared);
    assert_int_equal(ps_rec_decode(PS_T_SERIES_KEY, a, PS_SKEY_MAX - 1, ids, 8, &r, NULL), 0);
    assert_false(r.skey.shared);
    assert_int_equal(ps_rec_decode(PS_T_SERIES_KEY, a, PS_SKEY_MAX + 1, ids, 8, &r, NULL),
                     PS_BAD_KEY);
}

/* --- on a real store ------------------------------------------------------------------------ */

typedef struct fx {
    char *dir;
    ps_schema s;
    ps_txn *txn;
    promstore_error err;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->dir = tu_mkdtemp("schema");
    ps_schema_init(&f->s, ps_backend_find(g_backend));
    ps_backend_config cfg = {0, 0};
    if (ps_schema_open(&f->s, f->dir, &cfg, &f->err) != PROMSTORE_OK ||
        ps_txn_begin(&f->s, 1, &f->txn, &f->err) != PROMSTORE_OK)
        return -1;
    for (ps_kind k = PS_T_META; k < PS_T_FIXED; k++)
        if (ps_schema_open_table(&f->s, f->txn, k, 1, &f->err) != PROMSTORE_OK)
            return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ps_txn_abort(&f->s, f->txn);
    ps_schema_close(&f->s);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

#define OK(call)                                                                               \
    do {                                                                                       \
        promstore_status rc_ = (call);                                                         \
        if (rc_ != PROMSTORE_OK)                                                               \
            fail_msg("%s: %d %s", #call, rc_, f->err.message);                                 \
    } while (0)

static void test_typed_reads_and_writes(void **state)
{
    fx *f = *state;
    ps_schema *s = &f->s;
    ps_txn *txn = f->txn;

    /* meta */
    assert_int_equal(ps_meta_format_check(s, txn, &f->err), PROMSTORE_E_NOT_FOUND);
    ps_stats_rec st = {1, 2, 3, 4, 5};
    assert_int_equal(ps_stats_get(s, txn, &st, &f->err), PROMSTORE_E_NOT_FOUND);
    assert_int_equal(st.series, 0);
    OK(ps_meta_init(s, txn, 7200000, &f->err));
    OK(ps_meta_format_check(s, txn, &f->err));
    uint64_t u = 0;
    OK(ps_meta_u64_get(s, txn, PS_META_BLOCK_MS, &u, &f->err));
    assert_int_equal(u, 7200000);
    OK(ps_meta_u64_get(s, txn, PS_META_NEXT_ID, &u, &f->err));
    assert_int_equal(u, 1);
    ps_stats_rec in = {10, 20, 30, -40, 50};
    OK(ps_stats_put(s, txn, &in, &f->err));
    OK(ps_stats_get(s, txn, &st, &f->err));
    assert_memory_equal(&st, &in, sizeof st);
    /* A store of another format version is refused, naming the version. */
    ps_rec fmt = {.meta = {.key = PS_META_FORMAT, .text = "2", .text_len = 1}};
    uint8_t k[PS_BACKEND_MAX_KEY], v[64];
    size_t kl = ps_rec_key(PS_T_META, &fmt, k), vl = ps_rec_value(PS_T_META, &fmt, v, sizeof v);
    OK(s->bm->put(txn, s->t[PS_T_META], k, kl, v, vl, &f->err));
    assert_int_equal(ps_meta_format_check(s, txn, &f->err), PROMSTORE_E_UNSUPPORTED);
    assert_non_null(strstr(f->err.message, "\"2\""));
    /* A record of the wrong size is corrupt; with a ps_bad it is shown instead. */
    OK(s->bm->put(txn, s->t[PS_T_META], "next_id", 7, "abc", 3, &f->err));
    assert_int_equal(ps_meta_u64_get(s, txn, PS_META_NEXT_ID, &u, &f->err), PROMSTORE_E_CORRUPT);
    assert_non_null(strstr(f->err.message, "meta"));
    ps_rec got, key = {.meta = {.key = PS_META_NEXT_ID}};
    ps_bad bad;
    OK(ps_rec_get(s, txn, PS_T_META, &key, &got, &bad, &f->err));
    assert_int_equal(bad.what, PS_BAD_VALUE);

    /* series, series_key */
    const uint8_t lk[] = {'a', 0, 'b', 0};
    ps_series_rec sr = {3, lk, sizeof lk};
    OK(ps_series_put(s, txn, &sr, &f->err));
    ps_series_rec sg;
    OK(ps_series_get(s, txn, 3, &sg, &f->err));
    assert_int_equal(sg.id, 3);
    assert_int_equal(sg.key_len, sizeof lk);
    assert_memory_equal(sg.key, lk, sizeof lk);
    OK(ps_series_del(s, txn, 3, &f->err));
    assert_int_equal(ps_series_get(s, txn, 3, &sg, &f->err), PROMSTORE_E_NOT_FOUND);
    uint64_t ids[3] = {4, 9, 2};
    ps_skey_rec kr;
    OK(ps_skey_put(s, txn, lk, sizeof lk, ids, 3, &f->err));
    OK(ps_skey_remove_id(s, txn, lk, sizeof lk, 9, &f->err));
    OK(ps_skey_get(s, txn, lk, sizeof lk, &kr, &f->err));
    assert_true(kr.skey == lk);
    assert_int_equal(kr.n_ids, 2);
    assert_int_equal(ps_skey_id(&kr, 0), 4);
    assert_int_equal(ps_skey_id(&kr, 1), 2);
    OK(ps_skey_remove_id(s, txn, lk, sizeof lk, 4, &f->err));
    OK(ps_skey_remove_id(s, txn, lk, sizeof lk, 2, &f->err));
    assert_int_equal(ps_skey_get(s, txn, lk, sizeof lk, &kr, &f->err), PROMSTORE_E_NOT_FOUND);
    OK(ps_skey_remove_id(s, txn, lk, sizeof lk, 2, &f->err)); /* a missing entry is no error */
    static uint64_t many[100];
    for (int i = 0; i < 100; i++)
        many[i] = (uint64_t)i + 1;
    OK(ps_skey_put(s, txn, lk, sizeof lk, many, 100, &f->err));
    OK(ps_skey_get(s, txn, lk, sizeof lk, &kr, &f->err));
    assert_int_equal(kr.n_ids, 100);
    assert_int_equal(ps_skey_id(&kr, 99), 100);

    /* postings */
    promstore_label l = {"job", 3, "node", 4};
    OK(ps_posting_put(s, txn, &l, 5, &f->err));
    OK(ps_posting_put(s, txn, NULL, 5, &f->err));
    OK(ps_posting_get(s, txn, &l, 5, &f->err));
    OK(ps_posting_get(s, txn, NULL, 5, &f->err));
    assert_int_equal(ps_posting_get(s, txn, &l, 6, &f->err), PROMSTORE_E_NOT_FOUND);
    OK(ps_posting_del(s, txn, &l, 5, &f->err));
    assert_int_equal(ps_posting_get(s, txn, &l, 5, &f->err), PROMSTORE_E_NOT_FOUND);
    static char big[PS_PAIR_MAX];
    memset(big, 'v', sizeof big);
    promstore_label too_long = {"n", 1, big, sizeof big};
    assert_int_equal(ps_posting_put(s, txn, &too_long, 1, &f->err), PROMSTORE_E_BAD_LABELS);

    /* head */
    uint8_t buf[PS_CHUNK_CAP], val[PS_HEAD_VALUE_MAX];
    ps_xor_appender a;
    ps_xor_appender_init(&a, buf, sizeof buf);
    ps_xor_append(&a, 1000, tu_bits(1.5));
    ps_xor_append(&a, 2000, tu_bits(2.5));
    OK(ps_head_put(s, txn, 5, val, ps_head_encode(val, 1000, &a, buf), &f->err));
    ps_head_rec hr;
    OK(ps_head_get(s, txn, 5, &hr, &f->err));
    assert_int_equal(hr.id, 5);
    assert_int_equal(hr.mint, 1000);
    assert_int_equal(hr.maxt, 2000);
    assert_int_equal(ps_xor_num_samples(hr.chunk, hr.chunk_len), 2);
    OK(ps_head_put(s, txn, 6, val, PS_HEAD_HDR, &f->err));
    assert_int_equal(ps_head_get(s, txn, 6, &hr, &f->err), PROMSTORE_E_CORRUPT);
    assert_non_null(strstr(f->err.message, "head: open chunk of series 6"));
    OK(ps_head_del(s, txn, 5, &f->err));
    assert_int_equal(ps_head_get(s, txn, 5, &hr, &f->err), PROMSTORE_E_NOT_FOUND);

    /* lastblk, blocks, a block table, ooo */
    OK(ps_lastblk_put(s, txn, -2, 5, &f->err));
    OK(ps_lastblk_get(s, txn, -2, 5, &f->err));
    OK(ps_lastblk_del(s, txn, -2, 5, &f->err));
    assert_int_equal(ps_lastblk_del(s, txn, -2, 5, &f->err), PROMSTORE_E_NOT_FOUND);
    ps_block_rec br = {-2, 3, 100, 2, 300}, bg;
    OK(ps_block_put(s, txn, &br, &f->err));
    OK(ps_block_get(s, txn, -2, &bg, &f->err));
    assert_block_equal(&bg, &br);
    assert_int_equal(ps_block_get(s, txn, -1, &bg, &f->err), PROMSTORE_E_NOT_FOUND);
    ps_table t;
    assert_int_equal(ps_blk_table(s, txn, 3, 0, &t, &f->err), PROMSTORE_E_NOT_FOUND);
    OK(ps_blk_table(s, txn, 3, 1, &t, &f->err));
    ps_chunk_rec cr = {5, 1000, 2000, buf, a.len};
    OK(ps_chunk_put(s, txn, t, &cr, &f->err));
    ps_ooo_rec o = {-2, 5, -7000000, 42};
    OK(ps_ooo_put(s, txn, &o, &f->err));
    o.value = 0;
    OK(ps_ooo_get(s, txn, &o, &f->err));
    assert_int_equal(o.value, 42);
    o.t++;
    assert_int_equal(ps_ooo_get(s, txn, &o, &f->err), PROMSTORE_E_NOT_FOUND);

    ps_scan sc;
    ps_scan_open_blk(&sc, s, txn, t, PS_SCAN_FAIL_BAD, &f->err);
    assert_int_equal(ps_scan_next(&sc), 1);
    const ps_chunk_rec *c = &ps_scan_at(&sc)->chunk;
    assert_int_equal(c->id, 5);
    assert_int_equal(c->mint, 1000);
    assert_int_equal(c->maxt, 2000);
    assert_memory_equal(c->data, buf, a.len);
    assert_int_equal(ps_scan_next(&sc), 0);
    OK(ps_scan_close(&sc));
    char name[32];
    assert_string_equal(ps_blk_name(3, name, sizeof name), "blk.3");
    OK(ps_blk_clear(s, txn, 3, &f->err));
    ps_scan_open_blk(&sc, s, txn, t, PS_SCAN_FAIL_BAD, &f->err);
    assert_int_equal(ps_scan_next(&sc), 0);
    OK(ps_scan_close(&sc));
}

/* ooo entries of three series in three blocks (negative ones included). */
static void fill_ooo(fx *f)
{
    for (int64_t blk = -1; blk <= 1; blk++)
        for (uint64_t id = 1; id <= 3; id++)
            for (int64_t i = 0; i < 4; i++) {
                ps_ooo_rec o = {blk, id, blk * 1000 + i, (uint64_t)(blk * 100 + (int64_t)id * 10 + i)};
                OK(ps_ooo_put(&f->s, f->txn, &o, &f->err));
            }
}

static void test_scan_prefix(void **state)
{
    fx *f = *state;
    fill_ooo(f);
    ps_scan sc;
    /* The whole table, in key order: block, then id, then time. */
    int n = 0;
    ps_ooo_rec prev = {0, 0, 0, 0};
    ps_scan_open(&sc, &f->s, f->txn, PS_T_OOO, PS_SCAN_FAIL_BAD, &f->err);
    while (ps_scan_next(&sc)) {
        const ps_ooo_rec *o = &ps_scan_at(&sc)->ooo;
        if (n++ > 0)
            assert_true(o->blk > prev.blk || (o->blk == prev.blk && o->id > prev.id) ||
                        (o->blk == prev.blk && o->id == prev.id && o->t > prev.t));
        prev = *o;
    }
    OK(ps_scan_close(&sc));
    assert_int_equal(n, 36);

    /* Series 2 in block -1, from its second sample: the prefix (block, id) ends it. */
    ps_scan_open(&sc, &f->s, f->txn, PS_T_OOO, PS_SCAN_FAIL_BAD, &f->err);
    ps_scan_seek(&sc, &(ps_rec){.ooo = {-1, 2, -999, 0}}, 2);
    n = 0;
    while (ps_scan_next(&sc)) {
        const ps_ooo_rec *o = &ps_scan_at(&sc)->ooo;
        assert_int_equal(o->blk, -1);
        assert_int_equal(o->id, 2);
        assert_int_equal(o->t, -999 + n);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(ps_scan_next(&sc), 0); /* and stays ended */
    OK(ps_scan_close(&sc));

    /* Skip-scan: one entry per block, a seek per distinct block. */
    ps_scan_open(&sc, &f->s, f->txn, PS_T_OOO, PS_SCAN_FAIL_BAD, &f->err);
    int64_t want = -1;
    while (ps_scan_next(&sc)) {
        assert_int_equal(ps_scan_at(&sc)->ooo.blk, want++);
        assert_int_equal(ps_scan_at(&sc)->ooo.id, 1);
        ps_scan_skip(&sc, 1);
    }
    OK(ps_scan_close(&sc));
    assert_int_equal(want, 2);

    /* Unread: the same record again, then on. */
    ps_scan_open(&sc, &f->s, f->txn, PS_T_OOO, PS_SCAN_FAIL_BAD, &f->err);
    assert_int_equal(ps_scan_next(&sc), 1);
    int64_t t0 = ps_scan_at(&sc)->ooo.t;
    ps_scan_unread(&sc);
    assert_int_equal(ps_scan_next(&sc), 1);
    assert_int_equal(ps_scan_at(&sc)->ooo.t, t0);
    assert_int_equal(ps_scan_next(&sc), 1);
    assert_int_equal(ps_scan_at(&sc)->ooo.t, t0 + 1);
    OK(ps_scan_close(&sc));

    /* Deleting while scanning: the blocks before 0 go, block 0 and 1 stay. */
    ps_scan_open(&sc, &f->s, f->txn, PS_T_OOO, PS_SCAN_FAIL_BAD, &f->err);
    n = 0;
    while (ps_scan_next(&sc) && ps_scan_at(&sc)->ooo.blk < 0) {
        OK(ps_scan_del(&sc));
        n++;
    }
    assert_int_equal(ps_scan_at(&sc)->ooo.blk, 0);
    OK(ps_scan_close(&sc));
    assert_int_equal(n, 12);
    ps_scan_open(&sc, &f->s, f->txn, PS_T_OOO, PS_SCAN_FAIL_BAD, &f->err);
    assert_int_equal(ps_scan_next(&sc), 1);
    assert_int_equal(ps_scan_at(&sc)->ooo.blk, 0);
    OK(ps_scan_close(&sc));
}

/* Postings: a pair prefix, a name prefix with a skip per value, a skip per name. */
static void test_scan_postings(void **state)
{
    fx *f = *state;
    static const promstore_label labels[] = {
        {"a", 1, "x", 1},      {"a", 1, "x\x01", 2}, {"a", 1, "y", 1}, {"ab", 2, "x", 1},
        {"b", 1, "\x00", 1},   {"b", 1, "z", 1},
    };
    for (uint64_t id = 1; id <= 3; id++) {
        OK(ps_posting_put(&f->s, f->txn, NULL, id, &f->err));
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
            OK(ps_posting_put(&f->s, f->txn, &labels[i], id, &f->err));
    }
    uint8_t pair[PS_PAIR_MAX];
    char name[PS_PAIR_MAX], value[PS_PAIR_MAX];
    size_t nl, vl;
    ps_scan sc;

    /* Pair a="x": its three ids, and not a="x\x01" that follows it. */
    size_t pl = ps_pair_encode("a", 1, "x", 1, pair, sizeof pair);
    ps_scan_open(&sc, &f->s, f->txn, PS_T_POSTINGS, PS_SCAN_FAIL_BAD, &f->err);
    ps_scan_seek(&sc, &(ps_rec){.posting = {pair, pl, 0}}, 2);
    uint64_t id = 0;
    while (ps_scan_next(&sc))
        assert_int_equal(ps_scan_at(&sc)->posting.id, ++id);
    OK(ps_scan_close(&sc));
    assert_int_equal(id, 3);

    /* Values of name "a" (not of "ab"), one visit each. */
    pl = ps_pair_encode("a", 1, "", 0, pair, sizeof pair);
    ps_scan_open(&sc, &f->s, f->txn, PS_T_POSTINGS, PS_SCAN_END_AT_BAD, &f->err);
    ps_scan_seek(&sc, &(ps_rec){.posting = {pair, pl, 0}}, 1);
    static const char *const want_values[] = {"x", "x\x01", "y"};
    int n = 0;
    while (ps_scan_next(&sc)) {
        const ps_posting_rec *p = &ps_scan_at(&sc)->posting;
        assert_int_equal(ps_pair_decode(p->pair, p->pair_len, name, &nl, value, &vl),
                         (long)p->pair_len);
        assert_true(n < 3);
        assert_string_equal(name, "a");
        assert_int_equal(vl, strlen(want_values[n]));
        assert_memory_equal(value, want_values[n], vl);
        n++;
        ps_scan_skip(&sc, 2);
    }
    OK(ps_scan_close(&sc));
    assert_int_equal(n, 3);

    /* Distinct names: the all-series pair first (an empty name), then a, ab, b. */
    ps_scan_open(&sc, &f->s, f->txn, PS_T_POSTINGS, PS_SCAN_FAIL_BAD, &f->err);
    static const char *const want_names[] = {"", "a", "ab", "b"};
    n = 0;
    while (ps_scan_next(&sc)) {
        const ps_posting_rec *p = &ps_scan_at(&sc)->posting;
        long used = ps_pair_decode(p->pair, p->pair_len, name, &nl, NULL, NULL);
        assert_int_equal(used, (long)nl + 1); /* the name and its terminator */
        assert_true(n < 4);
        assert_string_equal(name, want_names[n++]);
        ps_scan_skip(&sc, 1);
    }
    OK(ps_scan_close(&sc));
    assert_int_equal(n, 4);
}

/* A bad entry: FAIL_BAD ends with CORRUPT, END_AT_BAD ends quietly, SHOW_BAD shows it. */
static void test_scan_errors(void **state)
{
    fx *f = *state;
    ps_schema *s = &f->s;
    ps_block_rec b0 = {0, 0, 1, 1, 1}, b2 = {2, 1, 1, 1, 1};
    OK(ps_block_put(s, f->txn, &b0, &f->err));
    OK(ps_block_put(s, f->txn, &b2, &f->err));
    /* Block 1 with a value of 5 bytes, planted under the schema. */
    uint8_t k[PS_BACKEND_MAX_KEY];
    size_t kl = ps_rec_key(PS_T_BLOCKS, &(ps_rec){.block = {.blk = 1}}, k);
    char want[64];
    snprintf(want, sizeof want, "blocks: record of %zu/5 bytes", kl);
    const char *why = want + strlen("blocks: ");
    OK(s->bm->put(f->txn, s->t[PS_T_BLOCKS], k, kl, "short", 5, &f->err));
    ps_scan sc;
    static const int modes[] = {PS_SCAN_FAIL_BAD, PS_SCAN_END_AT_BAD, PS_SCAN_SHOW_BAD};
    for (int m = 0; m < 3; m++) {
        f->err.message[0] = '\0';
        ps_scan_open(&sc, s, f->txn, PS_T_BLOCKS, modes[m], &f->err);
        int n = 0, shown = 0;
        while (ps_scan_next(&sc)) {
            n++;
            if (ps_scan_bad(&sc) != NULL) {
                shown++;
                assert_int_equal(ps_scan_bad(&sc)->what, PS_BAD_VALUE);
                assert_int_equal(ps_scan_at(&sc)->block.blk, 1);
                assert_non_null(strstr(ps_scan_bad(&sc)->why, why));
            }
        }
        promstore_status rc = ps_scan_close(&sc);
        if (modes[m] == PS_SCAN_FAIL_BAD) {
            assert_int_equal(n, 1);
            assert_int_equal(rc, PROMSTORE_E_CORRUPT);
            assert_non_null(strstr(f->err.message, want));
        } else if (modes[m] == PS_SCAN_END_AT_BAD) {
            assert_int_equal(n, 1);
            assert_int_equal(rc, PROMSTORE_OK);
        } else {
            assert_int_equal(n, 3);
            assert_int_equal(shown, 1);
            assert_int_equal(rc, PROMSTORE_OK);
        }
    }
    /* Deleting without a current entry is a misuse, reported by err() too. */
    ps_scan_open(&sc, s, f->txn, PS_T_BLOCKS, PS_SCAN_FAIL_BAD, &f->err);
    assert_int_equal(ps_scan_del(&sc), PROMSTORE_E_MISUSE);
    assert_int_equal(ps_scan_close(&sc), PROMSTORE_E_MISUSE);
    /* A scan that cannot open its cursor: every call is quiet, err() tells. */
    ps_scan_open_blk(&sc, s, f->txn, (ps_table)0x7fffffff, PS_SCAN_FAIL_BAD, &f->err);
    assert_int_not_equal(ps_scan_err(&sc), PROMSTORE_OK);
    ps_scan_seek(&sc, &(ps_rec){.chunk = {1, 0, 0, NULL, 0}}, 1);
    assert_int_equal(ps_scan_next(&sc), 0);
    assert_int_not_equal(ps_scan_close(&sc), PROMSTORE_OK);
}

/* The same store seen by a read transaction after commit, and a table lost to an abort. */
static void test_commit_and_read(void **state)
{
    fx *f = *state;
    ps_schema *s = &f->s;
    OK(ps_meta_init(s, f->txn, 1000, &f->err));
    ps_block_rec b = {5, 0, 1, 2, 3};
    OK(ps_block_put(s, f->txn, &b, &f->err));
    OK(ps_txn_commit(s, f->txn, &f->err));
    f->txn = NULL;
    ps_txn *r = NULL;
    OK(ps_txn_begin(s, 0, &r, &f->err));
    OK(ps_meta_format_check(s, r, &f->err));
    ps_block_rec got;
    OK(ps_block_get(s, r, 5, &got, &f->err));
    assert_int_equal(got.bytes, 3);
    ps_table t;
    assert_int_equal(ps_blk_table(s, r, 0, 0, &t, &f->err), PROMSTORE_E_NOT_FOUND);
    ps_txn_abort(s, r);
    ps_backend_space sp;
    OK(ps_schema_space(s, &sp, &f->err));
    assert_true(sp.file_bytes > 0);
    OK(ps_txn_begin(s, 1, &f->txn, &f->err)); /* for teardown */
}

int main(int argc, char **argv)
{
    g_backend = tu_backend_from_argv(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_head_encode),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_pair_order),
        cmocka_unit_test(test_cut_key),
        cmocka_unit_test_setup_teardown(test_typed_reads_and_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_postings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_and_read, setup, teardown),
    };
    char name[64];
    snprintf(name, sizeof name, "schema_%s", g_backend);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
