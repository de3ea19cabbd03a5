/*
 * schema.h -- the one layer that knows how the engine's tables are laid out.
 *
 * NOTES ON THE DESIGN
 *
 * 1. What it owns. Every key and value the engine keeps in the backend is
 *    written and read in schema.c: the meta records (format, block_ms,
 *    next_id, stats), series, series_key (with the rule that cuts a long key
 *    and appends its hash), postings (the escaped pair and the all-series
 *    pair), head, lastblk, blocks, the block tables blk.<slot>, and ooo; and
 *    the format version. docs/format/ draws each layout field by field, with
 *    widths; this header names the records and what the code promises about
 *    them, and does not draw them again. The rest of the engine (store.c,
 *    append.c, select.c, series_set.c, series_merge.c, labelnames.c,
 *    retention.c) and the checker (check/) handle the records below and
 *    reach the backend only through this layer: no other file calls a
 *    ps_backend_methods function.
 *
 * 2. Why records, not bytes. When each file builds its keys by hand, one
 *    layout is written many times over (the 28-byte blocks record was decoded
 *    at offsets 4/12/20 in four files, the 24-byte ooo key built in two), and
 *    a change to it must find them all. A record is a struct the compiler
 *    checks; its encoder and decoder exist once, next to the others, so the
 *    ordering rules (big-endian integers, sign-flipped times, escaped strings)
 *    and the format version can be kept in view together. What stays opaque
 *    here are the XOR chunk bytes and the appender state inside a head value:
 *    codec/xor.h owns them, the schema only says where they sit.
 *
 * 3. Three ways to read. A typed get (ps_block_get, ps_head_get, ...) finds
 *    one record by its key fields. A scan (ps_scan) walks a table in key
 *    order, from its first entry or from a start key, optionally bounded by a
 *    prefix of key fields; it has the shape of Prometheus's iterators: next()
 *    advances and returns 1 or 0, at() is the current record, err() the
 *    deferred error, and every failure (opening the cursor included) shows up
 *    only there. ps_rec_decode() reads a record from bytes already in hand
 *    (the writer's cached head copy; tests).
 *
 * 4. Records that do not decode. To the engine, an entry of the wrong shape
 *    is damage: a get gives PROMSTORE_E_CORRUPT with a message naming the
 *    table and what is wrong, and a scan ends with that error. Readers that
 *    always stopped quietly at such an entry keep doing so with
 *    PS_SCAN_END_AT_BAD, and those that only ever looked at keys with
 *    PS_SCAN_END_AT_BAD_KEY. Whoever must go on past damage (the checker,
 *    retention) asks to see such entries (PS_SCAN_SHOW_BAD, or a ps_bad to
 *    ps_rec_get): the entry is then returned with what could be read of it,
 *    and the ps_bad says whether its key or its value is bad and why.
 *    Backend errors (I/O, a bad page) are never turned into bad records:
 *    they are the status.
 *
 * 5. Lifetime of bytes. Records hold views (pointer + length) into the
 *    backend's memory for their variable parts: labels keys, id lists,
 *    postings pairs, chunk bytes, appender states. As backend.h says, bytes
 *    from a get are valid until the next get, put or del in the same
 *    transaction or its end; bytes from a scan until that scan moves again,
 *    a write in the transaction, or its end. Copy what you keep.
 *
 * 6. Threads. A ps_schema is set up by one thread (ps_schema_init, _open,
 *    ps_schema_open_table) and then shared: its fixed table handles do not
 *    change, and the cache of block-table handles has its own mutex, so any
 *    thread may call any function with its own transaction. A transaction,
 *    and every scan on it, is used by one thread at a time (backend.h).
 *
 * 7. The format evolves by version. PS_FORMAT_VERSION is written to the
 *    FORMAT file and the meta "format" record of every new store. Any change
 *    to a layout of docs/format/ is a new version; a reader of version N
 *    refuses a store of any other version with a message naming the version
 *    it found (the FORMAT file is checked first, by store.c and check.c;
 *    then ps_meta_format_check, PROMSTORE_E_UNSUPPORTED), and never reads it
 *    as its own. docs/format/README.md gives the rule in full.
 */
#ifndef PS_SCHEMA_H
#define PS_SCHEMA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "keys.h"
#include "labels.h"
#include "promstore.h"
#include "xor.h"

