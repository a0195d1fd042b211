/*
 * tests/ioasid/test_vm_paths.c - the VM's rarer paths (ioasid/vm.c,
 * vmm.c, guest.c, fault.c): a guest process's address space freed with
 * its last detach, and the error and edge paths of the virtual fault path.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"
#include "tools/platform/machine.h"

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

/* ------------------------------------------------ address space freed */

/* n cycles of: map one present 4 KiB page, detach; cycle i uses PASID
 * 1 + i * step at BASE + i * va_step. Returns the IOMMU memory frames in
 * use at the end (host frames: context and PASID tables, stage 2, and the
 * 2 MiB chunks a guest's stage-1 tables take their frames from). */
static uint64_t cycles(const char *const *sets, unsigned n, uint32_t step,
                       uint64_t va_step)
{
    pfx_t *h = pfx_new(sets);
    trace_record_t *r = calloc(2 * (size_t)n, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    for (unsigned i = 0; i < n; i++) {
        sim_time_t t = (sim_time_t)i * 100 * SIM_US;
        uint64_t va = (1ull << 30) + i * va_step;
        r[2 * i] = rmap(t, 0, 1 + i * step, va, 4096, PERM_RW, true);
        r[2 * i + 1] = rdetach(t + 50 * SIM_US, 0, 1 + i * step);
    }
    ck_assert_msg(pfx_run(h, r, 2 * (size_t)n) == PLATFORM_OK, "%s",
                  sim_log_last_error(&h->log));
    ck_assert_uint_eq(ctr(h, "host.unbinds"), n);
    uint64_t frames = iommu_mem_frames(iommu_memory(platform_iommu(h->p)));
    free(r);
    pfx_free(h);
    return frames;
}

static const char *const vm1[] = {"vm.devices=1", NULL};
static const char *const native[] = {NULL};

/*
 * Issue 11 point 4: a guest process whose last device detached gives back
 * its domain id and its stage-1 page tables (Linux: the nested domain and
 * its page table die with the last detach, intel/iommu.c
 * domain_detach_iommu; the guest frees the process's page tables with its
 * mm, mm/mmap.c exit_mmap -> free_pgtables).
 *
 * One PASID, each cycle's page 1 GiB further: every cycle needs a new
 * level-2 and level-1 table (4 KiB tables of 512 entries: one level-1
 * table spans 2 MiB, one level-2 table 1 GiB), 2000 table frames in 1000
 * cycles, almost 4 chunks of 512: kept, the host frames in use grow by at
 * least 3 x 512; freed, they are what one cycle leaves.
 */
START_TEST(test_last_detach_frees_tables)
{
    uint64_t one = cycles(vm1, 1, 0, 1ull << 30);
    ck_assert_uint_eq(cycles(vm1, 1000, 0, 1ull << 30), one);
}
END_TEST

/* A new PASID each cycle (4 table frames each: root + 3 levels): what the
 * PASID table grows by for 1000 PASIDs is the same natively, where an
 * address space is freed with its last binding (test_ids), so the VM's
 * growth must equal the native one. */
START_TEST(test_last_detach_frees_tables_pasids)
{
    uint64_t vm_growth = cycles(vm1, 1000, 1, 0) - cycles(vm1, 1, 1, 0);
    uint64_t native_growth =
        cycles(native, 1000, 1, 0) - cycles(native, 1, 1, 0);
    ck_assert_uint_eq(vm_growth, native_growth);
}
END_TEST

/* The same PASID mapped again after its last detach: a new address space
 * (as natively), so the same range can be mapped with other permissions
 * and its pages are present again. */
START_TEST(test_same_pasid_after_last_detach)
{
    pfx_t *h = pfx_new((const char *[]){"vm.devices=1", NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 8192, PERM_RW, true),
        rdetach(10 * US, 0, 1),
        /* other permission and length: not an -EEXIST overlap */
        rmap(100 * US, 0, 1, BASE, 4096, TRACE_PERM_R, true),
        rdma(110 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "host.unbinds"), 1);
    /* present: the read needs no fault */
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 0);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.page_requests, 0);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------------------ input errors */

/* Errors of VM records stop the run with PLATFORM_INPUT_ERROR naming the
 * record (tools/platform/replay.c: map_error, unknown_pasid). */
