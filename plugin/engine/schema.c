/*
 * schema.c -- every table's keys and values, the typed reads and writes, and
 * the scan (schema.h has the design notes, docs/format/ the layouts).
 *
 * Layouts in one place: the widths below are those docs/format/ draws.
 * Integers in keys are big-endian, times sign-flipped (keys.h), so that
 * memcmp orders keys as the numbers they hold.
 */
#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "mem.h"

#define ID_BYTES 8       /* a series id, u64 */
#define TIME_BYTES 8     /* a timestamp or block number, sign-flipped u64 */
#define STATS_BYTES 40   /* series u64, samples u64, chunks u64, min_t i64, max_t i64 */
#define BLOCK_BYTES 28   /* slot u32, samples u64, chunks u64, bytes u64 */
#define CHUNK_HDR 8      /* a sealed chunk's value: maxt, then the XOR bytes */
#define OOO_KEY_BYTES 24 /* block, id, t */
#define XOR_HDR 2        /* the smallest XOR chunk: its sample count */

/* Block-table handles are cached for slots below this; more blocks never live at once. */
#define SLOT_CACHE_MAX 65536

static const char *const k_kind_names[] = {"meta",    "series", "series_key", "postings", "head",
                                           "lastblk", "blocks", "ooo",        "block table"};
static const char *const k_meta_names[PS_META_N] = {"format", "block_ms", "next_id", "stats"};

const char *ps_kind_name(ps_kind kind)
{
    return k_kind_names[kind];
}

/* --- the backend and its tables ---------------------------------------------------------- */

void ps_schema_init(ps_schema *s, const ps_backend_methods *bm)
{
    memset(s, 0, sizeof *s);
    s->bm = bm;
    pthread_mutex_init(&s->slot_mu, NULL);
}

/* The engine's allocator (mem.h), so that backends allocate through it too. */
static const ps_backend_allocator engine_allocator = {ps_malloc, ps_calloc, ps_realloc, ps_free};

promstore_status ps_schema_open(ps_schema *s, const char *dir, const ps_backend_config *cfg,
                                promstore_error *err)
{
    ps_backend_set_allocator(&engine_allocator);
    return s->bm->open(dir, cfg, &s->be, err);
}

void ps_schema_close(ps_schema *s)
{
    if (s->be)
        s->bm->close(s->be);
    s->be = NULL;
    ps_free(s->slot_tables);
    ps_free(s->slot_open);
    s->slot_tables = NULL;
    s->slot_open = NULL;
    s->n_slots = 0;
    pthread_mutex_destroy(&s->slot_mu);
}

promstore_status ps_schema_open_table(ps_schema *s, ps_txn *txn, ps_kind kind, int create,
                                      promstore_error *err)
{
    return s->bm->table_open(txn, k_kind_names[kind], create, &s->t[kind], err);
}

promstore_status ps_txn_begin(ps_schema *s, int write, ps_txn **out, promstore_error *err)
{
    return s->bm->txn_begin(s->be, write, out, err);
}

promstore_status ps_txn_commit(ps_schema *s, ps_txn *txn, promstore_error *err)
{
    return s->bm->txn_commit(txn, err);
}

void ps_txn_abort(ps_schema *s, ps_txn *txn)
{
    s->bm->txn_abort(txn);
}

promstore_status ps_schema_space(ps_schema *s, ps_backend_space *out, promstore_error *err)
{
    return s->bm->space(s->be, out, err);
}

promstore_status ps_schema_integrity(ps_schema *s, ps_txn *txn, ps_integrity_fn report, void *ctx,
                                     promstore_error *err)
{
    if (s->bm->version < 2 || s->bm->integrity == NULL)
        return PROMSTORE_OK;
    return s->bm->integrity(txn, report, ctx, err);
}

const char *ps_blk_name(uint32_t slot, char *buf, size_t cap)
{
    snprintf(buf, cap, "blk.%u", slot);
    return buf;
}

promstore_status ps_blk_table(ps_schema *s, ps_txn *txn, uint32_t slot, int create, ps_table *out,
                              promstore_error *err)
{
    char name[32];
    /* Slots are taken lowest first; one past this is a damaged record (the check reads those). */
    if (slot >= SLOT_CACHE_MAX)
        return s->bm->table_open(txn, ps_blk_name(slot, name, sizeof name), create, out, err);
    promstore_status rc = PROMSTORE_OK;
    pthread_mutex_lock(&s->slot_mu);
    if (slot >= s->n_slots) {
        uint32_t n = s->n_slots ? s->n_slots : 64;
        while (n <= slot)
            n *= 2;
        ps_table *t = ps_realloc(s->slot_tables, n * sizeof *t);
        uint8_t *o = t ? ps_realloc(s->slot_open, n) : NULL;
        if (t)
            s->slot_tables = t;
        if (o == NULL) {
            rc = ps_fail(err, PROMSTORE_E_NOMEM, "no memory for block table handles");
            goto out;
        }
        memset(o + s->n_slots, 0, n - s->n_slots);
        s->slot_open = o;
        s->n_slots = n;
    }
    if (s->slot_open[slot]) {
        *out = s->slot_tables[slot];
        goto out;
    }
    rc = s->bm->table_open(txn, ps_blk_name(slot, name, sizeof name), create, out, err);
    if (rc == PROMSTORE_OK && !create) {
        s->slot_tables[slot] = *out;
        s->slot_open[slot] = 1;
    }
out:
    pthread_mutex_unlock(&s->slot_mu);
    return rc;
}

