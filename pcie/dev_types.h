/*
 * pcie/dev_types.h - types shared by the units of the endpoint device
 * (device.c, atc.c, pri.c, stop.c): a DMA in flight, the device
 * environment the units act in, and inline accessors of these types.
 *
 * Types only: no unit's functions are declared here and no unit header is
 * included, so every device unit may include it without a cycle.
 */
#ifndef PCIE_DEV_TYPES_H
#define PCIE_DEV_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "pcie/dev_cfg.h"

/* Where a DMA stands. */
typedef enum pcie_job_state {
    PCIE_JOB_QUEUED = 0,
    PCIE_JOB_XLATE,    /* waiting for a translation completion */
    PCIE_JOB_PRI_WAIT, /* waiting for page request allocation */
    PCIE_JOB_PRI,      /* page request group sent, waiting for the response */
    PCIE_JOB_DATA,     /* data requests handed to the link (or in flight) */
} pcie_job_state_t;

/* A DMA of the device, handled page by page. */
typedef struct pcie_job {
    struct pcie_job *next; /* tag queue or allocation queue */
    uint64_t addr, len, off;
    uint64_t sub_off;   /* off when it was (re)submitted (partial) */
    uint64_t xpage;     /* address of the current page in its requests */
    uint64_t chunk;     /* bytes of the current page being moved */
    uint64_t data_seq;  /* invalidation sequence when its data phase began */
    sim_time_t t_page;  /* when the current page's translation started */
    sim_time_t t_retry; /* when the last Success response arrived */
    sim_time_t t_wait;  /* when it began waiting for PRI allocation */
    sim_time_t t_issue; /* when the DMA was issued */
    sim_span_t *span;   /* fault being tracked for the current page */
    uint32_t pasid;
    uint32_t outstanding; /* read completions pending */
    uint32_t slot;        /* index in the active array */
    uint16_t prgi;        /* its group while in PCIE_JOB_PRI */
    uint16_t retries;     /* re-faults of the current page after Success */
    uint16_t want;        /* pages its page request group asks for */
    uint16_t fixups;      /* partial completions of the current page */
    uint8_t state;        /* pcie_job_state_t */
    bool write;
    bool xlated;   /* the data phase uses an ATC translation */
    bool asked;    /* a page request was sent for the current page */
    bool gate;     /* holds the in-order gate */
    bool aborted;  /* a completion reported an error */
    bool stopping; /* its PASID is being stopped */
    bool blocker;  /* its fault blocks the device (fault_policy = block) */
    bool parked;   /* held at translation while the device is blocked */
} pcie_job_t;

/*
 * What every unit of a device acts in: the engine, the device's upstream
 * link and requester id, the fault spans, and the device's random stream
 * with its processing delay (device.proc). Owned by the device core; the
 * other units keep a pointer to it.
 */
typedef struct pcie_dev_env {
    sim_t *sim;
    pcie_link_t *link;  /* set once the link exists */
    sim_spans_t *spans; /* may be NULL */
    sim_rng_t rng;      /* the device's stream: every draw of the device */
    const sim_dist_t *proc;
    sim_time_t proc_value; /* proc when it is a fixed delay */
    bool proc_fixed;
    uint16_t rid;
    unsigned index;
} pcie_dev_env_t;

/*
 * The device's processing delay for one request (no random draw when it
 * is fixed: a fixed distribution draws nothing either).
 */
static inline sim_time_t pcie_env_proc(pcie_dev_env_t *e)
{
    return e->proc_fixed ? e->proc_value : sim_dist_draw(e->proc, &e->rng);
}

/*
 * Send a message up the device's link at `when` (>= now).
 */
static inline void pcie_env_send_up(const pcie_dev_env_t *e, pcie_msg_t *m,
                                    sim_time_t when)
{
    m->rid = e->rid;
    pcie_link_send_at(e->link, PCIE_UP, m, when);
}

/*
 * The permission a DMA needs from a translation.
 */
static inline uint8_t pcie_job_need(const pcie_job_t *j)
{
    return j->write ? PCIE_F_W : PCIE_F_R;
}

/*
 * Append a job to a FIFO of jobs linked by `next`.
 */
static inline void pcie_jobq_push(pcie_job_t **head, pcie_job_t **tail,
                                  pcie_job_t *j)
{
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

/*
 * Take the jobs of `pasid` out of a FIFO (the others keep their order);
 * returns them as a list (in reverse order).
 */
static inline pcie_job_t *
pcie_jobq_take_pasid(pcie_job_t **head, pcie_job_t **tail, uint32_t pasid)
{
    pcie_job_t *keep = NULL, *keep_tail = NULL, *taken = NULL;
    for (pcie_job_t *j = *head, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        if (j->pasid == pasid) {
            j->next = taken;
            taken = j;
            continue;
        }
        if (keep_tail)
            keep_tail->next = j;
        else
            keep = j;
        keep_tail = j;
    }
    *head = keep;
    *tail = keep_tail;
    return taken;
}

#endif /* PCIE_DEV_TYPES_H */
