/*
 * shim.h -- C helpers for the Go package, with no compatibility guarantees.
 *
 * cgo forbids passing C structs that hold Go pointers (promstore_series,
 * promstore_label, promstore_matcher) and allocates per argument for every
 * struct it must check. So Go hands flat, pointer-free buffers (one byte
 * blob of strings, arrays of integers, the samples), and these helpers build
 * the library's structs on the C side, call, and free them before returning:
 * C keeps no Go pointer after a call. Each helper also returns the status and
 * the error text of the same call together, copied into malloc'd memory that
 * Go frees (no "last error", no thread-bound state).
 */
#ifndef PROMSTORE_GO_SHIM_H
#define PROMSTORE_GO_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <promstore.h>

/* A status and, on error, the message of the same call (malloc'd, Go frees it). */
typedef struct shim_ret {
    promstore_status st;
    char *msg;
} shim_ret;

static inline shim_ret shim_result(promstore_status st, const promstore_error *err)
{
    /* On error the library has filled err, its message NUL-terminated. */
    shim_ret r = {st, st < 0 ? strdup(err->message) : NULL};
    return r;
}

static inline shim_ret shim_open(const promstore_options *o, promstore **out)
{
    promstore_error err;
    promstore_status st = promstore_open(o, out, &err);
    return shim_result(st, &err);
}

static inline shim_ret shim_close(promstore *db)
{
    promstore_error err;
    promstore_status st = promstore_close(db, &err);
    return shim_result(st, &err);
}

/*
 * Append. strs: every label name and value, back to back. lbl: per label
 * (name offset, name length, value offset, value length). ser: per series
 * (first label, label count, first sample, sample count). samples: all
 * samples, laid out as promstore_sample.
 */
static inline shim_ret shim_append(promstore *db, const char *strs, const uint64_t *lbl,
                                   size_t n_labels, const uint64_t *ser, size_t n_series,
                                   const promstore_sample *samples,
                                   promstore_append_result *res)
{
    promstore_error err;
    shim_ret r = {PROMSTORE_E_NOMEM, NULL};
    promstore_label *labels = malloc((n_labels ? n_labels : 1) * sizeof *labels);
    promstore_series *series = malloc((n_series ? n_series : 1) * sizeof *series);
    if (labels == NULL || series == NULL)
        goto out;
    for (size_t i = 0; i < n_labels; i++) {
        const uint64_t *l = lbl + 4 * i;
        labels[i].name = strs + l[0];
        labels[i].name_len = (size_t)l[1];
        labels[i].value = strs + l[2];
        labels[i].value_len = (size_t)l[3];
    }
    for (size_t i = 0; i < n_series; i++) {
        const uint64_t *s = ser + 4 * i;
        series[i].labels = labels + s[0];
        series[i].n_labels = (size_t)s[1];
        series[i].samples = samples ? samples + s[2] : NULL;
        series[i].n_samples = (size_t)s[3];
    }
    res->struct_size = sizeof *res;
    r = shim_result(promstore_append(db, series, n_series, res, &err), &err);
out:
    free(labels);
    free(series);
    return r;
}

/* Matchers as flat buffers: mt per matcher (type, name off, name len, value off, value len). */
static inline promstore_matcher *shim_matchers(const char *strs, const uint64_t *mt, size_t n)
{
    promstore_matcher *m = malloc((n ? n : 1) * sizeof *m);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const uint64_t *x = mt + 5 * i;
        m[i].type = (promstore_match_type)x[0];
        m[i].name = strs + x[1];
        m[i].name_len = (size_t)x[2];
        m[i].value = strs + x[3];
        m[i].value_len = (size_t)x[4];
    }
    return m;
}

static inline shim_ret shim_query(promstore *db, const char *strs, const uint64_t *mt, size_t n,
                                  int64_t mint, int64_t maxt, promstore_series_iter **out)
{
    promstore_error err;
    promstore_matcher *m = shim_matchers(strs, mt, n);
    if (m == NULL)
        return (shim_ret){PROMSTORE_E_NOMEM, NULL};
    shim_ret r = shim_result(promstore_query(db, m, n, mint, maxt, out, &err), &err);
    free(m);
    return r;
}

/* Label names (name == NULL) or the values of one label. */
static inline shim_ret shim_label_strings(promstore *db, const char *name, size_t name_len,
                                          const char *strs, const uint64_t *mt, size_t n,
                                          int64_t mint, int64_t maxt, promstore_string_iter **out)
{
    promstore_error err;
    promstore_matcher *m = shim_matchers(strs, mt, n);
    promstore_status st;
    if (m == NULL)
        return (shim_ret){PROMSTORE_E_NOMEM, NULL};
    if (name == NULL)
        st = promstore_label_names(db, m, n, mint, maxt, out, &err);
    else
        st = promstore_label_values(db, name, name_len, m, n, mint, maxt, out, &err);
    free(m);
    return shim_result(st, &err);
}

