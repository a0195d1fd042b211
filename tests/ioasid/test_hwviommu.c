/*
 * tests/ioasid/test_hwviommu.c - vmm.routing = hwviommu, the hardware-
 * accelerated vIOMMU (AMD's HW-vIOMMU design: the guest's PPR log and
 * command buffer virtualized in the IOMMU; AMD I/O Virtualization
 * Technology (IOMMU) Specification #48882 rev 3.07, and Linux RFC
 * "iommu/amd: Introduce support for HW accelerated vIOMMU w/ nested page
 * table", Suravee Suthikulpanit, 2023-06-21; docs/model.md, "Hardware
 * vIOMMU"), through the whole platform with records from memory:
 *   a. one guest fault with every delay fixed, on amdvi and (a
 *      hypothetical) vtd and smmuv3: the IOMMU writes the request into the
 *      guest's PPR log (page_req), the guest's interrupt, handler, fix-up
 *      and COMPLETE_PPR_REQUEST (guest), the vIOMMU's processing of it and
 *      the link (response); no host_irq, host_fault, vmm or vmm_exit
 *      stage, and fault.e2e is the sum of the configured parts;
 *   b. the guest's PPR log overflowing (guest.ppr_log): on amdvi the
 *      request is discarded with no response (#48882 2.6.2, as Linux
 *      commit 274c2218 states it) and only the device's PRG timeout ends
 *      its DMA; the log takes requests again once the guest drained it
 *      (its driver restarts the log). On vtd the guest log follows VT-d's
 *      rule: an automatic Success, the device retries;
 *   c. a stage-2 fault (vm.s2_on_demand) still goes to the host's log and
 *      the host's workers, as any host fault.
 * The nested walks' table reads are taken from the run's own statistics,
 * as tests/ioasid/test_virt.c does (see its header).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

/* Every delay on the path fixed, each to a distinct value so that a delay
 * counted in the wrong stage shows. */
static const char *const fixed_sets[] = {"device.proc=50",
                                         "host.irq_latency=2000",
                                         "host.prq_desc=200",
                                         "host.iopf=3000",
                                         "host.mm_minor=1000",
                                         "host.qi_submit=200",
                                         "iommu.psc_hit=0",
                                         "ioasid.report=2100",
                                         "vmm.wake=5000",
                                         "vmm.exit=9500",
                                         "vmm.complete=2050",
                                         "guest.halt_wake=10000",
                                         "guest.irq=1300",
                                         "guest.handler=1400",
                                         "guest.mm_minor=1050",
                                         "guest.respond=450",
                                         "vm.devices=1",
                                         "vmm.routing=hwviommu",
                                         NULL};

static const char *const arch_names[] = {"vtd", "smmuv3", "amdvi"};

/* ------------------------------------------------- a. one fault, exact */

