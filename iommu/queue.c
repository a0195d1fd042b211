/*
 * queue.c - the IOMMU's queues in simulated memory: the page request queue
 * (VT-d PRQ / SMMUv3 PRIQ), the fault-record queue (VT-d fault recording /
 * SMMUv3 event queue) and the invalidation queue (VT-d QI / SMMUv3 command
 * queue), with their encodings, overflow rules and interrupts.
 *
 * PRQ, VT-d (fault-path-semantics 2a):
 *  - 32-byte descriptors (item 1); full when (tail + 1) mod depth == head,
 *    one slot stays unused (item 3);
 *  - a page request event only if PPR and PRO were both clear (item 5);
 *  - with PRO set, requests are not queued; a full queue sets PRO (item 6);
 *  - dropped requests that need a response (L=1) get an automatic Success
 *    page group response, which makes the device retry (item 7, VT-d 7.4.1
 *    as paraphrased there: second-hand);
 *  - accepting a request invalidates the IOTLB entries of its page
 *    (item 4, QEMU vtd_pri_perform_implicit_invalidation).
 * PRQ, SMMUv3 (section 3):
 *  - 16-byte entries (item 1), a wrap bit: every slot usable;
 *  - on overflow PRIQ_PROD.OVFLG toggles and, until software copies it to
 *    PRIQ_CONS.OVACKFLG, further requests are not processed (item 3);
 *  - what the SMMU does with a Last request it does not process is
 *    unverified (item 4, open item 8.2): this model answers it Success,
 *    like VT-d, so that the device retries; non-last ones are dropped;
 *  - an interrupt per entry written (no pending bit) [I].
 * Both: optional interrupt moderation (iommu.irq_coalesce): after an
 * interrupt, further ones within the window are merged into one at its end.
 *
 * Invalidation queue: descriptors are encoded with the architecture's
 * type codes and main fields (VT-d: Linux drivers/iommu/intel/iommu.h
 * QI_*; SMMUv3: arm-smmu-v3.h CMDQ_OP_*), consumed in order, each after
 * its configured cost. A device-TLB invalidation sends an ATS Invalidate
 * Request and lets the queue go on; a wait descriptor (VT-d inv_wait with
 * fence, SMMUv3 CMD_SYNC) completes only once every earlier descriptor is
 * done, device-TLB completions included.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu_int.h"

const char *const iommu_qi_type_names[IOMMU_QI_TYPES] = {
    "iotlb", "pasid_cache", "context_cache", "devtlb",
    "page_resp", "resume", "wait"};

/* VT-d descriptor types (Linux QI_*_TYPE). */
enum {
    VTD_CC = 0x1, VTD_IOTLB = 0x2, VTD_DEVTLB = 0x3, VTD_WAIT = 0x5,
    VTD_PIOTLB = 0x6, VTD_PC = 0x7, VTD_PDEVTLB = 0x8, VTD_PGRP_RESP = 0x9
};
/* SMMUv3 command opcodes (Linux CMDQ_OP_*). */
enum {
    SMMU_CFGI_STE = 0x03, SMMU_CFGI_ALL = 0x04, SMMU_CFGI_CD = 0x05,
    SMMU_CFGI_CD_ALL = 0x06, SMMU_TLBI_NH_ASID = 0x11,
    SMMU_TLBI_NH_VA = 0x12, SMMU_TLBI_S12_VMALL = 0x28,
    SMMU_TLBI_S2_IPA = 0x2a, SMMU_TLBI_NSNH_ALL = 0x30, SMMU_ATC_INV = 0x40,
    SMMU_PRI_RESP = 0x41, SMMU_RESUME = 0x44, SMMU_SYNC = 0x46
};
/* SMMUv3 event IDs (Linux EVT_ID_*). */
enum {
    EVT_BAD_STE = 0x04, EVT_BAD_CD = 0x0a, EVT_TRANSLATION = 0x10,
    EVT_PERMISSION = 0x13
};

/* Whether the unit follows SMMUv3 (else VT-d). */
static bool is_smmu(const iommu_t *u)
{
    return u->cfg.arch == IOMMU_ARCH_SMMUV3;
}

/* Read a word of simulated memory. */
static uint64_t rd(const iommu_t *u, uint64_t a)
{
    return iommu_mem_read64(u->mem, a);
}

/* Write a word of simulated memory. */
static void wr(iommu_t *u, uint64_t a, uint64_t v)
{
    iommu_mem_write64(u->mem, a, v);
}

/* ------------------------------------------------------------- rings */

/* Allocate a ring of depth entries of esize bytes in backed frames. */
static int ring_init(iommu_t *u, iring_t *r, uint64_t depth, unsigned esize,
                     bool wrap)
{
    r->depth = (uint32_t)depth;
    r->esize = esize;
    r->head = r->tail = 0;
    r->wrap = wrap;
    uint64_t bytes = depth * esize;
    uint64_t frames = (bytes + IOMMU_PAGE_SIZE - 1) >> IOMMU_PAGE_SHIFT;
    r->base = iommu_mem_alloc_range(u->mem, frames, 1);
    if (!r->base)
        return -ENOMEM;
    for (uint64_t i = 0; i < frames; i++)
        if (iommu_mem_back(u->mem, r->base + (i << IOMMU_PAGE_SHIFT)))
            return -ENOMEM;
    return 0;
}

int queues_init(iommu_t *u)
{
    bool wrap = is_smmu(u);
    u->prq_esize = wrap ? 16 : 32;
    u->fault_esize = wrap ? 32 : 16;
    u->qi_esize = wrap ? 16 : 32;
    if (ring_init(u, &u->prq, u->cfg.prq_depth, u->prq_esize, wrap) ||
        ring_init(u, &u->fq, u->cfg.fault_depth, u->fault_esize, wrap) ||
        ring_init(u, &u->qi, u->cfg.qi_depth, u->qi_esize, wrap))
        return -ENOMEM;
    u->prq_span = calloc(u->prq.depth, sizeof(*u->prq_span));
    u->fq_span = calloc(u->fq.depth, sizeof(*u->fq_span));
    u->qi_side = calloc(u->qi.depth, sizeof(*u->qi_side));
    sim_pool_init(&u->qi_bl_pool, sizeof(qi_backlog_t), 64);
    return u->prq_span && u->fq_span && u->qi_side ? 0 : -ENOMEM;
}

