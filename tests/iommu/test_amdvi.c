/*
 * test_amdvi.c - the AMD-Vi flavour of the IOMMU (iommu.arch = amdvi),
 * one rule per test, each naming its source:
 *  - defaults: a PPR log of 512 16-byte entries (Linux
 *    drivers/iommu/amd/amd_iommu_types.h PPR_LOG_ENTRIES, PPR_ENTRY_SIZE)
 *    and a command buffer of 512 16-byte commands (CMD_BUFFER_ENTRIES);
 *  - the PPR log entry in memory, in Linux's layout (PPR_REQ_TYPE,
 *    PPR_FLAGS, PPR_DEVID, PPR_TAG, PPR_PASID1/2), read back;
 *  - the PPR log overflow (AMD I/O Virtualization Technology (IOMMU)
 *    Specification #48882 rev 3.07, section 2.6.2, as Linux commit
 *    274c2218 "iommu/amd: Handle PPR log overflow" states it: PprOverflow
 *    set, the IOMMU stops processing new PPR requests until software
 *    restarts the log; the spec's words for the event log, quoted in
 *    Linux commit 5ce97f4e: the new entry is discarded and "no new ...
 *    entries are written while this bit is set"): no automatic response,
 *    last request or not, unlike VT-d 7.4.1 and SMMUv3 8.1;
 *  - the commands as Linux drivers/iommu/amd/iommu.c builds them
 *    (build_complete_ppr, build_inv_iommu_pages, build_inv_iotlb_pages,
 *    build_inv_dte, build_completion_wait; CMD_* codes) and what the IOMMU
 *    does with each;
 *  - COMPLETION_WAIT as Linux writes it (store, no f): commands after it
 *    go on, VT-d's FN = 0 rule (reused for AMD-Vi).
 * Expected values come from the configuration and the rule.
 */
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0123u
#define RID_B 0x0456u
#define PASID 0x12345u /* 20 bits: both PASID fields of a PPR entry */
#define DOMAIN 7u

static fx_t *amd_bound(uint64_t depth, iommu_pt_t *pt)
{
    return fx_arch_bound(IOMMU_ARCH_AMDVI, depth, pt, RID, PASID, DOMAIN);
}

static void send_msg(fx_t *f, sim_time_t t, uint64_t addr, uint16_t prgi,
                     unsigned flags)
{
    fx_send_page_req(f, t, RID, PASID, addr, prgi, flags);
}

/* The two quadwords of entry `pos` of a ring at base with 16-byte
 * entries. */
static void raw16(fx_t *f, uint64_t base, uint32_t pos, uint64_t *w)
{
    w[0] = iommu_mem_read64(iommu_memory(f->u), base + 16ull * pos);
    w[1] = iommu_mem_read64(iommu_memory(f->u), base + 16ull * pos + 8);
}

START_TEST(test_defaults_linux_sizes)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.arch = IOMMU_ARCH_AMDVI;
    iommu_cfg_resolve(&c);
    ck_assert_uint_eq(c.prq_depth, 512); /* PPR_LOG_ENTRIES */
    ck_assert_uint_eq(c.qi_depth, 512);  /* CMD_BUFFER_ENTRIES */
    fx_t *f = fx_create(&c);
    ck_assert_uint_eq(iommu_prq_desc_size(f->u), 16); /* PPR_ENTRY_SIZE */
    ck_assert_uint_eq(iommu_qi_desc_size(f->u), 16);  /* struct iommu_cmd */
    ck_assert_uint_eq(iommu_prq_depth(f->u), 512);
    fx_destroy(f);
    /* The VT-d and SMMUv3 defaults stay as they were. */
    fx_defaults(&c);
    iommu_cfg_resolve(&c);
    ck_assert_uint_eq(c.prq_depth, 2048);
    ck_assert_uint_eq(c.qi_depth, 256);
}
END_TEST

/* A page request written to the PPR log: Linux's field positions, read
 * back by the model's decoder as the host driver does. */
