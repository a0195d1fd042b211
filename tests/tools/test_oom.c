/*
 * tests/tools/test_oom.c - running out of memory (issue 11): every
 * allocation of the libraries and the platform, failed in turn, must end
 * in a clean failure or in the very result of a run that had all its
 * memory; never a crash, a leak or a wrong success.
 *
 * The executable is linked with -Wl,--wrap=malloc,... (only this one; see
 * tests/tools/CMakeLists.txt): every allocation the project's code makes
 * goes through the __wrap_* functions below, which count them and, when
 * armed, fail the N-th one (mode ONE) or the N-th and every later one
 * (mode FROM). For N = 1, 2, ... until a run no longer reaches the N-th
 * allocation, each scenario is run from scratch and checked:
 *   - it ends in a clean failure (platform_create NULL, platform_run
 *     PLATFORM_SIM_ERROR, a reader or configuration call failing), with an
 *     error logged that says "out of memory";
 *   - or it succeeds, and then its summary and its output files are
 *     byte for byte those of the reference run with no failure (an
 *     allocation whose failure is absorbed must change nothing);
 *   - nothing leaks: under the asan preset LeakSanitizer checks each test
 *     process at exit, and the wrappers call the real allocator
 *     (__real_malloc, ...) so ASan tracks every block.
 * A failed allocation returns NULL as C11 7.22.3 says (realloc leaves the
 * old block alone, 7.22.3.5).
 */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/check_run.h"
#include "tests/test_util.h"
#include "tools/platform/platform.h"

/* ------------------------------------------------------ the allocator */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

enum oom_mode { OOM_ONE, OOM_FROM };

static struct {
    bool armed;
    enum oom_mode mode;
    unsigned long fail_at; /* the allocation (from 1) that fails */
    unsigned long seen;    /* allocations since armed */
    unsigned long failed;  /* of those, failed */
} oom;

static void oom_arm(unsigned long n, enum oom_mode mode)
{
    oom.armed = true;
    oom.mode = mode;
    oom.fail_at = n;
    oom.seen = 0;
    oom.failed = 0;
}

static void oom_disarm(void)
{
    oom.armed = false;
}

/* Called on each failure made: a place for a debugger's breakpoint
 * ("break oom_injected if oom.fail_at == N"). */
__attribute__((noinline)) static void oom_injected(void)
{
    oom.failed++;
    __asm__ volatile("");
}

