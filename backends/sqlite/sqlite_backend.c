/*
 * sqlite_backend.c -- the SQLite block backend: its method table, open and
 * close, space accounting, the table-name registry and the pool of read
 * connections. Design notes: sqlite_int.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlite_int.h"

/* ---- the table registry ------------------------------------------------ */

/* Names are letters, digits, '_' and '.', 1..PS_BACKEND_MAX_TABLE_NAME bytes. */
static int ps_sq_name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n] != '\0'; n++) {
        char ch = name[n];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '.';
        if (!ok || n >= PS_BACKEND_MAX_TABLE_NAME)
            return 0;
    }
    return n > 0;
}

/* Slot i of the registry; the caller holds be->mu and i < be->ntables or the
 * chunk exists. */
static char *ps_sq_slot(ps_sq_backend *be, uint32_t i)
{
    return be->chunks[i / PS_SQ_NAMES_PER_CHUNK] + (size_t)(i % PS_SQ_NAMES_PER_CHUNK) * PS_SQ_NAME_CAP;
}

/* Copy the name of table t into out; nonzero when t is no handle. */
int ps_sq_name(ps_sq_backend *be, ps_table t, char out[PS_SQ_NAME_CAP])
{
    int rc = -1;
    pthread_mutex_lock(&be->mu);
    if (t < be->ntables) {
        memcpy(out, ps_sq_slot(be, t), PS_SQ_NAME_CAP);
        rc = 0;
    }
    pthread_mutex_unlock(&be->mu);
    return rc;
}

/* The handle for name, added to the registry if new. Says nothing about
 * whether the table exists. */
int ps_sq_intern(ps_sq_backend *be, const char *name, ps_table *out,
                 promstore_error *err)
{
    if (name == NULL || !ps_sq_name_ok(name))
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: bad table name '%s'",
                       name ? name : "(null)");
    int rc = 0;
    pthread_mutex_lock(&be->mu);
    uint32_t i = 0;
    for (; i < be->ntables; i++)
        if (strcmp(ps_sq_slot(be, i), name) == 0)
            goto found;
    if (i / PS_SQ_NAMES_PER_CHUNK >= PS_SQ_MAX_CHUNKS) {
        rc = ps_backend_fail(err, PROMSTORE_E_LIMIT, "sqlite: table '%s': too many tables (%u)", name, i);
        goto done;
    }
    char **chunk = &be->chunks[i / PS_SQ_NAMES_PER_CHUNK];
    if (*chunk == NULL && (*chunk = ps_backend_calloc(PS_SQ_NAMES_PER_CHUNK, PS_SQ_NAME_CAP)) == NULL) {
        rc = ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: out of memory opening table '%s'", name);
        goto done;
    }
    strcpy(ps_sq_slot(be, i), name); /* length checked by ps_sq_name_ok */
    be->ntables++;
found:
    *out = i;
done:
    pthread_mutex_unlock(&be->mu);
    return rc;
}

/* ---- the read-connection pool ------------------------------------------ */

/* An idle read connection, or a new one. */
int ps_sq_pool_take(ps_sq_backend *be, ps_sq_conn **out, promstore_error *err)
{
    pthread_mutex_lock(&be->mu);
    ps_sq_conn *c = be->idle;
    if (c != NULL) {
        be->idle = c->next_idle;
        be->nidle--;
    }
    pthread_mutex_unlock(&be->mu);
    if (c != NULL) {
        *out = c;
        return 0;
    }
    return ps_sq_conn_open(be, 0, out, err);
}

/* Back to the pool, or closed when the pool already keeps enough. */
void ps_sq_pool_give(ps_sq_backend *be, ps_sq_conn *c)
{
    pthread_mutex_lock(&be->mu);
    int keep = be->nidle < PS_SQ_POOL_KEEP;
    if (keep) {
        c->next_idle = be->idle;
        be->idle = c;
        be->nidle++;
    }
    pthread_mutex_unlock(&be->mu);
    if (!keep)
        ps_sq_conn_close(c);
}

/* ---- open, close ------------------------------------------------------- */

static char *ps_sq_join(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = ps_backend_malloc(la + lb + lc + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
    }
    return s;
}

static void ps_sq_close(ps_backend *b)
{
    ps_sq_backend *be = (ps_sq_backend *)b;
    if (be == NULL)
        return;
    /* Readers first: the last connection to close checkpoints and removes
     * the WAL, and that should be the write connection. */
    while (be->idle != NULL) {
        ps_sq_conn *c = be->idle;
        be->idle = c->next_idle;
        ps_sq_conn_close(c);
    }
    ps_sq_conn_close(be->writer);
    for (uint32_t i = 0; i < PS_SQ_MAX_CHUNKS; i++)
        ps_backend_free(be->chunks[i]);
    pthread_mutex_destroy(&be->mu);
    ps_backend_free(be->path);
    ps_backend_free(be->wal_path);
    ps_backend_free(be);
}

