/*
 * tests/ioasid/test_vmm_guest.c - the VMM, the guest's queues and the host
 * concurrency held against the real systems they model (docs/model.md,
 * "Host" and "The virtualised path"), one rule per test, each naming its
 * source:
 *   a. the guest page request queue is bounded (guest.queue_depth, one
 *      entry unused) and a group it refuses is answered Success at once
 *      (QEMU hw/i386/intel_iommu.c vtd_pri_request_page; the relay of
 *      "intel_iommu: Enable PRQ support for passthrough device");
 *   b. the VMM's fault thread wakes as eventfd(2) says: once per 0 ->
 *      non-zero transition of the counter while it sleeps in poll();
 *   c. host.nested_faults = linux: every group of a nested domain goes to
 *      the FAULT object (drivers/iommu/iommufd/fault.c:
 *      iommufd_fault_iopf_handler), a stage-2 problem is fixed by the VMM;
 *   d. the iopf workqueue is unbound, a worker per host CPU (io-pgfault.c:
 *      iopf_queue_alloc, alloc_workqueue(..., WQ_UNBOUND, 0)), and a
 *      worker stays busy until its response's wait descriptor completes
 *      (intel/prq.c intel_iommu_page_response -> qi_submit_sync).
 * Expected values come from the configuration (fixed distributions).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

static sim_gauge_t *gauge(pfx_t *h, const char *name)
{
    sim_gauge_t *g = sim_stats_find_gauge(platform_stats(h->p), name);
    ck_assert_msg(g != NULL, "no gauge %s", name);
    return g;
}

/* Every delay on the path fixed (distinct values). */
static const char *const fixed_sets[] = {
    "device.proc=50",        "host.irq_latency=2000",
    "host.prq_desc=200",     "host.iopf=3000",
    "host.mm_minor=1000",    "host.qi_submit=200",
    "ioasid.report=2100",    "vmm.wake=5000",
    "vmm.read=1100",         "vmm.route=1200",
    "vmm.lookup=300",        "vmm.inject=3100",
    "vmm.exit=9500",         "vmm.complete=2050",
    "guest.halt_wake=10000", "guest.irq=1300",
    "guest.handler=1400",    "guest.mm_minor=1050",
    "guest.respond=450",     NULL};

/* ------------------------------------------ a. bounded guest queue */

START_TEST(test_guest_queue_full_answers_success)
{
    enum { N = 12, DEPTH = 4 };
    /* A slow guest handler, so that the queue fills behind it. */
    const char *sets[] = {"vm.devices=1",           "guest.queue_depth=4",
                          "guest.handler=200us",    "device.pri_retries=64",
                          "device.pri_capacity=64", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    ck_assert_uint_eq(h->pc.virt.queue_depth, DEPTH);
    trace_record_t r[1 + N];
    size_t n = 0;
    r[n++] = rmap(0, 0, 1, BASE, N * 0x1000, PERM_RW, false);
    for (unsigned i = 0; i < N; i++) /* simultaneous faults, one page each */
        r[n++] = rdma(1 * US, 0, 1, BASE + i * 0x1000, 64, false);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
    uint64_t full = ctr(h, "vmm.guest_queue_full");
    /* QEMU vtd_pri_request_page: full when (tail + 1) % size == head, so
     * at most DEPTH - 1 entries are ever queued. */
    ck_assert_uint_gt(full, 0);
    ck_assert_double_eq(gauge(h, "guest.viommu_queue.occupancy")->max,
                        (double)(DEPTH - 1));
    /* Every record read is injected or refused. */
    ck_assert_uint_eq(ctr(h, "vmm.injected") + full, ctr(h, "vmm.records"));
    /* A refused group is answered Success through the FAULT object (the
     * relay writes SUCCESS for its cookie): the device retries, so every
     * access completes and nothing is answered Invalid. */
    ck_assert_uint_eq(ctr(h, "ioasid.responses"), ctr(h, "ioasid.faults"));
    ck_assert_uint_eq(ctr(h, "ioasid.resp_unknown"), 0);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 0);
    ck_assert_uint_eq(ctr(h, "device0.pri.resp_success"),
                      ctr(h, "ioasid.faults"));
    /* Only the groups the guest took went through it. */
    ck_assert_uint_eq(stage(h, PLATFORM_STAGE_GUEST)->count,
                      ctr(h, "vmm.injected"));
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas_done, N);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------- b. eventfd wake-ups */