promstore_status ps_blk_clear(ps_schema *s, ps_txn *txn, uint32_t slot, promstore_error *err)
{
    ps_table t;
    promstore_status rc = ps_blk_table(s, txn, slot, 1, &t, err);
    return rc ? rc : s->bm->table_clear(txn, t, err);
}

/* --- hashing, series_key, postings pairs -------------------------------------------------- */

uint64_t ps_hash64(const void *p, size_t n)
{
    /*
     * Eight bytes per step, then murmur3's finaliser: this runs for every
     * series of every batch, so a byte-at-a-time hash showed in profiles.
     * Cut series_key keys store it: changing it is a format change.
     */
    const uint8_t *b = p;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (n * UINT64_C(0xff51afd7ed558ccd));
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        w *= UINT64_C(0x87c37b91114253d5);
        w = (w << 31) | (w >> 33);
        h ^= w * UINT64_C(0x4cf5ad432745937f);
        h = ((h << 27) | (h >> 37)) * 5 + UINT64_C(0x52dce729);
    }
    uint64_t tail = 0;
    memcpy(&tail, b, n);
    h ^= tail * UINT64_C(0x87c37b91114253d5);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

size_t ps_skey_encode(const uint8_t *key, size_t klen, uint8_t *out)
{
    if (klen <= PS_SKEY_MAX) {
        memcpy(out, key, klen);
        return klen;
    }
    /*
     * Cut long keys: order among keys that share the prefix is repaired by the
     * reader (series_set.c), and look-ups compare the full key stored in `series`.
     */
    memcpy(out, key, PS_SKEY_PREFIX);
    ps_put_u64(out + PS_SKEY_PREFIX, ps_hash64(key, klen));
    return PS_SKEY_PREFIX + 8;
}

size_t ps_pair_size(const char *name, size_t nlen, const char *value, size_t vlen)
{
    size_t need = nlen + vlen + 2;
    for (size_t i = 0; i < nlen; i++)
        need += (uint8_t)name[i] <= 1;
    for (size_t i = 0; i < vlen; i++)
        need += (uint8_t)value[i] <= 1;
    return need;
}

size_t ps_pair_encode(const char *name, size_t nlen, const char *value, size_t vlen,
                      uint8_t *out, size_t cap)
{
    /* Escaping at most doubles; measure exactly only when that could matter. */
    if (2 * (nlen + vlen) + 2 > cap && ps_pair_size(name, nlen, value, vlen) > cap)
        return 0;
    size_t n = ps_key_string_encode(name, nlen, out);
    n += ps_key_string_encode(value, vlen, out + n);
    return n;
}

long ps_pair_decode(const uint8_t *pair, size_t pair_len, char *name, size_t *nl, char *value,
                    size_t *vl)
{
    size_t pos = 0;
    long n = ps_key_string_decode(pair, pair_len, &pos, name);
    if (n < 0)
        return -1;
    *nl = (size_t)n;
    if (value == NULL)
        return (long)pos;
    long v = ps_key_string_decode(pair, pair_len, &pos, value);
    if (v < 0)
        return -1;
    *vl = (size_t)v;
    return (long)pos;
}

/* --- keys and values ------------------------------------------------------------------------ */

const char *ps_meta_name(ps_meta_key key)
{
    return (unsigned)key < PS_META_N ? k_meta_names[key] : "?";
}

size_t ps_rec_key(ps_kind kind, const ps_rec *r, uint8_t *out)
{
    switch (kind) {
    case PS_T_META: {
        const char *n = ps_meta_name(r->meta.key);
        memcpy(out, n, strlen(n));
        return strlen(n);
    }
    case PS_T_SERIES:
        ps_put_u64(out, r->series.id);
        return ID_BYTES;
    case PS_T_HEAD:
        ps_put_u64(out, r->head.id);
        return ID_BYTES;
    case PS_T_SERIES_KEY:
        if (r->skey.skey_len == 0 || r->skey.skey_len > PS_SKEY_MAX)
            return 0;
        memcpy(out, r->skey.skey, r->skey.skey_len);
        return r->skey.skey_len;
    case PS_T_POSTINGS:
        if (r->posting.pair_len > PS_PAIR_MAX)
            return 0;
        memcpy(out, r->posting.pair, r->posting.pair_len);
        ps_put_u64(out + r->posting.pair_len, r->posting.id);
        return r->posting.pair_len + ID_BYTES;
    case PS_T_LASTBLK:
        ps_put_time(out, r->lastblk.blk);
        ps_put_u64(out + TIME_BYTES, r->lastblk.id);
        return TIME_BYTES + ID_BYTES;
    case PS_T_BLOCKS:
        ps_put_time(out, r->block.blk);
        return TIME_BYTES;
    case PS_T_BLK:
        ps_put_u64(out, r->chunk.id);
        ps_put_time(out + ID_BYTES, r->chunk.mint);
        return ID_BYTES + TIME_BYTES;
    case PS_T_OOO:
        ps_put_time(out, r->ooo.blk);
        ps_put_u64(out + TIME_BYTES, r->ooo.id);
        ps_put_time(out + TIME_BYTES + ID_BYTES, r->ooo.t);
        return OOO_KEY_BYTES;
    }
    return 0;
}

