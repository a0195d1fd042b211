/*
 * tests/golden/test_golden.c - golden timing and determinism.
 *
 * 1. With every delay fixed, one isolated I/O page fault takes exactly the
 *    sum of its stage delays. The sum is computed here from the resolved
 *    configuration and the link model (hop() of tests/platform_fixture.h:
 *    pcie_link_serial_time of pcie_msg_wire_bytes for each message),
 *    following the path in docs/model.md ("One fault, end to end"):
 *      ats_fault  = proc + up(ats_req) + ctx_hit + iotlb_hit
 *                   + (4 + reads1) * walk_read + down(ats_cpl)
 *      page_req   = proc + up(page_req) + prq_write
 *      host_irq   = irq_latency + prq_desc
 *      host_fault = iopf + mm_minor + qi_submit
 *      response   = qi_page_resp + down(prg_resp)
 *      retry      = proc + up(ats_req) + ctx_hit + iotlb_hit
 *                   + retry_walk + down(ats_cpl)
 *      data       = up(mem_rd) + memory.access + down(mem_cpl, 64 bytes)
 *                   (a write is posted: data = its serialisation, after
 *                   which the device is done with it)
 *    where up/down(m) = serialisation of m's wire bytes + link.latency;
 *    the first translation of the run also reads the 4 entries of the
 *    context path (root, context, PASID directory, PASID entry: the
 *    context and PASID caches are cold); reads1 = table reads of the first
 *    (failing) walk: 1 when the table is empty (the top-level entry is
 *    absent), `levels` when a neighbouring page already built the tables;
 *    the host's response goes through the invalidation queue (qi_submit
 *    in the host, qi_page_resp in the IOMMU); retry_walk: the retry
 *    reads one entry per level (levels * walk_read): with an empty table
 *    nothing was cached, and with built tables the paging-structure cache
 *    entries the first walk left for the address were dropped by the
 *    page request's implicit invalidation (VT-d Table 27, first stage:
 *    page-selective-within-PASID with IH = 0); with A/D updates (VT-d's
 *    default, VT-d 3.6.2) the retry also writes A (and D) once per level,
 *    walk_read each. Every per-stage histogram must hold exactly its
 *    part, and fault.e2e their sum, to the picosecond.
 * 2. The CLI gives byte-identical stats.json for the same trace, config and
 *    seed; a different seed changes the output when delays are random and
 *    does not when every delay is fixed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

extern char **environ;

/* The fixed-delay overrides (also in tests/golden/single_fault.ini). */
static const char *const fixed_sets[] = {"device.proc=50",
                                         "host.irq_latency=2000",
                                         "host.prq_desc=200",
                                         "host.iopf=3000",
                                         "host.mm_minor=1000",
                                         "host.qi_submit=200",
                                         NULL};

/* ------------------------------------------------------ trace file source */

static int reader_next(void *src, trace_record_t *rec)
{
    return trace_next(src, rec);
}

/* ----------------------------------------------------- the expectation */

typedef struct expect {
    sim_time_t stage[PLATFORM_STAGE_COUNT];
    sim_time_t e2e;
} expect_t;

