/*
 * check.c -- promstore_check(): verify a store offline, changing nothing.
 * This file is the call itself (opening, meta, statistics, the order of the
 * checks, reporting); check_data.c and check_index.c do the walks (check.h).
 *
 * DESIGN NOTES
 *
 * 1. Streaming. One read transaction (one snapshot) walks every table once
 *    in key order; each problem goes to the caller's callback when it is
 *    found and nothing is collected, so memory does not grow with the data.
 *    The only store-sized state is a bitmap of the series ids present in
 *    `series`, one bit per id ever assigned (next_id bits).
 *
 * 2. The merge walk. `series`, `head` and every `blk.<slot>` table are keyed
 *    by series id first, so they are walked side by side: for each id of
 *    `series`, the block cursors (a heap ordered by id, then block time) and
 *    the head cursor give up exactly that series' chunks, oldest first, which
 *    is what the overlap check needs. A chunk or head whose id the walk
 *    passes over belongs to no series. Cost: one cursor per block.
 *
 * 3. Both directions of an index with one look-up each way. For series_key,
 *    postings and lastblk, every series looks up the entries it must have
 *    (its labels -> its id; one pair per label; its open chunk's block), and
 *    the walk of the table counts the entries that name existing series. The
 *    looked-up entries are distinct, so equal counts mean the table holds
 *    exactly them. Only when the counts differ is the table walked again,
 *    checking each entry against its series to name the stray ones: a
 *    healthy store pays one look-up per entry, not two.
 *
 * 4. Findings and failures. A problem in the data is reported and the check
 *    goes on. What prevents checking (I/O errors, no memory, a store that
 *    cannot be opened) ends the call with an error status. A backend that
 *    reports corruption while being read (LMDB: a bad page) is a finding:
 *    it is reported and the remaining walks are skipped, since they would
 *    read the same damage; so is a store the backend refuses to open as
 *    corrupt (LMDB: a data.mdb cut short, which reading would turn into a
 *    SIGBUS).
 *
 * 5. Opening. Unlike promstore_open(), nothing is created: no directory, no
 *    FORMAT file, no tables, no meta records. The directory lock is taken the
 *    same way, so a running server makes the check fail with BUSY rather
 *    than read a store that changes under it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "mem.h"

#define FORMAT_LINE "promstore " PS_FORMAT_VERSION_TEXT " "
#define BACKEND_TABLE "(backend)"

/* --- reporting ---------------------------------------------------------------- */

void ps_check_problem(ps_checker *c, const char *table, uint64_t id, int64_t block_start,
                      const char *fmt, ...)
{
    if (c->halt)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->sum.problems++;
    if (c->fn == NULL)
        return;
    promstore_check_problem p = {sizeof p, table, id, block_start, msg};
    if (c->fn(c->ctx, &p) != 0) {
        c->halt = 1;
        c->sum.stopped = 1;
    }
}

/* Start time of block number blk, or PS_NB if it does not fit an int64. */
int64_t ps_check_bstart(const ps_checker *c, int64_t blk)
{
    int64_t s;
    return __builtin_mul_overflow(blk, c->block_ms, &s) ? PS_NB : s;
}

/*
 * A backend error while walking: corruption is a finding that ends the walks
 * (note 4); anything else means the check cannot go on.
 */
promstore_status ps_check_read_failed(ps_checker *c, const char *table, promstore_status rc)
{
    if (rc != PROMSTORE_E_CORRUPT)
        return rc;
    ps_check_problem(c, table, 0, PS_NB, "reading the table failed, later checks skipped: %s",
                     c->err->message);
    c->halt = 1;
    return PROMSTORE_OK;
}

int ps_check_has_id(const ps_checker *c, uint64_t id)
{
    return id < c->next_id && (c->exists[id / 8] & (1u << (id % 8))) != 0;
}

/* " {labels}" of the current series for messages, formatted on first use only. */
const char *ps_check_desc(ps_checker *c)
{
    if (!c->have_desc) {
        /* With a leading space, so that "series 42%s" reads well without labels. */
        c->desc[0] = ' ';
        if (c->labels_ok >= 0)
            ps_labels_format(c->lb.labels, c->lb.n, c->desc + 1, sizeof c->desc - 1);
        else
            snprintf(c->desc + 1, sizeof c->desc - 1, "(labels do not decode)");
        c->have_desc = 1;
    }
    return c->desc;
}

/* name="value" of a postings pair, for messages; the all-series pair has its own text. */
const char *ps_check_pair_text(const char *name, size_t nl, const char *value, size_t vl, char *buf,
                               size_t cap)
{
    if (nl == 0 && vl == 0) {
        snprintf(buf, cap, "(all series)");
        return buf;
    }
    size_t n = ps_name_format(name, nl, buf, cap);
    if (n + 2 < cap) {
        buf[n++] = '=';
        ps_quote(value, vl, buf + n, cap - n);
    }
    return buf;
}

