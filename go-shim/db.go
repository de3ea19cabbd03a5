package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// DB is an open store (a promstore handle). It is safe for concurrent use.
type DB struct {
	*db // separate so that the finalizer sees DB unreachable while iterators live
}

// closer is a C object that DB.Close must free first (an open iterator).
type closer interface{ closeLocked() }

type db struct {
	// mu is held shared by every call into the library and exclusively by
	// Close, so that Close never frees the handle (or an iterator) under a
	// running call.
	mu      sync.RWMutex
	h       *C.promstore
	open    map[closer]struct{} // open iterators and readers, freed by Close
	openMu  sync.Mutex
	maxBody int64
}

// Open opens (creating if needed) the store described by o.
func Open(o Options) (*DB, error) {
	var copts C.promstore_options
	var backend *C.char
	if o.Backend != "" {
		backend = C.CString(o.Backend)
		defer C.free(unsafe.Pointer(backend))
	}
	path := C.CString(o.Path)
	defer C.free(unsafe.Pointer(path))
	o.fill(&copts, backend, path)
	// The handle comes back in C memory: no Go pointer is passed out.
	out := (**C.promstore)(C.malloc(C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(out))
	r := C.shim_open(&copts, out)
	if err := takeError("open", r.st, r.msg); err != nil {
		return nil, err
	}
	d := &DB{&db{h: *out, open: map[closer]struct{}{}, maxBody: defaultMaxRequestBytes}}
	if o.MaxRequestBytes > 0 {
		d.maxBody = int64(o.MaxRequestBytes)
	}
	runtime.SetFinalizer(d, func(d *DB) { _ = d.Close() })
	return d, nil
}

// Close frees the store, closing any iterator still open first. Every later
// call (and a second Close) returns an error with status ErrMisuse.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h == nil {
		return errClosed("close")
	}
	runtime.SetFinalizer(d, nil)
	d.openMu.Lock()
	for c := range d.open {
		c.closeLocked()
	}
	d.open = nil
	d.openMu.Unlock()
	r := C.shim_close(d.h)
	d.h = nil
	return takeError("close", r.st, r.msg)
}

// acquire takes the shared lock and returns the handle, or nil when closed
// (the lock is then already released).
func (d *db) acquire() *C.promstore {
	d.mu.RLock()
	if d.h == nil {
		d.mu.RUnlock()
		return nil
	}
	return d.h
}

func (d *db) release() { d.mu.RUnlock() }

// track and untrack keep the set of open C objects for Close.
func (d *db) track(c closer) {
	d.openMu.Lock()
	d.open[c] = struct{}{}
	d.openMu.Unlock()
}

func (d *db) untrack(c closer) {
	d.openMu.Lock()
	delete(d.open, c)
	d.openMu.Unlock()
}
