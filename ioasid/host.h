/*
 * ioasid/host.h - the host IOMMU driver: PRQ interrupt and handler thread,
 * I/O page fault groups, a fault handler per (RID, PASID) binding, iopf
 * workers, page responses (or resumes) through the invalidation queue,
 * stall events of untranslated DMA (SMMUv3 stall model: a fault group of
 * one, answered with a resume) and invalidations.
 *
 * The driver knows nothing of who handles a fault: each binding carries
 * the handler its owner installed, as Linux's io-pgfault calls
 * domain->iopf_handler(group) (drivers/iommu/io-pgfault.c:
 * iommu_report_device_fault, iommu_handle_iopf). Owners (the host mm,
 * mm.h; a VM, vm.h) only call down into this unit.
 */
#ifndef IOASID_HOST_H
#define IOASID_HOST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "iommu/iommu.h"
#include "sim/sim.h"

/* host.thp: transparent huge pages for host memory populated on a fault
 * (Linux /sys/kernel/mm/transparent_hugepage/enabled). */
typedef enum {
    IOASID_THP_NEVER = 0, /* 4 KiB pages only */
    IOASID_THP_ALWAYS,    /* a 2 MiB page where the mapping allows one */
} ioasid_thp_t;

typedef struct ioasid_host_cfg {
    sim_time_t irq_latency; /* MSI -> hard IRQ -> threaded handler running */
    sim_dist_t prq_desc;    /* handler: read + report one descriptor */
    uint64_t cpus;          /* host CPUs */
    uint64_t iopf_workers;  /* iopf workqueue threads (0: one per CPU) */
    unsigned nested_faults; /* ioasid_nested_faults_t */
    sim_dist_t iopf;        /* per group: iopf core, queueing to the handler
                               and building the response (no mm work) */
    sim_dist_t mm_minor;    /* handle_mm_fault, minor fault (per page) */
    sim_dist_t qi_submit;   /* software: build descriptors, write the
                               invalidation queue tail (per batch); the
                               IOMMU's processing is iommu.qi_* */
    uint64_t max_groups;    /* fault groups the iopf core holds at once;
                               one more fails to allocate (Response
                               Failure) */
    unsigned thp;           /* ioasid_thp_t */
} ioasid_host_cfg_t;

/* How a nested (guest-owned stage 1) domain's page requests are routed
 * (host.nested_faults). */
typedef enum {
    IOASID_NESTED_LINUX = 0, /* all to the FAULT object (iommufd) */
    IOASID_NESTED_CLASSIFY,  /* the host handles stage-2 faults itself */
} ioasid_nested_faults_t;

/* The [host] parameter table (offsets into ioasid_host_cfg_t). */
extern const sim_param_t ioasid_host_params[];
extern const unsigned ioasid_host_nparams;

typedef struct ioasid_host ioasid_host_t;

/*
 * What ioasid_mm_unmap and ioasid_virt_unmap return when [va, va+len)
 * holds no mapping: a no-op, as Linux's munmap of an unmapped range
 * succeeds (mm/mmap.c, do_vmi_munmap: no VMA in the range, return 0); there is
 * nothing to clear or invalidate.
 */
#define IOASID_UNMAP_EMPTY 1

/* A new address space needs a domain id and all are in use
 * (ioasid_host_alloc_domain): a limit of the architecture, not memory. */
#define IOASID_NO_DOMAIN (-EUSERS)

/* One page request of a group. */
typedef struct ioasid_iopf_fault {
    struct ioasid_iopf_fault *next;
    iommu_prq_desc_t desc;
} ioasid_iopf_fault_t;

typedef struct ioasid_iopf_group ioasid_iopf_group_t;

/* Queued host work on a group is done (ioasid_host_queue). */
typedef void (*ioasid_iopf_work_fn)(void *opaque, ioasid_iopf_group_t *g);

/* A complete page request group (iommu_fault_group in Linux). */
struct ioasid_iopf_group {
    ioasid_iopf_fault_t *faults; /* in arrival order, the last request last */
    ioasid_iopf_fault_t *last;
    bool stall; /* a stall event: answered with a resume */
    uint16_t stag;
    unsigned resp_stage;      /* span stage its response submission
                                 closes (SIM_SPAN_NO_STAGE: none); the
                                 host sets host_fault, a handler may
                                 change it */
    uint64_t priv;            /* the handler's own (e.g. a GPA) */
    ioasid_iopf_work_fn work; /* queued work: its completion */
    void *work_opaque;
    uint64_t qseq; /* order of its queueing on the workers (a flush waits
                      for the groups queued before it) */
};

/*
 * A fault handler: the binding's owner takes the whole group (Linux:
 * domain->iopf_handler). It must answer the group exactly once, now or
 * later (ioasid_host_respond, ioasid_host_respond_step, or through queued
 * work). Returns extra time the host's handler thread spends in it.
 */
typedef sim_time_t (*ioasid_iopf_handler_fn)(void *data,
                                             ioasid_iopf_group_t *g);

