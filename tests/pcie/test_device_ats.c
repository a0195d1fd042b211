/*
 * tests/pcie/test_device_ats.c - the endpoint device's ATS side and DMA
 * mechanics: the ATC (hits, permissions, associativity and LRU,
 * translations larger than 4 KiB, no aliasing), ATS invalidation (entries
 * dropped, the completion after the device's processing time and after
 * every request that used a dropped translation; a randomized test that no
 * DMA uses an invalidated translation once the completion is sent), DMA
 * tags, the splitting of DMAs into pages and read requests, posted writes
 * done when sent, devices without ATS (untranslated requests, aborted on
 * an unrecoverable fault, waiting through an SMMU-style stall) and the
 * in-order queue gate. The device sits in front of the fake root complex
 * of dev_fixture.c; expected times come from the configuration and the
 * link model.
 */
#include <check.h>

#include "tests/check_run.h"
#include "tests/pcie/dev_fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- ATC */

START_TEST(test_atc_hit_no_second_request)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE + 0x10, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    const pcie_msg_t *rq = &nth_up(f, PCIE_MSG_ATS_REQ, 0)->m;
    ck_assert_uint_eq(rq->addr, BASE);
    ck_assert_uint_eq(rq->pasid, PASID);
    ck_assert_uint_eq(rq->rid, 0x100);
    ck_assert_uint_ne(rq->flags & PCIE_F_PASID, 0);
    ck_assert_uint_ne(rq->flags & PCIE_F_R, 0);
    /* The read goes out translated, to the completion's address. */
    const pcie_msg_t *rd = &nth_up(f, PCIE_MSG_MEM_RD, 0)->m;
    ck_assert_uint_ne(rd->flags & PCIE_F_XLATED, 0);
    ck_assert_uint_eq(rd->addr,
                      0x100000000ull + (BASE & 0xfffffff000ull) + 0x10);
    ck_assert_uint_eq(rd->len, 64);
    /* Same page again, a write this time: no translation request. */
    dma(f, BASE + 0x800, 64, false);
    dma(f, BASE + 0x900, 128, true);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_RD), 2);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_WR), 1);
    ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 2);
    ck_assert_uint_eq(ctr(f, "device0.atc.misses"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 3);
    ck_assert_uint_eq(ctr(f, "device0.bytes"), 64 + 64 + 128);
    /* A different page misses. */
    page_set(f, PASID, BASE + 0x1000, PCIE_F_R);
    dma(f, BASE + 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 2);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.dmas_started, 4);
    ck_assert_uint_eq(t.dmas_done, 4);
    ck_assert_uint_eq(t.atc_hits, 2);
    ck_assert_uint_eq(t.atc_misses, 2);
    ck_assert_uint_eq(t.in_flight, 0);
    fx_free(f);
}
END_TEST

/* A read-only ATC entry does not serve a write: the write asks again. */
START_TEST(test_atc_perm_mismatch_asks_again)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R);
    dma(f, BASE, 64, false);
    run(f);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, true);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 2);
    const pcie_msg_t *rq = &nth_up(f, PCIE_MSG_ATS_REQ, 1)->m;
    ck_assert_uint_ne(rq->flags & PCIE_F_W, 0);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 0);
    fx_free(f);
}
END_TEST

/*
 * Regression, once a model bug: the ATC key kept only 44 bits
 * of the page number (address bits 12..55), so two pages whose untranslated
 * addresses differ only in bit 56 or above share one ATC entry. The second
 * DMA below is served from the first page's cached translation: no
 * Translation Request, no fault, data moved to/from the wrong frame. With
 * iommu.levels = 5 (57-bit input addresses) the platform accepts such
 * addresses (see test_host.c test_five_level_no_atc_alias).
 */
START_TEST(test_atc_no_alias_above_bit_55)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    uint64_t a = 0x1000, b = (1ull << 56) | 0x1000;
    page_set(f, PASID, a, PCIE_F_R | PCIE_F_W); /* b is not present */
    dma(f, a, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    dma(f, b, 64, false);
    run(f);
    /* b was never translated: it must miss the ATC and ask. */
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 2);
    ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 0);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    fx_free(f);
}
END_TEST

