/*
 * auth.h -- HTTP basic auth and bearer tokens. Secrets are read from files at
 * startup and compared in constant time; they are never logged.
 */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct srv_auth {
    char *user;     /* basic auth; NULL when off */
    char *password;
    size_t user_len, password_len;
    char *token;    /* bearer token; NULL when off */
    size_t token_len;
} srv_auth;

/*
 * Load the secrets the configuration names. Returns 0, or -1 with a message
 * in why (which never contains a secret).
 */
int srv_auth_load(srv_auth *a, const char *user, const char *password_file,
                  const char *token_file, char *why, size_t why_len);

/* True when any scheme is configured. */
bool srv_auth_enabled(const srv_auth *a);

/* True when the Authorization header value (may be NULL) is acceptable. */
bool srv_auth_check(const srv_auth *a, const char *authorization);

/* The WWW-Authenticate value to send with a 401. */
const char *srv_auth_challenge(const srv_auth *a);

/* Wipe and free the secrets. */
void srv_auth_free(srv_auth *a);

#endif
