/*
 * bench.c - the iommu-sim benchmark program (targets and method:
 * docs/benchmarks.md).
 *
 *   bench [--quick] [--only NAME] [--repeat N]
 *
 * Runs each benchmark N times (default 5; --quick: 1 and smaller sizes)
 * and prints one line per figure with the median, min and max over the
 * repetitions, then the performance targets next to the figures, marked
 * "met" or "NOT met". Timings are host time (CLOCK_MONOTONIC) around the
 * simulation only: setup and teardown are not timed. Progress goes to
 * stderr, the figures to stdout, so `bench | grep` sees only results.
 *
 * Benchmarks:
 *   engine.null_events    bare event engine: ~1000 events in flight, each
 *                         handler reschedules itself with a random delay
 *   e2e.faults            full platform, default config, generated workload
 *                         (hits and faults), host not saturated
 *   e2e.faults_saturated  the same with DMAs arriving faster than faults are
 *                         served, so faults queue
 *   e2e.faults_only       every DMA faults (no hits): the fault path alone
 *   memory.replay_10m     peak RSS and rate of a forked child replaying a
 *                         10 M-record text trace from a file
 *   pcie.atc_hit_dmas     device + link + minimal root complex, DMAs through
 *                         an ATC hit (bench_pcie.c)
 *   pcie.fault_dmas       full platform, every DMA faults, 32 in flight
 *   iommu.xlate           iommu_translate: IOTLB hits, cold 4-level walks,
 *                         cold nested 4x4 walks (bench_iommu.c)
 *   iommu.memory          table and host memory per million mapped pages
 *   virt.nested_faults    a VM (vm.devices = device.count = 1), every DMA
 *                         faults through the nested pipeline (bench_virt.c)
 *   virt.scale_devices    host ns per fault with 1..64 devices in the VM
 *   virt.scale_pasids     host ns per fault with 1..4096 PASIDs
 *
 * Exit status: 0 ok, 1 a benchmark failed to run, 2 bad arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/bench.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Performance targets (docs/benchmarks.md). */
#define TARGET_ENGINE_EVENTS_PER_S 20e6
#define TARGET_E2E_FAULTS_PER_S 1e6
#define TARGET_REPLAY_RSS_MIB 64.0
#define TARGET_PCIE_HIT_DMAS_PER_S 20e6
#define TARGET_IOMMU_HIT_PER_S 90e6
#define TARGET_IOMMU_WALK_PER_S 20e6
#define TARGET_IOMMU_NESTED_PER_S 5e6
#define TARGET_VIRT_FAULTS_PER_S 500e3
#define TARGET_VIRT_PASID_SPREAD 1.20

/*
 * Set up a metric with its printed name (PREFIX or PREFIX.SUFFIX when
 * suffix is non-NULL), unit, scale and precision.
 */
void metric_init(metric_t *m, const char *prefix, const char *suffix,
                 const char *unit, double scale, int decimals)
{
    snprintf(m->name, sizeof(m->name), "%s%s%s", prefix, suffix ? "." : "",
             suffix ? suffix : "");
    m->unit = unit;
    m->scale = scale;
    m->decimals = decimals;
    m->n = 0;
}

/*
 * Record the value of one repetition.
 */
void metric_add(metric_t *m, double v)
{
    if (m->n < MAX_REPEAT)
        m->v[m->n++] = v;
}

/*
 * qsort comparator of doubles, ascending.
 */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Median of the recorded values (mean of the two middle ones for an even
 * count); 0 if none. Min and max go to *min and *max when non-NULL.
 */
double metric_median(const metric_t *m, double *min, double *max)
{
    double s[MAX_REPEAT];
    if (m->n == 0) {
        if (min)
            *min = 0;
        if (max)
            *max = 0;
        return 0;
    }
    memcpy(s, m->v, m->n * sizeof(double));
    qsort(s, m->n, sizeof(double), cmp_double);
    if (min)
        *min = s[0];
    if (max)
        *max = s[m->n - 1];
    return m->n % 2 ? s[m->n / 2] : (s[m->n / 2 - 1] + s[m->n / 2]) / 2;
}

