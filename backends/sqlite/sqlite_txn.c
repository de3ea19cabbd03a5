/*
 * sqlite_txn.c -- transactions, tables and point operations (get, put, del)
 * of the SQLite backend. Design notes: sqlite_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

/* ---- shared checks ----------------------------------------------------- */

/* Name of table t for a message (no lock when this connection knows it). */
static const char *ps_sq_label(ps_txn *txn, ps_table t, char buf[PS_SQ_NAME_CAP])
{
    ps_sq_conn *c = txn->conn;
    if (t < c->ntabs && c->tabs[t].name[0] != '\0')
        return c->tabs[t].name;
    if (ps_sq_name(txn->be, t, buf) == 0)
        return buf;
    return "?";
}

/* A write transaction that failed accepts nothing but abort. */
static int ps_sq_check_failed(ps_txn *txn, ps_table t, const char *what,
                              promstore_error *err)
{
    char buf[PS_SQ_NAME_CAP];
    if (txn->failed == 0)
        return 0;
    return ps_backend_fail(err, txn->failed,
                   "sqlite: %s in table '%s': an earlier write failed; the "
                   "transaction can only be aborted",
                   what, ps_sq_label(txn, t, buf));
}

/* Keys are 1..PS_BACKEND_MAX_KEY bytes. */
int ps_sq_check_key(ps_txn *txn, ps_table t, const void *key, size_t klen,
                    promstore_error *err)
{
    char buf[PS_SQ_NAME_CAP];
    if (key == NULL || klen == 0 || klen > PS_BACKEND_MAX_KEY)
        return ps_backend_fail(err, PROMSTORE_E_INVALID,
                       "sqlite: table '%s': key of %zu bytes (1..%d allowed)",
                       ps_sq_label(txn, t, buf), key ? klen : 0, PS_BACKEND_MAX_KEY);
    return 0;
}

/* Writes need the write transaction, still healthy. */
int ps_sq_check_write(ps_txn *txn, ps_table t, const char *what, promstore_error *err)
{
    char buf[PS_SQ_NAME_CAP];
    if (!txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "sqlite: %s in table '%s': a read transaction cannot write",
                       what, ps_sq_label(txn, t, buf));
    return ps_sq_check_failed(txn, t, what, err);
}

/* A failed SQLite step: fill *err, and in a write transaction mark it failed
 * (SQLite may have rolled it back already; see sqlite_int.h, note 4). */
static int ps_sq_txn_fail(ps_txn *txn, int rc, promstore_error *err,
                          const char *what, ps_table t)
{
    char buf[PS_SQ_NAME_CAP];
    int status = ps_sq_fail(txn->conn->db, rc, err, what, ps_sq_label(txn, t, buf));
    if (txn->write)
        txn->failed = status;
    return status;
}

/* ---- begin, commit, abort ---------------------------------------------- */

/* Claim the write connection; a second concurrent writer is misuse. */
static int ps_sq_writer_take(ps_sq_backend *be, ps_sq_conn **out, promstore_error *err)
{
    pthread_mutex_lock(&be->mu);
    int busy = be->writer_busy;
    be->writer_busy = 1;
    pthread_mutex_unlock(&be->mu);
    if (busy)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "sqlite: a write transaction is already open");
    *out = be->writer;
    return 0;
}

static void ps_sq_conn_release(ps_sq_backend *be, ps_sq_conn *c)
{
    if (c->writer) {
        pthread_mutex_lock(&be->mu);
        be->writer_busy = 0;
        pthread_mutex_unlock(&be->mu);
    } else {
        ps_sq_pool_give(be, c);
    }
}

