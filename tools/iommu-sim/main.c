/*
 * main.c - the iommu-sim command line.
 *
 *   iommu-sim [OPTIONS] [TRACE...]
 *
 * Exit status: 0 success, 1 simulation error (including a run that ended
 * with work outstanding: its outputs are written, with run.complete = 0)
 * or outputs that could not be written (a full disk), 2 usage or input
 * error (including an output directory that cannot be made or is held by
 * another run), 130 interrupted (SIGINT or SIGTERM).
 *
 * The output directory is written as a whole: the outputs go to
 * ".DIR.tmp.PID" beside DIR, which is renamed into place as the last
 * step; ".DIR.lock" (flock) keeps two runs from the same DIR. A run
 * removes the temporaries that killed runs (kill -9) left in DIR's
 * parent, once their owner PID is gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/platform/platform.h"

#ifndef IOMMUSIM_VERSION
#define IOMMUSIM_VERSION "0.0.0"
#endif

/* The bundled default scenario (scenarios/default.trace), embedded at
 * build time. */
/* The bundled default scenario: scenarios/default.trace and the machine
 * it runs on, scenarios/default.ini (tools/CMakeLists.txt). */
extern const unsigned char iommusim_default_trace[];
extern const unsigned long iommusim_default_trace_len;
extern const unsigned char iommusim_default_ini[];
extern const unsigned long iommusim_default_ini_len;

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

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
            "                        into DIR (created if missing, replaced "
            "as a whole;\n"
            "                        default iommu-sim-out)\n"
            "      --seed N          seed of every random stream (same as "
            "--set run.seed=N)\n"
            "      --trace-devices K:LIST  the K-th trace's own device "
            "numbering: its device\n"
            "                        i is the i-th of LIST (names or "
            "numbers), e.g. 2:nic0,nic1\n"
            "      --stats-per-pasid[=N]  fault histograms per PASID for "
            "the first N (64)\n"
            "                        PASIDs, the others together (same as "
            "--set run.stats_pasids=N)\n"
            "      --list-params     list every parameter with its type, "
            "default, range and unit\n"
            "  -q, --quiet           print nothing but errors\n"
            "  -h, --help            show this help\n"
            "  -V, --version         show the version\n"
            "\n"
            "exit status: 0 ok, 1 simulation error (or the run ended with "
            "work outstanding,\n"
            "             or outputs could not be written), 2 usage or "
            "input error,\n"
            "             130 interrupted (SIGINT/SIGTERM: nothing "
            "written)\n"
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

/* ------------------------------------------------------- interruption */

/* The signal that asked the run to stop (SIGINT, SIGTERM), or 0. */
static volatile sig_atomic_t g_signal;

/* What a second signal removes before leaving at once: the files a run
 * writes into its temporary directory (and their temporaries), then the
 * directory; only unlink and rmdir (async-signal-safe). */
static const char *const out_files[] = {"config.ini", "stats.txt", "stats.json",
                                        "latency.txt", "timeseries.csv"};
#define NOUT (sizeof(out_files) / sizeof(out_files[0]))
static char g_tmp[4096];
static char g_tmp_files[2 * NOUT][4200];
static char g_lock[4096];