static bool oom_fail(void)
{
    if (!oom.armed)
        return false;
    unsigned long k = ++oom.seen;
    if (k == oom.fail_at || (oom.mode == OOM_FROM && k > oom.fail_at)) {
        oom_injected();
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return oom_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return oom_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return oom_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return oom_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return oom_fail() ? NULL : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return oom_fail() ? NULL : __real_aligned_alloc(align, n);
}

/* The wrappers are the ones in use: an armed first allocation fails. */
START_TEST(test_wrap_in_place)
{
    oom_arm(1, OOM_ONE);
    void *a = malloc(16);
    void *b = malloc(16);
    oom_disarm();
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(oom.seen, 2);
    ck_assert_uint_eq(oom.failed, 1);
    free(b);
    oom_arm(2, OOM_FROM);
    char *c = strdup("x");
    void *d = calloc(1, 8), *e = realloc(NULL, 8);
    char *f = strndup("xy", 1);
    void *g = aligned_alloc(64, 64);
    oom_disarm();
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(d);
    ck_assert_ptr_null(e);
    ck_assert_ptr_null(f);
    ck_assert_ptr_null(g);
    ck_assert_uint_eq(oom.failed, 4);
    free(c);
}
END_TEST

/* ------------------------------------------------------------ the log */

/* Every error message of a run: whether one said "out of memory". */
typedef struct errs {
    unsigned n;
    bool oom;
    char first[256];
} errs_t;

static void errs_sink(void *opaque, sim_log_level_t level, const char *msg)
{
    errs_t *e = opaque;
    if (level != SIM_LOG_ERROR)
        return;
    if (e->n++ == 0)
        snprintf(e->first, sizeof(e->first), "%s", msg);
    if (strstr(msg, "out of memory"))
        e->oom = true;
}

/* ------------------------------------------------- the platform scenarios */

#define VA 0x7f0000000000ull
#define PERM_RW (TRACE_PERM_R | TRACE_PERM_W)

static trace_record_t rec(trace_op_t op, sim_time_t t, uint32_t dev,
                          uint64_t addr, uint64_t len)
{
    return (trace_record_t){.op = op,
                            .time = t,
                            .dev = dev,
                            .pasid = 1,
                            .addr = addr,
                            .len = len,
                            .perm = PERM_RW};
}

/* Records from an array; line = index + 1. */
typedef struct arr_src {
    const trace_record_t *recs;
    size_t n, i;
} arr_src_t;

static int arr_next(void *src, trace_record_t *r)
{
    arr_src_t *a = src;
    if (a->i >= a->n)
        return 0;
    *r = a->recs[a->i];
    r->line = ++a->i;
    return 1;
}

/*
 * A scenario: configuration lines, and a trace in which each device maps
 * 64 KiB at VA (absent: every first touch faults), then reads 8 pages of
 * it at once (more page requests than a 4-entry PRQ holds: it overflows),
 * unmaps a page it read, and detaches its PASID.
 */
typedef struct scen {
    const char *name;
    const char *const *sets;
    unsigned ndevs;
    /* Counters the reference run must move: the paths it is meant to take
     * (and whose allocations the sweep therefore fails). */
    const char *const *moved;
} scen_t;

/* A VM with two NICs, the host's VMM routing through an emulated vIOMMU
 * and backing guest memory on demand, and one native NVMe device. */
static const char *const sets_vtd[] = {
    "device.nic.count=2", "device.nvme.count=1",  "vm.a.devices=nic",
    "vmm.routing=viommu", "vm.s2_on_demand=true", "vm.s2_page=4K",
    "iommu.prq_depth=4",  "run.epoch=2us",        NULL};

/* SMMUv3: a NIC (ATS, PRI) in a VM reached through its virtual PRI, the
 * guest keeping its I/O page tables apart from its CPU ones; a native
 * accelerator without ATS whose faulting DMAs the stall model holds (a
 * VM's stall events are answered Invalid: ioasid/vm.c, the model's
 * choice, so the stalling device is native). */
static const char *const sets_smmu[] = {
    "iommu.arch=smmuv3",      "iommu.stall=true",
    "device.nic.count=1",     "device.acc.ats=false",
    "vm.a.devices=nic",       "vmm.routing=vpri",
    "guest.pt_mode=separate", "iommu.prq_depth=4",
    "run.epoch=2us",          NULL};

static const char *const moved_vtd[] = {
    "iommu.prq.overflows",  "host.prq.overflow_recoveries",
    "vm.a.vmm.injected",    "vm.a.guest.mm.faults",
    "vm.a.vm.s2_faults",    "vm.a.guest.unmap.count",
    "host.mm.minor_faults", NULL};
static const char *const moved_smmu[] = {
    "iommu.prq.overflows",    "iommu.dma.stalled",    "host.evq.stalls",
    "host.iopf.resumes",      "vm.a.vmm.injected",    "vm.a.guest.mm.faults",
    "vm.a.guest.unmap.count", "host.mm.minor_faults", NULL};

static const scen_t scen_vtd = {"vtd", sets_vtd, 3, moved_vtd};
static const scen_t scen_smmu = {"smmu", sets_smmu, 2, moved_smmu};

static size_t make_trace(const scen_t *sc, trace_record_t *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t d = 0; d < sc->ndevs; d++)
        out[n++] = rec(TRACE_MAP, 0, d, VA, 0x10000);
    for (uint32_t d = 0; d < sc->ndevs; d++)
        for (unsigned pg = 0; pg < 8; pg++)
            out[n++] = rec(TRACE_READ, US, d, VA + pg * 0x1000 + 0x40, 64);
    for (uint32_t d = 0; d < sc->ndevs; d++)
        out[n++] = rec(TRACE_UNMAP, 200 * US, d, VA, 0x1000);
    for (uint32_t d = 0; d < sc->ndevs; d++)
        out[n++] = rec(TRACE_READ, 300 * US, d, VA + 0x9000, 64);
    for (uint32_t d = 0; d < sc->ndevs; d++)
        out[n++] = rec(TRACE_DETACH, 600 * US, d, 0, 0);
    ck_assert_uint_le(n, cap);
    return n;
}

