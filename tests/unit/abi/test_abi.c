/*
 * test_abi.c -- backend-independent facts of the public ABI (abi/promstore.h),
 * checked through the shared object only:
 *
 *   - the numeric values of promstore_status and promstore_match_type (they
 *     are ABI: a Go or Python binding hard-codes them);
 *   - promstore_strerror() for every code and for an unknown one;
 *   - promstore_version()/promstore_version_number() against the macros;
 *   - the layout of the frozen structs (pinned on LP64), struct_size first in
 *     the growable ones;
 *   - promstore_options_init() defaults, and struct_size honoured for the
 *     options, append-result and stats structs (older callers' structs are
 *     shorter and must not be written past their end);
 *   - NULL handles are no-ops for the close calls, NULL arguments are refused
 *     with PROMSTORE_E_INVALID and a message, *out is NULLed on error, and a
 *     successful call leaves *err untouched;
 *   - an unknown backend is refused naming it; a second open of a directory
 *     (same process or a child process) gives PROMSTORE_E_BUSY; opening a store
 *     with the other backend gives PROMSTORE_E_CORRUPT;
 *   - promstore_series_iter_labels_v2() and its 1.0 form: the labels of the
 *     current series, and MISUSE/INVALID with a message in *err (v2) when
 *     there is none or an argument is NULL;
 *   - the shared object exports exactly the public functions (read with nm -D
 *     from the file the dynamic loader actually mapped, found with dladdr),
 *     each under the symbol version of the release that added it (PROMSTORE_1
 *     or PROMSTORE_1.1, also resolved with dlvsym), with SONAME
 *     libpromstore.so.1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "promstore.h"
#include "testutil.h"

static const char *const k_backends[] = {"lmdb", "sqlite"};

/* An error struct pre-filled with a sentinel, to see whether a call wrote it. */
static void err_sentinel(promstore_error *err)
{
    memset(err, 0, sizeof *err);
    err->status = (promstore_status)12345;
    strcpy(err->message, "sentinel");
}

static void assert_err_untouched(const promstore_error *err)
{
    assert_int_equal(err->status, 12345);
    assert_string_equal(err->message, "sentinel");
}

/* The call failed with `want`, and err says so with a non-empty message. */
static void assert_failed_with(promstore_status got, const promstore_error *err,
                               promstore_status want)
{
    assert_int_equal(got, want);
    assert_int_equal(err->status, want);
    assert_true(err->message[0] != '\0');
    assert_string_not_equal(err->message, "sentinel");
    /* The message is always NUL-terminated inside the buffer. */
    assert_non_null(memchr(err->message, '\0', sizeof err->message));
}

static promstore_status open_store(const char *backend, const char *path,
                                   promstore **db, promstore_error *err)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = backend;
    o.path = path;
    return promstore_open(&o, db, err);
}

/* --- Numeric values ------------------------------------------------------ */

static void test_status_values(void **state)
{
    (void)state;
    /* Pinned both at compile time and at run time (the header is the ABI). */
    _Static_assert(PROMSTORE_OK == 0, "OK");
    _Static_assert(PROMSTORE_E_UNSUPPORTED == -13, "last code");
    assert_int_equal(PROMSTORE_OK, 0);
    assert_int_equal(PROMSTORE_DONE, 1);
    assert_int_equal(PROMSTORE_E_INVALID, -1);
    assert_int_equal(PROMSTORE_E_MISUSE, -2);
    assert_int_equal(PROMSTORE_E_NOMEM, -3);
    assert_int_equal(PROMSTORE_E_IO, -4);
    assert_int_equal(PROMSTORE_E_FULL, -5);
    assert_int_equal(PROMSTORE_E_BUSY, -6);
    assert_int_equal(PROMSTORE_E_CORRUPT, -7);
    assert_int_equal(PROMSTORE_E_BAD_LABELS, -8);
    assert_int_equal(PROMSTORE_E_OUT_OF_ORDER, -9);
    assert_int_equal(PROMSTORE_E_BAD_MATCHER, -10);
    assert_int_equal(PROMSTORE_E_LIMIT, -11);
    assert_int_equal(PROMSTORE_E_NOT_FOUND, -12);
    assert_int_equal(PROMSTORE_E_UNSUPPORTED, -13);

    assert_int_equal(PROMSTORE_MATCH_EQ, 0);
    assert_int_equal(PROMSTORE_MATCH_NEQ, 1);
    assert_int_equal(PROMSTORE_MATCH_RE, 2);
    assert_int_equal(PROMSTORE_MATCH_NRE, 3);

    assert_int_equal(PROMSTORE_ERROR_MESSAGE_MAX, 1024);
    assert_true(PROMSTORE_STALE_NAN_BITS == UINT64_C(0x7ff0000000000002));
    assert_int_equal(PROMSTORE_OPEN_SYNC, 0x1);
    assert_int_equal(PROMSTORE_OPEN_LEGACY_NAMES, 0x2);
    /* A status is stored in an int-sized enum in promstore_error. */
    assert_int_equal(sizeof(promstore_status), sizeof(int));
}

