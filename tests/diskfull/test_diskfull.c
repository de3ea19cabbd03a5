/*
 * test_diskfull.c -- the store on a filesystem that fills up, against the real
 * `promstore` binary (tests/server/harness.h). Run once per backend:
 *
 *   test_diskfull BACKEND PATH-TO-promstore
 *
 * The test enters a private mount namespace (as root: unshare(CLONE_NEWNS);
 * otherwise a user namespace as `unshare -rm` makes one) and mounts a tmpfs of
 * FS_MB MiB there, so nothing it mounts is visible outside or can outlive it;
 * without either it exits 77 (ctest: skipped). The store lives on that tmpfs,
 * the server log outside it. Then, in order:
 *
 *   fill       write big requests (fresh series each time, so the index
 *              grows too) until the disk is full: every answer is 204 or 507,
 *              never 4xx; the server stays ready; remote read returns every
 *              acknowledged sample bit for bit and nothing else.
 *   free       delete a ballast file: the next write (later timestamps, the
 *              failed request is not retried) gets 204, and the samples of the
 *              failed requests appear nowhere (no phantom samples from the
 *              writer's in-memory state).
 *   retry      fill again, grow the filesystem (remount), send the very request
 *              that failed: 204, its samples read back exactly once; a second
 *              copy of it changes nothing.
 *   restart    SIGTERM (exit 0), start on the same store, read everything.
 *   full start fill the disk to the last byte while the server is down: a
 *              new store must fail with exit 1 naming the full disk; the
 *              existing store must start (reads work, writes get 507 until
 *              space is freed, then 204) or exit 1 naming the full disk;
 *              SIGTERM, restart, read all.
 *   retention  fill the disk, restart with a size limit of half the store:
 *              with nothing deleted, retention frees pages and a write gets
 *              204 within 30 s (LMDB); on SQLite every failed pass is counted
 *              and logged, and retention runs once space returns.
 *              Every 507 carries Retry-After: 10.
 *   log        one log line per 507, no sanitizer report.
 *
 * Whenever the server should be up it is checked to be alive and ready, its
 * /metrics to count every 507 as a storage_full limit hit, and (lmdb) its
 * lock.mdb to be fully allocated: a sparse reader table SIGBUSes a reader on
 * a full disk.
 *
 * What was sent is never kept: every sample is a function of (request number,
 * series, index), so the model is the set of requests that got 204. Each
 * answer prints one "CASE" line to stderr (the source of the table in
 * docs/RELIABILITY.md).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "harness.h"

#define SKIP_CODE 77

#define FS_MB 16       /* the small filesystem */
#define BALLAST_MB 4   /* deleted to free space */
#define BIG_FS_MB 48   /* size after the remount that frees space */

#define STEADY 8       /* series every request appends to */
#define STEADY_N 30    /* samples per steady series per request */
#define FRESH 200      /* new series per request */
#define FRESH_N 100    /* samples per new series */
#define MAX_SEQ 1024   /* requests per run, at most */
#define T0 INT64_C(1699999200000) /* the start of a 2 h block */
/*
 * Each request writes into a block of its own (the default block is 2 h), so
 * every request seals the steady series' heads of the block before into a
 * block table created by that request's transaction: a failed request also
 * rolls back a table creation.
 */
#define STEP_MS INT64_C(7200000)

/* --- State -------------------------------------------------------------------- */

static struct {
    char base[256];    /* mkdtemp: holds the mount point and the log */
    char mnt[300];     /* the tmpfs */
    char store[320];
    char ballast[320];
    char log[300];
    int mounted;
    h_server srv;
    unsigned seq;                  /* next request number */
    unsigned char acked[MAX_SEQ];  /* got 204 */
    unsigned short nfresh[MAX_SEQ];
    unsigned n507;                 /* 507 answers, all phases */
    unsigned starts;               /* server starts; log i is server-<i>.log */
    unsigned probes;               /* probe_start runs; log i is probe-<i>.log */
    unsigned n507_here;            /* 507 answers of the running server */
} F;


/* --- Mounts -------------------------------------------------------------------- */

static int write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * A private mount namespace, so that the tmpfs is ours alone and dies with
 * us. Must run before any thread exists (unshare of a user namespace
 * requires it). Returns 0, or -1 with the reason in why.
 */
