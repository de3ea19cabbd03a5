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
    uint8_t skey[PS_SKEY_MAX];
    size_t sl = ps_skey_encode(key, klen, skey);
    ps_rec got;
    ps_bad bad;
    promstore_status rc = ps_rec_get(&c->sch, c->txn, PS_T_SERIES_KEY,
                                     &(ps_rec){.skey = {.skey = skey, .skey_len = sl}}, &got, &bad,
                                     c->err);
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
    if (bad.what)
        return PROMSTORE_OK; /* the walk of series_key reports the value */
    const ps_skey_rec *r = &got.skey;
    for (size_t i = 0; i < r->n_ids; i++)
        if (ps_skey_id(r, i) == id) {
            c->skey_found++;
            if (!r->shared && r->n_ids != 1)
                ps_check_problem(
                    c, "series_key", id, PS_NB,
                    "the entry for the labels of series %llu%s lists %zu ids, but a key "
                    "shorter than a cut key names one series only",
                    (unsigned long long)id, ps_check_desc(c), r->n_ids);
            return PROMSTORE_OK;
        }
    ps_check_problem(
        c, "series_key", id, PS_NB,
        "the entry for the labels of series %llu%s names series %llu%s instead: look-ups "
        "by these labels find the wrong series",
        (unsigned long long)id, ps_check_desc(c), (unsigned long long)ps_skey_id(r, 0),
        r->n_ids > 1 ? " and others" : "");
    return PROMSTORE_OK;
}

