/*
 * tests/iommu/test_iommu_unit.c - the IOMMU's timed request path driven
 * through iommu_rx: ATS translation (UR for a bad context, not present,
 * IOTLB miss then hit, huge pages), walk slots contending, concurrent
 * misses to one page merged into one walk, no stale answer when an
 * invalidation lands during a walk, the data path of translated and
 * untranslated requests (success, abort with a fault record, bad
 * context), and the SMMUv3 stall model (held, resumed with retry or
 * abort).
 *
 * A fake downstream records every message the IOMMU sends with its time;
 * expected times are sums of the configured latencies: ctx_hit + iotlb_hit
 * for the lookups, walk_read per context/table read, psc_hit per
 * paging-structure cache hit, memory.access for the data.
 */
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"

#define RID 0x0123u
#define PASID 0x42u
#define DOMAIN 7u

/* Distinct magnitudes, so that a sum identifies its parts. */
static void unit_cfg(iommu_cfg_t *c)
{
    fx_defaults(c);
    c->walkers = 4;
    c->prq_depth = 64;
    c->ctx_hit = 5 * SIM_NS;
    c->iotlb_hit = 11 * SIM_NS;
    c->psc_hit = 3 * SIM_NS;
    c->walk_read = 250 * SIM_NS;
    c->prq_write = 100 * SIM_NS;
    c->mem_access = 60 * SIM_NS;
    /* The timings below are derived as lookups + reads x walk_read,
     * without A/D writes (VT-d's default sets them: iommu.ad). */
    c->ad = IOMMU_AD_OFF;
}

static sim_time_t lookup(const fx_t *f)
{
    return f->cfg.ctx_hit + f->cfg.iotlb_hit;
}

/* An IOMMU with a stage-1 table bound to (RID, PASID). */
static fx_t *fx_s1(const iommu_cfg_t *c, iommu_pt_t *pt)
{
    fx_t *f = fx_create(c);
    fx_bind_s1(f, pt, RID, PASID, DOMAIN, true, (unsigned)c->levels);
    return f;
}

static pcie_msg_t ats_req(uint32_t pasid, uint64_t addr, uint16_t tag,
                          bool write)
{
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_ATS_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | (write ? PCIE_F_W : PCIE_F_NW);
    m.rid = RID;
    m.pasid = pasid;
    m.addr = addr;
    m.tag = tag;
    m.cookie = (void *)(uintptr_t)(0x1000 + tag);
    return m;
}

static pcie_msg_t mem_req(bool write, uint64_t addr, uint32_t len, uint16_t tag)
{
    pcie_msg_t m = {0};
    m.type = write ? PCIE_MSG_MEM_WR : PCIE_MSG_MEM_RD;
    m.flags = PCIE_F_PASID;
    m.rid = RID;
    m.pasid = PASID;
    m.addr = addr;
    m.len = len;
    m.tag = tag;
    m.cookie = (void *)(uintptr_t)(0x2000 + tag);
    return m;
}

/* Warm the context and PASID caches (a translation of page 0). */
static void warm(fx_t *f)
{
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0, 0, &x);
}

/* ------------------------------------------------------------- ATS */

/* An unknown RID: UR after the lookups and the one root-entry read; an
 * unknown PASID of a known RID: UR after the cached context and the
 * PASID directory read. */
START_TEST(test_ats_ur)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    pcie_msg_t r = ats_req(PASID, 0x1000, 3, false);
    r.rid = 0x7700;
    fx_inject_at(f, 0, &r);
    pcie_msg_t r2 = ats_req(PASID + 64, 0x1000, 4, false);
    fx_inject_at(f, 10 * SIM_US, &r2);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_uint_eq(f->cap[i].m.type, PCIE_MSG_ATS_CPL);
        ck_assert_uint_eq(f->cap[i].m.code, PCIE_CPL_UR);
        ck_assert_uint_eq(f->cap[i].m.perm, 0);
    }
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + 1 * c.walk_read);
    ck_assert_uint_eq(f->cap[0].rid, 0x7700);
    ck_assert_uint_eq(f->cap[1].t - 10 * SIM_US, lookup(f) + 1 * c.walk_read);
    ck_assert_ptr_eq(f->cap[1].m.cookie, r2.cookie);
    ck_assert_uint_eq(f->cap[1].m.tag, 4);
    ck_assert_uint_eq(fx_ctr(f, "iommu.ats.unsupported"), 2);
    fx_destroy(f);
}
END_TEST

