/*
 * bench_engine.c -- promstore-bench: measures libpromstore through its public
 * ABI only, on the LMDB and SQLite backends side by side, and prints a table.
 *
 * Figures (single-threaded, medians over --reps repetitions where the store
 * allows repeating the same measurement):
 *   1. append throughput to existing series, batches of 2000 samples;
 *   2. creation rate of new series (1M series, one sample each, 2000/batch);
 *   3. bytes per sample once blocks are sealed (one day of N hosts);
 *   4. reopen time of a store holding 1M series, and its first query;
 *   5. query time for 1 series, ~1k series and all series over one hour.
 * Append figures time only the promstore_append() calls, not the data
 * generation around them. See docs/BENCHMARKS.md for results.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench_util.h"
#include "nodegen.h"
#include "promstore.h"

#define BATCH 2000
#define START_MS INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */
#define HOUR_MS INT64_C(3600000)
#define SCRAPES_PER_HOUR (HOUR_MS / NODEGEN_SCRAPE_MS)
#define MAX_REPS 50
#define MAX_NOTES 32
#define BENCH_E_RUNAWAY (-1000) /* an iterator went past every plausible end */
#ifndef BENCH_BUILD_TYPE
#define BENCH_BUILD_TYPE "unknown"
#endif

/* --- configuration --------------------------------------------------------- */

typedef struct config {
    const char *backends[2];
    int n_backends;
    int quick;
    const char *dir;
    int reps;
    uint32_t append_hosts;   /* figure 1: hosts whose series receive appends */
    uint32_t append_scrapes; /* figure 1: scrapes per repetition */
    uint64_t new_series;     /* figure 2 and 4: series created */
    uint32_t day_hosts;      /* figure 3 and 5: hosts loaded for a day */
    uint32_t day_hours;      /* figure 3 and 5: hours loaded */
    double budget_s;         /* stop repeating a measurement after this long */
    uint64_t seed;
    uint32_t jitter_ms; /* scrape timestamps off schedule by up to +/- this */
} config;

/* --- results ----------------------------------------------------------------- */

enum fig {
    F_APPEND,
    F_APPEND_DAY,
    F_NEW_SERIES,
    F_BPS_DISK,
    F_BPS_FILE,
    F_BPS_CHUNK,
    F_OPEN,
    F_FIRST_Q,
    F_CLOSE,
    F_Q1,
    F_Q1K,
    F_QALL,
    F_QALL_1M,
    F_COUNT
};

enum fmt { FMT_RATE, FMT_BYTES, FMT_MS };
enum target_kind { T_NONE, T_AT_LEAST, T_AT_MOST };

typedef struct fig_info {
    const char *no;
    const char *label;
    const char *unit;
    enum fmt fmt;
    enum target_kind target_kind;
    double target;
} fig_info;

static const fig_info figs[F_COUNT] = {
    [F_APPEND] = {"1", "append to existing series", "samples/s", FMT_RATE, T_AT_LEAST, 2e6},
    [F_APPEND_DAY] = {"", "  (append during 1-day load)", "samples/s", FMT_RATE, T_NONE, 0},
    [F_NEW_SERIES] = {"2", "new series creation", "series/s", FMT_RATE, T_AT_LEAST, 3e5},
    [F_BPS_DISK] = {"3", "bytes_on_disk / sample", "B", FMT_BYTES, T_AT_MOST, 1.3},
    [F_BPS_FILE] = {"", "file_bytes / sample", "B", FMT_BYTES, T_NONE, 0},
    [F_BPS_CHUNK] = {"", "chunk data_len / sample", "B", FMT_BYTES, T_NONE, 0},
    [F_OPEN] = {"4", "reopen 1M-series store", "ms", FMT_MS, T_AT_MOST, 100},
    [F_FIRST_Q] = {"", "first query after reopen", "ms", FMT_MS, T_NONE, 0},
    [F_CLOSE] = {"", "close after 1M-series load", "ms", FMT_MS, T_NONE, 0},
    [F_Q1] = {"5", "query 1 series, 1 h", "ms", FMT_MS, T_NONE, 0},
    [F_Q1K] = {"", "query 1 host (~1k series), 1 h", "ms", FMT_MS, T_NONE, 0},
    [F_QALL] = {"", "query all series, 1 h", "ms", FMT_MS, T_NONE, 0},
    [F_QALL_1M] = {"", "query all of 1M-series store, 1 h", "ms", FMT_MS, T_NONE, 0},
};

enum phase { PH_APPEND, PH_NEW, PH_REOPEN, PH_DAY, PH_QUERY, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"1 append to existing", "2 new series",
                                                  "4 reopen + 1M query", "3 one-day load",
                                                  "5 queries + chunk scan"};

typedef struct cell {
    int state; /* 0 not measured, 1 measured, -1 failed */
    double value;
    int reps;
    char detail[200];
} cell;

typedef struct run {
    const char *backend;
    const char *base; /* directory holding this run's stores */
    cell c[F_COUNT];
    long rss_kib[PH_COUNT];
    double wall_s[PH_COUNT];
    uint64_t million_disk, million_file; /* stats of the 1M-series store */
    char notes[MAX_NOTES][320];
    int n_notes;
    int problems;
} run;

static void note(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record something worth reading after the table (an error, a wrong count). */
static void note(run *r, const char *fmt, ...)
{
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s] %s\n", r->backend, buf);
    r->problems++;
    if (r->n_notes < MAX_NOTES)
        snprintf(r->notes[r->n_notes++], sizeof r->notes[0], "%s", buf);
}

static const char *status_text(int rc)
{
    return rc == BENCH_E_RUNAWAY ? "iterator did not end" : promstore_strerror(rc);
}

static void fail(run *r, enum fig f, const char *what, int rc, const promstore_error *err)
{
    int has_msg = rc < 0 && rc != BENCH_E_RUNAWAY && err->status == rc;
    note(r, "%s: %s (%d)%s%s", what, status_text(rc), rc, has_msg ? ": " : "",
         has_msg ? err->message : "");
    if ((int)f >= 0 && f < F_COUNT)
        r->c[f].state = -1;
}

