/*
 * guest.c - the guest side of a fault: the queue the VMM injects into
 * (the vIOMMU's page request queue, or a device's virtual PRI queue), the
 * guest handler thread, the guest mm, and the fix-up job that ends with
 * the page response written (the `guest` stage ends there); the response
 * traps to the VMM through the response port, and the vCPU stays busy
 * until the VMM and the host are done with it (KVM runs the MMIO exit on
 * the vCPU's thread).
 *
 * Guest page-table models (guest.pt_mode, the second question of the
 * "[RFC] /dev/ioasid uAPI proposal" thread, linux-iommu and kvm lists,
 * 2021-05/06): shared - the I/O page table is the process's CPU page
 * table, one fix-up; separate - the guest fixes its CPU page table, then
 * updates its I/O page table and invalidates the vIOMMU's caches (one
 * command per fixed page, or one with range invalidation: through an exit
 * and the VMM's ioctls, or the guest's own hardware queue, vmm.guest_inv;
 * ioasid_guest_inv_cost).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/guest.h"

struct ioasid_gq {
    ioasid_fault_rec_t *head, *tail;
    size_t n;         /* entries (page requests) in the queue */
    bool busy;        /* the handler thread runs (or its IRQ is coming) */
    bool pro;         /* overflowed (VT-d PRS.PRO): refuse until drained */
    sim_gauge_t *occ; /* entries waiting */
};

/* A job on a vCPU (VJOB_LOG_*: vmm.routing = hwviommu). */
typedef enum {
    VJOB_HANDLER = 1,
    VJOB_FIX,
    VJOB_BACKGROUND,
    VJOB_LOG_HANDLER,
    VJOB_LOG_FIX
} vjob_kind_t;

typedef struct vjob {
    vjob_kind_t kind;
    ioasid_fault_rec_t *rec;
    ioasid_gq_t *q;
    ioasid_iopf_fault_t *lf; /* VJOB_LOG_HANDLER: the entry read */
} vjob_t;

struct ioasid_guest {
    sim_t *sim;
    ioasid_virt_cfg_t cfg;
    iommu_t *iommu;
    ioasid_fault_t *fault;
    sim_rng_t *rng;
    unsigned st_guest;
    uint64_t gpa_next, gpa_end;

    ioasid_gq_t viommu_q;
    ioasid_gq_t **queues; /* the others (vpri), owned */
    size_t nqueues, queues_cap;
    sim_server_t *vcpus;
    sim_rng_t vcpu_rng;
    double bg_rate; /* background jobs per ps */
    bool bg_running;
    vjob_t bg_job;
    sim_pool_t vjobs;
    ioasid_guest_respond_fn respond;
    void *respond_opaque;

    /* hwviommu: the guest's PPR log and its handler thread */
    iommu_vlog_t *log;
    ioasid_guest_proc_fn proc;
    void *proc_opaque;
    bool log_busy;                 /* the thread runs (or its IRQ comes) */
    ioasid_iopf_fault_t *partials; /* non-last requests, oldest first */
    ioasid_iopf_fault_t *reading;  /* the entry the handler job has */
    ioasid_fault_rec_t *live;      /* groups in their fix-up job */

    struct {
        sim_counter_t *faults, *invalid, *bg_jobs, *halted_wakes;
    } s;
};

static const char *const pt_mode_names[] = {"shared", "separate", NULL};

