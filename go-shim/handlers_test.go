package promstore

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type req struct {
	name, method, path, ctype, cenc string
	body                            []byte
}

type answer struct {
	status  int
	headers map[string]string
	body    []byte
}

// Headers whose values must match between the C server and the shim.
var compared = []string{"Content-Type", "Content-Encoding", "Allow", "Retry-After", "X-Prometheus-Remote-Write-Samples-Written"}

func do(t *testing.T, base string, r req) answer {
	t.Helper()
	a, err := tryDo(base, r)
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	return a
}

func tryDo(base string, r req) (answer, error) {
	hr, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
	if err != nil {
		return answer{}, err
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.cenc != "" {
		hr.Header.Set("Content-Encoding", r.cenc)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, headers: map[string]string{}, body: b}
	for _, h := range compared {
		if v := resp.Header.Values(h); len(v) > 0 {
			a.headers[h] = strings.Join(v, ", ")
		}
	}
	return a, nil
}

func shimServer(t *testing.T, db *DB) string {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/write", db.RemoteWriteHandler(HandlerOptions{}))
	mux.Handle("/api/v1/read", db.RemoteReadHandler(HandlerOptions{}))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

// cServer starts the C server of the build tree, if there is one.
func cServer(t *testing.T, backend string, maxBody string) string {
	bin := filepath.Join(os.Getenv("PROMSTORE_BUILD_DIR"), "server", "promstore")
	if _, err := os.Stat(bin); os.Getenv("PROMSTORE_BUILD_DIR") == "" || err != nil {
		return ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--storage.backend="+backend, "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--web.max-request-bytes="+maxBody, "--log.level=error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("C server not ready")
	return ""
}

const pbType = "application/x-protobuf"

func protocolRequests() []req {
	good := []Series{
		{Labels: series("m", "job", "a"), Samples: ramp(1000, 500, 0)},
		{Labels: series("m", "job", "b"), Samples: []Sample{{1000, math.Float64frombits(StaleNaNBits)}, {2000, 3}}},
	}
	w := func(name, ctype, cenc string, body []byte) req {
		return req{name, "POST", "/api/v1/write", ctype, cenc, body}
	}
	r := func(name string, body []byte) req {
		return req{name, "POST", "/api/v1/read", pbType, "snappy", body}
	}
	all := Matcher{MatchRegexp, "__name__", ".+"}
	return []req{
		w("write ok", pbType, "snappy", snappyEncode(encodeWrite(good))),
		w("write retried", pbType, "snappy", snappyEncode(encodeWrite(good))),
		w("write bad type", "text/plain", "snappy", snappyEncode(encodeWrite(good))),
		w("write bad encoding", pbType, "gzip", snappyEncode(encodeWrite(good))),
		w("write no headers", "", "", snappyEncode(encodeWrite(good))),
		w("write not snappy", pbType, "snappy", []byte("\xff\xff\xff\xff\x0fgarbage")),
		w("write not protobuf", pbType, "snappy", snappyEncode([]byte("\xff\xff\xff"))),
		w("write bad labels", pbType, "snappy", snappyEncode(encodeWrite([]Series{{Labels: Labels{{"__name__", "x"}, {"d", "1"}, {"d", "2"}}, Samples: ramp(0, 1, 0)}}))),
		w("write out of order", pbType, "snappy", snappyEncode(encodeWrite([]Series{{Labels: series("m", "job", "a"), Samples: ramp(0, 3, 7)}}))),
		w("write too large", pbType, "snappy", make([]byte, 300<<10)),
		{"write GET", "GET", "/api/v1/write", "", "", nil},
		r("read samples", snappyEncode(encodeRead(0, 1e12, []Matcher{all}))),
		r("read samples one", snappyEncode(encodeRead(0, 1e12, []Matcher{MustEqual("job", "b")}))),
		r("read streamed", snappyEncode(encodeRead(0, 1e12, []Matcher{all}, 1))),
		r("read bad regex", snappyEncode(encodeRead(0, 1e12, []Matcher{{MatchRegexp, "a", "(("}}))),
		r("read garbage", []byte("nope")),
		{"read bad type", "POST", "/api/v1/read", "text/plain", "snappy", snappyEncode(encodeRead(0, 1, nil))},
	}
}

func TestHandlers(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := openTest(t, backend, func(o *Options) { o.MaxRequestBytes = 256 << 10 })
			shim := shimServer(t, db)
			c := cServer(t, backend, "256KiB")
			if c == "" {
				t.Log("no C server in PROMSTORE_BUILD_DIR: checking the shim alone")
			}
			for _, r := range protocolRequests() {
				got := do(t, shim, r)
				t.Logf("%-20s %d %v %q", r.name, got.status, got.headers, trim(got.body))
				if c != "" {
					want, err := tryDo(c, r)
					if err != nil && r.name == "write too large" {
						// The C server answers 413 before reading the body and
						// closes the connection: the upload may fail first.
						t.Logf("C server: %v", err)
						continue
					}
					if err != nil {
						t.Fatalf("%s: C server: %v", r.name, err)
					}
					if got.status != want.status || !reflect.DeepEqual(got.headers, want.headers) || !bytes.Equal(got.body, want.body) {
						t.Errorf("%s: shim answered %d %v %q; C server %d %v %q", r.name,
							got.status, got.headers, trim(got.body), want.status, want.headers, trim(want.body))
					}
				}
				switch r.name {
				case "write ok":
					if got.status != 204 {
						t.Errorf("write: %d", got.status)
					}
				case "write bad type", "read bad type":
					if got.status != 415 {
						t.Errorf("%s: %d", r.name, got.status)
					}
				case "write too large":
					if got.status != 413 || string(got.body) != "request body larger than 262144 bytes\n" {
						t.Errorf("413: %d %q", got.status, got.body)
					}
				case "write GET":
					if got.status != 405 || got.headers["Allow"] != "POST" {
						t.Errorf("405: %d %v", got.status, got.headers)
					}
				case "write bad labels", "read bad regex":
					if got.status != 400 || len(got.body) < 5 {
						t.Errorf("%s: %d %q", r.name, got.status, got.body)
					}
				case "read samples one":
					raw, err := snappyDecode(got.body)
					if err != nil {
						t.Fatal(err)
					}
					ss, err := decodeReadResponse(raw)
					if err != nil || len(ss) != 1 || len(ss[0].Samples) != 2 || math.Float64bits(ss[0].Samples[0].V) != StaleNaNBits {
						t.Errorf("read: %+v %v", ss, err)
					}
				}
			}
		})
	}
}

