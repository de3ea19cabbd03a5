/*
 * sqlite_int.h -- the inside of the SQLite backend, shared by the files of
 * backends/sqlite/ and by no one else (only this directory includes sqlite3.h).
 *
 * NOTES ON THE DESIGN
 *
 *  1. One database file, dir/promstore.sqlite, in WAL mode. A committed
 *     transaction is in the WAL file, written with write(2), before COMMIT
 *     returns: that survives kill -9 with synchronous=NORMAL. PS_BACKEND_SYNC
 *     selects synchronous=FULL, which also fsyncs the WAL at every commit.
 *
 *  2. Each backend table is the SQL table "t_<name>"(k BLOB PRIMARY KEY,
 *     v BLOB NOT NULL) WITHOUT ROWID, <name> escaped because SQL names are
 *     case-insensitive and ours are not ('_' -> "__", 'A' -> "_a"; see
 *     ps_sq_sql_name). The primary-key b-tree is the table, and
 *     BLOB comparison is memcmp with the shorter prefix first, which is the
 *     contract's order. Keys and values are always bound as BLOBs (never NULL,
 *     never TEXT) so that comparisons never mix storage classes.
 *
 *  3. Connections. One write connection, used by the single write transaction,
 *     and a pool of read connections opened on demand: a read transaction
 *     takes one for its lifetime and gives it back at its end. WAL gives every
 *     read connection its own snapshot that never blocks the writer. The
 *     connections are opened SQLITE_OPEN_NOMUTEX: a connection is only ever
 *     used by one thread at a time (the one holding its transaction), so the
 *     per-connection mutex of FULLMUTEX would be pure cost; a read transaction
 *     moving to another thread is fine because nothing in SQLite is bound to
 *     the opening thread.
 *
 *  4. Transactions are embedded in their connection (a connection holds at
 *     most one), so beginning one allocates nothing. A write transaction that
 *     hits any SQLite error is marked failed: SQLite may already have rolled
 *     it back, and running on would autocommit statement by statement, so
 *     only abort is accepted afterwards (commit rolls back and reports).
 *
 *  5. Table handles are indices into a backend-wide registry of names
 *     (mutex-protected, append-only, so handles stay valid for the backend's
 *     life). The registry says nothing about existence: whether a table exists
 *     is the database's business, asked through sqlite_schema in the
 *     transaction's own snapshot. Each connection remembers tables it has seen
 *     exist ("known"); since tables are never dropped that stays true in every
 *     later snapshot, except for tables created by a write transaction that is
 *     then aborted, whose mark the abort clears.
 *
 *  6. Prepared statements are cached per (connection, table): get, put, del
 *     and one cursor statement. Blobs are bound SQLITE_STATIC: every statement
 *     is stepped and reset before the call that bound the caller's bytes
 *     returns, except cursor statements, which bind a copy kept in the cursor.
 *
 *  7. Lifetime of returned bytes. The contract keeps a get result valid until
 *     the next get, put or del in the transaction, or its end; the statement
 *     itself is reset at once (so it holds no read lock), so get copies the
 *     value into a per-connection arena, emptied at the next get and at every
 *     write: a long read transaction holds one value at a time. Cursors
 *     return SQLite's own column pointers, valid until that statement is
 *     stepped or reset, which is exactly "the next move of the same cursor";
 *     cursor_del resets it and is a write, so both rules agree.
 *
 *  8. Checkpoints. SQLite's automatic checkpoint (every 1000 pages, in the
 *     committing thread) is replaced by our own WAL hook: after a commit, when
 *     the WAL has grown by half the database's size since the last attempt
 *     (at least PS_SQ_CKPT_MIN, at most PS_SQ_CKPT_MAX), the writer runs a
 *     PASSIVE checkpoint. A longer interval writes each hot page (b-tree roots
 *     and interior pages) to the database file once per interval instead of
 *     once per 4 MiB, and costs fewer fsyncs (measured, noisily, on small
 *     values: 64 MiB gave 1.2x-1.9x the commit rate of 4 MiB); tying it to
 *     the database size keeps the WAL, which is file space, from dwarfing a
 *     small store. A PASSIVE checkpoint never waits for readers. A checkpoint
 *     failure is not the commit's failure and is only retried later. On a
 *     nearly full disk the checkpoint comes sooner, once the WAL has grown by
 *     a quarter of the free space: a checkpoint needs room to grow the
 *     database file, and a WAL that is never checkpointed never restarts.
 *     journal_size_limit trims the WAL file back when SQLite restarts it.
 *     Limit: SQLite restarts the WAL only after a checkpoint that completes,
 *     which needs a moment with no reader on an older snapshot; under
 *     back-to-back commits with overlapping readers the WAL file keeps
 *     growing until such a moment (the LMDB counterpart: long readers make
 *     the map grow).
 *
 *  9. secure_delete is switched off (Debian builds SQLite with it on): with
 *     it, table_clear would zero and write every freed page, which is the
 *     cost of the table's entries again, not of its pages.
 *
 * 10. Page size 4096: against 8192 and 16384, on a load of many small puts
 *     scattered over a large table, 4096 wrote 10-40% faster (each dirty page
 *     costs a whole page in the WAL) and scanned about as fast.
 */
