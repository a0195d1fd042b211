/*
 * iommu/cache.h - the set-associative LRU cache (unit cache.c) behind the
 * IOTLB, the paging-structure caches, the stage-2 TLB and the context and
 * PASID caches. Lookups are inline: they are on the translation hot path.
 */
#ifndef IOMMU_CACHE_H
#define IOMMU_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"

/* One entry of a set-associative LRU cache. tag 0 = invalid. */
typedef struct icache_ent {
    uint64_t key;
    uint64_t tag;
    uint64_t val;
    uint64_t val2;
    uint32_t lru;
    uint32_t aux;
} icache_ent_t;

typedef struct icache {
    icache_ent_t *e; /* NULL: the cache is disabled */
    uint32_t sets, ways;
    uint32_t mask; /* sets - 1 when sets is a power of two, else 0 */
    uint32_t clock;
    bool used; /* an entry was ever filled (else nothing to scan) */
    sim_counter_t *hits, *misses;
} icache_t;

/* Set up c with entries / ways sets of `ways` (ways is reduced to entries when
 * larger); entries 0 disables. Returns 0 or -ENOMEM. */
int iommu_cache_init(icache_t *c, uint64_t entries, uint64_t ways);
/* Free c's entries. */
void iommu_cache_fini(icache_t *c);
/* Reset every LRU stamp (the clock wrapped). */
void iommu_cache_age(icache_t *c);
/* Invalidate the entries for which match(entry, arg) is true; returns how
 * many. */
unsigned iommu_cache_inval(icache_t *c,
                           bool (*match)(const icache_ent_t *e,
                                         const void *arg),
                           const void *arg);
/* The entry to fill for (key, tag): the matching one, an invalid one or
 * the least recently used; key, tag and lru are set. c must be enabled. */
icache_ent_t *iommu_cache_fill(icache_t *c, uint64_t key, uint64_t tag);
/* Invalidate the entry of (key, tag) if present; returns 1 or 0. */
unsigned iommu_cache_inval_key(icache_t *c, uint64_t key, uint64_t tag);

/* The set of (key, tag). */
static inline icache_ent_t *icache_set(const icache_t *c, uint64_t key,
                                       uint64_t tag)
{
    uint64_t h = (key ^ (tag * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull;
    uint32_t i = (uint32_t)(h >> 32);
    i = c->mask ? (i & c->mask) : (c->sets > 1 ? i % c->sets : 0);
    return &c->e[(size_t)i * c->ways];
}

/* The valid entry of (key, tag), made most recently used, or NULL. */
static inline icache_ent_t *icache_find(icache_t *c, uint64_t key, uint64_t tag)
{
    if (!c->e)
        return NULL;
    icache_ent_t *set = icache_set(c, key, tag);
    for (uint32_t w = 0; w < c->ways; w++) {
        if (set[w].tag == tag && set[w].key == key) {
            if (++c->clock == 0)
                iommu_cache_age(c);
            set[w].lru = c->clock;
            return &set[w];
        }
    }
    return NULL;
}

#endif /* IOMMU_CACHE_H */
