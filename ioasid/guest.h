/*
 * ioasid/guest.h - the guest side of a VM's fault path: its processes
 * (stage-1 I/O page tables in guest memory, with their mappings) and the
 * guest mm that fixes them, its vCPUs (a `server` shared with background
 * load), the queues a VMM injects page requests into (the vIOMMU's page
 * request queue, or a device's virtual PRI queue), the guest IOMMU driver's
 * handler thread, and the fix-up job that ends with the page response
 * written, which traps to whoever installed the response port (the VMM).
 */
#ifndef IOASID_GUEST_H
#define IOASID_GUEST_H

#include <stdint.h>

#include "ioasid/fault.h"
#include "ioasid/virt_cfg.h"
#include "ioasid/vma.h"
#include "iommu/iommu.h"
#include "sim/sim.h"

/* The [guest] parameter table (offsets into ioasid_virt_cfg_t). */
extern const sim_param_t ioasid_guest_params[];
extern const unsigned ioasid_guest_nparams;

typedef struct ioasid_guest ioasid_guest_t;
/* A guest request queue, drained by one guest handler thread. */
typedef struct ioasid_gq ioasid_gq_t;

/* A device assigned to the VM. */
typedef struct ioasid_vdev {
    unsigned index;
    uint16_t rid;      /* physical requester id */
    uint16_t vrid;     /* the RID the guest sees behind its vIOMMU */
    ioasid_gq_t *vpri; /* routing vpri: the device's virtual PRI queue */
} ioasid_vdev_t;

/* A guest process: one stage-1 IOASID nested on the VM's stage 2. */
typedef struct ioasid_gproc {
    uint32_t pasid;
    unsigned ioasid; /* id of its stage-1 IOASID */
    uint16_t domain;
    iommu_pt_t s1; /* the guest's I/O page table, in guest memory */
    ioasid_vma_set_t vmas;
    ioasid_vdev_t **att; /* devices attached with this PASID */
    size_t natt, att_cap;
} ioasid_gproc_t;

/* Create the guest (no vCPUs yet: ioasid_guest_init). Records it is given
 * carry an ioasid_gproc_t as their ioas; it frees stale ones in `fault`.
 * It draws from `rng` and stamps the `guest` stage of `spans`. */
ioasid_guest_t *ioasid_guest_create(sim_t *sim, const ioasid_virt_cfg_t *cfg,
                                    iommu_t *iommu, ioasid_fault_t *fault,
                                    sim_rng_t *rng, const sim_spans_t *spans);
/* NULL is ignored. */
void ioasid_guest_destroy(ioasid_guest_t *g);
/* Register guest.mm.* (ioasid_guest_mm_stats) and, separately to keep
 * the stats order, the vCPU load counters. 0 or -ENOMEM. */
int ioasid_guest_mm_stats(ioasid_guest_t *g, sim_stats_t *st);
int ioasid_guest_vcpu_stats(ioasid_guest_t *g, sim_stats_t *st);
/* Create the vCPUs and the vIOMMU's page request queue. 0 or -ENOMEM. */
int ioasid_guest_init(ioasid_guest_t *g, sim_stats_t *st);

/* A new guest queue (`name`.occupancy), owned by the guest; NULL on
 * failure. */
ioasid_gq_t *ioasid_guest_queue_create(ioasid_guest_t *g, sim_stats_t *st,
                                       const char *name);
/* The vIOMMU's page request queue. */
ioasid_gq_t *ioasid_guest_viommu_queue(ioasid_guest_t *g);

/* The guest memory processes' pages come from: [base, end). */
void ioasid_guest_set_memory(ioasid_guest_t *g, uint64_t base, uint64_t end);
/* A fresh guest page of 1 << shift bytes, aligned to its size, or 0. */
uint64_t ioasid_guest_gpa_alloc_pages(ioasid_guest_t *g, unsigned shift);

/* A routed record enters queue q (the VMM's injection is done): 0, or
 * -ENOSPC when q is full or overflowed (guest.queue_depth, one entry
 * unused; refused until the guest's handler drains it, VT-d PRS.PRO), and
 * rec stays the caller's. */
int ioasid_guest_deliver(ioasid_guest_t *g, ioasid_gq_t *q,
                         ioasid_fault_rec_t *rec);

/* The response port: the guest driver wrote the page response of rec
 * (cookie id, code) to the vIOMMU, which traps. The vCPU that wrote it
 * stays busy until ioasid_guest_vcpu_release. */
typedef void (*ioasid_guest_respond_fn)(void *opaque, ioasid_fault_rec_t *rec,
                                        uint32_t id, uint8_t code);
void ioasid_guest_set_respond(ioasid_guest_t *g, ioasid_guest_respond_fn fn,
                              void *opaque);
/* The vCPU held by a response trap returns to the guest. */
void ioasid_guest_vcpu_release(ioasid_guest_t *g);

/* Commands of a guest I/O TLB invalidation of `pages` pages: 1 with
 * guest.inv_range, else one per page (at least 1). */
unsigned ioasid_guest_inv_cmds(const ioasid_virt_cfg_t *c, uint64_t pages);
/* The time a guest invalidation of ncmds commands takes until the
 * commands are in the host's (trap) or the hardware's (hwqueue) hands,
 * per vmm.guest_inv; draws from rng. trap with one command: guest.inv. */
sim_time_t ioasid_guest_inv_cost(const ioasid_virt_cfg_t *c, unsigned ncmds,
                                 sim_rng_t *rng);
/* vmm.routing = hwviommu: the guest's PPR log, written by the IOMMU's
 * hardware vIOMMU. Its interrupt reaches the guest driver's handler
 * thread after guest.irq (+ guest.halt_wake if every vCPU is halted); the
 * thread clears PPRInt, reads each entry (guest.handler on a vCPU) and
 * moves the head, keeps non-last requests until their group's last
 * request (the guest's iopf core), and hands a complete group to a fix-up
 * job (as a delivered record's); the job ends with COMPLETE_PPR_REQUEST
 * written to the guest's virtualized command buffer, which the vIOMMU
 * processes with no exit (iommu_vlog_complete): the vCPU is free at once.
 * With the log empty it restarts a log that overflowed (clears PRO).
 * `proc` finds the guest process of (rid, pasid) (NULL: none, answered
 * Invalid). 0 or -ENOMEM. */
typedef ioasid_gproc_t *(*ioasid_guest_proc_fn)(void *opaque, uint16_t rid,
                                                uint32_t pasid);
int ioasid_guest_attach_log(ioasid_guest_t *g, iommu_vlog_t *log,
                            ioasid_guest_proc_fn proc, void *opaque);

/* Start the guest's background load (call once the run has work). */
void ioasid_guest_start(ioasid_guest_t *g);

#endif /* IOASID_GUEST_H */
