/*
 * lmdb_internal.h -- the inside of the LMDB backend, shared by the files of
 * backends/lmdb/ and by nothing else (only this directory includes lmdb.h).
 *
 * DESIGN NOTES
 *
 * 1. One environment per store directory (data.mdb + lock.mdb), opened with
 *    MDB_NOTLS because a read transaction may be carried to another thread
 *    (a Go goroutine moving between OS threads). Without PS_BACKEND_SYNC it is
 *    opened MDB_NOSYNC: commit writes pages and meta page with pwrite() into
 *    the OS page cache, which outlives a kill -9 of the process; only a power
 *    loss can lose the last commits. MDB_WRITEMAP is not used: with it LMDB
 *    ftruncate()s data.mdb to the whole map size, and a full disk then shows
 *    up as SIGBUS on a page fault instead of ENOSPC from a write.
 *
 * 2. Tables are named LMDB databases. LMDB forbids mdb_dbi_open() in two
 *    transactions at once, and a handle opened by a transaction that aborts
 *    is closed by LMDB. So readers never call mdb_dbi_open(): at open every
 *    existing table is opened once (one read transaction, committed so the
 *    handles stay), and afterwards only the single write transaction creates
 *    tables. A created table is PENDING in the cache until its transaction
 *    commits (then LIVE) or aborts (then forgotten), so the cache always names
 *    exactly the tables of the last commit plus the writer's new ones.
 *
 * 3. A reader whose snapshot predates a table's creation must not see it:
 *    table_open checks the creating commit's txnid against the snapshot's and
 *    asks mdb_dbi_flags() whether the handle exists in that transaction
 *    (it does not for a reader that began during the creating commit).
 *
 * 4. Read transactions are pooled: mdb_txn_begin() callocs a transaction
 *    sized by maxdbs (about 200 KiB for 4096 tables), so a finished reader is
 *    mdb_txn_reset() and kept for mdb_txn_renew(). The write transaction
 *    object is embedded in the backend (LMDB reuses its own write txn too).
 *
 * 5. Errors: the first fatal error of a transaction (map or disk full, I/O)
 *    is remembered; LMDB can then only abort it, so every later call on it,
 *    commit included, returns that status again.
 *
 * 6. The write transaction must begin and end on one thread: LMDB holds its
 *    writer mutex (a robust process-shared pthread mutex, owned by a thread)
 *    from mdb_txn_begin to commit or abort. Only read transactions move.
 */
#ifndef PS_LMDB_INTERNAL_H
#define PS_LMDB_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define PS_LMDB_MAX_TABLES 4096 /* mdb_env_set_maxdbs */
#define PS_LMDB_MAX_DBI (PS_LMDB_MAX_TABLES + 2) /* LMDB adds FREE_DBI and MAIN_DBI */
#define PS_LMDB_BUCKETS 8192 /* name hash buckets; a power of two */
#define PS_LMDB_MAX_READERS 1024 /* concurrent read txns, idle pooled ones included */
#define PS_LMDB_IDLE_MAX 64 /* reset read txns kept for reuse */
#define PS_LMDB_DEFAULT_MAP (UINT64_C(256) << 30) /* sparse, costs nothing until used */
#define PS_LMDB_FULL_SLACK (UINT64_C(1) << 20) /* free bytes below which EIO means full */

enum ps_lmdb_table_state { PS_LMDB_FREE = 0, PS_LMDB_PENDING, PS_LMDB_LIVE };

/* One cache slot per LMDB dbi. */
typedef struct ps_lmdb_table {
    char name[PS_BACKEND_MAX_TABLE_NAME + 1];
    uint8_t state;    /* enum ps_lmdb_table_state */
    uint16_t next;    /* next dbi in the same hash bucket; 0 ends the chain */
    size_t created;   /* txnid of the commit that created it; 0 = before open */
} ps_lmdb_table;

typedef struct ps_lmdb ps_lmdb;

struct ps_txn {
    ps_lmdb *be;
    MDB_txn *mt;
    size_t id;             /* mdb_txn_id(): snapshot id, or the id it commits as */
    int write;
    int failed;            /* first fatal status; 0 while the txn is usable */
    struct ps_txn *next_idle;
};

struct ps_cursor {
    ps_txn *txn;
    MDB_cursor *mc;
    ps_table table;
    int positioned; /* the last move found an entry, and it was not deleted */
    int resume;     /* set by cursor_del: the next cursor_next seeks to key[] */
    size_t klen;
    unsigned char key[512]; /* LMDB's default maximum key size is 511 */
};

