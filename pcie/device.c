/*
 * device.c - the core of a PCIe endpoint: DMA tags and flow, completions,
 * messages and lifecycle. The device's other units sit below it: the ATC
 * and ATS invalidation (atc.c), the Page Request Interface (pri.c) and
 * the PASID stop protocol (stop.c); they reach back into the core only
 * through the ports it installs.
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
 *    means "not present" (PCIe r4.0 10.2.3; riscv-non-isa/riscv-iommu
 *    issues #303, #405) and makes a PRI-capable device ask for the page
 *    with PRI (pri.c);
 *  - device without ATS: untranslated memory requests with the PASID; the
 *    IOMMU translates them; a read completion with UR (an unrecoverable
 *    fault) aborts the DMA. An IOMMU in an SMMU-style stall mode holds the
 *    request: the device just waits for its completion.
 * With device.in_order, a fault closes a gate that holds back the DMAs
 * queued behind it until the faulting one has its translation or failed.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/atc.h"
#include "pcie/dev_types.h"
#include "pcie/device.h"
#include "pcie/pri.h"
#include "pcie/stop.h"

static const char *const fault_policy_names[] = {"pri", "block", "partial",
                                                 NULL};

const sim_param_t pcie_dev_params[] = {
    {"device", "count", SIM_PARAM_UINT, "1", 1, 256, "devices",
     "number of devices; without [device.NAME] sections, devices dev0 .. "
     "dev<count-1>; in [device.NAME], the devices of that class, NAME0 .. "
     "(not inherited: 1 unless the class sets it)",
     NULL, offsetof(pcie_dev_cfg_t, count)},
    {"device", "rid_base", SIM_PARAM_UINT, "0x100", 0, 0xff00, "",
     "requester id of device 0; device i of the machine has rid_base + i; a "
     "[device.NAME] that sets it numbers its own devices from it",
     NULL, offsetof(pcie_dev_cfg_t, rid_base)},
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
    {"device", "pri_reset_delay", SIM_PARAM_TIME, "0", 0, 1e12, "ns",
     "after a Response Failure disabled PRI (PCIe r4.0 10.4.2.1), its driver "
     "resets and enables PRI again this much later (Linux pci_reset_pri + "
     "pci_enable_pri); 0: never, as Linux, which does not recover PRI",
     NULL, offsetof(pcie_dev_cfg_t, pri_reset_delay)},
    {"device", "prg_pasid_required", SIM_PARAM_BOOL, "true", 0, 0, "",
     "PRI Status 'PRG Response PASID Required' (PCIe r4.0 10.5.2.3): "
     "responses must carry the group's PASID (Intel enables PRI on a PASID "
     "device only with it set)",
     NULL, offsetof(pcie_dev_cfg_t, prg_pasid_required)},
    {"device", "proc", SIM_PARAM_DIST, "50", 0, 0, "ns",
     "ATC lookup and building a translation or page request (no published "
     "figure: [I])",
     NULL, offsetof(pcie_dev_cfg_t, proc)},
    {"device", "inv_proc", SIM_PARAM_DIST, "500", 0, 0, "ns",
     "ATS Invalidate Request to Invalidate Completion in the device, "
     "before waiting for requests that used a dropped translation (IAA "
     "device-TLB invalidation 0.1-2 us, 67% below 1 us, measured with the "
     "IOMMU: Linux dmar_perf_latency output in QEMU "
     "docs/devel/migration/qpl-compression.rst [R]; the device's part "
     "alone: [I])",
     NULL, offsetof(pcie_dev_cfg_t, inv_proc)},
    {"device", "fault_policy", SIM_PARAM_ENUM, "pri", 0, 0, "",
     "what a translation fault does: pri (the faulting DMA waits for its "
     "page response, the others go on), block (the whole device waits "
     "until the fault is resolved: Intel DSA block on fault), partial (the "
     "DMA completes partially, no page request: software touches the page "
     "and resubmits the rest after partial_cost; DSA without block on "
     "fault); see docs/model.md, Device fault policies",
     fault_policy_names, offsetof(pcie_dev_cfg_t, fault_policy)},
    {"device", "partial_cost", SIM_PARAM_DIST, "3500", 0, 0, "ns",
     "fault_policy = partial: host software from the partial completion to "
     "the resubmission of the rest: completion noticed (2 us [I]), the page "
     "touched (a minor fault, 1 us as host.mm_minor [R]), descriptor "
     "resubmitted (0.5 us [I])",
     NULL, offsetof(pcie_dev_cfg_t, partial_cost)},
};
const unsigned pcie_dev_nparams =
    sizeof(pcie_dev_params) / sizeof(pcie_dev_params[0]);

/*
 * Constraints between [device] keys.
 */
int pcie_dev_cfg_check(const pcie_dev_cfg_t *c, const char *section,
                       sim_log_t *log)
{
    const char *sec = section ? section : "device";
    if (c->atc_entries &&
        (c->atc_ways > c->atc_entries || c->atc_entries % c->atc_ways)) {
        sim_logf(log, SIM_LOG_ERROR,
                 "%s.atc_ways = %" PRIu64
                 " must divide %s.atc_entries = %" PRIu64,
                 sec, c->atc_ways, sec, c->atc_entries);
        return -EINVAL;
    }
    return 0;
}

