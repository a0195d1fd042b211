/*
 * tests/sim/test_span.c - span bookkeeping (sim/span.h): stage times
 * telescope to the end-to-end time, unmarked stages get no sample, a
 * stage marked out of order never records a negative time, the outcome
 * counters (closed, failed, refaulted, auto-responded), the observer, the
 * .contrib scalars and the family's limits.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "tests/check_run.h"
#include "tests/test_util.h"

static const char *const names[] = {"walk", "queue", "done"};
static const char *const descs[] = {"the walk", "in the queue", "the end"};

typedef struct seen {
    unsigned calls, ok;
    uint32_t last_id;
    sim_time_t last_end;
} seen_t;

static void observe(void *opaque, const sim_spans_t *family,
                    const sim_span_t *span, sim_time_t end, bool ok)
{
    seen_t *s = opaque;
    s->calls++;
    s->ok += ok;
    s->last_id = span->id;
    s->last_end = end;
    ck_assert_uint_eq(sim_spans_nstages(family), 3);
}

static uint64_t counter(sim_stats_t *st, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(st, name);
    ck_assert_msg(c != NULL, "%s", name);
    return c->value;
}

static sim_hist_t *hist(sim_stats_t *st, const char *name)
{
    sim_hist_t *h = sim_stats_find_hist(st, name);
    ck_assert_msg(h != NULL, "%s", name);
    return h;
}

/* One span: opened at 100, walk marked at 150, queue not marked, closed at
 * 400: walk lasts 50, done (the last stage, marked at close) 250, their
 * sum is the end-to-end 300. */
START_TEST(test_stage_times)
{
    sim_stats_t *st = sim_stats_create();
    sim_spans_t *sp = sim_spans_create(st, "f", names, descs, 3);
    ck_assert_ptr_nonnull(sp);
    ck_assert_str_eq(sim_spans_stage_name(sp, 1), "queue");
    ck_assert_str_eq(sim_spans_stage_name(sp, 3), "?");
    ck_assert_uint_eq(sim_spans_nstages(sp), 3);

    sim_span_t *s = sim_span_open(sp, 100);
    ck_assert_uint_eq(s->id, 0);
    ck_assert_uint_eq(sim_spans_open_count(sp), 1);
    sim_span_mark(s, 0, 150);
    sim_span_close(sp, s, 400, true);
    ck_assert_uint_eq(sim_spans_open_count(sp), 0);
    ck_assert_uint_eq(hist(st, "f.stage.walk")->count, 1);
    ck_assert_uint_eq(hist(st, "f.stage.walk")->min, 50);
    ck_assert_uint_eq(hist(st, "f.stage.queue")->count, 0);
    ck_assert_uint_eq(hist(st, "f.stage.done")->min, 250);
    ck_assert_uint_eq(hist(st, "f.e2e")->min, 300);
    ck_assert_uint_eq(counter(st, "f.closed"), 1);

    /* A second span marks queue before walk's time: queue ends at 120,
     * walk at 150 counts from 120; closed at 200. */
    s = sim_span_open(sp, 100);
    ck_assert_uint_eq(s->id, 1);
    sim_span_mark(s, 1, 120);
    sim_span_mark(s, 0, 150); /* walk is earlier in the list than queue */
    sim_span_close(sp, s, 200, true);
    /* In list order: walk 100..150 = 50, queue would end at 120 < 150:
     * recorded as 0, done 150..200 = 50. */
    ck_assert_uint_eq(hist(st, "f.stage.walk")->count, 2);
    ck_assert_uint_eq(hist(st, "f.stage.queue")->max, 0);
    ck_assert_uint_eq(hist(st, "f.stage.done")->min, 50);
    ck_assert_uint_eq(hist(st, "f.e2e")->min, 100);

    /* .contrib: stage time summed over closed spans / closed spans. */
    sim_spans_finish(sp);
    ck_assert(*sim_stats_find_scalar(st, "f.stage.walk.contrib") == 50.0);
    ck_assert(*sim_stats_find_scalar(st, "f.stage.queue.contrib") == 0.0);
    ck_assert(*sim_stats_find_scalar(st, "f.stage.done.contrib") == 150.0);
    sim_spans_destroy(sp);
    sim_stats_destroy(st);
}
END_TEST

/* Outcomes (sim/span.h): a failed span and an auto-responded one add no
 * stage time; a refaulted span is closed and counted as refaulted; an
 * auto-responded one that refaults is auto_refaulted. The observer sees
 * every end, ok only for a closed span. */
