/*
 * tests/ioasid/test_nested_rest.c - two rules of the nested fault path
 * (docs/model.md, "The virtualised path"), each held against its source:
 *   a. stage-2 faults on the guest's page-table walk: with guest memory
 *      backed on demand (vm.s2_on_demand) the guest's page-table frames
 *      are backed on first use too, so a cold nested walk finds the first
 *      stage-1 table's GPA missing in stage 2 (VT-d 3.x 3.8 nested
 *      translation: a second-stage fault on a first-stage paging-structure
 *      access; SMMUv3 "S2 fault on stage-1 table walk", CLASS = TT). The
 *      fault comes back as a page request for the device's address; with
 *      host.nested_faults = linux it goes to the VMM through iommufd
 *      (drivers/iommu/iommufd/fault.c: iommufd_fault_iopf_handler), which
 *      backs every missing stage-2 page of the walk (vmm.s2_fix each), so
 *      one round trip fixes the table frames and the data page; classify:
 *      the host backs them (host.mm_minor each). With pinned memory there
 *      is no stage-2 fault at all.
 *   b. the VMM's completion returns when qi_submit_sync does: user space
 *      writes the response (iommufd_fault_fops_write -> iommu_page_response
 *      -> intel_iommu_page_response, drivers/iommu/intel/prq.c), which
 *      submits the page group response and a wait descriptor and spins in
 *      qi_submit_sync (drivers/iommu/intel/dmar.c) until the wait
 *      completes: the exiting vCPU is held for iommu.qi_page_resp +
 *      iommu.qi_wait more on VT-d. SMMUv3's CMD_PRI_RESP has no sync
 *      (arm-smmu-v3.c: arm_smmu_page_response), so nothing more there.
 * Expected values come from the configuration (fixed distributions).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

/* Every delay on the path fixed (distinct values). */
static const char *const fixed_sets[] = {"device.proc=50",
                                         "host.irq_latency=2000",
                                         "host.prq_desc=200",
                                         "host.iopf=3000",
                                         "host.mm_minor=1000",
                                         "host.qi_submit=200",
                                         "ioasid.report=2100",
                                         "vmm.wake=5000",
                                         "vmm.read=1100",
                                         "vmm.route=1200",
                                         "vmm.lookup=300",
                                         "vmm.inject=3100",
                                         "vmm.exit=9500",
                                         "vmm.complete=2050",
                                         "vmm.s2_fix=4700",
                                         "guest.halt_wake=10000",
                                         "guest.irq=1300",
                                         "guest.handler=1400",
                                         "guest.mm_minor=1050",
                                         "guest.respond=450",
                                         "guest.pt_mode=shared",
                                         "guest.background=0",
                                         NULL};

/* ------------------------- a. stage-2 faults on the guest's table walk */

static const char *const s2_pages[] = {"vm.s2_page=4K", "vm.s2_page=2M",
                                       "vm.s2_page=1G"};

/*
 * A cold access to a page the guest's stage 1 maps (present), guest
 * memory on demand. The guest's stage 1 has iommu.levels tables on the
 * access's path (the root and one per lower level), in table chunks of
 * min(vm.s2_page, 2M) (docs/model.md): with 4K chunks each table is its
 * own stage-2 page, otherwise one chunk holds them all. Stage-2 pages to
 * back: those, plus the data page. One page request: the first table's
 * stage-2 fault stops the walk, and whoever fixes it backs the whole walk.
 */
START_TEST(test_s2_fault_on_table_walk)
{
    const bool linux = _i < 3;
    const char *sets[] = {
        "vm.devices=1", "vm.s2_on_demand=true", s2_pages[_i % 3],
        linux ? "host.nested_faults=linux" : "host.nested_faults=classify",
        NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x40, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    const unsigned levels = (unsigned)h->pc.iommu.levels;
    const unsigned s2_shift = 12 + 9 * v->s2_page;
    const uint64_t fills = (s2_shift == 12 ? levels : 1) + 1;
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 1);
    ck_assert_uint_eq(ctr(h, "vm.s2_faults"), fills);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 0); /* stage 1 is fine */
    check_s2_fix_round_trip(h, linux, fills);
    pfx_free(h);
}
END_TEST

/* Pinned guest memory (VFIO pins it all at VM start, tables included): the
 * same cold access walks without any stage-2 fault or page request. */
START_TEST(test_pinned_no_s2_fault)
{
    const char *sets[] = {"vm.devices=1", "vm.s2_on_demand=false", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x40, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 0);
    ck_assert_uint_eq(ctr(h, "vm.s2_faults"), 0);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 0);
    pfx_free(h);
}
END_TEST

/* ------------------------- b. the completion waits for qi_submit_sync */

/*
 * One guest fault on one vCPU. The vCPU runs the handler (guest.handler),
 * then the fix-up (guest.mm_minor + guest.respond), whose MMIO write exits
 * and holds the vCPU until the VMM's completion returns: vmm.exit +
 * vmm.complete + host.qi_submit, and on VT-d until qi_submit_sync's wait
 * descriptor completes (the page group response, then the wait, on an
 * idle queue: iommu.qi_page_resp + iommu.qi_wait). The vCPU's busy time
 * is the integral of guest.vcpus.busy.
 */
START_TEST(test_completion_waits_for_qi_sync)
{
    const bool vtd = _i == 0;
    const char *sets[] = {"vm.devices=1", "guest.vcpus=1",
                          vtd ? "iommu.arch=vtd" : "iommu.arch=smmuv3", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE + 0x40, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 1);
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    const ioasid_host_cfg_t *hc = &h->pc.host;
    const iommu_cfg_t *u = &h->pc.iommu;
    sim_time_t held = fixed_value(&v->mm_minor) + fixed_value(&v->respond) +
                      fixed_value(&v->exit) + fixed_value(&v->complete) +
                      fixed_value(&hc->qi_submit);
    if (vtd)
        held += u->qi_page_resp + u->qi_wait;
    const double want = (double)(fixed_value(&v->handler) + held);
    sim_gauge_t *busy =
        sim_stats_find_gauge(platform_stats(h->p), "guest.vcpus.busy");
    ck_assert_ptr_nonnull(busy);
    ck_assert_msg(busy->integral == want,
                  "vCPU busy %.0f ps, expected %.0f ps (handler + fix-up + "
                  "exit + complete + qi_submit%s)",
                  busy->integral, want, vtd ? " + qi_page_resp + qi_wait" : "");
    pfx_free(h);
}
END_TEST

static Suite *nested_rest_suite(void)
{
    Suite *s = suite_create("nested_rest");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_s2_fault_on_table_walk, 0, 6);
    tcase_add_test(tc, test_pinned_no_s2_fault);
    tcase_add_loop_test(tc, test_completion_waits_for_qi_sync, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(nested_rest_suite());
}
