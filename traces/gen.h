/*
 * traces/gen.h - the synthetic workload generator.
 */
#ifndef TRACES_GEN_H
#define TRACES_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"
#include "traces/record.h"

/*
 * A synthetic workload, streamed record by record (nothing is stored): for
 * every (device, PASID) one mapping of `region` bytes, populated or not,
 * then `dmas` DMAs spread over all (device, PASID) pairs in turn, with
 * exponential inter-arrival times. A DMA touches a page never touched
 * before with probability `new_page` (a fault when the region is absent),
 * otherwise a page among the last `reuse_window` pages it touched (ATC,
 * IOTLB or walk-cache hits). Deterministic for a given seed.
 */
typedef struct trace_gen_cfg {
    unsigned devices;      /* >= 1 */
    unsigned pasids;       /* per device, >= 1 */
    uint64_t dmas;         /* DMA records */
    uint64_t region;       /* bytes mapped per (device, PASID), page multiple */
    bool present;          /* region populated at map time */
    double new_page;       /* probability a DMA touches a new page */
    unsigned reuse_window; /* pages eligible for reuse, >= 1 */
    double write_fraction; /* probability a DMA is a write */
    uint32_t dma_len;      /* bytes per DMA (within one page), >= 1 */
    sim_time_t interval;   /* mean time between DMAs (ps) */
    uint64_t seed;
} trace_gen_cfg_t;

typedef struct trace_gen trace_gen_t;

/* Defaults: 1 device, 1 PASID, 1000 DMAs, 64 MiB absent, new_page 0.1,
 * window 64, writes 0.3, 64-byte DMAs, 1 us apart, seed 1. */
void trace_gen_defaults(trace_gen_cfg_t *cfg);
/* Check a configuration; logs what is wrong and returns -EINVAL. */
int trace_gen_check(const trace_gen_cfg_t *cfg, sim_log_t *log);
/* A generator for cfg, or NULL (a bad configuration is logged). */
trace_gen_t *trace_gen_create(const trace_gen_cfg_t *cfg, sim_log_t *log);
/* Next record: 1, or 0 at the end. */
int trace_gen_next(trace_gen_t *g, trace_record_t *rec);
/* Free the generator (NULL is ignored). */
void trace_gen_destroy(trace_gen_t *g);

#endif /* TRACES_GEN_H */
