/*
 * tools/platform/state.h - the fields of the platform, private to the
 * units of tools/platform (machine.c builds them, replay.c feeds records
 * to them, output.c reads them). Types only; not for use outside this
 * folder.
 */
#ifndef TOOLS_PLATFORM_STATE_H
#define TOOLS_PLATFORM_STATE_H

#include <signal.h>
#include <stdbool.h>

#include "pcie/rc.h"
#include "tools/platform/topology.h"
#include "tools/platform/types.h"

/* A record source with its one-record lookahead (replay.c). */
typedef struct platform_src_state {
    platform_source_t s;
    trace_record_t rec;
    bool has;
} platform_src_state_t;

/* A detach in progress (replay.c): the device stops the PASID, then the
 * host (or the VM) tears it down; records of (dev, pasid) that come
 * meanwhile wait in `held`, in order. */
typedef struct platform_detach {
    struct platform_detach *next;
    struct platform *p;
    unsigned dev;
    uint32_t pasid;
    sim_time_t start; /* the detach record's time */
    platform_src_state_t *held;
    size_t nheld, held_cap;
} platform_detach_t;

struct platform {
    platform_cfg_t cfg;
    sim_log_t *log;
    sim_t *sim;
    sim_stats_t *stats;
    sim_spans_t *faults;
    iommu_t *iommu;
    ioasid_host_t *host;
    platform_topo_t topo; /* devices (names, RIDs) and VMs */
    ioasid_virt_t **vms;  /* one per topo.vms */
    unsigned nvms;
    pcie_rc_t *rc;
    pcie_dev_t **devs;
    unsigned ndevs;

    /* Outputs (output.c); destroying the platform aborts an open file. */
    sim_series_t *series;
    sim_afile_t series_file;
    bool series_open;

    /* The run in progress (replay.c). */
    platform_src_state_t *srcs;
    unsigned nsrcs;
    int status;
    const volatile sig_atomic_t *interrupt; /* stop when nonzero, or NULL */
    platform_detach_t *detaches;            /* in progress */
    /* Read-ahead bound: DMAs replayed and not finished, per device and in
     * all; the replay waits while a device holds its tags + run.dma_queue
     * of them. */
    uint64_t *dev_dmas;
    bool waiting;         /* the replay waits for a device to drain */
    unsigned wait_dev;    /* which device */
    sim_time_t wait_from; /* since when */
    /* The end of the last run (replay.c): work was left outstanding with
     * nothing to move it on, and whether records were left unread. */
    bool incomplete, records_left;

    /* Statistics of the platform itself, registered by machine.c. */
    struct {
        sim_counter_t *records, *maps, *unmaps, *unmaps_empty, *dmas, *detaches;
        sim_hist_t *detach_latency;
        sim_counter_t *waits, *late;
        sim_gauge_t *dmas_held;
        double *wait_time;
        double *sim_time, *events, *faults_per_sec, *dmas_per_sec;
        double *complete, *dmas_unfinished;
        double *pr_requests, *pr_responded, *pr_auto, *pr_dropped,
            *pr_in_flight, *pr_partials_held;
    } s;
};

#endif
