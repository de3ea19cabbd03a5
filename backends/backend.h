/*
 * backend.h -- the block-store interface every backend implements.
 *
 * A backend is an ordered key/value store with named tables and transactions,
 * nothing more: the engine (plugin/) decides what the keys and values mean
 * (series, postings, chunks; see docs/ARCHITECTURE.md). Backends know nothing
 * of Prometheus, protobuf or HTTP.
 *
 * The shape follows sqlite3_vfs: a const method table (ps_backend_methods)
 * plus a base object (ps_backend) that each backend "subclasses" by embedding
 * it as its first member. Only backends/lmdb/ includes lmdb.h and only
 * backends/sqlite/ includes sqlite3.h.
 *
 * RULES EVERY BACKEND KEEPS (tests/unit/test_backend.c checks them on each)
 *   - Keys are byte strings ordered by memcmp, a shorter key first when it is a
 *     prefix of a longer one. Keys are 1..PS_BACKEND_MAX_KEY bytes; values are
 *     0 or more bytes (large values, a few MiB, must work).
 *   - At most one write transaction exists at a time; the engine serialises
 *     writers itself, and a backend may assume it. Read transactions may be
 *     open in any number, on any threads, at the same time as the writer; each
 *     sees the state of the last commit before it began (a snapshot) and never
 *     blocks the writer.
 *   - A read transaction is not bound to the thread that began it: it may be
 *     used from another thread later, one thread at a time.
 *   - Once txn_commit returns 0, the change survives a kill -9 of the process;
 *     with PS_BACKEND_SYNC also a power loss.
 *   - Bytes returned by get are owned by the backend and valid until the next
 *     get, put or del in the same transaction, or its end. Bytes returned by a
 *     cursor are valid until the next move of that cursor, a write in the
 *     transaction, or its end. (So a long read transaction that gets one value
 *     per series holds one value at a time, not all of them.)
 *   - Methods return 0 or a negative promstore_status, and fill *err (never
 *     NULL when passed by the engine) with a message naming the table.
 *   - Running out of space is PROMSTORE_E_FULL; after it, the transaction
 *     can only be aborted, and the store holds what the last commit held.
 */
#ifndef PS_BACKEND_H
#define PS_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

#define PS_BACKEND_VERSION 2
#define PS_BACKEND_MAX_KEY 480 /* LMDB's default maximum key size is 511 */
#define PS_BACKEND_MAX_TABLE_NAME 63

#define PS_BACKEND_SYNC 0x1u /* fsync at every commit */

typedef struct ps_backend ps_backend;
typedef struct ps_txn ps_txn;
typedef struct ps_cursor ps_cursor;
typedef struct ps_backend_methods ps_backend_methods;

/*
 * Receives one problem found by the integrity method; nonzero stops the
 * check. table is NULL for a problem of the file as a whole.
 */
typedef int (*ps_integrity_fn)(void *ctx, const char *table, const char *message);

/* A table handle, valid for the life of the backend once opened. */
typedef uint32_t ps_table;

/* Options for open. */
typedef struct ps_backend_config {
    uint32_t flags;           /* PS_BACKEND_* */
    uint64_t max_size_bytes;  /* upper bound on the store's size; 0 = backend default */
} ps_backend_config;

/* Space figures (bytes). */
typedef struct ps_backend_space {
    uint64_t used_bytes; /* pages holding live data */
    uint64_t file_bytes; /* size of the files, free pages included */
} ps_backend_space;

/* The base object; a backend's own struct begins with it. */
struct ps_backend {
    const ps_backend_methods *methods;
};

struct ps_backend_methods {
    int version; /* PS_BACKEND_VERSION */
    const char *name; /* "lmdb", "sqlite" */

    /*
     * Open or create the store in directory dir (which exists). The backend
     * keeps its files inside it. The engine holds an exclusive lock on the
     * directory, so a backend never sees two opens of one directory.
     */
    int (*open)(const char *dir, const ps_backend_config *cfg, ps_backend **out,
                promstore_error *err);
    /* Close; every transaction must be finished. NULL is a no-op. */
    void (*close)(ps_backend *be);

    /* Begin a transaction; write != 0 for the (single) write transaction. */
    int (*txn_begin)(ps_backend *be, int write, ps_txn **out, promstore_error *err);
    /* Commit and free the transaction (also on failure). Cursors must be closed. */
    int (*txn_commit)(ps_txn *txn, promstore_error *err);
    /* Abort and free. NULL is a no-op. Cursors must be closed. */
    void (*txn_abort)(ps_txn *txn);

    /*
     * Find table `name` (letters, digits, '_' and '.', at most
     * PS_BACKEND_MAX_TABLE_NAME bytes). With create != 0 (write transactions
     * only) it is created if missing; otherwise a missing table gives
     * PROMSTORE_E_NOT_FOUND. A table created in a transaction that is aborted
     * does not exist afterwards.
     */
    int (*table_open)(ps_txn *txn, const char *name, int create, ps_table *out,
                      promstore_error *err);
    /*
     * Remove every entry of a table (write transactions); the table itself
     * stays and may be reused. Tables are never deleted: LMDB cannot close a
     * table handle that readers of older snapshots may still use, so the
     * engine recycles emptied tables instead. Cost: the table's pages, not its
     * entries, where the backend allows (mdb_drop, SQLite's truncate).
     */
    int (*table_clear)(ps_txn *txn, ps_table table, promstore_error *err);

