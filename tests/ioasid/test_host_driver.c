/*
 * tests/ioasid/test_host_driver.c - the host IOMMU driver (ioasid/host.c,
 * ioasid/mm.c) on a real IOMMU, without the platform library.
 *
 * The IOMMU is iommu_create with the defaults of its parameter table
 * (iommu_params) and the driver ioasid_host_create with those of
 * ioasid_host_params, both through the sim config system, plus the
 * overrides each test names. Every cost the expectations use is read back
 * from that resolved configuration; the host's distributions are set to
 * fixed values (host.iopf below; the others are fixed by default, which
 * fixed() asserts), so expected times follow from the configuration.
 *
 * The device is scripted: page requests (RID, PASID, address, R/W, PRGI,
 * Last; stop markers) go up with iommu_rx at given times, as a device's
 * would, and a downstream port (iommu_set_downstream) records every
 * message the IOMMU sends down with its time. A recording fault handler,
 * installed with ioasid_host_bind, keeps each group it is given and
 * answers it at once with the code the test chose for its PRGI.
 *
 * Definitions the model is held against (each test names its own):
 *  - Linux drivers/iommu/io-pgfault.c: iommu_report_device_fault keeps
 *    non-last requests on the device's partial list (list_add: newest
 *    first); a last request makes a group: each partial with the same group
 *    id is list_move'd to the front of the group, which holds the last
 *    fault, so the group lists the requests in arrival order, the last one
 *    last; the group goes to domain->iopf_handler once; a fault with no
 *    domain/handler is answered IOMMU_PAGE_RESP_INVALID
 *    (iopf_error_response); "This module doesn't handle PCI PASID Stop
 *    Marker; IOMMU drivers must discard them before reporting faults".
 *  - Linux drivers/iommu/intel/prq.c: prq_event_thread drops a Stop Marker
 *    (lpig && !rd_req && !wr_req: "No need for a response"); on PRO with
 *    head == tail it calls iopf_queue_discard_partial and clears PRO;
 *    intel_iommu_page_response builds a page group response descriptor
 *    and submits it with qi_submit_sync (a wait descriptor follows).
 *  - Linux drivers/iommu/intel/iommu.h: QI_PGRP_RESP_TYPE 0x9,
 *    QI_IWD_TYPE 0x5, QI_PGRP_PASID_P(p) << 4, QI_PGRP_RESP_CODE(res)
 *    << 12, QI_PGRP_DID(rid) << 16, QI_PGRP_PASID(pasid) << 32,
 *    QI_PGRP_IDX(idx) << 3 in QW1, QI_RESP_SUCCESS 0x0, QI_RESP_INVALID
 *    0x1; scalable-mode descriptors are 256 bits (qi_shift).
 *  - Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h: CMDQ_OP_PRI_RESP
 *    0x41, CMDQ_OP_CMD_SYNC 0x46, CMDQ_0_SSV bit 11, CMDQ_PRI_0_SSID
 *    GENMASK(31, 12), CMDQ_PRI_0_SID GENMASK(63, 32), CMDQ_PRI_1_GRPID
 *    GENMASK(8, 0), CMDQ_PRI_1_RESP GENMASK(13, 12), enum pri_resp
 *    PRI_RESP_DENY 0 / PRI_RESP_FAIL 1 / PRI_RESP_SUCC 2; 16-byte commands
 *    (CMDQ_ENT_DWORDS 2); arm_smmu_page_response: "Don't send a SYNC, it
 *    doesn't do anything for RESUME or PRI_RESP".
 *  - Linux drivers/iommu/iommu-sva.c: iommu_sva_handle_mm answers INVALID
 *    when no VMA holds the address or the VMA does not allow the access,
 *    SUCCESS after handle_mm_fault.
 *  - PCIe r4.0 10.4.1 (Page Request: PRGI, L; Stop Marker: L=1, R=W=0),
 *    10.4.2 (one PRG Response per group, carrying its PRGI), 10.4.2.1
 *    (Response Code: 0000b Success, 0001b Invalid Request).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/host.h"
#include "ioasid/mm.h"
#include "iommu/iommu.h"
#include "sim/sim.h"
#include "tests/check_run.h"

#define NS SIM_NS
#define US SIM_US

#define MAXMSG 64
#define MAXCALL 16
#define MAXF 8

#define RID_A 0x0100u
#define RID_B 0x0200u
#define RID_C 0x0300u
#define PASID_A 5u
#define PASID_B 9u
#define PASID_C 11u
#define VA 0x7f0000000000ull
#define PG IOMMU_PAGE_SIZE

#define RD PCIE_F_R
#define WR PCIE_F_W
#define LAST PCIE_F_LAST

/* ------------------------------------------------------------ fixture */

typedef struct hd_msg {
    sim_time_t t;
    uint16_t rid;
    pcie_msg_t m;
} hd_msg_t;

