/*
 * tests/sim/test_engine.c - the discrete-event engine: ordering, ties,
 * cancellation, run/stop semantics, handlers that schedule, a random stress
 * test against a sorted reference, and the counters.
 */
#include <check.h>

#include "tests/check_run.h"
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define MAXREC 200000

typedef struct rec {
    size_t n;
    uint64_t arg[MAXREC];
    sim_time_t when[MAXREC];
} rec_t;

static rec_t *rec_new(void)
{
    rec_t *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Record (arg, now) of each event run. */
static void record(sim_t *sim, void *opaque, uint64_t arg)
{
    rec_t *r = opaque;
    ck_assert_uint_lt(r->n, MAXREC);
    r->arg[r->n] = arg;
    r->when[r->n] = sim_now(sim);
    r->n++;
}

START_TEST(test_order_by_time)
{
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();
    sim_time_t t[] = {50, 10, 30, 20, 40, 0};

    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_ne(sim_schedule(sim, t[i], record, r, i), 0);
    ck_assert_uint_eq(sim_events_pending(sim), 6);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 6);
    ck_assert_uint_eq(r->n, 6);
    uint64_t expect_arg[] = {5, 1, 3, 2, 4, 0};
    sim_time_t expect_t[] = {0, 10, 20, 30, 40, 50};
    for (unsigned i = 0; i < 6; i++) {
        ck_assert_uint_eq(r->arg[i], expect_arg[i]);
        ck_assert_uint_eq(r->when[i], expect_t[i]);
    }
    ck_assert_uint_eq(sim_now(sim), 50);
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    ck_assert_uint_eq(sim_events_run(sim), 6);
    free(r);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_ties_in_insertion_order)
{
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();

    for (unsigned i = 0; i < 1000; i++)
        sim_schedule_at(sim, 7, record, r, i);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r->n, 1000);
    for (unsigned i = 0; i < 1000; i++) {
        ck_assert_uint_eq(r->arg[i], i);
        ck_assert_uint_eq(r->when[i], 7);
    }
    free(r);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_cancel)
{
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();

    sim_event_id_t a = sim_schedule(sim, 10, record, r, 1);
    sim_event_id_t b = sim_schedule(sim, 20, record, r, 2);
    sim_event_id_t c = sim_schedule(sim, 30, record, r, 3);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(a, b);
    ck_assert(sim_cancel(sim, b));
    ck_assert(!sim_cancel(sim, b)); /* second cancel */
    ck_assert_uint_eq(sim_events_pending(sim), 2);
    ck_assert(!sim_cancel(sim, 0));
    ck_assert(!sim_cancel(sim, 0xdeadbeef00000077ull));

    /* The freed slot is reused: the old handle must not cancel the new one. */
    sim_event_id_t d = sim_schedule(sim, 25, record, r, 4);
    ck_assert_uint_ne(d, b);
    ck_assert(!sim_cancel(sim, b));
    ck_assert_uint_eq(sim_events_pending(sim), 3);

    ck_assert(sim_step(sim));       /* a at 10 */
    ck_assert(!sim_cancel(sim, a)); /* already ran */
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r->n, 3);
    ck_assert_uint_eq(r->arg[0], 1);
    ck_assert_uint_eq(r->arg[1], 4);
    ck_assert_uint_eq(r->arg[2], 3);
    ck_assert(!sim_cancel(sim, c));
    ck_assert(!sim_cancel(sim, d));
    ck_assert_uint_eq(sim_events_run(sim), 3);
    ck_assert(!sim_step(sim));
    free(r);
    sim_destroy(sim);
}
END_TEST

/* Cancel every event but the last; everything cancelled stays silent
 * (exercises the stale-entry compaction of the heap). */
