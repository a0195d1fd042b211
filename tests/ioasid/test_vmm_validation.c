/*
 * tests/ioasid/test_vmm_validation.c - the VMM's fault thread held against
 * queueing theory: an M/D/1 queue whose server sleeps when it is empty and
 * needs a setup time (the eventfd wake-up, vmm.wake) before serving again.
 *
 * Records reach the fault ring as a Poisson stream (rate lambda: faults on
 * distinct pages at exponential gaps; every host cost on the way is zero,
 * so the ring sees the device's arrival process shifted by a constant).
 * The thread serves one record in S = vmm.read + vmm.route + vmm.inject
 * (vmm.batch = 1, one page per group) and, finding the ring empty, sleeps;
 * the next record wakes it U = vmm.wake later. That is an M/G/1 queue in
 * which the first customer of each busy period receives exceptional
 * service U + S (P. D. Welch, "On a generalized M/G/1 queuing process in
 * which the first customer of each busy period receives exceptional
 * service", Operations Research 12(5), 736-752, 1964). Its mean waiting
 * time, counting the setup as waiting, is
 *
 *   Wq = lambda E[S^2] / (2 (1 - rho)) + (2 E[U] + lambda E[U^2]) /
 *                                          (2 (1 + lambda E[U])),
 *   rho = lambda E[S],
 *
 * (the M/D/1 Pollaczek-Khinchine term plus the setup term; with
 * deterministic S and U, E[S^2] = S^2, E[U^2] = U^2), and the `vmm` stage
 * of a fault (record in the ring -> injected) has mean Wq + S.
 * Check: from Welch's mean wait W0 (first customer's wait 0, its service
 * U + S) the sojourn is W0 + S + pi0 U with pi0 = (1 - rho) / (1 + lambda
 * U) the probability of arriving to an empty system; both give the same.
 *
 * The setup is large against the service (U = 40 us, S = 3 us), the case
 * where an eventfd wake-up scheduled while the thread was busy, and fired
 * after it had consumed the signal, cut later waits short (-14 % here).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/platform.h"

START_TEST(test_vmm_md1_setup)
{
    enum { N = 12000 };
    const double gap_us = 20.0; /* 1 / lambda */
    const char *sets[] = {"vm.devices=1",    "host.irq_latency=0",
                          "host.prq_desc=0", "ioasid.report=0",
                          "vmm.wake=40us",   "vmm.batch=1",
                          "vmm.read=0",      "vmm.route=1000",
                          "vmm.inject=2000", "device.pri_capacity=512",
                          "device.tags=512", "iommu.prq_depth=4096",
                          "guest.vcpus=64",  NULL};
    pfx_t *h = pfx_new2(sets, NULL);
    trace_record_t *r = calloc(N + 1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r[0] = rmap(0, 0, 1, BASE, (uint64_t)N * 0x1000, PERM_RW, false);
    sim_rng_t rng;
    sim_rng_seed(&rng, 42, "md1-setup");
    double t = 10.0 * US;
    for (unsigned i = 0; i < N; i++) {
        t += -log(1.0 - sim_rng_double(&rng)) * gap_us * US;
        r[1 + i] =
            rdma((sim_time_t)t, 0, 1, BASE + (uint64_t)i * 0x1000, 64, false);
    }
    ck_assert_int_eq(pfx_run(h, r, N + 1), PLATFORM_OK);
    free(r);
    ck_assert_uint_eq(ctr(h, "ioasid.faults"), N);
    ck_assert_uint_eq(ctr(h, "vmm.guest_queue_full"), 0);

    const ioasid_virt_cfg_t *v = &h->pc.virt;
    const double lambda = 1.0 / (gap_us * US);
    const double S = sim_dist_mean(&v->read) + sim_dist_mean(&v->route) +
                     sim_dist_mean(&v->inject);
    const double U = sim_dist_mean(&v->wake);
    const double rho = lambda * S;
    const double wq = lambda * S * S / (2 * (1 - rho)) +
                      (2 * U + lambda * U * U) / (2 * (1 + lambda * U));
    const double want = wq + S;
    sim_hist_t *vs = stage(h, PLATFORM_STAGE_VMM);
    ck_assert_uint_eq(vs->count, N);
    double got = sim_hist_mean(vs);
    double err = (got - want) / want;
    /* The sampling error of the mean over N faults is about 1 %. */
    ck_assert_msg(fabs(err) < 0.03,
                  "VMM stage mean %.3f us, M/D/1 with setup predicts "
                  "%.3f us (%+.1f %%)",
                  got / US, want / US, 100 * err);
    pfx_free(h);
}
END_TEST

static Suite *vmm_validation_suite(void)
{
    Suite *s = suite_create("vmm_validation");
    TCase *tc = tcase_create("queueing");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_vmm_md1_setup);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(vmm_validation_suite());
}
