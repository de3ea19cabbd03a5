package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"unsafe"
)

// HandlerOptions let a front end observe the remote handlers (for metrics
// and logs); the zero value is fine. Callbacks run on the request's goroutine.
type HandlerOptions struct {
	// OnWrite receives what the library answered to each remote write.
	OnWrite func(WriteReport)
	// OnResponse receives each answered status and, for >= 400, the message
	// sent as the body.
	OnResponse func(code int, message string)
	// OnReadStream receives +1 when a remote-read body starts streaming and
	// -1 when it ends.
	OnReadStream func(delta int)
	// OnReadCut receives the error that cut a streamed remote-read body short.
	OnReadCut func(err error)
}

// WriteReport is what promstore_remote_write() answered and stored.
type WriteReport struct {
	Status                                               int
	Message                                              string
	SamplesWritten, HistogramsWritten, ExemplarsWritten  uint64
	SamplesRejected                                      uint64
	ExemplarsDropped, HistogramsDropped, MetadataDropped uint64
}

// RemoteWriteHandler serves POST /api/v1/write through promstore_remote_write:
// the library decides the status, headers and body, exactly as for the C
// server. Bodies over Options.MaxRequestBytes are refused with 413 before
// the library sees them, as the C server's HTTP layer does.
func (d *DB) RemoteWriteHandler(o HandlerOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := d.readBody(w, r, o)
		if !ok {
			return
		}
		defer body.release()
		ct, ce := requestHeaders(r)
		defer C.free(unsafe.Pointer(ct))
		defer C.free(unsafe.Pointer(ce))
		pr := (*C.promstore_http_response)(C.malloc(C.sizeof_promstore_http_response))
		defer C.free(unsafe.Pointer(pr))
		h := d.acquire()
		if h == nil {
			sendText(w, 503, "store is closed", o)
			return
		}
		res := C.shim_remote_write(h, ct, ce, body.ptr(), C.size_t(len(body.b)), pr)
		d.release()
		if err := takeError("remote write", res.st, res.msg); err != nil {
			sendText(w, 500, "internal error: "+err.(*Error).Message, o)
			return
		}
		if o.OnWrite != nil {
			o.OnWrite(WriteReport{
				Status: int(pr.status), Message: C.GoString(&pr.message[0]),
				SamplesWritten: uint64(pr.samples_written), HistogramsWritten: uint64(pr.histograms_written),
				ExemplarsWritten: uint64(pr.exemplars_written), SamplesRejected: uint64(pr.samples_rejected),
				ExemplarsDropped: uint64(pr.exemplars_dropped), HistogramsDropped: uint64(pr.histograms_dropped),
				MetadataDropped: uint64(pr.metadata_dropped),
			})
		}
		sendProtocol(w, pr, o)
	})
}

// reader is an open promstore_reader, tracked so that DB.Close frees it.
type reader struct{ r *C.promstore_reader }

func (rd *reader) closeLocked() {
	if rd.r != nil {
		C.promstore_remote_read_close(rd.r)
		rd.r = nil
	}
}

// RemoteReadHandler serves POST /api/v1/read through
// promstore_remote_read_open/_next: the status and headers come from the
// library, and a 200 body is streamed piece by piece as the library produces
// it (flushed after each piece). An error in the middle of the stream cuts
// the response short (the connection is dropped without the final chunk), so
// the client sees a broken stream, exactly as with the C server.
func (d *DB) RemoteReadHandler(o HandlerOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := d.readBody(w, r, o)
		if !ok {
			return
		}
		defer body.release()
		ct, ce := requestHeaders(r)
		defer C.free(unsafe.Pointer(ct))
		defer C.free(unsafe.Pointer(ce))
		pr := (*C.promstore_http_response)(C.malloc(C.sizeof_promstore_http_response))
		defer C.free(unsafe.Pointer(pr))
		out := (**C.promstore_reader)(C.malloc(C.size_t(unsafe.Sizeof(uintptr(0)))))
		defer C.free(unsafe.Pointer(out))
		h := d.acquire()
		if h == nil {
			sendText(w, 503, "store is closed", o)
			return
		}
		res := C.shim_remote_read_open(h, ct, ce, body.ptr(), C.size_t(len(body.b)), pr, out)
		rd := &reader{r: *out}
		if rd.r != nil {
			d.track(rd)
		}
		d.release()
		body.release() // the library has read the request
		defer d.closeReader(rd)
		if err := takeError("remote read", res.st, res.msg); err != nil {
			sendText(w, 500, "internal error: "+err.(*Error).Message, o)
			return
		}
		if pr.status != 200 || rd.r == nil {
			sendProtocol(w, pr, o)
			return
		}
		if o.OnReadStream != nil {
			o.OnReadStream(1)
			defer o.OnReadStream(-1)
		}
		setHeaders(w, pr)
		if o.OnResponse != nil {
			o.OnResponse(200, "")
		}
		w.WriteHeader(200)
		flusher, _ := w.(http.Flusher)
		for i := 0; ; i++ {
			h := d.acquire()
			if h == nil || rd.r == nil {
				if h != nil {
					d.release()
				}
				d.cutRead(errClosed("remote read"), o)
			}
			p := C.shim_remote_read_next(rd.r)
			if p.st == C.PROMSTORE_DONE {
				d.release()
				return
			}
			if err := takeError("remote read", p.st, p.msg); err != nil {
				d.release()
				d.cutRead(err, o)
			}
			// The piece is C memory valid until the next call on the reader;
			// Write must not retain it, so no copy is needed.
			_, werr := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(p.data)), int(p.len)))
			d.release()
			if werr != nil {
				return // the client went away
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	})
}

