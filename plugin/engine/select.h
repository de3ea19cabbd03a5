/*
 * select.h -- matchers to a set of series ids, through the postings table.
 *
 * Each matcher on a label name gives either the ids it accepts (when it does
 * not accept "", so only series having the label can match) or the ids it
 * rejects (when it accepts "", so series without the label match too, and
 * only those with a rejected value are taken out). The selection is the
 * intersection of the accepted sets (or every series) minus the rejected
 * sets, held as a bitmap of one bit per series id: its size follows the
 * store, never the number of series matched.
 */
#ifndef PS_SELECT_H
#define PS_SELECT_H

#include <stdint.h>

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

/* Select into *out (allocated here; free with ps_bitmap_free). */
promstore_status ps_select(promstore *db, ps_txn *txn, ps_matcher *m, size_t n, ps_bitmap *out,
                           promstore_error *err);
uint64_t ps_bitmap_count(const ps_bitmap *b);
void ps_bitmap_free(ps_bitmap *b);

/* Compile ABI matchers (all of them, or none on error). */
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

/* Open a query with already compiled matchers (query.c). */
promstore_status ps_query_open(promstore *db, ps_matcher *m, size_t nm, int64_t mint,
                               int64_t maxt, promstore_series_iter **out, promstore_error *err);

#endif
