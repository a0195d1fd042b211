/*
 * device.c - a PCIe endpoint with ATS (a device ATC), PRI and DMA tags.
 *
 * A DMA is handled page by page (requests never cross a 4 KiB boundary,
 * PCIe r4.0 2.2.7). For each page the device spends `proc` (ATC lookup and
 * building the request), then:
 *  - ATS device, ATC hit: translated memory requests to the cached
 *    translation (reads split by MRRS; a posted write is done once the
 *    link has sent it, i.e. at the end of its serialisation);
 *  - ATS device, ATC miss: a Translation Request (PASID, R, W or the
 *    No-Write hint); a completion granting the access fills the ATC (one
 *    entry per translation, of the size the completion gives) and the data
 *    moves; a completion with R=W=0, or without the permission needed,
 *    means "not present" (fault-path-semantics 1d item 20) and makes a
 *    PRI-capable device ask for the page with PRI;
 *  - device without ATS: untranslated memory requests with the PASID; the
 *    IOMMU translates them; a read completion with UR (an unrecoverable
 *    fault) aborts the DMA. An IOMMU in an SMMU-style stall mode holds the
 *    request: the device just waits for its completion.
 *
 * PRI (fault-path-semantics section 1, PCIe r4.0 10.4-10.5):
 *  - a fault sends one page request group: one Page Request per page
 *    (the faulting page and, with device.fault_ahead > 1, the next pages of
 *    the same DMA), one 9-bit PRG index, L=1 on the last request only;
 *  - the Outstanding Page Request Allocation is min(pri_capacity,
 *    pri_alloc) (Linux pci_enable_pri), counted per page request message
 *    (1c item 13); a request stays outstanding until its group's response;
 *    a fault that finds the allocation used up waits, in order;
 *  - a PRG index is reused only after its group's response; free indices
 *    are handed out oldest first, so that a late response (after a device
 *    timeout) is unlikely to meet a reused index;
 *  - the PRG Response code decides (1a item 6, 1b items 8-11):
 *      Success          -> re-issue the Translation Request (which may
 *                          fault again; bounded by pri_retries)
 *      Invalid Request  -> the access fails, no retry
 *      Response Failure -> PRI is disabled on the function (codes 2..14
 *                          too): the access and every DMA waiting on PRI
 *                          fail, later faults fail, responses are ignored,
 *                          until pcie_dev_pri_reset;
 *    a response for an index not outstanding sets UPRGI and is ignored;
 *  - PRG Response PASID Required (10.5.2.3): when set, a response must
 *    carry the PASID of its group, else the device cannot match it;
 *  - a PASID stop sends a Stop Marker instead of waiting for responses
 *    (1a item 4; pcie_dev_stop_pasid).
 *
 * ATS invalidation (1d item 21): an Invalidate Request drops the matching
 * ATC entries at once; the Invalidate Completion goes back after
 * `inv_proc`, and not before every translated request that used a dropped
 * translation has been sent (writes) or completed (reads).
 *
 * Events: the processing delay is folded into the link send
 * (pcie_link_send_at), so an ATC-hit read costs the link's two arrivals
 * and nothing else on the device side. DMA contexts, page request groups
 * and invalidation trackers come from pools or fixed tables: nothing is
 * allocated per request in the steady state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/pcie.h"

const sim_param_t pcie_dev_params[] = {
    {"device", "count", SIM_PARAM_UINT, "1", 1, 256, "devices",
     "number of identical endpoint devices", NULL,
     offsetof(pcie_dev_cfg_t, count)},
    {"device", "rid_base", SIM_PARAM_UINT, "0x100", 0, 0xff00, "",
     "requester id of device 0; device i has rid_base + i", NULL,
     offsetof(pcie_dev_cfg_t, rid_base)},
    {"device", "tags", SIM_PARAM_UINT, "32", 1, 4096, "DMAs",
     "DMAs a device keeps in flight at once; later ones queue", NULL,
     offsetof(pcie_dev_cfg_t, tags)},
    {"device", "ats", SIM_PARAM_BOOL, "true", 0, 0, "",
     "the device has ATS (an ATC, translation requests, translated DMA); "
     "false: DMAs are untranslated requests translated in the IOMMU and a "
     "fault aborts them (PRI needs ATS and is then unused)",
     NULL, offsetof(pcie_dev_cfg_t, ats)},
    {"device", "pri", SIM_PARAM_BOOL, "true", 0, 0, "",
     "the device has a Page Request Interface", NULL,
     offsetof(pcie_dev_cfg_t, pri)},
    {"device", "in_order", SIM_PARAM_BOOL, "false", 0, 0, "",
     "a fault blocks the device's queue: no later DMA starts until the "
     "faulting one has its translation or failed (false: only the faulting "
     "DMA waits)",
     NULL, offsetof(pcie_dev_cfg_t, in_order)},
    {"device", "atc_entries", SIM_PARAM_UINT, "64", 0, 1u << 20, "entries",
     "device ATC entries (one per translation, of the size the completion "
     "gives); 0 disables caching",
     NULL, offsetof(pcie_dev_cfg_t, atc_entries)},
    {"device", "atc_ways", SIM_PARAM_UINT, "4", 1, 64, "ways",
     "device ATC associativity (must divide atc_entries)", NULL,
     offsetof(pcie_dev_cfg_t, atc_ways)},
    {"device", "pri_capacity", SIM_PARAM_UINT, "32", 1, 1u << 16, "requests",
     "Outstanding Page Request Capacity of the device (PCIe r4.0 10.5.2; "
     "no published device figure: 32 [I], the allocation Linux asked "
     "before 2022)",
     NULL, offsetof(pcie_dev_cfg_t, pri_capacity)},
    {"device", "pri_alloc", SIM_PARAM_UINT, "2048", 1, 1u << 20, "requests",
     "Outstanding Page Request Allocation the host asks for; the device may "
     "have min(pri_capacity, pri_alloc) page requests outstanding (Linux "
     "pci_enable_pri; VT-d asks PRQ_DEPTH = 2048 since 2022)",
     NULL, offsetof(pcie_dev_cfg_t, pri_alloc)},
    {"device", "pri_retries", SIM_PARAM_UINT, "16", 0, 1u << 20, "retries",
     "Success responses whose retry faults again before the DMA is failed",
     NULL, offsetof(pcie_dev_cfg_t, pri_retries)},
    {"device", "fault_ahead", SIM_PARAM_UINT, "1", 1, 64, "pages",
     "pages one fault asks for in its page request group: the faulting page "
     "and the next pages of the same DMA not in the ATC (PCIe r4.0 10.4.1: "
     "a group holds several page requests)",
     NULL, offsetof(pcie_dev_cfg_t, fault_ahead)},
    {"device", "pri_timeout", SIM_PARAM_TIME, "0", 0, 1e12, "ns",
     "PRG response timeout of the device: a group not answered in time is "
     "given up (its DMA fails, its allocation and index are freed, a late "
     "response counts as UPRGI) [I]; 0: no timeout",
     NULL, offsetof(pcie_dev_cfg_t, pri_timeout)},
    {"device", "prg_pasid_required", SIM_PARAM_BOOL, "true", 0, 0, "",
     "PRI Status 'PRG Response PASID Required' (PCIe r4.0 10.5.2.3): "
     "responses must carry the group's PASID (Intel enables PRI on a PASID "
     "device only with it set)",
     NULL, offsetof(pcie_dev_cfg_t, prg_pasid_required)},
    {"device", "proc", SIM_PARAM_DIST, "50", 0, 0, "ns",
     "ATC lookup and building a translation or page request "
     "(latency-calibration 3.1, [I])",
     NULL, offsetof(pcie_dev_cfg_t, proc)},
    {"device", "inv_proc", SIM_PARAM_DIST, "500", 0, 0, "ns",
     "ATS Invalidate Request to Invalidate Completion in the device, "
     "before waiting for requests that used a dropped translation (IAA "
     "device-TLB invalidation 0.1-2 us, 67% below 1 us, measured with the "
     "IOMMU [R]; the device's part alone: [I])",
     NULL, offsetof(pcie_dev_cfg_t, inv_proc)},
};
const unsigned pcie_dev_nparams =
    sizeof(pcie_dev_params) / sizeof(pcie_dev_params[0]);

const char *const pcie_stage_names[PCIE_STAGE_COUNT] = {
    "ats_fault", "page_req", "host_irq", "host_fault", "vmm",
    "guest",     "vmm_exit", "response", "retry",      "data",
};
const char *const pcie_stage_descs[PCIE_STAGE_COUNT] = {
    "device translation request until the completion denying access",
    "device builds the page request until it is written in the PRQ",
    "PRQ write, interrupt and host handler until the request is reported",
    "host fault handling (queueing, mm fix-up) until the response is queued; "
    "for a guest-owned fault, until it is reported to /dev/ioasid",
    "VMM: eventfd wake-up, read, routing and injection into the guest",
    "guest: interrupt, handler, mm fix-up, page response written",
    "VM exit to the VMM and completion of the fault in the host",
    "page response through the IOMMU and the link to the device",
    "device re-issues the translation request until its completion",
    "data transfer of the faulting page until the DMA part completes",
};

/*
 * Constraints between [device] keys.
 */
