/*
 * log.h -- logfmt logging to stderr, one line per event, in the shape
 * Prometheus uses: ts=<RFC3339 UTC, ms> level=<level> msg="..." key=value ...
 * Keys and values are passed as NUL-terminated string pairs ended by NULL;
 * values are quoted and escaped as logfmt needs. Callers never pass secrets.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

enum srv_log_level { SRV_LOG_DEBUG, SRV_LOG_INFO, SRV_LOG_WARN, SRV_LOG_ERROR };

/* Parse "debug", "info", "warn" or "error"; 0 on success, -1 otherwise. */
int srv_log_parse_level(const char *s, enum srv_log_level *out);

/* The name srv_log_parse_level() reads back. */
const char *srv_log_level_name(enum srv_log_level level);

/* Events below this level are dropped. Default: info. Call before threads. */
void srv_log_set_level(enum srv_log_level level);

/*
 * Log one event: srv_log(SRV_LOG_INFO, "Listening", "address", addr, NULL).
 * Thread-safe: each line goes out in one write(2), so lines never interleave.
 */
void srv_log(enum srv_log_level level, const char *msg, ...)
    __attribute__((sentinel));

#endif