int ps_sq_txn_begin(ps_backend *b, int write, ps_txn **out, promstore_error *err)
{
    ps_sq_backend *be = (ps_sq_backend *)b;
    ps_sq_conn *c = NULL;
    int rc;

    if (be == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: txn_begin: NULL argument");
    rc = write ? ps_sq_writer_take(be, &c, err) : ps_sq_pool_take(be, &c, err);
    if (rc)
        return rc;
    rc = ps_sq_run(c, c->fixed[PS_SQ_BEGIN], err,
                   write ? "begin write transaction" : "begin read transaction", NULL);
    if (rc) goto fail;
    /* A deferred BEGIN takes the WAL snapshot only at the first read. */
    if (!write) {
        rc = ps_sq_run(c, c->fixed[PS_SQ_SNAPSHOT], err, "begin read transaction", NULL);
        if (rc) goto fail_rollback;
    }
    c->txn.failed = 0;
    c->txn.ncursors = 0;
    c->ncreated = 0;
    *out = &c->txn;
    return 0;
fail_rollback:
    ps_sq_run(c, c->fixed[PS_SQ_ROLLBACK], NULL, "rollback", NULL);
fail:
    ps_sq_conn_release(be, c);
    return rc;
}

/*
 * Finish a transaction whose COMMIT succeeded (committed != 0) or that is
 * being abandoned: roll back if SQLite still has it open, undo the memory of
 * tables created by it, checkpoint if due, and give the connection back.
 */
static void ps_sq_txn_end(ps_txn *txn, int committed)
{
    ps_sq_conn *c = txn->conn;
    ps_sq_backend *be = txn->be;

    if (!committed && !sqlite3_get_autocommit(c->db))
        ps_sq_run(c, c->fixed[PS_SQ_ROLLBACK], NULL, "rollback", NULL);
    if (!committed)
        for (size_t i = 0; i < c->ncreated; i++)
            ps_sq_tab_forget(c, c->created[i]);
    c->ncreated = 0;
    if (committed && c->writer)
        ps_sq_maybe_checkpoint(c, be->page_size);
    ps_sq_arena_trim(&c->arena);
    txn->failed = 0;
    ps_sq_conn_release(be, c);
}

int ps_sq_txn_commit(ps_txn *txn, promstore_error *err)
{
    if (txn == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: commit: NULL transaction");
    ps_sq_conn *c = txn->conn;
    int rc = txn->failed;
    if (rc)
        ps_backend_fail(err, rc, "sqlite: commit refused: an earlier write failed; "
                         "the transaction was rolled back");
    else
        rc = ps_sq_run(c, c->fixed[PS_SQ_COMMIT], err,
                       txn->write ? "commit" : "end read transaction", NULL);
    ps_sq_txn_end(txn, rc == 0);
    return rc;
}

void ps_sq_txn_abort(ps_txn *txn)
{
    if (txn != NULL)
        ps_sq_txn_end(txn, 0);
}

/* ---- tables ------------------------------------------------------------ */

/* Does "t_<name>" exist in this transaction's snapshot? */
static int ps_sq_table_exists(ps_txn *txn, ps_table t, const char *name,
                              int *exists, promstore_error *err)
{
    sqlite3_stmt *st = txn->conn->fixed[PS_SQ_EXISTS];
    char sqlname[PS_SQ_SQLNAME_CAP];
    ps_sq_sql_name(name, sqlname);
    sqlite3_bind_text(st, 1, sqlname, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        rc = ps_sq_txn_fail(txn, rc, err, "table_open", t);
        sqlite3_reset(st);
        return rc;
    }
    *exists = rc == SQLITE_ROW;
    sqlite3_reset(st);
    return 0;
}

/* CREATE TABLE, remembered so that an abort can forget it again. */
static int ps_sq_table_create(ps_txn *txn, ps_table t, const char *name,
                              promstore_error *err)
{
    ps_sq_conn *c = txn->conn;
    char sqlname[PS_SQ_SQLNAME_CAP], sql[256];
    if (c->ncreated == c->capcreated) {
        size_t cap = c->capcreated ? c->capcreated * 2 : 8;
        uint32_t *p = ps_backend_realloc(c->created, cap * sizeof *p);
        if (p == NULL)
            return ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: out of memory creating table '%s'", name);
        c->created = p;
        c->capcreated = cap;
    }
    ps_sq_sql_name(name, sqlname);
    snprintf(sql, sizeof sql,
             "CREATE TABLE \"%s\"(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID", sqlname);
    ps_sq_arena_reset(&c->arena);
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc)
        return ps_sq_txn_fail(txn, rc, err, "create table", t);
    c->created[c->ncreated++] = t;
    return 0;
}

int ps_sq_table_open(ps_txn *txn, const char *name, int create, ps_table *out,
                     promstore_error *err)
{
    ps_sq_tab *tab;
    ps_table t;
    int exists = 0;
    int rc;

    if (txn == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: table_open: NULL argument");
    rc = ps_sq_intern(txn->be, name, &t, err);
    if (rc)
        return rc;
    rc = create ? ps_sq_check_write(txn, t, "create table", err)
                : ps_sq_check_failed(txn, t, "table_open", err);
    if (rc)
        return rc;
    rc = ps_sq_tab_get(txn->conn, t, &tab, err);
    if (rc)
        return rc;
    if (!tab->known) {
        rc = ps_sq_table_exists(txn, t, name, &exists, err);
        if (rc)
            return rc;
        if (!exists && !create)
            return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "sqlite: table '%s' does not exist", name);
        if (!exists) {
            rc = ps_sq_table_create(txn, t, name, err);
            if (rc)
                return rc;
        }
        tab->known = 1;
    }
    *out = t;
    return 0;
}

/* DELETE without WHERE: SQLite's truncate optimisation frees the table's
 * pages without visiting its rows. */
int ps_sq_table_clear(ps_txn *txn, ps_table t, promstore_error *err)
{
    ps_sq_tab *tab;
    char sqlname[PS_SQ_SQLNAME_CAP], sql[192];
    if (txn == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: table_clear: NULL transaction");
    int rc = ps_sq_check_write(txn, t, "table_clear", err);
    if (rc)
        return rc;
    rc = ps_sq_tab_get(txn->conn, t, &tab, err);
    if (rc)
        return rc;
    ps_sq_sql_name(tab->name, sqlname);
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\"", sqlname);
    ps_sq_arena_reset(&txn->conn->arena);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(txn->conn->db, sql, -1, &st, NULL);
    if (rc == SQLITE_ERROR && strncmp(sqlite3_errmsg(txn->conn->db), "no such table", 13) == 0)
        return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "sqlite: table_clear: table '%s' does not exist",
                       tab->name);
    if (rc)
        return ps_sq_txn_fail(txn, rc, err, "table_clear", t);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : ps_sq_txn_fail(txn, rc, err, "table_clear", t);
    sqlite3_finalize(st);
    return rc;
}

