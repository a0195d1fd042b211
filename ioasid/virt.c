/*
 * virt.c - the virtual machine object: its memory, its assigned devices,
 * its processes (IOASIDs nested on the VM's stage 2) and what the trace
 * does to them (map, unmap, detach), and how the host tells a fault the
 * guest owns (stage 1) from one it owns itself (stage 2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/virt_int.h"

/* ------------------------------------------------------------ devices */

vdev_t *ioasid_virt_dev(ioasid_virt_t *v, uint16_t rid)
{
    for (unsigned i = 0; i < v->ndevs; i++)
        if (v->devs[i].rid == rid)
            return &v->devs[i];
    return NULL;
}

/* ---------------------------------------------------------- processes */

static gproc_t **proc_slot(const ioasid_virt_t *v, uint32_t pasid)
{
    size_t mask = v->nproc_slots - 1;
    size_t i = (size_t)(((uint64_t)pasid * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    while (v->procs[i] && v->procs[i]->pasid != pasid)
        i = (i + 1) & mask;
    return &v->procs[i];
}

static gproc_t *proc_find(const ioasid_virt_t *v, uint32_t pasid)
{
    return v->nproc_slots ? *proc_slot(v, pasid) : NULL;
}

static int procs_grow(ioasid_virt_t *v)
{
    size_t n = v->nproc_slots ? v->nproc_slots * 2 : 64;
    gproc_t **old = v->procs;
    size_t oldn = v->nproc_slots;
    v->procs = calloc(n, sizeof(*v->procs));
    if (!v->procs) {
        v->procs = old;
        return -ENOMEM;
    }
    v->nproc_slots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i])
            *proc_slot(v, old[i]->pasid) = old[i];
    free(old);
    return 0;
}

/* The guest process of `pasid`, created (an empty stage-1 IOASID) if
 * needed. */
static gproc_t *proc_get(ioasid_virt_t *v, uint32_t pasid)
{
    gproc_t *gp = proc_find(v, pasid);
    if (gp)
        return gp;
    if ((v->nprocs + 1) * 2 > v->nproc_slots && procs_grow(v))
        return NULL;
    int domain = ioasid_host_alloc_domain(v->host);
    if (domain < 0)
        return NULL;
    gp = calloc(1, sizeof(*gp));
    if (!gp)
        return NULL;
    gp->v = v;
    gp->pasid = pasid;
    gp->ioasid = ++v->next_ioasid;
    gp->domain = (uint16_t)domain;
    if (iommu_pt_init_guest(&gp->s1, v->guest,
                            (unsigned)iommu_config(v->iommu)->levels)) {
        free(gp);
        return NULL;
    }
    *proc_slot(v, pasid) = gp;
    v->nprocs++;
    return gp;
}

static void proc_destroy(gproc_t *gp)
{
    vma_set_fini(&gp->vmas);
    free(gp->att);
    free(gp);
}

static bool attached(const gproc_t *gp, const vdev_t *d)
{
    for (size_t i = 0; i < gp->natt; i++)
        if (gp->att[i] == d)
            return true;
    return false;
}

/* Attach device d to process gp: its PASID entry becomes nested (guest
 * stage 1 on the VM's stage 2) with PRI enabled. */
static int attach(ioasid_virt_t *v, gproc_t *gp, vdev_t *d)
{
    if (attached(gp, d))
        return 0;
    if (gp->natt == gp->att_cap) {
        size_t c = gp->att_cap ? gp->att_cap * 2 : 4;
        vdev_t **a = realloc(gp->att, c * sizeof(*a));
        if (!a)
            return -ENOMEM;
        gp->att = a;
        gp->att_cap = c;
    }
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_NESTED,
                             .domain = gp->domain,
                             .s2_domain = v->s2_domain,
                             .s1 = gp->s1,
                             .s2 = *iommu_guest_s2(v->guest),
                             .pri = true};
    int rc = ioasid_host_bind_guest(v->host, gp, d->rid, gp->pasid, &e);
    if (rc)
        return rc;
    gp->att[gp->natt++] = d;
    return 0;
}

