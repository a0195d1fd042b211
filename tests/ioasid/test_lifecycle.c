/*
 * tests/ioasid/test_lifecycle.c - the PASID lifecycle through the whole
 * platform: a detach tears the binding down in the steps Linux takes
 * (device stop; PASID entry cleared; PASID-cache, IOTLB and device-TLB
 * invalidation, VT-d rev 5.0 Table 28 as quoted in Linux
 * drivers/iommu/intel/pasid.c: intel_pasid_flush_present and
 * intel_pasid_tear_down_entry; the drain of drivers/iommu/intel/prq.c:
 * intel_iommu_drain_pasid_prq, VT-d 7.10), each step taking simulated time
 * (host.detach.latency), and a re-bind waits for it; and the error paths:
 * Response Failure on a group allocation failure (Linux
 * drivers/iommu/io-pgfault.c: iommu_report_device_fault, abort_group ->
 * IOMMU_PAGE_RESP_FAILURE), PRI disabled on the device (PCIe r4.0
 * 10.4.2.1) until a reset, and a non-recoverable fault record for a page
 * request whose PASID entry has PRE clear (VT-d 7.4.1.1; QEMU
 * hw/i386/intel_iommu.c: vtd_check_pre_bit).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

/* Every delay on the host and queue path fixed, so that a detach's time
 * can be derived from the configuration. */
static const char *const fixed_sets[] = {
    "device.proc=50",     "device.inv_proc=500", "host.irq_latency=2000",
    "host.prq_desc=200",  "host.iopf=3000",      "host.mm_minor=1000",
    "host.qi_submit=200", "iommu.psc_hit=0",     NULL};

/* Loop index -> the machine: 0 native VT-d, 1 native SMMUv3, 2 a VM. */
static pfx_t *machine(unsigned which, const char *const *more)
{
    static const char *const smmu[] = {"iommu.arch=smmuv3", NULL};
    static const char *const vm[] = {"vm.devices=1", NULL};
    const char *sets[16];
    unsigned n = 0;
    const char *const *extra = which == 1 ? smmu : which == 2 ? vm : NULL;
    for (unsigned i = 0; extra && extra[i]; i++)
        sets[n++] = extra[i];
    for (unsigned i = 0; more && more[i]; i++)
        sets[n++] = more[i];
    sets[n] = NULL;
    return pfx_new2(fixed_sets, sets);
}

/* ------------------------------------------- 1. device-TLB on detach */

/*
 * Item 1. VT-d rev 5.0 Table 28 (PASID entry present -> not present):
 * PASID-selective PASID-cache invalidation, PASID-based IOTLB invalidation
 * and a PASID-based device-TLB invalidation to the affected function
 * (Linux intel/pasid.c: intel_pasid_tear_down_entry ->
 * devtlb_invalidation_with_pasid; SMMUv3 CMD_ATC_INV). So after a detach
 * the device's ATC holds nothing of the PASID: the page it had cached is
 * invalidated, and the next access to it after a new map goes to the
 * IOMMU. Natively a new map is a new, empty address space: that access
 * must fault (one page request, one minor fault), not complete from the
 * old space's translation.
 */
