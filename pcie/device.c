/*
 * device.c - a PCIe endpoint with ATS (a device ATC) and PRI.
 *
 * A DMA is handled page by page. For each page the device looks up its ATC;
 * on a miss it sends a Translation Request. A completion that grants the
 * access fills the ATC and the data moves with translated requests. A
 * completion with R=W=0 (or without the needed permission) makes a
 * PRI-capable device send a Page Request (one page, L=1) within its
 * outstanding allocation, wait for the PRG Response, then act on its code:
 *   Success          -> re-issue the Translation Request (PCIe 10.4.2.1;
 *                       riscv-iommu issue #199: it may fault again)
 *   Invalid Request  -> the access fails, no retry
 *   Response Failure -> PRI is disabled on the function; the access fails
 *                       and later faulting accesses fail too
 * (shared/reference/fault-path-semantics.md section 1b). The outstanding
 * page request count is per page request message (section 1c item 13).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/pcie.h"

const sim_param_t pcie_dev_params[] = {
    {"device", "count", SIM_PARAM_UINT, "1", 1, 256, "devices",
     "number of identical endpoint devices", NULL,
     offsetof(pcie_dev_cfg_t, count)},
    {"device", "rid_base", SIM_PARAM_UINT, "0x100", 0, 0xff00, "",
     "requester id of device 0; device i has rid_base + i", NULL,
     offsetof(pcie_dev_cfg_t, rid_base)},
    {"device", "tags", SIM_PARAM_UINT, "32", 1, 4096, "DMAs",
     "DMAs a device keeps in flight at once; later ones queue", NULL,
     offsetof(pcie_dev_cfg_t, tags)},
    {"device", "pri", SIM_PARAM_BOOL, "true", 0, 0, "",
     "the device has a Page Request Interface", NULL,
     offsetof(pcie_dev_cfg_t, pri)},
    {"device", "atc_entries", SIM_PARAM_UINT, "64", 0, 1u << 20, "entries",
     "device ATC entries (4 KiB translations); 0 disables caching", NULL,
     offsetof(pcie_dev_cfg_t, atc_entries)},
    {"device", "atc_ways", SIM_PARAM_UINT, "4", 1, 64, "ways",
     "device ATC associativity (must divide atc_entries)", NULL,
     offsetof(pcie_dev_cfg_t, atc_ways)},
    {"device", "pri_capacity", SIM_PARAM_UINT, "32", 1, 1u << 16, "requests",
     "outstanding page request allocation (PCIe 10.5.2; Linux granted 32 "
     "before 2022)", NULL, offsetof(pcie_dev_cfg_t, pri_capacity)},
    {"device", "pri_retries", SIM_PARAM_UINT, "16", 0, 1u << 20, "retries",
     "Success responses whose retry faults again before the DMA is failed",
     NULL, offsetof(pcie_dev_cfg_t, pri_retries)},
    {"device", "proc", SIM_PARAM_DIST, "50", 0, 0, "ns",
     "ATC lookup and building a translation or page request "
     "(latency-calibration 3.1, [I])",
     NULL, offsetof(pcie_dev_cfg_t, proc)},
};
const unsigned pcie_dev_nparams =
    sizeof(pcie_dev_params) / sizeof(pcie_dev_params[0]);

const char *const pcie_stage_names[PCIE_STAGE_COUNT] = {
    "ats_fault", "page_req", "host_irq", "host_fault",
    "response",  "retry",    "data",
};
const char *const pcie_stage_descs[PCIE_STAGE_COUNT] = {
    "device translation request until the completion denying access",
    "device builds the page request until it is written in the PRQ",
    "PRQ write, interrupt and host handler until the request is reported",
    "host fault handling (queueing, mm fix-up) until the response is queued",
    "page response through the IOMMU and the link to the device",
    "device re-issues the translation request until its completion",
    "data transfer of the faulting page until the DMA part completes",
};

enum job_state {
    JOB_QUEUED = 0,
    JOB_LOOKUP,    /* ATC lookup / building a request */
    JOB_XLATE,     /* waiting for a translation completion */
    JOB_PRI_WAIT,  /* waiting for page request capacity */
    JOB_PRI,       /* page request sent, waiting for the response */
    JOB_DATA,      /* data in flight */
};

