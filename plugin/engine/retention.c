/*
 * retention.c -- dropping whole blocks older than a cutoff, and the series
 * left with no data.
 *
 * The cost follows what is dropped, never the samples kept: each dropped block
 * is one table_clear (the backend frees its pages without visiting entries);
 * dead series are found through lastblk, keyed by the block of each series'
 * newest data, so only series whose last block is dropped are visited.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "labels.h"
#include "store.h"
#include "timemath.h"
#include "mem.h"

typedef struct id_list {
    uint64_t *ids;
    size_t n, cap;
} id_list;

static int id_list_push(id_list *l, uint64_t id)
{
    if (PS_GROW(l->ids, l->cap, l->n + 1))
        return -1;
    l->ids[l->n++] = id;
    return 0;
}

/* What the three walks below share: the stats, the result and a list to fill. */
typedef struct drop_ctx {
    ps_stats_rec *st;
    promstore_retention_result *res;
    id_list *ids;
    promstore_error *err;
} drop_ctx;

/* Called for each entry before it is deleted. */
typedef promstore_status (*drop_fn)(drop_ctx *c, const ps_rec *r);

/* The block an entry of blocks, ooo or lastblk is filed under: their first key field. */
static int64_t block_of_rec(ps_kind kind, const ps_rec *r)
{
    return kind == PS_T_BLOCKS ? r->block.blk : kind == PS_T_OOO ? r->ooo.blk : r->lastblk.blk;
}

/*
 * blocks, ooo and lastblk are keyed by block first: delete their entries
 * from the start of the table while the block is before cb, handing each to
 * fn first. mode: what an entry that does not decode does (schema.h).
 */
static promstore_status drop_before(promstore *db, ps_txn *txn, ps_kind kind, int mode, int64_t cb,
                                    drop_fn fn, drop_ctx *c)
{
    ps_scan sc;
    promstore_status rc = PROMSTORE_OK;
    ps_scan_open(&sc, &db->sch, txn, kind, mode, c->err);
    while (rc == PROMSTORE_OK && ps_scan_next(&sc) && block_of_rec(kind, ps_scan_at(&sc)) < cb)
        if ((rc = fn(c, ps_scan_at(&sc))) == PROMSTORE_OK)
            rc = ps_scan_del(&sc);
    promstore_status closed = ps_scan_close(&sc);
    return rc ? rc : closed;
}

static promstore_status nomem(drop_ctx *c)
{
    return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory");
}

/* A dropped block: its slot goes to the list, its counts leave the stats. */
static promstore_status drop_block(drop_ctx *c, const ps_rec *r)
{
    const ps_block_rec *b = &r->block;
    if (id_list_push(c->ids, b->slot) != 0)
        return nomem(c);
    c->st->samples -= b->samples < c->st->samples ? b->samples : c->st->samples;
    c->st->chunks -= b->chunks < c->st->chunks ? b->chunks : c->st->chunks;
    c->res->samples_dropped += b->samples;
    c->res->blocks_dropped++;
    return PROMSTORE_OK;
}

/* A dropped out-of-order sample. */
static promstore_status drop_ooo_sample(drop_ctx *c, const ps_rec *r)
{
    (void)r;
    if (c->st->samples)
        c->st->samples--;
    c->res->samples_dropped++;
    return PROMSTORE_OK;
}

/* A series whose newest data is in a dropped block: to be deleted. */
static promstore_status drop_lastblk(drop_ctx *c, const ps_rec *r)
{
    return id_list_push(c->ids, r->lastblk.id) != 0 ? nomem(c) : PROMSTORE_OK;
}

/* Drop the blocks wholly before block `cb`: their records, then their tables. */
static promstore_status drop_blocks(promstore *db, ps_txn *txn, int64_t cb, drop_ctx *c)
{
    id_list slots = {0};
    drop_ctx bc = *c;
    bc.ids = &slots;
    promstore_status rc = drop_before(db, txn, PS_T_BLOCKS, PS_SCAN_FAIL_BAD, cb, drop_block, &bc);
    for (size_t i = 0; rc == PROMSTORE_OK && i < slots.n; i++)
        rc = ps_blk_clear(&db->sch, txn, (uint32_t)slots.ids[i], c->err);
    ps_free(slots.ids);
    return rc;
}

