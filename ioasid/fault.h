/*
 * ioasid/fault.h - the /dev/ioasid (iommufd) FAULT object: the fault
 * handler a VM's bindings hand guest-owned groups to. It saves the raw
 * fault data (the host group) for the response under a cookie, writes a
 * user record into a bounded ring and signals an eventfd; a reader (the
 * VMM) drains the ring and later completes the fault by cookie, which
 * becomes the host's page response.
 * Sources: "[RFC] /dev/ioasid uAPI proposal", Kevin Tian, linux-iommu and
 * kvm lists, 2021-05-27, section 5.6; Linux drivers/iommu/iommufd/fault.c
 * (iommufd_fault_iopf_handler, the deliver list) and eventq.c
 * (iommufd_fault_fops_read/write, iommufd_auto_response_faults).
 */
#ifndef IOASID_FAULT_H
#define IOASID_FAULT_H

#include <stdint.h>

#include "ioasid/host.h"
#include "ioasid/virt_cfg.h"

/* The [ioasid] parameter table (offsets into ioasid_virt_cfg_t). */
extern const sim_param_t ioasid_fault_params[];
extern const unsigned ioasid_fault_nparams;

typedef struct ioasid_fault ioasid_fault_t;

/* Where a record is. */
enum {
    IOASID_FAULT_REPORT = 1, /* the host handler is reporting it */
    IOASID_FAULT_RING,       /* in the ring */
    IOASID_FAULT_READ,       /* read by the VMM */
    IOASID_FAULT_GUEST,      /* delivered to the guest */
};

/* A guest-owned fault: the saved host group on its way through the ring,
 * the reader and the guest. */
typedef struct ioasid_fault_rec {
    struct ioasid_fault_rec *next;          /* ring link; after the read, the
                                               reader's (a guest queue) */
    struct ioasid_fault_rec *lnext, *lprev; /* fault.c: the live list */
    ioasid_iopf_group_t *g; /* the saved fault data; NULL once answered */
    void *dev;              /* the reporter's: the faulting device */
    void *ioas;   /* the reporter's: the I/O address space (process) */
    void *target; /* the reader's: the device the guest is told about */
    uint32_t id;  /* cookie; 0 once answered or detached */
    uint8_t state;
    unsigned pages;   /* requests in the group */
    uint32_t resp_id; /* the reader's: the cookie of a pending response */
    uint8_t code;     /* the reader's: its code */
} ioasid_fault_rec_t;

/* Create the FAULT object on `host`, drawing from `rng` (shared with the
 * VM's other units, in event order); it stamps host_fault (end of a
 * report) and vmm_exit (a response submitted) of `spans`. */
ioasid_fault_t *ioasid_fault_create(sim_t *sim, const ioasid_virt_cfg_t *cfg,
                                    ioasid_host_t *host, sim_rng_t *rng,
                                    const sim_spans_t *spans);
/* NULL is ignored. */
void ioasid_fault_destroy(ioasid_fault_t *f);
/* Register the ioasid.* counters (ioasid_fault_stats) and, separately to
 * keep the stats order, the ring occupancy gauge. 0 or -ENOMEM. */
int ioasid_fault_stats(ioasid_fault_t *f, sim_stats_t *st);
int ioasid_fault_ring_stats(ioasid_fault_t *f, sim_stats_t *st);

/* The reader's wake-up port: called when the eventfd is signalled with
 * its counter at zero. */
typedef void (*ioasid_fault_wake_fn)(void *opaque);
void ioasid_fault_set_wake(ioasid_fault_t *f, ioasid_fault_wake_fn fn,
                           void *opaque);

/* Take guest-owned group g of (dev, ioas) (called from the binding's
 * handler, on the host's handler thread): save it under a fresh cookie;
 * after ioasid.report the record is queued (or a full ring answered per
 * ioasid.ring_overflow) and the eventfd signalled. Returns the report's
 * handler-thread time. */
sim_time_t ioasid_fault_report(ioasid_fault_t *f, ioasid_iopf_group_t *g,
                               void *dev, void *ioas);

/* A read clears the eventfd counter. */
void ioasid_fault_eventfd_read(ioasid_fault_t *f);
/* The oldest record of the ring (now IOASID_FAULT_READ), or NULL. */
ioasid_fault_rec_t *ioasid_fault_read(ioasid_fault_t *f);
/* Whether the ring is empty. */
bool ioasid_fault_ring_empty(const ioasid_fault_t *f);
/* A batch of reads is over (updates the ring occupancy). */
void ioasid_fault_read_done(ioasid_fault_t *f);

/*
 * Complete rec with the cookie id the reader saw and code (the write()
 * of a response), whether the reader delivered it to the guest or
 * answered it itself (a full guest queue). A fault no longer pending (answered
 * by a detach, or twice) is counted ioasid.resp_unknown, not obeyed; otherwise
 * the host's response step submits the page response (Response Failure becomes
 * Invalid) and closes vmm_exit. Frees rec; done(opaque) runs when the
 * host has submitted the response (at once for an unknown cookie).
 */
void ioasid_fault_respond(ioasid_fault_t *f, ioasid_fault_rec_t *rec,
                          uint32_t id, uint8_t code, ioasid_host_done_fn done,
                          void *opaque);
/* Free a record a reader holds (its fault was answered meanwhile). */
void ioasid_fault_rec_free(ioasid_fault_t *f, ioasid_fault_rec_t *rec);

/* Answer Invalid every pending fault of (dev, ioas): records still in the
 * ring are dropped, those a reader holds are answered now and their later
 * responses are stale (eventq.c: iommufd_auto_response_faults). */
void ioasid_fault_detach(ioasid_fault_t *f, const void *dev, const void *ioas);

#endif /* IOASID_FAULT_H */
