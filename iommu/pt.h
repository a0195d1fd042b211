/*
 * iommu/pt.h - radix page tables (unit pt.c): the entry format, the
 * builder (map, unmap, protect) and the functional walk. A table reaches
 * its memory through an iommu_pt_mem_ops_t, so the same code serves host
 * tables (host physical table addresses) and a guest's tables (guest
 * physical addresses, see guest.h).
 */
#ifndef IOMMU_PT_H
#define IOMMU_PT_H

#include "iommu/mem.h"
#include "iommu/types.h"

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

/*
 * A page table: `ops` (with `ops_ctx`) reach its table addresses. Host
 * tables use iommu_mem_pt_ops (or NULL: the same) over `mem`; a guest's
 * stage-1 tables use the guest's ops (iommu_pt_init_guest, guest.h).
 */
typedef struct iommu_pt {
    iommu_mem_t *mem;              /* host memory */
    const iommu_pt_mem_ops_t *ops; /* NULL: host memory `mem` */
    void *ops_ctx;                 /* the ops' context */
    uint64_t root;                 /* address of the top table */
    unsigned levels;               /* 4 (48-bit) or 5 (57-bit) */
} iommu_pt_t;

/* Create an empty host table. Returns 0, -EINVAL (levels) or -ENOMEM. */
int iommu_pt_init(iommu_pt_t *pt, iommu_mem_t *mem, unsigned levels);
/* Create an empty table whose memory is reached through ops (ctx is
 * theirs; mem is the host memory behind them). Returns 0, -EINVAL (levels)
 * or -ENOMEM. */
int iommu_pt_init_ops(iommu_pt_t *pt, iommu_mem_t *mem,
                      const iommu_pt_mem_ops_t *ops, void *ctx,
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
int iommu_pt_protect(iommu_pt_t *pt, uint64_t va, uint64_t len, uint64_t attr);

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

/*
 * What a (RID, PASID) translates with (iommu_set_pasid): a translation
 * mode, domain tags and the tables of each stage.
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

#endif /* IOMMU_PT_H */
