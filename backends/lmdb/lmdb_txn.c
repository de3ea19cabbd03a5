/*
 * lmdb_txn.c -- transactions of the LMDB backend (the single reused write
 * transaction and a pool of reset read transactions) and the point
 * operations get, put and del.
 */
#include <stdlib.h>

#include "lmdb_internal.h"

/* Take an idle read txn from the pool, or NULL. */
static ps_txn *ps_idle_pop(ps_lmdb *be)
{
    pthread_mutex_lock(&be->lock);
    ps_txn *t = be->idle;
    if (t != NULL) {
        be->idle = t->next_idle;
        be->nidle--;
    }
    pthread_mutex_unlock(&be->lock);
    return t;
}

/* Keep a reset read txn for reuse; returns 0 when the pool is full. */
static int ps_idle_push(ps_lmdb *be, ps_txn *t)
{
    int kept = 0;
    pthread_mutex_lock(&be->lock);
    if (be->nidle < PS_LMDB_IDLE_MAX) {
        t->next_idle = be->idle;
        be->idle = t;
        be->nidle++;
        kept = 1;
    }
    pthread_mutex_unlock(&be->lock);
    return kept;
}

void ps_lmdb_idle_drain(ps_lmdb *be)
{
    ps_txn *t;
    while ((t = ps_idle_pop(be)) != NULL) {
        mdb_txn_abort(t->mt);
        ps_backend_free(t);
    }
}

/* A read txn on a fresh snapshot: a renewed pooled one, or a new one. */
int ps_lmdb_read_begin(ps_lmdb *be, ps_txn **out, promstore_error *err)
{
    ps_txn *t = ps_idle_pop(be);
    int rc;
    if (t != NULL) {
        rc = mdb_txn_renew(t->mt);
        if (rc)
            goto fail;
    } else {
        t = ps_backend_calloc(1, sizeof *t);
        if (t == NULL)
            return ps_backend_fail(err, PROMSTORE_E_NOMEM, "lmdb: read transaction: out of memory");
        t->be = be;
        rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &t->mt);
        if (rc)
            goto fail;
    }
    t->id = mdb_txn_id(t->mt);
    t->failed = 0;
    t->write = 0;
    *out = t;
    return 0;
fail:
    mdb_txn_abort(t->mt);
    ps_backend_free(t);
    return ps_lmdb_fail(err, rc, "beginning a read transaction", NULL);
}

void ps_lmdb_read_end(ps_txn *t)
{
    /* Reset releases the snapshot at once; the object waits for renew. */
    mdb_txn_reset(t->mt);
    if (!ps_idle_push(t->be, t)) {
        mdb_txn_abort(t->mt);
        ps_backend_free(t);
    }
}

static int ps_write_begin(ps_lmdb *be, ps_txn **out, promstore_error *err)
{
    if (__atomic_exchange_n(&be->writing, 1, __ATOMIC_ACQUIRE))
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "lmdb: a write transaction is already open");
    ps_txn *t = &be->wtxn;
    int rc = mdb_txn_begin(be->env, NULL, 0, &t->mt);
    if (rc) {
        __atomic_store_n(&be->writing, 0, __ATOMIC_RELEASE);
        return ps_lmdb_fail(err, rc, "beginning the write transaction", NULL);
    }
    t->be = be;
    t->id = mdb_txn_id(t->mt);
    t->write = 1;
    t->failed = 0;
    *out = t;
    return 0;
}

static void ps_write_done(ps_txn *t)
{
    t->mt = NULL;
    __atomic_store_n(&t->be->writing, 0, __ATOMIC_RELEASE);
}

