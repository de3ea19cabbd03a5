/*
 * bench_matcher.c -- promstore-bench-matcher: the compile time of one matcher
 * holding a large alternation of literals (job=~"a|b|c|..."), which the
 * selection turns into direct postings lookups (plugin/index/matcher.c, note
 * 4). Figures: the median of --reps compiles of a shuffled n-way alternation
 * of service-like names, one in ten repeated and each holding an escaped dot,
 * for n = 1,000 to 100,000. White-box (it calls ps_matcher_compile), so the
 * figure is the compile alone, without a store. A program, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "matcher.h"

#define MAX_REPS 25

/* A shuffled n-way alternation, one in ten a repeat of another; malloc'd. */
static char *alternation(size_t n, size_t *len)
{
    size_t *order = malloc(n * sizeof *order);
    char *p = malloc(n * 32 + 1);
    if (order == NULL || p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i % 10 == 9 ? i / 2 : i;
    uint64_t x = 0x9E3779B97F4A7C15u; /* xorshift: the same pattern every run */
    for (size_t i = n - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % (i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += (size_t)sprintf(p + w, "%sh%05zu\\.x", i ? "|" : "", order[i]);
    free(order);
    *len = w;
    return p;
}

/*
 * Median seconds of compiling job=~pattern, and its number of distinct
 * literals; -1 when the compile fails (the message is printed).
 */
static double compile_time(const char *pattern, size_t len, int reps, size_t *literals)
{
    double t[MAX_REPS];
    promstore_matcher src = {PROMSTORE_MATCH_RE, "job", 3, pattern, len};
    for (int r = 0; r < reps; r++) {
        ps_matcher m;
        promstore_error err;
        double t0 = bench_now();
        if (ps_matcher_compile(&m, &src, &err) != PROMSTORE_OK) {
            const char *why = strrchr(err.message, ':');
            printf("  refused: %s\n", why ? why + 2 : err.message);
            return -1;
        }
        t[r] = bench_now() - t0;
        *literals = m.n_literals;
        ps_matcher_free(&m);
    }
    return bench_median(t, (size_t)reps);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: %s [reps 1..%d]\n", argv[0], MAX_REPS);
        return 2;
    }
    static const size_t sizes[] = {1000, 3000, 10000, 30000, 100000};
    printf("literal alternation compile time, median of %d\n", reps);
    printf("%12s %12s %12s %14s\n", "alternatives", "distinct", "pattern KiB", "compile ms");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len, literals = 0;
        char *p = alternation(sizes[i], &len);
        double s = compile_time(p, len, reps, &literals);
        if (s >= 0)
            printf("%12zu %12zu %12.1f %14.2f\n", sizes[i], literals, len / 1024.0, s * 1e3);
        free(p);
    }
    return 0;
}