int pcie_dev_cfg_check(const pcie_dev_cfg_t *c, sim_log_t *log)
{
    if (c->atc_entries &&
        (c->atc_ways > c->atc_entries || c->atc_entries % c->atc_ways)) {
        sim_logf(log, SIM_LOG_ERROR,
                 "device.atc_ways = %" PRIu64
                 " must divide device.atc_entries = %" PRIu64,
                 c->atc_ways, c->atc_entries);
        return -EINVAL;
    }
    return 0;
}

enum job_state {
    JOB_QUEUED = 0,
    JOB_XLATE,    /* waiting for a translation completion */
    JOB_PRI_WAIT, /* waiting for page request allocation */
    JOB_PRI,      /* page request group sent, waiting for the response */
    JOB_DATA,     /* data requests handed to the link (or in flight) */
};

/* Why a DMA failed (each has its counter). */
enum fail_reason {
    FAIL_NONE = 0,
    FAIL_STOPPED, /* its PASID was stopped */
    FAIL_OTHER,   /* counted where it happened */
};

typedef struct dma_job {
    struct dma_job *next; /* tag queue or capacity queue */
    uint64_t addr, len, off;
    uint64_t xpage;    /* address of the current page in its requests */
    uint64_t chunk;    /* bytes of the current page being moved */
    uint64_t data_seq; /* invalidation sequence when its data phase began */
    sim_time_t t_page; /* when the current page's translation started */
    sim_time_t t_retry; /* when the last Success response arrived */
    sim_time_t t_wait; /* when it began waiting for PRI allocation */
    sim_span_t *span;  /* fault being tracked for the current page */
    uint32_t pasid;
    uint32_t outstanding; /* read completions pending */
    uint32_t slot;        /* index in the active array */
    uint16_t prgi;        /* its group while in JOB_PRI */
    uint16_t retries;     /* re-faults of the current page after Success */
    uint16_t want;        /* pages its page request group asks for */
    uint8_t state;
    bool write;
    bool xlated;   /* the data phase uses an ATC translation */
    bool asked;    /* a page request was sent for the current page */
    bool gate;     /* holds the in-order gate */
    bool aborted;  /* a completion reported an error */
    bool stopping; /* its PASID is being stopped */
} dma_job_t;

/* One page request group (indexed by its 9-bit PRG index). */
typedef struct prg {
    dma_job_t *job; /* NULL: its DMA is gone (PASID stop), response due */
    sim_event_id_t timer;
    uint32_t pasid;
    uint16_t npages;
    bool busy;
} prg_t;

/* One ATC entry: a translation of 1 << shift bytes. */
typedef struct atc_entry {
    uint64_t tag;   /* untranslated address >> shift */
    uint64_t xbase; /* translated address of the range */
    uint64_t lru;
    uint32_t pasid;
    uint8_t perm;
    uint8_t shift; /* 0: invalid */
} atc_entry_t;

/* An ATS invalidation being handled. */
typedef struct inv_track {
    struct inv_track *next;
    uint64_t seq;    /* invalidation sequence number at arrival */
    uint64_t lo, hi; /* untranslated range, inclusive */
    sim_time_t t0;
    uint32_t pasid;
    uint32_t waits; /* data phases still using a dropped translation */
    bool any_pasid;
    bool proc_done;
    pcie_msg_t cpl; /* the Invalidate Completion to send */
} inv_track_t;

/* A PASID stop in progress. */
#define DEV_MAX_STOPS 8
typedef struct pasid_stop {
    pcie_stop_done_fn done;
    void *opaque;
    uint32_t pasid;
    uint32_t waiting; /* DMAs of the PASID still finishing */
    bool busy;
    bool finishing; /* the completion event is scheduled */
    bool marker;    /* a Stop Marker goes out at completion */
} pasid_stop_t;

struct pcie_dev {
    sim_t *sim;
    pcie_dev_cfg_t cfg;
    unsigned index;
    uint16_t rid;
    pcie_link_t *link;
    uint64_t mrrs;
    sim_spans_t *spans;
    sim_rng_t rng;
    sim_pool_t jobs, invs;
    bool proc_fixed;
    sim_time_t proc_value; /* proc when it is a fixed delay */
    pcie_dma_done_fn done_fn;
    void *done_opaque;

    /* DMA tags and queues */
    unsigned tags_busy;
    dma_job_t **active; /* the DMAs holding a tag */
    dma_job_t *q_head, *q_tail;     /* DMAs waiting for a tag */
    dma_job_t *cap_head, *cap_tail; /* jobs waiting for PRI allocation */
    unsigned gate;                  /* in-order gate holders */
    bool dispatching;

    /* PRI */
    bool pri_enabled;
    unsigned pri_status; /* PCIE_PRI_STATUS_RF | UPRGI */
    uint64_t pri_limit;  /* min(capacity, alloc) */
    uint64_t pri_outstanding;
    prg_t prg[PCIE_PRG_INDICES];
    uint16_t prg_free[PCIE_PRG_INDICES]; /* FIFO of free indices */
    unsigned prg_free_head, prg_nfree;

    /* PASID stops */
    pasid_stop_t stops[DEV_MAX_STOPS];
    unsigned nstops;

    /* ATC */
    atc_entry_t *atc;
    uint64_t atc_sets;
    uint64_t atc_clock;
    uint64_t atc_shifts;       /* bit s: entries of 1 << s bytes exist */
    uint32_t atc_per_shift[64];

    /* ATS invalidation */
    inv_track_t *invs_head;
    uint64_t inv_seq;

    pcie_dev_totals_t tot;
    struct {
        sim_counter_t *dmas, *dmas_done, *dmas_failed, *dmas_aborted,
            *dmas_stopped, *bytes, *gate_blocked;
        sim_counter_t *atc_hits, *atc_misses, *atc_fills, *atc_evictions,
            *atc_inval;
        sim_counter_t *xlate_reqs, *cpl_errors, *inv_reqs;
        sim_counter_t *page_reqs, *groups, *resp_success, *resp_invalid,
            *resp_failure, *resp_ignored, *resp_orphan, *uprgi,
            *resp_missing_pasid, *resp_unexpected_pasid, *timeouts,
            *retries_exhausted, *no_pri_faults, *stop_markers, *pri_resets;
        sim_hist_t *cap_wait, *inv_latency;
        sim_gauge_t *inflight, *pri_outstanding;
    } s;
};

/* --------------------------------------------------------------- helpers */

/*
 * The device's processing delay for one request (no random draw when it
 * is fixed: a fixed distribution draws nothing either).
 */
