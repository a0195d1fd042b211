/*
 * rc.c - RID -> device table of the root complex (see rc.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "pcie/device.h"
#include "pcie/rc.h"

#define RC_BUSES 256u
#define RC_DEVFNS 256u /* 5-bit device, 3-bit function */

struct pcie_rc {
    sim_t *sim;
    pcie_dev_t **bus[RC_BUSES]; /* NULL until a device is attached on it */
};

pcie_rc_t *pcie_rc_create(sim_t *sim)
{
    pcie_rc_t *rc = calloc(1, sizeof(*rc));
    if (rc)
        rc->sim = sim;
    return rc;
}

void pcie_rc_destroy(pcie_rc_t *rc)
{
    if (!rc)
        return;
    for (unsigned b = 0; b < RC_BUSES; b++)
        free(rc->bus[b]);
    free(rc);
}

int pcie_rc_attach(pcie_rc_t *rc, uint16_t rid, pcie_dev_t *dev)
{
    pcie_dev_t **slots = rc->bus[rid >> 8];
    if (!slots) {
        slots = calloc(RC_DEVFNS, sizeof(*slots));
        if (!slots)
            return -ENOMEM;
        rc->bus[rid >> 8] = slots;
    }
    if (slots[rid & 0xff])
        return -EEXIST;
    slots[rid & 0xff] = dev;
    return 0;
}

pcie_dev_t *pcie_rc_dev(const pcie_rc_t *rc, uint16_t rid)
{
    pcie_dev_t *const *slots = rc->bus[rid >> 8];
    return slots ? slots[rid & 0xff] : NULL;
}

void pcie_rc_send_down(void *opaque, uint16_t rid, const pcie_msg_t *m)
{
    pcie_rc_t *rc = opaque;
    pcie_dev_t *dev = pcie_rc_dev(rc, rid);
    if (dev) {
        pcie_dev_send_down(dev, m);
        return;
    }
    sim_logf(sim_log(rc->sim), SIM_LOG_WARN,
             "root complex: no device with RID %04x", rid);
}