/* Frozen structs keep their layout forever; growable ones start with struct_size. */
static void test_struct_kinds(void **state)
{
    (void)state;
#if SIZE_MAX == UINT64_MAX && UINTPTR_MAX == UINT64_MAX /* LP64: the sizes below */
    assert_int_equal(sizeof(promstore_error), 4 + PROMSTORE_ERROR_MESSAGE_MAX);
    assert_int_equal(sizeof(promstore_label), 32);
    assert_int_equal(sizeof(promstore_sample), 16);
    assert_int_equal(sizeof(promstore_series), 32);
    assert_int_equal(sizeof(promstore_matcher), 40);
    assert_int_equal(sizeof(promstore_chunk), 32);
    assert_int_equal(sizeof(promstore_http_header), 128);
    assert_int_equal(offsetof(promstore_sample, value_bits), 8);
    assert_int_equal(offsetof(promstore_matcher, value_len), 32);
    assert_int_equal(offsetof(promstore_chunk, data_len), 24);
#endif
    assert_int_equal(offsetof(promstore_options, struct_size), 0);
    assert_int_equal(offsetof(promstore_append_result, struct_size), 0);
    assert_int_equal(offsetof(promstore_retention_result, struct_size), 0);
    assert_int_equal(offsetof(promstore_stats, struct_size), 0);
    assert_int_equal(offsetof(promstore_check_problem, struct_size), 0);
    assert_int_equal(offsetof(promstore_check_summary, struct_size), 0);
    assert_int_equal(offsetof(promstore_http_request, struct_size), 0);
    assert_int_equal(offsetof(promstore_http_response, struct_size), 0);
    assert_int_equal(PROMSTORE_HTTP_MAX_HEADERS, 6);
}

static void test_strerror(void **state)
{
    (void)state;
    /* Every known code has its own short text, none of them the fallback. */
    const char *seen[16];
    size_t n = 0;
    for (int s = PROMSTORE_E_UNSUPPORTED; s <= PROMSTORE_DONE; s++) {
        const char *msg = promstore_strerror((promstore_status)s);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(msg, "unknown status");
        for (size_t i = 0; i < n; i++)
            assert_string_not_equal(seen[i], msg);
        seen[n++] = msg;
    }
    assert_int_equal(n, 15);
    /* The one text the header quotes. */
    assert_string_equal(promstore_strerror(PROMSTORE_E_BAD_LABELS), "invalid labels");
    /* The text is static: the same pointer every time. */
    assert_ptr_equal(promstore_strerror(PROMSTORE_E_IO), promstore_strerror(PROMSTORE_E_IO));

    /* Codes outside the enum, on both sides and far away. */
    const int unknown[] = {2, 3, 100, -14, -100, 12345, -2147483647 - 1, 2147483647};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_string_equal(promstore_strerror((promstore_status)unknown[i]), "unknown status");
}

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", PROMSTORE_VERSION_MAJOR,
             PROMSTORE_VERSION_MINOR, PROMSTORE_VERSION_PATCH);
    assert_string_equal(promstore_version(), want);
    assert_string_equal(promstore_version(), "1.2.0");
    assert_ptr_equal(promstore_version(), promstore_version()); /* static */
    assert_int_equal(promstore_version_number(), PROMSTORE_VERSION_NUMBER);
    assert_int_equal(PROMSTORE_VERSION_NUMBER, PROMSTORE_VERSION_MAJOR * 10000 +
                                                   PROMSTORE_VERSION_MINOR * 100 +
                                                   PROMSTORE_VERSION_PATCH);
    assert_int_equal(promstore_version_number(), 10200);
}

