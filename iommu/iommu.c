/*
 * iommu.c - the IOMMU unit: translation of ATS requests (PASID entry,
 * IOTLB, walker), the data path of translated requests, the page request
 * queue and page group responses, and device-TLB invalidation.
 *
 * PRQ behaviour follows VT-d as collected in
 * shared/reference/fault-path-semantics.md section 2a:
 *  - full when (tail + 1) mod depth == head: one slot stays unused (item 3);
 *  - an event (interrupt) only if PPR and PRO were both clear (item 5);
 *  - with PRO set, requests are not queued; a full queue sets PRO (item 6);
 *  - dropped requests that need a response (L=1) get an automatic Success
 *    page group response, which makes the device retry (item 7, VT-d 7.4.1
 *    as paraphrased there: second-hand);
 *  - a request whose PASID entry has PRI disabled is answered Invalid
 *    Request (item 4: "other error conditions").
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"
#include "iommu/iotlb.h"

static const char *const arch_names[] = {"vtd", "smmuv3", NULL};

const sim_param_t iommu_params[] = {
    {"iommu", "arch", SIM_PARAM_ENUM, "vtd", 0, 0, "",
     "architecture: PRQ overflow behaviour and naming (vtd, smmuv3)",
     arch_names, offsetof(iommu_cfg_t, arch)},
    {"iommu", "levels", SIM_PARAM_UINT, "4", 4, 5, "levels",
     "page-table levels (4: 48-bit, 5: 57-bit input addresses)", NULL,
     offsetof(iommu_cfg_t, levels)},
    {"iommu", "iotlb_sets", SIM_PARAM_UINT, "16", 1, 1u << 16, "sets",
     "IOTLB sets (16 x 4 = 64 entries: the pcie-bench reach of 64-128 "
     "4 KiB entries)", NULL, offsetof(iommu_cfg_t, iotlb_sets)},
    {"iommu", "iotlb_ways", SIM_PARAM_UINT, "4", 1, 64, "ways",
     "IOTLB associativity", NULL, offsetof(iommu_cfg_t, iotlb_ways)},
    {"iommu", "walkers", SIM_PARAM_UINT, "16", 1, 1024, "walks",
     "page-table walks in parallel (gem5 SMMUv3: 16 PTW slots)", NULL,
     offsetof(iommu_cfg_t, walkers)},
    {"iommu", "prq_depth", SIM_PARAM_UINT, "2048", 2, 1u << 20, "entries",
     "page request queue entries (Linux PRQ_ORDER 4: 64 KiB of 32-byte "
     "descriptors)", NULL, offsetof(iommu_cfg_t, prq_depth)},
    {"iommu", "ctx_hit", SIM_PARAM_TIME, "5", 0, 1e9, "ns",
     "context / PASID-table cache hit (HyperSIO 1 ns, gem5 3 cycles)", NULL,
     offsetof(iommu_cfg_t, ctx_hit)},
    {"iommu", "iotlb_hit", SIM_PARAM_TIME, "10", 0, 1e9, "ns",
     "IOTLB lookup (pcie-bench: below ~15 ns)", NULL,
     offsetof(iommu_cfg_t, iotlb_hit)},
    {"iommu", "walk_read", SIM_PARAM_TIME, "250", 0, 1e9, "ns",
     "one page-table read by the walker (Fast & Safe SOSP'24 197 ns "
     "effective; pcie-bench miss penalty 214-346 ns)", NULL,
     offsetof(iommu_cfg_t, walk_read)},
    {"iommu", "prq_write", SIM_PARAM_TIME, "100", 0, 1e9, "ns",
     "PRQ descriptor write to memory (posted, [I])", NULL,
     offsetof(iommu_cfg_t, prq_write)},
    {"memory", "access", SIM_PARAM_TIME, "60", 0, 1e9, "ns",
     "data access of a translated DMA (pcie-bench host-warm, LLC)", NULL,
     offsetof(iommu_cfg_t, mem_access)},
};
const unsigned iommu_nparams = sizeof(iommu_params) / sizeof(iommu_params[0]);

typedef struct pasid_slot {
    uint64_t key; /* (rid << 20 | pasid) + 1; 0 = empty */
    iommu_pasid_entry_t *entry;
} pasid_slot_t;