/* One call of the recording handler: the group it was given. */
typedef struct hd_call {
    sim_time_t t;
    unsigned n;
    iommu_prq_desc_t f[MAXF]; /* g->faults in list order */
} hd_call_t;

typedef struct hd {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    iommu_cfg_t icfg;
    ioasid_host_cfg_t hcfg;
    iommu_t *u;
    ioasid_host_t *h;
    iommu_pt_t pt; /* an empty stage-1 table for handler bindings */
    hd_msg_t down[MAXMSG];
    unsigned ndown;
    hd_call_t call[MAXCALL];
    unsigned ncall;
    uint8_t code[PCIE_PRG_INDICES]; /* the handler's answer per PRGI */
    pcie_msg_t inj[MAXMSG];
    unsigned ninj;
} hd_t;

/* The fake device's downstream port: record every message. */
static void hd_down(void *opaque, uint16_t rid, const pcie_msg_t *m)
{
    hd_t *f = opaque;
    ck_assert_uint_lt(f->ndown, MAXMSG);
    f->down[f->ndown++] = (hd_msg_t){sim_now(f->sim), rid, *m};
}

/*
 * An IOMMU and its host driver from the parameter tables' defaults, then
 * host.iopf fixed (its default is a mixture), then `sets` (NULL-ended
 * "section.key=value" strings, may be NULL).
 */
static hd_t *hd_new(const char *const *sets)
{
    hd_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    sim_log_init(&f->log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *sc = sim_config_create(&f->log);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(
        sim_config_register(sc, iommu_params, iommu_nparams, &f->icfg), 0);
    ck_assert_int_eq(sim_config_register(sc, ioasid_host_params,
                                         ioasid_host_nparams, &f->hcfg),
                     0);
    ck_assert_int_eq(sim_config_set(sc, "host.iopf=3000"), 0);
    for (unsigned i = 0; sets && sets[i]; i++)
        ck_assert_msg(sim_config_set(sc, sets[i]) == 0, "bad set %s", sets[i]);
    sim_config_destroy(sc);
    f->sim = sim_create(&f->log);
    f->st = sim_stats_create();
    ck_assert_ptr_nonnull(f->sim);
    ck_assert_ptr_nonnull(f->st);
    f->u = iommu_create(f->sim, f->st, &f->icfg, 1);
    ck_assert_ptr_nonnull(f->u);
    iommu_set_downstream(f->u, hd_down, f);
    f->h = ioasid_host_create(f->sim, f->st, &f->hcfg, f->u, NULL, 1);
    ck_assert_ptr_nonnull(f->h);
    ck_assert_int_eq(iommu_pt_init(&f->pt, iommu_memory(f->u),
                                   (unsigned)iommu_config(f->u)->levels),
                     0);
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++)
        f->code[i] = PCIE_PRG_SUCCESS;
    return f;
}

static void hd_free(hd_t *f)
{
    ioasid_host_destroy(f->h);
    iommu_destroy(f->u);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

/* The value of a distribution the test set (or left) fixed. */
static sim_time_t fixed(const sim_dist_t *d)
{
    ck_assert_int_eq(d->kind, SIM_DIST_FIXED);
    return (sim_time_t)(d->part[0].a + 0.5);
}

static uint64_t ctr(hd_t *f, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(f->st, name);
    ck_assert_msg(c != NULL, "no counter %s", name);
    return c->value;
}

/* The recording handler (the binding's owner, io-pgfault.c:
 * domain->iopf_handler): keep the group, answer it now. */
static sim_time_t rec_handler(void *data, ioasid_iopf_group_t *g)
{
    hd_t *f = data;
    ck_assert_uint_lt(f->ncall, MAXCALL);
    hd_call_t *c = &f->call[f->ncall++];
    c->t = sim_now(f->sim);
    c->n = 0;
    ck_assert(!g->stall);
    for (const ioasid_iopf_fault_t *x = g->faults; x; x = x->next) {
        ck_assert_uint_lt(c->n, MAXF);
        c->f[c->n++] = x->desc;
        if (!x->next)
            ck_assert_ptr_eq(x, g->last);
    }
    ioasid_host_respond(f->h, g, f->code[g->last->desc.prgi]);
    return 0;
}

/* Bind (rid, pasid) with PRI enabled (PRE) to the empty table, with fn. */
static void hd_bind(hd_t *f, uint16_t rid, uint32_t pasid,
                    ioasid_iopf_handler_fn fn)
{
    int dom = ioasid_host_alloc_domain(f->h);
    ck_assert_int_gt(dom, 0);
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1,
                             .domain = (uint16_t)dom,
                             .s1 = f->pt,
                             .pri = true};
    ck_assert_int_eq(ioasid_host_bind(f->h, rid, pasid, &e, fn, f), 0);
}

static void hd_ev_rx(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    hd_t *f = opaque;
    iommu_rx(f->u, &f->inj[arg]);
}

