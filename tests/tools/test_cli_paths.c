/*
 * tests/tools/test_cli_paths.c - the paths of the iommu-sim command line
 * that test_cli and test_outputs leave out (issue 11):
 *  - an interrupted run stops promptly in simulated terms (the events
 *    still scheduled are not drained), says how far it got and exits 130
 *    with nothing under -o; a second signal, and a signal that comes
 *    before the run;
 *  - the temporaries a killed run (kill -9) leaves beside its target are
 *    removed by the next run into that parent once their owner is gone,
 *    never while it lives;
 *  - every option without its value and every bad -o;
 *  - --help, --version and --list-params on a full disk, the outputs line
 *    without a time series, a previous run's directory replaced.
 *
 * The binary is $IOMMUSIM_BINARY_DIR/tools/iommu-sim, run (fork + exec)
 * in a fresh temporary working directory per test; stdout and stderr are
 * captured to "cli.out" and "cli.err".
 */
#include <check.h>

#include "tests/check_run.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR "iommu-sim-trace 1\ntimeunit ns\n"

#define CLI_FX_NAME "test_cli_paths"
#include "tests/tools/cli_fixture.h"
#include "tests/tools/cli_run.h"

/* stderr: the usage error's two lines (the message, then "(see
 * iommu-sim --help)"), the first containing every needle. */
