/*
 * tests/iommu/test_walk.c - the synchronous translation entry
 * (iommu_translate): exact memory reads per walk for single-stage 4- and
 * 5-level tables and nested 4 x 4 walks (24 with cold caches), with 2 MiB
 * and 1 GiB leaves at either stage, with paging-structure cache and
 * stage-2 TLB hits at each level; context/PASID table reads; the modelled
 * latency; every outcome (S1/S2 not present, S1/S2 permission, S2 fault on
 * a stage-1 table, invalid context, invalid PASID) with its fault address;
 * privilege and execute checks; accessed/dirty updates; bypass and
 * stage-2-only modes.
 *
 * Expected counts follow from the radix structure, not from the model: a
 * walk reads one entry per level from the first level no cache covers down
 * to its leaf (a 4 KiB leaf is level 1, 2 MiB level 2, 1 GiB level 3); in
 * nested mode each stage-1 table access and the final guest physical
 * address first take a stage-2 walk, so n stage-1 reads and m stage-2
 * reads per stage-2 walk make n(m + 1) + m reads, (4 + 1)(4 + 1) - 1 = 24
 * for 4 x 4.
 */
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0310u
#define PASID 5u
#define DOM 9u
#define VMID 21u
#define ACC_R PCIE_F_R
#define ACC_W PCIE_F_W

/* Reads a walk of an N-level table does down to a leaf of 1 << shift. */
static unsigned reads_for(unsigned levels, unsigned shift)
{
    return levels - (shift - 12) / 9;
}

static sim_time_t expect_latency(const iommu_cfg_t *c, const iommu_xlate_t *x)
{
    return c->ctx_hit + c->iotlb_hit +
           (sim_time_t)(x->ctx_reads + x->reads + x->ad_writes) * c->walk_read +
           (sim_time_t)x->psc_hits * c->psc_hit;
}

static void xl(fx_t *f, uint64_t va, unsigned access, iommu_xlate_t *x)
{
    iommu_translate(f->u, RID, PASID, va, access, x);
    ck_assert_uint_eq(x->latency, expect_latency(&f->cfg, x));
}

/* ------------------------------------------------ single stage */

/* Cold caches (no PSC): 4- and 5-level tables, leaves of every size; the
 * first translation also reads the context path (4 reads), later ones
 * find it cached. */
START_TEST(test_single_stage_cold_reads)
{
    static const unsigned shifts[] = {12, 21, 30};
    unsigned levels = (unsigned)_i;
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_no_walk_caches(&c);
    c.levels = levels;
    /* Counts derived without A/D updates: a write hit on a clean entry
     * would walk again to set D (test_accessed_dirty). */
    c.ad = IOMMU_AD_OFF;
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, levels);
    uint64_t base = levels == 5 ? 0x00ff000000000000ull : 0x00007f0000000000ull;
    for (unsigned k = 0; k < 3; k++) {
        uint64_t va = base + (uint64_t)k * (1ull << 31);
        uint64_t pa = 0x4000000000ull + (uint64_t)k * (1ull << 30);
        ck_assert_int_eq(iommu_pt_map(&pt, va, pa, shifts[k], PTE_RWU), 0);
        iommu_xlate_t x;
        uint64_t off = (1ull << shifts[k]) - 8;
        xl(f, va + off, ACC_R, &x);
        ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
        ck_assert_uint_eq(x.pa, pa + off);
        ck_assert_uint_eq(x.shift, shifts[k]);
        ck_assert_uint_eq(x.reads, reads_for(levels, shifts[k]));
        ck_assert_uint_eq(x.ctx_reads, k == 0 ? 4 : 0);
        ck_assert_uint_eq(x.psc_hits, 0);
        ck_assert(!x.iotlb_hit);
        /* Again: an IOTLB hit, no reads at all. */
        xl(f, va, ACC_R | ACC_W, &x);
        ck_assert(x.iotlb_hit);
        ck_assert_uint_eq(x.reads, 0);
        ck_assert_uint_eq(x.latency, c.ctx_hit + c.iotlb_hit);
        ck_assert_uint_eq(x.pa, pa);
        ck_assert_uint_eq(x.perm, IOMMU_PTE_R | IOMMU_PTE_W);
    }
    fx_destroy(f);
}
END_TEST