/* An ATS translation in progress. */
typedef struct xlate {
    pcie_msg_t req;
    iommu_walk_t walk;
    const iommu_pasid_entry_t *pe;
    uint64_t epoch; /* u->inv_epoch when the walk started */
} xlate_t;

/* A device-TLB invalidation awaiting its completion. */
typedef struct devinv {
    iommu_done_fn done;
    void *opaque;
} devinv_t;

struct iommu {
    sim_t *sim;
    iommu_cfg_t cfg;
    iommu_mem_t *mem;
    iotlb_t iotlb;
    sim_server_t *walker;
    sim_rng_t walker_rng;
    /* Bumped by every invalidation and PASID-entry change: a walk that
     * overlapped one re-reads the tables before answering, so that no
     * translation older than a completed invalidation is ever handed out
     * or cached. */
    uint64_t inv_epoch;
    sim_pool_t xlates, invs, msgs;

    pasid_slot_t *pasids;
    size_t npasid_slots, npasids;

    iommu_send_fn send;
    void *send_opaque;
    iommu_irq_fn irq;
    void *irq_opaque;

    /* PRQ */
    iommu_prq_desc_t *prq;
    uint32_t prq_head, prq_tail;
    unsigned prs;
    iommu_prq_totals_t prq_tot;

    struct {
        sim_counter_t *ats_reqs, *ats_ur, *iotlb_hits, *iotlb_misses;
        sim_counter_t *walk_outcome[IOMMU_WALK_OUTCOMES];
        sim_hist_t *walk_reads;
        sim_counter_t *mem_reads, *mem_writes, *mem_bytes;
        sim_counter_t *prq_received, *prq_written, *prq_auto, *prq_dropped,
            *prq_stop, *prq_overflows, *prq_irqs, *prq_pri_disabled,
            *prg_responses, *iotlb_inval, *devtlb_inval;
        sim_gauge_t *prq_occupancy;
    } s;
};

/* -------------------------------------------------------- PASID table */

static uint64_t pasid_key(uint16_t rid, uint32_t pasid)
{
    return (((uint64_t)rid << 20) | (pasid & (PCIE_PASID_MAX - 1))) + 1;
}

static pasid_slot_t *pasid_slot(const iommu_t *u, uint64_t key)
{
    if (!u->npasid_slots)
        return NULL;
    size_t mask = u->npasid_slots - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;
    while (u->pasids[i].key && u->pasids[i].key != key)
        i = (i + 1) & mask;
    return &u->pasids[i];
}

static int pasid_grow(iommu_t *u)
{
    size_t n = u->npasid_slots ? u->npasid_slots * 2 : 64;
    pasid_slot_t *old = u->pasids;
    size_t oldn = u->npasid_slots;
    u->pasids = calloc(n, sizeof(*u->pasids));
    if (!u->pasids) {
        u->pasids = old;
        return -ENOMEM;
    }
    u->npasid_slots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].key && old[i].entry)
            *pasid_slot(u, old[i].key) = old[i];
    free(old);
    return 0;
}

int iommu_set_pasid(iommu_t *u, uint16_t rid, uint32_t pasid,
                    const iommu_pasid_entry_t *entry)
{
    if ((u->npasids + 1) * 2 > u->npasid_slots && pasid_grow(u))
        return -ENOMEM;
    u->inv_epoch++;
    uint64_t key = pasid_key(rid, pasid);
    pasid_slot_t *s = pasid_slot(u, key);
    if (!s->key) {
        s->entry = malloc(sizeof(*s->entry));
        if (!s->entry)
            return -ENOMEM;
        s->key = key;
        u->npasids++;
    }
    *s->entry = *entry;
    return 0;
}

