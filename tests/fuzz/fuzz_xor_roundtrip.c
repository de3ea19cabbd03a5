/*
 * fuzz_xor_roundtrip -- round trip and determinism of the XOR chunk codec
 * (as zstd's simple_round_trip): the input is read as a list of samples,
 * encoded, encoded again, decoded, and compared bit for bit.
 *
 * Input: byte 0 sets the size of a deliberately small buffer; bytes 1..8
 * are t0 (little-endian); then per sample a control byte, its low 3 bits
 * choosing the timestamp delta (same delta again, 1..4 or 8 bytes, zero, or
 * the last delta plus a signed byte), its next 3 bits the value (same,
 * 8 raw bytes, a one- or two-byte XOR with a shift, a special value such as
 * the stale marker, a small integer, a new high or low half), each followed
 * by the bytes it reads. Timestamps never decrease (the engine's guarantee),
 * and stop at INT64_MAX.
 * Checks:
 *   - encoding twice gives the same bytes; decoding gives back every sample
 *     bit for bit, then ends cleanly;
 *   - ps_xor_appender_resume() on the bytes gives the same saved state as
 *     the encoder's, and so does save() -> load();
 *   - re-acquiring the appender mid-chunk (by load and by resume) and
 *     appending the rest gives the same bytes;
 *   - into a buffer too small for all of it, appends fail cleanly (ASan
 *     watches the bounds) and what was written decodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "xor.h"

#define MAX_SAMPLES 70000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

typedef struct reader {
    const uint8_t *p;
    size_t n, pos;
} reader;

static uint64_t take(reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)(r->pos < r->n ? r->p[r->pos++] : 0) << (8 * i);
    return v;
}

static const uint64_t g_special[] = {
    0x7ff0000000000002u, /* stale marker */
    0x7ff8000000000001u, /* Prometheus's NaN */
    0x7ff0000000000000u, /* +Inf */
    0xfff0000000000000u, /* -Inf */
    0x8000000000000000u, /* -0 */
    0x0000000000000001u, /* smallest subnormal */
    0xffffffffffffffffu, /* all ones */
    0x0000000000000000u,
};

/* Decode the input into samples; returns how many. */
static size_t parse(reader *r, int64_t *ts, uint64_t *vs)
{
    int64_t t = (int64_t)take(r, 8);
    int64_t delta = 0;
    uint64_t v = 0;
    size_t n = 0;
    while (r->pos < r->n && n < MAX_SAMPLES) {
        uint8_t c = (uint8_t)take(r, 1);
        uint64_t d;
        switch (c & 7) {
        case 0: d = (uint64_t)delta; break;
        case 1: d = take(r, 1); break;
        case 2: d = take(r, 2); break;
        case 3: d = take(r, 3); break;
        case 4: d = take(r, 4); break;
        case 5: d = take(r, 8) & (uint64_t)INT64_MAX; break;
        case 6: d = 0; break;
        default: {
            int64_t dod = (int8_t)take(r, 1);
            if (dod > 0 && delta > INT64_MAX - dod)
                d = (uint64_t)INT64_MAX;
            else
                d = delta + dod < 0 ? 0 : (uint64_t)(delta + dod);
            break;
        }
        }
        if (n > 0) {
            if (t >= 0 && d > (uint64_t)(INT64_MAX - t))
                break; /* would pass INT64_MAX */
            delta = (int64_t)d;
            t += delta;
        }
        switch ((c >> 3) & 7) {
        case 0: break;
        case 1: v = take(r, 8); break;
        case 2: v ^= take(r, 1) << (take(r, 1) % 57); break;
        case 3: v = g_special[take(r, 1) % (sizeof g_special / sizeof g_special[0])]; break;
        case 4: {
            double f = (double)(int8_t)take(r, 1);
            memcpy(&v, &f, sizeof v);
            break;
        }
        case 5: v ^= take(r, 2) << (take(r, 1) % 49); break;
        case 6: v = (v & 0xffffffffu) | take(r, 4) << 32; break;
        default: v = (v & ~(uint64_t)0xffffffffu) | take(r, 4); break;
        }
        ts[n] = t;
        vs[n] = v;
        n++;
    }
    return n;
}

/* Append samples [from, to) to a; returns how many went in before it was full. */
static size_t append_all(ps_xor_appender *a, const int64_t *ts, const uint64_t *vs, size_t from,
                         size_t to)
{
    size_t i = from;
    for (; i < to; i++) {
        if (ps_xor_append(a, ts[i], vs[i]) != 0)
            break;
        if (a->len > a->cap)
            fuzz_fail("len %zu past cap %zu", a->len, a->cap);
    }
    return i - from;
}