void queues_fini(iommu_t *u)
{
    free(u->prq_span);
    free(u->fq_span);
    free(u->qi_side);
    sim_pool_fini(&u->qi_bl_pool);
}

/* ------------------------------------------------------- interrupts */

static void ev_irq_timer(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    irq_line_t *l = arg ? &u->fault_irq : &u->prq_irq;
    l->timer = false;
    l->last = sim_now(sim);
    l->count->value++;
    if (l->fn)
        l->fn(l->opaque);
}

void irq_raise(iommu_t *u, irq_line_t *l)
{
    sim_time_t now = sim_now(u->sim), w = u->cfg.irq_coalesce;
    if (w && l->timer) {
        l->coalesced->value++;
        return;
    }
    if (w && l->fired && now < l->last + w) {
        l->timer = true;
        sim_schedule_at(u->sim, l->last + w, ev_irq_timer, u,
                        l == &u->fault_irq);
        return;
    }
    l->fired = true;
    l->last = now;
    l->count->value++;
    if (l->fn)
        l->fn(l->opaque);
}

/* --------------------------------------------------------------- PRQ */

/* Encode a page request at a (VT-d 7.4.1.1 / SMMUv3 PRIQ_0_*, PRIQ_1_*). */
static void prq_encode(iommu_t *u, uint64_t a, const pcie_msg_t *m)
{
    uint8_t f = m->flags;
    uint64_t page = m->addr & ~(IOMMU_PAGE_SIZE - 1);
    if (is_smmu(u)) {
        uint64_t dw0 = (uint64_t)m->rid | ((uint64_t)m->pasid << 32) |
                       ((f & PCIE_F_PRIV) ? 1ull << 58 : 0) |
                       ((f & PCIE_F_X) ? 1ull << 59 : 0) |
                       ((f & PCIE_F_R) ? 1ull << 60 : 0) |
                       ((f & PCIE_F_W) ? 1ull << 61 : 0) |
                       ((f & PCIE_F_LAST) ? 1ull << 62 : 0) |
                       ((f & PCIE_F_PASID) ? 1ull << 63 : 0);
        wr(u, a, dw0);
        wr(u, a + 8, (m->tag & 0x1ffu) | page);
        return;
    }
    uint64_t qw0 = 0x1 | ((f & PCIE_F_PASID) ? 1ull << 8 : 0) |
                   ((uint64_t)m->rid << 16) | ((uint64_t)m->pasid << 32) |
                   ((f & PCIE_F_X) ? 1ull << 52 : 0) |
                   ((f & PCIE_F_PRIV) ? 1ull << 53 : 0);
    uint64_t qw1 = ((f & PCIE_F_R) ? 1 : 0) | ((f & PCIE_F_W) ? 2 : 0) |
                   ((f & PCIE_F_LAST) ? 4 : 0) |
                   ((uint64_t)(m->tag & 0x1ffu) << 3) | page;
    wr(u, a, qw0);
    wr(u, a + 8, qw1);
    wr(u, a + 16, 0); /* private data: none */
    wr(u, a + 24, 0);
}

void iommu_prq_read(const iommu_t *u, uint32_t pos, iommu_prq_desc_t *d)
{
    uint64_t a = iring_addr(&u->prq, pos);
    uint64_t w0 = rd(u, a), w1 = rd(u, a + 8);
    d->span = u->prq_span[pos % u->prq.depth];
    d->addr = w1 & ~(IOMMU_PAGE_SIZE - 1);
    if (is_smmu(u)) {
        d->rid = (uint16_t)w0;
        d->pasid = (uint32_t)(w0 >> 32) & (PCIE_PASID_MAX - 1);
        d->prgi = (uint16_t)(w1 & 0x1ff);
        d->flags = (uint8_t)(((w0 >> 58) & 1 ? PCIE_F_PRIV : 0) |
                             ((w0 >> 59) & 1 ? PCIE_F_X : 0) |
                             ((w0 >> 60) & 1 ? PCIE_F_R : 0) |
                             ((w0 >> 61) & 1 ? PCIE_F_W : 0) |
                             ((w0 >> 62) & 1 ? PCIE_F_LAST : 0) |
                             ((w0 >> 63) & 1 ? PCIE_F_PASID : 0));
        return;
    }
    d->rid = (uint16_t)(w0 >> 16);
    d->pasid = (uint32_t)(w0 >> 32) & (PCIE_PASID_MAX - 1);
    d->prgi = (uint16_t)((w1 >> 3) & 0x1ff);
    d->flags = (uint8_t)(((w0 >> 8) & 1 ? PCIE_F_PASID : 0) |
                         ((w0 >> 52) & 1 ? PCIE_F_X : 0) |
                         ((w0 >> 53) & 1 ? PCIE_F_PRIV : 0) |
                         ((w1 & 1) ? PCIE_F_R : 0) | ((w1 & 2) ? PCIE_F_W : 0) |
                         ((w1 & 4) ? PCIE_F_LAST : 0));
}

/* VT-d: raise the page request event if PPR and PRO were both clear, then
 * set `bits` (VT-d 7.5 as implemented by QEMU
 * vtd_generate_page_request_event). */
static void prq_event(iommu_t *u, unsigned bits)
{
    bool fire = !(u->prs & (IOMMU_PRS_PPR | IOMMU_PRS_PRO));
    u->prs |= bits;
    if (fire)
        irq_raise(u, &u->prq_irq);
}

