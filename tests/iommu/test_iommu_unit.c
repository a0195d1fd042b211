/*
 * tests/iommu/test_iommu_unit.c - the IOMMU unit driven directly through
 * iommu_rx: ATS translation (UR, not present, IOTLB miss then hit, LRU
 * replacement, invalidation), the data path, the page request queue
 * (VT-d PRQ: one slot unused, PRO, automatic Success responses, interrupt
 * only when PPR and PRO were clear), PRI disabled in the PASID entry, page
 * group responses and device-TLB invalidation.
 *
 * A fake downstream callback records every message the IOMMU sends with
 * the simulated time it was sent; expected times are sums of the configured
 * latencies (ctx_hit + iotlb_hit for the lookup, walk_read per table read).
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"
#include "sim/sim.h"

#define RID 0x0123u
#define PASID 0x42u
#define DOMAIN 7u
#define RW (IOMMU_PTE_R | IOMMU_PTE_W)
#define MAXCAP 256
#define MAXINJ 256

typedef struct cap {
    sim_time_t t;
    uint16_t rid;
    pcie_msg_t m;
} cap_t;

typedef struct fx {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    iommu_cfg_t cfg;
    iommu_t *u;
    iommu_pt_t pt; /* the stage-1 table of (RID, PASID) */
    cap_t cap[MAXCAP];
    unsigned ncap;
    unsigned irqs;
    sim_time_t irq_t[MAXCAP];
    pcie_msg_t inj[MAXINJ];
    unsigned ninj;
    unsigned done_calls;
} fx_t;

static void down(void *opaque, uint16_t rid, const pcie_msg_t *m)
{
    fx_t *f = opaque;
    ck_assert_uint_lt(f->ncap, MAXCAP);
    f->cap[f->ncap].t = sim_now(f->sim);
    f->cap[f->ncap].rid = rid;
    f->cap[f->ncap].m = *m;
    f->ncap++;
}

static void irq(void *opaque)
{
    fx_t *f = opaque;
    f->irq_t[f->irqs++] = sim_now(f->sim);
}

static void default_cfg(iommu_cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->arch = IOMMU_ARCH_VTD;
    c->levels = 4;
    c->iotlb_sets = 16;
    c->iotlb_ways = 4;
    c->walkers = 4;
    c->prq_depth = 64;
    /* Distinct magnitudes, so that a sum identifies its parts. */
    c->ctx_hit = 5 * SIM_NS;
    c->iotlb_hit = 11 * SIM_NS;
    c->walk_read = 250 * SIM_NS;
    c->prq_write = 100 * SIM_NS;
    c->mem_access = 60 * SIM_NS;
}

static fx_t *fx_create(const iommu_cfg_t *cfg, bool pri)
{
    fx_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    sim_log_init(&f->log, SIM_LOG_ERROR, NULL, NULL);
    f->sim = sim_create(&f->log);
    f->st = sim_stats_create();
    ck_assert_ptr_nonnull(f->sim);
    ck_assert_ptr_nonnull(f->st);
    f->cfg = *cfg;
    f->u = iommu_create(f->sim, f->st, cfg, 1);
    ck_assert_ptr_nonnull(f->u);
    iommu_set_downstream(f->u, down, f);
    iommu_set_prq_irq(f->u, irq, f);
    ck_assert_int_eq(
        iommu_pt_init(&f->pt, iommu_memory(f->u), (unsigned)cfg->levels), 0);
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1,
                             .domain = DOMAIN,
                             .s1 = f->pt,
                             .pri = pri};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
    return f;
}

