/*
 * gen_seeds.c -- writes the seed corpora of the fuzz targets:
 *   fuzz_gen_seeds <dir>     (run.sh --regen-seeds does it into corpus/)
 * One subdirectory per target, small files, each a valid (or deliberately
 * almost valid) input in the form that target reads: for the protocol
 * targets byte 0 says whether the rest is the snappy body (0) or the bare
 * protobuf the harness compresses (1); see each fuzz_*.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <snappy-c.h>

#include "remote.pb-c.h"
#include "write_v2.pb-c.h"
#include "xor.h"

static const char *g_root;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_gen_seeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put(const char *target, const char *name, int prefix, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", g_root);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s", g_root, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", g_root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        die(path);
    if (prefix >= 0)
        fputc(prefix, f);
    if (n && fwrite(p, 1, n, f) != n)
        die(path);
    if (fclose(f) != 0)
        die(path);
}

/* A protocol seed in both forms: "<name>.snappy" (0 + body) and "<name>.pb" (1 + raw). */
static void put_both(const char *target, const char *name, const uint8_t *raw, size_t n)
{
    char file[256];
    size_t cap = snappy_max_compressed_length(n), clen = cap;
    char *c = malloc(cap ? cap : 1);
    if (c == NULL || snappy_compress((const char *)raw, n, c, &clen) != SNAPPY_OK)
        die("snappy");
    snprintf(file, sizeof file, "%s.snappy", name);
    put(target, file, 0, c, clen);
    snprintf(file, sizeof file, "%s.pb", name);
    put(target, file, 1, raw, n);
    free(c);
}

