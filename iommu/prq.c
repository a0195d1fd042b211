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
 */
#include <errno.h>
#include <stdlib.h>

#include "iommu/prq.h"

int iommu_prq_init(iommu_prq_t *q, sim_t *sim, iommu_mem_t *mem,
                   const iommu_port_t *down, bool smmu, uint64_t depth,
                   sim_time_t irq_window)
{
    q->sim = sim;
    q->mem = mem;
    q->down = down;
    q->smmu = smmu;
    iommu_irq_init(&q->irq, sim, irq_window);
    if (iring_init(&q->ring, mem, depth, smmu ? 16 : 32, smmu))
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
         * request with LPIG or private data, Linux commit 5f75585e). */
        if (prq_is_stop_marker(m))
            q->s.stop_markers_dropped->value++; /* not a page request */
        else if (m->flags & PCIE_F_LAST)
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
