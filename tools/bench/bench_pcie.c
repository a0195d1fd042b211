/*
 * tools/bench/bench_pcie.c - benchmarks of the PCIe device model.
 *
 *   pcie.atc_hit_dmas  one device and its link in front of a minimal root
 *                      complex (translations from an identity map, reads
 *                      answered after the memory access time): 64-byte DMA
 *                      reads to pages the ATC holds, kept `tags` in flight
 *                      (each completion issues the next DMA). Link events
 *                      included. DMAs per second of host time.
 *   pcie.fault_dmas    the full default platform, every DMA to a page
 *                      never touched (absent, so each one faults and is
 *                      fixed by the host), `tags` in flight: faulting DMAs
 *                      per second of host time, end to end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench/bench.h"

#define BASE 0x7f0000000000ull
#define PASID 1u

/* ------------------------------------------------- pcie.atc_hit_dmas */

/* The closed-loop DMA source and the minimal root complex. */
typedef struct hit_load {
    sim_t *sim;
    pcie_dev_t *dev;
    uint64_t issued, target;
    uint64_t pages; /* working set, in pages (fits the ATC) */
    bool write;     /* writes instead of reads */
    sim_time_t mem; /* memory access of a translated read */
    bool failed;
} hit_load_t;

/*
 * Issue the next DMA of the workload: 64 bytes in the next page of the
 * working set (a stride through the pages, so every page stays warm).
 */
static void hit_issue(hit_load_t *l)
{
    uint64_t page = l->issued % l->pages;
    l->issued++;
    if (pcie_dev_dma(l->dev, PASID, BASE + page * 4096 + 64, 64, l->write))
        l->failed = true;
}

/*
 * A DMA ended: issue the next one until the target.
 */
static void hit_done(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                     uint64_t addr, uint64_t len, bool write, bool ok)
{
    (void)dev, (void)pasid, (void)addr, (void)len, (void)write;
    hit_load_t *l = opaque;
    if (!ok)
        l->failed = true;
    else if (l->issued < l->target)
        hit_issue(l);
}

/*
 * The minimal root complex: translations from an identity map with read
 * and write permission; a translated read is answered after the memory
 * access time (handed to the link ahead, no event of its own); writes are
 * absorbed.
 */
static void hit_rc(void *opaque, const pcie_msg_t *m)
{
    hit_load_t *l = opaque;
    if (m->type == PCIE_MSG_ATS_REQ) {
        pcie_msg_t c = {.type = PCIE_MSG_ATS_CPL,
                        .code = PCIE_CPL_SC,
                        .perm = PCIE_F_R | PCIE_F_W,
                        .size_shift = 12,
                        .rid = m->rid,
                        .tag = m->tag,
                        .pasid = m->pasid,
                        .addr = m->addr,
                        .xaddr = m->addr,
                        .cookie = m->cookie};
        pcie_dev_send_down(l->dev, &c);
    } else if (m->type == PCIE_MSG_MEM_RD) {
        pcie_msg_t c = {.type = PCIE_MSG_MEM_CPL,
                        .code = PCIE_CPL_SC,
                        .rid = m->rid,
                        .tag = m->tag,
                        .len = m->len,
                        .addr = m->addr,
                        .cookie = m->cookie};
        pcie_dev_send_down_at(l->dev, &c, sim_now(l->sim) + l->mem);
    }
}

/* Figures of one atc_hit run. */
typedef struct hit_run {
    double secs;
    uint64_t dmas, events, misses;
} hit_run_t;

/*
 * One run: a fresh device with the default [device] and [link]
 * configuration, the ATC warmed by a first pass over the working set
 * (not timed), then `total` DMAs timed.
 */
