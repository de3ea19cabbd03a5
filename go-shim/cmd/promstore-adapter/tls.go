package main

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// tlsVersions are the --web.tls-min-version values, as Prometheus's web config names them.
var tlsVersions = map[string]uint16{
	"TLS10": tls.VersionTLS10,
	"TLS11": tls.VersionTLS11,
	"TLS12": tls.VersionTLS12,
	"TLS13": tls.VersionTLS13,
}

// defaultSuites are the TLS 1.2 suites offered unless --web.tls-cipher-suites
// says otherwise: ECDHE with AES-GCM or ChaCha20-Poly1305, as the C server.
// Go 1.19's own default also offers static-RSA and CBC suites.
var defaultSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsConfig builds the server's TLS settings from the two flags.
func tlsConfig(minVersion, suites string) (*tls.Config, error) {
	v, ok := tlsVersions[minVersion]
	if !ok {
		return nil, fmt.Errorf("--web.tls-min-version: unknown version %q (TLS10, TLS11, TLS12 or TLS13)", minVersion)
	}
	cfg := &tls.Config{MinVersion: v, CipherSuites: defaultSuites}
	if strings.TrimSpace(suites) == "" {
		return cfg, nil
	}
	known := map[string]uint16{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[s.Name] = s.ID
	}
	cfg.CipherSuites = nil
	for _, name := range strings.Split(suites, ",") {
		id, ok := known[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("--web.tls-cipher-suites: unknown cipher suite %q", strings.TrimSpace(name))
		}
		cfg.CipherSuites = append(cfg.CipherSuites, id)
	}
	return cfg, nil
}