/* The device sends a Page Request with a PASID prefix at absolute time t
 * (flags: PCIE_F_R/W/LAST; LAST alone is a Stop Marker, PCIe 10.4.1). */
static void hd_req(hd_t *f, sim_time_t t, uint16_t rid, uint32_t pasid,
                   uint64_t addr, unsigned flags, uint16_t prgi)
{
    ck_assert_uint_lt(f->ninj, MAXMSG);
    pcie_msg_t *m = &f->inj[f->ninj];
    memset(m, 0, sizeof(*m));
    m->type = PCIE_MSG_PAGE_REQ;
    m->flags = (uint8_t)(flags | PCIE_F_PASID);
    m->rid = rid;
    m->pasid = pasid;
    m->addr = addr;
    m->tag = prgi;
    ck_assert_uint_ne(sim_schedule_at(f->sim, t, hd_ev_rx, f, f->ninj), 0);
    f->ninj++;
}

static void hd_run(hd_t *f)
{
    sim_run(f->sim, SIM_TIME_MAX);
    ck_assert_str_eq(sim_log_last_error(&f->log), ""); /* no model error */
}

/* PRG Responses the device received, in order. */
static unsigned hd_nresp(const hd_t *f)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->ndown; i++)
        n += f->down[i].m.type == PCIE_MSG_PRG_RESP;
    return n;
}

static const hd_msg_t *hd_resp(const hd_t *f, unsigned k)
{
    unsigned seen = 0;
    for (unsigned i = 0; i < f->ndown; i++)
        if (f->down[i].m.type == PCIE_MSG_PRG_RESP && seen++ == k)
            return &f->down[i];
    ck_abort_msg("no PRG response %u", k);
    return NULL;
}

/*
 * When the handler thread reports a request sent at t to an idle IOMMU and
 * host: the PRQ write (iommu.prq_write), the MSI to the threaded handler
 * (host.irq_latency), reading the descriptor (host.prq_desc): host.c steps
 * 1-2.
 */
static sim_time_t t_reported(hd_t *f, sim_time_t t)
{
    return t + iommu_config(f->u)->prq_write + f->hcfg.irq_latency +
           fixed(&f->hcfg.prq_desc);
}

/* Word w of invalidation-queue slot `slot` (a fresh queue: slot k is the
 * k-th descriptor submitted while fewer than its depth were). */
static uint64_t qi_word(hd_t *f, unsigned slot, unsigned w)
{
    return iommu_mem_read64(iommu_memory(f->u),
                            iommu_qi_base(f->u) +
                                (uint64_t)slot * iommu_qi_desc_size(f->u) +
                                8u * w);
}

/* ---------------------------------------------------- group assembly */

/*
 * io-pgfault.c iommu_report_device_fault: non-last requests are held on
 * the device's partial list; a last request makes a group of itself and
 * the partials of the same device (RID) and group index, in arrival order
 * with the last one last, handed once to the binding's handler. PCIe
 * 10.4.1: the PRGI identifies the group within the Function.
 */
