/*
 * tests/traces/test_gen.c - the synthetic workload generator (traces/gen.c)
 * against its contract in traces/gen.h: one map per (device, PASID) at time
 * 0, then `dmas` DMAs spread over the pairs in turn; a DMA touches a new
 * page with probability new_page (in order, wrapping at the region's end),
 * else one of the last reuse_window new pages; writes with probability
 * write_fraction; exponential inter-arrival times of mean `interval`; every
 * DMA inside the region and inside one 4 KiB page; the same stream for the
 * same seed; every configuration error logged and refused.
 *
 * Statistical checks use the seeded stream (deterministic), but their
 * tolerances come from theory, not from a run: a count of n Bernoulli(p)
 * draws is within 5 standard deviations, 5 * sqrt(n p (1 - p)), of n p
 * (a sound generator fails that with probability < 1e-6 per seed).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tests/check_run.h"
#include "tests/test_util.h"
#include "traces/trace.h"

#define PAGE 4096ull

static sim_log_t g_log;

/* Every record of cfg's workload (malloc'd) and their number. */
static trace_record_t *gen_all(const trace_gen_cfg_t *cfg, size_t *n)
{
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    trace_gen_t *g = trace_gen_create(cfg, &g_log);
    ck_assert_msg(g != NULL, "create: %s", sim_log_last_error(&g_log));
    size_t cap = (size_t)cfg->devices * cfg->pasids + cfg->dmas;
    trace_record_t *r = malloc((cap + 1) * sizeof(*r));
    ck_assert_ptr_nonnull(r);
    size_t k = 0;
    while (k <= cap && trace_gen_next(g, &r[k]) == 1)
        k++;
    ck_assert_uint_eq(k, cap); /* no more and no fewer records */
    /* At the end it stays at the end. */
    ck_assert_int_eq(trace_gen_next(g, &r[cap]), 0);
    ck_assert_int_eq(trace_gen_next(g, &r[cap]), 0);
    trace_gen_destroy(g);
    *n = k;
    return r;
}

/* |count - n p| <= 5 sigma of the binomial. */
static void binomial_ok(const char *what, uint64_t count, uint64_t n, double p)
{
    double mean = (double)n * p, sd = sqrt((double)n * p * (1 - p));
    ck_assert_msg(fabs((double)count - mean) <= 5 * sd,
                  "%s: %llu of %llu, expected %.1f +- %.1f", what,
                  (unsigned long long)count, (unsigned long long)n, mean,
                  5 * sd);
}

START_TEST(test_defaults)
{
    /* The defaults gen.h documents. */
    trace_gen_cfg_t c;
    memset(&c, 0xa5, sizeof(c));
    trace_gen_defaults(&c);
    ck_assert_uint_eq(c.devices, 1);
    ck_assert_uint_eq(c.pasids, 1);
    ck_assert_uint_eq(c.dmas, 1000);
    ck_assert_uint_eq(c.region, 64ull << 20);
    ck_assert(!c.present);
    ck_assert_double_eq(c.new_page, 0.1);
    ck_assert_uint_eq(c.reuse_window, 64);
    ck_assert_double_eq(c.write_fraction, 0.3);
    ck_assert_uint_eq(c.dma_len, 64);
    ck_assert_uint_eq(c.interval, SIM_US);
    ck_assert_uint_eq(c.seed, 1);
    ck_assert_int_eq(trace_gen_check(&c, NULL), 0);
}
END_TEST

