/*
 * read_pool.c -- remote reads on their own threads; read_pool.h says why.
 *
 * NOTES ON THE DESIGN
 *
 * 1. A job is in exactly one phase, changed only under the pool's lock:
 *
 *      submit --> WAITING --(a slot frees)--> QUEUED --(a thread)--> WORKING
 *        |          |                           ^                      |
 *        |          +--(queue timeout, stop)    |                      |
 *        |          |                           |                      |
 *        +----------+----------> IDLE <---------+--(pull: next piece)--+
 *                    (resumed: the HTTP side has it)        (resumed)
 *
 *    Only an IDLE job belongs to the HTTP side; its connection is suspended
 *    in every other phase, so libmicrohttpd neither calls the handler nor
 *    frees the response, and the HTTP side cannot touch the job then.
 *
 * 2. Every move to IDLE is followed, after the lock is dropped, by exactly
 *    one MHD_resume_connection(), and every suspend by one move away from
 *    IDLE: libmicrohttpd must not see a resume without a suspend, nor stop
 *    with a connection suspended (srv_read_pool_stop resumes them all).
 *    libmicrohttpd is never called with the lock held (it takes its own).
 *
 * 3. A slot is taken when a job leaves WAITING (or at submit when one is
 *    free) and given back after promstore_remote_read_close(), so the
 *    library's slot (same limit) is always free when the pool hands one out.
 *    Giving one back admits the oldest waiter (FIFO, as every waiter has
 *    the same timeout the list is also in deadline order, which the clerk
 *    thread relies on: it only ever looks at the head).
 *
 * 4. A task batches pieces: it copies the reader's pieces into the job's
 *    buffer (BATCH bytes) until it is full or the body ends, because a
 *    streamed frame holds one series and may be a hundred bytes: a thread
 *    hand-off and a resume per frame made a read of 1M series 4-5 times
 *    slower (tests/readstorm). The buffer is read by the HTTP side only
 *    while IDLE and written only while WORKING, so the two sides never
 *    share it at once; the rest of a reader piece that did not fit (valid
 *    until the next promstore_remote_read_next()) waits for the next task.
 */
#define _GNU_SOURCE
#include "read_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "units.h"

/* What one task gathers for the HTTP side: a few of MHD's 64 KiB blocks. */
#define BATCH ((size_t)256 << 10)

enum job_phase { JOB_WAITING, JOB_QUEUED, JOB_WORKING, JOB_IDLE };
enum job_task { TASK_OPEN, TASK_NEXT };

struct srv_read_job {
    srv_read_pool *pool;
    struct MHD_Connection *conn;
    srv_deadline *deadline;
    promstore_http_request req; /* the request's strings and body: the caller's */
    enum job_phase phase;
    enum job_task task;
    int64_t wait_until_ms; /* WAITING: when it is refused */
    srv_read_job *next;    /* in the wait list, the run queue, or a resume list */
    bool has_slot;
    bool refused;   /* answered 503 (resp holds it) */
    bool opened;    /* the open ran: open_rc, resp, err */
    bool released;  /* the HTTP side let go while the pool held it */
    promstore_status open_rc;
    promstore_http_response resp;
    promstore_error err;
    promstore_reader *reader; /* NULL unless the open gave a stream */
    uint8_t *buf;             /* BATCH bytes: len gathered, off of them sent */
    size_t len, off;
    const uint8_t *piece;     /* the reader's current piece: piece_len, piece_off copied */
    size_t piece_len, piece_off;
    bool done;                /* the reader said PROMSTORE_DONE (after buf's bytes) */
    promstore_status failed;  /* a next() error (after buf's bytes), or the pool stopped */
};

struct job_list {
    srv_read_job *head, *tail;
};

struct srv_read_pool {
    promstore *db;
    unsigned slots, free_slots;
    int64_t queue_timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t work;       /* the run queue has a job, or stopping */
    pthread_cond_t clerk_wake; /* the wait list changed, or stopping */
    struct job_list waiting, queued;
    bool closing;  /* no more waiting: the server shuts down */
    bool stopping; /* no more work at all */
    unsigned n_threads;
    pthread_t *threads;
    pthread_t clerk;
};

static void list_push(struct job_list *l, srv_read_job *job)
{
    job->next = NULL;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
}

