package promstore

/*
#include "shim.h"
*/
import "C"

import (
	"math"
	"time"
)

// Options mirror promstore_options. A zero field keeps the library's default.
type Options struct {
	// Backend is "lmdb" (the default) or "sqlite".
	Backend string
	// Path is the store's directory, created if missing. Required.
	Path string
	// RetentionTime drops blocks wholly older than the newest sample (counted
	// as no later than the wall clock) minus this; 0 keeps data forever.
	RetentionTime time.Duration
	// RetentionSize drops the oldest blocks while the store is larger; 0: no limit.
	RetentionSize uint64
	// BlockDuration is the length of a time block (default 2h), fixed when
	// the store is created.
	BlockDuration time.Duration
	// OutOfOrderWindow is how far behind a series' newest sample a sample may
	// arrive and still be accepted (default 0: in order only).
	OutOfOrderWindow time.Duration
	// MaxFuture is how far past the wall clock a sample may be (default 10
	// minutes); later samples fail with ErrOutOfOrder naming the series and
	// the limit. Negative: no limit.
	MaxFuture time.Duration
	// MaxSeriesPerQuery, MaxSamplesPerQuery, MaxBytesPerQuery are per-query
	// limits (0: unlimited); a query reaching one fails with ErrLimit.
	MaxSeriesPerQuery  uint64
	MaxSamplesPerQuery uint64
	MaxBytesPerQuery   uint64
	// MaxMatchers (per query), MaxQueriesPerRead (per remote-read request)
	// and MaxWorkPerRead (steps, see promstore.h) bound the work of a read;
	// ReadDeadline its wall time. A read past one fails with ErrLimit naming
	// it. 0 keeps the library's default (64, 64, 100M, 2m); negative: none.
	MaxMatchers       int64
	MaxQueriesPerRead int64
	MaxWorkPerRead    int64
	ReadDeadline      time.Duration
	// Sync makes every append end with an fsync (survives power loss).
	Sync bool
	// LegacyNames accepts only classic label and metric names.
	LegacyNames bool
	// MaxConcurrentReads is the number of remote reads served at once
	// (default 10); one more is answered 503.
	MaxConcurrentReads uint32
	// MaxRequestBytes is the largest compressed remote write/read body
	// (default 32 MiB). The HTTP handlers answer 413 beyond it, as the C
	// server does.
	MaxRequestBytes uint64
	// MaxDecodedBytes is the largest decoded body (default 32 MiB).
	MaxDecodedBytes uint64
	// ReadFrameBytes is the target size of a streamed remote-read frame
	// (default 1 MiB).
	ReadFrameBytes uint64
}

// defaultMaxRequestBytes is the library's and the C server's default.
const defaultMaxRequestBytes = 32 << 20

// fill sets the C options from o; backend and path are C strings owned by the caller.
func (o *Options) fill(c *C.promstore_options, backend, path *C.char) {
	C.promstore_options_init(c)
	if backend != nil {
		c.backend = backend
	}
	c.path = path
	if o.RetentionTime > 0 {
		c.retention_time_ms = C.int64_t(o.RetentionTime / time.Millisecond)
	}
	if o.RetentionSize > 0 {
		c.retention_size_bytes = C.uint64_t(o.RetentionSize)
	}
	if o.BlockDuration > 0 {
		c.block_duration_ms = C.int64_t(o.BlockDuration / time.Millisecond)
	}
	if o.OutOfOrderWindow > 0 {
		c.out_of_order_window_ms = C.int64_t(o.OutOfOrderWindow / time.Millisecond)
	}
	if o.MaxFuture > 0 {
		c.max_future_ms = C.int64_t(o.MaxFuture / time.Millisecond)
	} else if o.MaxFuture < 0 {
		c.max_future_ms = 0
	}
	if o.MaxSeriesPerQuery > 0 {
		c.max_series_per_query = C.uint64_t(o.MaxSeriesPerQuery)
	}
	if o.MaxSamplesPerQuery > 0 {
		c.max_samples_per_query = C.uint64_t(o.MaxSamplesPerQuery)
	}
	if o.MaxBytesPerQuery > 0 {
		c.max_bytes_per_query = C.uint64_t(o.MaxBytesPerQuery)
	}
	if o.MaxMatchers != 0 {
		c.max_matchers_per_query = C.uint32_t(limitOrZero(o.MaxMatchers, math.MaxUint32))
	}
	if o.MaxQueriesPerRead != 0 {
		c.max_queries_per_read = C.uint32_t(limitOrZero(o.MaxQueriesPerRead, math.MaxUint32))
	}
	if o.MaxWorkPerRead != 0 {
		c.max_work_per_read = C.uint64_t(limitOrZero(o.MaxWorkPerRead, math.MaxInt64))
	}
	if o.ReadDeadline > 0 {
		c.read_deadline_ms = C.int64_t(o.ReadDeadline / time.Millisecond)
	} else if o.ReadDeadline < 0 {
		c.read_deadline_ms = 0
	}
	if o.Sync {
		c.flags |= C.PROMSTORE_OPEN_SYNC
	}
	if o.LegacyNames {
		c.flags |= C.PROMSTORE_OPEN_LEGACY_NAMES
	}
	if o.MaxConcurrentReads > 0 {
		c.max_concurrent_reads = C.uint32_t(o.MaxConcurrentReads)
	}
	if o.MaxRequestBytes > 0 {
		c.max_request_bytes = C.uint64_t(o.MaxRequestBytes)
	}
	if o.MaxDecodedBytes > 0 {
		c.max_decoded_bytes = C.uint64_t(o.MaxDecodedBytes)
	}
	if o.ReadFrameBytes > 0 {
		c.read_frame_bytes = C.uint64_t(o.ReadFrameBytes)
	}
}

// limitOrZero: a negative limit is the library's 0 (none); others are capped at max.
func limitOrZero(n, max int64) int64 {
	if n < 0 {
		return 0
	}
	if n > max {
		return max
	}
	return n
}