/* With the paging-structure caches: after one walk, a page sharing the
 * level-L entry (but no lower one) hits the level-L PSC and reads L - 1
 * entries, for every L from 2 to the top. */
START_TEST(test_single_stage_psc_each_level)
{
    unsigned levels = (unsigned)_i;
    iommu_cfg_t c;
    fx_defaults(&c);
    c.levels = levels;
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, levels);
    uint64_t va0 = 0x0000001234567000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va0, 0x100000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    xl(f, va0, ACC_R, &x);
    ck_assert_uint_eq(x.reads, levels); /* cold: fills L2..Ltop */
    ck_assert_uint_eq(x.psc_hits, 0);
    for (unsigned l = 2; l <= levels; l++) {
        /* Differ from va0 in the index of level l - 1 only: same level-l
         * entry, different lower entries. */
        uint64_t va = va0 ^ (1ull << (12 + 9 * (l - 2)));
        ck_assert_int_eq(
            iommu_pt_map(&pt, va, 0x200000 + l * 0x1000, 12, PTE_RWU), 0);
        xl(f, va, ACC_R, &x);
        ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
        ck_assert_msg(x.reads == l - 1, "level %u: %u reads", l, x.reads);
        ck_assert_uint_eq(x.psc_hits, 1);
        char name[64];
        snprintf(name, sizeof(name), "iommu.psc.s1.l%u.hits", l);
        ck_assert_uint_eq(fx_ctr(f, name), 1);
    }
    /* A PSC hit at level 2 leaves a single read: the leaf. */
    xl(f, va0 + 0x1000, ACC_R, &x); /* not mapped: the leaf is absent */
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(x.reads, 1);
    ck_assert_uint_eq(x.fault_addr, va0 + 0x1000);
    fx_destroy(f);
}
END_TEST

/* The context and PASID caches: another PASID of the same RID reads the
 * PASID directory and entry (2), another RID everything (4); with both
 * caches off every translation reads the four entries. */
START_TEST(test_context_reads)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, 4);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S1, .domain = DOM, .s1 = pt, .pri = true};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID + 1, &e), 0);
    ck_assert_int_eq(iommu_set_pasid(f->u, RID + 1, PASID, &e), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x5000, 0x9000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x5000, ACC_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 4);
    iommu_translate(f->u, RID, PASID + 1, 0x5000, ACC_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 2);
    iommu_translate(f->u, RID + 1, PASID, 0x5000, ACC_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 4);
    iommu_translate(f->u, RID + 1, PASID, 0x5000, ACC_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.ctx.reads"), 10);
    ck_assert_uint_eq(fx_ctr(f, "iommu.pasid_cache.misses"), 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.ctx_cache.hits"), 1);
    fx_destroy(f);

    c.ctx_cache = 0;
    c.pasid_cache = 0;
    f = fx_create(&c);
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, 4);
    for (unsigned i = 0; i < 3; i++) {
        iommu_translate(f->u, RID, PASID, 0x5000, ACC_R, &x);
        ck_assert_uint_eq(x.ctx_reads, 4);
        ck_assert_uint_eq(x.latency, expect_latency(&c, &x));
    }
    fx_destroy(f);
}
END_TEST

/* Invalid context (unknown RID; a RID in a half-bus whose context table
 * exists but not its entry) and invalid PASID (no PASID table; a PASID
 * table without that entry; a cleared entry). */