static void fx_destroy(fx_t *f)
{
    iommu_destroy(f->u);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

static uint64_t counter(fx_t *f, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(f->st, name);
    ck_assert_msg(c != NULL, "no counter %s", name);
    return c->value;
}

static void ev_inject(sim_t *sim, void *opaque, uint64_t arg)
{
    fx_t *f = opaque;
    iommu_rx(f->u, &f->inj[arg]);
}

/* Deliver msg to the IOMMU at absolute time t. */
static void inject_at(fx_t *f, sim_time_t t, const pcie_msg_t *msg)
{
    ck_assert_uint_lt(f->ninj, MAXINJ);
    f->inj[f->ninj] = *msg;
    ck_assert_uint_ne(sim_schedule_at(f->sim, t, ev_inject, f, f->ninj), 0);
    f->ninj++;
}

static pcie_msg_t ats_req(uint32_t pasid, uint64_t addr, uint16_t tag)
{
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_ATS_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | PCIE_F_W;
    m.rid = RID;
    m.pasid = pasid;
    m.addr = addr;
    m.tag = tag;
    m.cookie = (void *)(uintptr_t)(0x1000 + tag);
    return m;
}

static pcie_msg_t page_req(uint64_t addr, uint16_t prgi, bool last)
{
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_PAGE_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | (last ? PCIE_F_LAST : 0);
    m.rid = RID;
    m.pasid = PASID;
    m.addr = addr;
    m.tag = prgi;
    return m;
}

static sim_time_t lookup(const fx_t *f)
{
    return f->cfg.ctx_hit + f->cfg.iotlb_hit;
}

/* ------------------------------------------------------------- ATS */

START_TEST(test_ur_unknown_pasid)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    pcie_msg_t r = ats_req(PASID + 1, 0x1000, 3);
    inject_at(f, 0, &r);
    pcie_msg_t r2 = ats_req(PASID, 0x1000, 4);
    r2.rid = RID + 1; /* known PASID, unknown requester */
    inject_at(f, 0, &r2);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 2);
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_uint_eq(f->cap[i].m.type, PCIE_MSG_ATS_CPL);
        ck_assert_uint_eq(f->cap[i].m.code, PCIE_CPL_UR);
        ck_assert_uint_eq(f->cap[i].m.perm, 0);
        /* Answered after the context lookup, with no walk. */
        ck_assert_uint_eq(f->cap[i].t, lookup(f));
    }
    ck_assert_uint_eq(f->cap[0].rid, RID);
    ck_assert_uint_eq(f->cap[1].rid, RID + 1);
    ck_assert_ptr_eq(f->cap[0].m.cookie, r.cookie);
    ck_assert_uint_eq(f->cap[0].m.tag, 3);
    ck_assert_uint_eq(counter(f, "iommu.ats.unsupported"), 2);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.misses"), 0);
    /* A cleared entry answers UR too. */
    iommu_clear_pasid(f->u, RID, PASID);
    ck_assert_ptr_null(iommu_get_pasid(f->u, RID, PASID));
    pcie_msg_t r3 = ats_req(PASID, 0x1000, 5);
    inject_at(f, sim_now(f->sim) + SIM_US, &r3);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->cap[2].m.code, PCIE_CPL_UR);
    fx_destroy(f);
}
END_TEST

/* A page missing at the leaf: completion SC with R=W=0 after the lookup
 * and a full walk (levels reads); missing at the top: one read. */
