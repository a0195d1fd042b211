#include <errno.h>
/*
 * test_series.c - per-epoch time series: gauge means and counter deltas
 * per epoch, the stop rule, and the final partial epoch.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "tests/check_run.h"

typedef struct load {
    sim_gauge_t *g;
    sim_counter_t *c;
} load_t;

/* At t = k us (k = 1..5): gauge := k, counter += k. */
static void ev_step(sim_t *sim, void *opaque, uint64_t k)
{
    load_t *l = opaque;
    sim_gauge_set(l->g, sim_now(sim), (double)k);
    l->c->value += k;
}

START_TEST(test_epoch_rows)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    load_t l = {sim_stats_gauge(st, "q", "queue", "jobs"),
                sim_stats_counter(st, "n", "count", "jobs")};
    for (uint64_t k = 1; k <= 5; k++)
        sim_schedule(sim, k * SIM_US, ev_step, &l, k);
    /* Epoch 2 us: rows at 2, 4 us, then at 6 us the sampler is alone. */
    sim_series_t *ts = sim_series_create(sim, 2 * SIM_US);
    ck_assert_ptr_nonnull(ts);
    ck_assert_int_eq(sim_series_add_gauge(ts, "q", l.g), 0);
    ck_assert_int_eq(sim_series_add_counter(ts, "n", l.c), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_series_start(ts, f), 0);
    sim_run(sim, SIM_TIME_MAX);
    sim_series_finish(ts);
    fclose(f);
    /* Gauge: 0 on [0,1), 1 on [1,2) -> mean 0.5; 2 on [2,3), 3 on [3,4)
     * -> 2.5; 4 on [4,5) -> 4. Counter deltas: a step at an epoch's end
     * time was scheduled before the sampler, so it runs first and counts
     * in that epoch: 1+2, 3+4, 5. After the step at 5 us only the sampler
     * (a daemon) is left: the run ends and finish writes the last row. */
    char expect[256];
    snprintf(expect, sizeof(expect),
             "time_ps,q,n\n%llu,0.5,3\n%llu,2.5,7\n%llu,4,5\n",
             (unsigned long long)(2 * SIM_US), (unsigned long long)(4 * SIM_US),
             (unsigned long long)(5 * SIM_US));
    ck_assert_str_eq(buf, expect);
    ck_assert_uint_eq(sim_series_rows(ts), 3);
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    free(buf);
    sim_series_destroy(ts);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_finish_partial_epoch)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    load_t l = {sim_stats_gauge(st, "q", "queue", "jobs"),
                sim_stats_counter(st, "n", "count", "jobs")};
    sim_schedule(sim, 3 * SIM_US, ev_step, &l, 4);
    sim_schedule(sim, 7 * SIM_US, ev_step, &l, 1);
    sim_series_t *ts = sim_series_create(sim, 5 * SIM_US);
    sim_series_add_counter(ts, "n", l.c);
    sim_series_add_gauge(ts, "q", l.g);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sim_series_start(ts, f);
    /* Stop at 6 us: one full row at 5 us, finish adds the 5..6 us part. */
    sim_run(sim, 6 * SIM_US);
    sim_series_finish(ts);
    fclose(f);
    char expect[256];
    /* 0..5 us: q = 0 for 3 us then 4 for 2 us -> 1.6; n += 4.
     * 5..6 us: q = 4 -> 4; n += 0. */
    snprintf(expect, sizeof(expect), "time_ps,n,q\n%llu,4,1.6\n%llu,0,4\n",
             (unsigned long long)(5 * SIM_US),
             (unsigned long long)(6 * SIM_US));
    ck_assert_str_eq(buf, expect);
    free(buf);
    sim_series_destroy(ts);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* A daemon that reschedules itself while work is pending. */
static void ev_daemon(sim_t *sim, void *opaque, uint64_t arg)
{
    unsigned *runs = opaque;
    (*runs)++;
    if (sim_work_pending(sim) > 0)
        sim_schedule_daemon(sim, SIM_US / 2, ev_daemon, opaque, 0);
}