static int enter_mount_namespace(char *why, size_t len)
{
    if (geteuid() != 0) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        char map[64];
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            snprintf(why, len, "not root and unshare(CLONE_NEWUSER|CLONE_NEWNS) failed: %s",
                     strerror(errno));
            return -1;
        }
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        if (write_proc("/proc/self/setgroups", "deny") != 0 ||
            write_proc("/proc/self/uid_map", map) != 0) {
            snprintf(why, len, "cannot write the user namespace's uid map: %s", strerror(errno));
            return -1;
        }
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (write_proc("/proc/self/gid_map", map) != 0) {
            snprintf(why, len, "cannot write the user namespace's gid map: %s", strerror(errno));
            return -1;
        }
    } else if (unshare(CLONE_NEWNS) != 0) {
        snprintf(why, len, "unshare(CLONE_NEWNS) failed: %s", strerror(errno));
        return -1;
    }
    /* Without this, mounts would propagate back to a shared parent mount. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(why, len, "cannot make / private in the new namespace: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int mount_tmpfs(unsigned mb, int remount)
{
    char opts[64];
    snprintf(opts, sizeof opts, "size=%um,mode=0755", mb);
    unsigned long flags = MS_NOSUID | MS_NODEV | (remount ? MS_REMOUNT : 0);
    return mount("tmpfs", F.mnt, "tmpfs", flags, opts);
}

static void unmount_all(void)
{
    if (F.srv.pid > 0)
        h_stop(&F.srv, SIGKILL);
    if (F.mounted) {
        if (umount2(F.mnt, MNT_DETACH) != 0)
            fprintf(stderr, "umount %s: %s\n", F.mnt, strerror(errno));
        F.mounted = 0;
    }
    if (F.base[0]) {
        if (getenv("KEEP") == NULL) {
            h_rmtree(F.base);
        } else {
            fprintf(stderr, "kept %s\n", F.base);
        }
        F.base[0] = '\0';
    }
}

static void on_signal(int sig)
{
    /* The namespace would take the mount with it anyway; be tidy. */
    unmount_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Free bytes on the tmpfs. */
static uint64_t fs_free(void)
{
    struct statvfs sv;
    assert_int_equal(statvfs(F.mnt, &sv), 0);
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* Write `bytes` (or, with bytes == 0, everything that fits) into path. */
static uint64_t fill_file(const char *path, uint64_t bytes)
{
    static char chunk[64 << 10];
    memset(chunk, 0xa5, sizeof chunk);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    uint64_t done = 0;
    size_t piece = sizeof chunk;
    while (bytes == 0 || done < bytes) {
        size_t n = piece;
        if (bytes && bytes - done < n)
            n = (size_t)(bytes - done);
        ssize_t w = write(fd, chunk, n);
        if (w > 0) {
            done += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == ENOSPC && bytes == 0) {
            if (piece == 1)
                break;
            piece = 1; /* the last partial page, byte by byte */
            continue;
        }
        fail_msg("writing %s: %s", path, w < 0 ? strerror(errno) : "wrote nothing");
    }
    assert_int_equal(close(fd), 0);
    return done;
}

/* The store's files and their allocated sizes, for the record. */
static void show_files(const char *phase)
{
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof line, "FILES %s | %s |", h_backend, phase);
    DIR *d = opendir(F.store);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL && n < sizeof line - 80) {
        char path[700];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", F.store, e->d_name);
        if (stat(path, &st) == 0 && st.st_size > 64)
            n += (size_t)snprintf(line + n, sizeof line - n, " %s %.1f MiB", e->d_name,
                                  (double)st.st_blocks * 512 / (1 << 20));
    }
    if (d)
        closedir(d);
    fprintf(stderr, "%s | %.1f MiB free\n", line, (double)fs_free() / (1 << 20));
}

/* --- Server ---------------------------------------------------------------------- */

/* Start the server, each start with its own log file; 0, or -1 if it exited. */
/* Start the server on the store; extra is one more flag, or NULL. */
static int try_start_with(const char *extra)
{
    char path_flag[400];
    snprintf(path_flag, sizeof path_flag, "--storage.path=%s", F.store);
    /* Every 507 must be logged (test_log), so no limit on rejected-request lines. */
    const char *argv[] = {path_flag, "--web.listen-address=127.0.0.1:0", "--web.threads=4",
                          "--log.rejected-lines=0", extra, NULL};
    snprintf(F.log, sizeof F.log, "%s/server-%u.log", F.base, ++F.starts);
    F.n507_here = 0;
    return h_start(&F.srv, F.log, argv);
}

static int try_start(void)
{
    return try_start_with(NULL);
}

static void start(void)
{
    if (try_start() != 0) {
        h_dump_log(F.log);
        fail_msg("the server did not start");
    }
}

/*
 * Start the server on `store` and watch it: 0 once it logs "Listening on"
 * (then it is stopped again with SIGTERM, which must give exit 0), or its exit
 * code when it exits first; the first error line of its log in msg. The
 * harness's h_start cannot tell an exit code, which is the point here.
 */
