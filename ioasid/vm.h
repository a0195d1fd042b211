/*
 * ioasid/vm.h - a virtual machine and the devices assigned to it: their PASIDs
 * are guest processes translated with nested translation (guest stage 1 on host
 * stage 2). The VM installs its fault handler on each binding it makes: a
 * stage-2 fault (the guest page is not backed on the host) is queued as host
 * work that backs it; a fault the guest owns travels the FAULT object (ring +
 * eventfd, fault.h) -> VMM (routed by vmm.routing, vmm.h) -> guest (vIOMMU
 * queue or the device's virtual PRI, guest.h) -> page response -> VM exit ->
 * VMM -> completion
 * -> host page response.
 * Sources: "[RFC] /dev/ioasid uAPI proposal", Kevin Tian, linux-iommu and
 * kvm lists, 2021-05-27, section 5.6, and its replies; Linux
 * drivers/iommu/iommufd/fault.c.
 */
#ifndef IOASID_VM_H
#define IOASID_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "ioasid/fault.h"
#include "ioasid/guest.h"
#include "ioasid/host.h"
#include "ioasid/virt_cfg.h"
#include "ioasid/vmm.h"

/* The [vm] parameter table (offsets into ioasid_virt_cfg_t). */
extern const sim_param_t ioasid_vm_params[];
extern const unsigned ioasid_vm_nparams;

typedef struct ioasid_virt ioasid_virt_t;

/* Create the VM on `host`, owning the devices with requester ids rids[0..n)
 * (the platform reads cfg->devices); its units stamp the stages
 * host_fault, vmm, guest and vmm_exit of `spans`. A VM with a name (not
 * NULL or "") registers its statistics as vm.NAME.* and draws from its
 * own random stream; without, under their plain names. Returns NULL on
 * failure (logged). */
ioasid_virt_t *ioasid_virt_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_virt_cfg_t *cfg,
                                  ioasid_host_t *host, iommu_t *iommu,
                                  const sim_spans_t *spans,
                                  const uint16_t *rids, unsigned n,
                                  const char *name, uint64_t seed);
/* NULL is ignored. Destroy the VM before its host. */
void ioasid_virt_destroy(ioasid_virt_t *v);
/* Start the guest's background load (call once the run has work). */
void ioasid_virt_start(ioasid_virt_t *v);

/*
 * Trace records for a VM device `dev` (0-based among the VM's devices).
 * A PASID is a guest process: every VM device using it shares its stage-1
 * IOASID, and a record attaches the device to it. map: -EEXIST when the
 * range overlaps a different mapping (the same mapping again only
 * attaches), -EINVAL (alignment, width), -ENOSPC (guest memory full),
 * -ENOMEM. unmap and detach: -ENOENT when dev is not attached to pasid;
 * unmap: -EINVAL when it would split a page of a mapping.
 * map_pages maps guest pages of 1 << shift bytes (12, 21 or 30: the trace
 * map's page size): the guest's stage-1 leaves have that size; va and len
 * are multiples of it (else -EINVAL).
 */
int ioasid_virt_map_pages(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                          uint64_t va, uint64_t len, uint64_t perm,
                          bool present, unsigned shift);
int ioasid_virt_unmap(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                      uint64_t va, uint64_t len);
/* Detach (once the device has stopped the PASID): the host tears the
 * binding down (ioasid_host_unbind: entry cleared, caches invalidated, PRQ
 * drained), then the faults of (dev, pasid) still pending in the FAULT
 * object are answered Invalid (Linux iommufd/device.c:
 * iommufd_hwpt_detach_device: iommu_detach_device_pasid, then
 * iommufd_auto_response_faults), then done(opaque, rid, pasid) (may be
 * NULL). Returns 0, -ENOENT or -ENOMEM. */
int ioasid_virt_detach(ioasid_virt_t *v, unsigned dev, uint32_t pasid,
                       ioasid_host_unbound_fn done, void *opaque);
/* Whether dev is attached to the process of pasid. */
bool ioasid_virt_attached(ioasid_virt_t *v, unsigned dev, uint32_t pasid);

#endif /* IOASID_VM_H */
