/*
 * test_engine.c -- the engine's behaviour through the public ABI only
 * (promstore.h, linked against libpromstore.so), run once per backend:
 * `test_engine lmdb` and `test_engine sqlite`.
 *
 * What it covers, each promise of abi/promstore.h in turn:
 *   - append/query round trip: unsorted input labels, labels returned sorted,
 *     strings that are not NUL-terminated, values bit-exact (stale NaN, other
 *     NaN payloads, +-Inf, -0.0, subnormals), inclusive [mint, maxt], negative
 *     timestamps, mint > maxt refused;
 *   - matchers with Prometheus semantics (absent label == "", anchored regexes,
 *     '.' matching newline), bad matchers refused with a message;
 *   - series order equal to labels.Compare, checked against a comparator
 *     written here, on a set built to catch the usual mistakes, and on 20k
 *     series;
 *   - label validation (all-or-nothing), legacy names, empty values dropped,
 *     long messages cut with "...";
 *   - one series several times in a batch, 1000 samples across chunk and block
 *     boundaries;
 *   - out-of-order rules without and with a window (also across reopen),
 *     duplicates (a retried batch), the append result counts;
 *   - the raw chunk cursor: chunks are decoded here by an independent XOR
 *     decoder (written from docs/PROTOCOL.md 3.4) and must hold exactly the samples;
 *   - label names and values; statistics; per-query limits; reopen; snapshot
 *     isolation of iterators; iterator misuse; bad options.
 */
#define _GNU_SOURCE
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "promstore.h"
#include "testutil.h"

static const char *g_backend = "lmdb";

#define HOUR_MS INT64_C(3600000)
#define BLOCK_MS (2 * HOUR_MS)
/* A realistic "now" that is not aligned to a block, so data crosses boundaries. */
#define T0 INT64_C(1700000000000)
#define FULL INT64_MIN, INT64_MAX

/* ------------------------------------------------------------------------ */
/* Small utilities                                                          */
/* ------------------------------------------------------------------------ */

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    assert_non_null(p);
    return p;
}

static void *xrealloc(void *p, size_t sz)
{
    void *q = realloc(p, sz ? sz : 1);
    assert_non_null(q);
    return q;
}

static char *xmemdup(const char *s, size_t n)
{
    char *p = xcalloc(n + 1, 1);
    if (n)
        memcpy(p, s, n);
    return p;
}

/* Byte-wise comparison of two (pointer, length) strings, a prefix first. */
static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

/*
 * Prometheus's labels.Compare over two label sets already sorted by name,
 * written here independently of the library: pair by pair, names then values
 * byte-wise; if one set is a prefix of the other, the shorter comes first.
 */
static int labels_compare(const promstore_label *a, size_t na, const promstore_label *b,
                          size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = bytes_cmp(a[i].name, a[i].name_len, b[i].name, b[i].name_len);
        if (c)
            return c;
        c = bytes_cmp(a[i].value, a[i].value_len, b[i].value, b[i].value_len);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

/*
 * Canonical one-line text of a label set, injective: every byte outside
 * printable ASCII, and '"' and '\\', is written as \xNN. Used both to compare
 * label sets exactly and to get readable assertion messages. malloc'd.
 */
static char *fmt_labels(const promstore_label *l, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 4 * (l[i].name_len + l[i].value_len) + 8;
    char *out = xcalloc(cap, 1);
    size_t o = 0;
    out[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *parts[2] = {l[i].name, l[i].value};
        size_t lens[2] = {l[i].name_len, l[i].value_len};
        if (i)
            out[o++] = ',';
        for (int p = 0; p < 2; p++) {
            if (p) {
                out[o++] = '=';
                out[o++] = '"';
            }
            for (size_t k = 0; k < lens[p]; k++) {
                unsigned char c = (unsigned char)parts[p][k];
                if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
                    o += (size_t)sprintf(out + o, "\\x%02x", c);
                else
                    out[o++] = (char)c;
            }
            if (p)
                out[o++] = '"';
        }
    }
    out[o++] = '}';
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------------ */
/* Building series                                                          */
/* ------------------------------------------------------------------------ */

#define MAXL 12

/* A label set as given to append (any order, may hold empty values). */
typedef struct lset {
    promstore_label l[MAXL];
    size_t n;
} lset;

static void lset_add(lset *s, const char *name, size_t nlen, const char *value, size_t vlen)
{
    assert_true(s->n < MAXL);
    s->l[s->n++] = (promstore_label){name, nlen, value, vlen};
}

/* LS("name", "value", ..., NULL): NUL-terminated strings, in the order given. */
static lset LS(const char *name, ...)
{
    lset s;
    memset(&s, 0, sizeof s);
    va_list ap;
    va_start(ap, name);
    for (const char *n = name; n != NULL; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        lset_add(&s, n, strlen(n), v, strlen(v));
    }
    va_end(ap);
    return s;
}

/* What the library should make of a set: empty values dropped, sorted by name. */
static lset lset_norm(const lset *in)
{
    lset s;
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < in->n; i++)
        if (in->l[i].value_len > 0)
            s.l[s.n++] = in->l[i];
    for (size_t i = 1; i < s.n; i++)
        for (size_t j = i; j > 0 && bytes_cmp(s.l[j - 1].name, s.l[j - 1].name_len,
                                              s.l[j].name, s.l[j].name_len) > 0;
             j--) {
            promstore_label t = s.l[j];
            s.l[j] = s.l[j - 1];
            s.l[j - 1] = t;
        }
    return s;
}

static char *lset_key(const lset *in)
{
    lset s = lset_norm(in);
    return fmt_labels(s.l, s.n);
}

static promstore_sample SMP(int64_t t, double v)
{
    return (promstore_sample){t, tu_bits(v)};
}

static promstore_sample SMPB(int64_t t, uint64_t bits)
{
    return (promstore_sample){t, bits};
}

static promstore_series SER(const lset *ls, const promstore_sample *s, size_t n)
{
    return (promstore_series){ls->l, ls->n, s, n};
}

/* n samples from t0 every step ms, value i*1.5 + base. malloc'd. */
static promstore_sample *ramp(int64_t t0, int64_t step, size_t n, double base)
{
    promstore_sample *s = xcalloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = SMP(t0 + (int64_t)i * step, base + (double)i * 1.5);
    return s;
}

static promstore_append_result new_result(void)
{
    promstore_append_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    return r;
}

/* Append that must succeed with everything stored; returns the result. */
static promstore_append_result append_ok(promstore *db, const promstore_series *s, size_t n)
{
    promstore_append_result r = new_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_append(db, s, n, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("append: %d (%s): %s", st, promstore_strerror(st), err.message);
    assert_int_equal(r.samples_rejected, 0);
    return r;
}

static void append1_ok(promstore *db, const lset *ls, const promstore_sample *s, size_t n)
{
    promstore_series ser = SER(ls, s, n);
    append_ok(db, &ser, 1);
}

/* ------------------------------------------------------------------------ */
/* Collecting query results                                                 */
/* ------------------------------------------------------------------------ */

typedef struct qchunk {
    int64_t mint, maxt;
    uint8_t *data;
    size_t len;
} qchunk;

typedef struct qseries {
    char *key; /* fmt_labels() of the returned labels */
    promstore_label *labels;
    size_t n_labels;
    promstore_sample *samples;
    size_t n_samples;
    qchunk *chunks;
    size_t n_chunks;
} qseries;

typedef struct qresult {
    qseries *s;
    size_t n;
} qresult;

enum { WANT_SAMPLES = 1, WANT_CHUNKS = 2, WANT_BOTH = 3 };

static void qresult_free(qresult *r)
{
    for (size_t i = 0; i < r->n; i++) {
        qseries *q = &r->s[i];
        free(q->key);
        for (size_t k = 0; k < q->n_labels; k++) {
            free((void *)q->labels[k].name);
            free((void *)q->labels[k].value);
        }
        free(q->labels);
        free(q->samples);
        for (size_t k = 0; k < q->n_chunks; k++)
            free(q->chunks[k].data);
        free(q->chunks);
    }
    free(r->s);
    memset(r, 0, sizeof *r);
}

/*
 * Check what must hold of every series the iterator yields (labels sorted
 * by name, distinct, none empty) and copy it into q.
 */
static void copy_labels(promstore_series_iter *it, qseries *q)
{
    const promstore_label *l = NULL;
    size_t n = 0;
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_OK);
    assert_true(n > 0);
    assert_non_null(l);
    q->labels = xcalloc(n, sizeof *q->labels);
    q->n_labels = n;
    for (size_t i = 0; i < n; i++) {
        assert_true(l[i].name_len > 0);
        assert_true(l[i].value_len > 0); /* empty values are dropped */
        if (i > 0)
            assert_true(bytes_cmp(l[i - 1].name, l[i - 1].name_len, l[i].name,
                                  l[i].name_len) < 0);
        q->labels[i].name = xmemdup(l[i].name, l[i].name_len);
        q->labels[i].name_len = l[i].name_len;
        q->labels[i].value = xmemdup(l[i].value, l[i].value_len);
        q->labels[i].value_len = l[i].value_len;
    }
    q->key = fmt_labels(q->labels, q->n_labels);
}

/*
 * Run a query and collect everything it yields. Returns PROMSTORE_DONE when the
 * whole result was read, or the first error (err filled); what was read before
 * the error stays in *out. Checks on the way that samples are in time order
 * within [mint, maxt] and that chunks are in min_time order and overlap it.
 */
static promstore_status query_collect(promstore *db, const promstore_matcher *m, size_t nm,
                                      int64_t mint, int64_t maxt, int want, qresult *out,
                                      promstore_error *err)
{
    memset(out, 0, sizeof *out);
    promstore_series_iter *it = NULL;
    promstore_status st = promstore_query(db, m, nm, mint, maxt, &it, err);
    if (st != PROMSTORE_OK) {
        assert_null(it);
        return st;
    }
    assert_non_null(it);
    for (;;) {
        st = promstore_series_iter_next(it, err);
        if (st != PROMSTORE_OK)
            break;
        out->s = xrealloc(out->s, (out->n + 1) * sizeof *out->s);
        qseries *q = &out->s[out->n++];
        memset(q, 0, sizeof *q);
        copy_labels(it, q);
        if (want & WANT_SAMPLES) {
            size_t cap = 0;
            promstore_sample smp;
            while ((st = promstore_series_iter_sample(it, &smp, err)) == PROMSTORE_OK) {
                assert_true(smp.timestamp_ms >= mint && smp.timestamp_ms <= maxt);
                if (q->n_samples > 0)
                    assert_true(smp.timestamp_ms > q->samples[q->n_samples - 1].timestamp_ms);
                if (q->n_samples == cap) {
                    cap = cap ? 2 * cap : 16;
                    q->samples = xrealloc(q->samples, cap * sizeof *q->samples);
                }
                q->samples[q->n_samples++] = smp;
            }
            if (st != PROMSTORE_DONE)
                break;
            /* Every selected series has a sample in range. */
            assert_true(q->n_samples > 0);
        }
        if (want & WANT_CHUNKS) {
            promstore_chunk c;
            while ((st = promstore_series_iter_chunk(it, &c, err)) == PROMSTORE_OK) {
                assert_true(c.min_time_ms <= c.max_time_ms);
                assert_true(c.max_time_ms >= mint && c.min_time_ms <= maxt);
                if (q->n_chunks > 0)
                    assert_true(c.min_time_ms >= q->chunks[q->n_chunks - 1].mint);
                assert_non_null(c.data);
                assert_true(c.data_len > 2);
                q->chunks = xrealloc(q->chunks, (q->n_chunks + 1) * sizeof *q->chunks);
                qchunk *qc = &q->chunks[q->n_chunks++];
                qc->mint = c.min_time_ms;
                qc->maxt = c.max_time_ms;
                qc->len = c.data_len;
                qc->data = xcalloc(c.data_len, 1);
                memcpy(qc->data, c.data, c.data_len);
            }
            if (st != PROMSTORE_DONE)
                break;
            assert_true(q->n_chunks > 0);
        }
        /* Series come in labels.Compare order, strictly (no duplicates). */
        if (out->n > 1) {
            qseries *p = &out->s[out->n - 2];
            if (labels_compare(p->labels, p->n_labels, q->labels, q->n_labels) >= 0)
                fail_msg("series out of order: %s then %s", p->key, q->key);
        }
    }
    promstore_series_iter_close(it);
    return st;
}

/* query_collect that must read the whole result. */
static void query_ok(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt, int want, qresult *out)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = query_collect(db, m, nm, mint, maxt, want, out, &err);
    if (st != PROMSTORE_DONE)
        fail_msg("query: %d (%s): %s", st, promstore_strerror(st), err.message);
}

static const qseries *qfind(const qresult *r, const lset *ls)
{
    char *key = lset_key(ls);
    const qseries *found = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->s[i].key, key) == 0)
            found = &r->s[i];
    free(key);
    return found;
}

static void assert_samples_equal(const promstore_sample *got, size_t n_got,
                                 const promstore_sample *want, size_t n_want,
                                 const char *what)
{
    if (n_got != n_want)
        fail_msg("%s: %zu samples, want %zu", what, n_got, n_want);
    for (size_t i = 0; i < n_want; i++)
        if (got[i].timestamp_ms != want[i].timestamp_ms ||
            got[i].value_bits != want[i].value_bits)
            fail_msg("%s: sample %zu is (%" PRId64 ", 0x%016" PRIx64 "), want (%" PRId64
                     ", 0x%016" PRIx64 ")",
                     what, i, got[i].timestamp_ms, got[i].value_bits, want[i].timestamp_ms,
                     want[i].value_bits);
}

/* The series ls is in r with exactly these samples. */
static void assert_series(const qresult *r, const lset *ls, const promstore_sample *want,
                          size_t n)
{
    const qseries *q = qfind(r, ls);
    char *key = lset_key(ls);
    if (q == NULL)
        fail_msg("series %s missing from the result", key);
    assert_samples_equal(q->samples, q->n_samples, want, n, key);
    free(key);
}

