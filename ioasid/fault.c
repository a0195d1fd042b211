/*
 * fault.c - the /dev/ioasid (iommufd) FAULT object.
 *
 * The 2021 flow ("[RFC] /dev/ioasid uAPI proposal", Kevin Tian, 2021-05-27,
 * section 5.6): the host driver calls the IOASID fault handler with the raw
 * fault data (rid, pasid, addr, group), which is saved for the response; a
 * user record is linked into a ring and an eventfd signalled; the VMM's
 * response names the fault and the saved data becomes the host's page
 * response. Linux later merged it as the iommufd FAULT object
 * (drivers/iommu/iommufd/fault.c: iommufd_fault_iopf_handler queues the
 * group on the deliver list in the handler's context, no workqueue hop;
 * records carry a cookie and the response names it). A response for a
 * fault that is no longer pending is EINVAL (eventq.c:
 * iommufd_fault_fops_write), counted here; iommufd accepts Success and
 * Invalid only (include/uapi/linux/iommufd.h: enum
 * iommufd_page_response_code), so a guest Response Failure becomes Invalid.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/fault.h"

struct ioasid_fault {
    sim_t *sim;
    ioasid_host_t *host;
    ioasid_virt_cfg_t cfg;
    sim_rng_t *rng;
    unsigned st_fault, st_exit; /* span stages host_fault, vmm_exit */
    sim_pool_t recs;

    ioasid_fault_rec_t *live; /* every record not yet freed, for detach */
    ioasid_fault_rec_t *ring_head, *ring_tail;
    size_t ring_n;
    uint32_t next_id;
    bool signalled; /* eventfd counter non-zero */
    ioasid_fault_wake_fn wake;
    void *wake_opaque;

    struct {
        sim_counter_t *faults, *ring_overflow, *signals, *coalesced, *responses,
            *resp_unknown, *detached;
        sim_gauge_t *ring_occ;
    } s;
};

static const char *const ring_policy_names[] = {"success", "invalid", NULL};

#define F(x) offsetof(ioasid_virt_cfg_t, x)
const sim_param_t ioasid_fault_params[] = {
    {"ioasid", "ring_depth", SIM_PARAM_UINT, "0", 0, 1u << 24, "records",
     "user fault ring entries (0: unbounded, as the iommufd FAULT deliver "
     "list)",
     NULL, F(ring_depth)},
    {"ioasid", "ring_overflow", SIM_PARAM_ENUM, "success", 0, 0, "",
     "answer to a fault that finds the ring full (success: the device "
     "retries; invalid: the access fails)",
     ring_policy_names, F(ring_overflow)},
    {"ioasid", "report", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "host: report a guest-owned group to the IOASID fault handler, save "
     "the fault data, queue the record ([D]/[I]: the svm_prq time of the "
     "QEMU qpl-compression doc without the mm fix-up)",
     NULL, F(report)},
};
#undef F
const unsigned ioasid_fault_nparams =
    sizeof(ioasid_fault_params) / sizeof(ioasid_fault_params[0]);

/* ------------------------------------------------------------ records */

void ioasid_fault_rec_free(ioasid_fault_t *f, ioasid_fault_rec_t *rec)
{
    if (rec->lprev)
        rec->lprev->lnext = rec->lnext;
    else
        f->live = rec->lnext;
    if (rec->lnext)
        rec->lnext->lprev = rec->lprev;
    sim_pool_put(&f->recs, rec);
}

/* Answer the host group now (the fault leaves the virtual path). */
static void answer_host(ioasid_fault_t *f, ioasid_fault_rec_t *rec,
                        uint8_t code)
{
    ioasid_host_respond(f->host, rec->g, code);
    rec->g = NULL;
    rec->id = 0;
}

/* Signal the eventfd: a write while the counter is non-zero coalesces. */
static void signal_eventfd(ioasid_fault_t *f)
{
    if (f->signalled) {
        f->s.coalesced->value++;
        return;
    }
    f->signalled = true;
    f->s.signals->value++;
    if (f->wake)
        f->wake(f->wake_opaque);
}

/* The host's report is done: queue the record in the ring (or answer a
 * full ring) and signal the eventfd. */