/*
 * Print one result line:
 *   NAME  median VALUE UNIT   (min VALUE, max VALUE, N runs)
 */
void metric_print(const metric_t *m)
{
    double lo, hi, med = metric_median(m, &lo, &hi);
    int d = m->decimals;
    printf("%-36s median %10.*f %-12s (min %.*f, max %.*f, %u run%s)\n",
           m->name, d, med / m->scale, m->unit, d, lo / m->scale, d,
           hi / m->scale, m->n, m->n == 1 ? "" : "s");
}

/*
 * Host time now, in seconds (CLOCK_MONOTONIC).
 */
double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * Peak resident set size of this process so far, in MiB.
 */
static double self_peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB */
}

/* ------------------------------------------------ engine.null_events */

/* Null-event workload: a fixed population of self-rescheduling events. */
typedef struct null_load {
    uint64_t lcg;       /* cheap pseudo-random state for the delays */
    uint64_t scheduled; /* events scheduled so far */
    uint64_t target;    /* events to schedule in total */
    bool failed;        /* sim_schedule failed */
} null_load_t;

/*
 * The next delay of the null workload: 1..1000 ns from a 64-bit LCG
 * (Knuth's MMIX constants), cheap enough not to dominate the engine.
 */
static sim_time_t null_delay(null_load_t *l)
{
    l->lcg = l->lcg * 6364136223846793005ull + 1442695040888963407ull;
    return ((l->lcg >> 33) % 1000 + 1) * SIM_NS;
}

/*
 * Null event handler: does nothing but reschedule itself while the total
 * number of events scheduled is below the target.
 */
static void null_event(sim_t *sim, void *opaque, uint64_t arg)
{
    null_load_t *l = opaque;
    if (l->scheduled >= l->target)
        return;
    l->scheduled++;
    if (!sim_schedule(sim, null_delay(l), null_event, l, arg))
        l->failed = true;
}

/*
 * One repetition of engine.null_events: 1000 events in flight until
 * `total` events have run. Stores events per host second in *rate.
 * Returns 0, or -1 if the engine failed.
 */
static int engine_once(bench_ctx_t *ctx, uint64_t total, double *rate)
{
    enum { IN_FLIGHT = 1000 };
    sim_t *sim = sim_create(&ctx->log);
    if (!sim)
        return -1;
    null_load_t l = {.lcg = 0x2545f4914f6cdd1dull, .target = total};
    for (unsigned i = 0; i < IN_FLIGHT && l.scheduled < total; i++) {
        l.scheduled++;
        if (!sim_schedule(sim, null_delay(&l), null_event, &l, i))
            l.failed = true;
    }
    double t0 = now_s();
    uint64_t ran = sim_run(sim, SIM_TIME_MAX);
    double dt = now_s() - t0;
    sim_destroy(sim);
    if (l.failed || ran != total || dt <= 0) {
        fprintf(stderr,
                "bench: engine.null_events ran %" PRIu64 " events of %" PRIu64
                "%s\n",
                ran, total, l.failed ? " (schedule failed)" : "");
        return -1;
    }
    *rate = (double)ran / dt;
    return 0;
}

/*
 * engine.null_events: raw speed of the event engine (schedule + dispatch
 * of a handler that does nothing), in events per second of host time.
 */
static int bench_engine(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    uint64_t total = ctx->quick ? 2000000 : 20000000;
    metric_init(&out[0], "engine.null_events", NULL, "M events/s", 1e6, 2);
    *nout = 1;
    for (unsigned r = 0; r < ctx->repeat; r++) {
        double rate;
        if (engine_once(ctx, total, &rate))
            return -1;
        metric_add(&out[0], rate);
    }
    return 0;
}

/* ------------------------------------------------------ e2e.faults */

/*
 * platform_next_fn over the workload generator.
 */
static int gen_next(void *src, trace_record_t *rec)
{
    return trace_gen_next(src, rec);
}

/*
 * platform_next_fn over a trace file reader.
 */