START_TEST(test_inv_req_drops_atc_and_completes)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    for (unsigned i = 0; i < 4; i++)
        page_set(f, PASID, BASE + i * 0x1000, PCIE_F_R | PCIE_F_W);
    for (unsigned i = 0; i < 4; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 4);
    /* Invalidate page 1 of another PASID: nothing dropped, still a CPL. */
    pcie_msg_t inv = {0};
    inv.type = PCIE_MSG_INV_REQ;
    inv.flags = PCIE_F_PASID;
    inv.pasid = PASID + 1;
    inv.addr = BASE + 0x1000;
    inv.len = 0x1000;
    inv.tag = 9;
    inv.cookie = (void *)(uintptr_t)0xdead0;
    send_down_after(f, SIM_US, &inv);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_INV_CPL), 1);
    ck_assert_uint_eq(ctr(f, "device0.atc.invalidated"), 0);
    /* Now page 1 of our PASID. */
    inv.pasid = PASID;
    inv.tag = 10;
    inv.cookie = (void *)(uintptr_t)0xbeef0;
    send_down_after(f, SIM_US, &inv);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_INV_CPL), 2);
    const pcie_msg_t *c = &nth_up(f, PCIE_MSG_INV_CPL, 1)->m;
    ck_assert_uint_eq(c->tag, 10);
    ck_assert_ptr_eq(c->cookie, inv.cookie);
    ck_assert_uint_eq(c->pasid, PASID);
    ck_assert_uint_eq(c->rid, 0x100);
    ck_assert_uint_eq(ctr(f, "device0.atc.invalidated"), 1);
    /* Page 1 asks again; pages 0, 2, 3 still hit. */
    for (unsigned i = 0; i < 4; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 5);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_ATS_REQ, 4)->m.addr, BASE + 0x1000);
    /* len 0: everything of the PASID. */
    inv.len = 0;
    inv.addr = 0;
    send_down_after(f, SIM_US, &inv);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.atc.invalidated"), 1 + 4);
    for (unsigned i = 0; i < 4; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 9);
    fx_free(f);
}
END_TEST

/* A DMA is handled page by page; reads split by MRRS, writes one posted
 * request per page. */
START_TEST(test_multi_page_split)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    for (unsigned i = 0; i < 4; i++)
        page_set(f, PASID, BASE + i * 0x1000, PCIE_F_R | PCIE_F_W);
    uint64_t va = BASE + 0x800, len = 0x2000; /* 0x800 + 0x1000 + 0x800 */
    dma(f, va, len, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 3);
    uint64_t mrrs = f->lcfg.mrrs;
    uint64_t expect_rd = (0x800 + mrrs - 1) / mrrs +
                         (0x1000 + mrrs - 1) / mrrs + (0x800 + mrrs - 1) / mrrs;
    ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_RD), expect_rd);
    uint64_t sum = 0;
    for (unsigned k = 0; k < expect_rd; k++) {
        const pcie_msg_t *m = &nth_up(f, PCIE_MSG_MEM_RD, k)->m;
        ck_assert_uint_le(m->len, mrrs);
        sum += m->len;
    }
    ck_assert_uint_eq(sum, len);
    ck_assert_uint_eq(ctr(f, "device0.bytes"), len);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
    /* The same range written: one posted write per page part. */
    dma(f, va, len, true);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_MEM_WR), 3);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_MEM_WR, 0)->m.len, 0x800);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_MEM_WR, 1)->m.len, 0x1000);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_MEM_WR, 2)->m.len, 0x800);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2);
    fx_free(f);
}
END_TEST

/* At most `tags` DMAs in flight; later ones wait for a tag. */
START_TEST(test_tags_limit_in_flight)
{
    fx_t *f = fx_new();
    f->dcfg.tags = 2;
    f->ats_delay = 20 * SIM_US; /* slow translations */
    fx_start(f, true);
    for (unsigned i = 0; i < 5; i++) {
        page_set(f, PASID, BASE + i * 0x1000, PCIE_F_R);
        dma(f, BASE + i * 0x1000, 64, false);
    }
    sim_run(f->sim, 10 * SIM_US);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 2);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.in_flight, 5);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 5);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 5);
    sim_gauge_t *g = sim_stats_find_gauge(f->st, "device0.tags_busy");
    ck_assert_ptr_nonnull(g);
    ck_assert(g->max == 2.0);
    fx_free(f);
}
END_TEST

/* An ATC-hit posted write is done when its serialisation ends (the link
 * has sent it), one link latency before it arrives. */