static int probe_start(const char *store, char *msg, size_t len)
{
    char path_flag[400], log[400];
    snprintf(path_flag, sizeof path_flag, "--storage.path=%s", store);
    snprintf(log, sizeof log, "%s/probe-%u.log", F.base, ++F.probes);
    char backend_flag[64];
    snprintf(backend_flag, sizeof backend_flag, "--storage.backend=%s", h_backend);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, STDERR_FILENO);
        execl(h_binary, h_binary, backend_flag, path_flag, "--web.listen-address=127.0.0.1:0",
              (char *)NULL);
        _exit(127);
    }
    int code = -1, status;
    for (int i = 0; i < 1500 && code == -1; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        char *text = h_slurp(log);
        int listening = strstr(text, "msg=\"Listening on\"") != NULL;
        free(text);
        if (listening) {
            kill(pid, SIGTERM);
            assert_int_equal(waitpid(pid, &status, 0), pid);
            assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            code = 0;
            break;
        }
        struct timespec tick = {0, 20 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    if (code == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the server neither listened nor exited in 30 s (log %s)", log);
    }
    char *text = h_slurp(log);
    const char *line = strstr(text, "level=error");
    snprintf(msg, len, "%.*s", line ? (int)strcspn(line, "\n") : 0, line ? line : "");
    free(text);
    return code;
}

static void url(char *out, size_t len, const char *path)
{
    snprintf(out, len, "http://127.0.0.1:%d%s", F.srv.port, path);
}

static long get(const char *path, h_response *r)
{
    char u[128];
    url(u, sizeof u, path);
    return h_http("GET", u, NULL, NULL, 0, r) == 0 ? r->status : -1;
}

/* The process is alive, healthy and ready; /metrics renders. */
static void still_serving(void)
{
    h_response r;
    int status;
    if (waitpid(F.srv.pid, &status, WNOHANG) == F.srv.pid) {
        F.srv.pid = 0;
        h_dump_log(F.log);
        fail_msg("the server died (wait status %d)", status);
    }
    assert_int_equal(get("/-/healthy", &r), 200);
    h_response_free(&r);
    assert_int_equal(get("/-/ready", &r), 200);
    h_response_free(&r);
    assert_int_equal(get("/metrics", &r), 200);
    assert_non_null(strstr(r.body, "promstore_storage_bytes"));
    /* Every 507 is counted as a storage_full limit hit. */
    const char *hits = strstr(r.body, "promstore_limit_hits_total{limit=\"storage_full\"} ");
    assert_non_null(hits);
    unsigned long n = strtoul(strchr(hits, '}') + 2, NULL, 10);
    if (n != F.n507_here)
        fail_msg("storage_full limit hits %lu, but this server answered %u times 507", n,
                 F.n507_here);
    h_response_free(&r);
    if (strcmp(h_backend, "lmdb") == 0) {
        /* LMDB's reader table must be allocated, or a full disk SIGBUSes a reader. */
        char lock[400];
        struct stat st;
        snprintf(lock, sizeof lock, "%s/lock.mdb", F.store);
        assert_int_equal(stat(lock, &st), 0);
        if ((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size)
            fail_msg("lock.mdb is sparse: %lld bytes, %lld allocated", (long long)st.st_size,
                     (long long)st.st_blocks * 512);
    }
}

/* --- Data ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Sample values: 53 random mantissa bits, so chunks do not compress. */
static double value_of(unsigned kind, unsigned seq, unsigned idx, unsigned j)
{
    uint64_t h = mix64(((uint64_t)kind << 62) ^ ((uint64_t)seq << 40) ^ ((uint64_t)idx << 20) ^ j);
    return (double)(h >> 11) * 0x1p-53 * 1e6;
}

static int64_t steady_t(unsigned seq, unsigned j)
{
    return T0 + (int64_t)seq * STEP_MS + (int64_t)j * 1000;
}

static int64_t fresh_t(unsigned seq, unsigned j)
{
    return T0 + (int64_t)seq * STEP_MS + (int64_t)j * 1000;
}

/* A long label value, unique per series, so each new series costs index space. */
static void pad_value(char *out, size_t len, unsigned seq, unsigned idx)
{
    int n = snprintf(out, len, "%05u-%03u-", seq, idx);
    memset(out + n, 'a' + (int)((seq + idx) % 26), len - (size_t)n - 1);
    out[len - 1] = '\0';
}

static void snappy_block(h_buf *out, const h_buf *raw)
{
    size_t n = snappy_max_compressed_length(raw->len);
    out->p = malloc(n);
    assert_non_null(out->p);
    assert_int_equal(snappy_compress((const char *)raw->p, raw->len, (char *)out->p, &n),
                     SNAPPY_OK);
    out->len = out->cap = n;
}

/* Request seq: every steady series gets STEADY_N samples, plus nfresh new series. */
static void build_request(unsigned seq, h_buf *body)
{
    h_buf req = {0};
    char v[32], pad[200];
    for (unsigned k = 0; k < STEADY; k++) {
        h_buf ts = {0};
        snprintf(v, sizeof v, "%u", k);
        h_put_label(&ts, "__name__", "diskfull_steady");
        h_put_label(&ts, "idx", v);
        for (unsigned j = 0; j < STEADY_N; j++)
            h_put_sample(&ts, 2, steady_t(seq, j), value_of(0, seq, k, j));
        h_put_bytes(&req, 1, ts.p, ts.len);
        h_buf_free(&ts);
    }
    for (unsigned i = 0; i < F.nfresh[seq]; i++) {
        h_buf ts = {0};
        h_put_label(&ts, "__name__", "diskfull_fresh");
        snprintf(v, sizeof v, "%u", i);
        h_put_label(&ts, "idx", v);
        pad_value(pad, sizeof pad, seq, i);
        h_put_label(&ts, "pad", pad);
        snprintf(v, sizeof v, "%u", seq);
        h_put_label(&ts, "req", v);
        for (unsigned j = 0; j < FRESH_N; j++)
            h_put_sample(&ts, 2, fresh_t(seq, j), value_of(1, seq, i, j));
        h_put_bytes(&req, 1, ts.p, ts.len);
        h_buf_free(&ts);
    }
    snappy_block(body, &req);
    h_buf_free(&req);
}

/* --- Writing ------------------------------------------------------------------- */

/* The first line of a body, for messages. */
static void first_line(const h_response *r, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)(r->body ? strcspn(r->body, "\n") : 0),
             r->body ? r->body : "");
}

