/*
 * tests/pcie/test_device_pri.c - the PRI state machine of the endpoint
 * device, one rule per test (PCIe r4.0 10.4-10.5, as quoted by Linux
 * pci_regs.h / drivers/pci/ats.c and the RISC-V IOMMU reference model):
 *  - a denied translation makes a page request group: one Page Request per
 *    page (fault-ahead), one 9-bit PRG index, L=1 on the last only;
 *  - the outstanding allocation is min(capacity, host allocation), counted
 *    per page request message; faults beyond it wait, in order;
 *  - a PRG index is reused only after its group's response, oldest free
 *    index first;
 *  - response codes: Success -> translate again (bounded re-faults),
 *    Invalid Request -> the access fails, Response Failure (and codes
 *    2..14) -> PRI disabled until reset, responses ignored meanwhile;
 *  - a response for an index not outstanding sets UPRGI and is ignored;
 *  - PRG Response PASID Required;
 *  - the device-side response timeout;
 *  - the PASID stop protocol and its Stop Marker;
 *  - no allocation per page request.
 * The device sits in front of the fake root complex of dev_fixture.c.
 * Expected times are computed from the configuration and the link model.
 */
#include <check.h>

#include "tests/check_run.h"
#include "tests/pcie/dev_fixture.h"

#include <errno.h>

/* A denied completion makes exactly one page request, L=1, with the
 * PASID and R (read) or W (write). */
START_TEST(test_denied_makes_one_page_request)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    bool write = _i == 1;
    dma(f, BASE + 0x3010, 64, write);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    const upmsg_t *u = nth_up(f, PCIE_MSG_PAGE_REQ, 0);
    const pcie_msg_t *m = &u->m;
    ck_assert_uint_ne(m->flags & PCIE_F_LAST, 0);
    ck_assert_uint_ne(m->flags & PCIE_F_PASID, 0);
    ck_assert_uint_eq(m->pasid, PASID);
    ck_assert_uint_eq(m->addr, BASE + 0x3000);
    ck_assert_uint_eq(m->rid, 0x100);
    ck_assert_uint_lt(m->tag, PCIE_PRG_INDICES);
    if (write) {
        ck_assert_uint_ne(m->flags & PCIE_F_W, 0);
        ck_assert_uint_eq(m->flags & PCIE_F_R, 0);
    } else {
        ck_assert_uint_ne(m->flags & PCIE_F_R, 0);
        ck_assert_uint_eq(m->flags & PCIE_F_W, 0);
    }
    /* Sent one processing delay after the denying completion arrived:
     * completion arrival = ATS request arrival + ats_delay + down link. */
    const upmsg_t *rq = nth_up(f, PCIE_MSG_ATS_REQ, 0);
    pcie_msg_t cpl = {.type = PCIE_MSG_ATS_CPL};
    pcie_msg_t pr = {.type = PCIE_MSG_PAGE_REQ, .flags = PCIE_F_PASID};
    sim_time_t down_cpl =
        pcie_link_serial_time(&f->lcfg, pcie_msg_wire_bytes(&f->lcfg, &cpl)) +
        f->lcfg.latency;
    sim_time_t up_pr =
        pcie_link_serial_time(&f->lcfg, pcie_msg_wire_bytes(&f->lcfg, &pr)) +
        f->lcfg.latency;
    ck_assert_uint_eq(u->t,
                      rq->t + f->ats_delay + down_cpl + 50 * SIM_NS + up_pr);
    /* Nothing else happens without a response: the DMA waits. */
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.in_flight, 1);
    ck_assert_uint_eq(t.page_requests, 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.page_requests"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 0);
    fx_free(f);
}
END_TEST

/* Success: the device translates again and the DMA completes. */
START_TEST(test_success_retries_translation)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    const upmsg_t *pr = nth_up(f, PCIE_MSG_PAGE_REQ, 0);
    ck_assert_ptr_nonnull(pr);
    sim_time_t t_resp_sent = sim_now(f->sim) + SIM_US;
    respond(f, pr->m.tag, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 2);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    /* The second translation request follows the response. */
    const upmsg_t *rq2 = nth_up(f, PCIE_MSG_ATS_REQ, 1);
    ck_assert_uint_gt(rq2->t, t_resp_sent);
    ck_assert_uint_eq(rq2->m.addr, BASE);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_success"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 0);
    /* The fault span closed successfully with every stage the device
     * marks (ats_fault, response, retry, data). */
    ck_assert_uint_eq(ctr(f, "fault.closed"), 1);
    ck_assert_uint_eq(ctr(f, "fault.failed"), 0);
    ck_assert_uint_eq(
        sim_stats_find_hist(f->st, "fault.stage.ats_fault")->count, 1);
    ck_assert_uint_eq(sim_stats_find_hist(f->st, "fault.stage.retry")->count,
                      1);
    fx_free(f);
}
END_TEST