START_TEST(test_bad_context_and_pasid)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, 4);
    iommu_xlate_t x;
    iommu_translate(f->u, 0x7700, PASID, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_BAD_CONTEXT);
    ck_assert_uint_eq(x.ctx_reads, 1); /* the root entry is absent */
    iommu_translate(f->u, RID + 1, PASID, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_BAD_CONTEXT);
    ck_assert_uint_eq(x.ctx_reads, 2); /* root present, context absent */
    iommu_translate(f->u, RID, PASID + 64, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_BAD_PASID);
    iommu_translate(f->u, RID, PASID + 1, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_BAD_PASID);
    ck_assert_uint_eq(x.reads, 0);
    /* Clearing the entry: the cached copy stays until the PASID cache is
     * invalidated (like hardware). */
    iommu_translate(f->u, RID, PASID, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    iommu_clear_pasid(f->u, RID, PASID);
    iommu_pasid_entry_t got;
    ck_assert(!iommu_get_pasid(f->u, RID, PASID, &got));
    iommu_translate(f->u, RID, PASID, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    iommu_inv_t inv = {.gran = IOMMU_INV_PASID, .domain = DOM, .pasid = PASID};
    iommu_invalidate_pasid_cache(f->u, &inv);
    iommu_translate(f->u, RID, PASID, 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_BAD_PASID);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.bad_context"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.bad_pasid"), 3);
    fx_destroy(f);
}
END_TEST

/* Permission checks: write to a read-only page, execute without X, an
 * unprivileged access to a supervisor page (no U) and the same access
 * privileged. ATS-style requests (no check) report the permissions. */
START_TEST(test_permissions)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, 4);
    ck_assert_int_eq(
        iommu_pt_map(&pt, 0x10000, 0x80000, 12, IOMMU_PTE_R | IOMMU_PTE_U), 0);
    ck_assert_int_eq(
        iommu_pt_map(&pt, 0x11000, 0x81000, 12, IOMMU_PTE_R | IOMMU_PTE_W), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x12000, 0x82000, 12,
                                  IOMMU_PTE_R | IOMMU_PTE_X | IOMMU_PTE_U),
                     0);
    iommu_xlate_t x;
    xl(f, 0x10008, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.perm, IOMMU_PTE_R);
    xl(f, 0x10008, ACC_W, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_PERM);
    ck_assert_uint_eq(x.fault_addr, 0x10008);
    ck_assert(!x.iotlb_hit); /* a cached entry that denies is re-walked */
    xl(f, 0x10008, PCIE_F_R | PCIE_F_X, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_PERM);
    xl(f, 0x12000, PCIE_F_R | PCIE_F_X, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.perm, IOMMU_PTE_R | IOMMU_PTE_X);
    /* A supervisor page (no U). */
    xl(f, 0x11000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_PERM);
    ck_assert_uint_eq(x.perm, 0);
    xl(f, 0x11000, ACC_W | PCIE_F_PRIV, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.perm, IOMMU_PTE_R | IOMMU_PTE_W);
    ck_assert_uint_eq(x.pa, 0x81000);
    /* Nothing requested, nothing checked: the perms are reported. */
    xl(f, 0x10000, 0, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.s1_perm"), 3);
    fx_destroy(f);
}
END_TEST

/* Accessed and dirty bits: a read sets A on every entry it read (one write
 * each, costing walk_read), a write also sets D on the leaf; an IOTLB
 * entry filled by a read is not used for a write (the walk sets D). */
START_TEST(test_accessed_dirty)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.ad = IOMMU_AD_ON;
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, 4);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x40000, 0x90000, 12, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x41000, 0x91000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    xl(f, 0x40000, ACC_R, &x);
    ck_assert_uint_eq(x.ad_writes, 4);
    iommu_walk_t w;
    iommu_pt_walk(&pt, 0x40000, &w);
    ck_assert_uint_eq(w.pte & (IOMMU_PTE_A | IOMMU_PTE_D), IOMMU_PTE_A);
    /* The neighbour: PSC hit at level 2, only its leaf gets A. */
    xl(f, 0x41000, ACC_R, &x);
    ck_assert_uint_eq(x.reads, 1);
    ck_assert_uint_eq(x.ad_writes, 1);
    /* A read hit, then a write: the clean entry is not used, the walk
     * sets D. */
    xl(f, 0x40000, ACC_R, &x);
    ck_assert(x.iotlb_hit);
    xl(f, 0x40000, ACC_W, &x);
    ck_assert(!x.iotlb_hit);
    ck_assert_uint_eq(x.ad_writes, 1);
    iommu_pt_walk(&pt, 0x40000, &w);
    ck_assert_uint_eq(w.pte & (IOMMU_PTE_A | IOMMU_PTE_D),
                      IOMMU_PTE_A | IOMMU_PTE_D);
    xl(f, 0x40000, ACC_W, &x);
    ck_assert(x.iotlb_hit);
    ck_assert_uint_eq(x.ad_writes, 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.ad_writes"), 6);
    /* Without A/D updates nothing is written. */
    fx_destroy(f);
    c.ad = IOMMU_AD_OFF;
    f = fx_create(&c);
    fx_bind_s1(f, &pt, RID, PASID, DOM, true, 4);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x40000, 0x90000, 12, PTE_RWU), 0);
    xl(f, 0x40000, ACC_W, &x);
    ck_assert_uint_eq(x.ad_writes, 0);
    iommu_pt_walk(&pt, 0x40000, &w);
    ck_assert_uint_eq(w.pte & (IOMMU_PTE_A | IOMMU_PTE_D), 0);
    fx_destroy(f);
}
END_TEST

