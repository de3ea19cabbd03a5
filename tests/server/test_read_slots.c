/*
 * test_read_slots.c -- remote reads against the real `promstore` binary (see
 * harness.h) when they are heavy, when their clients stop reading, and when
 * there are more of them than read slots. Run once per backend:
 *
 *   test_read_slots BACKEND PATH-TO-promstore
 *
 * The group writes one store big enough that a read of all of it takes a
 * while (BIG_SERIES series of BIG_SAMPLES random samples: about 20 MB of
 * SAMPLES answer, more than the kernel buffers of a socket hold); each case
 * then runs its own server on that store with the flags it is about.
 *
 *   health_under_reads  --web.threads=1: /-/healthy and a small write answer
 *                       while heavy reads run, well within the time one read
 *                       takes alone (they used to wait for the reads' work).
 *   stalled_readers     ten reads whose clients never read lose their slots
 *                       after --web.write-timeout; a new read then succeeds.
 *   read_queue          past the concurrency limit a read waits for a slot,
 *                       and gets 503 + Retry-After after
 *                       --storage.remote.read-queue-timeout.
 *   shutdown_with_reads SIGTERM with a stalled and a queued read: the queued
 *                       one gets 503 at once, the server exits 0.
 *
 * Each prints "CASE name | ... | figures" lines for docs/RELIABILITY.md.
 * Every loop is bounded in count and time; only 127.0.0.1 is used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "harness.h"

#define BIG_NAME "slots_big"
#define BIG_SERIES 2000
#define BIG_SAMPLES 500
#define BIG_T0 INT64_C(1700000000000)
#define BIG_STEP 15000
#define SERIES_PER_WRITE 100

static h_fixture *g; /* the group's store; each case starts a server on it */

/* A snappy WriteRequest of series [first, first + n), each BIG_SAMPLES random samples. */
static void big_write(h_buf *out, int first, int n, unsigned *seed)
{
    h_buf req = {0};
    for (int s = first; s < first + n; s++) {
        h_buf ts = {0};
        char idx[16];
        snprintf(idx, sizeof idx, "%05d", s);
        h_put_label(&ts, "__name__", BIG_NAME);
        h_put_label(&ts, "i", idx);
        for (int k = 0; k < BIG_SAMPLES; k++)
            h_put_sample(&ts, 2, BIG_T0 + (int64_t)k * BIG_STEP, (double)rand_r(seed) / 7.0);
        h_put_bytes(&req, 1, ts.p, ts.len);
        h_buf_free(&ts);
    }
    h_snappy(out, req.p, req.len);
    h_buf_free(&req);
}

static void big_read_request(h_buf *out)
{
    h_read_request(out, BIG_NAME, BIG_T0, BIG_T0 + (int64_t)BIG_SAMPLES * BIG_STEP);
}

static int group_setup(void **state)
{
    (void)state;
    g = calloc(1, sizeof *g);
    assert_non_null(g);
    h_fixture_init(g, "fill");
    h_fixture_start(g, NULL);
    unsigned seed = 42;
    for (int s = 0; s < BIG_SERIES; s += SERIES_PER_WRITE) {
        h_buf body = {0};
        big_write(&body, s, SERIES_PER_WRITE, &seed);
        h_response r;
        long st = h_request(g, "POST", "/api/v1/write", h_write_headers, body.p, body.len, &r);
        h_buf_free(&body);
        h_response_free(&r);
        if (st != 204) {
            h_dump_log(g->log);
            fprintf(stderr, "filling the store: a write answered %ld\n", st);
            return -1;
        }
    }
    return h_stop(&g->srv, SIGTERM) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    h_fixture_free(g);
    g = NULL;
    return 0;
}

/* Stop the case's server even when the case failed. */
static int case_teardown(void **state)
{
    (void)state;
    if (g->srv.pid > 0)
        h_stop(&g->srv, SIGKILL);
    g->srv.pid = 0;
    return 0;
}