static void test_options_defaults(void **state)
{
    (void)state;
    promstore_options o;
    memset(&o, 0xa5, sizeof o); /* garbage, so every default must be written */
    promstore_options_init(&o);
    assert_int_equal(o.struct_size, sizeof(promstore_options));
    assert_non_null(o.backend);
    assert_string_equal(o.backend, "lmdb");
    assert_null(o.path);
    assert_int_equal(o.retention_time_ms, 0);
    assert_int_equal(o.retention_size_bytes, 0);
    assert_int_equal(o.block_duration_ms, 2 * 60 * 60 * 1000);
    assert_int_equal(o.out_of_order_window_ms, 0);
    assert_int_equal(o.max_series_per_query, 0);
    assert_int_equal(o.max_samples_per_query, 0);
    assert_int_equal(o.max_bytes_per_query, 0);
    assert_int_equal(o.flags, 0);
    assert_int_equal(o.max_future_ms, 10 * 60 * 1000);

    promstore_options_init(NULL); /* must not crash */
}

/* --- NULL handling --------------------------------------------------------- */

static void test_null_closes_are_noops(void **state)
{
    (void)state;
    promstore_error err;
    err_sentinel(&err);
    assert_int_equal(promstore_close(NULL, &err), PROMSTORE_OK);
    assert_err_untouched(&err);
    assert_int_equal(promstore_close(NULL, NULL), PROMSTORE_OK);
    promstore_series_iter_close(NULL);
    promstore_string_iter_close(NULL);
}

