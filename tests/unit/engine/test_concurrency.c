/*
 * test_concurrency.c -- the THREADS promises of promstore.h, through the public
 * ABI only, run once per backend (argv[1] is "lmdb" or "sqlite").
 *
 * Covers:
 *   - appenders and queriers at once: 4 appender threads, each with its own
 *     series (some created along the way), and 4 query threads. Every query
 *     result is sorted and strictly increasing in time, and is a consistent
 *     snapshot: an appender writes every series of its set at the same
 *     timestamps in ONE batch, so any query sees, for each appender, the same
 *     prefix of batches on every one of its series (two series written
 *     together are seen both or neither), and what one query thread sees never
 *     goes backwards. Afterwards every appended sample is there exactly once.
 *   - a long-running query (an iterator kept open and advanced slowly) does not
 *     block appends: another thread finishes 50 batches before a generous
 *     deadline, and the iterator still sees only its snapshot.
 *   - iterators used from threads other than the one that created it,
 *     including after that thread has exited, and handed back and forth
 *     between two live threads.
 *   - label_names / label_values running while appends create new label names
 *     and values: always sorted and distinct, never shrinking.
 *
 * cmocka assertions are not thread-safe, so worker threads record the first
 * failure in a shared slot and the main thread asserts on it. Every loop is
 * bounded in iterations and by a deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "promstore.h"

#define T0 INT64_C(1700006400000)
#define DEADLINE_S 30.0

/* --- failure reporting from worker threads ---------------------------------- */

static pthread_mutex_t g_fail_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_failures;
static char g_fail_msg[1024];

static void thread_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void thread_fail(const char *fmt, ...)
{
    pthread_mutex_lock(&g_fail_mu);
    if (atomic_fetch_add(&g_failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_fail_msg, sizeof g_fail_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&g_fail_mu);
}

static void reset_failures(void)
{
    atomic_store(&g_failures, 0);
    g_fail_msg[0] = '\0';
}

static void assert_no_thread_failures(void)
{
    if (atomic_load(&g_failures) != 0)
        fail_msg("%d failure(s) in threads, first: %s", atomic_load(&g_failures), g_fail_msg);
}

/* --- small helpers ---------------------------------------------------------- */

/* The value of a sample: a function of its series' two identifying labels and its time. */
static uint64_t value_for(const char *a, size_t alen, const char *b, size_t blen, int64_t ts)
{
    uint64_t h = tu_fnv1a(b, blen, tu_fnv1a(a, alen, TU_FNV_OFFSET));
    return tu_bits((double)(tu_mix64(h ^ (uint64_t)ts) >> 11));
}

/*
 * A copy of one label set, kept to check that the next series of a query
 * sorts after it (tu_labels_compare: Prometheus labels.Compare).
 */
typedef struct saved_labels {
    size_t n;
    promstore_label l[16];
    char buf[512];
} saved_labels;

static int labels_save(saved_labels *s, const promstore_label *ls, size_t n)
{
    size_t used = 0;
    if (n > 16)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (used + ls[i].name_len + ls[i].value_len > sizeof s->buf)
            return -1;
        memcpy(s->buf + used, ls[i].name, ls[i].name_len);
        s->l[i].name = s->buf + used;
        s->l[i].name_len = ls[i].name_len;
        used += ls[i].name_len;
        memcpy(s->buf + used, ls[i].value, ls[i].value_len);
        s->l[i].value = s->buf + used;
        s->l[i].value_len = ls[i].value_len;
        used += ls[i].value_len;
    }
    s->n = n;
    return 0;
}

/* --- fixture ---------------------------------------------------------------- */

/* A store with small blocks, so that chunks are sealed during the run. */
static int setup(void **state)
{
    tu_store *f = tu_store_new("conc");
    f->opts.block_duration_ms = 10 * 60 * 1000;
    tu_store_open(f);
    reset_failures();
    *state = f;
    return 0;
}

/* =========================================================================
 * 1. Appenders and queriers at once, with a snapshot check.
 *
 * Appender t owns the series {__name__="conc", thread="tT", series=S}:
 *   S = "s0".."s7" and the pair "pa"/"pb", from batch 0;
 *   S = "n01", "n02", ...: series "nC" is created by batch C*NEW_EVERY.
 * Batch b writes, in one promstore_append(), two samples (at ts(b) and
 * ts(b)+HALF) to every series of the set that exists by then.
 * So a consistent snapshot shows every series of appender t with exactly the
 * batches [its first batch, E) for a single E, and every "nC" with C*NEW_EVERY < E.
 * ========================================================================= */

#define N_APPENDERS 4
#define N_QUERIERS 4
#define N_BATCHES 1000
#define N_FIXED 8
#define NEW_EVERY 20
#define BATCH_STEP INT64_C(1000)
#define HALF INT64_C(500)
#define MAX_QUERIES 3000

static int64_t batch_ts(int b)
{
    return T0 + (int64_t)b * BATCH_STEP;
}

typedef struct conc_ctx {
    promstore *db;
    atomic_int appenders_done;
} conc_ctx;

typedef struct appender_arg {
    conc_ctx *ctx;
    int t;
} appender_arg;

