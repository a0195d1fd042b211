/*
 * tests/tools/test_seed_experiment.c - the seed-experiment binary
 * (tools/seed-experiment, docs/experiments.md) in its smallest mode:
 * `--dmas 300 --interval 1ms`, a few hundred DMAs so far apart that faults
 * never meet (no queueing), about a quarter of a second for the grid.
 *
 * Checked: every cell of the grid (vmm.routing = viommu, vpri, iommufd x
 * guest.pt_mode = shared, separate) has its directory, its five outputs
 * and its configuration; the table (stdout and summary.txt) agrees with
 * each cell's stats.txt; the per-stage contributions add up to the mean;
 * and the claims of docs/experiments.md ("Light load"), with the
 * differences derived from the dumped configuration: routing changes only
 * the `vmm` stage (vpri saves vmm.inject - vmm.inject_vpri and
 * vmm.lookup, iommufd saves vmm.lookup), separate page tables add
 * guest.iopt_update + guest.inv to the `guest` stage. Then every error
 * path: exit 2 with one message for usage and configuration errors, exit
 * 1 when outputs cannot be written.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test_util.h"

#define CLI_FX_NAME "test_seed_experiment"
#include "tests/tools/cli_fixture.h"

static char g_se[PATH_MAX];

static void se_setup(void)
{
    setup(); /* a fresh working directory */
    snprintf(g_se, sizeof(g_se), "%s/tools/seed-experiment",
             getenv("IOMMUSIM_BINARY_DIR"));
    ck_assert_msg(access(g_se, X_OK) == 0, "no binary %s", g_se);
}

/* Run seed-experiment with the NULL-terminated args; stdout -> cli.out,
 * stderr -> cli.err. Its exit status. */
static int se(const char *const *args)
{
    const char *argv[160];
    unsigned n = 0;
    argv[n++] = g_se;
    for (unsigned i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, N_OF(argv) - 1);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open("cli.out", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = open("cli.err", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 ||
            dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        execv(g_se, (char *const *)argv);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "seed-experiment did not exit (signal %d)",
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

/* stderr: exactly one line (ignoring a coverage build's "profiling:"
 * lines), containing needle. */
static void err_has(const char *needle)
{
    char *e = iommusim_slurp("cli.err", NULL);
    size_t lines = 0;
    for (const char *p = e; *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, "profiling:", 10) != 0 &&
            strncmp(p, "libgcov profiling error:", 24) != 0)
            lines++;
        if (!nl)
            break;
        p = nl + 1;
    }
    ck_assert_msg(lines == 1, "expected one message, stderr is:\n%s", e);
    ck_assert_msg(strstr(e, needle), "stderr lacks '%s':\n%s", needle, e);
    free(e);
}

static const char *const cells[6] = {
    "viommu-shared",   "vpri-shared",   "iommufd-shared",
    "viommu-separate", "vpri-separate", "iommufd-separate",
};
static const char *const stages[10] = {
    "ats_fault", "page_req", "host_irq", "host_fault", "vmm",
    "guest",     "vmm_exit", "response", "retry",      "data",
};

/* A number after "\n<key> " in text (stats.txt: "key value # ..."). */
static double stat_of(const char *text, const char *key)
{
    char pat[160];
    snprintf(pat, sizeof(pat), "\n%s ", key);
    const char *p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no '%s'", key);
    return strtod(p + strlen(pat), NULL);
}

/* "\n" + the whole file (so that the first line matches "\nkey "). */
static char *slurp_nl(const char *path)
{
    char *s = iommusim_slurp(path, NULL);
    char *t = malloc(strlen(s) + 2);
    ck_assert_ptr_nonnull(t);
    t[0] = '\n';
    strcpy(t + 1, s);
    free(s);
    return t;
}

/* A delay of config.ini's [section] key written "fixed(N)", in ps. */
static double cfg_fixed(const char *ini, const char *section, const char *key)
{
    char sec[64], pat[64];
    snprintf(sec, sizeof(sec), "\n[%s]\n", section);
    const char *s = strstr(ini, sec);
    ck_assert_msg(s != NULL, "no [%s]", section);
    snprintf(pat, sizeof(pat), "\n%s = fixed(", key);
    const char *p = strstr(s, pat);
    ck_assert_msg(p != NULL, "no %s.%s = fixed(...)", section, key);
    return strtod(p + strlen(pat), NULL) * 1000; /* ns -> ps */
}

/* The table row of `name` in text: the five numbers after it. */
static void row(const char *text, const char *name, double v[5])
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\n%s ", name);
    const char *p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no row %s", name);
    ck_assert_int_eq(sscanf(p + strlen(pat), "%lf %lf %lf %lf %lf", &v[0],
                            &v[1], &v[2], &v[3], &v[4]),
                     5);
}