/*
 * Three faults A, B, C of one device, spaced so that B's record arrives
 * while the VMM thread is busy with A (after A's wake-up, before A's
 * injection) and C's after the thread went back to sleep but before B's
 * arrival + vmm.wake. eventfd(2): B's write finds the thread running, it
 * only sets the counter, and the thread reads B before sleeping; C's write
 * wakes the sleeping thread, which runs vmm.wake later. So A and C each
 * spend exactly wake + read + route + inject in the `vmm` stage, and B
 * waits for A's remainder, then read + route + inject. A wake-up left
 * over from B would make C's stage shorter than vmm.wake.
 */
START_TEST(test_vmm_wake_eventfd_semantics)
{
    const char *sets[] = {"vm.devices=1", "vmm.wake=40us", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    const sim_time_t W = fixed_value(&v->wake), R = fixed_value(&v->read),
                     S = fixed_value(&v->route) + fixed_value(&v->inject);
    const sim_time_t t0 = 10 * US, dB = W + R + S / 2, dC = W + 3 * (R + S);
    /* B arrives while A is served; C after the thread slept, before the
     * wake-up B would have scheduled. */
    ck_assert(dB > W && dB < W + R + S);
    ck_assert(dC > W + 2 * (R + S) && dC < dB + W);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rmap(0, 0, 1, BASE + 0x10000, 0x3000, PERM_RW, false),
        /* warms the context and PASID caches: the three faults then
         * take the same path time from their DMA to their record */
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdma(t0, 0, 1, BASE + 0x10000, 64, false),
        rdma(t0 + dB, 0, 1, BASE + 0x11000, 64, false),
        rdma(t0 + dC, 0, 1, BASE + 0x12000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 3);
    ck_assert_uint_eq(ctr(h, "vmm.records"), 3);
    /* Two wake-ups (A, C) and two reads for B's record: A's and B's. */
    ck_assert_uint_eq(ctr(h, "ioasid.eventfd.signals"), 3);
    ck_assert_uint_eq(ctr(h, "vmm.reads"), 3);
    sim_hist_t *vs = stage(h, PLATFORM_STAGE_VMM);
    ck_assert_uint_eq(vs->count, 3);
    const sim_time_t full = W + R + S;
    ck_assert_uint_eq(vs->max, full);
    /* B's stage: A's injection at (A's record) + W + R + S, then R + S;
     * its record comes dB after A's, within the few walk reads by which
     * the three fault paths may differ (paging-structure caches). */
    const sim_time_t b = full + R + S - dB;
    const double slack = 2.0 * US;
    double sum = vs->sum, want = 2.0 * (double)full + (double)b;
    ck_assert_msg(sum > want - slack && sum < want + slack,
                  "vmm stage total %.0f ps, expected %.0f ps (A = C = %llu, "
                  "B = %llu): a wake-up left from B shortens C",
                  sum, want, (unsigned long long)full, (unsigned long long)b);
    ck_assert_uint_ge(vs->min, R + S);
    pfx_free(h);
}
END_TEST

/* -------------------------------------- c. Linux nested fault routing */

/*
 * A guest page the guest's stage 1 maps (a present mapping) but the host
 * has not backed (vm.s2_on_demand): a stage-2 fault.
 * linux: the host does not look inside the guest, the group goes to the
 * FAULT object, the guest finds nothing to fix and answers Success, and
 * the VMM backs the page (vmm.s2_fix) before completing: vmm_exit = exit +
 * s2_fix + complete + qi_submit.
 * classify: the host's free walk of the guest's stage 1 sends it to the
 * iopf workers: host_fault = iopf + mm_minor + qi_submit.
 * The guest's page tables are on demand too (their first use is a
 * stage-2 fault on a table access), and the same round trip backs their
 * chunk (one 2 MiB leaf at vm.s2_page = 1G): two stage-2 pages, so twice
 * s2_fix (linux) or mm_minor (classify); tests/ioasid/test_nested_rest.c
 * has the general count.
 */
START_TEST(test_nested_faults_routing)
{
    const bool linux = _i == 0;
    const char *sets[] = {
        "vm.devices=1", "vm.s2_on_demand=true", "vmm.s2_fix=4700",
        linux ? "host.nested_faults=linux" : "host.nested_faults=classify",
        NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x40, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "fault.closed"), 1);
    const uint64_t fills = 2; /* the tables' chunk and the data page */
    ck_assert_uint_eq(ctr(h, "vm.s2_faults"), fills);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 0); /* stage 1 fine */
    check_s2_fix_round_trip(h, linux, fills);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------- d. host concurrency */