/* The version in FORMAT ("promstore 1 <backend>") and in meta "format". */
#define PS_FORMAT_VERSION 1
#define PS_FORMAT_VERSION_TEXT "1"

/* Chunks are cut at this many samples, as Prometheus does. */
#define PS_CHUNK_SAMPLES 120
/* And before they outgrow this many bytes (Prometheus's MaxBytesPerXORChunk). */
#define PS_CHUNK_MAX_BYTES 1024
/* The most bytes a stored chunk holds: the cut size plus one worst-case sample. */
#define PS_CHUNK_CAP (PS_CHUNK_MAX_BYTES + 32)
/* series_key keys longer than PS_SKEY_MAX are cut to PS_SKEY_PREFIX bytes + a hash. */
#define PS_SKEY_MAX 440
#define PS_SKEY_PREFIX 432
/* A postings pair must fit in a key with its series id. */
#define PS_PAIR_MAX (PS_BACKEND_MAX_KEY - 8)
/* Bytes of a head value before its chunk (mint, maxt, appender state). */
#define PS_HEAD_HDR (16 + PS_XOR_STATE_BYTES)
/* The largest head value: for buffers that ps_head_encode writes into. */
#define PS_HEAD_VALUE_MAX (PS_HEAD_HDR + PS_CHUNK_CAP)

/* --- tables ------------------------------------------------------------------------ */

/* What a table holds. The kinds before PS_T_BLK are the fixed tables, one each. */
typedef enum ps_kind {
    PS_T_META,
    PS_T_SERIES,
    PS_T_SERIES_KEY,
    PS_T_POSTINGS,
    PS_T_HEAD,
    PS_T_LASTBLK,
    PS_T_BLOCKS,
    PS_T_OOO,
    PS_T_BLK /* a block table blk.<slot>: there are many */
} ps_kind;
#define PS_T_FIXED PS_T_BLK

/* The backend of one store and its tables. */
typedef struct ps_schema {
    const ps_backend_methods *bm;
    ps_backend *be;
    ps_table t[PS_T_FIXED]; /* by kind, once ps_schema_open_table has found them */
    /* Block tables by slot, opened lazily; guarded by slot_mu. */
    pthread_mutex_t slot_mu;
    ps_table *slot_tables;
    uint8_t *slot_open;
    uint32_t n_slots;
} ps_schema;

/* The name of a fixed table ("meta", "series", ...), or "block table" for PS_T_BLK. */
const char *ps_kind_name(ps_kind kind);

/* Set up s for backend bm (which may be NULL until ps_schema_open). */
void ps_schema_init(ps_schema *s, const ps_backend_methods *bm);
/* Open the backend's store in directory dir. */
promstore_status ps_schema_open(ps_schema *s, const char *dir, const ps_backend_config *cfg,
                                promstore_error *err);
/* Close the backend (if open) and free what init and the slot cache hold. */
void ps_schema_close(ps_schema *s);
/* Find fixed table `kind` (create != 0: creating it) into s->t[kind]; NOT_FOUND if missing. */
promstore_status ps_schema_open_table(ps_schema *s, ps_txn *txn, ps_kind kind, int create,
                                      promstore_error *err);

/* Transactions and the backend's own methods (backend.h says what each does). */
promstore_status ps_txn_begin(ps_schema *s, int write, ps_txn **out, promstore_error *err);
promstore_status ps_txn_commit(ps_schema *s, ps_txn *txn, promstore_error *err);
void ps_txn_abort(ps_schema *s, ps_txn *txn); /* NULL is a no-op */
promstore_status ps_schema_space(ps_schema *s, ps_backend_space *out, promstore_error *err);
/* The backend's integrity method; PROMSTORE_OK without a call when it has none. */
promstore_status ps_schema_integrity(ps_schema *s, ps_txn *txn, ps_integrity_fn report, void *ctx,
                                     promstore_error *err);

/* --- records ------------------------------------------------------------------------ */

/* The meta records. */
typedef enum ps_meta_key {
    PS_META_FORMAT,
    PS_META_BLOCK_MS,
    PS_META_NEXT_ID,
    PS_META_STATS,
    PS_META_N
} ps_meta_key;

/* The record's name in meta ("format", "block_ms", ...). */
const char *ps_meta_name(ps_meta_key key);

