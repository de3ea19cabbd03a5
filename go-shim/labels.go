package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// LabelNames returns the label names (sorted, distinct) of the series that
// match every matcher and have data in [mint, maxt]. Use math.MinInt64 and
// math.MaxInt64 for the whole time range.
func (d *DB) LabelNames(mint, maxt int64, matchers ...Matcher) ([]string, error) {
	return d.labelStrings("label names", nil, mint, maxt, matchers)
}

// LabelValues returns the values (sorted, distinct, never empty) of label
// name among the series that match every matcher and have data in [mint, maxt].
func (d *DB) LabelValues(name string, mint, maxt int64, matchers ...Matcher) ([]string, error) {
	return d.labelStrings("label values", &name, mint, maxt, matchers)
}

func (d *DB) labelStrings(op string, name *string, mint, maxt int64, ms []Matcher) ([]string, error) {
	f := encodeMatchers(ms)
	strs, mt, n := f.args()
	var cname *C.char
	var cnameLen C.size_t
	if name != nil {
		// A C copy: never NULL, even for "" (NULL means "label names").
		cname = (*C.char)(C.CBytes(append([]byte(*name), 0)))
		cnameLen = C.size_t(len(*name))
		defer C.free(unsafe.Pointer(cname))
	}
	out := (**C.promstore_string_iter)(C.malloc(C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(out))
	h := d.acquire()
	if h == nil {
		return nil, errClosed(op)
	}
	defer d.release()
	r := C.shim_label_strings(h, cname, cnameLen, strs, mt, n, C.int64_t(mint), C.int64_t(maxt), out)
	runtime.KeepAlive(f)
	if err := takeError(op, r.st, r.msg); err != nil {
		return nil, err
	}
	it := *out
	defer C.promstore_string_iter_close(it)
	var res []string
	for i := 0; ; i++ {
		sr := C.shim_string_next(it)
		if sr.st == C.PROMSTORE_DONE {
			return res, nil
		}
		if err := takeError(op, sr.st, sr.msg); err != nil {
			return nil, err
		}
		res = append(res, C.GoStringN(sr.s, C.int(sr.len)))
	}
}
