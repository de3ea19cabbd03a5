/*
 * config.c -- the table of settings, their defaults, the command-line flags
 * and the checks that tie settings together. The table is the one source of
 * truth: defaults are parsed from it, --help prints it, YAML keys derive from
 * it (config_yaml.c). Flags take "--name=value" or "--name value"; a boolean
 * flag alone means true.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "promstore.h"
#include "tls.h"
#include "units.h"

enum opt_type { OPT_STRING, OPT_DURATION, OPT_BYTES, OPT_UINT, OPT_BOOL, OPT_LEVEL };

struct opt {
    const char *name; /* flag name without "--" */
    enum opt_type type;
    size_t off;       /* offset of the field in srv_config */
    const char *def;  /* default, in the flag's own syntax */
    const char *help;
};

#define F(field) offsetof(srv_config, field)

static const struct opt opts[] = {
    {"config.file", OPT_STRING, F(config_file), "",
     "YAML configuration file; flags override its settings."},
    {"storage.backend", OPT_STRING, F(backend), "lmdb", "Block backend: lmdb or sqlite."},
    {"storage.path", OPT_STRING, F(path), "./data", "Directory of the store (created if missing)."},
    {"storage.retention.time", OPT_DURATION, F(retention_time_ms), "0",
     "How long to keep samples (e.g. 15d, 1h30m); 0 keeps them forever."},
    {"storage.retention.size", OPT_BYTES, F(retention_size_bytes), "0",
     "Largest store size (e.g. 512MB, 10GB; units are powers of 1024); 0: no limit."},
    {"storage.block-duration", OPT_DURATION, F(block_duration_ms), "2h",
     "Length of a time block; fixed when the store is created."},
    {"storage.out-of-order-window", OPT_DURATION, F(ooo_window_ms), "0",
     "How far behind a series' newest sample a sample is still accepted."},
    {"storage.future-limit", OPT_DURATION, F(future_limit_ms), "10m",
     "How far past this server's clock a sample may be; later ones get 400. 0: no limit."},
    {"storage.sync", OPT_BOOL, F(sync), "false",
     "fsync after every append (survives power loss, costs throughput)."},
    {"storage.remote.read-concurrent-limit", OPT_UINT, F(read_concurrent_limit), "10",
     "Remote reads served at once; more wait for a slot (--storage.remote.read-queue-timeout)."},
    {"storage.remote.read-queue-timeout", OPT_DURATION, F(read_queue_timeout_ms), "10s",
     "How long a remote read past the concurrency limit waits for a slot before 503; 0: no wait."},
    {"storage.remote.read-sample-limit", OPT_UINT, F(read_sample_limit), "50000000",
     "Most samples one remote-read query may return; 0: no limit."},
    {"storage.remote.read-series-limit", OPT_UINT, F(read_series_limit), "0",
     "Most series one remote-read query may return; 0: no limit."},
    {"storage.remote.read-bytes-limit", OPT_BYTES, F(read_bytes_limit), "0",
     "Most chunk bytes one remote-read query may return; 0: no limit."},
    {"storage.remote.read-matchers-limit", OPT_UINT, F(read_matchers_limit), "64",
     "Most matchers in one remote-read query; more get 400. 0: no limit."},
    {"storage.remote.read-queries-limit", OPT_UINT, F(read_queries_limit), "64",
     "Most queries in one remote-read request; more get 400. 0: no limit."},
    {"storage.remote.read-work-limit", OPT_UINT, F(read_work_limit), "100000000",
     "Work budget of one remote-read request, in steps (README); past it: 400. 0: no limit."},
    {"storage.remote.read-deadline", OPT_DURATION, F(read_deadline_ms), "2m",
     "How long one remote-read request may work without yielding a series; past it: 400. "
     "0: no deadline."},
    {"storage.remote.read-max-bytes-in-frame", OPT_BYTES, F(read_frame_bytes), "1MiB",
     "Target size of a streamed remote-read frame."},
    {"storage.remote.max-decoded-bytes", OPT_BYTES, F(max_decoded_bytes), "32MiB",
     "Largest decoded (uncompressed) remote write/read request body."},
    {"web.listen-address", OPT_STRING, F(listen_address), "127.0.0.1:9201",
     "Address to listen on: host:port, [ipv6]:port or :port (port 0 picks one)."},
    {"web.max-request-bytes", OPT_BYTES, F(max_request_bytes), "32MiB",
     "Largest request body; a larger one is refused with 413."},
    {"web.max-body-bytes-in-flight", OPT_BYTES, F(max_body_bytes_in_flight), "256MiB",
     "Memory all request bodies being received may hold together; past it 503."},
    {"web.max-connections", OPT_UINT, F(max_connections), "512",
     "Most simultaneous connections (a few more are kept for /-/healthy and /-/ready); "
     "idle and slow ones are shed once 3/4 are taken."},
    {"web.read-timeout", OPT_DURATION, F(read_timeout_ms), "5m",
     "Deadline for reading a whole request, and for an idle connection; 0: none."},
    {"web.min-body-rate", OPT_BYTES, F(min_body_rate), "4KiB",
     "Slowest average rate (bytes a second) of a request body that has been arriving "
     "longer than --web.min-body-rate-grace; a slower one is cut. 0: no minimum."},
    {"web.min-body-rate-grace", OPT_DURATION, F(min_body_rate_grace_ms), "10s",
     "How long a request body may arrive before --web.min-body-rate applies."},
    {"web.write-timeout", OPT_DURATION, F(write_timeout_ms), "1m",
     "A streamed answer whose client takes no byte for this long is cut; 0: never."},
    {"web.connection-memory-limit", OPT_BYTES, F(connection_memory_limit), "64KiB",
     "Memory for one connection's headers and buffers (not its body)."},
    {"web.threads", OPT_UINT, F(threads), "0", "HTTP worker threads; 0: one per CPU."},
    {"web.basic-auth-user", OPT_STRING, F(basic_auth_user), "",
     "Require HTTP basic auth with this user name (with --web.basic-auth-password-file)."},
    {"web.basic-auth-password-file", OPT_STRING, F(basic_auth_password_file), "",
     "File holding the basic-auth password (one trailing newline is ignored)."},
    {"web.bearer-token-file", OPT_STRING, F(bearer_token_file), "",
     "Require \"Authorization: Bearer <token>\" with the token in this file."},
    {"web.tls-cert-file", OPT_STRING, F(tls_cert_file), "",
     "PEM certificate: serve HTTPS (with --web.tls-key-file)."},
    {"web.tls-key-file", OPT_STRING, F(tls_key_file), "", "PEM private key for HTTPS."},
    {"web.tls-min-version", OPT_STRING, F(tls_min_version), "TLS12",
     "Oldest TLS version accepted: TLS10, TLS11, TLS12 or TLS13."},
    {"web.tls-cipher-suites", OPT_STRING, F(tls_cipher_suites), "",
     "TLS 1.2 cipher suites, comma-separated IANA names; empty: ECDHE with AES-GCM or "
     "ChaCha20-Poly1305."},
    {"log.level", OPT_LEVEL, F(log_level), "info", "Log level: debug, info, warn or error."},
    {"log.rejected-lines", OPT_UINT, F(log_rejected_lines), "10",
     "Lines logged per window for each kind of rejected request (handler and status);"
     " the rest are counted and summed up in one line. 0: no limit."},
    {"log.rejected-interval", OPT_DURATION, F(log_rejected_interval_ms), "10s",
     "The window of --log.rejected-lines."},
};

