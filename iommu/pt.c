/*
 * pt.c - radix page tables in simulated memory: 512 8-byte entries per
 * 4 KiB table, 4 or 5 levels, leaves at 4 KiB (level 1), 2 MiB (level 2)
 * or 1 GiB (level 3), as in the x86 / VT-d first-stage format. The same
 * builder serves host tables (table addresses are host physical) and a
 * guest's stage-1 tables (table addresses are guest physical): a table
 * reaches its memory through its iommu_pt_mem_ops_t (host memory directly,
 * without an indirect call; guest.c provides the ops of a guest's tables),
 * so this file knows nothing of guests.
 */
#include <errno.h>

#include "iommu/pt.h"

/* Table non-leaf entries grant everything; permission is on the leaf path. */
#define TABLE_BITS (IOMMU_PTE_P | IOMMU_PTE_PERM)

const char *const iommu_walk_outcome_names[IOMMU_WALK_OUTCOMES] = {
    "ok",      "s1_not_present", "s1_perm",  "s2_not_present",
    "s2_perm", "bad_context",    "bad_pasid"};

/* Bits of input address below the entries of a level-`level` table. */
static unsigned level_shift(unsigned level)
{
    return IOMMU_PAGE_SHIFT + 9 * (level - 1);
}

/* Address of the entry for va in a level-`level` table. */
static uint64_t pte_addr(uint64_t table, uint64_t va, unsigned level)
{
    return table + ((va >> level_shift(level)) & 511) * 8;
}

/* Whether pt's tables are in host memory, accessed directly (the fast
 * path: no indirect call). */
static inline bool tbl_host(const iommu_pt_t *pt)
{
    return !pt->ops || pt->ops == &iommu_mem_pt_ops;
}

/* Read the table entry at address a of pt (0 if unreachable). */
static inline uint64_t tbl_read(const iommu_pt_t *pt, uint64_t a)
{
    if (tbl_host(pt))
        return iommu_mem_read64(pt->mem, a);
    return pt->ops->read(pt->ops_ctx, a);
}

/* Write the table entry at address a of pt (lost if unreachable). */
static void tbl_write(iommu_pt_t *pt, uint64_t a, uint64_t v)
{
    if (tbl_host(pt))
        iommu_mem_write64(pt->mem, a, v);
    else
        pt->ops->write(pt->ops_ctx, a, v);
}

/* The entries of the table at a of pt, in place (NULL: no storage). */
static uint64_t *tbl_frame(const iommu_pt_t *pt, uint64_t a)
{
    if (tbl_host(pt))
        return iommu_mem_frame(pt->mem, a);
    return pt->ops->frame(pt->ops_ctx, a);
}

/* A new zeroed table frame in pt's address space (0 when out of memory). */
static uint64_t tbl_alloc(iommu_pt_t *pt)
{
    if (tbl_host(pt))
        return iommu_mem_alloc(pt->mem, true);
    return pt->ops->alloc(pt->ops_ctx);
}

/* Give a table frame of pt back. */
static void tbl_free(iommu_pt_t *pt, uint64_t a)
{
    if (tbl_host(pt))
        iommu_mem_free(pt->mem, a);
    else
        pt->ops->free(pt->ops_ctx, a);
}

int iommu_pt_init_ops(iommu_pt_t *pt, iommu_mem_t *mem,
                      const iommu_pt_mem_ops_t *ops, void *ctx, unsigned levels)
{
    if (levels < 2 || levels > 5)
        return -EINVAL;
    pt->mem = mem;
    pt->ops = ops;
    pt->ops_ctx = ctx;
    pt->levels = levels;
    pt->root = tbl_alloc(pt);
    return pt->root ? 0 : -ENOMEM;
}

int iommu_pt_init(iommu_pt_t *pt, iommu_mem_t *mem, unsigned levels)
{
    return iommu_pt_init_ops(pt, mem, &iommu_mem_pt_ops, mem, levels);
}