static int reader_next(void *src, trace_record_t *rec)
{
    return trace_next(src, rec);
}

/*
 * Build a platform with the default configuration. Returns NULL on error
 * (logged). The config object is only needed while building.
 */
platform_t *make_platform(sim_log_t *log)
{
    platform_cfg_t pc;
    memset(&pc, 0, sizeof(pc));
    sim_config_t *cfg = sim_config_create(log);
    platform_t *p = NULL;
    if (cfg && !platform_register(cfg, &pc) && !platform_check(&pc, log))
        p = platform_create(&pc, log);
    sim_config_destroy(cfg);
    return p;
}

/* Figures of one end-to-end run. */
typedef struct e2e_run {
    double secs; /* host time in platform_run */
    platform_summary_t s;
} e2e_run_t;

/*
 * One end-to-end run: a fresh default platform fed by the workload
 * generator with `g`; host time is measured around platform_run only.
 * Returns 0, or -1 if the run failed or did not complete every DMA.
 */
static int e2e_once(bench_ctx_t *ctx, const char *name,
                    const trace_gen_cfg_t *g, e2e_run_t *out)
{
    platform_t *p = make_platform(&ctx->log);
    trace_gen_t *gen = p ? trace_gen_create(g, &ctx->log) : NULL;
    if (!gen) {
        platform_destroy(p);
        fprintf(stderr, "bench: %s: cannot set up the platform\n", name);
        return -1;
    }
    platform_source_t src = {gen_next, gen, "generator"};
    double t0 = now_s();
    int rc = platform_run(p, &src, 1);
    out->secs = now_s() - t0;
    platform_summarize(p, &out->s);
    trace_gen_destroy(gen);
    platform_destroy(p);
    if (rc != PLATFORM_OK || out->s.dmas_done != g->dmas ||
        out->s.faults_resolved == 0 || out->secs <= 0) {
        fprintf(stderr,
                "bench: %s: run status %d, %" PRIu64 " of %" PRIu64
                " DMAs done, %" PRIu64 " faults resolved\n",
                name, rc, out->s.dmas_done, g->dmas, out->s.faults_resolved);
        return -1;
    }
    return 0;
}

/*
 * Shared body of the e2e benchmarks: 1 device, 4 PASIDs, 1 GiB absent per
 * PASID (more pages than are ever touched, so every new page faults), a
 * DMA `interval` apart on average, a new page with probability
 * `new_page`. Reports faults resolved, DMAs and events per host second,
 * events per DMA, and the fault count (deterministic: min = max).
 */
static int bench_e2e_common(bench_ctx_t *ctx, const char *name,
                            sim_time_t interval, double new_page, metric_t *out,
                            unsigned *nout)
{
    trace_gen_cfg_t g;
    trace_gen_defaults(&g);
    g.devices = 1;
    g.pasids = 4;
    g.dmas = ctx->quick ? 100000 : 1000000;
    g.region = 1ull << 30;
    g.present = false;
    g.new_page = new_page;
    g.interval = interval;

    metric_init(&out[0], name, NULL, "M faults/s", 1e6, 3);
    metric_init(&out[1], name, "dmas", "M DMAs/s", 1e6, 3);
    metric_init(&out[2], name, "events", "M events/s", 1e6, 2);
    metric_init(&out[3], name, "events_per_dma", "events/DMA", 1, 2);
    metric_init(&out[4], name, "faults", "faults", 1, 0);
    *nout = 5;
    for (unsigned r = 0; r < ctx->repeat; r++) {
        e2e_run_t run;
        if (e2e_once(ctx, name, &g, &run))
            return -1;
        metric_add(&out[0], (double)run.s.faults_resolved / run.secs);
        metric_add(&out[1], (double)run.s.dmas_done / run.secs);
        metric_add(&out[2], (double)run.s.events / run.secs);
        metric_add(&out[3], (double)run.s.events / (double)run.s.dmas_done);
        metric_add(&out[4], (double)run.s.faults_resolved);
    }
    return 0;
}

/*
 * e2e.faults: the whole fault path at a load the host keeps up with: a
 * DMA every 5 us on average, 10% to new pages (faults), 90% hits.
 */