typedef struct dma_job {
    struct dma_job *next; /* tag queue or capacity queue */
    uint64_t addr, len, off;
    uint64_t xpage;       /* translated page of the current page */
    uint64_t chunk;       /* bytes of the current page being moved */
    sim_time_t t_page;    /* when the current page's translation started */
    sim_time_t t_wait;    /* when it began waiting for PRI capacity */
    sim_span_t *span;     /* fault being tracked for the current page */
    uint32_t pasid;
    uint32_t outstanding; /* read completions pending */
    uint16_t prgi;
    uint16_t retries;     /* re-faults of the current page after Success */
    uint8_t state;
    bool write;
    bool asked;           /* a page request was sent for the current page */
} dma_job_t;

typedef struct atc_entry {
    uint64_t vpn;   /* untranslated page number */
    uint64_t xpage; /* translated page address */
    uint32_t pasid;
    uint32_t lru;
    uint8_t perm;
    bool valid;
} atc_entry_t;

struct pcie_dev {
    sim_t *sim;
    pcie_dev_cfg_t cfg;
    unsigned index;
    uint16_t rid;
    pcie_link_t *link;
    unsigned mrrs;
    sim_spans_t *spans;
    sim_rng_t rng;
    sim_pool_t jobs;

    unsigned tags_busy;
    dma_job_t *q_head, *q_tail;     /* DMAs waiting for a tag */
    dma_job_t *cap_head, *cap_tail; /* jobs waiting for PRI capacity */
    uint64_t queued;

    /* PRI */
    bool pri_enabled;
    unsigned pri_outstanding; /* page requests awaiting a response */
    dma_job_t *prg[PCIE_PRG_INDICES];
    uint16_t prg_free[PCIE_PRG_INDICES];
    unsigned prg_nfree;

    /* ATC */
    atc_entry_t *atc;
    unsigned atc_sets;
    uint32_t atc_clock;

    pcie_dev_totals_t tot;
    struct {
        sim_counter_t *dmas, *dmas_done, *dmas_failed, *bytes;
        sim_counter_t *atc_hits, *atc_misses, *atc_inval;
        sim_counter_t *xlate_reqs, *page_reqs, *resp_success, *resp_invalid,
            *resp_failure, *uprgi, *retries_exhausted, *no_pri_faults,
            *cpl_errors;
        sim_hist_t *dma_latency, *cap_wait;
        sim_gauge_t *inflight, *pri_outstanding;
    } s;
};

/* ------------------------------------------------------------------ ATC */

static atc_entry_t *atc_set_of(pcie_dev_t *d, uint32_t pasid, uint64_t vpn)
{
    uint64_t h = (vpn ^ ((uint64_t)pasid << 45)) * 0x9e3779b97f4a7c15ull;
    return &d->atc[(size_t)((h >> 32) % d->atc_sets) * d->cfg.atc_ways];
}

static atc_entry_t *atc_lookup(pcie_dev_t *d, uint32_t pasid, uint64_t vpn)
{
    if (!d->atc)
        return NULL;
    atc_entry_t *set = atc_set_of(d, pasid, vpn);
    for (unsigned w = 0; w < d->cfg.atc_ways; w++) {
        if (set[w].valid && set[w].vpn == vpn && set[w].pasid == pasid) {
            set[w].lru = ++d->atc_clock;
            return &set[w];
        }
    }
    return NULL;
}

static void atc_insert(pcie_dev_t *d, uint32_t pasid, uint64_t vpn,
                       uint64_t xpage, uint8_t perm)
{
    if (!d->atc)
        return;
    atc_entry_t *set = atc_set_of(d, pasid, vpn);
    atc_entry_t *victim = &set[0];
    for (unsigned w = 0; w < d->cfg.atc_ways; w++) {
        if (!set[w].valid || (set[w].vpn == vpn && set[w].pasid == pasid)) {
            victim = &set[w];
            break;
        }
        if (set[w].lru < victim->lru)
            victim = &set[w];
    }
    victim->vpn = vpn;
    victim->pasid = pasid;
    victim->xpage = xpage;
    victim->perm = perm;
    victim->valid = true;
    victim->lru = ++d->atc_clock;
}

/* Drop every entry of `pasid` overlapping [addr, addr+len); len 0 = all. */
static void atc_invalidate(pcie_dev_t *d, uint32_t pasid, uint64_t addr,
                           uint64_t len)
{
    if (!d->atc)
        return;
    size_t n = (size_t)d->atc_sets * d->cfg.atc_ways;
    uint64_t first = addr >> PCIE_PAGE_SHIFT;
    uint64_t last = len ? (addr + len - 1) >> PCIE_PAGE_SHIFT : UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        atc_entry_t *e = &d->atc[i];
        if (e->valid && e->pasid == pasid &&
            (len == 0 || (e->vpn >= first && e->vpn <= last))) {
            e->valid = false;
            d->s.atc_inval->value++;
        }
    }
}

