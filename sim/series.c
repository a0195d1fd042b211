/*
 * series.c - per-epoch time series of gauges and counters, written as CSV
 * rows while the simulation runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "sim/pool.h"
#include "sim/series.h"
#include "sim/stats.h"
#include "sim/time.h"

typedef struct series_col {
    char name[96];
    char owner[96]; /* long format: who the series belongs to */
    sim_gauge_t *g; /* or */
    sim_counter_t *c;
    double last; /* gauge integral / counter value at the last row */
} series_col_t;

/*
 * Rows are kept (at most max_rows of them) and written by finish: a row
 * holds, per column, the gauge's integral or the counter's increase over
 * the row, so two adjacent rows merge by adding them.
 */
struct sim_series {
    sim_t *sim;
    sim_time_t epoch; /* current epoch: doubles at each merge */
    FILE *out;
    series_col_t *cols;
    size_t ncols, cap;
    sim_time_t start;    /* time of the header (the first row's start) */
    sim_time_t last_row; /* time of the last row */
    sim_event_id_t next;
    sim_time_t *times; /* end time of each kept row */
    double *vals;      /* nrows x ncols */
    size_t nrows, times_cap, vals_cap, max_rows;
    uint64_t rows; /* rows written */
    unsigned merges;
    bool lost; /* a row was lost for want of memory */
    bool running;
    bool long_format; /* time_ps,epoch_ps,series,owner,value per value */
};

sim_series_t *sim_series_create(sim_t *sim, sim_time_t epoch)
{
    if (epoch == 0)
        return NULL;
    sim_series_t *ts = calloc(1, sizeof(*ts));
    if (!ts)
        return NULL;
    ts->sim = sim;
    ts->epoch = epoch;
    ts->max_rows = SIM_SERIES_MAX_ROWS;
    return ts;
}

int sim_series_set_max_rows(sim_series_t *ts, size_t max_rows)
{
    if (ts->running || max_rows < 2 || (max_rows & 1))
        return -EINVAL;
    ts->max_rows = max_rows;
    return 0;
}

void sim_series_destroy(sim_series_t *ts)
{
    if (!ts)
        return;
    if (ts->running && ts->next)
        sim_cancel(ts->sim, ts->next);
    free(ts->cols);
    free(ts->times);
    free(ts->vals);
    free(ts);
}

static int add_col(sim_series_t *ts, const char *owner, const char *name,
                   sim_gauge_t *g, sim_counter_t *c)
{
    if (ts->running)
        return -EBUSY;
    if (SIM_GROW(ts->cols, ts->cap, ts->ncols + 1, 16))
        return -ENOMEM;
    series_col_t *col = &ts->cols[ts->ncols++];
    memset(col, 0, sizeof(*col));
    snprintf(col->name, sizeof(col->name), "%s", name);
    snprintf(col->owner, sizeof(col->owner), "%s", owner ? owner : "");
    col->g = g;
    col->c = c;
    return 0;
}

int sim_series_add_gauge(sim_series_t *ts, const char *name, sim_gauge_t *g)
{
    return g ? add_col(ts, NULL, name, g, NULL) : -EINVAL;
}

int sim_series_add_counter(sim_series_t *ts, const char *name, sim_counter_t *c)
{
    return c ? add_col(ts, NULL, name, NULL, c) : -EINVAL;
}

int sim_series_add_gauge_of(sim_series_t *ts, const char *owner,
                            const char *name, sim_gauge_t *g)
{
    return g ? add_col(ts, owner, name, g, NULL) : -EINVAL;
}

int sim_series_add_counter_of(sim_series_t *ts, const char *owner,
                              const char *name, sim_counter_t *c)
{
    return c ? add_col(ts, owner, name, NULL, c) : -EINVAL;
}

int sim_series_set_long(sim_series_t *ts, size_t max_lines)
{
    if (ts->running || !ts->ncols || max_lines < 2 * ts->ncols)
        return -EINVAL;
    ts->long_format = true;
    size_t rows = max_lines / ts->ncols;
    ts->max_rows = rows & ~(size_t)1; /* even: merges pair every row */
    return 0;
}

/* Integral of a gauge from its origin to `now`. */
static double gauge_integral(const sim_gauge_t *g, sim_time_t now)
{
    return g->integral + g->value * (double)(now - g->last);
}

/* Halve the kept rows by adding each pair (row 2i+1 ends where the merged
 * row ends), and double the epoch: rows stay aligned on the new epoch.
 * Merges happen at max_rows rows, an even number: every row has a pair. */