START_TEST(test_posted_write_done_when_sent)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, true);
    run(f);
    sim_time_t t_issue = sim_now(f->sim);
    dma(f, BASE + 0x100, 1000, true);
    run(f);
    const upmsg_t *w = nth_up(f, PCIE_MSG_MEM_WR, 1);
    ck_assert_uint_eq(w->m.len, 1000);
    ck_assert_uint_ne(w->m.flags & PCIE_F_XLATED, 0);
    ck_assert_uint_eq(f->ndone, 2);
    ck_assert(f->done[1].ok && f->done[1].write);
    ck_assert_uint_eq(f->done[1].addr, BASE + 0x100);
    ck_assert_uint_eq(f->done[1].len, 1000);
    ck_assert_uint_eq(f->done[1].t, w->t - f->lcfg.latency);
    /* and that is proc + serialisation after the DMA was issued */
    ck_assert_uint_eq(w->t - f->lcfg.latency,
                      t_issue + proc(f) +
                          ser(f, PCIE_MSG_MEM_WR, PCIE_F_XLATED, 1000));
    fx_free(f);
}
END_TEST

/* A translation of 2 MiB (size_shift 21) is one ATC entry serving every
 * 4 KiB page inside it, each at its offset in the translated range; an
 * invalidation of one 4 KiB page inside drops the whole entry. */
START_TEST(test_atc_large_translation)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    const uint64_t va = 0x40000000ull, frame = 0x80200000ull;
    page_map(f, PASID, va, 21, frame, PCIE_F_R | PCIE_F_W);
    for (unsigned k = 0; k < 10; k++) {
        dma(f, va + k * 0x31000 + 0x40, 64, k % 2);
        run(f);
    }
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
    ck_assert_uint_eq(ctr(f, "device0.atc.fills"), 1);
    ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 9);
    for (unsigned k = 0; k < 10; k++) {
        const pcie_msg_t *m = k % 2 ? &nth_up(f, PCIE_MSG_MEM_WR, k / 2)->m
                                    : &nth_up(f, PCIE_MSG_MEM_RD, k / 2)->m;
        ck_assert_uint_eq(m->addr, frame + k * 0x31000 + 0x40);
    }
    pcie_msg_t inv = {.type = PCIE_MSG_INV_REQ,
                      .flags = PCIE_F_PASID,
                      .pasid = PASID,
                      .addr = va + 0x5000,
                      .len = 0x1000};
    send_down_after(f, SIM_US, &inv);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.atc.invalidated"), 1);
    dma(f, va + 0x1ff000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 2);
    fx_free(f);
}
END_TEST

/* Associativity and LRU: one set of two ways; A, B, A (hit), C (evicts
 * B, the least recently used), A (hit), B (miss, evicts C). */
START_TEST(test_atc_lru_eviction)
{
    fx_t *f = fx_new();
    f->dcfg.atc_entries = 2;
    f->dcfg.atc_ways = 2;
    fx_start(f, true);
    const uint64_t A = BASE, B = BASE + 0x1000, C = BASE + 0x2000;
    const uint64_t seq[] = {A, B, A, C, A, B};
    for (unsigned i = 0; i < 3; i++)
        page_set(f, PASID, BASE + i * 0x1000, PCIE_F_R | PCIE_F_W);
    for (unsigned i = 0; i < 6; i++) {
        dma(f, seq[i], 64, false);
        run(f);
    }
    ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 2);
    ck_assert_uint_eq(ctr(f, "device0.atc.misses"), 4);
    ck_assert_uint_eq(ctr(f, "device0.atc.fills"), 4);
    ck_assert_uint_eq(ctr(f, "device0.atc.evictions"), 2);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_ATS_REQ, 3)->m.addr, B);
    fx_free(f);
}
END_TEST

/* No ATC (atc_entries 0): every page asks for its translation. */
START_TEST(test_atc_disabled)
{
    fx_t *f = fx_new();
    f->dcfg.atc_entries = 0;
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    for (unsigned i = 0; i < 3; i++) {
        dma(f, BASE, 64, false);
        run(f);
    }
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 3);
    ck_assert_uint_eq(ctr(f, "device0.atc.hits"), 0);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 3);
    fx_free(f);
}
END_TEST

/* ---------------------------------------------------- invalidation */

/* Nothing in flight: the completion leaves inv_proc after the request
 * arrived, carrying its tag and cookie. */
