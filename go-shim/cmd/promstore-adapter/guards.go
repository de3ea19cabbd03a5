package main

// NOTES ON THE DESIGN
//
// The protections the C server gives its HTTP layer (docs/RELIABILITY.md,
// "Attacks on the HTTP layer" and "Readers"), for when the adapter is the
// one listening. Go 1.19's net/http offers no per-write deadline and no hook
// into body reception, so each guard is built from three pieces:
//
//   - the connection, kept in the request context by connContext
//     (http.Server.ConnContext), so a guard can close it;
//   - a timer (time.AfterFunc) armed for the moment the rule would be
//     broken, which counts the cut and closes the connection; closing
//     makes the blocked Read or Write return at once, the handler unwinds
//     and the library's reader is closed (its snapshot released);
//   - a counter or a semaphore shared by all requests.
//
// The guards, in the order a request meets them:
//
//   1. A body on a GET route is refused with 413 before anything is held.
//   2. The body budget (--web.max-body-bytes-in-flight): the announced
//      Content-Length is reserved before the body is read, a chunked body
//      reserves what each Read returns; past the budget 503 + Retry-After.
//      The reservation is given back when the handler returns.
//   3. The body rate (--web.min-body-rate past --web.min-body-rate-grace):
//      while a Read blocks, a timer is armed for the instant the average
//      rate would fall under the minimum; it cuts the connection.
//   4. The read queue: a remote read takes one of
//      --storage.remote.read-concurrent-limit slots (a buffered channel)
//      before it calls into the library, waiting up to
//      --storage.remote.read-queue-timeout; then 503 + Retry-After, as
//      server/read_pool.c answers. The library has as many reader slots,
//      so it never refuses a read the adapter let through.
//   5. The write timeout (--web.write-timeout): each Write and Flush of a
//      remote-read answer arms a timer; a client that takes no byte for
//      that long has its connection cut.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// limits are the settings of the guards, from the flags of config.go.
type limits struct {
	readSlots        int
	readQueueTimeout time.Duration // 0: no waiting, refuse at once
	writeTimeout     time.Duration // 0: never cut
	bodyBytesBudget  int64
	maxRequestBytes  int64
	minBodyRate      int64 // bytes a second; 0: no minimum
	minBodyRateGrace time.Duration
}

func limitsFrom(c *config) limits {
	ms := func(name string) time.Duration { return time.Duration(c.dur[name]) * time.Millisecond }
	return limits{
		readSlots:        int(c.num["storage.remote.read-concurrent-limit"]),
		readQueueTimeout: ms("storage.remote.read-queue-timeout"),
		writeTimeout:     ms("web.write-timeout"),
		bodyBytesBudget:  int64(c.num["web.max-body-bytes-in-flight"]),
		maxRequestBytes:  int64(c.num["web.max-request-bytes"]),
		minBodyRate:      int64(c.num["web.min-body-rate"]),
		minBodyRateGrace: ms("web.min-body-rate-grace"),
	}
}

type connKey struct{}

// connContext is the http.Server.ConnContext of the adapter: it keeps the
// connection in every request's context so the guards can cut it.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func requestConn(r *http.Request) net.Conn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	return c
}

// cutTimer closes a connection when armed for longer than the rule allows.
// arm and disarm come from the request's goroutine; the cut from the timer's.
type cutTimer struct {
	conn  net.Conn
	timer *time.Timer
	cut   atomic.Bool
	onCut func()
}

func (t *cutTimer) arm(d time.Duration) {
	if t.conn == nil {
		return // not served by the adapter's http.Server: nothing to cut
	}
	if t.timer == nil {
		t.timer = time.AfterFunc(d, t.fire)
	} else {
		t.timer.Reset(d)
	}
}

func (t *cutTimer) disarm() {
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *cutTimer) fire() {
	if t.cut.CompareAndSwap(false, true) {
		t.onCut()
		_ = t.conn.Close()
	}
}

// readQueue hands out the read slots.
type readQueue struct {
	slots   chan struct{}
	timeout time.Duration
	waiting atomic.Int64 // reads waiting for a slot now
}

func newReadQueue(l limits) *readQueue {
	return &readQueue{slots: make(chan struct{}, l.readSlots), timeout: l.readQueueTimeout}
}

