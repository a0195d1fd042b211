/*
 * output.c - the outputs of a run (see output.h): the summary, the derived
 * statistics filled in before writing, stats.txt, stats.json, latency.txt
 * and the time series.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tools/platform/output.h"
#include "tools/platform/stages.h"
#include "tools/platform/state.h"

void platform_summarize(platform_t *p, platform_summary_t *o)
{
    memset(o, 0, sizeof(*o));
    o->records = p->s.records->value;
    o->dmas = p->s.dmas->value;
    for (unsigned i = 0; i < p->ndevs; i++) {
        pcie_dev_totals_t t;
        pcie_dev_totals(p->devs[i], &t);
        o->dmas_done += t.dmas_done;
        o->dmas_failed += t.dmas_failed;
    }
    iommu_prq_totals_t q;
    iommu_prq_totals(p->iommu, &q);
    ioasid_host_totals_t h;
    ioasid_host_totals(p->host, &h);
    o->page_requests = q.received - q.stop_markers;
    o->pr_responded = h.requests_responded;
    o->pr_auto_responded = q.auto_responded;
    o->pr_dropped = q.dropped + h.partial_discarded;
    uint64_t settled = o->pr_responded + o->pr_auto_responded + o->pr_dropped;
    o->pr_in_flight =
        o->page_requests > settled ? o->page_requests - settled : 0;
    o->pr_partials_held = h.partials_held;
    sim_counter_t *closed = sim_stats_find_counter(p->stats, "fault.closed");
    sim_counter_t *failed = sim_stats_find_counter(p->stats, "fault.failed");
    sim_hist_t *e2e = sim_stats_find_hist(p->stats, "fault.e2e");
    sim_counter_t *refaulted =
        sim_stats_find_counter(p->stats, "fault.refaulted");
    sim_counter_t *autor =
        sim_stats_find_counter(p->stats, "fault.auto_responded");
    sim_counter_t *auto_refaulted =
        sim_stats_find_counter(p->stats, "fault.auto_refaulted");
    o->faults_resolved = closed ? closed->value : 0;
    o->faults_refaulted = refaulted ? refaulted->value : 0;
    o->faults_auto = autor ? autor->value : 0;
    o->faults_auto_refaulted = auto_refaulted ? auto_refaulted->value : 0;
    o->faults_failed = failed ? failed->value : 0;
    if (e2e && e2e->count) {
        o->e2e_p50 = sim_hist_percentile(e2e, 50);
        o->e2e_p99 = sim_hist_percentile(e2e, 99);
        o->e2e_max = e2e->max;
        o->e2e_mean = sim_hist_mean(e2e);
    }
    for (unsigned i = 0; i < p->ndevs; i++)
        o->dmas_unfinished += p->dev_dmas[i];
    o->records_left = p->records_left;
    o->complete = !p->incomplete;
    o->sim_time = sim_now(p->sim);
    o->events = sim_events_run(p->sim);
    double secs = (double)o->sim_time / (double)SIM_S;
    o->faults_per_sec = secs > 0 ? (double)o->faults_resolved / secs : 0;
    o->dmas_per_sec = secs > 0 ? (double)o->dmas_done / secs : 0;
}

/* Print a time in ps with a readable unit. */
static void print_time(FILE *out, double ps)
{
    if (ps >= 1e9)
        fprintf(out, "%.3f ms", ps / 1e9);
    else if (ps >= 1e6)
        fprintf(out, "%.3f us", ps / 1e6);
    else
        fprintf(out, "%.3f ns", ps / 1e3);
}

void platform_print_summary(const platform_summary_t *s, FILE *out)
{
    fprintf(out,
            "records %" PRIu64 ", DMAs %" PRIu64 " (done %" PRIu64
            ", failed %" PRIu64 "), simulated time ",
            s->records, s->dmas, s->dmas_done, s->dmas_failed);
    print_time(out, (double)s->sim_time);
    fprintf(out,
            "\npage requests %" PRIu64 ": responded %" PRIu64
            ", auto-responded %" PRIu64 ", dropped %" PRIu64
            ", in flight %" PRIu64 "\n",
            s->page_requests, s->pr_responded, s->pr_auto_responded,
            s->pr_dropped, s->pr_in_flight);
    fprintf(out,
            "faults (page request groups): resolved %" PRIu64
            ", re-faulted after a Success %" PRIu64 ", auto-responded %" PRIu64
            " (re-faulted after it %" PRIu64 "), failed %" PRIu64 "\n",
            s->faults_resolved, s->faults_refaulted, s->faults_auto,
            s->faults_auto_refaulted, s->faults_failed);
    fprintf(out, "resolved fault latency end to end: p50 ");
    print_time(out, (double)s->e2e_p50);
    fprintf(out, ", p99 ");
    print_time(out, (double)s->e2e_p99);
    fprintf(out, ", max ");
    print_time(out, (double)s->e2e_max);
    fprintf(out, ", mean ");
    print_time(out, s->e2e_mean);
    fprintf(out,
            "\nthroughput: %.1f resolved faults/s, %.1f DMAs/s (simulated "
            "time)\n",
            s->faults_per_sec, s->dmas_per_sec);
    if (!s->complete)
        fprintf(out,
                "INCOMPLETE: the run ended with %" PRIu64
                " DMA(s) not finished%s\n",
                s->dmas_unfinished,
                s->records_left ? " and trace records not replayed" : "");
}

