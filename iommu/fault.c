/*
 * fault.c - the fault-record queue: VT-d fault recording (16-byte
 * records) / SMMUv3 event queue (32-byte event records), written for
 * untranslated DMA that faults and for stall events. A full queue sets
 * the overflow state and records are lost until software acknowledges it
 * (VT-d PFO; SMMUv3 EVTQ overflow).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/fault.h"
#include "iommu/pt.h"

/* SMMUv3 event IDs (Linux arm-smmu-v3.h EVT_ID_*). */
enum {
    EVT_BAD_STE = 0x04,
    EVT_BAD_CD = 0x0a,
    EVT_TRANSLATION = 0x10,
    EVT_PERMISSION = 0x13
};

int iommu_fq_init(iommu_fq_t *q, sim_t *sim, iommu_mem_t *mem, bool smmu,
                  uint64_t depth, sim_time_t irq_window)
{
    q->mem = mem;
    q->smmu = smmu;
    iommu_irq_init(&q->irq, sim, irq_window);
    if (iring_init(&q->ring, mem, depth, smmu ? 32 : 16, smmu))
        return -ENOMEM;
    q->span = calloc(q->ring.depth, sizeof(*q->span));
    return q->span ? 0 : -ENOMEM;
}

void iommu_fq_fini(iommu_fq_t *q)
{
    free(q->span);
}

/* SMMUv3 event ID of an outcome. */
static unsigned evt_id(iommu_walk_outcome_t r)
{
    switch (r) {
    case IOMMU_WALK_S1_PERM:
    case IOMMU_WALK_S2_PERM:
        return EVT_PERMISSION;
    case IOMMU_WALK_BAD_CONTEXT:
        return EVT_BAD_STE;
    case IOMMU_WALK_BAD_PASID:
        return EVT_BAD_CD;
    default:
        return EVT_TRANSLATION;
    }
}

/*
 * Encode a fault record at a.
 * SMMUv3 event (32 bytes, Linux EVTQ_*): dw0 = ID (7:0) | SSV (11) |
 * SSID (31:12) | SID (63:32); dw1 = STAG (15:0) | STALL (31) | PnU (33) |
 * InD (34) | RnW (35) | S2 (39) | CLASS (41:40, 1: table walk); dw2 =
 * input address; dw3 = IPA (51:12).
 * VT-d fault record (16 bytes, the fault recording register layout): qw0 =
 * page address (63:12); qw1 = SID (15:0) | EXE (29) | PRIV (30) | PP (31) |
 * FR (39:32: the simulator's outcome code, not VT-d's reason table) |
 * PASID (59:40) | T (62: 1 read) | F (63).
 */
static void fault_encode(iommu_fq_t *q, uint64_t a, const iommu_fault_rec_t *f)
{
    bool s2 = f->reason == IOMMU_WALK_S2_NOT_PRESENT ||
              f->reason == IOMMU_WALK_S2_PERM;
    bool read = !(f->flags & PCIE_F_W);
    if (q->smmu) {
        iommu_mem_write64(
            q->mem, a,
            evt_id(f->reason) | (f->pasid_valid ? 1ull << 11 : 0) |
                ((uint64_t)f->pasid << 12) | ((uint64_t)f->rid << 32));
        iommu_mem_write64(q->mem, a + 8,
                          f->stag | (f->stall ? 1ull << 31 : 0) |
                              ((f->flags & PCIE_F_PRIV) ? 1ull << 33 : 0) |
                              ((f->flags & PCIE_F_X) ? 1ull << 34 : 0) |
                              (read ? 1ull << 35 : 0) | (s2 ? 1ull << 39 : 0));
        iommu_mem_write64(q->mem, a + 16, f->addr);
        iommu_mem_write64(q->mem, a + 24, f->gpa & IOMMU_PTE_ADDR);
        return;
    }
    iommu_mem_write64(q->mem, a, f->addr & ~(IOMMU_PAGE_SIZE - 1));
    iommu_mem_write64(
        q->mem, a + 8,
        (uint64_t)f->rid | ((f->flags & PCIE_F_X) ? 1ull << 29 : 0) |
            ((f->flags & PCIE_F_PRIV) ? 1ull << 30 : 0) |
            (f->pasid_valid ? 1ull << 31 : 0) | ((uint64_t)f->reason << 32) |
            ((uint64_t)f->pasid << 40) | (read ? 1ull << 62 : 0) |
            (1ull << 63));
}

