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
 * fails it (Linux arm-smmu-v3.c: arm_smmu_handle_evt,
 * arm_smmu_page_response; the mapping of stall events to a fault group of
 * one is the host's, ioasid/host.c). The stall model itself is stall.c;
 * the queues are prq.c, fault.c and invq.c, which send to devices through
 * the downstream port (port.h) and never call back into this file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/ctx.h"
#include "iommu/iommu.h"
#include "iommu/walk.h"

static const char *const arch_names[] = {"vtd", "smmuv3", "amdvi", NULL};
static const char *const ad_names[] = {"arch", "true", "false", NULL};

#define PSC(stage, level, def, src)                                            \
    {                                                                          \
        "iommu", "psc_s" #stage "_l" #level, SIM_PARAM_UINT, def, 0, 1u << 20, \
            "entries",                                                         \
            "stage-" #stage " paging-structure cache of level-" #level         \
            " entries "                                                        \
            "(0: off; " src ")",                                               \
            NULL, offsetof(iommu_cfg_t, psc[stage - 1][level])                 \
    }
#define QT(key, def, what)                                                     \
    {                                                                          \
        "iommu", #key, SIM_PARAM_TIME, def, 0, 1e9, "ns", what, NULL,          \
            offsetof(iommu_cfg_t, key)                                         \
    }

const sim_param_t iommu_params[] = {
    {"iommu", "arch", SIM_PARAM_ENUM, "vtd", 0, 0, "",
     "architecture: descriptor sizes, queue overflow rules and default sizes "
     "(vtd, smmuv3, amdvi: AMD-Vi, #48882, PPR log and command buffer)",
     arch_names, offsetof(iommu_cfg_t, arch)},
    {"iommu", "levels", SIM_PARAM_UINT, "4", 4, 5, "levels",
     "page-table levels (4: 48-bit, 5: 57-bit input addresses)", NULL,
     offsetof(iommu_cfg_t, levels)},
    {"iommu", "iotlb_sets", SIM_PARAM_UINT, "0", 0, 1u << 16, "sets",
     "IOTLB sets (0: vtd 16 x 4 = 64 entries, the pcie-bench reach of 64-128 "
     "4 KiB entries; smmuv3 512 x 4 = 2048, gem5 SMMUv3 main TLB; amdvi as "
     "vtd [I])",
     NULL, offsetof(iommu_cfg_t, iotlb_sets)},
    {"iommu", "iotlb_ways", SIM_PARAM_UINT, "0", 0, 64, "ways",
     "IOTLB associativity (0: 4 for both; gem5 main TLB 4-way)", NULL,
     offsetof(iommu_cfg_t, iotlb_ways)},
    {"iommu", "ctx_cache", SIM_PARAM_UINT, "64", 0, 1u << 20, "entries",
     "context cache entries (0: off; gem5 SMMUv3 configuration cache 64)", NULL,
     offsetof(iommu_cfg_t, ctx_cache)},
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
    {"iommu", "ad", SIM_PARAM_ENUM, "arch", 0, 0, "",
     "set accessed/dirty bits of stage-1 entries, one write each costing "
     "walk_read (arch: vtd always, VT-d 3.6.2; amdvi always, x86 v2 "
     "tables [I]; smmuv3 off, HTTU not enabled; true; false)",
     ad_names, offsetof(iommu_cfg_t, ad)},
    {"iommu", "prq_depth", SIM_PARAM_UINT, "0", 0, 1u << 20, "entries",
     "page request queue entries (0: vtd 2048, Linux PRQ_ORDER 4: 64 KiB of "
     "32-byte descriptors; smmuv3 256, Linux PRIQ_MAX_SZ_SHIFT 8: one page "
     "of 16-byte entries; amdvi 512 16-byte PPR log entries, Linux "
     "PPR_LOG_ENTRIES)",
     NULL, offsetof(iommu_cfg_t, prq_depth)},
    {"iommu", "fault_depth", SIM_PARAM_UINT, "128", 2, 1u << 20, "entries",
     "fault-record queue entries (SMMUv3 event queue: Linux "
     "EVTQ_MAX_SZ_SHIFT 7; VT-d [I])",
     NULL, offsetof(iommu_cfg_t, fault_depth)},
    {"iommu", "qi_depth", SIM_PARAM_UINT, "0", 0, 1u << 20, "entries",
     "invalidation queue entries (0: 256, Linux QI_LENGTH; smmuv3 [I]; "
     "amdvi 512, Linux CMD_BUFFER_ENTRIES)",
     NULL, offsetof(iommu_cfg_t, qi_depth)},
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
     "effective; pcie-bench miss penalty 214-346 ns)",
     NULL, offsetof(iommu_cfg_t, walk_read)},
    {"iommu", "prq_write", SIM_PARAM_TIME, "100", 0, 1e9, "ns",
     "PRQ descriptor or fault record write to memory (posted, [I])", NULL,
     offsetof(iommu_cfg_t, prq_write)},
    QT(qi_iotlb, "600",
       "invalidation queue: IOTLB invalidation (with host.qi_submit, 0.8 us: "
       "QEMU docs/devel/migration/qpl-compression.rst inv_iotlb, 70% "
       "below 1 us)"),
    QT(qi_pasid, "600",
       "invalidation queue: PASID-cache invalidation ([I], "
       "as qi_iotlb)"),
    QT(qi_context, "600",
       "invalidation queue: context-cache invalidation "
       "([I], as qi_iotlb)"),
    QT(qi_devtlb, "500",
       "invalidation queue: device-TLB invalidation before the ATS request "
       "leaves ([I]; on-die inv_devtlb 0.1-1 us incl. the device, "
       "QEMU docs/devel/migration/qpl-compression.rst)"),
    QT(qi_page_resp, "800",
       "invalidation queue: page group response or resume (with "
       "host.qi_submit, 1 us: [I] of the order of QEMU "
       "docs/devel/migration/qpl-compression.rst inv_iotlb)"),
    QT(qi_wait, "100",
       "invalidation queue: wait descriptor status write "
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
    uint64_t epoch;   /* u->inv_epoch when the walk started */
    uint64_t k1, k2;  /* merge key */
    xlate_t *waiters; /* requests merged into this walk */
    xlate_t *next;    /* in a waiter list */
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
    /* VT-d 3.6.2: first-stage A (and D on a write) are always set; SMMUv3
     * updates them only with HTTU enabled (CD.HA/HD), which Linux's SVA
     * enables only when the SMMU supports it: off by default. */
    if (c->ad == IOMMU_AD_ARCH)
        c->ad = smmu ? IOMMU_AD_OFF : IOMMU_AD_ON;
    bool amd = c->arch == IOMMU_ARCH_AMDVI;
    /* AMD-Vi: Linux PPR_LOG_ENTRIES 512 of PPR_ENTRY_SIZE 16 bytes and
     * CMD_BUFFER_ENTRIES 512 (drivers/iommu/amd/amd_iommu_types.h). */
    if (!c->prq_depth)
        c->prq_depth = smmu ? 256 : amd ? 512 : 2048;
    if (!c->qi_depth)
        c->qi_depth = amd ? 512 : 256;
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

/* PCIe R/W/X of IOMMU_PTE permission bits (X only with R). */
static uint8_t pte_to_pcie(uint64_t perm)
{
    return (
        uint8_t)(((perm & IOMMU_PTE_R) ? PCIE_F_R : 0) |
                 ((perm & IOMMU_PTE_W) ? PCIE_F_W : 0) |
                 ((perm & IOMMU_PTE_R) && (perm & IOMMU_PTE_X) ? PCIE_F_X : 0));
}

/* Answer an ATS translation request (PCIe 10.2.3 Translation Completion;
 * riscv-iommu iommu_ref_model iommu_req_rsp.h): UR for a bad context; a
 * fault is Success with R=W=0. */
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
    iommu_port_send(&u->down, req->rid, &c);
}

/* Send the completion of an untranslated read (SC with data, or UR). */
static void mem_cpl(iommu_t *u, const pcie_msg_t *req, uint8_t code)
{
    pcie_msg_t c = *req;
    c.type = PCIE_MSG_MEM_CPL;
    c.flags = 0; /* completions carry no PASID prefix */
    c.code = code;
    c.len = code == PCIE_CPL_SC ? req->len : 0;
    iommu_port_send(&u->down, req->rid, &c);
}

/* The memory access of an untranslated read is done: complete it. */
static void ev_mem_done(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = sim_arg_ptr(arg);
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
    f->flags =
        (uint8_t)((x->req.type == PCIE_MSG_MEM_WR ? PCIE_F_W : PCIE_F_R) |
                  (x->access & (PCIE_F_X | PCIE_F_PRIV)));
    f->stall = stall;
    f->stag = x->stag;
    f->span = x->req.span;
}

/* The non-recoverable record lands (after prq_write). */
static void ev_fault_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = sim_arg_ptr(arg);
    iommu_fault_rec_t f;
    fault_rec_of(x, false, &f);
    iommu_fq_record(&u->fq, &f);
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
                     sim_ptr_arg(x));
    else
        sim_pool_put(&u->xlates, x);
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
            sim_span_mark(x->req.span, u->stage_retry, sim_now(u->sim));
        if (rd)
            sim_schedule(u->sim, u->cfg.mem_access, ev_mem_done, u,
                         sim_ptr_arg(x));
        else
            sim_pool_put(&u->xlates, x);
        return;
    }
    u->s.dma_faults->value++;
    bool recoverable = r != IOMMU_WALK_BAD_CONTEXT && r != IOMMU_WALK_BAD_PASID;
    if (u->cfg.stall && recoverable && iommu_stall_can_hold(&u->stall)) {
        x->stag = iommu_stall_hold(&u->stall, x);
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
        iommu_walk_translate(u, x->req.rid, x->pasid, x->req.addr, x->access,
                             &x->res, true);
    } else if (!x->res.iotlb_hit) {
        iommu_walk_fill(u, x->pasid, x->req.addr, &x->res);
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
    xlate_t *x = sim_arg_ptr(arg);
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
    iommu_walk_translate(u, x->req.rid, x->pasid, x->req.addr, x->access,
                         &x->res, false);
    sim_time_t lookup = u->cfg.ctx_hit + u->cfg.iotlb_hit;
    sim_time_t extra = x->res.latency > lookup ? x->res.latency - lookup : 0;
    if (!extra) {
        if (!x->res.iotlb_hit)
            iommu_walk_fill(u, x->pasid, x->req.addr, &x->res);
        finish(u, x);
        return;
    }
    x->epoch = u->inv_epoch;
    x->waiters = NULL;
    if (inflight_insert(u, x)) {
        sim_oom(u->sim, "iommu");
        return;
    }
    sim_server_submit_time(u->walker, x, extra);
}