/* Decode buf[0..len) and compare with the first n samples. */
static void check_decode(const uint8_t *buf, size_t len, const int64_t *ts, const uint64_t *vs,
                         size_t n)
{
    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    if (ps_xor_iter_init(&it, buf, len) != 0)
        fuzz_fail("iter_init refused an encoded chunk of %zu bytes", len);
    if (ps_xor_num_samples(buf, len) != (int)n)
        fuzz_fail("num_samples %d, want %zu", ps_xor_num_samples(buf, len), n);
    for (size_t i = 0; i < n; i++) {
        int rc = ps_xor_iter_next(&it, &t, &v);
        if (rc != 1)
            fuzz_fail("sample %zu of %zu: iter_next %d", i, n, rc);
        if (t != ts[i] || v != vs[i])
            fuzz_fail("sample %zu: got (%lld, %016llx), want (%lld, %016llx)", i, (long long)t,
                      (unsigned long long)v, (long long)ts[i], (unsigned long long)vs[i]);
    }
    int rc = ps_xor_iter_next(&it, &t, &v);
    if (rc != 0)
        fuzz_fail("after %zu samples iter_next %d, want 0", n, rc);
}

static void same_state(const ps_xor_appender *a, const ps_xor_appender *b, const char *how)
{
    uint8_t sa[PS_XOR_STATE_BYTES], sb[PS_XOR_STATE_BYTES];
    ps_xor_appender_save(a, sa);
    ps_xor_appender_save(b, sb);
    if (memcmp(sa, sb, sizeof sa) != 0 || a->len != b->len)
        fuzz_fail("%s: state differs from the encoder's", how);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    reader r = {data + 1, size - 1, 0};
    /* Every sample takes at least its control byte. */
    size_t most = size < MAX_SAMPLES ? size : MAX_SAMPLES;
    int64_t *ts = malloc(sizeof *ts * most);
    uint64_t *vs = malloc(sizeof *vs * most);
    if (ts == NULL || vs == NULL)
        fuzz_fail("out of memory");
    size_t n = parse(&r, ts, vs);

    size_t cap = 2 + (n + 2) * (PS_XOR_MAX_SAMPLE_BYTES + 1);
    uint8_t *b1 = malloc(cap), *b2 = malloc(cap), *b3 = malloc(cap);
    if (b1 == NULL || b2 == NULL || b3 == NULL)
        fuzz_fail("out of memory");

    /* Encode twice: the same bytes. */
    ps_xor_appender a1, a2;
    ps_xor_appender_init(&a1, b1, cap);
    ps_xor_appender_init(&a2, b2, cap);
    size_t k = append_all(&a1, ts, vs, 0, n);
    if (k != n && k != 65535)
        fuzz_fail("append stopped at %zu of %zu with room", k, n);
    if (append_all(&a2, ts, vs, 0, n) != k || a1.len != a2.len || memcmp(b1, b2, a1.len) != 0)
        fuzz_fail("encoding is not deterministic");
    same_state(&a1, &a2, "second encoder");
    check_decode(b1, a1.len, ts, vs, k);

    /* Resume and load on the final bytes give the encoder's state. */
    ps_xor_appender ar, al;
    uint8_t st[PS_XOR_STATE_BYTES];
    memcpy(b3, b1, a1.len);
    if (ps_xor_appender_resume(&ar, b3, a1.len, cap) != 0)
        fuzz_fail("resume refused an encoded chunk");
    same_state(&a1, &ar, "resume");
    ps_xor_appender_save(&a1, st);
    if (ps_xor_appender_load(&al, b3, a1.len, cap, st) != 0)
        fuzz_fail("load refused the encoder's state");
    same_state(&a1, &al, "load");

    /* Re-acquire mid-chunk, by load and by resume, then append the rest. */
    size_t m = k / 2;
    for (int how = 0; how < 2; how++) {
        ps_xor_appender h, g;
        ps_xor_appender_init(&h, b2, cap);
        if (append_all(&h, ts, vs, 0, m) != m)
            fuzz_fail("first half did not fit");
        if (how == 0) {
            ps_xor_appender_save(&h, st);
            if (ps_xor_appender_load(&g, b2, h.len, cap, st) != 0)
                fuzz_fail("load refused a mid-chunk state");
        } else if (ps_xor_appender_resume(&g, b2, h.len, cap) != 0) {
            fuzz_fail("resume refused a mid-chunk chunk");
        }
        if (append_all(&g, ts, vs, m, k) != k - m || g.len != a1.len ||
            memcmp(b1, b2, a1.len) != 0)
            fuzz_fail("re-acquired appender (%s) wrote different bytes", how ? "resume" : "load");
    }

    /* A small buffer: appends fail cleanly, what is there decodes. */
    size_t small = 2 + data[0];
    uint8_t *sb = malloc(small);
    if (sb == NULL)
        fuzz_fail("out of memory");
    ps_xor_appender as;
    ps_xor_appender_init(&as, sb, small);
    size_t ks = append_all(&as, ts, vs, 0, n);
    if (ks > k)
        fuzz_fail("small buffer took %zu of %zu", ks, k);
    check_decode(sb, as.len, ts, vs, ks);

    free(sb);
    free(b1);
    free(b2);
    free(b3);
    free(ts);
    free(vs);
    return 0;
}
