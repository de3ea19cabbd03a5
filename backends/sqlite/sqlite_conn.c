/*
 * sqlite_conn.c -- SQLite connections for the SQLite backend: opening one with
 * its pragmas, the per-(connection, table) statement cache, turning SQLite
 * errors into promstore statuses, the arena that keeps get results alive, and
 * the checkpoint run after commits. Design notes: sqlite_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sqlite_int.h"

#define PS_SQ_BLOCK_MIN ((size_t)64 << 10)
#define PS_SQ_BLOCK_MAX ((size_t)4 << 20)
#define PS_SQ_ARENA_KEEP ((size_t)1 << 20) /* kept across transactions */
#define PS_SQ_FULL_SLACK ((uint64_t)1 << 20) /* free bytes below which the disk is full */

/* ---- errors ---------------------------------------------------------- */

/* The promstore status for SQLite result code rc on connection db. */
static promstore_status ps_sq_status(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return PROMSTORE_E_FULL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return PROMSTORE_E_CORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PROMSTORE_E_BUSY;
    case SQLITE_NOMEM:
        return PROMSTORE_E_NOMEM;
    case SQLITE_TOOBIG:
        return PROMSTORE_E_INVALID;
    case SQLITE_IOERR: {
        /* SQLite reports ENOSPC on write as SQLITE_FULL, but not on every
         * path (truncate, mmap, fsync); the errno tells. */
        int e = db ? sqlite3_system_errno(db) : 0;
        return e == ENOSPC || e == EDQUOT ? PROMSTORE_E_FULL : PROMSTORE_E_IO;
    }
    default:
        return PROMSTORE_E_IO;
    }
}

/*
 * SQLITE_FULL says "database or disk is full": it is also the answer when
 * max_page_count is reached. Whether the disk is the one that is full is
 * told by the free space of the filesystem holding the database.
 */
static int ps_sq_disk_full(sqlite3 *db, int rc)
{
    struct statvfs sv;
    const char *path = db ? sqlite3_db_filename(db, "main") : NULL;
    if ((rc & 0xff) == SQLITE_IOERR)
        return 1; /* ps_sq_status saw ENOSPC or EDQUOT */
    if (path == NULL || *path == '\0' || statvfs(path, &sv) != 0)
        return 0;
    return (uint64_t)sv.f_bavail * sv.f_frsize < PS_SQ_FULL_SLACK;
}

/*
 * Fill *err for a failed SQLite call and return the status. `what` is the
 * operation, `table` the backend table or NULL. Call before the statement is
 * reset, while sqlite3_errmsg still describes this failure.
 */
int ps_sq_fail(sqlite3 *db, int rc, promstore_error *err, const char *what,
               const char *table)
{
    promstore_status st = ps_sq_status(db, rc);
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (st == PROMSTORE_E_FULL && ps_sq_disk_full(db, rc)) {
        if (table)
            return ps_backend_fail(err, st, "sqlite: %s in table '%s': no space left on device "
                                    "(%s, sqlite code %d)", what, table, msg, rc);
        return ps_backend_fail(err, st, "sqlite: %s: no space left on device (%s, sqlite code %d)",
                       what, msg, rc);
    }
    if (table)
        return ps_backend_fail(err, st, "sqlite: %s in table '%s': %s (sqlite code %d)",
                       what, table, msg, rc);
    return ps_backend_fail(err, st, "sqlite: %s: %s (sqlite code %d)", what, msg, rc);
}

/* ---- running statements ------------------------------------------------ */

/* Step st once (a row, if any, is ignored) and reset it. */
int ps_sq_run(ps_sq_conn *c, sqlite3_stmt *st, promstore_error *err,
              const char *what, const char *table)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    int status = ps_sq_fail(c->db, rc, err, what, table);
    sqlite3_reset(st);
    return status;
}

/* Run SQL text with no result (pragmas, CREATE TABLE). */
static int ps_sq_exec(ps_sq_conn *c, const char *sql, promstore_error *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc)
        return ps_sq_fail(c->db, rc, err, sql, NULL);
    return 0;
}

