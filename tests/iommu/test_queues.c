/*
 * tests/iommu/test_queues.c - the IOMMU's queues in simulated memory.
 *
 * Page request queue, per architecture (VT-d 7.4.1 and 7.5 as implemented
 * by QEMU hw/i386/intel_iommu.c: vtd_pri_request_page; SMMUv3 PRIQ per
 * Linux arm-smmu-v3.h and commit 0d535967):
 *  - VT-d: one slot unused; the interrupt only when PPR and PRO were both
 *    clear; a full queue sets PRO; with PRO set nothing is queued; a
 *    dropped last request gets an automatic Success, a non-last one
 *    nothing; software recovers by draining and clearing PRO;
 *  - SMMUv3: every slot used; an interrupt per entry; overflow toggles
 *    OVFLG and nothing is processed until software copies it to OVACKFLG
 *    (even with room in the queue);
 *  - descriptor layouts in memory (32 and 16 bytes), interrupt
 *    moderation, PRI disabled, stop markers, VT-d's implicit invalidation.
 * Invalidation queue: descriptors consumed in order at their costs, page
 * group responses (VT-d 0x9 / SMMUv3 PRI_RESP, with their code encodings)
 * reaching the device, device-TLB invalidations whose completions a wait
 * descriptor waits for, a full ring, and no stale translation once a wait
 * after an invalidation has completed.
 */
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0123u
#define PASID 0x42u
#define DOMAIN 7u

static pcie_msg_t page_req(uint64_t addr, uint16_t prgi, bool last)
{
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_PAGE_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | (last ? PCIE_F_LAST : 0);
    m.rid = RID;
    m.pasid = PASID;
    m.addr = addr;
    m.tag = prgi;
    return m;
}

/* Inject a read page request of (RID, PASID), the last of its group if
 * `last`, at time t and run. */
static void send_pr(fx_t *f, sim_time_t t, uint64_t addr, uint16_t prgi,
                    bool last)
{
    fx_send_page_req(f, t, RID, PASID, addr, prgi,
                     PCIE_F_R | (last ? PCIE_F_LAST : 0));
}

/* ------------------------------------------------------------- PRQ */

START_TEST(test_prq_vtd_overflow_and_recovery)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 4, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    ck_assert_uint_eq(iommu_prq_depth(f->u), 4);
    sim_time_t t = 0;
    for (unsigned i = 0; i < 3; i++) {
        send_pr(f, t += SIM_US, 0x10000 + i * 0x1000, (uint16_t)(10 + i), true);
        ck_assert_uint_eq(iommu_prq_tail(f->u), i + 1);
    }
    ck_assert_uint_eq(f->prq_irqs, 1);
    ck_assert_uint_eq(f->prq_irq_t[0], SIM_US + c->prq_write);
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PPR);
    ck_assert_uint_eq(f->ncap, 0);
    for (unsigned i = 0; i < 3; i++) {
        iommu_prq_desc_t d;
        iommu_prq_read(f->u, i, &d);
        ck_assert_uint_eq(d.addr, 0x10000 + i * 0x1000);
        ck_assert_uint_eq(d.prgi, 10 + i);
        ck_assert_uint_eq(d.rid, RID);
        ck_assert_uint_eq(d.pasid, PASID);
        ck_assert_uint_eq(d.flags, PCIE_F_PASID | PCIE_F_R | PCIE_F_LAST);
    }
    /* The 4th finds the queue full: PRO, an automatic Success. */
    sim_time_t t4 = t += SIM_US;
    send_pr(f, t4, 0x20000, 20, true);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 3);
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PPR | IOMMU_PRS_PRO);
    ck_assert_uint_eq(f->prq_irqs, 1);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_PRG_RESP);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(f->cap[0].m.tag, 20);
    ck_assert_uint_ne(f->cap[0].m.flags & PCIE_F_PASID, 0);
    ck_assert_uint_eq(f->cap[0].t, t4 + c->prq_write);
    /* With PRO set nothing is queued, even with room; a non-last request
     * gets no response. */
    iommu_prq_set_head(f->u, 2);
    send_pr(f, t += SIM_US, 0x21000, 21, true);
    send_pr(f, t += SIM_US, 0x22000, 22, false);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 3);
    /* PPR cleared but PRO still set: no interrupt. */
    iommu_prq_clear_status(f->u, IOMMU_PRS_PPR);
    send_pr(f, t += SIM_US, 0x23000, 23, true);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->prq_irqs, 1);
    /* Recovery: drain, clear PRO; requests queue again, the interrupt
     * fires. */
    iommu_prq_set_head(f->u, iommu_prq_tail(f->u));
    iommu_prq_clear_status(f->u, IOMMU_PRS_PRO);
    ck_assert_uint_eq(iommu_prq_status(f->u), 0);
    sim_time_t t8 = t += SIM_US;
    send_pr(f, t8, 0x24000, 24, true);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->prq_irqs, 2);
    ck_assert_uint_eq(f->prq_irq_t[1], t8 + c->prq_write);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 0); /* wrapped: 3 -> 0 */
    iommu_prq_desc_t d;
    iommu_prq_read(f->u, 3, &d);
    ck_assert_uint_eq(d.prgi, 24);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.received, 8);
    ck_assert_uint_eq(q.written, 4);
    ck_assert_uint_eq(q.auto_responded, 3);
    ck_assert_uint_eq(q.dropped, 1);
    ck_assert_uint_eq(q.received, q.written + q.auto_responded + q.dropped);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.overflows"), 1);
    ck_assert_uint_eq(fx_count_type(f, PCIE_MSG_PRG_RESP), q.auto_responded);
    fx_destroy(f);
}
END_TEST

