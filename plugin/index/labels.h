/*
 * labels.h -- label sets: validation, sorting, Prometheus's order, and the
 * order-preserving byte key under which a series is stored.
 *
 * THE LABELS KEY
 *   A sorted label set is stored as the concatenation, label by label, of
 *   esc(name) 0x00 esc(value) 0x00, where esc() writes 0x00 as 0x01 0x01 and
 *   0x01 as 0x01 0x02 and copies every other byte. The escape keeps byte order
 *   (0x00 < 0x01 0x01 < 0x01 0x02 < 0x02), so memcmp over two keys orders them
 *   exactly as Prometheus's labels.Compare orders the label sets: pair by pair,
 *   names then values byte-wise, a prefix first. An index keyed by it is
 *   therefore already in query output order.
 */
#ifndef PS_LABELS_H
#define PS_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

/* Name rules for validation. */
typedef enum ps_name_rules {
    PS_NAMES_UTF8 = 0,  /* any non-empty valid UTF-8 (Prometheus 3) */
    PS_NAMES_LEGACY = 1 /* [a-zA-Z_][a-zA-Z0-9_]*, metric names may also hold ':' */
} ps_name_rules;

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int ps_utf8_valid(const char *s, size_t len);

/*
 * Validate and normalise one series' label set, in place: drop labels with an
 * empty value, sort by name, then check that at least one label is left, that
 * no name is empty or repeated, that names follow `rules` and that names and
 * values are valid UTF-8. *n is updated to the count left. On failure returns
 * PROMSTORE_E_BAD_LABELS with a message naming the problem and the series
 * (formatted with ps_labels_format) in err.
 */
promstore_status ps_labels_normalize(promstore_label *labels, size_t *n,
                                     ps_name_rules rules, promstore_error *err);

/* Byte-wise order of two strings, a prefix first (Go's string comparison): <0, 0, >0. */
int ps_bytes_compare(const char *a, size_t na, const char *b, size_t nb);

/* A string with its length, for sorting strings that travel with their lengths. */
typedef struct ps_bytes {
    char *p;
    size_t len;
} ps_bytes;

/* qsort comparator over ps_bytes, in ps_bytes_compare order. */
int ps_bytes_qsort_cmp(const void *a, const void *b);

/* Prometheus's labels.Compare over two sorted label sets: <0, 0, >0. */
int ps_labels_compare(const promstore_label *a, size_t na,
                      const promstore_label *b, size_t nb);

/*
 * Write {name="value", ...} (values escaped as Go's %q would, so the text is
 * one line) into buf of cap bytes, always NUL-terminated, cut with "..." when
 * too long. Returns buf.
 */
char *ps_labels_format(const promstore_label *labels, size_t n, char *buf,
                       size_t cap);

/*
 * The pieces of ps_labels_format, for other messages (matchers): s quoted as
 * Go's %q would; and a label name, bare if it is a classic name, else quoted.
 * Both write into buf of cap bytes, NUL-terminated, cut with "..." when too
 * long, and return the length written.
 */
size_t ps_quote(const char *s, size_t len, char *buf, size_t cap);
size_t ps_name_format(const char *s, size_t len, char *buf, size_t cap);

/* Bytes the key of a sorted label set needs. */
size_t ps_labels_key_size(const promstore_label *labels, size_t n);

/* Write the key of a sorted label set into out (ps_labels_key_size bytes). Returns bytes written. */
size_t ps_labels_key_encode(const promstore_label *labels, size_t n, uint8_t *out);

/*
 * Encode one escaped, terminated string (esc(s) 0x00) into out, which has room
 * for 2 * len + 1 bytes. Returns bytes written. Used for postings keys.
 */
size_t ps_key_string_encode(const char *s, size_t len, uint8_t *out);

/*
 * Decode one escaped, terminated string at key[*pos..klen) into out (room for
 * klen bytes), advancing *pos past the terminator. Returns the decoded length,
 * or -1 if the key is malformed.
 */
long ps_key_string_decode(const uint8_t *key, size_t klen, size_t *pos, char *out);

/*
 * A decoded label set that owns its memory, reused across decodes (a query
 * decodes one key per series into the same ps_labelbuf, so memory stays flat).
 */
typedef struct ps_labelbuf {
    promstore_label *labels;
    size_t n;
    size_t labels_cap;
    char *bytes; /* unescaped names and values, each NUL-terminated */
    size_t bytes_cap;
} ps_labelbuf;

/* Decode a labels key into lb (previous contents replaced). 0, -1 malformed, -2 no memory. */
int ps_labelbuf_decode(ps_labelbuf *lb, const uint8_t *key, size_t klen);
void ps_labelbuf_free(ps_labelbuf *lb);

#endif
