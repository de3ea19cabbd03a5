package promstore

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var backends = []string{"lmdb", "sqlite"}

func openTest(t testing.TB, backend string, mod ...func(*Options)) *DB {
	t.Helper()
	o := Options{Backend: backend, Path: t.TempDir()}
	for _, f := range mod {
		f(&o)
	}
	db, err := Open(o)
	if err != nil {
		t.Fatalf("open %s: %v", backend, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func series(name string, extra ...string) Labels {
	ls := Labels{{"__name__", name}}
	for i := 0; i+1 < len(extra); i += 2 {
		ls = append(ls, Label{extra[i], extra[i+1]})
	}
	return ls
}

func ramp(t0 int64, n int, v0 float64) []Sample {
	s := make([]Sample, n)
	for i := range s {
		s[i] = Sample{T: t0 + int64(i)*1000, V: v0 + float64(i)}
	}
	return s
}

// collect drains a set into Series values.
func collect(t testing.TB, set *SeriesSet) []Series {
	t.Helper()
	defer set.Close()
	var out []Series
	for set.Next() {
		s := Series{Labels: set.At().Labels()}
		it := set.At().Iterator()
		for it.Next() {
			ts, v := it.At()
			s.Samples = append(s.Samples, Sample{ts, v})
		}
		if it.Err() != nil {
			t.Fatalf("samples: %v", it.Err())
		}
		out = append(out, s)
	}
	if set.Err() != nil {
		t.Fatalf("series set: %v", set.Err())
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := openTest(t, backend)
			batch := []Series{
				{Labels: series("up", "job", "b", "instance", "x"), Samples: ramp(1000, 3000, 0)},
				{Labels: series("up", "job", "a"), Samples: ramp(1000, 10, 5)},
			}
			res, err := db.Append(batch)
			if err != nil {
				t.Fatal(err)
			}
			if res.Appended != 3010 || res.Created != 2 {
				t.Fatalf("append result %+v", res)
			}
			// A retried batch is all duplicates.
			if res, err = db.Append(batch); err != nil || res.Duplicate != 3010 {
				t.Fatalf("retry: %+v %v", res, err)
			}
			got := collect(t, mustSelect(t, db, math.MinInt64, math.MaxInt64, MustEqual("__name__", "up")))
			want := []Series{
				{Labels: Labels{{"__name__", "up"}, {"instance", "x"}, {"job", "b"}}, Samples: batch[0].Samples},
				{Labels: Labels{{"__name__", "up"}, {"job", "a"}}, Samples: batch[1].Samples},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("select: got %d series, want %d (first labels %v)", len(got), len(want), got[0].Labels)
			}
			// Time range: both ends inclusive.
			got = collect(t, mustSelect(t, db, 2000, 4000, MustEqual("job", "b")))
			if len(got) != 1 || len(got[0].Samples) != 3 || got[0].Samples[0].T != 2000 {
				t.Fatalf("range select: %+v", got)
			}
			names, err := db.LabelNames(math.MinInt64, math.MaxInt64)
			if err != nil || !reflect.DeepEqual(names, []string{"__name__", "instance", "job"}) {
				t.Fatalf("label names %v %v", names, err)
			}
			vals, err := db.LabelValues("job", math.MinInt64, math.MaxInt64)
			if err != nil || !reflect.DeepEqual(vals, []string{"a", "b"}) {
				t.Fatalf("label values %v %v", vals, err)
			}
			vals, err = db.LabelValues("job", math.MinInt64, math.MaxInt64, MustEqual("instance", "x"))
			if err != nil || !reflect.DeepEqual(vals, []string{"b"}) {
				t.Fatalf("label values with matcher %v %v", vals, err)
			}
			if vals, err = db.LabelValues("nope", math.MinInt64, math.MaxInt64); err != nil || len(vals) != 0 {
				t.Fatalf("label values of a missing label %v %v", vals, err)
			}
			st, err := db.Stats()
			if err != nil || st.Backend != backend || st.Series != 2 || st.Samples != 3010 || st.MaxTimeMs != 1000+2999*1000 {
				t.Fatalf("stats %+v %v", st, err)
			}
			rr, err := db.ApplyRetention(math.MaxInt64)
			if err != nil || rr.SeriesDropped != 2 {
				t.Fatalf("retention %+v %v", rr, err)
			}
			if got = collect(t, mustSelect(t, db, math.MinInt64, math.MaxInt64)); len(got) != 0 {
				t.Fatalf("after retention: %d series", len(got))
			}
		})
	}
}

func mustSelect(t testing.TB, db *DB, mint, maxt int64, ms ...Matcher) *SeriesSet {
	t.Helper()
	set, err := db.Select(mint, maxt, ms...)
	if err != nil {
		t.Fatalf("select %v: %v", ms, err)
	}
	return set
}

func TestMatchers(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := openTest(t, backend)
			var batch []Series
			for _, env := range []string{"prod", "dev", "staging"} {
				batch = append(batch, Series{Labels: series("m", "env", env), Samples: ramp(0, 2, 1)})
			}
			batch = append(batch, Series{Labels: series("m"), Samples: ramp(0, 2, 1)})
			if _, err := db.Append(batch); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				m    Matcher
				want []string // env values, "" for the series without env
			}{
				{Matcher{MatchEqual, "env", "prod"}, []string{"prod"}},
				{Matcher{MatchEqual, "env", ""}, []string{""}},
				{Matcher{MatchNotEqual, "env", "prod"}, []string{"", "dev", "staging"}},
				{Matcher{MatchNotEqual, "env", ""}, []string{"dev", "prod", "staging"}},
				{Matcher{MatchRegexp, "env", "pr.*|dev"}, []string{"dev", "prod"}},
				{Matcher{MatchRegexp, "env", "rod"}, nil}, // anchored
				{Matcher{MatchRegexp, "env", ".*"}, []string{"", "dev", "prod", "staging"}},
				{Matcher{MatchNotRegexp, "env", "d.*"}, []string{"", "prod", "staging"}},
				{Matcher{MatchNotRegexp, "env", ".+"}, []string{""}},
			}
			for _, c := range cases {
				got := collect(t, mustSelect(t, db, math.MinInt64, math.MaxInt64, MustEqual("__name__", "m"), c.m))
				var envs []string
				for _, s := range got {
					envs = append(envs, s.Labels.Get("env"))
				}
				if !reflect.DeepEqual(envs, c.want) {
					t.Errorf("%+v: got %q want %q", c.m, envs, c.want)
				}
			}
		})
	}
}

