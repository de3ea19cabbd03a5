package promstore

/*
#include "shim.h"
*/
import "C"

import "unsafe"

// MatchType is a matcher kind, with Prometheus semantics.
type MatchType int

// The matcher kinds of promstore_match_type.
const (
	MatchEqual     MatchType = C.PROMSTORE_MATCH_EQ  // name = value
	MatchNotEqual  MatchType = C.PROMSTORE_MATCH_NEQ // name != value
	MatchRegexp    MatchType = C.PROMSTORE_MATCH_RE  // name =~ regex (fully anchored)
	MatchNotRegexp MatchType = C.PROMSTORE_MATCH_NRE // name !~ regex
)

// Matcher is one label matcher. A series without the label matches as if
// its value were "".
type Matcher struct {
	Type        MatchType
	Name, Value string
}

// MustEqual and friends are shorthands for building matchers.
func MustEqual(name, value string) Matcher { return Matcher{MatchEqual, name, value} }

// flatMatchers is the pointer-free encoding shim_matchers() reads.
type flatMatchers struct {
	strs []byte
	mt   []uint64 // type, name off, name len, value off, value len
}

func encodeMatchers(ms []Matcher) flatMatchers {
	var f flatMatchers
	f.mt = make([]uint64, 0, 5*len(ms))
	for _, m := range ms {
		f.mt = append(f.mt, uint64(m.Type), uint64(len(f.strs)), uint64(len(m.Name)))
		f.strs = append(f.strs, m.Name...)
		f.mt = append(f.mt, uint64(len(f.strs)), uint64(len(m.Value)))
		f.strs = append(f.strs, m.Value...)
	}
	// Never pass a NULL base: an empty name at offset 0 still needs one.
	f.strs = append(f.strs, 0)
	return f
}

// args returns the C arguments; the slices stay alive in f for the call.
func (f *flatMatchers) args() (*C.char, *C.uint64_t, C.size_t) {
	var mt *C.uint64_t
	if len(f.mt) > 0 {
		mt = (*C.uint64_t)(unsafe.Pointer(&f.mt[0]))
	}
	return (*C.char)(unsafe.Pointer(&f.strs[0])), mt, C.size_t(len(f.mt) / 5)
}
