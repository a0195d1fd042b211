/*
 * prq.c - the page request queue (VT-d PRQ / SMMUv3 PRIQ): descriptor
 * encodings, overflow rules and the page request interrupt.
 *
 * VT-d:
 *  - 32-byte descriptors (VT-d 7.4.1.1; Linux drivers/iommu/intel/prq.c);
 *    full when (tail + 1) mod depth == head, one slot stays unused (QEMU
 *    hw/i386/intel_iommu.c: vtd_pri_request_page);
 *  - a page request event only if PPR and PRO were both clear (VT-d 7.5;
 *    QEMU vtd_generate_page_request_event);
 *  - with PRO set, requests are not queued; a full queue sets PRO (QEMU
 *    vtd_pri_request_page);
 *  - dropped requests that need a response (L=1) get an automatic Success
 *    page group response, which makes the device retry (VT-d 7.4.1 as
 *    paraphrased in a comment of QEMU hw/i386/intel_iommu_accel.c:
 *    second-hand, [I]).
 * SMMUv3:
 *  - 16-byte entries (Linux arm-smmu-v3.h PRIQ_0_*, PRIQ_1_*), a wrap bit:
 *    every slot usable;
 *  - on overflow PRIQ_PROD.OVFLG toggles and, until software copies it to
 *    PRIQ_CONS.OVACKFLG, further requests are not processed (Linux commit
 *    0d535967 "iommu/arm-smmu-v3: sync the OVACKFLG to PRIQ consumer
 *    register"; arm-smmu-v3.c: arm_smmu_priq_thread);
 *  - in an overflow condition incoming PRI messages are discarded: a Page
 *    Request with Last == 1 gets an automatic PRG Response (Success when
 *    the PASID rule allows it), one with Last == 0 is silently ignored,
 *    and a Stop PASID marker is discarded with no auto-response (SMMUv3
 *    8.1 PRI queue overflow, IHI 0070);
 *  - an interrupt per entry written (no pending bit) [I].
 * AMD-Vi (AMD I/O Virtualization Technology (IOMMU) Specification #48882,
 * the PPR log; Linux drivers/iommu/amd/ppr.c):
 *  - 16-byte entries in Linux's layout (amd_iommu_types.h PPR_REQ_TYPE,
 *    PPR_FLAGS, PPR_DEVID, PPR_TAG, PPR_PASID1/2); head == tail is empty
 *    (ppr.c amd_iommu_poll_ppr_log: "while (head != tail)"), so a full log
 *    keeps one entry unused, as VT-d;
 *  - PPRInt and PPROverflow of the status register (MMIO 2020h, RW1C;
 *    Linux MMIO_STATUS_PPR_INT_MASK, MMIO_STATUS_PPR_OVERFLOW_MASK) work
 *    as VT-d's PPR and PRO here: one interrupt until software clears
 *    PPRInt (iommu.c amd_iommu_handle_irq clears it before it polls);
 *  - overflow: "when there is no space in the PPR log buffer (PPR log
 *    overflow) it will set PprOverflow bit ... IOMMU stops processing new
 *    PPR events from device" until software restarts the log (Linux commit
 *    274c2218 "iommu/amd: Handle PPR log overflow", citing #48882 rev 3.07
 *    section 2.6.2; the spec's words for the event log, quoted in Linux
 *    commit 5ce97f4e: the new entry is discarded and "no new event log
 *    entries are written while this bit is set"). Unlike VT-d and SMMUv3
 *    there is no automatic response: the request is discarded, last or
 *    not, and the device is never answered (the optional PPR auto-response,
 *    EFR PprAutoRspSup, is not enabled by Linux and not modelled); only
 *    the device's own PRG timeout (device.pri_timeout) gets it going.
 */
#include <errno.h>
#include <stdlib.h>

#include "iommu/prq.h"

