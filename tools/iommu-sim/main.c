/*
 * main.c - the iommu-sim command line.
 *
 *   iommu-sim [OPTIONS] [TRACE...]
 *
 * Exit status: 0 success, 1 simulation error (including a run that ended
 * with work outstanding: its outputs are written, with run.complete = 0),
 * 2 usage or input error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/platform/platform.h"

#ifndef IOMMUSIM_VERSION
#define IOMMUSIM_VERSION "0.0.0"
#endif

/* The bundled default scenario (scenarios/default.trace), embedded at
 * build time. */
extern const unsigned char iommusim_default_scenario[];
extern const unsigned long iommusim_default_scenario_len;

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
            "usage: iommu-sim [OPTIONS] [TRACE...]\n"
            "\n"
            "Replay I/O traces through a simulated PCIe device, IOMMU and "
            "host fault path\n"
            "and report fault latency and throughput. With no TRACE, runs "
            "the bundled\n"
            "default scenario. Several traces are merged in time order; "
            "'-' reads stdin.\n"
            "\n"
            "options:\n"
            "  -c, --config FILE     read configuration (INI) from FILE\n"
            "  -s, --set KEY=VALUE   set one parameter, e.g. "
            "--set iommu.walk_read=200 (repeatable;\n"
            "                        applied after --config)\n"
            "  -o, --output DIR      write config.ini, stats.txt, stats.json "
            "and latency.txt\n"
            "                        into DIR (created if missing; default "
            "iommu-sim-out)\n"
            "      --seed N          seed of every random stream (same as "
            "--set run.seed=N)\n"
            "      --list-params     list every parameter with its type, "
            "default, range and unit\n"
            "  -q, --quiet           print nothing but errors\n"
            "  -h, --help            show this help\n"
            "  -V, --version         show the version\n"
            "\n"
            "exit status: 0 ok, 1 simulation error (or the run ended with "
            "work outstanding),\n"
            "             2 usage or input error\n"
            "docs: README.md, docs/ (trace-format.md, configuration.md, "
            "model.md)\n");
}

static int fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "iommu-sim: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see iommu-sim --help)\n");
    return EXIT_USAGE;
}

/* Create dir and its missing parents. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

static int reader_next(void *src, trace_record_t *rec)
{
    return trace_next(src, rec);
}

static int write_config(const sim_config_t *cfg, const char *dir,
                        sim_log_t *log)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/config.ini", dir);
    sim_afile_t af;
    int rc = sim_afile_open(&af, path, log);
    if (rc)
        return rc;
    rc = sim_config_dump(cfg, af.f);
    if (rc) {
        sim_afile_abort(&af);
        return rc;
    }
    return sim_afile_commit(&af, log);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 'S'},
        {"list-params", no_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL, *outdir = "iommu-sim-out";
    const char *seed = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof(char *));
    int nsets = 0, quiet = 0, list = 0;
    if (!sets)
        return 1;

    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:s:o:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_file = optarg;
            break;
        case 's':
            sets[nsets++] = optarg;
            break;
        case 'o':
            outdir = optarg;
            break;
        case 'S':
            seed = optarg;
            break;
        case 'L':
            list = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            free(sets);
            return 0;
        case 'V':
            printf("iommu-sim %s\n", IOMMUSIM_VERSION);
            free(sets);
            return 0;
        case ':':
            free(sets);
            return fail_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            free(sets);
            return fail_usage("unknown option '%s'", argv[optind - 1]);
        }
    }

    sim_log_t log;
    sim_log_init(&log, quiet ? SIM_LOG_ERROR : SIM_LOG_WARN, sim_log_sink_file,
                 stderr);
    int status = EXIT_USAGE;
    platform_cfg_t pc;
    memset(&pc, 0, sizeof(pc));
    sim_config_t *cfg = sim_config_create(&log);
    platform_t *p = NULL;
    trace_reader_t **readers = NULL;
    platform_source_t *srcs = NULL;
    FILE *builtin = NULL;
    unsigned nsrcs = 0;
    if (!cfg || platform_register(cfg, &pc)) {
        status = 1;
        goto out;
    }
    if (list) {
        sim_config_list(cfg, stdout);
        status = 0;
        goto out;
    }
    if (config_file && sim_config_load_file(cfg, config_file))
        goto out;
    for (int i = 0; i < nsets; i++)
        if (sim_config_set(cfg, sets[i]))
            goto out;
    if (seed) {
        char assign[128];
        snprintf(assign, sizeof(assign), "run.seed=%s", seed);
        if (sim_config_set(cfg, assign))
            goto out;
    }
    if (platform_check(&pc, &log))
        goto out;

    /* Open every trace before running, so a missing file fails fast. */
    unsigned ntraces = (unsigned)(argc - optind);
    readers = calloc(ntraces ? ntraces : 1, sizeof(*readers));
    srcs = calloc(ntraces ? ntraces : 1, sizeof(*srcs));
    if (!readers || !srcs) {
        status = 1;
        goto out;
    }
    if (ntraces == 0) {
        builtin = fmemopen((void *)iommusim_default_scenario,
                           iommusim_default_scenario_len, "r");
        readers[0] =
            builtin
                ? trace_open_stream(builtin, "default.trace (bundled)", &log)
                : NULL;
        if (!readers[0])
            goto out;
        srcs[0] = (platform_source_t){reader_next, readers[0],
                                      "default.trace (bundled)"};
        nsrcs = 1;
    }
    for (unsigned i = 0; i < ntraces; i++) {
        readers[i] = trace_open(argv[optind + (int)i], &log);
        if (!readers[i])
            goto out;
        srcs[i] =
            (platform_source_t){reader_next, readers[i], argv[optind + (int)i]};
        nsrcs = i + 1;
    }
    int rc = make_dirs(outdir);
    if (rc) {
        fprintf(stderr, "iommu-sim: cannot create output directory '%s': %s\n",
                outdir, strerror(-rc));
        goto out;
    }

    p = platform_create(&pc, &log);
    if (!p) {
        status = 1;
        goto out;
    }
    if (platform_open_outputs(p, outdir)) {
        status = 1;
        goto out;
    }
    status = platform_run(p, srcs, nsrcs);
    platform_summary_t s;
    platform_summarize(p, &s);
    /* A run that ended with work outstanding still writes its outputs
     * (run.complete = 0 says so), then exits 1. */
    if (status != PLATFORM_OK && (status != PLATFORM_SIM_ERROR || s.complete))
        goto out;
    if (write_config(cfg, outdir, &log) || platform_write_outputs(p, outdir)) {
        status = 1;
        goto out;
    }
    if (!quiet) {
        platform_summarize(p, &s);
        platform_print_summary(&s, stdout);
        printf("outputs: %s/{config.ini,stats.txt,stats.json,latency.txt%s}\n",
               outdir, pc.run.epoch ? ",timeseries.csv" : "");
    }
    status = s.complete ? 0 : 1;
out:
    platform_destroy(p);
    for (unsigned i = 0; readers && i < (nsrcs ? nsrcs : 1); i++)
        trace_close(readers[i]);
    if (builtin)
        fclose(builtin);
    free(readers);
    free(srcs);
    sim_config_destroy(cfg);
    free(sets);
    return status;
}
