/*
 * fuzz_common.h -- what the libFuzzer targets share: one store in a private
 * temporary directory, reused across inputs and recycled when it grows; a
 * snappy helper; checks every protocol answer must pass whatever the input.
 *
 * A target's LLVMFuzzerInitialize calls fuzz_store_setup(); its
 * LLVMFuzzerTestOneInput uses fuzz_store() and, if it writes, calls
 * fuzz_store_tick() after each input. The directory is removed at exit.
 */
#ifndef PS_FUZZ_COMMON_H
#define PS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called on every (re)open: adjust options, and fill the new store. */
typedef void (*fuzz_opts_fn)(promstore_options *opts);
typedef void (*fuzz_fill_fn)(promstore *db);

/* Open the store (lmdb, in a fresh directory under $TMPDIR); abort on failure. */
void fuzz_store_setup(fuzz_opts_fn opts, fuzz_fill_fn fill);

promstore *fuzz_store(void);

/*
 * Count one input; every so many inputs look at the store's size and, once
 * it passed the bounds, close it, remove its directory and open a new one, so
 * that a long run of writes does not slow down or fill the disk.
 */
void fuzz_store_tick(void);

/* Report a broken invariant and abort (libFuzzer saves the input). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* snappy block-compress p[0..n); malloc'd, never NULL. */
uint8_t *fuzz_snappy(const uint8_t *p, size_t n, size_t *out_len);

/* A malloc'd copy of exactly n bytes (so ASan sees any read past them). */
uint8_t *fuzz_dup(const uint8_t *p, size_t n);

/* A malloc'd NUL-terminated copy of p[0..n). */
char *fuzz_strndup(const uint8_t *p, size_t n);

/*
 * What every answer must look like, whatever the request: a status from
 * `allowed` (0-terminated list), NUL-terminated strings, n_headers in range,
 * a message exactly for status >= 400.
 */
void fuzz_check_response(const promstore_http_response *resp, const int *allowed);

/* Find a response header by name (case-sensitive); NULL if absent. */
const char *fuzz_header(const promstore_http_response *resp, const char *name);

/* A request struct over the given headers and body. */
promstore_http_request fuzz_request(const char *content_type, const char *content_encoding,
                                    const uint8_t *body, size_t body_len);

/* An initialised response struct. */
promstore_http_response fuzz_response(void);

/*
 * The HTTP body of a protocol target's input: rest[0..n), the input after its
 * first byte, block-compressed here when `compress` (so that the fuzzer
 * reaches the protobuf decoder instead of dying in snappy), else as sent.
 * malloc'd, never NULL.
 */
uint8_t *fuzz_body(const uint8_t *rest, size_t n, int compress, size_t *len);

/* What a remote-write message holds, from an independent decode of it. */
typedef struct fuzz_write_counts {
    uint64_t samples, exemplars, histograms, metadata;
} fuzz_write_counts;

/* Decode a message and count it into *c (zeroed); -1 if it does not decode. */
typedef int (*fuzz_write_count_fn)(const uint8_t *raw, size_t n, fuzz_write_counts *c);

/*
 * One input of a remote-write target (fuzz_remote_write_v1, _v2): byte 0 bit
 * 0 as in fuzz_body, the rest the body or the message; promstore_remote_write()
 * with content_type must give a well-formed answer with a status of 204, 400,
 * 413, 503 or 507 that passes check_answer (the version's own headers). When
 * the rest was the message, against count()'s decode of it: undecodable ->
 * 400 or 413; never more samples written and rejected than sent; and a 204
 * wrote every sample and counted every exemplar, histogram and metadata entry
 * it dropped. Returns 0, for LLVMFuzzerTestOneInput to return.
 */
int fuzz_remote_write_input(const uint8_t *data, size_t size, const char *content_type,
                            void (*check_answer)(const promstore_http_response *resp),
                            fuzz_write_count_fn count);

#endif
