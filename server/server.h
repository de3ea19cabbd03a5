/*
 * server.h -- the state the server's parts share: the configuration, the open
 * store, the credentials, and the routes. One srv_server lives in main() for
 * the whole run; the HTTP threads only read it (ready is atomic).
 */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "promstore.h"

/* The endpoints; also the `handler` label of the HTTP metrics. */
enum srv_route {
    SRV_ROUTE_WRITE,
    SRV_ROUTE_READ,
    SRV_ROUTE_METRICS,
    SRV_ROUTE_HEALTHY,
    SRV_ROUTE_READY,
    SRV_ROUTE_OTHER, /* unknown paths (404) */
    SRV_ROUTE_COUNT
};

/* The path of a route, or "other": the value of the `handler` label. */
const char *srv_route_name(enum srv_route route);

typedef struct srv_server {
    const srv_config *cfg;
    promstore *db;
    srv_auth auth;
    atomic_bool ready;     /* the store is open and the server not stopping */
    atomic_int in_flight;  /* requests started and not completed */
    atomic_uint_fast64_t body_bytes; /* held for bodies being received (the budget) */
    struct MHD_Daemon *daemon;
    struct srv_deadlines *deadlines; /* --web.read-timeout and --web.write-timeout */
    struct srv_read_pool *reads;     /* remote reads' slots, queue and threads */
    uint16_t port;         /* the bound port (useful with port 0) */
} srv_server;

#endif
