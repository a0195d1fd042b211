/*
 * seed-experiment - two questions of the thread "[RFC] /dev/ioasid uAPI
 * proposal" (Linux kernel, IOMMU and KVM lists, May-June 2021), answered
 * with numbers: the same workload under each fault routing (viommu: the
 * proposal's I/O page fault flow, Kevin Tian, section 5.6, 27 May 2021;
 * vpri: the device's own virtual PRI, Parav Pandit's reply "RE: [RFC]
 * /dev/ioasid uAPI proposal", 1 Jun 2021; iommufd: what Linux merged, the
 * iommufd FAULT object, drivers/iommu/iommufd/fault.c, v6.11) and each
 * guest page-table model (shared, separate), side by side; with
 * --guest-inv, also under each design of guest invalidations
 * (vmm.guest_inv: trap through the VMM, or the guest's own hardware queue,
 * NVIDIA Tegra241 CMDQV / iommufd IOMMU_HW_QUEUE_ALLOC).
 *
 *   seed-experiment [-o DIR] [--dmas N] [--seed N] [--guest-inv MODE]
 *                   [--routings LIST]
 *                   [--set KEY=VALUE ...]
 *
 * Each configuration's outputs (config.ini, stats.txt, stats.json,
 * latency.txt, timeseries.csv) go to DIR/<routing>-<pt_mode>/ (with
 * --guest-inv, DIR/<routing>-<pt_mode>-<mode>/); the table is printed and
 * written to DIR/summary.txt.
 * Exit status: 0 ok, 1 simulation error, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/platform/platform.h"

#define NROUTING 4
#define NPT 2
#define MAX_SETS 64
#define NGINV 2

/* Every vmm.routing; the grid runs the first three unless --routings
 * names others (hwviommu: the hardware vIOMMU, a design after the seed
 * thread). */
static const char *const routings[NROUTING] = {"viommu", "vpri", "iommufd",
                                               "hwviommu"};
static const char *const pt_modes[NPT] = {"shared", "separate"};
static const char *const ginv_modes[NGINV] = {"trap", "hwqueue"};

/* What one configuration gives. */
typedef struct result {
    char name[32];
    platform_summary_t sum;
    double stage_mean[PLATFORM_STAGE_COUNT]; /* .contrib: adds up to the mean */
} result_t;

static int gen_next(void *src, trace_record_t *rec)
{
    return trace_gen_next(src, rec);
}

static int mkdir_p(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(path, 0777) && errno != EEXIST ? -errno : 0;
}

/* Run one configuration (ginv: vmm.guest_inv, or NULL to leave it); 0
 * ok, else the platform's status. */
static int run_one(const char *outdir, const char *routing, const char *pt,
                   const char *ginv, const trace_gen_cfg_t *gen, char **sets,
                   int nsets, sim_log_t *log, result_t *res)
{
    platform_cfg_t pc;
    memset(&pc, 0, sizeof(pc));
    sim_config_t *cfg = sim_config_create(log);
    int status = PLATFORM_INPUT_ERROR;
    platform_t *p = NULL;
    trace_gen_t *g = NULL;
    char dir[4096];
    /* The machine the grid needs, the user's --set, then the cell. */
    char fixed[5][64];
    snprintf(fixed[0], sizeof(fixed[0]), "vm.devices=%u", gen->devices);
    snprintf(fixed[1], sizeof(fixed[1]), "device.count=%u", gen->devices);
    snprintf(fixed[2], sizeof(fixed[2]), "vmm.routing=%s", routing);
    snprintf(fixed[3], sizeof(fixed[3]), "guest.pt_mode=%s", pt);
    snprintf(fixed[4], sizeof(fixed[4]), "vmm.guest_inv=%s", ginv ? ginv : "");
    const char *assign[5 + MAX_SETS];
    int nassign = 0;
    assign[nassign++] = fixed[0];
    assign[nassign++] = fixed[1];
    for (int i = 0; i < nsets; i++)
        assign[nassign++] = sets[i];
    assign[nassign++] = fixed[2];
    assign[nassign++] = fixed[3];
    if (ginv)
        assign[nassign++] = fixed[4];
    if (!cfg || platform_register(cfg, &pc))
        goto out;
    for (int i = 0; i < nassign; i++)
        if (sim_config_set(cfg, assign[i]))
            goto out;
    if (platform_check(&pc, log))
        goto out;
    snprintf(res->name, sizeof(res->name), "%s-%s%s%s", routing, pt,
             ginv ? "-" : "", ginv ? ginv : "");
    snprintf(dir, sizeof(dir), "%s/%s", outdir, res->name);
    if (mkdir_p(dir)) {
        sim_logf(log, SIM_LOG_ERROR, "cannot create %s", dir);
        goto out;
    }
    status = PLATFORM_SIM_ERROR;
    g = trace_gen_create(gen, log);
    p = g ? platform_create(&pc, log) : NULL;
    if (!p || platform_open_outputs(p, dir))
        goto out;
    platform_source_t src = {gen_next, g, "generated workload"};
    status = platform_run(p, &src, 1);
    if (status != PLATFORM_OK)
        goto out;
    char path[4200];
    snprintf(path, sizeof(path), "%s/config.ini", dir);
    FILE *f = fopen(path, "w");
    if (!f || sim_config_dump(cfg, f) || fclose(f)) {
        status = PLATFORM_SIM_ERROR;
        goto out;
    }
    if (platform_write_outputs(p, dir)) {
        status = PLATFORM_SIM_ERROR;
        goto out;
    }
    platform_summarize(p, &res->sum);
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        char n[96];
        snprintf(n, sizeof(n), "fault.stage.%s.contrib",
                 platform_stage_names[k]);
        double *c = sim_stats_find_scalar(platform_stats(p), n);
        res->stage_mean[k] = c ? *c : 0;
    }
