/*
 * iommu/iommu.h - the IOMMU: simulated physical memory, radix page tables,
 * PASID entries, the walker, the IOTLB, the page request queue (PRQ) and
 * the invalidation interface used by the host driver.
 *
 * Semantics: shared/reference/fault-path-semantics.md sections 1d and 2
 * (Intel VT-d PRQ, as the default architecture). Default latencies:
 * shared/reference/latency-calibration.md section 3.1.
 */
#ifndef IOMMU_IOMMU_H
#define IOMMU_IOMMU_H

#include <stdbool.h>
#include <stdint.h>

#include "pcie/pcie.h"
#include "sim/sim.h"

#define IOMMU_PAGE_SHIFT 12
#define IOMMU_PAGE_SIZE (1ull << IOMMU_PAGE_SHIFT)

/* ------------------------------------------------ simulated memory */

/*
 * Sparse physical memory of 4 KiB frames. Frames holding tables are
 * "backed" (have storage); data frames handed to address spaces need only
 * their frame number, so they cost no host memory.
 */
typedef struct iommu_mem iommu_mem_t;

iommu_mem_t *iommu_mem_create(void);
void iommu_mem_destroy(iommu_mem_t *mem);
/* A new zeroed frame; returns its physical address, or 0 when out of
 * memory (frame 0 is never handed out). */
uint64_t iommu_mem_alloc(iommu_mem_t *mem, bool backed);
/* Return a frame (backed or not) for reuse. */
void iommu_mem_free(iommu_mem_t *mem, uint64_t pa);
/* 64-bit access to backed frames (reads of unbacked memory return 0). */
uint64_t iommu_mem_read64(const iommu_mem_t *mem, uint64_t pa);
void iommu_mem_write64(iommu_mem_t *mem, uint64_t pa, uint64_t value);
/* Frames allocated (backed, and in all) and now in use. */
uint64_t iommu_mem_backed_frames(const iommu_mem_t *mem);
uint64_t iommu_mem_frames(const iommu_mem_t *mem);

/* ------------------------------------------------------ page tables */

/*
 * Page-table entry format of the simulator, modelled on the x86 / VT-d
 * layout with explicit R and X bits so that one format serves stage 1 and
 * stage 2: 512 entries of 8 bytes per 4 KiB table.
 */
#define IOMMU_PTE_P (1ull << 0)  /* present */
#define IOMMU_PTE_R (1ull << 1)  /* read */
#define IOMMU_PTE_W (1ull << 2)  /* write */
#define IOMMU_PTE_X (1ull << 3)  /* execute */
#define IOMMU_PTE_U (1ull << 4)  /* user */
#define IOMMU_PTE_A (1ull << 5)  /* accessed */
#define IOMMU_PTE_D (1ull << 6)  /* dirty */
#define IOMMU_PTE_PS (1ull << 7) /* leaf above the last level (2M, 1G) */
#define IOMMU_PTE_ADDR 0x000ffffffffff000ull
#define IOMMU_PTE_PERM (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X | IOMMU_PTE_U)

typedef struct iommu_pt {
    iommu_mem_t *mem;
    uint64_t root; /* physical address of the top table */
    unsigned levels; /* 4 (48-bit) or 5 (57-bit) */
} iommu_pt_t;

/* Create an empty table. Returns 0, -EINVAL (levels) or -ENOMEM. */
int iommu_pt_init(iommu_pt_t *pt, iommu_mem_t *mem, unsigned levels);

/* Input address bits covered by a table of `levels` levels. */
static inline unsigned iommu_pt_va_bits(unsigned levels)
{
    return IOMMU_PAGE_SHIFT + 9 * levels;
}

/* Map one page of size 1 << shift (12, 21 or 30) with perm (IOMMU_PTE_R|W|
 * X|U). Returns 0, -EINVAL (alignment, size, address width), -EEXIST (a
 * leaf of another size is in the way) or -ENOMEM. Replaces an existing leaf
 * of the same size. */
int iommu_pt_map(iommu_pt_t *pt, uint64_t va, uint64_t pa, unsigned shift,
                 uint64_t perm);