static void err_usage(const char *const *needles)
{
    char *e = iommusim_slurp("cli.err", NULL);
    char *nl = strchr(e, '\n');
    ck_assert_msg(nl && !strcmp(nl + 1, "(see iommu-sim --help)\n"),
                  "stderr is:\n%s", e);
    *nl = '\0';
    for (unsigned i = 0; needles[i]; i++)
        ck_assert_msg(strstr(e, needles[i]) != NULL,
                      "'%s' does not contain '%s'", e, needles[i]);
    free(e);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ------------------------------------------------- a saturated run */

/*
 * N reads of 64 KiB, one every nanosecond, by one device with 8 tags and
 * a read-ahead bound larger than the trace (run.dma_queue): the whole
 * trace is read within its first N ns of simulated time, while the link
 * needs far longer to move N x 64 KiB (a Gen4 x16 link, the default,
 * moves about 31.5 GB/s: 2 us per DMA at best), so the run spends almost
 * all of its time draining DMAs already scheduled.
 */
#define SAT_N 20000u
static const char *const sat_args[] = {"-q",
                                       "-o",
                                       "out",
                                       "--set",
                                       "device.tags=8",
                                       "--set",
                                       "run.dma_queue=1000000000",
                                       "-",
                                       NULL};

/* Start the saturated run on a pipe and write the whole trace; returns
 * once the child has read everything but what its own buffer holds (the
 * pipe is empty and closed). */
static pid_t start_saturated(void)
{
    int pfd[2];
    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    signal(SIGPIPE, SIG_IGN);
    how_t h = {.in_fd = pfd[0]};
    pid_t pid = start(sat_args, &h);
    close(pfd[0]);
    FILE *w = fdopen(pfd[1], "w");
    ck_assert_ptr_nonnull(w);
    fprintf(w, HDR "0 map 0 1 0x7f0000000000 64M rw- present\n");
    for (uint64_t i = 0; i < SAT_N; i++)
        fprintf(w, "%" PRIu64 " read 0 1 0x%" PRIx64 " 64K\n", i + 1,
                (uint64_t)(0x7f0000000000ull + ((i * 65536) & 0x3ffffff)));
    ck_assert_int_eq(fflush(w), 0);
    for (;;) {
        int left = 0;
        ck_assert_int_eq(ioctl(pfd[1], FIONREAD, &left), 0);
        if (left == 0)
            break;
        usleep(1000);
    }
    fclose(w);
    /* Let the child parse what its buffer holds (at most a few hundred
     * records, a few hundred ns of simulated time): the signal below then
     * comes while it drains. It stops promptly whenever it comes. */
    usleep(100000);
    return pid;
}

/* The interruption message's numbers. */
typedef struct stopped {
    double us;
    uint64_t records, done, dmas, faults;
} stopped_t;

static stopped_t parse_interrupted(const char *signame)
{
    char *e = iommusim_slurp("cli.err", NULL);
    char fmt[256];
    snprintf(fmt, sizeof(fmt),
             "iommu-sim: interrupted by %s at simulated time %%lf us after "
             "%%" SCNu64 " trace records (DMAs: %%" SCNu64 " done of %%" SCNu64
             "; faults: %%" SCNu64 " done); no outputs written",
             signame);
    stopped_t s;
    ck_assert_msg(
        sscanf(e, fmt, &s.us, &s.records, &s.done, &s.dmas, &s.faults) == 5,
        "unexpected message: %s", e);
    free(e);
    return s;
}

/*
 * SIGINT while the saturated run drains (docs: README "exit status"):
 * exit 130, one message saying how far it got, nothing under -o and no
 * temporary beside it; and it stopped promptly in simulated terms: not
 * every DMA was done (before the fix the engine drained every scheduled
 * DMA, so the message said SAT_N done of SAT_N). The message is
 * consistent: the map plus the DMA records replayed, no more DMAs done
 * than replayed, and simulated time at least the last record's (1 ns per
 * record). No fault: the map is present.
 */
START_TEST(test_interrupt_stops_promptly)
{
    pid_t pid = start_saturated();
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    ck_assert_int_eq(finish(pid), 130);
    const char *need[] = {"interrupted by SIGINT", NULL};
    err_one_line(need);
    stopped_t s = parse_interrupted("SIGINT");
    ck_assert_uint_le(s.dmas, SAT_N);
    ck_assert_uint_eq(s.records, s.dmas + 1);
    ck_assert_uint_lt(s.done, s.dmas);
    ck_assert_uint_lt(s.done, SAT_N);
    ck_assert_uint_eq(s.faults, 0);
    ck_assert(s.us * 1000.0 >= (double)s.dmas);
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
}
END_TEST

/* A second signal leaves at once (README: "a second signal exits at
 * once"): still 130 and nothing left, whichever signal ends it. */
START_TEST(test_second_signal)
{
    pid_t pid = start_saturated();
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_int_eq(finish(pid), 130);
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
}
END_TEST

/*
 * A signal before the run, while the trace is being opened (a FIFO: the
 * open returns once a writer comes), and an input error after it: the
 * signal wins, exit 130 with "interrupted ... no outputs written".
 */
START_TEST(test_signal_before_run)
{
    ck_assert_int_eq(mkfifo("t.fifo", 0666), 0);
    const char *args[] = {"-q", "-o", "out", "t.fifo", NULL};
    how_t h = {.in_fd = -1};
    pid_t pid = start(args, &h);
    /* Returns once the child has the FIFO open: its handlers are set. */
    int fd = open("t.fifo", O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    usleep(50000);
    close(fd); /* an empty trace: an input error */
    ck_assert_int_eq(finish(pid), 130);
    char *e = iommusim_slurp("cli.err", NULL);
    ck_assert_msg(strstr(e, "interrupted by SIGINT; no outputs written"),
                  "stderr: %s", e);
    free(e);
    const char *keep[] = {"t.fifo", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* ------------------------------------------- stale temporaries (kill -9) */

/* A PID that no longer exists: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert(kill(pid, 0) == -1 && errno == ESRCH);
    return pid;
}

/* Make directory `dir` holding the file `file` (NULL: empty). */
static void make_dir_with(const char *dir, const char *file)
{
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    if (file) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        write_str(path, "x\n");
    }
}

/*
 * kill -9 during a run leaves its temporary directory ".out.tmp.PID" (and
 * its lock); the next run into the same target removes the temporary, its
 * owner being gone, and leaves nothing but "out".
 */
START_TEST(test_killed_run_temporary_removed)
{
    pid_t pid = start_saturated();
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), ".out.tmp.%ld", (long)pid);
    ck_assert_msg(exists(tmp), "kill -9 left no %s", tmp);
    ck_assert(!exists("out"));

    const char *args[] = {"-q", "-o", "out", NULL};
    ck_assert_int_eq(cli(args), 0);
    ck_assert_msg(!exists(tmp), "%s is still there", tmp);
    const char *keep[] = {"out", NULL};
    assert_nothing_left(keep);
}
END_TEST

/*
 * A run removes, in its target's parent, the temporaries of other targets
 * too (and a ".tmp.PID.old", the earlier outputs a run moves away) when
 * their owner is dead; never one whose owner lives (this test process; PID
 * 1), one that holds something a run does not write, a plain file, or a
 * name that only looks like one.
 */
START_TEST(test_stale_temporaries_in_parent)
{
    char dead_a[64], dead_b[64], dead_old[64], dead_foreign[64], dead_file[64];
    char alive[64], init[64], notpid[64], zero[64];
    pid_t d = dead_pid();
    snprintf(dead_a, sizeof(dead_a), ".out.tmp.%ld", (long)d);
    snprintf(dead_b, sizeof(dead_b), ".other.tmp.%ld", (long)d);
    snprintf(dead_old, sizeof(dead_old), ".x.tmp.y.tmp.%ld.old", (long)d);
    snprintf(dead_foreign, sizeof(dead_foreign), ".mine.tmp.%ld", (long)d);
    snprintf(dead_file, sizeof(dead_file), ".file.tmp.%ld", (long)d);
    snprintf(alive, sizeof(alive), ".out.tmp.%ld", (long)getpid());
    snprintf(init, sizeof(init), ".other.tmp.1");
    snprintf(notpid, sizeof(notpid), ".n.tmp.%ldx", (long)d);
    snprintf(zero, sizeof(zero), ".z.tmp.0%ld", (long)d);
    make_dir_with(dead_a, "stats.txt");
    make_dir_with(dead_b, "latency.txt.tmp.77");
    make_dir_with(dead_old, "config.ini");
    make_dir_with(dead_foreign, "notes.txt");
    write_str(dead_file, "x\n");
    make_dir_with(alive, "stats.txt");
    make_dir_with(init, NULL);
    make_dir_with(notpid, NULL);
    make_dir_with(zero, NULL);

    const char *args[] = {"-q", "-o", "out", NULL};
    ck_assert_int_eq(cli(args), 0);
    ck_assert_msg(!exists(dead_a), "%s kept", dead_a);
    ck_assert_msg(!exists(dead_b), "%s kept", dead_b);
    ck_assert_msg(!exists(dead_old), "%s kept", dead_old);
    const char *keep[] = {"out", dead_foreign, dead_file, alive,
                          init,  notpid,       zero,      NULL};
    assert_nothing_left(keep);
    ck_assert(exists(alive) && exists(init) && exists(dead_foreign));
}
END_TEST

/* A leftover named with the run's own PID is a dead run's (the PID came
 * round again; this run has not made its own yet): removed, and the run
 * goes ahead. If it is a plain file it is not removed, and the run cannot
 * make its temporary: exit 2 naming it. */
START_TEST(test_own_pid_leftover)
{
    const char *args[] = {"-q", "-o", "out", NULL};
    how_t h = {.in_fd = -1, .own_tmp = OWN_DIR};
    ck_assert_int_eq(cli_how(args, &h), 0);
    const char *keep[] = {"out", NULL};
    assert_nothing_left(keep);

    how_t f = {.in_fd = -1, .own_tmp = OWN_FILE};
    pid_t pid = start(args, &f);
    ck_assert_int_eq(finish(pid), 2);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), ".out.tmp.%ld", (long)pid);
    const char *need[] = {"'out'", tmp, strerror(EEXIST), NULL};
    err_one_line(need);
}
END_TEST

