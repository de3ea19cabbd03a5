/*
 * xor.c -- the Prometheus XOR (Gorilla) chunk codec, byte for byte the same as
 * tsdb/chunkenc/xor.go and bstream.go (see xor.h for the layout and
 * docs/PROTOCOL.md section 3.4 for the bit-level rules and test vectors).
 *
 * Design notes.
 *
 * Writing: the appender keeps the chunk complete after every append, so the
 * "bit stream" is simply buf[0..len) plus bits_free, the number of unused
 * (always zero) low bits of buf[len-1]. put_bits() ORs the head of a field
 * into that partial byte and stores the rest a whole byte at a time; control
 * bits are merged with their payload so that a typical sample is two or three
 * put_bits() calls, none of them looping per bit.
 *
 * Reading: the iterator never writes to its input (chunks are read straight
 * out of a read-only mmap). Every read first checks that the bits exist, then
 * takes them from one big-endian 64-bit window loaded at the current byte;
 * bytes past the end read as zero in that window but are never consumed, so
 * a truncated chunk fails cleanly instead of reading out of bounds.
 *
 * Arithmetic: Go computes timestamp deltas with wrapping int64 arithmetic. C
 * signed overflow is undefined, so deltas and delta-of-deltas are computed in
 * uint64_t and only reinterpreted as int64_t (via memcpy, which is exact) to
 * pick a bucket. Values are only ever handled as raw uint64_t bit patterns.
 *
 * Deliberate difference from Go: a new XOR window whose leading-zero count
 * plus significant-bit count exceeds 64 cannot come from any encoder; Go
 * decodes it into a meaningless window (its uint8 trailing count wraps), we
 * report the chunk as corrupt.
 */
#include "xor.h"

#include <string.h>

#define HEADER_BYTES 2
#define MAX_SAMPLES 65535u
/* Encoder sentinel: no XOR window has been written yet. */
#define NO_WINDOW 0xffu
/* Go's binary.MaxVarintLen64. */
#define MAX_VARINT_BYTES 10

/* ---- small helpers ---------------------------------------------------- */

/* uint64 -> int64 as Go's int64(x) does (two's complement), without C's
 * implementation-defined conversion. */
static int64_t as_i64(uint64_t u)
{
    int64_t s;
    memcpy(&s, &u, sizeof s);
    return s;
}

static uint64_t load_be64(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

static void store_be64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)x;
        x >>= 8;
    }
}

static void put_count(uint8_t *buf, uint16_t n)
{
    buf[0] = (uint8_t)(n >> 8);
    buf[1] = (uint8_t)n;
}

static unsigned header_count(const uint8_t *buf)
{
    return (unsigned)buf[0] << 8 | buf[1];
}

/* Go's bitRange: the asymmetric range -(2^(n-1)-1) <= x <= 2^(n-1). */
static int in_bit_range(int64_t x, unsigned nbits)
{
    int64_t half = (int64_t)1 << (nbits - 1);
    return -(half - 1) <= x && x <= half;
}

/* ---- encoder ---------------------------------------------------------- */

/*
 * Append the low nbits (1..64) of v, most significant first. v must have no
 * bits above nbits. The caller has checked that the bytes exist.
 */
static void put_bits(ps_xor_appender *a, uint64_t v, unsigned nbits)
{
    uint8_t *p = a->buf + a->len;
    unsigned avail = a->bits_free;

    if (avail != 0) {
        if (nbits <= avail) {
            p[-1] |= (uint8_t)(v << (avail - nbits));
            a->bits_free = (uint8_t)(avail - nbits);
            return;
        }
        nbits -= avail;
        p[-1] |= (uint8_t)(v >> nbits);
    }
    while (nbits >= 8) {
        nbits -= 8;
        *p++ = (uint8_t)(v >> nbits);
    }
    a->bits_free = 0;
    if (nbits != 0) {
        *p++ = (uint8_t)(v << (8 - nbits));
        a->bits_free = (uint8_t)(8 - nbits);
    }
    a->len = (size_t)(p - a->buf);
}

/* Go's PutUvarint, written through the bit stream like bstream.writeByte. */
static void put_uvarint(ps_xor_appender *a, uint64_t x)
{
    while (x >= 0x80) {
        put_bits(a, (x & 0x7f) | 0x80, 8);
        x >>= 7;
    }
    put_bits(a, x, 8);
}