// cutRead ends a streamed body early: http.ErrAbortHandler makes net/http
// drop the connection without completing the response.
func (d *DB) cutRead(err error, o HandlerOptions) {
	if o.OnReadCut != nil {
		o.OnReadCut(err)
	}
	panic(http.ErrAbortHandler)
}

func (d *DB) closeReader(rd *reader) {
	if d.acquire() == nil {
		return // DB.Close freed it
	}
	if rd.r != nil {
		rd.closeLocked()
		d.untrack(rd)
	}
	d.release()
}

// requestHeaders returns Content-Type and Content-Encoding as C strings, or
// NULL when the header is absent (free both).
func requestHeaders(r *http.Request) (*C.char, *C.char) {
	get := func(name string) *C.char {
		if v, ok := r.Header[name]; ok && len(v) > 0 {
			return C.CString(v[0])
		}
		return nil
	}
	return get("Content-Type"), get("Content-Encoding")
}

// setHeaders copies the library's headers onto w, as the C server does.
func setHeaders(w http.ResponseWriter, pr *C.promstore_http_response) {
	hd := w.Header()
	if pr.status >= 400 {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		hd["Content-Type"] = nil // no sniffing
		if pr.content_type[0] != 0 {
			hd.Set("Content-Type", C.GoString(&pr.content_type[0]))
		}
		if pr.content_encoding[0] != 0 {
			hd.Set("Content-Encoding", C.GoString(&pr.content_encoding[0]))
		}
	}
	for i := 0; i < int(pr.n_headers); i++ {
		hd.Add(C.GoString(&pr.headers[i].name[0]), C.GoString(&pr.headers[i].value[0]))
	}
}

// sendProtocol sends a complete protocol answer: the message body for >= 400.
func sendProtocol(w http.ResponseWriter, pr *C.promstore_http_response, o HandlerOptions) {
	status := int(pr.status)
	if status < 100 || status > 599 {
		status = 500
	}
	msg := C.GoString(&pr.message[0])
	setHeaders(w, pr)
	if o.OnResponse != nil {
		o.OnResponse(status, msg)
	}
	if status >= 400 {
		b := []byte(msg + "\n")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	w.WriteHeader(status)
}

// sendText answers text plus a newline as text/plain, as the C server's
// srv_http_send_text does.
func sendText(w http.ResponseWriter, status int, text string, o HandlerOptions) {
	if o.OnResponse != nil {
		o.OnResponse(status, text)
	}
	b := []byte(text + "\n")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// SendText writes text and a newline as a text/plain answer, the way the
// C server answers its own (non-protocol) errors.
func SendText(w http.ResponseWriter, status int, text string) {
	sendText(w, status, text, HandlerOptions{})
}

// --- request bodies ----------------------------------------------------------

type bodyBuf struct {
	b    []byte
	pool *[]byte
}

var bodyPool sync.Pool // *[]byte, pointer-free byte buffers

func (b *bodyBuf) ptr() *C.uint8_t {
	if len(b.b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b.b[0]))
}

func (b *bodyBuf) release() {
	if b.pool != nil {
		*b.pool = b.b[:0]
		bodyPool.Put(b.pool)
		b.pool, b.b = nil, nil
	}
}

// readBody checks the method and reads the body up to the size limit,
// answering 405 or 413 itself as the C server does; false when answered.
func (d *DB) readBody(w http.ResponseWriter, r *http.Request, o HandlerOptions) (*bodyBuf, bool) {
	if r.Method != http.MethodPost {
		if o.OnResponse != nil {
			o.OnResponse(405, "method not allowed")
		}
		w.Header().Set("Allow", "POST")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "19")
		w.WriteHeader(405)
		_, _ = io.WriteString(w, "method not allowed\n")
		return nil, false
	}
	max := d.maxBody
	tooLarge := func() (*bodyBuf, bool) {
		sendText(w, 413, "request body larger than "+strconv.FormatInt(max, 10)+" bytes", o)
		return nil, false
	}
	if r.ContentLength > max {
		return tooLarge()
	}
	bp, _ := bodyPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := &bodyBuf{b: (*bp)[:0], pool: bp}
	if r.ContentLength > 0 && int64(cap(b.b)) < r.ContentLength {
		b.b = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(b.b) == cap(b.b) {
			nc := 2*cap(b.b) + 64<<10
			if int64(nc) > max+1 {
				nc = int(max + 1)
			}
			nb := make([]byte, len(b.b), nc)
			copy(nb, b.b)
			b.b = nb
		}
		n, err := r.Body.Read(b.b[len(b.b):cap(b.b)])
		b.b = b.b[:len(b.b)+n]
		if int64(len(b.b)) > max {
			b.release()
			return tooLarge()
		}
		if err == io.EOF {
			return b, true
		}
		if err != nil {
			b.release()
			sendText(w, 400, "cannot read the request body: "+err.Error(), o)
			return nil, false
		}
	}
}
