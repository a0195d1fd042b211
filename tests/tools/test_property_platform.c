/*
 * tests/tools/test_property_platform.c - a property test of the whole
 * platform: random small machines (1-4 devices, VT-d or SMMUv3, native or
 * a VM owning some devices, VMM routing, guest page-table mode, small
 * queues and rings, few tags, in-order devices, retries) each replaying a
 * random trace (maps present or absent, read-only or read-write, DMAs
 * inside and outside the maps, partial unmaps, detaches), all drawn from
 * one seed per run.
 *
 * Properties checked after every run (docs/model.md, "Statistics" and "The
 * end of a run"):
 *  - page-request conservation: pri.requests = responded + auto_responded
 *    + dropped + in_flight;
 *  - the run ends (no run.max_time) with status OK, complete, and every
 *    replayed DMA done or failed; no page request in flight but the
 *    non-last requests the host holds on its partial list for a last one
 *    that never came (Linux io-pgfault.c keeps them there until a group
 *    with their index completes, an overflow discards them or the device
 *    is removed: a finished run may end with some);
 *  - every fault group in one outcome: fault.opened = resolved + auto +
 *    failed;
 *  - the fault stage contributions add up to the end-to-end mean (the sum
 *    of the fault.stage.<s> totals per fault of fault.e2e);
 *  - determinism: the same seed run twice gives identical stats.txt.
 *
 * A broken property is not fatal at once: the suite runs every seed,
 * prints each failure (the first five with their reproducer: the --set
 * lines and the trace) and fails at the end if any run broke one.
 * IOMMUSIM_PROPERTY_RUNS sets the number of runs (default RUNS),
 * IOMMUSIM_PROPERTY_SEED runs only that seed.
 */
#include <math.h>
#include <stdarg.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

#define RUNS 2000
#define MAX_SETS 32
#define MAX_RECS 160
#define REGION_PAGES 32ull

typedef struct prng {
    uint64_t s;
} prng_t;

