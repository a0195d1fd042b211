/*
 * mm.c - host address spaces: a sorted list of mappings (VMAs) and the
 * stage-1 I/O page table the IOMMU walks. A fault inside a mapping that
 * allows the access populates the page (a minor fault); anything else is
 * answered Invalid, as the Linux SVA handler does (fault-path-semantics
 * 4a item 5: no vma, or access not permitted by the vma flags -> INVALID).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/ioasid_int.h"

ioasid_mm_t *ioasid_mm_create(ioasid_host_t *h)
{
    if (h->nmms == h->mms_cap) {
        size_t c = h->mms_cap ? h->mms_cap * 2 : 16;
        ioasid_mm_t **a = realloc(h->mms, c * sizeof(*a));
        if (!a)
            return NULL;
        h->mms = a;
        h->mms_cap = c;
    }
    if (h->nmms >= 0xffff) /* domain ids are 16 bits */
        return NULL;
    ioasid_mm_t *mm = calloc(1, sizeof(*mm));
    if (!mm)
        return NULL;
    mm->host = h;
    int domain = ioasid_host_alloc_domain(h);
    if (domain < 0) {
        free(mm);
        return NULL;
    }
    mm->id = (unsigned)domain;
    if (iommu_pt_init(&mm->pt, iommu_memory(h->iommu),
                      iommu_config(h->iommu)->levels)) {
        free(mm);
        return NULL;
    }
    h->mms[h->nmms++] = mm;
    return mm;
}

void ioasid_mm_destroy(ioasid_mm_t *mm)
{
    if (!mm)
        return;
    vma_set_fini(&mm->vmas);
    free(mm->binds);
    free(mm);
}

unsigned ioasid_mm_va_bits(const ioasid_mm_t *mm)
{
    return iommu_pt_va_bits(mm->pt.levels);
}

int ioasid_mm_add_binding(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid)
{
    for (size_t i = 0; i < mm->nbinds; i++)
        if (mm->binds[i].rid == rid && mm->binds[i].pasid == pasid)
            return 0;
    if (mm->nbinds == mm->binds_cap) {
        size_t c = mm->binds_cap ? mm->binds_cap * 2 : 4;
        mm_binding_t *a = realloc(mm->binds, c * sizeof(*a));
        if (!a)
            return -ENOMEM;
        mm->binds = a;
        mm->binds_cap = c;
    }
    mm->binds[mm->nbinds++] = (mm_binding_t){rid, pasid};
    return 0;
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
    if (!vma_range_ok(mm->pt.levels, va, len))
        return -EINVAL;
    int rc = vma_set_add(&mm->vmas, (vma_t){va, va + len, perm}, NULL);
    if (rc || !present)
        return rc;
    for (uint64_t off = 0; off < len; off += IOMMU_PAGE_SIZE) {
        rc = populate(mm, va + off, perm);
        if (rc)
            return rc;
    }
    return 0;
}

bool ioasid_mm_needs_fixup(const ioasid_mm_t *mm, uint64_t addr,
                           unsigned flags)
{
    const vma_t *v = vma_set_find(&mm->vmas, addr);
    uint64_t need = vma_need_perm(flags);
    if (!v || (need & ~v->perm))
        return false; /* answered Invalid without mm work */
    iommu_walk_t w;
    iommu_pt_walk(&mm->pt, addr, &w);
    return w.outcome != IOMMU_WALK_OK || (need & ~w.perm);
}

int ioasid_mm_fault(ioasid_mm_t *mm, uint64_t addr, unsigned flags)
{
    ioasid_host_t *h = mm->host;
    const vma_t *v = vma_set_find(&mm->vmas, addr);
    uint64_t need = vma_need_perm(flags);
    if (!v || (need & ~v->perm)) {
        h->s.bad_access->value++;
        return -EFAULT;
    }
    uint64_t page = addr & ~(IOMMU_PAGE_SIZE - 1);
    iommu_walk_t w;
    iommu_pt_walk(&mm->pt, page, &w);
    if (w.outcome != IOMMU_WALK_OK) {
        h->s.minor->value++;
        return populate(mm, page, v->perm) ? -EFAULT : 0;
    }
    if (need & ~w.perm) {
        /* Present with less permission than the mapping allows: widen it.
         * No invalidation, as on x86 for a permission upgrade: an IOTLB
         * entry that does not grant an access is not used, the IOMMU reads
         * the tables again (iommu/walk.c), and a VT-d page request
         * invalidates its page anyway (fault-path-semantics 2a item 4). */
        h->s.upgrades->value++;
        int rc = iommu_pt_protect(&mm->pt, page, IOMMU_PAGE_SIZE,
                                  v->perm | IOMMU_PTE_U);
        return rc ? -EFAULT : 0;
    }
    h->s.spurious->value++;
    return 0;
}

