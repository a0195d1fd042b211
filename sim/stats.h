/*
 * sim/stats.h - the statistics registry: counters, gauges, histograms, scalars.
 */
#ifndef SIM_STATS_H
#define SIM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/log.h"
#include "sim/time.h"

typedef struct sim_stats sim_stats_t;

/* A monotonically increasing count. Update with c->value += n. */
typedef struct sim_counter {
    uint64_t value;
} sim_counter_t;

/* A time-weighted gauge (queue length, busy servers, occupancy). */
typedef struct sim_gauge {
    double value;      /* current value */
    double max;        /* largest value seen */
    double integral;   /* sum of value * dt, in value*ps */
    sim_time_t last;   /* time of the last update */
    sim_time_t origin; /* time the gauge started integrating */
} sim_gauge_t;

/*
 * A log-linear histogram of non-negative integers (typically ps): values
 * below 2^SIM_HIST_SUB_BITS are exact; above, each power of two is split
 * into 2^SIM_HIST_SUB_BITS linear buckets, so a reported percentile is
 * within 2^-SIM_HIST_SUB_BITS relative error of the exact value. Count,
 * sum, min, max and the sum of squares are exact.
 */
#define SIM_HIST_SUB_BITS 7
#define SIM_HIST_SUB (1u << SIM_HIST_SUB_BITS)
#define SIM_HIST_ROWS (64 - SIM_HIST_SUB_BITS + 1)
#define SIM_HIST_BUCKETS (SIM_HIST_ROWS * SIM_HIST_SUB)

/*
 * The buckets are allocated a row (one power of two, SIM_HIST_SUB
 * counters, 1 KiB) at a time when a value first falls in it, so a
 * histogram costs memory for the range of values it holds (a latency
 * histogram a few KiB) and an unused one almost nothing: a run can keep
 * one per device and stage. A row that cannot be allocated leaves its
 * values out of the buckets (`unbucketed`; count, sum, min and max stay
 * exact, percentiles come from the others), and writing the statistics of
 * a registry holding such a histogram fails (out of memory), so no output
 * shows numbers that lost samples.
 */
typedef struct sim_hist {
    uint64_t count;
    uint64_t min, max;
    double sum, sumsq;
    uint64_t unbucketed;
    uint64_t *rows[SIM_HIST_ROWS];
} sim_hist_t;

/* A standalone histogram (not registered), e.g. for tests. Returns 0. */
int sim_hist_init(sim_hist_t *h);
/* The count of bucket i (< SIM_HIST_BUCKETS), and its smallest and
 * largest value (lo, hi may be NULL). */
uint64_t sim_hist_bucket(const sim_hist_t *h, unsigned i, uint64_t *lo,
                         uint64_t *hi);
void sim_hist_fini(sim_hist_t *h);
/* Forget every sample (the buckets stay allocated). */
void sim_hist_reset(sim_hist_t *h);
/* Record the value v once, or n times. */
void sim_hist_add(sim_hist_t *h, uint64_t v);
void sim_hist_add_n(sim_hist_t *h, uint64_t v, uint64_t n);
/* The value at percentile p in [0, 100] (nearest-rank); 0 if empty. */
uint64_t sim_hist_percentile(const sim_hist_t *h, double p);
/* Mean and population standard deviation of the samples (0 if empty). */
double sim_hist_mean(const sim_hist_t *h);
double sim_hist_stdev(const sim_hist_t *h);
/* Add every sample of src into dst. */
void sim_hist_merge(sim_hist_t *dst, const sim_hist_t *src);

/* A registry of named statistics. Names are dotted: "iommu.iotlb.hits". */
sim_stats_t *sim_stats_create(void);
void sim_stats_destroy(sim_stats_t *st);

/*
 * Register a statistic; the registry owns it. `unit` is free text ("ps",
 * "requests", "entries"). Returns NULL on allocation failure or when the
 * name is already registered (a programming error, which is logged if a
 * log was attached with sim_stats_set_log).
 */
sim_counter_t *sim_stats_counter(sim_stats_t *st, const char *name,
                                 const char *desc, const char *unit);
sim_gauge_t *sim_stats_gauge(sim_stats_t *st, const char *name,
                             const char *desc, const char *unit);
sim_hist_t *sim_stats_hist(sim_stats_t *st, const char *name, const char *desc,
                           const char *unit);
/* A derived scalar, set by the owner before writing (e.g. throughput). */
double *sim_stats_scalar(sim_stats_t *st, const char *name, const char *desc,
                         const char *unit);
/* The log that registration errors go to (none by default). */
void sim_stats_set_log(sim_stats_t *st, sim_log_t *log);

/* Prepend `prefix` ("vm.a.") to the name of every statistic registered
 * from now on, until it is changed (NULL or "": none). Lookups take full
 * names. Returns 0 or -ENOMEM. */
int sim_stats_set_prefix(sim_stats_t *st, const char *prefix);
/* Statistics registered while sparse is on are written (text, JSON) only
 * when they hold something: a histogram with samples, a counter above 0
 * (a breakdown by device or stage that a run never reached is absent,
 * not a row of zeros). */
void sim_stats_set_sparse(sim_stats_t *st, bool sparse);

/*
 * Table-driven registration, like parameters: each row names a statistic
 * and where the owner keeps the pointer the registry returns (`off`: the
 * offset, from `base`, of a sim_counter_t *, sim_gauge_t *, sim_hist_t *
 * or double *, by `kind`). Rows are registered in order (the order of
 * stats.txt). Returns 0 or -ENOMEM (a row failed, logged).
 */
typedef enum {
    SIM_STAT_COUNTER,
    SIM_STAT_GAUGE,
    SIM_STAT_HIST,
    SIM_STAT_SCALAR,
} sim_stat_kind_t;

typedef struct sim_stat_def {
    sim_stat_kind_t kind;
    const char *name, *desc, *unit;
    size_t off;
} sim_stat_def_t;

int sim_stats_register(sim_stats_t *st, const sim_stat_def_t *defs, size_t n,
                       void *base);

/* Look up by name (NULL if absent or of another kind). */
sim_counter_t *sim_stats_find_counter(sim_stats_t *st, const char *name);
sim_hist_t *sim_stats_find_hist(sim_stats_t *st, const char *name);
sim_gauge_t *sim_stats_find_gauge(sim_stats_t *st, const char *name);
double *sim_stats_find_scalar(sim_stats_t *st, const char *name);

/* Gauges: set the value at time now (integrates the previous value). */
void sim_gauge_set(sim_gauge_t *g, sim_time_t now, double value);
static inline void sim_gauge_add(sim_gauge_t *g, sim_time_t now, double d)
{
    sim_gauge_set(g, now, g->value + d);
}
/* Time-weighted mean from the gauge's origin to `now`. */
double sim_gauge_mean(const sim_gauge_t *g, sim_time_t now);

/*
 * Write all statistics, in registration order.
 * Text: one line per scalar, "name value # description (unit)"; a gauge
 * gives name.mean / name.max; a histogram gives name.count, .mean, .stdev,
 * .min, .p50, .p90, .p99, .p999, .max.
 * JSON: one object; counters/scalars as numbers, gauges and histograms as
 * objects with the same fields, plus "desc" and "unit".
 * `now` is the end time used for time-weighted means. Returns 0 or -errno.
 */
int sim_stats_write_text(sim_stats_t *st, FILE *out, sim_time_t now);
int sim_stats_write_json(sim_stats_t *st, FILE *out, sim_time_t now);

#endif /* SIM_STATS_H */
