/*
 * tests/pcie/test_fault_policy.c - device.fault_policy (docs/model.md,
 * Device fault policies) on one device in front of the fake root complex
 * of dev_fixture.c:
 *  - pri: the faulting DMA waits for its PRG Response, the others go on
 *    (PCIe r4.0 10.4: PRI is per request);
 *  - block: a fault stalls the whole device until it is resolved (Intel
 *    DSA architecture specification, "Block on Fault"; Linux
 *    drivers/dma/idxd: the WQ config bit `bof`, sysfs block_on_fault,
 *    WQCFG bof in registers.h);
 *  - partial: the DMA completes partially at the fault (DSA completion
 *    status DSA_COMP_PAGE_FAULT_NOBOF with bytes_completed and fault_addr,
 *    Linux include/uapi/linux/idxd.h), no page request; software touches
 *    the page and resubmits the rest after device.partial_cost.
 * Expected times come from the configuration and the link model.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/pcie/dev_fixture.h"

static const char *const policy_name[] = {"pri", "block", "partial"};

/* The uncontended service of a 64-byte read of a present page that
 * misses the ATC, from its issue: proc, the translation round trip, the
 * read round trip. */
static sim_time_t read_service(const fx_t *f)
{
    const uint8_t P = PCIE_F_PASID, X = PCIE_F_XLATED;
    return proc(f) + hop(f, PCIE_MSG_ATS_REQ, P, 0) + f->ats_delay +
           hop(f, PCIE_MSG_ATS_CPL, 0, 0) + hop(f, PCIE_MSG_MEM_RD, X, 64) +
           f->mem_delay + hop(f, PCIE_MSG_MEM_CPL, 0, 64);
}

/* The done time of the DMA at addr (asserting it is there). */
static const fx_done_t *done_of(const fx_t *f, uint64_t addr)
{
    for (unsigned i = 0; i < f->ndone && i < MAXMSG; i++)
        if (f->done[i].addr == addr)
            return &f->done[i];
    ck_abort_msg("no DMA end at %#llx", (unsigned long long)addr);
    return NULL;
}

/* pri vs block: a DMA to a present page issued while another DMA's
 * fault is outstanding completes at once with pri; with block it starts
 * only when the fault is resolved (here by an Invalid Request response,
 * which ends the faulting DMA: nothing else uses the link then), and
 * completes one service later, to the picosecond. */
START_TEST(test_block_holds_later_dma)
{
    bool block = _i == 1;
    fx_t *f = fx_new();
    f->dcfg.fault_policy = block ? PCIE_FAULT_BLOCK : PCIE_FAULT_PRI;
    fx_start(f, true);
    const uint64_t Q = BASE + 0x10000;
    page_set(f, PASID, Q, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    sim_time_t t1 = sim_now(f->sim);
    dma(f, Q, 64, false);
    run(f);
    if (!block) {
        ck_assert_uint_eq(f->nok, 1);
        ck_assert_uint_eq(done_of(f, Q)->t, t1 + read_service(f));
        ck_assert_uint_eq(ctr(f, "device0.block.faults"), 0);
        ck_assert_uint_eq(ctr(f, "device0.block.held"), 0);
    } else {
        ck_assert_uint_eq(f->ndone, 0);
        ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
        ck_assert_uint_eq(ctr(f, "device0.block.faults"), 1);
        ck_assert_uint_eq(ctr(f, "device0.block.held"), 1);
    }
    sim_time_t t_resp = sim_now(f->sim) + 20 * SIM_US;
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, PCIE_PRG_INVALID, false,
            20 * SIM_US);
    run(f);
    sim_time_t tr = t_resp + hop(f, PCIE_MSG_PRG_RESP, PCIE_F_PASID, 0);
    ck_assert_uint_eq(f->ndone, 2);
    ck_assert_uint_eq(f->nok, 1);
    ck_assert(!done_of(f, BASE)->ok);
    ck_assert_uint_eq(done_of(f, BASE)->t, tr);
    if (block) {
        ck_assert_uint_eq(done_of(f, Q)->t, tr + read_service(f));
        /* Blocked from the fault's denial to its resolution. */
        sim_hist_t *h = hist(f, "device0.block.time");
        ck_assert_uint_eq(h->count, 1);
        sim_time_t t_deny = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->t -
                            hop(f, PCIE_MSG_PAGE_REQ, PCIE_F_PASID, 0) -
                            proc(f);
        ck_assert_uint_eq(h->max, tr - t_deny);
    }
    ck_assert_uint_eq(ctr(f, "device0.dmas"),
                      ctr(f, "device0.dmas_done") +
                          ctr(f, "device0.dmas_failed"));
    fx_free(f);
}
END_TEST

