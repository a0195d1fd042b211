/*
 * tests/ioasid/test_virt.c - the virtualised I/O page fault pipeline
 * (docs/model.md, "The virtualised path"), exercised through the whole
 * platform with records from memory:
 *   a. each routing (viommu, vpri, iommufd) and both guest page-table
 *      models end to end on one fault with every delay fixed: fault.e2e and
 *      every fault.stage.<name> equal, to the picosecond, the sum of the
 *      configured delays of their part of the path;
 *   b. several devices on one IOASID (viommu routing picks a random one
 *      to tell the guest): the response still reaches the physical device
 *      that faulted;
 *   c. fault ring overflow (ioasid.ring_depth) under both policies;
 *   d. detach with faults pending in the ring, the VMM or the guest;
 *   e. a stage-2 fault on the guest's root table, a stage-1 fault, then a
 *      stage-2 fault on the data page (vm.s2_on_demand);
 *   f. conservation of page requests on a stressed VM with background load;
 *   g. a guest unmap leaves no stale translation.
 *
 * Expected times are computed from the resolved configuration and the link
 * model as in tests/golden/test_golden.c. The one part not computed from
 * first principles is the number of page-table reads of the nested walks
 * (guest stage-1 tables in guest memory, each access translated through
 * stage 2 with its own caches): it is taken from the run's own IOMMU
 * statistics (iommu.ctx.reads, iommu.walk.reads), with iommu.psc_hit = 0
 * so that a walk's time is a whole number of walk_read, and the test
 * checks that the per-walk times in the stage histograms decompose into
 * exactly those counts.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

/* ------------------------------------------------ the fixed delays */

/* Every distribution and time on the virtual fault path fixed, each to a
 * distinct value so a delay counted in the wrong stage shows. */
static const char *const fixed_sets[] = {"device.proc=50",
                                         "host.irq_latency=2000",
                                         "host.prq_desc=200",
                                         "host.iopf=3000",
                                         "host.mm_minor=1000",
                                         "host.qi_submit=200",
                                         "iommu.psc_hit=0",
                                         "ioasid.report=2100",
                                         "vmm.wake=5000",
                                         "vmm.read=1100",
                                         "vmm.route=1200",
                                         "vmm.lookup=300",
                                         "vmm.inject=3100",
                                         "vmm.inject_vpri=2300",
                                         "vmm.exit=9500",
                                         "vmm.complete=2050",
                                         "guest.halt_wake=10000",
                                         "guest.irq=1300",
                                         "guest.handler=1400",
                                         "guest.mm_minor=1050",
                                         "guest.iopt_update=550",
                                         "guest.inv=14000",
                                         "guest.respond=450",
                                         "guest.bg_job=50000",
                                         NULL};

/* The parts of one fault round trip that do not depend on the walks: the
 * translation round trip without its table reads (ats_rt), and every
 * other stage. */
typedef struct vexpect {
    sim_time_t ats_rt;
    sim_time_t stage[PLATFORM_STAGE_COUNT]; /* ats_fault, retry: 0 (walks) */
} vexpect_t;

/* A guest-owned (stage-1) round trip, 64-byte read, one page, every vCPU
 * idle. */