#define F(x) offsetof(ioasid_virt_cfg_t, x)
const sim_param_t ioasid_guest_params[] = {
    {"guest", "vcpus", SIM_PARAM_UINT, "4", 1, 1024, "vCPUs",
     "guest vCPUs: the guest's handlers and its background load share them",
     NULL, F(vcpus)},
    {"guest", "background", SIM_PARAM_DOUBLE, "0", 0, 0.99, "",
     "share of the vCPUs' time taken by other work (Poisson arrivals of "
     "guest.bg_job)",
     NULL, F(background)},
    {"guest", "bg_job", SIM_PARAM_DIST, "exp(50us)", 0, 0, "ns",
     "one piece of background work (it is not preempted)", NULL, F(bg_job)},
    {"guest", "halt_wake", SIM_PARAM_DIST, "10000", 0, 0, "ns",
     "extra when a virtual interrupt finds the vCPUs halted (wake-up IPI, "
     "scheduling; [I])",
     NULL, F(halt_wake)},
    {"guest", "irq", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "virtual interrupt to the guest handler thread running ([I])", NULL,
     F(irq)},
    {"guest", "handler", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "guest driver + iopf core per request, no fix-up ([I]: with guest.irq "
     "2 us, the host's code, io-pgfault.c)",
     NULL, F(handler)},
    {"guest", "mm_minor", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "guest handle_mm_fault, minor (as the host: 0.75-1.7 us published)", NULL,
     F(mm_minor)},
    {"guest", "pt_mode", SIM_PARAM_ENUM, "shared", 0, 0, "",
     "shared: the I/O page table is the CPU page table (one fix-up); "
     "separate: fix both and invalidate the I/O TLB (\"[RFC] /dev/ioasid "
     "uAPI proposal\" thread, 2021)",
     pt_mode_names, F(pt_mode)},
    {"guest", "iopt_update", SIM_PARAM_DIST, "500", 0, 0, "ns",
     "separate: update the I/O page table entry ([I])", NULL, F(iopt_update)},
    {"guest", "inv", SIM_PARAM_DIST, "14000", 0, 0, "ns",
     "guest I/O TLB invalidation of one command with vmm.guest_inv=trap, up "
     "to the VMM's cache-invalidate ioctl: the guest's part, the exit "
     "(vmm.exit) and one vmm.inv_cmd; each further command adds "
     "vmm.inv_cmd. The host's invalidation queue is not included (an unmap "
     "adds it; a fix-up in separate mode leaves the host nothing to "
     "invalidate) [I]",
     NULL, F(inv)},
    {"guest", "inv_range", SIM_PARAM_BOOL, "true", 0, 0, "",
     "the vIOMMU has range invalidation: one command invalidates a range "
     "(SMMUv3 IDR3.RIL, QEMU arm-smmuv3 ril=on); false: one command per "
     "page of the range (Linux arm-smmu-v3.c __arm_smmu_tlb_inv_range "
     "without ARM_SMMU_FEAT_RANGE_INV)",
     NULL, F(inv_range)},
    {"guest", "queue_depth", SIM_PARAM_UINT, "2048", 2, 1u << 20, "entries",
     "entries of each guest page request queue (vIOMMU PRQ, virtual PRI), "
     "one kept unused as full (QEMU hw/i386/intel_iommu.c "
     "vtd_pri_request_page; 2048: Linux PRQ_ORDER 4, "
     "drivers/iommu/intel/prq.c)",
     NULL, F(queue_depth)},
    {"guest", "respond", SIM_PARAM_DIST, "500", 0, 0, "ns",
     "guest driver builds the page response and writes the queue tail ([I])",
     NULL, F(respond)},
    {"guest", "ppr_log", SIM_PARAM_UINT, "0", 0, 1u << 20, "entries",
     "vmm.routing = hwviommu: entries of the guest's PPR log, which the "
     "IOMMU writes (0: iommu.prq_depth as resolved, the size the guest's "
     "own driver gives its log: amdvi 512, Linux PPR_LOG_ENTRIES)",
     NULL, F(ppr_log)},
};
#undef F
const unsigned ioasid_guest_nparams =
    sizeof(ioasid_guest_params) / sizeof(ioasid_guest_params[0]);

/* ------------------------------------------------------ guest queues */

static int gq_init(ioasid_gq_t *q, sim_stats_t *st, const char *name)
{
    memset(q, 0, sizeof(*q));
    char n[96];
    snprintf(n, sizeof(n), "%s.occupancy", name);
    q->occ = sim_stats_gauge(st, n,
                             "guest queue entries (page requests) "
                             "waiting for the guest handler",
                             "entries");
    return q->occ ? 0 : -ENOMEM;
}

ioasid_gq_t *ioasid_guest_queue_create(ioasid_guest_t *g, sim_stats_t *st,
                                       const char *name)
{
    if (SIM_GROW(g->queues, g->queues_cap, g->nqueues + 1, 4))
        return NULL;
    ioasid_gq_t *q = malloc(sizeof(*q));
    if (!q || gq_init(q, st, name)) {
        free(q);
        return NULL;
    }
    g->queues[g->nqueues++] = q;
    return q;
}

ioasid_gq_t *ioasid_guest_viommu_queue(ioasid_guest_t *g)
{
    return &g->viommu_q;
}