typedef struct ps_stats_rec {
    uint64_t series;
    uint64_t samples;
    uint64_t chunks;
    int64_t min_time;
    int64_t max_time;
} ps_stats_rec;

typedef struct ps_meta_rec {
    ps_meta_key key;
    uint64_t u64;       /* PS_META_BLOCK_MS, PS_META_NEXT_ID */
    ps_stats_rec stats; /* PS_META_STATS */
    const char *text;   /* PS_META_FORMAT: the version as stored */
    size_t text_len;
} ps_meta_rec;

/* series: a series id and the labels key of its label set (labels.h). */
typedef struct ps_series_rec {
    uint64_t id;
    const uint8_t *key;
    size_t key_len;
} ps_series_rec;

/* series_key: a key (ps_skey_encode) and the ids filed under it. */
typedef struct ps_skey_rec {
    const uint8_t *skey;
    size_t skey_len;
    int shared;         /* the key may stand for several label sets: a cut key,
                           or a whole key as long as one; compare full keys */
    const uint8_t *ids; /* n_ids ids as stored; read them with ps_skey_id */
    size_t n_ids;
} ps_skey_rec;

/* postings: a pair (ps_pair_encode) and a series id; the value is empty. */
typedef struct ps_posting_rec {
    const uint8_t *pair; /* esc(name) 00 esc(value) 00; ps_pair_decode splits it */
    size_t pair_len;
    uint64_t id;
} ps_posting_rec;

/* head: a series' open chunk. */
typedef struct ps_head_rec {
    uint64_t id;
    int64_t mint, maxt;   /* its first and last sample */
    const uint8_t *state; /* PS_XOR_STATE_BYTES of appender state (ps_xor_appender_load) */
    const uint8_t *chunk; /* XOR chunk bytes */
    size_t chunk_len;
} ps_head_rec;

/* lastblk: the block of a series' newest data; the value is empty. */
typedef struct ps_lastblk_rec {
    int64_t blk;
    uint64_t id;
} ps_lastblk_rec;

/* blocks: a time block (t / block_ms, floored), its table slot and counters. */
typedef struct ps_block_rec {
    int64_t blk;
    uint32_t slot;
    uint64_t samples, chunks, bytes;
} ps_block_rec;

/* blk.<slot>: one sealed chunk of a series. */
typedef struct ps_chunk_rec {
    uint64_t id;
    int64_t mint, maxt;
    const uint8_t *data; /* XOR chunk bytes */
    size_t len;
} ps_chunk_rec;

/* ooo: one out-of-order sample, filed under its block. */
typedef struct ps_ooo_rec {
    int64_t blk;
    uint64_t id;
    int64_t t;
    uint64_t value; /* the value's bits */
} ps_ooo_rec;

/* A record of any table: the member named after its kind. */
typedef union ps_rec {
    ps_meta_rec meta;
    ps_series_rec series;
    ps_skey_rec skey;
    ps_posting_rec posting;
    ps_head_rec head;
    ps_lastblk_rec lastblk;
    ps_block_rec block;
    ps_chunk_rec chunk;
    ps_ooo_rec ooo;
} ps_rec;

/* What is wrong with an entry that does not decode (note 4). */
enum { PS_BAD_KEY = 1, PS_BAD_VALUE = 2 };
typedef struct ps_bad {
    int what;      /* 0 (the entry decodes), PS_BAD_KEY or PS_BAD_VALUE */
    char why[200]; /* e.g. "key of 9 bytes, not an 8-byte series id" */
} ps_bad;

/*
 * Key fields of each kind, in key order (a scan's prefix counts them):
 * meta: name; series, head: id; series_key: skey; postings: name, value, id;
 * lastblk: blk, id; blocks: blk; blk.<slot>: id, mint; ooo: blk, id, t.
 */

/* Encode r's key into out (PS_BACKEND_MAX_KEY bytes); its length, 0 if it does not fit. */
size_t ps_rec_key(ps_kind kind, const ps_rec *r, uint8_t *out);
/* Encode r's value into out (cap bytes); its length, or SIZE_MAX if it does not fit. */
size_t ps_rec_value(ps_kind kind, const ps_rec *r, uint8_t *out, size_t cap);
/*
 * Decode an entry into *out (views into k and v). 0, or PS_BAD_KEY /
 * PS_BAD_VALUE with bad (if not NULL) saying why; *out then holds the fields
 * that could be read and zeros: a key's leading whole fields, and of a value
 * too short for its record the leading whole fields it has (a block's slot,
 * a chunk's maxt, a head's mint and maxt), views and lengths left empty.
 */