static void test_null_arguments(void **state)
{
    (void)state;
    promstore_error err;
    promstore *db = (promstore *)(uintptr_t)0x1; /* must be reset to NULL */

    /* open: no options, no out pointer, no path. */
    err_sentinel(&err);
    assert_failed_with(promstore_open(NULL, &db, &err), &err, PROMSTORE_E_INVALID);
    assert_null(db);

    promstore_options o;
    promstore_options_init(&o);
    char *dir = tu_mkdtemp("abi-null");
    o.path = dir;
    err_sentinel(&err);
    assert_failed_with(promstore_open(&o, NULL, &err), &err, PROMSTORE_E_INVALID);

    o.path = NULL;
    db = (promstore *)(uintptr_t)0x1;
    err_sentinel(&err);
    assert_failed_with(promstore_open(&o, &db, &err), &err, PROMSTORE_E_INVALID);
    assert_null(db);
    /* err may be NULL: the status alone still comes back. */
    assert_int_equal(promstore_open(&o, &db, NULL), PROMSTORE_E_INVALID);

    /* struct_size too small to hold even the path: bad options. */
    promstore_options_init(&o);
    o.path = dir;
    o.struct_size = 0;
    db = (promstore *)(uintptr_t)0x1;
    err_sentinel(&err);
    assert_failed_with(promstore_open(&o, &db, &err), &err, PROMSTORE_E_INVALID);
    assert_null(db);

    /* Calls on a NULL handle. */
    promstore_label l = {"a", 1, "b", 1};
    promstore_sample smp = {1, tu_bits(1.0)};
    promstore_series s = {&l, 1, &smp, 1};
    promstore_append_result r = {.struct_size = sizeof r};
    err_sentinel(&err);
    assert_failed_with(promstore_append(NULL, &s, 1, &r, &err), &err, PROMSTORE_E_INVALID);

    promstore_series_iter *it = (promstore_series_iter *)(uintptr_t)0x1;
    err_sentinel(&err);
    assert_failed_with(promstore_query(NULL, NULL, 0, 0, 10, &it, &err), &err,
                       PROMSTORE_E_INVALID);
    assert_null(it);

    promstore_string_iter *sit = (promstore_string_iter *)(uintptr_t)0x1;
    err_sentinel(&err);
    assert_failed_with(promstore_label_names(NULL, NULL, 0, 0, 10, &sit, &err), &err,
                       PROMSTORE_E_INVALID);
    assert_null(sit);
    sit = (promstore_string_iter *)(uintptr_t)0x1;
    err_sentinel(&err);
    assert_failed_with(promstore_label_values(NULL, "a", 1, NULL, 0, 0, 10, &sit, &err),
                       &err, PROMSTORE_E_INVALID);
    assert_null(sit);

    promstore_stats st = {.struct_size = sizeof st};
    err_sentinel(&err);
    assert_failed_with(promstore_stats_get(NULL, &st, &err), &err, PROMSTORE_E_INVALID);
    promstore_retention_result rr = {.struct_size = sizeof rr};
    err_sentinel(&err);
    assert_failed_with(promstore_apply_retention(NULL, 0, &rr, &err), &err,
                       PROMSTORE_E_INVALID);

    /* NULL arguments on a real handle. */
    assert_int_equal(open_store("lmdb", dir, &db, &err), PROMSTORE_OK);
    err_sentinel(&err);
    assert_failed_with(promstore_append(db, NULL, 1, &r, &err), &err, PROMSTORE_E_INVALID);
    promstore_series bad = {NULL, 1, &smp, 1}; /* n_labels > 0 with NULL labels */
    err_sentinel(&err);
    assert_failed_with(promstore_append(db, &bad, 1, &r, &err), &err, PROMSTORE_E_INVALID);
    promstore_series bad2 = {&l, 1, NULL, 1}; /* n_samples > 0 with NULL samples */
    err_sentinel(&err);
    assert_failed_with(promstore_append(db, &bad2, 1, &r, &err), &err, PROMSTORE_E_INVALID);
    err_sentinel(&err);
    assert_failed_with(promstore_query(db, NULL, 0, 0, 10, NULL, &err), &err,
                       PROMSTORE_E_INVALID);
    it = (promstore_series_iter *)(uintptr_t)0x1;
    err_sentinel(&err);
    assert_failed_with(promstore_query(db, NULL, 2, 0, 10, &it, &err), &err,
                       PROMSTORE_E_INVALID); /* n_matchers > 0 with NULL matchers */
    assert_null(it);
    err_sentinel(&err);
    assert_failed_with(promstore_label_values(db, NULL, 1, NULL, 0, 0, 10, &sit, &err),
                       &err, PROMSTORE_E_INVALID);
    err_sentinel(&err);
    assert_failed_with(promstore_stats_get(db, NULL, &err), &err, PROMSTORE_E_INVALID);
    err_sentinel(&err);
    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
    assert_err_untouched(&err);
    tu_rmtree(dir);
}

/* --- Opening ---------------------------------------------------------------- */

static void test_unknown_backend(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("abi-backend");
    promstore *db = (promstore *)(uintptr_t)0x1;
    promstore_error err;
    err_sentinel(&err);
    assert_failed_with(open_store("rocksdb-xyz", dir, &db, &err), &err, PROMSTORE_E_INVALID);
    assert_null(db);
    assert_non_null(strstr(err.message, "rocksdb-xyz"));
    /* Backend names are exact: no case folding, no prefixes. */
    err_sentinel(&err);
    assert_failed_with(open_store("LMDB", dir, &db, &err), &err, PROMSTORE_E_INVALID);
    err_sentinel(&err);
    assert_failed_with(open_store("", dir, &db, &err), &err, PROMSTORE_E_INVALID);
    tu_rmtree(dir);
}

static void test_open_creates_directory(void **state)
{
    (void)state;
    for (size_t b = 0; b < 2; b++) {
        char *parent = tu_mkdtemp("abi-mkdir");
        char path[4096];
        /* "created if missing": one missing level (mkdir, not mkdir -p). */
        snprintf(path, sizeof path, "%s/newdir", parent);
        promstore *db = NULL;
        promstore_error err;
        err_sentinel(&err);
        assert_int_equal(open_store(k_backends[b], path, &db, &err), PROMSTORE_OK);
        assert_non_null(db);
        assert_err_untouched(&err);
        promstore_stats s;
        memset(&s, 0x5a, sizeof s); /* the NUL after the name must be the library's */
        s.struct_size = sizeof s;
        assert_int_equal(promstore_stats_get(db, &s, &err), PROMSTORE_OK);
        assert_non_null(memchr(s.backend, '\0', sizeof s.backend));
        assert_string_equal(s.backend, k_backends[b]);
        assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
        assert_int_equal(access(path, F_OK), 0);
        tu_rmtree(parent);
    }
}