static void submit_vcpu(ioasid_guest_t *g, vjob_kind_t kind,
                        ioasid_fault_rec_t *rec, ioasid_gq_t *q,
                        sim_time_t service, bool held)
{
    vjob_t *j = sim_pool_get(&g->vjobs);
    if (!j) {
        sim_oom(g->sim, "guest");
        return;
    }
    j->kind = kind;
    j->rec = rec;
    j->q = q;
    j->lf = NULL;
    if (held)
        sim_server_submit_held(g->vcpus, j, service);
    else
        sim_server_submit_time(g->vcpus, j, service);
}

/* The handler thread takes the next request of its queue, or sleeps. */
static void gq_next(ioasid_guest_t *g, ioasid_gq_t *q)
{
    ioasid_fault_rec_t *rec = q->head;
    if (!rec) {
        /* Drained: the guest driver clears PRO once head == tail (Linux
         * drivers/iommu/intel/prq.c: prq_event_thread). */
        q->busy = false;
        q->pro = false;
        return;
    }
    q->head = rec->next;
    if (!q->head)
        q->tail = NULL;
    q->n -= rec->pages;
    rec->next = NULL;
    sim_gauge_set(q->occ, sim_now(g->sim), (double)q->n);
    sim_time_t t = 0;
    for (unsigned p = 0; p < rec->pages; p++)
        t = sim_time_add(t, sim_dist_draw(&g->cfg.handler, g->rng));
    submit_vcpu(g, VJOB_HANDLER, rec, q, t, false);
}

static void ev_gq_irq(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    gq_next(opaque, sim_arg_ptr(arg));
}

int ioasid_guest_deliver(ioasid_guest_t *g, ioasid_gq_t *q,
                         ioasid_fault_rec_t *rec)
{
    sim_time_t now = sim_now(g->sim);
    /* QEMU hw/i386/intel_iommu.c vtd_pri_request_page: with PRO set, or
     * when the new tail would equal the head ((tail + 1) % size == head,
     * one entry unused), the request is refused with ENOSPC and PRO set
     * (VT-d 7.5); a group is refused if all its requests do not fit. */
    if (q->pro || q->n + rec->pages > g->cfg.queue_depth - 1) {
        q->pro = true;
        return -ENOSPC;
    }
    rec->state = IOASID_FAULT_GUEST;
    rec->next = NULL;
    if (q->tail)
        q->tail->next = rec;
    else
        q->head = rec;
    q->tail = rec;
    q->n += rec->pages;
    sim_gauge_set(q->occ, now, (double)q->n);
    if (q->busy)
        return 0; /* the thread is running and will find it */
    q->busy = true;
    sim_time_t d = sim_dist_draw(&g->cfg.irq, g->rng);
    if (sim_server_busy(g->vcpus) == 0) {
        /* Every vCPU is halted: the interrupt must wake one. */
        g->s.halted_wakes->value++;
        d = sim_time_add(d, sim_dist_draw(&g->cfg.halt_wake, g->rng));
    }
    sim_schedule(g->sim, d, ev_gq_irq, g, sim_ptr_arg(q));
    return 0;
}

/* ---------------------------------------------------------- guest mm */

void ioasid_guest_set_memory(ioasid_guest_t *g, uint64_t base, uint64_t end)
{
    g->gpa_next = base;
    g->gpa_end = end;
}

uint64_t ioasid_guest_gpa_alloc_pages(ioasid_guest_t *g, unsigned shift)
{
    uint64_t size = 1ull << shift;
    uint64_t gpa = (g->gpa_next + size - 1) & ~(size - 1);
    if (gpa < g->gpa_next || gpa >= g->gpa_end || g->gpa_end - gpa < size)
        return 0;
    g->gpa_next = gpa + size;
    return gpa;
}

/* Whether the guest must do mm work for this request (costs a fix-up). */
static bool gp_needs_fixup(const ioasid_gproc_t *gp, uint64_t addr,
                           unsigned flags)
{
    const ioasid_vma_t *vma = ioasid_vma_set_find(&gp->vmas, addr);
    uint64_t need = ioasid_vma_need_perm(flags);
    if (!vma || (need & ~vma->perm))
        return false;
    iommu_walk_t w;
    iommu_pt_walk(&gp->s1, addr & ~(IOMMU_PAGE_SIZE - 1), &w);
    return w.outcome != IOMMU_WALK_OK || (need & ~w.perm);
}

