/*
 * replay.c - the replay of trace records (see replay.h): each source keeps
 * one record of lookahead; an event applies every record due now and
 * schedules itself at the time of the next one. pcie/ knows nothing of
 * files and traces/ nothing of devices: this is where the two meet.
 *
 * Read-ahead is bounded: the trace is read only as far as the model needs.
 * A DMA record for a device that already holds device.tags + run.dma_queue
 * DMAs not finished (in service or queued for a tag) is not applied: the
 * replay waits, reading nothing more, until one of that device's DMAs ends,
 * and then applies the records that came due meanwhile at once (counted in
 * trace.late). The device's own DMAs start exactly when they would have
 * (its queue is FIFO and still holds run.dma_queue of them); only records
 * behind the waiting one are delayed. So memory stays flat however far
 * the trace outruns the machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/platform/replay.h"
#include "tools/platform/state.h"

static void input_error(platform_t *p, const platform_src_state_t *s,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void input_error(platform_t *p, const platform_src_state_t *s,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sim_logf(p->log, SIM_LOG_ERROR, "%s:%" PRIu64 ": %s", s->s.name,
             s->rec.line, msg);
    p->status = PLATFORM_INPUT_ERROR;
    sim_stop(p->sim);
}

/* Check that [addr, addr+len) fits the input address width. */
static bool fits_width(platform_t *p, const platform_src_state_t *s,
                       uint64_t addr, uint64_t len)
{
    unsigned bits = iommu_pt_va_bits(p->cfg.iommu.levels);
    uint64_t limit = 1ull << bits;
    if (addr >= limit || len > limit - addr) {
        input_error(p, s,
                    "address range 0x%" PRIx64 "+0x%" PRIx64
                    " is outside the %u-bit input address width of a "
                    "%" PRIu64 "-level table (iommu.levels)",
                    addr, len, bits, p->cfg.iommu.levels);
        return false;
    }
    return true;
}

static void unknown_pasid(platform_t *p, const platform_src_state_t *s)
{
    input_error(p, s,
                "unknown PASID %" PRIu32 " for device %" PRIu32
                ": no map record set up its address space",
                s->rec.pasid, s->rec.dev);
}

/* A new address space when all 65,535 domain ids are in use by live ones
 * (VT-d DID: 16 bits, VT-d rev 5.0 9.4 / 9.6; SMMUv3 ASID: 16 bits,
 * CD.ASID). */
static void no_domain(platform_t *p, const platform_src_state_t *s)
{
    input_error(p, s,
                "device %" PRIu32 " PASID %" PRIu32
                ": the trace asks for more live address spaces than the "
                "16-bit domain ids allow (65535 in use; detach some first)",
                s->rec.dev, s->rec.pasid);
}

/* The model ran out of memory: stop the run as a simulation error. */
static void sim_error(platform_t *p)
{
    sim_logf(p->log, SIM_LOG_ERROR, "out of memory");
    p->status = PLATFORM_SIM_ERROR;
    sim_stop(p->sim);
}

static int start_dma(platform_t *p, pcie_dev_t *dev, const trace_record_t *r);

static uint64_t trace_perm(unsigned perm)
{
    return ((perm & TRACE_PERM_R) ? IOMMU_PTE_R : 0) |
           ((perm & TRACE_PERM_W) ? IOMMU_PTE_W : 0) |
           ((perm & TRACE_PERM_X) ? IOMMU_PTE_X : 0);
}

/* Report the error code of a map or unmap as an input error (or stop the
 * run on a simulation error). */
