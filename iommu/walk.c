/*
 * walk.c - translation: the IOTLB, the paging-structure caches (PSC), the
 * stage-2 TLB, single-stage and nested walks on the tables in simulated
 * memory, permission checks, accessed/dirty updates, and invalidation of
 * these caches.
 *
 * A walk of one stage first looks for the lowest-level PSC entry covering
 * the input address (an entry of level L points to the table of level L-1,
 * so a hit at level 2 leaves one read), then reads one entry per level
 * down to the leaf, caching each non-leaf entry it reads (x86 / VT-d
 * paging-structure caches; Fast & Safe SOSP'24: 1 to 4 reads per miss
 * with PTcache-L1..L3). In nested mode every stage-1 table address and the
 * final guest physical address are translated through stage 2 (stage-2
 * TLB, then a stage-2 walk with its own PSCs), so a walk with cold caches
 * reads (n + 1)(m + 1) - 1 entries: 24 for 4 x 4 levels ([D]; Bhargava et
 * al., "Accelerating Two-Dimensional Page Walks for Virtualized Systems",
 * ASPLOS'08; HyperSIO defines.h SIM_LAT_PTW_NUM 24).
 * Stage-1 PSC entries of a nested walk hold guest physical table
 * addresses, so a change of stage 2 does not make them stale.
 *
 * Cache entries (see cache.h for the generic cache):
 *   IOTLB   key = input >> shift, tag = 1 | shift << 1 | pasid << 8 |
 *           domain << 28, val = output >> shift, aux = perm (R,W,X,U in
 *           bits 0-3) | dirty (4) | kind (6-7: s1, s2, nested) | stage-2
 *           domain (16-31)
 *   PSC     key = input >> level shift, tag = 1 | pasid << 8 | domain << 28
 *           (stage 1) or 1 | stage-2 domain << 28 (stage 2), val = next
 *           table address, aux = permissions ANDed down to the entry
 *   S2 TLB  key = GPA >> shift, tag = 1 | shift << 1 | stage-2 domain << 28,
 *           val = HPA >> shift, aux = permissions
 */
#include <errno.h>

#include "iommu/ctx.h"
#include "iommu/walk.h"

#define RWX (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X)
#define KIND_S1 0u
#define KIND_S2 1u
#define KIND_NESTED 2u
#define AUX_DIRTY 0x10u

/* Entries recorded for accessed/dirty updates. */
typedef struct adrec {
    uint64_t hpa[5];
    uint64_t pte[5];
    unsigned n;
} adrec_t;

/* The leaf a stage walk ends at. */
typedef struct leaf {
    uint64_t out;  /* output address of the input address */
    uint64_t perm; /* IOMMU_PTE_PERM bits ANDed along the path */
    unsigned shift;
} leaf_t;

/* Bits of input address below the entries of a level-`level` table. */
static inline unsigned lshift(unsigned level)
{
    return IOMMU_PAGE_SHIFT + 9 * (level - 1);
}

/* Offset mask of a page of 1 << shift bytes. */
static inline uint64_t mask_of(unsigned shift)
{
    return (1ull << shift) - 1;
}

/* IOTLB tag (see the top of this file). */
static inline uint64_t iotlb_tag(uint16_t domain, uint32_t pasid,
                                 unsigned shift)
{
    return 1 | ((uint64_t)shift << 1) | ((uint64_t)pasid << 8) |
           ((uint64_t)domain << 28);
}

/* Stage-1 paging-structure cache tag. */
static inline uint64_t s1_tag(uint16_t domain, uint32_t pasid)
{
    return 1 | ((uint64_t)pasid << 8) | ((uint64_t)domain << 28);
}

/* Stage-2 paging-structure cache / stage-2 TLB tag (without size). */
static inline uint64_t s2_tag(uint16_t s2_domain)
{
    return 1 | ((uint64_t)s2_domain << 28);
}

/* IOMMU_PTE_PERM bits <-> 4 bits of an IOTLB aux. */
static inline uint32_t perm_pack(uint64_t perm)
{
    return (uint32_t)((perm & IOMMU_PTE_PERM) >> 1);
}

/* The IOMMU_PTE_PERM bits of a packed aux. */
static inline uint64_t perm_unpack(uint32_t aux)
{
    return ((uint64_t)aux & 0xf) << 1;
}

