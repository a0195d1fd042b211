/*
 * host.c - the host IOMMU driver's page request path.
 *
 * PRQ interrupt -> (irq_latency) -> the threaded handler (one thread, like
 * Linux's oneshot "dmarN-prq" IRQ thread) which, per run (Linux
 * drivers/iommu/intel/prq.c: prq_event_thread):
 *   1. VT-d: clears PPR (write-1-to-clear) before reading head and tail, so
 *      a new request re-arms the interrupt;
 *   2. reads each descriptor between head and tail from the ring in
 *      simulated memory (prq_desc each): stop markers are dropped, others
 *      are reported to the iopf core;
 *   3. writes head = the tail it read, once, after the batch;
 *   4. on overflow: VT-d: if PRO is set and the queue is empty, discards
 *      all partial groups and clears PRO (prq.c); SMMUv3: logs the
 *      overflow, discards all partial groups and acknowledges it by copying
 *      OVFLG to OVACKFLG (arm-smmu-v3.c: arm_smmu_priq_thread, Linux commit
 *      0d535967 "iommu/arm-smmu-v3: sync the OVACKFLG to PRIQ consumer
 *      register"; the discard: J-P. Brucker, "[PATCH] iommu/arm-smmu-v3:
 *      Add support for PRI", linux-iommu, 2018-2020, which calls
 *      iopf_queue_discard_partial on overflow).
 * An interrupt arriving while the thread runs makes it run again at once.
 *
 * The iopf core (drivers/iommu/io-pgfault.c: iommu_report_device_fault)
 * keeps non-last requests on a partial list; a last request makes a group
 * of it and the partials with the same group index, and the group goes to
 * the fault handler of its (RID, PASID) binding (iommu_handle_iopf:
 * domain->iopf_handler(group)); the driver does not know who handles it.
 * A binding without a handler is answered Invalid (after the iopf work, on
 * a worker). Handlers queue work on the iopf workers (Linux's unbound
 * workqueue) or answer through user space. A response goes through the
 * IOMMU's invalidation queue: VT-d a page group response descriptor
 * followed by a wait descriptor (prq.c: intel_iommu_page_response,
 * qi_submit_sync); SMMUv3 CMD_PRI_RESP alone (arm_smmu_page_response:
 * "Don't send a SYNC, it doesn't do anything for RESUME or PRI_RESP").
 * The workers are Linux's unbound workqueue (io-pgfault.c:
 * iopf_queue_alloc, alloc_workqueue(..., WQ_UNBOUND, 0)): one per host CPU
 * (host.cpus) unless host.iopf_workers says otherwise. On VT-d a worker
 * stays busy until the wait descriptor of its response completes (Linux
 * spins in qi_submit_sync, intel/dmar.c); on SMMUv3 it is free once the
 * command is submitted.
 *
 * Stall events (SMMUv3 stall model; arm-smmu-v3.c: arm_smmu_handle_evt,
 * arm_smmu_page_response) come through the event queue with their own
 * interrupt and handler thread (Linux's evtq thread): a record with STALL
 * becomes a fault group of one (LAST set), handled like a page request and
 * answered with CMD_RESUME (RETRY for Success, ABORT otherwise); a record
 * without STALL is unrecoverable and only counted.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/host.h"

/* One threaded handler draining a queue of the IOMMU (the PRQ, or the
 * fault/event queue). */
typedef struct hq_reader {
    bool running, rerun;
    uint32_t pos, tail;
    uint64_t count;
    bool evq; /* the fault/event queue (else the PRQ) */
} hq_reader_t;

/* A (RID, PASID) binding and the handler its owner installed. */
typedef struct bind_slot {
    uint64_t key;              /* (rid << 20 | pasid) + 1; 0 = empty */
    ioasid_iopf_handler_fn fn; /* NULL: unbound (a tombstone) */
    void *data;
    bool dying; /* being torn down (ioasid_host_unbind) */
} bind_slot_t;

/* The steps of a PASID teardown (ioasid_host_unbind). */
typedef enum {
    TD_PASID_CACHE, /* [PASID-cache invalidation, wait] */
    TD_IOTLB,       /* [IOTLB invalidation, wait] */
    TD_DEVTLB,      /* [device-TLB invalidation, wait] */
    TD_PRQ,         /* the PRQ thread handles the PASID's requests */
    TD_FLUSH,       /* the iopf work queued so far is done */
    TD_DRAIN,       /* [fence wait, IOTLB, device TLB, drain wait] */
    TD_DONE,
} td_step_t;

/* A PASID teardown in progress. */
typedef struct teardown {
    struct teardown *next;
    ioasid_host_t *h;
    uint16_t rid, domain;
    uint32_t pasid;
    td_step_t step;
    bool wait_prq;       /* until the PRQ thread's run ends */
    uint64_t flush_seq;  /* TD_FLUSH: groups queued up to this one ... */
    uint64_t flush_left; /* ... still on the workers */
    unsigned ndesc;      /* the batch being submitted */
    iommu_qi_desc_t d[4];
    sim_time_t start;
    ioasid_host_unbound_fn done;
    void *opaque;
} teardown_t;

/* Something an owner handed to the host to release at destroy. */
typedef struct owned {
    void *obj;
    void (*fini)(void *obj);
} owned_t;

/* The owner of a device's events (an event of a master attached to a
 * nested domain goes to its vIOMMU: arm-smmu-v3.c arm_smmu_handle_evt). */
typedef struct ev_owner {
    uint16_t rid;
    ioasid_host_event_fn fn;
    void *data;
} ev_owner_t;

struct ioasid_host {
    ev_owner_t *ev_owners;
    size_t nev_owners, ev_owners_cap;
    unsigned next_domain;
    uint16_t *free_domains; /* ids given back, reused first */
    size_t nfree_domains, free_domains_cap;
    struct inv_op *invs;          /* invalidations not yet submitted */
    struct resp_step *resp_steps; /* responses not yet submitted */
    sim_t *sim;
    ioasid_host_cfg_t cfg;
    iommu_t *iommu;
    sim_rng_t rng;
    sim_server_t *workers;
    sim_rng_t workers_rng;
    sim_pool_t faults, groups;
    unsigned st_irq, st_fault; /* span stages: host_irq, host_fault */

    owned_t *owned;
    size_t nowned, owned_cap;
    bind_slot_t *binds;
    size_t nbind_slots, nbinds;

    /* handler threads */
    hq_reader_t prq, evq;
    ioasid_iopf_fault_t *partials; /* newest first */

