/*
 * testutil.h -- small helpers shared by the cmocka tests: a fresh temporary
 * directory per test (removed afterwards), the backend named on argv, and
 * the checks every protocol answer must pass.
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

#endif
