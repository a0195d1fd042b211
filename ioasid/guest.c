/*
 * guest.c - the virtual machine: its memory (stage 2), its processes
 * (guest stage-1 I/O page tables in guest memory, with their mappings),
 * its vCPUs (a `server` shared with background load) and the guest side of
 * a fault: the queue the VMM injects into (the vIOMMU's page request queue,
 * or a device's virtual PRI queue), the guest handler thread, and the
 * fix-up job that ends with the page response trapping to the VMM.
 *
 * Guest page-table models (guest.pt_mode, the seed thread's second
 * question): shared - the I/O page table is the process's CPU page table,
 * one fix-up; separate - the guest fixes its CPU page table, then updates
 * its I/O page table and invalidates the vIOMMU's caches (an exit and a
 * cache-invalidate ioctl: guest.inv).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/virt_int.h"

/* ------------------------------------------------------ guest queues */

int virt_gq_init(ioasid_virt_t *v, gq_t *q, sim_stats_t *st, const char *name)
{
    memset(q, 0, sizeof(*q));
    char n[96];
    snprintf(n, sizeof(n), "%s.occupancy", name);
    q->occ = sim_stats_gauge(st, n, "guest queue entries waiting for the "
                                    "guest handler", "entries");
    return q->occ ? 0 : -ENOMEM;
}

static void submit_vcpu(ioasid_virt_t *v, vjob_kind_t kind, vfault_t *vf,
                        gq_t *q, sim_time_t service)
{
    vjob_t *j = sim_pool_get(&v->vjobs);
    if (!j) {
        sim_logf(sim_log(v->sim), SIM_LOG_ERROR, "guest: out of memory");
        sim_stop(v->sim);
        return;
    }
    j->kind = kind;
    j->vf = vf;
    j->q = q;
    sim_server_submit_time(v->vcpus, j, service);
}

/* The handler thread takes the next request of its queue, or sleeps. */
static void gq_next(ioasid_virt_t *v, gq_t *q)
{
    vfault_t *vf = q->head;
    if (!vf) {
        q->busy = false;
        return;
    }
    q->head = vf->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    vf->next = NULL;
    sim_gauge_set(q->occ, sim_now(v->sim), (double)q->n);
    sim_time_t t = 0;
    for (unsigned p = 0; p < vf->pages; p++)
        t += sim_dist_draw(&v->cfg.handler, &v->rng);
    submit_vcpu(v, VJOB_HANDLER, vf, q, t);
}

static void ev_gq_irq(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_virt_t *v = opaque;
    gq_next(v, (gq_t *)(uintptr_t)arg);
}

void virt_guest_deliver(ioasid_virt_t *v, gq_t *q, vfault_t *vf)
{
    sim_time_t now = sim_now(v->sim);
    sim_span_mark(vf->g->last->desc.span, PCIE_STAGE_VMM, now);
    vf->state = VF_GUEST;
    vf->next = NULL;
    if (q->tail)
        q->tail->next = vf;
    else
        q->head = vf;
    q->tail = vf;
    q->n++;
    sim_gauge_set(q->occ, now, (double)q->n);
    if (q->busy)
        return; /* the thread is running and will find it */
    q->busy = true;
    sim_time_t d = sim_dist_draw(&v->cfg.irq, &v->rng);
    if (sim_server_busy(v->vcpus) == 0) {
        /* Every vCPU is halted: the interrupt must wake one. */
        v->s.halted_wakes->value++;
        d += sim_dist_draw(&v->cfg.halt_wake, &v->rng);
    }
    sim_schedule(v->sim, d, ev_gq_irq, v, (uint64_t)(uintptr_t)q);
}

/* ---------------------------------------------------------- processes */

/* A fresh guest page (a GPA frame of the VM's memory). */
static uint64_t gpa_alloc(ioasid_virt_t *v)
{
    if (v->gpa_next >= v->gpa_end)
        return 0;
    uint64_t gpa = v->gpa_next;
    v->gpa_next += IOMMU_PAGE_SIZE;
    return gpa;
}

/* Whether the guest must do mm work for this request (costs a fix-up). */
static bool gp_needs_fixup(const gproc_t *gp, uint64_t addr, unsigned flags)
{
    const vma_t *vma = vma_set_find(&gp->vmas, addr);
    uint64_t need = vma_need_perm(flags);
    if (!vma || (need & ~vma->perm))
        return false;
    iommu_walk_t w;
    iommu_pt_walk(&gp->s1, addr & ~(IOMMU_PAGE_SIZE - 1), &w);
    return w.outcome != IOMMU_WALK_OK || (need & ~w.perm);
}

/* The guest's mm handles one request: 0 when the access is now allowed in
 * its stage 1, -EFAULT when it never will be (Invalid). */
static int gp_fault(ioasid_virt_t *v, gproc_t *gp, uint64_t addr,
                    unsigned flags)
{
    const vma_t *vma = vma_set_find(&gp->vmas, addr);
    uint64_t need = vma_need_perm(flags);
    if (!vma || (need & ~vma->perm))
        return -EFAULT;
    uint64_t page = addr & ~(IOMMU_PAGE_SIZE - 1);
    iommu_walk_t w;
    iommu_pt_walk(&gp->s1, page, &w);
    if (w.outcome == IOMMU_WALK_OK && !(need & ~w.perm))
        return 0; /* spurious: fixed by an earlier request */
    uint64_t gpa = w.outcome == IOMMU_WALK_OK
                       ? (w.pa & ~(IOMMU_PAGE_SIZE - 1))
                       : gpa_alloc(v);
    if (!gpa)
        return -EFAULT; /* guest out of memory */
    v->s.guest_faults->value++;
    int rc = iommu_pt_map(&gp->s1, page, gpa, IOMMU_PAGE_SHIFT,
                          vma->perm | IOMMU_PTE_U);
    if (rc == 0 && w.outcome == IOMMU_WALK_OK) {
        /* A permission upgrade: the old translation may be cached. */
        iommu_iotlb_invalidate(v->iommu, gp->domain, gp->pasid, page,
                               IOMMU_PAGE_SIZE);
    }
    return rc ? -EFAULT : 0;
}

