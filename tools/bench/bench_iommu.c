/*
 * bench_iommu.c - benchmarks of the IOMMU model itself, through the
 * synchronous translation entry (iommu_translate) and the page-table
 * builder, in host time:
 *   iommu.xlate   translations per second with IOTLB hits, with cold
 *                 single-stage 4-level walks (paging-structure caches off,
 *                 a new page each time: 4 reads), and with cold nested
 *                 4 x 4 walks (walk caches off: 24 reads); the reads per
 *                 walk are printed too (deterministic: they check the
 *                 workload is what it says)
 *   iommu.memory  memory of one million mapped 4 KiB pages (contiguous),
 *                 as simulated table frames and as host memory, and the
 *                 rate of building them
 * Setup (tables, mappings) is not timed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench/bench.h"

#define RID 0x0100u
#define PASID 1u
#define RW (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_U)
#define VA_BASE 0x7f0000000000ull

/* An IOMMU on its own engine (no devices), with the configuration defaults
 * changed by `tune`. */
typedef struct rig {
    sim_t *sim;
    sim_stats_t *st;
    iommu_t *u;
    iommu_guest_t *g;
} rig_t;

/*
 * Create the IOMMU with the parameter defaults; with cold, every walk
 * cache (paging-structure caches, stage-2 TLB) is off. Returns 0 or -1.
 */
static int rig_init(bench_ctx_t *ctx, rig_t *r, bool cold)
{
    memset(r, 0, sizeof(*r));
    iommu_cfg_t c;
    memset(&c, 0, sizeof(c));
    sim_config_t *sc = sim_config_create(&ctx->log);
    if (!sc || sim_config_register(sc, iommu_params, iommu_nparams, &c)) {
        sim_config_destroy(sc);
        return -1;
    }
    sim_config_destroy(sc);
    if (cold) {
        memset(c.psc, 0, sizeof(c.psc));
        c.s2tlb = 0;
    }
    r->sim = sim_create(&ctx->log);
    r->st = sim_stats_create();
    r->u = r->sim && r->st ? iommu_create(r->sim, r->st, &c, 1) : NULL;
    return r->u ? 0 : -1;
}

/* Free what rig_init and rig_s1/rig_nested built. */
static void rig_fini(rig_t *r)
{
    iommu_guest_destroy(r->g);
    iommu_destroy(r->u);
    sim_stats_destroy(r->st);
    sim_destroy(r->sim);
}

/*
 * A host stage-1 table with `pages` 4 KiB pages mapped from VA_BASE,
 * bound to (RID, PASID). Returns 0 or -1.
 */
static int rig_s1(rig_t *r, uint64_t pages)
{
    iommu_pt_t pt;
    if (iommu_pt_init(&pt, iommu_memory(r->u), 4) ||
        iommu_pt_map_range(&pt, VA_BASE, 1ull << 32, pages << 12, RW, 12))
        return -1;
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S1, .domain = 1, .s1 = pt, .pri = true};
    return iommu_set_pasid(r->u, RID, PASID, &e) ? -1 : 0;
}

/*
 * A guest whose stage 1 maps `pages` 4 KiB pages from VA_BASE to GPAs that
 * stage 2 maps with 4 KiB leaves, installed nested. Returns 0 or -1.
 */
static int rig_nested(rig_t *r, uint64_t pages)
{
    r->g = iommu_guest_create(iommu_memory(r->u), 4, 12);
    if (!r->g)
        return -1;
    uint64_t gpa = iommu_guest_reserve(r->g, pages << 12, 1ull << 21);
    iommu_pt_t s1;
    if (!gpa || iommu_guest_back(r->g, gpa, pages << 12, RW, 12) ||
        iommu_pt_init_guest(&s1, r->g, 4) ||
        iommu_pt_map_range(&s1, VA_BASE, gpa, pages << 12, RW, 12))
        return -1;
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_NESTED,
                             .domain = 1,
                             .s2_domain = 2,
                             .s1 = s1,
                             .s2 = *iommu_guest_s2(r->g),
                             .pri = true};
    return iommu_set_pasid(r->u, RID, PASID, &e) ? -1 : 0;
}

/*
 * Translate n times, page i & mask each time, for reads; returns the
 * rate (translations per host second) and the mean reads per
 * translation, or -1 if a translation failed. With warm, every page is
 * translated once before the timing (the IOTLB holds them); else only the
 * first (the context path is cached).
 */
