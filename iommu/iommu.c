/*
 * iommu.c - the IOMMU unit: parameters, creation, statistics, and the
 * timed path of requests from devices (see the contract in iommu.h).
 *
 * A translation (ATS request or untranslated DMA) first costs the context
 * and IOTLB lookups (ctx_hit + iotlb_hit). Everything else it needs -
 * context/PASID table reads, walk reads, A/D writes, paging-structure
 * cache hits - is done by one of iommu.walkers walk slots (a `server`) for
 * the translation's modelled latency beyond the lookups. A miss to a page
 * whose walk (same RID, PASID, page and access) is already in flight waits
 * for that walk instead of walking again. The walk's result is computed
 * when it starts and checked when it ends: if an invalidation happened in
 * between, the tables are read again, so that no translation older than a
 * completed invalidation is ever handed out or cached (VT-d/PCIe: an
 * invalidation completes only once translations in flight that used the
 * old entries are drained). The IOTLB is filled when the walk ends.
 *
 * Untranslated DMA that faults is recorded in the fault-record queue and
 * aborted (UR for a read, a write is dropped), or, with iommu.stall on
 * SMMUv3, held: a stall event (event record with STALL and a STAG) goes to
 * the host, which answers with CMD_RESUME: RETRY translates again, ABORT
 * fails it (fault-path-semantics 3 item 6; the mapping of stall events to
 * a fault group of one is the host's, ioasid/host.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu_int.h"

static const char *const arch_names[] = {"vtd", "smmuv3", NULL};

#define PSC(stage, level, def, src)                                            \
    {"iommu", "psc_s" #stage "_l" #level, SIM_PARAM_UINT, def, 0, 1u << 20,    \
     "entries",                                                                \
     "stage-" #stage " paging-structure cache of level-" #level " entries "    \
     "(0: off; " src ")",                                                      \
     NULL, offsetof(iommu_cfg_t, psc[stage - 1][level])}
#define QT(key, def, what)                                                     \
    {"iommu", #key, SIM_PARAM_TIME, def, 0, 1e9, "ns", what, NULL,             \
     offsetof(iommu_cfg_t, key)}

const sim_param_t iommu_params[] = {
    {"iommu", "arch", SIM_PARAM_ENUM, "vtd", 0, 0, "",
     "architecture: descriptor sizes, queue overflow rules and default sizes "
     "(vtd, smmuv3)",
     arch_names, offsetof(iommu_cfg_t, arch)},
    {"iommu", "levels", SIM_PARAM_UINT, "4", 4, 5, "levels",
     "page-table levels (4: 48-bit, 5: 57-bit input addresses)", NULL,
     offsetof(iommu_cfg_t, levels)},
    {"iommu", "iotlb_sets", SIM_PARAM_UINT, "0", 0, 1u << 16, "sets",
     "IOTLB sets (0: vtd 16 x 4 = 64 entries, the pcie-bench reach of 64-128 "
     "4 KiB entries; smmuv3 512 x 4 = 2048, gem5 SMMUv3 main TLB)",
     NULL, offsetof(iommu_cfg_t, iotlb_sets)},
    {"iommu", "iotlb_ways", SIM_PARAM_UINT, "0", 0, 64, "ways",
     "IOTLB associativity (0: 4 for both; gem5 main TLB 4-way)", NULL,
     offsetof(iommu_cfg_t, iotlb_ways)},
    {"iommu", "ctx_cache", SIM_PARAM_UINT, "64", 0, 1u << 20, "entries",
     "context cache entries (0: off; gem5 SMMUv3 configuration cache 64)",
     NULL, offsetof(iommu_cfg_t, ctx_cache)},
    {"iommu", "pasid_cache", SIM_PARAM_UINT, "64", 0, 1u << 20, "entries",
     "PASID cache entries (0: off; gem5 SMMUv3 configuration cache 64)", NULL,
     offsetof(iommu_cfg_t, pasid_cache)},
    PSC(1, 5, "4", "[I], as level 4"),
    PSC(1, 4, "4", "gem5 SMMUv3 S1 walk cache L0"),
    PSC(1, 3, "28", "gem5 S1 L1"),
    PSC(1, 2, "348", "gem5 S1 L2"),
    PSC(2, 5, "4", "[I], as level 4"),
    PSC(2, 4, "4", "gem5 SMMUv3 S2 walk cache L0"),
    PSC(2, 3, "28", "gem5 S2 L1"),
    PSC(2, 2, "92", "gem5 S2 L2"),
    {"iommu", "psc_ways", SIM_PARAM_UINT, "4", 1, 64, "ways",
     "associativity of the paging-structure, stage-2 TLB, context and PASID "
     "caches ([I])",
     NULL, offsetof(iommu_cfg_t, psc_ways)},
    {"iommu", "s2tlb", SIM_PARAM_UINT, "128", 0, 1u << 20, "entries",
     "stage-2 TLB (GPA -> HPA) entries used by nested walks (0: off; gem5 "
     "SMMUv3 IPA cache 128)",
     NULL, offsetof(iommu_cfg_t, s2tlb)},
    {"iommu", "walkers", SIM_PARAM_UINT, "16", 1, 1024, "walks",
     "page-table walks in parallel (gem5 SMMUv3: 16 PTW slots)", NULL,
     offsetof(iommu_cfg_t, walkers)},
    {"iommu", "ad", SIM_PARAM_BOOL, "false", 0, 0, "",
     "set accessed/dirty bits of stage-1 entries (one write each, costing "
     "walk_read)",
     NULL, offsetof(iommu_cfg_t, ad)},
    {"iommu", "prq_depth", SIM_PARAM_UINT, "0", 0, 1u << 20, "entries",
     "page request queue entries (0: vtd 2048, Linux PRQ_ORDER 4: 64 KiB of "
     "32-byte descriptors; smmuv3 256, Linux PRIQ_MAX_SZ_SHIFT 8: one page "
     "of 16-byte entries)",
     NULL, offsetof(iommu_cfg_t, prq_depth)},
    {"iommu", "fault_depth", SIM_PARAM_UINT, "128", 2, 1u << 20, "entries",
     "fault-record queue entries (SMMUv3 event queue: Linux "
     "EVTQ_MAX_SZ_SHIFT 7; VT-d [I])",
     NULL, offsetof(iommu_cfg_t, fault_depth)},
    {"iommu", "qi_depth", SIM_PARAM_UINT, "0", 0, 1u << 20, "entries",
     "invalidation queue entries (0: 256, Linux QI_LENGTH; smmuv3 [I])", NULL,
     offsetof(iommu_cfg_t, qi_depth)},
    {"iommu", "stall", SIM_PARAM_BOOL, "false", 0, 0, "",
     "hold faulting untranslated DMA and report a stall event (SMMUv3 stall "
     "model; needs arch = smmuv3)",
     NULL, offsetof(iommu_cfg_t, stall)},
    {"iommu", "irq_coalesce", SIM_PARAM_TIME, "0", 0, 1e9, "ns",
     "interrupt moderation window of the PRQ and fault interrupts (0: off)",
     NULL, offsetof(iommu_cfg_t, irq_coalesce)},
    {"iommu", "ctx_hit", SIM_PARAM_TIME, "5", 0, 1e9, "ns",
     "context / PASID cache lookup (HyperSIO 1 ns, gem5 3 cycles)", NULL,
     offsetof(iommu_cfg_t, ctx_hit)},
    {"iommu", "iotlb_hit", SIM_PARAM_TIME, "10", 0, 1e9, "ns",
     "IOTLB lookup (pcie-bench: below ~15 ns)", NULL,
     offsetof(iommu_cfg_t, iotlb_hit)},
    {"iommu", "psc_hit", SIM_PARAM_TIME, "5", 0, 1e9, "ns",
     "paging-structure cache or stage-2 TLB hit (HyperSIO 5 ns, gem5 4 "
     "cycles)",
     NULL, offsetof(iommu_cfg_t, psc_hit)},
    {"iommu", "walk_read", SIM_PARAM_TIME, "250", 0, 1e9, "ns",
     "one table read by the walker (Fast & Safe SOSP'24 197 ns "
     "effective; pcie-bench miss penalty 214-346 ns)", NULL,
     offsetof(iommu_cfg_t, walk_read)},
    {"iommu", "prq_write", SIM_PARAM_TIME, "100", 0, 1e9, "ns",
     "PRQ descriptor or fault record write to memory (posted, [I])", NULL,
     offsetof(iommu_cfg_t, prq_write)},
    QT(qi_iotlb, "600",
       "invalidation queue: IOTLB invalidation (with host.qi_submit, 0.8 us: "
       "QEMU doc inv_iotlb, 70% below 1 us)"),
    QT(qi_pasid, "600", "invalidation queue: PASID-cache invalidation ([I], "
                        "as qi_iotlb)"),
    QT(qi_context, "600", "invalidation queue: context-cache invalidation "
                          "([I], as qi_iotlb)"),
    QT(qi_devtlb, "500",
       "invalidation queue: device-TLB invalidation before the ATS request "
       "leaves ([I]; on-die inv_devtlb 0.1-1 us incl. the device, QEMU doc)"),
    QT(qi_page_resp, "800",
       "invalidation queue: page group response or resume (with "
       "host.qi_submit, 1 us: latency-calibration 3.2)"),
    QT(qi_wait, "100", "invalidation queue: wait descriptor status write "
                       "([I])"),
    {"memory", "access", SIM_PARAM_TIME, "60", 0, 1e9, "ns",
     "data access of a DMA (pcie-bench host-warm, LLC)", NULL,
     offsetof(iommu_cfg_t, mem_access)},
};
const unsigned iommu_nparams = sizeof(iommu_params) / sizeof(iommu_params[0]);

/* A translation in progress (ATS request or untranslated DMA). */
struct xlate {
    pcie_msg_t req;
    iommu_xlate_t res;
    uint64_t epoch;      /* u->inv_epoch when the walk started */
    uint64_t k1, k2;     /* merge key */
    xlate_t *waiters;    /* requests merged into this walk */
    xlate_t *next;       /* in a waiter list */
    uint32_t pasid;
    unsigned access;
    uint16_t stag;
};

