/*
 * append.c -- promstore_append(): validate a batch, then store it in one
 * backend write transaction.
 *
 * Every series' open chunk (its "head") is a value in the head table, written
 * in the same transaction as the samples it gained. So a committed batch is
 * complete on disk, and opening a store replays nothing, at the price of one
 * head write per series per batch. A head is sealed into its block's table
 * when it reaches PS_CHUNK_SAMPLES samples, PS_CHUNK_MAX_BYTES bytes, or a
 * sample of the next block arrives (chunks never straddle blocks, so that
 * retention can drop whole blocks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "labels.h"
#include "store.h"
#include "timemath.h"
#include "xor.h"
#include "mem.h"

/* One series of the batch after validation. */
typedef struct prepared {
    promstore_label *labels; /* sorted, into the batch's label copy */
    size_t n_labels;
    uint8_t *key; /* labels key, into the batch's key buffer */
    size_t key_len;
} prepared;

/* The head chunk of the series being appended to. */
typedef struct head {
    int present;
    int dirty;
    int64_t mint;
    ps_xor_appender app;
    uint8_t buf[PS_CHUNK_CAP];
} head;

/* State of one append call. */
typedef struct batch {
    promstore *db;
    ps_txn *txn;
    ps_stats_rec stats;
    promstore_append_result res;
    promstore_status first_reject; /* first out-of-order rejection, reported at the end */
    promstore_error reject_err;
    int64_t cached_block; /* last block -> slot look-up, to spare a get per seal */
    uint32_t cached_slot;
    int have_cached_slot;
    int64_t future_limit; /* samples after this are refused (max_future_ms past the clock) */
} batch;

/* --- validation ----------------------------------------------------------- */

/* The rules are the store's; remote write validates a whole request with them first. */
promstore_status ps_engine_labels_normalize(const promstore *db, promstore_label *labels,
                                            size_t *n, promstore_error *err)
{
    return ps_labels_normalize(labels, n, db->name_rules, err);
}