static void ev_noop(sim_t *sim, void *opaque, uint64_t arg)
{
}

/* Two daemons (the sampler and a load generator) stop once the last real
 * event has run, instead of keeping each other alive. */
START_TEST(test_daemons_do_not_keep_a_run_alive)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    sim_counter_t *c = sim_stats_counter(st, "n", "count", "jobs");
    sim_schedule(sim, 10 * SIM_US, ev_noop, NULL, 0);
    unsigned runs = 0;
    sim_schedule_daemon(sim, SIM_US / 2, ev_daemon, &runs, 0);
    ck_assert_uint_eq(sim_events_pending(sim), 2);
    ck_assert_uint_eq(sim_work_pending(sim), 1);
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    sim_series_add_counter(ts, "n", c);
    FILE *f = fopen("/dev/null", "w");
    sim_series_start(ts, f);
    sim_run(sim, SIM_TIME_MAX);
    /* The last real event ran at 10 us (scheduled first, so before the
     * daemons due then); after it only daemons were left, so the run ended:
     * the daemon ran at 0.5 .. 9.5 us, the sampler at 1 .. 9 us. */
    ck_assert_uint_eq(runs, 19);
    ck_assert_uint_eq(sim_series_rows(ts), 9);
    ck_assert_uint_eq(sim_now(sim), 10 * SIM_US);
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    fclose(f);
    sim_series_destroy(ts);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

typedef struct bg {
    sim_server_t *srv;
    unsigned submitted;
} bg_t;

/* Background load: a daemon job of 2 us every 1 us while work is pending. */
static void ev_bg(sim_t *sim, void *opaque, uint64_t arg)
{
    bg_t *b = opaque;
    sim_server_submit_daemon(b->srv, b, 2 * SIM_US);
    b->submitted++;
    if (sim_work_pending(sim) > 0)
        sim_schedule_daemon(sim, SIM_US, ev_bg, b, 0);
}

/* Daemon jobs queue and complete like others, but a generator of them
 * stops when no real work is pending, and the run then ends when the last
 * background job is done. */
START_TEST(test_daemon_server_jobs)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    sim_server_cfg_t cfg = {
        .name = "vcpu", .servers = 1, .service = sim_dist_fixed(SIM_US)};
    sim_rng_t rng;
    sim_rng_seed(&rng, 1, "vcpu");
    bg_t b = {sim_server_create(sim, st, &cfg, &rng, NULL, NULL), 0};
    sim_schedule(sim, 5 * SIM_US, ev_noop, NULL, 0);
    sim_schedule_daemon(sim, 0, ev_bg, &b, 0);
    sim_run(sim, SIM_TIME_MAX);
    /* Submissions at 0..4 us; at 5 us the real event runs first, and
     * then only daemons are left: the run ends at 5 us. One server, 2 us
     * jobs: those of 0 and 1 us completed (at 2 and 4 us). */
    ck_assert_uint_eq(b.submitted, 5);
    ck_assert_uint_eq(sim_server_completions(b.srv), 2);
    ck_assert_uint_eq(sim_now(sim), 5 * SIM_US);
    sim_server_destroy(b.srv);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* At t = k us (k = 1..10): gauge := k, counter += 1. */
static void ev_tick(sim_t *sim, void *opaque, uint64_t k)
{
    load_t *l = opaque;
    sim_gauge_set(l->g, sim_now(sim), (double)k);
    l->c->value++;
}

/* A cap of 4 rows, epochs of 1 us, steps at 1..10 us (sim/series.h: rows
 * merge pairwise and the epoch doubles when their number reaches the cap).
 * Samples at 1, 2, 3, 4 us fill the cap: merge to rows ending at 2, 4 us,
 * epoch 2 us; samples at 6, 8 us fill it again: rows 4, 8 us, epoch 4 us.
 * After the step at 10 us only the sampler (a daemon) is left, so the run
 * ends there and finish closes the row 8..10 us. Each merged row keeps
 * the counter's increase and the gauge's integral over its span. */
