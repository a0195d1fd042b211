/*
 * mm.c - host address spaces: a sorted list of mappings (VMAs) and the
 * stage-1 I/O page table the IOMMU walks, and the native SVA fault
 * handler. A fault inside a mapping that allows the access populates the
 * page (a minor fault); anything else is answered Invalid, as the Linux
 * SVA handler does (drivers/iommu/iommu-sva.c: iommu_sva_handle_mm: no
 * vma, or an access the vma flags do not allow -> IOMMU_PAGE_RESP_INVALID).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/mm.h"
#include "ioasid/vma.h"

struct ioasid_mm {
    ioasid_host_t *host;
    ioasid_host_mm_stats_t *s;
    unsigned id;
    iommu_pt_t pt;
    ioasid_vma_set_t vmas;
    ioasid_binding_t *binds;
    size_t nbinds, binds_cap;
};

typedef struct unmap_op {
    ioasid_mm_t *mm;
    sim_time_t start;
} unmap_op_t;

static void mm_destroy(void *obj)
{
    ioasid_mm_t *mm = obj;
    ioasid_vma_set_fini(&mm->vmas);
    free(mm->binds);
    free(mm);
}

ioasid_mm_t *ioasid_mm_create(ioasid_host_t *h)
{
    ioasid_mm_t *mm = calloc(1, sizeof(*mm));
    if (!mm)
        return NULL;
    mm->host = h;
    mm->s = ioasid_host_mm_stats(h);
    int domain = ioasid_host_alloc_domain(h);
    if (domain < 0) {
        free(mm);
        return NULL;
    }
    mm->id = (unsigned)domain;
    iommu_t *u = ioasid_host_iommu(h);
    if (iommu_pt_init(&mm->pt, iommu_memory(u), iommu_config(u)->levels)) {
        free(mm);
        return NULL;
    }
    if (ioasid_host_own(h, mm, mm_destroy)) {
        mm_destroy(mm);
        return NULL;
    }
    return mm;
}

unsigned ioasid_mm_va_bits(const ioasid_mm_t *mm)
{
    return iommu_pt_va_bits(mm->pt.levels);
}

/* Populate one page with a fresh frame and the mapping's permission. */
static int populate(ioasid_mm_t *mm, uint64_t page, uint64_t perm)
{
    uint64_t pa = iommu_mem_alloc(mm->pt.mem, false);
    if (!pa)
        return -ENOMEM;
    return iommu_pt_map(&mm->pt, page, pa, IOMMU_PAGE_SHIFT,
                        perm | IOMMU_PTE_U);
}

int ioasid_mm_map(ioasid_mm_t *mm, uint64_t va, uint64_t len, uint64_t perm,
                  bool present)
{
    if (!ioasid_vma_range_ok(mm->pt.levels, va, len))
        return -EINVAL;
    int rc =
        ioasid_vma_set_add(&mm->vmas, (ioasid_vma_t){va, va + len, perm}, NULL);
    if (rc || !present)
        return rc;
    for (uint64_t off = 0; off < len; off += IOMMU_PAGE_SIZE) {
        rc = populate(mm, va + off, perm);
        if (rc)
            return rc;
    }
    return 0;
}

/* Whether handling a fault at addr needs mm work (page absent or a
 * permission to add), which costs a minor fault. */
static bool needs_fixup(const ioasid_mm_t *mm, uint64_t addr, unsigned flags)
{
    const ioasid_vma_t *v = ioasid_vma_set_find(&mm->vmas, addr);
    uint64_t need = ioasid_vma_need_perm(flags);
    if (!v || (need & ~v->perm))
        return false; /* answered Invalid without mm work */
    iommu_walk_t w;
    iommu_pt_walk(&mm->pt, addr, &w);
    return w.outcome != IOMMU_WALK_OK || (need & ~w.perm);
}

/* Handle a fault on the page of addr with PCIE_F_R/W/X flags: 0 when the
 * access is now allowed, -EFAULT when it never will be (Invalid). */
static int mm_fault(ioasid_mm_t *mm, uint64_t addr, unsigned flags)
{
    const ioasid_vma_t *v = ioasid_vma_set_find(&mm->vmas, addr);
    uint64_t need = ioasid_vma_need_perm(flags);
    if (!v || (need & ~v->perm)) {
        mm->s->bad_access->value++;
        return -EFAULT;
    }
    uint64_t page = addr & ~(IOMMU_PAGE_SIZE - 1);
    iommu_walk_t w;
    iommu_pt_walk(&mm->pt, page, &w);
    if (w.outcome != IOMMU_WALK_OK) {
        mm->s->minor->value++;
        return populate(mm, page, v->perm) ? -EFAULT : 0;
    }
    if (need & ~w.perm) {
        /* Present with less permission than the mapping allows: widen it.
         * No invalidation, as on x86 for a permission upgrade: an IOTLB
         * entry that does not grant an access is not used, the IOMMU reads
         * the tables again (iommu/walk.c), and a VT-d page request
         * invalidates its page anyway (VT-d rev 5.0 7.4.1: implicit
         * invalidation on a page request; QEMU hw/i386/intel_iommu.c:
         * vtd_pri_perform_implicit_invalidation). */
        mm->s->upgrades->value++;
        int rc = iommu_pt_protect(&mm->pt, page, IOMMU_PAGE_SIZE,
                                  v->perm | IOMMU_PTE_U);
        return rc ? -EFAULT : 0;
    }
    mm->s->spurious->value++;
    return 0;
}

