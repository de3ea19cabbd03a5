/*
 * fill_big -- write the data set of the big SAMPLES read test (run_big_read.sh)
 * straight into a store through the library, and the answers PromQL must give.
 *
 *   fill_big BACKEND PATH NSERIES NSAMPLES T0_MS STEP_MS OUTDIR RAW...
 *
 * Series e2e_big{i="00000"...,job="fill"}, NSAMPLES each from T0_MS every
 * STEP_MS. Value j of series k is (k % 1000) + (j % 97) * 0.25, except sample 1
 * of series 0, which is -0.0: multiples of a quarter this small add up
 * exactly in any order, so a sum has one right answer, and -0.0 shows that
 * the bits come through (Prometheus prints it "-0").
 *
 * OUTDIR/agg.txt gets one line per series, "i count sum"; OUTDIR/raw_<i>.txt,
 * for each series index RAW, one line per sample, "seconds value", as
 * Prometheus's API prints them (timestamps whole seconds: T0_MS and STEP_MS
 * are multiples of 1000). Exit status 0, or 1 with a message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promstore.h"

static double value(size_t k, size_t j)
{
    if (k == 0 && j == 1)
        return -0.0;
    return (double)(k % 1000) + (double)(j % 97) * 0.25;
}

static int die(const char *what, const promstore_error *err)
{
    fprintf(stderr, "fill_big: %s: %s\n", what, err ? err->message : "");
    return 1;
}

/* %.17g is exact; for these values it is also the shortest form, as Go prints. */
static void put_value(FILE *f, double v)
{
    fprintf(f, "%.17g", v);
}

int main(int argc, char **argv)
{
    if (argc < 8)
        return die("usage: fill_big BACKEND PATH NSERIES NSAMPLES T0_MS STEP_MS OUTDIR RAW...",
                   NULL);
    size_t ns = strtoull(argv[3], NULL, 10), nsmp = strtoull(argv[4], NULL, 10);
    int64_t t0 = strtoll(argv[5], NULL, 10), step = strtoll(argv[6], NULL, 10);
    const char *out = argv[7];
    if (ns == 0 || ns > 100000 || nsmp == 0 || t0 % 1000 || step <= 0 || step % 1000)
        return die("bad arguments", NULL);

    promstore_options o;
    promstore_options_init(&o);
    o.backend = argv[1];
    o.path = argv[2];
    promstore *db = NULL;
    promstore_error err;
    if (promstore_open(&o, &db, &err) != PROMSTORE_OK)
        return die("open", &err);

    /* An hour of every series per append: big batches, written quickly. */
    enum { BATCH = 240 };
    promstore_series *ser = calloc(ns, sizeof *ser);
    promstore_label *lab = calloc(3 * ns, sizeof *lab);
    char(*names)[8] = calloc(ns, 8);
    promstore_sample *smp = calloc(ns * BATCH, sizeof *smp);
    if (!ser || !lab || !names || !smp)
        return die("out of memory", NULL);
    for (size_t k = 0; k < ns; k++) {
        snprintf(names[k], 8, "%05zu", k);
        lab[3 * k] = (promstore_label){"__name__", 8, "e2e_big", 7};
        lab[3 * k + 1] = (promstore_label){"i", 1, names[k], 5};
        lab[3 * k + 2] = (promstore_label){"job", 3, "fill", 4};
    }
    for (size_t j0 = 0; j0 < nsmp; j0 += BATCH) {
        size_t n = nsmp - j0 < BATCH ? nsmp - j0 : BATCH;
        for (size_t k = 0; k < ns; k++) {
            promstore_sample *s = smp + k * BATCH;
            for (size_t j = 0; j < n; j++) {
                double v = value(k, j0 + j);
                s[j].timestamp_ms = t0 + (int64_t)(j0 + j) * step;
                memcpy(&s[j].value_bits, &v, sizeof v);
            }
            ser[k] = (promstore_series){&lab[3 * k], 3, s, n};
        }
        if (promstore_append(db, ser, ns, NULL, &err) != PROMSTORE_OK)
            return die("append", &err);
    }
    if (promstore_close(db, &err) != PROMSTORE_OK)
        return die("close", &err);

    char path[4096];
    snprintf(path, sizeof path, "%s/agg.txt", out);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return die(path, NULL);
    for (size_t k = 0; k < ns; k++) {
        double sum = 0;
        for (size_t j = 0; j < nsmp; j++)
            sum += value(k, j);
        fprintf(f, "%s %zu ", names[k], nsmp);
        put_value(f, sum);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        return die(path, NULL);
    for (int a = 8; a < argc; a++) {
        size_t k = strtoull(argv[a], NULL, 10);
        if (k >= ns)
            return die("RAW past NSERIES", NULL);
        snprintf(path, sizeof path, "%s/raw_%s.txt", out, names[k]);
        if ((f = fopen(path, "w")) == NULL)
            return die(path, NULL);
        for (size_t j = 0; j < nsmp; j++) {
            fprintf(f, "%" PRId64 " ", (t0 + (int64_t)j * step) / 1000);
            put_value(f, value(k, j));
            fputc('\n', f);
        }
        if (fclose(f) != 0)
            return die(path, NULL);
    }
    free(smp);
    free(names);
    free(lab);
    free(ser);
    return 0;
}
