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
    sim_gauge_t *g; /* or */
    sim_counter_t *c;
    double last; /* gauge integral / counter value at the last row */
} series_col_t;

struct sim_series {
    sim_t *sim;
    sim_time_t epoch;
    FILE *out;
    series_col_t *cols;
    size_t ncols, cap;
    sim_time_t last_row; /* time of the last row */
    sim_event_id_t next;
    uint64_t rows;
    bool running;
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
    return ts;
}

void sim_series_destroy(sim_series_t *ts)
{
    if (!ts)
        return;
    if (ts->running && ts->next)
        sim_cancel(ts->sim, ts->next);
    free(ts->cols);
    free(ts);
}

static int add_col(sim_series_t *ts, const char *name, sim_gauge_t *g,
                   sim_counter_t *c)
{
    if (ts->running)
        return -EBUSY;
    if (SIM_GROW(ts->cols, ts->cap, ts->ncols + 1, 16))
        return -ENOMEM;
    series_col_t *col = &ts->cols[ts->ncols++];
    memset(col, 0, sizeof(*col));
    snprintf(col->name, sizeof(col->name), "%s", name);
    col->g = g;
    col->c = c;
    return 0;
}

int sim_series_add_gauge(sim_series_t *ts, const char *name, sim_gauge_t *g)
{
    return g ? add_col(ts, name, g, NULL) : -EINVAL;
}

int sim_series_add_counter(sim_series_t *ts, const char *name, sim_counter_t *c)
{
    return c ? add_col(ts, name, NULL, c) : -EINVAL;
}

/* Integral of a gauge from its origin to `now`. */
static double gauge_integral(const sim_gauge_t *g, sim_time_t now)
{
    return g->integral + g->value * (double)(now - g->last);
}

static void write_row(sim_series_t *ts, sim_time_t now)
{
    double dt = (double)(now - ts->last_row);
    fprintf(ts->out, "%" PRIu64, (uint64_t)now);
    for (size_t i = 0; i < ts->ncols; i++) {
        series_col_t *col = &ts->cols[i];
        if (col->g) {
            double integral = gauge_integral(col->g, now);
            double mean = dt > 0 ? (integral - col->last) / dt : col->g->value;
            fprintf(ts->out, ",%.6g", mean);
            col->last = integral;
        } else {
            double v = (double)col->c->value;
            fprintf(ts->out, ",%.0f", v - col->last);
            col->last = v;
        }
    }
    fputc('\n', ts->out);
    ts->last_row = now;
    ts->rows++;
}

static void ev_sample(sim_t *sim, void *opaque, uint64_t arg)
{
    sim_series_t *ts = opaque;
    ts->next = 0;
    write_row(ts, sim_now(sim));
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
    fprintf(out, "time_ps");
    for (size_t i = 0; i < ts->ncols; i++) {
        series_col_t *col = &ts->cols[i];
        fprintf(out, ",%s", col->name);
        col->last =
            col->g ? gauge_integral(col->g, now) : (double)col->c->value;
    }
    fputc('\n', out);
    ts->last_row = now;
    ts->running = true;
    ts->next = sim_schedule_daemon(ts->sim, ts->epoch, ev_sample, ts, 0);
    return ts->next ? 0 : -ENOMEM;
}

void sim_series_finish(sim_series_t *ts)
{
    if (!ts || !ts->out)
        return;
    if (ts->running && ts->next)
        sim_cancel(ts->sim, ts->next);
    ts->running = false;
    ts->next = 0;
    if (sim_now(ts->sim) > ts->last_row)
        write_row(ts, sim_now(ts->sim));
}

uint64_t sim_series_rows(const sim_series_t *ts)
{
    return ts->rows;
}
