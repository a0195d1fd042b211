/*
 * vm.c - the virtual machine object: its memory (stage 2), its assigned
 * devices, its processes (IOASIDs nested on the VM's stage 2) and what the
 * trace does to them (map, unmap, detach), and the fault handler it
 * installs on each (device, PASID) binding. host.nested_faults = linux:
 * every fault goes to the FAULT object in the host handler thread's
 * context (iommufd's handler has no workqueue hop:
 * drivers/iommu/iommufd/fault.c: iommufd_fault_iopf_handler), and a
 * stage-2 problem is fixed by the VMM after the guest answered (the
 * stage-2 port, vmm.h). classify: a stage-2 fault (a guest page-table
 * frame on the walk's path, or the page the guest's stage 1 translates
 * the address to, not backed by the host) is host work, like the host's
 * own, told apart by a free software walk of the guest's stage 1.
 * With vm.s2_on_demand the guest's table frames are backed on first use
 * too (iommu_guest_set_tables_on_demand).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/veventq.h"
#include "ioasid/vm.h"

/* A guest process and its VM (the binding handler's data). */
typedef struct vproc {
    ioasid_gproc_t gp;
    ioasid_virt_t *v;
    unsigned detaching; /* teardowns of its bindings in progress */
} vproc_t;

typedef struct vunmap vunmap_t;

struct ioasid_virt {
    sim_t *sim;
    ioasid_host_t *host;
    iommu_t *iommu;
    ioasid_virt_cfg_t cfg;
    sim_rng_t rng; /* shared by the VM's units, in event order */

    ioasid_fault_t *fault;
    ioasid_guest_t *guest;
    ioasid_vmm_t *vmm;
    ioasid_veventq_t *veventq; /* SMMUv3: the VM's device events */
    sim_rng_t ev_rng;          /* its own stream: events draw nothing else */

    /* guest memory */
    iommu_guest_t *gmem;
    uint64_t mem_base, mem_end; /* guest memory: [mem_base, mem_end) */
    uint16_t s2_domain;
    unsigned table_shift; /* log2 of a guest table chunk (its stage-2 leaf) */
    unsigned next_ioasid;

    ioasid_vdev_t *devs;
    unsigned ndevs;
    vproc_t **procs; /* indexed by PASID through a small open table */
    size_t nproc_slots, nprocs;
    vunmap_t *vunmaps;        /* unmaps whose invalidation is pending */
    struct vdetach *detaches; /* detaches whose teardown is pending */

    struct {
        sim_counter_t *s2_faults, *unmaps;
        sim_hist_t *unmap_latency;
    } s;
};

static const char *const s2_page_names[] = {"4K", "2M", "1G", NULL};

/* log2 of the stage-2 leaf of guest memory (vm.s2_page). */
static unsigned s2_shift(const ioasid_virt_t *v)
{
    return IOMMU_PAGE_SHIFT + 9 * v->cfg.s2_page;
}

#define F(x) offsetof(ioasid_virt_cfg_t, x)
const sim_param_t ioasid_vm_params[] = {
    {"vm", "devices", SIM_PARAM_STRING, "", 0, 0, "",
     "devices assigned to the VM, whose PASIDs are then guest processes on "
     "nested translation: a list of device names (nic0) and device classes "
     "(nic: all its devices), or a number N: the first N devices; empty or "
     "0: no VM (native SVA only). Devices no VM lists are native",
     NULL, F(devices)},
    {"vm", "memory", SIM_PARAM_UINT, "4G", 1u << 20, 1ull << 40, "bytes",
     "guest physical memory for the guest processes' pages", NULL, F(memory)},
    {"vm", "s2_on_demand", SIM_PARAM_BOOL, "false", 0, 0, "",
     "the host backs guest memory, its page-table frames included, on "
     "first use (a stage-2 fault) instead of all at VM start as VFIO pins "
     "it",
     NULL, F(s2_on_demand)},
    {"vm", "s2_page", SIM_PARAM_ENUM, "1G", 0, 0, "",
     "stage-2 page size of guest memory: the leaves VFIO maps it with "
     "(1G: hugetlbfs 1 GiB backing; 4K: no huge pages); the guest's page "
     "tables sit in 2 MiB chunks, so their stage-2 leaves are at most 2M",
     s2_page_names, F(s2_page)},
};
#undef F
const unsigned ioasid_vm_nparams =
    sizeof(ioasid_vm_params) / sizeof(ioasid_vm_params[0]);

/* ------------------------------------------------------------ devices */