START_TEST(test_bypass)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_BYPASS, .domain = 1};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
    iommu_xlate_t x;
    xl(f, 0x123456789ull, ACC_W | PCIE_F_X, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.pa, 0x123456789ull);
    ck_assert_uint_eq(x.reads, 0);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------- nested */

/* A guest: stage 2 with leaves of s2_shift over the guest tables (table
 * chunks) and the data, stage 1 in guest memory, installed nested. */
typedef struct nest {
    iommu_guest_t *g;
    iommu_pt_t s1;
    uint64_t data_gpa; /* start of the guest's data region */
} nest_t;

/* The data region (1 GiB at GPA 1 GiB) comes first, so that the guest
 * tables, allocated next, share one table chunk from GPA 2 GiB on. */
static void nest_init(fx_t *f, nest_t *n, unsigned s2_shift)
{
    n->g = iommu_guest_create(iommu_memory(f->u), 4, s2_shift);
    ck_assert_ptr_nonnull(n->g);
    uint64_t size = 1ull << 30;
    n->data_gpa = iommu_guest_reserve(n->g, size, size);
    ck_assert_uint_eq(n->data_gpa, 1ull << 30);
    ck_assert_int_eq(iommu_guest_back(n->g, n->data_gpa, size,
                                      IOMMU_PTE_R | IOMMU_PTE_W, s2_shift),
                     0);
    ck_assert_int_eq(iommu_pt_init_guest(&n->s1, n->g, 4), 0);
    ck_assert_uint_eq(n->s1.root, 2ull << 30);
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_NESTED,
                             .domain = DOM,
                             .s2_domain = VMID,
                             .s1 = n->s1,
                             .s2 = *iommu_guest_s2(n->g),
                             .pri = true};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
}

/* Cold caches (all walk caches off): n(m + 1) + m reads for every
 * combination of stage-1 leaf (4K, 2M, 1G) and stage-2 leaf (4K, 2M,
 * 1G): 24 for 4 KiB leaves at both stages. */
START_TEST(test_nested_cold_reads)
{
    static const unsigned shifts[] = {12, 21, 30};
    unsigned s2_shift = shifts[_i];
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_no_walk_caches(&c);
    fx_t *f = fx_create(&c);
    nest_t n;
    nest_init(f, &n, s2_shift);
    unsigned m = reads_for(4, s2_shift);
    for (unsigned k = 0; k < 3; k++) {
        unsigned s1_shift = shifts[k];
        uint64_t va = 0x7f0000000000ull + (uint64_t)k * (1ull << 39);
        uint64_t gpa = n.data_gpa + (1ull << 30) - (1ull << s1_shift);
        ck_assert_int_eq(iommu_pt_map(&n.s1, va, gpa, s1_shift, PTE_RWU), 0);
        iommu_xlate_t x;
        uint64_t off = (1ull << s1_shift) - 64;
        xl(f, va + off, ACC_R, &x);
        ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
        unsigned nreads = reads_for(4, s1_shift);
        ck_assert_msg(x.reads == nreads * (m + 1) + m, "s1 %u s2 %u: %u reads",
                      s1_shift, s2_shift, x.reads);
        if (s1_shift == 12 && s2_shift == 12)
            ck_assert_uint_eq(x.reads, 24);
        uint64_t hpa;
        ck_assert_int_eq(iommu_guest_to_host(n.g, gpa + off, &hpa), 0);
        ck_assert_uint_eq(x.pa, hpa);
        ck_assert_uint_eq(x.shift, s1_shift < s2_shift ? s1_shift : s2_shift);
        ck_assert_uint_eq(x.psc_hits, 0);
    }
    sim_hist_t *h = sim_stats_find_hist(f->st, "iommu.walk.reads");
    ck_assert_uint_eq(h->count, 3);
    iommu_guest_destroy(n.g);
    fx_destroy(f);
}
END_TEST