void ps_check_note_time(ps_checker *c, int64_t first, int64_t last)
{
    if (!c->have_t || first < c->min_t)
        c->min_t = first;
    if (!c->have_t || last > c->max_t)
        c->max_t = last;
    c->have_t = 1;
}

/* --- meta and statistics ------------------------------------------------------- */

/*
 * The meta record `key`: 1 with *out, 0 when it is missing or does not
 * decode (reported), or an error.
 */
static promstore_status meta_get(ps_checker *c, ps_meta_key key, ps_meta_rec *out, int *found)
{
    ps_rec r;
    ps_bad bad;
    *found = 0;
    promstore_status rc =
        ps_rec_get(&c->sch, c->txn, PS_T_META, &(ps_rec){.meta = {.key = key}}, &r, &bad, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND && key != PS_META_STATS) {
        ps_check_problem(c, "meta", 0, PS_NB, "no \"%s\" record", ps_meta_name(key));
        return PROMSTORE_OK;
    }
    if (rc == PROMSTORE_E_NOT_FOUND)
        return PROMSTORE_OK;
    if (rc)
        return ps_check_read_failed(c, "meta", rc);
    if (bad.what) {
        ps_check_problem(c, "meta", 0, PS_NB, "%s", bad.why);
        return PROMSTORE_OK;
    }
    *out = r.meta;
    *found = 1;
    return PROMSTORE_OK;
}

/* Read meta; *usable = 0 when the data tables cannot be interpreted without it. */
static promstore_status check_meta(ps_checker *c, int *usable)
{
    ps_meta_rec bms, nid, st;
    int have_bms, have_nid;
    *usable = 0;
    promstore_status rc = ps_meta_format_check(&c->sch, c->txn, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND) {
        ps_check_problem(c, "meta", 0, PS_NB,
                         "no \"format\" record: the store was never initialised");
        return PROMSTORE_OK;
    }
    if (rc == PROMSTORE_E_UNSUPPORTED)
        return rc;
    if (rc)
        return ps_check_read_failed(c, "meta", rc);
    if ((rc = meta_get(c, PS_META_BLOCK_MS, &bms, &have_bms)) ||
        (rc = meta_get(c, PS_META_NEXT_ID, &nid, &have_nid)))
        return rc;
    uint64_t block_ms = have_bms ? bms.u64 : 0, next_id = have_nid ? nid.u64 : 0;
    if (have_bms && (block_ms == 0 || block_ms > INT64_MAX)) {
        ps_check_problem(c, "meta", 0, PS_NB, "block length %llu ms is not a valid length",
                         (unsigned long long)block_ms);
        have_bms = 0;
    }
    if (have_nid && next_id == 0) {
        ps_check_problem(c, "meta", 0, PS_NB, "next_id is 0; series ids start at 1");
        have_nid = 0;
    }
    if ((rc = meta_get(c, PS_META_STATS, &st, &c->have_stats)))
        return rc;
    if (c->have_stats)
        c->stats = st.stats;
    if (!have_bms || !have_nid) {
        ps_check_problem(c, "meta", 0, PS_NB,
                         "without a valid block length and next_id the data cannot "
                         "be interpreted; later checks skipped");
        return PROMSTORE_OK;
    }
    c->block_ms = (int64_t)block_ms;
    c->next_id = next_id;
    *usable = 1;
    return PROMSTORE_OK;
}

/* The stats record (promstore_stats_get, time retention) against what was found. */
static void check_stats(ps_checker *c)
{
    const ps_stats_rec *s = &c->stats;
    if (!c->have_stats) {
        if (c->sum.series > 0)
            ps_check_problem(c, "meta", 0, PS_NB,
                             "no \"stats\" record, but the store holds %llu series",
                             (unsigned long long)c->sum.series);
        return;
    }
    if (s->series != c->sum.series)
        ps_check_problem(c, "meta", 0, PS_NB, "stats count %llu series, the index holds %llu",
                         (unsigned long long)s->series, (unsigned long long)c->sum.series);
    if (s->samples != c->n_samples)
        ps_check_problem(c, "meta", 0, PS_NB,
                         "stats count %llu samples, the chunks and out-of-order "
                         "samples hold %llu",
                         (unsigned long long)s->samples, (unsigned long long)c->n_samples);
    if (s->chunks != c->n_chunks)
        ps_check_problem(c, "meta", 0, PS_NB, "stats count %llu chunks, the store holds %llu",
                         (unsigned long long)s->chunks, (unsigned long long)c->n_chunks);
    if (c->have_t && s->max_time != c->max_t)
        ps_check_problem(c, "meta", 0, PS_NB,
                         "stats say the newest sample is at %lld, it is at %lld: time "
                         "retention cuts from the stored value",
                         (long long)s->max_time, (long long)c->max_t);
    /* Retention raises min_time to the start of the first block kept: a lower bound. */
    if (c->have_t && s->min_time > c->min_t)
        ps_check_problem(c, "meta", 0, PS_NB,
                         "stats say the oldest sample is at %lld, but one is at %lld",
                         (long long)s->min_time, (long long)c->min_t);
}