static void *appender_main(void *p)
{
    appender_arg *a = p;
    char thread_name[16];
    snprintf(thread_name, sizeof thread_name, "t%d", a->t);
    enum { MAX_SER = N_FIXED + 2 + N_BATCHES / NEW_EVERY + 1 };
    char names[MAX_SER][8];
    promstore_label labels[MAX_SER][3];
    promstore_sample samples[MAX_SER][2];
    promstore_series ser[MAX_SER];
    for (int b = 0; b < N_BATCHES; b++) {
        int n = 0;
        for (int i = 0; i < N_FIXED; i++)
            snprintf(names[n++], sizeof names[0], "s%d", i);
        snprintf(names[n++], sizeof names[0], "pa");
        snprintf(names[n++], sizeof names[0], "pb");
        for (int c = 1; c * NEW_EVERY <= b; c++)
            snprintf(names[n++], sizeof names[0], "n%02d", c);
        for (int i = 0; i < n; i++) {
            /* labels deliberately out of order: the engine sorts them */
            labels[i][0] = tu_label("series", names[i]);
            labels[i][1] = tu_label("thread", thread_name);
            labels[i][2] = tu_label("__name__", "conc");
            for (int k = 0; k < 2; k++) {
                int64_t ts = batch_ts(b) + k * HALF;
                samples[i][k].timestamp_ms = ts;
                samples[i][k].value_bits =
                    value_for(thread_name, strlen(thread_name), names[i], strlen(names[i]), ts);
            }
            ser[i].labels = labels[i];
            ser[i].n_labels = 3;
            ser[i].samples = samples[i];
            ser[i].n_samples = 2;
        }
        promstore_append_result res;
        memset(&res, 0, sizeof res);
        res.struct_size = sizeof res;
        promstore_error err = {0};
        promstore_status st = promstore_append(a->ctx->db, ser, (size_t)n, &res, &err);
        if (st != PROMSTORE_OK) {
            thread_fail("appender %d batch %d: %d %s", a->t, b, st, err.message);
            break;
        }
        if (res.samples_appended != (uint64_t)(2 * n))
            thread_fail("appender %d batch %d: appended %llu, expected %d", a->t, b,
                        (unsigned long long)res.samples_appended, 2 * n);
    }
    atomic_fetch_add(&a->ctx->appenders_done, 1);
    return NULL;
}

/* First batch of a series of the set, from its name. */
static int series_first_batch(const char *s, size_t len)
{
    if (len == 3 && s[0] == 'n')
        return ((s[1] - '0') * 10 + (s[2] - '0')) * NEW_EVERY;
    return 0;
}

/*
 * Check one query over the series of appender t (all of them when `which` is
 * NULL, only those matching series=~which otherwise). Returns the number of
 * batches E the snapshot shows, or -1 after recording a failure.
 */
static int check_appender_view(promstore *db, int t, const char *which, int64_t mint,
                               int64_t maxt)
{
    char thread_name[16];
    snprintf(thread_name, sizeof thread_name, "t%d", t);
    promstore_matcher m[3];
    size_t nm = 0;
    m[nm++] = MT(PROMSTORE_MATCH_EQ, "__name__", "conc");
    m[nm++] = MT(PROMSTORE_MATCH_EQ, "thread", thread_name);
    if (which != NULL)
        m[nm++] = MT(PROMSTORE_MATCH_RE, "series", which);
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    promstore_status st = promstore_query(db, m, nm, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK) {
        thread_fail("query t%d: %d %s", t, st, err.message);
        return -1;
    }
    int E = -1, n_series = 0, n_new = 0, ok = 1;
    saved_labels prev;
    prev.n = 0;
    while (ok && (st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *ls;
        size_t nl;
        if (promstore_series_iter_labels(it, &ls, &nl) != PROMSTORE_OK || nl != 3 ||
            !tu_labels_sorted(ls, nl)) {
            thread_fail("t%d: bad labels (n=%zu)", t, nl);
            ok = 0;
            break;
        }
        if (n_series > 0 && tu_labels_compare(prev.l, prev.n, ls, nl) >= 0) {
            thread_fail("t%d: series out of order", t);
            ok = 0;
            break;
        }
        labels_save(&prev, ls, nl);
        const promstore_label *sl = tu_find_label(ls, nl, "series");
        if (sl == NULL) {
            thread_fail("t%d: no series label", t);
            ok = 0;
            break;
        }
        int first = series_first_batch(sl->value, sl->value_len);
        if (first > 0)
            n_new++;
        n_series++;
        /* the samples must be exactly batches [first, E') within [mint, maxt] */
        int64_t expect = batch_ts(first);
        while (expect < mint)
            expect += HALF;
        promstore_sample s;
        int count = 0;
        while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK) {
            if (s.timestamp_ms != expect ||
                s.value_bits != value_for(thread_name, strlen(thread_name), sl->value,
                                          sl->value_len, s.timestamp_ms)) {
                thread_fail("t%d %.*s: sample %lld (bits %016llx), expected ts %lld", t,
                            (int)sl->value_len, sl->value, (long long)s.timestamp_ms,
                            (unsigned long long)s.value_bits, (long long)expect);
                ok = 0;
                break;
            }
            expect += HALF;
            count++;
        }
        if (ok && st != PROMSTORE_DONE) {
            thread_fail("t%d: iter_sample %d %s", t, st, err.message);
            ok = 0;
        }
        if (!ok)
            break;
        if (count == 0) {
            thread_fail("t%d %.*s: selected without samples in range", t, (int)sl->value_len,
                        sl->value);
            ok = 0;
            break;
        }
        /* every query here covers whole batches, so a series' last sample is
         * the second of a batch; anything else is half a batch */
        int64_t last = expect - HALF;
        if ((last - T0) % BATCH_STEP != HALF) {
            thread_fail("t%d %.*s: half a batch (last ts %lld)", t, (int)sl->value_len,
                        sl->value, (long long)last);
            ok = 0;
            break;
        }
        int e = (int)((last - T0) / BATCH_STEP) + 1;
        if (E < 0)
            E = e;
        else if (E != e) {
            thread_fail("t%d: torn snapshot: series %.*s shows %d batches, another %d", t,
                        (int)sl->value_len, sl->value, e, E);
            ok = 0;
        }
    }
    if (ok && st != PROMSTORE_DONE) {
        thread_fail("t%d: iter_next %d %s", t, st, err.message);
        ok = 0;
    }
    promstore_series_iter_close(it);
    if (!ok)
        return -1;
    if (E < 0)
        return 0; /* nothing yet */
    /* with the full set and full range, every series of the set exists */
    if (which == NULL && mint == INT64_MIN && maxt == INT64_MAX) {
        int want_new = (E - 1) / NEW_EVERY;
        if (n_new != want_new || n_series != N_FIXED + 2 + want_new) {
            thread_fail("t%d: snapshot of %d batches shows %d series (%d new), expected %d (%d)",
                        t, E, n_series, n_new, N_FIXED + 2 + want_new, want_new);
            return -1;
        }
    }
    if (which != NULL && strcmp(which, "p.") == 0 && n_series != 2) {
        thread_fail("t%d: pair query saw %d of the 2 series written together", t, n_series);
        return -1;
    }
    return E;
}

