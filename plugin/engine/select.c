/* select.c -- see select.h. */
#include "select.h"

#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "error.h"
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

/* The ABI allows NULL matchers only with none of them. */
static promstore_status matchers_given(const promstore_matcher *src, size_t n,
                                       promstore_error *err)
{
    if (n && src == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "matchers is NULL with n_matchers %zu", n);
    return PROMSTORE_OK;
}

static void free_each(ps_matcher *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ps_matcher_free(&m[i]);
}

/* Compile src[0..n) into m[0..n): all of them, or none (m then holds nothing to free). */
static promstore_status compile_into(ps_matcher *m, const promstore_matcher *src, size_t n,
                                     promstore_error *err)
{
    for (size_t i = 0; i < n; i++) {
        promstore_status rc = ps_matcher_compile(&m[i], &src[i], err);
        if (rc) {
            free_each(m, i);
            return rc;
        }
    }
    return PROMSTORE_OK;
}

promstore_status ps_matchers_compile(const promstore_matcher *src, size_t n, ps_matcher **out,
                                     promstore_error *err)
{
    *out = NULL;
    if (n == 0)
        return PROMSTORE_OK;
    promstore_status rc = matchers_given(src, n, err);
    if (rc)
        return rc;
    ps_matcher *m = ps_calloc(n, sizeof *m);
    if (m == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for matchers");
    if ((rc = compile_into(m, src, n, err))) {
        ps_free(m);
        return rc;
    }
    *out = m;
    return PROMSTORE_OK;
}

void ps_matchers_free(ps_matcher *m, size_t n)
{
    if (m)
        free_each(m, n);
    ps_free(m);
}

promstore_status ps_selector_compile(const promstore_matcher *src, size_t n, ps_selector **out,
                                     promstore_error *err)
{
    *out = NULL;
    promstore_status rc = matchers_given(src, n, err);
    if (rc)
        return rc;
    /* The header and the matchers in one allocation. */
    ps_selector *sel = NULL;
    if (n <= (SIZE_MAX - sizeof *sel) / sizeof sel->m[0])
        sel = ps_calloc(1, sizeof *sel + n * sizeof sel->m[0]);
    if (sel == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for matchers");
    if ((rc = compile_into(sel->m, src, n, err))) {
        ps_free(sel);
        return rc;
    }
    sel->n = n;
    *out = sel;
    return PROMSTORE_OK;
}

void ps_selector_free(ps_selector *sel)
{
    if (sel)
        free_each(sel->m, sel->n);
    ps_free(sel);
}

/*
 * Set the ids of every postings entry of the pair (name, value), counting
 * the lookup and each entry in the budget (budget.h, note 2).
 */
static promstore_status add_pair(promstore *db, ps_txn *txn, const char *name, size_t nl,
                                 const char *value, size_t vl, ps_bitmap *b,
                                 ps_read_budget *budget, promstore_error *err)
{
    uint8_t pair[PS_PAIR_MAX];
    size_t pl = ps_pair_encode(name, nl, value, vl, pair, sizeof pair);
    if (pl == 0)
        return PROMSTORE_OK; /* longer than any stored pair: matches nothing */
    ps_scan sc;
    uint64_t entries = 0;
    ps_scan_open(&sc, &db->sch, txn, PS_T_POSTINGS, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.posting = {pair, pl, 0}}, 2);
    while (ps_scan_next(&sc)) {
        bitmap_set(b, ps_scan_at(&sc)->posting.id);
        entries++;
    }
    promstore_status rc = ps_scan_close(&sc);
    return rc ? rc : ps_budget_charge(budget, 1 + entries, err);
}

/*
 * Walk postings one distinct value (or name) at a time: after a pair, skip
 * past all its ids (ps_scan_skip), so each is visited once however many
 * series it lists.
 */
typedef int (*value_fn)(void *ctx, const char *v, size_t vl);

/*
 * The name (and value, unless value is NULL) of the current postings entry,
 * NUL-terminated; 0 or CORRUPT.
 */
static promstore_status split_pair(const ps_scan *sc, char *name, size_t *nl, char *value,
                                   size_t *vl, promstore_error *err)
{
    const ps_posting_rec *p = &ps_scan_at(sc)->posting;
    if (ps_pair_decode(p->pair, p->pair_len, name, nl, value, vl) < 0)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "malformed postings key");
    return PROMSTORE_OK;
}

/* Hand s to fn: 0 to go on; 1 (stop) or an error, which *rc gets. */
static int visit(value_fn fn, void *ctx, const char *s, size_t len, promstore_status *rc)
{
    int r = fn(ctx, s, len);
    if (r)
        *rc = r < 0 ? r : PROMSTORE_OK;
    return r;
}