static int xlate_loop(rig_t *r, uint64_t n, uint64_t mask, bool warm,
                      double *rate, double *reads)
{
    iommu_xlate_t x;
    uint64_t sum = 0, total_reads = 0, bad = 0;
    for (uint64_t i = 0; i <= (warm ? mask : 0); i++)
        iommu_translate(r->u, RID, PASID, VA_BASE + (i << 12), PCIE_F_R, &x);
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        iommu_translate(r->u, RID, PASID, VA_BASE + ((i & mask) << 12),
                        PCIE_F_R, &x);
        sum += x.pa;
        total_reads += x.reads;
        bad += x.outcome != IOMMU_WALK_OK;
    }
    double dt = now_s() - t0;
    if (bad || dt <= 0 || !sum) {
        fprintf(stderr, "bench: iommu.xlate: %" PRIu64 " failed translations\n",
                bad);
        return -1;
    }
    *rate = (double)n / dt;
    *reads = (double)total_reads / (double)n;
    return 0;
}

/*
 * iommu.xlate: IOTLB hits (16 pages, all in the 64-entry IOTLB), cold
 * single-stage walks (1 M pages, each translated once), cold nested walks
 * (256 K pages, each once).
 */
int bench_iommu_xlate(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    uint64_t n_hit = ctx->quick ? 5000000 : 50000000;
    uint64_t n_1d = ctx->quick ? 1u << 18 : 1u << 20;
    uint64_t n_2d = ctx->quick ? 1u << 16 : 1u << 18;
    metric_init(&out[0], "iommu.xlate", "iotlb_hit", "M xlate/s", 1e6, 1);
    metric_init(&out[1], "iommu.xlate", "walk_4level_cold", "M xlate/s", 1e6,
                2);
    metric_init(&out[2], "iommu.xlate", "nested_4x4_cold", "M xlate/s", 1e6, 2);
    metric_init(&out[3], "iommu.xlate", "walk_4level_cold.reads", "reads", 1,
                2);
    metric_init(&out[4], "iommu.xlate", "nested_4x4_cold.reads", "reads", 1, 2);
    *nout = 5;
    for (unsigned rep = 0; rep < ctx->repeat; rep++) {
        rig_t r;
        double rate = 0, reads = 0;
        int rc = rig_init(ctx, &r, false) || rig_s1(&r, 64) ||
                 xlate_loop(&r, n_hit, 15, true, &rate, &reads);
        rig_fini(&r);
        if (rc || reads != 0) {
            fprintf(stderr,
                    "bench: iommu.xlate.iotlb_hit: %.3f reads per "
                    "translation (expected IOTLB hits only)\n",
                    reads);
            return -1;
        }
        metric_add(&out[0], rate);
        rc = rig_init(ctx, &r, true) || rig_s1(&r, n_1d) ||
             xlate_loop(&r, n_1d, n_1d - 1, false, &rate, &reads);
        rig_fini(&r);
        if (rc)
            return -1;
        metric_add(&out[1], rate);
        metric_add(&out[3], reads);
        rc = rig_init(ctx, &r, true) || rig_nested(&r, n_2d) ||
             xlate_loop(&r, n_2d, n_2d - 1, false, &rate, &reads);
        rig_fini(&r);
        if (rc)
            return -1;
        metric_add(&out[2], rate);
        metric_add(&out[4], reads);
    }
    return 0;
}

/*
 * iommu.memory: build a table of 1 M contiguous 4 KiB pages; report the
 * simulated table memory and the host memory of the simulated memory, per
 * million pages, and the build rate.
 */
int bench_iommu_memory(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    uint64_t pages = ctx->quick ? 1u << 18 : 1u << 20;
    double per_m = 1e6 / (double)pages;
    metric_init(&out[0], "iommu.memory", "tables_per_mpages", "MiB", 1, 2);
    metric_init(&out[1], "iommu.memory", "host_per_mpages", "MiB", 1, 2);
    metric_init(&out[2], "iommu.memory", "map_rate", "M pages/s", 1e6, 2);
    *nout = 3;
    for (unsigned rep = 0; rep < ctx->repeat; rep++) {
        iommu_mem_t *m = iommu_mem_create();
        iommu_pt_t pt;
        if (!m || iommu_pt_init(&pt, m, 4)) {
            iommu_mem_destroy(m);
            return -1;
        }
        double t0 = now_s();
        int rc =
            iommu_pt_map_range(&pt, VA_BASE, 1ull << 32, pages << 12, RW, 12);
        double dt = now_s() - t0;
        double tables = (double)iommu_mem_backed_frames(m) * 4096.0;
        double host = (double)iommu_mem_host_bytes(m);
        iommu_mem_destroy(m);
        if (rc || dt <= 0)
            return -1;
        metric_add(&out[0], tables * per_m / (1024.0 * 1024.0));
        metric_add(&out[1], host * per_m / (1024.0 * 1024.0));
        metric_add(&out[2], (double)pages / dt);
    }
    return 0;
}