/* Called for each leaf removed by iommu_pt_unmap. */
typedef void (*iommu_pt_leaf_fn)(void *opaque, uint64_t va, uint64_t pa,
                                 unsigned shift);

/* Remove every leaf inside [va, va+len). A huge leaf only partly inside the
 * range is an error (-EINVAL, nothing changed for it). */
int iommu_pt_unmap(iommu_pt_t *pt, uint64_t va, uint64_t len,
                   iommu_pt_leaf_fn fn, void *opaque);

/* Outcome of a walk. */
typedef enum {
    IOMMU_WALK_OK = 0,
    IOMMU_WALK_S1_NOT_PRESENT,
    IOMMU_WALK_S1_PERM,
    IOMMU_WALK_S2_NOT_PRESENT,
    IOMMU_WALK_S2_PERM,
    IOMMU_WALK_BAD_CONTEXT,
    IOMMU_WALK_OUTCOMES
} iommu_walk_outcome_t;

typedef struct iommu_walk {
    iommu_walk_outcome_t outcome;
    uint64_t pa;    /* translated address of the input address */
    uint64_t perm;  /* effective IOMMU_PTE_R|W|X|U of the leaf path */
    unsigned shift; /* page size of the leaf */
    unsigned reads; /* table reads done */
} iommu_walk_t;

/* Functional walk of one table (no timing): fills out; the outcome is OK or
 * S1_NOT_PRESENT (no permission check here). */
void iommu_pt_walk(const iommu_pt_t *pt, uint64_t va, iommu_walk_t *out);

/* -------------------------------------------------------------- IOMMU */

typedef enum { IOMMU_ARCH_VTD = 0, IOMMU_ARCH_SMMUV3 = 1 } iommu_arch_t;

typedef enum {
    IOMMU_MODE_BYPASS = 0,
    IOMMU_MODE_S1,     /* host stage 1 (native SVA) */
    IOMMU_MODE_S2,     /* host stage 2 only */
    IOMMU_MODE_NESTED, /* guest stage 1 on host stage 2 */
} iommu_mode_t;

typedef struct iommu_cfg {
    unsigned arch;         /* iommu_arch_t */
    uint64_t levels;       /* page-table levels for new tables */
    uint64_t iotlb_sets;
    uint64_t iotlb_ways;
    uint64_t walkers;      /* parallel page-table walks */
    uint64_t prq_depth;    /* PRQ entries (one slot stays unused) */
    sim_time_t ctx_hit;    /* context / PASID cache hit */
    sim_time_t iotlb_hit;  /* IOTLB lookup */
    sim_time_t walk_read;  /* one table read by the walker */
    sim_time_t prq_write;  /* PRQ descriptor write (posted) */
    sim_time_t mem_access; /* data access of a translated DMA */
} iommu_cfg_t;

extern const sim_param_t iommu_params[];
extern const unsigned iommu_nparams;

typedef struct iommu iommu_t;

/* Sends a message down to the device with requester id `rid`. */
typedef void (*iommu_send_fn)(void *opaque, uint16_t rid, const pcie_msg_t *m);
/* The PRQ raised its interrupt (an MSI to the host). */
typedef void (*iommu_irq_fn)(void *opaque);

iommu_t *iommu_create(sim_t *sim, sim_stats_t *st, const iommu_cfg_t *cfg,
                      uint64_t seed);
void iommu_destroy(iommu_t *iommu);

void iommu_set_downstream(iommu_t *iommu, iommu_send_fn fn, void *opaque);
void iommu_set_prq_irq(iommu_t *iommu, iommu_irq_fn fn, void *opaque);

/* Messages arriving from devices (a pcie_rx_fn; opaque is the iommu). */
void iommu_rx(void *opaque, const pcie_msg_t *msg);

iommu_mem_t *iommu_memory(iommu_t *iommu);
const iommu_cfg_t *iommu_config(const iommu_t *iommu);