START_TEST(test_vm_input_errors)
{
    trace_record_t huge = rmap(0, 0, 1, BASE, 2ull << 20, PERM_RW, true);
    huge.page = TRACE_PAGE_2M;
    const struct {
        const char *const *sets;
        trace_record_t r[2];
        const char *want;
    } cases[] = {
        /* unmap of a PASID the VM has no process for */
        {vm1,
         {rmap(0, 0, 1, BASE, 4096, PERM_RW, true),
          runmap(1, 0, 9, BASE, 4096)},
         "mem:2: unknown PASID 9"},
        /* unmap from a VM device the process is not attached to */
        {(const char *[]){"device.count=2", "vm.devices=2", NULL},
         {rmap(0, 0, 1, BASE, 4096, PERM_RW, true),
          runmap(1, 1, 1, BASE, 4096)},
         "mem:2: unknown PASID 1"},
        /* an unmap may not split a 2 MiB page of the guest's stage 1 */
        {vm1, {huge, runmap(1, 0, 1, BASE, 4096)}, "must not split a huge"},
        /* vm.memory = 1 MiB holds 256 guest pages: the 257th is refused */
        {(const char *[]){"vm.devices=1", "vm.memory=1M", NULL},
         {rmap(0, 0, 1, BASE, 1ull << 20, PERM_RW, true),
          rmap(1, 0, 1, BASE + (1ull << 20), 4096, PERM_RW, true)},
         "mem:2: map 0x7f0000100000+0x1000: the guest's memory is full"},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        pfx_t *h = pfx_new(cases[i].sets);
        ck_assert_int_eq(pfx_run(h, cases[i].r, 2), PLATFORM_INPUT_ERROR);
        const char *err = sim_log_last_error(&h->log);
        ck_assert_msg(strstr(err, cases[i].want), "case %zu: %s", i, err);
        pfx_free(h);
    }
}
END_TEST

/* Two guest unmaps whose invalidations are still pending when an input
 * error stops the run: both are freed at destroy (the leak shows under
 * the asan preset; here the run ends with the error and the unmaps were
 * counted, none completed). */
START_TEST(test_two_unmaps_pending_at_error)
{
    pfx_t *h = pfx_new(vm1);
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 64 << 10, PERM_RW, true),
        runmap(10, 0, 1, BASE, 4096), runmap(10, 0, 1, BASE + 8192, 4096),
        rdma(10, 0, 99, BASE, 64, false), /* unknown PASID */
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_INPUT_ERROR);
    ck_assert_uint_eq(ctr(h, "guest.unmap.count"), 2);
    ck_assert_uint_eq(hist(h, "guest.unmap.latency")->count, 0);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------------------------ stage 2 */

/* Faults on two adjacent absent pages with guest memory backed on demand
 * (linux routing: the VMM backs them, vm.c vmm_s2_fix). With vm.s2_page =
 * 1G and 4 GiB of guest memory, one 1 GiB stage-2 leaf backs both pages;
 * with 16 MiB of guest memory a 1 GiB leaf would reach past the memory,
 * so each page is backed on its own (4 KiB; vm.c s2_fill): one stage-2
 * fault more. */
static uint64_t s2_faults_two_pages(const char *memory)
{
    pfx_t *h = pfx_new(
        (const char *[]){"vm.devices=1", "vm.s2_on_demand=true", memory, NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 8192, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdma(500 * US, 0, 1, BASE + 4096, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 2);
    uint64_t n = ctr(h, "vm.s2_faults");
    pfx_free(h);
    return n;
}

START_TEST(test_s2_page_cut_by_memory_end)
{
    ck_assert_uint_eq(s2_faults_two_pages("vm.memory=16M"),
                      s2_faults_two_pages("vm.memory=4G") + 1);
}
END_TEST

/* The SMMUv3 stall model on a VM device: the stall event of a nested
 * binding is not forwarded to the guest (the model's choice, vm.c
 * stall_work_done) but answered Invalid after the host's iopf work:
 * CMD_RESUME with ABORT, the DMA fails. */
START_TEST(test_stall_on_vm_device)
{
    pfx_t *h = pfx_new((const char *[]){"vm.devices=1", "device.ats=false",
                                        "iommu.arch=smmuv3", "iommu.stall=true",
                                        NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 4096, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "iommu.dma.stalled"), 1);
    ck_assert_uint_eq(ctr(h, "host.evq.stalls"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resumes"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.dma.aborted"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 0);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 0);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------------- the FAULT object */

/* A detach while a fault is pending in the FAULT object (ioasid.report
 * long, so the VMM has not read it): the teardown answers the group
 * Invalid (Linux iommufd eventq.c: iommufd_auto_response_faults after
 * iommu_detach_device_pasid), the VMM reads nothing and the guest fixes
 * nothing. */
START_TEST(test_detach_during_report)
{
    pfx_t *h =
        pfx_new((const char *[]){"vm.devices=1", "ioasid.report=200000", NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 4096, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdetach(30 * US, 0, 1),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.detached"), 1);
    ck_assert_uint_eq(ctr(h, "vmm.records"), 0);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 0);
    ck_assert_uint_eq(ctr(h, "host.unbinds"), 1);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    pfx_free(h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vm_paths");
    TCase *life = tcase_create("lifecycle");
    tcase_set_timeout(life, 60);
    tcase_add_test(life, test_last_detach_frees_tables);
    tcase_add_test(life, test_last_detach_frees_tables_pasids);
    tcase_add_test(life, test_same_pasid_after_last_detach);
    suite_add_tcase(s, life);
    TCase *err = tcase_create("errors");
    tcase_add_test(err, test_vm_input_errors);
    tcase_add_test(err, test_two_unmaps_pending_at_error);
    suite_add_tcase(s, err);
    TCase *s2 = tcase_create("stage2");
    tcase_add_test(s2, test_s2_page_cut_by_memory_end);
    tcase_add_test(s2, test_stall_on_vm_device);
    tcase_add_test(s2, test_detach_during_report);
    suite_add_tcase(s, s2);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