START_TEST(test_invalid_fails_dma)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    dma(f, BASE, 64, true);
    run(f);
    const upmsg_t *pr = nth_up(f, PCIE_MSG_PAGE_REQ, 0);
    respond(f, pr->m.tag, PCIE_PRG_INVALID, false, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 0);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_invalid"), 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_WR), 0);
    ck_assert_uint_eq(ctr(f, "fault.failed"), 1);
    /* PRI stays enabled: the next fault asks again. */
    dma(f, BASE + 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 2);
    fx_free(f);
}
END_TEST

/* Response Failure disables PRI: later faults fail with no page request;
 * translated accesses still work. */
START_TEST(test_failure_disables_pri)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    const upmsg_t *pr = nth_up(f, PCIE_MSG_PAGE_REQ, 0);
    respond(f, pr->m.tag, PCIE_PRG_FAILURE, false, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_failure"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    dma(f, BASE + 0x1000, 64, false);
    dma(f, BASE + 0x2000, 64, true);
    page_set(f, PASID, BASE + 0x5000, PCIE_F_R);
    dma(f, BASE + 0x5000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 3);
    ck_assert_uint_eq(ctr(f, "device0.faults_without_pri"), 2);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    fx_free(f);
}
END_TEST

/* A reserved response code (2..14) acts as Response Failure. */
START_TEST(test_reserved_code_is_failure)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, 0x5, false, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_failure"), 1);
    dma(f, BASE + 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    ck_assert_uint_eq(ctr(f, "device0.faults_without_pri"), 1);
    fx_free(f);
}
END_TEST

/* A device without PRI fails a denied access at once. */
START_TEST(test_no_pri_device)
{
    fx_t *f = fx_new();
    f->dcfg.pri = false;
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 0);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(f, "device0.faults_without_pri"), 1);
    fx_free(f);
}
END_TEST

/* A UR completion fails the DMA (no page request). */
START_TEST(test_ur_completion_fails)
{
    fx_t *f = fx_new();
    f->ur_pasid = PASID;
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.ats.cpl_errors"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 0);
    fx_free(f);
}
END_TEST

/* Outstanding allocation 2: three concurrent faults send two page
 * requests; the third goes out once one is answered. */
START_TEST(test_capacity_limits_page_requests)
{
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = 2;
    fx_start(f, true);
    for (unsigned i = 0; i < 3; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 3);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 2);
    ck_assert_uint_eq(f->n_out, 2);
    uint16_t first = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    uint16_t second = nth_up(f, PCIE_MSG_PAGE_REQ, 1)->m.tag;
    ck_assert_uint_ne(first, second);
    respond(f, first, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    ck_assert_uint_eq(f->max_out, 2);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    /* The third took a free index, not the one still outstanding. */
    uint16_t third = nth_up(f, PCIE_MSG_PAGE_REQ, 2)->m.tag;
    ck_assert_uint_ne(third, second);
    respond(f, second, PCIE_PRG_SUCCESS, true, SIM_US);
    respond(f, third, PCIE_PRG_SUCCESS, true, 2 * SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 3);
    ck_assert(!f->collision);
    sim_hist_t *w = sim_stats_find_hist(f->st, "device0.pri.capacity_wait");
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(w->count, 1);
    ck_assert_uint_gt(w->min, 0);
    fx_free(f);
}
END_TEST

/* Many faults answered out of order: a PRG index is never sent again
 * while its group is outstanding, the allocation is never exceeded, and
 * every DMA completes. Run for capacities 1, 3 and 8. */
START_TEST(test_prg_index_reuse_only_after_response)
{
    static const unsigned caps[] = {1, 3, 8};
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = caps[_i];
    f->dcfg.tags = 64;
    f->auto_prg = PCIE_PRG_SUCCESS;
    fx_start(f, true);
    enum { N = 40 };
    for (unsigned i = 0; i < N; i++)
        dma(f, BASE + i * 0x1000, 64, i % 3 == 0);
    run(f);
    ck_assert(!f->collision);
    ck_assert_uint_le(f->max_out, caps[_i]);
    ck_assert_uint_eq(f->max_out, caps[_i] < N ? caps[_i] : N);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), N);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), N);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 0);
    ck_assert_uint_eq(f->n_out, 0);
    fx_free(f);
}
END_TEST