/* Whether the PRQ is in its overflow state (VT-d PRO, SMMUv3 OVFLG !=
 * OVACKFLG). */
static bool prq_overflowed(const iommu_t *u)
{
    return is_smmu(u) ? u->ovflg != u->ovack : (u->prs & IOMMU_PRS_PRO);
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
    u->prq_tot.auto_responded++;
    u->s.prq_auto->value++;
    iommu_send(u, m->rid, &r);
}

void prq_accept(iommu_t *u, const pcie_msg_t *m)
{
    bool full = iring_full(&u->prq);
    if (prq_overflowed(u) || full) {
        if (full && !prq_overflowed(u)) {
            u->s.prq_overflows->value++;
            if (is_smmu(u))
                u->ovflg = !u->ovflg;
            else
                prq_event(u, IOMMU_PRS_PRO);
        }
        if (m->flags & PCIE_F_LAST) {
            prq_auto_respond(u, m, PCIE_PRG_SUCCESS);
        } else {
            u->prq_tot.dropped++;
            u->s.prq_dropped->value++;
        }
        return;
    }
    prq_encode(u, iring_addr(&u->prq, u->prq.tail), m);
    u->prq_span[u->prq.tail % u->prq.depth] = m->span;
    u->prq.tail = iring_next(&u->prq, u->prq.tail);
    u->prq_tot.written++;
    u->s.prq_written->value++;
    sim_span_mark(m->span, PCIE_STAGE_PAGE_REQ, sim_now(u->sim));
    sim_gauge_set(u->s.prq_occupancy, sim_now(u->sim),
                  iring_count(&u->prq));
    if (is_smmu(u))
        irq_raise(u, &u->prq_irq);
    else
        prq_event(u, IOMMU_PRS_PPR);
}

void prq_auto_invalid(iommu_t *u, const pcie_msg_t *m)
{
    prq_auto_respond(u, m, PCIE_PRG_INVALID);
}

uint32_t iommu_prq_head(const iommu_t *u) { return u->prq.head; }
uint32_t iommu_prq_tail(const iommu_t *u) { return u->prq.tail; }
uint32_t iommu_prq_depth(const iommu_t *u) { return u->prq.depth; }
uint32_t iommu_prq_count(const iommu_t *u) { return iring_count(&u->prq); }
uint64_t iommu_prq_base(const iommu_t *u) { return u->prq.base; }
unsigned iommu_prq_desc_size(const iommu_t *u) { return u->prq_esize; }

uint32_t iommu_prq_next(const iommu_t *u, uint32_t pos)
{
    return iring_next(&u->prq, pos);
}

void iommu_prq_set_head(iommu_t *u, uint32_t head)
{
    u->prq.head = head % iring_span(&u->prq);
    sim_gauge_set(u->s.prq_occupancy, sim_now(u->sim), iring_count(&u->prq));
}

unsigned iommu_prq_status(const iommu_t *u)
{
    if (is_smmu(u))
        return prq_overflowed(u) ? IOMMU_PRS_PRO : 0;
    return u->prs;
}

void iommu_prq_clear_status(iommu_t *u, unsigned bits)
{
    if (is_smmu(u)) {
        if (bits & IOMMU_PRS_PRO)
            u->ovack = u->ovflg;
        return;
    }
    u->prs &= ~bits;
}

void iommu_prq_totals(const iommu_t *u, iommu_prq_totals_t *out)
{
    *out = u->prq_tot;
}

/* ---------------------------------------------------- fault records */

/* SMMUv3 event ID of an outcome. */
static unsigned evt_id(iommu_walk_outcome_t r)
{
    switch (r) {
    case IOMMU_WALK_S1_PERM:
    case IOMMU_WALK_S2_PERM: return EVT_PERMISSION;
    case IOMMU_WALK_BAD_CONTEXT: return EVT_BAD_STE;
    case IOMMU_WALK_BAD_PASID: return EVT_BAD_CD;
    default: return EVT_TRANSLATION;
    }
}

/*
 * Encode a fault record at a.
 * SMMUv3 event (32 bytes, Linux EVTQ_*): dw0 = ID (7:0) | SSV (11) |
 * SSID (31:12) | SID (63:32); dw1 = STAG (15:0) | STALL (31) | PnU (33) |
 * InD (34) | RnW (35) | S2 (39) | CLASS (41:40, 1: table walk); dw2 =
 * input address; dw3 = IPA (51:12).
 * VT-d fault record (16 bytes, the fault recording register layout): qw0 =
 * page address (63:12); qw1 = SID (15:0) | EXE (29) | PRIV (30) | PP (31) |
 * FR (39:32: the simulator's outcome code, not VT-d's reason table) |
 * PASID (59:40) | T (62: 1 read) | F (63).
 */
static void fault_encode(iommu_t *u, uint64_t a, const iommu_fault_rec_t *f)
{
    bool s2 = f->reason == IOMMU_WALK_S2_NOT_PRESENT ||
              f->reason == IOMMU_WALK_S2_PERM;
    bool read = !(f->flags & PCIE_F_W);
    if (is_smmu(u)) {
        wr(u, a, evt_id(f->reason) | (f->pasid_valid ? 1ull << 11 : 0) |
                     ((uint64_t)f->pasid << 12) | ((uint64_t)f->rid << 32));
        wr(u, a + 8, f->stag | (f->stall ? 1ull << 31 : 0) |
                         ((f->flags & PCIE_F_PRIV) ? 1ull << 33 : 0) |
                         ((f->flags & PCIE_F_X) ? 1ull << 34 : 0) |
                         (read ? 1ull << 35 : 0) | (s2 ? 1ull << 39 : 0));
        wr(u, a + 16, f->addr);
        wr(u, a + 24, f->gpa & IOMMU_PTE_ADDR);
        return;
    }
    wr(u, a, f->addr & ~(IOMMU_PAGE_SIZE - 1));
    wr(u, a + 8, (uint64_t)f->rid | ((f->flags & PCIE_F_X) ? 1ull << 29 : 0) |
                     ((f->flags & PCIE_F_PRIV) ? 1ull << 30 : 0) |
                     (f->pasid_valid ? 1ull << 31 : 0) |
                     ((uint64_t)f->reason << 32) | ((uint64_t)f->pasid << 40) |
                     (read ? 1ull << 62 : 0) | (1ull << 63));
}