static void on_signal(int sig)
{
    if (g_signal) {
        for (unsigned i = 0; g_tmp[0] && i < 2 * NOUT; i++)
            unlink(g_tmp_files[i]);
        if (g_tmp[0])
            rmdir(g_tmp);
        if (g_lock[0])
            unlink(g_lock);
        _exit(EXIT_INTERRUPTED);
    }
    g_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* a read in progress goes on; the replay
                                 checks the flag before the next record,
                                 the run between slices of events
                                 (platform_set_interrupt) */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The replay reads each record through here: a signal ends the input, and
 * the run stops at once (the platform stops on a source error). */
static int reader_next(void *src, trace_record_t *rec)
{
    if (g_signal)
        return -EINTR;
    return trace_next(src, rec);
}

/* ------------------------------------------------- the output directory */

typedef struct outdir {
    char target[4096]; /* DIR, without trailing slashes */
    char tmp[4096];    /* .DIR.tmp.PID beside it */
    char lock[4096];   /* .DIR.lock beside it */
    int lock_fd;
    bool made;
} outdir_t;

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A file a run writes (or its temporary while writing). */
static bool is_output(const char *name)
{
    for (unsigned i = 0; i < NOUT; i++) {
        size_t n = strlen(out_files[i]);
        if (!strncmp(name, out_files[i], n) &&
            (!name[n] || !strncmp(name + n, ".tmp.", 5)))
            return true;
    }
    return false;
}

/* Can DIR be replaced by a run's outputs: absent, or a directory holding
 * nothing but outputs of a run? 0, or -ENOTDIR / -ENOTEMPTY (its first
 * other entry into *other). */
static int replaceable(const char *dir, char *other, size_t len)
{
    struct stat st;
    if (lstat(dir, &st))
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            is_output(e->d_name))
            continue;
        snprintf(other, len, "%s", e->d_name);
        rc = -ENOTEMPTY;
        break;
    }
    closedir(d);
    return rc;
}

/* The owner PID of a run's temporary directory, named ".NAME.tmp.PID"
 * (or ".NAME.tmp.PID.old": the earlier outputs a run moves out of its
 * way), or 0 if `name` is not one. */
static long tmp_owner(const char *name)
{
    const char *t = NULL;
    if (name[0] != '.')
        return 0;
    for (const char *q = name + 1; (q = strstr(q, ".tmp.")) != NULL; q++)
        t = q;
    if (!t || t == name + 1)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(t + 5, &end, 10);
    if (end == t + 5 || t[5] < '1' || t[5] > '9' || errno ||
        (*end && strcmp(end, ".old")) || pid > 0x3fffffff)
        return 0;
    return pid;
}

/*
 * Remove what runs killed before their end (kill -9, a crash) left in
 * `parent`: temporary directories whose owner no longer exists
 * (kill(pid, 0) fails with ESRCH), or whose PID is ours (a dead run's,
 * the PID come round again: this run has not made its own yet), and that
 * hold nothing but outputs of a run. A live owner's is never touched.
 */
static void remove_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = tmp_owner(e->d_name);
        if (!pid || (pid != (long)getpid() &&
                     (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
            continue;
        char path[8200], other[256];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
            replaceable(path, other, sizeof(other)) == 0)
            rm_tree(path);
    }
    closedir(d);
}

static int out_fail(const char *dir, const char *why)
{
    fprintf(stderr, "iommu-sim: output directory '%s': %s\n", dir, why);
    return EXIT_USAGE;
}

/*
 * Before the run: make DIR's parent, take .DIR.lock (another run holding
 * it is refused), check that DIR can be replaced, and make the temporary
 * directory the outputs go to. 0, or the exit status (after one message).
 */
