/*
 * host.c - the host IOMMU driver's page request path.
 *
 * PRQ interrupt -> (irq_latency) -> the threaded handler (one thread, like
 * Linux's oneshot "dmarN-prq" IRQ thread) which, per run
 * (fault-path-semantics 2b item 11):
 *   1. VT-d: clears PPR (write-1-to-clear) before reading head and tail, so
 *      a new request re-arms the interrupt;
 *   2. reads each descriptor between head and tail from the ring in
 *      simulated memory (prq_desc each): stop markers are dropped, others
 *      are reported to the iopf core;
 *   3. writes head = the tail it read, once, after the batch;
 *   4. on overflow: VT-d: if PRO is set and the queue is empty, discards
 *      all partial groups and clears PRO (prq.c); SMMUv3: logs the
 *      overflow, discards all partial groups and acknowledges it by copying
 *      OVFLG to OVACKFLG (arm_smmu_priq_thread, commit 0d535967; the
 *      discard is from JPB's PRI series, section 3 items 3-4).
 * An interrupt arriving while the thread runs makes it run again at once.
 *
 * The iopf core (io-pgfault.c, section 4) keeps non-last requests on a
 * partial list; a last request makes a group of it and the partials with
 * the same group index, routed by (RID, PASID) to its address space and
 * queued to the iopf workers. A worker handles the group (iopf + mm fix-up
 * per page + submitting the response): errors are sticky, one response per
 * group. The response goes through the IOMMU's invalidation queue: VT-d a
 * page group response descriptor followed by a wait descriptor
 * (qi_submit_sync); SMMUv3 CMD_PRI_RESP alone (arm_smmu_page_response: "Don't
 * send a SYNC, it doesn't do anything for RESUME or PRI_RESP"). The worker
 * is free once the descriptors are submitted (Linux spins in
 * qi_submit_sync until the wait completes; the model does not hold the
 * worker for it).
 *
 * Stall events (SMMUv3 stall model, section 3 item 6) come through the
 * event queue with their own interrupt and handler thread (Linux's evtq
 * thread): a record with STALL becomes a fault group of one (LAST set),
 * fixed like a page request and answered with CMD_RESUME (RETRY for
 * Success, ABORT otherwise); a record without STALL is unrecoverable and
 * only counted.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/ioasid_int.h"

const sim_param_t ioasid_host_params[] = {
    {"host", "irq_latency", SIM_PARAM_TIME, "2000", 0, 1e12, "ns",
     "PRQ MSI to the threaded handler running (latency-calibration 3.1, [I])",
     NULL, offsetof(ioasid_host_cfg_t, irq_latency)},
    {"host", "prq_desc", SIM_PARAM_DIST, "200", 0, 0, "ns",
     "handler thread: read, decode and report one PRQ descriptor ([I])", NULL,
     offsetof(ioasid_host_cfg_t, prq_desc)},
    {"host", "iopf_workers", SIM_PARAM_UINT, "1", 1, 1024, "threads",
     "iopf workers handling fault groups in parallel (1: the single handler "
     "of validation target T11)", NULL,
     offsetof(ioasid_host_cfg_t, iopf_workers)},
    {"host", "iopf", SIM_PARAM_DIST,
     "mix(0.971: lognormal(2000, 0.5), 0.014: uniform(9000, 99000), "
     "0.015: uniform(99000, 555000))",
     0, 0, "ns",
     "iopf core work per group, excluding mm_minor: with it, the svm_prq "
     "histogram (Sapphire Rapids, QEMU qpl-compression doc: 97.1% 1-10 us, "
     "1.4% 10-100 us, 1.5% 0.1-0.56 ms, mean 9 us)",
     NULL, offsetof(ioasid_host_cfg_t, iopf)},
    {"host", "mm_minor", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "handle_mm_fault, anonymous minor fault, per page (0.75-1.7 us "
     "published)", NULL, offsetof(ioasid_host_cfg_t, mm_minor)},
    {"host", "qi_submit", SIM_PARAM_DIST, "200", 0, 0, "ns",
     "software side of an invalidation-queue batch: build the descriptors "
     "and write the tail register ([I]: 0.2 us of the 1 us response and "
     "0.8 us IOTLB invalidation of latency-calibration 3.2; the rest is "
     "iommu.qi_*)", NULL,
     offsetof(ioasid_host_cfg_t, qi_submit)},
};
const unsigned ioasid_host_nparams =
    sizeof(ioasid_host_params) / sizeof(ioasid_host_params[0]);

/* ------------------------------------------------------------ bindings */

