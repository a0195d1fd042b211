/*
 * tests/tools/test_outputs.c - what a run writes and how it fails
 * (issue 11): outputs and run time are bounded from legal values (the
 * time series merges epochs past its row cap; a DMA and a present map have
 * maximum sizes, checked on input); every error names its source (a
 * constraint between keys names the file and line of each key; a full
 * disk and an unwritable output directory give one message and the
 * documented exit status); the output directory is written as a whole
 * (nothing of a failed or interrupted run, SIGINT/SIGTERM exit 130, a
 * directory another run holds is refused).
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
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR "iommu-sim-trace 1\ntimeunit ns\n"

/* Documented limits (docs/configuration.md "run.epoch" and
 * docs/trace-format.md "Size limits"). */
#define SERIES_MAX_LINES 200000u
#define MAX_DMA (1ull << 30)
#define MAX_PRESENT (64ull << 30)

#define CLI_FX_NAME "test_outputs"
#include "tests/tools/cli_fixture.h"
#include "tests/tools/cli_run.h"

/* A counter's value in stats.txt ("name   value ..."). */
static uint64_t stat_value(const char *path, const char *name)
{
    char *s = iommusim_slurp(path, NULL);
    size_t n = strlen(name);
    for (char *p = s; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == s || p[-1] == '\n') && (p[n] == ' ' || p[n] == '\t')) {
            uint64_t v = strtoull(p + n, NULL, 10);
            free(s);
            return v;
        }
    }
    free(s);
    ck_abort_msg("no %s in %s", name, path);
    return 0;
}

/* ------------------------------------------------------------ item 3 */

/*
 * The bundled scenario runs 50 ms of simulated time: with run.epoch =
 * 100 ns that is ~500,000 epochs. The series (long format: one line per
 * column and row, docs/configuration.md) stays under the documented
 * 200,000 lines by merging adjacent rows (doubling the epoch): every row
 * but the last spans the same epoch 100 ns * 2^k, written in the epoch_ps
 * column, and merging keeps sums: the fault.closed lines add up to the
 * run's fault.closed counter (a counter's value is its increase per row).
 */
