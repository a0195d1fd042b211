/*
 * tools/bench/bench.h - what the benchmark files share: the options, and
 * figures recorded once per repetition and printed as median/min/max.
 * A benchmark is a function `int run(bench_ctx_t *, metric_t *out,
 * unsigned *nout)` listed in the table in bench.c.
 */
#ifndef TOOLS_BENCH_BENCH_H
#define TOOLS_BENCH_BENCH_H

#include <stdbool.h>

#include "tools/platform/platform.h"

#define MAX_REPEAT 1000

/* Options and state shared by every benchmark. */
typedef struct bench_ctx {
    bool quick;
    unsigned repeat;
    sim_log_t log;
} bench_ctx_t;

/* One reported figure: a value per repetition, printed as median/min/max. */
typedef struct metric {
    char name[64];    /* "engine.null_events" */
    const char *unit; /* "M events/s" */
    double scale;     /* values are divided by this when printed */
    int decimals;     /* digits after the point when printed */
    unsigned n;       /* repetitions recorded */
    double v[MAX_REPEAT];
} metric_t;

void metric_init(metric_t *m, const char *prefix, const char *suffix,
                 const char *unit, double scale, int decimals);
void metric_add(metric_t *m, double v);
double metric_median(const metric_t *m, double *min, double *max);
void metric_print(const metric_t *m);
/* Host time now, in seconds (CLOCK_MONOTONIC). */
double now_s(void);

/* A platform with the default configuration (NULL on error, logged). */
platform_t *make_platform(sim_log_t *log);

/* Benchmarks living in their own files (see the table in bench.c). */
int bench_pcie_atc_hit(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
int bench_pcie_fault(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
int bench_iommu_xlate(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
int bench_iommu_memory(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
int bench_virt_nested_faults(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
int bench_virt_scale_devices(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
int bench_virt_scale_pasids(bench_ctx_t *ctx, metric_t *out, unsigned *nout);

#endif
