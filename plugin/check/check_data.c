/*
 * check_data.c -- promstore_check(), the data side: the block records and
 * their tables, every sealed and open chunk, and the merge walk that visits
 * them series by series (check.c, note 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "keys.h"
#include "xor.h"
#include "mem.h"

/* --- chunks ------------------------------------------------------------------------ */

/* What decoding one XOR chunk showed. why is "" for a sound chunk. */
typedef struct chunk_facts {
    unsigned n;   /* samples the header counts */
    unsigned got; /* samples decoded */
    int64_t first, last;
    char why[200];
} chunk_facts;

static void decode_chunk(const uint8_t *p, size_t len, chunk_facts *f)
{
    ps_xor_iter it;
    int64_t t;
    uint64_t v;
    int rc;
    memset(f, 0, sizeof *f);
    if (ps_xor_iter_init(&it, p, len) != 0) {
        snprintf(f->why, sizeof f->why, "%zu bytes, shorter than the 2-byte chunk header", len);
        return;
    }
    f->n = it.n;
    if (f->n == 0) {
        snprintf(f->why, sizeof f->why, "the chunk header counts no samples");
        return;
    }
    while ((rc = ps_xor_iter_next(&it, &t, &v)) == 1) {
        if (f->got > 0 && t <= f->last) {
            snprintf(f->why, sizeof f->why,
                     "sample %u at %lld does not come after the one before it (%lld)", f->got + 1,
                     (long long)t, (long long)f->last);
            return;
        }
        if (f->got++ == 0)
            f->first = t;
        f->last = t;
    }
    if (rc < 0) {
        snprintf(f->why, sizeof f->why,
                 "the XOR data breaks off after %u of the %u samples its header counts", f->got,
                 f->n);
        return;
    }
    /* The encoder writes the minimal form: nothing after the last sample. */
    size_t used = (it.bitpos + 7) / 8;
    unsigned pad = (unsigned)(used * 8 - it.bitpos);
    if (len > used)
        snprintf(f->why, sizeof f->why,
                 "%zu bytes follow the last of the %u samples its header counts (a wrong "
                 "count, or bytes appended)",
                 len - used, f->n);
    else if (pad && (p[used - 1] & ((1u << pad) - 1)))
        snprintf(f->why, sizeof f->why, "the padding bits after the last sample are not zero");
}

/*
 * Checks shared by sealed and open chunks: decoding, the stored min/max times,
 * the time block, and order after the series' previous chunk. what names the
 * chunk in messages.
 */
static void check_chunk_body(ps_checker *c, const char *table, uint64_t id, int64_t blk,
                             int64_t mint, int64_t maxt, const uint8_t *data, size_t len,
                             int in_series, const char *what, chunk_facts *f)
{
    int64_t bs = ps_check_bstart(c, blk);
    decode_chunk(data, len, f);
    if (f->why[0]) {
        ps_check_problem(c, table, id, bs, "%s [%lld, %lld] of series %llu%s: %s", what,
                         (long long)mint, (long long)maxt, (unsigned long long)id,
                         in_series ? ps_check_desc(c) : "", f->why);
        ps_check_note_time(c, mint, maxt);
        return;
    }
    ps_check_note_time(c, f->first, f->last);
    if (f->first != mint || f->last != maxt)
        ps_check_problem(
            c, table, id, bs,
            "%s of series %llu%s: stored min/max times [%lld, %lld] but its samples run "
            "[%lld, %lld]: queries select it by the stored times",
            what, (unsigned long long)id, in_series ? ps_check_desc(c) : "", (long long)mint,
            (long long)maxt, (long long)f->first, (long long)f->last);
    if (c->block_ms > 0 &&
        (ps_block_of(f->first, c->block_ms) != blk || ps_block_of(f->last, c->block_ms) != blk))
        ps_check_problem(
            c, table, id, bs,
            "%s [%lld, %lld] of series %llu%s lies outside its block [%lld, %lld + %lld)", what,
            (long long)f->first, (long long)f->last, (unsigned long long)id,
            in_series ? ps_check_desc(c) : "", (long long)bs, (long long)bs,
            (long long)c->block_ms);
    if (in_series) {
        if (c->have_prev && f->first <= c->prev_maxt)
            ps_check_problem(
                c, table, id, bs,
                "%s [%lld, %lld] of series %llu%s overlaps the series' previous chunk, "
                "which ends at %lld",
                what, (long long)f->first, (long long)f->last, (unsigned long long)id,
                ps_check_desc(c), (long long)c->prev_maxt);
        c->prev_maxt = f->last;
        c->have_prev = 1;
    }
}