static void expect_guest(const platform_cfg_t *pc, vexpect_t *x)
{
    const pcie_link_cfg_t *l = &pc->link;
    const iommu_cfg_t *u = &pc->iommu;
    const ioasid_host_cfg_t *h = &pc->host;
    const ioasid_virt_cfg_t *v = &pc->virt;
    sim_time_t proc = fixed_value(&pc->dev.proc);
    const uint8_t P = PCIE_F_PASID;
    memset(x, 0, sizeof(*x));
    x->ats_rt = proc + hop(l, PCIE_MSG_ATS_REQ, P, 0) + u->ctx_hit +
                u->iotlb_hit + hop(l, PCIE_MSG_ATS_CPL, 0, 0);
    x->stage[PLATFORM_STAGE_PAGE_REQ] =
        proc + hop(l, PCIE_MSG_PAGE_REQ, P, 0) + u->prq_write;
    x->stage[PLATFORM_STAGE_HOST_IRQ] =
        h->irq_latency + fixed_value(&h->prq_desc);
    /* The IOASID fault handler: save the data, queue the record, signal. */
    x->stage[PLATFORM_STAGE_HOST_FAULT] = fixed_value(&v->report);
    /* eventfd wake-up, one read, per request route (+ lookup), inject. */
    x->stage[PLATFORM_STAGE_VMM] =
        fixed_value(&v->wake) + fixed_value(&v->read) + fixed_value(&v->route) +
        (v->routing == IOASID_ROUTE_VIOMMU ? fixed_value(&v->lookup) : 0) +
        (v->routing == IOASID_ROUTE_VPRI ? fixed_value(&v->inject_vpri)
                                         : fixed_value(&v->inject));
    /* Virtual IRQ to halted vCPUs, handler, one minor fix-up, (separate:
     * I/O page table update + invalidation), the response written. */
    x->stage[PLATFORM_STAGE_GUEST] =
        fixed_value(&v->irq) + fixed_value(&v->halt_wake) +
        fixed_value(&v->handler) + fixed_value(&v->mm_minor) +
        (v->pt_mode == IOASID_PT_SEPARATE
             ? fixed_value(&v->iopt_update) + fixed_value(&v->inv)
             : 0) +
        fixed_value(&v->respond);
    /* The VM exit, the VMM's completion and the host driver's queue
     * submission of the response. */
    x->stage[PLATFORM_STAGE_VMM_EXIT] = fixed_value(&v->exit) +
                                        fixed_value(&v->complete) +
                                        fixed_value(&pc->host.qi_submit);
    x->stage[PLATFORM_STAGE_RESPONSE] =
        u->qi_page_resp + hop(l, PCIE_MSG_PRG_RESP, P, 0);
    x->stage[PLATFORM_STAGE_DATA] = hop(l, PCIE_MSG_MEM_RD, PCIE_F_XLATED, 64) +
                                    u->mem_access +
                                    hop(l, PCIE_MSG_MEM_CPL, 0, 64);
}

/* A host-owned stage-2 round trip of a VM page (host fills it). */
static void expect_s2(const platform_cfg_t *pc, vexpect_t *x)
{
    expect_guest(pc, x);
    const ioasid_host_cfg_t *h = &pc->host;
    x->stage[PLATFORM_STAGE_HOST_FAULT] = fixed_value(&h->iopf) +
                                          fixed_value(&h->mm_minor) +
                                          fixed_value(&h->qi_submit);
    x->stage[PLATFORM_STAGE_VMM] = 0;
    x->stage[PLATFORM_STAGE_GUEST] = 0;
    x->stage[PLATFORM_STAGE_VMM_EXIT] = 0;
}

static const char *stage_msg(pfx_t *h)
{
    static char buf[1024];
    size_t o = 0;
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        sim_hist_t *s = stage(h, k);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s=[%llu n=%llu] ",
                              platform_stage_names[k],
                              (unsigned long long)(s->count ? s->min : 0),
                              (unsigned long long)s->count);
    }
    return buf;
}

/* Mismatches are collected, so that one run reports every stage that is
 * off (a stage attributed to its neighbour shows as a pair). */
typedef struct errs {
    char buf[2048];
    size_t len;
} errs_t;

static void err_add(errs_t *e, const char *what, uint64_t got, uint64_t want)
{
    if (e->len < sizeof(e->buf))
        e->len +=
            (size_t)snprintf(e->buf + e->len, sizeof(e->buf) - e->len,
                             "%s: got %llu ps, expected %llu ps (%+lld)"
                             "; ",
                             what, (unsigned long long)got,
                             (unsigned long long)want, (long long)(got - want));
}

/* A stage that must hold exactly one sample of value want. */
static void check_one(pfx_t *h, errs_t *e, unsigned k, sim_time_t want)
{
    sim_hist_t *s = stage(h, k);
    ck_assert_msg(s->count == 1, "fault.stage.%s: %llu samples",
                  platform_stage_names[k], (unsigned long long)s->count);
    if (s->min != want)
        err_add(e, platform_stage_names[k], s->min, want);
}

static void errs_check(pfx_t *h, const errs_t *e)
{
    ck_assert_msg(e->len == 0, "%s\nall stages: %s", e->buf, stage_msg(h));
}

/* ------------------------------------------------- a. one fault, exact */

typedef struct route_variant {
    const char *routing, *pt_mode;
} route_variant_t;