/* What one run gave. */
typedef struct outcome {
    enum { O_CREATE_FAILED, O_OUTPUT_FAILED, O_RUN_FAILED, O_OK } what;
    int status;
    errs_t errs;
    char summary[4096];
} outcome_t;

static char tmp_root[4096];

/* Read a whole small file into buf (NUL-terminated); its length. */
static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap - 1, f);
    ck_assert_msg(n < cap - 1, "%s: larger than the test's buffer", path);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/*
 * Build, run, write the outputs to dir and destroy. The configuration is
 * read unarmed (the config reader has its own test); from
 * platform_create to the end the allocator is armed as at and mode say
 * (at 0: unarmed, the reference run, which checks sc->moved). No Check
 * assertion runs armed: Check allocates for each one.
 */
static void run_platform(const scen_t *sc, const char *dir, unsigned long at,
                         enum oom_mode mode, outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, errs_sink, &o->errs);
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_ptr_nonnull(cfg);
    platform_cfg_t pc;
    ck_assert_int_eq(platform_register(cfg, &pc), 0);
    for (unsigned i = 0; sc->sets[i]; i++)
        ck_assert_msg(sim_config_set(cfg, sc->sets[i]) == 0, "%s: %s",
                      sc->sets[i], sim_log_last_error(&log));
    ck_assert_int_eq(platform_check(&pc, &log), 0);
    trace_record_t recs[64];
    size_t n = make_trace(sc, recs, N_OF(recs));

    if (at)
        oom_arm(at, mode);
    platform_t *p = platform_create(&pc, &log);
    if (!p) {
        o->what = O_CREATE_FAILED;
    } else if (platform_open_outputs(p, dir)) {
        o->what = O_OUTPUT_FAILED;
    } else {
        arr_src_t a = {recs, n, 0};
        platform_source_t src = {arr_next, &a, "mem"};
        o->status = platform_run(p, &src, 1);
        if (!at) /* the reference: unarmed, Check may assert */
            for (unsigned i = 0; sc->moved[i]; i++) {
                sim_counter_t *c =
                    sim_stats_find_counter(platform_stats(p), sc->moved[i]);
                ck_assert_msg(c && c->value > 0, "%s: %s did not move",
                              sc->name, sc->moved[i]);
            }
        if (o->status == PLATFORM_OK && platform_write_outputs(p, dir) == 0) {
            platform_summary_t s;
            platform_summarize(p, &s);
            oom_disarm();
            FILE *f = fmemopen(o->summary, sizeof(o->summary), "w");
            ck_assert_ptr_nonnull(f);
            platform_print_summary(&s, f);
            fclose(f);
            o->what = O_OK;
        } else {
            o->what = O_RUN_FAILED;
        }
    }
    platform_destroy(p);
    oom_disarm();
    sim_config_destroy(cfg);
}

/* The output files a run writes, compared with the reference run's. */
static const char *const out_files[] = {"stats.txt", "stats.json",
                                        "latency.txt", "timeseries.csv"};

static char file_a[1 << 20], file_b[1 << 20];

static void same_outputs(const char *ref, const char *dir, unsigned long at)
{
    for (unsigned i = 0; i < N_OF(out_files); i++) {
        char pa[4300], pb[4300];
        snprintf(pa, sizeof(pa), "%s/%s", ref, out_files[i]);
        snprintf(pb, sizeof(pb), "%s/%s", dir, out_files[i]);
        size_t na = slurp(pa, file_a, sizeof(file_a));
        size_t nb = slurp(pb, file_b, sizeof(file_b));
        ck_assert_msg(na == nb && memcmp(file_a, file_b, na) == 0,
                      "allocation %lu failed, the run succeeded, but %s "
                      "differs from the reference run's",
                      at, out_files[i]);
    }
}