/* The current entry of a blk.<slot> table; in_series: its id is the series being walked. */
static void check_sealed(ps_checker *c, ps_blk_cur *b, int in_series)
{
    int64_t bs = ps_check_bstart(c, b->blk);
    const ps_chunk_rec *r = &ps_scan_at(&b->sc)->chunk;
    const ps_bad *bad = ps_scan_bad(&b->sc);
    if (bad && bad->what == PS_BAD_KEY) {
        ps_check_problem(c, b->name, b->id, bs, "%s", bad->why);
        return;
    }
    if (!in_series && b->orphan != b->id) {
        b->orphan = b->id;
        ps_check_problem(
            c, b->name, b->id, bs,
            "chunks of series %llu, which is not in the series index: no query finds them",
            (unsigned long long)b->id);
    }
    if (bad) {
        ps_check_problem(c, b->name, b->id, bs, "%s", bad->why);
        return;
    }
    chunk_facts f;
    check_chunk_body(c, b->name, b->id, b->blk, r->mint, r->maxt, r->data, r->len, in_series,
                     "chunk", &f);
    b->chunks++;
    b->samples += f.n;
    b->bytes += r->len;
    c->n_chunks++;
    c->n_samples += f.n;
    c->sum.chunks++;
    c->sum.samples += f.n;
}

/*
 * The appender state saved with an open chunk must be what decoding the
 * chunk gives: the next append continues from the state, not from the bytes.
 */
static void check_appender(ps_checker *c, uint64_t id, int64_t bs, const uint8_t *state,
                           const uint8_t *data, size_t len)
{
    ps_xor_appender saved, decoded;
    memcpy(c->buf_a, data, len);
    memcpy(c->buf_b, data, len);
    if (ps_xor_appender_load(&saved, c->buf_a, len, sizeof c->buf_a, state) != 0) {
        ps_check_problem(c, "head", id, bs,
                         "open chunk of series %llu%s: the saved appender state does not fit the "
                         "chunk, so every append to the series fails as corrupt",
                         (unsigned long long)id, ps_check_desc(c));
        return;
    }
    if (ps_xor_appender_resume(&decoded, c->buf_b, len, sizeof c->buf_b) != 0)
        return; /* the chunk itself is bad; decode_chunk said so */
    int window = saved.leading != 0xff || decoded.leading != 0xff;
    if (saved.n != decoded.n || saved.t != decoded.t || saved.tdelta != decoded.tdelta ||
        saved.v != decoded.v || saved.len != decoded.len || saved.bits_free != decoded.bits_free ||
        (window && (saved.leading != decoded.leading || saved.trailing != decoded.trailing)))
        ps_check_problem(
            c, "head", id, bs,
            "open chunk of series %llu%s: the saved appender state (last sample at %lld) "
            "disagrees with the chunk (last sample at %lld): the next append would write "
            "a corrupt chunk",
            (unsigned long long)id, ps_check_desc(c), (long long)saved.t, (long long)decoded.t);
}

/* Does the current head entry have a well-formed key (a series id)? */
static int head_key_ok(const ps_checker *c)
{
    const ps_bad *bad = ps_scan_bad(&c->head);
    return bad == NULL || bad->what != PS_BAD_KEY;
}

