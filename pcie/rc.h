/*
 * pcie/rc.h - the root complex's downstream side: which device a
 * requester id reaches (RID = bus[15:8], device[7:3], function[2:0]: the
 * Requester ID of the Transaction ID, PCIe r4.0 2.2.6.2).
 * The IOMMU sends its messages down through pcie_rc_send_down, installed
 * as its downstream port; the RC hands each one to the device's link.
 *
 * The RID space is 65536 entries; the table is 256 buses, each a lazily
 * allocated array of its 256 device/function slots, so a lookup is two
 * loads and a machine with one bus of devices costs one 2 KiB array.
 *
 * Needs only the message and device types of pcie/pcie.h (forward
 * declared here, so this header does not include the device's).
 */
#ifndef PCIE_RC_H
#define PCIE_RC_H

#include <stdint.h>

#include "sim/sim.h"

typedef struct pcie_msg pcie_msg_t;
typedef struct pcie_dev pcie_dev_t;
typedef struct pcie_rc pcie_rc_t;

/* Create an empty root complex; warnings go to sim's log. Returns NULL
 * when out of memory. */
pcie_rc_t *pcie_rc_create(sim_t *sim);

/* Free the RC and its tables (NULL is allowed); the devices are not
 * touched (their owner destroys them). */
void pcie_rc_destroy(pcie_rc_t *rc);

/* Attach dev at `rid`. Returns 0, -EEXIST (a device already has that RID;
 * nothing changes) or -ENOMEM. */
int pcie_rc_attach(pcie_rc_t *rc, uint16_t rid, pcie_dev_t *dev);

/* The device attached at `rid`, or NULL. */
pcie_dev_t *pcie_rc_dev(const pcie_rc_t *rc, uint16_t rid);

/*
 * Send m down to the device with requester id `rid` (over its link, with
 * pcie_dev_send_down). With no device at that RID, the message is dropped
 * and a warning "root complex: no device with RID <rid>" is logged.
 * `opaque` is the pcie_rc_t: the signature is that of iommu_send_fn, so the
 * RC can be installed as the IOMMU's downstream port.
 */
void pcie_rc_send_down(void *opaque, uint16_t rid, const pcie_msg_t *m);

#endif