static uint64_t bind_key(uint16_t rid, uint32_t pasid)
{
    return (((uint64_t)rid << 20) | pasid) + 1;
}

static bind_slot_t *bind_slot(const ioasid_host_t *h, uint64_t key)
{
    if (!h->nbind_slots)
        return NULL;
    size_t mask = h->nbind_slots - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;
    while (h->binds[i].key && h->binds[i].key != key)
        i = (i + 1) & mask;
    return &h->binds[i];
}

static int bind_grow(ioasid_host_t *h)
{
    size_t n = h->nbind_slots ? h->nbind_slots * 2 : 64;
    bind_slot_t *old = h->binds;
    size_t oldn = h->nbind_slots;
    bind_slot_t *fresh = calloc(n, sizeof(*fresh));
    if (!fresh)
        return -ENOMEM;
    h->binds = fresh;
    h->nbind_slots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].key)
            *bind_slot(h, old[i].key) = old[i];
    free(old);
    return 0;
}

/* Record the owner of (rid, pasid) (room was made by bind_grow). */
static void bind_set(ioasid_host_t *h, uint16_t rid, uint32_t pasid,
                     ioasid_mm_t *mm, struct gproc *gp)
{
    uint64_t key = bind_key(rid, pasid);
    bind_slot_t *s = bind_slot(h, key);
    if (!s->key)
        h->nbinds++;
    s->key = key;
    s->mm = mm;
    s->gp = gp;
}

int ioasid_host_bind(ioasid_host_t *h, ioasid_mm_t *mm, uint16_t rid,
                     uint32_t pasid)
{
    if ((h->nbinds + 1) * 2 > h->nbind_slots && bind_grow(h))
        return -ENOMEM;
    int rc = ioasid_mm_add_binding(mm, rid, pasid);
    if (rc)
        return rc;
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1,
                             .domain = (uint16_t)mm->id,
                             .s1 = mm->pt,
                             .pri = true};
    rc = iommu_set_pasid(h->iommu, rid, pasid, &e);
    if (rc)
        return rc;
    bind_set(h, rid, pasid, mm, NULL);
    return 0;
}

int ioasid_host_bind_guest(ioasid_host_t *h, struct gproc *gp, uint16_t rid,
                           uint32_t pasid, const iommu_pasid_entry_t *e)
{
    if ((h->nbinds + 1) * 2 > h->nbind_slots && bind_grow(h))
        return -ENOMEM;
    int rc = iommu_set_pasid(h->iommu, rid, pasid, e);
    if (rc)
        return rc;
    bind_set(h, rid, pasid, NULL, gp);
    return 0;
}

int ioasid_host_alloc_domain(ioasid_host_t *h)
{
    if (h->next_domain >= 0xffff) /* domain ids are 16 bits */
        return -ENOSPC;
    return (int)++h->next_domain;
}