START_TEST(test_one_fault_exact)
{
    char arch[64];
    snprintf(arch, sizeof(arch), "iommu.arch=%s", arch_names[_i]);
    const char *sets[] = {arch, NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const sim_time_t t0 = 1 * US;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE + 0x3000, 0x1000, PERM_RW, false),
        rdma(t0, 0, 1, BASE + 0x3040, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "fault.closed"), 1);
    /* The request went to the guest's log, not the host's; no host
     * thread, FAULT object or VMM touched it. */
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.written"), 1);
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.interrupts"), 1);
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.completions"), 1);
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.host_faults"), 0);
    ck_assert_uint_eq(ctr(h, "iommu.prq.received"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.prq.written"), 0);
    ck_assert_uint_eq(ctr(h, "host.prq.interrupts"), 0);
    ck_assert_uint_eq(ctr(h, "host.prq.runs"), 0);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 0);
    ck_assert_uint_eq(ctr(h, "vmm.records"), 0);
    ck_assert_uint_eq(ctr(h, "iommu.prq.host_responses"), 0);
    ck_assert_uint_eq(ctr(h, "guest.halted_wakes"), 1);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 1);
    static const unsigned absent[] = {
        PLATFORM_STAGE_HOST_IRQ, PLATFORM_STAGE_HOST_FAULT, PLATFORM_STAGE_VMM,
        PLATFORM_STAGE_VMM_EXIT};
    for (unsigned i = 0; i < N_OF(absent); i++)
        ck_assert_msg(stage(h, absent[i])->count == 0, "stage %s recorded",
                      platform_stage_names[absent[i]]);

    const platform_cfg_t *pc = &h->pc;
    const pcie_link_cfg_t *l = &pc->link;
    const iommu_cfg_t *u = &pc->iommu;
    const ioasid_virt_cfg_t *v = &pc->virt;
    const uint8_t P = PCIE_F_PASID;
    sim_time_t proc = fixed_value(&pc->dev.proc);
    /* page_req: the device builds it, the link, the vIOMMU's write into
     * the guest's log (iommu.prq_write, as the host's log). */
    sim_time_t page_req = proc + hop(l, PCIE_MSG_PAGE_REQ, P, 0) + u->prq_write;
    /* guest: the guest's interrupt to halted vCPUs, the handler reading
     * the entry, one minor fix-up, COMPLETE_PPR_REQUEST written. */
    sim_time_t guest = fixed_value(&v->irq) + fixed_value(&v->halt_wake) +
                       fixed_value(&v->handler) + fixed_value(&v->mm_minor) +
                       fixed_value(&v->respond);
    /* response: the vIOMMU processes the command (iommu.qi_page_resp), the
     * PRG Response crosses the link. */
    sim_time_t response = u->qi_page_resp + hop(l, PCIE_MSG_PRG_RESP, P, 0);
    sim_time_t data = hop(l, PCIE_MSG_MEM_RD, PCIE_F_XLATED, 64) +
                      u->mem_access + hop(l, PCIE_MSG_MEM_CPL, 0, 64);
    const struct {
        unsigned k;
        sim_time_t want;
    } exact[] = {{PLATFORM_STAGE_PAGE_REQ, page_req},
                 {PLATFORM_STAGE_GUEST, guest},
                 {PLATFORM_STAGE_RESPONSE, response},
                 {PLATFORM_STAGE_DATA, data}};
    for (unsigned i = 0; i < N_OF(exact); i++) {
        sim_hist_t *s = stage(h, exact[i].k);
        ck_assert_uint_eq(s->count, 1);
        ck_assert_msg(s->min == exact[i].want, "%s: %llu ps, expected %llu",
                      platform_stage_names[exact[i].k],
                      (unsigned long long)s->min,
                      (unsigned long long)exact[i].want);
    }
    /* The translations (as test_virt.c): the failing nested walk after the
     * cold context path, and the retry's, with A/D writes (walk_read
     * each) on the retry when the architecture sets them. */
    sim_time_t ats_rt = proc + hop(l, PCIE_MSG_ATS_REQ, P, 0) + u->ctx_hit +
                        u->iotlb_hit + hop(l, PCIE_MSG_ATS_CPL, 0, 0);
    const sim_time_t wr = u->walk_read;
    iommu_cfg_t ucfg = *u;
    iommu_cfg_resolve(&ucfg);
    uint64_t ad = ctr(h, "iommu.walk.ad_writes");
    ck_assert_uint_eq(ad, ucfg.ad == IOMMU_AD_ON ? ucfg.levels : 0);
    uint64_t ctxr = ctr(h, "iommu.ctx.reads");
    sim_hist_t *wreads = hist(h, "iommu.walk.reads");
    ck_assert_uint_eq(wreads->count, 2);
    sim_hist_t *af = stage(h, PLATFORM_STAGE_ATS_FAULT),
               *rt = stage(h, PLATFORM_STAGE_RETRY);
    ck_assert_uint_eq(af->count, 1);
    ck_assert_uint_eq(rt->count, 1);
    uint64_t r1 = (af->min - ats_rt - ctxr * wr) / wr,
             r2 = (rt->min - ats_rt) / wr - ad;
    ck_assert_uint_eq(af->min, ats_rt + (ctxr + r1) * wr);
    ck_assert_uint_eq(rt->min, ats_rt + (r2 + ad) * wr);
    ck_assert_uint_eq(r1 + r2, (uint64_t)wreads->sum);
    /* fault.e2e: the sum of the parts, and the run ends with the DMA. */
    sim_time_t e2e = af->min + page_req + guest + response + rt->min + data;
    sim_hist_t *e = hist(h, "fault.e2e");
    ck_assert_uint_eq(e->count, 1);
    ck_assert_uint_eq(e->min, e2e);
    ck_assert_uint_eq(sim_now(platform_sim(h->p)), t0 + e2e);
    /* Conservation: the guest's answer counts as a response. */
    platform_summary_t s;
    platform_summarize(h->p, &s);
    check_conservation(&s);
    ck_assert_uint_eq(s.page_requests, 1);
    ck_assert_uint_eq(s.pr_responded, 1);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------ b. the guest's log overflows */

