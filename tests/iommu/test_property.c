/*
 * tests/iommu/test_property.c - randomized property test of translation
 * against a plain reference dictionary (one entry per 4 KiB page): at
 * least 100,000 operations per variant of map (4 KiB, 2 MiB, 1 GiB
 * leaves), unmap and protect of random ranges, invalidation (all of the
 * PASID, or a range, with or without the leaf-only hint) and translation
 * with a random access (read, write, execute, privileged or not).
 *
 * A change to the tables is not seen by the caches until it is
 * invalidated, so each page keeps the values it had since its last
 * invalidation. The properties checked on every translation:
 *  - a page whose mapping has not changed since it was last invalidated
 *    translates exactly as the reference says (outcome, address, size,
 *    granted permission);
 *  - any page translates as one of the values it had since its last
 *    invalidation (never a mapping that was invalidated);
 *  - a success always has the permission the access asked for, and a
 *    permission fault always lacks it (no missed permission).
 * Variants: single stage (small IOTLB, so entries are evicted), single
 * stage with 5 levels and A/D updates, and nested, where the stage-2 table
 * also changes (each change invalidated at once) under a stage 1 that
 * changes lazily.
 */
#include <errno.h>
#include <stdio.h>

#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0500u
#define PASID 3u
#define DOM 11u
#define VMID 12u
#define OPS 120000
#define HIST 2

#define PAGES (1u << 19)   /* 2 GiB of input space */
#define S2PAGES (1u << 19) /* 2 GiB of guest data space (nested) */

typedef struct val {
    uint64_t pa; /* output address of the page */
    uint8_t perm;
    uint8_t shift;
    bool present;
} val_t;

typedef struct page {
    val_t cur;
    val_t hist[HIST];
    uint8_t nhist;
    bool unknown; /* more changes than kept: not checked until invalidated */
} page_t;

typedef struct model {
    fx_t *f;
    iommu_pt_t pt;    /* stage 1 */
    iommu_guest_t *g; /* nested: the guest */
    uint64_t base;    /* input window */
    uint64_t gbase;   /* nested: guest data window */
    page_t *pages;
    val_t *s2;       /* nested: stage-2 reference per GPA page */
    uint32_t *dirty; /* pages with history */
    size_t ndirty;
    uint32_t recent[64]; /* pages recently changed or translated */
    unsigned nrecent;
    uint64_t rng;
    unsigned checks, exact, ok_results, faults;
} model_t;

