/*
 * promstore.h -- the public C ABI of libpromstore, remote storage for Prometheus.
 *
 * This header is the contract. Anything not declared here is not a published
 * interface of libpromstore, and every promise the library makes is written in
 * the comment of the call it concerns.
 *
 * WHAT IT IS
 *   A time-series store for Prometheus samples: a series is a set of labels
 *   (name/value pairs, one of them usually __name__), a sample is an int64
 *   millisecond timestamp and a 64-bit float kept as its raw bit pattern. Data
 *   lives in one directory, in a block backend chosen at open time: LMDB
 *   ("lmdb", the default) or SQLite ("sqlite"). Both behave identically.
 *
 * OBJECT MODEL
 *   promstore              an open store (one directory).
 *     promstore_series_iter   the result of promstore_query(): a pull iterator
 *                             over matching series in label order; for the
 *                             current series it has a sample cursor and a raw
 *                             chunk cursor.
 *     promstore_string_iter   the result of promstore_label_names() and
 *                             promstore_label_values().
 *
 * ERRORS
 *   Every fallible call returns a promstore_status: PROMSTORE_OK (0) on success,
 *   PROMSTORE_DONE (1) when an iterator is exhausted, a negative code on error.
 *   Every fallible call also takes a `promstore_error *err` (may be NULL): on
 *   error, the same call fills it with the code and a message naming the
 *   problem (the series, the label, the limit). There is no "last error" call,
 *   because such a call races between threads and breaks under Go's thread
 *   migration. On success *err is left untouched. (The one 1.0 call without
 *   it, promstore_series_iter_labels, has a sibling that has it:
 *   promstore_series_iter_labels_v2.)
 *
 * THREADS
 *   A promstore handle may be used from any number of threads at once, except
 *   promstore_close(), which must be the last call on the handle. Appends are
 *   serialized inside the library; queries run concurrently with each other and
 *   with appends. An iterator must be used by one thread at a time, but it is
 *   not tied to the thread that created it (an iterator may be advanced from
 *   different OS threads one after the other, as a Go goroutine does).
 *
 * DURABILITY
 *   promstore_append() returns PROMSTORE_OK only once every sample it reports
 *   as appended survives a kill -9 of the process. With
 *   PROMSTORE_OPEN_SYNC it also survives a power loss (each append ends with an
 *   fsync, which costs throughput).
 *
 * CAVEATS
 *   - Do not open the same directory twice, in one process or in two: the
 *     second open fails with PROMSTORE_E_BUSY.
 *   - Do not use a handle after fork(); open a new one in the child.
 *   - Keep iterators short-lived: an open iterator pins a read snapshot, and
 *     space freed by retention cannot be reused while an older snapshot lives.
 *   - Strings are (pointer, length) pairs and need not be NUL-terminated;
 *     label names and values must be valid UTF-8.
 *
 * STRUCTS
 *   Every public struct is one of two kinds, and its comment says which:
 *   - Frozen: no struct_size. Its size and fields never change, because the
 *     library could not tell an older caller's struct from a newer one: it
 *     steps through arrays of it by its size, or fills it through a bare
 *     pointer. A new field would mean a new struct and a _v2 call.
 *   - Growable: struct_size is its first field, set by the caller to the
 *     sizeof it was compiled with. Fields are only ever appended. The library
 *     reads (options, requests) or writes (results, statistics, responses)
 *     only the fields that lie inside the caller's struct_size, and defaults
 *     or leaves alone the rest. Each struct says the least struct_size the
 *     library accepts; below it the call fails with PROMSTORE_E_INVALID. A
 *     struct the library hands to a callback (promstore_check_problem) is
 *     read the other way round: a field exists only if it lies inside
 *     problem->struct_size.
 *   The sizes of arrays inside structs (PROMSTORE_ERROR_MESSAGE_MAX,
 *   PROMSTORE_HTTP_MAX_HEADERS, the char arrays) are part of the layout and
 *   never change either.
 *
 * VERSIONING
 *   The ABI only grows: new functions are added, growable structs grow at
 *   their end (STRUCTS above), status codes are only appended. A shipped
 *   signature is never edited: a call that needs another parameter gets a
 *   sibling with the suffix _v2 (as promstore_series_iter_labels_v2) and the
 *   old call stays, documented as its equivalent. The shared object is
 *   libpromstore.so.1; the major number changes only when an existing call
 *   changes, and then the old call stays under its old symbol version. The
 *   minor number grows with each release that adds to the ABI, and the
 *   functions it adds carry the symbol version PROMSTORE_1.<minor> (1.0's are
 *   PROMSTORE_1). Every call says since which version it exists; a program
 *   that uses a "Since: 1.1" call needs a libpromstore.so.1 of 1.1 or later,
 *   and the dynamic loader says so at start-up if it is older.
 */
#ifndef PROMSTORE_H
#define PROMSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PROMSTORE_BUILDING) && defined(__GNUC__)
#define PROMSTORE_API __attribute__((visibility("default")))
#else
#define PROMSTORE_API
#endif

#define PROMSTORE_VERSION_MAJOR 1
#define PROMSTORE_VERSION_MINOR 2
#define PROMSTORE_VERSION_PATCH 0
/* Encoded as major * 10000 + minor * 100 + patch, e.g. 10000 for 1.0.0. */
#define PROMSTORE_VERSION_NUMBER                                             \
    (PROMSTORE_VERSION_MAJOR * 10000 + PROMSTORE_VERSION_MINOR * 100 +       \
     PROMSTORE_VERSION_PATCH)

/*
 * Status codes. The values are part of the ABI and never change; new codes are
 * only appended. The library never returns errno values, so the negative range
 * is ours alone.
 */
