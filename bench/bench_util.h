/*
 * bench_util.h -- small helpers of promstore-bench that know nothing of the
 * store: the clock, medians, peak RSS per phase, directories, machine facts.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* Median of v[0..n) (v is reordered); 0 when n == 0. */
double bench_median(double *v, size_t n);

/*
 * Peak RSS per phase. bench_rss_reset() asks the kernel to restart the
 * high-water mark (/proc/self/clear_refs); bench_rss_peak_kib() reads it. When
 * the reset is refused the peak is the process's since start, and
 * bench_rss_is_per_phase() says so.
 */
void bench_rss_reset(void);
long bench_rss_peak_kib(void);
int bench_rss_is_per_phase(void);

/* Make a fresh directory parent/promstore-bench.XXXXXX; returns a malloc'd path or NULL. */
char *bench_mkdtemp(const char *parent);

/* Remove a directory tree (files, then directories); 0 on success. */
int bench_rmtree(const char *path);

/* Total size of the regular files under path, in bytes. */
uint64_t bench_du(const char *path);

/* The CPU model from /proc/cpuinfo into buf (or "unknown"). */
void bench_cpu_model(char *buf, size_t cap);

/* Physical memory in MiB, 0 if unknown. */
uint64_t bench_mem_mib(void);

/* Number formatting into buf: 2.31M, 452k; returns buf. */
char *bench_si(double v, char *buf, size_t cap);

#endif /* BENCH_UTIL_H */
