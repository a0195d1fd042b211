/*
 * tests/sim/test_dist.c - delay distributions and RNG streams: parsing
 * (accepts and every class of error), canonical format round trip, sample
 * means against sim_dist_mean, mixture weights, determinism and stream
 * independence.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static sim_dist_t parse_ok(const char *text)
{
    sim_dist_t d;
    char err[256];

    int rc = sim_dist_parse(text, &d, err, sizeof(err));
    ck_assert_msg(rc == 0, "'%s' rejected: %s", text, err);
    return d;
}

/* The parse must fail with a message containing `what`. */
static void parse_bad(const char *text, const char *what)
{
    sim_dist_t d;
    char err[256] = "";

    ck_assert_msg(sim_dist_parse(text, &d, err, sizeof(err)) == -EINVAL,
                  "'%s' accepted", text);
    ck_assert_msg(strstr(err, what) != NULL, "'%s': message '%s' lacks '%s'",
                  text, err, what);
}

static void assert_same(const sim_dist_t *x, const sim_dist_t *y)
{
    ck_assert_int_eq(x->kind, y->kind);
    ck_assert_uint_eq(x->nparts, y->nparts);
    for (unsigned i = 0; i < x->nparts; i++) {
        ck_assert_int_eq(x->part[i].kind, y->part[i].kind);
        ck_assert_msg(x->part[i].a == y->part[i].a, "a %.17g != %.17g",
                      x->part[i].a, y->part[i].a);
        ck_assert_msg(x->part[i].b == y->part[i].b, "b %.17g != %.17g",
                      x->part[i].b, y->part[i].b);
        ck_assert_msg(x->part[i].weight == y->part[i].weight,
                      "w %.17g != %.17g", x->part[i].weight, y->part[i].weight);
    }
}

START_TEST(test_parse_accepts)
{
    sim_dist_t d;

    d = parse_ok("250");
    ck_assert_int_eq(d.kind, SIM_DIST_FIXED);
    ck_assert_uint_eq(d.nparts, 1);
    ck_assert(d.part[0].a == 250000.0);
    d = parse_ok("250ns");
    ck_assert(d.part[0].a == 250000.0);
    d = parse_ok(" 1.5us ");
    ck_assert(d.part[0].a == 1.5e6);
    d = parse_ok("10ps");
    ck_assert(d.part[0].a == 10.0);
    d = parse_ok("2 ms");
    ck_assert(d.part[0].a == 2e9);
    d = parse_ok("1e3");
    ck_assert(d.part[0].a == 1e6);
    d = parse_ok("0.25");
    ck_assert(d.part[0].a == 250.0);
    d = parse_ok("fixed(0)");
    ck_assert(d.part[0].a == 0.0);
    d = parse_ok("fixed( 250 )");
    ck_assert_int_eq(d.kind, SIM_DIST_FIXED);
    ck_assert(d.part[0].a == 250000.0);
    d = parse_ok(" uniform( 100 , 300ns ) ");
    ck_assert_int_eq(d.kind, SIM_DIST_UNIFORM);
    ck_assert(d.part[0].a == 100000.0);
    ck_assert(d.part[0].b == 300000.0);
    d = parse_ok("uniform(5, 5)");
    ck_assert(d.part[0].a == d.part[0].b);
    d = parse_ok("exp(5us)");
    ck_assert_int_eq(d.kind, SIM_DIST_EXP);
    ck_assert(d.part[0].a == 5e6);
    d = parse_ok("lognormal(3000, 0.4)");
    ck_assert_int_eq(d.kind, SIM_DIST_LOGNORMAL);
    ck_assert(d.part[0].a == 3e6);
    ck_assert(d.part[0].b == 0.4);
    d = parse_ok("lognormal(1, 0)");
    ck_assert(d.part[0].b == 0.0);
    d = parse_ok("mix(0.97: lognormal(2us, 0.4), 0.03: uniform(10us, 100us))");
    ck_assert_int_eq(d.kind, SIM_DIST_MIX);
    ck_assert_uint_eq(d.nparts, 2);
    ck_assert_int_eq(d.part[0].kind, SIM_DIST_LOGNORMAL);
    ck_assert_int_eq(d.part[1].kind, SIM_DIST_UNIFORM);
    ck_assert_double_eq_tol(d.part[0].weight, 0.97, 1e-15);
    ck_assert_double_eq_tol(d.part[1].weight, 0.03, 1e-15);
    ck_assert(d.part[0].a == 2e6);
    ck_assert(d.part[1].b == 1e8);
    d = parse_ok("mix(3: 1, 1: fixed(2))"); /* weights normalised */
    ck_assert(d.part[0].weight == 0.75);
    ck_assert(d.part[1].weight == 0.25);
    ck_assert_int_eq(d.part[0].kind, SIM_DIST_FIXED);
    d = parse_ok("mix(1: exp(1), 1: exp(2), 1: exp(3), 1: exp(4))");
    ck_assert_uint_eq(d.nparts, SIM_DIST_MIX_MAX);
    ck_assert(d.part[3].weight == 0.25);
}
END_TEST

