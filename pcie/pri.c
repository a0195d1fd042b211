/*
 * pri.c - the device side of the PCIe Page Request Interface.
 *
 * The rules, with the section of the PCIe Base Specification (r4.0
 * numbering) each one comes from:
 *  - 10.2.3 / 10.4: a Translation Completion granting neither R nor W (or
 *    not the permission needed) means "not present" and makes a
 *    PRI-capable function ask for the page (riscv-non-isa/riscv-iommu
 *    issues #303 and #405 on the completion encoding);
 *  - 10.4.1 Page Request Message: one fault sends one page request group:
 *    one Page Request per page (the faulting page and, with
 *    device.fault_ahead > 1, the next pages of the same DMA), one 9-bit PRG
 *    index, L=1 on the last request only;
 *  - 10.5.2 Outstanding Page Request Capacity / Allocation: the function
 *    may have min(capacity, allocation) page request messages outstanding
 *    (Linux drivers/pci/ats.c: pci_enable_pri writes that allocation),
 *    counted per message, not per group; a request stays outstanding until
 *    its group's response; a fault that finds the allocation used up
 *    waits, in order;
 *  - a PRG index is reused only after its group's response; free indices
 *    are handed out oldest first, so that a late response (after a device
 *    timeout) is unlikely to meet a reused index;
 *  - 10.4.2.1 Response Code: the PRG Response code decides:
 *      Success          -> re-issue the Translation Request (which may
 *                          fault again: riscv-non-isa/riscv-iommu issue
 *                          #199; bounded here by pri_retries)
 *      Invalid Request  -> the access fails, no retry
 *      Response Failure -> PRI is disabled on the function (codes 2..14
 *                          too): the access and every DMA waiting on PRI
 *                          fail, later faults fail, responses are ignored,
 *                          until PRI is reset and enabled again
 *                          (pcie_pri_reset);
 *  - 10.5.2.3 Page Request Status: a response for an index not
 *    outstanding sets UPRGI and is ignored; with "PRG Response PASID
 *    Required" set a response must carry the PASID of its group, else the
 *    device cannot match it;
 *  - 10.4.1.2 Stop Marker: a PASID stop sends a Stop Marker instead of
 *    waiting for responses (stop.c).
 * PCIe defines no device-side response timeout; device.pri_timeout is a
 * device choice [I].
 */
#include "pcie/pri.h"

#include <string.h>

/* --------------------------------------------------------------- setup */

/*
 * Set up PRI from the device configuration.
 */
void pcie_pri_init(pcie_pri_t *p, pcie_dev_env_t *env, pcie_atc_t *atc,
                   const pcie_dev_cfg_t *cfg, const pcie_pri_port_t *port)
{
    p->env = env;
    p->atc = atc;
    p->port = *port;
    p->capable = cfg->pri;
    p->ats = cfg->ats;
    p->pasid_required = cfg->prg_pasid_required;
    p->enabled = cfg->pri && cfg->ats;
    p->limit =
        cfg->pri_capacity < cfg->pri_alloc ? cfg->pri_capacity : cfg->pri_alloc;
    if (!p->limit)
        p->limit = 1;
    p->retries_max = cfg->pri_retries;
    p->fault_ahead = cfg->fault_ahead ? cfg->fault_ahead : 1;
    p->timeout = cfg->pri_timeout;
    p->reset_delay = cfg->pri_reset_delay;
    p->st_ats_fault = sim_spans_stage(env->spans, "ats_fault");
    p->st_retry = sim_spans_stage(env->spans, "retry");
    p->st_response = sim_spans_stage(env->spans, "response");
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++)
        p->prg_free[i] = (uint16_t)i;
    p->prg_nfree = PCIE_PRG_INDICES;
}

/* ------------------------------------------------------ PRG index pool */

/*
 * Take the oldest free PRG index.
 */
static uint16_t prg_take(pcie_pri_t *p)
{
    uint16_t i = p->prg_free[p->prg_free_head];
    p->prg_free_head = (p->prg_free_head + 1) % PCIE_PRG_INDICES;
    p->prg_nfree--;
    return i;
}

/*
 * Free a group: its index goes to the back of the free list, its pages
 * leave the outstanding allocation, its timer is cancelled.
 */