static void set_cell(run *r, enum fig f, double v, int reps, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set_cell(run *r, enum fig f, double v, int reps, const char *fmt, ...)
{
    cell *c = &r->c[f];
    c->state = 1;
    c->value = v;
    c->reps = reps;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
}

/* --- store helpers ------------------------------------------------------------- */

static void store_path(const run *r, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s-%s", r->base, r->backend, name);
}

static promstore_status open_store(const run *r, const char *path, promstore **db,
                                   promstore_error *err)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = r->backend;
    o.path = path;
    return promstore_open(&o, db, err);
}

typedef struct append_acc {
    double seconds; /* inside promstore_append() only */
    uint64_t samples, created, duplicate, rejected, batches;
} append_acc;

/*
 * Append the samples of one scrape for global series [begin, end), 2000 per
 * call, adding the time spent inside promstore_append() to acc.
 */
static promstore_status append_range(promstore *db, nodegen *g, nodegen_batch *b, uint64_t scrape,
                                     uint64_t begin, uint64_t end, append_acc *acc,
                                     promstore_error *err)
{
    uint64_t pos = begin;
    uint64_t max_batches = (end - begin) / b->cap + 2;
    for (uint64_t i = 0; i < max_batches && pos < end; i++) {
        size_t n = nodegen_fill(g, b, scrape, &pos, end);
        promstore_append_result res = {.struct_size = sizeof res};
        double t0 = bench_now();
        promstore_status rc = promstore_append(db, b->series, n, &res, err);
        acc->seconds += bench_now() - t0;
        acc->samples += res.samples_appended;
        acc->created += res.series_created;
        acc->duplicate += res.samples_duplicate;
        acc->rejected += res.samples_rejected;
        acc->batches++;
        if (rc != PROMSTORE_OK)
            return rc;
    }
    return PROMSTORE_OK;
}

/* What a query returned. */
typedef struct qres {
    uint64_t series, samples, chunks, chunk_bytes, chunk_samples;
    uint64_t out_of_range; /* samples outside [mint, maxt] or not increasing */
} qres;

/* Walk the samples of the current series, checking range and order. */
static int drain_samples(promstore_series_iter *it, int64_t mint, int64_t maxt, uint64_t *budget,
                         qres *q, promstore_error *err)
{
    promstore_sample s;
    int64_t last = INT64_MIN;
    for (;;) {
        if ((*budget)-- == 0)
            return BENCH_E_RUNAWAY;
        promstore_status rc = promstore_series_iter_sample(it, &s, err);
        if (rc != PROMSTORE_OK)
            return rc == PROMSTORE_DONE ? PROMSTORE_OK : rc;
        q->samples++;
        if (s.timestamp_ms < mint || s.timestamp_ms > maxt ||
            (last != INT64_MIN && s.timestamp_ms <= last))
            q->out_of_range++;
        last = s.timestamp_ms;
    }
}

/* Walk the raw chunks of the current series; an XOR chunk's first two bytes
 * are its sample count (big-endian), which cross-checks stats.samples. */
static int drain_chunks(promstore_series_iter *it, uint64_t *budget, qres *q, promstore_error *err)
{
    promstore_chunk c;
    for (;;) {
        if ((*budget)-- == 0)
            return BENCH_E_RUNAWAY;
        promstore_status rc = promstore_series_iter_chunk(it, &c, err);
        if (rc != PROMSTORE_OK)
            return rc == PROMSTORE_DONE ? PROMSTORE_OK : rc;
        q->chunks++;
        q->chunk_bytes += c.data_len;
        if (c.data_len >= 2)
            q->chunk_samples += (uint64_t)c.data[0] << 8 | c.data[1];
    }
}

/*
 * Run one query and read everything it returns: every sample, or with
 * chunks != 0 every raw chunk. `budget` bounds the items read, so that a
 * runaway iterator ends the benchmark instead of hanging it.
 */
static int run_query(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt, int chunks, uint64_t budget, qres *q, promstore_error *err)
{
    memset(q, 0, sizeof *q);
    promstore_series_iter *it = NULL;
    int rc = promstore_query(db, m, nm, mint, maxt, &it, err);
    if (rc != PROMSTORE_OK)
        return rc;
    for (;;) {
        if (budget-- == 0) {
            rc = BENCH_E_RUNAWAY;
            break;
        }
        rc = promstore_series_iter_next(it, err);
        if (rc != PROMSTORE_OK) {
            rc = rc == PROMSTORE_DONE ? PROMSTORE_OK : rc;
            break;
        }
        q->series++;
        rc = chunks ? drain_chunks(it, &budget, q, err)
                    : drain_samples(it, mint, maxt, &budget, q, err);
        if (rc != PROMSTORE_OK)
            break;
    }
    promstore_series_iter_close(it);
    return rc;
}

/* A matcher name="value". */
static promstore_matcher eq(const char *name, const char *value)
{
    return (promstore_matcher){PROMSTORE_MATCH_EQ, name, strlen(name), value, strlen(value)};
}

/*
 * Time a query over reps repetitions (fewer if the budget runs out; at least
 * one), store the median in cell f, and check the counts against the expected
 * ones.
 */