/* A whole-store query in a time window: sorted series, increasing samples in range. */
static void check_window(promstore *db, int64_t mint, int64_t maxt)
{
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    promstore_status st = promstore_query(db, NULL, 0, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK) {
        thread_fail("window query: %d %s", st, err.message);
        return;
    }
    saved_labels prev;
    int n = 0, ok = 1;
    while (ok && (st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *ls;
        size_t nl;
        if (promstore_series_iter_labels(it, &ls, &nl) != PROMSTORE_OK ||
            !tu_labels_sorted(ls, nl) ||
            (n++ > 0 && tu_labels_compare(prev.l, prev.n, ls, nl) >= 0)) {
            thread_fail("window query: labels unsorted or series out of order");
            break;
        }
        labels_save(&prev, ls, nl);
        promstore_sample s;
        int64_t last = INT64_MIN;
        while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK) {
            if (s.timestamp_ms <= last || s.timestamp_ms < mint || s.timestamp_ms > maxt) {
                thread_fail("window query [%lld,%lld]: sample %lld after %lld", (long long)mint,
                            (long long)maxt, (long long)s.timestamp_ms, (long long)last);
                ok = 0;
                break;
            }
            last = s.timestamp_ms;
        }
        if (ok && st != PROMSTORE_DONE) {
            thread_fail("window query: sample %d %s", st, err.message);
            ok = 0;
        }
        if (ok && last == INT64_MIN) {
            thread_fail("window query: a series without samples in range");
            ok = 0;
        }
    }
    if (ok && st != PROMSTORE_DONE)
        thread_fail("window query: next %d %s", st, err.message);
    promstore_series_iter_close(it);
}

typedef struct querier_arg {
    conc_ctx *ctx;
    unsigned seed;
    int queries;
} querier_arg;

static void *querier_main(void *p)
{
    querier_arg *q = p;
    int seen[N_APPENDERS] = {0}; /* batches seen per appender: never goes back */
    double deadline = tu_now_s() + DEADLINE_S;
    int last_round = 0;
    for (int i = 0; i < MAX_QUERIES && atomic_load(&g_failures) == 0; i++) {
        /* one more full pass once the appenders are done, then stop */
        if (atomic_load(&q->ctx->appenders_done) == N_APPENDERS) {
            if (last_round++ > 0)
                break;
        }
        if (tu_now_s() > deadline)
            break;
        int t = (int)(rand_r(&q->seed) % N_APPENDERS);
        int kind = (int)(rand_r(&q->seed) % 4);
        int e;
        if (kind == 0 || kind == 1) {
            e = check_appender_view(q->ctx->db, t, kind == 0 ? NULL : "p.", INT64_MIN, INT64_MAX);
            if (e >= 0) {
                if (e < seen[t])
                    thread_fail("t%d: a later query saw %d batches, an earlier one %d", t, e,
                                seen[t]);
                seen[t] = e;
            }
        } else if (kind == 2) {
            int b0 = (int)(rand_r(&q->seed) % N_BATCHES);
            int b1 = b0 + (int)(rand_r(&q->seed) % 30);
            /* windows on whole batches, so the snapshot check still applies */
            check_appender_view(q->ctx->db, t, NULL, batch_ts(b0), batch_ts(b1) + HALF);
        } else {
            int64_t a = batch_ts((int)(rand_r(&q->seed) % N_BATCHES)) + rand_r(&q->seed) % 777;
            check_window(q->ctx->db, a, a + (int64_t)(rand_r(&q->seed) % 20000));
        }
        q->queries++;
    }
    return NULL;
}