/* PTE permission bits an access needs (PCIE_F_R/W/X). */
static inline uint64_t need_of(unsigned access)
{
    return ((access & PCIE_F_R) ? IOMMU_PTE_R : 0) |
           ((access & PCIE_F_W) ? IOMMU_PTE_W : 0) |
           ((access & PCIE_F_X) ? IOMMU_PTE_X : 0);
}

static iommu_walk_outcome_t s2_translate(iommu_t *u, const iommu_pe_t *pe,
                                         uint64_t gpa, iommu_xlate_t *x,
                                         adrec_t *ad, leaf_t *leaf);

/*
 * Walk the tables of stage s (0: stage 1, 1: stage 2) from `root`. With
 * gp, table addresses are guest physical and each is translated through
 * gp's stage 2 first (a fault there is the outcome, with x->fault_addr the
 * table's GPA). Entries read are recorded in ad when non-NULL.
 */
static iommu_walk_outcome_t walk_tables(iommu_t *u, unsigned s, uint64_t root,
                                        unsigned levels, uint64_t tag,
                                        const iommu_pe_t *gp, uint64_t in,
                                        iommu_xlate_t *x, adrec_t *ad,
                                        leaf_t *leaf)
{
    iommu_walk_outcome_t np =
        s ? IOMMU_WALK_S2_NOT_PRESENT : IOMMU_WALK_S1_NOT_PRESENT;
    unsigned bits = iommu_pt_va_bits(levels);
    if (bits < 64 && (in >> bits))
        return np; /* beyond the input address width */
    icache_t *psc = u->psc[s];
    uint64_t table = root, perm = IOMMU_PTE_PERM;
    unsigned level = levels;
    for (unsigned l = 2; l <= levels; l++) {
        if (!psc[l].e)
            continue;
        icache_ent_t *e = icache_find(&psc[l], in >> lshift(l), tag);
        if (e) {
            u->s.psc_hits[s][l]->value++;
            x->psc_hits++;
            table = e->val;
            perm = e->aux;
            level = l - 1;
            break;
        }
        u->s.psc_misses[s][l]->value++;
    }
    for (;; level--) {
        uint64_t ea = table + ((in >> lshift(level)) & 511) * 8;
        uint64_t hpa = ea;
        if (gp) {
            leaf_t t;
            iommu_walk_outcome_t r = s2_translate(u, gp, ea, x, NULL, &t);
            if (r == IOMMU_WALK_OK && !(t.perm & IOMMU_PTE_R))
                r = IOMMU_WALK_S2_PERM;
            if (r != IOMMU_WALK_OK) {
                x->fault_table = true;
                x->fault_addr = ea & ~mask_of(IOMMU_PAGE_SHIFT);
                return r;
            }
            hpa = t.out;
        }
        uint64_t pte = iommu_mem_read64(u->mem, hpa);
        x->reads++;
        if (!(pte & IOMMU_PTE_P))
            return np;
        perm &= pte & IOMMU_PTE_PERM;
        if (ad && ad->n < 5) {
            ad->hpa[ad->n] = hpa;
            ad->pte[ad->n++] = pte;
        }
        if (level == 1 || (pte & IOMMU_PTE_PS)) {
            unsigned sh = lshift(level);
            leaf->shift = sh;
            leaf->perm = perm;
            leaf->out =
                (pte & IOMMU_PTE_ADDR & ~mask_of(sh)) | (in & mask_of(sh));
            return IOMMU_WALK_OK;
        }
        table = pte & IOMMU_PTE_ADDR;
        if (psc[level].e) {
            icache_ent_t *e =
                iommu_cache_fill(&psc[level], in >> lshift(level), tag);
            e->val = table;
            e->aux = (uint32_t)perm;
        }
    }
}

