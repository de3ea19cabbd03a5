/*
 * bench_util.c -- clock, medians, peak RSS, directory and machine helpers of
 * promstore-bench (see bench_util.h).
 */
#define _GNU_SOURCE /* nftw's FTW_PHYS and FTW_DEPTH */
#include "bench_util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int rss_per_phase = -1; /* unknown until the first reset */

void bench_rss_reset(void)
{
    /* "5" resets the peak RSS (VmHWM) of the process, Linux >= 4.0. */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f != NULL && fputs("5", f) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (rss_per_phase != 0)
        rss_per_phase = ok;
}

int bench_rss_is_per_phase(void)
{
    return rss_per_phase == 1;
}

/* VmHWM from /proc/self/status: the high-water mark that clear_refs resets.
 * getrusage's ru_maxrss is not used when the reset works because it also
 * keeps the peak of threads that have exited, which survives the reset. */
static long read_vmhwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kib = -1;
    for (int i = 0; i < 200 && fgets(line, sizeof line, f) != NULL; i++)
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

long bench_rss_peak_kib(void)
{
    long kib = bench_rss_is_per_phase() ? read_vmhwm_kib() : -1;
    if (kib >= 0)
        return kib;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

char *bench_mkdtemp(const char *parent)
{
    size_t n = strlen(parent) + sizeof "/promstore-bench.XXXXXX";
    char *p = malloc(n);
    if (p == NULL)
        return NULL;
    snprintf(p, n, "%s/promstore-bench.XXXXXX", parent);
    if (mkdtemp(p) == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

int bench_rmtree(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode))
        du_total += (uint64_t)st->st_size;
    return 0;
}

uint64_t bench_du(const char *path)
{
    du_total = 0;
    if (nftw(path, du_one, 16, FTW_PHYS) != 0)
        return 0;
    return du_total;
}

void bench_cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    for (int i = 0; i < 10000 && fgets(line, sizeof line, f) != NULL; i++) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || colon == NULL)
            continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, cap, "%s", colon);
        break;
    }
    fclose(f);
}

uint64_t bench_mem_mib(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0)
        return 0;
    return (uint64_t)pages * (uint64_t)psize / (1024 * 1024);
}

char *bench_si(double v, char *buf, size_t cap)
{
    if (v >= 1e9)
        snprintf(buf, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, cap, "%.0fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}
