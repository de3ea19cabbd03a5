/*
 * lmdb_space.c -- space() of the LMDB backend.
 *
 * used_bytes: pages the last commit has in use, that is pages below
 *   last_pgno+1 minus the pages on LMDB's free list, times the page size.
 *   The free list is LMDB's database 0: one record per freeing txn whose
 *   value is an ID list, the first word of which is the number of page IDs.
 *   Pages freed but still pinned by an old reader count as free here.
 * file_bytes: st_size of data.mdb. Without MDB_WRITEMAP LMDB grows the file by
 *   writing pages at its end, so st_size is the space the pages take; LMDB
 *   never shrinks it, and free pages inside it are reused.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lmdb_internal.h"

/* Number of pages on the free list of txn's snapshot. */
static int ps_free_pages(MDB_txn *mt, uint64_t *out)
{
    MDB_cursor *mc = NULL;
    MDB_val k, v;
    uint64_t n = 0;
    int rc = mdb_cursor_open(mt, 0, &mc); /* dbi 0 is LMDB's free list */
    while (rc == 0 && (rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) == 0) {
        size_t count;
        if (v.mv_size < sizeof count) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&count, v.mv_data, sizeof count);
        n += count;
    }
    mdb_cursor_close(mc);
    if (rc != MDB_NOTFOUND)
        return rc;
    *out = n;
    return 0;
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
        return ps_fail(err, PROMSTORE_E_INVALID, "lmdb: space: NULL argument");
    ps_lmdb *be = (ps_lmdb *)base;
    ps_txn *t;
    MDB_envinfo info;
    MDB_stat st;
    uint64_t nfree = 0;
    struct stat sb;
    int rc = ps_lmdb_read_begin(be, &t, err);
    if (rc)
        return rc;
    rc = ps_space_snapshot(t, &info);
    if (rc == 0)
        rc = mdb_env_stat(be->env, &st);
    if (rc == 0)
        rc = ps_free_pages(t->mt, &nfree);
    ps_lmdb_read_end(t);
    if (rc)
        return ps_lmdb_fail(err, rc, "space: reading the free list", NULL);
    if (stat(be->data_path, &sb) != 0)
        return ps_fail(err, PROMSTORE_E_IO, "lmdb: space: stat '%s': %s", be->data_path,
                       strerror(errno));
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    out->used_bytes = (pages > nfree ? pages - nfree : 0) * st.ms_psize;
    out->file_bytes = (uint64_t)sb.st_size;
    return 0;
}
