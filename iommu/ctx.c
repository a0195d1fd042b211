/*
 * ctx.c - context and PASID tables in simulated memory and their caches.
 *
 * (RID, PASID) resolve as in VT-d scalable mode (the SMMUv3 stream table
 * and CD tables play the same roles): the root table (one frame, indexed
 * by bus) points to context tables (one frame per half bus: 128 entries of
 * 32 bytes), a context entry to a PASID directory (PASID[19:6], 16384
 * entries of 8 bytes: 32 frames reserved, each given storage when first
 * used), a directory entry to a PASID table (64 entries of 64 bytes).
 * Entry formats (a subset of VT-d's, plus two simulator fields):
 *   root entry   qw0 = lower context table | P, qw1 = upper | P
 *   context      qw0 = PASID directory | PDTS (11:9) = 7 | P
 *   dir entry    qw0 = PASID table | P
 *   PASID entry  qw0 = stage-2 root (63:12) | PGTT (8:6) | AW (4:2) | P
 *                qw1 = DID (15:0) | PRE (bit 23, simulator: VT-d keeps
 *                      PRE in the context entry)
 *                qw2 = stage-1 root (63:12) | FLPM (3:2)
 *                qw3 = stage-2 domain (15:0, simulator: the SMMUv3 VMID)
 * PGTT: 1 first-stage, 2 second-stage, 3 nested, 4 pass-through (VT-d);
 * AW = levels - 2 (2: 48-bit 4-level, 3: 57-bit 5-level); FLPM = levels -
 * 4. A lookup that misses the context cache reads the root and context
 * entries (2 reads); one that misses the PASID cache reads the directory
 * and PASID entries (2 reads).
 */
#include <errno.h>

#include "iommu/ctx.h"

#define CTX_PDTS (7ull << 9)
#define DIR_FRAMES 32
#define PE_PRE (1ull << 23)

static const uint8_t mode_to_pgtt[] = {4, 1, 2, 3};

/* Mode of a PGTT value, or -1. */
static int pgtt_to_mode(unsigned pgtt)
{
    switch (pgtt) {
    case 1:
        return IOMMU_MODE_S1;
    case 2:
        return IOMMU_MODE_S2;
    case 3:
        return IOMMU_MODE_NESTED;
    case 4:
        return IOMMU_MODE_BYPASS;
    default:
        return -1;
    }
}

int iommu_ctx_init(iommu_t *u)
{
    u->root_table = iommu_mem_alloc(u->mem, true);
    return u->root_table ? 0 : -ENOMEM;
}

/* Address of the root-table half entry (lower/upper) of rid. */
static uint64_t root_entry_addr(const iommu_t *u, uint16_t rid)
{
    return u->root_table + (uint64_t)(rid >> 8) * 16 + ((rid >> 7) & 1) * 8;
}

/* Address of rid's 32-byte entry in its half-bus context table. */
static uint64_t ctx_entry_addr(uint64_t table, uint16_t rid)
{
    return table + (uint64_t)(rid & 127) * 32;
}

/* Address of the entry for `index` in a table, creating the table (a new
 * backed frame) when absent. Returns 0 when out of memory. */
static uint64_t table_get(iommu_mem_t *mem, uint64_t entry)
{
    uint64_t v = iommu_mem_read64(mem, entry);
    if (v & 1)
        return v & IOMMU_PTE_ADDR;
    uint64_t t = iommu_mem_alloc(mem, true);
    if (t)
        iommu_mem_write64(mem, entry, t | 1);
    return t;
}

/* The PASID directory of rid, created when absent (0: out of memory). */
static uint64_t dir_get(iommu_t *u, uint16_t rid)
{
    uint64_t ctable = table_get(u->mem, root_entry_addr(u, rid));
    if (!ctable)
        return 0;
    uint64_t ce = ctx_entry_addr(ctable, rid);
    uint64_t v = iommu_mem_read64(u->mem, ce);
    if (v & 1)
        return v & IOMMU_PTE_ADDR;
    uint64_t dir = iommu_mem_alloc_range(u->mem, DIR_FRAMES, DIR_FRAMES);
    if (dir)
        iommu_mem_write64(u->mem, ce, dir | CTX_PDTS | 1);
    return dir;
}

/* Address of the PASID entry of (rid, pasid); create: build the tables on
 * the way. 0 when absent (or out of memory). */
