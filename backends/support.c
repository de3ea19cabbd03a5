/*
 * support.c -- the helpers backends share with the engine (backend.h, "What a
 * backend may call"): error detail, the allocator and opening store files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* --- error detail ------------------------------------------------------------- */

/* A message cut to cap bytes ends in "..." so that a reader sees it was cut. */
static void mark_truncated(char *msg, size_t cap, int wanted)
{
    if (wanted >= 0 && (size_t)wanted >= cap && cap > 4)
        memcpy(msg + cap - 4, "...", 4);
}

int ps_backend_vfail(promstore_error *err, int status, const char *fmt, va_list ap)
{
    if (err == NULL)
        return status;
    err->status = (promstore_status)status;
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    mark_truncated(err->message, sizeof err->message, n);
    return status;
}

int ps_backend_fail(promstore_error *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ps_backend_vfail(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void ps_backend_verror_prefix(promstore_error *err, const char *fmt, va_list ap)
{
    if (err == NULL)
        return;
    char old[PROMSTORE_ERROR_MESSAGE_MAX];
    memcpy(old, err->message, sizeof old);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof err->message) {
        mark_truncated(err->message, sizeof err->message, n);
        return;
    }
    int m = snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", old);
    mark_truncated(err->message, sizeof err->message, m < 0 ? m : n + m);
}

void ps_backend_error_prefix(promstore_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ps_backend_verror_prefix(err, fmt, ap);
    va_end(ap);
}

/* --- the allocator ------------------------------------------------------------- */

static const ps_backend_allocator libc_allocator = {malloc, calloc, realloc, free};
static _Atomic(const ps_backend_allocator *) allocator = &libc_allocator;

void ps_backend_set_allocator(const ps_backend_allocator *a)
{
    atomic_store_explicit(&allocator, a ? a : &libc_allocator, memory_order_release);
}

static const ps_backend_allocator *current(void)
{
    return atomic_load_explicit(&allocator, memory_order_acquire);
}

void *ps_backend_malloc(size_t n)
{
    return current()->malloc(n);
}

void *ps_backend_calloc(size_t count, size_t size)
{
    return current()->calloc(count, size);
}

void *ps_backend_realloc(void *p, size_t n)
{
    return current()->realloc(p, n);
}

void ps_backend_free(void *p)
{
    current()->free(p);
}

/* --- store files ---------------------------------------------------------------- */

int ps_backend_open_file(const char *path, int flags, promstore_error *err)
{
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, PS_STORE_FILE_MODE);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ELOOP)
        return ps_backend_fail(err, PROMSTORE_E_CORRUPT,
                               "%s is a symbolic link: a store opens no file through a link "
                               "(remove it)",
                               path);
    return ps_backend_fail(err,
                           e == ENOSPC || e == EDQUOT ? PROMSTORE_E_FULL
                           : e == ENOENT && !(flags & O_CREAT) ? PROMSTORE_E_NOT_FOUND
                                                               : PROMSTORE_E_IO,
                           "cannot open %s: %s", path, strerror(e));
}