/* ------------------------------------------------------------ DMA flow */

static void job_start_page(pcie_dev_t *d, dma_job_t *j);
static void dev_start_next(pcie_dev_t *d);

static uint8_t job_need(const dma_job_t *j)
{
    return j->write ? PCIE_F_W : PCIE_F_R;
}

static void send_up(pcie_dev_t *d, pcie_msg_t *m)
{
    m->rid = d->rid;
    pcie_link_send(d->link, PCIE_UP, m);
}

/* The DMA ends (ok or failed): free its tag and start the next one. */
static void job_finish(pcie_dev_t *d, dma_job_t *j, bool ok)
{
    sim_time_t now = sim_now(d->sim);
    if (j->span) {
        sim_span_close(d->spans, j->span, now, ok);
        j->span = NULL;
    }
    if (ok) {
        d->tot.dmas_done++;
        d->s.dmas_done->value++;
    } else {
        d->tot.dmas_failed++;
        d->s.dmas_failed->value++;
    }
    d->tags_busy--;
    d->tot.in_flight--;
    sim_gauge_set(d->s.inflight, now, (double)d->tags_busy);
    sim_pool_put(&d->jobs, j);
    dev_start_next(d);
}

/* The current page's bytes are done. */
static void job_chunk_done(pcie_dev_t *d, dma_job_t *j)
{
    sim_time_t now = sim_now(d->sim);
    d->s.bytes->value += j->chunk;
    j->off += j->chunk;
    if (j->span) {
        sim_span_close(d->spans, j->span, now, true);
        j->span = NULL;
    }
    if (j->off >= j->len)
        job_finish(d, j, true);
    else
        job_start_page(d, j);
}

/* Move the current page's bytes with translated requests. */
static void job_data(pcie_dev_t *d, dma_job_t *j)
{
    uint64_t va = j->addr + j->off;
    uint64_t in_page = va & (PCIE_PAGE_SIZE - 1);
    uint64_t chunk = PCIE_PAGE_SIZE - in_page;
    if (chunk > j->len - j->off)
        chunk = j->len - j->off;
    j->chunk = chunk;
    j->state = JOB_DATA;
    if (j->span)
        sim_span_mark(j->span, PCIE_STAGE_RETRY, sim_now(d->sim));

    pcie_msg_t m = {0};
    m.flags = PCIE_F_XLATED;
    m.cookie = j;
    uint64_t pa = j->xpage + in_page;
    if (j->write) {
        /* Posted: the device is done with a write once it is sent. */
        m.type = PCIE_MSG_MEM_WR;
        m.addr = pa;
        m.len = (uint32_t)chunk;
        send_up(d, &m);
        job_chunk_done(d, j);
        return;
    }
    unsigned mrrs = d->mrrs;
    j->outstanding = 0;
    for (uint64_t done = 0; done < chunk;) {
        uint64_t n = chunk - done;
        if (n > mrrs)
            n = mrrs;
        m.type = PCIE_MSG_MEM_RD;
        m.addr = pa + done;
        m.len = (uint32_t)n;
        j->outstanding++;
        send_up(d, &m);
        done += n;
    }
}

/* After the device's processing delay: ATC lookup, then data or a
 * Translation Request. */
static void ev_lookup(sim_t *sim, void *opaque, uint64_t arg)
{
    pcie_dev_t *d = opaque;
    dma_job_t *j = (dma_job_t *)(uintptr_t)arg;
    uint64_t va = j->addr + j->off;
    uint64_t vpn = va >> PCIE_PAGE_SHIFT;
    atc_entry_t *e = atc_lookup(d, j->pasid, vpn);
    if (e && (e->perm & job_need(j))) {
        d->tot.atc_hits++;
        d->s.atc_hits->value++;
        j->xpage = e->xpage;
        job_data(d, j);
        return;
    }
    d->tot.atc_misses++;
    d->s.atc_misses->value++;
    j->state = JOB_XLATE;
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_ATS_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_R | (j->write ? PCIE_F_W : PCIE_F_NW);
    m.pasid = j->pasid;
    m.addr = vpn << PCIE_PAGE_SHIFT;
    m.cookie = j;
    m.span = j->span;
    d->s.xlate_reqs->value++;
    send_up(d, &m);
}