static srv_read_job *list_pop(struct job_list *l)
{
    srv_read_job *job = l->head;
    if (job) {
        l->head = job->next;
        if (l->head == NULL)
            l->tail = NULL;
        job->next = NULL;
    }
    return job;
}

/* Queue work for a thread (lock held). */
static void queue_task_locked(srv_read_pool *pool, srv_read_job *job, enum job_task task)
{
    job->task = task;
    job->phase = JOB_QUEUED;
    list_push(&pool->queued, job);
    pthread_cond_signal(&pool->work);
}

/* Hand free slots to the oldest waiters (lock held). */
static void admit_locked(srv_read_pool *pool)
{
    while (pool->free_slots > 0 && pool->waiting.head && !pool->closing) {
        srv_read_job *job = list_pop(&pool->waiting);
        pool->free_slots--;
        job->has_slot = true;
        queue_task_locked(pool, job, TASK_OPEN);
    }
    pthread_cond_signal(&pool->clerk_wake); /* the head of the wait list changed */
}

static void give_slot_locked(srv_read_pool *pool, srv_read_job *job)
{
    if (!job->has_slot)
        return;
    job->has_slot = false;
    pool->free_slots++;
    admit_locked(pool);
}

/* Answer 503 with Retry-After, as the library answers its own busy reads (lock held). */
static void refuse_locked(srv_read_pool *pool, srv_read_job *job, bool stopping)
{
    promstore_http_response *r = &job->resp;
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    r->status = 503;
    if (stopping) {
        snprintf(r->message, sizeof r->message, "the server is shutting down");
    } else {
        char waited[32];
        srv_format_duration(pool->queue_timeout_ms, waited, sizeof waited);
        snprintf(r->message, sizeof r->message,
                 "too many remote reads at once: none of the %u read slots freed within %s "
                 "(--storage.remote.read-concurrent-limit, --storage.remote.read-queue-timeout)",
                 pool->slots, waited);
    }
    snprintf(r->headers[0].name, sizeof r->headers[0].name, "Retry-After");
    snprintf(r->headers[0].value, sizeof r->headers[0].value, "1");
    r->n_headers = 1;
    job->refused = true;
}

/*
 * The pool is done with the job (lock held): it goes back to the HTTP side,
 * which the caller then resumes -- unless the HTTP side let go meanwhile
 * (returns false: the caller frees it with drop_job() instead).
 */
static bool hand_back_locked(srv_read_job *job)
{
    job->phase = JOB_IDLE;
    return !job->released;
}

/* Free a job nobody holds any more; its reader first, then its slot (NOTES 3). */
static void drop_job(srv_read_job *job)
{
    srv_read_pool *pool = job->pool;
    promstore_remote_read_close(job->reader);
    pthread_mutex_lock(&pool->lock);
    give_slot_locked(pool, job);
    pthread_mutex_unlock(&pool->lock);
    free(job->buf);
    free(job);
}

/* Resume (or drop) each job of a list made by the caller under the lock. */
static void resume_all(srv_read_job *list)
{
    while (list) {
        srv_read_job *job = list, *next = job->next;
        job->next = NULL;
        if (job->released)
            drop_job(job);
        else
            MHD_resume_connection(job->conn);
        list = next;
    }
}

/* What a thread does for a job; the lock is not held. */
static void run_task(srv_read_pool *pool, srv_read_job *job)
{
    if (job->task == TASK_OPEN) {
        memset(&job->resp, 0, sizeof job->resp);
        job->resp.struct_size = sizeof job->resp;
        job->open_rc = promstore_remote_read_open(pool->db, &job->req, &job->resp, &job->reader,
                                                  &job->err);
        job->opened = true;
        if (job->open_rc != PROMSTORE_OK || job->resp.status != 200) {
            promstore_remote_read_close(job->reader);
            job->reader = NULL;
        }
        return;
    }
    job->len = job->off = 0;
    if (job->buf == NULL && (job->buf = malloc(BATCH)) == NULL) {
        job->failed = PROMSTORE_E_NOMEM;
        snprintf(job->err.message, sizeof job->err.message, "no memory for the response");
        return;
    }
    while (job->len < BATCH) {
        if (job->piece_off == job->piece_len) {
            promstore_status rc =
                promstore_remote_read_next(job->reader, &job->piece, &job->piece_len, &job->err);
            job->piece_off = 0;
            if (rc != PROMSTORE_OK) {
                job->piece_len = 0;
                if (rc == PROMSTORE_DONE)
                    job->done = true;
                else
                    job->failed = rc;
                return; /* the bytes gathered go out first */
            }
        }
        size_t n = job->piece_len - job->piece_off;
        if (n > BATCH - job->len)
            n = BATCH - job->len;
        memcpy(job->buf + job->len, job->piece + job->piece_off, n);
        job->len += n;
        job->piece_off += n;
    }
}

