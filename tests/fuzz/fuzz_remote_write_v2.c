/*
 * fuzz_remote_write_v2 -- promstore_remote_write() with a remote write 2.0
 * body (io.prometheus.write.v2.Request, snappy block format).
 *
 * Input: as fuzz_remote_write_v1. byte 0 bit 0 clear: the rest is the body
 * as sent; set: the rest is the protobuf message, compressed by the harness.
 * Invariants: a well-formed answer from a small set of statuses; the three
 * X-Prometheus-Remote-Write-*-Written headers on every answer, matching
 * resp (histograms and exemplars are never stored, so 0); and in the second
 * form, against an independent decode: undecodable -> 400/413, and a 204
 * stored every sample and counted what it dropped. The input runs through
 * fuzz_remote_write_input() (fuzz_common.c), which fuzz_remote_write_v1
 * shares.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "write_v2.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_setup(NULL, NULL);
    return 0;
}

static void check_written_header(const promstore_http_response *resp, const char *name,
                                 uint64_t want)
{
    const char *v = fuzz_header(resp, name);
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, want);
    if (v == NULL || strcmp(v, buf) != 0)
        fuzz_fail("header %s is %s, want %s", name, v ? v : "(absent)", buf);
}

static void check_answer(const promstore_http_response *resp)
{
    check_written_header(resp, "X-Prometheus-Remote-Write-Samples-Written",
                         resp->samples_written);
    check_written_header(resp, "X-Prometheus-Remote-Write-Histograms-Written", 0);
    check_written_header(resp, "X-Prometheus-Remote-Write-Exemplars-Written", 0);
}

static int count(const uint8_t *raw, size_t n, fuzz_write_counts *c)
{
    Io__Prometheus__Write__V2__Request *rq =
        io__prometheus__write__v2__request__unpack(NULL, n, raw);
    if (rq == NULL)
        return -1;
    for (size_t i = 0; i < rq->n_timeseries; i++) {
        c->samples += rq->timeseries[i]->n_samples;
        c->exemplars += rq->timeseries[i]->n_exemplars;
        c->histograms += rq->timeseries[i]->n_histograms;
        c->metadata += rq->timeseries[i]->metadata != NULL;
    }
    io__prometheus__write__v2__request__free_unpacked(rq, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_remote_write_input(
        data, size, "application/x-protobuf;proto=io.prometheus.write.v2.Request", check_answer,
        count);
}