static ProtobufCBinaryData bin(const char *s)
{
    ProtobufCBinaryData b = {strlen(s), (uint8_t *)s};
    return b;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* --- remote write 1.0 ----------------------------------------------------------- */

#define MAXL 8
#define MAXS 8

typedef struct v1ts {
    Prometheus__TimeSeries ts;
    Prometheus__Label l[MAXL], *lp[MAXL];
    Prometheus__Sample s[MAXS], *sp[MAXS];
} v1ts;

static void v1_series(v1ts *t, const char *const *kv, int n_samples, int64_t t0, double v0)
{
    Prometheus__TimeSeries init = PROMETHEUS__TIME_SERIES__INIT;
    t->ts = init;
    size_t n = 0;
    for (; kv[2 * n]; n++) {
        Prometheus__Label li = PROMETHEUS__LABEL__INIT;
        t->l[n] = li;
        t->l[n].name = bin(kv[2 * n]);
        t->l[n].value = bin(kv[2 * n + 1]);
        t->lp[n] = &t->l[n];
    }
    t->ts.n_labels = n;
    t->ts.labels = t->lp;
    for (int i = 0; i < n_samples; i++) {
        Prometheus__Sample si = PROMETHEUS__SAMPLE__INIT;
        t->s[i] = si;
        t->s[i].timestamp = t0 + 15000 * i;
        t->s[i].value = v0 + i;
        t->sp[i] = &t->s[i];
    }
    t->ts.n_samples = (size_t)n_samples;
    t->ts.samples = t->sp;
}

static void v1_put(const char *name, Prometheus__TimeSeries **ts, size_t n,
                   Prometheus__MetricMetadata **md, size_t n_md)
{
    Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
    wr.n_timeseries = n;
    wr.timeseries = ts;
    wr.n_metadata = n_md;
    wr.metadata = md;
    size_t len = prometheus__write_request__get_packed_size(&wr);
    uint8_t *raw = malloc(len ? len : 1);
    if (raw == NULL)
        die("malloc");
    prometheus__write_request__pack(&wr, raw);
    put_both("fuzz_remote_write_v1", name, raw, len);
    free(raw);
}

static void seeds_v1(void)
{
    static const char *const up[] = {"__name__", "up", "instance", "localhost:9090", "job",
                                     "prometheus", NULL};
    static const char *const req[] = {"__name__", "http_requests_total", "code", "200",
                                      "method", "GET", NULL};
    static const char *const utf8[] = {"__name__", "caf\xc3\xa9.temp", "r\xc3\xa9gion",
                                       "\xe6\x9d\xb1\xe4\xba\xac", NULL};
    static const char *const noname[] = {"job", "x", NULL};
    static const char *const dup[] = {"__name__", "a", "job", "x", "job", "y", NULL};
    static const char *const badname[] = {"__name__", "a", "0bad", "x", NULL};
    v1ts a, b, c, d;
    Prometheus__TimeSeries *ts[4];

    v1_series(&a, up, 3, 1000000, 1);
    ts[0] = &a.ts;
    v1_put("one_series", ts, 1, NULL, 0);

    v1_series(&b, req, 5, 1000000, 10);
    b.s[2].value = bits_double(0x7ff0000000000002u); /* stale marker */
    v1_series(&c, utf8, 2, 2000000, -0.5);
    ts[1] = &b.ts;
    ts[2] = &c.ts;
    /* An exemplar and a histogram, which are counted and dropped. */
    Prometheus__Label el = PROMETHEUS__LABEL__INIT, *elp = &el;
    el.name = bin("trace_id");
    el.value = bin("abc123");
    Prometheus__Exemplar ex = PROMETHEUS__EXEMPLAR__INIT, *exp = &ex;
    ex.n_labels = 1;
    ex.labels = &elp;
    ex.value = 1;
    ex.timestamp = 1000000;
    b.ts.n_exemplars = 1;
    b.ts.exemplars = &exp;
    Prometheus__BucketSpan sp = PROMETHEUS__BUCKET_SPAN__INIT, *spp = &sp;
    sp.offset = 0;
    sp.length = 2;
    int64_t deltas[2] = {1, 1};
    Prometheus__Histogram h = PROMETHEUS__HISTOGRAM__INIT, *hp = &h;
    h.count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT;
    h.count_int = 3;
    h.sum = 4.5;
    h.n_positive_spans = 1;
    h.positive_spans = &spp;
    h.n_positive_deltas = 2;
    h.positive_deltas = deltas;
    h.timestamp = 1000000;
    c.ts.n_histograms = 1;
    c.ts.histograms = &hp;
    Prometheus__MetricMetadata md = PROMETHEUS__METRIC_METADATA__INIT, *mdp = &md;
    md.type = PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER;
    md.metric_family_name = "http_requests_total";
    md.help = "Requests.";
    md.unit = "";
    v1_put("three_series_extras", ts, 3, &mdp, 1);
    v1_put("metadata_only", NULL, 0, &mdp, 1);
    v1_put("empty", NULL, 0, NULL, 0);

    v1_series(&d, noname, 1, 1000, 1);
    ts[3] = &d.ts;
    v1_put("no_name", &ts[3], 1, NULL, 0);
    v1_series(&d, dup, 1, 1000, 1);
    v1_put("duplicate_label", &ts[3], 1, NULL, 0);
    v1_series(&d, badname, 1, 1000, 1);
    v1_put("bad_label_name", &ts[3], 1, NULL, 0);
    /* The same series twice, the second time going back in time. */
    v1_series(&a, up, 2, 5000000, 1);
    v1_series(&d, up, 2, 4000000, 7);
    ts[0] = &a.ts;
    ts[1] = &d.ts;
    v1_put("out_of_order", ts, 2, NULL, 0);

    /* Bodies that are not snappy: the framed format, a bad length header. */
    static const uint8_t framed[] = {0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61,
                                     0x50, 0x70, 0x59, 0x00, 0x00, 0x00};
    put("fuzz_remote_write_v1", "framed.snappy", 0, framed, sizeof framed);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    put("fuzz_remote_write_v1", "huge_length.snappy", 0, huge, sizeof huge);
}

/* --- remote write 2.0 ----------------------------------------------------------- */

static void seeds_v2(void)
{
    static const char *syms[] = {"",    "__name__", "up",      "job",  "node", "instance",
                                 "a:1", "http_requests_total", "Help text.", "seconds",
                                 "trace_id", "abc"};
    enum { N_SYMS = sizeof syms / sizeof syms[0] };
    ProtobufCBinaryData sym[N_SYMS];
    for (size_t i = 0; i < N_SYMS; i++)
        sym[i] = bin(syms[i]);

    uint32_t refs0[] = {1, 2, 3, 4, 5, 6};
    uint32_t refs1[] = {1, 7, 3, 4};
    Io__Prometheus__Write__V2__Sample s[4], *sp[4];
    for (int i = 0; i < 4; i++) {
        Io__Prometheus__Write__V2__Sample si = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
        s[i] = si;
        s[i].value = i;
        s[i].timestamp = 1000000 + 15000 * i;
        sp[i] = &s[i];
    }
    s[3].value = bits_double(0x7ff0000000000002u);
    s[1].start_timestamp = 999000;

    Io__Prometheus__Write__V2__TimeSeries t0 = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT,
                                          t1 = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    t0.n_labels_refs = 6;
    t0.labels_refs = refs0;
    t0.n_samples = 2;
    t0.samples = sp;
    t1.n_labels_refs = 4;
    t1.labels_refs = refs1;
    t1.n_samples = 2;
    t1.samples = sp + 2;
    t1.created_timestamp = 999000;
    Io__Prometheus__Write__V2__Metadata md = IO__PROMETHEUS__WRITE__V2__METADATA__INIT;
    md.type = IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_COUNTER;
    md.help_ref = 8;
    md.unit_ref = 9;
    t1.metadata = &md;
    uint32_t exrefs[] = {10, 11};
    Io__Prometheus__Write__V2__Exemplar ex = IO__PROMETHEUS__WRITE__V2__EXEMPLAR__INIT,
                                        *exp = &ex;
    ex.n_labels_refs = 2;
    ex.labels_refs = exrefs;
    ex.value = 1;
    ex.timestamp = 1000000;
    t1.n_exemplars = 1;
    t1.exemplars = &exp;
    Io__Prometheus__Write__V2__BucketSpan bs = IO__PROMETHEUS__WRITE__V2__BUCKET_SPAN__INIT,
                                          *bsp = &bs;
    bs.length = 1;
    double counts[1] = {2.5};
    Io__Prometheus__Write__V2__Histogram h = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__INIT,
                                         *hp = &h;
    h.count_case = IO__PROMETHEUS__WRITE__V2__HISTOGRAM__COUNT_COUNT_FLOAT;
    h.count_float = 2.5;
    h.n_positive_spans = 1;
    h.positive_spans = &bsp;
    h.n_positive_counts = 1;
    h.positive_counts = counts;
    h.timestamp = 1000000;
    Io__Prometheus__Write__V2__TimeSeries t2 = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
    t2.n_labels_refs = 4;
    t2.labels_refs = refs1;
    t2.n_histograms = 1;
    t2.histograms = &hp;

    struct {
        const char *name;
        size_t n_syms;
        Io__Prometheus__Write__V2__TimeSeries *ts[3];
        size_t n_ts;
    } cases[] = {
        {"one_series", N_SYMS, {&t0}, 1},
        {"three_series_extras", N_SYMS, {&t0, &t1, &t2}, 3},
        {"histogram_only", N_SYMS, {&t2}, 1},
        {"empty", 0, {NULL}, 0},
        {"ref_out_of_range", 5, {&t0}, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Io__Prometheus__Write__V2__Request rq = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
        rq.n_symbols = cases[k].n_syms;
        rq.symbols = sym;
        rq.n_timeseries = cases[k].n_ts;
        rq.timeseries = cases[k].ts;
        size_t len = io__prometheus__write__v2__request__get_packed_size(&rq);
        uint8_t *raw = malloc(len ? len : 1);
        if (raw == NULL)
            die("malloc");
        io__prometheus__write__v2__request__pack(&rq, raw);
        put_both("fuzz_remote_write_v2", cases[k].name, raw, len);
        free(raw);
    }
    /* An odd labels_refs and a symbols[0] that is not empty. */
    uint32_t odd[] = {1, 2, 3};
    t0.n_labels_refs = 3;
    t0.labels_refs = odd;
    Io__Prometheus__Write__V2__TimeSeries *one = &t0;
    Io__Prometheus__Write__V2__Request rq = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
    rq.n_symbols = N_SYMS;
    rq.symbols = sym;
    rq.n_timeseries = 1;
    rq.timeseries = &one;
    uint8_t raw[512];
    size_t len = io__prometheus__write__v2__request__pack(&rq, raw);
    put_both("fuzz_remote_write_v2", "odd_refs", raw, len);
    t0.n_labels_refs = 6;
    t0.labels_refs = refs0;
    rq.symbols = sym + 1;
    rq.n_symbols = N_SYMS - 1;
    len = io__prometheus__write__v2__request__pack(&rq, raw);
    put_both("fuzz_remote_write_v2", "symbol0_not_empty", raw, len);
}

/* --- remote read ------------------------------------------------------------------ */

static void seeds_read(void)
{
    /* The store fuzz_remote_read fills: up{instance,job} and http_requests_total,
     * 300 samples 15 s apart from t = 1000000. */
    Prometheus__LabelMatcher m[4], *mp[4];
    static const struct {
        int type;
        const char *name, *value;
    } ms[] = {
        {PROMETHEUS__LABEL_MATCHER__TYPE__EQ, "__name__", "up"},
        {PROMETHEUS__LABEL_MATCHER__TYPE__NEQ, "job", "api"},
        {PROMETHEUS__LABEL_MATCHER__TYPE__RE, "instance", "(a|b):.*"},
        {PROMETHEUS__LABEL_MATCHER__TYPE__NRE, "job", "x+"},
    };
    for (int i = 0; i < 4; i++) {
        Prometheus__LabelMatcher mi = PROMETHEUS__LABEL_MATCHER__INIT;
        m[i] = mi;
        m[i].type = ms[i].type;
        m[i].name = bin(ms[i].name);
        m[i].value = bin(ms[i].value);
        mp[i] = &m[i];
    }
    Prometheus__ReadHints hints = PROMETHEUS__READ_HINTS__INIT;
    hints.step_ms = 15000;
    hints.func = "rate";
    hints.start_ms = 1000000;
    hints.end_ms = 2000000;
    Prometheus__Query q[3], *qp[3];
    for (int i = 0; i < 3; i++) {
        Prometheus__Query qi = PROMETHEUS__QUERY__INIT;
        q[i] = qi;
        qp[i] = &q[i];
    }
    q[0].start_timestamp_ms = 1000000;
    q[0].end_timestamp_ms = 2000000;
    q[0].n_matchers = 1;
    q[0].matchers = mp;
    q[1].start_timestamp_ms = 0;
    q[1].end_timestamp_ms = 9000000;
    q[1].n_matchers = 3;
    q[1].matchers = mp + 1;
    q[1].hints = &hints;
    q[2].start_timestamp_ms = 3000000;
    q[2].end_timestamp_ms = 3100000;
    q[2].n_matchers = 2;
    q[2].matchers = mp;

    Prometheus__ReadRequest__ResponseType samples[] = {
        PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES};
    Prometheus__ReadRequest__ResponseType streamed[] = {
        PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__STREAMED_XOR_CHUNKS,
        PROMETHEUS__READ_REQUEST__RESPONSE_TYPE__SAMPLES};
    Prometheus__ReadRequest__ResponseType unknown[] = {
        (Prometheus__ReadRequest__ResponseType)7};
    struct {
        const char *name;
        size_t nq, na;
        Prometheus__ReadRequest__ResponseType *acc;
    } cases[] = {
        {"one_query_default", 1, 0, NULL},
        {"one_query_samples", 1, 1, samples},
        {"three_queries_streamed", 3, 2, streamed},
        {"two_queries_samples", 2, 1, samples},
        {"unknown_type", 1, 1, unknown},
        {"no_queries", 0, 2, streamed},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Prometheus__ReadRequest rr = PROMETHEUS__READ_REQUEST__INIT;
        rr.n_queries = cases[k].nq;
        rr.queries = qp;
        rr.n_accepted_response_types = cases[k].na;
        rr.accepted_response_types = cases[k].acc;
        uint8_t raw[1024];
        size_t len = prometheus__read_request__pack(&rr, raw);
        put_both("fuzz_remote_read", cases[k].name, raw, len);
        if (k == 2) /* the same, closed after the first frame */
            put("fuzz_remote_read", "three_queries_streamed_stop.pb", 3, raw, len);
    }
    /* A query over everything (past max_samples_per_query while streaming). */
    Prometheus__LabelMatcher all = PROMETHEUS__LABEL_MATCHER__INIT, *allp = &all;
    all.type = PROMETHEUS__LABEL_MATCHER__TYPE__RE;
    all.name = bin("__name__");
    all.value = bin(".+");
    Prometheus__Query qa = PROMETHEUS__QUERY__INIT, *qap = &qa;
    qa.start_timestamp_ms = 0;
    qa.end_timestamp_ms = 10000000;
    qa.n_matchers = 1;
    qa.matchers = &allp;
    Prometheus__ReadRequest rr = PROMETHEUS__READ_REQUEST__INIT;
    rr.n_queries = 1;
    rr.queries = &qap;
    rr.n_accepted_response_types = 1;
    rr.accepted_response_types = streamed;
    uint8_t raw[256];
    size_t len = prometheus__read_request__pack(&rr, raw);
    put_both("fuzz_remote_read", "all_streamed_limit", raw, len);
    rr.accepted_response_types = samples;
    len = prometheus__read_request__pack(&rr, raw);
    put_both("fuzz_remote_read", "all_samples_limit", raw, len);
}

/* --- XOR chunks ---------------------------------------------------------------------- */

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned b;
        sscanf(h, "%2x", &b);
        out[n++] = (uint8_t)b;
    }
    return n;
}