typedef struct shim_str_ret {
    promstore_status st;
    const char *s;
    size_t len;
    char *msg;
} shim_str_ret;

static inline shim_str_ret shim_string_next(promstore_string_iter *it)
{
    promstore_error err;
    shim_str_ret r = {0, NULL, 0, NULL};
    r.st = promstore_string_iter_next(it, &r.s, &r.len, &err);
    r.msg = shim_result(r.st, &err).msg;
    return r;
}

static inline shim_ret shim_series_next(promstore_series_iter *it)
{
    promstore_error err;
    return shim_result(promstore_series_iter_next(it, &err), &err);
}

typedef struct shim_labels_ret {
    promstore_status st;
    const promstore_label *labels;
    size_t n;
    char *msg;
} shim_labels_ret;

static inline shim_labels_ret shim_series_labels(promstore_series_iter *it)
{
    promstore_error err;
    shim_labels_ret r = {0, NULL, 0, NULL};
    r.st = promstore_series_iter_labels_v2(it, &r.labels, &r.n, &err);
    r.msg = shim_result(r.st, &err).msg;
    return r;
}

/*
 * Up to cap samples of the current series into out (Go memory, pointer-free),
 * so that one cgo call moves many samples. *n gets the count; the status is
 * that of the last promstore_series_iter_sample() call (PROMSTORE_OK when
 * the buffer filled up).
 */
static inline shim_ret shim_series_samples(promstore_series_iter *it, promstore_sample *out,
                                           size_t cap, size_t *n)
{
    promstore_error err;
    promstore_status st = PROMSTORE_OK;
    size_t i = 0;
    while (i < cap) {
        st = promstore_series_iter_sample(it, &out[i], &err);
        if (st != PROMSTORE_OK)
            break;
        i++;
    }
    *n = i;
    return shim_result(st, &err);
}

static inline shim_ret shim_retention(promstore *db, int64_t cutoff,
                                      promstore_retention_result *res)
{
    promstore_error err;
    res->struct_size = sizeof *res;
    return shim_result(promstore_apply_retention(db, cutoff, res, &err), &err);
}

static inline shim_ret shim_stats(promstore *db, promstore_stats *st)
{
    promstore_error err;
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    return shim_result(promstore_stats_get(db, st, &err), &err);
}

/* --- Remote protocol ---------------------------------------------------- */

/* The request as the entry points take it; body and strings are only read. */
static inline promstore_http_request shim_request(const char *ctype, const char *cenc,
                                                  const uint8_t *body, size_t len)
{
    promstore_http_request req;
    memset(&req, 0, sizeof req);
    req.struct_size = sizeof req;
    req.content_type = ctype;
    req.content_encoding = cenc;
    req.body = body;
    req.body_len = len;
    return req;
}

/* ctype and cenc are C strings or NULL; body is Go memory (pointer-free), only read. */
static inline shim_ret shim_remote_write(promstore *db, const char *ctype, const char *cenc,
                                         const uint8_t *body, size_t len,
                                         promstore_http_response *pr)
{
    promstore_error err;
    promstore_http_request req = shim_request(ctype, cenc, body, len);
    memset(pr, 0, sizeof *pr);
    pr->struct_size = sizeof *pr;
    return shim_result(promstore_remote_write(db, &req, pr, &err), &err);
}

static inline shim_ret shim_remote_read_open(promstore *db, const char *ctype, const char *cenc,
                                             const uint8_t *body, size_t len,
                                             promstore_http_response *pr, promstore_reader **out)
{
    promstore_error err;
    promstore_http_request req = shim_request(ctype, cenc, body, len);
    memset(pr, 0, sizeof *pr);
    pr->struct_size = sizeof *pr;
    *out = NULL;
    return shim_result(promstore_remote_read_open(db, &req, pr, out, &err), &err);
}

typedef struct shim_piece_ret {
    promstore_status st;
    const uint8_t *data;
    size_t len;
    char *msg;
} shim_piece_ret;

static inline shim_piece_ret shim_remote_read_next(promstore_reader *r)
{
    promstore_error err;
    shim_piece_ret p = {0, NULL, 0, NULL};
    p.st = promstore_remote_read_next(r, &p.data, &p.len, &err);
    p.msg = shim_result(p.st, &err).msg;
    return p;
}

#endif