/* Why a DMA failed (each has its counter). */
enum fail_reason {
    FAIL_NONE = 0,
    FAIL_STOPPED, /* its PASID was stopped */
    FAIL_OTHER,   /* counted where it happened */
};

struct pcie_dev {
    pcie_dev_env_t env; /* shared with the units below */
    pcie_dev_cfg_t cfg;
    uint64_t mrrs;
    sim_pool_t jobs;
    pcie_dma_done_fn done_fn;
    void *done_opaque;
    pcie_fixup_fn fixup_fn; /* fault_policy = partial (may be NULL) */
    void *fixup_opaque;
    unsigned st_retry;     /* span stage stamped when the data phase starts */
    unsigned st_ats_fault; /* stamped by a partial completion */

    /* DMA tags and queues */
    unsigned tags_busy;
    pcie_job_t **active;         /* the DMAs holding a tag */
    pcie_job_t *q_head, *q_tail; /* DMAs waiting for a tag */
    unsigned gate;               /* in-order gate holders */
    unsigned blocked;            /* faults blocking the device (block) */
    unsigned parked;             /* DMAs held at translation meanwhile */
    sim_time_t t_blocked;        /* when the device became blocked */
    bool dispatching;

    pcie_atc_t atc;
    pcie_pri_t pri;
    pcie_stop_t stop;

    struct {
        sim_counter_t *dmas, *dmas_done, *dmas_failed, *dmas_aborted,
            *dmas_stopped, *bytes, *gate_blocked;
        sim_counter_t *atc_hits, *atc_misses;
        sim_counter_t *xlate_reqs, *cpl_errors;
        sim_counter_t *block_faults, *block_held;
        sim_counter_t *partial_cpl, *partial_bytes, *partial_resubmits,
            *partial_failed;
        sim_hist_t *dma_latency, *block_time, *partial_sw;
        sim_gauge_t *inflight;
    } s;
};

/* ------------------------------------------------------------ DMA flow */

static void job_start_page(pcie_dev_t *d, pcie_job_t *j);
static void job_lookup(pcie_dev_t *d, pcie_job_t *j, sim_time_t ts);
static void dev_dispatch(pcie_dev_t *d);

/*
 * Take the in-order gate off a job whose fault is resolved; returns
 * whether it held it (the caller reopens the queue with gate_reopen once
 * the job's own requests are handed to the link, so they go first).
 */
static inline bool gate_take_off(pcie_job_t *j)
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
 * A DMA without a tag fails: it never got one (its PASID is being
 * stopped), or software gave its remainder up (fault_policy = partial).
 */
static void job_end_untagged(pcie_dev_t *d, pcie_job_t *j, int why)
{
    if (j->span) {
        sim_span_close(d->env.spans, j->span, sim_now(d->env.sim), false);
        j->span = NULL;
    }
    d->s.dmas_failed->value++;
    if (why == FAIL_STOPPED)
        d->s.dmas_stopped->value++;
    uint32_t pasid = j->pasid;
    uint64_t addr = j->addr, len = j->len;
    bool write = j->write;
    sim_pool_put(&d->jobs, j);
    notify_done(d, pasid, addr, len, write, false);
}

static void job_drop(pcie_dev_t *d, pcie_job_t *j)
{
    job_end_untagged(d, j, FAIL_STOPPED);
}

/*
 * The DMA gives its tag back (swap with the last of the active array).
 */
static void active_remove(pcie_dev_t *d, pcie_job_t *j)
{
    pcie_job_t *last = d->active[--d->tags_busy];
    d->active[j->slot] = last;
    last->slot = j->slot;
}

/* ------------------------------------------------ fault policy: block */

/*
 * fault_policy = block: while a fault blocks the device, a DMA that
 * reaches translation (other than the faulting one) is parked: it holds
 * its tag and sends nothing until the device resumes.
 */
static inline bool dev_blocked(const pcie_dev_t *d, const pcie_job_t *j)
{
    return d->blocked && !j->blocker;
}

static void job_park(pcie_dev_t *d, pcie_job_t *j)
{
    j->parked = true;
    j->state = PCIE_JOB_QUEUED;
    d->parked++;
    d->s.block_held->value++;
}

/*
 * The job's fault blocks the device (its page request is outstanding).
 */
static void block_hold(pcie_dev_t *d, pcie_job_t *j)
{
    if (j->blocker)
        return;
    j->blocker = true;
    if (d->blocked++ == 0)
        d->t_blocked = sim_now(d->env.sim);
    d->s.block_faults->value++;
}

/*
 * No fault blocks the device any more: parked DMAs look their page up
 * again (one processing delay from now), in the order of their tags, then
 * queued DMAs start.
 */