int ioasid_host_unbind(ioasid_host_t *h, uint16_t rid, uint32_t pasid)
{
    bind_slot_t *s = bind_slot(h, bind_key(rid, pasid));
    if (!s || !s->key || (!s->mm && !s->gp))
        return -ENOENT;
    /* The slot stays as a tombstone: a later bind reuses it. */
    s->mm = NULL;
    s->gp = NULL;
    /* Its partial requests are dropped (iopf_queue_remove_device). */
    iopf_fault_t **pp = &h->partials;
    while (*pp) {
        iopf_fault_t *p = *pp;
        if (p->desc.rid == rid && p->desc.pasid == pasid) {
            *pp = p->next;
            sim_pool_put(&h->faults, p);
            h->tot.partial_discarded++;
            h->s.partial_discarded->value++;
        } else {
            pp = &p->next;
        }
    }
    /* Clear the PASID entry, then invalidate the PASID cache and the
     * PASID's IOTLB entries (VT-d teardown, fault-path-semantics 2b item
     * 13: PRE cleared, drain, remove, disable). */
    iommu_pasid_entry_t e;
    uint16_t domain = 0;
    if (iommu_get_pasid(h->iommu, rid, pasid, &e))
        domain = e.domain;
    iommu_clear_pasid(h->iommu, rid, pasid);
    iommu_qi_desc_t d[2];
    memset(d, 0, sizeof(d));
    d[0].type = IOMMU_QI_PASID_CACHE;
    d[0].inv = (iommu_inv_t){.gran = IOMMU_INV_DEVICE_PASID, .rid = rid,
                             .pasid = pasid};
    d[1].type = IOMMU_QI_IOTLB;
    d[1].inv = (iommu_inv_t){.gran = IOMMU_INV_PASID, .domain = domain,
                             .pasid = pasid};
    h->s.unbinds->value++;
    return iommu_qi_submit(h->iommu, d, 2);
}

ioasid_mm_t *ioasid_host_lookup(const ioasid_host_t *h, uint16_t rid,
                                uint32_t pasid)
{
    bind_slot_t *s = bind_slot(h, bind_key(rid, pasid));
    return s && s->key ? s->mm : NULL;
}

/* The guest process bound to (rid, pasid), or NULL. */
static struct gproc *lookup_guest(const ioasid_host_t *h, uint16_t rid,
                                  uint32_t pasid)
{
    bind_slot_t *s = bind_slot(h, bind_key(rid, pasid));
    return s && s->key ? s->gp : NULL;
}

/* ------------------------------------------------------- fault groups */

static void group_free(ioasid_host_t *h, iopf_group_t *g)
{
    iopf_fault_t *f = g->faults;
    while (f) {
        iopf_fault_t *next = f->next;
        sim_pool_put(&h->faults, f);
        f = next;
    }
    sim_pool_put(&h->groups, g);
}

/* Out of memory in the model: log and stop the run. */
static void oom(ioasid_host_t *h)
{
    sim_logf(sim_log(h->sim), SIM_LOG_ERROR, "host: out of memory");
    sim_stop(h->sim);
}

/* Submit the group's response (for its last request) to the invalidation
 * queue and free the group. */
void ioasid_host_respond(ioasid_host_t *h, iopf_group_t *g, uint8_t code)
{
    const iopf_fault_t *last = g->last;
    iommu_qi_desc_t d[2];
    memset(d, 0, sizeof(d));
    unsigned n = 1;
    d[0].type = g->stall ? IOMMU_QI_RESUME : IOMMU_QI_PAGE_RESP;
    d[0].rid = last->desc.rid;
    d[0].pasid = last->desc.pasid;
    d[0].prgi = g->stall ? g->stag : last->desc.prgi;
    d[0].code = code;
    d[0].pasid_present = last->desc.flags & PCIE_F_PASID;
    d[0].span = last->desc.span;
    if (!g->stall && iommu_arch(h->iommu) == IOMMU_ARCH_VTD)
        d[n++].type = IOMMU_QI_WAIT; /* qi_submit_sync */
    if (!g->gp || g->s2)
        sim_span_mark(last->desc.span, PCIE_STAGE_HOST_FAULT,
                      sim_now(h->sim));
    if (code == PCIE_PRG_SUCCESS) {
        h->tot.resp_success++;
        h->s.resp_success->value++;
    } else {
        h->tot.resp_invalid++;
        h->s.resp_invalid->value++;
    }
    if (g->stall) {
        h->tot.stalls_resumed++;
        h->s.resumes->value++;
    } else {
        for (const iopf_fault_t *f = g->faults; f; f = f->next)
            h->tot.requests_responded++;
    }
    h->tot.in_flight--;
    if (iommu_qi_submit(h->iommu, d, n))
        oom(h);
    group_free(h, g);
}