static void prg_release(pcie_pri_t *p, unsigned prgi)
{
    pcie_prg_t *g = &p->prg[prgi];
    if (g->timer)
        sim_cancel(p->env->sim, g->timer);
    p->outstanding -= g->npages;
    sim_gauge_set(p->s.outstanding, sim_now(p->env->sim),
                  (double)p->outstanding);
    memset(g, 0, sizeof(*g));
    p->prg_free[(p->prg_free_head + p->prg_nfree) % PCIE_PRG_INDICES] =
        (uint16_t)prgi;
    p->prg_nfree++;
}

/*
 * Whether a group of n page requests may be sent now.
 */
static inline bool pri_has_room(const pcie_pri_t *p, unsigned n)
{
    return p->outstanding + n <= p->limit && p->prg_nfree > 0;
}

/* ------------------------------------------------------------- groups */

static void ev_prg_timeout(sim_t *sim, void *opaque, uint64_t arg);

/*
 * Send the job's page request group: one index, `want` units of the
 * allocation, one Page Request per page from the current one, L=1 on the
 * last (PCIe r4.0 10.4.1), all built in one processing delay.
 */
static void pri_issue(pcie_pri_t *p, pcie_job_t *j)
{
    pcie_dev_env_t *env = p->env;
    uint16_t prgi = prg_take(p);
    pcie_prg_t *g = &p->prg[prgi];
    unsigned n = j->want;
    g->job = j;
    g->pasid = j->pasid;
    g->npages = (uint16_t)n;
    g->busy = true;
    p->outstanding += n;
    sim_time_t now = sim_now(env->sim);
    sim_gauge_set(p->s.outstanding, now, (double)p->outstanding);
    j->prgi = prgi;
    j->asked = true;
    j->state = PCIE_JOB_PRI;
    sim_time_t ts = sim_time_add(now, pcie_env_proc(env));
    uint64_t page = (j->addr + j->off) & ~(PCIE_PAGE_SIZE - 1);
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_PAGE_REQ;
    m.pasid = j->pasid;
    m.tag = prgi;
    m.span = j->span;
    for (unsigned i = 0; i < n; i++) {
        m.flags =
            PCIE_F_PASID | pcie_job_need(j) | (i + 1 == n ? PCIE_F_LAST : 0);
        m.addr = page + (uint64_t)i * PCIE_PAGE_SIZE;
        pcie_env_send_up(env, &m, ts);
    }
    p->s.page_reqs->value += n;
    p->s.groups->value++;
    if (p->timeout)
        g->timer = sim_schedule_at(env->sim, sim_time_add(ts, p->timeout),
                                   ev_prg_timeout, p, prgi);
}

/*
 * Send the groups of jobs waiting for allocation, in order (the head
 * blocks the others).
 */
void pcie_pri_wake(pcie_pri_t *p)
{
    while (p->wait_head && p->enabled && pri_has_room(p, p->wait_head->want)) {
        pcie_job_t *j = p->wait_head;
        p->wait_head = j->next;
        if (!p->wait_head)
            p->wait_tail = NULL;
        j->next = NULL;
        sim_hist_add(p->s.cap_wait, sim_now(p->env->sim) - j->t_wait);
        pri_issue(p, j);
    }
}

/*
 * Pages the job's next group asks for: the current page and, with
 * fault_ahead > 1, the following pages of the same DMA up to the first one
 * the ATC already holds; never more than the allocation.
 */
static unsigned group_pages(pcie_pri_t *p, const pcie_job_t *j)
{
    uint64_t va = (j->addr + j->off) & ~(PCIE_PAGE_SIZE - 1);
    uint64_t last = (j->addr + j->len - 1) & ~(PCIE_PAGE_SIZE - 1);
    unsigned n = 1;
    while (n < p->fault_ahead && va + n * PCIE_PAGE_SIZE <= last &&
           !(pcie_atc_any(p->atc) &&
             pcie_atc_lookup(p->atc, j->pasid, va + n * PCIE_PAGE_SIZE,
                             pcie_job_need(j), false)))
        n++;
    if (n > p->limit)
        n = (unsigned)p->limit;
    return n;
}

/*
 * The translation of the current page was refused: ask for the page(s)
 * with PRI, or report that PRI cannot help.
 */