/* Free the tables below `table` (level > 1), then the table itself. */
static void free_tables(iommu_pt_t *pt, uint64_t table, unsigned level)
{
    if (level > 1) {
        for (unsigned i = 0; i < 512; i++) {
            uint64_t pte = tbl_read(pt, table + (uint64_t)i * 8);
            if ((pte & IOMMU_PTE_P) && !(pte & IOMMU_PTE_PS))
                free_tables(pt, pte & IOMMU_PTE_ADDR, level - 1);
        }
    }
    tbl_free(pt, table);
}

void iommu_pt_destroy(iommu_pt_t *pt)
{
    if (pt->root)
        free_tables(pt, pt->root, pt->levels);
    pt->root = 0;
}

/* Whether va is within the input address width of pt. */
static bool va_fits(const iommu_pt_t *pt, uint64_t va)
{
    unsigned bits = iommu_pt_va_bits(pt->levels);
    return bits >= 64 || (va >> bits) == 0;
}

/* Level of a leaf of 1 << shift bytes; -EINVAL for other sizes. */
static int leaf_level_of(unsigned shift, unsigned *level)
{
    switch (shift) {
    case 12:
        *level = 1;
        return 0;
    case 21:
        *level = 2;
        return 0;
    case 30:
        *level = 3;
        return 0;
    default:
        return -EINVAL;
    }
}

int iommu_pt_map(iommu_pt_t *pt, uint64_t va, uint64_t pa, unsigned shift,
                 uint64_t attr)
{
    unsigned leaf_level;
    if (leaf_level_of(shift, &leaf_level))
        return -EINVAL;
    uint64_t size = 1ull << shift;
    if ((va & (size - 1)) || (pa & (size - 1)) || !va_fits(pt, va) ||
        leaf_level >= pt->levels || (pa & ~IOMMU_PTE_ADDR))
        return -EINVAL;
    uint64_t table = pt->root;
    for (unsigned level = pt->levels; level > leaf_level; level--) {
        uint64_t a = pte_addr(table, va, level);
        uint64_t pte = tbl_read(pt, a);
        if (!(pte & IOMMU_PTE_P)) {
            uint64_t t = tbl_alloc(pt);
            if (!t)
                return -ENOMEM;
            pte = t | TABLE_BITS;
            tbl_write(pt, a, pte);
        } else if (pte & IOMMU_PTE_PS) {
            return -EEXIST;
        }
        table = pte & IOMMU_PTE_ADDR;
    }
    uint64_t a = pte_addr(table, va, leaf_level);
    uint64_t old = tbl_read(pt, a);
    if ((old & IOMMU_PTE_P) && leaf_level > 1 && !(old & IOMMU_PTE_PS))
        return -EEXIST; /* a table of smaller pages is in the way */
    uint64_t pte = pa | IOMMU_PTE_P | (attr & IOMMU_PTE_ATTR);
    if (leaf_level > 1)
        pte |= IOMMU_PTE_PS;
    tbl_write(pt, a, pte);
    return 0;
}

int iommu_pt_map_range(iommu_pt_t *pt, uint64_t va, uint64_t pa, uint64_t len,
                       uint64_t attr, unsigned max_shift)
{
    static const unsigned shifts[] = {30, 21, 12};
    if ((va | pa | len) & (IOMMU_PAGE_SIZE - 1) ||
        (max_shift != 12 && max_shift != 21 && max_shift != 30))
        return -EINVAL;
    while (len) {
        unsigned shift = 12;
        for (unsigned i = 0; i < 3; i++) {
            uint64_t size = 1ull << shifts[i];
            if (shifts[i] <= max_shift && shifts[i] < level_shift(pt->levels) &&
                !((va | pa) & (size - 1)) && len >= size) {
                shift = shifts[i];
                break;
            }
        }
        int rc = iommu_pt_map(pt, va, pa, shift, attr);
        if (rc)
            return rc;
        va += 1ull << shift;
        pa += 1ull << shift;
        len -= 1ull << shift;
    }
    return 0;
}

