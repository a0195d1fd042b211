/*
 * tests/sim/test_hist.c - the log-linear histogram: percentiles against the
 * exact nearest-rank values of sorted samples, exactness below 128, the
 * bucket error bound over the whole 64-bit range, exact count/min/max/mean,
 * merge, add_n, reset and the empty histogram.
 */
#include <check.h>

#include "tests/check_run.h"
#include <math.h>
#include <stdlib.h>

#include "sim/sim.h"

#define NSAMP 200000

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Exact nearest-rank percentile of sorted v[0..n-1]. */
static uint64_t exact_pct(const uint64_t *v, size_t n, double p)
{
    /* rank = ceil(p/100 * n), computed in integers for p with <= 1 decimal */
    uint64_t p10 = (uint64_t)llround(p * 10);
    uint64_t rank = (p10 * n + 999) / 1000;
    if (rank < 1)
        rank = 1;
    return v[rank - 1];
}

static void check_against_sorted(uint64_t *v, size_t n)
{
    sim_hist_t h;
    double sum = 0, sumsq = 0;
    static const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 100};

    ck_assert_int_eq(sim_hist_init(&h), 0);
    for (size_t i = 0; i < n; i++) {
        sim_hist_add(&h, v[i]);
        sum += (double)v[i];
        sumsq += (double)v[i] * (double)v[i];
    }
    qsort(v, n, sizeof(*v), u64_cmp);
    ck_assert_uint_eq(h.count, n);
    ck_assert_uint_eq(h.min, v[0]);
    ck_assert_uint_eq(h.max, v[n - 1]);
    ck_assert(h.sum == sum);
    ck_assert(sim_hist_mean(&h) == sum / (double)n);
    double m = sum / (double)n;
    double sd = sqrt(sumsq / (double)n - m * m);
    ck_assert_double_eq_tol(sim_hist_stdev(&h), sd, sd * 1e-9);
    for (unsigned k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        uint64_t exact = exact_pct(v, n, ps[k]);
        uint64_t got = sim_hist_percentile(&h, ps[k]);
        double rel = fabs((double)got - (double)exact) / (double)exact;
        if (exact < SIM_HIST_SUB)
            ck_assert_uint_eq(got, exact);
        ck_assert_msg(rel <= 0.01, "p%g: got %llu, exact %llu (rel %g)", ps[k],
                      (unsigned long long)got, (unsigned long long)exact, rel);
        /* In fact within the bucket bound 2^-(SUB_BITS+1). */
        ck_assert_msg(rel <= 1.0 / (2 * SIM_HIST_SUB) + 1e-12, "p%g: rel %g",
                      ps[k], rel);
    }
    ck_assert_uint_eq(sim_hist_percentile(&h, 100), v[n - 1]);
    ck_assert_uint_eq(sim_hist_percentile(&h, 0), v[0]);
    sim_hist_fini(&h);
}

static uint64_t clamp_ps(double x)
{
    if (x < 1)
        return 1;
    if (x > 1e12)
        return 1000000000000ull;
    return (uint64_t)llround(x);
}

START_TEST(test_uniform)
{
    uint64_t *v = malloc(NSAMP * sizeof(*v));
    sim_rng_t rng;

    sim_rng_seed(&rng, 1, "hist-uniform");
    for (size_t i = 0; i < NSAMP; i++)
        v[i] = 1 + sim_rng_below(&rng, 1000000000000ull);
    check_against_sorted(v, NSAMP);
    free(v);
}
END_TEST

START_TEST(test_exponential)
{
    uint64_t *v = malloc(NSAMP * sizeof(*v));
    sim_rng_t rng;

    sim_rng_seed(&rng, 2, "hist-exp");
    for (size_t i = 0; i < NSAMP; i++)
        v[i] = clamp_ps(-1e9 * log(1.0 - sim_rng_double(&rng)));
    check_against_sorted(v, NSAMP);
    free(v);
}
END_TEST

