/*
 * labels.c -- label sets: strict UTF-8 checking, validation and sorting of a
 * series' labels, Prometheus's labels.Compare, one-line formatting for error
 * messages, and the order-preserving labels key (see labels.h).
 */
#include "labels.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mem.h"

/* --- UTF-8 ---------------------------------------------------------------- */

/*
 * Length of the valid UTF-8 sequence at s[0..len), or 0 if it is not one.
 * The second-byte ranges are what exclude overlongs (E0, F0), surrogates (ED)
 * and code points above U+10FFFF (F4); C0, C1 and F5..FF never start one.
 */
static size_t ps_utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (len < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

int ps_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs are the common case; skip them without the decoder. */
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = ps_utf8_seq(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

/* --- Formatting ----------------------------------------------------------- */

/*
 * A bounded writer. Text goes in as indivisible pieces (an escape, a UTF-8
 * sequence, a punctuation run) so a cut never splits one; `safe` remembers the
 * last piece boundary that still leaves room for "..." and the NUL.
 */
typedef struct ps_out {
    char *buf;
    size_t cap;
    size_t len;
    size_t safe;
    int full;
} ps_out;

static void ps_out_init(ps_out *o, char *buf, size_t cap)
{
    o->buf = buf;
    o->cap = cap;
    o->len = 0;
    o->safe = 0;
    o->full = 0;
}

static void ps_out_put(ps_out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    if (o->cap == 0 || n > o->cap - 1 - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    if (o->cap >= 4 && o->len <= o->cap - 4)
        o->safe = o->len;
}

static void ps_out_str(ps_out *o, const char *s)
{
    ps_out_put(o, s, strlen(s));
}

/* NUL-terminate, replacing the tail with "..." if something did not fit. */
static size_t ps_out_finish(ps_out *o)
{
    if (o->cap == 0)
        return 0;
    if (o->full) {
        if (o->cap >= 4) {
            memcpy(o->buf + o->safe, "...", 3);
            o->len = o->safe + 3;
        } else {
            memset(o->buf, '.', o->cap - 1);
            o->len = o->cap - 1;
        }
    }
    o->buf[o->len] = '\0';
    return o->len;
}

/* Go's strconv.Quote escapes for one ASCII control byte, or NULL. */
static const char *ps_short_escape(unsigned char c)
{
    switch (c) {
    case '\a': return "\\a";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\v': return "\\v";
    case '"': return "\\\"";
    case '\\': return "\\\\";
    default: return NULL;
    }
}

/*
 * s quoted as Go's %q would: printable text as is, the usual backslash
 * escapes, other control bytes and bytes of invalid UTF-8 as \xNN, and the C1
 * controls U+0080..U+009F as \u00NN, so the result is always one line.
 */
static void ps_out_quoted(ps_out *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    ps_out_put(o, "\"", 1);
    size_t i = 0;
    while (i < len && !o->full) {
        unsigned char c = p[i];
        const char *e = ps_short_escape(c);
        if (e != NULL) {
            ps_out_str(o, e);
            i++;
        } else if (c >= 0x20 && c < 0x7F) {
            ps_out_put(o, (const char *)p + i, 1);
            i++;
        } else if (c < 0x80) {
            char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            ps_out_put(o, x, 4);
            i++;
        } else {
            size_t n = ps_utf8_seq(p + i, len - i);
            if (n == 0) {
                char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                ps_out_put(o, x, 4);
                i++;
            } else if (n == 2 && c == 0xC2 && p[i + 1] < 0xA0) {
                unsigned char cp = p[i + 1];
                char u[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 15]};
                ps_out_put(o, u, 6);
                i += 2;
            } else {
                ps_out_put(o, (const char *)p + i, n);
                i += n;
            }
        }
    }
    ps_out_put(o, "\"", 1);
}

/* [a-zA-Z_][a-zA-Z0-9_]*, with ':' also allowed when colon is set. */
static int ps_legacy_name(const char *s, size_t len, int colon)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* A name bare when it is a classic one, else quoted (as Prometheus 3 prints it). */
static void ps_out_name(ps_out *o, const char *s, size_t len)
{
    if (ps_legacy_name(s, len, 0))
        ps_out_put(o, s, len);
    else
        ps_out_quoted(o, s, len);
}

char *ps_labels_format(const promstore_label *labels, size_t n, char *buf,
                       size_t cap)
{
    ps_out o;
    ps_out_init(&o, buf, cap);
    ps_out_put(&o, "{", 1);
    for (size_t i = 0; i < n && !o.full; i++) {
        if (i > 0)
            ps_out_put(&o, ", ", 2);
        ps_out_name(&o, labels[i].name, labels[i].name_len);
        ps_out_put(&o, "=", 1);
        ps_out_quoted(&o, labels[i].value, labels[i].value_len);
    }
    ps_out_put(&o, "}", 1);
    ps_out_finish(&o);
    return buf;
}

size_t ps_quote(const char *s, size_t len, char *buf, size_t cap)
{
    ps_out o;
    ps_out_init(&o, buf, cap);
    ps_out_quoted(&o, s, len);
    return ps_out_finish(&o);
}

size_t ps_name_format(const char *s, size_t len, char *buf, size_t cap)
{
    ps_out o;
    ps_out_init(&o, buf, cap);
    ps_out_name(&o, s, len);
    return ps_out_finish(&o);
}

/* --- Comparison and sorting ----------------------------------------------- */

int ps_bytes_compare(const char *a, size_t na, const char *b, size_t nb)
{
    size_t m = na < nb ? na : nb;
    int c = m > 0 ? memcmp(a, b, m) : 0;
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

int ps_bytes_qsort_cmp(const void *x, const void *y)
{
    const ps_bytes *a = x, *b = y;
    return ps_bytes_compare(a->p, a->len, b->p, b->len);
}

int ps_labels_compare(const promstore_label *a, size_t na,
                      const promstore_label *b, size_t nb)
{
    size_t m = na < nb ? na : nb;
    for (size_t i = 0; i < m; i++) {
        int c = ps_bytes_compare(a[i].name, a[i].name_len, b[i].name, b[i].name_len);
        if (c != 0)
            return c;
        c = ps_bytes_compare(a[i].value, a[i].value_len, b[i].value, b[i].value_len);
        if (c != 0)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

static int ps_label_name_cmp(const void *x, const void *y)
{
    const promstore_label *a = x, *b = y;
    return ps_bytes_compare(a->name, a->name_len, b->name, b->name_len);
}

/*
 * Series usually carry 5..15 labels, where insertion sort beats anything with
 * set-up cost; large sets go to qsort so thousands of labels stay n log n.
 */
#define PS_INSERTION_SORT_MAX 24

static void ps_labels_sort(promstore_label *l, size_t n)
{
    if (n > PS_INSERTION_SORT_MAX) {
        qsort(l, n, sizeof *l, ps_label_name_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        promstore_label x = l[i];
        size_t j = i;
        while (j > 0 && ps_label_name_cmp(&l[j - 1], &x) > 0) {
            l[j] = l[j - 1];
            j--;
        }
        l[j] = x;
    }
}

/* --- Validation ----------------------------------------------------------- */

/* Room for the series in a message, leaving space for the problem text. */
#define PS_SERIES_TEXT_MAX 768
#define PS_NAME_TEXT_MAX 160

static const char ps_metric_name_label[] = "__name__";

static int ps_is_metric_name_label(const promstore_label *l)
{
    return l->name_len == sizeof ps_metric_name_label - 1 &&
           memcmp(l->name, ps_metric_name_label, l->name_len) == 0;
}

/* Fail with "<problem> <quoted name> in series {...}". */
static promstore_status ps_label_fail(promstore_error *err, const char *problem,
                                      const promstore_label *culprit,
                                      const promstore_label *labels, size_t n)
{
    char series[PS_SERIES_TEXT_MAX];
    char name[PS_NAME_TEXT_MAX];
    ps_labels_format(labels, n, series, sizeof series);
    if (culprit == NULL)
        return ps_fail(err, PROMSTORE_E_BAD_LABELS, "%s in series %s", problem, series);
    ps_quote(culprit->name, culprit->name_len, name, sizeof name);
    return ps_fail(err, PROMSTORE_E_BAD_LABELS, "%s %s in series %s", problem, name,
                   series);
}

/* Check one label of a sorted set; prev is the label before it or NULL. */
static promstore_status ps_label_check(const promstore_label *l,
                                       const promstore_label *prev,
                                       ps_name_rules rules,
                                       const promstore_label *labels, size_t n,
                                       promstore_error *err)
{
    if (l->name_len == 0)
        return ps_label_fail(err, "empty label name", NULL, labels, n);
    if (prev != NULL && ps_label_name_cmp(prev, l) == 0)
        return ps_label_fail(err, "duplicate label name", l, labels, n);
    if (!ps_utf8_valid(l->name, l->name_len))
        return ps_label_fail(err, "invalid UTF-8 in label name", l, labels, n);
    if (!ps_utf8_valid(l->value, l->value_len))
        return ps_label_fail(err, "invalid UTF-8 in the value of label", l, labels, n);
    if (rules != PS_NAMES_LEGACY)
        return PROMSTORE_OK;
    if (!ps_legacy_name(l->name, l->name_len, 0))
        return ps_label_fail(err, "invalid label name", l, labels, n);
    if (ps_is_metric_name_label(l) && !ps_legacy_name(l->value, l->value_len, 1)) {
        char series[PS_SERIES_TEXT_MAX];
        char metric[PS_NAME_TEXT_MAX];
        ps_labels_format(labels, n, series, sizeof series);
        ps_quote(l->value, l->value_len, metric, sizeof metric);
        return ps_fail(err, PROMSTORE_E_BAD_LABELS, "invalid metric name %s in series %s",
                       metric, series);
    }
    return PROMSTORE_OK;
}

/* Move labels with a non-empty value to the front, keeping their order. */
static size_t ps_drop_empty_values(promstore_label *labels, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (labels[i].value_len != 0)
            labels[k++] = labels[i];
    return k;
}

promstore_status ps_labels_normalize(promstore_label *labels, size_t *n,
                                     ps_name_rules rules, promstore_error *err)
{
    if (n == NULL || (labels == NULL && *n != 0))
        return ps_fail(err, PROMSTORE_E_INVALID, "labels: NULL argument");
    size_t count = *n;
    /* Checked before compacting so the message can show the labels as sent. */
    size_t i = 0;
    while (i < count && labels[i].value_len == 0)
        i++;
    if (i == count) {
        if (count == 0)
            return ps_fail(err, PROMSTORE_E_BAD_LABELS, "series has no labels");
        return ps_label_fail(err, "no label has a non-empty value", NULL,
                             labels, count);
    }
    count = ps_drop_empty_values(labels, count);
    *n = count;
    ps_labels_sort(labels, count);
    for (i = 0; i < count; i++) {
        promstore_status st = ps_label_check(&labels[i], i > 0 ? &labels[i - 1] : NULL,
                                             rules, labels, count, err);
        if (st != PROMSTORE_OK)
            return st;
    }
    return PROMSTORE_OK;
}

/* --- The labels key ------------------------------------------------------- */

static size_t ps_key_string_size(const char *s, size_t len)
{
    size_t size = len + 1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x01)
            size++;
    return size;
}

size_t ps_labels_key_size(const promstore_label *labels, size_t n)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += ps_key_string_size(labels[i].name, labels[i].name_len) +
                ps_key_string_size(labels[i].value, labels[i].value_len);
    return size;
}

size_t ps_key_string_encode(const char *s, size_t len, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c <= 0x01) {
            out[k++] = 0x01;
            out[k++] = (uint8_t)(c + 1);
        } else {
            out[k++] = c;
        }
    }
    out[k++] = 0x00;
    return k;
}

size_t ps_labels_key_encode(const promstore_label *labels, size_t n, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += ps_key_string_encode(labels[i].name, labels[i].name_len, out + k);
        k += ps_key_string_encode(labels[i].value, labels[i].value_len, out + k);
    }
    return k;
}

/*
 * The decoded text is shorter than its encoding by at least the terminator,
 * so out (klen bytes) also has room for the NUL written after it.
 */
long ps_key_string_decode(const uint8_t *key, size_t klen, size_t *pos, char *out)
{
    size_t i = *pos;
    size_t k = 0;
    while (i < klen) {
        uint8_t c = key[i++];
        if (c == 0x00) {
            out[k] = '\0';
            *pos = i;
            return (long)k;
        }
        if (c == 0x01) {
            if (i >= klen || (key[i] != 0x01 && key[i] != 0x02))
                return -1;
            c = (uint8_t)(key[i++] - 1);
        }
        out[k++] = (char)c;
    }
    return -1; /* no terminator */
}

/* Make room for `strings / 2` labels and klen bytes; 0 or -2. */
static int ps_labelbuf_reserve(ps_labelbuf *lb, size_t nlabels, size_t nbytes)
{
    if (PS_GROW(lb->labels, lb->labels_cap, nlabels) || PS_GROW(lb->bytes, lb->bytes_cap, nbytes))
        return -2;
    return 0;
}

/*
 * A 0x00 byte only ever appears as a terminator (escapes use 0x01 0x01), so
 * counting them gives the number of strings before anything is decoded.
 */
int ps_labelbuf_decode(ps_labelbuf *lb, const uint8_t *key, size_t klen)
{
    lb->n = 0;
    if (klen == 0)
        return 0;
    if (key == NULL || key[klen - 1] != 0x00)
        return -1;
    size_t strings = 0;
    for (size_t i = 0; i < klen; i++)
        strings += key[i] == 0x00;
    if (strings % 2 != 0)
        return -1;
    if (ps_labelbuf_reserve(lb, strings / 2, klen) != 0)
        return -2;
    size_t pos = 0, used = 0;
    for (size_t j = 0; j < strings / 2; j++) {
        promstore_label *l = &lb->labels[j];
        long nl = ps_key_string_decode(key, klen, &pos, lb->bytes + used);
        if (nl < 0)
            return -1;
        l->name = lb->bytes + used;
        l->name_len = (size_t)nl;
        used += (size_t)nl + 1;
        long vl = ps_key_string_decode(key, klen, &pos, lb->bytes + used);
        if (vl < 0)
            return -1;
        l->value = lb->bytes + used;
        l->value_len = (size_t)vl;
        used += (size_t)vl + 1;
    }
    lb->n = strings / 2;
    return 0;
}

void ps_labelbuf_free(ps_labelbuf *lb)
{
    if (lb == NULL)
        return;
    ps_free(lb->labels);
    ps_free(lb->bytes);
    memset(lb, 0, sizeof *lb);
}
