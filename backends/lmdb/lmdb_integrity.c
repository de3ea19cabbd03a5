/*
 * lmdb_integrity.c -- integrity() of the LMDB backend: a read-only audit of
 * data.mdb as one snapshot sees it.
 *
 * What it can see through LMDB's public API, and so what it checks:
 *   1. the file holds every page the snapshot uses (touching a page past
 *      the end of the file would be SIGBUS, so this comes first and a short
 *      file stops the audit). The file may end before the snapshot's last
 *      page number when the pages past its end are all free (LMDB never
 *      writes a page a commit took and freed again): lmdb_tail.c reads the
 *      free list from the file, not the map, to tell that from truncation;
 *   2. every table: a cursor reads every entry, its key and every byte of its
 *      value (which makes LMDB visit every branch, leaf and overflow page);
 *      keys are 1..PS_BACKEND_MAX_KEY bytes and strictly increasing; the
 *      count walked equals the entry count in the table's header; the table
 *      has no flags (no DUPSORT etc.: the backend never sets any);
 *   3. the free list: each record is a well-formed ID list, every page in it
 *      is a page of the file, and no page is listed twice;
 *   4. page accounting, as LMDB's own mdb_audit() does it: the two meta
 *      pages, the pages of every tree (free list, main database, tables) and
 *      the free pages add up to exactly last_pgno + 1. A page counted twice or
 *      lost shows here.
 * It cannot check that a page belongs to only one tree (the API hides page
 * numbers of tree pages); a shared page would still show as a count mismatch
 * in 4 unless another page were lost at the same time.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"

#define LMDB_METAS 2 /* LMDB's NUM_METAS: pages 0 and 1 */

typedef struct audit {
    ps_txn *txn;
    ps_integrity_fn report;
    void *ctx;
    int stopped;           /* report asked to stop */
    uint64_t pages;        /* tree pages counted so far */
    volatile uint8_t sink; /* see touch() */
} audit;

