package main

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	promstore "promstore/go-shim"
)

// route is one endpoint, as in server/http.c.
type route struct {
	path  string
	allow string
	open  bool // no credentials needed
}

var routes = []route{
	{"/api/v1/write", "POST", false},
	{"/api/v1/read", "POST", false},
	{"/metrics", "GET, HEAD", false},
	{"/-/healthy", "GET, HEAD", true},
	{"/-/ready", "GET, HEAD", true},
}

type server struct {
	db      *promstore.DB
	auth    *auth
	ready   *atomic.Bool
	metrics *metrics
	write   http.Handler
	read    http.Handler
	limits  limits
	reads   *readQueue
	bodies  *bodyBudget
}

// newServer serves db with the limits of the flags' defaults; setLimits
// changes them before the server starts.
func newServer(db *promstore.DB, a *auth, ready *atomic.Bool) *server {
	s := &server{db: db, auth: a, ready: ready, metrics: newMetrics()}
	s.setLimits(limitsFrom(defaults()))
	s.write = db.RemoteWriteHandler(s.handlerOptions(routeWrite))
	s.read = db.RemoteReadHandler(s.handlerOptions(routeRead))
	return s
}

// status records the status code a handler sent, for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Go's net/http frames a request that carries both Content-Length and
	// Transfer-Encoding: chunked by the chunked coding and drops the
	// Content-Length before a handler sees it (Go 1.19), so the adapter
	// cannot refuse the ambiguity with 400 as the C server does. It ends the
	// connection after every chunked request instead, so nothing sent after
	// a chunked body is ever read as another request (request smuggling).
	// Prometheus sends Content-Length, never chunked bodies.
	if len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
	}
	start := time.Now()
	idx := routeOther
	for i, rt := range routes {
		if rt.path == r.URL.Path {
			idx = i
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if sw.code != 0 {
			s.metrics.request(idx, sw.code, time.Since(start).Seconds())
		}
	}()
	if idx == routeOther {
		s.text(sw, idx, 404, "not found")
		return
	}
	rt := routes[idx]
	if !(r.Method == "POST" && rt.allow == "POST" || rt.allow != "POST" && (r.Method == "GET" || r.Method == "HEAD")) {
		sw.Header().Set("Allow", rt.allow)
		sw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		sw.Header().Set("Content-Length", "19")
		sw.WriteHeader(405)
		_, _ = sw.Write([]byte("method not allowed\n"))
		logFailed(idx, 405, "method not allowed")
		return
	}
	// As server/http.c: refused before anything is held, so an open health
	// check cannot be made to buffer a body.
	if rt.allow != "POST" && (r.ContentLength > 0 || len(r.TransferEncoding) > 0) {
		sw.Header().Set("Connection", "close") // the body is not read
		s.text(sw, idx, 413, rt.path+" takes no request body")
		return
	}
	if !rt.open && !s.auth.check(r.Header.Get("Authorization")) {
		sw.Header().Set("WWW-Authenticate", s.auth.challenge())
		sw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		sw.Header().Set("Content-Length", "13")
		sw.WriteHeader(401)
		_, _ = sw.Write([]byte("unauthorized\n"))
		logFailed(idx, 401, "missing or wrong credentials")
		return
	}
	if rt.allow == "POST" {
		body, ok := s.guardBody(sw, r, idx)
		if !ok {
			return
		}
		defer body.release()
	}
	switch idx {
	case routeWrite:
		s.write.ServeHTTP(sw, r)
	case routeRead:
		s.serveRead(sw, r)
	case routeMetrics:
		body := s.metrics.render(s.db)
		sw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		sw.Header().Set("Content-Length", strconv.Itoa(len(body)))
		sw.WriteHeader(200)
		_, _ = sw.Write(body)
	case routeHealthy:
		s.text(sw, idx, 200, "Healthy")
	case routeReady:
		if s.ready.Load() {
			s.text(sw, idx, 200, "Ready")
		} else {
			s.text(sw, idx, 503, "Service Unavailable")
		}
	}
}

func (s *server) setLimits(l limits) {
	s.limits = l
	s.reads = newReadQueue(l)
	s.bodies = &bodyBudget{max: l.bodyBytesBudget}
}