START_TEST(test_group_assembly)
{
    hd_t *f = hd_new(NULL);
    hd_bind(f, RID_A, PASID_A, rec_handler);
    hd_bind(f, RID_B, PASID_B, rec_handler);

    /* Non-last requests only: held, nothing handled or answered. */
    hd_req(f, 0, RID_A, PASID_A, VA + 0 * PG, RD, 7);
    hd_req(f, 1 * NS, RID_B, PASID_B, VA + 1 * PG, RD, 7); /* other RID */
    hd_req(f, 2 * NS, RID_A, PASID_A, VA + 2 * PG, WR, 7);
    hd_run(f);
    ck_assert_uint_eq(ctr(f, "host.prq.reported"), 3);
    ck_assert_uint_eq(f->ncall, 0);
    ck_assert_uint_eq(hd_nresp(f), 0);
    ioasid_host_totals_t tot;
    ioasid_host_totals(f->h, &tot);
    ck_assert_uint_eq(tot.groups, 0);
    ck_assert_uint_eq(tot.in_flight, 0);

    /* A last request of another group index stands alone; the last one of
     * group 7 collects RID_A's two partials, not RID_B's. */
    sim_time_t t1 = sim_now(f->sim) + 10 * US;
    hd_req(f, t1, RID_A, PASID_A, VA + 3 * PG, RD | LAST, 9);
    hd_req(f, t1 + 1 * NS, RID_A, PASID_A, VA + 4 * PG, RD | WR | LAST, 7);
    hd_run(f);
    ck_assert_uint_eq(f->ncall, 2);
    ck_assert_uint_eq(ctr(f, "host.iopf.groups"), 2);

    const hd_call_t *c = &f->call[0];
    ck_assert_uint_eq(c->n, 1);
    ck_assert_uint_eq(c->f[0].prgi, 9);
    ck_assert_uint_eq(c->f[0].addr, VA + 3 * PG);
    ck_assert(c->f[0].flags & LAST);
    /* The handler runs when the thread reads the last descriptor. */
    ck_assert_uint_eq(c->t, t_reported(f, t1));

    c = &f->call[1];
    ck_assert_uint_eq(c->n, 3);
    static const uint64_t want[] = {VA + 0 * PG, VA + 2 * PG, VA + 4 * PG};
    static const uint8_t acc[] = {RD, WR, RD | WR};
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(c->f[i].addr, want[i]);
        ck_assert_uint_eq(c->f[i].rid, RID_A);
        ck_assert_uint_eq(c->f[i].pasid, PASID_A);
        ck_assert_uint_eq(c->f[i].prgi, 7);
        ck_assert_uint_eq(c->f[i].flags & (RD | WR), acc[i]);
        ck_assert_uint_eq(!!(c->f[i].flags & LAST), i == 2);
        ck_assert(c->f[i].flags & PCIE_F_PASID);
    }
    /* Read in the same run, one host.prq_desc after the first. */
    ck_assert_uint_eq(c->t, f->call[0].t + fixed(&f->hcfg.prq_desc));

    /* RID_B's partial of group 7 completes its own group. */
    sim_time_t t2 = sim_now(f->sim) + 10 * US;
    hd_req(f, t2, RID_B, PASID_B, VA + 5 * PG, RD | LAST, 7);
    hd_run(f);
    ck_assert_uint_eq(f->ncall, 3);
    c = &f->call[2];
    ck_assert_uint_eq(c->n, 2);
    ck_assert_uint_eq(c->f[0].addr, VA + 1 * PG);
    ck_assert_uint_eq(c->f[1].addr, VA + 5 * PG);
    ck_assert_uint_eq(c->f[0].rid, RID_B);
    ck_assert_uint_eq(c->f[1].rid, RID_B);
    ioasid_host_totals(f->h, &tot);
    ck_assert_uint_eq(tot.reported, 6);
    ck_assert_uint_eq(tot.groups, 3);
    ck_assert_uint_eq(tot.requests_responded, 6);
    ck_assert_uint_eq(tot.in_flight, 0);
    hd_free(f);
}
END_TEST

/* ------------------------------------------------------- responses */

/*
 * PCIe 10.4.2: one PRG Response per page request group, with the group's
 * PRGI, to the requester; the code is the handler's (10.4.2.1). Two groups
 * interleaved on one RID get one response each, with their own code, and
 * the non-last requests none.
 */
START_TEST(test_one_response_per_group)
{
    hd_t *f = hd_new(NULL);
    hd_bind(f, RID_A, PASID_A, rec_handler);
    f->code[3] = PCIE_PRG_SUCCESS;
    f->code[4] = PCIE_PRG_INVALID;
    hd_req(f, 0 * NS, RID_A, PASID_A, VA + 0 * PG, RD, 3);
    hd_req(f, 1 * NS, RID_A, PASID_A, VA + 1 * PG, RD, 4);
    hd_req(f, 2 * NS, RID_A, PASID_A, VA + 2 * PG, RD, 3);
    hd_req(f, 3 * NS, RID_A, PASID_A, VA + 3 * PG, RD | LAST, 4);
    hd_req(f, 4 * NS, RID_A, PASID_A, VA + 4 * PG, WR | LAST, 3);
    hd_run(f);

    ck_assert_uint_eq(f->ncall, 2);
    ck_assert_uint_eq(hd_nresp(f), 2);
    ck_assert_uint_eq(ctr(f, "iommu.prq.host_responses"), 2);
    ck_assert_uint_eq(ctr(f, "iommu.prq.auto_responded"), 0);
    ck_assert_uint_eq(ctr(f, "host.iopf.resp_success"), 1);
    ck_assert_uint_eq(ctr(f, "host.iopf.resp_invalid"), 1);

    static const uint16_t prgi[] = {4, 3};
    for (unsigned k = 0; k < 2; k++) {
        const hd_msg_t *r = hd_resp(f, k);
        ck_assert_uint_eq(r->rid, RID_A);
        ck_assert_uint_eq(r->m.tag, prgi[k]);
        ck_assert_uint_eq(r->m.pasid, PASID_A);
        ck_assert(r->m.flags & PCIE_F_PASID);
        ck_assert_uint_eq(r->m.code, f->code[prgi[k]]);
        ck_assert_uint_eq(f->call[k].f[f->call[k].n - 1].prgi, prgi[k]);
    }
    ck_assert_uint_eq(f->call[0].n, 2);
    ck_assert_uint_eq(f->call[1].n, 3);
    /* The first response leaves one iommu.qi_page_resp after the handler
     * submitted it (an idle queue). */
    ck_assert_uint_eq(hd_resp(f, 0)->t,
                      f->call[0].t + iommu_config(f->u)->qi_page_resp);
    ioasid_host_totals_t tot;
    ioasid_host_totals(f->h, &tot);
    ck_assert_uint_eq(tot.requests_responded, 5);
    ck_assert_uint_eq(tot.in_flight, 0);
    hd_free(f);
}
END_TEST

