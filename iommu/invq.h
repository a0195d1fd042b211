/*
 * iommu/invq.h - the invalidation queue (unit invq.c): VT-d QI / SMMUv3
 * command queue / AMD-Vi command buffer, with the architectures' descriptor
 * encodings, processed in order, each after its configured cost. The cache
 * invalidations a descriptor causes are applied through ops the owner installs;
 * page responses and ATS invalidations go down through the port; resumes go to
 * the stall model.
 */
#ifndef IOMMU_INVQ_H
#define IOMMU_INVQ_H

#include "iommu/port.h"
#include "iommu/ring.h"
#include "iommu/stall.h"

/* The effects of invalidation descriptors on the caches. */
typedef struct iommu_invq_ops {
    void (*iotlb)(void *opaque, const iommu_inv_t *inv);
    void (*pasid_cache)(void *opaque, const iommu_inv_t *inv);
    void (*context_cache)(void *opaque, const iommu_inv_t *inv);
    /* Page requests accepted for the PRQ so far, and those written (a
     * drain wait completes once written reaches accepted as it was when
     * the wait reached the head). */
    uint64_t (*prq_accepted)(void *opaque);
    uint64_t (*prq_written)(void *opaque);
    void *opaque;
} iommu_invq_ops_t;

/* A wait or page response kept beside its ring slot (what the descriptor
 * cannot hold: a callback, a span). */
typedef struct iommu_invq_side {
    iommu_done_fn done;
    void *opaque;
    sim_span_t *span;
} iommu_invq_side_t;

/* A decoded descriptor (the SMMUv3 CFGI_ALL covers both configuration
 * caches; fence: a wait that holds back the descriptors after it, VT-d
 * FN = 1 or any SMMUv3 CMD_SYNC). */
typedef struct iommu_invq_op {
    iommu_qi_desc_t d;
    bool cfgi_all;
    bool inv_all; /* AMD-Vi INVALIDATE_IOMMU_ALL: the IOTLB and both
                     configuration caches */
    bool fence;
    bool valid;
} iommu_invq_op_t;

/* A VT-d wait without fence whose segment (the descriptors between the
 * previous wait and it) still has device-TLB invalidations in flight: it
 * left the ring and completes when they do (VT-d 6.5.2.12). */
typedef struct iommu_invq_parked {
    struct iommu_invq_parked *next;
    iommu_done_fn done;
    void *opaque;
    uint64_t remaining; /* device-TLB completions still owed */
    uint16_t seg;       /* its segment */
} iommu_invq_parked_t;

/* A descriptor waiting for space in the ring. */
typedef struct iommu_invq_backlog {
    struct iommu_invq_backlog *next;
    iommu_qi_desc_t d;
} iommu_invq_backlog_t;

typedef struct iommu_invq {
    sim_t *sim;
    iommu_mem_t *mem;
    const iommu_cfg_t *cfg; /* processing costs */
    const iommu_port_t *down;
    iommu_stall_t *stall;
    iommu_invq_ops_t ops;
    bool smmu;
    bool amd; /* AMD-Vi commands; VT-d's ordering otherwise */
    iring_t ring;
    iommu_invq_side_t *side;
    iommu_invq_backlog_t *bl_head, *bl_tail;
    sim_pool_t bl_pool;
    iommu_invq_op_t cur;     /* the descriptor at the head, decoded */
    bool busy;               /* a descriptor is being processed */
    bool waiting;            /* a fencing wait holds the queue for device-TLB
                                completions */
    bool draining;           /* a drain wait waits for PRQ writes (VT-d PD) */
    bool drain_armed;        /* drain_mark is taken for the wait at the head */
    uint64_t drain_mark;     /* PRQ writes the drain wait waits for */
    uint64_t devtlb_pending; /* device-TLB invalidations in flight, all */
    uint64_t seg_devtlb;     /* ... of the open segment */
    uint16_t seg; /* the open segment: its number goes out as the ITAG of
                     its ATS Invalidate Requests; a wait closes it */
    iommu_invq_parked_t *parked; /* parked waits, oldest first */
    sim_pool_t park_pool;
    uint64_t pending; /* submitted, not done */
    struct {
        sim_counter_t *desc[IOMMU_QI_TYPES], *full_waits, *errors,
            *devtlb_inval, *host_responses;
        sim_gauge_t *occupancy;
    } s;
} iommu_invq_t;

/* Set up q (depth entries in mem; costs from cfg, which must outlive q).
 * Returns 0 or -ENOMEM. */
int iommu_invq_init(iommu_invq_t *q, sim_t *sim, iommu_mem_t *mem,
                    const iommu_cfg_t *cfg, const iommu_port_t *down,
                    iommu_stall_t *stall, iommu_arch_t arch, uint64_t depth);
void iommu_invq_fini(iommu_invq_t *q);
/* As iommu_qi_submit (iommu.h). */
int iommu_invq_submit(iommu_invq_t *q, const iommu_qi_desc_t *descs,
                      unsigned n);
/* An ATS Invalidate Completion for a device-TLB invalidation of q
 * arrived; itag is the ITAG its request carried. */
void iommu_invq_devtlb_done(iommu_invq_t *q, uint16_t itag);
/* A page request was written to the PRQ: a drain wait may go on. */
void iommu_invq_prq_written(iommu_invq_t *q);

#endif /* IOMMU_INVQ_H */