/* A page missing at the leaf: Success with R=W=0 after the context reads
 * (first request: 4) and a full walk; not-present results are not
 * cached, so asking again walks again (context now cached, PSC hit). */
START_TEST(test_ats_not_present_timing)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    c.levels = (uint64_t)_i;
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    uint64_t va = 0x7f0000010000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va + 0x1000, 0x55000, 12, PTE_RWU), 0);
    pcie_msg_t r = ats_req(PASID, va, 1, false);
    fx_inject_at(f, 0, &r);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 1);
    const pcie_msg_t *m = &f->cap[0].m;
    ck_assert_uint_eq(m->code, PCIE_CPL_SC);
    ck_assert_uint_eq(m->perm, 0);
    ck_assert_ptr_eq(m->cookie, r.cookie);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + (4 + c.levels) * c.walk_read);
    sim_time_t t1 = sim_now(f->sim) + SIM_US;
    fx_inject_at(f, t1, &r);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[1].t - t1, lookup(f) + c.psc_hit + c.walk_read);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.s1_not_present"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.hits"), 0);
    fx_destroy(f);
}
END_TEST

/* After mapping: the first request walks, the second hits the IOTLB; a
 * read-only page is granted R only; the No-Write hint withholds W. */
START_TEST(test_ats_miss_then_hit)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    fx_no_walk_caches(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    uint64_t va = 0x7f0000020000ull, pa = 0x123456000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va, pa, 12, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, va + 0x1000, pa + 0x1000, 12,
                                  IOMMU_PTE_R | IOMMU_PTE_U),
                     0);
    pcie_msg_t r = ats_req(PASID, va, 1, true);
    fx_inject_at(f, 0, &r);
    fx_inject_at(f, 5 * SIM_US, &r);
    pcie_msg_t nw = ats_req(PASID, va, 2, false);
    fx_inject_at(f, 10 * SIM_US, &nw);
    pcie_msg_t ro = ats_req(PASID, va + 0x1000, 3, true);
    fx_inject_at(f, 15 * SIM_US, &ro);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 4);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + 4 * c.walk_read);
    ck_assert_uint_eq(f->cap[1].t - 5 * SIM_US, lookup(f));
    ck_assert_uint_eq(f->cap[0].m.perm, PCIE_F_R | PCIE_F_W);
    ck_assert_uint_eq(f->cap[1].m.perm, PCIE_F_R | PCIE_F_W);
    ck_assert_uint_eq(f->cap[1].m.xaddr, pa);
    ck_assert_uint_eq(f->cap[1].m.size_shift, 12);
    ck_assert_uint_eq(f->cap[2].m.perm, PCIE_F_R);
    ck_assert_uint_eq(f->cap[3].m.perm, PCIE_F_R);
    ck_assert_uint_eq(fx_ctr(f, "iommu.iotlb.hits"), 2);
    fx_destroy(f);
}
END_TEST

/* A 2 MiB leaf: the completion says so (size_shift 21) and one IOTLB
 * entry serves every 4 KiB page of it. */
START_TEST(test_ats_huge_page)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    fx_no_walk_caches(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    uint64_t va = 0x7f0000200000ull, pa = 0x40000000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va, pa, 21, PTE_RWU), 0);
    pcie_msg_t r = ats_req(PASID, va + 0x3000, 1, false);
    fx_inject_at(f, 0, &r);
    pcie_msg_t r2 = ats_req(PASID, va + 0x1ff000, 2, false);
    fx_inject_at(f, 5 * SIM_US, &r2);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + 3 * c.walk_read);
    ck_assert_uint_eq(f->cap[0].m.xaddr, pa + 0x3000);
    ck_assert_uint_eq(f->cap[0].m.size_shift, 21);
    ck_assert_uint_eq(f->cap[1].t - 5 * SIM_US, lookup(f));
    ck_assert_uint_eq(f->cap[1].m.xaddr, pa + 0x1ff000);
    fx_destroy(f);
}
END_TEST

