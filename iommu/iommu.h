/*
 * iommu/iommu.h - the IOMMU: simulated physical memory (host and guest),
 * radix page tables and their builder, context and PASID tables, the
 * single-stage and nested walker with its caches (IOTLB, paging-structure
 * caches, stage-2 TLB, context and PASID caches), the page request queue
 * (PRQ / SMMUv3 PRIQ), the fault-record queue, the invalidation queue (QI /
 * SMMUv3 command queue) and the data path of DMA requests.
 *
 * Semantics: shared/reference/fault-path-semantics.md sections 1d, 2 (VT-d
 * PRQ) and 3 (SMMUv3 PRIQ, stall model). Default latencies and sizes:
 * shared/reference/latency-calibration.md sections 2.3, 3.1 and 5. Each
 * behaviour and default is listed with its source in docs/model.md.
 *
 * Contract with devices (pcie/): what the IOMMU does with each message
 * arriving from a device (iommu_rx):
 *  - PCIE_MSG_ATS_REQ: translated for (rid, pasid, addr) through the context
 *    and PASID caches, the IOTLB and the walker; answered with
 *    PCIE_MSG_ATS_CPL: code PCIE_CPL_SC with the granted PCIE_F_R/W/X in
 *    `perm` (0 when the page is not present or a stage faults: the device
 *    then asks with a page request), `xaddr` the translated address and
 *    `size_shift` the size of the translation; PCIE_CPL_UR when the context
 *    or PASID entry is invalid. The No-Write hint (PCIE_F_NW) withholds W.
 *  - PCIE_MSG_MEM_RD / PCIE_MSG_MEM_WR with PCIE_F_XLATED: `addr` is a
 *    translated address; a read is answered after memory.access with
 *    PCIE_MSG_MEM_CPL, code PCIE_CPL_SC, `len` bytes; a write is absorbed.
 *  - PCIE_MSG_MEM_RD / PCIE_MSG_MEM_WR without PCIE_F_XLATED (a device
 *    without ATS): `addr` is untranslated, tagged with `pasid` when
 *    PCIE_F_PASID is set (else IOMMU_PASID_NONE, VT-d's RID_PASID). The
 *    IOMMU translates it on the same path (caches, walker) for the access
 *    (read or write, plus PCIE_F_X / PCIE_F_PRIV) and, on success, performs
 *    the memory access: a read is answered with PCIE_MSG_MEM_CPL, code
 *    PCIE_CPL_SC, `len` bytes. On a fault it writes a non-recoverable fault
 *    record (bounded ring, overflow counted) and answers a read with
 *    PCIE_MSG_MEM_CPL code PCIE_CPL_UR (len 0: the DMA aborts); a faulting
 *    write is dropped. With iommu.stall (SMMUv3 only) a translation fault
 *    is held instead: a stall event goes to the host, which fixes the page
 *    and resumes with RETRY (translate again and complete) or ABORT (UR).
 *    The completion echoes tag, cookie, span, pasid and addr.
 *  - PCIE_MSG_PAGE_REQ: written to the PRQ (or auto-responded / dropped by
 *    the overflow rules of the architecture).
 *  - PCIE_MSG_INV_CPL: completes the device-TLB invalidation whose
 *    PCIE_MSG_INV_REQ carried the same `cookie`.
 * Messages down to a device go through the iommu_send_fn callback.
 */
#ifndef IOMMU_IOMMU_H
#define IOMMU_IOMMU_H

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

/* ------------------------------------------------ simulated memory */

/*
 * Sparse physical memory of 4 KiB frames. Frames holding tables and queues
 * are "backed" (have storage); data frames handed to address spaces need
 * only their frame number, so they cost no host memory.
 */
typedef struct iommu_mem iommu_mem_t;

iommu_mem_t *iommu_mem_create(void);
void iommu_mem_destroy(iommu_mem_t *mem);
/* A new zeroed frame; returns its physical address, or 0 when out of
 * memory (frame 0 is never handed out). */
