/*
 * lmdb_tail.c -- are the pages past the end of data.mdb all free? Read from
 * the file with pread(), never through LMDB's map.
 *
 * NOTES ON THE DESIGN
 *
 * 1. Why the file can be shorter than the map. The meta page records
 *    mm_last_pg, the highest page number ever handed out, but LMDB (without
 *    MDB_WRITEMAP) writes only the pages a commit leaves in use: a page that
 *    one write transaction takes from the end of the map and frees again (a
 *    leaf copied for a delete, then emptied by the next deletes: a "loose"
 *    page, mdb_page_flush skips those) goes onto the free list unwritten.
 *    When such pages are the highest ones, the file ends before
 *    (last_pg + 1) * page size. That is a sound store. It happens when new
 *    pages come from the end of the map, i.e. when no older free page can be
 *    reused, e.g. while a read snapshot pins them during retention.
 *
 * 2. Why not through LMDB. In a store that really was truncated, trees use
 *    pages past the end of the file, and reading one through the map is a
 *    SIGBUS that kills the process. So before the audit touches the map,
 *    the free list of the snapshot is read here with pread(), where a page
 *    past the end is a short read, and every page past the end of the file
 *    must be on it. Only then is the map read.
 *
 * 3. What is parsed, and only that: the meta page of the snapshot (its
 *    txnid), then the free-list B-tree from its root: branch pages for their
 *    children, leaf pages for their records, overflow pages for records too
 *    big for a leaf. Each record's value is an ID list (a count, then page
 *    numbers). The layout is LMDB's data format version 1 on a 64-bit build
 *    (pgno_t and txnid_t of 8 bytes; Debian's liblmdb0 0.9.x); anything
 *    unexpected (a bad flag, an offset out of the page, a depth past the
 *    header's, a count past the file) ends the walk as a finding, never a
 *    crash. Pages visited are bounded by the page count of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdb_internal.h"

/* LMDB's page and node layout (mdb.c), as offsets in bytes. */
#define PAGE_HDR 16      /* PAGEHDRSZ: pgno u64, pad u16, flags u16, lower u16, upper u16 */
#define PAGE_FLAGS 10    /* mp_flags */
#define PAGE_LOWER 12    /* mp_lower: end of the node offsets */
#define PAGE_OV_COUNT 12 /* mp_pages of an overflow page, u32 */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define NODE_HDR 8       /* mn_lo u16, mn_hi u16, mn_flags u16, mn_ksize u16 */
#define F_BIGDATA 0x01   /* the value is on overflow pages; the node holds their pgno */
#define META_TXNID 144   /* mm_txnid, from the start of a meta page */
#define META_FREE_DEPTH 46 /* mm_dbs[FREE_DBI].md_depth */
#define META_FREE_ROOT 80  /* mm_dbs[FREE_DBI].md_root */
#define P_INVALID UINT64_MAX
#define MAX_DEPTH 32

typedef struct tail {
    int fd;
    unsigned psize;
    uint64_t file_pages, npages;
    uint8_t *page;         /* one page buffer per level of the walk */
    uint8_t *listed;       /* one bit per page past the end of the file */
    uint64_t visited;      /* pages read, against a cycle */
    char *why;             /* the finding, if any */
    size_t why_cap;
} tail;

