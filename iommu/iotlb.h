/*
 * iotlb.h - internal to iommu/: the set-associative IOTLB, tagged by
 * domain, PASID, page number and page size, with LRU replacement.
 */
#ifndef IOMMU_IOTLB_H
#define IOMMU_IOTLB_H

#include <stdint.h>

typedef struct iotlb_entry {
    uint64_t vfn;   /* input address >> shift */
    uint64_t tag;   /* domain << 32 | pasid << 8 | shift; 0 = invalid */
    uint64_t pfn;   /* output address >> shift */
    uint32_t lru;
    uint32_t perm;
} iotlb_entry_t;

typedef struct iotlb {
    iotlb_entry_t *e;
    unsigned sets, ways;
    uint32_t clock;
    uint32_t shifts; /* bit s: some entry of page shift s was inserted */
} iotlb_t;

int iotlb_init(iotlb_t *t, unsigned sets, unsigned ways);
void iotlb_fini(iotlb_t *t);
/* The entry translating va for (domain, pasid), or NULL. */
const iotlb_entry_t *iotlb_lookup(iotlb_t *t, uint16_t domain, uint32_t pasid,
                                  uint64_t va);
void iotlb_insert(iotlb_t *t, uint16_t domain, uint32_t pasid, uint64_t va,
                  uint64_t pa, unsigned shift, uint32_t perm);
/* Drop entries of (domain, pasid) overlapping [addr, addr+len); len 0 = all
 * of that domain and PASID. Returns the number dropped. */
unsigned iotlb_invalidate(iotlb_t *t, uint16_t domain, uint32_t pasid,
                          uint64_t addr, uint64_t len);

#endif