/* splitmix64 */
static uint64_t next(prng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned pick(prng_t *r, unsigned n)
{
    return (unsigned)(next(r) % n);
}

/* The random machine: its --set lines. */
typedef struct machine {
    char text[MAX_SETS][64];
    const char *sets[MAX_SETS + 1];
    unsigned n;
    unsigned devices;
} machine_t;

static void set(machine_t *m, const char *fmt, ...)
{
    va_list ap;
    ck_assert_uint_lt(m->n, MAX_SETS);
    va_start(ap, fmt);
    vsnprintf(m->text[m->n], sizeof(m->text[m->n]), fmt, ap);
    va_end(ap);
    m->sets[m->n] = m->text[m->n];
    m->sets[++m->n] = NULL;
}

static void random_machine(prng_t *r, machine_t *m)
{
    static const char *const arch[] = {"vtd", "smmuv3"};
    static const char *const routing[] = {"viommu", "vpri", "iommufd"};
    static const char *const pt_mode[] = {"shared", "separate"};
    static const unsigned prq[] = {0, 4, 8, 16, 64};
    static const unsigned small[] = {2, 4, 16, 128};
    static const unsigned ring[] = {0, 2, 8, 64};
    static const unsigned tags[] = {1, 2, 8, 32};

    m->n = 0;
    m->sets[0] = NULL;
    m->devices = 1 + pick(r, 4);
    set(m, "device.count=%u", m->devices);
    set(m, "iommu.arch=%s", arch[pick(r, 2)]);
    set(m, "iommu.prq_depth=%u", prq[pick(r, N_OF(prq))]);
    set(m, "iommu.fault_depth=%u", small[pick(r, N_OF(small))]);
    set(m, "device.tags=%u", tags[pick(r, N_OF(tags))]);
    set(m, "device.in_order=%s", pick(r, 4) ? "false" : "true");
    set(m, "device.fault_ahead=%u", 1 + pick(r, 4));
    set(m, "device.pri_capacity=%u", 1 + pick(r, 32));
    set(m, "device.pri_retries=%u", pick(r, 20));
    set(m, "host.thp=%s", pick(r, 2) ? "never" : "always");
    set(m, "host.cpus=%u", 1 + pick(r, 4));
    if (pick(r, 2)) {
        /* A VM owning the first devices. */
        set(m, "vm.devices=%u", 1 + pick(r, m->devices));
        set(m, "vmm.routing=%s", routing[pick(r, 3)]);
        set(m, "guest.pt_mode=%s", pt_mode[pick(r, 2)]);
        set(m, "guest.vcpus=%u", 1 + pick(r, 4));
        set(m, "guest.queue_depth=%u", small[pick(r, N_OF(small))]);
        set(m, "ioasid.ring_depth=%u", ring[pick(r, N_OF(ring))]);
        set(m, "ioasid.ring_overflow=%s", pick(r, 2) ? "success" : "invalid");
        set(m, "vm.s2_on_demand=%s", pick(r, 2) ? "true" : "false");
        set(m, "vm.s2_page=%s", pick(r, 2) ? "4K" : "2M");
    }
    /* run.seed is limited to [0, 1.8e19] (machine.c); stay below. */
    set(m, "run.seed=%llu",
        (unsigned long long)(next(r) % 1000000000000000000ull));
}

/* A random trace, records in time order: per device one or two PASIDs of
 * its own (a PASID is one address space, shared by the devices bound to
 * it: two devices mapping it would overlap) with a mapping each; DMAs inside
 * (mostly) and just outside it; maybe a partial unmap; maybe a detach at the
 * end. */
static size_t random_trace(prng_t *r, unsigned devices, trace_record_t *recs)
{
    size_t n = 0;
    sim_time_t t = 0;
    unsigned npasid[4];

    for (unsigned d = 0; d < devices; d++) {
        npasid[d] = 1 + pick(r, 2);
        for (unsigned p = 1; p <= npasid[d]; p++)
            recs[n++] =
                rmap(0, d, 2 * d + p, BASE, REGION_PAGES * 4096,
                     pick(r, 5) ? PERM_RW : TRACE_PERM_R, pick(r, 4) == 0);
    }
    unsigned dmas = 1 + pick(r, 80);
    for (unsigned i = 0; i < dmas; i++) {
        unsigned d = pick(r, devices), p = 1 + pick(r, npasid[d]);
        uint64_t page =
            pick(r, 16) ? pick(r, REGION_PAGES) : REGION_PAGES + pick(r, 4);
        uint64_t len = pick(r, 4) ? 64 : 1 + pick(r, 3 * 4096);
        t += pick(r, 4) ? pick(r, 200) * SIM_NS : pick(r, 20) * SIM_US;
        recs[n++] = rdma(t, d, 2 * d + p, BASE + page * 4096 + pick(r, 64) * 64,
                         len, pick(r, 2));
        if (pick(r, 40) == 0) {
            uint64_t up = pick(r, REGION_PAGES);
            recs[n++] = runmap(t, d, 2 * d + p, BASE + up * 4096,
                               (1 + pick(r, REGION_PAGES - up)) * 4096);
        }
    }
    if (pick(r, 4) == 0) {
        unsigned d = pick(r, devices);
        recs[n++] = rdetach(t + pick(r, 50) * SIM_US, d,
                            2 * d + 1 + pick(r, npasid[d]));
    }
    ck_assert_uint_le(n, MAX_RECS);
    return n;
}

/* stats.txt of a finished run, as a malloc'd string. */
static char *stats_text(pfx_t *h)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    sim_stats_write_text(platform_stats(h->p), f, sim_now(platform_sim(h->p)));
    fclose(f);
    return buf;
}

typedef struct outcome {
    char *stats;
    int rc;
    char why[256]; /* the first broken property, "" if none */
} outcome_t;

static void broken(outcome_t *o, const char *fmt, ...)
{
    va_list ap;
    if (o->why[0])
        return;
    va_start(ap, fmt);
    vsnprintf(o->why, sizeof(o->why), fmt, ap);
    va_end(ap);
}

