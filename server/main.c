/*
 * main.c -- the `promstore` server: read the configuration, open the store,
 * serve HTTP until SIGTERM or SIGINT, then stop accepting, let requests in
 * flight finish, close the store and exit 0. Exit 2 is a configuration error,
 * exit 1 a failure to start (the store or the listen address). The first
 * argument "check" runs the offline store verifier instead (check_cmd.c).
 *
 * Signals are blocked before any thread starts, so every thread inherits the
 * mask and the main thread alone receives them, in sigwait(): no code runs in
 * a signal handler.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_cmd.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "log_limit.h"
#include "promstore.h"
#include "units.h"

/* How long requests in flight may take to finish after a signal. */
#define SHUTDOWN_GRACE_MS 30000

static void log_config(const srv_config *c, const srv_auth *auth)
{
    char rt[48], rs[32], ooo[48], bd[48], fut[48];
    srv_format_duration(c->retention_time_ms, rt, sizeof rt);
    srv_format_duration(c->ooo_window_ms, ooo, sizeof ooo);
    srv_format_duration(c->block_duration_ms, bd, sizeof bd);
    srv_format_duration(c->future_limit_ms, fut, sizeof fut);
    snprintf(rs, sizeof rs, "%llu", (unsigned long long)c->retention_size_bytes);
    const char *mode = auth->user && auth->token ? "basic+bearer"
                       : auth->user              ? "basic"
                       : auth->token             ? "bearer"
                                                 : "none";
    srv_log(SRV_LOG_INFO, "Starting promstore", "version", promstore_version(), "config_file",
            c->config_file ? c->config_file : "", "backend", c->backend, "path", c->path,
            "retention_time", rt, "retention_size_bytes", rs, "block_duration", bd,
            "out_of_order_window", ooo, "future_limit", fut, "listen_address", c->listen_address, "auth", mode,
            "tls", c->tls_cert_file ? "true" : "false", "log_level",
            srv_log_level_name((enum srv_log_level)c->log_level), NULL);
}

/* Background work of the store (retention) that failed: one log line each. */
static void on_background_error(void *ctx, const promstore_error *err)
{
    (void)ctx;
    srv_log(SRV_LOG_WARN, "Retention failed", "err", err->message, "code",
            promstore_strerror(err->status), NULL);
}

static promstore *open_store(const srv_config *c)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = c->backend;
    o.path = c->path;
    o.retention_time_ms = c->retention_time_ms;
    o.retention_size_bytes = c->retention_size_bytes;
    o.block_duration_ms = c->block_duration_ms;
    o.out_of_order_window_ms = c->ooo_window_ms;
    o.max_future_ms = c->future_limit_ms;
    o.max_series_per_query = c->read_series_limit;
    o.max_samples_per_query = c->read_sample_limit;
    o.max_bytes_per_query = c->read_bytes_limit;
    o.flags |= c->sync ? PROMSTORE_OPEN_SYNC : 0;
    o.max_concurrent_reads = (uint32_t)c->read_concurrent_limit;
    o.max_request_bytes = c->max_request_bytes;
    o.max_decoded_bytes = c->max_decoded_bytes;
    o.read_frame_bytes = c->read_frame_bytes;
    o.max_matchers_per_query = (uint32_t)c->read_matchers_limit;
    o.max_queries_per_read = (uint32_t)c->read_queries_limit;
    o.max_work_per_read = c->read_work_limit;
    o.read_deadline_ms = c->read_deadline_ms;
    o.on_background_error = on_background_error;

    promstore *db = NULL;
    promstore_error err;
    if (promstore_open(&o, &db, &err) != PROMSTORE_OK) {
        srv_log(SRV_LOG_ERROR, "Opening the store failed", "path", c->path, "backend",
                c->backend, "err", err.message, NULL);
        return NULL;
    }
    return db;
}

/* Block the signals we wait for (and SIGPIPE) in every thread to come. */
static void block_signals(sigset_t *waited)
{
    sigemptyset(waited);
    sigaddset(waited, SIGTERM);
    sigaddset(waited, SIGINT);
    pthread_sigmask(SIG_BLOCK, waited, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not death */
}

static int serve(srv_server *s, const sigset_t *waited)
{
    char why[256];
    if (srv_http_start(s, why, sizeof why) != 0) {
        srv_log(SRV_LOG_ERROR, "Starting the HTTP server failed", "err", why, NULL);
        return 1;
    }
    atomic_store(&s->ready, true);
    srv_log(SRV_LOG_INFO, "Server is ready to receive requests", NULL);
    int sig = 0;
    while (sigwait(waited, &sig) != 0)
        ;
    atomic_store(&s->ready, false);
    srv_log(SRV_LOG_INFO, "Received signal, shutting down", "signal", strsignal(sig), NULL);
    srv_http_stop(s, SHUTDOWN_GRACE_MS);
    srv_log_limit_flush(); /* the last windows' suppressed counts */
    srv_log(SRV_LOG_INFO, "HTTP server stopped", NULL);
    return 0;
}

int main(int argc, char **argv)
{
    /* `promstore check ...` verifies a store offline instead of serving it. */
    if (argc > 1 && strcmp(argv[1], "check") == 0)
        return srv_check_main(argc - 1, argv + 1);
    srv_config cfg;
    switch (srv_config_load(&cfg, argc, argv)) {
    case SRV_CONFIG_EXIT:
        return 0;
    case SRV_CONFIG_ERROR:
        return 2;
    case SRV_CONFIG_OK:
        break;
    }
    srv_log_set_level((enum srv_log_level)cfg.log_level);
    srv_log_limit_set(cfg.log_rejected_lines, cfg.log_rejected_interval_ms);

    srv_server s;
    memset(&s, 0, sizeof s);
    s.cfg = &cfg;
    char why[256];
    if (srv_auth_load(&s.auth, cfg.basic_auth_user, cfg.basic_auth_password_file,
                      cfg.bearer_token_file, why, sizeof why) != 0) {
        fprintf(stderr, "promstore: error: %s\n", why);
        srv_config_free(&cfg);
        return 2;
    }
    log_config(&cfg, &s.auth);

    sigset_t waited;
    block_signals(&waited);
    int rc = 1;
    s.db = open_store(&cfg);
    if (s.db != NULL) {
        rc = serve(&s, &waited);
        promstore_error err;
        if (promstore_close(s.db, &err) != PROMSTORE_OK) {
            srv_log(SRV_LOG_ERROR, "Closing the store failed", "err", err.message, NULL);
            rc = 1;
        } else {
            srv_log(SRV_LOG_INFO, "Store closed, bye", NULL);
        }
    }
    srv_auth_free(&s.auth);
    srv_config_free(&cfg);
    return rc;
}