START_TEST(test_lognormal_wide)
{
    uint64_t *v = malloc(NSAMP * sizeof(*v));
    sim_rng_t rng;

    /* median 1e6 ps, sigma 4: spans 1 ps .. 1e12 ps (clamped). */
    sim_rng_seed(&rng, 3, "hist-lognormal");
    for (size_t i = 0; i < NSAMP; i++) {
        double u1 = 1.0 - sim_rng_double(&rng), u2 = sim_rng_double(&rng);
        double z = sqrt(-2 * log(u1)) * cos(2 * 3.14159265358979 * u2);
        v[i] = clamp_ps(1e6 * exp(4 * z));
    }
    check_against_sorted(v, NSAMP);
    free(v);
}
END_TEST

START_TEST(test_log_uniform)
{
    uint64_t *v = malloc(NSAMP * sizeof(*v));
    sim_rng_t rng;

    sim_rng_seed(&rng, 4, "hist-loguniform");
    for (size_t i = 0; i < NSAMP; i++)
        v[i] = clamp_ps(exp(sim_rng_double(&rng) * log(1e12)));
    check_against_sorted(v, NSAMP);
    free(v);
}
END_TEST

/* Small samples: every value below 128 is its own bucket. */
START_TEST(test_exact_below_128)
{
    sim_hist_t h;
    uint64_t v[SIM_HIST_SUB];

    ck_assert_int_eq(sim_hist_init(&h), 0);
    for (unsigned i = 0; i < SIM_HIST_SUB; i++) {
        v[i] = SIM_HIST_SUB - 1 - i;
        sim_hist_add(&h, v[i]);
    }
    qsort(v, SIM_HIST_SUB, sizeof(v[0]), u64_cmp);
    for (double p = 0.5; p <= 100; p += 0.5)
        ck_assert_uint_eq(sim_hist_percentile(&h, p),
                          exact_pct(v, SIM_HIST_SUB, p));
    sim_hist_fini(&h);
}
END_TEST

/* The bucket of any value holds it within 2^-8 relative (exact below 128),
 * checked over the whole 64-bit range via a rank strictly inside. */
START_TEST(test_bucket_bound_full_range)
{
    sim_hist_t h;
    sim_rng_t rng;

    ck_assert_int_eq(sim_hist_init(&h), 0);
    sim_rng_seed(&rng, 5, "hist-range");
    for (unsigned i = 0; i < 20000; i++) {
        unsigned shift = (unsigned)sim_rng_below(&rng, 64);
        uint64_t v = sim_rng_u64(&rng) >> shift;
        sim_hist_reset(&h);
        sim_hist_add(&h, 0);
        sim_hist_add(&h, v);
        sim_hist_add(&h, UINT64_MAX);
        uint64_t got = sim_hist_percentile(&h, 50); /* rank 2 of 3 */
        if (v < SIM_HIST_SUB) {
            ck_assert_uint_eq(got, v);
        } else {
            double rel = fabs((double)got - (double)v) / (double)v;
            ck_assert_msg(rel <= 1.0 / 256, "v=%llu got=%llu",
                          (unsigned long long)v, (unsigned long long)got);
        }
    }
    sim_hist_fini(&h);
}
END_TEST