static void expected_fault(const platform_cfg_t *pc, unsigned reads1,
                           uint32_t dma_len, bool write, expect_t *x)
{
    const pcie_link_cfg_t *l = &pc->link;
    const iommu_cfg_t *u = &pc->iommu;
    const ioasid_host_cfg_t *h = &pc->host;
    sim_time_t proc = fixed_value(&pc->dev.proc);
    const uint8_t P = PCIE_F_PASID;
    memset(x, 0, sizeof(*x)); /* stages a native fault skips stay 0 */
    /* The device sends ATS requests, page requests with a PASID prefix;
     * translated reads without one; the IOMMU answers the translation
     * with a completion and the page group with a PRG response carrying
     * the PASID of the request. */
    sim_time_t ats_rt = proc + hop(l, PCIE_MSG_ATS_REQ, P, 0) + u->ctx_hit +
                        u->iotlb_hit + hop(l, PCIE_MSG_ATS_CPL, 0, 0);
    x->stage[PLATFORM_STAGE_ATS_FAULT] = ats_rt + (4 + reads1) * u->walk_read;
    x->stage[PLATFORM_STAGE_PAGE_REQ] =
        proc + hop(l, PCIE_MSG_PAGE_REQ, P, 0) + u->prq_write;
    x->stage[PLATFORM_STAGE_HOST_IRQ] =
        h->irq_latency + fixed_value(&h->prq_desc);
    x->stage[PLATFORM_STAGE_HOST_FAULT] = fixed_value(&h->iopf) +
                                          fixed_value(&h->mm_minor) +
                                          fixed_value(&h->qi_submit);
    x->stage[PLATFORM_STAGE_RESPONSE] =
        u->qi_page_resp + hop(l, PCIE_MSG_PRG_RESP, P, 0);
    /* The retry is the walk that succeeds: with A/D updates (VT-d 3.6.2,
     * the default there) it writes A on each of its `levels` entries (D
     * with A on the leaf for a write), walk_read each. */
    iommu_cfg_t ur = *u;
    iommu_cfg_resolve(&ur);
    unsigned ad = ur.ad == IOMMU_AD_ON ? (unsigned)u->levels : 0;
    x->stage[PLATFORM_STAGE_RETRY] = ats_rt + (u->levels + ad) * u->walk_read;
    x->stage[PLATFORM_STAGE_DATA] =
        write ? hop(l, PCIE_MSG_MEM_WR, PCIE_F_XLATED, dma_len) - l->latency
              : hop(l, PCIE_MSG_MEM_RD, PCIE_F_XLATED, dma_len) +
                    u->mem_access + hop(l, PCIE_MSG_MEM_CPL, 0, dma_len);
    x->e2e = 0;
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
        x->e2e += x->stage[k];
}

/* Check the span histograms of a finished run against x. */
static void check_stages(sim_stats_t *st, const expect_t *x)
{
    char name[64];
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        snprintf(name, sizeof(name), "fault.stage.%s", platform_stage_names[k]);
        sim_hist_t *hs = sim_stats_find_hist(st, name);
        ck_assert_ptr_nonnull(hs);
        if (k == PLATFORM_STAGE_VMM || k == PLATFORM_STAGE_GUEST ||
            k == PLATFORM_STAGE_VMM_EXIT) {
            /* A native fault never passes the VMM or a guest. */
            ck_assert_msg(hs->count == 0 && x->stage[k] == 0,
                          "%s: %llu samples", name,
                          (unsigned long long)hs->count);
            continue;
        }
        ck_assert_msg(hs->count == 1, "%s: %llu samples", name,
                      (unsigned long long)hs->count);
        ck_assert_msg(hs->min == x->stage[k] && hs->max == x->stage[k],
                      "%s: got [%llu, %llu] ps, expected %llu ps", name,
                      (unsigned long long)hs->min, (unsigned long long)hs->max,
                      (unsigned long long)x->stage[k]);
    }
    sim_hist_t *e2e = sim_stats_find_hist(st, "fault.e2e");
    ck_assert_ptr_nonnull(e2e);
    ck_assert_uint_eq(e2e->count, 1);
    ck_assert_uint_eq(e2e->min, x->e2e);
    ck_assert_uint_eq(e2e->max, x->e2e);
    ck_assert(sim_hist_mean(e2e) == (double)x->e2e);
}

/* ----------------------------------------------- in-process variants */

typedef struct variant {
    const char *name;
    const char *sets[6]; /* extra overrides, NULL-terminated */
    bool warm;           /* a present neighbour page built the tables */
    bool write;
    uint32_t len;
} variant_t;

static const variant_t variants[] = {
    {"cold tables, 64-byte read", {NULL}, false, false, 64},
    {"warm tables, 64-byte read", {NULL}, true, false, 64},
    {"cold tables, posted write", {NULL}, false, true, 64},
    {"5-level tables", {"iommu.levels=5", NULL}, true, false, 64},
    /* 256 bytes: one read request (MRRS 512), a completion of two TLPs. */
    {"Gen1 x1 link, MPS 128, 256-byte read",
     {"link.gen=1", "link.lanes=1", "link.mps=128", "link.latency=400.5", NULL},
     false,
     false,
     256},
    {"Gen5 x16, slow walker and memory",
     {"link.gen=5", "link.lanes=16", "iommu.walk_read=333.333",
      "memory.access=91", "iommu.prq_write=7", NULL},
     true,
     false,
     256},
};

