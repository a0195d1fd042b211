/*
 * tests/tools/test_cli.c - the iommu-sim command line (tools/iommu-sim):
 * every kind of bad input exits with status 2 and a message naming the
 * file, the line and the problem, and leaves no output files; --help,
 * --version and --list-params; a good run writes its four outputs, and the
 * dumped config.ini reproduces the run exactly; the bundled default
 * scenario runs with no trace argument.
 *
 * The binary is $IOMMUSIM_BINARY_DIR/tools/iommu-sim, run with posix_spawn
 * in a fresh temporary working directory per test (so messages name files
 * by their short names); stdout and stderr are captured to files.
 */
#include <check.h>

#include "tests/check_run.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define HDR "iommu-sim-trace 1\ntimeunit ns\n"
#define MAP1 "0 map 0 1 0x7f0000000000 64K rw- absent\n"

#define CLI_FX_NAME "test_cli"
#include "tests/tools/cli_fixture.h"

/* Run the CLI with the NULL-terminated args; stdout -> "cli.out",
 * stderr -> "cli.err" in the working directory. Returns the exit status. */
static int cli(const char *const *args)
{
    const char *argv[64];
    unsigned n = 0;
    argv[n++] = g_bin;
    for (unsigned i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "cli.out",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "cli.err",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, g_bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_int_eq(rc, 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "iommu-sim did not exit normally");
    return WEXITSTATUS(st);
}

/* Assert that stderr contains every NULL-terminated needle. */
static void err_has(const char *const *needles)
{
    char *e = iommusim_slurp("cli.err", NULL);
    for (unsigned i = 0; needles[i]; i++)
        ck_assert_msg(strstr(e, needles[i]) != NULL,
                      "stderr does not contain '%s':\n%s", needles[i], e);
    free(e);
}

static bool out_has(const char *needle)
{
    char *o = iommusim_slurp("cli.out", NULL);
    bool r = strstr(o, needle) != NULL;
    free(o);
    return r;
}

/* Files in dir (0 if it does not exist). */
static unsigned files_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Number of the line at which `bad` starts once appended to `before`. */
static unsigned line_after(const char *before)
{
    unsigned n = 1;
    for (const char *p = before; *p; p++)
        n += *p == '\n';
    return n;
}

/* Write NAME = before + bad, run it, and expect exit 2 with "NAME:LINE:"
 * (LINE = where `bad` starts) and `what` on stderr, and no output. */
static void expect_trace_error(const char *name, const char *before,
                               const char *bad, size_t badlen, const char *what)
{
    size_t lb = strlen(before);
    char *buf = malloc(lb + badlen);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, before, lb);
    memcpy(buf + lb, bad, badlen);
    iommusim_write_file(name, buf, lb + badlen);
    free(buf);
    char where[PATH_MAX];
    snprintf(where, sizeof(where), "%s:%u:", name, line_after(before));
    const char *args[] = {"-o", "out", name, NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *needles[] = {where, what, NULL};
    err_has(needles);
    ck_assert_uint_eq(files_in("out"), 0);
}

/* ------------------------------------------------------ trace errors */

START_TEST(test_missing_trace)
{
    const char *args[] = {"-o", "out", "nosuch.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *n[] = {"nosuch.trace", "cannot open", NULL};
    err_has(n);
    ck_assert_uint_eq(files_in("out"), 0);
}
END_TEST

START_TEST(test_empty_trace)
{
    write_str("empty.trace", "");
    const char *args[] = {"-o", "out", "empty.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *n[] = {"empty.trace:1:", "empty trace", NULL};
    err_has(n);
    ck_assert_uint_eq(files_in("out"), 0);
}
END_TEST

START_TEST(test_binary_trace)
{
    static const char bin[] = "\x7f"
                              "ELF\x02\x01\x01\x00\x00\x00\x00\x00";
    expect_trace_error("bin.trace", "", bin, sizeof(bin) - 1, "binary data");
}
END_TEST

START_TEST(test_truncated_trace)
{
    const char *last = "10 read 0 1 0x7f0000001000 64"; /* no newline */
    expect_trace_error("trunc.trace", HDR MAP1, last, strlen(last),
                       "truncated trace");
}
END_TEST

START_TEST(test_huge_line)
{
    size_t n = 5u << 20; /* 5 MiB, then a newline */
    char *line = malloc(n + 1);
    ck_assert_ptr_nonnull(line);
    memset(line, 'a', n);
    line[n] = '\n';
    expect_trace_error("long.trace", HDR MAP1, line, n + 1,
                       "longer than 4096 bytes");
    free(line);
}
END_TEST

START_TEST(test_nul_in_line)
{
    static const char bad[] = "10 read 0 1 0x7f0000001000 64 # a\0b\n";
    expect_trace_error("nul.trace", HDR MAP1, bad, sizeof(bad) - 1, "NUL byte");
}
END_TEST

START_TEST(test_unknown_record)
{
    const char *bad = "10 raed 0 1 0x7f0000001000 64\n";
    expect_trace_error("unk.trace", HDR MAP1, bad, strlen(bad),
                       "unknown record 'raed'");
}
END_TEST

START_TEST(test_number_overflow)
{
    const char *bad = "10 read 0 1 0x7f0000001000 99999999999999999999\n";
    expect_trace_error("ovf.trace", HDR MAP1, bad, strlen(bad),
                       "overflows 64 bits");
}
END_TEST

/* 0x1000000000000 = 2^48: just outside a 4-level (48-bit) table. */
START_TEST(test_address_beyond_width)
{
    const char *bad_map = "0 map 0 1 0x1000000000000 0x1000 rw- absent\n";
    expect_trace_error("wmap.trace", HDR, bad_map, strlen(bad_map), "48-bit");
    const char *bad_rd = "10 read 0 1 0x1000000000000 64\n";
    expect_trace_error("wread.trace", HDR MAP1, bad_rd, strlen(bad_rd),
                       "48-bit");
    /* The last bytes below 2^48 are fine for a map; a range crossing it
     * is not. */
    const char *cross = "0 map 0 1 0xfffffffff000 0x2000 rw- absent\n";
    expect_trace_error("wcross.trace", HDR, cross, strlen(cross), "48-bit");
    /* With 5 levels the same address is accepted. */
    write_str("w5.trace", HDR "0 map 0 1 0x1000000000000 0x1000 rw- present\n"
                              "10 read 0 1 0x1000000000000 64\n");
    const char *args[] = {"-q",       "--set", "iommu.levels=5", "-o", "out5",
                          "w5.trace", NULL};
    ck_assert_int_eq(cli(args), 0);
}
END_TEST

START_TEST(test_unknown_device)
{
    const char *bad = "10 read 5 1 0x7f0000001000 64\n";
    expect_trace_error("dev.trace", HDR MAP1, bad, strlen(bad),
                       "unknown device 5");
    /* device.count=6 makes device 5 exist (and it has no mapping: the
     * PASID is then unknown for it). */
    const char *args[] = {"--set", "device.count=6", "-o",
                          "out6",  "dev.trace",      NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *n[] = {"unknown PASID 1 for device 5", NULL};
    err_has(n);
}
END_TEST

START_TEST(test_unknown_pasid)
{
    const char *bad = "10 read 0 7 0x7f0000001000 64\n";
    expect_trace_error("pasid.trace", HDR MAP1, bad, strlen(bad),
                       "unknown PASID 7");
}
END_TEST

START_TEST(test_map_overlap)
{
    const char *bad = "5 map 0 1 0x7f000000f000 8K rw- present\n";
    expect_trace_error("ovl.trace", HDR MAP1, bad, strlen(bad), "overlaps");
}
END_TEST

/* A later record error after some simulation still leaves no output. */
START_TEST(test_error_after_progress_leaves_no_files)
{
    const char *before = HDR MAP1 "10 read 0 1 0x7f0000001000 64\n"
                                  "100000 read 0 1 0x7f0000002000 64\n";
    const char *bad = "200000 read 0 1 0x7f0000002000\n"; /* missing len */
    expect_trace_error("late.trace", before, bad, strlen(bad), "missing field");
}
END_TEST

/* ---------------------------------------------------- config errors */

START_TEST(test_config_unknown_key)
{
    const char *before = "; comment\n[device]\ncount = 1\n";
    write_str("c.ini", "; comment\n[device]\ncount = 1\nbogus = 3\n");
    write_str("t.trace", HDR MAP1);
    const char *args[] = {"-c", "c.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    char where[64];
    snprintf(where, sizeof(where), "c.ini:%u:", line_after(before));
    const char *n[] = {where, "bogus", NULL};
    err_has(n);
    ck_assert_uint_eq(files_in("out"), 0);
}
END_TEST

START_TEST(test_config_bad_type)
{
    write_str("c.ini", "[device]\ntags = abc\n");
    write_str("t.trace", HDR MAP1);
    const char *args[] = {"-c", "c.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *n[] = {"c.ini:2:", "device.tags", "abc", NULL};
    err_has(n);
    write_str("c2.ini", "[link]\nlatency = fast\n");
    const char *args2[] = {"-c", "c2.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args2), 2);
    const char *n2[] = {"c2.ini:2:", "link.latency", "fast", NULL};
    err_has(n2);
    write_str("c3.ini", "[device]\npri = maybe\n");
    const char *args3[] = {"-c", "c3.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args3), 2);
    const char *n3[] = {"c3.ini:2:", "device.pri", "maybe", NULL};
    err_has(n3);
    ck_assert_uint_eq(files_in("out"), 0);
}
END_TEST

START_TEST(test_config_out_of_range)
{
    write_str("c.ini", "[device]\ntags = 0\n");
    write_str("t.trace", HDR MAP1);
    const char *args[] = {"-c", "c.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *n[] = {"c.ini:2:", "device.tags", "out of range", NULL};
    err_has(n);
    write_str("c2.ini", "\n[link]\n\ngen = 6\n");
    const char *args2[] = {"-c", "c2.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args2), 2);
    const char *n2[] = {"c2.ini:4:", "link.gen", NULL};
    err_has(n2);
    ck_assert_uint_eq(files_in("out"), 0);
}
END_TEST

START_TEST(test_config_missing_file)
{
    write_str("t.trace", HDR MAP1);
    const char *args[] = {"-c", "nosuch.ini", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(args), 2);
    const char *n[] = {"nosuch.ini", NULL};
    err_has(n);
}
END_TEST

START_TEST(test_bad_set)
{
    write_str("t.trace", HDR MAP1);
    const char *a1[] = {"--set", "device.tags", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a1), 2);
    const char *n1[] = {"device.tags", "section.key=value", NULL};
    err_has(n1);
    const char *a2[] = {"--set", "device.nope=1", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a2), 2);
    const char *n2[] = {"unknown key", "device.nope", NULL};
    err_has(n2);
    const char *a3[] = {"-s", "link.gen=9", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a3), 2);
    const char *n3[] = {"link.gen", NULL};
    err_has(n3);
    const char *a4[] = {"--seed", "x", "-o", "out", "t.trace", NULL};
    ck_assert_int_eq(cli(a4), 2);
    const char *n4[] = {"run.seed", NULL};
    err_has(n4);
    ck_assert_uint_eq(files_in("out"), 0);
}
END_TEST

/* A constraint between keys (atc_ways must divide atc_entries). */
START_TEST(test_inconsistent_config)
{
    write_str("t.trace", HDR MAP1);
    const char *a[] = {"--set",   "device.atc_entries=10",
                       "--set",   "device.atc_ways=4",
                       "-o",      "out",
                       "t.trace", NULL};
    ck_assert_int_eq(cli(a), 2);
    const char *n[] = {"device.atc_ways", "device.atc_entries", NULL};
    err_has(n);
}
END_TEST

START_TEST(test_bad_options)
{
    const char *a1[] = {"--frobnicate", NULL};
    ck_assert_int_eq(cli(a1), 2);
    const char *n1[] = {"unknown option", "--frobnicate", NULL};
    err_has(n1);
    const char *a2[] = {"-o", NULL};
    ck_assert_int_eq(cli(a2), 2);
    const char *n2[] = {"-o", "needs a value", NULL};
    err_has(n2);
    const char *a3[] = {"-Z", NULL};
    ck_assert_int_eq(cli(a3), 2);
}
END_TEST

/* -------------------------------------------------------- good runs */

START_TEST(test_help_version_list)
{
    const char *h[] = {"--help", NULL};
    ck_assert_int_eq(cli(h), 0);
    ck_assert(out_has("usage: iommu-sim"));
    ck_assert(out_has("--list-params"));
    const char *h2[] = {"-h", NULL};
    ck_assert_int_eq(cli(h2), 0);
    const char *v[] = {"--version", NULL};
    ck_assert_int_eq(cli(v), 0);
    char *o = iommusim_slurp("cli.out", NULL);
    unsigned a, b, c;
    ck_assert_msg(sscanf(o, "iommu-sim %u.%u.%u", &a, &b, &c) == 3,
                  "version output '%s'", o);
    free(o);
    const char *l[] = {"--list-params", NULL};
    ck_assert_int_eq(cli(l), 0);
    const char *keys[] = {
        "iommu.walk_read", "host.iopf",       "device.pri_capacity",
        "link.gen",        "iommu.prq_depth", "memory.access",
        "run.seed"};
    for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ck_assert_msg(out_has(keys[i]), "--list-params lacks %s", keys[i]);
    ck_assert_uint_eq(files_in("iommu-sim-out"), 0);
}
END_TEST

static void check_outputs(const char *dir)
{
    const char *files[] = {"config.ini", "stats.txt", "stats.json",
                           "latency.txt", "timeseries.csv"};
    char path[PATH_MAX];
    for (unsigned i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        struct stat st;
        ck_assert_msg(stat(path, &st) == 0, "no %s", path);
        ck_assert_uint_gt(st.st_size, 0);
    }
    /* Only the five: no temporary files left behind. */
    ck_assert_uint_eq(files_in(dir), 5);
}

/* The value of `name` in a stats.txt ("name value # ..."), or -1. */
static double stat_value(const char *stats_txt, const char *name)
{
    char *s = iommusim_slurp(stats_txt, NULL);
    double v = -1;
    size_t n = strlen(name);
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (!strncmp(line, name, n) && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return v;
}

START_TEST(test_good_run_and_config_readback)
{
    write_str("t.trace", HDR MAP1 "0 map 0 2 0x100000 16K r-- present\n"
                                  "100 read 0 1 0x7f0000001000 64\n"
                                  "150 write 0 1 0x7f0000002000 256\n"
                                  "200 read 0 2 0x101000 64\n"
                                  "5000 read 0 1 0x7f0000001040 64\n");
    /* Non-default settings from a config file and --set on top. */
    write_str("my.ini", "[device]\ntags = 8\n[host]\niopf_workers = 2\n");
    const char *a1[] = {"-c",      "my.ini",
                        "--set",   "host.mm_minor=1500",
                        "--set",   "iommu.walk_read=180",
                        "--seed",  "99",
                        "-o",      "out1",
                        "t.trace", NULL};
    ck_assert_int_eq(cli(a1), 0);
    check_outputs("out1");
    ck_assert(out_has("out1"));
    ck_assert_int_eq(stat_value("out1/stats.txt", "trace.records"), 6);
    ck_assert_int_eq(stat_value("out1/stats.txt", "trace.dmas"), 4);
    ck_assert_int_eq(stat_value("out1/stats.txt", "device0.dmas_done"), 4);
    char *json = iommusim_slurp("out1/stats.json", NULL);
    ck_assert_int_eq(json[0], '{');
    ck_assert_ptr_nonnull(strstr(json, "\"trace.records\": 6"));
    free(json);
    char *ini = iommusim_slurp("out1/config.ini", NULL);
    ck_assert_ptr_nonnull(strstr(ini, "walk_read = 180"));
    ck_assert_ptr_nonnull(strstr(ini, "seed = 99"));
    ck_assert_ptr_nonnull(strstr(ini, "iopf_workers = 2"));
    free(ini);
    /* The dumped config alone reproduces the run byte for byte. */
    const char *a2[] = {"-q",      "--config", "out1/config.ini", "-o", "out2",
                        "t.trace", NULL};
    ck_assert_int_eq(cli(a2), 0);
    check_outputs("out2");
    char *s1 = iommusim_slurp("out1/stats.json", NULL);
    char *s2 = iommusim_slurp("out2/stats.json", NULL);
    ck_assert_str_eq(s1, s2);
    /* ...and without it (defaults) the result differs: the settings
     * mattered. */
    const char *a3[] = {"-q", "-o", "out3", "t.trace", NULL};
    ck_assert_int_eq(cli(a3), 0);
    char *s3 = iommusim_slurp("out3/stats.json", NULL);
    ck_assert_str_ne(s1, s3);
    free(s1);
    free(s2);
    free(s3);
    /* -q prints nothing on success. */
    char *o = iommusim_slurp("cli.out", NULL);
    ck_assert_str_eq(o, "");
    free(o);
}
END_TEST

/* Standard input as the trace; nested output directories are created. */
START_TEST(test_stdin_and_nested_outdir)
{
    write_str("t.trace", HDR MAP1 "100 read 0 1 0x7f0000001000 64\n");
    const char *argv[] = {g_bin, "-q", "-o", "a/b/c", "-", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "t.trace", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "cli.err",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    ck_assert_int_eq(
        posix_spawn(&pid, g_bin, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    check_outputs("a/b/c");
    ck_assert_int_eq(stat_value("a/b/c/stats.txt", "device0.dmas_done"), 1);
}
END_TEST

/* The bundled default scenario runs with no trace argument on the machine
 * of scenarios/default.ini: its record count matches
 * scenarios/default.trace in the source tree, its DMAs all end, and it
 * has faults of both kinds (two NICs in a VM, one native accelerator),
 * an unmap and two detaches. */
START_TEST(test_default_scenario)
{
    const char *args[] = {"-o", "out", NULL};
    ck_assert_int_eq(cli(args), 0);
    check_outputs("out");
    const char *src = getenv("IOMMUSIM_SOURCE_DIR");
    ck_assert_ptr_nonnull(src);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/scenarios/default.trace", src);
    char *t = iommusim_slurp(path, NULL);
    /* Records: non-blank, non-comment lines after the two header lines,
     * but the devices line. */
    unsigned records = 0, content = 0;
    for (char *line = t; line && *line;) {
        char *nl = strchr(line, '\n');
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '#' && *p != '\n' && *p != '\0' && ++content > 2 &&
            strncmp(p, "devices ", 8))
            records++;
        line = nl ? nl + 1 : NULL;
    }
    free(t);
    ck_assert_uint_gt(records, 0);
    ck_assert_int_eq(stat_value("out/stats.txt", "trace.records"), records);
    double dmas = stat_value("out/stats.txt", "trace.dmas"), done = 0;
    for (unsigned d = 0; d < 3; d++) {
        char name[64];
        snprintf(name, sizeof(name), "device%u.dmas_done", d);
        done += stat_value("out/stats.txt", name);
    }
    ck_assert(dmas > 0);
    ck_assert(done == dmas);
    ck_assert(stat_value("out/stats.txt", "trace.unmaps") == 1);
    ck_assert(stat_value("out/stats.txt", "trace.detaches") == 2);
    double native = stat_value("out/stats.txt", "fault.native.e2e.count");
    double guest = stat_value("out/stats.txt", "fault.guest.e2e.count");
    ck_assert(native > 0 && guest > 0);
    ck_assert(native + guest == stat_value("out/stats.txt", "fault.e2e.count"));
    ck_assert(stat_value("out/stats.txt", "vm.tenant.vmm.records") > 0);
    /* The summary gives native and guest latency apart. */
    const char *needles[] = {
        "  native (host SVA): ", "  guest (VM, nested): ", NULL};
    for (unsigned i = 0; needles[i]; i++)
        ck_assert_msg(out_has(needles[i]), "no '%s' in the summary",
                      needles[i]);
}
END_TEST

/* Machines of several devices and VMs from the command line: a bad
 * membership or an unknown device name in a trace exits 2 naming the file
 * and line, with nothing written; --trace-devices merges two traces that
 * both number their device 0 (docs/configuration.md, "Device classes and
 * VMs"; docs/trace-format.md, "Merging traces"). */
START_TEST(test_machines)
{
    write_str("two.ini", "[device.nic]\ncount = 2\n[vm.a]\ndevices = nic0\n"
                         "[vm.b]\ndevices = nic0, nic1\n");
    write_str("e.trace", "iommu-sim-trace 1\ntimeunit ns\n");
    const char *a1[] = {"-q", "-c", "two.ini", "e.trace", "-o", "o1", NULL};
    ck_assert_int_eq(cli(a1), 2);
    err_has((const char *[]){"two.ini:6: vm.b.devices = nic0, nic1: device "
                             "nic0 is already assigned by vm.a.devices",
                             NULL});
    ck_assert_uint_eq(files_in("o1"), 0);
    write_str("m.ini", "[device.nic]\ncount = 2\n[vm.a]\ndevices = nic1\n");
    write_str("a.trace", "iommu-sim-trace 1\ntimeunit ns\n"
                         "0 map 0 1 0x10000 64K rw- absent\n"
                         "5 read 0 1 0x10000 64\n");
    write_str("bad.trace", "iommu-sim-trace 1\ntimeunit ns\n"
                           "0 map nic9 1 0x10000 64K rw- absent\n");
    const char *a2[] = {"-q", "-c", "m.ini", "bad.trace", "-o", "o2", NULL};
    ck_assert_int_eq(cli(a2), 2);
    err_has((const char *[]){"bad.trace:3:7: unknown device 'nic9'", NULL});
    /* The same trace twice: device 0 of each would collide (the same
     * mapping twice); with --trace-devices one is nic0 (native), the other
     * nic1 (the VM's). */
    const char *a3[] = {"-q",      "-c", "m.ini", "a.trace",
                        "a.trace", "-o", "o3",    NULL};
    ck_assert_int_eq(cli(a3), 2);
    const char *a4[] = {
        "-q",     "-c", "m.ini", "a.trace", "a.trace", "--trace-devices",
        "2:nic1", "-o", "o4",    NULL};
    ck_assert_int_eq(cli(a4), 0);
    ck_assert(stat_value("o4/stats.txt", "device0.dmas_done") == 1);
    ck_assert(stat_value("o4/stats.txt", "device1.dmas_done") == 1);
    ck_assert(stat_value("o4/stats.txt", "fault.native.e2e.count") == 1);
    ck_assert(stat_value("o4/stats.txt", "fault.guest.e2e.count") == 1);
    ck_assert(stat_value("o4/stats.txt", "fault.vm.a.e2e.count") == 1);
    const char *a5[] = {"-q", "a.trace", "--trace-devices", "2:nic1", NULL};
    ck_assert_int_eq(cli(a5), 2);
    err_has((const char *[]){"--trace-devices '2:nic1': expected K:DEVICES "
                             "with K a trace's position, 1 to 1",
                             NULL});
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("trace_errors");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_missing_trace);
    tcase_add_test(tc, test_machines);
    tcase_add_test(tc, test_empty_trace);
    tcase_add_test(tc, test_binary_trace);
    tcase_add_test(tc, test_truncated_trace);
    tcase_add_test(tc, test_huge_line);
    tcase_add_test(tc, test_nul_in_line);
    tcase_add_test(tc, test_unknown_record);
    tcase_add_test(tc, test_number_overflow);
    tcase_add_test(tc, test_address_beyond_width);
    tcase_add_test(tc, test_unknown_device);
    tcase_add_test(tc, test_unknown_pasid);
    tcase_add_test(tc, test_map_overlap);
    tcase_add_test(tc, test_error_after_progress_leaves_no_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("config_errors");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_config_unknown_key);
    tcase_add_test(tc, test_config_bad_type);
    tcase_add_test(tc, test_config_out_of_range);
    tcase_add_test(tc, test_config_missing_file);
    tcase_add_test(tc, test_bad_set);
    tcase_add_test(tc, test_inconsistent_config);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(s, tc);

    tc = tcase_create("runs");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_help_version_list);
    tcase_add_test(tc, test_good_run_and_config_readback);
    tcase_add_test(tc, test_stdin_and_nested_outdir);
    tcase_add_test(tc, test_default_scenario);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(cli_suite());
}