/* A worker finished a group: fix each page (errors are sticky), respond. */
static void worker_done(sim_t *sim, void *opaque, void *job)
{
    ioasid_host_t *h = opaque;
    iopf_group_t *g = job;
    uint8_t code = PCIE_PRG_SUCCESS;
    const iopf_fault_t *last = g->last;
    /* Unbound while it waited (a detach): answered Invalid, as
     * iopf_queue_remove_device answers what is pending. */
    bool bound = g->s2 ? lookup_guest(h, last->desc.rid, last->desc.pasid) ==
                             g->gp
                       : g->mm && ioasid_host_lookup(h, last->desc.rid,
                                                     last->desc.pasid) == g->mm;
    if (!bound)
        code = PCIE_PRG_INVALID;
    else if (g->s2)
        code = ioasid_virt_s2_fill(h->virt, g->gpa) ? PCIE_PRG_INVALID
                                                    : PCIE_PRG_SUCCESS;
    for (iopf_fault_t *f = g->faults;
         !g->s2 && f && code == PCIE_PRG_SUCCESS; f = f->next) {
        int rc = ioasid_mm_fault(g->mm, f->desc.addr, f->desc.flags);
        if (rc < 0)
            code = PCIE_PRG_INVALID;
    }
    ioasid_host_respond(h, g, code);
}

/* Hand a complete group to the iopf workers. */
static void group_queue(ioasid_host_t *h, iopf_group_t *g)
{
    sim_time_t cost = sim_dist_draw(&h->cfg.iopf, &h->rng);
    if (g->s2)
        cost += sim_dist_draw(&h->cfg.mm_minor, &h->rng);
    for (iopf_fault_t *f = g->faults; f; f = f->next)
        if (g->mm && ioasid_mm_needs_fixup(g->mm, f->desc.addr, f->desc.flags))
            cost += sim_dist_draw(&h->cfg.mm_minor, &h->rng);
    cost += sim_dist_draw(&h->cfg.qi_submit, &h->rng);
    h->tot.groups++;
    h->tot.in_flight++;
    h->s.groups->value++;
    sim_server_submit_time(h->workers, g, cost);
}

/* A group of the single fault f. */
static iopf_group_t *group_of_one(ioasid_host_t *h, iopf_fault_t *f)
{
    iopf_group_t *g = sim_pool_get(&h->groups);
    if (!g) {
        sim_pool_put(&h->faults, f);
        oom(h);
        return NULL;
    }
    f->next = NULL;
    g->faults = g->last = f;
    g->mm = ioasid_host_lookup(h, f->desc.rid, f->desc.pasid);
    g->gp = lookup_guest(h, f->desc.rid, f->desc.pasid);
    g->s2 = false;
    g->stall = false;
    return g;
}

/* A fault for descriptor d, its span marked reported (NULL when out of
 * memory, logged). */
static iopf_fault_t *fault_new(ioasid_host_t *h, const iommu_prq_desc_t *d)
{
    sim_span_mark(d->span, PCIE_STAGE_HOST_IRQ, sim_now(h->sim));
    iopf_fault_t *f = sim_pool_get(&h->faults);
    if (!f) {
        oom(h);
        return NULL;
    }
    f->desc = *d;
    return f;
}

/*
 * Route a complete group: a native address space's goes to the iopf
 * workers; a guest process's is either a stage-2 fault (the guest's stage
 * 1 translates it but the host has not backed the page: the host fixes it
 * like its own) or the guest's, handed to the IOASID fault handler in the
 * handler thread's context (iommufd's handler has no workqueue hop,
 * fault-path-semantics 4b item 13). Returns the time the report takes the
 * handler thread.
 */