START_TEST(test_ppr_entry_linux_layout)
{
    iommu_pt_t pt;
    fx_t *f = amd_bound(0, &pt);
    uint32_t pos = iommu_prq_tail(f->u);
    send_msg(f, SIM_US, 0x7654321, 0x1a5, PCIE_F_W | PCIE_F_LAST);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.written"), 1);
    uint64_t w[2];
    raw16(f, iommu_prq_base(f->u), pos, w);
    ck_assert_uint_eq(w[0] >> 60, 0x1);    /* PPR_REQ_FAULT */
    ck_assert_uint_eq(w[0] & 0xffff, RID); /* PPR_DEVID */
    ck_assert_uint_eq((w[0] >> 16) & 0xffff, PASID & 0xffff); /* PASID1 */
    ck_assert_uint_eq((w[0] >> 42) & 0xf, PASID >> 16);       /* PASID2 */
    ck_assert_uint_eq((w[0] >> 32) & 0x1ff, 0x1a5);           /* PRG index */
    ck_assert_uint_eq((w[0] >> 41) & 1, 1);                   /* last */
    /* PPR_FLAGS: WRITE 0x020, US 0x040 (user: no PRIV), GN 0x100. */
    ck_assert_uint_eq((w[0] >> 48) & 0xfff, 0x020 | 0x040 | 0x100);
    ck_assert_uint_eq(w[1], 0x7654000ull); /* the page address */
    iommu_prq_desc_t d;
    iommu_prq_read(f->u, pos, &d);
    ck_assert_uint_eq(d.rid, RID);
    ck_assert_uint_eq(d.pasid, PASID);
    ck_assert_uint_eq(d.prgi, 0x1a5);
    ck_assert_uint_eq(d.addr, 0x7654000ull);
    ck_assert_uint_eq(d.flags, PCIE_F_W | PCIE_F_LAST | PCIE_F_PASID);
    /* The interrupt: PPRInt set, one interrupt. */
    ck_assert_uint_eq(f->prq_irqs, 1);
    ck_assert_uint_eq(iommu_prq_status(f->u) & IOMMU_PRS_PPR, IOMMU_PRS_PPR);
    fx_destroy(f);
}
END_TEST

/* #48882 2.6.2 (Linux commit 274c2218): a request finding the PPR log
 * full sets PPROverflow and is discarded; the log takes nothing more,
 * even with room, until software restarts it (clears PPROverflow:
 * amd_iommu_restart_ppr_log). No automatic response, last or not. */
START_TEST(test_ppr_overflow_discards_without_response)
{
    iommu_pt_t pt;
    const uint64_t depth = 4; /* head == tail is empty: 3 usable entries */
    fx_t *f = amd_bound(depth, &pt);
    sim_time_t t = 0;
    uint16_t prgi = 0;
    for (uint64_t i = 0; i < depth - 1; i++, prgi++)
        send_msg(f, t += SIM_US, 0x10000 + prgi * 0x1000u, prgi,
                 PCIE_F_R | PCIE_F_LAST);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.written"), depth - 1);
    ck_assert_uint_eq(iommu_prq_status(f->u) & IOMMU_PRS_PRO, 0);
    /* The log is full: a last request is discarded, not answered. */
    send_msg(f, t += SIM_US, 0x50000, 100, PCIE_F_R | PCIE_F_LAST);
    ck_assert_uint_eq(iommu_prq_status(f->u) & IOMMU_PRS_PRO, IOMMU_PRS_PRO);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.overflows"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.dropped"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.auto_responded"), 0);
    ck_assert_uint_eq(fx_count_type(f, PCIE_MSG_PRG_RESP), 0);
    /* Software consumes one entry: there is room, but the log stays
     * stopped while PPROverflow is set ("no new entries are written"). */
    iommu_prq_set_head(f->u, iommu_prq_next(f->u, iommu_prq_head(f->u)));
    send_msg(f, t += SIM_US, 0x51000, 101, PCIE_F_R | PCIE_F_LAST);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.written"), depth - 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.dropped"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.overflows"), 1); /* no new one */
    /* A Stop Marker in the overflow: discarded, not a page request. */
    send_msg(f, t += SIM_US, 0, 102, PCIE_F_LAST);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.stop_markers_dropped"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.dropped"), 2);
    ck_assert_uint_eq(fx_count_type(f, PCIE_MSG_PRG_RESP), 0);
    /* The restart (clear PPROverflow): the next request is logged. */
    iommu_prq_clear_status(f->u, IOMMU_PRS_PRO);
    send_msg(f, t += SIM_US, 0x52000, 103, PCIE_F_R | PCIE_F_LAST);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.written"), depth);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.received - q.stop_markers,
                      q.written + q.auto_responded + q.dropped);
    fx_destroy(f);
}
END_TEST