typedef enum promstore_status {
    PROMSTORE_OK = 0,              /* success */
    PROMSTORE_DONE = 1,            /* an iterator has no more items */
    PROMSTORE_E_INVALID = -1,      /* a bad argument (NULL, bad options) */
    PROMSTORE_E_MISUSE = -2,       /* a call out of order or on a closed handle */
    PROMSTORE_E_NOMEM = -3,        /* out of memory */
    PROMSTORE_E_IO = -4,           /* the storage backend failed */
    PROMSTORE_E_FULL = -5,         /* the disk or the store's map is full */
    PROMSTORE_E_BUSY = -6,         /* the store is locked by another user */
    PROMSTORE_E_CORRUPT = -7,      /* stored or supplied data is corrupt */
    PROMSTORE_E_BAD_LABELS = -8,   /* a series has invalid labels */
    PROMSTORE_E_OUT_OF_ORDER = -9, /* samples too old for the series, or too far ahead */
    PROMSTORE_E_BAD_MATCHER = -10, /* a matcher or its regex is invalid */
    PROMSTORE_E_LIMIT = -11,       /* a configured query limit was reached */
    PROMSTORE_E_NOT_FOUND = -12,   /* the named thing does not exist */
    PROMSTORE_E_UNSUPPORTED = -13  /* not supported by this build or format */
} promstore_status;

/* Longest message promstore_error can carry, terminating NUL included. */
#define PROMSTORE_ERROR_MESSAGE_MAX 1024

/*
 * Error detail, filled by the failing call itself. Callers usually keep one on
 * the stack per call: `promstore_error err; if (promstore_x(..., &err)) ...`.
 * message is NUL-terminated; a long message (a huge label set) is cut and ends
 * with "...".
 *
 * Frozen: callers keep it on the stack and the library writes into it with no
 * size to check; more detail would come through a new call.
 */
typedef struct promstore_error {
    promstore_status status;
    char message[PROMSTORE_ERROR_MESSAGE_MAX];
} promstore_error;

typedef struct promstore promstore;
typedef struct promstore_series_iter promstore_series_iter;
typedef struct promstore_string_iter promstore_string_iter;

/*
 * One label. name/value need not be NUL-terminated.
 * Frozen: passed in arrays (promstore_series, the iterators' label sets).
 */
typedef struct promstore_label {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} promstore_label;

/*
 * One sample. value_bits is the IEEE-754 bit pattern of the float64 value, so
 * that every NaN (the stale marker 0x7ff0000000000002 above all) is stored and
 * returned bit-exact; convert with memcpy.
 *
 * Frozen: passed in arrays, and filled through a bare pointer by
 * promstore_series_iter_sample(); it holds the whole of a Prometheus float
 * sample already.
 */
typedef struct promstore_sample {
    int64_t timestamp_ms;
    uint64_t value_bits;
} promstore_sample;

/* The Prometheus stale marker, a NaN with this exact bit pattern. */
#define PROMSTORE_STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

/*
 * One series in an append batch: its labels (any order) and its samples.
 * Frozen: passed in arrays to promstore_append().
 */
typedef struct promstore_series {
    const promstore_label *labels;
    size_t n_labels;
    const promstore_sample *samples;
    size_t n_samples;
} promstore_series;

/* --- Opening and closing ------------------------------------------------ */

/* Flags for promstore_options.flags. */
#define PROMSTORE_OPEN_SYNC 0x1u /* fsync at the end of every append */
/* Only classic names: labels [a-zA-Z_][a-zA-Z0-9_]*, metric names also ':'. */
#define PROMSTORE_OPEN_LEGACY_NAMES 0x2u

/*
 * Options for promstore_open(). Always initialise with promstore_options_init()
 * and then set what you need: it stores sizeof(promstore_options) as this
 * header knows it in struct_size, so that a library built with a longer struct
 * reads only the fields the caller has and defaults the rest.
 *
 *   backend            "lmdb" (default) or "sqlite"; NUL-terminated.
 *   path               the store's directory, created if missing; NUL-terminated;
 *                      required.
 *   retention_time_ms  drop blocks whose data is all older than the newest
 *                      sample minus this, where the newest sample counts as
 *                      no later than the wall clock (since 1.2); 0 keeps
 *                      data forever (default).
 *   retention_size_bytes  drop the oldest blocks while the store
 *                      (bytes_on_disk) is larger; 0 means no size limit
 *                      (default).
 *                      Both are applied by the store's maintenance thread,
 *                      never inside promstore_append(): see "Background
 *                      maintenance" below.
 *   block_duration_ms  length of a time block (default 2 h). Fixed when the
 *                      store is created; a different value at a later open is
 *                      ignored, and the stored one is used.
 *   out_of_order_window_ms  how far behind a series' newest sample a sample may
 *                      arrive and still be accepted (default 0: in order only).
 *   max_series_per_query, max_samples_per_query, max_bytes_per_query
 *                      per-query limits; 0 means unlimited (default). A query
 *                      that reaches one fails with PROMSTORE_E_LIMIT as it
 *                      streams, so memory stays bounded.
 *   flags              PROMSTORE_OPEN_* bits.
 *   max_concurrent_reads  remote reads served at once; one more is answered 503
 *                      with Retry-After (default 10, as Prometheus).
 *   max_request_bytes  largest compressed remote write/read body (default 32 MiB).
 *   max_decoded_bytes  largest decoded request body, checked against the snappy
 *                      header before anything is allocated (default 32 MiB).
 *                      It does not cap a SAMPLES remote-read answer, which is
 *                      streamed: the query limits and the 4 GiB its format
 *                      can carry do.
 *   read_frame_bytes   target size of a streamed remote-read frame (default 1 MiB).
 *   maintenance_interval_ms  how often the maintenance thread runs when no
 *                      append wakes it (default 60 s). Since: 1.1
 *   on_background_error, background_error_ctx  called from the maintenance
 *                      thread with each error of background work (retention
 *                      that could not run, say, on a full disk); NULL: errors
 *                      are only counted in promstore_stats. The callback must
 *                      not call back into the store; err lives for the call.
 *                      Since: 1.1
 *   max_future_ms      how far past the wall clock a sample's timestamp may
 *                      be (default 10 minutes); a later sample is refused as
 *                      PROMSTORE_E_OUT_OF_ORDER naming the series and the
 *                      limit, and the rest of its batch is stored. 0 means
 *                      no limit (for loading synthetic data). Time retention
 *                      never cuts past the wall clock whatever this is, so a
 *                      stray future sample cannot empty the store. Since: 1.2
 *   max_matchers_per_query  most matchers one query (promstore_query, or a
 *                      query of a remote read) may have (default 64); more
 *                      fail with PROMSTORE_E_LIMIT naming the cap before
 *                      anything is read. 0: no cap. Since: 1.2
 *   max_queries_per_read  most queries one remote-read request may hold
 *                      (default 64); more are answered 400 naming the cap.
 *                      0: no cap. Since: 1.2
 *   max_work_per_read  the work one read may do (default 100,000,000
 *                      steps), counted as it selects and walks series: a
 *                      label value a regex is tried on counts its length
 *                      plus one, and the backtracker's whole match limit
 *                      (1,000,000) when it gives up on the value; a postings
 *                      entry read counts one; a series loaded one, plus one
 *                      for each chunk read for it. A read is one
 *                      promstore_query iterator, or every query of one
 *                      remote-read request together. Once spent the read
 *                      fails with PROMSTORE_E_LIMIT naming max_work_per_read
 *                      (a remote read: 400). 0: no limit. Since: 1.2
 *   read_deadline_ms   how long one read may work without handing out a
 *                      series, wall time from its start and again from each
 *                      series it yields (default 2 minutes, as Prometheus's
 *                      --query.timeout), so a read that keeps producing is
 *                      never cut however long it streams; checked where
 *                      work is counted, so an iterator the caller leaves
 *                      idle does not fail until it next works. Past it the
 *                      read fails with PROMSTORE_E_LIMIT naming
 *                      read_deadline_ms. 0: no deadline; negative is
 *                      PROMSTORE_E_INVALID. Since: 1.2
 *
 * Growable, read by the library: fields past the caller's struct_size take
 * their defaults; struct_size must at least hold path.
 */
