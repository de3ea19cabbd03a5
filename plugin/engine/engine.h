/*
 * engine.h -- the engine's face to the components above it (the remote
 * protocol, plugin/protocol/): what they need of the engine beyond the ABI
 * (promstore.h), and nothing of its insides.
 *
 * The insides -- the handle's struct (store.h), the tables (schema.h), the
 * read path's objects (select.h, series_set.h, series_merge.h) -- may change
 * shape whenever the engine does; a caller holding only this header cannot
 * come to depend on them. The build holds ps_protocol to that: every other
 * header of plugin/engine/ is a decoy there that stops the compiler
 * (cmake/components.cmake, HIDES). So this header includes none of them: a
 * #include "x.h" here would find the real one next to it.
 */
#ifndef PS_ENGINE_H
#define PS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

/* --- the handle ------------------------------------------------------------------- */

/*
 * 1 if db is a handle promstore_open returned and promstore_close has not
 * closed: the check at every ABI boundary. (It reads a magic number, so a
 * handle already freed cannot be told reliably, as with SQLite's check.)
 */
int ps_engine_handle_ok(const promstore *db);

/* The store's limits on remote requests: promstore_options, defaults applied. */
typedef struct ps_remote_limits {
    uint64_t max_request_bytes;    /* a request body as received */
    uint64_t max_decoded_bytes;    /* a request body decompressed */
    uint64_t read_frame_bytes;     /* a streamed frame's target; a piece of a SAMPLES body */
    uint32_t max_concurrent_reads; /* remote reads under way at once */
    uint32_t max_matchers;         /* matchers in one query; 0: no cap */
    uint32_t max_queries;          /* queries in one remote-read request; 0: no cap */
} ps_remote_limits;

/* Fixed when the store opens: the pointer is valid for the handle's life. */
const ps_remote_limits *ps_engine_remote_limits(const promstore *db);

/*
 * Validate and normalise one label set in place with the store's own name
 * rules, exactly as promstore_append does (ps_labels_normalize, labels.h),
 * so that a protocol can refuse a bad series before it appends anything.
 */
promstore_status ps_engine_labels_normalize(const promstore *db, promstore_label *labels,
                                            size_t *n, promstore_error *err);

/* --- remote read slots ------------------------------------------------------------ */

/*
 * Take one of the max_concurrent_reads slots: 1, or 0 when all are taken.
 * Any thread; every slot taken must be given back once.
 */
int ps_engine_read_slot_take(promstore *db);
void ps_engine_read_slot_give(promstore *db);

/* --- the work of one read ------------------------------------------------------- */

/*
 * What one read may cost (budget.h): a count of steps against
 * max_work_per_read and a wall-clock deadline, read_deadline_ms after
 * ps_read_budget_start or after the last series the read handed out. One budget may serve every query of a request
 * (remote read) or one query (promstore_query); the queries it is handed to
 * count their work in it as they select and walk series, and fail with
 * PROMSTORE_E_LIMIT naming max_work_per_read or read_deadline_ms once
 * either is spent. The fields are the engine's to change; callers only read
 * them (tests, to see what a read did). One thread at a time, as the
 * queries that use it.
 */
typedef struct ps_read_budget {
    uint64_t limit;          /* max_work_per_read; 0: no limit */
    uint64_t work;           /* steps counted so far, whatever the limit */
    uint64_t values_tried;   /* label values a regex matcher was run on */
    uint64_t series_visited; /* series the queries loaded */
    int64_t deadline_ns;     /* CLOCK_MONOTONIC time it ends; 0: no deadline */
    int64_t deadline_ms;     /* read_deadline_ms, for the message */
} ps_read_budget;

/* A fresh budget with the store's limits, its deadline counted from now. */
void ps_read_budget_start(const promstore *db, ps_read_budget *b);

/* --- queries with compiled matchers ----------------------------------------------- */

/*
 * The matchers of one query, compiled (select.h, note 1). Compiling checks
 * them as promstore_query does: PROMSTORE_E_BAD_MATCHER naming the matcher,
 * PROMSTORE_E_INVALID for NULL matchers with n > 0, or PROMSTORE_E_NOMEM.
 * No pointer into src is kept. A selector may open any number of queries,
 * one at a time (its regexes carry match data): ps_query_open uses it only
 * while it runs, so it may be freed as soon as that returns.
 */
typedef struct ps_selector ps_selector;
promstore_status ps_selector_compile(const promstore_matcher *src, size_t n, ps_selector **out,
                                     promstore_error *err);
void ps_selector_free(ps_selector *sel); /* NULL is a no-op */

/*
 * promstore_query with compiled matchers, for a handle already checked and a
 * range already checked (mint <= maxt). The iterator is the ABI's: use and
 * close it with the promstore_series_iter_* calls. Its work is counted in
 * budget, which must outlive it; NULL: a budget of its own, started now.
 */
promstore_status ps_query_open(promstore *db, ps_selector *sel, int64_t mint, int64_t maxt,
                               ps_read_budget *budget, promstore_series_iter **out,
                               promstore_error *err);

/* --- a read snapshot several queries share ---------------------------------------- */

/*
 * One read transaction that queries opened with ps_snapshot_query read, one
 * after another (one thread at a time, as any iterator): they all see the store as it was when the snapshot was opened,
 * so reading the same query twice yields the same series and samples, byte
 * for byte -- what a protocol needs that sizes an answer in a first pass and
 * sends it in a second. Every iterator opened in a snapshot must be closed
 * before the snapshot is. A snapshot, like an iterator, holds the backend's
 * reader for its life (LMDB keeps the pages it sees, SQLite cannot
 * checkpoint past it), so keep it no longer than the answer takes.
 * ps_snapshot_open: PROMSTORE_OK, PROMSTORE_E_NOMEM or the backend's error;
 * ps_snapshot_close(NULL) is a no-op. ps_snapshot_query is ps_query_open
 * in the snapshot, with the same errors; the per-query limits are counted per
 * iterator, the work in the budget given (NULL: its own).
 */
typedef struct ps_snapshot ps_snapshot;
promstore_status ps_snapshot_open(promstore *db, ps_snapshot **out, promstore_error *err);
void ps_snapshot_close(ps_snapshot *snap);
promstore_status ps_snapshot_query(ps_snapshot *snap, ps_selector *sel, int64_t mint,
                                   int64_t maxt, ps_read_budget *budget,
                                   promstore_series_iter **out, promstore_error *err);

#endif
