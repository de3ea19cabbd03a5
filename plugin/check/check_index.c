/*
 * check_index.c -- promstore_check(), the index side: each series' labels and
 * the entries it must have (series_key, postings), then the walks of
 * postings, series_key, lastblk and ooo that find entries no series accounts
 * for (check.c, note 3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "keys.h"

/* --- one series: its labels and its index entries ----------------------------------- */

static void check_label_set(ps_checker *c, uint64_t id)
{
    const ps_labelbuf *lb = &c->lb;
    if (lb->n == 0) {
        ps_check_problem(c, "series", id, PS_NB, "series %llu has an empty label set",
                         (unsigned long long)id);
        return;
    }
    for (size_t i = 0; i < lb->n; i++) {
        const promstore_label *l = &lb->labels[i];
        char name[96];
        ps_name_format(l->name, l->name_len, name, sizeof name);
        if (l->name_len == 0)
            ps_check_problem(c, "series", id, PS_NB, "series %llu%s has a label with an empty name",
                             (unsigned long long)id, ps_check_desc(c));
        if (l->value_len == 0)
            ps_check_problem(
                c, "series", id, PS_NB,
                "series %llu%s: label %s has an empty value (the engine drops such labels)",
                (unsigned long long)id, ps_check_desc(c), name);
        if (!ps_utf8_valid(l->name, l->name_len) || !ps_utf8_valid(l->value, l->value_len))
            ps_check_problem(c, "series", id, PS_NB, "series %llu%s: label %s is not valid UTF-8",
                             (unsigned long long)id, ps_check_desc(c), name);
        if (i > 0) {
            const promstore_label *p = &lb->labels[i - 1];
            size_t n = p->name_len < l->name_len ? p->name_len : l->name_len;
            int cmp = memcmp(p->name, l->name, n);
            if (cmp > 0 || (cmp == 0 && p->name_len >= l->name_len))
                ps_check_problem(
                    c, "series", id, PS_NB,
                    "series %llu%s: labels are not sorted by name or a name repeats (%s): "
                    "look-ups by labels cannot find it",
                    (unsigned long long)id, ps_check_desc(c), name);
        }
    }
}

/* series_key: the entry for this series' labels must list its id. */
static promstore_status check_series_key(ps_checker *c, uint64_t id, const uint8_t *key,
                                         size_t klen)
{
    uint8_t skey[PS_SKEY_MAX + 8];
    size_t sl = ps_skey_encode(key, klen, skey);
    const void *v;
    size_t vl;
    promstore_status rc = c->bm->get(c->txn, c->t[PS_CT_SERIES_KEY], skey, sl, &v, &vl, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND) {
        ps_check_problem(
            c, "series_key", id, PS_NB,
            "no entry for the labels of series %llu%s: appending to these labels would "
            "create a second series",
            (unsigned long long)id, ps_check_desc(c));
        return PROMSTORE_OK;
    }
    if (rc)
        return ps_check_read_failed(c, "series_key", rc);
    if (vl == 0 || vl % 8 != 0)
        return PROMSTORE_OK; /* the walk of series_key reports the value */
    const uint8_t *ids = v;
    for (size_t i = 0; i < vl; i += 8)
        if (ps_get_u64(ids + i) == id) {
            c->skey_found++;
            if (sl == klen && klen < PS_SKEY_MAX && vl != 8)
                ps_check_problem(
                    c, "series_key", id, PS_NB,
                    "the entry for the labels of series %llu%s lists %zu ids, but a key "
                    "shorter than a cut key names one series only",
                    (unsigned long long)id, ps_check_desc(c), vl / 8);
            return PROMSTORE_OK;
        }
    ps_check_problem(
        c, "series_key", id, PS_NB,
        "the entry for the labels of series %llu%s names series %llu%s instead: look-ups "
        "by these labels find the wrong series",
        (unsigned long long)id, ps_check_desc(c), (unsigned long long)ps_get_u64(ids),
        vl > 8 ? " and others" : "");
    return PROMSTORE_OK;
}

