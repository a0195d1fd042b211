/*
 * tests/pcie/test_device_pri.c - the endpoint device: ATC hits and misses,
 * the PRI state machine (PCIe r4.0 10.4: a denied translation makes one
 * page request with L=1; Success -> translation request again; Invalid
 * Request -> the access fails; Response Failure -> PRI disabled), the
 * outstanding page request allocation, PRG index reuse, responses for
 * indices not outstanding (UPRGI), ATS invalidation, DMA tags and the
 * splitting of a DMA into pages and read requests.
 *
 * The device's link delivers upstream to a fake root complex that records
 * every message and, depending on the test, answers translation requests
 * from a small table of pages, read requests with completions, and page
 * requests with a chosen response code after a chosen delay. Answers go
 * back through pcie_dev_send_down at times scheduled with sim_schedule.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/pcie.h"
#include "sim/sim.h"

#define MAXMSG 4096
#define MAXPAGES 256
#define PASID 5u
#define BASE 0x7f0000000000ull

typedef struct upmsg {
    sim_time_t t;
    pcie_msg_t m;
} upmsg_t;

typedef struct page {
    uint32_t pasid;
    uint64_t va;
    uint8_t perm;
} page_t;

typedef struct fx {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    sim_spans_t *spans;
    pcie_dev_cfg_t dcfg;
    pcie_link_cfg_t lcfg;
    pcie_dev_t *dev;

    upmsg_t up[MAXMSG];
    unsigned nup;

    page_t pages[MAXPAGES]; /* the fake translation table */
    unsigned npages;
    uint32_t ur_pasid;      /* translation requests with it get UR */

    bool auto_ats, auto_mem;
    sim_time_t ats_delay, mem_delay;
    int auto_prg; /* -1: the test answers page requests itself */
    bool prg_populates;
    sim_time_t prg_delay_unit; /* delay = unit * (1 + (n * 7) % 5) */

    /* page requests awaiting a response, by PRG index */
    bool outstanding[PCIE_PRG_INDICES];
    uint64_t out_va[PCIE_PRG_INDICES];
    unsigned n_out, max_out, prg_seen;
    bool collision;

    /* messages scheduled for delivery down */
    pcie_msg_t down[MAXMSG];
    uint64_t down_populate[MAXMSG]; /* va + 1 to make present, or 0 */
    unsigned ndown;
} fx_t;

static bool page_lookup(const fx_t *f, uint32_t pasid, uint64_t va,
                        uint8_t *perm)
{
    for (unsigned i = 0; i < f->npages; i++) {
        if (f->pages[i].pasid == pasid && f->pages[i].va == (va & ~0xfffull)) {
            *perm = f->pages[i].perm;
            return true;
        }
    }
    return false;
}

static void page_set(fx_t *f, uint32_t pasid, uint64_t va, uint8_t perm)
{
    for (unsigned i = 0; i < f->npages; i++) {
        if (f->pages[i].pasid == pasid && f->pages[i].va == va) {
            f->pages[i].perm = perm;
            return;
        }
    }
    ck_assert_uint_lt(f->npages, MAXPAGES);
    f->pages[f->npages++] = (page_t){pasid, va, perm};
}

static void ev_down(sim_t *sim, void *opaque, uint64_t arg)
{
    fx_t *f = opaque;
    const pcie_msg_t *m = &f->down[arg];
    if (m->type == PCIE_MSG_PRG_RESP && m->tag < PCIE_PRG_INDICES &&
        f->outstanding[m->tag]) {
        f->outstanding[m->tag] = false;
        f->n_out--;
    }
    if (f->down_populate[arg])
        page_set(f, m->pasid, f->down_populate[arg] - 1,
                 PCIE_F_R | PCIE_F_W);
    pcie_dev_send_down(f->dev, m);
}

/* Send m down to the device after `delay`; populate (va + 1) makes the
 * page present in the fake table just before. */
static void send_down_after(fx_t *f, sim_time_t delay, const pcie_msg_t *m,
                            uint64_t populate)
{
    ck_assert_uint_lt(f->ndown, MAXMSG);
    f->down[f->ndown] = *m;
    f->down_populate[f->ndown] = populate;
    ck_assert_uint_ne(sim_schedule(f->sim, delay, ev_down, f, f->ndown), 0);
    f->ndown++;
}

/* Answer the outstanding page request with PRG index prgi. */
static void respond(fx_t *f, uint16_t prgi, uint8_t code, bool populate,
                    sim_time_t delay)
{
    pcie_msg_t r = {0};
    r.type = PCIE_MSG_PRG_RESP;
    r.flags = PCIE_F_PASID;
    r.code = code;
    r.tag = prgi;
    r.pasid = PASID;
    uint64_t va = f->out_va[prgi % PCIE_PRG_INDICES];
    send_down_after(f, delay, &r, populate ? va + 1 : 0);
}

