/*
 * iommu/types.h - the IOMMU's public value types: configuration, modes,
 * translation results, invalidation requests and the decoded descriptors
 * of its queues. Types only (no functions): every unit of iommu/ may
 * include it without depending on another unit; iommu/iommu.h includes it
 * for other folders.
 */
#ifndef IOMMU_TYPES_H
#define IOMMU_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcie/pcie.h"
#include "sim/sim.h"

#define IOMMU_PAGE_SHIFT 12
#define IOMMU_PAGE_SIZE (1ull << IOMMU_PAGE_SHIFT)
/* PASID of requests without a PASID prefix (VT-d RID_PASID, SMMUv3
 * SubstreamID 0). */
#define IOMMU_PASID_NONE 0u

/* Outcome of a translation. */
typedef enum {
    IOMMU_WALK_OK = 0,
    IOMMU_WALK_S1_NOT_PRESENT, /* stage 1 (or the only stage) */
    IOMMU_WALK_S1_PERM,
    IOMMU_WALK_S2_NOT_PRESENT, /* fault_addr is the GPA */
    IOMMU_WALK_S2_PERM,
    IOMMU_WALK_BAD_CONTEXT, /* no valid context entry for the RID */
    IOMMU_WALK_BAD_PASID,   /* no valid PASID entry */
    IOMMU_WALK_OUTCOMES
} iommu_walk_outcome_t;

/* Names of the outcomes ("ok", "s1_not_present", ...; defined in pt.c). */
extern const char *const iommu_walk_outcome_names[IOMMU_WALK_OUTCOMES];

typedef enum {
    IOMMU_ARCH_VTD = 0,
    IOMMU_ARCH_SMMUV3 = 1,
    IOMMU_ARCH_AMDVI = 2, /* AMD I/O Virtualization Technology (#48882) */
} iommu_arch_t;

typedef enum {
    IOMMU_MODE_BYPASS = 0,
    IOMMU_MODE_S1,     /* host stage 1 (native SVA) */
    IOMMU_MODE_S2,     /* host stage 2 only (input addresses are GPAs) */
    IOMMU_MODE_NESTED, /* guest stage 1 on host stage 2 */
} iommu_mode_t;

/* Paging-structure cache levels: entries of levels 2..5 point to tables. */
#define IOMMU_PSC_LEVELS 6 /* indexed by level; 0 and 1 unused */

/* Accessed/dirty flag updates (iommu.ad). */
typedef enum {
    IOMMU_AD_ARCH = 0, /* the architecture's rule: VT-d on, SMMUv3 off */
    IOMMU_AD_ON = 1,
    IOMMU_AD_OFF = 2
} iommu_ad_t;

typedef struct iommu_cfg {
    unsigned arch;       /* iommu_arch_t */
    uint64_t levels;     /* page-table levels for new tables */
    uint64_t iotlb_sets; /* 0: the architecture's default */
    uint64_t iotlb_ways; /* 0: the architecture's default */
    uint64_t ctx_cache;  /* context cache entries (0: none) */
    uint64_t pasid_cache;
    uint64_t psc[2][IOMMU_PSC_LEVELS]; /* [stage-1][level] entries (0: off) */
    uint64_t psc_ways;
    uint64_t s2tlb;          /* stage-2 TLB (IPA cache) entries (0: off) */
    uint64_t walkers;        /* parallel page-table walks */
    unsigned ad;             /* iommu_ad_t; resolved: ON or OFF */
    uint64_t prq_depth;      /* 0: the architecture's default */
    uint64_t fault_depth;    /* fault-record queue entries */
    uint64_t qi_depth;       /* 0: the architecture's default */
    bool stall;              /* SMMUv3 stall model for untranslated faults */
    sim_time_t irq_coalesce; /* interrupt moderation window (0: off) */
    sim_time_t ctx_hit;      /* context / PASID cache lookup */
    sim_time_t iotlb_hit;    /* IOTLB lookup */
    sim_time_t psc_hit;      /* paging-structure or stage-2 TLB hit */
    sim_time_t walk_read;    /* one table read by the walker */
    sim_time_t prq_write;    /* PRQ descriptor / fault record write (posted) */
    sim_time_t qi_iotlb, qi_pasid, qi_context, qi_devtlb, qi_page_resp,
        qi_wait;           /* invalidation queue: processing per type */
    sim_time_t mem_access; /* data access of a DMA */
} iommu_cfg_t;