START_TEST(test_isolated_fault_exact)
{
    const variant_t *v = &variants[_i];
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    platform_cfg_t pc;
    memset(&pc, 0, sizeof(pc));
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_int_eq(platform_register(cfg, &pc), 0);
    for (unsigned i = 0; fixed_sets[i]; i++)
        ck_assert_int_eq(sim_config_set(cfg, fixed_sets[i]), 0);
    for (unsigned i = 0; v->sets[i]; i++)
        ck_assert_msg(sim_config_set(cfg, v->sets[i]) == 0, "%s: %s",
                      v->sets[i], sim_log_last_error(&log));
    platform_t *p = platform_create(&pc, &log);
    ck_assert_ptr_nonnull(p);

    uint64_t va = BASE + 0x3000;
    trace_record_t r[4];
    size_t n = 0;
    if (v->warm) /* a populated page next to the faulting one */
        r[n++] = (trace_record_t){.op = TRACE_MAP,
                                  .time = 0,
                                  .pasid = 1,
                                  .addr = va - 0x1000,
                                  .len = 0x1000,
                                  .perm = PERM_RW,
                                  .present = true};
    r[n++] = (trace_record_t){.op = TRACE_MAP,
                              .time = 0,
                              .pasid = 1,
                              .addr = va,
                              .len = 0x1000,
                              .perm = PERM_RW,
                              .present = false};
    r[n++] = (trace_record_t){.op = v->write ? TRACE_WRITE : TRACE_READ,
                              .time = 1000 * SIM_NS,
                              .pasid = 1,
                              .addr = va + 0x40,
                              .len = v->len};
    arr_src_t a = {r, n, 0};
    platform_source_t src = {arr_next, &a, "golden"};
    ck_assert_int_eq(platform_run(p, &src, 1), PLATFORM_OK);

    expect_t x;
    unsigned reads1 = v->warm ? (unsigned)pc.iommu.levels : 1;
    expected_fault(&pc, reads1, v->len, v->write, &x);
    check_stages(platform_stats(p), &x);
    /* The model's own walk accounting agrees: the first walk reads reads1
     * entries, the retry `levels` (VT-d Table 27 dropped the
     * paging-structure cache entries of the address); 4 context reads. */
    sim_hist_t *wr = sim_stats_find_hist(platform_stats(p), "iommu.walk.reads");
    ck_assert_uint_eq(wr->count, 2);
    ck_assert_uint_eq(wr->min, reads1);
    ck_assert_uint_eq(wr->max, pc.iommu.levels);
    ck_assert(wr->sum == (double)(reads1 + pc.iommu.levels));
    ck_assert_uint_eq(
        sim_stats_find_counter(platform_stats(p), "iommu.ctx.reads")->value, 4);
    /* The run ends when the DMA completes (record time + e2e); a posted
     * write is complete for the device once sent (serialised), and the run
     * ends when it lands in the root complex one link latency later. */
    sim_time_t tail = v->write ? pc.link.latency : 0;
    ck_assert_uint_eq(sim_now(platform_sim(p)), 1000 * SIM_NS + x.e2e + tail);
    if (_i == 0) /* spelled out in the header comment: 4 + 1 reads, then 4
                    reads and 4 A/D writes (VT-d default) */
        ck_assert_uint_eq(x.stage[PLATFORM_STAGE_RETRY] + pc.iommu.walk_read,
                          x.stage[PLATFORM_STAGE_ATS_FAULT] +
                              pc.iommu.levels * pc.iommu.walk_read);
    ck_assert_uint_eq(
        sim_stats_find_counter(platform_stats(p), "iommu.walk.ad_writes")
            ->value,
        pc.iommu.arch == IOMMU_ARCH_VTD ? pc.iommu.levels : 0);
    platform_destroy(p);
    sim_config_destroy(cfg);
}
END_TEST