static void ev_reported(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_fault_t *f = opaque;
    ioasid_fault_rec_t *rec = sim_arg_ptr(arg);
    sim_time_t now = sim_now(sim);
    if (rec->id == 0) { /* detached meanwhile */
        ioasid_fault_rec_free(f, rec);
        return;
    }
    sim_span_mark(rec->g->last->desc.span, f->st_fault, now);
    if (f->cfg.ring_depth && f->ring_n >= f->cfg.ring_depth) {
        f->s.ring_overflow->value++;
        /* Answered without being served: not a resolved fault. */
        sim_span_set_auto(rec->g->last->desc.span);
        answer_host(f, rec,
                    f->cfg.ring_overflow == IOASID_RING_SUCCESS
                        ? PCIE_PRG_SUCCESS
                        : PCIE_PRG_INVALID);
        ioasid_fault_rec_free(f, rec);
        return;
    }
    rec->state = IOASID_FAULT_RING;
    rec->next = NULL;
    if (f->ring_tail)
        f->ring_tail->next = rec;
    else
        f->ring_head = rec;
    f->ring_tail = rec;
    f->ring_n++;
    sim_gauge_set(f->s.ring_occ, now, (double)f->ring_n);
    signal_eventfd(f);
}

sim_time_t ioasid_fault_report(ioasid_fault_t *f, ioasid_iopf_group_t *g,
                               void *dev, void *ioas)
{
    sim_time_t cost = sim_dist_draw(&f->cfg.report, f->rng);
    /* The report closes host_fault itself; answers without the VMM
     * (overflow, detach) close no stage. */
    g->resp_stage = SIM_SPAN_NO_STAGE;
    ioasid_fault_rec_t *rec = sim_pool_get(&f->recs);
    if (!rec) {
        /* The simulator's memory, not the model's: answer, stop the run. */
        ioasid_host_respond(f->host, g, PCIE_PRG_INVALID);
        sim_oom(f->sim, "ioasid fault");
        return cost;
    }
    rec->lnext = f->live;
    if (f->live)
        f->live->lprev = rec;
    f->live = rec;
    rec->g = g;
    rec->dev = dev;
    rec->ioas = ioas;
    rec->pages = 0;
    for (const ioasid_iopf_fault_t *p = g->faults; p; p = p->next)
        rec->pages++;
    f->s.faults->value++;
    if (++f->next_id == 0) /* cookies are never 0 */
        f->next_id = 1;
    rec->id = f->next_id;
    rec->state = IOASID_FAULT_REPORT;
    /* The record is queued and the eventfd signalled when the report,
     * which runs on the host's handler thread, is done. */
    sim_schedule(f->sim, cost, ev_reported, f, sim_ptr_arg(rec));
    return cost;
}

/* -------------------------------------------------------------- reads */

void ioasid_fault_set_wake(ioasid_fault_t *f, ioasid_fault_wake_fn fn,
                           void *opaque)
{
    f->wake = fn;
    f->wake_opaque = opaque;
}

void ioasid_fault_eventfd_read(ioasid_fault_t *f)
{
    f->signalled = false;
}

bool ioasid_fault_ring_empty(const ioasid_fault_t *f)
{
    return f->ring_head == NULL;
}

ioasid_fault_rec_t *ioasid_fault_read(ioasid_fault_t *f)
{
    ioasid_fault_rec_t *rec = f->ring_head;
    if (!rec)
        return NULL;
    f->ring_head = rec->next;
    if (!f->ring_head)
        f->ring_tail = NULL;
    f->ring_n--;
    rec->next = NULL;
    rec->state = IOASID_FAULT_READ;
    return rec;
}

void ioasid_fault_read_done(ioasid_fault_t *f)
{
    sim_gauge_set(f->s.ring_occ, sim_now(f->sim), (double)f->ring_n);
}

/* ---------------------------------------------------------- responses */