START_TEST(test_not_present_timing)
{
    iommu_cfg_t c;
    default_cfg(&c);
    c.levels = (uint64_t)_i;
    fx_t *f = fx_create(&c, true);
    uint64_t va = 0x7f0000010000ull;
    /* The neighbour page makes every table down to the last level exist. */
    ck_assert_int_eq(iommu_pt_map(&f->pt, va + 0x1000, 0x55000, 12, RW), 0);
    pcie_msg_t r = ats_req(PASID, va, 1);
    inject_at(f, 0, &r);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 1);
    const pcie_msg_t *m = &f->cap[0].m;
    ck_assert_uint_eq(m->type, PCIE_MSG_ATS_CPL);
    ck_assert_uint_eq(m->code, PCIE_CPL_SC);
    ck_assert_uint_eq(m->perm, 0);
    ck_assert_ptr_eq(m->cookie, r.cookie);
    ck_assert_uint_eq(m->pasid, PASID);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + c.levels * c.walk_read);
    if (c.levels == 4)
        ck_assert_uint_eq(f->cap[0].t,
                          c.ctx_hit + c.iotlb_hit + 4 * c.walk_read);
    ck_assert_uint_eq(counter(f, "iommu.walk.s1_not_present"), 1);
    /* Not-present results are not cached: asking again walks again. */
    sim_time_t t1 = sim_now(f->sim) + SIM_US;
    inject_at(f, t1, &r);
    /* An address under an empty top-level entry: 1 read. */
    sim_time_t t2 = t1 + 10 * SIM_US;
    uint64_t far = c.levels == 5 ? (1ull << 52) : 0x1000;
    pcie_msg_t r2 = ats_req(PASID, far, 2);
    inject_at(f, t2, &r2);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->cap[1].t - t1, lookup(f) + c.levels * c.walk_read);
    ck_assert_uint_eq(f->cap[2].t - t2, lookup(f) + 1 * c.walk_read);
    ck_assert_uint_eq(f->cap[2].m.perm, 0);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.hits"), 0);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.misses"), 3);
    fx_destroy(f);
}
END_TEST

/* After mapping: the first request walks, the second hits the IOTLB. */
START_TEST(test_iotlb_miss_then_hit)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    uint64_t va = 0x7f0000020000ull, pa = 0x123456000ull;
    ck_assert_int_eq(iommu_pt_map(&f->pt, va, pa, 12, RW), 0);
    pcie_msg_t r = ats_req(PASID, va, 1);
    inject_at(f, 0, &r);
    sim_time_t t2 = 5 * SIM_US;
    inject_at(f, t2, &r);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + c.levels * c.walk_read);
    ck_assert_uint_eq(f->cap[1].t - t2, lookup(f));
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_uint_eq(f->cap[i].m.code, PCIE_CPL_SC);
        ck_assert_uint_eq(f->cap[i].m.perm, PCIE_F_R | PCIE_F_W);
        ck_assert_uint_eq(f->cap[i].m.xaddr & ~0xfffull, pa);
    }
    ck_assert_uint_eq(counter(f, "iommu.iotlb.misses"), 1);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.hits"), 1);
    ck_assert_uint_eq(counter(f, "iommu.walk.ok"), 1);
    /* A read-only page is granted R only. */
    ck_assert_int_eq(iommu_pt_map(&f->pt, va + 0x1000, pa + 0x1000, 12,
                                  IOMMU_PTE_R),
                     0);
    pcie_msg_t r2 = ats_req(PASID, va + 0x1000, 2);
    inject_at(f, 10 * SIM_US, &r2);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->cap[2].m.perm, PCIE_F_R);
    fx_destroy(f);
}
END_TEST

/* A 2 MiB leaf fills one IOTLB entry that serves every 4 KiB page in it;
 * a walk of it costs levels - 1 reads. */
START_TEST(test_iotlb_huge_page)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    uint64_t va = 0x7f0000200000ull, pa = 0x40000000ull;
    ck_assert_int_eq(iommu_pt_map(&f->pt, va, pa, 21, RW), 0);
    pcie_msg_t r = ats_req(PASID, va + 0x3000, 1);
    inject_at(f, 0, &r);
    pcie_msg_t r2 = ats_req(PASID, va + 0x1ff000, 2);
    sim_time_t t2 = 5 * SIM_US;
    inject_at(f, t2, &r2);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + (c.levels - 1) * c.walk_read);
    ck_assert_uint_eq(f->cap[0].m.xaddr, pa + 0x3000);
    ck_assert_uint_eq(f->cap[1].t - t2, lookup(f));
    ck_assert_uint_eq(f->cap[1].m.xaddr, pa + 0x1ff000);
    fx_destroy(f);
}
END_TEST

/* Request va at time t; returns whether it was answered from the IOTLB
 * (latency == lookup) or by a walk (lookup + levels reads). */