static void test_appenders_and_queriers(void **state)
{
    tu_store *f = *state;
    conc_ctx ctx = {.db = f->db};
    atomic_init(&ctx.appenders_done, 0);
    pthread_t at[N_APPENDERS], qt[N_QUERIERS];
    appender_arg aa[N_APPENDERS];
    querier_arg qa[N_QUERIERS];
    unsigned seed = (unsigned)time(NULL);
    print_message("seed %u\n", seed);
    for (int i = 0; i < N_QUERIERS; i++) {
        qa[i] = (querier_arg){&ctx, seed + (unsigned)i * 7919u, 0};
        assert_int_equal(pthread_create(&qt[i], NULL, querier_main, &qa[i]), 0);
    }
    for (int i = 0; i < N_APPENDERS; i++) {
        aa[i] = (appender_arg){&ctx, i};
        assert_int_equal(pthread_create(&at[i], NULL, appender_main, &aa[i]), 0);
    }
    for (int i = 0; i < N_APPENDERS; i++)
        pthread_join(at[i], NULL);
    int total_queries = 0;
    for (int i = 0; i < N_QUERIERS; i++) {
        pthread_join(qt[i], NULL);
        total_queries += qa[i].queries;
    }
    print_message("%d queries ran during the appends\n", total_queries);
    assert_no_thread_failures();
    assert_true(total_queries >= N_QUERIERS);

    /* Afterwards: every sample of every batch, exactly once (the view check
     * requires consecutive timestamps, so no gap and no duplicate). */
    for (int t = 0; t < N_APPENDERS; t++)
        assert_int_equal(check_appender_view(f->db, t, NULL, INT64_MIN, INT64_MAX), N_BATCHES);
    assert_no_thread_failures();
    int per_appender_series = N_FIXED + 2 + (N_BATCHES - 1) / NEW_EVERY;
    uint64_t per_appender_samples = (uint64_t)(N_FIXED + 2) * N_BATCHES * 2;
    for (int c = 1; c * NEW_EVERY < N_BATCHES; c++)
        per_appender_samples += (uint64_t)(N_BATCHES - c * NEW_EVERY) * 2;
    promstore_stats s = tu_stats(f->db);
    assert_int_equal(s.series, (uint64_t)N_APPENDERS * per_appender_series);
    assert_int_equal(s.samples, N_APPENDERS * per_appender_samples);
    assert_int_equal(s.min_time_ms, T0);
    assert_int_equal(s.max_time_ms, batch_ts(N_BATCHES - 1) + HALF);
}

/* =========================================================================
 * 2. A long-running query does not block appends.
 * ========================================================================= */

#define LR_SERIES 1000
#define LR_SAMPLES 10
#define LR_BATCHES 50
#define LR_TOUCH 100 /* existing series each batch appends to */

static void lr_series_name(char *buf, size_t n, int i)
{
    snprintf(buf, n, "x%04d", i);
}

/* One batch: one sample to LR_TOUCH existing series, plus 2 new series. */
static promstore_status lr_append(promstore *db, int batch, promstore_error *err)
{
    promstore_label labels[LR_TOUCH + 2][2];
    char names[LR_TOUCH + 2][32];
    promstore_sample samples[LR_TOUCH + 2];
    promstore_series ser[LR_TOUCH + 2];
    for (int i = 0; i < LR_TOUCH + 2; i++) {
        if (i < LR_TOUCH)
            lr_series_name(names[i], sizeof names[i], (batch * LR_TOUCH + i) % LR_SERIES);
        else
            snprintf(names[i], sizeof names[i], "new%03d_%d", batch, i - LR_TOUCH);
        labels[i][0] = tu_label("__name__", "lr");
        labels[i][1] = tu_label("id", names[i]);
        /* after the prepopulated samples; one batch per 10 s keeps each series in order */
        samples[i].timestamp_ms = T0 + (LR_SAMPLES + batch) * INT64_C(10000);
        samples[i].value_bits = tu_bits((double)batch);
        ser[i] = (promstore_series){labels[i], 2, &samples[i], 1};
    }
    return promstore_append(db, ser, LR_TOUCH + 2, NULL, err);
}

typedef struct lr_ctx {
    promstore *db;
    atomic_int batches_done;
    atomic_int finished;
} lr_ctx;

static void *lr_appender(void *p)
{
    lr_ctx *c = p;
    for (int b = 0; b < LR_BATCHES; b++) {
        promstore_error err = {0};
        promstore_status st = lr_append(c->db, b, &err);
        if (st != PROMSTORE_OK) {
            thread_fail("lr batch %d: %d %s", b, st, err.message);
            break;
        }
        atomic_fetch_add(&c->batches_done, 1);
    }
    atomic_store(&c->finished, 1);
    return NULL;
}

/* Read the current series' samples; returns their count, -1 on error. */
static int count_samples(promstore_series_iter *it)
{
    promstore_sample s;
    promstore_error err = {0};
    promstore_status st;
    int n = 0;
    while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK)
        n++;
    return st == PROMSTORE_DONE ? n : -1;
}

