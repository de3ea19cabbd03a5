/*
 * test_select.c -- selection, white-box: ps_select() (plugin/engine/select.h)
 * turning compiled matchers into a set of series ids through the postings
 * table, on a real store of each backend: `test_select lmdb|sqlite`.
 *
 * The store holds the six series of helpers.h (tu_mdata); each case names
 * the matchers and the series Prometheus's semantics select, as a bit mask
 * (bit i = tu_mdata[i]): equality, negative matchers, regexes (walked value
 * by value, or looked up as a literal alternation), the empty value (x=""
 * selects the series without label x, x!="" those with it), empty
 * selections, and the all-series postings that no matchers, or negative
 * matchers only, start from. Each selected id is read back from the series
 * table, so the check is on which series were selected, not on id numbers.
 *
 * Only select_mask() touches the engine's internals; the cases are written
 * against the data set alone.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "keys.h"
#include "labels.h"
#include "select.h"
#include "store.h"

#define ALL ((1u << TU_MDATA_N) - 1)

/* The index in tu_mdata of the series with these (sorted) labels, or -1. */
static int mdata_index(const promstore_label *l, size_t n)
{
    for (int i = 0; i < TU_MDATA_N; i++) {
        tu_lset want = tu_lset_norm(&tu_mdata[i]);
        if (tu_labels_compare(want.l, want.n, l, n) == 0)
            return i;
    }
    return -1;
}

/*
 * Compile the matchers, select in a read transaction, and map every selected
 * id to its series through the series table (id -> labels key). Everything is
 * released before the checks, so a failing case leaks nothing.
 */
static unsigned select_mask(promstore *db, const promstore_matcher *src, size_t n)
{
    promstore_error err = {0};
    ps_matcher *m = NULL;
    ps_txn *txn = NULL;
    ps_bitmap sel = {0};
    ps_labelbuf lb = {0};
    promstore_status st = ps_matchers_compile(src, n, &m, &err);
    if (st == PROMSTORE_OK)
        st = ps_txn_begin(&db->sch, 0, &txn, &err);
    if (st == PROMSTORE_OK)
        st = ps_select(db, txn, m, n, NULL, &sel, &err);
    unsigned mask = 0;
    uint64_t ids = 0, unknown = 0, twice = 0;
    for (uint64_t id = 0; st == PROMSTORE_OK && id < sel.nbits; id++) {
        if (!ps_bitmap_has(&sel, id))
            continue;
        ids++;
        ps_series_rec sr;
        st = ps_series_get(&db->sch, txn, id, &sr, &err);
        if (st != PROMSTORE_OK)
            break; /* a selected id that is no stored series: NOT_FOUND */
        int i = ps_labelbuf_decode(&lb, sr.key, sr.key_len) == 0 ? mdata_index(lb.labels, lb.n) : -1;
        if (i < 0)
            unknown++;
        else if (mask & (1u << i))
            twice++;
        else
            mask |= 1u << i;
    }
    uint64_t counted = st == PROMSTORE_OK ? ps_bitmap_count(&sel) : 0;
    ps_labelbuf_free(&lb);
    ps_bitmap_free(&sel);
    if (txn != NULL)
        ps_txn_abort(&db->sch, txn);
    ps_matchers_free(m, n);

    if (st != PROMSTORE_OK)
        fail_msg("select: %d (%s): %s", st, promstore_strerror(st), err.message);
    assert_int_equal(unknown, 0); /* every id is one of the six series */
    assert_int_equal(twice, 0);   /* and no series is selected under two ids */
    assert_int_equal(counted, ids);
    return mask;
}

typedef struct sel_case {
    const char *what;
    size_t n;
    promstore_matcher m[3];
    unsigned want;
} sel_case;

#define EQ PROMSTORE_MATCH_EQ
#define NEQ PROMSTORE_MATCH_NEQ
#define RE PROMSTORE_MATCH_RE
#define NRE PROMSTORE_MATCH_NRE
#define M(t, name, value) {(t), name, sizeof(name) - 1, value, sizeof(value) - 1}