START_TEST(test_parse_rejects)
{
    parse_bad("", "empty");
    parse_bad("   ", "empty");
    parse_bad("foo(1)", "unknown distribution 'foo'");
    parse_bad("normal(1, 2)", "expected fixed, uniform, exp, lognormal or mix");
    parse_bad("uniform(300, 100)", "greater than");
    parse_bad("uniform(300, 100)", "expected a <= b");
    parse_bad("exp(0)", "mean must be positive");
    parse_bad("lognormal(0, 1)", "median must be positive");
    parse_bad("lognormal(1, -1)", "sigma '-1' is negative");
    parse_bad("lognormal(1us, 0.5ns)", "sigma takes no unit");
    parse_bad("-5", "negative");
    parse_bad("uniform(-1, 5)", "negative");
    parse_bad("fixed(abc)", "expected fixed delay (a number)");
    parse_bad("fixed(5s)", "unknown unit 's'");
    parse_bad("250 xyz", "unknown unit 'xyz'");
    parse_bad("250)", "unexpected ')' after the distribution");
    parse_bad("exp(5) exp(6)", "unexpected 'exp(6)'");
    parse_bad("uniform(1, 2", "expected ')'");
    parse_bad("uniform(1 2)", "expected ','");
    parse_bad("exp 5", "expected '('");
    parse_bad("mix(0: fixed(1))", "weight must be positive");
    parse_bad("mix(-1: fixed(1))", "negative");
    parse_bad("mix(1 fixed(1))", "expected ':'");
    parse_bad("mix(1us: fixed(1))", "takes no unit");
    parse_bad("mix(1: mix(1: fixed(1)))", "cannot contain another mix");
    parse_bad(
        "mix(1: fixed(1), 1: fixed(1), 1: fixed(1), 1: fixed(1), 1: fixed(1))",
        "more than 4 parts");
    parse_bad("mix(1: fixed(1); 1: fixed(2))", "expected ',' or ')'");
    parse_bad("mix(1: fixed(1)", "expected ',' or ')'");
    parse_bad("1e400", "out of range");
    parse_bad("1e16ms", "too large");
    parse_bad(NULL, "no distribution");
}
END_TEST

static void round_trip(const sim_dist_t *d)
{
    char buf[512], err[256];
    sim_dist_t back;

    sim_dist_format(d, buf, sizeof(buf));
    ck_assert_msg(sim_dist_parse(buf, &back, err, sizeof(err)) == 0,
                  "'%s' does not parse: %s", buf, err);
    assert_same(d, &back);
    /* The canonical text is a fixed point. */
    char buf2[512];
    sim_dist_format(&back, buf2, sizeof(buf2));
    ck_assert_str_eq(buf, buf2);
}

