/*
 * store.h -- the inside of a promstore handle, shared by the engine's files.
 *
 * THE TABLES (all in the backend; docs/ARCHITECTURE.md draws the keys)
 *   meta        "format", "block_ms", "next_id", "stats" -> small values
 *   series      id -> labels key                       (id = 8 bytes BE)
 *   series_key  skey -> id, where skey is the labels key, or for a key longer
 *               than PS_SKEY_MAX its first PS_SKEY_PREFIX bytes + a hash
 *   postings    pair(name, value) + id -> ""           (pair = esc(name)0 esc(value)0)
 *               the pair ("", "") lists every series
 *   head        id -> open chunk: mint(8) + maxt(8) + appender state + XOR bytes
 *   lastblk     block(8) + id -> ""    the block of each series' newest data,
 *               so that retention finds dead series without a scan
 *   blocks      block(8) -> slot(4) samples(8) chunks(8) bytes(8)
 *   blk.<slot>  id + mint -> maxt(8) + XOR bytes   (sealed chunks of one block)
 *   ooo         block(8) + id + t -> value bits(8)  out-of-order samples
 *
 * WRITE PATH (append.c), under write_mu, one backend write transaction per
 * batch: validate everything -> resolve or create each series -> append to
 * its head chunk, sealing it into blk.<slot> when full or when the block
 * changes -> update stats -> commit. Nothing is replayed on open because the
 * head chunks are themselves stored in every commit.
 *
 * READ PATH (select.c, query.c): a read transaction is the snapshot; matchers
 * select ids through postings into a bitmap; series come out in label order
 * either by sorting a small selection or by walking series_key.
 */
#ifndef PS_STORE_H
#define PS_STORE_H

#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "labels.h"
#include "promstore.h"
#include "series_cache.h"
#include "xor.h"

/* Chunks are cut at this many samples, as Prometheus does. */
#define PS_CHUNK_SAMPLES 120
/* And before they outgrow this many bytes (Prometheus's MaxBytesPerXORChunk). */
#define PS_CHUNK_MAX_BYTES 1024
/* Capacity of a head chunk buffer: the cut size plus one worst-case sample. */
#define PS_CHUNK_CAP (PS_CHUNK_MAX_BYTES + 32)
/* Head value: mint(8) + maxt(8) + appender state, then the chunk bytes. */
#define PS_HEAD_HDR (16 + PS_XOR_STATE_BYTES)
/* series_key keys longer than this are cut and hashed (backend key limit). */
#define PS_SKEY_MAX 440
#define PS_SKEY_PREFIX 432
/* A postings pair must fit in a key with its id. */
#define PS_PAIR_MAX (PS_BACKEND_MAX_KEY - 8)

typedef struct ps_stats_rec {
    uint64_t series;
    uint64_t samples;
    uint64_t chunks;
    int64_t min_time;
    int64_t max_time;
} ps_stats_rec;

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
    const ps_backend_methods *bm;
    ps_backend *be;
    int lock_fd;

    int64_t retention_time_ms;
    uint64_t retention_size_bytes;
    int64_t block_ms;
    int64_t ooo_window_ms;
    uint64_t max_series, max_samples, max_bytes;
    uint32_t flags;
    ps_name_rules name_rules;

    /* Remote protocol limits (remote_write.c, remote_read.c). */
    uint32_t max_concurrent_reads;
    uint64_t max_request_bytes, max_decoded_bytes, read_frame_bytes;
    pthread_mutex_t reads_mu;
    uint32_t reads_active;

    ps_table t_meta, t_series, t_series_key, t_postings, t_head, t_lastblk, t_blocks, t_ooo;

    /* Block tables by slot; opened lazily, handles live as long as the backend. */
    pthread_mutex_t slot_mu;
    ps_table *slot_tables;
    uint8_t *slot_open;
    uint32_t n_slots;

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

/* Table handle of block slot `slot`, opening (create != 0: creating) it. */
promstore_status ps_slot_table(promstore *db, ps_txn *txn, uint32_t slot, int create,
                               ps_table *out, promstore_error *err);

/* Read/write the stats record in meta. */
promstore_status ps_stats_read(promstore *db, ps_txn *txn, ps_stats_rec *out,
                               promstore_error *err);
promstore_status ps_stats_write(promstore *db, ps_txn *txn, const ps_stats_rec *st,
                                promstore_error *err);

/* Postings pair key: esc(name) 0 esc(value) 0; returns length, 0 if too long. */
size_t ps_pair_encode(const char *name, size_t nlen, const char *value, size_t vlen,
                      uint8_t *out, size_t cap);

/* Bytes ps_pair_encode needs for a pair. */
size_t ps_pair_size(const char *name, size_t nlen, const char *value, size_t vlen);

/* series_key key for a labels key; returns its length (<= PS_SKEY_MAX + 8). */
size_t ps_skey_encode(const uint8_t *key, size_t klen, uint8_t *out);

/* 64-bit hash of bytes (used for the series cache and long series keys). */
uint64_t ps_hash64(const void *p, size_t n);

/* Start the maintenance thread if the store has retention to apply. */
promstore_status ps_maint_start(promstore *db, promstore_error *err);
/* Stop and join it; a no-op if it never started. */
void ps_maint_stop(promstore *db);
/* Wake it: an append committed (or failed on a full disk). Cheap; never blocks on it. */
void ps_maint_poke(promstore *db);
/* Copy its figures into the stats record (the fields since 1.1). */
void ps_maint_stats(promstore *db, promstore_stats *out);

/* Retention, with the write lock held and a write transaction open. */
promstore_status ps_retention_locked(promstore *db, ps_txn *txn, int64_t cutoff,
                                     promstore_retention_result *res, promstore_error *err);

/* A handle check at the ABI boundary. */
static inline int ps_store_ok(const promstore *db)
{
    return db != NULL && db->magic == PS_STORE_MAGIC;
}

#endif
