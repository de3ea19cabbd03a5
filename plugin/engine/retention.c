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

/* Drop the blocks wholly before block `cb`; their slots go to `slots`. */
static promstore_status drop_blocks(promstore *db, ps_txn *txn, int64_t cb, ps_stats_rec *st,
                                    promstore_retention_result *res, promstore_error *err)
{
    ps_cursor *c = NULL;
    id_list slots = {0};
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = db->sch.bm->cursor_open(txn, db->sch.t[PS_T_BLOCKS], &c, err);
    for (rc = rc ? rc : db->sch.bm->cursor_first(c, &k, &kl, &v, &vl, err); rc == PROMSTORE_OK;
         rc = db->sch.bm->cursor_next(c, &k, &kl, &v, &vl, err)) {
        if (kl != 8 || vl != 28) {
            rc = ps_fail(err, PROMSTORE_E_CORRUPT, "blocks record of %zu/%zu bytes", kl, vl);
            break;
        }
        if (ps_get_time(k) >= cb)
            break;
        const uint8_t *r = v;
        uint64_t samples = ps_get_u64(r + 4), chunks = ps_get_u64(r + 12);
        if (id_list_push(&slots, ps_get_u32(r)) != 0) {
            rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
            break;
        }
        st->samples -= samples < st->samples ? samples : st->samples;
        st->chunks -= chunks < st->chunks ? chunks : st->chunks;
        res->samples_dropped += samples;
        res->blocks_dropped++;
        if ((rc = db->sch.bm->cursor_del(c, err)))
            break;
    }
    if (c)
        db->sch.bm->cursor_close(c);
    if (rc == PROMSTORE_DONE)
        rc = PROMSTORE_OK;
    for (size_t i = 0; rc == PROMSTORE_OK && i < slots.n; i++) {
        ps_table t;
        rc = ps_blk_table(&db->sch, txn, (uint32_t)slots.ids[i], 1, &t, err);
        if (rc == PROMSTORE_OK)
            rc = db->sch.bm->table_clear(txn, t, err);
    }
    ps_free(slots.ids);
    return rc;
}

/* Drop out-of-order samples in blocks before `cb`. */
static promstore_status drop_ooo(promstore *db, ps_txn *txn, int64_t cb, ps_stats_rec *st,
                                 promstore_retention_result *res, promstore_error *err)
{
    ps_cursor *c = NULL;
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = db->sch.bm->cursor_open(txn, db->sch.t[PS_T_OOO], &c, err);
    for (rc = rc ? rc : db->sch.bm->cursor_first(c, &k, &kl, &v, &vl, err); rc == PROMSTORE_OK;) {
        if (kl != 24 || ps_get_time(k) >= cb)
            break;
        if (st->samples)
            st->samples--;
        res->samples_dropped++;
        if ((rc = db->sch.bm->cursor_del(c, err)))
            break;
        rc = db->sch.bm->cursor_next(c, &k, &kl, &v, &vl, err);
    }
    if (c)
        db->sch.bm->cursor_close(c);
    return rc == PROMSTORE_DONE ? PROMSTORE_OK : rc;
}

/* Collect (and unlink from lastblk) the series whose newest data is before `cb`. */
static promstore_status collect_dead(promstore *db, ps_txn *txn, int64_t cb, id_list *dead,
                                     promstore_error *err)
{
    ps_cursor *c = NULL;
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = db->sch.bm->cursor_open(txn, db->sch.t[PS_T_LASTBLK], &c, err);
    for (rc = rc ? rc : db->sch.bm->cursor_first(c, &k, &kl, &v, &vl, err); rc == PROMSTORE_OK;) {
        if (kl != 16 || ps_get_time(k) >= cb)
            break;
        if (id_list_push(dead, ps_get_u64((const uint8_t *)k + 8)) != 0) {
            rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
            break;
        }
        if ((rc = db->sch.bm->cursor_del(c, err)))
            break;
        rc = db->sch.bm->cursor_next(c, &k, &kl, &v, &vl, err);
    }
    if (c)
        db->sch.bm->cursor_close(c);
    return rc == PROMSTORE_DONE ? PROMSTORE_OK : rc;
}