/* ------------------------------------------------------------ options */

/* Each option that takes a value, given none: exit 2, one message naming
 * the option (getopt_long, the ':' mode). */
START_TEST(test_option_without_value)
{
    const char *opts[] = {"-c", "--config", "-s",    "--set",
                          "-o", "--output", "--seed"};
    for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        const char *args[] = {opts[i], NULL};
        ck_assert_int_eq(cli(args), 2);
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "option '%s' needs a value", opts[i]);
        const char *need[] = {quoted, NULL};
        err_usage(need);
    }
    /* An unknown long option with a value, an unknown short one. */
    const char *a1[] = {"--nope=x", NULL};
    ck_assert_int_eq(cli(a1), 2);
    const char *n1[] = {"unknown option '--nope=x'", NULL};
    err_usage(n1);
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
}
END_TEST

/* --help, --version and --list-params whose output cannot be written
 * (stdout on /dev/full): exit 1, one message. With -o given, --list-params
 * still writes no output directory. */
START_TEST(test_info_on_full_stdout)
{
    const char *lists[][4] = {
        {"--help", NULL}, {"-V", NULL}, {"--list-params", "-o", "out", NULL}};
    for (unsigned i = 0; i < 3; i++) {
        how_t h = {.out = "/dev/full", .in_fd = -1};
        ck_assert_int_eq(cli_how(lists[i], &h), 1);
        const char *need[] = {"cannot write to standard output",
                              strerror(ENOSPC), NULL};
        err_one_line(need);
    }
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
}
END_TEST