static promstore_status run_checks(ps_checker *c)
{
    promstore_status rc;
    int usable = 0;
    if ((rc = check_meta(c, &usable)) || !usable || c->halt)
        return rc;
    c->exists = ps_calloc(c->next_id / 8 + 1, 1);
    if (c->exists == NULL)
        return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory for a bitmap of %llu series ids",
                       (unsigned long long)c->next_id);
    if ((rc = ps_check_load_blocks(c)) || c->halt || (rc = ps_check_walk_series(c)) || c->halt)
        return rc;
    ps_check_block_counts(c);
    if ((rc = ps_check_walk_postings(c, 0)) || (rc = ps_check_walk_series_key(c, 0)) ||
        (rc = ps_check_walk_lastblk(c, 0)) || (rc = ps_check_walk_ooo(c)))
        return rc;
    /* Note 3: a second walk only where the counts show stray entries. */
    if (!c->halt && c->post_listed != c->post_found && (rc = ps_check_walk_postings(c, 1)))
        return rc;
    if (!c->halt && c->skey_listed != c->skey_found && (rc = ps_check_walk_series_key(c, 1)))
        return rc;
    if (!c->halt && c->last_listed != c->last_found && (rc = ps_check_walk_lastblk(c, 1)))
        return rc;
    if (!c->halt)
        check_stats(c);
    return PROMSTORE_OK;
}

static int backend_problem(void *ctx, const char *table, const char *message)
{
    ps_checker *c = ctx;
    ps_check_problem(c, table ? table : BACKEND_TABLE, 0, PS_NB, "%s", message);
    return c->halt;
}

/*
 * The fixed tables and the meta records are created in one transaction by
 * the first open: none of them is a store killed during that open (the next
 * open initialises it: an empty store, nothing to check); some of them is
 * damage.
 */
static promstore_status open_tables(ps_checker *c, int *usable)
{
    int missing[PS_T_FIXED], n_missing = 0;
    for (ps_kind k = PS_T_META; k < PS_T_FIXED; k++) {
        promstore_status rc = ps_schema_open_table(&c->sch, c->txn, k, 0, c->err);
        missing[k] = rc == PROMSTORE_E_NOT_FOUND;
        n_missing += missing[k];
        if (rc && !missing[k])
            return rc;
    }
    *usable = n_missing == 0;
    if (n_missing == 0 || n_missing == PS_T_FIXED)
        return PROMSTORE_OK;
    for (ps_kind k = PS_T_META; k < PS_T_FIXED; k++)
        if (missing[k])
            ps_check_problem(c, ps_kind_name(k), 0, PS_NB, "the table is missing");
    ps_check_problem(c, "meta", 0, PS_NB,
                     "with tables missing the store cannot be read; later "
                     "checks skipped");
    return PROMSTORE_OK;
}

/* --- opening without creating (note 5) ------------------------------------------ */

static promstore_status lock_store(const char *path, int *fd, promstore_error *err)
{
    char file[4096];
    if (snprintf(file, sizeof file, "%s/LOCK", path) >= (int)sizeof file)
        return ps_fail(err, PROMSTORE_E_INVALID, "store path too long");
    *fd = ps_backend_open_file(file, O_RDONLY, err);
    if (*fd < 0) {
        promstore_status rc = *fd;
        *fd = -1;
        return rc;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return ps_fail(err, PROMSTORE_E_BUSY,
                           "store %s is open (a running server or another process has it); "
                           "stop it first",
                           path);
        return ps_fail(err, PROMSTORE_E_IO, "cannot lock %s: %s", file, strerror(e));
    }
    return PROMSTORE_OK;
}

