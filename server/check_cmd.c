/*
 * check_cmd.c -- `promstore check`: open nothing for serving, hand the
 * configured store to promstore_check() and print what it reports.
 *
 * The flags are the server's (parsed by srv_config_load), so a command line
 * or config file that starts the server also checks its store. Only the
 * backend and the path matter; the store must not be open, so a running
 * server makes the check exit 2 with "store ... is open".
 */
#include "check_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "promstore.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: promstore check [--storage.path=DIR] [--storage.backend=lmdb|sqlite]\n"
                 "                       [--config.file=FILE] [<other server flags>]\n\n"
                 "Verify a store offline: the backend's own structures, every chunk (it\n"
                 "decodes, its count and times match, it lies in its block), and the index\n"
                 "(labels, series_key, postings, retention and statistics records agree).\n"
                 "The store must not be in use: stop the server first.\n\n"
                 "Prints one line per problem, then a summary. Exit status: 0 healthy,\n"
                 "1 problems found, 2 the check could not run.\n");
}

/* A block start as milliseconds and UTC time, or "" when none. */
static const char *block_text(int64_t ms, char *buf, size_t cap)
{
    if (ms == PROMSTORE_CHECK_NO_BLOCK) {
        buf[0] = '\0';
        return buf;
    }
    time_t s = (time_t)(ms / 1000 - (ms % 1000 < 0));
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&s, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, cap, " block=%lld (%s)", (long long)ms, when);
    return buf;
}

static int print_problem(void *ctx, const promstore_check_problem *p)
{
    (void)ctx;
    char series[32] = "", block[80];
    if (p->series_id != 0)
        snprintf(series, sizeof series, " series=%llu", (unsigned long long)p->series_id);
    printf("problem: table=%s%s%s: %s\n", p->table, series,
           block_text(p->block_start_ms, block, sizeof block), p->message);
    /* A closed pipe (`| head`): stop checking rather than write into nothing. */
    return ferror(stdout) != 0;
}

static int run(const char *backend, const char *path)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = backend;
    o.path = path;
    promstore_check_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    promstore_error err;
    printf("checking %s (%s)\n", path, backend);
    fflush(stdout);
    promstore_status rc = promstore_check(&o, print_problem, NULL, &s, &err);
    if (rc != PROMSTORE_OK) {
        fflush(stdout);
        fprintf(stderr, "promstore check: error: %s (%s)\n", err.message, promstore_strerror(rc));
        return 2;
    }
    printf("%llu series, %llu postings, %llu blocks, %llu chunks (%llu open), %llu samples "
           "(%llu out of order)\n",
           (unsigned long long)s.series, (unsigned long long)s.postings,
           (unsigned long long)s.blocks, (unsigned long long)s.chunks,
           (unsigned long long)s.head_chunks, (unsigned long long)s.samples,
           (unsigned long long)s.ooo_samples);
    if (s.problems == 0)
        printf("OK: no problems found\n");
    else
        printf("FAILED: %llu problem%s found%s\n", (unsigned long long)s.problems,
               s.problems == 1 ? "" : "s", s.stopped ? " (check stopped early)" : "");
    fflush(stdout);
    return s.problems == 0 ? 0 : 1;
}

int srv_check_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    srv_config cfg;
    switch (srv_config_load(&cfg, argc, argv)) {
    case SRV_CONFIG_EXIT:
        return 0;
    case SRV_CONFIG_ERROR:
        return 2;
    case SRV_CONFIG_OK:
        break;
    }
    signal(SIGPIPE, SIG_IGN); /* see print_problem */
    int rc = run(cfg.backend, cfg.path);
    srv_config_free(&cfg);
    return rc;
}
