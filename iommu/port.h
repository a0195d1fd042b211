/*
 * iommu/port.h - the IOMMU's downstream port (header only): where the
 * queues and the request path send messages to devices. iommu.c installs
 * the function (iommu_set_downstream); the units that send hold a pointer
 * to the port and never call back into iommu.c.
 */
#ifndef IOMMU_PORT_H
#define IOMMU_PORT_H

#include "iommu/types.h"

typedef struct iommu_port {
    iommu_send_fn fn; /* NULL: messages are dropped */
    void *opaque;
} iommu_port_t;

/* Send m down to the device `rid` (m->rid is set). */
static inline void iommu_port_send(const iommu_port_t *p, uint16_t rid,
                                   pcie_msg_t *m)
{
    m->rid = rid;
    if (p->fn)
        p->fn(p->opaque, rid, m);
}

#endif /* IOMMU_PORT_H */
