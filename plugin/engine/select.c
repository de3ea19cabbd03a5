/* select.c -- see select.h. */
#include "select.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "labels.h"
#include "mem.h"

void ps_bitmap_free(ps_bitmap *b)
{
    ps_free(b->words);
    b->words = NULL;
    b->nbits = 0;
}

uint64_t ps_bitmap_count(const ps_bitmap *b)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < (b->nbits + 63) / 64; i++)
        n += (uint64_t)__builtin_popcountll(b->words[i]);
    return n;
}

static promstore_status bitmap_new(ps_bitmap *b, uint64_t nbits, promstore_error *err)
{
    b->nbits = nbits;
    b->words = ps_calloc((nbits + 63) / 64 + 1, sizeof *b->words);
    return b->words ? PROMSTORE_OK
                    : ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a %llu-series bitmap",
                              (unsigned long long)nbits);
}

static void bitmap_set(ps_bitmap *b, uint64_t id)
{
    if (id < b->nbits)
        b->words[id >> 6] |= UINT64_C(1) << (id & 63);
}

promstore_status ps_matchers_compile(const promstore_matcher *src, size_t n, ps_matcher **out,
                                     promstore_error *err)
{
    *out = NULL;
    if (n == 0)
        return PROMSTORE_OK;
    if (src == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "matchers is NULL with n_matchers %zu", n);
    ps_matcher *m = ps_calloc(n, sizeof *m);
    if (m == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for matchers");
    for (size_t i = 0; i < n; i++) {
        promstore_status rc = ps_matcher_compile(&m[i], &src[i], err);
        if (rc) {
            ps_matchers_free(m, i);
            return rc;
        }
    }
    *out = m;
    return PROMSTORE_OK;
}

void ps_matchers_free(ps_matcher *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        ps_matcher_free(&m[i]);
    ps_free(m);
}

/* Set the ids of every postings key that starts with prefix[0..plen). */
static promstore_status add_prefix(promstore *db, ps_txn *txn, const uint8_t *prefix, size_t plen,
                                   ps_bitmap *b, promstore_error *err)
{
    ps_cursor *c = NULL;
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = db->sch.bm->cursor_open(txn, db->sch.t[PS_T_POSTINGS], &c, err);
    for (rc = rc ? rc : db->sch.bm->cursor_seek(c, prefix, plen, &k, &kl, &v, &vl, err);
         rc == PROMSTORE_OK; rc = db->sch.bm->cursor_next(c, &k, &kl, &v, &vl, err)) {
        if (kl < plen + 8 || memcmp(k, prefix, plen) != 0)
            break;
        bitmap_set(b, ps_get_u64((const uint8_t *)k + kl - 8));
    }
    if (c)
        db->sch.bm->cursor_close(c);
    return rc == PROMSTORE_DONE ? PROMSTORE_OK : rc;
}

static promstore_status add_pair(promstore *db, ps_txn *txn, const char *name, size_t nl,
                                 const char *value, size_t vl, ps_bitmap *b, promstore_error *err)
{
    uint8_t pk[PS_BACKEND_MAX_KEY];
    size_t pl = ps_pair_encode(name, nl, value, vl, pk, PS_PAIR_MAX);
    if (pl == 0)
        return PROMSTORE_OK; /* longer than any stored pair: matches nothing */
    return add_prefix(db, txn, pk, pl, b, err);
}

/*
 * Walk postings of one label name, one distinct value at a time: after a
 * value, seek past all its keys by bumping its terminator (0x00 -> 0x01),
 * which the escaping guarantees no stored byte sequence sits between.
 */
typedef int (*value_fn)(void *ctx, const char *v, size_t vl);

promstore_status ps_each_value(promstore *db, ps_txn *txn, const char *name, size_t nlen,
                               value_fn fn, void *ctx, promstore_error *err)
{
    uint8_t seek[PS_BACKEND_MAX_KEY + 1];
    char value[PS_BACKEND_MAX_KEY];
    if (2 * nlen + 1 > PS_PAIR_MAX)
        return PROMSTORE_OK;
    size_t plen = ps_key_string_encode(name, nlen, seek);
    size_t slen = plen;
    ps_cursor *c = NULL;
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = db->sch.bm->cursor_open(txn, db->sch.t[PS_T_POSTINGS], &c, err);
    for (rc = rc ? rc : db->sch.bm->cursor_seek(c, seek, slen, &k, &kl, &v, &vl, err);
         rc == PROMSTORE_OK; rc = db->sch.bm->cursor_seek(c, seek, slen, &k, &kl, &v, &vl, err)) {
        if (kl < plen + 9 || memcmp(k, seek, plen) != 0)
            break;
        size_t pos = plen;
        long n = ps_key_string_decode(k, kl - 8, &pos, value);
        if (n < 0) {
            rc = ps_fail(err, PROMSTORE_E_CORRUPT, "malformed postings key");
            break;
        }
        value[n] = '\0';
        /* Next seek target: this pair with its last terminator bumped. */
        memcpy(seek, k, pos);
        seek[pos - 1] = 0x01;
        slen = pos;
        int r = fn(ctx, value, (size_t)n);
        if (r) {
            rc = r < 0 ? r : PROMSTORE_OK;
            goto out;
        }
    }
    if (rc == PROMSTORE_DONE)
        rc = PROMSTORE_OK;
out:
    if (c)
        db->sch.bm->cursor_close(c);
    return rc;
}

promstore_status ps_each_name(promstore *db, ps_txn *txn, value_fn fn, void *ctx,
                              promstore_error *err)
{
    uint8_t seek[PS_BACKEND_MAX_KEY + 1] = {0x00, 0x01}; /* past the ("", "") pair */
    char name[PS_BACKEND_MAX_KEY];
    size_t slen = 2;
    ps_cursor *c = NULL;
    const void *k, *v;
    size_t kl, vl;
    promstore_status rc = db->sch.bm->cursor_open(txn, db->sch.t[PS_T_POSTINGS], &c, err);
    for (rc = rc ? rc : db->sch.bm->cursor_seek(c, seek, slen, &k, &kl, &v, &vl, err);
         rc == PROMSTORE_OK; rc = db->sch.bm->cursor_seek(c, seek, slen, &k, &kl, &v, &vl, err)) {
        size_t pos = 0;
        long n = kl > 8 ? ps_key_string_decode(k, kl - 8, &pos, name) : -1;
        if (n < 0) {
            rc = ps_fail(err, PROMSTORE_E_CORRUPT, "malformed postings key");
            break;
        }
        name[n] = '\0';
        memcpy(seek, k, pos);
        seek[pos - 1] = 0x01;
        slen = pos;
        if (n == 0)
            continue; /* the all-series pair */
        int r = fn(ctx, name, (size_t)n);
        if (r) {
            rc = r < 0 ? r : PROMSTORE_OK;
            goto out;
        }
    }
    if (rc == PROMSTORE_DONE)
        rc = PROMSTORE_OK;
out:
    if (c)
        db->sch.bm->cursor_close(c);
    return rc;
}

typedef struct value_ctx {
    promstore *db;
    ps_txn *txn;
    ps_matcher *m;
    int want; /* add the ids of values where matches() == want */
    ps_bitmap *b;
    promstore_error *err;
} value_ctx;

static int add_matching_value(void *p, const char *v, size_t vl)
{
    value_ctx *c = p;
    if (ps_matcher_matches(c->m, v, vl) != c->want)
        return 0;
    promstore_status rc = add_pair(c->db, c->txn, c->m->name, c->m->name_len, v, vl, c->b, c->err);
    return rc ? (int)rc : 0;
}

/* The ids one matcher accepts (*positive = 1) or rejects (*positive = 0). */
static promstore_status matcher_set(promstore *db, ps_txn *txn, ps_matcher *m, ps_bitmap *b,
                                    int *positive, promstore_error *err)
{
    *positive = !m->matches_empty;
    if (m->type == PROMSTORE_MATCH_EQ && m->value_len > 0)
        return add_pair(db, txn, m->name, m->name_len, m->value, m->value_len, b, err);
    if (m->type == PROMSTORE_MATCH_NEQ && m->value_len > 0)
        return add_pair(db, txn, m->name, m->name_len, m->value, m->value_len, b, err);
    if (m->type == PROMSTORE_MATCH_RE && m->literals && !m->matches_empty) {
        for (size_t i = 0; i < m->n_literals; i++) {
            promstore_status rc = add_pair(db, txn, m->name, m->name_len, m->literals[i],
                                           m->literal_lens[i], b, err);
            if (rc)
                return rc;
        }
        return PROMSTORE_OK;
    }
    value_ctx c = {db, txn, m, *positive, b, err};
    return ps_each_value(db, txn, m->name, m->name_len, add_matching_value, &c, err);
}

static void bitmap_and(ps_bitmap *a, const ps_bitmap *b, int negate)
{
    for (uint64_t i = 0; i < (a->nbits + 63) / 64; i++)
        a->words[i] &= negate ? ~b->words[i] : b->words[i];
}

promstore_status ps_select(promstore *db, ps_txn *txn, ps_matcher *m, size_t n, ps_bitmap *out,
                           promstore_error *err)
{
    const void *v;
    size_t vl;
    uint64_t nbits = 1;
    promstore_status rc = db->sch.bm->get(txn, db->sch.t[PS_T_META], "next_id", 7, &v, &vl, err);
    if (rc == PROMSTORE_OK && vl == 8)
        nbits = ps_get_u64(v);
    else if (rc)
        return rc;
    ps_bitmap result = {0}, tmp = {0};
    int have_result = 0;
    if ((rc = bitmap_new(&tmp, nbits, err)))
        return rc;
    /* Positive sets first, so the result starts small; negatives after. */
    for (int pass = 0; pass < 2 && rc == PROMSTORE_OK; pass++) {
        for (size_t i = 0; i < n && rc == PROMSTORE_OK; i++) {
            if ((pass == 0) != !m[i].matches_empty)
                continue;
            if (pass == 1 && !have_result) {
                if ((rc = bitmap_new(&result, nbits, err)) ||
                    (rc = add_pair(db, txn, "", 0, "", 0, &result, err)))
                    break;
                have_result = 1;
            }
            memset(tmp.words, 0, ((nbits + 63) / 64) * sizeof *tmp.words);
            int positive;
            if ((rc = matcher_set(db, txn, &m[i], &tmp, &positive, err)))
                break;
            if (!have_result) {
                result = tmp;
                have_result = 1;
                if ((rc = bitmap_new(&tmp, nbits, err)))
                    break;
            } else {
                bitmap_and(&result, &tmp, !positive);
            }
        }
    }
    if (rc == PROMSTORE_OK && !have_result) {
        result = tmp, tmp.words = NULL;
        rc = add_pair(db, txn, "", 0, "", 0, &result, err);
    }
    ps_bitmap_free(&tmp);
    if (rc) {
        ps_bitmap_free(&result);
        return rc;
    }
    *out = result;
    return PROMSTORE_OK;
}