    /* Point look-up: 0 and *val set, or PROMSTORE_E_NOT_FOUND. */
    int (*get)(ps_txn *txn, ps_table table, const void *key, size_t klen,
               const void **val, size_t *vlen, promstore_error *err);
    /* Insert or replace. */
    int (*put)(ps_txn *txn, ps_table table, const void *key, size_t klen,
               const void *val, size_t vlen, promstore_error *err);
    /* Delete; a missing key gives PROMSTORE_E_NOT_FOUND. */
    int (*del)(ps_txn *txn, ps_table table, const void *key, size_t klen,
               promstore_error *err);

    /*
     * Cursors walk a table in key order. A cursor is not positioned until seek
     * or first succeeds. seek positions at the first key >= key; first at the
     * smallest key; next moves on. Each returns 0 with the current key/value
     * set, or PROMSTORE_DONE when there is no such entry. Writes through the
     * same transaction while a cursor is open are allowed only through
     * cursor_del.
     */
    int (*cursor_open)(ps_txn *txn, ps_table table, ps_cursor **out,
                       promstore_error *err);
    int (*cursor_seek)(ps_cursor *c, const void *key, size_t klen,
                       const void **k, size_t *kl, const void **v, size_t *vl,
                       promstore_error *err);
    int (*cursor_first)(ps_cursor *c, const void **k, size_t *kl, const void **v,
                        size_t *vl, promstore_error *err);
    int (*cursor_next)(ps_cursor *c, const void **k, size_t *kl, const void **v,
                       size_t *vl, promstore_error *err);
    /* Delete the entry under the cursor; the next cursor_next goes to the one after. */
    int (*cursor_del)(ps_cursor *c, promstore_error *err);
    void (*cursor_close)(ps_cursor *c);

    /* Space in use; callable any time, from any thread. */
    int (*space)(ps_backend *be, ps_backend_space *out, promstore_error *err);

    /* --- The methods above are in version 1. Append new ones below. --- */

    /*
     * Verify the backend's own structures (not what the engine stores in
     * them) as of the snapshot of txn, a read transaction: every page or
     * record the backend can reach is read once, and each problem is handed
     * to report(ctx, table, message) -- table names the table concerned, or
     * is NULL for the file as a whole; both strings live for the call only.
     * A nonzero return from report stops the check early. Writes nothing.
     * Returns 0 once the check ran, whatever it found (problems go to
     * report, not to the status), or a negative status when it could not run
     * (I/O error, no memory). Cost: one pass over the whole store.
     * Since version 2; NULL in a backend that cannot check itself.
     */
    int (*integrity)(ps_txn *txn, ps_integrity_fn report, void *ctx, promstore_error *err);

    /* --- The methods above are in version 2. Append new ones below. --- */
};

/*
 * --- What a backend may call (backends/support.c) ---------------------------
 *
 * Backends see backend.h and promstore.h and nothing of the engine: these
 * are the only helpers they share with it. The engine builds its own error
 * reporting on ps_backend_vfail (so there is one formatter), and installs
 * its allocator with ps_backend_set_allocator before it opens a backend (so
 * the allocation-failure tests reach backend allocations too). Until then
 * the C library's allocator is used. Any thread may call any of them.
 */

#if defined(__GNUC__)
#define PS_BACKEND_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PS_BACKEND_PRINTF(f, a)
#endif

/*
 * Fill *err (if not NULL) with status and a printf-style message, cut to fit
 * and then ending in "..."; returns status, so that a failing path is
 * `return ps_backend_fail(err, PROMSTORE_E_IO, "...", ...);`.
 */
int ps_backend_fail(promstore_error *err, int status, const char *fmt, ...)
    PS_BACKEND_PRINTF(3, 4);
int ps_backend_vfail(promstore_error *err, int status, const char *fmt, va_list ap);
/* Put "what: " before err->message (context added by an outer layer). */
void ps_backend_error_prefix(promstore_error *err, const char *fmt, ...) PS_BACKEND_PRINTF(2, 3);
void ps_backend_verror_prefix(promstore_error *err, const char *fmt, va_list ap);

/* The allocator behind ps_backend_malloc and its siblings. */
typedef struct ps_backend_allocator {
    void *(*malloc)(size_t n);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
} ps_backend_allocator;

/* Use *a (which must stay valid) from now on; NULL goes back to the C library's. */
void ps_backend_set_allocator(const ps_backend_allocator *a);
void *ps_backend_malloc(size_t n);
void *ps_backend_calloc(size_t count, size_t size);
void *ps_backend_realloc(void *p, size_t n);
void ps_backend_free(void *p);

/*
 * Files of a store. Every file a store creates is made PS_STORE_FILE_MODE and
 * every directory PS_STORE_DIR_MODE (less the process umask): a store holds
 * whatever its clients wrote, readable by its owner only. Every file opened
 * by name inside a store is opened with ps_backend_open_file(): O_NOFOLLOW
 * and O_CLOEXEC added to flags, so that a symbolic link planted in the
 * directory is refused, never followed. Returns the descriptor, or a
 * negative status with err filled: PROMSTORE_E_CORRUPT for a symbolic link
 * (naming the file), PROMSTORE_E_FULL for a full disk, PROMSTORE_E_NOT_FOUND
 * when the file is missing and flags lack O_CREAT, else PROMSTORE_E_IO.
 */
#define PS_STORE_FILE_MODE 0600
#define PS_STORE_DIR_MODE 0700
int ps_backend_open_file(const char *path, int flags, promstore_error *err);

/* The built-in backends. */
extern const ps_backend_methods ps_lmdb_methods;
extern const ps_backend_methods ps_sqlite_methods;

/* The backend named `name`, or NULL. */
const ps_backend_methods *ps_backend_find(const char *name);

#endif /* PS_BACKEND_H */
