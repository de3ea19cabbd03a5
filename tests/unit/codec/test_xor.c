/*
 * test_xor.c -- the XOR chunk codec (plugin/codec/xor.c) against Prometheus:
 *
 *   - every test vector of docs/PROTOCOL.md section 3.4 encodes byte for
 *     byte and decodes to its samples, also in the v2 form (one trailing 00);
 *     two more hand-derived vectors pin sig=64 (written as 0) and the 64-bit
 *     dod bucket, and one pins the 10-byte varint of t0 = INT64_MIN;
 *   - NaN payloads, the stale marker above all, come back bit-exact;
 *   - random round trips (thousands of chunks: random walks, counters, gauges,
 *     random bits, special floats; timestamps near INT64_MIN/INT64_MAX, dods
 *     on every bucket edge, huge and wrapping jumps) compared byte for byte
 *     with a slow bit-at-a-time reference encoder written from the spec;
 *   - chunk_test.go's shape: a fresh appender every 10th sample, through
 *     save/load and through resume, gives the same bytes as one appender;
 *     iterators are reused;
 *   - the chunk-full rule with small caps (and the worst-case sample fitting
 *     exactly in an ASan-checked buffer) and the 65535-sample limit;
 *   - every truncation of valid chunks yields a correct prefix then -1, and
 *     random or bit-flipped input never crashes (run it under ASan/UBSan);
 *   - load rejects inconsistent states; ps_xor_num_samples.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xor.h"

#define STALE_NAN 0x7ff0000000000002ull
#define MAX_SERIES 320
#define BIG_CAP 8192

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: tiny, seedable and good enough to drive a codec. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

static size_t from_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n;
}

typedef struct series {
    size_t n;
    int64_t t[MAX_SERIES];
    uint64_t v[MAX_SERIES];
} series;

/* Encode with one uninterrupted appender; returns the chunk length. */
static size_t encode(const series *s, uint8_t *buf, size_t cap)
{
    ps_xor_appender a;
    ps_xor_appender_init(&a, buf, cap);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(ps_xor_append(&a, s->t[i], s->v[i]), 0);
    assert_int_equal(a.n, s->n);
    return a.len;
}

/* Decode buf[0..len) with `it` (reused by callers) and compare with s. */
static void assert_decodes_to(ps_xor_iter *it, const uint8_t *buf, size_t len, const series *s)
{
    int64_t t;
    uint64_t v;
    assert_int_equal(ps_xor_iter_init(it, buf, len), 0);
    assert_int_equal(ps_xor_num_samples(buf, len), (int)s->n);
    for (size_t i = 0; i < s->n; i++) {
        assert_int_equal(ps_xor_iter_next(it, &t, &v), 1);
        assert_int_equal(t, s->t[i]);
        assert_int_equal(v, s->v[i]);
    }
    assert_int_equal(ps_xor_iter_next(it, &t, &v), 0);
    assert_int_equal(ps_xor_iter_next(it, &t, &v), 0);
}

/* ---- reference encoder: one bit at a time, from docs/PROTOCOL.md 3.4 ---- */

typedef struct refw {
    uint8_t *b;
    size_t nbits;
} refw;

static void ref_bit(refw *w, unsigned bit)
{
    if (w->nbits % 8 == 0)
        w->b[w->nbits / 8] = 0;
    if (bit)
        w->b[w->nbits / 8] |= (uint8_t)(0x80u >> (w->nbits % 8));
    w->nbits++;
}

static void ref_bits(refw *w, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        ref_bit(w, (unsigned)(v >> i) & 1u);
}

static void ref_uvarint(refw *w, uint64_t x)
{
    do {
        uint64_t b = x & 0x7f;
        x >>= 7;
        ref_bits(w, x ? (b | 0x80) : b, 8);
    } while (x);
}

static unsigned ref_lz(uint64_t x)
{
    unsigned n = 0;
    while (n < 64 && !(x & (1ull << (63 - n))))
        n++;
    return n;
}

static unsigned ref_tz(uint64_t x)
{
    unsigned n = 0;
    while (n < 64 && !(x & (1ull << n)))
        n++;
    return n;
}

static void ref_dod(refw *w, int64_t dod, uint64_t udod)
{
    if (dod == 0) {
        ref_bit(w, 0);
    } else if (dod >= -8191 && dod <= 8192) {
        ref_bits(w, 2, 2);
        ref_bits(w, udod & 0x3fff, 14);
    } else if (dod >= -65535 && dod <= 65536) {
        ref_bits(w, 6, 3);
        ref_bits(w, udod & 0x1ffff, 17);
    } else if (dod >= -524287 && dod <= 524288) {
        ref_bits(w, 14, 4);
        ref_bits(w, udod & 0xfffff, 20);
    } else {
        ref_bits(w, 15, 4);
        ref_bits(w, udod, 64);
    }
}

static void ref_value(refw *w, uint64_t delta, unsigned *lead, unsigned *trail)
{
    if (delta == 0) {
        ref_bit(w, 0);
        return;
    }
    ref_bit(w, 1);
    unsigned lz = ref_lz(delta), tz = ref_tz(delta);
    if (lz >= 32)
        lz = 31;
    if (*lead != 0xff && lz >= *lead && tz >= *trail) {
        ref_bit(w, 0);
        ref_bits(w, delta >> *trail, (int)(64 - *lead - *trail));
        return;
    }
    ref_bit(w, 1);
    ref_bits(w, lz, 5);
    ref_bits(w, (64 - lz - tz) % 64, 6);
    ref_bits(w, delta >> tz, (int)(64 - lz - tz));
    *lead = lz;
    *trail = tz;
}