/* ------------------------------------------------------------- unmap */

/* The wait descriptor after the unmap's invalidations completed. */
static void unmap_done(void *opaque)
{
    unmap_op_t *op = opaque;
    ioasid_host_t *h = op->mm->host;
    sim_hist_add(h->s.unmap_latency, sim_now(h->sim) - op->start);
    h->tot.unmaps_pending--;
    sim_pool_put(&h->unmap_ops, op);
}

/* The host driver has built the batch (host.qi_submit): submit it. */
typedef struct inv_op {
    ioasid_host_t *h;
    uint16_t domain;
    size_t n;
    uint64_t va, len;
    iommu_done_fn done;
    void *opaque;
    mm_binding_t binds[]; /* a copy: the caller's may change meanwhile */
} inv_op_t;

/* Submit, per binding, an IOTLB invalidation of the range (VT-d
 * PASID-based IOTLB invalidation / SMMUv3 TLBI_NH_VA) and a device-TLB
 * invalidation (ATS), then a wait whose completion calls done (Linux:
 * qi_flush_piotlb and qi_flush_dev_iotlb_pasid; SMMUv3 TLBI + ATC_INV +
 * CMD_SYNC). */
static void ev_inv_submit(sim_t *sim, void *opaque, uint64_t arg)
{
    inv_op_t *op = opaque;
    ioasid_host_t *h = op->h;
    int rc = 0;
    for (size_t i = 0; i < op->n && !rc; i++) {
        iommu_qi_desc_t d[2];
        memset(d, 0, sizeof(d));
        d[0].type = IOMMU_QI_IOTLB;
        d[0].inv = (iommu_inv_t){.gran = IOMMU_INV_RANGE,
                                 .domain = op->domain,
                                 .pasid = op->binds[i].pasid,
                                 .addr = op->va,
                                 .len = op->len};
        d[1].type = IOMMU_QI_DEVTLB;
        d[1].inv = (iommu_inv_t){.rid = op->binds[i].rid,
                                 .pasid = op->binds[i].pasid,
                                 .addr = op->va,
                                 .len = op->len};
        rc = iommu_qi_submit(h->iommu, d, 2);
    }
    iommu_qi_desc_t w = {.type = IOMMU_QI_WAIT, .done = op->done,
                         .opaque = op->opaque};
    if (rc || iommu_qi_submit(h->iommu, &w, 1)) {
        sim_logf(sim_log(sim), SIM_LOG_ERROR, "host: out of memory");
        sim_stop(sim);
    }
    free(op);
}

int ioasid_host_invalidate(ioasid_host_t *h, uint16_t domain,
                           const mm_binding_t *binds, size_t n, uint64_t va,
                           uint64_t len, iommu_done_fn done, void *opaque)
{
    inv_op_t *op = malloc(sizeof(*op) + n * sizeof(mm_binding_t));
    if (!op)
        return -ENOMEM;
    op->h = h;
    op->domain = domain;
    op->n = n;
    op->va = va;
    op->len = len;
    op->done = done;
    op->opaque = opaque;
    memcpy(op->binds, binds, n * sizeof(mm_binding_t));
    sim_schedule(h->sim, sim_dist_draw(&h->cfg.qi_submit, &h->rng),
                 ev_inv_submit, op, 0);
    return 0;
}

int ioasid_mm_unmap(ioasid_mm_t *mm, uint64_t va, uint64_t len)
{
    ioasid_host_t *h = mm->host;
    if (!vma_range_ok(mm->pt.levels, va, len))
        return -EINVAL;
    uint64_t end = va + len;
    if (vma_set_remove(&mm->vmas, va, end))
        return -ENOMEM;
    int rc = iommu_pt_unmap(&mm->pt, va, len, NULL, NULL);
    if (rc)
        return rc;
    unmap_op_t *op = sim_pool_get(&h->unmap_ops);
    if (!op)
        return -ENOMEM;
    op->mm = mm;
    op->va = va;
    op->len = len;
    op->start = sim_now(h->sim);
    h->tot.unmaps_pending++;
    h->s.unmaps->value++;
    return ioasid_host_invalidate(h, (uint16_t)mm->id, mm->binds, mm->nbinds,
                                  va, len, unmap_done, op);
}
