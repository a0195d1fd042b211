/*
 * tests/ioasid/test_validation.c - the DEFAULT configuration held against
 * the validation targets listed in docs/model.md, "Validation targets",
 * each with its anchor (only the VM on/off and the device settings a
 * target needs are set; every latency is the default):
 *   T1  64 B DMA read round trip, IOTLB hit, no ATS: 0.52-0.62 us;
 *   T4  host IOPF software handling of native minor faults in a steady,
 *       unsaturated stream: >= 95 % in 1-10 us, mean 5-12 us;
 *   T8  isolated native fault, end to end: 5-20 us (median);
 *   T12 isolated virtualised fault: 25-60 us and >= 3x T8;
 *   T13 share of the virtualised latency in software hand-offs (host
 *       report, VMM, guest, VM exit) > 50 %.
 * Records come from memory; statistics are the run's histograms.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

static double us(double ps)
{
    return ps / (double)US;
}

/*
 * n faults on distinct absent pages of one mapping of device 0, `gap`
 * apart: with a gap much longer than a fault, each is isolated. Every DMA
 * must complete. The platform is returned for its statistics.
 */
static pfx_t *fault_stream(const char *const *sets, unsigned n, sim_time_t gap)
{
    pfx_t *h = pfx_new(sets);
    trace_record_t *r = calloc(n + 1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r[0] = (trace_record_t){.op = TRACE_MAP,
                            .time = 0,
                            .pasid = 1,
                            .addr = BASE,
                            .len = (uint64_t)n * 0x1000,
                            .perm = PERM_RW,
                            .present = false};
    for (unsigned i = 0; i < n; i++)
        r[1 + i] = (trace_record_t){.op = TRACE_READ,
                                    .time = 1 * US + i * gap,
                                    .pasid = 1,
                                    .addr = BASE + (uint64_t)i * 0x1000,
                                    .len = 64};
    ck_assert_int_eq(pfx_run(h, r, n + 1), PLATFORM_OK);
    free(r);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas_done, n);
    ck_assert_uint_eq(s.faults_resolved, n);
    return h;
}

enum { ISOLATED = 400 };
static const sim_time_t isolated_gap = 2 * SIM_MS;

/* T8 (anchors: ISPASS'16, HPCA'16, MSched [R2]): a host-only single
 * device fault, device sees the ATS failure .. device DMA succeeds:
 * 5-20 us typical (median about 9 us with the defaults). */
static uint64_t native_isolated_p50(void)
{
    pfx_t *h = fault_stream(NULL, ISOLATED, isolated_gap);
    uint64_t p50 = sim_hist_percentile(hist(h, "fault.e2e"), 50);
    pfx_free(h);
    return p50;
}

START_TEST(test_T8_native_isolated_fault)
{
    uint64_t p50 = native_isolated_p50();
    ck_assert_msg(p50 >= 5 * US && p50 <= 20 * US,
                  "T8: isolated native fault p50 %.3f us, target 5-20 us",
                  us((double)p50));
}
END_TEST

/* T12 and T13 (not anchored: no public measurement): an isolated
 * virtualised fault (iommufd -> VMM -> guest vIOMMU, the default routing)
 * takes 25-60 us and at least 3x the native one (T8, same build and
 * trace); more than half of it is the software hand-offs: host report,
 * VMM (wake-up, read, route, inject), guest, VM exit and completion. */
START_TEST(test_T12_T13_virtualized_isolated_fault)
{
    uint64_t t8 = native_isolated_p50();
    static const char *const sets[] = {"vm.devices=1", NULL};
    pfx_t *h = fault_stream(sets, ISOLATED, isolated_gap);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), ISOLATED);
    sim_hist_t *e2e = hist(h, "fault.e2e");
    uint64_t p50 = sim_hist_percentile(e2e, 50);
    /* T12 */
    ck_assert_msg(p50 >= 25 * US && p50 <= 60 * US,
                  "T12: isolated virtualised fault p50 %.3f us, target "
                  "25-60 us",
                  us((double)p50));
    ck_assert_msg(p50 >= 3 * t8,
                  "T12: virtualised p50 %.3f us < 3 x native p50 %.3f us",
                  us((double)p50), us((double)t8));
    /* T13: the stages' share of the end-to-end mean (each span marks
     * every stage once, so sums over spans compare directly). */
    const unsigned sw[] = {PLATFORM_STAGE_HOST_FAULT, PLATFORM_STAGE_VMM,
                           PLATFORM_STAGE_GUEST, PLATFORM_STAGE_VMM_EXIT};
    double part = 0;
    for (unsigned i = 0; i < N_OF(sw); i++) {
        ck_assert_uint_eq(stage(h, sw[i])->count, e2e->count);
        part += stage(h, sw[i])->sum;
    }
    double share = part / e2e->sum;
    ck_assert_msg(share > 0.5,
                  "T13: software hand-offs are %.1f %% of the virtualised "
                  "fault latency, target > 50 %%",
                  100 * share);
    pfx_free(h);
}
END_TEST