static void test_open_twice_busy(void **state)
{
    (void)state;
    for (size_t b = 0; b < 2; b++) {
        char *dir = tu_mkdtemp("abi-busy");
        promstore *db1 = NULL, *db2 = (promstore *)(uintptr_t)0x1;
        promstore_error err;
        assert_int_equal(open_store(k_backends[b], dir, &db1, &err), PROMSTORE_OK);

        /* Same process. */
        err_sentinel(&err);
        assert_failed_with(open_store(k_backends[b], dir, &db2, &err), &err, PROMSTORE_E_BUSY);
        assert_null(db2);
        /* Same directory, the other backend: still the same directory. */
        err_sentinel(&err);
        promstore_status other = open_store(k_backends[1 - b], dir, &db2, &err);
        assert_true(other == PROMSTORE_E_BUSY || other == PROMSTORE_E_CORRUPT);
        assert_null(db2);

        /* Another process: the child must not touch db1, it opens its own. */
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            promstore *c = NULL;
            promstore_error cerr;
            promstore_status st = open_store(k_backends[b], dir, &c, &cerr);
            _exit(st == PROMSTORE_E_BUSY && c == NULL ? 0 : 10 + (st < 0 ? -st : st));
        }
        int wst = 0;
        assert_int_equal(waitpid(pid, &wst, 0), pid);
        assert_true(WIFEXITED(wst));
        assert_int_equal(WEXITSTATUS(wst), 0);

        /* The busy refusals did not disturb the first handle... */
        promstore_stats s = {.struct_size = sizeof s};
        assert_int_equal(promstore_stats_get(db1, &s, &err), PROMSTORE_OK);
        assert_int_equal(promstore_close(db1, &err), PROMSTORE_OK);
        /* ...and once it is closed the directory opens again. */
        assert_int_equal(open_store(k_backends[b], dir, &db1, &err), PROMSTORE_OK);
        assert_int_equal(promstore_close(db1, &err), PROMSTORE_OK);
        tu_rmtree(dir);
    }
}

static void test_open_other_backend_corrupt(void **state)
{
    (void)state;
    /* A directory that holds a store of one backend is "not a store of" the
     * other backend: PROMSTORE_E_CORRUPT, never a silently empty new store. */
    for (size_t b = 0; b < 2; b++) {
        char *dir = tu_mkdtemp("abi-corrupt");
        promstore *db = NULL;
        promstore_error err;
        assert_int_equal(open_store(k_backends[b], dir, &db, &err), PROMSTORE_OK);
        promstore_label l = {"__name__", 8, "m", 1};
        promstore_sample smp = {1000, tu_bits(1.0)};
        promstore_series s = {&l, 1, &smp, 1};
        assert_int_equal(promstore_append(db, &s, 1, NULL, &err), PROMSTORE_OK);
        assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);

        db = (promstore *)(uintptr_t)0x1;
        err_sentinel(&err);
        assert_failed_with(open_store(k_backends[1 - b], dir, &db, &err), &err,
                           PROMSTORE_E_CORRUPT);
        assert_null(db);
        /* The store is intact for its own backend. */
        assert_int_equal(open_store(k_backends[b], dir, &db, &err), PROMSTORE_OK);
        promstore_stats st = {.struct_size = sizeof st};
        assert_int_equal(promstore_stats_get(db, &st, &err), PROMSTORE_OK);
        assert_int_equal(st.series, 1);
        assert_int_equal(st.samples, 1);
        assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
        tu_rmtree(dir);
    }
}

/* --- struct_size: structs of older callers are shorter ---------------------- */

