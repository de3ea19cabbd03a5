/*
 * store.c -- opening and closing a store: options, the directory lock, the
 * FORMAT file, the fixed tables and meta records (through schema.h), the
 * statistics call, and what engine.h says of the handle: its check, its
 * remote limits and its read slots.
 */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"

/* The writer's series cache may use this much memory before it starts over. */
#define SERIES_CACHE_BUDGET ((size_t)512 << 20)

promstore_status ps_stats_read(promstore *db, ps_txn *txn, ps_stats_rec *out,
                               promstore_error *err)
{
    promstore_status rc = ps_stats_get(&db->sch, txn, out, err);
    return rc == PROMSTORE_E_NOT_FOUND ? PROMSTORE_OK : rc;
}

static promstore_status make_dir(const char *path, promstore_error *err)
{
    char *p = ps_strndup(path, strlen(path));
    if (p == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, PS_STORE_DIR_MODE) != 0 && errno != EEXIST) {
            int e = errno;
            ps_free(p);
            return ps_fail(err, e == ENOSPC ? PROMSTORE_E_FULL : PROMSTORE_E_IO,
                           "cannot create directory %s: %s", path, strerror(e));
        }
        *s = c;
        if (c == '\0')
            break;
    }
    ps_free(p);
    return PROMSTORE_OK;
}

static promstore_status lock_dir(promstore *db, const char *path, promstore_error *err)
{
    char lock[4096];
    if (snprintf(lock, sizeof lock, "%s/LOCK", path) >= (int)sizeof lock)
        return ps_fail(err, PROMSTORE_E_INVALID, "store path too long");
    int fd = ps_backend_open_file(lock, O_RDWR | O_CREAT, err);
    if (fd < 0)
        return fd;
    db->lock_fd = fd;
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(db->lock_fd);
        db->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return ps_fail(err, PROMSTORE_E_BUSY,
                           "store %s is already open (in this or another process)", path);
        return ps_fail(err, PROMSTORE_E_IO, "cannot lock %s: %s", lock, strerror(e));
    }
    return PROMSTORE_OK;
}

/* All of data to fd, then to disk; 0 or -1 with errno set. */
static int write_durably(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return fsync(fd);
}

/*
 * The directory remembers which backend made it (file FORMAT), so that opening
 * it with the other one is a clear error instead of a second, empty store.
 * Neither FORMAT nor FORMAT.tmp is opened through a symbolic link: one at
 * FORMAT is refused; whatever lies at FORMAT.tmp (a crash's leftover, or a
 * planted link or file) is unlinked, which removes the name and never
 * touches what a link points to, and FORMAT.tmp is then created anew with
 * O_EXCL.
 */
