/*
 * test_labelnames.c -- the engine: label names and values.
 * Through the public ABI only (promstore.h, linked against libpromstore.so),
 * run once per backend: `test_engine_labelnames lmdb` and `test_engine_labelnames sqlite`.
 *
 *   - label names and values, with matchers and time ranges, sorted and
 *     distinct, never the empty value, NUL bytes kept;
 *   - series appended without samples are reported by nothing.
 *
 * The engine's tests through the ABI are test_append.c, test_chunks.c,
 * test_query.c, test_ooo.c, test_labelnames.c and test_stats.c; what they
 * share is in ../helpers.h.
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
#include "promstore.h"

/* ------------------------------------------------------------------------ */
/* Label names and values                                                   */
/* ------------------------------------------------------------------------ */

static void test_label_names_values(void **state)
{
    tu_store *f = *state;
    tu_load_matcher_data(f->db); /* at TU_T0, TU_T0+1000 */
    tu_lset late = LS("__name__", "late", "zone", "z1", "Alpha", "1", NULL);
    promstore_sample ls = SMP(TU_T0 + 10 * TU_BLOCK_MS, 1);
    tu_append1_ok(f->db, &late, &ls, 1);

    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_FULL), "Alpha|__name__|env|instance|job|zone");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", NULL, 0, TU_FULL), "api|api\nx|apix|db");
    TU_ASSERT_STRS(tu_label_values(f->db, "__name__", NULL, 0, TU_FULL), "down|late|up");
    /* Never the empty value, though most series lack env. */
    TU_ASSERT_STRS(tu_label_values(f->db, "env", NULL, 0, TU_FULL), "prod|staging");

    /* With matchers. */
    promstore_matcher down = MT(PROMSTORE_MATCH_EQ, "__name__", "down");
    TU_ASSERT_STRS(tu_label_names(f->db, &down, 1, TU_FULL), "__name__|job");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", &down, 1, TU_FULL), "api");
    TU_ASSERT_STRS(tu_label_values(f->db, "env", &down, 1, TU_FULL), "");
    promstore_matcher noenv = MT(PROMSTORE_MATCH_EQ, "env", "");
    TU_ASSERT_STRS(tu_label_values(f->db, "job", &noenv, 1, TU_FULL), "api|api\nx|db");
    promstore_matcher re = MT(PROMSTORE_MATCH_RE, "job", "api.*");
    TU_ASSERT_STRS(tu_label_values(f->db, "instance", &re, 1, TU_FULL), "a:1|b:2");
    promstore_matcher nothing = MT(PROMSTORE_MATCH_EQ, "job", "nope");
    TU_ASSERT_STRS(tu_label_names(f->db, &nothing, 1, TU_FULL), "");

    /* With a time restriction: the late series is outside [TU_T0, TU_T0+1000]. */
    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_T0, TU_T0 + 1000),
                   "__name__|env|instance|job");
    TU_ASSERT_STRS(tu_label_values(f->db, "zone", NULL, 0, TU_T0, TU_T0 + 1000), "");
    TU_ASSERT_STRS(tu_label_values(f->db, "zone", NULL, 0, TU_FULL), "z1");
    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_T0 + TU_BLOCK_MS, INT64_MAX),
                   "Alpha|__name__|zone");
    TU_ASSERT_STRS(tu_label_values(f->db, "__name__", NULL, 0, TU_T0 + 1000, TU_T0 + 1000),
                   "down|up");
    TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_T0 + 1001, TU_T0 + TU_BLOCK_MS), "");

    /* A name no series has: empty at once. */
    TU_ASSERT_STRS(tu_label_values(f->db, "missing", NULL, 0, TU_FULL), "");
    promstore_string_iter *it = NULL;
    promstore_error err;
    const char *s;
    size_t len;
    assert_int_equal(promstore_label_values(f->db, "missing", 7, NULL, 0, TU_FULL, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
    /* The name need not be NUL-terminated. */
    assert_int_equal(promstore_label_values(f->db, "jobXYZ", 3, NULL, 0, TU_FULL, &it, &err),
                     PROMSTORE_OK);
    TU_ASSERT_STRS(tu_strings(it), "api|api\nx|apix|db");
    /* Values with NUL bytes come back with their full length. */
    tu_lset nul;
    memset(&nul, 0, sizeof nul);
    tu_lset_add(&nul, "nulv", 4, "a\0b", 3);
    tu_append1_ok(f->db, &nul, &ls, 1);
    assert_int_equal(promstore_label_values(f->db, "nulv", 4, NULL, 0, TU_FULL, &it, &err),
                     PROMSTORE_OK);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);
    assert_int_equal(promstore_string_iter_next(it, &s, &len, &err), PROMSTORE_DONE);
    promstore_string_iter_close(it);
}

static void test_series_without_samples(void **state)
{
    tu_store *f = *state;
    /* An empty batch is a successful no-op. */
    promstore_append_result r = tu_append_result();
    promstore_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(promstore_append(f->db, NULL, 0, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 0);
    assert_int_equal(r.series_created, 0);

    /* A series sent without samples has no data in any range, so neither a
     * query nor the label calls may report it -- not even the full-range
     * label calls that read the index only. */
    tu_lset ghost = LS("__name__", "ghost", "only_on_ghost", "1", NULL);
    tu_lset real = LS("__name__", "real", NULL);
    promstore_sample smp = SMP(TU_T0, 1);
    promstore_series batch[2] = {SER(&ghost, NULL, 0), SER(&real, &smp, 1)};
    r = tu_append_result();
    assert_int_equal(promstore_append(f->db, batch, 2, &r, &err), PROMSTORE_OK);
    assert_int_equal(r.samples_appended, 1);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(tu_count_series(f->db, NULL, 0, TU_FULL), 1);
        TU_ASSERT_STRS(tu_label_values(f->db, "__name__", NULL, 0, TU_FULL), "real");
        TU_ASSERT_STRS(tu_label_names(f->db, NULL, 0, TU_FULL), "__name__");
        TU_ASSERT_STRS(tu_label_values(f->db, "only_on_ghost", NULL, 0, TU_FULL), "");
        promstore_stats st = tu_stats(f->db);
        assert_int_equal(st.samples, 1);
        tu_store_reopen(f);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_label_names_values),
        TU_TEST(test_series_without_samples),
    };
    return TU_RUN(argc, argv, "engine_labelnames", tests);
}