static void *worker_main(void *arg)
{
    srv_read_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->queued.head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->lock);
        srv_read_job *job = list_pop(&pool->queued);
        if (job == NULL)
            break; /* stopping, and nothing left */
        job->phase = JOB_WORKING;
        pthread_mutex_unlock(&pool->lock);
        run_task(pool, job);
        pthread_mutex_lock(&pool->lock);
        if (job->reader == NULL)
            give_slot_locked(pool, job); /* the open gave no stream: the slot is free now */
        bool resume = hand_back_locked(job);
        pthread_mutex_unlock(&pool->lock);
        if (resume)
            MHD_resume_connection(job->conn);
        else
            drop_job(job);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Refuse the waiters whose time is up: the clerk's only job. */
static void *clerk_main(void *arg)
{
    srv_read_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        srv_read_job *expired = NULL, **tail = &expired;
        int64_t now = srv_monotonic_ms();
        while (pool->waiting.head && pool->waiting.head->wait_until_ms <= now) {
            srv_read_job *job = list_pop(&pool->waiting);
            refuse_locked(pool, job, false);
            hand_back_locked(job); /* resume_all() drops it if released */
            *tail = job;
            tail = &job->next;
        }
        if (expired) {
            pthread_mutex_unlock(&pool->lock);
            resume_all(expired);
            pthread_mutex_lock(&pool->lock);
            continue;
        }
        if (pool->waiting.head == NULL) {
            pthread_cond_wait(&pool->clerk_wake, &pool->lock);
            continue;
        }
        int64_t until = pool->waiting.head->wait_until_ms;
        struct timespec ts = srv_monotonic_timespec(until);
        pthread_cond_timedwait(&pool->clerk_wake, &pool->lock, &ts);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Threads for the work: no more than the slots, nor than two per CPU. */
static unsigned thread_count(unsigned slots)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned most = cpus > 0 ? (unsigned)cpus * 2 : 2;
    if (most < 2)
        most = 2;
    return slots < most ? slots : most;
}

srv_read_pool *srv_read_pool_start(promstore *db, unsigned slots, int64_t queue_timeout_ms)
{
    if (slots == 0)
        return NULL;
    srv_read_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->db = db;
    pool->slots = pool->free_slots = slots;
    pool->queue_timeout_ms = queue_timeout_ms;
    pthread_mutex_init(&pool->lock, NULL);
    srv_monotonic_cond_init(&pool->clerk_wake);
    pthread_cond_init(&pool->work, NULL);
    unsigned want = thread_count(slots);
    pool->threads = calloc(want, sizeof *pool->threads);
    if (pool->threads == NULL || pthread_create(&pool->clerk, NULL, clerk_main, pool) != 0) {
        free(pool->threads);
        pool->threads = NULL;
        srv_read_pool_free(pool);
        return NULL;
    }
    for (; pool->n_threads < want; pool->n_threads++)
        if (pthread_create(&pool->threads[pool->n_threads], NULL, worker_main, pool) != 0)
            break;
    if (pool->n_threads == 0) {
        srv_read_pool_stop(pool);
        srv_read_pool_free(pool);
        return NULL;
    }
    return pool;
}

void srv_read_pool_close(srv_read_pool *pool)
{
    if (pool == NULL)
        return;
    srv_read_job *back = NULL, **tail = &back, *job;
    pthread_mutex_lock(&pool->lock);
    pool->closing = true;
    while ((job = list_pop(&pool->waiting)) != NULL) {
        refuse_locked(pool, job, true);
        hand_back_locked(job);
        *tail = job;
        tail = &job->next;
    }
    pthread_mutex_unlock(&pool->lock);
    resume_all(back);
}

