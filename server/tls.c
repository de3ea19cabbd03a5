/*
 * tls.c -- Prometheus-style TLS settings as a GnuTLS priority string; see
 * tls.h. The string is "NORMAL" with every version, key exchange, cipher and
 * MAC removed ("-...-ALL") and then the allowed ones added back, so that what
 * is offered is exactly what is listed here and never a GnuTLS default.
 */
#include "tls.h"

#include <stdio.h>
#include <string.h>

static const struct version {
    const char *name;
    int rank; /* order of the versions */
    const char *gnutls;
} versions[] = {
    {"TLS10", 0, "VERS-TLS1.0"},
    {"TLS11", 1, "VERS-TLS1.1"},
    {"TLS12", 2, "VERS-TLS1.2"},
    {"TLS13", 3, "VERS-TLS1.3"},
};
#define N_VERSIONS (sizeof versions / sizeof versions[0])

/* A TLS 1.2 suite: its IANA name and its three parts as GnuTLS names them. */
static const struct suite {
    const char *name;
    const char *kx, *cipher, *mac;
} suites_known[] = {
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1"},
};
#define N_SUITES (sizeof suites_known / sizeof suites_known[0])

/* The default: Go's crypto/tls defaults without its CBC suites. */
static const char *const default_suites =
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";

/* Append ":+item" to out unless it is there already; -1 when out is full. */
static int add_item(char *out, size_t len, const char *item)
{
    char tok[64];
    snprintf(tok, sizeof tok, ":+%s", item);
    size_t tl = strlen(tok);
    for (const char *p = strstr(out, tok); p; p = strstr(p + 1, tok))
        if (p[tl] == ':' || p[tl] == '\0')
            return 0;
    size_t used = strlen(out);
    if (used + tl + 1 > len)
        return -1;
    memcpy(out + used, tok, tl + 1);
    return 0;
}

static const struct suite *find_suite(const char *name, size_t n)
{
    for (size_t i = 0; i < N_SUITES; i++)
        if (strlen(suites_known[i].name) == n && strncmp(suites_known[i].name, name, n) == 0)
            return &suites_known[i];
    return NULL;
}

int srv_tls_priorities(const char *min_version, const char *suites, char *out, size_t out_len,
                       char *why, size_t why_len)
{
    const struct version *min = &versions[2];
    if (min_version && min_version[0]) {
        min = NULL;
        for (size_t i = 0; i < N_VERSIONS; i++)
            if (strcmp(versions[i].name, min_version) == 0)
                min = &versions[i];
        if (min == NULL) {
            snprintf(why, why_len, "--web.tls-min-version: unknown version \"%s\" "
                                   "(TLS10, TLS11, TLS12 or TLS13)", min_version);
            return -1;
        }
    }
    const char *list = suites && suites[0] ? suites : default_suites;
    int n = snprintf(out, out_len, "NORMAL:-VERS-ALL:-KX-ALL:-CIPHER-ALL:-MAC-ALL");
    if (n < 0 || (size_t)n >= out_len)
        goto too_long;
    for (size_t i = N_VERSIONS; i-- > 0;)
        if (versions[i].rank >= min->rank && add_item(out, out_len, versions[i].gnutls))
            goto too_long;
    /* TLS 1.3 (always on) needs its AEAD ciphers, whatever the 1.2 list says. */
    static const char *const tls13[] = {"AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305", "AEAD"};
    for (size_t i = 0; i < sizeof tls13 / sizeof tls13[0]; i++)
        if (add_item(out, out_len, tls13[i]))
            goto too_long;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *name = p;
        while (len > 0 && (*name == ' ' || *name == '\t'))
            name++, len--;
        while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
            len--;
        const struct suite *s = find_suite(name, len);
        if (s == NULL) {
            snprintf(why, why_len, "--web.tls-cipher-suites: unknown cipher suite \"%.*s\" "
                                   "(see server/README.md for the names)", (int)len, name);
            return -1;
        }
        if (add_item(out, out_len, s->kx) || add_item(out, out_len, s->cipher) ||
            add_item(out, out_len, s->mac))
            goto too_long;
        p = name + len;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    return 0;
too_long:
    snprintf(why, why_len, "the TLS settings do not fit in %zu bytes", out_len);
    return -1;
}
