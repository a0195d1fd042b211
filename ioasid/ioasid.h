/*
 * ioasid/ioasid.h - the host side of the fault path: address spaces (the
 * host mm: VMAs and the I/O page table), the host IOMMU driver's page
 * request handling (PRQ interrupt, handler thread, I/O page fault groups,
 * iopf workers, page responses through the invalidation queue), stall
 * events of untranslated DMA (SMMUv3 stall model: a fault group of one,
 * answered with a resume) and unmap invalidations.
 *
 * Behaviour follows Linux drivers/iommu/intel/prq.c and io-pgfault.c as
 * collected in shared/reference/fault-path-semantics.md sections 2b and 4.
 */
#ifndef IOASID_IOASID_H
#define IOASID_IOASID_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu/iommu.h"
#include "sim/sim.h"

typedef struct ioasid_host_cfg {
    sim_time_t irq_latency;   /* MSI -> hard IRQ -> threaded handler running */
    sim_dist_t prq_desc;      /* handler: read + report one descriptor */
    uint64_t iopf_workers;    /* iopf workqueue threads */
    sim_dist_t iopf;          /* per group: iopf core, queueing to the handler
                                 and building the response (no mm work) */
    sim_dist_t mm_minor;      /* handle_mm_fault, minor fault (per page) */
    sim_dist_t qi_submit;     /* software: build descriptors, write the
                                 invalidation queue tail (per batch); the
                                 IOMMU's processing is iommu.qi_* */
} ioasid_host_cfg_t;

extern const sim_param_t ioasid_host_params[];
extern const unsigned ioasid_host_nparams;

typedef struct ioasid_host ioasid_host_t;
typedef struct ioasid_mm ioasid_mm_t;

/* Create the host driver for `iommu` (it registers the PRQ interrupt). */
ioasid_host_t *ioasid_host_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_host_cfg_t *cfg, iommu_t *iommu,
                                  uint64_t seed);
void ioasid_host_destroy(ioasid_host_t *host);

/* A new, empty address space (a process mm with its stage-1 table). */
ioasid_mm_t *ioasid_mm_create(ioasid_host_t *host);

/* Bind (rid, pasid) to mm for native SVA: the PASID entry points to the
 * mm's table with PRI enabled. Returns 0 or -ENOMEM. */
int ioasid_host_bind(ioasid_host_t *host, ioasid_mm_t *mm, uint16_t rid,
                     uint32_t pasid);
/* The mm bound to (rid, pasid), or NULL. */
ioasid_mm_t *ioasid_host_lookup(const ioasid_host_t *host, uint16_t rid,
                                uint32_t pasid);

/*
 * Add a mapping [va, va+len) with perm (IOMMU_PTE_R|W|X) to mm; with
 * `present` its pages are populated at once, otherwise on first fault.
 * Returns 0, -EEXIST (overlaps a mapping), -EINVAL (alignment or address
 * width) or -ENOMEM. Functional: takes no simulated time.
 */
int ioasid_mm_map(ioasid_mm_t *mm, uint64_t va, uint64_t len, uint64_t perm,
                  bool present);

/*
 * Remove mappings in [va, va+len) (pages must be 4 KiB aligned), clear the
 * page table, then, after host.qi_submit, submit to the invalidation queue
 * an IOTLB invalidation and a device-TLB invalidation per device bound to
 * mm, and a wait descriptor; the latency until the wait completes is
 * measured (host.unmap.latency). Returns 0, -EINVAL or -ENOMEM.
 */
int ioasid_mm_unmap(ioasid_mm_t *mm, uint64_t va, uint64_t len);

/* Input address bits of mm's table. */
unsigned ioasid_mm_va_bits(const ioasid_mm_t *mm);

/* Page requests reported and groups answered by the host. */
typedef struct ioasid_host_totals {
    uint64_t reported;       /* page requests reported by the PRQ handler */
    uint64_t groups;         /* groups handled */
    uint64_t resp_success, resp_invalid;
    uint64_t requests_responded; /* page requests covered by responses */
    uint64_t partial_discarded;
    uint64_t stalls_resumed; /* stall events answered with a resume */
    uint64_t in_flight;      /* groups queued or being handled */
    uint64_t unmaps_pending; /* unmaps whose invalidation is not done */
} ioasid_host_totals_t;
void ioasid_host_totals(const ioasid_host_t *host, ioasid_host_totals_t *out);


/* ======================================================= virtualisation */

/*
 * A virtual machine whose devices (the first vm.devices) are assigned to it:
 * their PASIDs are guest processes translated with nested translation
 * (guest stage 1 on host stage 2). A fault the guest owns (stage 1) travels
 * host driver -> /dev/ioasid fault handler (fault ring + eventfd) -> VMM
 * (routed by vmm.routing) -> guest (vIOMMU queue or the device's virtual
 * PRI) -> guest driver + guest mm -> page response -> VM exit -> VMM ->
 * ioasid completion -> host page response. A stage-2 fault (the guest page
 * is not backed on the host) is handled by the host alone.
 * Sources: the seed thread (shared/seed/), fault-path-semantics.md sections
 * 5 and 6, latency-calibration.md section 3.3.
 */