static size_t ref_encode(const series *s, uint8_t *out)
{
    refw w = {out, 0};
    unsigned lead = 0xff, trail = 0;
    uint64_t prev_delta = 0;

    ref_bits(&w, s->n, 16);
    for (size_t i = 0; i < s->n; i++) {
        if (i == 0) {
            int64_t t = s->t[0];
            ref_uvarint(&w, t < 0 ? ~((uint64_t)t << 1) : (uint64_t)t << 1);
            ref_bits(&w, s->v[0], 64);
            continue;
        }
        uint64_t delta = (uint64_t)s->t[i] - (uint64_t)s->t[i - 1];
        if (i == 1) {
            ref_uvarint(&w, delta);
        } else {
            uint64_t udod = delta - prev_delta;
            int64_t dod;
            memcpy(&dod, &udod, sizeof dod);
            ref_dod(&w, dod, udod);
        }
        prev_delta = delta;
        ref_value(&w, s->v[i] ^ s->v[i - 1], &lead, &trail);
    }
    return (w.nbits + 7) / 8;
}

/* ---- random series ------------------------------------------------------ */

enum { TS_KINDS = 7, VAL_KINDS = 8 };

static const int64_t k_edge_dods[] = {
    0, 1, -1, 8191, -8191, 8192, -8192, 8193, -8193, 65535, -65535, 65536, -65536,
    65537, -65537, 524287, -524287, 524288, -524288, 524289, -524289,
    INT64_MAX, INT64_MIN, INT64_MIN + 1, 1LL << 40, -(1LL << 40),
};

static const uint64_t k_specials[] = {
    0x0000000000000000ull, /* +0 */
    0x8000000000000000ull, /* -0 */
    0x7ff0000000000000ull, /* +Inf */
    0xfff0000000000000ull, /* -Inf */
    0x7ff8000000000001ull, /* Prometheus's NormalNaN */
    STALE_NAN,
    0x7ff8000000000000ull, /* quiet NaN */
    0xfff8000000000000ull, /* negative quiet NaN */
    0x7ff0000000000001ull, /* signalling NaN */
    0x7fffffffffffffffull,
    0xffffffffffffffffull,
    0x0000000000000001ull, /* smallest subnormal */
    0x000fffffffffffffull, /* largest subnormal */
    0x8000000000000001ull, /* negative subnormal */
    0x0010000000000000ull, /* DBL_MIN */
    0x7fefffffffffffffull, /* DBL_MAX */
    0x3ff0000000000000ull, /* 1.0 */
    0xbff0000000000000ull, /* -1.0 */
};
#define N_SPECIALS (sizeof k_specials / sizeof k_specials[0])

static uint64_t next_delta(uint64_t *rng, int kind, uint64_t prev_delta)
{
    switch (kind) {
    case 0: /* a steady scrape with a little jitter */
        return 15000 + rng_below(rng, 41) - 20;
    case 1: { /* jitter on every bucket's scale */
        uint64_t up = rng_next(rng) >> (63 - rng_below(rng, 22));
        uint64_t down = (uint64_t)1 << rng_below(rng, 21);
        return prev_delta + up - down;
    }
    case 2: /* dods exactly on the bucket edges */
        return prev_delta + (uint64_t)k_edge_dods[rng_below(rng, sizeof k_edge_dods / sizeof k_edge_dods[0])];
    case 3: /* anywhere at all: wraps and 64-bit dods */
        return rng_next(rng);
    case 4: /* repeated timestamps and occasional steps */
        return rng_below(rng, 4) == 0 ? rng_below(rng, 100000) : 0;
    default: /* regular, so the INT64_MIN/INT64_MAX starts stay in place */
        return 1000 + rng_below(rng, 3);
    }
}

static int64_t first_timestamp(uint64_t *rng, int kind, size_t n)
{
    switch (kind) {
    case 5: /* ends exactly at INT64_MAX */
        return INT64_MAX - (int64_t)(n ? n - 1 : 0) * 1002;
    case 6:
        return INT64_MIN + (int64_t)rng_below(rng, 3);
    case 3: {
        uint64_t u = rng_next(rng);
        int64_t t;
        memcpy(&t, &u, sizeof t);
        return t;
    }
    default:
        return 1700000000000LL + (int64_t)rng_below(rng, 1000000) - 500000;
    }
}

static uint64_t next_value(uint64_t *rng, int kind, uint64_t prev, size_t i)
{
    double d = tu_float(prev);
    switch (kind) {
    case 0: /* random walk */
        return tu_bits((i == 0 || !isfinite(d) ? 0.0 : d) +
                       ((double)rng_below(rng, 2001) - 1000.0) / 7.0);
    case 1: /* counter, resetting now and then */
        if (i == 0 || rng_below(rng, 100) == 0 || !isfinite(d))
            return tu_bits(0.0);
        return tu_bits(d + (double)rng_below(rng, 100));
    case 2: { /* gauge flipping among a few values */
        static const double vals[] = {0.0, 1.0, 0.5, 42.0, 1e-9, 3.25};
        return tu_bits(vals[rng_below(rng, 6)]);
    }
    case 3: /* random bit patterns */
        return rng_next(rng);
    case 4:
        return k_specials[rng_below(rng, N_SPECIALS)];
    case 5: /* a few changing bits inside a window: exercises window reuse */
        return prev ^ ((rng_next(rng) & 0xffff) << rng_below(rng, 48));
    case 6: /* mostly unchanged */
        return rng_below(rng, 5) == 0 ? rng_next(rng) : prev;
    default:
        return next_value(rng, (int)rng_below(rng, 7), prev, i);
    }
}

static void gen_series(series *s, uint64_t *rng, size_t n, int ts_kind, int val_kind)
{
    uint64_t delta = 0;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            s->t[0] = first_timestamp(rng, ts_kind, n);
        } else {
            delta = next_delta(rng, ts_kind, delta);
            uint64_t u = (uint64_t)s->t[i - 1] + delta;
            memcpy(&s->t[i], &u, sizeof u);
        }
        s->v[i] = next_value(rng, val_kind, i ? s->v[i - 1] : 0, i);
    }
}

/* ---- docs/PROTOCOL.md 3.4 vectors ---------------------------------------- */

typedef struct vector {
    const char *name;
    size_t n;
    int64_t t[11];
    uint64_t v[11];
    const char *hex;
} vector;

