/*
 * tests/ioasid/test_hugepages.c - huge pages reached from a trace: the map
 * record's page size (4K, 2M, 1G), the host's THP policy (host.thp) and
 * the guest memory's stage-2 page size (vm.s2_page), checked through the
 * whole platform with text traces (trace reader -> replay -> devices).
 *
 *   a. the reads of a cold walk (paging-structure caches and stage-2 TLB
 *      off) follow the 2-D walk formula of Bhargava et al., "Accelerating
 *      Two-Dimensional Page Walks for Virtualized Systems", ASPLOS'08:
 *      with n guest and m host levels a nested walk reads n(m + 1) + m =
 *      (n + 1)(m + 1) - 1 entries, 24 for 4 x 4; a leaf of 2 MiB ends its
 *      stage one level early and one of 1 GiB two, so n and m count the
 *      levels down to the leaf (guest: the map's page size; host, for the
 *      guest's table pointers: their stage-2 leaf, the stage-2 page size
 *      at most 2 MiB; host, for the data: vm.s2_page);
 *   b. the size of an ATS Translation Completion (PCIe r4.0 section
 *      10.2.3.2: the S bit and the address bits give the translation's
 *      size) equals the mapping's page size, and in nested mode the
 *      smaller of the two stages' leaves (a translation spans what both
 *      stages map contiguously); seen from the device: one ATC entry
 *      serves every access inside that size and no access outside it;
 *   c. host.thp = always populates a faulting 4 KiB mapping with a 2 MiB
 *      page where the 2 MiB-aligned range lies inside the mapping (Linux
 *      mm/memory.c: __handle_mm_fault -> create_huge_pmd ->
 *      do_huge_pmd_anonymous_page, thp_vma_suitable_order), 4 KiB pages
 *      elsewhere;
 *   d. an unmap may not split a huge page of the trace, but splits a THP.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

#define VA 0x7f0000000000ull /* 1 GiB-aligned */
#define LEVELS 4u            /* iommu.levels, both stages */

/* Walk caches off: every walk reads every entry of its path. */
static const char *const cold_sets[] = {"iommu.psc_s1_l2=0",
                                        "iommu.psc_s1_l3=0",
                                        "iommu.psc_s1_l4=0",
                                        "iommu.psc_s1_l5=0",
                                        "iommu.psc_s2_l2=0",
                                        "iommu.psc_s2_l3=0",
                                        "iommu.psc_s2_l4=0",
                                        "iommu.psc_s2_l5=0",
                                        "iommu.s2tlb=0",
                                        "iommu.levels=4",
                                        NULL};

static const char *const size_names[] = {"4K", "2M", "1G"};

static unsigned shift_of(unsigned size)
{
    return 12 + 9 * size;
}

/* Levels a stage of LEVELS levels walks down to a leaf of 1 << shift. */
static unsigned levels_to(unsigned shift)
{
    return LEVELS - (shift - 12) / 9;
}

/* The trace reader as a platform source. */
static int reader_next(void *src, trace_record_t *rec)
{
    return trace_next(src, rec);
}

/* Replay a text trace (records only: the header is added) through the
 * trace reader. */
static int run_text(pfx_t *h, const char *records)
{
    char text[4096];
    snprintf(text, sizeof(text), "iommu-sim-trace 1\ntimeunit ns\n%s", records);
    FILE *f = fmemopen(text, strlen(text), "r");
    ck_assert_ptr_nonnull(f);
    trace_reader_t *r = trace_open_stream(f, "t.trace", &h->log);
    ck_assert_msg(r != NULL, "%s", sim_log_last_error(&h->log));
    platform_source_t src = {reader_next, r, "t.trace"};
    int rc = platform_run(h->p, &src, 1);
    trace_close(r);
    fclose(f);
    return rc;
}

/* ------------------------------------------ a. cold walk read counts */

/* Nested: guest stage-1 pages of size s1, guest memory's stage 2 of s2
 * (indices into size_names). */
