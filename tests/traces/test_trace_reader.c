/*
 * tests/traces/test_trace_reader.c - the text trace reader and writer
 * (traces/trace.h, docs/trace-format.md): every accepted form parses to the
 * exact record, every error class is reported once at the right
 * FILE:LINE:COL, and writer output reads back identically.
 *
 * Each test runs in a fresh mkdtemp directory (the working directory while
 * the test runs, so messages name "t.trace"), inside a per-case mkdtemp
 * directory that the runner removes whether or not the tests pass.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traces/trace.h"

#define HDR_NS "iommu-sim-trace 1\ntimeunit ns\n"
#define HDR_PS "iommu-sim-trace 1\ntimeunit ps\n"

static char g_root[PATH_MAX];     /* per test case, removed in any event */
static char g_dir[PATH_MAX + 16]; /* per test, the working directory */
static char g_oldcwd[PATH_MAX];
static sim_log_t g_log;

/* Unchecked (runs in the runner process): the case's root directory, so
 * that a failing test (whose checked teardown does not run) leaves nothing. */
static void root_setup(void)
{
    iommusim_mkdtemp(g_root, sizeof(g_root), "test_trace_reader");
}

static void root_teardown(void)
{
    iommusim_rm_tree(g_root);
}

static void setup(void)
{
    iommusim_enter_tmp(g_dir, sizeof(g_dir), g_root, g_oldcwd,
                       sizeof(g_oldcwd));
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
}

static void teardown(void)
{
    iommusim_leave_tmp(g_dir, g_oldcwd);
}

/* Write text to t.trace and open it (asserting success). */
static trace_reader_t *open_text(const char *text)
{
    trace_reader_t *r;

    iommusim_write_file("t.trace", text, strlen(text));
    r = trace_open("t.trace", &g_log);
    ck_assert_msg(r != NULL, "open failed: %s", sim_log_last_error(&g_log));
    return r;
}

/* Read all records of a valid trace; returns how many. */
static size_t read_all(const char *text, trace_record_t *recs, size_t max)
{
    trace_reader_t *r = open_text(text);
    trace_record_t rec;
    size_t n = 0;
    int rc;

    while ((rc = trace_next(r, &rec)) == 1) {
        ck_assert_uint_lt(n, max);
        recs[n++] = rec;
    }
    ck_assert_msg(rc == 0, "trace_next: %d: %s", rc,
                  sim_log_last_error(&g_log));
    ck_assert_int_eq(trace_next(r, &rec), 0); /* end is sticky */
    ck_assert_uint_eq(g_log.errors, 0);
    trace_close(r);
    return n;
}

/* Check the logged error: exactly one, starting with `where` (e.g.
 * "t.trace:5:9: ") and containing `phrase`. */
static void check_msg(const char *where, const char *phrase)
{
    const char *m = sim_log_last_error(&g_log);

    ck_assert_uint_eq(g_log.errors, 1);
    ck_assert_msg(strncmp(m, where, strlen(where)) == 0,
                  "message '%s' does not start with '%s'", m, where);
    ck_assert_msg(strstr(m, phrase) != NULL,
                  "message '%s' does not contain '%s'", m, phrase);
}

/*
 * Write len bytes to t.trace and read it; the error must come from
 * trace_open (at_open) or from trace_next as -EINVAL, after which further
 * calls return -EINVAL without logging again.
 */
static void expect_error_n(const char *text, size_t len, bool at_open,
                           const char *where, const char *phrase)
{
    trace_reader_t *r;
    trace_record_t rec;
    int rc;

    iommusim_write_file("t.trace", text, len);
    r = trace_open("t.trace", &g_log);
    if (at_open) {
        ck_assert_msg(r == NULL, "open succeeded; expected '%s'", phrase);
    } else {
        ck_assert_msg(r != NULL, "open failed: %s", sim_log_last_error(&g_log));
        while ((rc = trace_next(r, &rec)) == 1)
            ;
        ck_assert_int_eq(rc, -EINVAL);
        ck_assert_int_eq(trace_next(r, &rec), -EINVAL);
        trace_close(r);
    }
    check_msg(where, phrase);
}

static void expect_error(const char *text, bool at_open, const char *where,
                         const char *phrase)
{
    expect_error_n(text, strlen(text), at_open, where, phrase);
}

/* A record error on line 3 of a ns trace. */
static void expect_rec_error(const char *line3, const char *where,
                             const char *phrase)
{
    char text[512];

    snprintf(text, sizeof(text), HDR_NS "%s\n", line3);
    expect_error(text, false, where, phrase);
}

/* ------------------------------------------------------------ accepted */

START_TEST(test_basic_records)
{
    trace_record_t rec[8];
    size_t n = read_all("iommu-sim-trace 1\n"
                        "timeunit ns\n"
                        "0 map 3 5 0x7f0000000000 2M rw- absent\n"
                        "10 read 3 5 0x7f0000001000 64\n"
                        "20 write 3 5 0x7f0000002000 4K\n"
                        "30 unmap 3 5 0x7f0000000000 2M\n"
                        "40 map 0 0 4096 4096 r-x present\n",
                        rec, 8);

    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(rec[0].op, TRACE_MAP);
    ck_assert_uint_eq(rec[0].time, 0);
    ck_assert_uint_eq(rec[0].dev, 3);
    ck_assert_uint_eq(rec[0].pasid, 5);
    ck_assert_uint_eq(rec[0].addr, 0x7f0000000000ull);
    ck_assert_uint_eq(rec[0].len, 2u << 20);
    ck_assert_uint_eq(rec[0].perm, TRACE_PERM_R | TRACE_PERM_W);
    ck_assert(!rec[0].present);
    ck_assert_uint_eq(rec[0].line, 3);

    ck_assert_int_eq(rec[1].op, TRACE_READ);
    ck_assert_uint_eq(rec[1].time, 10 * SIM_NS);
    ck_assert_uint_eq(rec[1].addr, 0x7f0000001000ull);
    ck_assert_uint_eq(rec[1].len, 64);
    ck_assert_uint_eq(rec[1].perm, 0);
    ck_assert(!rec[1].present);
    ck_assert_uint_eq(rec[1].line, 4);

    ck_assert_int_eq(rec[2].op, TRACE_WRITE);
    ck_assert_uint_eq(rec[2].time, 20 * SIM_NS);
    ck_assert_uint_eq(rec[2].len, 4096);
    ck_assert_uint_eq(rec[2].line, 5);

    ck_assert_int_eq(rec[3].op, TRACE_UNMAP);
    ck_assert_uint_eq(rec[3].time, 30 * SIM_NS);
    ck_assert_uint_eq(rec[3].addr, 0x7f0000000000ull);
    ck_assert_uint_eq(rec[3].len, 2u << 20);
    ck_assert_uint_eq(rec[3].line, 6);

    ck_assert_int_eq(rec[4].op, TRACE_MAP);
    ck_assert_uint_eq(rec[4].time, 40 * SIM_NS);
    ck_assert_uint_eq(rec[4].dev, 0);
    ck_assert_uint_eq(rec[4].pasid, 0);
    ck_assert_uint_eq(rec[4].addr, 4096);
    ck_assert_uint_eq(rec[4].len, 4096);
    ck_assert_uint_eq(rec[4].perm, TRACE_PERM_R | TRACE_PERM_X);
    ck_assert(rec[4].present);
    ck_assert_uint_eq(rec[4].line, 7);
}
END_TEST