/* The guest's mm handles one request: 0 when the access is now allowed in
 * its stage 1, -EFAULT when it never will be (Invalid). */
static int gp_fault(ioasid_guest_t *g, ioasid_gproc_t *gp, uint64_t addr,
                    unsigned flags)
{
    const ioasid_vma_t *vma = ioasid_vma_set_find(&gp->vmas, addr);
    uint64_t need = ioasid_vma_need_perm(flags);
    if (!vma || (need & ~vma->perm))
        return -EFAULT;
    /* The guest's stage-1 leaf is the mapping's page size (the trace's
     * map record). */
    unsigned shift = ioasid_vma_shift(vma);
    uint64_t size = 1ull << shift, page = addr & ~(size - 1);
    iommu_walk_t w;
    iommu_pt_walk(&gp->s1, page, &w);
    if (w.outcome == IOMMU_WALK_OK && !(need & ~w.perm))
        return 0; /* spurious: fixed by an earlier request */
    uint64_t gpa = w.outcome == IOMMU_WALK_OK
                       ? (w.pa & ~(size - 1))
                       : ioasid_guest_gpa_alloc_pages(g, shift);
    if (!gpa)
        return -EFAULT; /* guest out of memory */
    g->s.faults->value++;
    int rc = iommu_pt_map(&gp->s1, page, gpa, shift, vma->perm | IOMMU_PTE_U);
    if (rc == 0 && w.outcome == IOMMU_WALK_OK) {
        /* A permission upgrade: the old translation may be cached. */
        iommu_iotlb_invalidate(g->iommu, gp->domain, gp->pasid, page, size);
    }
    return rc ? -EFAULT : 0;
}

/* ------------------------------------------------------ invalidation */

unsigned ioasid_guest_inv_cmds(const ioasid_virt_cfg_t *c, uint64_t pages)
{
    if (c->inv_range || pages == 0)
        return 1;
    return pages > UINT_MAX ? UINT_MAX : (unsigned)pages;
}

/*
 * The guest's side of an invalidation of ncmds commands (vmm.guest_inv):
 *   trap    - guest.inv (its own part, the exit of the queue write, the
 *             VMM's decode and ioctl of the first command), then
 *             vmm.inv_cmd per further command: QEMU's smmuv3_cmdq_consume
 *             handles every command up to the producer index in the one
 *             exit and issues one ioctl per command
 * (smmuv3_accel_issue_inv_cmd, entry_num = 1). With ncmds = 1 this is exactly
 * guest.inv. hwqueue - the guest's own part (guest.inv less vmm.exit and one
 *             vmm.inv_cmd, not below 0) and vmm.hwqueue_write: no exit, no
 *             VMM, no ioctl.
 */
sim_time_t ioasid_guest_inv_cost(const ioasid_virt_cfg_t *c, unsigned ncmds,
                                 sim_rng_t *rng)
{
    sim_time_t t = sim_dist_draw(&c->inv, rng);
    if (c->guest_inv == IOASID_GINV_HWQUEUE) {
        sim_time_t trap = sim_time_add(sim_dist_draw(&c->exit, rng),
                                       sim_dist_draw(&c->inv_cmd, rng));
        t = t > trap ? t - trap : 0;
        return sim_time_add(t, sim_dist_draw(&c->hwqueue_write, rng));
    }
    for (unsigned i = 1; i < ncmds; i++)
        t = sim_time_add(t, sim_dist_draw(&c->inv_cmd, rng));
    return t;
}

/* --------------------------------------------------------- vCPU jobs */

/* The cost of the fix-up job of rec: mm work, pt_mode extras, then
 * writing the response. */
static sim_time_t fix_cost(ioasid_guest_t *g, ioasid_fault_rec_t *rec)
{
    const ioasid_virt_cfg_t *c = &g->cfg;
    const ioasid_gproc_t *gp = rec->ioas;
    sim_time_t t = 0;
    unsigned work = 0;
    for (const ioasid_iopf_fault_t *f = rec->g->faults; f; f = f->next)
        if (gp_needs_fixup(gp, f->desc.addr, f->desc.flags)) {
            t = sim_time_add(t, sim_dist_draw(&c->mm_minor, g->rng));
            work++;
        }
    if (c->pt_mode == IOASID_PT_SEPARATE && work) {
        for (unsigned i = 0; i < work; i++)
            t = sim_time_add(t, sim_dist_draw(&c->iopt_update, g->rng));
        t = sim_time_add(t, ioasid_guest_inv_cost(
                                c, ioasid_guest_inv_cmds(c, work), g->rng));
    }
    t = sim_time_add(t, sim_dist_draw(&c->respond, g->rng));
    return t;
}