    bool in_worker;    /* a worker's work function is running */
    bool worker_waits; /* ... and it submitted a response with a wait */
    uint64_t requests_responded, in_flight;
    uint64_t qseq, queued; /* groups queued on the workers: last order
                              given, and still there */
    teardown_t *teardowns; /* in progress */
    ioasid_host_mm_stats_t mm;
    struct {
        sim_counter_t *irqs, *runs, *reported, *stop_markers,
            *overflow_recoveries, *partial_discarded, *groups, *resp_success,
            *resp_invalid;
        sim_counter_t *ev_irqs, *ev_runs, *ev_stalls, *ev_unrecoverable,
            *ev_overflows, *resumes, *guest_groups, *unbinds, *ev_forwarded;
        sim_counter_t *resp_failure, *alloc_failures, *drain_prq_waits,
            *drain_retries;
        sim_hist_t *batch, *detach_latency;
    } s;
};

static const char *const nested_names[] = {"linux", "classify", NULL};
static const char *const thp_names[] = {"never", "always", NULL};

const sim_param_t ioasid_host_params[] = {
    {"host", "irq_latency", SIM_PARAM_TIME, "2000", 0, 1e12, "ns",
     "PRQ MSI to the threaded handler running ([I]: no published figure)", NULL,
     offsetof(ioasid_host_cfg_t, irq_latency)},
    {"host", "prq_desc", SIM_PARAM_DIST, "200", 0, 0, "ns",
     "handler thread: read, decode and report one PRQ descriptor ([I])", NULL,
     offsetof(ioasid_host_cfg_t, prq_desc)},
    {"host", "cpus", SIM_PARAM_UINT, "8", 1, 1024, "CPUs",
     "host CPUs: the iopf workqueue is unbound (Linux io-pgfault.c "
     "iopf_queue_alloc: alloc_workqueue(..., WQ_UNBOUND, 0)), so up to one "
     "worker per CPU runs fault groups in parallel ([I]: 8)",
     NULL, offsetof(ioasid_host_cfg_t, cpus)},
    {"host", "iopf_workers", SIM_PARAM_UINT, "0", 0, 1024, "threads",
     "iopf workers handling fault groups in parallel (0: one per host CPU, "
     "host.cpus, as Linux's unbound workqueue; 1: a single handler, "
     "validation target T11)",
     NULL, offsetof(ioasid_host_cfg_t, iopf_workers)},
    {"host", "nested_faults", SIM_PARAM_ENUM, "linux", 0, 0, "",
     "page requests of a nested domain: linux (every group to the FAULT "
     "object, drivers/iommu/iommufd/fault.c iommufd_fault_iopf_handler; the "
     "VMM backs stage 2) or classify (the host handles stage-2 faults "
     "itself)",
     nested_names, offsetof(ioasid_host_cfg_t, nested_faults)},
    {"host", "iopf", SIM_PARAM_DIST,
     "mix(0.971: lognormal(2000, 0.5), 0.014: uniform(9000, 99000), "
     "0.015: uniform(99000, 555000))",
     0, 0, "ns",
     "iopf core work per group, excluding mm_minor: with it, the svm_prq "
     "histogram (Sapphire Rapids, QEMU qpl-compression doc: 97.1% 1-10 us, "
     "1.4% 10-100 us, 1.5% 0.1-0.56 ms, mean 9 us)",
     NULL, offsetof(ioasid_host_cfg_t, iopf)},
    {"host", "mm_minor", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "handle_mm_fault, anonymous minor fault, per page (0.75-1.7 us "
     "published: Zussman et al., bpf_fault, SOSP'26; Vesely et al., ISPASS'16)",
     NULL, offsetof(ioasid_host_cfg_t, mm_minor)},
    {"host", "qi_submit", SIM_PARAM_DIST, "200", 0, 0, "ns",
     "software side of an invalidation-queue batch: build the descriptors "
     "and write the tail register ([I]: 0.2 us of the ~1 us response and "
     "0.8 us IOTLB invalidation, QEMU qpl-compression doc dmar_perf_latency; "
     "the rest is iommu.qi_*)",
     NULL, offsetof(ioasid_host_cfg_t, qi_submit)},
    {"host", "max_groups", SIM_PARAM_UINT, "65536", 1, 1ull << 32, "groups",
     "fault groups the iopf core holds at once (reported, not yet "
     "answered); one more fails to allocate and is answered Response "
     "Failure, as Linux does when kzalloc of the group fails "
     "(io-pgfault.c: iommu_report_device_fault, abort_group)",
     NULL, offsetof(ioasid_host_cfg_t, max_groups)},
    {"host", "thp", SIM_PARAM_ENUM, "never", 0, 0, "",
     "transparent huge pages for memory populated on a fault (always: a 2 "
     "MiB page where the 2 MiB-aligned range lies inside a 4 KiB mapping "
     "and no 4 KiB page table is there, as do_huge_pmd_anonymous_page)",
     thp_names, offsetof(ioasid_host_cfg_t, thp)},
};
const unsigned ioasid_host_nparams =
    sizeof(ioasid_host_params) / sizeof(ioasid_host_params[0]);

/* ------------------------------------------------------------ bindings */

static uint64_t bind_key(uint16_t rid, uint32_t pasid)
{
    return (((uint64_t)rid << 20) | pasid) + 1;
}

static bind_slot_t *bind_slot(const ioasid_host_t *h, uint64_t key)
{
    if (!h->nbind_slots)
        return NULL;
    size_t mask = h->nbind_slots - 1;
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;
    while (h->binds[i].key && h->binds[i].key != key)
        i = (i + 1) & mask;
    return &h->binds[i];
}

/* Double the open-addressing table (rehashing every slot). */
static int bind_grow(ioasid_host_t *h)
{
    size_t n = h->nbind_slots ? h->nbind_slots * 2 : 64;
    bind_slot_t *old = h->binds;
    size_t oldn = h->nbind_slots;
    bind_slot_t *fresh = calloc(n, sizeof(*fresh));
    if (!fresh)
        return -ENOMEM;
    h->binds = fresh;
    h->nbind_slots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].key)
            *bind_slot(h, old[i].key) = old[i];
    free(old);
    return 0;
}

int ioasid_host_bind(ioasid_host_t *h, uint16_t rid, uint32_t pasid,
                     const iommu_pasid_entry_t *e, ioasid_iopf_handler_fn fn,
                     void *data)
{
    if (ioasid_host_unbinding(h, rid, pasid))
        return -EBUSY; /* Linux: the attach waits for the detach */
    if ((h->nbinds + 1) * 2 > h->nbind_slots && bind_grow(h))
        return -ENOMEM;
    int rc = iommu_set_pasid(h->iommu, rid, pasid, e);
    if (rc)
        return rc;
    uint64_t key = bind_key(rid, pasid);
    bind_slot_t *s = bind_slot(h, key);
    if (!s->key)
        h->nbinds++;
    s->key = key;
    s->fn = fn;
    s->data = data;
    return 0;
}

ioasid_iopf_handler_fn ioasid_host_handler(const ioasid_host_t *h, uint16_t rid,
                                           uint32_t pasid, void **data)
{
    bind_slot_t *s = bind_slot(h, bind_key(rid, pasid));
    if (!s || !s->key || !s->fn) {
        if (data)
            *data = NULL;
        return NULL;
    }
    if (data)
        *data = s->data;
    return s->fn;
}

