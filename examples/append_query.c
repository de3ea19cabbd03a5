/*
 * append_query.c -- a short tour of the promstore C ABI.
 *
 * Opens (creating it if needed) a store, appends a few series, queries them
 * back with a label matcher, prints each series with its samples, and prints
 * the store's statistics. Only abi/promstore.h is used.
 *
 * Usage: example_append_query [DIR [BACKEND]]
 *   DIR defaults to ./data, BACKEND to the library's default ("lmdb");
 *   "sqlite" picks the SQLite backend.
 *
 * The samples have fixed timestamps, so a second run stores nothing new: its
 * samples are counted as duplicates, which is how a retried batch is treated.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "promstore.h"

/* A label from two string literals. */
#define LABEL(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}
#define N_SAMPLES 4

static uint64_t to_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static void report(const char *call, const promstore_error *err) {
    fprintf(stderr, "%s failed: %s: %s\n", call,
            promstore_strerror(err->status), err->message);
}

/* Print name{a="x", b="y"} from a sorted label set. */
static void print_labels(const promstore_label *labels, size_t n) {
    const char *sep = "";
    for (size_t i = 0; i < n; i++) {
        if (labels[i].name_len == 8 && memcmp(labels[i].name, "__name__", 8) == 0)
            printf("%.*s", (int)labels[i].value_len, labels[i].value);
    }
    printf("{");
    for (size_t i = 0; i < n; i++) {
        if (labels[i].name_len == 8 && memcmp(labels[i].name, "__name__", 8) == 0)
            continue;
        printf("%s%.*s=\"%.*s\"", sep, (int)labels[i].name_len, labels[i].name,
               (int)labels[i].value_len, labels[i].value);
        sep = ", ";
    }
    printf("}\n");
}

/* Query every series with a __name__ and print it with its samples. */
static int query_all(promstore *db) {
    promstore_error err;
    promstore_series_iter *it = NULL;
    promstore_matcher any_name = {PROMSTORE_MATCH_RE, "__name__", 8, ".+", 2};
    promstore_status st;

    if (promstore_query(db, &any_name, 1, INT64_MIN, INT64_MAX, &it, &err) != PROMSTORE_OK) {
        report("promstore_query", &err);
        return -1;
    }
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *labels;
        size_t n_labels;
        promstore_sample s;

        if (promstore_series_iter_labels_v2(it, &labels, &n_labels, &err) != PROMSTORE_OK) {
            report("promstore_series_iter_labels_v2", &err);
            goto fail;
        }
        print_labels(labels, n_labels);
        while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK)
            printf("  %" PRId64 "  %g\n", s.timestamp_ms, from_bits(s.value_bits));
        if (st != PROMSTORE_DONE) {
            report("promstore_series_iter_sample", &err);
            goto fail;
        }
    }
    if (st != PROMSTORE_DONE) {
        report("promstore_series_iter_next", &err);
        goto fail;
    }
    promstore_series_iter_close(it);
    return 0;
fail:
    promstore_series_iter_close(it);
    return -1;
}

static int print_stats(promstore *db) {
    promstore_error err;
    promstore_stats stats;

    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    if (promstore_stats_get(db, &stats, &err) != PROMSTORE_OK) {
        report("promstore_stats_get", &err);
        return -1;
    }
    printf("stats: backend=%s series=%" PRIu64 " samples=%" PRIu64
           " chunks=%" PRIu64 " blocks=%" PRIu64 " bytes_on_disk=%" PRIu64
           " file_bytes=%" PRIu64 " time=[%" PRId64 ", %" PRId64 "]\n",
           stats.backend, stats.series, stats.samples, stats.chunks, stats.blocks,
           stats.bytes_on_disk, stats.file_bytes, stats.min_time_ms, stats.max_time_ms);
    return 0;
}

int main(int argc, char **argv) {
    promstore_options opts;
    promstore_error err;
    promstore *db = NULL;
    int rc = 1;

    promstore_options_init(&opts);
    opts.path = argc > 1 ? argv[1] : "./data";
    if (argc > 2)
        opts.backend = argv[2];
    printf("promstore %s, store at %s\n", promstore_version(), opts.path);
    if (promstore_open(&opts, &db, &err) != PROMSTORE_OK) {
        report("promstore_open", &err);
        return 1;
    }

    /* Three series, N_SAMPLES samples each, 15 s apart (Prometheus's default
     * scrape interval), starting at 2023-11-14T22:13:20Z. */
    const promstore_label api_ok[] = {LABEL("__name__", "http_requests_total"),
                                      LABEL("job", "api"), LABEL("code", "200")};
    const promstore_label api_err[] = {LABEL("__name__", "http_requests_total"),
                                       LABEL("job", "api"), LABEL("code", "500")};
    const promstore_label load[] = {LABEL("__name__", "node_load1"),
                                    LABEL("job", "node"), LABEL("instance", "host1:9100")};
    promstore_sample ok_samples[N_SAMPLES], err_samples[N_SAMPLES], load_samples[N_SAMPLES];
    const int64_t t0 = INT64_C(1700000000000);
    for (int i = 0; i < N_SAMPLES; i++) {
        int64_t t = t0 + i * INT64_C(15000);
        ok_samples[i] = (promstore_sample){t, to_bits(100.0 + 10 * i)};
        err_samples[i] = (promstore_sample){t, to_bits(i < 2 ? 0.0 : 1.0)};
        load_samples[i] = (promstore_sample){t, to_bits(0.25 * (i + 1))};
    }
    const promstore_series batch[] = {
        {api_ok, 3, ok_samples, N_SAMPLES},
        {api_err, 3, err_samples, N_SAMPLES},
        {load, 3, load_samples, N_SAMPLES},
    };

    promstore_append_result res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    if (promstore_append(db, batch, sizeof batch / sizeof batch[0], &res, &err) != PROMSTORE_OK) {
        report("promstore_append", &err);
        goto out;
    }
    printf("append: appended=%" PRIu64 " duplicate=%" PRIu64 " rejected=%" PRIu64
           " series_created=%" PRIu64 "\n",
           res.samples_appended, res.samples_duplicate, res.samples_rejected,
           res.series_created);

    printf("query: {__name__=~\".+\"}\n");
    if (query_all(db) != 0 || print_stats(db) != 0)
        goto out;
    rc = 0;
out:
    if (promstore_close(db, &err) != PROMSTORE_OK) {
        report("promstore_close", &err);
        rc = 1;
    }
    return rc;
}