static uint64_t pasid_entry_addr(iommu_t *u, uint16_t rid, uint32_t pasid,
                                 bool create)
{
    uint64_t dir;
    if (create) {
        dir = dir_get(u, rid);
    } else {
        uint64_t r = iommu_mem_read64(u->mem, root_entry_addr(u, rid));
        if (!(r & 1))
            return 0;
        uint64_t c =
            iommu_mem_read64(u->mem, ctx_entry_addr(r & IOMMU_PTE_ADDR, rid));
        dir = (c & 1) ? c & IOMMU_PTE_ADDR : 0;
    }
    if (!dir)
        return 0;
    uint64_t de = dir + (uint64_t)(pasid >> 6) * 8;
    if (create && !iommu_mem_is_backed(u->mem, de) &&
        iommu_mem_back(u->mem, de))
        return 0;
    uint64_t table;
    if (create) {
        table = table_get(u->mem, de);
    } else {
        uint64_t v = iommu_mem_read64(u->mem, de);
        table = (v & 1) ? v & IOMMU_PTE_ADDR : 0;
    }
    return table ? table + (uint64_t)(pasid & 63) * 64 : 0;
}

int iommu_ctx_set(iommu_t *u, uint16_t rid, uint32_t pasid,
                  const iommu_pasid_entry_t *e)
{
    if (pasid >= PCIE_PASID_MAX || (unsigned)e->mode > IOMMU_MODE_NESTED)
        return -EINVAL;
    bool s1 = e->mode == IOMMU_MODE_S1 || e->mode == IOMMU_MODE_NESTED;
    bool s2 = e->mode == IOMMU_MODE_S2 || e->mode == IOMMU_MODE_NESTED;
    if ((s1 && (e->s1.levels < 4 || e->s1.levels > 5)) ||
        (s2 && (e->s2.levels < 2 || e->s2.levels > 5)))
        return -EINVAL;
    uint64_t a = pasid_entry_addr(u, rid, pasid, true);
    if (!a)
        return -ENOMEM;
    uint64_t qw0 = 1 | ((uint64_t)mode_to_pgtt[e->mode] << 6);
    uint64_t qw2 = 0;
    if (s2)
        qw0 |=
            (e->s2.root & IOMMU_PTE_ADDR) | ((uint64_t)(e->s2.levels - 2) << 2);
    if (s1)
        qw2 =
            (e->s1.root & IOMMU_PTE_ADDR) | ((uint64_t)(e->s1.levels - 4) << 2);
    iommu_mem_write64(u->mem, a + 8, e->domain | (e->pri ? PE_PRE : 0));
    iommu_mem_write64(u->mem, a + 16, qw2);
    iommu_mem_write64(u->mem, a + 24, e->s2_domain);
    iommu_mem_write64(u->mem, a, qw0);
    return 0;
}

void iommu_ctx_clear(iommu_t *u, uint16_t rid, uint32_t pasid)
{
    uint64_t a = pasid_entry_addr(u, rid, pasid & (PCIE_PASID_MAX - 1), false);
    if (a)
        iommu_mem_write64(u->mem, a, 0);
}

/* Decode the PASID entry at a; false if not present or malformed. */
static bool pe_decode(const iommu_mem_t *mem, uint64_t a, iommu_pe_t *pe)
{
    uint64_t qw0 = iommu_mem_read64(mem, a);
    int mode = pgtt_to_mode((unsigned)(qw0 >> 6) & 7);
    if (!(qw0 & 1) || mode < 0)
        return false;
    uint64_t qw1 = iommu_mem_read64(mem, a + 8);
    uint64_t qw2 = iommu_mem_read64(mem, a + 16);
    uint64_t qw3 = iommu_mem_read64(mem, a + 24);
    pe->mode = (uint8_t)mode;
    pe->pri = qw1 & PE_PRE;
    pe->domain = (uint16_t)qw1;
    pe->s2_domain = (uint16_t)qw3;
    pe->s2_root = qw0 & IOMMU_PTE_ADDR;
    pe->s2_levels = (uint8_t)(((qw0 >> 2) & 7) + 2);
    pe->s1_root = qw2 & IOMMU_PTE_ADDR;
    pe->s1_levels = (uint8_t)(((qw2 >> 2) & 3) + 4);
    return true;
}

bool iommu_ctx_get(const iommu_t *u, uint16_t rid, uint32_t pasid,
                   iommu_pasid_entry_t *out)
{
    uint64_t a = pasid_entry_addr((iommu_t *)u, rid,
                                  pasid & (PCIE_PASID_MAX - 1), false);
    iommu_pe_t pe;
    if (!a || !pe_decode(u->mem, a, &pe))
        return false;
    *out = (iommu_pasid_entry_t){
        .mode = (iommu_mode_t)pe.mode,
        .domain = pe.domain,
        .s2_domain = pe.s2_domain,
        .s1 = {.mem = u->mem, .root = pe.s1_root, .levels = pe.s1_levels},
        .s2 = {.mem = u->mem, .root = pe.s2_root, .levels = pe.s2_levels},
        .pri = pe.pri};
    return true;
}

/* PASID cache entry <-> decoded entry: the roots are 4 KiB aligned, so
 * their low bits carry levels, mode and PRE. */
