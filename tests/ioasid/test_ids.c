/*
 * tests/ioasid/test_ids.c - unmapping nothing: an unmap whose range holds
 * no mapping of a known PASID is a counted no-op (trace.unmaps_empty), as
 * Linux's munmap of an unmapped range succeeds (mm/mmap.c, do_vmi_munmap:
 * no VMA in the range, return 0): no page table change and no invalidation,
 * natively and in a VM.
 */
#include <check.h>

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

static Suite *suite(void)
{
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("unmap");
    tcase_add_test(tc, test_unmap_nothing_native);
    tcase_add_test(tc, test_unmap_nothing_vm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
