package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// selfSigned makes an RSA certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake: does a client limited to (maxVersion, suites) agree with a
// server using tlsConfig(minVersion, serverSuites)? Loopback only.
func handshake(t *testing.T, cert tls.Certificate, minVersion, serverSuites string, maxVersion uint16, suites []uint16) bool {
	t.Helper()
	cfg, err := tlsConfig(minVersion, serverSuites)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{
		InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion, CipherSuites: suites,
	})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// The adapter refuses TLS 1.0/1.1 and, for TLS 1.2, static-RSA and CBC
// suites by default; Go 1.19's defaults accept both.
func TestTLSPolicy(t *testing.T) {
	cert := selfSigned(t)
	rsaCBC := []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
	ecdheCBC := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
	gcm := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	cases := []struct {
		name, min, suites string
		maxVersion        uint16
		offer             []uint16
		want              bool
	}{
		{"tls1.1 refused", "TLS12", "", tls.VersionTLS11, nil, false},
		{"static RSA CBC refused", "TLS12", "", tls.VersionTLS12, rsaCBC, false},
		{"ECDHE CBC refused", "TLS12", "", tls.VersionTLS12, ecdheCBC, false},
		{"ECDHE GCM agreed", "TLS12", "", tls.VersionTLS12, gcm, true},
		{"tls1.3 agreed", "TLS12", "", tls.VersionTLS13, nil, true},
		{"tls1.2 refused at TLS13", "TLS13", "", tls.VersionTLS12, gcm, false},
		{"listed RSA CBC agreed", "TLS10", "TLS_RSA_WITH_AES_128_CBC_SHA", tls.VersionTLS12, rsaCBC, true},
	}
	for _, c := range cases {
		if got := handshake(t, cert, c.min, c.suites, c.maxVersion, c.offer); got != c.want {
			t.Errorf("%s: handshake %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := tlsConfig("SSL3", ""); err == nil {
		t.Error("SSL3 accepted as a minimum version")
	}
	if _, err := tlsConfig("TLS12", "TLS_NOPE"); err == nil {
		t.Error("an unknown suite accepted")
	}
}