// guardBody puts r's body under the budget and the minimum rate; false when
// it has been answered 503 (the budget is spent). Call release when done.
func (s *server) guardBody(w http.ResponseWriter, r *http.Request, idx int) (*guardedBody, bool) {
	l := s.limits
	b := &guardedBody{ReadCloser: r.Body, budget: s.bodies, start: time.Now(), rate: l.minBodyRate, grace: l.minBodyRateGrace}
	b.t.conn = requestConn(r)
	b.t.onCut = func() {
		s.metrics.limits[limitBodyRate].Add(1)
		logFailed(idx, 408, "request body slower than --web.min-body-rate ("+strconv.FormatInt(l.minBodyRate, 10)+
			" bytes a second) after --web.min-body-rate-grace: connection cut")
	}
	switch {
	case r.ContentLength > l.maxRequestBytes:
		// the library answers 413 without reading it
	case r.ContentLength > 0:
		if !s.bodies.take(r.ContentLength) {
			s.metrics.limits[limitBodyBytes].Add(1)
			w.Header().Set("Retry-After", "1")
			s.text(w, idx, 503, s.bodies.refusal())
			return nil, false
		}
		b.reserved = r.ContentLength
	case r.ContentLength < 0:
		b.grow = true
	}
	r.Body = b
	return b, true
}

// serveRead runs a remote read in one of the read slots, its answer under
// the write timeout.
func (s *server) serveRead(w http.ResponseWriter, r *http.Request) {
	if !s.reads.take(r.Context()) {
		s.metrics.limits[limitReadConcurrency].Add(1)
		w.Header().Set("Retry-After", "1")
		s.text(w, routeRead, 503, s.reads.refusal())
		return
	}
	defer s.reads.give()
	g := newWriteGuard(w, r, s.limits.writeTimeout, func() {
		s.metrics.limits[limitWriteTimeout].Add(1)
		logFailed(routeRead, 200, "the client took no byte of the remote-read answer for --web.write-timeout ("+
			formatDuration(s.limits.writeTimeout)+"): connection cut")
	})
	s.read.ServeHTTP(g, r)
}

func (s *server) text(w http.ResponseWriter, idx, code int, text string) {
	promstore.SendText(w, code, text)
	if code >= 400 {
		logFailed(idx, code, text)
	}
}

func logFailed(idx, code int, msg string) {
	logf(levelWarn, "Request failed", "handler", routeName(idx), "code", strconv.Itoa(code), "err", msg)
}

func (s *server) handlerOptions(idx int) promstore.HandlerOptions {
	m := s.metrics
	return promstore.HandlerOptions{
		OnWrite: m.write,
		OnResponse: func(code int, msg string) {
			m.status(idx, code, msg)
			if code >= 400 {
				logFailed(idx, code, msg)
			}
		},
		OnReadStream: func(d int) { m.readsOpen.Add(int64(d)) },
		OnReadCut: func(err error) {
			if e, ok := err.(*promstore.Error); ok && e.Status == promstore.ErrLimit {
				m.limits[limitQuery].Add(1)
			}
			logf(levelWarn, "Remote read cut short", "handler", "/api/v1/read", "err", err.Error())
		},
	}
}

// auth checks basic auth and bearer tokens as server/auth.c does.
type auth struct {
	user, password, token string
}

func loadAuth(c *config) (*auth, error) {
	a := &auth{user: c.str["web.basic-auth-user"]}
	read := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	var err error
	if p := c.str["web.basic-auth-password-file"]; p != "" {
		if a.password, err = read(p); err != nil {
			return nil, err
		}
	}
	if p := c.str["web.bearer-token-file"]; p != "" {
		if a.token, err = read(p); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *auth) enabled() bool { return a.user != "" || a.token != "" }

func (a *auth) check(header string) bool {
	if !a.enabled() {
		return true
	}
	scheme, cred, _ := strings.Cut(header, " ")
	cred = strings.TrimSpace(cred)
	if a.user != "" && strings.EqualFold(scheme, "Basic") {
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err == nil {
			u, p, _ := strings.Cut(string(raw), ":")
			if subtle.ConstantTimeCompare([]byte(u), []byte(a.user))&subtle.ConstantTimeCompare([]byte(p), []byte(a.password)) == 1 {
				return true
			}
		}
	}
	if a.token != "" && strings.EqualFold(scheme, "Bearer") {
		return subtle.ConstantTimeCompare([]byte(cred), []byte(a.token)) == 1
	}
	return false
}

func (a *auth) challenge() string {
	if a.user != "" {
		return `Basic realm="promstore", charset="UTF-8"`
	}
	return `Bearer realm="promstore"`
}