int iommu_prq_init(iommu_prq_t *q, sim_t *sim, iommu_mem_t *mem,
                   const iommu_port_t *down, iommu_arch_t arch, uint64_t depth,
                   sim_time_t irq_window)
{
    bool smmu = arch == IOMMU_ARCH_SMMUV3;
    q->sim = sim;
    q->mem = mem;
    q->down = down;
    q->smmu = smmu;
    q->amd = arch == IOMMU_ARCH_AMDVI;
    iommu_irq_init(&q->irq, sim, irq_window);
    if (iring_init(&q->ring, mem, depth, smmu || q->amd ? 16 : 32, smmu))
        return -ENOMEM;
    q->span = calloc(q->ring.depth, sizeof(*q->span));
    return q->span ? 0 : -ENOMEM;
}

void iommu_prq_fini(iommu_prq_t *q)
{
    free(q->span);
}

/* Encode a page request at a (VT-d 7.4.1.1 / SMMUv3 PRIQ_0_*, PRIQ_1_*). */
static void prq_encode(iommu_prq_t *q, uint64_t a, const pcie_msg_t *m)
{
    uint8_t f = m->flags;
    uint64_t page = m->addr & ~(IOMMU_PAGE_SIZE - 1);
    if (q->amd) {
        /* Linux amd_iommu_types.h: type 1 (PPR_REQ_FAULT) in 63:60, flags
         * in 59:48 (EXEC 0x002, READ 0x004, WRITE 0x020, US 0x040 = user,
         * GN 0x100 = PASID valid), the tag in 41:32 (group index 40:32,
         * last 41), PASID 15:0 in 31:16 and 19:16 in 45:42, DevID 15:0;
         * the address in the second quadword. */
        uint64_t fl =
            ((f & PCIE_F_X) ? 0x002u : 0) | ((f & PCIE_F_R) ? 0x004u : 0) |
            ((f & PCIE_F_W) ? 0x020u : 0) | ((f & PCIE_F_PRIV) ? 0 : 0x040u) |
            ((f & PCIE_F_PASID) ? 0x100u : 0);
        uint64_t w0 = (uint64_t)m->rid | ((uint64_t)(m->pasid & 0xffff) << 16) |
                      ((uint64_t)(m->tag & 0x1ffu) << 32) |
                      ((f & PCIE_F_LAST) ? 1ull << 41 : 0) |
                      ((uint64_t)((m->pasid >> 16) & 0xf) << 42) | (fl << 48) |
                      (1ull << 60);
        iommu_mem_write64(q->mem, a, w0);
        iommu_mem_write64(q->mem, a + 8, page);
        return;
    }
    if (q->smmu) {
        uint64_t dw0 = (uint64_t)m->rid | ((uint64_t)m->pasid << 32) |
                       ((f & PCIE_F_PRIV) ? 1ull << 58 : 0) |
                       ((f & PCIE_F_X) ? 1ull << 59 : 0) |
                       ((f & PCIE_F_R) ? 1ull << 60 : 0) |
                       ((f & PCIE_F_W) ? 1ull << 61 : 0) |
                       ((f & PCIE_F_LAST) ? 1ull << 62 : 0) |
                       ((f & PCIE_F_PASID) ? 1ull << 63 : 0);
        iommu_mem_write64(q->mem, a, dw0);
        iommu_mem_write64(q->mem, a + 8, (m->tag & 0x1ffu) | page);
        return;
    }
    uint64_t qw0 = 0x1 | ((f & PCIE_F_PASID) ? 1ull << 8 : 0) |
                   ((uint64_t)m->rid << 16) | ((uint64_t)m->pasid << 32) |
                   ((f & PCIE_F_X) ? 1ull << 52 : 0) |
                   ((f & PCIE_F_PRIV) ? 1ull << 53 : 0);
    uint64_t qw1 = ((f & PCIE_F_R) ? 1 : 0) | ((f & PCIE_F_W) ? 2 : 0) |
                   ((f & PCIE_F_LAST) ? 4 : 0) |
                   ((uint64_t)(m->tag & 0x1ffu) << 3) | page;
    iommu_mem_write64(q->mem, a, qw0);
    iommu_mem_write64(q->mem, a + 8, qw1);
    iommu_mem_write64(q->mem, a + 16, 0); /* private data: none */
    iommu_mem_write64(q->mem, a + 24, 0);
}