/* Copy n bytes unless they overflow cap: n, or SIZE_MAX. */
static size_t put_bytes(uint8_t *out, size_t at, size_t cap, const void *p, size_t n)
{
    if (at > cap || n > cap - at)
        return SIZE_MAX;
    if (n)
        memcpy(out + at, p, n);
    return at + n;
}

size_t ps_rec_value(ps_kind kind, const ps_rec *r, uint8_t *out, size_t cap)
{
    uint8_t b[STATS_BYTES];
    switch (kind) {
    case PS_T_META:
        if (r->meta.key == PS_META_FORMAT)
            return put_bytes(out, 0, cap, r->meta.text, r->meta.text_len);
        if (r->meta.key != PS_META_STATS) {
            ps_put_u64(b, r->meta.u64);
            return put_bytes(out, 0, cap, b, 8);
        }
        ps_put_u64(b, r->meta.stats.series);
        ps_put_u64(b + 8, r->meta.stats.samples);
        ps_put_u64(b + 16, r->meta.stats.chunks);
        ps_put_u64(b + 24, (uint64_t)r->meta.stats.min_time);
        ps_put_u64(b + 32, (uint64_t)r->meta.stats.max_time);
        return put_bytes(out, 0, cap, b, STATS_BYTES);
    case PS_T_SERIES:
        return put_bytes(out, 0, cap, r->series.key, r->series.key_len);
    case PS_T_SERIES_KEY:
        return put_bytes(out, 0, cap, r->skey.ids, r->skey.n_ids * ID_BYTES);
    case PS_T_POSTINGS:
    case PS_T_LASTBLK:
        return 0;
    case PS_T_HEAD:
        ps_put_time(b, r->head.mint);
        ps_put_time(b + 8, r->head.maxt);
        return put_bytes(out, put_bytes(out, put_bytes(out, 0, cap, b, 16), cap, r->head.state,
                                        PS_XOR_STATE_BYTES),
                         cap, r->head.chunk, r->head.chunk_len);
    case PS_T_BLOCKS:
        ps_put_u32(b, r->block.slot);
        ps_put_u64(b + 4, r->block.samples);
        ps_put_u64(b + 12, r->block.chunks);
        ps_put_u64(b + 20, r->block.bytes);
        return put_bytes(out, 0, cap, b, BLOCK_BYTES);
    case PS_T_BLK:
        ps_put_time(b, r->chunk.maxt);
        return put_bytes(out, put_bytes(out, 0, cap, b, CHUNK_HDR), cap, r->chunk.data,
                         r->chunk.len);
    case PS_T_OOO:
        ps_put_u64(b, r->ooo.value);
        return put_bytes(out, 0, cap, b, 8);
    }
    return SIZE_MAX;
}

/* Record a bad entry: what (PS_BAD_*), and why when the caller wants to know. */
static int bad_entry(ps_bad *bad, int what, const char *fmt, ...) PS_PRINTF(3, 4);

static int bad_entry(ps_bad *bad, int what, const char *fmt, ...)
{
    if (bad != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(bad->why, sizeof bad->why, fmt, ap);
        va_end(ap);
        bad->what = what;
    }
    return what;
}

static int decode_meta(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, ps_meta_rec *m,
                       ps_bad *bad)
{
    m->key = PS_META_N;
    for (int i = 0; i < PS_META_N; i++)
        if (strlen(k_meta_names[i]) == kl && memcmp(k, k_meta_names[i], kl) == 0)
            m->key = (ps_meta_key)i;
    switch (m->key) {
    case PS_META_FORMAT:
        m->text = (const char *)v;
        m->text_len = vl;
        return 0;
    case PS_META_BLOCK_MS:
    case PS_META_NEXT_ID:
        if (vl != 8)
            return bad_entry(bad, PS_BAD_VALUE, "\"%s\" record has %zu bytes, not 8",
                             k_meta_names[m->key], vl);
        m->u64 = ps_get_u64(v);
        return 0;
    case PS_META_STATS:
        if (vl != STATS_BYTES)
            return bad_entry(bad, PS_BAD_VALUE, "\"stats\" record has %zu bytes, not %d", vl,
                             STATS_BYTES);
        m->stats.series = ps_get_u64(v);
        m->stats.samples = ps_get_u64(v + 8);
        m->stats.chunks = ps_get_u64(v + 16);
        m->stats.min_time = (int64_t)ps_get_u64(v + 24);
        m->stats.max_time = (int64_t)ps_get_u64(v + 32);
        return 0;
    case PS_META_N:
        break;
    }
    return bad_entry(bad, PS_BAD_KEY, "unknown record of a %zu-byte name", kl);
}

