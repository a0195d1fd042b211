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

/* An unmap whose invalidation is pending (on its mm's list). */
typedef struct unmap_op {
    struct unmap_op *next, **pprev;
    ioasid_mm_t *mm;
    sim_time_t start;
} unmap_op_t;

/* A teardown of one of the mm's bindings in progress. */
typedef struct mm_unbind {
    struct mm_unbind *next;
    ioasid_mm_t *mm;
    ioasid_host_unbound_fn done;
    void *opaque;
} mm_unbind_t;

struct ioasid_mm {
    ioasid_host_t *host;
    ioasid_host_mm_stats_t *s;
    unsigned id;
    iommu_pt_t pt;
    ioasid_vma_set_t vmas;
    ioasid_binding_t *binds;
    size_t nbinds, binds_cap;
    unsigned busy;        /* pending unmaps and groups on the workers */
    bool dead;            /* its last binding is torn down */
    unmap_op_t *unmaps;   /* pending unmaps */
    mm_unbind_t *unbinds; /* teardowns in progress */
};

/* Free everything mm holds (what is pending too: a run stopped early). */
static void mm_destroy(void *obj)
{
    ioasid_mm_t *mm = obj;
    while (mm->unmaps) {
        unmap_op_t *op = mm->unmaps;
        mm->unmaps = op->next;
        free(op);
    }
    while (mm->unbinds) {
        mm_unbind_t *u = mm->unbinds;
        mm->unbinds = u->next;
        free(u);
    }
    ioasid_vma_set_fini(&mm->vmas);
    free(mm->binds);
    free(mm);
}

int ioasid_mm_new(ioasid_host_t *h, ioasid_mm_t **out)
{
    *out = NULL;
    ioasid_mm_t *mm = calloc(1, sizeof(*mm));
    if (!mm)
        return -ENOMEM;
    mm->host = h;
    mm->s = ioasid_host_mm_stats(h);
    int domain = ioasid_host_alloc_domain(h);
    if (domain < 0) {
        free(mm);
        return domain == -ENOSPC ? IOASID_NO_DOMAIN : domain;
    }
    mm->id = (unsigned)domain;
    iommu_t *u = ioasid_host_iommu(h);
    if (iommu_pt_init(&mm->pt, iommu_memory(u), iommu_config(u)->levels) ||
        ioasid_host_own(h, mm, mm_destroy)) {
        iommu_pt_destroy(&mm->pt);
        ioasid_host_free_domain(h, (uint16_t)domain);
        free(mm);
        return -ENOMEM;
    }
    *out = mm;
    return 0;
}

ioasid_mm_t *ioasid_mm_create(ioasid_host_t *h)
{
    ioasid_mm_t *mm;
    ioasid_mm_new(h, &mm);
    return mm;
}

/* A leaf of a dying table: its frames go back to host memory. */
static void free_leaf(void *opaque, uint64_t va, uint64_t pa, unsigned shift)
{
    (void)va;
    for (uint64_t off = 0; off < (1ull << shift); off += IOMMU_PAGE_SIZE)
        iommu_mem_free(opaque, pa + off);
}

/*
 * Once its last binding is torn down and nothing it started is pending,
 * the address space is gone (Linux: the SVA domain is freed with its
 * last unbind, iommu-sva.c: iommu_sva_unbind_device -> iommu_domain_free,
 * and the process's page tables with its mm, mm/mmap.c: exit_mmap ->
 * free_pgtables): its pages and table frames go back to host memory, its
 * domain id to the host for reuse, and the host forgets it.
 */
static void mm_release(ioasid_mm_t *mm)
{
    if (!mm->dead || mm->busy)
        return;
    ioasid_host_t *h = mm->host;
    iommu_pt_unmap(&mm->pt, 0, 1ull << iommu_pt_va_bits(mm->pt.levels),
                   free_leaf, mm->pt.mem);
    iommu_pt_destroy(&mm->pt);
    ioasid_host_free_domain(h, (uint16_t)mm->id);
    ioasid_host_disown(h, mm);
    mm_destroy(mm);
}

/* Populate one page of 1 << shift bytes with fresh frames (contiguous
 * and aligned, as a huge page is) and the mapping's permission. */