struct ps_lmdb {
    ps_backend base;
    MDB_env *env;
    int nosync;
    char *data_path;       /* dir/data.mdb, for space() */
    pthread_mutex_t lock;  /* guards tables, buckets, pending, idle */
    ps_lmdb_table *tables; /* indexed by dbi, PS_LMDB_MAX_DBI slots */
    uint16_t *buckets;     /* first dbi of each hash chain; 0 = empty */
    uint16_t *pending;     /* dbis created by the running write txn */
    size_t npending;
    ps_txn *idle;          /* reset read txns */
    size_t nidle;
    ps_txn wtxn;           /* the write transaction, reused */
    int writing;           /* wtxn in use; atomic */
};

/* Map an LMDB or errno code to a promstore_status and fill err. */
int ps_lmdb_fail(promstore_error *err, int mrc, const char *what, const char *table);
/*
 * ps_lmdb_fail for the write paths (put, del, commit): LMDB reports a short
 * write as EIO, which on a filesystem with less than PS_LMDB_FULL_SLACK bytes
 * left is a full disk, so it becomes PROMSTORE_E_FULL (lmdb_backend.c).
 */
int ps_lmdb_fail_write(const ps_lmdb *be, promstore_error *err, int mrc, const char *what,
                       const char *table);
/* Record a fatal status on txn (LMDB can only abort it now); returns status. */
int ps_lmdb_txn_mark(ps_txn *txn, int status);
/* The table's name for messages ("?" for a bad handle). */
const char *ps_lmdb_table_name(const ps_lmdb *be, ps_table table);

/* lmdb_tables.c */
int ps_lmdb_tables_load(ps_lmdb *be, promstore_error *err);
void ps_lmdb_tables_commit(ps_lmdb *be, size_t txnid);
void ps_lmdb_tables_forget_pending(ps_lmdb *be);
int ps_lmdb_table_open(ps_txn *txn, const char *name, int create, ps_table *out,
                       promstore_error *err);
int ps_lmdb_table_clear(ps_txn *txn, ps_table table, promstore_error *err);

/* lmdb_txn.c */
int ps_lmdb_read_begin(ps_lmdb *be, ps_txn **out, promstore_error *err);
void ps_lmdb_read_end(ps_txn *txn);
void ps_lmdb_idle_drain(ps_lmdb *be);
int ps_lmdb_txn_begin(ps_backend *base, int write, ps_txn **out, promstore_error *err);
int ps_lmdb_txn_commit(ps_txn *txn, promstore_error *err);
void ps_lmdb_txn_abort(ps_txn *txn);
int ps_lmdb_get(ps_txn *txn, ps_table table, const void *key, size_t klen,
                const void **val, size_t *vlen, promstore_error *err);
int ps_lmdb_put(ps_txn *txn, ps_table table, const void *key, size_t klen,
                const void *val, size_t vlen, promstore_error *err);
int ps_lmdb_del(ps_txn *txn, ps_table table, const void *key, size_t klen,
                promstore_error *err);

/* lmdb_cursor.c */
int ps_lmdb_cursor_open(ps_txn *txn, ps_table table, ps_cursor **out,
                        promstore_error *err);
int ps_lmdb_cursor_seek(ps_cursor *c, const void *key, size_t klen, const void **k,
                        size_t *kl, const void **v, size_t *vl, promstore_error *err);
int ps_lmdb_cursor_first(ps_cursor *c, const void **k, size_t *kl, const void **v,
                         size_t *vl, promstore_error *err);
int ps_lmdb_cursor_next(ps_cursor *c, const void **k, size_t *kl, const void **v,
                        size_t *vl, promstore_error *err);
int ps_lmdb_cursor_del(ps_cursor *c, promstore_error *err);
void ps_lmdb_cursor_close(ps_cursor *c);

/* lmdb_space.c */
int ps_lmdb_space(ps_backend *base, ps_backend_space *out, promstore_error *err);

/* lmdb_integrity.c */
int ps_lmdb_integrity(ps_txn *txn, ps_integrity_fn report, void *ctx, promstore_error *err);

/*
 * lmdb_tail.c: does data.mdb hold every page transaction txnid uses (npages
 * of psize bytes)? A shorter file is sound when every page past its end is
 * on that transaction's free list (see the file's notes). 0 if it holds
 * them, 1 if the file was truncated (why says how), or a negative status
 * (err filled) if the file cannot be read. Reads the file, never the map.
 */
int ps_lmdb_length_check(const ps_lmdb *be, uint64_t txnid, uint64_t npages, unsigned psize,
                         char *why, size_t why_cap, promstore_error *err);

#endif /* PS_LMDB_INTERNAL_H */
