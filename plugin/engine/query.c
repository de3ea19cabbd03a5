/*
 * query.c -- promstore_query() and its series iterator, composed of the read
 * path's three objects:
 *
 *   selection     matchers -> postings -> a bitmap of ids      select.h
 *   series set    those ids in labels.Compare order, labels   series_set.h
 *   series merge  one series' chunks and samples in range     series_merge.h
 *
 * The iterator holds what ties them together: one read transaction (the
 * snapshot all three read, for the iterator's life: its own, or that of a
 * ps_snapshot several queries share, engine.h), the per-query limits
 * counted as it advances, the read's work budget (budget.h: its own, or one
 * a protocol shares among the queries of a request), and whether there is a
 * current series. It skips
 * series with no sample in range, so every series it hands out has some.
 * Memory stays what the parts bound: the bitmap (while the set walks),
 * at most PS_SMALL_SELECTION keys, and one series' chunks.
 */
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "engine.h"
#include "error.h"
#include "select.h"
#include "series_merge.h"
#include "series_set.h"
#include "store.h"
#include "xor.h"
#include "mem.h"

struct promstore_series_iter {
    promstore *db;
    ps_txn *txn;
    int owns_txn; /* its own snapshot, ended at close; else a ps_snapshot's */
    ps_series_set set;
    ps_series_merge merge;
    int has_cur; /* the set's current series is the iterator's */
    ps_read_budget *budget; /* where its work is counted: own_budget, or the caller's */
    ps_read_budget own_budget;
    uint64_t n_series, n_samples, n_bytes;
    promstore_status failed;
};

static promstore_status fail_iter(promstore_series_iter *it, promstore_status rc)
{
    it->failed = rc;
    it->has_cur = 0;
    return rc;
}

/* --- the ABI ---------------------------------------------------------------------- */

static void iter_free(promstore_series_iter *it)
{
    if (it == NULL)
        return;
    ps_series_set_close(&it->set);
    ps_series_merge_close(&it->merge);
    if (it->owns_txn)
        ps_txn_abort(&it->db->sch, it->txn);
    ps_free(it);
}

void promstore_series_iter_close(promstore_series_iter *it)
{
    iter_free(it);
}

/*
 * Whether [mint, maxt] can hold a sample of the snapshot txn reads. The
 * stats record is read in that same snapshot, so it describes exactly the
 * data the query would see: min_time is at most, and max_time at least, the
 * time of every sample in it (each append's commit keeps them so, and
 * retention raises min_time only to the first block it keeps). A range
 * outside them is answered empty without selecting or visiting a series.
 */
static promstore_status range_may_hold_data(promstore *db, ps_txn *txn, int64_t mint,
                                            int64_t maxt, int *may, promstore_error *err)
{
    ps_stats_rec st;
    promstore_status rc = ps_stats_read(db, txn, &st, err);
    *may = rc == PROMSTORE_OK && st.samples > 0 && mint <= st.max_time && maxt >= st.min_time;
    return rc;
}

/* The query's three objects over txn, which the caller began (engine.h). */
static promstore_status query_open_in(promstore *db, ps_txn *txn, int owns_txn, ps_selector *sel,
                                      int64_t mint, int64_t maxt, ps_read_budget *budget,
                                      promstore_series_iter **out, promstore_error *err)
{
    promstore_series_iter *it = ps_calloc(1, sizeof *it);
    if (it == NULL) {
        if (owns_txn)
            ps_txn_abort(&db->sch, txn);
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a query");
    }
    it->db = db;
    it->txn = txn;
    it->owns_txn = owns_txn;
    if (budget == NULL)
        ps_read_budget_start(db, budget = &it->own_budget);
    it->budget = budget;
    int may_hold = 0;
    promstore_status rc = range_may_hold_data(db, txn, mint, maxt, &may_hold, err);
    if (rc == PROMSTORE_OK && !may_hold) {
        *out = it; /* a zeroed series set: iter_next answers PROMSTORE_DONE */
        return PROMSTORE_OK;
    }
    ps_bitmap ids = {0};
    if (rc == PROMSTORE_OK)
        rc = ps_select(db, it->txn, sel->m, sel->n, budget, &ids, err);
    if (rc == PROMSTORE_OK) {
        ps_series_set_open(&it->set, &db->sch, it->txn, &ids, PS_SMALL_SELECTION);
        rc = ps_report(ps_series_set_err(&it->set), ps_series_set_error(&it->set), err);
    }
    if (rc == PROMSTORE_OK)
        rc = ps_series_merge_open(&it->merge, &db->sch, it->txn, db->block_ms, mint, maxt, err);
    if (rc) {
        iter_free(it);
        return rc;
    }
    *out = it;
    return PROMSTORE_OK;
}

promstore_status ps_query_open(promstore *db, ps_selector *sel, int64_t mint, int64_t maxt,
                               ps_read_budget *budget, promstore_series_iter **out,
                               promstore_error *err)
{
    ps_txn *txn = NULL;
    promstore_status rc = ps_txn_begin(&db->sch, 0, &txn, err);
    if (rc)
        return rc;
    return query_open_in(db, txn, 1, sel, mint, maxt, budget, out, err);
}

/* --- snapshots shared by queries --------------------------------------------------- */

struct ps_snapshot {
    promstore *db;
    ps_txn *txn;
};