static void job_start_page(pcie_dev_t *d, dma_job_t *j)
{
    j->state = JOB_LOOKUP;
    j->t_page = sim_now(d->sim);
    j->retries = 0;
    j->asked = false;
    sim_schedule(d->sim, sim_dist_draw(&d->cfg.proc, &d->rng), ev_lookup, d,
                 (uint64_t)(uintptr_t)j);
}

static void dev_start_next(pcie_dev_t *d)
{
    while (d->tags_busy < d->cfg.tags && d->q_head) {
        dma_job_t *j = d->q_head;
        d->q_head = j->next;
        if (!d->q_head)
            d->q_tail = NULL;
        j->next = NULL;
        d->queued--;
        d->tags_busy++;
        sim_gauge_set(d->s.inflight, sim_now(d->sim), (double)d->tags_busy);
        job_start_page(d, j);
    }
}

int pcie_dev_dma(pcie_dev_t *d, uint32_t pasid, uint64_t addr, uint64_t len,
                 bool write)
{
    dma_job_t *j = sim_pool_get(&d->jobs);
    if (!j)
        return -ENOMEM;
    j->pasid = pasid;
    j->addr = addr;
    j->len = len;
    j->write = write;
    j->state = JOB_QUEUED;
    d->tot.dmas_started++;
    d->tot.in_flight++;
    d->s.dmas->value++;
    if (d->q_tail)
        d->q_tail->next = j;
    else
        d->q_head = j;
    d->q_tail = j;
    d->queued++;
    dev_start_next(d);
    return 0;
}

/* ------------------------------------------------------------------ PRI */

static void ev_send_page_req(sim_t *sim, void *opaque, uint64_t arg)
{
    pcie_dev_t *d = opaque;
    dma_job_t *j = (dma_job_t *)(uintptr_t)arg;
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_PAGE_REQ;
    m.flags = PCIE_F_PASID | PCIE_F_LAST | job_need(j);
    m.pasid = j->pasid;
    m.addr = (j->addr + j->off) & ~(PCIE_PAGE_SIZE - 1);
    m.tag = j->prgi;
    m.cookie = j;
    m.span = j->span;
    d->tot.page_requests++;
    d->s.page_reqs->value++;
    send_up(d, &m);
}

/* Take a PRG index and one unit of the outstanding allocation, then send. */
static void pri_issue(pcie_dev_t *d, dma_job_t *j)
{
    j->asked = true;
    j->prgi = d->prg_free[--d->prg_nfree];
    d->prg[j->prgi] = j;
    d->pri_outstanding++;
    sim_gauge_set(d->s.pri_outstanding, sim_now(d->sim),
                  (double)d->pri_outstanding);
    j->state = JOB_PRI;
    sim_schedule(d->sim, sim_dist_draw(&d->cfg.proc, &d->rng),
                 ev_send_page_req, d, (uint64_t)(uintptr_t)j);
}

static bool pri_has_room(const pcie_dev_t *d)
{
    return d->pri_outstanding < d->cfg.pri_capacity && d->prg_nfree > 0;
}

/* Start page requests for jobs waiting for capacity, in order. */
static void pri_wake(pcie_dev_t *d)
{
    while (d->cap_head && pri_has_room(d)) {
        dma_job_t *j = d->cap_head;
        d->cap_head = j->next;
        if (!d->cap_head)
            d->cap_tail = NULL;
        j->next = NULL;
        sim_hist_add(d->s.cap_wait, sim_now(d->sim) - j->t_wait);
        pri_issue(d, j);
    }
}

/* The translation for the current page was refused: ask for the page. */
static void job_fault(pcie_dev_t *d, dma_job_t *j)
{
    sim_time_t now = sim_now(d->sim);
    if (!d->cfg.pri || !d->pri_enabled) {
        d->s.no_pri_faults->value++;
        job_finish(d, j, false);
        return;
    }
    if (j->asked) {
        /* A Success response whose retry faulted again. */
        if (j->retries >= d->cfg.pri_retries) {
            d->s.retries_exhausted->value++;
            job_finish(d, j, false);
            return;
        }
        j->retries++;
    } else if (d->spans && !j->span) {
        j->span = sim_span_open(d->spans, j->t_page);
    }
    sim_span_mark(j->span, PCIE_STAGE_ATS_FAULT, now);
    if (pri_has_room(d) && !d->cap_head) {
        pri_issue(d, j);
        return;
    }
    j->state = JOB_PRI_WAIT;
    j->t_wait = now;
    if (d->cap_tail)
        d->cap_tail->next = j;
    else
        d->cap_head = j;
    d->cap_tail = j;
}

