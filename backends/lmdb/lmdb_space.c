/*
 * lmdb_space.c -- space() of the LMDB backend.
 *
 * used_bytes: pages the last commit has in use, times the page size: the two
 *   meta pages plus every page of every tree -- the free list's own tree
 *   (dbi 0), the main database that names the tables (dbi 1) and each
 *   table -- as mdb_stat counts them (branch, leaf and overflow pages). That
 *   is last_pgno + 1 minus the pages on the free list (the integrity check
 *   verifies the identity), but costs one mdb_stat per table instead of a
 *   walk of the free list, whose records grow with everything ever freed: the
 *   maintenance thread asks for it after every append when a size limit is
 *   set. Pages freed but still pinned by an old reader count as free here.
 * file_bytes: st_size of data.mdb. Without MDB_WRITEMAP LMDB grows the file by
 *   writing pages at its end, so st_size is the space the pages take; LMDB
 *   never shrinks it, and free pages inside it are reused.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lmdb_internal.h"

#define LMDB_METAS 2 /* LMDB's NUM_METAS: pages 0 and 1 */

static uint64_t tree_pages(const MDB_stat *st)
{
    return (uint64_t)st->ms_branch_pages + st->ms_leaf_pages + st->ms_overflow_pages;
}

/*
 * Pages of every tree in txn's snapshot. Tables are the live ones of the
 * handle cache that this snapshot already has (created by a commit at or
 * before it); dbi 0 and 1 are LMDB's own.
 */
static int ps_tree_pages(ps_lmdb *be, ps_txn *t, uint64_t *out)
{
    MDB_stat st;
    uint64_t n = 0;
    int rc = 0;
    for (MDB_dbi dbi = 0; rc == 0 && dbi < 2; dbi++)
        if ((rc = mdb_stat(t->mt, dbi, &st)) == 0)
            n += tree_pages(&st);
    pthread_mutex_lock(&be->lock);
    for (MDB_dbi dbi = 2; rc == 0 && dbi < PS_LMDB_MAX_DBI; dbi++) {
        const ps_lmdb_table *tb = &be->tables[dbi];
        if (tb->state != PS_LMDB_LIVE || tb->created > t->id)
            continue;
        if ((rc = mdb_stat(t->mt, dbi, &st)) == 0)
            n += tree_pages(&st);
    }
    pthread_mutex_unlock(&be->lock);
    *out = n + LMDB_METAS;
    return rc;
}

/*
 * The env info (last_pgno) describes the newest commit; renew the read txn
 * until its snapshot is that same commit so both figures agree.
 */
static int ps_space_snapshot(ps_txn *t, MDB_envinfo *info)
{
    int rc = 0;
    for (int tries = 0; tries < 8; tries++) {
        rc = mdb_env_info(t->be->env, info);
        if (rc || info->me_last_txnid == mdb_txn_id(t->mt))
            return rc;
        mdb_txn_reset(t->mt);
        rc = mdb_txn_renew(t->mt);
        if (rc)
            return rc;
    }
    return rc; /* a busy writer: close enough */
}

int ps_lmdb_space(ps_backend *base, ps_backend_space *out, promstore_error *err)
{
    if (base == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: space: NULL argument");
    ps_lmdb *be = (ps_lmdb *)base;
    ps_txn *t;
    MDB_envinfo info;
    MDB_stat st;
    uint64_t used = 0;
    struct stat sb;
    int rc = ps_lmdb_read_begin(be, &t, err);
    if (rc)
        return rc;
    rc = ps_space_snapshot(t, &info);
    t->id = mdb_txn_id(t->mt); /* the snapshot may have been renewed */
    if (rc == 0)
        rc = mdb_env_stat(be->env, &st);
    if (rc == 0)
        rc = ps_tree_pages(be, t, &used);
    ps_lmdb_read_end(t);
    if (rc)
        return ps_lmdb_fail(err, rc, "space: counting tree pages", NULL);
    if (stat(be->data_path, &sb) != 0)
        return ps_backend_fail(err, PROMSTORE_E_IO, "lmdb: space: stat '%s': %s", be->data_path,
                       strerror(errno));
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    out->used_bytes = (used < pages ? used : pages) * st.ms_psize;
    out->file_bytes = (uint64_t)sb.st_size;
    return 0;
}