int ioasid_host_set_event_owner(ioasid_host_t *h, uint16_t rid,
                                ioasid_host_event_fn fn, void *data)
{
    for (size_t i = 0; i < h->nev_owners; i++)
        if (h->ev_owners[i].rid == rid) {
            h->ev_owners[i] = (ev_owner_t){rid, fn, data};
            return 0;
        }
    if (SIM_GROW(h->ev_owners, h->ev_owners_cap, h->nev_owners + 1, 8))
        return -ENOMEM;
    h->ev_owners[h->nev_owners++] = (ev_owner_t){rid, fn, data};
    return 0;
}

int ioasid_host_alloc_domain(ioasid_host_t *h)
{
    if (h->nfree_domains)
        return h->free_domains[--h->nfree_domains];
    if (h->next_domain >= 0xffff) /* domain ids are 16 bits */
        return -ENOSPC;
    return (int)++h->next_domain;
}

void ioasid_host_free_domain(ioasid_host_t *h, uint16_t domain)
{
    if (!domain || domain > h->next_domain)
        return;
    /* At most next_domain ids are ever freed: the stack never outgrows
     * that, and failing to grow it only loses the id. */
    if (SIM_GROW(h->free_domains, h->free_domains_cap, h->nfree_domains + 1,
                 64))
        return;
    h->free_domains[h->nfree_domains++] = domain;
}

unsigned ioasid_host_domains_used(const ioasid_host_t *h)
{
    return h->next_domain - (unsigned)h->nfree_domains;
}

bool ioasid_host_unbinding(const ioasid_host_t *h, uint16_t rid, uint32_t pasid)
{
    const bind_slot_t *s = bind_slot(h, bind_key(rid, pasid));
    return s && s->key && s->dying;
}

/* ------------------------------------------------------------ teardown */

static void td_run(teardown_t *td);

/* The wait closing a teardown batch completed. */
static void td_wait_done(void *opaque)
{
    teardown_t *td = opaque;
    ioasid_host_t *h = td->h;
    if (td->step == TD_DRAIN && iommu_arch(h->iommu) == IOMMU_ARCH_VTD &&
        (iommu_prq_status(h->iommu) & IOMMU_PRS_PRO)) {
        /* prq.c: "if (readl(DMAR_PRS_REG) & DMA_PRS_PRO) {
         * wait_for_completion(&iommu->prq_complete); goto qi_retry; }" */
        h->s.drain_retries->value++;
        td->wait_prq = true;
        return;
    }
    td->step++;
    td_run(td);
}

/* The host has built the batch (host.qi_submit): submit it, its last
 * descriptor a wait that goes on with the teardown. */
static void ev_td_submit(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    teardown_t *td = opaque;
    iommu_qi_desc_t *w = &td->d[td->ndesc - 1];
    w->done = td_wait_done;
    w->opaque = td;
    if (iommu_qi_submit(td->h->iommu, td->d, td->ndesc))
        sim_oom(sim, "host");
}

/* Submit the batch d[0..n) followed by a wait, after host.qi_submit. */
static void td_batch(teardown_t *td, unsigned n, bool drain)
{
    ioasid_host_t *h = td->h;
    memset(&td->d[n], 0, sizeof(td->d[n]));
    td->d[n].type = IOMMU_QI_WAIT;
    td->d[n].drain = drain;
    td->ndesc = n + 1;
    sim_schedule(h->sim, sim_dist_draw(&h->cfg.qi_submit, &h->rng),
                 ev_td_submit, td, 0);
}

/* Whether a request of (rid, pasid) is between the PRQ's head and tail
 * (prq.c: intel_iommu_drain_pasid_prq scans PQH..PQT for the device's
 * requests with the PASID). */
static bool prq_holds(const ioasid_host_t *h, uint16_t rid, uint32_t pasid)
{
    const iommu_t *u = h->iommu;
    for (uint32_t pos = iommu_prq_head(u); pos != iommu_prq_tail(u);
         pos = iommu_prq_next(u, pos)) {
        iommu_prq_desc_t d;
        iommu_prq_read(u, pos, &d);
        if (d.rid == rid && d.pasid == pasid)
            return true;
    }
    return false;
}

/* The teardown is over: drop what is left of the binding, tell the
 * owner, free the PASID for a new binding. */
static void td_finish(teardown_t *td)
{
    ioasid_host_t *h = td->h;
    for (teardown_t **pp = &h->teardowns; *pp; pp = &(*pp)->next)
        if (*pp == td) {
            *pp = td->next;
            break;
        }
    /* Partial requests of the PASID are freed (io-pgfault.c:
     * iopf_queue_remove_device). */
    ioasid_iopf_fault_t **pp = &h->partials;
    while (*pp) {
        ioasid_iopf_fault_t *p = *pp;
        if (p->desc.rid == td->rid && p->desc.pasid == td->pasid) {
            *pp = p->next;
            sim_pool_put(&h->faults, p);
            h->s.partial_discarded->value++;
        } else {
            pp = &p->next;
        }
    }
    /* The slot stays as a tombstone: a later bind reuses it. */
    bind_slot_t *s = bind_slot(h, bind_key(td->rid, td->pasid));
    s->fn = NULL;
    s->data = NULL;
    s->dying = false;
    h->s.unbinds->value++;
    sim_hist_add(h->s.detach_latency, sim_now(h->sim) - td->start);
    if (td->done)
        td->done(td->opaque, td->rid, td->pasid);
    free(td);
}

