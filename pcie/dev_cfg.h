/*
 * pcie/dev_cfg.h - the endpoint device's public types: its configuration
 * ([device]), its handle, its upstream port and callbacks, the PRI Status
 * bits it reports and its totals. Types only; the functions are in
 * device.h.
 */
#ifndef PCIE_DEV_CFG_H
#define PCIE_DEV_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "pcie/link.h"
#include "pcie/msg.h"
#include "sim/sim.h"

/* What a translation fault does to the device (device.fault_policy). */
typedef enum pcie_fault_policy {
    PCIE_FAULT_PRI = 0, /* the faulting DMA waits for its page response */
    PCIE_FAULT_BLOCK,   /* the whole device waits (DSA block on fault) */
    PCIE_FAULT_PARTIAL, /* partial completion; software fixes, resubmits */
} pcie_fault_policy_t;

typedef struct pcie_dev_cfg {
    uint64_t count;          /* number of identical devices */
    uint64_t rid_base;       /* RID of device 0; device i has rid_base + i */
    uint64_t tags;           /* DMAs in flight at once */
    bool ats;                /* ATS capable (else DMAs go untranslated) */
    bool pri;                /* PRI capable */
    bool in_order;           /* a fault blocks the device's later DMAs */
    bool prg_pasid_required; /* PRI Status "PRG Response PASID Required" */
    uint64_t atc_entries;    /* ATC entries (0 = no caching) */
    uint64_t atc_ways;       /* ATC associativity */
    uint64_t pri_capacity;   /* Outstanding Page Request Capacity */
    uint64_t pri_alloc;      /* allocation the host requests; the device is
                                granted min(capacity, alloc) */
    uint64_t pri_retries;    /* Success responses that re-fault before the DMA
                                is given up (bounded livelock) */
    uint64_t fault_ahead;    /* pages one fault asks for (one group) */
    sim_time_t pri_timeout;  /* PRG response timeout (0: none) */
    sim_time_t pri_reset_delay; /* after a Response Failure, PRI is reset
                                   and enabled again this much later (0:
                                   never, as Linux) */
    sim_dist_t proc;            /* ATC lookup + building a request */
    sim_dist_t inv_proc;        /* ATS invalidation handling in the device */
    unsigned fault_policy;      /* pcie_fault_policy_t */
    sim_dist_t partial_cost;    /* host software: partial completion to
                                   resubmission (fault_policy = partial) */
} pcie_dev_cfg_t;

typedef struct pcie_dev pcie_dev_t;

/*
 * The upstream side of a device: where its link delivers (the root
 * complex / IOMMU).
 */
typedef struct pcie_dev_port {
    pcie_rx_fn up_rx;
    void *up_opaque;
} pcie_dev_port_t;

/* Called when a DMA ends (ok: all its bytes moved; else it failed or was
 * aborted), after its tag was released. It may start new DMAs. */
typedef void (*pcie_dma_done_fn)(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                                 uint64_t addr, uint64_t len, bool write,
                                 bool ok);

/*
 * fault_policy = partial: host software touches the page of `addr` for a
 * `write` (or read) access of `pasid` through the host's fault path before
 * it resubmits the rest of the DMA. Returns 0 when the access is allowed
 * now, or a negative errno when it never will be (the DMA fails).
 */
typedef int (*pcie_fixup_fn)(void *opaque, pcie_dev_t *dev, uint32_t pasid,
                             uint64_t addr, bool write);

/* Called when a PASID stop has completed on the device. */
typedef void (*pcie_stop_done_fn)(void *opaque, pcie_dev_t *dev,
                                  uint32_t pasid);

/* PRI Status bits as the device reports them (PCIe r4.0 10.5.2.3, Linux
 * pci_regs.h PCI_PRI_STATUS_*). */
#define PCIE_PRI_STATUS_RF 0x0001u      /* Response Failure received */
#define PCIE_PRI_STATUS_UPRGI 0x0002u   /* unexpected PRG index */
#define PCIE_PRI_STATUS_STOPPED 0x0100u /* disabled and nothing outstanding */
#define PCIE_PRI_STATUS_PASID 0x8000u   /* PRG Response PASID Required */

/* Per-device totals (for the summary and tests). */
typedef struct pcie_dev_totals {
    uint64_t dmas_started, dmas_done, dmas_failed;
    uint64_t page_requests, prg_responses, page_groups, stop_markers;
    uint64_t atc_hits, atc_misses;
    uint64_t in_flight;       /* DMAs queued or in progress */
    uint64_t pri_outstanding; /* page requests awaiting a response */
    uint64_t mem_grows;       /* times the device or its link allocated
                                 memory for in-flight state (new maxima) */
} pcie_dev_totals_t;

#endif /* PCIE_DEV_CFG_H */