/* The open chunk under the head scan; in_series as check_sealed. */
static promstore_status check_head(ps_checker *c, int in_series)
{
    uint64_t id = c->head_id;
    const ps_head_rec *h = &ps_scan_at(&c->head)->head;
    const ps_bad *bad = ps_scan_bad(&c->head);
    if (!head_key_ok(c)) {
        ps_check_problem(c, "head", 0, PS_NB, "%s", bad->why);
        return PROMSTORE_OK;
    }
    if (!in_series && c->head_orphan != id) {
        c->head_orphan = id;
        ps_check_problem(
            c, "head", id, PS_NB,
            "open chunk of series %llu, which is not in the series index: no query finds it",
            (unsigned long long)id);
    }
    if (bad) {
        ps_check_problem(c, "head", id, PS_NB, "%s", bad->why);
        return PROMSTORE_OK;
    }
    int64_t blk = ps_block_of(h->mint, c->block_ms), bs = ps_check_bstart(c, blk);
    chunk_facts f;
    check_chunk_body(c, "head", id, blk, h->mint, h->maxt, h->chunk, h->chunk_len, in_series,
                     "open chunk", &f);
    c->n_chunks++;
    c->n_samples += f.n;
    c->sum.chunks++;
    c->sum.head_chunks++;
    c->sum.samples += f.n;
    if (h->chunk_len > PS_CHUNK_CAP)
        ps_check_problem(
            c, "head", id, bs,
            "open chunk of series %llu%s has %zu bytes, more than an open chunk can hold "
            "(%d): every append to the series fails as corrupt",
            (unsigned long long)id, in_series ? ps_check_desc(c) : "", h->chunk_len,
            PS_CHUNK_CAP);
    else if (!f.why[0])
        check_appender(c, id, bs, h->state, h->chunk, h->chunk_len);
    if (!in_series)
        return PROMSTORE_OK;
    /* Retention finds dead series through lastblk: the block of the open chunk. */
    promstore_status rc = ps_lastblk_get(&c->sch, c->txn, blk, id, c->err);
    if (rc == PROMSTORE_OK)
        c->last_found++;
    else if (rc == PROMSTORE_E_NOT_FOUND)
        ps_check_problem(c, "lastblk", id, bs,
                         "no entry for series %llu%s in the block of its open chunk: retention "
                         "would never drop the series",
                         (unsigned long long)id, ps_check_desc(c));
    else
        return ps_check_read_failed(c, "lastblk", rc);
    return PROMSTORE_OK;
}

/* --- the cursors of the merge walk ----------------------------------------------- */

static int heap_less(const ps_checker *c, size_t a, size_t b)
{
    uint64_t x = c->blocks[a].id, y = c->blocks[b].id;
    return x < y || (x == y && a < b);
}

static void heap_push(ps_checker *c, size_t bi)
{
    size_t i = c->n_heap++;
    c->heap[i] = bi;
    while (i > 0 && heap_less(c, c->heap[i], c->heap[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, t = c->heap[p];
        c->heap[p] = c->heap[i];
        c->heap[i] = t;
        i = p;
    }
}

static size_t heap_pop(ps_checker *c)
{
    size_t top = c->heap[0], i = 0;
    c->heap[0] = c->heap[--c->n_heap];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < c->n_heap && heap_less(c, c->heap[l], c->heap[m]))
            m = l;
        if (r < c->n_heap && heap_less(c, c->heap[r], c->heap[m]))
            m = r;
        if (m == i)
            break;
        size_t t = c->heap[m];
        c->heap[m] = c->heap[i];
        c->heap[i] = t;
        i = m;
    }
    return top;
}

/* Move block bi's scan to its next entry, back into the heap if there is one. */
static promstore_status blk_move(ps_checker *c, size_t bi)
{
    ps_blk_cur *b = &c->blocks[bi];
    if (!ps_scan_next(&b->sc)) {
        b->live = 0;
        promstore_status rc = ps_scan_close(&b->sc);
        return rc ? ps_check_read_failed(c, b->name, rc) : PROMSTORE_OK;
    }
    b->id = ps_scan_at(&b->sc)->chunk.id;
    heap_push(c, bi);
    return PROMSTORE_OK;
}

static promstore_status head_move(ps_checker *c)
{
    if (!ps_scan_next(&c->head)) {
        c->head_live = 0;
        promstore_status rc = ps_scan_close(&c->head);
        return rc ? ps_check_read_failed(c, "head", rc) : PROMSTORE_OK;
    }
    c->head_id = ps_scan_at(&c->head)->head.id;
    return PROMSTORE_OK;
}

/* Chunks and open chunks with an id below `upto` (all of them: all != 0) belong to no series. */
static promstore_status drain_orphans(ps_checker *c, uint64_t upto, int all)
{
    promstore_status rc = PROMSTORE_OK;
    while (rc == PROMSTORE_OK && !c->halt && c->n_heap > 0 &&
           (all || c->blocks[c->heap[0]].id < upto)) {
        size_t bi = heap_pop(c);
        check_sealed(c, &c->blocks[bi], 0);
        rc = blk_move(c, bi);
    }
    while (rc == PROMSTORE_OK && !c->halt && c->head_live && (all || c->head_id < upto)) {
        if ((rc = check_head(c, 0)) == PROMSTORE_OK)
            rc = head_move(c);
    }
    return rc;
}