static promstore_status prepare_batch(promstore *db, const promstore_series *series, size_t n,
                                      prepared *out, promstore_label **labels_mem,
                                      uint8_t **keys_mem, promstore_error *err)
{
    size_t total_labels = 0;
    for (size_t i = 0; i < n; i++) {
        if ((series[i].n_labels && series[i].labels == NULL) ||
            (series[i].n_samples && series[i].samples == NULL))
            return ps_fail(err, PROMSTORE_E_INVALID, "series %zu has NULL labels or samples", i);
        total_labels += series[i].n_labels;
    }
    promstore_label *labels = ps_malloc((total_labels ? total_labels : 1) * sizeof *labels);
    if (labels == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for %zu labels", total_labels);
    *labels_mem = labels;

    size_t key_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(labels, series[i].labels, series[i].n_labels * sizeof *labels);
        size_t nl = series[i].n_labels;
        promstore_status rc = ps_engine_labels_normalize(db, labels, &nl, err);
        if (rc)
            return rc;
        for (size_t j = 0; j < nl; j++) {
            size_t nv = labels[j].name_len + labels[j].value_len;
            if (2 * nv + 2 <= PS_PAIR_MAX ||
                ps_pair_size(labels[j].name, labels[j].name_len, labels[j].value,
                             labels[j].value_len) <= PS_PAIR_MAX)
                continue;
            char desc[256];
            return ps_fail(err, PROMSTORE_E_BAD_LABELS,
                           "label %.*s is too long (name and value together may take at "
                           "most %d bytes) in series %s",
                           (int)(labels[j].name_len < 64 ? labels[j].name_len : 64),
                           labels[j].name, PS_PAIR_MAX - 2,
                           ps_labels_format(labels, nl, desc, sizeof desc));
        }
        out[i].labels = labels;
        out[i].n_labels = nl;
        out[i].key_len = ps_labels_key_size(labels, nl);
        key_bytes += out[i].key_len;
        labels += series[i].n_labels;
    }
    uint8_t *keys = ps_malloc(key_bytes ? key_bytes : 1);
    if (keys == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for series keys");
    *keys_mem = keys;
    for (size_t i = 0; i < n; i++) {
        out[i].key = keys;
        keys += ps_labels_key_encode(out[i].labels, out[i].n_labels, keys);
    }
    return PROMSTORE_OK;
}

/* --- series ---------------------------------------------------------------- */

static promstore_status full_key_equals(promstore *db, ps_txn *txn, uint64_t id,
                                        const uint8_t *key, size_t klen, int *equal,
                                        promstore_error *err)
{
    ps_series_rec r;
    promstore_status rc = ps_series_get(&db->sch, txn, id, &r, err);
    if (rc)
        return rc == PROMSTORE_E_NOT_FOUND
                   ? ps_fail(err, PROMSTORE_E_CORRUPT, "series_key names id %llu, absent from series",
                             (unsigned long long)id)
                   : rc;
    *equal = r.key_len == klen && memcmp(r.key, key, klen) == 0;
    return PROMSTORE_OK;
}

/*
 * Create a series for p, filed under skey with the n_old ids already there:
 * ids has room for one more.
 */
static promstore_status create_series(batch *b, const prepared *p, const uint8_t *skey,
                                      size_t sklen, uint64_t *ids, size_t n_old,
                                      uint64_t *id_out, promstore_error *err)
{
    promstore *db = b->db;
    ps_schema *s = &db->sch;
    uint64_t id = db->next_id++;
    ps_series_rec sr = {id, p->key, p->key_len};
    promstore_status rc = ps_series_put(s, b->txn, &sr, err);
    if (rc)
        return rc;
    /* A cut key's value lists every id under it; a short key's, one id. */
    ids[n_old] = id;
    if ((rc = ps_skey_put(s, b->txn, skey, sklen, ids, n_old + 1, err)) ||
        (rc = ps_posting_put(s, b->txn, NULL, id, err)))
        return rc;
    for (size_t j = 0; j < p->n_labels; j++)
        if ((rc = ps_posting_put(s, b->txn, &p->labels[j], id, err)))
            return rc;
    b->stats.series++;
    b->res.series_created++;
    *id_out = id;
    return PROMSTORE_OK;
}

static promstore_status resolve_series(batch *b, const prepared *p, uint64_t *id_out,
                                       ps_cache_slot **slot_out, promstore_error *err)
{
    promstore *db = b->db;
    uint64_t hash = ps_hash64(p->key, p->key_len);
    ps_cache_slot *slot = ps_cache_find(&db->cache, hash, p->key, p->key_len);
    if (slot != NULL) {
        *id_out = slot->id;
        *slot_out = slot;
        return PROMSTORE_OK;
    }
    uint64_t id = 0, one[1];
    int created = 0;
    uint8_t skey[PS_SKEY_MAX];
    size_t sklen = ps_skey_encode(p->key, p->key_len, skey);
    ps_skey_rec kr;
    promstore_status rc = ps_skey_get(&db->sch, b->txn, skey, sklen, &kr, err);
    if (rc == PROMSTORE_E_NOT_FOUND) {
        rc = create_series(b, p, skey, sklen, one, 0, &id, err);
        created = 1;
    } else if (rc == PROMSTORE_OK) {
        if (!kr.shared) {
            /*
             * Only keys shorter than a cut key are unambiguous: a label set
             * whose key is exactly PS_SKEY_MAX bytes may equal the cut key
             * (prefix + hash) of a longer one, so it is compared in full below.
             */
            id = ps_skey_id(&kr, 0);
        } else {
            /* Copy: the look-ups below may invalidate the record's bytes. */
            size_t n = kr.n_ids;
            uint64_t *ids = ps_malloc((n + 1) * sizeof *ids);
            if (ids == NULL)
                return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
            for (size_t i = 0; i < n; i++)
                ids[i] = ps_skey_id(&kr, i);
            for (size_t i = 0; i < n && rc == PROMSTORE_OK && id == 0; i++) {
                int eq = 0;
                rc = full_key_equals(db, b->txn, ids[i], p->key, p->key_len, &eq, err);
                if (rc == PROMSTORE_OK && eq)
                    id = ids[i];
            }
            if (rc == PROMSTORE_OK && id == 0) {
                rc = create_series(b, p, skey, sklen, ids, n, &id, err);
                created = 1;
            }
            ps_free(ids);
        }
    }
    if (rc)
        return rc;
    slot = ps_cache_put(&db->cache, hash, p->key, p->key_len, id);
    if (slot && created)
        ps_cache_set_head(&db->cache, slot, NULL, 0); /* a new series has no head yet */
    *id_out = id;
    *slot_out = slot;
    return PROMSTORE_OK;
}

/* --- blocks ---------------------------------------------------------------- */

/* The slot of block `blk`, allocating the lowest free slot for a new block. */
static promstore_status block_slot(batch *b, int64_t blk, uint32_t *slot, promstore_error *err)
{
    ps_schema *s = &b->db->sch;
    if (b->have_cached_slot && b->cached_block == blk) {
        *slot = b->cached_slot;
        return PROMSTORE_OK;
    }
    ps_block_rec br;
    promstore_status rc = ps_block_get(s, b->txn, blk, &br, err);
    if (rc == PROMSTORE_OK) {
        *slot = br.slot;
    } else if (rc == PROMSTORE_E_NOT_FOUND) {
        /*
         * Few blocks live at once, so a scan for the lowest free slot is cheap.
         * Every record holds its slot, a damaged one too if it has the bytes.
         */
        size_t cap = 0, used_n = 0;
        uint32_t *used = NULL;
        ps_scan sc;
        ps_scan_open(&sc, s, b->txn, PS_T_BLOCKS, PS_SCAN_SHOW_BAD, err);
        while (ps_scan_next(&sc)) {
            if (PS_GROW(used, cap, used_n + 1)) {
                ps_scan_close(&sc);
                ps_free(used);
                return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
            }
            used[used_n++] = ps_scan_at(&sc)->block.slot;
        }
        if ((rc = ps_scan_close(&sc))) {
            ps_free(used);
            return rc;
        }
        uint32_t free_slot = 0;
        for (int again = 1; again;) {
            again = 0;
            for (size_t i = 0; i < used_n; i++)
                if (used[i] == free_slot) {
                    free_slot++;
                    again = 1;
                }
        }
        ps_free(used);
        ps_block_rec nb = {blk, free_slot, 0, 0, 0};
        if ((rc = ps_block_put(s, b->txn, &nb, err)))
            return rc;
        *slot = free_slot;
    } else {
        return rc;
    }
    b->cached_block = blk;
    b->cached_slot = *slot;
    b->have_cached_slot = 1;
    return PROMSTORE_OK;
}

/* Add to a block's sample/chunk/byte counters. */
static promstore_status block_account(batch *b, int64_t blk, uint64_t samples, uint64_t chunks,
                                      uint64_t bytes, promstore_error *err)
{
    ps_block_rec br;
    promstore_status rc = ps_block_get(&b->db->sch, b->txn, blk, &br, err);
    if (rc)
        return rc;
    br.samples += samples;
    br.chunks += chunks;
    br.bytes += bytes;
    return ps_block_put(&b->db->sch, b->txn, &br, err);
}

/* --- head chunks ------------------------------------------------------------ */

/* Take a stored head into h. */
static promstore_status head_parse(uint64_t id, const ps_head_rec *r, head *h, promstore_error *err)
{
    if (r->chunk_len > sizeof h->buf)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "head chunk of series %llu has %zu bytes",
                       (unsigned long long)id, r->chunk_len);
    h->mint = r->mint;
    memcpy(h->buf, r->chunk, r->chunk_len);
    if (ps_xor_appender_load(&h->app, h->buf, r->chunk_len, sizeof h->buf, r->state) != 0 ||
        h->app.n == 0)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "head chunk of series %llu is corrupt",
                       (unsigned long long)id);
    h->present = 1;
    return PROMSTORE_OK;
}