/* Translate a GPA through pe's stage 2: stage-2 TLB, else a walk. */
static iommu_walk_outcome_t s2_translate(iommu_t *u, const iommu_pe_t *pe,
                                         uint64_t gpa, iommu_xlate_t *x,
                                         adrec_t *ad, leaf_t *leaf)
{
    uint64_t tag = s2_tag(pe->s2_domain);
    if (u->s2tlb.e) {
        for (uint32_t m = u->s2tlb_shifts; m; m &= m - 1) {
            unsigned sh = (unsigned)__builtin_ctz(m);
            icache_ent_t *e =
                icache_find(&u->s2tlb, gpa >> sh, tag | ((uint64_t)sh << 1));
            if (e) {
                u->s2tlb.hits->value++;
                x->psc_hits++;
                leaf->out = (e->val << sh) | (gpa & mask_of(sh));
                leaf->perm = e->aux;
                leaf->shift = sh;
                return IOMMU_WALK_OK;
            }
        }
        u->s2tlb.misses->value++;
    }
    iommu_walk_outcome_t r = walk_tables(u, 1, pe->s2_root, pe->s2_levels, tag,
                                         NULL, gpa, x, ad, leaf);
    if (r == IOMMU_WALK_OK && u->s2tlb.e) {
        icache_ent_t *e = iommu_cache_fill(&u->s2tlb, gpa >> leaf->shift,
                                           tag | ((uint64_t)leaf->shift << 1));
        e->val = leaf->out >> leaf->shift;
        e->aux = (uint32_t)leaf->perm;
        u->s2tlb_shifts |= 1u << leaf->shift;
    }
    return r;
}

/* The IOTLB entry translating va for (domain, pasid), or NULL. */
static icache_ent_t *iotlb_find(iommu_t *u, uint16_t domain, uint32_t pasid,
                                uint64_t va, unsigned *shift)
{
    for (uint32_t m = u->iotlb_shifts; m; m &= m - 1) {
        unsigned sh = (unsigned)__builtin_ctz(m);
        icache_ent_t *e =
            icache_find(&u->iotlb, va >> sh, iotlb_tag(domain, pasid, sh));
        if (e) {
            *shift = sh;
            return e;
        }
    }
    return NULL;
}

/* Granted R/W/X of a translation for an access (stage-1 user pages only
 * for unprivileged requests: x86 / VT-d first-stage U/S). */
static uint64_t granted(const iommu_xlate_t *x, unsigned access)
{
    uint64_t p1 = x->perm1;
    if ((x->mode == IOMMU_MODE_S1 || x->mode == IOMMU_MODE_NESTED) &&
        !(access & PCIE_F_PRIV) && !(p1 & IOMMU_PTE_U))
        p1 &= ~RWX;
    return p1 & x->perm2 & RWX;
}

/* Set A on the recorded entries and D on the leaf for a write; count the
 * writes. */
static void ad_update(iommu_t *u, adrec_t *ad, bool write, iommu_xlate_t *x)
{
    for (unsigned i = 0; i < ad->n; i++) {
        uint64_t v = ad->pte[i] | IOMMU_PTE_A;
        if (write && i == ad->n - 1)
            v |= IOMMU_PTE_D;
        if (v != ad->pte[i]) {
            iommu_mem_write64(u->mem, ad->hpa[i], v);
            x->ad_writes++;
            u->s.ad_writes->value++;
        }
    }
    x->dirty = ad->n && ((ad->pte[ad->n - 1] & IOMMU_PTE_D) || write);
}

void iommu_walk_fill(iommu_t *u, uint32_t pasid, uint64_t va,
                     const iommu_xlate_t *x)
{
    if (x->outcome != IOMMU_WALK_OK && x->outcome != IOMMU_WALK_S1_PERM &&
        x->outcome != IOMMU_WALK_S2_PERM)
        return;
    if (x->mode == IOMMU_MODE_BYPASS)
        return;
    pasid &= PCIE_PASID_MAX - 1;
    unsigned sh = x->shift;
    icache_ent_t *e =
        iommu_cache_fill(&u->iotlb, va >> sh, iotlb_tag(x->domain, pasid, sh));
    uint32_t kind = x->mode == IOMMU_MODE_S1   ? KIND_S1
                    : x->mode == IOMMU_MODE_S2 ? KIND_S2
                                               : KIND_NESTED;
    uint64_t perm = (x->perm1 & x->perm2 & RWX) | (x->perm1 & IOMMU_PTE_U);
    e->val = x->pa >> sh;
    e->aux = perm_pack(perm) | (x->dirty ? AUX_DIRTY : 0) | (kind << 6) |
             ((uint32_t)x->s2_domain << 16);
    u->iotlb_shifts |= 1u << sh;
}

