/*
 * lmdb_backend.c -- the LMDB block backend: its method table, open and close,
 * and the mapping of LMDB errors to promstore statuses. The design notes are
 * in lmdb_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lmdb_internal.h"

/*
 * Reading a tree page past the end of data.mdb through the map is a SIGBUS:
 * a file cut short (a bad copy, a full disk in a copy tool) would kill the
 * process at the first read. So the open reads the length first and refuses
 * a file that lacks pages in use; pages past its end that are all free are
 * normal (lmdb_tail.c).
 */
static int ps_lmdb_refuse_truncated(ps_lmdb *be, const char *dir, promstore_error *err)
{
    MDB_envinfo info;
    MDB_stat st;
    char why[512];
    int rc = mdb_env_info(be->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(be->env, &st);
    if (rc)
        return ps_lmdb_fail(err, rc, "opening: environment info", NULL);
    rc = ps_lmdb_length_check(be, info.me_last_txnid, (uint64_t)info.me_last_pgno + 1,
                              st.ms_psize, why, sizeof why, err);
    if (rc > 0)
        return ps_backend_fail(err, PROMSTORE_E_CORRUPT, "lmdb: opening '%s': %s", dir, why);
    return rc;
}

static int ps_lmdb_open(const char *dir, const ps_backend_config *cfg, ps_backend **out,
                        promstore_error *err);
static void ps_lmdb_close(ps_backend *base);

const ps_backend_methods ps_lmdb_methods = {
    .version = PS_BACKEND_VERSION,
    .name = "lmdb",
    .open = ps_lmdb_open,
    .close = ps_lmdb_close,
    .txn_begin = ps_lmdb_txn_begin,
    .txn_commit = ps_lmdb_txn_commit,
    .txn_abort = ps_lmdb_txn_abort,
    .table_open = ps_lmdb_table_open,
    .table_clear = ps_lmdb_table_clear,
    .get = ps_lmdb_get,
    .put = ps_lmdb_put,
    .del = ps_lmdb_del,
    .cursor_open = ps_lmdb_cursor_open,
    .cursor_seek = ps_lmdb_cursor_seek,
    .cursor_first = ps_lmdb_cursor_first,
    .cursor_next = ps_lmdb_cursor_next,
    .cursor_del = ps_lmdb_cursor_del,
    .cursor_close = ps_lmdb_cursor_close,
    .space = ps_lmdb_space,
    .integrity = ps_lmdb_integrity,
};

static promstore_status ps_lmdb_status(int mrc)
{
    switch (mrc) {
    case MDB_NOTFOUND:
        return PROMSTORE_E_NOT_FOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL: /* too many dirty pages for one txn: it cannot go on */
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return PROMSTORE_E_FULL;
    case ENOMEM:
        return PROMSTORE_E_NOMEM;
    case MDB_READERS_FULL:
    case EAGAIN:
    case EBUSY:
        return PROMSTORE_E_BUSY;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return PROMSTORE_E_CORRUPT;
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI:
    case EINVAL:
        return PROMSTORE_E_INVALID;
    case MDB_BAD_TXN:
        return PROMSTORE_E_MISUSE;
    default:
        return PROMSTORE_E_IO;
    }
}

int ps_lmdb_fail(promstore_error *err, int mrc, const char *what, const char *table)
{
    promstore_status st = ps_lmdb_status(mrc);
    if (table != NULL)
        return ps_backend_fail(err, st, "lmdb: %s in table '%s': %s", what, table,
                       mdb_strerror(mrc));
    return ps_backend_fail(err, st, "lmdb: %s: %s", what, mdb_strerror(mrc));
}

/*
 * LMDB writes pages with pwrite()/pwritev() and turns a short write into EIO
 * without an errno (mdb_page_flush: "wres != wsize" -> EIO). A filesystem
 * that fills up in the middle of a write answers with exactly that: the count
 * of the bytes that still fitted. Only a write that starts with no room at
 * all gets ENOSPC. So an EIO while the filesystem has (next to) nothing left
 * is a full disk, reported as one: PROMSTORE_E_FULL, which the remote write
 * answers with 507 (retried by the sender), not a 500 "Input/output error".
 */
int ps_lmdb_fail_write(const ps_lmdb *be, promstore_error *err, int mrc, const char *what,
                       const char *table)
{
    struct statvfs sv;
    if (mrc != EIO || statvfs(be->data_path, &sv) != 0)
        return ps_lmdb_fail(err, mrc, what, table);
    uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (avail >= PS_LMDB_FULL_SLACK)
        return ps_lmdb_fail(err, mrc, what, table);
    return ps_backend_fail(err, PROMSTORE_E_FULL,
                   "lmdb: %s%s%s%s: no space left on device (a write came back short; "
                   "%llu bytes free on the filesystem)",
                   what, table ? " in table '" : "", table ? table : "", table ? "'" : "",
                   (unsigned long long)avail);
}

int ps_lmdb_txn_mark(ps_txn *txn, int status)
{
    /* Missing keys and bad arguments leave an LMDB txn usable; the rest not. */
    if (status != PROMSTORE_E_NOT_FOUND && status != PROMSTORE_E_INVALID &&
        txn->failed == 0)
        txn->failed = status;
    return status;
}

const char *ps_lmdb_table_name(const ps_lmdb *be, ps_table table)
{
    /* A handle the caller got from table_open names a slot nobody rewrites. */
    if (table >= PS_LMDB_MAX_DBI || be->tables[table].state == PS_LMDB_FREE)
        return "?";
    return be->tables[table].name;
}

static size_t ps_lmdb_map_size(const ps_backend_config *cfg)
{
    uint64_t want = PS_LMDB_DEFAULT_MAP;
    if (cfg != NULL && cfg->max_size_bytes != 0)
        want = cfg->max_size_bytes;
    if (sizeof(size_t) < 8 && want > (UINT64_C(1) << 30))
        want = UINT64_C(1) << 30; /* a 32-bit address space cannot map more */
    long page = sysconf(_SC_PAGESIZE);
    uint64_t psz = page > 0 ? (uint64_t)page : 4096;
    return (size_t)((want + psz - 1) / psz * psz);
}

static ps_lmdb *ps_lmdb_alloc(const char *dir)
{
    ps_lmdb *be = ps_backend_calloc(1, sizeof *be);
    if (be == NULL)
        return NULL;
    size_t n = strlen(dir) + sizeof "/data.mdb";
    be->data_path = ps_backend_malloc(n);
    be->tables = ps_backend_calloc(PS_LMDB_MAX_DBI, sizeof *be->tables);
    be->buckets = ps_backend_calloc(PS_LMDB_BUCKETS, sizeof *be->buckets);
    be->pending = ps_backend_calloc(PS_LMDB_MAX_DBI, sizeof *be->pending);
    if (be->data_path == NULL || be->tables == NULL || be->buckets == NULL ||
        be->pending == NULL || pthread_mutex_init(&be->lock, NULL) != 0) {
        ps_backend_free(be->data_path);
        ps_backend_free(be->tables);
        ps_backend_free(be->buckets);
        ps_backend_free(be->pending);
        ps_backend_free(be);
        return NULL;
    }
    snprintf(be->data_path, n, "%s/data.mdb", dir);
    be->base.methods = &ps_lmdb_methods;
    return be;
}

static void ps_lmdb_free(ps_lmdb *be)
{
    pthread_mutex_destroy(&be->lock);
    ps_backend_free(be->data_path);
    ps_backend_free(be->tables);
    ps_backend_free(be->buckets);
    ps_backend_free(be->pending);
    ps_backend_free(be);
}

/*
 * LMDB keeps its reader table in lock.mdb, mapped shared and written through
 * the map, one slot per reader; it sizes the file with ftruncate(), so the
 * file is sparse and a page of slots gets its disk space when a reader first
 * touches it. On a full disk that page fault is a SIGBUS that kills the
 * process (reproduced on a full tmpfs: the first page holds about 60 slots,
 * the reader that needed the second page died). So the whole file is
 * allocated before LMDB maps it, and a disk too full for that fails the open
 * with a clear error instead. Before mdb_env_open, because closing a second
 * descriptor of lock.mdb later would drop the fcntl() lock LMDB holds on it.
 * Returns 0, 1 when there is no lock.mdb yet (LMDB will create it), or a
 * negative status (a symbolic link at lock.mdb among them: backend.h).
 */
static int ps_lmdb_reserve_readers(const char *dir, promstore_error *err)
{
    char path[4096];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/lock.mdb", dir) >= (int)sizeof path)
        return 0;
    int fd = ps_backend_open_file(path, O_RDWR, err);
    if (fd == PROMSTORE_E_NOT_FOUND)
        return 1;
    if (fd < 0)
        return fd;
    int e = fstat(fd, &st) == 0 && st.st_size > 0 ? posix_fallocate(fd, 0, st.st_size) : 0;
    close(fd);
    if (e == ENOSPC || e == EDQUOT)
        return ps_backend_fail(err, PROMSTORE_E_FULL,
                       "lmdb: opening '%s': cannot allocate its reader table lock.mdb "
                       "(%lld bytes): %s",
                       dir, (long long)st.st_size, strerror(e));
    return 0; /* not supported here: no worse than before */
}

static int ps_lmdb_env_open(ps_lmdb *be, const char *dir, const ps_backend_config *cfg,
                            promstore_error *err)
{
    int sync = cfg != NULL && (cfg->flags & PS_BACKEND_SYNC) != 0;
    unsigned flags = MDB_NOTLS | (sync ? 0 : MDB_NOSYNC);
    int dead = 0;
    int rc = mdb_env_create(&be->env);
    if (rc)
        return ps_lmdb_fail(err, rc, "creating the environment", NULL);
    rc = mdb_env_set_maxdbs(be->env, PS_LMDB_MAX_TABLES);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(be->env, PS_LMDB_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(be->env, ps_lmdb_map_size(cfg));
    if (rc == 0)
        rc = mdb_env_open(be->env, dir, flags, PS_STORE_FILE_MODE);
    if (rc)
        goto fail;
    be->nosync = !sync;
    /* Free reader slots left by a killed process (stale pids). */
    rc = mdb_reader_check(be->env, &dead);
    if (rc)
        goto fail;
    return 0;
fail:
    mdb_env_close(be->env); /* LMDB: required after a failed mdb_env_open too */
    be->env = NULL;
    return ps_backend_fail(err, ps_lmdb_status(rc), "lmdb: opening '%s': %s", dir,
                   mdb_strerror(rc));
}

static int ps_lmdb_open(const char *dir, const ps_backend_config *cfg, ps_backend **out,
                        promstore_error *err)
{
    if (dir == NULL || out == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: open: NULL argument");
    ps_lmdb *be = ps_lmdb_alloc(dir);
    if (be == NULL)
        return ps_backend_fail(err, PROMSTORE_E_NOMEM, "lmdb: opening '%s': out of memory", dir);
    /*
     * LMDB opens data.mdb by name and would follow a link there: open it
     * first as every store file is opened (backend.h), creating it empty and
     * PS_STORE_FILE_MODE when missing (LMDB takes an empty file for a new
     * environment). The directory is the owner's alone, so nobody can plant
     * a link between this open and LMDB's.
     */
    int fd = ps_backend_open_file(be->data_path, O_RDWR | O_CREAT, err);
    if (fd < 0) {
        ps_lmdb_free(be);
        return fd;
    }
    close(fd);
    int fresh = ps_lmdb_reserve_readers(dir, err);
    int rc = fresh < 0 ? fresh : ps_lmdb_env_open(be, dir, cfg, err);
    if (rc == 0 && fresh) {
        /* LMDB has just made lock.mdb, sparse: reopen with it allocated. */
        mdb_env_close(be->env);
        be->env = NULL;
        rc = ps_lmdb_reserve_readers(dir, err);
        if (rc >= 0)
            rc = ps_lmdb_env_open(be, dir, cfg, err);
    }
    if (rc == 0)
        rc = ps_lmdb_refuse_truncated(be, dir, err);
    if (rc)
        goto fail;
    rc = ps_lmdb_tables_load(be, err);
    if (rc)
        goto fail;
    *out = &be->base;
    return 0;
fail:
    if (be->env != NULL)
        mdb_env_close(be->env);
    ps_lmdb_free(be);
    return rc;
}

static void ps_lmdb_close(ps_backend *base)
{
    if (base == NULL)
        return;
    ps_lmdb *be = (ps_lmdb *)base;
    ps_lmdb_idle_drain(be);
    /* A clean close flushes, so that only a crash can lose NOSYNC commits. */
    if (be->nosync)
        (void)mdb_env_sync(be->env, 1);
    mdb_env_close(be->env);
    ps_lmdb_free(be);
}