START_TEST(test_cancel_many)
{
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();
    static sim_event_id_t ids[10000];

    for (unsigned i = 0; i < 10000; i++)
        ids[i] = sim_schedule(sim, 1000 + (i * 7919) % 10007, record, r, i);
    for (unsigned i = 0; i < 10000; i++)
        if (i % 10 != 3)
            ck_assert(sim_cancel(sim, ids[i]));
    ck_assert_uint_eq(sim_events_pending(sim), 1000);
    for (unsigned i = 0; i < 10000; i++)
        ck_assert_int_eq(sim_cancel(sim, ids[i]), i % 10 == 3);
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    /* Now keep 1000 of a fresh batch. */
    for (unsigned i = 0; i < 10000; i++)
        ids[i] = sim_schedule(sim, 1000 + (i * 7919) % 10007, record, r, i);
    for (unsigned i = 0; i < 10000; i++)
        if (i % 10 != 3)
            ck_assert(sim_cancel(sim, ids[i]));
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 1000);
    ck_assert_uint_eq(r->n, 1000);
    for (size_t k = 0; k < r->n; k++) {
        ck_assert_uint_eq(r->arg[k] % 10, 3);
        ck_assert_uint_eq(r->when[k], 1000 + (r->arg[k] * 7919) % 10007);
        if (k > 0)
            ck_assert_uint_le(r->when[k - 1], r->when[k]);
    }
    free(r);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_run_until)
{
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();

    sim_schedule(sim, 10, record, r, 1);
    sim_schedule(sim, 20, record, r, 2);
    sim_schedule(sim, 30, record, r, 3);
    ck_assert_uint_eq(sim_run(sim, 25), 2);
    ck_assert_uint_eq(sim_now(sim), 25);
    ck_assert_uint_eq(sim_events_pending(sim), 1);
    ck_assert_uint_eq(sim_run(sim, 25), 0);
    ck_assert_uint_eq(sim_now(sim), 25);
    /* An event exactly at `until` runs. */
    ck_assert_uint_eq(sim_run(sim, 30), 1);
    ck_assert_uint_eq(sim_now(sim), 30);
    /* No events: time stays. */
    ck_assert_uint_eq(sim_run(sim, 1000), 0);
    ck_assert_uint_eq(sim_now(sim), 30);
    /* Scheduling is relative to the advanced clock. */
    sim_schedule(sim, 5, record, r, 4);
    sim_run(sim, 20);
    ck_assert_uint_eq(sim_now(sim), 30);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 1);
    ck_assert_uint_eq(r->when[3], 35);
    /* An absolute time in the past is treated as now. */
    sim_schedule_at(sim, 3, record, r, 5);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r->when[4], 35);
    free(r);
    sim_destroy(sim);
}
END_TEST

static void stopper(sim_t *sim, void *opaque, uint64_t arg)
{
    record(sim, opaque, arg);
    if (arg == 2)
        sim_stop(sim);
}

START_TEST(test_stop)
{
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();

    for (unsigned i = 1; i <= 4; i++)
        sim_schedule(sim, i * 10, stopper, r, i);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 2);
    ck_assert_uint_eq(sim_now(sim), 20);
    ck_assert_uint_eq(sim_events_pending(sim), 2);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 2);
    ck_assert_uint_eq(sim_now(sim), 40);
    ck_assert_uint_eq(r->n, 4);
    free(r);
    sim_destroy(sim);
}
END_TEST

typedef struct chain {
    rec_t *r;
    sim_event_id_t victim;
    int victim_cancelled;
} chain_t;

/* Reschedules itself 99 times 5 ps apart; at arg 50 it also schedules a
 * zero-delay event, which must run after events already queued for now. */
static void chain_fn(sim_t *sim, void *opaque, uint64_t arg)
{
    chain_t *c = opaque;

    record(sim, c->r, arg);
    if (arg == 50) {
        sim_schedule(sim, 0, record, c->r, 1000);
        c->victim_cancelled = sim_cancel(sim, c->victim);
    }
    if (arg < 99)
        sim_schedule(sim, 5, chain_fn, c, arg + 1);
}

START_TEST(test_schedule_from_handler)
{
    sim_t *sim = sim_create(NULL);
    chain_t c = {.r = rec_new()};

    sim_schedule(sim, 0, chain_fn, &c, 0);
    /* Same time as arg 50 (t = 250), queued before it. */
    sim_schedule_at(sim, 250, record, c.r, 2000);
    c.victim = sim_schedule_at(sim, 400, record, c.r, 3000);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_int_eq(c.victim_cancelled, 1);
    ck_assert_uint_eq(c.r->n, 102);
    /* 0..49, 2000 at 250 (queued earlier), 50, then 1000 (zero delay) */
    size_t k = 0;
    for (unsigned i = 0; i < 50; i++, k++)
        ck_assert_uint_eq(c.r->arg[k], i);
    ck_assert_uint_eq(c.r->arg[k++], 2000);
    ck_assert_uint_eq(c.r->arg[k++], 50);
    ck_assert_uint_eq(c.r->arg[k], 1000);
    ck_assert_uint_eq(c.r->when[k++], 250);
    for (unsigned i = 51; i < 100; i++, k++) {
        ck_assert_uint_eq(c.r->arg[k], i);
        ck_assert_uint_eq(c.r->when[k], i * 5);
    }
    ck_assert_uint_eq(sim_events_run(sim), 102);
    free(c.r);
    sim_destroy(sim);
}
END_TEST

typedef struct ref {
    sim_time_t t;
    uint64_t seq;
} ref_t;