static ioasid_vdev_t *vm_dev(ioasid_virt_t *v, uint16_t rid)
{
    for (unsigned i = 0; i < v->ndevs; i++)
        if (v->devs[i].rid == rid)
            return &v->devs[i];
    return NULL;
}

/* ---------------------------------------------------- the fault handler */

static sim_time_t vm_iopf_handler(void *data, ioasid_iopf_group_t *g);

/* Most GPAs one nested walk needs in stage 2: the guest's tables on the
 * path (at most 5 levels) and the data page. */
#define S2_PATH_MAX 6

/*
 * The GPAs a nested walk of addr in gp needs that stage 2 does not map,
 * one per stage-2 page to back: the guest's page-table frames on the
 * walk's path (the IOMMU reports a missing one as a stage-2 fault on a
 * first-stage table access: VT-d 3.8, SMMUv3 "S2 fault on stage-1 table
 * walk", CLASS = TT) and the data page when the guest's stage 1
 * translates addr (else the fault is stage 1: the guest's). Frames of one
 * table chunk share its stage-2 leaf. Returns how many (0: no stage-2
 * fault).
 */
static unsigned s2_missing(ioasid_virt_t *v, const ioasid_gproc_t *gp,
                           uint64_t addr, uint64_t *gpa)
{
    uint64_t path[S2_PATH_MAX], hpa;
    addr &= ~(IOMMU_PAGE_SIZE - 1);
    unsigned np = iommu_guest_table_path(&gp->s1, addr, path, S2_PATH_MAX - 1);
    iommu_walk_t w;
    iommu_pt_walk(&gp->s1, addr, &w);
    if (w.outcome == IOMMU_WALK_OK)
        path[np++] = w.pa & ~(IOMMU_PAGE_SIZE - 1);
    unsigned n = 0;
    for (unsigned i = 0; i < np; i++) {
        if (iommu_guest_to_host(v->gmem, path[i], &hpa) == 0)
            continue;
        bool dup = false;
        for (unsigned k = 0; k < n && !dup; k++)
            dup = path[i] >> v->table_shift == gpa[k] >> v->table_shift;
        if (!dup)
            gpa[n++] = path[i];
    }
    return n;
}

/* Back the guest page at gpa (the host's stage-2 fault handling): a
 * guest table's chunk (one stage-2 leaf over the frames the guest wrote
 * its tables in), else one stage-2 page of vm.s2_page inside guest
 * memory. */
static int s2_fill(ioasid_virt_t *v, uint64_t gpa)
{
    uint64_t hpa;
    if (iommu_guest_to_host(v->gmem, gpa, &hpa) == 0)
        return 0;
    v->s.s2_faults->value++;
    int rc = iommu_guest_back_table(v->gmem, gpa);
    if (rc != -ENOENT)
        return rc;
    uint64_t size = 1ull << s2_shift(v);
    uint64_t lo = gpa & ~(size - 1), hi = lo + size;
    if (lo < v->mem_base || hi > v->mem_end) {
        /* Guest memory is reserved 1 GiB-aligned, so only a size that
         * does not divide it cuts a page: back the 4 KiB page. */
        lo = gpa & ~(IOMMU_PAGE_SIZE - 1);
        hi = lo + IOMMU_PAGE_SIZE;
    }
    return iommu_guest_back(v->gmem, lo, hi - lo,
                            IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X,
                            s2_shift(v));
}

/* Whether (rid, pasid) is still bound to vp (else it was detached while
 * its group waited: answered Invalid, as iopf_queue_remove_device does). */
static bool still_bound(const vproc_t *vp, const ioasid_iopf_group_t *g)
{
    void *data;
    return ioasid_host_handler(vp->v->host, g->last->desc.rid,
                               g->last->desc.pasid, &data) == vm_iopf_handler &&
           data == vp;
}

/* Back every stage-2 page a nested walk of addr still misses (tables
 * and data page, s2_missing); returns how many, or -1 if one failed. */
static int s2_fix_walk(ioasid_virt_t *v, const ioasid_gproc_t *gp,
                       uint64_t addr)
{
    uint64_t gpa[S2_PATH_MAX];
    unsigned n = s2_missing(v, gp, addr, gpa);
    for (unsigned i = 0; i < n; i++)
        if (s2_fill(v, gpa[i]))
            return -1;
    return (int)n;
}

/* A worker backed (or not) the stage-2 pages of g's walk. */
static void s2_work_done(void *opaque, ioasid_iopf_group_t *g)
{
    vproc_t *vp = opaque;
    uint8_t code = PCIE_PRG_INVALID;
    if (still_bound(vp, g))
        code = s2_fix_walk(vp->v, &vp->gp, g->last->desc.addr) < 0
                   ? PCIE_PRG_INVALID
                   : PCIE_PRG_SUCCESS;
    ioasid_host_respond(vp->v->host, g, code);
}