static sim_time_t group_route(ioasid_host_t *h, iopf_group_t *g)
{
    if (g->gp && h->virt) {
        if (ioasid_virt_s2_fault(h->virt, g->gp, g->last->desc.addr,
                                 &g->gpa)) {
            g->s2 = true;
        } else {
            h->tot.groups++;
            h->tot.in_flight++;
            h->s.groups->value++;
            h->s.guest_groups->value++;
            return ioasid_virt_fault(h->virt, g->gp, g);
        }
    }
    group_queue(h, g);
    return 0;
}

/* Report one page request descriptor to the iopf core (io-pgfault.c);
 * returns extra handler-thread time (a guest-owned group's report). */
static sim_time_t report(ioasid_host_t *h, const iommu_prq_desc_t *d)
{
    if ((d->flags & PCIE_F_LAST) && !(d->flags & (PCIE_F_R | PCIE_F_W))) {
        h->s.stop_markers->value++; /* stop marker: dropped silently */
        return 0;
    }
    h->tot.reported++;
    h->s.reported->value++;
    iopf_fault_t *f = fault_new(h, d);
    if (!f)
        return 0;
    if (!(d->flags & PCIE_F_LAST)) {
        f->next = h->partials;
        h->partials = f;
        return 0;
    }
    /* Take the partials with the same RID and group index, oldest first
     * (the partial list is newest first), then the last request. */
    iopf_fault_t **pp = &h->partials, *taken = NULL;
    while (*pp) {
        iopf_fault_t *p = *pp;
        if (p->desc.rid == d->rid && p->desc.prgi == d->prgi) {
            *pp = p->next;
            p->next = taken;
            taken = p;
        } else {
            pp = &p->next;
        }
    }
    iopf_group_t *g = group_of_one(h, f);
    if (!g)
        return 0;
    if (taken) {
        iopf_fault_t **tail = &taken;
        while (*tail)
            tail = &(*tail)->next;
        *tail = f;
        g->faults = taken;
    }
    return group_route(h, g);
}

/* Report one fault record: a stall event becomes a group of one, anything
 * else is unrecoverable (only counted, as Linux only prints it). */
static void report_event(ioasid_host_t *h, const iommu_fault_rec_t *r)
{
    if (!r->stall) {
        h->s.ev_unrecoverable->value++;
        return;
    }
    h->s.ev_stalls->value++;
    iommu_prq_desc_t d = {
        .addr = r->addr & ~(IOMMU_PAGE_SIZE - 1),
        .pasid = r->pasid_valid ? r->pasid : IOMMU_PASID_NONE,
        .rid = r->rid,
        .prgi = r->stag,
        .flags = (uint8_t)(r->flags | PCIE_F_LAST |
                           (r->pasid_valid ? PCIE_F_PASID : 0)),
        .span = r->span};
    iopf_fault_t *f = fault_new(h, &d);
    if (!f)
        return;
    iopf_group_t *g = group_of_one(h, f);
    if (!g)
        return;
    g->stall = true;
    g->stag = r->stag;
    group_queue(h, g);
}

/* Discard every partial request (iopf_queue_discard_partial). */
static void discard_partials(ioasid_host_t *h)
{
    while (h->partials) {
        iopf_fault_t *p = h->partials;
        h->partials = p->next;
        sim_pool_put(&h->faults, p);
        h->tot.partial_discarded++;
        h->s.partial_discarded->value++;
    }
}

/* ----------------------------------------------------- handler threads */

static void thread_run(ioasid_host_t *h, hq_reader_t *q);

/* End of a handler run: write head once; recover from an overflow (per
 * architecture); run again if an interrupt came meanwhile. */
static void thread_end(ioasid_host_t *h, hq_reader_t *q)
{
    iommu_t *u = h->iommu;
    if (q->evq) {
        iommu_fault_set_head(u, q->tail);
        if (iommu_fault_overflowed(u)) {
            h->s.ev_overflows->value++;
            iommu_fault_ack_overflow(u);
        }
    } else {
        iommu_prq_set_head(u, q->tail);
        bool smmu = iommu_arch(u) == IOMMU_ARCH_SMMUV3;
        if ((iommu_prq_status(u) & IOMMU_PRS_PRO) &&
            (smmu || iommu_prq_count(u) == 0)) {
            discard_partials(h);
            iommu_prq_clear_status(u, IOMMU_PRS_PRO);
            h->s.overflow_recoveries->value++;
        }
        sim_hist_add(h->s.batch, q->count);
    }
    q->running = false;
    if (q->rerun) {
        q->rerun = false;
        thread_run(h, q);
    }
}