/* block: a DMA whose translation is granted while another DMA's fault
 * blocks the device is held (parked) with its translation cached; when
 * the fault is resolved (Success: the faulting DMA's retry goes first),
 * it looks its page up again (an ATC hit) and reads. With pri it reads
 * at once. */
START_TEST(test_block_parks_at_translation)
{
    bool block = _i == 1;
    fx_t *f = fx_new();
    f->dcfg.fault_policy = block ? PCIE_FAULT_BLOCK : PCIE_FAULT_PRI;
    fx_start(f, true);
    const uint64_t Q = BASE + 0x10000;
    const uint8_t P = PCIE_F_PASID, X = PCIE_F_XLATED;
    page_set(f, PASID, Q, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false); /* absent: denied first */
    dma(f, Q, 64, false);    /* present: granted one serialisation later */
    run(f);
    const upmsg_t *q_req = nth_up(f, PCIE_MSG_ATS_REQ, 1);
    ck_assert_uint_eq(q_req->m.addr, Q);
    sim_time_t t_q_cpl =
        q_req->t + f->ats_delay + hop(f, PCIE_MSG_ATS_CPL, 0, 0);
    sim_time_t q_read = hop(f, PCIE_MSG_MEM_RD, X, 64) + f->mem_delay +
                        hop(f, PCIE_MSG_MEM_CPL, 0, 64);
    if (!block) {
        ck_assert_uint_eq(done_of(f, Q)->t, t_q_cpl + q_read);
        ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_RD), 1);
    } else {
        ck_assert_uint_eq(f->ndone, 0);
        ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_RD), 0);
        ck_assert_uint_eq(ctr(f, "device0.block.held"), 1);
    }
    sim_time_t t_resp = sim_now(f->sim) + 10 * SIM_US;
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, PCIE_PRG_SUCCESS, true,
            10 * SIM_US);
    run(f);
    ck_assert_uint_eq(f->nok, 2);
    sim_time_t tr = t_resp + hop(f, PCIE_MSG_PRG_RESP, P, 0);
    /* The faulting DMA's retry is the first request after the response. */
    const upmsg_t *retry = nth_up(f, PCIE_MSG_ATS_REQ, 2);
    ck_assert_uint_eq(retry->m.addr, BASE);
    ck_assert_uint_eq(retry->t, tr + proc(f) + hop(f, PCIE_MSG_ATS_REQ, P, 0));
    if (block) {
        /* The parked DMA hits the ATC: its read is handed to the link one
         * processing delay after the resolution, as the retry's request,
         * and is serialised right behind it. */
        ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 1);
        const upmsg_t *rd = nth_up(f, PCIE_MSG_MEM_RD, 0);
        ck_assert_uint_eq(rd->m.addr, FX_FRAME(Q));
        ck_assert_uint_eq(rd->t, retry->t + ser(f, PCIE_MSG_MEM_RD, X, 64));
        ck_assert_uint_eq(done_of(f, Q)->t,
                          rd->t + f->mem_delay +
                              hop(f, PCIE_MSG_MEM_CPL, 0, 64));
    }
    fx_free(f);
}
END_TEST

/* The fix-up of the tests: the fake makes the page present (or refuses
 * when f->user is set); calls are recorded. */
static unsigned nfix;
static uint64_t fix_addr;
static sim_time_t fix_t;
static int fake_fixup(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                      uint64_t addr, bool write)
{
    (void)dev;
    fx_t *f = opaque;
    nfix++;
    fix_addr = addr;
    fix_t = sim_now(f->sim);
    if (f->user)
        return -EFAULT;
    page_set(f, pasid, addr, write ? PCIE_F_R | PCIE_F_W : PCIE_F_R);
    return 0;
}