bool pcie_pri_fault(pcie_pri_t *p, pcie_job_t *j)
{
    pcie_dev_env_t *env = p->env;
    sim_time_t now = sim_now(env->sim);
    if (!p->capable || !p->enabled) {
        p->s.no_pri_faults->value++;
        return false;
    }
    if (j->asked) {
        /* A Success response whose retry faulted again (PCIe r4.0
         * 10.4.2.1: Success only makes the device re-issue its request). */
        if (j->retries >= p->retries_max) {
            p->s.retries_exhausted->value++;
            return false;
        }
        j->retries++;
        /* Each round trip is a fault of its own: the first ends here, at
         * its retry's refusal, and the next starts with that retry. After
         * software's Success that is the next fault of a nested one (the
         * guest fixed stage 1, the host's stage 2 faults): the first was
         * resolved. After a hardware auto-response (VT-d 7.4.1) nothing
         * was resolved: the span says so (sim_span_set_auto). */
        if (j->span) {
            sim_span_mark(j->span, p->st_retry, now);
            sim_span_end(env->spans, j->span, now, SIM_SPAN_REFAULTED);
            j->span = NULL;
        }
        if (env->spans)
            j->span = sim_span_open(env->spans, j->t_retry);
    } else if (env->spans && !j->span) {
        j->span = sim_span_open(env->spans, j->t_page);
    }
    /* Breakdowns by device and by address space. */
    sim_span_set_tags(j->span, env->index, j->pasid);
    if (env->spans && !j->span) /* the fault would go uncounted */
        sim_oom(env->sim, "pri");
    sim_span_mark(j->span, p->st_ats_fault, now);
    j->want = (uint16_t)group_pages(p, j);
    if (!p->wait_head && pri_has_room(p, j->want)) {
        pri_issue(p, j);
        return true;
    }
    j->state = PCIE_JOB_PRI_WAIT;
    j->t_wait = now;
    pcie_jobq_push(&p->wait_head, &p->wait_tail, j);
    return true;
}

/*
 * Free every group and fail the DMAs waiting for their responses: PRI was
 * disabled (Response Failure: the DMAs waiting for allocation fail too)
 * or reset (`reenable`: PRI is enabled again before the DMAs are failed,
 * and DMAs waiting for allocation keep waiting).
 */
static void pri_abandon_all(pcie_pri_t *p, bool reenable)
{
    pcie_job_t *fail[PCIE_PRG_INDICES];
    unsigned nfail = 0;
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++) {
        if (!p->prg[i].busy)
            continue;
        if (p->prg[i].job)
            fail[nfail++] = p->prg[i].job;
        prg_release(p, i);
    }
    pcie_job_t *w = NULL;
    if (reenable) {
        p->status = 0;
        p->enabled = true;
    } else {
        w = p->wait_head;
        p->wait_head = p->wait_tail = NULL;
    }
    for (unsigned k = 0; k < nfail; k++)
        p->port.fail(p->port.opaque, fail[k]);
    while (w) {
        pcie_job_t *next = w->next;
        w->next = NULL;
        p->port.fail(p->port.opaque, w);
        w = next;
    }
}

/*
 * A group's response did not come in time: the device gives the group up
 * (its DMA fails, its allocation and index are freed; a response arriving
 * later finds the index free and counts as UPRGI). PCIe defines no
 * device-side response timeout; this is a device choice [I].
 */
static void ev_prg_timeout(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    pcie_pri_t *p = opaque;
    pcie_prg_t *g = &p->prg[arg];
    g->timer = 0;
    pcie_job_t *j = g->job;
    p->s.timeouts->value++;
    prg_release(p, (unsigned)arg);
    if (j)
        p->port.fail(p->port.opaque, j);
    pcie_pri_wake(p);
}

/* ---------------------------------------------------------- responses */

/* device.pri_reset_delay after a Response Failure: the driver resets and
 * enables PRI again (Enable=0, Reset=1, Enable=1). */
static void ev_pri_reset(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    (void)arg;
    pcie_pri_t *p = opaque;
    if (!p->enabled)
        pcie_pri_reset(p);
}

/*
 * A PRG Response arrives: match it to its group, then act on the code.
 */