static void test_long_query_does_not_block_appends(void **state)
{
    tu_store *f = *state;
    /* prepopulate LR_SERIES series with LR_SAMPLES samples each, in one batch */
    {
        promstore_label(*labels)[2] = calloc(LR_SERIES, sizeof *labels);
        char(*names)[16] = calloc(LR_SERIES, sizeof *names);
        promstore_sample(*samples)[LR_SAMPLES] = calloc(LR_SERIES, sizeof *samples);
        promstore_series *ser = calloc(LR_SERIES, sizeof *ser);
        assert_true(labels && names && samples && ser);
        for (int i = 0; i < LR_SERIES; i++) {
            lr_series_name(names[i], sizeof names[i], i);
            labels[i][0] = tu_label("__name__", "lr");
            labels[i][1] = tu_label("id", names[i]);
            for (int k = 0; k < LR_SAMPLES; k++)
                samples[i][k] = (promstore_sample){T0 + k * INT64_C(10000), tu_bits(k)};
            ser[i] = (promstore_series){labels[i], 2, samples[i], LR_SAMPLES};
        }
        promstore_error err = {0};
        assert_int_equal(promstore_append(f->db, ser, LR_SERIES, NULL, &err), PROMSTORE_OK);
        free(labels);
        free(names);
        free(samples);
        free(ser);
    }

    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "lr");
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    assert_int_equal(promstore_query(f->db, &m, 1, INT64_MIN, INT64_MAX, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    assert_int_equal(count_samples(it), LR_SAMPLES);
    int series_read = 1, exhausted = 0;

    lr_ctx c = {.db = f->db};
    atomic_init(&c.batches_done, 0);
    atomic_init(&c.finished, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, lr_appender, &c), 0);

    /* Advance the iterator slowly while the appender runs, until it finishes
     * or the deadline passes; the iterator stays open throughout. */
    double start = tu_now_s(), deadline = start + DEADLINE_S;
    /* no assertions while the appender runs: a failed one would leave it
     * running against a store the teardown closes */
    while (!atomic_load(&c.finished) && tu_now_s() < deadline) {
        if (!exhausted) {
            promstore_status st = promstore_series_iter_next(it, &err);
            if (st == PROMSTORE_DONE) {
                exhausted = 1;
            } else if (st != PROMSTORE_OK || count_samples(it) != LR_SAMPLES) {
                thread_fail("slow iterator at series %d: %d %s", series_read, st, err.message);
                exhausted = 1;
            } else {
                series_read++;
            }
        }
        tu_sleep_ms(2);
    }
    int done = atomic_load(&c.batches_done);
    double took = tu_now_s() - start;
    print_message("appender finished %d/%d batches in %.3f s while the query was open "
                  "(%d series read so far)\n",
                  done, LR_BATCHES, took, series_read);
    if (!atomic_load(&c.finished)) {
        /* blocked: release the snapshot so the appender can end, then report */
        promstore_series_iter_close(it);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)DEADLINE_S;
        if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
            fprintf(stderr, "appender still blocked after the query was closed\n");
            _exit(1);
        }
        fail_msg("an open query blocked appends: %d of %d batches in %.0f s", done, LR_BATCHES,
                 DEADLINE_S);
    }
    pthread_join(th, NULL);
    assert_no_thread_failures();
    assert_int_equal(done, LR_BATCHES);

    /* The iterator still reads its snapshot: no new series, no new samples. */
    promstore_status st;
    while (!exhausted && (st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        assert_int_equal(count_samples(it), LR_SAMPLES);
        series_read++;
    }
    promstore_series_iter_close(it);
    assert_int_equal(series_read, LR_SERIES);

    /* A new query sees everything the appender wrote. */
    assert_int_equal(promstore_query(f->db, &m, 1, INT64_MIN, INT64_MAX, &it, &err), PROMSTORE_OK);
    int n_series = 0, n_samples = 0;
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        int k = count_samples(it);
        assert_true(k > 0);
        n_samples += k;
        n_series++;
    }
    assert_int_equal(st, PROMSTORE_DONE);
    promstore_series_iter_close(it);
    assert_int_equal(n_series, LR_SERIES + 2 * LR_BATCHES);
    assert_int_equal(n_samples, LR_SERIES * LR_SAMPLES + LR_BATCHES * (LR_TOUCH + 2));
}

/* =========================================================================
 * 3. Iterators used from threads other than the creator's.
 * ========================================================================= */

#define XT_SERIES 50
#define XT_SAMPLES 100

static void xt_populate(promstore *db)
{
    promstore_label labels[XT_SERIES][2];
    char names[XT_SERIES][8];
    static promstore_sample samples[XT_SERIES][XT_SAMPLES];
    promstore_series ser[XT_SERIES];
    for (int i = 0; i < XT_SERIES; i++) {
        snprintf(names[i], sizeof names[i], "k%02d", i);
        labels[i][0] = tu_label("__name__", "xt");
        labels[i][1] = tu_label("k", names[i]);
        for (int j = 0; j < XT_SAMPLES; j++)
            samples[i][j] = (promstore_sample){T0 + j * INT64_C(1000),
                                               value_for("xt", 2, names[i], 3, T0 + j * 1000)};
        ser[i] = (promstore_series){labels[i], 2, samples[i], XT_SAMPLES};
    }
    promstore_error err = {0};
    promstore_status st = promstore_append(db, ser, XT_SERIES, NULL, &err);
    if (st != PROMSTORE_OK)
        fail_msg("xt populate: %d %s", st, err.message);
}