/* ---- get, put, del ----------------------------------------------------- */

int ps_sq_get(ps_txn *txn, ps_table t, const void *key, size_t klen,
              const void **val, size_t *vlen, promstore_error *err)
{
    sqlite3_stmt *st;
    char buf[PS_SQ_NAME_CAP];
    if (txn == NULL || val == NULL || vlen == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: get: NULL argument");
    int rc = ps_sq_check_failed(txn, t, "get", err);
    if (rc == 0)
        rc = ps_sq_check_key(txn, t, key, klen, err);
    if (rc == 0)
        rc = ps_sq_stmt(txn->conn, t, PS_SQ_GET, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "sqlite: get in table '%s': no such key",
                       ps_sq_label(txn, t, buf));
    }
    if (rc != SQLITE_ROW) {
        rc = ps_sq_txn_fail(txn, rc, err, "get", t);
        sqlite3_reset(st);
        return rc;
    }
    /* Copied, and the previous get's copy dropped (sqlite_int.h, note 7). */
    const void *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    ps_sq_arena_reset(&txn->conn->arena);
    const void *copy = n ? ps_sq_arena_copy(&txn->conn->arena, p, n) : "";
    sqlite3_reset(st);
    if (copy == NULL)
        return ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: get in table '%s': out of memory (%zu bytes)",
                       ps_sq_label(txn, t, buf), n);
    *val = copy;
    *vlen = n;
    return 0;
}

int ps_sq_put(ps_txn *txn, ps_table t, const void *key, size_t klen,
              const void *val, size_t vlen, promstore_error *err)
{
    sqlite3_stmt *st;
    char buf[PS_SQ_NAME_CAP];
    if (txn == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: put: NULL transaction");
    int rc = ps_sq_check_write(txn, t, "put", err);
    if (rc == 0)
        rc = ps_sq_check_key(txn, t, key, klen, err);
    if (rc == 0 && val == NULL && vlen > 0)
        rc = ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: put in table '%s': NULL value",
                     ps_sq_label(txn, t, buf));
    if (rc == 0)
        rc = ps_sq_stmt(txn->conn, t, PS_SQ_PUT, &st, err);
    if (rc)
        return rc;
    ps_sq_arena_reset(&txn->conn->arena);
    sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
    /* A NULL pointer would bind SQL NULL; an empty value is an empty BLOB. */
    if (vlen > 0)
        sqlite3_bind_blob64(st, 2, val, vlen, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(st, 2, 0);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : ps_sq_txn_fail(txn, rc, err, "put", t);
    sqlite3_reset(st);
    return rc;
}

/* Delete one key through the cached statement; NOT_FOUND if it was absent. */
int ps_sq_delete_key(ps_txn *txn, ps_table t, const void *key, size_t klen,
                     promstore_error *err)
{
    sqlite3_stmt *st;
    char buf[PS_SQ_NAME_CAP];
    int rc = ps_sq_stmt(txn->conn, t, PS_SQ_DEL, &st, err);
    if (rc)
        return rc;
    ps_sq_arena_reset(&txn->conn->arena);
    sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        rc = ps_sq_txn_fail(txn, rc, err, "del", t);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    if (sqlite3_changes(txn->conn->db) == 0)
        return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "sqlite: del in table '%s': no such key",
                       ps_sq_label(txn, t, buf));
    return 0;
}

int ps_sq_del(ps_txn *txn, ps_table t, const void *key, size_t klen,
              promstore_error *err)
{
    if (txn == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: del: NULL transaction");
    int rc = ps_sq_check_write(txn, t, "del", err);
    if (rc == 0)
        rc = ps_sq_check_key(txn, t, key, klen, err);
    if (rc)
        return rc;
    return ps_sq_delete_key(txn, t, key, klen, err);
}