static void test_struct_size_honoured(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("abi-size");
    promstore_error err;
    promstore *db = NULL;

    /* An options struct that ends before `flags`: the LEGACY_NAMES bit sitting
     * past the caller's struct_size must not be read, so a UTF-8 label name
     * (valid by default) is accepted. */
    promstore_options o;
    promstore_options_init(&o);
    o.path = dir;
    o.flags = PROMSTORE_OPEN_LEGACY_NAMES;
    o.struct_size = offsetof(promstore_options, flags);
    assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);

    /* An append result that ends before series_created. */
    promstore_label l[2] = {{"__name__", 8, "m", 1}, {"caf\xc3\xa9", 5, "x", 1}};
    promstore_sample smp[2] = {{1000, tu_bits(1.0)}, {2000, tu_bits(2.0)}};
    promstore_series s = {l, 2, smp, 2};
    promstore_append_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = offsetof(promstore_append_result, series_created);
    r.series_created = 0xdeadbeef;
    assert_int_equal(promstore_append(db, &s, 1, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 2);
    assert_int_equal(r.samples_duplicate, 0);
    assert_int_equal(r.samples_rejected, 0);
    assert_int_equal(r.series_created, 0xdeadbeef);

    /* A stats struct that ends before bytes_on_disk. */
    promstore_stats st;
    memset(&st, 0x5a, sizeof st);
    st.struct_size = offsetof(promstore_stats, bytes_on_disk);
    assert_int_equal(promstore_stats_get(db, &st, &err), PROMSTORE_OK);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.samples, 2);
    uint64_t pattern;
    memset(&pattern, 0x5a, sizeof pattern);
    assert_true(st.bytes_on_disk == pattern);
    assert_true(st.file_bytes == pattern);
    assert_true((uint64_t)st.max_time_ms == pattern);
    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);

    /* A 1.1 caller's options end before max_future_ms: its "no limit" (0)
     * sitting past struct_size is not read, so the default limit refuses a
     * sample at INT64_MAX and keeps the one in time. */
    o.flags = 0;
    o.max_future_ms = 0;
    o.struct_size = offsetof(promstore_options, max_future_ms);
    assert_int_equal(promstore_open(&o, &db, &err), PROMSTORE_OK);
    promstore_sample ahead[2] = {{3000, tu_bits(3.0)}, {INT64_MAX, tu_bits(4.0)}};
    s.samples = ahead;
    r.struct_size = sizeof r;
    assert_int_equal(promstore_append(db, &s, 1, &r, &err), PROMSTORE_E_OUT_OF_ORDER);
    assert_non_null(strstr(err.message, "too far in the future"));
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(r.samples_rejected, 1);

    assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
    tu_rmtree(dir);
}

/* --- The labels of the current series ------------------------------------------ */

/* labels/n_labels hold these until a call writes them. */
#define LABELS_UNSET ((const promstore_label *)(uintptr_t)0x1)
#define N_UNSET ((size_t)0xdead)

/* v2 fails with want and a message naming the fix; the 1.0 form, the same. */
static void assert_labels_fail(promstore_series_iter *it, promstore_status want,
                               const char *in_message)
{
    const promstore_label *l = LABELS_UNSET;
    size_t n = N_UNSET;
    promstore_error err;
    err_sentinel(&err);
    assert_failed_with(promstore_series_iter_labels_v2(it, &l, &n, &err), &err, want);
    assert_non_null(strstr(err.message, in_message));
    assert_ptr_equal(l, LABELS_UNSET);
    assert_int_equal(n, N_UNSET);
    assert_int_equal(promstore_series_iter_labels_v2(it, &l, &n, NULL), want);
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), want);
    assert_ptr_equal(l, LABELS_UNSET);
}

/* The current series has exactly the sorted labels want[0..n_want). */
static void assert_labels(promstore_series_iter *it, const promstore_label *want, size_t n_want)
{
    const promstore_label *l = NULL, *l1 = NULL;
    size_t n = 0, n1 = 0;
    promstore_error err;
    err_sentinel(&err);
    assert_int_equal(promstore_series_iter_labels_v2(it, &l, &n, &err), PROMSTORE_OK);
    assert_err_untouched(&err);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l[i].name_len, want[i].name_len);
        assert_memory_equal(l[i].name, want[i].name, want[i].name_len);
        assert_int_equal(l[i].value_len, want[i].value_len);
        assert_memory_equal(l[i].value, want[i].value, want[i].value_len);
    }
    /* The 1.0 form answers the same, from the same memory. */
    assert_int_equal(promstore_series_iter_labels(it, &l1, &n1), PROMSTORE_OK);
    assert_ptr_equal(l1, l);
    assert_int_equal(n1, n);
}