static void rx_ats_cpl(pcie_dev_t *d, const pcie_msg_t *m)
{
    dma_job_t *j = m->cookie;
    uint64_t vpn = (j->addr + j->off) >> PCIE_PAGE_SHIFT;
    if (m->code != PCIE_CPL_SC) {
        d->s.cpl_errors->value++;
        job_finish(d, j, false);
        return;
    }
    if (m->perm & job_need(j)) {
        j->xpage = m->xaddr & ~(PCIE_PAGE_SIZE - 1);
        atc_insert(d, j->pasid, vpn, j->xpage, m->perm);
        job_data(d, j);
        return;
    }
    job_fault(d, j);
}

static void rx_prg_resp(pcie_dev_t *d, const pcie_msg_t *m)
{
    sim_time_t now = sim_now(d->sim);
    unsigned prgi = m->tag % PCIE_PRG_INDICES;
    dma_job_t *j = d->prg[prgi];
    d->tot.prg_responses++;
    if (!j || j->state != JOB_PRI) {
        /* PCIe PRI Status UPRGI: a response for an index not outstanding
         * is ignored (fault-path-semantics 1b item 11). */
        d->s.uprgi->value++;
        return;
    }
    d->prg[prgi] = NULL;
    d->prg_free[d->prg_nfree++] = (uint16_t)prgi;
    d->pri_outstanding--;
    sim_gauge_set(d->s.pri_outstanding, now, (double)d->pri_outstanding);
    sim_span_mark(j->span, PCIE_STAGE_RESPONSE, now);
    if (m->code == PCIE_PRG_SUCCESS) {
        d->s.resp_success->value++;
        /* Re-issue the translation request for the page. */
        j->state = JOB_LOOKUP;
        sim_schedule(d->sim, sim_dist_draw(&d->cfg.proc, &d->rng), ev_lookup,
                     d, (uint64_t)(uintptr_t)j);
    } else if (m->code == PCIE_PRG_INVALID) {
        d->s.resp_invalid->value++;
        job_finish(d, j, false);
    } else {
        /* Response Failure, or an unused code treated as one. */
        d->s.resp_failure->value++;
        d->pri_enabled = false;
        job_finish(d, j, false);
    }
    pri_wake(d);
}

static void rx_inv_req(pcie_dev_t *d, const pcie_msg_t *m)
{
    atc_invalidate(d, m->pasid, m->addr, m->len);
    pcie_msg_t c = {0};
    c.type = PCIE_MSG_INV_CPL;
    c.tag = m->tag;
    c.pasid = m->pasid;
    c.flags = m->flags & PCIE_F_PASID;
    c.cookie = m->cookie;
    send_up(d, &c);
}

/* Messages arriving at the device from its link. */
static void dev_rx(void *opaque, const pcie_msg_t *m)
{
    pcie_dev_t *d = opaque;
    switch (m->type) {
    case PCIE_MSG_ATS_CPL:
        rx_ats_cpl(d, m);
        break;
    case PCIE_MSG_MEM_CPL: {
        dma_job_t *j = m->cookie;
        if (--j->outstanding == 0)
            job_chunk_done(d, j);
        break;
    }
    case PCIE_MSG_PRG_RESP:
        rx_prg_resp(d, m);
        break;
    case PCIE_MSG_INV_REQ:
        rx_inv_req(d, m);
        break;
    default:
        sim_logf(sim_log(d->sim), SIM_LOG_WARN,
                 "device%u: unexpected %s message ignored", d->index,
                 pcie_msg_name(m->type));
        break;
    }
}

void pcie_dev_send_down(pcie_dev_t *d, const pcie_msg_t *msg)
{
    pcie_link_send(d->link, PCIE_DOWN, msg);
}

/* ------------------------------------------------------------ lifecycle */

