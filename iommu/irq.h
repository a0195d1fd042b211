/*
 * iommu/irq.h - an interrupt line of the IOMMU (unit irq.c) with optional
 * moderation: after an interrupt, further ones within the window are
 * merged into one raised at the window's end.
 */
#ifndef IOMMU_IRQ_H
#define IOMMU_IRQ_H

#include <stdbool.h>

#include "iommu/types.h"

typedef struct iommu_irq {
    sim_t *sim;
    sim_time_t window; /* moderation window (0: off) */
    iommu_irq_fn fn;
    void *opaque;
    sim_time_t last; /* time of the last interrupt */
    bool fired;      /* an interrupt was raised already */
    bool timer;      /* a moderated interrupt is scheduled */
    sim_counter_t *count, *coalesced;
} iommu_irq_t;

/* Set up line l (no handler, counters filled in by the owner). */
void iommu_irq_init(iommu_irq_t *l, sim_t *sim, sim_time_t window);
/* Raise l now, or at the end of the moderation window. */
void iommu_irq_raise(iommu_irq_t *l);

#endif /* IOMMU_IRQ_H */