/* The result is exactly these series, in this order. */
static void assert_keys(const qresult *r, const lset *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < r->n; i++) {
        char *key = lset_key(want[i]);
        if (strcmp(r->s[i].key, key) != 0)
            fail_msg("series %zu is %s, want %s", i, r->s[i].key, key);
        free(key);
    }
    if (r->n != n)
        fail_msg("%zu series, want %zu", r->n, n);
}

static promstore_matcher MT(promstore_match_type t, const char *name, const char *value)
{
    return (promstore_matcher){t, name, strlen(name), value, strlen(value)};
}

/* Count the series a query selects (DONE required). */
static size_t count_series(promstore *db, const promstore_matcher *m, size_t nm,
                           int64_t mint, int64_t maxt)
{
    qresult r;
    query_ok(db, m, nm, mint, maxt, 0, &r);
    size_t n = r.n;
    qresult_free(&r);
    return n;
}

/* ------------------------------------------------------------------------ */
/* An independent XOR chunk decoder (docs/PROTOCOL.md 3.4)                  */
/* ------------------------------------------------------------------------ */

typedef struct bitreader {
    const uint8_t *b;
    size_t nbits;
    size_t pos;
} bitreader;

static int br_bits(bitreader *r, unsigned n, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (r->pos >= r->nbits)
            return -1;
        v = (v << 1) | ((r->b[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u);
        r->pos++;
    }
    *out = v;
    return 0;
}

static int br_uvarint(bitreader *r, uint64_t *out)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint64_t byte;
        if (br_bits(r, 8, &byte))
            return -1;
        x |= (byte & 0x7f) << shift;
        if (byte < 0x80) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

static int br_value(bitreader *r, uint64_t *v, unsigned *leading, unsigned *trailing)
{
    uint64_t bit, bits;
    if (br_bits(r, 1, &bit))
        return -1;
    if (bit == 0)
        return 0; /* same value */
    if (br_bits(r, 1, &bit))
        return -1;
    if (bit == 1) { /* new window */
        uint64_t lead, mbits;
        if (br_bits(r, 5, &lead) || br_bits(r, 6, &mbits))
            return -1;
        if (mbits == 0)
            mbits = 64;
        *leading = (unsigned)lead;
        if (lead + mbits > 64)
            return -1;
        *trailing = 64u - (unsigned)lead - (unsigned)mbits;
    }
    unsigned sig = 64u - *leading - *trailing;
    if (br_bits(r, sig, &bits))
        return -1;
    *v ^= sig == 64 ? bits : bits << *trailing;
    return 0;
}

/* Decode a chunk into out (cap samples). Returns the sample count or -1. */
static long xor_decode(const uint8_t *d, size_t len, promstore_sample *out, size_t cap)
{
    if (len < 2)
        return -1;
    size_t n = ((size_t)d[0] << 8) | d[1];
    if (n > cap)
        return -1;
    bitreader r = {d + 2, (len - 2) * 8, 0};
    int64_t t = 0, tdelta = 0;
    uint64_t v = 0, u;
    unsigned leading = 0, trailing = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            if (br_uvarint(&r, &u))
                return -1;
            t = (int64_t)(u >> 1) ^ -(int64_t)(u & 1); /* zig-zag */
            if (br_bits(&r, 64, &v))
                return -1;
        } else if (i == 1) {
            if (br_uvarint(&r, &u))
                return -1;
            tdelta = (int64_t)u;
            t += tdelta;
            if (br_value(&r, &v, &leading, &trailing))
                return -1;
        } else {
            unsigned ones = 0;
            uint64_t bit;
            while (ones < 4) {
                if (br_bits(&r, 1, &bit))
                    return -1;
                if (bit == 0)
                    break;
                ones++;
            }
            static const unsigned sizes[5] = {0, 14, 17, 20, 64};
            unsigned sz = sizes[ones];
            int64_t dod = 0;
            if (sz) {
                uint64_t bits;
                if (br_bits(&r, sz, &bits))
                    return -1;
                if (sz != 64 && bits > (UINT64_C(1) << (sz - 1)))
                    bits -= UINT64_C(1) << sz;
                dod = (int64_t)bits;
            }
            tdelta += dod;
            t += tdelta;
            if (br_value(&r, &v, &leading, &trailing))
                return -1;
        }
        out[i] = (promstore_sample){t, v};
    }
    /* The minimal form leaves less than a byte of padding (Prometheus 2 may add one zero byte). */
    if (r.nbits - r.pos >= 16)
        return -1;
    return (long)n;
}

/* Decode all chunks of a series; check each chunk's header and time bounds. malloc'd. */
static promstore_sample *decode_chunks(const qseries *q, size_t *n_out)
{
    size_t total = 0;
    for (size_t i = 0; i < q->n_chunks; i++)
        total += ((size_t)q->chunks[i].data[0] << 8) | q->chunks[i].data[1];
    promstore_sample *all = xcalloc(total, sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < q->n_chunks; i++) {
        const qchunk *c = &q->chunks[i];
        long k = xor_decode(c->data, c->len, all + n, total - n);
        if (k <= 0)
            fail_msg("%s: chunk %zu (%zu bytes) does not decode", q->key, i, c->len);
        /* min/max time are the first and last sample of the chunk. */
        assert_int_equal(all[n].timestamp_ms, c->mint);
        assert_int_equal(all[n + (size_t)k - 1].timestamp_ms, c->maxt);
        for (long j = 1; j < k; j++)
            assert_true(all[n + (size_t)j].timestamp_ms > all[n + (size_t)j - 1].timestamp_ms);
        n += (size_t)k;
    }
    *n_out = n;
    return all;
}

static int sample_cmp(const void *a, const void *b)
{
    const promstore_sample *x = a, *y = b;
    return x->timestamp_ms < y->timestamp_ms ? -1 : x->timestamp_ms > y->timestamp_ms;
}

/* The chunks of q, decoded and merged by time, hold exactly want (sorted). */
static void assert_chunks_hold(const qseries *q, const promstore_sample *want, size_t n)
{
    size_t got_n = 0;
    promstore_sample *got = decode_chunks(q, &got_n);
    qsort(got, got_n, sizeof *got, sample_cmp);
    assert_samples_equal(got, got_n, want, n, q->key);
    free(got);
}

/* ------------------------------------------------------------------------ */
/* Fixture: a fresh store per test                                          */
/* ------------------------------------------------------------------------ */

typedef struct fx {
    char *dir;
    promstore_options opts;
    promstore *db;
} fx;

static void fx_open(fx *f)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    f->db = NULL;
    promstore_status st = promstore_open(&f->opts, &f->db, &err);
    if (st != PROMSTORE_OK)
        fail_msg("open %s on %s: %d: %s", f->dir, g_backend, st, err.message);
    assert_non_null(f->db);
}

static void fx_close(fx *f)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    if (f->db != NULL) {
        promstore_status st = promstore_close(f->db, &err);
        f->db = NULL;
        if (st != PROMSTORE_OK)
            fail_msg("close: %d: %s", st, err.message);
    }
}

static void fx_reopen(fx *f)
{
    fx_close(f);
    fx_open(f);
}

/* Throw the store away and create a new one with f->opts (fixed-at-creation options). */
static void fx_recreate(fx *f)
{
    fx_close(f);
    tu_rmtree(f->dir);
    f->dir = tu_mkdtemp("engine");
    f->opts.path = f->dir;
    fx_open(f);
}

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof *f);
    f->dir = tu_mkdtemp("engine");
    promstore_options_init(&f->opts);
    f->opts.backend = g_backend;
    f->opts.path = f->dir;
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->db != NULL) {
        promstore_error err;
        promstore_close(f->db, &err);
    }
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static promstore_stats stats(promstore *db)
{
    promstore_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_stats_get(db, &s, &err);
    if (st != PROMSTORE_OK)
        fail_msg("stats: %d: %s", st, err.message);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Round trip                                                               */
/* ------------------------------------------------------------------------ */

static void test_roundtrip_values(void **state)
{
    fx *f = *state;
    /* Names and values are slices of one buffer: nothing is NUL-terminated
     * where the library reads it. */
    static const char buf[] = "__name__http_requests_totaljobapiinstancehost:9090codeGET";
    lset a;
    memset(&a, 0, sizeof a);
    lset_add(&a, buf + 27, 3, buf + 30, 3);           /* job="api" */
    lset_add(&a, buf + 0, 8, buf + 8, 19);            /* __name__="http_requests_total" */
    lset_add(&a, buf + 33, 8, buf + 41, 9);           /* instance="host:9090" */
    lset b = LS("job", "db", "__name__", "up", "Zone", "eu", NULL);
    lset c = LS("__name__", "up", NULL);

    /* Every value class that must come back bit-exact. */
    const uint64_t bits[] = {
        PROMSTORE_STALE_NAN_BITS,   UINT64_C(0x7ff8000000000001), /* Prometheus NaN */
        UINT64_C(0xfff8000000000000), UINT64_C(0x7ff0000000000001), /* -qNaN, sNaN */
        UINT64_C(0x7fffffffffffffff), UINT64_C(0xffffffffffffffff),
        tu_bits(INFINITY),          tu_bits(-INFINITY),
        tu_bits(-0.0),              tu_bits(0.0),
        UINT64_C(1),                tu_bits(DBL_MAX),             /* subnormal, max */
        tu_bits(-DBL_MIN),          tu_bits(0.1),
        tu_bits(1e300),             PROMSTORE_STALE_NAN_BITS,
        tu_bits(42.0),              tu_bits(42.0),
    };
    size_t nb = sizeof bits / sizeof bits[0];
    promstore_sample sa[sizeof bits / sizeof bits[0]];
    int64_t t = T0;
    for (size_t i = 0; i < nb; i++) {
        t += 1 + (int64_t)(i * i * 977) % 40000; /* irregular gaps */
        sa[i] = SMPB(t, bits[i]);
    }
    promstore_sample sb[3] = {SMP(T0, 1), SMP(T0 + 15000, 2), SMPB(T0 + 30000, PROMSTORE_STALE_NAN_BITS)};
    promstore_sample sc[1] = {SMP(T0 + 5, -0.0)};
    promstore_series batch[3] = {SER(&a, sa, nb), SER(&b, sb, 3), SER(&c, sc, 1)};
    promstore_append_result r = append_ok(f->db, batch, 3);
    assert_int_equal(r.samples_appended, nb + 4);
    assert_int_equal(r.samples_duplicate, 0);
    assert_int_equal(r.samples_rejected, 0);
    assert_int_equal(r.series_created, 3);

    qresult res;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &res);
    /* Expected order computed with the comparator of this file. */
    lset na = lset_norm(&a), nb_ = lset_norm(&b), nc = lset_norm(&c);
    const lset *order[3] = {&na, &nb_, &nc};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (labels_compare(order[j]->l, order[j]->n, order[i]->l, order[i]->n) < 0) {
                const lset *x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
    assert_keys(&res, order, 3);
    /* Labels exactly as sent, sorted. */
    const qseries *qa = qfind(&res, &a);
    assert_non_null(qa);
    assert_string_equal(qa->key,
                        "{__name__=\"http_requests_total\",instance=\"host:9090\",job=\"api\"}");
    const qseries *qb = qfind(&res, &b);
    assert_non_null(qb);
    assert_string_equal(qb->key, "{Zone=\"eu\",__name__=\"up\",job=\"db\"}");
    assert_series(&res, &a, sa, nb);
    assert_series(&res, &b, sb, 3);
    assert_series(&res, &c, sc, 1);
    /* The chunks hold the same bits. */
    assert_chunks_hold(qa, sa, nb);
    assert_chunks_hold(qb, sb, 3);
    qresult_free(&res);

    /* Labels returned are NUL-terminated copies owned by the iterator. */
    promstore_series_iter *it = NULL;
    promstore_error err;
    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    const promstore_label *l;
    size_t n;
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_OK);
    /* Reading the labels twice gives the same thing. */
    const promstore_label *l2;
    size_t n2;
    assert_int_equal(promstore_series_iter_labels(it, &l2, &n2), PROMSTORE_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(l[0].name, l2[0].name, l[0].name_len);
    promstore_series_iter_close(it);
}

static void test_time_range_inclusive(void **state)
{
    fx *f = *state;
    lset s = LS("__name__", "range", NULL);
    lset o = LS("__name__", "other", NULL);
    promstore_sample smp[5] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3), SMP(4000, 4), SMP(5000, 5)};
    promstore_sample os[1] = {SMP(10000, 10)};
    promstore_series batch[2] = {SER(&s, smp, 5), SER(&o, os, 1)};
    append_ok(f->db, batch, 2);

    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "range");
    qresult r;
    query_ok(f->db, &m, 1, 2000, 4000, WANT_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 1, 3, "[2000,4000]");
    qresult_free(&r);

    query_ok(f->db, &m, 1, 2001, 3999, WANT_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 2, 1, "[2001,3999]");
    qresult_free(&r);

    /* A one-millisecond range on each edge. */
    query_ok(f->db, &m, 1, 1000, 1000, WANT_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp, 1, "[1000,1000]");
    qresult_free(&r);
    query_ok(f->db, &m, 1, 5000, 5000, WANT_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 4, 1, "[5000,5000]");
    qresult_free(&r);

    /* No sample in range: the series is not selected at all. */
    assert_int_equal(count_series(f->db, &m, 1, 4001, 4999), 0);
    assert_int_equal(count_series(f->db, &m, 1, 5001, INT64_MAX), 0);
    assert_int_equal(count_series(f->db, &m, 1, INT64_MIN, 999), 0);
    /* Without matchers the time range alone selects. */
    assert_int_equal(count_series(f->db, NULL, 0, 5001, 9999), 0);
    assert_int_equal(count_series(f->db, NULL, 0, 5000, 10000), 2);
    assert_int_equal(count_series(f->db, NULL, 0, 6000, 10000), 1);

    /* mint > maxt is a bad argument. */
    promstore_series_iter *it = (promstore_series_iter *)(uintptr_t)0x1;
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_query(f->db, &m, 1, 4000, 3999, &it, &err), PROMSTORE_E_INVALID);
    assert_null(it);
    assert_int_equal(err.status, PROMSTORE_E_INVALID);
    assert_true(err.message[0] != '\0');
    promstore_string_iter *sit = (promstore_string_iter *)(uintptr_t)0x1;
    assert_int_equal(promstore_label_names(f->db, NULL, 0, 10, 9, &sit, &err),
                     PROMSTORE_E_INVALID);
    assert_null(sit);
}