static void block_resume(pcie_dev_t *d)
{
    sim_time_t now = sim_now(d->env.sim);
    sim_hist_add(d->s.block_time, now - d->t_blocked);
    for (unsigned i = 0; i < d->tags_busy && d->parked; i++) {
        pcie_job_t *p = d->active[i];
        if (!p->parked)
            continue;
        p->parked = false;
        d->parked--;
        job_lookup(d, p, now + pcie_env_proc(&d->env));
    }
    dev_dispatch(d);
}

/*
 * The DMA ends (ok or failed): free its tag, tell the owner, start the
 * next ones.
 */
static void job_finish(pcie_dev_t *d, pcie_job_t *j, bool ok, int why)
{
    if (j->span) {
        sim_span_close(d->env.spans, j->span, sim_now(d->env.sim), ok);
        j->span = NULL;
    }
    if (ok) {
        d->s.dmas_done->value++;
    } else {
        d->s.dmas_failed->value++;
        if (why == FAIL_STOPPED)
            d->s.dmas_stopped->value++;
    }
    if (j->stopping)
        pcie_stop_job_done(&d->stop, j);
    if (ok)
        sim_hist_add(d->s.dma_latency, sim_now(d->env.sim) - j->t_issue);
    active_remove(d, j);
    uint32_t pasid = j->pasid;
    uint64_t addr = j->addr, len = j->len;
    bool write = j->write;
    bool gated = j->gate, blocker = j->blocker;
    if (j->parked)
        d->parked--;
    j->gate = false;
    sim_pool_put(&d->jobs, j);
    if (gated)
        d->gate--;
    /* The owner first (it may issue DMAs, which then start in order
     * behind the queued ones), then whatever can start. */
    notify_done(d, pasid, addr, len, write, ok);
    if (blocker && --d->blocked == 0)
        block_resume(d);
    dev_dispatch(d);
}

/*
 * The current page's bytes are done: the next page, or the end.
 */
