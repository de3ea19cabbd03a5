/*
 * test_kill_loop.c -- SIGKILL the `promstore` server under write load, over
 * and over, and prove that every sample whose request got a 2xx survived.
 *
 *   test_kill_loop BACKEND SERVER_BINARY
 *
 * Each cycle starts the real server on the same store, lets writer threads
 * post remote-write requests at it, kills it with SIGKILL at a random moment,
 * and then opens the store directly through libpromstore to check it:
 *
 *   - steady writers: STEADY_WRITERS threads, each owning STEADY_SERIES series
 *     and sending all of them at one timestamp per request (large appends, so
 *     kills land inside them);
 *   - a fresh writer: each request creates FRESH_SERIES brand-new series (so
 *     kills land inside series creation too).
 *
 * Every request has a state: not sent, sent without a 2xx (the kill may or may
 * not have let it land), or acknowledged. The check: every acknowledged sample
 * is present with its exact value; an unacknowledged one is either wholly
 * there or not; nothing that was never sent is there. After the last cycle
 * the server is started once more, answers a remote read for acknowledged
 * data and stops cleanly, and `promstore check` must find the store sound.
 *
 * Bounded: at most KILL_LOOP_CYCLES cycles (default 20) and KILL_LOOP_SECONDS
 * of cycling (default 60). KILL_LOOP_SEED fixes the random kill moments; the
 * seed used is printed so a failure can be replayed.
 */
#define _GNU_SOURCE
#include "harness.h"
#include "promstore.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

enum {
    STEADY_WRITERS = 3,
    STEADY_SERIES = 2000,
    FRESH_SERIES = 500,
    MAX_REQUESTS = 100000, /* per writer; far above what the time bound allows */
};

static const int64_t T0 = 1700000000000; /* ms; steady step k is at T0 + 15 s * k */

enum req_state { NOT_SENT = 0, UNACKED = 1, ACKED = 2 };

/* One writer's requests; only its thread writes them while a cycle runs. */
typedef struct writer {
    int id; /* 0..STEADY_WRITERS-1 steady, STEADY_WRITERS for the fresh writer */
    pthread_t thread;
    int next; /* next request number */
    uint8_t state[MAX_REQUESTS];
    long acked, unacked, refused4xx;
} writer;

static writer writers[STEADY_WRITERS + 1];
static h_server running; /* the server of the moment; killed by teardown on a failure */
static atomic_int stop_writers;
static char write_url[128];

static double steady_value(int w, int series, int step)
{
    /* Exact in a double; differs per writer, series and step. */
    return (double)step * 65536.0 + (double)series + (double)w * 0.25;
}

static double fresh_value(int req, int series)
{
    return (double)req * 1024.0 + (double)series + 0.5;
}

static void build_request(const writer *w, int n, h_buf *body)
{
    h_buf req = {0};
    char a[32], b[32];
    bool fresh = w->id == STEADY_WRITERS;
    int count = fresh ? FRESH_SERIES : STEADY_SERIES;
    for (int i = 0; i < count; i++) {
        h_buf ts = {0};
        if (fresh) {
            snprintf(a, sizeof a, "%d", i);
            snprintf(b, sizeof b, "%d", n);
            h_put_label(&ts, "__name__", "kill_loop_fresh");
            h_put_label(&ts, "i", a);
            h_put_label(&ts, "req", b);
            h_put_sample(&ts, 2, T0 + n, fresh_value(n, i));
        } else {
            snprintf(a, sizeof a, "%d", i);
            snprintf(b, sizeof b, "%d", w->id);
            h_put_label(&ts, "__name__", "kill_loop_steady");
            h_put_label(&ts, "i", a);
            h_put_label(&ts, "writer", b);
            h_put_sample(&ts, 2, T0 + (int64_t)n * 15000, steady_value(w->id, i, n));
        }
        h_put_bytes(&req, 1, ts.p, ts.len);
        h_buf_free(&ts);
    }
    h_snappy(body, req.p, req.len);
    h_buf_free(&req);
}


static void *writer_main(void *arg)
{
    writer *w = arg;
    while (!atomic_load(&stop_writers) && w->next < MAX_REQUESTS) {
        int n = w->next++;
        h_buf body = {0};
        build_request(w, n, &body);
        /* Marked before sending: once the bytes may have left, the request may land. */
        w->state[n] = UNACKED;
        h_response r;
        int rc = h_http("POST", write_url, h_write_headers, body.p, body.len, &r);
        if (rc == 0 && r.status >= 200 && r.status < 300) {
            w->state[n] = ACKED;
            w->acked++;
        } else {
            w->unacked++;
            if (rc == 0 && r.status >= 400 && r.status < 500) {
                w->refused4xx++;
                fprintf(stderr, "kill_loop: writer %d request %d answered %ld: %s\n", w->id, n,
                        r.status, r.body);
            }
            /* The server is gone (or going): wait for the next cycle. */
            atomic_store(&stop_writers, 1);
        }
        h_response_free(&r);
        h_buf_free(&body);
    }
    return NULL;
}