START_TEST(test_grid)
{
    const char *args[] = {"-o",         "out", "--dmas", "300",
                          "--interval", "1ms", NULL};
    ck_assert_int_eq(se(args), 0);
    char *out = slurp_nl("cli.out");
    char *sum = slurp_nl("out/summary.txt");
    /* stdout is the table of summary.txt, then where the outputs are. */
    ck_assert(strncmp(out, sum, strlen(sum)) == 0);
    ck_assert_str_eq(out + strlen(sum),
                     "\noutputs: out/<routing>-<pt_mode>/ and "
                     "out/summary.txt\n");
    ck_assert(strstr(sum, "\nconfiguration ") != NULL);

    char *stats[6], *ini[6];
    for (unsigned c = 0; c < 6; c++) {
        char path[256];
        const char *files[] = {"config.ini", "stats.txt", "stats.json",
                               "latency.txt", "timeseries.csv"};
        for (unsigned f = 0; f < N_OF(files); f++) {
            snprintf(path, sizeof(path), "out/%s/%s", cells[c], files[f]);
            struct stat st;
            ck_assert_msg(stat(path, &st) == 0 && st.st_size > 0,
                          "missing or empty %s", path);
        }
        snprintf(path, sizeof(path), "out/%s/stats.txt", cells[c]);
        stats[c] = slurp_nl(path);
        snprintf(path, sizeof(path), "out/%s/config.ini", cells[c]);
        ini[c] = slurp_nl(path);
        /* The cell's configuration: its routing and page-table model, a
         * VM owning both devices (seed-experiment --help). */
        char want[64];
        snprintf(want, sizeof(want), "\nrouting = %.*s\n",
                 (int)(strchr(cells[c], '-') - cells[c]), cells[c]);
        ck_assert_msg(strstr(ini[c], want), "%s: no '%s'", cells[c], want);
        snprintf(want, sizeof(want), "\npt_mode = %s\n",
                 strchr(cells[c], '-') + 1);
        ck_assert_msg(strstr(ini[c], want), "%s: no '%s'", cells[c], want);
        ck_assert(strstr(ini[c], "\n[vm]\ndevices = 2\n") != NULL ||
                  strstr(ini[c], "\ndevices = 2\n") != NULL);

        /* The table agrees with stats.txt (us, 2 decimals; faults/s to
         * the unit; resolved = fault.closed). */
        double v[5];
        row(sum, cells[c], v);
        ck_assert_double_eq_tol(v[0], stat_of(stats[c], "fault.e2e.p50") / 1e6,
                                0.0051);
        ck_assert_double_eq_tol(v[1], stat_of(stats[c], "fault.e2e.p99") / 1e6,
                                0.0051);
        ck_assert_double_eq_tol(v[2], stat_of(stats[c], "fault.e2e.mean") / 1e6,
                                0.0051);
        ck_assert_double_eq_tol(v[3], stat_of(stats[c], "run.faults_per_sec"),
                                0.51);
        ck_assert_double_eq(v[4], stat_of(stats[c], "fault.closed"));
        ck_assert_double_gt(v[4], 0);
        /* Every page request of the cell answered, no DMA left. */
        ck_assert_double_eq(stat_of(stats[c], "run.complete"), 1);
        ck_assert_double_eq(stat_of(stats[c], "pri.in_flight"), 0);

        /* The stage contributions add up to the mean (span.h: each stage's
         * time summed over completed spans / completed spans). */
        double total = 0;
        for (unsigned k = 0; k < N_OF(stages); k++) {
            char key[96];
            snprintf(key, sizeof(key), "fault.stage.%s.contrib", stages[k]);
            total += stat_of(stats[c], key);
        }
        ck_assert_double_eq_tol(total, stat_of(stats[c], "fault.e2e.mean"), 1);
    }

    /* The same workload in every cell: the same DMAs and faults. */
    for (unsigned c = 1; c < 6; c++) {
        ck_assert_double_eq(stat_of(stats[c], "trace.dmas"), 300);
        ck_assert_double_eq(stat_of(stats[c], "fault.opened"),
                            stat_of(stats[0], "fault.opened"));
    }

    /* The per-stage table: each cell's column is its contribution, and the
     * bracket its difference from viommu-shared. */
    for (unsigned k = 0; k < N_OF(stages); k++) {
        char pat[64], key[96];
        snprintf(pat, sizeof(pat), "\n%-12s", stages[k]);
        const char *p = strstr(sum, pat);
        ck_assert_msg(p != NULL, "no stage row %s", stages[k]);
        p += strlen(pat);
        snprintf(key, sizeof(key), "fault.stage.%s.contrib", stages[k]);
        double base = stat_of(stats[0], key);
        double v, d;
        int used;
        ck_assert_int_eq(sscanf(p, "%lf%n", &v, &used), 1);
        ck_assert_double_eq_tol(v, base / 1e6, 0.0051);
        p += used;
        for (unsigned c = 1; c < 6; c++) {
            ck_assert_int_eq(sscanf(p, " %lf (%lf)%n", &v, &d, &used), 2);
            p += used;
            double mine = stat_of(stats[c], key);
            ck_assert_double_eq_tol(v, mine / 1e6, 0.0051);
            ck_assert_double_eq_tol(d, (mine - base) / 1e6, 0.0051);
        }
    }

    /* docs/experiments.md, light load, from the configuration: */
    const char *vmm = "fault.stage.vmm.contrib";
    const char *guest = "fault.stage.guest.contrib";
    double lookup = cfg_fixed(ini[0], "vmm", "lookup");
    double inject = cfg_fixed(ini[0], "vmm", "inject");
    double inject_vpri = cfg_fixed(ini[0], "vmm", "inject_vpri");
    double sep = cfg_fixed(ini[0], "guest", "iopt_update") +
                 cfg_fixed(ini[0], "guest", "inv");
    ck_assert_double_gt(sep, 0);
    for (unsigned pt = 0; pt < 2; pt++) {
        const char *viommu = stats[3 * pt], *vpri = stats[3 * pt + 1],
                   *fd = stats[3 * pt + 2];
        /* vpri: no vIOMMU queue emulation and no IOASID lookup. */
        ck_assert_double_eq_tol(stat_of(vpri, vmm) - stat_of(viommu, vmm),
                                -(inject - inject_vpri) - lookup, 1);
        /* iommufd: the record names the device, no lookup. */
        ck_assert_double_eq_tol(stat_of(fd, vmm) - stat_of(viommu, vmm),
                                -lookup, 1);
        /* Routing changes nothing else. */
        for (unsigned k = 0; k < N_OF(stages); k++) {
            char key[96];
            if (!strcmp(stages[k], "vmm"))
                continue;
            snprintf(key, sizeof(key), "fault.stage.%s.contrib", stages[k]);
            for (unsigned r = 1; r < 3; r++)
                ck_assert_double_eq_tol(stat_of(stats[3 * pt + r], key),
                                        stat_of(viommu, key), 1);
        }
    }
    for (unsigned r = 0; r < 3; r++) {
        /* separate: an I/O page-table update and a vIOMMU invalidation per
         * fault, in the guest stage and so in the mean. */
        ck_assert_double_eq_tol(
            stat_of(stats[3 + r], guest) - stat_of(stats[r], guest), sep, 1);
        ck_assert_double_eq_tol(stat_of(stats[3 + r], "fault.e2e.mean") -
                                    stat_of(stats[r], "fault.e2e.mean"),
                                sep, 1);
    }
    for (unsigned c = 0; c < 6; c++) {
        free(stats[c]);
        free(ini[c]);
    }
    free(out);
    free(sum);
}
END_TEST