/* VT-d: after software clears PPR without consuming, the next request
 * raises the interrupt again; with PPR cleared, the request that finds
 * the queue full raises it as it sets PRO, later ones do not. */
START_TEST(test_prq_vtd_interrupt_rules)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 4, &pt, RID, PASID, DOMAIN);
    sim_time_t t = 0;
    for (unsigned i = 0; i < 2; i++)
        send_pr(f, t += SIM_US, 0x1000 * (i + 1), (uint16_t)i, true);
    ck_assert_uint_eq(f->prq_irqs, 1);
    iommu_prq_clear_status(f->u, IOMMU_PRS_PPR);
    send_pr(f, t += SIM_US, 0x9000, 9, true);
    ck_assert_uint_eq(f->prq_irqs, 2);
    iommu_prq_clear_status(f->u, IOMMU_PRS_PPR);
    send_pr(f, t += SIM_US, 0xa000, 10, true); /* full: PRO */
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PRO);
    ck_assert_uint_eq(f->prq_irqs, 3);
    send_pr(f, t += SIM_US, 0xb000, 11, true);
    ck_assert_uint_eq(f->prq_irqs, 3);
    ck_assert_uint_eq(f->ncap, 2);
    fx_destroy(f);
}
END_TEST

/* SMMUv3: all four slots are used, one interrupt per entry; the fifth
 * overflows (OVFLG toggles, PRO reads set); until OVACKFLG is copied,
 * requests are not processed even after the queue drained (a last one is
 * answered Success, a non-last one dropped); then they queue again. */
