/*
 * pcie/atc.h - the device's Address Translation Cache (ATS) and its
 * handling of ATS Invalidate Requests. Internal to pcie/: one unit of the
 * endpoint device, below the device core (device.c) and the PRI unit.
 */
#ifndef PCIE_ATC_H
#define PCIE_ATC_H

#include <stdbool.h>
#include <stdint.h>

#include "pcie/dev_types.h"

/* One ATC entry: a translation of 1 << shift bytes. */
typedef struct pcie_atc_entry {
    uint64_t tag;   /* untranslated address >> shift */
    uint64_t xbase; /* translated address of the range */
    uint64_t lru;
    uint32_t pasid;
    uint8_t perm;
    uint8_t shift; /* 0: invalid */
} pcie_atc_entry_t;

/* An ATS invalidation being handled (private to atc.c). */
typedef struct pcie_ats_inv pcie_ats_inv_t;

typedef struct pcie_atc {
    pcie_dev_env_t *env;
    const sim_dist_t *inv_proc; /* device.inv_proc */
    /* cache */
    pcie_atc_entry_t *e; /* sets * ways entries, NULL: no caching */
    uint64_t sets, ways;
    uint64_t clock;
    uint64_t shifts; /* bit s: entries of 1 << s bytes exist */
    uint32_t per_shift[64];
    /* invalidations in progress */
    sim_pool_t invs;
    pcie_ats_inv_t *invs_head;
    uint64_t inv_seq;
    /* registered by the device core, in its order */
    struct {
        sim_counter_t *fills, *evictions, *inval, *inv_reqs;
        sim_hist_t *inv_latency;
    } s;
} pcie_atc_t;

/*
 * Set up an ATC of `entries` entries of `ways` ways (entries 0: nothing is
 * cached, lookups miss; ways is clamped to 1..entries) acting in `env`;
 * invalidations take `inv_proc` in the device. Returns 0 or -ENOMEM.
 */
int pcie_atc_init(pcie_atc_t *a, pcie_dev_env_t *env, uint64_t entries,
                  uint64_t ways, const sim_dist_t *inv_proc);

/* Free the cache and the invalidations in flight. */
void pcie_atc_fini(pcie_atc_t *a);

/* Whether the cache may hold anything (a lookup can only hit then). */
static inline bool pcie_atc_any(const pcie_atc_t *a)
{
    return a->shifts != 0;
}

/*
 * The entry translating `va` for `pasid` with permission `need` in any
 * page size held, or NULL; `touch` makes it the most recently used.
 */
pcie_atc_entry_t *pcie_atc_lookup(pcie_atc_t *a, uint32_t pasid, uint64_t va,
                                  uint8_t need, bool touch);

/*
 * Cache a translation of 1 << shift bytes at untranslated `vbase`: it
 * replaces the entry with the same key, else a free way, else the least
 * recently used one (an eviction). No effect without a cache.
 */
void pcie_atc_insert(pcie_atc_t *a, uint32_t pasid, uint64_t vbase,
                     unsigned shift, uint64_t xbase, uint8_t perm);

/*
 * An ATS Invalidate Request arrived: drop the matching entries now, and
 * send the Invalidate Completion after inv_proc and after the data phase
 * of every job in active[0..nactive) that used a dropped translation has
 * ended (pcie_atc_data_end).
 */
void pcie_atc_rx_inv(pcie_atc_t *a, const pcie_msg_t *m,
                     pcie_job_t *const *active, unsigned nactive);

/* The invalidation sequence number: a data phase records it at its start. */
static inline uint64_t pcie_atc_inv_seq(const pcie_atc_t *a)
{
    return a->inv_seq;
}

/* A translated data phase ended: invalidations waiting for it go on. */
void pcie_atc_data_done(pcie_atc_t *a, const pcie_job_t *j);

/* The job's data phase (sent, completed or aborted) is over. */
static inline void pcie_atc_data_end(pcie_atc_t *a, const pcie_job_t *j)
{
    if (a->invs_head && j->xlated)
        pcie_atc_data_done(a, j);
}

/* Times the invalidation storage grew (new maxima). */
static inline uint64_t pcie_atc_mem_grows(const pcie_atc_t *a)
{
    return a->invs.nchunks;
}

#endif /* PCIE_ATC_H */