/* postings: one entry per label pair, plus the all-series pair. */
static promstore_status check_postings_of(ps_checker *c, uint64_t id)
{
    for (size_t i = 0; i <= c->lb.n && !c->halt; i++) {
        const promstore_label *l = i < c->lb.n ? &c->lb.labels[i] : NULL;
        char text[160];
#define TEXT                                                                                   \
    ps_check_pair_text(l ? l->name : "", l ? l->name_len : 0, l ? l->value : "",               \
                       l ? l->value_len : 0, text, sizeof text)
        promstore_status rc = ps_posting_get(&c->sch, c->txn, l, id, c->err);
        if (rc == PROMSTORE_OK)
            c->post_found++;
        else if (rc == PROMSTORE_E_BAD_LABELS)
            ps_check_problem(c, "series", id, PS_NB,
                             "series %llu%s: label %s is too long for a postings key",
                             (unsigned long long)id, ps_check_desc(c), TEXT);
        else if (rc == PROMSTORE_E_NOT_FOUND)
            ps_check_problem(c, "postings", id, PS_NB,
                             "no entry %s for series %llu%s: queries matching it miss the series",
                             TEXT, (unsigned long long)id, ps_check_desc(c));
        else
            return ps_check_read_failed(c, "postings", rc);
#undef TEXT
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
static int other_labels(ps_checker *c, uint64_t id, ps_series_rec *r)
{
    promstore_status rc = ps_series_get(&c->sch, c->txn, id, r, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    int d = ps_labelbuf_decode(&c->other, r->key, r->key_len);
    if (d == -2)
        return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory for a label set");
    return d == 0;
}

/* The end of a walk: the scan's error, corruption being a finding (check.c, note 4). */
static promstore_status walk_end(ps_checker *c, ps_scan *sc, const char *table)
{
    promstore_status rc = ps_scan_close(sc);
    return rc ? ps_check_read_failed(c, table, rc) : PROMSTORE_OK;
}

/*
 * Walk postings. First pass: entry syntax, the id exists, count (note 3).
 * Detail pass: each entry of an existing series names one of its pairs.
 */
promstore_status ps_check_walk_postings(ps_checker *c, int detail)
{
    char name[PS_BACKEND_MAX_KEY + 32], value[PS_BACKEND_MAX_KEY + 32], text[200];
    ps_scan sc;
    ps_scan_open(&sc, &c->sch, c->txn, PS_T_POSTINGS, PS_SCAN_SHOW_BAD, c->err);
    while (!c->halt && ps_scan_next(&sc)) {
        const ps_posting_rec *p = &ps_scan_at(&sc)->posting;
        size_t nl, val_len;
        uint64_t id = p->id;
        if (!detail)
            c->sum.postings++;
        if (ps_scan_bad(&sc)) {
            if (!detail)
                ps_check_problem(c, "postings", 0, PS_NB, "%s", ps_scan_bad(&sc)->why);
            continue;
        }
        if (ps_pair_decode(p->pair, p->pair_len, name, &nl, value, &val_len) != (long)p->pair_len) {
            if (!detail)
                ps_check_problem(c, "postings", 0, PS_NB,
                                 "entry of %zu bytes is not an escaped name, value and series id",
                                 ps_posting_key_len(p));
            continue;
        }
#define TEXT ps_check_pair_text(name, nl, value, val_len, text, sizeof text)
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
        ps_series_rec other;
        int ok = other_labels(c, id, &other);
        if (ok < 0) {
            ps_scan_close(&sc);
            return ok;
        }
        if (ok == 0)
            continue;
        int has = 0;
        for (size_t i = 0; i < c->other.n && !has; i++) {
            const promstore_label *l = &c->other.labels[i];
            has = l->name_len == nl && l->value_len == val_len &&
                  memcmp(l->name, name, nl) == 0 && memcmp(l->value, value, val_len) == 0;
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
    return walk_end(c, &sc, "postings");
}

/* A series_key key for messages: its labels, or what it is. */
static const char *skey_text(ps_checker *c, const ps_skey_rec *r, char *buf, size_t cap)
{
    if (r->shared && ps_labelbuf_decode(&c->other, r->skey, r->skey_len) != 0)
        snprintf(buf, cap, "(the cut key of a long label set)");
    else if (ps_labelbuf_decode(&c->other, r->skey, r->skey_len) != 0)
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
    char text[256], other[256];
    ps_scan sc;
    ps_scan_open(&sc, &c->sch, c->txn, PS_T_SERIES_KEY, PS_SCAN_SHOW_BAD, c->err);
    while (!c->halt && ps_scan_next(&sc)) {
        const ps_skey_rec *r = &ps_scan_at(&sc)->skey;
        if (ps_scan_bad(&sc)) {
            if (!detail)
                ps_check_problem(c, "series_key", r->n_ids ? ps_skey_id(r, 0) : 0, PS_NB, "%s",
                                 ps_scan_bad(&sc)->why);
            continue;
        }
        for (size_t i = 0; i < r->n_ids && !c->halt; i++) {
            uint64_t id = ps_skey_id(r, i);
            if (!detail) {
                if (ps_check_has_id(c, id))
                    c->skey_listed++;
                else
                    ps_check_problem(
                        c, "series_key", id, PS_NB,
                        "the entry for %s names series %llu, which is not in the series "
                        "index",
                        skey_text(c, r, text, sizeof text), (unsigned long long)id);
                continue;
            }
            if (!ps_check_has_id(c, id))
                continue;
            for (size_t j = 0; j < i; j++)
                if (ps_skey_id(r, j) == id)
                    ps_check_problem(
                        c, "series_key", id, PS_NB, "the entry for %s lists series %llu twice",
                        skey_text(c, r, text, sizeof text), (unsigned long long)id);
            /* The scan's bytes stay valid across look-ups (backend.h). */
            ps_series_rec full;
            uint8_t want[PS_SKEY_MAX];
            int ok = other_labels(c, id, &full);
            if (ok < 0) {
                ps_scan_close(&sc);
                return ok;
            }
            if (ok == 0)
                continue;
            size_t wl = ps_skey_encode(full.key, full.key_len, want);
            if (wl != r->skey_len || memcmp(want, r->skey, wl) != 0) {
                ps_labels_format(c->other.labels, c->other.n, other, sizeof other);
                ps_check_problem(
                    c, "series_key", id, PS_NB,
                    "the entry for %s names series %llu, whose labels are %s: look-ups by "
                    "those labels find the wrong series",
                    skey_text(c, r, text, sizeof text), (unsigned long long)id, other);
            }
        }
    }
    return walk_end(c, &sc, "series_key");
}

/*
 * Block of series id's open chunk: 1 and *blk, 0 without one, <0 on error.
 * A head value too short for its header still gives its mint (the check of
 * the head reports the rest).
 */
static int head_block(ps_checker *c, uint64_t id, int64_t *blk)
{
    ps_rec h;
    ps_bad bad;
    promstore_status rc =
        ps_rec_get(&c->sch, c->txn, PS_T_HEAD, &(ps_rec){.head = {.id = id}}, &h, &bad, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    *blk = ps_block_of(h.head.mint, c->block_ms);
    return 1;
}

/*
 * Walk lastblk. First pass: shape, ids exist, count. Detail pass: each entry
 * of an existing series is the block of its open chunk.
 */
promstore_status ps_check_walk_lastblk(ps_checker *c, int detail)
{
    ps_scan sc;
    ps_scan_open(&sc, &c->sch, c->txn, PS_T_LASTBLK, PS_SCAN_SHOW_BAD, c->err);
    while (!c->halt && ps_scan_next(&sc)) {
        if (ps_scan_bad(&sc)) {
            if (!detail)
                ps_check_problem(c, "lastblk", 0, PS_NB, "%s", ps_scan_bad(&sc)->why);
            continue;
        }
        int64_t blk = ps_scan_at(&sc)->lastblk.blk;
        uint64_t id = ps_scan_at(&sc)->lastblk.id;
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
            ps_scan_close(&sc);
            return h;
        }
        if (h == 0 || hb != blk)
            ps_check_problem(
                c, "lastblk", id, ps_check_bstart(c, blk),
                "entry for series %llu, whose open chunk is %s: retention drops the series "
                "at the wrong time",
                (unsigned long long)id, h == 0 ? "missing" : "in another block");
    }
    return walk_end(c, &sc, "lastblk");
}

/* Walk ooo: out-of-order samples, filed under their block and series. */
promstore_status ps_check_walk_ooo(ps_checker *c)
{
    uint64_t orphan = 0;
    ps_scan sc;
    ps_scan_open(&sc, &c->sch, c->txn, PS_T_OOO, PS_SCAN_SHOW_BAD, c->err);
    while (!c->halt && ps_scan_next(&sc)) {
        const ps_ooo_rec *o = &ps_scan_at(&sc)->ooo;
        if (ps_scan_bad(&sc)) {
            ps_check_problem(c, "ooo", o->id, PS_NB, "%s", ps_scan_bad(&sc)->why);
            continue;
        }
        int64_t blk = o->blk, t = o->t;
        uint64_t id = o->id;
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
    return walk_end(c, &sc, "ooo");
}
