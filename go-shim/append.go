package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"sync"
	"unsafe"
)

// Label is one name/value pair.
type Label struct {
	Name, Value string
}

// Labels is a label set (any order when appending; sorted by name when read).
type Labels []Label

// Get returns the value of the label name, or "".
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Sample is one sample: a millisecond timestamp and a value. Its layout is
// that of promstore_sample; V keeps NaN bit patterns (StaleNaNBits) exactly.
type Sample struct {
	T int64
	V float64
}

// Series is one series of an append batch.
type Series struct {
	Labels  Labels
	Samples []Sample
}

// AppendResult mirrors promstore_append_result.
type AppendResult struct {
	Appended  uint64 // new samples stored
	Duplicate uint64 // samples equal to stored ones, ignored
	Rejected  uint64 // samples refused as out of order, too old, or too far ahead
	Created   uint64 // series that did not exist before
}

// appendBuf holds the flat encoding of one batch (pooled; no Go pointers inside).
type appendBuf struct {
	strs    []byte
	lbl     []uint64 // name off, name len, value off, value len
	ser     []uint64 // first label, n labels, first sample, n samples
	samples []Sample
}

var appendPool = sync.Pool{New: func() interface{} { return new(appendBuf) }}

// Append stores a batch of series (promstore_append). The whole batch is
// validated first: ErrBadLabels stores nothing. With ErrOutOfOrder the other
// samples are stored and the result says how many of each. On success (and
// on ErrOutOfOrder) the stored samples are durable.
func (d *DB) Append(batch []Series) (AppendResult, error) {
	b := appendPool.Get().(*appendBuf)
	defer appendPool.Put(b)
	b.strs, b.lbl, b.ser, b.samples = b.strs[:0], b.lbl[:0], b.ser[:0], b.samples[:0]
	nSamples := 0
	for _, s := range batch {
		first := len(b.lbl) / 4
		for _, l := range s.Labels {
			b.lbl = append(b.lbl, uint64(len(b.strs)), uint64(len(l.Name)))
			b.strs = append(b.strs, l.Name...)
			b.lbl = append(b.lbl, uint64(len(b.strs)), uint64(len(l.Value)))
			b.strs = append(b.strs, l.Value...)
		}
		b.ser = append(b.ser, uint64(first), uint64(len(s.Labels)), uint64(nSamples), uint64(len(s.Samples)))
		nSamples += len(s.Samples)
	}
	// One series: pass its samples as they are; several: one flat copy.
	samples := b.samples
	if len(batch) == 1 {
		samples = batch[0].Samples
	} else {
		for _, s := range batch {
			samples = append(samples, s.Samples...)
		}
		b.samples = samples
	}
	var strs *C.char
	if len(b.strs) > 0 {
		strs = (*C.char)(unsafe.Pointer(&b.strs[0]))
	}
	var lbl, ser *C.uint64_t
	if len(b.lbl) > 0 {
		lbl = (*C.uint64_t)(unsafe.Pointer(&b.lbl[0]))
	}
	if len(b.ser) > 0 {
		ser = (*C.uint64_t)(unsafe.Pointer(&b.ser[0]))
	}
	var smp *C.promstore_sample
	if len(samples) > 0 {
		smp = (*C.promstore_sample)(unsafe.Pointer(&samples[0]))
	}
	var res C.promstore_append_result
	h := d.acquire()
	if h == nil {
		return AppendResult{}, errClosed("append")
	}
	r := C.shim_append(h, strs, lbl, C.size_t(len(b.lbl)/4), ser, C.size_t(len(batch)), smp, &res)
	d.release()
	out := AppendResult{
		Appended:  uint64(res.samples_appended),
		Duplicate: uint64(res.samples_duplicate),
		Rejected:  uint64(res.samples_rejected),
		Created:   uint64(res.series_created),
	}
	return out, takeError("append", r.st, r.msg)
}