static sim_time_t one_time(const char *unit, const char *t)
{
    char text[256];
    trace_record_t rec[1] = {{0}};

    snprintf(text, sizeof(text),
             "iommu-sim-trace 1\ntimeunit %s\n%s read 0 0 0 1\n", unit, t);
    ck_assert_uint_eq(read_all(text, rec, 1), 1);
    return rec[0].time;
}

START_TEST(test_time_units_and_fractions)
{
    ck_assert_uint_eq(one_time("ps", "0"), 0);
    ck_assert_uint_eq(one_time("ps", "7"), 7);
    ck_assert_uint_eq(one_time("ps", "7.000"), 7);
    ck_assert_uint_eq(one_time("ps", "18446744073709551615"), UINT64_MAX);
    ck_assert_uint_eq(one_time("ns", "12"), 12000);
    ck_assert_uint_eq(one_time("ns", "12.5"), 12500);
    ck_assert_uint_eq(one_time("ns", "12.50"), 12500);
    ck_assert_uint_eq(one_time("ns", "0.001"), 1);
    ck_assert_uint_eq(one_time("ns", "1.234000000"), 1234);
    ck_assert_uint_eq(one_time("ns", "007"), 7000);
    ck_assert_uint_eq(one_time("us", "3"), 3000000);
    ck_assert_uint_eq(one_time("us", "1.000001"), 1000001);
    ck_assert_uint_eq(one_time("us", "0.25"), 250000);
    ck_assert_uint_eq(one_time("ms", "2"), 2000000000ull);
    ck_assert_uint_eq(one_time("ms", "0.000000001"), 1);
    ck_assert_uint_eq(one_time("ms", "1.5"), 1500000000ull);
    /* largest whole ms that fits, and the exact maximum with a fraction */
    ck_assert_uint_eq(one_time("ms", "18446744073"), 18446744073000000000ull);
    ck_assert_uint_eq(one_time("ms", "18446744073.709551615"), UINT64_MAX);
}
END_TEST

START_TEST(test_numbers_hex_dec_suffixes)
{
    trace_record_t rec[13];
    size_t n =
        read_all(HDR_PS "1 read 4294967295 0xfffff 0xffffffffffffffff 1\n"
                        "2 read 0 1048575 18446744073709551615 1\n"
                        "3 read 1 0XaBc 0XDEADbeef 0x10\n"
                        "4 read 2 00012 0x0000000000000000001000 16K\n"
                        "5 read 3 0x0 0 3M\n"
                        "6 unmap 4 0 0 2G\n"
                        "7 read 5 0 0 0x10K\n"
                        "8 unmap 6 0 0 16777215G\n"
                        "9 read 7 0 0xffffffffffff0000 0x10000\n"
                        "10 unmap 8 0 0 18446744073709551615\n"
                        "11 unmap 9 0 1 18446744073709551615\n"
                        "12 map 9 0 0x40000000 17179869183G --- absent\n",
                 rec, 13);

    ck_assert_uint_eq(n, 12);
    ck_assert_uint_eq(rec[0].dev, UINT32_MAX);
    ck_assert_uint_eq(rec[0].pasid, 0xfffff);
    ck_assert_uint_eq(rec[0].addr, UINT64_MAX);
    ck_assert_uint_eq(rec[0].len, 1);
    ck_assert_uint_eq(rec[1].pasid, 0xfffff);
    ck_assert_uint_eq(rec[1].addr, UINT64_MAX);
    ck_assert_uint_eq(rec[2].pasid, 0xabc);
    ck_assert_uint_eq(rec[2].addr, 0xdeadbeef);
    ck_assert_uint_eq(rec[2].len, 16);
    ck_assert_uint_eq(rec[3].pasid, 12);
    ck_assert_uint_eq(rec[3].addr, 0x1000);
    ck_assert_uint_eq(rec[3].len, 16384);
    ck_assert_uint_eq(rec[4].pasid, 0);
    ck_assert_uint_eq(rec[4].len, 3ull << 20);
    ck_assert_uint_eq(rec[5].len, 2ull << 30);
    ck_assert_uint_eq(rec[6].len, 16ull << 10);
    ck_assert_uint_eq(rec[7].len, 16777215ull << 30);
    ck_assert_uint_eq(rec[8].addr, 0xffffffffffff0000ull);
    ck_assert_uint_eq(rec[8].len, 0x10000);
    ck_assert_uint_eq(rec[9].len, UINT64_MAX);
    ck_assert_uint_eq(rec[10].addr, 1);
    ck_assert_uint_eq(rec[10].len, UINT64_MAX);
    ck_assert_int_eq(rec[11].op, TRACE_MAP);
    ck_assert_uint_eq(rec[11].addr, 1ull << 30);
    ck_assert_uint_eq(rec[11].len, 0ull - (1ull << 30));
    ck_assert_uint_eq(rec[11].perm, 0);
    /* Lengths above the largest DMA (1G) are unmaps (no size limit). */
    for (size_t i = 0; i < n; i++) {
        bool unmap = i == 5 || i == 7 || i == 9 || i == 10;
        ck_assert_int_eq(rec[i].op, i == 11 ? TRACE_MAP
                                    : unmap ? TRACE_UNMAP
                                            : TRACE_READ);
        ck_assert_uint_eq(rec[i].time, i + 1);
        ck_assert_uint_eq(rec[i].line, i + 3);
    }
}
END_TEST