/* A response for an index that is not outstanding is counted (UPRGI) and
 * ignored; the real one still completes the DMA. */
START_TEST(test_uprgi)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    pcie_msg_t stray = {0};
    stray.type = PCIE_MSG_PRG_RESP;
    stray.tag = 77;
    stray.pasid = PASID;
    stray.code = PCIE_PRG_SUCCESS;
    send_down_after(f, SIM_US, &stray);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 1);
    dma(f, BASE, 64, false);
    run(f);
    uint16_t tag = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    stray.tag = (uint16_t)((tag + 1) % PCIE_PRG_INDICES);
    send_down_after(f, SIM_US, &stray);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 2);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 0);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    respond(f, tag, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_success"), 1);
    /* A second response to the same, now answered, index is UPRGI. */
    stray.tag = tag;
    send_down_after(f, SIM_US, &stray);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 3);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_success"), 1);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.prg_responses, 4);
    fx_free(f);
}
END_TEST

/* Success responses whose retry faults again are bounded by pri_retries:
 * 1 + pri_retries page requests, then the DMA fails. */
START_TEST(test_retries_bounded)
{
    fx_t *f = fx_new();
    f->dcfg.pri_retries = 2;
    f->auto_prg = PCIE_PRG_SUCCESS;
    f->prg_populates = false; /* the page never becomes present */
    fx_start(f, true);
    dma(f, BASE, 64, false);
    sim_run(f->sim, 10 * SIM_MS);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    ck_assert_uint_eq(ctr(f, "device0.pri.retries_exhausted"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(f, "fault.failed"), 1);
    fx_free(f);
}
END_TEST

/*
 * Regression (was a model bug in pcie/device.c job_fault): the
 * pri_retries bound was only applied when the DMA has a fault span (`if
 * (j->span)`), so a device created with spans == NULL (allowed by pcie.h: "may
 * be NULL"), or whose span allocation failed, re-sends page requests forever
 * when the host keeps answering Success without fixing the page: an unbounded
 * livelock instead of failing the DMA after pri_retries re-faults. This test is
 * the same as test_retries_bounded without spans.
 */
START_TEST(test_retries_bounded_without_spans)
{
    fx_t *f = fx_new();
    f->dcfg.pri_retries = 2;
    f->auto_prg = PCIE_PRG_SUCCESS;
    f->prg_populates = false;
    fx_start(f, false);
    dma(f, BASE, 64, false);
    /* Bounded run: each round trip takes a few microseconds. */
    sim_run(f->sim, 10 * SIM_MS);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    ck_assert_uint_eq(ctr(f, "device0.pri.retries_exhausted"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    fx_free(f);
}
END_TEST

/* ----------------------------------------------------- allocation */

/* Allocation 1: the second fault waits; its page request goes out one
 * processing delay after the first group's response arrives (behind the
 * first DMA's re-issued translation request, built in the same delay),
 * and the wait is recorded. */
START_TEST(test_capacity_wait_exact)
{
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = 1;
    fx_start(f, true);
    dma(f, BASE, 64, false);
    dma(f, BASE + 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    const uint8_t P = PCIE_F_PASID;
    /* When B's denial arrived: its request's arrival + ats_delay + down. */
    sim_time_t t_denied_b = nth_up(f, PCIE_MSG_ATS_REQ, 1)->t + f->ats_delay +
                            hop(f, PCIE_MSG_ATS_CPL, 0, 0);
    sim_time_t t_resp = sim_now(f->sim) + 3 * SIM_US;
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, PCIE_PRG_SUCCESS, true,
            3 * SIM_US);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 2);
    sim_time_t t_rx = t_resp + hop(f, PCIE_MSG_PRG_RESP, P, 0);
    const upmsg_t *pr_b = nth_up(f, PCIE_MSG_PAGE_REQ, 1);
    ck_assert_uint_eq(pr_b->m.addr, BASE + 0x1000);
    ck_assert_uint_eq(pr_b->t, t_rx + proc(f) + ser(f, PCIE_MSG_ATS_REQ, P, 0) +
                                   hop(f, PCIE_MSG_PAGE_REQ, P, 0));
    sim_hist_t *w = hist(f, "device0.pri.capacity_wait");
    ck_assert_uint_eq(w->count, 1);
    ck_assert_uint_eq(w->min, t_rx - t_denied_b);
    respond(f, pr_b->m.tag, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2);
    ck_assert_uint_eq(f->max_pages_out, 1);
    fx_free(f);
}
END_TEST

/* The device may have min(capacity, allocation) page requests
 * outstanding (Linux pci_enable_pri writes min(capacity, requested)). */
START_TEST(test_allocation_is_min_of_capacity_and_host)
{
    static const uint64_t cap[] = {8, 2}, alloc[] = {3, 5};
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = cap[_i];
    f->dcfg.pri_alloc = alloc[_i];
    f->auto_prg = PCIE_PRG_SUCCESS;
    fx_start(f, true);
    enum { N = 12 };
    for (unsigned i = 0; i < N; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    uint64_t limit = cap[_i] < alloc[_i] ? cap[_i] : alloc[_i];
    ck_assert_uint_eq(f->max_pages_out, limit);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), N);
    ck_assert_uint_eq(hist(f, "device0.pri.capacity_wait")->count, N - limit);
    ck_assert(!f->collision);
    fx_free(f);
}
END_TEST

/* ------------------------------------------------------ PRG index */

/* Indices are handed out oldest first: with one group at a time, the
 * k-th group gets index k mod 512, so an index comes back only after all
 * the others were used. */
START_TEST(test_prg_index_oldest_first)
{
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = 1;
    f->auto_prg = PCIE_PRG_SUCCESS;
    f->prg_delay_unit = 200 * SIM_NS;
    fx_start(f, false);
    enum { N = 600 };
    for (unsigned i = 0; i < N; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), N);
    for (unsigned k = 0; k < N; k++)
        ck_assert_uint_eq(nth_up(f, PCIE_MSG_PAGE_REQ, k)->m.tag,
                          k % PCIE_PRG_INDICES);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), N);
    ck_assert(!f->collision);
    fx_free(f);
}
END_TEST

