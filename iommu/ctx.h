/*
 * iommu/ctx.h - context and PASID tables in simulated memory and their
 * caches (unit ctx.c).
 */
#ifndef IOMMU_CTX_H
#define IOMMU_CTX_H

#include "iommu/core.h"
#include "iommu/pt.h"

/* A PASID entry as the walker uses it (decoded from memory or cache). */
typedef struct iommu_pe {
    uint8_t mode;
    bool pri;
    uint16_t domain, s2_domain;
    uint8_t s1_levels, s2_levels;
    uint64_t s1_root, s2_root;
} iommu_pe_t;

/* A PASID cache entry decoded: the roots are 4 KiB aligned, so their low
 * bits carry levels, mode and PRE (ctx.c packs them). */
static inline void iommu_pe_unpack(const icache_ent_t *e, iommu_pe_t *pe)
{
    pe->s1_root = e->val & IOMMU_PTE_ADDR;
    pe->s1_levels = (uint8_t)(e->val & 0xf);
    pe->mode = (uint8_t)((e->val >> 4) & 7);
    pe->pri = (e->val >> 7) & 1;
    pe->s2_root = e->val2 & IOMMU_PTE_ADDR;
    pe->s2_levels = (uint8_t)(e->val2 & 0xf);
    pe->domain = (uint16_t)e->aux;
    pe->s2_domain = (uint16_t)(e->aux >> 16);
}

/* Allocate the root table. Returns 0 or -ENOMEM. */
int iommu_ctx_init(iommu_t *u);
/* Resolve (rid, pasid) through the caches or the tables: OK, or
 * BAD_CONTEXT / BAD_PASID; counts reads in x->ctx_reads. */
iommu_walk_outcome_t iommu_ctx_lookup(iommu_t *u, uint16_t rid, uint32_t pasid,
                                      iommu_xlate_t *x, iommu_pe_t *pe);
/* The same after the PASID cache missed (pasid already masked). */
iommu_walk_outcome_t iommu_ctx_fetch(iommu_t *u, uint16_t rid, uint32_t pasid,
                                     iommu_xlate_t *x, iommu_pe_t *pe);
/* As iommu_set_pasid, iommu_clear_pasid and iommu_get_pasid (iommu.h). */
int iommu_ctx_set(iommu_t *u, uint16_t rid, uint32_t pasid,
                  const iommu_pasid_entry_t *entry);
void iommu_ctx_clear(iommu_t *u, uint16_t rid, uint32_t pasid);
bool iommu_ctx_get(const iommu_t *u, uint16_t rid, uint32_t pasid,
                   iommu_pasid_entry_t *out);
/* As iommu_invalidate_context_cache / iommu_invalidate_pasid_cache. */
void iommu_ctx_inval_context(iommu_t *u, const iommu_inv_t *inv);
void iommu_ctx_inval_pasid(iommu_t *u, const iommu_inv_t *inv);

#endif /* IOMMU_CTX_H */