START_TEST(test_maps_then_dmas)
{
    /* devices x pasids maps first (time 0, device-major, PASIDs from 1),
     * each the whole region read-write; then the DMAs, pair k % nas. */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.devices = 3;
    c.pasids = 5;
    c.dmas = 301;
    c.region = 1ull << 20;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    const unsigned nas = 15;
    ck_assert_uint_eq(n, nas + 301);
    uint64_t base = r[0].addr;
    ck_assert_uint_eq(base % PAGE, 0);
    for (unsigned i = 0; i < nas; i++) {
        ck_assert_int_eq(r[i].op, TRACE_MAP);
        ck_assert_uint_eq(r[i].time, 0);
        ck_assert_uint_eq(r[i].dev, i / 5);
        ck_assert_uint_eq(r[i].pasid, 1 + i % 5);
        ck_assert_uint_eq(r[i].addr, base);
        ck_assert_uint_eq(r[i].len, c.region);
        ck_assert_uint_eq(r[i].perm, TRACE_PERM_R | TRACE_PERM_W);
        ck_assert(!r[i].present);
        ck_assert_int_eq(r[i].page, TRACE_PAGE_4K);
    }
    for (unsigned k = 0; k < 301; k++) {
        const trace_record_t *d = &r[nas + k];
        ck_assert(d->op == TRACE_READ || d->op == TRACE_WRITE);
        ck_assert_uint_eq(d->dev, (k % nas) / 5);
        ck_assert_uint_eq(d->pasid, 1 + (k % nas) % 5);
        ck_assert_uint_eq(d->len, c.dma_len);
        /* Inside the region and inside one page. */
        ck_assert_uint_ge(d->addr, base);
        ck_assert_uint_le(d->addr + d->len, base + c.region);
        ck_assert_uint_le(d->addr % PAGE + d->len, PAGE);
    }
    free(r);
}
END_TEST

START_TEST(test_present)
{
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.present = true;
    c.pasids = 2;
    c.dmas = 4;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    ck_assert_uint_eq(n, 6);
    ck_assert(r[0].present && r[1].present);
    free(r);
}
END_TEST

START_TEST(test_no_dmas)
{
    /* dmas = 0: the maps only. */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.devices = 2;
    c.dmas = 0;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(r[1].op, TRACE_MAP);
    free(r);
}
END_TEST

/*
 * Walk the DMAs of a single (device, PASID) whose region holds more pages
 * than DMAs: a new page is the next page in order (index == pages touched
 * so far), any other is one of the last `window` new pages. Returns the
 * number of new pages among the DMAs after the first (which is always new:
 * nothing to reuse yet).
 */
static uint64_t count_new(const trace_record_t *r, size_t n, unsigned window)
{
    uint64_t base = r[0].addr, touched = 0, fresh = 0;
    for (size_t k = 1; k < n; k++) {
        uint64_t page = (r[k].addr - base) / PAGE;
        if (page == touched) {
            touched++;
            if (k > 1)
                fresh++;
        } else {
            ck_assert_msg(page < touched && page + window >= touched,
                          "DMA %zu: page %llu is neither new (%llu) nor one "
                          "of the last %u",
                          k, (unsigned long long)page,
                          (unsigned long long)touched, window);
        }
    }
    return fresh;
}

START_TEST(test_new_page_fraction)
{
    /* Absent region: each new page is one fault-prone access; their share
     * is new_page (binomial over the DMAs that had a choice). */
    const double ps[] = {0.05, 0.1, 0.5};
    for (unsigned i = 0; i < N_OF(ps); i++) {
        trace_gen_cfg_t c;
        trace_gen_defaults(&c);
        c.dmas = 20000;
        c.new_page = ps[i];
        c.reuse_window = 8;
        c.region = (c.dmas + 1) * PAGE;
        size_t n;
        trace_record_t *r = gen_all(&c, &n);
        uint64_t fresh = count_new(r, n, c.reuse_window);
        binomial_ok("new pages", fresh, c.dmas - 1, ps[i]);
        free(r);
    }
}
END_TEST

START_TEST(test_new_page_extremes)
{
    /* new_page 0: the first DMA touches page 0, every other reuses it;
     * new_page 1: every DMA touches the next page. */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.dmas = 500;
    c.new_page = 0;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    for (size_t k = 1; k < n; k++)
        ck_assert_uint_eq((r[k].addr - r[0].addr) / PAGE, 0);
    free(r);
    c.new_page = 1;
    r = gen_all(&c, &n);
    for (size_t k = 1; k < n; k++)
        ck_assert_uint_eq((r[k].addr - r[0].addr) / PAGE, k - 1);
    free(r);
}
END_TEST

START_TEST(test_new_pages_wrap)
{
    /* New pages go in order and wrap at the region's end (page = touched
     * mod pages): a 3-page region with new_page 1 gives 0 1 2 0 1 2 ... */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.dmas = 10;
    c.new_page = 1;
    c.region = 3 * PAGE;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    for (size_t k = 1; k < n; k++)
        ck_assert_uint_eq((r[k].addr - r[0].addr) / PAGE, (k - 1) % 3);
    free(r);
}
END_TEST

