/*
 * tests/pcie/dev_fixture.c - the fake root complex in front of one device
 * (see dev_fixture.h).
 */
#include "tests/pcie/dev_fixture.h"

#include <stdlib.h>
#include <string.h>

#include "tools/platform/stages.h"

/* ------------------------------------------------ translation table */

/*
 * The translation covering va for pasid, or false.
 */
bool page_lookup(const fx_t *f, uint32_t pasid, uint64_t va,
                 const fx_page_t **out)
{
    for (unsigned i = 0; i < f->npages; i++) {
        const fx_page_t *p = &f->pages[i];
        uint64_t size = 1ull << p->shift;
        if (p->pasid == pasid && va >= p->va && va - p->va < size) {
            *out = p;
            return true;
        }
    }
    return false;
}

/*
 * Map (or re-map) 1 << shift bytes at va to frame with perm.
 */
void page_map(fx_t *f, uint32_t pasid, uint64_t va, unsigned shift,
              uint64_t frame, uint8_t perm)
{
    for (unsigned i = 0; i < f->npages; i++) {
        fx_page_t *p = &f->pages[i];
        if (p->pasid == pasid && p->va == va) {
            p->perm = perm;
            p->frame = frame;
            p->shift = (uint8_t)shift;
            return;
        }
    }
    ck_assert_uint_lt(f->npages, MAXPAGES);
    f->pages[f->npages++] = (fx_page_t){pasid, va, frame, perm, (uint8_t)shift};
}

/*
 * Map the 4 KiB page at va to its default frame.
 */
void page_set(fx_t *f, uint32_t pasid, uint64_t va, uint8_t perm)
{
    page_map(f, pasid, va & ~0xfffull, 12, FX_FRAME(va), perm);
}

/*
 * Remove the translation starting at va.
 */
void page_unset(fx_t *f, uint32_t pasid, uint64_t va)
{
    for (unsigned i = 0; i < f->npages; i++) {
        if (f->pages[i].pasid == pasid && f->pages[i].va == va) {
            f->pages[i] = f->pages[--f->npages];
            return;
        }
    }
}

/* ------------------------------------------------------- downstream */

/*
 * Deliver a scheduled message: a translation completion is computed now
 * from the table; a PRG response closes its group (and populates its
 * pages when asked).
 */
static void ev_down(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    fx_t *f = opaque;
    pcie_msg_t *m = &f->down[arg];
    if (m->type == PCIE_MSG_ATS_CPL && f->down_resolve[arg]) {
        const fx_page_t *p;
        if (m->pasid == f->ur_pasid) {
            m->code = PCIE_CPL_UR;
        } else if (page_lookup(f, m->pasid, m->addr, &p)) {
            m->perm = p->perm;
            m->size_shift = p->shift;
            m->xaddr = p->frame + (m->addr - p->va);
        }
    }
    if (m->type == PCIE_MSG_PRG_RESP && m->tag < PCIE_PRG_INDICES &&
        f->outstanding[m->tag]) {
        unsigned i = m->tag;
        f->outstanding[i] = false;
        f->n_out--;
        f->pages_out -= f->out_n[i];
        if (f->down_populate[arg])
            for (unsigned k = 0; k < f->out_n[i]; k++)
                page_set(f, f->out_pasid[i], f->out_va[i][k],
                         PCIE_F_R | PCIE_F_W);
    }
    f->down_busy[arg] = false;
    pcie_dev_send_down(f->dev, m);
}

/*
 * Queue a message for delivery after delay.
 */
static unsigned queue_down(fx_t *f, sim_time_t delay, const pcie_msg_t *m)
{
    unsigned k = f->ndown++ % MAXMSG;
    ck_assert_msg(!f->down_busy[k], "more than %d messages queued down",
                  MAXMSG);
    f->down_busy[k] = true;
    f->down[k] = *m;
    f->down_resolve[k] = false;
    f->down_populate[k] = false;
    ck_assert_uint_ne(sim_schedule(f->sim, delay, ev_down, f, k), 0);
    return k;
}

void send_down_after(fx_t *f, sim_time_t delay, const pcie_msg_t *m)
{
    queue_down(f, delay, m);
}

void respond_ex(fx_t *f, uint16_t prgi, uint8_t code, bool populate,
                sim_time_t delay, uint8_t flags, uint32_t pasid)
{
    pcie_msg_t r = {0};
    r.type = PCIE_MSG_PRG_RESP;
    r.flags = flags;
    r.code = code;
    r.tag = prgi;
    r.pasid = pasid;
    unsigned k = queue_down(f, delay, &r);
    f->down_populate[k] = populate;
}

void respond(fx_t *f, uint16_t prgi, uint8_t code, bool populate,
             sim_time_t delay)
{
    respond_ex(f, prgi, code, populate, delay, PCIE_F_PASID,
               f->out_pasid[prgi % PCIE_PRG_INDICES]);
}

