/*
 * test_crash.c -- the DURABILITY promise of promstore.h under kill -9, through
 * the public ABI only, run once per backend (argv[1] is "lmdb" or "sqlite").
 *
 * Covers:
 *   - kill -9 at random moments: a forked child opens the store and appends
 *     numbered batches; after each promstore_append() that returns
 *     PROMSTORE_OK it writes the batch number to a pipe. The parent reads these
 *     acknowledgements and SIGKILLs the child at a random moment (within the
 *     first milliseconds, after a random number of acks, or after a random
 *     time), over several rounds on the same store. After each kill the store
 *     must open, every sample of every acknowledged batch must be there with
 *     its exact value bits (stale markers included), nothing else may be there
 *     but at most the one batch in flight, and the store must take appends and
 *     answer queries. Batches also create new series, not only extend old ones.
 *     The reopen time is printed.
 *   - kill -9 while the store is being created: the next open succeeds.
 *   - a clean close and reopen keeps everything.
 *
 * The child uses no cmocka state and leaves with _exit(). Randomness is seeded
 * from the time (or $PROMSTORE_TEST_SEED) and the seed is printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "promstore.h"
static unsigned g_seed;

#define T0 INT64_C(1700006400000)
#define BLOCK_MS (10 * 60 * 1000) /* small blocks: chunks get sealed during the run */
#define STEP_MS INT64_C(15000)
#define SPB 4        /* samples per series per batch: a batch covers one minute */
#define N_BASE 16    /* series every batch extends */
#define NEW_EVERY 5  /* every 5th batch also creates a series */
#define MAX_CHILD_BATCHES 800 /* a bound; the kill comes long before */

/* --- the workload: batch b, a pure function of b ---------------------------- */

static int64_t sample_ts(uint32_t b, int k)
{
    return T0 + ((int64_t)b * SPB + k) * STEP_MS;
}

/* kind 0: base series `id`; kind 1: the series created by batch `id`. */
static uint64_t value_for(int kind, long id, int64_t ts)
{
    uint64_t r = tu_mix64(((uint64_t)kind << 62) ^ ((uint64_t)id << 40) ^ (uint64_t)ts);
    if (r % 29 == 0)
        return PROMSTORE_STALE_NAN_BITS; /* a NaN must survive bit-exact */
    return tu_bits((double)(int64_t)(r >> 12) / 1024.0);
}

typedef struct batch {
    size_t n;
    char ids[N_BASE + 1][16];
    promstore_label labels[N_BASE + 1][3];
    promstore_sample samples[N_BASE + 1][SPB];
    promstore_series series[N_BASE + 1];
} batch;

/*
 * Batch b: SPB samples for each base series, and, when b % NEW_EVERY == 0, a
 * new series {kind="new", id=b} with samples at the same timestamps.
 * No allocation: the child calls this too.
 */
static void build_batch(batch *bt, uint32_t b)
{
    bt->n = 0;
    int with_new = b % NEW_EVERY == 0;
    for (int i = 0; i < N_BASE + with_new; i++) {
        int kind = i < N_BASE ? 0 : 1;
        long id = kind == 0 ? i : (long)b;
        snprintf(bt->ids[i], sizeof bt->ids[i], "%ld", id);
        bt->labels[i][0] = tu_label("__name__", "crash");
        bt->labels[i][1] = tu_label("kind", kind == 0 ? "base" : "new");
        bt->labels[i][2] = tu_label("id", bt->ids[i]);
        for (int k = 0; k < SPB; k++) {
            int64_t ts = sample_ts(b, k);
            bt->samples[i][k].timestamp_ms = ts;
            bt->samples[i][k].value_bits = value_for(kind, id, ts);
        }
        bt->series[i].labels = bt->labels[i];
        bt->series[i].n_labels = 3;
        bt->series[i].samples = bt->samples[i];
        bt->series[i].n_samples = SPB;
        bt->n++;
    }
}

static void init_options(promstore_options *o, const char *dir)
{
    tu_options(o, dir);
    o->block_duration_ms = BLOCK_MS;
}

/* --- the child -------------------------------------------------------------- */

/*
 * Child exit codes, so that the parent can tell a child that failed from one
 * that was killed.
 */
