/*
 * helpers.h -- what the tests of a whole store share, through the public ABI
 * (promstore.h) only, so that they work linked against libpromstore.so or
 * against promstore_static:
 *
 *   - label sets written in place, LS("name", "value", ..., NULL), and the
 *     other small constructors (SMP, SMPB, SER, MT), with Prometheus's
 *     labels.Compare written here independently of the library;
 *   - a store fixture: a fresh directory, a store on the backend under test
 *     (tu_backend_from_argv), reopen, recreate, close and removal, with
 *     cmocka setup/teardown functions around it;
 *   - collectors: a query's series, samples and chunks gathered into arrays,
 *     checking on the way what the ABI promises of every result (labels
 *     sorted and non-empty, series in labels.Compare order, samples in time
 *     order inside the range, chunks in order and overlapping it); label
 *     names and values joined into one string;
 *   - an independent XOR chunk decoder, written from PROTOCOL.md 3.4 with its
 *     own bit reader and sharing no code with plugin/codec/xor.c, to check
 *     that chunk bytes hold exactly the samples;
 *   - the six-series data set the matcher, label-name and selection tests share.
 *
 * Every check fails the running cmocka test (fail_msg / assert_*), so these
 * are for the test's own thread only -- except the pure functions marked
 * "thread-safe", which worker threads may call. Memory they return is
 * malloc'd and freed by the caller with free() or the matching *_free.
 * Built once (tests/CMakeLists.txt: ps_unit_test ... HELPERS).
 */
#ifndef PS_TEST_HELPERS_H
#define PS_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "promstore.h"
#include "testutil.h"

#define TU_HOUR_MS INT64_C(3600000)
#define TU_BLOCK_MS (2 * TU_HOUR_MS) /* the default block duration */
/* A realistic "now" that is not aligned to a block, so data crosses boundaries. */
#define TU_T0 INT64_C(1700000000000)
/* The whole time range, as the (mint, maxt) arguments of a call. */
#define TU_FULL INT64_MIN, INT64_MAX

/* --- Memory: allocation that cannot fail (it fails the test instead) ---------- */

void *tu_calloc(size_t n, size_t size);
void *tu_realloc(void *p, size_t size);
/* A NUL-terminated copy of s[0..n). */
char *tu_memdup(const char *s, size_t n);

/* --- Label sets ------------------------------------------------------------ */

/* Byte-wise order of two (pointer, length) strings, a prefix first: -1, 0, 1. Thread-safe. */
int tu_bytes_cmp(const char *a, size_t na, const char *b, size_t nb);

/*
 * Prometheus's labels.Compare over two label sets already sorted by name:
 * pair by pair, names then values byte-wise; if one set is a prefix of the
 * other, the shorter comes first. Thread-safe.
 */
int tu_labels_compare(const promstore_label *a, size_t na, const promstore_label *b, size_t nb);

/* 1 if the names are strictly increasing (sorted and distinct). Thread-safe. */
int tu_labels_sorted(const promstore_label *l, size_t n);

/* The label called name, or NULL. Thread-safe. */
const promstore_label *tu_find_label(const promstore_label *l, size_t n, const char *name);

/*
 * Canonical one-line text of a label set, {name="value",...}, injective: every
 * byte outside printable ASCII, and '"' and '\\', is written as \xNN. Used both
 * to compare label sets exactly and for readable messages.
 */
char *tu_fmt_labels(const promstore_label *l, size_t n);

#define TU_MAXL 16

/* A label set as given to append (any order, may hold empty values). */
typedef struct tu_lset {
    promstore_label l[TU_MAXL];
    size_t n;
} tu_lset;

void tu_lset_add(tu_lset *s, const char *name, size_t nlen, const char *value, size_t vlen);
/* LS("name", "value", ..., NULL): NUL-terminated strings, in the order given. */
tu_lset LS(const char *name, ...);
/* LS with the pairs after `name` in ap, for a test's own varargs functions. */
tu_lset tu_lset_va(const char *name, va_list ap);
/* What the library should make of a set: empty values dropped, sorted by name. */
tu_lset tu_lset_norm(const tu_lset *in);
/* tu_fmt_labels of the normalised set. */
char *tu_lset_key(const tu_lset *in);
/* Sort pointers to normalised sets with tu_labels_compare. */
void tu_lsets_sort(const tu_lset **v, size_t n);

/* --- Samples, series, matchers (these five thread-safe) ------------------------ */