START_TEST(test_seed_and_set)
{
    /* The same seed gives the same table; another seed another workload;
     * --set reaches every cell (after the grid's machine, before the
     * cell's routing and page-table model), and -s is --set. */
    const char *a[] = {"-o", "a", "--dmas", "200", "--seed", "5", NULL};
    ck_assert_int_eq(se(a), 0);
    const char *b[] = {"--output", "b", "--dmas=200", "--seed=5", NULL};
    ck_assert_int_eq(se(b), 0);
    char *sa = iommusim_slurp("a/summary.txt", NULL);
    char *sb = iommusim_slurp("b/summary.txt", NULL);
    ck_assert_str_eq(sa, sb);
    const char *c[] = {"-o",     "c",
                       "--dmas", "200",
                       "--seed", "6",
                       "--set",  "vmm.lookup=fixed(700)",
                       "-s",     "vmm.routing=vpri",
                       NULL};
    ck_assert_int_eq(se(c), 0);
    char *sc = iommusim_slurp("c/summary.txt", NULL);
    ck_assert_str_ne(sa, sc);
    for (unsigned i = 0; i < 6; i++) {
        char path[64];
        snprintf(path, sizeof(path), "c/%s/config.ini", cells[i]);
        char *ini = slurp_nl(path);
        ck_assert_double_eq(cfg_fixed(ini, "vmm", "lookup"), 700000);
        free(ini);
    }
    /* The cell's routing wins over a --set of it. */
    char *ini = slurp_nl("c/viommu-shared/config.ini");
    ck_assert(strstr(ini, "\nrouting = viommu\n") != NULL);
    free(ini);
    free(sa);
    free(sb);
    free(sc);
}
END_TEST