/* n simultaneous native faults on distinct absent pages. */
static pfx_t *native_burst(const char *const *sets, unsigned n)
{
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t *r = calloc(n + 1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r[0] = rmap(0, 0, 1, BASE, n * 0x1000, PERM_RW, false);
    for (unsigned i = 0; i < n; i++)
        r[1 + i] = rdma(1 * US, 0, 1, BASE + i * 0x1000, 64, false);
    ck_assert_int_eq(pfx_run(h, r, n + 1), PLATFORM_OK);
    free(r);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), n);
    return h;
}

/* Default: one worker per host CPU (unbound workqueue), so a burst of no
 * more groups than CPUs never waits for a worker. */
START_TEST(test_iopf_workers_per_cpu)
{
    const char *sets[] = {"device.pri_capacity=64", NULL};
    pfx_t *h = native_burst(sets, 8);
    ck_assert_uint_eq(ctr(h, "host.iopf_workers.arrivals"), 8);
    ck_assert_uint_eq(hist(h, "host.iopf_workers.wait")->max, 0);
    ck_assert_uint_eq(h->pc.host.cpus, 8);
    ck_assert_double_eq(gauge(h, "host.iopf_workers.busy")->max, 8.0);
    pfx_free(h);
}
END_TEST

/* One CPU, two groups reported prq_desc apart: the second waits for the
 * first's work and for its response's qi_submit_sync (the page group
 * response and the wait descriptor processed by the IOMMU: VT-d,
 * iommu.qi_page_resp + iommu.qi_wait). */
START_TEST(test_iopf_worker_held_until_wait)
{
    const char *sets[] = {"host.cpus=1", "iommu.arch=vtd",
                          "device.pri_capacity=64", NULL};
    pfx_t *h = native_burst(sets, 2);
    const ioasid_host_cfg_t *hc = &h->pc.host;
    const iommu_cfg_t *u = &h->pc.iommu;
    sim_time_t work = fixed_value(&hc->iopf) + fixed_value(&hc->mm_minor) +
                      fixed_value(&hc->qi_submit);
    sim_hist_t *w = hist(h, "host.iopf_workers.wait");
    ck_assert_uint_eq(w->count, 2);
    ck_assert_uint_eq(w->min, 0);
    ck_assert_uint_eq(w->max, work + u->qi_page_resp + u->qi_wait -
                                  fixed_value(&hc->prq_desc));
    pfx_free(h);
}
END_TEST

static Suite *vmm_guest_suite(void)
{
    Suite *s = suite_create("vmm_guest");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_guest_queue_full_answers_success);
    tcase_add_test(tc, test_vmm_wake_eventfd_semantics);
    tcase_add_loop_test(tc, test_nested_faults_routing, 0, 2);
    tcase_add_test(tc, test_iopf_workers_per_cpu);
    tcase_add_test(tc, test_iopf_worker_held_until_wait);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(vmm_guest_suite());
}