/* A (RID, PASID) pair, for invalidations. */
typedef struct ioasid_binding {
    uint16_t rid;
    uint32_t pasid;
} ioasid_binding_t;

/*
 * Create the host driver for `iommu` (it registers the PRQ and fault
 * queue interrupts). `spans` is the fault span family whose stages
 * host_irq and host_fault the driver stamps (NULL: none). NULL on
 * allocation failure.
 */
ioasid_host_t *ioasid_host_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_host_cfg_t *cfg, iommu_t *iommu,
                                  const sim_spans_t *spans, uint64_t seed);
/* Destroy the driver, after releasing what was handed to ioasid_host_own
 * (latest first). NULL is ignored. */
void ioasid_host_destroy(ioasid_host_t *h);

/* The driver's configuration. */
const ioasid_host_cfg_t *ioasid_host_cfg(const ioasid_host_t *h);
/* The simulation and the IOMMU the driver runs on. */
sim_t *ioasid_host_sim(const ioasid_host_t *h);
iommu_t *ioasid_host_iommu(const ioasid_host_t *h);

/* Release obj with fini(obj) when the host is destroyed (an owner's
 * objects that live as long as the driver). 0 or -ENOMEM. */
int ioasid_host_own(ioasid_host_t *h, void *obj, void (*fini)(void *obj));
/* Take obj back from the host (its owner releases it itself). */
void ioasid_host_disown(ioasid_host_t *h, void *obj);

/*
 * Bind (rid, pasid): write its PASID entry e and record the owner's fault
 * handler {fn, data} for its page requests. Rebinding replaces both.
 * Returns 0 or a negative errno (-ENOMEM, -EBUSY while the PASID is being
 * torn down (ioasid_host_unbind), or the IOMMU's).
 */
int ioasid_host_bind(ioasid_host_t *h, uint16_t rid, uint32_t pasid,
                     const iommu_pasid_entry_t *e, ioasid_iopf_handler_fn fn,
                     void *data);
/*
 * The owner of device rid's unrecoverable events (fault records that are
 * not stalls): fn(data, record) is called from the event handler thread
 * for each, besides counting it (Linux arm-smmu-v3.c arm_smmu_handle_evt:
 * the event of a master attached to a nested domain goes to its vIOMMU,
 * arm_vmaster_report_event). Replaces an earlier owner. 0 or -ENOMEM.
 */
typedef void (*ioasid_host_event_fn)(void *data, const iommu_fault_rec_t *r);
int ioasid_host_set_event_owner(ioasid_host_t *h, uint16_t rid,
                                ioasid_host_event_fn fn, void *data);
/* The handler bound to (rid, pasid) (and its data in *data), or NULL. */
ioasid_iopf_handler_fn ioasid_host_handler(const ioasid_host_t *h, uint16_t rid,
                                           uint32_t pasid, void **data);
/* The teardown of (rid, pasid) is over: the binding is gone and the
 * PASID may be bound again. */
typedef void (*ioasid_host_unbound_fn)(void *opaque, uint16_t rid,
                                       uint32_t pasid);

/*
 * Tear (rid, pasid) down, as Linux does once the device has stopped using
 * the PASID (drivers/iommu/intel/pasid.c: intel_pasid_tear_down_entry,
 * drivers/iommu/intel/prq.c: intel_iommu_drain_pasid_prq), each step in
 * simulated time: clear the PASID entry; PASID-cache, IOTLB and
 * device-TLB invalidations, each its own batch with a wait; wait until the
 * PRQ thread has handled every request of the PASID still in the PRQ;
 * wait until the iopf work queued so far is done (iopf_queue_flush_dev);
 * a drain batch (a fence wait, IOTLB and device-TLB invalidations, a wait
 * with Page-request Drain on VT-d; again after the PRQ thread if the PRQ
 * overflowed). Meanwhile the binding keeps its handler (its requests are
 * still handled by the old owner). Then its partial requests are dropped,
 * the binding is removed (host.unbinds; host.detach.latency from this
 * call), and done(opaque, rid, pasid) is called (may be NULL): the owner
 * answers Invalid what it still holds. Returns 0, -ENOENT (not bound),
 * -EBUSY (already being torn down) or -ENOMEM.
 */
int ioasid_host_unbind(ioasid_host_t *h, uint16_t rid, uint32_t pasid,
                       ioasid_host_unbound_fn done, void *opaque);
/* Whether (rid, pasid) is being torn down (ioasid_host_bind: -EBUSY). */
bool ioasid_host_unbinding(const ioasid_host_t *h, uint16_t rid,
                           uint32_t pasid);

/* A new domain id (host address spaces, guest processes, stage 2): one
 * freed by ioasid_host_free_domain first, or -ENOSPC when all 65,535 of
 * the 16-bit ids (VT-d DID, SMMUv3 ASID; 0 is reserved) are in use. */
