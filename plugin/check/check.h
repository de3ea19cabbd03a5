/*
 * check.h -- the inside of promstore_check(), shared by its three files:
 *   check.c        the call: opening without creating, meta, statistics,
 *                  the order of the checks, reporting;
 *   check_data.c   blocks, chunks and open chunks, walked side by side with
 *                  the series index (the merge walk);
 *   check_index.c  each series' labels and its index entries, and the walks
 *                  of postings, series_key, lastblk and ooo.
 * The design notes are at the top of check.c.
 */
#ifndef PS_CHECK_H
#define PS_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "error.h"
#include "labels.h"
#include "promstore.h"
#include "store.h"

/* "No block" in a reported problem. */
#define PS_NB PROMSTORE_CHECK_NO_BLOCK

/* One time block: its record in `blocks` and a scan of its chunk table. */
typedef struct ps_blk_cur {
    int64_t blk;
    uint32_t slot;
    char name[24]; /* "blk.<slot>" */
    ps_scan sc;    /* on its current chunk while live */
    int live;      /* 0 once exhausted, or when the table is missing */
    int skip;      /* its table is missing, or shared with an earlier block: not walked */
    uint64_t id;                                 /* series id of the current entry */
    uint64_t orphan;                             /* last id reported as belonging to no series */
    uint64_t rec_samples, rec_chunks, rec_bytes; /* as the record counts them */
    uint64_t samples, chunks, bytes;             /* as found */
} ps_blk_cur;

/* The state of one promstore_check() call. */
typedef struct ps_checker {
    ps_schema sch; /* the backend and its tables */
    ps_txn *txn;
    promstore_error *err;
    promstore_check_fn fn;
    void *ctx;
    promstore_check_summary sum;
    int halt; /* stop walking: the callback asked, or the backend reads corruption */

    int64_t block_ms;
    uint64_t next_id;
    int have_stats;
    ps_stats_rec stats;
    uint8_t *exists; /* bit per id < next_id: the id is in `series` */

    ps_blk_cur *blocks; /* in block order */
    size_t n_blocks;
    size_t *heap; /* indices into blocks, ordered by (id, index) */
    size_t n_heap;

    ps_scan head; /* on the current open chunk while head_live */
    int head_live;
    uint64_t head_id;
    uint64_t head_orphan;

    /* The series being checked. */
    ps_labelbuf lb;
    int labels_ok;
    char desc[320];
    int have_desc;
    int64_t prev_maxt; /* end of its previous chunk */
    int have_prev;

    /* Counts for design note 3. */
    uint64_t skey_found, skey_listed;
    uint64_t post_found, post_listed;
    uint64_t last_found, last_listed;

    /* Totals for the stats record. */
    uint64_t n_samples, n_chunks;
    int64_t min_t, max_t;
    int have_t;

    ps_labelbuf other; /* a second series' labels, for messages */
    uint8_t buf_a[PS_CHUNK_CAP], buf_b[PS_CHUNK_CAP];
} ps_checker;

/* --- check.c: reporting ------------------------------------------------------- */

/* Report one problem (counted, handed to the callback) unless the check halted. */
void ps_check_problem(ps_checker *c, const char *table, uint64_t id, int64_t block_start,
                      const char *fmt, ...) PS_PRINTF(5, 6);

/* Start time of block number blk, or PS_NB if it does not fit an int64. */
int64_t ps_check_bstart(const ps_checker *c, int64_t blk);

/*
 * A backend error while walking: corruption is a finding that ends the walks
 * (check.c, note 4) and gives PROMSTORE_OK; anything else is returned.
 */
promstore_status ps_check_read_failed(ps_checker *c, const char *table, promstore_status rc);

/* Is id a series of the index (walked so far)? */
int ps_check_has_id(const ps_checker *c, uint64_t id);

/* " {labels}" of the series being walked, for messages. */
const char *ps_check_desc(ps_checker *c);

/* name="value" of a postings pair for messages ("(all series)" for the empty pair). */
const char *ps_check_pair_text(const char *name, size_t nl, const char *value, size_t vl, char *buf,
                               size_t cap);

/* Widen the span of sample times seen to [first, last]. */
void ps_check_note_time(ps_checker *c, int64_t first, int64_t last);

/* --- check_data.c ------------------------------------------------------------- */

/* Walk `blocks`, open a cursor per block table; empty spare slot tables. */
promstore_status ps_check_load_blocks(ps_checker *c);

/*
 * The merge walk: every series of `series`, with its chunks and open chunk,
 * and the chunks of ids that are no series. Calls ps_check_series_index().
 */
promstore_status ps_check_walk_series(ps_checker *c);

/* Block records' counters against what the walk found. */
void ps_check_block_counts(ps_checker *c);

/* --- check_index.c ------------------------------------------------------------ */

/* One series: its labels key, its series_key entry and its postings. */
promstore_status ps_check_series_index(ps_checker *c, uint64_t id, const uint8_t *key, size_t klen);

/*
 * Walks of the index tables. detail == 0: entry shapes, ids that are no
 * series, and the counts of check.c note 3; detail != 0: the second walk that
 * names stray entries, run only when those counts differ.
 */
promstore_status ps_check_walk_postings(ps_checker *c, int detail);
promstore_status ps_check_walk_series_key(ps_checker *c, int detail);
promstore_status ps_check_walk_lastblk(ps_checker *c, int detail);
promstore_status ps_check_walk_ooo(ps_checker *c);

#endif
