/*
 * tests/ioasid/test_guest_inv.c - guest I/O TLB invalidations through the
 * two designs of vmm.guest_inv (docs/model.md, "Guest invalidations"):
 *   trap    - the guest's queue write exits to the VMM (vmm.exit, once),
 *             which decodes each command and issues one host invalidation
 *             ioctl per command (vmm.inv_cmd each): QEMU hw/arm/smmuv3.c
 *             smmuv3_cmdq_consume -> hw/arm/smmuv3-accel.c
 *             smmuv3_accel_issue_inv_cmd (entry_num = 1), Linux
 *             drivers/iommu/iommufd iommufd_hwpt_invalidate; guest.inv is
 *             the total of one command, so an invalidation of N commands
 *             costs guest.inv + (N - 1) x vmm.inv_cmd, i.e. the guest's own
 *             part, one exit and N x vmm.inv_cmd. The host then submits
 *             (host.qi_submit).
 *   hwqueue - the guest writes a hardware command queue the host assigned
 *             to it (NVIDIA Tegra241 CMDQV, Linux
 *             drivers/iommu/arm/arm-smmu-v3/tegra241-cmdqv.c; iommufd
 *             IOMMU_HW_QUEUE_ALLOC, drivers/iommu/iommufd/viommu.c
 *             iommufd_hw_queue_alloc_ioctl): the guest's own part and
 *             vmm.hwqueue_write; no exit, no VMM, no ioctl, no host
 *             submission. The IOMMU's queue still processes the commands.
 * Checked with every delay fixed, to the picosecond, against sums of the
 * configuration:
 *   a. a guest unmap's latency (guest.unmap.latency) in each mode;
 *   b. an unmap of N commands (guest.inv_range = false: one per leaf page,
 *      Linux arm-smmu-v3.c __arm_smmu_tlb_inv_range without
 *      ARM_SMMU_FEAT_RANGE_INV; a 2 MiB page is one) costs N x vmm.inv_cmd
 *      in the VMM, and nothing per command with hwqueue;
 *   c. guest.pt_mode = separate: the fault's guest stage is shorter in
 *      hwqueue mode by exactly the trap's part (vmm.exit + vmm.inv_cmd)
 *      less vmm.hwqueue_write, and so is the end-to-end time;
 *   d. a guest.inv shorter than the trap's parts leaves no guest part;
 *      an unknown mode is refused.
 */
#include <check.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

/* The delays of the invalidation path, each fixed and distinct. */
static const char *const fixed_sets[] = {
    "vm.devices=1",        "host.qi_submit=200",
    "device.inv_proc=500", "vmm.exit=9500",
    "vmm.inv_cmd=2100",    "vmm.hwqueue_write=350",
    "guest.inv=14000",     NULL};

/* One way on the link for a message of `type` with a PASID prefix. */
static sim_time_t hop_pasid(pfx_t *h, unsigned type)
{
    return hop(&h->pc.link, type, PCIE_F_PASID, 0);
}

/* The IOMMU's part of one unmap of a VM process with one device: the
 * IOTLB range invalidation, the device-TLB invalidation with its ATS
 * Invalidate round trip (Request down, device.inv_proc, Completion up),
 * then the wait (host.c ev_inv_submit; Linux qi_flush_piotlb +
 * qi_flush_dev_iotlb_pasid, SMMUv3 TLBI + ATC_INV + CMD_SYNC). */
static sim_time_t queue_part(pfx_t *h)
{
    const iommu_cfg_t *c = &h->pc.iommu;
    return c->qi_iotlb + c->qi_devtlb + hop_pasid(h, PCIE_MSG_INV_REQ) +
           fixed_value(&h->pc.dev.inv_proc) + hop_pasid(h, PCIE_MSG_INV_CPL) +
           c->qi_wait;
}

/* The guest's own part of an invalidation: guest.inv less the exit and
 * the first command's decode + ioctl. */
static sim_time_t guest_part(pfx_t *h)
{
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    sim_time_t inv = fixed_value(&v->inv),
               trap = fixed_value(&v->exit) + fixed_value(&v->inv_cmd);
    return inv > trap ? inv - trap : 0;
}

/* Map `pages` pages of 1 << shift bytes (present), read one to fill the
 * IOTLB and the ATC, unmap them all; the one unmap's latency. */