void ioasid_fault_respond(ioasid_fault_t *f, ioasid_fault_rec_t *rec,
                          uint32_t id, uint8_t code, ioasid_host_done_fn done,
                          void *opaque)
{
    f->s.responses->value++;
    if (rec->id == 0 || rec->id != id ||
        (rec->state != IOASID_FAULT_GUEST && rec->state != IOASID_FAULT_READ) ||
        !rec->g) {
        /* Answered already (detach) or never pending: EINVAL, counted. */
        f->s.resp_unknown->value++;
        ioasid_fault_rec_free(f, rec);
        if (done)
            done(opaque);
        return;
    }
    ioasid_iopf_group_t *g = rec->g;
    rec->g = NULL;
    rec->id = 0;
    ioasid_fault_rec_free(f, rec);
    g->resp_stage = f->st_exit;
    ioasid_host_respond_step(f->host, g,
                             code == PCIE_PRG_SUCCESS ? PCIE_PRG_SUCCESS
                                                      : PCIE_PRG_INVALID,
                             done, opaque);
}

void ioasid_fault_detach(ioasid_fault_t *f, const void *dev, const void *ioas)
{
    /* Records not yet read are answered Invalid and dropped; those a
     * reader or the guest holds are answered Invalid now. */
    ioasid_fault_rec_t **pp = &f->ring_head, *prev = NULL;
    while (*pp) {
        ioasid_fault_rec_t *rec = *pp;
        if (rec->dev == dev && rec->ioas == ioas) {
            *pp = rec->next;
            if (f->ring_tail == rec)
                f->ring_tail = prev;
            f->ring_n--;
            ioasid_host_respond(f->host, rec->g, PCIE_PRG_INVALID);
            f->s.detached->value++;
            ioasid_fault_rec_free(f, rec);
        } else {
            prev = rec;
            pp = &rec->next;
        }
    }
    for (ioasid_fault_rec_t *rec = f->live; rec; rec = rec->lnext) {
        if (rec->dev == dev && rec->ioas == ioas && rec->id && rec->g) {
            answer_host(f, rec, PCIE_PRG_INVALID);
            f->s.detached->value++;
        }
    }
}

/* ----------------------------------------------------------- lifecycle */

#define FC(f, n, d, u)                                                         \
    {                                                                          \
        SIM_STAT_COUNTER, n, d, u, offsetof(ioasid_fault_t, s.f)               \
    }
static const sim_stat_def_t fault_stats[] = {
    FC(faults, "ioasid.faults", "guest-owned fault groups reported", "groups"),
    FC(ring_overflow, "ioasid.ring_overflow",
       "groups that found the fault ring full (answered per "
       "ioasid.ring_overflow)",
       "groups"),
    FC(signals, "ioasid.eventfd.signals",
       "eventfd writes that made the counter non-zero (a wake-up "
       "if the reader sleeps)",
       "signals"),
    FC(coalesced, "ioasid.eventfd.coalesced",
       "eventfd signals merged into a pending one", "signals"),
    FC(responses, "ioasid.responses", "responses completed by the VMM",
       "responses"),
    FC(resp_unknown, "ioasid.resp_unknown",
       "responses for a fault no longer pending (EINVAL)", "responses"),
    FC(detached, "ioasid.detached",
       "pending faults answered Invalid by a detach", "groups"),
};
#undef FC

static const sim_stat_def_t fault_ring_stats[] = {
    {SIM_STAT_GAUGE, "ioasid.ring.occupancy", "records in the fault ring",
     "records", offsetof(ioasid_fault_t, s.ring_occ)},
};

int ioasid_fault_stats(ioasid_fault_t *f, sim_stats_t *st)
{
    return sim_stats_register(st, fault_stats,
                              sizeof(fault_stats) / sizeof(fault_stats[0]), f);
}

int ioasid_fault_ring_stats(ioasid_fault_t *f, sim_stats_t *st)
{
    return sim_stats_register(st, fault_ring_stats, 1, f);
}

ioasid_fault_t *ioasid_fault_create(sim_t *sim, const ioasid_virt_cfg_t *cfg,
                                    ioasid_host_t *host, sim_rng_t *rng,
                                    const sim_spans_t *spans)
{
    ioasid_fault_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->sim = sim;
    f->host = host;
    f->cfg = *cfg;
    f->rng = rng;
    f->st_fault = sim_spans_stage(spans, "host_fault");
    f->st_exit = sim_spans_stage(spans, "vmm_exit");
    sim_pool_init(&f->recs, sizeof(ioasid_fault_rec_t), 256);
    return f;
}

void ioasid_fault_destroy(ioasid_fault_t *f)
{
    if (!f)
        return;
    sim_pool_fini(&f->recs);
    free(f);
}