/* The value of the sample `series` (name and labels, as exposed) in /metrics; -1 if absent. */
static double metric(const char *series)
{
    h_response r;
    double v = -1;
    if (h_request(g, "GET", "/metrics", NULL, NULL, 0, &r) == 200) {
        size_t n = strlen(series);
        for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (strncmp(p, series, n) == 0 && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
    }
    h_response_free(&r);
    return v;
}

/* Wait (at most 15 s) until promstore_remote_reads_in_progress is `want`. */
static void wait_reads_in_progress(double want)
{
    double t0 = h_now_s(), v = -1;
    while (h_now_s() - t0 < 15.0 && (v = metric("promstore_remote_reads_in_progress")) != want) {
        struct timespec tick = {0, 50 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    if (v != want) {
        h_dump_log(g->log);
        fail_msg("promstore_remote_reads_in_progress is %g, want %g", v, want);
    }
}

/* A read of the whole big store over curl: its status, and its seconds in *secs. */
static long big_read(double *secs)
{
    h_buf body = {0};
    big_read_request(&body);
    h_response r;
    double t0 = h_now_s();
    long st = h_request(g, "POST", "/api/v1/read", h_read_headers, body.p, body.len, &r);
    if (secs)
        *secs = h_now_s() - t0;
    if (st == 200)
        assert_int_equal(h_read_response_series(r.body, r.body_len), BIG_SERIES);
    h_buf_free(&body);
    h_response_free(&r);
    return st;
}

/* Send a remote-read POST of body on a raw socket (receive window rcvbuf, 0: default). */
static int raw_read(const h_buf *body, int rcvbuf, bool close_after)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /api/v1/read HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                     "X-Prometheus-Remote-Read-Version: 0.1.0\r\n%sContent-Length: %zu\r\n\r\n",
                     close_after ? "Connection: close\r\n" : "", body->len);
    int fd = h_connect(g->srv.port, rcvbuf);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    assert_int_equal(send(fd, body->p, body->len, MSG_NOSIGNAL), (ssize_t)body->len);
    return fd;
}

/*
 * A read of the whole big store from a raw socket with a tiny receive window,
 * whose client never reads the answer: the server's send stalls once the
 * kernel buffers are full. Returns the socket.
 */
static int stalled_read(void)
{
    h_buf body = {0};
    big_read_request(&body);
    int fd = raw_read(&body, 4096, false);
    h_buf_free(&body);
    return fd;
}

/*
 * HEAVY_QUERIES copies of the whole-store query in one read: the first pass
 * of its SAMPLES answer reads them all before the first byte. The answer
 * (hundreds of MB) is read and thrown away; returns the status, the bytes
 * in *bytes. Bounded: 120 s.
 */
#define HEAVY_QUERIES 16
static long heavy_read(uint64_t *bytes)
{
    h_buf body = {0};
    h_read_request_repeated(&body, BIG_NAME, BIG_T0, BIG_T0 + (int64_t)BIG_SAMPLES * BIG_STEP,
                            HEAVY_QUERIES);
    int fd = raw_read(&body, 0, true);
    h_buf_free(&body);
    static __thread char buf[1 << 16];
    char first[16] = "";
    uint64_t got = 0;
    double t0 = h_now_s();
    while (h_now_s() - t0 < 120.0) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        if (got == 0)
            memcpy(first, buf, n < 15 ? (size_t)n : 15);
        got += (uint64_t)n;
    }
    close(fd);
    *bytes = got;
    return strncmp(first, "HTTP/1.1 ", 9) == 0 ? strtol(first + 9, NULL, 10) : -1;
}

/* Start the case's server on the group's store with the extra flags. */
static void start_case(const char *name, const char *const *extra)
{
    snprintf(g->log, sizeof g->log, "%s/%s.log", g->dir, name);
    h_fixture_start(g, extra);
}

/* --- Heavy reads do not hold up health checks and writes -------------------- */

enum { HEAVY_READS = 4 };

struct heavy {
    pthread_t thread;
    long status;
    uint64_t bytes;
    double secs;
    atomic_bool done;
};

static void *heavy_main(void *arg)
{
    struct heavy *h = arg;
    double t0 = h_now_s();
    h->status = heavy_read(&h->bytes);
    h->secs = h_now_s() - t0;
    atomic_store(&h->done, true);
    return NULL;
}

/*
 * With one HTTP worker thread, a read's work (the first pass of a SAMPLES
 * answer runs inside promstore_remote_read_open) used to run on that thread,
 * so /-/healthy and writes waited for it. Now they answer while the reads
 * run, in less than a quarter of what one such read takes alone on the idle
 * server (on the old code they waited at least that long).
 */