void iommu_fault_read(const iommu_t *u, uint32_t pos, iommu_fault_rec_t *f)
{
    uint64_t a = iring_addr(&u->fq, pos);
    memset(f, 0, sizeof(*f));
    f->span = u->fq_span[pos % u->fq.depth];
    if (is_smmu(u)) {
        uint64_t w0 = rd(u, a), w1 = rd(u, a + 8);
        bool s2 = (w1 >> 39) & 1;
        switch (w0 & 0xff) {
        case EVT_PERMISSION:
            f->reason = s2 ? IOMMU_WALK_S2_PERM : IOMMU_WALK_S1_PERM;
            break;
        case EVT_BAD_STE: f->reason = IOMMU_WALK_BAD_CONTEXT; break;
        case EVT_BAD_CD: f->reason = IOMMU_WALK_BAD_PASID; break;
        default:
            f->reason = s2 ? IOMMU_WALK_S2_NOT_PRESENT
                           : IOMMU_WALK_S1_NOT_PRESENT;
            break;
        }
        f->pasid_valid = (w0 >> 11) & 1;
        f->pasid = (uint32_t)(w0 >> 12) & (PCIE_PASID_MAX - 1);
        f->rid = (uint16_t)(w0 >> 32);
        f->stag = (uint16_t)w1;
        f->stall = (w1 >> 31) & 1;
        f->flags = (uint8_t)(((w1 >> 33) & 1 ? PCIE_F_PRIV : 0) |
                             ((w1 >> 34) & 1 ? PCIE_F_X : 0) |
                             ((w1 >> 35) & 1 ? PCIE_F_R : PCIE_F_W));
        f->addr = rd(u, a + 16);
        f->gpa = rd(u, a + 24) & IOMMU_PTE_ADDR;
        return;
    }
    uint64_t w0 = rd(u, a), w1 = rd(u, a + 8);
    f->addr = w0 & ~(IOMMU_PAGE_SIZE - 1);
    f->rid = (uint16_t)w1;
    f->pasid_valid = (w1 >> 31) & 1;
    f->reason = (iommu_walk_outcome_t)((w1 >> 32) & 0xff);
    f->pasid = (uint32_t)(w1 >> 40) & (PCIE_PASID_MAX - 1);
    f->flags = (uint8_t)(((w1 >> 29) & 1 ? PCIE_F_X : 0) |
                         ((w1 >> 30) & 1 ? PCIE_F_PRIV : 0) |
                         ((w1 >> 62) & 1 ? PCIE_F_R : PCIE_F_W));
}

bool fault_record(iommu_t *u, const iommu_fault_rec_t *rec)
{
    bool full = iring_full(&u->fq);
    if (u->fq_overflow || full) {
        if (!u->fq_overflow) {
            u->fq_overflow = true;
            u->s.fault_overflows->value++;
        }
        u->s.fault_lost->value++;
        return false;
    }
    fault_encode(u, iring_addr(&u->fq, u->fq.tail), rec);
    u->fq_span[u->fq.tail % u->fq.depth] = rec->span;
    u->fq.tail = iring_next(&u->fq, u->fq.tail);
    u->s.fault_records->value++;
    irq_raise(u, &u->fault_irq);
    return true;
}

uint32_t iommu_fault_head(const iommu_t *u) { return u->fq.head; }
uint32_t iommu_fault_tail(const iommu_t *u) { return u->fq.tail; }

uint32_t iommu_fault_next(const iommu_t *u, uint32_t pos)
{
    return iring_next(&u->fq, pos);
}

void iommu_fault_set_head(iommu_t *u, uint32_t head)
{
    u->fq.head = head % iring_span(&u->fq);
}

bool iommu_fault_overflowed(const iommu_t *u)
{
    return u->fq_overflow;
}

void iommu_fault_ack_overflow(iommu_t *u)
{
    u->fq_overflow = false;
}

/* ------------------------------------------------ invalidation queue */

/* Smallest aligned power-of-two block of pages covering [addr, addr+len):
 * its base in *base, log2 of its pages returned (VT-d AM, SMMUv3 SCALE). */
static unsigned range_order(uint64_t addr, uint64_t len, uint64_t *base)
{
    uint64_t last = addr + (len ? len : 1) - 1;
    if (last < addr)
        last = UINT64_MAX;
    unsigned am = 0;
    while (am < 52 && (addr >> (IOMMU_PAGE_SHIFT + am)) !=
                          (last >> (IOMMU_PAGE_SHIFT + am)))
        am++;
    *base = addr & ~((1ull << (IOMMU_PAGE_SHIFT + am)) - 1);
    return am;
}

/* PCIe ATS invalidation address with the S bit (PCIe 10.3.1 via
 * fault-path-semantics 1d item 21): 2^k pages (k >= 1) are written as
 * ones in bits 12 .. 12+k-2 and a zero at bit 12+k-1; "all" is S=1 with
 * bits 62:12 set. Returns the address; *s the S bit. */
static uint64_t ats_encode(uint64_t addr, uint64_t len, bool *s)
{
    uint64_t base;
    unsigned k = len ? range_order(addr, len, &base) : 52;
    if (k >= 51) {
        *s = true;
        return 0x7ffffffffffff000ull;
    }
    *s = k > 0;
    return k ? base | (((1ull << (k - 1)) - 1) << IOMMU_PAGE_SHIFT) : base;
}

