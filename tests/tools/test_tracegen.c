/*
 * tests/tools/test_tracegen.c - the tracegen command line (tools/tracegen),
 * run as the built binary: every option reaches the generator (the output,
 * read back with the trace reader, is record for record what traces/gen.c
 * gives for the same configuration), the output is a trace iommu-sim
 * replays, every bad option or value exits 2 with one message naming the
 * option and the value, and a failed write exits 1 leaving no file.
 *
 * The binaries are $IOMMUSIM_BINARY_DIR/tools/tracegen and .../iommu-sim,
 * run in a fresh temporary working directory per test; stdout goes to
 * "cli.out" (or the file given), stderr to "cli.err".
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test_util.h"
#include "traces/trace.h"

#define CLI_FX_NAME "test_tracegen"
#include "tests/tools/cli_fixture.h"

static char g_tracegen[PATH_MAX];

static void tg_setup(void)
{
    setup(); /* g_bin: iommu-sim; a fresh working directory */
    snprintf(g_tracegen, sizeof(g_tracegen), "%s/tools/tracegen",
             getenv("IOMMUSIM_BINARY_DIR"));
    ck_assert_msg(access(g_tracegen, X_OK) == 0, "no binary %s", g_tracegen);
}

/* How the child runs. */
typedef struct how {
    const char *out; /* stdout (default "cli.out") */
    rlim_t fsize;    /* RLIMIT_FSIZE if nonzero (SIGXFSZ ignored) */
    rlim_t as;       /* RLIMIT_AS if nonzero */
} how_t;