func TestStaleNaNBits(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := openTest(t, backend)
			bits := []uint64{StaleNaNBits, 0x7ff8000000000001, 0xfff8000000000000, math.Float64bits(math.Inf(-1)), 0x8000000000000000}
			s := Series{Labels: series("stale")}
			for i, b := range bits {
				s.Samples = append(s.Samples, Sample{T: int64(i) * 15000, V: math.Float64frombits(b)})
			}
			if _, err := db.Append([]Series{s}); err != nil {
				t.Fatal(err)
			}
			got := collect(t, mustSelect(t, db, math.MinInt64, math.MaxInt64))
			if len(got) != 1 || len(got[0].Samples) != len(bits) {
				t.Fatalf("got %+v", got)
			}
			for i, smp := range got[0].Samples {
				if math.Float64bits(smp.V) != bits[i] {
					t.Errorf("sample %d: bits %#x want %#x", i, math.Float64bits(smp.V), bits[i])
				}
			}
		})
	}
}

func TestConcurrentAppendAndQuery(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := openTest(t, backend)
			const writers, readers, rounds = 4, 4, 25
			var wg sync.WaitGroup
			errs := make(chan error, writers+readers)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						s := Series{Labels: series("c", "w", fmt.Sprint(w)), Samples: ramp(int64(r)*100000, 100, 0)}
						if _, err := db.Append([]Series{s}); err != nil {
							errs <- err
							return
						}
					}
				}(w)
			}
			for q := 0; q < readers; q++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						set, err := db.Select(math.MinInt64, math.MaxInt64, Matcher{MatchRegexp, "w", ".+"})
						if err != nil {
							errs <- err
							return
						}
						for set.Next() {
							it := set.At().Iterator()
							prev := int64(math.MinInt64)
							for it.Next() {
								ts, _ := it.At()
								if ts <= prev {
									errs <- fmt.Errorf("samples out of order")
								}
								prev = ts
							}
						}
						if set.Err() != nil {
							errs <- set.Err()
						}
						set.Close()
						if _, err := db.LabelValues("w", math.MinInt64, math.MaxInt64); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			st, err := db.Stats()
			if err != nil || st.Samples != writers*rounds*100 {
				t.Fatalf("stats %+v %v", st, err)
			}
		})
	}
}