/* Delete one series: its index entries, postings and head chunk. */
static promstore_status delete_series(promstore *db, ps_txn *txn, uint64_t id, ps_labelbuf *lb,
                                      ps_stats_rec *st, promstore_retention_result *res,
                                      promstore_error *err)
{
    ps_schema *s = &db->sch;
    uint8_t skey[PS_SKEY_MAX];
    ps_series_rec sr;
    promstore_status rc = ps_series_get(s, txn, id, &sr, err);
    if (rc)
        return rc == PROMSTORE_E_NOT_FOUND ? PROMSTORE_OK : rc;
    int d = ps_labelbuf_decode(lb, sr.key, sr.key_len);
    if (d == -2)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for the labels of series %llu",
                       (unsigned long long)id);
    if (d != 0)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "series %llu has a malformed labels key",
                       (unsigned long long)id);
    size_t sklen = ps_skey_encode(sr.key, sr.key_len, skey);
    if ((rc = ps_skey_remove_id(s, txn, skey, sklen, id, err)))
        return rc;
    rc = ps_posting_del(s, txn, NULL, id, err);
    for (size_t i = 0; (rc == PROMSTORE_OK || rc == PROMSTORE_E_NOT_FOUND) && i < lb->n; i++)
        rc = ps_posting_del(s, txn, &lb->labels[i], id, err);
    if (rc && rc != PROMSTORE_E_NOT_FOUND)
        return rc;
    /* A head that does not decode is dropped all the same, counting no samples. */
    ps_rec h;
    ps_bad bad;
    rc = ps_rec_get(s, txn, PS_T_HEAD, &(ps_rec){.head = {.id = id}}, &h, &bad, err);
    if (rc == PROMSTORE_OK) {
        uint64_t n = bad.what ? 0 : (uint64_t)ps_xor_num_samples(h.head.chunk, h.head.chunk_len);
        st->samples -= n < st->samples ? n : st->samples;
        st->chunks -= st->chunks ? 1 : 0;
        res->samples_dropped += n;
        rc = ps_head_del(s, txn, id, err);
    }
    if (rc && rc != PROMSTORE_E_NOT_FOUND)
        return rc;
    if ((rc = ps_series_del(s, txn, id, err)))
        return rc;
    st->series -= st->series ? 1 : 0;
    res->series_dropped++;
    return PROMSTORE_OK;
}

promstore_status ps_retention_locked(promstore *db, ps_txn *txn, int64_t cb,
                                     promstore_retention_result *res_out, promstore_error *err)
{
    promstore_retention_result res = {sizeof res, 0, 0, 0};
    ps_stats_rec st;
    id_list dead = {0};
    ps_labelbuf lb = {0};
    drop_ctx c = {&st, &res, &dead, err};
    promstore_status rc = ps_stats_read(db, txn, &st, err);
    if (rc == PROMSTORE_OK)
        rc = drop_blocks(db, txn, cb, &c);
    if (rc == PROMSTORE_OK) /* the out-of-order samples of those blocks, whatever their value */
        rc = drop_before(db, txn, PS_T_OOO, PS_SCAN_END_AT_BAD_KEY, cb, drop_ooo_sample, &c);
    if (rc == PROMSTORE_OK) /* and (unlinked from lastblk) the series left with no data */
        rc = drop_before(db, txn, PS_T_LASTBLK, PS_SCAN_END_AT_BAD, cb, drop_lastblk, &c);
    for (size_t i = 0; rc == PROMSTORE_OK && i < dead.n; i++)
        rc = delete_series(db, txn, dead.ids[i], &lb, &st, &res, err);
    if (rc == PROMSTORE_OK && (res.blocks_dropped || res.series_dropped || res.samples_dropped)) {
        /* cb > block of every dropped sample; saturated for the blocks at the int64 ends */
        int64_t kept_from = ps_sat_mul(cb, db->block_ms);
        if (st.samples == 0)
            st.min_time = st.max_time = 0;
        else if (st.min_time < kept_from)
            st.min_time = kept_from;
        rc = ps_stats_put(&db->sch, txn, &st, err);
    }
    if (dead.n)
        ps_cache_clear(&db->cache); /* dropped series must not be found again */
    ps_free(dead.ids);
    ps_labelbuf_free(&lb);
    if (rc == PROMSTORE_OK && res_out) {
        size_t keep = res_out->struct_size < sizeof res ? res_out->struct_size : sizeof res;
        res.struct_size = res_out->struct_size;
        memcpy(res_out, &res, keep);
    }
    return rc;
}

static promstore_status abi_apply_retention(promstore *db, int64_t cutoff_ms,
                                           promstore_retention_result *result,
                                           promstore_error *err)
{
    if (!ps_store_ok(db))
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_apply_retention: bad handle");
    if (result && result->struct_size < sizeof(size_t))
        return ps_fail(err, PROMSTORE_E_INVALID, "retention result struct_size is too small");
    pthread_mutex_lock(&db->write_mu);
    ps_txn *txn = NULL;
    promstore_status rc = ps_txn_begin(&db->sch, 1, &txn, err);
    if (rc == PROMSTORE_OK) {
        rc = ps_retention_locked(db, txn, ps_block_of(cutoff_ms, db->block_ms), result, err);
        if (rc == PROMSTORE_OK)
            rc = ps_txn_commit(&db->sch, txn, err);
        else
            ps_txn_abort(&db->sch, txn);
        if (rc != PROMSTORE_OK)
            ps_cache_clear(&db->cache);
    }
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

promstore_status promstore_apply_retention(promstore *db, int64_t cutoff_ms,
                                           promstore_retention_result *result,
                                           promstore_error *err)
{
    PS_ABI_RETURN(err, abi_apply_retention(db, cutoff_ms, result, PS_LOCAL_ERR));
}