START_TEST(test_format_round_trip)
{
    static const char *const texts[] = {
        "250",
        "0.1",
        "1.2345",
        "0.0005",
        "123456789.123",
        "3ps",
        "uniform(100, 300)",
        "uniform(0.001, 0.002)",
        "exp(5us)",
        "lognormal(3000, 0.4)",
        "lognormal(0.3333333, 1.7)",
        "mix(0.97: lognormal(2us, 0.4), 0.03: uniform(10us, 100us))",
        "mix(1: fixed(1), 2: fixed(2), 3: fixed(3))",
        "mix(0.1: exp(1), 0.2: exp(2), 0.3: exp(3), 0.7: exp(4))",
    };
    char buf[512];

    for (unsigned i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        sim_dist_t d = parse_ok(texts[i]);
        round_trip(&d);
    }
    sim_dist_t d = parse_ok("uniform(100, 300)");
    sim_dist_format(&d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "uniform(100, 300)");
    d = parse_ok("mix(3: lognormal(2us, 0.4), 1: 250)");
    sim_dist_format(&d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "mix(0.75: lognormal(2000, 0.4), 0.25: fixed(250))");
    d = sim_dist_fixed(1500);
    sim_dist_format(&d, buf, sizeof(buf));
    ck_assert_str_eq(buf, "fixed(1.5)");
    round_trip(&d);

    /* Random distributions with awkward values. */
    sim_rng_t rng;
    sim_rng_seed(&rng, 99, "dist-roundtrip");
    for (unsigned it = 0; it < 3000; it++) {
        sim_dist_t r;
        memset(&r, 0, sizeof(r));
        unsigned n = 1 + (unsigned)sim_rng_below(&rng, SIM_DIST_MIX_MAX);
        bool mix = it % 2;
        r.kind = mix ? SIM_DIST_MIX : SIM_DIST_FIXED;
        r.nparts = mix ? n : 1;
        double wsum = 0;
        for (unsigned i = 0; i < r.nparts; i++) {
            sim_dist_part_t *p = &r.part[i];
            p->kind = (sim_dist_kind_t)sim_rng_below(&rng, 4);
            p->a =
                sim_rng_double(&rng) * pow(10, (double)sim_rng_below(&rng, 12));
            if (p->kind == SIM_DIST_EXP || p->kind == SIM_DIST_LOGNORMAL)
                p->a += 1e-3;
            if (p->kind == SIM_DIST_UNIFORM)
                p->b = p->a + sim_rng_double(&rng) * 1e6;
            if (p->kind == SIM_DIST_LOGNORMAL)
                p->b = sim_rng_double(&rng) * 3;
            p->weight = 0.01 + sim_rng_double(&rng);
            wsum += p->weight;
        }
        if (!mix) {
            r.kind = r.part[0].kind;
            r.part[0].weight = 1.0;
            round_trip(&r);
            continue;
        }
        /* Normalise the way a parse would, by going through text. */
        char text[512];
        for (unsigned i = 0; i < r.nparts; i++)
            r.part[i].weight /= wsum;
        sim_dist_format(&r, text, sizeof(text));
        sim_dist_t parsed = parse_ok(text);
        double s = 0;
        for (unsigned i = 0; i < parsed.nparts; i++)
            s += parsed.part[i].weight;
        ck_assert_double_eq_tol(s, 1.0, 1e-15);
        round_trip(&parsed);
    }
}
END_TEST

static void check_mean(const char *text, unsigned n, const char *stream)
{
    sim_dist_t d = parse_ok(text);
    sim_rng_t rng;
    double sum = 0;

    sim_rng_seed(&rng, 2024, stream);
    for (unsigned i = 0; i < n; i++)
        sum += (double)sim_dist_draw(&d, &rng);
    double mean = sum / n, want = sim_dist_mean(&d);
    ck_assert_msg(fabs(mean - want) <= 0.01 * want,
                  "%s: sample mean %g, mean %g", text, mean, want);
}

START_TEST(test_sample_means)
{
    check_mean("250", 1000000, "m1");
    check_mean("uniform(100, 300)", 1000000, "m2");
    check_mean("exp(5us)", 1000000, "m3");
    check_mean("lognormal(3000, 0.4)", 1000000, "m4");
    check_mean("lognormal(100, 1)", 1000000, "m5");
    check_mean("mix(0.97: lognormal(2us, 0.4), 0.03: uniform(10us, 100us))",
               1000000, "m6");
    check_mean("mix(1: exp(100), 1: fixed(300))", 1000000, "m7");

    sim_dist_t d = parse_ok("lognormal(3000, 0.4)");
    ck_assert_double_eq_tol(sim_dist_mean(&d), 3e6 * exp(0.08), 1e-6);
    d = parse_ok("uniform(100, 300)");
    ck_assert(sim_dist_mean(&d) == 200000.0);
    d = parse_ok("mix(1: exp(100), 1: fixed(300))");
    ck_assert(sim_dist_mean(&d) == 200000.0);
    d = sim_dist_fixed(777);
    ck_assert(sim_dist_mean(&d) == 777.0);
}
END_TEST