START_TEST(test_reuse_window)
{
    /* With a window of 1 a reused page is always the last new one; with a
     * window of 4 one of the last four (count_new checks it), and every
     * slot of the window gets reused. */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.dmas = 5000;
    c.new_page = 0.2;
    c.reuse_window = 1;
    c.region = (c.dmas + 1) * PAGE;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    count_new(r, n, 1);
    free(r);

    c.reuse_window = 4;
    r = gen_all(&c, &n);
    count_new(r, n, 4);
    /* Distance back from the newest page, 0..3, each seen. */
    unsigned seen[4] = {0};
    uint64_t touched = 0;
    for (size_t k = 1; k < n; k++) {
        uint64_t page = (r[k].addr - r[0].addr) / PAGE;
        if (page == touched)
            touched++;
        else if (touched >= 4)
            seen[touched - 1 - page]++;
    }
    for (unsigned d = 0; d < 4; d++)
        ck_assert_msg(seen[d] > 0, "no reuse at distance %u", d);
    free(r);
}
END_TEST

START_TEST(test_write_fraction)
{
    const double ps[] = {0.0, 0.3, 0.9, 1.0};
    for (unsigned i = 0; i < N_OF(ps); i++) {
        trace_gen_cfg_t c;
        trace_gen_defaults(&c);
        c.dmas = 10000;
        c.write_fraction = ps[i];
        size_t n;
        trace_record_t *r = gen_all(&c, &n);
        uint64_t w = 0;
        for (size_t k = 1; k < n; k++)
            w += r[k].op == TRACE_WRITE;
        binomial_ok("writes", w, c.dmas, ps[i]);
        free(r);
    }
}
END_TEST

START_TEST(test_offsets)
{
    /* The offset in the page is uniform over 0..4096-len (the DMA stays in
     * its page); mean (4096 - len) / 2, sd of the uniform on N values
     * sqrt((N^2 - 1) / 12), of the mean over n DMAs sd / sqrt(n). */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.dmas = 20000;
    c.dma_len = 100;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    double sum = 0;
    for (size_t k = 1; k < n; k++) {
        uint64_t off = r[k].addr % PAGE;
        ck_assert_uint_le(off, PAGE - c.dma_len);
        ck_assert_uint_eq(r[k].len, 100);
        sum += (double)off;
    }
    double values = (double)(PAGE - c.dma_len + 1);
    double sd = sqrt((values * values - 1) / 12) / sqrt((double)c.dmas);
    double mean = sum / (double)c.dmas;
    ck_assert_msg(fabs(mean - (PAGE - c.dma_len) / 2.0) <= 5 * sd,
                  "mean offset %.1f", mean);
    free(r);

    /* len 4096: the whole page, offset 0; len 4095: offsets 0 and 1. */
    c.dmas = 200;
    c.dma_len = 4096;
    r = gen_all(&c, &n);
    for (size_t k = 1; k < n; k++)
        ck_assert_uint_eq(r[k].addr % PAGE, 0);
    free(r);
    c.dma_len = 4095;
    r = gen_all(&c, &n);
    unsigned at[2] = {0};
    for (size_t k = 1; k < n; k++) {
        ck_assert_uint_le(r[k].addr % PAGE, 1);
        at[r[k].addr % PAGE]++;
    }
    ck_assert(at[0] > 0 && at[1] > 0);
    free(r);
}
END_TEST

START_TEST(test_interarrival)
{
    /* Times never go back; the gaps are exponential with mean `interval`:
     * their mean within 5 sd (interval / sqrt(n)), and the share of gaps
     * longer than the mean is e^-1 (binomial). */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.dmas = 20000;
    c.interval = 2 * SIM_US;
    c.devices = 2;
    size_t n;
    trace_record_t *r = gen_all(&c, &n);
    sim_time_t prev = 0;
    uint64_t longer = 0;
    for (size_t k = 2; k < n; k++) {
        ck_assert_uint_ge(r[k].time, prev);
        longer += r[k].time - prev > c.interval;
        prev = r[k].time;
    }
    double mean = (double)r[n - 1].time / (double)c.dmas;
    double sd = (double)c.interval / sqrt((double)c.dmas);
    ck_assert_msg(fabs(mean - (double)c.interval) <= 5 * sd, "mean gap %.0f",
                  mean);
    binomial_ok("gaps > mean", longer, c.dmas, exp(-1));
    free(r);

    /* interval 0: every DMA at time 0. */
    c.interval = 0;
    c.dmas = 50;
    r = gen_all(&c, &n);
    for (size_t k = 0; k < n; k++)
        ck_assert_uint_eq(r[k].time, 0);
    free(r);
}
END_TEST

