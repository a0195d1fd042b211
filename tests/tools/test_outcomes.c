/*
 * tests/tools/test_outcomes.c - what a run's numbers mean (issue 10,
 * "numbers users can trust"), on a whole machine (tests/platform_fixture.h):
 *
 *  - fault outcomes: a resolved fault is a page request group answered
 *    Success by software whose retry then succeeded (or faulted on the
 *    next stage of a nested fault, which is a fault of its own). A hardware
 *    auto-response (VT-d 7.4.1: a Page Group Response with Success for a
 *    request dropped on PRQ overflow; SMMUv3 8.1 as this model reads it)
 *    resolves nothing: PCIe r4.0 10.4.2.1 makes the device re-issue its
 *    translation request, which faults again while the page is still
 *    absent. Auto-responded groups, re-faults after them and failed groups
 *    are counted apart, and the count of resolved faults does not depend
 *    on the PRQ's depth;
 *  - the end of a run: work queued on a server keeps a run alive, and a
 *    run that ends with work outstanding is an error (docs/model.md, "The
 *    end of a run": exit status 1, run.complete = 0), never success;
 *  - saturation: the replay reads the trace only as far as the model
 *    needs (run.dma_queue, docs/trace-format.md "Read-ahead"), so the DMAs
 *    a device holds stay under device.tags + run.dma_queue whatever the
 *    trace's rate, and a single device's schedule is the one it would have
 *    had with unbounded read-ahead (its queue is FIFO).
 */
#include <check.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

#define VA 0x7f0000000000ull

static platform_summary_t summary(pfx_t *h)
{
    platform_summary_t s;
    platform_summarize(h->p, &s);
    return s;
}

static sim_gauge_t *gauge(pfx_t *h, const char *name)
{
    sim_gauge_t *g = sim_stats_find_gauge(platform_stats(h->p), name);
    ck_assert_msg(g != NULL, "no gauge %s", name);
    return g;
}

/* ------------------------------------------------------ fault outcomes */

/*
 * N DMAs, each to its own absent page, 50 ns apart: each needs exactly one
 * fault resolved by the host (one page per group, device.fault_ahead = 1),
 * whatever the PRQ's depth. With a 4-entry PRQ the burst overflows it:
 * VT-d 7.4.1 answers each dropped last request Success in hardware; the
 * device re-issues its translation request (PCIe r4.0 10.4.2.1), which
 * faults again because nobody populated the page. Those groups are
 * auto-responded and re-faulted, not resolved: the count of resolved
 * faults stays N, and every group is in exactly one outcome.
 */
