/*
 * metrics.c -- counters and histograms for /metrics. Every value is a relaxed
 * atomic: the request path never takes a lock, and a scrape reads a view that
 * is consistent per value (which is all the text format promises anyway).
 * Status codes 100..599 get one slot each, so no code is ever lost or merged.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_limit.h"

#define CODE_MIN 100
#define CODE_MAX 599

/* Request-duration buckets in seconds: Prometheus's web defaults plus long reads. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,  5,     10,   30,  60,  120};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

enum reject_reason {
    REJECT_INVALID,
    REJECT_OUT_OF_ORDER,
    REJECT_DUPLICATE,
    REJECT_STORAGE,
    REJECT_COUNT
};
static const char *const reject_names[] = {"invalid", "out_of_order", "duplicate_timestamp",
                                           "storage"};
static const char *const limit_names[] = {"request_bytes", "read_concurrency", "query",
                                          "write_busy", "storage_full", "read_timeout",
                                          "connections", "body_bytes_in_flight",
                                          "body_rate", "read_work", "read_deadline",
                                          "write_timeout"};
_Static_assert(sizeof limit_names / sizeof limit_names[0] == SRV_LIMIT_COUNT,
               "one name per enum srv_limit");

static struct {
    atomic_uint_fast64_t requests[SRV_ROUTE_COUNT][CODE_MAX - CODE_MIN + 1];
    atomic_uint_fast64_t bucket[SRV_ROUTE_COUNT][N_BUCKETS]; /* non-cumulative */
    atomic_uint_fast64_t count[SRV_ROUTE_COUNT];
    atomic_uint_fast64_t sum_ns[SRV_ROUTE_COUNT];
    atomic_uint_fast64_t samples, histograms, exemplars;
    atomic_uint_fast64_t rejected[REJECT_COUNT];
    atomic_uint_fast64_t dropped_exemplars, dropped_histograms, dropped_metadata;
    atomic_uint_fast64_t limits[SRV_LIMIT_COUNT];
    atomic_int reads_open;
} m;

static void add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void srv_metrics_request(enum srv_route route, int code, double seconds)
{
    if ((unsigned)route >= SRV_ROUTE_COUNT)
        route = SRV_ROUTE_OTHER;
    if (code >= CODE_MIN && code <= CODE_MAX)
        add(&m.requests[route][code - CODE_MIN], 1);
    if (seconds < 0)
        seconds = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (seconds <= buckets[i]) {
            add(&m.bucket[route][i], 1);
            break;
        }
    }
    add(&m.count[route], 1);
    add(&m.sum_ns[route], (uint64_t)(seconds * 1e9));
}

/*
 * Which reason a write's rejected samples are counted under. The response
 * names only the first rejection, so a batch with rejections of two kinds is
 * counted under the first kind: the library's append result has no split.
 */
static enum reject_reason reject_reason(const promstore_http_response *r)
{
    if (strcasestr(r->message, "duplicate timestamp"))
        return REJECT_DUPLICATE;
    if (strcasestr(r->message, "out-of-order") || strcasestr(r->message, "out of order"))
        return REJECT_OUT_OF_ORDER;
    if (r->status >= 500)
        return REJECT_STORAGE;
    if (r->status >= 400)
        return REJECT_INVALID;
    /* A 2xx with rejections: the library stored the rest of an out-of-order batch. */
    return REJECT_OUT_OF_ORDER;
}

void srv_metrics_write(const promstore_http_response *r)
{
    add(&m.samples, r->samples_written);
    add(&m.histograms, r->histograms_written);
    add(&m.exemplars, r->exemplars_written);
    if (r->samples_rejected)
        add(&m.rejected[reject_reason(r)], r->samples_rejected);
    add(&m.dropped_exemplars, r->exemplars_dropped);
    add(&m.dropped_histograms, r->histograms_dropped);
    add(&m.dropped_metadata, r->metadata_dropped);
}

void srv_metrics_limit(enum srv_limit limit)
{
    if ((unsigned)limit < SRV_LIMIT_COUNT)
        add(&m.limits[limit], 1);
}