static void log_handled(ioasid_guest_t *g, ioasid_iopf_fault_t *lf);
static void log_fixed(ioasid_guest_t *g, ioasid_fault_rec_t *rec);

static void vcpu_done(sim_t *sim, void *opaque, void *job)
{
    ioasid_guest_t *g = opaque;
    vjob_t *j = job;
    ioasid_fault_rec_t *rec = j->rec;
    ioasid_gq_t *q = j->q;
    ioasid_iopf_fault_t *j_lf = j->lf;
    vjob_kind_t kind = j->kind;
    if (j != &g->bg_job)
        sim_pool_put(&g->vjobs, j);
    switch (kind) {
    case VJOB_BACKGROUND:
        return;
    case VJOB_LOG_HANDLER:
        log_handled(g, j_lf);
        return;
    case VJOB_LOG_FIX:
        log_fixed(g, rec);
        return;
    case VJOB_HANDLER:
        /* Reported to the guest's iopf core: the fix-up runs as its own
         * job (its vCPU held through the response's trap), and the
         * handler thread goes on with its queue. */
        if (rec->id != 0)
            submit_vcpu(g, VJOB_FIX, rec, NULL, fix_cost(g, rec), true);
        else
            ioasid_fault_rec_free(g->fault, rec); /* detached meanwhile */
        gq_next(g, q);
        return;
    case VJOB_FIX: {
        /* The response is written: it traps to the VMM. */
        uint8_t code = PCIE_PRG_SUCCESS;
        if (rec->id != 0) {
            for (const ioasid_iopf_fault_t *f = rec->g->faults; f; f = f->next)
                if (gp_fault(g, rec->ioas, f->desc.addr, f->desc.flags)) {
                    code = PCIE_PRG_INVALID; /* sticky */
                    g->s.invalid->value++;
                    break;
                }
            sim_span_mark(rec->g->last->desc.span, g->st_guest, sim_now(sim));
        }
        g->respond(g->respond_opaque, rec, rec->id, code);
        return;
    }
    }
}

/* ------------------------------------- hwviommu: the guest's PPR log */

static void log_next(ioasid_guest_t *g);

/* A group the guest's iopf core completed, as a record of its own (no
 * FAULT object behind it). */
static void log_rec_free(ioasid_guest_t *g, ioasid_fault_rec_t *rec)
{
    if (rec->lprev)
        rec->lprev->lnext = rec->lnext;
    else if (g->live == rec)
        g->live = rec->lnext;
    if (rec->lnext)
        rec->lnext->lprev = rec->lprev;
    ioasid_iopf_group_t *grp = rec->g;
    while (grp->faults) {
        ioasid_iopf_fault_t *f = grp->faults;
        grp->faults = f->next;
        free(f);
    }
    free(grp);
    free(rec);
}

/* The fix-up job of a log group is done: the response is written to the
 * guest's command buffer (COMPLETE_PPR_REQUEST), which the vIOMMU
 * processes without an exit. */
static void log_fixed(ioasid_guest_t *g, ioasid_fault_rec_t *rec)
{
    uint8_t code = PCIE_PRG_SUCCESS;
    for (const ioasid_iopf_fault_t *f = rec->g->faults; f; f = f->next)
        if (gp_fault(g, rec->ioas, f->desc.addr, f->desc.flags)) {
            code = PCIE_PRG_INVALID; /* sticky */
            g->s.invalid->value++;
            break;
        }
    sim_span_mark(rec->g->last->desc.span, g->st_guest, sim_now(g->sim));
    iommu_vlog_complete(g->log, &rec->g->last->desc, code, rec->pages);
    log_rec_free(g, rec);
}

/* The handler read one entry (guest.handler): a non-last request waits for
 * its group; a last one completes the group (the partials of its RID and
 * index), which goes to a fix-up job. The thread goes on. */
