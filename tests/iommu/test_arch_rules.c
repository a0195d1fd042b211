/*
 * test_arch_rules.c - architectural rules of VT-d and SMMUv3 that the
 * IOMMU model once got wrong, one test per rule, each named after the
 * spec section (or Linux function) it checks. Expected values come from
 * the configuration (fixed costs) or from the rule itself.
 *  - SMMUv3 8.1 (PRI queue overflow): a Stop Marker discarded in an
 *    overflow condition gets no automatic response; a Last page request
 *    does.
 *  - VT-d 6.5.2.12 (Queued Invalidation Ordering Considerations): with
 *    FN = 0 (Linux qi_submit_sync never sets it) descriptors after a wait
 *    run before the wait completes; SMMUv3 4.7.3 CMD_SYNC: commands after
 *    a CMD_SYNC do not begin until it completes.
 *  - VT-d 6.5.3.1, Table 27 (implicit invalidation on page requests, all
 *    IH = 0): first stage page-selective-within-PASID, paging-structure
 *    caches included; nested domain-selective.
 *  - VT-d unbind: PASID-selective-within-domain PASID-cache invalidation
 *    (Linux drivers/iommu/intel/pasid.c
 *    pasid_cache_invalidation_with_pasid); SMMUv3 CFGI_CD of the
 *    StreamID and SubstreamID.
 *  - VT-d 3.6.2: first-stage A/D flags are always updated; SMMUv3 HTTU is
 *    off unless enabled.
 */
#include "ioasid/host.h"
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0123u
#define RID_B 0x0456u
#define PASID 0x42u
#define PASID_B 0x43u
#define DOMAIN 7u
#define VMID 9u

static void send_msg(fx_t *f, sim_time_t t, uint64_t addr, uint16_t prgi,
                     unsigned flags)
{
    fx_send_page_req(f, t, RID, PASID, addr, prgi, flags);
}

/* ------------------------------------------------------- item 3 */

/* SMMUv3 8.1: "Stop PASID markers that arrive in an overflow condition
 * are discarded and no auto-response is generated"; the automatic PRG
 * Response is for Page Request messages having Last == 1 only. The same
 * holds on VT-d: a Stop Marker is not a page request and is owed no
 * response (PCIe 10.4.1.2). */
START_TEST(test_smmu_8_1_stop_marker_discarded_on_overflow)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 4, &pt, RID, PASID, DOMAIN);
    sim_time_t t = 0;
    uint16_t prgi = 0;
    /* Fill the queue with non-last requests (no response owed). */
    while (!(iommu_prq_status(f->u) & IOMMU_PRS_PRO))
        send_msg(f, t += SIM_US, 0x10000 + prgi * 0x1000u, prgi, PCIE_F_R),
            prgi++;
    ck_assert_uint_eq(fx_count_type(f, PCIE_MSG_PRG_RESP), 0);
    /* In the overflow condition: a Last request is answered Success. */
    send_msg(f, t += SIM_US, 0x50000, 100, PCIE_F_R | PCIE_F_LAST);
    ck_assert_uint_eq(fx_count_type(f, PCIE_MSG_PRG_RESP), 1);
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.tag, 100);
    /* A Stop Marker (L=1, R=W=0, with a PASID) is discarded silently. */
    iommu_prq_totals_t before;
    iommu_prq_totals(f->u, &before);
    send_msg(f, t += SIM_US, 0, 101, PCIE_F_LAST);
    ck_assert_uint_eq(fx_count_type(f, PCIE_MSG_PRG_RESP), 1);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.stop_markers, 1);
    ck_assert_uint_eq(q.auto_responded, 1);
    /* Not a page request: not among the dropped page requests either, so
     * requests = responded + auto-responded + dropped + in flight holds
     * (the platform property test found it counted there). */
    ck_assert_uint_eq(q.dropped, before.dropped);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------- item 5 */

/* A device-TLB invalidation to one device (whose completion takes
 * inv_delay) and its wait, then a page response to another device and
 * its wait, all submitted at 0. VT-d 6.5.2.12: a wait with FN = 0 (Linux
 * qi_submit_sync) lets the page response go on; each wait completes once
 * the descriptors between it and the previous wait are done. SMMUv3 4.7.3:
 * "Commands in the Command queue that are more recent than a CMD_SYNC do
 * not begin processing until the CMD_SYNC completes." */