int ps_rec_decode(ps_kind kind, const void *k, size_t kl, const void *v, size_t vl, ps_rec *out,
                  ps_bad *bad);

/*
 * Get the record of fixed table `kind` whose key fields are key's. 0 and
 * *out; PROMSTORE_E_NOT_FOUND; PROMSTORE_E_CORRUPT when it does not decode,
 * unless bad != NULL: then 0 with bad->what set (note 4); or a backend error.
 */
promstore_status ps_rec_get(ps_schema *s, ps_txn *txn, ps_kind kind, const ps_rec *key, ps_rec *out,
                            ps_bad *bad, promstore_error *err);

/* --- typed reads and writes, table by table ----------------------------------------------- */

/*
 * The version of the store: PROMSTORE_OK if it is PS_FORMAT_VERSION;
 * PROMSTORE_E_NOT_FOUND if there is no format record (never initialised);
 * PROMSTORE_E_UNSUPPORTED, naming the version found, for any other.
 */
promstore_status ps_meta_format_check(ps_schema *s, ps_txn *txn, promstore_error *err);
/* Write the meta records of a new store: format, block_ms, next_id = 1. */
promstore_status ps_meta_init(ps_schema *s, ps_txn *txn, uint64_t block_ms, promstore_error *err);
/* block_ms or next_id. */
promstore_status ps_meta_u64_get(ps_schema *s, ps_txn *txn, ps_meta_key key, uint64_t *out,
                                 promstore_error *err);
promstore_status ps_meta_u64_put(ps_schema *s, ps_txn *txn, ps_meta_key key, uint64_t v,
                                 promstore_error *err);
/* The stats record; PROMSTORE_E_NOT_FOUND in a store that has none yet (*out zeroed). */
promstore_status ps_stats_get(ps_schema *s, ps_txn *txn, ps_stats_rec *out, promstore_error *err);
promstore_status ps_stats_put(ps_schema *s, ps_txn *txn, const ps_stats_rec *st,
                              promstore_error *err);

promstore_status ps_series_get(ps_schema *s, ps_txn *txn, uint64_t id, ps_series_rec *out,
                               promstore_error *err);
promstore_status ps_series_put(ps_schema *s, ps_txn *txn, const ps_series_rec *r,
                               promstore_error *err);
promstore_status ps_series_del(ps_schema *s, ps_txn *txn, uint64_t id, promstore_error *err);

/* 64-bit hash of bytes: the hash of a cut series_key key (and the writer's cache). */
uint64_t ps_hash64(const void *p, size_t n);
/* The series_key key of a labels key into out (PS_SKEY_MAX bytes); its length. */
size_t ps_skey_encode(const uint8_t *key, size_t klen, uint8_t *out);
/* A key's entry; its ids stay valid as note 5 says. */
promstore_status ps_skey_get(ps_schema *s, ps_txn *txn, const uint8_t *skey, size_t sklen,
                             ps_skey_rec *out, promstore_error *err);
/* File ids[0..n) (n >= 1) under skey, replacing what was there. */
promstore_status ps_skey_put(ps_schema *s, ps_txn *txn, const uint8_t *skey, size_t sklen,
                             const uint64_t *ids, size_t n, promstore_error *err);
/* Take id out of skey's list; the entry goes with its last id. A missing entry is no error. */
promstore_status ps_skey_remove_id(ps_schema *s, ps_txn *txn, const uint8_t *skey, size_t sklen,
                                   uint64_t id, promstore_error *err);
static inline uint64_t ps_skey_id(const ps_skey_rec *r, size_t i)
{
    return ps_get_u64(r->ids + 8 * i);
}

/* Bytes ps_pair_encode needs for a pair. */
size_t ps_pair_size(const char *name, size_t nlen, const char *value, size_t vlen);
/* Postings pair esc(name) 00 esc(value) 00 into out (cap bytes); its length, 0 if too long. */
size_t ps_pair_encode(const char *name, size_t nlen, const char *value, size_t vlen,
                      uint8_t *out, size_t cap);
/*
 * Split a pair into name and value (value NULL: the name only), each
 * NUL-terminated into a buffer of at least pair_len bytes. Returns the bytes
 * the strings took, which is pair_len for a well-formed pair, or -1 if they
 * do not decode.
 */