static void test_negative_timestamps(void **state)
{
    fx *f = *state;
    /* int64 milliseconds before 1970 are valid timestamps, and block
     * arithmetic on them must floor, not truncate toward zero. */
    lset s = LS("__name__", "old", NULL);
    promstore_sample smp[6] = {SMP(-BLOCK_MS - 1, 1), SMP(-BLOCK_MS, 2), SMP(-5000, 3),
                               SMP(-1, 4),            SMP(0, 5),         SMP(1, 6)};
    append1_ok(f->db, &s, smp, 6);
    qresult r;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &r);
    assert_int_equal(r.n, 1);
    assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp, 6, "negative");
    assert_chunks_hold(&r.s[0], smp, 6);
    qresult_free(&r);
    query_ok(f->db, NULL, 0, -5000, -1, WANT_SAMPLES, &r);
    assert_int_equal(r.n, 1);
    assert_samples_equal(r.s[0].samples, r.s[0].n_samples, smp + 2, 2, "[-5000,-1]");
    qresult_free(&r);
    promstore_stats st = stats(f->db);
    assert_int_equal(st.min_time_ms, -BLOCK_MS - 1);
    assert_int_equal(st.max_time_ms, 1);
}

/* ------------------------------------------------------------------------ */
/* Matchers                                                                 */
/* ------------------------------------------------------------------------ */

/* The data set the matcher tests share. */
static lset g_m[6];
#define M_N 6

static void load_matcher_data(promstore *db)
{
    g_m[0] = LS("__name__", "up", "job", "api", "instance", "a:1", NULL);
    g_m[1] = LS("instance", "b:2", "__name__", "up", "env", "prod", "job", "api", NULL);
    g_m[2] = LS("__name__", "up", "job", "db", "instance", "c:3", NULL);
    g_m[3] = LS("job", "api", "__name__", "down", NULL);
    g_m[4] = LS("__name__", "up", "job", "api\nx", NULL); /* '.' must match '\n' */
    g_m[5] = LS("__name__", "up", "job", "apix", "env", "staging", NULL);
    promstore_sample smp[2] = {SMP(T0, 1), SMP(T0 + 1000, 2)};
    promstore_series batch[M_N];
    for (int i = 0; i < M_N; i++)
        batch[i] = SER(&g_m[i], smp, 2);
    append_ok(db, batch, M_N);
}

/* Run the matchers; the result must be exactly the series whose bit is set in
 * `want` (bit i = g_m[i]), in labels.Compare order. */
static void check_match(promstore *db, const promstore_matcher *m, size_t nm, unsigned want,
                        const char *what)
{
    const lset *exp[M_N];
    lset norm[M_N];
    size_t n = 0;
    for (int i = 0; i < M_N; i++)
        if (want & (1u << i)) {
            norm[n] = lset_norm(&g_m[i]);
            exp[n] = &norm[n];
            n++;
        }
    /* Sort the expectation with this file's comparator. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && labels_compare(exp[j - 1]->l, exp[j - 1]->n, exp[j]->l,
                                                   exp[j]->n) > 0;
             j--) {
            const lset *t = exp[j];
            exp[j] = exp[j - 1];
            exp[j - 1] = t;
        }
    qresult r;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = query_collect(db, m, nm, FULL, WANT_SAMPLES, &r, &err);
    if (st != PROMSTORE_DONE)
        fail_msg("%s: %d: %s", what, st, err.message);
    if (r.n != n) {
        print_message("matcher case: %s\n", what);
        for (size_t i = 0; i < r.n; i++)
            print_message("  got %s\n", r.s[i].key);
    }
    assert_keys(&r, exp, n);
    qresult_free(&r);
}

static void test_matchers(void **state)
{
    fx *f = *state;
    load_matcher_data(f->db);
    const unsigned ALL = (1u << M_N) - 1;
    const promstore_match_type EQ = PROMSTORE_MATCH_EQ, NEQ = PROMSTORE_MATCH_NEQ,
                               RE = PROMSTORE_MATCH_RE, NRE = PROMSTORE_MATCH_NRE;
    struct {
        promstore_match_type type;
        const char *name, *value;
        unsigned want;
    } one[] = {
        {EQ, "__name__", "up", 0x37},
        {EQ, "__name__", "down", 0x08},
        {EQ, "__name__", "u", 0},           /* no prefix matching */
        {NEQ, "job", "api", 0x34},          /* db, api\nx, apix */
        {NEQ, "__name__", "up", 0x08},
        {RE, "job", "ap.", 0x0b},           /* anchored: "api" only, not "apix" */
        {RE, "job", "api.x", 0x10},         /* '.' matches newline */
        {RE, "job", "api.*", 0x3b},
        {RE, "job", "a", 0},                /* anchored at both ends */
        {RE, "job", "pi", 0},
        {RE, "job", "api|db", 0x0f},
        {RE, "instance", "[ab]:\\d", 0x03},
        {NRE, "job", "api|db", 0x30},
        {NRE, "job", "a.*", 0x04},
        /* A series without the label is matched as if its value were "". */
        {EQ, "env", "", 0x1d},              /* series without env */
        {NEQ, "env", "", 0x22},             /* series with env */
        {RE, "env", ".*", ALL},             /* .* matches the empty value */
        {RE, "env", ".+", 0x22},
        {NRE, "env", ".+", 0x1d},           /* absent counts as "" */
        {NRE, "env", ".*", 0},
        {NEQ, "env", "staging", 0x1f},      /* absent "" != "staging" */
        {EQ, "env", "staging", 0x20},
        {RE, "env", "prod|", 0x1f},         /* prod, or absent */
        {RE, "env", "pro", 0},
        {EQ, "nonexistent", "", ALL},
        {EQ, "nonexistent", "x", 0},
        {NEQ, "nonexistent", "", 0},
        {NEQ, "nonexistent", "x", ALL},
        {RE, "nonexistent", "x*", ALL},
        {NRE, "nonexistent", "x", ALL},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        promstore_matcher m = MT(one[i].type, one[i].name, one[i].value);
        char what[128];
        snprintf(what, sizeof what, "case %zu: %s %d \"%s\"", i, one[i].name, one[i].type,
                 one[i].value);
        check_match(f->db, &m, 1, one[i].want, what);
    }

    /* No matchers: every series. */
    check_match(f->db, NULL, 0, ALL, "no matchers");

    /* Several matchers are ANDed. */
    promstore_matcher and1[3] = {MT(EQ, "__name__", "up"), MT(EQ, "job", "api"),
                                 MT(EQ, "env", "")};
    check_match(f->db, and1, 3, 0x01, "up, api, no env");
    promstore_matcher and2[2] = {MT(RE, "job", "api.*"), MT(NEQ, "__name__", "down")};
    check_match(f->db, and2, 2, 0x33, "api.* and not down");
    promstore_matcher and3[2] = {MT(EQ, "job", "api"), MT(EQ, "job", "db")};
    check_match(f->db, and3, 2, 0, "contradiction");
    /* Only negative matchers. */
    promstore_matcher neg[2] = {MT(NEQ, "job", "api"), MT(NRE, "env", "stag.*")};
    check_match(f->db, neg, 2, 0x14, "negatives only");

    /* A value with a NUL byte matches by its full length, not up to the NUL. */
    promstore_matcher nul = {PROMSTORE_MATCH_EQ, "job", 3, "api\0zz", 6};
    check_match(f->db, &nul, 1, 0, "EQ with embedded NUL");
    /* Matcher strings need not be NUL-terminated: "jobapi" sliced. */
    static const char slice[] = "jobapiXX";
    promstore_matcher sl = {PROMSTORE_MATCH_EQ, slice, 3, slice + 3, 3};
    check_match(f->db, &sl, 1, 0x0b, "sliced matcher");

    /* RE2 syntax: flags, classes, escaped metacharacters in an alternation
     * (a literal-alternation shortcut must unescape, not compare the source). */
    lset extra[3] = {LS("__name__", "rx", "path", "a.b", NULL),
                     LS("__name__", "rx", "path", "axb", NULL),
                     LS("__name__", "rx", "path", "A|B", NULL)};
    promstore_sample es[1] = {SMP(T0, 1)};
    promstore_series eb[3] = {SER(&extra[0], es, 1), SER(&extra[1], es, 1), SER(&extra[2], es, 1)};
    append_ok(f->db, eb, 3);
    struct {
        promstore_match_type type;
        const char *value;
        const char *want; /* '|'-joined path values, in order */
    } rx[] = {
        {PROMSTORE_MATCH_RE, "a\\.b|zzz", "a.b"},
        {PROMSTORE_MATCH_RE, "a.b|zzz", "a.b|axb"},
        {PROMSTORE_MATCH_RE, "(?i)A\\.B", "a.b"},
        {PROMSTORE_MATCH_RE, "A\\|B", "A|B"},
        {PROMSTORE_MATCH_RE, "[[:lower:]]x[b-c]", "axb"},
        {PROMSTORE_MATCH_RE, "a\\Sb", "a.b|axb"},
        {PROMSTORE_MATCH_NRE, "a\\.b|A\\|B", "axb"},
        {PROMSTORE_MATCH_RE, "(a\\.b)|(axb)", "a.b|axb"},
        {PROMSTORE_MATCH_RE, "a.b|", "a.b|axb"}, /* every rx series has path */
    };
    for (size_t i = 0; i < sizeof rx / sizeof rx[0]; i++) {
        promstore_matcher m2[2] = {MT(EQ, "__name__", "rx"), MT(rx[i].type, "path", rx[i].value)};
        qresult r;
        query_ok(f->db, m2, 2, FULL, 0, &r);
        char got[64] = "";
        for (size_t k = 0; k < r.n; k++) {
            if (k)
                strcat(got, "|");
            strncat(got, r.s[k].labels[1].value, 8);
        }
        if (strcmp(got, rx[i].want) != 0)
            fail_msg("path %s \"%s\": got \"%s\", want \"%s\"",
                     rx[i].type == PROMSTORE_MATCH_RE ? "=~" : "!~", rx[i].value, got,
                     rx[i].want);
        qresult_free(&r);
    }

    /* Matchers that match nothing: DONE at once. */
    promstore_matcher none = MT(EQ, "__name__", "no_such_metric");
    promstore_series_iter *it = NULL;
    promstore_error err;
    assert_int_equal(promstore_query(f->db, &none, 1, FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    promstore_series_iter_close(it);
}

static void test_bad_matchers(void **state)
{
    fx *f = *state;
    load_matcher_data(f->db);
    struct {
        promstore_match_type type;
        const char *value;
    } bad[] = {
        {PROMSTORE_MATCH_RE, "("},
        {PROMSTORE_MATCH_NRE, "[a-"},
        {PROMSTORE_MATCH_RE, "a{2,1}"},
        {PROMSTORE_MATCH_RE, "(a)\\1"},   /* backreference: RE2 has none */
        {PROMSTORE_MATCH_RE, "(?=a)a"},   /* lookahead */
        {PROMSTORE_MATCH_NRE, "(?<!a)b"}, /* lookbehind */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promstore_matcher m[2] = {MT(PROMSTORE_MATCH_EQ, "__name__", "up"),
                                  MT(bad[i].type, "job", bad[i].value)};
        promstore_series_iter *it = (promstore_series_iter *)(uintptr_t)0x1;
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_query(f->db, m, 2, FULL, &it, &err);
        if (st != PROMSTORE_E_BAD_MATCHER)
            fail_msg("regex \"%s\": status %d, want BAD_MATCHER", bad[i].value, st);
        assert_null(it);
        assert_int_equal(err.status, PROMSTORE_E_BAD_MATCHER);
        /* The message names the matcher: its label name and pattern. */
        assert_non_null(strstr(err.message, "job"));
        if (strchr(bad[i].value, '\\') == NULL) /* a message may escape backslashes */
            assert_non_null(strstr(err.message, bad[i].value));

        /* The same for the label name/value calls. */
        promstore_string_iter *sit = (promstore_string_iter *)(uintptr_t)0x1;
        memset(&err, 0, sizeof err);
        assert_int_equal(promstore_label_names(f->db, m, 2, FULL, &sit, &err),
                         PROMSTORE_E_BAD_MATCHER);
        assert_null(sit);
        assert_true(err.message[0] != '\0');
        sit = (promstore_string_iter *)(uintptr_t)0x1;
        assert_int_equal(promstore_label_values(f->db, "job", 3, m, 2, FULL, &sit, &err),
                         PROMSTORE_E_BAD_MATCHER);
        assert_null(sit);
    }
    /* An unknown matcher type is refused, never treated as some other type. */
    promstore_matcher m = {(promstore_match_type)7, "job", 3, "api", 3};
    promstore_series_iter *it = NULL;
    promstore_error err;
    promstore_status st = promstore_query(f->db, &m, 1, FULL, &it, &err);
    assert_true(st == PROMSTORE_E_BAD_MATCHER || st == PROMSTORE_E_INVALID);
    assert_null(it);
    /* A matcher value that is not UTF-8 cannot match any stored label. */
    promstore_matcher inv = {PROMSTORE_MATCH_RE, "job", 3, "\xff", 1};
    st = promstore_query(f->db, &inv, 1, FULL, &it, &err);
    assert_int_equal(st, PROMSTORE_E_BAD_MATCHER);
}

/* ------------------------------------------------------------------------ */
/* Sort order                                                               */
/* ------------------------------------------------------------------------ */

static void test_sort_order(void **state)
{
    fx *f = *state;
    /* A set built to catch the usual mistakes: uppercase names before '_',
     * names sorting before and after __name__, label sets that are prefixes of
     * others, values that are prefixes of others, multi-byte UTF-8 (above every
     * ASCII byte), U+0000 and U+0001 inside values and names (which a key
     * encoding must escape), and sets where a shorter name list sorts after a
     * longer one. */
    lset s[32];
    size_t n = 0;
    s[n++] = LS("A", "1", NULL);
    s[n++] = LS("A", "1", "__name__", "m", NULL);
    s[n++] = LS("Z", "z", "a", "1", NULL);
    s[n++] = LS("_", "1", NULL);
    s[n++] = LS("__name__", "m", NULL);
    s[n++] = LS("__name__", "m", "a", "1", NULL);
    s[n++] = LS("a", "1", "b", "2", "__name__", "m", NULL);
    s[n++] = LS("__name__", "m", "a", "10", NULL);
    s[n++] = LS("__name__", "m", "a", "2", NULL);
    s[n++] = LS("__name__", "m", "b", "1", NULL);
    s[n++] = LS("__name__", "m", "aa", "1", NULL);
    s[n++] = LS("__name__", "m_", NULL);
    s[n++] = LS("__name__", "m\x7f", NULL);
    s[n++] = LS("__name__", "m\xc3\xa9", NULL);         /* m + U+00E9 */
    s[n++] = LS("__name__", "m\xef\xbf\xbd", NULL);     /* m + U+FFFD */
    s[n++] = LS("__name__", "m\xf0\x9f\x98\x80", NULL); /* m + U+1F600 */
    s[n++] = LS("__name__", "M", NULL);
    s[n++] = LS("__name__a", "1", NULL);
    s[n++] = LS("__nam", "1", NULL);
    s[n++] = LS("a", "1", NULL);
    s[n++] = LS("a", "1", "b", "1", NULL);
    s[n++] = LS("ab", "1", NULL);
    s[n++] = LS("a", "1 ", NULL);
    s[n++] = LS("\xc3\xa9", "1", NULL); /* name U+00E9 */
    s[n++] = LS("a", "\xc3\xa9", NULL);
    s[n++] = LS("a", "z", NULL);
    s[n++] = LS("b", "", "a", "y", NULL); /* b dropped: {a="y"} */
    lset t;
    memset(&t, 0, sizeof t);
    lset_add(&t, "a", 1, "1\0x", 3); /* U+0000 inside a value */
    s[n++] = t;
    memset(&t, 0, sizeof t);
    lset_add(&t, "a", 1, "1\x01", 2); /* U+0001 */
    s[n++] = t;
    memset(&t, 0, sizeof t);
    lset_add(&t, "a\0", 2, "1", 1); /* U+0000 inside a name */
    s[n++] = t;
    memset(&t, 0, sizeof t);
    lset_add(&t, "a", 1, "1", 1);
    lset_add(&t, "a\x01", 2, "1", 1);
    s[n++] = t;
    assert_true(n <= 32);

    /* Append in an order unrelated to the expected one, in two batches. */
    promstore_sample smp[1] = {SMP(T0, 1)};
    promstore_series batch[32];
    for (size_t i = 0; i < n; i++)
        batch[i] = SER(&s[(i * 7) % n], smp, 1); /* 7 is prime to n (31) */
    assert_int_equal(n, 31);
    append_ok(f->db, batch, 13);
    append_ok(f->db, batch + 13, n - 13);

    /* Expected: normalise and sort with this file's comparator. */
    lset norm[32];
    const lset *exp[32];
    for (size_t i = 0; i < n; i++) {
        norm[i] = lset_norm(&s[i]);
        exp[i] = &norm[i];
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && labels_compare(exp[j - 1]->l, exp[j - 1]->n, exp[j]->l,
                                                   exp[j]->n) > 0;
             j--) {
            const lset *x = exp[j];
            exp[j] = exp[j - 1];
            exp[j - 1] = x;
        }
    /* The comparator itself, on the cases docs/PROTOCOL.md 3.3 spells out. */
    lset A = LS("A", "1", NULL), N = LS("__name__", "m", NULL), a = LS("a", "1", NULL);
    assert_true(labels_compare(A.l, A.n, N.l, N.n) < 0);
    assert_true(labels_compare(N.l, N.n, a.l, a.n) < 0);

    qresult r;
    query_ok(f->db, NULL, 0, FULL, WANT_SAMPLES, &r);
    assert_keys(&r, exp, n);
    qresult_free(&r);

    /* The same order through a matcher that walks postings instead. */
    promstore_matcher m = MT(PROMSTORE_MATCH_RE, "__name__", "m.*");
    size_t want = 0;
    const lset *sub[32];
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < exp[i]->n; k++)
            if (exp[i]->l[k].name_len == 8 && memcmp(exp[i]->l[k].name, "__name__", 8) == 0 &&
                exp[i]->l[k].value[0] == 'm')
                sub[want++] = exp[i];
    query_ok(f->db, &m, 1, FULL, WANT_SAMPLES, &r);
    assert_keys(&r, sub, want);
    qresult_free(&r);
}