#define ONE 0x3ff0000000000000ull
static const vector k_vectors[] = {
    {"one sample", 1, {1000}, {ONE}, "0001d00f3ff0000000000000"},
    {"same value", 3, {1000, 2000, 3000}, {ONE, ONE, ONE}, "0003d00f3ff0000000000000e80700"},
    {"increasing",
     3,
     {1000, 2000, 3000},
     {ONE, 0x4000000000000000ull, 0x4008000000000000ull},
     "0003d00f3ff0000000000000e807c25fff6c06"},
    {"stale marker",
     3,
     {1000, 2000, 3000},
     {0x4045000000000000ull, STALE_NAN, 0x4045800000000000ull},
     "0003d00f4045000000000000e807c5eff6a0000000000057f6b0000000000040"},
    {"negative t",
     3,
     {-5000, -4000, -3000},
     {0xbff0000000000000ull, 0xbff0000000000000ull, 0xbff0000000000000ull},
     "00038f4ebff0000000000000e80700"},
    {"dod buckets",
     11,
     {0, 1000, 10192, 11193, 20387, 95117, 235384, 899939, 2088783, 3277627, 4458279},
     {0x3fe0000000000000ull, 0x3fe0000000000000ull, 0x3fe8000000000000ull,
      0x4059000000000000ull, 0x4059000000000000ull, 0xc004000000000000ull,
      0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000001ull,
      0x01a56e1fc2f8f359ull /* 1e-300 */, 0x7e37e43c8800759cull /* 1e300 */},
     "000b003fe0000000000000e80750006c07400384fff6384002d0000c08402ef08000d7fe9d000014000780"
     "00000000040000e00200200000000000053f2eb70fe17c79ac6f0004ff25144695f10d8a"},
    /* Hand-derived: v0=0, v1=0x8000000000000001 has lz=0, tz=0, so sig=64 is
     * written as 000000: 11 00000 000000, then 1, 62 zeros, 1. */
    {"sig 64", 2, {0, 1}, {0, 0x8000000000000001ull}, "000200000000000000000001c0040000000000000008"},
    /* Hand-derived: deltas 0 then 524289, so dod 524289 is one past the
     * 20-bit bucket: 0 (value), 1111 + 64 bits of 0x80001, 0 (value). */
    {"64-bit dod", 3, {0, 0, 524289}, {0, 0, 0}, "000300000000000000000000780000000000400008"},
    /* zig-zag(INT64_MIN) is all ones: nine ff then 01 (Go's 10-byte limit). */
    {"t0 INT64_MIN", 1, {INT64_MIN}, {ONE}, "0001ffffffffffffffffff013ff0000000000000"},
};
#define N_VECTORS (sizeof k_vectors / sizeof k_vectors[0])

static void vector_series(const vector *vec, series *s)
{
    s->n = vec->n;
    for (size_t i = 0; i < vec->n; i++) {
        s->t[i] = vec->t[i];
        s->v[i] = vec->v[i];
    }
}

static void test_vectors_encode(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_VECTORS; k++) {
        series s;
        uint8_t want[128], got[128], ref[128];
        vector_series(&k_vectors[k], &s);
        size_t want_len = from_hex(k_vectors[k].hex, want, sizeof want);
        memset(got, 0xaa, sizeof got);
        size_t len = encode(&s, got, sizeof got);
        printf("# vector %-14s %zu bytes\n", k_vectors[k].name, len);
        assert_int_equal(len, want_len);
        assert_memory_equal(got, want, len);
        assert_int_equal(ref_encode(&s, ref), want_len);
        assert_memory_equal(ref, want, want_len);
    }
}

static void test_vectors_decode(void **state)
{
    (void)state;
    ps_xor_iter it;
    for (size_t k = 0; k < N_VECTORS; k++) {
        series s;
        uint8_t buf[129];
        vector_series(&k_vectors[k], &s);
        size_t len = from_hex(k_vectors[k].hex, buf, sizeof buf - 1);
        assert_decodes_to(&it, buf, len, &s);
        /* The Prometheus 2 form: one spare zero byte at the end. */
        buf[len] = 0;
        assert_decodes_to(&it, buf, len + 1, &s);
    }
}

/* The spec says v2 adds the spare byte after one sample; check that case. */
static void test_vector_v2_one_sample(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t len = from_hex("0001d00f3ff000000000000000", buf, sizeof buf);
    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 1);
    assert_int_equal(t, 1000);
    assert_int_equal(v, ONE);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 0);
}

/* Resuming a v2-form chunk drops the spare byte and continues as v3 would. */
static void test_resume_v2_form(void **state)
{
    (void)state;
    const vector *inc = &k_vectors[2];
    uint8_t want[64], buf[64];
    size_t want_len = from_hex(inc->hex, want, sizeof want);

    /* "increasing" minus its last sample, encoded, then a spare 00 added. */
    series s;
    vector_series(inc, &s);
    s.n = 2;
    memset(buf, 0, sizeof buf);
    size_t len = encode(&s, buf, sizeof buf);
    buf[len] = 0;

    ps_xor_appender a;
    assert_int_equal(ps_xor_appender_resume(&a, buf, len + 1, sizeof buf), 0);
    assert_int_equal(a.len, len);
    assert_int_equal(ps_xor_append(&a, inc->t[2], inc->v[2]), 0);
    assert_int_equal(a.len, want_len);
    assert_memory_equal(buf, want, want_len);

    /* A non-zero byte after the last sample is not a v2 spare byte. */
    len = encode(&s, buf, sizeof buf);
    buf[len] = 0x01;
    assert_int_equal(ps_xor_appender_resume(&a, buf, len + 1, sizeof buf), -1);
    /* ... though the decoder, like Prometheus's, ignores trailing bytes. */
    ps_xor_iter it;
    assert_decodes_to(&it, buf, len + 1, &s);
}

/* ---- NaNs --------------------------------------------------------------- */

