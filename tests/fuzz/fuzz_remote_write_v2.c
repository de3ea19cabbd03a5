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
 * stored every sample and counted what it dropped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "write_v2.pb-c.h"

static const int g_allowed[] = {204, 400, 413, 503, 507, 0};

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

static void check_against(const uint8_t *raw, size_t n, const promstore_http_response *resp)
{
    Io__Prometheus__Write__V2__Request *rq =
        io__prometheus__write__v2__request__unpack(NULL, n, raw);
    if (rq == NULL) {
        if (resp->status != 400 && resp->status != 413)
            fuzz_fail("undecodable v2 Request answered %d", resp->status);
        return;
    }
    uint64_t samples = 0, exemplars = 0, histograms = 0, metadata = 0;
    for (size_t i = 0; i < rq->n_timeseries; i++) {
        samples += rq->timeseries[i]->n_samples;
        exemplars += rq->timeseries[i]->n_exemplars;
        histograms += rq->timeseries[i]->n_histograms;
        metadata += rq->timeseries[i]->metadata != NULL;
    }
    if (resp->samples_written + resp->samples_rejected > samples)
        fuzz_fail("%" PRIu64 " written + %" PRIu64 " rejected of %" PRIu64 " samples",
                  resp->samples_written, resp->samples_rejected, samples);
    if (resp->status == 204 &&
        (resp->samples_written != samples || resp->samples_rejected != 0 ||
         resp->exemplars_dropped != exemplars || resp->histograms_dropped != histograms ||
         resp->metadata_dropped != metadata))
        fuzz_fail("204 with written %" PRIu64 "/%" PRIu64 " rejected %" PRIu64
                  " exemplars %" PRIu64 "/%" PRIu64 " histograms %" PRIu64 "/%" PRIu64
                  " metadata %" PRIu64 "/%" PRIu64,
                  resp->samples_written, samples, resp->samples_rejected,
                  resp->exemplars_dropped, exemplars, resp->histograms_dropped, histograms,
                  resp->metadata_dropped, metadata);
    io__prometheus__write__v2__request__free_unpacked(rq, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int compress = data[0] & 1;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    uint8_t *body;
    size_t body_len;
    if (compress) {
        body = fuzz_snappy(rest, n, &body_len);
    } else {
        body = fuzz_dup(rest, n);
        body_len = n;
    }
    promstore_http_request req = fuzz_request(
        "application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy", body, body_len);
    promstore_http_response resp = fuzz_response();
    promstore_error err;
    promstore_status rc = promstore_remote_write(fuzz_store(), &req, &resp, &err);
    if (rc != PROMSTORE_OK)
        fuzz_fail("promstore_remote_write returned %d: %s", rc, err.message);
    fuzz_check_response(&resp, g_allowed);
    check_written_header(&resp, "X-Prometheus-Remote-Write-Samples-Written",
                         resp.samples_written);
    check_written_header(&resp, "X-Prometheus-Remote-Write-Histograms-Written", 0);
    check_written_header(&resp, "X-Prometheus-Remote-Write-Exemplars-Written", 0);
    if (compress)
        check_against(rest, n, &resp);
    free(body);
    fuzz_store_tick();
    return 0;
}