static void seeds_xor(void)
{
    /* The test vectors of docs/PROTOCOL.md section 3.4. */
    static const struct {
        const char *name, *hex;
    } vec[] = {
        {"one_sample", "0001d00f3ff0000000000000"},
        {"one_sample_v2", "0001d00f3ff000000000000000"},
        {"same_value", "0003d00f3ff0000000000000e80700"},
        {"increasing", "0003d00f3ff0000000000000e807c25fff6c06"},
        {"stale_marker", "0003d00f4045000000000000e807c5eff6a0000000000057f6b0000000000040"},
        {"negative_t", "00038f4ebff0000000000000e80700"},
        {"dod_buckets",
         "000b003fe0000000000000e80750006c07400384fff6384002d0000c08402ef08000d7fe9d00001400"
         "078000000000040000e00200200000000000053f2eb70fe17c79ac6f0004ff25144695f10d8a"},
        {"empty", "0000"},
    };
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
        put("fuzz_xor_decode", vec[i].name, -1, buf, unhex(vec[i].hex, buf));

    /* A full 120-sample chunk as the engine cuts them, jittered timestamps. */
    ps_xor_appender a;
    ps_xor_appender_init(&a, buf, sizeof buf);
    int64_t t = 1700000000000;
    double v = 0;
    for (int i = 0; i < 120; i++) {
        uint64_t bits;
        v += (i % 7) * 0.25;
        memcpy(&bits, &v, sizeof bits);
        if (ps_xor_append(&a, t, bits) != 0)
            die("xor append");
        t += 15000 + (i % 5) * 3 - 6;
    }
    put("fuzz_xor_decode", "chunk_120", -1, buf, a.len);

    /* fuzz_xor_roundtrip: small-buffer size, t0, then control bytes. */
    static const struct {
        const char *name, *hex;
    } rt[] = {
        /* t0 = 1000; nine samples: same delta / same value, mixed. */
        {"steady", "40e803000000000000" "0a01" "02" "08" "00" "00" "00" "00" "00" "00"},
        /* every delta kind and every value kind once */
        {"all_kinds", "10" "00e87648170100" "00" "0b0102030405060708" "1902" "0313" "1a"
                      "10203004" "23"
                      "2c0102030405" "31aabbccdd" "3d1122334455667788" "067f" "0780" "3801"},
        /* stale markers and NaNs between normal values */
        {"specials", "20" "e8030000000000001a00" "1900" "1901" "1902" "1903" "1904" "1905"
                     "1906" "1907" "1908"},
        /* huge deltas (1111 + 64 bits) and a t0 near the top */
        {"huge_deltas", "08" "00000000000000f0" "0dffffffffffffff0f" "0d0100000000000000"
                        "05" "0dffff00000000"},
        /* negative t0 */
        {"negative_t0", "08" "78ecffffffffffff" "01e8" "00" "00"},
    };
    for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
        put("fuzz_xor_roundtrip", rt[i].name, -1, buf, unhex(rt[i].hex, buf));
}