/* The VMM's stage-2 port (host.nested_faults = linux): after the guest
 * answered, back in the host every stage-2 page the walks of rec's group
 * still miss: the guest's page-table frames on each walk and the pages
 * the guest's stage 1 maps (QEMU faults in the RAM block and maps it in
 * the IOAS). Returns how many it backed. */
static unsigned vmm_s2_fix(void *opaque, ioasid_fault_rec_t *rec)
{
    ioasid_virt_t *v = opaque;
    const ioasid_gproc_t *gp = rec->ioas;
    unsigned n = 0;
    for (const ioasid_iopf_fault_t *f = rec->g->faults; f; f = f->next) {
        int k = s2_fix_walk(v, gp, f->desc.addr);
        if (k > 0)
            n += (unsigned)k;
    }
    return n;
}

/* A stall event of a nested binding: not forwarded to the guest (the
 * model's choice), answered Invalid after the host's iopf work. */
static void stall_work_done(void *opaque, ioasid_iopf_group_t *g)
{
    vproc_t *vp = opaque;
    ioasid_host_respond(vp->v->host, g, PCIE_PRG_INVALID);
}

/* The VM's fault handler (the binding's domain->iopf_handler). */
static sim_time_t vm_iopf_handler(void *data, ioasid_iopf_group_t *g)
{
    vproc_t *vp = data;
    ioasid_virt_t *v = vp->v;
    ioasid_host_t *h = v->host;
    if (g->stall) {
        g->resp_stage = SIM_SPAN_NO_STAGE;
        sim_time_t cost = ioasid_host_draw(h, IOASID_HOST_IOPF);
        cost = sim_time_add(cost, ioasid_host_draw(h, IOASID_HOST_QI_SUBMIT));
        ioasid_host_queue(h, g, cost, stall_work_done, vp);
        return 0;
    }
    uint64_t gpa[S2_PATH_MAX];
    unsigned n;
    /* vmm.routing = hwviommu: the vIOMMU sent the guest's own requests to
     * the guest's PPR log; what reaches the host is a stage-2 fault, the
     * host's work (vlog_host). */
    bool hw = v->cfg.routing == IOASID_ROUTE_HWVIOMMU;
    /* host.nested_faults = linux: the host does not look inside the
     * guest; every group of a nested domain goes to the FAULT object
     * (drivers/iommu/iommufd/fault.c: iommufd_fault_iopf_handler, the
     * handler iommufd installs for a fault-capable nested HWPT;
     * io-pgfault.c: iommu_handle_iopf). classify: the model's old shortcut,
     * a free software walk of the guest's stage 1 sends stage-2 faults to
     * the host's workers. */
    if ((hw || ioasid_host_nested_faults(h) == IOASID_NESTED_CLASSIFY) &&
        ((n = s2_missing(v, &vp->gp, g->last->desc.addr, gpa)) > 0 || hw)) {
        /* The host's own: the iopf work, backing each missing stage-2
         * page of the walk (tables, data), the response. */
        sim_time_t cost = ioasid_host_draw(h, IOASID_HOST_IOPF);
        for (unsigned i = 0; i < n; i++)
            cost =
                sim_time_add(cost, ioasid_host_draw(h, IOASID_HOST_MM_MINOR));
        cost = sim_time_add(cost, ioasid_host_draw(h, IOASID_HOST_QI_SUBMIT));
        ioasid_host_queue(h, g, cost, s2_work_done, vp);
        return 0;
    }
    ioasid_host_note_user_group(h);
    return ioasid_fault_report(v->fault, g, vm_dev(v, g->last->desc.rid),
                               &vp->gp);
}

/* hwviommu: whether page request m of a VM device is the host's, a
 * stage-2 fault (s2_missing: the guest's stage 1 translates the address,
 * or a table of its walk, to a GPA the host has not backed). The model
 * assumes [I] that the vIOMMU tells them apart when it takes the request,
 * as its nested walk would: AMD's HW-vIOMMU RFC (Suravee
 * Suthikulpanit, 2023-06-21) leaves the guest PPR log "work in progress",
 * so nothing public says how it is done. */
static vproc_t *proc_find(const ioasid_virt_t *v, uint32_t pasid);
static bool attached(const ioasid_gproc_t *gp, const ioasid_vdev_t *d);