/* The range of an ATS invalidation address with the S bit (see ats_encode). */
static void ats_decode(uint64_t a, bool s, uint64_t *addr, uint64_t *len)
{
    a &= ~(IOMMU_PAGE_SIZE - 1);
    if (!s) {
        *addr = a;
        *len = IOMMU_PAGE_SIZE;
        return;
    }
    if ((a & 0x7ffffffffffff000ull) == 0x7ffffffffffff000ull) {
        *addr = 0;
        *len = 0;
        return;
    }
    unsigned k = 1;
    while ((a >> (IOMMU_PAGE_SHIFT + k - 1)) & 1)
        k++;
    *len = 1ull << (IOMMU_PAGE_SHIFT + k);
    *addr = a & ~(*len - 1);
}

/* VT-d page group response code of a PCIe PRG response code. */
static uint8_t vtd_resp_code(uint8_t code)
{
    return code == PCIE_PRG_SUCCESS ? 0x0 : code == PCIE_PRG_INVALID ? 0x1
                                                                     : code;
}

/* SMMUv3 PRI_RESP: 0 Deny (Invalid Request), 1 Fail, 2 Success
 * (fault-path-semantics 3 item 2, mainline enum pri_resp). */
static uint8_t smmu_resp_code(uint8_t code)
{
    return code == PCIE_PRG_SUCCESS ? 2 : code == PCIE_PRG_INVALID ? 0 : 1;
}

/* PCIe PRG response code of an SMMUv3 PRI_RESP value. */
static uint8_t smmu_resp_decode(unsigned v)
{
    return v == 2 ? PCIE_PRG_SUCCESS : v == 0 ? PCIE_PRG_INVALID
                                               : PCIE_PRG_FAILURE;
}

/* Encode d into the two or four words w. Returns 0 or -EINVAL. */
static int qi_encode_vtd(const iommu_qi_desc_t *d, uint32_t slot, uint64_t *w)
{
    const iommu_inv_t *v = &d->inv;
    uint64_t base;
    unsigned am;
    switch (d->type) {
    case IOMMU_QI_IOTLB:
        switch (v->gran) {
        case IOMMU_INV_GLOBAL:
            w[0] = VTD_IOTLB | (1u << 4);
            return 0;
        case IOMMU_INV_DOMAIN:
            w[0] = VTD_IOTLB | (2u << 4) | ((uint64_t)v->domain << 16);
            return 0;
        case IOMMU_INV_S2_RANGE:
            am = range_order(v->addr, v->len, &base);
            w[0] = VTD_IOTLB | (3u << 4) | ((uint64_t)v->domain << 16);
            w[1] = base | (v->leaf_only ? 1u << 6 : 0) | am;
            return 0;
        case IOMMU_INV_PASID:
            w[0] = VTD_PIOTLB | (2u << 4) | ((uint64_t)v->domain << 16) |
                   ((uint64_t)v->pasid << 32);
            return 0;
        case IOMMU_INV_RANGE:
            if (v->any_pasid) { /* no such granularity: the domain */
                w[0] = VTD_IOTLB | (2u << 4) | ((uint64_t)v->domain << 16);
                return 0;
            }
            am = range_order(v->addr, v->len, &base);
            w[0] = VTD_PIOTLB | (3u << 4) | ((uint64_t)v->domain << 16) |
                   ((uint64_t)v->pasid << 32);
            w[1] = base | (v->leaf_only ? 1u << 6 : 0) | am;
            return 0;
        default:
            return -EINVAL;
        }
    case IOMMU_QI_PASID_CACHE:
        w[0] = VTD_PC | ((uint64_t)v->domain << 16) | ((uint64_t)v->pasid << 32);
        w[0] |= (uint64_t)(v->gran == IOMMU_INV_DOMAIN  ? 0
                           : v->gran == IOMMU_INV_PASID ? 1
                                                        : 3) << 4;
        return 0;
    case IOMMU_QI_CONTEXT_CACHE:
        w[0] = VTD_CC | ((uint64_t)v->rid << 32) |
               ((uint64_t)(v->gran == IOMMU_INV_DEVICE ? 3 : 1) << 4);
        return 0;
    case IOMMU_QI_DEVTLB: {
        bool s;
        w[0] = VTD_PDEVTLB | ((uint64_t)v->rid << 16) |
               ((uint64_t)v->pasid << 32);
        w[1] = ats_encode(v->addr, v->len, &s) | (s ? 1u << 11 : 0);
        return 0;
    }
    case IOMMU_QI_PAGE_RESP:
        w[0] = VTD_PGRP_RESP | (d->pasid_present ? 1u << 4 : 0) |
               ((uint64_t)(vtd_resp_code(d->code) & 0xf) << 12) |
               ((uint64_t)d->rid << 16) | ((uint64_t)d->pasid << 32);
        w[1] = 4u /* LPIG */ | ((uint64_t)(d->prgi & 0x1ff) << 3);
        return 0;
    case IOMMU_QI_WAIT:
        w[0] = VTD_WAIT | (1u << 5) /* SW */ | (1u << 6) /* FN */ |
               ((uint64_t)slot << 32);
        return 0;
    default:
        return -EINVAL; /* RESUME: no stall model on VT-d */
    }
}