static bool request_is_hit(fx_t *f, uint64_t va, sim_time_t t)
{
    unsigned n = f->ncap;
    pcie_msg_t r = ats_req(PASID, va, (uint16_t)n);
    inject_at(f, t, &r);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, n + 1);
    sim_time_t lat = f->cap[n].t - t;
    ck_assert(lat == lookup(f) || lat == lookup(f) + 4 * f->cfg.walk_read);
    return lat == lookup(f);
}

/* One set of two ways: LRU replacement order. */
START_TEST(test_iotlb_lru)
{
    iommu_cfg_t c;
    default_cfg(&c);
    c.iotlb_sets = 1;
    c.iotlb_ways = 2;
    fx_t *f = fx_create(&c, true);
    uint64_t p[3];
    for (unsigned i = 0; i < 3; i++) {
        p[i] = 0x7f0000000000ull + i * 0x1000;
        ck_assert_int_eq(iommu_pt_map(&f->pt, p[i], 0x100000 + i * 0x1000, 12,
                                      RW),
                         0);
    }
    sim_time_t t = 0;
#define STEP (10 * SIM_US)
    ck_assert(!request_is_hit(f, p[0], t += STEP)); /* {0} */
    ck_assert(!request_is_hit(f, p[1], t += STEP)); /* {0, 1} */
    ck_assert(request_is_hit(f, p[0], t += STEP));  /* 0 most recent */
    ck_assert(!request_is_hit(f, p[2], t += STEP)); /* evicts 1: {0, 2} */
    ck_assert(request_is_hit(f, p[0], t += STEP));  /* 0 most recent */
    ck_assert(request_is_hit(f, p[2], t += STEP));  /* 2 most recent */
    ck_assert(!request_is_hit(f, p[1], t += STEP)); /* evicts 0: {2, 1} */
    ck_assert(!request_is_hit(f, p[0], t += STEP)); /* evicts 2: {1, 0} */
    ck_assert(request_is_hit(f, p[1], t += STEP));
    ck_assert(!request_is_hit(f, p[2], t += STEP)); /* evicts 0 */
#undef STEP
    ck_assert_uint_eq(counter(f, "iommu.iotlb.hits"), 4);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.misses"), 6);
    fx_destroy(f);
}
END_TEST

/* A remapped page: without invalidation the IOTLB still answers (that is
 * what a cache does); after iommu_iotlb_invalidate the next request walks
 * and sees the new mapping; after unmap + invalidate it is not present. */
START_TEST(test_iotlb_invalidate)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    uint64_t va = 0x7f0000030000ull, pa1 = 0x200000ull, pa2 = 0x300000ull;
    ck_assert_int_eq(iommu_pt_map(&f->pt, va, pa1, 12, RW), 0);
    sim_time_t t = 0;
    ck_assert(!request_is_hit(f, va, t += SIM_US));
    ck_assert_int_eq(iommu_pt_map(&f->pt, va, pa2, 12, RW), 0);
    ck_assert(request_is_hit(f, va, t += 10 * SIM_US));
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.xaddr, pa1);
    /* Invalidations of another PASID, another domain, or another range
     * leave the entry alone. */
    iommu_iotlb_invalidate(f->u, DOMAIN, PASID + 1, va, 0x1000);
    iommu_iotlb_invalidate(f->u, DOMAIN + 1, PASID, va, 0x1000);
    iommu_iotlb_invalidate(f->u, DOMAIN, PASID, va + 0x1000, 0x1000);
    iommu_iotlb_invalidate(f->u, DOMAIN, PASID, va - 0x1000, 0x1000);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.invalidated"), 0);
    ck_assert(request_is_hit(f, va, t += 10 * SIM_US));
    /* Now the right one. */
    iommu_iotlb_invalidate(f->u, DOMAIN, PASID, va, 0x1000);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.invalidated"), 1);
    ck_assert(!request_is_hit(f, va, t += 10 * SIM_US));
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.xaddr, pa2);
    ck_assert(request_is_hit(f, va, t += 10 * SIM_US));
    /* Unmap, invalidate all of (domain, pasid) with len 0: not present. */
    ck_assert_int_eq(iommu_pt_unmap(&f->pt, va, 0x1000, NULL, NULL), 0);
    iommu_iotlb_invalidate(f->u, DOMAIN, PASID, 0, 0);
    ck_assert_uint_eq(counter(f, "iommu.iotlb.invalidated"), 2);
    ck_assert(!request_is_hit(f, va, t += 10 * SIM_US));
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.perm, 0);
    fx_destroy(f);
}
END_TEST

