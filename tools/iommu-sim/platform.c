/*
 * platform.c - assembles devices, links, the IOMMU and the host driver
 * from configuration, replays record sources in time order, and writes the
 * outputs. pcie/ knows nothing of files and traces/ nothing of devices:
 * this is where the two meet.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tools/iommu-sim/platform.h"

static const sim_param_t run_params[] = {
    {"run", "seed", SIM_PARAM_UINT, "1", 0, 1.8e19, "",
     "seed of every random stream (each component draws from its own)", NULL,
     offsetof(platform_cfg_t, run.seed)},
    {"run", "max_time", SIM_PARAM_TIME, "0", 0, 1.8e10, "ns",
     "stop the simulation at this simulated time (0: run until all DMAs are "
     "done)", NULL, offsetof(platform_cfg_t, run.max_time)},
    {"run", "epoch", SIM_PARAM_TIME, "100us", 0, 1.8e10, "ns",
     "time-series epoch of timeseries.csv (queue occupancy, faults, DMAs per "
     "epoch); 0: no time series", NULL, offsetof(platform_cfg_t, run.epoch)},
};

int platform_register(sim_config_t *cfg, platform_cfg_t *pc)
{
    int rc = sim_config_register(cfg, pcie_dev_params, pcie_dev_nparams,
                                 &pc->dev);
    if (!rc)
        rc = sim_config_register(cfg, pcie_link_params, pcie_link_nparams,
                                 &pc->link);
    if (!rc)
        rc = sim_config_register(cfg, iommu_params, iommu_nparams, &pc->iommu);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_host_params, ioasid_host_nparams,
                                 &pc->host);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_vm_params, ioasid_vm_nparams,
                                 &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_fault_params,
                                 ioasid_fault_nparams, &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_vmm_params, ioasid_vmm_nparams,
                                 &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_guest_params,
                                 ioasid_guest_nparams, &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, run_params,
                                 sizeof(run_params) / sizeof(run_params[0]),
                                 pc);
    return rc;
}

int platform_check(platform_cfg_t *pc, sim_log_t *log)
{
    const pcie_dev_cfg_t *d = &pc->dev;
    char err[256];
    if (pcie_link_cfg_resolve(&pc->link, err, sizeof(err))) {
        sim_logf(log, SIM_LOG_ERROR, "%s", err);
        return -EINVAL;
    }
    if (pcie_dev_cfg_check(d, log))
        return -EINVAL;
    if (d->rid_base + d->count - 1 > 0xffff) {
        sim_logf(log, SIM_LOG_ERROR,
                 "device.rid_base = 0x%" PRIx64 " + device.count = %" PRIu64
                 " runs "
                 "past the 16-bit requester id 0xffff",
                 d->rid_base, d->count);
        return -EINVAL;
    }
    if (pc->virt.devices > d->count) {
        sim_logf(log, SIM_LOG_ERROR,
                 "vm.devices = %" PRIu64 " is more than device.count = %"
                 PRIu64, pc->virt.devices, d->count);
        return -EINVAL;
    }
    if (pc->virt.memory & (IOMMU_PAGE_SIZE - 1)) {
        sim_logf(log, SIM_LOG_ERROR,
                 "vm.memory = %" PRIu64 " must be a multiple of 4096",
                 pc->virt.memory);
        return -EINVAL;
    }
    return iommu_cfg_check(&pc->iommu, log);
}

typedef struct src_state {
    platform_source_t s;
    trace_record_t rec;
    bool has;
} src_state_t;

struct platform {
    platform_cfg_t cfg;
    sim_log_t *log;
    sim_t *sim;
    sim_stats_t *stats;
    sim_spans_t *faults;
    iommu_t *iommu;
    ioasid_host_t *host;
    ioasid_virt_t *vm;
    pcie_dev_t **devs;
    unsigned ndevs;
    sim_series_t *series;
    sim_afile_t series_file;
    bool series_open;

    src_state_t *srcs;
    unsigned nsrcs;
    int status;

    struct {
        sim_counter_t *records, *maps, *unmaps, *dmas, *detaches;
        double *sim_time, *events, *faults_per_sec, *dmas_per_sec;
        double *pr_requests, *pr_responded, *pr_auto, *pr_dropped,
            *pr_in_flight;
    } s;
};

/* The IOMMU sends a message down to the device with that RID. */
static void route_down(void *opaque, uint16_t rid, const pcie_msg_t *m)
{
    platform_t *p = opaque;
    unsigned i = (unsigned)(rid - p->cfg.dev.rid_base);
    if (rid >= p->cfg.dev.rid_base && i < p->ndevs) {
        pcie_dev_send_down(p->devs[i], m);
        return;
    }
    sim_logf(p->log, SIM_LOG_WARN, "root complex: no device with RID %04x",
             rid);
}

