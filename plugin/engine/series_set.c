/* series_set.c -- see series_set.h. */
#define _GNU_SOURCE /* qsort_r */
#include "series_set.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Record a failure; next() returns 0 from then on. */
static int set_fail(ps_series_set *ss, promstore_status rc)
{
    ss->rc = rc;
    return 0;
}

static promstore_status push_key(ps_series_set *ss, uint64_t id, const void *key, size_t klen)
{
    size_t off = ss->keys.len;
    if (PS_GROW(ss->pend, ss->pend_cap, ss->n_pend + 1) || ps_buf_append(&ss->keys, key, klen))
        return ps_fail(&ss->error, PROMSTORE_E_NOMEM, "no memory for query keys");
    ss->pend[ss->n_pend++] = (ps_set_key){id, off, klen};
    return PROMSTORE_OK;
}

/* Full labels keys in byte order, which is labels.Compare order (labels.h). */
static int cmp_key(const void *a, const void *b, void *keys)
{
    const ps_set_key *x = a, *y = b;
    const uint8_t *k = keys;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(k + x->off, k + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void sort_keys(ps_series_set *ss)
{
    if (ss->n_pend > 1)
        qsort_r(ss->pend, ss->n_pend, sizeof *ss->pend, cmp_key, ss->keys.data);
}

static promstore_status fetch_full_key(ps_series_set *ss, uint64_t id)
{
    ps_series_rec r;
    promstore_status rc = ps_series_get(ss->s, ss->txn, id, &r, &ss->error);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return PROMSTORE_OK; /* the id was never committed */
    return rc ? rc : push_key(ss, id, r.key, r.key_len);
}

/* Small selection: every id, its key, sorted. */
static promstore_status load_small(ps_series_set *ss)
{
    for (uint64_t w = 0; w < (ss->sel.nbits + 63) / 64; w++) {
        for (uint64_t bits = ss->sel.words[w]; bits; bits &= bits - 1) {
            promstore_status rc = fetch_full_key(ss, w * 64 + (uint64_t)__builtin_ctzll(bits));
            if (rc)
                return rc;
        }
    }
    sort_keys(ss);
    return PROMSTORE_OK;
}

/*
 * Large selection: refill pend from the next series_key entries, until they
 * yield a selected id or the walk ends. An entry is handed out on its own,
 * unless its key is longer than PS_SKEY_PREFIX: then it and the entries
 * after it sharing those first bytes, and as long, are gathered and sorted
 * by their full keys, because a cut key among them sorts by its hash
 * (series_set.h, note 1). A whole key of such a group (not cut, so not
 * shared) is its own full key.
 */
static promstore_status refill_walk(ps_series_set *ss)
{
    ss->n_pend = ss->pos = ss->keys.len = 0;
    uint8_t prefix[PS_SKEY_PREFIX];
    int in_group = 0;
    promstore_status rc = PROMSTORE_OK;
    while (rc == PROMSTORE_OK && ps_scan_next(&ss->scan)) {
        const ps_skey_rec *r = &ps_scan_at(&ss->scan)->skey;
        int long_key = r->skey_len > PS_SKEY_PREFIX;
        if (in_group && (!long_key || memcmp(r->skey, prefix, PS_SKEY_PREFIX) != 0)) {
            if (ss->n_pend) {
                ps_scan_unread(&ss->scan); /* the first of the next refill */
                break;
            }
            in_group = 0; /* nothing of the group was selected: go on from here */
        }
        /* The record's bytes stay valid across the look-ups: the scan does not move. */
        for (size_t i = 0; i < r->n_ids && rc == PROMSTORE_OK; i++) {
            uint64_t id = ps_skey_id(r, i);
            if (ps_bitmap_has(&ss->sel, id))
                rc = r->shared ? fetch_full_key(ss, id) : push_key(ss, id, r->skey, r->skey_len);
        }
        if (long_key && !in_group) {
            memcpy(prefix, r->skey, PS_SKEY_PREFIX);
            in_group = 1;
        } else if (!in_group && ss->n_pend) {
            break;
        }
    }
    if (rc == PROMSTORE_OK)
        rc = ps_scan_err(&ss->scan);
    if (rc == PROMSTORE_OK && in_group)
        sort_keys(ss);
    return rc;
}

void ps_series_set_open(ps_series_set *ss, ps_schema *s, ps_txn *txn, ps_bitmap *sel,
                        uint64_t small_max)
{
    memset(ss, 0, sizeof *ss);
    ss->s = s;
    ss->txn = txn;
    ss->sel = *sel;
    *sel = (ps_bitmap){0};
    if (ps_bitmap_count(&ss->sel) <= small_max) {
        ss->rc = load_small(ss);
        ps_bitmap_free(&ss->sel); /* the keys are all that is left to hand out */
        return;
    }
    ss->walk = 1;
    ps_scan_open(&ss->scan, s, txn, PS_T_SERIES_KEY, PS_SCAN_FAIL_BAD, &ss->error);
    ss->rc = ps_scan_err(&ss->scan);
}

int ps_series_set_next(ps_series_set *ss)
{
    if (ss->rc)
        return 0;
    if (ss->pos == ss->n_pend) {
        if (!ss->walk)
            return 0;
        promstore_status rc = refill_walk(ss);
        if (rc)
            return set_fail(ss, rc);
        if (ss->n_pend == 0)
            return 0;
    }
    const ps_set_key *k = &ss->pend[ss->pos++];
    int rc = ps_labelbuf_decode(&ss->lb, ss->keys.data + k->off, k->len);
    if (rc != 0)
        return set_fail(ss, ps_fail(&ss->error, rc == -2 ? PROMSTORE_E_NOMEM : PROMSTORE_E_CORRUPT,
                                    "series %llu: cannot decode its labels",
                                    (unsigned long long)k->id));
    ss->at = (ps_series_ref){k->id, ss->lb.labels, ss->lb.n};
    return 1;
}

void ps_series_set_close(ps_series_set *ss)
{
    if (ss->walk)
        ps_scan_close(&ss->scan);
    ps_bitmap_free(&ss->sel);
    ps_labelbuf_free(&ss->lb);
    ps_free(ss->pend);
    ps_buf_free(&ss->keys);
    memset(ss, 0, sizeof *ss);
}