void iommu_cfg_resolve(iommu_cfg_t *c)
{
    bool smmu = c->arch == IOMMU_ARCH_SMMUV3;
    if (!c->iotlb_sets)
        c->iotlb_sets = smmu ? 512 : 16;
    if (!c->iotlb_ways)
        c->iotlb_ways = 4;
    if (!c->prq_depth)
        c->prq_depth = smmu ? 256 : 2048;
    if (!c->qi_depth)
        c->qi_depth = 256;
    if (c->prq_depth < 2)
        c->prq_depth = 2;
    if (c->qi_depth < 2)
        c->qi_depth = 2;
    if (c->fault_depth < 2)
        c->fault_depth = 2;
    if (!c->walkers)
        c->walkers = 1;
    if (!c->psc_ways)
        c->psc_ways = 1;
}

int iommu_cfg_check(const iommu_cfg_t *c, sim_log_t *log)
{
    if (c->stall && c->arch != IOMMU_ARCH_SMMUV3) {
        sim_logf(log, SIM_LOG_ERROR,
                 "iommu.stall = true needs iommu.arch = smmuv3 (VT-d has no "
                 "stall model)");
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------- in flight */

static size_t inflight_home(uint64_t k1, uint64_t k2, size_t mask)
{
    uint64_t h = (k1 * 0x9e3779b97f4a7c15ull) ^ (k2 * 0xff51afd7ed558ccdull);
    return (size_t)(h >> 24) & mask;
}

/* The walk in flight for key (k1, k2), or NULL. */
static xlate_t *inflight_find(const iommu_t *u, uint64_t k1, uint64_t k2)
{
    if (!u->ninflight)
        return NULL;
    size_t mask = u->ninflight_slots - 1;
    for (size_t i = inflight_home(k1, k2, mask);; i = (i + 1) & mask) {
        const inflight_slot_t *s = &u->inflight[i];
        if (!s->k1)
            return NULL;
        if (s->k1 == k1 && s->k2 == k2)
            return s->x;
    }
}

/* Put x in the first free slot of its probe run. */
static void inflight_put(inflight_slot_t *tab, size_t n, uint64_t k1,
                         uint64_t k2, xlate_t *x)
{
    size_t mask = n - 1, i = inflight_home(k1, k2, mask);
    while (tab[i].k1)
        i = (i + 1) & mask;
    tab[i] = (inflight_slot_t){k1, k2, x};
}

/* Register x (its key) as in flight, growing the table at a new peak.
 * Returns 0 or -ENOMEM. */
static int inflight_insert(iommu_t *u, xlate_t *x)
{
    if ((u->ninflight + 1) * 2 > u->ninflight_slots) {
        size_t n = u->ninflight_slots ? u->ninflight_slots * 2 : 64;
        inflight_slot_t *t = calloc(n, sizeof(*t));
        if (!t)
            return -ENOMEM;
        for (size_t i = 0; i < u->ninflight_slots; i++)
            if (u->inflight[i].k1)
                inflight_put(t, n, u->inflight[i].k1, u->inflight[i].k2,
                             u->inflight[i].x);
        free(u->inflight);
        u->inflight = t;
        u->ninflight_slots = n;
    }
    inflight_put(u->inflight, u->ninflight_slots, x->k1, x->k2, x);
    u->ninflight++;
    return 0;
}

/* Remove x, moving later entries of its probe run back (no tombstones). */
static void inflight_remove(iommu_t *u, const xlate_t *x)
{
    size_t mask = u->ninflight_slots - 1;
    size_t i = inflight_home(x->k1, x->k2, mask);
    while (u->inflight[i].x != x)
        i = (i + 1) & mask;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        inflight_slot_t *s = &u->inflight[j];
        if (!s->k1)
            break;
        size_t k = inflight_home(s->k1, s->k2, mask);
        bool movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            u->inflight[i] = *s;
            i = j;
        }
    }
    u->inflight[i].k1 = 0;
    u->ninflight--;
}