out:
    platform_destroy(p);
    trace_gen_destroy(g);
    sim_config_destroy(cfg);
    return status;
}

/* The table; the name columns widen for longer names (--guest-inv). */
static void print_table(FILE *out, const result_t *r, unsigned n)
{
    int w = 17; /* a stage column: " %9.2f (%+6.2f)" */
    for (unsigned i = 0; i < n; i++)
        if ((int)strlen(r[i].name) > w)
            w = (int)strlen(r[i].name);
    fprintf(out, "%-*s %10s %10s %10s %12s %10s\n", w + 1, "configuration",
            "p50 (us)", "p99 (us)", "mean (us)", "faults/s", "resolved");
    for (unsigned i = 0; i < n; i++)
        fprintf(out, "%-*s %10.2f %10.2f %10.2f %12.0f %10" PRIu64 "\n", w + 1,
                r[i].name, (double)r[i].sum.e2e_p50 / 1e6,
                (double)r[i].sum.e2e_p99 / 1e6, r[i].sum.e2e_mean / 1e6,
                r[i].sum.faults_per_sec, r[i].sum.faults_resolved);
    fprintf(out,
            "\nper-stage contribution to the mean (us), and the "
            "difference from %s:\n",
            r[0].name);
    fprintf(out, "%-12s", "stage");
    for (unsigned i = 0; i < n; i++)
        fprintf(out, " %*s", w, r[i].name);
    fprintf(out, "\n");
    for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
        fprintf(out, "%-12s", platform_stage_names[k]);
        for (unsigned i = 0; i < n; i++) {
            double d = (r[i].stage_mean[k] - r[0].stage_mean[k]) / 1e6;
            if (i == 0)
                fprintf(out, " %*.2f", w, r[i].stage_mean[k] / 1e6);
            else
                fprintf(out, " %*.2f (%+6.2f)", w - 8, r[i].stage_mean[k] / 1e6,
                        d);
        }
        fprintf(out, "\n");
    }
}

/* --routings: names from `routings`, comma-separated, each once, or
 * "all". Errors name the option (exit 2). */
