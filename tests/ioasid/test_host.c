/*
 * tests/ioasid/test_host.c - the host side of the fault path, exercised
 * through the whole platform (device, link, IOMMU, host driver, mm):
 * faults inside a mapping are fixed (minor fault, Success), faults outside
 * a mapping or against its permission are answered Invalid, duplicate
 * faults on one page cost one minor fault, an unmap invalidates the IOTLB
 * and the device ATC through the invalidation queue so no stale
 * translation is used, every page request is accounted for (responded /
 * auto-responded / dropped / in flight) under PRQ overflow (VT-d and
 * SMMUv3), and the DMA of a device without ATS is translated in the IOMMU
 * (aborted on a fault, or held and resumed in the SMMUv3 stall model).
 *
 * Configuration comes from the platform's parameter tables (defaults) with
 * sim_config_set overrides; records come from an in-memory source.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

START_TEST(test_fault_in_mapping_succeeds)
{
    pfx_t *h = pfx_new(NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x10000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE + 0x1040, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 0);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.spurious_faults"), 0);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_success"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 0);
    ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.resp_success"), 1);
    /* One denied translation, one after the fix. */
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 2);
    ck_assert_uint_eq(ctr(h, "iommu.walk.s1_not_present"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.walk.ok"), 1);
    ck_assert_uint_eq(ctr(h, "fault.closed"), 1);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas, 1);
    ck_assert_uint_eq(s.page_requests, 1);
    ck_assert_uint_eq(s.pr_responded, 1);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    ck_assert_uint_eq(s.faults_resolved, 1);
    /* The stages add up to the end-to-end time. */
    sim_hist_t *e2e = hist(h, "fault.e2e");
    uint64_t sum = 0;
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
        sum += (uint64_t)stage(h, k)->sum;
    ck_assert_uint_eq(e2e->count, 1);
    ck_assert_uint_eq(sum, e2e->max);
    pfx_free(h);
}
END_TEST

/* A present mapping needs no fault at all. */
START_TEST(test_present_mapping_no_fault)
{
    pfx_t *h = pfx_new(NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x2000, 256, false),
        rdma(2 * US, 0, 1, BASE + 0x3000, 256, true),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 0);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 0);
    ck_assert_uint_eq(ctr(h, "iommu.mem.bytes"), 512);
    pfx_free(h);
}
END_TEST

START_TEST(test_outside_mapping_invalid)
{
    pfx_t *h = pfx_new(NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x10000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE + 0x10000, 64, false), /* just past it */
        rdma(2 * US, 0, 1, BASE - 0x1000, 64, true),   /* just before it */
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 2);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 0);
    ck_assert_uint_eq(ctr(h, "host.mm.bad_access"), 2);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 0);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 2);
    ck_assert_uint_eq(ctr(h, "device0.pri.resp_invalid"), 2);
    /* Invalid ends the access: no second translation request. */
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 2);
    ck_assert_uint_eq(ctr(h, "fault.failed"), 2);
    pfx_free(h);
}
END_TEST

/* A write to a read-only mapping is Invalid; a read of it is fixed. */
START_TEST(test_write_to_readonly_invalid)
{
    pfx_t *h = pfx_new(NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x10000, TRACE_PERM_R, false),
        rdma(1 * US, 0, 1, BASE + 0x2000, 64, true),
        rdma(50 * US, 0, 1, BASE + 0x2000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.bad_access"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_success"), 1);
    pfx_free(h);
}
END_TEST

/* Several DMAs fault on one page at once: one minor fault, the other
 * requests find the page present (spurious), every DMA completes. */
START_TEST(test_duplicate_faults_one_minor)
{
    pfx_t *h = pfx_new(NULL);
    enum { N = 6 };
    trace_record_t r[1 + N];
    r[0] = rmap(0, 0, 1, BASE, 0x10000, PERM_RW, false);
    for (unsigned i = 0; i < N; i++)
        r[1 + i] = rdma(1 * US, 0, 1, BASE + 0x5000 + i * 64, 64, i & 1);
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    uint64_t prs = ctr(h, "device0.pri.page_requests");
    ck_assert_uint_gt(prs, 1);
    ck_assert_uint_le(prs, N);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.spurious_faults"), prs - 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_success"), prs);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), N);
    pfx_free(h);
}
END_TEST

/* Unmap: the IOTLB and the ATC are invalidated; a later DMA to the page
 * translates again (no stale translation) and, the page being gone, is
 * refused. */