static uint64_t rnd(model_t *m)
{
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(model_t *m, uint64_t n)
{
    return rnd(m) % n;
}

/* Remember page i as recently used (translations favour such pages, so
 * that they often find it in the caches, stale or not). */
static void recent_add(model_t *m, size_t i)
{
    m->recent[m->nrecent++ % 64] = (uint32_t)i;
}

/* Record that page i changes to v. */
static void page_set(model_t *m, size_t i, val_t v)
{
    page_t *p = &m->pages[i];
    if (rnd(m) % 64 == 0)
        recent_add(m, i);
    if (!p->unknown) {
        if (p->nhist == HIST) {
            p->unknown = true;
        } else {
            if (p->nhist == 0)
                m->dirty[m->ndirty++] = (uint32_t)i;
            p->hist[p->nhist++] = p->cur;
        }
    } else if (p->nhist == 0) {
        m->dirty[m->ndirty++] = (uint32_t)i;
    }
    p->cur = v;
}

/* An invalidation of [lo, hi) (page indices) makes those pages clean. */
static void clean(model_t *m, size_t lo, size_t hi)
{
    size_t k = 0;
    for (size_t j = 0; j < m->ndirty; j++) {
        uint32_t i = m->dirty[j];
        if (i >= lo && i < hi) {
            m->pages[i].nhist = 0;
            m->pages[i].unknown = false;
        } else {
            m->dirty[k++] = i;
        }
    }
    m->ndirty = k;
}

static const uint64_t perms[] = {
    IOMMU_PTE_R | IOMMU_PTE_U,
    IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_U,
    IOMMU_PTE_R | IOMMU_PTE_X | IOMMU_PTE_U,
    IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X | IOMMU_PTE_U,
    IOMMU_PTE_R | IOMMU_PTE_W,
    IOMMU_PTE_W | IOMMU_PTE_U,
};

static unsigned pick_shift(model_t *m)
{
    uint64_t r = below(m, 1000);
    return r < 8 ? 30 : r < 250 ? 21 : 12;
}

/* Map one leaf of random size at a random place of the input window. */
static void op_map(model_t *m)
{
    unsigned sh = pick_shift(m);
    uint64_t n = 1ull << (sh - 12);
    uint64_t i = below(m, PAGES / n) * n;
    uint64_t perm = perms[below(m, 6)];
    uint64_t out;
    if (m->g) /* a GPA inside the data window */
        out = m->gbase + below(m, S2PAGES / n) * (n << 12);
    else
        out = below(m, 1ull << (40 - sh)) << sh;
    int rc = iommu_pt_map(&m->pt, m->base + (i << 12), out, sh, perm);
    if (rc) {
        ck_assert_int_eq(rc, -EEXIST); /* a leaf of another size */
        return;
    }
    for (uint64_t k = 0; k < n; k++)
        page_set(m, i + k,
                 (val_t){out + (k << 12), (uint8_t)perm, (uint8_t)sh, true});
}

/* A random range of the window (page indices [*lo, *hi)). */
static void pick_range(model_t *m, size_t *lo, size_t *hi)
{
    uint64_t r = below(m, 100);
    uint64_t len = r < 70   ? 1 + below(m, 16)
                   : r < 95 ? 1 + below(m, 1024)
                            : 1 + below(m, 1u << 18);
    uint64_t i = below(m, PAGES);
    if (r % 7 == 0) { /* sometimes exactly a huge page */
        uint64_t n = r % 2 ? 512 : 1u << 18;
        i = i / n * n;
        len = n;
    }
    if (i + len > PAGES)
        len = PAGES - i;
    *lo = i;
    *hi = i + len;
}

static void on_unmap(void *opaque, uint64_t va, uint64_t pa, unsigned shift)
{
    model_t *m = opaque;
    uint64_t i = (va - m->base) >> 12, n = 1ull << (shift - 12);
    ck_assert_uint_lt(i + n - 1, PAGES);
    for (uint64_t k = 0; k < n; k++) {
        ck_assert(m->pages[i + k].cur.present);
        ck_assert_uint_eq(m->pages[i + k].cur.pa, pa + (k << 12));
        page_set(m, i + k, (val_t){0, 0, 0, false});
    }
}

static void op_unmap(model_t *m)
{
    size_t lo, hi;
    pick_range(m, &lo, &hi);
    int rc = iommu_pt_unmap(&m->pt, m->base + (lo << 12), (hi - lo) << 12,
                            on_unmap, m);
    ck_assert(rc == 0 || rc == -EINVAL); /* -EINVAL: a huge leaf in part */
}

static void op_protect(model_t *m)
{
    size_t lo, hi;
    pick_range(m, &lo, &hi);
    uint64_t perm = perms[below(m, 6)];
    int rc =
        iommu_pt_protect(&m->pt, m->base + (lo << 12), (hi - lo) << 12, perm);
    ck_assert(rc == 0 || rc == -EINVAL);
    for (size_t i = lo; i < hi; i++) {
        val_t v = m->pages[i].cur;
        if (!v.present)
            continue;
        size_t n = (size_t)1 << (v.shift - 12), first = i / n * n;
        if (first < lo || first + n > hi)
            continue; /* a huge leaf partly in the range: unchanged */
        v.perm = (uint8_t)perm;
        page_set(m, i, v);
    }
}

static void op_invalidate(model_t *m)
{
    if (below(m, 2)) {
        iommu_iotlb_invalidate(m->f->u, DOM, PASID, 0, 0);
        clean(m, 0, PAGES);
        return;
    }
    size_t lo, hi;
    pick_range(m, &lo, &hi);
    iommu_inv_t inv = {.gran = IOMMU_INV_RANGE,
                       .domain = DOM,
                       .pasid = PASID,
                       .addr = m->base + (lo << 12),
                       .len = (hi - lo) << 12,
                       .leaf_only = below(m, 2)};
    iommu_invalidate_iotlb(m->f->u, &inv);
    clean(m, lo, hi);
}

/* Nested: change stage 2 in the data window (its first half has 2 MiB
 * leaves, its second 4 KiB leaves) and invalidate the change at once. */
static void op_s2(model_t *m)
{
    iommu_pt_t *s2 = iommu_guest_s2(m->g);
    uint64_t r = below(m, 3);
    unsigned sh = below(m, 2) ? 12 : 21;
    uint64_t n = 1ull << (sh - 12);
    uint64_t half = S2PAGES / 2;
    uint64_t i = below(m, half / n) * n + (sh == 12 ? half : 0);
    uint64_t gpa = m->gbase + (i << 12);
    uint64_t perm = below(m, 3) ? IOMMU_PTE_R | IOMMU_PTE_W : IOMMU_PTE_R;
    if (r == 0) {
        uint64_t hpa = below(m, 1ull << (40 - sh)) << sh;
        if (iommu_pt_map(s2, gpa, hpa, sh, perm) == 0)
            for (uint64_t k = 0; k < n; k++)
                m->s2[i + k] =
                    (val_t){hpa + (k << 12), (uint8_t)perm, (uint8_t)sh, true};
    } else {
        /* unmap or protect the leaves fully inside [i, i + n) */
        int rc = r == 1 ? iommu_pt_unmap(s2, gpa, n << 12, NULL, NULL)
                        : iommu_pt_protect(s2, gpa, n << 12, perm);
        ck_assert(rc == 0 || rc == -EINVAL);
        for (uint64_t k = 0; k < n; k++) {
            val_t *v = &m->s2[i + k];
            if (!v->present)
                continue;
            uint64_t ln = 1ull << (v->shift - 12), first = (i + k) / ln * ln;
            if (first < i || first + ln > i + n)
                continue;
            if (r == 1)
                v->present = false;
            else
                v->perm = (uint8_t)perm;
        }
    }
    iommu_inv_t inv = {.gran = IOMMU_INV_S2_RANGE,
                       .domain = VMID,
                       .addr = gpa,
                       .len = n << 12};
    iommu_invalidate_iotlb(m->f->u, &inv);
}

/* What a value gives for an access: outcome, address, size, permission. */
static iommu_walk_outcome_t expect(const model_t *m, const val_t *v,
                                   uint64_t off, unsigned access, uint64_t *pa,
                                   unsigned *shift, uint64_t *granted)
{
    if (!v->present)
        return IOMMU_WALK_S1_NOT_PRESENT;
    uint64_t p1 = v->perm;
    if (!(access & PCIE_F_PRIV) && !(p1 & IOMMU_PTE_U))
        p1 &= ~(uint64_t)(IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X);
    uint64_t need = ((access & PCIE_F_R) ? IOMMU_PTE_R : 0) |
                    ((access & PCIE_F_W) ? IOMMU_PTE_W : 0) |
                    ((access & PCIE_F_X) ? IOMMU_PTE_X : 0);
    uint64_t p2 = IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X;
    *pa = v->pa + off;
    *shift = v->shift;
    if (m->g) {
        uint64_t gpa = v->pa + off;
        const val_t *s = &m->s2[(gpa - m->gbase) >> 12];
        if (!s->present)
            return IOMMU_WALK_S2_NOT_PRESENT;
        p2 = s->perm;
        *pa = s->pa + (gpa & 0xfff);
        if (s->shift < *shift)
            *shift = s->shift;
    }
    *granted = p1 & p2 & (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X);
    if (need & ~p1 & (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X))
        return IOMMU_WALK_S1_PERM;
    if (need & ~p2)
        return IOMMU_WALK_S2_PERM;
    return IOMMU_WALK_OK;
}

/* Whether translation x agrees with value v. */
static bool matches(const model_t *m, const val_t *v, uint64_t off,
                    unsigned access, const iommu_xlate_t *x)
{
    uint64_t pa = 0, granted = 0;
    unsigned shift = 0;
    iommu_walk_outcome_t r = expect(m, v, off, access, &pa, &shift, &granted);
    if (r != x->outcome)
        return false;
    if (r == IOMMU_WALK_OK)
        return x->pa == pa && x->shift == shift && x->perm == granted;
    return true;
}

static void op_translate(model_t *m)
{
    static const unsigned accesses[] = {PCIE_F_R, PCIE_F_W, PCIE_F_R | PCIE_F_W,
                                        PCIE_F_R | PCIE_F_X};
    size_t i;
    uint64_t r = below(m, 8);
    if (m->ndirty && r < 2)
        i = m->dirty[below(m, m->ndirty)]; /* a page that changed */
    else if (m->nrecent && r < 6)
        i = m->recent[below(m, m->nrecent < 64 ? m->nrecent : 64)];
    else
        i = below(m, PAGES);
    /* Sometimes a neighbour: same leaf table, PSC hits. */
    if (r == 5 && i + 1 < PAGES)
        i++;
    recent_add(m, i);
    uint64_t off = below(m, 4096);
    unsigned access = accesses[below(m, 4)] | (below(m, 4) ? 0 : PCIE_F_PRIV);
    iommu_xlate_t x;
    iommu_translate(m->f->u, RID, PASID, m->base + (i << 12) + off, access, &x);
    const page_t *p = &m->pages[i];
    m->checks++;
    if (x.outcome == IOMMU_WALK_OK)
        m->ok_results++;
    else
        m->faults++;
    if (x.outcome == IOMMU_WALK_OK) { /* never a missing permission */
        uint64_t need = ((access & PCIE_F_R) ? IOMMU_PTE_R : 0) |
                        ((access & PCIE_F_W) ? IOMMU_PTE_W : 0) |
                        ((access & PCIE_F_X) ? IOMMU_PTE_X : 0);
        ck_assert_msg(!(need & ~x.perm), "page %zu: access %x granted %llx", i,
                      access, (unsigned long long)x.perm);
    }
    if (p->unknown)
        return;
    if (p->nhist == 0) {
        m->exact++;
        ck_assert_msg(matches(m, &p->cur, off, access, &x),
                      "page %zu (clean): outcome %d pa %llx perm %llx shift %u"
                      " vs present %d pa %llx perm %x shift %u",
                      i, x.outcome, (unsigned long long)x.pa,
                      (unsigned long long)x.perm, x.shift, p->cur.present,
                      (unsigned long long)p->cur.pa, p->cur.perm, p->cur.shift);
        return;
    }
    bool any = matches(m, &p->cur, off, access, &x);
    for (unsigned k = 0; k < p->nhist && !any; k++)
        any = matches(m, &p->hist[k], off, access, &x);
    ck_assert_msg(any,
                  "page %zu: outcome %d pa %llx matches no value since "
                  "its last invalidation",
                  i, x.outcome, (unsigned long long)x.pa);
}

static void run(model_t *m, bool nested)
{
    for (unsigned op = 0; op < OPS; op++) {
        uint64_t r = below(m, 100);
        if (r < 25)
            op_map(m);
        else if (r < 35)
            op_unmap(m);
        else if (r < 43)
            op_protect(m);
        else if (r < 50)
            op_invalidate(m);
        else if (nested && r < 56)
            op_s2(m);
        else
            op_translate(m);
    }
    ck_assert_uint_gt(m->checks, OPS / 3);
    ck_assert_uint_gt(m->exact, m->checks / 4);
    ck_assert_uint_gt(m->ok_results, m->checks / 20);
    ck_assert_uint_gt(m->faults, m->checks / 20);
}

static model_t *model_new(const iommu_cfg_t *c, unsigned levels, bool nested,
                          uint64_t seed)
{
    model_t *m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    m->f = fx_create(c);
    m->rng = seed;
    m->pages = calloc(PAGES, sizeof(*m->pages));
    m->dirty = calloc(PAGES, sizeof(*m->dirty));
    ck_assert_ptr_nonnull(m->pages);
    ck_assert_ptr_nonnull(m->dirty);
    m->base = levels == 5 ? 0x0100000000000000ull : 0x00007f0000000000ull;
    if (!nested) {
        fx_bind_s1(m->f, &m->pt, RID, PASID, DOM, true, levels);
        return m;
    }
    m->g = iommu_guest_create(iommu_memory(m->f->u), 4, 21);
    ck_assert_ptr_nonnull(m->g);
    m->gbase = iommu_guest_reserve(m->g, (uint64_t)S2PAGES << 12, 1ull << 30);
    ck_assert_uint_ne(m->gbase, 0);
    m->s2 = calloc(S2PAGES, sizeof(*m->s2));
    ck_assert_ptr_nonnull(m->s2);
    /* Stage 2 of the data window: 2 MiB leaves, then 4 KiB leaves. */
    iommu_pt_t *s2 = iommu_guest_s2(m->g);
    for (uint64_t i = 0; i < S2PAGES; i += i < S2PAGES / 2 ? 512 : 1) {
        unsigned sh = i < S2PAGES / 2 ? 21 : 12;
        uint64_t hpa = (0x100000000ull + (i << 12));
        ck_assert_int_eq(iommu_pt_map(s2, m->gbase + (i << 12), hpa, sh,
                                      IOMMU_PTE_R | IOMMU_PTE_W),
                         0);
        for (uint64_t k = 0; k < (1ull << (sh - 12)); k++)
            m->s2[i + k] = (val_t){hpa + (k << 12), IOMMU_PTE_R | IOMMU_PTE_W,
                                   (uint8_t)sh, true};
    }
    ck_assert_int_eq(iommu_pt_init_guest(&m->pt, m->g, levels), 0);
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_NESTED,
                             .domain = DOM,
                             .s2_domain = VMID,
                             .s1 = m->pt,
                             .s2 = *iommu_guest_s2(m->g),
                             .pri = true};
    ck_assert_int_eq(iommu_set_pasid(m->f->u, RID, PASID, &e), 0);
    return m;
}