static void test_nan_payloads_bit_exact(void **state)
{
    (void)state;
    static const uint64_t nans[] = {
        STALE_NAN, 0x7ff8000000000001ull, 0x7ff8000000000000ull, 0xfff8000000000000ull,
        0x7ff0000000000001ull, 0x7fffffffffffffffull, 0xffffffffffffffffull,
        0x7ff4000000000000ull, 0xfff0000000000002ull, 0x7ff00000deadbeefull,
    };
    const size_t nn = sizeof nans / sizeof nans[0];
    uint8_t buf[BIG_CAP];
    ps_xor_iter it;
    series s;

    /* Each NaN alone, between ordinary values, and repeated. */
    for (size_t k = 0; k < nn; k++) {
        s.n = 5;
        uint64_t pattern[5] = {nans[k], tu_bits(1.5), nans[k], nans[k], tu_bits(-2.0)};
        for (size_t i = 0; i < 5; i++) {
            s.t[i] = 1000 * (int64_t)i;
            s.v[i] = pattern[i];
        }
        size_t len = encode(&s, buf, sizeof buf);
        assert_decodes_to(&it, buf, len, &s);
    }
    /* Every NaN after every other one. */
    s.n = 0;
    for (size_t a = 0; a < nn; a++) {
        for (size_t b = 0; b < nn; b++) {
            s.t[s.n] = 15000 * (int64_t)s.n;
            s.v[s.n++] = nans[(a + b * 3) % nn];
        }
    }
    size_t len = encode(&s, buf, sizeof buf);
    uint8_t ref[BIG_CAP];
    assert_int_equal(ref_encode(&s, ref), len);
    assert_memory_equal(buf, ref, len);
    assert_decodes_to(&it, buf, len, &s);
}

/* ---- random round trips -------------------------------------------------- */

static void test_random_round_trips(void **state)
{
    (void)state;
    static series s;
    static uint8_t buf[BIG_CAP], ref[BIG_CAP];
    uint64_t rng = 20240601;
    ps_xor_iter it;
    size_t chunks = 0, samples = 0, bytes = 0;

    for (int round = 0; round < 80; round++) {
        for (int tk = 0; tk < TS_KINDS; tk++) {
            for (int vk = 0; vk < VAL_KINDS; vk++) {
                size_t n = 1 + rng_below(&rng, round % 4 == 0 ? MAX_SERIES : 130);
                gen_series(&s, &rng, n, tk, vk);
                size_t len = encode(&s, buf, sizeof buf);
                assert_int_equal(ref_encode(&s, ref), len);
                assert_memory_equal(buf, ref, len);
                /* The same iterator decodes twice (chunk_test's reuse). */
                assert_decodes_to(&it, buf, len, &s);
                assert_decodes_to(&it, buf, len, &s);
                chunks++;
                samples += n;
                bytes += len;
            }
        }
    }
    printf("# %zu random chunks, %zu samples, %.2f bytes/sample\n", chunks, samples,
           (double)bytes / (double)samples);
    assert_int_equal(chunks, 80 * TS_KINDS * VAL_KINDS);
}

/* The extreme timestamps spelled out, not just reached at random. */
static void test_timestamp_extremes(void **state)
{
    (void)state;
    static const int64_t seqs[][4] = {
        {INT64_MIN, INT64_MIN + 1, INT64_MIN + 2, INT64_MAX},
        {INT64_MAX - 2, INT64_MAX - 1, INT64_MAX, INT64_MIN}, /* wraps, as Go does */
        {INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX},
        {0, INT64_MAX, INT64_MAX, INT64_MAX},
        {-1, 0, 1, 2},
        {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN},
    };
    uint8_t buf[256], ref[256];
    ps_xor_iter it;
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        series s;
        s.n = 4;
        for (size_t i = 0; i < 4; i++) {
            s.t[i] = seqs[k][i];
            s.v[i] = k_specials[(k + i) % N_SPECIALS];
        }
        size_t len = encode(&s, buf, sizeof buf);
        assert_int_equal(ref_encode(&s, ref), len);
        assert_memory_equal(buf, ref, len);
        assert_decodes_to(&it, buf, len, &s);
    }
}

/* ---- re-acquiring the appender (chunk_test.go) -------------------------- */

static void assert_same_state(const ps_xor_appender *a, const ps_xor_appender *b)
{
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->cap, b->cap);
    assert_int_equal(a->bits_free, b->bits_free);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->t, b->t);
    assert_int_equal(a->tdelta, b->tdelta);
    assert_int_equal(a->v, b->v);
    assert_int_equal(a->leading, b->leading);
    assert_int_equal(a->trailing, b->trailing);
}

static void reacquire_run(const series *s, int via_load)
{
    static uint8_t whole[BIG_CAP], stored[BIG_CAP], work[BIG_CAP];
    size_t whole_len = encode(s, whole, sizeof whole);
    ps_xor_appender a;
    uint8_t st[PS_XOR_STATE_BYTES];

    ps_xor_appender_init(&a, work, sizeof work);
    for (size_t i = 0; i < s->n; i++) {
        if (i % 10 == 0) {
            /* Store the bytes (and state) elsewhere, as the engine does, and
             * come back with a fresh appender over a different buffer. */
            ps_xor_appender_save(&a, st);
            size_t len = a.len;
            memcpy(stored, work, len);
            memset(work, 0x5a, sizeof work); /* junk past len must not matter */
            memcpy(work, stored, len);
            ps_xor_appender b;
            memset(&b, 0xcc, sizeof b);
            int rc = via_load ? ps_xor_appender_load(&b, work, len, sizeof work, st)
                              : ps_xor_appender_resume(&b, work, len, sizeof work);
            assert_int_equal(rc, 0);
            assert_ptr_equal(b.buf, work);
            assert_same_state(&b, &a);
            a = b;
        }
        assert_int_equal(ps_xor_append(&a, s->t[i], s->v[i]), 0);
        /* The count differs until the end; the bits so far must not. */
        assert_true(a.len <= whole_len);
        assert_int_equal(ps_xor_num_samples(work, a.len), (int)i + 1);
        if (a.len > 3)
            assert_memory_equal(work + 2, whole + 2, a.len - 3);
    }
    assert_int_equal(a.len, whole_len);
    assert_memory_equal(work, whole, whole_len);
}

