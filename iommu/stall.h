/*
 * iommu/stall.h - the SMMUv3 stall model (unit stall.c): untranslated DMA
 * whose translation faults is held under a stall tag (STAG) and reported
 * by an event record with STALL set; the host resumes it with CMD_RESUME
 * (RETRY or ABORT). The held transactions are the owner's: it describes
 * and finishes them through a port, so this unit does not know them.
 */
#ifndef IOMMU_STALL_H
#define IOMMU_STALL_H

#include "iommu/fault.h"

/* Stall tags (STAG) available for held transactions. */
#define IOMMU_STALL_SLOTS 4096

typedef struct iommu_stall_port {
    /* The fault record of held transaction txn (its stag included). */
    void (*describe)(void *opaque, const void *txn, iommu_fault_rec_t *out);
    /* Finish txn: retry (translate again) or abort it. */
    void (*finish)(void *opaque, void *txn, bool retry);
    void *opaque;
} iommu_stall_port_t;

typedef struct iommu_stall {
    sim_t *sim;
    iommu_fq_t *fq;         /* where stall events are written */
    sim_time_t write_delay; /* event record write (posted) */
    iommu_stall_port_t port;
    unsigned stage_page_req, stage_response; /* span stages marked */
    void *held[IOMMU_STALL_SLOTS];
    uint16_t free[IOMMU_STALL_SLOTS];
    unsigned nfree;
    struct {
        sim_counter_t *stalled, *resumed;
    } s;
} iommu_stall_t;

/* Set up st (every tag free); events go to fq after write_delay. */
void iommu_stall_init(iommu_stall_t *st, sim_t *sim, iommu_fq_t *fq,
                      sim_time_t write_delay);
/* Whether a tag is free to hold a transaction. */
static inline bool iommu_stall_can_hold(const iommu_stall_t *st)
{
    return st->nfree != 0;
}
/* Hold txn (a tag must be free): returns its stag; its stall event is
 * written after write_delay (if the queue overflowed, the transaction is
 * finished as aborted instead). */
uint16_t iommu_stall_hold(iommu_stall_t *st, void *txn);
/* CMD_RESUME of stag: finish the transaction (retry or abort). False if
 * no transaction is held under stag. */
bool iommu_stall_resume(iommu_stall_t *st, uint16_t stag, bool retry);
/* Transactions held now. */
static inline uint64_t iommu_stall_held(const iommu_stall_t *st)
{
    return IOMMU_STALL_SLOTS - st->nfree;
}

#endif /* IOMMU_STALL_H */
