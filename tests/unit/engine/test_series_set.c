/*
 * test_series_set.c -- the ordered series set, white-box: ps_series_set
 * (plugin/engine/series_set.h) handing out the ids of a selection in
 * labels.Compare order, on a real store of each backend:
 * `test_series_set lmdb|sqlite`.
 *
 * The set orders in one of two ways, chosen by the size of the selection
 * against its small_max argument: sorting the keys in memory, or walking
 * series_key. The ABI suites (test_query.c) see only the order that comes
 * out; here each case runs in both modes on purpose (small_max 0 forces the
 * walk on a small store, and the set says which mode it took), and checks:
 *   - the same order either way, the test's own labels.Compare's, on a set
 *     built to break a naive order, with keys long enough to be cut in
 *     series_key so that the walk must gather and sort a group of them, a
 *     whole key the group's hashes sort around, and a selection that leaves
 *     the whole group out (the walk must go on past it);
 *   - ids the selection holds that were never committed are skipped;
 *   - the default threshold: PS_SMALL_SELECTION ids sort in memory, one
 *     more walks;
 *   - a damaged series_key entry fails the walk with CORRUPT and a message
 *     that reaches the caller, through the set and through the ABI.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "mem.h"
#include "select.h"
#include "series_set.h"
#include "store.h"

/* What a series set handed out. */
typedef struct walked {
    char **keys; /* tu_fmt_labels of each series, in the order handed out */
    size_t n;
    int walk; /* the set walked series_key */
    promstore_status rc;
    char message[PROMSTORE_ERROR_MESSAGE_MAX];
} walked;

static void walked_free(walked *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->keys[i]);
    free(w->keys);
    memset(w, 0, sizeof *w);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a set opened over *ids (taken) to its end. */
static walked read_set(promstore *db, ps_txn *txn, ps_bitmap *ids, uint64_t small_max)
{
    walked w;
    memset(&w, 0, sizeof w);
    ps_series_set ss;
    ps_series_set_open(&ss, &db->sch, txn, ids, small_max);
    w.walk = ss.walk;
    while (ps_series_set_next(&ss)) {
        const ps_series_ref *at = ps_series_set_at(&ss);
        w.keys = tu_realloc(w.keys, (w.n + 1) * sizeof *w.keys);
        w.keys[w.n++] = tu_fmt_labels(at->labels, at->n_labels);
    }
    w.rc = ps_series_set_err(&ss);
    snprintf(w.message, sizeof w.message, "%s", ps_series_set_error(&ss)->message);
    ps_series_set_close(&ss);
    return w;
}

/*
 * Select with the matchers in a read transaction and read the set with
 * small_max. Everything is released before the checks, so a failing case
 * leaks nothing.
 */
static walked select_set(promstore *db, const promstore_matcher *m, size_t n, uint64_t small_max)
{
    promstore_error err = {0};
    ps_matcher *pm = NULL;
    ps_txn *txn = NULL;
    ps_bitmap ids = {0};
    walked w;
    memset(&w, 0, sizeof w);
    promstore_status st = ps_matchers_compile(m, n, &pm, &err);
    if (st == PROMSTORE_OK)
        st = ps_txn_begin(&db->sch, 0, &txn, &err);
    if (st == PROMSTORE_OK)
        st = ps_select(db, txn, pm, n, NULL, &ids, &err);
    if (st == PROMSTORE_OK)
        w = read_set(db, txn, &ids, small_max);
    ps_bitmap_free(&ids);
    ps_txn_abort(&db->sch, txn);
    ps_matchers_free(pm, n);
    if (st != PROMSTORE_OK)
        fail_msg("select: %d (%s): %s", st, promstore_strerror(st), err.message);
    return w;
}

/* The set handed out exactly these series, in this order, without an error. */
static void assert_walked(const walked *w, const tu_lset *const *want, size_t n)
{
    if (w->rc != PROMSTORE_OK)
        fail_msg("the set failed: %d (%s): %s", w->rc, promstore_strerror(w->rc), w->message);
    for (size_t i = 0; i < n && i < w->n; i++) {
        char *k = tu_lset_key(want[i]);
        if (strcmp(k, w->keys[i]) != 0)
            fail_msg("series %zu (%s): %s, want %s", i, w->walk ? "walk" : "sort", w->keys[i], k);
        free(k);
    }
    assert_int_equal(w->n, n);
}