/* What (RID, PASID) translates with. */
typedef struct iommu_pasid_entry {
    iommu_mode_t mode;
    uint16_t domain;  /* domain id, IOTLB tag */
    iommu_pt_t s1;    /* stage-1 table (s1, nested) */
    iommu_pt_t s2;    /* stage-2 table (s2, nested) */
    bool pri;         /* page requests enabled (PRE) */
} iommu_pasid_entry_t;

/* Install or replace the entry of (rid, pasid). Returns 0 or -ENOMEM. */
int iommu_set_pasid(iommu_t *iommu, uint16_t rid, uint32_t pasid,
                    const iommu_pasid_entry_t *entry);
/* Remove it; later requests with it get UR. */
void iommu_clear_pasid(iommu_t *iommu, uint16_t rid, uint32_t pasid);
/* The entry, or NULL. */
const iommu_pasid_entry_t *iommu_get_pasid(const iommu_t *iommu, uint16_t rid,
                                           uint32_t pasid);

/* --------------------------------------------------------------- PRQ */

/* One page request descriptor (VT-d 7.4.1.1 fields; 32 bytes in VT-d). */
typedef struct iommu_prq_desc {
    uint64_t addr;  /* page address */
    uint32_t pasid;
    uint16_t rid;
    uint16_t prgi;
    uint8_t flags;  /* PCIE_F_R/W/X/PRIV/LAST/PASID */
    sim_span_t *span;
} iommu_prq_desc_t;

/* PRQ status bits (VT-d PRS register, RW1C). */
#define IOMMU_PRS_PPR 0x1u /* pending page request */
#define IOMMU_PRS_PRO 0x2u /* page request overflow */

uint32_t iommu_prq_head(const iommu_t *iommu);
uint32_t iommu_prq_tail(const iommu_t *iommu);
uint32_t iommu_prq_depth(const iommu_t *iommu);
const iommu_prq_desc_t *iommu_prq_entry(const iommu_t *iommu, uint32_t idx);
/* Software consumed entries up to (not including) head. */
void iommu_prq_set_head(iommu_t *iommu, uint32_t head);
unsigned iommu_prq_status(const iommu_t *iommu);
/* Write-1-to-clear status bits. */
void iommu_prq_clear_status(iommu_t *iommu, unsigned bits);

/* A page group response, as the host submits it (VT-d page group response
 * descriptor, fault-path-semantics 2a item 8). */
typedef struct iommu_page_resp {
    uint16_t rid;
    uint32_t pasid;
    uint16_t prgi;
    uint8_t code; /* PCIE_PRG_* */
    bool pasid_present;
    sim_span_t *span;
} iommu_page_resp_t;

/* Send the PRG response to the device now. */
void iommu_page_response(iommu_t *iommu, const iommu_page_resp_t *resp);

/* ------------------------------------------------------ invalidation */

/* Drop IOTLB entries of (domain, pasid) overlapping [addr, addr+len);
 * len 0 means every entry of that domain and PASID. Functional; the cost
 * is the invalidation descriptor's, accounted by the submitter. */
void iommu_iotlb_invalidate(iommu_t *iommu, uint16_t domain, uint32_t pasid,
                            uint64_t addr, uint64_t len);

typedef void (*iommu_done_fn)(void *opaque);

/* Send an ATS Invalidate Request for (rid, pasid, range) to the device and
 * call done when its Invalidate Completion arrives. Returns 0 or -ENOMEM. */
int iommu_devtlb_invalidate(iommu_t *iommu, uint16_t rid, uint32_t pasid,
                            uint64_t addr, uint64_t len, iommu_done_fn done,
                            void *opaque);

/* Counters for conservation checks: page requests received, written to the
 * PRQ, auto-responded by hardware, dropped without a response, stop
 * markers; PRG responses sent for host responses. */
typedef struct iommu_prq_totals {
    uint64_t received, written, auto_responded, dropped, stop_markers;
    uint64_t host_responses;
} iommu_prq_totals_t;
void iommu_prq_totals(const iommu_t *iommu, iommu_prq_totals_t *out);

#endif /* IOMMU_IOMMU_H */