/* --- Checking the store through the library ---------------------------------- */

static const char *label_value(const promstore_label *l, size_t n, const char *name,
                               char *buf, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (l[i].name_len == strlen(name) && memcmp(l[i].name, name, l[i].name_len) == 0) {
            snprintf(buf, len, "%.*s", (int)l[i].value_len, l[i].value);
            return buf;
        }
    return NULL;
}

typedef struct check_totals {
    long samples_checked; /* acknowledged samples found intact */
    long unacked_present; /* unacknowledged samples that landed anyway */
} check_totals;

/*
 * One series' samples against its writer's request states: samples arrive in
 * time order, so walk requests and samples together.
 */
static void check_steady_series(promstore_series_iter *it, const writer *w, int series,
                                check_totals *tot)
{
    promstore_sample s;
    promstore_error err = {0};
    promstore_status st;
    int step = 0;
    while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK) {
        int64_t off = s.timestamp_ms - T0;
        if (off < 0 || off % 15000 != 0 || off / 15000 >= w->next)
            fail_msg("writer %d series %d: sample at %" PRId64 " was never sent", w->id, series,
                     s.timestamp_ms);
        int at = (int)(off / 15000);
        for (; step < at; step++)
            if (w->state[step] == ACKED)
                fail_msg("writer %d series %d: acknowledged step %d (t=%" PRId64 ") is lost",
                         w->id, series, step, T0 + (int64_t)step * 15000);
        double want = steady_value(w->id, series, at);
        uint64_t want_bits;
        memcpy(&want_bits, &want, 8);
        if (s.value_bits != want_bits)
            fail_msg("writer %d series %d step %d: value bits %016" PRIx64 ", sent %.17g", w->id,
                     series, at, s.value_bits, want);
        if (w->state[at] == NOT_SENT)
            fail_msg("writer %d series %d: step %d was never sent", w->id, series, at);
        if (w->state[at] == ACKED)
            tot->samples_checked++;
        else
            tot->unacked_present++;
        step = at + 1;
    }
    if (st != PROMSTORE_DONE)
        fail_msg("writer %d series %d: sample iterator: %s", w->id, series, err.message);
    for (; step < w->next; step++)
        if (w->state[step] == ACKED)
            fail_msg("writer %d series %d: acknowledged step %d (t=%" PRId64 ") is lost", w->id,
                     series, step, T0 + (int64_t)step * 15000);
}

static promstore_series_iter *query_name(promstore *db, const char *metric, const char *label,
                                         const char *value)
{
    promstore_matcher m[2] = {
        {PROMSTORE_MATCH_EQ, "__name__", 8, metric, strlen(metric)},
        {PROMSTORE_MATCH_EQ, label, label ? strlen(label) : 0, value, value ? strlen(value) : 0},
    };
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    if (promstore_query(db, m, label ? 2 : 1, INT64_MIN, INT64_MAX, &it, &err) != PROMSTORE_OK)
        fail_msg("query %s: %s", metric, err.message);
    return it;
}

static void check_steady(promstore *db, const writer *w, check_totals *tot)
{
    char id[16], buf[32];
    snprintf(id, sizeof id, "%d", w->id);
    bool any_acked = false;
    for (int n = 0; n < w->next; n++)
        any_acked |= w->state[n] == ACKED;
    promstore_series_iter *it = query_name(db, "kill_loop_steady", "writer", id);
    promstore_error err = {0};
    promstore_status st;
    static uint8_t seen[STEADY_SERIES];
    memset(seen, 0, sizeof seen);
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *l;
        size_t nl;
        assert_int_equal(promstore_series_iter_labels(it, &l, &nl), PROMSTORE_OK);
        const char *i = label_value(l, nl, "i", buf, sizeof buf);
        assert_non_null(i);
        int series = atoi(i);
        assert_true(series >= 0 && series < STEADY_SERIES);
        seen[series] = 1;
        check_steady_series(it, w, series, tot);
    }
    if (st != PROMSTORE_DONE)
        fail_msg("writer %d: series iterator: %s", w->id, err.message);
    promstore_series_iter_close(it);
    for (int s = 0; any_acked && s < STEADY_SERIES; s++)
        if (!seen[s])
            fail_msg("writer %d: series %d is missing although requests were acknowledged",
                     w->id, s);
}