static sim_time_t unmap_latency(pfx_t *h, uint64_t pages, unsigned shift)
{
    uint64_t len = pages << shift;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, len, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE, 64, false),
        runmap(20 * US, 0, 1, BASE, len),
    };
    r[0].page = shift == 21 ? TRACE_PAGE_2M : TRACE_PAGE_4K;
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "guest.unmap.count"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    /* No fault: the IOMMU's queue saw the unmap's commands only. */
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 0);
    ck_assert_uint_eq(ctr(h, "iommu.qi.iotlb"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.qi.devtlb"), 1);
    ck_assert_uint_eq(ctr(h, "device0.atc.invalidated"), 1);
    sim_hist_t *ul = hist(h, "guest.unmap.latency");
    ck_assert_uint_eq(ul->count, 1);
    ck_assert_uint_eq(ul->min, ul->max);
    return ul->min;
}

/* ------------------------------------------------ a. one unmap, exact */

/* The default mode is trap and one range command: guest.inv, as before
 * the two designs existed. */
START_TEST(test_default_is_trap)
{
    pfx_t *h = pfx_new(NULL);
    ck_assert_uint_eq(h->pc.virt.guest_inv, IOASID_GINV_TRAP);
    ck_assert(h->pc.virt.inv_range);
    ck_assert_uint_eq(ioasid_guest_inv_cmds(&h->pc.virt, 16), 1);
    /* With one command, trap costs guest.inv and draws nothing else. */
    sim_rng_t rng;
    sim_rng_seed(&rng, 1, "test");
    ck_assert_uint_eq(ioasid_guest_inv_cost(&h->pc.virt, 1, &rng),
                      fixed_value(&h->pc.virt.inv));
    pfx_free(h);
}
END_TEST

START_TEST(test_unmap_trap_exact)
{
    pfx_t *h = pfx_new(fixed_sets);
    sim_time_t got = unmap_latency(h, 1, 12);
    /* guest.inv (guest part + vmm.exit + one vmm.inv_cmd), the host's
     * submission, the IOMMU's queue. */
    sim_time_t want = fixed_value(&h->pc.virt.inv) +
                      fixed_value(&h->pc.host.qi_submit) + queue_part(h);
    ck_assert_uint_eq(got, want);
    pfx_free(h);
}
END_TEST

START_TEST(test_unmap_hwqueue_exact)
{
    const char *sets[] = {"vmm.guest_inv=hwqueue", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    sim_time_t got = unmap_latency(h, 1, 12);
    /* The trap's sum less the exit, the VMM's command and the host's
     * submission, plus the guest's writes to its hardware queue. */
    sim_time_t trap = fixed_value(&v->inv) +
                      fixed_value(&h->pc.host.qi_submit) + queue_part(h);
    sim_time_t want = trap - fixed_value(&v->exit) - fixed_value(&v->inv_cmd) -
                      fixed_value(&h->pc.host.qi_submit) +
                      fixed_value(&v->hwqueue_write);
    ck_assert_uint_eq(got, want);
    ck_assert_uint_eq(got, guest_part(h) + fixed_value(&v->hwqueue_write) +
                               queue_part(h));
    pfx_free(h);
}
END_TEST

/* ----------------------------------------------- b. N commands */

/* Pages unmapped, their leaf size, and the commands the guest writes
 * without range invalidation (one per leaf page). */
static const struct {
    uint64_t pages;
    unsigned shift;
} ncmd_cases[] = {{1, 12}, {4, 12}, {16, 12}, {2, 21}};

START_TEST(test_unmap_n_commands_trap)
{
    const char *sets[] = {"guest.inv_range=false", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    uint64_t n = ncmd_cases[_i].pages;
    ck_assert_uint_eq(ioasid_guest_inv_cmds(v, n), n);
    sim_time_t got = unmap_latency(h, n, ncmd_cases[_i].shift);
    /* The guest's part and one exit, then N x vmm.inv_cmd in the VMM. */
    sim_time_t want = guest_part(h) + fixed_value(&v->exit) +
                      n * fixed_value(&v->inv_cmd) +
                      fixed_value(&h->pc.host.qi_submit) + queue_part(h);
    ck_assert_uint_eq(got, want);
    /* Equivalently: guest.inv for the first, vmm.inv_cmd per further. */
    ck_assert_uint_eq(
        got, fixed_value(&v->inv) + (n - 1) * fixed_value(&v->inv_cmd) +
                 fixed_value(&h->pc.host.qi_submit) + queue_part(h));
    pfx_free(h);
}
END_TEST

/* With range invalidation the same unmap is one command; with the
 * hardware queue the count costs nothing per command. */
START_TEST(test_unmap_n_commands_range_and_hwqueue)
{
    uint64_t n = ncmd_cases[_i].pages;
    unsigned shift = ncmd_cases[_i].shift;
    pfx_t *h = pfx_new(fixed_sets);
    sim_time_t one = fixed_value(&h->pc.virt.inv) +
                     fixed_value(&h->pc.host.qi_submit) + queue_part(h);
    ck_assert_uint_eq(unmap_latency(h, n, shift), one);
    pfx_free(h);

    const char *sets[] = {"guest.inv_range=false", "vmm.guest_inv=hwqueue",
                          NULL};
    h = pfx_new2(fixed_sets, sets);
    ck_assert_uint_eq(unmap_latency(h, n, shift),
                      guest_part(h) + fixed_value(&h->pc.virt.hwqueue_write) +
                          queue_part(h));
    pfx_free(h);
}
END_TEST

/* ---------------------------------- c. separate page tables, one fault */

/* One fault of a VM process with separate page tables; its guest stage
 * and end-to-end time. */
static void separate_fault(const char *mode, const char *range,
                           sim_time_t *guest, sim_time_t *e2e, pfx_t **out)
{
    char m[64];
    snprintf(m, sizeof(m), "vmm.guest_inv=%s", mode);
    const char *sets[] = {"guest.pt_mode=separate", m, range, NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE + 0x3000, 0x1000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE + 0x3040, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "guest.halted_wakes"), 1);
    /* The fix-up leaves the host nothing to invalidate: no IOTLB
     * invalidation in the IOMMU's queue in either mode. */
    ck_assert_uint_eq(ctr(h, "iommu.qi.iotlb"), 0);
    sim_hist_t *g = stage(h, PLATFORM_STAGE_GUEST), *e = hist(h, "fault.e2e");
    ck_assert_uint_eq(g->count, 1);
    ck_assert_uint_eq(e->count, 1);
    *guest = g->min;
    *e2e = e->min;
    *out = h;
}

/* The guest stage without its invalidation: virtual interrupt to halted
 * vCPUs, handler, one minor fix-up, the I/O page-table update, the
 * response written (guest.c fix_cost). */
static sim_time_t guest_stage_base(pfx_t *h)
{
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    return fixed_value(&v->irq) + fixed_value(&v->halt_wake) +
           fixed_value(&v->handler) + fixed_value(&v->mm_minor) +
           fixed_value(&v->iopt_update) + fixed_value(&v->respond);
}

START_TEST(test_separate_fault_guest_stage)
{
    /* Both with and without range invalidation: one page is fixed, so
     * one command either way. */
    const char *range = _i ? "guest.inv_range=false" : "guest.inv_range=true";
    sim_time_t g_trap, e_trap, g_hw, e_hw;
    pfx_t *ht, *hh;
    separate_fault("trap", range, &g_trap, &e_trap, &ht);
    separate_fault("hwqueue", range, &g_hw, &e_hw, &hh);
    const ioasid_virt_cfg_t *v = &ht->pc.virt;
    ck_assert_uint_eq(g_trap, guest_stage_base(ht) + fixed_value(&v->inv));
    ck_assert_uint_eq(g_hw, guest_stage_base(hh) + guest_part(hh) +
                                fixed_value(&v->hwqueue_write));
    /* Shorter by exactly the trap's part, less the queue write. */
    sim_time_t saved = fixed_value(&v->exit) + fixed_value(&v->inv_cmd) -
                       fixed_value(&v->hwqueue_write);
    ck_assert_uint_eq(g_trap - g_hw, saved);
    ck_assert_uint_eq(e_trap - e_hw, saved);
    pfx_free(ht);
    pfx_free(hh);
}
END_TEST

/* ----------------------------------------------- d. edges, refusals */

/* guest.inv covering less than the exit and one command: the guest's own
 * part is taken as zero (the hardware queue costs its write only). */
START_TEST(test_hwqueue_short_guest_inv)
{
    const char *sets[] = {"vmm.guest_inv=hwqueue", "guest.inv=5000", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    ck_assert_uint_lt(fixed_value(&h->pc.virt.inv),
                      fixed_value(&h->pc.virt.exit));
    ck_assert_uint_eq(guest_part(h), 0);
    ck_assert_uint_eq(unmap_latency(h, 1, 12),
                      fixed_value(&h->pc.virt.hwqueue_write) + queue_part(h));
    pfx_free(h);
}
END_TEST

START_TEST(test_unknown_mode_refused)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_ptr_nonnull(cfg);
    platform_cfg_t pc;
    ck_assert_int_eq(platform_register(cfg, &pc), 0);
    ck_assert_int_ne(sim_config_set(cfg, "vmm.guest_inv=vcmdq"), 0);
    const char *err = sim_log_last_error(&log);
    ck_assert_msg(strstr(err, "guest_inv") && strstr(err, "vcmdq"), "error: %s",
                  err);
    ck_assert_int_eq(sim_config_set(cfg, "vmm.guest_inv=hwqueue"), 0);
    ck_assert_uint_eq(pc.virt.guest_inv, IOASID_GINV_HWQUEUE);
    sim_config_destroy(cfg);
}
END_TEST

static Suite *guest_inv_suite(void)
{
    Suite *s = suite_create("guest_inv");
    TCase *tc = tcase_create("unmap");
    tcase_add_test(tc, test_default_is_trap);
    tcase_add_test(tc, test_unmap_trap_exact);
    tcase_add_test(tc, test_unmap_hwqueue_exact);
    tcase_add_loop_test(tc, test_unmap_n_commands_trap, 0,
                        (int)N_OF(ncmd_cases));
    tcase_add_loop_test(tc, test_unmap_n_commands_range_and_hwqueue, 0,
                        (int)N_OF(ncmd_cases));
    tcase_add_test(tc, test_hwqueue_short_guest_inv);
    suite_add_tcase(s, tc);
    tc = tcase_create("fault");
    tcase_add_loop_test(tc, test_separate_fault_guest_stage, 0, 2);
    tcase_add_test(tc, test_unknown_mode_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(guest_inv_suite());
}