static void time_query(const config *cfg, run *r, enum fig f, promstore *db,
                       const promstore_matcher *m, size_t nm, int64_t mint, int64_t maxt,
                       uint64_t want_series, uint64_t want_samples)
{
    double ms[MAX_REPS];
    int done = 0;
    qres q = {0};
    promstore_error err;
    uint64_t budget = 2 * (want_series + want_samples) + 1000;
    double t_start = bench_now();
    for (int rep = 0; rep < cfg->reps; rep++) {
        double t0 = bench_now();
        int rc = run_query(db, m, nm, mint, maxt, 0, budget, &q, &err);
        double t1 = bench_now();
        if (rc != PROMSTORE_OK) {
            fail(r, f, figs[f].label, rc, &err);
            return;
        }
        ms[done++] = (t1 - t0) * 1e3;
        if (t1 - t_start > cfg->budget_s)
            break;
    }
    set_cell(r, f, bench_median(ms, (size_t)done), done,
             "%" PRIu64 " series, %" PRIu64 " samples returned", q.series, q.samples);
    if (q.series != want_series || q.samples != want_samples)
        note(r,
             "%s: got %" PRIu64 " series / %" PRIu64 " samples, expected %" PRIu64 " / %" PRIu64
             " (range [%" PRId64 ", %" PRId64 "])",
             figs[f].label, q.series, q.samples, want_series, want_samples, mint, maxt);
    if (q.out_of_range)
        note(r, "%s: %" PRIu64 " samples outside the range or not increasing", figs[f].label,
             q.out_of_range);
}

/* --- checking that the data is real ------------------------------------------------ */

/* Compare the samples of the current series with want[0..n) in [mint, maxt]. */
static int compare_samples(promstore_series_iter *it, const promstore_sample *want, uint64_t n,
                           int64_t mint, int64_t maxt, uint64_t *bad, promstore_error *err)
{
    uint64_t k = 0;
    for (uint64_t guard = 0; guard <= n; guard++) {
        promstore_sample got;
        int rc = promstore_series_iter_sample(it, &got, err);
        while (k < n && (want[k].timestamp_ms < mint || want[k].timestamp_ms > maxt))
            k++;
        if (rc == PROMSTORE_DONE) {
            *bad += k < n; /* samples missing at the end */
            return PROMSTORE_OK;
        }
        if (rc != PROMSTORE_OK)
            return rc;
        if (k >= n || got.timestamp_ms != want[k].timestamp_ms ||
            got.value_bits != want[k].value_bits)
            (*bad)++;
        k++;
    }
    return BENCH_E_RUNAWAY;
}

/*
 * Query metric of host over [mint, maxt] and check, bit for bit, that it
 * returns what the generator appended in its first `scrapes` scrapes.
 */
static void verify_series(run *r, promstore *db, const nodegen *g, uint32_t host,
                          const char *metric, uint64_t scrapes, int64_t mint, int64_t maxt)
{
    long idx = nodegen_series_index(g, metric);
    promstore_sample *want = malloc(scrapes * sizeof *want);
    if (idx < 0 || want == NULL) {
        note(r, "verify %s: no such series or out of memory", metric);
        free(want);
        return;
    }
    nodegen_replay(g, host, (size_t)idx, scrapes, want);
    promstore_matcher m[2] = {eq("__name__", metric), eq("instance", nodegen_instance(g, host))};
    promstore_series_iter *it = NULL;
    promstore_error err;
    uint64_t bad = 0;
    int rc = promstore_query(db, m, 2, mint, maxt, &it, &err);
    if (rc == PROMSTORE_OK && (rc = promstore_series_iter_next(it, &err)) == PROMSTORE_OK)
        rc = compare_samples(it, want, scrapes, mint, maxt, &bad, &err);
    if (rc == PROMSTORE_OK && promstore_series_iter_next(it, &err) != PROMSTORE_DONE)
        bad++; /* a second series matched */
    promstore_series_iter_close(it);
    free(want);
    if (rc != PROMSTORE_OK)
        fail(r, -1, "verify query", rc, &err);
    else if (bad != 0)
        note(r,
             "verify {__name__=\"%s\",instance=\"%s\"} over %s: %" PRIu64
             " samples differ from those appended",
             metric, nodegen_instance(g, host), mint == INT64_MIN ? "all time" : "one hour", bad);
}

/* --- figure 1: append to existing series ------------------------------------------ */

/* One timed repetition: `scrapes` scrapes of every series, continuing at *scrape. */
static int append_rep(const config *cfg, run *r, promstore *db, nodegen *g, nodegen_batch *b,
                      uint64_t *scrape, append_acc *acc)
{
    promstore_error err;
    uint64_t total = nodegen_total_series(g);
    for (uint32_t s = 0; s < cfg->append_scrapes; s++, (*scrape)++) {
        int rc = append_range(db, g, b, *scrape, 0, total, acc, &err);
        if (rc != PROMSTORE_OK) {
            fail(r, F_APPEND, "append to existing series", rc, &err);
            return -1;
        }
    }
    if (acc->created != 0 || acc->samples != (uint64_t)cfg->append_scrapes * total)
        note(r,
             "append to existing: %" PRIu64 " appended, %" PRIu64 " created, %" PRIu64
             " duplicate, %" PRIu64 " rejected; expected %" PRIu64 " appended, 0 created",
             acc->samples, acc->created, acc->duplicate, acc->rejected,
             (uint64_t)cfg->append_scrapes * total);
    return 0;
}

static void append_measure(const config *cfg, run *r, promstore *db, nodegen *g, nodegen_batch *b)
{
    promstore_error err;
    uint64_t total = nodegen_total_series(g);
    append_acc setup = {0};
    /* Scrape 0 creates the series and scrape 1 warms them up: not timed. */
    for (uint64_t k = 0; k < 2; k++) {
        int rc = append_range(db, g, b, k, 0, total, &setup, &err);
        if (rc != PROMSTORE_OK) {
            fail(r, F_APPEND, "append: creating the series", rc, &err);
            return;
        }
    }
    if (setup.created != total)
        note(r, "append: setup created %" PRIu64 " series, expected %" PRIu64, setup.created,
             total);
    double rates[MAX_REPS];
    int done = 0;
    uint64_t scrape = 2;
    double t_start = bench_now();
    for (int rep = 0; rep < cfg->reps; rep++) {
        append_acc acc = {0};
        if (append_rep(cfg, r, db, g, b, &scrape, &acc) != 0)
            return;
        rates[done++] = (double)acc.samples / acc.seconds;
        if (bench_now() - t_start > cfg->budget_s)
            break;
    }
    set_cell(r, F_APPEND, bench_median(rates, (size_t)done), done,
             "%" PRIu32 " hosts, %" PRIu64 " series; %" PRIu32 " scrapes (%" PRIu64
             " samples) per rep",
             nodegen_hosts(g), total, cfg->append_scrapes, (uint64_t)cfg->append_scrapes * total);
}

