/* series_merge.c -- see series_merge.h. */
#include "series_merge.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "labels.h"

/* --- the blocks in range ----------------------------------------------------- */

promstore_status ps_series_merge_open(ps_series_merge *m, ps_schema *s, ps_txn *txn,
                                      int64_t block_ms, int64_t mint, int64_t maxt,
                                      promstore_error *err)
{
    memset(m, 0, sizeof *m);
    m->s = s;
    m->txn = txn;
    m->mint = mint;
    m->maxt = maxt;
    int64_t bmin = ps_block_of(mint, block_ms), bmax = ps_block_of(maxt, block_ms);
    size_t cap = 0;
    ps_scan sc;
    ps_scan_open(&sc, s, txn, PS_T_BLOCKS, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.block = {.blk = bmin}}, 0);
    while (ps_scan_next(&sc) && ps_scan_at(&sc)->block.blk <= bmax) {
        if (PS_GROW(m->blocks, cap, m->n_blocks + 1)) {
            ps_scan_close(&sc);
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
        }
        m->blocks[m->n_blocks].blk = ps_scan_at(&sc)->block.blk;
        m->blocks[m->n_blocks++].table = ps_scan_at(&sc)->block.slot; /* slot for now */
    }
    promstore_status rc = ps_scan_close(&sc);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_blocks; i++) {
        ps_table t;
        if ((rc = ps_blk_table(s, txn, m->blocks[i].table, 0, &t, err)))
            return rc;
        m->blocks[i].table = t;
    }
    /* Out-of-order blocks: skip-scan the distinct blocks of ooo (only keys matter). */
    cap = 0;
    ps_scan_open(&sc, s, txn, PS_T_OOO, PS_SCAN_END_AT_BAD_KEY, err);
    ps_scan_seek(&sc, &(ps_rec){.ooo = {bmin, 0, INT64_MIN, 0}}, 0);
    while (ps_scan_next(&sc) && ps_scan_at(&sc)->ooo.blk <= bmax) {
        if (PS_GROW(m->ooo_blocks, cap, m->n_ooo_blocks + 1)) {
            ps_scan_close(&sc);
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
        }
        m->ooo_blocks[m->n_ooo_blocks++] = ps_scan_at(&sc)->ooo.blk;
        ps_scan_skip(&sc, 1);
    }
    return ps_scan_close(&sc);
}

/* --- gathering one series ------------------------------------------------------ */

static promstore_status add_chunk(ps_series_merge *m, int64_t mint, int64_t maxt,
                                  const void *data, size_t len, int is_ooo, promstore_error *err)
{
    size_t off = m->bytes.len;
    if (PS_GROW(m->chunks, m->chunks_cap, m->n_chunks + 1) || ps_buf_append(&m->bytes, data, len))
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for chunks");
    m->chunks[m->n_chunks++] = (ps_merge_chunk){mint, maxt, off, len, is_ooo};
    return PROMSTORE_OK;
}

static promstore_status gather_sealed(ps_series_merge *m, const ps_merge_block *b,
                                      promstore_error *err)
{
    ps_scan sc;
    promstore_status rc = PROMSTORE_OK;
    /* A chunk whose key is bad ends the series' chunks; one whose value is bad is corrupt. */
    ps_scan_open_blk(&sc, m->s, m->txn, b->table, PS_SCAN_END_AT_BAD_KEY, err);
    ps_scan_seek(&sc, &(ps_rec){.chunk = {.id = m->id, .mint = INT64_MIN}}, 1);
    while (rc == PROMSTORE_OK && ps_scan_next(&sc)) {
        const ps_chunk_rec *c = &ps_scan_at(&sc)->chunk;
        if (c->mint > m->maxt)
            break;
        if (ps_scan_bad(&sc))
            rc = ps_fail(err, PROMSTORE_E_CORRUPT, "%s", ps_scan_bad(&sc)->why);
        else if (c->maxt >= m->mint)
            rc = add_chunk(m, c->mint, c->maxt, c->data, c->len, 0, err);
    }
    promstore_status closed = ps_scan_close(&sc);
    return rc ? rc : closed;
}

static promstore_status gather_head(ps_series_merge *m, promstore_error *err)
{
    ps_head_rec h;
    promstore_status rc = ps_head_get(m->s, m->txn, m->id, &h, err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return PROMSTORE_OK;
    if (rc)
        return rc;
    if (h.maxt < m->mint || h.mint > m->maxt)
        return PROMSTORE_OK;
    return add_chunk(m, h.mint, h.maxt, h.chunk, h.chunk_len, 0, err);
}

static promstore_status gather_ooo(ps_series_merge *m, int64_t blk, promstore_error *err)
{
    ps_scan sc;
    ps_scan_open(&sc, m->s, m->txn, PS_T_OOO, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.ooo = {blk, m->id, m->mint, 0}}, 2);
    while (ps_scan_next(&sc)) {
        const ps_ooo_rec *o = &ps_scan_at(&sc)->ooo;
        if (o->t > m->maxt)
            break;
        if (PS_GROW(m->ooo, m->ooo_cap, m->n_ooo + 1)) {
            ps_scan_close(&sc);
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
        }
        m->ooo[m->n_ooo++] = (promstore_sample){o->t, o->value};
    }
    return ps_scan_close(&sc);
}