static void test_health_under_reads(void **state)
{
    (void)state;
    const char *extra[] = {"--web.threads=1", NULL};
    start_case("health", extra);
    struct heavy one;
    memset(&one, 0, sizeof one);
    heavy_main(&one);
    assert_int_equal(one.status, 200);
    double alone = one.secs;
    struct heavy reads[HEAVY_READS];
    memset(reads, 0, sizeof reads);
    for (int i = 0; i < HEAVY_READS; i++)
        assert_int_equal(pthread_create(&reads[i].thread, NULL, heavy_main, &reads[i]), 0);
    struct timespec settle = {0, 200 * 1000 * 1000}; /* the reads are in */
    nanosleep(&settle, NULL);
    h_response r;
    double t0 = h_now_s();
    assert_int_equal(h_request(g, "GET", "/-/healthy", NULL, NULL, 0, &r), 200);
    double healthy = h_now_s() - t0;
    h_response_free(&r);
    h_buf body = {0};
    const int64_t t[] = {BIG_T0};
    const double v[] = {1.0};
    h_write_request(&body, "slots_small", "slots", t, v, 1);
    t0 = h_now_s();
    assert_int_equal(h_request(g, "POST", "/api/v1/write", h_write_headers, body.p, body.len, &r),
                     204);
    double write = h_now_s() - t0;
    h_response_free(&r);
    h_buf_free(&body);
    int finished = 0;
    for (int i = 0; i < HEAVY_READS; i++)
        finished += atomic_load(&reads[i].done);
    double slowest = 0;
    for (int i = 0; i < HEAVY_READS; i++) {
        pthread_join(reads[i].thread, NULL);
        assert_int_equal(reads[i].status, 200);
        slowest = reads[i].secs > slowest ? reads[i].secs : slowest;
    }
    fprintf(stderr,
            "CASE health_under_reads | --web.threads=1, %d reads of %d samples, %.0f MB each "
            "(one alone: %.2f s, slowest of them: %.2f s) | /-/healthy %.3f s, write %.3f s, "
            "%d reads finished before\n",
            HEAVY_READS, HEAVY_QUERIES * BIG_SERIES * BIG_SAMPLES, (double)one.bytes / 1e6,
            alone, slowest, healthy, write, finished);
    assert_int_equal(finished, 0);
    assert_true(healthy < alone / 4);
    assert_true(write < alone / 4);
}

/* --- Readers that never drain ----------------------------------------------- */

enum { STALLED = 10 };

/*
 * Ten reads whose clients never read take every read slot (the default
 * limit, 10). Their connections are cut once no byte has left for
 * --web.write-timeout, their readers closed and slots freed: a new read then
 * succeeds, and the cuts are counted.
 */
static void test_stalled_readers(void **state)
{
    (void)state;
    const char *extra[] = {"--web.write-timeout=2s", NULL};
    start_case("stalled", extra);
    int fds[STALLED];
    for (int i = 0; i < STALLED; i++)
        fds[i] = stalled_read();
    wait_reads_in_progress(STALLED);
    double t0 = h_now_s(), took = 0;
    long st = -1;
    int tries = 0;
    while (st != 200 && h_now_s() - t0 < 20.0 && tries++ < 40) {
        st = big_read(&took);
        struct timespec pause = {0, 250 * 1000 * 1000};
        if (st != 200)
            nanosleep(&pause, NULL);
    }
    double freed = h_now_s() - t0;
    if (st == 200)
        wait_reads_in_progress(0); /* every stalled one is cut in the end */
    double cuts = metric("promstore_limit_hits_total{limit=\"write_timeout\"}");
    fprintf(stderr,
            "CASE stalled_readers | %d reads never read, --web.write-timeout=2s | new read %ld "
            "after %.1f s (%d tries), write_timeout cuts %g\n",
            STALLED, st, freed, tries, cuts);
    if (st != 200)
        h_dump_log(g->log);
    assert_int_equal(st, 200);
    assert_true(cuts == STALLED);
    for (int i = 0; i < STALLED; i++)
        close(fds[i]);
}

/* --- Reads past the limit wait for a slot ------------------------------------ */

/*
 * With one read slot held by a client that never reads, a second read waits
 * for the slot instead of getting 503 at once: it succeeds when the slot
 * frees within --storage.remote.read-queue-timeout (here the stalled one is
 * cut after 2 s), and gets 503 with Retry-After when it does not.
 */
