/*
 * tools/bench/bench_virt.c - benchmarks of the virtualised fault path.
 *
 *   virt.nested_faults  the full platform with one device assigned to a VM
 *                       (vm.devices = device.count = 1), every DMA to a
 *                       new page, so each one takes the whole nested fault
 *                       pipeline (host driver -> /dev/ioasid -> VMM ->
 *                       guest -> page response back). A DMA every 50 us on
 *                       average: the simulated host is not saturated.
 *                       Faults resolved per second of host time, events
 *                       per fault.
 *   virt.scale_devices  the same workload and fault count spread over 1, 4,
 *                       16 and 64 devices, all in the VM: host ns per
 *                       resolved fault per device count, and max/min.
 *   virt.scale_pasids   the same on 1 device with 1, 16, 256 and 4096
 *                       PASIDs (guest processes): host ns per resolved
 *                       fault per PASID count, and max/min.
 *
 * Host time is measured around platform_run only (building the platform
 * and tearing it down are not timed).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench/bench.h"

#define VIRT_INTERVAL (50 * SIM_US)
#define VIRT_DMAS 200000u
#define VIRT_DMAS_QUICK 20000u
#define MIN_REGION (4ull << 20) /* bytes per (device, PASID), at least */

/* Figures of one virtualised run. */
typedef struct virt_run {
    double secs; /* host time in platform_run */
    platform_summary_t s;
} virt_run_t;

/* The generator behind a source that gives each device its own PASIDs. */
typedef struct virt_src {
    trace_gen_t *gen;
    unsigned pasids; /* per device */
} virt_src_t;

/*
 * platform_next_fn over the workload generator, renumbering PASID p of
 * device d as d * pasids + p. The generator numbers the PASIDs of every
 * device 1..pasids, and in the VM a PASID is a guest process shared by
 * all its devices: without the renumbering, device d > 0 would mostly
 * find the pages device 0 already faulted in, and the DMAs would not all
 * fault.
 */
static int virt_gen_next(void *src, trace_record_t *rec)
{
    virt_src_t *vs = src;
    int rc = trace_gen_next(vs->gen, rec);
    if (rc == 1)
        rec->pasid += rec->dev * vs->pasids;
    return rc;
}

/*
 * Build a platform with the default configuration and `ndev` devices, all
 * assigned to the VM (as `--set device.count=N --set vm.devices=N`).
 * Returns NULL on error (logged).
 */
static platform_t *make_virt_platform(sim_log_t *log, unsigned ndev)
{
    char dev_count[48], vm_devices[48];
    platform_cfg_t pc;
    memset(&pc, 0, sizeof(pc));
    snprintf(dev_count, sizeof(dev_count), "device.count=%u", ndev);
    snprintf(vm_devices, sizeof(vm_devices), "vm.devices=%u", ndev);
    sim_config_t *cfg = sim_config_create(log);
    platform_t *p = NULL;
    if (cfg && !platform_register(cfg, &pc) &&
        !sim_config_set(cfg, dev_count) && !sim_config_set(cfg, vm_devices) &&
        !platform_check(&pc, log))
        p = platform_create(&pc, log);
    sim_config_destroy(cfg);
    return p;
}

/*
 * The workload of every virt benchmark: `ndev` devices with `npasids`
 * PASIDs each, `dmas` DMAs, each to a new page (all faults), a DMA every
 * VIRT_INTERVAL on average. The region per (device, PASID) holds every
 * page the generator touches there (it never wraps back to a page already
 * faulted in), and at least MIN_REGION.
 */
static void virt_workload(trace_gen_cfg_t *g, unsigned ndev, unsigned npasids,
                          uint64_t dmas)
{
    uint64_t nas = (uint64_t)ndev * npasids;
    uint64_t pages = (dmas + nas - 1) / nas + 1;
    uint64_t region = pages * 4096;
    trace_gen_defaults(g);
    g->devices = ndev;
    g->pasids = npasids;
    g->dmas = dmas;
    g->region = region < MIN_REGION ? MIN_REGION : region;
    g->present = false;
    g->new_page = 1.0;
    g->interval = VIRT_INTERVAL;
}

/*
 * One run: a fresh VM platform with `ndev` devices fed by the generator
 * with `g`; host time is measured around platform_run only. Returns 0, or
 * -1 if the run failed, did not complete every DMA or did not resolve one
 * fault per DMA (the workload makes every DMA fault).
 */
