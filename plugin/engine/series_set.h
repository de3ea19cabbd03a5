/*
 * series_set.h -- the ids of a selection in labels.Compare order, with their
 * labels: the second of the read path's three objects (selection, series
 * set, series merge; query.c composes them).
 *
 * NOTES ON THE DESIGN
 *
 * 1. Two ways to order, chosen by the size of the selection. Up to
 *    small_max ids (PS_SMALL_SELECTION in a query) are looked up in the
 *    series table and their labels keys sorted in memory; the bitmap is
 *    freed then, as the keys are all that is left to hand out. A larger
 *    selection walks series_key, whose keys are already in that order (the
 *    labels key sorts as labels.Compare does, labels.h), and keeps the ids
 *    the bitmap holds. Sorting millions of keys would hold them all; the
 *    walk holds one entry's worth. A key cut to PS_SKEY_PREFIX bytes and a
 *    hash sorts by prefix and hash, not by its full key, and so among every
 *    key longer than PS_SKEY_PREFIX that shares its prefix, cut or whole:
 *    such a run of entries is gathered and sorted by full keys first. A run
 *    with nothing selected is passed over, and the walk goes on after it.
 *    Memory is therefore the bitmap plus at most small_max keys (or one
 *    such run), never the number of series matched.
 *
 * 2. The shape of Prometheus's SeriesSet and of ps_scan (schema.h): next()
 *    advances and returns 1 or 0; at() is the current series; err() is the
 *    deferred error, and every failure, opening included, shows up only
 *    there. The set keeps its message in its own promstore_error (error()),
 *    because it outlives the call that opened it: its series_key scan writes
 *    failures there on later calls, so no pointer into a caller's frame is
 *    kept. An id the selection holds but the series table does not (never
 *    committed) is skipped.
 *
 * 3. Lifetime. The labels of at() stay valid until the next next() or the
 *    close. The struct is the caller's; its fields are private to
 *    series_set.c. The set reads through the caller's transaction, which must
 *    outlive it; one thread at a time, as the transaction.
 */
#ifndef PS_SERIES_SET_H
#define PS_SERIES_SET_H

#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "mem.h"
#include "promstore.h"
#include "schema.h"
#include "select.h"

/* The largest selection a query sorts in memory (note 1). */
#define PS_SMALL_SELECTION 4096

/* The current series: its id and labels (sorted by name). */
typedef struct ps_series_ref {
    uint64_t id;
    const promstore_label *labels;
    size_t n_labels;
} ps_series_ref;

/* A series waiting its turn: its id and full labels key, in keys. */
typedef struct ps_set_key {
    uint64_t id;
    size_t off, len;
} ps_set_key;

typedef struct ps_series_set {
    ps_schema *s;
    ps_txn *txn;
    ps_bitmap sel; /* the set's own; freed at once in the small mode */
    int walk;      /* a large selection: walking series_key */
    ps_scan scan;  /* of series_key, when walking */
    ps_set_key *pend; /* the keys handed out next, in order */
    size_t n_pend, pos, pend_cap;
    ps_buf keys; /* their bytes */
    ps_labelbuf lb;
    ps_series_ref at;
    promstore_status rc;
    promstore_error error;
} ps_series_set;

/*
 * Open the set of the ids in *sel, which it takes (*sel is left empty; the
 * set frees it). small_max is the largest selection sorted in memory.
 * Errors are deferred to ps_series_set_err.
 */
void ps_series_set_open(ps_series_set *ss, ps_schema *s, ps_txn *txn, ps_bitmap *sel,
                        uint64_t small_max);
/* Move on: 1 with a current series, 0 at the end or on an error (ps_series_set_err). */
int ps_series_set_next(ps_series_set *ss);
/* The current series, valid after ps_series_set_next returned 1 (note 3). */
static inline const ps_series_ref *ps_series_set_at(const ps_series_set *ss)
{
    return &ss->at;
}
/* The deferred error: PROMSTORE_OK while the set runs and after a clean end. */
static inline promstore_status ps_series_set_err(const ps_series_set *ss)
{
    return ss->rc;
}
/* The message of that error. */
static inline const promstore_error *ps_series_set_error(const ps_series_set *ss)
{
    return &ss->error;
}
/* Free what the set holds; a zeroed set may be closed. */
void ps_series_set_close(ps_series_set *ss);

#endif
