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

/* Count and percentiles of a fault histogram (zeros if it has none). */
static void latency_of(platform_t *p, const char *name,
                       struct platform_latency *l)
{
    const sim_hist_t *h = sim_stats_find_hist(p->stats, name);
    *l = (struct platform_latency){0};
    if (!h || !h->count)
        return;
    l->faults = h->count;
    l->p50 = sim_hist_percentile(h, 50);
    l->p99 = sim_hist_percentile(h, 99);
    l->max = h->max;
    l->mean = sim_hist_mean(h);
}

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
    latency_of(p, "fault.native.e2e", &o->native);
    latency_of(p, "fault.guest.e2e", &o->guest);
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

static void print_latency(FILE *out, const char *what,
                          const struct platform_latency *l)
{
    fprintf(out, "%s: %" PRIu64 " faults, p50 ", what, l->faults);
    print_time(out, (double)l->p50);
    fprintf(out, ", p99 ");
    print_time(out, (double)l->p99);
    fprintf(out, ", max ");
    print_time(out, (double)l->max);
    fprintf(out, ", mean ");
    print_time(out, l->mean);
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
    if (s->guest.faults) { /* with a VM: native and guest apart */
        print_latency(out, "\n  native (host SVA)", &s->native);
        print_latency(out, "\n  guest (VM, nested)", &s->guest);
    }
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

static void latency_row(FILE *f, const char *group, const char *name,
                        const sim_hist_t *h)
{
    double ns = 1e3;
    fprintf(f,
            "%-18s %-12s %10" PRIu64 " %12.3f %12.3f %12.3f %12.3f %12.3f "
            "%12.3f %12.3f\n",
            group, name, h->count, sim_hist_mean(h) / ns,
            sim_hist_stdev(h) / ns, (double)sim_hist_percentile(h, 50) / ns,
            (double)sim_hist_percentile(h, 90) / ns,
            (double)sim_hist_percentile(h, 99) / ns,
            (double)sim_hist_percentile(h, 99.9) / ns,
            (double)(h->count ? h->max : 0) / ns);
}

/* The rows of one group (statistics "<prefix>.stage.*" and "<prefix>.e2e"):
 * none if no fault of it completed, and no row for a stage none of its
 * faults went through. */
static void latency_group(platform_t *p, FILE *f, const char *group,
                          const char *prefix)
{
    char name[SIM_PARAM_STR_MAX + 64];
    snprintf(name, sizeof(name), "%s.e2e", prefix);
    const sim_hist_t *e2e = sim_stats_find_hist(p->stats, name);
    if (!e2e || !e2e->count)
        return;
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        snprintf(name, sizeof(name), "%s.stage.%s", prefix,
                 platform_stage_names[k]);
        const sim_hist_t *h = sim_stats_find_hist(p->stats, name);
        if (h && h->count)
            latency_row(f, group, platform_stage_names[k], h);
    }
    latency_row(f, group, "end_to_end", e2e);
}

static int write_latency(platform_t *p, FILE *f)
{
    fprintf(f, "# fault latency per stage and end to end, in ns, of the "
               "resolved faults: all,\n# then native and guest, per VM and "
               "per device; a stage no fault of a group\n# went through has "
               "no row\n");
    fprintf(f, "%-18s %-12s %10s %12s %12s %12s %12s %12s %12s %12s\n",
            "# group", "stage", "count", "mean", "stdev", "p50", "p90", "p99",
            "p99.9", "max");
    char group[SIM_PARAM_STR_MAX + 32], prefix[SIM_PARAM_STR_MAX + 32];
    latency_group(p, f, "all", "fault");
    latency_group(p, f, "native", "fault.native");
    latency_group(p, f, "guest", "fault.guest");
    for (unsigned v = 0; v < p->topo.nvms; v++) {
        snprintf(group, sizeof(group), "vm.%s", p->topo.vms[v].name);
        snprintf(prefix, sizeof(prefix), "fault.vm.%s", p->topo.vms[v].name);
        if (p->topo.vms[v].name[0])
            latency_group(p, f, group, prefix);
    }
    for (unsigned i = 0; i < p->ndevs; i++) {
        snprintf(group, sizeof(group), "device.%s", p->topo.devs[i].name);
        snprintf(prefix, sizeof(prefix), "fault.device.%s",
                 p->topo.devs[i].name);
        latency_group(p, f, group, prefix);
    }
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

/* A column of the time series: statistic prefix + name, owned by
 * `owner`, if the statistic exists in this run; -ENOMEM when it cannot be
 * added. */
static int series_col(platform_t *p, const char *owner, const char *prefix,
                      const char *name)
{
    char full[SIM_PARAM_STR_MAX + 96];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    sim_gauge_t *g = sim_stats_find_gauge(p->stats, full);
    sim_counter_t *c = g ? NULL : sim_stats_find_counter(p->stats, full);
    if (g)
        return sim_series_add_gauge_of(p->series, owner, name, g);
    return c ? sim_series_add_counter_of(p->series, owner, name, c) : 0;
}

/* Lines of timeseries.csv at most (about 10 MB). */
#define PLATFORM_SERIES_LINES 200000

int platform_open_outputs(platform_t *p, const char *dir)
{
    if (!p->cfg.run.epoch)
        return 0;
    p->series = sim_series_create(p->sim, p->cfg.run.epoch);
    /* Occupancy of every queue of the fault path, and work done, each
     * with its owner: the IOMMU, the host, each VM, each device. */
    int err = !p->series || series_col(p, "iommu", "", "iommu.prq.occupancy") ||
              series_col(p, "iommu", "", "iommu.prq.auto_responded") ||
              series_col(p, "host", "", "host.iopf_workers.queue") ||
              series_col(p, "run", "", "fault.closed");
    for (unsigned v = 0; !err && v < p->topo.nvms; v++) {
        char owner[SIM_PARAM_STR_MAX + 8], prefix[SIM_PARAM_STR_MAX + 8];
        const char *name = p->topo.vms[v].name;
        snprintf(owner, sizeof(owner), "vm%s%s", *name ? "." : "", name);
        snprintf(prefix, sizeof(prefix), "%s%s", *name ? owner : "",
                 *name ? "." : "");
        err = series_col(p, owner, prefix, "ioasid.ring.occupancy") ||
              series_col(p, owner, prefix, "guest.viommu_queue.occupancy") ||
              series_col(p, owner, prefix, "guest.vcpus.busy") ||
              series_col(p, owner, prefix, "vmm.guest_queue_full");
    }
    for (unsigned i = 0; !err && i < p->ndevs; i++) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "device%u.", i);
        err = series_col(p, p->topo.devs[i].name, prefix, "dmas_done");
    }
    if (err) {
        sim_logf(p->log, SIM_LOG_ERROR, "time series: out of memory");
        return -ENOMEM;
    }
    if (sim_series_set_long(p->series, PLATFORM_SERIES_LINES))
        return -EINVAL;
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