static void phase_append(const config *cfg, run *r)
{
    char path[4096];
    store_path(r, "append", path, sizeof path);
    nodegen *g = nodegen_new(cfg->append_hosts, cfg->seed, START_MS, cfg->jitter_ms);
    nodegen_batch b;
    if (g == NULL || nodegen_batch_init(&b, BATCH) != 0) {
        note(r, "append: out of memory for the generator");
        nodegen_free(g);
        return;
    }
    promstore *db = NULL;
    promstore_error err;
    int rc = open_store(r, path, &db, &err);
    if (rc != PROMSTORE_OK)
        fail(r, F_APPEND, "append: open", rc, &err);
    else
        append_measure(cfg, r, db, g, &b);
    if (db != NULL && (rc = promstore_close(db, &err)) != PROMSTORE_OK)
        fail(r, -1, "append: close", rc, &err);
    nodegen_batch_free(&b);
    nodegen_free(g);
}

/* --- figure 2 and 4: 1M new series, reopen --------------------------------------- */

static int create_series(const config *cfg, run *r, promstore *db, nodegen *g, nodegen_batch *b)
{
    promstore_error err;
    uint64_t n = cfg->new_series, tenth = n / 10;
    /* Three slices so that the first and last tenth show any slow-down as
     * the index grows. */
    uint64_t cut[4] = {0, tenth, n - tenth, n};
    append_acc acc[3] = {{0}};
    double t0 = bench_now();
    for (int i = 0; i < 3; i++) {
        int rc = append_range(db, g, b, 0, cut[i], cut[i + 1], &acc[i], &err);
        if (rc != PROMSTORE_OK) {
            fail(r, F_NEW_SERIES, "new series", rc, &err);
            return -1;
        }
    }
    double wall = bench_now() - t0;
    uint64_t created = acc[0].created + acc[1].created + acc[2].created;
    double secs = acc[0].seconds + acc[1].seconds + acc[2].seconds;
    set_cell(r, F_NEW_SERIES, (double)created / secs, 1,
             "%" PRIu64 " series in %.2f s (%.2f s wall with generation); first 10%%: "
             "%.0f/s, last 10%%: %.0f/s",
             created, secs, wall, (double)acc[0].created / acc[0].seconds,
             (double)acc[2].created / acc[2].seconds);
    if (created != n)
        note(r, "new series: %" PRIu64 " created, expected %" PRIu64, created, n);
    return 0;
}

/* One reopen: open, first query, close; times in ms. */
static int reopen_once(run *r, const char *path, double *open_ms, double *query_ms,
                       promstore **keep)
{
    promstore *db = NULL;
    promstore_error err;
    promstore_matcher m[2] = {eq("__name__", "node_load1"), eq("instance", "host-0:9100")};
    double t0 = bench_now();
    int rc = open_store(r, path, &db, &err);
    double t1 = bench_now();
    if (rc != PROMSTORE_OK) {
        fail(r, F_OPEN, "reopen", rc, &err);
        return -1;
    }
    qres q;
    rc = run_query(db, m, 2, INT64_MIN, INT64_MAX, 0, 1000, &q, &err);
    double t2 = bench_now();
    if (rc != PROMSTORE_OK)
        fail(r, F_FIRST_Q, "first query after reopen", rc, &err);
    else if (q.series != 1 || q.samples != 1)
        note(r,
             "first query after reopen: got %" PRIu64 " series / %" PRIu64
             " samples, expected 1 / 1",
             q.series, q.samples);
    *open_ms = (t1 - t0) * 1e3;
    *query_ms = (t2 - t1) * 1e3;
    if (keep != NULL) {
        *keep = db;
        return 0;
    }
    if ((rc = promstore_close(db, &err)) != PROMSTORE_OK)
        fail(r, F_OPEN, "close after reopen", rc, &err);
    return 0;
}

/* Reopen reps times; the last handle stays open in *db for the 1M query. */
static void measure_reopen(const config *cfg, run *r, const char *path, promstore **db)
{
    double open_ms[MAX_REPS], query_ms[MAX_REPS];
    int done = 0;
    double t_start = bench_now();
    for (int rep = 0; rep < cfg->reps; rep++) {
        int last = rep + 1 == cfg->reps || bench_now() - t_start > cfg->budget_s;
        if (reopen_once(r, path, &open_ms[done], &query_ms[done], last ? db : NULL) != 0)
            return;
        done++;
        if (last)
            break;
    }
    set_cell(r, F_OPEN, bench_median(open_ms, (size_t)done), done,
             "store of %" PRIu64 " series, bytes_on_disk %.1f MiB, file_bytes %.1f MiB; "
             "page cache warm",
             cfg->new_series, (double)r->million_disk / 1048576.0,
             (double)r->million_file / 1048576.0);
    set_cell(r, F_FIRST_Q, bench_median(query_ms, (size_t)done), done,
             "{__name__=\"node_load1\",instance=\"host-0:9100\"}, all time, 1 sample");
}

static void million_queries(const config *cfg, run *r, promstore *db, nodegen *g)
{
    uint64_t want_samples = 0;
    uint64_t per_host = nodegen_series_per_host();
    for (uint32_t h = 0; h < nodegen_hosts(g); h++) {
        uint64_t first = (uint64_t)h * per_host;
        if (first >= cfg->new_series)
            break;
        uint64_t n = cfg->new_series - first < per_host ? cfg->new_series - first : per_host;
        want_samples += n * nodegen_scrapes_in_range(g, h, 1, START_MS, START_MS + HOUR_MS - 1);
    }
    time_query(cfg, r, F_QALL_1M, db, NULL, 0, START_MS, START_MS + HOUR_MS - 1, cfg->new_series,
               want_samples);
}

