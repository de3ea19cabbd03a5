// Package promstore embeds libpromstore, remote storage for Prometheus, in Go
// programs, and serves it as Prometheus remote storage over net/http.
//
// It is a thin cgo layer over the C ABI in abi/promstore.h, one Go type per C
// object: DB (promstore), SeriesSet (promstore_series_iter), and the remote
// protocol handlers (promstore_remote_write, promstore_remote_read_*).
//
// Memory rules, which hold for every call:
//
//   - C keeps no Go pointer after a call returns. Go hands the library flat,
//     pointer-free buffers (a byte blob of label strings, integer arrays, the
//     samples, a request body); small C helpers in shim.h build the library's
//     structs from them in C memory and free them before returning.
//   - No array of C structs holding Go pointers is ever passed (cgo forbids
//     it, and GODEBUG=cgocheck=2 would catch it).
//   - Results are copied into Go memory before the next call on the same
//     object, except remote-read body pieces, which are handed to
//     http.ResponseWriter.Write (which must not retain them) and released by
//     the next call.
//   - C memory is freed deterministically by DB.Close and SeriesSet.Close;
//     finalizers exist only as a safety net for forgotten Close calls.
//   - Nothing is tied to an OS thread between calls: the library has no
//     "last error" state; the error text comes back from the failing call
//     itself. No runtime.LockOSThread is needed.
//
// A DB is safe for concurrent use by many goroutines. A SeriesSet (and the
// sample iterator of its current series) is used by one goroutine at a time.
//
// The package builds with Go 1.19 and links the library through pkg-config
// (package "promstore", version 1.1 or later: it calls
// promstore_series_iter_labels_v2).
package promstore

/*
#cgo pkg-config: promstore
#include "shim.h"
*/
import "C"

// Version is the version of the linked libpromstore, e.g. "1.1.0".
func Version() string { return C.GoString(C.promstore_version()) }

// StaleNaNBits is the bit pattern of Prometheus's stale marker, a NaN that
// the store keeps bit-exact. Compare with math.Float64bits.
const StaleNaNBits uint64 = 0x7ff0000000000002
