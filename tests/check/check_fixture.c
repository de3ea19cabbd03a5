/*
 * check_fixture.c -- makes and damages stores for check_cli.sh.
 *
 *   check_fixture make   DIR BACKEND   40 series over 3 hours of 1 h blocks
 *                                      (sealed and open chunks), via the ABI
 *   check_fixture damage DIR BACKEND   delete the postings entry
 *                                      instance="host-2" of series 3, through
 *                                      the backend interface (static archive)
 *
 * Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "keys.h"
#include "promstore.h"
#include "store.h"

#define SERIES 40
#define HOUR_MS INT64_C(3600000)
#define T0 INT64_C(1700006400000)
#define STEP_MS INT64_C(30000)

static int die(const char *what, const char *msg)
{
    fprintf(stderr, "check_fixture: %s: %s\n", what, msg);
    return 1;
}

static int make(const char *dir, const char *backend)
{
    promstore_options o;
    promstore_options_init(&o);
    o.backend = backend;
    o.path = dir;
    o.block_duration_ms = HOUR_MS;
    promstore *db = NULL;
    promstore_error err;
    if (promstore_open(&o, &db, &err) != PROMSTORE_OK)
        return die("open", err.message);
    char inst[SERIES][16];
    promstore_label labels[SERIES][3];
    promstore_sample samples[SERIES];
    promstore_series series[SERIES];
    for (int i = 0; i < SERIES; i++) {
        snprintf(inst[i], sizeof inst[i], "host-%d", i);
        labels[i][0] = (promstore_label){"__name__", 8, "cli_metric", 10};
        labels[i][1] = (promstore_label){"instance", 8, inst[i], strlen(inst[i])};
        labels[i][2] = (promstore_label){"job", 3, "cli", 3};
        series[i] = (promstore_series){labels[i], 3, &samples[i], 1};
    }
    for (int64_t t = T0; t < T0 + 3 * HOUR_MS; t += STEP_MS) {
        for (int i = 0; i < SERIES; i++) {
            double v = (double)(t - T0) / 1000.0 + i;
            samples[i].timestamp_ms = t;
            memcpy(&samples[i].value_bits, &v, sizeof v);
        }
        if (promstore_append(db, series, SERIES, NULL, &err) != PROMSTORE_OK) {
            promstore_close(db, NULL);
            return die("append", err.message);
        }
    }
    if (promstore_close(db, &err) != PROMSTORE_OK)
        return die("close", err.message);
    return 0;
}

static int damage(const char *dir, const char *backend)
{
    const ps_backend_methods *bm = ps_backend_find(backend);
    ps_backend *be = NULL;
    ps_txn *txn = NULL;
    ps_table postings;
    ps_backend_config cfg = {0, 0};
    promstore_error err;
    uint8_t k[PS_BACKEND_MAX_KEY];
    if (bm == NULL)
        return die("backend", "unknown");
    if (bm->open(dir, &cfg, &be, &err) != 0)
        return die("backend open", err.message);
    /* Series ids follow creation order: host-2 is series 3. */
    size_t kl = ps_pair_encode("instance", 8, "host-2", 6, k, PS_PAIR_MAX);
    ps_put_u64(k + kl, 3);
    int rc = bm->txn_begin(be, 1, &txn, &err);
    if (rc == 0)
        rc = bm->table_open(txn, "postings", 0, &postings, &err);
    if (rc == 0)
        rc = bm->del(txn, postings, k, kl + 8, &err);
    if (rc == 0)
        rc = bm->txn_commit(txn, &err);
    else
        bm->txn_abort(txn);
    bm->close(be);
    return rc == 0 ? 0 : die("damage", err.message);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: check_fixture make|damage DIR BACKEND\n");
        return 2;
    }
    if (strcmp(argv[1], "make") == 0)
        return make(argv[2], argv[3]);
    if (strcmp(argv[1], "damage") == 0)
        return damage(argv[2], argv[3]);
    fprintf(stderr, "check_fixture: unknown command %s\n", argv[1]);
    return 2;
}