bool ioasid_virt_attached(ioasid_virt_t *v, unsigned dev, uint32_t pasid)
{
    gproc_t *gp = proc_find(v, pasid);
    return gp && dev < v->ndevs && attached(gp, &v->devs[dev]);
}

int ioasid_virt_map(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                    uint64_t va, uint64_t len, uint64_t perm, bool present)
{
    if (dev >= v->ndevs)
        return -ENODEV;
    gproc_t *gp = proc_get(v, pasid);
    if (!gp)
        return -ENOMEM;
    int rc = attach(v, gp, &v->devs[dev]);
    if (rc)
        return rc;
    if (!vma_range_ok(gp->s1.levels, va, len))
        return -EINVAL;
    const vma_t *m = NULL;
    rc = vma_set_add(&gp->vmas, (vma_t){va, va + len, perm}, &m);
    if (rc == -EEXIST)
        /* The same mapping again from another device only attaches it. */
        return m->start == va && m->end == va + len && m->perm == perm
                   ? 0
                   : -EEXIST;
    if (rc || !present)
        return rc;
    for (uint64_t off = 0; off < len; off += IOMMU_PAGE_SIZE) {
        uint64_t gpa = v->gpa_next < v->gpa_end ? v->gpa_next : 0;
        if (!gpa)
            return -ENOSPC;
        v->gpa_next += IOMMU_PAGE_SIZE;
        rc = iommu_pt_map(&gp->s1, va + off, gpa, IOMMU_PAGE_SHIFT,
                          perm | IOMMU_PTE_U);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------- unmap */

typedef struct vunmap {
    ioasid_virt_t *v;
    gproc_t *gp;
    uint64_t va, len;
    sim_time_t start;
} vunmap_t;

static void vunmap_done(void *opaque)
{
    vunmap_t *u = opaque;
    sim_hist_add(u->v->s.unmap_latency, sim_now(u->v->sim) - u->start);
    free(u);
}

/* The guest's invalidation has reached the host: the host invalidates the
 * IOTLB and the devices' ATCs through its queue. */
static void ev_vunmap(sim_t *sim, void *opaque, uint64_t arg)
{
    vunmap_t *u = opaque;
    gproc_t *gp = u->gp;
    mm_binding_t *b = calloc(gp->natt ? gp->natt : 1, sizeof(*b));
    for (size_t i = 0; b && i < gp->natt; i++)
        b[i] = (mm_binding_t){gp->att[i]->rid, gp->pasid};
    if (!b || ioasid_host_invalidate(u->v->host, gp->domain, b, gp->natt,
                                     u->va, u->len, vunmap_done, u)) {
        sim_logf(sim_log(sim), SIM_LOG_ERROR, "guest: out of memory");
        sim_stop(sim);
        free(u);
    }
    free(b);
}

int ioasid_virt_unmap(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                      uint64_t va, uint64_t len)
{
    gproc_t *gp = proc_find(v, pasid);
    if (!gp || dev >= v->ndevs || !attached(gp, &v->devs[dev]))
        return -ENOENT;
    if (!vma_range_ok(gp->s1.levels, va, len))
        return -EINVAL;
    if (vma_set_remove(&gp->vmas, va, va + len))
        return -ENOMEM;
    int rc = iommu_pt_unmap(&gp->s1, va, len, NULL, NULL);
    if (rc)
        return rc;
    vunmap_t *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    *u = (vunmap_t){v, gp, va, len, sim_now(v->sim)};
    v->s.unmaps->value++;
    /* Guest invalidation -> VM exit -> VMM -> cache-invalidate ioctl. */
    sim_schedule(v->sim, sim_dist_draw(&v->cfg.inv, &v->rng), ev_vunmap, u, 0);
    return 0;
}

/* ------------------------------------------------------------ detach */

int ioasid_virt_detach(ioasid_virt_t *v, unsigned dev, uint32_t pasid)
{
    gproc_t *gp = proc_find(v, pasid);
    if (!gp || dev >= v->ndevs || !attached(gp, &v->devs[dev]))
        return -ENOENT;
    vdev_t *d = &v->devs[dev];
    /* Records not yet read are answered Invalid and dropped; those the
     * VMM or the guest hold are answered Invalid now and their later
     * responses are stale (iommufd_auto_response_faults, section 5b
     * item 8). */
    vfault_t **pp = &v->ring_head, *prev = NULL;
    while (*pp) {
        vfault_t *vf = *pp;
        if (vf->pdev == d && vf->proc == gp) {
            *pp = vf->next;
            if (v->ring_tail == vf)
                v->ring_tail = prev;
            v->ring_n--;
            ioasid_host_respond(v->host, vf->g, PCIE_PRG_INVALID);
            v->s.detached->value++;
            virt_vfault_free(v, vf);
        } else {
            prev = vf;
            pp = &vf->next;
        }
    }
    for (vfault_t *vf = v->live; vf; vf = vf->lnext) {
        if (vf->pdev == d && vf->proc == gp && vf->id && vf->g) {
            ioasid_host_respond(v->host, vf->g, PCIE_PRG_INVALID);
            vf->g = NULL;
            vf->id = 0;
            v->s.detached->value++;
        }
    }
    for (size_t i = 0; i < gp->natt; i++)
        if (gp->att[i] == d) {
            gp->att[i] = gp->att[--gp->natt];
            break;
        }
    return ioasid_host_unbind(v->host, d->rid, pasid);
}

/* ------------------------------------------------- nested fault class */

bool ioasid_virt_s2_fault(ioasid_virt_t *v, const struct gproc *gp,
                          uint64_t addr, uint64_t *gpa)
{
    iommu_walk_t w;
    iommu_pt_walk(&gp->s1, addr & ~(IOMMU_PAGE_SIZE - 1), &w);
    if (w.outcome != IOMMU_WALK_OK)
        return false; /* stage 1: the guest's */
    uint64_t hpa;
    *gpa = w.pa & ~(IOMMU_PAGE_SIZE - 1);
    return iommu_guest_to_host(v->guest, *gpa, &hpa) != 0;
}

int ioasid_virt_s2_fill(ioasid_virt_t *v, uint64_t gpa)
{
    uint64_t hpa;
    if (iommu_guest_to_host(v->guest, gpa, &hpa) == 0)
        return 0;
    v->s.s2_faults->value++;
    return iommu_guest_back(v->guest, gpa & ~(IOMMU_PAGE_SIZE - 1),
                            IOMMU_PAGE_SIZE,
                            IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X,
                            IOMMU_PAGE_SHIFT);
}

/* --------------------------------------------------------- lifecycle */

static int virt_stats(ioasid_virt_t *v, sim_stats_t *st)
{
#define C(field, name, d, unit)                                                \
    if (!(v->s.field = sim_stats_counter(st, name, d, unit)))                  \
        return -ENOMEM;
    C(faults, "ioasid.faults", "guest-owned fault groups reported", "groups");
    C(ring_overflow, "ioasid.ring_overflow",
      "groups that found the fault ring full (answered per "
      "ioasid.ring_overflow)", "groups");
    C(signals, "ioasid.eventfd.signals", "eventfd signals that woke the VMM",
      "signals");
    C(coalesced, "ioasid.eventfd.coalesced",
      "eventfd signals merged into a pending one", "signals");
    C(responses, "ioasid.responses", "responses completed by the VMM",
      "responses");
    C(resp_unknown, "ioasid.resp_unknown",
      "responses for a fault no longer pending (EINVAL)", "responses");
    C(detached, "ioasid.detached",
      "pending faults answered Invalid by a detach", "groups");
    C(reads, "vmm.reads", "reads of the fault queue", "reads");
    C(records, "vmm.records", "records routed", "records");
    C(injected, "vmm.injected", "requests injected into the guest",
      "requests");
    C(queue_full, "vmm.guest_queue_full",
      "records answered Success because the guest queue was full",
      "records");
    C(guest_faults, "guest.mm.faults", "pages fixed by the guest mm",
      "pages");
    C(guest_invalid, "guest.mm.invalid",
      "groups the guest answered Invalid", "groups");
    C(s2_faults, "vm.s2_faults", "guest pages backed by the host on a fault",
      "pages");
    C(bg_jobs, "guest.background_jobs", "background jobs run on the vCPUs",
      "jobs");
    C(halted_wakes, "guest.halted_wakes",
      "virtual interrupts that found every vCPU halted", "interrupts");
    C(unmaps, "guest.unmap.count", "guest unmaps with invalidation",
      "unmaps");
#undef C
    v->s.ring_occ = sim_stats_gauge(st, "ioasid.ring.occupancy",
                                    "records in the fault ring", "records");
    v->s.unmap_latency = sim_stats_hist(
        st, "guest.unmap.latency",
        "guest unmap: guest invalidation, VMM, host queue, until done", "ps");
    return v->s.ring_occ && v->s.unmap_latency ? 0 : -ENOMEM;
}

ioasid_virt_t *ioasid_virt_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_virt_cfg_t *cfg,
                                  ioasid_host_t *host, iommu_t *iommu,
                                  const uint16_t *rids, unsigned ndevs,
                                  uint64_t seed)
{
    ioasid_virt_t *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->sim = sim;
    v->cfg = *cfg;
    v->host = host;
    host->virt = v;
    v->iommu = iommu;
    sim_rng_seed(&v->rng, seed, "vm");
    sim_pool_init(&v->vfaults, sizeof(vfault_t), 256);
    sim_pool_init(&v->vjobs, sizeof(vjob_t), 256);
    unsigned levels = (unsigned)iommu_config(iommu)->levels;
    v->guest = iommu_guest_create(iommu_memory(iommu), levels, 21);
    int s2dom = ioasid_host_alloc_domain(host);
    if (!v->guest || s2dom < 0)
        goto fail;
    v->s2_domain = (uint16_t)s2dom;
    uint64_t base = iommu_guest_reserve(v->guest, cfg->memory, 1ull << 30);
    if (!base)
        goto fail;
    v->gpa_next = base;
    v->gpa_end = base + cfg->memory;
    /* VFIO pins (backs) all guest memory at start unless on demand. */
    if (!cfg->s2_on_demand &&
        iommu_guest_back(v->guest, base, cfg->memory,
                         IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X, 30))
        goto fail;
    v->ndevs = ndevs;
    v->devs = calloc(ndevs ? ndevs : 1, sizeof(*v->devs));
    if (!v->devs || virt_stats(v, st) || virt_guest_init(v, st))
        goto fail;
    for (unsigned i = 0; i < ndevs; i++) {
        v->devs[i].index = i;
        v->devs[i].rid = rids[i];
        v->devs[i].vrid = (uint16_t)(0x0008 + 8 * i); /* 00:01.0, 00:02.0 */
        if (cfg->routing == IOASID_ROUTE_VPRI) {
            char name[64];
            snprintf(name, sizeof(name), "guest.vpri%u", i);
            v->devs[i].vpri = calloc(1, sizeof(gq_t));
            if (!v->devs[i].vpri ||
                virt_gq_init(v, v->devs[i].vpri, st, name))
                goto fail;
        }
    }
    return v;
fail:
    sim_logf(sim_log(sim), SIM_LOG_ERROR, "cannot build the VM: out of memory "
                                          "or guest memory too large");
    ioasid_virt_destroy(v);
    return NULL;
}

void ioasid_virt_destroy(ioasid_virt_t *v)
{
    if (!v)
        return;
    if (v->host->virt == v)
        v->host->virt = NULL;
    virt_guest_fini(v);
    for (unsigned i = 0; v->devs && i < v->ndevs; i++)
        free(v->devs[i].vpri);
    free(v->devs);
    for (size_t i = 0; i < v->nproc_slots; i++)
        if (v->procs[i])
            proc_destroy(v->procs[i]);
    free(v->procs);
    iommu_guest_destroy(v->guest);
    sim_pool_fini(&v->vfaults);
    sim_pool_fini(&v->vjobs);
    free(v);
}