/* A generator with enough hosts for n series. */
static nodegen *gen_for_series(const config *cfg, uint64_t n)
{
    uint64_t per_host = nodegen_series_per_host();
    return nodegen_new((uint32_t)((n + per_host - 1) / per_host), cfg->seed, START_MS,
                       cfg->jitter_ms);
}

static void phase_new_series(const config *cfg, run *r)
{
    char path[4096];
    store_path(r, "million", path, sizeof path);
    nodegen *g = gen_for_series(cfg, cfg->new_series);
    nodegen_batch b;
    if (g == NULL || nodegen_batch_init(&b, BATCH) != 0) {
        note(r, "new series: out of memory for the generator");
        nodegen_free(g);
        return;
    }
    promstore *db = NULL;
    promstore_error err;
    int rc = open_store(r, path, &db, &err);
    if (rc != PROMSTORE_OK) {
        fail(r, F_NEW_SERIES, "new series: open", rc, &err);
    } else if (create_series(cfg, r, db, g, &b) == 0) {
        promstore_stats st = {.struct_size = sizeof st};
        if ((rc = promstore_stats_get(db, &st, &err)) != PROMSTORE_OK)
            fail(r, -1, "stats of the 1M-series store", rc, &err);
        r->million_disk = st.bytes_on_disk;
        r->million_file = st.file_bytes;
        double t0 = bench_now();
        rc = promstore_close(db, &err);
        double t1 = bench_now();
        db = NULL;
        if (rc != PROMSTORE_OK)
            fail(r, F_CLOSE, "close after new series", rc, &err);
        else
            set_cell(r, F_CLOSE, (t1 - t0) * 1e3, 1, "once, right after the load");
    }
    if (db != NULL && (rc = promstore_close(db, &err)) != PROMSTORE_OK)
        fail(r, -1, "new series: close", rc, &err);
    nodegen_batch_free(&b);
    nodegen_free(g);
}

static void phase_reopen(const config *cfg, run *r)
{
    char path[4096];
    store_path(r, "million", path, sizeof path);
    if (r->c[F_NEW_SERIES].state != 1) {
        note(r, "reopen: skipped, the 1M-series store was not built");
        return;
    }
    promstore *db = NULL;
    measure_reopen(cfg, r, path, &db);
    if (db == NULL)
        return;
    nodegen *g = gen_for_series(cfg, cfg->new_series);
    if (g != NULL) {
        verify_series(r, db, g, nodegen_hosts(g) / 2, "node_load1", 1, INT64_MIN, INT64_MAX);
        million_queries(cfg, r, db, g);
    }
    nodegen_free(g);
    promstore_error err;
    int rc = promstore_close(db, &err);
    if (rc != PROMSTORE_OK)
        fail(r, -1, "reopen: close", rc, &err);
}

/* --- figure 3 and 5: one day of data, bytes per sample, queries ------------------ */

typedef struct day_store {
    promstore *db;
    nodegen *g;
    uint64_t scrapes;
    uint64_t samples; /* appended */
} day_store;

static int day_load(run *r, day_store *d)
{
    nodegen_batch b;
    if (nodegen_batch_init(&b, BATCH) != 0) {
        note(r, "day: out of memory for the batch");
        return -1;
    }
    promstore_error err;
    append_acc acc = {0};
    uint64_t total = nodegen_total_series(d->g);
    /* The slowest and fastest hour show whether the rate drifts as the
     * store grows and blocks are sealed. */
    double hour_min = 0, hour_max = 0;
    double t0 = bench_now();
    int rc = PROMSTORE_OK;
    for (uint64_t k = 0; k < d->scrapes && rc == PROMSTORE_OK; k += SCRAPES_PER_HOUR) {
        append_acc hour = {0};
        for (uint64_t j = k; j < k + SCRAPES_PER_HOUR && j < d->scrapes && rc == PROMSTORE_OK; j++)
            rc = append_range(d->db, d->g, &b, j, 0, total, &hour, &err);
        double rate = (double)hour.samples / hour.seconds;
        hour_min = k == 0 || rate < hour_min ? rate : hour_min;
        hour_max = k == 0 || rate > hour_max ? rate : hour_max;
        acc.seconds += hour.seconds;
        acc.samples += hour.samples;
    }
    double wall = bench_now() - t0;
    nodegen_batch_free(&b);
    d->samples = acc.samples;
    if (rc != PROMSTORE_OK) {
        fail(r, F_APPEND_DAY, "day: append", rc, &err);
        return -1;
    }
    set_cell(r, F_APPEND_DAY, (double)acc.samples / acc.seconds, 1,
             "%" PRIu64 " samples in %.1f s (%.1f s wall with generation); hourly rate "
             "%.0f..%.0f/s",
             acc.samples, acc.seconds, wall, hour_min, hour_max);
    if (acc.samples != d->scrapes * total)
        note(r, "day: %" PRIu64 " samples appended, expected %" PRIu64, acc.samples,
             d->scrapes * total);
    return 0;
}

static void day_stats(run *r, day_store *d, const char *path)
{
    promstore_stats st = {.struct_size = sizeof st};
    promstore_error err;
    int rc = promstore_stats_get(d->db, &st, &err);
    if (rc != PROMSTORE_OK) {
        fail(r, F_BPS_DISK, "stats", rc, &err);
        return;
    }
    double n = st.samples ? (double)st.samples : 1.0;
    set_cell(r, F_BPS_DISK, (double)st.bytes_on_disk / n, 1,
             "series %" PRIu64 ", samples %" PRIu64 ", chunks %" PRIu64 ", blocks %" PRIu64
             ", bytes_on_disk %" PRIu64,
             st.series, st.samples, st.chunks, st.blocks, st.bytes_on_disk);
    set_cell(r, F_BPS_FILE, (double)st.file_bytes / n, 1,
             "file_bytes %" PRIu64 " (files in the directory: %" PRIu64 " bytes)", st.file_bytes,
             bench_du(path));
    if (st.samples != d->samples || st.series != nodegen_total_series(d->g))
        note(r, "stats: %" PRIu64 " series / %" PRIu64 " samples, expected %" PRIu64 " / %" PRIu64,
             st.series, st.samples, nodegen_total_series(d->g), d->samples);
}

