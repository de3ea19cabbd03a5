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
 * The input runs through fuzz_remote_write_input() (fuzz_common.c), which
 * fuzz_remote_write_v2 shares.
 */
#include "fuzz_common.h"
#include "remote.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_store_setup(NULL, NULL);
    return 0;
}

static void check_answer(const promstore_http_response *resp)
{
    if (fuzz_header(resp, "X-Prometheus-Remote-Write-Samples-Written"))
        fuzz_fail("a 1.0 answer carries the 2.0 Written headers");
}

static int count(const uint8_t *raw, size_t n, fuzz_write_counts *c)
{
    Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, n, raw);
    if (wr == NULL)
        return -1;
    for (size_t i = 0; i < wr->n_timeseries; i++) {
        c->samples += wr->timeseries[i]->n_samples;
        c->exemplars += wr->timeseries[i]->n_exemplars;
        c->histograms += wr->timeseries[i]->n_histograms;
    }
    c->metadata = wr->n_metadata;
    prometheus__write_request__free_unpacked(wr, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_remote_write_input(
        data, size, "application/x-protobuf;proto=prometheus.WriteRequest", check_answer, count);
}