static void put_dod(ps_xor_appender *a, uint64_t udod)
{
    int64_t dod = as_i64(udod);

    /* Gorilla has a resolution of seconds, Prometheus milliseconds, hence
     * Prometheus's wider buckets (14/17/20 bits) than the paper's. */
    if (dod == 0)
        put_bits(a, 0, 1);
    else if (in_bit_range(dod, 14))
        put_bits(a, (uint64_t)0x2 << 14 | (udod & 0x3fff), 16);
    else if (in_bit_range(dod, 17))
        put_bits(a, (uint64_t)0x6 << 17 | (udod & 0x1ffff), 20);
    else if (in_bit_range(dod, 20))
        put_bits(a, (uint64_t)0xe << 20 | (udod & 0xfffff), 24);
    else {
        put_bits(a, 0xf, 4);
        put_bits(a, udod, 64);
    }
}

static void put_timestamp(ps_xor_appender *a, int64_t t)
{
    uint64_t delta = (uint64_t)t - (uint64_t)a->t;

    if (a->n == 1)
        put_uvarint(a, delta);
    else
        put_dod(a, delta - (uint64_t)a->tdelta);
    a->t = t;
    a->tdelta = as_i64(delta);
}

/* Control bits and payload in one call when they fit in 64 bits. */
static void put_ctl_payload(ps_xor_appender *a, uint64_t ctl, unsigned ctl_bits,
                            uint64_t payload, unsigned nbits)
{
    if (ctl_bits + nbits <= 64) {
        put_bits(a, ctl << nbits | payload, ctl_bits + nbits);
    } else {
        put_bits(a, ctl, ctl_bits);
        put_bits(a, payload, nbits);
    }
}

static void put_value(ps_xor_appender *a, uint64_t v)
{
    uint64_t delta = v ^ a->v;

    a->v = v;
    if (delta == 0) {
        put_bits(a, 0, 1);
        return;
    }
    unsigned lz = (unsigned)__builtin_clzll(delta);
    unsigned tz = (unsigned)__builtin_ctzll(delta);
    /* Only 5 bits hold the leading count; Prometheus clamps rather than
     * widening the field, wasting a few bits on tiny deltas. */
    if (lz > 31)
        lz = 31;
    if (a->leading != NO_WINDOW && lz >= a->leading && tz >= a->trailing) {
        unsigned sig = 64u - a->leading - a->trailing;
        put_ctl_payload(a, 0x2, 2, delta >> a->trailing, sig);
        return;
    }
    unsigned sig = 64u - lz - tz;
    /* sig is 1..64 but has 6 bits: 64 is written as 0 and read back as 64. */
    uint64_t ctl = (uint64_t)0x3 << 11 | (uint64_t)lz << 6 | (sig & 63u);
    put_ctl_payload(a, ctl, 13, delta >> tz, sig);
    a->leading = (uint8_t)lz;
    a->trailing = (uint8_t)tz;
}

static void put_first(ps_xor_appender *a, int64_t t, uint64_t v)
{
    uint64_t u = (uint64_t)t;

    put_uvarint(a, u << 1 ^ (0 - (u >> 63))); /* zig-zag, as binary.PutVarint */
    put_bits(a, v, 64);
    a->t = t;
    a->tdelta = 0;
    a->v = v;
}

void ps_xor_appender_init(ps_xor_appender *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->leading = NO_WINDOW;
    if (buf == NULL || cap < HEADER_BYTES)
        return; /* cap 0: every append fails instead of writing out of bounds */
    a->buf = buf;
    a->cap = cap;
    a->len = HEADER_BYTES;
    put_count(buf, 0);
}

int ps_xor_append(ps_xor_appender *a, int64_t t, uint64_t v)
{
    /* The +1 keeps room for the worst case of sample 1: a 10-byte uvarint
     * delta plus a 77-bit value is 157 bits, i.e. 20 whole bytes. */
    if (a->buf == NULL || a->len > a->cap ||
        a->cap - a->len < PS_XOR_MAX_SAMPLE_BYTES + 1 || a->n >= MAX_SAMPLES)
        return -1;
    if (a->n == 0) {
        put_first(a, t, v);
    } else {
        put_timestamp(a, t);
        put_value(a, v);
    }
    a->n++;
    put_count(a->buf, a->n);
    return 0;
}

