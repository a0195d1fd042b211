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

typedef struct iopf_group {
    iopf_fault_t *faults; /* in arrival order, the last request last */
    iopf_fault_t *last;
    ioasid_mm_t *mm;      /* NULL: no address space bound (Invalid) */
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
    ioasid_mm_t *mm;
} bind_slot_t;

typedef struct vma {
    uint64_t start, end; /* [start, end) */
    uint64_t perm;       /* IOMMU_PTE_R|W|X */
} vma_t;

typedef struct mm_binding {
    uint16_t rid;
    uint32_t pasid;
} mm_binding_t;

struct ioasid_mm {
    ioasid_host_t *host;
    unsigned id;
    iommu_pt_t pt;
    vma_t *vmas; /* sorted by start, non-overlapping */
    size_t nvmas, vmas_cap;
    mm_binding_t *binds;
    size_t nbinds, binds_cap;
};

typedef struct unmap_op {
    ioasid_mm_t *mm;
    uint64_t va, len;
    sim_time_t start;
} unmap_op_t;

struct ioasid_host {
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
            *ev_overflows, *resumes;
        sim_hist_t *batch, *unmap_latency;
    } s;
};

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