/* ------------------------------------------------------ timed path */

void iommu_send(iommu_t *u, uint16_t rid, pcie_msg_t *m)
{
    m->rid = rid;
    if (u->send)
        u->send(u->send_opaque, rid, m);
}

/* Out of memory in the model: log and stop the run. */
static void oom(iommu_t *u)
{
    sim_logf(sim_log(u->sim), SIM_LOG_ERROR, "iommu: out of memory");
    sim_stop(u->sim);
}

/* PCIe R/W/X of IOMMU_PTE permission bits (X only with R). */
static uint8_t pte_to_pcie(uint64_t perm)
{
    return (uint8_t)(((perm & IOMMU_PTE_R) ? PCIE_F_R : 0) |
                     ((perm & IOMMU_PTE_W) ? PCIE_F_W : 0) |
                     ((perm & IOMMU_PTE_R) && (perm & IOMMU_PTE_X) ? PCIE_F_X
                                                                   : 0));
}

/* Answer an ATS translation request (fault-path-semantics 1d item 20):
 * UR for a bad context; a fault is Success with R=W=0. */
static void ats_answer(iommu_t *u, const xlate_t *x)
{
    const pcie_msg_t *req = &x->req;
    const iommu_xlate_t *r = &x->res;
    pcie_msg_t c = {0};
    c.type = PCIE_MSG_ATS_CPL;
    c.code = PCIE_CPL_SC;
    c.size_shift = IOMMU_PAGE_SHIFT;
    c.tag = req->tag;
    c.pasid = req->pasid; /* bookkeeping: completions carry no prefix */
    c.addr = req->addr;
    c.cookie = req->cookie;
    c.span = req->span;
    if (r->outcome == IOMMU_WALK_BAD_CONTEXT ||
        r->outcome == IOMMU_WALK_BAD_PASID) {
        u->s.ats_ur->value++;
        c.code = PCIE_CPL_UR;
    } else if (r->outcome == IOMMU_WALK_OK) {
        c.perm = pte_to_pcie(r->perm);
        if (req->flags & PCIE_F_NW)
            c.perm &= (uint8_t)~PCIE_F_W;
        c.xaddr = r->pa;
        c.size_shift = (uint8_t)r->shift;
    }
    iommu_send(u, req->rid, &c);
}