/* Both modes, the same order: want (sorted by the test's comparator). */
static void assert_both_modes(promstore *db, const promstore_matcher *m, size_t nm,
                              const tu_lset *const *want, size_t n)
{
    walked sorted = select_set(db, m, nm, PS_SMALL_SELECTION);
    walked walk = select_set(db, m, nm, 0);
    int sorted_walked = sorted.walk, walk_walked = walk.walk;
    assert_walked(&sorted, want, n);
    assert_walked(&walk, want, n);
    walked_free(&sorted);
    walked_free(&walk);
    assert_false(sorted_walked);
    assert_int_equal(walk_walked, n > 0); /* an empty selection has nothing to walk */
}

/* ------------------------------------------------------------------------ */
/* The data: an order to get wrong, and keys series_key cuts                */
/* ------------------------------------------------------------------------ */

#define N_DATA 26
#define LONG 450 /* a value this long makes a key longer than PS_SKEY_MAX */

/* Values of n 'x' and a tail, in buf (static: tu_lset keeps pointers). */
static const char *xs(char *buf, size_t n, const char *tail)
{
    memset(buf, 'x', n);
    strcpy(buf + n, tail);
    return buf;
}

static char g_long[10][LONG + 8];

/* The data set as appended, and normalised in the expected order. */
typedef struct dataset {
    tu_lset sets[N_DATA];
    tu_lset norm[N_DATA];
    const tu_lset *want[N_DATA]; /* sorted by the test's own labels.Compare */
    size_t n;
    size_t n_cut; /* under __name__="cut": keys cut in series_key, or as long */
} dataset;

static void load_data(promstore *db, dataset *d)
{
    tu_lset *sets = d->sets;
    size_t n = 0;
    /* Order traps, as in test_query.c: case, '_', prefixes, multi-byte UTF-8. */
    sets[n++] = LS("A", "1", NULL);
    sets[n++] = LS("A", "1", "__name__", "m", NULL);
    sets[n++] = LS("Z", "z", "a", "1", NULL);
    sets[n++] = LS("_", "1", NULL);
    sets[n++] = LS("__name__", "m", NULL);
    sets[n++] = LS("__name__", "m", "a", "1", NULL);
    sets[n++] = LS("__name__", "m", "a", "10", NULL);
    sets[n++] = LS("__name__", "m", "a", "2", NULL);
    sets[n++] = LS("__name__", "m", "aa", "1", NULL);
    sets[n++] = LS("__name__", "m_", NULL);
    sets[n++] = LS("__name__", "m\xc3\xa9", NULL);
    sets[n++] = LS("__name__", "M", NULL);
    sets[n++] = LS("a", "1", NULL);
    sets[n++] = LS("a", "1", "b", "1", NULL);
    sets[n++] = LS("ab", "1", NULL);
    sets[n++] = LS("\xc3\xa9", "1", NULL);
    /*
     * Under __name__="cut" the labels key is 15 bytes before the value of a
     * and its terminator after, so its 432-byte cut prefix ends 417 bytes
     * into the value. Values longer than 424 bytes give keys longer than
     * PS_SKEY_MAX: cut, these share one prefix and sort by hash in
     * series_key, whatever their full order. A value of 424 bytes makes a
     * whole key of exactly PS_SKEY_MAX, which may equal a cut key and so
     * joins the group. So does a whole key shorter than that but longer
     * than the prefix, which sorts among the cut keys by bytes their hash
     * decides. One value differs inside the prefix: a group alone; another
     * sorts before the group (its 'a' inside the prefix).
     */
    size_t first_cut = n;
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[0], LONG, ""), NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[1], LONG, "a"), NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[2], LONG, "b"), NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[3], LONG, "a"), "z", "1", NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[4], LONG, "y"), NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[5], PS_SKEY_MAX - 16, ""), NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[6], LONG, "\x01"), NULL);
    sets[n++] = LS("__name__", "cut", "a",
                   xs(g_long[7], 400, "y" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), NULL);
    sets[n++] = LS("__name__", "cut", "a", xs(g_long[8], 420, "y"), NULL);
    sets[n++] = LS("__name__", "cut", "a",
                   xs(g_long[9], 400, "a" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), NULL);
    d->n_cut = n - first_cut;
    d->n = n;
    assert_int_equal(n, N_DATA);

    /* Appended in an order unrelated to the expected one, in two batches. */
    promstore_sample smp[1] = {SMP(TU_T0, 1)};
    promstore_series batch[N_DATA];
    for (size_t i = 0; i < n; i++)
        batch[i] = SER(&sets[(i * 7) % n], smp, 1); /* 7 is prime to 26 */
    tu_append_ok(db, batch, 11);
    tu_append_ok(db, batch + 11, n - 11);

    for (size_t i = 0; i < n; i++) {
        d->norm[i] = tu_lset_norm(&sets[i]);
        d->want[i] = &d->norm[i];
    }
    tu_lsets_sort(d->want, n);
}