static void test_many_series(void **state)
{
    fx *f = *state;
    /* 20k series whose label values sort differently as text and as numbers,
     * appended in batches in a scrambled order. */
    enum { N = 20000, BATCH = 2500 };
    char(*vals)[16] = xcalloc(N, sizeof *vals);
    promstore_label(*labels)[3] = xcalloc(N, sizeof *labels);
    promstore_series *ser = xcalloc(N, sizeof *ser);
    promstore_sample *smp = xcalloc(N, sizeof *smp);
    for (size_t i = 0; i < N; i++) {
        size_t k = (i * 7919) % N; /* scrambled, still a permutation */
        int len = snprintf(vals[i], sizeof vals[i], "%zu", k);
        labels[i][0] = (promstore_label){"i", 1, vals[i], (size_t)len};
        labels[i][1] = (promstore_label){"__name__", 8, "many", 4};
        labels[i][2] = (promstore_label){"parity", 6, (k & 1) ? "odd" : "even", (k & 1) ? 3 : 4};
        smp[i] = SMP(T0 + (int64_t)(i % 100), (double)k);
        ser[i] = (promstore_series){labels[i], 3, &smp[i], 1};
    }
    uint64_t created = 0;
    for (size_t i = 0; i < N; i += BATCH)
        created += append_ok(f->db, ser + i, BATCH).series_created;
    assert_int_equal(created, N);
    assert_int_equal(stats(f->db).series, N);

    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "__name__", "many");
    qresult r;
    query_ok(f->db, &m, 1, FULL, WANT_SAMPLES, &r); /* checks strict order on the way */
    assert_int_equal(r.n, N);
    /* Every k exactly once, each with its own value. */
    unsigned char *seen = xcalloc(N, 1);
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.s[i].n_labels, 3);
        assert_int_equal(r.s[i].n_samples, 1);
        size_t k = (size_t)strtoul(r.s[i].labels[1].value, NULL, 10);
        assert_string_equal(r.s[i].labels[1].name, "i");
        assert_true(k < N);
        assert_false(seen[k]);
        seen[k] = 1;
        assert_true(r.s[i].samples[0].value_bits == tu_bits((double)k));
    }
    /* Text order: "0" < "1" < "10" < "100" ... */
    assert_string_equal(r.s[0].labels[1].value, "0");
    assert_string_equal(r.s[1].labels[1].value, "1");
    assert_string_equal(r.s[2].labels[1].value, "10");
    assert_string_equal(r.s[3].labels[1].value, "100");
    assert_string_equal(r.s[N - 1].labels[1].value, "9999");
    qresult_free(&r);

    /* A matcher selecting half of them. */
    promstore_matcher half[2] = {m, MT(PROMSTORE_MATCH_EQ, "parity", "odd")};
    assert_int_equal(count_series(f->db, half, 2, FULL), N / 2);
    /* A time range selecting a hundredth of them (t = T0 + 7 only). */
    assert_int_equal(count_series(f->db, &m, 1, T0 + 7, T0 + 7), N / 100);

    free(seen);
    free(vals);
    free(labels);
    free(ser);
    free(smp);
}

/* ------------------------------------------------------------------------ */
/* Label validation                                                         */
/* ------------------------------------------------------------------------ */

static void assert_store_empty(promstore *db)
{
    promstore_stats st = stats(db);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(count_series(db, NULL, 0, FULL), 0);
}

static void test_label_validation(void **state)
{
    fx *f = *state;
    struct {
        lset ls;
        const char *marker; /* text the message must hold to name the series */
        const char *what;
    } bad[12];
    size_t n = 0;
    memset(bad, 0, sizeof bad);
    bad[n].what = "no labels"; /* ls.n == 0 */
    n++;
    bad[n].ls = LS("a", "", NULL), bad[n].what = "only an empty value";
    n++;
    bad[n].ls = LS("__name__", "empty_name_series", "", "x", NULL);
    bad[n].marker = "empty_name_series", bad[n].what = "empty name";
    n++;
    bad[n].ls = LS("__name__", "dup_metric_xyz", "a", "1", "a", "2", NULL);
    bad[n].marker = "dup_metric_xyz", bad[n].what = "duplicate name";
    n++;
    bad[n].ls = LS("a", "1", "__name__", "dup_same_value", "a", "1", NULL);
    bad[n].marker = "dup_same_value", bad[n].what = "duplicate name and value";
    n++;
    bad[n].ls = LS("__name__", "bad_value_series", "a", "\xff", NULL);
    bad[n].marker = "bad_value_series", bad[n].what = "0xff in value";
    n++;
    bad[n].ls = LS("__name__", "bad_name_series", "\xc3", "x", NULL);
    bad[n].marker = "bad_name_series", bad[n].what = "truncated sequence in name";
    n++;
    bad[n].ls = LS("__name__", "overlong_series", "a", "\xc0\xaf", NULL);
    bad[n].marker = "overlong_series", bad[n].what = "overlong encoding";
    n++;
    bad[n].ls = LS("__name__", "surrogate_series", "a", "\xed\xa0\x80", NULL);
    bad[n].marker = "surrogate_series", bad[n].what = "UTF-16 surrogate";
    n++;
    bad[n].ls = LS("__name__", "too_big_series", "a", "\xf4\x90\x80\x80", NULL);
    bad[n].marker = "too_big_series", bad[n].what = "above U+10FFFF";
    n++;
    bad[n].ls = LS("__name__", "\xe2\x82", "a", "1", NULL);
    bad[n].what = "truncated sequence in __name__ value";
    n++;

    lset good1 = LS("__name__", "good", "k", "1", NULL);
    lset good2 = LS("__name__", "good", "k", "2", NULL);
    promstore_sample smp[2] = {SMP(T0, 1), SMP(T0 + 1, 2)};
    for (size_t i = 0; i < n; i++) {
        /* Alone, and with valid series before and after it in the batch. */
        for (int form = 0; form < 2; form++) {
            promstore_series batch[3] = {SER(&good1, smp, 2), SER(&bad[i].ls, smp, 2),
                                         SER(&good2, smp, 2)};
            promstore_append_result r = new_result();
            promstore_error err;
            memset(&err, 0, sizeof err);
            promstore_status st = form == 0 ? promstore_append(f->db, &batch[1], 1, &r, &err)
                                             : promstore_append(f->db, batch, 3, &r, &err);
            if (st != PROMSTORE_E_BAD_LABELS)
                fail_msg("%s (form %d): status %d, want BAD_LABELS", bad[i].what, form, st);
            assert_int_equal(err.status, PROMSTORE_E_BAD_LABELS);
            assert_true(err.message[0] != '\0');
            if (bad[i].marker != NULL && strstr(err.message, bad[i].marker) == NULL)
                fail_msg("%s: message does not name the series: %s", bad[i].what,
                         err.message);
            assert_int_equal(r.samples_appended, 0);
            assert_int_equal(r.series_created, 0);
            /* All-or-nothing: the valid series were not stored either. */
            assert_store_empty(f->db);
        }
    }
    /* The bad series last in a big batch: still nothing. */
    promstore_series big[5] = {SER(&good1, smp, 2), SER(&good2, smp, 2), SER(&good1, smp, 2),
                               SER(&good2, smp, 2), SER(&bad[3].ls, smp, 2)};
    promstore_error err;
    assert_int_equal(promstore_append(f->db, big, 5, NULL, &err), PROMSTORE_E_BAD_LABELS);
    assert_store_empty(f->db);
    /* The store is still usable, and survives a reopen empty. */
    fx_reopen(f);
    assert_store_empty(f->db);
    append1_ok(f->db, &good1, smp, 2);
    assert_int_equal(stats(f->db).series, 1);

    /* Valid UTF-8 of every length, U+0000 and U+10FFFF included, is accepted. */
    lset ok;
    memset(&ok, 0, sizeof ok);
    lset_add(&ok, "__name__", 8, "utf8", 4);
    lset_add(&ok, "v", 1, "\x00\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"
                          "\xf4\x8f\xbf\xbf", 20);
    lset_add(&ok, "caf\xc3\xa9", 5, "\xe6\x97\xa5\xe6\x9c\xac", 6);
    append1_ok(f->db, &ok, smp, 2);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_SAMPLES, &q);
    assert_int_equal(q.n, 2);
    assert_non_null(qfind(&q, &ok));
    qresult_free(&q);
}

static void test_long_message_truncated(void **state)
{
    fx *f = *state;
    /* A message naming a huge series is cut to fit and ends with "...". */
    size_t big = 5000;
    char *v = xcalloc(big, 1);
    memset(v, 'x', big);
    lset ls = LS("__name__", "huge", NULL);
    lset_add(&ls, "a", 1, v, big);
    lset_add(&ls, "a", 1, v, big); /* duplicate name */
    promstore_sample smp = SMP(T0, 1);
    promstore_series s = SER(&ls, &smp, 1);
    promstore_error err;
    memset(&err, 'q', sizeof err);
    assert_int_equal(promstore_append(f->db, &s, 1, NULL, &err), PROMSTORE_E_BAD_LABELS);
    size_t len = strnlen(err.message, sizeof err.message);
    assert_true(len < sizeof err.message);
    assert_true(len >= 3);
    assert_string_equal(err.message + len - 3, "...");
    free(v);
}

