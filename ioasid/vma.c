/*
 * vma.c - a sorted set of non-overlapping mappings (VMAs): the address
 * space description shared by host processes (mm.c) and guest processes
 * (guest.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/vma.h"
#include "iommu/iommu.h"
#include "sim/sim.h"

size_t ioasid_vma_set_index(const ioasid_vma_set_t *s, uint64_t addr)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const ioasid_vma_t *ioasid_vma_set_find(const ioasid_vma_set_t *s,
                                        uint64_t addr)
{
    size_t i = ioasid_vma_set_index(s, addr);
    return i < s->n && s->v[i].start <= addr ? &s->v[i] : NULL;
}

static int insert_at(ioasid_vma_set_t *s, size_t i, ioasid_vma_t v)
{
    if (SIM_GROW(s->v, s->cap, s->n + 1, 8))
        return -ENOMEM;
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(ioasid_vma_t));
    s->v[i] = v;
    s->n++;
    return 0;
}

int ioasid_vma_set_add(ioasid_vma_set_t *s, ioasid_vma_t v,
                       const ioasid_vma_t **overlap)
{
    size_t i = ioasid_vma_set_index(s, v.start);
    if (i < s->n && s->v[i].start < v.end) {
        if (overlap)
            *overlap = &s->v[i];
        return -EEXIST;
    }
    return insert_at(s, i, v);
}

int ioasid_vma_set_remove(ioasid_vma_set_t *s, uint64_t start, uint64_t end)
{
    size_t i = ioasid_vma_set_index(s, start);
    while (i < s->n && s->v[i].start < end) {
        ioasid_vma_t v = s->v[i];
        memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(ioasid_vma_t));
        s->n--;
        /* Keep the parts outside [start, end). */
        if (v.end > end &&
            insert_at(s, i, (ioasid_vma_t){end, v.end, v.perm, v.shift}))
            return -ENOMEM;
        if (v.start < start) {
            if (insert_at(s, i,
                          (ioasid_vma_t){v.start, start, v.perm, v.shift}))
                return -ENOMEM;
            i++;
        }
        if (v.end > end)
            break;
    }
    return 0;
}

void ioasid_vma_set_fini(ioasid_vma_set_t *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

bool ioasid_vma_set_cut_ok(const ioasid_vma_set_t *s, uint64_t start,
                           uint64_t end)
{
    const ioasid_vma_t *a = ioasid_vma_set_find(s, start);
    const ioasid_vma_t *b = ioasid_vma_set_find(s, end - 1);
    if (a && (start & ((1ull << ioasid_vma_shift(a)) - 1)))
        return false;
    return !b || !(end & ((1ull << ioasid_vma_shift(b)) - 1));
}

bool ioasid_vma_range_ok(unsigned levels, uint64_t va, uint64_t len)
{
    unsigned bits = iommu_pt_va_bits(levels);
    uint64_t limit = bits >= 64 ? UINT64_MAX : (1ull << bits);
    return len && !(va & (IOMMU_PAGE_SIZE - 1)) &&
           !(len & (IOMMU_PAGE_SIZE - 1)) && va < limit && len <= limit - va;
}

uint64_t ioasid_vma_need_perm(unsigned flags)
{
    return ((flags & PCIE_F_R) ? IOMMU_PTE_R : 0) |
           ((flags & PCIE_F_W) ? IOMMU_PTE_W : 0) |
           ((flags & PCIE_F_X) ? IOMMU_PTE_X : 0);
}
