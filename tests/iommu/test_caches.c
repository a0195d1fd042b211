/*
 * tests/iommu/test_caches.c - the IOTLB and the other caches through
 * iommu_translate: LRU replacement order in a set, huge-page entries, tags
 * (domain, PASID, size), every invalidation granularity (global, domain,
 * PASID, range, stage-2 range, leaf-only), paging-structure cache
 * invalidation, and the context/PASID caches keeping a replaced entry
 * until invalidated.
 */
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0420u

/* Translate (rid, pasid, va) for a read; returns whether the IOTLB hit. */
static bool hit(fx_t *f, uint16_t rid, uint32_t pasid, uint64_t va)
{
    iommu_xlate_t x;
    iommu_translate(f->u, rid, pasid, va, PCIE_F_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    return x.iotlb_hit;
}

/* One set of four ways: the least recently used entry is the victim. */
START_TEST(test_iotlb_lru_order)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.iotlb_sets = 1;
    c.iotlb_ways = 4;
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, 1, 3, true, 4);
    uint64_t p[6];
    for (unsigned i = 0; i < 6; i++) {
        p[i] = 0x7f0000000000ull + i * 0x1000;
        ck_assert_int_eq(
            iommu_pt_map(&pt, p[i], 0x100000 + i * 0x1000, 12, PTE_RWU), 0);
    }
    /* Fill: 0 1 2 3 (LRU order oldest first). */
    for (unsigned i = 0; i < 4; i++)
        ck_assert(!hit(f, RID, 1, p[i]));
    ck_assert(hit(f, RID, 1, p[0]));  /* order 1 2 3 0 */
    ck_assert(hit(f, RID, 1, p[2]));  /* order 1 3 0 2 */
    ck_assert(!hit(f, RID, 1, p[4])); /* evicts 1: 3 0 2 4 */
    ck_assert(!hit(f, RID, 1, p[1])); /* evicts 3: 0 2 4 1 */
    ck_assert(hit(f, RID, 1, p[0]));  /* 2 4 1 0 */
    ck_assert(!hit(f, RID, 1, p[3])); /* evicts 2: 4 1 0 3 */
    ck_assert(!hit(f, RID, 1, p[2])); /* evicts 4: 1 0 3 2 */
    ck_assert(hit(f, RID, 1, p[1]));
    ck_assert(hit(f, RID, 1, p[0]));
    ck_assert(hit(f, RID, 1, p[3]));
    ck_assert(hit(f, RID, 1, p[2]));
    ck_assert(!hit(f, RID, 1, p[5])); /* evicts 1 */
    ck_assert(!hit(f, RID, 1, p[1]));
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.hits"), 7);
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.misses"), 10);
    fx_destroy(f);
}
END_TEST

/* A 2 MiB and a 1 GiB leaf each fill one entry that serves every 4 KiB
 * page inside; entries are tagged by domain and PASID. */
START_TEST(test_iotlb_huge_and_tags)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, 1, 3, true, 4);
    /* The same table for PASID 2 (domain 3) and PASID 1 of RID+1 (domain
     * 4): separate entries. */
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1, .domain = 3, .s1 = pt};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, 2, &e), 0);
    e.domain = 4;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID + 1, 1, &e), 0);
    uint64_t va2m = 0x7f0000200000ull, va1g = 0x7f0040000000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va2m, 0x40000000ull, 21, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, va1g, 0x80000000ull, 30, PTE_RWU), 0);
    ck_assert(!hit(f, RID, 1, va2m + 0x3000));
    ck_assert(hit(f, RID, 1, va2m + 0x1ff000));
    ck_assert(hit(f, RID, 1, va2m));
    ck_assert(!hit(f, RID, 1, va1g + 0x12345000));
    ck_assert(hit(f, RID, 1, va1g + 0x3ffff000));
    iommu_xlate_t x;
    iommu_translate(f->u, RID, 1, va1g + 0x2345678, PCIE_F_R, &x);
    ck_assert(x.iotlb_hit);
    ck_assert_uint_eq(x.pa, 0x80000000ull + 0x2345678);
    ck_assert_uint_eq(x.shift, 30);
    ck_assert(!hit(f, RID, 2, va2m));     /* other PASID */
    ck_assert(!hit(f, RID + 1, 1, va2m)); /* other domain */
    ck_assert(hit(f, RID, 2, va2m + 0x5000));
    fx_destroy(f);
}
END_TEST

/* Four entries: (domain 3, PASID 1) pages A and B, (3, 2) page A, (4, 1)
 * page A. Each granularity drops exactly its own. */
