package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	promstore "promstore/go-shim"
)

// Tests of guards.go against the adapter's real handler on 127.0.0.1 and a
// real store in t.TempDir(). Every wait is bounded by waitFor or a socket
// deadline; nothing measures speed.

var backends = []string{"lmdb", "sqlite"}

const bound = 10 * time.Second

// adapter serves a fresh store with the default limits changed by set. Its
// sockets send through a 4 KiB buffer, so a client that stops reading holds
// a remote-read answer of a few MB in the handler.
func adapter(t *testing.T, backend string, set func(*limits)) (*server, *httptest.Server) {
	t.Helper()
	l := limitsFrom(defaults())
	set(&l)
	db, err := promstore.Open(promstore.Options{Backend: backend, Path: t.TempDir(), MaxConcurrentReads: uint32(l.readSlots)})
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	ready.Store(true)
	s := newServer(db, &auth{}, &ready)
	s.setLimits(l)
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		_ = c.(*net.TCPConn).SetWriteBuffer(4096)
		return connContext(ctx, c)
	}
	ts.Start()
	t.Cleanup(func() { ts.Close(); _ = db.Close() })
	return s, ts
}

// fillStore appends 20 series of 10000 random samples (a few MB of chunks).
func fillStore(t *testing.T, s *server) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		ser := promstore.Series{Labels: promstore.Labels{{Name: "__name__", Value: "big"}, {Name: "i", Value: fmt.Sprint(i)}}}
		for j := 0; j < 10000; j++ {
			ser.Samples = append(ser.Samples, promstore.Sample{T: int64(j) * 1000, V: rng.Float64()})
		}
		if _, err := s.db.Append([]promstore.Series{ser}); err != nil {
			t.Fatal(err)
		}
	}
}

// readBody is a snappy-framed ReadRequest for every sample of {__name__="big"},
// streamed chunks: one query (mint 0, maxt max, one equal matcher), type 1.
func readBody() []byte {
	field := func(num int, b []byte) []byte {
		out := binary.AppendUvarint(nil, uint64(num<<3|2))
		return append(binary.AppendUvarint(out, uint64(len(b))), b...)
	}
	matcher := append(field(2, []byte("__name__")), field(3, []byte("big"))...)
	query := append([]byte{1 << 3, 0, 2 << 3}, binary.AppendUvarint(nil, math.MaxInt64)...)
	req := append(field(1, append(query, field(3, matcher)...)), 2<<3, 1)
	block := binary.AppendUvarint(nil, uint64(len(req))) // snappy: one literal
	return append(append(block, 61<<2, byte(len(req)-1), byte((len(req)-1)>>8)), req...)
}

func readHeaders(body []byte) string {
	return fmt.Sprintf("POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"+
		"Content-Encoding: snappy\r\nX-Prometheus-Remote-Read-Version: 0.1.0\r\nContent-Length: %d\r\n\r\n", len(body))
}

// dial connects with a 4 KiB receive buffer.
func dial(t *testing.T, ts *httptest.Server) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: bound, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(bound))
	return c
}

// holdRead starts a remote read, waits for its 200 and then stops reading:
// the handler stays inside the stream, holding its read slot.
func holdRead(t *testing.T, ts *httptest.Server) net.Conn {
	t.Helper()
	c := dial(t, ts)
	body := readBody()
	if _, err := io.WriteString(c, readHeaders(body)+string(body)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReaderSize(c, 16).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("the held read was answered %q (%v)", line, err)
	}
	return c
}

func postRead(ts *httptest.Server) (*http.Response, string, error) {
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/read", strings.NewReader(string(readBody())))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	cl := http.Client{Timeout: bound}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// waitFor polls cond every 10ms, at most bound long.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < int(bound/(10*time.Millisecond)); i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not within %v: %s", bound, what)
}

// A read past the concurrency limit waits for a slot and is served when one
// frees (the library alone answers it 503 at once).
func TestReadQueueWaitsForASlot(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			s, ts := adapter(t, backend, func(l *limits) { l.readSlots, l.readQueueTimeout = 1, bound })
			fillStore(t, s)
			held := holdRead(t, ts)
			type answer struct {
				code int
				err  error
			}
			second := make(chan answer, 1)
			go func() {
				resp, _, err := postRead(ts)
				if err != nil {
					second <- answer{0, err}
					return
				}
				second <- answer{resp.StatusCode, nil}
			}()
			waitFor(t, "the second read queued", func() bool { return s.reads.waiting.Load() == 1 })
			held.Close()
			a := <-second
			if a.err != nil || a.code != 200 {
				t.Fatalf("the queued read got %d (%v), want 200", a.code, a.err)
			}
		})
	}
}