static promstore_status check_format_file(const char *path, const char *backend,
                                          promstore_error *err)
{
    char file[4096], want[64], got[64] = {0};
    if (snprintf(file, sizeof file, "%s/FORMAT", path) >= (int)sizeof file)
        return ps_fail(err, PROMSTORE_E_INVALID, "store path too long");
    snprintf(want, sizeof want, "promstore %s %s\n", PS_FORMAT_VERSION_TEXT, backend);
    int fd = ps_backend_open_file(file, O_RDONLY, err);
    if (fd >= 0) {
        ssize_t n = read(fd, got, sizeof got - 1);
        int e = errno;
        close(fd);
        if (n < 0)
            return ps_fail(err, PROMSTORE_E_IO, "cannot read %s: %s", file, strerror(e));
        got[n] = '\0';
        if (strcmp(got, want) == 0)
            return PROMSTORE_OK;
        got[strcspn(got, "\n")] = '\0';
        return ps_fail(err, PROMSTORE_E_CORRUPT,
                       "store %s was made as \"%s\", not \"promstore %s %s\" (wrong backend?)",
                       path, got, PS_FORMAT_VERSION_TEXT, backend);
    }
    if (fd != PROMSTORE_E_NOT_FOUND)
        return fd;
    /* Written aside and renamed, so a crash never leaves a half-written FORMAT. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    if (unlink(tmp) != 0 && errno != ENOENT)
        return ps_fail(err, PROMSTORE_E_IO, "cannot remove %s: %s", tmp, strerror(errno));
    fd = ps_backend_open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, err);
    if (fd < 0)
        return fd;
    int bad = write_durably(fd, want, strlen(want)) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (!bad && rename(tmp, file) != 0)
        bad = 1, e = errno;
    if (bad)
        return ps_fail(err, e == ENOSPC ? PROMSTORE_E_FULL : PROMSTORE_E_IO,
                       "cannot write %s: %s", file, strerror(e));
    return PROMSTORE_OK;
}

/* Read the caller's options, honouring only the fields its struct_size holds. */
static promstore_status read_options(promstore *db, const promstore_options *in,
                                     const char **backend, const char **path,
                                     promstore_error *err)
{
    promstore_options o;
    promstore_options_init(&o);
    if (in->struct_size < offsetof(promstore_options, path) + sizeof(in->path))
        return ps_fail(err, PROMSTORE_E_INVALID,
                       "options.struct_size %zu is too small: use promstore_options_init()",
                       in->struct_size);
    size_t n = in->struct_size < sizeof o ? in->struct_size : sizeof o;
    memcpy(&o, in, n);
    *backend = o.backend ? o.backend : "lmdb";
    *path = o.path;
    if (o.path == NULL || o.path[0] == '\0')
        return ps_fail(err, PROMSTORE_E_INVALID, "options.path is required");
    if (o.retention_time_ms < 0 || o.block_duration_ms < 0 || o.out_of_order_window_ms < 0 ||
        o.max_future_ms < 0 || o.read_deadline_ms < 0)
        return ps_fail(err, PROMSTORE_E_INVALID,
                       "options: retention_time_ms, block_duration_ms, out_of_order_window_ms, "
                       "max_future_ms and read_deadline_ms must not be negative");
    db->retention_time_ms = o.retention_time_ms;
    db->retention_size_bytes = o.retention_size_bytes;
    db->block_ms = o.block_duration_ms ? o.block_duration_ms : 2 * 3600 * 1000;
    db->ooo_window_ms = o.out_of_order_window_ms;
    db->max_future_ms = o.max_future_ms;
    db->max_series = o.max_series_per_query;
    db->max_samples = o.max_samples_per_query;
    db->max_bytes = o.max_bytes_per_query;
    db->max_work = o.max_work_per_read;
    db->read_deadline_ms = o.read_deadline_ms;
    db->flags = o.flags;
    ps_remote_limits *rl = &db->remote;
    rl->max_concurrent_reads = o.max_concurrent_reads ? o.max_concurrent_reads : 10;
    rl->max_request_bytes = o.max_request_bytes ? o.max_request_bytes : (uint64_t)32 << 20;
    rl->max_decoded_bytes = o.max_decoded_bytes ? o.max_decoded_bytes : (uint64_t)32 << 20;
    rl->read_frame_bytes = o.read_frame_bytes ? o.read_frame_bytes : (uint64_t)1 << 20;
    rl->max_matchers = o.max_matchers_per_query;
    rl->max_queries = o.max_queries_per_read;
    db->name_rules = (o.flags & PROMSTORE_OPEN_LEGACY_NAMES) ? PS_NAMES_LEGACY : PS_NAMES_UTF8;
    if (o.maintenance_interval_ms < 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "options: maintenance_interval_ms must not be negative");
    db->maint.interval_ms = o.maintenance_interval_ms;
    db->maint.on_error = o.on_background_error;
    db->maint.on_error_ctx = o.background_error_ctx;
    return PROMSTORE_OK;
}

/* Open the fixed tables and create or check the meta records. */
static promstore_status init_tables(promstore *db, promstore_error *err)
{
    ps_schema *s = &db->sch;
    ps_txn *txn = NULL;
    promstore_status rc = ps_txn_begin(s, 1, &txn, err);
    if (rc)
        return rc;
    for (ps_kind k = PS_T_META; k < PS_T_FIXED && rc == PROMSTORE_OK; k++)
        rc = ps_schema_open_table(s, txn, k, 1, err);
    if (rc == PROMSTORE_OK)
        rc = ps_meta_format_check(s, txn, err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        rc = ps_meta_init(s, txn, (uint64_t)db->block_ms, err);
    uint64_t block_ms = 0;
    if (rc == PROMSTORE_OK)
        rc = ps_meta_u64_get(s, txn, PS_META_BLOCK_MS, &block_ms, err);
    if (rc == PROMSTORE_OK)
        rc = ps_meta_u64_get(s, txn, PS_META_NEXT_ID, &db->next_id, err);
    if (rc == PROMSTORE_OK && (block_ms == 0 || block_ms > INT64_MAX))
        rc = ps_fail(err, PROMSTORE_E_CORRUPT, "meta block_ms is %llu", (unsigned long long)block_ms);
    if (rc) {
        ps_txn_abort(s, txn);
        return rc;
    }
    db->block_ms = (int64_t)block_ms; /* the stored length wins, see the header */
    ps_stats_rec st;
    if ((rc = ps_stats_read(db, txn, &st, err))) {
        ps_txn_abort(s, txn);
        return rc;
    }
    db->has_samples = st.samples > 0;
    db->newest_ms = st.max_time;
    return ps_txn_commit(s, txn, err);
}

static promstore_status abi_open(const promstore_options *opts, promstore **out,
                                promstore_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || opts == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_open: opts and out must not be NULL");
    promstore *db = ps_calloc(1, sizeof *db);
    if (db == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for the store handle");
    db->lock_fd = -1;
    ps_schema_init(&db->sch, NULL);
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_mutex_init(&db->reads_mu, NULL);
    ps_maint_init(db);
    ps_cache_init(&db->cache, SERIES_CACHE_BUDGET);

    const char *backend = NULL, *path = NULL;
    promstore_status rc = read_options(db, opts, &backend, &path, err);
    if (rc)
        goto fail;
    db->sch.bm = ps_backend_find(backend);
    if (db->sch.bm == NULL || db->sch.bm->open == NULL) {
        rc = ps_fail(err, PROMSTORE_E_INVALID, "unknown backend \"%s\" (use \"lmdb\" or \"sqlite\")",
                     backend);
        goto fail;
    }
    if ((rc = make_dir(path, err)) || (rc = lock_dir(db, path, err)) ||
        (rc = check_format_file(path, db->sch.bm->name, err)))
        goto fail;
    ps_backend_config cfg = {0};
    if (db->flags & PROMSTORE_OPEN_SYNC)
        cfg.flags |= PS_BACKEND_SYNC;
    rc = ps_schema_open(&db->sch, path, &cfg, err);
    if (rc)
        goto fail;
    rc = init_tables(db, err);
    if (rc)
        goto fail;
    db->retention_checked_block = INT64_MIN;
    db->magic = PS_STORE_MAGIC;
    if ((rc = ps_maint_start(db, err)))
        goto fail;
    *out = db;
    return PROMSTORE_OK;
fail:
    promstore_close(db, NULL);
    return rc;
}

promstore_status promstore_close(promstore *db, promstore_error *err)
{
    (void)err;
    if (db == NULL)
        return PROMSTORE_OK;
    ps_maint_stop(db); /* before anything it uses goes */
    db->magic = 0;
    ps_schema_close(&db->sch);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    ps_cache_free(&db->cache);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->reads_mu);
    ps_maint_destroy(db);
    ps_free(db);
    return PROMSTORE_OK;
}

static promstore_status abi_stats_get(promstore *db, promstore_stats *out, promstore_error *err)
{
    if (!ps_store_ok(db) || out == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_stats_get: bad handle or NULL out");
    if (out->struct_size < offsetof(promstore_stats, series))
        return ps_fail(err, PROMSTORE_E_INVALID, "stats.struct_size is too small");
    promstore_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = out->struct_size;
    snprintf(s.backend, sizeof s.backend, "%s", db->sch.bm->name);

    ps_txn *txn = NULL;
    ps_stats_rec rec;
    promstore_status rc = ps_txn_begin(&db->sch, 0, &txn, err);
    if (rc)
        return rc;
    if ((rc = ps_stats_read(db, txn, &rec, err)))
        goto out;
    s.series = rec.series;
    s.samples = rec.samples;
    s.chunks = rec.chunks;
    s.min_time_ms = rec.min_time;
    s.max_time_ms = rec.max_time;
    /* Every entry counts, whatever its shape, as it always has. */
    ps_scan sc;
    ps_scan_open(&sc, &db->sch, txn, PS_T_BLOCKS, PS_SCAN_SHOW_BAD, err);
    while (ps_scan_next(&sc))
        s.blocks++;
    if ((rc = ps_scan_close(&sc)))
        goto out;
    ps_backend_space sp;
    if ((rc = ps_schema_space(&db->sch, &sp, err)))
        goto out;
    s.bytes_on_disk = sp.used_bytes;
    s.file_bytes = sp.file_bytes;
    ps_maint_stats(db, &s);
    size_t n = out->struct_size < sizeof s ? out->struct_size : sizeof s;
    memcpy(out, &s, n);
    rc = PROMSTORE_OK;
out:
    ps_txn_abort(&db->sch, txn);
    return rc;
}

promstore_status promstore_open(const promstore_options *opts, promstore **out, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_open(opts, out, PS_LOCAL_ERR));
}

promstore_status promstore_stats_get(promstore *db, promstore_stats *out, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_stats_get(db, out, PS_LOCAL_ERR));
}

/* --- engine.h: the handle ------------------------------------------------------------ */

int ps_engine_handle_ok(const promstore *db)
{
    return ps_store_ok(db);
}

const ps_remote_limits *ps_engine_remote_limits(const promstore *db)
{
    return &db->remote;
}

int ps_engine_read_slot_take(promstore *db)
{
    int ok = 0;
    pthread_mutex_lock(&db->reads_mu);
    if (db->reads_active < db->remote.max_concurrent_reads) {
        db->reads_active++;
        ok = 1;
    }
    pthread_mutex_unlock(&db->reads_mu);
    return ok;
}

void ps_engine_read_slot_give(promstore *db)
{
    pthread_mutex_lock(&db->reads_mu);
    if (db->reads_active > 0)
        db->reads_active--;
    pthread_mutex_unlock(&db->reads_mu);
}
