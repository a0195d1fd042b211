/*
 * pcie/pcie.h - the public header of pcie/: PCIe messages (msg.h), the link
 * model (link.h), the endpoint device with its ATC (ATS), PRI state machine
 * and PASID stop (device.h), and the root complex (rc.h).
 *
 * Semantics follow the ATS/PRI chapter of the PCIe Base Specification
 * (r4.0 10.2-10.5): a Translation Completion with R=W=0 makes a
 * PRI-capable device send Page Requests (10.4.1); the PRG Response code
 * decides what happens next (10.4.2.1).
 *
 * Other folders include this umbrella; the units of pcie/ include only the
 * unit headers they use, never this one.
 */
#ifndef PCIE_PCIE_H
#define PCIE_PCIE_H

#include "pcie/device.h"
#include "pcie/link.h"
#include "pcie/msg.h"
#include "pcie/rc.h"

#endif /* PCIE_PCIE_H */