/* One walk slot: two concurrent misses to different pages are answered
 * one walk apart. */
START_TEST(test_walkers_contend)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    fx_no_walk_caches(&c);
    c.walkers = 1;
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x10000, 0x20000, 12, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x11000, 0x21000, 12, PTE_RWU), 0);
    pcie_msg_t a = ats_req(PASID, 0x10000, 1, false);
    pcie_msg_t b = ats_req(PASID, 0x11000, 2, false);
    fx_inject_at(f, 0, &a);
    fx_inject_at(f, 0, &b);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    sim_time_t walk = 4 * c.walk_read;
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + walk);
    ck_assert_uint_eq(f->cap[1].t, lookup(f) + 2 * walk);
    ck_assert_uint_eq(f->cap[0].m.tag, 1);
    ck_assert_uint_eq(f->cap[1].m.tag, 2);
    fx_destroy(f);
}
END_TEST

/* Concurrent misses to one page wait for one walk: three requests for the
 * same page (arriving during the walk) get the answer when it ends, with
 * one walk done; a request for another page, or asking another access,
 * walks on its own. */
START_TEST(test_concurrent_miss_merging)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    fx_no_walk_caches(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    uint64_t va = 0x7f0000040000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va, 0x300000, 12, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&pt, va + 0x1000, 0x301000, 12, PTE_RWU), 0);
    pcie_msg_t r[5] = {
        ats_req(PASID, va, 1, false), ats_req(PASID, va + 0x80, 2, false),
        ats_req(PASID, va + 0xf00, 3, false),
        ats_req(PASID, va + 0x1000, 4, false), ats_req(PASID, va, 5, true)};
    sim_time_t at[5] = {0, 100 * SIM_NS, 900 * SIM_NS, 100 * SIM_NS,
                        100 * SIM_NS};
    sim_hist_t *h = sim_stats_find_hist(f->st, "iommu.walk.reads");
    uint64_t walks0 = h->count;
    for (unsigned i = 0; i < 5; i++)
        fx_inject_at(f, at[i], &r[i]);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 5);
    sim_time_t walk_end = lookup(f) + 4 * c.walk_read;
    unsigned same = 0;
    for (unsigned i = 0; i < 5; i++) {
        const fx_cap_t *k = &f->cap[i];
        ck_assert_uint_eq(k->m.code, PCIE_CPL_SC);
        if (k->m.tag <= 3) {
            same++;
            ck_assert_uint_eq(k->t, walk_end);
            ck_assert_uint_eq(k->m.xaddr & ~0xfffull, 0x300000);
            ck_assert_uint_eq(k->m.perm, PCIE_F_R);
        } else {
            /* Another page, or a write request: walks of their own. */
            ck_assert_uint_eq(k->t, 100 * SIM_NS + walk_end);
        }
    }
    ck_assert_uint_eq(same, 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.merged"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.walker.arrivals"), 3);
    ck_assert_uint_eq(h->count - walks0, 3);
    /* After the walks, the page is in the IOTLB. */
    fx_inject_at(f, 10 * SIM_US, &r[0]);
    fx_run(f);
    ck_assert_uint_eq(f->cap[5].t - 10 * SIM_US, lookup(f));
    fx_destroy(f);
}
END_TEST

/* An invalidation landing while a walk is in flight: the walk answers from
 * the tables as they are when it ends, and nothing stale is cached. */
START_TEST(test_no_stale_answer_after_invalidation)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    fx_no_walk_caches(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    uint64_t va = 0x7f0000050000ull;
    ck_assert_int_eq(iommu_pt_map(&pt, va, 0x400000, 12, PTE_RWU), 0);
    pcie_msg_t r = ats_req(PASID, va, 1, false);
    fx_inject_at(f, 0, &r);
    /* Mid-walk: unmap and invalidate. */
    sim_run(f->sim, lookup(f) + c.walk_read);
    ck_assert_uint_eq(f->ncap, 0);
    ck_assert_int_eq(iommu_pt_unmap(&pt, va, 0x1000, NULL, NULL), 0);
    iommu_iotlb_invalidate(f->u, DOMAIN, PASID, va, 0x1000);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.perm, 0); /* not present */
    ck_assert_uint_eq(fx_ctr(f, "iommu.walk.rewalks"), 1);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, va, PCIE_F_R, &x);
    ck_assert(!x.iotlb_hit);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------ data path */