START_TEST(test_help)
{
    const char *forms[] = {"--help", "-h"};
    for (unsigned i = 0; i < N_OF(forms); i++) {
        ck_assert_int_eq(se((const char *[]){forms[i], NULL}), 0);
        char *o = iommusim_slurp("cli.out", NULL);
        ck_assert(strncmp(o, "usage: seed-experiment", 22) == 0);
        const char *documented[] = {"--output", "--dmas", "--seed",
                                    "--interval", "--set"};
        for (unsigned k = 0; k < N_OF(documented); k++)
            ck_assert_msg(strstr(o, documented[k]), "--help lacks %s",
                          documented[k]);
        free(o);
        size_t n;
        free(iommusim_slurp("cli.err", &n));
        ck_assert_uint_eq(n, 0);
    }
}
END_TEST

/* args exits with status and one message containing needle. */
static void fails(const char *const *args, int status, const char *needle)
{
    ck_assert_int_eq(se(args), status);
    err_has(needle);
}

/* --routings picks the grid's routings, hwviommu included: its faults go
 * through no host thread, VMM or exit (docs/model.md, "Hardware
 * vIOMMU"), so those stages take no time, the others still add up to
 * the mean; a bad list is a usage error naming it. */
START_TEST(test_routings)
{
    const char *args[] = {"--dmas", "300",        "--interval",
                          "1ms",    "--routings", "vpri,hwviommu",
                          "-o",     "out",        NULL};
    ck_assert_int_eq(se(args), 0);
    char *sum = slurp_nl("out/summary.txt");
    ck_assert_ptr_nonnull(strstr(sum, "\nvpri-shared "));
    ck_assert_ptr_nonnull(strstr(sum, "\nhwviommu-separate "));
    ck_assert_ptr_null(strstr(sum, "\nviommu-shared "));
    char *st = slurp_nl("out/hwviommu-shared/stats.txt");
    const char *none[] = {"host_irq", "host_fault", "vmm", "vmm_exit"};
    for (unsigned k = 0; k < N_OF(none); k++) {
        char key[96];
        snprintf(key, sizeof(key), "fault.stage.%s.contrib", none[k]);
        ck_assert_double_eq(stat_of(st, key), 0);
    }
    double total = 0;
    for (unsigned k = 0; k < N_OF(stages); k++) {
        char key[96];
        snprintf(key, sizeof(key), "fault.stage.%s.contrib", stages[k]);
        total += stat_of(st, key);
    }
    ck_assert_double_gt(stat_of(st, "fault.closed"), 0);
    ck_assert_double_eq_tol(total, stat_of(st, "fault.e2e.mean"), 1);
    free(st);
    free(sum);
    fails((const char *[]){"--routings", "vpri,nope", NULL}, 2,
          "seed-experiment: --routings 'vpri,nope': unknown routing 'nope'; "
          "expected viommu, vpri, iommufd, hwviommu (each once) or all");
    fails((const char *[]){"--routings", "vpri,vpri", NULL}, 2,
          "seed-experiment: --routings 'vpri,vpri': repeated 'vpri'");
    fails((const char *[]){"--routings", ",", NULL}, 2,
          "seed-experiment: --routings ',': no routing");
}
END_TEST