static int populate(ioasid_mm_t *mm, uint64_t page, uint64_t perm,
                    unsigned shift)
{
    uint64_t frames = 1ull << (shift - IOMMU_PAGE_SHIFT);
    uint64_t pa = shift == IOMMU_PAGE_SHIFT
                      ? iommu_mem_alloc(mm->pt.mem, false)
                      : iommu_mem_alloc_range(mm->pt.mem, frames, frames);
    if (!pa)
        return -ENOMEM;
    return iommu_pt_map(&mm->pt, page, pa, shift, perm | IOMMU_PTE_U);
}

int ioasid_mm_map_pages(ioasid_mm_t *mm, uint64_t va, uint64_t len,
                        uint64_t perm, bool present, unsigned shift)
{
    if (shift != 12 && shift != 21 && shift != 30)
        return -EINVAL;
    uint64_t size = 1ull << shift;
    if (!ioasid_vma_range_ok(mm->pt.levels, va, len) ||
        ((va | len) & (size - 1)))
        return -EINVAL;
    int rc = ioasid_vma_set_add(
        &mm->vmas, (ioasid_vma_t){va, va + len, perm, shift}, NULL);
    if (rc || !present)
        return rc;
    for (uint64_t off = 0; off < len; off += size) {
        rc = populate(mm, va + off, perm, shift);
        if (rc)
            return rc;
    }
    return 0;
}

int ioasid_mm_map(ioasid_mm_t *mm, uint64_t va, uint64_t len, uint64_t perm,
                  bool present)
{
    return ioasid_mm_map_pages(mm, va, len, perm, present, IOMMU_PAGE_SHIFT);
}

/*
 * The page size a fault at addr populates: the mapping's own, or with
 * host.thp = always a 2 MiB page where a 4 KiB mapping allows one, as
 * Linux's anonymous THP fault does (mm/memory.c: __handle_mm_fault calls
 * create_huge_pmd -> do_huge_pmd_anonymous_page when the PMD is empty and
 * thp_vma_allowable_order / thp_vma_suitable_order hold: the 2 MiB-aligned
 * range lies inside the VMA). An empty PMD: the walk stopped above the
 * last level (w->reads < levels), no 4 KiB page table is there.
 */