static const route_variant_t route_variants[] = {
    {"viommu", "shared"},   {"vpri", "shared"},   {"iommufd", "shared"},
    {"viommu", "separate"}, {"vpri", "separate"}, {"iommufd", "separate"},
};

START_TEST(test_one_fault_exact)
{
    const route_variant_t *rv = &route_variants[_i];
    char routing[64], pt[64];
    snprintf(routing, sizeof(routing), "vmm.routing=%s", rv->routing);
    snprintf(pt, sizeof(pt), "guest.pt_mode=%s", rv->pt_mode);
    const char *sets[] = {"vm.devices=1", routing, pt, NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const sim_time_t t0 = 1 * US;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE + 0x3000, 0x1000, PERM_RW, false),
        rdma(t0, 0, 1, BASE + 0x3040, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
    ck_assert_uint_eq(ctr(h, "guest.halted_wakes"), 1);
    ck_assert_uint_eq(ctr(h, "guest.mm.faults"), 1);
    ck_assert_uint_eq(ctr(h, "fault.closed"), 1);

    /* Regressions of two model bugs this test found: the VMM's wake-up
     * must start after the host's report (ioasid_virt_fault), and
     * guest.respond belongs to the guest stage, not vmm_exit. */
    errs_t err = {{0}, 0};
    vexpect_t x;
    expect_guest(&h->pc, &x);
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
        if (k != PLATFORM_STAGE_ATS_FAULT && k != PLATFORM_STAGE_RETRY)
            check_one(h, &err, k, x.stage[k]);

    /* The two translations: the failing nested walk (after the cold
     * context path) and the retry's. Their table reads are the run's own
     * counts (see the header): the failing walk's stage is ats_rt plus
     * (context reads + its walk reads) * walk_read, the retry's ats_rt
     * plus its walk reads * walk_read. */
    const sim_time_t wr = h->pc.iommu.walk_read;
    sim_hist_t *wreads = hist(h, "iommu.walk.reads");
    ck_assert_uint_eq(wreads->count, 2);
    /* A/D writes (walk_read each) belong to the retry, the only walk that
     * succeeds: on VT-d A on each stage-1 entry it used (VT-d 3.6.2). */
    iommu_cfg_t ucfg = h->pc.iommu;
    iommu_cfg_resolve(&ucfg);
    uint64_t ad = ctr(h, "iommu.walk.ad_writes");
    ck_assert_uint_eq(ad, ucfg.ad == IOMMU_AD_ON ? ucfg.levels : 0);
    uint64_t ctxr = ctr(h, "iommu.ctx.reads");
    ck_assert_uint_ge(ctxr, 4); /* root, context, PASID dir, PASID entry */
    sim_hist_t *af = stage(h, PLATFORM_STAGE_ATS_FAULT),
               *rt = stage(h, PLATFORM_STAGE_RETRY);
    ck_assert_uint_eq(af->count, 1);
    ck_assert_uint_eq(rt->count, 1);
    ck_assert_uint_ge(af->min, x.ats_rt + ctxr * wr);
    ck_assert_uint_ge(rt->min, x.ats_rt);
    uint64_t r1 = (af->min - x.ats_rt - ctxr * wr) / wr,
             r2 = (rt->min - x.ats_rt) / wr - ad;
    ck_assert_uint_eq(af->min, x.ats_rt + (ctxr + r1) * wr);
    ck_assert_uint_eq(rt->min, x.ats_rt + (r2 + ad) * wr);
    ck_assert_uint_eq(r1 + r2, (uint64_t)wreads->sum);
    ck_assert(r1 >= 1 && r2 >= 1);
    ck_assert((r1 == wreads->min && r2 == wreads->max) ||
              (r1 == wreads->max && r2 == wreads->min));
    /* A nested walk of a translation that succeeds reads at least one
     * entry per stage-1 level. */
    ck_assert_uint_ge(r2, h->pc.iommu.levels);

    sim_time_t e2e = af->min + rt->min;
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
        if (k != PLATFORM_STAGE_ATS_FAULT && k != PLATFORM_STAGE_RETRY)
            e2e += x.stage[k];
    sim_hist_t *e = hist(h, "fault.e2e");
    ck_assert_uint_eq(e->count, 1);
    if (e->min != e2e)
        err_add(&err, "e2e", e->min, e2e);
    /* The run ends when the DMA completes. */
    if (sim_now(platform_sim(h->p)) != t0 + e2e)
        err_add(&err, "end of run", sim_now(platform_sim(h->p)), t0 + e2e);
    errs_check(h, &err);
    pfx_free(h);
}
END_TEST

/* ------------------------------- b. devices sharing one IOASID (viommu) */

START_TEST(test_shared_ioasid_response_to_faulting_device)
{
    enum { N = 16 };
    static const uint64_t seeds[] = {1, 7, 12345};
    for (unsigned si = 0; si < N_OF(seeds); si++) {
        char seed[64];
        snprintf(seed, sizeof(seed), "run.seed=%llu",
                 (unsigned long long)seeds[si]);
        const char *sets[] = {"device.count=2", "vm.devices=2",
                              "vmm.routing=viommu", seed, NULL};
        pfx_t *h = pfx_new2(sets, NULL);
        trace_record_t r[2 + N];
        size_t n = 0;
        /* The same guest process (PASID 5) on both devices. */
        r[n++] = rmap(0, 0, 5, BASE, N * 0x1000, PERM_RW, false);
        r[n++] = rmap(0, 1, 5, BASE, N * 0x1000, PERM_RW, false);
        for (unsigned i = 0; i < N; i++)
            r[n++] =
                rdma(1 * US + i * 200 * US, 1, 5, BASE + i * 0x1000, 64, false);
        ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
        /* Each fault went through the guest (told device 0 or 1 at
         * random: with N faults and two attached devices, the pick takes
         * device 0 with probability 1 - 2^-N per seed; the model keeps no
         * count of it) and its response reached device 1, the physical
         * device that faulted. */
        ck_assert_uint_eq(ctr(h, "ioasid.faults"), N);
        ck_assert_uint_eq(ctr(h, "ioasid.responses"), N);
        ck_assert_uint_eq(ctr(h, "device1.dmas_done"), N);
        ck_assert_uint_eq(ctr(h, "device1.pri.resp_success"), N);
        ck_assert_uint_eq(ctr(h, "device1.pri.uprgi"), 0);
        ck_assert_uint_eq(ctr(h, "device0.dmas"), 0);
        ck_assert_uint_eq(ctr(h, "device0.pri.resp_success") +
                              ctr(h, "device0.pri.resp_invalid") +
                              ctr(h, "device0.pri.uprgi"),
                          0);
        platform_summary_t s;
        platform_summarize(h->p, &s);
        ck_assert_uint_eq(s.dmas_done, N);
        ck_assert_uint_eq(s.dmas_failed, 0);
        ck_assert_uint_eq(s.pr_in_flight, 0);
        check_conservation(&s);
        pfx_free(h);
    }
}
END_TEST

/* ---------------------------------------------------- c. ring overflow */

START_TEST(test_ring_overflow)
{
    enum { N = 6 };
    const bool invalid = _i == 1;
    const char *sets[] = {"vm.devices=1", "ioasid.ring_depth=1",
                          invalid ? "ioasid.ring_overflow=invalid"
                                  : "ioasid.ring_overflow=success",
                          "device.pri_retries=64", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    trace_record_t r[1 + N];
    size_t n = 0;
    r[n++] = rmap(0, 0, 1, BASE, N * 0x1000, PERM_RW, false);
    for (unsigned i = 0; i < N; i++) /* simultaneous faults */
        r[n++] = rdma(1 * US, 0, 1, BASE + i * 0x1000, 64, false);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
    uint64_t ovf = ctr(h, "ioasid.ring_overflow");
    /* The handler reports them report-time apart, the VMM wakes wake
     * later than the first: the ring of one is full for the second. */
    ck_assert_uint_gt(ovf, 0);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas, N);
    ck_assert_uint_eq(s.dmas_done + s.dmas_failed, N);
    if (invalid) {
        /* Each overflowed fault is answered Invalid: its access fails. */
        ck_assert_uint_gt(s.dmas_failed, 0);
        ck_assert_uint_eq(s.dmas_failed, ovf);
        ck_assert_uint_eq(ctr(h, "device0.pri.resp_invalid"), ovf);
    } else {
        /* Answered Success: the device retries, faults again, and in the
         * end every access completes. */
        ck_assert_uint_eq(s.dmas_done, N);
        ck_assert_uint_eq(ctr(h, "device0.pri.resp_invalid"), 0);
    }
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), ovf + ctr(h, "vmm.records"));
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    pfx_free(h);
}
END_TEST

