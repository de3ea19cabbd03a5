/*
 * loadgen.c -- promstore-loadgen, a Prometheus remote-write 1.0 load
 * generator for loopback benchmarks of promstore (or any receiver).
 *
 * Series come from bench/nodegen (node_exporter-like hosts: ~120 metric
 * names, ~1000 series per host, counters and gauges). Like Prometheus's
 * queue manager, each sender ("shard") owns a disjoint set of series and
 * sends them in time order, one sample per series entry, N samples per
 * request, over its own HTTP/1.1 keep-alive connection.
 *
 * Every request is encoded (protobuf-c) and snappy-compressed BEFORE the
 * clock starts, so the generator costs only syscalls while measuring;
 * --dry-run stops after encoding and reports the encode rate, --sink sends to
 * an in-process 204 sink to measure the generator's own ceiling.
 *
 * By default every sender sends its next request as soon as the last one is
 * answered (a closed loop: the receiver's throughput). --rate S paces the
 * senders to S samples/s in all, as a fleet of scrapers would: sender i sends
 * request k at t0 + (k + i/senders) * interval, or at once when it is behind.
 * Latency is measured from the moment a request is sent; a sender that falls
 * behind its schedule is reported ("late").
 *
 * The run stops after --requests requests or --duration seconds, whichever
 * comes first, or at SIGINT/SIGTERM (the results so far are reported).
 * --timeline FILE writes one line per request: wall-clock send time (ms since
 * the epoch), latency (ms) and status, so a caller can take percentiles over
 * a window of its own. The last line is machine-readable ("RESULT k=v ...").
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpc.h"
#include "nodegen.h"
#include "remote.pb-c.h"

#define MAX_SENDERS 64
#define MAX_SPR 100000

typedef struct opts {
    const char *url;
    int senders;
    uint32_t hosts;
    size_t spr; /* samples (series entries) per request */
    long requests;
    double duration_s;
    uint64_t seed;
    int64_t end_ms;   /* the data ends here (ms since the epoch); 0: now */
    int64_t start_ms; /* or: the data starts here; 0: from end_ms */
    double rate;      /* samples/s in all; 0: as fast as answered */
    const char *timeline;
    int dry_run, sink;
    int timeout_ms;
} opts;

typedef struct body {
    char *data;
    size_t len;
} body;

/* One sender: its series, its pre-encoded requests and its results. */
typedef struct sender {
    int id;
    const opts *o;
    const httpc_url *url;
    uint64_t first, end; /* global series positions [first, end) */
    long n_req;
    body *bodies;
    uint64_t raw_bytes, wire_bytes;
    int64_t start_ms; /* scrape 0 of the generator */
    int64_t min_ts, max_ts;
    double encode_s;
    /* results */
    long sent;
    uint64_t samples_ok;
    uint32_t *lat_us; /* n_req */
    double *sent_at;  /* n_req: wall-clock send time, ms since the epoch */
    int *status;      /* n_req: HTTP status, -1 for a connection error */
    long late;        /* requests sent more than one interval behind schedule */
    httpc_conn conn;
    long codes[600];  /* by status; [0] = connection errors */
    int rc;
} sender;

static atomic_int stop_flag; /* SIGINT/SIGTERM: stop sending, report */
static pthread_barrier_t start_barrier;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- encoding ------------------------------------------------------------- */

typedef struct encoder {
    Prometheus__TimeSeries *ts;
    Prometheus__TimeSeries **tsp;
    Prometheus__Label *lab;
    Prometheus__Label **labp;
    Prometheus__Sample *smp;
    Prometheus__Sample **smpp;
    uint8_t *raw, *comp;
    size_t raw_cap, comp_cap;
} encoder;