void srv_read_pool_stop(srv_read_pool *pool)
{
    if (pool == NULL)
        return;
    srv_read_pool_close(pool);
    srv_read_job *back = NULL, **tail = &back, *job;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    /* Work not begun is not begun: opens are refused, streams cut. */
    while ((job = list_pop(&pool->queued)) != NULL) {
        if (job->task == TASK_OPEN) {
            refuse_locked(pool, job, true);
            job->has_slot = false;
            pool->free_slots++;
        } else {
            job->failed = PROMSTORE_E_MISUSE;
            snprintf(job->err.message, sizeof job->err.message, "the server is shutting down");
        }
        hand_back_locked(job);
        *tail = job;
        tail = &job->next;
    }
    pthread_cond_broadcast(&pool->work);
    pthread_cond_broadcast(&pool->clerk_wake);
    pthread_mutex_unlock(&pool->lock);
    resume_all(back);
    /* The work in progress ends and resumes its own connections. */
    for (unsigned i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    pool->n_threads = 0;
    pthread_join(pool->clerk, NULL);
}

void srv_read_pool_free(srv_read_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->clerk_wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

srv_read_job *srv_read_submit(srv_read_pool *pool, struct MHD_Connection *conn, srv_deadline *d,
                              const promstore_http_request *req)
{
    srv_read_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->pool = pool;
    job->conn = conn;
    job->deadline = d;
    job->req = *req;
    MHD_suspend_connection(conn); /* before any thread can resume it (NOTES 2) */
    bool resume = false;
    pthread_mutex_lock(&pool->lock);
    if (pool->closing || (pool->free_slots == 0 && pool->queue_timeout_ms <= 0)) {
        refuse_locked(pool, job, pool->closing);
        resume = hand_back_locked(job);
    } else if (pool->free_slots > 0) {
        pool->free_slots--;
        job->has_slot = true;
        queue_task_locked(pool, job, TASK_OPEN);
    } else {
        job->phase = JOB_WAITING;
        job->wait_until_ms = srv_monotonic_ms() + pool->queue_timeout_ms;
        list_push(&pool->waiting, job);
        pthread_cond_signal(&pool->clerk_wake);
    }
    pthread_mutex_unlock(&pool->lock);
    if (resume)
        MHD_resume_connection(conn);
    return job;
}

enum srv_read_state srv_read_job_state(srv_read_job *job, promstore_status *rc,
                                       const promstore_http_response **resp,
                                       const promstore_error **err)
{
    srv_read_pool *pool = job->pool;
    pthread_mutex_lock(&pool->lock);
    enum srv_read_state st = job->phase != JOB_IDLE ? SRV_READ_PENDING
                             : job->refused         ? SRV_READ_REFUSED
                                                    : SRV_READ_OPENED;
    pthread_mutex_unlock(&pool->lock);
    *rc = job->open_rc;
    *resp = &job->resp;
    *err = &job->err;
    return st;
}

int srv_read_job_streams(const srv_read_job *job)
{
    return job->reader != NULL;
}

ssize_t srv_read_job_pull(srv_read_job *job, char *buf, size_t max, promstore_status *failed,
                          const char **why)
{
    srv_read_pool *pool = job->pool;
    /* IDLE here (NOTES 1): the piece is ours to read. */
    if (job->off < job->len) {
        size_t n = job->len - job->off < max ? job->len - job->off : max;
        memcpy(buf, job->buf + job->off, n);
        job->off += n;
        srv_deadline_response_sent(job->deadline);
        return (ssize_t)n;
    }
    if (job->done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (job->failed) {
        *failed = job->failed;
        *why = job->err.message;
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    srv_deadline_response_paused(job->deadline); /* our work, not the client's wait */
    MHD_suspend_connection(job->conn);
    bool resume = false;
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        job->failed = PROMSTORE_E_MISUSE;
        snprintf(job->err.message, sizeof job->err.message, "the server is shutting down");
        resume = true; /* called again at once, and cut */
    } else {
        queue_task_locked(pool, job, TASK_NEXT);
    }
    pthread_mutex_unlock(&pool->lock);
    if (resume)
        MHD_resume_connection(job->conn);
    return 0;
}

void srv_read_job_release(srv_read_job *job)
{
    if (job == NULL)
        return;
    srv_read_pool *pool = job->pool;
    pthread_mutex_lock(&pool->lock);
    bool ours = job->phase == JOB_IDLE;
    if (!ours)
        job->released = true; /* the pool drops it when its work ends */
    pthread_mutex_unlock(&pool->lock);
    if (ours)
        drop_job(job);
}
