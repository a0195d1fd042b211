/*
 * tests/pcie/test_fault_policy_platform.c - device.fault_policy in the
 * whole machine (tests/platform_fixture.h): the same small trace (native
 * SVA, pages mapped but not present) under pri, block and partial, and the
 * policy chosen per device class ([device.NAME] inherits [device]).
 * docs/model.md, Device fault policies, gives the sources (Intel DSA
 * block on fault; DSA_COMP_PAGE_FAULT_NOBOF in Linux
 * include/uapi/linux/idxd.h).
 */
#include <check.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

#define VA 0x10000000ull

/* 6 DMAs of 256 bytes to 6 pages of one mapping, none present: every
 * page faults once, one DMA at a time apart enough that none overlaps
 * another's fault. */
static size_t trace(trace_record_t *r)
{
    size_t n = 0;
    r[n++] = rmap(0, 0, 1, VA, 0x10000, PERM_RW, false);
    for (unsigned i = 0; i < 6; i++)
        r[n++] = rdma((1 + i) * 200 * SIM_US, 0, 1, VA + i * 0x1000, 256,
                      i % 2 == 1);
    return n;
}

static int reader_next(void *src, trace_record_t *rec)
{
    return trace_next(src, rec);
}

START_TEST(test_policies_in_platform)
{
    static const char *const pol[] = {"device.fault_policy=pri",
                                      "device.fault_policy=block",
                                      "device.fault_policy=partial"};
    const char *sets[] = {pol[_i], "device.partial_cost=4us", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t r[8];
    size_t n = trace(r);
    ck_assert_int_eq(pfx_run(h, r, n), 0);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas, 6);
    ck_assert_uint_eq(s.dmas_done, 6);
    ck_assert_uint_eq(s.dmas_failed, 0);
    ck_assert_uint_eq(ctr(h, "device0.bytes"), 6 * 256);
    check_conservation(&s);
    if (_i < 2) {
        /* pri and block: one page request and one minor fault per page. */
        ck_assert_uint_eq(s.page_requests, 6);
        ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 6);
        ck_assert_uint_eq(ctr(h, "device0.partial.completions"), 0);
        ck_assert_uint_eq(ctr(h, "device0.block.faults"), _i == 1 ? 6 : 0);
        ck_assert_uint_eq(s.faults_resolved, 6);
    } else {
        /* partial: no page request reaches the IOMMU or the host's PRQ
         * path; each fault is one partial completion, fixed by software
         * after partial_cost, which touches the page through the mm's
         * fault handler (one minor fault per page, as with pri). */
        ck_assert_uint_eq(s.page_requests, 0);
        ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 6);
        ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 0);
        ck_assert_uint_eq(ctr(h, "device0.partial.completions"), 6);
        ck_assert_uint_eq(ctr(h, "device0.partial.resubmits"), 6);
        ck_assert_uint_eq(ctr(h, "device0.block.faults"), 0);
        sim_hist_t *sw = hist(h, "device0.partial.software");
        ck_assert_uint_eq(sw->count, 6);
        ck_assert_uint_eq(sw->min, 4 * SIM_US);
        ck_assert_uint_eq(sw->max, 4 * SIM_US);
    }
    pfx_free(h);
}
END_TEST

/*
 * The three policies on the golden trace (tests/golden/mixed.trace with
 * mixed.ini: absent and present memory, an Invalid write, accesses
 * outside any mapping, an unmap, a burst that overflows the PRQ): every
 * DMA ends done or failed, every page request is settled, and each policy
 * leaves its own mark: block stalls the engine on each fault (block.faults
 * = the faults the device took, its page requests flow as with pri);
 * partial sends no page request at all.
 */