/* Encode d as an SMMUv3 command into w. Returns 0 or -EINVAL. */
static int qi_encode_smmu(const iommu_qi_desc_t *d, uint32_t slot,
                          uint64_t *w)
{
    const iommu_inv_t *v = &d->inv;
    uint64_t base;
    unsigned am;
    switch (d->type) {
    case IOMMU_QI_IOTLB:
        switch (v->gran) {
        case IOMMU_INV_GLOBAL:
            w[0] = SMMU_TLBI_NSNH_ALL;
            return 0;
        case IOMMU_INV_DOMAIN:
        case IOMMU_INV_PASID: /* an ASID per address space: the domain */
            w[0] = SMMU_TLBI_NH_ASID | ((uint64_t)v->domain << 48);
            return 0;
        case IOMMU_INV_RANGE:
            am = range_order(v->addr, v->len, &base);
            if (am > 31) {
                w[0] = SMMU_TLBI_NH_ASID | ((uint64_t)v->domain << 48);
                return 0;
            }
            w[0] = SMMU_TLBI_NH_VA | ((uint64_t)am << 20) |
                   ((uint64_t)v->domain << 48);
            w[1] = base | (v->leaf_only ? 1 : 0);
            return 0;
        case IOMMU_INV_S2_RANGE:
            am = range_order(v->addr, v->len, &base);
            if (am > 31) {
                w[0] = SMMU_TLBI_S12_VMALL | ((uint64_t)v->domain << 32);
                return 0;
            }
            w[0] = SMMU_TLBI_S2_IPA | ((uint64_t)am << 20) |
                   ((uint64_t)v->domain << 32);
            w[1] = base | (v->leaf_only ? 1 : 0);
            return 0;
        default:
            return -EINVAL;
        }
    case IOMMU_QI_PASID_CACHE:
        if (v->gran == IOMMU_INV_DEVICE_PASID)
            w[0] = SMMU_CFGI_CD | (1u << 11) | ((uint64_t)v->pasid << 12) |
                   ((uint64_t)v->rid << 32);
        else if (v->gran == IOMMU_INV_DEVICE)
            w[0] = SMMU_CFGI_CD_ALL | ((uint64_t)v->rid << 32);
        else
            w[0] = SMMU_CFGI_ALL, w[1] = 31;
        return 0;
    case IOMMU_QI_CONTEXT_CACHE:
        if (v->gran == IOMMU_INV_DEVICE)
            w[0] = SMMU_CFGI_STE | ((uint64_t)v->rid << 32);
        else
            w[0] = SMMU_CFGI_ALL, w[1] = 31;
        return 0;
    case IOMMU_QI_DEVTLB:
        am = v->len ? range_order(v->addr, v->len, &base) : 52;
        if (am >= 52)
            base = 0, am = 52;
        w[0] = SMMU_ATC_INV | (1u << 11) | ((uint64_t)v->pasid << 12) |
               ((uint64_t)v->rid << 32);
        w[1] = base | am;
        return 0;
    case IOMMU_QI_PAGE_RESP:
        w[0] = SMMU_PRI_RESP | (d->pasid_present ? 1u << 11 : 0) |
               ((uint64_t)d->pasid << 12) | ((uint64_t)d->rid << 32);
        w[1] = (d->prgi & 0x1ffu) |
               ((uint64_t)smmu_resp_code(d->code) << 12);
        return 0;
    case IOMMU_QI_RESUME:
        w[0] = SMMU_RESUME |
               ((uint64_t)(d->code == PCIE_PRG_SUCCESS ? 1 : 2) << 12) |
               ((uint64_t)d->rid << 32);
        w[1] = d->prgi;
        return 0;
    case IOMMU_QI_WAIT:
        w[0] = SMMU_SYNC | ((uint64_t)slot << 32);
        return 0;
    default:
        return -EINVAL;
    }
}

/* Decode a VT-d descriptor (four words). */
static void qi_decode_vtd(const uint64_t *w, qi_op_t *op)
{
    iommu_qi_desc_t *d = &op->d;
    iommu_inv_t *v = &d->inv;
    unsigned type = (unsigned)(w[0] & 0xf), gran = (unsigned)(w[0] >> 4) & 3;
    op->valid = true;
    switch (type) {
    case VTD_IOTLB:
        d->type = IOMMU_QI_IOTLB;
        v->domain = (uint16_t)(w[0] >> 16);
        v->gran = gran == 1 ? IOMMU_INV_GLOBAL
                  : gran == 2 ? IOMMU_INV_DOMAIN : IOMMU_INV_S2_RANGE;
        v->addr = w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = 1ull << (IOMMU_PAGE_SHIFT + (w[1] & 0x3f));
        v->leaf_only = gran == 3 && ((w[1] >> 6) & 1);
        return;
    case VTD_PIOTLB:
        d->type = IOMMU_QI_IOTLB;
        v->domain = (uint16_t)(w[0] >> 16);
        v->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        v->gran = gran == 3 ? IOMMU_INV_RANGE : IOMMU_INV_PASID;
        v->addr = w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = 1ull << (IOMMU_PAGE_SHIFT + (w[1] & 0x3f));
        v->leaf_only = gran == 3 && ((w[1] >> 6) & 1);
        return;
    case VTD_PC:
        d->type = IOMMU_QI_PASID_CACHE;
        v->domain = (uint16_t)(w[0] >> 16);
        v->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        v->gran = gran == 0 ? IOMMU_INV_DOMAIN
                  : gran == 1 ? IOMMU_INV_PASID : IOMMU_INV_GLOBAL;
        return;
    case VTD_CC:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->rid = (uint16_t)(w[0] >> 32);
        v->gran = gran == 3 ? IOMMU_INV_DEVICE : IOMMU_INV_GLOBAL;
        return;
    case VTD_PDEVTLB:
        d->type = IOMMU_QI_DEVTLB;
        v->rid = (uint16_t)(w[0] >> 16);
        v->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        ats_decode(w[1], (w[1] >> 11) & 1, &v->addr, &v->len);
        return;
    case VTD_PGRP_RESP: {
        d->type = IOMMU_QI_PAGE_RESP;
        unsigned code = (unsigned)(w[0] >> 12) & 0xf;
        d->code = code == 0 ? PCIE_PRG_SUCCESS
                  : code == 1 ? PCIE_PRG_INVALID : (uint8_t)code;
        d->pasid_present = (w[0] >> 4) & 1;
        d->rid = (uint16_t)(w[0] >> 16);
        d->pasid = (uint32_t)(w[0] >> 32) & (PCIE_PASID_MAX - 1);
        d->prgi = (uint16_t)((w[1] >> 3) & 0x1ff);
        return;
    }
    case VTD_WAIT:
        d->type = IOMMU_QI_WAIT;
        return;
    default:
        op->valid = false;
        return;
    }
}