long ps_pair_decode(const uint8_t *pair, size_t pair_len, char *name, size_t *nl, char *value,
                    size_t *vl);
/* The length of a postings entry's key (for messages). */
static inline size_t ps_posting_key_len(const ps_posting_rec *r)
{
    return r->pair_len + 8;
}
/*
 * The postings entry of label l (NULL: the all-series pair) for series id.
 * A pair too long for a key (longer than PS_PAIR_MAX) is PROMSTORE_E_BAD_LABELS.
 */
promstore_status ps_posting_get(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                promstore_error *err);
promstore_status ps_posting_put(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                promstore_error *err);
promstore_status ps_posting_del(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                promstore_error *err);

/*
 * A head value for an appender whose chunk, a->len bytes at chunk, began at
 * mint; out holds PS_HEAD_VALUE_MAX bytes. Returns the value's length. Inline:
 * the writer encodes one per series per batch.
 */
static inline size_t ps_head_encode(uint8_t *out, int64_t mint, const ps_xor_appender *a,
                                    const uint8_t *chunk)
{
    ps_put_time(out, mint);
    ps_put_time(out + 8, a->t);
    ps_xor_appender_save(a, out + 16);
    memcpy(out + PS_HEAD_HDR, chunk, a->len);
    return PS_HEAD_HDR + a->len;
}

/* Decode a head value (its id is not in it). 0, or -1 if too short. */
static inline int ps_head_decode(const void *v, size_t vl, ps_head_rec *out)
{
    const uint8_t *p = v;
    if (vl < PS_HEAD_HDR + 2)
        return -1;
    out->mint = ps_get_time(p);
    out->maxt = ps_get_time(p + 8);
    out->state = p + 16;
    out->chunk = p + PS_HEAD_HDR;
    out->chunk_len = vl - PS_HEAD_HDR;
    return 0;
}

promstore_status ps_head_get(ps_schema *s, ps_txn *txn, uint64_t id, ps_head_rec *out,
                             promstore_error *err);
/* Store a value ps_head_encode made as the head of series id. */
promstore_status ps_head_put(ps_schema *s, ps_txn *txn, uint64_t id, const uint8_t *val,
                             size_t vl, promstore_error *err);
promstore_status ps_head_del(ps_schema *s, ps_txn *txn, uint64_t id, promstore_error *err);

promstore_status ps_lastblk_get(ps_schema *s, ps_txn *txn, int64_t blk, uint64_t id,
                                promstore_error *err);
promstore_status ps_lastblk_put(ps_schema *s, ps_txn *txn, int64_t blk, uint64_t id,
                                promstore_error *err);
promstore_status ps_lastblk_del(ps_schema *s, ps_txn *txn, int64_t blk, uint64_t id,
                                promstore_error *err);

promstore_status ps_block_get(ps_schema *s, ps_txn *txn, int64_t blk, ps_block_rec *out,
                              promstore_error *err);
promstore_status ps_block_put(ps_schema *s, ps_txn *txn, const ps_block_rec *r,
                              promstore_error *err);

/* "blk.<slot>" into buf. */
const char *ps_blk_name(uint32_t slot, char *buf, size_t cap);
/*
 * The table of block slot `slot`, opening (create != 0: creating) it;
 * PROMSTORE_E_NOT_FOUND if it does not exist and create is 0. Handles found
 * without creating are cached: a table created in a write transaction is only
 * safe to keep once that commits, so the writer looks it up again next time
 * (cheap: the backend caches names).
 */
promstore_status ps_blk_table(ps_schema *s, ps_txn *txn, uint32_t slot, int create, ps_table *out,
                              promstore_error *err);
/* Empty block table `slot` (retention): the backend frees its pages. */
promstore_status ps_blk_clear(ps_schema *s, ps_txn *txn, uint32_t slot, promstore_error *err);
/* Store sealed chunk r (r->len <= PS_CHUNK_CAP) in block table t. */
promstore_status ps_chunk_put(ps_schema *s, ps_txn *txn, ps_table t, const ps_chunk_rec *r,
                              promstore_error *err);