/* postings: one entry per label pair, plus the all-series pair. */
static promstore_status check_postings_of(ps_checker *c, uint64_t id)
{
    uint8_t pk[PS_BACKEND_MAX_KEY];
    for (size_t i = 0; i <= c->lb.n && !c->halt; i++) {
        const char *n = "", *val = "";
        size_t nl = 0, vl = 0;
        if (i < c->lb.n) {
            n = c->lb.labels[i].name, nl = c->lb.labels[i].name_len;
            val = c->lb.labels[i].value, vl = c->lb.labels[i].value_len;
        }
        size_t pl = ps_pair_encode(n, nl, val, vl, pk, PS_PAIR_MAX);
        char text[160];
        if (pl == 0) {
            ps_check_problem(c, "series", id, PS_NB,
                             "series %llu%s: label %s is too long for a postings key",
                             (unsigned long long)id, ps_check_desc(c),
                             ps_check_pair_text(n, nl, val, vl, text, sizeof text));
            continue;
        }
        ps_put_u64(pk + pl, id);
        const void *v;
        size_t vlen;
        promstore_status rc =
            c->bm->get(c->txn, c->t[PS_CT_POSTINGS], pk, pl + 8, &v, &vlen, c->err);
        if (rc == PROMSTORE_OK) {
            c->post_found++;
        } else if (rc == PROMSTORE_E_NOT_FOUND) {
            ps_check_problem(c, "postings", id, PS_NB,
                             "no entry %s for series %llu%s: queries matching it miss the series",
                             ps_check_pair_text(n, nl, val, vl, text, sizeof text),
                             (unsigned long long)id, ps_check_desc(c));
        } else {
            return ps_check_read_failed(c, "postings", rc);
        }
    }
    return PROMSTORE_OK;
}

promstore_status ps_check_series_index(ps_checker *c, uint64_t id, const uint8_t *key, size_t klen)
{
    c->have_desc = 0;
    c->have_prev = 0;
    int d = ps_labelbuf_decode(&c->lb, key, klen);
    if (d == -2)
        return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory for a label set of %zu bytes", klen);
    c->labels_ok = d == 0 ? 1 : -1;
    if (d != 0) {
        ps_check_problem(c, "series", id, PS_NB,
                         "the labels key of series %llu (%zu bytes) does not decode: bad escape or "
                         "unterminated string",
                         (unsigned long long)id, klen);
        return PROMSTORE_OK;
    }
    check_label_set(c, id);
    promstore_status rc = check_series_key(c, id, key, klen);
    if (rc == PROMSTORE_OK && !c->halt)
        rc = check_postings_of(c, id);
    return rc;
}

/* --- walks of the other tables (note 3) ------------------------------------------------- */