START_TEST(test_prq_smmu_overflow_handshake)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_SMMUV3, 4, &pt, RID, PASID, DOMAIN);
    sim_time_t t = 0;
    for (unsigned i = 0; i < 4; i++)
        send_pr(f, t += SIM_US, 0x10000 + i * 0x1000, (uint16_t)i, true);
    ck_assert_uint_eq(iommu_prq_count(f->u), 4);
    ck_assert_uint_eq(iommu_prq_head(f->u), 0);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 4); /* index 0 + wrap bit */
    ck_assert_uint_eq(f->prq_irqs, 4);
    ck_assert_uint_eq(iommu_prq_status(f->u), 0);
    send_pr(f, t += SIM_US, 0x20000, 20, true);
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PRO);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(f->cap[0].m.tag, 20);
    /* Software drains but does not acknowledge yet. */
    uint32_t pos = iommu_prq_head(f->u);
    for (unsigned i = 0; i < 4; i++) {
        iommu_prq_desc_t d;
        iommu_prq_read(f->u, pos, &d);
        ck_assert_uint_eq(d.prgi, i);
        pos = iommu_prq_next(f->u, pos);
    }
    ck_assert_uint_eq(pos, iommu_prq_tail(f->u));
    iommu_prq_set_head(f->u, pos);
    ck_assert_uint_eq(iommu_prq_count(f->u), 0);
    send_pr(f, t += SIM_US, 0x21000, 21, true);
    send_pr(f, t += SIM_US, 0x22000, 22, false);
    ck_assert_uint_eq(iommu_prq_count(f->u), 0);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->prq_irqs, 4);
    /* Acknowledge (OVACKFLG = OVFLG): processed again. */
    iommu_prq_clear_status(f->u, IOMMU_PRS_PRO);
    ck_assert_uint_eq(iommu_prq_status(f->u), 0);
    send_pr(f, t += SIM_US, 0x23000, 23, true);
    ck_assert_uint_eq(iommu_prq_count(f->u), 1);
    ck_assert_uint_eq(f->prq_irqs, 5);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.written, 5);
    ck_assert_uint_eq(q.auto_responded, 2);
    ck_assert_uint_eq(q.dropped, 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.overflows"), 1);
    fx_destroy(f);
}
END_TEST

/* The descriptors as written in memory: VT-d 32 bytes (qw0: type 1, PASID
 * present bit 8, RID 31:16, PASID 51:32, Exe 52, Priv 53; qw1: R, W, LPIG
 * bits 0-2, PRG index 11:3, address 63:12); SMMUv3 16 bytes (dw0: SID
 * 31:0, SSID 51:32, PRIV 58, EXEC 59, READ 60, WRITE 61, LAST 62, SSV 63;
 * dw1: PRG index 8:0, address 63:12). */
START_TEST(test_prq_descriptor_layout)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    pcie_msg_t r = page_req(0x7f0000123abcull, 0x1a5, false);
    r.flags |= PCIE_F_W | PCIE_F_X | PCIE_F_PRIV;
    fx_inject_at(f, 0, &r);
    fx_run(f);
    iommu_mem_t *m = iommu_memory(f->u);
    uint64_t a = iommu_prq_base(f->u);
    uint64_t w0 = iommu_mem_read64(m, a), w1 = iommu_mem_read64(m, a + 8);
    if (arch == IOMMU_ARCH_VTD) {
        ck_assert_uint_eq(iommu_prq_desc_size(f->u), 32);
        ck_assert_uint_eq(w0 & 0xff, 1);
        ck_assert_uint_eq((w0 >> 8) & 1, 1);
        ck_assert_uint_eq((w0 >> 16) & 0xffff, RID);
        ck_assert_uint_eq((w0 >> 32) & 0xfffff, PASID);
        ck_assert_uint_eq((w0 >> 52) & 3, 3);
        ck_assert_uint_eq(w1 & 7, 3); /* R, W, not last */
        ck_assert_uint_eq((w1 >> 3) & 0x1ff, 0x1a5);
        ck_assert_uint_eq(w1 & ~0xfffull, 0x7f0000123000ull);
    } else {
        ck_assert_uint_eq(iommu_prq_desc_size(f->u), 16);
        ck_assert_uint_eq(w0 & 0xffffffffu, RID);
        ck_assert_uint_eq((w0 >> 32) & 0xfffff, PASID);
        ck_assert_uint_eq(w0 >> 58, 0x2f); /* SSV PRIV EXEC READ WRITE */
        ck_assert_uint_eq(w1 & 0x1ff, 0x1a5);
        ck_assert_uint_eq(w1 & ~0xfffull, 0x7f0000123000ull);
    }
    iommu_prq_desc_t d;
    iommu_prq_read(f->u, 0, &d);
    ck_assert_uint_eq(d.flags, r.flags);
    ck_assert_uint_eq(d.addr, 0x7f0000123000ull);
    fx_destroy(f);
}
END_TEST