START_TEST(test_inv_completion_timing)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false);
    run(f);
    sim_time_t t = sim_now(f->sim) + SIM_US;
    pcie_msg_t inv = {.type = PCIE_MSG_INV_REQ,
                      .flags = PCIE_F_PASID,
                      .pasid = PASID,
                      .addr = BASE,
                      .len = 0x1000,
                      .tag = 3,
                      .cookie = f};
    send_down_after(f, SIM_US, &inv);
    run(f);
    const uint8_t P = PCIE_F_PASID;
    sim_time_t inv_proc = (sim_time_t)sim_dist_mean(&f->dcfg.inv_proc);
    const upmsg_t *c = nth_up(f, PCIE_MSG_INV_CPL, 0);
    ck_assert_uint_eq(c->t, t + hop(f, PCIE_MSG_INV_REQ, P, 0) + inv_proc +
                                hop(f, PCIE_MSG_INV_CPL, P, 0));
    ck_assert_uint_eq(c->m.tag, 3);
    ck_assert_ptr_eq(c->m.cookie, f);
    sim_hist_t *h = hist(f, "device0.ats.inv_latency");
    ck_assert_uint_eq(h->count, 1);
    ck_assert_uint_eq(h->min, inv_proc);
    ck_assert_uint_eq(h->max, inv_proc);
    ck_assert_uint_eq(ctr(f, "device0.ats.inv_requests"), 1);
    fx_free(f);
}
END_TEST

/* A read using the dropped translation is in flight: the completion goes
 * out when the read's data is back (not after inv_proc alone). */
START_TEST(test_inv_waits_for_read)
{
    fx_t *f = fx_new();
    f->mem_delay = 10 * SIM_US;
    fx_start(f, true);
    for (unsigned i = 0; i < 2; i++) {
        page_set(f, PASID, BASE + i * 0x1000, PCIE_F_R | PCIE_F_W);
        dma(f, BASE + i * 0x1000, 64, false);
    }
    run(f);
    dma(f, BASE + 0x40, 64, false);
    dma(f, BASE + 0x1040, 64, false);
    sim_run(f->sim, sim_now(f->sim) + SIM_US);
    const upmsg_t *rd = nth_up(f, PCIE_MSG_MEM_RD, 2);
    ck_assert_uint_eq(rd->m.addr, FX_FRAME(BASE) + 0x40);
    sim_time_t t = sim_now(f->sim);
    pcie_msg_t inv = {.type = PCIE_MSG_INV_REQ,
                      .flags = PCIE_F_PASID,
                      .pasid = PASID,
                      .addr = BASE,
                      .len = 0x1000};
    send_down_after(f, 0, &inv);
    run(f);
    const uint8_t P = PCIE_F_PASID;
    sim_time_t t_inv = t + hop(f, PCIE_MSG_INV_REQ, P, 0);
    sim_time_t t_data = rd->t + f->mem_delay + hop(f, PCIE_MSG_MEM_CPL, 0, 64);
    ck_assert_uint_gt(t_data, t_inv + 200 * SIM_NS);
    ck_assert_uint_eq(nth_up(f, PCIE_MSG_INV_CPL, 0)->t,
                      t_data + hop(f, PCIE_MSG_INV_CPL, P, 0));
    ck_assert_uint_eq(hist(f, "device0.ats.inv_latency")->max, t_data - t_inv);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 4);
    fx_free(f);
}
END_TEST

/* A posted write using the dropped translation is being serialised (slow
 * link): the completion goes out when the write has left, and so arrives
 * after it. */
START_TEST(test_inv_waits_for_write)
{
    fx_t *f = fx_new();
    f->lcfg.gen = 1;
    f->lcfg.lanes = 1;
    fx_start(f, true);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false);
    run(f);
    sim_time_t t0 = sim_now(f->sim);
    dma(f, BASE, 4096, true);
    pcie_msg_t inv = {.type = PCIE_MSG_INV_REQ,
                      .flags = PCIE_F_PASID,
                      .pasid = PASID,
                      .addr = BASE,
                      .len = 0x1000};
    send_down_after(f, 2 * SIM_US, &inv);
    run(f);
    sim_time_t t_end =
        t0 + proc(f) + ser(f, PCIE_MSG_MEM_WR, PCIE_F_XLATED, 4096);
    ck_assert_uint_gt(t_end, t0 + 2 * SIM_US +
                                 hop(f, PCIE_MSG_INV_REQ, PCIE_F_PASID, 0) +
                                 200 * SIM_NS);
    const upmsg_t *w = nth_up(f, PCIE_MSG_MEM_WR, 0);
    const upmsg_t *c = nth_up(f, PCIE_MSG_INV_CPL, 0);
    ck_assert_uint_eq(w->t, t_end + f->lcfg.latency);
    ck_assert_uint_eq(c->t, t_end + hop(f, PCIE_MSG_INV_CPL, PCIE_F_PASID, 0));
    ck_assert_uint_eq(f->done[1].t, t_end);
    fx_free(f);
}
END_TEST

