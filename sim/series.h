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
 * Per-epoch samples of chosen statistics, written as CSV rows: a gauge
 * gives its time-weighted mean over the row, a counter its increase. The
 * first column is the row's end time in ps. The sampler is a daemon: it
 * stops by itself when no other work is pending, after a last row.
 *
 * The rows are bounded: they are kept (the header is written by start,
 * the rows by finish) and when their number reaches the cap
 * (SIM_SERIES_MAX_ROWS unless set), adjacent rows merge pairwise and the
 * epoch doubles, so a run of any length writes fewer than cap rows, each
 * covering epoch * 2^k, and memory and sampling events stay bounded.
 * Merging keeps each counter's sum and each gauge's time integral.
 */
#define SIM_SERIES_MAX_ROWS 100000
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
/*
 * The same with the owner of the column (a component: "iommu", "vm.a",
 * "nic0"), written in the long format.
 */
int sim_series_add_gauge_of(sim_series_t *ts, const char *owner,
                            const char *name, sim_gauge_t *g);
int sim_series_add_counter_of(sim_series_t *ts, const char *owner,
                              const char *name, sim_counter_t *c);
/*
 * The long format (after the columns are added, before start): a header
 * "time_ps,epoch_ps,series,owner,value" and one line per column and row
 * (the row's end time, its length, the column's name and owner, its
 * value), so that the lines do not depend on which columns a run has and
 * files of different runs concatenate. The file has at most max_lines
 * lines besides the header: rows merge at max_lines / columns. Returns 0
 * or -EINVAL (started, no column, or max_lines under 2 per column).
 */
int sim_series_set_long(sim_series_t *ts, size_t max_lines);
/* Write the header row to out and schedule the first sample. */
int sim_series_start(sim_series_t *ts, FILE *out);
/* Close the row of the epoch in progress (if any time passed since the
 * last row), stop sampling and write the rows. 0, or -ENOMEM when a row
 * was lost for want of memory (logged when it was). */
int sim_series_finish(sim_series_t *ts);
/* Rows so far: the rows kept (after any merges) or, after finish, the
 * rows written. */
uint64_t sim_series_rows(const sim_series_t *ts);
/* The row cap (even, >= 2) before start: 0 or -EINVAL. */
int sim_series_set_max_rows(sim_series_t *ts, size_t max_rows);
/* The current epoch: the configured one times 2^merges. */
sim_time_t sim_series_epoch(const sim_series_t *ts);

#endif /* SIM_SERIES_H */