static int bench_e2e(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    return bench_e2e_common(ctx, "e2e.faults", 5 * SIM_US, 0.1, out, nout);
}

/*
 * e2e.faults_saturated: the same mix with a DMA every 500 ns, faster than
 * the host resolves faults, so page requests queue.
 */
static int bench_e2e_saturated(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    return bench_e2e_common(ctx, "e2e.faults_saturated", 500 * SIM_NS, 0.1, out,
                            nout);
}

/*
 * e2e.faults_only: every DMA touches a new page (all faults, no hits), a
 * DMA every 20 us (host not saturated): the cost of the fault path alone.
 */
static int bench_e2e_faults_only(bench_ctx_t *ctx, metric_t *out,
                                 unsigned *nout)
{
    return bench_e2e_common(ctx, "e2e.faults_only", 20 * SIM_US, 1.0, out,
                            nout);
}

/* ------------------------------------------------ memory.replay_10m */

/* What the replay child sends back to the parent through a pipe. */
typedef struct replay_msg {
    int status;           /* 0 ok */
    double secs;          /* host time in platform_run */
    uint64_t records;     /* records replayed */
    double start_rss_mib; /* child's peak RSS before replaying */
} replay_msg_t;

/*
 * Write a text trace of `records` records (1 map + DMAs) from the workload
 * generator: 1 device, 1 PASID, 1 GiB absent, new_page 0.01. Returns 0 or
 * -1 (reported).
 */
static int write_trace(bench_ctx_t *ctx, const char *path, uint64_t records)
{
    trace_gen_cfg_t g;
    trace_gen_defaults(&g);
    g.devices = 1;
    g.pasids = 1;
    g.dmas = records - 1; /* plus one map record */
    g.region = 1ull << 30;
    g.present = false;
    g.new_page = 0.01;
    trace_gen_t *gen = trace_gen_create(&g, &ctx->log);
    FILE *f = gen ? fopen(path, "w") : NULL;
    if (!f) {
        if (gen)
            fprintf(stderr, "bench: cannot create %s: %s\n", path,
                    strerror(errno));
        trace_gen_destroy(gen);
        return -1;
    }
    trace_record_t rec;
    int rc = trace_write_header(f);
    while (!rc && trace_gen_next(gen, &rec) == 1)
        rc = trace_write_record(f, &rec);
    trace_gen_destroy(gen);
    if (fclose(f) || rc) {
        fprintf(stderr, "bench: writing %s failed\n", path);
        return -1;
    }
    return 0;
}

/*
 * Body of the replay child: replay the trace file through a default
 * platform and send the figures to `fd`. Never returns.
 */
static void replay_child(bench_ctx_t *ctx, const char *path, uint64_t records,
                         int fd)
{
    replay_msg_t m = {.status = -1, .start_rss_mib = self_peak_rss_mib()};
    trace_reader_t *r = trace_open(path, &ctx->log);
    platform_t *p = r ? make_platform(&ctx->log) : NULL;
    if (p) {
        platform_source_t src = {reader_next, r, path};
        double t0 = now_s();
        int rc = platform_run(p, &src, 1);
        m.secs = now_s() - t0;
        platform_summary_t s;
        platform_summarize(p, &s);
        m.records = s.records;
        if (rc == PLATFORM_OK && s.records == records &&
            s.dmas_done == s.dmas && m.secs > 0)
            m.status = 0;
        else
            fprintf(stderr,
                    "bench: replay: status %d, %" PRIu64 " of %" PRIu64
                    " records, %" PRIu64 " of %" PRIu64 " DMAs done\n",
                    rc, s.records, records, s.dmas_done, s.dmas);
    }
    platform_destroy(p);
    trace_close(r);
    ssize_t n = write(fd, &m, sizeof(m));
    _exit(n == (ssize_t)sizeof(m) && m.status == 0 ? 0 : 1);
}

/*
 * One replay in a forked child. Only the replay runs in the child, and
 * this benchmark runs before any other, so the child starts small and its
 * ru_maxrss (from wait4) is the replay's own peak. Returns 0 or -1.
 */