/* Fail allocation N (mode ONE) or N onward (FROM), N = 1, 2, ... until a
 * run no longer reaches it; returns the number of allocations of the
 * reference run. */
static unsigned long sweep_platform(const scen_t *sc, enum oom_mode mode)
{
    char ref[4200], dir[4200];
    snprintf(ref, sizeof(ref), "%s/%s-ref", tmp_root, sc->name);
    snprintf(dir, sizeof(dir), "%s/%s-run", tmp_root, sc->name);
    ck_assert_int_eq(mkdir(ref, 0700), 0);
    ck_assert_int_eq(mkdir(dir, 0700), 0);

    static outcome_t want, got;
    /* The reference, then a run armed past any allocation, to count them. */
    run_platform(sc, ref, 0, OOM_ONE, &want);
    ck_assert_msg(want.what == O_OK, "%s: the reference run failed: %s",
                  sc->name, want.errs.first);
    ck_assert_uint_eq(want.errs.n, 0);
    run_platform(sc, dir, ~0ul, OOM_ONE, &got);
    unsigned long total = oom.seen;
    ck_assert_uint_eq(oom.failed, 0);
    ck_assert_uint_gt(total, 0);

    unsigned long at;
    unsigned fails[4] = {0};
    for (at = 1; at <= total + 1; at++) {
        for (unsigned i = 0; i < N_OF(out_files); i++) {
            char path[4300];
            snprintf(path, sizeof(path), "%s/%s", dir, out_files[i]);
            remove(path); /* a success must write each anew */
        }
        run_platform(sc, dir, at, mode, &got);
        if (oom.failed == 0) {
            /* Not reached: the whole run allocated fewer. */
            ck_assert_msg(at == total + 1,
                          "%s: a run with allocation %lu armed made only "
                          "%lu of the reference's %lu",
                          sc->name, at, oom.seen, total);
            ck_assert_int_eq(got.what, O_OK);
        }
        fails[got.what]++;
        if (got.what == O_OK) {
            ck_assert_msg(got.errs.n == 0,
                          "%s: allocation %lu failed, the run succeeded "
                          "but logged '%s'",
                          sc->name, at, got.errs.first);
            ck_assert_msg(strcmp(got.summary, want.summary) == 0,
                          "%s: allocation %lu failed, the run succeeded with "
                          "another summary:\n%s\nwanted:\n%s",
                          sc->name, at, got.summary, want.summary);
            same_outputs(ref, dir, at);
            continue;
        }
        ck_assert_msg(
            got.errs.oom,
            "%s: allocation %lu failed (%s); the first error "
            "logged does not say out of memory: '%s' (%u errors; outcome %d)",
            sc->name, at, mode == OOM_ONE ? "one" : "from", got.errs.first,
            got.errs.n, (int)got.what);
        if (got.what == O_RUN_FAILED)
            ck_assert_msg(
                got.status == PLATFORM_SIM_ERROR || got.status == PLATFORM_OK,
                "%s: allocation %lu: run status %d", sc->name, at, got.status);
    }
    printf("%s (%s): %lu allocations; failures at create %u, outputs %u, "
           "run %u; unaffected %u\n",
           sc->name, mode == OOM_ONE ? "one" : "from", total,
           fails[O_CREATE_FAILED], fails[O_OUTPUT_FAILED], fails[O_RUN_FAILED],
           fails[O_OK]);
    iommusim_rm_tree(ref);
    iommusim_rm_tree(dir);
    return total;
}

static void setup(void)
{
    iommusim_mkdtemp(tmp_root, sizeof(tmp_root), "test_oom");
}

static void teardown(void)
{
    iommusim_rm_tree(tmp_root);
}