/* -------------------------------------------- d. detach, faults pending */

/*
 * Where the fault is when the detach comes (from a first run without
 * detach, whose stage histograms give the boundaries): 0 in the fault ring
 * (between its report and the VMM's wake-up), 1 in the guest's fix-up job
 * (after the guest stage began, before its response reaches the VMM).
 */
START_TEST(test_detach_pending)
{
    const unsigned where = (unsigned)_i;
    const char *sets[] = {"vm.devices=1", NULL};
    const sim_time_t t0 = 1 * US;
    trace_record_t r[3] = {
        rmap(0, 0, 1, BASE, 0x1000, PERM_RW, false),
        rdma(t0, 0, 1, BASE + 0x80, 64, false),
    };
    /* Reference run: the stage boundaries of the undisturbed fault. */
    pfx_t *h = pfx_new2(fixed_sets, sets);
    ck_assert_int_eq(pfx_run(h, r, 2), PLATFORM_OK);
    sim_time_t to_report = t0, to_guest_end = t0;
    for (unsigned k = 0; k <= PLATFORM_STAGE_HOST_FAULT; k++)
        to_report += stage(h, k)->min;
    for (unsigned k = 0; k <= PLATFORM_STAGE_GUEST; k++)
        to_guest_end += stage(h, k)->min;
    sim_time_t vmm = stage(h, PLATFORM_STAGE_VMM)->min;
    pfx_free(h);

    /* In the ring: a quarter into the VMM stage (the wake-up is its
     * largest part); in the guest: just before its response is written
     * and traps to the VMM. */
    sim_time_t td = where == 0 ? to_report + vmm / 4 : to_guest_end - 100;
    r[2] = rdetach(td, 0, 1);
    h = pfx_new2(fixed_sets, sets);
    ck_assert_int_eq(pfx_run(h, r, 3), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
    ck_assert_uint_eq(ctr(h, "ioasid.detached"), 1);
    ck_assert_uint_eq(ctr(h, "host.unbinds"), 1);
    ck_assert_uint_eq(ctr(h, "host.iopf.resp_invalid"), 1);
    /* The FAULT object answers its pending faults Invalid only after the
     * host's teardown (iommufd/device.c: iommufd_hwpt_detach_device:
     * iommu_detach_device_pasid, then iommufd_auto_response_faults; the
     * teardown's ~7 us: four host.qi_submit batches, the iommu.qi_*
     * costs and two ATS invalidation round trips). */
    if (where == 0) {
        /* The VMM wakes during the teardown (3/4 of vmm.wake left) and
         * reads the record, but the answer comes before its route and
         * injection (vmm.read + vmm.route + vmm.inject, 5.4 us): the
         * record is dropped, the guest never sees it. */
        ck_assert_uint_eq(ctr(h, "vmm.records"), 1);
        ck_assert_uint_eq(ctr(h, "vmm.injected"), 0);
        ck_assert_uint_eq(ctr(h, "ioasid.responses"), 0);
        ck_assert_uint_eq(ctr(h, "ioasid.resp_unknown"), 0);
    } else {
        /* The guest's later response is stale: counted, not obeyed. */
        ck_assert_uint_eq(ctr(h, "vmm.injected"), 1);
        ck_assert_uint_eq(ctr(h, "ioasid.responses"), 1);
        ck_assert_uint_eq(ctr(h, "ioasid.resp_unknown"), 1);
    }
    /* The access went with the PASID stop (or failed on Invalid). */
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 0);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    pfx_free(h);
}
END_TEST

