/*
 * tests/pcie/test_pcie_paths.c - the PCIe library's less travelled paths:
 * the PASID stop protocol's limits (PCIe 6.20.1 as cited in Linux
 * io-pgfault.c: one stop per PASID at a time, PCIE_STOP_MAX at once), a
 * link's statistics names, a message handed to a link for a time already
 * past, and the utilisation before any time has passed.
 */
#include <errno.h>

#include "pcie/stop.h"
#include "tests/check_run.h"
#include "tests/pcie/dev_fixture.h"
#include "tests/test_util.h"

/* A second stop of the same PASID while the first is in progress, and a
 * stop beyond PCIE_STOP_MAX at once, are refused (-EBUSY); the stops in
 * progress all complete (one without a callback), and then a PASID can
 * be stopped again. */
START_TEST(test_stop_limits)
{
    fx_t *f = fx_new();
    fx_start(f, false);
    sim_time_t now = sim_now(f->sim);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, 1, NULL, NULL), 0);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, 1, fx_on_stop, f), -EBUSY);
    for (uint32_t p = 2; p <= PCIE_STOP_MAX; p++)
        ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, p, fx_on_stop, f), 0);
    ck_assert_int_eq(
        pcie_dev_stop_pasid(f->dev, PCIE_STOP_MAX + 1, fx_on_stop, f), -EBUSY);
    run(f);
    /* nothing was in flight: each completes at once (no Stop Marker) */
    ck_assert_uint_eq(f->stops_done, PCIE_STOP_MAX - 1);
    ck_assert_uint_eq(f->t_stop_done, now);
    ck_assert_uint_eq(f->stop_markers, 0);
    ck_assert_int_eq(
        pcie_dev_stop_pasid(f->dev, PCIE_STOP_MAX + 1, fx_on_stop, f), 0);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, 1, fx_on_stop, f), 0);
    run(f);
    ck_assert_uint_eq(f->stops_done, PCIE_STOP_MAX + 1);
    fx_free(f);
}
END_TEST

static pcie_link_cfg_t gen3x8(void)
{
    pcie_link_cfg_t c = {
        .latency = 250 * SIM_NS, .gen = 3, .lanes = 8, .mps = 256, .mrrs = 512};
    return c;
}

typedef struct rx {
    unsigned n;
    sim_time_t t;
    sim_t *sim;
} rx_t;

static void on_rx(void *opaque, const pcie_msg_t *m)
{
    (void)m;
    rx_t *r = opaque;
    r->n++;
    r->t = sim_now(r->sim);
}

static void ev_nop(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    (void)opaque;
    (void)arg;
}

/* Two links may not share a name in one statistics registry (the second
 * is refused: NULL); a message handed over for a time already past goes
 * at once; before any time has passed the utilisation is 0. */
START_TEST(test_link_edges)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    pcie_link_cfg_t c = gen3x8();
    rx_t up = {.sim = sim}, down = {.sim = sim};
    pcie_link_t *l =
        pcie_link_create(sim, st, "lnk", &c, on_rx, &up, on_rx, &down);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_null(
        pcie_link_create(sim, st, "lnk", &c, on_rx, &up, on_rx, &down));
    pcie_link_destroy(NULL);
    ck_assert(pcie_link_utilisation(l, PCIE_UP) == 0.0);
    sim_time_t t0 = 2 * SIM_US;
    ck_assert_uint_ne(sim_schedule_at(sim, t0, ev_nop, NULL, 0), 0);
    sim_run(sim, SIM_TIME_MAX);
    pcie_msg_t m = {.type = PCIE_MSG_INV_CPL, .rid = 1};
    pcie_link_send_at(l, PCIE_UP, &m, SIM_US); /* in the past */
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(up.n, 1);
    ck_assert_uint_eq(down.n, 0);
    sim_time_t ser = pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &m));
    ck_assert_uint_eq(up.t, t0 + ser + c.latency);
    /* busy for ser out of up.t */
    double u = pcie_link_utilisation(l, PCIE_UP);
    ck_assert(u == (double)ser / (double)up.t);
    pcie_link_destroy(l);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

static Suite *paths_suite(void)
{
    Suite *s = suite_create("pcie_paths");
    TCase *tc = tcase_create("paths");
    tcase_add_test(tc, test_stop_limits);
    tcase_add_test(tc, test_link_edges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(paths_suite());
}