/*
 * Randomized: DMAs (reads and writes of 1..6000 bytes over 16 pages)
 * against a root complex that keeps moving pages to new frames (never
 * reused) and invalidates them (one page, a range, every page of the
 * PASID, or without PASID), with a random processing delay (so the link
 * reorders hand-overs) and a small ATC (evictions). Once an Invalidate
 * Completion has arrived, no request may use a frame that invalidation
 * retired; and it may not arrive before a read of such a frame could have
 * had its data back at the device (read arrival + memory + completion
 * hop + completion hop). Every DMA completes.
 */
#define RND_PAGES 16
#define RND_FRAMES 4096
#define RND_INVS 64
#define RND_FBASE 0x200000000ull

typedef struct rnd {
    fx_t *f;
    sim_rng_t rng;
    sim_time_t end;
    uint32_t frame[RND_PAGES];
    uint32_t stale[RND_PAGES][64];
    unsigned nstale[RND_PAGES];
    uint32_t inv_frames[RND_INVS][RND_PAGES * 64];
    unsigned inv_n[RND_INVS];
    bool inv_busy[RND_INVS];
    bool dead[RND_FRAMES];
    bool rd_seen[RND_FRAMES];
    sim_time_t rd_t[RND_FRAMES];
    uint32_t rd_len[RND_FRAMES];
    uint32_t next_frame;
    uint64_t issued, invs_sent, checks, violations;
} rnd_t;

static uint64_t rnd_va(unsigned k)
{
    return BASE + (uint64_t)k * 0x1000;
}

/* Move page k to a new frame in the root complex's table. */
static void rnd_map(rnd_t *r, unsigned k)
{
    ck_assert_uint_lt(r->next_frame, RND_FRAMES);
    r->frame[k] = r->next_frame++;
    page_map(r->f, PASID, rnd_va(k), 12,
             RND_FBASE + (uint64_t)r->frame[k] * 0x1000, PCIE_F_R | PCIE_F_W);
}

static void ev_rnd_dma(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    rnd_t *r = opaque;
    unsigned k = (unsigned)sim_rng_below(&r->rng, RND_PAGES);
    uint64_t off = sim_rng_below(&r->rng, 0x1000);
    uint64_t room = (RND_PAGES - k) * 0x1000ull - off;
    uint64_t len = 1 + sim_rng_below(&r->rng, 6000);
    if (len > room)
        len = room;
    dma(r->f, rnd_va(k) + off, len, sim_rng_below(&r->rng, 2));
    r->issued++;
    sim_time_t dt = 50 * SIM_NS + sim_rng_below(&r->rng, 500 * SIM_NS);
    if (sim_now(sim) + dt < r->end)
        sim_schedule(sim, dt, ev_rnd_dma, r, 0);
}

/* Send an invalidation covering pages [k, k + n) (n 0: all), with or
 * without the PASID prefix; it retires the frames replaced so far. */
static void ev_rnd_inv(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    rnd_t *r = opaque;
    unsigned k = (unsigned)(arg & 0xff), n = (unsigned)((arg >> 8) & 0xff);
    bool pasid = !(arg >> 16);
    unsigned t = 0;
    while (r->inv_busy[t])
        t++;
    ck_assert_uint_lt(t, RND_INVS);
    r->inv_busy[t] = true;
    r->inv_n[t] = 0;
    unsigned lo = n ? k : 0, hi = n ? k + n : RND_PAGES;
    for (unsigned p = lo; p < hi; p++) {
        for (unsigned i = 0; i < r->nstale[p]; i++)
            r->inv_frames[t][r->inv_n[t]++] = r->stale[p][i];
        r->nstale[p] = 0;
    }
    pcie_msg_t m = {.type = PCIE_MSG_INV_REQ,
                    .flags = pasid ? PCIE_F_PASID : 0,
                    .pasid = pasid ? PASID : 0,
                    .addr = n ? rnd_va(k) : 0,
                    .len = n ? n * 0x1000u : 0,
                    .tag = (uint16_t)t};
    pcie_dev_send_down(r->f->dev, &m);
    r->invs_sent++;
}