START_TEST(test_translated_read_write)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    pcie_msg_t rd = mem_req(false, 0x123440, 64, 1);
    rd.flags = PCIE_F_XLATED;
    fx_inject_at(f, SIM_US, &rd);
    pcie_msg_t wr = rd;
    wr.type = PCIE_MSG_MEM_WR;
    wr.len = 128;
    fx_inject_at(f, SIM_US, &wr);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 1); /* writes are posted */
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_MEM_CPL);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_CPL_SC);
    ck_assert_uint_eq(f->cap[0].t, SIM_US + c.mem_access);
    ck_assert_uint_eq(f->cap[0].m.len, 64);
    ck_assert_uint_eq(f->cap[0].m.addr, 0x123440);
    ck_assert_ptr_eq(f->cap[0].m.cookie, rd.cookie);
    ck_assert_uint_eq(fx_ctr(f, "iommu.mem.reads"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.mem.writes"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.mem.bytes"), 192);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.untranslated"), 0);
    fx_destroy(f);
}
END_TEST

/* Untranslated requests of a device without ATS: translated in the IOMMU
 * (the same path: the second one hits the IOTLB), then served. */
START_TEST(test_untranslated_success)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    fx_no_walk_caches(&c);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x60000, 0x9990000, 12, PTE_RWU), 0);
    pcie_msg_t rd = mem_req(false, 0x60040, 256, 1);
    fx_inject_at(f, 0, &rd);
    pcie_msg_t wr = mem_req(true, 0x60100, 64, 2);
    fx_inject_at(f, 10 * SIM_US, &wr);
    pcie_msg_t rd2 = mem_req(false, 0x60080, 32, 3);
    fx_inject_at(f, 20 * SIM_US, &rd2);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_MEM_CPL);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_CPL_SC);
    ck_assert_uint_eq(f->cap[0].m.len, 256);
    ck_assert_uint_eq(f->cap[0].m.tag, 1);
    ck_assert_ptr_eq(f->cap[0].m.cookie, rd.cookie);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + 4 * c.walk_read + c.mem_access);
    ck_assert_uint_eq(f->cap[1].t - 20 * SIM_US, lookup(f) + c.mem_access);
    ck_assert_uint_eq(f->cap[1].m.len, 32);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.untranslated"), 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.mem.reads"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.mem.writes"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.mem.bytes"), 352);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.records"), 0);
    fx_destroy(f);
}
END_TEST

/* A faulting untranslated read is answered UR at once (the DMA aborts)
 * and a fault record is written after prq_write; a faulting write is
 * dropped and recorded; a bad context too. The records decode to what
 * happened. */