/* ------------------------------------------------- groups (L flag) */

/* fault_ahead 4 on a DMA over three pages: one group of three page
 * requests, same index, L on the last only; the allocation counts three;
 * after Success the DMA translates the three pages and completes without
 * another page request. */
START_TEST(test_group_last_flag)
{
    fx_t *f = fx_new();
    f->dcfg.fault_ahead = 4;
    fx_start(f, true);
    bool write = _i == 1;
    uint64_t va = BASE + 0x800, len = 0x2000; /* pages 0, 1, 2 */
    dma(f, va, len, write);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    uint16_t tag = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    for (unsigned k = 0; k < 3; k++) {
        const pcie_msg_t *m = &nth_up(f, PCIE_MSG_PAGE_REQ, k)->m;
        ck_assert_uint_eq(m->tag, tag);
        ck_assert_uint_eq(m->addr, BASE + k * 0x1000);
        ck_assert_uint_eq(m->pasid, PASID);
        ck_assert_uint_ne(m->flags & PCIE_F_PASID, 0);
        ck_assert_uint_eq(m->flags & PCIE_F_LAST, k == 2 ? PCIE_F_LAST : 0);
        ck_assert_uint_eq(m->flags & (PCIE_F_R | PCIE_F_W),
                          write ? PCIE_F_W : PCIE_F_R);
    }
    /* Back to back on the link, built in one processing delay. */
    sim_time_t s = ser(f, PCIE_MSG_PAGE_REQ, PCIE_F_PASID, 0);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_PAGE_REQ, 1)->t,
                      nth_up(f, PCIE_MSG_PAGE_REQ, 0)->t + s);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_PAGE_REQ, 2)->t,
                      nth_up(f, PCIE_MSG_PAGE_REQ, 0)->t + 2 * s);
    ck_assert_uint_eq(f->max_pages_out, 3);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.pri_outstanding, 3);
    ck_assert_uint_eq(t.page_groups, 1);
    respond(f, tag, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    /* fault, retry of page 0, pages 1 and 2 */
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 4);
    ck_assert_uint_eq(ctr(f, "device0.pri.groups"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.page_requests"), 3);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(f, "device0.bytes"), len);
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.pri_outstanding, 0);
    fx_free(f);
}
END_TEST

/* A group stops before a page the ATC holds; the page after it faults in
 * a group of its own. With fault_ahead 1 (the default) every page is its
 * own group. */