/* Move a random page to a new frame and invalidate it a little later. */
static void ev_rnd_remap(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    rnd_t *r = opaque;
    unsigned k = (unsigned)sim_rng_below(&r->rng, RND_PAGES);
    ck_assert_uint_lt(r->nstale[k], 64);
    r->stale[k][r->nstale[k]++] = r->frame[k];
    rnd_map(r, k);
    unsigned kind = (unsigned)sim_rng_below(&r->rng, 10);
    uint64_t n = 1, nopasid = 0;
    if (kind >= 6 && kind < 9) {
        n = 2 + sim_rng_below(&r->rng, 3);
        if (k + n > RND_PAGES)
            n = RND_PAGES - k;
    } else if (kind == 9) {
        n = 0;
    } else if (kind == 5) {
        nopasid = 1;
    }
    sim_schedule(sim, sim_rng_below(&r->rng, SIM_US), ev_rnd_inv, r,
                 k | (n << 8) | (nopasid << 16));
    sim_time_t dt = SIM_US + sim_rng_below(&r->rng, 6 * SIM_US);
    if (sim_now(sim) + dt < r->end)
        sim_schedule(sim, dt, ev_rnd_remap, r, 0);
}

/* Watch what reaches the root complex. */
static void rnd_on_up(fx_t *f, const pcie_msg_t *m)
{
    rnd_t *r = f->user;
    sim_time_t now = sim_now(f->sim);
    if ((m->type == PCIE_MSG_MEM_RD || m->type == PCIE_MSG_MEM_WR) &&
        (m->flags & PCIE_F_XLATED)) {
        ck_assert_uint_ge(m->addr, RND_FBASE);
        uint64_t fr = (m->addr - RND_FBASE) >> 12;
        ck_assert_uint_lt(fr, RND_FRAMES);
        r->checks++;
        if (r->dead[fr])
            r->violations++;
        if (m->type == PCIE_MSG_MEM_RD) {
            r->rd_seen[fr] = true;
            r->rd_t[fr] = now;
            r->rd_len[fr] = m->len;
        }
    } else if (m->type == PCIE_MSG_INV_CPL) {
        unsigned t = m->tag;
        ck_assert(r->inv_busy[t]);
        for (unsigned i = 0; i < r->inv_n[t]; i++) {
            uint32_t fr = r->inv_frames[t][i];
            if (r->rd_seen[fr] &&
                now < r->rd_t[fr] + f->mem_delay +
                          hop(f, PCIE_MSG_MEM_CPL, 0, r->rd_len[fr]) +
                          hop(f, PCIE_MSG_INV_CPL, m->flags, 0))
                r->violations++;
            r->dead[fr] = true;
        }
        r->inv_busy[t] = false;
    }
}

START_TEST(test_inv_random)
{
    fx_t *f = fx_new();
    f->dcfg.tags = 8;
    f->dcfg.atc_entries = 8;
    f->dcfg.atc_ways = 2;
    char err[128];
    ck_assert_int_eq(
        sim_dist_parse("uniform(20, 80)", &f->dcfg.proc, err, sizeof(err)), 0);
    ck_assert_int_eq(
        sim_dist_parse("uniform(50, 400)", &f->dcfg.inv_proc, err, sizeof(err)),
        0);
    f->no_record = true;
    f->on_up = rnd_on_up;
    rnd_t *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->f = f;
    f->user = r;
    sim_rng_seed(&r->rng, 1000 + (uint64_t)_i, "test_inv_random");
    r->end = 2 * SIM_MS;
    fx_start(f, false);
    for (unsigned k = 0; k < RND_PAGES; k++)
        rnd_map(r, k);
    sim_schedule(f->sim, 0, ev_rnd_dma, r, 0);
    sim_schedule(f->sim, SIM_US, ev_rnd_remap, r, 0);
    run(f);
    ck_assert_uint_eq(r->violations, 0);
    ck_assert_uint_gt(r->invs_sent, 200);
    ck_assert_uint_eq(ctr(f, "device0.ats.inv_requests"), r->invs_sent);
    ck_assert_uint_gt(ctr(f, "device0.atc.invalidated"), 100);
    ck_assert_uint_gt(ctr(f, "device0.atc.evictions"), 0);
    ck_assert_uint_gt(r->checks, 1000);
    /* Some invalidations had to wait for requests in flight. */
    ck_assert_uint_gt(hist(f, "device0.ats.inv_latency")->max, 400 * SIM_NS);
    ck_assert_uint_eq(f->ndone, r->issued);
    ck_assert_uint_eq(f->nfail, 0);
    free(r);
    fx_free(f);
}
END_TEST

