/*
 * tls.h -- the HTTPS protocol versions and cipher suites the server offers,
 * as Prometheus's web config names them (min_version, cipher_suites), turned
 * into the GnuTLS priority string libmicrohttpd takes.
 *
 * Defaults: TLS 1.2 and 1.3 only; for TLS 1.2, ECDHE key exchange with
 * AES-GCM or ChaCha20-Poly1305 only (no static-RSA key exchange, no CBC), as
 * Go's crypto/tls offers by default. TLS 1.3 suites are not configurable (as
 * in Go); they are the AEAD ciphers GnuTLS offers.
 *
 * Thread-safety: pure functions.
 */
#ifndef SRV_TLS_H
#define SRV_TLS_H

#include <stddef.h>

/* Room enough for any priority string srv_tls_priorities() makes. */
#define SRV_TLS_PRIORITIES_MAX 1024

/*
 * Build the priority string for min_version ("TLS10", "TLS11", "TLS12",
 * "TLS13"; NULL or "" is TLS12) and suites (comma-separated IANA names such
 * as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; NULL or "" is the default set).
 * GnuTLS enables the combinations of the key exchanges, ciphers and MACs the
 * listed suites name, so a list may enable a suite it does not name when two
 * listed suites differ in more than one part (docs: server/README.md).
 * Returns 0, or -1 with why filled (an unknown version or suite, naming it).
 */
int srv_tls_priorities(const char *min_version, const char *suites, char *out, size_t out_len,
                       char *why, size_t why_len);

#endif