/* The stored golden files: single_fault.ini + single_fault.trace through
 * the config loader and the trace reader give the same exact sum. */
START_TEST(test_golden_files_exact)
{
    const char *srcdir = getenv("IOMMUSIM_SOURCE_DIR");
    ck_assert_msg(srcdir != NULL, "IOMMUSIM_SOURCE_DIR not set");
    char ini[PATH_MAX], tr[PATH_MAX];
    snprintf(ini, sizeof(ini), "%s/tests/golden/single_fault.ini", srcdir);
    snprintf(tr, sizeof(tr), "%s/tests/golden/single_fault.trace", srcdir);
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    platform_cfg_t pc;
    memset(&pc, 0, sizeof(pc));
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_int_eq(platform_register(cfg, &pc), 0);
    ck_assert_msg(sim_config_load_file(cfg, ini) == 0, "%s",
                  sim_log_last_error(&log));
    /* The stored file and the in-test overrides describe the same delays. */
    platform_cfg_t pc2;
    memset(&pc2, 0, sizeof(pc2));
    sim_config_t *cfg2 = sim_config_create(&log);
    ck_assert_int_eq(platform_register(cfg2, &pc2), 0);
    for (unsigned i = 0; fixed_sets[i]; i++)
        ck_assert_int_eq(sim_config_set(cfg2, fixed_sets[i]), 0);
    expect_t x1, x2;
    expected_fault(&pc, 1, 64, false, &x1);
    expected_fault(&pc2, 1, 64, false, &x2);
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
        ck_assert_uint_eq(x1.stage[k], x2.stage[k]);
    ck_assert_uint_eq(fixed_value(&pc.host.qi_submit),
                      fixed_value(&pc2.host.qi_submit));
    sim_config_destroy(cfg2);

    trace_reader_t *rd = trace_open(tr, &log);
    ck_assert_msg(rd != NULL, "%s", sim_log_last_error(&log));
    platform_t *p = platform_create(&pc, &log);
    ck_assert_ptr_nonnull(p);
    platform_source_t src = {reader_next, rd, tr};
    ck_assert_int_eq(platform_run(p, &src, 1), PLATFORM_OK);
    expect_t x;
    expected_fault(&pc, 1, 64, false, &x);
    check_stages(platform_stats(p), &x);
    platform_summary_t s;
    platform_summarize(p, &s);
    ck_assert_uint_eq(s.e2e_max, x.e2e);
    ck_assert_uint_eq(s.dmas_done, 1);
    trace_close(rd);
    platform_destroy(p);
    sim_config_destroy(cfg);
}
END_TEST

/* --------------------------------------------------------------- CLI */

static char g_tmp[PATH_MAX];

static void tmp_setup(void)
{
    iommusim_mkdtemp(g_tmp, sizeof(g_tmp), "test_golden");
}

static void tmp_teardown(void)
{
    iommusim_rm_tree(g_tmp);
}

static const char *cli_path(void)
{
    static char path[PATH_MAX];
    const char *b = getenv("IOMMUSIM_BINARY_DIR");
    ck_assert_msg(b != NULL, "IOMMUSIM_BINARY_DIR not set");
    snprintf(path, sizeof(path), "%s/tools/iommu-sim", b);
    ck_assert_msg(access(path, X_OK) == 0, "no binary %s", path);
    return path;
}

static const char *golden(const char *file)
{
    static char path[4][PATH_MAX];
    static unsigned k;
    const char *s = getenv("IOMMUSIM_SOURCE_DIR");
    ck_assert_msg(s != NULL, "IOMMUSIM_SOURCE_DIR not set");
    char *p = path[k++ % 4];
    snprintf(p, PATH_MAX, "%s/tests/golden/%s", s, file);
    return p;
}

/* Run the CLI with argv (argv[0] is set here); stdout and stderr go to
 * files in the temp dir. Returns the exit status. */
