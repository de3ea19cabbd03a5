/*
 * fuzz_xor_decode -- the XOR chunk decoder over hostile bytes (decode only,
 * as zstd's simple_decompress), then the two ways of resuming an appender on
 * a stored chunk.
 *
 * Input: the chunk bytes, 2-byte header included. Then:
 *   1. ps_xor_num_samples() and ps_xor_iter over an exact-size copy: at most
 *      num_samples samples, and once it ends (0) or fails (-1) it keeps
 *      saying so.
 *   2. ps_xor_appender_resume() on a copy with room to grow: it may succeed
 *      only if the chunk decoded completely; then three samples are appended
 *      and the grown chunk must decode to the old samples followed by the new
 *      ones, and save() -> load() must give an appender that writes the same
 *      bytes.
 *   3. If the input is longer than PS_XOR_STATE_BYTES, its last bytes are
 *      taken as a saved state for the rest: ps_xor_appender_load() either
 *      refuses it or gives an appender that appends within its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "xor.h"

#define ROOM (4 * PS_XOR_MAX_SAMPLE_BYTES + 8)
#define MAX_KEEP 65535

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

typedef struct decoded {
    int64_t *t;
    uint64_t *v;
    int n;   /* samples returned */
    int end; /* 0 ended cleanly, -1 failed */
} decoded;

static decoded decode(const uint8_t *buf, size_t len)
{
    decoded d = {0};
    ps_xor_iter it;
    int hdr = ps_xor_num_samples(buf, len);
    if (ps_xor_iter_init(&it, buf, len) != 0) {
        if (len >= 2 || hdr != -1)
            fuzz_fail("iter_init refused %zu bytes (num_samples %d)", len, hdr);
        d.end = -1;
        return d;
    }
    if (hdr < 0 || len < 2)
        fuzz_fail("num_samples %d for %zu bytes", hdr, len);
    d.t = malloc(sizeof *d.t * (size_t)(hdr + 1));
    d.v = malloc(sizeof *d.v * (size_t)(hdr + 1));
    if (d.t == NULL || d.v == NULL)
        fuzz_fail("out of memory");
    int rc;
    int64_t t;
    uint64_t v;
    while ((rc = ps_xor_iter_next(&it, &t, &v)) == 1) {
        if (d.n >= hdr)
            fuzz_fail("more samples than the header's %d", hdr);
        d.t[d.n] = t;
        d.v[d.n] = v;
        d.n++;
    }
    if (rc != 0 && rc != -1)
        fuzz_fail("iter_next returned %d", rc);
    if (rc == 0 && d.n != hdr)
        fuzz_fail("ended cleanly after %d of %d samples", d.n, hdr);
    d.end = rc;
    for (int k = 0; k < 3; k++)
        if (ps_xor_iter_next(&it, &t, &v) != rc)
            fuzz_fail("iter_next does not stay at %d", rc);
    return d;
}

static void decoded_free(decoded *d)
{
    free(d->t);
    free(d->v);
}

static void check_resume(const uint8_t *data, size_t size, const decoded *orig)
{
    size_t cap = size + ROOM;
    uint8_t *buf = malloc(cap);
    uint8_t *buf2 = malloc(cap);
    if (buf == NULL || buf2 == NULL)
        fuzz_fail("out of memory");
    memcpy(buf, data, size);
    ps_xor_appender a;
    if (ps_xor_appender_resume(&a, buf, size, cap) != 0)
        goto out;
    if (orig->end != 0)
        fuzz_fail("resume accepted a chunk that does not decode");
    if (a.len > size || a.n != (uint16_t)orig->n)
        fuzz_fail("resume: len %zu of %zu, n %u of %d", a.len, size, a.n, orig->n);

    /* A second appender through save/load, on its own copy. */
    uint8_t state[PS_XOR_STATE_BYTES];
    ps_xor_appender b;
    ps_xor_appender_save(&a, state);
    memcpy(buf2, buf, cap);
    if (ps_xor_appender_load(&b, buf2, a.len, cap, state) != 0)
        fuzz_fail("load refused the state save() wrote after resume");

    /* Timestamps must not decrease: continue from the last one. */
    int64_t last = orig->n ? orig->t[orig->n - 1] : 0;
    int64_t add_t[3];
    uint64_t add_v[3] = {0x3ff0000000000000u, PROMSTORE_STALE_NAN_BITS, 0x4045000000000000u};
    int added = 0;
    for (int k = 0; k < 3; k++) {
        int64_t step = (int64_t)15000 * (k + 1);
        add_t[k] = last > INT64_MAX - step ? INT64_MAX : last + step;
        int ra = ps_xor_append(&a, add_t[k], add_v[k]);
        int rb = ps_xor_append(&b, add_t[k], add_v[k]);
        if (ra != rb)
            fuzz_fail("resumed and loaded appenders disagree: %d vs %d", ra, rb);
        if (ra != 0)
            break;
        added++;
        if (a.len > cap)
            fuzz_fail("appender len %zu past cap %zu", a.len, cap);
    }
    if (a.len != b.len || memcmp(buf, buf2, a.len) != 0)
        fuzz_fail("resumed and loaded appenders wrote different bytes");
    if (orig->n + added > 0xffff)
        fuzz_fail("appended past 65535 samples");

    decoded d = decode(buf, a.len);
    if (d.end != 0 || d.n != orig->n + added)
        fuzz_fail("grown chunk: end %d, %d samples, want %d", d.end, d.n, orig->n + added);
    for (int i = 0; i < d.n; i++) {
        int64_t wt = i < orig->n ? orig->t[i] : add_t[i - orig->n];
        uint64_t wv = i < orig->n ? orig->v[i] : add_v[i - orig->n];
        if (d.t[i] != wt || d.v[i] != wv)
            fuzz_fail("grown chunk sample %d differs", i);
    }
    decoded_free(&d);
out:
    free(buf);
    free(buf2);
}

static void check_load(const uint8_t *data, size_t size)
{
    if (size < PS_XOR_STATE_BYTES)
        return;
    size_t len = size - PS_XOR_STATE_BYTES;
    size_t cap = len + ROOM;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (buf == NULL)
        fuzz_fail("out of memory");
    if (len)
        memcpy(buf, data, len);
    ps_xor_appender a;
    if (ps_xor_appender_load(&a, buf, len, cap, data + len) == 0) {
        for (int k = 0; k < 4; k++) {
            int64_t t = a.t > INT64_MAX - 1000 ? INT64_MAX : a.t + 1000;
            if (ps_xor_append(&a, t, (uint64_t)k * 0x0101010101010101u) != 0)
                break;
            if (a.len > cap)
                fuzz_fail("loaded appender len %zu past cap %zu", a.len, cap);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = fuzz_dup(data, size);
    decoded d = decode(size ? copy : NULL, size);
    if (memcmp(copy, data, size) != 0)
        fuzz_fail("the decoder wrote to its input");
    check_resume(data, size, &d);
    check_load(data, size);
    decoded_free(&d);
    free(copy);
    return 0;
}
