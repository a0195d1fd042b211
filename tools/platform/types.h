/*
 * tools/platform/types.h - the platform's public types: its configuration,
 * a source of trace records, the exit statuses of a run and the figures of
 * a finished run. Types only, shared by the units of tools/platform (it
 * includes no header of this folder).
 */
#ifndef TOOLS_PLATFORM_TYPES_H
#define TOOLS_PLATFORM_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "ioasid/ioasid.h"
#include "iommu/iommu.h"
#include "pcie/pcie.h"
#include "sim/sim.h"
#include "traces/trace.h"

/* Everything configurable, one struct per component. */
typedef struct platform_cfg {
    pcie_link_cfg_t link;
    pcie_dev_cfg_t dev;
    iommu_cfg_t iommu;
    ioasid_host_cfg_t host;
    ioasid_virt_cfg_t virt;
    struct {
        uint64_t seed;
        sim_time_t max_time;   /* stop the run at this simulated time (0: no) */
        sim_time_t epoch;      /* time-series epoch (0: no timeseries.csv) */
        uint64_t dma_queue;    /* DMAs a device may hold queued for a tag
                                  before the replay waits (read-ahead bound) */
        uint64_t stats_pasids; /* PASIDs with fault histograms of their own
                                  (the others together); 0: none */
    } run;
    /* The configuration whose [device.NAME] and [vm.NAME] instances
     * describe the machine (set by platform_register; NULL: none). */
    const sim_config_t *config;
} platform_cfg_t;

/* The simulated machine (opaque). */
typedef struct platform platform_t;

/* A source of records: returns 1 with a record, 0 at the end, <0 on an
 * input error (already logged). */
typedef int (*platform_next_fn)(void *src, trace_record_t *rec);

typedef struct platform_source {
    platform_next_fn next;
    void *src;
    const char *name; /* for messages: "FILE:LINE: ..." */
} platform_source_t;

/* Exit statuses of platform_run, as the CLI uses them. */
#define PLATFORM_OK 0
#define PLATFORM_SIM_ERROR 1
#define PLATFORM_INPUT_ERROR 2
#define PLATFORM_INTERRUPTED 130 /* platform_set_interrupt's flag was set */

/* Figures of a finished run. */
typedef struct platform_summary {
    uint64_t records, dmas, dmas_done, dmas_failed;
    uint64_t page_requests;     /* PRI page requests received by the IOMMU */
    uint64_t pr_responded;      /* answered by a host page response */
    uint64_t pr_auto_responded; /* answered by hardware */
    uint64_t pr_dropped;        /* dropped with no response */
    uint64_t pr_in_flight;      /* none of the above at the end */
    uint64_t pr_partials_held;  /* of those, non-last requests the host
                                   holds for a last one that never came */
    /* Page request groups (fault spans), each in one outcome: */
    uint64_t faults_resolved;       /* answered Success by software, retry ok */
    uint64_t faults_refaulted;      /* answered Success by software, the retry
                                       faulted again */
    uint64_t faults_auto;           /* answered by hardware (auto-response) */
    uint64_t faults_auto_refaulted; /* of those, the retry faulted again */
    uint64_t faults_failed;         /* ended in failure */
    uint64_t e2e_p50, e2e_p99, e2e_max; /* ps, resolved faults */
    double e2e_mean;                    /* ps, resolved faults */
    /* The same of the resolved faults of native (host SVA) and of guest
     * (a VM's device) address spaces. */
    struct platform_latency {
        uint64_t faults, p50, p99, max;
        double mean;
    } native, guest;
    sim_time_t sim_time;   /* ps */
    double faults_per_sec; /* resolved per simulated second */
    double dmas_per_sec;   /* completed per simulated second */
    uint64_t events;
    uint64_t dmas_unfinished; /* replayed DMAs neither done nor failed */
    bool records_left;        /* the sources were not read to their end */
    bool complete; /* nothing outstanding, or the run stopped at max_time */
} platform_summary_t;

#endif