static void phase_day(const config *cfg, run *r, day_store *d)
{
    char path[4096];
    store_path(r, "day", path, sizeof path);
    d->scrapes = (uint64_t)cfg->day_hours * SCRAPES_PER_HOUR;
    d->g = nodegen_new(cfg->day_hosts, cfg->seed, START_MS, cfg->jitter_ms);
    if (d->g == NULL) {
        note(r, "day: out of memory for the generator");
        return;
    }
    promstore_error err;
    int rc = open_store(r, path, &d->db, &err);
    if (rc != PROMSTORE_OK) {
        fail(r, F_APPEND_DAY, "day: open", rc, &err);
        return;
    }
    if (day_load(r, d) == 0)
        day_stats(r, d, path);
}

/* Sum the raw chunk bytes of every series over all time. */
static void chunk_scan(run *r, day_store *d)
{
    qres q;
    promstore_error err;
    uint64_t budget = 4 * (d->samples + nodegen_total_series(d->g)) + 1000;
    int rc = run_query(d->db, NULL, 0, INT64_MIN, INT64_MAX, 1, budget, &q, &err);
    if (rc != PROMSTORE_OK) {
        fail(r, F_BPS_CHUNK, "chunk scan", rc, &err);
        return;
    }
    double n = d->samples ? (double)d->samples : 1.0;
    set_cell(r, F_BPS_CHUNK, (double)q.chunk_bytes / n, 1,
             "%" PRIu64 " chunks, %" PRIu64 " bytes, %.1f samples/chunk (by chunk headers)",
             q.chunks, q.chunk_bytes, q.chunks ? (double)q.chunk_samples / (double)q.chunks : 0);
    if (q.chunk_samples != d->samples)
        note(r, "chunk scan: chunk headers count %" PRIu64 " samples, %" PRIu64 " appended",
             q.chunk_samples, d->samples);
}

static void phase_queries(const config *cfg, run *r, day_store *d)
{
    if (d->db == NULL || d->samples == 0) {
        note(r, "queries: skipped, the one-day store was not built");
        return;
    }
    chunk_scan(r, d);
    /* The middle hour of the load: old enough to sit in sealed blocks. */
    int64_t mint = START_MS + (int64_t)(cfg->day_hours / 2) * HOUR_MS;
    int64_t maxt = mint + HOUR_MS - 1;
    uint64_t per_host = nodegen_series_per_host();
    uint64_t s0 = nodegen_scrapes_in_range(d->g, 0, d->scrapes, mint, maxt);
    uint64_t all = 0;
    for (uint32_t h = 0; h < nodegen_hosts(d->g); h++)
        all += per_host * nodegen_scrapes_in_range(d->g, h, d->scrapes, mint, maxt);
    promstore_matcher one[2] = {eq("__name__", "node_load1"), eq("instance", "host-0:9100")};
    promstore_matcher host[1] = {eq("instance", "host-0:9100")};
    /* Untimed: the data read back is the data appended, sealed blocks and head. */
    static const char *const checked[] = {"node_load1", "node_time_seconds",
                                          "node_memory_MemFree_bytes", "node_forks_total"};
    uint32_t last = nodegen_hosts(d->g) - 1;
    for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
        verify_series(r, d->db, d->g, 0, checked[i], d->scrapes, INT64_MIN, INT64_MAX);
        verify_series(r, d->db, d->g, last, checked[i], d->scrapes, mint, maxt);
    }
    time_query(cfg, r, F_Q1, d->db, one, 2, mint, maxt, 1, s0);
    time_query(cfg, r, F_Q1K, d->db, host, 1, mint, maxt, per_host, per_host * s0);
    time_query(cfg, r, F_QALL, d->db, NULL, 0, mint, maxt, nodegen_total_series(d->g), all);
}

static void day_close(run *r, day_store *d)
{
    promstore_error err;
    if (d->db != NULL) {
        int rc = promstore_close(d->db, &err);
        if (rc != PROMSTORE_OK)
            fail(r, -1, "day: close", rc, &err);
    }
    nodegen_free(d->g);
    memset(d, 0, sizeof *d);
}

/* --- running and printing ---------------------------------------------------------- */

typedef void (*phase_fn)(const config *cfg, run *r, day_store *d);

static void ph_append(const config *cfg, run *r, day_store *d)
{
    (void)d;
    phase_append(cfg, r);
}

static void ph_new(const config *cfg, run *r, day_store *d)
{
    (void)d;
    phase_new_series(cfg, r);
}

static void ph_reopen(const config *cfg, run *r, day_store *d)
{
    (void)d;
    phase_reopen(cfg, r);
}

static const phase_fn phase_fns[PH_COUNT] = {[PH_APPEND] = ph_append,
                                             [PH_NEW] = ph_new,
                                             [PH_REOPEN] = ph_reopen,
                                             [PH_DAY] = phase_day,
                                             [PH_QUERY] = phase_queries};

/* The order phases run in: the reopen needs the 1M store, queries the day store. */
static const enum phase phase_order[PH_COUNT] = {PH_APPEND, PH_NEW, PH_REOPEN, PH_DAY, PH_QUERY};

static void run_backend(const config *cfg, run *r)
{
    day_store d = {0};
    for (int i = 0; i < PH_COUNT; i++) {
        enum phase p = phase_order[i];
        fprintf(stderr, "[%s] phase %s...\n", r->backend, phase_names[p]);
        bench_rss_reset();
        double t0 = bench_now();
        phase_fns[p](cfg, r, &d);
        r->wall_s[p] = bench_now() - t0;
        r->rss_kib[p] = bench_rss_peak_kib();
        fprintf(stderr, "[%s] phase %s: %.1f s\n", r->backend, phase_names[p], r->wall_s[p]);
    }
    day_close(r, &d);
}