/* Run the teardown from its current step until it has to wait. */
static void td_run(teardown_t *td)
{
    ioasid_host_t *h = td->h;
    memset(td->d, 0, sizeof(td->d));
    for (;;) {
        switch (td->step) {
        case TD_PASID_CACHE:
            /* pasid.c: pasid_cache_invalidation_with_pasid (qi_submit_sync):
             * VT-d Table 28, PASID-selective-within-domain PASID-cache
             * invalidation (QI_PC_PASID_SEL with the DID); SMMUv3: CFGI_CD
             * of (StreamID, SubstreamID) (arm_smmu_sync_cd). */
            td->d[0].type = IOMMU_QI_PASID_CACHE;
            td->d[0].inv =
                (iommu_inv_t){.gran = iommu_arch(h->iommu) == IOMMU_ARCH_VTD
                                          ? IOMMU_INV_PASID
                                          : IOMMU_INV_DEVICE_PASID,
                              .domain = td->domain,
                              .rid = td->rid,
                              .pasid = td->pasid};
            td_batch(td, 1, false);
            return;
        case TD_IOTLB:
            /* pasid.c: qi_flush_piotlb(did, pasid, 0, -1): PASID-based
             * IOTLB invalidation of all the PASID's entries. */
            td->d[0].type = IOMMU_QI_IOTLB;
            td->d[0].inv = (iommu_inv_t){.gran = IOMMU_INV_PASID,
                                         .domain = td->domain,
                                         .pasid = td->pasid};
            td_batch(td, 1, false);
            return;
        case TD_DEVTLB:
            /* pasid.c: devtlb_invalidation_with_pasid: PASID-based
             * device-TLB invalidation of the whole address range (S=1,
             * Addr[63:12] all ones; SMMUv3 CMD_ATC_INV, Size 52). */
            td->d[0].type = IOMMU_QI_DEVTLB;
            td->d[0].inv =
                (iommu_inv_t){.rid = td->rid, .pasid = td->pasid, .len = 0};
            td_batch(td, 1, false);
            return;
        case TD_PRQ:
            /* prq.c: wait until the PRQ thread has handled every request
             * of the PASID still in the queue ("wait_for_completion(
             * &iommu->prq_complete); goto prq_retry"). */
            if (prq_holds(h, td->rid, td->pasid)) {
                h->s.drain_prq_waits->value++;
                td->wait_prq = true;
                return;
            }
            td->step = TD_FLUSH;
            break;
        case TD_FLUSH:
            /* iopf_queue_flush_dev: flush_workqueue waits for the work
             * queued before it. */
            td->flush_seq = h->qseq;
            td->flush_left = h->queued;
            if (td->flush_left)
                return;
            td->step = TD_DRAIN;
            break;
        case TD_DRAIN:
            /* prq.c, "steps described in VT-d spec CH7.10": an inv_wait
             * with fence, a PASID-based IOTLB and a device-TLB
             * invalidation, submitted with QI_OPT_WAIT_DRAIN (a wait with
             * PD). SMMUv3 has no PD: the same batch ends with CMD_SYNC. */
            td->d[0].type = IOMMU_QI_WAIT;
            td->d[0].fence = true; /* QI_IWD_FENCE */
            td->d[1].type = IOMMU_QI_IOTLB;
            td->d[1].inv = (iommu_inv_t){.gran = IOMMU_INV_PASID,
                                         .domain = td->domain,
                                         .pasid = td->pasid};
            td->d[2].type = IOMMU_QI_DEVTLB;
            td->d[2].inv =
                (iommu_inv_t){.rid = td->rid, .pasid = td->pasid, .len = 0};
            td_batch(td, 3, true);
            return;
        case TD_DONE:
            td_finish(td);
            return;
        }
    }
}

/* The PRQ thread's run ended (prq.c: complete(&iommu->prq_complete)):
 * teardowns waiting for it go on. */
static void td_prq_complete(ioasid_host_t *h)
{
    teardown_t *td = h->teardowns;
    while (td) {
        teardown_t *next = td->next;
        if (td->wait_prq) {
            td->wait_prq = false;
            td_run(td);
        }
        td = next;
    }
}

/* A group queued at order qseq left the workers: flushes waiting for it
 * go on. */
static void td_flush_note(ioasid_host_t *h, uint64_t qseq)
{
    teardown_t *td = h->teardowns;
    while (td) {
        teardown_t *next = td->next;
        if (td->step == TD_FLUSH && td->flush_left && qseq <= td->flush_seq &&
            --td->flush_left == 0) {
            td->step = TD_DRAIN;
            td_run(td);
        }
        td = next;
    }
}

int ioasid_host_unbind(ioasid_host_t *h, uint16_t rid, uint32_t pasid,
                       ioasid_host_unbound_fn done, void *opaque)
{
    bind_slot_t *s = bind_slot(h, bind_key(rid, pasid));
    if (!s || !s->key || !s->fn)
        return -ENOENT;
    if (s->dying)
        return -EBUSY;
    teardown_t *td = calloc(1, sizeof(*td));
    if (!td)
        return -ENOMEM;
    iommu_pasid_entry_t e;
    if (iommu_get_pasid(h->iommu, rid, pasid, &e))
        td->domain = e.domain;
    td->h = h;
    td->rid = rid;
    td->pasid = pasid;
    td->start = sim_now(h->sim);
    td->done = done;
    td->opaque = opaque;
    td->next = h->teardowns;
    h->teardowns = td;
    s->dying = true;
    /* pasid.c: intel_pasid_tear_down_entry: clear the entry (hardware
     * may keep cached copies until the invalidations below). */
    iommu_clear_pasid(h->iommu, rid, pasid);
    td_run(td);
    return 0;
}

/* ------------------------------------------------------- fault groups */

static void group_free(ioasid_host_t *h, ioasid_iopf_group_t *g)
{
    ioasid_iopf_fault_t *f = g->faults;
    while (f) {
        ioasid_iopf_fault_t *next = f->next;
        sim_pool_put(&h->faults, f);
        f = next;
    }
    sim_pool_put(&h->groups, g);
}

/* The wait descriptor of a worker's response completed: qi_submit_sync
 * returns and the worker takes its next group. */
static void worker_release(void *opaque)
{
    ioasid_host_t *h = opaque;
    sim_server_release(h->workers);
}

/* Answer g (see ioasid_host_respond); done(opaque), when non-NULL, runs
 * when the submitter returns: on VT-d when the wait descriptor of
 * qi_submit_sync completes, otherwise (SMMUv3 CMD_PRI_RESP, CMD_RESUME)
 * once the command is submitted. */
static void respond(ioasid_host_t *h, ioasid_iopf_group_t *g, uint8_t code,
                    ioasid_host_done_fn done, void *opaque)
{
    const ioasid_iopf_fault_t *last = g->last;
    iommu_qi_desc_t d[2];
    memset(d, 0, sizeof(d));
    unsigned n = 1;
    d[0].type = g->stall ? IOMMU_QI_RESUME : IOMMU_QI_PAGE_RESP;
    d[0].rid = last->desc.rid;
    d[0].pasid = last->desc.pasid;
    d[0].prgi = g->stall ? g->stag : last->desc.prgi;
    d[0].code = code;
    d[0].pasid_present = last->desc.flags & PCIE_F_PASID;
    d[0].span = last->desc.span;
    if (!g->stall && iommu_arch(h->iommu) == IOMMU_ARCH_VTD) {
        /* qi_submit_sync (intel/dmar.c): the submitter spins until the
         * wait descriptor completes; a worker stays busy until then. */
        d[n].type = IOMMU_QI_WAIT;
        if (done) {
            /* A response from user space (iommufd_fault_fops_write ->
             * iommu_page_response): the write returns with it. */
            d[n].done = done;
            d[n].opaque = opaque;
            done = NULL;
        } else if (h->in_worker && !h->worker_waits) {
            d[n].done = worker_release;
            d[n].opaque = h;
            h->worker_waits = true;
        }
        n++;
    }
    sim_span_mark(last->desc.span, g->resp_stage, sim_now(h->sim));
    if (code == PCIE_PRG_SUCCESS)
        h->s.resp_success->value++;
    else if (code == PCIE_PRG_INVALID)
        h->s.resp_invalid->value++;
    else
        h->s.resp_failure->value++;
    if (g->stall) {
        h->s.resumes->value++;
    } else {
        for (const ioasid_iopf_fault_t *f = g->faults; f; f = f->next)
            h->requests_responded++;
    }
    h->in_flight--;
    if (iommu_qi_submit(h->iommu, d, n))
        sim_oom(h->sim, "host");
    group_free(h, g);
    if (done) /* no wait descriptor: back at once */
        done(opaque);
}

