/*
 * lmdb_tables.c -- tables of the LMDB backend: the cache of named-database
 * handles (name -> dbi), table_open and table_clear. Why readers never open
 * a handle themselves is in lmdb_internal.h, note 2.
 */
#include <string.h>

#include "lmdb_internal.h"

/* Letters, digits, '_' and '.'; 1..PS_BACKEND_MAX_TABLE_NAME bytes. */
static int ps_table_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > PS_BACKEND_MAX_TABLE_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

static uint32_t ps_table_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 16777619u;
    }
    return h & (PS_LMDB_BUCKETS - 1);
}

/* The dbi cached under name, or 0 (dbi 0 is LMDB's free list, never a table). */
static uint16_t ps_table_find_locked(const ps_lmdb *be, const char *name, size_t len)
{
    uint16_t dbi = be->buckets[ps_table_hash(name, len)];
    while (dbi != 0) {
        const ps_lmdb_table *t = &be->tables[dbi];
        if (strncmp(t->name, name, len) == 0 && t->name[len] == '\0')
            return dbi;
        dbi = t->next;
    }
    return 0;
}

static void ps_table_insert_locked(ps_lmdb *be, uint16_t dbi, const char *name, size_t len,
                                   int state, size_t created)
{
    ps_lmdb_table *t = &be->tables[dbi];
    uint32_t b = ps_table_hash(name, len);
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->state = (uint8_t)state;
    t->created = created;
    t->next = be->buckets[b];
    be->buckets[b] = dbi;
}

static void ps_table_remove_locked(ps_lmdb *be, uint16_t dbi)
{
    ps_lmdb_table *t = &be->tables[dbi];
    uint16_t *link = &be->buckets[ps_table_hash(t->name, strlen(t->name))];
    while (*link != 0 && *link != dbi)
        link = &be->tables[*link].next;
    if (*link == dbi)
        *link = t->next;
    memset(t, 0, sizeof *t);
}

/* Cache one key of the main database if it is one of our tables. */
static int ps_table_load_one(ps_lmdb *be, MDB_txn *mt, const MDB_val *k)
{
    char name[PS_BACKEND_MAX_TABLE_NAME + 1];
    MDB_dbi dbi;
    if (!ps_table_name_ok(k->mv_data, k->mv_size))
        return 0; /* not a name table_open could ever ask for */
    memcpy(name, k->mv_data, k->mv_size);
    name[k->mv_size] = '\0';
    int rc = mdb_dbi_open(mt, name, 0, &dbi);
    if (rc == MDB_INCOMPATIBLE)
        return 0; /* a plain key, not a named database */
    if (rc)
        return rc;
    if (dbi >= PS_LMDB_MAX_DBI)
        return MDB_DBS_FULL;
    pthread_mutex_lock(&be->lock);
    ps_table_insert_locked(be, (uint16_t)dbi, name, k->mv_size, PS_LMDB_LIVE, 0);
    pthread_mutex_unlock(&be->lock);
    return 0;
}

int ps_lmdb_tables_load(ps_lmdb *be, promstore_error *err)
{
    MDB_txn *mt = NULL;
    MDB_cursor *mc = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    int rc = mdb_txn_begin(be->env, NULL, MDB_RDONLY, &mt);
    if (rc)
        return ps_lmdb_fail(err, rc, "listing tables", NULL);
    rc = mdb_dbi_open(mt, NULL, 0, &main_dbi);
    if (rc == 0)
        rc = mdb_cursor_open(mt, main_dbi, &mc);
    while (rc == 0 && (rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) == 0)
        rc = ps_table_load_one(be, mt, &k);
    if (mc != NULL)
        mdb_cursor_close(mc);
    if (rc != MDB_NOTFOUND)
        goto fail;
    /* Commit, not abort: LMDB closes handles opened by an aborted txn. */
    rc = mdb_txn_commit(mt);
    mt = NULL;
    if (rc)
        goto fail;
    return 0;
fail:
    mdb_txn_abort(mt);
    return ps_lmdb_fail(err, rc, "listing tables", NULL);
}

void ps_lmdb_tables_commit(ps_lmdb *be, size_t txnid)
{
    pthread_mutex_lock(&be->lock);
    for (size_t i = 0; i < be->npending; i++) {
        ps_lmdb_table *t = &be->tables[be->pending[i]];
        t->state = PS_LMDB_LIVE;
        t->created = txnid;
    }
    be->npending = 0;
    pthread_mutex_unlock(&be->lock);
}