START_TEST(test_untranslated_faults)
{
    unsigned arch = (unsigned)_i;
    iommu_cfg_t c;
    unit_cfg(&c);
    c.arch = arch;
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    ck_assert_int_eq(
        iommu_pt_map(&pt, 0x70000, 0x8880000, 12, IOMMU_PTE_R | IOMMU_PTE_U),
        0);
    pcie_msg_t rd = mem_req(false, 0x90040, 64, 1); /* not mapped */
    fx_inject_at(f, 0, &rd);
    pcie_msg_t wr = mem_req(true, 0x70080, 64, 2); /* read-only */
    fx_inject_at(f, 10 * SIM_US, &wr);
    pcie_msg_t bad = mem_req(false, 0x1000, 64, 3);
    bad.rid = RID + 1;
    fx_inject_at(f, 20 * SIM_US, &bad);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_MEM_CPL);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_CPL_UR);
    ck_assert_uint_eq(f->cap[0].m.len, 0);
    ck_assert_uint_eq(f->cap[0].m.tag, 1);
    ck_assert_uint_eq(f->cap[1].m.code, PCIE_CPL_UR);
    ck_assert_uint_eq(f->cap[1].rid, RID + 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.faults"), 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.aborted"), 3);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.records"), 3);
    ck_assert_uint_eq(f->fault_irqs, 3);
    static const iommu_walk_outcome_t why[3] = {
        IOMMU_WALK_S1_NOT_PRESENT, IOMMU_WALK_S1_PERM, IOMMU_WALK_BAD_CONTEXT};
    uint32_t pos = iommu_fault_head(f->u);
    for (unsigned i = 0; i < 3; i++) {
        iommu_fault_rec_t r;
        iommu_fault_read(f->u, pos, &r);
        ck_assert_int_eq(r.reason, why[i]);
        ck_assert(!r.stall);
        ck_assert(r.pasid_valid);
        ck_assert_uint_eq(r.pasid, PASID);
        pos = iommu_fault_next(f->u, pos);
    }
    ck_assert_uint_eq(pos, iommu_fault_tail(f->u));
    iommu_fault_rec_t r;
    iommu_fault_read(f->u, iommu_fault_head(f->u), &r);
    ck_assert_uint_eq(r.rid, RID);
    ck_assert_uint_eq(r.flags & (PCIE_F_R | PCIE_F_W), PCIE_F_R);
    /* SMMUv3 keeps the full address, VT-d its page. */
    ck_assert_uint_eq(r.addr, arch == IOMMU_ARCH_SMMUV3 ? 0x90040 : 0x90000);
    iommu_fault_read(f->u, iommu_fault_next(f->u, iommu_fault_head(f->u)), &r);
    ck_assert_uint_eq(r.flags & (PCIE_F_R | PCIE_F_W), PCIE_F_W);
    fx_destroy(f);
}
END_TEST

/* The fault queue is bounded: records beyond it are lost (counted) and
 * the overflow flag stays set, losing further records, until software
 * drains and acknowledges. */
START_TEST(test_fault_queue_overflow)
{
    unsigned arch = (unsigned)_i;
    iommu_cfg_t c;
    unit_cfg(&c);
    c.arch = arch;
    c.fault_depth = 4;
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    /* VT-d keeps a slot free (3 records fit), SMMUv3 uses all four. */
    unsigned fit = arch == IOMMU_ARCH_SMMUV3 ? 4 : 3;
    for (unsigned i = 0; i < 6; i++) {
        pcie_msg_t rd = mem_req(false, 0x100000 + i * 0x1000, 64, (uint16_t)i);
        fx_inject_at(f, i * SIM_US, &rd);
    }
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.records"), fit);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.lost"), 6 - fit);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.overflows"), 1);
    ck_assert(iommu_fault_overflowed(f->u));
    /* Drained but not acknowledged: still lost. */
    iommu_fault_set_head(f->u, iommu_fault_tail(f->u));
    pcie_msg_t rd = mem_req(false, 0x200000, 64, 9);
    fx_inject_at(f, 100 * SIM_US, &rd);
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.records"), fit);
    iommu_fault_ack_overflow(f->u);
    fx_inject_at(f, 200 * SIM_US, &rd);
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.fault.records"), fit + 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.aborted"), 8); /* all UR */
    fx_destroy(f);
}
END_TEST

/* --------------------------------------------------------- stall */

static unsigned count_cpl(const fx_t *f, uint8_t code)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->ncap; i++)
        n += f->cap[i].m.type == PCIE_MSG_MEM_CPL && f->cap[i].m.code == code;
    return n;
}

/* SMMUv3 stall model: a faulting untranslated read is held and reported
 * with STALL and a tag; once the page is mapped, a RESUME with RETRY
 * translates it again and completes it; another is resumed with ABORT
 * and answered UR. */