START_TEST(test_comments_blanks_whitespace)
{
    trace_record_t rec[8];
    size_t n = read_all("# a trace\n"
                        "\n"
                        "   # indented comment\n"
                        "iommu-sim-trace 1   # magic\n"
                        "\t\n"
                        "# between\n"
                        "timeunit\tus # unit\n"
                        "1 read 0 0 0x1000 4K # trailing comment\n"
                        "\n"
                        "  2\tread\t1  2 \t 0x2000   8K#no space before\n"
                        "3 write 0 0 0x3000 1K\r\n"
                        "   \r\n"
                        "4 map 0 0 0x4000 4K rw present # t\r\n"
                        "#5 read 0 0 0 1\n"
                        "5 unmap 0 0 0x4000 4K#\n",
                        rec, 8);

    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(rec[0].op, TRACE_READ);
    ck_assert_uint_eq(rec[0].time, 1 * SIM_US);
    ck_assert_uint_eq(rec[0].len, 4096);
    ck_assert_uint_eq(rec[0].line, 8);
    ck_assert_uint_eq(rec[1].time, 2 * SIM_US);
    ck_assert_uint_eq(rec[1].dev, 1);
    ck_assert_uint_eq(rec[1].pasid, 2);
    ck_assert_uint_eq(rec[1].addr, 0x2000);
    ck_assert_uint_eq(rec[1].len, 8192);
    ck_assert_uint_eq(rec[1].line, 10);
    ck_assert_int_eq(rec[2].op, TRACE_WRITE);
    ck_assert_uint_eq(rec[2].len, 1024);
    ck_assert_uint_eq(rec[2].line, 11);
    ck_assert_int_eq(rec[3].op, TRACE_MAP);
    ck_assert_uint_eq(rec[3].perm, TRACE_PERM_R | TRACE_PERM_W);
    ck_assert(rec[3].present);
    ck_assert_uint_eq(rec[3].line, 13);
    ck_assert_int_eq(rec[4].op, TRACE_UNMAP);
    ck_assert_uint_eq(rec[4].time, 5 * SIM_US);
    ck_assert_uint_eq(rec[4].line, 15);
}
END_TEST

START_TEST(test_perms)
{
    static const struct {
        const char *text;
        unsigned perm;
    } cases[] = {
        {"r", TRACE_PERM_R},
        {"w", TRACE_PERM_W},
        {"x", TRACE_PERM_X},
        {"-", 0},
        {"rw", TRACE_PERM_R | TRACE_PERM_W},
        {"wr", TRACE_PERM_R | TRACE_PERM_W},
        {"rw-", TRACE_PERM_R | TRACE_PERM_W},
        {"r--", TRACE_PERM_R},
        {"-w-", TRACE_PERM_W},
        {"--x", TRACE_PERM_X},
        {"r-x", TRACE_PERM_R | TRACE_PERM_X},
        {"rwx", TRACE_PERM_R | TRACE_PERM_W | TRACE_PERM_X},
        {"xwr", TRACE_PERM_R | TRACE_PERM_W | TRACE_PERM_X},
        {"x-r", TRACE_PERM_R | TRACE_PERM_X},
        {"---", 0},
        {"--", 0},
    };
    char text[2048];
    size_t off = (size_t)snprintf(text, sizeof(text), HDR_NS);
    trace_record_t rec[32];
    size_t i, n = sizeof(cases) / sizeof(cases[0]);

    for (i = 0; i < n; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "%zu map 1 2 0x%zx000 4K %s %s\n", i, i + 1,
                                cases[i].text, i % 2 ? "present" : "absent");
    ck_assert_uint_eq(read_all(text, rec, 32), n);
    for (i = 0; i < n; i++) {
        ck_assert_msg(rec[i].perm == cases[i].perm, "perm '%s': got %u",
                      cases[i].text, rec[i].perm);
        ck_assert_int_eq(rec[i].present, i % 2 == 1);
        ck_assert_uint_eq(rec[i].addr, (i + 1) << 12);
        ck_assert_uint_eq(rec[i].line, i + 3);
    }
}
END_TEST

START_TEST(test_header_only_and_equal_times)
{
    trace_record_t rec[4];

    ck_assert_uint_eq(read_all(HDR_NS, rec, 4), 0);
    ck_assert_uint_eq(read_all(HDR_NS "# nothing\n\n", rec, 4), 0);
    ck_assert_uint_eq(read_all(HDR_NS "5 read 0 0 0 1\n5 write 0 0 0 1\n"
                                      "5.000 read 0 0 0 1\n",
                               rec, 4),
                      3);
    ck_assert_uint_eq(rec[2].time, 5000);
}
END_TEST

/* A line of exactly TRACE_MAX_LINE bytes is accepted, one more is not. */
START_TEST(test_max_line_length)
{
    char *text = malloc(3 * TRACE_MAX_LINE);
    const char *rec_line = "1 read 0 0 0x1000 1 #";
    size_t hl = strlen(HDR_NS), rl = strlen(rec_line);
    trace_reader_t *r;
    trace_record_t rec;

    ck_assert_ptr_nonnull(text);
    memcpy(text, HDR_NS, hl);
    memcpy(text + hl, rec_line, rl);
    memset(text + hl + rl, 'c', TRACE_MAX_LINE - rl);
    strcpy(text + hl + TRACE_MAX_LINE, "\n2 read 0 0 0 1\n");
    r = open_text(text);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.addr, 0x1000);
    ck_assert_uint_eq(rec.line, 3);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.line, 4);
    ck_assert_int_eq(trace_next(r, &rec), 0);
    trace_close(r);

    /* one byte more */
    memset(text + hl + rl, 'c', TRACE_MAX_LINE + 1 - rl);
    strcpy(text + hl + TRACE_MAX_LINE + 1, "\n2 read 0 0 0 1\n");
    expect_error(text, false,
                 "t.trace:3:4097: ", "line longer than 4096 bytes");
    free(text);
}
END_TEST

/* Long lines of many lengths, so that lines straddle every read-buffer
 * refill at varied offsets; also blank lines in between. */
