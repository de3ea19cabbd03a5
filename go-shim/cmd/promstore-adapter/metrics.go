package main

import (
	"fmt"
	"strings"
	"sync/atomic"

	promstore "promstore/go-shim"
)

// The metrics of the C server (server/metrics.c), same names and labels.
const (
	routeWrite = iota
	routeRead
	routeMetrics
	routeHealthy
	routeReady
	routeOther
	routeCount
)

func routeName(idx int) string {
	if idx < len(routes) {
		return routes[idx].path
	}
	return "other"
}

const (
	limitRequestBytes = iota
	limitReadConcurrency
	limitQuery
	limitWriteBusy
	limitStorageFull
	limitBodyBytes
	limitBodyRate
	limitWriteTimeout
	limitCount
)

var limitNames = []string{"request_bytes", "read_concurrency", "query", "write_busy", "storage_full",
	"body_bytes_in_flight", "body_rate", "write_timeout"}
var rejectNames = []string{"invalid", "out_of_order", "duplicate_timestamp", "storage"}
var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

type metrics struct {
	requests  [routeCount][500]atomic.Uint64 // codes 100..599
	bucket    [routeCount][14]atomic.Uint64
	count     [routeCount]atomic.Uint64
	sumNs     [routeCount]atomic.Uint64
	samples   atomic.Uint64
	hists     atomic.Uint64
	exemplars atomic.Uint64
	rejected  [4]atomic.Uint64
	dropped   [3]atomic.Uint64 // exemplars, histograms, metadata
	limits    [limitCount]atomic.Uint64
	readsOpen atomic.Int64
}

func newMetrics() *metrics { return &metrics{} }

func (m *metrics) request(route, code int, secs float64) {
	if code >= 100 && code <= 599 {
		m.requests[route][code-100].Add(1)
	}
	for i, b := range buckets {
		if secs <= b {
			m.bucket[route][i].Add(1)
			break
		}
	}
	m.count[route].Add(1)
	if secs > 0 {
		m.sumNs[route].Add(uint64(secs * 1e9))
	}
}

func (m *metrics) write(r promstore.WriteReport) {
	m.samples.Add(r.SamplesWritten)
	m.hists.Add(r.HistogramsWritten)
	m.exemplars.Add(r.ExemplarsWritten)
	if r.SamplesRejected > 0 {
		msg := strings.ToLower(r.Message)
		reason := 1
		switch {
		case strings.Contains(msg, "duplicate timestamp"):
			reason = 2
		case strings.Contains(msg, "out-of-order") || strings.Contains(msg, "out of order"):
			reason = 1
		case r.Status >= 500:
			reason = 3
		case r.Status >= 400:
			reason = 0
		}
		m.rejected[reason].Add(r.SamplesRejected)
	}
	m.dropped[0].Add(r.ExemplarsDropped)
	m.dropped[1].Add(r.HistogramsDropped)
	m.dropped[2].Add(r.MetadataDropped)
}

func (m *metrics) status(route, code int, msg string) {
	lower := strings.ToLower(msg)
	switch {
	case code == 413:
		m.limits[limitRequestBytes].Add(1)
	case code == 503 && route == routeRead:
		m.limits[limitReadConcurrency].Add(1)
	case code == 503:
		m.limits[limitWriteBusy].Add(1)
	case code == 507:
		m.limits[limitStorageFull].Add(1)
	case route == routeRead && code >= 400 && code < 500 && (strings.Contains(lower, "_per_query") || strings.Contains(lower, "limit")):
		m.limits[limitQuery].Add(1)
	}
}