static void nested_reads(unsigned s1, unsigned s2)
{
    char s2set[32], mem[32], recs[512];
    snprintf(s2set, sizeof(s2set), "vm.s2_page=%s", size_names[s2]);
    /* A 1 GiB page (of either stage) needs 1 GiB of guest memory: VFIO
     * maps with the largest leaves the range allows. */
    snprintf(mem, sizeof(mem), "vm.memory=%s",
             s1 == 2 || s2 == 2 ? "1G" : "64M");
    const char *sets[] = {"vm.devices=1", s2set, mem, NULL};
    pfx_t *h = pfx_new2(cold_sets, sets);
    snprintf(recs, sizeof(recs),
             "0 map 0 1 0x%llx %s rw- present %s\n"
             "1000 read 0 1 0x%llx 64\n",
             VA, size_names[s1], size_names[s1], VA + 0x40);
    ck_assert_int_eq(run_text(h, recs), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);

    /* 2-D walk: n guest levels, each guest entry's GPA walked through m_t
     * host levels and read, then the data GPA through m_d host levels. */
    unsigned n = levels_to(shift_of(s1));
    unsigned table_shift = shift_of(s2) < 21 ? shift_of(s2) : 21;
    unsigned m_t = levels_to(table_shift), m_d = levels_to(shift_of(s2));
    uint64_t want = (uint64_t)n * (m_t + 1) + m_d;
    if (s1 == 0 && s2 == 0)
        ck_assert_uint_eq(want, (LEVELS + 1) * (LEVELS + 1) - 1); /* 24 */
    sim_hist_t *w = hist(h, "iommu.walk.reads");
    ck_assert_uint_eq(w->count, 1);
    ck_assert_msg(w->min == want && w->max == want,
                  "s1 %s s2 %s: %llu reads, expected %llu", size_names[s1],
                  size_names[s2], (unsigned long long)w->max,
                  (unsigned long long)want);
    pfx_free(h);
}

START_TEST(test_nested_walk_reads)
{
    nested_reads((unsigned)_i / 3, (unsigned)_i % 3);
}
END_TEST

/* Native SVA: one stage of LEVELS levels down to the map's page. */
START_TEST(test_native_walk_reads)
{
    unsigned s = (unsigned)_i;
    char recs[512];
    pfx_t *h = pfx_new(cold_sets);
    snprintf(recs, sizeof(recs),
             "0 map 0 1 0x%llx %s rw- present %s\n"
             "1000 read 0 1 0x%llx 64\n",
             VA, size_names[s], size_names[s], VA + 0x40);
    ck_assert_int_eq(run_text(h, recs), PLATFORM_OK);
    sim_hist_t *w = hist(h, "iommu.walk.reads");
    ck_assert_uint_eq(w->count, 1);
    ck_assert_uint_eq(w->max, levels_to(shift_of(s)));
    ck_assert_uint_eq(w->min, levels_to(shift_of(s)));
    pfx_free(h);
}
END_TEST

/* ---------------------------------- b. ATS translation completion size */

/*
 * Three reads, one at a time: at VA, in the last bytes of [VA, VA+E) and
 * at VA+E, where E is the expected translation size. The device sends a
 * Translation Request for the first and the third only (2 requests, 1 ATC
 * hit) exactly when the completion covered [VA, VA+E): a smaller one
 * makes the second miss too, a larger one makes the third hit.
 */
static void check_ats_size(pfx_t *h, uint64_t e, const char *map)
{
    char recs[512];
    snprintf(recs, sizeof(recs),
             "%s"
             "1000 read 0 1 0x%llx 64\n"
             "100000 read 0 1 0x%llx 64\n"
             "200000 read 0 1 0x%llx 64\n",
             map, VA, VA + e - 64, VA + e);
    ck_assert_int_eq(run_text(h, recs), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 3);
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 2);
    ck_assert_uint_eq(ctr(h, "device0.atc.hits"), 1);
}

/* Two pages of the map's size, so the access at VA+E is mapped. */
static void map_two(char *buf, size_t len, unsigned s)
{
    snprintf(buf, len, "0 map 0 1 0x%llx 0x%llx rw- present %s\n", VA,
             2ull << shift_of(s), size_names[s]);
}

START_TEST(test_ats_size_native)
{
    unsigned s = (unsigned)_i;
    char map[128];
    map_two(map, sizeof(map), s);
    pfx_t *h = pfx_new(NULL);
    check_ats_size(h, 1ull << shift_of(s), map);
    pfx_free(h);
}
END_TEST

/* Nested (s1, s2) pairs: the completion is the smaller leaf. */
static const unsigned nested_pairs[][2] = {
    {0, 2}, {1, 2}, {2, 2}, {1, 0}, {2, 1}, {1, 1},
};