/* --- config and headers -------------------------------------------------------------- */

static void put_str(const char *target, const char *name, const char *s)
{
    put(target, name, -1, s, strlen(s));
}

static void seeds_config(void)
{
    const char *t = "fuzz_config_yaml";
    put_str(t, "full.yml",
            "storage:\n"
            "  backend: sqlite\n"
            "  path: /tmp/promstore-data\n"
            "  retention:\n"
            "    time: 15d\n"
            "    size: 10GiB\n"
            "  block_duration: 2h\n"
            "  out_of_order_window: 10m\n"
            "  sync: true\n"
            "  remote:\n"
            "    read_concurrent_limit: 4\n"
            "    read_sample_limit: 1000000\n"
            "    read_series_limit: 0\n"
            "    read_bytes_limit: 512MB\n"
            "    read_max_bytes_in_frame: 1MiB\n"
            "    max_decoded_bytes: 64MiB\n"
            "web:\n"
            "  listen_address: \"[::1]:9201\"\n"
            "  max_request_bytes: 16MiB\n"
            "  max_connections: 100\n"
            "  read_timeout: 1h30m\n"
            "  connection_memory_limit: 128KiB\n"
            "  threads: 4\n"
            "log:\n"
            "  level: debug\n");
    put_str(t, "flow.yml", "{storage: {backend: lmdb, retention: {time: 1y2w3d4h5m6s7ms}}, "
                           "web: {listen_address: ':0'}}\n");
    put_str(t, "empty.yml", "");
    put_str(t, "document_markers.yml", "---\nlog: {level: warn}\n...\n");
    put_str(t, "unknown_key.yml", "storage:\n  nope: 1\n");
    put_str(t, "list_value.yml", "web:\n  threads: [1, 2]\n");
    put_str(t, "alias.yml", "a: &x 1\nweb:\n  threads: *x\n");
    put_str(t, "bad_duration.yml", "storage:\n  retention:\n    time: 5m1h\n");
    put_str(t, "auth.yml", "web:\n  basic_auth_user: admin\n"
                           "  basic_auth_password_file: /dev/null\n"
                           "  tls_cert_file: /nonexistent\n  tls_key_file: /nonexistent\n");
    put_str(t, "scalar_top.yml", "just a string\n");
    put_str(t, "quoted.yml", "storage:\n  path: 'a path with \"quotes\"'\n"
                             "  backend: \"lmdb\"\nweb: {max_connections: 0}\n");
}

