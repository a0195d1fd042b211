/*
 * machine.c - assembles devices, links, the root complex, the IOMMU, the
 * host driver and the VM from configuration (see machine.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>

#include "pcie/rc.h"
#include "tools/platform/machine.h"
#include "tools/platform/replay.h"
#include "tools/platform/stages.h"
#include "tools/platform/state.h"
#include "tools/platform/topology.h"

static const sim_param_t run_params[] = {
    {"run", "seed", SIM_PARAM_UINT, "1", 0, 1.8e19, "",
     "seed of every random stream (each component draws from its own)", NULL,
     offsetof(platform_cfg_t, run.seed)},
    {"run", "max_time", SIM_PARAM_TIME, "0", 0, 1.8e10, "ns",
     "stop the simulation at this simulated time (0: run until all DMAs are "
     "done)",
     NULL, offsetof(platform_cfg_t, run.max_time)},
    {"run", "epoch", SIM_PARAM_TIME, "100us", 0, 1.8e10, "ns",
     "time-series epoch of timeseries.csv (queue occupancy, faults, DMAs per "
     "epoch); 0: no time series",
     NULL, offsetof(platform_cfg_t, run.epoch)},
    {"run", "dma_queue", SIM_PARAM_UINT, "1024", 1, 1e9, "DMAs",
     "read-ahead bound: the replay stops reading the trace while a device "
     "holds device.tags + dma_queue DMAs not finished, and goes on when one "
     "ends (later records are then applied late), so memory stays bounded "
     "under saturation",
     NULL, offsetof(platform_cfg_t, run.dma_queue)},
    {"run", "stats_pasids", SIM_PARAM_UINT, "0", 0, 1024, "PASIDs",
     "fault histograms per PASID (fault.pasid.P.*, the PASID's faults on "
     "every device) for the first N PASIDs that fault, and one group for "
     "all the others (fault.pasid.other.*), so 4096 PASIDs do not make "
     "4096 groups; 0: no per-PASID statistics (--stats-per-pasid)",
     NULL, offsetof(platform_cfg_t, run.stats_pasids)},
};

int platform_register(sim_config_t *cfg, platform_cfg_t *pc)
{
    int rc =
        sim_config_register(cfg, pcie_dev_params, pcie_dev_nparams, &pc->dev);
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
        rc = sim_config_register(cfg, ioasid_fault_params, ioasid_fault_nparams,
                                 &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_veventq_params,
                                 ioasid_veventq_nparams, &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_vmm_params, ioasid_vmm_nparams,
                                 &pc->virt);
    if (!rc)
        rc = sim_config_register(cfg, ioasid_guest_params, ioasid_guest_nparams,
                                 &pc->virt);
    if (!rc)
        rc = sim_config_register(
            cfg, run_params, sizeof(run_params) / sizeof(run_params[0]), pc);
    if (!rc)
        rc = platform_topology_register(cfg);
    pc->config = cfg;
    return rc;
}

int platform_check(const platform_cfg_t *pc, sim_log_t *log)
{
    platform_topo_t t;
    int rc = platform_topology(pc, &t, log);
    platform_topology_fini(&t);
    return rc ? -EINVAL : iommu_cfg_check(&pc->iommu, log);
}

/* The platform's own statistics, in the order of stats.txt. */
#define PS(kind, name, desc, unit, field)                                      \
    {                                                                          \
        SIM_STAT_##kind, name, desc, unit, offsetof(platform_t, s.field)       \
    }