uint64_t iommu_mem_alloc(iommu_mem_t *mem, bool backed);
/* Reserve `nframes` contiguous frames aligned to `align` frames (a power of
 * two), without storage; returns the address of the first, or 0. */
uint64_t iommu_mem_alloc_range(iommu_mem_t *mem, uint64_t nframes,
                               uint64_t align);
/* Give storage (zeroed) to an allocated frame without any. Returns 0,
 * -EEXIST (already backed) or -ENOMEM. */
int iommu_mem_back(iommu_mem_t *mem, uint64_t pa);
/* Whether the frame of pa has storage. */
bool iommu_mem_is_backed(const iommu_mem_t *mem, uint64_t pa);
/* Return a frame (backed or not) for reuse. */
void iommu_mem_free(iommu_mem_t *mem, uint64_t pa);
/* 64-bit access to backed frames (reads of unbacked memory return 0,
 * writes to it are lost). */
uint64_t iommu_mem_read64(const iommu_mem_t *mem, uint64_t pa);
void iommu_mem_write64(iommu_mem_t *mem, uint64_t pa, uint64_t value);
/* Frames allocated (backed, and in all) and now in use. */
uint64_t iommu_mem_backed_frames(const iommu_mem_t *mem);
uint64_t iommu_mem_frames(const iommu_mem_t *mem);
/* Host memory the simulated memory uses (frame storage and indexes). */
size_t iommu_mem_host_bytes(const iommu_mem_t *mem);

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
#define IOMMU_PTE_U (1ull << 4)  /* user (stage 1: unprivileged access) */
#define IOMMU_PTE_A (1ull << 5)  /* accessed */
#define IOMMU_PTE_D (1ull << 6)  /* dirty */
#define IOMMU_PTE_PS (1ull << 7) /* leaf above the last level (2M, 1G) */
#define IOMMU_PTE_ADDR 0x000ffffffffff000ull
#define IOMMU_PTE_PERM (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X | IOMMU_PTE_U)
/* Bits a leaf can be given by iommu_pt_map / iommu_pt_protect. */
#define IOMMU_PTE_ATTR (IOMMU_PTE_PERM | IOMMU_PTE_A | IOMMU_PTE_D)

typedef struct iommu_guest iommu_guest_t;

/*
 * A page table. Host tables (guest == NULL) live in host physical memory;
 * a guest's stage-1 tables live in guest physical memory: their table
 * addresses (root and entries) are GPAs, reached through the guest's
 * stage-2 table.
 */
typedef struct iommu_pt {
    iommu_mem_t *mem;     /* host memory */
    iommu_guest_t *guest; /* NULL: host table */
    uint64_t root;        /* address of the top table (HPA, or GPA) */
    unsigned levels;      /* 4 (48-bit) or 5 (57-bit) */
} iommu_pt_t;

/* Create an empty host table. Returns 0, -EINVAL (levels) or -ENOMEM. */
int iommu_pt_init(iommu_pt_t *pt, iommu_mem_t *mem, unsigned levels);
/* Create an empty table in the guest's physical memory (a guest stage-1
 * table). Returns 0, -EINVAL or -ENOMEM. */
int iommu_pt_init_guest(iommu_pt_t *pt, iommu_guest_t *guest,
                        unsigned levels);
/* Free every table frame of pt (the leaves' frames are the caller's). */
void iommu_pt_destroy(iommu_pt_t *pt);

/* Input address bits covered by a table of `levels` levels. */
static inline unsigned iommu_pt_va_bits(unsigned levels)
{
    return IOMMU_PAGE_SHIFT + 9 * levels;
}

/* Map one page of size 1 << shift (12, 21 or 30) with attr (IOMMU_PTE_R|W|
 * X|U, and A|D if wanted). Returns 0, -EINVAL (alignment, size, address
 * width), -EEXIST (a leaf of another size is in the way) or -ENOMEM.
 * Replaces an existing leaf of the same size. */
int iommu_pt_map(iommu_pt_t *pt, uint64_t va, uint64_t pa, unsigned shift,
                 uint64_t attr);