/* PRI disabled in the PASID entry (or no entry): a last request is
 * answered Invalid at once, a non-last one dropped; a stop marker is
 * queued and counted. */
START_TEST(test_pri_disabled_and_stop_marker)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOMAIN, false, 4);
    send_pr(f, SIM_US, 0x5000, 7, true);
    send_pr(f, 2 * SIM_US, 0x6000, 8, false);
    pcie_msg_t r = page_req(0x7000, 9, true);
    r.pasid = PASID + 5;
    fx_inject_at(f, 3 * SIM_US, &r);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_INVALID);
    ck_assert_uint_eq(f->cap[0].m.tag, 7);
    ck_assert_uint_eq(f->cap[0].t, SIM_US);
    ck_assert_uint_eq(f->cap[1].m.tag, 9);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.pri_disabled"), 3);
    pcie_msg_t stop = page_req(0, 3, true);
    stop.flags = PCIE_F_PASID | PCIE_F_LAST;
    fx_inject_at(f, 4 * SIM_US, &stop);
    fx_run(f);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.stop_markers, 1);
    ck_assert_uint_eq(q.written, 1);
    ck_assert_uint_eq(q.auto_responded, 2);
    ck_assert_uint_eq(q.dropped, 1);
    fx_destroy(f);
}
END_TEST

/* Interrupt moderation (SMMUv3, an interrupt per entry): within the
 * window after an interrupt, entries make one more interrupt at its end. */
START_TEST(test_irq_coalescing)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.arch = IOMMU_ARCH_SMMUV3;
    c.irq_coalesce = SIM_US;
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOMAIN, true, 4);
    sim_time_t at[4] = {0, 100 * SIM_NS, 200 * SIM_NS, 1500 * SIM_NS};
    for (unsigned i = 0; i < 4; i++) {
        pcie_msg_t r = page_req(0x1000 * (i + 1), (uint16_t)i, true);
        fx_inject_at(f, at[i], &r);
    }
    fx_run(f);
    ck_assert_uint_eq(f->prq_irqs, 3);
    ck_assert_uint_eq(f->prq_irq_t[0], c.prq_write);
    ck_assert_uint_eq(f->prq_irq_t[1], c.prq_write + SIM_US);
    ck_assert_uint_eq(f->prq_irq_t[2], c.prq_write + 2 * SIM_US);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.interrupts"), 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.interrupts_coalesced"), 1);
    fx_destroy(f);
}
END_TEST

/* VT-d: accepting a page request invalidates the IOTLB entries of its
 * page (QEMU vtd_pri_perform_implicit_invalidation). */
