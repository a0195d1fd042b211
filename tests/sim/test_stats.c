/*
 * tests/sim/test_stats.c - the statistics registry: text and JSON output of
 * a known set of statistics, registration order, time-weighted gauges,
 * duplicate names, lookups and byte-identical repeated output.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

/* Run a writer into a memory buffer; returns a malloc'ed string. */
static char *capture(int (*w)(sim_stats_t *, FILE *, sim_time_t),
                     sim_stats_t *st, sim_time_t now)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(w(st, f, now), 0);
    fclose(f);
    return buf;
}

/*
 * A counter of 42, a scalar of 2.5, a gauge that is 0 on [0,100), 2 on
 * [100,300) and 4 on [300,400] (mean 800/400 = 2, max 4), a histogram of
 * {10, 30, 10, 30} (mean 20, stdev 10, p50 10, p90.. 30) and an integral
 * scalar 3.
 */
static sim_stats_t *make_known(void)
{
    sim_stats_t *st = sim_stats_create();
    ck_assert_ptr_nonnull(st);
    sim_counter_t *c = sim_stats_counter(st, "x.y", "things seen", "things");
    double *s = sim_stats_scalar(st, "x.rate", "throughput", "GB/s");
    sim_gauge_t *g = sim_stats_gauge(st, "q.len", "queue length", "entries");
    sim_hist_t *h = sim_stats_hist(st, "lat", "latency", "ps");
    double *s3 = sim_stats_scalar(st, "a.three", "three", "");
    ck_assert(c && s && g && h && s3);
    c->value = 42;
    *s = 2.5;
    *s3 = 3.0;
    sim_gauge_set(g, 100, 2);
    sim_gauge_set(g, 300, 4);
    sim_hist_add(h, 10);
    sim_hist_add(h, 30);
    sim_hist_add(h, 10);
    sim_hist_add(h, 30);
    return st;
}

START_TEST(test_text_output)
{
    sim_stats_t *st = make_known();
    char *txt = capture(sim_stats_write_text, st, 400);
    const char *want = "x.y 42 # things seen (things)\n"
                       "x.rate 2.5 # throughput (GB/s)\n"
                       "q.len.mean 2 # queue length (entries)\n"
                       "q.len.max 4 # queue length (entries)\n"
                       "lat.count 4 # latency (samples)\n"
                       "lat.mean 20 # latency (ps)\n"
                       "lat.stdev 10 # latency (ps)\n"
                       "lat.min 10 # latency (ps)\n"
                       "lat.p50 10 # latency (ps)\n"
                       "lat.p90 30 # latency (ps)\n"
                       "lat.p99 30 # latency (ps)\n"
                       "lat.p999 30 # latency (ps)\n"
                       "lat.max 30 # latency (ps)\n"
                       "a.three 3 # three\n";
    ck_assert_str_eq(txt, want);
    /* Byte-identical on a second write. */
    char *again = capture(sim_stats_write_text, st, 400);
    ck_assert_str_eq(txt, again);
    free(txt);
    free(again);
    sim_stats_destroy(st);
}
END_TEST

START_TEST(test_json_output)
{
    sim_stats_t *st = make_known();
    char *js = capture(sim_stats_write_json, st, 400);
    const char *want =
        "{\n"
        "  \"x.y\": 42,\n"
        "  \"x.rate\": 2.5,\n"
        "  \"q.len\": {\"mean\": 2, \"max\": 4, \"desc\": \"queue length\", "
        "\"unit\": \"entries\"},\n"
        "  \"lat\": {\"count\": 4, \"mean\": 20, \"stdev\": 10, \"min\": 10, "
        "\"p50\": 10, \"p90\": 30, \"p99\": 30, \"p999\": 30, \"max\": 30, "
        "\"desc\": \"latency\", \"unit\": \"ps\"},\n"
        "  \"a.three\": 3\n"
        "}\n";
    ck_assert_str_eq(js, want);
    char *again = capture(sim_stats_write_json, st, 400);
    ck_assert_str_eq(js, again);
    free(js);
    free(again);
    sim_stats_destroy(st);
}
END_TEST

