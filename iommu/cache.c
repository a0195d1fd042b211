/*
 * cache.c - the set-associative LRU cache behind the IOTLB, the
 * paging-structure caches, the stage-2 TLB and the context and PASID
 * caches. Each user chooses what key, tag and values mean; an entry is
 * valid when its tag is non-zero. LRU order comes from a 32-bit clock
 * stamped on each use; when the clock wraps, every stamp is reset (the
 * order is lost once per 2^32 uses, an approximation of no consequence).
 */
#include <errno.h>
#include <stdlib.h>

#include "iommu/cache.h"

int iommu_cache_init(icache_t *c, uint64_t entries, uint64_t ways)
{
    c->e = NULL;
    c->sets = c->ways = 0;
    c->mask = 0;
    c->clock = 0;
    c->used = false;
    if (!entries)
        return 0;
    if (!ways)
        ways = 1;
    if (ways > entries)
        ways = entries;
    c->ways = (uint32_t)ways;
    c->sets = (uint32_t)(entries / ways);
    c->mask = (c->sets & (c->sets - 1)) ? 0 : c->sets - 1;
    c->e = calloc((size_t)c->sets * c->ways, sizeof(*c->e));
    return c->e ? 0 : -ENOMEM;
}

void iommu_cache_fini(icache_t *c)
{
    free(c->e);
    c->e = NULL;
}

void iommu_cache_age(icache_t *c)
{
    size_t n = (size_t)c->sets * c->ways;
    for (size_t i = 0; i < n; i++)
        c->e[i].lru = 0;
    c->clock = 1;
}

icache_ent_t *iommu_cache_fill(icache_t *c, uint64_t key, uint64_t tag)
{
    icache_ent_t *set = icache_set(c, key, tag);
    icache_ent_t *victim = NULL;
    for (uint32_t w = 0; w < c->ways && !victim; w++)
        if (set[w].tag == tag && set[w].key == key)
            victim = &set[w];
    for (uint32_t w = 0; w < c->ways && !victim; w++)
        if (set[w].tag == 0)
            victim = &set[w];
    if (!victim) {
        victim = &set[0];
        for (uint32_t w = 1; w < c->ways; w++)
            if (set[w].lru < victim->lru)
                victim = &set[w];
    }
    if (++c->clock == 0)
        iommu_cache_age(c);
    c->used = true;
    victim->key = key;
    victim->tag = tag;
    victim->lru = c->clock;
    return victim;
}

unsigned iommu_cache_inval_key(icache_t *c, uint64_t key, uint64_t tag)
{
    icache_ent_t *set = icache_set(c, key, tag);
    for (uint32_t w = 0; w < c->ways; w++) {
        if (set[w].tag == tag && set[w].key == key) {
            set[w].tag = 0;
            return 1;
        }
    }
    return 0;
}

unsigned iommu_cache_inval(icache_t *c,
                           bool (*match)(const icache_ent_t *e,
                                         const void *arg),
                           const void *arg)
{
    unsigned n = 0;
    if (!c->used)
        return 0;
    size_t total = (size_t)c->sets * c->ways;
    for (size_t i = 0; i < total; i++) {
        icache_ent_t *e = &c->e[i];
        if (e->tag && match(e, arg)) {
            e->tag = 0;
            n++;
        }
    }
    return n;
}