static void test_reacquire_mid_chunk(void **state)
{
    (void)state;
    static series s;
    uint64_t rng = 7;
    ps_xor_iter it;
    for (int seed = 0; seed < 6; seed++) {
        for (int tk = 0; tk < TS_KINDS; tk++) {
            for (int vk = 0; vk < VAL_KINDS; vk++) {
                gen_series(&s, &rng, 300, tk, vk);
                reacquire_run(&s, 1);
                reacquire_run(&s, 0);
                static uint8_t buf[BIG_CAP];
                size_t len = encode(&s, buf, sizeof buf);
                assert_decodes_to(&it, buf, len, &s);
                assert_decodes_to(&it, buf, len, &s);
            }
        }
    }
}

/* Re-acquire after every single sample, for the first 40 samples. */
static void test_reacquire_every_sample(void **state)
{
    (void)state;
    static series s;
    uint64_t rng = 99;
    for (int vk = 0; vk < VAL_KINDS; vk++) {
        gen_series(&s, &rng, 40, 1, vk);
        uint8_t whole[1024], work[1024], st[PS_XOR_STATE_BYTES];
        size_t whole_len = encode(&s, whole, sizeof whole);
        ps_xor_appender a, b, c;
        ps_xor_appender_init(&a, work, sizeof work);
        for (size_t i = 0; i < s.n; i++) {
            ps_xor_appender_save(&a, st);
            assert_int_equal(ps_xor_appender_load(&b, work, a.len, sizeof work, st), 0);
            assert_same_state(&b, &a);
            assert_int_equal(ps_xor_appender_resume(&c, work, a.len, sizeof work), 0);
            assert_same_state(&c, &a);
            a = (i % 2) ? b : c;
            assert_int_equal(ps_xor_append(&a, s.t[i], s.v[i]), 0);
        }
        assert_int_equal(a.len, whole_len);
        assert_memory_equal(work, whole, whole_len);
    }
}

/* ---- limits ------------------------------------------------------------- */

static void test_chunk_full_small_cap(void **state)
{
    (void)state;
    static series s;
    uint64_t rng = 4242;
    ps_xor_iter it;

    for (size_t cap = 0; cap <= 120; cap++) {
        for (int vk = 0; vk < VAL_KINDS; vk++) {
            gen_series(&s, &rng, 200, (int)(cap % TS_KINDS), vk);
            uint8_t *buf = malloc(cap ? cap : 1); /* exact size: ASan sees overruns */
            assert_non_null(buf);
            ps_xor_appender a;
            ps_xor_appender_init(&a, buf, cap);
            size_t appended = 0;
            for (size_t i = 0; i < s.n; i++) {
                size_t before = a.len;
                uint8_t snap[128];
                if (cap >= 2)
                    memcpy(snap, buf, before);
                int rc = ps_xor_append(&a, s.t[i], s.v[i]);
                if (cap < 2) {
                    assert_int_equal(rc, -1);
                    break;
                }
                if (cap - before >= PS_XOR_MAX_SAMPLE_BYTES + 1) {
                    assert_int_equal(rc, 0);
                    assert_true(a.len <= cap);
                    appended++;
                    continue;
                }
                /* Full: -1, and neither the bytes nor the state changed. */
                assert_int_equal(rc, -1);
                assert_int_equal(a.len, before);
                assert_int_equal(a.n, appended);
                assert_memory_equal(buf, snap, before);
                break;
            }
            if (cap >= 2) {
                series got = s;
                got.n = appended;
                assert_decodes_to(&it, buf, a.len, &got);
                assert_int_equal(appended > 0, cap >= 2 + PS_XOR_MAX_SAMPLE_BYTES + 1);
            }
            free(buf);
        }
    }
}

/* The two largest samples fit when exactly PS_XOR_MAX_SAMPLE_BYTES + 1 bytes are left. */
static void test_worst_case_sample_fits(void **state)
{
    (void)state;
    ps_xor_appender a;
    ps_xor_iter it;
    series s = {.n = 0};

    /* Sample 1: a negative delta is a 10-byte uvarint; lz=0/tz=0 a 77-bit value. */
    size_t cap = 2 + 1 + 8 + PS_XOR_MAX_SAMPLE_BYTES + 1;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    ps_xor_appender_init(&a, buf, cap);
    assert_int_equal(ps_xor_append(&a, 0, 0), 0);
    assert_int_equal(cap - a.len, PS_XOR_MAX_SAMPLE_BYTES + 1);
    assert_int_equal(ps_xor_append(&a, -1, 0x8000000000000001ull), 0);
    assert_int_equal(a.len, cap); /* 80 + 77 bits: all 20 bytes used */
    s.n = 2;
    s.t[0] = 0, s.v[0] = 0, s.t[1] = -1, s.v[1] = 0x8000000000000001ull;
    assert_decodes_to(&it, buf, a.len, &s);
    free(buf);

    /* Sample n >= 2: a 64-bit dod plus a new 64-bit window (1+1+5+6+64 bits). */
    uint8_t pre[64];
    ps_xor_appender_init(&a, pre, sizeof pre);
    assert_int_equal(ps_xor_append(&a, 0, 0), 0);
    assert_int_equal(ps_xor_append(&a, 1, 1), 0); /* window lz=31 tz=0 */
    size_t len = a.len;
    size_t bits_before = len * 8 - a.bits_free;
    cap = len + PS_XOR_MAX_SAMPLE_BYTES + 1;
    buf = malloc(cap);
    assert_non_null(buf);
    memcpy(buf, pre, len);
    uint8_t st[PS_XOR_STATE_BYTES];
    ps_xor_appender_save(&a, st);
    assert_int_equal(ps_xor_appender_load(&a, buf, len, cap, st), 0);
    assert_int_equal(ps_xor_append(&a, INT64_MIN, 1 ^ 0x8000000000000001ull), 0);
    assert_true(a.len <= cap);
    assert_int_equal(a.len * 8 - a.bits_free - bits_before, 4 + 64 + 77);
    s.n = 3;
    s.t[1] = 1, s.v[1] = 1, s.t[2] = INT64_MIN, s.v[2] = 1 ^ 0x8000000000000001ull;
    assert_decodes_to(&it, buf, a.len, &s);
    /* And now the chunk is full. */
    assert_int_equal(ps_xor_append(&a, INT64_MIN, 0), -1);
    free(buf);
}