/* Start translating request m for `access`. */
static void xlate_start(iommu_t *u, const pcie_msg_t *m, unsigned access)
{
    xlate_t *x = sim_pool_get(&u->xlates);
    if (!x) {
        sim_oom(u->sim, "iommu");
        return;
    }
    x->req = *m;
    x->pasid = (m->flags & PCIE_F_PASID) ? m->pasid & (PCIE_PASID_MAX - 1)
                                         : IOMMU_PASID_NONE;
    x->access = access;
    x->stag = UINT16_MAX;
    x->waiters = x->next = NULL;
    sim_schedule(u->sim, u->cfg.ctx_hit + u->cfg.iotlb_hit, ev_xlate, u,
                 sim_ptr_arg(x));
}

/* The stall model's port: the fault record of a held request. */
static void stall_describe(void *opaque, const void *txn,
                           iommu_fault_rec_t *out)
{
    fault_rec_of(txn, false, out);
}

/* The stall model's port: a held request is resumed (retry: translate
 * again) or terminated. */
static void stall_finish(void *opaque, void *txn, bool retry)
{
    iommu_t *u = opaque;
    xlate_t *x = txn;
    if (!retry) {
        mem_abort(u, x, false);
        return;
    }
    x->waiters = x->next = NULL;
    sim_schedule(u->sim, u->cfg.ctx_hit + u->cfg.iotlb_hit, ev_xlate, u,
                 sim_ptr_arg(x));
}