/* partial: a DMA spanning a present page and an absent one moves the
 * first part, reports a partial completion (bytes_completed = the first
 * part), sends no page request; software fixes the page after
 * partial_cost and resubmits the rest, which translates again and
 * completes. */
START_TEST(test_partial_completion)
{
    fx_t *f = fx_new();
    f->dcfg.fault_policy = PCIE_FAULT_PARTIAL;
    const sim_time_t COST = 3 * SIM_US;
    f->dcfg.partial_cost = sim_dist_fixed(COST);
    fx_start(f, true);
    nfix = 0;
    pcie_dev_set_fixup(f->dev, fake_fixup, f);
    const uint64_t A = BASE + 0x1000 - 64; /* 64 bytes in each page */
    const uint8_t P = PCIE_F_PASID, X = PCIE_F_XLATED;
    page_set(f, PASID, BASE, PCIE_F_R);
    dma(f, A, 128, false);
    run(f);
    ck_assert_uint_eq(f->nok, 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 0);
    ck_assert_uint_eq(ctr(f, "device0.pri.page_requests"), 0);
    ck_assert_uint_eq(ctr(f, "device0.partial.completions"), 1);
    ck_assert_uint_eq(ctr(f, "device0.partial.bytes_completed"), 64);
    ck_assert_uint_eq(ctr(f, "device0.partial.resubmits"), 1);
    ck_assert_uint_eq(ctr(f, "device0.partial.failed"), 0);
    ck_assert_uint_eq(ctr(f, "device0.bytes"), 128);
    /* Requests: page 0's translation and read, page 1's denied
     * translation, then (after software) page 1's translation and read. */
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 3);
    const upmsg_t *deny_req = nth_up(f, PCIE_MSG_ATS_REQ, 1);
    ck_assert_uint_eq(deny_req->m.addr, BASE + 0x1000);
    sim_time_t t_deny =
        deny_req->t + f->ats_delay + hop(f, PCIE_MSG_ATS_CPL, 0, 0);
    ck_assert_uint_eq(nfix, 1);
    ck_assert_uint_eq(fix_addr, BASE + 0x1000);
    ck_assert_uint_eq(fix_t, t_deny + COST);
    sim_hist_t *sw = hist(f, "device0.partial.software");
    ck_assert_uint_eq(sw->count, 1);
    ck_assert_uint_eq(sw->max, COST);
    const upmsg_t *again = nth_up(f, PCIE_MSG_ATS_REQ, 2);
    ck_assert_uint_eq(again->m.addr, BASE + 0x1000);
    ck_assert_uint_eq(again->t,
                      t_deny + COST + proc(f) + hop(f, PCIE_MSG_ATS_REQ, P, 0));
    ck_assert_uint_eq(f->done[0].t,
                      again->t + f->ats_delay + hop(f, PCIE_MSG_ATS_CPL, 0, 0) +
                          hop(f, PCIE_MSG_MEM_RD, X, 64) + f->mem_delay +
                          hop(f, PCIE_MSG_MEM_CPL, 0, 64));
    /* One fault span: from the page's first translation to its data. */
    ck_assert_uint_eq(hist(f, "device0.dma_latency")->count, 1);
    fx_free(f);
}
END_TEST

/* partial: the tag is free while software works (a second DMA takes it
 * with tags = 1); a fix-up that refuses fails the DMA; without a fix-up a
 * page that stays absent is given up after pri_retries fix-ups. */