func TestIteratorCloseMidResult(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := openTest(t, backend)
			var batch []Series
			for i := 0; i < 50; i++ {
				batch = append(batch, Series{Labels: series("x", "i", fmt.Sprintf("%03d", i)), Samples: ramp(0, 2000, 0)})
			}
			if _, err := db.Append(batch); err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 20; round++ {
				set := mustSelect(t, db, math.MinInt64, math.MaxInt64)
				for i := 0; i < 3 && set.Next(); i++ {
					it := set.At().Iterator()
					for j := 0; j < 700 && it.Next(); j++ {
					}
				}
				set.Close()
				set.Close() // twice is harmless
				if set.Next() {
					t.Fatal("Next after Close")
				}
				if !errors.Is(set.Err(), ErrMisuse) {
					t.Fatalf("Err after Close: %v", set.Err())
				}
			}
			// A stale sample iterator reports misuse instead of reading another series.
			set := mustSelect(t, db, math.MinInt64, math.MaxInt64)
			set.Next()
			old := set.At()
			set.Next()
			if it := old.Iterator(); it.Next() || !errors.Is(it.Err(), ErrMisuse) {
				t.Fatalf("stale iterator: %v", it.Err())
			}
			// DB.Close frees an iterator left open; using it afterwards fails cleanly.
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if set.Next() || !errors.Is(set.Err(), ErrMisuse) {
				t.Fatalf("after DB.Close: %v", set.Err())
			}
			set.Close()
			if err := db.Close(); !errors.Is(err, ErrMisuse) {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := db.Append(batch[:1]); !errors.Is(err, ErrMisuse) {
				t.Fatalf("append after Close: %v", err)
			}
		})
	}
}

// TestFutureLimit: a sample far past the clock is refused by default and the
// rest of the batch stored; a negative MaxFuture turns the limit off.
func TestFutureLimit(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			now := time.Now().UnixMilli()
			db := openTest(t, backend)
			res, err := db.Append([]Series{{Labels: series("f"), Samples: []Sample{{now, 1}, {math.MaxInt64, 2}}}})
			var pe *Error
			if !errors.Is(err, ErrOutOfOrder) || !errors.As(err, &pe) || !strings.Contains(pe.Message, "too far in the future") ||
				res.Appended != 1 || res.Rejected != 1 {
				t.Fatalf("future sample: %+v %v", res, err)
			}
			off := openTest(t, backend, func(o *Options) { o.MaxFuture = -1 })
			if _, err := off.Append([]Series{{Labels: series("f"), Samples: []Sample{{now, 1}, {math.MaxInt64, 2}}}}); err != nil {
				t.Fatalf("limit off: %v", err)
			}
		})
	}
}

// TestReadLimits: the matcher cap reaches the library (ErrLimit), and a
// negative value turns it off.
func TestReadLimits(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			ms := make([]Matcher, 70)
			for i := range ms {
				ms[i] = Matcher{MatchNotEqual, "x", fmt.Sprint(i)}
			}
			capped := openTest(t, backend, func(o *Options) { o.MaxMatchers = 2 })
			if _, err := capped.Select(0, 1, ms[:3]...); !errors.Is(err, ErrLimit) {
				t.Fatalf("3 matchers with a cap of 2: %v", err)
			}
			def := openTest(t, backend)
			if _, err := def.Select(0, 1, ms...); !errors.Is(err, ErrLimit) {
				t.Fatalf("70 matchers with the default cap of 64: %v", err)
			}
			off := openTest(t, backend, func(o *Options) { o.MaxMatchers = -1; o.ReadDeadline = -1 })
			set, err := off.Select(0, 1, ms...)
			if err != nil {
				t.Fatalf("70 matchers, no cap: %v", err)
			}
			collect(t, set)
		})
	}
}