static inline sim_time_t proc_delay(pcie_dev_t *d)
{
    return d->proc_fixed ? d->proc_value : sim_dist_draw(&d->cfg.proc, &d->rng);
}

/*
 * The permission a DMA needs from a translation.
 */
static inline uint8_t job_need(const dma_job_t *j)
{
    return j->write ? PCIE_F_W : PCIE_F_R;
}

/*
 * Send a message up the device's link at `when` (>= now).
 */
static inline void send_up_at(pcie_dev_t *d, pcie_msg_t *m, sim_time_t when)
{
    m->rid = d->rid;
    pcie_link_send_at(d->link, PCIE_UP, m, when);
}

/* ------------------------------------------------------------------ ATC */

/*
 * First entry of the set for (pasid, tag, shift); sets need not be a power
 * of two (multiply-shift range reduction of a 64-bit hash).
 */
static inline atc_entry_t *atc_set_of(const pcie_dev_t *d, uint32_t pasid,
                                      uint64_t tag, unsigned shift)
{
    uint64_t h = (tag ^ ((uint64_t)pasid << 40) ^ ((uint64_t)shift << 60)) *
                 0x9e3779b97f4a7c15ull;
    uint64_t set = (uint64_t)(((unsigned __int128)(h >> 32) * d->atc_sets) >> 32);
    return &d->atc[set * d->cfg.atc_ways];
}

/*
 * Look up the translation of `va` for `pasid` with permission `need`, in
 * every page size the ATC holds (a use when `touch`: it becomes the most
 * recently used). Returns the entry or NULL.
 */
static atc_entry_t *atc_lookup(pcie_dev_t *d, uint32_t pasid, uint64_t va,
                               uint8_t need, bool touch)
{
    for (uint64_t m = d->atc_shifts; m; m &= m - 1) {
        unsigned s = (unsigned)__builtin_ctzll(m);
        uint64_t tag = va >> s;
        atc_entry_t *set = atc_set_of(d, pasid, tag, s);
        for (unsigned w = 0; w < d->cfg.atc_ways; w++) {
            atc_entry_t *e = &set[w];
            if (e->shift == s && e->tag == tag && e->pasid == pasid &&
                (e->perm & need)) {
                if (touch)
                    e->lru = ++d->atc_clock;
                return e;
            }
        }
    }
    return NULL;
}

/*
 * Forget that an entry of this size is valid (size bookkeeping).
 */
static void atc_drop(pcie_dev_t *d, atc_entry_t *e)
{
    if (--d->atc_per_shift[e->shift] == 0)
        d->atc_shifts &= ~(1ull << e->shift);
    e->shift = 0;
}

/*
 * Cache a translation of 1 << shift bytes at untranslated `vbase`:
 * replaces the entry with the same key, else a free way, else the least
 * recently used one (an eviction).
 */
static void atc_insert(pcie_dev_t *d, uint32_t pasid, uint64_t vbase,
                       unsigned shift, uint64_t xbase, uint8_t perm)
{
    if (!d->atc)
        return;
    uint64_t tag = vbase >> shift;
    atc_entry_t *set = atc_set_of(d, pasid, tag, shift);
    atc_entry_t *victim = NULL;
    for (unsigned w = 0; w < d->cfg.atc_ways; w++) {
        atc_entry_t *e = &set[w];
        if (e->shift == shift && e->tag == tag && e->pasid == pasid) {
            victim = e;
            break;
        }
        if (!e->shift) {
            if (!victim || victim->shift)
                victim = e;
        } else if (!victim || (victim->shift && e->lru < victim->lru)) {
            victim = e;
        }
    }
    if (victim->shift) {
        if (!(victim->shift == shift && victim->tag == tag &&
              victim->pasid == pasid))
            d->s.atc_evictions->value++;
        atc_drop(d, victim);
    }
    victim->tag = tag;
    victim->pasid = pasid;
    victim->xbase = xbase;
    victim->perm = perm;
    victim->shift = (uint8_t)shift;
    victim->lru = ++d->atc_clock;
    d->atc_per_shift[shift]++;
    d->atc_shifts |= 1ull << shift;
    d->s.atc_fills->value++;
}

/*
 * Drop every entry overlapping [lo, hi] of `pasid` (or of every PASID).
 */
static void atc_invalidate(pcie_dev_t *d, bool any_pasid, uint32_t pasid,
                           uint64_t lo, uint64_t hi)
{
    if (!d->atc)
        return;
    size_t n = (size_t)d->atc_sets * d->cfg.atc_ways;
    for (size_t i = 0; i < n; i++) {
        atc_entry_t *e = &d->atc[i];
        if (!e->shift || (!any_pasid && e->pasid != pasid))
            continue;
        uint64_t base = e->tag << e->shift;
        uint64_t last = base + ((1ull << e->shift) - 1);
        if (base <= hi && last >= lo) {
            atc_drop(d, e);
            d->s.atc_inval->value++;
        }
    }
}

/* ------------------------------------------------------------ DMA flow */

static void job_start_page(pcie_dev_t *d, dma_job_t *j);
static void job_lookup(pcie_dev_t *d, dma_job_t *j, sim_time_t ts);
static void dev_dispatch(pcie_dev_t *d);
static void inv_data_done(pcie_dev_t *d, dma_job_t *j);
static void stop_job_done(pcie_dev_t *d, dma_job_t *j);
static pasid_stop_t *stop_find(pcie_dev_t *d, uint32_t pasid);

/*
 * Take the in-order gate off a job whose fault is resolved; returns
 * whether it held it (the caller reopens the queue with gate_reopen once
 * the job's own requests are handed to the link, so they go first).
 */
static inline bool gate_take_off(dma_job_t *j)
{
    bool held = j->gate;
    j->gate = false;
    return held;
}

/*
 * A gate holder let go: the queue moves again when no fault holds it.
 */
static void gate_reopen(pcie_dev_t *d, bool held)
{
    if (held && --d->gate == 0)
        dev_dispatch(d);
}

/*
 * Tell the owner a DMA ended.
 */
static inline void notify_done(pcie_dev_t *d, uint32_t pasid, uint64_t addr,
                               uint64_t len, bool write, bool ok)
{
    if (d->done_fn)
        d->done_fn(d->done_opaque, d, pasid, addr, len, write, ok);
}

/*
 * A DMA that never got a tag fails (its PASID is being stopped).
 */
static void job_drop(pcie_dev_t *d, dma_job_t *j)
{
    d->tot.dmas_failed++;
    d->s.dmas_failed->value++;
    d->s.dmas_stopped->value++;
    d->tot.in_flight--;
    uint32_t pasid = j->pasid;
    uint64_t addr = j->addr, len = j->len;
    bool write = j->write;
    sim_pool_put(&d->jobs, j);
    notify_done(d, pasid, addr, len, write, false);
}

/*
 * The DMA ends (ok or failed): free its tag, tell the owner, start the
 * next ones.
 */
static void job_finish(pcie_dev_t *d, dma_job_t *j, bool ok, int why)
{
    if (j->span) {
        sim_span_close(d->spans, j->span, sim_now(d->sim), ok);
        j->span = NULL;
    }
    if (ok) {
        d->tot.dmas_done++;
        d->s.dmas_done->value++;
    } else {
        d->tot.dmas_failed++;
        d->s.dmas_failed->value++;
        if (why == FAIL_STOPPED)
            d->s.dmas_stopped->value++;
    }
    if (j->stopping)
        stop_job_done(d, j);
    /* Remove from the active array (swap with the last). */
    dma_job_t *last = d->active[--d->tags_busy];
    d->active[j->slot] = last;
    last->slot = j->slot;
    d->tot.in_flight--;
    uint32_t pasid = j->pasid;
    uint64_t addr = j->addr, len = j->len;
    bool write = j->write;
    bool gated = j->gate;
    j->gate = false;
    sim_pool_put(&d->jobs, j);
    if (gated)
        d->gate--;
    /* The owner first (it may issue DMAs, which then start in order
     * behind the queued ones), then whatever can start. */
    notify_done(d, pasid, addr, len, write, ok);
    dev_dispatch(d);
}

