/* budget.c -- see budget.h. */
#include "budget.h"

#include <time.h>

#include "error.h"
#include "store.h"

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The deadline read_deadline_ms from now; 0 (none) when there is none. */
static void restart_deadline(ps_read_budget *b)
{
    if (b->deadline_ms > 0) {
        /* Saturate: a deadline centuries away is no deadline. */
        int64_t now = monotonic_ns();
        b->deadline_ns = b->deadline_ms > (INT64_MAX - now) / 1000000
                             ? 0
                             : now + b->deadline_ms * 1000000;
    }
}

void ps_read_budget_start(const promstore *db, ps_read_budget *b)
{
    *b = (ps_read_budget){.limit = db->max_work, .deadline_ms = db->read_deadline_ms};
    restart_deadline(b);
}

void ps_budget_progress(ps_read_budget *b)
{
    if (b != NULL)
        restart_deadline(b);
}

promstore_status ps_budget_charge(ps_read_budget *b, uint64_t steps, promstore_error *err)
{
    if (b == NULL)
        return PROMSTORE_OK;
    b->work = steps > UINT64_MAX - b->work ? UINT64_MAX : b->work + steps;
    if (b->limit && b->work > b->limit)
        return ps_fail(err, PROMSTORE_E_LIMIT,
                       "read work budget spent: more than %llu steps (max_work_per_read); "
                       "narrow the matchers or the time range",
                       (unsigned long long)b->limit);
    if (b->deadline_ns && monotonic_ns() > b->deadline_ns)
        return ps_fail(err, PROMSTORE_E_LIMIT,
                       "read deadline passed: the read worked longer than %lld ms "
                       "without yielding a series (read_deadline_ms)",
                       (long long)b->deadline_ms);
    return PROMSTORE_OK;
}

promstore_status ps_check_matcher_cap(const promstore *db, size_t n_matchers,
                                      promstore_error *err)
{
    uint32_t cap = db->remote.max_matchers;
    if (cap && n_matchers > cap)
        return ps_fail(err, PROMSTORE_E_LIMIT,
                       "query has %zu matchers, more than max_matchers_per_query (%u)",
                       n_matchers, (unsigned)cap);
    return PROMSTORE_OK;
}
