/*
 * lmdb_cursor.c -- cursors of the LMDB backend.
 *
 * cursor_del copies the key it deletes and the following cursor_next seeks
 * to the first key >= that copy (MDB_SET_RANGE), which is the entry after the
 * deleted one. LMDB 0.9 leaves a cursor on the next entry after
 * mdb_cursor_del and marks it so that MDB_NEXT does not skip it, but how that
 * works at page boundaries and after a rebalance has changed between
 * releases; a seek is correct by construction and costs one tree descent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"

int ps_lmdb_cursor_open(ps_txn *txn, ps_table table, ps_cursor **out,
                        promstore_error *err)
{
    if (txn == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: cursor_open: NULL argument");
    const char *name = ps_lmdb_table_name(txn->be, table);
    if (txn->failed)
        return ps_backend_fail(err, txn->failed,
                       "lmdb: cursor on table '%s': transaction failed earlier", name);
    ps_cursor *c = ps_backend_malloc(sizeof *c);
    if (c == NULL)
        return ps_backend_fail(err, PROMSTORE_E_NOMEM, "lmdb: cursor on table '%s': out of memory",
                       name);
    int rc = mdb_cursor_open(txn->mt, table, &c->mc);
    if (rc) {
        ps_backend_free(c);
        return ps_lmdb_txn_mark(txn, ps_lmdb_fail(err, rc, "cursor_open", name));
    }
    c->txn = txn;
    c->table = table;
    c->resume = 0;
    c->positioned = 0;
    c->klen = 0;
    *out = c;
    return 0;
}

/* Hand a found entry to the caller, or turn LMDB's answer into a status. */
static int ps_cursor_result(ps_cursor *c, int rc, const MDB_val *mk, const MDB_val *mv,
                            const void **k, size_t *kl, const void **v, size_t *vl,
                            const char *what, promstore_error *err)
{
    c->positioned = rc == 0;
    if (rc == MDB_NOTFOUND)
        return PROMSTORE_DONE;
    if (rc)
        return ps_lmdb_txn_mark(c->txn, ps_lmdb_fail(err, rc, what,
                                                     ps_lmdb_table_name(c->txn->be, c->table)));
    if (k != NULL)
        *k = mk->mv_data;
    if (kl != NULL)
        *kl = mk->mv_size;
    if (v != NULL)
        *v = mv->mv_data;
    if (vl != NULL)
        *vl = mv->mv_size;
    return 0;
}

static int ps_cursor_usable(ps_cursor *c, const char *what, promstore_error *err)
{
    if (c == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: %s: NULL cursor", what);
    if (c->txn->failed)
        return ps_backend_fail(err, c->txn->failed,
                       "lmdb: %s in table '%s': transaction failed earlier", what,
                       ps_lmdb_table_name(c->txn->be, c->table));
    return 0;
}

int ps_lmdb_cursor_seek(ps_cursor *c, const void *key, size_t klen, const void **k,
                        size_t *kl, const void **v, size_t *vl, promstore_error *err)
{
    int rc = ps_cursor_usable(c, "cursor_seek", err);
    if (rc)
        return rc;
    if (key == NULL || klen == 0 || klen > PS_BACKEND_MAX_KEY)
        return ps_backend_fail(err, PROMSTORE_E_INVALID,
                       "lmdb: cursor_seek in table '%s': key of %zu bytes (1..%d allowed)",
                       ps_lmdb_table_name(c->txn->be, c->table), klen, PS_BACKEND_MAX_KEY);
    MDB_val mk = {klen, (void *)key}, mv;
    c->resume = 0;
    rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_SET_RANGE);
    return ps_cursor_result(c, rc, &mk, &mv, k, kl, v, vl, "cursor_seek", err);
}

int ps_lmdb_cursor_first(ps_cursor *c, const void **k, size_t *kl, const void **v,
                         size_t *vl, promstore_error *err)
{
    int rc = ps_cursor_usable(c, "cursor_first", err);
    if (rc)
        return rc;
    MDB_val mk, mv;
    c->resume = 0;
    rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_FIRST);
    return ps_cursor_result(c, rc, &mk, &mv, k, kl, v, vl, "cursor_first", err);
}

int ps_lmdb_cursor_next(ps_cursor *c, const void **k, size_t *kl, const void **v,
                        size_t *vl, promstore_error *err)
{
    int rc = ps_cursor_usable(c, "cursor_next", err);
    if (rc)
        return rc;
    MDB_val mk, mv;
    if (c->resume) {
        c->resume = 0;
        mk.mv_size = c->klen;
        mk.mv_data = c->key;
        rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_SET_RANGE);
    } else {
        rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_NEXT);
    }
    return ps_cursor_result(c, rc, &mk, &mv, k, kl, v, vl, "cursor_next", err);
}

int ps_lmdb_cursor_del(ps_cursor *c, promstore_error *err)
{
    int rc = ps_cursor_usable(c, "cursor_del", err);
    if (rc)
        return rc;
    const char *name = ps_lmdb_table_name(c->txn->be, c->table);
    if (!c->txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE, "lmdb: cursor_del in table '%s': read transaction",
                       name);
    MDB_val mk, mv;
    /*
     * Not positioned: never moved, last move gave DONE (LMDB still stands on
     * the last entry then), or just deleted (the cursor is between entries).
     */
    rc = c->positioned ? mdb_cursor_get(c->mc, &mk, &mv, MDB_GET_CURRENT) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND || rc == EINVAL)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "lmdb: cursor_del in table '%s': no entry under the cursor", name);
    if (rc == 0 && mk.mv_size > sizeof c->key)
        rc = MDB_BAD_VALSIZE;
    if (rc)
        return ps_lmdb_txn_mark(c->txn, ps_lmdb_fail(err, rc, "cursor_del", name));
    /* Copy the key first: the delete may move or free the page it lives in. */
    memcpy(c->key, mk.mv_data, mk.mv_size);
    c->klen = mk.mv_size;
    rc = mdb_cursor_del(c->mc, 0);
    if (rc)
        return ps_lmdb_txn_mark(c->txn, ps_lmdb_fail(err, rc, "cursor_del", name));
    c->resume = 1;
    c->positioned = 0;
    return 0;
}

void ps_lmdb_cursor_close(ps_cursor *c)
{
    if (c == NULL)
        return;
    mdb_cursor_close(c->mc);
    ps_backend_free(c);
}