/*
 * POST a body; the answer must be 204 or 507 with a message that names the
 * full disk (never 4xx: Prometheus would drop the data). Returns the status.
 */
static long post(const char *phase, unsigned seq, const h_buf *body)
{
    char u[128], msg[400];
    h_response r;
    url(u, sizeof u, "/api/v1/write");
    long st = h_http("POST", u, h_write_headers, body->p, body->len, &r) == 0 ? r.status : -1;
    first_line(&r, msg, sizeof msg);
    fprintf(stderr, "CASE %s | %s | request %u (%u new series, %zu bytes) | %ld | %s\n",
            h_backend, phase, seq, F.nfresh[seq], body->len, st, msg);
    if (st == 507) {
        F.n507++;
        F.n507_here++;
        if (strcasestr(msg, "no space left on device") == NULL) {
            h_dump_log(F.log);
            fail_msg("507 without \"no space left on device\" in its message: %s", msg);
        }
        /* Senders are told to back off: retention or an operator must act first. */
        char retry[32];
        if (h_header(&r, "Retry-After", retry, sizeof retry) != 0 || strcmp(retry, "10") != 0)
            fail_msg("507 without \"Retry-After: 10\" (got \"%s\")",
                     h_header(&r, "Retry-After", retry, sizeof retry) ? "" : retry);
    } else if (st != 204) {
        h_dump_log(F.log);
        fail_msg("%s: request %u answered %ld, want 204 or 507: %s", phase, seq, st, msg);
    }
    h_response_free(&r);
    return st;
}

/* Build, send and account request seq. */
static long write_seq(const char *phase, unsigned seq, unsigned nfresh)
{
    assert_true(seq < MAX_SEQ);
    F.nfresh[seq] = (unsigned short)nfresh;
    h_buf body = {0};
    build_request(seq, &body);
    long st = post(phase, seq, &body);
    h_buf_free(&body);
    if (st == 204)
        F.acked[seq] = 1;
    return st;
}

/* Write new requests until one gets 507; returns its number. */
static unsigned fill_until_full(const char *phase, unsigned min_acked, unsigned max_requests)
{
    unsigned acked = 0;
    for (unsigned n = 0; n < max_requests; n++) {
        unsigned seq = F.seq++;
        if (write_seq(phase, seq, FRESH) == 507) {
            if (acked < min_acked) {
                h_dump_log(F.log);
                fail_msg("%s: full after only %u acknowledged requests", phase, acked);
            }
            return seq;
        }
        acked++;
    }
    h_dump_log(F.log);
    fail_msg("%s: no 507 after %u requests (%llu bytes free)", phase, max_requests,
             (unsigned long long)fs_free());
    return 0;
}

/* --- Reading and checking ------------------------------------------------------- */

typedef struct pb {
    const uint8_t *p, *end;
} pb;

typedef struct pb_field {
    unsigned num, wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
} pb_field;

static int pb_varint(pb *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* 1 at the end, 0 with a field, -1 on bad input. */
static int pb_next(pb *r, pb_field *f)
{
    uint64_t key;
    if (r->p == r->end)
        return 1;
    if (pb_varint(r, &key) != 0)
        return -1;
    f->num = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8)
            return -1;
        f->v = 0;
        for (int k = 0; k < 8; k++)
            f->v |= (uint64_t)r->p[k] << (8 * k);
        r->p += 8;
        return 0;
    case 2:
        if (pb_varint(r, &f->v) != 0 || f->v > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return 0;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 0;
    default:
        return -1;
    }
}