/* Remove id from the series_key entry skey (which may list several ids). */
static promstore_status unlink_series_key(promstore *db, ps_txn *txn, const uint8_t *skey,
                                          size_t sklen, uint64_t id, promstore_error *err)
{
    const void *v;
    size_t vl;
    promstore_status rc = db->sch.bm->get(txn, db->sch.t[PS_T_SERIES_KEY], skey, sklen, &v, &vl, err);
    if (rc)
        return rc == PROMSTORE_E_NOT_FOUND ? PROMSTORE_OK : rc;
    if (vl <= 8)
        return db->sch.bm->del(txn, db->sch.t[PS_T_SERIES_KEY], skey, sklen, err);
    uint8_t *rest = ps_malloc(vl);
    if (rest == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
    size_t n = 0;
    for (size_t i = 0; i + 8 <= vl; i += 8)
        if (ps_get_u64((const uint8_t *)v + i) != id)
            memcpy(rest + n, (const uint8_t *)v + i, 8), n += 8;
    rc = n ? db->sch.bm->put(txn, db->sch.t[PS_T_SERIES_KEY], skey, sklen, rest, n, err)
           : db->sch.bm->del(txn, db->sch.t[PS_T_SERIES_KEY], skey, sklen, err);
    ps_free(rest);
    return rc;
}

/* Delete one series: its index entries, postings and head chunk. */
static promstore_status delete_series(promstore *db, ps_txn *txn, uint64_t id, ps_labelbuf *lb,
                                      ps_stats_rec *st, promstore_retention_result *res,
                                      promstore_error *err)
{
    uint8_t idk[8], skey[PS_SKEY_MAX + 8], pk[PS_BACKEND_MAX_KEY];
    const void *v;
    size_t vl;
    ps_put_u64(idk, id);
    promstore_status rc = db->sch.bm->get(txn, db->sch.t[PS_T_SERIES], idk, 8, &v, &vl, err);
    if (rc)
        return rc == PROMSTORE_E_NOT_FOUND ? PROMSTORE_OK : rc;
    if (ps_labelbuf_decode(lb, v, vl) != 0)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "series %llu has a malformed labels key",
                       (unsigned long long)id);
    size_t sklen = ps_skey_encode(v, vl, skey);
    if ((rc = unlink_series_key(db, txn, skey, sklen, id, err)))
        return rc;
    size_t pl = ps_pair_encode("", 0, "", 0, pk, sizeof pk);
    memcpy(pk + pl, idk, 8);
    rc = db->sch.bm->del(txn, db->sch.t[PS_T_POSTINGS], pk, pl + 8, err);
    for (size_t i = 0; (rc == PROMSTORE_OK || rc == PROMSTORE_E_NOT_FOUND) && i < lb->n; i++) {
        const promstore_label *l = &lb->labels[i];
        pl = ps_pair_encode(l->name, l->name_len, l->value, l->value_len, pk, PS_PAIR_MAX);
        memcpy(pk + pl, idk, 8);
        rc = db->sch.bm->del(txn, db->sch.t[PS_T_POSTINGS], pk, pl + 8, err);
    }
    if (rc && rc != PROMSTORE_E_NOT_FOUND)
        return rc;
    rc = db->sch.bm->get(txn, db->sch.t[PS_T_HEAD], idk, 8, &v, &vl, err);
    if (rc == PROMSTORE_OK) {
        uint64_t n = vl >= PS_HEAD_HDR + 2
                         ? ((uint64_t)((const uint8_t *)v)[PS_HEAD_HDR] << 8 |
                            ((const uint8_t *)v)[PS_HEAD_HDR + 1])
                         : 0;
        st->samples -= n < st->samples ? n : st->samples;
        st->chunks -= st->chunks ? 1 : 0;
        res->samples_dropped += n;
        rc = db->sch.bm->del(txn, db->sch.t[PS_T_HEAD], idk, 8, err);
    }
    if (rc && rc != PROMSTORE_E_NOT_FOUND)
        return rc;
    if ((rc = db->sch.bm->del(txn, db->sch.t[PS_T_SERIES], idk, 8, err)))
        return rc;
    st->series -= st->series ? 1 : 0;
    res->series_dropped++;
    return PROMSTORE_OK;
}

promstore_status ps_retention_locked(promstore *db, ps_txn *txn, int64_t cutoff,
                                     promstore_retention_result *res_out, promstore_error *err)
{
    promstore_retention_result res = {sizeof res, 0, 0, 0};
    ps_stats_rec st;
    id_list dead = {0};
    ps_labelbuf lb = {0};
    int64_t cb = ps_block_of(cutoff, db->block_ms);
    promstore_status rc = ps_stats_read(db, txn, &st, err);
    if (rc == PROMSTORE_OK)
        rc = drop_blocks(db, txn, cb, &st, &res, err);
    if (rc == PROMSTORE_OK)
        rc = drop_ooo(db, txn, cb, &st, &res, err);
    if (rc == PROMSTORE_OK)
        rc = collect_dead(db, txn, cb, &dead, err);
    for (size_t i = 0; rc == PROMSTORE_OK && i < dead.n; i++)
        rc = delete_series(db, txn, dead.ids[i], &lb, &st, &res, err);
    if (rc == PROMSTORE_OK && (res.blocks_dropped || res.series_dropped || res.samples_dropped)) {
        int64_t kept_from = cb * db->block_ms; /* cb > block of every dropped sample */
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
    promstore_status rc = db->sch.bm->txn_begin(db->sch.be, 1, &txn, err);
    if (rc == PROMSTORE_OK) {
        rc = ps_retention_locked(db, txn, cutoff_ms, result, err);
        if (rc == PROMSTORE_OK)
            rc = db->sch.bm->txn_commit(txn, err);
        else
            db->sch.bm->txn_abort(txn);
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
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_apply_retention(db, cutoff_ms, result, &local), &local, err);
}
