/*
 * harness.h -- what the server tests need around the real `promstore` binary:
 * run it as a child process on a temporary store, read its bound port from
 * its "Listening on" log line, talk HTTP(S) to it with libcurl, and build and
 * read the small protobuf/snappy bodies of a remote-write/read smoke test.
 */
#ifndef TEST_SERVER_HARNESS_H
#define TEST_SERVER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Set by main(): the binary under test and the backend to run it with. */
extern const char *h_binary;
extern const char *h_backend;

/*
 * main()'s arguments, "BACKEND PATH-TO-promstore", into h_backend and
 * h_binary; prints the usage and exits 2 when they are not two.
 */
void h_args(int argc, char **argv);

/* Seconds on the monotonic clock. */
double h_now_s(void);

/* A running server. */
typedef struct h_server {
    pid_t pid;
    int port;
    char log_path[512];
} h_server;

/*
 * Start the server with argv (NULL-terminated, without the program name);
 * --storage.backend is added first. stderr goes to log_path. Waits up to 15 s
 * for the "Listening on" line. Returns 0, or -1 if the process died or never
 * listened (its exit status in *status when it died).
 */
int h_start(h_server *s, const char *log_path, const char *const *argv);

/* Send sig and wait (up to 30 s) for the exit; returns the wait status or -1. */
int h_stop(h_server *s, int sig);

/* Print a server's log to stderr, framed, so a failing check shows it. */
void h_dump_log(const char *log_path);

/* h_stop that must give exit code 0; otherwise the log is printed and the test fails. */
void h_stop_ok(h_server *s, int sig, const char *log_path);

/*
 * The usual fixture of a server test: a temporary directory holding the store
 * (dir/store) and the server's log (dir/<name>.log), and at most one server.
 */
typedef struct h_fixture {
    char dir[512];
    char store[600];
    char log[600];
    h_server srv;
} h_fixture;

void h_fixture_init(h_fixture *f, const char *name);
/* Kill the server if it runs; remove the directory unless $KEEP is set. */
void h_fixture_done(h_fixture *f);
/* h_fixture_done, then free a malloc'd fixture (a group's); NULL is a no-op. */
void h_fixture_free(h_fixture *f);
/*
 * Start the server on the fixture's store and on 127.0.0.1 with an ephemeral
 * port, with extra flags (NULL-terminated, may be NULL); if it does not
 * start, print its log and fail the test.
 */
void h_fixture_start(h_fixture *f, const char *const *extra);

/*
 * Run the binary to completion with argv; stdout and stderr land in
 * out_path/err_path. Returns its exit code, or -1.
 */
int h_run(const char *const *argv, const char *out_path, const char *err_path);

/* A whole file as a NUL-terminated malloc'd string ("" when missing). */
char *h_slurp(const char *path);

/* Write a whole file; asserts. */
void h_write_file(const char *path, const char *text);

/* A fresh temporary directory (mkdtemp) and its recursive removal. */
void h_tmpdir(char *out, size_t len);
void h_rmtree(const char *path);

/* The headers Prometheus sends with remote write 1.0 and 2.0 and remote read (NULL-ended). */
extern const char *const h_write_headers[];
extern const char *const h_write_v2_headers[];
extern const char *const h_read_headers[];

/* One HTTP exchange. */
typedef struct h_response {
    long status;
    char *body;       /* malloc'd, NUL-terminated */
    size_t body_len;
    char *headers;    /* raw response headers, malloc'd */
} h_response;

/*
 * method on url ("http://127.0.0.1:PORT/path"), with extra headers
 * (NULL-terminated, may be NULL) and a body (may be NULL). TLS certificates
 * are not verified. Returns 0 when an HTTP answer came, -1 otherwise.
 */
int h_http(const char *method, const char *url, const char *const *headers, const void *body,
           size_t body_len, h_response *resp);
void h_response_free(h_response *resp);

/*
 * h_http on path of the fixture's server ("http://127.0.0.1:PORT" + path):
 * the status, or -1 when no HTTP answer came; the response in *resp.
 */
long h_request(const h_fixture *f, const char *method, const char *path,
               const char *const *headers, const void *body, size_t len, h_response *resp);

