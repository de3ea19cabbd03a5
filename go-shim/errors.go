package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Status is a promstore_status code. The error codes are also usable as
// sentinels with errors.Is: errors.Is(err, promstore.ErrLimit).
type Status int

// The status codes of abi/promstore.h.
const (
	StatusOK   Status = 0 // success
	StatusDone Status = 1 // an iterator has no more items

	ErrInvalid     Status = -1  // a bad argument (bad options, mint > maxt)
	ErrMisuse      Status = -2  // a call out of order or on a closed handle
	ErrNoMem       Status = -3  // out of memory
	ErrIO          Status = -4  // the storage backend failed
	ErrFull        Status = -5  // the disk or the store's map is full
	ErrBusy        Status = -6  // the store is locked by another user
	ErrCorrupt     Status = -7  // stored or supplied data is corrupt
	ErrBadLabels   Status = -8  // a series has invalid labels
	ErrOutOfOrder  Status = -9  // samples too old for the series, or too far ahead
	ErrBadMatcher  Status = -10 // a matcher or its regex is invalid
	ErrLimit       Status = -11 // a configured query limit was reached
	ErrNotFound    Status = -12 // the named thing does not exist
	ErrUnsupported Status = -13 // not supported by this build or format
)

// Error returns the library's short description of the code ("invalid labels").
func (s Status) Error() string {
	return C.GoString(C.promstore_strerror(C.promstore_status(s)))
}

// Error is a failed call: the operation, the library's status and the message
// the same C call filled in (it names the series, label or limit).
//
// errors.Is(err, promstore.ErrX) is true when Status is ErrX.
type Error struct {
	Op      string // the Go method, e.g. "append"
	Status  Status
	Message string
}

// Error formats as "promstore: op: message (status text)".
func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("promstore: %s: %s", e.Op, e.Status.Error())
	}
	return fmt.Sprintf("promstore: %s: %s (%s)", e.Op, e.Message, e.Status.Error())
}

// Is reports whether target is the Status of e.
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// Unwrap returns the Status, so errors.As(err, &status) works too.
func (e *Error) Unwrap() error { return e.Status }

// errClosed is returned by every call on a closed DB or SeriesSet.
func errClosed(op string) error {
	return &Error{Op: op, Status: ErrMisuse, Message: "use of a closed handle"}
}

// takeError turns a helper's status and malloc'd message into a Go error
// (nil for OK and DONE) and frees the message.
func takeError(op string, st C.promstore_status, msg *C.char) error {
	var text string
	if msg != nil {
		text = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	if st >= 0 {
		return nil
	}
	return &Error{Op: op, Status: Status(st), Message: text}
}