static void format_value(const cell *c, enum fmt fmt, char *buf, size_t cap)
{
    char si[32];
    if (c->state == 0)
        snprintf(buf, cap, "-");
    else if (c->state < 0)
        snprintf(buf, cap, "ERROR");
    else if (fmt == FMT_RATE)
        snprintf(buf, cap, "%s", bench_si(c->value, si, sizeof si));
    else if (fmt == FMT_BYTES)
        snprintf(buf, cap, "%.3f", c->value);
    else
        snprintf(buf, cap, "%.2f", c->value);
}

static void format_target(const fig_info *f, char *buf, size_t cap)
{
    char si[32];
    if (f->target_kind == T_NONE) {
        buf[0] = '\0';
        return;
    }
    const char *op = f->target_kind == T_AT_LEAST ? ">=" : "<=";
    if (f->fmt == FMT_RATE)
        snprintf(buf, cap, "%s %s", op, bench_si(f->target, si, sizeof si));
    else
        snprintf(buf, cap, "%s %g", op, f->target);
}

/* "yes"/"no" against the target, for the LMDB run only. */
static const char *target_met(const fig_info *f, const run *lmdb)
{
    if (f->target_kind == T_NONE)
        return "";
    if (lmdb == NULL)
        return "n/a";
    const cell *c = &lmdb->c[f - figs];
    if (c->state != 1)
        return "n/a";
    int ok = f->target_kind == T_AT_LEAST ? c->value >= f->target : c->value <= f->target;
    return ok ? "yes" : "NO";
}

static void print_table(const run *runs, int n)
{
    const run *lmdb = NULL;
    printf("\n%-2s %-36s %-10s", "#", "figure (median)", "unit");
    for (int b = 0; b < n; b++) {
        printf(" %12s", runs[b].backend);
        if (strcmp(runs[b].backend, "lmdb") == 0)
            lmdb = &runs[b];
    }
    printf(" %12s %4s\n", "target(lmdb)", "met");
    for (int f = 0; f < F_COUNT; f++) {
        char v[48], t[48];
        printf("%-2s %-36s %-10s", figs[f].no, figs[f].label, figs[f].unit);
        for (int b = 0; b < n; b++) {
            format_value(&runs[b].c[f], figs[f].fmt, v, sizeof v);
            printf(" %12s", v);
        }
        format_target(&figs[f], t, sizeof t);
        printf(" %12s %4s\n", t, target_met(&figs[f], lmdb));
    }
}

static void print_details(const run *runs, int n)
{
    printf("\nDetails (reps = repetitions behind the median):\n");
    for (int f = 0; f < F_COUNT; f++)
        for (int b = 0; b < n; b++) {
            const cell *c = &runs[b].c[f];
            if (c->state == 1)
                printf("  %-34s %-6s reps %-2d %s\n", figs[f].label, runs[b].backend, c->reps,
                       c->detail);
        }
}

static void print_phases(const run *runs, int n)
{
    printf("\nPer phase: wall time (s) and peak RSS (MiB, %s):\n",
           bench_rss_is_per_phase() ? "high-water mark reset at each phase"
                                    : "process peak so far");
    printf("  %-26s", "phase");
    for (int b = 0; b < n; b++)
        printf(" %8s-s %8s-MiB", runs[b].backend, runs[b].backend);
    printf("\n");
    for (int i = 0; i < PH_COUNT; i++) {
        enum phase p = phase_order[i];
        printf("  %-26s", phase_names[p]);
        for (int b = 0; b < n; b++)
            printf(" %10.1f %12.1f", runs[b].wall_s[p], (double)runs[b].rss_kib[p] / 1024.0);
        printf("\n");
    }
}

static int print_notes(const run *runs, int n)
{
    int problems = 0;
    for (int b = 0; b < n; b++)
        problems += runs[b].problems;
    if (problems == 0) {
        printf("\nNo errors; every count returned matched the data appended, and the series\n"
               "checked sample by sample came back bit-exact.\n");
        return 0;
    }
    printf("\nProblems (%d):\n", problems);
    for (int b = 0; b < n; b++)
        for (int i = 0; i < runs[b].n_notes; i++)
            printf("  [%s] %s\n", runs[b].backend, runs[b].notes[i]);
    return problems;
}

static void print_header(const config *cfg, const char *base, int temp)
{
    char cpu[256];
    struct utsname u;
    bench_cpu_model(cpu, sizeof cpu);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    printf("promstore-bench: libpromstore %s (header %d.%d.%d), build type %s%s\n",
           promstore_version(), PROMSTORE_VERSION_MAJOR, PROMSTORE_VERSION_MINOR,
           PROMSTORE_VERSION_PATCH, BENCH_BUILD_TYPE, cfg->quick ? ", --quick" : "");
    printf("machine: %ld CPUs (nproc), %s, %" PRIu64 " MiB RAM, %s %s %s\n",
           sysconf(_SC_NPROCESSORS_ONLN), cpu, bench_mem_mib(), u.sysname, u.release, u.machine);
    printf("stores: %s%s\n", base, temp ? " (temporary, removed at the end)" : " (kept)");
    printf("data: node_exporter-like, %zu series/host, %zu metric names, scrape %d s, "
           "jitter +/-%" PRIu32 " ms, seed %" PRIu64 "; batches of %d samples, single thread\n",
           nodegen_series_per_host(), nodegen_metric_names(), NODEGEN_SCRAPE_MS / 1000,
           cfg->jitter_ms, cfg->seed, BATCH);
    printf("sizes: (1) %" PRIu32 " hosts x %" PRIu32 " scrapes/rep; (2,4) %" PRIu64
           " new series; (3,5) %" PRIu32 " hosts x %" PRIu32 " h; reps %d (budget %.0f s "
           "per measurement)\n",
           cfg->append_hosts, cfg->append_scrapes, cfg->new_series, cfg->day_hosts, cfg->day_hours,
           cfg->reps, cfg->budget_s);
    fflush(stdout);
}