static int hit_once(bench_ctx_t *ctx, uint64_t total, bool write,
                    hit_run_t *out)
{
    pcie_dev_cfg_t dc;
    pcie_link_cfg_t lc;
    memset(&dc, 0, sizeof(dc));
    memset(&lc, 0, sizeof(lc));
    sim_config_t *cfg = sim_config_create(&ctx->log);
    if (!cfg ||
        sim_config_register(cfg, pcie_dev_params, pcie_dev_nparams, &dc) ||
        sim_config_register(cfg, pcie_link_params, pcie_link_nparams, &lc)) {
        sim_config_destroy(cfg);
        return -1;
    }
    sim_config_destroy(cfg);
    sim_t *sim = sim_create(&ctx->log);
    sim_stats_t *st = sim_stats_create();
    hit_load_t l = {.sim = sim, .write = write, .mem = 60 * SIM_NS};
    l.pages = dc.atc_entries / 2; /* comfortably inside the ATC */
    pcie_dev_port_t port = {.up_rx = hit_rc, .up_opaque = &l};
    l.dev = sim && st ? pcie_dev_create(sim, st, 0, (uint16_t)dc.rid_base, &dc,
                                        &lc, &port, NULL, 1)
                      : NULL;
    if (!l.dev) {
        sim_stats_destroy(st);
        sim_destroy(sim);
        return -1;
    }
    pcie_dev_set_dma_done(l.dev, hit_done, &l);
    /* Warm-up: one pass over the working set, one DMA at a time. */
    l.target = l.pages;
    hit_issue(&l);
    sim_run(sim, SIM_TIME_MAX);
    pcie_dev_totals_t t0;
    pcie_dev_totals(l.dev, &t0);
    /* Timed: `tags` in flight until `total` DMAs are done. */
    l.target = l.issued + total;
    uint64_t ev0 = sim_events_run(sim);
    double h0 = now_s();
    for (uint64_t i = 0; i < dc.tags && l.issued < l.target; i++)
        hit_issue(&l);
    sim_run(sim, SIM_TIME_MAX);
    out->secs = now_s() - h0;
    pcie_dev_totals_t t1;
    pcie_dev_totals(l.dev, &t1);
    out->dmas = t1.dmas_done - t0.dmas_done;
    out->events = sim_events_run(sim) - ev0;
    out->misses = t1.atc_misses - t0.atc_misses;
    pcie_dev_destroy(l.dev);
    sim_stats_destroy(st);
    sim_destroy(sim);
    if (l.failed || out->dmas != total || out->secs <= 0) {
        fprintf(stderr,
                "bench: pcie.atc_hit_dmas: %" PRIu64 " of %" PRIu64
                " DMAs done%s\n",
                out->dmas, total, l.failed ? " (a DMA failed)" : "");
        return -1;
    }
    return 0;
}

/*
 * pcie.atc_hit_dmas: DMAs per second of host time through an ATC hit,
 * reads and writes, with events per DMA and the ATC misses of the timed
 * part (0: every DMA hit).
 */
int bench_pcie_atc_hit(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    uint64_t total = ctx->quick ? 1000000 : 10000000;
    const char *name = "pcie.atc_hit_dmas";
    metric_init(&out[0], name, NULL, "M DMAs/s", 1e6, 2);
    metric_init(&out[1], name, "writes", "M DMAs/s", 1e6, 2);
    metric_init(&out[2], name, "events_per_dma", "events/DMA", 1, 2);
    metric_init(&out[3], name, "events_per_write", "events/DMA", 1, 2);
    metric_init(&out[4], name, "atc_misses", "misses", 1, 0);
    *nout = 5;
    for (unsigned r = 0; r < ctx->repeat; r++) {
        hit_run_t rd, wr;
        if (hit_once(ctx, total, false, &rd) || hit_once(ctx, total, true, &wr))
            return -1;
        metric_add(&out[0], (double)rd.dmas / rd.secs);
        metric_add(&out[1], (double)wr.dmas / wr.secs);
        metric_add(&out[2], (double)rd.events / (double)rd.dmas);
        metric_add(&out[3], (double)wr.events / (double)wr.dmas);
        metric_add(&out[4], (double)(rd.misses + wr.misses));
    }
    return 0;
}

