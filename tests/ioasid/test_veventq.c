/*
 * tests/ioasid/test_veventq.c - SMMUv3 events of a VM's devices through
 * the iommufd vEVENTQ (ioasid/veventq.h), against Linux
 * include/uapi/linux/iommufd.h (struct iommufd_vevent_header: a sequence
 * index per event, a gap meaning that many lost events, an
 * IOMMU_VEVENTQ_FLAG_LOST_EVENTS header at the tail) and
 * drivers/iommu/iommufd/driver.c iommufd_viommu_report_event and
 * iommufd_vevent_handler (a full queue loses the event; the lost-events
 * header sits at the tail with the last lost index; an event queued later
 * replaces it).
 *
 * The events come from untranslated DMAs (device.ats = false) to absent
 * pages: the walk faults, the DMA is aborted and the SMMU writes an event
 * record (SMMUv3 7.3, F_TRANSLATION), which the host's event thread reads
 * and hands to the owner of the device.
 */
#include <check.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

#define VA 0x7f0000000000ull

static const char *const smmu_vm[] = {"iommu.arch=smmuv3", "vm.devices=1",
                                      "device.ats=false", NULL};

/* n DMAs to distinct absent pages at times t[i]. */
static int run_dmas(pfx_t *h, const sim_time_t *t, unsigned n)
{
    trace_record_t recs[16];
    recs[0] = rmap(0, 0, 1, VA, 1u << 20, PERM_RW, false);
    for (unsigned i = 0; i < n; i++)
        recs[i + 1] = rdma(t[i], 0, 1, VA + (uint64_t)i * 4096, 64, false);
    return pfx_run(h, recs, n + 1);
}

static sim_time_t cfg_ps(const sim_dist_t *d)
{
    ck_assert_int_eq(d->kind, SIM_DIST_FIXED);
    return fixed_value(d);
}

/* One event: host -> vEVENTQ -> the VMM wakes (vmm.wake), reads
 * (vmm.read), injects it (vmm.inject) -> the guest's handler
 * (guest.irq + guest.handler), exact with the default fixed delays. */
START_TEST(test_one_event_latency)
{
    pfx_t *h = pfx_new(smmu_vm);
    sim_time_t t[] = {US};
    ck_assert_int_eq(run_dmas(h, t, 1), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "host.evq.forwarded"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.reported"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.delivered"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost"), 0);
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    sim_time_t want = cfg_ps(&v->wake) + cfg_ps(&v->read) + cfg_ps(&v->inject) +
                      cfg_ps(&v->irq) + cfg_ps(&v->handler);
    sim_hist_t *lat = hist(h, "ioasid.veventq.latency");
    ck_assert_uint_eq(lat->count, 1);
    ck_assert_uint_eq(lat->min, want);
    /* The DMA itself failed: an event is not a page request. */
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    pfx_free(h);
}
END_TEST

/* A burst of 5 events on a queue of 2: 2 queued, 3 lost, one lost-events
 * header (queued once, taking no room); the VMM learns of all 3 from the
 * header and the sequence (the header's own index, then the gap). */
START_TEST(test_overflow_lost_header)
{
    const char *const depth[] = {"ioasid.veventq_depth=2", NULL};
    pfx_t *h = pfx_new2(smmu_vm, depth);
    sim_time_t t[] = {US, US, US, US, US};
    ck_assert_int_eq(run_dmas(h, t, 5), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.reported"), 5);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost"), 3);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.delivered"), 2);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost_headers"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost_seen"), 3);
    pfx_free(h);
}
END_TEST

/* Lost events then a later event: the header counts its own index, the
 * gap before the next event the others (uapi: "delta - 1 number of
 * vEVENTs has lost"). Depth 1, three events at once, one more 100 us
 * later: 2 lost, 1 header, lost_seen 2, 2 delivered. */
START_TEST(test_sequence_gap)
{
    const char *const depth[] = {"ioasid.veventq_depth=1", NULL};
    pfx_t *h = pfx_new2(smmu_vm, depth);
    sim_time_t t[] = {US, US, US, 100 * US};
    ck_assert_int_eq(run_dmas(h, t, 4), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost"), 2);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost_headers"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.lost_seen"), 2);
    ck_assert_uint_eq(ctr(h, "ioasid.veventq.delivered"), 2);
    pfx_free(h);
}
END_TEST

/* No vEVENTQ on VT-d (iommufd has none for it), with depth 0, or for a
 * native device: the host only counts the event. */
START_TEST(test_no_veventq)
{
    const char *const cases[][5] = {
        {"iommu.arch=vtd", "vm.devices=1", "device.ats=false", NULL},
        {"iommu.arch=smmuv3", "vm.devices=1", "device.ats=false",
         "ioasid.veventq_depth=0", NULL},
        {"iommu.arch=smmuv3", "device.ats=false", NULL},
    };
    for (unsigned c = 0; c < N_OF(cases); c++) {
        pfx_t *h = pfx_new(cases[c]);
        sim_time_t t[] = {US};
        ck_assert_int_eq(run_dmas(h, t, 1), PLATFORM_OK);
        ck_assert_uint_eq(ctr(h, "host.evq.unrecoverable"), 1);
        ck_assert_uint_eq(ctr(h, "host.evq.forwarded"), 0);
        ck_assert_ptr_null(sim_stats_find_counter(platform_stats(h->p),
                                                  "ioasid.veventq.reported"));
        pfx_free(h);
    }
}
END_TEST

/* Two named VMs: each VM's device events reach its own vEVENTQ. */
START_TEST(test_two_vms)
{
    const char *const sets[] = {"iommu.arch=smmuv3", "device.nic.count=2",
                                "device.ats=false",  "vm.a.devices=nic0",
                                "vm.b.devices=nic1", NULL};
    pfx_t *h = pfx_new(sets);
    trace_record_t recs[] = {
        rmap(0, 0, 1, VA, 1u << 20, PERM_RW, false),
        rmap(0, 1, 1, VA, 1u << 20, PERM_RW, false),
        rdma(US, 0, 1, VA, 64, false),
        rdma(US, 1, 1, VA, 64, false),
        rdma(2 * US, 1, 1, VA + 4096, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "vm.a.ioasid.veventq.delivered"), 1);
    ck_assert_uint_eq(ctr(h, "vm.b.ioasid.veventq.delivered"), 2);
    pfx_free(h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("veventq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_one_event_latency);
    tcase_add_test(tc, test_overflow_lost_header);
    tcase_add_test(tc, test_sequence_gap);
    tcase_add_test(tc, test_no_veventq);
    tcase_add_test(tc, test_two_vms);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
