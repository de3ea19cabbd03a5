/*
 * select.h -- matchers to a set of series ids, through the postings table:
 * the first of the read path's three objects (selection, series set, series
 * merge; query.c composes them).
 *
 * NOTES ON THE DESIGN
 *
 * 1. Compiled once. A query's matchers are compiled into a ps_selector
 *    (engine.h) before anything is read: a bad regex or name is an error of
 *    the request, found without a snapshot. The compiled form then serves
 *    every ps_select of that query; remote read compiles each query's
 *    selector when it checks the request and opens the query with it later,
 *    so no matcher is compiled twice.
 *
 * 2. Accepted and rejected sets. Each matcher on a label name gives either
 *    the ids it accepts (when it does not accept "", so only series having
 *    the label can match) or the ids it rejects (when it accepts "", so
 *    series without the label match too, and only those with a rejected
 *    value are taken out). The selection is the intersection of the accepted
 *    sets (or every series, the all-series postings pair) minus the rejected
 *    sets. "=" and literal alternations look their pairs up directly; other
 *    regexes walk the distinct values of the name with a skip-scan.
 *
 * 3. The answer is a bitmap of one bit per series id: its size follows the
 *    store (next_id), never the number of series matched, and it says
 *    nothing about order -- the series set (series_set.h) puts the ids in
 *    labels.Compare order.
 *
 * 4. Threads. ps_matcher_eval uses match data inside the matcher, so a
 *    selector serves one query at a time.
 */
#ifndef PS_SELECT_H
#define PS_SELECT_H

#include <stdint.h>

#include "engine.h"
#include "matcher.h"
#include "store.h"

typedef struct ps_bitmap {
    uint64_t *words;
    uint64_t nbits;
} ps_bitmap;

static inline int ps_bitmap_has(const ps_bitmap *b, uint64_t id)
{
    return id < b->nbits && (b->words[id >> 6] >> (id & 63)) & 1;
}

/*
 * Select into *out (allocated here; free with ps_bitmap_free), counting the
 * work in budget (NULL: not counted): PROMSTORE_E_LIMIT once it is spent.
 */
promstore_status ps_select(promstore *db, ps_txn *txn, ps_matcher *m, size_t n,
                           ps_read_budget *budget, ps_bitmap *out, promstore_error *err);
uint64_t ps_bitmap_count(const ps_bitmap *b);
void ps_bitmap_free(ps_bitmap *b);

/* Compiled matchers (note 1); engine.h declares the calls. */
struct ps_selector {
    size_t n;
    ps_matcher m[];
};

/* Compile ABI matchers into an array (all of them, or none on error). */
promstore_status ps_matchers_compile(const promstore_matcher *src, size_t n, ps_matcher **out,
                                     promstore_error *err);
void ps_matchers_free(ps_matcher *m, size_t n);

/*
 * Walk the distinct values of label `name` in the postings table, calling
 * fn(ctx, value, len) for each, in byte order. fn returns 0 to go on, 1 to
 * stop, <0 for an error code. Values are NUL-terminated copies.
 */
promstore_status ps_each_value(promstore *db, ps_txn *txn, const char *name, size_t nlen,
                               int (*fn)(void *ctx, const char *v, size_t vl), void *ctx,
                               promstore_error *err);

/* Walk the distinct label names (the all-series pair excluded), in byte order. */
promstore_status ps_each_name(promstore *db, ps_txn *txn,
                              int (*fn)(void *ctx, const char *n, size_t nl), void *ctx,
                              promstore_error *err);

#endif