/* A ReadRequest for __name__ =~ "diskfull_.+" over all the test's time, SAMPLES. */
static void read_request(h_buf *out)
{
    h_buf m = {0}, q = {0}, req = {0};
    h_put_varint(&m, 1 << 3 | 0);
    h_put_varint(&m, 2); /* RE */
    h_put_bytes(&m, 2, "__name__", 8);
    h_put_bytes(&m, 3, "diskfull_.+", 11);
    h_put_varint(&q, 1 << 3 | 0);
    h_put_varint(&q, (uint64_t)(T0 - 1000));
    h_put_varint(&q, 2 << 3 | 0);
    h_put_varint(&q, (uint64_t)(T0 + (MAX_SEQ + 1) * STEP_MS));
    h_put_bytes(&q, 3, m.p, m.len);
    h_put_bytes(&req, 1, q.p, q.len);
    h_put_varint(&req, 2 << 3 | 0);
    h_put_varint(&req, 0); /* SAMPLES */
    snappy_block(out, &req);
    h_buf_free(&m);
    h_buf_free(&q);
    h_buf_free(&req);
}

/* Check one series' samples against the model; returns how many it had. */
static size_t check_series(const char *phase, const pb_field *series, unsigned kind,
                           unsigned seq_of_fresh, unsigned idx)
{
    pb r = {series->data, series->data + series->len};
    pb_field f;
    unsigned seq = kind == 0 ? 0 : seq_of_fresh;
    unsigned j = 0;
    size_t n = 0;
    /* Advance (seq, j) to the next expected sample. */
#define SKIP_UNACKED()                                                         \
    do {                                                                       \
        if (kind == 0)                                                         \
            while (seq < F.seq && !F.acked[seq])                               \
                seq++;                                                         \
    } while (0)
    SKIP_UNACKED();
    int rc;
    while ((rc = pb_next(&r, &f)) == 0) {
        if (f.num != 2 || f.wire != 2)
            continue;
        pb s = {f.data, f.data + f.len};
        pb_field g;
        int64_t t = 0;
        uint64_t bits = 0;
        while (pb_next(&s, &g) == 0) {
            if (g.num == 1 && g.wire == 1)
                bits = g.v;
            else if (g.num == 2 && g.wire == 0)
                t = (int64_t)g.v;
        }
        int more = kind == 0 ? seq < F.seq : j < FRESH_N;
        if (!more)
            fail_msg("%s: %s series idx=%u has an extra sample at %lld (a phantom or a "
                     "duplicate)", phase, kind ? "fresh" : "steady", idx, (long long)t);
        int64_t want_t = kind == 0 ? steady_t(seq, j) : fresh_t(seq, j);
        double want_v = value_of(kind, seq, idx, j);
        uint64_t want_bits;
        memcpy(&want_bits, &want_v, 8);
        if (t != want_t || bits != want_bits)
            fail_msg("%s: %s series idx=%u (request %u) sample %zu: got (%lld, %016llx), "
                     "want (%lld, %016llx)",
                     phase, kind ? "fresh" : "steady", idx, seq, n, (long long)t,
                     (unsigned long long)bits, (long long)want_t,
                     (unsigned long long)want_bits);
        n++;
        if (kind == 0 && ++j == STEADY_N) {
            j = 0;
            seq++;
            SKIP_UNACKED();
        } else if (kind == 1) {
            j++;
        }
    }
#undef SKIP_UNACKED
    assert_int_equal(rc, 1);
    int missing = kind == 0 ? seq < F.seq : j < FRESH_N;
    if (missing)
        fail_msg("%s: %s series idx=%u lacks acknowledged samples from request %u on "
                 "(it has %zu)", phase, kind ? "fresh" : "steady", idx, seq, n);
    return n;
}

/*
 * Read every test series back: exactly the acknowledged samples, bit for bit,
 * each once, and no series or sample of a request that failed.
 */
