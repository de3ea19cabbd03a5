// Command promstore-adapter serves libpromstore as Prometheus remote storage
// from Go, through the promstore package. It takes the same flags and YAML
// file as the C server (server/README.md), serves the same endpoints
// (/api/v1/write, /api/v1/read, /metrics, /-/healthy, /-/ready) and answers
// remote write and read with the library's own status codes, headers and
// bytes. Exit 2 is a configuration error, 1 a failure to start, 0 follows
// SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	promstore "promstore/go-shim"
)

func main() { os.Exit(run(os.Args[1:])) }

func loadConfig(args []string) (*config, int) {
	for _, a := range args {
		switch a {
		case "--help", "-h":
			usage(os.Stdout)
			return nil, 0
		case "--version":
			fmt.Printf("promstore-adapter, library version %s\n", promstore.Version())
			return nil, 0
		}
	}
	first := defaults()
	if err := walkFlags(first, args); err != nil {
		fmt.Fprintf(os.Stderr, "promstore-adapter: error: %v\n", err)
		return nil, 2
	}
	c := defaults()
	if file := first.str["config.file"]; file != "" {
		if err := loadYAML(c, file); err != nil {
			fmt.Fprintf(os.Stderr, "promstore-adapter: error: %v\n", err)
			return nil, 2
		}
	}
	if err := walkFlags(c, args); err != nil {
		fmt.Fprintf(os.Stderr, "promstore-adapter: error: %v\n", err)
		return nil, 2
	}
	if err := validate(c); err != nil {
		fmt.Fprintf(os.Stderr, "promstore-adapter: error: %v\n", err)
		return nil, 2
	}
	return c, -1
}

func validate(c *config) error {
	if b := c.str["storage.backend"]; b != "lmdb" && b != "sqlite" {
		return fmt.Errorf("invalid value %q for --storage.backend: expected lmdb or sqlite", b)
	}
	if c.str["storage.path"] == "" {
		return errors.New("--storage.path must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.str["web.listen-address"]); err != nil {
		return fmt.Errorf("invalid value %q for --web.listen-address: %v", c.str["web.listen-address"], err)
	}
	switch {
	case c.dur["storage.block-duration"] <= 0:
		return errors.New("--storage.block-duration must be positive")
	case c.num["storage.remote.read-concurrent-limit"] == 0 || c.num["storage.remote.read-concurrent-limit"] > 1<<32-1:
		return errors.New("--storage.remote.read-concurrent-limit must be between 1 and 4294967295")
	case c.num["web.max-request-bytes"] == 0:
		return errors.New("--web.max-request-bytes must be positive")
	case c.num["web.max-body-bytes-in-flight"] < c.num["web.max-request-bytes"] || c.num["web.max-body-bytes-in-flight"] > 1<<63-1:
		return errors.New("--web.max-body-bytes-in-flight must be at least --web.max-request-bytes")
	case c.num["web.max-connections"] == 0 || c.num["web.max-connections"] > 1000000:
		return errors.New("--web.max-connections must be between 1 and 1000000")
	case c.num["web.threads"] > 1024:
		return errors.New("--web.threads must be at most 1024")
	case c.num["web.connection-memory-limit"] < 4096 || c.num["web.connection-memory-limit"] > 64<<20:
		return errors.New("--web.connection-memory-limit must be between 4KiB and 64MiB")
	case (c.str["web.basic-auth-user"] == "") != (c.str["web.basic-auth-password-file"] == ""):
		return errors.New("--web.basic-auth-user and --web.basic-auth-password-file go together")
	case (c.str["web.tls-cert-file"] == "") != (c.str["web.tls-key-file"] == ""):
		return errors.New("--web.tls-cert-file and --web.tls-key-file go together")
	}
	if _, err := tlsConfig(c.str["web.tls-min-version"], c.str["web.tls-cipher-suites"]); err != nil {
		return err
	}
	for _, k := range []string{"web.basic-auth-password-file", "web.bearer-token-file", "web.tls-cert-file", "web.tls-key-file"} {
		if p := c.str[k]; p != "" {
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("--%s %q cannot be read", k, p)
			}
			f.Close()
		}
	}
	return nil
}

func storeOptions(c *config) promstore.Options {
	return promstore.Options{
		Backend:            c.str["storage.backend"],
		Path:               c.str["storage.path"],
		RetentionTime:      time.Duration(c.dur["storage.retention.time"]) * time.Millisecond,
		RetentionSize:      c.num["storage.retention.size"],
		BlockDuration:      time.Duration(c.dur["storage.block-duration"]) * time.Millisecond,
		OutOfOrderWindow:   time.Duration(c.dur["storage.out-of-order-window"]) * time.Millisecond,
		MaxFuture:          futureLimit(c.dur["storage.future-limit"]),
		MaxSeriesPerQuery:  c.num["storage.remote.read-series-limit"],
		MaxSamplesPerQuery: c.num["storage.remote.read-sample-limit"],
		MaxBytesPerQuery:   c.num["storage.remote.read-bytes-limit"],
		MaxMatchers:        orNone(c.num["storage.remote.read-matchers-limit"]),
		MaxQueriesPerRead:  orNone(c.num["storage.remote.read-queries-limit"]),
		MaxWorkPerRead:     orNone(c.num["storage.remote.read-work-limit"]),
		ReadDeadline:       durOrNone(c.dur["storage.remote.read-deadline"]),
		Sync:               c.on["storage.sync"],
		MaxConcurrentReads: uint32(c.num["storage.remote.read-concurrent-limit"]),
		MaxRequestBytes:    c.num["web.max-request-bytes"],
		MaxDecodedBytes:    c.num["storage.remote.max-decoded-bytes"],
		ReadFrameBytes:     c.num["storage.remote.read-max-bytes-in-frame"],
	}
}

