/*
 * query.c -- promstore_query() and its series iterator.
 *
 * The iterator holds one read transaction (its snapshot) for its life. The
 * selection's ids come out of a series set (series_set.h) in labels.Compare
 * order; memory stays bounded: the bitmap, at most PS_SMALL_SELECTION keys,
 * plus the chunks of one series.
 *
 * For the current series the iterator gathers the chunks overlapping
 * [mint, maxt] (sealed ones from each block in range, then the head) and its
 * out-of-order samples; the sample cursor decodes and merges them, the chunk
 * cursor hands the stored bytes out as they are.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "labels.h"
#include "select.h"
#include "series_set.h"
#include "store.h"
#include "xor.h"
#include "mem.h"

typedef struct chunk_ref {
    int64_t mint, maxt;
    size_t off, len; /* in it->cbuf */
    int is_ooo;      /* made from out-of-order samples, not stored as a chunk */
} chunk_ref;

typedef struct block_ref {
    int64_t blk;
    ps_table table;
} block_ref;

struct promstore_series_iter {
    promstore *db;
    ps_txn *txn;
    int64_t mint, maxt;
    ps_series_set set;

    block_ref *blocks; /* blocks with sealed chunks in range */
    size_t n_blocks;
    int64_t *ooo_blocks; /* blocks with out-of-order samples in range */
    size_t n_ooo_blocks;

    int has_cur;
    uint64_t cur_id;
    const promstore_label *labels; /* the set's current series, for messages */
    size_t n_labels;
    chunk_ref *chunks;
    size_t n_chunks, chunks_cap;
    uint8_t *cbuf;
    size_t cbuf_len, cbuf_cap;
    promstore_sample *ooo;
    size_t n_ooo, ooo_cap;

    size_t chunk_pos;       /* chunk cursor */
    size_t s_chunk, s_ooo;  /* sample cursor */
    ps_xor_iter xit;
    int xit_on;
    int have_peek;
    promstore_sample peek;

    uint64_t n_series, n_samples, n_bytes;
    promstore_status failed;
};

static promstore_status fail_iter(promstore_series_iter *it, promstore_status rc)
{
    it->failed = rc;
    it->has_cur = 0;
    return rc;
}

/* --- the blocks in range ----------------------------------------------------- */

static promstore_status load_blocks(promstore_series_iter *it, promstore_error *err)
{
    promstore *db = it->db;
    ps_schema *s = &db->sch;
    int64_t bmin = ps_block_of(it->mint, db->block_ms), bmax = ps_block_of(it->maxt, db->block_ms);
    size_t cap = 0;
    ps_scan sc;
    ps_scan_open(&sc, s, it->txn, PS_T_BLOCKS, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.block = {.blk = bmin}}, 0);
    while (ps_scan_next(&sc) && ps_scan_at(&sc)->block.blk <= bmax) {
        if (PS_GROW(it->blocks, cap, it->n_blocks + 1)) {
            ps_scan_close(&sc);
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
        }
        it->blocks[it->n_blocks].blk = ps_scan_at(&sc)->block.blk;
        it->blocks[it->n_blocks++].table = ps_scan_at(&sc)->block.slot; /* slot for now */
    }
    promstore_status rc = ps_scan_close(&sc);
    if (rc)
        return rc;
    for (size_t i = 0; i < it->n_blocks; i++) {
        ps_table t;
        if ((rc = ps_blk_table(s, it->txn, it->blocks[i].table, 0, &t, err)))
            return rc;
        it->blocks[i].table = t;
    }
    /* Out-of-order blocks: skip-scan the distinct blocks of ooo. */
    cap = 0;
    ps_scan_open(&sc, s, it->txn, PS_T_OOO, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.ooo = {bmin, 0, INT64_MIN, 0}}, 0);
    while (ps_scan_next(&sc) && ps_scan_at(&sc)->ooo.blk <= bmax) {
        if (PS_GROW(it->ooo_blocks, cap, it->n_ooo_blocks + 1)) {
            ps_scan_close(&sc);
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
        }
        it->ooo_blocks[it->n_ooo_blocks++] = ps_scan_at(&sc)->ooo.blk;
        ps_scan_skip(&sc, 1);
    }
    return ps_scan_close(&sc);
}

