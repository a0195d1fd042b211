/*
 * iommu/prq.h - the page request queue (unit prq.c): VT-d PRQ / SMMUv3
 * PRIQ / AMD-Vi PPR log, its descriptor encodings, overflow rules and
 * interrupt.
 */
#ifndef IOMMU_PRQ_H
#define IOMMU_PRQ_H

#include "iommu/irq.h"
#include "iommu/port.h"
#include "iommu/ring.h"

typedef struct iommu_prq {
    sim_t *sim;
    iommu_mem_t *mem;
    const iommu_port_t *down;
    bool smmu;               /* SMMUv3 rules (else VT-d) */
    bool amd;                /* AMD-Vi PPR log: VT-d rules but its own
                                entry format and overflow rule */
    unsigned stage_page_req; /* span stage marked when a request is written */
    iring_t ring;
    sim_span_t **span; /* beside each slot */
    unsigned prs;      /* VT-d: PPR | PRO */
    bool ovflg, ovack; /* SMMUv3 PRIQ_PROD.OVFLG, PRIQ_CONS.OVACKFLG */
    iommu_irq_t irq;
    struct {
        sim_counter_t *received, *written, *auto_responded, *dropped,
            *stop_markers, *stop_markers_dropped, *overflows, *pri_disabled,
            *implicit_inv;
        sim_gauge_t *occupancy;
    } s;
} iommu_prq_t;

/* Set up q with `depth` entries in mem (VT-d 32-byte descriptors, SMMUv3
 * and AMD-Vi 16-byte entries); messages go down through `down`. Counters
 * are filled in by the owner. Returns 0 or -ENOMEM. */
int iommu_prq_init(iommu_prq_t *q, sim_t *sim, iommu_mem_t *mem,
                   const iommu_port_t *down, iommu_arch_t arch, uint64_t depth,
                   sim_time_t irq_window);
void iommu_prq_fini(iommu_prq_t *q);
/* Write page request m (after the PRQ write delay), or apply the overflow
 * rules: VT-d and SMMUv3 auto-respond Success to a last request and drop
 * the others (stop markers included: they get no response); AMD-Vi drops
 * every one, last or not, with no response. */
void iommu_prq_accept(iommu_prq_t *q, const pcie_msg_t *m);
/* A request the IOMMU refuses before the queue (PRI disabled or no
 * context): Invalid Request for a last request, nothing for the others. */
void iommu_prq_refuse(iommu_prq_t *q, const pcie_msg_t *m);
/* Read and decode the descriptor at position pos. */
void iommu_prq_decode(const iommu_prq_t *q, uint32_t pos,
                      iommu_prq_desc_t *out);
/* Software consumed entries up to (not including) head. */
void iommu_prq_consume(iommu_prq_t *q, uint32_t head);
/* PRS (VT-d; AMD-Vi PPRInt as PPR, PPROverflow as PRO) or the overflow
 * state as PRO (SMMUv3). */
unsigned iommu_prq_status_of(const iommu_prq_t *q);
/* Clear status bits (VT-d RW1C; SMMUv3: PRO acknowledges the overflow). */
void iommu_prq_ack(iommu_prq_t *q, unsigned bits);

#endif /* IOMMU_PRQ_H */
