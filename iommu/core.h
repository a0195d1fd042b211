/*
 * iommu/core.h - the IOMMU's state: one struct holding the translation
 * structures and caches that ctx.c, walk.c and iommu.c work on, and the
 * context of each queue unit (prq.c, fault.c, invq.c, stall.c), as gem5's
 * SMMUv3 device object holds its caches and queues. Types only: it
 * declares no function, and the queue units never include it.
 */
#ifndef IOMMU_CORE_H
#define IOMMU_CORE_H

#include "iommu/cache.h"
#include "iommu/invq.h"
#include "iommu/prq.h"
#include "iommu/stall.h"

/* A translation in progress (iommu.c). */
typedef struct xlate xlate_t;

/* A guest's PPR log written by the hardware vIOMMU (iommu.c). */
typedef struct iommu_vlog iommu_vlog_t;

/* In-flight walks, for merging concurrent misses to one page. */
typedef struct inflight_slot {
    uint64_t k1, k2; /* (rid << 20 | pasid) + 1, page number; k1 0 = empty */
    xlate_t *x;
} inflight_slot_t;

struct iommu {
    sim_t *sim;
    iommu_cfg_t cfg;
    iommu_mem_t *mem;

    /* translation structures */
    uint64_t root_table;
    icache_t iotlb, ctxc, pasidc, s2tlb;
    icache_t psc[2][IOMMU_PSC_LEVELS];
    uint32_t iotlb_shifts, s2tlb_shifts; /* bit s: entries of shift s */
    uint64_t inv_epoch;                  /* bumped by every invalidation */

    /* timed path */
    sim_server_t *walker;
    sim_rng_t walker_rng;
    sim_pool_t xlates, msgs;
    inflight_slot_t *inflight;
    size_t ninflight_slots, ninflight;
    unsigned stage_retry; /* span stage of a resumed DMA's completion */

    iommu_port_t down;
    iommu_prq_t prq;
    uint64_t prq_accepted, prq_written; /* page requests on their way to
                                           the PRQ (a drain wait's mark) */
    iommu_fq_t fq;
    iommu_invq_t invq;
    iommu_stall_t stall;
    iommu_vlog_t *vlogs; /* guest PPR logs (hardware vIOMMU), newest first */
    unsigned stage_page_req;

    struct {
        sim_counter_t *ats_reqs, *ats_ur, *iotlb_inval, *psc_inval, *ctx_inval,
            *pasid_inval;
        sim_counter_t *psc_hits[2][IOMMU_PSC_LEVELS],
            *psc_misses[2][IOMMU_PSC_LEVELS];
        sim_counter_t *ctx_reads, *walk_outcome[IOMMU_WALK_OUTCOMES], *merged,
            *rewalks, *ad_writes;
        sim_hist_t *walk_reads;
        sim_counter_t *mem_reads, *mem_writes, *mem_bytes;
        sim_counter_t *dma_untranslated, *dma_faults, *dma_aborted;
    } s;
};

#endif /* IOMMU_CORE_H */