static unsigned fault_shift(const ioasid_mm_t *mm, const ioasid_vma_t *v,
                            uint64_t addr, const iommu_walk_t *w)
{
    unsigned shift = ioasid_vma_shift(v);
    if (shift != IOMMU_PAGE_SHIFT ||
        ioasid_host_cfg(mm->host)->thp != IOASID_THP_ALWAYS)
        return shift;
    uint64_t huge = 1ull << 21, start = addr & ~(huge - 1);
    if (start >= v->start && start + huge <= v->end && w->reads < mm->pt.levels)
        return 21;
    return IOMMU_PAGE_SHIFT;
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
        unsigned shift = fault_shift(mm, v, addr, &w);
        mm->s->minor->value++;
        return populate(mm, addr & ~((1ull << shift) - 1), v->perm, shift)
                   ? -EFAULT
                   : 0;
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
        uint64_t size = 1ull << w.shift;
        int rc = iommu_pt_protect(&mm->pt, addr & ~(size - 1), size,
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
    mm->busy--;
    mm_release(mm);
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
            cost =
                sim_time_add(cost, ioasid_host_draw(h, IOASID_HOST_MM_MINOR));
    cost = sim_time_add(cost, ioasid_host_draw(h, IOASID_HOST_QI_SUBMIT));
    mm->busy++;
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

int ioasid_mm_handle_fault(ioasid_mm_t *mm, uint64_t addr, bool write)
{
    return mm_fault(mm, addr, write ? PCIE_F_R | PCIE_F_W : PCIE_F_R);
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

/* The host has torn (rid, pasid) down: the binding is gone; with the last
 * one, the address space dies. */
static void mm_unbound(void *opaque, uint16_t rid, uint32_t pasid)
{
    mm_unbind_t *u = opaque;
    ioasid_mm_t *mm = u->mm;
    for (mm_unbind_t **pp = &mm->unbinds; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
    for (size_t i = 0; i < mm->nbinds; i++)
        if (mm->binds[i].rid == rid && mm->binds[i].pasid == pasid) {
            mm->binds[i] = mm->binds[--mm->nbinds];
            break;
        }
    ioasid_host_unbound_fn done = u->done;
    void *done_opaque = u->opaque;
    free(u);
    mm->dead = mm->nbinds == 0 && !mm->unbinds;
    mm_release(mm);
    if (done)
        done(done_opaque, rid, pasid);
}

int ioasid_mm_unbind(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid,
                     ioasid_host_unbound_fn done, void *opaque)
{
    mm_unbind_t *u = malloc(sizeof(*u));
    if (!u)
        return -ENOMEM;
    *u = (mm_unbind_t){mm->unbinds, mm, done, opaque};
    int rc = ioasid_host_unbind(mm->host, rid, pasid, mm_unbound, u);
    if (rc) {
        free(u);
        return rc;
    }
    mm->unbinds = u;
    return 0;
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
    ioasid_mm_t *mm = op->mm;
    *op->pprev = op->next;
    if (op->next)
        op->next->pprev = op->pprev;
    free(op);
    mm->busy--;
    mm_release(mm);
}

/* A transparent huge page (a 2 MiB leaf in a 4 KiB mapping) holding addr
 * that an unmap cuts at `cut` is split into 4 KiB leaves over the same
 * frames first, as Linux splits the PMD (mm/huge_memory.c:
 * __split_huge_pmd). */
static int split_thp(ioasid_mm_t *mm, uint64_t addr, uint64_t cut)
{
    const ioasid_vma_t *v = ioasid_vma_set_find(&mm->vmas, addr);
    iommu_walk_t w;
    iommu_pt_walk(&mm->pt, addr, &w);
    if (!v || ioasid_vma_shift(v) != IOMMU_PAGE_SHIFT ||
        w.outcome != IOMMU_WALK_OK || !(cut & ((1ull << w.shift) - 1)))
        return 0;
    uint64_t size = 1ull << w.shift, va = addr & ~(size - 1);
    uint64_t pa = w.pa & ~(size - 1), attr = w.pte & IOMMU_PTE_ATTR;
    int rc = iommu_pt_unmap(&mm->pt, va, size, NULL, NULL);
    for (uint64_t off = 0; !rc && off < size; off += IOMMU_PAGE_SIZE)
        rc = iommu_pt_map(&mm->pt, va + off, pa + off, IOMMU_PAGE_SHIFT, attr);
    return rc;
}

int ioasid_mm_unmap(ioasid_mm_t *mm, uint64_t va, uint64_t len)
{
    if (!ioasid_vma_range_ok(mm->pt.levels, va, len) ||
        !ioasid_vma_set_cut_ok(&mm->vmas, va, va + len))
        return -EINVAL;
    uint64_t end = va + len;
    size_t first = ioasid_vma_set_index(&mm->vmas, va);
    if (first == mm->vmas.n || mm->vmas.v[first].start >= end)
        return IOASID_UNMAP_EMPTY; /* nothing mapped there */
    if (split_thp(mm, va, va) || split_thp(mm, end - 1, end))
        return -ENOMEM;
    if (ioasid_vma_set_remove(&mm->vmas, va, end))
        return -ENOMEM;
    int rc = iommu_pt_unmap(&mm->pt, va, len, NULL, NULL);
    if (rc)
        return rc;
    unmap_op_t *op = malloc(sizeof(*op));
    if (!op)
        return -ENOMEM;
    rc = ioasid_host_invalidate(mm->host, (uint16_t)mm->id, mm->binds,
                                mm->nbinds, va, len, unmap_done, op);
    if (rc) {
        free(op);
        return rc;
    }
    *op = (unmap_op_t){mm->unmaps, &mm->unmaps, mm,
                       sim_now(ioasid_host_sim(mm->host))};
    if (mm->unmaps)
        mm->unmaps->pprev = &op->next;
    mm->unmaps = op;
    mm->busy++;
    mm->s->unmaps_pending++;
    mm->s->unmaps->value++;
    return 0;
}
