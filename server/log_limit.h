/*
 * log_limit.h -- a per-reason limit on log lines, for events an unauthenticated
 * client can cause at will (rejected requests): a flood of bad requests must
 * not flood the log. A reason is a (handler, cause) pair, e.g.
 * ("/api/v1/write", "400"). Each reason may log `lines` lines per window of
 * `interval_ms`, the window starting at its first line; the lines past that
 * are counted, not written, and when the window has ended (at the reason's
 * next event, or at srv_log_limit_flush()) one line says how many were
 * suppressed. Names longer than the limiter keeps (39 and 23 bytes) are cut. The counts also go to /metrics
 * (promstore_log_lines_suppressed_total).
 *
 * Thread-safe, except srv_log_limit_set (call it before threads start).
 */
#ifndef SRV_LOG_LIMIT_H
#define SRV_LOG_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* lines per window of interval_ms per reason; lines 0: no limit. Default: 10 per 10 s. */
void srv_log_limit_set(uint64_t lines, int64_t interval_ms);

/*
 * May a line for this reason be logged now? false: it is counted as
 * suppressed. Logs the summary of the reason's previous window first when
 * that window has ended with lines suppressed. handler and cause are copied.
 */
bool srv_log_limit_admit(const char *handler, const char *cause);

/* Log the summary of every window that suppressed lines (at shutdown). */
void srv_log_limit_flush(void);

/* The lines suppressed so far, per reason, for /metrics. */
typedef void (*srv_log_limit_fn)(void *ctx, const char *handler, const char *cause,
                                 uint64_t suppressed);
void srv_log_limit_each(srv_log_limit_fn fn, void *ctx);

#endif