static int replay_once(bench_ctx_t *ctx, const char *path, uint64_t records,
                       replay_msg_t *m, double *peak_mib)
{
    int fds[2];
    if (pipe(fds)) {
        fprintf(stderr, "bench: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        replay_child(ctx, path, records, fds[1]);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof(*m)) {
        ssize_t n = read(fds[0], (char *)m + got, sizeof(*m) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int wstatus;
    struct rusage ru;
    pid_t w;
    do
        w = wait4(pid, &wstatus, 0, &ru);
    while (w < 0 && errno == EINTR);
    if (w != pid || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0 ||
        got != sizeof(*m) || m->status != 0) {
        fprintf(stderr, "bench: memory.replay_10m: the replay child failed\n");
        return -1;
    }
    *peak_mib = (double)ru.ru_maxrss / 1024.0;
    return 0;
}

/*
 * memory.replay_10m: write a 10 M-record trace (quick: 1 M) into a fresh
 * temporary directory, replay it from the file in a child process per
 * repetition, report the child's peak RSS and replay rate, then delete the
 * file and the directory.
 */
static int bench_replay(bench_ctx_t *ctx, metric_t *out, unsigned *nout)
{
    uint64_t records = ctx->quick ? 1000000 : 10000000;
    const char *name = "memory.replay_10m";
    metric_init(&out[0], name, NULL, "MiB peak RSS", 1, 1);
    metric_init(&out[1], name, "rate", "M records/s", 1e6, 3);
    metric_init(&out[2], name, "rss_at_start", "MiB", 1, 1);
    metric_init(&out[3], name, "records", "records", 1, 0);
    *nout = 4;

    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/iommu-sim-bench.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create a directory in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/replay.trace", dir);
    fprintf(stderr, "bench: writing a %" PRIu64 "-record trace to %s\n",
            records, path);
    int rc = write_trace(ctx, path, records);
    for (unsigned r = 0; !rc && r < ctx->repeat; r++) {
        replay_msg_t m;
        double peak;
        rc = replay_once(ctx, path, records, &m, &peak);
        if (rc)
            break;
        metric_add(&out[0], peak);
        metric_add(&out[1], (double)m.records / m.secs);
        metric_add(&out[2], m.start_rss_mib);
        metric_add(&out[3], (double)m.records);
    }
    unlink(path);
    rmdir(dir);
    return rc;
}

/* -------------------------------------------------------------- main */

#define MAX_METRICS 5 /* virt.scale_*: 4 steps + the ratio */

/* Positions of the benchmarks in the printed report. */
enum {
    R_ENGINE,
    R_E2E,
    R_E2E_SAT,
    R_E2E_ONLY,
    R_PCIE_HIT,
    R_PCIE_FAULT,
    R_IOMMU_XLATE,
    R_IOMMU_MEM,
    R_VIRT_NESTED,
    R_VIRT_DEVICES,
    R_VIRT_PASIDS,
    R_REPLAY,
    NRESULTS
};

/* A benchmark: a name for --only and the function that runs it. */
typedef struct bench {
    const char *name;
    int (*run)(bench_ctx_t *ctx, metric_t *out, unsigned *nout);
    unsigned order; /* position in the printed report (R_*) */
} bench_t;

/*
 * The benchmarks, in the order they run. memory.replay_10m runs first, so
 * its child is forked while this process is still small.
 */
static const bench_t benches[] = {
    {"memory.replay_10m", bench_replay, R_REPLAY},
    {"engine.null_events", bench_engine, R_ENGINE},
    {"e2e.faults", bench_e2e, R_E2E},
    {"e2e.faults_saturated", bench_e2e_saturated, R_E2E_SAT},
    {"e2e.faults_only", bench_e2e_faults_only, R_E2E_ONLY},
    {"pcie.atc_hit_dmas", bench_pcie_atc_hit, R_PCIE_HIT},
    {"pcie.fault_dmas", bench_pcie_fault, R_PCIE_FAULT},
    {"iommu.xlate", bench_iommu_xlate, R_IOMMU_XLATE},
    {"iommu.memory", bench_iommu_memory, R_IOMMU_MEM},
    {"virt.nested_faults", bench_virt_nested_faults, R_VIRT_NESTED},
    {"virt.scale_devices", bench_virt_scale_devices, R_VIRT_DEVICES},
    {"virt.scale_pasids", bench_virt_scale_pasids, R_VIRT_PASIDS},
};
#define NBENCH (sizeof(benches) / sizeof(benches[0]))
_Static_assert(NBENCH == NRESULTS, "one report position per benchmark");

/* The results of one benchmark. */
typedef struct result {
    bool ran, failed;
    unsigned n;
    metric_t m[MAX_METRICS];
} result_t;

/*
 * Whether --only ARG selects benchmark NAME: the exact name, or a prefix
 * ending at a dot ("e2e" selects e2e.faults and e2e.faults_saturated).
 */
static bool selected(const char *only, const char *name)
{
    if (!only)
        return true;
    size_t n = strlen(only);
    return strcmp(only, name) == 0 ||
           (strncmp(only, name, n) == 0 && name[n] == '.');
}

/*
 * Print the usage text.
 */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench [--quick] [--only NAME] [--repeat N]\n"
            "Run the iommu-sim benchmarks and print median/min/max figures "
            "and the targets.\n"
            "  --quick       1 repetition and smaller sizes (CI smoke run)\n"
            "  --only NAME   run one benchmark (or a group: engine, e2e, "
            "pcie, iommu, virt, memory)\n"
            "  --repeat N    repetitions per benchmark, 1..%d (default 5; "
            "--quick: 1)\n"
            "benchmarks:",
            MAX_REPEAT);
    for (unsigned k = 0; k < NRESULTS; k++)
        for (unsigned i = 0; i < NBENCH; i++)
            if (benches[i].order == k)
                fprintf(out, " %s", benches[i].name);
    fprintf(out, "\nexit status: 0 ok, 1 a benchmark failed, 2 bad "
                 "arguments\n");
}

/*
 * Print one target line: the median of metric `m` against the bound, with
 * "met" / "NOT met", or "not run".
 */
static void target_line(const char *what, const result_t *res,
                        const metric_t *m, double bound, bool at_least,
                        const char *note)
{
    if (!res->ran || res->failed) {
        printf("  %-44s %s\n", what, res->failed ? "FAILED" : "not run");
        return;
    }
    double med = metric_median(m, NULL, NULL);
    bool met = at_least ? med >= bound : med < bound;
    printf("  %-44s %10.*f %-12s %s%s\n", what, m->decimals, med / m->scale,
           m->unit, met ? "met" : "NOT met", note);
}

/*
 * Parse arguments, run the selected benchmarks, print the figures and the
 * targets.
 */
int main(int argc, char **argv)
{
    static result_t results[NRESULTS];
    bench_ctx_t ctx = {.quick = false, .repeat = 0};
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick")) {
            ctx.quick = true;
        } else if (!strcmp(a, "--only") || !strcmp(a, "--repeat")) {
            if (i + 1 >= argc) {
                fprintf(stderr,
                        "bench: option '%s' needs a value (see "
                        "bench --help)\n",
                        a);
                return EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--only")) {
                only = v;
                continue;
            }
            char *end;
            errno = 0;
            unsigned long n = strtoul(v, &end, 10);
            if (errno || end == v || *end || *v == '-' || n < 1 ||
                n > MAX_REPEAT) {
                fprintf(stderr,
                        "bench: --repeat '%s': expected an integer "
                        "in 1..%d\n",
                        v, MAX_REPEAT);
                return EXIT_USAGE;
            }
            ctx.repeat = (unsigned)n;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr,
                    "bench: unknown argument '%s' (see bench "
                    "--help)\n",
                    a);
            return EXIT_USAGE;
        }
    }
    bool any = false;
    for (unsigned i = 0; i < NBENCH; i++)
        any |= selected(only, benches[i].name);
    if (!any) {
        fprintf(stderr, "bench: --only '%s': no such benchmark\n", only);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (ctx.repeat == 0)
        ctx.repeat = ctx.quick ? 1 : 5;
    sim_log_init(&ctx.log, SIM_LOG_WARN, sim_log_sink_file, stderr);

    int status = 0;
    double t_all = now_s();
    for (unsigned i = 0; i < NBENCH; i++) {
        const bench_t *b = &benches[i];
        result_t *res = &results[b->order];
        if (!selected(only, b->name))
            continue;
        fprintf(stderr, "bench: running %s (%u run%s)...\n", b->name,
                ctx.repeat, ctx.repeat == 1 ? "" : "s");
        double t0 = now_s();
        res->ran = true;
        if (b->run(&ctx, res->m, &res->n)) {
            res->failed = true;
            status = EXIT_FAIL;
        }
        fprintf(stderr, "bench: %s took %.1f s\n", b->name, now_s() - t0);
    }

    printf("# iommu-sim bench (%s mode, %u repetition%s; host time, "
           "medians)\n",
           ctx.quick ? "quick" : "full", ctx.repeat,
           ctx.repeat == 1 ? "" : "s");
    for (unsigned k = 0; k < NRESULTS; k++) {
        const result_t *res = &results[k];
        for (unsigned i = 0; i < NBENCH; i++)
            if (benches[i].order == k && res->failed)
                printf("%-36s FAILED\n", benches[i].name);
        if (res->failed)
            continue;
        for (unsigned j = 0; j < res->n; j++)
            metric_print(&res->m[j]);
    }
    printf("%-36s        %10.1f %-12s (this process, all benchmarks)\n",
           "bench.peak_rss", self_peak_rss_mib(), "MiB");

    const char *qnote = ctx.quick ? " (quick sizes)" : "";
    printf("# targets (median vs bound)\n");
    target_line("engine.null_events >= 20 M events/s", &results[R_ENGINE],
                &results[R_ENGINE].m[0], TARGET_ENGINE_EVENTS_PER_S, true,
                qnote);
    target_line("e2e.faults >= 1 M faults/s (host time)", &results[R_E2E],
                &results[R_E2E].m[0], TARGET_E2E_FAULTS_PER_S, true, qnote);
    target_line("pcie.atc_hit_dmas >= 20 M DMAs/s", &results[R_PCIE_HIT],
                &results[R_PCIE_HIT].m[0], TARGET_PCIE_HIT_DMAS_PER_S, true,
                qnote);
    target_line("iommu.xlate.iotlb_hit >= 90 M/s", &results[R_IOMMU_XLATE],
                &results[R_IOMMU_XLATE].m[0], TARGET_IOMMU_HIT_PER_S, true,
                qnote);
    target_line("iommu.xlate.walk_4level_cold >= 20 M/s",
                &results[R_IOMMU_XLATE], &results[R_IOMMU_XLATE].m[1],
                TARGET_IOMMU_WALK_PER_S, true, qnote);
    target_line("iommu.xlate.nested_4x4_cold >= 5 M/s", &results[R_IOMMU_XLATE],
                &results[R_IOMMU_XLATE].m[2], TARGET_IOMMU_NESTED_PER_S, true,
                qnote);
    target_line("virt.nested_faults >= 500 k faults/s (host)",
                &results[R_VIRT_NESTED], &results[R_VIRT_NESTED].m[0],
                TARGET_VIRT_FAULTS_PER_S, true, qnote);
    target_line("virt.scale_pasids max/min < 1.20 (1..4096)",
                &results[R_VIRT_PASIDS], &results[R_VIRT_PASIDS].m[4],
                TARGET_VIRT_PASID_SPREAD, false, qnote);
    target_line("memory.replay_10m peak RSS < 64 MiB", &results[R_REPLAY],
                &results[R_REPLAY].m[0], TARGET_REPLAY_RSS_MIB, false,
                ctx.quick ? " (quick: 1 M records, not 10 M)" : "");
    fprintf(stderr, "bench: total %.1f s\n", now_s() - t_all);
    return status;
}
