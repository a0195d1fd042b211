/*
 * sim/series.h - time series: per-epoch samples of statistics, streamed as CSV.
 */
#ifndef SIM_SERIES_H
#define SIM_SERIES_H

#include <stdint.h>
#include <stdio.h>

#include "sim/engine.h"
#include "sim/stats.h"

/*
 * Per-epoch samples of chosen statistics, streamed as CSV rows while the
 * simulation runs (memory does not grow with the run): a gauge gives its
 * time-weighted mean over the epoch, a counter its increase. The first
 * column is the epoch's end time in ps. The sampler is a daemon: it stops
 * by itself when no other work is pending, after writing a last row.
 */
typedef struct sim_series sim_series_t;

/* A sampler with epochs of `epoch` ps (NULL for 0 or on allocation
 * failure), and its destruction (cancels the next sample). */
sim_series_t *sim_series_create(sim_t *sim, sim_time_t epoch);
void sim_series_destroy(sim_series_t *ts);
/* Add a column before sim_series_start: 0, -EINVAL for a NULL statistic,
 * -EBUSY once started, -ENOMEM. */
int sim_series_add_gauge(sim_series_t *ts, const char *name, sim_gauge_t *g);
int sim_series_add_counter(sim_series_t *ts, const char *name,
                           sim_counter_t *c);
/* Write the header row to out and schedule the first sample. */
int sim_series_start(sim_series_t *ts, FILE *out);
/* Write the row of the epoch in progress (if any time passed since the
 * last row) and stop sampling. */
void sim_series_finish(sim_series_t *ts);
/* Rows written so far. */
uint64_t sim_series_rows(const sim_series_t *ts);

#endif /* SIM_SERIES_H */