/*
 * io-pgfault.c: a fault with no domain handler for its (RID, PASID) is
 * answered IOMMU_PAGE_RESP_INVALID (iopf_error_response). Two cases: a
 * PASID entry with PRI written behind the driver's back (no binding at
 * all), and a binding without a handler. It is the host that answers (not
 * the IOMMU's automatic response): after host.iopf and host.qi_submit on a
 * worker (host.c), then iommu.qi_page_resp.
 */
START_TEST(test_unbound_invalid)
{
    hd_t *f = hd_new(NULL);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S1, .domain = 1, .s1 = f->pt, .pri = true};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID_A, PASID_A, &e), 0);
    e.domain = 2;
    ck_assert_int_eq(ioasid_host_bind(f->h, RID_B, PASID_B, &e, NULL, NULL), 0);
    ck_assert_ptr_null(ioasid_host_handler(f->h, RID_A, PASID_A, NULL));
    ck_assert_ptr_null(ioasid_host_handler(f->h, RID_B, PASID_B, NULL));

    const sim_time_t t[2] = {0, 100 * US};
    hd_req(f, t[0], RID_A, PASID_A, VA, RD | LAST, 17);
    hd_req(f, t[1], RID_B, PASID_B, VA, WR | LAST, 18);
    hd_run(f);

    ck_assert_uint_eq(ctr(f, "iommu.prq.written"), 2);
    ck_assert_uint_eq(ctr(f, "iommu.prq.auto_responded"), 0);
    ck_assert_uint_eq(ctr(f, "host.iopf.groups"), 2);
    ck_assert_uint_eq(ctr(f, "host.iopf.resp_invalid"), 2);
    ck_assert_uint_eq(ctr(f, "host.iopf.resp_success"), 0);
    ck_assert_uint_eq(hd_nresp(f), 2);
    const uint16_t rid[2] = {RID_A, RID_B}, prgi[2] = {17, 18};
    const uint32_t pasid[2] = {PASID_A, PASID_B};
    sim_time_t work = fixed(&f->hcfg.iopf) + fixed(&f->hcfg.qi_submit) +
                      iommu_config(f->u)->qi_page_resp;
    for (unsigned k = 0; k < 2; k++) {
        const hd_msg_t *r = hd_resp(f, k);
        ck_assert_uint_eq(r->m.code, PCIE_PRG_INVALID);
        ck_assert_uint_eq(r->rid, rid[k]);
        ck_assert_uint_eq(r->m.pasid, pasid[k]);
        ck_assert_uint_eq(r->m.tag, prgi[k]);
        ck_assert_uint_eq(r->t, t_reported(f, t[k]) + work);
    }
    hd_free(f);
}
END_TEST

/*
 * A Stop Marker (PCIe 10.4.1: L=1, R=W=0) is dropped by the PRQ handler
 * (intel/prq.c prq_event_thread: "Drop Stop Marker message. No need for a
 * response"; io-pgfault.c leaves them to the IOMMU driver): no group, no
 * response, even for a (RID, PASID) nobody bound, and it does not close
 * the group whose PRGI it carries.
 */
START_TEST(test_stop_marker_dropped)
{
    hd_t *f = hd_new(NULL);
    hd_bind(f, RID_A, PASID_A, rec_handler);
    hd_req(f, 0, RID_A, PASID_A, VA + 0 * PG, RD, 5);
    hd_req(f, 1 * NS, RID_A, PASID_A, 0, LAST, 5); /* stop marker */
    hd_req(f, 2 * NS, RID_C, PASID_C, 0, LAST, 6); /* unbound */
    hd_run(f);
    ck_assert_uint_eq(ctr(f, "iommu.prq.stop_markers"), 2);
    ck_assert_uint_eq(ctr(f, "iommu.prq.written"), 3);
    ck_assert_uint_eq(ctr(f, "host.prq.stop_markers"), 2);
    ck_assert_uint_eq(ctr(f, "host.prq.reported"), 1);
    ck_assert_uint_eq(f->ncall, 0);
    ck_assert_uint_eq(ctr(f, "host.iopf.groups"), 0);
    ck_assert_uint_eq(hd_nresp(f), 0);
    ck_assert_uint_eq(ctr(f, "iommu.prq.auto_responded"), 0);
    /* Consumed all the same: head moved to the tail (prq.c). */
    ck_assert_uint_eq(iommu_prq_head(f->u), iommu_prq_tail(f->u));

    /* The group of PRGI 5 is the partial and its last request only. */
    hd_req(f, sim_now(f->sim) + 10 * US, RID_A, PASID_A, VA + 1 * PG, RD | LAST,
           5);
    hd_run(f);
    ck_assert_uint_eq(f->ncall, 1);
    ck_assert_uint_eq(f->call[0].n, 2);
    ck_assert_uint_eq(f->call[0].f[0].addr, VA + 0 * PG);
    ck_assert_uint_eq(f->call[0].f[1].addr, VA + 1 * PG);
    ck_assert_uint_eq(hd_nresp(f), 1);
    ck_assert_uint_eq(hd_resp(f, 0)->m.tag, 5);
    hd_free(f);
}
END_TEST