START_TEST(test_stall_resume)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    c.arch = IOMMU_ARCH_SMMUV3;
    c.stall = true;
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    warm(f);
    pcie_msg_t a = mem_req(false, 0xa0010, 64, 1);
    pcie_msg_t b = mem_req(true, 0xb0000, 64, 2);
    fx_inject_at(f, 0, &a);
    fx_inject_at(f, 0, &b);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 0); /* held: no completion */
    ck_assert_uint_eq(iommu_stalled(f->u), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.stalled"), 2);
    ck_assert_uint_eq(f->fault_irqs, 2);
    iommu_fault_rec_t ra, rb;
    iommu_fault_read(f->u, iommu_fault_head(f->u), &ra);
    iommu_fault_read(f->u, iommu_fault_next(f->u, iommu_fault_head(f->u)), &rb);
    ck_assert(ra.stall && rb.stall);
    ck_assert_uint_ne(ra.stag, rb.stag);
    ck_assert_uint_eq(ra.addr, 0xa0010);
    ck_assert_int_eq(ra.reason, IOMMU_WALK_S1_NOT_PRESENT);
    /* Fix a's page; resume a with RETRY, b with ABORT. */
    ck_assert_int_eq(iommu_pt_map(&pt, 0xa0000, 0x5550000, 12, PTE_RWU), 0);
    sim_time_t t = sim_now(f->sim);
    iommu_qi_desc_t d[2] = {{.type = IOMMU_QI_RESUME,
                             .rid = RID,
                             .prgi = ra.stag,
                             .code = PCIE_PRG_SUCCESS},
                            {.type = IOMMU_QI_RESUME,
                             .rid = RID,
                             .prgi = rb.stag,
                             .code = PCIE_PRG_INVALID}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 2), 0);
    fx_run(f);
    ck_assert_uint_eq(iommu_stalled(f->u), 0);
    ck_assert_uint_eq(count_cpl(f, PCIE_CPL_SC), 1);
    ck_assert_uint_eq(f->ncap, 1); /* the write is dropped, no UR */
    /* a: the resume's cost, then lookups, the walk (context cached; the
     * failed walk found the top entry absent, so no PSC entry: 4 reads)
     * and the memory access. */
    ck_assert_uint_eq(f->cap[0].t, t + c.qi_page_resp + lookup(f) +
                                       4 * c.walk_read + c.mem_access);
    ck_assert_uint_eq(f->cap[0].m.tag, 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.resumed"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.aborted"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.resume"), 2);
    /* A resume for no stalled transaction is an error, counted. */
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 1), 0);
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.errors"), 1);
    fx_destroy(f);
}
END_TEST

/* Stall needs SMMUv3; a bad context is never stalled. */
START_TEST(test_stall_config_and_bad_context)
{
    iommu_cfg_t c;
    unit_cfg(&c);
    c.stall = true;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    ck_assert_ptr_null(iommu_create(sim, st, &c, 1));
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "iommu.stall"));
    ck_assert_int_eq(iommu_cfg_check(&c, NULL), -EINVAL);
    sim_stats_destroy(st);
    sim_destroy(sim);
    c.arch = IOMMU_ARCH_SMMUV3;
    ck_assert_int_eq(iommu_cfg_check(&c, NULL), 0);
    iommu_pt_t pt;
    fx_t *f = fx_s1(&c, &pt);
    pcie_msg_t bad = mem_req(false, 0x1000, 64, 3);
    bad.pasid = PASID + 1;
    fx_inject_at(f, 0, &bad);
    fx_run(f);
    ck_assert_uint_eq(count_cpl(f, PCIE_CPL_UR), 1);
    ck_assert_uint_eq(iommu_stalled(f->u), 0);
    fx_destroy(f);
}
END_TEST

static Suite *iommu_suite(void)
{
    Suite *s = suite_create("iommu_unit");
    TCase *tc = tcase_create("ats");
    tcase_add_test(tc, test_ats_ur);
    tcase_add_loop_test(tc, test_ats_not_present_timing, 4, 6);
    tcase_add_test(tc, test_ats_miss_then_hit);
    tcase_add_test(tc, test_ats_huge_page);
    tcase_add_test(tc, test_walkers_contend);
    tcase_add_test(tc, test_concurrent_miss_merging);
    tcase_add_test(tc, test_no_stale_answer_after_invalidation);
    suite_add_tcase(s, tc);
    tc = tcase_create("data");
    tcase_add_test(tc, test_translated_read_write);
    tcase_add_test(tc, test_untranslated_success);
    tcase_add_loop_test(tc, test_untranslated_faults, 0, 2);
    tcase_add_loop_test(tc, test_fault_queue_overflow, 0, 2);
    tcase_add_test(tc, test_stall_resume);
    tcase_add_test(tc, test_stall_config_and_bad_context);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(iommu_suite());
}