promstore_sample SMP(int64_t t, double v);
promstore_sample SMPB(int64_t t, uint64_t bits);
promstore_series SER(const tu_lset *ls, const promstore_sample *s, size_t n);
promstore_matcher MT(promstore_match_type t, const char *name, const char *value);
promstore_label tu_label(const char *name, const char *value);

/* n samples from t0 every step ms, value base + i*1.5. */
promstore_sample *tu_ramp(int64_t t0, int64_t step, size_t n, double base);
/* qsort comparator: by timestamp. */
int tu_sample_cmp(const void *a, const void *b);
/* The samples are these, bit for bit; `what` names them in the message. */
void tu_assert_samples_equal(const promstore_sample *got, size_t n_got,
                             const promstore_sample *want, size_t n_want, const char *what);

/* --- Calls that must succeed --------------------------------------------------- */

/* A zeroed result with struct_size set. */
promstore_append_result tu_append_result(void);
/* Append that must return OK with nothing rejected; returns the result. */
promstore_append_result tu_append_ok(promstore *db, const promstore_series *s, size_t n);
void tu_append1_ok(promstore *db, const tu_lset *ls, const promstore_sample *s, size_t n);
promstore_stats tu_stats(promstore *db);
/* promstore_run_retention that must succeed; returns what it dropped. */
promstore_retention_result tu_run_retention(promstore *db);
/* The wall clock in ms since the epoch, as the library reads it. */
int64_t tu_wall_clock_ms(void);
/* Nothing in the store: no series, samples, chunks or blocks, times 0, no series in a query. */
void tu_assert_store_empty(promstore *db);

/* Options for a store at dir on the backend under test (no assertion: a child may call it). */
void tu_options(promstore_options *o, const char *dir);
/* Open and close that must succeed. */
promstore *tu_open(const promstore_options *o);
void tu_close(promstore *db);

/* --- The store fixture ----------------------------------------------------------- */

typedef struct tu_store {
    char *dir;
    promstore_options opts; /* backend and path set; a test changes the rest, then opens */
    promstore *db;          /* NULL while closed */
    void *mem;              /* a test's own allocation, freed with the store (a failing
                             * check leaves no leak) */
} tu_store;

/* A fresh directory and options for it; not opened. */
tu_store *tu_store_new(const char *tag);
void tu_store_open(tu_store *f);
/* Close (a no-op when closed); a failed close fails the test. */
void tu_store_close(tu_store *f);
void tu_store_reopen(tu_store *f);
/* Throw the store away and create a new one with f->opts (for fixed-at-creation options). */
void tu_store_recreate(tu_store *f);
/* Close, remove the directory, free. Returns -1 if the close failed, else 0. */
int tu_store_free(tu_store *f);

/* cmocka fixtures: *state is a tu_store, opened (tu_setup) or not (tu_setup_closed). */
int tu_setup(void **state);
int tu_setup_closed(void **state);
int tu_teardown(void **state);
#define TU_TEST(fn) cmocka_unit_test_setup_teardown(fn, tu_setup, tu_teardown)
#define TU_TEST_CLOSED(fn) cmocka_unit_test_setup_teardown(fn, tu_setup_closed, tu_teardown)

/*
 * The body of main() for a test run once per backend: take the backend from
 * argv (tu_backend_from_argv), run the tests as the group "prefix_<backend>",
 * return the number that failed. TU_RUN counts the array.
 */
int tu_run(int argc, char **argv, const char *prefix, const struct CMUnitTest *tests, size_t n);
#define TU_RUN(argc, argv, prefix, tests)                                                    \
    tu_run(argc, argv, prefix, tests, sizeof(tests) / sizeof((tests)[0]))

/* --- Collecting query results ---------------------------------------------------- */

typedef struct tu_chunk {
    int64_t mint, maxt;
    uint8_t *data;
    size_t len;
} tu_chunk;

typedef struct tu_series {
    char *key; /* tu_fmt_labels() of the returned labels */
    promstore_label *labels;
    size_t n_labels;
    promstore_sample *samples;
    size_t n_samples;
    tu_chunk *chunks;
    size_t n_chunks;
} tu_series;

typedef struct tu_result {
    tu_series *s;
    size_t n;
} tu_result;

/* What to read of each series: labels always, then samples and/or chunks. */
enum { TU_SAMPLES = 1, TU_CHUNKS = 2, TU_BOTH = 3 };

void tu_result_free(tu_result *r);

