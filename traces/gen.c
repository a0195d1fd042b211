/*
 * gen.c - synthetic workload generator (see trace.h). Keeps, per
 * (device, PASID), the number of pages touched so far and a ring of the
 * last pages touched: memory is O(devices x PASIDs x reuse_window).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "traces/gen.h"

typedef struct gen_as {
    uint64_t touched; /* pages touched so far (in order) */
    uint64_t *recent; /* ring of recently touched page indices */
    unsigned nrecent, pos;
} gen_as_t;

struct trace_gen {
    trace_gen_cfg_t cfg;
    sim_rng_t rng;
    gen_as_t *as;
    unsigned nas;
    unsigned maps_done;
    uint64_t dmas_done;
    sim_time_t now;
    uint64_t pages;
};

#define GEN_BASE 0x7f0000000000ull

void trace_gen_defaults(trace_gen_cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->devices = 1;
    c->pasids = 1;
    c->dmas = 1000;
    c->region = 64ull << 20;
    c->present = false;
    c->new_page = 0.1;
    c->reuse_window = 64;
    c->write_fraction = 0.3;
    c->dma_len = 64;
    c->interval = SIM_US;
    c->seed = 1;
}

int trace_gen_check(const trace_gen_cfg_t *c, sim_log_t *log)
{
    const char *what = NULL;
    if (c->devices < 1 || c->devices > 65536)
        what = "devices must be 1..65536";
    else if (c->pasids < 1 || c->pasids > (1u << 20) - 1)
        what = "pasids must be 1..1048575";
    else if (c->region < 4096 || (c->region & 4095) || c->region > (1ull << 40))
        what = "region must be a multiple of 4096 between 4 KiB and 1 TiB";
    else if (!(c->new_page >= 0 && c->new_page <= 1))
        what = "new_page must be a probability in [0, 1]";
    else if (!(c->write_fraction >= 0 && c->write_fraction <= 1))
        what = "write_fraction must be a probability in [0, 1]";
    else if (c->reuse_window < 1 || c->reuse_window > 1u << 20)
        what = "reuse_window must be 1..1048576";
    else if (c->dma_len < 1 || c->dma_len > 4096)
        what = "dma_len must be 1..4096 bytes";
    else if ((uint64_t)c->devices * c->pasids > (1u << 22))
        what = "devices x pasids must be at most 4194304";
    if (what) {
        sim_logf(log, SIM_LOG_ERROR, "workload generator: %s", what);
        return -EINVAL;
    }
    return 0;
}

trace_gen_t *trace_gen_create(const trace_gen_cfg_t *cfg, sim_log_t *log)
{
    if (trace_gen_check(cfg, log))
        return NULL;
    trace_gen_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->cfg = *cfg;
    g->nas = cfg->devices * cfg->pasids;
    g->pages = cfg->region / 4096;
    sim_rng_seed(&g->rng, cfg->seed, "trace_gen");
    g->as = calloc(g->nas, sizeof(*g->as));
    if (!g->as)
        goto fail;
    for (unsigned i = 0; i < g->nas; i++) {
        g->as[i].recent = calloc(cfg->reuse_window, sizeof(uint64_t));
        if (!g->as[i].recent)
            goto fail;
    }
    return g;
fail:
    sim_logf(log, SIM_LOG_ERROR, "workload generator: out of memory");
    trace_gen_destroy(g);
    return NULL;
}

void trace_gen_destroy(trace_gen_t *g)
{
    if (!g)
        return;
    if (g->as)
        for (unsigned i = 0; i < g->nas; i++)
            free(g->as[i].recent);
    free(g->as);
    free(g);
}

int trace_gen_next(trace_gen_t *g, trace_record_t *rec)
{
    const trace_gen_cfg_t *c = &g->cfg;
    memset(rec, 0, sizeof(*rec));
    if (g->maps_done < g->nas) {
        unsigned i = g->maps_done++;
        rec->op = TRACE_MAP;
        rec->time = 0;
        rec->dev = i / c->pasids;
        rec->pasid = 1 + i % c->pasids;
        rec->addr = GEN_BASE;
        rec->len = c->region;
        rec->perm = TRACE_PERM_R | TRACE_PERM_W;
        rec->present = c->present;
        return 1;
    }
    if (g->dmas_done >= c->dmas)
        return 0;
    unsigned i = (unsigned)(g->dmas_done % g->nas);
    g->dmas_done++;
    gen_as_t *as = &g->as[i];
    uint64_t page;
    if (as->nrecent == 0 || sim_rng_double(&g->rng) < c->new_page) {
        page = as->touched++ % g->pages;
        as->recent[as->pos] = page;
        as->pos = (as->pos + 1) % c->reuse_window;
        if (as->nrecent < c->reuse_window)
            as->nrecent++;
    } else {
        page = as->recent[sim_rng_below(&g->rng, as->nrecent)];
    }
    double u = sim_rng_double(&g->rng);
    g->now += (sim_time_t)llround(-log(1.0 - u) * (double)c->interval);
    uint64_t off =
        c->dma_len >= 4096 ? 0 : sim_rng_below(&g->rng, 4096 - c->dma_len + 1);
    rec->op =
        sim_rng_double(&g->rng) < c->write_fraction ? TRACE_WRITE : TRACE_READ;
    rec->time = g->now;
    rec->dev = i / c->pasids;
    rec->pasid = 1 + i % c->pasids;
    rec->addr = GEN_BASE + page * 4096 + off;
    rec->len = c->dma_len;
    return 1;
}