/*
 * The data phase of the current page is over (sent, completed or
 * aborted): invalidations waiting for it may complete.
 */
static inline void data_end(pcie_dev_t *d, dma_job_t *j)
{
    if (d->invs_head && j->xlated)
        inv_data_done(d, j);
}

/*
 * The current page's bytes are done: the next page, or the end.
 */
static void job_chunk_done(pcie_dev_t *d, dma_job_t *j)
{
    data_end(d, j);
    d->s.bytes->value += j->chunk;
    j->off += j->chunk;
    if (j->span) {
        sim_span_close(d->spans, j->span, sim_now(d->sim), true);
        j->span = NULL;
    }
    if (j->off >= j->len)
        job_finish(d, j, true, FAIL_NONE);
    else if (j->stopping)
        job_finish(d, j, false, FAIL_STOPPED); /* no new requests */
    else
        job_start_page(d, j);
}

/* A posted write has been sent (its serialisation ended). */
static void ev_write_sent(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    job_chunk_done(opaque, (dma_job_t *)(uintptr_t)arg);
}

/*
 * Move the current page's bytes at time ts: to xpage (translated, from the
 * ATC or a completion) or to the untranslated address (device without
 * ATS). Reads are split by MRRS; a write is done once sent (posted).
 */
static void job_data(pcie_dev_t *d, dma_job_t *j, sim_time_t ts, bool xlated)
{
    uint64_t va = j->addr + j->off;
    uint64_t in_page = va & (PCIE_PAGE_SIZE - 1);
    uint64_t chunk = PCIE_PAGE_SIZE - in_page;
    if (chunk > j->len - j->off)
        chunk = j->len - j->off;
    j->chunk = chunk;
    j->state = JOB_DATA;
    j->xlated = xlated;
    j->data_seq = d->inv_seq;
    sim_span_mark(j->span, PCIE_STAGE_RETRY, ts);

    /* The requests are built in the link's storage (pcie_link_reserve):
     * this is the path every DMA takes. */
    uint8_t flags = xlated ? PCIE_F_XLATED : PCIE_F_PASID;
    uint32_t pasid = xlated ? 0 : j->pasid;
    uint64_t pa = j->xpage + in_page;
    if (j->write) {
        /* Posted: the write is done for the device once its last byte has
         * left (the end of its serialisation on the link). */
        pcie_msg_t *m = pcie_link_reserve(d->link, PCIE_UP);
        if (!m)
            return;
        m->type = PCIE_MSG_MEM_WR;
        m->flags = flags;
        m->rid = d->rid;
        m->pasid = pasid;
        m->len = (uint32_t)chunk;
        m->addr = pa;
        m->cookie = j;
        pcie_link_commit(d->link, PCIE_UP, ts, ev_write_sent, d,
                         (uint64_t)(uintptr_t)j);
        return;
    }
    uint64_t mrrs = d->mrrs;
    j->outstanding = 0;
    j->aborted = false;
    for (uint64_t done = 0; done < chunk;) {
        uint64_t n = chunk - done;
        if (n > mrrs)
            n = mrrs;
        pcie_msg_t *m = pcie_link_reserve(d->link, PCIE_UP);
        if (!m)
            return;
        m->type = PCIE_MSG_MEM_RD;
        m->flags = flags;
        m->rid = d->rid;
        m->pasid = pasid;
        m->len = (uint32_t)n;
        m->addr = pa + done;
        m->cookie = j;
        j->outstanding++;
        pcie_link_commit(d->link, PCIE_UP, ts, NULL, NULL, 0);
        done += n;
    }
}

/*
 * Look the current page up at time now; its request goes out at ts
 * (now + proc): data on an ATC hit (or untranslated, without ATS), else a
 * Translation Request.
 */
static void job_lookup(pcie_dev_t *d, dma_job_t *j, sim_time_t ts)
{
    uint64_t va = j->addr + j->off;
    if (!d->cfg.ats) {
        j->xpage = va & ~(PCIE_PAGE_SIZE - 1);
        job_data(d, j, ts, false);
        return;
    }
    atc_entry_t *e =
        d->atc_shifts ? atc_lookup(d, j->pasid, va, job_need(j), true) : NULL;
    if (e) {
        d->tot.atc_hits++;
        d->s.atc_hits->value++;
        uint64_t vbase = e->tag << e->shift;
        j->xpage = e->xbase + ((va & ~(PCIE_PAGE_SIZE - 1)) - vbase);
        bool held = gate_take_off(j);
        job_data(d, j, ts, true);
        gate_reopen(d, held);
        return;
    }
    d->tot.atc_misses++;
    d->s.atc_misses->value++;
    j->state = JOB_XLATE;
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_ATS_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | (j->write ? PCIE_F_W : PCIE_F_NW);
    m.pasid = j->pasid;
    m.addr = va & ~(PCIE_PAGE_SIZE - 1);
    m.cookie = j;
    m.span = j->span;
    d->s.xlate_reqs->value++;
    send_up_at(d, &m, ts);
}

/*
 * Start the DMA's next page: a fresh translation attempt.
 */
static void job_start_page(pcie_dev_t *d, dma_job_t *j)
{
    sim_time_t now = sim_now(d->sim);
    j->t_page = now;
    j->retries = 0;
    j->asked = false;
    job_lookup(d, j, now + proc_delay(d));
}

/*
 * Start queued DMAs while tags are free and the in-order gate is open.
 * Not re-entered: a DMA that ends while starting lets the loop go on.
 */
static void dev_dispatch(pcie_dev_t *d)
{
    if (d->dispatching)
        return;
    d->dispatching = true;
    while (d->q_head && d->tags_busy < d->cfg.tags) {
        if (d->cfg.in_order && d->gate) {
            break;
        }
        dma_job_t *j = d->q_head;
        d->q_head = j->next;
        if (!d->q_head)
            d->q_tail = NULL;
        j->next = NULL;
        if (d->nstops && stop_find(d, j->pasid)) {
            job_drop(d, j);
            continue;
        }
        j->slot = d->tags_busy;
        d->active[d->tags_busy++] = j;
        job_start_page(d, j);
    }
    d->dispatching = false;
    /* One update for every tag taken or freed at this instant. */
    if (d->s.inflight->value != (double)d->tags_busy)
        sim_gauge_set(d->s.inflight, sim_now(d->sim), (double)d->tags_busy);
}

/*
 * Issue a DMA: it queues for a tag (and the in-order gate) and starts at
 * once when it can.
 */
int pcie_dev_dma(pcie_dev_t *d, uint32_t pasid, uint64_t addr, uint64_t len,
                 bool write)
{
    if (len == 0 || addr + len < addr)
        return -EINVAL;
    dma_job_t *j = sim_pool_get(&d->jobs);
    if (!j)
        return -ENOMEM;
    j->pasid = pasid;
    j->addr = addr;
    j->len = len;
    j->write = write;
    j->state = JOB_QUEUED;
    d->tot.dmas_started++;
    d->tot.in_flight++;
    d->s.dmas->value++;
    if (d->cfg.in_order && d->gate)
        d->s.gate_blocked->value++;
    if (d->q_tail)
        d->q_tail->next = j;
    else
        d->q_head = j;
    d->q_tail = j;
    dev_dispatch(d);
    return 0;
}

/*
 * Register the DMA completion callback.
 */
void pcie_dev_set_dma_done(pcie_dev_t *d, pcie_dma_done_fn fn, void *opaque)
{
    d->done_fn = fn;
    d->done_opaque = opaque;
}

/* ------------------------------------------------------------------ PRI */

/*
 * Take the oldest free PRG index.
 */
static uint16_t prg_take(pcie_dev_t *d)
{
    uint16_t i = d->prg_free[d->prg_free_head];
    d->prg_free_head = (d->prg_free_head + 1) % PCIE_PRG_INDICES;
    d->prg_nfree--;
    return i;
}