START_TEST(test_vtd_implicit_invalidation)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    ck_assert_int_eq(
        iommu_pt_map(&pt, 0x30000, 0x70000, 12, IOMMU_PTE_R | IOMMU_PTE_U), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert(x.iotlb_hit);
    send_pr(f, SIM_US, 0x30000, 1, true);
    iommu_translate(f->u, RID, PASID, 0x30000, PCIE_F_R, &x);
    ck_assert(!x.iotlb_hit);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.implicit_invalidations"), 1);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------ invalidation queue */

/* A page group response through the queue: the descriptor in memory
 * (VT-d type 0x9: PASID present bit 4, code 15:12 (Success 0, Invalid 1,
 * Failure 0xF), RID 31:16, PASID 51:32; qw1 LPIG bit 2, PRG index 11:3;
 * SMMUv3 CMD_PRI_RESP 0x41: RESP 13:12 of dw1 with Deny 0, Fail 1, Success
 * 2), the response reaching the device after qi_page_resp, then the wait. */
START_TEST(test_qi_page_response)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    static const uint8_t codes[3] = {PCIE_PRG_SUCCESS, PCIE_PRG_INVALID,
                                     PCIE_PRG_FAILURE};
    for (unsigned k = 0; k < 3; k++) {
        sim_time_t t0 = sim_now(f->sim);
        uint32_t slot = iommu_qi_tail(f->u);
        iommu_qi_desc_t d[2] = {
            {.type = IOMMU_QI_PAGE_RESP,
             .rid = RID,
             .pasid = PASID,
             .prgi = (uint16_t)(311 + k),
             .code = codes[k],
             .pasid_present = k != 2},
            {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
        ck_assert_int_eq(iommu_qi_submit(f->u, d, 2), 0);
        iommu_mem_t *m = iommu_memory(f->u);
        uint64_t a = iommu_qi_base(f->u) +
                     (uint64_t)(slot % 256) * iommu_qi_desc_size(f->u);
        uint64_t w0 = iommu_mem_read64(m, a), w1 = iommu_mem_read64(m, a + 8);
        if (arch == IOMMU_ARCH_VTD) {
            static const unsigned vcode[3] = {0x0, 0x1, 0xf};
            ck_assert_uint_eq(iommu_qi_desc_size(f->u), 32);
            ck_assert_uint_eq(w0 & 0xf, 0x9);
            ck_assert_uint_eq((w0 >> 4) & 1, k != 2);
            ck_assert_uint_eq((w0 >> 12) & 0xf, vcode[k]);
            ck_assert_uint_eq((w0 >> 16) & 0xffff, RID);
            ck_assert_uint_eq((w0 >> 32) & 0xfffff, PASID);
            ck_assert_uint_eq(w1 & 4, 4);
            ck_assert_uint_eq((w1 >> 3) & 0x1ff, 311 + k);
        } else {
            static const unsigned scode[3] = {2, 0, 1};
            ck_assert_uint_eq(iommu_qi_desc_size(f->u), 16);
            ck_assert_uint_eq(w0 & 0xff, 0x41);
            ck_assert_uint_eq((w0 >> 32) & 0xffffffffu, RID);
            ck_assert_uint_eq((w0 >> 12) & 0xfffff, PASID);
            ck_assert_uint_eq(w1 & 0x1ff, 311 + k);
            ck_assert_uint_eq((w1 >> 12) & 3, scode[k]);
        }
        fx_run(f);
        const fx_cap_t *cap = &f->cap[f->ncap - 1];
        ck_assert_uint_eq(cap->m.type, PCIE_MSG_PRG_RESP);
        ck_assert_uint_eq(cap->m.code, codes[k]);
        ck_assert_uint_eq(cap->m.tag, 311 + k);
        ck_assert_uint_eq(cap->rid, RID);
        ck_assert_uint_eq((cap->m.flags & PCIE_F_PASID) != 0, k != 2);
        ck_assert_uint_eq(cap->t - t0, c->qi_page_resp);
        ck_assert_uint_eq(f->done_calls, k + 1);
        ck_assert_uint_eq(f->done_t[k] - t0, c->qi_page_resp + c->qi_wait);
    }
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.host_responses, 3);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    fx_destroy(f);
}
END_TEST

/* Descriptors are consumed in order, each after its own cost; each does
 * what it says (here: the IOTLB entry and the cached PASID entry go). */
START_TEST(test_qi_order_and_costs)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x8000, 0x18000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x8000, PCIE_F_R, &x);
    iommu_qi_desc_t d[4] = {
        {.type = IOMMU_QI_IOTLB,
         .inv = {.gran = IOMMU_INV_RANGE,
                 .domain = DOMAIN,
                 .pasid = PASID,
                 .addr = 0x8000,
                 .len = 0x1000}},
        {.type = IOMMU_QI_PASID_CACHE,
         .inv = {.gran = IOMMU_INV_DEVICE_PASID,
                 .rid = RID,
                 .pasid = PASID,
                 .domain = DOMAIN}},
        {.type = IOMMU_QI_CONTEXT_CACHE,
         .inv = {.gran = IOMMU_INV_DEVICE, .rid = RID}},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 4), 0);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 4);
    fx_run(f);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(f->done_t[0],
                      c->qi_iotlb + c->qi_pasid + c->qi_context + c->qi_wait);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.iotlb"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.pasid_cache"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.context_cache"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.wait"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.errors"), 0);
    iommu_translate(f->u, RID, PASID, 0x8000, PCIE_F_R, &x);
    ck_assert(!x.iotlb_hit);
    ck_assert_uint_eq(x.ctx_reads, 4);
    ck_assert_uint_eq(iommu_qi_head(f->u), iommu_qi_tail(f->u));
    /* A resume has no meaning on VT-d (no stall model). */
    iommu_qi_desc_t res = {.type = IOMMU_QI_RESUME};
    ck_assert_int_eq(iommu_qi_submit(f->u, &res, 1),
                     arch == IOMMU_ARCH_VTD ? -EINVAL : 0);
    fx_destroy(f);
}
END_TEST

