/*
 * store.h -- the inside of a promstore handle, shared by the engine's files.
 *
 * THE TABLES are the schema's (schema.h names a record per table, schema.c
 * alone reads and writes their bytes, docs/format/ draws them): meta, series,
 * series_key, postings, head, lastblk, blocks, blk.<slot> and ooo.
 *
 * WRITE PATH (append.c), under write_mu, one backend write transaction per
 * batch: validate everything -> resolve or create each series -> append to
 * its head chunk, sealing it into blk.<slot> when full or when the block
 * changes -> update stats -> commit. Nothing is replayed on open because the
 * head chunks are themselves stored in every commit.
 *
 * READ PATH (query.c, composing three objects): a read transaction is the
 * snapshot; the selection (select.h) turns compiled matchers into a bitmap of
 * ids through postings; the series set (series_set.h) hands those ids out in
 * label order, by sorting a small selection or by walking series_key; the
 * series merge (series_merge.h) gathers one series' chunks and out-of-order
 * samples in range and gives them out as samples or as chunks. The protocol
 * sees none of this: it uses engine.h.
 */
#ifndef PS_STORE_H
#define PS_STORE_H

#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "engine.h"
#include "labels.h"
#include "promstore.h"
#include "schema.h"
#include "series_cache.h"
#include "xor.h"

/*
 * The maintenance thread and what it did (maintenance.c). mu guards every
 * field; the thread sleeps on cv until an append pokes it, close stops it, or
 * interval_ms passes.
 */
typedef struct ps_maint {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started; /* the thread exists and must be joined */
    int stop;    /* close asks the thread to end */
    int poked;   /* work may be waiting: an append committed or found the disk full */
    int64_t interval_ms;
    promstore_error_fn on_error;
    void *on_error_ctx;
    /* Figures for promstore_stats. */
    uint64_t runs, errors, blocks_dropped, series_dropped, samples_dropped;
    promstore_status last_error;
} ps_maint;

struct promstore {
    uint32_t magic;
    ps_schema sch; /* the backend and its tables (schema.h) */
    int lock_fd;

    int64_t retention_time_ms;
    uint64_t retention_size_bytes;
    int64_t block_ms;
    int64_t ooo_window_ms;
    int64_t max_future_ms; /* 0: no limit */
    uint64_t max_series, max_samples, max_bytes;
    uint64_t max_work;        /* max_work_per_read; 0: no limit (budget.h) */
    int64_t read_deadline_ms; /* 0: no deadline */
    uint32_t flags;
    ps_name_rules name_rules;

    ps_remote_limits remote;  /* what the protocol applies (engine.h) */
    pthread_mutex_t reads_mu; /* guards reads_active, the read slots taken */
    uint32_t reads_active;

    /* Everything below belongs to the writer and is guarded by write_mu. */
    pthread_mutex_t write_mu;
    ps_series_cache cache;
    uint64_t next_id;
    int64_t retention_checked_block; /* time retention last ran for this block */
    int has_samples;                 /* the stats of the last commit: any samples, */
    int64_t newest_ms;               /* and the newest sample's time */

    ps_maint maint; /* the maintenance thread (maintenance.c) */
};

#define PS_STORE_MAGIC 0x70735354u /* "psST" */

/* The stats record in meta; a store without one yet has all zeros. */
promstore_status ps_stats_read(promstore *db, ps_txn *txn, ps_stats_rec *out,
                               promstore_error *err);

/* Set up and free the maintenance state's mutex and (monotonic) condition. */
void ps_maint_init(promstore *db);
void ps_maint_destroy(promstore *db);
/* Start the maintenance thread if the store has retention to apply. */
promstore_status ps_maint_start(promstore *db, promstore_error *err);
/* Stop and join it; a no-op if it never started. */
void ps_maint_stop(promstore *db);
/* Wake it: an append committed (or failed on a full disk). Cheap; never blocks on it. */
void ps_maint_poke(promstore *db);
/* Copy its figures into the stats record (the fields since 1.1). */
void ps_maint_stats(promstore *db, promstore_stats *out);

/*
 * Retention, with the write lock held and a write transaction open: drop every
 * block numbered below cut_block (ps_block_of), with the out-of-order samples
 * in them and the series left without data. A block number rather than a
 * time, so that the block holding INT64_MAX can be dropped too.
 */
promstore_status ps_retention_locked(promstore *db, ps_txn *txn, int64_t cut_block,
                                     promstore_retention_result *res, promstore_error *err);

/* A handle check at the ABI boundary. */
static inline int ps_store_ok(const promstore *db)
{
    return db != NULL && db->magic == PS_STORE_MAGIC;
}

#endif