static int virt_once(bench_ctx_t *ctx, const char *name, unsigned ndev,
                     const trace_gen_cfg_t *g, virt_run_t *out)
{
    platform_t *p = make_virt_platform(&ctx->log, ndev);
    trace_gen_t *gen = p ? trace_gen_create(g, &ctx->log) : NULL;
    if (!gen) {
        platform_destroy(p);
        fprintf(stderr, "bench: %s: cannot set up the platform\n", name);
        return -1;
    }
    virt_src_t vs = {gen, g->pasids};
    platform_source_t src = {virt_gen_next, &vs, "generator"};
    double t0 = now_s();
    int rc = platform_run(p, &src, 1);
    out->secs = now_s() - t0;
    platform_summarize(p, &out->s);
    trace_gen_destroy(gen);
    platform_destroy(p);
    if (rc != PLATFORM_OK || out->s.dmas_done != g->dmas ||
        out->s.faults_resolved != g->dmas || out->secs <= 0) {
        fprintf(stderr,
                "bench: %s: run status %d, %" PRIu64 " of %" PRIu64
                " DMAs done, %" PRIu64 " faults resolved\n",
                name, rc, out->s.dmas_done, g->dmas, out->s.faults_resolved);
        return -1;
    }
    return 0;
}

/*
 * virt.nested_faults: the nested fault pipeline end to end, 1 device in
 * the VM, 1 PASID. Reports faults resolved per host second, events per
 * fault, host ns per fault, the simulated p99 fault-to-completion latency
 * (to show the host is not saturated) and the fault count.
 */
int bench_virt_nested_faults(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    const char *name = "virt.nested_faults";
    trace_gen_cfg_t g;
    virt_workload(&g, 1, 1, ctx->quick ? VIRT_DMAS_QUICK : VIRT_DMAS);
    metric_init(&out[0], name, NULL, "M faults/s", 1e6, 3);
    metric_init(&out[1], name, "events_per_fault", "events/fault", 1, 2);
    metric_init(&out[2], name, "host_ns_per_fault", "ns/fault", 1, 0);
    metric_init(&out[3], name, "sim_p99_e2e", "us (sim)", 1e6, 1);
    metric_init(&out[4], name, "faults", "faults", 1, 0);
    *nout = 5;
    for (unsigned r = 0; r < ctx->repeat; r++) {
        virt_run_t run;
        if (virt_once(ctx, name, 1, &g, &run))
            return -1;
        double faults = (double)run.s.faults_resolved;
        metric_add(&out[0], faults / run.secs);
        metric_add(&out[1], (double)run.s.events / faults);
        metric_add(&out[2], run.secs * 1e9 / faults);
        metric_add(&out[3], (double)run.s.e2e_p99);
        metric_add(&out[4], faults);
    }
    return 0;
}

/*
 * Shared body of the scaling benchmarks: for each of the `nsteps` values
 * in `steps` (a device count when `devices`, else a PASID count on one
 * device) the same all-faults workload of the same DMA count; host ns per
 * resolved fault per step (out[0..nsteps-1]) and the max/min ratio of one
 * repetition (out[nsteps]). Every repetition runs all the steps in turn,
 * so a drift of the host's speed hits them alike.
 */
static int bench_virt_scale(bench_ctx_t *ctx, const char *name, bool devices,
                            const unsigned *steps, unsigned nsteps,
                            metric_t *out, unsigned *nout)
{
    uint64_t dmas = ctx->quick ? VIRT_DMAS_QUICK : VIRT_DMAS;
    for (unsigned k = 0; k < nsteps; k++) {
        char suffix[32];
        snprintf(suffix, sizeof(suffix), "%s%u",
                 devices ? "devices_" : "pasids_", steps[k]);
        metric_init(&out[k], name, suffix, "ns/fault", 1, 0);
    }
    metric_init(&out[nsteps], name, "max_over_min", "ratio", 1, 3);
    *nout = nsteps + 1;
    for (unsigned r = 0; r < ctx->repeat; r++) {
        double lo = 0, hi = 0;
        for (unsigned k = 0; k < nsteps; k++) {
            unsigned ndev = devices ? steps[k] : 1;
            unsigned npasids = devices ? 1 : steps[k];
            trace_gen_cfg_t g;
            virt_run_t run;
            virt_workload(&g, ndev, npasids, dmas);
            if (virt_once(ctx, name, ndev, &g, &run))
                return -1;
            double ns = run.secs * 1e9 / (double)run.s.faults_resolved;
            metric_add(&out[k], ns);
            if (k == 0 || ns < lo)
                lo = ns;
            if (k == 0 || ns > hi)
                hi = ns;
        }
        metric_add(&out[nsteps], hi / lo);
    }
    return 0;
}

/*
 * virt.scale_devices: host cost per fault with 1, 4, 16 and 64 devices in
 * the VM (1 PASID each), the same total fault count.
 */
int bench_virt_scale_devices(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    static const unsigned steps[] = {1, 4, 16, 64};
    return bench_virt_scale(ctx, "virt.scale_devices", true, steps,
                            sizeof(steps) / sizeof(steps[0]), out, nout);
}

/*
 * virt.scale_pasids: host cost per fault with 1, 16, 256 and 4096 PASIDs
 * (guest processes) on 1 device in the VM, the same total fault count.
 */
int bench_virt_scale_pasids(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    static const unsigned steps[] = {1, 16, 256, 4096};
    return bench_virt_scale(ctx, "virt.scale_pasids", false, steps,
                            sizeof(steps) / sizeof(steps[0]), out, nout);
}