#define N_OPTS (sizeof opts / sizeof opts[0])

static const struct opt *find_opt(const char *name)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

bool srv_config_is_section(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < N_OPTS; i++)
        if (strncmp(opts[i].name, prefix, n) == 0 && opts[i].name[n] == '.')
            return true;
    return false;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

/* Parse value per its type and store it; why gets the reason on failure. */
static int apply(srv_config *cfg, const struct opt *o, const char *v, char *why, size_t wl)
{
    char *field = (char *)cfg + o->off;
    switch (o->type) {
    case OPT_STRING: {
        char **slot = (char **)field;
        char *copy = NULL;
        if (*v != '\0' && (copy = strdup(v)) == NULL) {
            snprintf(why, wl, "out of memory");
            return -1;
        }
        free(*slot);
        *slot = copy;
        return 0;
    }
    case OPT_DURATION:
        return srv_parse_duration(v, (int64_t *)field, why, wl);
    case OPT_BYTES:
        return srv_parse_bytes(v, (uint64_t *)field, why, wl);
    case OPT_UINT:
        return srv_parse_uint(v, (uint64_t *)field, why, wl);
    case OPT_BOOL:
        if (parse_bool(v, (bool *)field) != 0) {
            snprintf(why, wl, "expected true or false");
            return -1;
        }
        return 0;
    case OPT_LEVEL: {
        enum srv_log_level level;
        if (srv_log_parse_level(v, &level) != 0) {
            snprintf(why, wl, "expected debug, info, warn or error");
            return -1;
        }
        *(int *)field = (int)level;
        return 0;
    }
    }
    return -1;
}

