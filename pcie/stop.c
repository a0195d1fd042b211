/*
 * stop.c - the device side of the PASID stop protocol.
 *
 * Before software may reuse a PASID, the function must stop using it
 * (PCIe r4.0 6.20.1, Managing PASID TLP Prefix Usage, and 10.4.1.2, Stop
 * Marker Messages, as cited in the kdoc of iommu_handle_iopf in Linux
 * drivers/iommu/io-pgfault.c). The steps, as this device does them:
 *  1. stop issuing requests with the PASID: DMAs that issued nothing yet,
 *     DMAs waiting for page request allocation and DMAs waiting for a PRG
 *     response fail (a group already sent stays outstanding);
 *  2. wait for the PASID's non-posted requests in flight (translation
 *     requests, reads) to complete;
 *  3. if page requests of the PASID are still outstanding, send a Stop
 *     Marker (a Page Request with L=1, R=W=0 and the PASID) instead of
 *     waiting for their responses; a Stop Marker is not a page request: it
 *     takes no allocation and gets no response;
 *  4. report the stop done.
 */
#include "pcie/stop.h"

#include <errno.h>
#include <string.h>

/*
 * Set up the stop unit.
 */
void pcie_stop_init(pcie_stop_t *s, pcie_dev_env_t *env, pcie_pri_t *pri,
                    pcie_dev_t *dev, const pcie_stop_port_t *port)
{
    s->env = env;
    s->pri = pri;
    s->dev = dev;
    s->port = *port;
}

/*
 * The stop in progress for a PASID, or NULL.
 */
pcie_stop_entry_t *pcie_stop_find(pcie_stop_t *s, uint32_t pasid)
{
    for (unsigned i = 0; i < PCIE_STOP_MAX; i++)
        if (s->e[i].busy && s->e[i].pasid == pasid)
            return &s->e[i];
    return NULL;
}

/* Steps 3 and 4: send the Stop Marker if one is due, tell the owner. */
static void ev_stop_done(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    pcie_stop_t *s = opaque;
    pcie_stop_entry_t *st = &s->e[arg];
    if (st->marker) {
        /* Stop Marker (PCIe r4.0 10.4.1.2): L=1, R=W=0, with the PASID. */
        pcie_msg_t m = {0};
        m.type = PCIE_MSG_PAGE_REQ;
        m.flags = PCIE_F_PASID | PCIE_F_LAST;
        m.pasid = st->pasid;
        pcie_env_send_up(s->env, &m, sim_now(s->env->sim));
        s->s.markers->value++;
    }
    pcie_stop_done_fn done = st->done;
    void *op = st->opaque;
    uint32_t pasid = st->pasid;
    memset(st, 0, sizeof(*st));
    s->n--;
    if (done)
        done(op, s->dev, pasid);
}

/*
 * Step 2 is over (nothing of the PASID is in flight any more): complete
 * the stop after building the Stop Marker (if page requests of the PASID
 * are still outstanding), or at once.
 */
static void stop_complete(pcie_stop_t *s, pcie_stop_entry_t *st)
{
    st->finishing = true;
    st->marker = pcie_pri_pasid_outstanding(s->pri, st->pasid);
    sim_schedule(s->env->sim, st->marker ? pcie_env_proc(s->env) : 0,
                 ev_stop_done, s, (uint64_t)(st - s->e));
}

/*
 * A DMA of a PASID being stopped has ended.
 */
void pcie_stop_job_done(pcie_stop_t *s, pcie_job_t *j)
{
    j->stopping = false;
    pcie_stop_entry_t *st = pcie_stop_find(s, j->pasid);
    if (st && --st->waiting == 0 && !st->finishing)
        stop_complete(s, st);
}

/*
 * Step 1, then step 2 if nothing is in flight.
 */
int pcie_stop_pasid(pcie_stop_t *s, uint32_t pasid, pcie_stop_done_fn done,
                    void *opaque)
{
    if (pcie_stop_find(s, pasid))
        return -EBUSY;
    pcie_stop_entry_t *st = NULL;
    for (unsigned i = 0; i < PCIE_STOP_MAX && !st; i++)
        if (!s->e[i].busy)
            st = &s->e[i];
    if (!st)
        return -EBUSY;
    *st = (pcie_stop_entry_t){
        .done = done, .opaque = opaque, .pasid = pasid, .busy = true};
    s->n++;
    s->port.halt(s->port.opaque, pasid, &st->waiting);
    if (st->busy && st->waiting == 0 && !st->finishing)
        stop_complete(s, st);
    /* Failed DMAs may have freed allocation for other PASIDs' faults. */
    pcie_pri_wake(s->pri);
    return 0;
}