int ps_rec_decode(ps_kind kind, const void *key, size_t kl, const void *val, size_t vl, ps_rec *out,
                  ps_bad *bad)
{
    const uint8_t *k = key, *v = val;
    switch (kind) {
    case PS_T_META:
        memset(&out->meta, 0, sizeof out->meta);
        return decode_meta(k, kl, v, vl, &out->meta, bad);
    case PS_T_SERIES:
        out->series.id = kl >= ID_BYTES ? ps_get_u64(k) : 0;
        out->series.key = v;
        out->series.key_len = vl;
        if (kl != ID_BYTES)
            return bad_entry(bad, PS_BAD_KEY, "key of %zu bytes, not an 8-byte series id", kl);
        return 0;
    case PS_T_SERIES_KEY:
        out->skey = (ps_skey_rec){k, kl, kl == PS_SKEY_MAX, v, vl / ID_BYTES};
        if (kl == 0 || kl > PS_SKEY_MAX || vl == 0 || vl % ID_BYTES != 0)
            return bad_entry(bad, kl == 0 || kl > PS_SKEY_MAX ? PS_BAD_KEY : PS_BAD_VALUE,
                             "entry with a key of %zu bytes (at most %d) and a value of %zu "
                             "bytes (a list of 8-byte ids)",
                             kl, PS_SKEY_MAX, vl);
        return 0;
    case PS_T_POSTINGS:
        if (kl < XOR_HDR + ID_BYTES) {
            out->posting = (ps_posting_rec){k, 0, 0};
            return bad_entry(bad, PS_BAD_KEY,
                             "entry of %zu bytes is not an escaped name, value and series id", kl);
        }
        out->posting = (ps_posting_rec){k, kl - ID_BYTES, ps_get_u64(k + kl - ID_BYTES)};
        return 0;
    case PS_T_HEAD:
        memset(&out->head, 0, sizeof out->head);
        out->head.id = kl >= ID_BYTES ? ps_get_u64(k) : 0;
        if (kl != ID_BYTES)
            return bad_entry(bad, PS_BAD_KEY, "key of %zu bytes, not an 8-byte series id", kl);
        if (ps_head_decode(v, vl, &out->head) != 0) {
            out->head.mint = vl >= 8 ? ps_get_time(v) : 0;
            out->head.maxt = vl >= 16 ? ps_get_time(v + 8) : 0;
            return bad_entry(bad, PS_BAD_VALUE,
                             "open chunk of series %llu: value of %zu bytes, shorter than its "
                             "%d-byte header and a chunk header",
                             (unsigned long long)out->head.id, vl, PS_HEAD_HDR);
        }
        return 0;
    case PS_T_LASTBLK:
        out->lastblk.blk = kl >= TIME_BYTES ? ps_get_time(k) : 0;
        out->lastblk.id = kl >= TIME_BYTES + ID_BYTES ? ps_get_u64(k + TIME_BYTES) : 0;
        if (kl != TIME_BYTES + ID_BYTES)
            return bad_entry(bad, PS_BAD_KEY, "key of %zu bytes, not 16 (block + series id)", kl);
        return 0;
    case PS_T_BLOCKS:
        memset(&out->block, 0, sizeof out->block);
        out->block.blk = kl == TIME_BYTES ? ps_get_time(k) : 0;
        out->block.slot = vl >= 4 ? ps_get_u32(v) : 0;
        if (kl != TIME_BYTES || vl != BLOCK_BYTES)
            return bad_entry(bad, kl != TIME_BYTES ? PS_BAD_KEY : PS_BAD_VALUE,
                             "record of %zu/%zu bytes (key/value), not %d/%d", kl, vl, TIME_BYTES,
                             BLOCK_BYTES);
        out->block.samples = ps_get_u64(v + 4);
        out->block.chunks = ps_get_u64(v + 12);
        out->block.bytes = ps_get_u64(v + 20);
        return 0;
    case PS_T_BLK:
        memset(&out->chunk, 0, sizeof out->chunk);
        out->chunk.id = kl >= ID_BYTES ? ps_get_u64(k) : 0;
        if (kl != ID_BYTES + TIME_BYTES)
            return bad_entry(bad, PS_BAD_KEY, "key of %zu bytes, not 16 (series id + min time)",
                             kl);
        out->chunk.mint = ps_get_time(k + ID_BYTES);
        out->chunk.maxt = vl >= CHUNK_HDR ? ps_get_time(v) : 0;
        if (vl < CHUNK_HDR + XOR_HDR)
            return bad_entry(bad, PS_BAD_VALUE,
                             "chunk at %lld of series %llu: value of %zu bytes, too short for a "
                             "max time and a chunk header",
                             (long long)out->chunk.mint, (unsigned long long)out->chunk.id, vl);
        out->chunk.data = v + CHUNK_HDR;
        out->chunk.len = vl - CHUNK_HDR;
        return 0;
    case PS_T_OOO:
        out->ooo.blk = kl >= TIME_BYTES ? ps_get_time(k) : 0;
        out->ooo.id = kl >= TIME_BYTES + ID_BYTES ? ps_get_u64(k + TIME_BYTES) : 0;
        out->ooo.t = kl == OOO_KEY_BYTES ? ps_get_time(k + TIME_BYTES + ID_BYTES) : 0;
        out->ooo.value = vl == 8 ? ps_get_u64(v) : 0;
        if (kl != OOO_KEY_BYTES || vl != 8)
            return bad_entry(bad, kl != OOO_KEY_BYTES ? PS_BAD_KEY : PS_BAD_VALUE,
                             "entry of %zu/%zu bytes (key/value), not %d/8", kl, vl,
                             OOO_KEY_BYTES);
        return 0;
    }
    return bad_entry(bad, PS_BAD_KEY, "no such table");
}

