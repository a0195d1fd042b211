/*
 * iommu/ring.h - a queue of fixed-size entries in simulated memory, the
 * common shape of the PRQ, the fault-record queue and the invalidation
 * queue (header only). VT-d style rings keep one slot unused (positions
 * are indices; Linux drivers/iommu/intel/iommu.h DMAR_PQH_REG/PQT_REG);
 * SMMUv3 style rings carry a wrap bit (positions run over 2 * depth;
 * Linux arm-smmu-v3.h Q_IDX/Q_WRP) and use every slot.
 */
#ifndef IOMMU_RING_H
#define IOMMU_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "iommu/mem.h"
#include "iommu/types.h"

typedef struct iring {
    uint64_t base;  /* physical address of slot 0 */
    uint32_t depth; /* slots */
    uint32_t esize; /* bytes per entry */
    uint32_t head, tail;
    bool wrap;
} iring_t;

static inline uint32_t iring_span(const iring_t *r)
{
    return r->wrap ? 2 * r->depth : r->depth;
}
static inline uint32_t iring_count(const iring_t *r)
{
    return (r->tail + iring_span(r) - r->head) % iring_span(r);
}
static inline bool iring_full(const iring_t *r)
{
    return iring_count(r) == (r->wrap ? r->depth : r->depth - 1);
}
static inline uint32_t iring_next(const iring_t *r, uint32_t pos)
{
    return (pos + 1) % iring_span(r);
}
static inline uint64_t iring_addr(const iring_t *r, uint32_t pos)
{
    return r->base + (uint64_t)(pos % r->depth) * r->esize;
}

/* Allocate a ring of depth entries of esize bytes in backed frames of
 * mem. Returns 0 or -ENOMEM. */
static inline int iring_init(iring_t *r, iommu_mem_t *mem, uint64_t depth,
                             unsigned esize, bool wrap)
{
    r->depth = (uint32_t)depth;
    r->esize = esize;
    r->head = r->tail = 0;
    r->wrap = wrap;
    uint64_t bytes = depth * esize;
    uint64_t frames = (bytes + IOMMU_PAGE_SIZE - 1) >> IOMMU_PAGE_SHIFT;
    r->base = iommu_mem_alloc_range(mem, frames, 1);
    if (!r->base)
        return -ENOMEM;
    for (uint64_t i = 0; i < frames; i++)
        if (iommu_mem_back(mem, r->base + (i << IOMMU_PAGE_SHIFT)))
            return -ENOMEM;
    return 0;
}

#endif /* IOMMU_RING_H */