/* State of a walk over the xt series, shared by whichever thread advances it. */
typedef struct xt_walk {
    promstore *db;
    promstore_series_iter *it;
    promstore_string_iter *sit; /* label values of "k", walked alongside (may be NULL) */
    int series_seen;            /* series fully checked: k00 .. k(series_seen-1) */
    int strings_seen;
    int done;  /* the series iterator said DONE, or failed */
    int steps; /* how many series the next leg advances */
} xt_walk;

/* Advance the walk by w->steps series (and as many strings), checking each. */
static void xt_advance(xt_walk *w)
{
    promstore_error err = {0};
    for (int i = 0; i < w->steps && !w->done; i++) {
        promstore_status st = promstore_series_iter_next(w->it, &err);
        if (st == PROMSTORE_DONE) {
            w->done = 1;
            break;
        }
        if (st != PROMSTORE_OK) {
            thread_fail("xt next: %d %s", st, err.message);
            w->done = 1;
            break;
        }
        const promstore_label *ls;
        size_t nl;
        char want[8];
        snprintf(want, sizeof want, "k%02d", w->series_seen);
        const promstore_label *k = NULL;
        if (promstore_series_iter_labels(w->it, &ls, &nl) == PROMSTORE_OK)
            k = tu_find_label(ls, nl, "k");
        if (k == NULL || tu_bytes_cmp(k->value, k->value_len, want, strlen(want)) != 0) {
            thread_fail("xt: series %d is not %s", w->series_seen, want);
            w->done = 1;
            break;
        }
        promstore_sample s;
        int j = 0;
        while ((st = promstore_series_iter_sample(w->it, &s, &err)) == PROMSTORE_OK) {
            int64_t ts = T0 + j * INT64_C(1000);
            if (s.timestamp_ms != ts || s.value_bits != value_for("xt", 2, want, 3, ts))
                thread_fail("xt %s: sample %d wrong", want, j);
            j++;
        }
        if (st != PROMSTORE_DONE || j != XT_SAMPLES)
            thread_fail("xt %s: %d samples (st %d)", want, j, st);
        w->series_seen++;
        if (w->sit != NULL) {
            const char *sv;
            size_t len;
            st = promstore_string_iter_next(w->sit, &sv, &len, &err);
            if (st == PROMSTORE_OK) {
                char wv[8];
                snprintf(wv, sizeof wv, "k%02d", w->strings_seen);
                if (tu_bytes_cmp(sv, len, wv, strlen(wv)) != 0 || sv[len] != '\0')
                    thread_fail("xt label value %d: got %.*s", w->strings_seen, (int)len, sv);
                w->strings_seen++;
            } else if (st != PROMSTORE_DONE) {
                thread_fail("xt string next: %d %s", st, err.message);
            }
        }
    }
}

/* A thread that creates both iterators, advances them a little, and exits. */
static void *xt_creator(void *p)
{
    xt_walk *w = p;
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "xt");
    promstore_error err = {0};
    if (promstore_query(w->db, &m, 1, INT64_MIN, INT64_MAX, &w->it, &err) != PROMSTORE_OK ||
        promstore_label_values(w->db, "k", 1, &m, 1, INT64_MIN, INT64_MAX, &w->sit, &err) !=
            PROMSTORE_OK) {
        thread_fail("xt creator: %s", err.message);
        w->done = 1;
        return NULL;
    }
    xt_advance(w);
    return NULL;
}

static void *xt_leg(void *p)
{
    xt_advance(p);
    return NULL;
}

/* Two live threads pass one iterator back and forth, one series each turn. */
typedef struct baton {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;     /* 0 or 1: whose go it is */
    int finished; /* the walk is over; set under mu */
    xt_walk *w;   /* touched only by the thread whose turn it is */
} baton;

typedef struct baton_arg {
    baton *b;
    int me;
} baton_arg;