/* The expected series that keep() accepts, in order, into out; their count. */
static size_t subset(const dataset *d, int (*keep)(const tu_lset *), const tu_lset **out)
{
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++)
        if (keep(d->want[i]))
            out[k++] = d->want[i];
    return k;
}

static const char *name_of(const tu_lset *s)
{
    const promstore_label *l = tu_find_label(s->l, s->n, "__name__");
    return l ? l->value : "";
}

static int is_cut(const tu_lset *s)
{
    return strcmp(name_of(s), "cut") == 0;
}

static int is_m(const tu_lset *s)
{
    return name_of(s)[0] == 'm';
}

static int is_m_or_cut(const tu_lset *s)
{
    return is_m(s) || is_cut(s);
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */
/* ------------------------------------------------------------------------ */

static void test_order_in_both_modes(void **state)
{
    tu_store *f = *state;
    dataset *d = f->mem = tu_calloc(1, sizeof *d);
    load_data(f->db, d);
    const tu_lset *want[N_DATA];

    /* Every series. */
    assert_both_modes(f->db, NULL, 0, d->want, d->n);

    /* The cut group alone: the walk must sort it by full key, not by hash. */
    promstore_matcher cut = MT(PROMSTORE_MATCH_EQ, "__name__", "cut");
    size_t k = subset(d, is_cut, want);
    assert_int_equal(k, d->n_cut);
    assert_both_modes(f->db, &cut, 1, want, k);

    /* A selection the walk must filter: series_key lists every series. */
    promstore_matcher some = MT(PROMSTORE_MATCH_RE, "__name__", "m.*|cut");
    k = subset(d, is_m_or_cut, want);
    assert_int_equal(k, 8 + d->n_cut);
    assert_both_modes(f->db, &some, 1, want, k);

    /* Past a group with nothing selected, the walk goes on. */
    promstore_matcher m_only = MT(PROMSTORE_MATCH_RE, "__name__", "m.*");
    k = subset(d, is_m, want);
    assert_int_equal(k, 8);
    assert_both_modes(f->db, &m_only, 1, want, k);

    /* Nothing selected: nothing handed out, no error, in either mode. */
    promstore_matcher none = MT(PROMSTORE_MATCH_EQ, "__name__", "absent");
    assert_both_modes(f->db, &none, 1, NULL, 0);
}

/* An id the selection holds that no series has (never committed) is skipped. */
static void test_uncommitted_ids_skipped(void **state)
{
    tu_store *f = *state;
    dataset *d = f->mem = tu_calloc(1, sizeof *d);
    load_data(f->db, d);

    for (int mode = 0; mode < 2; mode++) {
        promstore_error err = {0};
        ps_txn *txn = NULL;
        uint64_t next_id = 0;
        assert_int_equal(ps_txn_begin(&f->db->sch, 0, &txn, &err), PROMSTORE_OK);
        promstore_status st = ps_meta_u64_get(&f->db->sch, txn, PS_META_NEXT_ID, &next_id, &err);
        /* Every bit set, ids 0 and next_id.. included. */
        ps_bitmap all = {NULL, next_id + 100};
        all.words = ps_calloc((all.nbits + 63) / 64 + 1, sizeof *all.words);
        if (all.words)
            memset(all.words, 0xff, ((all.nbits + 63) / 64) * sizeof *all.words);
        walked w = {0};
        if (st == PROMSTORE_OK && all.words)
            w = read_set(f->db, txn, &all, mode ? 0 : PS_SMALL_SELECTION);
        ps_bitmap_free(&all);
        ps_txn_abort(&f->db->sch, txn);
        assert_int_equal(st, PROMSTORE_OK);
        int walk = w.walk;
        assert_walked(&w, d->want, d->n);
        walked_free(&w);
        assert_int_equal(walk, mode);
    }
}

/* Put a series_key entry whose value is no list of ids (3 bytes), sorting last. */
static void damage_series_key(promstore *db)
{
    promstore_error err = {0};
    ps_txn *txn = NULL;
    assert_int_equal(ps_txn_begin(&db->sch, 1, &txn, &err), PROMSTORE_OK);
    int rc = db->sch.bm->put(txn, db->sch.t[PS_T_SERIES_KEY], "\xff\xff", 2, "bad", 3, &err);
    if (rc != 0) {
        ps_txn_abort(&db->sch, txn);
        fail_msg("put: %s", err.message);
    }
    assert_int_equal(ps_txn_commit(&db->sch, txn, &err), PROMSTORE_OK);
}

/*
 * The default threshold: PS_SMALL_SELECTION ids sort in memory, one more
 * walks series_key, both in text order of the values. Then a damaged entry
 * fails the walk, its message reaching the caller of the set and of the ABI.
 */
static void test_threshold_and_damage(void **state)
{
    tu_store *f = *state;
    enum { N = PS_SMALL_SELECTION + 1 };
    char(*vals)[8] = tu_calloc(N, sizeof *vals);
    promstore_label(*labels)[2] = tu_calloc(N, sizeof *labels);
    promstore_series *ser = tu_calloc(N, sizeof *ser);
    promstore_sample smp[1] = {SMP(TU_T0, 1)};
    for (size_t i = 0; i < N; i++) {
        int len = snprintf(vals[i], sizeof vals[i], "%zu", (i * 7919) % N);
        labels[i][0] = (promstore_label){"__name__", 8, "n", 1};
        labels[i][1] = (promstore_label){"i", 1, vals[i], (size_t)len};
        ser[i] = (promstore_series){labels[i], 2, smp, 1};
    }
    tu_append_ok(f->db, ser, N);
    free(ser);
    free(labels);

    /* The values in text order, which is the labels' order here. */
    char **text = tu_calloc(N, sizeof *text);
    for (size_t i = 0; i < N; i++)
        text[i] = vals[i];
    qsort(text, N, sizeof *text, cmp_text);

    promstore_matcher all = MT(PROMSTORE_MATCH_EQ, "__name__", "n");
    promstore_matcher one_less[2] = {all, MT(PROMSTORE_MATCH_NEQ, "i", "0")};
    walked over = select_set(f->db, &all, 1, PS_SMALL_SELECTION);
    walked at = select_set(f->db, one_less, 2, PS_SMALL_SELECTION);
    int over_walked = over.walk, at_walked = at.walk;
    size_t over_n = over.n, at_n = at.n;
    int ordered = over.rc == PROMSTORE_OK && at.rc == PROMSTORE_OK;
    for (size_t i = 0, j = 0; ordered && i < over.n; i++) {
        char want[40];
        snprintf(want, sizeof want, "{__name__=\"n\",i=\"%s\"}", text[i]);
        ordered = strcmp(over.keys[i], want) == 0;
        if (ordered && strcmp(text[i], "0") != 0)
            ordered = j < at.n && strcmp(at.keys[j++], want) == 0;
    }
    walked_free(&over);
    walked_free(&at);
    free(text);
    free(vals);
    assert_true(over_walked);
    assert_false(at_walked);
    assert_int_equal(over_n, N);
    assert_int_equal(at_n, N - 1);
    assert_true(ordered);

    damage_series_key(f->db);
    walked bad = select_set(f->db, &all, 1, PS_SMALL_SELECTION);
    promstore_status bad_rc = bad.rc;
    size_t bad_n = bad.n;
    int named = strstr(bad.message, "series_key") != NULL;
    walked_free(&bad);
    assert_int_equal(bad_rc, PROMSTORE_E_CORRUPT);
    assert_int_equal(bad_n, N); /* the entry sorts after every labels key */
    assert_true(named);

    /* Through the ABI: the walk's scan was opened by promstore_query, and
     * fails in a later promstore_series_iter_next, whose err gets the message. */
    promstore_series_iter *it = NULL;
    promstore_error err = {0};
    assert_int_equal(promstore_query(f->db, &all, 1, TU_FULL, &it, &err), PROMSTORE_OK);
    promstore_status st;
    size_t seen = 0;
    while ((st = promstore_series_iter_next(it, &err)) == PROMSTORE_OK)
        seen++;
    promstore_series_iter_close(it);
    assert_int_equal(seen, N);
    assert_int_equal(st, PROMSTORE_E_CORRUPT);
    if (strstr(err.message, "series_key") == NULL)
        fail_msg("the message does not name the table: \"%s\"", err.message);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_order_in_both_modes),
        TU_TEST(test_uncommitted_ids_skipped),
        TU_TEST(test_threshold_and_damage),
    };
    return TU_RUN(argc, argv, "series_set", tests);
}