static const sim_stat_def_t platform_stat_defs[] = {
    PS(COUNTER, "trace.records", "records replayed", "records", records),
    PS(COUNTER, "trace.maps", "map records", "records", maps),
    PS(COUNTER, "trace.unmaps", "unmap records", "records", unmaps),
    PS(COUNTER, "trace.unmaps_empty",
       "unmap records whose range held no mapping (a no-op)", "records",
       unmaps_empty),
    PS(COUNTER, "trace.dmas", "DMA records", "records", dmas),
    PS(COUNTER, "trace.detaches", "detach records", "records", detaches),
    PS(HIST, "trace.detach.latency",
       "detach record until the PASID is free: the device's PASID stop, "
       "then the host teardown (host.detach.latency)",
       "ps", detach_latency),
    PS(GAUGE, "trace.dmas_held",
       "DMAs replayed and not finished, all devices (max: the peak)", "DMAs",
       dmas_held),
    PS(COUNTER, "trace.waits",
       "times the replay waited for a device holding device.tags + "
       "run.dma_queue unfinished DMAs",
       "waits", waits),
    PS(SCALAR, "trace.wait_time", "simulated time the replay waited", "ps",
       wait_time),
    PS(COUNTER, "trace.late",
       "records applied after their time because the replay waited", "records",
       late),
    PS(SCALAR, "run.complete",
       "1: every replayed DMA finished and the trace was read to its end (or "
       "the run stopped at run.max_time); 0: work outstanding (exit 1)",
       "", complete),
    PS(SCALAR, "run.dmas_unfinished",
       "replayed DMAs neither done nor failed at the end", "DMAs",
       dmas_unfinished),
    PS(SCALAR, "run.sim_time", "simulated time at the end", "ps", sim_time),
    PS(SCALAR, "run.events", "events executed", "events", events),
    PS(SCALAR, "run.faults_per_sec",
       "faults resolved (fault.closed) per simulated second", "faults/s",
       faults_per_sec),
    PS(SCALAR, "run.dmas_per_sec", "DMAs completed per simulated second",
       "DMAs/s", dmas_per_sec),
    PS(SCALAR, "pri.requests",
       "page requests received by the IOMMU (excluding stop markers)",
       "requests", pr_requests),
    PS(SCALAR, "pri.responded",
       "page requests answered by a host page response", "requests",
       pr_responded),
    PS(SCALAR, "pri.auto_responded", "page requests answered by hardware",
       "requests", pr_auto),
    PS(SCALAR, "pri.dropped",
       "page requests dropped with no response (hardware or discarded "
       "partial)",
       "requests", pr_dropped),
    PS(SCALAR, "pri.in_flight", "page requests not yet answered at the end",
       "requests", pr_in_flight),
    PS(SCALAR, "pri.partials_held",
       "of those, non-last requests the host keeps for a last one that never "
       "came (Linux io-pgfault.c keeps them on its partial list until a "
       "group with their index completes, an overflow discards them, or "
       "the device is removed)",
       "requests", pr_partials_held),
};
#undef PS

/* The fault histograms per device (fault.device.NAME.*), per kind of
 * address space (fault.native.*, fault.guest.*), per named VM
 * (fault.vm.NAME.*) and, on request, per PASID (fault.pasid.P.*); a
 * span's tags are its device's index and its PASID. */
static int breakdowns(platform_t *p)
{
    const platform_topo_t *t = &p->topo;
    char(*names)[SIM_PARAM_STR_MAX + 32] =
        calloc(t->ndevs + t->nvms + 1, sizeof(*names));
    const char **groups = calloc(t->ndevs + t->nvms + 1, sizeof(*groups));
    int *of = calloc(t->ndevs + 1, sizeof(*of));
    int rc = -ENOMEM;
    if (!names || !groups || !of)
        goto out;
    for (unsigned i = 0; i < t->ndevs; i++) {
        snprintf(names[i], sizeof(names[i]), "fault.device.%s",
                 t->devs[i].name);
        groups[i] = names[i];
        of[i] = (int)i;
    }
    rc = sim_spans_breakdown(p->faults, p->stats, groups, t->ndevs, of,
                             t->ndevs);
    static const char *const kinds[] = {"fault.native", "fault.guest"};
    for (unsigned i = 0; !rc && i < t->ndevs; i++)
        of[i] = t->devs[i].vm >= 0;
    if (!rc)
        rc = sim_spans_breakdown(p->faults, p->stats, kinds, 2, of, t->ndevs);
    /* VMs are all named ([vm.NAME]) or one unnamed ([vm]): the index of
     * a named VM is its group's. */
    unsigned named = 0;
    for (unsigned v = 0; v < t->nvms; v++)
        if (t->vms[v].name[0]) {
            snprintf(names[v], sizeof(names[v]), "fault.vm.%s", t->vms[v].name);
            groups[named++] = names[v];
        }
    for (unsigned i = 0; !rc && i < t->ndevs; i++)
        of[i] = t->devs[i].vm >= 0 && t->vms[t->devs[i].vm].name[0]
                    ? t->devs[i].vm
                    : -1;
    if (!rc && named)
        rc = sim_spans_breakdown(p->faults, p->stats, groups, named, of,
                                 t->ndevs);
    if (!rc && p->cfg.run.stats_pasids)
        rc = sim_spans_breakdown_by_value(p->faults, p->stats, "fault.pasid",
                                          (unsigned)p->cfg.run.stats_pasids);
out:
    free(names);
    free(groups);
    free(of);
    return rc;
}