void pcie_pri_rx_resp(pcie_pri_t *p, const pcie_msg_t *m)
{
    sim_time_t now = sim_now(p->env->sim);
    unsigned prgi = m->tag % PCIE_PRG_INDICES;
    if (!p->enabled) {
        /* After a Response Failure the function ignores PRG Responses
         * until PRI is re-enabled (PCIe r4.0 10.4.2.1, Response
         * Failure). */
        p->s.resp_ignored->value++;
        return;
    }
    pcie_prg_t *g = &p->prg[prgi];
    bool has_pasid = m->flags & PCIE_F_PASID;
    if (g->busy && p->pasid_required && !has_pasid) {
        /* PCIe r4.0 10.5.2.3: behaviour undefined. This device keys its
         * groups by (PASID, index) and cannot match the response: it is
         * ignored like an unexpected index. */
        p->s.resp_missing_pasid->value++;
        p->s.uprgi->value++;
        p->status |= PCIE_PRI_STATUS_UPRGI;
        return;
    }
    if (!g->busy || (p->pasid_required && m->pasid != g->pasid)) {
        /* PRI Status UPRGI: a response for an index not outstanding is
         * ignored (PCIe r4.0 10.5.2.3; Linux pci_regs.h
         * PCI_PRI_STATUS_UPRGI). */
        p->s.uprgi->value++;
        p->status |= PCIE_PRI_STATUS_UPRGI;
        return;
    }
    if (!p->pasid_required && has_pasid) {
        /* PCIe r4.0 10.5.2.3: undefined; accepted (matched by index). */
        p->s.resp_unexpected_pasid->value++;
    }
    pcie_job_t *j = g->job;
    prg_release(p, prgi);
    if (!j) {
        /* The DMA went with a PASID stop; the response only frees the
         * index and the allocation. */
        p->s.resp_orphan->value++;
        pcie_pri_wake(p);
        return;
    }
    sim_span_mark(j->span, p->st_response, now);
    if (m->code == PCIE_PRG_SUCCESS) {
        p->s.resp_success->value++;
        /* Re-issue the translation request for the page. */
        j->t_retry = now;
        p->port.retry(p->port.opaque, j, now + pcie_env_proc(p->env));
    } else if (m->code == PCIE_PRG_INVALID) {
        p->s.resp_invalid->value++;
        p->port.fail(p->port.opaque, j);
    } else {
        /* Response Failure, or an unused code treated as one: PRI is
         * disabled on the function. */
        p->s.resp_failure->value++;
        p->enabled = false;
        p->status |= PCIE_PRI_STATUS_RF;
        p->port.fail(p->port.opaque, j);
        pri_abandon_all(p, false);
        if (p->reset_delay)
            sim_schedule(p->env->sim, p->reset_delay, ev_pri_reset, p, 0);
        return;
    }
    pcie_pri_wake(p);
}

/* ---------------------------------------------------------- PASID stop */

/*
 * Take the waiting faults of a PASID out of the allocation queue.
 */
pcie_job_t *pcie_pri_take_waiting(pcie_pri_t *p, uint32_t pasid)
{
    return pcie_jobq_take_pasid(&p->wait_head, &p->wait_tail, pasid);
}

/*
 * The job's group loses its job; the group stays outstanding.
 */
void pcie_pri_forget_job(pcie_pri_t *p, pcie_job_t *j)
{
    p->prg[j->prgi].job = NULL;
}

/*
 * Whether a group of the PASID is outstanding.
 */
bool pcie_pri_pasid_outstanding(const pcie_pri_t *p, uint32_t pasid)
{
    for (unsigned i = 0; i < PCIE_PRG_INDICES; i++)
        if (p->prg[i].busy && p->prg[i].pasid == pasid)
            return true;
    return false;
}

/* ------------------------------------------------------ status, reset */

/*
 * PRI Status register as the device reports it (PCIe r4.0 10.5.2.3).
 */
unsigned pcie_pri_status(const pcie_pri_t *p)
{
    unsigned s = p->status;
    if (!p->enabled && p->outstanding == 0)
        s |= PCIE_PRI_STATUS_STOPPED;
    if (p->pasid_required)
        s |= PCIE_PRI_STATUS_PASID;
    return s;
}

/*
 * Disable, reset and enable PRI again (Linux drivers/pci/ats.c:
 * pci_reset_pri then pci_enable_pri).
 */
void pcie_pri_reset(pcie_pri_t *p)
{
    if (!p->capable || !p->ats)
        return;
    p->s.resets->value++;
    pri_abandon_all(p, true);
    pcie_pri_wake(p);
}