START_TEST(test_series_row_cap)
{
    const char *args[] = {"-q", "--set", "run.epoch=100ns", "-o", "out", NULL};
    ck_assert_int_eq(cli(args), 0);
    FILE *f = fopen("out/timeseries.csv", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_str_eq(line, "time_ps,epoch_ps,series,owner,value\n");
    uint64_t lines = 0, rows = 0, prev = 0, span = 0, closed = 0;
    uint64_t last_epoch = 0;
    bool uneven = false, bad_epoch = false;
    while (fgets(line, sizeof(line), f)) {
        lines++;
        char *end;
        uint64_t t = strtoull(line, &end, 10);
        uint64_t epoch = strtoull(end + 1, &end, 10);
        if (strncmp(end, ",fault.closed,run,", 18))
            continue;
        closed += strtoull(end + 18, NULL, 10);
        bad_epoch |= epoch != t - prev;
        if (rows == 1)
            span = epoch;
        else if (rows > 1 && last_epoch != span)
            uneven = true; /* a row before the last one */
        last_epoch = epoch;
        prev = t;
        rows++;
    }
    fclose(f);
    ck_assert_msg(lines <= SERIES_MAX_LINES, "%" PRIu64 " lines, cap %u", lines,
                  SERIES_MAX_LINES);
    ck_assert(!bad_epoch);
    ck_assert(!uneven);
    /* span = 100 ns * 2^k */
    ck_assert_uint_eq(span % 100000, 0);
    uint64_t m = span / 100000;
    ck_assert_uint_gt(m, 1);
    ck_assert_uint_eq(m & (m - 1), 0);
    ck_assert_uint_eq(closed, stat_value("out/stats.txt", "fault.closed"));
}
END_TEST

/* A read or write longer than 1 GiB is an input error at <len>. */
START_TEST(test_dma_max)
{
    char t[512];
    snprintf(t, sizeof(t),
             HDR "0 map 0 1 0x7f0000000000 2G rw- present 1G\n"
                 "10 read 0 1 0x7f0000000000 0x%llx\n",
             (unsigned long long)(MAX_DMA + 4096));
    write_str("t.trace", t);
    const char *args[] = {"-q", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    /* "10 read 0 1 0x7f0000000000 " is 27 bytes: <len> at column 28 */
    const char *need[] = {"t.trace:4:28:", "DMA length", "1G", NULL};
    err_one_line(need);
    const char *keep[] = {"t.trace", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* A present map longer than 64 GiB is an input error at <len>; 64 GiB is
 * accepted (in 1 GiB pages it is 64 leaves). */
START_TEST(test_present_max)
{
    char t[512];
    snprintf(t, sizeof(t), HDR "0 map 0 1 0x40000000 0x%llx rw- present 1G\n",
             (unsigned long long)(MAX_PRESENT + (1ull << 30)));
    write_str("t.trace", t);
    const char *args[] = {"-q", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    /* "0 map 0 1 0x40000000 " is 21 bytes: <len> at column 22 */
    const char *need[] = {"t.trace:3:22:", "present map", "64G", NULL};
    err_one_line(need);
    snprintf(t, sizeof(t),
             HDR "0 map 0 1 0x40000000 0x%llx rw- present 1G\n"
                 "10 read 0 1 0x40000000 4K\n",
             (unsigned long long)MAX_PRESENT);
    write_str("t.trace", t);
    ck_assert_int_eq(cli(args), 0);
}
END_TEST

/* ------------------------------------------------------------ item 6 */

/* A constraint between keys names the file and line of the key set last,
 * and where the other key was set (or that it is the default). */
START_TEST(test_cross_key_names_lines)
{
    write_str("t.trace", HDR "0 map 0 1 0x7f0000000000 4K rw- present\n");
    write_str("c.ini", "[device]\n"
                       "count = 4\n"
                       "\n"
                       "[vm]\n"
                       "devices = 9\n");
    const char *a1[] = {"-q", "-c", "c.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a1), 2);
    const char *n1[] = {"c.ini:5: vm.devices = 9 is more than device.count = 4",
                        "(device.count set at c.ini:2)", NULL};
    err_one_line(n1);

    write_str("s.ini", "[iommu]\nstall = true\n");
    const char *a2[] = {"-q", "-c", "s.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a2), 2);
    const char *n2[] = {"s.ini:2: iommu.stall = true",
                        "iommu.arch is the default", NULL};
    err_one_line(n2);

    /* The key set last came from --set. */
    write_str("a.ini", "[device]\n\natc_entries = 64\n");
    const char *a3[] = {"-q", "-c",  "a.ini",   "--set", "device.atc_ways=3",
                        "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a3), 2);
    const char *n3[] = {"--set device.atc_ways: device.atc_ways = 3",
                        "(device.atc_entries set at a.ini:3)", NULL};
    err_one_line(n3);
    const char *keep[] = {"t.trace", "c.ini", "s.ini", "a.ini", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* A summary that cannot be written (stdout on a full disk, /dev/full):
 * exit 1 with one message. */
START_TEST(test_stdout_full)
{
    how_t h = {.out = "/dev/full", .in_fd = -1};
    const char *args[] = {"-o", "out", NULL};
    ck_assert_int_eq(cli_how(args, &h), 1);
    const char *need[] = {"standard output", strerror(ENOSPC), NULL};
    err_one_line(need);
}
END_TEST

/* Outputs that cannot be written (files limited to 4 KiB: stats.txt is
 * larger): exit 1 with one message naming the file, and the previous
 * run's directory is left whole. */
START_TEST(test_output_write_error)
{
    const char *a1[] = {"-q", "--seed", "1", "-o", "out", NULL};
    ck_assert_int_eq(cli(a1), 0);
    char *before = iommusim_slurp("out/config.ini", NULL);
    how_t h = {.in_fd = -1, .fsize = 4096};
    const char *a2[] = {"-q", "--seed", "2", "-o", "out", NULL};
    ck_assert_int_eq(cli_how(a2, &h), 1);
    const char *need[] = {"cannot write", strerror(EFBIG), NULL};
    err_one_line(need);
    char *after = iommusim_slurp("out/config.ini", NULL);
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    const char *keep[] = {"out", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* An output directory the user cannot write: exit 2 (as other output
 * directory problems), one message naming it. */
START_TEST(test_unwritable_outdir)
{
    ck_assert_int_eq(chmod(g_root, 0755), 0);
    ck_assert_int_eq(chmod(g_dir, 0755), 0);
    ck_assert_int_eq(mkdir("ro", 0755), 0);
    ck_assert_int_eq(mkdir("ro/out", 0755), 0);
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod("ro/out", 0555), 0);
        ck_assert_int_eq(chmod("ro", 0555), 0);
    }
    how_t h = {.out = "/dev/null", .in_fd = -1, .nobody = true};
    const char *args[] = {"-q", "-o", "ro/out", NULL};
    int rc = cli_how(args, &h);
    chmod("ro", 0755);
    chmod("ro/out", 0755);
    ck_assert_int_eq(rc, 2);
    const char *need[] = {"ro/out", strerror(EACCES), NULL};
    err_one_line(need);
}
END_TEST

/* ------------------------------------------------------------ item 7 */

/* A trace error: no output directory (README: no output is written). */
START_TEST(test_input_error_writes_nothing)
{
    write_str("t.trace", HDR "0 map 0 1 0x7f0000000000 64K rw- present\n"
                             "10 read 0 1 0x7f0000000000 4K\n"
                             "20 bogus\n");
    const char *args[] = {"-q", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *keep[] = {"t.trace", NULL};
    assert_nothing_left(keep);
}
END_TEST

/* A directory that holds other files than a run's outputs is not
 * replaced (a run replaces the whole directory). */
START_TEST(test_foreign_dir_refused)
{
    ck_assert_int_eq(mkdir("out", 0755), 0);
    write_str("out/notes.txt", "mine\n");
    const char *args[] = {"-q", "-o", "out", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *need[] = {"out", "notes.txt", NULL};
    err_one_line(need);
    char *s = iommusim_slurp("out/notes.txt", NULL);
    ck_assert_str_eq(s, "mine\n");
    free(s);
}
END_TEST

/* Another run holds the target (its lock, .out.lock, documented in the
 * README): refused with exit 2, naming it. */
START_TEST(test_target_held)
{
    int fd = open(".out.lock", O_RDWR | O_CREAT, 0666);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX), 0);
    const char *args[] = {"-q", "-o", "out", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *need[] = {"'out'", ".out.lock", "another run", NULL};
    err_one_line(need);
    close(fd);
    unlink(".out.lock");
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
    /* Released: the run goes ahead, and leaves no lock behind. */
    ck_assert_int_eq(cli(args), 0);
    const char *keep2[] = {"out", NULL};
    assert_nothing_left(keep2);
}
END_TEST

/* Feed a trace through a pipe for a while (at least 200,000 records, so
 * the run is replaying them), then send sig: exit 130, one message saying
 * how far the run got, nothing written or left behind. */
static void interrupt_with(int sig)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    signal(SIGPIPE, SIG_IGN);
    how_t h = {.in_fd = pfd[0]};
    const char *args[] = {"-q", "-o", "out", "-", NULL};
    pid_t pid = start(args, &h);
    close(pfd[0]);
    FILE *w = fdopen(pfd[1], "w");
    ck_assert_ptr_nonnull(w);
    fprintf(w, HDR "0 map 0 1 0x7f0000000000 64K rw- present\n");
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t ns = 0;
    do {
        for (int i = 0; i < 1000; i++, ns += 100)
            fprintf(w, "%" PRIu64 " read 0 1 0x7f0000000000 4K\n", ns);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (ns < 100 * 200000ull || /* far more than a pipe holds */
             (now.tv_sec - t0.tv_sec) * 1000000000L +
                     (now.tv_nsec - t0.tv_nsec) <
                 300000000L);
    fflush(w);
    ck_assert_int_eq(kill(pid, sig), 0);
    fclose(w); /* end of input: a read in progress returns */
    ck_assert_int_eq(finish(pid), 130);
    const char *need[] = {"interrupted", sig == SIGINT ? "SIGINT" : "SIGTERM",
                          "simulated time", "records", NULL};
    err_one_line(need);
    const char *keep[] = {NULL};
    assert_nothing_left(keep);
}

START_TEST(test_sigint)
{
    interrupt_with(SIGINT);
}
END_TEST

START_TEST(test_sigterm)
{
    interrupt_with(SIGTERM);
}
END_TEST

static Suite *outputs_suite(void)
{
    Suite *s = suite_create("outputs");
    TCase *tc = tcase_create("outputs");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_series_row_cap);
    tcase_add_test(tc, test_dma_max);
    tcase_add_test(tc, test_present_max);
    tcase_add_test(tc, test_cross_key_names_lines);
    tcase_add_test(tc, test_stdout_full);
    tcase_add_test(tc, test_output_write_error);
    tcase_add_test(tc, test_unwritable_outdir);
    tcase_add_test(tc, test_input_error_writes_nothing);
    tcase_add_test(tc, test_foreign_dir_refused);
    tcase_add_test(tc, test_target_held);
    tcase_add_test(tc, test_sigint);
    tcase_add_test(tc, test_sigterm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(outputs_suite());
}