typedef void (*promstore_error_fn)(void *ctx, const promstore_error *err);
typedef struct promstore_options {
    size_t struct_size;
    const char *backend;
    const char *path;
    int64_t retention_time_ms;
    uint64_t retention_size_bytes;
    int64_t block_duration_ms;
    int64_t out_of_order_window_ms;
    uint64_t max_series_per_query;
    uint64_t max_samples_per_query;
    uint64_t max_bytes_per_query;
    uint32_t flags;
    uint32_t max_concurrent_reads;
    uint64_t max_request_bytes;
    uint64_t max_decoded_bytes;
    uint64_t read_frame_bytes;
    /* --- the fields above are in 1.0; below, since 1.1 --- */
    int64_t maintenance_interval_ms;
    promstore_error_fn on_background_error;
    void *background_error_ctx;
    /* --- since 1.2 --- */
    int64_t max_future_ms;
    uint32_t max_matchers_per_query;
    uint32_t max_queries_per_read;
    uint64_t max_work_per_read;
    int64_t read_deadline_ms;
} promstore_options;

/*
 * Fill *opts with the defaults and set opts->struct_size.
 * Threads:  any. Since: 1.0
 */
PROMSTORE_API void promstore_options_init(promstore_options *opts);

/*
 * Open (creating if needed) the store described by opts.
 *
 * Ownership: opts and the strings it points to are only read during the call.
 *   On success *out is a new handle, freed by promstore_close().
 * Returns:   PROMSTORE_OK; PROMSTORE_E_INVALID (bad options, unknown backend),
 *   PROMSTORE_E_BUSY (the directory is open elsewhere), PROMSTORE_E_CORRUPT
 *   (the directory holds something that is not a store of this backend, a
 *   symbolic link, or an LMDB data.mdb cut short),
 *   PROMSTORE_E_IO, PROMSTORE_E_NOMEM.
 * On error:  *out is set to NULL.
 * Files:     directories the call creates (the store's and missing parents)
 *   get mode 0700 and every file of the store 0600, less the process umask:
 *   a store is readable by its owner only. No file inside the store is
 *   opened through a symbolic link: a link at LOCK, FORMAT or a backend's
 *   file (data.mdb, lock.mdb, promstore.sqlite) fails the call with
 *   PROMSTORE_E_CORRUPT naming it, and whatever lies at FORMAT.tmp, a
 *   scratch name, is removed (a link, not what it points to).
 * Cost:      independent of the amount of data stored: nothing is replayed.
 * Threads:   any. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_open(const promstore_options *opts,
                                              promstore **out,
                                              promstore_error *err);

/*
 * Close the store: wait for nothing (all appends are already durable), release
 * everything. Iterators still open must be closed before.
 *
 * Returns:   PROMSTORE_OK, or PROMSTORE_E_IO if the final flush failed (the
 *   handle is freed all the same). promstore_close(NULL) is a no-op.
 * Threads:   must be the last call on the handle. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_close(promstore *db,
                                               promstore_error *err);

/* --- Appending ------------------------------------------------------------ */

/*
 * What promstore_append() did. Initialise struct_size to sizeof(*result).
 *
 *   samples_appended   new samples stored (out-of-order ones included).
 *   samples_duplicate  samples equal to a stored one (same timestamp, same
 *                      value bits) and so ignored; a retried batch lands here.
 *   samples_rejected   samples refused as out of order, too old, or too far
 *                      in the future (options.max_future_ms).
 *   series_created     series that did not exist before this call.
 *
 * Growable, written by the library only inside the caller's struct_size
 * (at least sizeof(size_t)).
 */
typedef struct promstore_append_result {
    size_t struct_size;
    uint64_t samples_appended;
    uint64_t samples_duplicate;
    uint64_t samples_rejected;
    uint64_t series_created;
} promstore_append_result;

