/* error.c -- see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void mark_truncated(char *msg, size_t cap, int wanted)
{
    if (wanted >= 0 && (size_t)wanted >= cap && cap > 4)
        memcpy(msg + cap - 4, "...", 4);
}

promstore_status ps_fail(promstore_error *err, promstore_status status,
                         const char *fmt, ...)
{
    if (err == NULL)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    mark_truncated(err->message, sizeof err->message, n);
    return status;
}

void ps_error_prefix(promstore_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char old[PROMSTORE_ERROR_MESSAGE_MAX];
    memcpy(old, err->message, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof err->message) {
        mark_truncated(err->message, sizeof err->message, n);
        return;
    }
    int m = snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", old);
    mark_truncated(err->message, sizeof err->message, m < 0 ? m : n + m);
}

promstore_status ps_report(promstore_status rc, const promstore_error *local,
                           promstore_error *user)
{
    if (rc < 0 && user != NULL) {
        user->status = rc;
        memcpy(user->message, local->message, sizeof user->message);
    }
    return rc;
}