START_TEST(test_merge_past_row_cap)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    load_t l = {sim_stats_gauge(st, "q", "queue", "jobs"),
                sim_stats_counter(st, "n", "count", "jobs")};
    for (uint64_t k = 1; k <= 10; k++)
        sim_schedule(sim, k * SIM_US, ev_tick, &l, k);
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    ck_assert_int_eq(sim_series_set_max_rows(ts, 4), 0);
    ck_assert_int_eq(sim_series_add_gauge(ts, "q", l.g), 0);
    ck_assert_int_eq(sim_series_add_counter(ts, "n", l.c), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_series_start(ts, f), 0);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(sim_now(sim), 10 * SIM_US);
    ck_assert_uint_eq(sim_series_epoch(ts), 4 * SIM_US);
    ck_assert_uint_eq(sim_series_rows(ts), 2);
    sim_series_finish(ts);
    fclose(f);
    /* Gauge k on [k, k+1) us (10 from 10 us on): integral over 0..4 us is
     * 0+1+2+3 = 6 us -> mean 1.5; 4..8: 4+5+6+7 -> 5.5; 8..10: 8+9 ->
     * 8.5. Counter: steps 1..4, 5..8, 9..10. */
    char expect[256];
    snprintf(expect, sizeof(expect),
             "time_ps,q,n\n%llu,1.5,4\n%llu,5.5,4\n%llu,8.5,2\n",
             (unsigned long long)(4 * SIM_US), (unsigned long long)(8 * SIM_US),
             (unsigned long long)(10 * SIM_US));
    ck_assert_str_eq(buf, expect);
    ck_assert_uint_eq(sim_series_rows(ts), 3);
    free(buf);
    sim_series_destroy(ts);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* The default cap is SIM_SERIES_MAX_ROWS: a long run writes fewer rows
 * than that, each covering the epoch times a power of two, and the counter
 * total survives every merge. */
START_TEST(test_default_cap_long_run)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    load_t l = {sim_stats_gauge(st, "q", "queue", "jobs"),
                sim_stats_counter(st, "n", "count", "jobs")};
    const uint64_t steps = 3 * SIM_SERIES_MAX_ROWS / 2;
    sim_schedule(sim, steps * SIM_NS, ev_tick, &l, 1);
    sim_series_t *ts = sim_series_create(sim, SIM_NS);
    ck_assert_int_eq(sim_series_add_counter(ts, "n", l.c), 0);
    FILE *f = tmpfile();
    ck_assert_int_eq(sim_series_start(ts, f), 0);
    sim_run(sim, SIM_TIME_MAX);
    sim_series_finish(ts);
    /* One merge at SIM_SERIES_MAX_ROWS rows: the epoch is 2 ns, and the
     * remaining steps/2 ns give steps/4 rows of 2 ns after the merged
     * half. */
    ck_assert_uint_eq(sim_series_epoch(ts), 2 * SIM_NS);
    ck_assert_uint_eq(sim_series_rows(ts),
                      SIM_SERIES_MAX_ROWS / 2 + SIM_SERIES_MAX_ROWS / 4);
    rewind(f);
    char line[128];
    uint64_t total = 0, rows = 0, t, v, prev = 0;
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "time_ps,n\n");
    while (fgets(line, sizeof(line), f)) {
        ck_assert_int_eq(sscanf(line, "%" SCNu64 ",%" SCNu64, &t, &v), 2);
        ck_assert_uint_eq(t - prev, 2 * SIM_NS);
        prev = t;
        total += v;
        rows++;
    }
    ck_assert_uint_eq(rows, sim_series_rows(ts));
    ck_assert_uint_eq(total, 1);
    fclose(f);
    sim_series_destroy(ts);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* A series without columns still writes one time per row. */