static bool same_records(const trace_record_t *a, const trace_record_t *b,
                         size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (a[k].op != b[k].op || a[k].time != b[k].time ||
            a[k].dev != b[k].dev || a[k].pasid != b[k].pasid ||
            a[k].addr != b[k].addr || a[k].len != b[k].len ||
            a[k].perm != b[k].perm || a[k].present != b[k].present)
            return false;
    return true;
}

START_TEST(test_seed)
{
    /* Same seed, same stream; another seed, another stream (the maps, which
     * draw nothing, are the same). */
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    c.devices = 2;
    c.pasids = 2;
    c.dmas = 2000;
    c.seed = 42;
    size_t n1, n2, n3;
    trace_record_t *a = gen_all(&c, &n1);
    trace_record_t *b = gen_all(&c, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(same_records(a, b, n1));
    c.seed = 43;
    trace_record_t *d = gen_all(&c, &n3);
    ck_assert_uint_eq(n1, n3);
    ck_assert(same_records(a, d, 4));
    ck_assert(!same_records(a + 4, d + 4, n1 - 4));
    unsigned diff_time = 0, diff_addr = 0, diff_op = 0;
    for (size_t k = 4; k < n1; k++) {
        diff_time += a[k].time != d[k].time;
        diff_addr += a[k].addr != d[k].addr;
        diff_op += a[k].op != d[k].op;
    }
    ck_assert(diff_time > 0 && diff_addr > 0 && diff_op > 0);
    free(a);
    free(b);
    free(d);
}
END_TEST

/* cfg is refused by check and create, with one error naming the rule. */
static void refused(const trace_gen_cfg_t *c, const char *what)
{
    char want[256];
    snprintf(want, sizeof(want), "workload generator: %s", what);
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_int_eq(trace_gen_check(c, &g_log), -EINVAL);
    ck_assert_uint_eq(g_log.errors, 1);
    ck_assert_str_eq(sim_log_last_error(&g_log), want);
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_ptr_null(trace_gen_create(c, &g_log));
    ck_assert_uint_eq(g_log.errors, 1);
    ck_assert_str_eq(sim_log_last_error(&g_log), want);
}

static void accepted(const trace_gen_cfg_t *c)
{
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_msg(trace_gen_check(c, &g_log) == 0, "refused: %s",
                  sim_log_last_error(&g_log));
}

#define DEVICES "devices must be 1..65536"
#define PASIDS "pasids must be 1..1048575"
#define REGION "region must be a multiple of 4096 between 4 KiB and 1 TiB"
#define NEW_PAGE "new_page must be a probability in [0, 1]"
#define WRITES "write_fraction must be a probability in [0, 1]"
#define WINDOW "reuse_window must be 1..1048576"
#define LEN "dma_len must be 1..4096 bytes"
#define PAIRS "devices x pasids must be at most 4194304"

START_TEST(test_errors)
{
    /* Each limit of trace_gen_check, just outside (refused with its
     * message) and at the edge (accepted). PASIDs are 20 bits (PCIe 6.0
     * section 6.20, PASID TLP prefix), PASID 0 excluded. */
    trace_gen_cfg_t d, c;
    trace_gen_defaults(&d);
#define TRY(field, bad_value, edge_value, msg)                                 \
    do {                                                                       \
        c = d;                                                                 \
        c.field = bad_value;                                                   \
        refused(&c, msg);                                                      \
        c.field = edge_value;                                                  \
        accepted(&c);                                                          \
    } while (0)
    TRY(devices, 0, 1, DEVICES);
    TRY(devices, 65537, 65536, DEVICES);
    TRY(pasids, 0, 1, PASIDS);
    TRY(pasids, 1u << 20, (1u << 20) - 1, PASIDS);
    TRY(region, 0, PAGE, REGION);
    TRY(region, PAGE - 1, PAGE, REGION);
    TRY(region, PAGE + 1, 2 * PAGE, REGION);
    TRY(region, (1ull << 40) + PAGE, 1ull << 40, REGION);
    TRY(new_page, -0.001, 0.0, NEW_PAGE);
    TRY(new_page, 1.001, 1.0, NEW_PAGE);
    TRY(new_page, NAN, 0.5, NEW_PAGE);
    TRY(write_fraction, -0.001, 0.0, WRITES);
    TRY(write_fraction, 1.001, 1.0, WRITES);
    TRY(write_fraction, NAN, 0.5, WRITES);
    TRY(reuse_window, 0, 1, WINDOW);
    TRY(reuse_window, (1u << 20) + 1, 1u << 20, WINDOW);
    TRY(dma_len, 0, 1, LEN);
    TRY(dma_len, 4097, 4096, LEN);
#undef TRY
    /* The product: 4096 x 1024 = 2^22 is the limit. */
    c = d;
    c.devices = 4096;
    c.pasids = 1024;
    accepted(&c);
    c.pasids = 1025;
    refused(&c, PAIRS);
    /* The first rule broken is the one reported. */
    c = d;
    c.devices = 0;
    c.dma_len = 0;
    refused(&c, DEVICES);
    /* A NULL log is allowed. */
    c = d;
    c.devices = 0;
    ck_assert_int_eq(trace_gen_check(&c, NULL), -EINVAL);
    ck_assert_ptr_null(trace_gen_create(&c, NULL));
    trace_gen_destroy(NULL);
}
END_TEST

/*
 * Out of memory: the address space capped a few MiB above what the process
 * uses (RLIMIT_AS), so the generator's allocations fail; create must log
 * "out of memory", free what it had and return NULL. The cap is lifted
 * again before asserting. Not under AddressSanitizer, whose shadow memory
 * needs a large address space.
 */
static bool create_capped(const trace_gen_cfg_t *c, bool *got)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)c, (void)got;
    return false;
