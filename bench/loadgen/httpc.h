/*
 * httpc.h -- a minimal HTTP/1.1 keep-alive client for promstore-loadgen, and
 * a sink server that answers every POST with 204, to measure the generator
 * alone. Loopback only: httpc_parse_url refuses any other host.
 */
#ifndef LOADGEN_HTTPC_H
#define LOADGEN_HTTPC_H

#include <stddef.h>
#include <stdint.h>

typedef struct httpc_url {
    char host[64]; /* dotted IPv4, 127.0.0.0/8 */
    uint16_t port;
    char path[256];
} httpc_url;

/* Parse "http://127.x.y.z:PORT/path" ("localhost" means 127.0.0.1). 0 or -1. */
int httpc_parse_url(const char *s, httpc_url *u);

typedef struct httpc_conn {
    int fd;                 /* -1 when not connected */
    const httpc_url *url;
    char buf[16384];        /* response bytes not consumed yet */
    size_t len;
    int timeout_ms;
} httpc_conn;

void httpc_init(httpc_conn *c, const httpc_url *url, int timeout_ms);
void httpc_close(httpc_conn *c);

/*
 * POST body (extra_headers are CRLF-terminated lines) on c, reconnecting when
 * needed, and read the whole response. Returns the status code (100..599), or
 * -1 on a connection or protocol error (c is then closed).
 */
int httpc_post(httpc_conn *c, const char *extra_headers, const void *body, size_t len);

/*
 * Start a sink on 127.0.0.1, on an ephemeral port written to *port: it reads
 * requests (Content-Length bodies) and answers 204, one thread per
 * connection, until the process exits. 0 or -1.
 */
int httpc_sink_start(uint16_t *port);

#endif /* LOADGEN_HTTPC_H */