static int platform_stats_init(platform_t *p)
{
    sim_stats_t *st = p->stats;
    p->s.records = sim_stats_counter(st, "trace.records", "records replayed",
                                     "records");
    p->s.maps = sim_stats_counter(st, "trace.maps", "map records", "records");
    p->s.unmaps = sim_stats_counter(st, "trace.unmaps", "unmap records",
                                    "records");
    p->s.dmas = sim_stats_counter(st, "trace.dmas", "DMA records", "records");
    p->s.detaches = sim_stats_counter(st, "trace.detaches", "detach records",
                                      "records");
    p->s.sim_time = sim_stats_scalar(st, "run.sim_time",
                                     "simulated time at the end", "ps");
    p->s.events = sim_stats_scalar(st, "run.events", "events executed",
                                   "events");
    p->s.faults_per_sec = sim_stats_scalar(
        st, "run.faults_per_sec", "faults resolved per simulated second",
        "faults/s");
    p->s.dmas_per_sec = sim_stats_scalar(
        st, "run.dmas_per_sec", "DMAs completed per simulated second",
        "DMAs/s");
    p->s.pr_requests = sim_stats_scalar(
        st, "pri.requests", "page requests received by the IOMMU (excluding "
        "stop markers)", "requests");
    p->s.pr_responded = sim_stats_scalar(
        st, "pri.responded", "page requests answered by a host page response",
        "requests");
    p->s.pr_auto = sim_stats_scalar(st, "pri.auto_responded",
                                    "page requests answered by hardware",
                                    "requests");
    p->s.pr_dropped = sim_stats_scalar(
        st, "pri.dropped",
        "page requests dropped with no response (hardware or discarded "
        "partial)", "requests");
    p->s.pr_in_flight = sim_stats_scalar(
        st, "pri.in_flight", "page requests not yet answered at the end",
        "requests");
    return p->s.records && p->s.maps && p->s.unmaps && p->s.dmas &&
                   p->s.detaches &&
                   p->s.sim_time && p->s.events && p->s.faults_per_sec &&
                   p->s.dmas_per_sec && p->s.pr_requests &&
                   p->s.pr_responded && p->s.pr_auto && p->s.pr_dropped &&
                   p->s.pr_in_flight
               ? 0
               : -ENOMEM;
}

platform_t *platform_create(const platform_cfg_t *pc, sim_log_t *log)
{
    platform_t *p = calloc(1, sizeof(*p));
    if (!p)
        goto oom;
    p->cfg = *pc;
    p->log = log;
    uint64_t seed = pc->run.seed;
    p->sim = sim_create(log);
    p->stats = sim_stats_create();
    if (!p->sim || !p->stats)
        goto oom;
    sim_stats_set_log(p->stats, log);
    if (platform_stats_init(p))
        goto oom;
    p->faults = sim_spans_create(p->stats, "fault", pcie_stage_names,
                                 pcie_stage_descs, PCIE_STAGE_COUNT);
    p->iommu = iommu_create(p->sim, p->stats, &pc->iommu, seed);
    if (!p->faults || !p->iommu)
        goto oom;
    p->host = ioasid_host_create(p->sim, p->stats, &pc->host, p->iommu,
                                 p->faults, seed);
    if (!p->host)
        goto oom;
    iommu_set_downstream(p->iommu, route_down, p);
    p->ndevs = pc->dev.count;
    p->devs = calloc(p->ndevs, sizeof(*p->devs));
    if (!p->devs)
        goto oom;
    pcie_dev_port_t port = {.up_rx = iommu_rx, .up_opaque = p->iommu};
    for (unsigned i = 0; i < p->ndevs; i++) {
        p->devs[i] = pcie_dev_create(p->sim, p->stats, i, &pc->dev, &pc->link,
                                     &port, p->faults, seed);
        if (!p->devs[i])
            goto oom;
    }
    if (pc->virt.devices) {
        uint16_t rids[256];
        for (unsigned i = 0; i < pc->virt.devices; i++)
            rids[i] = pcie_dev_rid(p->devs[i]);
        p->vm = ioasid_virt_create(p->sim, p->stats, &pc->virt, p->host,
                                   p->iommu, p->faults, rids,
                                   (unsigned)pc->virt.devices, seed);
        if (!p->vm) {
            platform_destroy(p);
            return NULL;
        }
    }
    return p;
oom:
    sim_logf(log, SIM_LOG_ERROR, "cannot build the platform: out of memory");
    platform_destroy(p);
    return NULL;
}