/* An ATS Translation Request: translate for R (and W unless No-Write),
 * reporting permissions without faulting. */
static void rx_ats_req(iommu_t *u, const pcie_msg_t *m)
{
    u->s.ats_reqs->value++;
    unsigned access =
        IOMMU_XL_NOCHECK | PCIE_F_R | (m->flags & (PCIE_F_X | PCIE_F_PRIV));
    if ((m->flags & PCIE_F_W) && !(m->flags & PCIE_F_NW))
        access |= PCIE_F_W;
    xlate_start(u, m, access);
}

/* ------------------------------------------------------ data path */

static void ev_xlated_read(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    pcie_msg_t *m = sim_arg_ptr(arg);
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
        xlate_start(u, m,
                    (rd ? PCIE_F_R : PCIE_F_W) |
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
        sim_oom(u->sim, "iommu");
        return;
    }
    *copy = *m;
    sim_schedule(u->sim, u->cfg.mem_access, ev_xlated_read, u,
                 sim_ptr_arg(copy));
}

/* ------------------------------------------------------------- PRQ */

static void ev_prq_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    pcie_msg_t *m = sim_arg_ptr(arg);
    iommu_prq_accept(&u->prq, m);
    sim_pool_put(&u->msgs, m);
    u->prq_written++;
    iommu_invq_prq_written(&u->invq);
}

/* ----------------------------------- hardware vIOMMU: guest PPR logs */

struct iommu_vlog {
    iommu_vlog_t *next;
    iommu_t *u;
    iommu_prq_t q;  /* the guest's log: the IOMMU's format and rules */
    uint16_t *rids; /* devices routed to it */
    size_t nrids, rids_cap;
    iommu_vlog_host_fn host;
    void *host_opaque;
    sim_time_t cmd_free; /* the guest command processor is busy until */
    uint64_t responded;  /* page requests answered by the guest */
    struct {
        sim_counter_t *host_faults, *completions;
    } s;
};

/* The guest log device rid is routed to, or NULL. */
static iommu_vlog_t *vlog_of(const iommu_t *u, uint16_t rid)
{
    for (iommu_vlog_t *l = u->vlogs; l; l = l->next)
        for (size_t i = 0; i < l->nrids; i++)
            if (l->rids[i] == rid)
                return l;
    return NULL;
}

/* The vIOMMU writes a page request into a guest's log (or applies the
 * log's overflow rule). */
static void ev_vlog_write(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    iommu_t *u = opaque;
    pcie_msg_t *m = sim_arg_ptr(arg);
    iommu_vlog_t *l = m->cookie;
    m->cookie = NULL;
    iommu_prq_accept(&l->q, m);
    sim_pool_put(&u->msgs, m);
}

/* VT-d implicit invalidation on a page request (VT-d 6.5.3.1, Table 27),
 * chosen by the PGTT of the PASID entry, always with IH = 0 so that the
 * paging-structure caches go too: first stage, a page-selective-within-
 * PASID P_IOTLB invalidation (DID, PASID, address, AM = 0); second stage
 * and pass-through, a page-selective-within-domain IOTLB invalidation
 * (here the stage-2 tag, the simulator's stage-2 domain); nested, a
 * domain-selective IOTLB invalidation of the DID. (QEMU
 * vtd_pri_perform_implicit_invalidation implements the first row only,
 * and leaf only.) */
static void implicit_inval(iommu_t *u, const iommu_pe_t *pe, uint32_t pasid,
                           uint64_t addr)
{
    iommu_inv_t inv = {.domain = pe->domain,
                       .pasid = pasid,
                       .addr = addr & ~(IOMMU_PAGE_SIZE - 1),
                       .len = IOMMU_PAGE_SIZE};
    switch (pe->mode) {
    case IOMMU_MODE_S1:
        inv.gran = IOMMU_INV_RANGE;
        break;
    case IOMMU_MODE_NESTED:
        inv.gran = IOMMU_INV_DOMAIN;
        break;
    default: /* second stage; pass-through (which caches nothing) */
        inv.gran = IOMMU_INV_S2_RANGE;
        inv.domain = pe->s2_domain;
        break;
    }
    iommu_walk_inval(u, &inv);
}

/* A page request: PRI check, VT-d implicit invalidation, then the PRQ
 * write. */