typedef enum {
    IOASID_ROUTE_VIOMMU = 0, /* 2021 proposal: (ioasid, addr) -> a v_rid */
    IOASID_ROUTE_VPRI,       /* through the device's virtual PRI */
    IOASID_ROUTE_IOMMUFD,    /* iommufd FAULT object: dev_id + cookie */
} ioasid_routing_t;

typedef enum {
    IOASID_PT_SHARED = 0, /* the I/O page table is the CPU page table */
    IOASID_PT_SEPARATE,   /* two tables: fix both, invalidate the I/O one */
} ioasid_pt_mode_t;

typedef enum {
    IOASID_RING_SUCCESS = 0, /* full ring: answer Success (device retries) */
    IOASID_RING_INVALID,     /* full ring: answer Invalid */
} ioasid_ring_policy_t;

typedef struct ioasid_virt_cfg {
    /* [vm] */
    uint64_t devices;     /* devices 0 .. devices-1 belong to the VM */
    uint64_t memory;      /* guest physical memory for processes, bytes */
    bool s2_on_demand;    /* host backs guest memory on first fault (else
                             all of it at VM start, as VFIO pins it) */
    /* [ioasid] */
    uint64_t ring_depth;  /* user fault ring entries (0: unbounded) */
    unsigned ring_overflow; /* ioasid_ring_policy_t */
    sim_dist_t report;    /* fault handler: save data, queue record, signal */
    /* [vmm] */
    unsigned routing;     /* ioasid_routing_t */
    sim_dist_t wake;      /* eventfd signal -> VMM fault thread running */
    uint64_t batch;       /* records per read */
    sim_dist_t read;      /* one read of the fault queue (per batch) */
    sim_dist_t route;     /* per record: find the virtual device, build the
                             guest request */
    sim_dist_t lookup;    /* viommu only: ioasid -> attached v_rid lookup */
    sim_dist_t inject;    /* vIOMMU: guest PRQ entry + tail + virtual MSI */
    sim_dist_t inject_vpri; /* vpri: the device's virtual PRI queue + MSI */
    sim_dist_t exit;      /* guest response -> VM exit -> VMM decode */
    sim_dist_t complete;  /* VMM -> kernel: complete the fault */
    /* [guest] */
    uint64_t vcpus;
    double background;    /* share of vCPU time busy with other work */
    sim_dist_t bg_job;    /* one background job */
    sim_dist_t halt_wake; /* extra when the interrupted vCPU was halted */
    sim_dist_t irq;       /* virtual interrupt -> guest handler running */
    sim_dist_t handler;   /* guest driver + iopf core, per request */
    sim_dist_t mm_minor;  /* guest handle_mm_fault */
    unsigned pt_mode;     /* ioasid_pt_mode_t */
    sim_dist_t iopt_update; /* separate: update the I/O page table */
    sim_dist_t inv;       /* guest I/O TLB invalidation: exit + ioctl */
    sim_dist_t respond;   /* guest driver writes the page response */
} ioasid_virt_cfg_t;

extern const sim_param_t ioasid_virt_params[];
extern const unsigned ioasid_virt_nparams;

typedef struct ioasid_virt ioasid_virt_t;

/* Create the VM on `host`, owning the devices with requester ids rids[0..n)
 * (n = cfg->devices). Returns NULL on failure (logged). */
ioasid_virt_t *ioasid_virt_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_virt_cfg_t *cfg,
                                  ioasid_host_t *host, iommu_t *iommu,
                                  const uint16_t *rids, unsigned n,
                                  uint64_t seed);
void ioasid_virt_destroy(ioasid_virt_t *v);
/* Start the guest's background load (call once the run has work). */
void ioasid_virt_start(ioasid_virt_t *v);

/*
 * Trace records for a VM device `dev` (0-based among the VM's devices).
 * A PASID is a guest process: every VM device using it shares its stage-1
 * IOASID, and a record attaches the device to it. map: -EEXIST when the
 * range overlaps a different mapping (the same mapping again only
 * attaches), -EINVAL (alignment, width), -ENOSPC (guest memory full),
 * -ENOMEM. unmap and detach: -ENOENT when dev is not attached to pasid.
 */
int ioasid_virt_map(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                    uint64_t va, uint64_t len, uint64_t perm, bool present);
int ioasid_virt_unmap(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                      uint64_t va, uint64_t len);
/* Detach: pending faults of (dev, pasid) are answered Invalid, the host
 * unbinds it (PASID entry cleared, caches invalidated). */
int ioasid_virt_detach(ioasid_virt_t *v, unsigned dev, uint32_t pasid);
bool ioasid_virt_attached(ioasid_virt_t *v, unsigned dev, uint32_t pasid);

/* Native (host) side of detach: unbind (rid, pasid): clear its PASID entry
 * (and invalidate the PASID cache and its IOTLB entries through the queue);
 * its partial requests are dropped and its pending groups answered Invalid
 * when their handling ends. Returns 0 or -ENOENT. */
int ioasid_host_unbind(ioasid_host_t *h, uint16_t rid, uint32_t pasid);

#endif /* IOASID_IOASID_H */