static void pe_pack(icache_ent_t *e, const iommu_pe_t *pe)
{
    e->val = pe->s1_root | pe->s1_levels | ((uint64_t)pe->mode << 4) |
             ((uint64_t)pe->pri << 7);
    e->val2 = pe->s2_root | pe->s2_levels;
    e->aux = pe->domain | ((uint32_t)pe->s2_domain << 16);
}

/* Count a table read of the context path. */
static uint64_t ctx_read(iommu_t *u, uint64_t a, iommu_xlate_t *x)
{
    x->ctx_reads++;
    u->s.ctx_reads->value++;
    return iommu_mem_read64(u->mem, a);
}

/* Count a hit or a miss of an enabled cache. */
static void cache_count(icache_t *c, bool hit)
{
    if (c->e)
        (hit ? c->hits : c->misses)->value++;
}

iommu_walk_outcome_t iommu_ctx_lookup(iommu_t *u, uint16_t rid, uint32_t pasid,
                                      iommu_xlate_t *x, iommu_pe_t *pe)
{
    pasid &= PCIE_PASID_MAX - 1;
    icache_ent_t *e = icache_find(&u->pasidc, ((uint64_t)rid << 20) | pasid, 1);
    if (e) {
        u->pasidc.hits->value++;
        iommu_pe_unpack(e, pe);
        return IOMMU_WALK_OK;
    }
    return iommu_ctx_fetch(u, rid, pasid, x, pe);
}

iommu_walk_outcome_t iommu_ctx_fetch(iommu_t *u, uint16_t rid, uint32_t pasid,
                                     iommu_xlate_t *x, iommu_pe_t *pe)
{
    uint64_t key = ((uint64_t)rid << 20) | pasid;
    cache_count(&u->pasidc, false);
    uint64_t dir;
    icache_ent_t *c = icache_find(&u->ctxc, rid, 1);
    cache_count(&u->ctxc, c != NULL);
    if (c) {
        dir = c->val;
    } else {
        uint64_t r = ctx_read(u, root_entry_addr(u, rid), x);
        if (!(r & 1))
            return IOMMU_WALK_BAD_CONTEXT;
        uint64_t ce = ctx_read(u, ctx_entry_addr(r & IOMMU_PTE_ADDR, rid), x);
        if (!(ce & 1))
            return IOMMU_WALK_BAD_CONTEXT;
        dir = ce & IOMMU_PTE_ADDR;
        if (u->ctxc.e)
            iommu_cache_fill(&u->ctxc, rid, 1)->val = dir;
    }
    uint64_t de = ctx_read(u, dir + (uint64_t)(pasid >> 6) * 8, x);
    if (!(de & 1))
        return IOMMU_WALK_BAD_PASID;
    /* The 64-byte PASID entry is one read. */
    x->ctx_reads++;
    u->s.ctx_reads->value++;
    if (!pe_decode(u->mem, (de & IOMMU_PTE_ADDR) + (uint64_t)(pasid & 63) * 64,
                   pe))
        return IOMMU_WALK_BAD_PASID;
    if (u->pasidc.e)
        pe_pack(iommu_cache_fill(&u->pasidc, key, 1), pe);
    return IOMMU_WALK_OK;
}

/* ------------------------------------------------------ invalidation */

static bool match_ctx(const icache_ent_t *e, const void *arg)
{
    const iommu_inv_t *inv = arg;
    return inv->gran != IOMMU_INV_DEVICE || e->key == inv->rid;
}

void iommu_ctx_inval_context(iommu_t *u, const iommu_inv_t *inv)
{
    u->inv_epoch++;
    if (u->ctxc.e)
        u->s.ctx_inval->value += iommu_cache_inval(&u->ctxc, match_ctx, inv);
}

/* PASID-cache entries an invalidation covers. */
static bool match_pasid(const icache_ent_t *e, const void *arg)
{
    const iommu_inv_t *inv = arg;
    uint16_t domain = (uint16_t)e->aux;
    switch (inv->gran) {
    case IOMMU_INV_DOMAIN:
        return domain == inv->domain;
    case IOMMU_INV_PASID:
        return domain == inv->domain &&
               (e->key & (PCIE_PASID_MAX - 1)) == inv->pasid;
    case IOMMU_INV_DEVICE:
        return (e->key >> 20) == inv->rid;
    case IOMMU_INV_DEVICE_PASID:
        return e->key == (((uint64_t)inv->rid << 20) | inv->pasid);
    default:
        return true;
    }
}

void iommu_ctx_inval_pasid(iommu_t *u, const iommu_inv_t *inv)
{
    u->inv_epoch++;
    if (u->pasidc.e)
        u->s.pasid_inval->value +=
            iommu_cache_inval(&u->pasidc, match_pasid, inv);
}