static void fake_up(void *opaque, const pcie_msg_t *m)
{
    fx_t *f = opaque;
    ck_assert_uint_lt(f->nup, MAXMSG);
    f->up[f->nup].t = sim_now(f->sim);
    f->up[f->nup].m = *m;
    f->nup++;
    switch (m->type) {
    case PCIE_MSG_ATS_REQ:
        if (f->auto_ats) {
            pcie_msg_t c = {0};
            c.type = PCIE_MSG_ATS_CPL;
            c.tag = m->tag;
            c.pasid = m->pasid;
            c.addr = m->addr;
            c.cookie = m->cookie;
            c.size_shift = 12;
            uint8_t perm = 0;
            if (m->pasid == f->ur_pasid) {
                c.code = PCIE_CPL_UR;
            } else if (page_lookup(f, m->pasid, m->addr, &perm)) {
                c.perm = perm;
                c.xaddr = 0x100000000ull + (m->addr & 0xfffffff000ull);
            }
            send_down_after(f, f->ats_delay, &c, 0);
        }
        break;
    case PCIE_MSG_MEM_RD:
        if (f->auto_mem) {
            pcie_msg_t c = *m;
            c.type = PCIE_MSG_MEM_CPL;
            c.flags = 0;
            send_down_after(f, f->mem_delay, &c, 0);
        }
        break;
    case PCIE_MSG_PAGE_REQ: {
        unsigned prgi = m->tag;
        ck_assert_uint_lt(prgi, PCIE_PRG_INDICES);
        if (f->outstanding[prgi])
            f->collision = true;
        f->outstanding[prgi] = true;
        f->out_va[prgi] = m->addr;
        f->n_out++;
        if (f->n_out > f->max_out)
            f->max_out = f->n_out;
        if (f->auto_prg >= 0) {
            sim_time_t d = f->prg_delay_unit * (1 + (f->prg_seen * 7) % 5);
            respond(f, (uint16_t)prgi, (uint8_t)f->auto_prg, f->prg_populates,
                    d);
        }
        f->prg_seen++;
        break;
    }
    default:
        break;
    }
}

static void cfg_defaults(fx_t *f)
{
    memset(&f->dcfg, 0, sizeof(f->dcfg));
    f->dcfg.count = 1;
    f->dcfg.rid_base = 0x100;
    f->dcfg.tags = 32;
    f->dcfg.pri = true;
    f->dcfg.atc_entries = 64;
    f->dcfg.atc_ways = 4;
    f->dcfg.pri_capacity = 32;
    f->dcfg.pri_retries = 16;
    f->dcfg.proc = sim_dist_fixed(50 * SIM_NS);
    f->lcfg = (pcie_link_cfg_t){.latency = 100 * SIM_NS,
                                .gen = 3,
                                .lanes = 8,
                                .mps = 256,
                                .mrrs = 512};
    f->auto_ats = true;
    f->auto_mem = true;
    f->ats_delay = 500 * SIM_NS;
    f->mem_delay = 100 * SIM_NS;
    f->auto_prg = -1;
    f->prg_populates = true;
    f->prg_delay_unit = 2 * SIM_US;
    f->ur_pasid = UINT32_MAX;
}

static fx_t *fx_new(void)
{
    fx_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    cfg_defaults(f);
    return f;
}

/* Build the device (after the test adjusted f->dcfg). */
static void fx_start(fx_t *f, bool with_spans)
{
    sim_log_init(&f->log, SIM_LOG_ERROR, NULL, NULL);
    f->sim = sim_create(&f->log);
    f->st = sim_stats_create();
    ck_assert_ptr_nonnull(f->sim);
    ck_assert_ptr_nonnull(f->st);
    if (with_spans) {
        f->spans = sim_spans_create(f->st, "fault", pcie_stage_names,
                                    pcie_stage_descs, PCIE_STAGE_COUNT);
        ck_assert_ptr_nonnull(f->spans);
    }
    pcie_dev_port_t port = {.up_rx = fake_up, .up_opaque = f};
    f->dev = pcie_dev_create(f->sim, f->st, 0, &f->dcfg, &f->lcfg, &port,
                             f->spans, 1);
    ck_assert_ptr_nonnull(f->dev);
    ck_assert_uint_eq(pcie_dev_rid(f->dev), f->dcfg.rid_base);
}

static void fx_free(fx_t *f)
{
    pcie_dev_destroy(f->dev);
    sim_spans_destroy(f->spans);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

static uint64_t ctr(fx_t *f, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(f->st, name);
    ck_assert_msg(c != NULL, "no counter %s", name);
    return c->value;
}

static unsigned count_up(const fx_t *f, unsigned type)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->nup; i++)
        n += f->up[i].m.type == type;
    return n;
}