static void log_handled(ioasid_guest_t *g, ioasid_iopf_fault_t *lf)
{
    g->reading = NULL;
    if (!(lf->desc.flags & PCIE_F_LAST)) {
        ioasid_iopf_fault_t **pp = &g->partials;
        while (*pp)
            pp = &(*pp)->next;
        *pp = lf;
        log_next(g);
        return;
    }
    ioasid_fault_rec_t *rec = calloc(1, sizeof(*rec));
    ioasid_iopf_group_t *grp = calloc(1, sizeof(*grp));
    if (!rec || !grp) {
        free(rec);
        free(grp);
        free(lf);
        sim_oom(g->sim, "guest");
        return;
    }
    ioasid_iopf_fault_t **tail = &grp->faults;
    for (ioasid_iopf_fault_t **pp = &g->partials; *pp;) {
        ioasid_iopf_fault_t *f = *pp;
        if (f->desc.rid == lf->desc.rid && f->desc.prgi == lf->desc.prgi) {
            *pp = f->next;
            f->next = NULL;
            *tail = f;
            tail = &f->next;
            rec->pages++;
        } else {
            pp = &f->next;
        }
    }
    lf->next = NULL;
    *tail = lf;
    grp->last = lf;
    rec->pages++;
    rec->g = grp;
    rec->id = 1; /* live */
    rec->ioas = g->proc(g->proc_opaque, lf->desc.rid, lf->desc.pasid);
    rec->lnext = g->live;
    if (g->live)
        g->live->lprev = rec;
    g->live = rec;
    if (!rec->ioas) {
        /* No guest process behind (rid, pasid): Invalid. */
        iommu_vlog_complete(g->log, &lf->desc, PCIE_PRG_INVALID, rec->pages);
        log_rec_free(g, rec);
    } else {
        submit_vcpu(g, VJOB_LOG_FIX, rec, NULL, fix_cost(g, rec), false);
    }
    log_next(g);
}

/* The handler thread: clear PPRInt, take the entry at the head (moving
 * the head, as Linux amd_iommu_poll_ppr_log writes it per entry), or,
 * with the log empty, restart it after an overflow and sleep. */
static void log_next(ioasid_guest_t *g)
{
    iommu_vlog_clear_status(g->log, IOMMU_PRS_PPR);
    uint32_t head = iommu_vlog_head(g->log);
    if (head == iommu_vlog_tail(g->log)) {
        if (iommu_vlog_status(g->log) & IOMMU_PRS_PRO)
            iommu_vlog_clear_status(g->log, IOMMU_PRS_PRO);
        g->log_busy = false;
        return;
    }
    ioasid_iopf_fault_t *lf = calloc(1, sizeof(*lf));
    vjob_t *j = sim_pool_get(&g->vjobs);
    if (!lf || !j) {
        free(lf);
        sim_oom(g->sim, "guest");
        return;
    }
    iommu_vlog_read(g->log, head, &lf->desc);
    iommu_vlog_set_head(g->log, iommu_vlog_next(g->log, head));
    g->reading = lf;
    *j = (vjob_t){VJOB_LOG_HANDLER, NULL, NULL, lf};
    sim_server_submit_time(g->vcpus, j, sim_dist_draw(&g->cfg.handler, g->rng));
}

static void ev_log_irq(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    (void)arg;
    log_next(opaque);
}

/* The vIOMMU raised the guest's interrupt (no VMM: AMD's guest virtual
 * APIC posts it). */
static void log_irq(void *opaque)
{
    ioasid_guest_t *g = opaque;
    if (g->log_busy)
        return; /* the thread runs and finds the entry */
    g->log_busy = true;
    sim_time_t d = sim_dist_draw(&g->cfg.irq, g->rng);
    if (sim_server_busy(g->vcpus) == 0) {
        g->s.halted_wakes->value++;
        d = sim_time_add(d, sim_dist_draw(&g->cfg.halt_wake, g->rng));
    }
    sim_schedule(g->sim, d, ev_log_irq, g, 0);
}

int ioasid_guest_attach_log(ioasid_guest_t *g, iommu_vlog_t *log,
                            ioasid_guest_proc_fn proc, void *opaque)
{
    g->log = log;
    g->proc = proc;
    g->proc_opaque = opaque;
    iommu_vlog_set_irq(log, log_irq, g);
    return 0;
}