/* COMPLETE_PPR_REQUEST (Linux build_complete_ppr, CMD_COMPLETE_PPR 0x07):
 * DevID, PASID, GN, the tag and the status (the PRG Response Code); the
 * PRG Response leaves iommu.qi_page_resp later. */
START_TEST(test_complete_ppr_request)
{
    iommu_pt_t pt;
    fx_t *f = amd_bound(0, &pt);
    const iommu_cfg_t *c = iommu_config(f->u);
    static const uint8_t codes[] = {PCIE_PRG_SUCCESS, PCIE_PRG_INVALID,
                                    PCIE_PRG_FAILURE};
    for (unsigned i = 0; i < sizeof(codes); i++) {
        sim_time_t t0 = sim_now(f->sim);
        uint64_t a = iommu_qi_base(f->u) + 16ull * iommu_qi_tail(f->u);
        iommu_qi_desc_t d = {.type = IOMMU_QI_PAGE_RESP,
                             .code = codes[i],
                             .prgi = 0x155,
                             .pasid_present = true,
                             .rid = RID_B,
                             .pasid = PASID};
        ck_assert_int_eq(iommu_qi_submit(f->u, &d, 1), 0);
        uint64_t w0 = iommu_mem_read64(iommu_memory(f->u), a),
                 w1 = iommu_mem_read64(iommu_memory(f->u), a + 8);
        ck_assert_uint_eq(w0 >> 60, 0x07);
        ck_assert_uint_eq(w0 & 0xffff, RID_B);
        ck_assert_uint_eq((w0 >> 32) & 0xfffff, PASID);
        ck_assert_uint_eq(w1 & 0x4, 0x4); /* GN */
        ck_assert_uint_eq((w1 >> 32) & 0x1ff, 0x155);
        ck_assert_uint_eq((w1 >> 44) & 0xf, codes[i]);
        unsigned before = f->ncap;
        fx_run(f);
        ck_assert_uint_eq(f->ncap, before + 1);
        const fx_cap_t *r = &f->cap[f->ncap - 1];
        ck_assert_uint_eq(r->m.type, PCIE_MSG_PRG_RESP);
        ck_assert_uint_eq(r->rid, RID_B);
        ck_assert_uint_eq(r->m.code, codes[i]);
        ck_assert_uint_eq(r->m.tag, 0x155);
        ck_assert_uint_eq(r->m.pasid, PASID);
        ck_assert_uint_eq(r->t, t0 + c->qi_page_resp);
    }
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.page_resp"), 3);
    fx_destroy(f);
}
END_TEST

/* INVALIDATE_IOMMU_PAGES (0x03, Linux build_inv_iommu_pages): a PASID
 * range with GN and the S-bit size encoding, PDE clear for a leaf-only
 * invalidation; a whole PASID as CMD_INV_IOMMU_ALL_PAGES_ADDRESS with S
 * and PDE. The invalidation reaches the IOTLB: a cached page is walked
 * again. */
