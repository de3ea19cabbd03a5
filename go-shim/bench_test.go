package promstore

import (
	"math"
	"testing"
)

// Cost of a shim call over the direct C call. Run with
//   go test -run '^$' -bench . -benchtime 2000x
// Append: one series of 2,000 new samples per op. Select: one series of 120
// samples per op (query, labels, every sample, close).

const benchBatch = 2000

func BenchmarkAppend2000(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend+"/shim", func(b *testing.B) {
			db := openTest(b, backend)
			s := Series{Labels: series("bench_go", "job", "shim"), Samples: make([]Sample, benchBatch)}
			batch := []Series{s}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range s.Samples {
					s.Samples[j] = Sample{T: int64(i*benchBatch+j) * 1000, V: float64(j)}
				}
				if _, err := db.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(backend+"/direct-c", func(b *testing.B) {
			db := openTest(b, backend)
			b.ResetTimer()
			if !benchDirectAppend(db, 0, b.N, benchBatch) {
				b.Fatal("C append failed")
			}
		})
	}
}

func BenchmarkSelectOneSeries(b *testing.B) {
	for _, backend := range backends {
		db := openTest(b, backend)
		var batch []Series
		for i := 0; i < 100; i++ {
			batch = append(batch, Series{Labels: series("other", "i", string(rune('a'+i%26))+string(rune('a'+i/26))), Samples: ramp(0, 120, 0)})
		}
		batch = append(batch, Series{Labels: series("one", "job", "x"), Samples: ramp(0, 120, 0)})
		if _, err := db.Append(batch); err != nil {
			b.Fatal(err)
		}
		b.Run(backend+"/shim", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				set, err := db.Select(math.MinInt64, math.MaxInt64, MustEqual("__name__", "one"))
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for set.Next() {
					_ = set.At().Labels()
					it := set.At().Iterator()
					for it.Next() {
						n++
					}
				}
				set.Close()
				if n != 120 {
					b.Fatalf("%d samples", n)
				}
			}
		})
		b.Run(backend+"/direct-c", func(b *testing.B) {
			if !benchDirectSelect(db, "one", b.N) {
				b.Fatal("C select failed")
			}
		})
	}
}
