/*
 * tests/ioasid/test_ids.c - unmapping nothing: an unmap whose range holds
 * no mapping of a known PASID is a counted no-op (trace.unmaps_empty), as
 * Linux's munmap of an unmapped range succeeds (mm/mmap.c, do_vmi_munmap:
 * no VMA in the range, return 0): no page table change and no invalidation,
 * natively and in a VM.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"
#include "tools/platform/machine.h"

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

static void unmap_nothing(const char *const *sets, const char *inv_counter)
{
    pfx_t *h = pfx_new(sets);
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 64 << 10, PERM_RW, false),
        /* far from the mapping, and right after its end */
        runmap(10, 0, 1, BASE + (1ull << 30), 64 << 10),
        runmap(20, 0, 1, BASE + (64 << 10), 4096),
        /* one that does unmap something */
        runmap(30, 0, 1, BASE, 4096),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "trace.unmaps"), 3);
    ck_assert_uint_eq(ctr(h, "trace.unmaps_empty"), 2);
    ck_assert_uint_eq(ctr(h, inv_counter), 1);
    pfx_free(h);
}

START_TEST(test_unmap_nothing_native)
{
    unmap_nothing((const char *[]){NULL}, "host.unmap.count");
}
END_TEST

START_TEST(test_unmap_nothing_vm)
{
    unmap_nothing((const char *[]){"vm.devices=1", NULL}, "guest.unmap.count");
}
END_TEST

/* Domain ids (VT-d DID, SMMUv3 ASID) are 16 bits: 65,535 usable (0 is
 * reserved; ioasid_host_alloc_domain). */
#define DOMAIN_IDS 65535u
#define CYCLES 70000u

/* n cycles of: map one present 4 KiB page, detach; pasid of cycle i is
 * pasid0 + i * step. Returns IOMMU memory frames in use at the end. */
static uint64_t cycles(const char *const *sets, unsigned n, uint32_t step)
{
    pfx_t *h = pfx_new(sets);
    trace_record_t *r = calloc(2 * (size_t)n, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    for (unsigned i = 0; i < n; i++) {
        sim_time_t t = (sim_time_t)i * 100 * SIM_US;
        r[2 * i] = rmap(t, 0, 1 + i * step, BASE, 4096, PERM_RW, true);
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

/* An address space dies with its last binding (Linux iommu-sva.c:
 * iommu_sva_unbind_device frees the domain; intel/iommu.c:
 * domain_detach_iommu frees its DID): more map/detach cycles than there
 * are domain ids succeed, and the tables and pages of the dead ones are
 * freed: IOMMU memory in use after 70,000 cycles is what it is after
 * one. */
START_TEST(test_ids_reused_native)
{
    const char *sets[] = {NULL};
    uint64_t one = cycles(sets, 1, 0);
    ck_assert_uint_eq(cycles(sets, CYCLES, 0), one);
}
END_TEST

/* The same with a new PASID each cycle, natively and for guest processes
 * of a VM (a process whose last device detached gives its id back). */
START_TEST(test_ids_reused_distinct_pasids)
{
    cycles((const char *[]){NULL}, CYCLES, 1);
    cycles((const char *[]){"vm.devices=1", NULL}, CYCLES, 1);
}
END_TEST

/* More live address spaces than domain ids: an input error naming the
 * record (not "out of memory"). */
static void too_many(const char *const *sets, unsigned ids)
{
    pfx_t *h = pfx_new(sets);
    size_t n = (size_t)ids + 1;
    trace_record_t *r = calloc(n, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    for (size_t i = 0; i < n; i++)
        r[i] = rmap(0, 0, (uint32_t)i + 1, BASE, 4096, PERM_RW, false);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_INPUT_ERROR);
    char want[64];
    snprintf(want, sizeof(want), "mem:%zu: ", n);
    const char *err = sim_log_last_error(&h->log);
    ck_assert_msg(strstr(err, want) && strstr(err, "16-bit domain ids"), "%s",
                  err);
    free(r);
    pfx_free(h);
}

START_TEST(test_ids_exhausted_native)
{
    too_many((const char *[]){NULL}, DOMAIN_IDS);
}
END_TEST

/* In a VM the stage-2 domain takes one id (vm.c: ioasid_virt_create). */
START_TEST(test_ids_exhausted_vm)
{
    too_many((const char *[]){"vm.devices=1", NULL}, DOMAIN_IDS - 1);
}
END_TEST

/* An unmap whose invalidation is still pending when a later record at the
 * same time stops the run (an input error): what is pending is freed at
 * destroy. The leak itself shows only under ASan or valgrind (the asan
 * preset runs this test); here the run must end with the input error. */
static void unmap_then_error(const char *const *sets)
{
    pfx_t *h = pfx_new(sets);
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 64 << 10, PERM_RW, true),
        runmap(10, 0, 1, BASE, 4096),
        rdma(10, 0, 99, BASE, 64, false), /* unknown PASID */
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_INPUT_ERROR);
    pfx_free(h);
}

START_TEST(test_unmap_pending_at_error_native)
{
    unmap_then_error((const char *[]){NULL});
}
END_TEST

START_TEST(test_unmap_pending_at_error_vm)
{
    unmap_then_error((const char *[]){"vm.devices=1", NULL});
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("unmap");
    tcase_add_test(tc, test_unmap_nothing_native);
    tcase_add_test(tc, test_unmap_nothing_vm);
    suite_add_tcase(s, tc);
    TCase *ids = tcase_create("domain_ids");
    tcase_set_timeout(ids, 120);
    tcase_add_test(ids, test_ids_reused_native);
    tcase_add_test(ids, test_ids_reused_distinct_pasids);
    tcase_add_test(ids, test_ids_exhausted_native);
    tcase_add_test(ids, test_ids_exhausted_vm);
    suite_add_tcase(s, ids);
    TCase *leak = tcase_create("leak");
    tcase_add_test(leak, test_unmap_pending_at_error_native);
    tcase_add_test(leak, test_unmap_pending_at_error_vm);
    suite_add_tcase(s, leak);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