static void seeds_headers(void)
{
    const char *t = "fuzz_http_headers";
    static const struct {
        const char *name;
        int flags; /* bit 0: no Content-Type, bit 1: no Content-Encoding */
        const char *ct, *ce;
    } h[] = {
        {"v1", 0, "application/x-protobuf", "snappy"},
        {"v1_proto", 0, "application/x-protobuf;proto=prometheus.WriteRequest", "snappy"},
        {"v2", 0, "application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy"},
        {"v2_quoted", 0, "Application/X-Protobuf ; charset=utf-8; PROTO=\"io.prometheus.write.v2.Request\"",
         " SNAPPY "},
        {"read", 0, "application/x-protobuf; proto=prometheus.ReadRequest", ""},
        {"absent", 3, "", ""},
        {"no_encoding", 2, "application/x-protobuf", ""},
        {"gzip", 0, "application/x-protobuf", "gzip"},
        {"json", 0, "application/json", "snappy"},
        {"no_equals", 0, "application/x-protobuf; proto", "snappy"},
        {"empty_media", 0, " ; proto=prometheus.WriteRequest", "snappy"},
        {"whitespace", 1, "", " \t\r\n"},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        char buf[512];
        size_t a = strlen(h[i].ct), b = strlen(h[i].ce);
        buf[0] = (char)h[i].flags;
        memcpy(buf + 1, h[i].ct, a);
        buf[1 + a] = '\0';
        memcpy(buf + 2 + a, h[i].ce, b);
        put(t, h[i].name, -1, buf, 2 + a + b);
    }
}

/* fuzz_matcher: type byte (0 =~, 1 !~), pattern, NUL, value. */
static void seeds_matcher(void)
{
    static const struct {
        const char *name;
        int type;
        const char *re, *value;
    } m[] = {
        {"costly_answered", 0, "(a*)*b|.*", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"costly_refused", 1, "(a{1,100}){1,100}b|.*", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"literals", 0, "web|api\\.x|db\\|y|", "api.x"},
        {"multiline", 1, "(?m)a$\\nb", "a\nb"},
        {"class", 0, "[a-z]+_total", "http_total"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t a = strlen(m[i].re), b = strlen(m[i].value);
        memcpy(buf, m[i].re, a);
        buf[a] = '\0';
        memcpy(buf + a + 1, m[i].value, b);
        put("fuzz_matcher", m[i].name, m[i].type, buf, a + 1 + b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gen_seeds <corpus-dir>\n");
        return 2;
    }
    g_root = argv[1];
    seeds_v1();
    seeds_v2();
    seeds_read();
    seeds_xor();
    seeds_config();
    seeds_headers();
    seeds_matcher();
    return 0;
}