// take waits for a slot; false when none freed within the timeout or the
// client went away first.
func (q *readQueue) take(ctx context.Context) bool {
	select {
	case q.slots <- struct{}{}:
		return true
	default:
	}
	if q.timeout <= 0 {
		return false
	}
	q.waiting.Add(1)
	defer q.waiting.Add(-1)
	wait := time.NewTimer(q.timeout)
	defer wait.Stop()
	select {
	case q.slots <- struct{}{}:
		return true
	case <-wait.C:
	case <-ctx.Done():
	}
	return false
}

func (q *readQueue) give() { <-q.slots }

func (q *readQueue) refusal() string {
	return "too many remote reads at once: none of the " + strconv.Itoa(cap(q.slots)) +
		" read slots freed within " + formatDuration(q.timeout) +
		" (--storage.remote.read-concurrent-limit, --storage.remote.read-queue-timeout)"
}

// formatDuration writes a duration as the flags take it (1m30s, 250ms), as
// the C server's srv_format_duration does.
func formatDuration(d time.Duration) string {
	ms := d.Milliseconds()
	if ms <= 0 {
		return "0s"
	}
	units := []struct {
		name string
		ms   int64
	}{{"y", 31536000000}, {"w", 604800000}, {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}}
	out := ""
	for _, u := range units {
		if n := ms / u.ms; n > 0 {
			out += strconv.FormatInt(n, 10) + u.name
			ms -= n * u.ms
		}
	}
	return out
}

// writeGuard cuts a streamed answer whose client takes no byte for the
// write timeout. Flush is where net/http hands the bytes to the socket.
type writeGuard struct {
	http.ResponseWriter
	t       cutTimer
	timeout time.Duration
}

func newWriteGuard(w http.ResponseWriter, r *http.Request, timeout time.Duration, onCut func()) *writeGuard {
	g := &writeGuard{ResponseWriter: w, timeout: timeout}
	g.t.conn, g.t.onCut = requestConn(r), onCut
	if timeout <= 0 {
		g.t.conn = nil
	}
	return g
}

func (g *writeGuard) Write(b []byte) (int, error) {
	g.t.arm(g.timeout)
	defer g.t.disarm()
	return g.ResponseWriter.Write(b)
}

func (g *writeGuard) Flush() {
	g.t.arm(g.timeout)
	defer g.t.disarm()
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// bodyBudget is the memory all bodies being received may hold together.
type bodyBudget struct {
	max  int64
	held atomic.Int64
}

func (b *bodyBudget) take(n int64) bool {
	for {
		held := b.held.Load()
		if n > b.max || held > b.max-n {
			return false
		}
		if b.held.CompareAndSwap(held, held+n) {
			return true
		}
	}
}

func (b *bodyBudget) give(n int64) { b.held.Add(-n) }

func (b *bodyBudget) refusal() string {
	return "request bodies being received would pass --web.max-body-bytes-in-flight (" +
		strconv.FormatInt(b.max, 10) + " bytes): retry later"
}

// guardedBody is a request body under the budget (for a chunked body, each
// Read reserves what it returns) and the minimum rate.
type guardedBody struct {
	io.ReadCloser
	budget   *bodyBudget
	grow     bool  // chunked: reserve as bytes arrive
	reserved int64 // given back by release
	received int64
	start    time.Time
	rate     int64
	grace    time.Duration
	t        cutTimer
	mu       sync.Mutex // release may race a Read the cut timer unblocked
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.rate > 0 {
		// The average rate falls under the minimum at start+received/rate,
		// and never before the grace ends; received cannot grow while Read
		// blocks, so one timer for that instant is the whole watch.
		due := time.Duration(b.received * int64(time.Second) / b.rate)
		if due < b.grace {
			due = b.grace
		}
		b.t.arm(time.Until(b.start.Add(due)))
		defer b.t.disarm()
	}
	n, err := b.ReadCloser.Read(p)
	b.received += int64(n)
	if b.grow && n > 0 {
		b.mu.Lock()
		ok := b.budget.take(int64(n))
		if ok {
			b.reserved += int64(n)
		}
		b.mu.Unlock()
		if !ok {
			return 0, errors.New(b.budget.refusal())
		}
	}
	return n, err
}

func (b *guardedBody) release() {
	b.mu.Lock()
	b.budget.give(b.reserved)
	b.reserved = 0
	b.mu.Unlock()
}