static void rx_page_req(iommu_t *u, const pcie_msg_t *m)
{
    u->prq.s.received->value++;
    bool stop = (m->flags & PCIE_F_LAST) && !(m->flags & (PCIE_F_R | PCIE_F_W));
    uint32_t pasid = (m->flags & PCIE_F_PASID) ? m->pasid & (PCIE_PASID_MAX - 1)
                                               : IOMMU_PASID_NONE;
    iommu_xlate_t tmp;
    iommu_pe_t pe;
    iommu_walk_outcome_t lk = iommu_ctx_lookup(u, m->rid, pasid, &tmp, &pe);
    bool ok = lk == IOMMU_WALK_OK;
    if (!stop && (!ok || !pe.pri)) {
        /* No context or PASID entry, or PRE clear: Invalid Request for a
         * last request, nothing for the others (VT-d 7.4.1 auto-response,
         * [I]), and a non-recoverable fault record (VT-d 7.4.1.1; QEMU
         * hw/i386/intel_iommu.c: vtd_check_pre_bit reports the fault,
         * reason 0x47 "SM: PRE bit absent" for PRE clear). The record
         * carries the lookup's outcome; a present entry with PRE clear is
         * recorded as bad_pasid (the model has no code of its own for
         * it). */
        iommu_fault_rec_t f = {
            .reason = ok ? IOMMU_WALK_BAD_PASID : lk,
            .rid = m->rid,
            .pasid = pasid,
            .pasid_valid = (m->flags & PCIE_F_PASID) != 0,
            .addr = m->addr & ~(IOMMU_PAGE_SIZE - 1),
            .flags = (uint8_t)(m->flags &
                               (PCIE_F_R | PCIE_F_W | PCIE_F_X | PCIE_F_PRIV))};
        iommu_fq_record(&u->fq, &f);
        iommu_prq_refuse(&u->prq, m);
        return;
    }
    if (stop) {
        u->prq.s.stop_markers->value++;
    } else if (u->cfg.arch == IOMMU_ARCH_VTD) {
        u->prq.s.implicit_inv->value++;
        implicit_inval(u, &pe, pasid, m->addr);
    }
    /* A guest's device behind a hardware vIOMMU: its page requests go to
     * the guest's PPR log, stage-2 faults excepted. Stop markers stay the
     * host's (they are owed no response, and the host's PASID teardown
     * waits for them). */
    iommu_vlog_t *l = stop ? NULL : vlog_of(u, m->rid);
    if (l && l->host && l->host(l->host_opaque, m)) {
        l->s.host_faults->value++;
        l = NULL;
    }
    pcie_msg_t *copy = sim_pool_get(&u->msgs);
    if (!copy) {
        sim_oom(u->sim, "iommu");
        return;
    }
    *copy = *m;
    if (l) {
        copy->cookie = l;
        sim_schedule(u->sim, u->cfg.prq_write, ev_vlog_write, u,
                     sim_ptr_arg(copy));
        return;
    }
    u->prq_accepted++;
    sim_schedule(u->sim, u->cfg.prq_write, ev_prq_write, u, sim_ptr_arg(copy));
}

/* An ATS Invalidate Completion: a device-TLB invalidation of the queue is
 * done. */