/* Walks queue for the walkers: with one walker, two concurrent misses are
 * answered one walk apart. */
START_TEST(test_walkers_contend)
{
    iommu_cfg_t c;
    default_cfg(&c);
    c.walkers = 1;
    fx_t *f = fx_create(&c, true);
    ck_assert_int_eq(iommu_pt_map(&f->pt, 0x10000, 0x20000, 12, RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f->pt, 0x11000, 0x21000, 12, RW), 0);
    pcie_msg_t a = ats_req(PASID, 0x10000, 1), b = ats_req(PASID, 0x11000, 2);
    inject_at(f, 0, &a);
    inject_at(f, 0, &b);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 2);
    sim_time_t walk = c.levels * c.walk_read;
    ck_assert_uint_eq(f->cap[0].t, lookup(f) + walk);
    ck_assert_uint_eq(f->cap[1].t, lookup(f) + 2 * walk);
    ck_assert_uint_eq(f->cap[0].m.tag, 1);
    ck_assert_uint_eq(f->cap[1].m.tag, 2);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------ data path */

START_TEST(test_mem_read_write)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    pcie_msg_t rd = {0};
    rd.type = PCIE_MSG_MEM_RD;
    rd.flags = PCIE_F_XLATED;
    rd.rid = RID;
    rd.addr = 0x123440;
    rd.len = 64;
    rd.cookie = f;
    inject_at(f, SIM_US, &rd);
    pcie_msg_t wr = rd;
    wr.type = PCIE_MSG_MEM_WR;
    wr.len = 128;
    inject_at(f, SIM_US, &wr);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 1); /* writes are posted */
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_MEM_CPL);
    ck_assert_uint_eq(f->cap[0].t, SIM_US + c.mem_access);
    ck_assert_uint_eq(f->cap[0].m.len, 64);
    ck_assert_uint_eq(f->cap[0].m.addr, 0x123440);
    ck_assert_ptr_eq(f->cap[0].m.cookie, f);
    ck_assert_uint_eq(f->cap[0].rid, RID);
    ck_assert_uint_eq(counter(f, "iommu.mem.reads"), 1);
    ck_assert_uint_eq(counter(f, "iommu.mem.writes"), 1);
    ck_assert_uint_eq(counter(f, "iommu.mem.bytes"), 192);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------------ PRQ */

static unsigned count_type(const fx_t *f, unsigned type)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->ncap; i++)
        n += f->cap[i].m.type == type;
    return n;
}

