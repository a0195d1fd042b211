/*
 * iotlb.c - set-associative IOTLB with LRU replacement. Entries of every
 * page size share the array; a lookup probes only the sizes ever inserted.
 */
#include <errno.h>
#include <stdlib.h>

#include "iommu/iotlb.h"

int iotlb_init(iotlb_t *t, unsigned sets, unsigned ways)
{
    t->sets = sets ? sets : 1;
    t->ways = ways ? ways : 1;
    t->clock = 0;
    t->shifts = 0;
    t->e = calloc((size_t)t->sets * t->ways, sizeof(*t->e));
    return t->e ? 0 : -ENOMEM;
}

void iotlb_fini(iotlb_t *t)
{
    free(t->e);
    t->e = NULL;
}

static uint64_t make_tag(uint16_t domain, uint32_t pasid, unsigned shift)
{
    return ((uint64_t)domain << 32) | ((uint64_t)pasid << 8) | shift;
}

static iotlb_entry_t *set_of(iotlb_t *t, uint64_t vfn, uint64_t tag)
{
    uint64_t h = (vfn ^ (tag * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull;
    return &t->e[(size_t)((h >> 32) % t->sets) * t->ways];
}

const iotlb_entry_t *iotlb_lookup(iotlb_t *t, uint16_t domain, uint32_t pasid,
                                  uint64_t va)
{
    for (uint32_t m = t->shifts; m; m &= m - 1) {
        unsigned shift = (unsigned)__builtin_ctz(m);
        uint64_t vfn = va >> shift;
        uint64_t tag = make_tag(domain, pasid, shift);
        iotlb_entry_t *set = set_of(t, vfn, tag);
        for (unsigned w = 0; w < t->ways; w++) {
            if (set[w].tag == tag && set[w].vfn == vfn) {
                set[w].lru = ++t->clock;
                return &set[w];
            }
        }
    }
    return NULL;
}

void iotlb_insert(iotlb_t *t, uint16_t domain, uint32_t pasid, uint64_t va,
                  uint64_t pa, unsigned shift, uint32_t perm)
{
    uint64_t vfn = va >> shift;
    uint64_t tag = make_tag(domain, pasid, shift);
    iotlb_entry_t *set = set_of(t, vfn, tag);
    iotlb_entry_t *victim = &set[0];
    for (unsigned w = 0; w < t->ways; w++) {
        if ((set[w].tag == tag && set[w].vfn == vfn) || set[w].tag == 0) {
            victim = &set[w];
            break;
        }
        if (set[w].lru < victim->lru)
            victim = &set[w];
    }
    victim->vfn = vfn;
    victim->tag = tag;
    victim->pfn = pa >> shift;
    victim->perm = perm;
    victim->lru = ++t->clock;
    t->shifts |= 1u << shift;
}

unsigned iotlb_invalidate(iotlb_t *t, uint16_t domain, uint32_t pasid,
                          uint64_t addr, uint64_t len)
{
    unsigned n = 0;
    uint64_t last = len ? addr + len - 1 : 0;
    size_t total = (size_t)t->sets * t->ways;
    for (size_t i = 0; i < total; i++) {
        iotlb_entry_t *e = &t->e[i];
        if (!e->tag || (e->tag >> 8) != (((uint64_t)domain << 24) | pasid))
            continue;
        unsigned shift = (unsigned)(e->tag & 0xff);
        uint64_t lo = e->vfn << shift, hi = lo + (1ull << shift) - 1;
        if (len == 0 || (hi >= addr && lo <= last)) {
            e->tag = 0;
            n++;
        }
    }
    return n;
}