START_TEST(test_invalidation_granularity)
{
    static const struct {
        iommu_inv_t inv;
        bool keep[4]; /* (3,1,A) (3,1,B) (3,2,A) (4,1,A) */
    } cases[] = {
        {{.gran = IOMMU_INV_GLOBAL}, {false, false, false, false}},
        {{.gran = IOMMU_INV_DOMAIN, .domain = 3}, {false, false, false, true}},
        {{.gran = IOMMU_INV_PASID, .domain = 3, .pasid = 1},
         {false, false, true, true}},
        {{.gran = IOMMU_INV_RANGE,
          .domain = 3,
          .pasid = 1,
          .addr = 0x7f0000001000ull,
          .len = 0x1000},
         {false, true, true, true}},
        {{.gran = IOMMU_INV_RANGE,
          .domain = 3,
          .pasid = 1,
          .addr = 0x7f0000001fffull,
          .len = 2},
         {false, false, true, true}},
        {{.gran = IOMMU_INV_RANGE,
          .domain = 3,
          .any_pasid = true,
          .addr = 0x7f0000001000ull,
          .len = 0x1000},
         {false, true, false, true}},
        {{.gran = IOMMU_INV_RANGE,
          .domain = 4,
          .pasid = 2,
          .addr = 0x7f0000001000ull,
          .len = 0x1000},
         {true, true, true, true}},
        {{.gran = IOMMU_INV_S2_RANGE, .domain = 3, .addr = 0, .len = 0},
         {true, true, true, true}}, /* stage-1 entries have no stage 2 */
    };
    const uint64_t A = 0x7f0000001000ull, B = 0x7f0000002000ull;
    for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        iommu_cfg_t c;
        fx_defaults(&c);
        fx_t *f = fx_create(&c);
        iommu_pt_t pt;
        fx_bind_s1(f, &pt, RID, 1, 3, true, 4);
        iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1, .domain = 3, .s1 = pt};
        ck_assert_int_eq(iommu_set_pasid(f->u, RID, 2, &e), 0);
        e.domain = 4;
        ck_assert_int_eq(iommu_set_pasid(f->u, RID + 1, 1, &e), 0);
        ck_assert_int_eq(iommu_pt_map(&pt, A, 0x10000, 12, PTE_RWU), 0);
        ck_assert_int_eq(iommu_pt_map(&pt, B, 0x11000, 12, PTE_RWU), 0);
        const uint16_t rid[4] = {RID, RID, RID, RID + 1};
        const uint32_t pasid[4] = {1, 1, 2, 1};
        const uint64_t va[4] = {A, B, A, A};
        for (unsigned i = 0; i < 4; i++)
            ck_assert(!hit(f, rid[i], pasid[i], va[i]));
        iommu_invalidate_iotlb(f->u, &cases[k].inv);
        for (unsigned i = 0; i < 4; i++)
            ck_assert_msg(hit(f, rid[i], pasid[i], va[i]) == cases[k].keep[i],
                          "case %u entry %u", k, i);
        fx_destroy(f);
    }
}
END_TEST

/* A range invalidation also drops the paging-structure cache entries over
 * the range (the next walk reads every level); with the leaf-only hint
 * (VT-d IH, SMMUv3 Leaf) they stay (one read). */
START_TEST(test_psc_invalidation)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t pt;
    fx_bind_s1(f, &pt, RID, 1, 3, true, 4);
    uint64_t va = 0x7f0000005000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va, 0x10000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, 1, va, PCIE_F_R, &x);
    ck_assert_uint_eq(x.reads, 4);
    iommu_inv_t inv = {.gran = IOMMU_INV_RANGE,
                       .domain = 3,
                       .pasid = 1,
                       .addr = va,
                       .len = 0x1000,
                       .leaf_only = true};
    iommu_invalidate_iotlb(f->u, &inv);
    iommu_translate(f->u, RID, 1, va, PCIE_F_R, &x);
    ck_assert(!x.iotlb_hit);
    ck_assert_uint_eq(x.reads, 1);
    inv.leaf_only = false;
    iommu_invalidate_iotlb(f->u, &inv);
    ck_assert_uint_eq(fx_ctr(f, "iommu.psc.invalidated"), 3);
    iommu_translate(f->u, RID, 1, va, PCIE_F_R, &x);
    ck_assert_uint_eq(x.reads, 4);
    /* A range elsewhere leaves them. */
    inv.addr = 0x100000000000ull;
    iommu_invalidate_iotlb(f->u, &inv);
    iommu_translate(f->u, RID, 1, va + 0x1000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.reads, 1);
    fx_destroy(f);
}
END_TEST

/* Stage-2 range invalidation: a stage-2-only entry in the range goes,
 * one outside stays; every nested entry of that stage-2 domain goes (the
 * IOTLB cannot tell which GPAs it used); another stage-2 domain's stay. */