static int outdir_open(outdir_t *o, const char *dir)
{
    char parent[4096], base[4096];
    memset(o, 0, sizeof(*o));
    o->lock_fd = -1;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(o->target))
        return out_fail(dir, "bad name");
    memcpy(o->target, dir, n);
    o->target[n] = '\0';
    const char *slash = strrchr(o->target, '/');
    if (slash) {
        snprintf(parent, sizeof(parent), "%.*s",
                 slash == o->target ? 1 : (int)(slash - o->target), o->target);
        snprintf(base, sizeof(base), "%s", slash + 1);
    } else {
        snprintf(parent, sizeof(parent), ".");
        snprintf(base, sizeof(base), "%s", o->target);
    }
    if (!strcmp(base, ".") || !strcmp(base, "..") || !base[0])
        return out_fail(dir, "name a directory of its own (not '.' or '..')");
    int rc = make_dirs(parent);
    if (rc) {
        char why[4200];
        snprintf(why, sizeof(why), "cannot create '%s': %s", parent,
                 strerror(-rc));
        return out_fail(dir, why);
    }
    if (snprintf(o->lock, sizeof(o->lock), "%s/.%s.lock", parent, base) >=
            (int)sizeof(o->lock) ||
        snprintf(o->tmp, sizeof(o->tmp), "%s/.%s.tmp.%ld", parent, base,
                 (long)getpid()) >= (int)sizeof(o->tmp))
        return out_fail(dir, strerror(ENAMETOOLONG));
    /* The lock: flock on .DIR.lock; its holder unlinks it when done, so
     * a lock taken on a file that is no longer at that path is retried. */
    for (;;) {
        o->lock_fd = open(o->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (o->lock_fd < 0) {
            char why[4200];
            snprintf(why, sizeof(why), "cannot create '%s': %s", o->lock,
                     strerror(errno));
            return out_fail(dir, why);
        }
        if (flock(o->lock_fd, LOCK_EX | LOCK_NB)) {
            char why[4200];
            snprintf(why, sizeof(why),
                     "another run is writing it (it holds '%s')", o->lock);
            close(o->lock_fd);
            o->lock_fd = -1;
            return out_fail(dir, why);
        }
        struct stat a, b;
        if (fstat(o->lock_fd, &a) == 0 && stat(o->lock, &b) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            break;
        close(o->lock_fd);
    }
    snprintf(g_lock, sizeof(g_lock), "%s", o->lock);
    remove_stale(parent);
    char other[256];
    rc = replaceable(o->target, other, sizeof(other));
    if (rc == -ENOTDIR)
        return out_fail(dir, "exists and is not a directory");
    if (rc == -ENOTEMPTY) {
        char why[512];
        snprintf(why, sizeof(why),
                 "holds '%s', which is not an output of a run (a run "
                 "replaces the whole directory; choose another -o)",
                 other);
        return out_fail(dir, why);
    }
    if (rc)
        return out_fail(dir, strerror(-rc));
    if (mkdir(o->tmp, 0777)) {
        char why[4200];
        snprintf(why, sizeof(why), "cannot create '%s': %s", o->tmp,
                 strerror(errno));
        return out_fail(dir, why);
    }
    o->made = true;
    snprintf(g_tmp, sizeof(g_tmp), "%s", o->tmp);
    for (unsigned i = 0; i < NOUT; i++) {
        snprintf(g_tmp_files[2 * i], sizeof(g_tmp_files[0]), "%s/%s", o->tmp,
                 out_files[i]);
        snprintf(g_tmp_files[2 * i + 1], sizeof(g_tmp_files[0]),
                 "%s/%s.tmp.%ld", o->tmp, out_files[i], (long)getpid());
    }
    return 0;
}

/* The last step of a run that wrote its outputs: the temporary directory
 * takes DIR's place (an old DIR is swapped out, then removed). 0 or 1
 * (after one message). */
static int outdir_commit(outdir_t *o)
{
    char old[4200];
    snprintf(old, sizeof(old), "%s.old", o->tmp);
    if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->target, RENAME_NOREPLACE)) {
        int err = errno;
        if (err == EEXIST || err == ENOTEMPTY) {
            /* Replace a previous run's directory: atomically if the file
             * system can exchange, else move it away first. */
            if (!renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->target,
                           RENAME_EXCHANGE)) {
                rm_tree(o->tmp);
                o->made = false;
                return 0;
            }
            if (!rename(o->target, old) && !rename(o->tmp, o->target)) {
                rm_tree(old);
                o->made = false;
                return 0;
            }
            err = errno;
        } else if (err == EINVAL || err == ENOSYS) {
            if (!rename(o->tmp, o->target)) {
                o->made = false;
                return 0;
            }
            err = errno;
        }
        fprintf(stderr, "iommu-sim: cannot move '%s' to '%s': %s\n", o->tmp,
                o->target, strerror(err));
        return 1;
    }
    o->made = false;
    return 0;
}