void platform_destroy(platform_t *p)
{
    if (!p)
        return;
    if (p->series_open)
        sim_afile_abort(&p->series_file);
    sim_series_destroy(p->series);
    ioasid_virt_destroy(p->vm);
    for (unsigned i = 0; p->devs && i < p->ndevs; i++)
        pcie_dev_destroy(p->devs[i]);
    free(p->devs);
    ioasid_host_destroy(p->host);
    iommu_destroy(p->iommu);
    sim_spans_destroy(p->faults);
    sim_stats_destroy(p->stats);
    sim_destroy(p->sim);
    free(p);
}

sim_t *platform_sim(platform_t *p)
{
    return p->sim;
}

sim_stats_t *platform_stats(platform_t *p)
{
    return p->stats;
}

iommu_t *platform_iommu(platform_t *p)
{
    return p->iommu;
}

pcie_dev_t *platform_device(platform_t *p, unsigned index)
{
    return index < p->ndevs ? p->devs[index] : NULL;
}

/* ---------------------------------------------------------- replay */

static void input_error(platform_t *p, const src_state_t *s, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

static void input_error(platform_t *p, const src_state_t *s, const char *fmt,
                        ...)
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
static bool fits_width(platform_t *p, const src_state_t *s, uint64_t addr,
                       uint64_t len)
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

static void unknown_pasid(platform_t *p, const src_state_t *s)
{
    input_error(p, s, "unknown PASID %" PRIu32 " for device %" PRIu32
                ": no map record set up its address space",
                s->rec.pasid, s->rec.dev);
}

/* The model ran out of memory: stop the run as a simulation error. */
static void sim_error(platform_t *p)
{
    sim_logf(p->log, SIM_LOG_ERROR, "out of memory");
    p->status = PLATFORM_SIM_ERROR;
    sim_stop(p->sim);
}

static uint64_t trace_perm(unsigned perm)
{
    return ((perm & TRACE_PERM_R) ? IOMMU_PTE_R : 0) |
           ((perm & TRACE_PERM_W) ? IOMMU_PTE_W : 0) |
           ((perm & TRACE_PERM_X) ? IOMMU_PTE_X : 0);
}

/* Report the error code of a map or unmap as an input error (or stop the
 * run on a simulation error). */
static void map_error(platform_t *p, const src_state_t *s, int rc)
{
    const trace_record_t *r = &s->rec;
    if (rc == -EEXIST)
        input_error(p, s, "map 0x%" PRIx64 "+0x%" PRIx64
                    " overlaps an existing mapping of device %" PRIu32
                    " PASID %" PRIu32, r->addr, r->len, r->dev, r->pasid);
    else if (rc == -EINVAL)
        input_error(p, s, "%s address and length must be multiples of 4096 "
                    "and must not split a huge page (got 0x%" PRIx64
                    "+0x%" PRIx64 ")", trace_op_name(r->op), r->addr, r->len);
    else if (rc == -ENOSPC)
        input_error(p, s, "map 0x%" PRIx64 "+0x%" PRIx64 ": the guest's memory "
                    "is full (vm.memory)", r->addr, r->len);
    else if (rc == -ENOENT)
        unknown_pasid(p, s);
    else if (rc)
        sim_error(p);
}

/* A record for a device assigned to the VM: its PASIDs are guest
 * processes. */
static void apply_vm(platform_t *p, const src_state_t *s, pcie_dev_t *dev)
{
    const trace_record_t *r = &s->rec;
    switch (r->op) {
    case TRACE_MAP:
        map_error(p, s, ioasid_virt_map(p->vm, r->dev, r->pasid, r->addr,
                                        r->len, trace_perm(r->perm),
                                        r->present));
        return;
    case TRACE_UNMAP:
        map_error(p, s,
                  ioasid_virt_unmap(p->vm, r->dev, r->pasid, r->addr, r->len));
        return;
    case TRACE_DETACH:
        if (!ioasid_virt_attached(p->vm, r->dev, r->pasid)) {
            unknown_pasid(p, s);
            return;
        }
        if (pcie_dev_stop_pasid(dev, r->pasid, NULL, NULL) == -ENOMEM ||
            ioasid_virt_detach(p->vm, r->dev, r->pasid) == -ENOMEM)
            sim_error(p);
        return;
    case TRACE_READ:
    case TRACE_WRITE:
        if (!ioasid_virt_attached(p->vm, r->dev, r->pasid))
            unknown_pasid(p, s);
        else if (pcie_dev_dma(dev, r->pasid, r->addr, r->len,
                              r->op == TRACE_WRITE))
            sim_error(p);
        return;
    }
}

/* A record for a host device: each (device, PASID) is a host process
 * (native SVA). */
static void apply_native(platform_t *p, const src_state_t *s, pcie_dev_t *dev)
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
            mm = ioasid_mm_create(p->host);
            if (!mm || ioasid_mm_bind(mm, rid, r->pasid)) {
                sim_error(p);
                return;
            }
        }
        map_error(p, s, ioasid_mm_map(mm, r->addr, r->len, trace_perm(r->perm),
                                      r->present));
        return;
    case TRACE_UNMAP:
        map_error(p, s, ioasid_mm_unmap(mm, r->addr, r->len));
        return;
    case TRACE_DETACH:
        if (pcie_dev_stop_pasid(dev, r->pasid, NULL, NULL) == -ENOMEM ||
            ioasid_host_unbind(p->host, rid, r->pasid) == -ENOMEM)
            sim_error(p);
        return;
    case TRACE_READ:
    case TRACE_WRITE:
        if (pcie_dev_dma(dev, r->pasid, r->addr, r->len, r->op == TRACE_WRITE))
            sim_error(p);
        return;
    }
}