START_TEST(test_s2_range_invalidation)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t s2, s2b;
    ck_assert_int_eq(iommu_pt_init(&s2, iommu_memory(f->u), 4), 0);
    ck_assert_int_eq(iommu_pt_init(&s2b, iommu_memory(f->u), 4), 0);
    ck_assert_int_eq(iommu_pt_map_range(&s2, 0, 0x10000000, 0x400000,
                                        IOMMU_PTE_R | IOMMU_PTE_W, 12),
                     0);
    ck_assert_int_eq(iommu_pt_map_range(&s2b, 0, 0x20000000, 0x400000,
                                        IOMMU_PTE_R | IOMMU_PTE_W, 12),
                     0);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S2, .domain = 7, .s2_domain = 70, .s2 = s2};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, 0, &e), 0);
    e.domain = 8;
    e.s2_domain = 80;
    e.s2 = s2b;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID + 1, 0, &e), 0);
    ck_assert(!hit(f, RID, 0, 0x1000));
    ck_assert(!hit(f, RID, 0, 0x200000));
    ck_assert(!hit(f, RID + 1, 0, 0x1000));
    iommu_inv_t inv = {
        .gran = IOMMU_INV_S2_RANGE, .domain = 70, .addr = 0, .len = 0x2000};
    iommu_invalidate_iotlb(f->u, &inv);
    ck_assert(!hit(f, RID, 0, 0x1000));
    ck_assert(hit(f, RID, 0, 0x200000));
    ck_assert(hit(f, RID + 1, 0, 0x1000));
    /* The domain granularity drops entries tagged with it as a stage-2
     * domain too. */
    inv = (iommu_inv_t){.gran = IOMMU_INV_DOMAIN, .domain = 80};
    iommu_invalidate_iotlb(f->u, &inv);
    ck_assert(!hit(f, RID + 1, 0, 0x1000));
    ck_assert(hit(f, RID, 0, 0x200000));
    fx_destroy(f);
}
END_TEST

/* The PASID and context caches keep a replaced entry until invalidated,
 * by PASID, by device or globally. */
START_TEST(test_context_caches_stale_until_invalidated)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    fx_t *f = fx_create(&c);
    iommu_pt_t a, b;
    fx_bind_s1(f, &a, RID, 1, 3, true, 4);
    ck_assert_int_eq(iommu_pt_init(&b, iommu_memory(f->u), 4), 0);
    ck_assert_int_eq(iommu_pt_map(&a, 0x1000, 0xa000, 12, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&b, 0x1000, 0xb000, 12, PTE_RWU), 0);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, 1, 0x1000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.pa, 0xa000);
    static const iommu_inv_t invs[] = {
        {.gran = IOMMU_INV_PASID, .domain = 3, .pasid = 1},
        {.gran = IOMMU_INV_DEVICE_PASID, .rid = RID, .pasid = 1},
        {.gran = IOMMU_INV_DEVICE, .rid = RID},
        {.gran = IOMMU_INV_DOMAIN, .domain = 5},
        {.gran = IOMMU_INV_GLOBAL},
    };
    iommu_pt_t *tables[2] = {&a, &b};
    for (unsigned k = 0; k < 5; k++) {
        iommu_pt_t *next = tables[(k + 1) % 2];
        uint64_t old = (k % 2) ? 0xb000 : 0xa000;
        uint16_t dom = k >= 2 ? 5 : 3;
        iommu_pasid_entry_t e = {
            .mode = IOMMU_MODE_S1, .domain = dom, .s1 = *next};
        if (k == 3)
            e.domain = 5;
        ck_assert_int_eq(iommu_set_pasid(f->u, RID, 1, &e), 0);
        iommu_translate(f->u, RID, 1, 0x1000, PCIE_F_R, &x);
        ck_assert_msg(x.pa == old, "case %u: the cached entry is used", k);
        iommu_invalidate_pasid_cache(f->u, &invs[k]);
        iommu_inv_t all = {.gran = IOMMU_INV_GLOBAL};
        iommu_invalidate_iotlb(f->u, &all);
        iommu_translate(f->u, RID, 1, 0x1000, PCIE_F_R, &x);
        ck_assert_msg(x.pa == ((k % 2) ? 0xa000 : 0xb000), "case %u", k);
    }
    /* Context cache: a device invalidation makes the next lookup read the
     * root and context entries again. */
    iommu_inv_t dev = {.gran = IOMMU_INV_DEVICE, .rid = RID};
    iommu_invalidate_context_cache(f->u, &dev);
    iommu_invalidate_pasid_cache(f->u, &dev);
    iommu_translate(f->u, RID, 1, 0x1000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 4);
    ck_assert_uint_eq(fx_ctr(f, "iommu.ctx_cache.invalidated"), 1);
    fx_destroy(f);
}
END_TEST

static Suite *caches_suite(void)
{
    Suite *s = suite_create("caches");
    TCase *tc = tcase_create("iotlb");
    tcase_add_test(tc, test_iotlb_lru_order);
    tcase_add_test(tc, test_iotlb_huge_and_tags);
    tcase_add_test(tc, test_invalidation_granularity);
    tcase_add_test(tc, test_psc_invalidation);
    tcase_add_test(tc, test_s2_range_invalidation);
    tcase_add_test(tc, test_context_caches_stale_until_invalidated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(caches_suite());
}
