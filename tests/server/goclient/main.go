// Command goclient sends requests with bodies the way Prometheus does, with
// Go's net/http client, and counts how many of them got the status a test
// expects. A server that answers before reading the body and then closes the
// connection makes Go's client fail with "write: broken pipe" or "connection
// reset by peer" instead of returning the answer; Prometheus then retries
// the batch forever. Used by tests/server/early_answers.sh.
//
//	goclient -url URL -method POST -size 40MiB -n 10 -want 413 [-header 'K: V']...
//
// It prints one line per failed request and a summary line
// "N of M answered WANT", and exits 1 unless every request got WANT.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	url := flag.String("url", "", "the request URL (http://127.0.0.1:PORT/path)")
	method := flag.String("method", "POST", "the request method")
	size := flag.Int("size", 40<<20, "body size in bytes")
	n := flag.Int("n", 10, "how many requests")
	want := flag.Int("want", 413, "the status every request must get")
	var hdrs headers
	flag.Var(&hdrs, "header", "a request header 'Name: value' (repeatable)")
	flag.Parse()
	if *url == "" || !strings.HasPrefix(*url, "http://127.0.0.1:") {
		fmt.Fprintln(os.Stderr, "goclient: -url must be http://127.0.0.1:PORT/...")
		os.Exit(2)
	}
	body := bytes.Repeat([]byte{0xa5}, *size)
	// A client like Prometheus's: keep-alive, a whole-request timeout.
	client := &http.Client{Timeout: 60 * time.Second}
	got := 0
	for i := 0; i < *n; i++ {
		req, err := http.NewRequest(*method, *url, bytes.NewReader(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, "goclient:", err)
			os.Exit(2)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
		for _, h := range hdrs {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Printf("request %d: %v\n", i+1, err)
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode == *want {
			got++
		} else {
			fmt.Printf("request %d: status %d: %s\n", i+1, resp.StatusCode,
				strings.TrimSpace(string(msg)))
		}
	}
	fmt.Printf("%d of %d answered %d\n", got, *n, *want)
	if got != *n {
		os.Exit(1)
	}
}