START_TEST(test_group_stops_at_cached_page)
{
    fx_t *f = fx_new();
    f->dcfg.fault_ahead = 8;
    f->auto_prg = PCIE_PRG_SUCCESS;
    fx_start(f, true);
    page_set(f, PASID, BASE + 0x2000, PCIE_F_R | PCIE_F_W);
    dma(f, BASE + 0x2000, 64, false); /* caches page 2 */
    run(f);
    dma(f, BASE, 0x4000, false); /* pages 0..3; 0, 1, 3 absent */
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    const pcie_msg_t *a = &nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m;
    const pcie_msg_t *b = &nth_up(f, PCIE_MSG_PAGE_REQ, 1)->m;
    const pcie_msg_t *c = &nth_up(f, PCIE_MSG_PAGE_REQ, 2)->m;
    ck_assert_uint_eq(a->addr, BASE);
    ck_assert_uint_eq(a->flags & PCIE_F_LAST, 0);
    ck_assert_uint_eq(b->addr, BASE + 0x1000);
    ck_assert_uint_ne(b->flags & PCIE_F_LAST, 0);
    ck_assert_uint_eq(b->tag, a->tag);
    ck_assert_uint_eq(c->addr, BASE + 0x3000);
    ck_assert_uint_ne(c->flags & PCIE_F_LAST, 0);
    ck_assert_uint_eq(ctr(f, "device0.pri.groups"), 2);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 1);
    fx_free(f);
}
END_TEST

/* The allocation counts page requests: with 5, a group of 4 leaves 1, so
 * a second group of 4 waits for the first one's response; a group never
 * asks for more than the allocation (capacity 2: groups of 2). */
START_TEST(test_group_allocation_per_page)
{
    fx_t *f = fx_new();
    f->dcfg.fault_ahead = 4;
    f->dcfg.pri_capacity = _i == 0 ? 5 : 2;
    fx_start(f, true);
    dma(f, BASE, 0x4000, false);
    dma(f, BASE + 0x10000, 0x4000, false);
    run(f);
    if (_i == 0) {
        ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 4);
        ck_assert_uint_eq(f->pages_out, 4);
        respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, PCIE_PRG_SUCCESS,
                true, SIM_US);
        run(f);
        ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 8);
        ck_assert_uint_eq(nth_up(f, PCIE_MSG_PAGE_REQ, 4)->m.addr,
                          BASE + 0x10000);
        ck_assert_uint_eq(f->max_pages_out, 4);
    } else {
        ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 2);
        ck_assert_uint_ne(
            nth_up(f, PCIE_MSG_PAGE_REQ, 1)->m.flags & PCIE_F_LAST, 0);
        ck_assert_uint_eq(f->max_pages_out, 2);
    }
    fx_free(f);
}
END_TEST

/* --------------------------------------------- Response Failure */

/* A Response Failure fails every DMA waiting on PRI (outstanding or
 * waiting for allocation), sets RF, and later responses are ignored;
 * faults fail until pcie_dev_pri_reset, after which PRI works again. */
START_TEST(test_failure_then_reset)
{
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = 2;
    fx_start(f, true);
    for (unsigned i = 0; i < 4; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 2);
    uint16_t a = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    uint16_t b = nth_up(f, PCIE_MSG_PAGE_REQ, 1)->m.tag;
    ck_assert_uint_eq(pcie_dev_pri_status(f->dev) & PCIE_PRI_STATUS_RF, 0);
    respond(f, a, PCIE_PRG_FAILURE, false, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_failure"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 4);
    unsigned st = pcie_dev_pri_status(f->dev);
    ck_assert_uint_ne(st & PCIE_PRI_STATUS_RF, 0);
    ck_assert_uint_ne(st & PCIE_PRI_STATUS_STOPPED, 0);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.pri_outstanding, 0);
    ck_assert_uint_eq(t.in_flight, 0);
    /* The host may still answer the other group: ignored. */
    respond(f, b, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_ignored"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 0);
    /* Faults fail at once, no page request. */
    dma(f, BASE + 0x8000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 2);
    ck_assert_uint_eq(ctr(f, "device0.faults_without_pri"), 1);
    /* Reset: RF cleared, faults recoverable again. */
    pcie_dev_pri_reset(f->dev);
    st = pcie_dev_pri_status(f->dev);
    ck_assert_uint_eq(st & (PCIE_PRI_STATUS_RF | PCIE_PRI_STATUS_STOPPED), 0);
    dma(f, BASE + 0x9000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 3);
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 2)->m.tag, PCIE_PRG_SUCCESS, true,
            SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.resets"), 1);
    fx_free(f);
}
END_TEST

/* A reset forgets outstanding groups: their DMAs fail, a late response
 * for one of them is UPRGI. */