START_TEST(test_prq_overflow_auto_response)
{
    iommu_cfg_t c;
    default_cfg(&c);
    c.prq_depth = 4;
    fx_t *f = fx_create(&c, true);
    ck_assert_uint_eq(iommu_prq_depth(f->u), 4);
    ck_assert_uint_eq(iommu_prq_status(f->u), 0);
    sim_time_t t = 0;
    /* Three requests fit (depth - 1 entries): the first raises the
     * interrupt, the next two find PPR set. */
    for (unsigned i = 0; i < 3; i++) {
        pcie_msg_t r = page_req(0x10000 + i * 0x1000, (uint16_t)(10 + i), true);
        inject_at(f, t += SIM_US, &r);
        sim_run(f->sim, SIM_TIME_MAX);
        ck_assert_uint_eq(iommu_prq_tail(f->u), i + 1);
    }
    ck_assert_uint_eq(f->irqs, 1);
    ck_assert_uint_eq(f->irq_t[0], SIM_US + c.prq_write);
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PPR);
    ck_assert_uint_eq(f->ncap, 0);
    for (unsigned i = 0; i < 3; i++) {
        const iommu_prq_desc_t *d = iommu_prq_entry(f->u, i);
        ck_assert_uint_eq(d->addr, 0x10000 + i * 0x1000);
        ck_assert_uint_eq(d->prgi, 10 + i);
        ck_assert_uint_eq(d->rid, RID);
        ck_assert_uint_eq(d->pasid, PASID);
        ck_assert_uint_ne(d->flags & PCIE_F_LAST, 0);
    }
    /* The 4th: full -> PRO, answered Success by hardware, no interrupt
     * (PPR was set). */
    sim_time_t t4 = t += SIM_US;
    pcie_msg_t r4 = page_req(0x20000, 20, true);
    inject_at(f, t4, &r4);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 3);
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PPR | IOMMU_PRS_PRO);
    ck_assert_uint_eq(f->irqs, 1);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_PRG_RESP);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(f->cap[0].m.tag, 20);
    ck_assert_uint_eq(f->cap[0].m.pasid, PASID);
    ck_assert_uint_ne(f->cap[0].m.flags & PCIE_F_PASID, 0);
    ck_assert_uint_eq(f->cap[0].rid, RID);
    ck_assert_uint_eq(f->cap[0].t, t4 + c.prq_write);
    /* While PRO is set, every further request is auto-responded, even
     * after software consumed entries. */
    iommu_prq_set_head(f->u, 2);
    pcie_msg_t r5 = page_req(0x21000, 21, true);
    inject_at(f, t += SIM_US, &r5);
    /* A request that is not last in its group gets no response. */
    pcie_msg_t r6 = page_req(0x22000, 22, false);
    inject_at(f, t += SIM_US, &r6);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[1].m.tag, 21);
    ck_assert_uint_eq(f->cap[1].m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 3);
    ck_assert_uint_eq(f->irqs, 1);
    /* Software: PPR cleared but PRO still set -> still no interrupt. */
    iommu_prq_clear_status(f->u, IOMMU_PRS_PPR);
    pcie_msg_t r7 = page_req(0x23000, 23, true);
    inject_at(f, t += SIM_US, &r7);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->irqs, 0 + 1);
    /* Software drains (head = tail) and clears PRO: requests queue again
     * and the interrupt fires. */
    iommu_prq_set_head(f->u, iommu_prq_tail(f->u));
    iommu_prq_clear_status(f->u, IOMMU_PRS_PRO);
    ck_assert_uint_eq(iommu_prq_status(f->u), 0);
    sim_time_t t8 = t += SIM_US;
    pcie_msg_t r8 = page_req(0x24000, 24, true);
    inject_at(f, t8, &r8);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 3);
    ck_assert_uint_eq(f->irqs, 2);
    ck_assert_uint_eq(f->irq_t[1], t8 + c.prq_write);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 0); /* wrapped: 3 -> 0 */
    ck_assert_uint_eq(iommu_prq_entry(f->u, 3)->prgi, 24);
    /* Conservation at the IOMMU. */
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.received, 8);
    ck_assert_uint_eq(q.written, 4);
    ck_assert_uint_eq(q.auto_responded, 3);
    ck_assert_uint_eq(q.dropped, 1);
    ck_assert_uint_eq(q.received, q.written + q.auto_responded + q.dropped);
    ck_assert_uint_eq(counter(f, "iommu.prq.overflows"), 1);
    ck_assert_uint_eq(counter(f, "iommu.prq.interrupts"), 2);
    ck_assert_uint_eq(count_type(f, PCIE_MSG_PRG_RESP), q.auto_responded);
    fx_destroy(f);
}
END_TEST

/* The interrupt rule alone: after a run of software that clears PPR
 * without consuming, the next request raises the interrupt again. */
