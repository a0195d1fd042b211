/*
 * pcie/stop.h - the device side of the PASID stop protocol (see
 * pcie_dev_stop_pasid in pcie.h). Internal to pcie/: one unit of the
 * endpoint device, above the PRI unit and below the device core, which it
 * reaches only through the port the core installs.
 */
#ifndef PCIE_STOP_H
#define PCIE_STOP_H

#include <stdbool.h>
#include <stdint.h>

#include "pcie/dev_types.h"
#include "pcie/pri.h"

/* PASID stops in progress at once on a device. */
#define PCIE_STOP_MAX 8

/* A PASID stop in progress. */
typedef struct pcie_stop_entry {
    pcie_stop_done_fn done;
    void *opaque;
    uint32_t pasid;
    uint32_t waiting; /* DMAs of the PASID still finishing */
    bool busy;
    bool finishing; /* the completion event is scheduled */
    bool marker;    /* a Stop Marker goes out at completion */
} pcie_stop_entry_t;

/*
 * What the stop needs from the device core, installed by it.
 */
typedef struct pcie_stop_port {
    /*
     * Stop issuing requests with `pasid`: DMAs of the PASID that issued
     * nothing yet or wait on PRI fail; DMAs with a translation request or
     * data in flight are marked `stopping`, each adding one to *waiting
     * before any DMA is failed, and reported later through
     * pcie_stop_job_done.
     */
    void (*halt)(void *opaque, uint32_t pasid, uint32_t *waiting);
    void *opaque;
} pcie_stop_port_t;

typedef struct pcie_stop {
    pcie_dev_env_t *env;
    pcie_pri_t *pri;
    pcie_dev_t *dev; /* handed to the done callbacks */
    pcie_stop_port_t port;
    pcie_stop_entry_t e[PCIE_STOP_MAX];
    unsigned n; /* stops in progress */
    /* registered by the device core, in its order */
    struct {
        sim_counter_t *markers;
    } s;
} pcie_stop_t;

/* Set up the stop unit of device `dev`. */
void pcie_stop_init(pcie_stop_t *s, pcie_dev_env_t *env, pcie_pri_t *pri,
                    pcie_dev_t *dev, const pcie_stop_port_t *port);

/*
 * Start stopping `pasid` (the contract of pcie_dev_stop_pasid): returns 0,
 * -EBUSY (already being stopped, or PCIE_STOP_MAX stops at once).
 */
int pcie_stop_pasid(pcie_stop_t *s, uint32_t pasid, pcie_stop_done_fn done,
                    void *opaque);

/* The stop in progress for a PASID, or NULL. */
pcie_stop_entry_t *pcie_stop_find(pcie_stop_t *s, uint32_t pasid);

/* Whether `pasid` is being stopped (its new DMAs fail). */
static inline bool pcie_stop_blocks(pcie_stop_t *s, uint32_t pasid)
{
    return s->n && pcie_stop_find(s, pasid);
}

/* A DMA marked `stopping` has ended: clears the mark; the stop completes
 * when it was the last one. */
void pcie_stop_job_done(pcie_stop_t *s, pcie_job_t *j);

#endif /* PCIE_STOP_H */