START_TEST(test_partial_tag_free_and_failures)
{
    fx_t *f = fx_new();
    f->dcfg.fault_policy = PCIE_FAULT_PARTIAL;
    f->dcfg.tags = 1;
    f->dcfg.partial_cost = sim_dist_fixed(50 * SIM_US);
    fx_start(f, true);
    nfix = 0;
    pcie_dev_set_fixup(f->dev, fake_fixup, f);
    const uint64_t Q = BASE + 0x10000;
    page_set(f, PASID, Q, PCIE_F_R);
    dma(f, BASE, 64, false);
    dma(f, Q, 64, false);
    run(f);
    ck_assert_uint_eq(f->nok, 2);
    /* Q (queued behind the faulting DMA for the single tag) finished
     * before the faulting DMA's remainder came back from software. */
    ck_assert_uint_eq(f->done[0].addr, Q);
    ck_assert_uint_lt(f->done[0].t, fix_t);
    ck_assert_uint_eq(f->done[1].addr, BASE);
    fx_free(f);

    /* The fix-up refuses: the DMA fails after one partial completion. */
    f = fx_new();
    f->dcfg.fault_policy = PCIE_FAULT_PARTIAL;
    fx_start(f, true);
    f->user = f;
    pcie_dev_set_fixup(f->dev, fake_fixup, f);
    dma(f, BASE, 64, true);
    run(f);
    ck_assert_uint_eq(f->nfail, 1);
    ck_assert_uint_eq(ctr(f, "device0.partial.completions"), 1);
    ck_assert_uint_eq(ctr(f, "device0.partial.failed"), 1);
    ck_assert_uint_eq(ctr(f, "device0.partial.resubmits"), 0);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    fx_free(f);

    /* No fix-up and the page never comes: pri_retries = 2 fix-ups, the
     * third denial fails the DMA. */
    f = fx_new();
    f->dcfg.fault_policy = PCIE_FAULT_PARTIAL;
    f->dcfg.pri_retries = 2;
    fx_start(f, true);
    dma(f, BASE, 64, false);
    run(f);
    ck_assert_uint_eq(f->nfail, 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 3);
    ck_assert_uint_eq(ctr(f, "device0.partial.completions"), 2);
    ck_assert_uint_eq(ctr(f, "device0.partial.resubmits"), 2);
    ck_assert_uint_eq(ctr(f, "device0.partial.failed"), 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 0);
    fx_free(f);
}
END_TEST

/* The three policies on one small workload (8 DMAs over 6 pages, 3
 * absent, 2 PASIDs; the fake answers page requests with Success and makes
 * the pages present; the partial fix-up does the same): every DMA
 * completes, the bytes are the same, and each policy shows its own
 * counters: page requests for pri and block (one per absent page: two
 * DMAs to one absent page share nothing, so the second faults only if it
 * asks before the page comes), faults that blocked the device only for
 * block, partial completions only for partial. */
START_TEST(test_three_policies_small_trace)
{
    unsigned pol = (unsigned)_i;
    fx_t *f = fx_new();
    f->dcfg.fault_policy = pol;
    f->auto_prg = PCIE_PRG_SUCCESS;
    fx_start(f, true);
    nfix = 0;
    pcie_dev_set_fixup(f->dev, fake_fixup, f);
    const uint32_t P2 = PASID + 1;
    uint64_t absent[3] = {BASE, BASE + 0x5000, BASE + 0x9000};
    uint64_t present[3] = {BASE + 0x2000, BASE + 0x3000, BASE + 0x7000};
    for (unsigned i = 0; i < 3; i++) {
        page_set(f, PASID, present[i], PCIE_F_R | PCIE_F_W);
        page_set(f, P2, present[i], PCIE_F_R | PCIE_F_W);
    }
    uint64_t bytes = 0;
    for (unsigned i = 0; i < 3; i++) {
        dma(f, absent[i], 256, i == 1);
        dma_pasid(f, P2, present[i], 512, i == 2);
        bytes += 256 + 512;
    }
    run(f);
    dma(f, present[0], 64, false); /* ATC hits, after everything */
    dma(f, absent[2], 64, false);  /* present by now */
    bytes += 128;
    run(f);
    ck_assert_msg(f->nok == 8, "%s: %u of 8 done", policy_name[pol], f->nok);
    ck_assert_uint_eq(ctr(f, "device0.dmas"), 8);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 8);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 0);
    ck_assert_uint_eq(ctr(f, "device0.bytes"), bytes);
    uint64_t prs = ctr(f, "device0.pri.page_requests");
    uint64_t bf = ctr(f, "device0.block.faults");
    uint64_t pc = ctr(f, "device0.partial.completions");
    switch (pol) {
    case PCIE_FAULT_PRI:
        ck_assert_uint_eq(prs, 3);
        ck_assert_uint_eq(bf, 0);
        ck_assert_uint_eq(pc, 0);
        break;
    case PCIE_FAULT_BLOCK:
        ck_assert_uint_eq(prs, 3);
        ck_assert_uint_eq(bf, 3);
        ck_assert_uint_gt(ctr(f, "device0.block.held"), 0);
        ck_assert_uint_eq(pc, 0);
        break;
    default:
        ck_assert_uint_eq(prs, 0);
        ck_assert_uint_eq(bf, 0);
        ck_assert_uint_eq(pc, 3);
        ck_assert_uint_eq(nfix, 3);
        ck_assert_uint_eq(ctr(f, "device0.partial.resubmits"), 3);
        ck_assert_uint_eq(ctr(f, "device0.partial.bytes_completed"), 0);
        break;
    }
    ck_assert_uint_eq(hist(f, "device0.dma_latency")->count, 8);
    fx_free(f);
}
END_TEST