int ioasid_host_alloc_domain(ioasid_host_t *h);
/* Give domain id `domain` back once nothing is tagged with it any more (its
 * last binding torn down: Linux frees the DID / ASID when the domain is
 * freed, drivers/iommu/intel/iommu.c: domain_detach_iommu -> ida_free;
 * arm-smmu-v3.c: arm_smmu_domain_free -> xa_erase(&arm_smmu_asid_xa)). */
void ioasid_host_free_domain(ioasid_host_t *h, uint16_t domain);
/* Domain ids in use. */
unsigned ioasid_host_domains_used(const ioasid_host_t *h);

/* host.nested_faults of h. */
ioasid_nested_faults_t ioasid_host_nested_faults(const ioasid_host_t *h);

/* A host software cost, drawn from the driver's stream. */
typedef enum {
    IOASID_HOST_IOPF,      /* host.iopf */
    IOASID_HOST_MM_MINOR,  /* host.mm_minor */
    IOASID_HOST_QI_SUBMIT, /* host.qi_submit */
} ioasid_host_cost_t;
sim_time_t ioasid_host_draw(ioasid_host_t *h, ioasid_host_cost_t which);

/* Queue g on the iopf workers for `cost`; when a worker finishes,
 * work(opaque, g) runs (and must answer g). A response the work submits
 * on VT-d keeps the worker busy until its wait descriptor completes
 * (qi_submit_sync); otherwise the worker is free when work returns. */
void ioasid_host_queue(ioasid_host_t *h, ioasid_iopf_group_t *g,
                       sim_time_t cost, ioasid_iopf_work_fn work, void *opaque);

/* Answer g now: a page group response (VT-d: + wait descriptor) or a
 * resume through the invalidation queue; stamps g->resp_stage; frees g. */
void ioasid_host_respond(ioasid_host_t *h, ioasid_iopf_group_t *g,
                         uint8_t code);

/* The host's response step: after host.qi_submit (drawn here), answer g
 * as ioasid_host_respond; done(opaque) (may be NULL) runs when the
 * submission returns: on VT-d when the wait descriptor completes
 * (intel_iommu_page_response -> qi_submit_sync spins until then), on
 * SMMUv3 at once (arm_smmu_page_response sends no CMD_SYNC). For a
 * response that comes from user space (the FAULT object's completion:
 * iommufd_fault_fops_write returns when iommu_page_response does). */
typedef void (*ioasid_host_done_fn)(void *opaque);
void ioasid_host_respond_step(ioasid_host_t *h, ioasid_iopf_group_t *g,
                              uint8_t code, ioasid_host_done_fn done,
                              void *opaque);

/* A handler handed g to user space (counted host.iopf.guest_groups). */
void ioasid_host_note_user_group(ioasid_host_t *h);

/* Submit, after host.qi_submit, an IOTLB range invalidation of (domain,
 * pasid) and a device-TLB invalidation per binding, then a wait whose
 * completion calls done(opaque). Returns 0 or -ENOMEM. */
int ioasid_host_invalidate(ioasid_host_t *h, uint16_t domain,
                           const ioasid_binding_t *binds, size_t n, uint64_t va,
                           uint64_t len, iommu_done_fn done, void *opaque);
/* The same commands written by the guest into a hardware queue the host
 * assigned to it (NVIDIA Tegra241 CMDQV, iommufd IOMMU_HW_QUEUE_ALLOC):
 * submitted at once, without host.qi_submit. 0 or -ENOMEM. */
int ioasid_host_invalidate_direct(ioasid_host_t *h, uint16_t domain,
                                  const ioasid_binding_t *binds, size_t n,
                                  uint64_t va, uint64_t len, iommu_done_fn done,
                                  void *opaque);

/* The host mm's statistics, registered by the driver (in its stats
 * order); the host mm (mm.c) updates them. */
typedef struct ioasid_host_mm_stats {
    sim_counter_t *minor, *spurious, *upgrades, *bad_access, *unmaps;
    sim_hist_t *unmap_latency;
    uint64_t unmaps_pending; /* unmaps whose invalidation is not done */
} ioasid_host_mm_stats_t;
ioasid_host_mm_stats_t *ioasid_host_mm_stats(ioasid_host_t *h);

/* Page requests reported and groups answered by the host. */
typedef struct ioasid_host_totals {
    uint64_t reported; /* page requests reported by the PRQ handler */
    uint64_t groups;   /* groups handled */
    uint64_t resp_success, resp_invalid, resp_failure;
    uint64_t requests_responded; /* page requests covered by responses */
    uint64_t partial_discarded;
    uint64_t stalls_resumed; /* stall events answered with a resume */
    uint64_t in_flight;      /* groups queued or being handled */
    uint64_t unmaps_pending; /* unmaps whose invalidation is not done */
    uint64_t partials_held;  /* non-last requests waiting for their group's
                                last one (io-pgfault.c partial list) */
} ioasid_host_totals_t;
/* The totals now (computed from the driver's counters). */
void ioasid_host_totals(const ioasid_host_t *h, ioasid_host_totals_t *out);

#endif /* IOASID_HOST_H */