START_TEST(test_policies_golden_trace)
{
    static const char *const pol[] = {"device.fault_policy=pri",
                                      "device.fault_policy=block",
                                      "device.fault_policy=partial"};
    const char *src = getenv("IOMMUSIM_SOURCE_DIR");
    ck_assert_ptr_nonnull(src);
    char ini[4096], path[4096];
    snprintf(ini, sizeof(ini), "%s/tests/golden/mixed.ini", src);
    snprintf(path, sizeof(path), "%s/tests/golden/mixed.trace", src);
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    platform_cfg_t pc;
    ck_assert_int_eq(platform_register(cfg, &pc), 0);
    ck_assert_int_eq(sim_config_load_file(cfg, ini), 0);
    ck_assert_int_eq(sim_config_set(cfg, pol[_i]), 0);
    ck_assert_int_eq(platform_check(&pc, &log), 0);
    platform_t *p = platform_create(&pc, &log);
    ck_assert_ptr_nonnull(p);
    trace_reader_t *r = trace_open(path, &log);
    ck_assert_ptr_nonnull(r);
    platform_source_t s0 = {reader_next, r, path};
    ck_assert_int_eq(platform_run(p, &s0, 1), PLATFORM_OK);
    platform_summary_t s;
    platform_summarize(p, &s);
    ck_assert_uint_gt(s.dmas, 0);
    ck_assert_uint_eq(s.dmas_done + s.dmas_failed, s.dmas);
    ck_assert_uint_eq(s.dmas_unfinished, 0);
    check_conservation(&s);
    sim_stats_t *st = platform_stats(p);
    uint64_t block = 0, partial = 0, asked = 0;
    for (unsigned d = 0; d < 2; d++) {
        char n[64];
        snprintf(n, sizeof(n), "device%u.block.faults", d);
        block += sim_stats_find_counter(st, n)->value;
        snprintf(n, sizeof(n), "device%u.partial.completions", d);
        partial += sim_stats_find_counter(st, n)->value;
        snprintf(n, sizeof(n), "device%u.pri.page_requests", d);
        asked += sim_stats_find_counter(st, n)->value;
    }
    if (_i < 2) {
        ck_assert_uint_gt(s.page_requests, 0);
        ck_assert_uint_eq(partial, 0);
        ck_assert_uint_eq(block > 0, _i == 1);
    } else {
        ck_assert_uint_eq(s.page_requests, 0);
        ck_assert_uint_eq(asked, 0);
        ck_assert_uint_gt(partial, 0);
        ck_assert_uint_eq(block, 0);
    }
    trace_close(r);
    platform_destroy(p);
    sim_config_destroy(cfg);
}
END_TEST

/* partial refuses what it cannot fix: a write to a page the IOMMU's table
 * already holds read-only fails the DMA after one partial completion. */
START_TEST(test_partial_refused_in_platform)
{
    const char *sets[] = {"device.fault_policy=partial", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, VA, 0x1000, TRACE_PERM_R, true),
        rdma(10 * SIM_US, 0, 1, VA, 64, true),
    };
    ck_assert_int_eq(pfx_run(h, r, 2), 0);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "device0.partial.completions"), 1);
    ck_assert_uint_eq(ctr(h, "device0.partial.failed"), 1);
    pfx_free(h);
}
END_TEST

/* Per device class: [device] sets block, the class nic keeps it
 * (inherited), the class gpu sets partial. */
START_TEST(test_policy_per_class)
{
    const char *sets[] = {"device.fault_policy=block",
                          "device.nic.count=1",
                          "device.gpu.count=1",
                          "device.gpu.rid_base=0x300",
                          "device.gpu.fault_policy=partial",
                          NULL};
    pfx_t *h = pfx_new(sets);
    int nic = platform_device_lookup(h->p, "nic0");
    int gpu = platform_device_lookup(h->p, "gpu0");
    ck_assert_int_ge(nic, 0);
    ck_assert_int_ge(gpu, 0);
    trace_record_t r[] = {
        rmap(0, (uint32_t)nic, 1, VA, 0x1000, PERM_RW, false),
        rmap(0, (uint32_t)gpu, 2, VA, 0x1000, PERM_RW, false),
        rdma(10 * SIM_US, (uint32_t)nic, 1, VA, 64, false),
        rdma(10 * SIM_US, (uint32_t)gpu, 2, VA, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, 4), 0);
    char name[64];
    snprintf(name, sizeof(name), "device%d.block.faults", nic);
    ck_assert_uint_eq(ctr(h, name), 1);
    snprintf(name, sizeof(name), "device%d.partial.completions", nic);
    ck_assert_uint_eq(ctr(h, name), 0);
    snprintf(name, sizeof(name), "device%d.block.faults", gpu);
    ck_assert_uint_eq(ctr(h, name), 0);
    snprintf(name, sizeof(name), "device%d.partial.completions", gpu);
    ck_assert_uint_eq(ctr(h, name), 1);
    snprintf(name, sizeof(name), "device%d.dmas_done", gpu);
    ck_assert_uint_eq(ctr(h, name), 1);
    snprintf(name, sizeof(name), "device%d.dmas_done", nic);
    ck_assert_uint_eq(ctr(h, name), 1);
    pfx_free(h);
}
END_TEST

static Suite *platform_policy_suite(void)
{
    Suite *s = suite_create("fault_policy_platform");
    TCase *tc = tcase_create("platform");
    tcase_add_loop_test(tc, test_policies_in_platform, 0, 3);
    tcase_add_loop_test(tc, test_policies_golden_trace, 0, 3);
    tcase_add_test(tc, test_partial_refused_in_platform);
    tcase_add_test(tc, test_policy_per_class);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(platform_policy_suite());
}