/* T4 (anchor: the svm_prq histogram in QEMU
 * docs/devel/migration/qpl-compression.rst): host IOPF software handling
 * (report .. response submitted: the host_fault stage of a native
 * fault), minor faults in a steady stream: >= 95 % of requests in
 * 1-10 us, mean 5-12 us.
 * A few thousand faults 500 us apart: the one handler (T11: mean 9 us)
 * is busy about 2 % of the time, so the stream is steady and
 * unsaturated and host_fault is the handling time, not queueing behind
 * the 0.1-0.56 ms tail of host.iopf (at 50 us apart, 18 % busy, that
 * queueing alone puts p95 near 0.2 ms). The same histogram's tail gives
 * the third part of the target: p99.5 >= 100 us. */
START_TEST(test_T4_host_handling_steady_stream)
{
    pfx_t *h = fault_stream(NULL, 3000, 500 * US);
    sim_hist_t *hf = stage(h, PLATFORM_STAGE_HOST_FAULT);
    ck_assert_uint_eq(hf->count, 3000);
    uint64_t p1 = sim_hist_percentile(hf, 1), p96 = sim_hist_percentile(hf, 96);
    double mean = sim_hist_mean(hf);
    /* At most 1 % below 1 us and at most 4 % above 10 us: >= 95 % in
     * 1-10 us (so in particular p95 <= 10 us). */
    ck_assert_msg(p1 >= 1 * US, "T4: p1 %.3f us < 1 us", us((double)p1));
    ck_assert_msg(p96 <= 10 * US, "T4: p96 %.3f us > 10 us", us((double)p96));
    ck_assert_msg(mean >= 5.0 * US && mean <= 12.0 * US,
                  "T4: mean %.3f us, target 5-12 us", us(mean));
    uint64_t p995 = sim_hist_percentile(hf, 99.5);
    ck_assert_msg(p995 >= 100 * US, "T4: p99.5 %.3f us < 100 us",
                  us((double)p995));
    pfx_free(h);
}
END_TEST

/* T1 (anchor: pcie-bench data, Neugebauer et al., SIGCOMM'18): a 64 B
 * DMA read round trip with an IOTLB hit, device without ATS (translated
 * in the IOMMU): 0.52-0.62 us.
 * The model keeps no per-DMA latency statistic; the run ends when the last
 * DMA completes, so the second read of a page (the first filled the
 * context caches and the IOTLB), issued alone, takes end - issue. */
START_TEST(test_T1_dma_read_iotlb_hit)
{
    static const char *const sets[] = {"device.ats=false", NULL};
    pfx_t *h = pfx_new(sets);
    const sim_time_t t2 = 100 * US;
    trace_record_t r[] = {
        {.op = TRACE_MAP,
         .time = 0,
         .pasid = 1,
         .addr = BASE,
         .len = 0x1000,
         .perm = PERM_RW,
         .present = true},
        {.op = TRACE_READ, .time = 1 * US, .pasid = 1, .addr = BASE, .len = 64},
        {.op = TRACE_READ,
         .time = t2,
         .pasid = 1,
         .addr = BASE + 0x40,
         .len = 64},
    };
    ck_assert_int_eq(pfx_run(h, r, 3), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "iommu.iotlb.hits"), 1);
    sim_time_t rt = sim_now(platform_sim(h->p)) - t2;
    ck_assert_msg(rt >= 520 * SIM_NS && rt <= 620 * SIM_NS,
                  "T1: 64 B read round trip with an IOTLB hit %.3f us, "
                  "target 0.52-0.62 us",
                  us((double)rt));
    pfx_free(h);
}
END_TEST

static Suite *validation_suite(void)
{
    Suite *s = suite_create("validation");
    TCase *tc = tcase_create("targets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_T1_dma_read_iotlb_hit);
    tcase_add_test(tc, test_T4_host_handling_steady_stream);
    tcase_add_test(tc, test_T8_native_isolated_fault);
    tcase_add_test(tc, test_T12_T13_virtualized_isolated_fault);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(validation_suite());
}
