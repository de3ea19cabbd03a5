/*
 * bench_read_range.c -- promstore-bench-read-range: what a read over a time
 * range costs when the range holds none of the store's samples, against one
 * that holds them all (plugin/engine/query.c answers the first from the
 * snapshot's stats without visiting a series). Figures: the median of --reps
 * queries {__name__="r"} (and {__name__="r", i=~"0.*"}) over a store of
 * --series series with one sample each, on the backend given. Through the
 * ABI only. A program, not a test.
 *
 *   promstore-bench-read-range [--backend lmdb|sqlite] [--series N] [--reps R] [--dir D]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "promstore.h"

#define MAX_REPS 25
#define T0 INT64_C(1700000000000)

static void die(const char *what, const promstore_error *err)
{
    fprintf(stderr, "%s: %s\n", what, err ? err->message : "");
    exit(1);
}

/* n series r{i="<i>"} with one sample at T0, in batches. */
static void load(promstore *db, size_t n)
{
    enum { BATCH = 5000 };
    static char vals[BATCH][16];
    static promstore_label labels[BATCH][2];
    static promstore_series ser[BATCH];
    promstore_sample s = {T0, 0x3ff0000000000000u};
    for (size_t done = 0; done < n;) {
        size_t k = 0;
        for (; k < BATCH && done < n; k++, done++) {
            int len = snprintf(vals[k], sizeof vals[k], "%07zu", done);
            labels[k][0] = (promstore_label){"__name__", 8, "r", 1};
            labels[k][1] = (promstore_label){"i", 1, vals[k], (size_t)len};
            ser[k] = (promstore_series){labels[k], 2, &s, 1};
        }
        promstore_append_result res = {.struct_size = sizeof res};
        promstore_error err;
        if (promstore_append(db, ser, k, &res, &err) != PROMSTORE_OK)
            die("append", &err);
    }
}

/* Seconds for one query read to its end; *series gets how many it yielded. */
static double one_read(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                       int64_t maxt, size_t *series)
{
    promstore_error err;
    promstore_series_iter *it = NULL;
    double t0 = bench_now();
    if (promstore_query(db, m, nm, mint, maxt, &it, &err) != PROMSTORE_OK)
        die("query", &err);
    promstore_status st;
    *series = 0;
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK)
        ++*series;
    promstore_series_iter_close(it);
    if (st != PROMSTORE_DONE)
        die("iterate", &err);
    return bench_now() - t0;
}

static void report(promstore *db, const char *what, const promstore_matcher *m, size_t nm,
                   int64_t mint, int64_t maxt, int reps)
{
    double t[MAX_REPS];
    size_t series = 0;
    for (int r = 0; r < reps; r++)
        t[r] = one_read(db, m, nm, mint, maxt, &series);
    printf("%-34s %8zu series  median %10.3f ms\n", what, series, bench_median(t, (size_t)reps) * 1e3);
}

int main(int argc, char **argv)
{
    const char *backend = "lmdb", *parent = NULL;
    size_t n = 100000;
    int reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--backend") == 0)
            backend = argv[i + 1];
        else if (strcmp(argv[i], "--series") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            parent = argv[i + 1];
    }
    if (reps < 1 || reps > MAX_REPS)
        reps = 5;
    char *dir = bench_mkdtemp(parent);
    promstore_options o;
    promstore_options_init(&o);
    o.backend = backend;
    o.path = dir;
    o.max_future_ms = 0;
    o.max_work_per_read = 0; /* time the reads, not the budget */
    promstore *db = NULL;
    promstore_error err;
    if (promstore_open(&o, &db, &err) != PROMSTORE_OK)
        die("open", &err);
    load(db, n);
    printf("%s, %zu series, median of %d reads\n", backend, n, reps);
    promstore_matcher m[2] = {{PROMSTORE_MATCH_EQ, "__name__", 8, "r", 1},
                              {PROMSTORE_MATCH_RE, "i", 1, "0.*", 3}};
    for (size_t nm = 1; nm <= 2; nm++) {
        const char *sel = nm == 1 ? "{__name__=\"r\"}" : "{__name__=\"r\",i=~\"0.*\"}";
        char what[80];
        snprintf(what, sizeof what, "%s empty range", sel);
        report(db, what, m, nm, T0 + 3600000, T0 + 7200000, reps);
        snprintf(what, sizeof what, "%s full range", sel);
        report(db, what, m, nm, T0 - 1000, T0 + 1000, reps);
    }
    promstore_close(db, NULL);
    bench_rmtree(dir);
    free(dir);
    return 0;
}