/* Fractions, non-finite values, escaping and an empty histogram. */
START_TEST(test_formatting_edge_cases)
{
    sim_stats_t *st = sim_stats_create();
    double *third = sim_stats_scalar(st, "third", "", "");
    double *nan_s = sim_stats_scalar(st, "bad", "not a number", "x");
    sim_hist_t *h = sim_stats_hist(st, "empty", "say \"hi\"\\\n", "ps");
    ck_assert(third && nan_s && h);
    *third = 1.0 / 3.0;
    *nan_s = NAN;

    char *txt = capture(sim_stats_write_text, st, 0);
    char want[1024];
    char third_txt[64];
    snprintf(third_txt, sizeof(third_txt), "%.10g", 1.0 / 3.0);
    snprintf(want, sizeof(want),
             "third %s\n"
             "bad nan # not a number (x)\n"
             "empty.count 0 # say \"hi\"\\\n (samples)\n"
             "empty.mean 0 # say \"hi\"\\\n (ps)\n"
             "empty.stdev 0 # say \"hi\"\\\n (ps)\n"
             "empty.min 0 # say \"hi\"\\\n (ps)\n"
             "empty.p50 0 # say \"hi\"\\\n (ps)\n"
             "empty.p90 0 # say \"hi\"\\\n (ps)\n"
             "empty.p99 0 # say \"hi\"\\\n (ps)\n"
             "empty.p999 0 # say \"hi\"\\\n (ps)\n"
             "empty.max 0 # say \"hi\"\\\n (ps)\n",
             third_txt);
    ck_assert_str_eq(txt, want);
    ck_assert_str_eq(third_txt, "0.3333333333");

    char *js = capture(sim_stats_write_json, st, 0);
    snprintf(
        want, sizeof(want),
        "{\n"
        "  \"third\": %s,\n"
        "  \"bad\": null,\n"
        "  \"empty\": {\"count\": 0, \"mean\": 0, \"stdev\": 0, \"min\": 0, "
        "\"p50\": 0, \"p90\": 0, \"p99\": 0, \"p999\": 0, \"max\": 0, "
        "\"desc\": \"say \\\"hi\\\"\\\\\\n\", \"unit\": \"ps\"}\n"
        "}\n",
        third_txt);
    ck_assert_str_eq(js, want);
    free(txt);
    free(js);
    sim_stats_destroy(st);

    /* An empty registry is still one JSON object. */
    st = sim_stats_create();
    js = capture(sim_stats_write_json, st, 0);
    ck_assert_str_eq(js, "{\n}\n");
    free(js);
    txt = capture(sim_stats_write_text, st, 0);
    ck_assert_str_eq(txt, "");
    free(txt);
    sim_stats_destroy(st);
}
END_TEST

START_TEST(test_gauge_time_weighted)
{
    sim_gauge_t g = {0};

    /* Starts at 0 at time 0. */
    ck_assert(sim_gauge_mean(&g, 0) == 0.0);
    sim_gauge_set(&g, 10, 5);  /* 0 on [0,10) */
    sim_gauge_add(&g, 20, 1);  /* 5 on [10,20), then 6 */
    sim_gauge_add(&g, 40, -6); /* 6 on [20,40), then 0 */
    /* integral = 50 + 120 = 170 over 50 */
    ck_assert_double_eq_tol(sim_gauge_mean(&g, 50), 170.0 / 50, 1e-12);
    ck_assert(g.max == 6.0);
    ck_assert(g.value == 0.0);
    /* The current value counts up to `now`. */
    sim_gauge_set(&g, 50, 10);
    ck_assert_double_eq_tol(sim_gauge_mean(&g, 100), (170.0 + 500) / 100,
                            1e-12);

    /* A gauge with a later origin. */
    sim_gauge_t h = {.origin = 1000, .last = 1000};
    ck_assert(sim_gauge_mean(&h, 1000) == 0.0);
    sim_gauge_set(&h, 1500, 2);
    ck_assert_double_eq_tol(sim_gauge_mean(&h, 2000), 1000.0 / 1000, 1e-12);
    ck_assert(sim_gauge_mean(&h, 1500) == 0.0);
}
END_TEST

static void count_log(void *opaque, sim_log_level_t level, const char *msg)
{
    (void)level;
    (void)msg;
    (*(int *)opaque)++;
}