/* Device-TLB invalidations go to the device (address and size survive the
 * encodings: an 8 KiB range, and "all") and do not block the queue; the
 * wait after them completes only once both completions are back. */
START_TEST(test_qi_devtlb_and_wait)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    f->answer_inv = true;
    f->inv_delay = 3 * SIM_US;
    iommu_qi_desc_t d[4] = {
        {.type = IOMMU_QI_DEVTLB,
         .inv = {.rid = RID, .pasid = PASID, .addr = 0x40000, .len = 0x2000}},
        {.type = IOMMU_QI_DEVTLB, .inv = {.rid = RID, .pasid = PASID}},
        {.type = IOMMU_QI_IOTLB, .inv = {.gran = IOMMU_INV_GLOBAL}},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 4), 0);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_INV_REQ);
    ck_assert_uint_eq(f->cap[0].rid, RID);
    ck_assert_uint_eq(f->cap[0].m.pasid, PASID);
    ck_assert_uint_eq(f->cap[0].m.addr, 0x40000);
    ck_assert_uint_eq(f->cap[0].m.len, 0x2000);
    ck_assert_uint_eq(f->cap[0].t, c->qi_devtlb);
    ck_assert_uint_eq(f->cap[1].m.len, 0); /* all */
    ck_assert_uint_eq(f->cap[1].t, 2 * c->qi_devtlb);
    /* The IOTLB descriptor did not wait; the wait did. */
    sim_time_t last_cpl = 2 * c->qi_devtlb + f->inv_delay;
    ck_assert_uint_gt(last_cpl, 2 * c->qi_devtlb + c->qi_iotlb);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(f->done_t[0], last_cpl + c->qi_wait);
    ck_assert_uint_eq(fx_ctr(f, "iommu.devtlb.invalidations"), 2);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    /* Without a completion the wait never completes. */
    f->answer_inv = false;
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 1), 0);
    ck_assert_int_eq(iommu_qi_submit(f->u, &d[3], 1), 0);
    fx_run(f);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 2);
    fx_destroy(f);
}
END_TEST

/* A ring of four slots (VT-d: three usable): the rest wait for space, in
 * order, and everything completes. */