START_TEST(test_outcomes_and_observer)
{
    sim_stats_t *st = sim_stats_create();
    sim_spans_t *sp = sim_spans_create(st, "g", names, NULL, 3);
    seen_t seen = {0};
    sim_spans_set_observer(sp, observe, &seen);

    sim_span_close(sp, sim_span_open(sp, 0), 10, false);
    ck_assert_uint_eq(seen.calls, 1);
    ck_assert_uint_eq(seen.ok, 0);
    ck_assert_uint_eq(seen.last_end, 10);

    sim_span_end(sp, sim_span_open(sp, 0), 20, SIM_SPAN_REFAULTED);
    ck_assert_uint_eq(seen.ok, 1);
    ck_assert_uint_eq(seen.last_id, 1);

    sim_span_t *a = sim_span_open(sp, 0);
    sim_span_set_auto(a);
    sim_span_end(sp, a, 30, SIM_SPAN_DONE);
    sim_span_t *b = sim_span_open(sp, 0);
    sim_span_set_auto(b);
    sim_span_end(sp, b, 40, SIM_SPAN_REFAULTED);
    sim_span_set_auto(NULL);
    sim_span_end(sp, NULL, 50, SIM_SPAN_DONE); /* ignored */
    ck_assert_uint_eq(seen.calls, 4);
    ck_assert_uint_eq(seen.ok, 1);

    ck_assert_uint_eq(counter(st, "g.opened"), 4);
    ck_assert_uint_eq(counter(st, "g.closed"), 1);
    ck_assert_uint_eq(counter(st, "g.failed"), 1);
    ck_assert_uint_eq(counter(st, "g.refaulted"), 1);
    ck_assert_uint_eq(counter(st, "g.auto_responded"), 2);
    ck_assert_uint_eq(counter(st, "g.auto_refaulted"), 1);
    ck_assert_uint_eq(hist(st, "g.e2e")->count, 1);
    ck_assert_uint_eq(hist(st, "g.e2e")->min, 20);
    ck_assert_uint_eq(sim_spans_open_count(sp), 0);

    /* Without an observer nothing is called. */
    sim_spans_set_observer(sp, NULL, NULL);
    sim_span_close(sp, sim_span_open(sp, 0), 60, true);
    ck_assert_uint_eq(seen.calls, 4);
    /* No closed span: every .contrib stays 0 after finish. */
    sim_spans_t *empty = sim_spans_create(st, "h", names, NULL, 1);
    sim_spans_finish(empty);
    ck_assert(*sim_stats_find_scalar(st, "h.stage.walk.contrib") == 0.0);
    ck_assert_ptr_null(sim_stats_find_hist(st, "h.stage.queue"));
    sim_spans_destroy(empty);
    sim_spans_destroy(sp);
    sim_stats_destroy(st);
}
END_TEST

/* A family needs 1..SIM_SPAN_MAX_STAGES stages and its own statistics
 * names (a second family under the same prefix is refused). */
START_TEST(test_limits)
{
    static const char *many[SIM_SPAN_MAX_STAGES + 1];
    static char buf[SIM_SPAN_MAX_STAGES + 1][8];
    for (unsigned i = 0; i <= SIM_SPAN_MAX_STAGES; i++) {
        snprintf(buf[i], sizeof(buf[i]), "s%u", i);
        many[i] = buf[i];
    }
    sim_stats_t *st = sim_stats_create();
    ck_assert_ptr_null(sim_spans_create(st, "z", many, NULL, 0));
    ck_assert_ptr_null(
        sim_spans_create(st, "z", many, NULL, SIM_SPAN_MAX_STAGES + 1));
    sim_spans_t *sp =
        sim_spans_create(st, "z", many, NULL, SIM_SPAN_MAX_STAGES);
    ck_assert_ptr_nonnull(sp);
    ck_assert_uint_eq(sim_spans_stage(sp, "s23"), SIM_SPAN_MAX_STAGES - 1);
    /* Same prefix again: its statistics exist, so no family. */
    ck_assert_ptr_null(sim_spans_create(st, "z", many, NULL, 2));
    /* Same counters but new stage names: refused at the stage stats. */
    sim_stats_t *st2 = sim_stats_create();
    ck_assert_ptr_nonnull(sim_stats_hist(st2, "y.stage.s1", "", ""));
    ck_assert_ptr_null(sim_spans_create(st2, "y", many, NULL, 2));
    sim_stats_t *st3 = sim_stats_create();
    ck_assert_ptr_nonnull(sim_stats_scalar(st3, "x.stage.s0.contrib", "", ""));
    ck_assert_ptr_null(sim_spans_create(st3, "x", many, NULL, 2));
    sim_spans_destroy(sp);
    sim_spans_destroy(NULL);
    sim_stats_destroy(st);
    sim_stats_destroy(st2);
    sim_stats_destroy(st3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("span");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_stage_times);
    tcase_add_test(tc, test_outcomes_and_observer);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