#define CHILD_OPEN_FAILED 10
#define CHILD_APPEND_FAILED 11
#define CHILD_PIPE_FAILED 12

/*
 * Open the store and append batches first .. first+MAX_CHILD_BATCHES-1,
 * acknowledging each on fd. Never returns; uses no cmocka state.
 */
static void child_run(const char *dir, uint32_t first, int fd)
{
    promstore_options o;
    init_options(&o, dir);
    promstore *db = NULL;
    promstore_error err;
    if (promstore_open(&o, &db, &err) != PROMSTORE_OK) {
        fprintf(stderr, "child: open: %s\n", err.message);
        _exit(CHILD_OPEN_FAILED);
    }
    static batch bt;
    for (uint32_t b = first; b < first + MAX_CHILD_BATCHES; b++) {
        build_batch(&bt, b);
        promstore_status st = promstore_append(db, bt.series, bt.n, NULL, &err);
        if (st != PROMSTORE_OK) {
            fprintf(stderr, "child: append batch %u: %d %s\n", b, st, err.message);
            _exit(CHILD_APPEND_FAILED);
        }
        /* acknowledged only now that the append has returned OK */
        if (write(fd, &b, sizeof b) != (ssize_t)sizeof b)
            _exit(CHILD_PIPE_FAILED);
    }
    promstore_close(db, NULL);
    _exit(0);
}

/* --- the parent's side ------------------------------------------------------ */

/* When to kill: after `after_acks` acknowledgements, or `after_s` seconds. */
typedef struct kill_plan {
    const char *what;
    int after_acks; /* -1: no ack limit */
    double after_s;
} kill_plan;

static kill_plan random_plan(int round)
{
    kill_plan p;
    switch (round % 3) {
    case 0: /* soon after start: often during open, before any ack */
        p.what = "early";
        p.after_acks = -1;
        p.after_s = (double)(rand() % 3000) / 1e6;
        break;
    case 1: /* right after a random ack: a commit has just finished */
        p.what = "after acks";
        p.after_acks = 1 + rand() % 60;
        p.after_s = 5.0;
        break;
    default: /* at a random time: anywhere inside an append */
        p.what = "timed";
        p.after_acks = -1;
        p.after_s = 0.002 + (double)(rand() % 100000) / 1e6;
        break;
    }
    return p;
}

/* What one round did. */
typedef struct round_out {
    long acked;    /* highest acknowledged batch, -1 if none ever */
    int n_acks;    /* acks in this round */
    int killed;    /* the child died of SIGKILL (not on its own) */
    int exit_code; /* when it exited on its own */
} round_out;

/* Read whole acks from fd into *acked; returns 0 at EOF, 1 otherwise. */
static int read_acks(int fd, long *acked, int *n_acks, char *carry, size_t *carry_len)
{
    char buf[4096];
    memcpy(buf, carry, *carry_len);
    ssize_t r = read(fd, buf + *carry_len, sizeof buf - *carry_len);
    if (r <= 0)
        return r < 0 && (errno == EINTR || errno == EAGAIN) ? 1 : 0;
    size_t have = *carry_len + (size_t)r, off = 0;
    for (; off + sizeof(uint32_t) <= have; off += sizeof(uint32_t)) {
        uint32_t b;
        memcpy(&b, buf + off, sizeof b);
        /* acks come in order: each is a batch after the previous */
        if ((long)b <= *acked)
            fail_msg("ack %u after %ld", b, *acked);
        *acked = b;
        (*n_acks)++;
    }
    *carry_len = have - off;
    memcpy(carry, buf + off, *carry_len);
    return 1;
}

/*
 * One round: fork a child appending from batch acked+1, kill it as planned,
 * collect every ack it wrote before dying.
 */
