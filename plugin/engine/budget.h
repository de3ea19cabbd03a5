/*
 * budget.h -- counting the work of a read against its budget and deadline
 * (ps_read_budget, engine.h).
 *
 * NOTES ON THE DESIGN
 *
 * 1. Why a budget. The per-query limits (max_series_per_query and the rest)
 *    bound what a read hands out, not what it does to find it: a regex is
 *    tried on every distinct value of its label, and a series is loaded to
 *    learn it has no sample in range. A 54-byte regex over 3,000 values
 *    kept a read busy for 3.8 s with nothing to show. The budget counts that
 *    work, whatever becomes of it, and ends the read with PROMSTORE_E_LIMIT
 *    naming max_work_per_read once it is spent.
 *
 * 2. What a step is. Work is counted where it is done, in units that follow
 *    its cost:
 *      - a label value a regex matcher is tried on: its length plus one,
 *        plus the backtracker's whole match limit (1,000,000) when the
 *        backtracker gives up on it and the DFA answers instead (matcher.h:
 *        PCRE2 does not say how many steps a match took, so a value it
 *        decides counts as one pass over it, and one it gives up on as the
 *        most it was allowed);
 *      - a postings entry read (a series id of a matched pair): one;
 *      - a series loaded: one, plus one for each chunk read for it.
 *    Samples are not counted again: max_samples_per_query bounds them.
 *    The check follows the work, so a read stops at most one value (one
 *    regex run, a few milliseconds) past its budget.
 *
 * 3. The deadline is wall time without progress: counted from
 *    ps_read_budget_start, and again from each series the read hands out
 *    (ps_budget_progress), read on the monotonic clock where work is counted
 *    (each value, each postings pair, each series): a read that does nothing
 *    costs nothing, and a read that works past its deadline stops within one
 *    step of it. It catches what the step count cannot see (a slow disk, a
 *    regex that takes its time without giving up, a walk over series with
 *    nothing in range). It restarts with each series because a read that
 *    keeps producing is doing what it was asked: ten reads of a million
 *    series each, streamed at once on two cores, take two to four minutes,
 *    and a deadline on their whole length (2 minutes by default) cut every
 *    one (tests/readstorm). A client too slow to take what is produced is
 *    the server's write timeout's to end, not the engine's.
 */
#ifndef PS_BUDGET_H
#define PS_BUDGET_H

#include <stdint.h>

#include "engine.h"

/*
 * Count steps of work; PROMSTORE_OK, or PROMSTORE_E_LIMIT naming
 * max_work_per_read or read_deadline_ms when the budget or the deadline is
 * spent. b may be NULL (nothing counted).
 */
promstore_status ps_budget_charge(ps_read_budget *b, uint64_t steps, promstore_error *err);

/* The read handed out a series: its deadline restarts. b may be NULL. */
void ps_budget_progress(ps_read_budget *b);

/*
 * PROMSTORE_E_LIMIT naming max_matchers_per_query when a query of the ABI
 * (promstore_query, the label calls) has more than that many matchers; else
 * PROMSTORE_OK. Remote read checks its queries itself, naming each.
 */
promstore_status ps_check_matcher_cap(const promstore *db, size_t n_matchers,
                                      promstore_error *err);

#endif