START_TEST(test_unmap_invalidates)
{
    pfx_t *h = pfx_new(NULL);
    sim_time_t t_unmap = 20 * US, t_read = 200 * US;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x1000, 64, false),
        rdma(10 * US, 0, 1, BASE + 0x1000, 64, false), /* ATC hit */
        runmap(t_unmap, 0, 1, BASE + 0x1000, 0x1000),
        rdma(t_read, 0, 1, BASE + 0x1000, 64, false),
        rdma(t_read, 0, 1, BASE + 0x2000, 64, false), /* still mapped */
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    /* The invalidation finished before the read (so the read shows
     * whether anything stale survived). */
    sim_hist_t *ul = hist(h, "host.unmap.latency");
    ck_assert_uint_eq(ul->count, 1);
    ck_assert_uint_lt(ul->max, t_read - t_unmap);
    ck_assert_uint_eq(ctr(h, "host.unmap.count"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.devtlb.invalidations"), 1);
    /* Through the invalidation queue: IOTLB, device-TLB, wait; the wait
     * came after the device's completion. */
    ck_assert_uint_eq(ctr(h, "iommu.qi.iotlb"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.qi.devtlb"), 1);
    ck_assert_uint_ge(ctr(h, "iommu.qi.wait"), 1);
    ck_assert_uint_gt(ul->min,
                      (sim_time_t)sim_dist_mean(&h->pc.host.qi_submit) +
                          h->pc.iommu.qi_iotlb + h->pc.iommu.qi_devtlb +
                          2 * h->pc.link.latency);
    ck_assert_uint_eq(ctr(h, "device0.atc.invalidated"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.iotlb.invalidated"), 1);
    /* Page 1: ATS at 1 us, ATC hit at 10 us, ATS again after the unmap.
     * Page 2: one ATS request. */
    ck_assert_uint_eq(ctr(h, "device0.atc.hits"), 1);
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 3);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 3);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.bad_access"), 1);
    pfx_free(h);
}
END_TEST

/* Unmap, map again (absent), read: the read faults and is fixed with a
 * fresh page. */
START_TEST(test_unmap_remap_faults_again)
{
    pfx_t *h = pfx_new(NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x1000, 64, false),
        runmap(20 * US, 0, 1, BASE, 0x4000),
        rmap(100 * US, 0, 1, BASE, 0x4000, PERM_RW, false),
        rdma(200 * US, 0, 1, BASE + 0x1000, 64, true),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 1);
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 3);
    ck_assert_uint_eq(ctr(h, "device0.atc.hits"), 0);
    pfx_free(h);
}
END_TEST

/*
 * Regression (was a model bug in iommu/iommu.c ev_xlate/walk_done): the
 * walk's result was computed when the walk started, and walk_done
 * inserts it into the IOTLB and sends the completion when the walk ends,
 * whatever happened in between. An unmap whose IOTLB + device-TLB
 * invalidation runs while the walk is in flight therefore completes (the
 * INV_REQ overtakes the completion on the link), and then the walk's stale
 * translation is cached in the IOTLB and the device ATC: a DMA long after
 * the unmap finished reads the freed page without any translation request.
 * (VT-d/PCIe: an invalidation completes only once translations in flight
 * that used the old entries are drained.)
 *
 * Timing comes from the configuration: the unmap lands one walk_read after
 * the walk starts, and the invalidation (host.qi_submit + iommu.qi_iotlb)
 * is made shorter than the rest of the walk (the first translation also
 * reads the 4 context-path entries).
 */
START_TEST(test_unmap_during_walk_leaves_no_stale_translation)
{
    static const char *const sets[] = {"host.qi_submit=50", "iommu.qi_iotlb=50",
                                       NULL};
    pfx_t *h = pfx_new(sets);
    const pcie_link_cfg_t *l = &h->pc.link;
    pcie_msg_t req = {.type = PCIE_MSG_ATS_REQ, .flags = PCIE_F_PASID};
    sim_time_t up =
        pcie_link_serial_time(l, pcie_msg_wire_bytes(l, &req)) + l->latency;
    sim_time_t t_read = 1 * US;
    sim_time_t walk_start = t_read +
                            (sim_time_t)sim_dist_mean(&h->pc.dev.proc) + up +
                            h->pc.iommu.ctx_hit + h->pc.iommu.iotlb_hit;
    sim_time_t walk_end =
        walk_start + (4 + h->pc.iommu.levels) * h->pc.iommu.walk_read;
    sim_time_t t_unmap = walk_start + h->pc.iommu.walk_read;
    sim_time_t inv =
        (sim_time_t)sim_dist_mean(&h->pc.host.qi_submit) + h->pc.iommu.qi_iotlb;
    ck_assert_uint_lt(t_unmap + inv, walk_end); /* the race is set up */
    sim_time_t t_late = t_read + 100 * US;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, true),
        rdma(t_read, 0, 1, BASE + 0x1000, 64, false),
        runmap(t_unmap, 0, 1, BASE + 0x1000, 0x1000),
        rdma(t_late, 0, 1, BASE + 0x1000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    sim_hist_t *ul = hist(h, "host.unmap.latency");
    ck_assert_uint_eq(ul->count, 1);
    ck_assert_uint_lt(t_unmap + ul->max, t_late); /* unmap done long before */
    /* The late DMA must translate again and be refused. (The first DMA
     * raced with the unmap: it may complete or be refused; either way it
     * sends one translation request.) */
    ck_assert_uint_eq(ctr(h, "device0.ats.requests"), 2);
    ck_assert_uint_eq(ctr(h, "device0.atc.hits"), 0);
    ck_assert_uint_ge(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_ge(ctr(h, "host.mm.bad_access"), 1);
    pfx_free(h);
}
END_TEST

/*
 * Regression (was a model bug: the ATC key kept 44 bits of the page
 * number): with 5-level tables (57-bit addresses), a page at bit 56 aliases
 * the ATC entry of the page 2^56 below it. The absent page is never
 * faulted in: the DMA completes on the other page's frame. (See
 * test_device_pri.c test_atc_no_alias_above_bit_55).
 */
START_TEST(test_five_level_no_atc_alias)
{
    static const char *const sets[] = {"iommu.levels=5", NULL};
    pfx_t *h = pfx_new(sets);
    uint64_t lo = 0x1000, hi = (1ull << 56) | 0x1000;
    trace_record_t r[] = {
        rmap(0, 0, 1, lo, 0x1000, PERM_RW, true),
        rmap(0, 0, 1, hi, 0x1000, PERM_RW, false),
        rdma(1 * US, 0, 1, lo, 64, false),
        rdma(50 * US, 0, 1, hi, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    ck_assert_uint_eq(ctr(h, "device0.pri.page_requests"), 1);
    ck_assert_uint_eq(ctr(h, "device0.atc.hits"), 0);
    pfx_free(h);
}
END_TEST

/* Two devices share one PASID value but have separate address spaces. */
START_TEST(test_devices_separate_address_spaces)
{
    static const char *const sets[] = {"device.count=2", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, false),
        rmap(0, 1, 1, BASE + 0x100000, 0x4000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
        rdma(1 * US, 1, 1, BASE, 64, false), /* not mapped for device 1 */
        rdma(1 * US, 1, 1, BASE + 0x100000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "device1.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "device1.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 2);
    pfx_free(h);
}
END_TEST

/* A device without PRI: faults fail, no page requests. */
START_TEST(test_no_pri_device_fails)
{
    static const char *const sets[] = {"device.pri=false", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.prq.received"), 0);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 0);
    pfx_free(h);
}
END_TEST

/* Records for `devs` devices (one absent 16 MiB mapping each, PASID 1)
 * faulting in waves: per device `per` DMAs, each to a page nobody touched,
 * 16 per microsecond; with writes, every fourth is a write. Returns the
 * malloc'd records, their number in *n. */
static trace_record_t *fault_waves(unsigned devs, unsigned per, bool writes,
                                   size_t *n)
{
    trace_record_t *r = calloc((size_t)devs * (per + 1), sizeof(*r));
    ck_assert_ptr_nonnull(r);
    *n = 0;
    for (unsigned d = 0; d < devs; d++)
        r[(*n)++] = rmap(0, d, 1, BASE, 0x1000000, PERM_RW, false);
    for (unsigned i = 0; i < per; i++)
        for (unsigned d = 0; d < devs; d++)
            r[(*n)++] = rdma((1 + i / 16) * US, d, 1, BASE + i * 0x1000, 64,
                             writes && (i + d) % 4 == 0);
    return r;
}

/* Conservation under PRQ overflow: many devices fault at once into a small
 * PRQ. Every page request ends responded, auto-responded or dropped; the
 * devices' own counts agree; every DMA ends done or failed. */
START_TEST(test_conservation_under_overflow)
{
    static const char *const sets[] = {"device.count=8", "iommu.prq_depth=8",
                                       "device.pri_capacity=16",
                                       "device.tags=32", NULL};
    pfx_t *h = pfx_new(sets);
    enum { DEVS = 8, PER = 96 };
    size_t n;
    trace_record_t *r = fault_waves(DEVS, PER, true, &n);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas, DEVS * PER);
    ck_assert_uint_eq(s.dmas_done + s.dmas_failed, s.dmas);
    ck_assert_uint_gt(s.pr_auto_responded, 0);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    /* Independent counts: what the devices sent and received. */
    uint64_t sent = 0, answered = 0, uprgi = 0;
    char name[64];
    for (unsigned d = 0; d < DEVS; d++) {
        pcie_dev_totals_t t;
        pcie_dev_totals(platform_device(h->p, d), &t);
        sent += t.page_requests;
        answered += t.prg_responses;
        ck_assert_uint_eq(t.in_flight, 0);
        snprintf(name, sizeof(name), "device%u.pri.uprgi", d);
        uprgi += ctr(h, name);
    }
    ck_assert_uint_eq(sent, s.page_requests);
    ck_assert_uint_eq(uprgi, 0);
    /* Every request here is last in its group: none dropped, each answered
     * exactly once. */
    ck_assert_uint_eq(s.pr_dropped, 0);
    ck_assert_uint_eq(answered, s.pr_responded + s.pr_auto_responded);
    /* The IOMMU's own split, and the host saw every written request. */
    iommu_prq_totals_t q;
    iommu_prq_totals(platform_iommu(h->p), &q);
    ck_assert_uint_eq(q.received, q.written + q.auto_responded + q.dropped);
    ck_assert_uint_eq(ctr(h, "host.prq.reported"), q.written);
    ck_assert_uint_eq(q.host_responses, ctr(h, "host.iopf.groups"));
    /* Every overflow was recovered: the host drained the queue, cleared
     * PRO, and the queue ends empty with PRO clear. */
    ck_assert_uint_gt(ctr(h, "iommu.prq.overflows"), 0);
    ck_assert_uint_eq(ctr(h, "host.prq.overflow_recoveries"),
                      ctr(h, "iommu.prq.overflows"));
    ck_assert_uint_eq(iommu_prq_status(platform_iommu(h->p)) & IOMMU_PRS_PRO,
                      0);
    ck_assert_uint_eq(iommu_prq_head(platform_iommu(h->p)),
                      iommu_prq_tail(platform_iommu(h->p)));
    /* All accesses are inside mappings: the only way to fail is to run out
     * of retries. */
    uint64_t exhausted = 0;
    for (unsigned d = 0; d < DEVS; d++) {
        snprintf(name, sizeof(name), "device%u.pri.retries_exhausted", d);
        exhausted += ctr(h, name);
    }
    ck_assert_uint_eq(s.dmas_failed, exhausted);
    ck_assert_uint_eq(ctr(h, "host.mm.bad_access"), 0);
    /* The PRQ never held more than depth - 1 entries. */
    sim_gauge_t *occ =
        sim_stats_find_gauge(platform_stats(h->p), "iommu.prq.occupancy");
    ck_assert_ptr_nonnull(occ);
    ck_assert(occ->max <= 8 - 1);
    /* Each touched page was populated once. */
    ck_assert_uint_le(ctr(h, "host.mm.minor_faults"), DEVS * PER);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults") +
                          ctr(h, "host.mm.spurious_faults"),
                      ctr(h, "host.iopf.resp_success"));
    free(r);
    pfx_free(h);
}
END_TEST

/* Stopped part-way (run.max_time), the split still covers every request
 * without exceeding it, and some are in flight. */
START_TEST(test_conservation_mid_run)
{
    static const char *const sets[] = {"device.count=4", "iommu.prq_depth=8",
                                       "run.max_time=6000", NULL};
    pfx_t *h = pfx_new(sets);
    enum { DEVS = 4, PER = 64 };
    trace_record_t r[DEVS * (PER + 1)];
    size_t n = 0;
    for (unsigned d = 0; d < DEVS; d++)
        r[n++] = rmap(0, d, 1, BASE, 0x1000000, PERM_RW, false);
    for (unsigned i = 0; i < PER; i++)
        for (unsigned d = 0; d < DEVS; d++)
            r[n++] = rdma(1 * US, d, 1, BASE + i * 0x1000, 64, false);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
    ck_assert_uint_eq(sim_now(platform_sim(h->p)), h->pc.run.max_time);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_le(s.pr_responded + s.pr_auto_responded + s.pr_dropped,
                      s.page_requests);
    ck_assert_uint_gt(s.pr_in_flight, 0);
    check_conservation(&s);
    ck_assert_uint_lt(s.dmas_done + s.dmas_failed, s.dmas);
    pfx_free(h);
}
END_TEST

/* Two sources are merged in time order: a read in the second source that
 * comes after a map in the first finds the address space. */
START_TEST(test_sources_merged_by_time)
{
    pfx_t *h = pfx_new(NULL);
    trace_record_t a[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, true),
        rdma(10 * US, 0, 1, BASE, 64, false),
    };
    trace_record_t b[] = {
        rdma(5 * US, 0, 1, BASE + 0x1000, 64, false),
    };
    arr_src_t sa = {a, N_OF(a), 0}, sb = {b, N_OF(b), 0};
    platform_source_t src[2] = {{arr_next, &sb, "b"}, {arr_next, &sa, "a"}};
    ck_assert_int_eq(platform_run(h->p, src, 2), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "trace.records"), 3);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    pfx_free(h);
}
END_TEST

/* SMMUv3 PRI queue under overflow: the host drains, discards partial
 * groups and acknowledges (OVACKFLG) after each overflow; every page
 * request is accounted for and the queue ends empty and acknowledged. */
START_TEST(test_smmuv3_overflow_recovery)
{
    static const char *const sets[] = {"iommu.arch=smmuv3", "device.count=8",
                                       "iommu.prq_depth=8",
                                       "device.pri_capacity=16", NULL};
    pfx_t *h = pfx_new(sets);
    size_t n;
    trace_record_t *r = fault_waves(8, 64, false, &n);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas_done + s.dmas_failed, s.dmas);
    ck_assert_uint_gt(s.pr_auto_responded, 0);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    ck_assert_uint_eq(s.page_requests,
                      s.pr_responded + s.pr_auto_responded + s.pr_dropped);
    ck_assert_uint_gt(ctr(h, "iommu.prq.overflows"), 0);
    ck_assert_uint_eq(ctr(h, "host.prq.overflow_recoveries"),
                      ctr(h, "iommu.prq.overflows"));
    iommu_t *u = platform_iommu(h->p);
    ck_assert_uint_eq(iommu_prq_status(u) & IOMMU_PRS_PRO, 0);
    ck_assert_uint_eq(iommu_prq_count(u), 0);
    /* SMMUv3 responses need no sync: one PRI_RESP per group, no wait. */
    ck_assert_uint_eq(ctr(h, "iommu.qi.page_resp"), ctr(h, "host.iopf.groups"));
    ck_assert_uint_eq(ctr(h, "iommu.qi.wait"), 0);
    free(r);
    pfx_free(h);
}
END_TEST

/* A device without ATS: its DMA is translated in the IOMMU. A present
 * mapping completes; an absent one aborts (UR) with a fault record, which
 * the host reads as unrecoverable; no page request is ever sent. */
START_TEST(test_untranslated_dma)
{
    static const char *const sets[] = {"device.ats=false", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, true),
        rmap(0, 0, 1, BASE + 0x10000, 0x4000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE + 0x1000, 256, false),
        rdma(2 * US, 0, 1, BASE + 0x2000, 64, true),
        rdma(20 * US, 0, 1, BASE + 0x10000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_gt(ctr(h, "iommu.dma.untranslated"), 2);
    ck_assert_uint_eq(ctr(h, "iommu.dma.faults"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.fault.records"), 1);
    ck_assert_uint_eq(ctr(h, "host.evq.unrecoverable"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.prq.received"), 0);
    ck_assert_uint_eq(ctr(h, "iommu.ats.requests"), 0);
    iommu_t *u = platform_iommu(h->p);
    ck_assert_uint_eq(iommu_fault_head(u), iommu_fault_tail(u));
    pfx_free(h);
}
END_TEST

/* The SMMUv3 stall model: the faulting untranslated DMA is held, the host
 * handles the stall event as a fault group of one (minor fault) and
 * resumes it with RETRY: it completes. Outside any mapping the host
 * answers Invalid: ABORT, the DMA fails. */
START_TEST(test_stall_fixed_by_host)
{
    static const char *const sets[] = {"device.ats=false", "iommu.arch=smmuv3",
                                       "iommu.stall=true", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x4000, PERM_RW, false),
        rdma(1 * US, 0, 1, BASE + 0x1040, 64, false),
        rdma(2 * US, 0, 1, BASE + 0x3000, 64, true),
        rdma(100 * US, 0, 1, BASE + 0x8000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.dma.stalled"), 3);
    ck_assert_uint_eq(ctr(h, "host.evq.stalls"), 3);
    ck_assert_uint_eq(ctr(h, "host.iopf.resumes"), 3);
    ck_assert_uint_eq(ctr(h, "iommu.qi.resume"), 3);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 2);
    ck_assert_uint_eq(ctr(h, "host.mm.bad_access"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 1);
    ck_assert_uint_eq(ctr(h, "iommu.dma.aborted"), 1);
    ck_assert_uint_eq(iommu_stalled(platform_iommu(h->p)), 0);
    /* Stalls are not page requests. */
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.page_requests, 0);
    ck_assert_uint_eq(s.pr_responded, 0);
    pfx_free(h);
}
END_TEST

/* Input errors stop the run with PLATFORM_INPUT_ERROR, naming the source
 * and the record's line. */
START_TEST(test_input_errors)
{
    const struct {
        trace_record_t r[2];
        const char *want;
    } cases[] = {
        {{rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
          rdma(1, 3, 1, BASE, 64, false)},
         "mem:2: unknown device 3"},
        {{rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
          rdma(1, 0, 9, BASE, 64, false)},
         "mem:2: unknown PASID 9"},
        {{rmap(0, 0, 1, BASE, 0x2000, PERM_RW, true),
          rmap(1, 0, 1, BASE + 0x1000, 0x1000, PERM_RW, true)},
         "mem:2: map 0x7f0000001000+0x1000 overlaps"},
        {{rmap(0, 0, 1, BASE, 0x1000, PERM_RW, true),
          rdma(1, 0, 1, 1ull << 48, 64, false)},
         "48-bit"},
        {{rmap(0, 0, 1, BASE + 0x10, 0x1000, PERM_RW, true),
          rdma(1, 0, 1, BASE, 64, false)},
         "mem:1: map address and length must be multiples of 4096"},
    };
    for (unsigned i = 0; i < N_OF(cases); i++) {
        pfx_t *h = pfx_new(NULL);
        ck_assert_int_eq(pfx_run(h, cases[i].r, 2), PLATFORM_INPUT_ERROR);
        const char *e = sim_log_last_error(&h->log);
        ck_assert_msg(strstr(e, cases[i].want) != NULL,
                      "case %u: '%s' does not contain '%s'", i, e,
                      cases[i].want);
        pfx_free(h);
    }
}
END_TEST

static Suite *host_suite(void)
{
    Suite *s = suite_create("host");
    TCase *tc = tcase_create("faults");
    tcase_add_test(tc, test_fault_in_mapping_succeeds);
    tcase_add_test(tc, test_present_mapping_no_fault);
    tcase_add_test(tc, test_outside_mapping_invalid);
    tcase_add_test(tc, test_write_to_readonly_invalid);
    tcase_add_test(tc, test_duplicate_faults_one_minor);
    tcase_add_test(tc, test_devices_separate_address_spaces);
    tcase_add_test(tc, test_no_pri_device_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("unmap");
    tcase_add_test(tc, test_unmap_invalidates);
    tcase_add_test(tc, test_unmap_remap_faults_again);
    tcase_add_test(tc, test_unmap_during_walk_leaves_no_stale_translation);
    tcase_add_test(tc, test_five_level_no_atc_alias);
    suite_add_tcase(s, tc);

    tc = tcase_create("conservation");
    tcase_add_test(tc, test_conservation_under_overflow);
    tcase_add_test(tc, test_conservation_mid_run);
    tcase_add_test(tc, test_smmuv3_overflow_recovery);
    suite_add_tcase(s, tc);

    tc = tcase_create("untranslated");
    tcase_add_test(tc, test_untranslated_dma);
    tcase_add_test(tc, test_stall_fixed_by_host);
    suite_add_tcase(s, tc);

    tc = tcase_create("replay");
    tcase_add_test(tc, test_sources_merged_by_time);
    tcase_add_test(tc, test_input_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(host_suite());
}