static void *baton_main(void *p)
{
    baton_arg *a = p;
    baton *b = a->b;
    for (int i = 0; i < 2 * XT_SERIES; i++) {
        pthread_mutex_lock(&b->mu);
        while (b->turn != a->me && !b->finished)
            pthread_cond_wait(&b->cv, &b->mu);
        int finished = b->finished;
        pthread_mutex_unlock(&b->mu);
        if (finished)
            break;
        /* the iterator is used outside the lock, by one thread at a time */
        xt_advance(b->w);
        pthread_mutex_lock(&b->mu);
        b->finished = b->w->done;
        b->turn = 1 - a->me;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
    /* a thread out of turns must not leave the other waiting */
    pthread_mutex_lock(&b->mu);
    b->finished = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void test_iterators_cross_threads(void **state)
{
    tu_store *f = *state;
    xt_populate(f->db);

    /* Created in one thread, which then exits; continued in a second; finished
     * in the main thread, with an append in between that it must not see. */
    xt_walk w = {.db = f->db, .steps = 10};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, xt_creator, &w), 0);
    pthread_join(th, NULL);
    assert_no_thread_failures();
    assert_int_equal(w.series_seen, 10);

    /* a new series sorting after all others: the open iterators must not see it */
    promstore_label nl[2] = {tu_label("__name__", "xt"), tu_label("k", "k99")};
    promstore_sample ns = {T0, tu_bits(1.0)};
    promstore_series nser = {nl, 2, &ns, 1};
    promstore_error err = {0};
    assert_int_equal(promstore_append(f->db, &nser, 1, NULL, &err), PROMSTORE_OK);

    w.steps = 20;
    assert_int_equal(pthread_create(&th, NULL, xt_leg, &w), 0);
    pthread_join(th, NULL);
    assert_no_thread_failures();
    assert_int_equal(w.series_seen, 30);

    /* a second iterator on the main thread, interleaved with the first: two
     * snapshots alive on one thread at once */
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "xt");
    xt_walk w2 = {.db = f->db, .steps = 1};
    assert_int_equal(promstore_query(f->db, &m, 1, INT64_MIN, INT64_MAX, &w2.it, &err),
                     PROMSTORE_OK);
    w.steps = 1;
    for (int i = 0; i < 20; i++) {
        xt_advance(&w);
        xt_advance(&w2);
    }
    assert_no_thread_failures();
    assert_int_equal(w.series_seen, XT_SERIES);
    assert_int_equal(w2.series_seen, 20);
    xt_advance(&w);
    assert_true(w.done); /* k99 came after the snapshot: not seen */
    assert_int_equal(w.strings_seen, XT_SERIES);
    const char *sv;
    size_t len;
    assert_int_equal(promstore_string_iter_next(w.sit, &sv, &len, &err), PROMSTORE_DONE);
    promstore_series_iter_close(w.it);
    promstore_string_iter_close(w.sit);
    /* w2 began after the append: after k00..k49 it sees k99 */
    w2.steps = XT_SERIES - 20;
    xt_advance(&w2);
    assert_int_equal(w2.series_seen, XT_SERIES);
    assert_int_equal(promstore_series_iter_next(w2.it, &err), PROMSTORE_OK);
    const promstore_label *ls;
    size_t n_ls;
    assert_int_equal(promstore_series_iter_labels(w2.it, &ls, &n_ls), PROMSTORE_OK);
    const promstore_label *k = tu_find_label(ls, n_ls, "k");
    assert_non_null(k);
    assert_int_equal(tu_bytes_cmp(k->value, k->value_len, "k99", 3), 0);
    assert_int_equal(promstore_series_iter_next(w2.it, &err), PROMSTORE_DONE);
    promstore_series_iter_close(w2.it);
    assert_no_thread_failures();

    /* Two live threads handing one iterator back and forth. */
    promstore_matcher m2[2] = {m, MT(PROMSTORE_MATCH_NEQ, "k", "k99")};
    xt_walk w3 = {.db = f->db, .steps = 1};
    assert_int_equal(promstore_query(f->db, m2, 2, INT64_MIN, INT64_MAX, &w3.it, &err),
                     PROMSTORE_OK);
    baton b = {.turn = 0, .w = &w3};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    baton_arg ba[2] = {{&b, 0}, {&b, 1}};
    pthread_t bt[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&bt[i], NULL, baton_main, &ba[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(bt[i], NULL);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    promstore_series_iter_close(w3.it);
    assert_no_thread_failures();
    assert_int_equal(w3.series_seen, XT_SERIES);
    assert_true(w3.done);
}

/* =========================================================================
 * 4. label_names / label_values while appends create names and values.
 * ========================================================================= */

#define LB_BATCHES 150
#define LB_READERS 3

typedef struct lb_ctx {
    promstore *db;
    atomic_int batches_done;
    atomic_int finished;
} lb_ctx;

/* Batch b creates series {__name__="lb", v="vNNN", extra_NNN="x"} (b < LB_BATCHES). */
static void *lb_appender(void *p)
{
    lb_ctx *c = p;
    for (int b = 0; b < LB_BATCHES; b++) {
        char v[8], extra[16];
        snprintf(v, sizeof v, "v%03d", b);
        snprintf(extra, sizeof extra, "extra_%03d", b);
        promstore_label ls[3] = {tu_label("__name__", "lb"), tu_label("v", v),
                                 tu_label(extra, "x")};
        promstore_sample s = {T0 + b, tu_bits((double)b)};
        promstore_series ser = {ls, 3, &s, 1};
        promstore_error err = {0};
        promstore_status st = promstore_append(c->db, &ser, 1, NULL, &err);
        if (st != PROMSTORE_OK) {
            thread_fail("lb batch %d: %d %s", b, st, err.message);
            break;
        }
        atomic_fetch_add(&c->batches_done, 1);
    }
    atomic_store(&c->finished, 1);
    return NULL;
}

/*
 * Read a string iterator; check strictly increasing, non-empty, and, through
 * is_known, that each string belongs to the workload. Returns the count or -1.
 */
static int lb_read(promstore_string_iter *it, int values, int (*is_known)(const char *, size_t))
{
    char prev[64] = "";
    size_t prev_len = 0;
    int n = 0;
    const char *s;
    size_t len;
    promstore_error err = {0};
    promstore_status st;
    while ((st = promstore_string_iter_next(it, &s, &len, &err)) == PROMSTORE_OK) {
        if (len == 0 || len >= sizeof prev || s[len] != '\0') {
            thread_fail("lb: bad string (len %zu)", len);
            return -1;
        }
        if (n > 0 && tu_bytes_cmp(prev, prev_len, s, len) >= 0) {
            thread_fail("lb: %s not sorted/distinct: '%s' then '%.*s'", values ? "values" : "names",
                        prev, (int)len, s);
            return -1;
        }
        if (!is_known(s, len)) {
            thread_fail("lb: unexpected string '%.*s'", (int)len, s);
            return -1;
        }
        memcpy(prev, s, len);
        prev[len] = '\0';
        prev_len = len;
        n++;
    }
    if (st != PROMSTORE_DONE) {
        thread_fail("lb string next: %d %s", st, err.message);
        return -1;
    }
    return n;
}

static int lb_known_name(const char *s, size_t len)
{
    if (len == 8 && memcmp(s, "__name__", 8) == 0)
        return 1;
    if (len == 1 && s[0] == 'v')
        return 1;
    return len == 9 && memcmp(s, "extra_", 6) == 0 && atoi(s + 6) < LB_BATCHES;
}

static int lb_known_value(const char *s, size_t len)
{
    return len == 4 && s[0] == 'v' && atoi(s + 1) < LB_BATCHES;
}

typedef struct lb_reader_arg {
    lb_ctx *c;
    int calls;
} lb_reader_arg;

static void *lb_reader(void *p)
{
    lb_reader_arg *a = p;
    int last_names = 0, last_values = 0, last_filtered = 0;
    double deadline = tu_now_s() + DEADLINE_S;
    promstore_matcher m = MT(PROMSTORE_MATCH_RE, "v", "v0.*");
    for (int i = 0; i < 5000 && tu_now_s() < deadline && atomic_load(&g_failures) == 0; i++) {
        int finished = atomic_load(&a->c->finished);
        int before = atomic_load(&a->c->batches_done);
        promstore_string_iter *it = NULL;
        promstore_error err = {0};
        promstore_status st;
        int n;
        switch (i % 3) {
        case 0:
            st = promstore_label_names(a->c->db, NULL, 0, INT64_MIN, INT64_MAX, &it, &err);
            break;
        case 1:
            st = promstore_label_values(a->c->db, "v", 1, NULL, 0, INT64_MIN, INT64_MAX, &it, &err);
            break;
        default:
            st = promstore_label_values(a->c->db, "v", 1, &m, 1, INT64_MIN, INT64_MAX, &it, &err);
            break;
        }
        if (st != PROMSTORE_OK) {
            thread_fail("lb call %d: %d %s", i % 3, st, err.message);
            break;
        }
        n = lb_read(it, i % 3 != 0, i % 3 == 0 ? lb_known_name : lb_known_value);
        promstore_string_iter_close(it);
        if (n < 0)
            break;
        int after = atomic_load(&a->c->batches_done);
        /* batches finished before the call are seen; a snapshot never shrinks */
        int lo = i % 3 == 0 ? (before ? 2 + before : 0) : i % 3 == 1 ? before : (before < 100 ? before : 100);
        int hi = i % 3 == 0 ? 2 + after + 1 : after + 1;
        int *last = i % 3 == 0 ? &last_names : i % 3 == 1 ? &last_values : &last_filtered;
        if (n < lo || n > hi || n < *last) {
            thread_fail("lb call %d: %d strings, expected %d..%d and >= %d", i % 3, n, lo, hi,
                        *last);
            break;
        }
        *last = n;
        a->calls++;
        if (finished && i >= 3)
            break;
    }
    return NULL;
}

static void test_label_queries_during_appends(void **state)
{
    tu_store *f = *state;
    lb_ctx c = {.db = f->db};
    atomic_init(&c.batches_done, 0);
    atomic_init(&c.finished, 0);
    pthread_t at, rt[LB_READERS];
    lb_reader_arg ra[LB_READERS];
    for (int i = 0; i < LB_READERS; i++) {
        ra[i] = (lb_reader_arg){&c, 0};
        assert_int_equal(pthread_create(&rt[i], NULL, lb_reader, &ra[i]), 0);
    }
    assert_int_equal(pthread_create(&at, NULL, lb_appender, &c), 0);
    pthread_join(at, NULL);
    int calls = 0;
    for (int i = 0; i < LB_READERS; i++) {
        pthread_join(rt[i], NULL);
        calls += ra[i].calls;
    }
    print_message("%d label calls ran during the appends\n", calls);
    assert_no_thread_failures();

    /* afterwards: all names and values */
    promstore_string_iter *it = NULL;
    promstore_error err = {0};
    assert_int_equal(promstore_label_names(f->db, NULL, 0, INT64_MIN, INT64_MAX, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(lb_read(it, 0, lb_known_name), 2 + LB_BATCHES);
    promstore_string_iter_close(it);
    assert_int_equal(promstore_label_values(f->db, "v", 1, NULL, 0, INT64_MIN, INT64_MAX, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(lb_read(it, 1, lb_known_value), LB_BATCHES);
    promstore_string_iter_close(it);
    assert_no_thread_failures();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appenders_and_queriers, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_long_query_does_not_block_appends, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_iterators_cross_threads, setup, tu_teardown),
        cmocka_unit_test_setup_teardown(test_label_queries_during_appends, setup, tu_teardown),
    };
    return TU_RUN(argc, argv, "concurrency", tests);
}
