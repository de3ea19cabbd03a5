package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// sampleBatch is how many samples one cgo call moves into Go memory.
const sampleBatch = 128

// SeriesSet iterates over the series a Select matched (promstore_series_iter),
// in the style of Prometheus's storage.SeriesSet: Next, At, Err. It reads a
// consistent snapshot; keep it short-lived and Close it (also in the middle
// of a result) to release the snapshot. Use it from one goroutine at a time.
type SeriesSet struct {
	*seriesSet
	db *DB // keeps the DB reachable while the set lives
}

type seriesSet struct {
	d      *db
	it     *C.promstore_series_iter // nil once closed
	err    error
	cur    StoredSeries
	gen    uint64 // bumped by Next: an older sample iterator is stale
	sample SampleIterator
}

// StoredSeries is the current series of a SeriesSet.
type StoredSeries struct {
	set    *seriesSet
	labels Labels
	gen    uint64
}

// Labels returns the series' labels, sorted by name (a copy owned by the caller).
func (s StoredSeries) Labels() Labels { return s.labels }

// Iterator returns the sample iterator of the series. It is valid until the
// next call of Next on the set; there is one per set, reset by Next.
func (s StoredSeries) Iterator() *SampleIterator {
	it := &s.set.sample
	if it.gen != s.gen {
		it.err = &Error{Op: "sample iterator", Status: ErrMisuse, Message: "series is no longer current"}
		it.done = true
	}
	return it
}

// SampleIterator walks the samples of one series in [mint, maxt], in time order.
type SampleIterator struct {
	set  *seriesSet
	gen  uint64
	buf  [sampleBatch]Sample
	n, i int
	done bool
	err  error
}

// Select returns the series matching every matcher that have a sample in
// [mint, maxt] (both inclusive), sorted by label set. With no matchers every
// series matches. A bad matcher fails here (ErrBadMatcher); the per-query
// limits are checked as the set advances (Err then returns ErrLimit).
func (d *DB) Select(mint, maxt int64, matchers ...Matcher) (*SeriesSet, error) {
	f := encodeMatchers(matchers)
	strs, mt, n := f.args()
	out := (**C.promstore_series_iter)(C.malloc(C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(out))
	h := d.acquire()
	if h == nil {
		return nil, errClosed("select")
	}
	r := C.shim_query(h, strs, mt, n, C.int64_t(mint), C.int64_t(maxt), out)
	runtime.KeepAlive(f)
	if err := takeError("select", r.st, r.msg); err != nil {
		d.release()
		return nil, err
	}
	s := &seriesSet{d: d.db, it: *out}
	s.sample.set = s
	s.sample.done = true
	d.track(s)
	d.release()
	set := &SeriesSet{seriesSet: s, db: d}
	runtime.SetFinalizer(set, func(set *SeriesSet) { set.Close() })
	return set, nil
}

// closeLocked frees the C iterator; the caller holds d.mu (shared or exclusive).
func (s *seriesSet) closeLocked() {
	if s.it != nil {
		C.promstore_series_iter_close(s.it)
		s.it = nil
	}
}

// Close frees the iterator and its snapshot. It may be called at any point
// of the result, and more than once.
func (s *SeriesSet) Close() {
	runtime.SetFinalizer(s, nil)
	if s.d.acquire() == nil {
		return // DB.Close already freed it
	}
	if s.it != nil {
		s.closeLocked()
		s.d.untrack(s.seriesSet)
	}
	s.d.release()
}

// Next advances to the next series; false at the end or on error (see Err).
func (s *SeriesSet) Next() bool {
	if s.err != nil {
		return false
	}
	s.gen++
	s.sample.gen, s.sample.n, s.sample.i, s.sample.done, s.sample.err = s.gen, 0, 0, false, nil
	if s.d.acquire() == nil {
		s.err = errClosed("series set")
		return false
	}
	defer s.d.release()
	if s.it == nil {
		s.err = errClosed("series set")
		return false
	}
	r := C.shim_series_next(s.it)
	if r.st == C.PROMSTORE_DONE {
		return false
	}
	if err := takeError("series set", r.st, r.msg); err != nil {
		s.err = err
		return false
	}
	lr := C.shim_series_labels(s.it)
	if err := takeError("series labels", lr.st, lr.msg); err != nil {
		s.err = err
		return false
	}
	labels := make(Labels, int(lr.n))
	if lr.n > 0 {
		cl := unsafe.Slice(lr.labels, int(lr.n))
		for i := range cl {
			labels[i] = Label{
				Name:  C.GoStringN(cl[i].name, C.int(cl[i].name_len)),
				Value: C.GoStringN(cl[i].value, C.int(cl[i].value_len)),
			}
		}
	}
	s.cur = StoredSeries{set: s.seriesSet, labels: labels, gen: s.gen}
	return true
}

// At returns the current series.
func (s *SeriesSet) At() StoredSeries { return s.cur }

// Err returns the error that ended the iteration, if any.
func (s *SeriesSet) Err() error { return s.err }

// Next advances to the next sample; false at the end or on error (see Err).
func (it *SampleIterator) Next() bool {
	if it.i+1 < it.n {
		it.i++
		return true
	}
	if it.done {
		it.n, it.i = 0, 0
		return false
	}
	s := it.set
	if s.d.acquire() == nil {
		it.err, it.done = errClosed("sample iterator"), true
		return false
	}
	defer s.d.release()
	if s.it == nil || s.gen != it.gen {
		it.err, it.done = errClosed("sample iterator"), true
		return false
	}
	var n C.size_t
	r := C.shim_series_samples(s.it, (*C.promstore_sample)(unsafe.Pointer(&it.buf[0])), sampleBatch, &n)
	it.n, it.i = int(n), 0
	if r.st != C.PROMSTORE_OK {
		it.done = true
		if err := takeError("sample iterator", r.st, r.msg); err != nil {
			it.err = err
			if s.err == nil {
				s.err = err // after an error the C iterator may only be closed
			}
		}
	}
	return it.n > 0
}

// At returns the current sample.
func (it *SampleIterator) At() (int64, float64) {
	smp := it.buf[it.i]
	return smp.T, smp.V
}

// Err returns the error that ended the samples, if any.
func (it *SampleIterator) Err() error { return it.err }