/* Build the machine, run the trace, check the properties. */
static void run_once(const machine_t *m, const trace_record_t *recs, size_t n,
                     outcome_t *o)
{
    pfx_t *h = pfx_new(m->sets);
    platform_summary_t s;

    memset(o, 0, sizeof(*o));
    o->rc = pfx_run(h, recs, n);
    platform_summarize(h->p, &s);
    if (o->rc != PLATFORM_OK)
        broken(o, "status %d: %s", o->rc, sim_log_last_error(&h->log));
    if (s.page_requests !=
        s.pr_responded + s.pr_auto_responded + s.pr_dropped + s.pr_in_flight)
        broken(o,
               "page requests %llu != responded %llu + auto %llu + dropped "
               "%llu + in flight %llu",
               (unsigned long long)s.page_requests,
               (unsigned long long)s.pr_responded,
               (unsigned long long)s.pr_auto_responded,
               (unsigned long long)s.pr_dropped,
               (unsigned long long)s.pr_in_flight);
    if (!s.complete || s.dmas != s.dmas_done + s.dmas_failed ||
        s.dmas_unfinished || s.pr_in_flight != s.pr_partials_held)
        broken(o,
               "run not finished: complete %d, DMAs %llu done %llu failed "
               "%llu unfinished %llu, page requests in flight %llu (held "
               "partials %llu)",
               s.complete, (unsigned long long)s.dmas,
               (unsigned long long)s.dmas_done,
               (unsigned long long)s.dmas_failed,
               (unsigned long long)s.dmas_unfinished,
               (unsigned long long)s.pr_in_flight,
               (unsigned long long)s.pr_partials_held);
    uint64_t opened = ctr(h, "fault.opened");
    if (opened != s.faults_resolved + s.faults_auto + s.faults_failed)
        broken(
            o, "fault.opened %llu != resolved %llu + auto %llu + failed %llu",
            (unsigned long long)opened, (unsigned long long)s.faults_resolved,
            (unsigned long long)s.faults_auto,
            (unsigned long long)s.faults_failed);
    sim_hist_t *e2e = hist(h, "fault.e2e");
    if (e2e->count) {
        double total = 0, mean = sim_hist_mean(e2e);
        for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++)
            total += stage(h, k)->sum;
        double per = total / (double)e2e->count;
        if (fabs(per - mean) > 1e-6 * mean + 1.0)
            broken(o, "stage contributions %.3f ps != e2e mean %.3f ps", per,
                   mean);
    }
    o->stats = stats_text(h);
    pfx_free(h);
}

static void print_repro(uint64_t seed, const machine_t *m,
                        const trace_record_t *recs, size_t n, const char *why)
{
    fprintf(stderr, "seed %llu: %s\n  reproducer: iommu-sim",
            (unsigned long long)seed, why);
    for (unsigned i = 0; i < m->n; i++)
        fprintf(stderr, " --set %s", m->sets[i]);
    fprintf(stderr, " TRACE, TRACE =\n");
    trace_write_header(stderr);
    for (size_t i = 0; i < n; i++)
        trace_write_record(stderr, &recs[i]);
}

START_TEST(test_random_platforms)
{
    const char *env_runs = getenv("IOMMUSIM_PROPERTY_RUNS");
    const char *env_seed = getenv("IOMMUSIM_PROPERTY_SEED");
    uint64_t first = env_seed ? strtoull(env_seed, NULL, 0) : 1;
    uint64_t runs = env_seed   ? 1
                    : env_runs ? strtoull(env_runs, NULL, 0)
                               : RUNS;
    unsigned failures = 0, printed = 0;
    static trace_record_t recs[MAX_RECS];

    for (uint64_t seed = first; seed < first + runs; seed++) {
        prng_t r = {seed};
        machine_t m;
        outcome_t a, b;

        random_machine(&r, &m);
        size_t n = random_trace(&r, m.devices, recs);
        run_once(&m, recs, n, &a);
        run_once(&m, recs, n, &b);
        if (!a.why[0] && strcmp(a.stats, b.stats) != 0)
            broken(&a, "two runs of the same seed differ in stats.txt");
        if (a.why[0]) {
            failures++;
            if (printed++ < 5)
                print_repro(seed, &m, recs, n, a.why);
            else
                fprintf(stderr, "seed %llu: %s\n", (unsigned long long)seed,
                        a.why);
        }
        free(a.stats);
        free(b.stats);
    }
    ck_assert_msg(failures == 0,
                  "%u of %llu random platforms broke a property (the first "
                  "ones are printed above with their reproducers)",
                  failures, (unsigned long long)runs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("property_platform");
    TCase *tc = tcase_create("random");
    tcase_add_test(tc, test_random_platforms);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