START_TEST(test_usage_errors)
{
    const char *U = "expected an unsigned integer";
    char msg[128];
    const char *bad_u[][2] = {
        {"--dmas", "abc"}, {"--dmas", "-1"},
        {"--dmas", ""},    {"--seed", "99999999999999999999"},
        {"--seed", "5x"},
    };
    for (unsigned i = 0; i < N_OF(bad_u); i++) {
        snprintf(msg, sizeof(msg), "seed-experiment: %s '%s': %s", bad_u[i][0],
                 bad_u[i][1], U);
        fails((const char *[]){bad_u[i][0], bad_u[i][1], NULL}, 2, msg);
    }
    fails((const char *[]){"--interval", "soon", NULL}, 2,
          "seed-experiment: --interval 'soon': 'soon' is not a time");
    fails((const char *[]){"--bogus", NULL}, 2,
          "seed-experiment: unknown option '--bogus' (see --help)");
    fails((const char *[]){"--dmas", NULL}, 2,
          "seed-experiment: option '--dmas' needs a value");
    fails((const char *[]){"-o", "x", "extra", NULL}, 2,
          "seed-experiment: unexpected argument 'extra'");
    /* At most 64 --set. */
    const char *many[2 * 65 + 1];
    for (unsigned i = 0; i < 65; i++) {
        many[2 * i] = "-s";
        many[2 * i + 1] = "vmm.lookup=fixed(1)";
    }
    many[130] = NULL;
    fails(many, 2, "seed-experiment: at most 64 --set");
    /* Nothing was written for a usage error. */
    ck_assert_int_eq(access("seed-experiment-out", F_OK), -1);
}
END_TEST

START_TEST(test_config_errors)
{
    /* A bad --set, or one that breaks a rule between keys, stops before
     * any run: exit 2, the configuration's message. */
    fails((const char *[]){"-o", "o", "--set", "nope=1", NULL}, 2,
          "error: --set nope=1: expected section.key=value");
    fails((const char *[]){"-o", "o", "--set", "vm.devices=3", NULL}, 2,
          "error: vm.devices = 3 is more than device.count = 2");
    ck_assert_int_eq(access("o", F_OK), -1);
}
END_TEST

START_TEST(test_output_errors)
{
    const char *run[] = {"--dmas", "20", "-o", NULL, NULL};
    /* -o below a regular file: the cell's directory cannot be made (its
     * parent, or itself), exit 2. */
    write_str("f", "x");
    run[3] = "f/sub";
    fails(run, 2, "error: cannot create f/sub/viommu-shared");
    run[3] = "f";
    fails(run, 2, "error: cannot create f/viommu-shared");
    /* A cell's directory is a file: its outputs cannot be opened, exit 1. */
    ck_assert_int_eq(mkdir("d", 0777), 0);
    write_str("d/viommu-shared", "x");
    run[3] = "d";
    ck_assert_int_eq(se(run), 1);
    /* config.ini cannot be written (a directory of that name): exit 1. */
    ck_assert_int_eq(mkdir("e", 0777), 0);
    ck_assert_int_eq(mkdir("e/viommu-shared", 0777), 0);
    ck_assert_int_eq(mkdir("e/viommu-shared/config.ini", 0777), 0);
    run[3] = "e";
    ck_assert_int_eq(se(run), 1);
    /* stats.txt cannot replace a non-empty directory of that name. */
    ck_assert_int_eq(mkdir("g", 0777), 0);
    ck_assert_int_eq(mkdir("g/viommu-shared", 0777), 0);
    ck_assert_int_eq(mkdir("g/viommu-shared/stats.txt", 0777), 0);
    write_str("g/viommu-shared/stats.txt/x", "x");
    run[3] = "g";
    ck_assert_int_eq(se(run), 1);
    /* summary.txt cannot be written: exit 1 after every cell ran. */
    ck_assert_int_eq(mkdir("h", 0777), 0);
    ck_assert_int_eq(mkdir("h/summary.txt", 0777), 0);
    run[3] = "h";
    fails(run, 1, "seed-experiment: cannot write h/summary.txt");
    ck_assert_int_eq(access("h/iommufd-separate/stats.txt", F_OK), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("seed_experiment");
    TCase *tc = tcase_create("cli");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, se_setup, teardown);
    tcase_add_test(tc, test_grid);
    tcase_add_test(tc, test_seed_and_set);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_routings);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_output_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
