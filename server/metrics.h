/*
 * metrics.h -- the server's own metrics, kept in lock-free atomic counters and
 * written out in the Prometheus text exposition format 0.0.4 for GET /metrics.
 */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stddef.h>

#include "promstore.h"
#include "server.h"

/* Why a request hit a limit: the `limit` label of promstore_limit_hits_total. */
enum srv_limit {
    SRV_LIMIT_REQUEST_BYTES,    /* body over --web.max-request-bytes (413) */
    SRV_LIMIT_READ_CONCURRENCY, /* too many remote reads at once (503) */
    SRV_LIMIT_QUERY,            /* a per-query read limit */
    SRV_LIMIT_WRITE_BUSY,       /* the store asked the writer to retry (503) */
    SRV_LIMIT_STORAGE_FULL,     /* disk or map full (507) */
    SRV_LIMIT_READ_TIMEOUT,     /* a request not read within --web.read-timeout */
    SRV_LIMIT_CONNECTIONS,      /* an idle connection shed: slots ran short */
    SRV_LIMIT_BODY_BYTES,       /* bodies in flight at --web.max-body-bytes-in-flight (503) */
    SRV_LIMIT_BODY_RATE,        /* a body slower than --web.min-body-rate, cut */
    SRV_LIMIT_READ_WORK,        /* a read spent its work budget (max_work_per_read) */
    SRV_LIMIT_READ_DEADLINE,    /* a read worked past its deadline (read_deadline_ms) */
    SRV_LIMIT_WRITE_TIMEOUT,    /* a streamed answer not taken within --web.write-timeout */
    SRV_LIMIT_COUNT
};

/* One finished request: counts it and observes its duration. */
void srv_metrics_request(enum srv_route route, int code, double seconds);

/* The outcome of a remote write as the library reported it. */
void srv_metrics_write(const promstore_http_response *resp);

/* A status answered by a protocol entry point: counts the limits it shows. */
void srv_metrics_status(enum srv_route route, int code, const char *message);

void srv_metrics_limit(enum srv_limit limit);

/*
 * A remote read refused or cut short with PROMSTORE_E_LIMIT: counts the
 * limit its message names (the library names the option it applied:
 * max_work_per_read, read_deadline_ms; any other is a per-query limit).
 */
void srv_metrics_read_limit(const char *message);

/* Remote-read streams open now (a gauge). */
void srv_metrics_reads_open(int delta);

/*
 * The exposition, as a malloc'd buffer of *len bytes (free()), or NULL when
 * out of memory. Store gauges come from promstore_stats_get(db).
 */
char *srv_metrics_render(promstore *db, size_t *len);

#endif