static int ps_sq_open(const char *dir, const ps_backend_config *cfg, ps_backend **out,
                      promstore_error *err)
{
    ps_sq_backend *be = NULL;
    int rc;

    if (dir == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: open: NULL argument");
    if (!sqlite3_threadsafe())
        return ps_backend_fail(err, PROMSTORE_E_UNSUPPORTED,
                       "sqlite: the SQLite library was built without thread support");
    be = ps_backend_calloc(1, sizeof *be);
    if (be == NULL)
        return ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: out of memory opening %s", dir);
    be->base.methods = &ps_sqlite_methods;
    pthread_mutex_init(&be->mu, NULL);
    be->flags = cfg ? cfg->flags : 0;
    be->max_bytes = cfg ? cfg->max_size_bytes : 0;
    be->path = ps_sq_join(dir, "/", PS_SQ_FILE);
    be->wal_path = ps_sq_join(dir, "/", PS_SQ_FILE "-wal");
    if (be->path == NULL || be->wal_path == NULL) {
        rc = ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: out of memory opening %s", dir);
        goto fail;
    }
    rc = ps_sq_conn_open(be, 1, &be->writer, err);
    if (rc) goto fail;
    *out = &be->base;
    return 0;
fail:
    ps_sq_close(&be->base);
    return rc;
}

/* ---- space ------------------------------------------------------------- */

static uint64_t ps_sq_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* page_count and freelist_count of one snapshot (the last commit). */
static int ps_sq_page_counts(ps_sq_conn *c, int64_t *pages, int64_t *free_pages,
                             promstore_error *err)
{
    sqlite3_stmt *q[2] = {c->fixed[PS_SQ_PAGES], c->fixed[PS_SQ_FREE]};
    int64_t *dst[2] = {pages, free_pages};
    int rc = ps_sq_run(c, c->fixed[PS_SQ_BEGIN], err, "space: begin", NULL);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++) {
        int s = sqlite3_step(q[i]);
        if (s != SQLITE_ROW) {
            rc = ps_sq_fail(c->db, s == SQLITE_DONE ? SQLITE_ERROR : s, err, "space", NULL);
            sqlite3_reset(q[i]);
            break;
        }
        *dst[i] = sqlite3_column_int64(q[i], 0);
        sqlite3_reset(q[i]);
    }
    ps_sq_run(c, c->fixed[PS_SQ_ROLLBACK], NULL, "space: end", NULL);
    return rc;
}

/*
 * used_bytes: (page_count - freelist_count) * page_size of the last commit,
 * i.e. the pages of the database image that hold data, wherever their newest
 * copy is (database file or WAL); the WAL's older page copies are not counted.
 * file_bytes: the database file plus the WAL file (not the -shm index, a few
 * KiB of mapped memory per thousand WAL frames).
 */
static int ps_sq_space(ps_backend *b, ps_backend_space *out, promstore_error *err)
{
    ps_sq_backend *be = (ps_sq_backend *)b;
    ps_sq_conn *c = NULL;
    int64_t pages = 0, free_pages = 0;
    if (be == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: space: NULL argument");
    int rc = ps_sq_pool_take(be, &c, err);
    if (rc)
        return rc;
    rc = ps_sq_page_counts(c, &pages, &free_pages, err);
    ps_sq_pool_give(be, c);
    if (rc)
        return rc;
    out->used_bytes = (uint64_t)(pages - free_pages) * (uint64_t)be->page_size;
    out->file_bytes = ps_sq_file_size(be->path) + ps_sq_file_size(be->wal_path);
    return 0;
}

const ps_backend_methods ps_sqlite_methods = {
    .version = PS_BACKEND_VERSION,
    .name = "sqlite",
    .open = ps_sq_open,
    .close = ps_sq_close,
    .txn_begin = ps_sq_txn_begin,
    .txn_commit = ps_sq_txn_commit,
    .txn_abort = ps_sq_txn_abort,
    .table_open = ps_sq_table_open,
    .table_clear = ps_sq_table_clear,
    .get = ps_sq_get,
    .put = ps_sq_put,
    .del = ps_sq_del,
    .cursor_open = ps_sq_cursor_open,
    .cursor_seek = ps_sq_cursor_seek,
    .cursor_first = ps_sq_cursor_first,
    .cursor_next = ps_sq_cursor_next,
    .cursor_del = ps_sq_cursor_del,
    .cursor_close = ps_sq_cursor_close,
    .space = ps_sq_space,
    .integrity = ps_sq_integrity,
};