START_TEST(test_vtd_6_5_2_12_wait_without_fence)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    f->answer_inv = true;
    f->inv_delay = 13 * SIM_US;
    iommu_qi_desc_t unmap[2] = {
        {.type = IOMMU_QI_DEVTLB, .inv = {.rid = RID, .pasid = PASID}},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    iommu_qi_desc_t resp[2] = {
        {.type = IOMMU_QI_PAGE_RESP,
         .code = PCIE_PRG_SUCCESS,
         .prgi = 5,
         .pasid_present = true,
         .rid = RID_B,
         .pasid = PASID_B},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, unmap, 2), 0);
    ck_assert_int_eq(iommu_qi_submit(f->u, resp, 2), 0);
    fx_run(f);
    sim_time_t inv_cpl = c->qi_devtlb + f->inv_delay;
    sim_time_t resp_t = -1;
    for (unsigned i = 0; i < f->ncap; i++)
        if (f->cap[i].m.type == PCIE_MSG_PRG_RESP)
            resp_t = f->cap[i].t;
    ck_assert_uint_eq(f->done_calls, 2);
    if (arch == IOMMU_ARCH_VTD) {
        ck_assert_uint_eq(resp_t, c->qi_devtlb + c->qi_page_resp);
        /* The response's wait completes first, then the unmap's. */
        ck_assert_uint_eq(f->done_t[0],
                          c->qi_devtlb + c->qi_page_resp + c->qi_wait);
        ck_assert_uint_eq(f->done_t[1], inv_cpl + c->qi_wait);
    } else {
        ck_assert_uint_eq(resp_t, inv_cpl + c->qi_wait + c->qi_page_resp);
        ck_assert_uint_eq(f->done_t[0], inv_cpl + c->qi_wait);
        ck_assert_uint_eq(f->done_t[1], resp_t + c->qi_wait);
    }
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    fx_destroy(f);
}
END_TEST

/* The VT-d wait descriptor in memory: SW (bit 5) set, FN (bit 6) clear,
 * as Linux qi_submit_sync writes it (QI_IWD_STATUS_DATA |
 * QI_IWD_STATUS_WRITE | QI_IWD_TYPE). */
START_TEST(test_vtd_6_5_2_12_wait_encoding)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    iommu_qi_desc_t w = {.type = IOMMU_QI_WAIT};
    uint64_t a = iommu_qi_base(f->u) +
                 (uint64_t)iommu_qi_tail(f->u) * iommu_qi_desc_size(f->u);
    ck_assert_int_eq(iommu_qi_submit(f->u, &w, 1), 0);
    uint64_t qw0 = iommu_mem_read64(iommu_memory(f->u), a);
    ck_assert_uint_eq(qw0 & 0xf, 0x5);
    ck_assert_uint_eq((qw0 >> 5) & 1, 1);
    ck_assert_uint_eq((qw0 >> 6) & 1, 0);
    fx_run(f);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------- item 6 */

/* VT-d Table 27, first stage: a page request invalidates with a
 * page-selective-within-PASID P_IOTLB invalidation with IH = 0: the
 * requested page's IOTLB entry and the paging-structure cache entries
 * used to translate it go, other pages' IOTLB entries stay. */
START_TEST(test_vtd_table27_first_stage_page_selective_ih0)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    unsigned levels = (unsigned)iommu_config(f->u)->levels;
    for (uint64_t a = 0x30000; a < 0x33000; a += 0x1000)
        ck_assert_int_eq(iommu_pt_map(&pt, a, a + 0x40000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.reads, levels);
    iommu_translate(f->u, RID, PASID, 0x31000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.reads, 1); /* the PSC served levels..2 */
    send_msg(f, SIM_US, 0x31000, 1, PCIE_F_R | PCIE_F_LAST);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.implicit_invalidations"), 1);
    /* Another page of the PASID keeps its IOTLB entry. */
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert(x.iotlb_hit);
    /* The requested page is walked again, with no paging-structure cache
     * entry left for its address: every level is read. */
    iommu_translate(f->u, RID, PASID, 0x32000, PCIE_F_R, &x);
    ck_assert(!x.iotlb_hit);
    ck_assert_uint_eq(x.reads, levels);
    fx_destroy(f);
}
END_TEST

/* VT-d Table 27, nested: a domain-selective IOTLB invalidation of the
 * PASID entry's DID: every translation of the domain goes, not only the
 * requested page's. */