/* --- the data of one series --------------------------------------------------- */

static promstore_status add_chunk(promstore_series_iter *it, int64_t mint, int64_t maxt,
                                  const void *data, size_t len, promstore_error *err)
{
    if (ps_grow((void **)&it->chunks, &it->chunks_cap, it->n_chunks + 1, sizeof *it->chunks) ||
        ps_grow((void **)&it->cbuf, &it->cbuf_cap, it->cbuf_len + len, 1))
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for chunks");
    memcpy(it->cbuf + it->cbuf_len, data, len);
    it->chunks[it->n_chunks++] = (chunk_ref){mint, maxt, it->cbuf_len, len, 0};
    it->cbuf_len += len;
    return PROMSTORE_OK;
}

static promstore_status gather_sealed(promstore_series_iter *it, const block_ref *b,
                                      promstore_error *err)
{
    ps_scan sc;
    promstore_status rc = PROMSTORE_OK;
    ps_scan_open_blk(&sc, &it->db->sch, it->txn, b->table, PS_SCAN_FAIL_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.chunk = {.id = it->cur_id, .mint = INT64_MIN}}, 1);
    while (rc == PROMSTORE_OK && ps_scan_next(&sc)) {
        const ps_chunk_rec *c = &ps_scan_at(&sc)->chunk;
        if (c->mint > it->maxt)
            break;
        if (c->maxt >= it->mint)
            rc = add_chunk(it, c->mint, c->maxt, c->data, c->len, err);
    }
    promstore_status closed = ps_scan_close(&sc);
    return rc ? rc : closed;
}

static promstore_status gather_head(promstore_series_iter *it, promstore_error *err)
{
    ps_head_rec h;
    promstore_status rc = ps_head_get(&it->db->sch, it->txn, it->cur_id, &h, err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return PROMSTORE_OK;
    if (rc)
        return rc;
    if (h.maxt < it->mint || h.mint > it->maxt)
        return PROMSTORE_OK;
    return add_chunk(it, h.mint, h.maxt, h.chunk, h.chunk_len, err);
}

static promstore_status gather_ooo(promstore_series_iter *it, int64_t blk, promstore_error *err)
{
    ps_scan sc;
    ps_scan_open(&sc, &it->db->sch, it->txn, PS_T_OOO, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.ooo = {blk, it->cur_id, it->mint, 0}}, 2);
    while (ps_scan_next(&sc)) {
        const ps_ooo_rec *o = &ps_scan_at(&sc)->ooo;
        if (o->t > it->maxt)
            break;
        if (PS_GROW(it->ooo, it->ooo_cap, it->n_ooo + 1)) {
            ps_scan_close(&sc);
            return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
        }
        it->ooo[it->n_ooo++] = (promstore_sample){o->t, o->value};
    }
    return ps_scan_close(&sc);
}

/* Encode the series' out-of-order samples as extra chunks, for the chunk cursor. */
static promstore_status ooo_chunks(promstore_series_iter *it, promstore_error *err)
{
    uint8_t buf[PS_CHUNK_CAP];
    ps_xor_appender a;
    size_t i = 0;
    while (i < it->n_ooo) {
        ps_xor_appender_init(&a, buf, sizeof buf);
        int64_t mint = it->ooo[i].timestamp_ms, maxt = mint;
        while (i < it->n_ooo && a.n < PS_CHUNK_SAMPLES &&
               ps_xor_append(&a, it->ooo[i].timestamp_ms, it->ooo[i].value_bits) == 0)
            maxt = it->ooo[i++].timestamp_ms;
        promstore_status rc = add_chunk(it, mint, maxt, buf, a.len, err);
        if (rc)
            return rc;
        it->chunks[it->n_chunks - 1].is_ooo = 1;
    }
    return PROMSTORE_OK;
}