void iommu_clear_pasid(iommu_t *u, uint16_t rid, uint32_t pasid)
{
    pasid_slot_t *s = pasid_slot(u, pasid_key(rid, pasid));
    if (!s || !s->key)
        return;
    u->inv_epoch++;
    /* Keep the key as a tombstone-free removal: rehash the table. */
    free(s->entry);
    s->entry = NULL;
    s->key = 0;
    u->npasids--;
    size_t n = u->npasid_slots;
    pasid_slot_t *old = u->pasids;
    u->pasids = calloc(n, sizeof(*u->pasids));
    if (!u->pasids) { /* keep the old table (the entry is gone from it) */
        u->pasids = old;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (old[i].key)
            *pasid_slot(u, old[i].key) = old[i];
    free(old);
}

const iommu_pasid_entry_t *iommu_get_pasid(const iommu_t *u, uint16_t rid,
                                           uint32_t pasid)
{
    pasid_slot_t *s = pasid_slot(u, pasid_key(rid, pasid));
    return s && s->key ? s->entry : NULL;
}

/* ------------------------------------------------------ translation */

static void send_down(iommu_t *u, uint16_t rid, pcie_msg_t *m)
{
    m->rid = rid;
    u->send(u->send_opaque, rid, m);
}

static uint8_t pte_to_pcie(uint64_t perm)
{
    return (uint8_t)(((perm & IOMMU_PTE_R) ? PCIE_F_R : 0) |
                     ((perm & IOMMU_PTE_W) ? PCIE_F_W : 0) |
                     ((perm & IOMMU_PTE_R) && (perm & IOMMU_PTE_X) ? PCIE_F_X
                                                                   : 0));
}

/* Send the Translation Completion for `req`: granted permission `perm`
 * (0: R=W=0, the device will ask for the page). */
static void send_ats_cpl(iommu_t *u, const pcie_msg_t *req, uint8_t code,
                         uint64_t xaddr, uint8_t perm, unsigned shift)
{
    pcie_msg_t c = {0};
    c.type = PCIE_MSG_ATS_CPL;
    c.code = code;
    c.perm = perm;
    c.size_shift = (uint8_t)shift;
    c.tag = req->tag;
    c.pasid = req->pasid;
    c.addr = req->addr;
    c.xaddr = xaddr;
    c.cookie = req->cookie;
    c.span = req->span;
    send_down(u, req->rid, &c);
}

/* A walk finished: fill the IOTLB on success and answer the device. */
static void walk_done(sim_t *sim, void *opaque, void *job)
{
    iommu_t *u = opaque;
    xlate_t *x = job;
    if (x->epoch != u->inv_epoch) {
        /* The tables or the PASID entry may have changed during the walk:
         * answer from their state now. */
        x->pe = iommu_get_pasid(u, x->req.rid, x->req.pasid);
        if (!x->pe || x->pe->mode != IOMMU_MODE_S1) {
            u->s.ats_ur->value++;
            send_ats_cpl(u, &x->req, PCIE_CPL_UR, 0, 0, IOMMU_PAGE_SHIFT);
            sim_pool_put(&u->xlates, x);
            return;
        }
        unsigned reads = x->walk.reads;
        iommu_pt_walk(&x->pe->s1, x->req.addr, &x->walk);
        x->walk.reads = reads;
    }
    u->s.walk_outcome[x->walk.outcome]->value++;
    sim_hist_add(u->s.walk_reads, x->walk.reads);
    if (x->walk.outcome == IOMMU_WALK_OK) {
        uint64_t page = x->req.addr & ~((1ull << x->walk.shift) - 1);
        iotlb_insert(&u->iotlb, x->pe->domain, x->req.pasid, page,
                     x->walk.pa & ~((1ull << x->walk.shift) - 1),
                     x->walk.shift, (uint32_t)x->walk.perm);
        send_ats_cpl(u, &x->req, PCIE_CPL_SC, x->walk.pa,
                     pte_to_pcie(x->walk.perm), IOMMU_PAGE_SHIFT);
    } else {
        /* Not present: Success with R=W=0 (fault-path-semantics 1d/20). */
        send_ats_cpl(u, &x->req, PCIE_CPL_SC, 0, 0, IOMMU_PAGE_SHIFT);
    }
    sim_pool_put(&u->xlates, x);
}

/* After the context and IOTLB lookup time: answer from the IOTLB or walk. */
static void ev_xlate(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    xlate_t *x = (xlate_t *)(uintptr_t)arg;
    const pcie_msg_t *r = &x->req;
    const iommu_pasid_entry_t *pe = iommu_get_pasid(u, r->rid, r->pasid);
    if (!pe || pe->mode != IOMMU_MODE_S1) {
        /* Bad or unsupported device context: UR (fault-path-semantics
         * 1d item 20). Nested and stage-2 modes come with the nested
         * walker. */
        u->s.ats_ur->value++;
        send_ats_cpl(u, r, PCIE_CPL_UR, 0, 0, IOMMU_PAGE_SHIFT);
        sim_pool_put(&u->xlates, x);
        return;
    }
    const iotlb_entry_t *e = iotlb_lookup(&u->iotlb, pe->domain, r->pasid,
                                          r->addr);
    if (e) {
        u->s.iotlb_hits->value++;
        unsigned shift = (unsigned)(e->tag & 0xff);
        uint64_t pa = (e->pfn << shift) | (r->addr & ((1ull << shift) - 1));
        send_ats_cpl(u, r, PCIE_CPL_SC, pa, pte_to_pcie(e->perm),
                     IOMMU_PAGE_SHIFT);
        sim_pool_put(&u->xlates, x);
        return;
    }
    u->s.iotlb_misses->value++;
    x->pe = pe;
    x->epoch = u->inv_epoch;
    iommu_pt_walk(&pe->s1, r->addr, &x->walk);
    sim_server_submit_time(u->walker, x,
                           (sim_time_t)x->walk.reads * u->cfg.walk_read);
}

static void rx_ats_req(iommu_t *u, const pcie_msg_t *m)
{
    u->s.ats_reqs->value++;
    xlate_t *x = sim_pool_get(&u->xlates);
    if (!x) {
        sim_logf(sim_log(u->sim), SIM_LOG_ERROR, "iommu: out of memory");
        sim_stop(u->sim);
        return;
    }
    x->req = *m;
    sim_schedule(u->sim, u->cfg.ctx_hit + u->cfg.iotlb_hit, ev_xlate, u,
                 (uint64_t)(uintptr_t)x);
}

/* ------------------------------------------------------ data path */

static void ev_mem_read(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    pcie_msg_t *m = (pcie_msg_t *)(uintptr_t)arg;
    pcie_msg_t c = *m;
    c.type = PCIE_MSG_MEM_CPL;
    c.flags = 0;
    send_down(u, m->rid, &c);
    sim_pool_put(&u->msgs, m);
}

static void rx_mem(iommu_t *u, const pcie_msg_t *m)
{
    u->s.mem_bytes->value += m->len;
    if (m->type == PCIE_MSG_MEM_WR) {
        u->s.mem_writes->value++;
        return; /* posted: nothing goes back */
    }
    u->s.mem_reads->value++;
    pcie_msg_t *copy = sim_pool_get(&u->msgs);
    if (!copy) {
        sim_logf(sim_log(u->sim), SIM_LOG_ERROR, "iommu: out of memory");
        sim_stop(u->sim);
        return;
    }
    *copy = *m;
    sim_schedule(u->sim, u->cfg.mem_access, ev_mem_read, u,
                 (uint64_t)(uintptr_t)copy);
}

/* ------------------------------------------------------------- PRQ */

static uint32_t prq_used(const iommu_t *u)
{
    return (u->prq_tail + u->cfg.prq_depth - u->prq_head) % u->cfg.prq_depth;
}

/* Raise the page request event if PPR and PRO were both clear, then set
 * `bits` (VT-d 7.5 as implemented by QEMU vtd_generate_page_request_event).
 */
static void prq_event(iommu_t *u, unsigned bits)
{
    bool fire = !(u->prs & (IOMMU_PRS_PPR | IOMMU_PRS_PRO));
    u->prs |= bits;
    if (fire && u->irq) {
        u->s.prq_irqs->value++;
        u->irq(u->irq_opaque);
    }
}

/* Answer a page request in hardware (no software involved). */
static void prq_auto_respond(iommu_t *u, const pcie_msg_t *m, uint8_t code)
{
    pcie_msg_t r = {0};
    r.type = PCIE_MSG_PRG_RESP;
    r.code = code;
    r.tag = m->tag;
    r.pasid = m->pasid;
    r.flags = m->flags & PCIE_F_PASID;
    r.span = m->span;
    send_down(u, m->rid, &r);
}

/* The descriptor write lands: queue it, or overflow. */
static void ev_prq_write(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    pcie_msg_t *m = (pcie_msg_t *)(uintptr_t)arg;
    bool last = m->flags & PCIE_F_LAST;
    bool full = (u->prq_tail + 1) % u->cfg.prq_depth == u->prq_head;
    if ((u->prs & IOMMU_PRS_PRO) || full) {
        if (full && !(u->prs & IOMMU_PRS_PRO)) {
            u->s.prq_overflows->value++;
            prq_event(u, IOMMU_PRS_PRO);
        }
        if (last) {
            u->prq_tot.auto_responded++;
            u->s.prq_auto->value++;
            prq_auto_respond(u, m, PCIE_PRG_SUCCESS);
        } else {
            u->prq_tot.dropped++;
            u->s.prq_dropped->value++;
        }
    } else {
        iommu_prq_desc_t *d = &u->prq[u->prq_tail];
        d->addr = m->addr;
        d->pasid = m->pasid;
        d->rid = m->rid;
        d->prgi = m->tag;
        d->flags = m->flags;
        d->span = m->span;
        u->prq_tail = (u->prq_tail + 1) % u->cfg.prq_depth;
        u->prq_tot.written++;
        u->s.prq_written->value++;
        sim_span_mark(m->span, PCIE_STAGE_PAGE_REQ, sim_now(sim));
        sim_gauge_set(u->s.prq_occupancy, sim_now(sim), prq_used(u));
        prq_event(u, IOMMU_PRS_PPR);
    }
    sim_pool_put(&u->msgs, m);
}

static void rx_page_req(iommu_t *u, const pcie_msg_t *m)
{
    u->prq_tot.received++;
    u->s.prq_received->value++;
    const iommu_pasid_entry_t *pe = iommu_get_pasid(u, m->rid, m->pasid);
    bool stop = (m->flags & PCIE_F_LAST) && !(m->flags & (PCIE_F_R | PCIE_F_W));
    if (!stop && (!pe || !pe->pri)) {
        /* PRE clear or no context: Invalid Request for a last request,
         * nothing for the others (fault-path-semantics 2a items 4, 7). */
        u->s.prq_pri_disabled->value++;
        if (m->flags & PCIE_F_LAST) {
            u->prq_tot.auto_responded++;
            u->s.prq_auto->value++;
            prq_auto_respond(u, m, PCIE_PRG_INVALID);
        } else {
            u->prq_tot.dropped++;
            u->s.prq_dropped->value++;
        }
        return;
    }
    if (stop) {
        u->prq_tot.stop_markers++;
        u->s.prq_stop->value++;
    }
    pcie_msg_t *copy = sim_pool_get(&u->msgs);
    if (!copy) {
        sim_logf(sim_log(u->sim), SIM_LOG_ERROR, "iommu: out of memory");
        sim_stop(u->sim);
        return;
    }
    *copy = *m;
    sim_schedule(u->sim, u->cfg.prq_write, ev_prq_write, u,
                 (uint64_t)(uintptr_t)copy);
}

uint32_t iommu_prq_head(const iommu_t *u)
{
    return u->prq_head;
}

uint32_t iommu_prq_tail(const iommu_t *u)
{
    return u->prq_tail;
}

uint32_t iommu_prq_depth(const iommu_t *u)
{
    return u->cfg.prq_depth;
}

const iommu_prq_desc_t *iommu_prq_entry(const iommu_t *u, uint32_t idx)
{
    return &u->prq[idx % u->cfg.prq_depth];
}

void iommu_prq_set_head(iommu_t *u, uint32_t head)
{
    u->prq_head = head % u->cfg.prq_depth;
    sim_gauge_set(u->s.prq_occupancy, sim_now(u->sim), prq_used(u));
}

unsigned iommu_prq_status(const iommu_t *u)
{
    return u->prs;
}

void iommu_prq_clear_status(iommu_t *u, unsigned bits)
{
    u->prs &= ~bits;
}

void iommu_page_response(iommu_t *u, const iommu_page_resp_t *resp)
{
    pcie_msg_t r = {0};
    r.type = PCIE_MSG_PRG_RESP;
    r.code = resp->code;
    r.tag = resp->prgi;
    r.pasid = resp->pasid;
    r.flags = resp->pasid_present ? PCIE_F_PASID : 0;
    r.span = resp->span;
    u->prq_tot.host_responses++;
    u->s.prg_responses->value++;
    send_down(u, resp->rid, &r);
}

void iommu_prq_totals(const iommu_t *u, iommu_prq_totals_t *out)
{
    *out = u->prq_tot;
}

/* ---------------------------------------------------- invalidation */

void iommu_iotlb_invalidate(iommu_t *u, uint16_t domain, uint32_t pasid,
                            uint64_t addr, uint64_t len)
{
    u->inv_epoch++;
    u->s.iotlb_inval->value +=
        iotlb_invalidate(&u->iotlb, domain, pasid, addr, len);
}

int iommu_devtlb_invalidate(iommu_t *u, uint16_t rid, uint32_t pasid,
                            uint64_t addr, uint64_t len, iommu_done_fn done,
                            void *opaque)
{
    devinv_t *inv = sim_pool_get(&u->invs);
    if (!inv)
        return -ENOMEM;
    inv->done = done;
    inv->opaque = opaque;
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_INV_REQ;
    m.flags = PCIE_F_PASID;
    m.pasid = pasid;
    m.addr = addr;
    m.len = len > UINT32_MAX ? 0 : (uint32_t)len;
    m.cookie = inv;
    u->s.devtlb_inval->value++;
    send_down(u, rid, &m);
    return 0;
}

static void rx_inv_cpl(iommu_t *u, const pcie_msg_t *m)
{
    devinv_t *inv = m->cookie;
    iommu_done_fn done = inv->done;
    void *opaque = inv->opaque;
    sim_pool_put(&u->invs, inv);
    if (done)
        done(opaque);
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

static int iommu_stats(iommu_t *u, sim_stats_t *st)
{
    static const char *const outcome_names[IOMMU_WALK_OUTCOMES] = {
        "ok", "s1_not_present", "s1_perm", "s2_not_present", "s2_perm",
        "bad_context"};
    char n[96], desc[128];
#define C(field, name, d, unit)                                                \
    if (!(u->s.field = sim_stats_counter(st, name, d, unit)))                  \
        return -ENOMEM;
    C(ats_reqs, "iommu.ats.requests", "translation requests received",
      "requests");
    C(ats_ur, "iommu.ats.unsupported",
      "translation requests answered UR (no valid PASID entry)", "requests");
    C(iotlb_hits, "iommu.iotlb.hits", "IOTLB lookups that hit", "lookups");
    C(iotlb_misses, "iommu.iotlb.misses", "IOTLB lookups that missed",
      "lookups");
    C(mem_reads, "iommu.mem.reads", "translated DMA read requests served",
      "requests");
    C(mem_writes, "iommu.mem.writes", "translated DMA writes absorbed",
      "requests");
    C(mem_bytes, "iommu.mem.bytes", "DMA payload bytes", "bytes");
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
    C(prq_overflows, "iommu.prq.overflows", "times the PRQ overflow bit was set",
      "events");
    C(prq_irqs, "iommu.prq.interrupts", "page request interrupts raised",
      "interrupts");
    C(prq_pri_disabled, "iommu.prq.pri_disabled",
      "page requests for a PASID entry without PRI", "requests");
    C(prg_responses, "iommu.prq.host_responses",
      "page group responses submitted by the host", "responses");
    C(iotlb_inval, "iommu.iotlb.invalidated", "IOTLB entries invalidated",
      "entries");
    C(devtlb_inval, "iommu.devtlb.invalidations",
      "device-TLB invalidation requests sent", "requests");
#undef C
    for (unsigned i = 0; i < IOMMU_WALK_OUTCOMES; i++) {
        snprintf(n, sizeof(n), "iommu.walk.%s", outcome_names[i]);
        snprintf(desc, sizeof(desc), "walks with outcome %s", outcome_names[i]);
        if (!(u->s.walk_outcome[i] = sim_stats_counter(st, n, desc, "walks")))
            return -ENOMEM;
    }
    u->s.walk_reads = sim_stats_hist(st, "iommu.walk.reads",
                                     "memory reads per walk", "reads");
    u->s.prq_occupancy = sim_stats_gauge(st, "iommu.prq.occupancy",
                                         "PRQ entries in use", "entries");
    return u->s.walk_reads && u->s.prq_occupancy ? 0 : -ENOMEM;
}

iommu_t *iommu_create(sim_t *sim, sim_stats_t *st, const iommu_cfg_t *cfg,
                      uint64_t seed)
{
    iommu_t *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->sim = sim;
    u->cfg = *cfg;
    if (u->cfg.prq_depth < 2)
        u->cfg.prq_depth = 2;
    sim_pool_init(&u->xlates, sizeof(xlate_t), 256);
    sim_pool_init(&u->invs, sizeof(devinv_t), 64);
    sim_pool_init(&u->msgs, sizeof(pcie_msg_t), 256);
    u->mem = iommu_mem_create();
    u->prq = calloc(u->cfg.prq_depth, sizeof(*u->prq));
    if (!u->mem || !u->prq || iotlb_init(&u->iotlb, cfg->iotlb_sets,
                                          cfg->iotlb_ways))
        goto fail;
    sim_server_cfg_t wc = {.name = "iommu.walker",
                           .servers = cfg->walkers ? cfg->walkers : 1,
                           .queue_limit = 0,
                           .service = sim_dist_fixed(cfg->walk_read)};
    sim_rng_seed(&u->walker_rng, seed, "iommu.walker");
    u->walker = sim_server_create(sim, st, &wc, &u->walker_rng, walk_done, u);
    if (!u->walker || iommu_stats(u, st))
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
    for (size_t i = 0; i < u->npasid_slots; i++)
        free(u->pasids[i].entry);
    free(u->pasids);
    free(u->prq);
    iotlb_fini(&u->iotlb);
    iommu_mem_destroy(u->mem);
    sim_pool_fini(&u->xlates);
    sim_pool_fini(&u->invs);
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
    u->irq = fn;
    u->irq_opaque = opaque;
}

iommu_mem_t *iommu_memory(iommu_t *u)
{
    return u->mem;
}

const iommu_cfg_t *iommu_config(const iommu_t *u)
{
    return &u->cfg;
}