/* ------------------------------------------------ native SVA handler */

static sim_time_t sva_handler(void *data, ioasid_iopf_group_t *g);

/* A worker finished the group: fix each page (errors are sticky), respond.
 * Unbound while it waited (a detach): answered Invalid, as
 * io-pgfault.c: iopf_queue_remove_device answers what is pending. */
static void sva_work_done(void *opaque, ioasid_iopf_group_t *g)
{
    ioasid_mm_t *mm = opaque;
    const ioasid_iopf_fault_t *last = g->last;
    uint8_t code =
        ioasid_mm_lookup(mm->host, last->desc.rid, last->desc.pasid) == mm
            ? PCIE_PRG_SUCCESS
            : PCIE_PRG_INVALID;
    for (ioasid_iopf_fault_t *f = g->faults; f && code == PCIE_PRG_SUCCESS;
         f = f->next)
        if (mm_fault(mm, f->desc.addr, f->desc.flags) < 0)
            code = PCIE_PRG_INVALID;
    ioasid_host_respond(mm->host, g, code);
}

/* The native SVA handler (iommu-sva.c: iommu_sva_iopf_handler queues the
 * group on the IOMMU's iopf workqueue): the iopf work, a minor fault per
 * page that needs mm work, and the response's queue submission. */
static sim_time_t sva_handler(void *data, ioasid_iopf_group_t *g)
{
    ioasid_mm_t *mm = data;
    ioasid_host_t *h = mm->host;
    sim_time_t cost = ioasid_host_draw(h, IOASID_HOST_IOPF);
    for (ioasid_iopf_fault_t *f = g->faults; f; f = f->next)
        if (needs_fixup(mm, f->desc.addr, f->desc.flags))
            cost += ioasid_host_draw(h, IOASID_HOST_MM_MINOR);
    cost += ioasid_host_draw(h, IOASID_HOST_QI_SUBMIT);
    ioasid_host_queue(h, g, cost, sva_work_done, mm);
    return 0;
}

static int add_binding(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid)
{
    for (size_t i = 0; i < mm->nbinds; i++)
        if (mm->binds[i].rid == rid && mm->binds[i].pasid == pasid)
            return 0;
    if (SIM_GROW(mm->binds, mm->binds_cap, mm->nbinds + 1, 4))
        return -ENOMEM;
    mm->binds[mm->nbinds++] = (ioasid_binding_t){rid, pasid};
    return 0;
}

int ioasid_mm_bind(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid)
{
    int rc = add_binding(mm, rid, pasid);
    if (rc)
        return rc;
    iommu_pasid_entry_t e = {.mode = IOMMU_MODE_S1,
                             .domain = (uint16_t)mm->id,
                             .s1 = mm->pt,
                             .pri = true};
    return ioasid_host_bind(mm->host, rid, pasid, &e, sva_handler, mm);
}

ioasid_mm_t *ioasid_mm_lookup(const ioasid_host_t *h, uint16_t rid,
                              uint32_t pasid)
{
    void *data;
    return ioasid_host_handler(h, rid, pasid, &data) == sva_handler ? data
                                                                    : NULL;
}

/* ------------------------------------------------------------- unmap */

/* The wait descriptor after the unmap's invalidations completed. */
static void unmap_done(void *opaque)
{
    unmap_op_t *op = opaque;
    ioasid_host_mm_stats_t *s = op->mm->s;
    sim_hist_add(s->unmap_latency,
                 sim_now(ioasid_host_sim(op->mm->host)) - op->start);
    s->unmaps_pending--;
    free(op);
}

int ioasid_mm_unmap(ioasid_mm_t *mm, uint64_t va, uint64_t len)
{
    if (!ioasid_vma_range_ok(mm->pt.levels, va, len))
        return -EINVAL;
    uint64_t end = va + len;
    if (ioasid_vma_set_remove(&mm->vmas, va, end))
        return -ENOMEM;
    int rc = iommu_pt_unmap(&mm->pt, va, len, NULL, NULL);
    if (rc)
        return rc;
    unmap_op_t *op = malloc(sizeof(*op));
    if (!op)
        return -ENOMEM;
    op->mm = mm;
    op->start = sim_now(ioasid_host_sim(mm->host));
    mm->s->unmaps_pending++;
    mm->s->unmaps->value++;
    return ioasid_host_invalidate(mm->host, (uint16_t)mm->id, mm->binds,
                                  mm->nbinds, va, len, unmap_done, op);
}