/* Nested with the default caches, 4 KiB leaves. The guest tables are
 * consecutive GPA frames in one 2 MiB region (at 2 GiB), the data is in
 * another 1 GiB (at 1.5 GiB):
 *  - first walk: the stage-2 walk of the stage-1 root reads 4 and fills
 *    the stage-2 PSC, then 1 stage-1 read; the three other table GPAs hit
 *    the level-2 stage-2 PSC (1 + 1 reads each); the data GPA shares only
 *    the level-4 stage-2 entry (3 reads): 5 + 3 x 2 + 3 = 14 reads, 4
 *    hits;
 *  - a neighbour page: stage-1 PSC level 2 hit, the leaf table's GPA hits
 *    the stage-2 TLB, 1 stage-1 read, its data GPA hits the level-2 stage-2
 *    PSC (1 read): 2 reads, 3 hits (the ~2 reads per nested miss of
 *    validation target T7: Fast & Safe (SOSP'24) follow-up data, see
 *    docs/model.md). */
START_TEST(test_nested_warm_caches)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    nest_t n;
    nest_init(f, &n, 12);
    uint64_t va = 0x7f0000000000ull;
    uint64_t gpa = n.data_gpa + 0x40000000ull / 2; /* 512 MiB in */
    ck_assert_int_eq(iommu_pt_map(&n.s1, va, gpa, 12, PTE_RWU), 0);
    ck_assert_int_eq(
        iommu_pt_map(&n.s1, va + 0x1000, gpa + 0x1000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    xl(f, va, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.reads, 14);
    ck_assert_uint_eq(x.psc_hits, 4);
    ck_assert_uint_eq(fx_ctr(f, "iommu.psc.s2.l2.hits"), 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.psc.s2.l4.hits"), 1);
    xl(f, va + 0x1000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.reads, 2);
    ck_assert_uint_eq(x.psc_hits, 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.psc.s1.l2.hits"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.s2tlb.hits"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.psc.s2.l2.hits"), 4);
    iommu_guest_destroy(n.g);
    fx_destroy(f);
}
END_TEST

/* Stage-1 PSC hits at each level in a nested walk, stage-2 caches off:
 * a hit at level l leaves l - 1 stage-1 reads, each after a 4-read stage-2
 * walk, then the final 4: (l - 1) x 5 + 4. */
START_TEST(test_nested_s1_psc_each_level)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.s2tlb = 0;
    memset(c.psc[1], 0, sizeof(c.psc[1]));
    fx_t *f = fx_create(&c);
    nest_t n;
    nest_init(f, &n, 12);
    uint64_t va0 = 0x0000001234567000ull;
    ck_assert_int_eq(iommu_pt_map(&n.s1, va0, n.data_gpa, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    xl(f, va0, ACC_R, &x);
    ck_assert_uint_eq(x.reads, 24);
    for (unsigned l = 2; l <= 4; l++) {
        uint64_t va = va0 ^ (1ull << (12 + 9 * (l - 2)));
        ck_assert_int_eq(
            iommu_pt_map(&n.s1, va, n.data_gpa + l * 0x1000, 12, PTE_RWU), 0);
        xl(f, va, ACC_R, &x);
        ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
        ck_assert_msg(x.reads == (l - 1) * 5 + 4, "level %u: %u", l, x.reads);
        ck_assert_uint_eq(x.psc_hits, 1);
    }
    iommu_guest_destroy(n.g);
    fx_destroy(f);
}
END_TEST

/* Stage-2 PSC hits at each level: stage-1 caches off, stage-2 TLB off.
 * After a walk of va0 the stage-2 PSC holds the entries of the table GPAs
 * and of the data GPA; a second page whose data GPA differs from the
 * first only below level l of stage 2 hits the level-l stage-2 PSC for
 * its final translation: the stage-1 part costs the same as before. */
START_TEST(test_nested_s2_psc_each_level)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.s2tlb = 0;
    memset(c.psc[0], 0, sizeof(c.psc[0]));
    fx_t *f = fx_create(&c);
    nest_t n;
    nest_init(f, &n, 12);
    /* Build the stage-1 tables first (next to the root), then put the
     * data GPAs in a region of their own (another 512 GiB), backed. */
    uint64_t va0 = 0x7f0000000000ull;
    ck_assert_int_eq(iommu_pt_map(&n.s1, va0, n.data_gpa, 12, PTE_RWU), 0);
    uint64_t far = iommu_guest_reserve(n.g, 1ull << 39, 1ull << 39);
    ck_assert_uint_ne(far, 0);
    uint64_t gpa0 = far + 0x1234567000ull;
    ck_assert_int_eq(iommu_guest_back(n.g, gpa0, 0x1000, PTE_RWU, 12), 0);
    ck_assert_int_eq(iommu_pt_map(&n.s1, va0, gpa0, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    xl(f, va0, ACC_R, &x);
    /* Tables: 4 + 3 x 1 (one 2 MiB region); data: 4 (its own region). */
    ck_assert_uint_eq(x.reads, 4 + 1 + 3 * (1 + 1) + 4);
    for (unsigned l = 2; l <= 4; l++) {
        uint64_t gpa = gpa0 ^ (1ull << (12 + 9 * (l - 2)));
        ck_assert_int_eq(iommu_guest_back(n.g, gpa, 0x1000, PTE_RWU, 12), 0);
        uint64_t va = va0 + l * 0x1000;
        ck_assert_int_eq(iommu_pt_map(&n.s1, va, gpa, 12, PTE_RWU), 0);
        xl(f, va, ACC_R, &x);
        ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
        /* stage 1 as before (its tables are known to the stage-2 PSC:
         * 4 x (1 + 1)), then l - 1 stage-2 reads for the data */
        ck_assert_msg(x.reads == 4 * 2 + (l - 1), "level %u: %u reads", l,
                      x.reads);
    }
    iommu_guest_destroy(n.g);
    fx_destroy(f);
}
END_TEST

/* Nested faults: stage-1 not present (fault address: the input); stage-2
 * not present on the data (the GPA of the access) and on a stage-1 table
 * (the table's GPA, fault_table); stage-2 permission (write to a read-only
 * GPA); stage-1 permission first when both deny. */
START_TEST(test_nested_faults)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    nest_t n;
    nest_init(f, &n, 12);
    uint64_t va = 0x7f0000010000ull;
    iommu_xlate_t x;
    xl(f, va + 0x10, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(x.fault_addr, va + 0x10);
    /* Stage 1 maps to a GPA that stage 2 does not. */
    uint64_t hole = iommu_guest_reserve(n.g, 0x1000, 0x1000);
    ck_assert_int_eq(iommu_pt_map(&n.s1, va, hole, 12, PTE_RWU), 0);
    xl(f, va + 0x10, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S2_NOT_PRESENT);
    ck_assert_uint_eq(x.fault_addr, hole + 0x10);
    ck_assert(!x.fault_table);
    /* Now back it read-only: a read works, a write is a stage-2 fault. */
    ck_assert_int_eq(iommu_guest_back(n.g, hole, 0x1000, IOMMU_PTE_R, 12), 0);
    iommu_inv_t s2inv = {.gran = IOMMU_INV_S2_RANGE,
                         .domain = VMID,
                         .addr = hole,
                         .len = 0x1000};
    iommu_invalidate_iotlb(f->u, &s2inv);
    xl(f, va + 0x10, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    xl(f, va + 0x10, ACC_W, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S2_PERM);
    ck_assert_uint_eq(x.fault_addr, hole + 0x10);
    /* Stage 1 read-only too: stage 1 denies first. */
    ck_assert_int_eq(
        iommu_pt_protect(&n.s1, va, 0x1000, IOMMU_PTE_R | IOMMU_PTE_U), 0);
    iommu_iotlb_invalidate(f->u, DOM, PASID, va, 0x1000);
    xl(f, va, ACC_W, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_PERM);
    ck_assert_uint_eq(x.fault_addr, va);
    /* Unmap the stage-1 leaf table's frame from stage 2: a stage-2 fault
     * on a table, at that table's GPA. */
    iommu_walk_t w;
    iommu_pt_walk(&n.s1, va, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    /* Find the leaf table: walk the guest tables by hand. */
    uint64_t table = n.s1.root;
    for (unsigned l = 4; l > 1; l--) {
        uint64_t ea = table + ((va >> (12 + 9 * (l - 1))) & 511) * 8, hpa;
        ck_assert_int_eq(iommu_guest_to_host(n.g, ea, &hpa), 0);
        table = iommu_mem_read64(iommu_memory(f->u), hpa) & IOMMU_PTE_ADDR;
    }
    ck_assert_int_eq(
        iommu_pt_unmap(iommu_guest_s2(n.g), table, 0x1000, NULL, NULL), 0);
    iommu_inv_t all = {.gran = IOMMU_INV_GLOBAL};
    iommu_invalidate_iotlb(f->u, &all);
    xl(f, va, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S2_NOT_PRESENT);
    ck_assert(x.fault_table);
    ck_assert_uint_eq(x.fault_addr, table);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.s2_not_present"), 2);
    iommu_guest_destroy(n.g);
    fx_destroy(f);
}
END_TEST

/* Stage-2-only mode: the input is a GPA, no privilege check, stage-2
 * faults carry the input. */
START_TEST(test_stage2_only)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_no_walk_caches(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t s2;
    ck_assert_int_eq(iommu_pt_init(&s2, iommu_memory(f->u), 4), 0);
    ck_assert_int_eq(
        iommu_pt_map(&s2, 0x200000, 0x7600000, 21, IOMMU_PTE_R | IOMMU_PTE_W),
        0);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S2, .domain = DOM, .s2_domain = VMID, .s2 = s2};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
    iommu_xlate_t x;
    xl(f, 0x212345, ACC_W, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(x.pa, 0x7612345);
    ck_assert_uint_eq(x.reads, 3);
    ck_assert_uint_eq(x.shift, 21);
    xl(f, 0x400000, ACC_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S2_NOT_PRESENT);
    ck_assert_uint_eq(x.fault_addr, 0x400000);
    xl(f, 0x212345, PCIE_F_R | PCIE_F_X, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S2_PERM);
    fx_destroy(f);
}
END_TEST

static Suite *walk_suite(void)
{
    Suite *s = suite_create("walk");
    TCase *tc = tcase_create("single");
    tcase_add_loop_test(tc, test_single_stage_cold_reads, 4, 6);
    tcase_add_loop_test(tc, test_single_stage_psc_each_level, 4, 6);
    tcase_add_test(tc, test_context_reads);
    tcase_add_test(tc, test_bad_context_and_pasid);
    tcase_add_test(tc, test_permissions);
    tcase_add_test(tc, test_accessed_dirty);
    tcase_add_test(tc, test_bypass);
    suite_add_tcase(s, tc);
    tc = tcase_create("nested");
    tcase_add_loop_test(tc, test_nested_cold_reads, 0, 3);
    tcase_add_test(tc, test_nested_warm_caches);
    tcase_add_test(tc, test_nested_s1_psc_each_level);
    tcase_add_test(tc, test_nested_s2_psc_each_level);
    tcase_add_test(tc, test_nested_faults);
    tcase_add_test(tc, test_stage2_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(walk_suite());
}