/* Cache the head value of h, as stored, in the series' cache entry. */
static void head_cache(batch *b, ps_cache_slot *slot, const head *h)
{
    uint8_t val[PS_HEAD_VALUE_MAX];
    ps_cache_set_head(&b->db->cache, slot, val, ps_head_encode(val, h->mint, &h->app, h->buf));
}

static promstore_status head_load(batch *b, uint64_t id, ps_cache_slot *slot, head *h,
                                  promstore_error *err)
{
    promstore *db = b->db;
    ps_head_rec r;
    h->dirty = 0;
    h->present = 0;
    if (slot && slot->head_state == PS_HEAD_ABSENT)
        return PROMSTORE_OK;
    if (slot && slot->head_state == PS_HEAD_CACHED) {
        if (ps_head_decode(slot->head, slot->head_len, &r) != 0)
            return ps_fail(err, PROMSTORE_E_CORRUPT, "head chunk of series %llu has %u bytes",
                           (unsigned long long)id, slot->head_len);
        return head_parse(id, &r, h, err);
    }
    promstore_status rc = ps_head_get(&db->sch, b->txn, id, &r, err);
    if (rc == PROMSTORE_E_NOT_FOUND) {
        if (slot)
            ps_cache_set_head(&db->cache, slot, NULL, 0);
        return PROMSTORE_OK;
    }
    if (rc || (rc = head_parse(id, &r, h, err)))
        return rc;
    if (slot)
        head_cache(b, slot, h);
    return PROMSTORE_OK;
}

