/*
 * ioasid/veventq.h - the iommufd vEVENTQ of a VM's vIOMMU: the SMMUv3
 * events (unrecoverable stage-1 faults) of the VM's devices, delivered to
 * the VMM and injected into the guest's virtual event queue, beside the
 * FAULT object that carries page requests (fault.h).
 *
 * Sources: Linux include/uapi/linux/iommufd.h (IOMMU_VEVENTQ_ALLOC with
 * veventq_depth; struct iommufd_vevent_header: flags and a sequence index
 * in [0, INT_MAX] that wraps to 0, a gap in it counting lost events, and
 * an IOMMU_VEVENTQ_FLAG_LOST_EVENTS header at the tail when events were
 * lost with nothing after them; IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, struct
 * iommu_vevent_arm_smmuv3 carrying the raw event record);
 * drivers/iommu/iommufd/driver.c iommufd_viommu_report_event and
 * iommufd_vevent_handler (a full queue loses the event: the lost-events
 * header sits at the tail with the last lost index, and an event queued
 * later replaces it there) and
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c arm_smmu_handle_evt (an
 * event of a master attached to a nested domain goes to its vIOMMU,
 * arm_vmaster_report_event).
 */
#ifndef IOASID_VEVENTQ_H
#define IOASID_VEVENTQ_H

#include "ioasid/virt_cfg.h"
#include "iommu/types.h"
#include "sim/sim.h"

/* The vEVENTQ parameter (section [ioasid], offsets into ioasid_virt_cfg_t). */
extern const sim_param_t ioasid_veventq_params[];
extern const unsigned ioasid_veventq_nparams;

typedef struct ioasid_veventq ioasid_veventq_t;

/* A vEVENTQ of cfg->veventq_depth events with its reader: the VMM's
 * handler of the queue's fd (vmm.wake, vmm.read per batch of vmm.batch,
 * vmm.inject per event into the guest's virtual event queue) and the
 * guest's event handler (guest.irq + guest.handler); statistics under
 * ioasid.veventq.*. Draws from rng. NULL on allocation failure. */
ioasid_veventq_t *ioasid_veventq_create(sim_t *sim, sim_stats_t *st,
                                        const ioasid_virt_cfg_t *cfg,
                                        sim_rng_t *rng);
void ioasid_veventq_destroy(ioasid_veventq_t *q);

/* The host's event handler hands an event of one of the VM's devices to
 * the queue (iommufd_viommu_report_event): queued with the next sequence
 * index, or lost when the queue is full. */
void ioasid_veventq_report(ioasid_veventq_t *q, const iommu_fault_rec_t *r);

/* Totals, for tests. */
typedef struct ioasid_veventq_totals {
    uint64_t reported;     /* events handed to the queue */
    uint64_t lost;         /* of those, lost (the queue was full) */
    uint64_t delivered;    /* events the guest handled */
    uint64_t lost_seen;    /* lost events the VMM learnt of (sequence gaps and
                              lost-events headers) */
    uint64_t lost_headers; /* IOMMU_VEVENTQ_FLAG_LOST_EVENTS headers read */
} ioasid_veventq_totals_t;
void ioasid_veventq_totals(const ioasid_veventq_t *q,
                           ioasid_veventq_totals_t *out);

#endif /* IOASID_VEVENTQ_H */