static void test_legacy_names(void **state)
{
    fx *f = *state;
    const char *legacy_bad[] = {"a-b", "1a", "caf\xc3\xa9", "a b", "a.b"};
    promstore_sample smp = SMP(T0, 1);

    /* Default: UTF-8 names (Prometheus 3) are all accepted. */
    for (size_t i = 0; i < sizeof legacy_bad / sizeof legacy_bad[0]; i++) {
        lset ls = LS("__name__", "names", legacy_bad[i], "v", NULL);
        append1_ok(f->db, &ls, &smp, 1);
    }
    assert_int_equal(stats(f->db).series, 5);

    /* With the flag they are refused, naming the series; legacy-valid ones pass. */
    f->opts.flags = PROMSTORE_OPEN_LEGACY_NAMES;
    fx_recreate(f);
    for (size_t i = 0; i < sizeof legacy_bad / sizeof legacy_bad[0]; i++) {
        lset ls = LS("__name__", "legacy_metric", legacy_bad[i], "v", NULL);
        promstore_series s = SER(&ls, &smp, 1);
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_append(f->db, &s, 1, NULL, &err);
        if (st != PROMSTORE_E_BAD_LABELS)
            fail_msg("legacy name \"%s\": status %d", legacy_bad[i], st);
        assert_non_null(strstr(err.message, "legacy_metric"));
    }
    assert_store_empty(f->db);
    lset ok = LS("__name__", "legacy_metric", "a_B9", "v", "_x", "v", "Z", "v", NULL);
    append1_ok(f->db, &ok, &smp, 1);
    assert_int_equal(stats(f->db).series, 1);
}

static void test_empty_value_dropped(void **state)
{
    fx *f = *state;
    lset withb = LS("a", "1", "b", "", NULL);
    lset without = LS("a", "1", NULL);
    promstore_sample s1 = SMP(T0, 1), s2 = SMP(T0 + 1000, 2);
    promstore_series ser1 = SER(&withb, &s1, 1);
    promstore_append_result r = append_ok(f->db, &ser1, 1);
    assert_int_equal(r.series_created, 1);
    promstore_series ser2 = SER(&without, &s2, 1);
    r = append_ok(f->db, &ser2, 1);
    assert_int_equal(r.series_created, 0); /* the same series */
    assert_int_equal(stats(f->db).series, 1);

    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    assert_string_equal(q.s[0].key, "{a=\"1\"}");
    promstore_sample want[2] = {s1, s2};
    assert_samples_equal(q.s[0].samples, q.s[0].n_samples, want, 2, "merged");
    qresult_free(&q);

    /* b="" selects it, b!="" does not; b is no label name. */
    promstore_matcher m = MT(PROMSTORE_MATCH_EQ, "b", "");
    assert_int_equal(count_series(f->db, &m, 1, FULL), 1);
    m = MT(PROMSTORE_MATCH_NEQ, "b", "");
    assert_int_equal(count_series(f->db, &m, 1, FULL), 0);
    promstore_string_iter *it = NULL;
    promstore_error err;
    assert_int_equal(promstore_label_names(f->db, NULL, 0, FULL, &it, &err), PROMSTORE_OK);
    const char *s;
    size_t len;
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_OK);
    assert_string_equal(s, "a");
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
}

static void test_codec_edges(void **state)
{
    fx *f = *state;
    /* Timestamp deltas whose delta-of-delta sits on each bucket edge of the
     * XOR encoding (14, 17, 20 and 64 bits, both signs), and values whose XOR
     * windows are edge cases (64 significant bits, leading zeros above 31,
     * reuse of the previous window), all inside one 2h block. */
    static const int64_t deltas[] = {1,     8193,  1,      8194,    1,       65537,
                                     1,     65538, 1,      524289,  1,       524290,
                                     1,     3000000, 1,    7,       7,       7};
    static const uint64_t vals[] = {
        UINT64_C(0x0000000000000001), UINT64_C(0x8000000000000000),
        UINT64_C(0x8000000000000001), UINT64_C(0x0000000000000001),
        UINT64_C(0x00000000ffffffff), UINT64_C(0x00000000fffffffe),
        UINT64_C(0x00000000fffffffc), UINT64_C(0xffffffff00000000),
        PROMSTORE_STALE_NAN_BITS,     UINT64_C(0x7ff8000000000001),
        UINT64_C(0x3ff0000000000000), UINT64_C(0x3ff0000000000000),
        UINT64_C(0),                  UINT64_C(0x8000000000000000),
        UINT64_C(0x7ff0000000000000), UINT64_C(0xfff0000000000000),
        UINT64_C(0x000fffffffffffff), UINT64_C(0x0010000000000000),
        UINT64_C(0x4000000000000000),
    };
    enum { N = sizeof vals / sizeof vals[0] };
    _Static_assert(sizeof deltas / sizeof deltas[0] == N - 1, "one delta per gap");
    int64_t t = (T0 / BLOCK_MS + 1) * BLOCK_MS; /* a block start */
    promstore_sample smp[N];
    for (size_t i = 0; i < N; i++) {
        if (i > 0)
            t += deltas[i - 1];
        smp[i] = SMPB(t, vals[i]);
    }
    assert_true(smp[N - 1].timestamp_ms - smp[0].timestamp_ms < BLOCK_MS);
    lset s = LS("__name__", "codec", NULL);
    append1_ok(f->db, &s, smp, N);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, smp, N);
    assert_chunks_hold(&q.s[0], smp, N);
    qresult_free(&q);
    /* Appended one at a time (the stored appender state resumes each time). */
    lset s2 = LS("__name__", "codec1", NULL);
    for (size_t i = 0; i < N; i++)
        append1_ok(f->db, &s2, &smp[i], 1);
    fx_reopen(f);
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s2, smp, N);
    assert_chunks_hold(qfind(&q, &s2), smp, N);
    /* The same bytes either way. */
    const qseries *a = qfind(&q, &s), *b = qfind(&q, &s2);
    assert_int_equal(a->n_chunks, b->n_chunks);
    for (size_t i = 0; i < a->n_chunks; i++) {
        assert_int_equal(a->chunks[i].len, b->chunks[i].len);
        assert_memory_equal(a->chunks[i].data, b->chunks[i].data, a->chunks[i].len);
    }
    qresult_free(&q);

    /* Extreme timestamps: the ends of the int64 range are valid. */
    lset e = LS("__name__", "extreme", NULL);
    promstore_sample ext[3] = {SMP(INT64_MIN, 1), SMP(INT64_MIN + 1, 2), SMP(-1, 3)};
    promstore_sample ext2[2] = {SMP(INT64_MAX - 1, 4), SMP(INT64_MAX, 5)};
    lset e2 = LS("__name__", "extreme2", NULL);
    append1_ok(f->db, &e, ext, 3);
    append1_ok(f->db, &e2, ext2, 2);
    query_ok(f->db, NULL, 0, FULL, WANT_SAMPLES, &q);
    assert_series(&q, &e, ext, 3);
    assert_series(&q, &e2, ext2, 2);
    qresult_free(&q);
    query_ok(f->db, NULL, 0, INT64_MAX, INT64_MAX, WANT_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    assert_samples_equal(q.s[0].samples, q.s[0].n_samples, &ext2[1], 1, "INT64_MAX");
    qresult_free(&q);
}

static void test_long_labels(void **state)
{
    fx *f = *state;
    /* Many labels, and long values: the header sets no length limit, so both
     * must round-trip (a key-size limit of the backend is the engine's to
     * work around). */
    enum { NL = 150, VL = 200 };
    promstore_label *l = xcalloc(NL, sizeof *l);
    char(*nm)[8] = xcalloc(NL, sizeof *nm);
    char *v = xcalloc(VL, 1);
    memset(v, 'v', VL);
    for (size_t i = 0; i < NL; i++) {
        snprintf(nm[i], sizeof nm[i], "l%03zu", NL - 1 - i); /* reverse order */
        l[i] = (promstore_label){nm[i], 4, v, VL};
    }
    promstore_sample smp = SMP(T0, 1);
    promstore_series s = {l, NL, &smp, 1};
    append_ok(f->db, &s, 1);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.s[0].n_labels, NL);
    assert_string_equal(q.s[0].labels[0].name, "l000");
    assert_string_equal(q.s[0].labels[NL - 1].name, "l149");
    assert_int_equal(q.s[0].labels[NL - 1].value_len, VL);
    qresult_free(&q);

    /*
     * One long value (a URL or a query text in a label happens in practice).
     * Up to the documented 470-byte pair limit it is stored and found again;
     * past it the append is refused with a message naming the label, and
     * nothing is stored.
     */
    size_t sizes[] = {460, 1000, 16384};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *big = xcalloc(sizes[i], 1);
        for (size_t k = 0; k < sizes[i]; k++)
            big[k] = (char)('a' + k % 26);
        lset ls = LS("__name__", "longval", NULL);
        lset_add(&ls, "url", 3, big, sizes[i]);
        promstore_series ser = SER(&ls, &smp, 1);
        promstore_append_result r = new_result();
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_append(f->db, &ser, 1, &r, &err);
        promstore_matcher m = {PROMSTORE_MATCH_EQ, "url", 3, big, sizes[i]};
        query_ok(f->db, &m, 1, FULL, WANT_SAMPLES, &q);
        if (3 + sizes[i] + 2 <= 470) {
            if (st != PROMSTORE_OK)
                fail_msg("a %zu-byte label value: status %d: %.120s", sizes[i], st, err.message);
            assert_int_equal(q.n, 1);
            assert_int_equal(q.s[0].labels[1].value_len, sizes[i]);
            assert_memory_equal(q.s[0].labels[1].value, big, sizes[i]);
        } else {
            assert_int_equal(st, PROMSTORE_E_BAD_LABELS);
            assert_non_null(strstr(err.message, "label url is too long"));
            assert_non_null(strstr(err.message, "longval"));
            assert_int_equal(r.samples_appended, 0);
            assert_int_equal(q.n, 0);
        }
        qresult_free(&q);
        free(big);
    }
    free(l);
    free(nm);
    free(v);
}

/* ------------------------------------------------------------------------ */
/* Batches, chunks and blocks                                               */
/* ------------------------------------------------------------------------ */

static void test_same_series_in_batch(void **state)
{
    fx *f = *state;
    lset s1 = LS("__name__", "rep", "k", "v", NULL);
    lset s1b = LS("k", "v", "__name__", "rep", NULL); /* same series, other order */
    lset s1c = LS("k", "v", "__name__", "rep", "e", "", NULL); /* and with an empty label */
    lset t = LS("__name__", "rep", "k", "w", NULL);
    promstore_sample a[3] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3)};
    promstore_sample b[2] = {SMP(4000, 4), SMP(5000, 5)};
    promstore_sample c[1] = {SMP(6000, 6)};
    promstore_sample tt[1] = {SMP(1500, 9)};
    /* A retry of part of the batch inside the batch: duplicates. */
    promstore_sample again[2] = {SMP(5000, 5), SMP(6000, 6)};
    promstore_series batch[5] = {SER(&s1, a, 3), SER(&t, tt, 1), SER(&s1b, b, 2),
                                 SER(&s1c, c, 1), SER(&s1, again, 2)};
    promstore_append_result r = append_ok(f->db, batch, 5);
    assert_int_equal(r.series_created, 2);
    assert_int_equal(r.samples_appended, 7);
    assert_int_equal(r.samples_duplicate, 2);
    assert_int_equal(r.samples_rejected, 0);

    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_int_equal(q.n, 2);
    promstore_sample want[6] = {a[0], a[1], a[2], b[0], b[1], c[0]};
    assert_series(&q, &s1, want, 6);
    assert_series(&q, &t, tt, 1);
    assert_chunks_hold(qfind(&q, &s1), want, 6);
    qresult_free(&q);
    promstore_stats st = stats(f->db);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples, 7);
}

/* Chunks of in-order data: non-overlapping, at most 120 samples, inside one
 * block each (a block is the unit retention drops, as in Prometheus), and
 * together exactly the samples. */
static void check_inorder_chunks(const qseries *q, const promstore_sample *want, size_t n,
                                 int64_t block_ms)
{
    size_t total = 0;
    for (size_t i = 0; i < q->n_chunks; i++) {
        const qchunk *c = &q->chunks[i];
        size_t cnt = ((size_t)c->data[0] << 8) | c->data[1];
        assert_true(cnt >= 1);
        if (cnt > 120)
            fail_msg("chunk %zu holds %zu samples (> 120)", i, cnt);
        total += cnt;
        if (i > 0)
            assert_true(c->mint > q->chunks[i - 1].maxt);
        int64_t b0 = c->mint / block_ms - (c->mint % block_ms < 0);
        int64_t b1 = c->maxt / block_ms - (c->maxt % block_ms < 0);
        if (b0 != b1)
            fail_msg("chunk %zu [%" PRId64 ", %" PRId64 "] straddles a %" PRId64
                     " ms block boundary",
                     i, c->mint, c->maxt, block_ms);
    }
    assert_int_equal(total, n);
    assert_true(q->n_chunks >= (n + 119) / 120);
    assert_chunks_hold(q, want, n);
}