START_TEST(test_duplicates_and_lookup)
{
    sim_stats_t *st = sim_stats_create();
    sim_log_t log;
    int sunk = 0;

    sim_log_init(&log, SIM_LOG_DEBUG, count_log, &sunk);
    sim_stats_set_log(st, &log);
    sim_counter_t *c = sim_stats_counter(st, "a.b", "d", "u");
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(sim_stats_counter(st, "a.b", "d", "u"));
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "'a.b'"));
    ck_assert_ptr_nonnull(
        strstr(sim_log_last_error(&log), "already registered"));
    ck_assert_ptr_null(sim_stats_hist(st, "a.b", "d", "u")); /* other kind */
    ck_assert_ptr_null(sim_stats_gauge(st, "a.b", "d", "u"));
    ck_assert_ptr_null(sim_stats_scalar(st, "a.b", "d", "u"));
    ck_assert_uint_eq(log.errors, 4);
    ck_assert_int_eq(sunk, 4);
    ck_assert_ptr_null(sim_stats_counter(st, "", "d", "u"));

    /* Many names: lookups stay right as the index grows. */
    char name[32];
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "s.%u", i);
        sim_counter_t *x = sim_stats_counter(st, name, "", "");
        ck_assert_ptr_nonnull(x);
        x->value = i;
    }
    for (unsigned i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "s.%u", i);
        sim_counter_t *x = sim_stats_find_counter(st, name);
        ck_assert_ptr_nonnull(x);
        ck_assert_uint_eq(x->value, i);
    }
    ck_assert_ptr_eq(sim_stats_find_counter(st, "a.b"), c);
    ck_assert_ptr_null(sim_stats_find_hist(st, "a.b"));
    ck_assert_ptr_null(sim_stats_find_gauge(st, "a.b"));
    ck_assert_ptr_null(sim_stats_find_scalar(st, "a.b"));
    ck_assert_ptr_null(sim_stats_find_counter(st, "nope"));
    sim_hist_t *h = sim_stats_hist(st, "h", "", "");
    sim_gauge_t *g = sim_stats_gauge(st, "g", "", "");
    double *s = sim_stats_scalar(st, "sc", "", "");
    ck_assert_ptr_eq(sim_stats_find_hist(st, "h"), h);
    ck_assert_ptr_eq(sim_stats_find_gauge(st, "g"), g);
    ck_assert_ptr_eq(sim_stats_find_scalar(st, "sc"), s);
    /* Registered objects start zeroed. */
    ck_assert_uint_eq(h->count, 0);
    ck_assert(g->value == 0 && g->integral == 0);
    ck_assert(*s == 0.0);

    /* The output is in registration order: a.b first, then s.0, s.1, ... */
    char *txt = capture(sim_stats_write_text, st, 0);
    ck_assert_ptr_eq(strstr(txt, "a.b 0 # d (u)\n"), txt);
    char *p0 = strstr(txt, "\ns.0 0\n"), *p1 = strstr(txt, "\ns.1 1\n"),
         *p2999 = strstr(txt, "\ns.2999 2999\n");
    ck_assert(p0 && p1 && p2999 && p0 < p1 && p1 < p2999);
    free(txt);
    sim_stats_destroy(st);
}
END_TEST

/* Infinite and large scalars (%.10g beyond 1e15, nan/inf in text, null in
 * JSON: JSON has no infinities, RFC 8259 section 6), and the JSON string
 * escapes of RFC 8259 section 7 for tab, CR and other control bytes. */
