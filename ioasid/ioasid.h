/*
 * ioasid/ioasid.h - the public header of ioasid/ for tools and tests: the
 * host IOMMU driver (host.h), host address spaces with the native SVA
 * handler (mm.h), and the virtual fault path: the VM (vm.h) with its
 * FAULT object (fault.h), vEVENTQ (veventq.h), VMM (vmm.h) and guest
 * (guest.h). No unit of
 * ioasid/ includes it.
 */
#ifndef IOASID_IOASID_H
#define IOASID_IOASID_H

#include "ioasid/fault.h"
#include "ioasid/guest.h"
#include "ioasid/host.h"
#include "ioasid/mm.h"
#include "ioasid/veventq.h"
#include "ioasid/virt_cfg.h"
#include "ioasid/vm.h"
#include "ioasid/vmm.h"

#endif /* IOASID_IOASID_H */