/* --------------------------------------------------------- vCPU jobs */

/* The cost of the fix-up job of vf: mm work, pt_mode extras, then the
 * response and its trip through the VMM (vmm.exit, vmm.complete run on
 * the exiting vCPU's thread). Sets vf->tail_cost. */
static sim_time_t fix_cost(ioasid_virt_t *v, vfault_t *vf)
{
    const ioasid_virt_cfg_t *c = &v->cfg;
    sim_time_t t = 0;
    unsigned work = 0;
    for (const iopf_fault_t *f = vf->g->faults; f; f = f->next)
        if (gp_needs_fixup(vf->proc, f->desc.addr, f->desc.flags)) {
            t += sim_dist_draw(&c->mm_minor, &v->rng);
            work++;
        }
    if (c->pt_mode == IOASID_PT_SEPARATE && work) {
        for (unsigned i = 0; i < work; i++)
            t += sim_dist_draw(&c->iopt_update, &v->rng);
        t += sim_dist_draw(&c->inv, &v->rng);
    }
    t += sim_dist_draw(&c->respond, &v->rng);
    /* After the response is written: the VM exit, the VMM's completion
     * and the host driver's invalidation-queue submission. */
    vf->tail_cost = sim_dist_draw(&c->exit, &v->rng) +
                    sim_dist_draw(&c->complete, &v->rng) +
                    sim_dist_draw(&v->host->cfg.qi_submit, &v->rng);
    return t + vf->tail_cost;
}

static void vcpu_done(sim_t *sim, void *opaque, void *job)
{
    ioasid_virt_t *v = opaque;
    vjob_t *j = job;
    vfault_t *vf = j->vf;
    gq_t *q = j->q;
    vjob_kind_t kind = j->kind;
    if (j != &v->bg_job)
        sim_pool_put(&v->vjobs, j);
    switch (kind) {
    case VJOB_BACKGROUND:
        return;
    case VJOB_HANDLER:
        /* Reported to the guest's iopf core: the fix-up runs as its own
         * job, and the handler thread goes on with its queue. */
        if (vf->id != 0)
            submit_vcpu(v, VJOB_FIX, vf, NULL, fix_cost(v, vf));
        else
            virt_vfault_free(v, vf); /* detached meanwhile */
        gq_next(v, q);
        return;
    case VJOB_FIX: {
        sim_time_t now = sim_now(sim);
        uint8_t code = PCIE_PRG_SUCCESS;
        if (vf->id != 0) {
            for (const iopf_fault_t *f = vf->g->faults; f; f = f->next)
                if (gp_fault(v, vf->proc, f->desc.addr, f->desc.flags)) {
                    code = PCIE_PRG_INVALID; /* sticky */
                    v->s.guest_invalid->value++;
                    break;
                }
            sim_span_t *span = vf->g->last->desc.span;
            sim_span_mark(span, PCIE_STAGE_GUEST, now - vf->tail_cost);
            sim_span_mark(span, PCIE_STAGE_VMM_EXIT, now);
        }
        virt_vmm_complete(v, vf, vf->id, code);
        return;
    }
    }
}

/* ------------------------------------------------------ background */

static void ev_bg(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_virt_t *v = opaque;
    if (sim_work_pending(sim) == 0) {
        v->bg_running = false;
        return;
    }
    v->s.bg_jobs->value++;
    sim_server_submit_daemon(v->vcpus, &v->bg_job,
                             sim_dist_draw(&v->cfg.bg_job, &v->rng));
    double u = sim_rng_double(&v->rng);
    sim_schedule_daemon(sim, (sim_time_t)(-log(1.0 - u) / v->bg_rate), ev_bg,
                        v, 0);
}

void ioasid_virt_start(ioasid_virt_t *v)
{
    if (v->bg_rate > 0 && !v->bg_running) {
        v->bg_running = true;
        sim_schedule_daemon(v->sim, 0, ev_bg, v, 0);
    }
}

int virt_guest_init(ioasid_virt_t *v, sim_stats_t *st)
{
    sim_server_cfg_t c = {.name = "guest.vcpus",
                          .servers = (unsigned)v->cfg.vcpus,
                          .queue_limit = 0,
                          .service = sim_dist_fixed(0)};
    sim_rng_seed(&v->vcpu_rng, 0, "guest.vcpus");
    v->vcpus = sim_server_create(v->sim, st, &c, &v->vcpu_rng, vcpu_done, v);
    if (!v->vcpus)
        return -ENOMEM;
    v->bg_job.kind = VJOB_BACKGROUND;
    double mean = sim_dist_mean(&v->cfg.bg_job);
    if (v->cfg.background > 0 && mean > 0)
        v->bg_rate = v->cfg.background * (double)v->cfg.vcpus / mean;
    return virt_gq_init(v, &v->viommu_q, st, "guest.viommu_queue");
}

void virt_guest_fini(ioasid_virt_t *v)
{
    sim_server_destroy(v->vcpus);
}