/* Send the completion of an untranslated read (SC with data, or UR). */
static void mem_cpl(iommu_t *u, const pcie_msg_t *req, uint8_t code)
{
    pcie_msg_t c = *req;
    c.type = PCIE_MSG_MEM_CPL;
    c.flags = 0; /* completions carry no PASID prefix */
    c.code = code;
    c.len = code == PCIE_CPL_SC ? req->len : 0;
    iommu_send(u, req->rid, &c);
}

/* The memory access of an untranslated read is done: complete it. */
static void ev_mem_done(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = (xlate_t *)(uintptr_t)arg;
    mem_cpl(u, &x->req, PCIE_CPL_SC);
    sim_pool_put(&u->xlates, x);
}

/* The fault record of a failed untranslated request. */
static void fault_rec_of(const xlate_t *x, bool stall, iommu_fault_rec_t *f)
{
    memset(f, 0, sizeof(*f));
    f->reason = x->res.outcome;
    f->rid = x->req.rid;
    f->pasid = x->pasid;
    f->pasid_valid = x->req.flags & PCIE_F_PASID;
    f->addr = x->req.addr;
    if (x->res.outcome == IOMMU_WALK_S2_NOT_PRESENT ||
        x->res.outcome == IOMMU_WALK_S2_PERM)
        f->gpa = x->res.fault_addr;
    f->flags = (uint8_t)((x->req.type == PCIE_MSG_MEM_WR ? PCIE_F_W : PCIE_F_R) |
                         (x->access & (PCIE_F_X | PCIE_F_PRIV)));
    f->stall = stall;
    f->stag = x->stag;
    f->span = x->req.span;
}

/* The non-recoverable record lands (after prq_write). */
static void ev_fault_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = (xlate_t *)(uintptr_t)arg;
    iommu_fault_rec_t f;
    fault_rec_of(x, false, &f);
    fault_record(u, &f);
    sim_pool_put(&u->xlates, x);
}

/* Fail an untranslated request: UR for a read, a write is dropped. */
static void mem_abort(iommu_t *u, xlate_t *x, bool record)
{
    u->s.dma_aborted->value++;
    if (x->req.type == PCIE_MSG_MEM_RD)
        mem_cpl(u, &x->req, PCIE_CPL_UR);
    if (record)
        sim_schedule(u->sim, u->cfg.prq_write, ev_fault_write, u,
                     (uint64_t)(uintptr_t)x);
    else
        sim_pool_put(&u->xlates, x);
}

/* Free a stall tag. */
static void stall_release(iommu_t *u, uint16_t stag)
{
    u->stall[stag] = NULL;
    u->stall_free[u->nstall_free++] = stag;
}

/* The stall event lands (after prq_write): report it, or, when the queue
 * overflowed, terminate the transaction. */
static void ev_stall_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = (xlate_t *)(uintptr_t)arg;
    iommu_fault_rec_t f;
    fault_rec_of(x, true, &f);
    if (fault_record(u, &f)) {
        sim_span_mark(x->req.span, PCIE_STAGE_PAGE_REQ, sim_now(sim));
        return;
    }
    stall_release(u, x->stag);
    mem_abort(u, x, false);
}

/* An untranslated request's translation is known. */
static void mem_finish(iommu_t *u, xlate_t *x)
{
    iommu_walk_outcome_t r = x->res.outcome;
    if (r == IOMMU_WALK_OK) {
        bool rd = x->req.type == PCIE_MSG_MEM_RD;
        (rd ? u->s.mem_reads : u->s.mem_writes)->value++;
        u->s.mem_bytes->value += x->req.len;
        if (x->stag != UINT16_MAX)
            sim_span_mark(x->req.span, PCIE_STAGE_RETRY, sim_now(u->sim));
        if (rd)
            sim_schedule(u->sim, u->cfg.mem_access, ev_mem_done, u,
                         (uint64_t)(uintptr_t)x);
        else
            sim_pool_put(&u->xlates, x);
        return;
    }
    u->s.dma_faults->value++;
    bool recoverable = r != IOMMU_WALK_BAD_CONTEXT && r != IOMMU_WALK_BAD_PASID;
    if (u->cfg.stall && recoverable && u->nstall_free) {
        x->stag = u->stall_free[--u->nstall_free];
        u->stall[x->stag] = x;
        u->s.dma_stalled->value++;
        sim_schedule(u->sim, u->cfg.prq_write, ev_stall_write, u,
                     (uint64_t)(uintptr_t)x);
        return;
    }
    mem_abort(u, x, true);
}

/* A translation is known: answer the request it was for. */
static void finish(iommu_t *u, xlate_t *x)
{
    if (x->req.type == PCIE_MSG_ATS_REQ) {
        ats_answer(u, x);
        sim_pool_put(&u->xlates, x);
    } else {
        mem_finish(u, x);
    }
}

/* A walk slot is done with x: make its result current, fill the IOTLB,
 * answer it and every request merged into it. */