void iommu_fq_decode(const iommu_fq_t *q, uint32_t pos, iommu_fault_rec_t *f)
{
    uint64_t a = iring_addr(&q->ring, pos);
    memset(f, 0, sizeof(*f));
    f->span = q->span[pos % q->ring.depth];
    if (q->smmu) {
        uint64_t w0 = iommu_mem_read64(q->mem, a),
                 w1 = iommu_mem_read64(q->mem, a + 8);
        bool s2 = (w1 >> 39) & 1;
        switch (w0 & 0xff) {
        case EVT_PERMISSION:
            f->reason = s2 ? IOMMU_WALK_S2_PERM : IOMMU_WALK_S1_PERM;
            break;
        case EVT_BAD_STE:
            f->reason = IOMMU_WALK_BAD_CONTEXT;
            break;
        case EVT_BAD_CD:
            f->reason = IOMMU_WALK_BAD_PASID;
            break;
        default:
            f->reason =
                s2 ? IOMMU_WALK_S2_NOT_PRESENT : IOMMU_WALK_S1_NOT_PRESENT;
            break;
        }
        f->pasid_valid = (w0 >> 11) & 1;
        f->pasid = (uint32_t)(w0 >> 12) & (PCIE_PASID_MAX - 1);
        f->rid = (uint16_t)(w0 >> 32);
        f->stag = (uint16_t)w1;
        f->stall = (w1 >> 31) & 1;
        f->flags = (uint8_t)(((w1 >> 33) & 1 ? PCIE_F_PRIV : 0) |
                             ((w1 >> 34) & 1 ? PCIE_F_X : 0) |
                             ((w1 >> 35) & 1 ? PCIE_F_R : PCIE_F_W));
        f->addr = iommu_mem_read64(q->mem, a + 16);
        f->gpa = iommu_mem_read64(q->mem, a + 24) & IOMMU_PTE_ADDR;
        return;
    }
    uint64_t w0 = iommu_mem_read64(q->mem, a),
             w1 = iommu_mem_read64(q->mem, a + 8);
    f->addr = w0 & ~(IOMMU_PAGE_SIZE - 1);
    f->rid = (uint16_t)w1;
    f->pasid_valid = (w1 >> 31) & 1;
    f->reason = (iommu_walk_outcome_t)((w1 >> 32) & 0xff);
    f->pasid = (uint32_t)(w1 >> 40) & (PCIE_PASID_MAX - 1);
    f->flags = (uint8_t)(((w1 >> 29) & 1 ? PCIE_F_X : 0) |
                         ((w1 >> 30) & 1 ? PCIE_F_PRIV : 0) |
                         ((w1 >> 62) & 1 ? PCIE_F_R : PCIE_F_W));
}

bool iommu_fq_record(iommu_fq_t *q, const iommu_fault_rec_t *rec)
{
    bool full = iring_full(&q->ring);
    if (q->overflow || full) {
        if (!q->overflow) {
            q->overflow = true;
            q->s.overflows->value++;
        }
        q->s.lost->value++;
        return false;
    }
    fault_encode(q, iring_addr(&q->ring, q->ring.tail), rec);
    q->span[q->ring.tail % q->ring.depth] = rec->span;
    q->ring.tail = iring_next(&q->ring, q->ring.tail);
    q->s.records->value++;
    iommu_irq_raise(&q->irq);
    return true;
}