#ifndef PS_SQLITE_INT_H
#define PS_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#define PS_SQ_FILE "promstore.sqlite"
/* Tunables, overridable with -D for measurements. */
#ifndef PS_SQ_PAGE_SIZE
#define PS_SQ_PAGE_SIZE 4096                     /* for new files only */
#endif
#ifndef PS_SQ_CKPT_MAX
#define PS_SQ_CKPT_MAX ((int64_t)64 << 20)       /* WAL growth between checkpoints: */
#endif
#define PS_SQ_CKPT_MIN ((int64_t)4 << 20)        /* half the database, within these */
#define PS_SQ_WAL_LIMIT (64 << 20)               /* journal_size_limit */
#define PS_SQ_BUSY_MS 10000                      /* busy_timeout on every connection */
#define PS_SQ_WRITER_CACHE_KIB 32768             /* page cache of the write connection */
#define PS_SQ_POOL_KEEP 16                       /* idle read connections kept open */
#define PS_SQ_NAME_CAP (PS_BACKEND_MAX_TABLE_NAME + 1)
#define PS_SQ_SQLNAME_CAP (2 + 2 * PS_BACKEND_MAX_TABLE_NAME + 1)
#define PS_SQ_NAMES_PER_CHUNK 256u
#define PS_SQ_MAX_CHUNKS 256u                    /* 65536 tables */

typedef struct ps_sq_backend ps_sq_backend;
typedef struct ps_sq_conn ps_sq_conn;

/* The operations that have a cached statement per table. */
enum ps_sq_op { PS_SQ_GET, PS_SQ_PUT, PS_SQ_DEL, PS_SQ_CUR, PS_SQ_NOPS };

/* One connection's statements and knowledge about one table. */
typedef struct ps_sq_tab {
    sqlite3_stmt *st[PS_SQ_NOPS];
    unsigned char known;    /* exists in this and every later snapshot */
    unsigned char cur_busy; /* st[PS_SQ_CUR] is held by an open cursor */
    char name[PS_SQ_NAME_CAP]; /* copied from the registry; "" while unused */
} ps_sq_tab;

/* Bump allocator for get results; blocks are kept and reused. */
typedef struct ps_sq_block {
    struct ps_sq_block *next;
    size_t size, used;
    unsigned char data[];
} ps_sq_block;

typedef struct ps_sq_arena {
    ps_sq_block *head, *cur;
} ps_sq_arena;

/* The transaction object lives inside its connection. */
struct ps_txn {
    ps_sq_backend *be;
    ps_sq_conn *conn;
    int write;
    int failed;   /* a negative status once a write failed; 0 otherwise */
    int ncursors; /* open cursors */
};

/* Statements on a connection that belong to no table. */
enum ps_sq_fixed {
    PS_SQ_BEGIN,     /* BEGIN (read) or BEGIN IMMEDIATE (write) */
    PS_SQ_COMMIT,
    PS_SQ_ROLLBACK,
    PS_SQ_SNAPSHOT,  /* a read right after BEGIN, so the snapshot is taken now */
    PS_SQ_EXISTS,    /* does table ?1 exist in this snapshot */
    PS_SQ_PAGES,     /* PRAGMA page_count */
    PS_SQ_FREE,      /* PRAGMA freelist_count */
    PS_SQ_NFIXED
};

struct ps_sq_conn {
    sqlite3 *db;
    int writer;
    ps_sq_conn *next_idle;
    sqlite3_stmt *fixed[PS_SQ_NFIXED];
    ps_sq_tab *tabs;
    uint32_t ntabs;
    ps_sq_arena arena;
    struct ps_txn txn;
    /* write connection only */
    uint32_t *created; /* tables created by the open write transaction */
    size_t ncreated, capcreated;
    int wal_frames;    /* frames in the WAL after the last commit (WAL hook) */
    int ckpt_frames;   /* wal_frames at the last checkpoint attempt */
};