START_TEST(test_vtd_table27_nested_domain_selective)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_guest_t *g = iommu_guest_create(iommu_memory(f->u), 4, 21);
    ck_assert_ptr_nonnull(g);
    uint64_t size = 1ull << 30;
    uint64_t data = iommu_guest_reserve(g, size, size);
    ck_assert_int_eq(
        iommu_guest_back(g, data, size, IOMMU_PTE_R | IOMMU_PTE_W, 21), 0);
    iommu_pt_t s1;
    ck_assert_int_eq(iommu_pt_init_guest(&s1, g, 4), 0);
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_NESTED,
                             .domain = DOMAIN,
                             .s2_domain = VMID,
                             .s1 = s1,
                             .s2 = *iommu_guest_s2(g),
                             .pri = true};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
    ck_assert_int_eq(iommu_pt_map(&s1, 0x30000, data, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert(x.iotlb_hit);
    /* A page request for another page of the same PASID entry. */
    send_msg(f, SIM_US, 0x7000000, 1, PCIE_F_R | PCIE_F_LAST);
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert(!x.iotlb_hit);
    iommu_guest_destroy(g);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------- item 7 */

/* A binding's fault handler (no page request reaches it here). */
static sim_time_t no_handler(void *data, ioasid_iopf_group_t *g)
{
    (void)data;
    (void)g;
    return 0;
}

/* Unbinding one PASID drops only that PASID's cached PASID entry: VT-d
 * PASID-selective-within-domain (Linux pasid.c
 * pasid_cache_invalidation_with_pasid, QI_PC_PASID_SEL with the DID);
 * SMMUv3 CFGI_CD of (StreamID, SubstreamID). Another live PASID of the
 * same device keeps its cached entry: no context-path reads. */
START_TEST(test_unbind_pasid_selective_within_domain)
{
    unsigned arch = (unsigned)_i;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    iommu_cfg_t icfg;
    ioasid_host_cfg_t hcfg;
    memset(&icfg, 0, sizeof(icfg));
    memset(&hcfg, 0, sizeof(hcfg));
    sim_config_t *sc = sim_config_create(&log);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(
        sim_config_register(sc, iommu_params, iommu_nparams, &icfg), 0);
    ck_assert_int_eq(
        sim_config_register(sc, ioasid_host_params, ioasid_host_nparams, &hcfg),
        0);
    sim_config_destroy(sc);
    icfg.arch = arch;
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    iommu_t *u = iommu_create(sim, st, &icfg, 1);
    ck_assert_ptr_nonnull(u);
    ioasid_host_t *h = ioasid_host_create(sim, st, &hcfg, u, NULL, 1);
    ck_assert_ptr_nonnull(h);
    iommu_pt_t pt;
    ck_assert_int_eq(iommu_pt_init(&pt, iommu_memory(u), 4), 0);
    uint32_t pasids[2] = {PASID, PASID_B};
    for (unsigned i = 0; i < 2; i++) {
        int dom = ioasid_host_alloc_domain(h);
        ck_assert_int_gt(dom, 0);
        iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1,
                                 .domain = (uint16_t)dom,
                                 .s1 = pt,
                                 .pri = true};
        ck_assert_int_eq(
            ioasid_host_bind(h, RID, pasids[i], &e, no_handler, NULL), 0);
    }
    iommu_xlate_t x;
    for (unsigned i = 0; i < 2; i++)
        iommu_translate(u, RID, pasids[i], 0x1000, PCIE_F_R, &x);
    iommu_translate(u, RID, PASID_B, 0x1000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 0);
    ck_assert_int_eq(ioasid_host_unbind(h, RID, PASID, NULL, NULL), 0);
    sim_run(sim, SIM_TIME_MAX);
    sim_counter_t *inv =
        sim_stats_find_counter(st, "iommu.pasid_cache.invalidated");
    ck_assert_ptr_nonnull(inv);
    ck_assert_uint_eq(inv->value, 1);
    iommu_translate(u, RID, PASID_B, 0x1000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 0);
    iommu_translate(u, RID, PASID, 0x1000, PCIE_F_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_BAD_PASID);
    ioasid_host_destroy(h);
    iommu_destroy(u);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* ------------------------------------------------------- item 16 */

/* VT-d 3.6.2: the remapping hardware sets A on every first-stage entry it
 * uses and D on the leaf for a write, always (no enable): with the
 * defaults a cold 4-level walk for a write writes `levels` entries
 * (iommu.levels), the leaf with A and D. SMMUv3 updates them only with
 * HTTU enabled (CD.HA/HD), off by default: nothing is written. */
START_TEST(test_vtd_3_6_2_ad_by_default)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    unsigned levels = (unsigned)iommu_config(f->u)->levels;
    ck_assert_int_eq(iommu_pt_map(&pt, 0x40000, 0x90000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x40000, PCIE_F_W, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    iommu_walk_t w;
    iommu_pt_walk(&pt, 0x40000, &w);
    if (arch == IOMMU_ARCH_VTD) {
        ck_assert_uint_eq(x.ad_writes, levels);
        ck_assert_uint_eq(w.pte & (IOMMU_PTE_A | IOMMU_PTE_D),
                          IOMMU_PTE_A | IOMMU_PTE_D);
    } else {
        ck_assert_uint_eq(x.ad_writes, 0);
        ck_assert_uint_eq(w.pte & (IOMMU_PTE_A | IOMMU_PTE_D), 0);
    }
    fx_destroy(f);
}
END_TEST

static Suite *arch_rules_suite(void)
{
    Suite *s = suite_create("arch_rules");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_smmu_8_1_stop_marker_discarded_on_overflow, 0,
                        2);
    tcase_add_loop_test(tc, test_vtd_6_5_2_12_wait_without_fence, 0, 2);
    tcase_add_test(tc, test_vtd_6_5_2_12_wait_encoding);
    tcase_add_test(tc, test_vtd_table27_first_stage_page_selective_ih0);
    tcase_add_test(tc, test_vtd_table27_nested_domain_selective);
    tcase_add_loop_test(tc, test_unbind_pasid_selective_within_domain, 0, 2);
    tcase_add_loop_test(tc, test_vtd_3_6_2_ad_by_default, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(arch_rules_suite());
}