static void problem(audit *a, const char *table, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(audit *a, const char *table, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (a->stopped)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (a->report(a->ctx, table, msg) != 0)
        a->stopped = 1;
}

/* LMDB's default key order: memcmp, a prefix first. */
static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/*
 * Read every byte of a value. The sum goes to a volatile so the compiler
 * keeps the loads: the point is that LMDB's pages (overflow pages above all)
 * are really read, so an unreadable one fails here rather than in a query.
 */
static void touch(audit *a, const MDB_val *v)
{
    const uint8_t *p = v->mv_data;
    uint8_t x = 0;
    for (size_t i = 0; i < v->mv_size; i++)
        x ^= p[i];
    a->sink ^= x;
}

static void add_pages(audit *a, const MDB_stat *st)
{
    a->pages += (uint64_t)st->ms_branch_pages + st->ms_leaf_pages + st->ms_overflow_pages;
}

/* Walk one table; 0, or an LMDB code that stops the whole audit. */
static int walk_table(audit *a, MDB_dbi dbi, const char *name)
{
    MDB_txn *mt = a->txn->mt;
    MDB_cursor *mc = NULL;
    MDB_stat st;
    MDB_val k, v;
    unsigned flags = 0;
    unsigned char prev[PS_BACKEND_MAX_KEY + 32];
    size_t prev_len = 0, n = 0;
    int rc = mdb_stat(mt, dbi, &st);
    if (rc == 0)
        rc = mdb_dbi_flags(mt, dbi, &flags);
    if (rc)
        return rc;
    add_pages(a, &st);
    if (flags != 0)
        problem(a, name, "table has LMDB flags 0x%x; the backend creates tables without any",
                flags);
    if ((rc = mdb_cursor_open(mt, dbi, &mc)))
        return rc;
    while (!a->stopped && (rc = mdb_cursor_get(mc, &k, &v, n ? MDB_NEXT : MDB_FIRST)) == 0) {
        n++;
        touch(a, &v);
        if (k.mv_size == 0 || k.mv_size > PS_BACKEND_MAX_KEY)
            problem(a, name, "entry %zu: key of %zu bytes (1..%d allowed)", n, k.mv_size,
                    PS_BACKEND_MAX_KEY);
        if (n > 1 && key_cmp(prev, prev_len, k.mv_data, k.mv_size) >= 0)
            problem(a, name, "entry %zu: key does not sort after the key before it", n);
        prev_len = k.mv_size < sizeof prev ? k.mv_size : sizeof prev;
        memcpy(prev, k.mv_data, prev_len);
    }
    mdb_cursor_close(mc);
    if (a->stopped)
        return 0;
    if (rc != MDB_NOTFOUND) {
        /* A damaged page is a finding about this table, not a reason to stop. */
        problem(a, name, "reading stopped after %zu entries: %s", n, mdb_strerror(rc));
        return 0;
    }
    if (n != st.ms_entries)
        problem(a, name, "%zu entries read, but the table header counts %zu", n, st.ms_entries);
    return 0;
}

/*
 * The free list (dbi 0): records txnid -> ID list, whose first word is the
 * number of page numbers after it. seen has one bit per page of the file.
 */
static int walk_free(audit *a, uint64_t npages, uint8_t *seen, uint64_t *nfree)
{
    MDB_txn *mt = a->txn->mt;
    MDB_cursor *mc = NULL;
    MDB_stat st;
    MDB_val k, v;
    size_t n = 0;
    int rc = mdb_stat(mt, 0, &st);
    if (rc == 0)
        rc = mdb_cursor_open(mt, 0, &mc);
    if (rc)
        return rc;
    add_pages(a, &st);
    while (!a->stopped && (rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) == 0) {
        size_t count, id;
        n++;
        if (v.mv_size < sizeof count) {
            problem(a, "(free list)", "record %zu: %zu bytes, too short for an ID list", n,
                    v.mv_size);
            continue;
        }
        memcpy(&count, v.mv_data, sizeof count);
        if (v.mv_size != (count + 1) * sizeof id) {
            problem(a, "(free list)", "record %zu: ID list of %zu pages in %zu bytes", n, count,
                    v.mv_size);
            continue;
        }
        *nfree += count;
        for (size_t i = 1; i <= count && !a->stopped; i++) {
            memcpy(&id, (const char *)v.mv_data + i * sizeof id, sizeof id);
            if (id < LMDB_METAS || id >= npages) {
                problem(a, "(free list)",
                        "record %zu: page %zu is not a data page of the file"
                        " (pages %d..%llu)",
                        n, id, LMDB_METAS, (unsigned long long)npages - 1);
            } else if (seen[id / 8] & (1u << (id % 8))) {
                problem(a, "(free list)", "page %zu is listed as free twice", id);
            } else {
                seen[id / 8] |= (uint8_t)(1u << (id % 8));
            }
        }
    }
    mdb_cursor_close(mc);
    if (a->stopped || rc == MDB_NOTFOUND)
        return 0;
    problem(a, "(free list)", "reading stopped after %zu records: %s", n, mdb_strerror(rc));
    return 0;
}

/* Every table the backend knows and this snapshot holds (lmdb_tables.c keeps the list). */
static int walk_tables(audit *a, size_t *ntables)
{
    ps_lmdb *be = a->txn->be;
    for (unsigned dbi = 2; dbi < PS_LMDB_MAX_DBI && !a->stopped; dbi++) {
        char name[PS_BACKEND_MAX_TABLE_NAME + 1];
        unsigned flags;
        pthread_mutex_lock(&be->lock);
        int live = be->tables[dbi].state == PS_LMDB_LIVE && be->tables[dbi].created <= a->txn->id;
        memcpy(name, be->tables[dbi].name, sizeof name);
        pthread_mutex_unlock(&be->lock);
        if (!live || mdb_dbi_flags(a->txn->mt, dbi, &flags) != 0)
            continue;
        (*ntables)++;
        int rc = walk_table(a, dbi, name);
        if (rc)
            return rc;
    }
    return 0;
}

static int audit_snapshot(audit *a, const MDB_envinfo *info, unsigned psize, promstore_error *err)
{
    ps_lmdb *be = a->txn->be;
    MDB_txn *mt = a->txn->mt;
    uint64_t npages = (uint64_t)info->me_last_pgno + 1, nfree = 0;
    char why[512];
    int rc = ps_lmdb_length_check(be, mdb_txn_id(mt), npages, psize, why, sizeof why, err);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        problem(a, NULL, "%s (not read further)", why);
        return 0;
    }
    /* The main database lists the tables; walk it like a table. */
    MDB_dbi main_dbi;
    MDB_stat main_st;
    size_t ntables = 0;
    rc = mdb_dbi_open(mt, NULL, 0, &main_dbi);
    if (rc == 0)
        rc = mdb_stat(mt, main_dbi, &main_st);
    if (rc == 0)
        rc = walk_table(a, main_dbi, "(main database)");
    if (rc == 0)
        rc = walk_tables(a, &ntables);
    if (rc)
        return ps_lmdb_fail(err, rc, "integrity", NULL);
    uint8_t *seen = ps_backend_calloc(npages / 8 + 1, 1);
    if (seen == NULL)
        return ps_backend_fail(err, PROMSTORE_E_NOMEM, "lmdb: integrity: no memory for %llu page bits",
                       (unsigned long long)npages);
    rc = walk_free(a, npages, seen, &nfree);
    ps_backend_free(seen);
    if (rc)
        return ps_lmdb_fail(err, rc, "integrity: free list", NULL);
    if (a->stopped)
        return 0;
    if (main_st.ms_entries != ntables) {
        /* Unknown named databases: their pages would be missing from the sum. */
        problem(a, "(main database)",
                "%zu named databases, but %zu tables are known; page "
                "accounting skipped",
                main_st.ms_entries, ntables);
        return 0;
    }
    uint64_t sum = LMDB_METAS + a->pages + nfree;
    if (sum != npages)
        problem(a, NULL,
                "page accounting: %d meta + %llu tree + %llu free pages = %llu, but "
                "the snapshot uses %llu pages (%s)",
                LMDB_METAS, (unsigned long long)a->pages, (unsigned long long)nfree,
                (unsigned long long)sum, (unsigned long long)npages,
                sum < npages ? "pages are lost" : "pages are counted twice");
    return 0;
}

int ps_lmdb_integrity(ps_txn *txn, ps_integrity_fn report, void *ctx, promstore_error *err)
{
    if (txn == NULL || report == NULL)
        return ps_backend_fail(err, PROMSTORE_E_INVALID, "lmdb: integrity: NULL argument");
    if (txn->write)
        return ps_backend_fail(err, PROMSTORE_E_MISUSE, "lmdb: integrity needs a read transaction");
    audit a = {txn, report, ctx, 0, 0, 0};
    MDB_envinfo info;
    MDB_stat est;
    int rc = mdb_env_info(txn->be->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(txn->be->env, &est);
    if (rc)
        return ps_lmdb_fail(err, rc, "integrity: environment info", NULL);
    /*
     * The env info describes the newest commit, not necessarily this
     * snapshot; the page sums are only comparable when the two are the same
     * commit. The store's checker holds the directory lock, so they are.
     */
    if (info.me_last_txnid != mdb_txn_id(txn->mt))
        return ps_backend_fail(err, PROMSTORE_E_BUSY,
                       "lmdb: integrity: the store changed since the snapshot was taken "
                       "(another writer is active)");
    return audit_snapshot(&a, &info, est.ms_psize, err);
}
