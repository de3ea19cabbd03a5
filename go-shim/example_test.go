package promstore_test

import (
	"errors"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"

	promstore "promstore/go-shim"
)

func Example() {
	dir, _ := os.MkdirTemp("", "promstore-example")
	defer os.RemoveAll(dir)
	db, err := promstore.Open(promstore.Options{Backend: "lmdb", Path: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, err = db.Append([]promstore.Series{{
		Labels:  promstore.Labels{{Name: "__name__", Value: "up"}, {Name: "job", Value: "api"}},
		Samples: []promstore.Sample{{T: 1000, V: 1}, {T: 2000, V: 0}},
	}})
	if errors.Is(err, promstore.ErrBadLabels) {
		log.Fatal(err) // the message names the series
	}
	set, err := db.Select(math.MinInt64, math.MaxInt64, promstore.MustEqual("job", "api"))
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for set.Next() {
		it := set.At().Iterator()
		for it.Next() {
			t, v := it.At()
			fmt.Println(set.At().Labels(), t, v)
		}
	}
	// Serve it as Prometheus remote storage.
	mux := http.NewServeMux()
	mux.Handle("/api/v1/write", db.RemoteWriteHandler(promstore.HandlerOptions{}))
	mux.Handle("/api/v1/read", db.RemoteReadHandler(promstore.HandlerOptions{}))
	// Output:
	// [{__name__ up} {job api}] 1000 1
	// [{__name__ up} {job api}] 2000 0
}
