/*
 * maintenance.c -- retention on the store's own schedule.
 *
 * NOTES ON THE DESIGN
 *
 * Retention used to run inside promstore_append(), under the writer's lock,
 * in a second transaction whose errors were dropped; with a size limit every
 * append asked the backend for its used space; and on a full disk it never
 * ran at all, because it only ran after an append had succeeded. Now:
 *
 *   1. A store with retention configured owns one thread (ps_maint_start from
 *      promstore_open, ps_maint_stop from promstore_close). Appends only poke
 *      it (a flag and a signal under maint.mu, never the writer's lock held
 *      while waiting for it), so an append costs what its own batch costs.
 *
 *   2. The thread sleeps until poked, stopped, or interval_ms has passed, then
 *      runs one pass (run_pass). The timer is what frees a full store: every
 *      append fails there, so no successful append would poke it.
 *
 *   3. A pass takes the writer's lock only when there is something to drop.
 *      Time retention needs the newest sample's time, which the writer keeps
 *      in db->newest_ms after every commit, and remembers the block it last
 *      cut at (retention_checked_block), so a pass over an unchanged cutoff
 *      opens no transaction. Size retention asks the backend's space()
 *      first, without any lock (the backend allows it from any thread), and
 *      drops the oldest block, one transaction each, while the store is over.
 *
 *   4. Every pass, by the thread or by promstore_run_retention(), is counted
 *      in maint.* (promstore_stats) and a failing one is handed to the
 *      on_background_error callback -- from the thread only: the explicit
 *      call returns its error to its caller instead.
 *
 *   States of the thread:  not started --ps_maint_start--> sleeping
 *                          sleeping --poke / timer--> running a pass --> sleeping
 *                          sleeping or running --ps_maint_stop--> joined
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "store.h"
#include "timemath.h"

#define DEFAULT_INTERVAL_MS INT64_C(60000)
/* Size retention gives up after this many blocks in one pass (then the timer goes on). */
#define SIZE_ROUNDS_MAX 1024

static void add_result(promstore_retention_result *sum, const promstore_retention_result *r)
{
    sum->blocks_dropped += r->blocks_dropped;
    sum->series_dropped += r->series_dropped;
    sum->samples_dropped += r->samples_dropped;
}

/* Retention of the blocks before cut_block in one write transaction; the caller holds write_mu. */
static promstore_status retention_txn(promstore *db, int64_t cut_block,
                                      promstore_retention_result *sum, promstore_error *err)
{
    promstore_retention_result r = {sizeof r, 0, 0, 0};
    ps_txn *txn = NULL;
    promstore_status rc = ps_txn_begin(&db->sch, 1, &txn, err);
    if (rc)
        return rc;
    rc = ps_retention_locked(db, txn, cut_block, &r, err);
    /* A failed commit has ended the transaction too: abort only before it. */
    if (rc == PROMSTORE_OK)
        rc = ps_txn_commit(&db->sch, txn, err);
    else
        ps_txn_abort(&db->sch, txn);
    if (rc != PROMSTORE_OK) {
        ps_cache_clear(&db->cache);
        return rc;
    }
    add_result(sum, &r);
    return PROMSTORE_OK;
}

/*
 * Time retention: cut at the newest sample minus the retention time, where
 * the newest sample counts as no later than the wall clock. Without that
 * bound one sample from a clock far ahead (or at INT64_MAX) would move the
 * cutoff past everything else and empty the store; with it, the cutoff is
 * never later than a wall-clock retention would put it. Data that is all in
 * the past (a backfill) is still kept relative to its own newest sample.
 */
static promstore_status time_retention(promstore *db, promstore_retention_result *sum,
                                       promstore_error *err)
{
    promstore_status rc = PROMSTORE_OK;
    pthread_mutex_lock(&db->write_mu);
    if (db->has_samples) {
        int64_t now = ps_wall_clock_ms();
        int64_t newest = db->newest_ms < now ? db->newest_ms : now;
        int64_t cutoff = ps_sat_sub(newest, db->retention_time_ms);
        int64_t cblk = ps_block_of(cutoff, db->block_ms);
        if (cblk > db->retention_checked_block) {
            rc = retention_txn(db, cblk, sum, err);
            if (rc == PROMSTORE_OK)
                db->retention_checked_block = cblk;
        }
    }
    pthread_mutex_unlock(&db->write_mu);
    return rc;
}

/* The oldest block holding sealed chunks; PROMSTORE_DONE if there is none. */
static promstore_status oldest_block(promstore *db, int64_t *out, promstore_error *err)
{
    ps_txn *txn = NULL;
    promstore_status rc = ps_txn_begin(&db->sch, 0, &txn, err);
    if (rc)
        return rc;
    ps_scan sc;
    ps_scan_open(&sc, &db->sch, txn, PS_T_BLOCKS, PS_SCAN_FAIL_BAD, err);
    int found = ps_scan_next(&sc);
    if (found)
        *out = ps_scan_at(&sc)->block.blk;
    rc = ps_scan_close(&sc);
    ps_txn_abort(&db->sch, txn);
    return rc ? rc : found ? PROMSTORE_OK : PROMSTORE_DONE;
}