static int encoder_init(encoder *e, size_t spr)
{
    memset(e, 0, sizeof *e);
    e->ts = calloc(spr, sizeof *e->ts);
    e->tsp = calloc(spr, sizeof *e->tsp);
    e->lab = calloc(spr * NODEGEN_MAX_LABELS, sizeof *e->lab);
    e->labp = calloc(spr * NODEGEN_MAX_LABELS, sizeof *e->labp);
    e->smp = calloc(spr, sizeof *e->smp);
    e->smpp = calloc(spr, sizeof *e->smpp);
    return e->ts && e->tsp && e->lab && e->labp && e->smp && e->smpp ? 0 : -1;
}

static void encoder_free(encoder *e)
{
    free(e->ts), free(e->tsp), free(e->lab), free(e->labp), free(e->smp), free(e->smpp);
    free(e->raw), free(e->comp);
}

/* Append the n entries of batch b at position at of the request being built. */
static void encoder_add(encoder *e, size_t at, const nodegen_batch *b)
{
    for (size_t k = 0; k < b->n; k++) {
        const promstore_series *s = &b->series[k];
        size_t i = at + k;
        Prometheus__TimeSeries *t = &e->ts[i];
        prometheus__time_series__init(t);
        t->n_labels = s->n_labels;
        t->labels = &e->labp[i * NODEGEN_MAX_LABELS];
        for (size_t j = 0; j < s->n_labels; j++) {
            Prometheus__Label *l = &e->lab[i * NODEGEN_MAX_LABELS + j];
            prometheus__label__init(l);
            l->name.data = (uint8_t *)s->labels[j].name;
            l->name.len = s->labels[j].name_len;
            l->value.data = (uint8_t *)s->labels[j].value;
            l->value.len = s->labels[j].value_len;
            t->labels[j] = l;
        }
        Prometheus__Sample *m = &e->smp[i];
        prometheus__sample__init(m);
        m->timestamp = s->samples[0].timestamp_ms;
        memcpy(&m->value, &s->samples[0].value_bits, sizeof m->value);
        t->n_samples = 1;
        t->samples = &e->smpp[i];
        e->smpp[i] = m;
        e->tsp[i] = t;
    }
}

/* Pack and compress the n entries built so far into a fresh body. */
static int encoder_finish(encoder *e, size_t n, body *out, uint64_t *raw_total)
{
    Prometheus__WriteRequest wr = PROMETHEUS__WRITE_REQUEST__INIT;
    wr.n_timeseries = n;
    wr.timeseries = e->tsp;
    size_t raw_len = prometheus__write_request__get_packed_size(&wr);
    if (raw_len > e->raw_cap) {
        free(e->raw);
        e->raw_cap = raw_len * 2;
        e->raw = malloc(e->raw_cap);
    }
    size_t max = snappy_max_compressed_length(raw_len);
    if (max > e->comp_cap) {
        free(e->comp);
        e->comp_cap = max * 2;
        e->comp = malloc(e->comp_cap);
    }
    if (!e->raw || !e->comp || prometheus__write_request__pack(&wr, e->raw) != raw_len)
        return -1;
    size_t clen = e->comp_cap;
    if (snappy_compress((const char *)e->raw, raw_len, (char *)e->comp, &clen) != SNAPPY_OK)
        return -1;
    out->data = malloc(clen);
    if (!out->data)
        return -1;
    memcpy(out->data, e->comp, clen);
    out->len = clen;
    *raw_total += raw_len;
    return 0;
}

/*
 * Encode this sender's n_req requests: its series for scrape 0, then 1, ...,
 * spr entries per request (a request may straddle two scrapes).
 */