/* The sample at r's key (blk, id, t): 0 and r->value, or PROMSTORE_E_NOT_FOUND. */
promstore_status ps_ooo_get(ps_schema *s, ps_txn *txn, ps_ooo_rec *r, promstore_error *err);
promstore_status ps_ooo_put(ps_schema *s, ps_txn *txn, const ps_ooo_rec *r, promstore_error *err);

/* --- scans ----------------------------------------------------------------------------- */

/* What a scan does at an entry that does not decode (note 4). */
enum {
    PS_SCAN_FAIL_BAD = 0,       /* end, err() = PROMSTORE_E_CORRUPT naming the entry */
    PS_SCAN_END_AT_BAD = 1,     /* end quietly, err() = PROMSTORE_OK */
    PS_SCAN_SHOW_BAD = 2,       /* return it; ps_scan_bad() says what is wrong */
    PS_SCAN_END_AT_BAD_KEY = 3  /* end quietly at a bad key; return a bad value, as SHOW_BAD */
};

/*
 * A walk over one table in key order. Use:
 *
 *     ps_scan sc;
 *     ps_scan_open(&sc, s, txn, PS_T_BLOCKS, PS_SCAN_FAIL_BAD, err);
 *     ps_scan_seek(&sc, &(ps_rec){.block = {.blk = from}}, 0);    (optional)
 *     while (ps_scan_next(&sc)) {
 *         const ps_block_rec *b = &ps_scan_at(&sc)->block;
 *         ...
 *     }
 *     rc = ps_scan_close(&sc);   (the deferred error, also ps_scan_err())
 *
 * Without a seek the first next() gives the table's first entry. The struct
 * is the caller's (no allocation beyond the backend's cursor); its fields are
 * private to schema.c.
 */
typedef struct ps_scan {
    ps_schema *s;
    ps_txn *txn;
    ps_cursor *cur;
    promstore_error *err;
    promstore_status rc;
    ps_kind kind;
    int mode;
    int move; /* what the next ps_scan_next does */
    const uint8_t *k; /* the current entry's key */
    size_t kl;
    ps_rec at;
    ps_bad bad;
    size_t plen, slen;
    uint8_t prefix[PS_BACKEND_MAX_KEY];
    uint8_t seek[PS_BACKEND_MAX_KEY];
} ps_scan;

/* Open a scan of fixed table `kind`; mode is a PS_SCAN_* value. Errors are deferred. */
void ps_scan_open(ps_scan *sc, ps_schema *s, ps_txn *txn, ps_kind kind, int mode,
                  promstore_error *err);
/* Open a scan of block table t (ps_blk_table). */
void ps_scan_open_blk(ps_scan *sc, ps_schema *s, ps_txn *txn, ps_table t, int mode,
                      promstore_error *err);
/*
 * Make the next ps_scan_next go to the first entry at or after from's key
 * (all its key fields), and end the scan at the first entry whose first
 * prefix_fields key fields are not from's (0: no bound).
 */
void ps_scan_seek(ps_scan *sc, const ps_rec *from, int prefix_fields);
/*
 * Make the next ps_scan_next go past every entry whose first `fields` key
 * fields are the current entry's (a skip-scan: one entry per distinct name,
 * pair or block). Any prefix bound stays.
 */
void ps_scan_skip(ps_scan *sc, int fields);
/* Move on: 1 with a current record, 0 at the end or on an error (ps_scan_err). */
int ps_scan_next(ps_scan *sc);
/* Make the next ps_scan_next return the current record again (a look-ahead put back). */
void ps_scan_unread(ps_scan *sc);
/* Delete the current entry (write transactions); next() goes on to the one after. */
promstore_status ps_scan_del(ps_scan *sc);
/* Close the cursor; returns ps_scan_err(). */
promstore_status ps_scan_close(ps_scan *sc);

/* The current record, valid after ps_scan_next returned 1 (note 5). */
static inline const ps_rec *ps_scan_at(const ps_scan *sc)
{
    return &sc->at;
}

/* With PS_SCAN_SHOW_BAD: what is wrong with the current entry, or NULL if it decodes. */
static inline const ps_bad *ps_scan_bad(const ps_scan *sc)
{
    return sc->bad.what ? &sc->bad : NULL;
}

/* The deferred error: PROMSTORE_OK while the scan runs and after a clean end. */
static inline promstore_status ps_scan_err(const ps_scan *sc)
{
    return sc->rc;
}

#endif /* PS_SCHEMA_H */
