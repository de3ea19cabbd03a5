/*
 * labelnames.c -- promstore_label_names() and promstore_label_values().
 *
 * Without matchers and over all time the answer is in the postings keys
 * alone: a skip-scan visits each distinct name (or value) once. Otherwise the
 * matching series are walked with a query and their names (or values) kept
 * in a set; memory then grows with the distinct strings, which is the size of
 * the answer itself.
 */
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "engine.h"
#include "error.h"
#include "labels.h"
#include "select.h"
#include "store.h"
#include "mem.h"

struct promstore_string_iter {
    char **strs; /* each a malloc'd NUL-terminated string */
    size_t *lens;
    size_t n, cap, pos;
    /* Open-addressing set of indices into strs, for de-duplication. */
    size_t *set;
    size_t set_cap;
};

static int add_string(promstore_string_iter *it, const char *s, size_t len, int dedupe)
{
    uint64_t h;
    if (dedupe) {
        if ((it->n + 1) * 2 > it->set_cap) {
            size_t cap = it->set_cap ? it->set_cap * 2 : 64;
            size_t *set = ps_malloc(cap * sizeof *set);
            if (set == NULL)
                return -1;
            for (size_t i = 0; i < cap; i++)
                set[i] = SIZE_MAX;
            for (size_t i = 0; i < it->n; i++) {
                size_t j = ps_hash64(it->strs[i], it->lens[i]) & (cap - 1);
                while (set[j] != SIZE_MAX)
                    j = (j + 1) & (cap - 1);
                set[j] = i;
            }
            ps_free(it->set);
            it->set = set;
            it->set_cap = cap;
        }
        h = ps_hash64(s, len);
        for (size_t j = h & (it->set_cap - 1);; j = (j + 1) & (it->set_cap - 1)) {
            size_t i = it->set[j];
            if (i == SIZE_MAX) {
                it->set[j] = it->n;
                break;
            }
            if (it->lens[i] == len && memcmp(it->strs[i], s, len) == 0)
                return 0;
        }
    }
    if (it->n == it->cap) {
        /* Two arrays share one capacity: grow both to the same size. */
        size_t cap = it->cap, lcap = it->cap;
        if (PS_GROW(it->strs, cap, it->n + 1) || PS_GROW(it->lens, lcap, it->n + 1))
            return -1;
        it->cap = cap < lcap ? cap : lcap;
    }
    char *copy = ps_strndup(s, len);
    if (copy == NULL)
        return -1;
    it->strs[it->n] = copy;
    it->lens[it->n++] = len;
    return 0;
}

static int collect_plain(void *ctx, const char *s, size_t len)
{
    return add_string(ctx, s, len, 0) ? PROMSTORE_E_NOMEM : 0;
}

