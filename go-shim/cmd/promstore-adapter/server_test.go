package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	promstore "promstore/go-shim"
)

// A chunked request with a Content-Length that claims more, followed by a
// hidden request: the adapter answers the first and closes, so the hidden
// one is never served (the C server answers 400 and closes; Go hides the
// Content-Length from handlers, see ServeHTTP). Loopback only.
func TestChunkedRequestEndsConnection(t *testing.T) {
	db, err := promstore.Open(promstore.Options{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ready atomic.Bool
	ready.Store(true)
	ts := httptest.NewServer(newServer(db, &auth{}, &ready))
	defer ts.Close()

	hidden := "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
	body := "0\r\n\r\n" + hidden
	req := fmt.Sprintf("POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"+
		"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s", len(body), body)
	c, err := net.DialTimeout("tcp", ts.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c) // ends when the server closes (or at the deadline: an error)
	if err != nil {
		t.Fatalf("the connection stayed open: %v (read %q)", err, got)
	}
	if n := bytes.Count(got, []byte("HTTP/1.1 ")); n != 1 {
		t.Fatalf("%d responses, want 1 (the hidden request was served): %q", n, got)
	}
}