void ps_lmdb_tables_forget_pending(ps_lmdb *be)
{
    pthread_mutex_lock(&be->lock);
    for (size_t i = 0; i < be->npending; i++)
        ps_table_remove_locked(be, be->pending[i]);
    be->npending = 0;
    pthread_mutex_unlock(&be->lock);
}

static int ps_table_create(ps_txn *txn, const char *name, size_t len, ps_table *out,
                           promstore_error *err)
{
    ps_lmdb *be = txn->be;
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn->mt, name, MDB_CREATE, &dbi);
    if (rc == MDB_DBS_FULL)
        return ps_lmdb_txn_mark(txn, ps_backend_fail(err, PROMSTORE_E_FULL,
                                             "lmdb: creating table '%s': more than %d tables",
                                             name, PS_LMDB_MAX_TABLES));
    if (rc)
        return ps_lmdb_txn_mark(txn, ps_lmdb_fail(err, rc, "create", name));
    pthread_mutex_lock(&be->lock);
    int clash = dbi >= PS_LMDB_MAX_DBI || be->tables[dbi].state != PS_LMDB_FREE;
    if (!clash) {
        ps_table_insert_locked(be, (uint16_t)dbi, name, len, PS_LMDB_PENDING, 0);
        be->pending[be->npending++] = (uint16_t)dbi;
    }
    pthread_mutex_unlock(&be->lock);
    if (clash)
        return ps_lmdb_txn_mark(txn, ps_backend_fail(err, PROMSTORE_E_CORRUPT,
                                             "lmdb: creating table '%s': handle %u in use",
                                             name, (unsigned)dbi));
    *out = dbi;
    return 0;
}

/*
 * A reader sees a table only if its snapshot holds it: the table was created
 * by a commit no later than the snapshot, and LMDB knows the handle in this
 * transaction (a reader begun while that commit finished may not).
 */
static int ps_table_visible(ps_txn *txn, ps_table dbi, size_t created)
{
    unsigned flags;
    if (txn->write)
        return 1;
    return txn->id >= created && mdb_dbi_flags(txn->mt, dbi, &flags) == 0;
}

int ps_lmdb_table_open(ps_txn *txn, const char *name, int create, ps_table *out,
                       promstore_error *err)
{
    if (txn == NULL || name == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: table_open: NULL argument");
    size_t len = strnlen(name, PS_BACKEND_MAX_TABLE_NAME + 1);
    if (!ps_table_name_ok(name, len))
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: bad table name '%.*s'",
                       (int)len, name);
    if (create && !txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "lmdb: creating table '%s' needs the write transaction", name);
    if (txn->failed)
        return ps_backend_fail(err, txn->failed, "lmdb: table '%s': transaction failed earlier",
                       name);
    ps_lmdb *be = txn->be;
    pthread_mutex_lock(&be->lock);
    uint16_t dbi = ps_table_find_locked(be, name, len);
    int state = dbi ? be->tables[dbi].state : PS_LMDB_FREE;
    size_t created = dbi ? be->tables[dbi].created : 0;
    pthread_mutex_unlock(&be->lock);
    if (state == PS_LMDB_LIVE && ps_table_visible(txn, dbi, created)) {
        *out = dbi;
        return 0;
    }
    if (state == PS_LMDB_PENDING && txn->write) {
        *out = dbi;
        return 0;
    }
    if (create)
        return ps_table_create(txn, name, len, out, err);
    return ps_backend_fail(err, PROMSTORE_E_NOT_FOUND, "lmdb: no table '%s'", name);
}

int ps_lmdb_table_clear(ps_txn *txn, ps_table table, promstore_error *err)
{
    const char *name = ps_lmdb_table_name(txn->be, table);
    if (!txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE,
                       "lmdb: clearing table '%s' needs the write transaction", name);
    if (txn->failed)
        return ps_backend_fail(err, txn->failed, "lmdb: table '%s': transaction failed earlier",
                       name);
    /* del=0: empty it but keep the handle, which older snapshots may still use. */
    int rc = mdb_drop(txn->mt, table, 0);
    if (rc)
        return ps_lmdb_txn_mark(txn, ps_lmdb_fail(err, rc, "clear", name));
    return 0;
}