static void test_many_samples_chunks_blocks(void **state)
{
    fx *f = *state;
    /* 1000 samples every 15 s: 4h10m, so > 120 per chunk and across two or
     * three 2h block boundaries. Appended in uneven batches. */
    enum { N = 1000 };
    lset s = LS("__name__", "long", NULL);
    lset o = LS("__name__", "short", NULL);
    promstore_sample *smp = ramp(T0, 15000, N, 0.25);
    for (size_t i = 0; i < N; i++)
        if (i % 97 == 3)
            smp[i].value_bits = PROMSTORE_STALE_NAN_BITS;
    promstore_sample os[3] = {SMP(T0, 1), SMP(T0 + BLOCK_MS, 2), SMP(T0 + 2 * BLOCK_MS, 3)};
    size_t cuts[] = {0, 1, 7, 119, 120, 121, 500, 999, N};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++)
        append1_ok(f->db, &s, smp + cuts[i], cuts[i + 1] - cuts[i]);
    append1_ok(f->db, &o, os, 3);

    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_int_equal(q.n, 2);
    assert_series(&q, &s, smp, N);
    assert_series(&q, &o, os, 3);
    check_inorder_chunks(qfind(&q, &s), smp, N, BLOCK_MS);
    check_inorder_chunks(qfind(&q, &o), os, 3, BLOCK_MS);
    size_t all_chunks = q.s[0].n_chunks + q.s[1].n_chunks;
    qresult_free(&q);

    promstore_stats st = stats(f->db);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples, N + 3);
    assert_int_equal(st.chunks, all_chunks);
    assert_int_equal(st.min_time_ms, T0);
    assert_int_equal(st.max_time_ms, smp[N - 1].timestamp_ms); /* T0 + 4h09m45s */
    /* Data spans blocks T0/B .. (T0+4h10m)/B: no more than 3 blocks can hold it. */
    assert_true(st.blocks <= 3);

    /* A sub-range reading across a block boundary. */
    int64_t boundary = (T0 / BLOCK_MS + 1) * BLOCK_MS;
    query_ok(f->db, NULL, 0, boundary - 60000, boundary + 60000, WANT_SAMPLES, &q);
    const qseries *qs = qfind(&q, &s);
    assert_non_null(qs);
    size_t first = (size_t)((boundary - 60000 - T0 + 14999) / 15000);
    size_t last = (size_t)((boundary + 60000 - T0) / 15000);
    assert_samples_equal(qs->samples, qs->n_samples, smp + first, last - first + 1,
                         "around the boundary");
    qresult_free(&q);

    /* Everything is still there after a reopen. */
    fx_reopen(f);
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, smp, N);
    check_inorder_chunks(qfind(&q, &s), smp, N, BLOCK_MS);
    qresult_free(&q);
    free(smp);
}

static void test_chunk_cursor(void **state)
{
    fx *f = *state;
    enum { N = 600 };
    lset s = LS("__name__", "chunky", NULL);
    promstore_sample *smp = ramp(T0, 10000, N, 3);
    append1_ok(f->db, &s, smp, N);

    qresult all;
    query_ok(f->db, NULL, 0, FULL, WANT_CHUNKS, &all);
    assert_int_equal(all.n, 1);
    const qseries *qa = &all.s[0];
    assert_true(qa->n_chunks >= 5);
    check_inorder_chunks(qa, smp, N, BLOCK_MS);

    /* A sub-range: exactly the chunks that overlap it, the same bytes. */
    int64_t mint = smp[300].timestamp_ms, maxt = smp[310].timestamp_ms;
    qresult sub;
    query_ok(f->db, NULL, 0, mint, maxt, WANT_CHUNKS, &sub);
    assert_int_equal(sub.n, 1);
    size_t k = 0;
    size_t in_chunks = 0;
    for (size_t i = 0; i < qa->n_chunks; i++) {
        const qchunk *c = &qa->chunks[i];
        if (c->maxt < mint || c->mint > maxt)
            continue;
        assert_true(k < sub.s[0].n_chunks);
        const qchunk *d = &sub.s[0].chunks[k++];
        assert_int_equal(d->mint, c->mint);
        assert_int_equal(d->maxt, c->maxt);
        assert_int_equal(d->len, c->len);
        assert_memory_equal(d->data, c->data, c->len);
        in_chunks += ((size_t)c->data[0] << 8) | c->data[1];
    }
    assert_int_equal(k, sub.s[0].n_chunks);
    assert_true(in_chunks >= 11); /* the chunks hold at least the 11 samples in range */
    qresult_free(&sub);
    qresult_free(&all);

    /* The sample and chunk cursors are independent. */
    promstore_series_iter *it = NULL;
    promstore_error err;
    promstore_sample x;
    promstore_chunk c;
    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
        assert_int_equal(x.timestamp_ms, smp[i].timestamp_ms);
    }
    size_t nchunks = 0;
    while (promstore_series_iter_chunk(it, &c, &err) == PROMSTORE_OK)
        nchunks++;
    assert_true(nchunks >= 5);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
    assert_int_equal(x.timestamp_ms, smp[3].timestamp_ms);
    assert_true(x.value_bits == smp[3].value_bits);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    promstore_series_iter_close(it);
    free(smp);
}

static void test_block_duration_fixed_at_creation(void **state)
{
    fx *f = *state;
    /* Created with 1h blocks; a later open asking for 2h gets 1h. Observable:
     * no chunk straddles a 1h boundary. */
    f->opts.block_duration_ms = HOUR_MS;
    fx_recreate(f);
    f->opts.block_duration_ms = 2 * HOUR_MS;
    fx_reopen(f);
    enum { N = 1000 };
    lset s = LS("__name__", "blk", NULL);
    promstore_sample *smp = ramp(T0, 15000, N, 1);
    append1_ok(f->db, &s, smp, N);
    fx_reopen(f);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, smp, N);
    check_inorder_chunks(&q.s[0], smp, N, HOUR_MS);
    qresult_free(&q);
    free(smp);
}

static void test_bad_options(void **state)
{
    fx *f = *state;
    fx_close(f);
    struct {
        int64_t block, window, retention;
    } bad[] = {{-1, 0, 0}, {0, -1, 0}, {2 * HOUR_MS, 0, -5}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promstore_options o = f->opts;
        o.block_duration_ms = bad[i].block;
        o.out_of_order_window_ms = bad[i].window;
        o.retention_time_ms = bad[i].retention;
        promstore *db = (promstore *)(uintptr_t)0x1;
        promstore_error err;
        memset(&err, 0, sizeof err);
        promstore_status st = promstore_open(&o, &db, &err);
        if (st != PROMSTORE_E_INVALID)
            fail_msg("bad options %zu: status %d, want INVALID", i, st);
        assert_null(db);
        assert_true(err.message[0] != '\0');
    }
    fx_open(f);
}

/* ------------------------------------------------------------------------ */
/* Out of order and duplicates                                              */
/* ------------------------------------------------------------------------ */

static void test_out_of_order_no_window(void **state)
{
    fx *f = *state;
    lset s = LS("__name__", "ooo", "k", "s_series", NULL);
    lset t = LS("__name__", "ooo", "k", "t_series", NULL);
    promstore_sample first[5] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3), SMP(4000, 4),
                                 SMP(5000, 5)};
    append1_ok(f->db, &s, first, 5);

    /* One old sample in a batch: rejected, the rest stored. */
    promstore_sample s2[2] = {SMP(500, 9), SMP(6000, 6)};
    promstore_sample t2[1] = {SMP(100, 1)};
    promstore_series batch[2] = {SER(&s, s2, 2), SER(&t, t2, 1)};
    promstore_append_result r = new_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_append(f->db, batch, 2, &r, &err), PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(err.status, PROMSTORE_E_OUT_OF_ORDER);
    if (strstr(err.message, "s_series") == NULL)
        fail_msg("message does not name the series: %s", err.message);
    assert_int_equal(r.samples_appended, 2);
    assert_int_equal(r.samples_rejected, 1);
    assert_int_equal(r.samples_duplicate, 0);
    assert_int_equal(r.series_created, 1);

    /* Same timestamp as the newest, other value: rejected. */
    promstore_sample s3[1] = {SMP(6000, 7)};
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, s3, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    assert_int_equal(r.samples_appended, 0);
    /* Same timestamp, same value bits: a duplicate, ignored, OK. */
    promstore_sample s4[1] = {SMP(6000, 6)};
    r = append_ok(f->db, &(promstore_series){s.l, s.n, s4, 1}, 1);
    assert_int_equal(r.samples_duplicate, 1);
    assert_int_equal(r.samples_appended, 0);

    /* Going backwards inside one batch: the backward sample is rejected. */
    promstore_sample s5[3] = {SMP(8000, 8), SMP(7000, 7), SMP(9000, 9)};
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, s5, 3}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_appended, 2);
    assert_int_equal(r.samples_rejected, 1);

    /* 0.0 and -0.0 are equal floats but different bits: not a duplicate. */
    promstore_sample z1 = SMP(10000, 0.0), z2 = SMP(10000, -0.0);
    append1_ok(f->db, &s, &z1, 1);
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &z2, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    /* And a NaN equal to itself by bits is a duplicate (NaN != NaN as floats). */
    promstore_sample n1 = SMPB(11000, PROMSTORE_STALE_NAN_BITS);
    append1_ok(f->db, &s, &n1, 1);
    r = append_ok(f->db, &(promstore_series){s.l, s.n, &n1, 1}, 1);
    assert_int_equal(r.samples_duplicate, 1);
    /* A different NaN payload at the same time is a different value. */
    promstore_sample n2 = SMPB(11000, UINT64_C(0x7ff8000000000001));
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &n2, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);

    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    promstore_sample want[10] = {first[0], first[1], first[2], first[3], first[4],
                                 SMP(6000, 6), SMP(8000, 8), SMP(9000, 9), z1, n1};
    assert_series(&q, &s, want, 10);
    assert_series(&q, &t, t2, 1);
    assert_chunks_hold(qfind(&q, &s), want, 10);
    qresult_free(&q);
    assert_int_equal(stats(f->db).samples, 11);

    /* The newest timestamp survives a reopen: old samples still refused. */
    fx_reopen(f);
    promstore_sample late = SMP(10500, 1);
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &late, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    assert_int_equal(stats(f->db).samples, 11);
}

static void test_retried_batch_is_duplicate(void **state)
{
    fx *f = *state;
    /* Remote write retries a whole batch when it did not see the answer: the
     * header promises such a batch lands in samples_duplicate with
     * PROMSTORE_OK, even though its samples are older than the newest. */
    lset a = LS("__name__", "retry", "k", "a", NULL);
    lset b = LS("__name__", "retry", "k", "b", NULL);
    promstore_sample sa[4] = {SMP(1000, 1), SMPB(2000, PROMSTORE_STALE_NAN_BITS),
                              SMP(3000, -0.0), SMP(4000, 4)};
    promstore_sample sb[2] = {SMP(1000, 10), SMP(2000, 20)};
    promstore_series batch[2] = {SER(&a, sa, 4), SER(&b, sb, 2)};
    promstore_append_result r = append_ok(f->db, batch, 2);
    assert_int_equal(r.samples_appended, 6);
    assert_int_equal(r.series_created, 2);

    r = new_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_append(f->db, batch, 2, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("retried batch: status %d (%s), appended %" PRIu64 " dup %" PRIu64
                 " rejected %" PRIu64 "; want OK with 6 duplicates",
                 st, err.message, r.samples_appended, r.samples_duplicate, r.samples_rejected);
    assert_int_equal(r.samples_duplicate, 6);
    assert_int_equal(r.samples_appended, 0);
    assert_int_equal(r.samples_rejected, 0);
    assert_int_equal(r.series_created, 0);

    /* The same after a reopen, and a retry that also carries new samples. */
    fx_reopen(f);
    promstore_sample sa2[5] = {sa[0], sa[1], sa[2], sa[3], SMP(5000, 5)};
    promstore_series batch2[2] = {SER(&a, sa2, 5), SER(&b, sb, 2)};
    r = new_result();
    st = promstore_append(f->db, batch2, 2, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("retry after reopen: status %d (%s)", st, err.message);
    assert_int_equal(r.samples_duplicate, 6);
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(stats(f->db).samples, 7);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_SAMPLES, &q);
    assert_series(&q, &a, sa2, 5);
    assert_series(&q, &b, sb, 2);
    qresult_free(&q);
}

static void test_out_of_order_window(void **state)
{
    fx *f = *state;
    f->opts.out_of_order_window_ms = 10500;
    fx_reopen(f);
    lset s = LS("__name__", "oow", NULL);
    /* 100000 .. 200000 every 10000: newest 200000, window reaches 189500. */
    promstore_sample *base = ramp(100000, 10000, 11, 1);
    append1_ok(f->db, &s, base, 11);

    /* Within the window (the boundary itself included): accepted. */
    promstore_sample in[3] = {SMP(195000, 0.5), SMP(191000, 0.25), SMP(189500, 0.125)};
    promstore_append_result r = append_ok(f->db, &(promstore_series){s.l, s.n, in, 3}, 1);
    assert_int_equal(r.samples_appended, 3);

    /* Beyond it: rejected, naming the series. */
    promstore_sample out = SMP(189499, 7);
    promstore_error err;
    memset(&err, 0, sizeof err);
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &out, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);
    assert_non_null(strstr(err.message, "oow"));

    /* Merged in time order, by samples and by chunks. */
    promstore_sample want[24];
    size_t n = 0;
    for (size_t i = 0; i < 11; i++)
        want[n++] = base[i];
    want[n++] = in[0];
    want[n++] = in[1];
    want[n++] = in[2];
    qsort(want, n, sizeof *want, sample_cmp);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, want, n);
    assert_chunks_hold(&q.s[0], want, n);
    qresult_free(&q);
    /* A range that only out-of-order samples fall in. */
    query_ok(f->db, NULL, 0, 189000, 189999, WANT_SAMPLES, &q);
    assert_int_equal(q.n, 1);
    assert_samples_equal(q.s[0].samples, q.s[0].n_samples, &in[2], 1, "ooo only range");
    qresult_free(&q);
    assert_int_equal(stats(f->db).samples, n);

    /* Across a reopen: the same, and the window still measured from 200000. */
    fx_reopen(f);
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, want, n);
    assert_chunks_hold(&q.s[0], want, n);
    qresult_free(&q);
    promstore_sample more = SMP(199999, 3);
    append1_ok(f->db, &s, &more, 1);
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &out, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    /* A newer sample moves the window. */
    promstore_sample newer = SMP(300000, 4);
    append1_ok(f->db, &s, &newer, 1);
    promstore_sample now_old = SMP(289499, 5), now_ok = SMP(289500, 6);
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &now_old, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    append1_ok(f->db, &s, &now_ok, 1);
    want[n++] = more;
    want[n++] = newer;
    want[n++] = now_ok;
    qsort(want, n, sizeof *want, sample_cmp);
    fx_reopen(f);
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, want, n);
    assert_chunks_hold(&q.s[0], want, n);
    qresult_free(&q);
    promstore_stats st = stats(f->db);
    assert_int_equal(st.samples, n);
    assert_int_equal(st.series, 1);
    free(base);
}

