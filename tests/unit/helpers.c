/* helpers.c -- see helpers.h. */
#define _GNU_SOURCE
#include "helpers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

void *tu_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    assert_non_null(p);
    return p;
}

void *tu_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    assert_non_null(q);
    return q;
}

char *tu_memdup(const char *s, size_t n)
{
    char *p = tu_calloc(n + 1, 1);
    if (n)
        memcpy(p, s, n);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Label sets                                                               */
/* ------------------------------------------------------------------------ */

int tu_bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

int tu_labels_compare(const promstore_label *a, size_t na, const promstore_label *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = tu_bytes_cmp(a[i].name, a[i].name_len, b[i].name, b[i].name_len);
        if (c)
            return c;
        c = tu_bytes_cmp(a[i].value, a[i].value_len, b[i].value, b[i].value_len);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

int tu_labels_sorted(const promstore_label *l, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (tu_bytes_cmp(l[i - 1].name, l[i - 1].name_len, l[i].name, l[i].name_len) >= 0)
            return 0;
    return 1;
}

const promstore_label *tu_find_label(const promstore_label *l, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (l[i].name_len == len && memcmp(l[i].name, name, len) == 0)
            return &l[i];
    return NULL;
}

char *tu_fmt_labels(const promstore_label *l, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 4 * (l[i].name_len + l[i].value_len) + 8;
    char *out = tu_calloc(cap, 1);
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

void tu_lset_add(tu_lset *s, const char *name, size_t nlen, const char *value, size_t vlen)
{
    assert_true(s->n < TU_MAXL);
    s->l[s->n++] = (promstore_label){name, nlen, value, vlen};
}

tu_lset tu_lset_va(const char *name, va_list ap)
{
    tu_lset s;
    memset(&s, 0, sizeof s);
    for (const char *n = name; n != NULL; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        tu_lset_add(&s, n, strlen(n), v, strlen(v));
    }
    return s;
}

tu_lset LS(const char *name, ...)
{
    va_list ap;
    va_start(ap, name);
    tu_lset s = tu_lset_va(name, ap);
    va_end(ap);
    return s;
}

tu_lset tu_lset_norm(const tu_lset *in)
{
    tu_lset s;
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < in->n; i++)
        if (in->l[i].value_len > 0)
            s.l[s.n++] = in->l[i];
    for (size_t i = 1; i < s.n; i++)
        for (size_t j = i; j > 0 && tu_bytes_cmp(s.l[j - 1].name, s.l[j - 1].name_len,
                                                 s.l[j].name, s.l[j].name_len) > 0;
             j--) {
            promstore_label t = s.l[j];
            s.l[j] = s.l[j - 1];
            s.l[j - 1] = t;
        }
    return s;
}

char *tu_lset_key(const tu_lset *in)
{
    tu_lset s = tu_lset_norm(in);
    return tu_fmt_labels(s.l, s.n);
}

void tu_lsets_sort(const tu_lset **v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && tu_labels_compare(v[j - 1]->l, v[j - 1]->n, v[j]->l, v[j]->n) > 0; j--) {
            const tu_lset *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

/* ------------------------------------------------------------------------ */
/* Samples, series, matchers                                                */
/* ------------------------------------------------------------------------ */

promstore_sample SMP(int64_t t, double v)
{
    return (promstore_sample){t, tu_bits(v)};
}

promstore_sample SMPB(int64_t t, uint64_t bits)
{
    return (promstore_sample){t, bits};
}

promstore_series SER(const tu_lset *ls, const promstore_sample *s, size_t n)
{
    return (promstore_series){ls->l, ls->n, s, n};
}

promstore_matcher MT(promstore_match_type t, const char *name, const char *value)
{
    return (promstore_matcher){t, name, strlen(name), value, strlen(value)};
}

promstore_label tu_label(const char *name, const char *value)
{
    return (promstore_label){name, strlen(name), value, strlen(value)};
}

promstore_sample *tu_ramp(int64_t t0, int64_t step, size_t n, double base)
{
    promstore_sample *s = tu_calloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = SMP(t0 + (int64_t)i * step, base + (double)i * 1.5);
    return s;
}

int tu_sample_cmp(const void *a, const void *b)
{
    const promstore_sample *x = a, *y = b;
    return x->timestamp_ms < y->timestamp_ms ? -1 : x->timestamp_ms > y->timestamp_ms;
}

void tu_assert_samples_equal(const promstore_sample *got, size_t n_got,
                             const promstore_sample *want, size_t n_want, const char *what)
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

/* ------------------------------------------------------------------------ */
/* Calls that must succeed                                                  */
/* ------------------------------------------------------------------------ */

promstore_append_result tu_append_result(void)
{
    promstore_append_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    return r;
}

promstore_append_result tu_append_ok(promstore *db, const promstore_series *s, size_t n)
{
    promstore_append_result r = tu_append_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_append(db, s, n, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("append: %d (%s): %s", st, promstore_strerror(st), err.message);
    assert_int_equal(r.samples_rejected, 0);
    return r;
}

void tu_append1_ok(promstore *db, const tu_lset *ls, const promstore_sample *s, size_t n)
{
    promstore_series ser = SER(ls, s, n);
    tu_append_ok(db, &ser, 1);
}

promstore_retention_result tu_run_retention(promstore *db)
{
    promstore_retention_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_run_retention(db, &r, &err);
    if (st != PROMSTORE_OK)
        fail_msg("run_retention: %d %s", st, err.message);
    return r;
}

int64_t tu_wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

promstore_stats tu_stats(promstore *db)
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

void tu_assert_store_empty(promstore *db)
{
    promstore_stats st = tu_stats(db);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.samples, 0);
    assert_int_equal(st.chunks, 0);
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.min_time_ms, 0); /* 0 when empty */
    assert_int_equal(st.max_time_ms, 0);
    assert_int_equal(tu_count_series(db, NULL, 0, TU_FULL), 0);
}

void tu_options(promstore_options *o, const char *dir)
{
    promstore_options_init(o);
    o->backend = tu_backend();
    o->path = dir;
}

promstore *tu_open(const promstore_options *o)
{
    promstore *db = NULL;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_open(o, &db, &err);
    if (st != PROMSTORE_OK)
        fail_msg("open %s on %s: %d: %s", o->path, o->backend, st, err.message);
    assert_non_null(db);
    return db;
}

void tu_close(promstore *db)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_close(db, &err);
    if (st != PROMSTORE_OK)
        fail_msg("close: %d: %s", st, err.message);
}

/* ------------------------------------------------------------------------ */
/* The store fixture                                                        */
/* ------------------------------------------------------------------------ */

tu_store *tu_store_new(const char *tag)
{
    tu_store *f = tu_calloc(1, sizeof *f);
    f->dir = tu_mkdtemp(tag);
    tu_options(&f->opts, f->dir);
    return f;
}

void tu_store_open(tu_store *f)
{
    f->db = tu_open(&f->opts);
}

void tu_store_close(tu_store *f)
{
    promstore *db = f->db;
    f->db = NULL; /* closed even when the close fails: teardown must not close it again */
    if (db != NULL)
        tu_close(db);
}

void tu_store_reopen(tu_store *f)
{
    tu_store_close(f);
    tu_store_open(f);
}

void tu_store_recreate(tu_store *f)
{
    tu_store_close(f);
    tu_rmtree(f->dir);
    f->dir = tu_mkdtemp("store");
    f->opts.path = f->dir;
    tu_store_open(f);
}

int tu_store_free(tu_store *f)
{
    int rc = 0;
    if (f->db != NULL) {
        promstore_error err;
        memset(&err, 0, sizeof err);
        if (promstore_close(f->db, &err) != PROMSTORE_OK) {
            print_error("close: %s\n", err.message);
            rc = -1;
        }
    }
    tu_rmtree(f->dir);
    free(f->mem);
    free(f);
    return rc;
}

int tu_setup(void **state)
{
    tu_store *f = tu_store_new("store");
    tu_store_open(f);
    *state = f;
    return 0;
}

int tu_setup_closed(void **state)
{
    *state = tu_store_new("store");
    return 0;
}

int tu_teardown(void **state)
{
    return tu_store_free(*state);
}

int tu_run(int argc, char **argv, const char *prefix, const struct CMUnitTest *tests, size_t n)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%s", prefix, tu_backend_from_argv(argc, argv));
    return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Collecting query results                                                 */
/* ------------------------------------------------------------------------ */

void tu_result_free(tu_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        tu_series *q = &r->s[i];
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
static void copy_labels(promstore_series_iter *it, tu_series *q)
{
    const promstore_label *l = NULL;
    size_t n = 0;
    assert_int_equal(promstore_series_iter_labels(it, &l, &n), PROMSTORE_OK);
    assert_true(n > 0);
    assert_non_null(l);
    q->labels = tu_calloc(n, sizeof *q->labels);
    q->n_labels = n;
    for (size_t i = 0; i < n; i++) {
        assert_true(l[i].name_len > 0);
        assert_true(l[i].value_len > 0); /* empty values are dropped */
        if (i > 0)
            assert_true(tu_bytes_cmp(l[i - 1].name, l[i - 1].name_len, l[i].name,
                                     l[i].name_len) < 0);
        q->labels[i].name = tu_memdup(l[i].name, l[i].name_len);
        q->labels[i].name_len = l[i].name_len;
        q->labels[i].value = tu_memdup(l[i].value, l[i].value_len);
        q->labels[i].value_len = l[i].value_len;
    }
    q->key = tu_fmt_labels(q->labels, q->n_labels);
}

promstore_status tu_iter_collect(promstore_series_iter *it, int64_t mint, int64_t maxt, int want,
                                 tu_result *out, promstore_error *err)
{
    memset(out, 0, sizeof *out);
    promstore_status st;
    for (;;) {
        st = promstore_series_iter_next(it, err);
        if (st != PROMSTORE_OK)
            break;
        out->s = tu_realloc(out->s, (out->n + 1) * sizeof *out->s);
        tu_series *q = &out->s[out->n++];
        memset(q, 0, sizeof *q);
        copy_labels(it, q);
        if (want & TU_SAMPLES) {
            size_t cap = 0;
            promstore_sample smp;
            while ((st = promstore_series_iter_sample(it, &smp, err)) == PROMSTORE_OK) {
                assert_true(smp.timestamp_ms >= mint && smp.timestamp_ms <= maxt);
                if (q->n_samples > 0)
                    assert_true(smp.timestamp_ms > q->samples[q->n_samples - 1].timestamp_ms);
                if (q->n_samples == cap) {
                    cap = cap ? 2 * cap : 16;
                    q->samples = tu_realloc(q->samples, cap * sizeof *q->samples);
                }
                q->samples[q->n_samples++] = smp;
            }
            if (st != PROMSTORE_DONE)
                break;
            /* Every selected series has a sample in range. */
            assert_true(q->n_samples > 0);
        }
        if (want & TU_CHUNKS) {
            promstore_chunk c;
            while ((st = promstore_series_iter_chunk(it, &c, err)) == PROMSTORE_OK) {
                assert_true(c.min_time_ms <= c.max_time_ms);
                assert_true(c.max_time_ms >= mint && c.min_time_ms <= maxt);
                if (q->n_chunks > 0)
                    assert_true(c.min_time_ms >= q->chunks[q->n_chunks - 1].mint);
                assert_non_null(c.data);
                assert_true(c.data_len > 2);
                q->chunks = tu_realloc(q->chunks, (q->n_chunks + 1) * sizeof *q->chunks);
                tu_chunk *qc = &q->chunks[q->n_chunks++];
                qc->mint = c.min_time_ms;
                qc->maxt = c.max_time_ms;
                qc->len = c.data_len;
                qc->data = tu_calloc(c.data_len, 1);
                memcpy(qc->data, c.data, c.data_len);
            }
            if (st != PROMSTORE_DONE)
                break;
            assert_true(q->n_chunks > 0);
        }
        /* Series come in labels.Compare order, strictly (no duplicates). */
        if (out->n > 1) {
            tu_series *p = &out->s[out->n - 2];
            if (tu_labels_compare(p->labels, p->n_labels, q->labels, q->n_labels) >= 0)
                fail_msg("series out of order: %s then %s", p->key, q->key);
        }
    }
    return st;
}

promstore_status tu_query_collect(promstore *db, const promstore_matcher *m, size_t nm,
                                  int64_t mint, int64_t maxt, int want, tu_result *out,
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
    st = tu_iter_collect(it, mint, maxt, want, out, err);
    promstore_series_iter_close(it);
    return st;
}

void tu_query_ok(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                 int64_t maxt, int want, tu_result *out)
{
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = tu_query_collect(db, m, nm, mint, maxt, want, out, &err);
    if (st != PROMSTORE_DONE)
        fail_msg("query: %d (%s): %s", st, promstore_strerror(st), err.message);
}

size_t tu_count_series(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                       int64_t maxt)
{
    tu_result r;
    tu_query_ok(db, m, nm, mint, maxt, 0, &r);
    size_t n = r.n;
    tu_result_free(&r);
    return n;
}

const tu_series *tu_find_series(const tu_result *r, const tu_lset *ls)
{
    char *key = tu_lset_key(ls);
    const tu_series *found = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->s[i].key, key) == 0)
            found = &r->s[i];
    free(key);
    return found;
}