promstore_status ps_each_value(promstore *db, ps_txn *txn, const char *name, size_t nlen,
                               value_fn fn, void *ctx, promstore_error *err)
{
    uint8_t pair[PS_PAIR_MAX];
    char n[PS_BACKEND_MAX_KEY], value[PS_BACKEND_MAX_KEY];
    size_t nl, vl;
    /*
     * A name whose escaped form could pass half a key is looked no further,
     * as always: that leaves out long names that do fit with a short value
     * (a known gap, kept so that this layer changes no answer).
     */
    if (2 * nlen + 1 > PS_PAIR_MAX)
        return PROMSTORE_OK;
    size_t pl = ps_pair_encode(name, nlen, "", 0, pair, sizeof pair);
    ps_scan sc;
    promstore_status rc = PROMSTORE_OK;
    ps_scan_open(&sc, &db->sch, txn, PS_T_POSTINGS, PS_SCAN_END_AT_BAD, err);
    ps_scan_seek(&sc, &(ps_rec){.posting = {pair, pl, 0}}, 1);
    while (ps_scan_next(&sc)) {
        if ((rc = split_pair(&sc, n, &nl, value, &vl, err)))
            break;
        ps_scan_skip(&sc, 2);
        if (visit(fn, ctx, value, vl, &rc))
            break;
    }
    promstore_status closed = ps_scan_close(&sc);
    return rc ? rc : closed;
}

promstore_status ps_each_name(promstore *db, ps_txn *txn, value_fn fn, void *ctx,
                              promstore_error *err)
{
    char name[PS_BACKEND_MAX_KEY];
    size_t nl;
    ps_scan sc;
    promstore_status rc = PROMSTORE_OK;
    ps_scan_open(&sc, &db->sch, txn, PS_T_POSTINGS, PS_SCAN_FAIL_BAD, err);
    while (ps_scan_next(&sc)) {
        if ((rc = split_pair(&sc, name, &nl, NULL, NULL, err)))
            break;
        ps_scan_skip(&sc, 1);
        if (nl > 0 && visit(fn, ctx, name, nl, &rc)) /* not the all-series pair */
            break;
    }
    promstore_status closed = ps_scan_close(&sc);
    return rc ? rc : closed;
}

typedef struct value_ctx {
    promstore *db;
    ps_txn *txn;
    ps_matcher *m;
    int want; /* add the ids of values where matches() == want */
    ps_bitmap *b;
    ps_read_budget *budget;
    promstore_error *err;
} value_ctx;

/*
 * A value the matcher cannot decide (PROMSTORE_E_LIMIT) ends the selection:
 * leaving it out, or in, could differ from Prometheus's answer. So does a
 * spent budget, named with the matcher that spent it.
 */
static int add_matching_value(void *p, const char *v, size_t vl)
{
    value_ctx *c = p;
    int matched;
    uint64_t steps = 0;
    promstore_status rc = ps_matcher_eval_costed(c->m, v, vl, &matched, &steps, c->err);
    if (c->budget)
        c->budget->values_tried++;
    if (rc == PROMSTORE_OK && (rc = ps_budget_charge(c->budget, steps, c->err))) {
        promstore_matcher src = {c->m->type, c->m->name, c->m->name_len, c->m->value,
                                 c->m->value_len};
        char text[256];
        ps_error_prefix(c->err, "matcher %s", ps_matcher_format(&src, text, sizeof text));
    }
    if (rc == PROMSTORE_OK && matched == c->want)
        rc = add_pair(c->db, c->txn, c->m->name, c->m->name_len, v, vl, c->b, c->budget,
                      c->err);
    return rc ? (int)rc : 0;
}

/* The ids one matcher accepts (*positive = 1) or rejects (*positive = 0). */
static promstore_status matcher_set(promstore *db, ps_txn *txn, ps_matcher *m, ps_bitmap *b,
                                    int *positive, ps_read_budget *budget, promstore_error *err)
{
    *positive = !m->matches_empty;
    if ((m->type == PROMSTORE_MATCH_EQ || m->type == PROMSTORE_MATCH_NEQ) && m->value_len > 0)
        return add_pair(db, txn, m->name, m->name_len, m->value, m->value_len, b, budget, err);
    if (m->type == PROMSTORE_MATCH_RE && m->literals && !m->matches_empty) {
        for (size_t i = 0; i < m->n_literals; i++) {
            promstore_status rc = add_pair(db, txn, m->name, m->name_len, m->literals[i],
                                           m->literal_lens[i], b, budget, err);
            if (rc)
                return rc;
        }
        return PROMSTORE_OK;
    }
    value_ctx c = {db, txn, m, *positive, b, budget, err};
    return ps_each_value(db, txn, m->name, m->name_len, add_matching_value, &c, err);
}

static void bitmap_and(ps_bitmap *a, const ps_bitmap *b, int negate)
{
    for (uint64_t i = 0; i < (a->nbits + 63) / 64; i++)
        a->words[i] &= negate ? ~b->words[i] : b->words[i];
}

promstore_status ps_select(promstore *db, ps_txn *txn, ps_matcher *m, size_t n,
                           ps_read_budget *budget, ps_bitmap *out, promstore_error *err)
{
    uint64_t nbits = 1;
    promstore_status rc = ps_meta_u64_get(&db->sch, txn, PS_META_NEXT_ID, &nbits, err);
    if (rc)
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
                    (rc = add_pair(db, txn, "", 0, "", 0, &result, budget, err)))
                    break;
                have_result = 1;
            }
            memset(tmp.words, 0, ((nbits + 63) / 64) * sizeof *tmp.words);
            int positive;
            if ((rc = matcher_set(db, txn, &m[i], &tmp, &positive, budget, err)))
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
        rc = add_pair(db, txn, "", 0, "", 0, &result, budget, err);
    }
    ps_bitmap_free(&tmp);
    if (rc) {
        ps_bitmap_free(&result);
        return rc;
    }
    *out = result;
    return PROMSTORE_OK;
}