/*
 * Append a batch of series. Labels of a series may come in any order; they are
 * sorted. A label with an empty value is the same as an absent label and is
 * dropped. A series may appear several times in one batch.
 *
 * Validation comes first and is all-or-nothing: if any series has no labels,
 * an empty or invalid label name, a duplicate label name, a name or value
 * that is not valid UTF-8, or a label whose name and value together take more
 * than 470 bytes (bytes 0x00 and 0x01 count twice), nothing is stored and the
 * call fails with PROMSTORE_E_BAD_LABELS naming the series. A series with no
 * samples is validated but not created.
 *
 * Samples at or before a series' newest sample are looked up: one equal to a
 * stored sample (same timestamp, same value bits) is a duplicate and ignored,
 * so a retried batch is harmless.
 *
 * Samples must not be more than options.max_future_ms past the wall clock
 * (10 minutes by default): a later one is rejected (PROMSTORE_E_OUT_OF_ORDER
 * naming the series and the limit), and a series none of whose samples is
 * accepted is not created.
 *
 * Samples of a series must not go backwards beyond the out-of-order window:
 * a sample older than the series' newest sample minus the window is rejected
 * (PROMSTORE_E_OUT_OF_ORDER naming the series); so is a sample with the same
 * timestamp as a stored one and a different value. All other samples of the
 * batch are stored and durable even when the call reports such a rejection;
 * result tells how many of each.
 *
 * Ownership: series and everything they point to are only read during the
 *   call. result may be NULL.
 * Returns:   PROMSTORE_OK (everything stored or duplicate), PROMSTORE_E_BAD_LABELS,
 *   PROMSTORE_E_OUT_OF_ORDER (the rest stored), PROMSTORE_E_FULL (nothing stored),
 *   PROMSTORE_E_IO (nothing stored), PROMSTORE_E_NOMEM, PROMSTORE_E_INVALID.
 * Durability: on PROMSTORE_OK and PROMSTORE_E_OUT_OF_ORDER the stored samples
 *   survive a kill -9 of the process (and a power loss with PROMSTORE_OPEN_SYNC).
 * Threads:   any number of threads may append at once; batches are applied one
 *   after the other. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_append(promstore *db,
                                                const promstore_series *series,
                                                size_t n_series,
                                                promstore_append_result *result,
                                                promstore_error *err);

/* --- Querying ------------------------------------------------------------- */

/* Matcher kinds, with Prometheus semantics. */
typedef enum promstore_match_type {
    PROMSTORE_MATCH_EQ = 0,  /* name = value */
    PROMSTORE_MATCH_NEQ = 1, /* name != value */
    PROMSTORE_MATCH_RE = 2,  /* name =~ regex */
    PROMSTORE_MATCH_NRE = 3  /* name !~ regex */
} promstore_match_type;

/*
 * One label matcher. As in Prometheus, a series without the label is matched
 * as if its value were "": name="" selects series without the label, and
 * name!="" selects series that have it. Regexes are fully anchored and use
 * RE2-like syntax (run by PCRE2; '.' also matches newline, as in Prometheus
 * 3); backreferences and lookaround, which RE2 lacks, are refused.
 *
 * Frozen: passed in arrays.
 */
typedef struct promstore_matcher {
    promstore_match_type type;
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} promstore_matcher;

/*
 * One stored chunk: Prometheus XOR chunk bytes, 2-byte header included.
 * Frozen: filled through a bare pointer by promstore_series_iter_chunk(), so
 * a longer one would be written past the end of an older caller's.
 */
typedef struct promstore_chunk {
    int64_t min_time_ms; /* timestamp of its first sample */
    int64_t max_time_ms; /* timestamp of its last sample */
    const uint8_t *data;
    size_t data_len;
} promstore_chunk;

/*
 * Select the series that match every matcher and have at least one sample in
 * [mint, maxt] (both inclusive). With no matchers, every series matches.
 *
 * The iterator yields series sorted by label set exactly as Prometheus's
 * labels.Compare sorts them. It reads from a consistent snapshot taken by this
 * call: appends that finish later are not seen, and the query never blocks
 * them. Memory held by the iterator does not grow with the number of series
 * it matches (a bitmap of one bit per series in the store is its only
 * store-sized part).
 *
 * Ownership: matchers are only read during the call. On success *out is a new
 *   iterator freed by promstore_series_iter_close().
 * Returns:   PROMSTORE_OK; PROMSTORE_E_BAD_MATCHER (naming the matcher),
 *   PROMSTORE_E_LIMIT (a regex that could not be evaluated on some label value
 *   within the matching bounds, naming the matcher and the value: a costly
 *   regex ends the query with this error, never with a partial or guessed
 *   selection; more matchers than max_matchers_per_query; the selection
 *   spent max_work_per_read or ran past read_deadline_ms, each named),
 *   PROMSTORE_E_INVALID (mint > maxt, NULL), PROMSTORE_E_IO,
 *   PROMSTORE_E_NOMEM. The per-query limits are checked as the iterator
 *   advances, not here; the work budget and the deadline, counted from this
 *   call, both here and as it advances. A range that holds no sample of the
 *   store answers an empty iterator without visiting any series.
 * On error:  *out is set to NULL.
 * Threads:   any. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_query(promstore *db,
                                               const promstore_matcher *matchers,
                                               size_t n_matchers, int64_t mint,
                                               int64_t maxt,
                                               promstore_series_iter **out,
                                               promstore_error *err);

/*
 * Advance to the next series.
 *
 * Returns:   PROMSTORE_OK (a series is current), PROMSTORE_DONE (no more),
 *   PROMSTORE_E_LIMIT (a per-query limit was reached, or the read's
 *   max_work_per_read or read_deadline_ms, named in the message),
 *   PROMSTORE_E_IO, PROMSTORE_E_CORRUPT. After an error the iterator may
 *   only be closed.
 * Threads:   one caller at a time per iterator. Since: 1.0
 */