static void model_free(model_t *m)
{
    iommu_guest_destroy(m->g);
    fx_destroy(m->f);
    free(m->pages);
    free(m->dirty);
    free(m->s2);
    free(m);
}

START_TEST(test_single_stage_small_iotlb)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.iotlb_sets = 4;
    c.iotlb_ways = 2;
    model_t *m = model_new(&c, 4, false, 0x1234);
    run(m, false);
    ck_assert_uint_gt(fx_ctr(m->f, "iommu.iotlb.hits"), 1000);
    ck_assert_uint_gt(fx_ctr(m->f, "iommu.psc.s1.l2.hits"), 1000);
    model_free(m);
}
END_TEST

START_TEST(test_single_stage_5level_ad)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.levels = 5;
    c.ad = IOMMU_AD_ON;
    model_t *m = model_new(&c, 5, false, 0x5678);
    run(m, false);
    ck_assert_uint_gt(fx_ctr(m->f, "iommu.walk.ad_writes"), 1000);
    model_free(m);
}
END_TEST

START_TEST(test_nested)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.iotlb_sets = 8;
    c.s2tlb = 16;
    model_t *m = model_new(&c, 4, true, 0x9abc);
    run(m, true);
    ck_assert_uint_gt(fx_ctr(m->f, "iommu.walk.s2_not_present"), 100);
    ck_assert_uint_gt(fx_ctr(m->f, "iommu.walk.s2_perm"), 10);
    ck_assert_uint_gt(fx_ctr(m->f, "iommu.s2tlb.hits"), 100);
    model_free(m);
}
END_TEST

static Suite *property_suite(void)
{
    Suite *s = suite_create("property");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_single_stage_small_iotlb);
    tcase_add_test(tc, test_single_stage_5level_ad);
    tcase_add_test(tc, test_nested);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(property_suite());
}