START_TEST(test_prq_interrupt_rearm)
{
    iommu_cfg_t c;
    default_cfg(&c);
    c.prq_depth = 16;
    fx_t *f = fx_create(&c, true);
    sim_time_t t = 0;
    for (unsigned i = 0; i < 3; i++) {
        pcie_msg_t r = page_req(0x1000 * (i + 1), (uint16_t)i, true);
        inject_at(f, t += SIM_US, &r);
    }
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->irqs, 1);
    iommu_prq_clear_status(f->u, IOMMU_PRS_PPR);
    pcie_msg_t r = page_req(0x9000, 9, true);
    inject_at(f, t += SIM_US, &r);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->irqs, 2);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 4);
    ck_assert_uint_eq(f->ncap, 0);
    fx_destroy(f);
}
END_TEST

/* An overflow is an event too: with PPR cleared by software (but nothing
 * consumed), the request that finds the queue full raises the interrupt
 * as it sets PRO; with PRO set, later overflowing requests raise none. */
START_TEST(test_prq_overflow_interrupt)
{
    iommu_cfg_t c;
    default_cfg(&c);
    c.prq_depth = 4;
    fx_t *f = fx_create(&c, true);
    sim_time_t t = 0;
    for (unsigned i = 0; i < 3; i++) {
        pcie_msg_t r = page_req(0x1000 * (i + 1), (uint16_t)i, true);
        inject_at(f, t += SIM_US, &r);
    }
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->irqs, 1);
    iommu_prq_clear_status(f->u, IOMMU_PRS_PPR);
    sim_time_t t4 = t += SIM_US;
    pcie_msg_t r4 = page_req(0x9000, 9, true);
    inject_at(f, t4, &r4);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(iommu_prq_status(f->u), IOMMU_PRS_PRO);
    ck_assert_uint_eq(f->irqs, 2);
    ck_assert_uint_eq(f->irq_t[1], t4 + c.prq_write);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_SUCCESS);
    pcie_msg_t r5 = page_req(0xa000, 10, true);
    inject_at(f, t += SIM_US, &r5);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->irqs, 2);
    ck_assert_uint_eq(f->ncap, 2);
    fx_destroy(f);
}
END_TEST

/* A PASID entry with PRI disabled: a last request is answered Invalid at
 * once, a non-last one dropped; nothing is queued and no interrupt. */
START_TEST(test_pri_disabled_invalid)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, false);
    sim_time_t t1 = SIM_US;
    pcie_msg_t r = page_req(0x5000, 7, true);
    inject_at(f, t1, &r);
    pcie_msg_t r2 = page_req(0x6000, 8, false);
    inject_at(f, t1 + SIM_US, &r2);
    /* No PASID entry at all behaves the same. */
    pcie_msg_t r3 = page_req(0x7000, 9, true);
    r3.pasid = PASID + 5;
    inject_at(f, t1 + 2 * SIM_US, &r3);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_PRG_RESP);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_INVALID);
    ck_assert_uint_eq(f->cap[0].m.tag, 7);
    ck_assert_uint_eq(f->cap[0].t, t1);
    ck_assert_uint_eq(f->cap[1].m.code, PCIE_PRG_INVALID);
    ck_assert_uint_eq(f->cap[1].m.tag, 9);
    ck_assert_uint_eq(f->cap[1].m.pasid, PASID + 5);
    ck_assert_uint_eq(iommu_prq_tail(f->u), 0);
    ck_assert_uint_eq(f->irqs, 0);
    ck_assert_uint_eq(counter(f, "iommu.prq.pri_disabled"), 3);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.received, 3);
    ck_assert_uint_eq(q.auto_responded, 2);
    ck_assert_uint_eq(q.dropped, 1);
    ck_assert_uint_eq(q.written, 0);
    fx_destroy(f);
}
END_TEST