START_TEST(test_long_lines_across_buffers)
{
    enum { N = 200 };
    FILE *f = fopen("long.trace", "w");
    trace_reader_t *r;
    trace_record_t rec;
    uint64_t line = 3;
    int i, len;

    ck_assert_ptr_nonnull(f);
    fputs(HDR_PS, f);
    for (i = 0; i < N; i++) {
        int pad = TRACE_MAX_LINE - (i * 397) % TRACE_MAX_LINE;
        len = fprintf(f, "%d write %d %d 0x%x 0x%x #", i, i, i % 16, i << 12,
                      i + 1);
        for (; len < pad; len++)
            fputc('a' + i % 26, f);
        fputc('\n', f);
        if (i % 7 == 0)
            fputs("\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);

    r = trace_open("long.trace", &g_log);
    ck_assert_ptr_nonnull(r);
    for (i = 0; i < N; i++) {
        ck_assert_msg(trace_next(r, &rec) == 1, "record %d: %s", i,
                      sim_log_last_error(&g_log));
        ck_assert_int_eq(rec.op, TRACE_WRITE);
        ck_assert_uint_eq(rec.time, (uint64_t)i);
        ck_assert_uint_eq(rec.dev, (uint32_t)i);
        ck_assert_uint_eq(rec.pasid, (uint32_t)(i % 16));
        ck_assert_uint_eq(rec.addr, (uint64_t)i << 12);
        ck_assert_uint_eq(rec.len, (uint64_t)i + 1);
        ck_assert_uint_eq(rec.line, line);
        line += (i % 7 == 0) ? 2 : 1;
    }
    ck_assert_int_eq(trace_next(r, &rec), 0);
    trace_close(r);
}
END_TEST

START_TEST(test_stream_and_stdin)
{
    static const char text[] = HDR_NS "1 read 0 0 0 1\n2 read 0 0 0 1\n";
    trace_reader_t *r;
    trace_record_t rec;
    FILE *f;

    /* a stream is not closed by trace_close */
    f = fmemopen((void *)text, sizeof(text) - 1, "r");
    ck_assert_ptr_nonnull(f);
    r = trace_open_stream(f, "mem", &g_log);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(trace_name(r), "mem");
    ck_assert_uint_eq(trace_line(r), 2);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(trace_line(r), 3);
    trace_close(r);
    ck_assert_int_eq(fclose(f), 0);

    /* "-" reads standard input */
    iommusim_write_file("in.trace", text, sizeof(text) - 1);
    ck_assert_ptr_nonnull(freopen("in.trace", "r", stdin));
    r = trace_open("-", &g_log);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.time, 1000);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.time, 2000);
    ck_assert_uint_eq(rec.line, 4);
    ck_assert_int_eq(trace_next(r, &rec), 0);
    trace_close(r);
    ck_assert_uint_eq(g_log.errors, 0);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(test_err_missing_file_and_directory)
{
    ck_assert_ptr_null(trace_open("nofile.trace", &g_log));
    check_msg("nofile.trace: cannot open: ", "No such file or directory");

    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_int_eq(mkdir("adir", 0700), 0);
    ck_assert_ptr_null(trace_open("adir", &g_log));
    check_msg("adir: cannot open: ", "Is a directory");
}
END_TEST

START_TEST(test_err_empty)
{
    expect_error("", true, "t.trace:1:1: ",
                 "empty trace; expected header 'iommu-sim-trace 1'");
}
END_TEST

START_TEST(test_err_only_comments)
{
    expect_error("# just\n\n   # comments\n", true, "t.trace:1:1: ",
                 "empty trace; expected header 'iommu-sim-trace 1'");
}
END_TEST

START_TEST(test_err_binary)
{
    static const char elf[] = "\x7f"
                              "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";

    expect_error_n(elf, sizeof(elf) - 1, true,
                   "t.trace:1:1: ", "binary data; expected a text trace");
}
END_TEST

START_TEST(test_err_nul_byte)
{
    static const char text[] = HDR_NS "# c\n100 read \0 0 0x1000 4K\n";

    expect_error_n(text, sizeof(text) - 1, false,
                   "t.trace:4:10: ", "NUL byte in text trace (binary file?)");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    /* in a comment, too */
    static const char text2[] = HDR_NS "1 read 0 0 0 1 # a\0b\n";
    expect_error_n(text2, sizeof(text2) - 1, false,
                   "t.trace:3:19: ", "NUL byte");
}
END_TEST

START_TEST(test_err_compressed)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *name;
    } cases[] = {
        {"\x1f\x8b\x08\x00\x00\x00\x00\x00", 8, "gzip-compressed"},
        {"\x28\xb5\x2f\xfd\x04\x58", 6, "zstd-compressed"},
        {"\xfd"
         "7zXZ\0\0\x04",
         8, "xz-compressed"},
        {"BZh91AY&SY", 10, "bzip2-compressed"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
        expect_error_n(cases[i].magic, cases[i].len, true,
                       "t.trace:1:1: ", cases[i].name);
        check_msg("t.trace:1:1: ", "not supported");
    }
}
END_TEST

START_TEST(test_err_truncated)
{
    expect_error(HDR_NS "1 read 0 0 0x1000 4K\n2 read 0 0 0x1000 4K", false,
                 "t.trace:4:21: ", "truncated trace");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error(HDR_NS "# no newline", false,
                 "t.trace:3:13: ", "truncated trace");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1", true,
                 "t.trace:1:18: ", "truncated trace");
}
END_TEST

/* A 5 MB line: an error at column 4097, found without reading the line. */
START_TEST(test_err_huge_line)
{
    const size_t big = 5u << 20;
    FILE *f = fopen("big.trace", "wb");
    trace_reader_t *r;
    trace_record_t rec;
    char *chunk = malloc(1 << 16);
    size_t done;

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(chunk);
    memset(chunk, 'a', 1 << 16);
    fputs(HDR_NS "1 read 0 0 0 1\n2 read 0 0 0 1 # ", f);
    for (done = 0; done < big; done += 1 << 16)
        ck_assert_uint_eq(fwrite(chunk, 1, 1 << 16, f), 1 << 16);
    fputs("\n3 read 0 0 0 1\n", f);
    ck_assert_int_eq(fclose(f), 0);
    free(chunk);

    f = fopen("big.trace", "rb");
    ck_assert_ptr_nonnull(f);
    r = trace_open_stream(f, "big.trace", &g_log);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_int_eq(trace_next(r, &rec), -EINVAL);
    check_msg("big.trace:4:4097: ", "line longer than 4096 bytes");
    /* stopped at the first error, having read a bounded prefix */
    ck_assert_int_eq(trace_next(r, &rec), -EINVAL);
    ck_assert_uint_eq(g_log.errors, 1);
    ck_assert_int_lt(ftell(f), 1 << 20);
    trace_close(r);
    fclose(f);

    /* the same line without any newline is too long, not truncated */
    f = fopen("big2.trace", "wb");
    ck_assert_ptr_nonnull(f);
    fputs(HDR_NS, f);
    for (done = 0; done < big; done += 4096)
        fputs("0123456789abcdef", f);
    ck_assert_int_eq(fclose(f), 0);
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    r = trace_open("big2.trace", &g_log);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(trace_next(r, &rec), -EINVAL);
    check_msg("big2.trace:3:4097: ", "line longer than 4096 bytes");
    trace_close(r);
}
END_TEST

