/*
 * tests/sim/test_work.c - what keeps a run alive (sim/engine.h,
 * sim/server.h): a real job queued on a server behind background (daemon)
 * work is pending work, so the run goes on until it is served.
 *
 * The rule under test is the contract of sim_run and sim_work_pending in
 * sim/engine.h ("run events until none is pending, or only daemon
 * events are": daemons alone never keep a run alive, real work always
 * does) and the exit status docs/model.md defines on it ("a run that ends
 * with work outstanding exits 1"): a run must not end with a real job still
 * waiting in a queue. Expected times come from the fixed service times
 * given to the jobs.
 */
#include <check.h>

#include "tests/check_run.h"

#include "sim/sim.h"

typedef struct obs {
    unsigned real_done;
    sim_time_t real_at;
    unsigned bg_done;
} obs_t;

static int g_real;

static void done(sim_t *sim, void *opaque, void *job)
{
    obs_t *o = opaque;
    if (job == &g_real) {
        o->real_done++;
        o->real_at = sim_now(sim);
    } else {
        o->bg_done++;
    }
}

/* A background load generator: a daemon that submits background work
 * every `arg` ps while real work is pending (as the guest's load does). */
typedef struct bg {
    sim_server_t *srv;
    sim_time_t job, every;
    unsigned submitted;
} bg_t;

static void ev_bg(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    bg_t *b = opaque;
    if (sim_work_pending(sim) == 0)
        return;
    b->submitted++;
    sim_server_submit_daemon(b->srv, &b->submitted, b->job);
    sim_schedule_daemon(sim, b->every, ev_bg, b, 0);
}

static void ev_submit_real(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    sim_server_submit_time(opaque, &g_real, (sim_time_t)arg);
}

/* One server busy with background work when a real job arrives: the job
 * waits in the queue, and no non-daemon event exists until the background
 * job ends. The run must serve it: it ends at bg + real service. */
START_TEST(test_queued_job_keeps_run_alive)
{
    sim_t *sim = sim_create(NULL);
    obs_t o = {0};
    sim_server_cfg_t cfg = {.name = "vcpu", .servers = 1};
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, NULL, done, &o);
    ck_assert_ptr_nonnull(srv);
    const sim_time_t bg_service = 200 * SIM_US, real_service = 3 * SIM_US;
    const sim_time_t arrive = 10 * SIM_NS;

    sim_schedule(sim, arrive, ev_submit_real, srv, real_service);
    /* Background work in service from t=0. */
    ck_assert(sim_server_submit_daemon(srv, &o, bg_service));
    sim_run(sim, SIM_TIME_MAX);

    ck_assert_msg(o.real_done == 1,
                  "the run ended at %llu ps with the real job still queued",
                  (unsigned long long)sim_now(sim));
    ck_assert_uint_eq(o.bg_done, 1);
    ck_assert_uint_eq(o.real_at, bg_service + real_service);
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    sim_server_destroy(srv);
    sim_destroy(sim);
}
END_TEST

/* While the real job waits, sim_work_pending counts it: a background
 * generator that runs only while work is pending keeps feeding the vCPU
 * (FIFO: the real job waits behind the background jobs queued before it),
 * and stops once the real job is done. */
START_TEST(test_pending_counts_queued_job)
{
    sim_t *sim = sim_create(NULL);
    obs_t o = {0};
    sim_server_cfg_t cfg = {.name = "vcpu", .servers = 1};
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, NULL, done, &o);
    const sim_time_t bg_service = 50 * SIM_US, real_service = SIM_US;
    bg_t b = {.srv = srv, .job = bg_service, .every = 40 * SIM_US};

    /* Real job at t=1 ns: background job 1 (t=0) is in service. */
    sim_schedule(sim, SIM_NS, ev_submit_real, srv, real_service);
    sim_schedule_daemon(sim, 0, ev_bg, &b, 0);
    sim_run(sim, 2 * SIM_NS);
    ck_assert_uint_eq(sim_server_queued(srv), 1);
    ck_assert_uint_ge(sim_work_pending(sim), 1);
    sim_run(sim, SIM_TIME_MAX);

    /* Background job 1 runs 0..50 us; job 2 arrives at 40 us, behind the
     * real job (queued at 1 ns), which is served right after job 1. */
    ck_assert_uint_eq(o.real_done, 1);
    ck_assert_uint_eq(o.real_at, bg_service + real_service);
    sim_server_destroy(srv);
    sim_destroy(sim);
}
END_TEST

/* A server held (sim_server_submit_held) with nothing that can release it
 * and a real job queued: nothing will ever serve the job, so it must not
 * keep daemons running for ever; the run ends and the job is still
 * queued, for the caller to report as outstanding. */
START_TEST(test_stuck_queue_does_not_hang)
{
    sim_t *sim = sim_create(NULL);
    obs_t o = {0};
    sim_server_cfg_t cfg = {.name = "vcpu", .servers = 1};
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, NULL, done, &o);
    bg_t b = {.srv = srv, .job = SIM_US, .every = SIM_US};
    static int held;

    ck_assert(sim_server_submit_held(srv, &held, SIM_US));
    ck_assert(sim_server_submit_time(srv, &g_real, SIM_US));
    sim_schedule_daemon(sim, 0, ev_bg, &b, 0);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(o.real_done, 0);
    ck_assert_uint_eq(sim_server_queued(srv), 1 + b.submitted);
    ck_assert_uint_lt(sim_now(sim), 10 * SIM_US);
    sim_server_destroy(srv);
    sim_destroy(sim);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("work");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_queued_job_keeps_run_alive);
    tcase_add_test(tc, test_pending_counts_queued_job);
    tcase_add_test(tc, test_stuck_queue_does_not_hang);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