START_TEST(test_reset_forgets_outstanding)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    uint16_t a = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    pcie_dev_pri_reset(f->dev);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    respond(f, a, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 1);
    ck_assert_uint_ne(pcie_dev_pri_status(f->dev) & PCIE_PRI_STATUS_UPRGI, 0);
    fx_free(f);
}
END_TEST

/* -------------------------------------------------------- timeout */

/* pri_timeout: a group not answered in time is given up exactly
 * pri_timeout after its requests were sent: its DMA fails, the
 * allocation and the index are freed (the waiting fault goes out at once,
 * with the next index), and the late response counts as UPRGI. */
START_TEST(test_response_timeout)
{
    fx_t *f = fx_new();
    f->dcfg.pri_capacity = 1;
    f->dcfg.pri_timeout = 10 * SIM_US;
    fx_start(f, true);
    dma(f, BASE, 64, false);
    dma(f, BASE + 0x1000, 64, false);
    sim_run(f->sim, 5 * SIM_US);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    const uint8_t P = PCIE_F_PASID;
    const upmsg_t *pr_a = nth_up(f, PCIE_MSG_PAGE_REQ, 0);
    sim_time_t t_sent = pr_a->t - hop(f, PCIE_MSG_PAGE_REQ, P, 0);
    sim_time_t t_out = t_sent + f->dcfg.pri_timeout;
    uint16_t tag_a = pr_a->m.tag;
    sim_run(f->sim, t_out - 1);
    ck_assert_uint_eq(f->ndone, 0);
    sim_run(f->sim, t_out + 5 * SIM_US);
    ck_assert_uint_eq(ctr(f, "device0.pri.timeouts"), 1);
    ck_assert_uint_eq(f->ndone, 1);
    ck_assert(!f->done[0].ok);
    ck_assert_uint_eq(f->done[0].addr, BASE);
    ck_assert_uint_eq(f->done[0].t, t_out);
    const upmsg_t *pr_b = nth_up(f, PCIE_MSG_PAGE_REQ, 1);
    ck_assert_ptr_nonnull(pr_b);
    ck_assert_uint_eq(pr_b->t,
                      t_out + proc(f) + hop(f, PCIE_MSG_PAGE_REQ, P, 0));
    ck_assert_uint_ne(pr_b->m.tag, tag_a);
    /* The late response for A. */
    respond(f, tag_a, PCIE_PRG_SUCCESS, true, SIM_US);
    sim_run(f->sim, sim_now(f->sim) + 2 * SIM_US);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 1);
    respond(f, pr_b->m.tag, PCIE_PRG_SUCCESS, true, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.timeouts"), 1);
    fx_free(f);
}
END_TEST

/* ---------------------------------------- PRG Response PASID Required */

/* Required (the default): a response without the PASID prefix, or with
 * another PASID, does not match the group (UPRGI, counted); the right one
 * does. Not required: a response with the prefix is accepted (counted)
 * and one without is the normal case. */
START_TEST(test_prg_pasid_required)
{
    bool required = _i == 0;
    fx_t *f = fx_new();
    f->dcfg.prg_pasid_required = required;
    fx_start(f, true);
    ck_assert_uint_eq(pcie_dev_pri_status(f->dev) & PCIE_PRI_STATUS_PASID,
                      required ? PCIE_PRI_STATUS_PASID : 0);
    dma(f, BASE, 64, false);
    run(f);
    uint16_t tag = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    if (required) {
        respond_ex(f, tag, PCIE_PRG_SUCCESS, true, SIM_US, 0, 0);
        run(f);
        ck_assert_uint_eq(ctr(f, "device0.pri.resp_missing_pasid"), 1);
        ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 1);
        ck_assert_uint_ne(pcie_dev_pri_status(f->dev) & PCIE_PRI_STATUS_UPRGI,
                          0);
        respond_ex(f, tag, PCIE_PRG_SUCCESS, true, SIM_US, PCIE_F_PASID,
                   PASID + 1);
        run(f);
        ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 2);
        ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 0);
        pcie_dev_totals_t t;
        pcie_dev_totals(f->dev, &t);
        ck_assert_uint_eq(t.pri_outstanding, 1);
        respond_ex(f, tag, PCIE_PRG_SUCCESS, true, SIM_US, PCIE_F_PASID, PASID);
        run(f);
        ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
        ck_assert_uint_eq(ctr(f, "device0.pri.resp_unexpected_pasid"), 0);
    } else {
        respond_ex(f, tag, PCIE_PRG_SUCCESS, true, SIM_US, PCIE_F_PASID, PASID);
        run(f);
        ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
        ck_assert_uint_eq(ctr(f, "device0.pri.resp_unexpected_pasid"), 1);
        dma(f, BASE + 0x1000, 64, false);
        run(f);
        tag = nth_up(f, PCIE_MSG_PAGE_REQ, 1)->m.tag;
        respond_ex(f, tag, PCIE_PRG_SUCCESS, true, SIM_US, 0, 0);
        run(f);
        ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2);
        ck_assert_uint_eq(ctr(f, "device0.pri.resp_unexpected_pasid"), 1);
        ck_assert_uint_eq(ctr(f, "device0.pri.resp_missing_pasid"), 0);
    }
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_success"), 1 + !required);
    fx_free(f);
}
END_TEST