void ioasid_guest_set_respond(ioasid_guest_t *g, ioasid_guest_respond_fn fn,
                              void *opaque)
{
    g->respond = fn;
    g->respond_opaque = opaque;
}

void ioasid_guest_vcpu_release(ioasid_guest_t *g)
{
    sim_server_release(g->vcpus);
}

/* ------------------------------------------------------ background */

static void ev_bg(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    ioasid_guest_t *g = opaque;
    if (sim_work_pending(sim) == 0) {
        g->bg_running = false;
        return;
    }
    g->s.bg_jobs->value++;
    sim_server_submit_daemon(g->vcpus, &g->bg_job,
                             sim_dist_draw(&g->cfg.bg_job, g->rng));
    double u = sim_rng_double(g->rng);
    sim_schedule_daemon(sim, (sim_time_t)(-log(1.0 - u) / g->bg_rate), ev_bg, g,
                        0);
}

void ioasid_guest_start(ioasid_guest_t *g)
{
    if (g->bg_rate > 0 && !g->bg_running) {
        g->bg_running = true;
        sim_schedule_daemon(g->sim, 0, ev_bg, g, 0);
    }
}

/* ------------------------------------------------------- lifecycle */

#define GC(f, n, d, u)                                                         \
    {                                                                          \
        SIM_STAT_COUNTER, n, d, u, offsetof(ioasid_guest_t, s.f)               \
    }
static const sim_stat_def_t guest_mm_stats[] = {
    GC(faults, "guest.mm.faults", "pages fixed by the guest mm", "pages"),
    GC(invalid, "guest.mm.invalid", "groups the guest answered Invalid",
       "groups"),
};
static const sim_stat_def_t guest_vcpu_stats[] = {
    GC(bg_jobs, "guest.background_jobs", "background jobs run on the vCPUs",
       "jobs"),
    GC(halted_wakes, "guest.halted_wakes",
       "virtual interrupts that found every vCPU halted", "interrupts"),
};
#undef GC

int ioasid_guest_mm_stats(ioasid_guest_t *g, sim_stats_t *st)
{
    return sim_stats_register(st, guest_mm_stats, 2, g);
}

int ioasid_guest_vcpu_stats(ioasid_guest_t *g, sim_stats_t *st)
{
    return sim_stats_register(st, guest_vcpu_stats, 2, g);
}

ioasid_guest_t *ioasid_guest_create(sim_t *sim, const ioasid_virt_cfg_t *cfg,
                                    iommu_t *iommu, ioasid_fault_t *fault,
                                    sim_rng_t *rng, const sim_spans_t *spans)
{
    ioasid_guest_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->sim = sim;
    g->cfg = *cfg;
    g->iommu = iommu;
    g->fault = fault;
    g->rng = rng;
    g->st_guest = sim_spans_stage(spans, "guest");
    sim_pool_init(&g->vjobs, sizeof(vjob_t), 256);
    g->bg_job.kind = VJOB_BACKGROUND;
    return g;
}

int ioasid_guest_init(ioasid_guest_t *g, sim_stats_t *st)
{
    sim_server_cfg_t c = {.name = "guest.vcpus",
                          .servers = (unsigned)g->cfg.vcpus,
                          .queue_limit = 0,
                          .service = sim_dist_fixed(0)};
    sim_rng_seed(&g->vcpu_rng, 0, "guest.vcpus");
    g->vcpus = sim_server_create(g->sim, st, &c, &g->vcpu_rng, vcpu_done, g);
    if (!g->vcpus)
        return -ENOMEM;
    double mean = sim_dist_mean(&g->cfg.bg_job);
    if (g->cfg.background > 0 && mean > 0)
        g->bg_rate = g->cfg.background * (double)g->cfg.vcpus / mean;
    return gq_init(&g->viommu_q, st, "guest.viommu_queue");
}

void ioasid_guest_destroy(ioasid_guest_t *g)
{
    if (!g)
        return;
    sim_server_destroy(g->vcpus);
    for (size_t i = 0; i < g->nqueues; i++)
        free(g->queues[i]);
    free(g->queues);
    while (g->partials) {
        ioasid_iopf_fault_t *f = g->partials;
        g->partials = f->next;
        free(f);
    }
    free(g->reading); /* what a stopped run left */
    while (g->live)
        log_rec_free(g, g->live);
    sim_pool_fini(&g->vjobs);
    free(g);
}