static void walk_done(sim_t *sim, void *opaque, void *job)
{
    iommu_t *u = opaque;
    xlate_t *x = job;
    inflight_remove(u, x);
    if (x->epoch != u->inv_epoch) {
        /* An invalidation happened during the walk: answer from the
         * tables as they are now. */
        u->s.rewalks->value++;
        xlate_core(u, x->req.rid, x->pasid, x->req.addr, x->access, &x->res,
                   true);
    } else if (!x->res.iotlb_hit) {
        xlate_fill(u, x->pasid, x->req.addr, &x->res);
    }
    iommu_xlate_t res = x->res;
    xlate_t *w = x->waiters;
    finish(u, x);
    while (w) {
        xlate_t *next = w->next;
        w->res = res;
        finish(u, w);
        w = next;
    }
}

/* After the lookups: answer, join a walk in flight, or walk. */
static void ev_xlate(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = (xlate_t *)(uintptr_t)arg;
    x->k1 = (((uint64_t)x->req.rid << 20) | x->pasid) + 1;
    x->k2 = (x->req.addr >> IOMMU_PAGE_SHIFT) | ((uint64_t)x->access << 52);
    xlate_t *w = inflight_find(u, x->k1, x->k2);
    if (w) {
        u->s.merged->value++;
        xlate_t **pp = &w->waiters;
        while (*pp)
            pp = &(*pp)->next;
        x->next = NULL;
        *pp = x;
        return;
    }
    xlate_core(u, x->req.rid, x->pasid, x->req.addr, x->access, &x->res,
               false);
    sim_time_t lookup = u->cfg.ctx_hit + u->cfg.iotlb_hit;
    sim_time_t extra = x->res.latency > lookup ? x->res.latency - lookup : 0;
    if (!extra) {
        if (!x->res.iotlb_hit)
            xlate_fill(u, x->pasid, x->req.addr, &x->res);
        finish(u, x);
        return;
    }
    x->epoch = u->inv_epoch;
    x->waiters = NULL;
    if (inflight_insert(u, x)) {
        oom(u);
        return;
    }
    sim_server_submit_time(u->walker, x, extra);
}

/* Start translating request m for `access`. */
static void xlate_start(iommu_t *u, const pcie_msg_t *m, unsigned access)
{
    xlate_t *x = sim_pool_get(&u->xlates);
    if (!x) {
        oom(u);
        return;
    }
    x->req = *m;
    x->pasid = (m->flags & PCIE_F_PASID) ? m->pasid & (PCIE_PASID_MAX - 1)
                                         : IOMMU_PASID_NONE;
    x->access = access;
    x->stag = UINT16_MAX;
    x->waiters = x->next = NULL;
    sim_schedule(u->sim, u->cfg.ctx_hit + u->cfg.iotlb_hit, ev_xlate, u,
                 (uint64_t)(uintptr_t)x);
}

void stall_resume(iommu_t *u, uint16_t stag, bool retry, sim_span_t *span)
{
    xlate_t *x = stag < IOMMU_STALL_SLOTS ? u->stall[stag] : NULL;
    if (!x) {
        u->s.qi_errors->value++; /* no such stalled transaction */
        return;
    }
    stall_release(u, stag);
    u->s.dma_resumed->value++;
    sim_span_mark(x->req.span, PCIE_STAGE_RESPONSE, sim_now(u->sim));
    if (!retry) {
        mem_abort(u, x, false);
        return;
    }
    x->waiters = x->next = NULL;
    sim_schedule(u->sim, u->cfg.ctx_hit + u->cfg.iotlb_hit, ev_xlate, u,
                 (uint64_t)(uintptr_t)x);
}

/* An ATS Translation Request: translate for R (and W unless No-Write),
 * reporting permissions without faulting. */
static void rx_ats_req(iommu_t *u, const pcie_msg_t *m)
{
    u->s.ats_reqs->value++;
    unsigned access = XL_NOCHECK | PCIE_F_R | (m->flags & (PCIE_F_X | PCIE_F_PRIV));
    if ((m->flags & PCIE_F_W) && !(m->flags & PCIE_F_NW))
        access |= PCIE_F_W;
    xlate_start(u, m, access);
}

/* ------------------------------------------------------ data path */

static void ev_xlated_read(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    pcie_msg_t *m = (pcie_msg_t *)(uintptr_t)arg;
    mem_cpl(u, m, PCIE_CPL_SC);
    sim_pool_put(&u->msgs, m);
}

/* A memory request: translated ones go to memory; untranslated ones are
 * translated first. */
static void rx_mem(iommu_t *u, const pcie_msg_t *m)
{
    bool rd = m->type == PCIE_MSG_MEM_RD;
    if (!(m->flags & PCIE_F_XLATED)) {
        u->s.dma_untranslated->value++;
        xlate_start(u, m, (rd ? PCIE_F_R : PCIE_F_W) |
                              (m->flags & (PCIE_F_X | PCIE_F_PRIV)));
        return;
    }
    u->s.mem_bytes->value += m->len;
    if (!rd) {
        u->s.mem_writes->value++;
        return; /* posted: nothing goes back */
    }
    u->s.mem_reads->value++;
    pcie_msg_t *copy = sim_pool_get(&u->msgs);
    if (!copy) {
        oom(u);
        return;
    }
    *copy = *m;
    sim_schedule(u->sim, u->cfg.mem_access, ev_xlated_read, u,
                 (uint64_t)(uintptr_t)copy);
}