/*
 * Read what an open iterator yields into *out (not closing it). Returns
 * PROMSTORE_DONE when all was read, or the first error (err filled); what was
 * read before it stays in *out. Checks on the way: labels sorted, distinct,
 * none empty; series strictly in labels.Compare order; samples strictly in
 * time order inside [mint, maxt], at least one per series; chunks in
 * min_time order, overlapping [mint, maxt], at least one per series.
 */
promstore_status tu_iter_collect(promstore_series_iter *it, int64_t mint, int64_t maxt, int want,
                                 tu_result *out, promstore_error *err);
/* promstore_query + tu_iter_collect + close. */
promstore_status tu_query_collect(promstore *db, const promstore_matcher *m, size_t nm,
                                  int64_t mint, int64_t maxt, int want, tu_result *out,
                                  promstore_error *err);
/* tu_query_collect that must read the whole result. */
void tu_query_ok(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                 int64_t maxt, int want, tu_result *out);
/* The number of series a query selects (it must read to the end). */
size_t tu_count_series(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                       int64_t maxt);

/* The series ls (normalised) in r, or NULL. */
const tu_series *tu_find_series(const tu_result *r, const tu_lset *ls);
/* The series ls is in r with exactly these samples. */
void tu_assert_series(const tu_result *r, const tu_lset *ls, const promstore_sample *want,
                      size_t n);
/* The result is exactly these series, in this order. */
void tu_assert_keys(const tu_result *r, const tu_lset *const *want, size_t n);
/*
 * The store holds the series ls with exactly want (sorted by time), read
 * through the sample cursor and decoded from the chunk cursor.
 */
void tu_assert_stored(promstore *db, const tu_lset *ls, const promstore_sample *want, size_t n);

/*
 * A string iterator joined with '|' (values here hold no '|' except where a
 * test says so), checking that the strings are sorted, distinct, non-empty and
 * NUL-terminated, and that it ends in DONE. Closes the iterator.
 */
char *tu_strings(promstore_string_iter *it);
char *tu_label_names(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt);
char *tu_label_values(promstore *db, const char *name, const promstore_matcher *m, size_t nm,
                      int64_t mint, int64_t maxt);
/* The malloc'd string expr equals want. */
#define TU_ASSERT_STRS(expr, want)                                                           \
    do {                                                                                     \
        char *got_ = (expr);                                                                 \
        assert_string_equal(got_, want);                                                     \
        free(got_);                                                                          \
    } while (0)

/* --- An independent XOR chunk decoder (PROTOCOL.md 3.4) ---------------------------- */

/* The sample count in a chunk's 2-byte header. */
size_t tu_xor_count(const uint8_t *d, size_t len);
/*
 * Decode a chunk into out (room for cap samples). Returns the sample count,
 * or -1 if the bytes are not a minimal well-formed chunk.
 */
long tu_xor_decode(const uint8_t *d, size_t len, promstore_sample *out, size_t cap);
/*
 * Decode every chunk of q, checking each chunk decodes, its min/max time are
 * its first and last sample, and its samples increase. Returns them all in
 * chunk order; their count in *n.
 */
promstore_sample *tu_decode_chunks(const tu_series *q, size_t *n);
/* The chunks of q, decoded and merged by time, hold exactly want (sorted). */
void tu_assert_chunks_hold(const tu_series *q, const promstore_sample *want, size_t n);
/*
 * Chunks of in-order data: non-overlapping, at most 120 samples, each inside
 * one block of block_ms (the unit retention drops, as in Prometheus), and
 * together exactly want.
 */
void tu_assert_inorder_chunks(const tu_series *q, const promstore_sample *want, size_t n,
                              int64_t block_ms);

/* --- The matcher data set ---------------------------------------------------------- */

/*
 * Six series, each with samples at TU_T0 and TU_T0 + 1000:
 *   0 {__name__="up", job="api", instance="a:1"}
 *   1 {__name__="up", job="api", instance="b:2", env="prod"}
 *   2 {__name__="up", job="db", instance="c:3"}
 *   3 {__name__="down", job="api"}
 *   4 {__name__="up", job="api\nx"}                ('.' must match '\n')
 *   5 {__name__="up", job="apix", env="staging"}
 * A set of them is written as a bit mask, bit i for tu_mdata[i].
 */
#define TU_MDATA_N 6
extern tu_lset tu_mdata[TU_MDATA_N];
void tu_load_matcher_data(promstore *db);

#endif