/* Remove what is left of the run's temporary directory, and the lock. */
static void outdir_close(outdir_t *o)
{
    if (o->made)
        rm_tree(o->tmp);
    o->made = false;
    g_tmp[0] = '\0';
    if (o->lock_fd >= 0) {
        unlink(o->lock);
        close(o->lock_fd);
        o->lock_fd = -1;
    }
    g_lock[0] = '\0';
}

/* stdout written without error (a full disk, a closed pipe)? 0, or 1
 * after one message. */
static int check_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "iommu-sim: cannot write to standard output: %s\n",
            strerror(errno ? errno : EIO));
    return 1;
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
        sim_logf(log, SIM_LOG_ERROR, "cannot write %s: %s", af.tmp,
                 strerror(rc < 0 ? -rc : EIO));
        sim_afile_abort(&af);
        return rc;
    }
    return sim_afile_commit(&af, log);
}

/* Keep the errors of the checks; pass everything else on. */
static void capture_sink(void *opaque, sim_log_level_t level, const char *msg)
{
    sim_log_t *log = opaque;
    if (level != SIM_LOG_ERROR)
        sim_logf(log, level, "%s", msg);
}

/* The constraints between keys (platform_check); an error names where the
 * keys it is about were set (file and line, or --set). */
static int check_config(const sim_config_t *cfg, platform_cfg_t *pc,
                        sim_log_t *log)
{
    sim_log_t cap;
    sim_log_init(&cap, SIM_LOG_DEBUG, capture_sink, log);
    if (!platform_check(pc, &cap))
        return 0;
    sim_config_report(cfg, log, sim_log_last_error(&cap));
    return -EINVAL;
}

/* --trace-devices K:LIST: trace K's own device numbering (1 is the first
 * trace on the command line). Errors name the argument (exit 2). */