/* The sealed chunks (oldest first, note 2) and the open chunk of series id. */
static promstore_status series_data(ps_checker *c, uint64_t id)
{
    promstore_status rc = PROMSTORE_OK;
    int has_head = 0;
    while (rc == PROMSTORE_OK && !c->halt && c->n_heap > 0 && c->blocks[c->heap[0]].id == id) {
        size_t bi = heap_pop(c);
        check_sealed(c, &c->blocks[bi], 1);
        rc = blk_move(c, bi);
    }
    while (rc == PROMSTORE_OK && !c->halt && c->head_live && c->head_id == id) {
        has_head |= head_key_ok(c);
        if ((rc = check_head(c, 1)) == PROMSTORE_OK)
            rc = head_move(c);
    }
    if (rc == PROMSTORE_OK && !has_head)
        ps_check_problem(c, "head", id, PS_NB,
                         "series %llu%s has no open chunk: the write path always leaves one, and "
                         "retention finds a series through the block of its open chunk",
                         (unsigned long long)id, ps_check_desc(c));
    return rc;
}

/* --- blocks ------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Open block bi's table and put its scan on the first chunk. */
static promstore_status open_block(ps_checker *c, size_t bi)
{
    ps_blk_cur *b = &c->blocks[bi];
    ps_table t;
    promstore_status rc = ps_blk_table(&c->sch, c->txn, b->slot, 0, &t, c->err);
    if (rc == PROMSTORE_E_NOT_FOUND) {
        b->skip = 1;
        ps_check_problem(c, "blocks", 0, ps_check_bstart(c, b->blk),
                         "the record of this block names table %s, which does not exist: its %llu "
                         "chunks are lost",
                         b->name, (unsigned long long)b->rec_chunks);
        return PROMSTORE_OK;
    }
    if (rc)
        return ps_check_read_failed(c, b->name, rc);
    ps_scan_open_blk(&b->sc, &c->sch, c->txn, t, PS_SCAN_SHOW_BAD, c->err);
    b->live = 1;
    return blk_move(c, bi);
}

/*
 * Slot tables no block record names must be empty (retention clears them).
 * Slots are taken lowest first, so the tables that exist are blk.0 up to the
 * most blocks ever alive at once: probing stops at the first missing one past
 * the number of blocks (not past the highest slot, which may be damaged).
 */
static promstore_status check_spare_slots(ps_checker *c, const uint32_t *used, size_t n_used)
{
    for (int64_t s = 0; s <= UINT32_MAX && !c->halt; s++) {
        uint32_t slot = (uint32_t)s;
        if (bsearch(&slot, used, n_used, sizeof *used, cmp_u32) != NULL)
            continue;
        char name[24];
        ps_table t;
        ps_blk_name(slot, name, sizeof name);
        promstore_status rc = ps_blk_table(&c->sch, c->txn, slot, 0, &t, c->err);
        if (rc == PROMSTORE_E_NOT_FOUND) {
            if ((uint64_t)s >= n_used)
                break;
            continue;
        }
        int any = 0;
        uint64_t id = 0;
        if (rc == PROMSTORE_OK) {
            ps_scan sc;
            ps_scan_open_blk(&sc, &c->sch, c->txn, t, PS_SCAN_SHOW_BAD, c->err);
            if ((any = ps_scan_next(&sc)))
                id = ps_scan_at(&sc)->chunk.id;
            rc = ps_scan_close(&sc);
        }
        if (rc)
            return ps_check_read_failed(c, name, rc);
        if (any)
            ps_check_problem(
                c, name, id, PS_NB,
                "table holds chunks but no block record names it: queries never read them "
                "and retention never frees them");
    }
    return PROMSTORE_OK;
}