/* What clear_range does with each leaf inside the range. */
typedef struct leaf_op {
    bool protect; /* set attr instead of clearing */
    uint64_t attr;
    iommu_pt_leaf_fn fn;
    void *opaque;
} leaf_op_t;

/* Apply op to the leaves of [start, end] (inclusive) below `table` at
 * `level`. The table's entries are accessed in place (one address
 * translation per table, not per entry). */
static int range_op(iommu_pt_t *pt, uint64_t table, unsigned level,
                    uint64_t base, uint64_t start, uint64_t end,
                    const leaf_op_t *op)
{
    unsigned sh = level_shift(level);
    uint64_t span = 1ull << sh;
    int rc = 0;
    uint64_t *e = tbl_frame(pt, table);
    if (!e)
        return 0; /* no storage: every entry reads as not present */
    unsigned first = start > base ? (unsigned)((start - base) >> sh) : 0;
    for (unsigned i = first; i < 512; i++) {
        uint64_t lo = base + (uint64_t)i * span;
        uint64_t hi = lo + span - 1;
        if (lo > end)
            break;
        uint64_t pte = e[i];
        if (!(pte & IOMMU_PTE_P))
            continue;
        if (level == 1 || (pte & IOMMU_PTE_PS)) {
            if (lo < start || hi > end) {
                rc = -EINVAL; /* partial huge page */
                continue;
            }
            if (op->protect) {
                e[i] = (pte & ~IOMMU_PTE_ATTR) | (op->attr & IOMMU_PTE_ATTR);
                continue;
            }
            e[i] = 0;
            if (op->fn)
                op->fn(op->opaque, lo, pte & IOMMU_PTE_ADDR, sh);
            continue;
        }
        int r =
            range_op(pt, pte & IOMMU_PTE_ADDR, level - 1, lo, start, end, op);
        if (r)
            rc = r;
    }
    return rc;
}

/* Check [va, va+len) and run op over it. */
static int pt_range(iommu_pt_t *pt, uint64_t va, uint64_t len,
                    const leaf_op_t *op)
{
    if (len == 0)
        return 0;
    if (!va_fits(pt, va) || va + len - 1 < va || !va_fits(pt, va + len - 1))
        return -EINVAL;
    return range_op(pt, pt->root, pt->levels, 0, va, va + len - 1, op);
}

int iommu_pt_unmap(iommu_pt_t *pt, uint64_t va, uint64_t len,
                   iommu_pt_leaf_fn fn, void *opaque)
{
    leaf_op_t op = {.protect = false, .fn = fn, .opaque = opaque};
    return pt_range(pt, va, len, &op);
}

int iommu_pt_protect(iommu_pt_t *pt, uint64_t va, uint64_t len, uint64_t attr)
{
    leaf_op_t op = {.protect = true, .attr = attr};
    return pt_range(pt, va, len, &op);
}

void iommu_pt_walk(const iommu_pt_t *pt, uint64_t va, iommu_walk_t *out)
{
    out->reads = 0;
    out->perm = IOMMU_PTE_PERM;
    out->pa = 0;
    out->pte = 0;
    out->shift = IOMMU_PAGE_SHIFT;
    out->outcome = IOMMU_WALK_S1_NOT_PRESENT;
    if (!va_fits(pt, va))
        return;
    uint64_t table = pt->root;
    for (unsigned level = pt->levels; level >= 1; level--) {
        uint64_t pte = tbl_read(pt, pte_addr(table, va, level));
        out->reads++;
        if (!(pte & IOMMU_PTE_P))
            return;
        out->perm &= pte & IOMMU_PTE_PERM;
        if (level == 1 || (pte & IOMMU_PTE_PS)) {
            unsigned sh = level_shift(level);
            out->shift = sh;
            out->pte = pte;
            out->pa = (pte & IOMMU_PTE_ADDR & ~((1ull << sh) - 1)) |
                      (va & ((1ull << sh) - 1));
            out->outcome = IOMMU_WALK_OK;
            return;
        }
        table = pte & IOMMU_PTE_ADDR;
    }
}