static int set_trace_devices(trace_reader_t **readers, unsigned ntraces,
                             char **tdevs, int n)
{
    for (int i = 0; i < n; i++) {
        char *colon = strchr(tdevs[i], ':'), *end;
        unsigned long k = colon ? strtoul(tdevs[i], &end, 10) : 0;
        if (!colon || end != colon || k < 1 || k > ntraces) {
            fprintf(stderr,
                    "iommu-sim: --trace-devices '%s': expected K:DEVICES "
                    "with K a trace's position, 1 to %u\n",
                    tdevs[i], ntraces);
            return -EINVAL;
        }
        if (trace_set_dev_map(readers[k - 1], colon + 1))
            return -EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 'S'},
        {"trace-devices", required_argument, NULL, 'T'},
        {"stats-per-pasid", optional_argument, NULL, 'P'},
        {"list-params", no_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL, *outdir = "iommu-sim-out";
    const char *seed = NULL, *per_pasid = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof(char *));
    char **tdevs = calloc((size_t)argc + 1, sizeof(char *));
    int nsets = 0, ntdevs = 0, quiet = 0, list = 0;
    if (!sets || !tdevs) {
        free(sets);
        free(tdevs);
        return 1;
    }

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
        case 'T':
            tdevs[ntdevs++] = optarg;
            break;
        case 'P':
            per_pasid = optarg ? optarg : "64";
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
            free(tdevs);
            return check_stdout();
        case 'V':
            printf("iommu-sim %s\n", IOMMUSIM_VERSION);
            free(sets);
            free(tdevs);
            return check_stdout();
        case ':':
            free(sets);
            free(tdevs);
            return fail_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            free(sets);
            free(tdevs);
            return fail_usage("unknown option '%s'", argv[optind - 1]);
        }
    }

    /* From here on a signal only asks the run to stop (exit 130). */
    catch_signals();
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
    bool committed = false; /* the outputs are in place */
    outdir_t od;
    memset(&od, 0, sizeof(od));
    od.lock_fd = -1;
    if (!cfg || platform_register(cfg, &pc)) {
        status = 1;
        goto out;
    }
    if (list) {
        sim_config_list(cfg, stdout);
        status = check_stdout();
        goto out;
    }
    /* Without a trace the bundled scenario runs on its own machine; a
     * --config and --set apply on top of it. */
    if (optind == argc &&
        sim_config_load_string(cfg, "default.ini (bundled)",
                               (const char *)iommusim_default_ini))
        goto out;
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
    if (per_pasid) {
        char assign[128];
        snprintf(assign, sizeof(assign), "run.stats_pasids=%.64s", per_pasid);
        if (sim_config_set(cfg, assign))
            goto out;
    }
    if (check_config(cfg, &pc, &log))
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
        builtin = fmemopen((void *)iommusim_default_trace,
                           iommusim_default_trace_len, "r");
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
    if (set_trace_devices(readers, ntraces, tdevs, ntdevs))
        goto out;
    status = outdir_open(&od, outdir);
    if (status)
        goto out;
    status = EXIT_USAGE;

    p = platform_create(&pc, &log);
    if (!p) {
        status = 1;
        goto out;
    }
    for (unsigned i = 0; i < nsrcs; i++) /* records may name devices */
        trace_set_dev_lookup(readers[i], platform_device_lookup, p);

    platform_set_interrupt(p, &g_signal);
    if (platform_open_outputs(p, od.tmp)) {
        status = 1;
        goto out;
    }
    status = platform_run(p, srcs, nsrcs);
    platform_summary_t s;
    platform_summarize(p, &s);
    if (g_signal) {
        fprintf(stderr,
                "iommu-sim: interrupted by %s at simulated time %.3f us "
                "after %" PRIu64 " trace records (DMAs: %" PRIu64
                " done of %" PRIu64 "; faults: %" PRIu64
                " done); no outputs written\n",
                g_signal == SIGINT ? "SIGINT" : "SIGTERM",
                (double)s.sim_time / (double)SIM_US, s.records, s.dmas_done,
                s.dmas, s.faults_resolved + s.faults_auto + s.faults_failed);
        status = EXIT_INTERRUPTED;
        goto out;
    }
    /* A run that ended with work outstanding still writes its outputs
     * (run.complete = 0 says so), then exits 1. */
    if (status != PLATFORM_OK && (status != PLATFORM_SIM_ERROR || s.complete))
        goto out;
    if (write_config(cfg, od.tmp, &log) || platform_write_outputs(p, od.tmp)) {
        status = 1;
        goto out;
    }
    if (g_signal) /* while writing: the outputs are not put in place */
        goto out;
    if (outdir_commit(&od)) {
        status = 1;
        goto out;
    }
    committed = true;
    if (!quiet) {
        platform_summarize(p, &s);
        platform_print_summary(&s, stdout);
        printf("outputs: %s/{config.ini,stats.txt,stats.json,latency.txt%s}\n",
               outdir, pc.run.epoch ? ",timeseries.csv" : "");
    }
    status = s.complete ? 0 : 1;
    if (!quiet && check_stdout())
        status = 1;
out:
    outdir_close(&od);
    if (g_signal && !committed && status != EXIT_INTERRUPTED) {
        fprintf(stderr, "iommu-sim: interrupted by %s; no outputs written\n",
                g_signal == SIGINT ? "SIGINT" : "SIGTERM");
        status = EXIT_INTERRUPTED;
    }
    platform_destroy(p);
    for (unsigned i = 0; readers && i < (nsrcs ? nsrcs : 1); i++)
        trace_close(readers[i]);
    if (builtin)
        fclose(builtin);
    free(readers);
    free(srcs);
    sim_config_destroy(cfg);
    free(sets);
    free(tdevs);
    return status;
}