static int encode_all(sender *s, int64_t start_ms)
{
    const opts *o = s->o;
    double t0 = now_s();
    nodegen *g = nodegen_new(o->hosts, o->seed, start_ms, NODEGEN_JITTER_MS);
    nodegen_batch b = {0};
    encoder e = {0};
    int rc = -1;
    if (!g || nodegen_batch_init(&b, o->spr) != 0 || encoder_init(&e, o->spr) != 0)
        goto out;
    s->bodies = calloc((size_t)s->n_req, sizeof *s->bodies);
    if (!s->bodies)
        goto out;
    s->min_ts = INT64_MAX;
    s->max_ts = INT64_MIN;
    uint64_t scrape = 0, pos = s->first;
    for (long r = 0; r < s->n_req; r++) {
        size_t n = 0;
        while (n < o->spr) {
            b.cap = o->spr - n;
            nodegen_fill(g, &b, scrape, &pos, s->end);
            encoder_add(&e, n, &b);
            for (size_t k = 0; k < b.n; k++) {
                int64_t ts = b.samples[k].timestamp_ms;
                s->min_ts = ts < s->min_ts ? ts : s->min_ts;
                s->max_ts = ts > s->max_ts ? ts : s->max_ts;
            }
            n += b.n;
            if (pos >= s->end) {
                scrape++;
                pos = s->first;
            }
        }
        if (encoder_finish(&e, n, &s->bodies[r], &s->raw_bytes) != 0)
            goto out;
        s->wire_bytes += s->bodies[r].len;
    }
    rc = 0;
out:
    b.cap = o->spr;
    nodegen_batch_free(&b);
    encoder_free(&e);
    nodegen_free(g);
    s->encode_s = now_s() - t0;
    return rc;
}

/* --- sending ------------------------------------------------------------------ */

static const char rw_headers[] = "Content-Type: application/x-protobuf\r\n"
                                 "Content-Encoding: snappy\r\n"
                                 "User-Agent: promstore-loadgen/1.0\r\n"
                                 "X-Prometheus-Remote-Write-Version: 0.1.0\r\n";

static void *sender_encode(void *arg)
{
    sender *s = arg;
    s->rc = encode_all(s, s->start_ms);
    return NULL;
}

typedef struct run_ctx {
    sender *s;
    double deadline;
    double t0;       /* start of the schedule (monotonic s) */
    double interval; /* seconds between two requests of this sender; 0: unpaced */
} run_ctx;