static void ev_thread_end(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_host_t *h = opaque;
    thread_end(h, arg ? &h->evq : &h->prq);
}

/* The next descriptor has been read; report it, go on or finish. */
static void ev_desc(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_host_t *h = opaque;
    hq_reader_t *q = arg ? &h->evq : &h->prq;
    sim_time_t extra = 0;
    if (q->evq) {
        iommu_fault_rec_t r;
        iommu_fault_read(h->iommu, q->pos, &r);
        report_event(h, &r);
        q->pos = iommu_fault_next(h->iommu, q->pos);
    } else {
        iommu_prq_desc_t d;
        iommu_prq_read(h->iommu, q->pos, &d);
        extra = report(h, &d);
        q->pos = iommu_prq_next(h->iommu, q->pos);
    }
    q->count++;
    if (q->pos != q->tail)
        sim_schedule(sim, extra + sim_dist_draw(&h->cfg.prq_desc, &h->rng),
                     ev_desc, h, q->evq);
    else if (extra)
        sim_schedule(sim, extra, ev_thread_end, h, q->evq);
    else
        thread_end(h, q);
}

static void thread_run(ioasid_host_t *h, hq_reader_t *q)
{
    iommu_t *u = h->iommu;
    q->running = true;
    q->count = 0;
    if (q->evq) {
        h->s.ev_runs->value++;
        q->pos = iommu_fault_head(u);
        q->tail = iommu_fault_tail(u);
    } else {
        h->s.runs->value++;
        if (iommu_arch(u) == IOMMU_ARCH_VTD)
            iommu_prq_clear_status(u, IOMMU_PRS_PPR);
        q->pos = iommu_prq_head(u);
        q->tail = iommu_prq_tail(u);
    }
    if (q->pos == q->tail) {
        thread_end(h, q);
        return;
    }
    sim_schedule(h->sim, sim_dist_draw(&h->cfg.prq_desc, &h->rng), ev_desc, h,
                 q->evq);
}

/* The interrupt reaches its handler thread (arg 0: PRQ, 1: event queue). */
static void ev_irq(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_host_t *h = opaque;
    hq_reader_t *q = arg ? &h->evq : &h->prq;
    if (q->running)
        q->rerun = true; /* oneshot threaded IRQ: runs again after */
    else
        thread_run(h, q);
}

/* The PRQ MSI: the threaded handler runs after irq_latency. */
static void prq_irq(void *opaque)
{
    ioasid_host_t *h = opaque;
    h->s.irqs->value++;
    sim_schedule(h->sim, h->cfg.irq_latency, ev_irq, h, 0);
}

/* The fault/event queue MSI: its handler runs after irq_latency. */
static void fault_irq(void *opaque)
{
    ioasid_host_t *h = opaque;
    h->s.ev_irqs->value++;
    sim_schedule(h->sim, h->cfg.irq_latency, ev_irq, h, 1);
}

/* ------------------------------------------------------------ lifecycle */