/* ------------------------------------------------------------- PRQ */

static void ev_prq_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    pcie_msg_t *m = (pcie_msg_t *)(uintptr_t)arg;
    prq_accept(u, m);
    sim_pool_put(&u->msgs, m);
}

/* A page request: PRI check, VT-d implicit invalidation, then the PRQ
 * write. */
static void rx_page_req(iommu_t *u, const pcie_msg_t *m)
{
    u->prq_tot.received++;
    u->s.prq_received->value++;
    bool stop = (m->flags & PCIE_F_LAST) && !(m->flags & (PCIE_F_R | PCIE_F_W));
    uint32_t pasid = (m->flags & PCIE_F_PASID) ? m->pasid & (PCIE_PASID_MAX - 1)
                                               : IOMMU_PASID_NONE;
    iommu_xlate_t tmp;
    pe_dec_t pe;
    bool ok = ctx_lookup(u, m->rid, pasid, &tmp, &pe) == IOMMU_WALK_OK;
    if (!stop && (!ok || !pe.pri)) {
        /* PRE clear or no context: Invalid Request for a last request,
         * nothing for the others (fault-path-semantics 2a items 4, 7). */
        u->s.prq_pri_disabled->value++;
        if (m->flags & PCIE_F_LAST) {
            prq_auto_invalid(u, m);
        } else {
            u->prq_tot.dropped++;
            u->s.prq_dropped->value++;
        }
        return;
    }
    if (stop) {
        u->prq_tot.stop_markers++;
        u->s.prq_stop->value++;
    } else if (u->cfg.arch == IOMMU_ARCH_VTD) {
        /* Implicit invalidation of the requested page's IOTLB entries
         * (2a item 4; QEMU invalidates the PASID-IOTLB only, so the
         * paging-structure caches are kept: leaf only). */
        iommu_inv_t inv = {.gran = IOMMU_INV_RANGE,
                           .domain = pe.domain,
                           .pasid = pasid,
                           .addr = m->addr & ~(IOMMU_PAGE_SIZE - 1),
                           .len = IOMMU_PAGE_SIZE,
                           .leaf_only = true};
        u->s.prq_implicit_inv->value++;
        iommu_invalidate_iotlb(u, &inv);
    }
    pcie_msg_t *copy = sim_pool_get(&u->msgs);
    if (!copy) {
        oom(u);
        return;
    }
    *copy = *m;
    sim_schedule(u->sim, u->cfg.prq_write, ev_prq_write, u,
                 (uint64_t)(uintptr_t)copy);
}

/* An ATS Invalidate Completion: a device-TLB invalidation of the queue is
 * done. */
static void rx_inv_cpl(iommu_t *u, const pcie_msg_t *m)
{
    if (m->cookie == &u->qi) {
        qi_devtlb_done(u);
        return;
    }
    sim_logf(sim_log(u->sim), SIM_LOG_WARN,
             "iommu: invalidate completion from %04x for no request", m->rid);
}

void iommu_rx(void *opaque, const pcie_msg_t *m)
{
    iommu_t *u = opaque;
    switch (m->type) {
    case PCIE_MSG_ATS_REQ:
        rx_ats_req(u, m);
        break;
    case PCIE_MSG_MEM_RD:
    case PCIE_MSG_MEM_WR:
        rx_mem(u, m);
        break;
    case PCIE_MSG_PAGE_REQ:
        rx_page_req(u, m);
        break;
    case PCIE_MSG_INV_CPL:
        rx_inv_cpl(u, m);
        break;
    default:
        sim_logf(sim_log(u->sim), SIM_LOG_WARN,
                 "iommu: unexpected %s message from %04x ignored",
                 pcie_msg_name(m->type), m->rid);
        break;
    }
}

/* ------------------------------------------------------ lifecycle */

/* Register a counter; false when out of memory. */
static bool ctr(sim_stats_t *st, sim_counter_t **c, const char *name,
                const char *desc, const char *unit)
{
    *c = sim_stats_counter(st, name, desc, unit);
    return *c != NULL;
}

/* Hit and miss counters of a cache named `name`. */
static bool cache_stats(sim_stats_t *st, icache_t *c, const char *name,
                        const char *what)
{
    char n[96], d[160];
    snprintf(n, sizeof(n), "iommu.%s.hits", name);
    snprintf(d, sizeof(d), "%s lookups that hit", what);
    if (!ctr(st, &c->hits, n, d, "lookups"))
        return false;
    snprintf(n, sizeof(n), "iommu.%s.misses", name);
    snprintf(d, sizeof(d), "%s lookups that missed", what);
    return ctr(st, &c->misses, n, d, "lookups");
}