/* Run bin with the NULL-terminated args; its exit status. */
static int run_how(const char *bin, const char *const *args, const how_t *h)
{
    const char *argv[64];
    unsigned n = 0;
    argv[n++] = bin;
    for (unsigned i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    /* Under a file-size limit stderr is a pipe (the limit is for regular
     * files), copied to cli.err here. */
    int pipefd[2] = {-1, -1};
    if (h->fsize)
        ck_assert_int_eq(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(h->out ? h->out : "cli.out",
                       O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = h->fsize
                      ? pipefd[1]
                      : open("cli.err", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 ||
            dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        if (h->fsize) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {h->fsize, h->fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl))
                _exit(126);
        }
        if (h->as) {
            struct rlimit rl = {h->as, h->as};
            if (setrlimit(RLIMIT_AS, &rl))
                _exit(126);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    if (h->fsize) {
        close(pipefd[1]);
        FILE *f = fopen("cli.err", "wb");
        ck_assert_ptr_nonnull(f);
        char buf[4096];
        ssize_t got;
        while ((got = read(pipefd[0], buf, sizeof(buf))) > 0)
            ck_assert_uint_eq(fwrite(buf, 1, (size_t)got, f), (size_t)got);
        close(pipefd[0]);
        ck_assert_int_eq(fclose(f), 0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "%s did not exit (signal %d)", bin,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

static int tracegen(const char *const *args)
{
    how_t h = {0};
    return run_how(g_tracegen, args, &h);
}

/* stderr: exactly one line (ignoring a coverage build's "profiling:"
 * lines), equal to want. */
static void err_is(const char *want)
{
    char *e = iommusim_slurp("cli.err", NULL);
    char *keep = calloc(1, strlen(e) + 1);
    ck_assert_ptr_nonnull(keep);
    size_t lines = 0;
    for (char *p = e; *p;) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, "profiling:", 10) != 0 &&
            strncmp(p, "libgcov profiling error:", 24) != 0) {
            lines++;
            strncat(keep, p, len);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    ck_assert_msg(lines == 1, "expected one message, stderr is:\n%s", e);
    ck_assert_str_eq(keep, want);
    free(keep);
    free(e);
}

static bool file_empty(const char *path)
{
    size_t n;
    free(iommusim_slurp(path, &n));
    return n == 0;
}

/* Nothing in the working directory but cli.out and cli.err. */
static void nothing_left(void)
{
    DIR *d = opendir(".");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        ck_assert_msg(!strcmp(s, ".") || !strcmp(s, "..") ||
                          !strcmp(s, "cli.out") || !strcmp(s, "cli.err"),
                      "left behind: %s", s);
    }
    closedir(d);
}

/* The trace in path, read with the trace reader (which must accept all of
 * it), against what the generator gives for cfg, record by record.
 * Returns the number of records. */
static size_t same_as_gen(const char *path, const trace_gen_cfg_t *cfg)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    trace_reader_t *r = trace_open(path, &log);
    ck_assert_msg(r != NULL, "%s", sim_log_last_error(&log));
    trace_gen_t *g = trace_gen_create(cfg, &log);
    ck_assert_ptr_nonnull(g);
    trace_record_t a, b;
    size_t n = 0;
    for (;;) {
        int ra = trace_next(r, &a), rb = trace_gen_next(g, &b);
        ck_assert_msg(ra >= 0, "%s", sim_log_last_error(&log));
        ck_assert_msg(ra == rb, "record %zu: file %d, generator %d", n, ra, rb);
        if (ra == 0)
            break;
        n++;
        ck_assert_int_eq(a.op, b.op);
        ck_assert_uint_eq(a.time, b.time);
        ck_assert_uint_eq(a.dev, b.dev);
        ck_assert_uint_eq(a.pasid, b.pasid);
        ck_assert_uint_eq(a.addr, b.addr);
        ck_assert_uint_eq(a.len, b.len);
        if (a.op == TRACE_MAP) {
            ck_assert_uint_eq(a.perm, b.perm);
            ck_assert_int_eq(a.present, b.present);
        }
    }
    trace_gen_destroy(g);
    trace_close(r);
    return n;
}

START_TEST(test_defaults)
{
    /* No option: the generator's defaults (gen.h), to stdout. */
    ck_assert_int_eq(tracegen((const char *[]){NULL}), 0);
    ck_assert(file_empty("cli.err"));
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    ck_assert_uint_eq(same_as_gen("cli.out", &c), 1 + 1000);
    char *o = iommusim_slurp("cli.out", NULL);
    /* The text format v1 header (docs/trace-format.md). */
    ck_assert(strncmp(o, "iommu-sim-trace 1\n", 18) == 0);
    free(o);
}
END_TEST

START_TEST(test_every_option)
{
    /* Every option, long form, with -o: the file holds exactly what the
     * generator gives for those values. */
    const char *args[] = {"--devices", "2",          "--pasids", "3",
                          "--dmas",    "500",        "--region", "1M",
                          "--present", "--new-page", "0.5",      "--window",
                          "4",         "--writes",   "0.75",     "--len",
                          "128",       "--interval", "250ns",    "--seed",
                          "9",         "--output",   "t.trace",  NULL};
    ck_assert_int_eq(tracegen(args), 0);
    ck_assert(file_empty("cli.out"));
    ck_assert(file_empty("cli.err"));
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.devices = 2;
    c.pasids = 3;
    c.dmas = 500;
    c.region = 1ull << 20;
    c.present = true;
    c.new_page = 0.5;
    c.reuse_window = 4;
    c.write_fraction = 0.75;
    c.dma_len = 128;
    c.interval = 250 * SIM_NS;
    c.seed = 9;
    ck_assert_uint_eq(same_as_gen("t.trace", &c), 6 + 500);
    /* And a value the test reads itself: the maps are the whole 1 MiB,
     * present. */
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    trace_reader_t *r = trace_open("t.trace", &log);
    trace_record_t rec;
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_int_eq(rec.op, TRACE_MAP);
    ck_assert_uint_eq(rec.len, 1u << 20);
    ck_assert(rec.present);
    trace_close(r);

    /* Another seed, another trace; -o (short) and "=" forms. */
    const char *args2[] = {"--dmas=50", "--seed=10", "-o", "u.trace", NULL};
    ck_assert_int_eq(tracegen(args2), 0);
    trace_gen_defaults(&c);
    c.dmas = 50;
    c.seed = 10;
    ck_assert_uint_eq(same_as_gen("u.trace", &c), 51);
}
END_TEST

START_TEST(test_numbers)
{
    /* Numbers: decimal, 0x hex, 0 octal, and K/M/G = x1024 suffixes
     * (tracegen --help). */
    struct {
        const char *region;
        uint64_t bytes;
    } cases[] = {
        {"8192", 8192},        {"0x3000", 0x3000}, {"020000", 8192},
        {"12K", 12ull << 10},  {"3M", 3ull << 20}, {"2G", 2ull << 30},
        {"1024G", 1ull << 40},
    };
    for (unsigned i = 0; i < N_OF(cases); i++) {
        const char *args[] = {"--region", cases[i].region, "--dmas", "20",
                              NULL};
        ck_assert_msg(tracegen(args) == 0, "--region %s", cases[i].region);
        trace_gen_cfg_t c;
        trace_gen_defaults(&c);
        c.region = cases[i].bytes;
        c.dmas = 20;
        same_as_gen("cli.out", &c);
    }
    /* An interval in plain ns and with each unit. */
    const char *intervals[] = {"1500", "1.5us", "1500000ps", "0.0015ms"};
    for (unsigned i = 0; i < N_OF(intervals); i++) {
        const char *args[] = {"--interval", intervals[i], "--dmas", "20", NULL};
        ck_assert_int_eq(tracegen(args), 0);
        trace_gen_cfg_t c;
        trace_gen_defaults(&c);
        c.interval = 1500 * SIM_NS;
        c.dmas = 20;
        same_as_gen("cli.out", &c);
    }
}
END_TEST

START_TEST(test_help)
{
    const char *forms[] = {"--help", "-h"};
    for (unsigned i = 0; i < N_OF(forms); i++) {
        ck_assert_int_eq(tracegen((const char *[]){forms[i], NULL}), 0);
        ck_assert(file_empty("cli.err"));
        char *o = iommusim_slurp("cli.out", NULL);
        ck_assert(strncmp(o, "usage: tracegen", 15) == 0);
        const char *documented[] = {"--devices",  "--pasids",  "--dmas",
                                    "--region",   "--present", "--new-page",
                                    "--window",   "--writes",  "--len",
                                    "--interval", "--seed",    "--output"};
        for (unsigned k = 0; k < N_OF(documented); k++)
            ck_assert_msg(strstr(o, documented[k]), "--help lacks %s",
                          documented[k]);
        free(o);
    }
}
END_TEST

/* A stat of an iommu-sim stats.txt ("key value # ..."). */
static uint64_t stat_u64(const char *text, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\n%s ", key);
    const char *p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no %s in stats.txt", key);
    return strtoull(p + strlen(pat), NULL, 10);
}

START_TEST(test_iommu_sim_replays_it)
{
    /* The output is a trace iommu-sim runs to the end (docs/trace-format.md
     * is the contract between them): every DMA replayed, its bytes and
     * reads/writes counted as the trace has them; an absent region faults
     * at least once per distinct page, a present one never. */
    for (int present = 0; present <= 1; present++) {
        const char *args[] = {"--dmas", "200",     "--new-page",
                              "0.2",    "--len",   "100",
                              "-o",     "t.trace", present ? "--present" : NULL,
                              NULL};
        ck_assert_int_eq(tracegen(args), 0);
        /* What the trace holds, read back. */
        sim_log_t log;
        sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
        trace_reader_t *r = trace_open("t.trace", &log);
        ck_assert_ptr_nonnull(r);
        trace_record_t rec;
        uint64_t reads = 0, writes = 0, bytes = 0, pages = 0;
        uint64_t seen[256];
        while (trace_next(r, &rec) == 1) {
            if (rec.op == TRACE_MAP)
                continue;
            reads += rec.op == TRACE_READ;
            writes += rec.op == TRACE_WRITE;
            bytes += rec.len;
            uint64_t page = rec.addr / 4096;
            bool old = false;
            for (uint64_t k = 0; k < pages && !old; k++)
                old = seen[k] == page;
            if (!old) {
                ck_assert_uint_lt(pages, N_OF(seen));
                seen[pages++] = page;
            }
        }
        trace_close(r);
        ck_assert_uint_eq(reads + writes, 200);

        const char *sim[] = {"-q", "-o", "out", "t.trace", NULL};
        how_t h = {0};
        ck_assert_int_eq(run_how(g_bin, sim, &h), 0);
        char *st = iommusim_slurp("out/stats.txt", NULL);
        char *text = malloc(strlen(st) + 2);
        ck_assert_ptr_nonnull(text);
        text[0] = '\n';
        strcpy(text + 1, st);
        ck_assert_uint_eq(stat_u64(text, "trace.dmas"), 200);
        ck_assert_uint_eq(stat_u64(text, "run.complete"), 1);
        ck_assert_uint_eq(stat_u64(text, "run.dmas_unfinished"), 0);
        ck_assert_uint_eq(stat_u64(text, "iommu.mem.reads"), reads);
        ck_assert_uint_eq(stat_u64(text, "iommu.mem.writes"), writes);
        ck_assert_uint_eq(stat_u64(text, "iommu.mem.bytes"), bytes);
        if (present)
            ck_assert_uint_eq(stat_u64(text, "pri.requests"), 0);
        else
            ck_assert_uint_ge(stat_u64(text, "pri.requests"), pages);
        free(text);
        free(st);
        iommusim_rm_tree("out");
    }
}
END_TEST

/* args exits 2 with the one message want, writing nothing. */
static void usage_error(const char *const *args, const char *want)
{
    ck_assert_int_eq(tracegen(args), 2);
    err_is(want);
    ck_assert(file_empty("cli.out"));
}

#define SEE " (see tracegen --help)"
#define UINT "expected an unsigned integer" SEE
#define PROB "expected a probability in [0, 1]" SEE

START_TEST(test_bad_numbers)
{
    /* Each option taking a number, with a value that is not one: negative,
     * empty, junk after it, too large for 64 bits (also after a K/M/G
     * shift), too large for its 32-bit field. */
    struct {
        const char *opt, *val, *want;
    } cases[] = {
        {"--devices", "abc", "tracegen: --devices 'abc': " UINT},
        {"--pasids", "-1", "tracegen: --pasids '-1': " UINT},
        {"--dmas", "", "tracegen: --dmas '': " UINT},
        {"--dmas", "99999999999999999999",
         "tracegen: --dmas "
         "'99999999999999999999': " UINT},
        {"--region", "5X", "tracegen: --region '5X': " UINT},
        {"--region", "4KB", "tracegen: --region '4KB': " UINT},
        {"--region", "17179869184G",
         "tracegen: --region '17179869184G': " UINT},
        {"--region", "18014398509481984K",
         "tracegen: --region '18014398509481984K': " UINT},
        {"--region", "17592186044416M",
         "tracegen: --region '17592186044416M': " UINT},
        {"--window", "1.5", "tracegen: --window '1.5': " UINT},
        {"--len", "x", "tracegen: --len 'x': " UINT},
        {"--seed", "-3", "tracegen: --seed '-3': " UINT},
        {"--devices", "4294967296",
         "tracegen: --devices '4294967296': too large" SEE},
        {"--pasids", "4G", "tracegen: --pasids '4G': too large" SEE},
        {"--window", "0x100000000",
         "tracegen: --window '0x100000000': too large" SEE},
        {"--len", "4294967297", "tracegen: --len '4294967297': too large" SEE},
        {"--new-page", "1.5", "tracegen: --new-page '1.5': " PROB},
        {"--new-page", "abc", "tracegen: --new-page 'abc': " PROB},
        {"--new-page", "nan", "tracegen: --new-page 'nan': " PROB},
        {"--writes", "-0.1", "tracegen: --writes '-0.1': " PROB},
        {"--writes", "0.5x", "tracegen: --writes '0.5x': " PROB},
        {"--writes", "", "tracegen: --writes '': " PROB},
    };
    for (unsigned i = 0; i < N_OF(cases); i++)
        usage_error((const char *[]){cases[i].opt, cases[i].val, NULL},
                    cases[i].want);
}
END_TEST

START_TEST(test_out_of_range)
{
    /* Values that are numbers but break the generator's rules (gen.c,
     * trace_gen_check): the message names the option, the value and the
     * rule. */
    struct {
        const char *opt, *val, *want;
    } cases[] = {
        {"--devices", "0",
         "tracegen: --devices '0': devices must be "
         "1..65536" SEE},
        {"--devices", "65537",
         "tracegen: --devices '65537': devices must "
         "be 1..65536" SEE},
        {"--pasids", "1048576",
         "tracegen: --pasids '1048576': pasids "
         "must be 1..1048575" SEE},
        {"--region", "100",
         "tracegen: --region '100': region must be a "
         "multiple of 4096 between 4 KiB and 1 TiB" SEE},
        {"--region", "1025G",
         "tracegen: --region '1025G': region must be "
         "a multiple of 4096 between 4 KiB and 1 "
         "TiB" SEE},
        {"--window", "0",
         "tracegen: --window '0': reuse_window must be "
         "1..1048576" SEE},
        {"--len", "0",
         "tracegen: --len '0': dma_len must be 1..4096 "
         "bytes" SEE},
        {"--len", "4097",
         "tracegen: --len '4097': dma_len must be "
         "1..4096 bytes" SEE},
        {"--interval", "soon",
         "tracegen: --interval 'soon': 'soon' is not a time "
         "(expected a number of ns, fractions allowed, or a number with a "
         "ps/ns/us/ms suffix)" SEE},
        {"--interval", "5 parsecs",
         "tracegen: --interval '5 parsecs': '5 parsecs' has an unknown unit "
         "(expected ps, ns, us or ms)" SEE},
    };
    for (unsigned i = 0; i < N_OF(cases); i++)
        usage_error((const char *[]){cases[i].opt, cases[i].val, NULL},
                    cases[i].want);
    /* The rule between two options: at most 2^22 (device, PASID) pairs. */
    usage_error(
        (const char *[]){"--devices", "4096", "--pasids", "1025", NULL},
        "tracegen: --devices x --pasids '4096 x 1025': devices x pasids "
        "must be at most 4194304" SEE);
    /* (4096 x 1024 itself is accepted: test_gen.) */
}
END_TEST

START_TEST(test_bad_usage)
{
    usage_error((const char *[]){"--bogus", NULL},
                "tracegen: unknown option '--bogus'");
    usage_error((const char *[]){"-x", NULL}, "tracegen: unknown option '-x'");
    usage_error((const char *[]){"--present=1", NULL},
                "tracegen: unknown option '--present=1'");
    usage_error((const char *[]){"--dmas", NULL},
                "tracegen: option '--dmas' needs a value");
    usage_error((const char *[]){"-o", NULL},
                "tracegen: option '-o' needs a value");
    usage_error((const char *[]){"--dmas", "5", "extra", NULL},
                "tracegen: unexpected argument 'extra'");
    nothing_left();
}
END_TEST

/* stderr: exactly one line (ignoring "profiling:" lines), containing
 * needle. */
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

START_TEST(test_write_errors)
{
    /* Exit 1, one message, no file left: a directory that does not exist;
     * a full stdout (/dev/full) for a short and a long trace (the error at
     * the final flush, or in the middle); a file-size limit on -o for a
     * short trace (caught when the file is committed) and a long one
     * (caught while writing). */
    ck_assert_int_eq(tracegen((const char *[]){"-o", "no/dir/t.trace", NULL}),
                     1);
    err_has("error: cannot create no/dir/t.trace");
    nothing_left();
    const char *sizes[] = {"1", "5000"};
    for (unsigned i = 0; i < N_OF(sizes); i++) {
        how_t full = {.out = "/dev/full"};
        ck_assert_int_eq(run_how(g_tracegen,
                                 (const char *[]){"--dmas", sizes[i], NULL},
                                 &full),
                         1);
        err_has("tracegen: cannot write standard output: No space left on "
                "device");
        how_t capped = {.fsize = 16};
        ck_assert_int_eq(
            run_how(g_tracegen,
                    (const char *[]){"--dmas", sizes[i], "-o", "t.trace", NULL},
                    &capped),
            1);
        /* The short trace fails when the file is committed (sim/afile.c
         * names the temporary), the long one while writing. */
        err_has(i == 0 ? "error: cannot write t.trace.tmp."
                       : "tracegen: cannot write t.trace: ");
        err_has("File too large");
        nothing_left();
        /* A file already there is kept as it was (the trace goes to a
         * temporary that replaces it only when complete). */
        write_str("t.trace", "old\n");
        ck_assert_int_eq(
            run_how(g_tracegen,
                    (const char *[]){"--dmas", sizes[i], "-o", "t.trace", NULL},
                    &capped),
            1);
        char *kept = iommusim_slurp("t.trace", NULL);
        ck_assert_str_eq(kept, "old\n");
        free(kept);
        ck_assert_int_eq(remove("t.trace"), 0);
        nothing_left();
    }
}
END_TEST

START_TEST(test_out_of_memory)
{
    /* 64 reuse rings of 2^20 page indices (512 MiB) under a 256 MiB
     * address space: the generator cannot be created, exit 1. Not under
     * AddressSanitizer (its shadow memory needs the address space). */
#if !defined(__SANITIZE_ADDRESS__)
    how_t h = {.as = 256ull << 20};
    ck_assert_int_eq(run_how(g_tracegen,
                             (const char *[]){"--pasids", "64", "--window",
                                              "1048576", "--dmas", "0", NULL},
                             &h),
                     1);
    err_has("error: workload generator: out of memory");
    ck_assert(file_empty("cli.out"));
#endif
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tracegen");
    TCase *tc = tcase_create("cli");
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, tg_setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_option);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_help);
    tcase_add_test(tc, test_iommu_sim_replays_it);
    tcase_add_test(tc, test_bad_numbers);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_bad_usage);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
