/*
 * auth.c -- checks the Authorization header against the configured basic-auth
 * password or bearer token. Comparisons run in time independent of where the
 * first difference is, so response times do not leak the secret.
 */
#include "auth.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Secret files are small; refuse anything larger as a likely mistake. */
#define SECRET_MAX 4096

/* Read a whole secret file, dropping one trailing "\n" or "\r\n". */
static char *read_secret(const char *path, size_t *len, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, why_len, "cannot read \"%s\"", path);
        return NULL;
    }
    char *buf = malloc(SECRET_MAX + 1);
    size_t n = buf ? fread(buf, 1, SECRET_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > SECRET_MAX) {
        snprintf(why, why_len, "\"%s\" is %s", path, buf ? "larger than 4096 bytes" : "unreadable (out of memory)");
        free(buf);
        return NULL;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0) {
        snprintf(why, why_len, "\"%s\" is empty", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int srv_auth_load(srv_auth *a, const char *user, const char *password_file,
                  const char *token_file, char *why, size_t why_len)
{
    memset(a, 0, sizeof *a);
    if (user != NULL && password_file != NULL) {
        a->user = strdup(user);
        a->user_len = strlen(user);
        a->password = read_secret(password_file, &a->password_len, why, why_len);
        if (a->user == NULL || a->password == NULL)
            goto fail;
    }
    if (token_file != NULL) {
        a->token = read_secret(token_file, &a->token_len, why, why_len);
        if (a->token == NULL)
            goto fail;
    }
    return 0;
fail:
    srv_auth_free(a);
    return -1;
}

bool srv_auth_enabled(const srv_auth *a)
{
    return a->user != NULL || a->token != NULL;
}

/*
 * Equal in time that depends only on the length of the expected value: every
 * byte of `want` is visited whatever `got` holds.
 */
static bool ct_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
    unsigned char diff = got_len != want_len;
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
        diff |= g ^ (unsigned char)want[i];
    }
    return diff == 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64 (padding optional); -1 on bad input or overflow. */
static int b64_decode(const char *in, char *out, size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *in && *in != '='; in++) {
        int v = b64_value((unsigned char)*in);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    for (; *in == '='; in++)
        ;
    if (*in != '\0')
        return -1;
    *out_len = n;
    return 0;
}

static bool check_basic(const srv_auth *a, const char *cred)
{
    char buf[2 * SECRET_MAX];
    size_t n;
    if (b64_decode(cred, buf, sizeof buf, &n) != 0)
        return false;
    const char *colon = memchr(buf, ':', n);
    if (colon == NULL)
        return false;
    size_t ulen = (size_t)(colon - buf);
    /* Both halves are compared every time, so a wrong user costs the same. */
    bool user_ok = ct_equal(buf, ulen, a->user, a->user_len);
    bool pass_ok = ct_equal(colon + 1, n - ulen - 1, a->password, a->password_len);
    explicit_bzero(buf, sizeof buf);
    return user_ok & pass_ok;
}

/* Split "Scheme credentials"; the scheme is case-insensitive (RFC 9110). */
static const char *credentials_for(const char *header, const char *scheme)
{
    size_t n = strlen(scheme);
    if (strncasecmp(header, scheme, n) != 0 || header[n] != ' ')
        return NULL;
    header += n;
    while (*header == ' ')
        header++;
    return header;
}

bool srv_auth_check(const srv_auth *a, const char *authorization)
{
    if (!srv_auth_enabled(a))
        return true;
    if (authorization == NULL)
        return false;
    const char *cred;
    if (a->user != NULL && (cred = credentials_for(authorization, "Basic")) != NULL)
        return check_basic(a, cred);
    if (a->token != NULL && (cred = credentials_for(authorization, "Bearer")) != NULL)
        return ct_equal(cred, strlen(cred), a->token, a->token_len);
    return false;
}

const char *srv_auth_challenge(const srv_auth *a)
{
    return a->user != NULL ? "Basic realm=\"promstore\", charset=\"UTF-8\""
                           : "Bearer realm=\"promstore\"";
}

static void wipe_free(char *s, size_t n)
{
    if (s != NULL) {
        explicit_bzero(s, n);
        free(s);
    }
}

void srv_auth_free(srv_auth *a)
{
    wipe_free(a->user, a->user_len);
    wipe_free(a->password, a->password_len);
    wipe_free(a->token, a->token_len);
    memset(a, 0, sizeof *a);
}