/* ------------------------------------------------------ without ATS */

/* A device without ATS: untranslated requests with the PASID, no
 * translation request; a read completes with its data; a posted write is
 * done when sent; a read the IOMMU cannot translate (UR) aborts the DMA,
 * a faulting write is dropped by the IOMMU and done for the device; no
 * page request ever. */
START_TEST(test_no_ats_untranslated)
{
    fx_t *f = fx_new();
    f->dcfg.ats = false;
    fx_start(f, true);
    ck_assert_uint_eq(pcie_dev_pri_status(f->dev) & PCIE_PRI_STATUS_STOPPED,
                      PCIE_PRI_STATUS_STOPPED);
    page_set(f, PASID, BASE, PCIE_F_R | PCIE_F_W);
    dma(f, BASE + 0x40, 64, false);
    run(f);
    const upmsg_t *rd = nth_up(f, PCIE_MSG_MEM_RD, 0);
    ck_assert_uint_eq(rd->m.flags, PCIE_F_PASID);
    ck_assert_uint_eq(rd->m.pasid, PASID);
    ck_assert_uint_eq(rd->m.addr, BASE + 0x40);
    ck_assert_uint_eq(f->done[0].t,
                      rd->t + f->mem_delay + hop(f, PCIE_MSG_MEM_CPL, 0, 64));
    dma(f, BASE + 0x80, 128, true);
    run(f);
    const upmsg_t *wr = nth_up(f, PCIE_MSG_MEM_WR, 0);
    ck_assert_uint_eq(wr->m.flags, PCIE_F_PASID);
    ck_assert_uint_eq(wr->m.addr, BASE + 0x80);
    ck_assert_uint_eq(f->done[1].t, wr->t - f->lcfg.latency);
    /* Absent page: the read is aborted, the write is done. */
    dma(f, BASE + 0x5000, 64, false);
    dma(f, BASE + 0x6000, 64, true);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_aborted"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 3);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 0);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 0);
    ck_assert_uint_eq(ctr(f, "device0.atc.misses"), 0);
    fx_free(f);
}
END_TEST

/* SMMU-style stall: the IOMMU holds the faulting read until the fault is
 * resolved (here: 50 us); the device just waits, then completes. */
START_TEST(test_no_ats_stall_waits)
{
    fx_t *f = fx_new();
    f->dcfg.ats = false;
    f->stall = true;
    fx_start(f, true);
    dma(f, BASE, 256, false);
    run(f);
    ck_assert_uint_eq(f->nheld, 1);
    pcie_dev_totals_t t;
    pcie_dev_totals(f->dev, &t);
    ck_assert_uint_eq(t.in_flight, 1);
    sim_time_t t_rel = sim_now(f->sim) + 50 * SIM_US;
    release_held(f, PCIE_CPL_SC, 50 * SIM_US);
    run(f);
    ck_assert_uint_eq(f->ndone, 1);
    ck_assert(f->done[0].ok);
    ck_assert_uint_eq(f->done[0].t, t_rel + hop(f, PCIE_MSG_MEM_CPL, 0, 256));
    ck_assert_uint_eq(ctr(f, "device0.dmas_failed"), 0);
    fx_free(f);
}
END_TEST

/* ----------------------------------------------------------- in order */

/* in_order: a DMA issued while another one is faulting waits until that
 * one has its translation; without it, it goes at once. */