void iommu_prq_decode(const iommu_prq_t *q, uint32_t pos, iommu_prq_desc_t *d)
{
    uint64_t a = iring_addr(&q->ring, pos);
    uint64_t w0 = iommu_mem_read64(q->mem, a);
    uint64_t w1 = iommu_mem_read64(q->mem, a + 8);
    d->span = q->span[pos % q->ring.depth];
    d->addr = w1 & ~(IOMMU_PAGE_SIZE - 1);
    if (q->amd) {
        unsigned fl = (unsigned)(w0 >> 48) & 0xfff;
        d->rid = (uint16_t)w0;
        d->pasid = ((uint32_t)(w0 >> 16) & 0xffff) |
                   ((uint32_t)((w0 >> 42) & 0xf) << 16);
        d->prgi = (uint16_t)((w0 >> 32) & 0x1ff);
        d->flags = (uint8_t)(((fl & 0x002u) ? PCIE_F_X : 0) |
                             ((fl & 0x004u) ? PCIE_F_R : 0) |
                             ((fl & 0x020u) ? PCIE_F_W : 0) |
                             ((fl & 0x040u) ? 0 : PCIE_F_PRIV) |
                             ((fl & 0x100u) ? PCIE_F_PASID : 0) |
                             (((w0 >> 41) & 1) ? PCIE_F_LAST : 0));
        return;
    }
    if (q->smmu) {
        d->rid = (uint16_t)w0;
        d->pasid = (uint32_t)(w0 >> 32) & (PCIE_PASID_MAX - 1);
        d->prgi = (uint16_t)(w1 & 0x1ff);
        d->flags = (uint8_t)(((w0 >> 58) & 1 ? PCIE_F_PRIV : 0) |
                             ((w0 >> 59) & 1 ? PCIE_F_X : 0) |
                             ((w0 >> 60) & 1 ? PCIE_F_R : 0) |
                             ((w0 >> 61) & 1 ? PCIE_F_W : 0) |
                             ((w0 >> 62) & 1 ? PCIE_F_LAST : 0) |
                             ((w0 >> 63) & 1 ? PCIE_F_PASID : 0));
        return;
    }
    d->rid = (uint16_t)(w0 >> 16);
    d->pasid = (uint32_t)(w0 >> 32) & (PCIE_PASID_MAX - 1);
    d->prgi = (uint16_t)((w1 >> 3) & 0x1ff);
    d->flags = (uint8_t)(((w0 >> 8) & 1 ? PCIE_F_PASID : 0) |
                         ((w0 >> 52) & 1 ? PCIE_F_X : 0) |
                         ((w0 >> 53) & 1 ? PCIE_F_PRIV : 0) |
                         ((w1 & 1) ? PCIE_F_R : 0) | ((w1 & 2) ? PCIE_F_W : 0) |
                         ((w1 & 4) ? PCIE_F_LAST : 0));
}

/* VT-d: raise the page request event if PPR and PRO were both clear, then
 * set `bits` (VT-d 7.5 as implemented by QEMU
 * vtd_generate_page_request_event). */
static void prq_event(iommu_prq_t *q, unsigned bits)
{
    bool fire = !(q->prs & (IOMMU_PRS_PPR | IOMMU_PRS_PRO));
    q->prs |= bits;
    if (fire)
        iommu_irq_raise(&q->irq);
}

/* Whether the PRQ is in its overflow state (VT-d PRO, SMMUv3 OVFLG !=
 * OVACKFLG). */