static bool vlog_host(void *opaque, const pcie_msg_t *m)
{
    ioasid_virt_t *v = opaque;
    uint32_t pasid = m->pasid & (PCIE_PASID_MAX - 1);
    vproc_t *vp = (m->flags & PCIE_F_PASID) ? proc_find(v, pasid) : NULL;
    uint64_t gpa[S2_PATH_MAX];
    return vp && s2_missing(v, &vp->gp, m->addr, gpa) > 0;
}

/* hwviommu: the guest process of a request read from the guest's log. */
static ioasid_gproc_t *vlog_proc(void *opaque, uint16_t rid, uint32_t pasid)
{
    ioasid_virt_t *v = opaque;
    vproc_t *vp = proc_find(v, pasid);
    ioasid_vdev_t *d = vm_dev(v, rid);
    return vp && d && attached(&vp->gp, d) ? &vp->gp : NULL;
}

/* ---------------------------------------------------------- processes */

static vproc_t **proc_slot(const ioasid_virt_t *v, uint32_t pasid)
{
    size_t mask = v->nproc_slots - 1;
    size_t i = (size_t)(((uint64_t)pasid * 0x9e3779b97f4a7c15ull) >> 20) & mask;
    while (v->procs[i] && v->procs[i]->gp.pasid != pasid)
        i = (i + 1) & mask;
    return &v->procs[i];
}

static vproc_t *proc_find(const ioasid_virt_t *v, uint32_t pasid)
{
    return v->nproc_slots ? *proc_slot(v, pasid) : NULL;
}

/* Double the open-addressing table (rehashing every slot). */
static int procs_grow(ioasid_virt_t *v)
{
    size_t n = v->nproc_slots ? v->nproc_slots * 2 : 64;
    vproc_t **old = v->procs;
    size_t oldn = v->nproc_slots;
    v->procs = calloc(n, sizeof(*v->procs));
    if (!v->procs) {
        v->procs = old;
        return -ENOMEM;
    }
    v->nproc_slots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i])
            *proc_slot(v, old[i]->gp.pasid) = old[i];
    free(old);
    return 0;
}

/* The guest process of `pasid`, created (an empty stage-1 IOASID) if
 * needed. */
static vproc_t *proc_get(ioasid_virt_t *v, uint32_t pasid)
{
    vproc_t *vp = proc_find(v, pasid);
    if (vp)
        return vp;
    if ((v->nprocs + 1) * 2 > v->nproc_slots && procs_grow(v))
        return NULL;
    vp = calloc(1, sizeof(*vp));
    if (!vp)
        return NULL;
    vp->v = v;
    vp->gp.pasid = pasid;
    vp->gp.ioasid = ++v->next_ioasid;
    if (iommu_pt_init_guest(&vp->gp.s1, v->gmem,
                            (unsigned)iommu_config(v->iommu)->levels)) {
        free(vp);
        return NULL;
    }
    *proc_slot(v, pasid) = vp;
    v->nprocs++;
    return vp;
}

static void proc_destroy(vproc_t *vp)
{
    ioasid_vma_set_fini(&vp->gp.vmas);
    free(vp->gp.att);
    free(vp);
}

static bool attached(const ioasid_gproc_t *gp, const ioasid_vdev_t *d)
{
    for (size_t i = 0; i < gp->natt; i++)
        if (gp->att[i] == d)
            return true;
    return false;
}

/*
 * The process's last device is torn down: its I/O address space dies with
 * it, as a native one does with its last binding (mm.c: mm_release; Linux
 * frees the nested domain with its last detach, intel/iommu.c
 * domain_detach_iommu, and the guest frees the process's page tables with
 * its mm, mm/mmap.c: exit_mmap -> free_pgtables). Its stage-1 table
 * frames go back to the guest's table allocator and its mappings are
 * forgotten; a later attach starts from an empty table. Nothing walks the
 * table meanwhile: every fault of the process still pending was answered
 * by the teardown (its records carry no cookie, so the guest skips them).
 * The leaves' pages are guest memory, not freed here.
 */
static void proc_release(ioasid_gproc_t *gp)
{
    iommu_pt_destroy(&gp->s1);
    ioasid_vma_set_fini(&gp->vmas);
}

/* Attach device d to process vp: its PASID entry becomes nested (guest
 * stage 1 on the VM's stage 2) with PRI enabled, and the binding carries
 * the VM's fault handler. */