/* --------------------------------------------------- pcie.fault_dmas */

/* The closed-loop faulting workload on the full platform. */
typedef struct fault_load {
    pcie_dev_t *dev;
    uint64_t issued, target;
    bool failed;
    bool mapped; /* the map record was handed out */
} fault_load_t;

/*
 * The platform's record source: one map record of the whole (absent)
 * region; the DMAs come from the completion callback.
 */
static int fault_next(void *src, trace_record_t *rec)
{
    fault_load_t *l = src;
    if (l->mapped)
        return 0;
    l->mapped = true;
    memset(rec, 0, sizeof(*rec));
    rec->op = TRACE_MAP;
    rec->pasid = PASID;
    rec->addr = BASE;
    rec->len = (l->target + 1) * 4096;
    rec->perm = TRACE_PERM_R | TRACE_PERM_W;
    rec->present = false;
    rec->line = 1;
    return 1;
}

/*
 * Issue the next DMA: 64 bytes in a page never touched before.
 */
static void fault_issue(fault_load_t *l)
{
    uint64_t page = l->issued++;
    if (pcie_dev_dma(l->dev, PASID, BASE + page * 4096 + 64, 64, false))
        l->failed = true;
}

/*
 * A DMA ended: issue the next one until the target.
 */
static void fault_done(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                       uint64_t addr, uint64_t len, bool write, bool ok)
{
    (void)dev, (void)pasid, (void)addr, (void)len, (void)write;
    fault_load_t *l = opaque;
    if (!ok)
        l->failed = true;
    else if (l->issued < l->target)
        fault_issue(l);
}

/* Start the closed loop once the map record has been applied. */
static void fault_start(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim, (void)arg;
    fault_load_t *l = opaque;
    for (unsigned i = 0; i < 32 && l->issued < l->target; i++)
        fault_issue(l);
}

/*
 * pcie.fault_dmas: faulting DMAs per second of host time through the whole
 * platform (default configuration), 32 in flight, with events per DMA.
 */
int bench_pcie_fault(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    uint64_t total = ctx->quick ? 50000 : 500000;
    const char *name = "pcie.fault_dmas";
    metric_init(&out[0], name, NULL, "M DMAs/s", 1e6, 3);
    metric_init(&out[1], name, "events_per_dma", "events/DMA", 1, 2);
    metric_init(&out[2], name, "faults", "faults", 1, 0);
    *nout = 3;
    for (unsigned r = 0; r < ctx->repeat; r++) {
        platform_t *p = make_platform(&ctx->log);
        if (!p)
            return -1;
        fault_load_t l = {.dev = platform_device(p, 0), .target = total};
        pcie_dev_set_dma_done(l.dev, fault_done, &l);
        sim_schedule_at(platform_sim(p), 1, fault_start, &l, 0);
        platform_source_t src = {fault_next, &l, "pcie.fault_dmas"};
        double t0 = now_s();
        int rc = platform_run(p, &src, 1);
        double secs = now_s() - t0;
        platform_summary_t s;
        platform_summarize(p, &s);
        platform_destroy(p);
        if (rc != PLATFORM_OK || l.failed || s.dmas_done != total ||
            s.faults_resolved != total || secs <= 0) {
            fprintf(stderr,
                    "bench: %s: status %d, %" PRIu64 " of %" PRIu64
                    " DMAs done, %" PRIu64 " faults resolved\n",
                    name, rc, s.dmas_done, total, s.faults_resolved);
            return -1;
        }
        metric_add(&out[0], (double)s.dmas_done / secs);
        metric_add(&out[1], (double)s.events / (double)s.dmas_done);
        metric_add(&out[2], (double)s.faults_resolved);
    }
    return 0;
}
