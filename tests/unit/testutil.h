/*
 * testutil.h -- small helpers shared by the cmocka tests: a fresh temporary
 * directory per test (removed afterwards) and the backend named on argv.
 */
#ifndef PS_TESTUTIL_H
#define PS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Make a new empty directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_mkdtemp(const char *tag);
/* Remove a directory tree (best effort) and free the path. */
void tu_rmtree(char *path);
/* The backend named by argv[1] ("lmdb" when absent); exits 2 on anything else. */
const char *tu_backend_from_argv(int argc, char **argv);
/* Bits of a double and back. */
uint64_t tu_bits(double v);
double tu_float(uint64_t bits);

#endif