void release_held(fx_t *f, uint8_t code, sim_time_t delay)
{
    for (unsigned i = 0; i < f->nheld; i++) {
        pcie_msg_t c = f->held[i];
        c.code = code;
        queue_down(f, delay, &c);
    }
    f->nheld = 0;
}

/* --------------------------------------------------------- upstream */

/*
 * A page request (or a Stop Marker) arrives.
 */
static void fake_page_req(fx_t *f, const pcie_msg_t *m)
{
    if ((m->flags & PCIE_F_LAST) && !(m->flags & (PCIE_F_R | PCIE_F_W))) {
        f->stop_markers++;
        return;
    }
    unsigned i = m->tag;
    ck_assert_uint_lt(i, PCIE_PRG_INDICES);
    if (f->outstanding[i] && f->out_last[i])
        f->collision = true; /* index reused before its response */
    if (!f->outstanding[i]) {
        f->outstanding[i] = true;
        f->out_n[i] = 0;
        f->out_last[i] = false;
        f->out_pasid[i] = m->pasid;
        f->n_out++;
        if (f->n_out > f->max_out)
            f->max_out = f->n_out;
    }
    ck_assert_uint_lt(f->out_n[i], MAXGROUP);
    f->out_va[i][f->out_n[i]++] = m->addr;
    f->pages_out++;
    if (f->pages_out > f->max_pages_out)
        f->max_pages_out = f->pages_out;
    if (!(m->flags & PCIE_F_LAST))
        return;
    f->out_last[i] = true;
    if (f->auto_prg >= 0) {
        sim_time_t d = f->prg_delay_unit * (1 + (f->prg_seen * 7) % 5);
        respond(f, (uint16_t)i, (uint8_t)f->auto_prg, f->prg_populates, d);
    }
    f->prg_seen++;
}

/*
 * A read request: translated ones always complete; untranslated ones
 * are checked against the table (UR, or held in stall mode, when the
 * page is absent or read-only for... reads need R).
 */
static void fake_mem_rd(fx_t *f, const pcie_msg_t *m)
{
    pcie_msg_t c = *m;
    c.type = PCIE_MSG_MEM_CPL;
    c.flags = 0;
    c.code = PCIE_CPL_SC;
    if (!(m->flags & PCIE_F_XLATED)) {
        const fx_page_t *p;
        if (!page_lookup(f, m->pasid, m->addr, &p) || !(p->perm & PCIE_F_R)) {
            if (f->stall) {
                ck_assert_uint_lt(f->nheld, 64);
                f->held[f->nheld++] = c;
                return;
            }
            c.code = PCIE_CPL_UR;
        }
    }
    queue_down(f, f->mem_delay, &c);
}

/*
 * Everything the device sends up arrives here.
 */
static void fake_up(void *opaque, const pcie_msg_t *m)
{
    fx_t *f = opaque;
    if (!f->no_record) {
        ck_assert_uint_lt(f->nup, MAXMSG);
        f->up[f->nup].t = sim_now(f->sim);
        f->up[f->nup].m = *m;
        f->nup++;
    }
    if (f->on_up)
        f->on_up(f, m);
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
            unsigned k = queue_down(f, f->ats_delay, &c);
            f->down_resolve[k] = true;
        }
        break;
    case PCIE_MSG_MEM_RD:
        if (f->auto_mem)
            fake_mem_rd(f, m);
        break;
    case PCIE_MSG_PAGE_REQ:
        fake_page_req(f, m);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------- lifecycle */

/* The DMA completion callback: record it. */
static void on_done(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                    uint64_t addr, uint64_t len, bool write, bool ok)
{
    (void)dev;
    fx_t *f = opaque;
    if (f->ndone < MAXMSG)
        f->done[f->ndone] =
            (fx_done_t){sim_now(f->sim), pasid, addr, len, write, ok};
    f->ndone++;
    if (ok)
        f->nok++;
    else
        f->nfail++;
}

/*
 * The defaults of the parameter tables (the one place they are written),
 * then the fixture's own choices.
 */
static void cfg_defaults(fx_t *f)
{
    sim_config_t *cfg = sim_config_create(NULL);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(
        sim_config_register(cfg, pcie_dev_params, pcie_dev_nparams, &f->dcfg),
        0);
    ck_assert_int_eq(
        sim_config_register(cfg, pcie_link_params, pcie_link_nparams, &f->lcfg),
        0);
    sim_config_destroy(cfg);
    f->dcfg.tags = 32;
    f->dcfg.atc_entries = 64;
    f->dcfg.atc_ways = 4;
    f->dcfg.pri_capacity = 32;
    f->dcfg.pri_retries = 16;
    f->dcfg.proc = sim_dist_fixed(50 * SIM_NS);
    f->dcfg.inv_proc = sim_dist_fixed(200 * SIM_NS);
    f->lcfg.latency = 100 * SIM_NS;
    f->lcfg.gen = 3;
    f->lcfg.lanes = 8;
    f->lcfg.mps = 256;
    f->lcfg.mrrs = 512;
    f->auto_ats = true;
    f->auto_mem = true;
    f->ats_delay = 500 * SIM_NS;
    f->mem_delay = 100 * SIM_NS;
    f->auto_prg = -1;
    f->prg_populates = true;
    f->prg_delay_unit = 2 * SIM_US;
    f->ur_pasid = UINT32_MAX;
}

