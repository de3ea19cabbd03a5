package promstore

// The direct C baselines for bench_test.go (cgo is not allowed in test
// files): the same work as the shim's Append and Select, done in one C call
// per iteration batch, so that the difference is the shim's own cost.

/*
#include "shim.h"

static int bench_c_append(promstore *db, int64_t t0, int iters, int n)
{
    promstore_label l[2] = {{"__name__", 8, "bench_c", 7}, {"job", 3, "direct", 6}};
    promstore_sample *s = malloc((size_t)n * sizeof *s);
    if (s == NULL)
        return -1;
    for (int i = 0; i < iters; i++) {
        for (int j = 0; j < n; j++) {
            s[j].timestamp_ms = t0 + ((int64_t)i * n + j) * 1000;
            s[j].value_bits = (uint64_t)j;
        }
        promstore_series ser = {l, 2, s, (size_t)n};
        promstore_error err;
        if (promstore_append(db, &ser, 1, NULL, &err) != PROMSTORE_OK) {
            free(s);
            return -1;
        }
    }
    free(s);
    return 0;
}

static int bench_c_select(promstore *db, const char *name, size_t len, int iters)
{
    promstore_matcher m = {PROMSTORE_MATCH_EQ, "__name__", 8, name, len};
    for (int i = 0; i < iters; i++) {
        promstore_series_iter *it;
        promstore_error err;
        if (promstore_query(db, &m, 1, INT64_MIN, INT64_MAX, &it, &err) != PROMSTORE_OK)
            return -1;
        while (promstore_series_iter_next(it, &err) == PROMSTORE_OK) {
            const promstore_label *ls;
            size_t nl;
            promstore_sample s;
            promstore_series_iter_labels(it, &ls, &nl);
            while (promstore_series_iter_sample(it, &s, &err) == PROMSTORE_OK)
                ;
        }
        promstore_series_iter_close(it);
    }
    return 0;
}
*/
import "C"

import "unsafe"

func benchDirectAppend(d *DB, t0 int64, iters, n int) bool {
	h := d.acquire()
	defer d.release()
	return C.bench_c_append(h, C.int64_t(t0), C.int(iters), C.int(n)) == 0
}

func benchDirectSelect(d *DB, name string, iters int) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	h := d.acquire()
	defer d.release()
	return C.bench_c_select(h, cs, C.size_t(len(name)), C.int(iters)) == 0
}