/* A stop marker (L=1, no R/W) is queued and counted as a stop marker. */
START_TEST(test_prq_stop_marker)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    pcie_msg_t r = page_req(0, 3, true);
    r.flags = PCIE_F_PASID | PCIE_F_LAST;
    inject_at(f, SIM_US, &r);
    sim_run(f->sim, SIM_TIME_MAX);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.stop_markers, 1);
    ck_assert_uint_eq(q.written, 1);
    ck_assert_uint_eq(f->ncap, 0);
    ck_assert_uint_eq(iommu_prq_entry(f->u, 0)->flags & (PCIE_F_R | PCIE_F_W),
                      0);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------- responses and invalidation */

START_TEST(test_page_response)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    iommu_page_resp_t resp = {.rid = RID,
                              .pasid = PASID,
                              .prgi = 311,
                              .code = PCIE_PRG_INVALID,
                              .pasid_present = true};
    iommu_page_response(f->u, &resp);
    resp.pasid_present = false;
    resp.code = PCIE_PRG_SUCCESS;
    iommu_page_response(f->u, &resp);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_PRG_RESP);
    ck_assert_uint_eq(f->cap[0].m.tag, 311);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_PRG_INVALID);
    ck_assert_uint_ne(f->cap[0].m.flags & PCIE_F_PASID, 0);
    ck_assert_uint_eq(f->cap[1].m.flags & PCIE_F_PASID, 0);
    ck_assert_uint_eq(f->cap[1].m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(f->cap[1].rid, RID);
    iommu_prq_totals_t q;
    iommu_prq_totals(f->u, &q);
    ck_assert_uint_eq(q.host_responses, 2);
    fx_destroy(f);
}
END_TEST

static void inv_done(void *opaque)
{
    fx_t *f = opaque;
    f->done_calls++;
}

START_TEST(test_devtlb_invalidate_round_trip)
{
    iommu_cfg_t c;
    default_cfg(&c);
    fx_t *f = fx_create(&c, true);
    ck_assert_int_eq(iommu_devtlb_invalidate(f->u, RID, PASID, 0x40000, 0x2000,
                                             inv_done, f),
                     0);
    ck_assert_uint_eq(f->ncap, 1);
    const pcie_msg_t *m = &f->cap[0].m;
    ck_assert_uint_eq(m->type, PCIE_MSG_INV_REQ);
    ck_assert_uint_eq(m->pasid, PASID);
    ck_assert_uint_eq(m->addr, 0x40000);
    ck_assert_uint_eq(m->len, 0x2000);
    ck_assert_uint_eq(f->cap[0].rid, RID);
    ck_assert_uint_eq(f->done_calls, 0);
    /* The device answers with the cookie of the request. */
    pcie_msg_t cpl = {0};
    cpl.type = PCIE_MSG_INV_CPL;
    cpl.rid = RID;
    cpl.pasid = PASID;
    cpl.cookie = m->cookie;
    inject_at(f, 3 * SIM_US, &cpl);
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(counter(f, "iommu.devtlb.invalidations"), 1);
    fx_destroy(f);
}
END_TEST

static Suite *iommu_suite(void)
{
    Suite *s = suite_create("iommu_unit");
    TCase *tc = tcase_create("ats");
    tcase_add_test(tc, test_ur_unknown_pasid);
    tcase_add_loop_test(tc, test_not_present_timing, 4, 6);
    tcase_add_test(tc, test_iotlb_miss_then_hit);
    tcase_add_test(tc, test_iotlb_huge_page);
    tcase_add_test(tc, test_iotlb_lru);
    tcase_add_test(tc, test_iotlb_invalidate);
    tcase_add_test(tc, test_walkers_contend);
    tcase_add_test(tc, test_mem_read_write);
    suite_add_tcase(s, tc);

    tc = tcase_create("prq");
    tcase_add_test(tc, test_prq_overflow_auto_response);
    tcase_add_test(tc, test_prq_interrupt_rearm);
    tcase_add_test(tc, test_prq_overflow_interrupt);
    tcase_add_test(tc, test_pri_disabled_invalid);
    tcase_add_test(tc, test_prq_stop_marker);
    tcase_add_test(tc, test_page_response);
    tcase_add_test(tc, test_devtlb_invalidate_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(iommu_suite());
}