func TestErrors(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			db := openTest(t, backend, func(o *Options) { o.MaxSeriesPerQuery = 2; o.Path = dir })
			// Invalid labels: nothing stored, the message names the series.
			_, err := db.Append([]Series{
				{Labels: series("ok"), Samples: ramp(0, 1, 0)},
				{Labels: Labels{{"__name__", "bad"}, {"dup", "x"}, {"dup", "y"}}, Samples: ramp(0, 1, 0)},
			})
			var pe *Error
			if !errors.Is(err, ErrBadLabels) || !errors.As(err, &pe) || pe.Message == "" || pe.Op != "append" {
				t.Fatalf("bad labels: %#v", err)
			}
			if errors.Is(err, ErrLimit) {
				t.Fatal("Is matched another status")
			}
			if st, _ := db.Stats(); st.Series != 0 {
				t.Fatal("a failed batch stored something")
			}
			// Out of order: the rest is stored, the result tells.
			if _, err := db.Append([]Series{{Labels: series("o"), Samples: ramp(10000, 5, 0)}}); err != nil {
				t.Fatal(err)
			}
			res, err := db.Append([]Series{{Labels: series("o"), Samples: []Sample{{1, 1}, {20000, 2}}}})
			if !errors.Is(err, ErrOutOfOrder) || res.Rejected != 1 || res.Appended != 1 {
				t.Fatalf("out of order: %+v %v", res, err)
			}
			// Bad matcher regex: refused by Select.
			if _, err := db.Select(0, 1, Matcher{MatchRegexp, "a", "(("}); !errors.Is(err, ErrBadMatcher) {
				t.Fatalf("bad regex: %v", err)
			}
			// Invalid input: mint > maxt.
			if _, err := db.Select(10, 1); !errors.Is(err, ErrInvalid) {
				t.Fatalf("mint > maxt: %v", err)
			}
			// Limit: three series with a limit of two, reported as the set advances.
			for i := 0; i < 3; i++ {
				if _, err := db.Append([]Series{{Labels: series("lim", "i", fmt.Sprint(i)), Samples: ramp(0, 1, 0)}}); err != nil {
					t.Fatal(err)
				}
			}
			set := mustSelect(t, db, math.MinInt64, math.MaxInt64, MustEqual("__name__", "lim"))
			n := 0
			for set.Next() {
				n++
			}
			set.Close()
			if !errors.Is(set.Err(), ErrLimit) || n > 2 {
				t.Fatalf("limit: %d series, %v", n, set.Err())
			}
			if !errors.As(set.Err(), &pe) || pe.Message == "" {
				t.Fatalf("limit error has no detail: %#v", set.Err())
			}
			t.Logf("limit error: %v", set.Err())
			// The same directory twice: busy.
			if _, err := Open(Options{Backend: backend, Path: dir}); !errors.Is(err, ErrBusy) {
				t.Fatalf("second open of the same directory: %v", err)
			}
			// Unknown backend: invalid.
			if _, err := Open(Options{Backend: "nope", Path: t.TempDir()}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("unknown backend: %v", err)
			}
		})
	}
	// Every status maps to itself, with the library's text.
	for s := ErrUnsupported; s <= StatusOK; s++ {
		err := error(&Error{Op: "x", Status: s, Message: "m"})
		if !errors.Is(err, s) || s.Error() == "" || s.Error() == "unknown status" {
			t.Errorf("status %d: %v %q", int(s), errors.Is(err, s), s.Error())
		}
	}
	if !errors.Is(&Error{Status: ErrNotFound}, ErrNotFound) || errors.Is(&Error{Status: ErrNotFound}, ErrLimit) {
		t.Error("not found mapping")
	}
}