static void test_max_samples(void **state)
{
    (void)state;
    const size_t cap = 20000;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    ps_xor_appender a;
    ps_xor_appender_init(&a, buf, cap);
    for (unsigned i = 0; i < 65535; i++)
        assert_int_equal(ps_xor_append(&a, (int64_t)i * 1000, ONE), 0);
    assert_int_equal(a.n, 65535);
    assert_true(cap - a.len > PS_XOR_MAX_SAMPLE_BYTES + 1); /* room left, count full */
    size_t len = a.len;
    assert_int_equal(ps_xor_append(&a, 65535000, ONE), -1);
    assert_int_equal(a.len, len);
    assert_int_equal(buf[0], 0xff);
    assert_int_equal(buf[1], 0xff);
    assert_int_equal(ps_xor_num_samples(buf, len), 65535);
    /* 2 + 1 (t0) + 8 + 2 (delta) + 1 bit + 65533 * 2 bits. */
    assert_int_equal(len, 2 + 1 + 8 + 2 + (1 + 65533 * 2 + 7) / 8);

    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    unsigned got = 0;
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    while (ps_xor_iter_next(&it, &t, &v) == 1) {
        assert_int_equal(t, (int64_t)got * 1000);
        assert_int_equal(v, ONE);
        got++;
    }
    assert_int_equal(got, 65535);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 0);

    /* Re-acquired, the limit still holds. */
    ps_xor_appender b;
    uint8_t st[PS_XOR_STATE_BYTES];
    ps_xor_appender_save(&a, st);
    assert_int_equal(ps_xor_appender_load(&b, buf, len, cap, st), 0);
    assert_int_equal(ps_xor_append(&b, 65535000, ONE), -1);
    assert_int_equal(ps_xor_appender_resume(&b, buf, len, cap), 0);
    assert_int_equal(b.n, 65535);
    assert_int_equal(ps_xor_append(&b, 65535000, ONE), -1);
    free(buf);
}

/* ---- truncated and hostile input ------------------------------------------ */

/* Every proper prefix of a valid chunk gives a correct prefix of samples, then -1. */
static void check_truncations(const uint8_t *chunk, size_t len, const series *s)
{
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        assert_non_null(p);
        memcpy(p, chunk, cut);
        ps_xor_iter it;
        int64_t t;
        uint64_t v;
        if (cut < 2) {
            assert_int_equal(ps_xor_iter_init(&it, p, cut), -1);
            assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);
            assert_int_equal(ps_xor_num_samples(p, cut), -1);
        } else {
            assert_int_equal(ps_xor_iter_init(&it, p, cut), 0);
            size_t i = 0;
            int rc;
            while ((rc = ps_xor_iter_next(&it, &t, &v)) == 1) {
                assert_true(i < s->n);
                assert_int_equal(t, s->t[i]);
                assert_int_equal(v, s->v[i]);
                i++;
            }
            assert_int_equal(rc, -1);
            assert_true(i < s->n);
            assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);
        }
        ps_xor_appender a;
        assert_int_equal(ps_xor_appender_resume(&a, p, cut, cut), -1);
        free(p);
    }
}

static void test_truncation(void **state)
{
    (void)state;
    static series s;
    static uint8_t buf[BIG_CAP];
    for (size_t k = 0; k < N_VECTORS; k++) {
        vector_series(&k_vectors[k], &s);
        size_t len = from_hex(k_vectors[k].hex, buf, sizeof buf);
        check_truncations(buf, len, &s);
    }
    uint64_t rng = 31337;
    for (int round = 0; round < 3; round++) {
        for (int tk = 0; tk < TS_KINDS; tk++) {
            for (int vk = 0; vk < VAL_KINDS; vk++) {
                gen_series(&s, &rng, 1 + rng_below(&rng, 120), tk, vk);
                size_t len = encode(&s, buf, sizeof buf);
                check_truncations(buf, len, &s);
            }
        }
    }
}

/*
 * Decode hostile bytes: only 1, 0 or -1, never more samples than the header
 * promises, errors and ends sticky. If resume accepts the bytes, appending
 * must extend exactly what the decoder saw.
 */
static void poke_hostile(const uint8_t *src, size_t len, uint64_t *rng)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, src, len);
    static series seen;
    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    int rc = -1;
    seen.n = 0;
    if (ps_xor_iter_init(&it, p, len) == 0) {
        unsigned n = (unsigned)ps_xor_num_samples(p, len);
        while ((rc = ps_xor_iter_next(&it, &t, &v)) == 1) {
            assert_true(it.i <= n);
            if (seen.n < MAX_SERIES) {
                seen.t[seen.n] = t;
                seen.v[seen.n++] = v;
            }
        }
        assert_true(rc == 0 || rc == -1);
        assert_int_equal(ps_xor_iter_next(&it, &t, &v), rc);
        if (rc == 0)
            assert_int_equal(it.i, n);
    }
    assert_memory_equal(p, src, len); /* the decoder never writes */

    size_t cap = len + 3 * (PS_XOR_MAX_SAMPLE_BYTES + 1);
    uint8_t *w = malloc(cap);
    assert_non_null(w);
    memcpy(w, src, len);
    ps_xor_appender a;
    if (ps_xor_appender_resume(&a, w, len, cap) == 0) {
        assert_int_equal(rc, 0);
        while (seen.n < MAX_SERIES && a.n < 65535) {
            uint64_t ut = seen.n ? (uint64_t)seen.t[seen.n - 1] + rng_below(rng, 100000) : 0;
            int64_t nt;
            memcpy(&nt, &ut, sizeof nt);
            uint64_t nv = rng_next(rng);
            if (ps_xor_append(&a, nt, nv) != 0)
                break;
            assert_true(a.len <= cap);
            seen.t[seen.n] = nt;
            seen.v[seen.n++] = nv;
        }
        if (seen.n < MAX_SERIES)
            assert_decodes_to(&it, w, a.len, &seen);
    }
    free(w);
    free(p);
}