/* block: a PASID stop fails a DMA parked by the block at once (it has
 * nothing in flight) and the stop completes without waiting for the
 * block to end. */
START_TEST(test_block_stop_fails_parked)
{
    fx_t *f = fx_new();
    f->dcfg.fault_policy = PCIE_FAULT_BLOCK;
    fx_start(f, true);
    const uint32_t P2 = PASID + 1;
    page_set(f, P2, BASE, PCIE_F_R);
    dma(f, BASE, 64, false);           /* PASID: faults, blocks */
    dma_pasid(f, P2, BASE, 64, false); /* P2: granted, parked */
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.block.held"), 1);
    ck_assert_int_eq(pcie_dev_stop_pasid(f->dev, P2, fx_on_stop, f), 0);
    run(f);
    ck_assert_uint_eq(f->stops_done, 1);
    ck_assert_uint_eq(f->nfail, 1);
    ck_assert_uint_eq(f->done[0].pasid, P2);
    ck_assert_uint_eq(ctr(f, "device0.dmas_stopped"), 1);
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, PCIE_PRG_SUCCESS, true,
            SIM_US);
    run(f);
    ck_assert_uint_eq(f->nok, 1);
    ck_assert_uint_eq(hist(f, "device0.block.time")->count, 1);
    fx_free(f);
}
END_TEST

/* The parameter: an enum of pri, block, partial (default pri); anything
 * else is refused by the parameter table (the CLI exits 2 on it). */
START_TEST(test_policy_parameter)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    pcie_dev_cfg_t c;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(
        sim_config_register(cfg, pcie_dev_params, pcie_dev_nparams, &c), 0);
    ck_assert_uint_eq(c.fault_policy, PCIE_FAULT_PRI);
    ck_assert_int_eq(c.partial_cost.kind, SIM_DIST_FIXED);
    ck_assert_uint_eq((sim_time_t)sim_dist_mean(&c.partial_cost),
                      3500 * SIM_NS);
    ck_assert_int_eq(sim_config_set(cfg, "device.fault_policy=block"), 0);
    ck_assert_uint_eq(c.fault_policy, PCIE_FAULT_BLOCK);
    ck_assert_int_eq(sim_config_set(cfg, "device.fault_policy=partial"), 0);
    ck_assert_uint_eq(c.fault_policy, PCIE_FAULT_PARTIAL);
    ck_assert_int_ne(sim_config_set(cfg, "device.fault_policy=stall"), 0);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "fault_policy"));
    ck_assert_uint_eq(c.fault_policy, PCIE_FAULT_PARTIAL);
    sim_config_destroy(cfg);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("fault_policy");
    TCase *tc = tcase_create("block");
    tcase_add_loop_test(tc, test_block_holds_later_dma, 0, 2);
    tcase_add_loop_test(tc, test_block_parks_at_translation, 0, 2);
    tcase_add_test(tc, test_block_stop_fails_parked);
    suite_add_tcase(s, tc);
    tc = tcase_create("partial");
    tcase_add_test(tc, test_partial_completion);
    tcase_add_test(tc, test_partial_tag_free_and_failures);
    suite_add_tcase(s, tc);
    tc = tcase_create("policies");
    tcase_add_loop_test(tc, test_three_policies_small_trace, 0, 3);
    tcase_add_test(tc, test_policy_parameter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(policy_suite());
}