static int attach(ioasid_virt_t *v, vproc_t *vp, ioasid_vdev_t *d)
{
    ioasid_gproc_t *gp = &vp->gp;
    if (attached(gp, d))
        return 0;
    if (SIM_GROW(gp->att, gp->att_cap, gp->natt + 1, 4))
        return -ENOMEM;
    if (!gp->s1.root &&
        iommu_pt_init_guest(&gp->s1, v->gmem, (unsigned)gp->s1.levels))
        return -ENOMEM; /* a new address space after proc_release */
    if (!gp->domain) {
        /* Its first device since it had none: a domain id again (see
         * vdetach_unbound). */
        int domain = ioasid_host_alloc_domain(v->host);
        if (domain < 0)
            return domain == -ENOSPC ? IOASID_NO_DOMAIN : domain;
        gp->domain = (uint16_t)domain;
    }
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_NESTED,
                             .domain = gp->domain,
                             .s2_domain = v->s2_domain,
                             .s1 = gp->s1,
                             .s2 = *iommu_guest_s2(v->gmem),
                             .pri = true};
    int rc =
        ioasid_host_bind(v->host, d->rid, gp->pasid, &e, vm_iopf_handler, vp);
    if (rc)
        return rc;
    gp->att[gp->natt++] = d;
    return 0;
}

bool ioasid_virt_attached(ioasid_virt_t *v, unsigned dev, uint32_t pasid)
{
    vproc_t *vp = proc_find(v, pasid);
    return vp && dev < v->ndevs && attached(&vp->gp, &v->devs[dev]);
}