static void apply(platform_t *p, src_state_t *s)
{
    const trace_record_t *r = &s->rec;
    p->s.records->value++;
    if (r->dev >= p->ndevs) {
        input_error(p, s,
                    "unknown device %" PRIu32
                    "; the configuration has %u device(s) (device.count)",
                    r->dev, p->ndevs);
        return;
    }
    if (r->op != TRACE_DETACH && !fits_width(p, s, r->addr, r->len))
        return;
    switch (r->op) {
    case TRACE_MAP: p->s.maps->value++; break;
    case TRACE_UNMAP: p->s.unmaps->value++; break;
    case TRACE_DETACH: p->s.detaches->value++; break;
    case TRACE_READ:
    case TRACE_WRITE: p->s.dmas->value++; break;
    }
    if (p->vm && r->dev < p->cfg.virt.devices)
        apply_vm(p, s, p->devs[r->dev]);
    else
        apply_native(p, s, p->devs[r->dev]);
}

/* Read the next record of source i into its lookahead. */
static bool fetch(platform_t *p, src_state_t *s)
{
    int rc = s->s.next(s->s.src, &s->rec);
    if (rc < 0) {
        p->status = PLATFORM_INPUT_ERROR;
        sim_stop(p->sim);
        s->has = false;
        return false;
    }
    s->has = rc > 0;
    return true;
}

/* The source whose next record comes first (ties: lowest index). */
static src_state_t *earliest(platform_t *p)
{
    src_state_t *best = NULL;
    for (unsigned i = 0; i < p->nsrcs; i++) {
        src_state_t *s = &p->srcs[i];
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
        src_state_t *s = earliest(p);
        if (!s)
            return;
        if (s->rec.time > now) {
            sim_schedule_at(sim, s->rec.time, ev_records, p, 0);
            return;
        }
        apply(p, s);
        if (p->status != PLATFORM_OK || !fetch(p, s))
            return;
    }
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
    for (unsigned i = 0; i < nsrcs; i++) {
        p->srcs[i].s = srcs[i];
        if (!fetch(p, &p->srcs[i]))
            break;
    }
    if (p->status == PLATFORM_OK) {
        src_state_t *first = earliest(p);
        if (first)
            sim_schedule_at(p->sim, first->rec.time, ev_records, p, 0);
        if (p->vm)
            ioasid_virt_start(p->vm);
        unsigned errors = p->log ? p->log->errors : 0;
        sim_run(p->sim, p->cfg.run.max_time ? p->cfg.run.max_time
                                            : SIM_TIME_MAX);
        if (p->status == PLATFORM_OK && p->log && p->log->errors > errors)
            p->status = PLATFORM_SIM_ERROR;
    }
    free(p->srcs);
    p->srcs = NULL;
    p->nsrcs = 0;
    return p->status;
}

/* ---------------------------------------------------------- results */