/*
 * Bytes of the first `fields` key fields of key k (kl bytes): fixed widths,
 * or for postings the escaped strings up to each terminator (an escaped
 * string holds no 00 byte but its terminator).
 */
static size_t fields_len(ps_kind kind, const uint8_t *k, size_t kl, int fields)
{
    size_t n = kl;
    if (fields <= 0)
        return 0;
    switch (kind) {
    case PS_T_POSTINGS: {
        const uint8_t *t1 = memchr(k, 0, kl);
        const uint8_t *t2 = t1 ? memchr(t1 + 1, 0, kl - (size_t)(t1 + 1 - k)) : NULL;
        if (fields == 1 && t1)
            n = (size_t)(t1 + 1 - k);
        else if (fields == 2 && t2)
            n = (size_t)(t2 + 1 - k);
        break;
    }
    case PS_T_LASTBLK:
    case PS_T_BLK:
    case PS_T_OOO:
        n = (size_t)fields * 8; /* each key field of these is 8 bytes wide */
        break;
    default:
        break; /* one key field: the whole key */
    }
    return n < kl ? n : kl;
}

/* --- point reads and writes ------------------------------------------------------------------ */

promstore_status ps_rec_get(ps_schema *s, ps_txn *txn, ps_kind kind, const ps_rec *key, ps_rec *out,
                            ps_bad *bad, promstore_error *err)
{
    uint8_t k[PS_BACKEND_MAX_KEY];
    const void *v;
    size_t vl, kl = ps_rec_key(kind, key, k);
    if (kl == 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "%s: key does not fit", k_kind_names[kind]);
    /* The key's own views (out may be key): decoding would point them at k. */
    const uint8_t *view = kind == PS_T_SERIES_KEY ? key->skey.skey
                          : kind == PS_T_POSTINGS ? key->posting.pair
                                                  : NULL;
    promstore_status rc = s->bm->get(txn, s->t[kind], k, kl, &v, &vl, err);
    if (rc)
        return rc;
    ps_bad local;
    local.what = 0;
    if (bad)
        bad->what = 0;
    int b = ps_rec_decode(kind, k, kl, v, vl, out, bad ? bad : &local);
    if (kind == PS_T_SERIES_KEY)
        out->skey.skey = view;
    else if (kind == PS_T_POSTINGS)
        out->posting.pair = view;
    if (b != 0 && bad == NULL)
        return ps_fail(err, PROMSTORE_E_CORRUPT, "%s: %s", k_kind_names[kind], local.why);
    return PROMSTORE_OK;
}

/* Put record r into table t; values that are views go as they are. */
static promstore_status put_rec(ps_schema *s, ps_txn *txn, ps_kind kind, ps_table t, const ps_rec *r,
                                promstore_error *err)
{
    uint8_t k[PS_BACKEND_MAX_KEY], v[PS_HEAD_VALUE_MAX];
    size_t kl = ps_rec_key(kind, r, k);
    const void *val = v;
    size_t vl;
    if (kl == 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "%s: key does not fit", k_kind_names[kind]);
    if (kind == PS_T_SERIES) {
        val = r->series.key;
        vl = r->series.key_len;
    } else if ((vl = ps_rec_value(kind, r, v, sizeof v)) == SIZE_MAX) {
        return ps_fail(err, PROMSTORE_E_INVALID, "%s: value too long", k_kind_names[kind]);
    }
    return s->bm->put(txn, t, k, kl, val, vl, err);
}

static promstore_status del_rec(ps_schema *s, ps_txn *txn, ps_kind kind, const ps_rec *r,
                                promstore_error *err)
{
    uint8_t k[PS_BACKEND_MAX_KEY];
    size_t kl = ps_rec_key(kind, r, k);
    if (kl == 0)
        return ps_fail(err, PROMSTORE_E_INVALID, "%s: key does not fit", k_kind_names[kind]);
    return s->bm->del(txn, s->t[kind], k, kl, err);
}

/* Get the record with r's key into r, then copy its member (size bytes) to out. */
static promstore_status get_member(ps_schema *s, ps_txn *txn, ps_kind kind, ps_rec *r, void *out,
                                   size_t size, promstore_error *err)
{
    promstore_status rc = ps_rec_get(s, txn, kind, r, r, NULL, err);
    if (rc == PROMSTORE_OK)
        memcpy(out, r, size); /* every member starts the union */
    return rc;
}

promstore_status ps_meta_format_check(ps_schema *s, ps_txn *txn, promstore_error *err)
{
    ps_rec r = {.meta = {.key = PS_META_FORMAT}};
    promstore_status rc = ps_rec_get(s, txn, PS_T_META, &r, &r, NULL, err);
    if (rc)
        return rc;
    const ps_meta_rec *m = &r.meta;
    if (m->text_len == strlen(PS_FORMAT_VERSION_TEXT) &&
        memcmp(m->text, PS_FORMAT_VERSION_TEXT, m->text_len) == 0)
        return PROMSTORE_OK;
    return ps_fail(err, PROMSTORE_E_UNSUPPORTED,
                   "store format \"%.*s\" is not supported: this library reads format %d",
                   (int)(m->text_len < 16 ? m->text_len : 16), m->text, PS_FORMAT_VERSION);
}