START_TEST(test_ats_size_nested)
{
    unsigned s1 = nested_pairs[_i][0], s2 = nested_pairs[_i][1];
    char s2set[32], mem[32], map[128];
    snprintf(s2set, sizeof(s2set), "vm.s2_page=%s", size_names[s2]);
    snprintf(mem, sizeof(mem), "vm.memory=%s",
             s1 == 2   ? "2G"
             : s2 == 2 ? "1G"
                       : "64M");
    const char *sets[] = {"vm.devices=1", s2set, mem, NULL};
    map_two(map, sizeof(map), s1);
    pfx_t *h = pfx_new(sets);
    unsigned e = shift_of(s1) < shift_of(s2) ? shift_of(s1) : shift_of(s2);
    check_ats_size(h, 1ull << e, map);
    pfx_free(h);
}
END_TEST

/* -------------------------------------------------------------- c. THP */

/*
 * A 4 KiB mapping [VA+4K, VA+4M), absent: its only whole 2 MiB-aligned
 * range is [VA+2M, VA+4M). Reads at VA+2M, VA+4M-4K, VA+4K, VA+8K, one at
 * a time. thp=never: each faults (4 page requests, 2 Translation Requests
 * each: the refused one and the retry). thp=always: the first fault maps
 * a 2 MiB page whose completion also serves the second read (an ATC hit,
 * no request); the last two fault in 4 KiB pages.
 */
START_TEST(test_thp)
{
    bool always = _i;
    const char *sets[] = {always ? "host.thp=always" : "host.thp=never", NULL};
    pfx_t *h = pfx_new2(cold_sets, sets);
    char recs[512];
    snprintf(recs, sizeof(recs),
             "0 map 0 1 0x%llx 0x3ff000 rw- absent\n"
             "1000 read 0 1 0x%llx 64\n"
             "200000 read 0 1 0x%llx 64\n"
             "400000 read 0 1 0x%llx 64\n"
             "600000 read 0 1 0x%llx 64\n",
             VA + 0x1000, VA + 0x200000, VA + 0x3ff000, VA + 0x1000,
             VA + 0x2000);
    ck_assert_int_eq(run_text(h, recs), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 4);
    uint64_t faults = always ? 3 : 4;
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), faults);
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 2 * faults);
    pfx_free(h);
}
END_TEST

/* ---------------------------------------------------- d. unmap splits */

START_TEST(test_unmap_split)
{
    /* A trace's 2 MiB page cannot be unmapped in part. */
    pfx_t *h = pfx_new(NULL);
    char recs[512];
    snprintf(recs, sizeof(recs),
             "0 map 0 1 0x%llx 2M rw- present 2M\n"
             "10 unmap 0 1 0x%llx 4K\n",
             VA, VA + 0x1000);
    ck_assert_int_eq(run_text(h, recs), PLATFORM_INPUT_ERROR);
    ck_assert_ptr_nonnull(
        strstr(sim_log_last_error(&h->log), "must not split a huge page"));
    pfx_free(h);

    /* A THP is split: the rest of it stays mapped, without a fault. */
    const char *sets[] = {"host.thp=always", NULL};
    h = pfx_new(sets);
    snprintf(recs, sizeof(recs),
             "0 map 0 1 0x%llx 2M rw- absent\n"
             "1000 read 0 1 0x%llx 64\n"
             "200000 unmap 0 1 0x%llx 4K\n"
             "400000 read 0 1 0x%llx 64\n",
             VA, VA, VA + 0x1000, VA + 0x2000);
    ck_assert_int_eq(run_text(h, recs), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    pfx_free(h);
}
END_TEST

static Suite *hugepages_suite(void)
{
    Suite *s = suite_create("hugepages");
    TCase *tc = tcase_create("hugepages");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_nested_walk_reads, 0, 9);
    tcase_add_loop_test(tc, test_native_walk_reads, 0, 3);
    tcase_add_loop_test(tc, test_ats_size_native, 0, 3);
    tcase_add_loop_test(tc, test_ats_size_nested, 0, 6);
    tcase_add_loop_test(tc, test_thp, 0, 2);
    tcase_add_test(tc, test_unmap_split);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(hugepages_suite());
}