START_TEST(test_in_order_gate)
{
    bool in_order = _i == 1;
    fx_t *f = fx_new();
    f->dcfg.in_order = in_order;
    fx_start(f, true);
    const uint64_t Q = BASE + 0x10000;
    page_set(f, PASID, Q, PCIE_F_R | PCIE_F_W);
    dma(f, BASE, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_PAGE_REQ), 1);
    sim_time_t t1 = sim_now(f->sim);
    dma(f, Q, 64, false);
    run(f);
    const uint8_t P = PCIE_F_PASID;
    if (!in_order) {
        ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 1);
        ck_assert_uint_eq(nth_up(f, PCIE_MSG_ATS_REQ, 1)->t,
                          t1 + proc(f) + hop(f, PCIE_MSG_ATS_REQ, P, 0));
        ck_assert_uint_eq(ctr(f, "device0.in_order_blocked"), 0);
    } else {
        ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 0);
        ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 1);
        ck_assert_uint_eq(ctr(f, "device0.in_order_blocked"), 1);
    }
    respond(f, nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag, PCIE_PRG_SUCCESS, true,
            2 * SIM_US);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.dmas_done"), 2);
    if (in_order) {
        /* The faulting DMA's retried translation is granted at tg; the
         * waiting DMA starts then. */
        const upmsg_t *retry = nth_up(f, PCIE_MSG_ATS_REQ, 1);
        ck_assert_uint_eq(retry->m.addr, BASE);
        sim_time_t tg =
            retry->t + f->ats_delay + hop(f, PCIE_MSG_ATS_CPL, 0, 0);
        const upmsg_t *q = nth_up(f, PCIE_MSG_ATS_REQ, 2);
        ck_assert_uint_eq(q->m.addr, Q);
        ck_assert_uint_eq(q->t, tg + proc(f) + hop(f, PCIE_MSG_ATS_REQ, P, 0));
    }
    fx_free(f);
}
END_TEST

/* Bad arguments and configurations are refused. */
START_TEST(test_dma_and_config_checks)
{
    fx_t *f = fx_new();
    fx_start(f, true);
    ck_assert_int_eq(pcie_dev_dma(f->dev, PASID, BASE, 0, false), -EINVAL);
    ck_assert_int_eq(pcie_dev_dma(f->dev, PASID, UINT64_MAX - 10, 64, false),
                     -EINVAL);
    ck_assert_uint_eq(ctr(f, "device0.dmas"), 0);
    pcie_dev_cfg_t c = f->dcfg;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    c.atc_entries = 64;
    c.atc_ways = 3;
    ck_assert_int_eq(pcie_dev_cfg_check(&c, NULL, &log), -EINVAL);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "device.atc_ways"));
    c.atc_ways = 128;
    ck_assert_int_eq(pcie_dev_cfg_check(&c, NULL, &log), -EINVAL);
    c.atc_ways = 8;
    ck_assert_int_eq(pcie_dev_cfg_check(&c, NULL, &log), 0);
    fx_free(f);
    /* A device without ATS has no PRI to reset. */
    f = fx_new();
    f->dcfg.ats = false;
    fx_start(f, true);
    pcie_dev_pri_reset(f->dev);
    ck_assert_uint_eq(ctr(f, "device0.pri.resets"), 0);
    ck_assert_uint_ne(pcie_dev_pri_status(f->dev) & PCIE_PRI_STATUS_STOPPED, 0);
    fx_free(f);
}
END_TEST

static Suite *ats_suite(void)
{
    Suite *s = suite_create("device_ats");
    TCase *tc = tcase_create("atc");
    tcase_add_test(tc, test_atc_hit_no_second_request);
    tcase_add_test(tc, test_atc_perm_mismatch_asks_again);
    tcase_add_test(tc, test_atc_no_alias_above_bit_55);
    tcase_add_test(tc, test_atc_large_translation);
    tcase_add_test(tc, test_atc_lru_eviction);
    tcase_add_test(tc, test_atc_disabled);
    suite_add_tcase(s, tc);

    tc = tcase_create("invalidation");
    tcase_add_test(tc, test_inv_req_drops_atc_and_completes);
    tcase_add_test(tc, test_inv_completion_timing);
    tcase_add_test(tc, test_inv_waits_for_read);
    tcase_add_test(tc, test_inv_waits_for_write);
    tcase_add_loop_test(tc, test_inv_random, 0, 4);
    suite_add_tcase(s, tc);

    tc = tcase_create("dma");
    tcase_add_test(tc, test_multi_page_split);
    tcase_add_test(tc, test_tags_limit_in_flight);
    tcase_add_test(tc, test_posted_write_done_when_sent);
    tcase_add_test(tc, test_no_ats_untranslated);
    tcase_add_test(tc, test_no_ats_stall_waits);
    tcase_add_loop_test(tc, test_in_order_gate, 0, 2);
    tcase_add_test(tc, test_dma_and_config_checks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(ats_suite());
}