START_TEST(test_infinities_and_escapes)
{
    sim_stats_t *st = sim_stats_create();
    double *pinf = sim_stats_scalar(st, "pinf", "", "");
    double *ninf = sim_stats_scalar(st, "ninf", "", "");
    double *big = sim_stats_scalar(st, "big", "", "");
    sim_counter_t *c = sim_stats_counter(st, "c", "a\tb\rc\x01\x7f", NULL);
    ck_assert(pinf && ninf && big && c);
    *pinf = INFINITY;
    *ninf = -INFINITY;
    *big = 1e15;
    char *txt = capture(sim_stats_write_text, st, 0);
    ck_assert_str_eq(txt, "pinf inf\nninf -inf\nbig 1e+15\n"
                          "c 0 # a\tb\rc\x01\x7f\n");
    char *js = capture(sim_stats_write_json, st, 0);
    ck_assert_str_eq(js, "{\n  \"pinf\": null,\n  \"ninf\": null,\n"
                         "  \"big\": 1e+15,\n  \"c\": 0\n}\n");
    free(txt);
    free(js);
    sim_gauge_t *g = sim_stats_gauge(st, "g", "x\ty\rz\x02", "u");
    ck_assert_ptr_nonnull(g);
    js = capture(sim_stats_write_json, st, 0);
    ck_assert_ptr_nonnull(strstr(js,
                                 "\"g\": {\"mean\": 0, \"max\": 0, \"desc\": "
                                 "\"x\\ty\\rz\\u0002\", \"unit\": \"u\"}"));
    free(js);
    /* Output errors are reported. */
    FILE *ro = fopen("/dev/null", "r");
    ck_assert_int_eq(sim_stats_write_text(st, ro, 0), -EIO);
    ck_assert_int_eq(sim_stats_write_json(st, ro, 0), -EIO);
    fclose(ro);
    sim_stats_destroy(st);
    sim_stats_destroy(NULL);
}
END_TEST

/* Names: empty and NULL names are refused with a message; a NULL name
 * is found nowhere; a NULL description or unit is empty. */
START_TEST(test_names)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_stats_t *st = sim_stats_create();
    sim_stats_set_log(st, &log);
    ck_assert_ptr_null(sim_stats_counter(st, "", "d", "u"));
    ck_assert_str_eq(sim_log_last_error(&log), "stats: empty statistic name");
    ck_assert_ptr_null(sim_stats_hist(st, NULL, "d", "u"));
    ck_assert_uint_eq(log.errors, 2);
    ck_assert_ptr_null(sim_stats_find_counter(st, NULL));
    ck_assert_ptr_nonnull(sim_stats_scalar(st, "s", NULL, NULL));
    char *txt = capture(sim_stats_write_text, st, 0);
    ck_assert_str_eq(txt, "s 0\n");
    free(txt);
    sim_stats_destroy(st);
}
END_TEST

/* Histogram and gauge corners: merging a histogram whose range is wider
 * on both sides; a percentile whose rank underflows to 0 is the minimum;
 * resetting a histogram that was never initialised; a gauge's mean asked
 * for before its last change is the mean up to that change. */
START_TEST(test_hist_gauge_corners)
{
    sim_hist_t a, b;
    ck_assert_int_eq(sim_hist_init(&a), 0);
    ck_assert_int_eq(sim_hist_init(&b), 0);
    sim_hist_add(&a, 50);
    sim_hist_add(&a, 60);
    sim_hist_add(&b, 10);
    sim_hist_add(&b, 90);
    sim_hist_merge(&a, &b);
    ck_assert_uint_eq(a.count, 4);
    ck_assert_uint_eq(a.min, 10);
    ck_assert_uint_eq(a.max, 90);
    ck_assert(sim_hist_mean(&a) == 52.5);
    /* 5e-324 / 100 is 0 in double: rank 0, taken as 1 (nearest rank). */
    ck_assert_uint_eq(sim_hist_percentile(&a, 5e-324), 10);
    sim_hist_fini(&a);
    sim_hist_fini(&b);

    sim_hist_t z;
    memset(&z, 0, sizeof(z));
    z.count = 3;
    sim_hist_reset(&z);
    ck_assert_uint_eq(z.count, 0);
    for (unsigned r = 0; r < SIM_HIST_ROWS; r++)
        ck_assert_ptr_null(z.rows[r]);

    sim_gauge_t g;
    memset(&g, 0, sizeof(g));
    sim_gauge_set(&g, 100, 2); /* 0 on [0, 100) */
    sim_gauge_set(&g, 200, 4); /* 2 on [100, 200) */
    /* Asked at 150 (before the last change at 200): the mean to 200. */
    ck_assert(sim_gauge_mean(&g, 150) == 1.0);
    ck_assert(sim_gauge_mean(&g, 400) == (200.0 + 800.0) / 400.0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_text_output);
    tcase_add_test(tc, test_json_output);
    tcase_add_test(tc, test_formatting_edge_cases);
    tcase_add_test(tc, test_gauge_time_weighted);
    tcase_add_test(tc, test_duplicates_and_lookup);
    tcase_add_test(tc, test_infinities_and_escapes);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_hist_gauge_corners);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