// Past the queue timeout: 503, Retry-After: 1 and the C server's message.
func TestReadQueueTimesOut(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			s, ts := adapter(t, backend, func(l *limits) { l.readSlots, l.readQueueTimeout = 1, 100*time.Millisecond })
			fillStore(t, s)
			holdRead(t, ts)
			resp, body, err := postRead(ts)
			if err != nil {
				t.Fatal(err)
			}
			want := "too many remote reads at once: none of the 1 read slots freed within 100ms " +
				"(--storage.remote.read-concurrent-limit, --storage.remote.read-queue-timeout)\n"
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || body != want {
				t.Fatalf("got %d Retry-After %q %q, want 503, 1, %q", resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
			}
			if n := s.metrics.limits[limitReadConcurrency].Load(); n != 1 {
				t.Fatalf("read_concurrency limit hits %d, want 1", n)
			}
		})
	}
}

// A client that takes no byte of a streamed read for --web.write-timeout is
// cut, and the reader closed (reads in progress back to 0).
func TestWriteTimeoutCutsStalledRead(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			s, ts := adapter(t, backend, func(l *limits) { l.writeTimeout = 200 * time.Millisecond })
			fillStore(t, s)
			holdRead(t, ts)
			waitFor(t, "the stalled read cut and its reader closed", func() bool {
				return s.metrics.readsOpen.Load() == 0 && s.metrics.limits[limitWriteTimeout].Load() == 1
			})
		})
	}
}

// startWrite sends the headers of a remote write announcing n bytes and the
// first few of them, and keeps the connection.
func startWrite(t *testing.T, ts *httptest.Server, n int) net.Conn {
	t.Helper()
	c := dial(t, ts)
	_, err := fmt.Fprintf(c, "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"+
		"Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: %d\r\n\r\n0123456789", n)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Bodies in flight share one budget: with one body of 800 bytes arriving, a
// second of 800 is refused 503 under a budget of 1000. A GET route refuses
// a body with 413.
func TestBodyBudget(t *testing.T) {
	s, ts := adapter(t, "lmdb", func(l *limits) { l.bodyBytesBudget, l.maxRequestBytes = 1000, 1000 })
	startWrite(t, ts, 800)
	waitFor(t, "the first body reserved", func() bool { return s.bodies.held.Load() == 800 })
	c := dial(t, ts)
	fmt.Fprintf(c, "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 800\r\n\r\n%s", strings.Repeat("x", 800))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	want := "request bodies being received would pass --web.max-body-bytes-in-flight (1000 bytes): retry later\n"
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || string(body) != want {
		t.Fatalf("got %d Retry-After %q %q, want 503, 1, %q", resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
	}

	cl := http.Client{Timeout: bound}
	hresp, err := cl.Post(ts.URL+"/-/healthy", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/-/healthy", strings.NewReader("x"))
	gresp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	gbody, _ := io.ReadAll(gresp.Body)
	gresp.Body.Close()
	if gresp.StatusCode != 413 || string(gbody) != "/-/healthy takes no request body\n" {
		t.Fatalf("GET with a body: %d %q, want 413 and the route named", gresp.StatusCode, gbody)
	}
}

// A body slower than --web.min-body-rate past the grace is cut: the server
// closes the connection (the socket deadline would fail the test otherwise).
func TestMinBodyRateCutsTrickle(t *testing.T) {
	s, ts := adapter(t, "lmdb", func(l *limits) { l.minBodyRate, l.minBodyRateGrace = 1000, 200*time.Millisecond })
	c := startWrite(t, ts, 100000)
	got, err := io.ReadAll(c) // ends when the server closes
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the trickling body was not cut: %v (read %q)", err, got)
	}
	if n := s.metrics.limits[limitBodyRate].Load(); n != 1 {
		t.Fatalf("body_rate limit hits %d, want 1", n)
	}
	// A body at full speed is not cut.
	cl := http.Client{Timeout: bound}
	resp, err := cl.Post(ts.URL+"/api/v1/write", "application/x-protobuf", strings.NewReader("not snappy"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a fast body got %d, want the library's 400", resp.StatusCode)
	}
}