static const sel_case k_cases[] = {
    /* Equality: one postings pair. */
    {"__name__=up", 1, {M(EQ, "__name__", "up")}, 0x37},
    {"__name__=down", 1, {M(EQ, "__name__", "down")}, 0x08},
    {"job=api", 1, {M(EQ, "job", "api")}, 0x0b},
    /* Negative: the pair's ids taken out of every series. */
    {"job!=api", 1, {M(NEQ, "job", "api")}, 0x34},
    {"__name__!=up", 1, {M(NEQ, "__name__", "up")}, 0x08},
    {"job!~api|db", 1, {M(NRE, "job", "api|db")}, 0x30},
    {"job!~a.*", 1, {M(NRE, "job", "a.*")}, 0x04},
    /* Regexes, anchored, '.' matching '\n'. */
    {"job=~ap.", 1, {M(RE, "job", "ap.")}, 0x0b},
    {"job=~api.x", 1, {M(RE, "job", "api.x")}, 0x10},
    {"job=~api.*", 1, {M(RE, "job", "api.*")}, 0x3b},
    {"job=~api|db (literals)", 1, {M(RE, "job", "api|db")}, 0x0f},
    {"instance=~[ab]:\\d", 1, {M(RE, "instance", "[ab]:\\d")}, 0x03},
    /* The empty value: absent is "". */
    {"env=\"\"", 1, {M(EQ, "env", "")}, 0x1d},
    {"env!=\"\"", 1, {M(NEQ, "env", "")}, 0x22},
    {"env=~.+", 1, {M(RE, "env", ".+")}, 0x22},
    {"env!~.+", 1, {M(NRE, "env", ".+")}, 0x1d},
    {"env=~.*", 1, {M(RE, "env", ".*")}, ALL},
    {"env=~prod|", 1, {M(RE, "env", "prod|")}, 0x1f},
    {"env!=staging", 1, {M(NEQ, "env", "staging")}, 0x1f},
    {"nonexistent=\"\"", 1, {M(EQ, "nonexistent", "")}, ALL},
    {"nonexistent!=\"\"", 1, {M(NEQ, "nonexistent", "")}, 0},
    /* Empty selections. */
    {"__name__=u (no prefix match)", 1, {M(EQ, "__name__", "u")}, 0},
    {"job=~a (anchored)", 1, {M(RE, "job", "a")}, 0},
    {"nonexistent=x", 1, {M(EQ, "nonexistent", "x")}, 0},
    {"job=api, job=db", 2, {M(EQ, "job", "api"), M(EQ, "job", "db")}, 0},
    /* Intersections. */
    {"up, api, no env", 3, {M(EQ, "__name__", "up"), M(EQ, "job", "api"), M(EQ, "env", "")}, 0x01},
    {"job=~api.*, __name__!=down", 2, {M(RE, "job", "api.*"), M(NEQ, "__name__", "down")}, 0x33},
    /* The all-series postings: no matchers, or negatives only. */
    {"no matchers", 0, {{0}}, ALL},
    {"job!=api, env!~stag.*", 2, {M(NEQ, "job", "api"), M(NRE, "env", "stag.*")}, 0x14},
    {"nonexistent!=x", 1, {M(NEQ, "nonexistent", "x")}, ALL},
};

static void check_cases(promstore *db)
{
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        const sel_case *c = &k_cases[i];
        unsigned got = select_mask(db, c->m, c->n);
        if (got != c->want)
            fail_msg("%s: selected 0x%02x, want 0x%02x", c->what, got, c->want);
    }
}

static void test_select(void **state)
{
    tu_store *f = *state;
    tu_load_matcher_data(f->db);
    check_cases(f->db);
    /* The postings are in the files: the same after a reopen. */
    tu_store_reopen(f);
    check_cases(f->db);
}

/* An empty store: every selection is empty, the all-series one included. */
static void test_select_empty_store(void **state)
{
    tu_store *f = *state;
    promstore_matcher m = MT(PROMSTORE_MATCH_NEQ, "job", "api");
    assert_int_equal(select_mask(f->db, NULL, 0), 0);
    assert_int_equal(select_mask(f->db, &m, 1), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_select),
        TU_TEST(test_select_empty_store),
    };
    return TU_RUN(argc, argv, "select", tests);
}