/* Register the statistics. Returns 0 or -ENOMEM. */
static int iommu_stats(iommu_t *u, sim_stats_t *st)
{
    char n[96], d[160];
#define C(field, name, desc, unit)                                             \
    if (!ctr(st, &u->s.field, name, desc, unit))                               \
        return -ENOMEM;
    C(ats_reqs, "iommu.ats.requests", "translation requests received",
      "requests");
    C(ats_ur, "iommu.ats.unsupported",
      "translation requests answered UR (invalid context or PASID entry)",
      "requests");
    if (!cache_stats(st, &u->iotlb, "iotlb", "IOTLB") ||
        !cache_stats(st, &u->ctxc, "ctx_cache", "context cache") ||
        !cache_stats(st, &u->pasidc, "pasid_cache", "PASID cache") ||
        !cache_stats(st, &u->s2tlb, "s2tlb", "stage-2 TLB"))
        return -ENOMEM;
    for (unsigned s = 0; s < 2; s++) {
        for (unsigned l = 2; l < IOMMU_PSC_LEVELS; l++) {
            snprintf(n, sizeof(n), "iommu.psc.s%u.l%u.hits", s + 1, l);
            snprintf(d, sizeof(d),
                     "stage-%u paging-structure cache, level %u: hits", s + 1,
                     l);
            C(psc_hits[s][l], n, d, "lookups");
            snprintf(n, sizeof(n), "iommu.psc.s%u.l%u.misses", s + 1, l);
            snprintf(d, sizeof(d),
                     "stage-%u paging-structure cache, level %u: misses", s + 1,
                     l);
            C(psc_misses[s][l], n, d, "lookups");
            u->psc[s][l].hits = u->s.psc_hits[s][l];
            u->psc[s][l].misses = u->s.psc_misses[s][l];
        }
    }
    C(iotlb_inval, "iommu.iotlb.invalidated", "IOTLB entries invalidated",
      "entries");
    C(psc_inval, "iommu.psc.invalidated",
      "paging-structure cache and stage-2 TLB entries invalidated", "entries");
    C(ctx_inval, "iommu.ctx_cache.invalidated",
      "context cache entries invalidated", "entries");
    C(pasid_inval, "iommu.pasid_cache.invalidated",
      "PASID cache entries invalidated", "entries");
    C(ctx_reads, "iommu.ctx.reads", "context and PASID table reads", "reads");
    C(merged, "iommu.walk.merged",
      "misses that waited for a walk of the same page in flight", "requests");
    C(rewalks, "iommu.walk.rewalks",
      "walks read again because an invalidation happened during them",
      "walks");
    C(ad_writes, "iommu.walk.ad_writes", "accessed/dirty bit updates written",
      "writes");
    C(mem_reads, "iommu.mem.reads", "DMA read requests served", "requests");
    C(mem_writes, "iommu.mem.writes", "DMA writes absorbed", "requests");
    C(mem_bytes, "iommu.mem.bytes", "DMA payload bytes", "bytes");
    C(dma_untranslated, "iommu.dma.untranslated",
      "untranslated DMA requests received", "requests");
    C(dma_faults, "iommu.dma.faults",
      "untranslated DMA requests whose translation faulted", "requests");
    C(dma_aborted, "iommu.dma.aborted",
      "untranslated DMA requests failed (read: UR; write: dropped)",
      "requests");
    C(dma_stalled, "iommu.dma.stalled",
      "untranslated DMA requests held by the stall model", "requests");
    C(dma_resumed, "iommu.dma.resumed", "stalled requests resumed (retry or "
                                        "abort)", "requests");
    C(prq_received, "iommu.prq.received", "page requests received",
      "requests");
    C(prq_written, "iommu.prq.written", "page requests written to the PRQ",
      "requests");
    C(prq_auto, "iommu.prq.auto_responded",
      "page requests answered by hardware (overflow: Success; PRI off: "
      "Invalid)", "requests");
    C(prq_dropped, "iommu.prq.dropped",
      "page requests dropped without a response (not last in group)",
      "requests");
    C(prq_stop, "iommu.prq.stop_markers", "stop markers received",
      "requests");
    C(prq_overflows, "iommu.prq.overflows",
      "times the PRQ overflowed (VT-d PRO set, SMMUv3 OVFLG toggled)",
      "events");
    C(prq_pri_disabled, "iommu.prq.pri_disabled",
      "page requests for a PASID entry without PRI", "requests");
    C(prg_responses, "iommu.prq.host_responses",
      "page group responses sent for the host", "responses");
    C(prq_implicit_inv, "iommu.prq.implicit_invalidations",
      "IOTLB invalidations of the requested page on accepting a page "
      "request (VT-d)", "requests");
    C(fault_records, "iommu.fault.records", "fault records written",
      "records");
    C(fault_lost, "iommu.fault.lost",
      "fault records lost (queue full or overflow not acknowledged)",
      "records");
    C(fault_overflows, "iommu.fault.overflows", "fault queue overflows",
      "events");
    C(qi_full_waits, "iommu.qi.full_waits",
      "descriptors that waited for space in the invalidation queue",
      "descriptors");
    C(qi_errors, "iommu.qi.errors",
      "invalid descriptors or resumes of no stalled transaction",
      "descriptors");
    C(devtlb_inval, "iommu.devtlb.invalidations",
      "device-TLB invalidation requests sent", "requests");
    for (unsigned t = 0; t < IOMMU_QI_TYPES; t++) {
        snprintf(n, sizeof(n), "iommu.qi.%s", iommu_qi_type_names[t]);
        snprintf(d, sizeof(d), "%s descriptors processed",
                 iommu_qi_type_names[t]);
        C(qi_desc[t], n, d, "descriptors");
    }
    for (unsigned i = 0; i < IOMMU_WALK_OUTCOMES; i++) {
        snprintf(n, sizeof(n), "iommu.walk.%s", iommu_walk_outcome_names[i]);
        snprintf(d, sizeof(d), "translations that walked (or had no valid "
                 "entry) with outcome %s", iommu_walk_outcome_names[i]);
        C(walk_outcome[i], n, d, "walks");
    }
#undef C
    if (!ctr(st, &u->prq_irq.count, "iommu.prq.interrupts",
             "page request interrupts raised", "interrupts") ||
        !ctr(st, &u->prq_irq.coalesced, "iommu.prq.interrupts_coalesced",
             "page request interrupts merged by moderation", "interrupts") ||
        !ctr(st, &u->fault_irq.count, "iommu.fault.interrupts",
             "fault interrupts raised", "interrupts") ||
        !ctr(st, &u->fault_irq.coalesced, "iommu.fault.interrupts_coalesced",
             "fault interrupts merged by moderation", "interrupts"))
        return -ENOMEM;
    u->s.walk_reads = sim_stats_hist(st, "iommu.walk.reads",
                                     "page-table reads per walk (both stages)",
                                     "reads");
    u->s.prq_occupancy = sim_stats_gauge(st, "iommu.prq.occupancy",
                                         "PRQ entries in use", "entries");
    u->s.qi_occupancy = sim_stats_gauge(st, "iommu.qi.occupancy",
                                        "invalidation queue entries in use",
                                        "entries");
    return u->s.walk_reads && u->s.prq_occupancy && u->s.qi_occupancy
               ? 0
               : -ENOMEM;
}