static void check_fresh(promstore *db, const writer *w, check_totals *tot)
{
    static uint16_t found[MAX_REQUESTS]; /* series found per request */
    memset(found, 0, sizeof(found[0]) * (size_t)w->next);
    promstore_series_iter *it = query_name(db, "kill_loop_fresh", NULL, NULL);
    promstore_error err = {0};
    promstore_status st;
    char ib[32], rb[32];
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *l;
        size_t nl;
        assert_int_equal(promstore_series_iter_labels(it, &l, &nl), PROMSTORE_OK);
        const char *i = label_value(l, nl, "i", ib, sizeof ib);
        const char *r = label_value(l, nl, "req", rb, sizeof rb);
        assert_non_null(i);
        assert_non_null(r);
        int series = atoi(i), req = atoi(r);
        if (req < 0 || req >= w->next || w->state[req] == NOT_SENT)
            fail_msg("fresh series {i=%d, req=%d} was never sent", series, req);
        promstore_sample s;
        int n = 0;
        while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK) {
            double want = fresh_value(req, series);
            if (s.timestamp_ms != T0 + req || memcmp(&s.value_bits, &want, 8) != 0)
                fail_msg("fresh series {i=%d, req=%d}: sample (%" PRId64 ", bits %016" PRIx64
                         "), sent (%" PRId64 ", %.17g)",
                         series, req, s.timestamp_ms, s.value_bits, T0 + req, want);
            n++;
        }
        if (st != PROMSTORE_DONE || n != 1)
            fail_msg("fresh series {i=%d, req=%d}: %d samples (%s)", series, req, n,
                     err.message);
        found[req]++;
    }
    if (st != PROMSTORE_DONE)
        fail_msg("fresh series iterator: %s", err.message);
    promstore_series_iter_close(it);
    for (int req = 0; req < w->next; req++) {
        if (w->state[req] == ACKED && found[req] != FRESH_SERIES)
            fail_msg("fresh request %d was acknowledged but %d of its %d series are stored", req,
                     found[req], FRESH_SERIES);
        /* One append call per request: all of it lands, or none. */
        if (w->state[req] == UNACKED && found[req] != 0 && found[req] != FRESH_SERIES)
            fail_msg("fresh request %d (unacknowledged) landed partly: %d of %d series", req,
                     found[req], FRESH_SERIES);
        if (w->state[req] == ACKED)
            tot->samples_checked += found[req];
        else
            tot->unacked_present += found[req];
    }
}

static void check_store(const char *path, check_totals *tot)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = h_backend;
    o.path = path;
    promstore *db = NULL;
    promstore_error err = {0};
    if (promstore_open(&o, &db, &err) != PROMSTORE_OK)
        fail_msg("reopening the store after SIGKILL: %s", err.message);
    memset(tot, 0, sizeof *tot);
    for (int w = 0; w < STEADY_WRITERS; w++)
        check_steady(db, &writers[w], tot);
    check_fresh(db, &writers[STEADY_WRITERS], tot);
    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
}