START_TEST(test_invalidate_iommu_pages)
{
    iommu_pt_t pt;
    fx_t *f = amd_bound(0, &pt);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x200000, 0x900000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x200000, PCIE_F_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    uint64_t misses = fx_ctr(f, "iommu.iotlb.misses");
    iommu_translate(f->u, RID, PASID, 0x200000, PCIE_F_R, &x);
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.misses"), misses); /* a hit */
    uint64_t a = iommu_qi_base(f->u) + 16ull * iommu_qi_tail(f->u);
    iommu_qi_desc_t d[2] = {
        {.type = IOMMU_QI_IOTLB,
         .inv = {.gran = IOMMU_INV_RANGE,
                 .domain = DOMAIN,
                 .pasid = PASID,
                 .addr = 0x200000,
                 .len = 0x2000,
                 .leaf_only = true}},
        {.type = IOMMU_QI_IOTLB,
         .inv = {.gran = IOMMU_INV_PASID, .domain = DOMAIN, .pasid = PASID}}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 2), 0);
    uint64_t w[2];
    raw16(f, a, 0, w);
    ck_assert_uint_eq(w[0] >> 60, 0x03);
    ck_assert_uint_eq((w[0] >> 32) & 0xffff, DOMAIN);
    ck_assert_uint_eq(w[0] & 0xfffff, PASID);
    /* Two pages at 0x200000: S = 1 and the bits below the block's top bit
     * set (build_inv_address: address |= (1 << msb_diff) - 1 with msb_diff
     * 12 here), so bit 12 stays clear: 8 KiB, as PCIe's S encoding. */
    ck_assert_uint_eq(w[1] & ~0xfffull, 0x200000ull);
    ck_assert_uint_eq(w[1] & 0x7, 0x1 | 0x4); /* S, GN; PDE clear */
    raw16(f, a + 16, 0, w);
    ck_assert_uint_eq(w[0] >> 60, 0x03);
    ck_assert_uint_eq(w[1] & ~0xfffull, 0x7ffffffffffff000ull);
    ck_assert_uint_eq(w[1] & 0x7, 0x1 | 0x2 | 0x4); /* S, PDE, GN */
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.iotlb"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.invalidated"), 1);
    iommu_translate(f->u, RID, PASID, 0x200000, PCIE_F_R, &x);
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.misses"), misses + 1);
    fx_destroy(f);
}
END_TEST

/* INVALIDATE_IOTLB_PAGES (0x04, Linux build_inv_iotlb_pages): the ATS
 * Invalidate Request goes to the device after iommu.qi_devtlb; the
 * COMPLETION_WAIT behind it (Linux build_completion_wait: store, no f)
 * completes after the device's completion and iommu.qi_wait, while a
 * COMPLETE_PPR_REQUEST for another device behind it goes on (VT-d's FN = 0
 * rule, which AMD-Vi matches). */
START_TEST(test_iotlb_pages_and_completion_wait)
{
    iommu_pt_t pt;
    fx_t *f = amd_bound(0, &pt);
    const iommu_cfg_t *c = iommu_config(f->u);
    f->answer_inv = true;
    f->inv_delay = 13 * SIM_US;
    uint64_t a = iommu_qi_base(f->u) + 16ull * iommu_qi_tail(f->u);
    iommu_qi_desc_t unmap[2] = {
        {.type = IOMMU_QI_DEVTLB,
         .inv = {.rid = RID, .pasid = 0x1234, .addr = 0x400000, .len = 4096}},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    iommu_qi_desc_t resp[2] = {
        {.type = IOMMU_QI_PAGE_RESP,
         .code = PCIE_PRG_SUCCESS,
         .prgi = 5,
         .pasid_present = true,
         .rid = RID_B,
         .pasid = 9},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, unmap, 2), 0);
    ck_assert_int_eq(iommu_qi_submit(f->u, resp, 2), 0);
    uint64_t w[2];
    raw16(f, a, 0, w);
    ck_assert_uint_eq(w[0] >> 60, 0x04);
    ck_assert_uint_eq(w[0] & 0xffff, RID);
    ck_assert_uint_eq((w[0] >> 16) & 0xff, 0x12); /* PASID 15:8 */
    ck_assert_uint_eq((w[0] >> 48) & 0xff, 0x34); /* PASID 7:0 */
    ck_assert_uint_eq(w[1] & ~0xfffull, 0x400000ull);
    ck_assert_uint_eq(w[1] & 0x5, 0x4); /* one page: S clear; GN */
    raw16(f, a + 16, 0, w);
    ck_assert_uint_eq(w[0] >> 60, 0x01);
    ck_assert_uint_eq(w[0] & 0x7, 0x1); /* store, no interrupt, no f */
    fx_run(f);
    sim_time_t inv_t = -1, resp_t = -1;
    for (unsigned i = 0; i < f->ncap; i++) {
        if (f->cap[i].m.type == PCIE_MSG_INV_REQ) {
            inv_t = f->cap[i].t;
            ck_assert_uint_eq(f->cap[i].rid, RID);
            ck_assert_uint_eq(f->cap[i].m.pasid, 0x1234);
            ck_assert_uint_eq(f->cap[i].m.addr, 0x400000);
        }
        if (f->cap[i].m.type == PCIE_MSG_PRG_RESP)
            resp_t = f->cap[i].t;
    }
    ck_assert_uint_eq(inv_t, c->qi_devtlb);
    ck_assert_uint_eq(resp_t, c->qi_devtlb + c->qi_page_resp);
    ck_assert_uint_eq(f->done_calls, 2);
    ck_assert_uint_eq(f->done_t[0],
                      c->qi_devtlb + c->qi_page_resp + c->qi_wait);
    ck_assert_uint_eq(f->done_t[1], c->qi_devtlb + f->inv_delay + c->qi_wait);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    fx_destroy(f);
}
END_TEST