static void burst_outcomes(const char *arch, const char *depth, bool overflows)
{
    enum { N = 200 };
    const char *sets[] = {arch,
                          depth,
                          "device.pri_capacity=64",
                          "device.pri_alloc=64",
                          "device.pri_retries=100000",
                          NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t recs[N + 1];
    recs[0] = rmap(0, 0, 1, VA, (uint64_t)N * 4096, PERM_RW, false);
    for (unsigned i = 0; i < N; i++)
        recs[i + 1] = rdma(100 * SIM_NS + i * 50 * SIM_NS, 0, 1,
                           VA + i * 4096ull, 64, false);
    ck_assert_int_eq(pfx_run(h, recs, N + 1), PLATFORM_OK);
    platform_summary_t s = summary(h);
    ck_assert_uint_eq(s.dmas_done, N);

    uint64_t hw_auto = ctr(h, "iommu.prq.auto_responded");
    /* The small PRQ really overflows (so the test tests something). */
    if (overflows)
        ck_assert_uint_gt(hw_auto, N / 10);
    else
        ck_assert_uint_eq(hw_auto, 0);
    ck_assert_msg(s.faults_resolved == N,
                  "%s %s: %llu faults resolved for %d faulting pages "
                  "(%llu hardware auto-responses)",
                  arch, depth, (unsigned long long)s.faults_resolved, N,
                  (unsigned long long)hw_auto);
    ck_assert_uint_eq(ctr(h, "fault.closed"), N);
    ck_assert_uint_eq(hist(h, "fault.e2e")->count, N);
    /* One page per group: one auto-response per auto-responded group;
     * the page is still absent, so each one's retry faults again. */
    ck_assert_uint_eq(s.faults_auto, hw_auto);
    ck_assert_uint_eq(ctr(h, "fault.auto_responded"), hw_auto);
    ck_assert_uint_eq(s.faults_auto_refaulted, hw_auto);
    ck_assert_uint_eq(s.faults_refaulted, 0);
    ck_assert_uint_eq(s.faults_failed, 0);
    /* Every group in exactly one outcome, none left open. */
    ck_assert_uint_eq(ctr(h, "fault.opened"),
                      s.faults_resolved + s.faults_auto + s.faults_failed);
    /* Throughput counts resolved faults only. */
    ck_assert_double_eq_tol(s.faults_per_sec,
                            (double)N / ((double)s.sim_time / (double)SIM_S),
                            1e-6);
    pfx_free(h);
}

START_TEST(test_auto_response_is_not_a_resolved_fault)
{
    /* A PRQ deep enough for the whole burst: no auto-response. */
    burst_outcomes("iommu.arch=vtd", "iommu.prq_depth=4096", false);
    /* A 4-entry PRQ (3 usable): it overflows. */
    burst_outcomes("iommu.arch=vtd", "iommu.prq_depth=4", true);
    /* SMMUv3 PRIQ overflow: the last request answered Success [I], the
     * same outcomes (SMMUv3 8.1, as iommu/prq.c models it). */
    burst_outcomes("iommu.arch=smmuv3", "iommu.prq_depth=4", true);
}
END_TEST

/* ---------------------------------------------------- the end of a run */

/*
 * A VM's guest with one vCPU kept busy by background work (fixed 200 us
 * jobs at 90 % load): the fault's guest job queues behind a background job
 * and no non-daemon event exists until that job ends. The run must go on
 * until the DMA is done: DMAs 1 (done 1), nothing in flight, status OK.
 */
START_TEST(test_queued_guest_job_keeps_run_alive)
{
    const char *sets[] = {"vm.devices=1", "guest.vcpus=1",
                          "guest.background=0.9", "guest.bg_job=fixed(200us)",
                          NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t recs[] = {
        rmap(0, 0, 1, VA, 64 * 1024, PERM_RW, false),
        rdma(100 * SIM_NS, 0, 1, VA, 64, false),
    };
    int rc = pfx_run(h, recs, 2);
    platform_summary_t s = summary(h);
    ck_assert_msg(
        s.dmas_done == 1,
        "the run ended at %.3f us with the DMA not done "
        "(done %llu, failed %llu, page requests in flight %llu)",
        (double)s.sim_time / (double)SIM_US, (unsigned long long)s.dmas_done,
        (unsigned long long)s.dmas_failed, (unsigned long long)s.pr_in_flight);
    ck_assert_int_eq(rc, PLATFORM_OK);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    ck_assert(s.complete);
    /* The guest job waited for the background job in service. */
    ck_assert_uint_ge(ctr(h, "guest.background_jobs"), 1);
    pfx_free(h);
}
END_TEST

/* A root complex that loses every message to the devices. */
static void lose_down(void *opaque, uint16_t rid, const pcie_msg_t *m)
{
    (void)opaque, (void)rid, (void)m;
}

/*
 * Work outstanding for any other reason: here the translation completion
 * never reaches the device, so the DMA can neither finish nor fail and no
 * event is left. The run must say so (an error logged, the summary and
 * run.complete) and fail with PLATFORM_SIM_ERROR, the CLI's exit status 1
 * (docs/model.md, "The end of a run"), never PLATFORM_OK.
 */
START_TEST(test_outstanding_work_is_an_error)
{
    const char *sets[] = {NULL};
    pfx_t *h = pfx_new(sets);
    iommu_set_downstream(platform_iommu(h->p), lose_down, NULL);
    trace_record_t recs[] = {
        rmap(0, 0, 1, VA, 64 * 1024, PERM_RW, true),
        rdma(100 * SIM_NS, 0, 1, VA, 64, false),
        rdma(200 * SIM_NS, 0, 1, VA + 4096, 64, false),
    };
    unsigned errors = h->log.errors;
    int rc = pfx_run(h, recs, 3);
    ck_assert_int_eq(rc, PLATFORM_SIM_ERROR);
    ck_assert_uint_gt(h->log.errors, errors);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&h->log),
                                 "work outstanding: 2 DMA(s) not finished"));
    platform_summary_t s = summary(h);
    ck_assert(!s.complete);
    ck_assert_uint_eq(s.dmas_unfinished, 2);
    ck_assert_uint_eq(s.dmas, 2);
    ck_assert_uint_eq(s.dmas_done + s.dmas_failed, 0);
    pfx_free(h);
}
END_TEST