/* A guest log of 2 entries (head == tail is empty: one usable) and two
 * DMAs at once to two absent pages: the second page request finds the
 * log full while the first waits for the guest's interrupt (guest.irq +
 * guest.halt_wake, far longer than the two requests' spacing). A third
 * DMA comes after the guest drained the log. */
START_TEST(test_guest_log_overflow)
{
    bool amd = _i == 0;
    const char *sets[] = {amd ? "iommu.arch=amdvi" : "iommu.arch=vtd",
                          "guest.ppr_log=2", "device.pri_timeout=100us", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const sim_time_t t0 = 1 * US;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x10000, PERM_RW, false),
        rdma(t0, 0, 1, BASE + 0x1000, 64, false),
        rdma(t0, 0, 1, BASE + 0x2000, 64, false),
        rdma(t0 + 300 * US, 0, 1, BASE + 0x3000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.overflows"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.prq.written"), 0); /* never the host's */
    platform_summary_t s;
    platform_summarize(h->p, &s);
    check_conservation(&s);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    if (amd) {
        /* #48882 2.6.2: discarded, no response; the device gives the group
         * up after device.pri_timeout (its DMA fails). The guest's driver
         * restarts the log once it is empty: the third request is
         * logged. */
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.dropped"), 1);
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.auto_responded"), 0);
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.written"), 2);
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.completions"), 2);
        ck_assert_uint_eq(ctr(h, "device0.pri.timeouts"), 1);
        ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
        ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
        ck_assert_uint_eq(s.pr_dropped, 1);
    } else {
        /* VT-d 7.4.1 (the rule of the host's PRQ): an automatic Success,
         * the device retries and is served. */
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.dropped"), 0);
        ck_assert_uint_ge(ctr(h, "guest.ppr_log.auto_responded"), 1);
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.completions"), 3);
        ck_assert_uint_eq(ctr(h, "guest.ppr_log.written"), 3);
        ck_assert_uint_eq(ctr(h, "device0.pri.timeouts"), 0);
        ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 3);
        ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 0);
    }
    pfx_free(h);
}
END_TEST

/* -------------------------------- c. a stage-2 fault is still the host's */

/* vm.s2_on_demand: the first access to a present guest mapping misses
 * stage 2 (the guest's table chunk and the data page). The vIOMMU sends
 * the request to the host's log; the host's workers back the pages
 * (host.iopf + host.mm_minor per page + host.qi_submit) and answer. */
START_TEST(test_stage2_fault_to_host)
{
    const char *sets[] = {"iommu.arch=amdvi", "vm.s2_on_demand=true", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x40, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.host_faults"), 1);
    ck_assert_uint_eq(ctr(h, "guest.ppr_log.written"), 0);
    ck_assert_uint_eq(ctr(h, "iommu.prq.written"), 1);
    ck_assert_uint_eq(stage(h, PLATFORM_STAGE_GUEST)->count, 0);
    uint64_t fills = ctr(h, "vm.s2_faults");
    ck_assert_uint_eq(fills, 2); /* the table chunk and the data page */
    check_s2_fix_round_trip(h, false, fills);
    pfx_free(h);
}
END_TEST

static Suite *hwviommu_suite(void)
{
    Suite *s = suite_create("hwviommu");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_one_fault_exact, 0, 3);
    tcase_add_loop_test(tc, test_guest_log_overflow, 0, 2);
    tcase_add_test(tc, test_stage2_fault_to_host);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(hwviommu_suite());
}