START_TEST(test_no_columns)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_schedule(sim, 3 * SIM_US, ev_noop, NULL, 0);
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_series_start(ts, f), 0);
    sim_run(sim, SIM_TIME_MAX);
    sim_series_finish(ts);
    fclose(f);
    char expect[128];
    /* The sample at 3 us comes after the event at 3 us (scheduled later)
     * and sees no work: it is the last row. */
    snprintf(expect, sizeof(expect), "time_ps\n%llu\n%llu\n%llu\n",
             (unsigned long long)SIM_US, (unsigned long long)(2 * SIM_US),
             (unsigned long long)(3 * SIM_US));
    ck_assert_str_eq(buf, expect);
    free(buf);
    sim_series_destroy(ts);
    sim_destroy(sim);
}
END_TEST

/* The contract of sim/series.h: columns and the cap only before start;
 * the cap even and at least 2; a series destroyed while running cancels
 * its sample; finish is a no-op before start and for NULL. */
START_TEST(test_limits_and_lifecycle)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    sim_counter_t *c = sim_stats_counter(st, "n", "count", "jobs");
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    ck_assert_int_eq(sim_series_set_max_rows(ts, 0), -EINVAL);
    ck_assert_int_eq(sim_series_set_max_rows(ts, 1), -EINVAL);
    ck_assert_int_eq(sim_series_set_max_rows(ts, 5), -EINVAL);
    ck_assert_int_eq(sim_series_set_max_rows(ts, 2), 0);
    ck_assert_int_eq(sim_series_add_counter(ts, "n", NULL), -EINVAL);
    sim_series_finish(ts); /* not started: nothing written, no crash */
    sim_series_finish(NULL);
    ck_assert_uint_eq(sim_series_rows(ts), 0);
    sim_schedule(sim, 10 * SIM_US, ev_noop, NULL, 0);
    FILE *f = fopen("/dev/null", "w");
    ck_assert_int_eq(sim_series_start(ts, f), 0);
    ck_assert_uint_eq(sim_events_pending(sim), 2);
    ck_assert_int_eq(sim_series_add_counter(ts, "n", c), -EBUSY);
    ck_assert_int_eq(sim_series_set_max_rows(ts, 8), -EINVAL);
    sim_series_destroy(ts); /* cancels the pending sample */
    ck_assert_uint_eq(sim_events_pending(sim), 1);
    sim_series_destroy(NULL);
    fclose(f);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* Stepped by hand (sim_step runs the sampler even with no other work):
 * a sample that finds no work pending is the last one; finish then adds
 * no row, as no time passed since it. */
START_TEST(test_last_sample_by_step)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    char buf[128] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    ck_assert_int_eq(sim_series_start(ts, f), 0);
    ck_assert_uint_eq(sim_events_pending(sim), 1);
    ck_assert(sim_step(sim));
    ck_assert_uint_eq(sim_events_pending(sim), 0); /* not rescheduled */
    ck_assert(!sim_step(sim));
    sim_series_finish(ts);
    fclose(f);
    ck_assert_str_eq(buf, "time_ps\n1000000\n");
    ck_assert_uint_eq(sim_series_rows(ts), 1);
    sim_series_destroy(ts);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_bad_use)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    ck_assert_ptr_null(sim_series_create(sim, 0));
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    ck_assert_int_eq(sim_series_add_gauge(ts, "x", NULL), -EINVAL);
    sim_series_destroy(ts);
    sim_destroy(sim);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("series");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_epoch_rows);
    tcase_add_test(tc, test_finish_partial_epoch);
    tcase_add_test(tc, test_daemons_do_not_keep_a_run_alive);
    tcase_add_test(tc, test_daemon_server_jobs);
    tcase_add_test(tc, test_bad_use);
    tcase_add_test(tc, test_merge_past_row_cap);
    tcase_add_test(tc, test_default_cap_long_run);
    tcase_add_test(tc, test_no_columns);
    tcase_add_test(tc, test_limits_and_lifecycle);
    tcase_add_test(tc, test_last_sample_by_step);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