static void rx_inv_cpl(iommu_t *u, const pcie_msg_t *m)
{
    if (m->cookie == &u->invq) {
        iommu_invq_devtlb_done(&u->invq, m->tag);
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

#define OFF(field) offsetof(iommu_t, field)
#define CTR(field, name, desc, unit)                                           \
    {                                                                          \
        SIM_STAT_COUNTER, name, desc, unit, OFF(field)                         \
    }

/* Register one statistic whose name is made at run time. */
static int stat_row(sim_stats_t *st, iommu_t *u, sim_stat_kind_t kind,
                    const char *name, const char *desc, const char *unit,
                    size_t off)
{
    sim_stat_def_t d = {kind, name, desc, unit, off};
    return sim_stats_register(st, &d, 1, u);
}

/* Hit and miss counters of a cache named `name`. */
static int cache_stats(sim_stats_t *st, iommu_t *u, size_t off,
                       const char *name, const char *what)
{
    char n[96], d[160];
    snprintf(n, sizeof(n), "iommu.%s.hits", name);
    snprintf(d, sizeof(d), "%s lookups that hit", what);
    if (stat_row(st, u, SIM_STAT_COUNTER, n, d, "lookups",
                 off + offsetof(icache_t, hits)))
        return -ENOMEM;
    snprintf(n, sizeof(n), "iommu.%s.misses", name);
    snprintf(d, sizeof(d), "%s lookups that missed", what);
    return stat_row(st, u, SIM_STAT_COUNTER, n, d, "lookups",
                    off + offsetof(icache_t, misses));
}

static const sim_stat_def_t ats_stats[] = {
    CTR(s.ats_reqs, "iommu.ats.requests", "translation requests received",
        "requests"),
    CTR(s.ats_ur, "iommu.ats.unsupported",
        "translation requests answered UR (invalid context or PASID entry)",
        "requests"),
};

static const sim_stat_def_t main_stats[] = {
    CTR(s.iotlb_inval, "iommu.iotlb.invalidated", "IOTLB entries invalidated",
        "entries"),
    CTR(s.psc_inval, "iommu.psc.invalidated",
        "paging-structure cache and stage-2 TLB entries invalidated",
        "entries"),
    CTR(s.ctx_inval, "iommu.ctx_cache.invalidated",
        "context cache entries invalidated", "entries"),
    CTR(s.pasid_inval, "iommu.pasid_cache.invalidated",
        "PASID cache entries invalidated", "entries"),
    CTR(s.ctx_reads, "iommu.ctx.reads", "context and PASID table reads",
        "reads"),
    CTR(s.merged, "iommu.walk.merged",
        "misses that waited for a walk of the same page in flight", "requests"),
    CTR(s.rewalks, "iommu.walk.rewalks",
        "walks read again because an invalidation happened during them",
        "walks"),
    CTR(s.ad_writes, "iommu.walk.ad_writes",
        "accessed/dirty bit updates written", "writes"),
    CTR(s.mem_reads, "iommu.mem.reads", "DMA read requests served", "requests"),
    CTR(s.mem_writes, "iommu.mem.writes", "DMA writes absorbed", "requests"),
    CTR(s.mem_bytes, "iommu.mem.bytes", "DMA payload bytes", "bytes"),
    CTR(s.dma_untranslated, "iommu.dma.untranslated",
        "untranslated DMA requests received", "requests"),
    CTR(s.dma_faults, "iommu.dma.faults",
        "untranslated DMA requests whose translation faulted", "requests"),
    CTR(s.dma_aborted, "iommu.dma.aborted",
        "untranslated DMA requests failed (read: UR; write: dropped)",
        "requests"),
    CTR(stall.s.stalled, "iommu.dma.stalled",
        "untranslated DMA requests held by the stall model", "requests"),
    CTR(stall.s.resumed, "iommu.dma.resumed",
        "stalled requests resumed (retry or abort)", "requests"),
    CTR(prq.s.received, "iommu.prq.received", "page requests received",
        "requests"),
    CTR(prq.s.written, "iommu.prq.written", "page requests written to the PRQ",
        "requests"),
    CTR(prq.s.auto_responded, "iommu.prq.auto_responded",
        "page requests answered by hardware (overflow: Success; PRI off: "
        "Invalid)",
        "requests"),
    CTR(prq.s.dropped, "iommu.prq.dropped",
        "page requests dropped without a response (not last in group)",
        "requests"),
    CTR(prq.s.stop_markers, "iommu.prq.stop_markers", "stop markers received",
        "requests"),
    CTR(prq.s.stop_markers_dropped, "iommu.prq.stop_markers_dropped",
        "stop markers discarded in a PRQ overflow (no response, SMMUv3 8.1; "
        "not page requests, so not in iommu.prq.dropped)",
        "messages"),
    CTR(prq.s.overflows, "iommu.prq.overflows",
        "times the PRQ overflowed (VT-d PRO set, SMMUv3 OVFLG toggled)",
        "events"),
    CTR(prq.s.pri_disabled, "iommu.prq.pri_disabled",
        "page requests for a PASID entry without PRI", "requests"),
    CTR(invq.s.host_responses, "iommu.prq.host_responses",
        "page group responses sent for the host", "responses"),
    CTR(prq.s.implicit_inv, "iommu.prq.implicit_invalidations",
        "implicit IOTLB invalidations on accepting a page request (VT-d "
        "Table 27: the page in stage 1, the domain in nested mode)",
        "requests"),
    CTR(fq.s.records, "iommu.fault.records", "fault records written",
        "records"),
    CTR(fq.s.lost, "iommu.fault.lost",
        "fault records lost (queue full or overflow not acknowledged)",
        "records"),
    CTR(fq.s.overflows, "iommu.fault.overflows", "fault queue overflows",
        "events"),
    CTR(invq.s.full_waits, "iommu.qi.full_waits",
        "descriptors that waited for space in the invalidation queue",
        "descriptors"),
    CTR(invq.s.errors, "iommu.qi.errors",
        "invalid descriptors or resumes of no stalled transaction",
        "descriptors"),
    CTR(invq.s.devtlb_inval, "iommu.devtlb.invalidations",
        "device-TLB invalidation requests sent", "requests"),
};

static const sim_stat_def_t tail_stats[] = {
    CTR(prq.irq.count, "iommu.prq.interrupts", "page request interrupts raised",
        "interrupts"),
    CTR(prq.irq.coalesced, "iommu.prq.interrupts_coalesced",
        "page request interrupts merged by moderation", "interrupts"),
    CTR(fq.irq.count, "iommu.fault.interrupts", "fault interrupts raised",
        "interrupts"),
    CTR(fq.irq.coalesced, "iommu.fault.interrupts_coalesced",
        "fault interrupts merged by moderation", "interrupts"),
    {SIM_STAT_HIST, "iommu.walk.reads",
     "page-table reads per walk (both stages)", "reads", OFF(s.walk_reads)},
    {SIM_STAT_GAUGE, "iommu.prq.occupancy", "PRQ entries in use", "entries",
     OFF(prq.s.occupancy)},
    {SIM_STAT_GAUGE, "iommu.qi.occupancy", "invalidation queue entries in use",
     "entries", OFF(invq.s.occupancy)},
};

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

/* Register the statistics (the order of stats.txt). Returns 0 or
 * -ENOMEM. */
static int iommu_stats(iommu_t *u, sim_stats_t *st)
{
    char n[96], d[160];
    if (sim_stats_register(st, ats_stats, NROWS(ats_stats), u) ||
        cache_stats(st, u, OFF(iotlb), "iotlb", "IOTLB") ||
        cache_stats(st, u, OFF(ctxc), "ctx_cache", "context cache") ||
        cache_stats(st, u, OFF(pasidc), "pasid_cache", "PASID cache") ||
        cache_stats(st, u, OFF(s2tlb), "s2tlb", "stage-2 TLB"))
        return -ENOMEM;
    for (unsigned s = 0; s < 2; s++) {
        for (unsigned l = 2; l < IOMMU_PSC_LEVELS; l++) {
            snprintf(n, sizeof(n), "iommu.psc.s%u.l%u.hits", s + 1, l);
            snprintf(d, sizeof(d),
                     "stage-%u paging-structure cache, level %u: hits", s + 1,
                     l);
            if (stat_row(st, u, SIM_STAT_COUNTER, n, d, "lookups",
                         OFF(s.psc_hits) + (s * IOMMU_PSC_LEVELS + l) *
                                               sizeof(sim_counter_t *)))
                return -ENOMEM;
            snprintf(n, sizeof(n), "iommu.psc.s%u.l%u.misses", s + 1, l);
            snprintf(d, sizeof(d),
                     "stage-%u paging-structure cache, level %u: misses", s + 1,
                     l);
            if (stat_row(st, u, SIM_STAT_COUNTER, n, d, "lookups",
                         OFF(s.psc_misses) + (s * IOMMU_PSC_LEVELS + l) *
                                                 sizeof(sim_counter_t *)))
                return -ENOMEM;
            u->psc[s][l].hits = u->s.psc_hits[s][l];
            u->psc[s][l].misses = u->s.psc_misses[s][l];
        }
    }
    if (sim_stats_register(st, main_stats, NROWS(main_stats), u))
        return -ENOMEM;
    for (unsigned t = 0; t < IOMMU_QI_TYPES; t++) {
        snprintf(n, sizeof(n), "iommu.qi.%s", iommu_qi_type_names[t]);
        snprintf(d, sizeof(d), "%s descriptors processed",
                 iommu_qi_type_names[t]);
        if (stat_row(st, u, SIM_STAT_COUNTER, n, d, "descriptors",
                     OFF(invq.s.desc) + t * sizeof(sim_counter_t *)))
            return -ENOMEM;
    }
    for (unsigned i = 0; i < IOMMU_WALK_OUTCOMES; i++) {
        snprintf(n, sizeof(n), "iommu.walk.%s", iommu_walk_outcome_names[i]);
        snprintf(d, sizeof(d),
                 "translations that walked (or had no valid "
                 "entry) with outcome %s",
                 iommu_walk_outcome_names[i]);
        if (stat_row(st, u, SIM_STAT_COUNTER, n, d, "walks",
                     OFF(s.walk_outcome) + i * sizeof(sim_counter_t *)))
            return -ENOMEM;
    }
    return sim_stats_register(st, tail_stats, NROWS(tail_stats), u);
}

/* Allocate the caches from the configuration. Returns 0 or -ENOMEM. */
static int caches_init(iommu_t *u)
{
    const iommu_cfg_t *c = &u->cfg;
    int rc = iommu_cache_init(&u->iotlb, c->iotlb_sets * c->iotlb_ways,
                              c->iotlb_ways);
    rc = rc ? rc : iommu_cache_init(&u->ctxc, c->ctx_cache, c->psc_ways);
    rc = rc ? rc : iommu_cache_init(&u->pasidc, c->pasid_cache, c->psc_ways);
    rc = rc ? rc : iommu_cache_init(&u->s2tlb, c->s2tlb, c->psc_ways);
    for (unsigned s = 0; s < 2 && !rc; s++)
        for (unsigned l = 2; l < IOMMU_PSC_LEVELS && !rc; l++)
            rc = iommu_cache_init(&u->psc[s][l], c->psc[s][l], c->psc_ways);
    return rc;
}

/* The invalidation queue's ops: its descriptors' effects on the caches. */
static void invq_iotlb(void *opaque, const iommu_inv_t *inv)
{
    iommu_walk_inval(opaque, inv);
}

static void invq_pasid_cache(void *opaque, const iommu_inv_t *inv)
{
    iommu_ctx_inval_pasid(opaque, inv);
}

static void invq_context_cache(void *opaque, const iommu_inv_t *inv)
{
    iommu_ctx_inval_context(opaque, inv);
}

static uint64_t invq_prq_accepted(void *opaque)
{
    return ((const iommu_t *)opaque)->prq_accepted;
}

static uint64_t invq_prq_written(void *opaque)
{
    return ((const iommu_t *)opaque)->prq_written;
}

/* The queues in memory (PRQ, fault records, invalidation queue, in this
 * order of allocation) and the stall model. Returns 0 or -ENOMEM. */
static int queues_init(iommu_t *u)
{
    const iommu_cfg_t *c = &u->cfg;
    bool smmu = c->arch == IOMMU_ARCH_SMMUV3;
    /* AMD-Vi's event log is kept in VT-d's fault-record format: the model
     * only counts and reads the records ([I]). */
    if (iommu_prq_init(&u->prq, u->sim, u->mem, &u->down, c->arch, c->prq_depth,
                       c->irq_coalesce) ||
        iommu_fq_init(&u->fq, u->sim, u->mem, smmu, c->fault_depth,
                      c->irq_coalesce) ||
        iommu_invq_init(&u->invq, u->sim, u->mem, c, &u->down, &u->stall,
                        c->arch, c->qi_depth))
        return -ENOMEM;
    iommu_stall_init(&u->stall, u->sim, &u->fq, c->prq_write);
    u->stall.port = (iommu_stall_port_t){stall_describe, stall_finish, u};
    u->invq.ops = (iommu_invq_ops_t){invq_iotlb,         invq_pasid_cache,
                                     invq_context_cache, invq_prq_accepted,
                                     invq_prq_written,   u};
    return 0;
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
    u->mem = iommu_mem_create();
    if (!u->mem || iommu_ctx_init(u) || caches_init(u) || queues_init(u) ||
        iommu_stats(u, st))
        goto fail;
    iommu_set_spans(u, NULL);
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
    iommu_cache_fini(&u->iotlb);
    iommu_cache_fini(&u->ctxc);
    iommu_cache_fini(&u->pasidc);
    iommu_cache_fini(&u->s2tlb);
    for (unsigned s = 0; s < 2; s++)
        for (unsigned l = 0; l < IOMMU_PSC_LEVELS; l++)
            iommu_cache_fini(&u->psc[s][l]);
    iommu_prq_fini(&u->prq);
    while (u->vlogs) {
        iommu_vlog_t *l = u->vlogs;
        u->vlogs = l->next;
        iommu_prq_fini(&l->q);
        free(l->rids);
        free(l);
    }
    iommu_fq_fini(&u->fq);
    iommu_invq_fini(&u->invq);
    free(u->inflight);
    iommu_mem_destroy(u->mem);
    sim_pool_fini(&u->xlates);
    sim_pool_fini(&u->msgs);
    free(u);
}

void iommu_set_downstream(iommu_t *u, iommu_send_fn fn, void *opaque)
{
    u->down.fn = fn;
    u->down.opaque = opaque;
}

void iommu_set_prq_irq(iommu_t *u, iommu_irq_fn fn, void *opaque)
{
    u->prq.irq.fn = fn;
    u->prq.irq.opaque = opaque;
}

void iommu_set_fault_irq(iommu_t *u, iommu_irq_fn fn, void *opaque)
{
    u->fq.irq.fn = fn;
    u->fq.irq.opaque = opaque;
}

void iommu_set_spans(iommu_t *u, const sim_spans_t *spans)
{
    unsigned page_req = sim_spans_stage(spans, "page_req");
    u->prq.stage_page_req = page_req;
    u->stage_page_req = page_req;
    for (iommu_vlog_t *l = u->vlogs; l; l = l->next)
        l->q.stage_page_req = page_req;
    u->stall.stage_page_req = page_req;
    u->stall.stage_response = sim_spans_stage(spans, "response");
    u->stage_retry = sim_spans_stage(spans, "retry");
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
    return iommu_stall_held(&u->stall);
}

/* ------------------------------------ tables, translation, invalidation */

int iommu_set_pasid(iommu_t *u, uint16_t rid, uint32_t pasid,
                    const iommu_pasid_entry_t *entry)
{
    return iommu_ctx_set(u, rid, pasid, entry);
}

void iommu_clear_pasid(iommu_t *u, uint16_t rid, uint32_t pasid)
{
    iommu_ctx_clear(u, rid, pasid);
}

bool iommu_get_pasid(const iommu_t *u, uint16_t rid, uint32_t pasid,
                     iommu_pasid_entry_t *out)
{
    return iommu_ctx_get(u, rid, pasid, out);
}

void iommu_translate(iommu_t *u, uint16_t rid, uint32_t pasid, uint64_t va,
                     unsigned access, iommu_xlate_t *x)
{
    iommu_walk_translate(u, rid, pasid, va, access, x, true);
}

void iommu_invalidate_iotlb(iommu_t *u, const iommu_inv_t *inv)
{
    iommu_walk_inval(u, inv);
}

void iommu_invalidate_pasid_cache(iommu_t *u, const iommu_inv_t *inv)
{
    iommu_ctx_inval_pasid(u, inv);
}

void iommu_invalidate_context_cache(iommu_t *u, const iommu_inv_t *inv)
{
    iommu_ctx_inval_context(u, inv);
}

void iommu_iotlb_invalidate(iommu_t *u, uint16_t domain, uint32_t pasid,
                            uint64_t addr, uint64_t len)
{
    iommu_inv_t inv = {.gran = len ? IOMMU_INV_RANGE : IOMMU_INV_PASID,
                       .domain = domain,
                       .pasid = pasid & (PCIE_PASID_MAX - 1),
                       .addr = addr,
                       .len = len};
    iommu_walk_inval(u, &inv);
}

/* ------------------------------------------------- queues in memory */

uint32_t iommu_prq_head(const iommu_t *u)
{
    return u->prq.ring.head;
}
uint32_t iommu_prq_tail(const iommu_t *u)
{
    return u->prq.ring.tail;
}
uint32_t iommu_prq_depth(const iommu_t *u)
{
    return u->prq.ring.depth;
}
uint32_t iommu_prq_count(const iommu_t *u)
{
    return iring_count(&u->prq.ring);
}
uint64_t iommu_prq_base(const iommu_t *u)
{
    return u->prq.ring.base;
}
unsigned iommu_prq_desc_size(const iommu_t *u)
{
    return u->prq.ring.esize;
}

uint32_t iommu_prq_next(const iommu_t *u, uint32_t pos)
{
    return iring_next(&u->prq.ring, pos);
}

void iommu_prq_read(const iommu_t *u, uint32_t pos, iommu_prq_desc_t *out)
{
    iommu_prq_decode(&u->prq, pos, out);
}

void iommu_prq_set_head(iommu_t *u, uint32_t head)
{
    iommu_prq_consume(&u->prq, head);
}

unsigned iommu_prq_status(const iommu_t *u)
{
    return iommu_prq_status_of(&u->prq);
}

void iommu_prq_clear_status(iommu_t *u, unsigned bits)
{
    iommu_prq_ack(&u->prq, bits);
}

void iommu_prq_totals(const iommu_t *u, iommu_prq_totals_t *out)
{
    out->received = u->prq.s.received->value;
    out->written = u->prq.s.written->value;
    out->auto_responded = u->prq.s.auto_responded->value;
    out->dropped = u->prq.s.dropped->value;
    out->stop_markers = u->prq.s.stop_markers->value;
    out->host_responses = u->invq.s.host_responses->value;
    /* The guests' PPR logs (hardware vIOMMU) apply their own overflow
     * rule to the requests routed to them. */
    for (const iommu_vlog_t *l = u->vlogs; l; l = l->next) {
        out->written += l->q.s.written->value;
        out->auto_responded += l->q.s.auto_responded->value;
        out->dropped += l->q.s.dropped->value;
    }
}

uint32_t iommu_fault_head(const iommu_t *u)
{
    return u->fq.ring.head;
}
uint32_t iommu_fault_tail(const iommu_t *u)
{
    return u->fq.ring.tail;
}

uint32_t iommu_fault_next(const iommu_t *u, uint32_t pos)
{
    return iring_next(&u->fq.ring, pos);
}

void iommu_fault_read(const iommu_t *u, uint32_t pos, iommu_fault_rec_t *out)
{
    iommu_fq_decode(&u->fq, pos, out);
}

void iommu_fault_set_head(iommu_t *u, uint32_t head)
{
    u->fq.ring.head = head % iring_span(&u->fq.ring);
}

bool iommu_fault_overflowed(const iommu_t *u)
{
    return u->fq.overflow;
}

void iommu_fault_ack_overflow(iommu_t *u)
{
    u->fq.overflow = false;
}

int iommu_qi_submit(iommu_t *u, const iommu_qi_desc_t *descs, unsigned n)
{
    return iommu_invq_submit(&u->invq, descs, n);
}

uint32_t iommu_qi_head(const iommu_t *u)
{
    return u->invq.ring.head;
}
uint32_t iommu_qi_tail(const iommu_t *u)
{
    return u->invq.ring.tail;
}
uint64_t iommu_qi_base(const iommu_t *u)
{
    return u->invq.ring.base;
}
unsigned iommu_qi_desc_size(const iommu_t *u)
{
    return u->invq.ring.esize;
}
uint64_t iommu_qi_pending(const iommu_t *u)
{
    return u->invq.pending;
}

/* ----------------------------------- hardware vIOMMU: guest PPR logs */

iommu_vlog_t *iommu_vlog_create(iommu_t *u, sim_stats_t *st, const char *name,
                                uint64_t depth, iommu_vlog_host_fn host,
                                void *opaque)
{
    iommu_vlog_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->u = u;
    l->host = host;
    l->host_opaque = opaque;
    if (iommu_prq_init(&l->q, u->sim, u->mem, &u->down, u->cfg.arch,
                       depth < 2 ? 2 : depth, u->cfg.irq_coalesce)) {
        iommu_prq_fini(&l->q);
        free(l);
        return NULL;
    }
    l->q.stage_page_req = u->stage_page_req;
    l->next = u->vlogs;
    u->vlogs = l;
    static const struct {
        size_t off;
        const char *key, *desc, *unit;
    } rows[] = {
        {offsetof(iommu_vlog_t, q.s.written), "written",
         "page requests the vIOMMU wrote to the guest's PPR log", "requests"},
        {offsetof(iommu_vlog_t, q.s.auto_responded), "auto_responded",
         "requests answered Success by hardware (the guest log full; VT-d "
         "and SMMUv3 rules)",
         "requests"},
        {offsetof(iommu_vlog_t, q.s.dropped), "dropped",
         "requests discarded without a response (the guest log full)",
         "requests"},
        {offsetof(iommu_vlog_t, q.s.overflows), "overflows",
         "overflows of the guest's PPR log", "events"},
        {offsetof(iommu_vlog_t, q.irq.count), "interrupts",
         "guest interrupts raised by the vIOMMU", "interrupts"},
        {offsetof(iommu_vlog_t, q.irq.coalesced), "interrupts_coalesced",
         "guest interrupts merged by moderation", "interrupts"},
        {offsetof(iommu_vlog_t, s.host_faults), "host_faults",
         "requests of the guest's devices sent to the host's log (stage-2 "
         "faults)",
         "requests"},
        {offsetof(iommu_vlog_t, s.completions), "completions",
         "COMPLETE_PPR_REQUEST commands the vIOMMU processed", "commands"},
        /* never raised on a guest log: not registered */
    };
    char n[SIM_PARAM_STR_MAX + 64];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(n, sizeof(n), "%s.%s", name, rows[i].key);
        sim_stat_def_t d = {SIM_STAT_COUNTER, n, rows[i].desc, rows[i].unit,
                            rows[i].off};
        if (sim_stats_register(st, &d, 1, l))
            return NULL; /* freed with the IOMMU */
    }
    snprintf(n, sizeof(n), "%s.occupancy", name);
    sim_stat_def_t g = {SIM_STAT_GAUGE, n, "guest PPR log entries in use",
                        "entries", offsetof(iommu_vlog_t, q.s.occupancy)};
    if (sim_stats_register(st, &g, 1, l))
        return NULL;
    /* Counters the guest log never moves (PRI checks, stop markers and
     * implicit invalidations happen before the routing). */
    static sim_counter_t unused;
    l->q.s.received = l->q.s.stop_markers = l->q.s.stop_markers_dropped =
        l->q.s.pri_disabled = l->q.s.implicit_inv = &unused;
    return l;
}

int iommu_vlog_route(iommu_vlog_t *l, uint16_t rid)
{
    if (SIM_GROW(l->rids, l->rids_cap, l->nrids + 1, 4))
        return -ENOMEM;
    l->rids[l->nrids++] = rid;
    return 0;
}

void iommu_vlog_set_irq(iommu_vlog_t *l, iommu_irq_fn fn, void *opaque)
{
    l->q.irq.fn = fn;
    l->q.irq.opaque = opaque;
}

uint32_t iommu_vlog_head(const iommu_vlog_t *l)
{
    return l->q.ring.head;
}
uint32_t iommu_vlog_tail(const iommu_vlog_t *l)
{
    return l->q.ring.tail;
}
uint32_t iommu_vlog_next(const iommu_vlog_t *l, uint32_t pos)
{
    return iring_next(&l->q.ring, pos);
}
uint32_t iommu_vlog_count(const iommu_vlog_t *l)
{
    return iring_count(&l->q.ring);
}
void iommu_vlog_read(const iommu_vlog_t *l, uint32_t pos, iommu_prq_desc_t *out)
{
    iommu_prq_decode(&l->q, pos, out);
}
void iommu_vlog_set_head(iommu_vlog_t *l, uint32_t head)
{
    iommu_prq_consume(&l->q, head);
}
unsigned iommu_vlog_status(const iommu_vlog_t *l)
{
    return iommu_prq_status_of(&l->q);
}
void iommu_vlog_clear_status(iommu_vlog_t *l, unsigned bits)
{
    iommu_prq_ack(&l->q, bits);
}

/* The vIOMMU has processed a guest's COMPLETE_PPR_REQUEST: the PRG
 * Response goes down. */
static void ev_vlog_complete(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    iommu_vlog_t *l = opaque;
    pcie_msg_t *r = sim_arg_ptr(arg);
    l->s.completions->value++;
    uint16_t rid = r->rid;
    r->rid = 0;
    iommu_port_send(&l->u->down, rid, r);
    sim_pool_put(&l->u->msgs, r);
}

void iommu_vlog_complete(iommu_vlog_t *l, const iommu_prq_desc_t *last,
                         uint8_t code, unsigned pages)
{
    iommu_t *u = l->u;
    pcie_msg_t *r = sim_pool_get(&u->msgs);
    if (!r) {
        sim_oom(u->sim, "iommu");
        return;
    }
    memset(r, 0, sizeof(*r));
    r->type = PCIE_MSG_PRG_RESP;
    r->code = code;
    r->tag = last->prgi;
    r->pasid = last->pasid;
    r->flags = last->flags & PCIE_F_PASID;
    r->span = last->span;
    r->rid = last->rid;
    l->responded += pages;
    /* The guest's commands are processed in order, one at a time. */
    sim_time_t now = sim_now(u->sim);
    sim_time_t start = l->cmd_free > now ? l->cmd_free : now;
    l->cmd_free = sim_time_add(start, u->cfg.qi_page_resp);
    sim_schedule(u->sim, l->cmd_free - now, ev_vlog_complete, l,
                 sim_ptr_arg(r));
}

uint64_t iommu_vlog_responded(const iommu_t *u)
{
    uint64_t n = 0;
    for (const iommu_vlog_t *l = u->vlogs; l; l = l->next)
        n += l->responded;
    return n;
}