/* Walk `blocks`: one cursor per block for the merge walk. */
promstore_status ps_check_load_blocks(ps_checker *c)
{
    size_t cap = 0;
    ps_scan sc;
    ps_scan_open(&sc, &c->sch, c->txn, PS_T_BLOCKS, PS_SCAN_SHOW_BAD, c->err);
    while (!c->halt && ps_scan_next(&sc)) {
        const ps_block_rec *r = &ps_scan_at(&sc)->block;
        if (ps_scan_bad(&sc)) {
            ps_check_problem(c, "blocks", 0, PS_NB, "%s", ps_scan_bad(&sc)->why);
            continue;
        }
        if (PS_GROW(c->blocks, cap, c->n_blocks + 1)) {
            ps_scan_close(&sc);
            return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory for %zu blocks", c->n_blocks + 1);
        }
        ps_blk_cur *b = &c->blocks[c->n_blocks++];
        memset(b, 0, sizeof *b);
        b->blk = r->blk;
        b->slot = r->slot;
        b->rec_samples = r->samples;
        b->rec_chunks = r->chunks;
        b->rec_bytes = r->bytes;
        ps_blk_name(b->slot, b->name, sizeof b->name);
        c->sum.blocks++;
    }
    promstore_status rc = ps_scan_close(&sc);
    if (rc)
        return ps_check_read_failed(c, "blocks", rc);
    if (c->halt)
        return PROMSTORE_OK;

    uint32_t *slots = ps_malloc((c->n_blocks ? c->n_blocks : 1) * sizeof *slots);
    c->heap = ps_malloc((c->n_blocks ? c->n_blocks : 1) * sizeof *c->heap);
    if (slots == NULL || c->heap == NULL) {
        ps_free(slots);
        return ps_fail(c->err, PROMSTORE_E_NOMEM, "no memory for %zu blocks", c->n_blocks);
    }
    for (size_t i = 0; i < c->n_blocks; i++)
        slots[i] = c->blocks[i].slot;
    qsort(slots, c->n_blocks, sizeof *slots, cmp_u32);
    for (size_t i = 1; i < c->n_blocks; i++)
        if (slots[i] == slots[i - 1])
            ps_check_problem(
                c, "blocks", 0, PS_NB,
                "two block records name table blk.%u: their chunks are mixed, and retention "
                "of one drops the other's",
                slots[i]);
    rc = PROMSTORE_OK;
    for (size_t i = 0; i < c->n_blocks && rc == PROMSTORE_OK && !c->halt; i++) {
        /* A table shared by two records is walked once, under the first. */
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = c->blocks[j].slot == c->blocks[i].slot;
        if (dup)
            c->blocks[i].skip = 1;
        else
            rc = open_block(c, i);
    }
    if (rc == PROMSTORE_OK)
        rc = check_spare_slots(c, slots, c->n_blocks);
    ps_free(slots);
    return rc;
}

/* --- the merge walk -------------------------------------------------------------------- */

promstore_status ps_check_walk_series(ps_checker *c)
{
    ps_scan sc;
    ps_scan_open(&c->head, &c->sch, c->txn, PS_T_HEAD, PS_SCAN_SHOW_BAD, c->err);
    c->head_live = 1;
    promstore_status rc = head_move(c);
    if (rc || c->halt)
        return rc;
    int more = 1;
    ps_scan_open(&sc, &c->sch, c->txn, PS_T_SERIES, PS_SCAN_SHOW_BAD, c->err);
    while (!c->halt && (more = ps_scan_next(&sc))) {
        const ps_series_rec *r = &ps_scan_at(&sc)->series;
        if (ps_scan_bad(&sc)) {
            ps_check_problem(c, "series", 0, PS_NB, "%s", ps_scan_bad(&sc)->why);
            continue;
        }
        uint64_t id = r->id;
        c->sum.series++;
        if (id == 0 || id >= c->next_id)
            ps_check_problem(
                c, "series", id, PS_NB,
                "series id %llu is not in 1..next_id-1 (next_id is %llu): a new series "
                "could be given an id in use",
                (unsigned long long)id, (unsigned long long)c->next_id);
        else
            c->exists[id / 8] |= (uint8_t)(1u << (id % 8));
        /* The record's bytes stay valid while this scan does not move (backend.h). */
        promstore_status r2 = drain_orphans(c, id, 0);
        if (r2 == PROMSTORE_OK && !c->halt)
            r2 = ps_check_series_index(c, id, r->key, r->key_len);
        if (r2 == PROMSTORE_OK && !c->halt)
            r2 = series_data(c, id);
        if (r2) {
            ps_scan_close(&sc);
            return r2;
        }
    }
    if ((rc = ps_scan_close(&sc)))
        return ps_check_read_failed(c, "series", rc);
    return more ? PROMSTORE_OK : drain_orphans(c, 0, 1);
}

void ps_check_block_counts(ps_checker *c)
{
    for (size_t i = 0; i < c->n_blocks && !c->halt; i++) {
        const ps_blk_cur *b = &c->blocks[i];
        if (b->skip)
            continue;
        if (b->samples != b->rec_samples || b->chunks != b->rec_chunks || b->bytes != b->rec_bytes)
            ps_check_problem(
                c, "blocks", 0, ps_check_bstart(c, b->blk),
                "the record counts %llu samples, %llu chunks, %llu bytes, but %s holds "
                "%llu, %llu, %llu",
                (unsigned long long)b->rec_samples, (unsigned long long)b->rec_chunks,
                (unsigned long long)b->rec_bytes, b->name, (unsigned long long)b->samples,
                (unsigned long long)b->chunks, (unsigned long long)b->bytes);
    }
}