void iommu_walk_translate(iommu_t *u, uint16_t rid, uint32_t pasid, uint64_t va,
                          unsigned access, iommu_xlate_t *x, bool fill)
{
    const iommu_cfg_t *c = &u->cfg;
    pasid &= PCIE_PASID_MAX - 1;
    x->reads = x->ctx_reads = x->psc_hits = x->ad_writes = 0;
    x->iotlb_hit = false;
    x->fault_table = false;
    x->fault_addr = 0;
    x->dirty = false;
    bool walked = false, write = access & PCIE_F_W;
    uint64_t need = need_of(access);
    iommu_pe_t pe;
    iommu_walk_outcome_t r;
    adrec_t ad; /* entries to update, when walking with A/D updates */
    adrec_t *adp = NULL;
    leaf_t l1, l2;
    /* The hot path: PASID cache hit, IOTLB hit that grants
     * the access; no call, nothing else touched. */
    icache_ent_t *pc =
        icache_find(&u->pasidc, ((uint64_t)rid << 20) | pasid, 1);
    if (pc) {
        u->pasidc.hits->value++;
        iommu_pe_unpack(pc, &pe);
        r = IOMMU_WALK_OK;
    } else {
        r = iommu_ctx_fetch(u, rid, pasid, x, &pe);
    }
    x->mode = pe.mode;
    x->domain = pe.domain;
    x->s2_domain = pe.s2_domain;
    x->perm1 = x->perm2 = IOMMU_PTE_PERM;
    x->pa = 0;
    x->perm = 0;
    x->shift = IOMMU_PAGE_SHIFT;
    if (r != IOMMU_WALK_OK) {
        x->mode = IOMMU_MODE_BYPASS;
        x->domain = x->s2_domain = 0;
        u->s.walk_outcome[r]->value++;
        goto done;
    }
    if (pe.mode == IOMMU_MODE_BYPASS) {
        x->pa = va;
        goto check;
    }
    unsigned sh;
    icache_ent_t *e = iotlb_find(u, pe.domain, pasid, va, &sh);
    if (e) {
        /* A hit serves only when it grants the access (and, with A/D
         * updates, a write finds the entry dirty); otherwise the walker
         * re-reads the tables, which also sees permission upgrades that
         * were not invalidated. */
        uint64_t perm = perm_unpack(e->aux), g = perm & RWX;
        if (pe.mode != IOMMU_MODE_S2 && !(access & PCIE_F_PRIV) &&
            !(perm & IOMMU_PTE_U))
            g = 0;
        if (!(need & ~g) &&
            !(write && c->ad == IOMMU_AD_ON && !(e->aux & AUX_DIRTY))) {
            u->iotlb.hits->value++;
            x->iotlb_hit = true;
            x->outcome = IOMMU_WALK_OK;
            x->perm1 = x->perm2 = perm;
            x->perm = g;
            x->pa = (e->val << sh) | (va & mask_of(sh));
            x->shift = sh;
            x->dirty = e->aux & AUX_DIRTY;
            x->latency = c->ctx_hit + c->iotlb_hit +
                         (sim_time_t)x->ctx_reads * c->walk_read;
            return;
        }
    }
    u->iotlb.misses->value++;
    walked = true;
    if (c->ad == IOMMU_AD_ON) {
        ad.n = 0;
        adp = &ad;
    }
    switch (pe.mode) {
    case IOMMU_MODE_S1:
        r = walk_tables(u, 0, pe.s1_root, pe.s1_levels,
                        s1_tag(pe.domain, pasid), NULL, va, x, adp, &l1);
        if (r == IOMMU_WALK_OK) {
            x->pa = l1.out;
            x->shift = l1.shift;
            x->perm1 = l1.perm;
        } else {
            x->fault_addr = va;
        }
        break;
    case IOMMU_MODE_S2:
        r = s2_translate(u, &pe, va, x, adp, &l2);
        if (r == IOMMU_WALK_OK) {
            x->pa = l2.out;
            x->shift = l2.shift;
            x->perm2 = l2.perm;
        } else {
            x->fault_addr = va;
        }
        break;
    default: /* nested */
        r = walk_tables(u, 0, pe.s1_root, pe.s1_levels,
                        s1_tag(pe.domain, pasid), &pe, va, x, adp, &l1);
        if (r == IOMMU_WALK_S1_NOT_PRESENT) {
            x->fault_addr = va;
            break;
        }
        if (r != IOMMU_WALK_OK)
            break; /* a stage-2 fault on a table: fault_addr is its GPA */
        r = s2_translate(u, &pe, l1.out, x, NULL, &l2);
        if (r != IOMMU_WALK_OK) {
            x->fault_addr = l1.out;
            break;
        }
        x->pa = l2.out;
        x->shift = l1.shift < l2.shift ? l1.shift : l2.shift;
        x->perm1 = l1.perm;
        x->perm2 = l2.perm;
        /* The GPA of the access, should the stage-2 check fail. */
        x->fault_addr = l1.out;
        break;
    }
    if (r != IOMMU_WALK_OK)
        goto out;
check:
    x->perm = granted(x, access);
    if (!(access & IOMMU_XL_NOCHECK) && (need & ~x->perm)) {
        uint64_t p1 = x->perm1;
        if ((x->mode == IOMMU_MODE_S1 || x->mode == IOMMU_MODE_NESTED) &&
            !(access & PCIE_F_PRIV) && !(p1 & IOMMU_PTE_U))
            p1 &= ~RWX;
        if (need & ~p1) {
            r = IOMMU_WALK_S1_PERM;
            x->fault_addr = va;
        } else {
            r = IOMMU_WALK_S2_PERM;
            if (x->mode != IOMMU_MODE_NESTED)
                x->fault_addr = va;
        }
    } else if (walked && adp) {
        ad_update(u, adp, write && (x->perm & IOMMU_PTE_W), x);
    }
    if (r == IOMMU_WALK_OK && x->mode != IOMMU_MODE_NESTED)
        x->fault_addr = 0;
out:
    x->outcome = r;
    if (walked) {
        u->s.walk_outcome[r]->value++;
        sim_hist_add(u->s.walk_reads, x->reads);
        if (fill)
            iommu_walk_fill(u, pasid, va, x);
    }
done:
    x->outcome = r;
    x->latency =
        c->ctx_hit + c->iotlb_hit +
        (sim_time_t)(x->ctx_reads + x->reads + x->ad_writes) * c->walk_read +
        (sim_time_t)x->psc_hits * c->psc_hit;
}