START_TEST(test_qi_full)
{
    unsigned arch = (unsigned)_i;
    iommu_cfg_t c;
    fx_defaults(&c);
    c.arch = arch;
    c.qi_depth = 4;
    fx_t *f = fx_create(&c);
    iommu_qi_desc_t d[9];
    memset(d, 0, sizeof(d));
    for (unsigned i = 0; i < 8; i++) {
        d[i].type = IOMMU_QI_IOTLB;
        d[i].inv.gran = IOMMU_INV_GLOBAL;
    }
    d[8] =
        (iommu_qi_desc_t){.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 9), 0);
    unsigned usable = arch == IOMMU_ARCH_VTD ? 3 : 4;
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.full_waits"), 9 - usable);
    fx_run(f);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(f->done_t[0], 8 * c.qi_iotlb + c.qi_wait);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.iotlb"), 8);
    sim_gauge_t *g = sim_stats_find_gauge(f->st, "iommu.qi.occupancy");
    ck_assert(g->max <= usable);
    fx_destroy(f);
}
END_TEST

/* After an unmap, a translation through the timed path after the wait
 * completed never sees the old page. The range is rounded to an aligned
 * power-of-two block (VT-d AM, SMMUv3 SCALE), a superset: [0xa000,
 * 0xd000) becomes [0x8000, 0x10000). */
START_TEST(test_qi_no_stale_after_wait)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    static const uint64_t pages[4] = {0x9000, 0xa000, 0xc000, 0x10000};
    iommu_xlate_t x;
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_int_eq(
            iommu_pt_map(&pt, pages[i], 0x100000 + pages[i], 12, PTE_RWU), 0);
        iommu_translate(f->u, RID, PASID, pages[i], PCIE_F_R, &x);
    }
    ck_assert_int_eq(iommu_pt_unmap(&pt, 0xa000, 0x1000, NULL, NULL), 0);
    /* Still cached before the queue gets to it (hardware too). */
    iommu_translate(f->u, RID, PASID, 0xa000, PCIE_F_R, &x);
    ck_assert(x.iotlb_hit);
    iommu_qi_desc_t d[2] = {
        {.type = IOMMU_QI_IOTLB,
         .inv = {.gran = IOMMU_INV_RANGE,
                 .domain = DOMAIN,
                 .pasid = PASID,
                 .addr = 0xa000,
                 .len = 0x3000}},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 2), 0);
    fx_run(f);
    ck_assert_uint_eq(f->done_calls, 1);
    pcie_msg_t r = {.type = PCIE_MSG_ATS_REQ,
                    .flags = PCIE_F_PASID | PCIE_F_R,
                    .rid = RID,
                    .pasid = PASID,
                    .addr = 0xa000,
                    .tag = 1};
    fx_inject_at(f, sim_now(f->sim), &r);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_CPL_SC);
    ck_assert_uint_eq(f->cap[0].m.perm, 0);
    bool hit_expected[4] = {false, false, false, true};
    for (unsigned i = 0; i < 4; i++) {
        iommu_translate(f->u, RID, PASID, pages[i], PCIE_F_R, &x);
        ck_assert_msg(x.iotlb_hit == hit_expected[i], "page %llx",
                      (unsigned long long)pages[i]);
    }
    fx_destroy(f);
}
END_TEST

static Suite *queues_suite(void)
{
    Suite *s = suite_create("queues");
    TCase *tc = tcase_create("prq");
    tcase_add_test(tc, test_prq_vtd_overflow_and_recovery);
    tcase_add_test(tc, test_prq_vtd_interrupt_rules);
    tcase_add_test(tc, test_prq_smmu_overflow_handshake);
    tcase_add_loop_test(tc, test_prq_descriptor_layout, 0, 2);
    tcase_add_test(tc, test_pri_disabled_and_stop_marker);
    tcase_add_test(tc, test_irq_coalescing);
    tcase_add_test(tc, test_vtd_implicit_invalidation);
    suite_add_tcase(s, tc);
    tc = tcase_create("qi");
    tcase_add_loop_test(tc, test_qi_page_response, 0, 2);
    tcase_add_loop_test(tc, test_qi_order_and_costs, 0, 2);
    tcase_add_loop_test(tc, test_qi_devtlb_and_wait, 0, 2);
    tcase_add_loop_test(tc, test_qi_full, 0, 2);
    tcase_add_loop_test(tc, test_qi_no_stale_after_wait, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(queues_suite());
}