static promstore_status head_save(batch *b, uint64_t id, ps_cache_slot *slot, head *h,
                                  promstore_error *err)
{
    uint8_t val[PS_HEAD_VALUE_MAX];
    size_t vl = ps_head_encode(val, h->mint, &h->app, h->buf);
    promstore_status rc = ps_head_put(&b->db->sch, b->txn, id, val, vl, err);
    if (rc == PROMSTORE_OK && slot)
        ps_cache_set_head(&b->db->cache, slot, val, vl);
    return rc;
}

/* Move the head chunk into its block's table. */
static promstore_status head_seal(batch *b, uint64_t id, head *h, promstore_error *err)
{
    promstore *db = b->db;
    int64_t blk = ps_block_of(h->mint, db->block_ms);
    uint32_t slot = 0;
    ps_table t = 0;
    promstore_status rc = block_slot(b, blk, &slot, err);
    if (rc || (rc = ps_blk_table(&db->sch, b->txn, slot, 1, &t, err)))
        return rc;
    ps_chunk_rec c = {id, h->mint, h->app.t, h->buf, h->app.len};
    if ((rc = ps_chunk_put(&db->sch, b->txn, t, &c, err)))
        return rc;
    return block_account(b, blk, h->app.n, 1, h->app.len, err);
}

/* Record the block of a series' newest data (lastblk), replacing the old one. */
static promstore_status move_lastblk(batch *b, uint64_t id, int had_old, int64_t old_blk,
                                     int64_t new_blk, promstore_error *err)
{
    ps_schema *s = &b->db->sch;
    if (had_old) {
        if (old_blk == new_blk)
            return PROMSTORE_OK;
        promstore_status rc = ps_lastblk_del(s, b->txn, old_blk, id, err);
        if (rc && rc != PROMSTORE_E_NOT_FOUND)
            return rc;
    }
    return ps_lastblk_put(s, b->txn, new_blk, id, err);
}

/* Start a fresh head chunk holding one sample. */
static promstore_status head_start(batch *b, uint64_t id, head *h, int64_t t, uint64_t v,
                                   promstore_error *err)
{
    int had = h->present;
    int64_t old_blk = had ? ps_block_of(h->mint, b->db->block_ms) : 0;
    ps_xor_appender_init(&h->app, h->buf, sizeof h->buf);
    ps_xor_append(&h->app, t, v); /* an empty chunk always has room */
    h->mint = t;
    h->present = 1;
    h->dirty = 1;
    b->stats.chunks++;
    return move_lastblk(b, id, had, old_blk, ps_block_of(t, b->db->block_ms), err);
}