/* ---------------------------------- e. stage-1 then stage-2 double fault */

START_TEST(test_s1_then_s2_fault)
{
    /* The host classifies stage-2 faults itself (host.nested_faults =
     * classify); Linux's routing is tests/ioasid/test_vmm_guest.c. Guest
     * memory on demand is on demand for the guest's page tables too, so
     * the cold access first faults in stage 2 on the guest's root table
     * (VT-d 3.8: a second-stage fault on a first-stage paging-structure
     * access), then in stage 1, then in stage 2 on the data page: three
     * round trips A (host), B (guest), C (host). */
    const char *sets[] = {"vm.devices=1", "vm.s2_on_demand=true",
                          "host.nested_faults=classify", NULL};
    pfx_t *h = pfx_new2(fixed_sets, sets);
    const sim_time_t t0 = 1 * US;
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE + 0x5000, 0x1000, PERM_RW, false),
        rdma(t0, 0, 1, BASE + 0x5040, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "fault.closed"), 3);
    /* The root table's chunk (the tables the guest adds later share it:
     * one 2 MiB chunk at vm.s2_page = 1G) and the data page. */
    ck_assert_uint_eq(ctr(h, "vm.s2_faults"), 2);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
    /* Only round trip B passed the VMM and the guest. */
    ck_assert_uint_eq(stage(h, PLATFORM_STAGE_VMM)->count, 1);
    ck_assert_uint_eq(stage(h, PLATFORM_STAGE_GUEST)->count, 1);
    ck_assert_uint_eq(stage(h, PLATFORM_STAGE_VMM_EXIT)->count, 1);
    ck_assert_uint_eq(stage(h, PLATFORM_STAGE_HOST_FAULT)->count, 3);

    /* The same two regressions as in test_one_fault_exact. */
    errs_t err = {{0}, 0};
    vexpect_t g, s2;
    expect_guest(&h->pc, &g);
    expect_s2(&h->pc, &s2);
    check_one(h, &err, PLATFORM_STAGE_VMM, g.stage[PLATFORM_STAGE_VMM]);
    check_one(h, &err, PLATFORM_STAGE_GUEST, g.stage[PLATFORM_STAGE_GUEST]);
    check_one(h, &err, PLATFORM_STAGE_VMM_EXIT,
              g.stage[PLATFORM_STAGE_VMM_EXIT]);
    /* Closing a span marks its last stage (data) at the close, so A and B,
     * closed at their retries' refusals, may add 0 ps data samples: only C
     * moved the data. */
    sim_hist_t *dt = stage(h, PLATFORM_STAGE_DATA);
    ck_assert_uint_ge(dt->count, 1);
    ck_assert_uint_le(dt->count, 3);
    if (dt->max != g.stage[PLATFORM_STAGE_DATA])
        err_add(&err, "data", dt->max, g.stage[PLATFORM_STAGE_DATA]);
    if (dt->count > 1)
        ck_assert_uint_eq(dt->min, 0);
    const unsigned both[] = {PLATFORM_STAGE_PAGE_REQ, PLATFORM_STAGE_HOST_IRQ,
                             PLATFORM_STAGE_RESPONSE};
    for (unsigned i = 0; i < N_OF(both); i++) {
        sim_hist_t *st = stage(h, both[i]);
        ck_assert_uint_eq(st->count, 3);
        ck_assert_uint_eq(st->min, g.stage[both[i]]);
        ck_assert_uint_eq(st->max, g.stage[both[i]]);
    }
    /* Each host round trip backs one stage-2 page: expect_s2's time. */
    sim_hist_t *hf = stage(h, PLATFORM_STAGE_HOST_FAULT);
    sim_time_t hf_g = g.stage[PLATFORM_STAGE_HOST_FAULT],
               hf_s = s2.stage[PLATFORM_STAGE_HOST_FAULT];
    ck_assert_uint_eq(hf->min, hf_g < hf_s ? hf_g : hf_s);
    ck_assert_uint_eq(hf->max, hf_g < hf_s ? hf_s : hf_g);
    ck_assert_uint_eq(hf->sum, hf_g + 2 * hf_s);

    /* Four walks: W0 refused on the root table (after the cold context
     * path), W1 refused on stage 1, W2 refused on the data page, W3 that
     * succeeds. Span A's ats_fault is W0 and its retry W1, B's W1 and W2,
     * C's W2 and W3: ats_fault holds {W0, W1, W2}, retry {W1, W2, W3}. */
    const sim_time_t wr = h->pc.iommu.walk_read;
    sim_hist_t *af = stage(h, PLATFORM_STAGE_ATS_FAULT),
               *rt = stage(h, PLATFORM_STAGE_RETRY);
    ck_assert_uint_eq(af->count, 3);
    ck_assert_uint_eq(rt->count, 3);
    sim_time_t fa[3] = {af->min, (sim_time_t)af->sum - af->min - af->max,
                        af->max},
               ra[3] = {rt->min, (sim_time_t)rt->sum - rt->min - rt->max,
                        rt->max};
    /* W0: the ats_fault sample the retries lack; W3 the other way. */
    bool used[3] = {false, false, false};
    for (unsigned i = 0; i < 3; i++)
        for (unsigned k = 0; k < 3; k++)
            if (!used[k] && fa[i] == ra[k]) {
                used[k] = true;
                fa[i] = 0; /* matched */
                break;
            }
    sim_time_t w0 = fa[0] + fa[1] + fa[2], w3 = 0;
    for (unsigned k = 0; k < 3; k++)
        if (!used[k])
            w3 += ra[k];
    ck_assert_uint_gt(w0, 0);
    ck_assert_uint_gt(w3, 0);
    const sim_time_t w12 = (sim_time_t)af->sum - w0; /* W1 + W2 */
    ck_assert_uint_eq((sim_time_t)rt->sum - w3, w12);
    uint64_t reads =
        (uint64_t)hist(h, "iommu.walk.reads")->sum + ctr(h, "iommu.ctx.reads");
    ck_assert_uint_eq(hist(h, "iommu.walk.reads")->count, 4);
    /* A/D writes cost walk_read each, like reads (docs/model.md). */
    reads += ctr(h, "iommu.walk.ad_writes");
    ck_assert_uint_eq(w0 + w12 + w3, 4 * g.ats_rt + reads * wr);

    /* Non-walk stages: B's are the guest's without data, A's the host's
     * without data, C's the host's with data. */
    sim_time_t sg = 0, ss = 0, sd = s2.stage[PLATFORM_STAGE_DATA];
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        if (k == PLATFORM_STAGE_ATS_FAULT || k == PLATFORM_STAGE_RETRY ||
            k == PLATFORM_STAGE_DATA)
            continue;
        sg += g.stage[k];
        ss += s2.stage[k];
    }
    const sim_time_t eB = w12 + sg;
    sim_hist_t *e = hist(h, "fault.e2e");
    ck_assert_uint_eq(e->count, 3);
    /* The guest's round trip is the longest. */
    if (e->max != eB)
        err_add(&err, "e2e of the stage-1 round trip", e->max, eB);
    /* A: W0 + W1 + ss; B: eB; C: W2 + W3 + ss + data. */
    const sim_time_t esum = w0 + w12 + w3 + eB + 2 * ss + sd;
    if ((sim_time_t)e->sum != esum)
        err_add(&err, "e2e sum of the three round trips", (sim_time_t)e->sum,
                esum);
    /* The run ends when the DMA completes; consecutive spans overlap by
     * the walk between them (W1, W2). */
    const sim_time_t end = t0 + w0 + w12 + w3 + 2 * ss + sg + sd;
    if (sim_now(platform_sim(h->p)) != end)
        err_add(&err, "end of run", sim_now(platform_sim(h->p)), end);
    errs_check(h, &err);
    pfx_free(h);
}
END_TEST