PROMSTORE_API promstore_status
promstore_series_iter_next(promstore_series_iter *it, promstore_error *err);

/*
 * The labels of the current series, sorted by name.
 *
 * Ownership: *labels points into memory owned by the iterator, valid until the
 *   next promstore_series_iter_next() or close. Copy what you keep.
 * Returns:   PROMSTORE_OK; PROMSTORE_E_MISUSE if no series is current (before
 *   the first promstore_series_iter_next(), after it returned anything but
 *   PROMSTORE_OK); PROMSTORE_E_INVALID if an argument is NULL.
 * On error:  *err is filled; *labels and *n_labels are left untouched.
 * Threads:   one caller at a time per iterator. Since: 1.1
 */
PROMSTORE_API promstore_status
promstore_series_iter_labels_v2(promstore_series_iter *it,
                                const promstore_label **labels, size_t *n_labels,
                                promstore_error *err);

/*
 * The 1.0 form of promstore_series_iter_labels_v2(), without the error
 * detail: equivalent to promstore_series_iter_labels_v2(it, labels, n_labels,
 * NULL), same statuses. It stays exported for programs built against 1.0.
 * Threads:   one caller at a time per iterator. Since: 1.0
 */
PROMSTORE_API promstore_status
promstore_series_iter_labels(promstore_series_iter *it,
                             const promstore_label **labels, size_t *n_labels);

/*
 * The next sample of the current series within [mint, maxt], in time order.
 * The sample cursor restarts with every series.
 *
 * Returns:   PROMSTORE_OK (*out filled), PROMSTORE_DONE, PROMSTORE_E_LIMIT
 *   (max_samples_per_query), PROMSTORE_E_CORRUPT (a stored chunk does not
 *   decode), PROMSTORE_E_IO, PROMSTORE_E_MISUSE.
 * Threads:   one caller at a time per iterator. Since: 1.0
 */
PROMSTORE_API promstore_status
promstore_series_iter_sample(promstore_series_iter *it, promstore_sample *out,
                             promstore_error *err);

/*
 * The next chunk of the current series that overlaps [mint, maxt], in order of
 * min_time. These are the stored XOR bytes as they are, so a chunk may hold
 * samples outside the range; chunks of out-of-order samples may overlap
 * others. The chunk cursor is independent of the sample cursor.
 *
 * Ownership: out->data points into memory owned by the iterator, valid until
 *   the next call on the iterator. Copy what you keep.
 * Returns:   as promstore_series_iter_sample(), with max_bytes_per_query
 *   counted on chunk bytes.
 * Threads:   one caller at a time per iterator. Since: 1.0
 */
PROMSTORE_API promstore_status
promstore_series_iter_chunk(promstore_series_iter *it, promstore_chunk *out,
                            promstore_error *err);

/*
 * Free an iterator and release its snapshot. NULL is a harmless no-op.
 * Threads:   one caller at a time per iterator. Since: 1.0
 */
PROMSTORE_API void promstore_series_iter_close(promstore_series_iter *it);

/*
 * Label names (sorted, distinct) of the series that match every matcher and
 * have data in [mint, maxt]. Without matchers and with the full time range
 * (INT64_MIN, INT64_MAX) it reads the index only.
 *
 * Ownership and returns as promstore_query(); the iterator is freed by
 *   promstore_string_iter_close().
 * Threads:   any. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_label_names(
    promstore *db, const promstore_matcher *matchers, size_t n_matchers,
    int64_t mint, int64_t maxt, promstore_string_iter **out, promstore_error *err);

/*
 * Values (sorted, distinct, never empty) of label `name` among the series that
 * match every matcher and have data in [mint, maxt].
 *
 * Ownership and returns as promstore_label_names().
 * Threads:   any. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_label_values(
    promstore *db, const char *name, size_t name_len,
    const promstore_matcher *matchers, size_t n_matchers, int64_t mint,
    int64_t maxt, promstore_string_iter **out, promstore_error *err);

/*
 * Next string of a label name or value iterator.
 *
 * Ownership: *s points into memory owned by the iterator, valid until the next
 *   call on it; it is NUL-terminated and *len excludes the NUL.
 * Returns:   PROMSTORE_OK, PROMSTORE_DONE, PROMSTORE_E_IO.
 * Threads:   one caller at a time per iterator. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_string_iter_next(
    promstore_string_iter *it, const char **s, size_t *len, promstore_error *err);

/* Free a string iterator. NULL is a harmless no-op. Since: 1.0 */
PROMSTORE_API void promstore_string_iter_close(promstore_string_iter *it);

/* --- Retention and statistics --------------------------------------------- */

/*
 * What promstore_apply_retention() removed. Initialise struct_size.
 * Growable, written by the library only inside the caller's struct_size
 * (at least sizeof(size_t)).
 */
typedef struct promstore_retention_result {
    size_t struct_size;
    uint64_t blocks_dropped;
    uint64_t series_dropped;
    uint64_t samples_dropped;
} promstore_retention_result;

/*
 * Drop every block that ends at or before cutoff_ms (its time range
 * [start, start + block_duration) lies wholly before the cutoff), the
 * out-of-order samples in those blocks, and every series left without data.
 * A block that straddles the cutoff is kept whole, samples before the cutoff
 * included, as Prometheus keeps whole blocks. The cost grows with the
 * blocks dropped, not with the samples they hold; the space is reused by
 * later appends.
 *
 * Automatic retention (promstore_options.retention_*) runs the same code in
 * the store's maintenance thread.
 *
 * Ownership: result may be NULL.
 * Returns:   PROMSTORE_OK, PROMSTORE_E_IO, PROMSTORE_E_NOMEM.
 * Threads:   any; it waits for running appends. Since: 1.0
 */