static void test_random_garbage(void **state)
{
    (void)state;
    uint64_t rng = 0xdecafbad;
    uint8_t buf[80];
    for (int round = 0; round < 30000; round++) {
        size_t len = rng_below(&rng, sizeof buf + 1);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng_next(&rng);
        /* Mostly small counts, so decoding goes deep rather than failing early. */
        if (len >= 2 && rng_below(&rng, 4) != 0) {
            buf[0] = 0;
            buf[1] = (uint8_t)rng_below(&rng, 20);
        }
        poke_hostile(buf, len, &rng);
    }
}

static void test_bit_flips(void **state)
{
    (void)state;
    static series s;
    static uint8_t chunk[BIG_CAP], bad[BIG_CAP];
    uint64_t rng = 0xf00d;
    for (int round = 0; round < 4000; round++) {
        gen_series(&s, &rng, 1 + rng_below(&rng, 40), (int)rng_below(&rng, TS_KINDS),
                   (int)rng_below(&rng, VAL_KINDS));
        size_t len = encode(&s, chunk, sizeof chunk);
        memcpy(bad, chunk, len);
        unsigned flips = 1 + (unsigned)rng_below(&rng, 3);
        for (unsigned f = 0; f < flips; f++) {
            size_t bit = rng_below(&rng, len * 8);
            bad[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        }
        poke_hostile(bad, len, &rng);
    }
}

/* Specific corruptions, each with its expected outcome. */
static void test_corrupt_chunks(void **state)
{
    (void)state;
    uint8_t buf[64];
    ps_xor_iter it;
    int64_t t;
    uint64_t v;

    /* The header promises more samples than there are. */
    size_t len = from_hex(k_vectors[2].hex, buf, sizeof buf);
    buf[1] = 4;
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ps_xor_iter_next(&it, &t, &v), 1);
        assert_int_equal(t, k_vectors[2].t[i]);
        assert_int_equal(v, k_vectors[2].v[i]);
    }
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);

    /* Varints longer than 10 bytes, or with a 10th byte above 1, overflow. */
    len = from_hex("0001ffffffffffffffffffff013ff0000000000000", buf, sizeof buf);
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);
    len = from_hex("0001ffffffffffffffffff023ff0000000000000", buf, sizeof buf);
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);
    /* A non-minimal varint is accepted, as Go's ReadVarint does: 0x80 0x00 = 0. */
    len = from_hex("000180003ff0000000000000", buf, sizeof buf);
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 1);
    assert_int_equal(t, 0);
    assert_int_equal(v, ONE);

    /* A new window with lz=31 and sig=63 claims 94 bits: corrupt. */
    len = from_hex("000200000000000000000001" "fffe" "0000000000000000000000", buf, sizeof buf);
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 1);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), -1);
    /* lz=1 and sig=63 is exactly 64: fine (tz=0). 11 00001 111111, 63 ones. */
    len = from_hex("000200000000000000000001" "c3ff" "fffffffffffffff0", buf, sizeof buf);
    assert_int_equal(ps_xor_iter_init(&it, buf, len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 1);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 1);
    assert_int_equal(t, 1);
    assert_int_equal(v, 0x7fffffffffffffffull);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 0);

    /* Non-zero padding is ignored by the decoder (as in Go) but not resumed. */
    len = from_hex(k_vectors[2].hex, buf, sizeof buf);
    buf[len - 1] |= 1;
    series s;
    vector_series(&k_vectors[2], &s);
    assert_decodes_to(&it, buf, len, &s);
    ps_xor_appender a;
    assert_int_equal(ps_xor_appender_resume(&a, buf, len, sizeof buf), -1);
    assert_int_equal(ps_xor_appender_resume(&a, buf, len, len - 1), -1); /* len > cap */
}

/* ---- save/load validation ------------------------------------------------ */

static int try_load(uint8_t *buf, size_t len, size_t cap, const uint8_t st[PS_XOR_STATE_BYTES])
{
    ps_xor_appender a;
    memset(&a, 0x77, sizeof a);
    ps_xor_appender before = a;
    int rc = ps_xor_appender_load(&a, buf, len, cap, st);
    if (rc != 0)
        assert_memory_equal(&a, &before, sizeof a); /* untouched on failure */
    return rc;
}