/* ------------------------------------------------------ native SVA */

/*
 * iommu-sva.c iommu_sva_handle_mm: a fault inside a VMA that allows the
 * access is fixed (handle_mm_fault) and answered SUCCESS; no VMA, or an
 * access the VMA does not allow, INVALID. Cost (mm.h, host.c): the group
 * is queued on a worker for host.iopf + host.mm_minor per page to populate
 * + host.qi_submit, then the queue takes iommu.qi_page_resp.
 */
START_TEST(test_sva_success_invalid)
{
    hd_t *f = hd_new(NULL);
    ioasid_mm_t *mm = ioasid_mm_create(f->h);
    ck_assert_ptr_nonnull(mm);
    ck_assert_int_eq(
        ioasid_mm_map(mm, VA, 4 * PG, IOMMU_PTE_R | IOMMU_PTE_W, false), 0);
    ck_assert_int_eq(ioasid_mm_map(mm, VA + 16 * PG, PG, IOMMU_PTE_R, false),
                     0);
    ck_assert_int_eq(ioasid_mm_bind(mm, RID_A, PASID_A), 0);
    ck_assert_ptr_eq(ioasid_mm_lookup(f->h, RID_A, PASID_A), mm);

    const sim_time_t t[3] = {0, 100 * US, 200 * US};
    hd_req(f, t[0], RID_A, PASID_A, VA + 1 * PG + 0x40, WR | LAST, 1);
    hd_req(f, t[1], RID_A, PASID_A, VA + 256 * PG, RD | LAST, 2); /* no VMA */
    hd_req(f, t[2], RID_A, PASID_A, VA + 16 * PG, WR | LAST, 3);  /* R only */
    hd_run(f);

    ck_assert_uint_eq(hd_nresp(f), 3);
    static const uint8_t code[3] = {PCIE_PRG_SUCCESS, PCIE_PRG_INVALID,
                                    PCIE_PRG_INVALID};
    sim_time_t common = fixed(&f->hcfg.iopf) + fixed(&f->hcfg.qi_submit) +
                        iommu_config(f->u)->qi_page_resp;
    const sim_time_t mm_work[3] = {fixed(&f->hcfg.mm_minor), 0, 0};
    for (unsigned k = 0; k < 3; k++) {
        const hd_msg_t *r = hd_resp(f, k);
        ck_assert_uint_eq(r->m.tag, k + 1);
        ck_assert_uint_eq(r->rid, RID_A);
        ck_assert_uint_eq(r->m.code, code[k]);
        ck_assert_uint_eq(r->t, t_reported(f, t[k]) + common + mm_work[k]);
    }
    ck_assert_uint_eq(ctr(f, "host.mm.minor_faults"), 1);
    ck_assert_uint_eq(ctr(f, "host.mm.bad_access"), 2);
    ck_assert_uint_eq(ctr(f, "host.iopf.resp_success"), 1);
    ck_assert_uint_eq(ctr(f, "host.iopf.resp_invalid"), 2);

    /* The fixed page now translates for a write; its neighbour in the
     * same VMA was not populated. */
    iommu_xlate_t x;
    iommu_translate(f->u, RID_A, PASID_A, VA + 1 * PG, PCIE_F_W, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_OK);
    iommu_translate(f->u, RID_A, PASID_A, VA + 2 * PG, PCIE_F_R, &x);
    ck_assert_int_eq(x.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    hd_free(f);
}
END_TEST

/* ----------------------------------------- VT-d vs SMMUv3 responses */

/*
 * The response of each architecture, read from the invalidation queue in
 * memory and seen by the device:
 *  - VT-d (intel/prq.c intel_iommu_page_response + qi_submit_sync): a
 *    page group response descriptor (QI_PGRP_RESP_TYPE 0x9; PASID_P,
 *    RESP_CODE, DID = the RID, PASID in QW0, IDX in QW1) followed by a
 *    wait descriptor (QI_IWD_TYPE 0x5); 32-byte descriptors;
 *  - SMMUv3 (arm-smmu-v3.c arm_smmu_page_response, "Don't send a SYNC"):
 *    CMD_PRI_RESP (0x41; SSV, SSID, SID in dword 0, GRPID and RESP in
 *    dword 1, PRI_RESP_SUCC 2 / PRI_RESP_DENY 0) alone; 16-byte commands.
 * Two groups answered back to back (Success, then Invalid): the second
 * response waits for the first and, on VT-d only, its wait descriptor:
 * the gap is iommu.qi_page_resp + iommu.qi_wait on VT-d and
 * iommu.qi_page_resp on SMMUv3.
 */
static const char *const arch_sets[2][2] = {{"iommu.arch=vtd", NULL},
                                            {"iommu.arch=smmuv3", NULL}};

START_TEST(test_response_encoding)
{
    const bool smmu = _i == 1;
    hd_t *f = hd_new(arch_sets[_i]);
    ck_assert_int_eq(iommu_arch(f->u),
                     smmu ? IOMMU_ARCH_SMMUV3 : IOMMU_ARCH_VTD);
    const uint16_t rid = 0x1234, prgi[2] = {0x155, 0x0aa};
    const uint32_t pasid = 0x12345;
    hd_bind(f, rid, pasid, rec_handler);
    f->code[prgi[0]] = PCIE_PRG_SUCCESS;
    f->code[prgi[1]] = PCIE_PRG_INVALID;
    ck_assert_uint_eq(iommu_qi_head(f->u), 0);
    ck_assert_uint_eq(iommu_qi_tail(f->u), 0);
    hd_req(f, 0, rid, pasid, VA, RD | LAST, prgi[0]);
    hd_req(f, 1 * NS, rid, pasid, VA + PG, RD | LAST, prgi[1]);
    hd_run(f);
    ck_assert_uint_eq(f->ncall, 2);
    ck_assert_uint_eq(hd_nresp(f), 2);

    /* What the device sees: PCIe codes, PRGI, PASID, whatever the queue's
     * encoding (PCIe 10.4.2.1). */
    for (unsigned k = 0; k < 2; k++) {
        const hd_msg_t *r = hd_resp(f, k);
        ck_assert_uint_eq(r->rid, rid);
        ck_assert_uint_eq(r->m.tag, prgi[k]);
        ck_assert_uint_eq(r->m.pasid, pasid);
        ck_assert(r->m.flags & PCIE_F_PASID);
        ck_assert_uint_eq(r->m.code, f->code[prgi[k]]);
    }

    /* The descriptors in the queue's memory. */
    ck_assert_uint_eq(ctr(f, "iommu.qi.page_resp"), 2);
    if (!smmu) {
        ck_assert_uint_eq(iommu_qi_desc_size(f->u), 32);
        ck_assert_uint_eq(iommu_qi_tail(f->u), 4);
        ck_assert_uint_eq(ctr(f, "iommu.qi.wait"), 2);
        static const uint64_t resp_code[2] = {0x0 /* QI_RESP_SUCCESS */,
                                              0x1 /* QI_RESP_INVALID */};
        for (unsigned k = 0; k < 2; k++) {
            uint64_t qw0 = qi_word(f, 2 * k, 0), qw1 = qi_word(f, 2 * k, 1);
            ck_assert_uint_eq(qw0 & 0xf, 0x9);
            ck_assert_uint_eq((qw0 >> 4) & 1, 1);
            ck_assert_uint_eq((qw0 >> 12) & 0xf, resp_code[k]);
            ck_assert_uint_eq((qw0 >> 16) & 0xffff, rid);
            ck_assert_uint_eq((qw0 >> 32) & 0xfffff, pasid);
            ck_assert_uint_eq((qw1 >> 3) & 0x1ff, prgi[k]);
            ck_assert_uint_eq(qi_word(f, 2 * k + 1, 0) & 0xf, 0x5);
        }
    } else {
        ck_assert_uint_eq(iommu_qi_desc_size(f->u), 16);
        ck_assert_uint_eq(iommu_qi_tail(f->u), 2);
        ck_assert_uint_eq(ctr(f, "iommu.qi.wait"), 0);
        static const uint64_t resp[2] = {2 /* PRI_RESP_SUCC */,
                                         0 /* PRI_RESP_DENY */};
        for (unsigned k = 0; k < 2; k++) {
            uint64_t d0 = qi_word(f, k, 0), d1 = qi_word(f, k, 1);
            ck_assert_uint_eq(d0 & 0xff, 0x41);
            ck_assert_uint_eq((d0 >> 11) & 1, 1);
            ck_assert_uint_eq((d0 >> 12) & 0xfffff, pasid);
            ck_assert_uint_eq(d0 >> 32, rid);
            ck_assert_uint_eq(d1 & 0x1ff, prgi[k]);
            ck_assert_uint_eq((d1 >> 12) & 0x3, resp[k]);
        }
    }

    /* Timing: the first response one qi_page_resp after its handler; the
     * second after the first (and VT-d's wait), as the handler submitted
     * it before the first was done. */
    const iommu_cfg_t *c = iommu_config(f->u);
    sim_time_t p = c->qi_page_resp, w = c->qi_wait;
    ck_assert_uint_eq(f->call[1].t - f->call[0].t, fixed(&f->hcfg.prq_desc));
    ck_assert_uint_lt(f->call[1].t, f->call[0].t + p);
    ck_assert_uint_eq(hd_resp(f, 0)->t, f->call[0].t + p);
    ck_assert_uint_eq(hd_resp(f, 1)->t - hd_resp(f, 0)->t, smmu ? p : p + w);
    hd_free(f);
}
END_TEST

/* ------------------------------------------------- PRQ overflow */

/*
 * A small PRQ filled with non-last requests overflows on the next request:
 * it is not queued (a last one gets the IOMMU's automatic Success, a
 * non-last one is dropped; iommu/prq.c). The host drains the queue, then
 * discards every partial request and clears the overflow (VT-d: PRO with
 * head == tail, intel/prq.c prq_event_thread: iopf_queue_discard_partial;
 * SMMUv3: OVACKFLG := OVFLG, arm_smmu_priq_thread, with the partials
 * discarded as Brucker's PRI patch does). The group that the device then
 * completes holds its last request only. Usable entries: VT-d depth - 1
 * (one slot stays unused, head == tail means empty), SMMUv3 depth (wrap
 * bit).
 */
static const char *const ovf_sets[2][3] = {
    {"iommu.arch=vtd", "iommu.prq_depth=4", NULL},
    {"iommu.arch=smmuv3", "iommu.prq_depth=4", NULL}};

START_TEST(test_prq_overflow_recovery)
{
    const bool smmu = _i == 1;
    hd_t *f = hd_new(ovf_sets[_i]);
    hd_bind(f, RID_A, PASID_A, rec_handler);
    uint32_t depth = iommu_prq_depth(f->u);
    ck_assert_uint_eq(depth, iommu_config(f->u)->prq_depth);
    unsigned usable = smmu ? depth : depth - 1;
    ck_assert_uint_le(usable, MAXMSG - 4);

    /* All sent before the handler thread first runs (within
     * host.irq_latency of the first PRQ write). */
    sim_time_t t = 0;
    for (unsigned i = 0; i < usable; i++, t += NS)
        hd_req(f, t, RID_A, PASID_A, VA + i * PG, RD, (uint16_t)(1 + i % 2));
    ck_assert_uint_lt(t + NS, f->hcfg.irq_latency);
    hd_req(f, t, RID_A, PASID_A, VA + 100 * PG, RD | LAST, 1); /* overflow */
    hd_req(f, t + NS, RID_A, PASID_A, VA + 101 * PG, RD, 2);   /* dropped */
    hd_run(f);

    ck_assert_uint_eq(ctr(f, "iommu.prq.written"), usable);
    ck_assert_uint_eq(ctr(f, "iommu.prq.overflows"), 1);
    ck_assert_uint_eq(ctr(f, "iommu.prq.auto_responded"), 1);
    ck_assert_uint_eq(ctr(f, "iommu.prq.dropped"), 1);
    ck_assert_uint_eq(ctr(f, "host.prq.reported"), usable);
    ck_assert_uint_eq(ctr(f, "host.prq.overflow_recoveries"), 1);
    ck_assert_uint_eq(ctr(f, "host.iopf.partial_discarded"), usable);
    ck_assert_uint_eq(iommu_prq_status(f->u) & IOMMU_PRS_PRO, 0);
    ck_assert_uint_eq(f->ncall, 0);
    /* The one response is the IOMMU's, for the refused last request. */
    ck_assert_uint_eq(hd_nresp(f), 1);
    ck_assert_uint_eq(hd_resp(f, 0)->m.tag, 1);
    ck_assert_uint_eq(hd_resp(f, 0)->m.code, PCIE_PRG_SUCCESS);
    ck_assert_uint_eq(ctr(f, "iommu.prq.host_responses"), 0);

    /* After recovery: group 2's earlier partials are gone. */
    hd_req(f, sim_now(f->sim) + 10 * US, RID_A, PASID_A, VA + 200 * PG,
           RD | LAST, 2);
    hd_run(f);
    ck_assert_uint_eq(f->ncall, 1);
    ck_assert_uint_eq(f->call[0].n, 1);
    ck_assert_uint_eq(f->call[0].f[0].addr, VA + 200 * PG);
    ck_assert_uint_eq(hd_nresp(f), 2);
    ck_assert_uint_eq(hd_resp(f, 1)->m.tag, 2);
    ck_assert_uint_eq(ctr(f, "iommu.prq.host_responses"), 1);
    hd_free(f);
}
END_TEST

static Suite *host_driver_suite(void)
{
    Suite *s = suite_create("host_driver");
    TCase *tc = tcase_create("groups");
    tcase_add_test(tc, test_group_assembly);
    tcase_add_test(tc, test_one_response_per_group);
    tcase_add_test(tc, test_unbound_invalid);
    tcase_add_test(tc, test_stop_marker_dropped);
    suite_add_tcase(s, tc);

    tc = tcase_create("sva");
    tcase_add_test(tc, test_sva_success_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("arch");
    tcase_add_loop_test(tc, test_response_encoding, 0, 2);
    tcase_add_loop_test(tc, test_prq_overflow_recovery, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(host_driver_suite());
}