START_TEST(test_draw_properties)
{
    sim_rng_t rng;
    sim_rng_seed(&rng, 5, "props");

    sim_dist_t d = sim_dist_fixed(777);
    for (unsigned i = 0; i < 100; i++)
        ck_assert_uint_eq(sim_dist_draw(&d, &rng), 777);
    d = parse_ok("uniform(1, 2)");
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < 100000; i++) {
        uint64_t v = sim_dist_draw(&d, &rng);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    ck_assert_uint_ge(lo, 1000);
    ck_assert_uint_le(hi, 2000);
    ck_assert_uint_le(lo, 1001);
    ck_assert_uint_ge(hi, 1999);
    d = parse_ok("0.0004"); /* 0.4 ps rounds to 0 */
    ck_assert_uint_eq(sim_dist_draw(&d, &rng), 0);
    d = parse_ok("0.0006");
    ck_assert_uint_eq(sim_dist_draw(&d, &rng), 1);
}
END_TEST

START_TEST(test_mixture_weights)
{
    sim_dist_t d = parse_ok("mix(1: fixed(1), 3: fixed(2))");
    sim_rng_t rng;
    unsigned ones = 0, n = 1000000;

    sim_rng_seed(&rng, 11, "mixw");
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = sim_dist_draw(&d, &rng);
        ck_assert(v == 1000 || v == 2000);
        ones += v == 1000;
    }
    /* sd of the fraction is 0.00043 */
    ck_assert_double_eq_tol((double)ones / n, 0.25, 0.003);
}
END_TEST

START_TEST(test_determinism_and_streams)
{
    sim_dist_t d = parse_ok("mix(0.5: exp(100), 0.5: lognormal(50, 1))");
    sim_rng_t a, b, c, e;
    unsigned same_c = 0, same_e = 0;

    sim_rng_seed(&a, 42, "iommu.walker");
    sim_rng_seed(&b, 42, "iommu.walker");
    sim_rng_seed(&c, 42, "iommu.prq");
    sim_rng_seed(&e, 43, "iommu.walker");
    for (unsigned i = 0; i < 1000; i++) {
        uint64_t x = sim_dist_draw(&d, &a);
        ck_assert_uint_eq(x, sim_dist_draw(&d, &b));
        same_c += x == sim_dist_draw(&d, &c);
        same_e += x == sim_dist_draw(&d, &e);
    }
    ck_assert_uint_lt(same_c, 10);
    ck_assert_uint_lt(same_e, 10);

    /* Raw streams. */
    sim_rng_seed(&a, 1, "x");
    sim_rng_seed(&b, 1, "y");
    sim_rng_seed(&c, 1, NULL);
    sim_rng_seed(&e, 1, "");
    ck_assert_uint_ne(sim_rng_u64(&a), sim_rng_u64(&b));
    ck_assert_uint_eq(sim_rng_u64(&c), sim_rng_u64(&e));
}
END_TEST

START_TEST(test_rng_ranges)
{
    sim_rng_t rng;
    unsigned counts[3] = {0, 0, 0};

    sim_rng_seed(&rng, 3, "ranges");
    for (unsigned i = 0; i < 300000; i++) {
        double u = sim_rng_double(&rng);
        ck_assert(u >= 0.0 && u < 1.0);
        counts[sim_rng_below(&rng, 3)]++;
        ck_assert_uint_eq(sim_rng_below(&rng, 1), 0);
        uint64_t n = 1 + (sim_rng_u64(&rng) >> (i % 64));
        ck_assert_uint_lt(sim_rng_below(&rng, n), n);
    }
    for (unsigned k = 0; k < 3; k++)
        ck_assert_uint_lt(labs((long)counts[k] - 100000), 1500);
    /* n = 1.5 * 2^63: plain modulo reduction would put 62.5% of the draws
     * below n/2; an unbiased method puts half of them there. */
    uint64_t n = (UINT64_C(1) << 63) + (UINT64_C(1) << 62);
    unsigned low = 0;
    for (unsigned i = 0; i < 100000; i++)
        low += sim_rng_below(&rng, n) < n / 2;
    ck_assert_uint_lt(labs((long)low - 50000), 1000);
}
END_TEST

/* Parse edges: exponents with a sign, a nested mix, weights whose sum
 * overflows, a weight negligible next to the others, no error buffer. */