/* The k-th upstream message of a type (k from 0), or NULL. */
static const upmsg_t *nth_up(const fx_t *f, unsigned type, unsigned k)
{
    for (unsigned i = 0; i < f->nup; i++)
        if (f->up[i].m.type == type && k-- == 0)
            return &f->up[i];
    return NULL;
}

static void dma(fx_t *f, uint64_t va, uint64_t len, bool write)
{
    ck_assert_int_eq(pcie_dev_dma(f->dev, PASID, va, len, write), 0);
}

static void run(fx_t *f)
{
    sim_run(f->sim, SIM_TIME_MAX);
}

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
    ck_assert_uint_eq(rd->addr, 0x100000000ull + (BASE & 0xfffffff000ull) + 0x10);
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

/* ------------------------------------------------------------- PRI */

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
    ck_assert_uint_eq(u->t, rq->t + f->ats_delay + down_cpl + 50 * SIM_NS +
                                up_pr);
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
    ck_assert_uint_eq(sim_stats_find_hist(f->st, "fault.stage.ats_fault")->count,
                      1);
    ck_assert_uint_eq(sim_stats_find_hist(f->st, "fault.stage.retry")->count, 1);
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
    send_down_after(f, SIM_US, &stray, 0);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.pri.uprgi"), 1);
    dma(f, BASE, 64, false);
    run(f);
    uint16_t tag = nth_up(f, PCIE_MSG_PAGE_REQ, 0)->m.tag;
    stray.tag = (uint16_t)((tag + 1) % PCIE_PRG_INDICES);
    send_down_after(f, SIM_US, &stray, 0);
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
    send_down_after(f, SIM_US, &stray, 0);
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
 * pri_retries bound was only applied when the DMA has a fault span (`if (j->span)`), so a device
 * created with spans == NULL (allowed by pcie.h: "may be NULL"), or whose
 * span allocation failed, re-sends page requests forever when the host
 * keeps answering Success without fixing the page: an unbounded livelock
 * instead of failing the DMA after pri_retries re-faults. This test is
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

/* ------------------------------------------------------ invalidation */

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
    send_down_after(f, SIM_US, &inv, 0);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_INV_CPL), 1);
    ck_assert_uint_eq(ctr(f, "device0.atc.invalidated"), 0);
    /* Now page 1 of our PASID. */
    inv.pasid = PASID;
    inv.tag = 10;
    inv.cookie = (void *)(uintptr_t)0xbeef0;
    send_down_after(f, SIM_US, &inv, 0);
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
    send_down_after(f, SIM_US, &inv, 0);
    run(f);
    ck_assert_uint_eq(ctr(f, "device0.atc.invalidated"), 1 + 4);
    for (unsigned i = 0; i < 4; i++)
        dma(f, BASE + i * 0x1000, 64, false);
    run(f);
    ck_assert_uint_eq(count_up(f, PCIE_MSG_ATS_REQ), 9);
    fx_free(f);
}
END_TEST

/* ---------------------------------------------------- DMA mechanics */

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
    uint64_t expect_rd = (0x800 + mrrs - 1) / mrrs + (0x1000 + mrrs - 1) / mrrs +
                         (0x800 + mrrs - 1) / mrrs;
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

static Suite *dev_suite(void)
{
    Suite *s = suite_create("device_pri");
    TCase *tc = tcase_create("atc");
    tcase_add_test(tc, test_atc_hit_no_second_request);
    tcase_add_test(tc, test_atc_perm_mismatch_asks_again);
    tcase_add_test(tc, test_atc_no_alias_above_bit_55);
    tcase_add_test(tc, test_inv_req_drops_atc_and_completes);
    tcase_add_test(tc, test_multi_page_split);
    tcase_add_test(tc, test_tags_limit_in_flight);
    suite_add_tcase(s, tc);

    tc = tcase_create("pri");
    tcase_add_loop_test(tc, test_denied_makes_one_page_request, 0, 2);
    tcase_add_test(tc, test_success_retries_translation);
    tcase_add_test(tc, test_invalid_fails_dma);
    tcase_add_test(tc, test_failure_disables_pri);
    tcase_add_test(tc, test_reserved_code_is_failure);
    tcase_add_test(tc, test_no_pri_device);
    tcase_add_test(tc, test_ur_completion_fails);
    tcase_add_test(tc, test_capacity_limits_page_requests);
    tcase_add_loop_test(tc, test_prg_index_reuse_only_after_response, 0, 3);
    tcase_add_test(tc, test_uprgi);
    tcase_add_test(tc, test_retries_bounded);
    tcase_add_test(tc, test_retries_bounded_without_spans);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(dev_suite());
}