static void merge_rows(sim_series_t *ts)
{
    size_t n = ts->ncols, k = 0;
    for (size_t i = 0; i + 1 < ts->nrows; i += 2, k++) {
        double *dst = &ts->vals[k * n];
        const double *a = &ts->vals[i * n], *b = &ts->vals[(i + 1) * n];
        for (size_t c = 0; c < n; c++)
            dst[c] = a[c] + b[c];
        ts->times[k] = ts->times[i + 1];
    }
    ts->nrows = k;
    ts->epoch *= 2;
    ts->merges++;
}

/* Close the row ending at `now`; false when it cannot be kept (out of
 * memory, logged: the row is lost, the sums of the next row restart from
 * now). */
static bool add_row(sim_series_t *ts, sim_time_t now)
{
    bool ok = !SIM_GROW(ts->times, ts->times_cap, ts->nrows + 1, 64) &&
              !SIM_GROW(ts->vals, ts->vals_cap, (ts->nrows + 1) * ts->ncols,
                        64 * (ts->ncols ? ts->ncols : 1));
    double *row = ok ? &ts->vals[ts->nrows * ts->ncols] : NULL;
    for (size_t i = 0; i < ts->ncols; i++) {
        series_col_t *col = &ts->cols[i];
        double v = col->g ? gauge_integral(col->g, now) : (double)col->c->value;
        if (row)
            row[i] = v - col->last;
        col->last = v;
    }
    if (ok)
        ts->times[ts->nrows++] = now;
    else {
        ts->lost = true;
        sim_logf(sim_log(ts->sim), SIM_LOG_ERROR,
                 "time series: out of memory; a row is lost");
    }
    ts->last_row = now;
    if (ts->nrows >= ts->max_rows)
        merge_rows(ts);
    return ok;
}

static void write_rows(sim_series_t *ts)
{
    sim_time_t prev = ts->start;
    for (size_t r = 0; r < ts->nrows; r++) {
        const double *row = &ts->vals[r * ts->ncols];
        double dt = (double)(ts->times[r] - prev);
        if (ts->long_format) {
            for (size_t i = 0; i < ts->ncols; i++) {
                fprintf(ts->out, "%" PRIu64 ",%" PRIu64 ",%s,%s,",
                        (uint64_t)ts->times[r], (uint64_t)(ts->times[r] - prev),
                        ts->cols[i].name, ts->cols[i].owner);
                if (ts->cols[i].g)
                    fprintf(ts->out, "%.6g\n", dt > 0 ? row[i] / dt : 0.0);
                else
                    fprintf(ts->out, "%.0f\n", row[i]);
            }
            prev = ts->times[r];
            continue;
        }
        fprintf(ts->out, "%" PRIu64, (uint64_t)ts->times[r]);
        for (size_t i = 0; i < ts->ncols; i++) {
            if (ts->cols[i].g)
                fprintf(ts->out, ",%.6g", dt > 0 ? row[i] / dt : 0.0);
            else
                fprintf(ts->out, ",%.0f", row[i]);
        }
        fputc('\n', ts->out);
        prev = ts->times[r];
    }
    ts->rows += ts->nrows;
    ts->nrows = 0;
}

static void ev_sample(sim_t *sim, void *opaque, uint64_t arg)
{
    sim_series_t *ts = opaque;
    ts->next = 0;
    add_row(ts, sim_now(sim));
    /* Keep sampling only while the simulation has work to do. */
    if (sim_work_pending(sim) > 0)
        ts->next = sim_schedule_daemon(sim, ts->epoch, ev_sample, ts, 0);
    else
        ts->running = false;
}

int sim_series_start(sim_series_t *ts, FILE *out)
{
    ts->out = out;
    sim_time_t now = sim_now(ts->sim);
    fprintf(out, ts->long_format ? "time_ps,epoch_ps,series,owner,value"
                                 : "time_ps");
    for (size_t i = 0; i < ts->ncols; i++) {
        series_col_t *col = &ts->cols[i];
        if (!ts->long_format)
            fprintf(out, ",%s", col->name);
        col->last =
            col->g ? gauge_integral(col->g, now) : (double)col->c->value;
    }
    fputc('\n', out);
    ts->start = now;
    ts->last_row = now;
    ts->running = true;
    ts->next = sim_schedule_daemon(ts->sim, ts->epoch, ev_sample, ts, 0);
    return ts->next ? 0 : -ENOMEM;
}

int sim_series_finish(sim_series_t *ts)
{
    if (!ts || !ts->out)
        return 0;
    if (ts->running && ts->next)
        sim_cancel(ts->sim, ts->next);
    ts->running = false;
    ts->next = 0;
    if (sim_now(ts->sim) > ts->last_row)
        add_row(ts, sim_now(ts->sim));
    write_rows(ts);
    return ts->lost ? -ENOMEM : 0;
}

sim_time_t sim_series_epoch(const sim_series_t *ts)
{
    return ts->epoch;
}

uint64_t sim_series_rows(const sim_series_t *ts)
{
    return ts->rows + ts->nrows;
}