static void verify_all(const char *phase)
{
    char u[128];
    h_buf body = {0};
    h_response r;
    read_request(&body);
    url(u, sizeof u, "/api/v1/read");
    long st = h_http("POST", u, h_read_headers, body.p, body.len, &r) == 0 ? r.status : -1;
    h_buf_free(&body);
    if (st != 200) {
        h_dump_log(F.log);
        fail_msg("%s: remote read answered %ld: %s", phase, st, r.body);
    }
    size_t raw_len;
    assert_int_equal(snappy_uncompressed_length(r.body, r.body_len, &raw_len), SNAPPY_OK);
    char *raw = malloc(raw_len + 1);
    assert_non_null(raw);
    assert_int_equal(snappy_uncompress(r.body, r.body_len, raw, &raw_len), SNAPPY_OK);
    h_response_free(&r);

    unsigned char *seen = calloc((size_t)MAX_SEQ * FRESH, 1);
    unsigned char steady_seen[STEADY] = {0};
    assert_non_null(seen);
    size_t n_series = 0, n_samples = 0;
    pb top = {(const uint8_t *)raw, (const uint8_t *)raw + raw_len};
    pb_field res;
    int rc;
    while ((rc = pb_next(&top, &res)) == 0) {
        if (res.num != 1 || res.wire != 2)
            continue;
        pb qr = {res.data, res.data + res.len};
        pb_field ts;
        while ((rc = pb_next(&qr, &ts)) == 0) {
            if (ts.num != 1 || ts.wire != 2)
                continue;
            char name[64] = "", idx[16] = "", req[16] = "";
            pb lr = {ts.data, ts.data + ts.len};
            pb_field lf;
            while (pb_next(&lr, &lf) == 0) {
                if (lf.num != 1 || lf.wire != 2)
                    continue;
                pb l = {lf.data, lf.data + lf.len};
                pb_field nf, vf = {0};
                const uint8_t *nm = NULL;
                size_t nl = 0;
                while (pb_next(&l, &nf) == 0) {
                    if (nf.num == 1 && nf.wire == 2)
                        nm = nf.data, nl = nf.len;
                    else if (nf.num == 2 && nf.wire == 2)
                        vf = nf;
                }
                char *dst = NULL;
                size_t cap = 0;
                if (nl == 8 && memcmp(nm, "__name__", 8) == 0)
                    dst = name, cap = sizeof name;
                else if (nl == 3 && memcmp(nm, "idx", 3) == 0)
                    dst = idx, cap = sizeof idx;
                else if (nl == 3 && memcmp(nm, "req", 3) == 0)
                    dst = req, cap = sizeof req;
                if (dst)
                    snprintf(dst, cap, "%.*s", (int)vf.len, (const char *)vf.data);
            }
            unsigned i = (unsigned)strtoul(idx, NULL, 10);
            n_series++;
            if (strcmp(name, "diskfull_steady") == 0) {
                assert_true(i < STEADY);
                assert_int_equal(steady_seen[i], 0);
                steady_seen[i] = 1;
                n_samples += check_series(phase, &ts, 0, 0, i);
            } else if (strcmp(name, "diskfull_fresh") == 0) {
                unsigned seq = (unsigned)strtoul(req, NULL, 10);
                if (seq >= F.seq || !F.acked[seq] || i >= F.nfresh[seq])
                    fail_msg("%s: series of request %u (idx %u) is stored, but that request "
                             "was not acknowledged", phase, seq, i);
                assert_int_equal(seen[(size_t)seq * FRESH + i], 0);
                seen[(size_t)seq * FRESH + i] = 1;
                n_samples += check_series(phase, &ts, 1, seq, i);
            } else {
                fail_msg("%s: unexpected series %s", phase, name);
            }
        }
        assert_int_equal(rc, 1);
    }
    assert_int_equal(rc, 1);
    size_t want_series = 0;
    int any = 0;
    for (unsigned s = 0; s < F.seq; s++)
        if (F.acked[s]) {
            want_series += F.nfresh[s];
            any = 1;
        }
    want_series += any ? STEADY : 0;
    if (n_series != want_series)
        fail_msg("%s: %zu series read back, want %zu", phase, n_series, want_series);
    fprintf(stderr, "CHECK %s | %s | %zu series, %zu samples read back bit for bit\n",
            h_backend, phase, n_series, n_samples);
    show_files(phase);
    free(seen);
    free(raw);
}

/* --- The phases ----------------------------------------------------------------- */

static unsigned retry_seq; /* the request phase 3 retries */

static void test_fill(void **state)
{
    (void)state;
    start();
    fill_until_full("fill", 3, 200);
    still_serving();
    verify_all("fill: full");
    /* More of the same while full: still 507 (or 204 where freed pages fit). */
    for (int i = 0; i < 3; i++)
        write_seq("fill: while full", F.seq++, FRESH);
    /* A small request, no new series, too. */
    write_seq("fill: small while full", F.seq++, 0);
    still_serving();
    verify_all("fill: after more writes");
}

static void test_free_then_write(void **state)
{
    (void)state;
    assert_int_equal(unlink(F.ballast), 0);
    fprintf(stderr, "CASE %s | free | deleted the %u MiB ballast | %llu bytes free\n", h_backend,
            BALLAST_MB, (unsigned long long)fs_free());
    /* The failed requests are not retried: later timestamps come first. */
    for (int i = 0; i < 3; i++) {
        unsigned seq = F.seq++;
        if (write_seq("free: new request", seq, FRESH) != 204) {
            h_dump_log(F.log);
            fail_msg("a write after freeing space did not get 204");
        }
    }
    still_serving();
    verify_all("free: no phantom samples");
}

static void test_retry_after_remount(void **state)
{
    (void)state;
    retry_seq = fill_until_full("retry: fill", 1, 200);
    still_serving();
    verify_all("retry: full");
    assert_int_equal(mount_tmpfs(BIG_FS_MB, 1), 0);
    fprintf(stderr, "CASE %s | retry | remounted at %u MiB | %llu bytes free\n", h_backend,
            BIG_FS_MB, (unsigned long long)fs_free());
    /* The very request that failed, as Prometheus retries it. */
    h_buf body = {0};
    build_request(retry_seq, &body);
    assert_int_equal(post("retry: same request", retry_seq, &body), 204);
    F.acked[retry_seq] = 1;
    verify_all("retry: stored once");
    /* A second copy (a retry whose 204 was lost): duplicates, nothing changes. */
    assert_int_equal(post("retry: same request again", retry_seq, &body), 204);
    h_buf_free(&body);
    verify_all("retry: still once");
    assert_int_equal(write_seq("retry: next request", F.seq++, FRESH), 204);
    verify_all("retry: next request");
}