static void test_series_iter_labels_v2(void **state)
{
    (void)state;
    for (size_t b = 0; b < 2; b++) {
        char *dir = tu_mkdtemp("abi-labels");
        promstore *db = NULL;
        promstore_error err;
        assert_int_equal(open_store(k_backends[b], dir, &db, &err), PROMSTORE_OK);
        /* Given unsorted; stored and returned sorted by name. */
        promstore_label a[2] = {{"job", 3, "x", 1}, {"__name__", 8, "a", 1}};
        promstore_label bl[1] = {{"__name__", 8, "b", 1}};
        promstore_sample smp = {1000, tu_bits(1.0)};
        promstore_series s[2] = {{a, 2, &smp, 1}, {bl, 1, &smp, 1}};
        assert_int_equal(promstore_append(db, s, 2, NULL, &err), PROMSTORE_OK);

        promstore_series_iter *it = NULL;
        assert_int_equal(promstore_query(db, NULL, 0, 0, 5000, &it, &err), PROMSTORE_OK);
        assert_labels_fail(it, PROMSTORE_E_MISUSE, "promstore_series_iter_next");
        assert_labels_fail(NULL, PROMSTORE_E_INVALID, "NULL");
        err_sentinel(&err);
        assert_failed_with(promstore_series_iter_labels_v2(it, NULL, &(size_t){0}, &err), &err,
                           PROMSTORE_E_INVALID);
        err_sentinel(&err);
        const promstore_label *l = NULL;
        assert_failed_with(promstore_series_iter_labels_v2(it, &l, NULL, &err), &err,
                           PROMSTORE_E_INVALID);

        assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
        assert_labels(it, (promstore_label[]){{"__name__", 8, "a", 1}, {"job", 3, "x", 1}}, 2);
        assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
        assert_labels(it, bl, 1);
        assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
        assert_labels_fail(it, PROMSTORE_E_MISUSE, "no current series");
        promstore_series_iter_close(it);
        assert_int_equal(promstore_close(db, &err), PROMSTORE_OK);
        tu_rmtree(dir);
    }
}

/* --- Exported symbols --------------------------------------------------------- */

/* Every public function and the symbol version of the release that added it. */
static const struct {
    const char *name, *version;
} k_public[] = {
    {"promstore_options_init", "PROMSTORE_1"},
    {"promstore_open", "PROMSTORE_1"},
    {"promstore_close", "PROMSTORE_1"},
    {"promstore_append", "PROMSTORE_1"},
    {"promstore_query", "PROMSTORE_1"},
    {"promstore_series_iter_next", "PROMSTORE_1"},
    {"promstore_series_iter_labels", "PROMSTORE_1"},
    {"promstore_series_iter_sample", "PROMSTORE_1"},
    {"promstore_series_iter_chunk", "PROMSTORE_1"},
    {"promstore_series_iter_close", "PROMSTORE_1"},
    {"promstore_label_names", "PROMSTORE_1"},
    {"promstore_label_values", "PROMSTORE_1"},
    {"promstore_string_iter_next", "PROMSTORE_1"},
    {"promstore_string_iter_close", "PROMSTORE_1"},
    {"promstore_apply_retention", "PROMSTORE_1"},
    {"promstore_stats_get", "PROMSTORE_1"},
    {"promstore_check", "PROMSTORE_1"},
    {"promstore_remote_write", "PROMSTORE_1"},
    {"promstore_remote_read_open", "PROMSTORE_1"},
    {"promstore_remote_read_next", "PROMSTORE_1"},
    {"promstore_remote_read_close", "PROMSTORE_1"},
    {"promstore_remote_read", "PROMSTORE_1"},
    {"promstore_version", "PROMSTORE_1"},
    {"promstore_version_number", "PROMSTORE_1"},
    {"promstore_strerror", "PROMSTORE_1"},
    {"promstore_run_retention", "PROMSTORE_1.1"},
    {"promstore_series_iter_labels_v2", "PROMSTORE_1.1"},
};
#define N_PUBLIC (sizeof k_public / sizeof k_public[0])
static const char *const k_version_nodes[] = {"PROMSTORE_1", "PROMSTORE_1.1"};