static round_out run_round(const char *dir, long acked, kill_plan plan)
{
    round_out out = {acked, 0, 0, 0};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_run(dir, (uint32_t)(acked + 1), fds[1]);
    }
    close(fds[1]);
    char carry[8];
    size_t carry_len = 0;
    double start = tu_now_s();
    int eof = 0;
    while (!eof) {
        if (plan.after_acks >= 0 && out.n_acks >= plan.after_acks)
            break;
        double left = plan.after_s - (tu_now_s() - start);
        if (left <= 0)
            break;
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int timeout_ms = (int)(left * 1000);
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        if (pr > 0)
            eof = !read_acks(fds[0], &out.acked, &out.n_acks, carry, &carry_len);
        else if (timeout_ms == 0 && plan.after_s > 0)
            break; /* under a millisecond left: kill now */
    }
    kill(pid, SIGKILL);
    /* Acks written before the kill are still in the pipe: they count. */
    while (read_acks(fds[0], &out.acked, &out.n_acks, carry, &carry_len))
        ;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        out.killed = WTERMSIG(status) == SIGKILL;
        if (!out.killed)
            fail_msg("child died of signal %d", WTERMSIG(status));
    } else {
        out.exit_code = WEXITSTATUS(status);
        if (out.exit_code != 0)
            fail_msg("child exited with %d (10 open, 11 append, 12 pipe failed) before the kill",
                     out.exit_code);
    }
    return out;
}

static promstore *open_timed(const char *dir, double *took)
{
    promstore_options o;
    init_options(&o, dir);
    promstore *db = NULL;
    promstore_error err = {0};
    double t = tu_now_s();
    promstore_status st = promstore_open(&o, &db, &err);
    *took = tu_now_s() - t;
    if (st != PROMSTORE_OK)
        fail_msg("open after kill: %d %s", st, err.message);
    return db;
}

static long label_long(const promstore_label *l)
{
    char buf[32];
    assert_true(l->value_len < sizeof buf);
    memcpy(buf, l->value, l->value_len);
    buf[l->value_len] = '\0';
    return strtol(buf, NULL, 10);
}

/*
 * Check the crash series against the acknowledgements: every sample of
 * batches 0..acked, exact bits; beyond that at most the batch that was in
 * flight when the child died (committed but not yet acknowledged), never a
 * gap or a stray sample. `exact` requires nothing beyond acked (clean close).
 * Returns the number of crash samples found.
 */
static uint64_t verify(promstore *db, long acked, int exact)
{
    promstore_matcher m = {PROMSTORE_MATCH_EQ, "__name__", 8, "crash", 5};
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    promstore_status st = promstore_query(db, &m, 1, INT64_MIN, INT64_MAX, &it, &err);
    if (st != PROMSTORE_OK)
        fail_msg("verify query: %d %s", st, err.message);
    long max_batch = exact ? acked : acked + 1;
    int base_seen = 0, new_seen = 0, new_beyond = 0;
    uint64_t samples = 0;
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK) {
        const promstore_label *ls;
        size_t nl;
        assert_int_equal(promstore_series_iter_labels(it, &ls, &nl), PROMSTORE_OK);
        const promstore_label *kind = tu_find_label(ls, nl, "kind");
        const promstore_label *idl = tu_find_label(ls, nl, "id");
        assert_non_null(kind);
        assert_non_null(idl);
        int is_new = kind->value_len == 3 && memcmp(kind->value, "new", 3) == 0;
        long id = label_long(idl);
        long first = is_new ? id : 0;
        if (is_new) {
            assert_int_equal(id % NEW_EVERY, 0);
            if (id > max_batch)
                fail_msg("series new/%ld exists, but only batches up to %ld were acked", id, acked);
            if (id > acked)
                new_beyond++;
            else
                new_seen++;
        } else {
            assert_true(id >= 0 && id < N_BASE);
            base_seen++;
        }
        /* samples: consecutive from batch `first`, exact bits */
        int64_t expect = sample_ts((uint32_t)first, 0);
        promstore_sample s;
        long count = 0;
        while ((st = promstore_series_iter_sample(it, &s, &err)) == PROMSTORE_OK) {
            if (s.timestamp_ms != expect)
                fail_msg("%s/%ld: sample at %lld, expected %lld (acked %ld)", is_new ? "new" : "base",
                         id, (long long)s.timestamp_ms, (long long)expect, acked);
            if (s.value_bits != value_for(is_new, id, expect))
                fail_msg("%s/%ld: value bits %016llx at %lld, expected %016llx", is_new ? "new" : "base",
                         id, (unsigned long long)s.value_bits, (long long)expect,
                         (unsigned long long)value_for(is_new, id, expect));
            expect += STEP_MS;
            count++;
        }
        if (st != PROMSTORE_DONE)
            fail_msg("verify samples: %d %s", st, err.message);
        long have_batches = count / SPB;
        if (count % SPB != 0)
            fail_msg("%s/%ld: %ld samples, not whole batches (a torn batch)", is_new ? "new" : "base",
                     id, count);
        long last = first + have_batches - 1;
        if (is_new) {
            /* a new series gets samples from the batch that creates it only */
            if (have_batches != 1)
                fail_msg("new/%ld: %ld batches of samples, expected 1", id, have_batches);
        } else if (last < acked) {
            fail_msg("base/%ld: LOST acknowledged data: samples up to batch %ld, acked %ld", id,
                     last, acked);
        } else if (last > max_batch) {
            fail_msg("base/%ld: samples up to batch %ld, but only %ld acked", id, last, acked);
        }
        samples += (uint64_t)count;
    }
    if (st != PROMSTORE_DONE)
        fail_msg("verify next: %d %s", st, err.message);
    promstore_series_iter_close(it);
    if (acked >= 0) {
        if (base_seen != N_BASE)
            fail_msg("%d of %d base series after kill (acked %ld)", base_seen, N_BASE, acked);
        long want_new = acked / NEW_EVERY + 1;
        if (new_seen != want_new)
            fail_msg("%d of %ld acknowledged new series after kill (acked %ld)", new_seen,
                     want_new, acked);
    }
    return samples;
}

