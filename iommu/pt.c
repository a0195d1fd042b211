/*
 * pt.c - radix page tables in simulated memory: 512 8-byte entries per
 * 4 KiB table, 4 or 5 levels, leaves at 4 KiB (level 1), 2 MiB (level 2)
 * or 1 GiB (level 3), as in the x86 / VT-d first-stage format.
 */
#include <errno.h>

#include "iommu/iommu.h"

/* Table non-leaf entries grant everything; permission is on the leaf path. */
#define TABLE_BITS (IOMMU_PTE_P | IOMMU_PTE_PERM)

static unsigned level_shift(unsigned level)
{
    return IOMMU_PAGE_SHIFT + 9 * (level - 1);
}

static uint64_t pte_addr(uint64_t table, uint64_t va, unsigned level)
{
    return table + ((va >> level_shift(level)) & 511) * 8;
}

int iommu_pt_init(iommu_pt_t *pt, iommu_mem_t *mem, unsigned levels)
{
    if (levels < 2 || levels > 5)
        return -EINVAL;
    pt->mem = mem;
    pt->levels = levels;
    pt->root = iommu_mem_alloc(mem, true);
    return pt->root ? 0 : -ENOMEM;
}

static bool va_fits(const iommu_pt_t *pt, uint64_t va)
{
    unsigned bits = iommu_pt_va_bits(pt->levels);
    return bits >= 64 || (va >> bits) == 0;
}

int iommu_pt_map(iommu_pt_t *pt, uint64_t va, uint64_t pa, unsigned shift,
                 uint64_t perm)
{
    unsigned leaf_level;
    switch (shift) {
    case 12: leaf_level = 1; break;
    case 21: leaf_level = 2; break;
    case 30: leaf_level = 3; break;
    default: return -EINVAL;
    }
    uint64_t size = 1ull << shift;
    if ((va & (size - 1)) || (pa & (size - 1)) || !va_fits(pt, va) ||
        leaf_level >= pt->levels)
        return -EINVAL;
    uint64_t table = pt->root;
    for (unsigned level = pt->levels; level > leaf_level; level--) {
        uint64_t a = pte_addr(table, va, level);
        uint64_t pte = iommu_mem_read64(pt->mem, a);
        if (!(pte & IOMMU_PTE_P)) {
            uint64_t t = iommu_mem_alloc(pt->mem, true);
            if (!t)
                return -ENOMEM;
            pte = t | TABLE_BITS;
            iommu_mem_write64(pt->mem, a, pte);
        } else if (pte & IOMMU_PTE_PS) {
            return -EEXIST;
        }
        table = pte & IOMMU_PTE_ADDR;
    }
    uint64_t a = pte_addr(table, va, leaf_level);
    uint64_t old = iommu_mem_read64(pt->mem, a);
    if ((old & IOMMU_PTE_P) && leaf_level > 1 && !(old & IOMMU_PTE_PS))
        return -EEXIST; /* a table of smaller pages is in the way */
    uint64_t pte = (pa & IOMMU_PTE_ADDR) | IOMMU_PTE_P | (perm & IOMMU_PTE_PERM);
    if (leaf_level > 1)
        pte |= IOMMU_PTE_PS;
    iommu_mem_write64(pt->mem, a, pte);
    return 0;
}

/* Clear leaves of [start, end] (inclusive) below `table` at `level`. */
static int clear_range(iommu_pt_t *pt, uint64_t table, unsigned level,
                       uint64_t base, uint64_t start, uint64_t end,
                       iommu_pt_leaf_fn fn, void *opaque)
{
    unsigned sh = level_shift(level);
    uint64_t span = 1ull << sh;
    int rc = 0;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t lo = base + (uint64_t)i * span;
        uint64_t hi = lo + span - 1;
        if (hi < start)
            continue;
        if (lo > end)
            break;
        uint64_t a = table + (uint64_t)i * 8;
        uint64_t pte = iommu_mem_read64(pt->mem, a);
        if (!(pte & IOMMU_PTE_P))
            continue;
        if (level == 1 || (pte & IOMMU_PTE_PS)) {
            if (lo < start || hi > end) {
                rc = -EINVAL; /* partial huge page */
                continue;
            }
            iommu_mem_write64(pt->mem, a, 0);
            if (fn)
                fn(opaque, lo, pte & IOMMU_PTE_ADDR, sh);
            continue;
        }
        int r = clear_range(pt, pte & IOMMU_PTE_ADDR, level - 1, lo, start,
                            end, fn, opaque);
        if (r)
            rc = r;
    }
    return rc;
}

int iommu_pt_unmap(iommu_pt_t *pt, uint64_t va, uint64_t len,
                   iommu_pt_leaf_fn fn, void *opaque)
{
    if (len == 0)
        return 0;
    if (!va_fits(pt, va) || !va_fits(pt, va + len - 1) || va + len - 1 < va)
        return -EINVAL;
    return clear_range(pt, pt->root, pt->levels, 0, va, va + len - 1, fn,
                       opaque);
}

void iommu_pt_walk(const iommu_pt_t *pt, uint64_t va, iommu_walk_t *out)
{
    out->reads = 0;
    out->perm = IOMMU_PTE_PERM;
    out->pa = 0;
    out->shift = IOMMU_PAGE_SHIFT;
    if (!va_fits(pt, va)) {
        out->outcome = IOMMU_WALK_S1_NOT_PRESENT;
        return;
    }
    uint64_t table = pt->root;
    for (unsigned level = pt->levels; level >= 1; level--) {
        uint64_t pte = iommu_mem_read64(pt->mem, pte_addr(table, va, level));
        out->reads++;
        if (!(pte & IOMMU_PTE_P)) {
            out->outcome = IOMMU_WALK_S1_NOT_PRESENT;
            return;
        }
        out->perm &= pte & IOMMU_PTE_PERM;
        if (level == 1 || (pte & IOMMU_PTE_PS)) {
            unsigned sh = level_shift(level);
            out->shift = sh;
            out->pa = (pte & IOMMU_PTE_ADDR & ~((1ull << sh) - 1)) |
                      (va & ((1ull << sh) - 1));
            out->outcome = IOMMU_WALK_OK;
            return;
        }
        table = pte & IOMMU_PTE_ADDR;
    }
    out->outcome = IOMMU_WALK_S1_NOT_PRESENT;
}