void ioasid_host_respond(ioasid_host_t *h, ioasid_iopf_group_t *g, uint8_t code)
{
    respond(h, g, code, NULL, NULL);
}

/* A response step: the group, its code and who to tell when submitted. */
typedef struct resp_step {
    struct resp_step *next, **pprev; /* on h->resp_steps until it runs */
    ioasid_host_t *h;
    ioasid_iopf_group_t *g;
    uint8_t code;
    ioasid_host_done_fn done;
    void *opaque;
} resp_step_t;

/* The host driver has built the response (host.qi_submit): submit it;
 * the caller is told when the submission returns (respond). */
static void ev_resp_step(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    (void)arg;
    resp_step_t *r = opaque;
    *r->pprev = r->next;
    if (r->next)
        r->next->pprev = r->pprev;
    respond(r->h, r->g, r->code, r->done, r->opaque);
    free(r);
}

void ioasid_host_respond_step(ioasid_host_t *h, ioasid_iopf_group_t *g,
                              uint8_t code, ioasid_host_done_fn done,
                              void *opaque)
{
    sim_time_t t = sim_dist_draw(&h->cfg.qi_submit, &h->rng);
    resp_step_t *r = malloc(sizeof(*r));
    if (!r) {
        sim_oom(h->sim, "host");
        return;
    }
    *r = (resp_step_t){NULL, NULL, h, g, code, done, opaque};
    if (!sim_schedule(h->sim, t, ev_resp_step, r, 0)) {
        free(r);
        return; /* the engine refused it and stopped the run */
    }
    /* Kept on a list: a run stopped before the step frees it at the
     * host's destruction. */
    r->next = h->resp_steps;
    if (r->next)
        r->next->pprev = &r->next;
    r->pprev = &h->resp_steps;
    h->resp_steps = r;
}

void ioasid_host_note_user_group(ioasid_host_t *h)
{
    h->s.guest_groups->value++;
}

sim_time_t ioasid_host_draw(ioasid_host_t *h, ioasid_host_cost_t which)
{
    const sim_dist_t *d = which == IOASID_HOST_IOPF       ? &h->cfg.iopf
                          : which == IOASID_HOST_MM_MINOR ? &h->cfg.mm_minor
                                                          : &h->cfg.qi_submit;
    return sim_dist_draw(d, &h->rng);
}

void ioasid_host_queue(ioasid_host_t *h, ioasid_iopf_group_t *g,
                       sim_time_t cost, ioasid_iopf_work_fn work, void *opaque)
{
    g->work = work;
    g->work_opaque = opaque;
    g->qseq = ++h->qseq;
    h->queued++;
    sim_server_submit_held(h->workers, g, cost);
}

/* A worker finished a group's work: its completion runs on the worker,
 * which stays held until a VT-d response's wait descriptor completes
 * (worker_release), or is free now. */
static void worker_done(sim_t *sim, void *opaque, void *job)
{
    (void)sim;
    ioasid_host_t *h = opaque;
    ioasid_iopf_group_t *g = job;
    uint64_t qseq = g->qseq; /* g is freed by its work */
    h->queued--;
    h->in_worker = true;
    h->worker_waits = false;
    g->work(g->work_opaque, g);
    h->in_worker = false;
    if (!h->worker_waits)
        sim_server_release(h->workers);
    if (h->teardowns)
        td_flush_note(h, qseq);
}

ioasid_nested_faults_t ioasid_host_nested_faults(const ioasid_host_t *h)
{
    return (ioasid_nested_faults_t)h->cfg.nested_faults;
}

/* No handler for the group's (RID, PASID): Invalid after the iopf work. */
static void unbound_done(void *opaque, ioasid_iopf_group_t *g)
{
    ioasid_host_respond(opaque, g, PCIE_PRG_INVALID);
}

/* A group of the single fault f. */
static ioasid_iopf_group_t *group_of_one(ioasid_host_t *h,
                                         ioasid_iopf_fault_t *f)
{
    ioasid_iopf_group_t *g = sim_pool_get(&h->groups);
    if (!g) {
        sim_pool_put(&h->faults, f);
        sim_oom(h->sim, "host");
        return NULL;
    }
    f->next = NULL;
    g->faults = g->last = f;
    g->stall = false;
    g->resp_stage = h->st_fault;
    g->priv = 0;
    g->work = NULL;
    g->work_opaque = NULL;
    g->qseq = 0;
    return g;
}

/* A fault for descriptor d, its span marked reported (NULL when out of
 * memory, logged). */
static ioasid_iopf_fault_t *fault_new(ioasid_host_t *h,
                                      const iommu_prq_desc_t *d)
{
    sim_span_mark(d->span, h->st_irq, sim_now(h->sim));
    ioasid_iopf_fault_t *f = sim_pool_get(&h->faults);
    if (!f) {
        sim_oom(h->sim, "host");
        return NULL;
    }
    f->desc = *d;
    return f;
}

/*
 * Hand a complete group to the handler of its (RID, PASID) binding
 * (io-pgfault.c: iommu_handle_iopf calls domain->iopf_handler). With no
 * handler the group is answered Invalid after the iopf work. Returns the
 * time the handler takes the handler thread.
 */
static sim_time_t group_handle(ioasid_host_t *h, ioasid_iopf_group_t *g)
{
    void *data;
    ioasid_iopf_handler_fn fn =
        ioasid_host_handler(h, g->last->desc.rid, g->last->desc.pasid, &data);
    h->in_flight++;
    if (h->in_flight > h->cfg.max_groups) {
        /* The group cannot be allocated: io-pgfault.c:
         * iommu_report_device_fault builds an abort_group on the stack
         * (with the partials of the group index) and answers it
         * "iopf_group_response(group, IOMMU_PAGE_RESP_FAILURE)". */
        h->s.alloc_failures->value++;
        ioasid_host_respond(h, g, PCIE_PRG_FAILURE);
        return 0;
    }
    h->s.groups->value++;
    if (fn)
        return fn(data, g);
    sim_time_t cost = sim_dist_draw(&h->cfg.iopf, &h->rng);
    cost = sim_time_add(cost, sim_dist_draw(&h->cfg.qi_submit, &h->rng));
    ioasid_host_queue(h, g, cost, unbound_done, h);
    return 0;
}

