/*
 * ioasid_int.h - internal to ioasid/: the host driver and address-space
 * structures shared by host.c and mm.c.
 */
#ifndef IOASID_IOASID_INT_H
#define IOASID_IOASID_INT_H

#include "ioasid/ioasid.h"

typedef struct iopf_fault {
    struct iopf_fault *next;
    iommu_prq_desc_t desc;
} iopf_fault_t;

struct gproc;

typedef struct iopf_group {
    iopf_fault_t *faults; /* in arrival order, the last request last */
    iopf_fault_t *last;
    ioasid_mm_t *mm;      /* host address space (native SVA) */
    struct gproc *gp;     /* or a guest process (nested); neither: Invalid */
    bool s2;              /* a stage-2 fault of gp: the host backs gpa */
    uint64_t gpa;
    bool stall;           /* a stall event: answer with a resume */
    uint16_t stag;
} iopf_group_t;

/* One threaded handler draining a queue of the IOMMU (the PRQ, or the
 * fault/event queue). */
typedef struct hq_reader {
    bool running, rerun;
    uint32_t pos, tail;
    uint64_t count;
    bool evq; /* the fault/event queue (else the PRQ) */
} hq_reader_t;

typedef struct bind_slot {
    uint64_t key; /* (rid << 20 | pasid) + 1; 0 = empty */
    ioasid_mm_t *mm;  /* native SVA, or */
    struct gproc *gp; /* a guest process; neither: unbound */
} bind_slot_t;

typedef struct vma {
    uint64_t start, end; /* [start, end) */
    uint64_t perm;       /* IOMMU_PTE_R|W|X */
} vma_t;

/* A sorted set of non-overlapping mappings (vma.c). */
typedef struct vma_set {
    vma_t *v;
    size_t n, cap;
} vma_set_t;

/* Index of the first mapping ending above addr. */
size_t vma_set_index(const vma_set_t *s, uint64_t addr);
/* The mapping containing addr, or NULL. */
const vma_t *vma_set_find(const vma_set_t *s, uint64_t addr);
/* Add v; -EEXIST (with *overlap, if non-NULL, the first mapping in the
 * way) or -ENOMEM. */
int vma_set_add(vma_set_t *s, vma_t v, const vma_t **overlap);
/* Remove [start, end), cutting mappings that straddle it. */
int vma_set_remove(vma_set_t *s, uint64_t start, uint64_t end);
void vma_set_fini(vma_set_t *s);
/* A page-aligned, non-empty range inside a table of `levels` levels. */
bool vma_range_ok(unsigned levels, uint64_t va, uint64_t len);
/* IOMMU_PTE_R|W|X an access of PCIE_F_R/W/X flags needs. */
uint64_t vma_need_perm(unsigned flags);

typedef struct mm_binding {
    uint16_t rid;
    uint32_t pasid;
} mm_binding_t;

struct ioasid_mm {
    ioasid_host_t *host;
    unsigned id;
    iommu_pt_t pt;
    vma_set_t vmas;
    mm_binding_t *binds;
    size_t nbinds, binds_cap;
};

typedef struct unmap_op {
    ioasid_mm_t *mm;
    uint64_t va, len;
    sim_time_t start;
} unmap_op_t;

struct ioasid_host {
    ioasid_virt_t *virt; /* the VM, if any */
    unsigned next_domain;
    sim_t *sim;
    ioasid_host_cfg_t cfg;
    iommu_t *iommu;
    sim_rng_t rng;
    sim_server_t *workers;
    sim_rng_t workers_rng;
    sim_pool_t faults, groups, unmap_ops;

    ioasid_mm_t **mms;
    size_t nmms, mms_cap;
    bind_slot_t *binds;
    size_t nbind_slots, nbinds;

    /* handler threads */
    hq_reader_t prq, evq;
    iopf_fault_t *partials; /* newest first */

    ioasid_host_totals_t tot;
    struct {
        sim_counter_t *irqs, *runs, *reported, *stop_markers,
            *overflow_recoveries, *partial_discarded, *groups, *resp_success,
            *resp_invalid, *unmaps, *minor, *spurious, *upgrades, *bad_access;
        sim_counter_t *ev_irqs, *ev_runs, *ev_stalls, *ev_unrecoverable,
            *ev_overflows, *resumes, *guest_groups, *unbinds;
        sim_hist_t *batch, *unmap_latency;
    } s;
};

/* host.c, for mm.c and the VM (virt.c, vmm.c) */
/* Answer a group (page response or resume through the queue) and free it. */
void ioasid_host_respond(ioasid_host_t *h, iopf_group_t *g, uint8_t code);
/* A new domain id (host address spaces, guest processes, stage 2). */
int ioasid_host_alloc_domain(ioasid_host_t *h);
/* Bind (rid, pasid) to guest process gp with PASID entry e. */
int ioasid_host_bind_guest(ioasid_host_t *h, struct gproc *gp, uint16_t rid,
                           uint32_t pasid, const iommu_pasid_entry_t *e);
/* Submit, after host.qi_submit, an IOTLB range invalidation of (domain,
 * pasid) and a device-TLB invalidation per binding, then a wait whose
 * completion calls done(opaque). Returns 0 or -ENOMEM. */
int ioasid_host_invalidate(ioasid_host_t *h, uint16_t domain,
                           const mm_binding_t *binds, size_t n, uint64_t va,
                           uint64_t len, iommu_done_fn done, void *opaque);

/* virt.c and vmm.c, for host.c */
/* The VM device with physical requester id rid, or NULL. */
struct vdev *ioasid_virt_dev(ioasid_virt_t *v, uint16_t rid);
/* Whether a fault at addr of gp is a stage-2 fault (the guest's stage 1
 * translates it to a GPA the host has not backed); sets *gpa. */
bool ioasid_virt_s2_fault(ioasid_virt_t *v, const struct gproc *gp,
                          uint64_t addr, uint64_t *gpa);
/* Back the guest page at gpa (the host's stage-2 fault handling). */
int ioasid_virt_s2_fill(ioasid_virt_t *v, uint64_t gpa);
/* Hand a guest-owned group to the IOASID fault handler; returns the time
 * the report takes the host handler thread. */
sim_time_t ioasid_virt_fault(ioasid_virt_t *v, struct gproc *gp,
                             iopf_group_t *g);

/* mm.c */
void ioasid_mm_destroy(ioasid_mm_t *mm);
int ioasid_mm_add_binding(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid);
/* Handle a fault on the page of addr with PCIE_F_R/W/X flags: 0 when the
 * access is now allowed, -EFAULT when it never will be (Invalid). */
int ioasid_mm_fault(ioasid_mm_t *mm, uint64_t addr, unsigned flags);
/* Whether handling such a fault needs mm work (page absent or a permission
 * to add), which costs a minor fault. */
bool ioasid_mm_needs_fixup(const ioasid_mm_t *mm, uint64_t addr,
                           unsigned flags);

#endif
