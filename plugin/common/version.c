/* version.c -- version numbers, status names and option defaults. */
#include <string.h>

#include "promstore.h"

#define PS_STR2(x) #x
#define PS_STR(x) PS_STR2(x)

const char *promstore_version(void)
{
    return PS_STR(PROMSTORE_VERSION_MAJOR) "." PS_STR(PROMSTORE_VERSION_MINOR) "." PS_STR(
        PROMSTORE_VERSION_PATCH);
}

int promstore_version_number(void)
{
    return PROMSTORE_VERSION_NUMBER;
}

const char *promstore_strerror(promstore_status status)
{
    switch (status) {
    case PROMSTORE_OK: return "ok";
    case PROMSTORE_DONE: return "no more items";
    case PROMSTORE_E_INVALID: return "invalid argument";
    case PROMSTORE_E_MISUSE: return "library misuse";
    case PROMSTORE_E_NOMEM: return "out of memory";
    case PROMSTORE_E_IO: return "storage I/O error";
    case PROMSTORE_E_FULL: return "storage full";
    case PROMSTORE_E_BUSY: return "store busy";
    case PROMSTORE_E_CORRUPT: return "corrupt data";
    case PROMSTORE_E_BAD_LABELS: return "invalid labels";
    case PROMSTORE_E_OUT_OF_ORDER: return "out-of-order sample";
    case PROMSTORE_E_BAD_MATCHER: return "invalid matcher";
    case PROMSTORE_E_LIMIT: return "query limit exceeded";
    case PROMSTORE_E_NOT_FOUND: return "not found";
    case PROMSTORE_E_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

void promstore_options_init(promstore_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->backend = "lmdb";
    opts->block_duration_ms = 2 * 60 * 60 * 1000;
    opts->max_concurrent_reads = 10;           /* Prometheus's read-concurrent-limit */
    opts->max_request_bytes = (uint64_t)32 << 20; /* Prometheus caps bodies at 32 MiB */
    opts->max_decoded_bytes = (uint64_t)32 << 20;
    opts->read_frame_bytes = (uint64_t)1 << 20;   /* Prometheus's max-bytes-in-frame */
    opts->max_future_ms = 10 * 60 * 1000;       /* Mimir's creation grace period */
    opts->max_matchers_per_query = 64;
    opts->max_queries_per_read = 64;
    opts->max_work_per_read = 100000000;         /* ~100 costly regex values; budget.h */
    opts->read_deadline_ms = 2 * 60 * 1000;      /* Prometheus's --query.timeout */
}