START_TEST(test_detach_invalidates_atc)
{
    const unsigned which = (unsigned)_i;
    pfx_t *h = machine(which, NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdetach(10 * US, 0, 1),
        rmap(20 * US, 0, 1, BASE, 0x1000, PERM_RW, which == 2),
        rdma(30 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    /* The one cached translation of the PASID went with the detach. */
    ck_assert_uint_eq(ctr(h, "device0.atc.fills") >= 1, 1);
    ck_assert_uint_eq(ctr(h, "device0.atc.invalidated"), 1);
    ck_assert_uint_ge(ctr(h, "device0.ats.inv_requests"), 1);
    /* The second read missed the ATC. */
    ck_assert_uint_eq(ctr(h, "device0.atc.hits"), 0);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    if (which != 2) {
        /* The new address space had no page: one fault, fixed there. */
        ck_assert_uint_eq(ctr(h, "device0.pri.groups"), 1);
        ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    }
    pfx_free(h);
}
END_TEST

/* ------------------------------------------------- 2. the PRQ drain */

/*
 * Item 2. Linux drivers/iommu/intel/prq.c: intel_iommu_drain_pasid_prq
 * (VT-d 7.10): before a PASID is reused, every page request of it in the
 * PRQ is handled by the PRQ thread (by its old binding), the iopf queue is
 * flushed and a drain wait completes. A page request still in the PRQ
 * when the detach comes (the PRQ thread runs 10 us after the interrupt)
 * must not be handed to the binding made after it: the new address space
 * starts empty, so a read there 100 us later faults again. Two groups,
 * two minor faults (one per address space).
 */
START_TEST(test_detach_drains_prq)
{
    const unsigned which = (unsigned)_i;
    static const char *const slow_irq[] = {"host.irq_latency=10000", NULL};
    pfx_t *h = machine(which, slow_irq);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdetach(5 * US, 0, 1),
        rmap(5 * US, 0, 1, BASE, 0x1000, PERM_RW, false),
        rdma(100 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.pri.groups"), 2);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 2);
    /* The first read went with the PASID stop, the second completed. */
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    pfx_free(h);
}
END_TEST

/* --------------------------------------- 11. the lifecycle, timed */

/* One way on the link for a message of `type` with a PASID prefix. */
static sim_time_t hop_pasid(pfx_t *h, unsigned type)
{
    return hop(&h->pc.link, type, PCIE_F_PASID, 0);
}

/*
 * Item 11. The host's teardown of a native VT-d binding, step by step as
 * Linux does it, each batch costing host.qi_submit plus the IOMMU's
 * processing of its descriptors (iommu.qi_*), a device-TLB invalidation
 * adding the ATS Invalidate round trip (Invalidate Request down, the
 * device's inv_proc, Invalidate Completion up) before the wait:
 *   intel_pasid_tear_down_entry: pasid_cache_invalidation_with_pasid
 *     [PASID cache, wait], qi_flush_piotlb [IOTLB, wait],
 *     devtlb_invalidation_with_pasid [device TLB, wait] (each
 *     qi_submit_sync);
 *   intel_iommu_drain_pasid_prq: nothing of the PASID in the PRQ or the
 *     iopf queue, then [wait (fence), IOTLB, device TLB, wait (PD)].
 * host.detach.latency is that sum. A map and a read of the PASID issued
 * at the detach's own time wait for it (Linux: attaching the PASID
 * blocks on the group mutex the detach holds; iommu.c:
 * iommu_detach_device_pasid, iommu_attach_device_pasid) and then work on
 * the new binding.
 */
START_TEST(test_detach_latency_and_rebind)
{
    pfx_t *h = machine(0, NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdetach(10 * US, 0, 1),
        rmap(10 * US, 0, 1, BASE, 0x1000, PERM_RW, false),
        rdma(10 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    const iommu_cfg_t *c = &h->pc.iommu;
    sim_time_t submit = 200 * SIM_NS, inv_proc = 500 * SIM_NS;
    sim_time_t rt = hop_pasid(h, PCIE_MSG_INV_REQ) + inv_proc +
                    hop_pasid(h, PCIE_MSG_INV_CPL);
    sim_time_t want =
        (submit + c->qi_pasid + c->qi_wait) +
        (submit + c->qi_iotlb + c->qi_wait) +
        (submit + c->qi_devtlb + rt + c->qi_wait) +
        (submit + c->qi_wait + c->qi_iotlb + c->qi_devtlb + rt + c->qi_wait);
    sim_hist_t *lat = hist(h, "host.detach.latency");
    ck_assert_uint_eq(lat->count, 1);
    ck_assert_uint_eq((uint64_t)lat->min, want);
    /* The whole lifecycle from the record: the device's PASID stop first
     * (PCIe r4.0 6.20.1: it waits only for its outstanding non-posted
     * requests of the PASID, and the read finished long before: no
     * time), then the host teardown. */
    sim_hist_t *all = hist(h, "trace.detach.latency");
    ck_assert_uint_eq(all->count, 1);
    ck_assert_uint_eq((uint64_t)all->min, want);
    ck_assert_uint_eq(ctr(h, "host.unbinds"), 1);
    /* The re-bound PASID is a new address space: the read faults there
     * once and completes; nothing of it failed on the old binding or on
     * a missing PASID entry. */
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 0);
    ck_assert_uint_eq(ctr(h, "device0.ats.cpl_errors"), 0);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------------ 15. error paths */

/*
 * Item 15, a and b. With room for one group in the host (host.max_groups
 * = 1), the second of two concurrent groups cannot be allocated: Linux
 * answers it Response Failure (io-pgfault.c: iommu_report_device_fault,
 * err_abort: iopf_group_response(group, IOMMU_PAGE_RESP_FAILURE)). The
 * device then disables PRI (PCIe r4.0 10.4.2.1): every DMA waiting on PRI
 * fails, the other group's later Success is ignored, RF is set in PRI
 * Status. With device.pri_reset_delay the device's driver resets and
 * re-enables PRI that long after, and a later fault is recoverable again.
 */
START_TEST(test_group_alloc_failure)
{
    const bool reset = _i == 1;
    static const char *const no_reset[] = {"host.max_groups=1", NULL};
    static const char *const with_reset[] = {
        "host.max_groups=1", "device.pri_reset_delay=5000", NULL};
    pfx_t *h = machine(0, reset ? with_reset : no_reset);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x3000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdma(1 * US, 0, 1, BASE + 0x1000, 64, false),
        rdma(200 * US, 0, 1, BASE + 0x2000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_failure"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.resp_failure"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.resp_ignored"), 1);
    unsigned st = pcie_dev_pri_status(platform_device(h->p, 0));
    if (!reset) {
        /* PRI stays disabled: the third read cannot fault either. */
        ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 3);
        ck_assert_uint_eq(ctr(h, "device0.faults_without_pri"), 1);
        ck_assert_uint_eq(st & PCIE_PRI_STATUS_RF, PCIE_PRI_STATUS_RF);
    } else {
        ck_assert_uint_eq(ctr(h, "device0.pri.resets"), 1);
        ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 2);
        ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
        ck_assert_uint_eq(st & PCIE_PRI_STATUS_RF, 0);
    }
    pfx_free(h);
}
END_TEST

/*
 * Item 15, c. A page request for a PASID whose entry has PRE clear: the
 * IOMMU answers a last request Invalid itself and writes a
 * non-recoverable fault record (VT-d 7.4.1.1; QEMU intel_iommu.c:
 * vtd_check_pre_bit, fault reason 0x47), which the host's fault handler
 * reads.
 */
START_TEST(test_pre_clear_fault_record)
{
    pfx_t *h = machine(0, NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, 1), PLATFORM_OK);
    iommu_t *u = platform_iommu(h->p);
    uint16_t rid = pcie_dev_rid(platform_device(h->p, 0));
    iommu_pasid_entry_t e;
    ck_assert(iommu_get_pasid(u, rid, 1, &e));
    e.pri = false; /* nothing cached yet: no invalidation needed */
    ck_assert_int_eq(iommu_set_pasid(u, rid, 1, &e), 0);
    ck_assert_int_eq(pfx_run(h, r + 1, 1), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "iommu.prq.pri_disabled"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.fault.records"), 1);
    ck_assert_uint_eq(ctr(h, "host.evq.unrecoverable"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.resp_invalid"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    pfx_free(h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_loop_test(tc, test_detach_invalidates_atc, 0, 3);
    tcase_add_loop_test(tc, test_detach_drains_prq, 0, 2);
    tcase_add_test(tc, test_detach_latency_and_rebind);
    tcase_add_loop_test(tc, test_group_alloc_failure, 0, 2);
    tcase_add_test(tc, test_pre_clear_fault_record);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