static int dev_stats(pcie_dev_t *d, sim_stats_t *st)
{
    char p[64], n[128];
    snprintf(p, sizeof(p), "device%u", d->index);
#define C(field, suffix, desc, unit)                                           \
    do {                                                                       \
        snprintf(n, sizeof(n), "%s.%s", p, suffix);                            \
        if (!(d->s.field = sim_stats_counter(st, n, desc, unit)))              \
            return -ENOMEM;                                                    \
    } while (0)
    C(dmas, "dmas", "DMAs issued by the trace", "DMAs");
    C(dmas_done, "dmas_done", "DMAs completed", "DMAs");
    C(dmas_failed, "dmas_failed", "DMAs that failed (fault not recovered)",
      "DMAs");
    C(bytes, "bytes", "bytes moved by completed DMA parts", "bytes");
    C(atc_hits, "atc.hits", "ATC lookups that hit", "lookups");
    C(atc_misses, "atc.misses", "ATC lookups that missed", "lookups");
    C(atc_inval, "atc.invalidated", "ATC entries invalidated", "entries");
    C(xlate_reqs, "ats.requests", "ATS translation requests sent",
      "requests");
    C(page_reqs, "pri.page_requests", "PRI page requests sent", "requests");
    C(resp_success, "pri.resp_success", "PRG responses with Success",
      "responses");
    C(resp_invalid, "pri.resp_invalid", "PRG responses with Invalid Request",
      "responses");
    C(resp_failure, "pri.resp_failure",
      "PRG responses with Response Failure (PRI disabled)", "responses");
    C(uprgi, "pri.uprgi", "responses for a PRG index not outstanding",
      "responses");
    C(retries_exhausted, "pri.retries_exhausted",
      "DMAs failed after pri_retries re-faults", "DMAs");
    C(no_pri_faults, "faults_without_pri",
      "translation faults with PRI absent or disabled", "faults");
    C(cpl_errors, "ats.cpl_errors", "translation completions with UR/CA",
      "completions");
#undef C
    snprintf(n, sizeof(n), "%s.pri.capacity_wait", p);
    d->s.cap_wait = sim_stats_hist(
        st, n, "time a fault waited for page request allocation", "ps");
    snprintf(n, sizeof(n), "%s.tags_busy", p);
    d->s.inflight = sim_stats_gauge(st, n, "DMA tags in use", "tags");
    snprintf(n, sizeof(n), "%s.pri.outstanding", p);
    d->s.pri_outstanding =
        sim_stats_gauge(st, n, "page requests awaiting a response", "requests");
    if (!d->s.cap_wait || !d->s.inflight || !d->s.pri_outstanding)
        return -ENOMEM;
    return 0;
}

pcie_dev_t *pcie_dev_create(sim_t *sim, sim_stats_t *st, unsigned index,
                            const pcie_dev_cfg_t *cfg,
                            const pcie_link_cfg_t *link_cfg,
                            const pcie_dev_port_t *port, sim_spans_t *spans,
                            uint64_t seed)
{
    pcie_dev_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->sim = sim;
    d->cfg = *cfg;
    d->index = index;
    d->rid = (uint16_t)(cfg->rid_base + index);
    d->spans = spans;
    d->mrrs = link_cfg->mrrs;
    d->pri_enabled = cfg->pri;
    char name[64];
    snprintf(name, sizeof(name), "device%u", index);
    sim_rng_seed(&d->rng, seed, name);
    sim_pool_init(&d->jobs, sizeof(dma_job_t), 256);
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++)
        d->prg_free[i] = (uint16_t)(PCIE_PRG_INDICES - 1 - i);
    d->prg_nfree = PCIE_PRG_INDICES;
    if (cfg->atc_entries) {
        unsigned ways = cfg->atc_ways ? cfg->atc_ways : 1;
        if (ways > cfg->atc_entries)
            ways = cfg->atc_entries;
        d->cfg.atc_ways = ways;
        d->atc_sets = cfg->atc_entries / ways;
        d->atc = calloc((size_t)d->atc_sets * ways, sizeof(atc_entry_t));
        if (!d->atc)
            goto fail;
    }
    snprintf(name, sizeof(name), "link%u", index);
    d->link = pcie_link_create(sim, st, name, link_cfg, port->up_rx,
                               port->up_opaque, dev_rx, d);
    if (!d->link || dev_stats(d, st))
        goto fail;
    return d;
fail:
    pcie_dev_destroy(d);
    return NULL;
}

void pcie_dev_destroy(pcie_dev_t *d)
{
    if (!d)
        return;
    pcie_link_destroy(d->link);
    sim_pool_fini(&d->jobs);
    free(d->atc);
    free(d);
}

uint16_t pcie_dev_rid(const pcie_dev_t *d)
{
    return d->rid;
}

void pcie_dev_totals(const pcie_dev_t *d, pcie_dev_totals_t *out)
{
    *out = d->tot;
}