START_TEST(test_err_unknown_record)
{
    expect_error(HDR_NS
                 "1000000 read 0 0 0 1\n# comment\n1000000 raed 0 0 0 1\n",
                 false, "t.trace:5:9: ",
                 "unknown record 'raed'; expected map, unmap, read, write "
                 "or detach");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 READ 0 0 0 1",
                     "t.trace:3:3: ", "unknown record 'READ'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 mapx 0 0 0 1",
                     "t.trace:3:3: ", "unknown record 'mapx'");
}
END_TEST

START_TEST(test_err_overflow)
{
    expect_error(HDR_NS "1 read 0 0 0 1\n\n\n#\n"
                        "100 write 123456 7 0x1ffffffffffffffff 4K\n",
                 false, "t.trace:7:20: ",
                 "number '0x1ffffffffffffffff' overflows 64 bits");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 read 0 0 18446744073709551616 1", "t.trace:3:12: ",
                     "number '18446744073709551616' overflows 64 bits");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 read 0 0 0 0x10000000000000000",
                     "t.trace:3:14: ", "overflows 64 bits");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 read 0 0 0 17179869184G", "t.trace:3:14: ",
                     "number '17179869184G' overflows 64 bits");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 read 4294967296 0 0 1",
                     "t.trace:3:8: ", "device 4294967296 out of range");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("18446744073709552 read 0 0 0 1", "t.trace:3:1: ",
                     "time '18446744073709552' ns overflows 64 bits");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error(
        "iommu-sim-trace 1\ntimeunit ms\n18446744073.709551616 read 0 0 0 1\n",
        false, "t.trace:3:1: ", "overflows 64 bits");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("99999999999999999999999 read 0 0 0 1",
                     "t.trace:3:1: ", "overflows 64 bits");
}
END_TEST

START_TEST(test_err_missing_field)
{
    expect_rec_error("100 read 0 0 0x1000", "t.trace:3:20: ",
                     "missing field <len>; expected <time> read <dev> <pasid> "
                     "<addr> <len>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 read 0 0 0x1000   # no len",
                     "t.trace:3:20: ", "missing field <len>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100", "t.trace:3:4: ", "missing field <op>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 write", "t.trace:3:10: ",
                     "missing field <dev>; expected <time> write <dev>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 unmap 1", "t.trace:3:12: ",
                     "missing field <pasid>; expected <time> unmap <dev>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 read 1 2", "t.trace:3:13: ", "missing field <addr>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 map 1 2 0 4K", "t.trace:3:17: ",
                     "missing field <perm>; expected <time> map <dev> <pasid> "
                     "<addr> <len> <perm> present|absent");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 map 1 2 0 4K rw",
                     "t.trace:3:20: ", "missing field present|absent");
}
END_TEST

START_TEST(test_err_extra_field)
{
    expect_rec_error("100 read 0 0 0x1000 4K foo",
                     "t.trace:3:24: ", "unexpected field 'foo'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 map 0 0 0x1000 4K rw absent 1",
                     "t.trace:3:33: ", "unexpected field '1'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1 x\ntimeunit ns\n", true,
                 "t.trace:1:19: ", "unexpected field 'x'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1\ntimeunit ns ps\n", true,
                 "t.trace:2:13: ", "unexpected field 'ps'");
}
END_TEST

/* detach takes only <dev> <pasid>. */
START_TEST(test_detach)
{
    trace_record_t rec[2];
    ck_assert_uint_eq(
        read_all(HDR_NS "5 detach 3 0x10\n7 detach 0 0\n", rec, 2), 2);
    ck_assert_int_eq(rec[0].op, TRACE_DETACH);
    ck_assert_uint_eq(rec[0].time, 5000);
    ck_assert_uint_eq(rec[0].dev, 3);
    ck_assert_uint_eq(rec[0].pasid, 16);
    ck_assert_uint_eq(rec[0].addr, 0);
    ck_assert_uint_eq(rec[0].len, 0);
    ck_assert_uint_eq(rec[0].line, 3);
    ck_assert_uint_eq(rec[1].line, 4);
    ck_assert_str_eq(trace_op_name(TRACE_DETACH), "detach");
    expect_rec_error("100 detach 0", "t.trace:3:13: ", "missing field <pasid>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("100 detach 0 1 0x1000",
                     "t.trace:3:16: ", "unexpected field '0x1000'");
}
END_TEST