/* The directory must hold a store made by this backend: FORMAT says so. */
static promstore_status check_format(const char *path, const char *backend, promstore_error *err)
{
    char file[4096], got[64] = {0}, want[64];
    struct stat st;
    if (stat(path, &st) != 0)
        return ps_fail(err, errno == ENOENT ? PROMSTORE_E_NOT_FOUND : PROMSTORE_E_IO,
                       "no store at %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ps_fail(err, PROMSTORE_E_INVALID, "%s is not a directory", path);
    if (snprintf(file, sizeof file, "%s/FORMAT", path) >= (int)sizeof file)
        return ps_fail(err, PROMSTORE_E_INVALID, "store path too long");
    int fd = ps_backend_open_file(file, O_RDONLY, err);
    if (fd == PROMSTORE_E_NOT_FOUND)
        return ps_fail(err, PROMSTORE_E_NOT_FOUND, "%s holds no promstore store (%s: %s)", path,
                       file, strerror(ENOENT));
    if (fd < 0)
        return fd;
    ssize_t n = read(fd, got, sizeof got - 1);
    close(fd);
    got[n > 0 ? n : 0] = '\0';
    snprintf(want, sizeof want, FORMAT_LINE "%s\n", backend);
    if (strcmp(got, want) == 0)
        return PROMSTORE_OK;
    got[strcspn(got, "\n")] = '\0';
    if (strncmp(got, FORMAT_LINE, strlen(FORMAT_LINE)) == 0)
        return ps_fail(err, PROMSTORE_E_CORRUPT,
                       "store %s was made with backend \"%s\", not \"%s\": check it with that "
                       "backend",
                       path, got + strlen(FORMAT_LINE), backend);
    return ps_fail(err, PROMSTORE_E_UNSUPPORTED,
                   "store %s is \"%s\", not a format this "
                   "library knows",
                   path, got);
}

static promstore_status abi_check(const promstore_options *opts, promstore_check_fn fn, void *ctx,
                                  promstore_check_summary *summary, promstore_error *err)
{
    if (opts == NULL)
        return ps_fail(err, PROMSTORE_E_INVALID, "promstore_check: opts must not be NULL");
    if (opts->struct_size < offsetof(promstore_options, path) + sizeof opts->path)
        return ps_fail(err, PROMSTORE_E_INVALID,
                       "options.struct_size %zu is too small: use promstore_options_init()",
                       opts->struct_size);
    if (summary != NULL && summary->struct_size < sizeof(size_t))
        return ps_fail(err, PROMSTORE_E_INVALID, "check summary struct_size is too small");
    const char *backend = opts->backend ? opts->backend : "lmdb";
    if (opts->path == NULL || opts->path[0] == '\0')
        return ps_fail(err, PROMSTORE_E_INVALID, "options.path is required");

    ps_checker *c = ps_calloc(1, sizeof *c);
    if (c == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for the ps_checker");
    ps_schema_init(&c->sch, ps_backend_find(backend));
    c->err = err;
    c->fn = fn;
    c->ctx = ctx;
    c->sum.struct_size = sizeof c->sum;
    int lock_fd = -1, usable = 0;
    promstore_status rc = PROMSTORE_OK;
    if (c->sch.bm == NULL) {
        rc = ps_fail(err, PROMSTORE_E_INVALID,
                     "unknown backend \"%s\" (use \"lmdb\" or \"sqlite\")", backend);
        goto out;
    }
    snprintf(c->sum.backend, sizeof c->sum.backend, "%s", c->sch.bm->name);
    if ((rc = check_format(opts->path, c->sch.bm->name, err)) ||
        (rc = lock_store(opts->path, &lock_fd, err)))
        goto out;
    ps_backend_config cfg = {0};
    if ((rc = ps_schema_open(&c->sch, opts->path, &cfg, err)) == PROMSTORE_E_CORRUPT) {
        /* The backend refuses the store as damaged (LMDB: data.mdb cut short). */
        ps_check_problem(c, BACKEND_TABLE, 0, PS_NB, "%s", err->message);
        rc = PROMSTORE_OK;
        goto out;
    }
    if (rc || (rc = ps_txn_begin(&c->sch, 0, &c->txn, err)) ||
        (rc = ps_schema_integrity(&c->sch, c->txn, backend_problem, c, err)))
        goto out;
    if (!c->halt && (rc = open_tables(c, &usable)) == PROMSTORE_OK && usable && !c->halt)
        rc = run_checks(c);
out:
    for (size_t i = 0; i < c->n_blocks; i++)
        if (c->blocks[i].live)
            ps_scan_close(&c->blocks[i].sc);
    if (c->head_live)
        ps_scan_close(&c->head);
    if (c->txn)
        ps_txn_abort(&c->sch, c->txn);
    ps_schema_close(&c->sch);
    if (lock_fd >= 0)
        close(lock_fd);
    if (summary != NULL) {
        size_t keep = summary->struct_size < sizeof c->sum ? summary->struct_size : sizeof c->sum;
        c->sum.struct_size = summary->struct_size;
        memcpy(summary, &c->sum, keep);
    }
    ps_free(c->exists);
    ps_free(c->blocks);
    ps_free(c->heap);
    ps_labelbuf_free(&c->lb);
    ps_labelbuf_free(&c->other);
    ps_free(c);
    return rc;
}

promstore_status promstore_check(const promstore_options *opts, promstore_check_fn on_problem,
                                 void *ctx, promstore_check_summary *summary, promstore_error *err)
{
    PS_ABI_RETURN(err, abi_check(opts, on_problem, ctx, summary, PS_LOCAL_ERR));
}
