/*
 * store.c -- opening and closing a store, its fixed tables, statistics, and
 * the small key helpers the other engine files share.
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
#include "keys.h"
#include "mem.h"

#define FORMAT_VERSION "1"
/* The writer's series cache may use this much memory before it starts over. */
#define SERIES_CACHE_BUDGET ((size_t)512 << 20)

uint64_t ps_hash64(const void *p, size_t n)
{
    /*
     * Eight bytes per step, then murmur3's finaliser: this runs for every
     * series of every batch, so a byte-at-a-time hash showed in profiles.
     */
    const uint8_t *b = p;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (n * UINT64_C(0xff51afd7ed558ccd));
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        w *= UINT64_C(0x87c37b91114253d5);
        w = (w << 31) | (w >> 33);
        h ^= w * UINT64_C(0x4cf5ad432745937f);
        h = ((h << 27) | (h >> 37)) * 5 + UINT64_C(0x52dce729);
    }
    uint64_t tail = 0;
    memcpy(&tail, b, n);
    h ^= tail * UINT64_C(0x87c37b91114253d5);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

size_t ps_pair_size(const char *name, size_t nlen, const char *value, size_t vlen)
{
    size_t need = nlen + vlen + 2;
    for (size_t i = 0; i < nlen; i++)
        need += (uint8_t)name[i] <= 1;
    for (size_t i = 0; i < vlen; i++)
        need += (uint8_t)value[i] <= 1;
    return need;
}

size_t ps_pair_encode(const char *name, size_t nlen, const char *value, size_t vlen,
                      uint8_t *out, size_t cap)
{
    /* Escaping at most doubles; measure exactly only when that could matter. */
    if (2 * (nlen + vlen) + 2 > cap && ps_pair_size(name, nlen, value, vlen) > cap)
        return 0;
    size_t n = ps_key_string_encode(name, nlen, out);
    n += ps_key_string_encode(value, vlen, out + n);
    return n;
}

size_t ps_skey_encode(const uint8_t *key, size_t klen, uint8_t *out)
{
    if (klen <= PS_SKEY_MAX) {
        memcpy(out, key, klen);
        return klen;
    }
    /*
     * Cut long keys: order among keys that share the prefix is repaired by the
     * reader (query.c), and look-ups compare the full key stored in `series`.
     */
    memcpy(out, key, PS_SKEY_PREFIX);
    ps_put_u64(out + PS_SKEY_PREFIX, ps_hash64(key, klen));
    return PS_SKEY_PREFIX + 8;
}

promstore_status ps_stats_read(promstore *db, ps_txn *txn, ps_stats_rec *out,
                               promstore_error *err)
{
    const void *v;
    size_t vl;
    memset(out, 0, sizeof *out);
    int rc = db->bm->get(txn, db->t_meta, "stats", 5, &v, &vl, err);
    if (rc == PROMSTORE_E_NOT_FOUND)
        return PROMSTORE_OK;
    if (rc)
        return rc;
    if (vl != 40)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "meta stats record has %zu bytes, not 40", vl);
    const uint8_t *p = v;
    out->series = ps_get_u64(p);
    out->samples = ps_get_u64(p + 8);
    out->chunks = ps_get_u64(p + 16);
    out->min_time = (int64_t)ps_get_u64(p + 24);
    out->max_time = (int64_t)ps_get_u64(p + 32);
    return PROMSTORE_OK;
}

promstore_status ps_stats_write(promstore *db, ps_txn *txn, const ps_stats_rec *st,
                                promstore_error *err)
{
    uint8_t p[40];
    ps_put_u64(p, st->series);
    ps_put_u64(p + 8, st->samples);
    ps_put_u64(p + 16, st->chunks);
    ps_put_u64(p + 24, (uint64_t)st->min_time);
    ps_put_u64(p + 32, (uint64_t)st->max_time);
    return db->bm->put(txn, db->t_meta, "stats", 5, p, sizeof p, err);
}

