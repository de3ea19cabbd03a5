package promstore

/*
#include "shim.h"
*/
import "C"

// RetentionResult mirrors promstore_retention_result.
type RetentionResult struct {
	BlocksDropped, SeriesDropped, SamplesDropped uint64
}

// ApplyRetention drops every block that ends at or before cutoffMs, and the
// series left without data (promstore_apply_retention).
func (d *DB) ApplyRetention(cutoffMs int64) (RetentionResult, error) {
	var res C.promstore_retention_result
	h := d.acquire()
	if h == nil {
		return RetentionResult{}, errClosed("apply retention")
	}
	r := C.shim_retention(h, C.int64_t(cutoffMs), &res)
	d.release()
	out := RetentionResult{uint64(res.blocks_dropped), uint64(res.series_dropped), uint64(res.samples_dropped)}
	return out, takeError("apply retention", r.st, r.msg)
}

// Stats mirrors promstore_stats.
type Stats struct {
	Backend     string // "lmdb" or "sqlite"
	Series      uint64
	Samples     uint64
	Chunks      uint64
	Blocks      uint64
	BytesOnDisk uint64 // live data, free pages excluded
	FileBytes   uint64 // the backend's files, free pages included
	MinTimeMs   int64  // oldest sample (0 when empty)
	MaxTimeMs   int64  // newest sample (0 when empty)
}

// Stats reads the store's statistics.
func (d *DB) Stats() (Stats, error) {
	var st C.promstore_stats
	h := d.acquire()
	if h == nil {
		return Stats{}, errClosed("stats")
	}
	r := C.shim_stats(h, &st)
	d.release()
	if err := takeError("stats", r.st, r.msg); err != nil {
		return Stats{}, err
	}
	return Stats{
		Backend: C.GoString(&st.backend[0]), Series: uint64(st.series), Samples: uint64(st.samples),
		Chunks: uint64(st.chunks), Blocks: uint64(st.blocks), BytesOnDisk: uint64(st.bytes_on_disk),
		FileBytes: uint64(st.file_bytes), MinTimeMs: int64(st.min_time_ms), MaxTimeMs: int64(st.max_time_ms),
	}, nil
}