void srv_metrics_status(enum srv_route route, int code, const char *message)
{
    if (code == 413)
        srv_metrics_limit(SRV_LIMIT_REQUEST_BYTES);
    else if (code == 503)
        srv_metrics_limit(route == SRV_ROUTE_READ ? SRV_LIMIT_READ_CONCURRENCY
                                                  : SRV_LIMIT_WRITE_BUSY);
    else if (code == 507)
        srv_metrics_limit(SRV_LIMIT_STORAGE_FULL);
    else if (route == SRV_ROUTE_READ && code >= 400 && code < 500 && message &&
             (strstr(message, "_per_query") || strstr(message, "_per_read") ||
              strstr(message, "read_deadline_ms") || strcasestr(message, "limit")))
        srv_metrics_read_limit(message);
}

void srv_metrics_read_limit(const char *message)
{
    if (message && strstr(message, "(max_work_per_read)"))
        srv_metrics_limit(SRV_LIMIT_READ_WORK);
    else if (message && strstr(message, "(read_deadline_ms)"))
        srv_metrics_limit(SRV_LIMIT_READ_DEADLINE);
    else
        srv_metrics_limit(SRV_LIMIT_QUERY);
}

void srv_metrics_reads_open(int delta)
{
    atomic_fetch_add_explicit(&m.reads_open, delta, memory_order_relaxed);
}

/* --- Exposition ----------------------------------------------------------- */