promstore_status ps_meta_init(ps_schema *s, ps_txn *txn, uint64_t block_ms, promstore_error *err)
{
    ps_rec f = {.meta = {.key = PS_META_FORMAT, .text = PS_FORMAT_VERSION_TEXT,
                         .text_len = strlen(PS_FORMAT_VERSION_TEXT)}};
    promstore_status rc = put_rec(s, txn, PS_T_META, s->t[PS_T_META], &f, err);
    if (rc == PROMSTORE_OK)
        rc = ps_meta_u64_put(s, txn, PS_META_BLOCK_MS, block_ms, err);
    if (rc == PROMSTORE_OK)
        rc = ps_meta_u64_put(s, txn, PS_META_NEXT_ID, 1, err);
    return rc;
}

promstore_status ps_meta_u64_get(ps_schema *s, ps_txn *txn, ps_meta_key key, uint64_t *out,
                                 promstore_error *err)
{
    ps_rec r = {.meta = {.key = key}};
    promstore_status rc = ps_rec_get(s, txn, PS_T_META, &r, &r, NULL, err);
    if (rc == PROMSTORE_OK)
        *out = r.meta.u64;
    return rc;
}

promstore_status ps_meta_u64_put(ps_schema *s, ps_txn *txn, ps_meta_key key, uint64_t v,
                                 promstore_error *err)
{
    ps_rec r = {.meta = {.key = key, .u64 = v}};
    return put_rec(s, txn, PS_T_META, s->t[PS_T_META], &r, err);
}

promstore_status ps_stats_get(ps_schema *s, ps_txn *txn, ps_stats_rec *out, promstore_error *err)
{
    ps_rec r = {.meta = {.key = PS_META_STATS}};
    promstore_status rc = ps_rec_get(s, txn, PS_T_META, &r, &r, NULL, err);
    memset(out, 0, sizeof *out);
    if (rc == PROMSTORE_OK)
        *out = r.meta.stats;
    return rc;
}

promstore_status ps_stats_put(ps_schema *s, ps_txn *txn, const ps_stats_rec *st,
                              promstore_error *err)
{
    ps_rec r = {.meta = {.key = PS_META_STATS, .stats = *st}};
    return put_rec(s, txn, PS_T_META, s->t[PS_T_META], &r, err);
}

promstore_status ps_series_get(ps_schema *s, ps_txn *txn, uint64_t id, ps_series_rec *out,
                               promstore_error *err)
{
    return get_member(s, txn, PS_T_SERIES, &(ps_rec){.series = {.id = id}}, out, sizeof *out, err);
}

promstore_status ps_series_put(ps_schema *s, ps_txn *txn, const ps_series_rec *r,
                               promstore_error *err)
{
    ps_rec x = {.series = *r};
    return put_rec(s, txn, PS_T_SERIES, s->t[PS_T_SERIES], &x, err);
}

promstore_status ps_series_del(ps_schema *s, ps_txn *txn, uint64_t id, promstore_error *err)
{
    return del_rec(s, txn, PS_T_SERIES, &(ps_rec){.series = {.id = id}}, err);
}

promstore_status ps_skey_get(ps_schema *s, ps_txn *txn, const uint8_t *skey, size_t sklen,
                             ps_skey_rec *out, promstore_error *err)
{
    ps_rec r = {.skey = {.skey = skey, .skey_len = sklen}};
    return get_member(s, txn, PS_T_SERIES_KEY, &r, out, sizeof *out, err);
}