/*
 * A plain TCP connection to 127.0.0.1:port, for tests that speak raw HTTP;
 * rcvbuf > 0 sets SO_RCVBUF first (a small window makes a client that never
 * reads stall the server sooner). The descriptor, or -1.
 */
int h_connect(int port, int rcvbuf);

/* Value of a response header (case-insensitive), copied into out; 0 if found. */
int h_header(const h_response *resp, const char *name, char *out, size_t len);

/* --- Raw TCP, for what curl will not send ---------------------------------- */

/*
 * Read what the server sends on fd until it closes the connection or
 * timeout_s pass, into out (at most len - 1 bytes, NUL-terminated; the rest
 * is read and dropped). Returns 1 when the server closed the connection
 * (an orderly close: recv() returned 0), 0 when it was still open after
 * timeout_s, -1 when the connection was reset.
 */
int h_read_until_close(int fd, double timeout_s, char *out, size_t len);

/* --- Protobuf and snappy ------------------------------------------------- */

typedef struct h_buf {
    uint8_t *p;
    size_t len, cap;
} h_buf;

void h_buf_free(h_buf *b);

/*
 * Protobuf by hand, so tests can build any bytes in any order: append raw
 * bytes, a varint, or a length-delimited field (tag field, wire type 2).
 */
void h_put(h_buf *b, const void *p, size_t n);
void h_put_varint(h_buf *b, uint64_t v);
void h_put_bytes(h_buf *b, unsigned field, const void *p, size_t n);

/*
 * Into a TimeSeries being built: a Label (field 1) with explicit lengths, so
 * names and values may hold any byte, or NUL-terminated; a Sample (v1 field 2,
 * v2 field 3) {value, timestamp}.
 */
void h_put_label_n(h_buf *ts, const char *name, size_t name_len, const char *value,
                   size_t value_len);
void h_put_label(h_buf *ts, const char *name, const char *value);
void h_put_sample(h_buf *ts, unsigned field, int64_t t, double v);

/* out = the snappy block compression of raw (out must be empty; asserts). */
void h_snappy(h_buf *out, const void *raw, size_t len);

/*
 * A snappy-compressed prometheus.WriteRequest with one series
 * {__name__=name, job=job} and n samples (t[i], v[i]).
 */
void h_write_request(h_buf *out, const char *name, const char *job, const int64_t *t,
                     const double *v, size_t n);

/*
 * A snappy-compressed WriteRequest of n series {__name__=name, job=<prefix>-<i>}
 * for i in [first, first + n), each with the one sample (t, v).
 */
void h_write_request_jobs(h_buf *out, const char *name, const char *prefix, size_t first,
                          size_t n, int64_t t, double v);

/*
 * A snappy-compressed ReadRequest (SAMPLES) of n_queries queries over
 * [start, end], each __name__=name and then extra matchers l<k>!="x" for k in
 * [0, extra): to build requests of any shape.
 */
void h_read_request_shaped(h_buf *out, const char *name, size_t n_queries, size_t extra,
                           int64_t start, int64_t end);

/* A snappy-compressed ReadRequest: one query __name__=name over [start, end], SAMPLES. */
void h_read_request(h_buf *out, const char *name, int64_t start, int64_t end);
/*
 * The same with a second matcher, label <type> value (type: 0 EQ, 1 NEQ, 2 RE,
 * 3 NRE, as in the protobuf); label NULL leaves it out.
 */
void h_read_request_matching(h_buf *out, const char *name, int type, const char *label,
                             const char *value, int64_t start, int64_t end);

/* The same query n_queries times in one request: a read that costs what n of them cost. */
void h_read_request_repeated(h_buf *out, const char *name, int64_t start, int64_t end,
                             unsigned n_queries);

/*
 * Decode a SAMPLES ReadResponse (snappy): the samples of its first series of
 * its first result into t/v (at most max), their count in *n. Returns 0, or
 * -1 if the body does not decode.
 */
int h_read_response_samples(const void *body, size_t len, int64_t *t, double *v, size_t max,
                            size_t *n);

/* The number of series in the first result of a SAMPLES ReadResponse, -1 if it does not decode. */
long h_read_response_series(const void *body, size_t len);

#endif