static void test_out_of_order_duplicates(void **state)
{
    fx *f = *state;
    /* Duplicates and clashes are judged against out-of-order samples already
     * stored, and against earlier samples of the same batch, exactly as they
     * are against in-order ones. */
    f->opts.out_of_order_window_ms = 10500;
    fx_reopen(f);
    lset s = LS("__name__", "oodup", NULL);
    promstore_sample *base = ramp(100000, 10000, 11, 1); /* newest 200000 */
    append1_ok(f->db, &s, base, 11);
    promstore_sample in[2] = {SMP(195000, 0.5), SMP(191000, 0.25)};
    append1_ok(f->db, &s, in, 2);
    promstore_error err;
    promstore_append_result r;

    /* An in-order sample inside the window, retried / clashed. */
    r = append_ok(f->db, &(promstore_series){s.l, s.n, &base[9], 1}, 1);
    assert_int_equal(r.samples_duplicate, 1);
    promstore_sample clash = SMP(190000, 99);
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &clash, 1}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_rejected, 1);

    /* A stored out-of-order sample, retried: a duplicate, not stored twice. */
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, &in[1], 1}, 1, &r, &err),
                     PROMSTORE_OK);
    if (r.samples_duplicate != 1 || r.samples_appended != 0)
        fail_msg("retried out-of-order sample: appended %" PRIu64 ", duplicate %" PRIu64
                 "; want 0 and 1",
                 r.samples_appended, r.samples_duplicate);
    /* Same time as a stored out-of-order sample, other value: rejected. */
    clash = SMP(191000, 99);
    r = new_result();
    promstore_status st = promstore_append(f->db, &(promstore_series){s.l, s.n, &clash, 1}, 1, &r, &err);
    if (st != PROMSTORE_E_OUT_OF_ORDER || r.samples_rejected != 1)
        fail_msg("clash with a stored out-of-order sample: status %d, appended %" PRIu64
                 ", rejected %" PRIu64 "; want OUT_OF_ORDER, 0, 1",
                 st, r.samples_appended, r.samples_rejected);
    /* Within one batch: the second copy is a duplicate, a clash is rejected. */
    promstore_sample twice[2] = {SMP(192000, 7), SMP(192000, 7)};
    r = append_ok(f->db, &(promstore_series){s.l, s.n, twice, 2}, 1);
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(r.samples_duplicate, 1);
    promstore_sample clash2[2] = {SMP(193000, 7), SMP(193000, 8)};
    r = new_result();
    assert_int_equal(promstore_append(f->db, &(promstore_series){s.l, s.n, clash2, 2}, 1, &r, &err),
                     PROMSTORE_E_OUT_OF_ORDER);
    assert_int_equal(r.samples_appended, 1);
    assert_int_equal(r.samples_rejected, 1);

    /* What is stored: every first value, each once. */
    promstore_sample want[16];
    size_t n = 0;
    for (size_t i = 0; i < 11; i++)
        want[n++] = base[i];
    want[n++] = in[0];
    want[n++] = in[1];
    want[n++] = twice[0];
    want[n++] = clash2[0];
    qsort(want, n, sizeof *want, sample_cmp);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, want, n);
    assert_chunks_hold(&q.s[0], want, n);
    qresult_free(&q);
    assert_int_equal(stats(f->db).samples, n);
    free(base);
}

static void test_out_of_order_window_many(void **state)
{
    fx *f = *state;
    /* Many out-of-order samples (more than one chunk's worth) interleaved
     * with in-order ones, across a block boundary. */
    f->opts.out_of_order_window_ms = 3 * HOUR_MS;
    fx_reopen(f);
    lset s = LS("__name__", "oow_many", NULL);
    enum { N = 600 };
    promstore_sample *even = xcalloc(N, sizeof *even), *odd = xcalloc(N, sizeof *odd);
    for (size_t i = 0; i < N; i++) {
        even[i] = SMP(T0 + (int64_t)(2 * i) * 15000, (double)(2 * i));
        odd[i] = SMP(T0 + (int64_t)(2 * i + 1) * 15000, (double)(2 * i + 1));
    }
    append1_ok(f->db, &s, even, N);          /* newest: T0 + 1198*15s (~5h) */
    append1_ok(f->db, &s, odd + 300, N - 300); /* out of order, within 3h */
    promstore_sample *want = xcalloc(2 * N, sizeof *want);
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        want[n++] = even[i];
    for (size_t i = 300; i < N; i++)
        want[n++] = odd[i];
    qsort(want, n, sizeof *want, sample_cmp);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, want, n);
    assert_chunks_hold(&q.s[0], want, n);
    size_t nchunks = q.s[0].n_chunks;
    qresult_free(&q);
    fx_reopen(f);
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_series(&q, &s, want, n);
    assert_chunks_hold(&q.s[0], want, n);
    assert_int_equal(q.s[0].n_chunks, nchunks);
    qresult_free(&q);
    /*
     * stats.chunks counts stored chunks only; out-of-order samples are stored
     * one by one and the chunk cursor encodes them on the fly (header).
     */
    promstore_stats st = stats(f->db);
    assert_int_equal(st.samples, n);
    size_t stored = 0;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    for (size_t i = 0; i < q.s[0].n_chunks; i++)
        stored += (q.s[0].chunks[i].mint - T0) % 30000 == 0; /* in-order ones start even */
    qresult_free(&q);
    if (st.chunks != stored || stored == 0 || stored >= nchunks)
        fail_msg("stats.chunks %" PRIu64 ", chunk cursor %zu, of which in-order %zu", st.chunks,
                 nchunks, stored);
    free(even);
    free(odd);
    free(want);
}

/* ------------------------------------------------------------------------ */
/* Label names and values                                                   */
/* ------------------------------------------------------------------------ */

/* Collect a string iterator into a '|'-joined string (values here hold no '|'
 * except where a test says so); checks sorted, distinct, non-empty, NUL-ended. */
static char *collect_strings(promstore_string_iter *it)
{
    char *out = xcalloc(1, 1);
    size_t olen = 0;
    char *prev = NULL;
    size_t prev_len = 0;
    const char *s;
    size_t len;
    promstore_error err;
    promstore_status st;
    while ((st = promstore_string_iter_next(it, &s, &len, &err)) == PROMSTORE_OK) {
        assert_true(len > 0);
        assert_int_equal(s[len], '\0');
        if (prev != NULL)
            assert_true(bytes_cmp(prev, prev_len, s, len) < 0);
        free(prev);
        prev = xmemdup(s, len);
        prev_len = len;
        out = xrealloc(out, olen + len + 2);
        if (olen)
            out[olen++] = '|';
        memcpy(out + olen, s, len);
        olen += len;
        out[olen] = '\0';
    }
    assert_int_equal(st, PROMSTORE_DONE);
    free(prev);
    promstore_string_iter_close(it);
    return out;
}

static char *names(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                   int64_t maxt)
{
    promstore_string_iter *it = NULL;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_label_names(db, m, nm, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK)
        fail_msg("label_names: %d: %s", st, err.message);
    return collect_strings(it);
}

static char *values(promstore *db, const char *name, const promstore_matcher *m, size_t nm,
                    int64_t mint, int64_t maxt)
{
    promstore_string_iter *it = NULL;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st =
        promstore_label_values(db, name, strlen(name), m, nm, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK)
        fail_msg("label_values(%s): %d: %s", name, st, err.message);
    return collect_strings(it);
}

#define ASSERT_STRS(expr, want)                                                              \
    do {                                                                                     \
        char *got_ = (expr);                                                                 \
        assert_string_equal(got_, want);                                                     \
        free(got_);                                                                          \
    } while (0)

