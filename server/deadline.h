/*
 * deadline.h -- the whole-request read deadline (--web.read-timeout), the
 * write timeout of streamed answers (--web.write-timeout), and shedding idle
 * connections when connection slots run short.
 *
 * libmicrohttpd only has an inactivity timeout, so a client that sends one
 * byte a second keeps its connection, and its --web.max-connections slot,
 * forever (slowloris). Prometheus's --web.read-timeout is a deadline for
 * reading the whole request instead, and closes idle connections after the
 * same time; this gives the server those semantics.
 *
 * Every connection is tracked from the moment it is accepted. Its clock
 * starts at the accept and again when each request completes; it stops while
 * a request is being answered (a long streamed remote read is not a slow
 * client). A sweeper thread shuts down (shutdown(2)) connections whose clock
 * passes the deadline; libmicrohttpd then sees the peer gone and closes them.
 *
 * A streamed answer (a remote read) has the opposite problem: a client that
 * stops reading it keeps its read slot, and the read snapshot that pins old
 * store pages, for as long as it likes once the kernel buffers are full
 * (libmicrohttpd's inactivity timeout is --web.read-timeout, minutes, and
 * does not apply while a connection is suspended). So the stream reports
 * each time it hands bytes to libmicrohttpd (srv_deadline_response_sent):
 * libmicrohttpd asks for more only once it has sent the last block, so the
 * time since then is how long the client has taken nothing. While the
 * server itself works on the next piece (srv_deadline_response_paused) the
 * clock stops: a slow read is not a slow client. The sweeper cuts a stream
 * whose clock passes the write timeout; the connection closes, the response
 * is freed, and with it the reader, its snapshot and its slot.
 *
 * Idle connections (no request begun) are cheap to open and hold a slot each:
 * 2000 of them lock everyone out, health checks included, until the timeout
 * (minutes) drops them. So when the tracked connections reach shed_at, the
 * sweeper also cuts every connection that has been idle for a second or more;
 * a real client (a Prometheus with keep-alive) just reconnects.
 *
 * Bodies (slow bodies): a client that sends complete headers and then a body
 * byte every few seconds is not idle, and used to keep its slot until the
 * deadline (5 minutes by default); enough of them locked everyone out. Once
 * a body has been arriving for min_body_grace_ms, it must have averaged
 * min_body_rate bytes a second since the headers, or it is cut (as nginx's
 * client_body_timeout and Go's read deadline bound a body). When slots run
 * short, the grace shrinks to a second, and the slowest senders below the
 * rate are cut first, only as many as bring the count back under shed_at.
 *
 * A reserve for health checks: libmicrohttpd is given a few slots more than
 * max_connections; a connection accepted while max_connections or more are
 * open is marked as spare (srv_deadline_spare()), and the server lets such a
 * connection ask only for /-/healthy and /-/ready, so an orchestrator's probe
 * gets in while every ordinary slot is taken.
 *
 * Threads: every call may come from any thread. The tracker of a connection
 * is created in the connection's STARTED notification and freed in its CLOSED
 * one, which libmicrohttpd delivers before it closes the socket, so the
 * sweeper never touches a reused descriptor: it holds the lock that
 * srv_deadline_untrack() needs.
 */
#ifndef SRV_DEADLINE_H
#define SRV_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct srv_deadlines srv_deadlines;
typedef struct srv_deadline srv_deadline; /* one connection */

/* Why the sweeper cut a connection. */
enum srv_cut_reason {
    SRV_CUT_DEADLINE,   /* the request was not read within the timeout */
    SRV_CUT_SHED,       /* idle, or a slow body, while connection slots ran short */
    SRV_CUT_SLOW_BODY,  /* a body slower than min_body_rate past the grace */
    SRV_CUT_WRITE_STALL /* a streamed answer not taken within the write timeout */
};

/* What the sweeper enforces. */
typedef struct srv_deadline_limits {
    int64_t timeout_ms;         /* the whole-request deadline; 0: none */
    unsigned shed_at;           /* shed from this many connections on; 0: never */
    unsigned max_connections;   /* connections past this many are spare */
    uint64_t min_body_rate;     /* bytes a second a body must average; 0: no minimum */
    int64_t min_body_grace_ms;  /* how long a body may take before the rate applies */
    int64_t write_timeout_ms;   /* a stream not taken from for this long is cut; 0: never */
} srv_deadline_limits;

/*
 * Start the sweeper with these limits (copied); on_cut (may be NULL) is
 * called from the sweeper thread for each connection it cuts. Returns the
 * set, or NULL when out of memory or threads. Free with srv_deadlines_stop().
 */
srv_deadlines *srv_deadlines_start(const srv_deadline_limits *limits,
                                   void (*on_cut)(enum srv_cut_reason reason));

/* Stop the sweeper and free the set; every tracker must be untracked first. */
void srv_deadlines_stop(srv_deadlines *set);

/* Track a newly accepted connection on socket fd; NULL when out of memory. */
srv_deadline *srv_deadline_track(srv_deadlines *set, int fd);

/* Forget a connection (its CLOSED notification); NULL is a no-op. */
void srv_deadline_untrack(srv_deadlines *set, srv_deadline *d);

/*
 * The headers of a request are in: the connection is no longer idle, and its
 * body's rate is measured from now. NULL: no-op.
 */
void srv_deadline_request_begun(srv_deadline *d);

/* n more bytes of the current request's body arrived. NULL: no-op. */
void srv_deadline_body_arrived(srv_deadline *d, uint64_t n);

/* True when the connection was accepted past max_connections (NULL: false). */
bool srv_deadline_spare(const srv_deadline *d);

/* The current request has been read in full: its clock stops. NULL: no-op. */
void srv_deadline_request_read(srv_deadline *d);

/* A stream handed bytes to libmicrohttpd: the write clock (re)starts. NULL: no-op. */
void srv_deadline_response_sent(srv_deadline *d);

/* The stream works on its next piece: the write clock stops. NULL: no-op. */
void srv_deadline_response_paused(srv_deadline *d);

/* The current request is answered: the clock restarts for the next one. */
void srv_deadline_request_done(srv_deadline *d);

#endif