/* An append-only text buffer that remembers a failed allocation. */
struct text {
    char *buf;
    size_t len, cap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static void out(struct text *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *p = realloc(t->buf, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->buf = p;
        t->cap = cap;
    }
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
    out(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
    header(t, name, "counter", help);
    out(t, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct text *t, const char *name, const char *help, double v)
{
    header(t, name, "gauge", help);
    out(t, "%s %.17g\n", name, v);
}

static void render_http(struct text *t)
{
    header(t, "promstore_http_requests_total", "counter",
           "HTTP requests answered, by handler and status code.");
    for (int r = 0; r < SRV_ROUTE_COUNT; r++)
        for (int c = CODE_MIN; c <= CODE_MAX; c++) {
            uint64_t v = get(&m.requests[r][c - CODE_MIN]);
            if (v)
                out(t, "promstore_http_requests_total{handler=\"%s\",code=\"%d\"} %llu\n",
                    srv_route_name((enum srv_route)r), c, (unsigned long long)v);
        }
    header(t, "promstore_http_request_duration_seconds", "histogram",
           "Time from the request's headers to the end of its response.");
    for (int r = 0; r < SRV_ROUTE_COUNT; r++) {
        const char *h = srv_route_name((enum srv_route)r);
        uint64_t cum = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
            cum += get(&m.bucket[r][i]);
            out(t, "promstore_http_request_duration_seconds_bucket{handler=\"%s\",le=\"%g\"} %llu\n",
                h, buckets[i], (unsigned long long)cum);
        }
        uint64_t count = get(&m.count[r]);
        out(t, "promstore_http_request_duration_seconds_bucket{handler=\"%s\",le=\"+Inf\"} %llu\n",
            h, (unsigned long long)count);
        out(t, "promstore_http_request_duration_seconds_sum{handler=\"%s\"} %.9f\n", h,
            (double)get(&m.sum_ns[r]) / 1e9);
        out(t, "promstore_http_request_duration_seconds_count{handler=\"%s\"} %llu\n", h,
            (unsigned long long)count);
    }
}

static void render_suppressed(void *ctx, const char *handler, const char *cause, uint64_t n)
{
    out(ctx, "promstore_log_lines_suppressed_total{handler=\"%s\",cause=\"%s\"} %llu\n",
        handler, cause, (unsigned long long)n);
}

static void render_write(struct text *t)
{
    counter(t, "promstore_samples_appended_total", "Samples stored by remote write.",
            get(&m.samples));
    counter(t, "promstore_histograms_appended_total", "Native histograms stored by remote write.",
            get(&m.histograms));
    counter(t, "promstore_exemplars_appended_total", "Exemplars stored by remote write.",
            get(&m.exemplars));
    header(t, "promstore_samples_rejected_total", "counter",
           "Samples refused by remote write, by reason.");
    for (int i = 0; i < REJECT_COUNT; i++)
        out(t, "promstore_samples_rejected_total{reason=\"%s\"} %llu\n", reject_names[i],
            (unsigned long long)get(&m.rejected[i]));
    header(t, "promstore_remote_write_dropped_total", "counter",
           "Items received by remote write that this version does not store, by kind.");
    out(t, "promstore_remote_write_dropped_total{kind=\"exemplars\"} %llu\n",
        (unsigned long long)get(&m.dropped_exemplars));
    out(t, "promstore_remote_write_dropped_total{kind=\"histograms\"} %llu\n",
        (unsigned long long)get(&m.dropped_histograms));
    out(t, "promstore_remote_write_dropped_total{kind=\"metadata\"} %llu\n",
        (unsigned long long)get(&m.dropped_metadata));
    header(t, "promstore_limit_hits_total", "counter",
           "Requests refused or cut short by a configured limit, by limit.");
    for (int i = 0; i < SRV_LIMIT_COUNT; i++)
        out(t, "promstore_limit_hits_total{limit=\"%s\"} %llu\n", limit_names[i],
            (unsigned long long)get(&m.limits[i]));
    header(t, "promstore_log_lines_suppressed_total", "counter",
           "Log lines of rejected requests not written (--log.rejected-lines), by handler "
           "and cause.");
    srv_log_limit_each(render_suppressed, t);
    gauge(t, "promstore_remote_reads_in_progress", "Remote-read responses being sent.",
          atomic_load_explicit(&m.reads_open, memory_order_relaxed));
}

static void render_store(struct text *t, promstore *db)
{
    promstore_stats st;
    promstore_error err;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    int ok = db != NULL && promstore_stats_get(db, &st, &err) == PROMSTORE_OK;
    gauge(t, "promstore_storage_stats_ok", "1 if the store's statistics could be read.", ok);
    if (!ok)
        return;
    gauge(t, "promstore_storage_bytes", "Bytes the store uses for live data.",
          (double)st.bytes_on_disk);
    gauge(t, "promstore_storage_file_bytes", "Size of the store's files, free pages included.",
          (double)st.file_bytes);
    gauge(t, "promstore_series", "Series in the store.", (double)st.series);
    gauge(t, "promstore_samples", "Samples in the store.", (double)st.samples);
    gauge(t, "promstore_chunks", "Chunks in the store.", (double)st.chunks);
    gauge(t, "promstore_blocks", "Time blocks in the store.", (double)st.blocks);
    gauge(t, "promstore_oldest_timestamp_seconds", "Oldest sample's timestamp (0 when empty).",
          (double)st.min_time_ms / 1000.0);
    gauge(t, "promstore_newest_timestamp_seconds", "Newest sample's timestamp (0 when empty).",
          (double)st.max_time_ms / 1000.0);
    counter(t, "promstore_retention_runs_total",
            "Retention passes of the store's maintenance thread.", st.retention_runs);
    counter(t, "promstore_retention_errors_total",
            "Retention passes that failed (each is logged).", st.retention_errors);
    header(t, "promstore_retention_dropped_total", "counter",
           "What retention removed, by kind.");
    out(t, "promstore_retention_dropped_total{kind=\"blocks\"} %llu\n",
        (unsigned long long)st.retention_blocks_dropped);
    out(t, "promstore_retention_dropped_total{kind=\"series\"} %llu\n",
        (unsigned long long)st.retention_series_dropped);
    out(t, "promstore_retention_dropped_total{kind=\"samples\"} %llu\n",
        (unsigned long long)st.retention_samples_dropped);
}

char *srv_metrics_render(promstore *db, size_t *len)
{
    struct text t = {.buf = NULL, .len = 0, .cap = 0, .failed = 0};
    t.buf = malloc(16384);
    if (t.buf == NULL)
        return NULL;
    t.cap = 16384;
    header(&t, "promstore_build_info", "gauge", "Always 1; labelled with the library version.");
    out(&t, "promstore_build_info{version=\"%s\"} 1\n", promstore_version());
    render_http(&t);
    render_write(&t);
    render_store(&t, db);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    *len = t.len;
    return t.buf;
}