/* --- The loop ---------------------------------------------------------------- */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_kill_loop(void **state)
{
    (void)state;
    char dir[512], store[600], log[600], storeflag[700];
    h_tmpdir(dir, sizeof dir);
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    snprintf(storeflag, sizeof storeflag, "--storage.path=%s", store);
    const char *args[] = {storeflag, "--web.listen-address=127.0.0.1:0", NULL};

    long cycles = env_long("KILL_LOOP_CYCLES", 20);
    long budget = env_long("KILL_LOOP_SECONDS", 60);
    unsigned seed = (unsigned)env_long("KILL_LOOP_SEED", (long)time(NULL));
    srand(seed);
    printf("kill_loop: backend %s, seed %u (KILL_LOOP_SEED=%u replays), up to %ld cycles / %ld s\n",
           h_backend, seed, seed, cycles, budget);
    for (int w = 0; w <= STEADY_WRITERS; w++)
        writers[w].id = w;

    double start = h_now_s();
    long done = 0;
    check_totals tot = {0};
    for (; done < cycles && h_now_s() - start < (double)budget; done++) {
        if (h_start(&running, log, args) != 0) {
            char *text = h_slurp(log);
            fail_msg("cycle %ld: the server did not restart after SIGKILL:\n%s", done, text);
        }
        snprintf(write_url, sizeof write_url, "http://127.0.0.1:%d/api/v1/write", running.port);
        atomic_store(&stop_writers, 0);
        for (int w = 0; w <= STEADY_WRITERS; w++)
            assert_int_equal(pthread_create(&writers[w].thread, NULL, writer_main, &writers[w]), 0);
        /* 20 ms .. 1.5 s: early kills hit startup and first appends, late ones steady load. */
        sleep_ms(20 + rand() % 1480);
        int status = h_stop(&running, SIGKILL);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        atomic_store(&stop_writers, 1);
        for (int w = 0; w <= STEADY_WRITERS; w++)
            pthread_join(writers[w].thread, NULL);
        for (int w = 0; w <= STEADY_WRITERS; w++)
            if (writers[w].refused4xx)
                fail_msg("writer %d got %ld 4xx answers to valid requests", w,
                         writers[w].refused4xx);
        check_store(store, &tot);
    }
    long acked = 0, unacked = 0;
    for (int w = 0; w <= STEADY_WRITERS; w++) {
        acked += writers[w].acked;
        unacked += writers[w].unacked;
    }
    printf("kill_loop: %ld SIGKILL cycles in %.1f s; %ld requests acknowledged, %ld cut off by a "
           "kill; last check: %ld acknowledged samples present bit for bit, %ld unacknowledged "
           "samples landed whole, 0 lost\n",
           done, h_now_s() - start, acked, unacked, tot.samples_checked, tot.unacked_present);
    assert_true(done >= 3);
    assert_true(acked > 0);

    /* The server serves the surviving store: a remote read of one acknowledged series. */
    if (h_start(&running, log, args) != 0)
        fail_msg("the server did not start on the killed store");
    const writer *w0 = &writers[0];
    int step = -1;
    for (int n = 0; n < w0->next; n++)
        if (w0->state[n] == ACKED)
            step = n;
    if (step >= 0) {
        h_buf rq = {0}, raw = {0};
        h_buf m = {0}, q = {0};
        const char *names[] = {"__name__", "i", "writer"};
        const char *values[] = {"kill_loop_steady", "7", "0"};
        for (int k = 0; k < 3; k++) {
            h_buf one = {0};
            h_put_varint(&one, 1 << 3 | 0);
            h_put_varint(&one, 0); /* EQ */
            h_put_bytes(&one, 2, names[k], strlen(names[k]));
            h_put_bytes(&one, 3, values[k], strlen(values[k]));
            h_put_bytes(&m, 3, one.p, one.len);
            h_buf_free(&one);
        }
        int64_t t = T0 + (int64_t)step * 15000;
        h_put_varint(&q, 1 << 3 | 0);
        h_put_varint(&q, (uint64_t)t);
        h_put_varint(&q, 2 << 3 | 0);
        h_put_varint(&q, (uint64_t)t);
        h_put(&q, m.p, m.len);
        h_put_bytes(&raw, 1, q.p, q.len);
        h_snappy(&rq, raw.p, raw.len);
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/read", running.port);
        h_response r;
        assert_int_equal(h_http("POST", url, h_read_headers, rq.p, rq.len, &r), 0);
        assert_int_equal(r.status, 200);
        int64_t ts[4];
        double vs[4];
        size_t n = 0;
        assert_int_equal(h_read_response_samples(r.body, r.body_len, ts, vs, 4, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(ts[0], t);
        double want = steady_value(0, 7, step);
        assert_memory_equal(&vs[0], &want, 8);
        h_response_free(&r);
        h_buf_free(&rq);
        h_buf_free(&raw);
        h_buf_free(&m);
        h_buf_free(&q);
    }
    int status = h_stop(&running, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The offline verifier must find the killed-and-restarted store sound. */
    char out[700], errp[700], backendflag[64];
    snprintf(out, sizeof out, "%s/check.out", dir);
    snprintf(errp, sizeof errp, "%s/check.err", dir);
    snprintf(backendflag, sizeof backendflag, "--storage.backend=%s", h_backend);
    const char *argv[] = {"check", backendflag, storeflag, NULL};
    int rc = h_run(argv, out, errp);
    char *report = h_slurp(out);
    printf("kill_loop: promstore check: exit %d\n%s", rc, report);
    if (rc != 0) {
        char *e = h_slurp(errp);
        fail_msg("promstore check found problems in the killed store (exit %d):\n%s%s", rc,
                 report, e);
    }
    free(report);
    h_rmtree(dir);
}

static int kill_leftover(void **state)
{
    (void)state;
    if (running.pid > 0)
        h_stop(&running, SIGKILL);
    return 0;
}

int main(int argc, char **argv)
{
    h_args(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_kill_loop, kill_leftover)};
    int rc = cmocka_run_group_tests_name(h_backend, tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