/* Map [va, va+len) to [pa, pa+len) with the largest leaves (up to 1 <<
 * max_shift: 12, 21 or 30) that va, pa and the remaining length allow.
 * Returns as iommu_pt_map (pages mapped before an error stay mapped). */
int iommu_pt_map_range(iommu_pt_t *pt, uint64_t va, uint64_t pa, uint64_t len,
                       uint64_t attr, unsigned max_shift);

/* Called for each leaf removed by iommu_pt_unmap. */
typedef void (*iommu_pt_leaf_fn)(void *opaque, uint64_t va, uint64_t pa,
                                 unsigned shift);

/* Remove every leaf inside [va, va+len). A huge leaf only partly inside the
 * range is an error (-EINVAL, nothing changed for it). */
int iommu_pt_unmap(iommu_pt_t *pt, uint64_t va, uint64_t len,
                   iommu_pt_leaf_fn fn, void *opaque);

/* Set the attributes (IOMMU_PTE_ATTR bits) of every leaf inside [va,
 * va+len); a huge leaf only partly inside is -EINVAL (left unchanged). */
int iommu_pt_protect(iommu_pt_t *pt, uint64_t va, uint64_t len,
                     uint64_t attr);

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

/* Names of the outcomes ("ok", "s1_not_present", ...). */
extern const char *const iommu_walk_outcome_names[IOMMU_WALK_OUTCOMES];

typedef struct iommu_walk {
    iommu_walk_outcome_t outcome;
    uint64_t pa;    /* translated address of the input address */
    uint64_t perm;  /* IOMMU_PTE_R|W|X|U ANDed along the leaf path */
    uint64_t pte;   /* the leaf entry (with A and D) */
    unsigned shift; /* page size of the leaf */
    unsigned reads; /* table reads done */
} iommu_walk_t;

/* Functional walk of one table (no timing, no caches): fills out; the
 * outcome is OK or S1_NOT_PRESENT (no permission check here). A guest
 * table's GPAs are reached through its stage 2 (not counted in reads). */
void iommu_pt_walk(const iommu_pt_t *pt, uint64_t va, iommu_walk_t *out);

/* ------------------------------------------------- guest memory */

/*
 * A guest's physical memory: guest physical addresses (GPAs) mapped to
 * host frames by a stage-2 table (host memory). Its stage-1 tables take
 * GPA frames from table chunks of 1 << table_shift bytes (12, 21 or 30),
 * each backed by one contiguous host block and mapped by one stage-2 leaf
 * of that size; storage is given to a frame only when a table uses it.
 */
iommu_guest_t *iommu_guest_create(iommu_mem_t *mem, unsigned s2_levels,
                                  unsigned table_shift);
void iommu_guest_destroy(iommu_guest_t *guest);
/* The stage-2 table (GPA -> HPA, in host memory). */
iommu_pt_t *iommu_guest_s2(iommu_guest_t *guest);
/* Reserve len bytes of GPA space aligned to `align` bytes (a power of two,
 * at least 4 KiB), not mapped in stage 2. Returns the GPA or 0. */
uint64_t iommu_guest_reserve(iommu_guest_t *guest, uint64_t len,
                             uint64_t align);
/* Back [gpa, gpa+len) with fresh host frames (no storage) mapped in stage
 * 2 with attr, using leaves up to 1 << max_shift. Returns 0 or as
 * iommu_pt_map_range. */
int iommu_guest_back(iommu_guest_t *guest, uint64_t gpa, uint64_t len,
                     uint64_t attr, unsigned max_shift);
/* A new zeroed GPA frame for a guest table (mapped and with storage);
 * returns its GPA or 0. */
uint64_t iommu_guest_alloc_table(iommu_guest_t *guest);
/* Functional stage-2 translation; returns 0 or -EFAULT (not mapped). */
int iommu_guest_to_host(const iommu_guest_t *guest, uint64_t gpa,
                        uint64_t *hpa);

/* -------------------------------------------------------------- IOMMU */