/*
 * Does a chunk hold a sample in range? Its first and last samples are at mint
 * and maxt, so only a chunk straddling the whole range needs decoding.
 */
static int chunk_has_sample_in(const promstore_series_iter *it, const chunk_ref *c)
{
    if ((c->mint >= it->mint && c->mint <= it->maxt) || (c->maxt >= it->mint && c->maxt <= it->maxt))
        return 1;
    ps_xor_iter x;
    int64_t t;
    uint64_t v;
    if (ps_xor_iter_init(&x, it->cbuf + c->off, c->len) != 0)
        return 1; /* let the sample cursor report the corruption */
    int r;
    while ((r = ps_xor_iter_next(&x, &t, &v)) == 1) {
        if (t > it->maxt)
            return 0;
        if (t >= it->mint)
            return 1;
    }
    return r < 0;
}

static int cmp_chunk(const void *a, const void *b)
{
    const chunk_ref *x = a, *y = b;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

/* Load the data of series cur_id in range; *any = whether it has some. */
static promstore_status gather_series(promstore_series_iter *it, int *any, promstore_error *err)
{
    it->n_chunks = it->cbuf_len = it->n_ooo = 0;
    it->chunk_pos = it->s_chunk = it->s_ooo = 0;
    it->xit_on = it->have_peek = 0;
    promstore_status rc = PROMSTORE_OK;
    for (size_t i = 0; rc == PROMSTORE_OK && i < it->n_blocks; i++)
        rc = gather_sealed(it, &it->blocks[i], err);
    if (rc == PROMSTORE_OK)
        rc = gather_head(it, err);
    size_t stored = it->n_chunks;
    for (size_t i = 0; rc == PROMSTORE_OK && i < it->n_ooo_blocks; i++)
        rc = gather_ooo(it, it->ooo_blocks[i], err);
    if (rc == PROMSTORE_OK && it->n_ooo)
        rc = ooo_chunks(it, err);
    if (rc)
        return rc;
    /* Stored chunks are already in time order; merge in the out-of-order ones. */
    if (it->n_chunks > stored)
        qsort(it->chunks, it->n_chunks, sizeof *it->chunks, cmp_chunk);
    *any = it->n_ooo > 0;
    for (size_t i = 0; !*any && i < it->n_chunks; i++)
        *any = chunk_has_sample_in(it, &it->chunks[i]);
    return PROMSTORE_OK;
}

/* --- the ABI ---------------------------------------------------------------------- */

static void iter_free(promstore_series_iter *it)
{
    if (it == NULL)
        return;
    ps_series_set_close(&it->set);
    if (it->txn)
        ps_txn_abort(&it->db->sch, it->txn);
    ps_free(it->blocks);
    ps_free(it->ooo_blocks);
    ps_free(it->chunks);
    ps_free(it->cbuf);
    ps_free(it->ooo);
    ps_free(it);
}

void promstore_series_iter_close(promstore_series_iter *it)
{
    iter_free(it);
}

promstore_status ps_query_open(promstore *db, ps_matcher *m, size_t nm, int64_t mint,
                               int64_t maxt, promstore_series_iter **out, promstore_error *err)
{
    promstore_series_iter *it = ps_calloc(1, sizeof *it);
    if (it == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a query");
    it->db = db;
    it->mint = mint;
    it->maxt = maxt;
    ps_bitmap ids = {0};
    promstore_status rc = ps_txn_begin(&db->sch, 0, &it->txn, err);
    if (rc == PROMSTORE_OK)
        rc = ps_select(db, it->txn, m, nm, &ids, err);
    if (rc == PROMSTORE_OK) {
        ps_series_set_open(&it->set, &db->sch, it->txn, &ids, PS_SMALL_SELECTION);
        rc = ps_report(ps_series_set_err(&it->set), ps_series_set_error(&it->set), err);
    }
    if (rc == PROMSTORE_OK)
        rc = load_blocks(it, err);
    if (rc) {
        iter_free(it);
        return rc;
    }
    *out = it;
    return PROMSTORE_OK;
}

static promstore_status abi_query(promstore *db, const promstore_matcher *matchers,
                                 size_t n_matchers, int64_t mint, int64_t maxt,
                                 promstore_series_iter **out, promstore_error *err)
{
    if (out)
        *out = NULL;
    if (!ps_store_ok(db) || out == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_query: bad handle or NULL out");
    if (mint > maxt)
        return ps_fail(err, PROMSTORE_E_INVALID, "query range is empty: mint %lld > maxt %lld",
                       (long long)mint, (long long)maxt);
    ps_matcher *m = NULL;
    promstore_status rc = ps_matchers_compile(matchers, n_matchers, &m, err);
    if (rc)
        return rc;
    rc = ps_query_open(db, m, n_matchers, mint, maxt, out, err);
    ps_matchers_free(m, n_matchers);
    return rc;
}

static promstore_status abi_series_iter_next(promstore_series_iter *it, promstore_error *err)
{
    if (it == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "iterator is NULL");
    if (it->failed)
        return ps_fail(err, it->failed, "the iterator failed earlier; close it");
    it->has_cur = 0;
    while (ps_series_set_next(&it->set)) {
        const ps_series_ref *s = ps_series_set_at(&it->set);
        it->cur_id = s->id;
        it->labels = s->labels;
        it->n_labels = s->n_labels;
        int any = 0;
        promstore_status st = gather_series(it, &any, err);
        if (st)
            return fail_iter(it, st);
        if (!any)
            continue;
        if (it->db->max_series && ++it->n_series > it->db->max_series)
            return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                         "query matched more than %llu series "
                                         "(max_series_per_query)",
                                         (unsigned long long)it->db->max_series));
        it->has_cur = 1;
        return PROMSTORE_OK;
    }
    promstore_status rc = ps_series_set_err(&it->set);
    if (rc)
        return fail_iter(it, ps_report(rc, ps_series_set_error(&it->set), err));
    return PROMSTORE_DONE;
}

promstore_status promstore_series_iter_labels_v2(promstore_series_iter *it,
                                                 const promstore_label **labels,
                                                 size_t *n_labels, promstore_error *err)
{
    if (it == NULL || labels == NULL || n_labels == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "iterator, labels or n_labels is NULL");
    if (!it->has_cur)
        return ps_fail(err, PROMSTORE_E_MISUSE,
                       "no current series: promstore_series_iter_next has not "
                       "returned PROMSTORE_OK for one");
    *labels = it->labels;
    *n_labels = it->n_labels;
    return PROMSTORE_OK;
}

/* The 1.0 call, kept for programs built against 1.0 (abi/promstore.h). */
promstore_status promstore_series_iter_labels(promstore_series_iter *it,
                                              const promstore_label **labels, size_t *n_labels)
{
    return promstore_series_iter_labels_v2(it, labels, n_labels, NULL);
}

/* The next stored sample in range: 1, 0 at the end, or a negative status. */
static int next_stored(promstore_series_iter *it, promstore_sample *s, promstore_error *err)
{
    for (;;) {
        if (!it->xit_on) {
            while (it->s_chunk < it->n_chunks && it->chunks[it->s_chunk].is_ooo)
                it->s_chunk++;
            if (it->s_chunk == it->n_chunks)
                return 0;
            const chunk_ref *c = &it->chunks[it->s_chunk++];
            if (ps_xor_iter_init(&it->xit, it->cbuf + c->off, c->len) != 0)
                return ps_fail(err, PROMSTORE_E_CORRUPT, "a chunk of series %s is truncated",
                               "(current)");
            it->xit_on = 1;
        }
        int r = ps_xor_iter_next(&it->xit, &s->timestamp_ms, &s->value_bits);
        if (r < 0) {
            char desc[256];
            return ps_fail(err, PROMSTORE_E_CORRUPT, "a stored chunk of series %s does not decode",
                           ps_labels_format(it->labels, it->n_labels, desc, sizeof desc));
        }
        if (r == 0 || s->timestamp_ms > it->maxt) {
            it->xit_on = 0;
            continue;
        }
        if (s->timestamp_ms >= it->mint)
            return 1;
    }
}

static promstore_status abi_series_iter_sample(promstore_series_iter *it, promstore_sample *out,
                                              promstore_error *err)
{
    if (it == NULL || out == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "iterator or out is NULL");
    if (it->failed)
        return ps_fail(err, it->failed, "the iterator failed earlier; close it");
    if (!it->has_cur)
        return ps_fail(err, PROMSTORE_E_MISUSE, "no current series: call promstore_series_iter_next");
    if (!it->have_peek) {
        int r = next_stored(it, &it->peek, err);
        if (r < 0)
            return fail_iter(it, r);
        it->have_peek = r;
    }
    int have_ooo = it->s_ooo < it->n_ooo;
    if (!it->have_peek && !have_ooo)
        return PROMSTORE_DONE;
    if (it->have_peek &&
        (!have_ooo || it->peek.timestamp_ms <= it->ooo[it->s_ooo].timestamp_ms)) {
        if (have_ooo && it->peek.timestamp_ms == it->ooo[it->s_ooo].timestamp_ms)
            it->s_ooo++; /* the same instant twice: the in-order sample wins */
        *out = it->peek;
        it->have_peek = 0;
    } else {
        *out = it->ooo[it->s_ooo++];
    }
    if (it->db->max_samples && ++it->n_samples > it->db->max_samples)
        return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                     "query returned more than %llu samples "
                                     "(max_samples_per_query)",
                                     (unsigned long long)it->db->max_samples));
    return PROMSTORE_OK;
}