void tu_assert_series(const tu_result *r, const tu_lset *ls, const promstore_sample *want,
                      size_t n)
{
    const tu_series *q = tu_find_series(r, ls);
    char *key = tu_lset_key(ls);
    if (q == NULL)
        fail_msg("series %s missing from the result", key);
    tu_assert_samples_equal(q->samples, q->n_samples, want, n, key);
    free(key);
}

void tu_assert_keys(const tu_result *r, const tu_lset *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < r->n; i++) {
        char *key = tu_lset_key(want[i]);
        if (strcmp(r->s[i].key, key) != 0)
            fail_msg("series %zu is %s, want %s", i, r->s[i].key, key);
        free(key);
    }
    if (r->n != n)
        fail_msg("%zu series, want %zu", r->n, n);
}

void tu_assert_stored(promstore *db, const tu_lset *ls, const promstore_sample *want, size_t n)
{
    tu_result q;
    tu_query_ok(db, NULL, 0, TU_FULL, TU_BOTH, &q);
    tu_assert_series(&q, ls, want, n);
    tu_assert_chunks_hold(tu_find_series(&q, ls), want, n);
    tu_result_free(&q);
}

char *tu_strings(promstore_string_iter *it)
{
    char *out = tu_calloc(1, 1);
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
            assert_true(tu_bytes_cmp(prev, prev_len, s, len) < 0);
        free(prev);
        prev = tu_memdup(s, len);
        prev_len = len;
        out = tu_realloc(out, olen + len + 2);
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

char *tu_label_names(promstore *db, const promstore_matcher *m, size_t nm, int64_t mint,
                     int64_t maxt)
{
    promstore_string_iter *it = NULL;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st = promstore_label_names(db, m, nm, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK)
        fail_msg("label_names: %d: %s", st, err.message);
    return tu_strings(it);
}

char *tu_label_values(promstore *db, const char *name, const promstore_matcher *m, size_t nm,
                      int64_t mint, int64_t maxt)
{
    promstore_string_iter *it = NULL;
    promstore_error err;
    memset(&err, 0, sizeof err);
    promstore_status st =
        promstore_label_values(db, name, strlen(name), m, nm, mint, maxt, &it, &err);
    if (st != PROMSTORE_OK)
        fail_msg("label_values(%s): %d: %s", name, st, err.message);
    return tu_strings(it);
}

/* ------------------------------------------------------------------------ */
/* An independent XOR chunk decoder (PROTOCOL.md 3.4)                       */
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

size_t tu_xor_count(const uint8_t *d, size_t len)
{
    assert_true(len >= 2);
    return ((size_t)d[0] << 8) | d[1];
}

long tu_xor_decode(const uint8_t *d, size_t len, promstore_sample *out, size_t cap)
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

promstore_sample *tu_decode_chunks(const tu_series *q, size_t *n_out)
{
    size_t total = 0;
    for (size_t i = 0; i < q->n_chunks; i++)
        total += tu_xor_count(q->chunks[i].data, q->chunks[i].len);
    promstore_sample *all = tu_calloc(total, sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < q->n_chunks; i++) {
        const tu_chunk *c = &q->chunks[i];
        long k = tu_xor_decode(c->data, c->len, all + n, total - n);
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

void tu_assert_chunks_hold(const tu_series *q, const promstore_sample *want, size_t n)
{
    size_t got_n = 0;
    promstore_sample *got = tu_decode_chunks(q, &got_n);
    qsort(got, got_n, sizeof *got, tu_sample_cmp);
    tu_assert_samples_equal(got, got_n, want, n, q->key);
    free(got);
}

void tu_assert_inorder_chunks(const tu_series *q, const promstore_sample *want, size_t n,
                              int64_t block_ms)
{
    size_t total = 0;
    for (size_t i = 0; i < q->n_chunks; i++) {
        const tu_chunk *c = &q->chunks[i];
        size_t cnt = tu_xor_count(c->data, c->len);
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
    tu_assert_chunks_hold(q, want, n);
}

/* ------------------------------------------------------------------------ */
/* The matcher data set                                                     */
/* ------------------------------------------------------------------------ */

tu_lset tu_mdata[TU_MDATA_N];

void tu_load_matcher_data(promstore *db)
{
    tu_mdata[0] = LS("__name__", "up", "job", "api", "instance", "a:1", NULL);
    tu_mdata[1] = LS("instance", "b:2", "__name__", "up", "env", "prod", "job", "api", NULL);
    tu_mdata[2] = LS("__name__", "up", "job", "db", "instance", "c:3", NULL);
    tu_mdata[3] = LS("job", "api", "__name__", "down", NULL);
    tu_mdata[4] = LS("__name__", "up", "job", "api\nx", NULL); /* '.' must match '\n' */
    tu_mdata[5] = LS("__name__", "up", "job", "apix", "env", "staging", NULL);
    promstore_sample smp[2] = {SMP(TU_T0, 1), SMP(TU_T0 + 1000, 2)};
    promstore_series batch[TU_MDATA_N];
    for (int i = 0; i < TU_MDATA_N; i++)
        batch[i] = SER(&tu_mdata[i], smp, 2);
    tu_append_ok(db, batch, TU_MDATA_N);
}
