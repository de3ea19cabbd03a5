/*
 * read_pool.h -- remote reads off the HTTP threads: the read slots, the queue
 * of reads waiting for one, and the threads that do the reads' work.
 *
 * Why. libmicrohttpd serves each connection on one thread of its pool
 * (--web.threads), and a handler that runs long blocks every other
 * connection of that thread. A remote read is long work: for a SAMPLES
 * answer promstore_remote_read_open() reads every query through once before
 * the first byte, and each promstore_remote_read_next() builds a piece of
 * up to a frame. Run on the HTTP thread, one big read kept /-/healthy
 * waiting for seconds. And a read past --storage.remote.read-concurrent-limit
 * got 503 at once, where Prometheus's remote-read handler waits for a slot.
 *
 * How. A read's connection is suspended (MHD_suspend_connection) while a
 * read thread works for it, and resumed when the work is done; the HTTP
 * thread only copies finished pieces onto the wire and never waits:
 *
 *   HTTP thread                          read thread
 *   handle_read: srv_read_submit() ----> [waits for a slot, at most
 *     (suspends)                          --storage.remote.read-queue-timeout]
 *                                        promstore_remote_read_open()
 *   handle_read again  <---------------- resume
 *     error answer, 503, or a stream
 *   pull: piece empty, suspend --------> promstore_remote_read_next()
 *   pull: copy the piece  <------------- resume
 *   ...                                  ...
 *   response freed: srv_read_job_release() closes the reader, frees the slot
 *
 * A slot is held from the start of the open to the release, the same span
 * as the library's own slot, whose limit is set to the same number, so the
 * library never refuses a read the pool let in. The threads are fewer than
 * the slots when the limit is high (at most two per CPU): a slot's read has
 * at most one piece of work queued at a time, so more threads would only
 * contend for the CPUs and the store.
 *
 * A waiting read holds its connection and its request body, no thread and
 * no snapshot; --web.max-connections bounds how many wait.
 *
 * Threads. srv_read_submit, srv_read_job_state and srv_read_job_pull are
 * called from the connection's HTTP thread while it is not suspended;
 * srv_read_job_release from whichever thread frees the response. The pool's
 * lock orders everything; libmicrohttpd is never called with it held.
 */
#ifndef SRV_READ_POOL_H
#define SRV_READ_POOL_H

#include <microhttpd.h>
#include <stdint.h>
#include <sys/types.h>

#include "deadline.h"
#include "promstore.h"

typedef struct srv_read_pool srv_read_pool;
typedef struct srv_read_job srv_read_job;

/*
 * Start the read threads: slots reads at once on db, a read past them waits
 * up to queue_timeout_ms (0: refused at once). NULL when out of memory or
 * threads. Stop with srv_read_pool_stop().
 */
srv_read_pool *srv_read_pool_start(promstore *db, unsigned slots, int64_t queue_timeout_ms);

/*
 * The server shuts down: refuse (503) the reads waiting for a slot and every
 * later one, at once; the reads admitted go on. NULL: no-op.
 */
void srv_read_pool_close(srv_read_pool *pool);

/*
 * srv_read_pool_close(), then refuse every later request for work, let the work in progress finish, resume every connection, join the
 * threads. Jobs still held by responses stay valid until released.
 * NULL: no-op.
 */
void srv_read_pool_stop(srv_read_pool *pool);

/* Free the pool, after srv_read_pool_stop() and after every job was released. */
void srv_read_pool_free(srv_read_pool *pool);

/*
 * Start the remote read of req (its strings and body must live until the
 * job answers) on conn, which is suspended until then; d is the
 * connection's deadline tracker (may be NULL). Returns the job, or NULL
 * when out of memory (nothing suspended). The handler runs again after the
 * resume and asks srv_read_job_state().
 */
srv_read_job *srv_read_submit(srv_read_pool *pool, struct MHD_Connection *conn, srv_deadline *d,
                              const promstore_http_request *req);

enum srv_read_state {
    SRV_READ_PENDING, /* still waiting or being opened: keep the connection suspended */
    SRV_READ_REFUSED, /* no slot within the queue timeout, or shutting down: 503 */
    SRV_READ_OPENED   /* promstore_remote_read_open() returned: see its answer */
};

/*
 * Where the job is. On SRV_READ_OPENED, *rc, *resp and *err are what
 * promstore_remote_read_open() returned (owned by the job), and the job
 * streams a body only when *rc is PROMSTORE_OK and the status 200. On
 * SRV_READ_REFUSED, *resp holds the 503 message (also owned by the job).
 */
enum srv_read_state srv_read_job_state(srv_read_job *job, promstore_status *rc,
                                       const promstore_http_response **resp,
                                       const promstore_error **err);

/* True when the job has a reader whose body is to be streamed. */
int srv_read_job_streams(const srv_read_job *job);

/*
 * The body, for an MHD content reader: copies up to max bytes into buf and
 * returns their count; 0 after suspending the connection while a read
 * thread builds the next piece; MHD_CONTENT_READER_END_OF_STREAM at the end;
 * MHD_CONTENT_READER_END_WITH_ERROR when the reader failed (its status in
 * *failed and its message in *why) or the pool stopped.
 */
ssize_t srv_read_job_pull(srv_read_job *job, char *buf, size_t max, promstore_status *failed,
                          const char **why);

/* The HTTP side is done with the job: close its reader, free its slot. NULL: no-op. */
void srv_read_job_release(srv_read_job *job);

#endif
