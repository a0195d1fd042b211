/*
 * tests/traces/test_map_size.c - the page-size field of the map record
 * (docs/trace-format.md, "Records"): `4K`, `2M` or `1G` after
 * present|absent, 4 KiB when absent; with a size, <addr> and <len> must be
 * multiples of it, else a FILE:LINE:COL error at the field that is not;
 * the writer writes the field for huge pages only and reads back the same
 * record. The sizes are the x86 / VT-d leaf sizes of a 4-level table (VT-d
 * rev 5.0 section 3.6: 4 KiB, 2 MiB and 1 GiB first-stage pages).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check_run.h"
#include "traces/trace.h"

#define HDR "iommu-sim-trace 1\ntimeunit ns\n"

static sim_log_t g_log;

/* A reader over text (an in-memory stream named t.trace). */
static trace_reader_t *open_text(const char *text, FILE **f)
{
    *f = fmemopen((void *)text, strlen(text), "r");
    ck_assert_ptr_nonnull(*f);
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    trace_reader_t *r = trace_open_stream(*f, "t.trace", &g_log);
    ck_assert_msg(r != NULL, "open: %s", sim_log_last_error(&g_log));
    return r;
}

/* The one record of HDR + line (asserting it parses). */
static trace_record_t one(const char *line)
{
    char text[512];
    FILE *f;
    trace_record_t rec;
    snprintf(text, sizeof(text), HDR "%s\n", line);
    trace_reader_t *r = open_text(text, &f);
    int rc = trace_next(r, &rec);
    ck_assert_msg(rc == 1, "'%s': %d: %s", line, rc,
                  sim_log_last_error(&g_log));
    trace_close(r);
    fclose(f);
    return rec;
}

/* HDR + line is rejected with one error starting with `where` and
 * containing `phrase`. */
static void bad(const char *line, const char *where, const char *phrase)
{
    char text[512];
    FILE *f;
    trace_record_t rec;
    snprintf(text, sizeof(text), HDR "%s\n", line);
    trace_reader_t *r = open_text(text, &f);
    ck_assert_int_eq(trace_next(r, &rec), -EINVAL);
    const char *m = sim_log_last_error(&g_log);
    ck_assert_uint_eq(g_log.errors, 1);
    ck_assert_msg(strncmp(m, where, strlen(where)) == 0,
                  "'%s' does not start with '%s'", m, where);
    ck_assert_msg(strstr(m, phrase), "'%s' does not contain '%s'", m, phrase);
    trace_close(r);
    fclose(f);
}

START_TEST(test_sizes)
{
    /* No field: 4 KiB, as before the field existed. */
    trace_record_t r = one("0 map 0 1 0x7f0000001000 4K rw- absent");
    ck_assert_int_eq(r.page, TRACE_PAGE_4K);
    ck_assert_uint_eq(trace_page_shift(r.page), 12);
    r = one("0 map 0 1 0x7f0000001000 4K rw- absent 4K");
    ck_assert_int_eq(r.page, TRACE_PAGE_4K);
    r = one("0 map 0 1 0x7f0000200000 4M rw- present 2M # two pages");
    ck_assert_int_eq(r.page, TRACE_PAGE_2M);
    ck_assert_uint_eq(trace_page_shift(r.page), 21);
    ck_assert(r.present);
    ck_assert_uint_eq(r.len, 4ull << 20);
    r = one("0 map 0 1 0x7f0040000000 0x40000000 r-- absent\t1G");
    ck_assert_int_eq(r.page, TRACE_PAGE_1G);
    ck_assert_uint_eq(trace_page_shift(r.page), 30);
    ck_assert(!r.present);
}
END_TEST

START_TEST(test_errors)
{
    /* The column is the field that is not a multiple of the page size. */
    bad("0 map 0 1 0x7f0000001000 2M rw- absent 2M",
        "t.trace:3:11: ", "address 0x7f0000001000 is not 2M-aligned");
    bad("0 map 0 1 0x7f0000200000 3M rw- absent 2M",
        "t.trace:3:26: ", "length 0x300000 is not a multiple of 2M");
    bad("0 map 0 1 0x7f0000200000 2M rw- absent 1G",
        "t.trace:3:11: ", "not 1G-aligned");
    bad("0 map 0 1 0x7f0040000000 2M rw- absent 1G",
        "t.trace:3:26: ", "not a multiple of 1G");
    /* An explicit 4K checks too (the platform checks maps without it). */
    bad("0 map 0 1 0x7f0000000800 4K rw- absent 4K",
        "t.trace:3:11: ", "not 4K-aligned");
    /* Not a size: an unexpected field, naming what may stand there. */
    bad("0 map 0 1 0x7f0000200000 2M rw- absent 2m", "t.trace:3:40: ",
        "unexpected field '2m'; expected a page size 4K, 2M or 1G");
    bad("0 map 0 1 0x7f0000200000 2M rw- absent 2M x",
        "t.trace:3:43: ", "unexpected field 'x'; expected end of line");
    /* Only a map takes it. */
    bad("0 read 0 1 0x7f0000200000 64 2M",
        "t.trace:3:30: ", "unexpected field '2M'");
}
END_TEST

START_TEST(test_writer)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    trace_record_t recs[] = {
        {.op = TRACE_MAP,
         .dev = 1,
         .pasid = 2,
         .addr = 0x7f0000200000,
         .len = 0x400000,
         .perm = TRACE_PERM_R | TRACE_PERM_W,
         .present = true,
         .page = TRACE_PAGE_2M},
        {.op = TRACE_MAP,
         .time = 5,
         .dev = 1,
         .pasid = 2,
         .addr = 0x7f0040000000,
         .len = 0x40000000,
         .perm = TRACE_PERM_R,
         .page = TRACE_PAGE_1G},
        {.op = TRACE_MAP,
         .time = 6,
         .addr = 0x1000,
         .len = 0x1000,
         .perm = TRACE_PERM_R},
    };
    ck_assert_int_eq(trace_write_header(f), 0);
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(trace_write_record(f, &recs[i]), 0);
    /* A huge map that is not aligned to its page size is refused. */
    trace_record_t odd = recs[0];
    odd.addr += 0x1000;
    ck_assert_int_eq(trace_write_record(f, &odd), -EINVAL);
    fclose(f);
    ck_assert_str_eq(buf, "iommu-sim-trace 1\ntimeunit ps\n"
                          "0 map 1 2 0x7f0000200000 0x400000 rw- present 2M\n"
                          "5 map 1 2 0x7f0040000000 0x40000000 r-- absent 1G\n"
                          "6 map 0 0 0x1000 0x1000 r-- absent\n");
    FILE *in;
    trace_reader_t *r = open_text(buf, &in);
    for (unsigned i = 0; i < 3; i++) {
        trace_record_t rec;
        ck_assert_int_eq(trace_next(r, &rec), 1);
        ck_assert_int_eq(rec.page, recs[i].page);
        ck_assert_uint_eq(rec.addr, recs[i].addr);
        ck_assert_uint_eq(rec.len, recs[i].len);
    }
    trace_close(r);
    fclose(in);
    free(buf);
}
END_TEST

static Suite *map_size_suite(void)
{
    Suite *s = suite_create("trace_map_size");
    TCase *tc = tcase_create("map_size");
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_writer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(map_size_suite());
}
