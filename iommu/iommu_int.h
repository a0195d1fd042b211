/*
 * iommu_int.h - internal to iommu/: the IOMMU state shared by its files
 * (iommu.c: parameters, lifecycle and the timed request path; ctx.c:
 * context and PASID tables; walk.c: translation and caches; queue.c: the
 * rings in memory), the generic set-associative cache and the ring.
 */
#ifndef IOMMU_IOMMU_INT_H
#define IOMMU_IOMMU_INT_H

#include "iommu/iommu.h"

/* Access flag of iommu_translate (internal callers): report permissions
 * without faulting (an ATS translation request). */
#define XL_NOCHECK 0x100u

/* ------------------------------------------------------------ memory */

/* The storage of the frame of pa (512 entries), or NULL if it has none. */
uint64_t *mem_frame(const iommu_mem_t *m, uint64_t pa);

/* ------------------------------------------------------------ guest */

iommu_mem_t *guest_host_mem(iommu_guest_t *g);
void guest_free_table(iommu_guest_t *g, uint64_t gpa);

/* ------------------------------------------------------------ cache */

/* One entry of a set-associative LRU cache. tag 0 = invalid. */
typedef struct icache_ent {
    uint64_t key;
    uint64_t tag;
    uint64_t val;
    uint64_t val2;
    uint32_t lru;
    uint32_t aux;
} icache_ent_t;

typedef struct icache {
    icache_ent_t *e; /* NULL: the cache is disabled */
    uint32_t sets, ways;
    uint32_t mask;   /* sets - 1 when sets is a power of two, else 0 */
    uint32_t clock;
    bool used;       /* an entry was ever filled (else nothing to scan) */
    sim_counter_t *hits, *misses;
} icache_t;

/* entries / ways sets of `ways` (ways is reduced to entries when larger);
 * entries 0 disables. Returns 0 or -ENOMEM. */
int icache_init(icache_t *c, uint64_t entries, uint64_t ways);
void icache_fini(icache_t *c);
void icache_age(icache_t *c);
/* Invalidate the entries for which match(entry, arg) is true; returns how
 * many. */
unsigned icache_inval(icache_t *c,
                      bool (*match)(const icache_ent_t *e, const void *arg),
                      const void *arg);
/* The entry to fill for (key, tag): the matching one, an invalid one or
 * the least recently used; key, tag and lru are set. c must be enabled. */
icache_ent_t *icache_fill(icache_t *c, uint64_t key, uint64_t tag);
/* Invalidate the entry of (key, tag) if present; returns 1 or 0. */
unsigned icache_inval_key(icache_t *c, uint64_t key, uint64_t tag);