PROMSTORE_API promstore_status
promstore_apply_retention(promstore *db, int64_t cutoff_ms,
                          promstore_retention_result *result,
                          promstore_error *err);

/*
 * Background maintenance. A store opened with retention_time_ms or
 * retention_size_bytes owns one maintenance thread, started by
 * promstore_open() and stopped (joined) by promstore_close(). It applies the
 * configured retention: soon after an append commits (appends only wake it;
 * they never wait for it), after an append fails on a full disk, and every
 * maintenance_interval_ms regardless, so that a full store frees itself
 * even when every append fails. Time retention cuts at the newest sample
 * minus retention_time_ms; size retention drops the oldest block while
 * bytes_on_disk exceeds retention_size_bytes. Each pass takes the writer's
 * lock only while it has something to drop. Its errors are counted in
 * promstore_stats and handed to options.on_background_error.
 *
 * promstore_run_retention() runs the same pass now, in the calling thread,
 * and returns what it dropped and its error, if any. With no retention
 * configured it does nothing and returns PROMSTORE_OK.
 *
 * Ownership: result may be NULL (struct_size initialised otherwise).
 * Returns:   PROMSTORE_OK, PROMSTORE_E_IO, PROMSTORE_E_FULL (deleting needed
 *   space that was not there), PROMSTORE_E_NOMEM, PROMSTORE_E_INVALID.
 * Threads:   any; it waits for running appends. Since: 1.1
 */
PROMSTORE_API promstore_status promstore_run_retention(promstore *db,
                                                       promstore_retention_result *result,
                                                       promstore_error *err);

/*
 * Store statistics. Initialise struct_size to sizeof(*out).
 *
 *   backend        "lmdb" or "sqlite", NUL-terminated.
 *   series         series in the index.
 *   samples        samples stored.
 *   chunks         chunks stored, open (head) chunks included; out-of-order
 *                  samples are stored one by one and not counted here (the
 *                  chunk cursor encodes them into chunks on the fly).
 *   blocks         time blocks holding sealed chunks.
 *   bytes_on_disk  bytes the backend uses for live data (free pages excluded).
 *   file_bytes     size of the backend's files (free pages included).
 *   min_time_ms, max_time_ms  oldest and newest sample (0 when empty).
 *   Since 1.1, what background retention did since the store was opened:
 *   retention_runs     passes of the maintenance thread and calls of
 *                      promstore_run_retention().
 *   retention_errors   of which failed; the last failure's status is in
 *                      retention_last_error (PROMSTORE_OK if none failed).
 *   retention_blocks_dropped, retention_series_dropped,
 *   retention_samples_dropped  what those passes removed.
 *
 * Growable, written by the library only inside the caller's struct_size,
 * which must at least hold backend.
 */
typedef struct promstore_stats {
    size_t struct_size;
    char backend[16];
    uint64_t series;
    uint64_t samples;
    uint64_t chunks;
    uint64_t blocks;
    uint64_t bytes_on_disk;
    uint64_t file_bytes;
    int64_t min_time_ms;
    int64_t max_time_ms;
    /* --- the fields above are in 1.0; below, since 1.1 --- */
    uint64_t retention_runs;
    uint64_t retention_errors;
    int32_t retention_last_error; /* a promstore_status */
    uint64_t retention_blocks_dropped;
    uint64_t retention_series_dropped;
    uint64_t retention_samples_dropped;
} promstore_stats;

/*
 * Read the statistics. Returns PROMSTORE_OK, PROMSTORE_E_IO, PROMSTORE_E_INVALID.
 * Threads: any. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_stats_get(promstore *db,
                                                   promstore_stats *out,
                                                   promstore_error *err);

/* --- Verifying a store offline ---------------------------------------------- */

/* promstore_check_problem.block_start_ms when a problem concerns no block. */
#define PROMSTORE_CHECK_NO_BLOCK INT64_MIN

/*
 * One problem found by promstore_check().
 *
 *   table           where it is: a table of the store ("meta", "series",
 *                   "series_key", "postings", "head", "lastblk", "blocks",
 *                   "blk.<slot>" -- the sealed chunks of one time block --,
 *                   "ooo"), or "(backend)" / "(free list)" / ... for the
 *                   backend's own structures. Never NULL.
 *   series_id       the series concerned (ids start at 1); 0 for none.
 *   block_start_ms  start of the time block concerned, or
 *                   PROMSTORE_CHECK_NO_BLOCK.
 *   message         one line of English saying what is wrong and what it
 *                   breaks, naming the entry (labels, label pair,
 *                   timestamps). Never NULL.
 *
 * Growable, the other way round: the library fills it and sets struct_size to
 * its own sizeof; a callback built against a later header reads a field only
 * if it lies inside problem->struct_size.
 */
typedef struct promstore_check_problem {
    size_t struct_size;
    const char *table;
    uint64_t series_id;
    int64_t block_start_ms;
    const char *message;
} promstore_check_problem;

/*
 * Receives each problem as it is found. Return 0 to go on, nonzero to stop
 * the check (promstore_check() then returns PROMSTORE_OK with
 * summary->stopped set). The problem and its strings live for the call only.
 */
typedef int (*promstore_check_fn)(void *ctx, const promstore_check_problem *problem);

/*
 * What promstore_check() saw. Initialise struct_size to sizeof(*summary).
 *
 *   backend      "lmdb" or "sqlite", NUL-terminated.
 *   series       entries of the series index.
 *   postings     entries of the postings index (one per label of each
 *                series, plus one per series for "all series").
 *   blocks       time blocks holding sealed chunks.
 *   chunks       chunks read and decoded, sealed and open (head) ones.
 *   head_chunks  of which open (head) chunks.
 *   samples      samples in those chunks (as their headers count them) plus
 *                out-of-order samples.
 *   ooo_samples  of which out-of-order samples.
 *   problems     problems reported to on_problem.
 *   stopped      1 if on_problem asked to stop, so later checks did not run.
 *
 * Growable, written by the library only inside the caller's struct_size
 * (at least sizeof(size_t)).
 */