func trim(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return string(b)
}

// A limit reached while streaming cuts the body: the client sees a broken stream.
func TestReadCutShort(t *testing.T) {
	db := openTest(t, "lmdb", func(o *Options) { o.MaxSamplesPerQuery = 5000; o.ReadFrameBytes = 1024 })
	var batch []Series
	for i := 0; i < 40; i++ {
		batch = append(batch, Series{Labels: series("big", "i", fmt.Sprint(i)), Samples: ramp(0, 500, 0)})
	}
	if _, err := db.Append(batch); err != nil {
		t.Fatal(err)
	}
	cut := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/read", db.RemoteReadHandler(HandlerOptions{OnReadCut: func(err error) { cut <- err }}))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	body := snappyEncode(encodeRead(0, 1e12, []Matcher{MustEqual("__name__", "big")}, 1))
	hr, _ := http.NewRequest("POST", ts.URL+"/api/v1/read", bytes.NewReader(body))
	hr.Header.Set("Content-Type", pbType)
	hr.Header.Set("Content-Encoding", "snappy")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	t.Logf("status %d, %d bytes, then %v", resp.StatusCode, n, err)
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("expected a 200 cut short, got %d and a clean end", resp.StatusCode)
	}
	select {
	case e := <-cut:
		t.Logf("cut by: %v", e)
	case <-time.After(5 * time.Second):
		t.Fatal("OnReadCut not called")
	}
}
