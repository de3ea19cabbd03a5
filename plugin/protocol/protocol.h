/*
 * protocol.h -- helpers shared by the remote storage protocol entry points
 * (remote_write.c, remote_read.c): request header checks, the snappy body
 * with its size limits, a bounded allocator for protobuf-c, and filling a
 * promstore_http_response.
 *
 * THE ORDER OF CHECKS (docs/PROTOCOL.md 2.1 and 4)
 *   1. ps_proto_args_ok       the ABI structs themselves
 *   2. ps_proto_check_encoding / ps_content_type_parse
 *                             headers, before the body is touched (415)
 *   3. ps_proto_unsnappy      compressed size, declared decoded size (413),
 *                             then decompression (400)
 *   4. ps_pb_alloc + *_unpack decoding under a memory bound (413 / 400)
 *
 * Every helper that can fail on input fills the response itself (status,
 * one-line message, text/plain) and returns -1, so that an entry point reads
 * `if (ps_proto_unsnappy(...)) goto answer;`. Nothing here aborts on input.
 */
#ifndef PS_PROTOCOL_H
#define PS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "engine.h"
#include "error.h"
#include "promstore.h"

/* Content-Type of every error body the protocol entry points produce. */
#define PS_TEXT_PLAIN "text/plain; charset=utf-8"

/* --- argument checks -------------------------------------------------------- */

/*
 * Check the ABI arguments of a protocol entry point: a valid handle, req and
 * resp not NULL, their struct_size at least the 1.0 size. Returns
 * PROMSTORE_OK or fills err with PROMSTORE_E_INVALID (resp untouched).
 */
promstore_status ps_proto_args_ok(const promstore *db, const promstore_http_request *req,
                                  const promstore_http_response *resp, promstore_error *err);

/* --- headers ----------------------------------------------------------------- */

/*
 * A parsed Content-Type: the media type and the value of its proto= parameter,
 * both as spans into the header string, whitespace trimmed and a quoted
 * parameter value unquoted. proto is NULL when there is no proto= parameter.
 */
typedef struct ps_content_type {
    const char *media;
    size_t media_len;
    const char *proto;
    size_t proto_len;
} ps_content_type;

/*
 * Parse a Content-Type header as Prometheus does: trim, split on ';', the
 * first part is the media type, each further part is name=value (the name
 * case-insensitive). Returns 0, or -1 when a parameter has no '=' or the
 * media type is empty. header must not be NULL (a missing header is the
 * caller's decision).
 */
int ps_content_type_parse(const char *header, ps_content_type *out);

/* 1 if s[0..len) equals the NUL-terminated lit, ASCII case-insensitively. */
int ps_span_eq_nocase(const char *s, size_t len, const char *lit);

/* 1 if s[0..len) equals the NUL-terminated lit exactly. */
int ps_span_eq(const char *s, size_t len, const char *lit);

/*
 * Check Content-Encoding: absent, empty or "snappy" (case-insensitive,
 * whitespace trimmed) is accepted, as Prometheus accepts it. Anything else
 * answers 415 in resp and returns -1.
 */
int ps_proto_check_encoding(const promstore_http_request *req, promstore_http_response *resp);

/* --- the body ------------------------------------------------------------------ */

/* The snappy framed-stream identifier chunk ("sNaPpY"), which bodies must not use. */
extern const uint8_t ps_snappy_framed_magic[10];

/*
 * Decompress a snappy block-format body under db's limits:
 *   body_len > max_request_bytes                 -> 413
 *   the length header does not parse             -> 400 "corrupt snappy ..."
 *                                                   (naming the framed format when
 *                                                   the body starts with its magic)
 *   declared length > max_decoded_bytes          -> 413, before any allocation
 *   no memory                                    -> 503 with Retry-After
 *   decompression fails                          -> 400
 * what names the message for the text ("WriteRequest"). On success returns 0
 * and *out (malloc'd, the caller frees; never NULL, even for an empty result)
 * with *out_len; otherwise fills resp and returns -1 with *out NULL.
 */
int ps_proto_unsnappy(const promstore *db, const uint8_t *body, size_t body_len,
                      const char *what, uint8_t **out, size_t *out_len,
                      promstore_http_response *resp);

/*
 * A protobuf-c allocator that counts the bytes *_unpack() asks for and refuses
 * past a limit, so that a hostile message (millions of empty submessages,
 * each a few wire bytes but a ~100-byte struct) cannot make decoding take
 * unbounded memory. Frees are not subtracted: during an unpack memory only
 * grows, so the running total is the peak.
 */
typedef struct ps_pb_alloc {
    ProtobufCAllocator base; /* pass &pa.base to *_unpack */
    size_t used;
    size_t limit;
    int refused; /* set once a request was refused for the limit */
    int oom;     /* set once malloc itself failed */
    /* A bump arena: a decoded message is thousands of small objects. */
    void *blocks;       /* newest block; each starts with a pointer to the previous */
    size_t block_used, block_cap;
} ps_pb_alloc;

/* Set up pa with a limit fitting a message of encoded_len bytes (see protocol.c). */
void ps_pb_alloc_init(ps_pb_alloc *pa, size_t encoded_len);

/*
 * Free everything unpacked with pa at once. Use this instead of
 * *_free_unpacked(), whose per-object frees are no-ops on the arena.
 */
void ps_pb_alloc_release(ps_pb_alloc *pa);

/*
 * Answer a failed *_unpack(): 413 when pa refused memory past its limit,
 * 503 with Retry-After when malloc itself failed, else 400
 * "cannot decode <what>: ...".
 */
void ps_proto_decode_failed(const ps_pb_alloc *pa, const char *what,
                            promstore_http_response *resp);

/* --- the response ------------------------------------------------------------------ */

/* Zero resp (keeping struct_size), status 0, no headers, empty strings. */
void ps_resp_init(promstore_http_response *resp);

/*
 * Answer an error: status, content_type text/plain, and message formatted from
 * fmt and made one line (newlines and other control bytes become spaces).
 */
void ps_resp_error(promstore_http_response *resp, int status, const char *fmt, ...)
    PS_PRINTF(3, 4);

/* Add a header; the value is formatted. Returns 0, or -1 when resp is full or
 * the name does not fit (the header is then not added). */
int ps_resp_header(promstore_http_response *resp, const char *name, const char *fmt, ...)
    PS_PRINTF(3, 4);

/*
 * The HTTP status for an engine error, chosen so that Prometheus retries what
 * may succeed later (5xx) and drops what never will (4xx), and never 429
 * (Prometheus 2.42 drops a batch answered 429 by default):
 *   E_BAD_LABELS, E_OUT_OF_ORDER, E_INVALID, E_BAD_MATCHER, E_UNSUPPORTED,
 *   E_LIMIT (as Prometheus answers its read sample limit)       -> 400
 *   E_BUSY, E_NOMEM (with Retry-After, see ps_resp_engine_error) -> 503
 *   E_FULL (with Retry-After: PS_RETRY_AFTER_FULL_S seconds)     -> 507
 *   E_IO, E_CORRUPT, E_MISUSE, anything else                     -> 500
 */
int ps_http_status(promstore_status rc);

/* Seconds a sender is asked to wait after a 507 (storage full). */
#define PS_RETRY_AFTER_FULL_S "10"

/*
 * Answer an engine error: status from ps_http_status(e->status), the engine's
 * message as the body (it names the series), "Retry-After: 1" for 503 and
 * "Retry-After: PS_RETRY_AFTER_FULL_S" for 507.
 */
void ps_resp_engine_error(promstore_http_response *resp, const promstore_error *e);

#endif