fx_t *fx_new(void)
{
    fx_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    cfg_defaults(f);
    return f;
}

void fx_start(fx_t *f, bool with_spans)
{
    sim_log_init(&f->log, SIM_LOG_ERROR, NULL, NULL);
    f->sim = sim_create(&f->log);
    f->st = sim_stats_create();
    ck_assert_ptr_nonnull(f->sim);
    ck_assert_ptr_nonnull(f->st);
    if (with_spans) {
        f->spans = sim_spans_create(f->st, "fault", platform_stage_names,
                                    platform_stage_descs, PLATFORM_STAGE_COUNT);
        ck_assert_ptr_nonnull(f->spans);
    }
    ck_assert_int_eq(pcie_dev_cfg_check(&f->dcfg, NULL, &f->log), 0);
    pcie_dev_port_t port = {.up_rx = fake_up, .up_opaque = f};
    f->dev = pcie_dev_create(f->sim, f->st, 0, (uint16_t)f->dcfg.rid_base,
                             &f->dcfg, &f->lcfg, &port, f->spans, 1);
    ck_assert_ptr_nonnull(f->dev);
    ck_assert_uint_eq(pcie_dev_rid(f->dev), f->dcfg.rid_base);
    pcie_dev_set_dma_done(f->dev, on_done, f);
}

void fx_free(fx_t *f)
{
    pcie_dev_destroy(f->dev);
    sim_spans_destroy(f->spans);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

/* ------------------------------------------------------------ queries */

uint64_t ctr(fx_t *f, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(f->st, name);
    ck_assert_msg(c != NULL, "no counter %s", name);
    return c->value;
}

sim_hist_t *hist(fx_t *f, const char *name)
{
    sim_hist_t *h = sim_stats_find_hist(f->st, name);
    ck_assert_msg(h != NULL, "no histogram %s", name);
    return h;
}

unsigned count_up(const fx_t *f, unsigned type)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->nup; i++)
        n += f->up[i].m.type == type;
    return n;
}

const upmsg_t *nth_up(const fx_t *f, unsigned type, unsigned k)
{
    for (unsigned i = 0; i < f->nup; i++)
        if (f->up[i].m.type == type && k-- == 0)
            return &f->up[i];
    return NULL;
}

void dma_pasid(fx_t *f, uint32_t pasid, uint64_t va, uint64_t len, bool write)
{
    ck_assert_int_eq(pcie_dev_dma(f->dev, pasid, va, len, write), 0);
}

void dma(fx_t *f, uint64_t va, uint64_t len, bool write)
{
    dma_pasid(f, PASID, va, len, write);
}

void run(fx_t *f)
{
    sim_run(f->sim, SIM_TIME_MAX);
}

sim_time_t ser(const fx_t *f, unsigned type, uint8_t flags, uint32_t len)
{
    pcie_msg_t m = {0};
    m.type = (uint8_t)type;
    m.flags = flags;
    m.len = len;
    return pcie_link_serial_time(&f->lcfg, pcie_msg_wire_bytes(&f->lcfg, &m));
}

sim_time_t hop(const fx_t *f, unsigned type, uint8_t flags, uint32_t len)
{
    return ser(f, type, flags, len) + f->lcfg.latency;
}

sim_time_t proc(const fx_t *f)
{
    ck_assert_int_eq(f->dcfg.proc.kind, SIM_DIST_FIXED);
    return (sim_time_t)sim_dist_mean(&f->dcfg.proc);
}

void fx_on_stop(void *opaque, pcie_dev_t *dev, uint32_t pasid)
{
    (void)dev;
    fx_t *f = opaque;
    f->stops_done++;
    f->t_stop_done = sim_now(f->sim);
    f->stop_done_pasid = pasid;
}

/* A DMA planned by dma_at. */
static void ev_dma(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    fx_t *f = opaque;
    dma_pasid(f, f->later[arg].pasid, f->later[arg].va, f->later[arg].len,
              f->later[arg].write);
}

void dma_at(fx_t *f, sim_time_t t, uint32_t pasid, uint64_t va, uint64_t len,
            bool write)
{
    ck_assert_uint_lt(f->nlater, 64);
    unsigned k = f->nlater++;
    f->later[k].pasid = pasid;
    f->later[k].va = va;
    f->later[k].len = len;
    f->later[k].write = write;
    ck_assert_uint_ne(sim_schedule_at(f->sim, t, ev_dma, f, k), 0);
}