#else
    unsigned long long size = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return false;
    int ok = fscanf(f, "%llu", &size) == 1;
    fclose(f);
    struct rlimit old, cap;
    if (!ok || getrlimit(RLIMIT_AS, &old))
        return false;
    cap = old;
    cap.rlim_cur =
        size * (unsigned long long)sysconf(_SC_PAGESIZE) + (16ull << 20);
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < cap.rlim_cur)
        return false;
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
    if (setrlimit(RLIMIT_AS, &cap))
        return false;
    trace_gen_t *g = trace_gen_create(c, &g_log);
    setrlimit(RLIMIT_AS, &old);
    *got = g != NULL;
    trace_gen_destroy(g);
    return true;
#endif
}

START_TEST(test_out_of_memory)
{
    trace_gen_cfg_t c;
    trace_gen_defaults(&c);
    bool got = true;
    /* 64 rings of 2^20 page indices (8 MiB each): a ring fails. */
    c.pasids = 64;
    c.reuse_window = 1u << 20;
    if (!create_capped(&c, &got))
        return;
    ck_assert(!got);
    ck_assert_uint_eq(g_log.errors, 1);
    ck_assert_str_eq(sim_log_last_error(&g_log),
                     "workload generator: out of memory");
    /* 2^22 address-space states: the state array fails. */
    c.devices = 4096;
    c.pasids = 1024;
    c.reuse_window = 1;
    got = true;
    ck_assert(create_capped(&c, &got));
    ck_assert(!got);
    ck_assert_str_eq(sim_log_last_error(&g_log),
                     "workload generator: out of memory");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("trace_gen");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_maps_then_dmas);
    tcase_add_test(tc, test_present);
    tcase_add_test(tc, test_no_dmas);
    tcase_add_test(tc, test_new_page_fraction);
    tcase_add_test(tc, test_new_page_extremes);
    tcase_add_test(tc, test_new_pages_wrap);
    tcase_add_test(tc, test_reuse_window);
    tcase_add_test(tc, test_write_fraction);
    tcase_add_test(tc, test_offsets);
    tcase_add_test(tc, test_interarrival);
    tcase_add_test(tc, test_seed);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