typedef enum { IOMMU_ARCH_VTD = 0, IOMMU_ARCH_SMMUV3 = 1 } iommu_arch_t;

typedef enum {
    IOMMU_MODE_BYPASS = 0,
    IOMMU_MODE_S1,     /* host stage 1 (native SVA) */
    IOMMU_MODE_S2,     /* host stage 2 only (input addresses are GPAs) */
    IOMMU_MODE_NESTED, /* guest stage 1 on host stage 2 */
} iommu_mode_t;

/* Paging-structure cache levels: entries of levels 2..5 point to tables. */
#define IOMMU_PSC_LEVELS 6 /* indexed by level; 0 and 1 unused */

typedef struct iommu_cfg {
    unsigned arch;       /* iommu_arch_t */
    uint64_t levels;     /* page-table levels for new tables */
    uint64_t iotlb_sets; /* 0: the architecture's default */
    uint64_t iotlb_ways; /* 0: the architecture's default */
    uint64_t ctx_cache;  /* context cache entries (0: none) */
    uint64_t pasid_cache;
    uint64_t psc[2][IOMMU_PSC_LEVELS]; /* [stage-1][level] entries (0: off) */
    uint64_t psc_ways;
    uint64_t s2tlb;   /* stage-2 TLB (IPA cache) entries (0: off) */
    uint64_t walkers; /* parallel page-table walks */
    bool ad;          /* update accessed/dirty bits */
    uint64_t prq_depth;   /* 0: the architecture's default */
    uint64_t fault_depth; /* fault-record queue entries */
    uint64_t qi_depth;    /* 0: the architecture's default */
    bool stall;           /* SMMUv3 stall model for untranslated faults */
    sim_time_t irq_coalesce; /* interrupt moderation window (0: off) */
    sim_time_t ctx_hit;   /* context / PASID cache lookup */
    sim_time_t iotlb_hit; /* IOTLB lookup */
    sim_time_t psc_hit;   /* paging-structure or stage-2 TLB hit */
    sim_time_t walk_read; /* one table read by the walker */
    sim_time_t prq_write; /* PRQ descriptor / fault record write (posted) */
    sim_time_t qi_iotlb, qi_pasid, qi_context, qi_devtlb, qi_page_resp,
        qi_wait;           /* invalidation queue: processing per type */
    sim_time_t mem_access; /* data access of a DMA */
} iommu_cfg_t;

extern const sim_param_t iommu_params[];
extern const unsigned iommu_nparams;

/* Fill the zero "architecture default" fields of cfg from cfg->arch. */
void iommu_cfg_resolve(iommu_cfg_t *cfg);
/* Check constraints between keys (logged naming the keys); 0 or -EINVAL. */
int iommu_cfg_check(const iommu_cfg_t *cfg, sim_log_t *log);

typedef struct iommu iommu_t;

/* Sends a message down to the device with requester id `rid`. */
typedef void (*iommu_send_fn)(void *opaque, uint16_t rid, const pcie_msg_t *m);
/* An interrupt (an MSI to the host). */
typedef void (*iommu_irq_fn)(void *opaque);
/* Completion callback (invalidation wait descriptor). */
typedef void (*iommu_done_fn)(void *opaque);

/* Returns NULL on allocation failure or a bad configuration (logged). */
iommu_t *iommu_create(sim_t *sim, sim_stats_t *st, const iommu_cfg_t *cfg,
                      uint64_t seed);
void iommu_destroy(iommu_t *iommu);

void iommu_set_downstream(iommu_t *iommu, iommu_send_fn fn, void *opaque);
/* The page request queue interrupt. */
void iommu_set_prq_irq(iommu_t *iommu, iommu_irq_fn fn, void *opaque);
/* The fault-record (SMMUv3 event) queue interrupt. */
void iommu_set_fault_irq(iommu_t *iommu, iommu_irq_fn fn, void *opaque);

/* Messages arriving from devices (a pcie_rx_fn; opaque is the iommu). */
void iommu_rx(void *opaque, const pcie_msg_t *msg);

