/*
 * series_merge.h -- the data of one series in [mint, maxt], as samples or as
 * chunks: the third of the read path's three objects (selection, series set,
 * series merge; query.c composes them).
 *
 * NOTES ON THE DESIGN
 *
 * 1. Where a series' data lies. Sealed chunks in the block table of each
 *    block in range, the open chunk in head, and out-of-order samples in ooo,
 *    filed by block. The blocks in range are found once, when the merge is
 *    opened for a query; each ps_series_merge_load then gathers one series:
 *    the overlapping sealed chunks block by block, then the head (so stored
 *    chunks are in time order), then its out-of-order samples. Chunk bytes
 *    are copied, because a backend's bytes do not outlive the next read
 *    (schema.h, note 5); the buffers are reused from series to series, so
 *    memory is one series' chunks and a query allocates nothing per sample
 *    or per chunk once they have grown.
 *
 * 2. Two cursors over what was gathered, independent of each other:
 *    - the sample cursor decodes the stored chunks and merges the
 *      out-of-order samples into them in time order; an instant stored both
 *      ways yields the in-order sample;
 *    - the chunk cursor hands out the stored bytes as they are, with the
 *      out-of-order samples encoded into chunks of their own on load (at
 *      most PS_CHUNK_SAMPLES each), all ordered by min time.
 *    A series whose chunks overlap the range without holding a sample in it
 *    (a chunk straddling the whole range) loads with *has_samples 0, so the
 *    query can skip it.
 *
 * 3. Errors are returned by each call, with the message in the err it is
 *    given: no call keeps a cursor open past its return. A chunk that does
 *    not decode is PROMSTORE_E_CORRUPT naming the series, whose labels the
 *    caller passes to load for that purpose.
 *
 * 4. Lifetime. A chunk handed out stays valid until the next load or the
 *    close. The struct is the caller's; its fields are private to
 *    series_merge.c. It reads through the caller's transaction; one thread
 *    at a time, as the transaction.
 */
#ifndef PS_SERIES_MERGE_H
#define PS_SERIES_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "promstore.h"
#include "schema.h"
#include "xor.h"

/* A block in range with sealed chunks, and its table. */
typedef struct ps_merge_block {
    int64_t blk;
    ps_table table;
} ps_merge_block;

/* A gathered chunk: its bytes in the merge's buffer. */
typedef struct ps_merge_chunk {
    int64_t mint, maxt;
    size_t off, len;
    int is_ooo; /* made from out-of-order samples, not stored as a chunk */
} ps_merge_chunk;

typedef struct ps_series_merge {
    ps_schema *s;
    ps_txn *txn;
    int64_t mint, maxt;
    ps_merge_block *blocks; /* blocks with sealed chunks in range */
    size_t n_blocks;
    int64_t *ooo_blocks; /* blocks with out-of-order samples in range */
    size_t n_ooo_blocks;

    /* The series loaded. */
    uint64_t id;
    const promstore_label *labels; /* the caller's, for messages */
    size_t n_labels;
    ps_merge_chunk *chunks;
    size_t n_chunks, chunks_cap;
    ps_buf bytes; /* the chunks' bytes */
    promstore_sample *ooo;
    size_t n_ooo, ooo_cap;

    size_t chunk_pos;      /* chunk cursor */
    size_t s_chunk, s_ooo; /* sample cursor */
    ps_xor_iter xit;
    int xit_on;
    int have_peek;
    promstore_sample peek;
} ps_series_merge;

/* Open a merge over [mint, maxt] of blocks of block_ms: finds the blocks in range. */
promstore_status ps_series_merge_open(ps_series_merge *m, ps_schema *s, ps_txn *txn,
                                      int64_t block_ms, int64_t mint, int64_t maxt,
                                      promstore_error *err);
/*
 * Gather series id (labels: for messages, valid while it is loaded) and
 * rewind both cursors; *has_samples says whether it has a sample in range.
 */
promstore_status ps_series_merge_load(ps_series_merge *m, uint64_t id,
                                      const promstore_label *labels, size_t n_labels,
                                      int *has_samples, promstore_error *err);
/* The next sample in time order: PROMSTORE_OK, PROMSTORE_DONE, or an error. */
static inline promstore_status ps_series_merge_sample(ps_series_merge *m, promstore_sample *out,
                                                      promstore_error *err);
/* The next chunk by min time: PROMSTORE_OK or PROMSTORE_DONE. */
promstore_status ps_series_merge_chunk(ps_series_merge *m, promstore_chunk *out);
/* How many chunks the series loaded has (stored and out-of-order): its cost to a budget. */
static inline size_t ps_series_merge_n_chunks(const ps_series_merge *m)
{
    return m->n_chunks;
}
/* Free what the merge holds; a zeroed merge may be closed. */
void ps_series_merge_close(ps_series_merge *m);

/*
 * The sample cursor runs once per sample, so its common step is inline: as a
 * function of its own, calling the decoder, it took a quarter more
 * instructions per sample (callgrind, a full read) than when it was part of
 * the iterator, in the prologue and epilogue of one more call level. The
 * rare steps -- starting the next stored chunk, a chunk that does not
 * decode -- are series_merge.c's.
 */

/* Start decoding the next stored chunk: 1, 0 when there is none, or an error. */
int ps_series_merge_open_stored(ps_series_merge *m, promstore_error *err);
/* PROMSTORE_E_CORRUPT for the chunk being decoded, naming the series. */
promstore_status ps_series_merge_bad_chunk(const ps_series_merge *m, promstore_error *err);

/* The next stored sample in range: 1, 0 at the end, or a negative status. */
static inline int ps_series_merge_next_stored(ps_series_merge *m, promstore_sample *s,
                                              promstore_error *err)
{
    for (;;) {
        if (!m->xit_on) {
            int r = ps_series_merge_open_stored(m, err);
            if (r <= 0)
                return r;
        }
        int r = ps_xor_iter_next(&m->xit, &s->timestamp_ms, &s->value_bits);
        if (r < 0)
            return ps_series_merge_bad_chunk(m, err);
        if (r == 0 || s->timestamp_ms > m->maxt) {
            m->xit_on = 0;
            continue;
        }
        if (s->timestamp_ms >= m->mint)
            return 1;
    }
}

static inline promstore_status ps_series_merge_sample(ps_series_merge *m, promstore_sample *out,
                                                      promstore_error *err)
{
    if (!m->have_peek) {
        int r = ps_series_merge_next_stored(m, &m->peek, err);
        if (r < 0)
            return r;
        m->have_peek = r;
    }
    int have_ooo = m->s_ooo < m->n_ooo;
    if (!m->have_peek && !have_ooo)
        return PROMSTORE_DONE;
    if (m->have_peek && (!have_ooo || m->peek.timestamp_ms <= m->ooo[m->s_ooo].timestamp_ms)) {
        if (have_ooo && m->peek.timestamp_ms == m->ooo[m->s_ooo].timestamp_ms)
            m->s_ooo++; /* the same instant twice: the in-order sample wins */
        *out = m->peek;
        m->have_peek = 0;
    } else {
        *out = m->ooo[m->s_ooo++];
    }
    return PROMSTORE_OK;
}

#endif