int ps_lmdb_txn_begin(ps_backend *base, int write, ps_txn **out, promstore_error *err)
{
    if (base == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: txn_begin: NULL argument");
    ps_lmdb *be = (ps_lmdb *)base;
    if (write)
        return ps_write_begin(be, out, err);
    return ps_lmdb_read_begin(be, out, err);
}

static int ps_write_commit(ps_txn *t, promstore_error *err)
{
    ps_lmdb *be = t->be;
    int failed = t->failed;
    if (failed) {
        ps_lmdb_txn_abort(t);
        return ps_backend_fail(err, failed,
                       "lmdb: commit: the transaction failed earlier and was aborted");
    }
    int rc = mdb_txn_commit(t->mt); /* frees the LMDB txn, also on failure */
    if (rc)
        ps_lmdb_tables_forget_pending(be);
    else
        ps_lmdb_tables_commit(be, t->id);
    ps_write_done(t);
    if (rc)
        return ps_lmdb_fail_write(be, err, rc, "commit", NULL);
    return 0;
}

int ps_lmdb_txn_commit(ps_txn *txn, promstore_error *err)
{
    if (txn == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: txn_commit: NULL transaction");
    if (txn->write)
        return ps_write_commit(txn, err);
    ps_lmdb_read_end(txn);
    return 0;
}

void ps_lmdb_txn_abort(ps_txn *txn)
{
    if (txn == NULL)
        return;
    if (!txn->write) {
        ps_lmdb_read_end(txn);
        return;
    }
    mdb_txn_abort(txn->mt);
    ps_lmdb_tables_forget_pending(txn->be);
    ps_write_done(txn);
}

static int ps_key_ok(ps_txn *txn, ps_table table, const void *key, size_t klen,
                     const char *what, promstore_error *err)
{
    if (txn == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: %s: NULL transaction", what);
    if (key == NULL || klen == 0 || klen > PS_BACKEND_MAX_KEY)
        return ps_backend_fail(err, PROMSTORE_E_INVALID,
                       "lmdb: %s in table '%s': key of %zu bytes (1..%d allowed)", what,
                       ps_lmdb_table_name(txn->be, table), klen, PS_BACKEND_MAX_KEY);
    if (txn->failed)
        return ps_backend_fail(err, txn->failed,
                       "lmdb: %s in table '%s': transaction failed earlier", what,
                       ps_lmdb_table_name(txn->be, table));
    return 0;
}

int ps_lmdb_get(ps_txn *txn, ps_table table, const void *key, size_t klen,
                const void **val, size_t *vlen, promstore_error *err)
{
    int rc = ps_key_ok(txn, table, key, klen, "get", err);
    if (rc)
        return rc;
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(txn->mt, table, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "lmdb: get in table '%s': no such key",
                       ps_lmdb_table_name(txn->be, table));
    if (rc)
        return ps_lmdb_txn_mark(txn, ps_lmdb_fail(err, rc, "get",
                                                  ps_lmdb_table_name(txn->be, table)));
    *val = v.mv_data;
    *vlen = v.mv_size;
    return 0;
}

int ps_lmdb_put(ps_txn *txn, ps_table table, const void *key, size_t klen,
                const void *val, size_t vlen, promstore_error *err)
{
    int rc = ps_key_ok(txn, table, key, klen, "put", err);
    if (rc)
        return rc;
    if (!txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE, "lmdb: put in table '%s': read transaction",
                       ps_lmdb_table_name(txn->be, table));
    if (val == NULL && vlen != 0)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: put in table '%s': NULL value",
                       ps_lmdb_table_name(txn->be, table));
    static const char empty[1];
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)(vlen ? val : empty)};
    rc = mdb_put(txn->mt, table, &k, &v, 0);
    if (rc)
        return ps_lmdb_txn_mark(txn, ps_lmdb_fail_write(txn->be, err, rc, "put",
                                                        ps_lmdb_table_name(txn->be, table)));
    return 0;
}

int ps_lmdb_del(ps_txn *txn, ps_table table, const void *key, size_t klen,
                promstore_error *err)
{
    int rc = ps_key_ok(txn, table, key, klen, "del", err);
    if (rc)
        return rc;
    if (!txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE, "lmdb: del in table '%s': read transaction",
                       ps_lmdb_table_name(txn->be, table));
    MDB_val k = {klen, (void *)key};
    rc = mdb_del(txn->mt, table, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "lmdb: del in table '%s': no such key",
                       ps_lmdb_table_name(txn->be, table));
    if (rc)
        return ps_lmdb_txn_mark(txn, ps_lmdb_fail_write(txn->be, err, rc, "del",
                                                        ps_lmdb_table_name(txn->be, table)));
    return 0;
}