/*
 * Free a group: its index goes to the back of the free list, its pages
 * leave the outstanding allocation, its timer is cancelled.
 */
static void prg_release(pcie_dev_t *d, unsigned prgi)
{
    prg_t *g = &d->prg[prgi];
    if (g->timer)
        sim_cancel(d->sim, g->timer);
    d->pri_outstanding -= g->npages;
    d->tot.pri_outstanding = d->pri_outstanding;
    sim_gauge_set(d->s.pri_outstanding, sim_now(d->sim),
                  (double)d->pri_outstanding);
    memset(g, 0, sizeof(*g));
    d->prg_free[(d->prg_free_head + d->prg_nfree) % PCIE_PRG_INDICES] =
        (uint16_t)prgi;
    d->prg_nfree++;
}

/*
 * Whether a group of n page requests may be sent now.
 */
static inline bool pri_has_room(const pcie_dev_t *d, unsigned n)
{
    return d->pri_outstanding + n <= d->pri_limit && d->prg_nfree > 0;
}

static void ev_prg_timeout(sim_t *sim, void *opaque, uint64_t arg);

/*
 * Send the job's page request group: one index, `want` units of the
 * allocation, one Page Request per page from the current one, L=1 on the
 * last (PCIe r4.0 10.4.1), all built in one processing delay.
 */
static void pri_issue(pcie_dev_t *d, dma_job_t *j)
{
    uint16_t prgi = prg_take(d);
    prg_t *g = &d->prg[prgi];
    unsigned n = j->want;
    g->job = j;
    g->pasid = j->pasid;
    g->npages = (uint16_t)n;
    g->busy = true;
    d->pri_outstanding += n;
    d->tot.pri_outstanding = d->pri_outstanding;
    sim_time_t now = sim_now(d->sim);
    sim_gauge_set(d->s.pri_outstanding, now, (double)d->pri_outstanding);
    j->prgi = prgi;
    j->asked = true;
    j->state = JOB_PRI;
    sim_time_t ts = now + proc_delay(d);
    uint64_t page = (j->addr + j->off) & ~(PCIE_PAGE_SIZE - 1);
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_PAGE_REQ;
    m.pasid = j->pasid;
    m.tag = prgi;
    m.span = j->span;
    for (unsigned i = 0; i < n; i++) {
        m.flags = PCIE_F_PASID | job_need(j) | (i + 1 == n ? PCIE_F_LAST : 0);
        m.addr = page + (uint64_t)i * PCIE_PAGE_SIZE;
        send_up_at(d, &m, ts);
    }
    d->tot.page_requests += n;
    d->tot.page_groups++;
    d->s.page_reqs->value += n;
    d->s.groups->value++;
    if (d->cfg.pri_timeout)
        g->timer = sim_schedule_at(d->sim, ts + d->cfg.pri_timeout,
                                   ev_prg_timeout, d, prgi);
}

/*
 * Send the groups of jobs waiting for allocation, in order (the head
 * blocks the others).
 */
static void pri_wake(pcie_dev_t *d)
{
    while (d->cap_head && d->pri_enabled && pri_has_room(d, d->cap_head->want)) {
        dma_job_t *j = d->cap_head;
        d->cap_head = j->next;
        if (!d->cap_head)
            d->cap_tail = NULL;
        j->next = NULL;
        sim_hist_add(d->s.cap_wait, sim_now(d->sim) - j->t_wait);
        pri_issue(d, j);
    }
}

/*
 * Pages the job's next group asks for: the current page and, with
 * fault_ahead > 1, the following pages of the same DMA up to the first one
 * the ATC already holds; never more than the allocation.
 */
static unsigned group_pages(pcie_dev_t *d, const dma_job_t *j)
{
    uint64_t va = (j->addr + j->off) & ~(PCIE_PAGE_SIZE - 1);
    uint64_t last = (j->addr + j->len - 1) & ~(PCIE_PAGE_SIZE - 1);
    unsigned n = 1;
    while (n < d->cfg.fault_ahead && va + n * PCIE_PAGE_SIZE <= last &&
           !(d->atc_shifts && atc_lookup(d, j->pasid, va + n * PCIE_PAGE_SIZE,
                                          job_need(j), false)))
        n++;
    if (n > d->pri_limit)
        n = (unsigned)d->pri_limit;
    return n;
}

/*
 * The translation of the current page was refused: ask for the page(s)
 * with PRI, or fail if PRI is absent or disabled.
 */
static void job_fault(pcie_dev_t *d, dma_job_t *j)
{
    sim_time_t now = sim_now(d->sim);
    if (!d->cfg.pri || !d->pri_enabled) {
        d->s.no_pri_faults->value++;
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    if (j->asked) {
        /* A Success response whose retry faulted again. */
        if (j->retries >= d->cfg.pri_retries) {
            d->s.retries_exhausted->value++;
            job_finish(d, j, false, FAIL_OTHER);
            return;
        }
        j->retries++;
        /* Each round trip is a fault of its own (a nested fault is two:
         * the guest's stage 1, then the host's stage 2): the first ends
         * here, at its retry's refusal, and the next starts with that
         * retry. */
        if (j->span) {
            sim_span_mark(j->span, PCIE_STAGE_RETRY, now);
            sim_span_close(d->spans, j->span, now, true);
            j->span = NULL;
        }
        if (d->spans)
            j->span = sim_span_open(d->spans, j->t_retry);
    } else if (d->spans && !j->span) {
        j->span = sim_span_open(d->spans, j->t_page);
    }
    sim_span_mark(j->span, PCIE_STAGE_ATS_FAULT, now);
    if (d->cfg.in_order && !j->gate) {
        j->gate = true;
        d->gate++;
    }
    j->want = (uint16_t)group_pages(d, j);
    if (!d->cap_head && pri_has_room(d, j->want)) {
        pri_issue(d, j);
        return;
    }
    j->state = JOB_PRI_WAIT;
    j->t_wait = now;
    if (d->cap_tail)
        d->cap_tail->next = j;
    else
        d->cap_head = j;
    d->cap_tail = j;
}

/*
 * Free every group and fail the DMAs waiting for their responses: PRI was
 * disabled (Response Failure: the DMAs waiting for allocation fail too)
 * or reset (`reenable`: PRI is enabled again before the DMAs are failed,
 * and DMAs waiting for allocation keep waiting).
 */
static void pri_abandon_all(pcie_dev_t *d, bool reenable)
{
    dma_job_t *fail[PCIE_PRG_INDICES];
    unsigned nfail = 0;
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++) {
        if (!d->prg[i].busy)
            continue;
        if (d->prg[i].job)
            fail[nfail++] = d->prg[i].job;
        prg_release(d, i);
    }
    dma_job_t *w = NULL;
    if (reenable) {
        d->pri_status = 0;
        d->pri_enabled = true;
    } else {
        w = d->cap_head;
        d->cap_head = d->cap_tail = NULL;
    }
    for (unsigned k = 0; k < nfail; k++)
        job_finish(d, fail[k], false, FAIL_OTHER);
    while (w) {
        dma_job_t *next = w->next;
        w->next = NULL;
        job_finish(d, w, false, FAIL_OTHER);
        w = next;
    }
}

/*
 * A group's response did not come in time: the device gives the group up
 * (its DMA fails, its allocation and index are freed; a response arriving
 * later finds the index free and counts as UPRGI). PCIe defines no
 * device-side response timeout; this is a device choice [I].
 */
static void ev_prg_timeout(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    pcie_dev_t *d = opaque;
    prg_t *g = &d->prg[arg];
    g->timer = 0;
    dma_job_t *j = g->job;
    d->s.timeouts->value++;
    prg_release(d, (unsigned)arg);
    if (j)
        job_finish(d, j, false, FAIL_OTHER);
    pri_wake(d);
}

/*
 * A PRG Response arrives: match it to its group, then act on the code.
 */
