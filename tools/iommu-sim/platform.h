/*
 * platform.h - the simulated machine assembled from configuration: devices
 * with their links, the IOMMU, the host driver and address spaces; trace
 * records are read from one or more sources and handed to them in time
 * order. Used by the iommu-sim CLI, the benchmarks and the tests.
 */
#ifndef IOMMUSIM_PLATFORM_H
#define IOMMUSIM_PLATFORM_H

#include <stdio.h>

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
        sim_time_t max_time; /* stop the run at this simulated time (0: no) */
        sim_time_t epoch;    /* time-series epoch (0: no timeseries.csv) */
    } run;
} platform_cfg_t;

/* Register every parameter table of the platform into cfg (values live in
 * pc). Returns 0 or -EINVAL. */
int platform_register(sim_config_t *cfg, platform_cfg_t *pc);

/* A source of records: returns 1 with a record, 0 at the end, <0 on an
 * input error (already logged). */
typedef int (*platform_next_fn)(void *src, trace_record_t *rec);

typedef struct platform_source {
    platform_next_fn next;
    void *src;
    const char *name; /* for messages: "FILE:LINE: ..." */
} platform_source_t;

typedef struct platform platform_t;

/* Check constraints between parameters (logged naming the keys) and
 * resolve derived ones (link.preset into link.gen and link.lanes);
 * returns 0 or -EINVAL. */
int platform_check(platform_cfg_t *pc, sim_log_t *log);

/* Build the machine. Returns NULL on failure (logged). */
platform_t *platform_create(const platform_cfg_t *pc, sim_log_t *log);
void platform_destroy(platform_t *p);

/* Exit statuses of platform_run, as the CLI uses them. */
#define PLATFORM_OK 0
#define PLATFORM_SIM_ERROR 1
#define PLATFORM_INPUT_ERROR 2

/*
 * Replay the sources, merged by time (ties: in source order, then record
 * order), and run the simulation until every DMA is done. An input error
 * (bad record, unknown device or PASID, address beyond the table's width,
 * overlapping map) stops the run with PLATFORM_INPUT_ERROR, logged as
 * "FILE:LINE: what is wrong".
 */
int platform_run(platform_t *p, platform_source_t *srcs, unsigned nsrcs);

/* The engine and the statistics (for tests and tools). */
sim_t *platform_sim(platform_t *p);
sim_stats_t *platform_stats(platform_t *p);
iommu_t *platform_iommu(platform_t *p);
pcie_dev_t *platform_device(platform_t *p, unsigned index);

/* Figures of a finished run. */
typedef struct platform_summary {
    uint64_t records, dmas, dmas_done, dmas_failed;
    uint64_t page_requests;     /* PRI page requests received by the IOMMU */
    uint64_t pr_responded;      /* answered by a host page response */
    uint64_t pr_auto_responded; /* answered by hardware */
    uint64_t pr_dropped;        /* dropped with no response */
    uint64_t pr_in_flight;      /* none of the above at the end */
    uint64_t faults_resolved;   /* fault spans completed */
    uint64_t faults_failed;
    uint64_t e2e_p50, e2e_p99, e2e_max; /* ps */
    double e2e_mean;                    /* ps */
    sim_time_t sim_time;                /* ps */
    double faults_per_sec;              /* resolved per simulated second */
    double dmas_per_sec;                /* completed per simulated second */
    uint64_t events;
} platform_summary_t;

void platform_summarize(platform_t *p, platform_summary_t *out);

/* Print the short summary. */
void platform_print_summary(const platform_summary_t *s, FILE *out);

/* Before platform_run: start writing timeseries.csv into dir (if
 * run.epoch > 0); platform_write_outputs completes it, and a platform
 * destroyed without it leaves no file. Returns 0 or -errno. */
int platform_open_outputs(platform_t *p, const char *dir);

/* Write stats.txt, stats.json and latency.txt into dir (atomically), and
 * complete timeseries.csv if it was opened. */
int platform_write_outputs(platform_t *p, const char *dir);

#endif