static promstore_status abi_series_iter_chunk(promstore_series_iter *it, promstore_chunk *out,
                                             promstore_error *err)
{
    if (it == NULL || out == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "iterator or out is NULL");
    if (it->failed)
        return ps_fail(err, it->failed, "the iterator failed earlier; close it");
    if (!it->has_cur)
        return ps_fail(err, PROMSTORE_E_MISUSE, "no current series: call promstore_series_iter_next");
    if (it->chunk_pos == it->n_chunks)
        return PROMSTORE_DONE;
    const chunk_ref *c = &it->chunks[it->chunk_pos++];
    it->n_bytes += c->len;
    if (it->db->max_bytes && it->n_bytes > it->db->max_bytes)
        return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                     "query returned more than %llu bytes of chunks "
                                     "(max_bytes_per_query)",
                                     (unsigned long long)it->db->max_bytes));
    int n = ps_xor_num_samples(it->cbuf + c->off, c->len);
    if (it->db->max_samples && n > 0 && (it->n_samples += (uint64_t)n) > it->db->max_samples)
        return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                     "query returned more than %llu samples "
                                     "(max_samples_per_query)",
                                     (unsigned long long)it->db->max_samples));
    out->min_time_ms = c->mint;
    out->max_time_ms = c->maxt;
    out->data = it->cbuf + c->off;
    out->data_len = c->len;
    return PROMSTORE_OK;
}

promstore_status promstore_query(promstore *db, const promstore_matcher *matchers,
                                 size_t n_matchers, int64_t mint, int64_t maxt,
                                 promstore_series_iter **out, promstore_error *err)
{
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_query(db, matchers, n_matchers, mint, maxt, out, &local), &local, err);
}

promstore_status promstore_series_iter_next(promstore_series_iter *it, promstore_error *err)
{
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_series_iter_next(it, &local), &local, err);
}

promstore_status promstore_series_iter_sample(promstore_series_iter *it, promstore_sample *out,
                                              promstore_error *err)
{
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_series_iter_sample(it, out, &local), &local, err);
}

promstore_status promstore_series_iter_chunk(promstore_series_iter *it, promstore_chunk *out,
                                             promstore_error *err)
{
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_series_iter_chunk(it, out, &local), &local, err);
}