int srv_config_set(srv_config *cfg, const char *name, const char *value, const char *origin)
{
    const struct opt *o = find_opt(name);
    char why[160];
    if (o == NULL)
        return 1;
    if (apply(cfg, o, value, why, sizeof why) != 0) {
        fprintf(stderr, "promstore: error: invalid value \"%s\" for %s: %s\n", value, origin,
                why);
        return -1;
    }
    return 0;
}

static int set_defaults(srv_config *cfg)
{
    char why[160];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTS; i++) {
        if (apply(cfg, &opts[i], opts[i].def, why, sizeof why) != 0) {
            fprintf(stderr, "promstore: error: default of --%s: %s\n", opts[i].name, why);
            return -1;
        }
    }
    return 0;
}

void srv_config_free(srv_config *cfg)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (opts[i].type == OPT_STRING) {
            char **slot = (char **)((char *)cfg + opts[i].off);
            free(*slot);
            *slot = NULL;
        }
    }
}

void srv_config_usage(FILE *out)
{
    fprintf(out,
            "usage: promstore [<flags>]\n"
            "       promstore check --storage.path=DIR [--storage.backend=lmdb|sqlite]\n"
            "                       (verify a store offline; promstore check --help)\n\n"
            "Remote storage for Prometheus: serves remote write (POST /api/v1/write),\n"
            "remote read (POST /api/v1/read), /metrics, /-/healthy and /-/ready.\n\n"
            "Every flag can also be set in the YAML file of --config.file under the key\n"
            "made of its name with '-' written '_' (--web.listen-address is\n"
            "web: {listen_address: ...}). Flags override the file.\n\n"
            "Flags:\n"
            "  -h, --help\n      Show this help and exit.\n"
            "  --version\n      Print the version and exit.\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        fprintf(out, "  --%s=%s\n      %s", o->name,
                o->type == OPT_BOOL ? "<bool>" : o->def[0] ? o->def : "\"\"", o->help);
        if (o->def[0] != '\0')
            fprintf(out, " (default: %s)", o->def);
        fputc('\n', out);
    }
}

/*
 * Split argv[*i] into a flag name and its value (the next argument when
 * there is no '='). Returns 0, or -1 after printing an error.
 */
static int next_flag(int argc, char **argv, int *i, char *name, size_t name_len,
                     const char **value)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        fprintf(stderr, "promstore: error: unexpected argument \"%s\", try --help\n", arg);
        return -1;
    }
    const char *eq = strchr(arg + 2, '=');
    size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n >= name_len) {
        fprintf(stderr, "promstore: error: unknown flag %.64s..., try --help\n", arg);
        return -1;
    }
    memcpy(name, arg + 2, n);
    name[n] = '\0';
    const struct opt *o = find_opt(name);
    if (o == NULL) {
        if (strncmp(name, "no-", 3) == 0 && (o = find_opt(name + 3)) && o->type == OPT_BOOL &&
            !eq) {
            memmove(name, name + 3, strlen(name + 3) + 1);
            *value = "false";
            return 0;
        }
        fprintf(stderr, "promstore: error: unknown flag --%s, try --help\n", name);
        return -1;
    }
    if (eq) {
        *value = eq + 1;
    } else if (o->type == OPT_BOOL) {
        *value = "true";
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        fprintf(stderr, "promstore: error: flag --%s needs a value\n", name);
        return -1;
    }
    return 0;
}

/* One pass over the flags, applying each in order (a repeated flag: the last wins). */
static int walk_flags(srv_config *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char name[128], origin[160];
        const char *value;
        if (next_flag(argc, argv, &i, name, sizeof name, &value) != 0)
            return -1;
        snprintf(origin, sizeof origin, "--%s", name);
        if (srv_config_set(cfg, name, value, origin) != 0)
            return -1;
    }
    return 0;
}

/* Read the file the key names to check it exists and can be read. */
static int check_readable(const char *path, const char *what)
{
    if (path == NULL)
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "promstore: error: %s \"%s\" cannot be read\n", what, path);
        return -1;
    }
    fclose(f);
    return 0;
}

static int fail(const char *msg)
{
    fprintf(stderr, "promstore: error: %s\n", msg);
    return -1;
}