/* Report one page request descriptor to the iopf core (io-pgfault.c:
 * iommu_report_device_fault); returns extra handler-thread time (what the
 * group's handler took). */
static sim_time_t report(ioasid_host_t *h, const iommu_prq_desc_t *d)
{
    if ((d->flags & PCIE_F_LAST) && !(d->flags & (PCIE_F_R | PCIE_F_W))) {
        h->s.stop_markers->value++; /* stop marker: dropped silently */
        return 0;
    }
    h->s.reported->value++;
    ioasid_iopf_fault_t *f = fault_new(h, d);
    if (!f)
        return 0;
    if (!(d->flags & PCIE_F_LAST)) {
        f->next = h->partials;
        h->partials = f;
        return 0;
    }
    /* Take the partials with the same RID and group index, oldest first
     * (the partial list is newest first), then the last request. */
    ioasid_iopf_fault_t **pp = &h->partials, *taken = NULL;
    while (*pp) {
        ioasid_iopf_fault_t *p = *pp;
        if (p->desc.rid == d->rid && p->desc.prgi == d->prgi) {
            *pp = p->next;
            p->next = taken;
            taken = p;
        } else {
            pp = &p->next;
        }
    }
    ioasid_iopf_group_t *g = group_of_one(h, f);
    if (!g)
        return 0;
    if (taken) {
        ioasid_iopf_fault_t **tail = &taken;
        while (*tail)
            tail = &(*tail)->next;
        *tail = f;
        g->faults = taken;
    }
    return group_handle(h, g);
}

/* Report one fault record: a stall event becomes a group of one for its
 * binding's handler, anything else is unrecoverable (only counted, as
 * Linux only prints it). */
static void report_event(ioasid_host_t *h, const iommu_fault_rec_t *r)
{
    if (!r->stall) {
        h->s.ev_unrecoverable->value++;
        for (size_t i = 0; i < h->nev_owners; i++)
            if (h->ev_owners[i].rid == r->rid) {
                h->s.ev_forwarded->value++;
                h->ev_owners[i].fn(h->ev_owners[i].data, r);
                break;
            }
        return;
    }
    h->s.ev_stalls->value++;
    iommu_prq_desc_t d = {.addr = r->addr & ~(IOMMU_PAGE_SIZE - 1),
                          .pasid = r->pasid_valid ? r->pasid : IOMMU_PASID_NONE,
                          .rid = r->rid,
                          .prgi = r->stag,
                          .flags =
                              (uint8_t)(r->flags | PCIE_F_LAST |
                                        (r->pasid_valid ? PCIE_F_PASID : 0)),
                          .span = r->span};
    ioasid_iopf_fault_t *f = fault_new(h, &d);
    if (!f)
        return;
    ioasid_iopf_group_t *g = group_of_one(h, f);
    if (!g)
        return;
    g->stall = true;
    g->stag = r->stag;
    (void)group_handle(h, g); /* the evtq thread is not held by handlers */
}

/* Discard every partial request (io-pgfault.c: iopf_queue_discard_partial). */
static void discard_partials(ioasid_host_t *h)
{
    while (h->partials) {
        ioasid_iopf_fault_t *p = h->partials;
        h->partials = p->next;
        sim_pool_put(&h->faults, p);
        h->s.partial_discarded->value++;
    }
}

/* ------------------------------------------------------ invalidations */

/* The host driver has built the batch (host.qi_submit): submit it. */
typedef struct inv_op {
    struct inv_op *next, **pprev; /* on h->invs until submitted */
    ioasid_host_t *h;
    uint16_t domain;
    size_t n;
    uint64_t va, len;
    iommu_done_fn done;
    void *opaque;
    ioasid_binding_t binds[]; /* a copy: the caller's may change meanwhile */
} inv_op_t;

/* Submit, per binding, an IOTLB invalidation of the range (VT-d
 * PASID-based IOTLB invalidation / SMMUv3 TLBI_NH_VA) and a device-TLB
 * invalidation (ATS), then a wait whose completion calls done (Linux:
 * intel/dmar.c qi_flush_piotlb and qi_flush_dev_iotlb_pasid; SMMUv3 TLBI +
 * ATC_INV + CMD_SYNC). */
static void ev_inv_submit(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    inv_op_t *op = opaque;
    ioasid_host_t *h = op->h;
    int rc = 0;
    for (size_t i = 0; i < op->n && !rc; i++) {
        iommu_qi_desc_t d[2];
        memset(d, 0, sizeof(d));
        d[0].type = IOMMU_QI_IOTLB;
        d[0].inv = (iommu_inv_t){.gran = IOMMU_INV_RANGE,
                                 .domain = op->domain,
                                 .pasid = op->binds[i].pasid,
                                 .addr = op->va,
                                 .len = op->len};
        d[1].type = IOMMU_QI_DEVTLB;
        d[1].inv = (iommu_inv_t){.rid = op->binds[i].rid,
                                 .pasid = op->binds[i].pasid,
                                 .addr = op->va,
                                 .len = op->len};
        rc = iommu_qi_submit(h->iommu, d, 2);
    }
    iommu_qi_desc_t w = {
        .type = IOMMU_QI_WAIT, .done = op->done, .opaque = op->opaque};
    if (rc || iommu_qi_submit(h->iommu, &w, 1))
        sim_oom(sim, "host");
    *op->pprev = op->next;
    if (op->next)
        op->next->pprev = op->pprev;
    free(op);
}

static int invalidate(ioasid_host_t *h, uint16_t domain,
                      const ioasid_binding_t *binds, size_t n, uint64_t va,
                      uint64_t len, iommu_done_fn done, void *opaque,
                      sim_time_t delay)
{
    inv_op_t *op = malloc(sizeof(*op) + n * sizeof(ioasid_binding_t));
    if (!op)
        return -ENOMEM;
    op->h = h;
    op->domain = domain;
    op->n = n;
    op->va = va;
    op->len = len;
    op->done = done;
    op->opaque = opaque;
    if (n)
        memcpy(op->binds, binds, n * sizeof(ioasid_binding_t));
    op->next = h->invs;
    op->pprev = &h->invs;
    if (h->invs)
        h->invs->pprev = &op->next;
    h->invs = op;
    sim_schedule(h->sim, delay, ev_inv_submit, op, 0);
    return 0;
}

int ioasid_host_invalidate(ioasid_host_t *h, uint16_t domain,
                           const ioasid_binding_t *binds, size_t n, uint64_t va,
                           uint64_t len, iommu_done_fn done, void *opaque)
{
    return invalidate(h, domain, binds, n, va, len, done, opaque,
                      sim_dist_draw(&h->cfg.qi_submit, &h->rng));
}

/* The guest wrote the commands into a hardware queue of its own
 * (vmm.guest_inv = hwqueue): the host driver has no part, so no
 * host.qi_submit; the IOMMU's queue processes them as it would the host's. */
