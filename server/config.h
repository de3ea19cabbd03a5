/*
 * config.h -- the server's configuration: one struct filled from defaults,
 * then the YAML file named by --config.file, then the command-line flags
 * (flags win). Every setting has a flag; its YAML key is the flag name with
 * '-' written '_', nested by its dots:
 *
 *   --storage.retention.time=15d   <->   storage: {retention: {time: 15d}}
 *   --web.listen-address=:9201     <->   web: {listen_address: ":9201"}
 *
 * The full list, with defaults, is what `promstore --help` prints and what
 * server/README.md documents.
 */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct srv_config {
    char *config_file; /* NULL when none */

    /* storage.* */
    char *backend;            /* "lmdb" or "sqlite" */
    char *path;               /* the store's directory */
    int64_t retention_time_ms; /* 0: keep forever */
    uint64_t retention_size_bytes; /* 0: no size limit */
    int64_t block_duration_ms;
    int64_t ooo_window_ms;
    int64_t future_limit_ms;
    bool sync;                /* fsync every append */
    uint64_t read_concurrent_limit;
    int64_t read_queue_timeout_ms; /* a read past the limit waits this long for a slot */
    uint64_t read_sample_limit; /* 0: unlimited */
    uint64_t read_series_limit;
    uint64_t read_bytes_limit;
    uint64_t read_frame_bytes;
    uint64_t max_decoded_bytes;
    uint64_t read_matchers_limit; /* 0: no cap */
    uint64_t read_queries_limit;  /* 0: no cap */
    uint64_t read_work_limit;     /* 0: no budget */
    int64_t read_deadline_ms;     /* 0: none */

    /* web.* */
    char *listen_address;     /* host:port, [v6]:port or :port */
    uint64_t max_request_bytes;
    uint64_t max_body_bytes_in_flight; /* all bodies being received, together */
    uint64_t max_connections;
    int64_t read_timeout_ms;  /* whole-request read deadline and idle timeout, 0: none */
    uint64_t min_body_rate;   /* bytes a second a body must average after the grace, 0: none */
    int64_t min_body_rate_grace_ms;
    int64_t write_timeout_ms; /* a stream not taken from for this long is cut, 0: never */
    uint64_t connection_memory_limit;
    uint64_t threads;         /* 0: one per online CPU */
    char *basic_auth_user;
    char *basic_auth_password_file;
    char *bearer_token_file;
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_min_version;
    char *tls_cipher_suites;

    /* log.* */
    int log_level;            /* enum srv_log_level */
    uint64_t log_rejected_lines;      /* per reason and window; 0: no limit */
    int64_t log_rejected_interval_ms; /* the window */
} srv_config;

/* What srv_config_load() decided. */
enum srv_config_result {
    SRV_CONFIG_OK,    /* run the server */
    SRV_CONFIG_EXIT,  /* --help or --version was printed: exit 0 */
    SRV_CONFIG_ERROR  /* the message is on stderr: exit 2 */
};

/*
 * Build the configuration from argv: defaults, then --config.file's YAML,
 * then the flags. Errors name the flag or YAML key and the value.
 * On SRV_CONFIG_OK, free with srv_config_free().
 */
enum srv_config_result srv_config_load(srv_config *cfg, int argc, char **argv);

void srv_config_free(srv_config *cfg);

/* Print the flags with their defaults (the body of --help). */
void srv_config_usage(FILE *out);

/*
 * Shared by config.c and config_yaml.c. srv_config_set() sets the setting
 * whose flag is `name` (without the leading "--"); `origin` says where the
 * value came from, for the error message. It returns 0, or -1 after printing
 * an error, and 1 (nothing printed) if no such setting exists.
 * srv_config_is_section() tells whether `prefix` (e.g. "storage.retention")
 * is a YAML mapping of the schema.
 */
int srv_config_set(srv_config *cfg, const char *name, const char *value, const char *origin);
bool srv_config_is_section(const char *prefix);
int srv_config_load_yaml(srv_config *cfg, const char *file);

#endif