START_TEST(test_merge_and_add_n)
{
    sim_hist_t a, b, all, n5;
    sim_rng_t rng;

    ck_assert_int_eq(sim_hist_init(&a), 0);
    ck_assert_int_eq(sim_hist_init(&b), 0);
    ck_assert_int_eq(sim_hist_init(&all), 0);
    ck_assert_int_eq(sim_hist_init(&n5), 0);
    sim_rng_seed(&rng, 6, "hist-merge");
    for (unsigned i = 0; i < 50000; i++) {
        uint64_t v = sim_rng_below(&rng, 1u << (i % 30));
        sim_hist_add(i % 3 ? &a : &b, v);
        sim_hist_add(&all, v);
    }
    sim_hist_merge(&a, &b);
    ck_assert_uint_eq(a.count, all.count);
    ck_assert_uint_eq(a.min, all.min);
    ck_assert_uint_eq(a.max, all.max);
    ck_assert_double_eq_tol(a.sum, all.sum, all.sum * 1e-12);
    for (unsigned i = 0; i < SIM_HIST_BUCKETS; i++)
        ck_assert_uint_eq(sim_hist_bucket(&a, i, NULL, NULL),
                          sim_hist_bucket(&all, i, NULL, NULL));
    for (double p = 1; p < 100; p += 7.3)
        ck_assert_uint_eq(sim_hist_percentile(&a, p),
                          sim_hist_percentile(&all, p));

    /* Merging into an empty histogram copies min and max. */
    sim_hist_t e;
    ck_assert_int_eq(sim_hist_init(&e), 0);
    sim_hist_merge(&e, &b);
    ck_assert_uint_eq(e.min, b.min);
    ck_assert_uint_eq(e.max, b.max);
    ck_assert_uint_eq(e.count, b.count);
    /* Merging an empty one changes nothing. */
    sim_hist_reset(&b);
    sim_hist_merge(&e, &b);
    ck_assert_uint_eq(e.count, 50000 / 3 + 1);

    /* add_n(v, 5) == 5 x add(v) */
    sim_hist_add_n(&n5, 1000, 5);
    sim_hist_add_n(&n5, 7, 0);
    ck_assert_uint_eq(n5.count, 5);
    ck_assert_uint_eq(n5.min, 1000);
    ck_assert(n5.sum == 5000.0);
    ck_assert(n5.sumsq == 5e6);
    ck_assert_uint_eq(sim_hist_percentile(&n5, 50), 1000);
    ck_assert(sim_hist_stdev(&n5) == 0.0);

    sim_hist_fini(&a);
    sim_hist_fini(&b);
    sim_hist_fini(&all);
    sim_hist_fini(&n5);
    sim_hist_fini(&e);
}
END_TEST

START_TEST(test_empty_and_reset)
{
    sim_hist_t h;

    ck_assert_int_eq(sim_hist_init(&h), 0);
    ck_assert_uint_eq(h.count, 0);
    ck_assert_uint_eq(sim_hist_percentile(&h, 50), 0);
    ck_assert_uint_eq(sim_hist_percentile(&h, 100), 0);
    ck_assert(sim_hist_mean(&h) == 0.0);
    ck_assert(sim_hist_stdev(&h) == 0.0);
    sim_hist_add(&h, 12345);
    sim_hist_add(&h, 99);
    ck_assert_uint_eq(h.min, 99);
    ck_assert_uint_eq(h.max, 12345);
    sim_hist_reset(&h);
    ck_assert_uint_eq(h.count, 0);
    ck_assert_uint_eq(h.min, 0);
    ck_assert_uint_eq(h.max, 0);
    ck_assert(h.sum == 0.0);
    ck_assert_uint_eq(sim_hist_percentile(&h, 99), 0);
    for (unsigned i = 0; i < SIM_HIST_BUCKETS; i++)
        ck_assert_uint_eq(sim_hist_bucket(&h, i, NULL, NULL), 0);
    sim_hist_add(&h, 5);
    ck_assert_uint_eq(h.min, 5);
    ck_assert_uint_eq(sim_hist_percentile(&h, 50), 5);
    sim_hist_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_uniform);
    tcase_add_test(tc, test_exponential);
    tcase_add_test(tc, test_lognormal_wide);
    tcase_add_test(tc, test_log_uniform);
    tcase_add_test(tc, test_exact_below_128);
    tcase_add_test(tc, test_bucket_bound_full_range);
    tcase_add_test(tc, test_merge_and_add_n);
    tcase_add_test(tc, test_empty_and_reset);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