typedef struct iommu iommu_t;

/* Sends a message down to the device with requester id `rid`. */
typedef void (*iommu_send_fn)(void *opaque, uint16_t rid, const pcie_msg_t *m);
/* An interrupt (an MSI to the host). */
typedef void (*iommu_irq_fn)(void *opaque);
/* Completion callback (invalidation wait descriptor). */
typedef void (*iommu_done_fn)(void *opaque);

/* What a translation gives (iommu_translate). */
typedef struct iommu_xlate {
    iommu_walk_outcome_t outcome;
    uint64_t pa;        /* translated address (OK and permission faults) */
    uint64_t perm;      /* granted IOMMU_PTE_R|W|X (privilege applied) */
    unsigned shift;     /* size of the translation: min of the stages */
    unsigned reads;     /* page-table reads (both stages) */
    unsigned ctx_reads; /* context / PASID table reads */
    unsigned psc_hits;  /* paging-structure and stage-2 TLB hits */
    unsigned ad_writes; /* accessed/dirty updates written */
    bool iotlb_hit;
    bool fault_table;    /* S2 fault on a stage-1 table access */
    uint64_t fault_addr; /* S1 faults: the input address; S2 faults: the
                            GPA (of the access, or of the stage-1 table
                            with fault_table); nested success: the GPA */
    sim_time_t latency;  /* modelled: ctx_hit + iotlb_hit + psc_hit per hit
                            + walk_read per read or A/D write */
    /* internal: tags, per-stage permissions (before the privilege
     * check) and dirty state of the translation, for the IOTLB fill and
     * for requests merged into this one */
    uint16_t domain, s2_domain;
    uint8_t mode;
    bool dirty;
    uint64_t perm1, perm2;
} iommu_xlate_t;

typedef enum {
    IOMMU_INV_GLOBAL = 0,   /* everything */
    IOMMU_INV_DOMAIN,       /* everything tagged with `domain` (as a domain or
                               a stage-2 domain) */
    IOMMU_INV_PASID,        /* stage-1/nested entries of (domain, pasid);
                               PASID cache: the entries of (domain, pasid)
                               on any device (VT-d PASID-selective-within-
                               domain) */
    IOMMU_INV_RANGE,        /* ... of (domain, pasid) overlapping [addr,
                               addr+len) */
    IOMMU_INV_S2_RANGE,     /* stage 2 of s2_domain `domain` overlapping GPA
                               [addr, addr+len), and every nested entry of
                               that stage-2 domain */
    IOMMU_INV_DEVICE,       /* PASID/context caches: entries of `rid` */
    IOMMU_INV_DEVICE_PASID, /* PASID cache: the entry of (rid, pasid) */
} iommu_inv_gran_t;

typedef struct iommu_inv {
    iommu_inv_gran_t gran;
    uint16_t domain;
    uint16_t rid;
    uint32_t pasid;
    bool any_pasid; /* RANGE: every PASID of the domain (SMMUv3 ASID) */
    bool leaf_only; /* IOTLB: keep the paging-structure caches (VT-d IH) */
    uint64_t addr, len;
} iommu_inv_t;

/* One page request descriptor, decoded from the PRQ (VT-d 7.4.1.1: 32
 * bytes; SMMUv3 PRIQ entry: 16 bytes). */
typedef struct iommu_prq_desc {
    uint64_t addr; /* page address */
    uint32_t pasid;
    uint16_t rid;
    uint16_t prgi;
    uint8_t flags;    /* PCIE_F_R/W/X/PRIV/LAST/PASID */
    sim_span_t *span; /* simulator bookkeeping, kept beside the ring */
} iommu_prq_desc_t;

