/*
 * sqlite_cursor.c -- cursors of the SQLite backend: a running
 * "SELECT k,v FROM t WHERE k>=?1 ORDER BY k" per cursor. Keys and values
 * returned are SQLite's column pointers, valid until the statement is stepped
 * or reset, which is the contract's "next move of the same cursor".
 * Design notes: sqlite_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

enum ps_sq_cur_state {
    PS_SQ_CUR_UNSET,  /* not positioned yet, or the last move failed */
    PS_SQ_CUR_ROW,    /* on a row */
    PS_SQ_CUR_DONE,   /* past the end */
    PS_SQ_CUR_RESEEK  /* the row was deleted; next seeks to key and on */
};

struct ps_cursor {
    ps_txn *txn;
    ps_table table;
    sqlite3_stmt *st;
    int owned; /* st is this cursor's own, not the connection's cached one */
    enum ps_sq_cur_state state;
    size_t klen;
    unsigned char key[PS_BACKEND_MAX_KEY]; /* the bound seek key */
};

int ps_sq_cursor_open(ps_txn *txn, ps_table t, ps_cursor **out, promstore_error *err)
{
    ps_sq_tab *tab;
    ps_cursor *c = NULL;
    sqlite3_stmt *st = NULL;
    int owned = 0;
    int rc;

    if (txn == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: cursor_open: NULL argument");
    if (txn->failed)
        return ps_backend_fail(err, txn->failed, "sqlite: cursor_open: an earlier write failed; "
                                         "the transaction can only be aborted");
    rc = ps_sq_tab_get(txn->conn, t, &tab, err);
    if (rc) goto fail;
    if (tab->cur_busy) {
        /* Another cursor on this table holds the cached statement. */
        rc = ps_sq_prepare_op(txn->conn, t, PS_SQ_CUR, &st, err);
        owned = 1;
    } else {
        rc = ps_sq_stmt(txn->conn, t, PS_SQ_CUR, &st, err);
    }
    if (rc) goto fail;
    c = ps_backend_calloc(1, sizeof *c);
    if (c == NULL) {
        rc = ps_backend_fail(err, PROMSTORE_E_NOMEM, "sqlite: cursor_open in table '%s': out of memory",
                     txn->conn->tabs[t].name);
        goto fail;
    }
    c->txn = txn;
    c->table = t;
    c->st = st;
    c->owned = owned;
    if (!owned)
        txn->conn->tabs[t].cur_busy = 1;
    txn->ncursors++;
    *out = c;
    return 0;
fail:
    if (owned)
        sqlite3_finalize(st);
    return rc;
}

void ps_sq_cursor_close(ps_cursor *c)
{
    if (c == NULL)
        return;
    sqlite3_reset(c->st);
    if (c->owned)
        sqlite3_finalize(c->st);
    else
        c->txn->conn->tabs[c->table].cur_busy = 0;
    c->txn->ncursors--;
    ps_backend_free(c);
}

/* Set the outputs (any may be NULL) from the current row. */
static void ps_sq_cur_row(ps_cursor *c, const void **k, size_t *kl, const void **v,
                          size_t *vl)
{
    /* blob before bytes, as SQLite advises; an empty value is "" not NULL. */
    const void *kp = sqlite3_column_blob(c->st, 0);
    size_t kn = (size_t)sqlite3_column_bytes(c->st, 0);
    const void *vp = sqlite3_column_blob(c->st, 1);
    size_t vn = (size_t)sqlite3_column_bytes(c->st, 1);
    if (k) *k = kp;
    if (kl) *kl = kn;
    if (v) *v = vp ? vp : "";
    if (vl) *vl = vn;
}

/* Step the statement: 0 on a row, PROMSTORE_DONE at the end, or an error. */
static int ps_sq_cur_step(ps_cursor *c, const void **k, size_t *kl, const void **v,
                          size_t *vl, promstore_error *err)
{
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_ROW) {
        c->state = PS_SQ_CUR_ROW;
        ps_sq_cur_row(c, k, kl, v, vl);
        return 0;
    }
    if (rc == SQLITE_DONE) {
        c->state = PS_SQ_CUR_DONE;
        sqlite3_reset(c->st);
        return PROMSTORE_DONE;
    }
    c->state = PS_SQ_CUR_UNSET;
    rc = ps_sq_fail(c->txn->conn->db, rc, err, "cursor", c->txn->conn->tabs[c->table].name);
    if (c->txn->write)
        c->txn->failed = rc;
    sqlite3_reset(c->st);
    return rc;
}