static void test_restart(void **state)
{
    (void)state;
    h_stop_ok(&F.srv, SIGTERM, F.log);
    start();
    still_serving();
    verify_all("restart");
    assert_int_equal(write_seq("restart: write", F.seq++, FRESH), 204);
    verify_all("restart: write");
}

static void test_start_on_full_disk(void **state)
{
    (void)state;
    char ballast2[400], fresh[400], msg[600];
    h_stop_ok(&F.srv, SIGTERM, F.log);
    snprintf(ballast2, sizeof ballast2, "%s/ballast2", F.mnt);
    uint64_t n = fill_file(ballast2, 0);
    fprintf(stderr, "CASE %s | full start | filled the disk with %llu bytes | %llu bytes free\n",
            h_backend, (unsigned long long)n, (unsigned long long)fs_free());
    /* A new store cannot be made on a full disk: exit 1, saying why. */
    snprintf(fresh, sizeof fresh, "%s/fresh", F.mnt);
    int code = probe_start(fresh, msg, sizeof msg);
    fprintf(stderr, "CASE %s | full start | new store | exit %d | %s\n", h_backend, code, msg);
    if (code != 1 || strcasestr(msg, "no space left on device") == NULL)
        fail_msg("a new store on a full disk: exit %d, want 1 naming the full disk: %s", code,
                 msg);
    /* The existing store: it starts, or exits 1 saying why; never a crash. */
    code = probe_start(F.store, msg, sizeof msg);
    fprintf(stderr, "CASE %s | full start | existing store | exit %d | %s\n", h_backend, code,
            code == 0 ? "started, ready" : msg);
    if (code == 0) {
        start();
        still_serving();
        verify_all("full start: read");
        /* Free pages inside the store may take a request or two first. */
        fill_until_full("full start: write", 0, 20);
        still_serving();
        verify_all("full start: full");
    } else if (code != 1 || strcasestr(msg, "no space left on device") == NULL) {
        fail_msg("the server did not start on a full disk and did not say why (exit %d): %s",
                 code, msg);
    }
    assert_int_equal(unlink(ballast2), 0);
    if (F.srv.pid <= 0)
        start();
    assert_int_equal(write_seq("full start: after freeing", F.seq++, FRESH), 204);
    still_serving();
    verify_all("full start: freed");
    h_stop_ok(&F.srv, SIGTERM, F.log);
    start();
    still_serving();
    verify_all("full start: restarted");
}

/* A counter or labelled series of /metrics, by its full name. */
static unsigned long long metric(const char *name)
{
    h_response r;
    assert_int_equal(get("/metrics", &r), 200);
    char want[160];
    snprintf(want, sizeof want, "\n%s ", name);
    const char *p = strstr(r.body, want);
    if (p == NULL)
        fail_msg("/metrics has no %s", name);
    unsigned long long v = strtoull(p + strlen(want), NULL, 10);
    h_response_free(&r);
    return v;
}

/*
 * A full store frees itself once retention allows it: fill the disk, restart
 * with a size limit of half the store, delete nothing. On LMDB the
 * maintenance thread drops the oldest blocks although every write fails
 * (LMDB rewrites into free pages of its file), and within 30 s a new write
 * gets 204. On SQLite the pass cannot commit on a disk this full -- its WAL
 * holds pages that a checkpoint could only write by growing the database
 * file, and a delete must grow the WAL first -- so there the test asserts
 * that the failures are surfaced (counted in /metrics, one log line each),
 * and that retention runs once space comes back. (Retention removes
 * acknowledged samples on purpose, so the model of verify_all() ends here.)
 */