/* ------------------------------------------------------------ -o */

/* Run with -o dir; expect exit 2 and one message naming dir and every
 * needle. */
static void bad_outdir(const char *dir, const char *const *needles)
{
    const char *args[] = {"-q", "-o", dir, NULL};
    ck_assert_int_eq(cli(args), 2);
    char quoted[4200];
    snprintf(quoted, sizeof(quoted), "output directory '%s'", dir);
    const char *first[] = {quoted, NULL};
    err_one_line(first);
    err_one_line(needles);
}

START_TEST(test_bad_outdir_names)
{
    const char *empty[] = {"bad name", NULL};
    bad_outdir("", empty);
    const char *own[] = {"name a directory of its own", NULL};
    bad_outdir(".", own);
    bad_outdir("..", own);
    bad_outdir("sub/..", own);
    bad_outdir("/", own);
    /* A name whose lock path would not fit PATH_MAX (4096). */
    static char longname[4091];
    memset(longname, 'a', 4090);
    const char *toolong[] = {strerror(ENAMETOOLONG), NULL};
    bad_outdir(longname, toolong);
    /* A target name longer than PATH_MAX itself. */
    static char longer[5001];
    memset(longer, 'b', 5000);
    bad_outdir(longer, empty);
    /* A name longer than a file name may be (NAME_MAX, 255): for the
     * lock, the parent, a directory on the parent's way. */
    static char comp[301], lockname[400], parent[400], way[400];
    memset(comp, 'c', 300);
    snprintf(lockname, sizeof(lockname), "%s", comp);
    const char *lock[] = {"cannot create './.", strerror(ENAMETOOLONG), NULL};
    bad_outdir(lockname, lock);
    snprintf(parent, sizeof(parent), "%s/out", comp);
    snprintf(way, sizeof(way), "%s/x/out", comp);
    const char *mk[] = {"cannot create 'ccc", strerror(ENAMETOOLONG), NULL};
    bad_outdir(parent, mk);
    bad_outdir(way, mk);
    const char *keep[] = {"sub", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* The parent cannot be made (a file where a directory must be, at its
 * end or on its way), the target is a file, a symbolic link, or its lock
 * is a directory: exit 2, one message naming what is wrong. */
START_TEST(test_bad_outdir_places)
{
    write_str("file", "x\n");
    const char *notdir[] = {"cannot create 'file'", strerror(ENOTDIR), NULL};
    bad_outdir("file/out", notdir);
    const char *notdir2[] = {"cannot create 'file/sub'", strerror(ENOTDIR),
                             NULL};
    bad_outdir("file/sub/out", notdir2);
    const char *isfile[] = {"exists and is not a directory", NULL};
    bad_outdir("file", isfile);
    ck_assert_int_eq(mkdir("real", 0777), 0);
    ck_assert_int_eq(symlink("real", "link"), 0);
    bad_outdir("link", isfile);
    ck_assert_int_eq(mkdir(".out.lock", 0777), 0);
    const char *lockdir[] = {"cannot create './.out.lock'", strerror(EISDIR),
                             NULL};
    bad_outdir("out", lockdir);
    const char *keep[] = {"file", "real", "link", ".out.lock", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* A directory whose entries are outputs of a run, or their temporaries
 * ("stats.txt.tmp.PID"), can be replaced; a name that merely begins like
 * an output ("stats.txt.bak", "stats.txtx") cannot. Trailing slashes name
 * the same directory. */
START_TEST(test_replace_previous_outputs)
{
    const char *a1[] = {"-q", "--seed", "1", "-o", "out", NULL};
    ck_assert_int_eq(cli(a1), 0);
    write_str("out/stats.json.tmp.12", "x\n");
    const char *a2[] = {"-q", "--seed", "2", "-o", "out//", NULL};
    ck_assert_int_eq(cli(a2), 0);
    char *ini = iommusim_slurp("out/config.ini", NULL);
    ck_assert_msg(strstr(ini, "seed = 2"), "config.ini: %s", ini);
    free(ini);
    ck_assert(!exists("out/stats.json.tmp.12"));
    const char *keep[] = {"out", NULL};
    assert_nothing_left(keep);
    const char *names[] = {"stats.txt.bak", "stats.txtx"};
    for (unsigned i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof(path), "out/%s", names[i]);
        write_str(path, "x\n");
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "holds '%s'", names[i]);
        const char *need[] = {quoted, "not an output of a run", NULL};
        bad_outdir("out", need);
        unlink(path);
    }
}
END_TEST

/* A parent the user cannot write: the lock cannot be made; exit 2 naming
 * it (run as nobody when root). */
START_TEST(test_lock_not_writable)
{
    ck_assert_int_eq(chmod(g_root, 0755), 0);
    ck_assert_int_eq(chmod(g_dir, 0755), 0);
    ck_assert_int_eq(mkdir("ro", 0555), 0);
    how_t h = {.out = "/dev/null", .in_fd = -1, .nobody = true};
    const char *args[] = {"-q", "-o", "ro/out", NULL};
    int rc = cli_how(args, &h);
    chmod("ro", 0755);
    ck_assert_int_eq(rc, 2);
    const char *need[] = {"cannot create 'ro/.out.lock'", strerror(EACCES),
                          NULL};
    err_one_line(need);
}
END_TEST

/* ------------------------------------------------------------ outputs */

/* With run.epoch = 0 there is no time series (docs/configuration.md,
 * run.epoch): the outputs line names four files and the directory holds
 * those four. */
START_TEST(test_outputs_without_series)
{
    const char *args[] = {"--set", "run.epoch=0", "-o", "out", NULL};
    ck_assert_int_eq(cli(args), 0);
    char *o = iommusim_slurp("cli.out", NULL);
    ck_assert_msg(
        strstr(o, "outputs: out/{config.ini,stats.txt,stats.json,latency.txt}"),
        "stdout: %s", o);
    free(o);
    ck_assert(!exists("out/timeseries.csv"));
    ck_assert(exists("out/stats.txt") && exists("out/latency.txt"));
}
END_TEST

/* Files limited to 8 KiB with no time series: config.ini (under 8 KiB)
 * is written, stats.txt (larger) is not: exit 1 naming it, nothing left.
 * (The message says "Input/output error": the statistics writer reports
 * a stream error as EIO, not the errno behind it.) */
START_TEST(test_stats_write_error)
{
    how_t h = {.in_fd = -1, .fsize = 8192};
    const char *args[] = {"-q", "--set", "run.epoch=0", "-o", "out", NULL};
    ck_assert_int_eq(cli_how(args, &h), 1);
    const char *need[] = {"cannot write", "stats.txt", NULL};
    err_one_line(need);
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
}
END_TEST

static Suite *paths_suite(void)
{
    Suite *s = suite_create("cli_paths");
    TCase *tc = tcase_create("interrupt");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_interrupt_stops_promptly);
    tcase_add_test(tc, test_second_signal);
    tcase_add_test(tc, test_signal_before_run);
    suite_add_tcase(s, tc);
    tc = tcase_create("stale");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_killed_run_temporary_removed);
    tcase_add_test(tc, test_stale_temporaries_in_parent);
    tcase_add_test(tc, test_own_pid_leftover);
    suite_add_tcase(s, tc);
    tc = tcase_create("options");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_option_without_value);
    tcase_add_test(tc, test_info_on_full_stdout);
    tcase_add_test(tc, test_bad_outdir_names);
    tcase_add_test(tc, test_bad_outdir_places);
    tcase_add_test(tc, test_replace_previous_outputs);
    tcase_add_test(tc, test_lock_not_writable);
    tcase_add_test(tc, test_outputs_without_series);
    tcase_add_test(tc, test_stats_write_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(paths_suite());
}