static promstore_status sort_strings(promstore_string_iter *it, promstore_error *err)
{
    ps_bytes *v = ps_malloc((it->n ? it->n : 1) * sizeof *v);
    if (v == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
    for (size_t i = 0; i < it->n; i++)
        v[i] = (ps_bytes){it->strs[i], it->lens[i]};
    qsort(v, it->n, sizeof *v, ps_bytes_qsort_cmp);
    for (size_t i = 0; i < it->n; i++)
        it->strs[i] = v[i].p, it->lens[i] = v[i].len;
    ps_free(v);
    return PROMSTORE_OK;
}

/* Walk matching series, collecting names (name == NULL) or values of name. */
static promstore_status collect_from_series(promstore *db, promstore_string_iter *out,
                                            const char *name, size_t nlen,
                                            const promstore_matcher *matchers, size_t nm,
                                            int64_t mint, int64_t maxt, promstore_error *err)
{
    ps_selector *sel = NULL;
    promstore_series_iter *q = NULL;
    promstore_status rc = ps_check_matcher_cap(db, nm, err);
    if (rc == PROMSTORE_OK)
        rc = ps_selector_compile(matchers, nm, &sel, err);
    if (rc == PROMSTORE_OK)
        rc = ps_query_open(db, sel, mint, maxt, NULL, &q, err);
    while (rc == PROMSTORE_OK && (rc = promstore_series_iter_next(q, err)) == PROMSTORE_OK) {
        const promstore_label *l;
        size_t n;
        promstore_series_iter_labels(q, &l, &n);
        for (size_t i = 0; i < n && rc == PROMSTORE_OK; i++) {
            if (name == NULL) {
                if (add_string(out, l[i].name, l[i].name_len, 1))
                    rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
            } else if (l[i].name_len == nlen && memcmp(l[i].name, name, nlen) == 0) {
                if (add_string(out, l[i].value, l[i].value_len, 1))
                    rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
            }
        }
    }
    if (rc == PROMSTORE_DONE)
        rc = PROMSTORE_OK;
    promstore_series_iter_close(q);
    ps_selector_free(sel);
    return rc == PROMSTORE_OK ? sort_strings(out, err) : rc;
}

static promstore_status list_strings(promstore *db, const char *name, size_t nlen,
                                     const promstore_matcher *matchers, size_t nm, int64_t mint,
                                     int64_t maxt, promstore_string_iter **out,
                                     promstore_error *err)
{
    if (out)
        *out = NULL;
    if (!ps_store_ok(db) || out == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "bad handle or NULL out");
    if (mint > maxt)
        return ps_fail(err, PROMSTORE_E_INVALID, "range is empty: mint %lld > maxt %lld",
                       (long long)mint, (long long)maxt);
    promstore_string_iter *it = ps_calloc(1, sizeof *it);
    if (it == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
    promstore_status rc;
    if (nm == 0 && mint == INT64_MIN && maxt == INT64_MAX) {
        ps_txn *txn = NULL;
        rc = ps_txn_begin(&db->sch, 0, &txn, err);
        if (rc == PROMSTORE_OK) {
            rc = name ? ps_each_value(db, txn, name, nlen, collect_plain, it, err)
                      : ps_each_name(db, txn, collect_plain, it, err);
            ps_txn_abort(&db->sch, txn);
        }
    } else {
        rc = collect_from_series(db, it, name, nlen, matchers, nm, mint, maxt, err);
    }
    if (rc) {
        promstore_string_iter_close(it);
        return rc;
    }
    *out = it;
    return PROMSTORE_OK;
}

static promstore_status abi_label_names(promstore *db, const promstore_matcher *matchers,
                                       size_t n_matchers, int64_t mint, int64_t maxt,
                                       promstore_string_iter **out, promstore_error *err)
{
    return list_strings(db, NULL, 0, matchers, n_matchers, mint, maxt, out, err);
}

static promstore_status abi_label_values(promstore *db, const char *name, size_t name_len,
                                        const promstore_matcher *matchers, size_t n_matchers,
                                        int64_t mint, int64_t maxt, promstore_string_iter **out,
                                        promstore_error *err)
{
    if (name == NULL) {
        if (out)
            *out = NULL;
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_label_values: name is NULL");
    }
    return list_strings(db, name, name_len, matchers, n_matchers, mint, maxt, out, err);
}

static promstore_status abi_string_iter_next(promstore_string_iter *it, const char **s,
                                            size_t *len, promstore_error *err)
{
    if (it == NULL || s == NULL || len == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "string iterator, s or len is NULL");
    if (it->pos == it->n)
        return PROMSTORE_DONE;
    *s = it->strs[it->pos];
    *len = it->lens[it->pos++];
    return PROMSTORE_OK;
}

void promstore_string_iter_close(promstore_string_iter *it)
{
    if (it == NULL)
        return;
    for (size_t i = 0; i < it->n; i++)
        ps_free(it->strs[i]);
    ps_free(it->strs);
    ps_free(it->lens);
    ps_free(it->set);
    ps_free(it);
}

promstore_status promstore_label_names(promstore *db, const promstore_matcher *matchers,
                                       size_t n_matchers, int64_t mint, int64_t maxt,
                                       promstore_string_iter **out, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_label_names(db, matchers, n_matchers, mint, maxt, out, PS_LOCAL_ERR));
}

promstore_status promstore_label_values(promstore *db, const char *name, size_t name_len,
                                        const promstore_matcher *matchers, size_t n_matchers,
                                        int64_t mint, int64_t maxt, promstore_string_iter **out,
                                        promstore_error *err)
{
    PS_ABI_RETURN(err,
                  abi_label_values(db, name, name_len, matchers, n_matchers, mint, maxt, out, PS_LOCAL_ERR));
}

promstore_status promstore_string_iter_next(promstore_string_iter *it, const char **s,
                                            size_t *len, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_string_iter_next(it, s, len, PS_LOCAL_ERR));
}