START_TEST(test_err_bad_fields)
{
    static const struct {
        const char *line;
        const char *where;
        const char *phrase;
    } cases[] = {
        {"1 read 0x1 0 0 1", "t.trace:3:8: ", "bad <dev> '0x1'"},
        {"1 read -1 0 0 1", "t.trace:3:8: ", "bad <dev> '-1'"},
        {"1 read 0 zz 0 1", "t.trace:3:10: ", "bad <pasid> 'zz'"},
        {"1 read 0 0 0x 1", "t.trace:3:12: ", "bad <addr> '0x'"},
        {"1 read 0 0 0x1g 1", "t.trace:3:12: ", "bad <addr> '0x1g'"},
        {"1 read 0 0 +5 1", "t.trace:3:12: ", "bad <addr> '+5'"},
        {"1 read 0 0 0 K", "t.trace:3:14: ", "bad <len> 'K'"},
        {"1 read 0 0 0 4k", "t.trace:3:14: ", "bad <len> '4k'"},
        {"1 read 0 0 0 4KB", "t.trace:3:14: ", "bad <len> '4KB'"},
        {"1 read 0 0 0 1.5", "t.trace:3:14: ", "bad <len> '1.5'"},
        {"1. read 0 0 0 1", "t.trace:3:1: ", "bad time '1.'"},
        {".5 read 0 0 0 1", "t.trace:3:1: ", "bad time '.5'"},
        {"-1 read 0 0 0 1", "t.trace:3:1: ", "bad time '-1'"},
        {"1e3 read 0 0 0 1", "t.trace:3:1: ", "bad time '1e3'"},
        {"0x10 read 0 0 0 1", "t.trace:3:1: ", "bad time '0x10'"},
        {"1.2.3 read 0 0 0 1", "t.trace:3:1: ", "bad time '1.2.3'"},
        {"1 map 0 0 0 1 rw maybe", "t.trace:3:18: ",
         "bad population 'maybe'; expected present or absent"},
        {"1 map 0 0 0 1 rw Present", "t.trace:3:18: ", "bad population"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
        expect_rec_error(cases[i].line, cases[i].where, cases[i].phrase);
    }
}
END_TEST

START_TEST(test_err_bad_perm)
{
    static const char *const bad[] = {"rwxr", "rr",  "q",    "rwz",
                                      "R",    "ww-", "----", "r,w"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[64], phrase[64];
        sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
        snprintf(line, sizeof(line), "1 map 0 0 0 4K %s absent", bad[i]);
        snprintf(phrase, sizeof(phrase), "bad permission '%s'", bad[i]);
        expect_rec_error(line, "t.trace:3:16: ", phrase);
    }
}
END_TEST

START_TEST(test_err_pasid_range)
{
    expect_rec_error("1 read 0 0x100000 0 1", "t.trace:3:10: ",
                     "PASID 0x100000 out of range; expected <pasid> < 2^20");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 read 0 1048576 0 1",
                     "t.trace:3:10: ", "PASID 1048576 out of range");
}
END_TEST

START_TEST(test_err_zero_len)
{
    expect_rec_error("1 read 0 0 0x1000 0",
                     "t.trace:3:19: ", "zero length '0'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 map 0 0 0x1000 0x0 rw present",
                     "t.trace:3:18: ", "zero length '0x0'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 unmap 0 0 0x1000 0K",
                     "t.trace:3:20: ", "zero length '0K'; expected <len> > 0");
}
END_TEST

START_TEST(test_err_range_wraps)
{
    expect_rec_error("1 read 0 0 0xffffffffffff0000 0x10001", "t.trace:3:31: ",
                     "range 0xffffffffffff0000 + 0x10001 wraps past the end");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 read 0 0 0xffffffffffffffff 2",
                     "t.trace:3:31: ", "wraps");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 map 0 0 0x40000001 17179869183G rw absent",
                     "t.trace:3:22: ", "wraps");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_rec_error("1 map 0 0 1 17179869184G rw absent",
                     "t.trace:3:13: ", "overflows 64 bits");
}
END_TEST

START_TEST(test_err_time_backwards)
{
    expect_error(HDR_NS "100 read 0 0 0 1\n90 read 0 0 0 1\n", false,
                 "t.trace:4:1: ", "time goes backwards: 90 ns after 100 ns");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error(
        HDR_NS "12.5 read 0 0 0 1\n# x\n  12.25 read 0 0 0 1\n", false,
        "t.trace:5:3: ", "time goes backwards: 12.25 ns after 12.5 ns");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error(
        "iommu-sim-trace 1\ntimeunit us\n1.000001 read 0 0 0 1\n"
        "1 read 0 0 0 1\n",
        false, "t.trace:4:1: ", "time goes backwards: 1 us after 1.000001 us");
}
END_TEST

START_TEST(test_err_time_too_fine)
{
    expect_rec_error("1.0005 read 0 0 0 1",
                     "t.trace:3:1: ", "time '1.0005' ns is finer than 1 ps");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error(HDR_PS "1.5 read 0 0 0 1\n", false,
                 "t.trace:3:1: ", "finer than 1 ps");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1\ntimeunit ms\n0.0000000001 read 0 0 0 1\n",
                 false, "t.trace:3:1: ", "finer than 1 ps");
}
END_TEST

START_TEST(test_err_bad_header)
{
    expect_error("iommu-sim-trac 1\ntimeunit ns\n", true, "t.trace:1:1: ",
                 "bad header 'iommu-sim-trac'; expected 'iommu-sim-trace 1'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("# c\n  1 read 0 0 0 1\n", true,
                 "t.trace:2:3: ", "bad header '1'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace\ntimeunit ns\n", true,
                 "t.trace:1:16: ", "missing field <version>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace one\ntimeunit ns\n", true,
                 "t.trace:1:17: ", "bad trace version 'one'");
}
END_TEST

START_TEST(test_err_unsupported_version)
{
    expect_error("iommu-sim-trace 2\ntimeunit ns\n", true, "t.trace:1:17: ",
                 "unsupported trace version 2; this reader supports 1");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 0\ntimeunit ns\n", true,
                 "t.trace:1:17: ", "unsupported trace version 0");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 99999999999999999999\n", true,
                 "t.trace:1:17: ", "unsupported trace version");
}
END_TEST

START_TEST(test_err_bad_timeunit)
{
    expect_error("iommu-sim-trace 1\ntimeunit s\n", true, "t.trace:2:10: ",
                 "unknown time unit 's'; expected ps, ns, us or ms");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1\ntimeunit NS\n", true,
                 "t.trace:2:10: ", "unknown time unit 'NS'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1\ntimeunit\n", true,
                 "t.trace:2:9: ", "missing field <unit>");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1\n1 read 0 0 0 1\n", true, "t.trace:2:1: ",
                 "bad header line '1'; expected 'timeunit ps|ns|us|ms'");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    expect_error("iommu-sim-trace 1\n# c\n", true,
                 "t.trace:3:1: ", "missing timeunit line");
}
END_TEST

/* ------------------------------------------------------------ writer */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