/* ---- decoder ---------------------------------------------------------- */

/* Bits left to read; capped, since callers never need more than 64. */
static size_t bits_left(const ps_xor_iter *it)
{
    size_t bytes = it->len - (it->bitpos >> 3);

    if (bytes > 16)
        return 128;
    return bytes * 8 - (it->bitpos & 7);
}

/*
 * The next bits, left-aligned: at least 57 of them are meaningful. Bytes past
 * the end read as zero; callers check bits_left() before consuming.
 */
static uint64_t peek(const ps_xor_iter *it)
{
    size_t byte = it->bitpos >> 3;
    size_t bytes = it->len - byte;
    uint64_t w = 0;

    if (bytes >= 8) {
        w = load_be64(it->buf + byte);
    } else {
        for (size_t i = 0; i < bytes; i++)
            w |= (uint64_t)it->buf[byte + i] << (56 - 8 * i);
    }
    return w << (it->bitpos & 7);
}

/* Read nbits (1..64) into *out. -1 if the chunk ends first. */
static int read_bits(ps_xor_iter *it, unsigned nbits, uint64_t *out)
{
    if (bits_left(it) < nbits)
        return -1;
    if (nbits <= 56) {
        *out = peek(it) >> (64 - nbits);
        it->bitpos += nbits;
        return 0;
    }
    uint64_t hi = peek(it) >> 32;
    it->bitpos += 32;
    nbits -= 32;
    uint64_t lo = peek(it) >> (64 - nbits);
    it->bitpos += nbits;
    *out = hi << nbits | lo;
    return 0;
}

/* Go's binary.ReadUvarint over the bit stream, overflow rules included. */
static int read_uvarint(ps_xor_iter *it, uint64_t *out)
{
    uint64_t x = 0;

    for (unsigned i = 0; i < MAX_VARINT_BYTES; i++) {
        uint64_t b;
        if (read_bits(it, 8, &b) != 0)
            return -1;
        if (b < 0x80) {
            if (i == MAX_VARINT_BYTES - 1 && b > 1)
                return -1;
            *out = x | b << (7 * i);
            return 0;
        }
        x |= (b & 0x7f) << (7 * i);
    }
    return -1;
}

static int read_first(ps_xor_iter *it)
{
    uint64_t zz, v;

    if (read_uvarint(it, &zz) != 0 || read_bits(it, 64, &v) != 0)
        return -1;
    it->t = as_i64(zz >> 1 ^ (0 - (zz & 1)));
    it->v = v;
    return 0;
}

static int read_dod(ps_xor_iter *it, uint64_t *dod)
{
    uint64_t w = peek(it);
    unsigned ones = (w >> 60) == 0xf ? 4u : (unsigned)__builtin_clzll(~w);
    unsigned ctl = ones < 4 ? ones + 1 : 4;
    static const unsigned widths[5] = {0, 14, 17, 20, 64};

    if (bits_left(it) < ctl)
        return -1;
    it->bitpos += ctl;
    *dod = 0;
    if (ones == 0)
        return 0;
    unsigned sz = widths[ones];
    uint64_t bits;
    if (read_bits(it, sz, &bits) != 0)
        return -1;
    /* Negative dods come back as large unsigned numbers (tsdb/docs/bstream.md). */
    if (sz < 64 && bits > (uint64_t)1 << (sz - 1))
        bits -= (uint64_t)1 << sz;
    *dod = bits;
    return 0;
}

static int read_timestamp(ps_xor_iter *it)
{
    uint64_t delta;

    if (it->i == 1) {
        if (read_uvarint(it, &delta) != 0)
            return -1;
    } else {
        uint64_t dod;
        if (read_dod(it, &dod) != 0)
            return -1;
        delta = (uint64_t)it->tdelta + dod;
    }
    it->tdelta = as_i64(delta);
    it->t = as_i64((uint64_t)it->t + delta);
    return 0;
}