/* ------------------------------------------- f. stressed, conservation */

START_TEST(test_stressed_conservation)
{
    enum { DEVS = 4, PER = 96 };
    const char *sets[] = {"device.count=4",
                          "vm.devices=4",
                          "iommu.prq_depth=8",
                          "device.pri_capacity=16",
                          "guest.background=0.5",
                          "ioasid.ring_depth=64",
                          NULL};
    pfx_t *h = pfx_new2(sets, NULL);
    trace_record_t *r = calloc(DEVS + DEVS * PER, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    size_t n = 0;
    /* One guest process per device. */
    for (unsigned d = 0; d < DEVS; d++)
        r[n++] = rmap(0, d, 10 + d, BASE, PER * 0x1000, PERM_RW, false);
    for (unsigned w = 0; w < PER; w += 8)
        for (unsigned d = 0; d < DEVS; d++)
            for (unsigned i = w; i < w + 8; i++)
                r[n++] = rdma(1 * US + w * 20 * US, d, 10 + d,
                              BASE + i * 0x1000, 64, i & 1);
    ck_assert_int_eq(pfx_run(h, r, n), PLATFORM_OK);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.dmas, DEVS * PER);
    ck_assert_uint_eq(s.dmas_done + s.dmas_failed, s.dmas);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    ck_assert_uint_gt(s.page_requests, 0);
    ck_assert_uint_gt(ctr(h, "ioasid.faults"), 0);
    /* The small PRQ overflowed (auto-responses); every access is inside a
     * mapping, so the only way a DMA fails is running out of retries. */
    ck_assert_uint_gt(s.pr_auto_responded, 0);
    ck_assert_uint_eq(ctr(h, "guest.mm.invalid"), 0);
    uint64_t exhausted = 0;
    for (unsigned d = 0; d < DEVS; d++) {
        char name[64];
        snprintf(name, sizeof(name), "device%u.pri.retries_exhausted", d);
        exhausted += ctr(h, name);
    }
    ck_assert_uint_eq(s.dmas_failed, exhausted);
    /* The background load ran and did not keep the run alive: it ended
     * with the last DMA, with the guest and VMM idle. */
    ck_assert_uint_gt(ctr(h, "guest.background_jobs"), 0);
    ck_assert_uint_eq(
        ctr(h, "ioasid.responses") + ctr(h, "ioasid.ring_overflow") +
            ctr(h, "vmm.guest_queue_full") + ctr(h, "ioasid.detached"),
        ctr(h, "ioasid.faults"));
    /* The stage means add up to the end-to-end mean: each stage's total
     * over the closed faults (what fault.stage.<s>.contrib reports, per
     * fault) sums to the end-to-end total, over native, guest and
     * stage-2 round trips that pass different stages. */
    sim_hist_t *e2e = hist(h, "fault.e2e");
    ck_assert_uint_gt(e2e->count, 0);
    double total = 0;
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
        total += stage(h, k)->sum;
    double mean = sim_hist_mean(e2e);
    ck_assert_msg(fabs(total / (double)e2e->count - mean) <= 1e-6 * mean,
                  "stage contributions %.3f ps != e2e mean %.3f ps",
                  total / (double)e2e->count, mean);
    ck_assert_uint_lt(sim_now(platform_sim(h->p)), 1 * SIM_S);
    free(r);
    pfx_free(h);
}
END_TEST