void platform_summarize(platform_t *p, platform_summary_t *o)
{
    memset(o, 0, sizeof(*o));
    o->records = p->s.records->value;
    o->dmas = p->s.dmas->value;
    for (unsigned i = 0; i < p->ndevs; i++) {
        pcie_dev_totals_t t;
        pcie_dev_totals(p->devs[i], &t);
        o->dmas_done += t.dmas_done;
        o->dmas_failed += t.dmas_failed;
    }
    iommu_prq_totals_t q;
    iommu_prq_totals(p->iommu, &q);
    ioasid_host_totals_t h;
    ioasid_host_totals(p->host, &h);
    o->page_requests = q.received - q.stop_markers;
    o->pr_responded = h.requests_responded;
    o->pr_auto_responded = q.auto_responded;
    o->pr_dropped = q.dropped + h.partial_discarded;
    uint64_t settled = o->pr_responded + o->pr_auto_responded + o->pr_dropped;
    o->pr_in_flight = o->page_requests > settled ? o->page_requests - settled
                                                 : 0;
    sim_counter_t *closed = sim_stats_find_counter(p->stats, "fault.closed");
    sim_counter_t *failed = sim_stats_find_counter(p->stats, "fault.failed");
    sim_hist_t *e2e = sim_stats_find_hist(p->stats, "fault.e2e");
    o->faults_resolved = closed ? closed->value : 0;
    o->faults_failed = failed ? failed->value : 0;
    if (e2e && e2e->count) {
        o->e2e_p50 = sim_hist_percentile(e2e, 50);
        o->e2e_p99 = sim_hist_percentile(e2e, 99);
        o->e2e_max = e2e->max;
        o->e2e_mean = sim_hist_mean(e2e);
    }
    o->sim_time = sim_now(p->sim);
    o->events = sim_events_run(p->sim);
    double secs = (double)o->sim_time / (double)SIM_S;
    o->faults_per_sec = secs > 0 ? (double)o->faults_resolved / secs : 0;
    o->dmas_per_sec = secs > 0 ? (double)o->dmas_done / secs : 0;
}

/* Print a time in ps with a readable unit. */
static void print_time(FILE *out, double ps)
{
    if (ps >= 1e9)
        fprintf(out, "%.3f ms", ps / 1e9);
    else if (ps >= 1e6)
        fprintf(out, "%.3f us", ps / 1e6);
    else
        fprintf(out, "%.3f ns", ps / 1e3);
}

void platform_print_summary(const platform_summary_t *s, FILE *out)
{
    fprintf(out, "records %" PRIu64 ", DMAs %" PRIu64 " (done %" PRIu64
                 ", failed %" PRIu64 "), simulated time ",
            s->records, s->dmas, s->dmas_done, s->dmas_failed);
    print_time(out, (double)s->sim_time);
    fprintf(out, "\npage requests %" PRIu64 ": responded %" PRIu64
                 ", auto-responded %" PRIu64 ", dropped %" PRIu64
                 ", in flight %" PRIu64 "\n",
            s->page_requests, s->pr_responded, s->pr_auto_responded,
            s->pr_dropped, s->pr_in_flight);
    fprintf(out, "faults resolved %" PRIu64 ", failed %" PRIu64 "\n",
            s->faults_resolved, s->faults_failed);
    fprintf(out, "fault latency end to end: p50 ");
    print_time(out, (double)s->e2e_p50);
    fprintf(out, ", p99 ");
    print_time(out, (double)s->e2e_p99);
    fprintf(out, ", max ");
    print_time(out, (double)s->e2e_max);
    fprintf(out, ", mean ");
    print_time(out, s->e2e_mean);
    fprintf(out, "\nthroughput: %.1f faults/s, %.1f DMAs/s (simulated time)\n",
            s->faults_per_sec, s->dmas_per_sec);
}

/* Fill the derived scalars before writing. */
static void finish_stats(platform_t *p)
{
    platform_summary_t s;
    platform_summarize(p, &s);
    sim_spans_finish(p->faults);
    for (unsigned i = 0; i < p->ndevs; i++)
        pcie_dev_finish_stats(p->devs[i]);
    *p->s.sim_time = (double)s.sim_time;
    *p->s.events = (double)s.events;
    *p->s.faults_per_sec = s.faults_per_sec;
    *p->s.dmas_per_sec = s.dmas_per_sec;
    *p->s.pr_requests = (double)s.page_requests;
    *p->s.pr_responded = (double)s.pr_responded;
    *p->s.pr_auto = (double)s.pr_auto_responded;
    *p->s.pr_dropped = (double)s.pr_dropped;
    *p->s.pr_in_flight = (double)s.pr_in_flight;
}