/* *new_window is set to 1 when the sample wrote a new XOR window. */
static int read_value(ps_xor_iter *it, int *new_window)
{
    uint64_t w = peek(it);
    size_t left = bits_left(it);

    if (left < 1)
        return -1;
    if ((w >> 63) == 0) {
        it->bitpos += 1;
        return 0;
    }
    if (left < 2)
        return -1;
    if (((w >> 62) & 1) == 0) {
        it->bitpos += 2;
    } else {
        if (left < 13)
            return -1;
        unsigned lz = (unsigned)(w >> 57) & 31u;
        unsigned sig = (unsigned)(w >> 51) & 63u;
        if (sig == 0)
            sig = 64;
        if (lz + sig > 64)
            return -1;
        it->leading = (uint8_t)lz;
        it->trailing = (uint8_t)(64 - lz - sig);
        it->bitpos += 13;
        *new_window = 1;
    }
    uint64_t bits;
    if (read_bits(it, 64u - it->leading - it->trailing, &bits) != 0)
        return -1;
    it->v ^= bits << it->trailing;
    return 0;
}

/* Decode sample it->i into it->t/it->v; the caller advances it->i. */
static int read_sample(ps_xor_iter *it, int *new_window)
{
    if (it->i == 0)
        return read_first(it);
    if (read_timestamp(it) != 0)
        return -1;
    return read_value(it, new_window);
}

int ps_xor_iter_init(ps_xor_iter *it, const uint8_t *buf, size_t len)
{
    memset(it, 0, sizeof *it);
    if (buf == NULL || len < HEADER_BYTES) {
        it->failed = 1;
        return -1;
    }
    it->buf = buf;
    it->len = len;
    it->bitpos = HEADER_BYTES * 8;
    it->n = (uint16_t)header_count(buf);
    return 0;
}

int ps_xor_iter_next(ps_xor_iter *it, int64_t *t, uint64_t *v)
{
    int new_window = 0;

    if (it->failed)
        return -1;
    if (it->i >= it->n)
        return 0;
    if (read_sample(it, &new_window) != 0) {
        it->failed = 1;
        return -1;
    }
    it->i++;
    if (t != NULL)
        *t = it->t;
    if (v != NULL)
        *v = it->v;
    return 1;
}

int ps_xor_num_samples(const uint8_t *buf, size_t len)
{
    if (buf == NULL || len < HEADER_BYTES)
        return -1;
    return (int)header_count(buf);
}

/* ---- re-acquiring an appender ----------------------------------------- */

/*
 * Saved state, PS_XOR_STATE_BYTES = 27 bytes, big-endian:
 *
 *   [0]      n & 0xff: a check only; the chunk header holds the real count
 *   [1..2]   16 bits: bits_free (15..13), has_window (12), leading (11..7),
 *            trailing (6..1), reserved 0 (0)
 *   [3..10]  t
 *   [11..18] tdelta
 *   [19..26] v
 *
 * The full count does not fit next to the three 64-bit fields, and storing it
 * twice would only invite disagreement, so the chunk's own count is used and
 * its low byte checked. Without a window, leading/trailing are stored as 0.
 */
#define ST_FREE_SHIFT 13
#define ST_HAS_WINDOW 0x1000u
#define ST_LEAD_SHIFT 7
#define ST_TRAIL_SHIFT 1

void ps_xor_appender_save(const ps_xor_appender *a, uint8_t out[PS_XOR_STATE_BYTES])
{
    unsigned packed = (unsigned)(a->bits_free & 7u) << ST_FREE_SHIFT;

    if (a->leading != NO_WINDOW) {
        packed |= ST_HAS_WINDOW;
        packed |= (unsigned)(a->leading & 31u) << ST_LEAD_SHIFT;
        packed |= (unsigned)(a->trailing & 63u) << ST_TRAIL_SHIFT;
    }
    out[0] = (uint8_t)a->n;
    out[1] = (uint8_t)(packed >> 8);
    out[2] = (uint8_t)packed;
    store_be64(out + 3, (uint64_t)a->t);
    store_be64(out + 11, (uint64_t)a->tdelta);
    store_be64(out + 19, a->v);
}

/* Fewest bits n samples can take: header, 1-byte t0, v0, 1-byte delta and a
 * 1-bit value for sample 1, then 2 bits (dod 0, value unchanged) each. */