/* INVALIDATE_DEVTAB_ENTRY (0x02, Linux build_inv_dte) for a device's
 * PASID-cache (or context) invalidation: both configuration caches of the
 * device go (AMD has no PASID cache apart from the DTE and its GCR3
 * table), the IOTLB stays; one without a device is INVALIDATE_IOMMU_ALL
 * (0x08, Linux build_inv_all), which takes the IOTLB too. */
START_TEST(test_devtab_entry_and_all)
{
    iommu_pt_t pt;
    fx_t *f = amd_bound(0, &pt);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x200000, 0x900000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    static const char *const inv[3] = {"iommu.ctx_cache.invalidated",
                                       "iommu.pasid_cache.invalidated",
                                       "iommu.iotlb.invalidated"};
    static const uint64_t want[2][3] = {{1, 1, 1}, {1, 1, 0}};
    iommu_qi_desc_t d[2] = {
        {.type = IOMMU_QI_CONTEXT_CACHE, .inv = {.gran = IOMMU_INV_GLOBAL}},
        {.type = IOMMU_QI_PASID_CACHE,
         .inv = {.gran = IOMMU_INV_DEVICE_PASID, .rid = RID, .pasid = PASID}}};
    static const unsigned type[2] = {0x08, 0x02};
    for (unsigned k = 0; k < 2; k++) {
        /* a translation fills the context, PASID and IOTLB entries */
        iommu_translate(f->u, RID, PASID, 0x200000, PCIE_F_R, &x);
        ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
        uint64_t before[3];
        for (unsigned i = 0; i < 3; i++)
            before[i] = fx_ctr(f, inv[i]);
        uint64_t a = iommu_qi_base(f->u) + 16ull * iommu_qi_tail(f->u);
        ck_assert_int_eq(iommu_qi_submit(f->u, &d[k], 1), 0);
        uint64_t w[2];
        raw16(f, a, 0, w);
        ck_assert_uint_eq(w[0] >> 60, type[k]);
        if (type[k] == 0x02)
            ck_assert_uint_eq(w[0] & 0xffff, RID);
        fx_run(f);
        for (unsigned i = 0; i < 3; i++)
            ck_assert_msg(fx_ctr(f, inv[i]) == before[i] + want[k][i],
                          "%s after command 0x%02x", inv[i], type[k]);
    }
    fx_destroy(f);
}
END_TEST

static Suite *amdvi_suite(void)
{
    Suite *s = suite_create("amdvi");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults_linux_sizes);
    tcase_add_test(tc, test_ppr_entry_linux_layout);
    tcase_add_test(tc, test_ppr_overflow_discards_without_response);
    tcase_add_test(tc, test_complete_ppr_request);
    tcase_add_test(tc, test_invalidate_iommu_pages);
    tcase_add_test(tc, test_iotlb_pages_and_completion_wait);
    tcase_add_test(tc, test_devtab_entry_and_all);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(amdvi_suite());
}
