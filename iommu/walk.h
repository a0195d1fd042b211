/*
 * iommu/walk.h - translation (unit walk.c): the IOTLB, paging-structure
 * caches and stage-2 TLB, single-stage and nested walks, permission
 * checks, A/D updates, and invalidation of these caches.
 */
#ifndef IOMMU_WALK_H
#define IOMMU_WALK_H

#include "iommu/core.h"

/* Access flag of iommu_walk_translate: report permissions without
 * faulting (an ATS translation request). */
#define IOMMU_XL_NOCHECK 0x100u

/* Translate as iommu_translate (iommu.h); with fill false the IOTLB is
 * not filled (iommu_walk_fill does it later). */
void iommu_walk_translate(iommu_t *u, uint16_t rid, uint32_t pasid, uint64_t va,
                          unsigned access, iommu_xlate_t *x, bool fill);
/* Fill the IOTLB with a translation made with fill false. */
void iommu_walk_fill(iommu_t *u, uint32_t pasid, uint64_t va,
                     const iommu_xlate_t *x);
/* As iommu_invalidate_iotlb (iommu.h). */
void iommu_walk_inval(iommu_t *u, const iommu_inv_t *inv);

#endif /* IOMMU_WALK_H */