/* Run a one-row, one-column pragma and return its integer value. */
static int ps_sq_pragma_int(ps_sq_conn *c, const char *sql, int64_t *out,
                            promstore_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else {
        rc = ps_sq_fail(c->db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, sql, NULL);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- opening a connection ---------------------------------------------- */

/* SQLite calls this after each commit with the number of frames in the WAL;
 * installing it also switches off the built-in auto-checkpoint. */
static int ps_sq_wal_hook(void *arg, sqlite3 *db, const char *schema, int frames)
{
    (void)db;
    (void)schema;
    ((ps_sq_conn *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

/* journal_mode=WAL answers with the mode it got; anything else is a failure. */
static int ps_sq_set_wal(ps_sq_conn *c, promstore_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = ps_sq_fail(c->db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                        "PRAGMA journal_mode=WAL", NULL);
        goto done;
    }
    const unsigned char *mode = sqlite3_column_text(st, 0);
    rc = 0;
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0)
        rc = ps_backend_fail(err, PROMSTORE_E_IO, "sqlite: cannot switch %s to WAL mode (got %s)",
                     sqlite3_db_filename(c->db, "main"), mode ? (const char *)mode : "?");
done:
    sqlite3_finalize(st);
    return rc;
}

/* The write connection creates the file, so the file-level choices are here. */
static int ps_sq_setup_writer(ps_sq_backend *be, ps_sq_conn *c, promstore_error *err)
{
    char sql[96];
    int64_t v = 0;
    int rc;

    /* page_size only takes effect before the database is first written. */
    snprintf(sql, sizeof sql, "PRAGMA page_size=%d", PS_SQ_PAGE_SIZE);
    rc = ps_sq_exec(c, sql, err);
    if (rc) goto fail;
    rc = ps_sq_set_wal(c, err);
    if (rc) goto fail;
    rc = ps_sq_exec(c, be->flags & PS_BACKEND_SYNC ? "PRAGMA synchronous=FULL"
                                                   : "PRAGMA synchronous=NORMAL", err);
    if (rc) goto fail;
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%d", PS_SQ_WAL_LIMIT);
    rc = ps_sq_exec(c, sql, err);
    if (rc) goto fail;
    rc = ps_sq_exec(c, "PRAGMA secure_delete=OFF", err); /* sqlite_int.h, note 9 */
    if (rc) goto fail;
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", PS_SQ_WRITER_CACHE_KIB);
    rc = ps_sq_exec(c, sql, err);
    if (rc) goto fail;
    rc = ps_sq_pragma_int(c, "PRAGMA page_size", &v, err);
    if (rc) goto fail;
    be->page_size = (int)v;
    if (be->max_bytes > 0) {
        /* The database image, not the WAL, is what max_page_count bounds. */
        uint64_t pages = be->max_bytes / (uint64_t)be->page_size;
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%llu",
                 (unsigned long long)(pages > 0 ? pages : 1));
        rc = ps_sq_pragma_int(c, sql, &v, err);
        if (rc) goto fail;
    }
    sqlite3_wal_hook(c->db, ps_sq_wal_hook, c);
    return 0;
fail:
    return rc;
}

/* Statements every connection keeps for beginning and ending transactions. */
static int ps_sq_prepare_fixed(ps_sq_conn *c, promstore_error *err)
{
    const char *sql[PS_SQ_NFIXED] = {
        [PS_SQ_BEGIN] = c->writer ? "BEGIN IMMEDIATE" : "BEGIN",
        [PS_SQ_COMMIT] = "COMMIT",
        [PS_SQ_ROLLBACK] = "ROLLBACK",
        [PS_SQ_SNAPSHOT] = "SELECT 1 FROM sqlite_schema LIMIT 1",
        [PS_SQ_EXISTS] = "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1",
        [PS_SQ_PAGES] = "PRAGMA page_count",
        [PS_SQ_FREE] = "PRAGMA freelist_count",
    };
    for (int i = 0; i < PS_SQ_NFIXED; i++) {
        int rc = sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->fixed[i], NULL);
        if (rc)
            return ps_sq_fail(c->db, rc, err, sql[i], NULL);
    }
    return 0;
}

/* Open a connection to be->path: the write connection or a read one. */
int ps_sq_conn_open(ps_sq_backend *be, int writer, ps_sq_conn **out,
                    promstore_error *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
    ps_sq_conn *c = ps_backend_calloc(1, sizeof *c);
    int rc;

    if (c == NULL)
        return ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: out of memory opening %s", be->path);
    c->writer = writer;
    c->txn.be = be;
    c->txn.conn = c;
    c->txn.write = writer;
    if (writer)
        flags |= SQLITE_OPEN_CREATE;
    /*
     * No link is followed (backend.h): SQLite refuses one at the database
     * file itself with SQLITE_OPEN_NOFOLLOW, and the writer creates the
     * file first, PS_STORE_FILE_MODE, because SQLite gives its -wal and
     * -shm files the mode of the database file.
     */
    flags |= SQLITE_OPEN_NOFOLLOW;
    if (writer) {
        int fd = ps_backend_open_file(be->path, O_RDWR | O_CREAT, err);
        if (fd < 0) {
            ps_backend_free(c);
            return fd;
        }
        close(fd);
    }
    rc = sqlite3_open_v2(be->path, &c->db, flags, NULL);
    if (rc) {
        rc = ps_sq_fail(c->db, rc, err, "open", NULL);
        ps_backend_error_prefix(err, "%s", be->path);
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, PS_SQ_BUSY_MS);
    rc = writer ? ps_sq_setup_writer(be, c, err) : 0;
    if (rc) goto fail;
    rc = ps_sq_prepare_fixed(c, err);
    if (rc) goto fail;
    *out = c;
    return 0;
fail:
    ps_sq_conn_close(c);
    return rc;
}

/* ---- the arena --------------------------------------------------------- */

/* Make room for n bytes: the next kept block if it fits, else a new one. */
static ps_sq_block *ps_sq_arena_next(ps_sq_arena *a, size_t n)
{
    ps_sq_block *next = a->cur ? a->cur->next : a->head;
    if (next != NULL && next->size >= n) {
        next->used = 0;
        a->cur = next;
        return next;
    }
    size_t size = a->cur && a->cur->size < PS_SQ_BLOCK_MAX ? a->cur->size * 2
                                                           : PS_SQ_BLOCK_MIN;
    if (size < n)
        size = n;
    ps_sq_block *b = ps_backend_malloc(sizeof *b + size);
    if (b == NULL)
        return NULL;
    b->size = size;
    b->used = 0;
    b->next = next;
    if (a->cur)
        a->cur->next = b;
    else
        a->head = b;
    a->cur = b;
    return b;
}

/* A copy of n > 0 bytes that lives until the next reset; NULL when out of memory. */
void *ps_sq_arena_copy(ps_sq_arena *a, const void *src, size_t n)
{
    ps_sq_block *b = a->cur;
    if (b == NULL || b->size - b->used < n) {
        b = ps_sq_arena_next(a, n);
        if (b == NULL)
            return NULL;
    }
    unsigned char *p = b->data + b->used;
    memcpy(p, src, n);
    size_t step = (n + 7) & ~(size_t)7; /* keep later copies 8-byte aligned */
    b->used = step < b->size - b->used ? b->used + step : b->size;
    return p;
}

/* Forget every copy; the blocks stay for reuse. */
void ps_sq_arena_reset(ps_sq_arena *a)
{
    a->cur = NULL;
}

/* Forget every copy and give back all memory beyond a small first block. */
void ps_sq_arena_trim(ps_sq_arena *a)
{
    ps_sq_block *b = a->head;
    if (b != NULL && b->size > PS_SQ_ARENA_KEEP) {
        a->head = NULL;
    } else if (b != NULL) {
        b = b->next;
        a->head->next = NULL;
    }
    while (b != NULL) {
        ps_sq_block *next = b->next;
        ps_backend_free(b);
        b = next;
    }
    a->cur = NULL;
}

/* ---- per-table statements ---------------------------------------------- */

/* This connection's slot for table t; fills in its name the first time. */
int ps_sq_tab_get(ps_sq_conn *c, ps_table t, ps_sq_tab **out, promstore_error *err)
{
    if (t < c->ntabs && c->tabs[t].name[0] != '\0') {
        *out = &c->tabs[t];
        return 0;
    }
    char name[PS_SQ_NAME_CAP];
    if (ps_sq_name(c->txn.be, t, name))
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: no table has handle %u", t);
    if (t >= c->ntabs) {
        uint32_t n = c->ntabs ? c->ntabs : 16;
        while (n <= t)
            n *= 2;
        ps_sq_tab *tabs = ps_backend_realloc(c->tabs, n * sizeof *tabs);
        if (tabs == NULL)
            return ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: out of memory opening table '%s'", name);
        memset(tabs + c->ntabs, 0, (n - c->ntabs) * sizeof *tabs);
        c->tabs = tabs;
        c->ntabs = n;
    }
    memcpy(c->tabs[t].name, name, sizeof name);
    *out = &c->tabs[t];
    return 0;
}

/*
 * The SQL name of table `name`: "t_" and the name with '_' doubled and each
 * capital letter written as '_' and its small letter. SQL compares names
 * without case, so "Foo" and "foo" must not both become "t_foo"; the result
 * has no capitals left and the escaping is reversible, so distinct names stay
 * distinct. Valid names (checked at table_open) need no quoting beyond "".
 */
void ps_sq_sql_name(const char *name, char out[PS_SQ_SQLNAME_CAP])
{
    size_t n = 0;
    out[n++] = 't';
    out[n++] = '_';
    for (; *name != '\0' && n + 3 <= PS_SQ_SQLNAME_CAP; name++) {
        char ch = *name;
        if (ch == '_' || (ch >= 'A' && ch <= 'Z'))
            out[n++] = '_';
        out[n++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    out[n] = '\0';
}

/* Prepare statement op on table t (not cached). A table missing from this
 * snapshot is PROMSTORE_E_NOT_FOUND. */
int ps_sq_prepare_op(ps_sq_conn *c, ps_table t, enum ps_sq_op op,
                     sqlite3_stmt **out, promstore_error *err)
{
    /* Each statement is head "table" tail. */
    static const char *const head[PS_SQ_NOPS] = {
        [PS_SQ_GET] = "SELECT v FROM",
        [PS_SQ_PUT] = "INSERT OR REPLACE INTO",
        [PS_SQ_DEL] = "DELETE FROM",
        [PS_SQ_CUR] = "SELECT k,v FROM",
    };
    static const char *const tail[PS_SQ_NOPS] = {
        [PS_SQ_GET] = "WHERE k=?1",
        [PS_SQ_PUT] = "(k,v) VALUES(?1,?2)",
        [PS_SQ_DEL] = "WHERE k=?1",
        [PS_SQ_CUR] = "WHERE k>=?1 ORDER BY k",
    };
    static const char *const opname[PS_SQ_NOPS] = {"get", "put", "del", "cursor"};
    ps_sq_tab *tab;
    char sqlname[PS_SQ_SQLNAME_CAP], sql[256];
    int rc = ps_sq_tab_get(c, t, &tab, err);
    if (rc)
        return rc;
    ps_sq_sql_name(tab->name, sqlname);
    snprintf(sql, sizeof sql, "%s \"%s\" %s", head[op], sqlname, tail[op]);
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc == SQLITE_OK)
        return 0;
    if (rc == SQLITE_ERROR && strncmp(sqlite3_errmsg(c->db), "no such table", 13) == 0)
        return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND,
                       "sqlite: %s in table '%s': the table does not exist in this transaction",
                       opname[op], tab->name);
    return ps_sq_fail(c->db, rc, err, opname[op], tab->name);
}

/* The cached statement op for table t, prepared on first use. */
int ps_sq_stmt(ps_sq_conn *c, ps_table t, enum ps_sq_op op, sqlite3_stmt **out,
               promstore_error *err)
{
    if (t < c->ntabs && c->tabs[t].st[op] != NULL) {
        *out = c->tabs[t].st[op];
        return 0;
    }
    sqlite3_stmt *st = NULL;
    int rc = ps_sq_prepare_op(c, t, op, &st, err);
    if (rc)
        return rc;
    c->tabs[t].st[op] = st; /* prepare_op made the slot exist */
    *out = st;
    return 0;
}

/* Drop what this connection knows about table t (its creation was undone). */
void ps_sq_tab_forget(ps_sq_conn *c, ps_table t)
{
    if (t >= c->ntabs)
        return;
    for (int i = 0; i < PS_SQ_NOPS; i++) {
        sqlite3_finalize(c->tabs[t].st[i]);
        c->tabs[t].st[i] = NULL;
    }
    c->tabs[t].known = 0;
    c->tabs[t].cur_busy = 0;
}

/* ---- checkpoint and close ---------------------------------------------- */

/*
 * Is the WAL's growth since the last checkpoint attempt at least a quarter of
 * the space left on the filesystem? Then the WAL is about to eat the disk.
 */
static int ps_sq_wal_crowds_disk(ps_sq_conn *c, int64_t grown)
{
    struct statvfs sv;
    const char *path = sqlite3_db_filename(c->db, "main");
    if (grown <= 0 || path == NULL || *path == '\0' || statvfs(path, &sv) != 0)
        return 0;
    return (uint64_t)grown >= (uint64_t)sv.f_bavail * sv.f_frsize / 4;
}

/*
 * After a commit on the write connection: a PASSIVE checkpoint once the WAL
 * has grown by half the database (PS_SQ_CKPT_MIN..PS_SQ_CKPT_MAX) since the
 * last attempt. Measured from the last attempt, not from zero, so that a
 * reader pinning the WAL does not turn every later commit into a checkpoint.
 * Errors are left for the next attempt: the commit has succeeded whatever
 * happens here.
 *
 * Sooner when the disk runs out: once the WAL has grown by a quarter of the
 * free space. Otherwise the WAL takes the last free bytes before its
 * checkpoint is due, and then the checkpoint, which must grow the database
 * file, cannot run either: the WAL never restarts, and space freed later is
 * eaten by the WAL again (tests/diskfull). A WAL checkpointed in time
 * restarts from its beginning and reuses its own file space.
 */
void ps_sq_maybe_checkpoint(ps_sq_conn *c, int page_size)
{
    if (c->wal_frames < c->ckpt_frames)
        c->ckpt_frames = 0; /* SQLite restarted the WAL from its beginning */
    int64_t grown = (int64_t)(c->wal_frames - c->ckpt_frames) * page_size;
    int due = grown >= PS_SQ_CKPT_MIN;
    if (due && grown < PS_SQ_CKPT_MAX) {
        sqlite3_stmt *st = c->fixed[PS_SQ_PAGES];
        int64_t pages = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        due = grown >= pages * page_size / 2;
    }
    if (!due && !ps_sq_wal_crowds_disk(c, grown))
        return;
    sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    c->ckpt_frames = c->wal_frames;
}

/* Finalize everything and close. NULL is a no-op. */
void ps_sq_conn_close(ps_sq_conn *c)
{
    if (c == NULL)
        return;
    for (uint32_t t = 0; t < c->ntabs; t++)
        for (int i = 0; i < PS_SQ_NOPS; i++)
            sqlite3_finalize(c->tabs[t].st[i]);
    for (int i = 0; i < PS_SQ_NFIXED; i++)
        sqlite3_finalize(c->fixed[i]);
    sqlite3_close_v2(c->db);
    ps_sq_arena_trim(&c->arena);
    ps_backend_free(c->arena.head);
    ps_backend_free(c->tabs);
    ps_backend_free(c->created);
    ps_backend_free(c);
}