static void map_error(platform_t *p, const platform_src_state_t *s, int rc)
{
    const trace_record_t *r = &s->rec;
    if (rc == -EEXIST)
        input_error(p, s,
                    "map 0x%" PRIx64 "+0x%" PRIx64
                    " overlaps an existing mapping of device %" PRIu32
                    " PASID %" PRIu32,
                    r->addr, r->len, r->dev, r->pasid);
    else if (rc == -EINVAL && r->op == TRACE_MAP)
        input_error(p, s,
                    "map address and length must be multiples of %" PRIu64
                    " (the page size %s; got 0x%" PRIx64 "+0x%" PRIx64 ")",
                    (uint64_t)1 << trace_page_shift(r->page),
                    trace_page_name(r->page), r->addr, r->len);
    else if (rc == -EINVAL)
        input_error(p, s,
                    "%s address and length must be multiples of 4096 "
                    "and must not split a huge page (got 0x%" PRIx64
                    "+0x%" PRIx64 ")",
                    trace_op_name(r->op), r->addr, r->len);
    else if (rc == -ENOSPC)
        input_error(p, s,
                    "map 0x%" PRIx64 "+0x%" PRIx64 ": the guest's memory "
                    "is full (vm.memory)",
                    r->addr, r->len);
    else if (rc == -ENOENT)
        unknown_pasid(p, s);
    else if (rc == IOASID_NO_DOMAIN)
        no_domain(p, s);
    else if (rc)
        sim_error(p);
}

/* An unmap of a range with no mapping of a known PASID is a counted no-op
 * (munmap of an unmapped range succeeds: Linux mm/mmap.c, do_vmi_munmap);
 * other failures are reported as for a map. */
static void unmap_result(platform_t *p, const platform_src_state_t *s, int rc)
{
    if (rc == IOASID_UNMAP_EMPTY)
        p->s.unmaps_empty->value++;
    else
        map_error(p, s, rc);
}

/* ------------------------------------------------------------ detach */

/*
 * A detach record: the PASID lifecycle's end, in the order Linux requires
 * (drivers/iommu/io-pgfault.c, kdoc of iommu_report_device_fault: "The
 * PASID stop request is issued by the device driver before unbind()"):
 *  1. the device stops using the PASID (pcie_dev_stop_pasid: PCIe r4.0
 *     6.20.1, a Stop Marker if page requests are outstanding);
 *  2. then the host tears the binding down (ioasid_host_unbind; a VM's
 *     binding through ioasid_virt_detach, which then answers the FAULT
 *     object's pending faults Invalid);
 *  3. records of (dev, pasid) that arrive meanwhile (a new map, DMAs)
 *     wait and are applied in order when it is over: Linux's attach of
 *     the PASID waits for the detach (both hold the group mutex:
 *     drivers/iommu/iommu.c: iommu_detach_device_pasid,
 *     iommu_attach_device_pasid), so a new binding never sees the old
 *     one's page requests.
 */
static void apply(platform_t *p, platform_src_state_t *s);

static platform_detach_t *detach_find(platform_t *p, unsigned dev,
                                      uint32_t pasid)
{
    for (platform_detach_t *d = p->detaches; d; d = d->next)
        if (d->dev == dev && d->pasid == pasid)
            return d;
    return NULL;
}

static void detach_free(platform_detach_t *d)
{
    free(d->held);
    free(d);
}