/* Restart the statement at the first key >= c->key (an empty key: all). */
static int ps_sq_cur_restart(ps_cursor *c, const void **k, size_t *kl, const void **v,
                             size_t *vl, promstore_error *err)
{
    sqlite3_reset(c->st);
    if (c->klen > 0)
        sqlite3_bind_blob(c->st, 1, c->key, (int)c->klen, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(c->st, 1, 0); /* x'' sorts before every key */
    return ps_sq_cur_step(c, k, kl, v, vl, err);
}

static int ps_sq_cur_usable(ps_cursor *c, const char *what, promstore_error *err)
{
    if (c == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "sqlite: %s: NULL cursor", what);
    if (c->txn->failed)
        return ps_backend_fail(err, c->txn->failed,
                       "sqlite: %s in table '%s': an earlier write failed; the "
                       "transaction can only be aborted",
                       what, c->txn->conn->tabs[c->table].name);
    return 0;
}

int ps_sq_cursor_seek(ps_cursor *c, const void *key, size_t klen, const void **k,
                      size_t *kl, const void **v, size_t *vl, promstore_error *err)
{
    int rc = ps_sq_cur_usable(c, "cursor_seek", err);
    if (rc == 0)
        rc = ps_sq_check_key(c->txn, c->table, key, klen, err);
    if (rc)
        return rc;
    sqlite3_reset(c->st); /* before the bound buffer changes */
    memcpy(c->key, key, klen);
    c->klen = klen;
    return ps_sq_cur_restart(c, k, kl, v, vl, err);
}

int ps_sq_cursor_first(ps_cursor *c, const void **k, size_t *kl, const void **v,
                       size_t *vl, promstore_error *err)
{
    int rc = ps_sq_cur_usable(c, "cursor_first", err);
    if (rc)
        return rc;
    c->klen = 0;
    return ps_sq_cur_restart(c, k, kl, v, vl, err);
}

int ps_sq_cursor_next(ps_cursor *c, const void **k, size_t *kl, const void **v,
                      size_t *vl, promstore_error *err)
{
    int rc = ps_sq_cur_usable(c, "cursor_next", err);
    if (rc)
        return rc;
    switch (c->state) {
    case PS_SQ_CUR_ROW:
        return ps_sq_cur_step(c, k, kl, v, vl, err);
    case PS_SQ_CUR_RESEEK:
        /* The deleted key is gone, so >= it is the entry after it. */
        return ps_sq_cur_restart(c, k, kl, v, vl, err);
    case PS_SQ_CUR_DONE:
        return PROMSTORE_DONE;
    default:
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "sqlite: cursor_next in table '%s': cursor not positioned",
                       c->txn->conn->tabs[c->table].name);
    }
}

/*
 * Delete the current entry. The SELECT is reset first rather than left
 * running over a table it is changing (SQLite leaves that undefined); the
 * deleted key is kept and the next cursor_next seeks from it.
 */
int ps_sq_cursor_del(ps_cursor *c, promstore_error *err)
{
    int rc = ps_sq_cur_usable(c, "cursor_del", err);
    if (rc == 0)
        rc = ps_sq_check_write(c->txn, c->table, "cursor_del", err);
    if (rc)
        return rc;
    if (c->state != PS_SQ_CUR_ROW)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "sqlite: cursor_del in table '%s': the cursor is on no entry",
                       c->txn->conn->tabs[c->table].name);
    const void *kp = sqlite3_column_blob(c->st, 0);
    size_t kn = (size_t)sqlite3_column_bytes(c->st, 0);
    if (kn == 0 || kn > sizeof c->key) /* stored by someone else; cannot re-seek */
        return ps_backend_fail(err, PROMSTORE_E_CORRUPT,
                       "sqlite: cursor_del in table '%s': stored key of %zu bytes",
                       c->txn->conn->tabs[c->table].name, kn);
    memmove(c->key, kp, kn);
    c->klen = kn;
    sqlite3_reset(c->st);
    c->state = PS_SQ_CUR_RESEEK;
    return ps_sq_delete_key(c->txn, c->table, c->key, c->klen, err);
}