/* The store works after the crash: a probe series takes a sample and gives it back. */
static void probe(promstore *db, int round)
{
    promstore_label ls[2] = {tu_label("__name__", "probe"), tu_label("who", "parent")};
    promstore_sample s = {T0 + round * INT64_C(1000), tu_bits((double)round)};
    promstore_series ser = {ls, 2, &s, 1};
    promstore_append_result res = tu_append_result();
    promstore_error err = {0};
    promstore_status st = promstore_append(db, &ser, 1, &res, &err);
    if (st != PROMSTORE_OK)
        fail_msg("append after kill: %d %s", st, err.message);
    assert_int_equal(res.samples_appended, 1);

    promstore_matcher m = {PROMSTORE_MATCH_EQ, "__name__", 8, "probe", 5};
    promstore_series_iter *it = NULL;
    assert_int_equal(promstore_query(db, &m, 1, INT64_MIN, INT64_MAX, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    int n = 0;
    promstore_sample got;
    while ((st = promstore_series_iter_sample(it, &got, &err)) == PROMSTORE_OK) {
        assert_int_equal(got.timestamp_ms, T0 + n * INT64_C(1000));
        assert_int_equal(got.value_bits, tu_bits((double)n));
        n++;
    }
    assert_int_equal(st, PROMSTORE_DONE);
    assert_int_equal(n, round + 1);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    promstore_series_iter_close(it);
}

/* --- tests ------------------------------------------------------------------ */

#define ROUNDS 18

static void test_kill9_rounds(void **state)
{
    tu_store *f = *state;
    long acked = -1;
    double worst_open = 0;
    /* Create the store first: a kill during creation is test_kill9_during_create's
     * subject; here every kill hits an existing store. */
    double took;
    tu_close(open_timed(f->dir, &took));
    for (int round = 0; round < ROUNDS; round++) {
        kill_plan plan = random_plan(round);
        double t_round = tu_now_s();
        round_out r = run_round(f->dir, acked, plan);
        t_round = tu_now_s() - t_round;
        promstore *db = f->db = open_timed(f->dir, &took);
        if (took > worst_open)
            worst_open = took;
        print_message("round %2d (%s, %d acks / %.1f ms planned): %d acks in %.1f ms, highest "
                      "batch %ld, %s; reopen %.1f ms\n",
                      round, plan.what, plan.after_acks, plan.after_s * 1e3, r.n_acks,
                      t_round * 1e3, r.acked, r.killed ? "killed" : "finished", took * 1e3);
        acked = r.acked;
        verify(db, acked, 0);
        probe(db, round);
        tu_store_close(f);
    }
    print_message("worst reopen after kill: %.1f ms, %ld batches acknowledged\n", worst_open * 1e3,
                  acked + 1);
    /* the rounds must have appended something, or the test tested nothing */
    assert_true(acked >= 0);

    /* A last clean open, append and reopen on top of the crashed history. */
    promstore *db = f->db = open_timed(f->dir, &took);
    static batch bt;
    for (long b = acked + 1; b < acked + 4; b++) {
        build_batch(&bt, (uint32_t)b);
        promstore_error err = {0};
        /* batch acked+1 may be in the store already: then it is a duplicate */
        assert_int_equal(promstore_append(db, bt.series, bt.n, NULL, &err), PROMSTORE_OK);
    }
    tu_store_close(f);
    db = f->db = open_timed(f->dir, &took);
    verify(db, acked + 3, 1);
    tu_store_close(f);
}

/* Kill the child while it creates the store; the next open must succeed. */
static void test_kill9_during_create(void **state)
{
    tu_store *f = *state;
    for (int i = 0; i < 20; i++) {
        char dir[4096]; /* on the stack: a failing check leaves nothing to free */
        /* not created yet: the child's open creates it */
        assert_true(snprintf(dir, sizeof dir, "%s/s%d", f->dir, i) < (int)sizeof dir);
        kill_plan plan = {"create", -1, (double)(rand() % 4000) / 1e6};
        round_out r = run_round(dir, -1, plan);
        print_message("create %d: killed %.2f ms after fork with %d acks\n", i,
                      plan.after_s * 1e3, r.n_acks);
        double took;
        promstore *db = f->db = open_timed(dir, &took);
        verify(db, r.acked, 0);
        probe(db, 0);
        tu_store_close(f);
    }
}

/* A clean close keeps everything, and the statistics with it. */
static void test_clean_close_reopen(void **state)
{
    tu_store *f = *state;
    f->opts.block_duration_ms = BLOCK_MS;
    tu_store_open(f);
    promstore *db = f->db;
    promstore_error err = {0};
    static batch bt;
    const long n = 60; /* six blocks */
    for (long b = 0; b < n; b++) {
        build_batch(&bt, (uint32_t)b);
        assert_int_equal(promstore_append(db, bt.series, bt.n, NULL, &err), PROMSTORE_OK);
    }
    promstore_stats before = tu_stats(db);
    assert_int_equal(before.series, N_BASE + (n - 1) / NEW_EVERY + 1);
    tu_store_close(f);

    double took;
    db = f->db = open_timed(f->dir, &took);
    print_message("reopen after clean close: %.1f ms\n", took * 1e3);
    uint64_t found = verify(db, n - 1, 1);
    assert_int_equal(found, (uint64_t)n * N_BASE * SPB + (uint64_t)((n - 1) / NEW_EVERY + 1) * SPB);
    assert_int_equal(found, before.samples);
    promstore_stats after = tu_stats(db);
    assert_int_equal(after.series, before.series);
    assert_int_equal(after.samples, before.samples);
    assert_int_equal(after.chunks, before.chunks);
    assert_int_equal(after.blocks, before.blocks);
    assert_int_equal(after.min_time_ms, T0);
    assert_int_equal(after.max_time_ms, sample_ts((uint32_t)(n - 1), SPB - 1));
    assert_string_equal(after.backend, tu_backend());
    /* and it goes on: the next batch appends, the previous one is a duplicate */
    build_batch(&bt, (uint32_t)(n - 1));
    promstore_append_result res = tu_append_result();
    assert_int_equal(promstore_append(db, bt.series, bt.n, &res, &err), PROMSTORE_OK);
    assert_int_equal(res.samples_duplicate, bt.n * SPB);
    assert_int_equal(res.samples_appended, 0);
    build_batch(&bt, (uint32_t)n);
    assert_int_equal(promstore_append(db, bt.series, bt.n, &res, &err), PROMSTORE_OK);
    verify(db, n, 1);
    tu_store_close(f);
}

int main(int argc, char **argv)
{
    const char *backend = tu_backend_from_argv(argc, argv);
    const char *env = getenv("PROMSTORE_TEST_SEED");
    g_seed = env != NULL ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("test_crash %s: seed %u (set PROMSTORE_TEST_SEED to repeat)\n", backend, g_seed);
    fflush(stdout);
    srand(g_seed);
    const struct CMUnitTest tests[] = {
        TU_TEST_CLOSED(test_kill9_rounds),
        TU_TEST_CLOSED(test_kill9_during_create),
        TU_TEST_CLOSED(test_clean_close_reopen),
    };
    return TU_RUN(argc, argv, "crash", tests);
}