static double wall_ms_f(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Sleep until monotonic time t (s), or until stop_flag. */
static void sleep_until(double t)
{
    for (;;) {
        double d = t - now_s();
        if (d <= 0 || atomic_load(&stop_flag))
            return;
        if (d > 0.1)
            d = 0.1; /* wake up now and then to see stop_flag */
        struct timespec ts = {.tv_sec = (time_t)d, .tv_nsec = (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void *sender_send(void *arg)
{
    run_ctx *rc = arg;
    sender *s = rc->s;
    httpc_conn *c = &s->conn;
    httpc_init(c, s->url, s->o->timeout_ms);
    pthread_barrier_wait(&start_barrier);
    for (long r = 0; r < s->n_req && !atomic_load(&stop_flag); r++) {
        if (rc->interval > 0) {
            double due = rc->t0 + ((double)r + (double)s->id / s->o->senders) * rc->interval;
            if (due >= rc->deadline)
                break;
            sleep_until(due);
            if (atomic_load(&stop_flag))
                break;
            if (now_s() - due > rc->interval)
                s->late++;
        }
        double t0 = now_s();
        if (t0 >= rc->deadline)
            break;
        s->sent_at[s->sent] = wall_ms_f();
        int st = httpc_post(c, rw_headers, s->bodies[r].data, s->bodies[r].len);
        double dt = now_s() - t0;
        s->status[s->sent] = st;
        s->lat_us[s->sent++] = (uint32_t)fmin(dt * 1e6, 4e9);
        s->codes[st > 0 && st < 600 ? st : 0]++;
        if (st >= 200 && st < 300)
            s->samples_ok += s->o->spr;
    }
    httpc_close(c);
    return NULL;
}

/* --- main ------------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: promstore-loadgen [options] URL\n"
            "  URL                  e.g. http://127.0.0.1:9201/api/v1/write (loopback only)\n"
            "  -c, --senders N      concurrent senders, one connection each (4)\n"
            "  -H, --hosts N        node_exporter hosts, ~1000 series each (100)\n"
            "  -b, --batch N        samples per request (2000)\n"
            "  -n, --requests N     stop after N requests in all (4000); all are pre-encoded\n"
            "  -d, --duration S     stop after S seconds (20)\n"
            "  -s, --seed N         generator seed (1)\n"
            "  -t, --timeout-ms N   per-request I/O timeout (30000)\n"
            "  -e, --end-ms T       the data ends at T, ms since the epoch (now); the same T\n"
            "                       and seed give byte-identical requests\n"
            "      --start-ms T     the data starts at T instead (e.g. just after an earlier\n"
            "                       run's --end-ms, to append to the same series)\n"
            "  -r, --rate S         pace the senders to S samples/s in all (0: unpaced)\n"
            "      --timeline FILE  one line per request: send time (ms since the epoch),\n"
            "                       latency (ms), status (-1: connection error)\n"
            "      --dry-run        encode only and report the encode rate (no URL needed)\n"
            "      --sink           send to an in-process 204 sink (no URL needed)\n");
}

static void free_senders(sender *ss, int n)
{
    for (int i = 0; i < n; i++) {
        for (long r = 0; ss[i].bodies && r < ss[i].n_req; r++)
            free(ss[i].bodies[r].data);
        free(ss[i].bodies);
        free(ss[i].lat_us);
        free(ss[i].sent_at);
        free(ss[i].status);
    }
    free(ss);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const uint32_t *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)ceil(p * (double)n) - 1;
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)] / 1000.0;
}

int main(int argc, char **argv)
{
    opts o = {.senders = 4, .hosts = 100, .spr = 2000, .requests = 4000, .duration_s = 20,
              .seed = 1, .timeout_ms = 30000};
    static const struct option lo[] = {
        {"senders", 1, 0, 'c'}, {"hosts", 1, 0, 'H'},    {"batch", 1, 0, 'b'},
        {"requests", 1, 0, 'n'}, {"duration", 1, 0, 'd'}, {"seed", 1, 0, 's'},
        {"timeout-ms", 1, 0, 't'}, {"end-ms", 1, 0, 'e'}, {"dry-run", 0, 0, 'D'},
        {"sink", 0, 0, 'S'},    {"start-ms", 1, 0, 'A'},  {"rate", 1, 0, 'r'},
        {"timeline", 1, 0, 'L'}, {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:H:b:n:d:s:t:e:r:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': o.senders = atoi(optarg); break;
        case 'H': o.hosts = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'b': o.spr = strtoul(optarg, NULL, 10); break;
        case 'n': o.requests = strtol(optarg, NULL, 10); break;
        case 'd': o.duration_s = strtod(optarg, NULL); break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 't': o.timeout_ms = atoi(optarg); break;
        case 'e': o.end_ms = strtoll(optarg, NULL, 10); break;
        case 'A': o.start_ms = strtoll(optarg, NULL, 10); break;
        case 'r': o.rate = strtod(optarg, NULL); break;
        case 'L': o.timeline = optarg; break;
        case 'D': o.dry_run = 1; break;
        case 'S': o.sink = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        o.url = argv[optind];
    if (o.senders < 1 || o.senders > MAX_SENDERS || o.hosts < (uint32_t)o.senders || o.spr < 1 ||
        o.spr > MAX_SPR || o.requests < o.senders || o.duration_s <= 0 || o.duration_s > 3600 ||
        o.timeout_ms < 1 || (!o.url && !o.dry_run && !o.sink) || !(o.rate >= 0) ||
        (o.start_ms && o.end_ms)) {
        fprintf(stderr, "loadgen: bad arguments (note: hosts and requests >= senders; "
                        "--start-ms and --end-ms exclude each other)\n");
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    httpc_url url;
    char sink_url[64];
    if (o.sink) {
        uint16_t port;
        if (httpc_sink_start(&port) != 0) {
            perror("sink");
            return 1;
        }
        snprintf(sink_url, sizeof sink_url, "http://127.0.0.1:%u/api/v1/write", (unsigned)port);
        o.url = sink_url;
    }
    if (!o.dry_run && httpc_parse_url(o.url, &url) != 0) {
        fprintf(stderr, "loadgen: bad or non-loopback URL: %s\n", o.url);
        return 2;
    }

    /* Split the hosts (series) and the requests between the senders. The
     * data ends about now: start as many scrapes back as one sender needs. */
    size_t sph = nodegen_series_per_host();
    sender *ss = calloc((size_t)o.senders, sizeof *ss);
    if (!ss)
        return 1;
    uint64_t max_scrapes = 0;
    for (int i = 0; i < o.senders; i++) {
        sender *s = &ss[i];
        uint32_t h0 = (uint32_t)((uint64_t)o.hosts * (uint64_t)i / (uint64_t)o.senders);
        uint32_t h1 = (uint32_t)((uint64_t)o.hosts * (uint64_t)(i + 1) / (uint64_t)o.senders);
        *s = (sender){.id = i, .o = &o, .url = &url, .first = h0 * sph, .end = h1 * sph};
        s->n_req = o.requests / o.senders + (i < o.requests % o.senders);
        uint64_t scrapes = ((uint64_t)s->n_req * o.spr + (s->end - s->first) - 1) / (s->end - s->first);
        max_scrapes = scrapes > max_scrapes ? scrapes : max_scrapes;
        s->lat_us = calloc((size_t)s->n_req, sizeof *s->lat_us);
        s->sent_at = calloc((size_t)s->n_req, sizeof *s->sent_at);
        s->status = calloc((size_t)s->n_req, sizeof *s->status);
        if (!s->lat_us || !s->sent_at || !s->status)
            return 1;
    }
    int64_t start_ms = o.start_ms ? o.start_ms
                                  : (o.end_ms > 0 ? o.end_ms : wall_ms()) -
                                        (int64_t)max_scrapes * NODEGEN_SCRAPE_MS;
    if (max_scrapes * NODEGEN_SCRAPE_MS > 3000000)
        fprintf(stderr, "loadgen: warning: data spans %.0f min; receivers may reject samples "
                        "older than 1h behind the newest\n",
                (double)max_scrapes * NODEGEN_SCRAPE_MS / 60000.0);

    /* Encode, one thread per sender (the machine's cores share the work). */
    double t_enc = now_s();
    pthread_t th[MAX_SENDERS];
    int bad = 0;
    for (int i = 0; i < o.senders; i++) {
        ss[i].start_ms = start_ms;
        if (pthread_create(&th[i], NULL, sender_encode, &ss[i]) != 0)
            return 1;
    }
    for (int i = 0; i < o.senders; i++) {
        pthread_join(th[i], NULL);
        bad |= ss[i].rc;
    }
    t_enc = now_s() - t_enc;
    if (bad) {
        fprintf(stderr, "loadgen: encoding failed (out of memory?)\n");
        return 1;
    }
    uint64_t raw = 0, wire = 0;
    int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
    for (int i = 0; i < o.senders; i++) {
        raw += ss[i].raw_bytes;
        wire += ss[i].wire_bytes;
        min_ts = ss[i].min_ts < min_ts ? ss[i].min_ts : min_ts;
        max_ts = ss[i].max_ts > max_ts ? ss[i].max_ts : max_ts;
    }
    uint64_t total_samples = (uint64_t)o.requests * o.spr;
    printf("encoded %ld requests, %" PRIu64 " samples, %" PRIu64 " series (%zu metric names, "
           "%u hosts) in %.2f s: %.0f samples/s on %d threads; %.1f MB protobuf, %.1f MB snappy "
           "(%.0f B/sample); data %.1f min up to %+.0f s from now\n",
           o.requests, total_samples, (uint64_t)o.hosts * sph, nodegen_metric_names(), o.hosts,
           t_enc, (double)total_samples / t_enc, o.senders, raw / 1e6, wire / 1e6,
           (double)wire / (double)total_samples, (double)(max_ts - min_ts) / 60000.0,
           (double)(max_ts - wall_ms()) / 1000.0);
    fflush(stdout); /* a caller may wait for this line before it starts its own work */
    if (o.dry_run) {
        printf("RESULT mode=dry-run requests=%ld samples=%" PRIu64 " encode_s=%.3f "
               "encode_samples_per_s=%.0f wire_bytes=%" PRIu64 "\n",
               o.requests, total_samples, t_enc, (double)total_samples / t_enc, wire);
        free_senders(ss, o.senders);
        return 0;
    }

    /* Send. */
    pthread_barrier_init(&start_barrier, NULL, (unsigned)o.senders + 1);
    run_ctx rc[MAX_SENDERS];
    for (int i = 0; i < o.senders; i++) {
        rc[i] = (run_ctx){.s = &ss[i]};
        if (pthread_create(&th[i], NULL, sender_send, &rc[i]) != 0)
            return 1;
    }
    /* The senders read their deadline after the barrier, which orders it. */
    double t0 = now_s();
    for (int i = 0; i < o.senders; i++) {
        rc[i].deadline = t0 + o.duration_s;
        rc[i].t0 = t0;
        rc[i].interval = o.rate > 0 ? (double)o.spr * o.senders / o.rate : 0;
    }
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; i < o.senders; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;

    long sent = 0, late = 0, codes[600] = {0};
    uint64_t ok_samples = 0;
    for (int i = 0; i < o.senders; i++) {
        sent += ss[i].sent;
        late += ss[i].late;
    }
    if (o.timeline) {
        FILE *f = fopen(o.timeline, "w");
        for (int i = 0; f && i < o.senders; i++)
            for (long r = 0; r < ss[i].sent; r++)
                fprintf(f, "%.3f %.3f %d\n", ss[i].sent_at[r], ss[i].lat_us[r] / 1000.0,
                        ss[i].status[r]);
        if (!f || fclose(f) != 0) {
            fprintf(stderr, "loadgen: cannot write %s\n", o.timeline);
            return 1;
        }
    }
    uint32_t *lat = malloc((size_t)(sent ? sent : 1) * sizeof *lat);
    if (!lat)
        return 1;
    long k = 0;
    for (int i = 0; i < o.senders; i++) {
        memcpy(lat + k, ss[i].lat_us, (size_t)ss[i].sent * sizeof *lat);
        k += ss[i].sent;
        ok_samples += ss[i].samples_ok;
        for (int c = 0; c < 600; c++)
            codes[c] += ss[i].codes[c];
    }
    qsort(lat, (size_t)sent, sizeof *lat, cmp_u32);
    char codes_s[256] = "";
    for (int c = 0; c < 600; c++)
        if (codes[c]) {
            size_t l = strlen(codes_s);
            if (c)
                snprintf(codes_s + l, sizeof codes_s - l, "%s%d:%ld", l ? "," : "", c, codes[c]);
            else
                snprintf(codes_s + l, sizeof codes_s - l, "%serror:%ld", l ? "," : "", codes[c]);
        }
    double p50 = pct_ms(lat, sent, 0.50), p99 = pct_ms(lat, sent, 0.99);
    double mx = sent ? lat[sent - 1] / 1000.0 : 0;
    printf("sent %ld requests (%" PRIu64 " samples accepted) to %s in %.2f s with %d senders: "
           "%.0f samples/s, %.1f req/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
           "status %s",
           sent, ok_samples, o.url, elapsed, o.senders, (double)ok_samples / elapsed,
           (double)sent / elapsed, p50, p99, mx, codes_s[0] ? codes_s : "none");
    if (o.rate > 0)
        printf("; paced at %.0f samples/s, %ld requests sent late", o.rate, late);
    printf("\n");
    printf("RESULT mode=%s requests=%ld samples_ok=%" PRIu64 " elapsed_s=%.3f samples_per_s=%.0f "
           "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f codes=%s rate=%.0f late=%ld\n",
           o.sink ? "sink" : "send", sent, ok_samples, elapsed, (double)ok_samples / elapsed, p50,
           p99, mx, codes_s[0] ? codes_s : "none", o.rate, late);
    free(lat);
    free_senders(ss, o.senders);
    return codes[0] == (long)0 && ok_samples == (uint64_t)sent * o.spr ? 0 : 3;
}
