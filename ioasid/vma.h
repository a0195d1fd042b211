/*
 * ioasid/vma.h - a sorted set of non-overlapping mappings (VMAs): the
 * address-space description of host processes (mm.c) and guest processes
 * (guest.c). Functional: takes no simulated time.
 */
#ifndef IOASID_VMA_H
#define IOASID_VMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ioasid_vma {
    uint64_t start, end; /* [start, end) */
    uint64_t perm;       /* IOMMU_PTE_R|W|X */
    unsigned shift;      /* page size: 12, 21 or 30 (0: 4 KiB) */
} ioasid_vma_t;

typedef struct ioasid_vma_set {
    ioasid_vma_t *v;
    size_t n, cap;
} ioasid_vma_set_t;

/* Index of the first mapping ending above addr. */
size_t ioasid_vma_set_index(const ioasid_vma_set_t *s, uint64_t addr);
/* The mapping containing addr, or NULL. */
const ioasid_vma_t *ioasid_vma_set_find(const ioasid_vma_set_t *s,
                                        uint64_t addr);
/* Add v; -EEXIST (with *overlap, if non-NULL, the first mapping in the
 * way) or -ENOMEM. */
int ioasid_vma_set_add(ioasid_vma_set_t *s, ioasid_vma_t v,
                       const ioasid_vma_t **overlap);
/* Remove [start, end), cutting mappings that straddle it. 0 or -ENOMEM. */
int ioasid_vma_set_remove(ioasid_vma_set_t *s, uint64_t start, uint64_t end);
/* Whether removing [start, end) splits no page of a mapping it cuts (a
 * huge page is removed whole or not at all). */
bool ioasid_vma_set_cut_ok(const ioasid_vma_set_t *s, uint64_t start,
                           uint64_t end);
/* Page size (log2 of bytes: 12, 21 or 30) of a mapping. */
static inline unsigned ioasid_vma_shift(const ioasid_vma_t *v)
{
    return v->shift ? v->shift : 12;
}
/* Free the set's storage (it is empty and reusable afterwards). */
void ioasid_vma_set_fini(ioasid_vma_set_t *s);
/* A page-aligned, non-empty range inside a table of `levels` levels. */
bool ioasid_vma_range_ok(unsigned levels, uint64_t va, uint64_t len);
/* IOMMU_PTE_R|W|X an access of PCIE_F_R/W/X flags needs. */
uint64_t ioasid_vma_need_perm(unsigned flags);

#endif /* IOASID_VMA_H */