static bool prq_overflowed(const iommu_prq_t *q)
{
    return q->smmu ? q->ovflg != q->ovack : (q->prs & IOMMU_PRS_PRO);
}

/* A Stop Marker: Last set, neither Read nor Write, with a PASID (PCIe
 * 10.4.1.2; SMMUv3 8: "A message that arrives without a PASID and that
 * has LWR == 0b100 is not a Stop Marker"). It is not a page request and
 * is owed no response. */
static bool prq_is_stop_marker(const pcie_msg_t *m)
{
    return (m->flags & (PCIE_F_LAST | PCIE_F_R | PCIE_F_W | PCIE_F_PASID)) ==
           (PCIE_F_LAST | PCIE_F_PASID);
}

/* Answer a page request in hardware (no software involved). */
static void prq_auto_respond(iommu_prq_t *q, const pcie_msg_t *m, uint8_t code)
{
    pcie_msg_t r = {0};
    r.type = PCIE_MSG_PRG_RESP;
    r.code = code;
    r.tag = m->tag;
    r.pasid = m->pasid;
    r.flags = m->flags & PCIE_F_PASID;
    r.span = m->span;
    /* The group is answered by hardware, not resolved by software. */
    sim_span_set_auto(m->span);
    q->s.auto_responded->value++;
    iommu_port_send(q->down, m->rid, &r);
}

void iommu_prq_accept(iommu_prq_t *q, const pcie_msg_t *m)
{
    bool full = iring_full(&q->ring);
    if (prq_overflowed(q) || full) {
        if (full && !prq_overflowed(q)) {
            q->s.overflows->value++;
            if (q->smmu)
                q->ovflg = !q->ovflg;
            else
                prq_event(q, IOMMU_PRS_PRO);
        }
        /* Discarded: only a Last page request is answered; a Stop
         * Marker is not (SMMUv3 8.1; VT-d owes a response only for a
         * request with LPIG or private data, Linux commit 5f75585e).
         * AMD-Vi answers none: the PPR log stops and the request is lost
         * (see the top of this file). */
        if (prq_is_stop_marker(m))
            q->s.stop_markers_dropped->value++; /* not a page request */
        else if ((m->flags & PCIE_F_LAST) && !q->amd)
            prq_auto_respond(q, m, PCIE_PRG_SUCCESS);
        else
            q->s.dropped->value++;
        return;
    }
    prq_encode(q, iring_addr(&q->ring, q->ring.tail), m);
    q->span[q->ring.tail % q->ring.depth] = m->span;
    q->ring.tail = iring_next(&q->ring, q->ring.tail);
    q->s.written->value++;
    sim_span_mark(m->span, q->stage_page_req, sim_now(q->sim));
    sim_gauge_set(q->s.occupancy, sim_now(q->sim), iring_count(&q->ring));
    if (q->smmu)
        iommu_irq_raise(&q->irq);
    else
        prq_event(q, IOMMU_PRS_PPR);
}

void iommu_prq_refuse(iommu_prq_t *q, const pcie_msg_t *m)
{
    q->s.pri_disabled->value++;
    if (m->flags & PCIE_F_LAST)
        prq_auto_respond(q, m, PCIE_PRG_INVALID);
    else
        q->s.dropped->value++;
}

void iommu_prq_consume(iommu_prq_t *q, uint32_t head)
{
    q->ring.head = head % iring_span(&q->ring);
    sim_gauge_set(q->s.occupancy, sim_now(q->sim), iring_count(&q->ring));
}

unsigned iommu_prq_status_of(const iommu_prq_t *q)
{
    if (q->smmu)
        return prq_overflowed(q) ? IOMMU_PRS_PRO : 0;
    return q->prs;
}

void iommu_prq_ack(iommu_prq_t *q, unsigned bits)
{
    if (q->smmu) {
        if (bits & IOMMU_PRS_PRO)
            q->ovack = q->ovflg;
        return;
    }
    q->prs &= ~bits;
}
