/*
 * units.h -- parsing of the value forms the configuration accepts: Prometheus
 * durations ("15d", "1h30m", "0"), byte sizes with units ("512MB", "10GiB")
 * and plain unsigned integers. Shared by flags and YAML, so both accept
 * exactly the same spellings.
 */
#ifndef SRV_UNITS_H
#define SRV_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * A duration as Prometheus's model.ParseDuration reads it: a sequence of
 * <integer><unit> with units y (365d), w, d, h, m, s, ms, each at most once
 * and from the largest to the smallest, or a bare "0". Returns 0 and sets
 * *out_ms, or -1 with a reason in why[why_len].
 */
int srv_parse_duration(const char *s, int64_t *out_ms, char *why, size_t why_len);

/*
 * A byte size: an integer with an optional unit B, KB, MB, GB, TB, PB, EB or
 * KiB .. EiB. As in Prometheus (alecthomas/units Base2Bytes), both spellings
 * are powers of 1024. Returns 0 and sets *out, or -1 with a reason.
 */
int srv_parse_bytes(const char *s, uint64_t *out, char *why, size_t why_len);

/* A plain decimal unsigned integer, no sign, no spaces. 0 or -1 as above. */
int srv_parse_uint(const char *s, uint64_t *out, char *why, size_t why_len);

/* Format a duration back the way Prometheus prints it ("1h30m", "0s"). */
void srv_format_duration(int64_t ms, char *buf, size_t len);

/*
 * Split a listen address "host:port", "[ipv6]:port" or ":port" (every
 * interface). host gets "" for the last form. Returns 0, or -1 with a reason.
 */
int srv_split_hostport(const char *addr, char *host, size_t host_len, uint16_t *port,
                       char *why, size_t why_len);

#endif
