/*
 * units.c -- durations, byte sizes and integers as the configuration spells
 * them (see units.h). Every parser rejects trailing garbage and overflow, so
 * a typo is a startup error and never a silently different limit.
 */
#include "units.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Read a run of decimal digits; -1 on none or on overflow of uint64_t. */
static int read_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

int srv_parse_uint(const char *s, uint64_t *out, char *why, size_t why_len)
{
    const char *p = s;
    if (read_digits(&p, out) != 0 || *p != '\0') {
        snprintf(why, why_len, "expected a non-negative integer");
        return -1;
    }
    return 0;
}

/* Duration units, largest first: the order model.ParseDuration demands. */
static const struct {
    const char *name;
    int64_t ms;
} duration_units[] = {
    {"y", INT64_C(365) * 24 * 3600 * 1000},
    {"w", INT64_C(7) * 24 * 3600 * 1000},
    {"d", INT64_C(24) * 3600 * 1000},
    {"h", INT64_C(3600) * 1000},
    {"ms", 1}, /* before "m" so that "ms" is not read as minutes */
    {"m", INT64_C(60) * 1000},
    {"s", 1000},
};

/* Rank of a unit in largest-first order; "ms" sorts after "s". */
static int unit_rank(size_t i)
{
    static const int rank[] = {0, 1, 2, 3, 6, 4, 5};
    return rank[i];
}

static int match_unit(const char **p, size_t *which)
{
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        size_t n = strlen(duration_units[i].name);
        if (strncmp(*p, duration_units[i].name, n) == 0) {
            *p += n;
            *which = i;
            return 0;
        }
    }
    return -1;
}

int srv_parse_duration(const char *s, int64_t *out_ms, char *why, size_t why_len)
{
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    const char *p = s;
    int64_t total = 0;
    int last_rank = -1;
    if (*p == '\0')
        goto bad;
    while (*p) {
        uint64_t n;
        size_t u;
        if (read_digits(&p, &n) != 0 || match_unit(&p, &u) != 0)
            goto bad;
        if (unit_rank(u) <= last_rank) {
            snprintf(why, why_len, "units must go from largest to smallest, each once");
            return -1;
        }
        last_rank = unit_rank(u);
        if (n > (uint64_t)(INT64_MAX - total) / (uint64_t)duration_units[u].ms) {
            snprintf(why, why_len, "duration out of range");
            return -1;
        }
        total += (int64_t)n * duration_units[u].ms;
    }
    *out_ms = total;
    return 0;
bad:
    snprintf(why, why_len, "not a duration (use e.g. 15d, 2h, 1h30m, 500ms, 0)");
    return -1;
}

void srv_format_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *name;
        int64_t ms;
    } order[] = {{"y", INT64_C(31536000000)}, {"w", INT64_C(604800000)},
                 {"d", INT64_C(86400000)},    {"h", INT64_C(3600000)},
                 {"m", INT64_C(60000)},       {"s", 1000},
                 {"ms", 1}};
    size_t used = 0;
    if (ms <= 0) {
        snprintf(buf, len, "0s");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0] && ms > 0; i++) {
        int64_t n = ms / order[i].ms;
        if (n == 0)
            continue;
        ms -= n * order[i].ms;
        int w = snprintf(buf + used, len - used, "%lld%s", (long long)n, order[i].name);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

int srv_parse_bytes(const char *s, uint64_t *out, char *why, size_t why_len)
{
    /* Base2Bytes: KB and KiB are both 1024, as in Prometheus. */
    static const char *const prefixes = "KMGTPE";
    const char *p = s;
    uint64_t n;
    if (read_digits(&p, &n) != 0)
        goto bad;
    uint64_t mult = 1;
    if (*p != '\0' && strcmp(p, "B") != 0) {
        const char *hit = strchr(prefixes, *p);
        if (hit == NULL || *p == '\0')
            goto bad;
        const char *rest = p + 1;
        if (strcmp(rest, "B") != 0 && strcmp(rest, "iB") != 0)
            goto bad;
        for (long i = 0; i <= hit - prefixes; i++)
            mult <<= 10;
    }
    if (n != 0 && mult > UINT64_MAX / n) {
        snprintf(why, why_len, "size out of range");
        return -1;
    }
    *out = n * mult;
    return 0;
bad:
    snprintf(why, why_len, "not a size (use e.g. 0, 4096, 512MB, 10GB, 1TiB)");
    return -1;
}

int srv_split_hostport(const char *addr, char *host, size_t host_len, uint16_t *port,
                       char *why, size_t why_len)
{
    const char *colon, *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (end == NULL || end[1] != ':')
            goto bad;
        h = addr + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
            goto bad; /* a bare IPv6 address needs brackets */
        hl = (size_t)(colon - addr);
    }
    uint64_t p;
    const char *ps = colon + 1;
    if (read_digits(&ps, &p) != 0 || *ps != '\0' || p > 65535 || hl >= host_len)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
bad:
    snprintf(why, why_len, "expected host:port, [ipv6]:port or :port with a port 0-65535");
    return -1;
}
