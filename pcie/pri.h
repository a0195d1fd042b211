/*
 * pcie/pri.h - the device's Page Request Interface: PRG index pool,
 * outstanding page request allocation, faults, PRG responses, PRI Status
 * and reset. Internal to pcie/: one unit of the endpoint device, above the
 * ATC unit and below the PASID stop unit and the device core. It reaches
 * the core only through the port the core installs.
 */
#ifndef PCIE_PRI_H
#define PCIE_PRI_H

#include <stdbool.h>
#include <stdint.h>

#include "pcie/atc.h"
#include "pcie/dev_types.h"

/* One page request group (indexed by its 9-bit PRG index). */
typedef struct pcie_prg {
    pcie_job_t *job; /* NULL: its DMA is gone (PASID stop), response due */
    sim_event_id_t timer;
    uint32_t pasid;
    uint16_t npages;
    bool busy;
} pcie_prg_t;

/*
 * What PRI needs from the device core, installed by it.
 */
typedef struct pcie_pri_port {
    /* The job (holding a tag) can no longer complete: fail it. */
    void (*fail)(void *opaque, pcie_job_t *j);
    /* A Success response: translate the job's current page again, with
     * the request going out at `when`. */
    void (*retry)(void *opaque, pcie_job_t *j, sim_time_t when);
    void *opaque;
} pcie_pri_port_t;

typedef struct pcie_pri {
    pcie_dev_env_t *env;
    pcie_atc_t *atc; /* fault-ahead stops at a page the ATC holds */
    pcie_pri_port_t port;
    bool capable;        /* device.pri */
    bool ats;            /* device.ats: faults need translation requests */
    bool pasid_required; /* PRI Status "PRG Response PASID Required" */
    bool enabled;
    unsigned status;      /* PCIE_PRI_STATUS_RF | UPRGI */
    uint64_t limit;       /* min(capacity, allocation) */
    uint64_t outstanding; /* page requests awaiting a response */
    uint64_t retries_max; /* device.pri_retries */
    uint64_t fault_ahead;
    sim_time_t timeout;     /* device.pri_timeout, 0: none */
    sim_time_t reset_delay; /* device.pri_reset_delay, 0: none */
    unsigned st_ats_fault, st_retry, st_response; /* span stages stamped */
    pcie_prg_t prg[PCIE_PRG_INDICES];
    uint16_t prg_free[PCIE_PRG_INDICES]; /* FIFO of free indices */
    unsigned prg_free_head, prg_nfree;
    pcie_job_t *wait_head, *wait_tail; /* faults waiting for allocation */
    /* registered by the device core, in its order */
    struct {
        sim_counter_t *page_reqs, *groups, *resp_success, *resp_invalid,
            *resp_failure, *resp_ignored, *resp_orphan, *uprgi,
            *resp_missing_pasid, *resp_unexpected_pasid, *timeouts,
            *retries_exhausted, *no_pri_faults, *resets;
        sim_hist_t *cap_wait;
        sim_gauge_t *outstanding;
    } s;
} pcie_pri_t;

/*
 * Set up PRI from the device configuration (cfg->pri_capacity,
 * pri_alloc, pri_retries, fault_ahead, pri_timeout, prg_pasid_required),
 * enabled when the device has PRI and ATS. Resolves the span stages it
 * stamps (ats_fault, retry, response) from env->spans.
 */
void pcie_pri_init(pcie_pri_t *p, pcie_dev_env_t *env, pcie_atc_t *atc,
                   const pcie_dev_cfg_t *cfg, const pcie_pri_port_t *port);

/*
 * The translation of the job's current page was refused: open or go on
 * with its fault span and send a page request group for it, or queue it
 * for allocation. Returns false, with the reason counted, when PRI cannot
 * help (absent, disabled, or re-faults after Success exhausted): the
 * caller fails the job.
 */
bool pcie_pri_fault(pcie_pri_t *p, pcie_job_t *j);

/* A PRG Response arrived from the link. */
void pcie_pri_rx_resp(pcie_pri_t *p, const pcie_msg_t *m);

/* Send the groups of faults waiting for allocation, in order, while the
 * allocation allows. */
void pcie_pri_wake(pcie_pri_t *p);

/* Take the faults of `pasid` waiting for allocation out of the queue;
 * returns them as a list. */
pcie_job_t *pcie_pri_take_waiting(pcie_pri_t *p, uint32_t pasid);

/* The job waiting for its group's response goes away (PASID stop): the
 * group stays outstanding until its response, which then only frees it. */
void pcie_pri_forget_job(pcie_pri_t *p, pcie_job_t *j);

/* Whether a group of `pasid` is outstanding. */
bool pcie_pri_pasid_outstanding(const pcie_pri_t *p, uint32_t pasid);

/* PRI Status register as the device reports it (PCIE_PRI_STATUS_*). */
unsigned pcie_pri_status(const pcie_pri_t *p);

/* Reset and re-enable PRI (see pcie_dev_pri_reset). */
void pcie_pri_reset(pcie_pri_t *p);

#endif /* PCIE_PRI_H */