/* ---------------------------------------------------- PASID stop */

/* Stop with a page request outstanding: the faulting DMA and the queued
 * one fail at once, a DMA issued during the stop fails, the read in
 * flight completes first, then the Stop Marker (L=1, R=W=0, PASID) goes
 * out one processing delay later and the stop completes; another PASID
 * is not affected. The group's response frees its index and allocation
 * later (not UPRGI). */
START_TEST(test_stop_marker)
{
    fx_t *f = fx_new();
    f->dcfg.tags = 2;
    f->mem_delay = 20 * SIM_US;
    fx_start(f, true);
    const uint32_t OTHER = PASID + 1;
    page_set(f, PASID, BASE + 0x1000, PCIE_F_R | PCIE_F_W);
    page_set(f, OTHER, BASE + 0x1000, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false);                      /* A: faults */
    dma(f, BASE + 0x1000, 64, false);             /* B: slow read */
    dma(f, BASE + 0x2000, 64, false);             /* C: queued */
    dma_pasid(f, OTHER, BASE + 0x1000, 64, true); /* D: queued */
    sim_time_t t_stop = 3 * SIM_US;
    sim_run(f->sim, t_stop);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    const upmsg_t *rd = nth_up(f, PCIE_MSG_MEM_RD, 0);
    ck_assert_ptr_nonnull(rd);
    uint16_t tag_a = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, PASID, fx_on_stop, f), 0);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, PASID, fx_on_stop, f), -EBUSY);
    ck_assert_uint_eq(f->stops_done, 0); /* never from inside the call */
    ck_assert_uint_eq(ctr(f, "device0.dmas_stopped"), 2);
    dma_at(f, t_stop + SIM_US, PASID, BASE + 0x1000, 64, false); /* E */
    run(f);
    /* B's completion reached the device at: */
    sim_time_t t_b = rd->t + f->mem_delay + hop(f, PCIE_MSG_MEM_CPL, 0, 64);
    ck_assert_uint_eq(f->stops_done, 1);
    ck_assert_uint_eq(f->stop_done_pasid, PASID);
    ck_assert_uint_eq(f->t_stop_done, t_b + proc(f));
    ck_assert_uint_eq(f->stop_markers, 1);
    const upmsg_t *sm = nth_up(f, PCIE_MSG_PAGE_REQ, 1);
    ck_assert_uint_eq(sm->m.flags, PCIE_F_PASID | PCIE_F_LAST);
    ck_assert_uint_eq(sm->m.pasid, PASID);
    ck_assert_uint_eq(sm->t, t_b + proc(f) +
                                 hop(f, PCIE_MSG_PAGE_REQ, PCIE_F_PASID, 0));
    ck_assert_uint_eq(ctr(f, "device0.pri.stop_markers"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.page_requests"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_stopped"), 3);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2); /* B and D */
    ck_assert_uint_eq(f->nok, 2);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.pri_outstanding, 1);
    ck_assert_uint_eq(t.stop_markers, 1);
    /* The host answers the stopped group later. */
    respond(f, tag_a, PCIE_PRG_INVALID, false, SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.resp_stopped"), 1);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 0);
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.pri_outstanding, 0);
    /* The stop is over: the PASID can be used again. */
    dma(f, BASE + 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 3);
    fx_free(f);
}
END_TEST

/* Stop with no page request outstanding: no Stop Marker; the stop
 * completes when the DMA waiting for its translation gets the completion
 * (and fails without sending anything else), or at once when nothing of
 * the PASID is in flight. */
