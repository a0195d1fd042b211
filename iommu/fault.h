/*
 * iommu/fault.h - the fault-record queue (unit fault.c): VT-d fault
 * recording / SMMUv3 event queue, with its encodings, overflow state and
 * interrupt.
 */
#ifndef IOMMU_FAULT_H
#define IOMMU_FAULT_H

#include "iommu/irq.h"
#include "iommu/ring.h"

typedef struct iommu_fq {
    iommu_mem_t *mem;
    bool smmu; /* SMMUv3 event records (else VT-d) */
    iring_t ring;
    sim_span_t **span; /* beside each slot */
    bool overflow;     /* VT-d PFO / SMMUv3 EVTQ overflow, not acked */
    iommu_irq_t irq;
    struct {
        sim_counter_t *records, *lost, *overflows;
    } s;
} iommu_fq_t;

/* Set up q with `depth` records in mem. Returns 0 or -ENOMEM. */
int iommu_fq_init(iommu_fq_t *q, sim_t *sim, iommu_mem_t *mem, bool smmu,
                  uint64_t depth, sim_time_t irq_window);
void iommu_fq_fini(iommu_fq_t *q);
/* Write a fault record and raise the fault interrupt; false if the queue
 * is full or its overflow is not acknowledged (the record is lost). */
bool iommu_fq_record(iommu_fq_t *q, const iommu_fault_rec_t *rec);
/* Read and decode the record at position pos. */
void iommu_fq_decode(const iommu_fq_t *q, uint32_t pos, iommu_fault_rec_t *out);

#endif /* IOMMU_FAULT_H */