/* The set of (key, tag). */
static inline icache_ent_t *icache_set(const icache_t *c, uint64_t key,
                                       uint64_t tag)
{
    uint64_t h = (key ^ (tag * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull;
    uint32_t i = (uint32_t)(h >> 32);
    i = c->mask ? (i & c->mask) : (c->sets > 1 ? i % c->sets : 0);
    return &c->e[(size_t)i * c->ways];
}

/* The valid entry of (key, tag), made most recently used, or NULL. */
static inline icache_ent_t *icache_find(icache_t *c, uint64_t key,
                                        uint64_t tag)
{
    if (!c->e)
        return NULL;
    icache_ent_t *set = icache_set(c, key, tag);
    for (uint32_t w = 0; w < c->ways; w++) {
        if (set[w].tag == tag && set[w].key == key) {
            if (++c->clock == 0)
                icache_age(c);
            set[w].lru = c->clock;
            return &set[w];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- ring */

/* A queue of fixed-size entries in simulated memory. VT-d style rings
 * keep one slot unused (positions are indices); SMMUv3 style rings carry
 * a wrap bit (positions run over 2 * depth) and use every slot. */
typedef struct iring {
    uint64_t base;  /* physical address of slot 0 */
    uint32_t depth; /* slots */
    uint32_t esize; /* bytes per entry */
    uint32_t head, tail;
    bool wrap;
} iring_t;

static inline uint32_t iring_span(const iring_t *r)
{
    return r->wrap ? 2 * r->depth : r->depth;
}
static inline uint32_t iring_count(const iring_t *r)
{
    return (r->tail + iring_span(r) - r->head) % iring_span(r);
}
static inline bool iring_full(const iring_t *r)
{
    return iring_count(r) == (r->wrap ? r->depth : r->depth - 1);
}
static inline uint32_t iring_next(const iring_t *r, uint32_t pos)
{
    return (pos + 1) % iring_span(r);
}
static inline uint64_t iring_addr(const iring_t *r, uint32_t pos)
{
    return r->base + (uint64_t)(pos % r->depth) * r->esize;
}

/* --------------------------------------------------------- the unit */

/* A PASID entry as the walker uses it (decoded from memory or cache). */
typedef struct pe_dec {
    uint8_t mode;
    bool pri;
    uint16_t domain, s2_domain;
    uint8_t s1_levels, s2_levels;
    uint64_t s1_root, s2_root;
} pe_dec_t;

/* Stall tags (STAG) available for held transactions. */
#define IOMMU_STALL_SLOTS 4096

typedef struct xlate xlate_t;

/* A wait or page response kept beside its QI ring slot (what the
 * descriptor cannot hold: a callback, a span). */
typedef struct qi_side {
    iommu_done_fn done;
    void *opaque;
    sim_span_t *span;
} qi_side_t;

/* A decoded invalidation-queue descriptor (the SMMUv3 CFGI_ALL covers
 * both configuration caches). */
typedef struct qi_op {
    iommu_qi_desc_t d;
    bool cfgi_all;
    bool valid;
} qi_op_t;

/* A descriptor waiting for space in the QI ring. */
typedef struct qi_backlog {
    struct qi_backlog *next;
    iommu_qi_desc_t d;
} qi_backlog_t;

/* An interrupt line with optional moderation. */
typedef struct irq_line {
    iommu_irq_fn fn;
    void *opaque;
    sim_time_t last;   /* time of the last interrupt */
    bool fired;        /* an interrupt was raised already */
    bool timer;        /* a moderated interrupt is scheduled */
    sim_counter_t *count, *coalesced;
} irq_line_t;

/* In-flight walks, for merging concurrent misses to one page. */
typedef struct inflight_slot {
    uint64_t k1, k2; /* (rid << 20 | pasid) + 1, page number; k1 0 = empty */
    xlate_t *x;
} inflight_slot_t;

struct iommu {
    sim_t *sim;
    iommu_cfg_t cfg;
    iommu_mem_t *mem;
    unsigned prq_esize, fault_esize, qi_esize;

    /* translation structures */
    uint64_t root_table;
    icache_t iotlb, ctxc, pasidc, s2tlb;
    icache_t psc[2][IOMMU_PSC_LEVELS];
    uint32_t iotlb_shifts, s2tlb_shifts; /* bit s: entries of shift s */
    uint64_t inv_epoch; /* bumped by every invalidation */

    /* timed path */
    sim_server_t *walker;
    sim_rng_t walker_rng;
    sim_pool_t xlates, msgs;
    inflight_slot_t *inflight;
    size_t ninflight_slots, ninflight;
    xlate_t *stall[IOMMU_STALL_SLOTS];
    uint16_t stall_free[IOMMU_STALL_SLOTS];
    unsigned nstall_free;

    iommu_send_fn send;
    void *send_opaque;
    irq_line_t prq_irq, fault_irq;

    /* PRQ */
    iring_t prq;
    sim_span_t **prq_span;
    unsigned prs;       /* VT-d: PPR | PRO */
    bool ovflg, ovack;  /* SMMUv3 PRIQ_PROD.OVFLG, PRIQ_CONS.OVACKFLG */
    iommu_prq_totals_t prq_tot;

    /* fault records */
    iring_t fq;
    sim_span_t **fq_span;
    bool fq_overflow;

    /* invalidation queue */
    iring_t qi;
    qi_side_t *qi_side;
    qi_backlog_t *qi_bl_head, *qi_bl_tail;
    sim_pool_t qi_bl_pool;
    qi_op_t qi_cur;      /* the descriptor at the head, decoded */
    bool qi_busy;        /* a descriptor is being processed */
    bool qi_waiting;     /* a wait descriptor waits for device-TLB cpls */
    uint64_t qi_devtlb_pending;
    uint64_t qi_pending; /* submitted, not done */
    sim_pool_t devinvs;

    struct {
        sim_counter_t *ats_reqs, *ats_ur, *iotlb_inval, *psc_inval,
            *ctx_inval, *pasid_inval;
        sim_counter_t *psc_hits[2][IOMMU_PSC_LEVELS],
            *psc_misses[2][IOMMU_PSC_LEVELS];
        sim_counter_t *ctx_reads, *walk_outcome[IOMMU_WALK_OUTCOMES],
            *merged, *rewalks, *ad_writes;
        sim_hist_t *walk_reads;
        sim_counter_t *mem_reads, *mem_writes, *mem_bytes;
        sim_counter_t *dma_untranslated, *dma_faults, *dma_aborted,
            *dma_stalled, *dma_resumed;
        sim_counter_t *prq_received, *prq_written, *prq_auto, *prq_dropped,
            *prq_stop, *prq_overflows, *prq_pri_disabled, *prg_responses,
            *prq_implicit_inv;
        sim_gauge_t *prq_occupancy;
        sim_counter_t *fault_records, *fault_lost, *fault_overflows;
        sim_counter_t *qi_desc[IOMMU_QI_TYPES], *qi_full_waits, *qi_errors;
        sim_counter_t *devtlb_inval;
        sim_gauge_t *qi_occupancy;
    } s;
};

/* ctx.c */
int ctx_init(iommu_t *u);
/* Resolve (rid, pasid) through the caches or the tables: OK, or
 * BAD_CONTEXT / BAD_PASID; counts reads in x->ctx_reads. */
iommu_walk_outcome_t ctx_lookup(iommu_t *u, uint16_t rid, uint32_t pasid,
                                iommu_xlate_t *x, pe_dec_t *pe);
/* The same after the PASID cache missed (pasid already masked). */
iommu_walk_outcome_t ctx_fetch(iommu_t *u, uint16_t rid, uint32_t pasid,
                               iommu_xlate_t *x, pe_dec_t *pe);

/* A PASID cache entry decoded: the roots are 4 KiB aligned, so their low
 * bits carry levels, mode and PRE (ctx.c packs them). */
static inline void pe_unpack(const icache_ent_t *e, pe_dec_t *pe)
{
    pe->s1_root = e->val & IOMMU_PTE_ADDR;
    pe->s1_levels = (uint8_t)(e->val & 0xf);
    pe->mode = (uint8_t)((e->val >> 4) & 7);
    pe->pri = (e->val >> 7) & 1;
    pe->s2_root = e->val2 & IOMMU_PTE_ADDR;
    pe->s2_levels = (uint8_t)(e->val2 & 0xf);
    pe->domain = (uint16_t)e->aux;
    pe->s2_domain = (uint16_t)(e->aux >> 16);
}

/* walk.c */
void xlate_core(iommu_t *u, uint16_t rid, uint32_t pasid, uint64_t va,
                unsigned access, iommu_xlate_t *x, bool fill);
/* Fill the IOTLB with a translation xlate_core made with fill false. */
void xlate_fill(iommu_t *u, uint32_t pasid, uint64_t va,
                const iommu_xlate_t *x);

/* queue.c */
int queues_init(iommu_t *u);
void queues_fini(iommu_t *u);
void prq_accept(iommu_t *u, const pcie_msg_t *m);
/* Answer a page request Invalid in hardware (PRI disabled). */
void prq_auto_invalid(iommu_t *u, const pcie_msg_t *m);
/* Write a fault record; false if the queue overflowed (record lost). */
bool fault_record(iommu_t *u, const iommu_fault_rec_t *rec);
void irq_raise(iommu_t *u, irq_line_t *l);
void qi_devtlb_done(iommu_t *u);

/* iommu.c: effects of invalidation-queue descriptors on the timed path */
void iommu_send(iommu_t *u, uint16_t rid, pcie_msg_t *m);
void stall_resume(iommu_t *u, uint16_t stag, bool retry, sim_span_t *span);

#endif