/* Allocate the caches from the configuration. Returns 0 or -ENOMEM. */
static int caches_init(iommu_t *u)
{
    const iommu_cfg_t *c = &u->cfg;
    int rc = icache_init(&u->iotlb, c->iotlb_sets * c->iotlb_ways,
                         c->iotlb_ways);
    rc = rc ? rc : icache_init(&u->ctxc, c->ctx_cache, c->psc_ways);
    rc = rc ? rc : icache_init(&u->pasidc, c->pasid_cache, c->psc_ways);
    rc = rc ? rc : icache_init(&u->s2tlb, c->s2tlb, c->psc_ways);
    for (unsigned s = 0; s < 2 && !rc; s++)
        for (unsigned l = 2; l < IOMMU_PSC_LEVELS && !rc; l++)
            rc = icache_init(&u->psc[s][l], c->psc[s][l], c->psc_ways);
    return rc;
}

iommu_t *iommu_create(sim_t *sim, sim_stats_t *st, const iommu_cfg_t *cfg,
                      uint64_t seed)
{
    if (iommu_cfg_check(cfg, sim_log(sim)))
        return NULL;
    iommu_t *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->sim = sim;
    u->cfg = *cfg;
    iommu_cfg_resolve(&u->cfg);
    sim_pool_init(&u->xlates, sizeof(xlate_t), 256);
    sim_pool_init(&u->msgs, sizeof(pcie_msg_t), 256);
    for (unsigned i = 0; i < IOMMU_STALL_SLOTS; i++)
        u->stall_free[i] = (uint16_t)(IOMMU_STALL_SLOTS - 1 - i);
    u->nstall_free = IOMMU_STALL_SLOTS;
    u->mem = iommu_mem_create();
    if (!u->mem || ctx_init(u) || caches_init(u) || queues_init(u) ||
        iommu_stats(u, st))
        goto fail;
    sim_server_cfg_t wc = {.name = "iommu.walker",
                           .servers = (unsigned)u->cfg.walkers,
                           .queue_limit = 0,
                           .service = sim_dist_fixed(u->cfg.walk_read)};
    sim_rng_seed(&u->walker_rng, seed, "iommu.walker");
    u->walker = sim_server_create(sim, st, &wc, &u->walker_rng, walk_done, u);
    if (!u->walker)
        goto fail;
    return u;
fail:
    iommu_destroy(u);
    return NULL;
}

void iommu_destroy(iommu_t *u)
{
    if (!u)
        return;
    sim_server_destroy(u->walker);
    icache_fini(&u->iotlb);
    icache_fini(&u->ctxc);
    icache_fini(&u->pasidc);
    icache_fini(&u->s2tlb);
    for (unsigned s = 0; s < 2; s++)
        for (unsigned l = 0; l < IOMMU_PSC_LEVELS; l++)
            icache_fini(&u->psc[s][l]);
    queues_fini(u);
    free(u->inflight);
    iommu_mem_destroy(u->mem);
    sim_pool_fini(&u->xlates);
    sim_pool_fini(&u->msgs);
    free(u);
}

void iommu_set_downstream(iommu_t *u, iommu_send_fn fn, void *opaque)
{
    u->send = fn;
    u->send_opaque = opaque;
}

void iommu_set_prq_irq(iommu_t *u, iommu_irq_fn fn, void *opaque)
{
    u->prq_irq.fn = fn;
    u->prq_irq.opaque = opaque;
}

void iommu_set_fault_irq(iommu_t *u, iommu_irq_fn fn, void *opaque)
{
    u->fault_irq.fn = fn;
    u->fault_irq.opaque = opaque;
}

iommu_mem_t *iommu_memory(iommu_t *u)
{
    return u->mem;
}

const iommu_cfg_t *iommu_config(const iommu_t *u)
{
    return &u->cfg;
}

iommu_arch_t iommu_arch(const iommu_t *u)
{
    return (iommu_arch_t)u->cfg.arch;
}

uint64_t iommu_stalled(const iommu_t *u)
{
    return IOMMU_STALL_SLOTS - u->nstall_free;
}