/*
 * device.fault_policy = partial: the host software's fix-up before it
 * resubmits the rest of a DMA: it touches the page so that the access is
 * allowed (Linux: the user of the device touches the fault address, a CPU
 * fault through handle_mm_fault, then resubmits): the fault handler of
 * the process's mm, which populates a page of a mapping that allows the
 * access and refuses anything else (see docs/model.md, Device fault
 * policies). The time it takes is in device.partial_cost.
 */
static int partial_fixup(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                         uint64_t addr, bool write)
{
    platform_t *p = opaque;
    /* A native process: its mm's fault handler (the mapping decides). A
     * guest process would need the guest's fix-up and the host's stage 2
     * together: not modelled, refused ([I], docs/model.md). */
    ioasid_mm_t *mm = ioasid_mm_lookup(p->host, pcie_dev_rid(dev), pasid);
    return mm ? ioasid_mm_handle_fault(mm, addr, write) : -EFAULT;
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
    if (sim_stats_register(
            p->stats, platform_stat_defs,
            sizeof(platform_stat_defs) / sizeof(platform_stat_defs[0]), p))
        goto oom;
    p->faults = sim_spans_create(p->stats, "fault", platform_stage_names,
                                 platform_stage_descs, PLATFORM_STAGE_COUNT);
    p->iommu = iommu_create(p->sim, p->stats, &pc->iommu, seed);
    if (!p->faults || !p->iommu)
        goto oom;
    iommu_set_spans(p->iommu, p->faults);
    p->host = ioasid_host_create(p->sim, p->stats, &pc->host, p->iommu,
                                 p->faults, seed);
    if (!p->host)
        goto oom;
    /* The IOMMU reaches a device through the root complex, by RID. */
    p->rc = pcie_rc_create(p->sim);
    if (!p->rc)
        goto oom;
    iommu_set_downstream(p->iommu, pcie_rc_send_down, p->rc);
    if (platform_topology(pc, &p->topo, log)) {
        platform_destroy(p);
        return NULL;
    }
    p->ndevs = p->topo.ndevs;
    p->devs = calloc(p->ndevs, sizeof(*p->devs));
    p->dev_dmas = calloc(p->ndevs, sizeof(*p->dev_dmas));
    p->vms = calloc(p->topo.nvms ? p->topo.nvms : 1, sizeof(*p->vms));
    if (!p->devs || !p->dev_dmas || !p->vms)
        goto oom;
    pcie_dev_port_t port = {.up_rx = iommu_rx, .up_opaque = p->iommu};
    for (unsigned i = 0; i < p->ndevs; i++) {
        const platform_device_t *d = &p->topo.devs[i];
        p->devs[i] = pcie_dev_create(p->sim, p->stats, i, d->rid, &d->dev,
                                     &d->link, &port, p->faults, seed);
        /* RIDs are distinct (platform_topology): attach fails only for
         * memory. */
        if (!p->devs[i] ||
            pcie_rc_attach(p->rc, pcie_dev_rid(p->devs[i]), p->devs[i]))
            goto oom;
        pcie_dev_set_fixup(p->devs[i], partial_fixup, p);
    }
    if (breakdowns(p))
        goto oom;
    for (unsigned v = 0; v < p->topo.nvms; v++) {
        const platform_vm_t *vm = &p->topo.vms[v];
        uint16_t rids[PLATFORM_MAX_DEVICES];
        for (unsigned i = 0; i < p->ndevs; i++)
            if (p->topo.devs[i].vm == (int)v)
                rids[p->topo.devs[i].vm_index] = p->topo.devs[i].rid;
        p->vms[v] =
            ioasid_virt_create(p->sim, p->stats, &vm->virt, p->host, p->iommu,
                               p->faults, rids, vm->ndevs, vm->name, seed);
        if (!p->vms[v]) {
            platform_destroy(p);
            return NULL;
        }
        p->nvms = v + 1;
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
    platform_replay_fini(p);
    for (unsigned v = 0; v < p->nvms; v++)
        ioasid_virt_destroy(p->vms[v]);
    free(p->vms);
    platform_topology_fini(&p->topo);
    for (unsigned i = 0; p->devs && i < p->ndevs; i++)
        pcie_dev_destroy(p->devs[i]);
    free(p->devs);
    free(p->dev_dmas);
    pcie_rc_destroy(p->rc);
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

int platform_device_lookup(void *platform, const char *name)
{
    const platform_t *p = platform;
    return platform_topology_find(&p->topo, name);
}