static uint64_t min_chunk_bits(unsigned n)
{
    if (n == 0)
        return HEADER_BYTES * 8;
    if (n == 1)
        return HEADER_BYTES * 8 + 8 + 64;
    return HEADER_BYTES * 8 + 8 + 64 + 8 + 1 + 2 * (uint64_t)(n - 2);
}

/* A count of 0 or 1 pins most of the state; check it against the bytes. */
static int check_short_chunk(const ps_xor_appender *s)
{
    if (s->bits_free != 0 || s->leading != NO_WINDOW || s->tdelta != 0)
        return -1;
    if (s->n == 0)
        return s->len == HEADER_BYTES && s->t == 0 && s->v == 0 ? 0 : -1;

    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    if (ps_xor_iter_init(&it, s->buf, s->len) != 0 || ps_xor_iter_next(&it, &t, &v) != 1)
        return -1;
    return t == s->t && v == s->v && it.bitpos == (uint64_t)s->len * 8 ? 0 : -1;
}

static int check_loaded(const ps_xor_appender *s)
{
    if (s->n < 2)
        return check_short_chunk(s);
    if ((uint64_t)s->len * 8 - s->bits_free < min_chunk_bits(s->n))
        return -1;
    /* New bits are ORed into the partial last byte, so its padding must be 0. */
    if (s->buf[s->len - 1] & ((1u << s->bits_free) - 1))
        return -1;
    if (s->leading != NO_WINDOW && s->leading + s->trailing > 63)
        return -1;
    return 0;
}

int ps_xor_appender_load(ps_xor_appender *a, uint8_t *buf, size_t len, size_t cap,
                         const uint8_t state[PS_XOR_STATE_BYTES])
{
    if (buf == NULL || len < HEADER_BYTES || len > cap)
        return -1;

    unsigned n = header_count(buf);
    unsigned packed = (unsigned)state[1] << 8 | state[2];
    if (state[0] != (uint8_t)n || (packed & 1u) != 0)
        return -1;

    ps_xor_appender s;
    memset(&s, 0, sizeof s);
    s.buf = buf;
    s.cap = cap;
    s.len = len;
    s.n = (uint16_t)n;
    s.bits_free = (uint8_t)(packed >> ST_FREE_SHIFT);
    s.leading = NO_WINDOW;
    if (packed & ST_HAS_WINDOW) {
        s.leading = (uint8_t)((packed >> ST_LEAD_SHIFT) & 31u);
        s.trailing = (uint8_t)((packed >> ST_TRAIL_SHIFT) & 63u);
    } else if ((packed & 0x0ffeu) != 0) {
        return -1;
    }
    s.t = as_i64(load_be64(state + 3));
    s.tdelta = as_i64(load_be64(state + 11));
    s.v = load_be64(state + 19);
    if (check_loaded(&s) != 0)
        return -1;
    *a = s;
    return 0;
}

int ps_xor_appender_resume(ps_xor_appender *a, uint8_t *buf, size_t len, size_t cap)
{
    ps_xor_iter it;
    int window = 0;

    if (len > cap || ps_xor_iter_init(&it, buf, len) != 0)
        return -1;
    for (; it.i < it.n; it.i++) {
        if (read_sample(&it, &window) != 0)
            return -1;
    }

    /* Appending continues right after the last sample, ORing into its byte:
     * the padding must be zero, and so must anything after it (a v2 chunk's
     * spare byte), else we would splice into bytes we do not understand. */
    size_t used = (it.bitpos + 7) / 8;
    unsigned pad = (unsigned)(used * 8 - it.bitpos);
    if (buf[used - 1] & ((1u << pad) - 1))
        return -1;
    for (size_t i = used; i < len; i++) {
        if (buf[i] != 0)
            return -1;
    }

    memset(a, 0, sizeof *a);
    a->buf = buf;
    a->cap = cap;
    a->len = used;
    a->bits_free = (uint8_t)pad;
    a->n = it.n;
    a->t = it.t;
    a->tdelta = it.tdelta;
    a->v = it.v;
    /* The decoder starts from a 0/0 window, the encoder from "none": only a
     * window actually written in the chunk carries over. */
    a->leading = window ? it.leading : NO_WINDOW;
    a->trailing = window ? it.trailing : 0;
    return 0;
}
