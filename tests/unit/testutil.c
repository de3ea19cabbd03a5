/* testutil.c -- see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (path == NULL)
        abort();
    snprintf(path, n, "%s/promstore-%s-XXXXXX", base, tag);
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

void tu_rmtree(char *path)
{
    if (path == NULL)
        return;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

const char *tu_backend_from_argv(int argc, char **argv)
{
    if (argc < 2)
        return "lmdb";
    if (strcmp(argv[1], "lmdb") == 0 || strcmp(argv[1], "sqlite") == 0)
        return argv[1];
    fprintf(stderr, "usage: %s [lmdb|sqlite]\n", argv[0]);
    exit(2);
}

uint64_t tu_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

double tu_float(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}