START_TEST(test_round_trip)
{
    enum { N = 10000 };
    trace_record_t *in = calloc(N, sizeof(*in));
    uint64_t seed = 42, t = 0;
    trace_reader_t *r;
    trace_record_t out;
    FILE *f;
    size_t i;

    ck_assert_ptr_nonnull(in);
    for (i = 0; i < N; i++) {
        trace_record_t *p = &in[i];
        uint64_t x = splitmix(&seed);
        p->op = (trace_op_t)(x % 4);
        /* mostly small steps, some equal times, a few huge ones */
        x = splitmix(&seed);
        t += (x % 8 == 0) ? 0 : (x % 97 == 0) ? (x >> 20) : (x % 100000);
        p->time = t;
        p->dev = (uint32_t)splitmix(&seed);
        p->pasid = (uint32_t)(splitmix(&seed) & 0xfffff);
        x = splitmix(&seed);
        p->len = (x % 5 == 0) ? 1 + (splitmix(&seed) >> (x % 64))
                              : 1 + splitmix(&seed) % (1u << 22);
        /* a DMA is at most 1G (docs/trace-format.md, "Size limits") */
        if ((p->op == TRACE_READ || p->op == TRACE_WRITE) &&
            p->len > (1ull << 30))
            p->len = 1 + p->len % (1ull << 30);
        x = splitmix(&seed);
        /* highest start address that does not wrap */
        uint64_t top = UINT64_MAX - (p->len - 1);
        p->addr = (x % 7 == 0)        ? top
                  : top == UINT64_MAX ? splitmix(&seed)
                                      : splitmix(&seed) % (top + 1);
        if (p->op == TRACE_MAP) {
            p->perm = (unsigned)(splitmix(&seed) & 7);
            /* a present map is at most 64G (same) */
            p->present = (splitmix(&seed) & 1) && p->len <= (64ull << 30);
        }
        p->line = i + 3;
    }
    in[0].addr = 0;
    in[0].time = 0;

    f = fopen("rt.trace", "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(trace_write_header(f), 0);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(trace_write_record(f, &in[i]), 0);
    ck_assert_int_eq(fclose(f), 0);

    r = trace_open("rt.trace", &g_log);
    ck_assert_ptr_nonnull(r);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(trace_next(r, &out), 1);
        ck_assert_int_eq(out.op, in[i].op);
        ck_assert_uint_eq(out.time, in[i].time);
        ck_assert_uint_eq(out.dev, in[i].dev);
        ck_assert_uint_eq(out.pasid, in[i].pasid);
        ck_assert_uint_eq(out.addr, in[i].addr);
        ck_assert_uint_eq(out.len, in[i].len);
        ck_assert_uint_eq(out.perm, in[i].perm);
        ck_assert_int_eq(out.present, in[i].present);
        ck_assert_uint_eq(out.line, in[i].line);
    }
    ck_assert_int_eq(trace_next(r, &out), 0);
    ck_assert_uint_eq(g_log.errors, 0);
    trace_close(r);
    free(in);
}
END_TEST

START_TEST(test_writer_format_and_rejects)
{
    char buf[512];
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    trace_record_t rec = {.op = TRACE_MAP,
                          .time = 12500,
                          .dev = 3,
                          .pasid = 0x12,
                          .addr = 0x7f0000000000ull,
                          .len = 0x200000,
                          .perm = TRACE_PERM_R | TRACE_PERM_X,
                          .present = true};
    trace_record_t bad;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(trace_write_header(f), 0);
    ck_assert_int_eq(trace_write_record(f, &rec), 0);
    rec.op = TRACE_READ;
    rec.len = 64;
    ck_assert_int_eq(trace_write_record(f, &rec), 0);
    rec.op = TRACE_MAP;
    rec.perm = 0;
    rec.present = false;
    ck_assert_int_eq(trace_write_record(f, &rec), 0);

    bad = rec;
    bad.len = 0;
    ck_assert_int_eq(trace_write_record(f, &bad), -EINVAL);
    bad = rec;
    bad.pasid = 1u << 20;
    ck_assert_int_eq(trace_write_record(f, &bad), -EINVAL);
    bad = rec;
    bad.addr = UINT64_MAX;
    bad.len = 2;
    ck_assert_int_eq(trace_write_record(f, &bad), -EINVAL);
    bad = rec;
    bad.perm = 8;
    ck_assert_int_eq(trace_write_record(f, &bad), -EINVAL);
    bad = rec;
    bad.op = (trace_op_t)7;
    ck_assert_int_eq(trace_write_record(f, &bad), -EINVAL);
    ck_assert_int_eq(fclose(f), 0);

    ck_assert_str_eq(buf, "iommu-sim-trace 1\n"
                          "timeunit ps\n"
                          "12500 map 3 18 0x7f0000000000 0x200000 r-x present\n"
                          "12500 read 3 18 0x7f0000000000 0x40\n"
                          "12500 map 3 18 0x7f0000000000 0x40 --- absent\n");

    ck_assert_str_eq(trace_op_name(TRACE_MAP), "map");
    ck_assert_str_eq(trace_op_name(TRACE_UNMAP), "unmap");
    ck_assert_str_eq(trace_op_name(TRACE_READ), "read");
    ck_assert_str_eq(trace_op_name(TRACE_WRITE), "write");
}
END_TEST

/* Near misses of the compressed-file magic numbers (gzip 1f 8b, zstd
 * 28 b5 2f fd, bzip2 "BZh1".."BZh9"; RFC 1952 2.3.1, RFC 8878 3.1.1, the
 * bzip2 format): not compressed, so they are read as text and fail as a
 * bad header, with non-printable bytes quoted as \xNN. A first token of
 * the header's length that differs is a bad header too. */