START_TEST(test_stop_without_marker)
{
    fx_t *f = fx_new();
    f->ats_delay = 5 * SIM_US;
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false);
    sim_run(f->sim, SIM_US);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    const upmsg_t *rq = nth_up(f, PCIE_MSG_ATS_REQ, 0);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, PASID, fx_on_stop, f), 0);
    run(f);
    ck_assert_uint_eq(f->stops_done, 1);
    ck_assert_uint_eq(f->t_stop_done,
                      rq->t + f->ats_delay + hop(f, PCIE_MSG_ATS_CPL, 0, 0));
    ck_assert_uint_eq(f->stop_markers, 0);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_RD), 0);
    ck_assert_uint_eq(ctr(f, "device0.dmas_stopped"), 1);
    /* Nothing in flight: completes at the same time, after the call. */
    sim_time_t now = sim_now(f->sim);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, PASID + 7, fx_on_stop, f), 0);
    ck_assert_uint_eq(f->stops_done, 1);
    run(f);
    ck_assert_uint_eq(f->stops_done, 2);
    ck_assert_uint_eq(f->t_stop_done, now);
    ck_assert_uint_eq(f->stop_markers, 0);
    fx_free(f);
}
END_TEST

/* ------------------------------------------------ no allocation */

/* The PRI machinery allocates nothing per request: after a first round
 * of concurrent faults (groups of several pages), ten more rounds make
 * the device and its link grow no storage. */
START_TEST(test_no_allocation_per_request)
{
    fx_t *f = fx_new();
    f->dcfg.fault_ahead = 4;
    f->dcfg.pri_capacity = 16;
    f->auto_prg = PCIE_PRG_SUCCESS;
    f->prg_delay_unit = 500 * SIM_NS;
    f->no_record = true;
    fx_start(f, false);
    enum { ROUND = 64 };
    uint64_t page = 0;
    for (unsigned i = 0; i < ROUND; i++, page += 4)
        dma(f, BASE + page * 0x1000, 0x3000, i % 2);
    run(f);
    pcie_dev_totals_t t0, t1;
    pcie_dev_totals(f->dev, &t0);
    ck_assert_uint_eq(t0.dmas_done, ROUND);
    for (unsigned r = 0; r < 10; r++) {
        for (unsigned i = 0; i < ROUND; i++, page += 4)
            dma(f, BASE + page * 0x1000, 0x3000, i % 2);
        run(f);
    }
    pcie_dev_totals(f->dev, &t1);
    ck_assert_uint_eq(t1.dmas_done, 11 * ROUND);
    ck_assert_uint_eq(t1.page_groups, 11 * ROUND);
    ck_assert_uint_eq(t1.page_requests, 11 * ROUND * 3);
    ck_assert_uint_eq(t1.mem_grows, t0.mem_grows);
    fx_free(f);
}
END_TEST

static Suite *pri_suite(void)
{
    Suite *s = suite_create("device_pri");
    TCase *tc = tcase_create("codes");
    tcase_add_loop_test(tc, test_denied_makes_one_page_request, 0, 2);
    tcase_add_test(tc, test_success_retries_translation);
    tcase_add_test(tc, test_invalid_fails_dma);
    tcase_add_test(tc, test_failure_disables_pri);
    tcase_add_test(tc, test_failure_then_reset);
    tcase_add_test(tc, test_reset_forgets_outstanding);
    tcase_add_test(tc, test_reserved_code_is_failure);
    tcase_add_test(tc, test_no_pri_device);
    tcase_add_test(tc, test_ur_completion_fails);
    tcase_add_test(tc, test_uprgi);
    tcase_add_test(tc, test_retries_bounded);
    tcase_add_test(tc, test_retries_bounded_without_spans);
    tcase_add_loop_test(tc, test_prg_pasid_required, 0, 2);
    tcase_add_test(tc, test_response_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("allocation");
    tcase_add_test(tc, test_capacity_limits_page_requests);
    tcase_add_test(tc, test_capacity_wait_exact);
    tcase_add_loop_test(tc, test_allocation_is_min_of_capacity_and_host, 0, 2);
    tcase_add_loop_test(tc, test_prg_index_reuse_only_after_response, 0, 3);
    tcase_add_test(tc, test_prg_index_oldest_first);
    tcase_add_loop_test(tc, test_group_last_flag, 0, 2);
    tcase_add_test(tc, test_group_stops_at_cached_page);
    tcase_add_loop_test(tc, test_group_allocation_per_page, 0, 2);
    tcase_add_test(tc, test_no_allocation_per_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_test(tc, test_stop_marker);
    tcase_add_test(tc, test_stop_without_marker);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(pri_suite());
}