/* -------------------------------------------------- g. guest unmap */

START_TEST(test_guest_unmap_no_stale_translation)
{
    const char *sets[] = {"vm.devices=1", NULL};
    pfx_t *h = pfx_new2(sets, NULL);
    trace_record_t r[] = {
        rmap(0, 0, 1, BASE, 0x2000, PERM_RW, true),
        rdma(1 * US, 0, 1, BASE + 0x1000, 64, false), /* fills IOTLB, ATC */
        runmap(10 * US, 0, 1, BASE + 0x1000, 0x1000),
        /* After the unmap completed: no mapping, the guest answers
         * Invalid, the access fails. */
        rdma(300 * US, 0, 1, BASE + 0x1000, 64, false),
        /* Mapped again (absent): a fault, then the access completes. */
        rmap(600 * US, 0, 1, BASE + 0x1000, 0x1000, PERM_RW, false),
        rdma(601 * US, 0, 1, BASE + 0x1000, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, r, N_OF(r)), PLATFORM_OK);
    sim_hist_t *ul = hist(h, "guest.unmap.latency");
    ck_assert_uint_eq(ul->count, 1);
    ck_assert_uint_lt(ul->max, 290 * US); /* done before the next DMA */
    ck_assert_uint_eq(ctr(h, "guest.unmap.count"), 1);
    ck_assert_uint_gt(ctr(h, "device0.atc.invalidated"), 0);
    /* The first DMA did not fault; both later ones did. */
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), 2);
    ck_assert_uint_eq(ctr(h, "guest.mm.invalid"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
    pfx_free(h);
}
END_TEST

static Suite *virt_suite(void)
{
    Suite *s = suite_create("virt");
    TCase *tc = tcase_create("exact");
    tcase_add_loop_test(tc, test_one_fault_exact, 0, (int)N_OF(route_variants));
    tcase_add_test(tc, test_s1_then_s2_fault);
    suite_add_tcase(s, tc);
    tc = tcase_create("behaviour");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shared_ioasid_response_to_faulting_device);
    tcase_add_loop_test(tc, test_ring_overflow, 0, 2);
    tcase_add_loop_test(tc, test_detach_pending, 0, 2);
    tcase_add_test(tc, test_stressed_conservation);
    tcase_add_test(tc, test_guest_unmap_no_stale_translation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(virt_suite());
}