/* ------------------------------------------------------ invalidation */

/* Whether [lo, lo + size) overlaps [addr, addr + len) (len 0: all). */
static bool overlaps(uint64_t lo, uint64_t size, uint64_t addr, uint64_t len)
{
    if (len == 0)
        return true;
    uint64_t hi = lo + size - 1, last = addr + len - 1;
    if (last < addr)
        last = UINT64_MAX;
    return hi >= addr && lo <= last;
}

/* Whether an entry tagged (domain, pasid) that covers [lo, lo + size)
 * falls under a global, domain, PASID or range invalidation. */
static bool s1_match(const iommu_inv_t *inv, uint16_t domain, uint32_t pasid,
                     uint64_t lo, uint64_t size)
{
    switch (inv->gran) {
    case IOMMU_INV_GLOBAL:
        return true;
    case IOMMU_INV_DOMAIN:
        return domain == inv->domain;
    case IOMMU_INV_PASID:
        return domain == inv->domain && pasid == inv->pasid;
    case IOMMU_INV_RANGE:
        return domain == inv->domain &&
               (inv->any_pasid || pasid == inv->pasid) &&
               overlaps(lo, size, inv->addr, inv->len);
    default:
        return false;
    }
}

/* IOTLB entries an invalidation covers. */
static bool match_iotlb(const icache_ent_t *e, const void *arg)
{
    const iommu_inv_t *inv = arg;
    unsigned sh = (unsigned)(e->tag >> 1) & 0x7f;
    unsigned kind = (e->aux >> 6) & 3;
    uint16_t vmid = (uint16_t)(e->aux >> 16);
    if (inv->gran == IOMMU_INV_S2_RANGE)
        return vmid == inv->domain &&
               (kind == KIND_NESTED ||
                (kind == KIND_S2 &&
                 overlaps(e->key << sh, 1ull << sh, inv->addr, inv->len)));
    if (inv->gran == IOMMU_INV_DOMAIN && kind != KIND_S1 && vmid == inv->domain)
        return true; /* tagged with it as a stage-2 domain */
    return s1_match(inv, (uint16_t)(e->tag >> 28),
                    (uint32_t)(e->tag >> 8) & (PCIE_PASID_MAX - 1),
                    e->key << sh, 1ull << sh);
}

typedef struct psc_arg {
    const iommu_inv_t *inv;
    unsigned level;
} psc_arg_t;