func run(args []string) int {
	c, code := loadConfig(args)
	if c == nil {
		return code
	}
	setLogLevel(c.str["log.level"])
	auth, err := loadAuth(c)
	if err != nil {
		logf(levelError, "Reading credentials failed", "err", err.Error())
		return 1
	}
	logf(levelInfo, "Starting promstore-adapter", "version", promstore.Version(),
		"config_file", c.str["config.file"], "backend", c.str["storage.backend"],
		"path", c.str["storage.path"], "listen_address", c.str["web.listen-address"],
		"tls", fmt.Sprint(c.str["web.tls-cert-file"] != ""), "log_level", c.str["log.level"])
	db, err := promstore.Open(storeOptions(c))
	if err != nil {
		logf(levelError, "Opening the store failed", "path", c.str["storage.path"],
			"backend", c.str["storage.backend"], "err", err.Error())
		return 1
	}
	var ready atomic.Bool
	srv := newServer(db, auth, &ready)
	srv.setLimits(limitsFrom(c))
	ln, err := net.Listen("tcp", c.str["web.listen-address"])
	if err != nil {
		logf(levelError, "Starting the HTTP server failed", "err",
			fmt.Sprintf("cannot listen on %s (%v)", c.str["web.listen-address"], err))
		_ = db.Close()
		return 1
	}
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, c.num["web.max-connections"])}
	hs := &http.Server{
		Handler: srv,
		// As in Prometheus: the whole request (headers and body) must be read
		// within --web.read-timeout, so a trickling client cannot hold a slot.
		ReadTimeout:    time.Duration(c.dur["web.read-timeout"]) * time.Millisecond,
		IdleTimeout:    time.Duration(c.dur["web.read-timeout"]) * time.Millisecond,
		MaxHeaderBytes: int(c.num["web.connection-memory-limit"]),
		ErrorLog:       nil,
		ConnContext:    connContext, // the guards cut connections (guards.go)
	}
	useTLS := c.str["web.tls-cert-file"] != ""
	if useTLS {
		hs.TLSConfig, _ = tlsConfig(c.str["web.tls-min-version"], c.str["web.tls-cipher-suites"]) // checked in validate
	}
	logf(levelInfo, "Listening on", "address", ln.Addr().String(), "tls", fmt.Sprint(useTLS))
	served := make(chan error, 1)
	go func() {
		if useTLS {
			served <- hs.ServeTLS(ln, c.str["web.tls-cert-file"], c.str["web.tls-key-file"])
		} else {
			served <- hs.Serve(ln)
		}
	}()
	ready.Store(true)
	logf(levelInfo, "Server is ready to receive requests")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	rc := 0
	select {
	case sig := <-sigs:
		logf(levelInfo, "Received signal, shutting down", "signal", sig.String())
	case err := <-served:
		logf(levelError, "HTTP server failed", "err", err.Error())
		rc = 1
	}
	ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_ = hs.Shutdown(ctx)
	cancel()
	logf(levelInfo, "HTTP server stopped")
	if err := db.Close(); err != nil {
		logf(levelError, "Closing the store failed", "err", err.Error())
		return 1
	}
	logf(levelInfo, "Store closed, bye")
	return rc
}

// limitListener caps simultaneous connections (--web.max-connections).
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	conn, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: conn, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    atomic.Bool
	release func()
}

func (c *limitConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		c.release()
	}
	return c.Conn.Close()
}

// logfmt, as the C server writes it.
const (
	levelDebug = iota
	levelInfo
	levelWarn
	levelError
)

var levels = map[string]int{"debug": levelDebug, "info": levelInfo, "warn": levelWarn, "error": levelError}
var levelNames = []string{"debug", "info", "warn", "error"}
var minLevel atomic.Int32

func setLogLevel(name string) { minLevel.Store(int32(levels[name])) }

func logf(level int, msg string, kv ...string) {
	if int32(level) < minLevel.Load() {
		return
	}
	var b strings.Builder
	b.WriteString("ts=" + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " level=" + levelNames[level] + " msg=" + quote(msg))
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(" " + kv[i] + "=" + quote(kv[i+1]))
	}
	b.WriteByte('\n')
	os.Stderr.WriteString(b.String())
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \"=\\\n\t") {
		return s
	}
	return fmt.Sprintf("%q", s)
}

// futureLimit maps the flag (0: no limit) to Options.MaxFuture (0: the default, negative: none).
func futureLimit(ms int64) time.Duration {
	if ms == 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

// orNone maps a flag's 0 (no limit) to the Options convention (negative: none).
func orNone(n uint64) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}

// durOrNone is orNone for a duration in milliseconds.
func durOrNone(ms int64) time.Duration {
	if ms == 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}