START_TEST(test_platform_vtd_one)
{
    sweep_platform(&scen_vtd, OOM_ONE);
}
END_TEST

START_TEST(test_platform_vtd_from)
{
    sweep_platform(&scen_vtd, OOM_FROM);
}
END_TEST

START_TEST(test_platform_smmu_one)
{
    sweep_platform(&scen_smmu, OOM_ONE);
}
END_TEST

START_TEST(test_platform_smmu_from)
{
    sweep_platform(&scen_smmu, OOM_FROM);
}
END_TEST

/* ----------------------------------------------- the configuration reader */

static const char ini[] = "; an INI with device classes and VMs\n"
                          "[device]\n"
                          "proc = 60\n"
                          "[device.nic]\n"
                          "count = 2\n"
                          "atc_entries = 32\n"
                          "[device.nvme]\n"
                          "ats = false\n"
                          "[vm.a]\n"
                          "devices = nic\n"
                          "vmm.routing = vpri\n"
                          "[iommu]\n"
                          "arch = smmuv3\n"
                          "[host]\n"
                          "iopf = uniform(1000, 3000)\n";

/* Create, register the platform's tables, load the INI, a --set, and
 * dump into f; 0, or the failing step (1..5). No Check assertion here:
 * Check allocates for each one, and this runs armed. */
static int config_steps(sim_log_t *log, FILE *f)
{
    int step = 0;
    platform_cfg_t pc;
    sim_config_t *cfg = sim_config_create(log);
    if (!cfg)
        return 1;
    if (platform_register(cfg, &pc))
        step = 2;
    else if (sim_config_load_string(cfg, "oom.ini", ini))
        step = 3;
    else if (sim_config_set(cfg, "vm.a.guest.vcpus=3"))
        step = 4;
    else if (sim_config_dump(cfg, f) < 0)
        step = 5;
    sim_config_destroy(cfg);
    return step;
}

/* config_steps with the dump into buf. */
static int config_run(sim_log_t *log, char *buf, size_t cap, unsigned long at,
                      enum oom_mode mode)
{
    memset(buf, 0, cap);
    FILE *f = fmemopen(buf, cap, "w");
    ck_assert_ptr_nonnull(f);
    oom_arm(at, mode);
    int rc = config_steps(log, f);
    oom_disarm();
    fclose(f);
    return rc;
}

static char dump_want[1 << 16], dump_got[1 << 16];

static void sweep_config(enum oom_mode mode)
{
    errs_t e = {0};
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, errs_sink, &e);
    int rc = config_run(&log, dump_want, sizeof(dump_want), ~0ul, OOM_ONE);
    ck_assert_msg(rc == 0, "the reference failed at step %d: %s", rc, e.first);
    unsigned long total = oom.seen;
    ck_assert_uint_gt(total, 0);
    /* The INI's values are in the dump. */
    ck_assert_ptr_nonnull(strstr(dump_want, "[device.nic]"));
    ck_assert_ptr_nonnull(strstr(dump_want, "[vm.a]"));
    ck_assert_ptr_nonnull(strstr(dump_want, "uniform(1000, 3000)"));

    for (unsigned long at = 1; at <= total + 1; at++) {
        memset(&e, 0, sizeof(e));
        rc = config_run(&log, dump_got, sizeof(dump_got), at, mode);
        ck_assert_uint_eq(oom.failed != 0, at <= total);
        if (rc == 0) {
            ck_assert_msg(e.n == 0, "allocation %lu: success but '%s'", at,
                          e.first);
            ck_assert_msg(strcmp(dump_got, dump_want) == 0,
                          "allocation %lu failed, the dump differs", at);
        } else {
            ck_assert_msg(e.oom,
                          "allocation %lu failed, step %d failed without "
                          "saying out of memory: '%s'",
                          at, rc, e.first);
        }
    }
}

START_TEST(test_config_one)
{
    sweep_config(OOM_ONE);
}
END_TEST

START_TEST(test_config_from)
{
    sweep_config(OOM_FROM);
}
END_TEST

/* ------------------------------------------------------ the trace reader */