/* Stage-1 paging-structure cache entries an invalidation covers. */
static bool match_psc1(const icache_ent_t *e, const void *arg)
{
    const psc_arg_t *a = arg;
    unsigned sh = lshift(a->level);
    return s1_match(a->inv, (uint16_t)(e->tag >> 28),
                    (uint32_t)(e->tag >> 8) & (PCIE_PASID_MAX - 1),
                    e->key << sh, 1ull << sh);
}

/* Stage-2 paging-structure cache (level set) or stage-2 TLB (level 0)
 * entries an invalidation covers. */
static bool match_s2(const icache_ent_t *e, const void *arg)
{
    const psc_arg_t *a = arg;
    const iommu_inv_t *inv = a->inv;
    uint16_t vmid = (uint16_t)(e->tag >> 28);
    unsigned sh = a->level ? lshift(a->level)
                           : (unsigned)(e->tag >> 1) & 0x7f; /* S2 TLB */
    switch (inv->gran) {
    case IOMMU_INV_GLOBAL:
        return true;
    case IOMMU_INV_DOMAIN:
        return vmid == inv->domain;
    case IOMMU_INV_S2_RANGE:
        return vmid == inv->domain &&
               overlaps(e->key << sh, 1ull << sh, inv->addr, inv->len);
    default:
        return false;
    }
}

/* Probes beyond which a range invalidation scans the caches instead. */
#define PROBE_MAX 64

/* Invalidate, in c, the entries tagged `tag` of the blocks of 1 << sh
 * bytes (key = address >> sh) that cover [addr, addr + len); false when
 * that takes more than PROBE_MAX probes (nothing done). */
static bool inval_blocks(icache_t *c, uint64_t tag, unsigned sh, uint64_t addr,
                         uint64_t len, sim_counter_t *count)
{
    uint64_t last = addr + len - 1;
    if (last < addr || (last >> sh) - (addr >> sh) >= PROBE_MAX)
        return false;
    for (uint64_t k = addr >> sh; k <= last >> sh; k++)
        count->value += iommu_cache_inval_key(c, k, tag);
    return true;
}

/* A range invalidation of one PASID, by probing the sets the range maps
 * to rather than scanning (what hardware does; the effect is the same as
 * iommu_invalidate_iotlb's scan). False if the range is too large. */
static bool inval_range_probe(iommu_t *u, const iommu_inv_t *inv)
{
    if (inv->gran != IOMMU_INV_RANGE || inv->any_pasid || !inv->len ||
        inv->len > (uint64_t)PROBE_MAX << IOMMU_PAGE_SHIFT)
        return false;
    for (uint32_t m = u->iotlb_shifts; m; m &= m - 1) {
        unsigned sh = (unsigned)__builtin_ctz(m);
        if (!inval_blocks(&u->iotlb, iotlb_tag(inv->domain, inv->pasid, sh), sh,
                          inv->addr, inv->len, u->s.iotlb_inval))
            return false; /* (only with sizes below 4 KiB: never) */
    }
    if (inv->leaf_only)
        return true;
    for (unsigned l = 2; l < IOMMU_PSC_LEVELS; l++)
        if (u->psc[0][l].used)
            inval_blocks(&u->psc[0][l], s1_tag(inv->domain, inv->pasid),
                         lshift(l), inv->addr, inv->len, u->s.psc_inval);
    return true;
}

void iommu_walk_inval(iommu_t *u, const iommu_inv_t *inv)
{
    u->inv_epoch++;
    if (inval_range_probe(u, inv))
        return;
    u->s.iotlb_inval->value += iommu_cache_inval(&u->iotlb, match_iotlb, inv);
    psc_arg_t a = {inv, 0};
    if (u->s2tlb.e)
        u->s.psc_inval->value += iommu_cache_inval(&u->s2tlb, match_s2, &a);
    if (inv->leaf_only)
        return;
    for (unsigned l = 2; l < IOMMU_PSC_LEVELS; l++) {
        a.level = l;
        if (u->psc[0][l].e)
            u->s.psc_inval->value +=
                iommu_cache_inval(&u->psc[0][l], match_psc1, &a);
        if (u->psc[1][l].e)
            u->s.psc_inval->value +=
                iommu_cache_inval(&u->psc[1][l], match_s2, &a);
    }
}
