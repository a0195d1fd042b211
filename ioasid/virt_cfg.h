/*
 * ioasid/virt_cfg.h - the configuration of the virtual fault path, one
 * struct for the platform: the [vm] (vm.c), [ioasid] (fault.c), [vmm]
 * (vmm.c) and [guest] (guest.c) parameter tables each fill their part of
 * it. Types only: it includes no unit header.
 */
#ifndef IOASID_VIRT_CFG_H
#define IOASID_VIRT_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"

typedef enum {
    IOASID_ROUTE_VIOMMU = 0, /* 2021 proposal: (ioasid, addr) -> a v_rid */
    IOASID_ROUTE_VPRI,       /* through the device's virtual PRI */
    IOASID_ROUTE_IOMMUFD,    /* iommufd FAULT object: dev_id + cookie */
    IOASID_ROUTE_HWVIOMMU,   /* hardware vIOMMU: the IOMMU writes the
                                guest's PPR log, no host or VMM on the way */
} ioasid_routing_t;

typedef enum {
    IOASID_PT_SHARED = 0, /* the I/O page table is the CPU page table */
    IOASID_PT_SEPARATE,   /* two tables: fix both, invalidate the I/O one */
} ioasid_pt_mode_t;

typedef enum {
    IOASID_GINV_TRAP = 0, /* each invalidation exits to the VMM, which issues
                             one host ioctl per command */
    IOASID_GINV_HWQUEUE,  /* the guest writes a hardware command queue the
                             host assigned to it: no exit, no ioctl */
} ioasid_guest_inv_t;

typedef enum {
    IOASID_RING_SUCCESS = 0, /* full ring: answer Success (device retries) */
    IOASID_RING_INVALID,     /* full ring: answer Invalid */
} ioasid_ring_policy_t;

typedef struct ioasid_virt_cfg {
    /* [vm] */
    char devices[SIM_PARAM_STR_MAX]; /* the devices assigned to the VM, as
                                        the platform reads them */
    uint64_t memory;   /* guest physical memory for processes, bytes */
    bool s2_on_demand; /* host backs guest memory on first fault (else
                          all of it at VM start, as VFIO pins it) */
    unsigned s2_page;  /* stage-2 leaf of guest memory: 0 4K, 1 2M, 2 1G */
    /* [ioasid] */
    uint64_t ring_depth;    /* user fault ring entries (0: unbounded) */
    unsigned ring_overflow; /* ioasid_ring_policy_t */
    sim_dist_t report;      /* fault handler: save data, queue record, signal */
    uint64_t veventq_depth; /* SMMUv3 vEVENTQ events (0: none) */
    /* [vmm] */
    unsigned routing;         /* ioasid_routing_t */
    sim_dist_t wake;          /* eventfd signal -> VMM fault thread running */
    uint64_t batch;           /* records per read */
    sim_dist_t read;          /* one read of the fault queue (per batch) */
    sim_dist_t route;         /* per record: find the virtual device, build the
                                 guest request */
    sim_dist_t lookup;        /* viommu only: ioasid -> attached v_rid lookup */
    sim_dist_t inject;        /* vIOMMU: guest PRQ entry + tail + virtual MSI */
    sim_dist_t inject_vpri;   /* vpri: the device's virtual PRI queue + MSI */
    sim_dist_t exit;          /* guest response -> VM exit -> VMM decode */
    sim_dist_t complete;      /* VMM -> kernel: complete the fault */
    sim_dist_t s2_fix;        /* host.nested_faults=linux: the VMM backs one
                                 guest page in the host (per page) */
    unsigned guest_inv;       /* ioasid_guest_inv_t */
    sim_dist_t inv_cmd;       /* trap: per invalidation command, decode + the
                                 host invalidation ioctl */
    sim_dist_t hwqueue_write; /* hwqueue: the guest writes its commands and
                                 the producer index */
    /* [guest] */
    uint64_t vcpus;
    double background;      /* share of vCPU time busy with other work */
    sim_dist_t bg_job;      /* one background job */
    sim_dist_t halt_wake;   /* extra when the interrupted vCPU was halted */
    sim_dist_t irq;         /* virtual interrupt -> guest handler running */
    sim_dist_t handler;     /* guest driver + iopf core, per request */
    sim_dist_t mm_minor;    /* guest handle_mm_fault */
    unsigned pt_mode;       /* ioasid_pt_mode_t */
    sim_dist_t iopt_update; /* separate: update the I/O page table */
    sim_dist_t inv;         /* guest I/O TLB invalidation of one command,
                               trap mode: guest part + exit + one ioctl */
    bool inv_range;         /* the vIOMMU has range invalidation: one command
                               per invalidation (else one per page) */
    sim_dist_t respond;     /* guest driver writes the page response */
    uint64_t queue_depth;   /* entries of a guest page request queue */
    uint64_t ppr_log;       /* hwviommu: entries of the guest's PPR log
                               (0: iommu.prq_depth as resolved) */
} ioasid_virt_cfg_t;

#endif /* IOASID_VIRT_CFG_H */