typedef struct promstore_check_summary {
    size_t struct_size;
    char backend[16];
    uint64_t series;
    uint64_t postings;
    uint64_t blocks;
    uint64_t chunks;
    uint64_t head_chunks;
    uint64_t samples;
    uint64_t ooo_samples;
    uint64_t problems;
    int stopped;
} promstore_check_summary;

/*
 * Verify the store described by opts (backend and path; the other options
 * are ignored) without changing it. It checks, in one snapshot:
 *   - the backend's own structures (SQLite: PRAGMA integrity_check; LMDB:
 *     every page read through cursors, key order, entry and page counts);
 *   - every chunk, sealed and open: it decodes, its sample count matches its
 *     header, timestamps strictly increase, the min/max times stored with it
 *     match its first/last sample, it lies in its time block, and a series'
 *     chunks do not overlap; an open chunk's saved appender state matches it;
 *   - the index: every series' labels decode to a valid sorted label set,
 *     labels -> id (series_key) agrees with id -> labels, postings name
 *     exactly the label pairs of existing series, every chunk, open chunk,
 *     out-of-order sample and retention record (lastblk) belongs to a series
 *     in the index;
 *   - the bookkeeping: block records' sample/chunk/byte counts, the stored
 *     statistics, next_id above every series id.
 * Each problem goes to on_problem as it is found; nothing is collected, so
 * memory stays small whatever the store's size: two bits per series id ever
 * assigned, one cursor per time block, and one series' labels at a time.
 *
 * The store must not be open: the check takes the store's directory lock
 * like promstore_open() and fails with PROMSTORE_E_BUSY while a server or
 * any other handle has the store. It creates nothing: a directory without a
 * store is PROMSTORE_E_NOT_FOUND (a store whose first open was cut short,
 * before its tables existed, checks as empty). It writes nothing (SQLite may
 * fold its write-ahead log into the database file on close, as every close
 * does).
 *
 * Ownership: opts and its strings are only read during the call. on_problem
 *   may be NULL (problems are then only counted); summary may be NULL.
 * Returns:   PROMSTORE_OK when the check ran, whatever it found: look at
 *   summary->problems. Otherwise it could not run: PROMSTORE_E_INVALID (bad
 *   options, unknown backend), PROMSTORE_E_NOT_FOUND (no store at path),
 *   PROMSTORE_E_BUSY (the store is open elsewhere), PROMSTORE_E_CORRUPT (the
 *   directory was made by the other backend, or the backend cannot read its
 *   files at all), PROMSTORE_E_UNSUPPORTED (an unknown store format),
 *   PROMSTORE_E_IO, PROMSTORE_E_NOMEM.
 * On error:  *summary holds what was counted before the failure.
 * Cost:      one pass over every table plus a few look-ups per series; a
 *   store of 1M series takes seconds (docs/ARCHITECTURE.md has figures).
 * Threads:   any; on_problem is called on the calling thread. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_check(const promstore_options *opts,
                                               promstore_check_fn on_problem, void *ctx,
                                               promstore_check_summary *summary,
                                               promstore_error *err);

/* --- Remote storage protocol (Prometheus remote write and remote read) ------ */

/*
 * The protocol lives here, not in the server, so that every front end (the C
 * server, the Go shim) answers with the same status codes, headers and bytes.
 * The library does no network I/O: a front end hands over the request's
 * headers and body and sends back what the library answers.
 */

/*
 * An HTTP request as the protocol entry points need it.
 * Growable, read by the library; struct_size must at least hold body_len
 * (the 1.0 layout).
 */
typedef struct promstore_http_request {
    size_t struct_size;
    const char *content_type;     /* Content-Type header value, NULL if absent */
    const char *content_encoding; /* Content-Encoding header value, NULL if absent */
    const uint8_t *body;
    size_t body_len;
} promstore_http_request;

/* Room for extra response headers (Retry-After, the RW 2.0 Written counts, ...). */
#define PROMSTORE_HTTP_MAX_HEADERS 6

/*
 * One response header: name and value are NUL-terminated (see below).
 * Frozen: an element of promstore_http_response.headers.
 */
typedef struct promstore_http_header {
    char name[64];
    char value[64];
} promstore_http_header;

/*
 * What to answer. Initialise struct_size to sizeof(*resp); the entry point
 * fills the rest.
 *
 *   status            the HTTP status code.
 *   content_type, content_encoding  header values to send; "" means none.
 *   headers           further headers to send, n_headers of them
 *                     (n_headers <= PROMSTORE_HTTP_MAX_HEADERS).
 *   message           for a status >= 400: one line naming the problem (and the
 *                     series), to send as a text/plain body; no control
 *                     characters, no newline. "" otherwise.
 *   samples_written .. exemplars_written  what was stored.
 *   samples_rejected  samples refused (invalid, out of order).
 *   exemplars_dropped, histograms_dropped, metadata_dropped  items received
 *                     that this version does not store.
 *
 * Strings: once an entry point has answered in *resp, every string of it --
 *   content_type, content_encoding, message, and the name and value of
 *   headers[0] .. headers[n_headers - 1] -- is NUL-terminated inside its
 *   array, whatever the caller's buffer held before, so each can be used as a
 *   C string as it is (no copy, no terminating by hand). A message too long
 *   for its array is cut and ends with "...". An entry point has answered
 *   whenever it returns anything but PROMSTORE_E_INVALID for bad arguments
 *   (NULL, a struct_size too small), which leaves *resp unwritten.
 *
 * Growable, written by the library; struct_size must at least hold
 * metadata_dropped (the 1.0 layout). Room for more headers would come as a
 * new field at the end, never as a longer headers array.
 */
