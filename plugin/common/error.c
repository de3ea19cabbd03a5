/* error.c -- see error.h. */
#include "error.h"

#include "backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The formatting is backends/support.c's: one formatter for the whole library. */
promstore_status ps_fail(promstore_error *err, promstore_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ps_backend_vfail(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void ps_error_prefix(promstore_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ps_backend_verror_prefix(err, fmt, ap);
    va_end(ap);
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