/* Checks that span settings, after everything is applied. */
static int validate(const srv_config *cfg)
{
    /* An empty value is stored as NULL (found by fuzz_config_yaml). */
    if (cfg->backend == NULL ||
        (strcmp(cfg->backend, "lmdb") != 0 && strcmp(cfg->backend, "sqlite") != 0)) {
        fprintf(stderr,
                "promstore: error: invalid value \"%s\" for --storage.backend: "
                "expected lmdb or sqlite\n",
                cfg->backend ? cfg->backend : "");
        return -1;
    }
    if (cfg->path == NULL)
        return fail("--storage.path must not be empty");
    if (cfg->listen_address == NULL)
        return fail("--web.listen-address must not be empty");
    char host[256], why[160];
    uint16_t port;
    if (srv_split_hostport(cfg->listen_address, host, sizeof host, &port, why, sizeof why)) {
        fprintf(stderr, "promstore: error: invalid value \"%s\" for --web.listen-address: %s\n",
                cfg->listen_address, why);
        return -1;
    }
    if (cfg->block_duration_ms <= 0)
        return fail("--storage.block-duration must be positive");
    if (cfg->read_concurrent_limit == 0 || cfg->read_concurrent_limit > UINT32_MAX)
        return fail("--storage.remote.read-concurrent-limit must be between 1 and 4294967295");
    if (cfg->read_matchers_limit > UINT32_MAX || cfg->read_queries_limit > UINT32_MAX)
        return fail("--storage.remote.read-matchers-limit and --storage.remote.read-queries-limit "
                    "must be at most 4294967295");
    if (cfg->max_request_bytes == 0)
        return fail("--web.max-request-bytes must be positive");
    if (cfg->max_body_bytes_in_flight < cfg->max_request_bytes)
        return fail("--web.max-body-bytes-in-flight must be at least --web.max-request-bytes");
    if (cfg->max_connections == 0 || cfg->max_connections > 1000000)
        return fail("--web.max-connections must be between 1 and 1000000");
    if (cfg->threads > 1024)
        return fail("--web.threads must be at most 1024");
    if (cfg->connection_memory_limit < 4096 || cfg->connection_memory_limit > (64u << 20))
        return fail("--web.connection-memory-limit must be between 4KiB and 64MiB");
    if ((cfg->basic_auth_user == NULL) != (cfg->basic_auth_password_file == NULL))
        return fail("--web.basic-auth-user and --web.basic-auth-password-file go together");
    if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL))
        return fail("--web.tls-cert-file and --web.tls-key-file go together");
    char priorities[SRV_TLS_PRIORITIES_MAX], tls_why[256];
    if (srv_tls_priorities(cfg->tls_min_version, cfg->tls_cipher_suites, priorities,
                           sizeof priorities, tls_why, sizeof tls_why) != 0)
        return fail(tls_why);
    if (check_readable(cfg->basic_auth_password_file, "--web.basic-auth-password-file") ||
        check_readable(cfg->bearer_token_file, "--web.bearer-token-file") ||
        check_readable(cfg->tls_cert_file, "--web.tls-cert-file") ||
        check_readable(cfg->tls_key_file, "--web.tls-key-file"))
        return -1;
    return 0;
}

/* --help and --version end the run before anything else is looked at. */
static int early_exit(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            srv_config_usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("promstore, library version %s\n", promstore_version());
            return 1;
        }
    }
    return 0;
}

enum srv_config_result srv_config_load(srv_config *cfg, int argc, char **argv)
{
    if (early_exit(argc, argv))
        return SRV_CONFIG_EXIT;
    if (set_defaults(cfg) != 0)
        goto error;
    /* A first pass finds --config.file (and rejects bad flags early). */
    srv_config flags_only;
    if (set_defaults(&flags_only) != 0)
        goto error;
    int rc = walk_flags(&flags_only, argc, argv);
    char *file = flags_only.config_file ? strdup(flags_only.config_file) : NULL;
    srv_config_free(&flags_only);
    if (rc != 0)
        goto error;
    if (file != NULL) {
        rc = srv_config_load_yaml(cfg, file);
        free(file);
        if (rc != 0)
            goto error;
    }
    if (walk_flags(cfg, argc, argv) != 0 || validate(cfg) != 0)
        goto error;
    return SRV_CONFIG_OK;
error:
    srv_config_free(cfg);
    return SRV_CONFIG_ERROR;
}