int ioasid_virt_map_pages(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                          uint64_t va, uint64_t len, uint64_t perm,
                          bool present, unsigned shift)
{
    if (dev >= v->ndevs)
        return -ENODEV;
    if (shift != 12 && shift != 21 && shift != 30)
        return -EINVAL;
    uint64_t size = 1ull << shift;
    vproc_t *vp = proc_get(v, pasid);
    if (!vp)
        return -ENOMEM;
    ioasid_gproc_t *gp = &vp->gp;
    int rc = attach(v, vp, &v->devs[dev]);
    if (rc)
        return rc;
    if (!ioasid_vma_range_ok(gp->s1.levels, va, len) ||
        ((va | len) & (size - 1)))
        return -EINVAL;
    const ioasid_vma_t *m = NULL;
    rc = ioasid_vma_set_add(&gp->vmas,
                            (ioasid_vma_t){va, va + len, perm, shift}, &m);
    if (rc == -EEXIST)
        /* The same mapping again from another device only attaches it. */
        return m->start == va && m->end == va + len && m->perm == perm &&
                       ioasid_vma_shift(m) == shift
                   ? 0
                   : -EEXIST;
    if (rc || !present)
        return rc;
    /* The guest's stage-1 leaves have the mapping's page size. */
    for (uint64_t off = 0; off < len; off += size) {
        uint64_t gpa = ioasid_guest_gpa_alloc_pages(v->guest, shift);
        if (!gpa)
            return -ENOSPC;
        rc = iommu_pt_map(&gp->s1, va + off, gpa, shift, perm | IOMMU_PTE_U);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------- unmap */

/* An unmap whose invalidation is pending (on the VM's list). */
struct vunmap {
    vunmap_t *next, **pprev;
    ioasid_virt_t *v;
    vproc_t *vp;
    uint64_t va, len;
    sim_time_t start;
};

static void vunmap_free(vunmap_t *u)
{
    *u->pprev = u->next;
    if (u->next)
        u->next->pprev = u->pprev;
    free(u);
}

static void vunmap_done(void *opaque)
{
    vunmap_t *u = opaque;
    sim_hist_add(u->v->s.unmap_latency, sim_now(u->v->sim) - u->start);
    vunmap_free(u);
}

/* The guest's invalidation has reached the host (trap: the VMM's ioctl,
 * then host.qi_submit) or the guest's hardware queue (hwqueue: submitted at
 * once): the IOMMU invalidates the IOTLB and the devices' ATCs. */
static void ev_vunmap(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    vunmap_t *u = opaque;
    const ioasid_gproc_t *gp = &u->vp->gp;
    ioasid_binding_t *b = calloc(gp->natt ? gp->natt : 1, sizeof(*b));
    for (size_t i = 0; b && i < gp->natt; i++)
        b[i] = (ioasid_binding_t){gp->att[i]->rid, gp->pasid};
    int (*inv)(ioasid_host_t *, uint16_t, const ioasid_binding_t *, size_t,
               uint64_t, uint64_t, iommu_done_fn, void *) =
        u->v->cfg.guest_inv == IOASID_GINV_HWQUEUE
            ? ioasid_host_invalidate_direct
            : ioasid_host_invalidate;
    if (!b || inv(u->v->host, gp->domain, b, gp->natt, u->va, u->len,
                  vunmap_done, u)) {
        sim_oom(sim, "guest");
        vunmap_free(u);
    }
    free(b);
}

int ioasid_virt_unmap(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                      uint64_t va, uint64_t len)
{
    vproc_t *vp = proc_find(v, pasid);
    if (!vp || dev >= v->ndevs || !attached(&vp->gp, &v->devs[dev]))
        return -ENOENT;
    ioasid_gproc_t *gp = &vp->gp;
    if (!ioasid_vma_range_ok(gp->s1.levels, va, len) ||
        !ioasid_vma_set_cut_ok(&gp->vmas, va, va + len))
        return -EINVAL;
    size_t first = ioasid_vma_set_index(&gp->vmas, va);
    if (first == gp->vmas.n || gp->vmas.v[first].start >= va + len)
        return IOASID_UNMAP_EMPTY; /* nothing mapped there */
    /* The leaf pages the guest driver invalidates, one command each
     * without range invalidation (a huge page is one: the granule is the
     * leaf size). */
    uint64_t pages = 0;
    for (size_t i = first; i < gp->vmas.n && gp->vmas.v[i].start < va + len;
         i++) {
        const ioasid_vma_t *m = &gp->vmas.v[i];
        uint64_t lo = m->start > va ? m->start : va;
        uint64_t hi = m->end < va + len ? m->end : va + len;
        pages += (hi - lo) >> ioasid_vma_shift(m);
    }
    if (ioasid_vma_set_remove(&gp->vmas, va, va + len))
        return -ENOMEM;
    int rc = iommu_pt_unmap(&gp->s1, va, len, NULL, NULL);
    if (rc)
        return rc;
    vunmap_t *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    *u = (vunmap_t){v->vunmaps, &v->vunmaps, v, vp, va, len, sim_now(v->sim)};
    if (v->vunmaps)
        v->vunmaps->pprev = &u->next;
    v->vunmaps = u;
    v->s.unmaps->value++;
    /* Guest invalidation -> VM exit -> VMM -> cache-invalidate ioctl per
     * command (trap), or the guest's writes to its hardware queue. */
    sim_schedule(v->sim,
                 ioasid_guest_inv_cost(
                     &v->cfg, ioasid_guest_inv_cmds(&v->cfg, pages), &v->rng),
                 ev_vunmap, u, 0);
    return 0;
}

/* ------------------------------------------------------------ detach */

/* A detach waiting for the host's teardown (on the VM's list, so a run
 * that stops meanwhile frees it). */
typedef struct vdetach {
    struct vdetach *next;
    ioasid_virt_t *v;
    ioasid_vdev_t *d;
    vproc_t *vp;
    ioasid_gproc_t *gp;
    ioasid_host_unbound_fn done;
    void *opaque;
} vdetach_t;

/* The host has torn the binding down: what the FAULT object still holds
 * for (dev, pasid) is answered Invalid (eventq.c:
 * iommufd_auto_response_faults, after iommu_detach_device_pasid). */
static void vdetach_unbound(void *opaque, uint16_t rid, uint32_t pasid)
{
    vdetach_t *x = opaque;
    for (vdetach_t **pp = &x->v->detaches; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    ioasid_fault_detach(x->v->fault, x->d, x->gp);
    /* The process's last device is gone: nothing is tagged with its
     * domain id any more (every teardown invalidated the PASID's IOTLB
     * entries), so the id goes back to the host for reuse (Linux frees
     * the nested domain's DID / ASID with the domain: intel/iommu.c
     * domain_detach_iommu -> ida_free). A later attach takes a new one. */
    if (--x->vp->detaching == 0 && x->gp->natt == 0 && x->gp->domain) {
        ioasid_host_free_domain(x->v->host, x->gp->domain);
        x->gp->domain = 0;
        proc_release(x->gp);
    }
    if (x->done)
        x->done(x->opaque, rid, pasid);
    free(x);
}

int ioasid_virt_detach(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                       ioasid_host_unbound_fn done, void *opaque)
{
    vproc_t *vp = proc_find(v, pasid);
    if (!vp || dev >= v->ndevs || !attached(&vp->gp, &v->devs[dev]))
        return -ENOENT;
    ioasid_gproc_t *gp = &vp->gp;
    ioasid_vdev_t *d = &v->devs[dev];
    vdetach_t *x = malloc(sizeof(*x));
    if (!x)
        return -ENOMEM;
    *x = (vdetach_t){v->detaches, v, d, vp, gp, done, opaque};
    v->detaches = x;
    int rc = ioasid_host_unbind(v->host, d->rid, pasid, vdetach_unbound, x);
    if (rc) {
        v->detaches = x->next;
        free(x);
        return rc;
    }
    vp->detaching++;
    for (size_t i = 0; i < gp->natt; i++)
        if (gp->att[i] == d) {
            gp->att[i] = gp->att[--gp->natt];
            break;
        }
    return 0;
}

/* --------------------------------------------------------- lifecycle */

static const sim_stat_def_t vm_s2_stats[] = {
    {SIM_STAT_COUNTER, "vm.s2_faults",
     "guest pages backed by the host on a fault", "pages",
     offsetof(ioasid_virt_t, s.s2_faults)},
};
static const sim_stat_def_t vm_unmap_stats[] = {
    {SIM_STAT_COUNTER, "guest.unmap.count", "guest unmaps with invalidation",
     "unmaps", offsetof(ioasid_virt_t, s.unmaps)},
};
static const sim_stat_def_t vm_unmap_lat_stats[] = {
    {SIM_STAT_HIST, "guest.unmap.latency",
     "guest unmap: guest invalidation, VMM, host queue, until done", "ps",
     offsetof(ioasid_virt_t, s.unmap_latency)},
};

/* Register every statistic of the VM's units, in the order of stats.txt. */
static int virt_stats(ioasid_virt_t *v, sim_stats_t *st)
{
    if (ioasid_fault_stats(v->fault, st) || ioasid_vmm_stats(v->vmm, st) ||
        ioasid_guest_mm_stats(v->guest, st) ||
        sim_stats_register(st, vm_s2_stats, 1, v) ||
        ioasid_guest_vcpu_stats(v->guest, st) ||
        sim_stats_register(st, vm_unmap_stats, 1, v) ||
        ioasid_fault_ring_stats(v->fault, st) ||
        sim_stats_register(st, vm_unmap_lat_stats, 1, v))
        return -ENOMEM;
    return 0;
}

/* An event of one of the VM's devices, from the host's event thread. */
static void vm_event(void *data, const iommu_fault_rec_t *r)
{
    ioasid_veventq_report(data, r);
}

ioasid_virt_t *ioasid_virt_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_virt_cfg_t *cfg,
                                  ioasid_host_t *host, iommu_t *iommu,
                                  const sim_spans_t *spans,
                                  const uint16_t *rids, unsigned ndevs,
                                  const char *name, uint64_t seed)
{
    ioasid_virt_t *v = calloc(1, sizeof(*v));
    char prefix[SIM_PARAM_STR_MAX + 8] = "vm";
    if (!v)
        goto fail;
    v->sim = sim;
    v->cfg = *cfg;
    v->host = host;
    v->iommu = iommu;
    /* A named VM draws from its own stream and prefixes its statistics
     * with vm.NAME.; the one VM of [vm] keeps the plain names. */
    if (name && *name)
        snprintf(prefix, sizeof(prefix), "vm.%s", name);
    sim_rng_seed(&v->rng, seed, prefix);
    v->fault = ioasid_fault_create(sim, cfg, host, &v->rng, spans);
    v->guest = v->fault ? ioasid_guest_create(sim, cfg, iommu, v->fault,
                                              &v->rng, spans)
                        : NULL;
    v->vmm = v->guest ? ioasid_vmm_create(sim, cfg, v->fault, v->guest, &v->rng,
                                          spans)
                      : NULL;
    if (!v->vmm)
        goto fail;
    if (ioasid_host_nested_faults(host) == IOASID_NESTED_LINUX)
        ioasid_vmm_set_s2_fix(v->vmm, vmm_s2_fix, v);
    unsigned levels = (unsigned)iommu_config(iommu)->levels;
    /* The guest's page tables take frames from 2 MiB chunks of GPA space,
     * each mapped by one stage-2 leaf: the stage-2 page size, at most the
     * chunk. */
    v->table_shift = s2_shift(v) < 21 ? s2_shift(v) : 21;
    v->gmem = iommu_guest_create(iommu_memory(iommu), levels, v->table_shift);
    int s2dom = ioasid_host_alloc_domain(host);
    if (!v->gmem || s2dom < 0)
        goto fail;
    /* Memory on demand is on demand for the guest's page tables too: the
     * IOMMU's first walk through a table frame takes a stage-2 fault. */
    iommu_guest_set_tables_on_demand(v->gmem, cfg->s2_on_demand);
    v->s2_domain = (uint16_t)s2dom;
    uint64_t base = iommu_guest_reserve(v->gmem, cfg->memory, 1ull << 30);
    if (!base)
        goto fail;
    ioasid_guest_set_memory(v->guest, base, base + cfg->memory);
    v->mem_base = base;
    v->mem_end = base + cfg->memory;
    /* VFIO pins (backs) all guest memory at start unless on demand, with
     * stage-2 leaves of vm.s2_page. */
    if (!cfg->s2_on_demand &&
        iommu_guest_back(v->gmem, base, cfg->memory,
                         IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X, s2_shift(v)))
        goto fail;
    v->ndevs = ndevs;
    v->devs = calloc(ndevs ? ndevs : 1, sizeof(*v->devs));
    if (name && *name) {
        strcat(prefix, ".");
        if (sim_stats_set_prefix(st, prefix))
            goto fail;
    }
    int err = !v->devs || virt_stats(v, st) || ioasid_guest_init(v->guest, st);
    for (unsigned i = 0; !err && i < ndevs; i++) {
        v->devs[i].index = i;
        v->devs[i].rid = rids[i];
        v->devs[i].vrid = (uint16_t)(0x0008 + 8 * i); /* 00:01.0, 00:02.0 */
        if (cfg->routing == IOASID_ROUTE_VPRI) {
            char qname[64];
            snprintf(qname, sizeof(qname), "guest.vpri%u", i);
            v->devs[i].vpri = ioasid_guest_queue_create(v->guest, st, qname);
            err |= !v->devs[i].vpri;
        }
    }
    if (!err && cfg->routing == IOASID_ROUTE_HWVIOMMU) {
        /* The guest's PPR log, written by the IOMMU for the VM's devices
         * (iommu.h: hardware vIOMMU). */
        uint64_t depth =
            cfg->ppr_log ? cfg->ppr_log : iommu_config(iommu)->prq_depth;
        iommu_vlog_t *l =
            iommu_vlog_create(iommu, st, "guest.ppr_log", depth, vlog_host, v);
        err = !l || ioasid_guest_attach_log(v->guest, l, vlog_proc, v);
        for (unsigned i = 0; !err && i < ndevs; i++)
            err = iommu_vlog_route(l, rids[i]) != 0;
    }
    if (!err && cfg->veventq_depth &&
        iommu_config(iommu)->arch == IOMMU_ARCH_SMMUV3) {
        /* The VMM allocates a vEVENTQ on its vIOMMU, and the host hands
         * it the events of the VM's devices (veventq.h). */
        char stream[SIM_PARAM_STR_MAX + 16];
        size_t pl = strlen(prefix);
        snprintf(stream, sizeof(stream), "%s%sveventq", prefix,
                 pl && prefix[pl - 1] == '.' ? "" : ".");
        sim_rng_seed(&v->ev_rng, seed, stream);
        v->veventq = ioasid_veventq_create(sim, st, cfg, &v->ev_rng);
        err = !v->veventq;
        for (unsigned i = 0; !err && i < ndevs; i++)
            err = ioasid_host_set_event_owner(host, rids[i], vm_event,
                                              v->veventq) != 0;
    }
    sim_stats_set_prefix(st, NULL);
    if (err)
        goto fail;
    return v;
fail:
    sim_logf(sim_log(sim), SIM_LOG_ERROR,
             "cannot build the VM: out of memory "
             "or guest memory too large");
    ioasid_virt_destroy(v);
    return NULL;
}

void ioasid_virt_destroy(ioasid_virt_t *v)
{
    if (!v)
        return;
    /* Bindings still carrying the VM's handler are left to the host's
     * teardown (it is destroyed after the VM, and runs no more events). */
    ioasid_vmm_destroy(v->vmm);
    ioasid_guest_destroy(v->guest);
    ioasid_fault_destroy(v->fault);
    ioasid_veventq_destroy(v->veventq);
    /* Unmaps whose invalidation the stopped run left pending. */
    while (v->vunmaps)
        vunmap_free(v->vunmaps);
    /* Detaches whose teardown the stopped run left pending. */
    while (v->detaches) {
        vdetach_t *x = v->detaches;
        v->detaches = x->next;
        free(x);
    }
    free(v->devs);
    for (size_t i = 0; i < v->nproc_slots; i++)
        if (v->procs[i])
            proc_destroy(v->procs[i]);
    free(v->procs);
    iommu_guest_destroy(v->gmem);
    free(v);
}

void ioasid_virt_start(ioasid_virt_t *v)
{
    ioasid_guest_start(v->guest);
}
