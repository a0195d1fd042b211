/*
 * vma.c - a sorted set of non-overlapping mappings (VMAs): the address
 * space description shared by host processes (mm.c) and guest processes
 * (virt.c, guest.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/ioasid_int.h"

size_t vma_set_index(const vma_set_t *s, uint64_t addr)
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

const vma_t *vma_set_find(const vma_set_t *s, uint64_t addr)
{
    size_t i = vma_set_index(s, addr);
    return i < s->n && s->v[i].start <= addr ? &s->v[i] : NULL;
}

static int insert_at(vma_set_t *s, size_t i, vma_t v)
{
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 8;
        vma_t *a = realloc(s->v, c * sizeof(*a));
        if (!a)
            return -ENOMEM;
        s->v = a;
        s->cap = c;
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(vma_t));
    s->v[i] = v;
    s->n++;
    return 0;
}

int vma_set_add(vma_set_t *s, vma_t v, const vma_t **overlap)
{
    size_t i = vma_set_index(s, v.start);
    if (i < s->n && s->v[i].start < v.end) {
        if (overlap)
            *overlap = &s->v[i];
        return -EEXIST;
    }
    return insert_at(s, i, v);
}

int vma_set_remove(vma_set_t *s, uint64_t start, uint64_t end)
{
    size_t i = vma_set_index(s, start);
    while (i < s->n && s->v[i].start < end) {
        vma_t v = s->v[i];
        memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(vma_t));
        s->n--;
        /* Keep the parts outside [start, end). */
        if (v.end > end && insert_at(s, i, (vma_t){end, v.end, v.perm}))
            return -ENOMEM;
        if (v.start < start) {
            if (insert_at(s, i, (vma_t){v.start, start, v.perm}))
                return -ENOMEM;
            i++;
        }
        if (v.end > end)
            break;
    }
    return 0;
}

void vma_set_fini(vma_set_t *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

bool vma_range_ok(unsigned levels, uint64_t va, uint64_t len)
{
    unsigned bits = iommu_pt_va_bits(levels);
    uint64_t limit = bits >= 64 ? UINT64_MAX : (1ull << bits);
    return len && !(va & (IOMMU_PAGE_SIZE - 1)) &&
           !(len & (IOMMU_PAGE_SIZE - 1)) && va < limit && len <= limit - va;
}

uint64_t vma_need_perm(unsigned flags)
{
    return ((flags & PCIE_F_R) ? IOMMU_PTE_R : 0) |
           ((flags & PCIE_F_W) ? IOMMU_PTE_W : 0) |
           ((flags & PCIE_F_X) ? IOMMU_PTE_X : 0);
}