/* Step 3: the binding is gone; apply the records that waited. */
static void detach_done(void *opaque, uint16_t rid, uint32_t pasid)
{
    (void)rid;
    (void)pasid;
    platform_detach_t *d = opaque;
    platform_t *p = d->p;
    sim_hist_add(p->s.detach_latency, sim_now(p->sim) - d->start);
    for (platform_detach_t **pp = &p->detaches; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    for (size_t i = 0; i < d->nheld && p->status == PLATFORM_OK; i++)
        apply(p, &d->held[i]);
    detach_free(d);
}

/* Step 2: the device has stopped the PASID. */
static void detach_stopped(void *opaque, pcie_dev_t *dev, uint32_t pasid)
{
    platform_detach_t *d = opaque;
    platform_t *p = d->p;
    uint16_t rid = pcie_dev_rid(dev);
    ioasid_mm_t *mm = ioasid_mm_lookup(p->host, rid, pasid);
    /* A host process's address space dies with its last binding. */
    const platform_device_t *pd = &p->topo.devs[d->dev];
    int rc = pd->vm >= 0 ? ioasid_virt_detach(p->vms[pd->vm], pd->vm_index,
                                              pasid, detach_done, d)
             : mm        ? ioasid_mm_unbind(mm, rid, pasid, detach_done, d)
                  : ioasid_host_unbind(p->host, rid, pasid, detach_done, d);
    if (rc == -ENOMEM)
        sim_error(p);
    else if (rc)
        detach_done(d, 0, pasid); /* nothing bound: nothing to tear down */
}

/* Step 1. */
static void detach_start(platform_t *p, pcie_dev_t *dev, unsigned index,
                         uint32_t pasid)
{
    platform_detach_t *d = calloc(1, sizeof(*d));
    if (!d) {
        sim_error(p);
        return;
    }
    d->p = p;
    d->dev = index;
    d->pasid = pasid;
    d->start = sim_now(p->sim);
    d->next = p->detaches;
    p->detaches = d;
    int rc = pcie_dev_stop_pasid(dev, pasid, detach_stopped, d);
    if (rc == -ENOMEM)
        sim_error(p);
    else if (rc) /* too many stops at once on the device: go on unstopped */
        detach_stopped(d, dev, pasid);
}

/* Hold a record of a (dev, pasid) being detached until it is over. */
static bool detach_hold(platform_t *p, const platform_src_state_t *s)
{
    platform_detach_t *d = detach_find(p, s->rec.dev, s->rec.pasid);
    if (!d)
        return false;
    if (SIM_GROW(d->held, d->held_cap, d->nheld + 1, 4)) {
        sim_error(p);
        return true;
    }
    d->held[d->nheld++] = *s;
    return true;
}

void platform_replay_fini(platform_t *p)
{
    while (p->detaches) {
        platform_detach_t *d = p->detaches;
        p->detaches = d->next;
        detach_free(d);
    }
}

/* ------------------------------------------------------------ records */

/* A record for a device assigned to a VM: its PASIDs are guest
 * processes. */
static void apply_vm(platform_t *p, const platform_src_state_t *s,
                     pcie_dev_t *dev)
{
    const trace_record_t *r = &s->rec;
    const platform_device_t *pd = &p->topo.devs[r->dev];
    ioasid_virt_t *vm = p->vms[pd->vm];
    unsigned vdev = pd->vm_index;
    switch (r->op) {
    case TRACE_MAP:
        map_error(p, s,
                  ioasid_virt_map_pages(vm, vdev, r->pasid, r->addr, r->len,
                                        trace_perm(r->perm), r->present,
                                        trace_page_shift(r->page)));
        return;
    case TRACE_UNMAP:
        unmap_result(p, s,
                     ioasid_virt_unmap(vm, vdev, r->pasid, r->addr, r->len));
        return;
    case TRACE_DETACH:
        if (!ioasid_virt_attached(vm, vdev, r->pasid)) {
            unknown_pasid(p, s);
            return;
        }
        detach_start(p, dev, r->dev, r->pasid);
        return;
    case TRACE_READ:
    case TRACE_WRITE:
        if (!ioasid_virt_attached(vm, vdev, r->pasid))
            unknown_pasid(p, s);
        else if (start_dma(p, dev, r))
            sim_error(p);
        return;
    }
}

/* A record for a host device: each (device, PASID) is a host process
 * (native SVA). */
static void apply_native(platform_t *p, const platform_src_state_t *s,
                         pcie_dev_t *dev)
{
    const trace_record_t *r = &s->rec;
    uint16_t rid = pcie_dev_rid(dev);
    ioasid_mm_t *mm = ioasid_mm_lookup(p->host, rid, r->pasid);
    if (r->op != TRACE_MAP && !mm) {
        unknown_pasid(p, s);
        return;
    }
    switch (r->op) {
    case TRACE_MAP:
        if (!mm) {
            int rc = ioasid_mm_new(p->host, &mm);
            if (rc == IOASID_NO_DOMAIN) {
                no_domain(p, s);
                return;
            }
            if (rc || ioasid_mm_bind(mm, rid, r->pasid)) {
                sim_error(p);
                return;
            }
        }
        map_error(p, s,
                  ioasid_mm_map_pages(mm, r->addr, r->len, trace_perm(r->perm),
                                      r->present, trace_page_shift(r->page)));
        return;
    case TRACE_UNMAP:
        unmap_result(p, s, ioasid_mm_unmap(mm, r->addr, r->len));
        return;
    case TRACE_DETACH:
        detach_start(p, dev, r->dev, r->pasid);
        return;
    case TRACE_READ:
    case TRACE_WRITE:
        if (start_dma(p, dev, r))
            sim_error(p);
        return;
    }
}

/* A DMA record is handed to its device: count it until it ends. */
static int start_dma(platform_t *p, pcie_dev_t *dev, const trace_record_t *r)
{
    sim_gauge_t *g = p->s.dmas_held;
    p->dev_dmas[r->dev]++;
    sim_gauge_set(g, sim_now(p->sim), g->value + 1);
    int rc = pcie_dev_dma(dev, r->pasid, r->addr, r->len, r->op == TRACE_WRITE);
    if (rc) {
        p->dev_dmas[r->dev]--;
        sim_gauge_set(g, sim_now(p->sim), g->value - 1);
    }
    return rc;
}

static void ev_records(sim_t *sim, void *opaque, uint64_t arg);

/* The read-ahead bound of device i: its tags + run.dma_queue. */
static uint64_t dma_limit(const platform_t *p, unsigned i)
{
    return p->topo.devs[i].dev.tags + p->cfg.run.dma_queue;
}

/* A DMA of `dev` ended (done, failed or dropped): if the replay waits for
 * this device, it goes on now. */
static void dma_done(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                     uint64_t addr, uint64_t len, bool write, bool ok)
{
    (void)pasid, (void)addr, (void)len, (void)write, (void)ok;
    platform_t *p = opaque;
    unsigned i = pcie_dev_index(dev);
    sim_gauge_t *g = p->s.dmas_held;
    sim_time_t now = sim_now(p->sim);
    if (i >= p->ndevs || p->dev_dmas[i] == 0)
        return;
    p->dev_dmas[i]--;
    sim_gauge_set(g, now, g->value - 1);
    if (p->waiting && p->wait_dev == i && p->dev_dmas[i] < dma_limit(p, i)) {
        p->waiting = false;
        *p->s.wait_time += (double)(now - p->wait_from);
        if (!sim_schedule(p->sim, 0, ev_records, p, 0))
            sim_error(p);
    }
}

/* Whether the record must wait: a DMA for a device that holds the most
 * unfinished DMAs the read-ahead bound allows. */
static bool must_wait(platform_t *p, const trace_record_t *r)
{
    if ((r->op != TRACE_READ && r->op != TRACE_WRITE) || r->dev >= p->ndevs ||
        p->dev_dmas[r->dev] < dma_limit(p, r->dev))
        return false;
    p->waiting = true;
    p->wait_dev = r->dev;
    p->wait_from = sim_now(p->sim);
    p->s.waits->value++;
    return true;
}

static void apply(platform_t *p, platform_src_state_t *s)
{
    const trace_record_t *r = &s->rec;
    if (p->detaches && detach_hold(p, s))
        return;
    p->s.records->value++;
    if (r->dev >= p->ndevs) {
        input_error(p, s,
                    "unknown device %" PRIu32
                    "; the configuration has %u device(s) (device.count)",
                    r->dev, p->ndevs);
        return;
    }
    /* A trace that says whose accesses it holds is not replayed on a
     * device that is someone else's (no silent fallback). */
    const platform_device_t *pd = &p->topo.devs[r->dev];
    bool guest = pd->vm >= 0;
    if (r->domain != TRACE_DOMAIN_ANY &&
        (r->domain == TRACE_DOMAIN_GUEST) != guest) {
        input_error(p, s,
                    "the trace says 'domain %s' but device %s is assigned "
                    "to %s (vm.devices)",
                    guest ? "native" : "guest", pd->name,
                    guest ? "a VM" : "no VM");
        return;
    }
    if (r->op != TRACE_DETACH && !fits_width(p, s, r->addr, r->len))
        return;
    switch (r->op) {
    case TRACE_MAP:
        p->s.maps->value++;
        break;
    case TRACE_UNMAP:
        p->s.unmaps->value++;
        break;
    case TRACE_DETACH:
        p->s.detaches->value++;
        break;
    case TRACE_READ:
    case TRACE_WRITE:
        p->s.dmas->value++;
        break;
    }
    if (p->topo.devs[r->dev].vm >= 0)
        apply_vm(p, s, p->devs[r->dev]);
    else
        apply_native(p, s, p->devs[r->dev]);
}

/* Read the next record of source i into its lookahead. */
static bool fetch(platform_t *p, platform_src_state_t *s)
{
    int rc = s->s.next(s->s.src, &s->rec);
    if (rc < 0) {
        p->status = PLATFORM_INPUT_ERROR;
        sim_stop(p->sim);
        s->has = false;
        return false;
    }
    s->has = rc > 0;
    if (s->has && s->rec.time >= SIM_TIME_LIMIT) {
        /* The engine simulates nothing at or after SIM_TIME_LIMIT. */
        input_error(p, s,
                    "record time %.0f s is past the simulator's time limit "
                    "of 2^62 ps (%.0f s)",
                    (double)s->rec.time / (double)SIM_S,
                    (double)SIM_TIME_LIMIT / (double)SIM_S);
        s->has = false;
        return false;
    }
    return true;
}

/* The source whose next record comes first (ties: lowest index). */
static platform_src_state_t *earliest(platform_t *p)
{
    platform_src_state_t *best = NULL;
    for (unsigned i = 0; i < p->nsrcs; i++) {
        platform_src_state_t *s = &p->srcs[i];
        if (s->has && (!best || s->rec.time < best->rec.time))
            best = s;
    }
    return best;
}

/* Apply every record due now, then wait for the next one. */
static void ev_records(sim_t *sim, void *opaque, uint64_t arg)
{
    platform_t *p = opaque;
    sim_time_t now = sim_now(sim);
    for (;;) {
        platform_src_state_t *s = earliest(p);
        if (!s)
            return;
        if (s->rec.time > now) {
            sim_schedule_at(sim, s->rec.time, ev_records, p, 0);
            return;
        }
        if (must_wait(p, &s->rec))
            return; /* dma_done schedules the replay again */
        if (s->rec.time < now)
            p->s.late->value++;
        apply(p, s);
        if (p->status != PLATFORM_OK || !fetch(p, s))
            return;
    }
}

/*
 * After the run: every replayed DMA must have ended and every source been
 * read to its end, unless the run stopped at run.max_time. Otherwise work
 * is outstanding with nothing left to move it on (a model error): say so
 * and fail the run (docs/model.md, "The end of a run").
 */
static void check_outstanding(platform_t *p)
{
    uint64_t dmas = 0;
    for (unsigned i = 0; i < p->ndevs; i++)
        dmas += p->dev_dmas[i];
    p->records_left = false;
    for (unsigned i = 0; i < p->nsrcs; i++)
        p->records_left |= p->srcs[i].has;
    sim_time_t now = sim_now(p->sim);
    bool cut = p->cfg.run.max_time && now >= p->cfg.run.max_time;
    if (cut || (dmas == 0 && !p->records_left))
        return;
    p->incomplete = true;
    p->status = PLATFORM_SIM_ERROR;
    sim_logf(p->log, SIM_LOG_ERROR,
             "the run ended at %.3f us with work outstanding: %" PRIu64
             " DMA(s) not finished%s, %" PRIu64
             " fault(s) open; nothing was left to move them on",
             (double)now / (double)SIM_US, dmas,
             p->records_left ? ", trace records not replayed" : "",
             sim_spans_open_count(p->faults));
}

/* Events a slice of the run aims at: few enough that an interruption
 * stops the run promptly, enough that slicing costs nothing. */
#define SLICE_MIN_EVENTS 1024u
#define SLICE_MAX_EVENTS 16384u

/*
 * Run the engine to the end (run.max_time if set), as one sim_run would,
 * but in slices of simulated time so that the interrupt flag is looked at
 * between them: the slice doubles while it runs few events (a gap in the
 * trace costs a few slices, not one per microsecond) and halves while it
 * runs many. Slicing changes nothing in the run: sim_run stops at a
 * slice's end only when the next event is later, and nothing is
 * scheduled between two slices.
 */
static void run_engine(platform_t *p, unsigned errors)
{
    sim_time_t end = p->cfg.run.max_time ? p->cfg.run.max_time : SIM_TIME_MAX;
    sim_time_t slice = SIM_US;
    for (;;) {
        if (p->interrupt && *p->interrupt) {
            p->status = PLATFORM_INTERRUPTED;
            return;
        }
        sim_time_t now = sim_now(p->sim);
        sim_time_t until = end - now > slice ? now + slice : end;
        uint64_t n = sim_run(p->sim, until);
        now = sim_now(p->sim);
        /* Over: an error (the replay's, or one the model logged: it stops
         * the engine), no work left, the end reached, or the engine
         * stopped before the slice's end (sim_stop, or held work with no
         * event to serve it). */
        if (p->status != PLATFORM_OK || (p->log && p->log->errors > errors) ||
            sim_past_limit(p->sim) || !sim_work_pending(p->sim) || now >= end ||
            now < until)
            return;
        if (n < SLICE_MIN_EVENTS && slice < SIM_TIME_LIMIT / 2)
            slice *= 2;
        else if (n > SLICE_MAX_EVENTS && slice > 1)
            slice /= 2;
    }
}

void platform_set_interrupt(platform_t *p, const volatile sig_atomic_t *flag)
{
    p->interrupt = flag;
}

int platform_run(platform_t *p, platform_source_t *srcs, unsigned nsrcs)
{
    p->srcs = calloc(nsrcs ? nsrcs : 1, sizeof(*p->srcs));
    if (!p->srcs) {
        sim_logf(p->log, SIM_LOG_ERROR, "out of memory");
        return PLATFORM_SIM_ERROR;
    }
    p->nsrcs = nsrcs;
    p->status = PLATFORM_OK;
    p->waiting = false;
    p->incomplete = false;
    for (unsigned i = 0; i < p->ndevs; i++)
        pcie_dev_set_dma_done(p->devs[i], dma_done, p);
    for (unsigned i = 0; i < nsrcs; i++) {
        p->srcs[i].s = srcs[i];
        if (!fetch(p, &p->srcs[i]))
            break;
    }
    if (p->status == PLATFORM_OK) {
        platform_src_state_t *first = earliest(p);
        if (first)
            sim_schedule_at(p->sim, first->rec.time, ev_records, p, 0);
        for (unsigned v = 0; v < p->nvms; v++)
            ioasid_virt_start(p->vms[v]);
        unsigned errors = p->log ? p->log->errors : 0;
        run_engine(p, errors);
        if (p->status == PLATFORM_OK && p->log && p->log->errors > errors)
            p->status = PLATFORM_SIM_ERROR;
        if (p->status == PLATFORM_OK)
            check_outstanding(p);
    }
    free(p->srcs);
    p->srcs = NULL;
    p->nsrcs = 0;
    return p->status;
}
