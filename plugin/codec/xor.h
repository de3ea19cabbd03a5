/*
 * xor.h -- Prometheus's XOR (Gorilla) chunk encoding, byte for byte.
 *
 * Layout (docs/format/chunks.md draws it; docs/PROTOCOL.md section 3.4 has the
 * bit-level rules and the test vectors): uint16 big-endian sample count; t0 as a zig-zag varint;
 * v0 as 64 raw bits; then per sample a timestamp (uvarint delta for the second,
 * delta-of-delta buckets after) and the value XOR-encoded against the previous
 * one; bits MSB-first, the last byte zero-padded. The encoder writes the
 * minimal (Prometheus 3) form; the decoder also accepts the Prometheus 2 form,
 * which may end with one extra zero byte.
 *
 * Values are raw 64-bit patterns throughout, so every NaN comes back with its
 * exact bits (the stale marker 0x7ff0000000000002 above all).
 */
#ifndef PS_XOR_H
#define PS_XOR_H

#include <stddef.h>
#include <stdint.h>

/* The most bytes one appended sample can take (Prometheus: 19 = 2 + 64 + 1 + 5 + 6 + 64 bits, rounded up). */
#define PS_XOR_MAX_SAMPLE_BYTES 19
/* Serialized appender state size, see ps_xor_appender_save(). */
#define PS_XOR_STATE_BYTES 27

/*
 * An appender writes into a caller-owned buffer of cap bytes. It never
 * allocates. buf[0..len) is always a complete, decodable chunk.
 */
typedef struct ps_xor_appender {
    uint8_t *buf;
    size_t cap;
    size_t len;        /* bytes in use, the partial last byte included */
    uint8_t bits_free; /* unused low bits of buf[len-1]: 0..7 */
    uint16_t n;        /* samples in the chunk */
    int64_t t;         /* last timestamp */
    int64_t tdelta;    /* last timestamp delta */
    uint64_t v;        /* last value bits */
    uint8_t leading;   /* current XOR window; 0xff = none yet */
    uint8_t trailing;
} ps_xor_appender;

/* Start an empty chunk in buf (cap >= 2): writes the 2-byte zero header. */
void ps_xor_appender_init(ps_xor_appender *a, uint8_t *buf, size_t cap);

/*
 * Append one sample. Returns 0, or -1 if the chunk is full: fewer than
 * PS_XOR_MAX_SAMPLE_BYTES + 1 bytes left, or 65535 samples. The caller cuts
 * a new chunk then (the engine also cuts at 120 samples, as Prometheus does).
 * Timestamps must not decrease (the engine guarantees it).
 */
int ps_xor_append(ps_xor_appender *a, int64_t t, uint64_t v);

/*
 * Save the appender's state (everything but buf/cap/len) into out, so that the
 * chunk bytes plus this state can be stored and appending resumed later
 * without decoding the chunk.
 */
void ps_xor_appender_save(const ps_xor_appender *a, uint8_t out[PS_XOR_STATE_BYTES]);

/*
 * Resume appending to the chunk buf[0..len) (cap >= len) from a saved state.
 * Returns 0, or -1 if the state is inconsistent with the chunk (corrupt).
 */
int ps_xor_appender_load(ps_xor_appender *a, uint8_t *buf, size_t len, size_t cap,
                         const uint8_t state[PS_XOR_STATE_BYTES]);

/*
 * Resume appending by decoding the chunk (slower than load; used when no
 * state was stored). Returns 0 or -1 (corrupt or truncated chunk).
 */
int ps_xor_appender_resume(ps_xor_appender *a, uint8_t *buf, size_t len, size_t cap);

/* A decoder over const bytes: it never writes to its input. */
typedef struct ps_xor_iter {
    const uint8_t *buf;
    size_t len;
    size_t bitpos; /* next bit to read, from the start of buf */
    uint16_t n;    /* samples in the chunk */
    uint16_t i;    /* samples returned so far */
    int64_t t;
    int64_t tdelta;
    uint64_t v;
    uint8_t leading;
    uint8_t trailing;
    int failed;
} ps_xor_iter;

/* Start decoding buf[0..len). Returns 0, or -1 if len < 2. */
int ps_xor_iter_init(ps_xor_iter *it, const uint8_t *buf, size_t len);

/*
 * Next sample: 1 and *t, *v set; 0 at the end; -1 if the chunk is truncated or
 * corrupt (and -1 again on every later call).
 */
int ps_xor_iter_next(ps_xor_iter *it, int64_t *t, uint64_t *v);

/* The sample count of a chunk, or -1 if len < 2. */
int ps_xor_num_samples(const uint8_t *buf, size_t len);

#endif