promstore_status ps_slot_table(promstore *db, ps_txn *txn, uint32_t slot, int create,
                               ps_table *out, promstore_error *err)
{
    promstore_status rc = PROMSTORE_OK;
    pthread_mutex_lock(&db->slot_mu);
    if (slot >= db->n_slots) {
        uint32_t n = db->n_slots ? db->n_slots : 64;
        while (n <= slot)
            n *= 2;
        ps_table *t = ps_realloc(db->slot_tables, n * sizeof *t);
        uint8_t *o = t ? ps_realloc(db->slot_open, n) : NULL;
        if (t)
            db->slot_tables = t;
        if (o == NULL) {
            rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory for block table handles");
            goto out;
        }
        memset(o + db->n_slots, 0, n - db->n_slots);
        db->slot_open = o;
        db->n_slots = n;
    }
    if (db->slot_open[slot]) {
        *out = db->slot_tables[slot];
        goto out;
    }
    char name[32];
    snprintf(name, sizeof name, "blk.%u", slot);
    rc = db->bm->table_open(txn, name, create, out, err);
    /*
     * A handle created in a write transaction is only safe to cache once that
     * transaction commits; the writer caches nothing on create and looks the
     * table up again next time (cheap: the backend caches names).
     */
    if (rc == PROMSTORE_OK && !create) {
        db->slot_tables[slot] = *out;
        db->slot_open[slot] = 1;
    }
out:
    pthread_mutex_unlock(&db->slot_mu);
    return rc;
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
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
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
    db->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0)
        return ps_fail(err, PROMSTORE_E_IO, "cannot open %s: %s", lock, strerror(errno));
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

/*
 * The directory remembers which backend made it (file FORMAT), so that opening
 * it with the other one is a clear error instead of a second, empty store.
 */
static promstore_status check_format_file(const char *path, const char *backend,
                                          promstore_error *err)
{
    char file[4096], want[64], got[64] = {0};
    if (snprintf(file, sizeof file, "%s/FORMAT", path) >= (int)sizeof file)
        return ps_fail(err, PROMSTORE_E_INVALID, "store path too long");
    snprintf(want, sizeof want, "promstore %s %s\n", FORMAT_VERSION, backend);
    FILE *f = fopen(file, "r");
    if (f != NULL) {
        size_t n = fread(got, 1, sizeof got - 1, f);
        fclose(f);
        got[n] = '\0';
        if (strcmp(got, want) == 0)
            return PROMSTORE_OK;
        got[strcspn(got, "\n")] = '\0';
        return ps_fail(err, PROMSTORE_E_CORRUPT,
                       "store %s was made as \"%s\", not \"promstore %s %s\" (wrong backend?)",
                       path, got, FORMAT_VERSION, backend);
    }
    if (errno != ENOENT)
        return ps_fail(err, PROMSTORE_E_IO, "cannot read %s: %s", file, strerror(errno));
    /* Written aside and renamed, so a crash never leaves a half-written FORMAT. */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    f = fopen(tmp, "w");
    if (f == NULL)
        return ps_fail(err, errno == ENOSPC ? PROMSTORE_E_FULL : PROMSTORE_E_IO,
                       "cannot create %s: %s", tmp, strerror(errno));
    int bad = fputs(want, f) < 0;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, file) != 0)
        return ps_fail(err, errno == ENOSPC ? PROMSTORE_E_FULL : PROMSTORE_E_IO,
                       "cannot write %s: %s", file, strerror(errno));
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
    if (o.retention_time_ms < 0 || o.block_duration_ms < 0 || o.out_of_order_window_ms < 0)
        return ps_fail(err, PROMSTORE_E_INVALID,
                       "options: retention_time_ms, block_duration_ms and "
                       "out_of_order_window_ms must not be negative");
    db->retention_time_ms = o.retention_time_ms;
    db->retention_size_bytes = o.retention_size_bytes;
    db->block_ms = o.block_duration_ms ? o.block_duration_ms : 2 * 3600 * 1000;
    db->ooo_window_ms = o.out_of_order_window_ms;
    db->max_series = o.max_series_per_query;
    db->max_samples = o.max_samples_per_query;
    db->max_bytes = o.max_bytes_per_query;
    db->flags = o.flags;
    db->max_concurrent_reads = o.max_concurrent_reads ? o.max_concurrent_reads : 10;
    db->max_request_bytes = o.max_request_bytes ? o.max_request_bytes : (uint64_t)32 << 20;
    db->max_decoded_bytes = o.max_decoded_bytes ? o.max_decoded_bytes : (uint64_t)32 << 20;
    db->read_frame_bytes = o.read_frame_bytes ? o.read_frame_bytes : (uint64_t)1 << 20;
    db->name_rules = (o.flags & PROMSTORE_OPEN_LEGACY_NAMES) ? PS_NAMES_LEGACY : PS_NAMES_UTF8;
    if (o.maintenance_interval_ms < 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "options: maintenance_interval_ms must not be negative");
    db->maint.interval_ms = o.maintenance_interval_ms;
    db->maint.on_error = o.on_background_error;
    db->maint.on_error_ctx = o.background_error_ctx;
    return PROMSTORE_OK;
}