promstore_status ps_snapshot_open(promstore *db, ps_snapshot **out, promstore_error *err)
{
    ps_snapshot *snap = ps_calloc(1, sizeof *snap);
    if (snap == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for a read snapshot");
    snap->db = db;
    promstore_status rc = ps_txn_begin(&db->sch, 0, &snap->txn, err);
    if (rc) {
        ps_free(snap);
        return rc;
    }
    *out = snap;
    return PROMSTORE_OK;
}

void ps_snapshot_close(ps_snapshot *snap)
{
    if (snap == NULL)
        return;
    ps_txn_abort(&snap->db->sch, snap->txn);
    ps_free(snap);
}

promstore_status ps_snapshot_query(ps_snapshot *snap, ps_selector *sel, int64_t mint,
                                   int64_t maxt, ps_read_budget *budget,
                                   promstore_series_iter **out, promstore_error *err)
{
    return query_open_in(snap->db, snap->txn, 0, sel, mint, maxt, budget, out, err);
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
    ps_selector *sel = NULL;
    promstore_status rc = ps_check_matcher_cap(db, n_matchers, err);
    if (rc == PROMSTORE_OK)
        rc = ps_selector_compile(matchers, n_matchers, &sel, err);
    if (rc)
        return rc;
    rc = ps_query_open(db, sel, mint, maxt, NULL, out, err);
    ps_selector_free(sel);
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
        int has_samples = 0;
        promstore_status rc =
            ps_series_merge_load(&it->merge, s->id, s->labels, s->n_labels, &has_samples, err);
        if (rc == PROMSTORE_OK) {
            it->budget->series_visited++;
            rc = ps_budget_charge(it->budget, 1 + ps_series_merge_n_chunks(&it->merge), err);
        }
        if (rc)
            return fail_iter(it, rc);
        if (!has_samples)
            continue;
        if (it->db->max_series && ++it->n_series > it->db->max_series)
            return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                         "query matched more than %llu series "
                                         "(max_series_per_query)",
                                         (unsigned long long)it->db->max_series));
        it->has_cur = 1;
        ps_budget_progress(it->budget);
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
    *labels = ps_series_set_at(&it->set)->labels;
    *n_labels = ps_series_set_at(&it->set)->n_labels;
    return PROMSTORE_OK;
}

/* The 1.0 call, kept for programs built against 1.0 (abi/promstore.h). */
promstore_status promstore_series_iter_labels(promstore_series_iter *it,
                                              const promstore_label **labels, size_t *n_labels)
{
    return promstore_series_iter_labels_v2(it, labels, n_labels, NULL);
}

/* What both cursors need before they move: arguments, no earlier failure, a series. */
static promstore_status cursor_ready(const promstore_series_iter *it, const void *out,
                                     promstore_error *err)
{
    if (it == NULL || out == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "iterator or out is NULL");
    if (it->failed)
        return ps_fail(err, it->failed, "the iterator failed earlier; close it");
    if (!it->has_cur)
        return ps_fail(err, PROMSTORE_E_MISUSE, "no current series: call promstore_series_iter_next");
    return PROMSTORE_OK;
}

static promstore_status abi_series_iter_sample(promstore_series_iter *it, promstore_sample *out,
                                              promstore_error *err)
{
    promstore_status ready = cursor_ready(it, out, err);
    if (ready)
        return ready;
    promstore_status rc = ps_series_merge_sample(&it->merge, out, err);
    if (rc == PROMSTORE_DONE)
        return rc;
    if (rc)
        return fail_iter(it, rc);
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
    promstore_status ready = cursor_ready(it, out, err);
    if (ready)
        return ready;
    promstore_chunk c;
    if (ps_series_merge_chunk(&it->merge, &c) == PROMSTORE_DONE)
        return PROMSTORE_DONE;
    it->n_bytes += c.data_len;
    if (it->db->max_bytes && it->n_bytes > it->db->max_bytes)
        return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                     "query returned more than %llu bytes of chunks "
                                     "(max_bytes_per_query)",
                                     (unsigned long long)it->db->max_bytes));
    int n = ps_xor_num_samples(c.data, c.data_len);
    if (it->db->max_samples && n > 0 && (it->n_samples += (uint64_t)n) > it->db->max_samples)
        return fail_iter(it, ps_fail(err, PROMSTORE_E_LIMIT,
                                     "query returned more than %llu samples "
                                     "(max_samples_per_query)",
                                     (unsigned long long)it->db->max_samples));
    *out = c;
    return PROMSTORE_OK;
}

promstore_status promstore_query(promstore *db, const promstore_matcher *matchers,
                                 size_t n_matchers, int64_t mint, int64_t maxt,
                                 promstore_series_iter **out, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_query(db, matchers, n_matchers, mint, maxt, out, PS_LOCAL_ERR));
}

promstore_status promstore_series_iter_next(promstore_series_iter *it, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_series_iter_next(it, PS_LOCAL_ERR));
}

promstore_status promstore_series_iter_sample(promstore_series_iter *it, promstore_sample *out,
                                              promstore_error *err)
{
    PS_ABI_RETURN(err, abi_series_iter_sample(it, out, PS_LOCAL_ERR));
}

promstore_status promstore_series_iter_chunk(promstore_series_iter *it, promstore_chunk *out,
                                             promstore_error *err)
{
    PS_ABI_RETURN(err, abi_series_iter_chunk(it, out, PS_LOCAL_ERR));
}