static int run_cli(const char **argv)
{
    argv[0] = cli_path();
    char out[PATH_MAX + 16], err[PATH_MAX + 16];
    snprintf(out, sizeof(out), "%s/stdout", g_tmp);
    snprintf(err, sizeof(err), "%s/stderr", g_tmp);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    int rc =
        posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_int_eq(rc, 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static bool same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = iommusim_slurp(a, &la), *y = iommusim_slurp(b, &lb);
    bool same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static const char *outfile(const char *dir, const char *file)
{
    static char path[4][PATH_MAX + 64];
    static unsigned k;
    char *p = path[k++ % 4];
    snprintf(p, PATH_MAX + 64, "%s/%s/%s", g_tmp, dir, file);
    return p;
}

static const char *outdir(const char *dir)
{
    static char path[4][PATH_MAX + 32];
    static unsigned k;
    char *p = path[k++ % 4];
    snprintf(p, PATH_MAX + 32, "%s/%s", g_tmp, dir);
    return p;
}

/* Same trace, config and seed: byte-identical outputs. */
START_TEST(test_cli_same_seed_identical)
{
    for (unsigned run = 0; run < 2; run++) {
        const char *argv[] = {NULL,
                              "-q",
                              "-c",
                              golden("mixed.ini"),
                              "--seed",
                              "11",
                              "-o",
                              outdir(run ? "b" : "a"),
                              golden("mixed.trace"),
                              NULL};
        ck_assert_int_eq(run_cli(argv), 0);
    }
    ck_assert(
        same_file(outfile("a", "stats.json"), outfile("b", "stats.json")));
    ck_assert(same_file(outfile("a", "stats.txt"), outfile("b", "stats.txt")));
    ck_assert(
        same_file(outfile("a", "latency.txt"), outfile("b", "latency.txt")));
    ck_assert(
        same_file(outfile("a", "config.ini"), outfile("b", "config.ini")));
    /* The fixed-delay golden too. */
    for (unsigned run = 0; run < 2; run++) {
        const char *argv[] = {NULL,
                              "-q",
                              "-c",
                              golden("single_fault.ini"),
                              "-o",
                              outdir(run ? "d" : "c"),
                              golden("single_fault.trace"),
                              NULL};
        ck_assert_int_eq(run_cli(argv), 0);
    }
    ck_assert(
        same_file(outfile("c", "stats.json"), outfile("d", "stats.json")));
}
END_TEST

/* Random delays: another seed gives other results. Fixed delays: the seed
 * changes nothing. */
START_TEST(test_cli_seed_changes_random_runs_only)
{
    const char *seeds[] = {"11", "12"};
    const char *dirs_r[] = {"r11", "r12"}, *dirs_f[] = {"f11", "f12"};
    for (unsigned i = 0; i < 2; i++) {
        /* Default config (random host delays), two devices. */
        const char *argv[] = {
            NULL,     "-q", "--set",           "device.count=2",      "--seed",
            seeds[i], "-o", outdir(dirs_r[i]), golden("mixed.trace"), NULL};
        ck_assert_int_eq(run_cli(argv), 0);
        const char *argv2[] = {NULL,
                               "-q",
                               "-c",
                               golden("single_fault.ini"),
                               "--seed",
                               seeds[i],
                               "-o",
                               outdir(dirs_f[i]),
                               golden("single_fault.trace"),
                               NULL};
        ck_assert_int_eq(run_cli(argv2), 0);
    }
    ck_assert(
        !same_file(outfile("r11", "stats.json"), outfile("r12", "stats.json")));
    ck_assert(
        same_file(outfile("f11", "stats.json"), outfile("f12", "stats.json")));
    /* The seed is recorded in the dumped configuration. */
    char *c11 = iommusim_slurp(outfile("r11", "config.ini"), NULL);
    ck_assert_ptr_nonnull(strstr(c11, "seed = 11"));
    free(c11);
}
END_TEST

static Suite *golden_suite(void)
{
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("exact");
    tcase_add_loop_test(tc, test_isolated_fault_exact, 0, (int)N_OF(variants));
    tcase_add_test(tc, test_golden_files_exact);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cli_same_seed_identical);
    tcase_add_test(tc, test_cli_seed_changes_random_runs_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(golden_suite());
}