/* Decode an SMMUv3 command (two words). */
static void qi_decode_smmu(const uint64_t *w, qi_op_t *op)
{
    iommu_qi_desc_t *d = &op->d;
    iommu_inv_t *v = &d->inv;
    unsigned am = (unsigned)(w[0] >> 20) & 0x1f;
    op->valid = true;
    switch (w[0] & 0xff) {
    case SMMU_TLBI_NSNH_ALL:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_GLOBAL;
        return;
    case SMMU_TLBI_NH_ASID:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_DOMAIN;
        v->domain = (uint16_t)(w[0] >> 48);
        return;
    case SMMU_TLBI_S12_VMALL:
        d->type = IOMMU_QI_IOTLB;
        v->gran = IOMMU_INV_DOMAIN;
        v->domain = (uint16_t)(w[0] >> 32);
        return;
    case SMMU_TLBI_NH_VA:
    case SMMU_TLBI_S2_IPA:
        d->type = IOMMU_QI_IOTLB;
        if ((w[0] & 0xff) == SMMU_TLBI_NH_VA) {
            v->gran = IOMMU_INV_RANGE;
            v->any_pasid = true;
            v->domain = (uint16_t)(w[0] >> 48);
        } else {
            v->gran = IOMMU_INV_S2_RANGE;
            v->domain = (uint16_t)(w[0] >> 32);
        }
        v->addr = w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = 1ull << (IOMMU_PAGE_SHIFT + am);
        v->leaf_only = w[1] & 1;
        return;
    case SMMU_CFGI_ALL:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->gran = IOMMU_INV_GLOBAL;
        op->cfgi_all = true;
        return;
    case SMMU_CFGI_STE:
        d->type = IOMMU_QI_CONTEXT_CACHE;
        v->gran = IOMMU_INV_DEVICE;
        v->rid = (uint16_t)(w[0] >> 32);
        return;
    case SMMU_CFGI_CD:
    case SMMU_CFGI_CD_ALL:
        d->type = IOMMU_QI_PASID_CACHE;
        v->rid = (uint16_t)(w[0] >> 32);
        v->pasid = (uint32_t)(w[0] >> 12) & (PCIE_PASID_MAX - 1);
        v->gran = (w[0] & 0xff) == SMMU_CFGI_CD ? IOMMU_INV_DEVICE_PASID
                                                 : IOMMU_INV_DEVICE;
        return;
    case SMMU_ATC_INV: {
        d->type = IOMMU_QI_DEVTLB;
        v->rid = (uint16_t)(w[0] >> 32);
        v->pasid = (uint32_t)(w[0] >> 12) & (PCIE_PASID_MAX - 1);
        unsigned size = (unsigned)(w[1] & 0x3f);
        v->addr = size >= 52 ? 0 : w[1] & ~(IOMMU_PAGE_SIZE - 1);
        v->len = size >= 52 ? 0 : 1ull << (IOMMU_PAGE_SHIFT + size);
        return;
    }
    case SMMU_PRI_RESP:
        d->type = IOMMU_QI_PAGE_RESP;
        d->pasid_present = (w[0] >> 11) & 1;
        d->pasid = (uint32_t)(w[0] >> 12) & (PCIE_PASID_MAX - 1);
        d->rid = (uint16_t)(w[0] >> 32);
        d->prgi = (uint16_t)(w[1] & 0x1ff);
        d->code = smmu_resp_decode((unsigned)(w[1] >> 12) & 3);
        return;
    case SMMU_RESUME:
        d->type = IOMMU_QI_RESUME;
        d->rid = (uint16_t)(w[0] >> 32);
        d->code = ((w[0] >> 12) & 3) == 1 ? PCIE_PRG_SUCCESS : PCIE_PRG_INVALID;
        d->prgi = (uint16_t)w[1];
        return;
    case SMMU_SYNC:
        d->type = IOMMU_QI_WAIT;
        return;
    default:
        op->valid = false;
        return;
    }
}

/* Decode the descriptor at pos. */
static void qi_decode(const iommu_t *u, uint32_t pos, qi_op_t *op)
{
    uint64_t a = iring_addr(&u->qi, pos), w[4];
    for (unsigned i = 0; i < u->qi_esize / 8; i++)
        w[i] = rd(u, a + i * 8);
    memset(op, 0, sizeof(*op));
    if (is_smmu(u))
        qi_decode_smmu(w, op);
    else
        qi_decode_vtd(w, op);
    const qi_side_t *side = &u->qi_side[pos % u->qi.depth];
    op->d.done = side->done;
    op->d.opaque = side->opaque;
    op->d.span = side->span;
}

/* Write d at the tail (the ring has room). */
static void qi_put(iommu_t *u, const iommu_qi_desc_t *d)
{
    uint32_t slot = u->qi.tail % u->qi.depth;
    uint64_t w[4] = {0, 0, 0, 0};
    if (is_smmu(u))
        qi_encode_smmu(d, slot, w);
    else
        qi_encode_vtd(d, slot, w);
    uint64_t a = iring_addr(&u->qi, u->qi.tail);
    for (unsigned i = 0; i < u->qi_esize / 8; i++)
        wr(u, a + i * 8, w[i]);
    u->qi_side[slot] = (qi_side_t){d->done, d->opaque, d->span};
    u->qi.tail = iring_next(&u->qi, u->qi.tail);
}