START_TEST(test_err_magic_near_misses)
{
    static const struct {
        const char *text, *quoted;
    } cases[] = {
        {"(a 1\ntimeunit ns\n", "bad header '(a'"},
        {"(\xb5z 1\ntimeunit ns\n", "bad header '(\\xb5z'"},
        {"(\xb5/z 1\ntimeunit ns\n", "bad header '(\\xb5/z'"},
        {"Bx 1\ntimeunit ns\n", "bad header 'Bx'"},
        {"BZx 1\ntimeunit ns\n", "bad header 'BZx'"},
        {"BZh0 1\ntimeunit ns\n", "bad header 'BZh0'"},
        {"BZhz 1\ntimeunit ns\n", "bad header 'BZhz'"},
        {"iommu-sim-trac3 1\ntimeunit ns\n", "bad header 'iommu-sim-trac3'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
        expect_error(cases[i].text, true, "t.trace:1:1: ", cases[i].quoted);
    }
}
END_TEST

/* A stream that cannot be read (opened for writing: EBADF) fails at open
 * with the errno's text; a stream without a name is "<stream>". */
START_TEST(test_err_read_error_at_open)
{
    FILE *f = fopen("w.trace", "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(trace_open_stream(f, "w.trace", &g_log));
    check_msg("w.trace:1: ", "read error: Bad file descriptor");
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_ptr_null(trace_open_stream(f, NULL, &g_log));
    check_msg("<stream>:1: ", "read error");
    fclose(f);

    static const char ok[] = HDR_NS "5 read 0 0 0x1000 1\n";
    f = fmemopen((void *)ok, sizeof(ok) - 1, "r");
    trace_reader_t *r = trace_open_stream(f, NULL, &g_log);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(trace_name(r), "<stream>");
    trace_close(r);
    fclose(f);
}
END_TEST

/* A source that delivers `len` bytes, then fails with EIO. */
typedef struct failing {
    const char *data;
    size_t len, pos;
} failing_t;

static ssize_t failing_read(void *c, char *buf, size_t n)
{
    failing_t *s = c;
    if (s->pos == s->len) {
        errno = EIO;
        return -1;
    }
    if (n > s->len - s->pos)
        n = s->len - s->pos;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

/* A read error after the first buffer (64 KiB) names the line being read:
 * the header (2 lines) and 655 comment lines of 100 bytes fit in the
 * first 65536 bytes, so the error is on line 658. */
START_TEST(test_err_read_error_later)
{
    size_t len = 30 + 100 * 700;
    char *data = malloc(len);
    memcpy(data, HDR_NS, 30);
    for (size_t i = 0; i < 700; i++) {
        char *l = data + 30 + 100 * i;
        l[0] = '#';
        memset(l + 1, 'c', 98);
        l[99] = '\n';
    }
    failing_t src = {data, len, 0};
    cookie_io_functions_t io = {.read = failing_read};
    FILE *f = fopencookie(&src, "r", io);
    ck_assert_ptr_nonnull(f);
    trace_reader_t *r = trace_open_stream(f, "c.trace", &g_log);
    ck_assert_ptr_nonnull(r);
    trace_record_t rec;
    ck_assert_int_eq(trace_next(r, &rec), -EIO);
    ck_assert_int_eq(trace_next(r, &rec), -EIO); /* sticky, logged once */
    check_msg("c.trace:658: ", "read error: Input/output error");
    trace_close(r);
    fclose(f);
    free(data);
}
END_TEST

/* Writer output errors (-EIO), a page size out of range (-EINVAL), and
 * the names of values outside the enums ("?", 4K / 12 bits). */
START_TEST(test_writer_errors_and_names)
{
    FILE *ro = fopen("/dev/null", "r");
    trace_record_t rec = {.op = TRACE_READ, .len = 1};
    ck_assert_int_eq(trace_write_header(ro), -EIO);
    ck_assert_int_eq(trace_write_record(ro, &rec), -EIO);
    fclose(ro);
    FILE *f = fopen("/dev/null", "w");
    ck_assert_int_eq(trace_write_record(f, &rec), 0);
    rec.page = (trace_page_t)7;
    ck_assert_int_eq(trace_write_record(f, &rec), -EINVAL);
    fclose(f);
    ck_assert_str_eq(trace_op_name((trace_op_t)9), "?");
    ck_assert_str_eq(trace_page_name((trace_page_t)9), "4K");
    ck_assert_uint_eq(trace_page_shift((trace_page_t)9), 12);
    ck_assert_uint_eq(trace_page_shift(TRACE_PAGE_4K), 12);
    ck_assert_uint_eq(trace_page_shift(TRACE_PAGE_2M), 21);
    ck_assert_uint_eq(trace_page_shift(TRACE_PAGE_1G), 30);
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace_reader");
    TCase *ok = tcase_create("accepted");
    TCase *err = tcase_create("errors");
    TCase *wr = tcase_create("writer");

    tcase_add_unchecked_fixture(ok, root_setup, root_teardown);
    tcase_add_checked_fixture(ok, setup, teardown);
    tcase_add_test(ok, test_basic_records);
    tcase_add_test(ok, test_time_units_and_fractions);
    tcase_add_test(ok, test_numbers_hex_dec_suffixes);
    tcase_add_test(ok, test_comments_blanks_whitespace);
    tcase_add_test(ok, test_perms);
    tcase_add_test(ok, test_header_only_and_equal_times);
    tcase_add_test(ok, test_max_line_length);
    tcase_add_test(ok, test_long_lines_across_buffers);
    tcase_add_test(ok, test_stream_and_stdin);
    suite_add_tcase(s, ok);

    tcase_add_unchecked_fixture(err, root_setup, root_teardown);
    tcase_add_checked_fixture(err, setup, teardown);
    tcase_add_test(err, test_err_missing_file_and_directory);
    tcase_add_test(err, test_err_empty);
    tcase_add_test(err, test_err_only_comments);
    tcase_add_test(err, test_err_binary);
    tcase_add_test(err, test_err_nul_byte);
    tcase_add_test(err, test_err_compressed);
    tcase_add_test(err, test_err_truncated);
    tcase_add_test(err, test_err_huge_line);
    tcase_add_test(err, test_err_unknown_record);
    tcase_add_test(err, test_err_overflow);
    tcase_add_test(err, test_err_missing_field);
    tcase_add_test(err, test_err_extra_field);
    tcase_add_test(err, test_detach);
    tcase_add_test(err, test_err_bad_fields);
    tcase_add_test(err, test_err_bad_perm);
    tcase_add_test(err, test_err_pasid_range);
    tcase_add_test(err, test_err_zero_len);
    tcase_add_test(err, test_err_range_wraps);
    tcase_add_test(err, test_err_time_backwards);
    tcase_add_test(err, test_err_time_too_fine);
    tcase_add_test(err, test_err_bad_header);
    tcase_add_test(err, test_err_unsupported_version);
    tcase_add_test(err, test_err_bad_timeunit);
    tcase_add_test(err, test_err_magic_near_misses);
    tcase_add_test(err, test_err_read_error_at_open);
    tcase_add_test(err, test_err_read_error_later);
    suite_add_tcase(s, err);

    tcase_add_unchecked_fixture(wr, root_setup, root_teardown);
    tcase_add_checked_fixture(wr, setup, teardown);
    tcase_add_test(wr, test_round_trip);
    tcase_add_test(wr, test_writer_format_and_rejects);
    tcase_add_test(wr, test_writer_errors_and_names);
    suite_add_tcase(s, wr);
    return s;
}

int main(void)
{
    return iommusim_run_suite(trace_suite());
}
