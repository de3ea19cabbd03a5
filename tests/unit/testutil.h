/*
 * testutil.h -- small helpers shared by every cmocka test, whatever it links:
 * a fresh temporary directory per test (removed afterwards), the backend
 * named on argv, bits of a double, hashing for made-up sample values, a
 * monotonic clock, and the checks every protocol answer must pass. Nothing
 * here calls the library (helpers.h does).
 */
#ifndef PS_TESTUTIL_H
#define PS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "promstore.h"

/* Make a new empty directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_mkdtemp(const char *tag);
/* Remove a directory tree (best effort) and free the path. */
void tu_rmtree(char *path);
/* The backend named by argv[1] ("lmdb" when absent); exits 2 on anything else. */
const char *tu_backend_from_argv(int argc, char **argv);
/* What tu_backend_from_argv chose ("lmdb" before it is called). */
const char *tu_backend(void);
/* Bits of a double and back. */
uint64_t tu_bits(double v);
double tu_float(uint64_t bits);
/*
 * Fail the test unless every string of *resp is NUL-terminated inside its
 * array and n_headers is within PROMSTORE_HTTP_MAX_HEADERS, as abi/promstore.h
 * promises once an entry point has answered. Fill the struct with a nonzero
 * byte before the call, so that only the library can have put the NULs there.
 */
void tu_assert_response_terminated(const promstore_http_response *resp);

/* splitmix64 (one step of the generator, applied to x): cheap, well-mixed bits. */
uint64_t tu_mix64(uint64_t x);
/* FNV-1a over s[0..n), continuing from h (start with TU_FNV_OFFSET). */
#define TU_FNV_OFFSET UINT64_C(1469598103934665603)
uint64_t tu_fnv1a(const void *s, size_t n, uint64_t h);

/* Seconds on the monotonic clock; sleep ms milliseconds (restarted on EINTR). */
double tu_now_s(void);
void tu_sleep_ms(long ms);

#endif
