/*
 * tests/iommu/iommu_fx.h - shared by the IOMMU suites: an IOMMU on its own
 * engine with the configuration defaults of its parameter table, a fake
 * downstream that records every message sent with its time, a fake
 * interrupt line per queue, and message injection at a given time.
 */
#ifndef TESTS_IOMMU_IOMMU_FX_H
#define TESTS_IOMMU_IOMMU_FX_H

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"
#include "sim/sim.h"

/* An entry readable and writable by user (PASID) accesses. */
#define PTE_RWU (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_U)

#define FX_MAXCAP 1024
#define FX_MAXINJ 1024

typedef struct fx_cap {
    sim_time_t t;
    uint16_t rid;
    pcie_msg_t m;
} fx_cap_t;

typedef struct fx {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    iommu_cfg_t cfg; /* as given (unresolved) */
    iommu_t *u;
    fx_cap_t cap[FX_MAXCAP];
    unsigned ncap;
    unsigned prq_irqs, fault_irqs;
    sim_time_t prq_irq_t[FX_MAXCAP];
    pcie_msg_t inj[FX_MAXINJ];
    unsigned ninj;
    unsigned done_calls;
    sim_time_t done_t[FX_MAXCAP];
    bool answer_inv; /* answer INV_REQ with INV_CPL after inv_delay */
    sim_time_t inv_delay;
} fx_t;

/* The defaults of iommu_params (as iommu-sim would resolve them). */
static inline void fx_defaults(iommu_cfg_t *c)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    memset(c, 0, sizeof(*c));
    sim_config_t *sc = sim_config_create(&log);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(sim_config_register(sc, iommu_params, iommu_nparams, c),
                     0);
    sim_config_destroy(sc);
}

/* Turn every paging-structure cache and the stage-2 TLB off. */
static inline void fx_no_walk_caches(iommu_cfg_t *c)
{
    memset(c->psc, 0, sizeof(c->psc));
    c->s2tlb = 0;
}

static inline void fx_ev_inv_cpl(sim_t *sim, void *opaque, uint64_t arg);

static inline void fx_down(void *opaque, uint16_t rid, const pcie_msg_t *m)
{
    fx_t *f = opaque;
    ck_assert_uint_lt(f->ncap, FX_MAXCAP);
    f->cap[f->ncap].t = sim_now(f->sim);
    f->cap[f->ncap].rid = rid;
    f->cap[f->ncap].m = *m;
    if (f->answer_inv && m->type == PCIE_MSG_INV_REQ)
        sim_schedule(f->sim, f->inv_delay, fx_ev_inv_cpl, f, f->ncap);
    f->ncap++;
}

static inline void fx_ev_inv_cpl(sim_t *sim, void *opaque, uint64_t arg)
{
    fx_t *f = opaque;
    pcie_msg_t c = {0};
    c.type = PCIE_MSG_INV_CPL;
    c.rid = f->cap[arg].rid;
    c.pasid = f->cap[arg].m.pasid;
    c.cookie = f->cap[arg].m.cookie;
    iommu_rx(f->u, &c);
}

static inline void fx_prq_irq(void *opaque)
{
    fx_t *f = opaque;
    f->prq_irq_t[f->prq_irqs++ % FX_MAXCAP] = sim_now(f->sim);
}

static inline void fx_fault_irq(void *opaque)
{
    fx_t *f = opaque;
    f->fault_irqs++;
}

static inline void fx_done(void *opaque)
{
    fx_t *f = opaque;
    f->done_t[f->done_calls++ % FX_MAXCAP] = sim_now(f->sim);
}

static inline fx_t *fx_create(const iommu_cfg_t *cfg)
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
    iommu_set_downstream(f->u, fx_down, f);
    iommu_set_prq_irq(f->u, fx_prq_irq, f);
    iommu_set_fault_irq(f->u, fx_fault_irq, f);
    return f;
}

static inline void fx_destroy(fx_t *f)
{
    iommu_destroy(f->u);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

static inline uint64_t fx_ctr(fx_t *f, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(f->st, name);
    ck_assert_msg(c != NULL, "no counter %s", name);
    return c->value;
}

static inline void fx_ev_inject(sim_t *sim, void *opaque, uint64_t arg)
{
    fx_t *f = opaque;
    iommu_rx(f->u, &f->inj[arg]);
}

/* Deliver msg to the IOMMU at absolute time t. */
static inline void fx_inject_at(fx_t *f, sim_time_t t, const pcie_msg_t *msg)
{
    ck_assert_uint_lt(f->ninj, FX_MAXINJ);
    f->inj[f->ninj] = *msg;
    ck_assert_uint_ne(sim_schedule_at(f->sim, t, fx_ev_inject, f, f->ninj), 0);
    f->ninj++;
}

static inline void fx_run(fx_t *f)
{
    sim_run(f->sim, SIM_TIME_MAX);
}

/* A host stage-1 table in the IOMMU's memory, installed for (rid, pasid)
 * in mode s1 with domain and PRI as given. */
static inline void fx_bind_s1(fx_t *f, iommu_pt_t *pt, uint16_t rid,
                              uint32_t pasid, uint16_t domain, bool pri,
                              unsigned levels)
{
    ck_assert_int_eq(iommu_pt_init(pt, iommu_memory(f->u), levels), 0);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S1, .domain = domain, .s1 = *pt, .pri = pri};
    ck_assert_int_eq(iommu_set_pasid(f->u, rid, pasid, &e), 0);
}

/* A fixture of architecture `arch` (IOMMU_ARCH_*) with a PRQ of
 * `prq_depth` entries, (rid, pasid) bound to a fresh 4-level stage-1
 * table *pt with PRI, in `domain`. */
static inline fx_t *fx_arch_bound(unsigned arch, uint64_t prq_depth,
                                  iommu_pt_t *pt, uint16_t rid, uint32_t pasid,
                                  uint16_t domain)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.arch = arch;
    c.prq_depth = prq_depth;
    fx_t *f = fx_create(&c);
    fx_bind_s1(f, pt, rid, pasid, domain, true, 4);
    return f;
}

/* A PRI page request (with a PASID) of (rid, pasid) for addr with PRG
 * index prgi and PCIE_F_* flags (R/W/LAST), injected at t; then run. */
static inline void fx_send_page_req(fx_t *f, sim_time_t t, uint16_t rid,
                                    uint32_t pasid, uint64_t addr,
                                    uint16_t prgi, unsigned flags)
{
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_PAGE_REQ;
    m.flags = (uint8_t)(PCIE_F_PASID | flags);
    m.rid = rid;
    m.pasid = pasid;
    m.addr = addr;
    m.tag = prgi;
    fx_inject_at(f, t, &m);
    fx_run(f);
}

/* Messages of `type` the IOMMU sent down so far. */
static inline unsigned fx_count_type(const fx_t *f, unsigned type)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->ncap; i++)
        n += f->cap[i].m.type == type;
    return n;
}

#endif
