/*
 * error.h -- filling a promstore_error from inside the library.
 *
 * Every failing path calls ps_fail(), which writes the code and a formatted
 * message into the caller's promstore_error (if any) and returns the code, so
 * that `return ps_fail(err, PROMSTORE_E_IO, "...", ...);` is one line.
 */
#ifndef PS_ERROR_H
#define PS_ERROR_H

#include "promstore.h"

#if defined(__GNUC__)
#define PS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PS_PRINTF(f, a)
#endif

/* Fill *err (if not NULL) and return status. Long messages end with "...". */
promstore_status ps_fail(promstore_error *err, promstore_status status,
                         const char *fmt, ...) PS_PRINTF(3, 4);

/* Prefix err->message with "what: " (for context added by an outer layer). */
void ps_error_prefix(promstore_error *err, const char *fmt, ...) PS_PRINTF(2, 3);

/*
 * Hand an ABI call's result to its caller: on an error (rc < 0) copy the
 * detail from local into *user (if not NULL); otherwise leave *user untouched,
 * as the ABI promises. Returns rc.
 */
promstore_status ps_report(promstore_status rc, const promstore_error *local,
                           promstore_error *user);

/*
 * The body of an ABI entry point: run the internal call with a local error
 * (named PS_LOCAL_ERR inside `call`) and hand its detail to user_err only on
 * failure, so that a call that recovers from an inner error on its way to
 * success leaves the caller's promstore_error untouched:
 *
 *     PS_ABI_RETURN(err, abi_append(db, series, n_series, result, PS_LOCAL_ERR));
 */
#define PS_ABI_RETURN(user_err, call)                                                        \
    do {                                                                                     \
        promstore_error ps_local_err_;                                                       \
        ps_local_err_.message[0] = '\0';                                                     \
        promstore_error *const PS_LOCAL_ERR = &ps_local_err_;                                \
        return ps_report((call), PS_LOCAL_ERR, (user_err));                                  \
    } while (0)

#endif