/* Encode the series' out-of-order samples as extra chunks, for the chunk cursor. */
static promstore_status ooo_chunks(ps_series_merge *m, promstore_error *err)
{
    uint8_t buf[PS_CHUNK_CAP];
    ps_xor_appender a;
    size_t i = 0;
    while (i < m->n_ooo) {
        ps_xor_appender_init(&a, buf, sizeof buf);
        int64_t mint = m->ooo[i].timestamp_ms, maxt = mint;
        while (i < m->n_ooo && a.n < PS_CHUNK_SAMPLES &&
               ps_xor_append(&a, m->ooo[i].timestamp_ms, m->ooo[i].value_bits) == 0)
            maxt = m->ooo[i++].timestamp_ms;
        promstore_status rc = add_chunk(m, mint, maxt, buf, a.len, 1, err);
        if (rc)
            return rc;
    }
    return PROMSTORE_OK;
}

/*
 * Does a chunk hold a sample in range? Its first and last samples are at mint
 * and maxt, so only a chunk straddling the whole range needs decoding.
 */
static int chunk_has_sample_in(const ps_series_merge *m, const ps_merge_chunk *c)
{
    if ((c->mint >= m->mint && c->mint <= m->maxt) || (c->maxt >= m->mint && c->maxt <= m->maxt))
        return 1;
    ps_xor_iter x;
    int64_t t;
    uint64_t v;
    if (ps_xor_iter_init(&x, m->bytes.data + c->off, c->len) != 0)
        return 1; /* let the sample cursor report the corruption */
    int r;
    while ((r = ps_xor_iter_next(&x, &t, &v)) == 1) {
        if (t > m->maxt)
            return 0;
        if (t >= m->mint)
            return 1;
    }
    return r < 0;
}

static int cmp_chunk(const void *a, const void *b)
{
    const ps_merge_chunk *x = a, *y = b;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

promstore_status ps_series_merge_load(ps_series_merge *m, uint64_t id,
                                      const promstore_label *labels, size_t n_labels,
                                      int *has_samples, promstore_error *err)
{
    m->id = id;
    m->labels = labels;
    m->n_labels = n_labels;
    m->n_chunks = m->bytes.len = m->n_ooo = 0;
    m->chunk_pos = m->s_chunk = m->s_ooo = 0;
    m->xit_on = m->have_peek = 0;
    *has_samples = 0;
    promstore_status rc = PROMSTORE_OK;
    for (size_t i = 0; rc == PROMSTORE_OK && i < m->n_blocks; i++)
        rc = gather_sealed(m, &m->blocks[i], err);
    if (rc == PROMSTORE_OK)
        rc = gather_head(m, err);
    size_t stored = m->n_chunks;
    for (size_t i = 0; rc == PROMSTORE_OK && i < m->n_ooo_blocks; i++)
        rc = gather_ooo(m, m->ooo_blocks[i], err);
    if (rc == PROMSTORE_OK && m->n_ooo)
        rc = ooo_chunks(m, err);
    if (rc)
        return rc;
    /* Stored chunks are already in time order; merge in the out-of-order ones. */
    if (m->n_chunks > stored)
        qsort(m->chunks, m->n_chunks, sizeof *m->chunks, cmp_chunk);
    *has_samples = m->n_ooo > 0;
    for (size_t i = 0; !*has_samples && i < m->n_chunks; i++)
        *has_samples = chunk_has_sample_in(m, &m->chunks[i]);
    return PROMSTORE_OK;
}

/* --- the cursors ------------------------------------------------------------------ */

int ps_series_merge_open_stored(ps_series_merge *m, promstore_error *err)
{
    while (m->s_chunk < m->n_chunks && m->chunks[m->s_chunk].is_ooo)
        m->s_chunk++;
    if (m->s_chunk == m->n_chunks)
        return 0;
    const ps_merge_chunk *c = &m->chunks[m->s_chunk++];
    if (ps_xor_iter_init(&m->xit, m->bytes.data + c->off, c->len) != 0)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "a chunk of series %s is truncated", "(current)");
    m->xit_on = 1;
    return 1;
}

promstore_status ps_series_merge_bad_chunk(const ps_series_merge *m, promstore_error *err)
{
    char desc[256];
    return ps_fail(err, PROMSTORE_E_CORRUPT, "a stored chunk of series %s does not decode",
                   ps_labels_format(m->labels, m->n_labels, desc, sizeof desc));
}

promstore_status ps_series_merge_chunk(ps_series_merge *m, promstore_chunk *out)
{
    if (m->chunk_pos == m->n_chunks)
        return PROMSTORE_DONE;
    const ps_merge_chunk *c = &m->chunks[m->chunk_pos++];
    out->min_time_ms = c->mint;
    out->max_time_ms = c->maxt;
    out->data = m->bytes.data + c->off;
    out->data_len = c->len;
    return PROMSTORE_OK;
}

void ps_series_merge_close(ps_series_merge *m)
{
    ps_free(m->blocks);
    ps_free(m->ooo_blocks);
    ps_free(m->chunks);
    ps_buf_free(&m->bytes);
    ps_free(m->ooo);
    memset(m, 0, sizeof *m);
}