static void rx_prg_resp(pcie_dev_t *d, const pcie_msg_t *m)
{
    sim_time_t now = sim_now(d->sim);
    unsigned prgi = m->tag % PCIE_PRG_INDICES;
    d->tot.prg_responses++;
    if (!d->pri_enabled) {
        /* After a Response Failure the function ignores PRG Responses
         * until PRI is re-enabled (fault-path-semantics 1b item 9). */
        d->s.resp_ignored->value++;
        return;
    }
    prg_t *g = &d->prg[prgi];
    bool has_pasid = m->flags & PCIE_F_PASID;
    if (g->busy && d->cfg.prg_pasid_required && !has_pasid) {
        /* PCIe r4.0 10.5.2.3: behaviour undefined. This device keys its
         * groups by (PASID, index) and cannot match the response: it is
         * ignored like an unexpected index. */
        d->s.resp_missing_pasid->value++;
        d->s.uprgi->value++;
        d->pri_status |= PCIE_PRI_STATUS_UPRGI;
        return;
    }
    if (!g->busy || (d->cfg.prg_pasid_required && m->pasid != g->pasid)) {
        /* PRI Status UPRGI: a response for an index not outstanding is
         * ignored (fault-path-semantics 1b item 11). */
        d->s.uprgi->value++;
        d->pri_status |= PCIE_PRI_STATUS_UPRGI;
        return;
    }
    if (!d->cfg.prg_pasid_required && has_pasid) {
        /* PCIe r4.0 10.5.2.3: undefined; accepted (matched by index). */
        d->s.resp_unexpected_pasid->value++;
    }
    dma_job_t *j = g->job;
    prg_release(d, prgi);
    if (!j) {
        /* The DMA went with a PASID stop; the response only frees the
         * index and the allocation. */
        d->s.resp_orphan->value++;
        pri_wake(d);
        return;
    }
    sim_span_mark(j->span, PCIE_STAGE_RESPONSE, now);
    if (m->code == PCIE_PRG_SUCCESS) {
        d->s.resp_success->value++;
        /* Re-issue the translation request for the page. */
        j->t_retry = now;
        job_lookup(d, j, now + proc_delay(d));
    } else if (m->code == PCIE_PRG_INVALID) {
        d->s.resp_invalid->value++;
        job_finish(d, j, false, FAIL_OTHER);
    } else {
        /* Response Failure, or an unused code treated as one: PRI is
         * disabled on the function. */
        d->s.resp_failure->value++;
        d->pri_enabled = false;
        d->pri_status |= PCIE_PRI_STATUS_RF;
        job_finish(d, j, false, FAIL_OTHER);
        pri_abandon_all(d, false);
        return;
    }
    pri_wake(d);
}

/*
 * PRI Status register as the device reports it.
 */
unsigned pcie_dev_pri_status(const pcie_dev_t *d)
{
    unsigned s = d->pri_status;
    if (!d->pri_enabled && d->pri_outstanding == 0)
        s |= PCIE_PRI_STATUS_STOPPED;
    if (d->cfg.prg_pasid_required)
        s |= PCIE_PRI_STATUS_PASID;
    return s;
}

/*
 * Disable, reset and enable PRI again (Linux pci_reset_pri then
 * pci_enable_pri).
 */
void pcie_dev_pri_reset(pcie_dev_t *d)
{
    if (!d->cfg.pri || !d->cfg.ats)
        return;
    d->s.pri_resets->value++;
    pri_abandon_all(d, true);
    pri_wake(d);
}

/* ------------------------------------------------------ completions */

/*
 * A Translation Completion arrives: fill the ATC and move the data, or
 * fault.
 */