/* Labels of series id into c->other; 1 if it decodes, 0 if not, <0 on error. */
static int other_labels(ps_checker *c, uint64_t id, const void **key, size_t *klen)
{
    uint8_t idk[8];
    ps_put_u64(idk, id);
    promstore_status rc = c->bm->get(c->txn, c->t[PS_CT_SERIES], idk, 8, key, klen, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    int d = ps_labelbuf_decode(&c->other, *key, *klen);
    if (d == -2)
        return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory for a label set");
    return d == 0;
}

/* Split a postings key into name, value and id; 0, or -1 if malformed. */
static int parse_pair(const uint8_t *k, size_t kl, char *name, long *nl, char *value, long *vl,
                      uint64_t *id)
{
    size_t pos = 0;
    if (kl < 10 || kl > PS_BACKEND_MAX_KEY + 31)
        return -1;
    if ((*nl = ps_key_string_decode(k, kl - 8, &pos, name)) < 0 ||
        (*vl = ps_key_string_decode(k, kl - 8, &pos, value)) < 0 || pos != kl - 8)
        return -1;
    *id = ps_get_u64(k + kl - 8);
    return 0;
}

/*
 * Walk postings. First pass: entry syntax, the id exists, count (note 3).
 * Detail pass: each entry of an existing series names one of its pairs.
 */
promstore_status ps_check_walk_postings(ps_checker *c, int detail)
{
    ps_cursor *cur = NULL;
    const void *k, *v;
    size_t kl, vl;
    char name[PS_BACKEND_MAX_KEY + 32], value[PS_BACKEND_MAX_KEY + 32], text[200];
    promstore_status rc = c->bm->cursor_open(c->txn, c->t[PS_CT_POSTINGS], &cur, c->err);
    if (rc)
        return ps_check_read_failed(c, "postings", rc);
    for (rc = c->bm->cursor_first(cur, &k, &kl, &v, &vl, c->err); rc == PROMSTORE_OK && !c->halt;
         rc = c->bm->cursor_next(cur, &k, &kl, &v, &vl, c->err)) {
        long nl, val_len;
        uint64_t id;
        if (!detail)
            c->sum.postings++;
        if (parse_pair(k, kl, name, &nl, value, &val_len, &id) != 0) {
            if (!detail)
                ps_check_problem(c, "postings", 0, PS_NB,
                                 "entry of %zu bytes is not an escaped name, value and series id",
                                 kl);
            continue;
        }
#define TEXT ps_check_pair_text(name, (size_t)nl, value, (size_t)val_len, text, sizeof text)
        if (!detail) {
            if ((nl == 0) != (val_len == 0))
                ps_check_problem(c, "postings", id, PS_NB,
                                 "entry %s for series %llu has an empty %s", TEXT,
                                 (unsigned long long)id, nl == 0 ? "name" : "value");
            if (ps_check_has_id(c, id))
                c->post_listed++;
            else
                ps_check_problem(
                    c, "postings", id, PS_NB,
                    "entry %s names series %llu, which is not in the series index: queries "
                    "matching it look up a series that does not exist",
                    TEXT, (unsigned long long)id);
            continue;
        }
        if (!ps_check_has_id(c, id) || (nl == 0 && val_len == 0))
            continue;
        const void *key;
        size_t klen;
        int ok = other_labels(c, id, &key, &klen);
        if (ok < 0) {
            c->bm->cursor_close(cur);
            return ok;
        }
        if (ok == 0)
            continue;
        int has = 0;
        for (size_t i = 0; i < c->other.n && !has; i++) {
            const promstore_label *l = &c->other.labels[i];
            has = l->name_len == (size_t)nl && l->value_len == (size_t)val_len &&
                  memcmp(l->name, name, (size_t)nl) == 0 &&
                  memcmp(l->value, value, (size_t)val_len) == 0;
        }
        if (!has) {
            char other[256];
            ps_check_problem(
                c, "postings", id, PS_NB,
                "entry %s names series %llu %s, which has no such label: queries matching "
                "it return the wrong series",
                TEXT, (unsigned long long)id,
                ps_labels_format(c->other.labels, c->other.n, other, sizeof other));
        }
#undef TEXT
    }
    c->bm->cursor_close(cur);
    if (rc == PROMSTORE_DONE || rc == PROMSTORE_OK)
        return PROMSTORE_OK;
    return ps_check_read_failed(c, "postings", rc);
}

/* A series_key key for messages: its labels, or what it is. */
static const char *skey_text(ps_checker *c, const uint8_t *k, size_t kl, char *buf, size_t cap)
{
    if (kl == PS_SKEY_PREFIX + 8 && ps_labelbuf_decode(&c->other, k, kl) != 0)
        snprintf(buf, cap, "(the cut key of a long label set)");
    else if (ps_labelbuf_decode(&c->other, k, kl) != 0)
        snprintf(buf, cap, "(a key that does not decode)");
    else
        ps_labels_format(c->other.labels, c->other.n, buf, cap);
    return buf;
}

/*
 * Walk series_key. First pass: shape, ids exist, count. Detail pass: each
 * listed existing series has labels whose key is this entry's key.
 */
promstore_status ps_check_walk_series_key(ps_checker *c, int detail)
{
    ps_cursor *cur = NULL;
    const void *k, *v;
    size_t kl, vl;
    char text[256], other[256];
    promstore_status rc = c->bm->cursor_open(c->txn, c->t[PS_CT_SERIES_KEY], &cur, c->err);
    if (rc)
        return ps_check_read_failed(c, "series_key", rc);
    for (rc = c->bm->cursor_first(cur, &k, &kl, &v, &vl, c->err); rc == PROMSTORE_OK && !c->halt;
         rc = c->bm->cursor_next(cur, &k, &kl, &v, &vl, c->err)) {
        const uint8_t *ids = v;
        if (kl > PS_SKEY_MAX || vl == 0 || vl % 8 != 0) {
            if (!detail)
                ps_check_problem(
                    c, "series_key", vl >= 8 ? ps_get_u64(ids) : 0, PS_NB,
                    "entry with a key of %zu bytes (at most %d) and a value of %zu bytes "
                    "(a list of 8-byte ids)",
                    kl, PS_SKEY_MAX, vl);
            continue;
        }
        for (size_t i = 0; i < vl && !c->halt; i += 8) {
            uint64_t id = ps_get_u64(ids + i);
            if (!detail) {
                if (ps_check_has_id(c, id))
                    c->skey_listed++;
                else
                    ps_check_problem(
                        c, "series_key", id, PS_NB,
                        "the entry for %s names series %llu, which is not in the series "
                        "index",
                        skey_text(c, k, kl, text, sizeof text), (unsigned long long)id);
                continue;
            }
            if (!ps_check_has_id(c, id))
                continue;
            for (size_t j = 0; j < i; j += 8)
                if (ps_get_u64(ids + j) == id)
                    ps_check_problem(
                        c, "series_key", id, PS_NB, "the entry for %s lists series %llu twice",
                        skey_text(c, k, kl, text, sizeof text), (unsigned long long)id);
            /* Cursor bytes stay valid across look-ups (backend.h). */
            const void *full;
            size_t flen;
            uint8_t want[PS_SKEY_MAX + 8];
            int ok = other_labels(c, id, &full, &flen);
            if (ok < 0) {
                c->bm->cursor_close(cur);
                return ok;
            }
            if (ok == 0)
                continue;
            size_t wl = ps_skey_encode(full, flen, want);
            if (wl != kl || memcmp(want, k, kl) != 0) {
                ps_labels_format(c->other.labels, c->other.n, other, sizeof other);
                ps_check_problem(
                    c, "series_key", id, PS_NB,
                    "the entry for %s names series %llu, whose labels are %s: look-ups by "
                    "those labels find the wrong series",
                    skey_text(c, k, kl, text, sizeof text), (unsigned long long)id, other);
            }
        }
    }
    c->bm->cursor_close(cur);
    if (rc == PROMSTORE_DONE || rc == PROMSTORE_OK)
        return PROMSTORE_OK;
    return ps_check_read_failed(c, "series_key", rc);
}

/* Block of series id's open chunk: 1 and *blk, 0 without one, <0 on error. */
static int head_block(ps_checker *c, uint64_t id, int64_t *blk)
{
    uint8_t idk[8];
    const void *v;
    size_t vl;
    ps_put_u64(idk, id);
    promstore_status rc = c->bm->get(c->txn, c->t[PS_CT_HEAD], idk, 8, &v, &vl, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND || (rc == PROMSTORE_OK && vl < 8))
        return 0;
    if (rc)
        return rc;
    *blk = ps_block_of(ps_get_time(v), c->block_ms);
    return 1;
}

/*
 * Walk lastblk. First pass: shape, ids exist, count. Detail pass: each entry
 * of an existing series is the block of its open chunk.
 */
promstore_status ps_check_walk_lastblk(ps_checker *c, int detail)
{
    ps_cursor *cur = NULL;
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = c->bm->cursor_open(c->txn, c->t[PS_CT_LASTBLK], &cur, c->err);
    if (rc)
        return ps_check_read_failed(c, "lastblk", rc);
    for (rc = c->bm->cursor_first(cur, &k, &kl, &v, &vl, c->err); rc == PROMSTORE_OK && !c->halt;
         rc = c->bm->cursor_next(cur, &k, &kl, &v, &vl, c->err)) {
        if (kl != 16) {
            if (!detail)
                ps_check_problem(c, "lastblk", 0, PS_NB,
                                 "key of %zu bytes, not 16 (block + series id)", kl);
            continue;
        }
        int64_t blk = ps_get_time(k);
        uint64_t id = ps_get_u64((const uint8_t *)k + 8);
        if (!detail) {
            if (ps_check_has_id(c, id))
                c->last_listed++;
            else
                ps_check_problem(c, "lastblk", id, ps_check_bstart(c, blk),
                                 "entry names series %llu, which is not in the series index",
                                 (unsigned long long)id);
            continue;
        }
        if (!ps_check_has_id(c, id))
            continue;
        int64_t hb = 0;
        int h = head_block(c, id, &hb);
        if (h < 0) {
            c->bm->cursor_close(cur);
            return h;
        }
        if (h == 0 || hb != blk)
            ps_check_problem(
                c, "lastblk", id, ps_check_bstart(c, blk),
                "entry for series %llu, whose open chunk is %s: retention drops the series "
                "at the wrong time",
                (unsigned long long)id, h == 0 ? "missing" : "in another block");
    }
    c->bm->cursor_close(cur);
    if (rc == PROMSTORE_DONE || rc == PROMSTORE_OK)
        return PROMSTORE_OK;
    return ps_check_read_failed(c, "lastblk", rc);
}

/* Walk ooo: out-of-order samples, filed under their block and series. */
promstore_status ps_check_walk_ooo(ps_checker *c)
{
    ps_cursor *cur = NULL;
    const void *k, *v;
    size_t kl, vl;
    uint64_t orphan = 0;
    promstore_status rc = c->bm->cursor_open(c->txn, c->t[PS_CT_OOO], &cur, c->err);
    if (rc)
        return ps_check_read_failed(c, "ooo", rc);
    for (rc = c->bm->cursor_first(cur, &k, &kl, &v, &vl, c->err); rc == PROMSTORE_OK && !c->halt;
         rc = c->bm->cursor_next(cur, &k, &kl, &v, &vl, c->err)) {
        if (kl != 24 || vl != 8) {
            ps_check_problem(c, "ooo", kl >= 16 ? ps_get_u64((const uint8_t *)k + 8) : 0, PS_NB,
                             "entry of %zu/%zu bytes (key/value), not 24/8", kl, vl);
            continue;
        }
        int64_t blk = ps_get_time(k), t = ps_get_time((const uint8_t *)k + 16);
        uint64_t id = ps_get_u64((const uint8_t *)k + 8);
        c->sum.samples++;
        c->sum.ooo_samples++;
        c->n_samples++;
        ps_check_note_time(c, t, t);
        if (ps_block_of(t, c->block_ms) != blk)
            ps_check_problem(c, "ooo", id, ps_check_bstart(c, blk),
                             "out-of-order sample at %lld of series %llu is filed under the block "
                             "starting %lld, not its own: queries of its time miss it",
                             (long long)t, (unsigned long long)id,
                             (long long)ps_check_bstart(c, blk));
        if (!ps_check_has_id(c, id) && id != orphan) {
            orphan = id;
            ps_check_problem(
                c, "ooo", id, ps_check_bstart(c, blk),
                "out-of-order samples of series %llu, which is not in the series index",
                (unsigned long long)id);
        }
    }
    c->bm->cursor_close(cur);
    if (rc == PROMSTORE_DONE || rc == PROMSTORE_OK)
        return PROMSTORE_OK;
    return ps_check_read_failed(c, "ooo", rc);
}