/* The same machine stopped by run.max_time: outstanding work is expected
 * there (the user cut the run), so the run is complete. */
START_TEST(test_max_time_cut_is_not_an_error)
{
    const char *sets[] = {"run.max_time=1us", NULL};
    pfx_t *h = pfx_new(sets);
    iommu_set_downstream(platform_iommu(h->p), lose_down, NULL);
    trace_record_t recs[] = {
        rmap(0, 0, 1, VA, 64 * 1024, PERM_RW, true),
        rdma(100 * SIM_NS, 0, 1, VA, 64, false),
        rdma(2 * SIM_US, 0, 1, VA + 4096, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, 3), PLATFORM_OK);
    ck_assert(summary(h).complete);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------------------------ read-ahead */

/* Records made on the fly: a saturating stream of 64 KiB reads, one every
 * `gap` ps, on present memory. On each read of a record, the most DMAs
 * the device held (from the device's own totals) is noted. */
typedef struct flood {
    pfx_t *h;
    uint64_t n, i;
    sim_time_t gap;
    uint64_t peak;
} flood_t;

static int flood_next(void *src, trace_record_t *rec)
{
    flood_t *f = src;
    pcie_dev_totals_t t;
    pcie_dev_totals(platform_device(f->h->p, 0), &t);
    if (t.in_flight > f->peak)
        f->peak = t.in_flight;
    if (f->i > f->n)
        return 0;
    if (f->i == 0)
        *rec = rmap(0, 0, 1, VA, 64ull << 20, PERM_RW, true);
    else
        *rec = rdma(f->i * f->gap, 0, 1, VA + ((f->i * 65536) & 0x3ffffff),
                    65536, false);
    rec->line = ++f->i;
    return 1;
}

static flood_t flood_run(const char *dma_queue, uint64_t n, int *rc,
                         sim_time_t *end, uint64_t *held_max)
{
    const char *sets[] = {"device.tags=8", dma_queue, NULL};
    pfx_t *h = pfx_new(sets);
    flood_t f = {.h = h, .n = n, .gap = SIM_NS};
    platform_source_t src = {flood_next, &f, "flood"};
    *rc = platform_run(h->p, &src, 1);
    platform_summary_t s = summary(h);
    ck_assert_uint_eq(s.dmas, n);
    ck_assert_uint_eq(s.dmas_done, n);
    *end = s.sim_time;
    *held_max = (uint64_t)gauge(h, "trace.dmas_held")->max;
    pfx_free(h);
    return f;
}

/*
 * 64 KiB reads arriving every 1 ns, far faster than the link moves them:
 * with device.tags = 8 and run.dma_queue = 16, the device never holds more
 * than 8 + 16 DMAs, whatever the trace's length; and the run ends exactly
 * when the same trace ends with unbounded read-ahead (run.dma_queue larger
 * than the trace): one device's FIFO schedule does not change.
 */
START_TEST(test_saturated_replay_is_bounded)
{
    const uint64_t tags = 8, queue = 16, n = 3000;
    int rc;
    sim_time_t end, end_unbounded;
    uint64_t held, held_unbounded;
    flood_t f = flood_run("run.dma_queue=16", n, &rc, &end, &held);
    ck_assert_int_eq(rc, PLATFORM_OK);
    ck_assert_msg(
        f.peak <= tags + queue, "the device held %llu DMAs; the bound is %llu",
        (unsigned long long)f.peak, (unsigned long long)(tags + queue));
    ck_assert_uint_le(held, tags + queue);
    ck_assert_uint_eq(held, tags + queue); /* saturated: it reaches it */

    flood_t u = flood_run("run.dma_queue=1000000", n, &rc, &end_unbounded,
                          &held_unbounded);
    ck_assert_int_eq(rc, PLATFORM_OK);
    /* Unbounded, the backlog grows with the trace. */
    ck_assert_uint_gt(u.peak, 10 * (tags + queue));
    ck_assert_uint_eq(end, end_unbounded);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("outcomes");
    TCase *tc = tcase_create("faults");
    tcase_add_test(tc, test_auto_response_is_not_a_resolved_fault);
    suite_add_tcase(s, tc);
    tc = tcase_create("end");
    tcase_add_test(tc, test_queued_guest_job_keeps_run_alive);
    tcase_add_test(tc, test_outstanding_work_is_an_error);
    tcase_add_test(tc, test_max_time_cut_is_not_an_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("readahead");
    tcase_add_test(tc, test_saturated_replay_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