static void rx_ats_cpl(pcie_dev_t *d, const pcie_msg_t *m)
{
    dma_job_t *j = m->cookie;
    if (j->stopping) {
        job_finish(d, j, false, FAIL_STOPPED);
        return;
    }
    if (m->code != PCIE_CPL_SC) {
        d->s.cpl_errors->value++;
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    if (!(m->perm & job_need(j))) {
        job_fault(d, j);
        return;
    }
    /* The translation covers the naturally aligned 1 << size_shift bytes
     * around the requested page (PCIe r4.0 10.2.3: S bit and size). */
    unsigned shift = m->size_shift >= PCIE_PAGE_SHIFT && m->size_shift < 64
                         ? m->size_shift
                         : PCIE_PAGE_SHIFT;
    uint64_t mask = (1ull << shift) - 1;
    uint64_t va = (j->addr + j->off) & ~(PCIE_PAGE_SIZE - 1);
    uint64_t vbase = va & ~mask;
    uint64_t xbase = m->xaddr & ~mask;
    atc_insert(d, j->pasid, vbase, shift, xbase, m->perm);
    j->xpage = xbase + (va - vbase);
    bool held = gate_take_off(j);
    job_data(d, j, sim_now(d->sim), true);
    gate_reopen(d, held);
}

/*
 * A completion with data for a read request: the page is done when all its
 * completions are back; an error status aborts the DMA (a device without
 * ATS: the IOMMU found an unrecoverable fault).
 */
static void rx_mem_cpl(pcie_dev_t *d, const pcie_msg_t *m)
{
    dma_job_t *j = m->cookie;
    if (m->code != PCIE_CPL_SC)
        j->aborted = true;
    if (--j->outstanding)
        return;
    if (j->aborted) {
        data_end(d, j);
        d->s.dmas_aborted->value++;
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    job_chunk_done(d, j);
}

/* ------------------------------------------------------ invalidation */

/*
 * Whether the job's current data phase uses a translation the invalidation
 * dropped.
 */
static inline bool inv_covers(const inv_track_t *t, const dma_job_t *j)
{
    if (!t->any_pasid && t->pasid != j->pasid)
        return false;
    uint64_t va = j->addr + j->off;
    return va <= t->hi && va + j->chunk - 1 >= t->lo;
}

/*
 * Send an invalidation's completion and forget it.
 */
static void inv_complete(pcie_dev_t *d, inv_track_t *t)
{
    for (inv_track_t **pp = &d->invs_head; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    sim_hist_add(d->s.inv_latency, sim_now(d->sim) - t->t0);
    send_up_at(d, &t->cpl, sim_now(d->sim));
    sim_pool_put(&d->invs, t);
}

/*
 * A translated data phase ended: invalidations that arrived while it used
 * a dropped translation stop waiting for it.
 */
static void inv_data_done(pcie_dev_t *d, dma_job_t *j)
{
    inv_track_t *t = d->invs_head;
    while (t) {
        inv_track_t *next = t->next;
        if (j->data_seq < t->seq && inv_covers(t, j) && --t->waits == 0 &&
            t->proc_done)
            inv_complete(d, t);
        t = next;
    }
}

/* The device's invalidation processing time has passed. */
static void ev_inv_proc(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    inv_track_t *t = (inv_track_t *)(uintptr_t)arg;
    t->proc_done = true;
    if (t->waits == 0)
        inv_complete(opaque, t);
}

/*
 * An ATS Invalidate Request: drop the matching ATC entries now; complete
 * after inv_proc and after every data phase that used a dropped
 * translation (PCIe ATS: the completion means the function no longer uses
 * the translations; posted writes go ahead of it on the link, reads must
 * have completed [I: the rule as the spec intends it, not read in the
 * spec]). Without a PASID prefix every PASID's entries in the range go.
 */
static void rx_inv_req(pcie_dev_t *d, const pcie_msg_t *m)
{
    d->s.inv_reqs->value++;
    inv_track_t *t = sim_pool_get(&d->invs);
    if (!t) {
        sim_logf(sim_log(d->sim), SIM_LOG_ERROR,
                 "device%u: out of memory for an invalidation", d->index);
        sim_stop(d->sim);
        return;
    }
    t->seq = ++d->inv_seq;
    t->any_pasid = !(m->flags & PCIE_F_PASID);
    t->pasid = m->pasid;
    if (m->len == 0) {
        t->lo = 0;
        t->hi = UINT64_MAX;
    } else {
        t->lo = m->addr;
        t->hi = m->len - 1 > UINT64_MAX - m->addr ? UINT64_MAX
                                                  : m->addr + m->len - 1;
    }
    t->t0 = sim_now(d->sim);
    atc_invalidate(d, t->any_pasid, t->pasid, t->lo, t->hi);
    for (unsigned i = 0; i < d->tags_busy; i++) {
        const dma_job_t *j = d->active[i];
        if (j->state == JOB_DATA && j->xlated && inv_covers(t, j))
            t->waits++;
    }
    t->cpl.type = PCIE_MSG_INV_CPL;
    t->cpl.tag = m->tag;
    t->cpl.pasid = m->pasid;
    t->cpl.flags = m->flags & PCIE_F_PASID;
    t->cpl.cookie = m->cookie;
    t->next = d->invs_head;
    d->invs_head = t;
    sim_schedule(d->sim, sim_dist_draw(&d->cfg.inv_proc, &d->rng), ev_inv_proc,
                 d, (uint64_t)(uintptr_t)t);
}

/* ------------------------------------------------------- PASID stop */

/*
 * The stop in progress for a PASID, or NULL.
 */
static pasid_stop_t *stop_find(pcie_dev_t *d, uint32_t pasid)
{
    for (unsigned i = 0; i < DEV_MAX_STOPS; i++)
        if (d->stops[i].busy && d->stops[i].pasid == pasid)
            return &d->stops[i];
    return NULL;
}

/* The stop completes: send the Stop Marker if one is due, tell the owner. */
static void ev_stop_done(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    pcie_dev_t *d = opaque;
    pasid_stop_t *st = &d->stops[arg];
    if (st->marker) {
        /* Stop Marker: a Page Request with L=1, R=W=0 and the PASID; not
         * a page request, it takes no allocation and gets no response
         * (fault-path-semantics 1a item 4). */
        pcie_msg_t m = {0};
        m.type = PCIE_MSG_PAGE_REQ;
        m.flags = PCIE_F_PASID | PCIE_F_LAST;
        m.pasid = st->pasid;
        send_up_at(d, &m, sim_now(d->sim));
        d->tot.stop_markers++;
        d->s.stop_markers->value++;
    }
    pcie_stop_done_fn done = st->done;
    void *op = st->opaque;
    uint32_t pasid = st->pasid;
    memset(st, 0, sizeof(*st));
    d->nstops--;
    if (done)
        done(op, d, pasid);
}

/*
 * Nothing of the PASID is in flight any more: complete the stop after
 * building the Stop Marker (if page requests of the PASID are still
 * outstanding), or at once.
 */
static void stop_complete(pcie_dev_t *d, pasid_stop_t *st)
{
    st->finishing = true;
    st->marker = false;
    for (unsigned i = 0; i < PCIE_PRG_INDICES && !st->marker; i++)
        st->marker = d->prg[i].busy && d->prg[i].pasid == st->pasid;
    sim_schedule(d->sim, st->marker ? proc_delay(d) : 0, ev_stop_done, d,
                 (uint64_t)(st - d->stops));
}

/*
 * A DMA of a PASID being stopped has ended.
 */
static void stop_job_done(pcie_dev_t *d, dma_job_t *j)
{
    j->stopping = false;
    pasid_stop_t *st = stop_find(d, j->pasid);
    if (st && --st->waiting == 0 && !st->finishing)
        stop_complete(d, st);
}

/*
 * Take the jobs of `pasid` out of a queue (the others keep their order);
 * returns them as a list.
 */
static dma_job_t *queue_take_pasid(dma_job_t **head, dma_job_t **tail,
                                   uint32_t pasid)
{
    dma_job_t *keep = NULL, *keep_tail = NULL, *taken = NULL;
    for (dma_job_t *j = *head, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        if (j->pasid == pasid) {
            j->next = taken;
            taken = j;
            continue;
        }
        if (keep_tail)
            keep_tail->next = j;
        else
            keep = j;
        keep_tail = j;
    }
    *head = keep;
    *tail = keep_tail;
    return taken;
}

/*
 * The device side of the PASID stop protocol (see pcie.h).
 */
int pcie_dev_stop_pasid(pcie_dev_t *d, uint32_t pasid, pcie_stop_done_fn done,
                        void *opaque)
{
    if (stop_find(d, pasid))
        return -EBUSY;
    pasid_stop_t *st = NULL;
    for (unsigned i = 0; i < DEV_MAX_STOPS && !st; i++)
        if (!d->stops[i].busy)
            st = &d->stops[i];
    if (!st)
        return -EBUSY;
    *st = (pasid_stop_t){.done = done, .opaque = opaque, .pasid = pasid,
                         .busy = true};
    d->nstops++;
    /* Queued DMAs of the PASID fail (they never issued anything), and so
     * do DMAs waiting for allocation. */
    dma_job_t *drop = queue_take_pasid(&d->q_head, &d->q_tail, pasid);
    dma_job_t *cap_fail = queue_take_pasid(&d->cap_head, &d->cap_tail, pasid);
    /* Active DMAs: those waiting for a response fail now (their group
     * stays outstanding until the response or the Stop Marker covers it);
     * those with a translation request or data in flight finish it. */
    for (unsigned i = 0; i < d->tags_busy; i++) {
        dma_job_t *j = d->active[i];
        if (j->pasid != pasid || j->stopping || j->state == JOB_PRI_WAIT)
            continue;
        if (j->state == JOB_PRI) {
            d->prg[j->prgi].job = NULL;
            j->state = JOB_PRI_WAIT; /* marks it for the loop below */
            j->next = cap_fail;
            cap_fail = j;
        } else {
            j->stopping = true;
            st->waiting++;
        }
    }
    while (drop) {
        dma_job_t *next = drop->next;
        drop->next = NULL;
        job_drop(d, drop);
        drop = next;
    }
    while (cap_fail) {
        dma_job_t *next = cap_fail->next;
        cap_fail->next = NULL;
        job_finish(d, cap_fail, false, FAIL_STOPPED);
        cap_fail = next;
    }
    if (st->busy && st->waiting == 0 && !st->finishing)
        stop_complete(d, st);
    pri_wake(d);
    return 0;
}

/* --------------------------------------------------------- messages */

/*
 * Messages arriving at the device from its link.
 */
static void dev_rx(void *opaque, const pcie_msg_t *m)
{
    pcie_dev_t *d = opaque;
    switch (m->type) {
    case PCIE_MSG_MEM_CPL:
        rx_mem_cpl(d, m);
        break;
    case PCIE_MSG_ATS_CPL:
        rx_ats_cpl(d, m);
        break;
    case PCIE_MSG_PRG_RESP:
        rx_prg_resp(d, m);
        break;
    case PCIE_MSG_INV_REQ:
        rx_inv_req(d, m);
        break;
    default:
        sim_logf(sim_log(d->sim), SIM_LOG_WARN,
                 "device%u: unexpected %s message ignored", d->index,
                 pcie_msg_name(m->type));
        break;
    }
}

/*
 * The root complex sends a message to this device now.
 */
void pcie_dev_send_down(pcie_dev_t *d, const pcie_msg_t *msg)
{
    pcie_link_send(d->link, PCIE_DOWN, msg);
}

/*
 * The root complex hands a message to this device's link for `when`.
 */
void pcie_dev_send_down_at(pcie_dev_t *d, const pcie_msg_t *msg,
                           sim_time_t when)
{
    pcie_link_send_at(d->link, PCIE_DOWN, msg, when);
}

/* ------------------------------------------------------------ lifecycle */

/*
 * Register the device's statistics under "device<index>.".
 */
static int dev_stats(pcie_dev_t *d, sim_stats_t *st)
{
    char p[64], n[128];
    snprintf(p, sizeof(p), "device%u", d->index);
#define C(field, suffix, desc, unit)                                           \
    do {                                                                       \
        snprintf(n, sizeof(n), "%s.%s", p, suffix);                            \
        if (!(d->s.field = sim_stats_counter(st, n, desc, unit)))              \
            return -ENOMEM;                                                    \
    } while (0)
    C(dmas, "dmas", "DMAs issued by the trace", "DMAs");
    C(dmas_done, "dmas_done", "DMAs completed", "DMAs");
    C(dmas_failed, "dmas_failed",
      "DMAs that failed (fault not recovered, aborted or stopped)", "DMAs");
    C(dmas_aborted, "dmas_aborted",
      "DMAs aborted by an error completion (unrecoverable fault of an "
      "untranslated request)",
      "DMAs");
    C(dmas_stopped, "dmas_stopped", "DMAs failed by a PASID stop", "DMAs");
    C(bytes, "bytes", "bytes moved by completed DMA parts", "bytes");
    C(gate_blocked, "in_order_blocked",
      "DMAs issued while a fault blocked the queue (device.in_order)",
      "DMAs");
    C(atc_hits, "atc.hits", "ATC lookups that hit", "lookups");
    C(atc_misses, "atc.misses", "ATC lookups that missed", "lookups");
    C(atc_fills, "atc.fills", "translations cached in the ATC", "entries");
    C(atc_evictions, "atc.evictions",
      "ATC entries replaced by another translation", "entries");
    C(atc_inval, "atc.invalidated", "ATC entries invalidated", "entries");
    C(xlate_reqs, "ats.requests", "ATS translation requests sent",
      "requests");
    C(cpl_errors, "ats.cpl_errors", "translation completions with UR/CA",
      "completions");
    C(inv_reqs, "ats.inv_requests", "ATS Invalidate Requests received",
      "requests");
    C(page_reqs, "pri.page_requests", "PRI page requests sent", "requests");
    C(groups, "pri.groups", "PRI page request groups sent", "groups");
    C(resp_success, "pri.resp_success", "PRG responses with Success",
      "responses");
    C(resp_invalid, "pri.resp_invalid", "PRG responses with Invalid Request",
      "responses");
    C(resp_failure, "pri.resp_failure",
      "PRG responses with Response Failure or an unused code (PRI disabled)",
      "responses");
    C(resp_ignored, "pri.resp_ignored",
      "PRG responses ignored because PRI was disabled", "responses");
    C(resp_orphan, "pri.resp_stopped",
      "PRG responses for groups whose DMA went with a PASID stop",
      "responses");
    C(uprgi, "pri.uprgi",
      "responses for a PRG index not outstanding (UPRGI), ignored",
      "responses");
    C(resp_missing_pasid, "pri.resp_missing_pasid",
      "responses without the PASID the device requires, ignored",
      "responses");
    C(resp_unexpected_pasid, "pri.resp_unexpected_pasid",
      "responses with a PASID the device does not require, accepted",
      "responses");
    C(timeouts, "pri.timeouts",
      "page request groups given up after device.pri_timeout", "groups");
    C(retries_exhausted, "pri.retries_exhausted",
      "DMAs failed after pri_retries re-faults", "DMAs");
    C(no_pri_faults, "faults_without_pri",
      "translation faults with PRI absent or disabled", "faults");
    C(stop_markers, "pri.stop_markers", "Stop Markers sent", "messages");
    C(pri_resets, "pri.resets", "PRI resets by the host", "resets");
#undef C
    snprintf(n, sizeof(n), "%s.pri.capacity_wait", p);
    d->s.cap_wait = sim_stats_hist(
        st, n, "time a fault waited for page request allocation", "ps");
    snprintf(n, sizeof(n), "%s.ats.inv_latency", p);
    d->s.inv_latency = sim_stats_hist(
        st, n, "Invalidate Request arrival to Invalidate Completion sent",
        "ps");
    snprintf(n, sizeof(n), "%s.tags_busy", p);
    d->s.inflight = sim_stats_gauge(st, n, "DMA tags in use", "tags");
    snprintf(n, sizeof(n), "%s.pri.outstanding", p);
    d->s.pri_outstanding =
        sim_stats_gauge(st, n, "page requests awaiting a response", "requests");
    if (!d->s.cap_wait || !d->s.inv_latency || !d->s.inflight ||
        !d->s.pri_outstanding)
        return -ENOMEM;
    return 0;
}

/*
 * Create a device and its link.
 */
pcie_dev_t *pcie_dev_create(sim_t *sim, sim_stats_t *st, unsigned index,
                            const pcie_dev_cfg_t *cfg,
                            const pcie_link_cfg_t *link_cfg,
                            const pcie_dev_port_t *port, sim_spans_t *spans,
                            uint64_t seed)
{
    pcie_dev_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->sim = sim;
    d->cfg = *cfg;
    if (!d->cfg.tags)
        d->cfg.tags = 1;
    if (!d->cfg.fault_ahead)
        d->cfg.fault_ahead = 1;
    d->index = index;
    d->rid = (uint16_t)(cfg->rid_base + index);
    d->spans = spans;
    d->mrrs = link_cfg->mrrs ? link_cfg->mrrs : PCIE_PAGE_SIZE;
    d->pri_enabled = cfg->pri && cfg->ats;
    d->pri_limit = cfg->pri_capacity < cfg->pri_alloc ? cfg->pri_capacity
                                                      : cfg->pri_alloc;
    if (!d->pri_limit)
        d->pri_limit = 1;
    d->proc_fixed = cfg->proc.kind == SIM_DIST_FIXED;
    char name[64];
    snprintf(name, sizeof(name), "device%u", index);
    sim_rng_seed(&d->rng, seed, name);
    if (d->proc_fixed)
        d->proc_value = sim_dist_draw(&cfg->proc, &d->rng);
    sim_pool_init(&d->jobs, sizeof(dma_job_t), 256);
    sim_pool_init(&d->invs, sizeof(inv_track_t), 16);
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++)
        d->prg_free[i] = (uint16_t)i;
    d->prg_nfree = PCIE_PRG_INDICES;
    d->active = calloc(d->cfg.tags, sizeof(*d->active));
    if (!d->active)
        goto fail;
    if (cfg->ats && cfg->atc_entries) {
        uint64_t ways = cfg->atc_ways ? cfg->atc_ways : 1;
        if (ways > cfg->atc_entries)
            ways = cfg->atc_entries;
        d->cfg.atc_ways = ways;
        d->atc_sets = cfg->atc_entries / ways;
        d->atc = calloc((size_t)d->atc_sets * ways, sizeof(atc_entry_t));
        if (!d->atc)
            goto fail;
    }
    snprintf(name, sizeof(name), "link%u", index);
    d->link = pcie_link_create(sim, st, name, link_cfg, port->up_rx,
                               port->up_opaque, dev_rx, d);
    if (!d->link || dev_stats(d, st))
        goto fail;
    return d;
fail:
    pcie_dev_destroy(d);
    return NULL;
}

/*
 * Free a device, its link and everything in flight.
 */
void pcie_dev_destroy(pcie_dev_t *d)
{
    if (!d)
        return;
    pcie_link_destroy(d->link);
    sim_pool_fini(&d->jobs);
    sim_pool_fini(&d->invs);
    free(d->active);
    free(d->atc);
    free(d);
}

/*
 * The device's requester id.
 */
uint16_t pcie_dev_rid(const pcie_dev_t *d)
{
    return d->rid;
}

/*
 * Copy the device's totals.
 */
void pcie_dev_totals(const pcie_dev_t *d, pcie_dev_totals_t *out)
{
    *out = d->tot;
    out->mem_grows = d->jobs.nchunks + d->invs.nchunks +
                     pcie_link_mem_grows(d->link);
}

/*
 * Derived statistics of the device (its link's utilisation).
 */
void pcie_dev_finish_stats(pcie_dev_t *d)
{
    pcie_link_finish_stats(d->link);
}