static void test_load_rejects_inconsistent_state(void **state)
{
    (void)state;
    uint8_t buf[256], st[PS_XOR_STATE_BYTES], bad[PS_XOR_STATE_BYTES];
    ps_xor_appender a;

    /* Find a chunk of several samples whose last byte is full with a 1 low bit,
     * so a claimed bits_free > 0 contradicts the bytes. */
    uint64_t rng = 5;
    do {
        ps_xor_appender_init(&a, buf, sizeof buf);
        for (int i = 0; i < 6; i++)
            assert_int_equal(ps_xor_append(&a, i * 1000 + (int64_t)rng_below(&rng, 50), rng_next(&rng)), 0);
    } while (a.bits_free != 0 || (buf[a.len - 1] & 1) == 0);
    ps_xor_appender_save(&a, st);
    assert_int_equal(try_load(buf, a.len, sizeof buf, st), 0);
    assert_int_equal(try_load(buf, a.len, a.len, st), 0);
    assert_int_equal(try_load(buf, a.len, a.len - 1, st), -1); /* len > cap */
    assert_int_equal(try_load(buf, 1, sizeof buf, st), -1);
    assert_int_equal(try_load(NULL, a.len, sizeof buf, st), -1);
    assert_int_equal(try_load(buf, 12, sizeof buf, st), -1); /* too short for 6 samples */

    memcpy(bad, st, sizeof bad);
    bad[0] ^= 1; /* count disagrees with the header */
    assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    memcpy(bad, st, sizeof bad);
    bad[2] |= 1; /* reserved bit */
    assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    memcpy(bad, st, sizeof bad);
    bad[1] |= 0x20; /* bits_free 1, but the last byte's low bit is set */
    assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    memcpy(bad, st, sizeof bad);
    bad[1] = (uint8_t)((bad[1] & 0xe0) | 0x10 | (31 >> 1)); /* leading 31 */
    bad[2] = (uint8_t)(0x80 | (40 << 1));                    /* trailing 40: 71 > 63 */
    assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    memcpy(bad, st, sizeof bad);
    bad[1] &= (uint8_t)~0x10; /* "no window" but leading/trailing bits set */
    if ((bad[1] & 0x0f) != 0 || (bad[2] & 0xfe) != 0)
        assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    /* A header count changed behind the state's back. */
    buf[1] ^= 1;
    assert_int_equal(try_load(buf, a.len, sizeof buf, st), -1);
    buf[1] ^= 1;

    /* One sample: the state must match the bytes exactly. */
    ps_xor_appender_init(&a, buf, sizeof buf);
    assert_int_equal(ps_xor_append(&a, 1000, ONE), 0);
    ps_xor_appender_save(&a, st);
    assert_int_equal(try_load(buf, a.len, sizeof buf, st), 0);
    assert_int_equal(try_load(buf, a.len + 1, sizeof buf, st), -1);
    for (size_t off = 3; off < PS_XOR_STATE_BYTES; off++) {
        memcpy(bad, st, sizeof bad);
        bad[off] ^= 0x04; /* t, tdelta or v differs from the chunk */
        assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    }
    memcpy(bad, st, sizeof bad);
    bad[1] |= 0x20; /* bits_free must be 0 after sample 0 */
    assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);
    memcpy(bad, st, sizeof bad);
    bad[1] |= 0x10; /* no window exists yet */
    assert_int_equal(try_load(buf, a.len, sizeof buf, bad), -1);

    /* Empty chunk: only the initial state fits. */
    ps_xor_appender_init(&a, buf, sizeof buf);
    ps_xor_appender_save(&a, st);
    assert_int_equal(try_load(buf, 2, sizeof buf, st), 0);
    assert_int_equal(try_load(buf, 3, sizeof buf, st), -1);
    memcpy(bad, st, sizeof bad);
    bad[10] = 1;
    assert_int_equal(try_load(buf, 2, sizeof buf, bad), -1);
    assert_int_equal(try_load(buf, 2, 1, st), -1);

    /* Random states never crash; whatever loads appends within cap. */
    ps_xor_appender_init(&a, buf, sizeof buf);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ps_xor_append(&a, i * 15000, tu_bits(i * 0.5)), 0);
    size_t len = a.len;
    ps_xor_appender_save(&a, st);
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(bad, st, sizeof bad);
        size_t k = 1 + rng_below(&rng, 4);
        for (size_t j = 0; j < k; j++)
            bad[rng_below(&rng, sizeof bad)] ^= (uint8_t)(1u << rng_below(&rng, 8));
        uint8_t *w = malloc(len + PS_XOR_MAX_SAMPLE_BYTES + 1);
        assert_non_null(w);
        memcpy(w, buf, len);
        ps_xor_appender b;
        if (ps_xor_appender_load(&b, w, len, len + PS_XOR_MAX_SAMPLE_BYTES + 1, bad) == 0) {
            accepted++;
            assert_int_equal(ps_xor_append(&b, rng_next(&rng), rng_next(&rng)), 0);
            assert_true(b.len <= len + PS_XOR_MAX_SAMPLE_BYTES + 1);
            assert_int_equal(ps_xor_append(&b, 0, 0), -1);
        }
        free(w);
    }
    printf("# %d of 20000 corrupted states were plausible enough to load\n", accepted);
}

static void test_state_layout_size(void **state)
{
    (void)state;
    uint8_t buf[64], st[PS_XOR_STATE_BYTES + 4];
    ps_xor_appender a;
    ps_xor_appender_init(&a, buf, sizeof buf);
    assert_int_equal(ps_xor_append(&a, 1, 2), 0);
    assert_int_equal(ps_xor_append(&a, 3, 4), 0);
    memset(st, 0xee, sizeof st);
    ps_xor_appender_save(&a, st);
    for (size_t i = PS_XOR_STATE_BYTES; i < sizeof st; i++)
        assert_int_equal(st[i], 0xee); /* writes exactly 27 bytes */
    assert_int_equal(st[0], 2);
}

static void test_num_samples(void **state)
{
    (void)state;
    uint8_t b[3] = {0x01, 0x02, 0x00};
    assert_int_equal(ps_xor_num_samples(b, 0), -1);
    assert_int_equal(ps_xor_num_samples(b, 1), -1);
    assert_int_equal(ps_xor_num_samples(NULL, 2), -1);
    assert_int_equal(ps_xor_num_samples(b, 2), 258);
    assert_int_equal(ps_xor_num_samples(b, 3), 258);
    b[0] = 0xff, b[1] = 0xff;
    assert_int_equal(ps_xor_num_samples(b, 2), 65535);

    /* An empty chunk: 2 bytes, no samples; the iterator ends at once. */
    uint8_t buf[8];
    ps_xor_appender a;
    ps_xor_appender_init(&a, buf, sizeof buf);
    assert_int_equal(a.len, 2);
    assert_int_equal(ps_xor_num_samples(buf, a.len), 0);
    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    assert_int_equal(ps_xor_iter_init(&it, buf, a.len), 0);
    assert_int_equal(ps_xor_iter_next(&it, &t, &v), 0);
    /* 8 bytes are below the 20 an append needs. */
    assert_int_equal(ps_xor_append(&a, 0, 0), -1);
    assert_int_equal(ps_xor_num_samples(buf, a.len), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_encode),
        cmocka_unit_test(test_vectors_decode),
        cmocka_unit_test(test_vector_v2_one_sample),
        cmocka_unit_test(test_resume_v2_form),
        cmocka_unit_test(test_nan_payloads_bit_exact),
        cmocka_unit_test(test_random_round_trips),
        cmocka_unit_test(test_timestamp_extremes),
        cmocka_unit_test(test_reacquire_mid_chunk),
        cmocka_unit_test(test_reacquire_every_sample),
        cmocka_unit_test(test_chunk_full_small_cap),
        cmocka_unit_test(test_worst_case_sample_fits),
        cmocka_unit_test(test_max_samples),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_corrupt_chunks),
        cmocka_unit_test(test_load_rejects_inconsistent_state),
        cmocka_unit_test(test_state_layout_size),
        cmocka_unit_test(test_num_samples),
    };
    return cmocka_run_group_tests_name("xor", tests, NULL, NULL);
}
