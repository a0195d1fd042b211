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

static Suite *suite(void)
{
    Suite *s = suite_create("vm_paths");
    TCase *life = tcase_create("lifecycle");
    tcase_set_timeout(life, 60);
    tcase_add_test(life, test_last_detach_frees_tables);
    tcase_add_test(life, test_last_detach_frees_tables_pasids);
    tcase_add_test(life, test_same_pasid_after_last_detach);
    suite_add_tcase(s, life);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