int ioasid_host_invalidate_direct(ioasid_host_t *h, uint16_t domain,
                                  const ioasid_binding_t *binds, size_t n,
                                  uint64_t va, uint64_t len, iommu_done_fn done,
                                  void *opaque)
{
    return invalidate(h, domain, binds, n, va, len, done, opaque, 0);
}

/* ----------------------------------------------------- handler threads */

static void thread_run(ioasid_host_t *h, hq_reader_t *q);

/* End of a handler run: write head once; recover from an overflow (per
 * architecture); run again if an interrupt came meanwhile. */
static void thread_end(ioasid_host_t *h, hq_reader_t *q)
{
    iommu_t *u = h->iommu;
    if (q->evq) {
        iommu_fault_set_head(u, q->tail);
        if (iommu_fault_overflowed(u)) {
            h->s.ev_overflows->value++;
            iommu_fault_ack_overflow(u);
        }
    } else {
        iommu_prq_set_head(u, q->tail);
        bool smmu = iommu_arch(u) == IOMMU_ARCH_SMMUV3;
        if ((iommu_prq_status(u) & IOMMU_PRS_PRO) &&
            (smmu || iommu_prq_count(u) == 0)) {
            /* AMD-Vi: after the poll, amd_iommu_restart_ppr_log (ppr.c ->
             * init.c amd_iommu_restart_log) disables the log, clears
             * PPROverflow and enables it again; it keeps the partial
             * groups (no iopf_queue_discard_partial, unlike VT-d and
             * SMMUv3). */
            if (iommu_arch(u) != IOMMU_ARCH_AMDVI)
                discard_partials(h);
            iommu_prq_clear_status(u, IOMMU_PRS_PRO);
            h->s.overflow_recoveries->value++;
        }
        sim_hist_add(h->s.batch, q->count);
    }
    q->running = false;
    if (!q->evq && h->teardowns)
        td_prq_complete(h);
    if (q->rerun) {
        q->rerun = false;
        thread_run(h, q);
    }
}

static void ev_thread_end(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_host_t *h = opaque;
    thread_end(h, arg ? &h->evq : &h->prq);
}

/* The next descriptor has been read; report it, go on or finish. */
static void ev_desc(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_host_t *h = opaque;
    hq_reader_t *q = arg ? &h->evq : &h->prq;
    sim_time_t extra = 0;
    if (q->evq) {
        iommu_fault_rec_t r;
        iommu_fault_read(h->iommu, q->pos, &r);
        report_event(h, &r);
        q->pos = iommu_fault_next(h->iommu, q->pos);
    } else {
        iommu_prq_desc_t d;
        iommu_prq_read(h->iommu, q->pos, &d);
        extra = report(h, &d);
        q->pos = iommu_prq_next(h->iommu, q->pos);
    }
    q->count++;
    if (q->pos != q->tail)
        sim_schedule(
            sim, sim_time_add(extra, sim_dist_draw(&h->cfg.prq_desc, &h->rng)),
            ev_desc, h, q->evq);
    else if (extra)
        sim_schedule(sim, extra, ev_thread_end, h, q->evq);
    else
        thread_end(h, q);
}

static void thread_run(ioasid_host_t *h, hq_reader_t *q)
{
    iommu_t *u = h->iommu;
    q->running = true;
    q->count = 0;
    if (q->evq) {
        h->s.ev_runs->value++;
        q->pos = iommu_fault_head(u);
        q->tail = iommu_fault_tail(u);
    } else {
        h->s.runs->value++;
        /* VT-d clears PPR; AMD-Vi clears PPRInt before it polls the PPR
         * log (Linux drivers/iommu/amd/iommu.c: amd_iommu_handle_irq). */
        if (iommu_arch(u) != IOMMU_ARCH_SMMUV3)
            iommu_prq_clear_status(u, IOMMU_PRS_PPR);
        q->pos = iommu_prq_head(u);
        q->tail = iommu_prq_tail(u);
    }
    if (q->pos == q->tail) {
        thread_end(h, q);
        return;
    }
    sim_schedule(h->sim, sim_dist_draw(&h->cfg.prq_desc, &h->rng), ev_desc, h,
                 q->evq);
}

/* The interrupt reaches its handler thread (arg 0: PRQ, 1: event queue). */
static void ev_irq(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_host_t *h = opaque;
    hq_reader_t *q = arg ? &h->evq : &h->prq;
    if (q->running)
        q->rerun = true; /* oneshot threaded IRQ: runs again after */
    else
        thread_run(h, q);
}

/* The PRQ MSI: the threaded handler runs after irq_latency. */
static void prq_irq(void *opaque)
{
    ioasid_host_t *h = opaque;
    h->s.irqs->value++;
    sim_schedule(h->sim, h->cfg.irq_latency, ev_irq, h, 0);
}

/* The fault/event queue MSI: its handler runs after irq_latency. */
static void fault_irq(void *opaque)
{
    ioasid_host_t *h = opaque;
    h->s.ev_irqs->value++;
    sim_schedule(h->sim, h->cfg.irq_latency, ev_irq, h, 1);
}

/* ------------------------------------------------------------ lifecycle */

#define HC(f, n, d, u)                                                         \
    {                                                                          \
        SIM_STAT_COUNTER, n, d, u, offsetof(ioasid_host_t, f)                  \
    }