static const char trace_text[] = "iommu-sim-trace 1\n"
                                 "timeunit ns\n"
                                 "devices nic1, 0, gpu0\n"
                                 "# a comment\n"
                                 "0 map 0 1 0x10000 4K rw- present\n"
                                 "1 read 2 1 0x10000 64\n"
                                 "2 write 1 1 0x10040 64\n"
                                 "3 unmap 0 1 0x10000 0x1000\n"
                                 "4 detach 0 1\n";

static int lookup(void *opaque, const char *name)
{
    (void)opaque;
    if (strcmp(name, "nic1") == 0)
        return 1;
    if (strcmp(name, "gpu0") == 0)
        return 2;
    return -1;
}

/* Read the whole trace armed as at and mode say: the number of records
 * (at most cap), or -1. No Check assertion while armed. */
static int trace_run(sim_log_t *log, trace_record_t *out, size_t cap,
                     unsigned long at, enum oom_mode mode)
{
    FILE *f = fmemopen((void *)trace_text, sizeof(trace_text) - 1, "r");
    ck_assert_ptr_nonnull(f);
    oom_arm(at, mode);
    trace_reader_t *r = trace_open_stream(f, "oom.trace", log);
    int n = -1;
    if (r) {
        trace_set_dev_lookup(r, lookup, NULL);
        int rc;
        trace_record_t x;
        n = 0;
        while ((rc = trace_next(r, &x)) > 0)
            if ((size_t)n < cap)
                out[n++] = x;
        if (rc < 0)
            n = -1;
        trace_close(r);
    }
    oom_disarm();
    fclose(f);
    return n;
}

static bool same_record(const trace_record_t *a, const trace_record_t *b)
{
    return a->op == b->op && a->time == b->time && a->dev == b->dev &&
           a->pasid == b->pasid && a->addr == b->addr && a->len == b->len &&
           a->perm == b->perm && a->present == b->present &&
           a->page == b->page && a->line == b->line;
}

static void sweep_trace(enum oom_mode mode)
{
    errs_t e = {0};
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, errs_sink, &e);
    trace_record_t want[8], got[8];
    int n = trace_run(&log, want, N_OF(want), ~0ul, OOM_ONE);
    unsigned long total = oom.seen;
    ck_assert_msg(n == 5, "reference: %d records: %s", n, e.first);
    /* The devices line numbers the trace: 0 is nic1 (1), 1 is 0, 2 gpu0. */
    ck_assert_uint_eq(want[0].dev, 1);
    ck_assert_uint_eq(want[1].dev, 2);
    ck_assert_uint_eq(want[2].dev, 0);
    ck_assert_uint_gt(total, 0);
    for (unsigned long at = 1; at <= total + 1; at++) {
        memset(&e, 0, sizeof(e));
        memset(got, 0, sizeof(got));
        int k = trace_run(&log, got, N_OF(got), at, mode);
        ck_assert_uint_eq(oom.failed != 0, at <= total);
        if (k >= 0) {
            ck_assert_int_eq(k, n);
            ck_assert_uint_eq(e.n, 0);
            for (int i = 0; i < n; i++)
                ck_assert_msg(same_record(&got[i], &want[i]),
                              "allocation %lu: record %d differs", at, i);
        } else {
            ck_assert_msg(e.oom, "allocation %lu: '%s'", at, e.first);
        }
    }
}

START_TEST(test_trace_one)
{
    sweep_trace(OOM_ONE);
}
END_TEST

START_TEST(test_trace_from)
{
    sweep_trace(OOM_FROM);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_wrap_in_place);
    tcase_add_test(tc, test_config_one);
    tcase_add_test(tc, test_config_from);
    tcase_add_test(tc, test_trace_one);
    tcase_add_test(tc, test_trace_from);
    tcase_add_test(tc, test_platform_vtd_one);
    tcase_add_test(tc, test_platform_vtd_from);
    tcase_add_test(tc, test_platform_smmu_one);
    tcase_add_test(tc, test_platform_smmu_from);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
