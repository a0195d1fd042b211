/*
 * tests/sim/test_engine_seq.c - the engine's sequence-number renumbering.
 *
 * The engine packs the insertion sequence number into 40 bits of each heap
 * entry and renumbers the pending events when it runs out. This suite
 * compiles the engine with 11-bit sequence numbers, so renumbering happens
 * every ~1500 events, and checks that order, ties and cancellation survive.
 */
#define SIM_ENGINE_SEQ_BITS 11
#include "sim/engine.c"

#include <check.h>

#include "sim/rng.h"
#include "tests/check_run.h"

#define N 20000

typedef struct order {
    size_t n;
    uint64_t idx[4 * N];
    sim_time_t when[4 * N];
    uint64_t next_idx; /* insertion index of the next event */
    sim_rng_t rng;
    uint64_t budget;
} order_t;

/* Record the event; while budget lasts, schedule more at random small
 * delays (many ties), each tagged with its insertion index; the number
 * pending is held between ~300 and 600 (well below 2^SEQ_BITS). */
static void step_fn(sim_t *sim, void *opaque, uint64_t arg)
{
    order_t *o = opaque;

    ck_assert_uint_lt(o->n, 4 * N);
    o->idx[o->n] = arg;
    o->when[o->n] = sim_now(sim);
    o->n++;
    size_t pending = sim_events_pending(sim);
    unsigned k = pending < 300   ? 2
                 : pending > 600 ? 0
                                 : (unsigned)sim_rng_below(&o->rng, 3);
    for (unsigned i = 0; i < k && o->budget > 0; i++, o->budget--)
        sim_schedule(sim, sim_rng_below(&o->rng, 4), step_fn, o, o->next_idx++);
}

START_TEST(test_dynamic_order_across_renumbering)
{
    sim_t *sim = sim_create(NULL);
    order_t *o = calloc(1, sizeof(*o));

    sim_rng_seed(&o->rng, 7, "seq");
    o->budget = 3 * N;
    for (unsigned i = 0; i < 500; i++)
        sim_schedule(sim, sim_rng_below(&o->rng, 4), step_fn, o, o->next_idx++);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(o->n, o->next_idx);
    ck_assert_uint_gt(o->n, 10 * (1u << SIM_ENGINE_SEQ_BITS));
    /* Times never decrease; equal times run in insertion order. */
    for (size_t k = 1; k < o->n; k++) {
        ck_assert_uint_le(o->when[k - 1], o->when[k]);
        if (o->when[k - 1] == o->when[k])
            ck_assert_uint_lt(o->idx[k - 1], o->idx[k]);
    }
    free(o);
    sim_destroy(sim);
}
END_TEST

static void count_fn(sim_t *sim, void *opaque, uint64_t arg)
{
    uint64_t *seen = opaque;
    ck_assert_uint_eq(seen[arg], 0);
    seen[arg] = sim_now(sim) + 1;
}

/* Handles taken before a renumbering still cancel the right events, and
 * stale handles stay stale. */
START_TEST(test_handles_survive_renumbering)
{
    sim_t *sim = sim_create(NULL);
    static uint64_t seen[N];
    static sim_event_id_t ids[N];

    memset(seen, 0, sizeof(seen));
    for (uint64_t i = 0; i < N; i++) {
        ids[i] = sim_schedule(sim, 5000, count_fn, seen, i);
        ck_assert_uint_ne(ids[i], 0);
        if (i >= 100 && (i - 100) % 3 == 0)
            ck_assert(sim_cancel(sim, ids[i - 100]));
        if (i >= 600 && i % 3 != 0)
            ck_assert(sim_step(sim)); /* keeps ~500 pending, below 2^11 */
        ck_assert_uint_lt(sim_events_pending(sim), 700);
    }
    sim_run(sim, SIM_TIME_MAX);
    for (uint64_t i = 0; i < N; i++) {
        if (i + 100 < N && i % 3 == 0)
            ck_assert_uint_eq(seen[i], 0);
        else
            ck_assert_uint_ne(seen[i], 0);
        ck_assert(!sim_cancel(sim, ids[i]));
    }
    sim_destroy(sim);
}
END_TEST

typedef struct chain {
    uint64_t n, max;
    sim_time_t last;
} chain_t;

/* Each event schedules the next one 1 ps later: one event pending, so a
 * renumbering finds a heap with no live entry but the one being added. */
static void chain_fn(sim_t *sim, void *opaque, uint64_t arg)
{
    chain_t *c = opaque;
    ck_assert_uint_eq(arg, c->n);
    ck_assert_uint_eq(sim_now(sim), c->n);
    c->n++;
    if (c->n < c->max)
        sim_schedule(sim, 1, chain_fn, c, c->n);
}

START_TEST(test_renumber_near_empty)
{
    sim_t *sim = sim_create(NULL);
    chain_t c = {.max = 4 << SIM_ENGINE_SEQ_BITS};
    sim_schedule(sim, 0, chain_fn, &c, 0);
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), c.max);
    ck_assert_uint_eq(c.n, c.max);
    ck_assert_uint_eq(sim_now(sim), c.max - 1);
    sim_destroy(sim);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_seq");
    TCase *tc = tcase_create("renumber");
    tcase_add_test(tc, test_dynamic_order_across_renumbering);
    tcase_add_test(tc, test_handles_survive_renumbering);
    tcase_add_test(tc, test_renumber_near_empty);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