iommu_mem_t *iommu_memory(iommu_t *iommu);
/* The resolved configuration. */
const iommu_cfg_t *iommu_config(const iommu_t *iommu);
iommu_arch_t iommu_arch(const iommu_t *iommu);

/* ------------------------------------------ context and PASID tables */

/*
 * What (RID, PASID) translates with. The IOMMU keeps it in tables in
 * simulated memory: a root table indexed by bus, a context table per bus
 * indexed by devfn, a PASID directory and PASID tables (VT-d scalable
 * mode; the SMMUv3 stream table and CD tables play the same roles). A
 * lookup that misses the context or PASID cache reads them (2 + 2 reads).
 */
typedef struct iommu_pasid_entry {
    iommu_mode_t mode;
    uint16_t domain;    /* domain id (VT-d DID, SMMUv3 ASID): tags stage-1
                           and nested IOTLB entries */
    uint16_t s2_domain; /* stage-2 tag (SMMUv3 VMID; VT-d DID of the
                           stage-2 domain) for modes s2 and nested */
    iommu_pt_t s1;      /* stage-1 table (s1, nested: a guest table) */
    iommu_pt_t s2;      /* stage-2 table (s2, nested) */
    bool pri;           /* page requests enabled (PRE) */
} iommu_pasid_entry_t;

/* Write the entry of (rid, pasid) into the tables. Like hardware, cached
 * copies of a replaced entry stay until the PASID cache is invalidated.
 * Returns 0, -EINVAL (pasid >= 2^20, levels) or -ENOMEM. */
int iommu_set_pasid(iommu_t *iommu, uint16_t rid, uint32_t pasid,
                    const iommu_pasid_entry_t *entry);
/* Mark the entry not present (invalidate the PASID cache afterwards). */
void iommu_clear_pasid(iommu_t *iommu, uint16_t rid, uint32_t pasid);
/* Read the entry from the tables (no cache, no cost): true if present.
 * The decoded tables carry mem and root/levels only (guest is NULL). */
bool iommu_get_pasid(const iommu_t *iommu, uint16_t rid, uint32_t pasid,
                     iommu_pasid_entry_t *out);

/* ------------------------------------------------------ translation */

