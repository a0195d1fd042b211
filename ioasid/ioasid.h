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

#endif /* IOASID_IOASID_H */