/* --- options ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: promstore-bench [--backend=lmdb|sqlite|both] [--quick] [--dir=PATH]\n"
               "                       [--reps=N] [--append-hosts=N] [--new-series=N]\n"
               "                       [--hosts=N] [--hours=N] [--seed=N] [--jitter=MS]\n"
               "  --backend       which backends to measure (default both)\n"
               "  --quick         small sizes, for a CI smoke run\n"
               "  --dir           make the stores in a fresh directory under PATH and keep\n"
               "                  them (default: a temporary directory, removed at the end)\n"
               "  --reps          repetitions behind each median (default 5, quick 3)\n"
               "  --append-hosts  hosts for figure 1 (default 100, quick 5)\n"
               "  --new-series    series created for figures 2 and 4 (default 1000000)\n"
               "  --hosts         hosts loaded for a day for figures 3 and 5 (default 4)\n"
               "  --hours         hours loaded for figures 3 and 5 (default 24, quick 4)\n"
               "  --seed          seed of the data generator (default 1)\n"
               "  --jitter        scrape timestamp jitter, +/- ms (default 5)\n");
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void set_sizes(config *cfg, int quick)
{
    cfg->quick = quick;
    cfg->reps = quick ? 3 : 5;
    cfg->append_hosts = quick ? 5 : 100;
    cfg->append_scrapes = quick ? 4 : 10;
    cfg->new_series = quick ? 20000 : 1000000;
    cfg->day_hosts = quick ? 2 : 4;
    cfg->day_hours = quick ? 4 : 24;
    cfg->budget_s = quick ? 10 : 30;
}

static int set_backends(config *cfg, const char *v)
{
    if (strcmp(v, "both") == 0) {
        cfg->backends[0] = "lmdb";
        cfg->backends[1] = "sqlite";
        cfg->n_backends = 2;
    } else if (strcmp(v, "lmdb") == 0 || strcmp(v, "sqlite") == 0) {
        cfg->backends[0] = strcmp(v, "lmdb") == 0 ? "lmdb" : "sqlite";
        cfg->n_backends = 1;
    } else {
        return -1;
    }
    return 0;
}

/* Apply one option; sizes given explicitly win over --quick's. */
static int apply_option(config *cfg, int opt, const char *arg)
{
    uint64_t v = 0;
    switch (opt) {
    case 'b':
        return set_backends(cfg, arg);
    case 'd':
        cfg->dir = arg;
        return 0;
    case 'r':
        if (parse_u64(arg, 1, MAX_REPS, &v) != 0)
            return -1;
        cfg->reps = (int)v;
        return 0;
    case 'a':
        if (parse_u64(arg, 1, 100000, &v) != 0)
            return -1;
        cfg->append_hosts = (uint32_t)v;
        return 0;
    case 'n':
        if (parse_u64(arg, 10, 100000000, &v) != 0)
            return -1;
        cfg->new_series = v;
        return 0;
    case 'H':
        if (parse_u64(arg, 1, 100000, &v) != 0)
            return -1;
        cfg->day_hosts = (uint32_t)v;
        return 0;
    case 'h':
        if (parse_u64(arg, 2, 24 * 365, &v) != 0)
            return -1;
        cfg->day_hours = (uint32_t)v;
        return 0;
    case 's':
        return parse_u64(arg, 0, UINT64_MAX, &cfg->seed);
    case 'j':
        if (parse_u64(arg, 0, NODEGEN_JITTER_MAX_MS, &v) != 0)
            return -1;
        cfg->jitter_ms = (uint32_t)v;
        return 0;
    default:
        return -1;
    }
}

static const struct option long_opts[] = {{"backend", required_argument, NULL, 'b'},
                                          {"quick", no_argument, NULL, 'q'},
                                          {"dir", required_argument, NULL, 'd'},
                                          {"reps", required_argument, NULL, 'r'},
                                          {"append-hosts", required_argument, NULL, 'a'},
                                          {"new-series", required_argument, NULL, 'n'},
                                          {"hosts", required_argument, NULL, 'H'},
                                          {"hours", required_argument, NULL, 'h'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"jitter", required_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'x'},
                                          {NULL, 0, NULL, 0}};

static int parse_args(int argc, char **argv, config *cfg)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) /* --quick first: it sets the defaults */
        quick |= strcmp(argv[i], "--quick") == 0;
    memset(cfg, 0, sizeof *cfg);
    set_sizes(cfg, quick);
    set_backends(cfg, "both");
    cfg->seed = 1;
    cfg->jitter_ms = NODEGEN_JITTER_MS;
    int opt;
    for (int guard = 0; guard <= argc && (opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1;
         guard++) {
        if (opt == 'q')
            continue;
        if (opt == 'x') {
            usage(stdout);
            exit(0);
        }
        if (opt == '?' || apply_option(cfg, opt, optarg) != 0)
            return -1;
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    config cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        usage(stderr);
        return 2;
    }
    const char *parent = cfg.dir ? cfg.dir : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *base = bench_mkdtemp(parent);
    if (base == NULL) {
        fprintf(stderr, "promstore-bench: cannot make a directory under %s\n", parent);
        return 1;
    }
    print_header(&cfg, base, cfg.dir == NULL);
    double t0 = bench_now();
    run runs[2];
    memset(runs, 0, sizeof runs);
    for (int b = 0; b < cfg.n_backends; b++) {
        runs[b].backend = cfg.backends[b];
        runs[b].base = base;
        run_backend(&cfg, &runs[b]);
    }
    print_table(runs, cfg.n_backends);
    print_details(runs, cfg.n_backends);
    print_phases(runs, cfg.n_backends);
    printf("\nTotal wall time: %.1f s\n", bench_now() - t0);
    int problems = print_notes(runs, cfg.n_backends);
    if (cfg.dir == NULL && bench_rmtree(base) != 0)
        fprintf(stderr, "promstore-bench: could not remove %s\n", base);
    free(base);
    return problems ? 1 : 0;
}