static void job_chunk_done(pcie_dev_t *d, pcie_job_t *j)
{
    pcie_atc_data_end(&d->atc, j);
    d->s.bytes->value += j->chunk;
    j->off += j->chunk;
    j->fixups = 0;
    if (j->span) {
        sim_span_close(d->env.spans, j->span, sim_now(d->env.sim), true);
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
    job_chunk_done(opaque, sim_arg_ptr(arg));
}

/*
 * Move the current page's bytes at time ts: to xpage (translated, from the
 * ATC or a completion) or to the untranslated address (device without
 * ATS). Reads are split by MRRS; a write is done once sent (posted).
 */
static void job_data(pcie_dev_t *d, pcie_job_t *j, sim_time_t ts, bool xlated)
{
    uint64_t va = j->addr + j->off;
    uint64_t in_page = va & (PCIE_PAGE_SIZE - 1);
    uint64_t chunk = PCIE_PAGE_SIZE - in_page;
    if (chunk > j->len - j->off)
        chunk = j->len - j->off;
    j->chunk = chunk;
    j->state = PCIE_JOB_DATA;
    j->xlated = xlated;
    j->data_seq = pcie_atc_inv_seq(&d->atc);
    sim_span_mark(j->span, d->st_retry, ts);

    /* The requests are built in the link's storage (pcie_link_reserve):
     * this is the path every DMA takes. */
    pcie_link_t *link = d->env.link;
    uint8_t flags = xlated ? PCIE_F_XLATED : PCIE_F_PASID;
    uint32_t pasid = xlated ? 0 : j->pasid;
    uint64_t pa = j->xpage + in_page;
    if (j->write) {
        /* Posted: the write is done for the device once its last byte has
         * left (the end of its serialisation on the link). */
        pcie_msg_t *m = pcie_link_reserve(link, PCIE_UP);
        if (!m)
            return;
        m->type = PCIE_MSG_MEM_WR;
        m->flags = flags;
        m->rid = d->env.rid;
        m->pasid = pasid;
        m->len = (uint32_t)chunk;
        m->addr = pa;
        m->cookie = j;
        pcie_link_commit(link, PCIE_UP, ts, ev_write_sent, d, sim_ptr_arg(j));
        return;
    }
    uint64_t mrrs = d->mrrs;
    j->outstanding = 0;
    j->aborted = false;
    for (uint64_t done = 0; done < chunk;) {
        uint64_t n = chunk - done;
        if (n > mrrs)
            n = mrrs;
        pcie_msg_t *m = pcie_link_reserve(link, PCIE_UP);
        if (!m)
            return;
        m->type = PCIE_MSG_MEM_RD;
        m->flags = flags;
        m->rid = d->env.rid;
        m->pasid = pasid;
        m->len = (uint32_t)n;
        m->addr = pa + done;
        m->cookie = j;
        j->outstanding++;
        pcie_link_commit(link, PCIE_UP, ts, NULL, NULL, 0);
        done += n;
    }
}

/*
 * Look the current page up at time now; its request goes out at ts
 * (now + proc): data on an ATC hit (or untranslated, without ATS), else a
 * Translation Request.
 */
static void job_lookup(pcie_dev_t *d, pcie_job_t *j, sim_time_t ts)
{
    uint64_t va = j->addr + j->off;
    if (dev_blocked(d, j)) {
        job_park(d, j);
        return;
    }
    if (!d->cfg.ats) {
        j->xpage = va & ~(PCIE_PAGE_SIZE - 1);
        job_data(d, j, ts, false);
        return;
    }
    pcie_atc_entry_t *e =
        pcie_atc_any(&d->atc)
            ? pcie_atc_lookup(&d->atc, j->pasid, va, pcie_job_need(j), true)
            : NULL;
    if (e) {
        d->s.atc_hits->value++;
        uint64_t vbase = e->tag << e->shift;
        j->xpage = e->xbase + ((va & ~(PCIE_PAGE_SIZE - 1)) - vbase);
        bool held = gate_take_off(j);
        job_data(d, j, ts, true);
        gate_reopen(d, held);
        return;
    }
    d->s.atc_misses->value++;
    j->state = PCIE_JOB_XLATE;
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_ATS_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | (j->write ? PCIE_F_W : PCIE_F_NW);
    m.pasid = j->pasid;
    m.addr = va & ~(PCIE_PAGE_SIZE - 1);
    m.cookie = j;
    m.span = j->span;
    d->s.xlate_reqs->value++;
    pcie_env_send_up(&d->env, &m, ts);
}

/*
 * Start the DMA's next page: a fresh translation attempt.
 */
static void job_start_page(pcie_dev_t *d, pcie_job_t *j)
{
    sim_time_t now = sim_now(d->env.sim);
    j->t_page = now;
    j->retries = 0;
    j->asked = false;
    job_lookup(d, j, now + pcie_env_proc(&d->env));
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
    while (d->q_head && d->tags_busy < d->cfg.tags && !d->blocked) {
        if (d->cfg.in_order && d->gate) {
            break;
        }
        pcie_job_t *j = d->q_head;
        d->q_head = j->next;
        if (!d->q_head)
            d->q_tail = NULL;
        j->next = NULL;
        if (pcie_stop_blocks(&d->stop, j->pasid)) {
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
        sim_gauge_set(d->s.inflight, sim_now(d->env.sim), (double)d->tags_busy);
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
    pcie_job_t *j = sim_pool_get(&d->jobs);
    if (!j)
        return -ENOMEM;
    j->pasid = pasid;
    j->addr = addr;
    j->len = len;
    j->write = write;
    j->state = PCIE_JOB_QUEUED;
    j->t_issue = sim_now(d->env.sim);
    d->s.dmas->value++;
    if (d->cfg.in_order && d->gate)
        d->s.gate_blocked->value++;
    if (d->blocked)
        d->s.block_held->value++;
    pcie_jobq_push(&d->q_head, &d->q_tail, j);
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

/*
 * Register the host software's fix-up (fault_policy = partial).
 */
void pcie_dev_set_fixup(pcie_dev_t *d, pcie_fixup_fn fn, void *opaque)
{
    d->fixup_fn = fn;
    d->fixup_opaque = opaque;
}

/* ---------------------------------------------- fault policy: partial */

/*
 * fault_policy = partial, after device.partial_cost: software has touched
 * the page (the fix-up) and resubmits the rest of the DMA, which queues
 * for a tag like a new descriptor and translates its page again.
 */
static void ev_partial_resubmit(sim_t *sim, void *opaque, uint64_t arg)
{
    pcie_dev_t *d = opaque;
    pcie_job_t *j = sim_arg_ptr(arg);
    sim_hist_add(d->s.partial_sw, sim_now(sim) - j->t_wait);
    if (d->fixup_fn && d->fixup_fn(d->fixup_opaque, d, j->pasid,
                                   j->addr + j->off, j->write) < 0) {
        d->s.partial_failed->value++;
        job_end_untagged(d, j, FAIL_OTHER);
        return;
    }
    d->s.partial_resubmits->value++;
    j->sub_off = j->off;
    j->state = PCIE_JOB_QUEUED;
    pcie_jobq_push(&d->q_head, &d->q_tail, j);
    dev_dispatch(d);
}

/*
 * fault_policy = partial: the translation of the current page was
 * refused. The DMA completes partially (DSA completion record status
 * Page Fault without Block on Fault, with bytes_completed and the fault
 * address): its tag is free, no page request is sent, and host software
 * takes over for device.partial_cost. A page that faults again after
 * pri_retries fix-ups fails the DMA (bounded, as for PRI).
 */
static void job_partial(pcie_dev_t *d, pcie_job_t *j)
{
    sim_time_t now = sim_now(d->env.sim);
    if (j->fixups >= d->cfg.pri_retries) {
        d->s.partial_failed->value++;
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    j->fixups++;
    if (d->env.spans && !j->span)
        j->span = sim_span_open(d->env.spans, j->t_page);
    sim_span_set_tags(j->span, d->env.index, j->pasid);
    sim_span_mark(j->span, d->st_ats_fault, now);
    d->s.partial_cpl->value++;
    d->s.partial_bytes->value += j->off - j->sub_off;
    j->t_wait = now;
    sim_time_t cost = sim_dist_draw(&d->cfg.partial_cost, &d->env.rng);
    if (!sim_schedule(d->env.sim, cost, ev_partial_resubmit, d,
                      sim_ptr_arg(j))) {
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    active_remove(d, j);
    j->state = PCIE_JOB_QUEUED;
    dev_dispatch(d);
}

/* ------------------------------------------------------------- faults */

/*
 * The translation of the current page was refused: PRI asks for the page,
 * and with device.in_order the fault closes the gate; or the DMA fails.
 */
static void job_fault(pcie_dev_t *d, pcie_job_t *j)
{
    if (d->cfg.fault_policy == PCIE_FAULT_PARTIAL) {
        job_partial(d, j);
        return;
    }
    if (!pcie_pri_fault(&d->pri, j)) {
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    if (d->cfg.in_order && !j->gate) {
        j->gate = true;
        d->gate++;
    }
    if (d->cfg.fault_policy == PCIE_FAULT_BLOCK)
        block_hold(d, j);
}

/* PRI port: a DMA waiting on PRI can no longer complete. */
static void pri_fail(void *opaque, pcie_job_t *j)
{
    job_finish(opaque, j, false, FAIL_OTHER);
}

/* PRI port: a Success response; translate the page again. With
 * fault_policy = block the fault is resolved: the faulting DMA's request
 * goes first, then the DMAs the block held. */
static void pri_retry(void *opaque, pcie_job_t *j, sim_time_t when)
{
    pcie_dev_t *d = opaque;
    bool blocker = j->blocker;
    j->blocker = false;
    if (blocker)
        d->blocked--;
    job_lookup(d, j, when);
    if (blocker && !d->blocked)
        block_resume(d);
}

/*
 * PRI Status register as the device reports it.
 */
unsigned pcie_dev_pri_status(const pcie_dev_t *d)
{
    return pcie_pri_status(&d->pri);
}

/*
 * Disable, reset and enable PRI again.
 */
void pcie_dev_pri_reset(pcie_dev_t *d)
{
    pcie_pri_reset(&d->pri);
}

/* ------------------------------------------------------- PASID stop */

/*
 * Stop port, step 1 of the protocol (stop.c): queued DMAs of the PASID
 * fail (they never issued anything), and so do DMAs waiting for
 * allocation; active DMAs waiting for a response fail now (their group
 * stays outstanding until the response or the Stop Marker covers it);
 * those with a translation request or data in flight finish it.
 */
static void stop_halt(void *opaque, uint32_t pasid, uint32_t *waiting)
{
    pcie_dev_t *d = opaque;
    pcie_job_t *drop = pcie_jobq_take_pasid(&d->q_head, &d->q_tail, pasid);
    pcie_job_t *cap_fail = pcie_pri_take_waiting(&d->pri, pasid);
    for (unsigned i = 0; i < d->tags_busy; i++) {
        pcie_job_t *j = d->active[i];
        if (j->pasid != pasid || j->stopping || j->state == PCIE_JOB_PRI_WAIT)
            continue;
        if (j->parked) {
            /* Held by a blocked device: it has nothing in flight. */
            j->parked = false;
            d->parked--;
            j->state = PCIE_JOB_PRI_WAIT; /* marks it for the loop below */
            j->next = cap_fail;
            cap_fail = j;
        } else if (j->state == PCIE_JOB_PRI) {
            pcie_pri_forget_job(&d->pri, j);
            j->state = PCIE_JOB_PRI_WAIT; /* marks it for the loop below */
            j->next = cap_fail;
            cap_fail = j;
        } else {
            j->stopping = true;
            (*waiting)++;
        }
    }
    while (drop) {
        pcie_job_t *next = drop->next;
        drop->next = NULL;
        job_drop(d, drop);
        drop = next;
    }
    while (cap_fail) {
        pcie_job_t *next = cap_fail->next;
        cap_fail->next = NULL;
        job_finish(d, cap_fail, false, FAIL_STOPPED);
        cap_fail = next;
    }
}

/*
 * The device side of the PASID stop protocol (see pcie.h, stop.c).
 */
int pcie_dev_stop_pasid(pcie_dev_t *d, uint32_t pasid, pcie_stop_done_fn done,
                        void *opaque)
{
    return pcie_stop_pasid(&d->stop, pasid, done, opaque);
}

/* ------------------------------------------------------ completions */

/*
 * A Translation Completion arrives: fill the ATC and move the data, or
 * fault.
 */
static void rx_ats_cpl(pcie_dev_t *d, const pcie_msg_t *m)
{
    pcie_job_t *j = m->cookie;
    if (j->stopping) {
        job_finish(d, j, false, FAIL_STOPPED);
        return;
    }
    if (m->code != PCIE_CPL_SC) {
        d->s.cpl_errors->value++;
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    if (!(m->perm & pcie_job_need(j))) {
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
    pcie_atc_insert(&d->atc, j->pasid, vbase, shift, xbase, m->perm);
    if (dev_blocked(d, j)) {
        /* fault_policy = block: it looks the page up again on resume. */
        job_park(d, j);
        return;
    }
    j->xpage = xbase + (va - vbase);
    bool held = gate_take_off(j);
    job_data(d, j, sim_now(d->env.sim), true);
    gate_reopen(d, held);
}

/*
 * A completion with data for a read request: the page is done when all its
 * completions are back; an error status aborts the DMA (a device without
 * ATS: the IOMMU found an unrecoverable fault).
 */
static void rx_mem_cpl(pcie_dev_t *d, const pcie_msg_t *m)
{
    pcie_job_t *j = m->cookie;
    if (m->code != PCIE_CPL_SC)
        j->aborted = true;
    if (--j->outstanding)
        return;
    if (j->aborted) {
        pcie_atc_data_end(&d->atc, j);
        d->s.dmas_aborted->value++;
        job_finish(d, j, false, FAIL_OTHER);
        return;
    }
    job_chunk_done(d, j);
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
        pcie_pri_rx_resp(&d->pri, m);
        break;
    case PCIE_MSG_INV_REQ:
        pcie_atc_rx_inv(&d->atc, m, d->active, d->tags_busy);
        break;
    default:
        sim_logf(sim_log(d->env.sim), SIM_LOG_WARN,
                 "device%u: unexpected %s message ignored", d->env.index,
                 pcie_msg_name(m->type));
        break;
    }
}

/*
 * The root complex sends a message to this device now.
 */
void pcie_dev_send_down(pcie_dev_t *d, const pcie_msg_t *msg)
{
    pcie_link_send(d->env.link, PCIE_DOWN, msg);
}

/*
 * The root complex hands a message to this device's link for `when`.
 */
void pcie_dev_send_down_at(pcie_dev_t *d, const pcie_msg_t *msg,
                           sim_time_t when)
{
    pcie_link_send_at(d->env.link, PCIE_DOWN, msg, when);
}

/* ------------------------------------------------------------ lifecycle */

/*
 * The device's statistics, registered under "device<index>." in this
 * order (the order of stats.txt); each unit's counters live in its own
 * context inside the device.
 */
static const sim_stat_def_t dev_stat_defs[] = {
    {SIM_STAT_COUNTER, "dmas", "DMAs issued by the trace", "DMAs",
     offsetof(pcie_dev_t, s.dmas)},
    {SIM_STAT_COUNTER, "dmas_done", "DMAs completed", "DMAs",
     offsetof(pcie_dev_t, s.dmas_done)},
    {SIM_STAT_COUNTER, "dmas_failed",
     "DMAs that failed (fault not recovered, aborted or stopped)", "DMAs",
     offsetof(pcie_dev_t, s.dmas_failed)},
    {SIM_STAT_COUNTER, "dmas_aborted",
     "DMAs aborted by an error completion (unrecoverable fault of an "
     "untranslated request)",
     "DMAs", offsetof(pcie_dev_t, s.dmas_aborted)},
    {SIM_STAT_COUNTER, "dmas_stopped", "DMAs failed by a PASID stop", "DMAs",
     offsetof(pcie_dev_t, s.dmas_stopped)},
    {SIM_STAT_COUNTER, "bytes", "bytes moved by completed DMA parts", "bytes",
     offsetof(pcie_dev_t, s.bytes)},
    {SIM_STAT_COUNTER, "in_order_blocked",
     "DMAs issued while a fault blocked the queue (device.in_order)", "DMAs",
     offsetof(pcie_dev_t, s.gate_blocked)},
    {SIM_STAT_COUNTER, "atc.hits", "ATC lookups that hit", "lookups",
     offsetof(pcie_dev_t, s.atc_hits)},
    {SIM_STAT_COUNTER, "atc.misses", "ATC lookups that missed", "lookups",
     offsetof(pcie_dev_t, s.atc_misses)},
    {SIM_STAT_COUNTER, "atc.fills", "translations cached in the ATC", "entries",
     offsetof(pcie_dev_t, atc.s.fills)},
    {SIM_STAT_COUNTER, "atc.evictions",
     "ATC entries replaced by another translation", "entries",
     offsetof(pcie_dev_t, atc.s.evictions)},
    {SIM_STAT_COUNTER, "atc.invalidated", "ATC entries invalidated", "entries",
     offsetof(pcie_dev_t, atc.s.inval)},
    {SIM_STAT_COUNTER, "ats.requests", "ATS translation requests sent",
     "requests", offsetof(pcie_dev_t, s.xlate_reqs)},
    {SIM_STAT_COUNTER, "ats.cpl_errors", "translation completions with UR/CA",
     "completions", offsetof(pcie_dev_t, s.cpl_errors)},
    {SIM_STAT_COUNTER, "ats.inv_requests", "ATS Invalidate Requests received",
     "requests", offsetof(pcie_dev_t, atc.s.inv_reqs)},
    {SIM_STAT_COUNTER, "pri.page_requests", "PRI page requests sent",
     "requests", offsetof(pcie_dev_t, pri.s.page_reqs)},
    {SIM_STAT_COUNTER, "pri.groups", "PRI page request groups sent", "groups",
     offsetof(pcie_dev_t, pri.s.groups)},
    {SIM_STAT_COUNTER, "pri.resp_success", "PRG responses with Success",
     "responses", offsetof(pcie_dev_t, pri.s.resp_success)},
    {SIM_STAT_COUNTER, "pri.resp_invalid", "PRG responses with Invalid Request",
     "responses", offsetof(pcie_dev_t, pri.s.resp_invalid)},
    {SIM_STAT_COUNTER, "pri.resp_failure",
     "PRG responses with Response Failure or an unused code (PRI disabled)",
     "responses", offsetof(pcie_dev_t, pri.s.resp_failure)},
    {SIM_STAT_COUNTER, "pri.resp_ignored",
     "PRG responses ignored because PRI was disabled", "responses",
     offsetof(pcie_dev_t, pri.s.resp_ignored)},
    {SIM_STAT_COUNTER, "pri.resp_stopped",
     "PRG responses for groups whose DMA went with a PASID stop", "responses",
     offsetof(pcie_dev_t, pri.s.resp_orphan)},
    {SIM_STAT_COUNTER, "pri.uprgi",
     "responses for a PRG index not outstanding (UPRGI), ignored", "responses",
     offsetof(pcie_dev_t, pri.s.uprgi)},
    {SIM_STAT_COUNTER, "pri.resp_missing_pasid",
     "responses without the PASID the device requires, ignored", "responses",
     offsetof(pcie_dev_t, pri.s.resp_missing_pasid)},
    {SIM_STAT_COUNTER, "pri.resp_unexpected_pasid",
     "responses with a PASID the device does not require, accepted",
     "responses", offsetof(pcie_dev_t, pri.s.resp_unexpected_pasid)},
    {SIM_STAT_COUNTER, "pri.timeouts",
     "page request groups given up after device.pri_timeout", "groups",
     offsetof(pcie_dev_t, pri.s.timeouts)},
    {SIM_STAT_COUNTER, "pri.retries_exhausted",
     "DMAs failed after pri_retries re-faults", "DMAs",
     offsetof(pcie_dev_t, pri.s.retries_exhausted)},
    {SIM_STAT_COUNTER, "faults_without_pri",
     "translation faults with PRI absent or disabled", "faults",
     offsetof(pcie_dev_t, pri.s.no_pri_faults)},
    {SIM_STAT_COUNTER, "pri.stop_markers", "Stop Markers sent", "messages",
     offsetof(pcie_dev_t, stop.s.markers)},
    {SIM_STAT_COUNTER, "pri.resets", "PRI resets by the host", "resets",
     offsetof(pcie_dev_t, pri.s.resets)},
    {SIM_STAT_COUNTER, "block.faults",
     "faults that blocked the device (fault_policy = block)", "faults",
     offsetof(pcie_dev_t, s.block_faults)},
    {SIM_STAT_COUNTER, "block.held",
     "DMAs held by a blocked device (issued, or reaching translation, "
     "while blocked)",
     "DMAs", offsetof(pcie_dev_t, s.block_held)},
    {SIM_STAT_COUNTER, "partial.completions",
     "partial completions reported (fault_policy = partial)", "DMA parts",
     offsetof(pcie_dev_t, s.partial_cpl)},
    {SIM_STAT_COUNTER, "partial.bytes_completed",
     "bytes the partial completions reported done", "bytes",
     offsetof(pcie_dev_t, s.partial_bytes)},
    {SIM_STAT_COUNTER, "partial.resubmits",
     "remainders resubmitted by host software", "DMA parts",
     offsetof(pcie_dev_t, s.partial_resubmits)},
    {SIM_STAT_COUNTER, "partial.failed",
     "DMAs given up after a partial completion (fix-up refused, or "
     "pri_retries fix-ups of one page)",
     "DMAs", offsetof(pcie_dev_t, s.partial_failed)},
    {SIM_STAT_HIST, "dma_latency", "DMA issued to completed (completed DMAs)",
     "ps", offsetof(pcie_dev_t, s.dma_latency)},
    {SIM_STAT_HIST, "block.time",
     "time the device was blocked by faults (fault_policy = block)", "ps",
     offsetof(pcie_dev_t, s.block_time)},
    {SIM_STAT_HIST, "partial.software",
     "partial completion to resubmission (host software, partial_cost)", "ps",
     offsetof(pcie_dev_t, s.partial_sw)},
    {SIM_STAT_HIST, "pri.capacity_wait",
     "time a fault waited for page request allocation", "ps",
     offsetof(pcie_dev_t, pri.s.cap_wait)},
    {SIM_STAT_HIST, "ats.inv_latency",
     "Invalidate Request arrival to Invalidate Completion sent", "ps",
     offsetof(pcie_dev_t, atc.s.inv_latency)},
    {SIM_STAT_GAUGE, "tags_busy", "DMA tags in use", "tags",
     offsetof(pcie_dev_t, s.inflight)},
    {SIM_STAT_GAUGE, "pri.outstanding", "page requests awaiting a response",
     "requests", offsetof(pcie_dev_t, pri.s.outstanding)},
};
#define DEV_NSTATS (sizeof(dev_stat_defs) / sizeof(dev_stat_defs[0]))

/*
 * Register the device's statistics under "device<index>.".
 */
static int dev_stats(pcie_dev_t *d, sim_stats_t *st)
{
    sim_stat_def_t defs[DEV_NSTATS];
    char names[DEV_NSTATS][64];
    for (size_t i = 0; i < DEV_NSTATS; i++) {
        defs[i] = dev_stat_defs[i];
        snprintf(names[i], sizeof(names[i]), "device%u.%s", d->env.index,
                 dev_stat_defs[i].name);
        defs[i].name = names[i];
    }
    return sim_stats_register(st, defs, DEV_NSTATS, d);
}

/*
 * Create a device and its link.
 */
pcie_dev_t *pcie_dev_create(sim_t *sim, sim_stats_t *st, unsigned index,
                            uint16_t rid, const pcie_dev_cfg_t *cfg,
                            const pcie_link_cfg_t *link_cfg,
                            const pcie_dev_port_t *port, sim_spans_t *spans,
                            uint64_t seed)
{
    pcie_dev_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    if (!d->cfg.tags)
        d->cfg.tags = 1;
    if (!d->cfg.fault_ahead)
        d->cfg.fault_ahead = 1;
    pcie_dev_env_t *env = &d->env;
    env->sim = sim;
    env->index = index;
    env->rid = rid;
    env->spans = spans;
    env->proc = &d->cfg.proc;
    env->proc_fixed = cfg->proc.kind == SIM_DIST_FIXED;
    d->mrrs = link_cfg->mrrs ? link_cfg->mrrs : PCIE_PAGE_SIZE;
    d->st_retry = sim_spans_stage(spans, "retry");
    d->st_ats_fault = sim_spans_stage(spans, "ats_fault");
    char name[64];
    snprintf(name, sizeof(name), "device%u", index);
    sim_rng_seed(&env->rng, seed, name);
    if (env->proc_fixed)
        env->proc_value = sim_dist_draw(&cfg->proc, &env->rng);
    sim_pool_init(&d->jobs, sizeof(pcie_job_t), 256);
    int err = pcie_atc_init(&d->atc, env, cfg->ats ? cfg->atc_entries : 0,
                            cfg->atc_ways, &d->cfg.inv_proc);
    pcie_pri_port_t pri_port = {
        .fail = pri_fail, .retry = pri_retry, .opaque = d};
    pcie_pri_init(&d->pri, env, &d->atc, &d->cfg, &pri_port);
    pcie_stop_port_t stop_port = {.halt = stop_halt, .opaque = d};
    pcie_stop_init(&d->stop, env, &d->pri, d, &stop_port);
    d->active = calloc(d->cfg.tags, sizeof(*d->active));
    if (err || !d->active)
        goto fail;
    snprintf(name, sizeof(name), "link%u", index);
    env->link = pcie_link_create(sim, st, name, link_cfg, port->up_rx,
                                 port->up_opaque, dev_rx, d);
    if (!env->link || dev_stats(d, st))
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
    pcie_link_destroy(d->env.link);
    sim_pool_fini(&d->jobs);
    pcie_atc_fini(&d->atc);
    free(d->active);
    free(d);
}

/*
 * The device's requester id.
 */
unsigned pcie_dev_index(const pcie_dev_t *d)
{
    return d->env.index;
}

uint16_t pcie_dev_rid(const pcie_dev_t *d)
{
    return d->env.rid;
}

/*
 * The device's totals, read from its counters and state (each count is
 * kept once, in its registered counter).
 */
void pcie_dev_totals(const pcie_dev_t *d, pcie_dev_totals_t *out)
{
    const pcie_pri_t *p = &d->pri;
    memset(out, 0, sizeof(*out));
    out->dmas_started = d->s.dmas->value;
    out->dmas_done = d->s.dmas_done->value;
    out->dmas_failed = d->s.dmas_failed->value;
    out->page_requests = p->s.page_reqs->value;
    /* Every response that arrives ends in exactly one of these (a
     * response missing its PASID counts as UPRGI too). */
    out->prg_responses = p->s.resp_ignored->value + p->s.uprgi->value +
                         p->s.resp_orphan->value + p->s.resp_success->value +
                         p->s.resp_invalid->value + p->s.resp_failure->value;
    out->page_groups = p->s.groups->value;
    out->stop_markers = d->stop.s.markers->value;
    out->atc_hits = d->s.atc_hits->value;
    out->atc_misses = d->s.atc_misses->value;
    out->in_flight = out->dmas_started - out->dmas_done - out->dmas_failed;
    out->pri_outstanding = p->outstanding;
    out->mem_grows = d->jobs.nchunks + pcie_atc_mem_grows(&d->atc) +
                     pcie_link_mem_grows(d->env.link);
}

/*
 * Derived statistics of the device (its link's utilisation).
 */
void pcie_dev_finish_stats(pcie_dev_t *d)
{
    pcie_link_finish_stats(d->env.link);
}