/* Processing cost of a descriptor type. */
static sim_time_t qi_cost(const iommu_t *u, iommu_qi_type_t t)
{
    const iommu_cfg_t *c = &u->cfg;
    switch (t) {
    case IOMMU_QI_IOTLB: return c->qi_iotlb;
    case IOMMU_QI_PASID_CACHE: return c->qi_pasid;
    case IOMMU_QI_CONTEXT_CACHE: return c->qi_context;
    case IOMMU_QI_DEVTLB: return c->qi_devtlb;
    case IOMMU_QI_PAGE_RESP:
    case IOMMU_QI_RESUME: return c->qi_page_resp;
    default: return c->qi_wait;
    }
}

static void qi_kick(iommu_t *u);

/* Apply the descriptor at the head and move on. */
static void ev_qi_done(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_t *u = opaque;
    qi_op_t op = u->qi_cur; /* decoded when it started */
    const iommu_qi_desc_t *d = &op.d;
    bool done = true;
    if (!op.valid) {
        u->s.qi_errors->value++;
    } else {
        u->s.qi_desc[d->type]->value++;
        switch (d->type) {
        case IOMMU_QI_IOTLB:
            iommu_invalidate_iotlb(u, &d->inv);
            break;
        case IOMMU_QI_PASID_CACHE:
            iommu_invalidate_pasid_cache(u, &d->inv);
            break;
        case IOMMU_QI_CONTEXT_CACHE:
            iommu_invalidate_context_cache(u, &d->inv);
            if (op.cfgi_all)
                iommu_invalidate_pasid_cache(u, &d->inv);
            break;
        case IOMMU_QI_DEVTLB: {
            pcie_msg_t m = {0};
            m.type = PCIE_MSG_INV_REQ;
            m.flags = PCIE_F_PASID;
            m.pasid = d->inv.pasid;
            m.addr = d->inv.addr;
            m.len = d->inv.len > UINT32_MAX ? 0 : (uint32_t)d->inv.len;
            m.cookie = &u->qi;
            u->qi_devtlb_pending++;
            u->s.devtlb_inval->value++;
            done = false; /* done when the completion arrives */
            iommu_send(u, d->inv.rid, &m);
            break;
        }
        case IOMMU_QI_PAGE_RESP: {
            pcie_msg_t r = {0};
            r.type = PCIE_MSG_PRG_RESP;
            r.code = d->code;
            r.tag = d->prgi;
            r.pasid = d->pasid;
            r.flags = d->pasid_present ? PCIE_F_PASID : 0;
            r.span = d->span;
            u->prq_tot.host_responses++;
            u->s.prg_responses->value++;
            iommu_send(u, d->rid, &r);
            break;
        }
        case IOMMU_QI_RESUME:
            stall_resume(u, d->prgi, d->code == PCIE_PRG_SUCCESS, d->span);
            break;
        default: /* wait */
            break;
        }
    }
    u->qi.head = iring_next(&u->qi, u->qi.head);
    u->qi_busy = false;
    if (done)
        u->qi_pending--;
    /* Descriptors waiting for space move in. */
    while (u->qi_bl_head && !iring_full(&u->qi)) {
        qi_backlog_t *b = u->qi_bl_head;
        u->qi_bl_head = b->next;
        if (!u->qi_bl_head)
            u->qi_bl_tail = NULL;
        qi_put(u, &b->d);
        sim_pool_put(&u->qi_bl_pool, b);
    }
    sim_gauge_set(u->s.qi_occupancy, sim_now(sim), iring_count(&u->qi));
    if (op.valid && d->type == IOMMU_QI_WAIT && d->done)
        d->done(d->opaque);
    qi_kick(u);
}

/* Start the descriptor at the head if the queue is idle. */
static void qi_kick(iommu_t *u)
{
    if (u->qi_busy || u->qi_waiting || u->qi.head == u->qi.tail)
        return;
    qi_op_t *op = &u->qi_cur;
    qi_decode(u, u->qi.head, op);
    if (op->valid && op->d.type == IOMMU_QI_WAIT && u->qi_devtlb_pending) {
        u->qi_waiting = true; /* fence: wait for the completions */
        return;
    }
    u->qi_busy = true;
    sim_schedule(u->sim, op->valid ? qi_cost(u, op->d.type) : 0, ev_qi_done,
                 u, 0);
}

void qi_devtlb_done(iommu_t *u)
{
    if (!u->qi_devtlb_pending)
        return;
    u->qi_devtlb_pending--;
    u->qi_pending--;
    if (u->qi_waiting && !u->qi_devtlb_pending) {
        u->qi_waiting = false;
        qi_kick(u);
    }
}

int iommu_qi_submit(iommu_t *u, const iommu_qi_desc_t *descs, unsigned n)
{
    uint64_t w[4];
    for (unsigned i = 0; i < n; i++) {
        int rc = is_smmu(u) ? qi_encode_smmu(&descs[i], 0, w)
                            : qi_encode_vtd(&descs[i], 0, w);
        if (rc)
            return rc;
    }
    for (unsigned i = 0; i < n; i++) {
        u->qi_pending++;
        if (!u->qi_bl_head && !iring_full(&u->qi)) {
            qi_put(u, &descs[i]);
            continue;
        }
        qi_backlog_t *b = sim_pool_get(&u->qi_bl_pool);
        if (!b)
            return -ENOMEM;
        b->d = descs[i];
        b->next = NULL;
        if (u->qi_bl_tail)
            u->qi_bl_tail->next = b;
        else
            u->qi_bl_head = b;
        u->qi_bl_tail = b;
        u->s.qi_full_waits->value++;
    }
    sim_gauge_set(u->s.qi_occupancy, sim_now(u->sim), iring_count(&u->qi));
    qi_kick(u);
    return 0;
}

uint32_t iommu_qi_head(const iommu_t *u) { return u->qi.head; }
uint32_t iommu_qi_tail(const iommu_t *u) { return u->qi.tail; }
uint64_t iommu_qi_base(const iommu_t *u) { return u->qi.base; }
unsigned iommu_qi_desc_size(const iommu_t *u) { return u->qi_esize; }
uint64_t iommu_qi_pending(const iommu_t *u) { return u->qi_pending; }