static int host_stats(ioasid_host_t *h, sim_stats_t *st)
{
#define C(field, name, d, unit)                                                \
    if (!(h->s.field = sim_stats_counter(st, name, d, unit)))                  \
        return -ENOMEM;
    C(irqs, "host.prq.interrupts", "PRQ interrupts received", "interrupts");
    C(runs, "host.prq.runs", "handler thread runs", "runs");
    C(reported, "host.prq.reported", "page requests reported to the iopf core",
      "requests");
    C(stop_markers, "host.prq.stop_markers", "stop markers dropped",
      "requests");
    C(overflow_recoveries, "host.prq.overflow_recoveries",
      "PRQ overflows cleared after draining", "events");
    C(partial_discarded, "host.iopf.partial_discarded",
      "partial requests discarded after an overflow", "requests");
    C(groups, "host.iopf.groups", "fault groups handled", "groups");
    C(resp_success, "host.iopf.resp_success", "groups answered Success",
      "groups");
    C(resp_invalid, "host.iopf.resp_invalid", "groups answered Invalid",
      "groups");
    C(unmaps, "host.unmap.count", "unmaps with invalidation", "unmaps");
    C(guest_groups, "host.iopf.guest_groups",
      "groups handed to the IOASID fault handler (guest-owned)", "groups");
    C(unbinds, "host.unbinds", "(RID, PASID) bindings torn down", "unbinds");
    C(ev_irqs, "host.evq.interrupts", "fault/event queue interrupts received",
      "interrupts");
    C(ev_runs, "host.evq.runs", "event handler thread runs", "runs");
    C(ev_stalls, "host.evq.stalls",
      "stall events reported as a fault group of one", "events");
    C(ev_unrecoverable, "host.evq.unrecoverable",
      "unrecoverable fault records read (only counted)", "records");
    C(ev_overflows, "host.evq.overflows",
      "fault/event queue overflows acknowledged", "events");
    C(resumes, "host.iopf.resumes", "stalled transactions resumed",
      "groups");
    C(minor, "host.mm.minor_faults", "pages populated by a fault", "faults");
    C(spurious, "host.mm.spurious_faults",
      "faults on pages already present with the access allowed", "faults");
    C(upgrades, "host.mm.permission_upgrades",
      "faults that made a present page writable", "faults");
    C(bad_access, "host.mm.bad_access",
      "faults outside any mapping or not allowed by it (Invalid)", "faults");
#undef C
    h->s.batch = sim_stats_hist(st, "host.prq.batch",
                                "descriptors read per handler run",
                                "descriptors");
    h->s.unmap_latency = sim_stats_hist(
        st, "host.unmap.latency",
        "unmap: invalidation queue batch (IOTLB, device-TLB, wait) until the "
        "wait completes", "ps");
    return h->s.batch && h->s.unmap_latency ? 0 : -ENOMEM;
}

ioasid_host_t *ioasid_host_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_host_cfg_t *cfg, iommu_t *iommu,
                                  uint64_t seed)
{
    ioasid_host_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->sim = sim;
    h->cfg = *cfg;
    h->iommu = iommu;
    sim_rng_seed(&h->rng, seed, "host");
    sim_pool_init(&h->faults, sizeof(iopf_fault_t), 256);
    sim_pool_init(&h->groups, sizeof(iopf_group_t), 256);
    sim_pool_init(&h->unmap_ops, sizeof(unmap_op_t), 64);
    sim_server_cfg_t wc = {.name = "host.iopf_workers",
                           .servers = cfg->iopf_workers ? cfg->iopf_workers : 1,
                           .queue_limit = 0,
                           .service = cfg->iopf};
    sim_rng_seed(&h->workers_rng, seed, "host.iopf_workers");
    h->workers = sim_server_create(sim, st, &wc, &h->workers_rng, worker_done,
                                   h);
    if (!h->workers || host_stats(h, st)) {
        ioasid_host_destroy(h);
        return NULL;
    }
    h->evq.evq = true;
    iommu_set_prq_irq(iommu, prq_irq, h);
    iommu_set_fault_irq(iommu, fault_irq, h);
    return h;
}

void ioasid_host_destroy(ioasid_host_t *h)
{
    if (!h)
        return;
    sim_server_destroy(h->workers);
    for (size_t i = 0; i < h->nmms; i++)
        ioasid_mm_destroy(h->mms[i]);
    free(h->mms);
    free(h->binds);
    sim_pool_fini(&h->faults);
    sim_pool_fini(&h->groups);
    sim_pool_fini(&h->unmap_ops);
    free(h);
}

void ioasid_host_totals(const ioasid_host_t *h, ioasid_host_totals_t *out)
{
    *out = h->tot;
}
