/*
 * nodegen.h -- a deterministic generator of node_exporter-like series and
 * samples, for promstore-bench.
 *
 * Every host exposes the same set of about 1000 series (about 120 metric
 * names: CPU, memory, filesystem, network, disk, scrape and Go runtime
 * metrics) labelled instance="host-N:9100", job="node" plus per-metric labels.
 * Counters grow by a per-series rate and are quantised the way node_exporter
 * derives them from the kernel (CPU seconds in 1/100 s ticks, bytes and
 * packets as integers, scheduler times in nanoseconds); gauges are random
 * walks, noise or constants. Each host is scraped every 15 s at its own phase
 * with a few milliseconds of jitter, and all series of one scrape share its
 * timestamp, as Prometheus does.
 *
 * Everything follows from the seed: two generators with the same seed and
 * host count produce the same bytes, whatever the batch sizes.
 */
#ifndef NODEGEN_H
#define NODEGEN_H

#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

#define NODEGEN_SCRAPE_MS 15000
#define NODEGEN_JITTER_MS 5 /* default: timestamps stray by up to +/- this much */
#define NODEGEN_JITTER_MAX_MS 1000
#define NODEGEN_MAX_LABELS 10 /* node_uname_info has the most */

typedef struct nodegen nodegen;

/*
 * A reusable append batch: up to cap series entries, each with one sample.
 * The arrays are owned by the batch; series[i] points into labels and samples.
 */
typedef struct nodegen_batch {
    promstore_series *series;
    promstore_label *labels;   /* cap * NODEGEN_MAX_LABELS */
    promstore_sample *samples; /* cap */
    size_t n;
    size_t cap;
} nodegen_batch;

/*
 * A generator for hosts 0..n_hosts-1, first scrape at about start_ms, scrape
 * timestamps off schedule by up to +/- jitter_ms (at most
 * NODEGEN_JITTER_MAX_MS). NULL on ENOMEM or bad arguments.
 */
nodegen *nodegen_new(uint32_t n_hosts, uint64_t seed, int64_t start_ms, uint32_t jitter_ms);
void nodegen_free(nodegen *g);

uint32_t nodegen_hosts(const nodegen *g);
/* Series per host: the same for every host and every generator. */
size_t nodegen_series_per_host(void);
size_t nodegen_metric_names(void);
uint64_t nodegen_total_series(const nodegen *g);

/* The instance label value of a host ("host-N:9100"), NUL-terminated. */
const char *nodegen_instance(const nodegen *g, uint32_t host);

/*
 * The timestamp of scrape number `scrape` of `host`: strictly increasing, and
 * within [start + scrape * 15 s, start + (scrape + 1) * 15 s) for every host.
 */
int64_t nodegen_timestamp(const nodegen *g, uint32_t host, uint64_t scrape);

/* How many of the scrapes 0..n_scrapes-1 of host fall in [mint, maxt]. */
uint64_t nodegen_scrapes_in_range(const nodegen *g, uint32_t host, uint64_t n_scrapes, int64_t mint,
                                  int64_t maxt);

/* Index (within a host) of the first series of metric `name`, or -1. */
long nodegen_series_index(const nodegen *g, const char *name);

/*
 * The samples series i of host receives at scrapes 0..n-1, recomputed from
 * the seed into out[0..n) without touching g's state: what a query must
 * return, bit for bit. A series' values depend only on its own state, which
 * is what makes this possible.
 */
void nodegen_replay(const nodegen *g, uint32_t host, size_t i, uint64_t n, promstore_sample *out);

int nodegen_batch_init(nodegen_batch *b, size_t cap);
void nodegen_batch_free(nodegen_batch *b);

/*
 * Fill b (from empty) with the samples of scrape `scrape` for the series whose
 * global index (host * series_per_host + i) runs from *pos up to end
 * (exclusive), at most b->cap of them, and advance *pos. Series of one host
 * come together, hosts in order. Each call advances the value state of the
 * series it emits, so a series must be emitted once per scrape, scrapes in
 * order. Returns the number of entries (0 when *pos >= end).
 */
size_t nodegen_fill(nodegen *g, nodegen_batch *b, uint64_t scrape, uint64_t *pos, uint64_t end);

#endif /* NODEGEN_H */