promstore_status ps_skey_put(ps_schema *s, ps_txn *txn, const uint8_t *skey, size_t sklen,
                             const uint64_t *ids, size_t n, promstore_error *err)
{
    /* Lists are one id, or a few under a cut key: the stack holds them. */
    uint8_t local[32 * ID_BYTES];
    uint8_t *b = n <= 32 ? local : ps_malloc(n * ID_BYTES);
    if (b == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory for %zu series ids", n);
    for (size_t i = 0; i < n; i++)
        ps_put_u64(b + i * ID_BYTES, ids[i]);
    ps_rec r = {.skey = {skey, sklen, 0, b, n}};
    promstore_status rc = put_rec(s, txn, PS_T_SERIES_KEY, s->t[PS_T_SERIES_KEY], &r, err);
    if (b != local)
        ps_free(b);
    return rc;
}

promstore_status ps_skey_remove_id(ps_schema *s, ps_txn *txn, const uint8_t *skey, size_t sklen,
                                   uint64_t id, promstore_error *err)
{
    ps_rec key = {.skey = {.skey = skey, .skey_len = sklen}}, got;
    ps_bad bad; /* a damaged list keeps its whole ids: retention must get past it */
    promstore_status rc = ps_rec_get(s, txn, PS_T_SERIES_KEY, &key, &got, &bad, err);
    if (rc)
        return rc == PROMSTORE_E_NOT_FOUND ? PROMSTORE_OK : rc;
    const ps_skey_rec r = got.skey;
    if (r.n_ids <= 1)
        return del_rec(s, txn, PS_T_SERIES_KEY, &key, err);
    uint8_t *rest = ps_malloc(r.n_ids * ID_BYTES);
    if (rest == NULL)
        return ps_fail(err, PROMSTORE_E_NOMEM, "no memory");
    size_t n = 0;
    for (size_t i = 0; i < r.n_ids; i++)
        if (ps_skey_id(&r, i) != id)
            memcpy(rest + n * ID_BYTES, r.ids + i * ID_BYTES, ID_BYTES), n++;
    key.skey.ids = rest;
    key.skey.n_ids = n;
    rc = n ? put_rec(s, txn, PS_T_SERIES_KEY, s->t[PS_T_SERIES_KEY], &key, err)
           : del_rec(s, txn, PS_T_SERIES_KEY, &key, err);
    ps_free(rest);
    return rc;
}

enum { OP_GET, OP_PUT, OP_DEL };

/* Get, put or delete the postings entry of label l (NULL: the all-series pair) and id. */
static promstore_status posting_op(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                   int op, promstore_error *err)
{
    uint8_t pair[PS_PAIR_MAX];
    const char *n = l ? l->name : "", *v = l ? l->value : "";
    size_t nl = l ? l->name_len : 0, vl = l ? l->value_len : 0;
    size_t pl = ps_pair_encode(n, nl, v, vl, pair, PS_PAIR_MAX);
    if (pl == 0)
        return ps_fail(err, PROMSTORE_E_BAD_LABELS,
                       "label pair of %zu bytes is too long for a postings key", nl + vl);
    ps_rec r = {.posting = {pair, pl, id}};
    return op == OP_GET   ? ps_rec_get(s, txn, PS_T_POSTINGS, &r, &r, NULL, err)
           : op == OP_PUT ? put_rec(s, txn, PS_T_POSTINGS, s->t[PS_T_POSTINGS], &r, err)
                          : del_rec(s, txn, PS_T_POSTINGS, &r, err);
}

promstore_status ps_posting_get(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                promstore_error *err)
{
    return posting_op(s, txn, l, id, OP_GET, err);
}

promstore_status ps_posting_put(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                promstore_error *err)
{
    return posting_op(s, txn, l, id, OP_PUT, err);
}

promstore_status ps_posting_del(ps_schema *s, ps_txn *txn, const promstore_label *l, uint64_t id,
                                promstore_error *err)
{
    return posting_op(s, txn, l, id, OP_DEL, err);
}

promstore_status ps_head_get(ps_schema *s, ps_txn *txn, uint64_t id, ps_head_rec *out,
                             promstore_error *err)
{
    return get_member(s, txn, PS_T_HEAD, &(ps_rec){.head = {.id = id}}, out, sizeof *out, err);
}

promstore_status ps_head_put(ps_schema *s, ps_txn *txn, uint64_t id, const uint8_t *val,
                             size_t vl, promstore_error *err)
{
    uint8_t k[ID_BYTES];
    ps_put_u64(k, id);
    return s->bm->put(txn, s->t[PS_T_HEAD], k, sizeof k, val, vl, err);
}

promstore_status ps_head_del(ps_schema *s, ps_txn *txn, uint64_t id, promstore_error *err)
{
    return del_rec(s, txn, PS_T_HEAD, &(ps_rec){.head = {.id = id}}, err);
}

promstore_status ps_lastblk_get(ps_schema *s, ps_txn *txn, int64_t blk, uint64_t id,
                                promstore_error *err)
{
    ps_rec r = {.lastblk = {blk, id}};
    return ps_rec_get(s, txn, PS_T_LASTBLK, &r, &r, NULL, err);
}

promstore_status ps_lastblk_put(ps_schema *s, ps_txn *txn, int64_t blk, uint64_t id,
                                promstore_error *err)
{
    return put_rec(s, txn, PS_T_LASTBLK, s->t[PS_T_LASTBLK], &(ps_rec){.lastblk = {blk, id}}, err);
}

promstore_status ps_lastblk_del(ps_schema *s, ps_txn *txn, int64_t blk, uint64_t id,
                                promstore_error *err)
{
    return del_rec(s, txn, PS_T_LASTBLK, &(ps_rec){.lastblk = {blk, id}}, err);
}

promstore_status ps_block_get(ps_schema *s, ps_txn *txn, int64_t blk, ps_block_rec *out,
                              promstore_error *err)
{
    return get_member(s, txn, PS_T_BLOCKS, &(ps_rec){.block = {.blk = blk}}, out, sizeof *out, err);
}

promstore_status ps_block_put(ps_schema *s, ps_txn *txn, const ps_block_rec *r,
                              promstore_error *err)
{
    ps_rec x = {.block = *r};
    return put_rec(s, txn, PS_T_BLOCKS, s->t[PS_T_BLOCKS], &x, err);
}

promstore_status ps_chunk_put(ps_schema *s, ps_txn *txn, ps_table t, const ps_chunk_rec *r,
                              promstore_error *err)
{
    ps_rec x = {.chunk = *r};
    return put_rec(s, txn, PS_T_BLK, t, &x, err);
}

promstore_status ps_ooo_get(ps_schema *s, ps_txn *txn, ps_ooo_rec *r, promstore_error *err)
{
    ps_rec x = {.ooo = *r};
    promstore_status rc = ps_rec_get(s, txn, PS_T_OOO, &x, &x, NULL, err);
    if (rc == PROMSTORE_OK)
        r->value = x.ooo.value;
    return rc;
}

promstore_status ps_ooo_put(ps_schema *s, ps_txn *txn, const ps_ooo_rec *r, promstore_error *err)
{
    ps_rec x = {.ooo = *r};
    return put_rec(s, txn, PS_T_OOO, s->t[PS_T_OOO], &x, err);
}

/* --- scans --------------------------------------------------------------------------------- */

enum { MOVE_FIRST, MOVE_SEEK, MOVE_NEXT, MOVE_HOLD, MOVE_END };

static void scan_start(ps_scan *sc, ps_schema *s, ps_txn *txn, ps_kind kind, ps_table t, int mode,
                       promstore_error *err)
{
    sc->s = s;
    sc->txn = txn;
    sc->cur = NULL;
    sc->err = err;
    sc->kind = kind;
    sc->mode = mode;
    sc->move = MOVE_FIRST;
    sc->k = NULL;
    sc->kl = sc->plen = sc->slen = 0;
    sc->bad.what = 0;
    sc->rc = s->bm->cursor_open(txn, t, &sc->cur, err);
    if (sc->rc != PROMSTORE_OK) {
        sc->cur = NULL;
        sc->move = MOVE_END;
    }
}

void ps_scan_open(ps_scan *sc, ps_schema *s, ps_txn *txn, ps_kind kind, int mode,
                  promstore_error *err)
{
    scan_start(sc, s, txn, kind, s->t[kind], mode, err);
}

void ps_scan_open_blk(ps_scan *sc, ps_schema *s, ps_txn *txn, ps_table t, int mode,
                      promstore_error *err)
{
    scan_start(sc, s, txn, PS_T_BLK, t, mode, err);
}

void ps_scan_seek(ps_scan *sc, const ps_rec *from, int prefix_fields)
{
    if (sc->move == MOVE_END && sc->rc != PROMSTORE_OK)
        return;
    sc->slen = ps_rec_key(sc->kind, from, sc->seek);
    sc->plen = fields_len(sc->kind, sc->seek, sc->slen, prefix_fields);
    memcpy(sc->prefix, sc->seek, sc->plen);
    sc->move = sc->slen ? MOVE_SEEK : MOVE_END;
}

void ps_scan_skip(ps_scan *sc, int fields)
{
    if (sc->move == MOVE_END || sc->k == NULL)
        return;
    size_t n = fields_len(sc->kind, sc->k, sc->kl, fields);
    memcpy(sc->seek, sc->k, n);
    /* The first key past every key starting with seek[0..n): drop trailing ff, add one. */
    while (n > 0 && sc->seek[n - 1] == 0xff)
        n--;
    if (n == 0) {
        sc->move = MOVE_END;
        return;
    }
    sc->seek[n - 1]++;
    sc->slen = n;
    sc->move = MOVE_SEEK;
}

int ps_scan_next(ps_scan *sc)
{
    const ps_backend_methods *bm = sc->s->bm;
    const void *k, *v;
    size_t kl, vl;
    int rc;
    switch (sc->move) {
    case MOVE_END:
        return 0;
    case MOVE_HOLD:
        sc->move = MOVE_NEXT;
        return 1;
    case MOVE_FIRST:
        rc = bm->cursor_first(sc->cur, &k, &kl, &v, &vl, sc->err);
        break;
    case MOVE_SEEK:
        rc = bm->cursor_seek(sc->cur, sc->seek, sc->slen, &k, &kl, &v, &vl, sc->err);
        break;
    default:
        rc = bm->cursor_next(sc->cur, &k, &kl, &v, &vl, sc->err);
        break;
    }
    sc->move = MOVE_END;
    sc->k = NULL;
    if (rc != PROMSTORE_OK) {
        if (rc != PROMSTORE_DONE)
            sc->rc = rc;
        return 0;
    }
    if (kl < sc->plen || memcmp(k, sc->prefix, sc->plen) != 0)
        return 0;
    sc->k = k;
    sc->kl = kl;
    sc->bad.what = 0;
    int bad = ps_rec_decode(sc->kind, k, kl, v, vl, &sc->at, &sc->bad);
    if (bad != 0 && sc->mode != PS_SCAN_SHOW_BAD &&
        (sc->mode != PS_SCAN_END_AT_BAD_KEY || bad == PS_BAD_KEY)) {
        if (sc->mode == PS_SCAN_FAIL_BAD)
            sc->rc = ps_fail(sc->err, PROMSTORE_E_CORRUPT, "%s: %s", k_kind_names[sc->kind],
                             sc->bad.why);
        sc->k = NULL;
        return 0;
    }
    sc->move = MOVE_NEXT;
    return 1;
}

void ps_scan_unread(ps_scan *sc)
{
    if (sc->move == MOVE_NEXT)
        sc->move = MOVE_HOLD;
}

promstore_status ps_scan_del(ps_scan *sc)
{
    if (sc->move != MOVE_NEXT)
        return sc->rc = ps_fail(sc->err, PROMSTORE_E_MISUSE, "%s: no entry to delete",
                                k_kind_names[sc->kind]);
    promstore_status rc = sc->s->bm->cursor_del(sc->cur, sc->err);
    if (rc != PROMSTORE_OK) {
        sc->rc = rc;
        sc->move = MOVE_END;
    }
    sc->k = NULL;
    return rc;
}

promstore_status ps_scan_close(ps_scan *sc)
{
    if (sc->cur)
        sc->s->bm->cursor_close(sc->cur);
    sc->cur = NULL;
    sc->move = MOVE_END;
    return sc->rc;
}