typedef struct promstore_http_response {
    size_t struct_size;
    int status;
    char content_type[96];
    char content_encoding[32];
    size_t n_headers;
    promstore_http_header headers[PROMSTORE_HTTP_MAX_HEADERS];
    char message[PROMSTORE_ERROR_MESSAGE_MAX];
    uint64_t samples_written;
    uint64_t histograms_written;
    uint64_t exemplars_written;
    uint64_t samples_rejected;
    uint64_t exemplars_dropped;
    uint64_t histograms_dropped;
    uint64_t metadata_dropped;
} promstore_http_response;

/*
 * Serve one remote-write request (POST /api/v1/write): Prometheus remote write
 * 1.0 (prometheus.WriteRequest) and 2.0 (io.prometheus.write.v2.Request),
 * chosen by Content-Type. Headers are checked before the body is touched (415
 * for an unsupported Content-Type or Content-Encoding); the compressed and the
 * declared decoded sizes are checked against the limits before anything is
 * allocated (413); then the body is decoded and validated (400 naming the
 * problem and the series) and appended; 204 only once the batch is durable.
 * Storage trouble answers 5xx so that Prometheus retries (503 with
 * Retry-After when busy, 507 when full, 500 otherwise), never 429.
 *
 * Ownership: req and the bytes it points to are only read during the call.
 * Returns:   PROMSTORE_OK whenever *resp holds an answer (whatever its status);
 *   PROMSTORE_E_INVALID for NULL or too-small structs (resp untouched).
 * Threads:   any. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_remote_write(promstore *db,
                                                      const promstore_http_request *req,
                                                      promstore_http_response *resp,
                                                      promstore_error *err);

typedef struct promstore_reader promstore_reader;

/*
 * Start serving one remote-read request (POST /api/v1/read). The response type
 * is negotiated from accepted_response_types: SAMPLES (one snappy-compressed
 * ReadResponse, what Prometheus 2.42 asks for) or STREAMED_XOR_CHUNKS (CRC32C
 * framed ChunkedReadResponse messages, one series per frame, stored chunk bytes
 * as they are). Every query is checked before the first byte is produced, so
 * an error still has its own status; a limit reached while streaming ends the
 * stream early (the client sees a broken stream, as with Prometheus). A
 * SAMPLES answer is read twice in one snapshot of the store: this call reads
 * it once to size it, so every query limit is still a 400 here, and
 * promstore_remote_read_next() reads it again as it sends it (a storage error
 * then can only cut the body).
 *
 * On return *resp holds the status and headers to send. If resp->status is
 * 200, *out is a reader: call promstore_remote_read_next() until
 * PROMSTORE_DONE and send each piece as the body. Otherwise *out is NULL and
 * resp->message is the body.
 *
 * Ownership: req is only read during the call. *out is freed by
 *   promstore_remote_read_close().
 * Returns:   PROMSTORE_OK whenever *resp holds an answer; PROMSTORE_E_INVALID
 *   for NULL or too-small structs.
 * Threads:   any; at most max_concurrent_reads readers live at once (one more
 *   is answered 503 with Retry-After). Since: 1.0
 */
PROMSTORE_API promstore_status promstore_remote_read_open(promstore *db,
                                                          const promstore_http_request *req,
                                                          promstore_http_response *resp,
                                                          promstore_reader **out,
                                                          promstore_error *err);

/*
 * The next piece of the response body.
 *
 * Ownership: *data points into the reader's memory, valid until the next call
 *   on it. Pieces are produced as the store is read: one frame each
 *   (streamed), or at most read_frame_bytes of the compressed answer
 *   (SAMPLES). Memory stays bounded by the frame size (streamed) or by a
 *   64 KiB fragment of the answer and 4 bytes per series in it (SAMPLES,
 *   which promstore_remote_read_open() has read once to size it: its limits
 *   were met there).
 * Returns:   PROMSTORE_OK (*data, *len set), PROMSTORE_DONE (the body is
 *   complete), or an error (PROMSTORE_E_LIMIT, PROMSTORE_E_IO, ...) after which
 *   the body must be cut short: the client then sees an incomplete response.
 * Threads:   one caller at a time per reader. Since: 1.0
 */
PROMSTORE_API promstore_status promstore_remote_read_next(promstore_reader *r,
                                                          const uint8_t **data, size_t *len,
                                                          promstore_error *err);

/* Free a reader. NULL is a harmless no-op. Since: 1.0 */
PROMSTORE_API void promstore_remote_read_close(promstore_reader *r);

/*
 * The callback form of remote read: promstore_remote_read_open(), then each
 * piece handed to write(ctx, data, len) as it is produced, then close. *resp
 * is complete before the first call of write, so write can send the status
 * and headers first. write returns 0 to go on, nonzero to stop (the client
 * went away); the call then returns PROMSTORE_E_IO.
 *
 * Returns:   PROMSTORE_OK when the whole body was written (or resp->status is
 *   not 200 and write was never called); otherwise as
 *   promstore_remote_read_next().
 * Threads:   any. Since: 1.0
 */
typedef int (*promstore_write_fn)(void *ctx, const uint8_t *data, size_t len);
PROMSTORE_API promstore_status promstore_remote_read(promstore *db,
                                                     const promstore_http_request *req,
                                                     promstore_http_response *resp,
                                                     promstore_write_fn write, void *ctx,
                                                     promstore_error *err);

/* --- Version and errors ---------------------------------------------------- */

/* The library's version as "major.minor.patch" ("1.1.0"); a static string.
 * Since: 1.0 */
PROMSTORE_API const char *promstore_version(void);

/* The library's version as PROMSTORE_VERSION_NUMBER encodes it. Since: 1.0 */
PROMSTORE_API int promstore_version_number(void);

/*
 * A static, short English description of a status code ("invalid labels").
 * Unknown codes give "unknown status". Threads: any. Since: 1.0
 */
PROMSTORE_API const char *promstore_strerror(promstore_status status);

#ifdef __cplusplus
}
#endif

#endif /* PROMSTORE_H */