/* PRQ status bits (VT-d PRS register, RW1C). On SMMUv3, PRO reads as
 * "PRIQ_PROD.OVFLG != PRIQ_CONS.OVACKFLG" and PPR as 0. */
#define IOMMU_PRS_PPR 0x1u /* pending page request */
#define IOMMU_PRS_PRO 0x2u /* page request overflow */

/* Counters for conservation checks: page requests received, written to the
 * PRQ, auto-responded by hardware, dropped without a response, stop
 * markers; PRG responses sent for host responses. */
typedef struct iommu_prq_totals {
    uint64_t received, written, auto_responded, dropped, stop_markers;
    uint64_t host_responses;
} iommu_prq_totals_t;

/* A fault record (VT-d fault recording register: 16 bytes; SMMUv3 event
 * record: 32 bytes), decoded. */
typedef struct iommu_fault_rec {
    iommu_walk_outcome_t reason;
    uint16_t rid;
    uint32_t pasid;
    bool pasid_valid;
    uint64_t addr; /* input address (VT-d: its page) */
    uint64_t gpa;  /* SMMUv3 S2 faults: the IPA (VT-d: 0) */
    uint8_t flags; /* the access: PCIE_F_R/W/X/PRIV */
    bool stall;    /* the transaction is held: resume it with its stag */
    uint16_t stag;
    sim_span_t *span;
} iommu_fault_rec_t;

/* Invalidation-queue descriptor types (VT-d QI descriptors; SMMUv3
 * commands). */
typedef enum {
    IOMMU_QI_IOTLB = 0,     /* VT-d 0x2/0x6; SMMUv3 TLBI_* */
    IOMMU_QI_PASID_CACHE,   /* VT-d 0x7; SMMUv3 CFGI_CD(_ALL) */
    IOMMU_QI_CONTEXT_CACHE, /* VT-d 0x1; SMMUv3 CFGI_STE / CFGI_ALL */
    IOMMU_QI_DEVTLB,        /* VT-d 0x8; SMMUv3 ATC_INV */
    IOMMU_QI_PAGE_RESP,     /* VT-d 0x9; SMMUv3 PRI_RESP */
    IOMMU_QI_RESUME,        /* SMMUv3 RESUME (stall model) */
    IOMMU_QI_WAIT,          /* VT-d 0x5 inv_wait; SMMUv3 CMD_SYNC */
    IOMMU_QI_TYPES
} iommu_qi_type_t;

/* Names of the descriptor types ("iotlb", ...; defined in invq.c). */
extern const char *const iommu_qi_type_names[IOMMU_QI_TYPES];

typedef struct iommu_qi_desc {
    iommu_qi_type_t type;
    iommu_inv_t inv; /* IOTLB, PASID_CACHE, CONTEXT_CACHE; DEVTLB uses rid,
                        pasid, addr, len (len 0: all) */
    uint8_t code;    /* PAGE_RESP: PCIE_PRG_*; RESUME: PCIE_PRG_SUCCESS
                        retries, anything else aborts */
    uint16_t prgi;   /* PAGE_RESP: group index; RESUME: the stall tag */
    bool pasid_present;
    uint16_t rid;       /* PAGE_RESP, RESUME */
    uint32_t pasid;     /* PAGE_RESP */
    bool fence;         /* WAIT, VT-d: Fence (FN, bit 6): the descriptors
                           after it wait until it completes (SMMUv3
                           CMD_SYNC always fences, 4.7.3) */
    bool drain;         /* WAIT, VT-d: Page-request Drain (PD, bit 7 of the
                           inv_wait descriptor, VT-d 6.5.2.8 / 7.10): the
                           wait also waits until every page request the
                           IOMMU accepted before it reached the head is
                           written to the PRQ. SMMUv3's CMD_SYNC has no
                           such flag: ignored there. */
    iommu_done_fn done; /* WAIT: called when everything before is done */
    void *opaque;
    sim_span_t *span; /* PAGE_RESP, RESUME */
} iommu_qi_desc_t;

#endif /* IOMMU_TYPES_H */