static int pick_routings(const char *arg, const char **sel, unsigned *n)
{
    char buf[128];
    unsigned k = 0;
    if (!strcmp(arg, "all")) {
        for (k = 0; k < NROUTING; k++)
            sel[k] = routings[k];
        *n = NROUTING;
        return 0;
    }
    snprintf(buf, sizeof(buf), "%s", arg);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        unsigned r = 0;
        while (r < NROUTING && strcmp(t, routings[r]))
            r++;
        bool twice = false;
        for (unsigned i = 0; i < k && r < NROUTING; i++)
            twice |= sel[i] == routings[r];
        if (r == NROUTING || twice) {
            fprintf(stderr,
                    "seed-experiment: --routings '%s': %s '%s'; expected "
                    "viommu, vpri, iommufd, hwviommu (each once) or all\n",
                    arg, twice ? "repeated" : "unknown routing", t);
            return -1;
        }
        sel[k++] = routings[r];
    }
    if (!k) {
        fprintf(stderr, "seed-experiment: --routings '%s': no routing\n", arg);
        return -1;
    }
    *n = k;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: seed-experiment [-o DIR] [--dmas N] [--seed N] "
            "[--set KEY=VALUE ...]\n"
            "Runs one workload under vmm.routing = viommu, vpri, iommufd and "
            "guest.pt_mode =\n"
            "shared, separate (a VM with 2 devices sharing 4 guest "
            "processes) and prints\n"
            "end-to-end fault latency, throughput and the per-stage "
            "difference.\n"
            "  -o, --output DIR   where each configuration's outputs go "
            "(default seed-experiment-out)\n"
            "      --dmas N       DMAs in the workload (default 20000)\n"
            "      --seed N       workload seed (default 1)\n"
            "      --interval T   mean time between DMAs (default 10us; "
            "smaller: faults queue)\n"
            "      --guest-inv M  also vmm.guest_inv = M in every "
            "configuration: trap, hwqueue,\n"
            "                     or both (the grid twice; names end in "
            "-trap, -hwqueue)\n"
            "      --routings L   the routings of the grid, comma-separated "
            "(default\n"
            "                     viommu,vpri,iommufd; also hwviommu; all: "
            "every one)\n"
            "  -s, --set K=V      extra parameter for every configuration\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"dmas", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 'S'},
        {"interval", required_argument, NULL, 'i'},
        {"set", required_argument, NULL, 's'},
        {"guest-inv", required_argument, NULL, 'g'},
        {"routings", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *outdir = "seed-experiment-out";
    /* The guest invalidation designs of the grid: none set by default. */
    const char *ginv[NGINV] = {NULL};
    unsigned nginv = 1;
    char *sets[MAX_SETS];
    int nsets = 0;
    const char *sel[NROUTING] = {routings[0], routings[1], routings[2]};
    unsigned nsel = 3;
    trace_gen_cfg_t gen;
    trace_gen_defaults(&gen);
    gen.devices = 2;
    gen.pasids = 4;
    gen.dmas = 20000;
    gen.new_page = 0.05;
    gen.interval = 10 * SIM_US;
    gen.region = 256ull << 20;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, ":o:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            outdir = optarg;
            break;
        case 'n':
        case 'S': {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 0);
            if (errno || *end || optarg[0] == '-' || !*optarg) {
                fprintf(stderr,
                        "seed-experiment: %s '%s': expected an "
                        "unsigned integer\n",
                        c == 'n' ? "--dmas" : "--seed", optarg);
                return 2;
            }
            if (c == 'n')
                gen.dmas = v;
            else
                gen.seed = v;
            break;
        }
        case 'i': {
            char err[256];
            if (sim_parse_time(optarg, &gen.interval, err, sizeof(err))) {
                fprintf(stderr, "seed-experiment: --interval '%s': %s\n",
                        optarg, err);
                return 2;
            }
            break;
        }
        case 'g':
            if (!strcmp(optarg, "both")) {
                ginv[0] = ginv_modes[0];
                ginv[1] = ginv_modes[1];
                nginv = 2;
            } else if (!strcmp(optarg, ginv_modes[0]) ||
                       !strcmp(optarg, ginv_modes[1])) {
                ginv[0] = optarg;
                nginv = 1;
            } else {
                fprintf(stderr,
                        "seed-experiment: --guest-inv '%s': expected trap, "
                        "hwqueue or both\n",
                        optarg);
                return 2;
            }
            break;
        case 'r':
            if (pick_routings(optarg, sel, &nsel))
                return 2;
            break;
        case 's':
            if (nsets == MAX_SETS) {
                fprintf(stderr, "seed-experiment: at most %d --set\n",
                        MAX_SETS);
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "seed-experiment: option '%s' needs a value\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr,
                    "seed-experiment: unknown option '%s' (see "
                    "--help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "seed-experiment: unexpected argument '%s'\n",
                argv[optind]);
        return 2;
    }
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_WARN, sim_log_sink_file, stderr);
    result_t res[NGINV * NROUTING * NPT];
    unsigned n = 0;
    for (unsigned gi = 0; gi < nginv; gi++)
        for (unsigned pt = 0; pt < NPT; pt++)
            for (unsigned r = 0; r < nsel; r++) {
                memset(&res[n], 0, sizeof(res[n]));
                int st = run_one(outdir, sel[r], pt_modes[pt], ginv[gi], &gen,
                                 sets, nsets, &log, &res[n]);
                if (st != PLATFORM_OK)
                    return st == PLATFORM_INPUT_ERROR ? 2 : 1;
                n++;
            }
    print_table(stdout, res, n);
    char path[4096];
    snprintf(path, sizeof(path), "%s/summary.txt", outdir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "seed-experiment: cannot write %s\n", path);
        return 1;
    }
    print_table(f, res, n);
    if (fclose(f))
        return 1;
    printf("\noutputs: %s/<routing>-<pt_mode>%s/ and %s\n", outdir,
           ginv[0] ? "-<guest_inv>" : "", path);
    return 0;
}