static promstore_status meta_u64(promstore *db, ps_txn *txn, const char *key, uint64_t *out,
                                 promstore_error *err)
{
    const void *v;
    size_t vl;
    int rc = db->bm->get(txn, db->t_meta, key, strlen(key), &v, &vl, err);
    if (rc)
        return rc;
    if (vl != 8)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "meta %s has %zu bytes, not 8", key, vl);
    *out = ps_get_u64(v);
    return PROMSTORE_OK;
}

static promstore_status put_meta_u64(promstore *db, ps_txn *txn, const char *key, uint64_t val,
                                     promstore_error *err)
{
    uint8_t b[8];
    ps_put_u64(b, val);
    return db->bm->put(txn, db->t_meta, key, strlen(key), b, 8, err);
}

/* Open the fixed tables and create or check the meta records. */
static promstore_status init_tables(promstore *db, promstore_error *err)
{
    static const struct {
        const char *name;
        size_t off;
    } fixed[] = {
        {"meta", offsetof(promstore, t_meta)},
        {"series", offsetof(promstore, t_series)},
        {"series_key", offsetof(promstore, t_series_key)},
        {"postings", offsetof(promstore, t_postings)},
        {"head", offsetof(promstore, t_head)},
        {"lastblk", offsetof(promstore, t_lastblk)},
        {"blocks", offsetof(promstore, t_blocks)},
        {"ooo", offsetof(promstore, t_ooo)},
    };
    ps_txn *txn = NULL;
    promstore_status rc = db->bm->txn_begin(db->be, 1, &txn, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        rc = db->bm->table_open(txn, fixed[i].name, 1, (ps_table *)((char *)db + fixed[i].off),
                                err);
        if (rc)
            goto fail;
    }
    const void *v;
    size_t vl;
    rc = db->bm->get(txn, db->t_meta, "format", 6, &v, &vl, err);
    if (rc == PROMSTORE_E_NOT_FOUND) {
        if ((rc = db->bm->put(txn, db->t_meta, "format", 6, FORMAT_VERSION, 1, err)) ||
            (rc = put_meta_u64(db, txn, "block_ms", (uint64_t)db->block_ms, err)) ||
            (rc = put_meta_u64(db, txn, "next_id", 1, err)))
            goto fail;
    } else if (rc) {
        goto fail;
    } else if (vl != 1 || memcmp(v, FORMAT_VERSION, 1) != 0) {
        rc = ps_fail(err, PROMSTORE_E_UNSUPPORTED, "store format %.*s is not supported (want %s)",
                     (int)(vl < 16 ? vl : 16), (const char *)v, FORMAT_VERSION);
        goto fail;
    }
    uint64_t block_ms = 0;
    if ((rc = meta_u64(db, txn, "block_ms", &block_ms, err)) ||
        (rc = meta_u64(db, txn, "next_id", &db->next_id, err)))
        goto fail;
    if (block_ms == 0 || block_ms > INT64_MAX) {
        rc = ps_fail(err, PROMSTORE_E_CORRUPT, "meta block_ms is %llu", (unsigned long long)block_ms);
        goto fail;
    }
    db->block_ms = (int64_t)block_ms; /* the stored length wins, see the header */
    ps_stats_rec st;
    if ((rc = ps_stats_read(db, txn, &st, err)))
        goto fail;
    db->has_samples = st.samples > 0;
    db->newest_ms = st.max_time;
    return db->bm->txn_commit(txn, err);
fail:
    db->bm->txn_abort(txn);
    return rc;
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
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_mutex_init(&db->slot_mu, NULL);
    pthread_mutex_init(&db->reads_mu, NULL);
    pthread_mutex_init(&db->maint.mu, NULL);
    pthread_cond_init(&db->maint.cv, NULL);
    ps_cache_init(&db->cache, SERIES_CACHE_BUDGET);

    const char *backend = NULL, *path = NULL;
    promstore_status rc = read_options(db, opts, &backend, &path, err);
    if (rc)
        goto fail;
    db->bm = ps_backend_find(backend);
    if (db->bm == NULL || db->bm->open == NULL) {
        rc = ps_fail(err, PROMSTORE_E_INVALID, "unknown backend \"%s\" (use \"lmdb\" or \"sqlite\")",
                     backend);
        goto fail;
    }
    if ((rc = make_dir(path, err)) || (rc = lock_dir(db, path, err)) ||
        (rc = check_format_file(path, db->bm->name, err)))
        goto fail;
    ps_backend_config cfg = {0};
    if (db->flags & PROMSTORE_OPEN_SYNC)
        cfg.flags |= PS_BACKEND_SYNC;
    rc = db->bm->open(path, &cfg, &db->be, err);
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
    if (db->be)
        db->bm->close(db->be);
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    ps_cache_free(&db->cache);
    ps_free(db->slot_tables);
    ps_free(db->slot_open);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->slot_mu);
    pthread_mutex_destroy(&db->reads_mu);
    pthread_mutex_destroy(&db->maint.mu);
    pthread_cond_destroy(&db->maint.cv);
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
    snprintf(s.backend, sizeof s.backend, "%s", db->bm->name);

    ps_txn *txn = NULL;
    ps_cursor *cur = NULL;
    ps_stats_rec rec;
    promstore_status rc = db->bm->txn_begin(db->be, 0, &txn, err);
    if (rc)
        return rc;
    if ((rc = ps_stats_read(db, txn, &rec, err)))
        goto out;
    s.series = rec.series;
    s.samples = rec.samples;
    s.chunks = rec.chunks;
    s.min_time_ms = rec.min_time;
    s.max_time_ms = rec.max_time;
    if ((rc = db->bm->cursor_open(txn, db->t_blocks, &cur, err)))
        goto out;
    const void *k, *v;
    size_t kl, vl;
    for (rc = db->bm->cursor_first(cur, &k, &kl, &v, &vl, err); rc == PROMSTORE_OK;
         rc = db->bm->cursor_next(cur, &k, &kl, &v, &vl, err))
        s.blocks++;
    if (rc != PROMSTORE_DONE)
        goto out;
    ps_backend_space sp;
    if ((rc = db->bm->space(db->be, &sp, err)))
        goto out;
    s.bytes_on_disk = sp.used_bytes;
    s.file_bytes = sp.file_bytes;
    ps_maint_stats(db, &s);
    size_t n = out->struct_size < sizeof s ? out->struct_size : sizeof s;
    memcpy(out, &s, n);
    rc = PROMSTORE_OK;
out:
    if (cur)
        db->bm->cursor_close(cur);
    db->bm->txn_abort(txn);
    return rc;
}

promstore_status promstore_open(const promstore_options *opts, promstore **out, promstore_error *err)
{
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_open(opts, out, &local), &local, err);
}

promstore_status promstore_stats_get(promstore *db, promstore_stats *out, promstore_error *err)
{
    promstore_error local;
    local.message[0] = '\0';
    return ps_report(abi_stats_get(db, out, &local), &local, err);
}