/* --- looking up an existing sample (duplicates, out-of-order) ------------- */

static int find_in_chunk(const uint8_t *buf, size_t len, int64_t t, uint64_t *v)
{
    ps_xor_iter it;
    int64_t st;
    uint64_t sv;
    if (ps_xor_iter_init(&it, buf, len) != 0)
        return 0;
    while (ps_xor_iter_next(&it, &st, &sv) == 1) {
        if (st == t) {
            *v = sv;
            return 1;
        }
        if (st > t)
            return 0;
    }
    return 0;
}

/* Is there a stored sample of series id at time t? 1 and *v, 0, or <0 error. */
static promstore_status stored_sample(batch *b, uint64_t id, const head *h, int64_t t,
                                      int *found, uint64_t *v, promstore_error *err)
{
    promstore *db = b->db;
    ps_schema *s = &db->sch;
    *found = 0;
    if (h->present && t >= h->mint && find_in_chunk(h->buf, h->app.len, t, v)) {
        *found = 1;
        return PROMSTORE_OK;
    }
    /*
     * Out-of-order samples may sit anywhere before the newest one. An entry
     * that does not decode is no sample, as a missing one (the same with the
     * block record below, read for its slot).
     */
    int64_t blk = ps_block_of(t, db->block_ms);
    ps_rec r;
    ps_bad bad;
    promstore_status rc =
        ps_rec_get(s, b->txn, PS_T_OOO, &(ps_rec){.ooo = {blk, id, t, 0}}, &r, &bad, err);
    if (rc == PROMSTORE_OK && !bad.what) {
        *found = 1;
        *v = r.ooo.value;
        return PROMSTORE_OK;
    }
    if (rc && rc != PROMSTORE_E_NOT_FOUND)
        return rc;
    if (h->present && t >= h->mint)
        return PROMSTORE_OK; /* not in the head, and sealed chunks end before it */
    rc = ps_rec_get(s, b->txn, PS_T_BLOCKS, &(ps_rec){.block = {.blk = blk}}, &r, &bad, err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return PROMSTORE_OK;
    ps_table tbl;
    if (rc || (rc = ps_blk_table(s, b->txn, r.block.slot, 1, &tbl, err)))
        return rc;
    /* The series' chunks in this block, from its first: the one ending at or after t. */
    ps_scan sc;
    ps_scan_open_blk(&sc, s, b->txn, tbl, PS_SCAN_END_AT_BAD_KEY, err);
    ps_scan_seek(&sc, &(ps_rec){.chunk = {.id = id, .mint = INT64_MIN}}, 1);
    while (ps_scan_next(&sc)) {
        const ps_chunk_rec *c = &ps_scan_at(&sc)->chunk;
        if (c->mint > t)
            break;
        if (!ps_scan_bad(&sc) && c->maxt >= t) {
            *found = find_in_chunk(c->data, c->len, t, v);
            break;
        }
    }
    return ps_scan_close(&sc);
}

/* --- one sample -------------------------------------------------------------- */

/*
 * Count a refused sample; the first one of the batch becomes its error,
 * "<why>: sample at <t>, <bound_name> <bound>, in series {...}".
 */
static void reject(batch *b, const prepared *p, const char *why, int64_t t,
                   const char *bound_name, int64_t bound)
{
    b->res.samples_rejected++;
    if (b->first_reject != PROMSTORE_OK)
        return;
    char desc[512];
    b->first_reject = ps_fail(&b->reject_err, PROMSTORE_E_OUT_OF_ORDER,
                              "%s: sample at %lld, %s %lld, in series %s", why, (long long)t,
                              bound_name, (long long)bound,
                              ps_labels_format(p->labels, p->n_labels, desc, sizeof desc));
}

static void reject_old(batch *b, const prepared *p, const char *why, int64_t t, int64_t newest)
{
    reject(b, p, why, t, "newest is", newest);
}

/* A sample past future_limit; the message gives the limit and how it is made. */
static void reject_future(batch *b, const prepared *p, int64_t t)
{
    char why[96] = "";
    if (b->first_reject == PROMSTORE_OK) /* only the first refusal is written out */
        snprintf(why, sizeof why, "sample too far in the future (more than %lld ms past the clock)",
                 (long long)b->db->max_future_ms);
    reject(b, p, why, t, "limit is", b->future_limit);
}

static promstore_status put_ooo(batch *b, uint64_t id, int64_t t, uint64_t v, promstore_error *err)
{
    ps_ooo_rec o = {ps_block_of(t, b->db->block_ms), id, t, v};
    return ps_ooo_put(&b->db->sch, b->txn, &o, err);
}

static promstore_status append_sample(batch *b, const prepared *p, uint64_t id, head *h,
                                      int64_t t, uint64_t v, promstore_error *err)
{
    promstore *db = b->db;
    promstore_status rc;
    if (!h->present || t > h->app.t) {
        int cut = h->present &&
                  (h->app.n >= PS_CHUNK_SAMPLES || h->app.len >= PS_CHUNK_MAX_BYTES ||
                   ps_block_of(t, db->block_ms) != ps_block_of(h->mint, db->block_ms));
        if (h->present && !cut && ps_xor_append(&h->app, t, v) == 0) {
            h->dirty = 1;
        } else {
            if (h->present && (rc = head_seal(b, id, h, err)))
                return rc;
            if ((rc = head_start(b, id, h, t, v, err)))
                return rc;
        }
        b->res.samples_appended++;
        b->stats.samples++;
        if (b->stats.samples == 1 || t > b->stats.max_time)
            b->stats.max_time = t;
        if (b->stats.samples == 1 || t < b->stats.min_time)
            b->stats.min_time = t;
        return PROMSTORE_OK;
    }
    int found = 0;
    uint64_t old = 0;
    if ((rc = stored_sample(b, id, h, t, &found, &old, err)))
        return rc;
    if (found) {
        if (old == v)
            b->res.samples_duplicate++;
        else
            reject_old(b, p, "duplicate timestamp with a different value", t, h->app.t);
        return PROMSTORE_OK;
    }
    if (db->ooo_window_ms == 0 || t < ps_sat_sub(h->app.t, db->ooo_window_ms)) {
        reject_old(b, p, db->ooo_window_ms ? "sample older than the out-of-order window"
                                           : "out-of-order sample",
                   t, h->app.t);
        return PROMSTORE_OK;
    }
    if ((rc = put_ooo(b, id, t, v, err)))
        return rc;
    b->res.samples_appended++;
    b->stats.samples++;
    if (t < b->stats.min_time)
        b->stats.min_time = t;
    return PROMSTORE_OK;
}

static promstore_status append_series(batch *b, const prepared *p, const promstore_series *s,
                                      head *h, promstore_error *err)
{
    /*
     * A series without samples (Prometheus sends exemplar-only entries) is
     * not created: a series exists only while it has data.
     */
    if (s->n_samples == 0)
        return PROMSTORE_OK;
    /* Samples from a clock far ahead go first, and a series left with none is not created. */
    size_t n_in_time = 0;
    for (size_t i = 0; i < s->n_samples; i++) {
        if (s->samples[i].timestamp_ms > b->future_limit)
            reject_future(b, p, s->samples[i].timestamp_ms);
        else
            n_in_time++;
    }
    if (n_in_time == 0)
        return PROMSTORE_OK;
    uint64_t id = 0;
    ps_cache_slot *slot = NULL;
    promstore_status rc = resolve_series(b, p, &id, &slot, err);
    if (rc)
        return rc;
    if ((rc = head_load(b, id, slot, h, err)))
        return rc;
    for (size_t i = 0; i < s->n_samples; i++) {
        if (s->samples[i].timestamp_ms > b->future_limit)
            continue;
        rc = append_sample(b, p, id, h, s->samples[i].timestamp_ms, s->samples[i].value_bits, err);
        if (rc)
            return rc;
    }
    return h->dirty ? head_save(b, id, slot, h, err) : PROMSTORE_OK;
}

/* --- the call ------------------------------------------------------------------ */

static promstore_status abi_append(promstore *db, const promstore_series *series, size_t n_series,
                                  promstore_append_result *result, promstore_error *err)
{
    if (!ps_store_ok(db) || (series == NULL && n_series > 0))
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_append: bad handle or NULL series");
    if (result && result->struct_size < sizeof(size_t))
        return ps_fail(err, PROMSTORE_E_INVALID, "append result struct_size is too small");

    if (result) {
        size_t size = result->struct_size;
        memset(result, 0, size < sizeof *result ? size : sizeof *result);
        result->struct_size = size;
    }
    prepared *prep = ps_calloc(n_series ? n_series : 1, sizeof *prep);
    promstore_label *labels_mem = NULL;
    uint8_t *keys_mem = NULL;
    head *h = ps_malloc(sizeof *h);
    promstore_status rc = PROMSTORE_OK;
    if (prep == NULL || h == NULL) {
        rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a batch of %zu series", n_series);
        goto out;
    }
    if ((rc = prepare_batch(db, series, n_series, prep, &labels_mem, &keys_mem, err)))
        goto out;

    batch b;
    memset(&b, 0, sizeof b);
    b.db = db;
    pthread_mutex_lock(&db->write_mu);
    b.future_limit = db->max_future_ms ? ps_sat_add(ps_wall_clock_ms(), db->max_future_ms)
                                       : INT64_MAX;
    uint64_t next_id_before = db->next_id;
    rc = ps_txn_begin(&db->sch, 1, &b.txn, err);
    if (rc == PROMSTORE_OK)
        rc = ps_stats_read(db, b.txn, &b.stats, err);
    for (size_t i = 0; rc == PROMSTORE_OK && i < n_series; i++)
        rc = append_series(&b, &prep[i], &series[i], h, err);
    if (rc == PROMSTORE_OK && db->next_id != next_id_before)
        rc = ps_meta_u64_put(&db->sch, b.txn, PS_META_NEXT_ID, db->next_id, err);
    if (rc == PROMSTORE_OK)
        rc = ps_stats_put(&db->sch, b.txn, &b.stats, err);
    if (rc == PROMSTORE_OK) {
        rc = ps_txn_commit(&db->sch, b.txn, err);
    } else if (b.txn) {
        ps_txn_abort(&db->sch, b.txn);
    }
    if (rc != PROMSTORE_OK) {
        /* Nothing of the batch is stored: forget the series it created. */
        db->next_id = next_id_before;
        ps_cache_clear(&db->cache);
        memset(&b.res, 0, sizeof b.res);
    } else {
        /* What the maintenance thread's time retention cuts from. */
        db->has_samples = b.stats.samples > 0;
        db->newest_ms = b.stats.max_time;
        if (b.first_reject != PROMSTORE_OK) {
            rc = b.first_reject;
            if (err)
                *err = b.reject_err;
        }
    }
    pthread_mutex_unlock(&db->write_mu);
    /* Retention runs in the maintenance thread: a commit (or a full disk) wakes it. */
    if (rc == PROMSTORE_OK || rc == PROMSTORE_E_OUT_OF_ORDER || rc == PROMSTORE_E_FULL)
        ps_maint_poke(db);
    if (result) {
        size_t keep = result->struct_size < sizeof b.res ? result->struct_size : sizeof b.res;
        b.res.struct_size = result->struct_size;
        memcpy(result, &b.res, keep);
    }
out:
    ps_free(prep);
    ps_free(labels_mem);
    ps_free(keys_mem);
    ps_free(h);
    return rc;
}

promstore_status promstore_append(promstore *db, const promstore_series *series, size_t n_series,
                                  promstore_append_result *result, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_append(db, series, n_series, result, PS_LOCAL_ERR));
}