static const sim_stat_def_t host_stats[] = {
    HC(s.irqs, "host.prq.interrupts", "PRQ interrupts received", "interrupts"),
    HC(s.runs, "host.prq.runs", "handler thread runs", "runs"),
    HC(s.reported, "host.prq.reported",
       "page requests reported to the iopf core", "requests"),
    HC(s.stop_markers, "host.prq.stop_markers", "stop markers dropped",
       "requests"),
    HC(s.overflow_recoveries, "host.prq.overflow_recoveries",
       "PRQ overflows cleared after draining", "events"),
    HC(s.partial_discarded, "host.iopf.partial_discarded",
       "partial requests discarded after an overflow", "requests"),
    HC(s.groups, "host.iopf.groups", "fault groups handled", "groups"),
    HC(s.resp_success, "host.iopf.resp_success", "groups answered Success",
       "groups"),
    HC(s.resp_invalid, "host.iopf.resp_invalid", "groups answered Invalid",
       "groups"),
    HC(mm.unmaps, "host.unmap.count", "unmaps with invalidation", "unmaps"),
    HC(s.guest_groups, "host.iopf.guest_groups",
       "groups handed to the IOASID fault handler (guest-owned)", "groups"),
    HC(s.unbinds, "host.unbinds", "(RID, PASID) bindings torn down", "unbinds"),
    HC(s.resp_failure, "host.iopf.resp_failure",
       "groups answered Response Failure", "groups"),
    HC(s.alloc_failures, "host.iopf.alloc_failures",
       "groups that found host.max_groups in use (Response Failure)", "groups"),
    HC(s.drain_prq_waits, "host.detach.prq_waits",
       "teardowns that waited for the PRQ thread to handle the PASID's "
       "requests",
       "waits"),
    HC(s.drain_retries, "host.detach.drain_retries",
       "drain batches submitted again after a PRQ overflow", "batches"),
    HC(s.ev_irqs, "host.evq.interrupts",
       "fault/event queue interrupts received", "interrupts"),
    HC(s.ev_runs, "host.evq.runs", "event handler thread runs", "runs"),
    HC(s.ev_stalls, "host.evq.stalls",
       "stall events reported as a fault group of one", "events"),
    HC(s.ev_unrecoverable, "host.evq.unrecoverable",
       "unrecoverable fault records read (only counted)", "records"),
    HC(s.ev_forwarded, "host.evq.forwarded",
       "of the unrecoverable records, those handed to their device's "
       "owner (a VM's vEVENTQ)",
       "records"),
    HC(s.ev_overflows, "host.evq.overflows",
       "fault/event queue overflows acknowledged", "events"),
    HC(s.resumes, "host.iopf.resumes", "stalled transactions resumed",
       "groups"),
    HC(mm.minor, "host.mm.minor_faults", "pages populated by a fault",
       "faults"),
    HC(mm.spurious, "host.mm.spurious_faults",
       "faults on pages already present with the access allowed", "faults"),
    HC(mm.upgrades, "host.mm.permission_upgrades",
       "faults that made a present page writable", "faults"),
    HC(mm.bad_access, "host.mm.bad_access",
       "faults outside any mapping or not allowed by it (Invalid)", "faults"),
    {SIM_STAT_HIST, "host.prq.batch", "descriptors read per handler run",
     "descriptors", offsetof(ioasid_host_t, s.batch)},
    {SIM_STAT_HIST, "host.unmap.latency",
     "unmap: invalidation queue batch (IOTLB, device-TLB, wait) until the "
     "wait completes",
     "ps", offsetof(ioasid_host_t, mm.unmap_latency)},
    {SIM_STAT_HIST, "host.detach.latency",
     "PASID teardown: entry cleared, PASID cache, IOTLB and device-TLB "
     "invalidated, PRQ drained, until the binding is free",
     "ps", offsetof(ioasid_host_t, s.detach_latency)},
};
#undef HC

ioasid_host_t *ioasid_host_create(sim_t *sim, sim_stats_t *st,
                                  const ioasid_host_cfg_t *cfg, iommu_t *iommu,
                                  const sim_spans_t *spans, uint64_t seed)
{
    ioasid_host_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->sim = sim;
    h->cfg = *cfg;
    h->iommu = iommu;
    h->st_irq = sim_spans_stage(spans, "host_irq");
    h->st_fault = sim_spans_stage(spans, "host_fault");
    sim_rng_seed(&h->rng, seed, "host");
    sim_pool_init(&h->faults, sizeof(ioasid_iopf_fault_t), 256);
    sim_pool_init(&h->groups, sizeof(ioasid_iopf_group_t), 256);
    sim_server_cfg_t wc = {.name = "host.iopf_workers",
                           .servers =
                               (unsigned)(cfg->iopf_workers ? cfg->iopf_workers
                                          : cfg->cpus       ? cfg->cpus
                                                            : 1),
                           .queue_limit = 0,
                           .service = cfg->iopf};
    sim_rng_seed(&h->workers_rng, seed, "host.iopf_workers");
    h->workers =
        sim_server_create(sim, st, &wc, &h->workers_rng, worker_done, h);
    if (!h->workers ||
        sim_stats_register(st, host_stats,
                           sizeof(host_stats) / sizeof(host_stats[0]), h)) {
        ioasid_host_destroy(h);
        return NULL;
    }
    h->evq.evq = true;
    iommu_set_prq_irq(iommu, prq_irq, h);
    iommu_set_fault_irq(iommu, fault_irq, h);
    return h;
}

void ioasid_host_destroy(ioasid_host_t *h)
{
    if (!h)
        return;
    sim_server_destroy(h->workers);
    while (h->teardowns) {
        teardown_t *td = h->teardowns;
        h->teardowns = td->next;
        free(td);
    }
    /* Invalidations still waiting for host.qi_submit when the run stopped
     * (their owners free what their opaque points to). */
    while (h->invs) {
        inv_op_t *op = h->invs;
        h->invs = op->next;
        free(op);
    }
    /* Responses still waiting for host.qi_submit when the run stopped. */
    while (h->resp_steps) {
        struct resp_step *r = h->resp_steps;
        h->resp_steps = r->next;
        free(r);
    }
    free(h->free_domains);
    free(h->ev_owners);
    while (h->nowned) {
        owned_t *o = &h->owned[--h->nowned];
        o->fini(o->obj);
    }
    free(h->owned);
    free(h->binds);
    sim_pool_fini(&h->faults);
    sim_pool_fini(&h->groups);
    free(h);
}

const ioasid_host_cfg_t *ioasid_host_cfg(const ioasid_host_t *h)
{
    return &h->cfg;
}

sim_t *ioasid_host_sim(const ioasid_host_t *h)
{
    return h->sim;
}

iommu_t *ioasid_host_iommu(const ioasid_host_t *h)
{
    return h->iommu;
}

int ioasid_host_own(ioasid_host_t *h, void *obj, void (*fini)(void *obj))
{
    if (SIM_GROW(h->owned, h->owned_cap, h->nowned + 1, 16))
        return -ENOMEM;
    h->owned[h->nowned++] = (owned_t){obj, fini};
    return 0;
}

void ioasid_host_disown(ioasid_host_t *h, void *obj)
{
    for (size_t i = h->nowned; i-- > 0;)
        if (h->owned[i].obj == obj) {
            memmove(&h->owned[i], &h->owned[i + 1],
                    (h->nowned - i - 1) * sizeof(h->owned[0]));
            h->nowned--;
            return;
        }
}

ioasid_host_mm_stats_t *ioasid_host_mm_stats(ioasid_host_t *h)
{
    return &h->mm;
}

void ioasid_host_totals(const ioasid_host_t *h, ioasid_host_totals_t *out)
{
    *out = (ioasid_host_totals_t){
        .reported = h->s.reported->value,
        .groups = h->s.groups->value,
        .resp_success = h->s.resp_success->value,
        .resp_invalid = h->s.resp_invalid->value,
        .resp_failure = h->s.resp_failure->value,
        /* with the requests guests answered through a hardware vIOMMU
         * (their PPR logs never reach the host) */
        .requests_responded =
            h->requests_responded + iommu_vlog_responded(h->iommu),
        .partial_discarded = h->s.partial_discarded->value,
        .stalls_resumed = h->s.resumes->value,
        .in_flight = h->in_flight,
        .unmaps_pending = h->mm.unmaps_pending,
    };
    for (const ioasid_iopf_fault_t *f = h->partials; f; f = f->next)
        out->partials_held++;
}