/* Fill the derived scalars before writing. */
static void finish_stats(platform_t *p)
{
    platform_summary_t s;
    platform_summarize(p, &s);
    sim_spans_finish(p->faults);
    for (unsigned i = 0; i < p->ndevs; i++)
        pcie_dev_finish_stats(p->devs[i]);
    *p->s.sim_time = (double)s.sim_time;
    *p->s.events = (double)s.events;
    *p->s.faults_per_sec = s.faults_per_sec;
    *p->s.dmas_per_sec = s.dmas_per_sec;
    *p->s.pr_requests = (double)s.page_requests;
    *p->s.pr_responded = (double)s.pr_responded;
    *p->s.pr_auto = (double)s.pr_auto_responded;
    *p->s.pr_dropped = (double)s.pr_dropped;
    *p->s.pr_in_flight = (double)s.pr_in_flight;
    *p->s.pr_partials_held = (double)s.pr_partials_held;
    *p->s.complete = s.complete ? 1.0 : 0.0;
    *p->s.dmas_unfinished = (double)s.dmas_unfinished;
}

static void latency_row(FILE *f, const char *name, const sim_hist_t *h)
{
    double ns = 1e3;
    fprintf(f,
            "%-14s %10" PRIu64 " %12.3f %12.3f %12.3f %12.3f %12.3f "
            "%12.3f %12.3f\n",
            name, h->count, sim_hist_mean(h) / ns, sim_hist_stdev(h) / ns,
            (double)sim_hist_percentile(h, 50) / ns,
            (double)sim_hist_percentile(h, 90) / ns,
            (double)sim_hist_percentile(h, 99) / ns,
            (double)sim_hist_percentile(h, 99.9) / ns,
            (double)(h->count ? h->max : 0) / ns);
}

static int write_latency(platform_t *p, FILE *f)
{
    fprintf(f, "# fault latency per stage and end to end, in ns\n");
    fprintf(f, "%-14s %10s %12s %12s %12s %12s %12s %12s %12s\n", "# stage",
            "count", "mean", "stdev", "p50", "p90", "p99", "p99.9", "max");
    char name[96];
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        snprintf(name, sizeof(name), "fault.stage.%s", platform_stage_names[k]);
        const sim_hist_t *h = sim_stats_find_hist(p->stats, name);
        if (h)
            latency_row(f, platform_stage_names[k], h);
    }
    const sim_hist_t *e2e = sim_stats_find_hist(p->stats, "fault.e2e");
    if (e2e)
        latency_row(f, "end_to_end", e2e);
    return ferror(f) ? -EIO : 0;
}

static int write_one(platform_t *p, const char *dir, const char *file,
                     int (*fn)(platform_t *, FILE *))
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    sim_afile_t af;
    int rc = sim_afile_open(&af, path, p->log);
    if (rc)
        return rc;
    rc = fn(p, af.f);
    if (rc) {
        sim_logf(p->log, SIM_LOG_ERROR, "cannot write %s: %s", af.tmp,
                 strerror(rc < 0 ? -rc : EIO));
        sim_afile_abort(&af);
        return rc;
    }
    return sim_afile_commit(&af, p->log);
}

static int write_text(platform_t *p, FILE *f)
{
    return sim_stats_write_text(p->stats, f, sim_now(p->sim));
}

static int write_json(platform_t *p, FILE *f)
{
    return sim_stats_write_json(p->stats, f, sim_now(p->sim));
}

/* A column of the time series, if the statistic exists in this run;
 * -ENOMEM when it cannot be added. */
static int series_gauge(platform_t *p, const char *name)
{
    sim_gauge_t *g = sim_stats_find_gauge(p->stats, name);
    return g ? sim_series_add_gauge(p->series, name, g) : 0;
}

static int series_counter(platform_t *p, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(p->stats, name);
    return c ? sim_series_add_counter(p->series, name, c) : 0;
}

int platform_open_outputs(platform_t *p, const char *dir)
{
    if (!p->cfg.run.epoch)
        return 0;
    p->series = sim_series_create(p->sim, p->cfg.run.epoch);
    /* Occupancy of every queue of the fault path, and work done. */
    int err = !p->series || series_gauge(p, "iommu.prq.occupancy") ||
              series_gauge(p, "host.iopf_workers.queue") ||
              series_gauge(p, "ioasid.ring.occupancy") ||
              series_gauge(p, "guest.viommu_queue.occupancy") ||
              series_gauge(p, "guest.vcpus.busy") ||
              series_counter(p, "fault.closed") ||
              series_counter(p, "iommu.prq.auto_responded") ||
              series_counter(p, "vmm.guest_queue_full");
    for (unsigned i = 0; !err && i < p->ndevs && i < 8; i++) {
        char n[64];
        snprintf(n, sizeof(n), "device%u.dmas_done", i);
        err = series_counter(p, n);
    }
    if (err) {
        sim_logf(p->log, SIM_LOG_ERROR, "time series: out of memory");
        return -ENOMEM;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/timeseries.csv", dir);
    int rc = sim_afile_open(&p->series_file, path, p->log);
    if (rc)
        return rc;
    p->series_open = true;
    return sim_series_start(p->series, p->series_file.f);
}

int platform_write_outputs(platform_t *p, const char *dir)
{
    if (p->series_open) {
        int lost = sim_series_finish(p->series);
        p->series_open = false;
        if (lost) {
            sim_afile_abort(&p->series_file);
            return lost;
        }
        int rc = sim_afile_commit(&p->series_file, p->log);
        if (rc)
            return rc;
    }
    finish_stats(p);
    int rc = write_one(p, dir, "stats.txt", write_text);
    if (!rc)
        rc = write_one(p, dir, "stats.json", write_json);
    if (!rc)
        rc = write_one(p, dir, "latency.txt", write_latency);
    return rc;
}