static uint16_t u16_at(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t u64_at(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int finding(tail *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int finding(tail *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, t->why_cap, fmt, ap);
    va_end(ap);
    return 1;
}

/* Read len bytes at byte off of page pgno; 0, 1 (a finding: past the end), or -errno. */
static int read_at(tail *t, uint64_t pgno, size_t off, void *buf, size_t len, const char *what)
{
    if (pgno >= t->file_pages)
        return finding(t, "%s page %llu lies past the end of the file (%llu pages)", what,
                       (unsigned long long)pgno, (unsigned long long)t->file_pages);
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(t->fd, (char *)buf + done, len - done,
                          (off_t)(pgno * t->psize + off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return finding(t, "%s page %llu is cut short by the end of the file", what,
                           (unsigned long long)pgno);
        done += (size_t)n;
    }
    return 0;
}

/* One ID list of the free list: mark the listed pages past the end of the file. */
static void mark_listed(tail *t, const uint8_t *v, size_t len)
{
    uint64_t count = len >= 8 ? u64_at(v) : 0;
    for (uint64_t i = 1; i <= count && (i + 1) * 8 <= len; i++) {
        uint64_t id = u64_at(v + i * 8);
        if (id >= t->file_pages && id < t->npages) {
            uint64_t b = id - t->file_pages;
            t->listed[b / 8] |= (uint8_t)(1u << (b % 8));
        }
    }
}

/* A record kept on overflow pages; 0, 1 or -errno. */
static int read_big_value(tail *t, uint64_t pgno, size_t len)
{
    uint8_t hdr[PAGE_HDR];
    int rc = read_at(t, pgno, 0, hdr, sizeof hdr, "free-list overflow");
    if (rc)
        return rc;
    uint32_t pages;
    memcpy(&pages, hdr + PAGE_OV_COUNT, sizeof pages);
    if (!(u16_at(hdr + PAGE_FLAGS) & P_OVERFLOW) || pages == 0 ||
        (uint64_t)pages * t->psize < len + PAGE_HDR || pgno + pages > t->npages)
        return finding(t, "free-list overflow page %llu has a bad header",
                       (unsigned long long)pgno);
    if (pgno + pages > t->file_pages)
        return finding(t, "free-list overflow pages %llu..%llu run past the end of the file",
                       (unsigned long long)pgno, (unsigned long long)(pgno + pages - 1));
    uint8_t *v = ps_backend_malloc(len ? len : 1);
    if (v == NULL)
        return -ENOMEM;
    rc = read_at(t, pgno, PAGE_HDR, v, len, "free-list overflow");
    if (rc == 0)
        mark_listed(t, v, len);
    ps_backend_free(v);
    return rc;
}

/* Walk the subtree at pgno, depth levels above the leaves; 0, 1 or -errno. */
static int walk(tail *t, uint64_t pgno, int depth)
{
    if (++t->visited > t->file_pages)
        return finding(t, "the free list has more pages than the file (a cycle?)");
    uint8_t *p = t->page + (size_t)depth * t->psize;
    int rc = read_at(t, pgno, 0, p, t->psize, "free-list");
    if (rc)
        return rc;
    uint16_t flags = u16_at(p + PAGE_FLAGS), lower = u16_at(p + PAGE_LOWER);
    int want = depth > 0 ? P_BRANCH : P_LEAF;
    if ((flags & (P_BRANCH | P_LEAF | P_OVERFLOW)) != want || lower < PAGE_HDR ||
        lower > t->psize)
        return finding(t, "free-list page %llu is not the %s page the tree needs there",
                       (unsigned long long)pgno, depth > 0 ? "branch" : "leaf");
    for (size_t i = 0; i < (size_t)(lower - PAGE_HDR) / 2 && rc == 0; i++) {
        size_t at = u16_at(p + PAGE_HDR + 2 * i);
        if (at < lower || at + NODE_HDR > t->psize)
            return finding(t, "free-list page %llu: node %zu lies outside the page",
                           (unsigned long long)pgno, i);
        const uint8_t *node = p + at;
        uint64_t lo = u16_at(node), hi = u16_at(node + 2), nflags = u16_at(node + 4);
        size_t ksize = u16_at(node + 6), data = at + NODE_HDR + ksize;
        if (depth > 0) { /* a branch node's pgno is lo | hi << 16 | flags << 32 */
            rc = walk(t, lo | hi << 16 | nflags << 32, depth - 1);
            continue;
        }
        size_t dsize = (size_t)(lo | hi << 16);
        if (nflags & F_BIGDATA) {
            if (data + 8 > t->psize)
                return finding(t, "free-list page %llu: node %zu lies outside the page",
                               (unsigned long long)pgno, i);
            rc = read_big_value(t, u64_at(p + data), dsize);
        } else if (data + dsize > t->psize) {
            return finding(t, "free-list page %llu: node %zu lies outside the page",
                           (unsigned long long)pgno, i);
        } else {
            mark_listed(t, p + data, dsize);
        }
    }
    return rc;
}

/* The free list's root and depth in the meta page of snapshot txnid; 0, 1 or -errno. */
static int free_root(tail *t, uint64_t txnid, uint64_t *root, int *depth)
{
    uint8_t meta[META_FREE_ROOT + 8 > META_TXNID + 8 ? META_FREE_ROOT + 8 : META_TXNID + 8];
    for (uint64_t m = 0; m < 2; m++) {
        int rc = read_at(t, m, 0, meta, sizeof meta, "meta");
        if (rc)
            return rc;
        if (u64_at(meta + META_TXNID) != txnid)
            continue;
        *root = u64_at(meta + META_FREE_ROOT);
        *depth = u16_at(meta + META_FREE_DEPTH);
        return 0;
    }
    return finding(t, "neither meta page is that of transaction %llu",
                   (unsigned long long)txnid);
}

/* Every page past the end of the file is on the free list: 0, 1 (why says) or -errno. */
static int tail_free(tail *t, uint64_t txnid)
{
    uint64_t root = P_INVALID, tail_pages = t->npages - t->file_pages;
    int depth = 0;
    int rc = free_root(t, txnid, &root, &depth);
    if (rc == 0 && root != P_INVALID && (depth < 1 || depth > MAX_DEPTH))
        rc = finding(t, "the free list's depth %d is out of range", depth);
    if (rc == 0 && root != P_INVALID) {
        t->page = ps_backend_malloc((size_t)depth * t->psize);
        t->listed = ps_backend_calloc(tail_pages / 8 + 1, 1);
        rc = t->page && t->listed ? walk(t, root, depth - 1) : -ENOMEM;
    }
    for (uint64_t b = 0; rc == 0 && b < tail_pages; b++)
        if (t->listed == NULL || !(t->listed[b / 8] & (1u << (b % 8))))
            rc = finding(t, "page %llu, past the end of the file, is not on the free list",
                         (unsigned long long)(t->file_pages + b));
    ps_backend_free(t->page);
    ps_backend_free(t->listed);
    return rc;
}

int ps_lmdb_length_check(const ps_lmdb *be, uint64_t txnid, uint64_t npages, unsigned psize,
                         char *why, size_t why_cap, promstore_error *err)
{
    char detail[256] = "";
    tail t = {-1, psize, 0, npages, NULL, NULL, 0, detail, sizeof detail};
    struct stat st;
    int rc = 0;
    t.fd = open(be->data_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (t.fd < 0 || fstat(t.fd, &st) != 0)
        rc = -errno;
    else if ((uint64_t)st.st_size < npages * psize) {
        t.file_pages = (uint64_t)st.st_size / psize;
        rc = tail_free(&t, txnid);
    }
    if (t.fd >= 0)
        close(t.fd);
    if (rc > 0)
        snprintf(why, why_cap,
                 "data.mdb is %llu bytes, shorter than the %llu pages of transaction %llu, "
                 "and %s: the file was truncated",
                 (unsigned long long)st.st_size, (unsigned long long)npages,
                 (unsigned long long)txnid, detail);
    if (rc < 0)
        return ps_backend_fail(err, rc == -ENOMEM ? PROMSTORE_E_NOMEM : PROMSTORE_E_IO,
                               "lmdb: reading '%s' to check its length: %s", be->data_path,
                               strerror(-rc));
    return rc;
}