func (m *metrics) render(db *promstore.DB) []byte {
	var b strings.Builder
	header := func(name, typ, help string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	counter := func(name, help string, v uint64) { header(name, "counter", help); fmt.Fprintf(&b, "%s %d\n", name, v) }
	gauge := func(name, help string, v float64) {
		header(name, "gauge", help)
		fmt.Fprintf(&b, "%s %s\n", name, fmtFloat(v))
	}
	header("promstore_build_info", "gauge", "Always 1; labelled with the library version.")
	fmt.Fprintf(&b, "promstore_build_info{version=\"%s\"} 1\n", promstore.Version())
	header("promstore_http_requests_total", "counter", "HTTP requests answered, by handler and status code.")
	for r := 0; r < routeCount; r++ {
		for c := 100; c <= 599; c++ {
			if v := m.requests[r][c-100].Load(); v != 0 {
				fmt.Fprintf(&b, "promstore_http_requests_total{handler=\"%s\",code=\"%d\"} %d\n", routeName(r), c, v)
			}
		}
	}
	header("promstore_http_request_duration_seconds", "histogram", "Time from the request's headers to the end of its response.")
	for r := 0; r < routeCount; r++ {
		h := routeName(r)
		var cum uint64
		for i, le := range buckets {
			cum += m.bucket[r][i].Load()
			fmt.Fprintf(&b, "promstore_http_request_duration_seconds_bucket{handler=\"%s\",le=\"%g\"} %d\n", h, le, cum)
		}
		n := m.count[r].Load()
		fmt.Fprintf(&b, "promstore_http_request_duration_seconds_bucket{handler=\"%s\",le=\"+Inf\"} %d\n", h, n)
		fmt.Fprintf(&b, "promstore_http_request_duration_seconds_sum{handler=\"%s\"} %.9f\n", h, float64(m.sumNs[r].Load())/1e9)
		fmt.Fprintf(&b, "promstore_http_request_duration_seconds_count{handler=\"%s\"} %d\n", h, n)
	}
	counter("promstore_samples_appended_total", "Samples stored by remote write.", m.samples.Load())
	counter("promstore_histograms_appended_total", "Native histograms stored by remote write.", m.hists.Load())
	counter("promstore_exemplars_appended_total", "Exemplars stored by remote write.", m.exemplars.Load())
	header("promstore_samples_rejected_total", "counter", "Samples refused by remote write, by reason.")
	for i, n := range rejectNames {
		fmt.Fprintf(&b, "promstore_samples_rejected_total{reason=\"%s\"} %d\n", n, m.rejected[i].Load())
	}
	header("promstore_remote_write_dropped_total", "counter", "Items received by remote write that this version does not store, by kind.")
	for i, n := range []string{"exemplars", "histograms", "metadata"} {
		fmt.Fprintf(&b, "promstore_remote_write_dropped_total{kind=\"%s\"} %d\n", n, m.dropped[i].Load())
	}
	header("promstore_limit_hits_total", "counter", "Requests refused or cut short by a configured limit, by limit.")
	for i, n := range limitNames {
		fmt.Fprintf(&b, "promstore_limit_hits_total{limit=\"%s\"} %d\n", n, m.limits[i].Load())
	}
	gauge("promstore_remote_reads_in_progress", "Remote-read responses being sent.", float64(m.readsOpen.Load()))
	st, err := db.Stats()
	ok := 0.0
	if err == nil {
		ok = 1
	}
	gauge("promstore_storage_stats_ok", "1 if the store's statistics could be read.", ok)
	if err == nil {
		gauge("promstore_storage_bytes", "Bytes the store uses for live data.", float64(st.BytesOnDisk))
		gauge("promstore_storage_file_bytes", "Size of the store's files, free pages included.", float64(st.FileBytes))
		gauge("promstore_series", "Series in the store.", float64(st.Series))
		gauge("promstore_samples", "Samples in the store.", float64(st.Samples))
		gauge("promstore_chunks", "Chunks in the store.", float64(st.Chunks))
		gauge("promstore_blocks", "Time blocks in the store.", float64(st.Blocks))
		gauge("promstore_oldest_timestamp_seconds", "Oldest sample's timestamp (0 when empty).", float64(st.MinTimeMs)/1000)
		gauge("promstore_newest_timestamp_seconds", "Newest sample's timestamp (0 when empty).", float64(st.MaxTimeMs)/1000)
	}
	return []byte(b.String())
}

// fmtFloat prints like C's %.17g.
func fmtFloat(v float64) string { return strings.Replace(fmt.Sprintf("%.17g", v), "e+", "e+", 1) }