static void latency_row(FILE *f, const char *name, const sim_hist_t *h)
{
    double ns = 1e3;
    fprintf(f, "%-14s %10" PRIu64 " %12.3f %12.3f %12.3f %12.3f %12.3f "
               "%12.3f %12.3f\n",
            name, h->count, sim_hist_mean(h) / ns, sim_hist_stdev(h) / ns,
            (double)sim_hist_percentile(h, 50) / ns,
            (double)sim_hist_percentile(h, 90) / ns,
            (double)sim_hist_percentile(h, 99) / ns,
            (double)sim_hist_percentile(h, 99.9) / ns,
            (double)(h->count ? h->max : 0) / ns);
}

static int write_latency(platform_t *p, FILE *f)
{
    fprintf(f, "# fault latency per stage and end to end, in ns\n");
    fprintf(f, "%-14s %10s %12s %12s %12s %12s %12s %12s %12s\n", "# stage",
            "count", "mean", "stdev", "p50", "p90", "p99", "p99.9", "max");
    char name[96];
    for (unsigned k = 0; k < PCIE_STAGE_COUNT; k++) {
        snprintf(name, sizeof(name), "fault.stage.%s", pcie_stage_names[k]);
        const sim_hist_t *h = sim_stats_find_hist(p->stats, name);
        if (h)
            latency_row(f, pcie_stage_names[k], h);
    }
    const sim_hist_t *e2e = sim_stats_find_hist(p->stats, "fault.e2e");
    if (e2e)
        latency_row(f, "end_to_end", e2e);
    return ferror(f) ? -EIO : 0;
}

static int write_one(platform_t *p, const char *dir, const char *file,
                     int (*fn)(platform_t *, FILE *))
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    sim_afile_t af;
    int rc = sim_afile_open(&af, path, p->log);
    if (rc)
        return rc;
    rc = fn(p, af.f);
    if (rc) {
        sim_afile_abort(&af);
        return rc;
    }
    return sim_afile_commit(&af, p->log);
}

static int write_text(platform_t *p, FILE *f)
{
    return sim_stats_write_text(p->stats, f, sim_now(p->sim));
}

static int write_json(platform_t *p, FILE *f)
{
    return sim_stats_write_json(p->stats, f, sim_now(p->sim));
}

/* A column of the time series, if the statistic exists in this run. */
static void series_gauge(platform_t *p, const char *name)
{
    sim_gauge_t *g = sim_stats_find_gauge(p->stats, name);
    if (g)
        sim_series_add_gauge(p->series, name, g);
}

static void series_counter(platform_t *p, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(p->stats, name);
    if (c)
        sim_series_add_counter(p->series, name, c);
}

int platform_open_outputs(platform_t *p, const char *dir)
{
    if (!p->cfg.run.epoch)
        return 0;
    p->series = sim_series_create(p->sim, p->cfg.run.epoch);
    if (!p->series)
        return -ENOMEM;
    /* Occupancy of every queue of the fault path, and work done. */
    series_gauge(p, "iommu.prq.occupancy");
    series_gauge(p, "host.iopf_workers.queue");
    series_gauge(p, "ioasid.ring.occupancy");
    series_gauge(p, "guest.viommu_queue.occupancy");
    series_gauge(p, "guest.vcpus.busy");
    series_counter(p, "fault.closed");
    series_counter(p, "iommu.prq.auto_responded");
    for (unsigned i = 0; i < p->ndevs && i < 8; i++) {
        char n[64];
        snprintf(n, sizeof(n), "device%u.dmas_done", i);
        series_counter(p, n);
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    int rc = sim_afile_open(&p->series_file, path, p->log);
    if (rc)
        return rc;
    p->series_open = true;
    return sim_series_start(p->series, p->series_file.f);
}

int platform_write_outputs(platform_t *p, const char *dir)
{
    if (p->series_open) {
        sim_series_finish(p->series);
        p->series_open = false;
        int rc = sim_afile_commit(&p->series_file, p->log);
        if (rc)
            return rc;
    }
    finish_stats(p);
    int rc = write_one(p, dir, "stats.txt", write_text);
    if (!rc)
        rc = write_one(p, dir, "stats.json", write_json);
    if (!rc)
        rc = write_one(p, dir, "latency.txt", write_latency);
    return rc;
}