static void test_label_names_values(void **state)
{
    fx *f = *state;
    load_matcher_data(f->db); /* at T0, T0+1000 */
    lset late = LS("__name__", "late", "zone", "z1", "Alpha", "1", NULL);
    promstore_sample ls = SMP(T0 + 10 * BLOCK_MS, 1);
    append1_ok(f->db, &late, &ls, 1);

    ASSERT_STRS(names(f->db, NULL, 0, FULL), "Alpha|__name__|env|instance|job|zone");
    ASSERT_STRS(values(f->db, "job", NULL, 0, FULL), "api|api\nx|apix|db");
    ASSERT_STRS(values(f->db, "__name__", NULL, 0, FULL), "down|late|up");
    /* Never the empty value, though most series lack env. */
    ASSERT_STRS(values(f->db, "env", NULL, 0, FULL), "prod|staging");

    /* With matchers. */
    promstore_matcher down = MT(PROMSTORE_MATCH_EQ, "__name__", "down");
    ASSERT_STRS(names(f->db, &down, 1, FULL), "__name__|job");
    ASSERT_STRS(values(f->db, "job", &down, 1, FULL), "api");
    ASSERT_STRS(values(f->db, "env", &down, 1, FULL), "");
    promstore_matcher noenv = MT(PROMSTORE_MATCH_EQ, "env", "");
    ASSERT_STRS(values(f->db, "job", &noenv, 1, FULL), "api|api\nx|db");
    promstore_matcher re = MT(PROMSTORE_MATCH_RE, "job", "api.*");
    ASSERT_STRS(values(f->db, "instance", &re, 1, FULL), "a:1|b:2");
    promstore_matcher nothing = MT(PROMSTORE_MATCH_EQ, "job", "nope");
    ASSERT_STRS(names(f->db, &nothing, 1, FULL), "");

    /* With a time restriction: the late series is outside [T0, T0+1000]. */
    ASSERT_STRS(names(f->db, NULL, 0, T0, T0 + 1000), "__name__|env|instance|job");
    ASSERT_STRS(values(f->db, "zone", NULL, 0, T0, T0 + 1000), "");
    ASSERT_STRS(values(f->db, "zone", NULL, 0, FULL), "z1");
    ASSERT_STRS(names(f->db, NULL, 0, T0 + BLOCK_MS, INT64_MAX), "Alpha|__name__|zone");
    ASSERT_STRS(values(f->db, "__name__", NULL, 0, T0 + 1000, T0 + 1000), "down|up");
    ASSERT_STRS(names(f->db, NULL, 0, T0 + 1001, T0 + BLOCK_MS), "");

    /* A name no series has: empty at once. */
    ASSERT_STRS(values(f->db, "missing", NULL, 0, FULL), "");
    promstore_string_iter *it = NULL;
    promstore_error err;
    const char *s;
    size_t len;
    assert_int_equal(promstore_label_values(f->db, "missing", 7, NULL, 0, FULL, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
    /* The name need not be NUL-terminated. */
    assert_int_equal(promstore_label_values(f->db, "jobXYZ", 3, NULL, 0, FULL, &it, &err),
                     PROMSTORE_OK);
    ASSERT_STRS(collect_strings(it), "api|api\nx|apix|db");
    /* Values with NUL bytes come back with their full length. */
    lset nul;
    memset(&nul, 0, sizeof nul);
    lset_add(&nul, "nulv", 4, "a\0b", 3);
    append1_ok(f->db, &nul, &ls, 1);
    assert_int_equal(promstore_label_values(f->db, "nulv", 4, NULL, 0, FULL, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
}

static void test_series_without_samples(void **state)
{
    fx *f = *state;
    /* An empty batch is a successful no-op. */
    promstore_append_result r = new_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_append(f->db, NULL, 0, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 0);
    assert_int_equal(r.series_created, 0);

    /* A series sent without samples has no data in any range, so neither a
     * query nor the label calls may report it -- not even the full-range
     * label calls that read the index only. */
    lset ghost = LS("__name__", "ghost", "only_on_ghost", "1", NULL);
    lset real = LS("__name__", "real", NULL);
    promstore_sample smp = SMP(T0, 1);
    promstore_series batch[2] = {SER(&ghost, NULL, 0), SER(&real, &smp, 1)};
    r = new_result();
    assert_int_equal(promstore_append(f->db, batch, 2, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 1);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(count_series(f->db, NULL, 0, FULL), 1);
        ASSERT_STRS(values(f->db, "__name__", NULL, 0, FULL), "real");
        ASSERT_STRS(names(f->db, NULL, 0, FULL), "__name__");
        ASSERT_STRS(values(f->db, "only_on_ghost", NULL, 0, FULL), "");
        promstore_stats st = stats(f->db);
        assert_int_equal(st.samples, 1);
        fx_reopen(f);
    }
}

/* ------------------------------------------------------------------------ */
/* Statistics, limits, reopen, snapshots                                    */
/* ------------------------------------------------------------------------ */

static void test_stats(void **state)
{
    fx *f = *state;
    promstore_stats st = stats(f->db);
    assert_string_equal(st.backend, g_backend);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(st.min_time_ms, 0); /* 0 when empty */
    assert_int_equal(st.max_time_ms, 0);

    lset a = LS("__name__", "st", "k", "a", NULL), b = LS("__name__", "st", "k", "b", NULL);
    promstore_sample *sa = ramp(T0, 30000, 250, 1);
    promstore_sample sb[2] = {SMP(T0 - 5000, 1), SMP(T0 + 9000000, 2)};
    promstore_series batch[2] = {SER(&a, sa, 250), SER(&b, sb, 2)};
    append_ok(f->db, batch, 2);
    /* Duplicates and rejected samples are not counted. */
    promstore_error err;
    promstore_append(f->db, batch, 2, NULL, &err);
    promstore_sample oldb = SMP(T0, 7);
    promstore_append(f->db, &(promstore_series){b.l, b.n, &oldb, 1}, 1, NULL, &err);

    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_CHUNKS, &q);
    size_t chunks = 0;
    for (size_t i = 0; i < q.n; i++)
        chunks += q.s[i].n_chunks;
    qresult_free(&q);

    st = stats(f->db);
    assert_string_equal(st.backend, g_backend);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.samples, 252);
    assert_int_equal(st.chunks, chunks);
    assert_true(st.chunks >= 3); /* 250 samples need at least 3 chunks */
    assert_true(st.bytes_on_disk > 0);
    assert_true(st.file_bytes >= st.bytes_on_disk);
    assert_int_equal(st.min_time_ms, T0 - 5000);
    assert_int_equal(st.max_time_ms, T0 + 9000000);

    /* The same after a reopen. */
    fx_reopen(f);
    promstore_stats st2 = stats(f->db);
    assert_string_equal(st2.backend, g_backend);
    assert_int_equal(st2.series, st.series);
    assert_int_equal(st2.samples, st.samples);
    assert_int_equal(st2.chunks, st.chunks);
    assert_int_equal(st2.min_time_ms, st.min_time_ms);
    assert_int_equal(st2.max_time_ms, st.max_time_ms);
    assert_true(st2.bytes_on_disk > 0);
    free(sa);
}

/* Drain a query (samples and chunks per `want`) and return the first error. */
static promstore_status drain(promstore *db, const promstore_matcher *m, size_t nm, int want,
                              promstore_error *err)
{
    qresult r;
    promstore_status st = query_collect(db, m, nm, FULL, want, &r, err);
    qresult_free(&r);
    return st;
}

static void assert_limit(promstore_status st, const promstore_error *err, const char *word)
{
    if (st != PROMSTORE_E_LIMIT)
        fail_msg("status %d, want LIMIT (%s)", st, word);
    assert_int_equal(err->status, PROMSTORE_E_LIMIT);
    if (strcasestr(err->message, word) == NULL)
        fail_msg("limit message does not name the %s limit: %s", word, err->message);
}

static void test_limits(void **state)
{
    fx *f = *state;
    lset s[3] = {LS("__name__", "lim", "i", "1", NULL), LS("__name__", "lim", "i", "2", NULL),
                 LS("__name__", "lim", "i", "3", NULL)};
    promstore_sample *smp = ramp(T0, 15000, 1000, 1);
    promstore_series batch[3] = {SER(&s[0], smp, 6), SER(&s[1], smp, 6), SER(&s[2], smp, 1000)};
    append_ok(f->db, batch, 3);
    promstore_matcher all = MT(PROMSTORE_MATCH_EQ, "__name__", "lim");
    promstore_matcher two = MT(PROMSTORE_MATCH_RE, "i", "1|2");
    promstore_matcher one = MT(PROMSTORE_MATCH_EQ, "i", "1");
    promstore_error err;

    /* Series: 3 match, limit 2. Exactly 2 is fine. */
    f->opts.max_series_per_query = 2;
    fx_reopen(f);
    memset(&err, 0, sizeof err);
    assert_limit(drain(f->db, &all, 1, 0, &err), &err, "series");
    assert_int_equal(drain(f->db, &two, 1, WANT_BOTH, &err), PROMSTORE_DONE);
    f->opts.max_series_per_query = 0;

    /* Samples: 12 in i=~"1|2", limit 10; 6 are fine. */
    f->opts.max_samples_per_query = 10;
    fx_reopen(f);
    memset(&err, 0, sizeof err);
    assert_limit(drain(f->db, &two, 1, WANT_SAMPLES, &err), &err, "sample");
    assert_int_equal(drain(f->db, &one, 1, WANT_SAMPLES, &err), PROMSTORE_DONE);
    f->opts.max_samples_per_query = 0;

    /* Bytes of chunks: the 1000-sample series takes far more than 64 bytes. */
    f->opts.max_bytes_per_query = 64;
    fx_reopen(f);
    promstore_matcher big = MT(PROMSTORE_MATCH_EQ, "i", "3");
    memset(&err, 0, sizeof err);
    assert_limit(drain(f->db, &big, 1, WANT_CHUNKS, &err), &err, "byte");
    f->opts.max_bytes_per_query = 1 << 20;
    fx_reopen(f);
    assert_int_equal(drain(f->db, &big, 1, WANT_CHUNKS, &err), PROMSTORE_DONE);
    f->opts.max_bytes_per_query = 0;

    /* Unlimited again. */
    fx_reopen(f);
    assert_int_equal(drain(f->db, &all, 1, WANT_BOTH, &err), PROMSTORE_DONE);
    free(smp);
}

static void test_reopen(void **state)
{
    fx *f = *state;
    lset a = LS("__name__", "ro", "k", "a", NULL), b = LS("k", "b", "__name__", "ro", NULL);
    lset c = LS("__name__", "ro2", NULL);
    promstore_sample *sa = ramp(T0, 15000, 300, 1);
    promstore_sample sb[2] = {SMP(T0, 1), SMPB(T0 + 1, PROMSTORE_STALE_NAN_BITS)};
    promstore_sample sc[1] = {SMP(T0 + 99, -1)};
    promstore_series batch[3] = {SER(&a, sa, 200), SER(&b, sb, 2), SER(&c, sc, 1)};
    append_ok(f->db, batch, 3);
    promstore_stats before = stats(f->db);
    qresult q1;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q1);

    fx_reopen(f);
    promstore_stats after = stats(f->db);
    assert_int_equal(after.series, before.series);
    assert_int_equal(after.samples, before.samples);
    assert_int_equal(after.chunks, before.chunks);
    assert_int_equal(after.min_time_ms, before.min_time_ms);
    assert_int_equal(after.max_time_ms, before.max_time_ms);
    qresult q2;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q2);
    assert_int_equal(q2.n, q1.n);
    for (size_t i = 0; i < q1.n; i++) {
        assert_string_equal(q2.s[i].key, q1.s[i].key);
        assert_samples_equal(q2.s[i].samples, q2.s[i].n_samples, q1.s[i].samples,
                             q1.s[i].n_samples, q1.s[i].key);
        assert_int_equal(q2.s[i].n_chunks, q1.s[i].n_chunks);
    }
    qresult_free(&q1);
    qresult_free(&q2);

    /* Appending continues on the existing series: none created. */
    promstore_series more[2] = {SER(&a, sa + 200, 100), SER(&b, sc, 1)};
    /* b's newest is T0+1 and sc is at T0+99: in order. */
    promstore_append_result r = append_ok(f->db, more, 2);
    assert_int_equal(r.series_created, 0);
    assert_int_equal(r.samples_appended, 101);
    assert_int_equal(stats(f->db).series, 3);
    ASSERT_STRS(values(f->db, "k", NULL, 0, FULL), "a|b");

    fx_reopen(f);
    assert_int_equal(stats(f->db).series, 3);
    assert_int_equal(stats(f->db).samples, 304);
    qresult q;
    query_ok(f->db, NULL, 0, FULL, WANT_BOTH, &q);
    assert_int_equal(q.n, 3);
    assert_series(&q, &a, sa, 300);
    check_inorder_chunks(qfind(&q, &a), sa, 300, BLOCK_MS);
    promstore_sample wantb[3] = {sb[0], sb[1], sc[0]};
    assert_series(&q, &b, wantb, 3);
    assert_series(&q, &c, sc, 1);
    qresult_free(&q);
    free(sa);
}

static void test_snapshot(void **state)
{
    fx *f = *state;
    lset s = LS("__name__", "snap", "k", "s", NULL), t = LS("__name__", "snap", "k", "t", NULL);
    lset u = LS("__name__", "snap", "k", "u", NULL);
    promstore_sample ss[3] = {SMP(1000, 1), SMP(2000, 2), SMP(3000, 3)};
    promstore_sample ts[1] = {SMP(1000, 10)};
    promstore_series b1[2] = {SER(&s, ss, 3), SER(&t, ts, 1)};
    append_ok(f->db, b1, 2);

    promstore_error err;
    promstore_series_iter *before = NULL, *partial = NULL, *after = NULL;
    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &before, &err), PROMSTORE_OK);
    /* partial has read into the first series before the append. */
    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &partial, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(partial, &err), PROMSTORE_OK);
    promstore_sample x;
    assert_int_equal(promstore_series_iter_sample(partial, &x, &err), PROMSTORE_OK);
    assert_int_equal(x.timestamp_ms, 1000);

    promstore_sample s2[2] = {SMP(4000, 4), SMP(5000, 5)};
    promstore_sample t2[1] = {SMP(2000, 20)};
    promstore_sample us[1] = {SMP(1500, 100)};
    promstore_series b2[3] = {SER(&s, s2, 2), SER(&t, t2, 1), SER(&u, us, 1)};
    append_ok(f->db, b2, 3); /* the open iterators do not block it */

    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &after, &err), PROMSTORE_OK);

    /* before: the old view, whole. */
    size_t n = 0;
    size_t counts[4] = {0};
    while (promstore_series_iter_next(before, &err) == PROMSTORE_OK) {
        assert_true(n < 4);
        while (promstore_series_iter_sample(before, &x, &err) == PROMSTORE_OK)
            counts[n]++;
        size_t nc = 0;
        promstore_chunk c;
        size_t in_chunks = 0;
        while (promstore_series_iter_chunk(before, &c, &err) == PROMSTORE_OK) {
            nc++;
            in_chunks += ((size_t)c.data[0] << 8) | c.data[1];
            assert_true(c.max_time_ms <= 3000);
        }
        assert_true(nc >= 1);
        assert_int_equal(in_chunks, counts[n]); /* the chunk bytes are the old ones too */
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 1);
    promstore_series_iter_close(before);

    /* partial: continues in the old view. */
    size_t rest = 0;
    while (promstore_series_iter_sample(partial, &x, &err) == PROMSTORE_OK)
        rest++;
    assert_int_equal(rest, 2);
    assert_int_equal(promstore_series_iter_next(partial, &err), PROMSTORE_OK);
    rest = 0;
    while (promstore_series_iter_sample(partial, &x, &err) == PROMSTORE_OK)
        rest++;
    assert_int_equal(rest, 1);
    assert_int_equal(promstore_series_iter_next(partial, &err), PROMSTORE_DONE);
    promstore_series_iter_close(partial);

    /* after: the new view. */
    n = 0;
    memset(counts, 0, sizeof counts);
    while (promstore_series_iter_next(after, &err) == PROMSTORE_OK) {
        assert_true(n < 4);
        while (promstore_series_iter_sample(after, &x, &err) == PROMSTORE_OK)
            counts[n]++;
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(counts[0], 5);
    assert_int_equal(counts[1], 2);
    assert_int_equal(counts[2], 1);
    promstore_series_iter_close(after);

    /* A label iterator is a snapshot too. */
    promstore_string_iter *vit = NULL;
    assert_int_equal(promstore_label_values(f->db, "k", 1, NULL, 0, FULL, &vit, &err),
                     PROMSTORE_OK);
    lset v = LS("__name__", "snap", "k", "v", NULL);
    append1_ok(f->db, &v, us, 1);
    ASSERT_STRS(collect_strings(vit), "s|t|u");
    ASSERT_STRS(values(f->db, "k", NULL, 0, FULL), "s|t|u|v");
}

static void test_iterator_misuse(void **state)
{
    fx *f = *state;
    lset s = LS("__name__", "mis", NULL);
    promstore_sample smp[1] = {SMP(1000, 1)};
    append1_ok(f->db, &s, smp, 1);
    promstore_series_iter *it = NULL;
    promstore_error err;
    const promstore_label *l = NULL;
    size_t n = 0;
    promstore_sample x;
    promstore_chunk c;
    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &it, &err), PROMSTORE_OK);
    /* No series is current before the first next. */
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_E_MISUSE);
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_E_MISUSE);
    assert_int_equal(err.status, PROMSTORE_E_MISUSE);
    assert_int_equal(promstore_series_iter_chunk(it, &c, &err), PROMSTORE_E_MISUSE);
    /* The iterator still works after the refused calls. */
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_DONE);
    /* Nor after the last one. */
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_DONE);
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_E_MISUSE);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_E_MISUSE);
    promstore_series_iter_close(it);

    /* A successful call leaves *err untouched. */
    memset(&err, 0, sizeof err);
    err.status = (promstore_status)777;
    strcpy(err.message, "sentinel");
    assert_int_equal(promstore_query(f->db, NULL, 0, FULL, &it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_next(it, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_sample(it, &x, &err), PROMSTORE_OK);
    assert_int_equal(promstore_series_iter_chunk(it, &c, &err), PROMSTORE_OK);
    promstore_series_iter_close(it);
    promstore_series ser = SER(&s, (promstore_sample[]){SMP(2000, 2)}, 1);
    assert_int_equal(promstore_append(f->db, &ser, 1, NULL, &err), PROMSTORE_OK);
    promstore_stats st = {.struct_size = sizeof st};
    assert_int_equal(promstore_stats_get(f->db, &st, &err), PROMSTORE_OK);
    assert_int_equal(err.status, 777);
    assert_string_equal(err.message, "sentinel");
}

int main(int argc, char **argv)
{
    g_backend = tu_backend_from_argv(argc, argv);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_roundtrip_values),
        T(test_codec_edges),
        T(test_long_labels),
        T(test_time_range_inclusive),
        T(test_negative_timestamps),
        T(test_matchers),
        T(test_bad_matchers),
        T(test_sort_order),
        T(test_many_series),
        T(test_label_validation),
        T(test_long_message_truncated),
        T(test_legacy_names),
        T(test_empty_value_dropped),
        T(test_same_series_in_batch),
        T(test_many_samples_chunks_blocks),
        T(test_chunk_cursor),
        T(test_block_duration_fixed_at_creation),
        T(test_bad_options),
        T(test_out_of_order_no_window),
        T(test_retried_batch_is_duplicate),
        T(test_out_of_order_window),
        T(test_out_of_order_duplicates),
        T(test_out_of_order_window_many),
        T(test_label_names_values),
        T(test_series_without_samples),
        T(test_stats),
        T(test_limits),
        T(test_reopen),
        T(test_snapshot),
        T(test_iterator_misuse),
    };
#undef T
    char name[64];
    snprintf(name, sizeof name, "engine_%s", g_backend);
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