/* What a translation gives (iommu_translate). */
typedef struct iommu_xlate {
    iommu_walk_outcome_t outcome;
    uint64_t pa;         /* translated address (OK and permission faults) */
    uint64_t perm;       /* granted IOMMU_PTE_R|W|X (privilege applied) */
    unsigned shift;      /* size of the translation: min of the stages */
    unsigned reads;      /* page-table reads (both stages) */
    unsigned ctx_reads;  /* context / PASID table reads */
    unsigned psc_hits;   /* paging-structure and stage-2 TLB hits */
    unsigned ad_writes;  /* accessed/dirty updates written */
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

/*
 * Translate va for (rid, pasid) with `access` (PCIE_F_R, PCIE_F_W,
 * PCIE_F_X, PCIE_F_PRIV; 0 checks nothing): context and PASID caches,
 * IOTLB, then a walk helped by the paging-structure caches, permission
 * check (the first stage that denies is the outcome), optional A/D updates
 * and IOTLB fill. Synchronous and functional: takes no simulated time (the
 * latency it would take is in out->latency) and allocates nothing.
 */
void iommu_translate(iommu_t *iommu, uint16_t rid, uint32_t pasid,
                     uint64_t va, unsigned access, iommu_xlate_t *out);

/* ------------------------------------------------------ invalidation */

typedef enum {
    IOMMU_INV_GLOBAL = 0, /* everything */
    IOMMU_INV_DOMAIN,     /* everything tagged with `domain` (as a domain or
                             a stage-2 domain) */
    IOMMU_INV_PASID,      /* stage-1/nested entries of (domain, pasid) */
    IOMMU_INV_RANGE,      /* ... of (domain, pasid) overlapping [addr,
                             addr+len) */
    IOMMU_INV_S2_RANGE,   /* stage 2 of s2_domain `domain` overlapping GPA
                             [addr, addr+len), and every nested entry of
                             that stage-2 domain */
    IOMMU_INV_DEVICE,     /* PASID/context caches: entries of `rid` */
    IOMMU_INV_DEVICE_PASID, /* PASID cache: the entry of (rid, pasid) */
} iommu_inv_gran_t;

typedef struct iommu_inv {
    iommu_inv_gran_t gran;
    uint16_t domain;
    uint16_t rid;
    uint32_t pasid;
    bool any_pasid;  /* RANGE: every PASID of the domain (SMMUv3 ASID) */
    bool leaf_only;  /* IOTLB: keep the paging-structure caches (VT-d IH) */
    uint64_t addr, len;
} iommu_inv_t;

/* Functional invalidations (no time); the invalidation queue calls these
 * when it processes a descriptor. Each makes translations in flight
 * re-read the tables before they answer. */
void iommu_invalidate_iotlb(iommu_t *iommu, const iommu_inv_t *inv);
void iommu_invalidate_pasid_cache(iommu_t *iommu, const iommu_inv_t *inv);
void iommu_invalidate_context_cache(iommu_t *iommu, const iommu_inv_t *inv);
/* Shorthand: IOTLB and stage-1 PSC entries of (domain, pasid) overlapping
 * [addr, addr+len); len 0: all of them. */
void iommu_iotlb_invalidate(iommu_t *iommu, uint16_t domain, uint32_t pasid,
                            uint64_t addr, uint64_t len);

/* ------------------------------------------------- queues in memory */

/*
 * The PRQ, the fault-record queue and the invalidation queue are rings in
 * simulated memory with a head (consumer) and a tail (producer). Positions
 * are raw register values: VT-d rings hold an index (one slot stays
 * unused), SMMUv3 rings an index plus a wrap bit (all slots usable); use
 * iommu_*_next to step and never compute positions by hand.
 */

/* One page request descriptor, decoded from the PRQ (VT-d 7.4.1.1: 32
 * bytes; SMMUv3 PRIQ entry: 16 bytes). */
typedef struct iommu_prq_desc {
    uint64_t addr; /* page address */
    uint32_t pasid;
    uint16_t rid;
    uint16_t prgi;
    uint8_t flags; /* PCIE_F_R/W/X/PRIV/LAST/PASID */
    sim_span_t *span; /* simulator bookkeeping, kept beside the ring */
} iommu_prq_desc_t;

/* PRQ status bits (VT-d PRS register, RW1C). On SMMUv3, PRO reads as
 * "PRIQ_PROD.OVFLG != PRIQ_CONS.OVACKFLG" and PPR as 0. */
#define IOMMU_PRS_PPR 0x1u /* pending page request */
#define IOMMU_PRS_PRO 0x2u /* page request overflow */

uint32_t iommu_prq_head(const iommu_t *iommu);
uint32_t iommu_prq_tail(const iommu_t *iommu);
uint32_t iommu_prq_depth(const iommu_t *iommu);
uint32_t iommu_prq_next(const iommu_t *iommu, uint32_t pos);
/* Entries between head and tail. */
uint32_t iommu_prq_count(const iommu_t *iommu);
/* Physical address of the ring and the size of one descriptor. */
uint64_t iommu_prq_base(const iommu_t *iommu);
unsigned iommu_prq_desc_size(const iommu_t *iommu);
/* Read and decode the descriptor at position pos from memory. */
void iommu_prq_read(const iommu_t *iommu, uint32_t pos, iommu_prq_desc_t *out);
/* Software consumed entries up to (not including) head. */
void iommu_prq_set_head(iommu_t *iommu, uint32_t head);
unsigned iommu_prq_status(const iommu_t *iommu);
/* Write-1-to-clear status bits (VT-d). On SMMUv3, clearing PRO copies
 * OVFLG into OVACKFLG (the overflow acknowledgement). */
void iommu_prq_clear_status(iommu_t *iommu, unsigned bits);

/* A fault record (VT-d fault recording register: 16 bytes; SMMUv3 event
 * record: 32 bytes), decoded. */
typedef struct iommu_fault_rec {
    iommu_walk_outcome_t reason;
    uint16_t rid;
    uint32_t pasid;
    bool pasid_valid;
    uint64_t addr;  /* input address (VT-d: its page) */
    uint64_t gpa;   /* SMMUv3 S2 faults: the IPA (VT-d: 0) */
    uint8_t flags;  /* the access: PCIE_F_R/W/X/PRIV */
    bool stall;     /* the transaction is held: resume it with its stag */
    uint16_t stag;
    sim_span_t *span;
} iommu_fault_rec_t;

uint32_t iommu_fault_head(const iommu_t *iommu);
uint32_t iommu_fault_tail(const iommu_t *iommu);
uint32_t iommu_fault_next(const iommu_t *iommu, uint32_t pos);
void iommu_fault_read(const iommu_t *iommu, uint32_t pos,
                      iommu_fault_rec_t *out);
void iommu_fault_set_head(iommu_t *iommu, uint32_t head);
/* Records were lost since the last acknowledgement (VT-d PFO, SMMUv3
 * EVTQ OVFLG); acknowledge to re-arm. */
bool iommu_fault_overflowed(const iommu_t *iommu);
void iommu_fault_ack_overflow(iommu_t *iommu);

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

/* Names of the descriptor types ("iotlb", ...). */
extern const char *const iommu_qi_type_names[IOMMU_QI_TYPES];

typedef struct iommu_qi_desc {
    iommu_qi_type_t type;
    iommu_inv_t inv; /* IOTLB, PASID_CACHE, CONTEXT_CACHE; DEVTLB uses rid,
                        pasid, addr, len (len 0: all) */
    uint8_t code;    /* PAGE_RESP: PCIE_PRG_*; RESUME: PCIE_PRG_SUCCESS
                        retries, anything else aborts */
    uint16_t prgi;   /* PAGE_RESP: group index; RESUME: the stall tag */
    bool pasid_present;
    uint16_t rid;    /* PAGE_RESP, RESUME */
    uint32_t pasid;  /* PAGE_RESP */
    iommu_done_fn done; /* WAIT: called when everything before is done */
    void *opaque;
    sim_span_t *span;   /* PAGE_RESP, RESUME */
} iommu_qi_desc_t;

/*
 * Write n descriptors at the tail of the invalidation queue (encoded per
 * architecture: VT-d 32-byte descriptors, SMMUv3 16-byte commands) and
 * move the tail. The IOMMU consumes them in order, each after its
 * configured cost. A device-TLB invalidation sends an ATS Invalidate
 * Request and does not block the queue; a WAIT completes (done) only when
 * every earlier descriptor is done, device-TLB completions included. When
 * the ring is full, descriptors wait in order for space (software
 * spinning; iommu.qi.full_waits). Returns 0 or -ENOMEM.
 */
int iommu_qi_submit(iommu_t *iommu, const iommu_qi_desc_t *descs, unsigned n);
uint32_t iommu_qi_head(const iommu_t *iommu);
uint32_t iommu_qi_tail(const iommu_t *iommu);
uint64_t iommu_qi_base(const iommu_t *iommu);
unsigned iommu_qi_desc_size(const iommu_t *iommu);
/* Descriptors submitted and not yet done (device-TLB completions
 * included). */
uint64_t iommu_qi_pending(const iommu_t *iommu);

/* Counters for conservation checks: page requests received, written to the
 * PRQ, auto-responded by hardware, dropped without a response, stop
 * markers; PRG responses sent for host responses. */
typedef struct iommu_prq_totals {
    uint64_t received, written, auto_responded, dropped, stop_markers;
    uint64_t host_responses;
} iommu_prq_totals_t;
void iommu_prq_totals(const iommu_t *iommu, iommu_prq_totals_t *out);

/* Untranslated DMA requests held in the stall model (SMMUv3). */
uint64_t iommu_stalled(const iommu_t *iommu);

#endif /* IOMMU_IOMMU_H */