static void test_retention_frees_full_store(void **state)
{
    (void)state;
    fill_until_full("retention: fill", 1, 400);
    uint64_t used = metric("promstore_storage_bytes");
    still_serving();
    h_stop_ok(&F.srv, SIGTERM, F.log);
    char limit[64];
    snprintf(limit, sizeof limit, "--storage.retention.size=%lluB", (unsigned long long)(used / 2));
    fprintf(stderr, "CASE %s | retention | restart with %s on a full disk (%llu bytes free)\n",
            h_backend, limit, (unsigned long long)fs_free());
    if (try_start_with(limit) != 0) {
        h_dump_log(F.log);
        fail_msg("the server did not start with %s", limit);
    }
    int lmdb = strcmp(h_backend, "lmdb") == 0;
    long st = 0;
    unsigned long long errors = 0, blocks = 0;
    /* Free pages inside LMDB's file may take a write before retention has run. */
    for (int i = 0; i < 300 && (st != 204 || blocks == 0) && (lmdb || errors < 3); i++) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
        st = write_seq("retention: write", F.seq++, FRESH);
        errors = metric("promstore_retention_errors_total");
        blocks = metric("promstore_retention_dropped_total{kind=\"blocks\"}");
    }
    unsigned long long runs = metric("promstore_retention_runs_total");
    fprintf(stderr,
            "CASE %s | retention | %llu passes (%llu failed) dropped %llu blocks; write answered "
            "%ld\n",
            h_backend, runs, errors, blocks, st);
    if (!lmdb) {
        /* Each failed pass was logged, naming the full disk. */
        char *log = h_slurp(F.log);
        unsigned lines = 0;
        for (const char *p = log; (p = strstr(p, "msg=\"Retention failed\"")) != NULL; p++)
            lines++;
        int names_disk = strcasestr(log, "Retention failed\" err=\"sqlite: commit: no space") != NULL;
        free(log);
        if (errors < 3 || lines < errors || !names_disk)
            fail_msg("sqlite on a full disk: %llu failed passes, %u log lines (names the disk: "
                     "%d); want every failure counted and logged",
                     errors, lines, names_disk);
        /* Space comes back: the next pass drops blocks and writes succeed. */
        assert_int_equal(mount_tmpfs(BIG_FS_MB + 16, 1), 0);
        for (int i = 0; i < 300 && st != 204; i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
            st = write_seq("retention: write after remount", F.seq++, FRESH);
        }
        for (int i = 0; i < 300 && blocks == 0; i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
            blocks = metric("promstore_retention_dropped_total{kind=\"blocks\"}");
        }
        fprintf(stderr, "CASE %s | retention | after remount: write %ld, %llu blocks dropped\n",
                h_backend, st, blocks);
    }
    if (st != 204) {
        h_dump_log(F.log);
        fail_msg("no write got 204 within 30 s of retention (%llu passes, %llu failed, %llu "
                 "blocks dropped)",
                 runs, errors, blocks);
    }
    assert_true(blocks > 0);
    assert_true(metric("promstore_storage_bytes") <= used / 2 + used / 8);
    still_serving();
}

/* Every 507 was logged once: no flood, no silence; no crash or assertion in the log. */
static void test_log(void **state)
{
    (void)state;
    h_stop_ok(&F.srv, SIGTERM, F.log);
    unsigned lines = 0, bad = 0;
    for (unsigned i = 1; i <= F.starts; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/server-%u.log", F.base, i);
        char *log = h_slurp(path);
        for (const char *p = log; (p = strstr(p, "code=507")) != NULL; p++)
            lines++;
        if (strstr(log, "AddressSanitizer") || strstr(log, "runtime error") ||
            strstr(log, "level=error msg=\"Closing"))
            bad++;
        free(log);
    }
    fprintf(stderr, "CHECK %s | log | %u 507 answers, %u log lines with code=507\n", h_backend,
            F.n507, lines);
    if (lines != F.n507 || bad) {
        h_dump_log(F.log);
        fail_msg("log: %u lines with code=507 for %u answers; %u logs with errors", lines,
                 F.n507, bad);
    }
}

/* --- Setup ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(F.base, sizeof F.base, "%s/promstore-diskfull-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(F.base) == NULL) {
        F.base[0] = '\0';
        return -1;
    }
    snprintf(F.mnt, sizeof F.mnt, "%s/fs", F.base);
    snprintf(F.store, sizeof F.store, "%s/store", F.mnt);
    snprintf(F.ballast, sizeof F.ballast, "%s/ballast", F.mnt);
    if (mkdir(F.mnt, 0755) != 0 || mount_tmpfs(FS_MB, 0) != 0)
        return -1; /* main() checked that mounting works */
    F.mounted = 1;
    fill_file(F.ballast, (uint64_t)BALLAST_MB << 20);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unmount_all();
    return 0;
}

/* Can we mount a tmpfs here? 0, or -1 with the reason. */
static int probe_mount(char *why, size_t len)
{
    char dir[] = "/tmp/promstore-diskfull-probe-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        snprintf(why, len, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    int rc = mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m");
    if (rc != 0)
        snprintf(why, len, "mount -t tmpfs failed: %s", strerror(errno));
    else
        umount2(dir, MNT_DETACH);
    rmdir(dir);
    return rc;
}

int main(int argc, char **argv)
{
    h_args(argc, argv);
    char why[256];
    if (enter_mount_namespace(why, sizeof why) != 0 || probe_mount(why, sizeof why) != 0) {
        fprintf(stderr, "SKIP: cannot make a small filesystem for the disk-full test (%s); "
                        "run as root or enable unprivileged user namespaces\n", why);
        return SKIP_CODE;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    atexit(unmount_all);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_free_then_write),
        cmocka_unit_test(test_retry_after_remount),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_start_on_full_disk),
        cmocka_unit_test(test_retention_frees_full_store),
        cmocka_unit_test(test_log),
    };
    char group[64];
    snprintf(group, sizeof group, "diskfull_%s", h_backend);
    int failed = cmocka_run_group_tests_name(group, tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