/* Path of the shared object that defines promstore_version in this process. */
static const char *library_path(void)
{
    Dl_info info;
    memset(&info, 0, sizeof info);
    assert_true(dladdr((void *)(uintptr_t)&promstore_version, &info) != 0);
    assert_non_null(info.dli_fname);
    /* The test links the shared object, not the static archive. */
    assert_non_null(strstr(info.dli_fname, "libpromstore.so"));
    return info.dli_fname;
}

static void test_exports_only_promstore(void **state)
{
    (void)state;
    const char *lib = library_path();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int found[N_PUBLIC] = {0};
    size_t n_nodes = 0;
    char line[1024];
    while (fgets(line, sizeof line, p) != NULL) {
        char addr[64], type[8], name[512];
        if (sscanf(line, "%63s %7s %511s", addr, type, name) != 3)
            fail_msg("unexpected nm line: %s", line);
        /* Each version node shows up as an absolute symbol of its name. */
        if (strcmp(type, "A") == 0) {
            size_t i = 0;
            while (i < 2 && strcmp(name, k_version_nodes[i]) != 0)
                i++;
            if (i == 2)
                fail_msg("unexpected version node %s", name);
            n_nodes++;
            continue;
        }
        /* name@@VERSION: the default version, the only one so far. */
        char *at = strstr(name, "@@");
        if (at == NULL)
            fail_msg("exported without a default symbol version: %s", name);
        *at = '\0';
        size_t i = 0;
        while (i < N_PUBLIC && strcmp(name, k_public[i].name) != 0)
            i++;
        if (i == N_PUBLIC)
            fail_msg("exported but not public: %s", name);
        if (strcmp(at + 2, k_public[i].version) != 0)
            fail_msg("%s has version %s, expected %s", name, at + 2, k_public[i].version);
        found[i]++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n_nodes, 2);
    for (size_t i = 0; i < N_PUBLIC; i++)
        if (found[i] != 1)
            fail_msg("public function %s exported %d times", k_public[i].name, found[i]);
}

/* A program asks the loader for name@version: each resolves to the function
 * this test links, and a 1.1 function is not found under 1.0. */
static void test_symbol_versions_resolve(void **state)
{
    (void)state;
    assert_ptr_equal(dlvsym(RTLD_DEFAULT, "promstore_series_iter_labels_v2", "PROMSTORE_1.1"),
                     (void *)(uintptr_t)&promstore_series_iter_labels_v2);
    assert_ptr_equal(dlvsym(RTLD_DEFAULT, "promstore_series_iter_labels", "PROMSTORE_1"),
                     (void *)(uintptr_t)&promstore_series_iter_labels);
    assert_ptr_equal(dlvsym(RTLD_DEFAULT, "promstore_open", "PROMSTORE_1"),
                     (void *)(uintptr_t)&promstore_open);
    assert_null(dlvsym(RTLD_DEFAULT, "promstore_series_iter_labels_v2", "PROMSTORE_1"));
    assert_null(dlvsym(RTLD_DEFAULT, "promstore_open", "PROMSTORE_1.1"));
}

static void test_soname(void **state)
{
    (void)state;
    const char *lib = library_path();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "readelf -d '%s'", lib);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int soname_ok = 0;
    char line[1024];
    while (fgets(line, sizeof line, p) != NULL)
        if (strstr(line, "(SONAME)") != NULL && strstr(line, "[libpromstore.so.1]") != NULL)
            soname_ok = 1;
    assert_int_equal(pclose(p), 0);
    assert_true(soname_ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_values),
        cmocka_unit_test(test_struct_kinds),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_options_defaults),
        cmocka_unit_test(test_null_closes_are_noops),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_unknown_backend),
        cmocka_unit_test(test_open_creates_directory),
        cmocka_unit_test(test_open_twice_busy),
        cmocka_unit_test(test_open_other_backend_corrupt),
        cmocka_unit_test(test_struct_size_honoured),
        cmocka_unit_test(test_series_iter_labels_v2),
        cmocka_unit_test(test_exports_only_promstore),
        cmocka_unit_test(test_symbol_versions_resolve),
        cmocka_unit_test(test_soname),
    };
    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