/* Size retention: drop the oldest block while the store is over its limit. */
static promstore_status size_retention(promstore *db, promstore_retention_result *sum,
                                       promstore_error *err)
{
    for (int round = 0; round < SIZE_ROUNDS_MAX; round++) {
        ps_backend_space sp;
        promstore_status rc = ps_schema_space(&db->sch, &sp, err);
        if (rc)
            return rc;
        if (sp.used_bytes <= db->retention_size_bytes)
            return PROMSTORE_OK;
        pthread_mutex_lock(&db->write_mu);
        /*
         * Ask again under the lock: another pass (the thread's, or a
         * promstore_run_retention call) may have brought the store under
         * the limit while this one waited, and one more block would then go
         * for nothing.
         */
        rc = ps_schema_space(&db->sch, &sp, err);
        int over = rc == PROMSTORE_OK && sp.used_bytes > db->retention_size_bytes;
        int64_t oldest = 0;
        if (over)
            rc = oldest_block(db, &oldest, err);
        if (over && rc == PROMSTORE_OK)
            rc = retention_txn(db, oldest + 1, sum, err);
        pthread_mutex_unlock(&db->write_mu);
        if (rc)
            return rc == PROMSTORE_DONE ? PROMSTORE_OK : rc; /* no block left to drop */
        if (!over)
            return PROMSTORE_OK;
    }
    return PROMSTORE_OK;
}

static int retention_configured(const promstore *db)
{
    return db->retention_time_ms > 0 || db->retention_size_bytes > 0;
}

/* One pass: time retention, then size retention; counted in maint. */
static promstore_status run_pass(promstore *db, promstore_retention_result *res,
                                 promstore_error *err)
{
    promstore_retention_result sum = {sizeof sum, 0, 0, 0};
    promstore_status rc = PROMSTORE_OK;
    if (db->retention_time_ms > 0)
        rc = time_retention(db, &sum, err);
    if (rc == PROMSTORE_OK && db->retention_size_bytes > 0)
        rc = size_retention(db, &sum, err);
    pthread_mutex_lock(&db->maint.mu);
    db->maint.runs++;
    db->maint.blocks_dropped += sum.blocks_dropped;
    db->maint.series_dropped += sum.series_dropped;
    db->maint.samples_dropped += sum.samples_dropped;
    if (rc != PROMSTORE_OK) {
        db->maint.errors++;
        db->maint.last_error = rc;
    }
    pthread_mutex_unlock(&db->maint.mu);
    if (res)
        *res = sum;
    return rc;
}

static struct timespec deadline_after(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void *maint_main(void *arg)
{
    promstore *db = arg;
    ps_maint *m = &db->maint;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        if (!m->poked) {
            struct timespec until = deadline_after(m->interval_ms);
            while (!m->stop && !m->poked &&
                   pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT)
                ;
        }
        if (m->stop)
            break;
        m->poked = 0;
        pthread_mutex_unlock(&m->mu);
        promstore_error e;
        e.message[0] = '\0';
        promstore_status rc = run_pass(db, NULL, &e);
        if (rc != PROMSTORE_OK && m->on_error != NULL) {
            e.status = rc;
            m->on_error(m->on_error_ctx, &e);
        }
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void ps_maint_init(promstore *db)
{
    ps_maint *m = &db->maint;
    pthread_mutex_init(&m->mu, NULL);
    /* The timer is measured on the monotonic clock: a wall clock set back must
     * not hold retention off for that long. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void ps_maint_destroy(promstore *db)
{
    pthread_mutex_destroy(&db->maint.mu);
    pthread_cond_destroy(&db->maint.cv);
}

promstore_status ps_maint_start(promstore *db, promstore_error *err)
{
    ps_maint *m = &db->maint;
    if (m->interval_ms <= 0)
        m->interval_ms = DEFAULT_INTERVAL_MS;
    if (!retention_configured(db))
        return PROMSTORE_OK;
    /* A first pass at open (the options may have changed): set before the thread
     * can look, or it could go to sleep for a whole interval first. */
    m->poked = 1;
    int e = pthread_create(&m->thread, NULL, maint_main, db);
    if (e != 0)
        return ps_fail(err, e == ENOMEM || e == EAGAIN ? PROMSTORE_E_NOMEM : PROMSTORE_E_IO,
                       "cannot start the maintenance thread: %s", strerror(e));
    m->started = 1;
    return PROMSTORE_OK;
}

void ps_maint_stop(promstore *db)
{
    ps_maint *m = &db->maint;
    if (!m->started)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    m->started = 0;
}

void ps_maint_poke(promstore *db)
{
    ps_maint *m = &db->maint;
    if (!m->started)
        return;
    pthread_mutex_lock(&m->mu);
    m->poked = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void ps_maint_stats(promstore *db, promstore_stats *out)
{
    ps_maint *m = &db->maint;
    pthread_mutex_lock(&m->mu);
    out->retention_runs = m->runs;
    out->retention_errors = m->errors;
    out->retention_last_error = m->last_error;
    out->retention_blocks_dropped = m->blocks_dropped;
    out->retention_series_dropped = m->series_dropped;
    out->retention_samples_dropped = m->samples_dropped;
    pthread_mutex_unlock(&m->mu);
}

static promstore_status abi_run_retention(promstore *db, promstore_retention_result *result,
                                          promstore_error *err)
{
    if (!ps_store_ok(db))
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_run_retention: bad handle");
    if (result && result->struct_size < sizeof(size_t))
        return ps_fail(err, PROMSTORE_E_INVALID, "retention result struct_size is too small");
    promstore_retention_result sum = {sizeof sum, 0, 0, 0};
    promstore_status rc = retention_configured(db) ? run_pass(db, &sum, err) : PROMSTORE_OK;
    if (rc == PROMSTORE_OK && result) {
        size_t keep = result->struct_size < sizeof sum ? result->struct_size : sizeof sum;
        sum.struct_size = result->struct_size;
        memcpy(result, &sum, keep);
    }
    return rc;
}

promstore_status promstore_run_retention(promstore *db, promstore_retention_result *result,
                                         promstore_error *err)
{
    PS_ABI_RETURN(err, abi_run_retention(db, result, PS_LOCAL_ERR));
}