static void test_read_queue(void **state)
{
    (void)state;
    const char *waits[] = {"--storage.remote.read-concurrent-limit=1", "--web.write-timeout=2s",
                           "--storage.remote.read-queue-timeout=30s", NULL};
    start_case("queue", waits);
    int fd = stalled_read();
    wait_reads_in_progress(1);
    double waited = 0;
    long st = big_read(&waited);
    fprintf(stderr, "CASE read_queue | limit 1 held by a stalled read cut after 2 s, queue 30s "
                    "| %ld after %.1f s\n", st, waited);
    if (st != 200)
        h_dump_log(g->log);
    assert_int_equal(st, 200);
    close(fd);
    h_stop_ok(&g->srv, SIGTERM, g->log);
    g->srv.pid = 0;

    const char *refuses[] = {"--storage.remote.read-concurrent-limit=1", "--web.write-timeout=1m",
                             "--storage.remote.read-queue-timeout=1s", NULL};
    start_case("queue_full", refuses);
    fd = stalled_read();
    wait_reads_in_progress(1);
    h_buf body = {0};
    big_read_request(&body);
    h_response r;
    double t0 = h_now_s();
    st = h_request(g, "POST", "/api/v1/read", h_read_headers, body.p, body.len, &r);
    waited = h_now_s() - t0;
    char retry[32] = "";
    int has_retry = h_header(&r, "Retry-After", retry, sizeof retry);
    fprintf(stderr, "CASE read_queue_timeout | limit 1 held, queue 1s | %ld after %.1f s, "
                    "Retry-After %s | %s",
            st, waited, retry, r.body ? r.body : "");
    assert_int_equal(st, 503);
    assert_int_equal(has_retry, 0);
    assert_non_null(strstr(r.body, "read-queue-timeout"));
    h_response_free(&r);
    h_buf_free(&body);
    close(fd);
    /* Once the stalled client is gone, the slot is free again. */
    wait_reads_in_progress(0);
    assert_int_equal(big_read(NULL), 200);
    h_stop_ok(&g->srv, SIGTERM, g->log);
    g->srv.pid = 0;
}

/* --- Shutdown with reads waiting and stalled --------------------------------- */

struct queued {
    pthread_t thread;
    long status;
    char body[512];
};

static void *queued_main(void *arg)
{
    struct queued *q = arg;
    h_buf body = {0};
    big_read_request(&body);
    h_response r;
    q->status = h_request(g, "POST", "/api/v1/read", h_read_headers, body.p, body.len, &r);
    snprintf(q->body, sizeof q->body, "%s", r.body ? r.body : "");
    h_response_free(&r);
    h_buf_free(&body);
    return NULL;
}

/*
 * SIGTERM while one read streams to a client that never reads and another
 * waits, suspended, in the queue: the waiting read gets 503 "shutting down"
 * at once, the stalled one is cut by the write timeout within the grace
 * period, and the server exits 0 (libmicrohttpd must not be stopped with a
 * connection suspended).
 */
static void test_shutdown_with_reads(void **state)
{
    (void)state;
    const char *extra[] = {"--storage.remote.read-concurrent-limit=1", "--web.write-timeout=3s",
                           "--storage.remote.read-queue-timeout=2m", NULL};
    start_case("shutdown", extra);
    int fd = stalled_read();
    wait_reads_in_progress(1);
    struct queued q;
    memset(&q, 0, sizeof q);
    assert_int_equal(pthread_create(&q.thread, NULL, queued_main, &q), 0);
    struct timespec settle = {0, 500 * 1000 * 1000}; /* the second read is queued */
    nanosleep(&settle, NULL);
    double t0 = h_now_s();
    h_stop_ok(&g->srv, SIGTERM, g->log);
    g->srv.pid = 0;
    double stopped = h_now_s() - t0;
    pthread_join(q.thread, NULL);
    close(fd);
    fprintf(stderr, "CASE shutdown_with_reads | SIGTERM with a stalled read and a queued one | "
                    "exit 0 after %.1f s, the queued read %ld: %s",
            stopped, q.status, q.body);
    assert_int_equal(q.status, 503);
    assert_non_null(strstr(q.body, "shutting down"));
}

int main(int argc, char **argv)
{
    h_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_health_under_reads, case_teardown),
        cmocka_unit_test_teardown(test_stalled_readers, case_teardown),
        cmocka_unit_test_teardown(test_read_queue, case_teardown),
        cmocka_unit_test_teardown(test_shutdown_with_reads, case_teardown),
    };
    char group[64];
    snprintf(group, sizeof group, "read_slots_%s", h_backend);
    int failed = cmocka_run_group_tests_name(group, tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