struct ps_sq_backend {
    ps_backend base;
    pthread_mutex_t mu; /* guards names, ntables, idle, nidle, writer_busy */
    char *path;
    char *wal_path;
    uint32_t flags;
    int page_size;
    uint64_t max_bytes; /* 0: SQLite's default (no practical limit) */
    ps_sq_conn *writer;
    int writer_busy;
    ps_sq_conn *idle;
    unsigned nidle;
    char *chunks[PS_SQ_MAX_CHUNKS]; /* table names, PS_SQ_NAME_CAP bytes each */
    uint32_t ntables;
};

/* sqlite_conn.c: connections, statements, errors, the arena. */
int ps_sq_fail(sqlite3 *db, int rc, promstore_error *err, const char *what,
               const char *table);
int ps_sq_conn_open(ps_sq_backend *be, int writer, ps_sq_conn **out,
                    promstore_error *err);
void ps_sq_conn_close(ps_sq_conn *c);
int ps_sq_run(ps_sq_conn *c, sqlite3_stmt *st, promstore_error *err,
              const char *what, const char *table);
int ps_sq_tab_get(ps_sq_conn *c, ps_table t, ps_sq_tab **out, promstore_error *err);
int ps_sq_stmt(ps_sq_conn *c, ps_table t, enum ps_sq_op op, sqlite3_stmt **out,
               promstore_error *err);
int ps_sq_prepare_op(ps_sq_conn *c, ps_table t, enum ps_sq_op op,
                     sqlite3_stmt **out, promstore_error *err);
void ps_sq_tab_forget(ps_sq_conn *c, ps_table t);
void ps_sq_sql_name(const char *name, char out[PS_SQ_SQLNAME_CAP]);
void ps_sq_maybe_checkpoint(ps_sq_conn *c, int page_size);
void *ps_sq_arena_copy(ps_sq_arena *a, const void *src, size_t n);
void ps_sq_arena_reset(ps_sq_arena *a);
void ps_sq_arena_trim(ps_sq_arena *a);

/* sqlite_backend.c: the table registry. */
int ps_sq_name(ps_sq_backend *be, ps_table t, char out[PS_SQ_NAME_CAP]);
int ps_sq_intern(ps_sq_backend *be, const char *name, ps_table *out,
                 promstore_error *err);
int ps_sq_pool_take(ps_sq_backend *be, ps_sq_conn **out, promstore_error *err);
void ps_sq_pool_give(ps_sq_backend *be, ps_sq_conn *c);

/* sqlite_txn.c */
int ps_sq_txn_begin(ps_backend *be, int write, ps_txn **out, promstore_error *err);
int ps_sq_txn_commit(ps_txn *txn, promstore_error *err);
void ps_sq_txn_abort(ps_txn *txn);
int ps_sq_table_open(ps_txn *txn, const char *name, int create, ps_table *out,
                     promstore_error *err);
int ps_sq_table_clear(ps_txn *txn, ps_table table, promstore_error *err);
int ps_sq_get(ps_txn *txn, ps_table table, const void *key, size_t klen,
              const void **val, size_t *vlen, promstore_error *err);
int ps_sq_put(ps_txn *txn, ps_table table, const void *key, size_t klen,
              const void *val, size_t vlen, promstore_error *err);
int ps_sq_del(ps_txn *txn, ps_table table, const void *key, size_t klen,
              promstore_error *err);
int ps_sq_check_key(ps_txn *txn, ps_table t, const void *key, size_t klen,
                    promstore_error *err);
int ps_sq_check_write(ps_txn *txn, ps_table t, const char *what,
                      promstore_error *err);
int ps_sq_delete_key(ps_txn *txn, ps_table t, const void *key, size_t klen,
                     promstore_error *err);

/* sqlite_cursor.c */
int ps_sq_cursor_open(ps_txn *txn, ps_table table, ps_cursor **out,
                      promstore_error *err);
int ps_sq_cursor_seek(ps_cursor *c, const void *key, size_t klen, const void **k,
                      size_t *kl, const void **v, size_t *vl, promstore_error *err);
int ps_sq_cursor_first(ps_cursor *c, const void **k, size_t *kl, const void **v,
                       size_t *vl, promstore_error *err);
int ps_sq_cursor_next(ps_cursor *c, const void **k, size_t *kl, const void **v,
                      size_t *vl, promstore_error *err);
int ps_sq_cursor_del(ps_cursor *c, promstore_error *err);
void ps_sq_cursor_close(ps_cursor *c);

/* sqlite_integrity.c */
int ps_sq_integrity(ps_txn *txn, ps_integrity_fn report, void *ctx, promstore_error *err);

#endif /* PS_SQLITE_INT_H */