static int ref_cmp(const void *a, const void *b)
{
    const ref_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* 100k events at random times (many ties), 20% cancelled at random; the run
 * order must equal the (time, insertion) sort of the survivors. */
START_TEST(test_random_stress)
{
    enum { N = 100000 };
    sim_t *sim = sim_create(NULL);
    rec_t *r = rec_new();
    ref_t *ref = malloc(N * sizeof(*ref));
    sim_event_id_t *ids = malloc(N * sizeof(*ids));
    bool *dead = calloc(N, sizeof(*dead));
    sim_rng_t rng;
    size_t nref = 0;

    sim_rng_seed(&rng, 12345, "stress");
    for (uint64_t i = 0; i < N; i++) {
        sim_time_t t = sim_rng_below(&rng, 50000);
        ids[i] = sim_schedule_at(sim, t, record, r, i);
        ck_assert_uint_ne(ids[i], 0);
        ref[i].t = t;
        ref[i].seq = i;
    }
    for (unsigned k = 0; k < N / 5; k++) {
        uint64_t i = sim_rng_below(&rng, N);
        bool was = dead[i];
        ck_assert_int_eq(sim_cancel(sim, ids[i]), !was);
        dead[i] = true;
    }
    for (uint64_t i = 0; i < N; i++)
        if (!dead[i])
            ref[nref++] = ref[i];
    qsort(ref, nref, sizeof(*ref), ref_cmp);
    ck_assert_uint_eq(sim_events_pending(sim), nref);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), nref);
    ck_assert_uint_eq(r->n, nref);
    for (size_t k = 0; k < nref; k++) {
        ck_assert_uint_eq(r->arg[k], ref[k].seq);
        ck_assert_uint_eq(r->when[k], ref[k].t);
    }
    free(ref);
    free(ids);
    free(dead);
    free(r);
    sim_destroy(sim);
}
END_TEST

/* Steady state: after warm-up, slots are recycled (handles keep distinct
 * generations) and the counters stay right. */
static void churn(sim_t *sim, void *opaque, uint64_t arg)
{
    uint64_t *left = opaque;
    if (*left > 0) {
        (*left)--;
        sim_schedule(sim, 1 + arg % 97, churn, opaque,
                     arg * 6364136223846793005ull + 1);
    }
}

START_TEST(test_counters_steady_state)
{
    sim_t *sim = sim_create(NULL);
    uint64_t left = 100000;

    for (unsigned i = 0; i < 1000; i++)
        sim_schedule(sim, i, churn, &left, i);
    ck_assert_uint_eq(sim_events_pending(sim), 1000);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(sim_events_run(sim), 101000);
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    ck_assert_uint_eq(left, 0);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_null_handler)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);

    ck_assert_ptr_eq(sim_log(sim), &log);
    ck_assert_uint_eq(sim_schedule(sim, 1, NULL, NULL, 0), 0);
    ck_assert_uint_eq(log.errors, 1);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "NULL"));
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    sim_destroy(sim);
}
END_TEST

/* Work held outside events (sim_work_hold) with no event left: the run
 * returns at once instead of waiting; unholding more than was held stays
 * at 0; a daemon that cannot be scheduled counts as nothing. The limit
 * message is logged once however many events ask past it. */
START_TEST(test_hold_daemon_limit_edges)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_work_hold(sim);
    ck_assert_uint_eq(sim_work_pending(sim), 1);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 0);
    sim_work_unhold(sim);
    sim_work_unhold(sim);
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    ck_assert_uint_eq(sim_schedule_daemon(sim, 1, NULL, NULL, 0), 0);
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    ck_assert_uint_eq(log.errors, 1);

    ck_assert_uint_eq(sim_schedule_at(sim, SIM_TIME_LIMIT, record, NULL, 0), 0);
    ck_assert_uint_eq(sim_schedule_at(sim, SIM_TIME_LIMIT + 5, record, NULL, 0),
                      0);
    ck_assert_uint_eq(log.errors, 2);
    ck_assert(sim_past_limit(sim));
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 0);
    sim_destroy(sim);
    sim_destroy(NULL);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_order_by_time);
    tcase_add_test(tc, test_ties_in_insertion_order);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_cancel_many);
    tcase_add_test(tc, test_run_until);
    tcase_add_test(tc, test_stop);
    tcase_add_test(tc, test_schedule_from_handler);
    tcase_add_test(tc, test_random_stress);
    tcase_add_test(tc, test_counters_steady_state);
    tcase_add_test(tc, test_null_handler);
    tcase_add_test(tc, test_hold_daemon_limit_edges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(engine_suite());
}
