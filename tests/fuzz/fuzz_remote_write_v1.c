/*
 * fuzz_remote_write_v1 -- promstore_remote_write() with a remote write 1.0
 * body (prometheus.WriteRequest, snappy block format).
 *
 * Input: byte 0 chooses the form of the rest.
 *   bit 0 clear: the rest is the HTTP body as sent (snappy bytes), so the
 *                fuzzer works on the snappy decoder and the size checks.
 *   bit 0 set:   the rest is the protobuf message; the harness compresses
 *                it, so the fuzzer reaches the protobuf decoder, validation
 *                and the append path instead of dying in snappy.
 * Invariants: a well-formed answer (fuzz_check_response) from a small set of
 * statuses, no 2.0 headers, and in the second form, checked against an
 * independent decode of the same bytes: undecodable -> 400/413, and a 204
 * stored (or found duplicate) every sample and counted what it dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "remote.pb-c.h"

static const int g_allowed[] = {204, 400, 413, 503, 507, 0};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_setup(NULL, NULL);
    return 0;
}

static void check_against(const uint8_t *raw, size_t n, const promstore_http_response *resp)
{
    Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, n, raw);
    if (wr == NULL) {
        if (resp->status != 400 && resp->status != 413)
            fuzz_fail("undecodable WriteRequest answered %d", resp->status);
        return;
    }
    uint64_t samples = 0, exemplars = 0, histograms = 0;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        samples += wr->timeseries[i]->n_samples;
        exemplars += wr->timeseries[i]->n_exemplars;
        histograms += wr->timeseries[i]->n_histograms;
    }
    if (resp->samples_written + resp->samples_rejected > samples)
        fuzz_fail("%llu written + %llu rejected of %llu samples",
                  (unsigned long long)resp->samples_written,
                  (unsigned long long)resp->samples_rejected, (unsigned long long)samples);
    if (resp->status == 204 &&
        (resp->samples_written != samples || resp->samples_rejected != 0 ||
         resp->exemplars_dropped != exemplars || resp->histograms_dropped != histograms ||
         resp->metadata_dropped != wr->n_metadata))
        fuzz_fail("204 with written %llu/%llu rejected %llu exemplars %llu/%llu histograms "
                  "%llu/%llu metadata %llu/%zu",
                  (unsigned long long)resp->samples_written, (unsigned long long)samples,
                  (unsigned long long)resp->samples_rejected,
                  (unsigned long long)resp->exemplars_dropped, (unsigned long long)exemplars,
                  (unsigned long long)resp->histograms_dropped, (unsigned long long)histograms,
                  (unsigned long long)resp->metadata_dropped, wr->n_metadata);
    prometheus__write_request__free_unpacked(wr, NULL);
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
        "application/x-protobuf;proto=prometheus.WriteRequest", "snappy", body, body_len);
    promstore_http_response resp = fuzz_response();
    promstore_error err;
    promstore_status rc = promstore_remote_write(fuzz_store(), &req, &resp, &err);
    if (rc != PROMSTORE_OK)
        fuzz_fail("promstore_remote_write returned %d: %s", rc, err.message);
    fuzz_check_response(&resp, g_allowed);
    if (fuzz_header(&resp, "X-Prometheus-Remote-Write-Samples-Written"))
        fuzz_fail("a 1.0 answer carries the 2.0 Written headers");
    if (compress)
        check_against(rest, n, &resp);
    free(body);
    fuzz_store_tick();
    return 0;
}