START_TEST(test_parse_edges)
{
    sim_dist_t d = parse_ok("1e+3ps");
    ck_assert(d.part[0].a == 1000.0);
    d = parse_ok("2E-3us");
    ck_assert(d.part[0].a == 2000.0);
    /* An 'e' not followed by an exponent is not part of the number. */
    parse_bad("5e", "unknown unit 'e' after 5");
    parse_bad("3e+", "unknown unit 'e' after 3");
    parse_bad("mix(1: mix(1: 2))", "a mix cannot contain another mix");
    parse_bad("mix(1e308: 1, 1e308: 2)", "mix weights are too large");
    parse_bad("mix(1: 1, 1e-13: 2)",
              "mix weight 1e-13 is negligible next to the total");
    ck_assert_int_eq(sim_dist_parse("bogus(1)", &d, NULL, 0), -EINVAL);
    ck_assert_int_eq(sim_dist_parse(NULL, &d, NULL, 0), -EINVAL);
}
END_TEST

/* A lognormal with sigma 0 is its median every time (exp(0 * Z) = 1). */
START_TEST(test_lognormal_sigma_zero)
{
    sim_dist_t d = parse_ok("lognormal(5, 0)");
    sim_rng_t rng;
    sim_rng_seed(&rng, 1, "ln0");
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(sim_dist_draw(&d, &rng), 5000);
    ck_assert(sim_dist_mean(&d) == 5000.0);
}
END_TEST

/* Formatting into a short buffer truncates to a prefix of the full text,
 * NUL-terminated; a NULL or empty buffer is left alone. */
START_TEST(test_format_truncates)
{
    sim_dist_t d = parse_ok("mix(0.5: uniform(1, 2), 0.5: exp(3us))");
    char full[256], small[12];
    sim_dist_format(&d, full, sizeof(full));
    ck_assert_str_eq(full, "mix(0.5: uniform(1, 2), 0.5: exp(3000))");
    memset(small, 'z', sizeof(small));
    sim_dist_format(&d, small, sizeof(small));
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
    ck_assert_int_eq(strncmp(small, full, sizeof(small) - 1), 0);
    sim_dist_format(&d, NULL, 8);
    small[0] = 'q';
    sim_dist_format(&d, small, 0);
    ck_assert_int_eq(small[0], 'q');
}
END_TEST

/* A value built by hand with an unknown kind is formatted "invalid", has
 * mean 0 and draws 0; a mixture with no parts draws its first part; one
 * claiming more than SIM_DIST_MIX_MAX parts uses only those. */
START_TEST(test_hand_built_values)
{
    sim_rng_t rng;
    sim_rng_seed(&rng, 1, "hand");
    char b[128];
    sim_dist_t d = sim_dist_fixed(7000);
    d.kind = d.part[0].kind = (sim_dist_kind_t)42;
    sim_dist_format(&d, b, sizeof(b));
    ck_assert_str_eq(b, "invalid");
    ck_assert(sim_dist_mean(&d) == 0.0);
    ck_assert_uint_eq(sim_dist_draw(&d, &rng), 0);

    d = sim_dist_fixed(7000);
    d.kind = SIM_DIST_MIX;
    d.nparts = 0;
    ck_assert_uint_eq(sim_dist_draw(&d, &rng), 7000);

    d = parse_ok("mix(1: 1, 1: 2, 1: 3, 1: 4)");
    d.nparts = SIM_DIST_MIX_MAX + 3;
    ck_assert(sim_dist_mean(&d) == 2500.0);
    sim_dist_format(&d, b, sizeof(b));
    ck_assert_str_eq(b, "mix(0.25: fixed(1), 0.25: fixed(2), 0.25: fixed(3), "
                        "0.25: fixed(4))");
    for (int i = 0; i < 100; i++) {
        sim_time_t t = sim_dist_draw(&d, &rng);
        ck_assert(t == 1000 || t == 2000 || t == 3000 || t == 4000);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_accepts);
    tcase_add_test(tc, test_parse_rejects);
    tcase_add_test(tc, test_format_round_trip);
    tcase_add_test(tc, test_sample_means);
    tcase_add_test(tc, test_draw_properties);
    tcase_add_test(tc, test_mixture_weights);
    tcase_add_test(tc, test_determinism_and_streams);
    tcase_add_test(tc, test_rng_ranges);
    tcase_add_test(tc, test_parse_edges);
    tcase_add_test(tc, test_lognormal_sigma_zero);
    tcase_add_test(tc, test_format_truncates);
    tcase_add_test(tc, test_hand_built_values);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
