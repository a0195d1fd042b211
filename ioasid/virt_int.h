/*
 * virt_int.h - internal to ioasid/: the virtual machine, its guest
 * processes, the /dev/ioasid fault objects and the VMM (vmm.c, guest.c).
 */
#ifndef IOASID_VIRT_INT_H
#define IOASID_VIRT_INT_H

#include "ioasid/ioasid_int.h"

typedef struct gq gq_t;

/* A device assigned to the VM. */
typedef struct vdev {
    unsigned index;
    uint16_t rid;  /* physical requester id */
    uint16_t vrid; /* the RID the guest sees behind its vIOMMU */
    gq_t *vpri;    /* routing vpri: the device's virtual PRI queue */
} vdev_t;

/* A guest process: one stage-1 IOASID nested on the VM's stage 2. */
typedef struct gproc {
    ioasid_virt_t *v;
    uint32_t pasid;
    unsigned ioasid; /* id of its stage-1 IOASID */
    uint16_t domain;
    iommu_pt_t s1; /* the guest's I/O page table, in guest memory */
    vma_set_t vmas;
    vdev_t **att; /* devices attached with this PASID */
    size_t natt, att_cap;
} gproc_t;

enum vf_state { VF_REPORT = 1, VF_RING, VF_VMM, VF_GUEST };

/* A guest-owned fault: the host group (the raw fault data saved for the
 * response) on its way through the ring, the VMM and the guest. */
typedef struct vfault {
    struct vfault *next;
    struct vfault *lnext, *lprev; /* the VM's list of live faults */
    iopf_group_t *g;
    gproc_t *proc;
    vdev_t *pdev;   /* the device that faulted */
    vdev_t *target; /* the virtual device the guest is told about */
    uint32_t id;    /* cookie; 0 once answered or detached */
    uint8_t state;
    unsigned pages; /* requests in the group */
    sim_time_t tail_cost; /* exit + complete + host submission of the
                             guest job (after the response is written) */
    uint8_t code;         /* the guest's response code */
} vfault_t;

/* A guest request queue: the vIOMMU's page request queue (viommu,
 * iommufd) or one device's virtual PRI queue (vpri), drained by one guest
 * handler thread. */
struct gq {
    vfault_t *head, *tail;
    size_t n;
    bool busy;        /* the handler thread runs (or its IRQ is coming) */
    sim_gauge_t *occ; /* entries waiting */
};

/* A job on a vCPU. */
typedef enum { VJOB_HANDLER = 1, VJOB_FIX, VJOB_BACKGROUND } vjob_kind_t;

typedef struct vjob {
    vjob_kind_t kind;
    vfault_t *vf;
    gq_t *q;
} vjob_t;

struct ioasid_virt {
    sim_t *sim;
    ioasid_host_t *host;
    iommu_t *iommu;
    ioasid_virt_cfg_t cfg;
    sim_rng_t rng;

    /* guest memory */
    iommu_guest_t *guest;
    uint64_t gpa_next, gpa_end;
    uint16_t s2_domain;
    unsigned next_ioasid;

    vdev_t *devs;
    unsigned ndevs;
    gproc_t **procs; /* indexed by PASID through a small open table */
    size_t nproc_slots, nprocs;

    vfault_t *live; /* every fault not yet freed, for detach */
    /* /dev/ioasid: the fault ring and its eventfd */
    vfault_t *ring_head, *ring_tail;
    size_t ring_n;
    uint32_t next_id;
    bool signalled; /* eventfd counter non-zero */

    /* VMM fault thread */
    bool vmm_running;
    unsigned batch_left; /* injections of the current read not yet done */

    /* guest */
    gq_t viommu_q;
    sim_server_t *vcpus;
    sim_rng_t vcpu_rng;
    double bg_rate; /* background jobs per ps */
    bool bg_running;
    vjob_t bg_job;
    sim_pool_t vfaults, vjobs;

    struct {
        sim_counter_t *faults, *ring_overflow, *signals, *coalesced,
            *reads, *records, *injected, *queue_full, *guest_faults,
            *guest_invalid, *responses, *resp_unknown, *detached,
            *s2_faults, *bg_jobs, *halted_wakes, *unmaps;
        sim_gauge_t *ring_occ;
        sim_hist_t *unmap_latency;
    } s;
};

/* guest.c */
int virt_guest_init(ioasid_virt_t *v, sim_stats_t *st);
void virt_guest_fini(ioasid_virt_t *v);
/* A routed record enters a guest queue (after the VMM's injection). */
void virt_guest_deliver(ioasid_virt_t *v, gq_t *q, vfault_t *vf);
int virt_gq_init(ioasid_virt_t *v, gq_t *q, sim_stats_t *st,
                 const char *name);

/* vmm.c */
/* The guest answered vf (id as the guest saw it) with code. */
void virt_vmm_complete(ioasid_virt_t *v, vfault_t *vf, uint32_t id,
                       uint8_t code);
void virt_vfault_free(ioasid_virt_t *v, vfault_t *vf);

#endif
