/*
 * veventq.c - the iommufd vEVENTQ of a VM's vIOMMU (see veventq.h).
 *
 * The kernel side (iommufd_viommu_report_event, iommufd_vevent_handler):
 * an event finds room and is queued with the next sequence index; a full
 * queue (veventq_depth events waiting) loses it, but its index is used:
 * the lost-events header, which takes no room, sits at the tail with the
 * last lost index, and an event queued later replaces it there. The reader (the
 * VMM's handler of the vEVENTQ fd, one thread [I]) wakes, reads up to
 * vmm.batch entries per read, and injects each event into the guest, whose
 * event handler takes guest.irq + guest.handler; it learns of lost events
 * from the gaps in the sequence and from the header.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "ioasid/veventq.h"

#define SEQ_MASK 0x7fffffffu /* sequence indexes wrap after INT_MAX */

typedef struct vevent {
    struct vevent *next;
    uint32_t seq;
    bool lost_header;
    sim_time_t reported;
} vevent_t;

struct ioasid_veventq {
    sim_t *sim;
    ioasid_virt_cfg_t cfg;
    sim_rng_t *rng;
    sim_pool_t pool;
    vevent_t *head, *tail;
    uint64_t nevents;   /* events queued (not the header) */
    bool header_queued; /* the lost-events header is on the list */
    uint32_t next_seq;  /* the index of the next report */
    uint32_t expect;    /* the reader: the index it expects next */
    bool reading;       /* the reader is awake or scheduled */
    struct {
        sim_counter_t *reported, *lost, *delivered, *lost_seen, *headers;
        sim_hist_t *latency;
        sim_gauge_t *occ;
    } s;
};

#define F(x) offsetof(ioasid_virt_cfg_t, x)
const sim_param_t ioasid_veventq_params[] = {
    {"ioasid", "veventq_depth", SIM_PARAM_UINT, "64", 0, 1u << 20, "events",
     "SMMUv3: the vEVENTQ's depth (IOMMU_VEVENTQ_ALLOC veventq_depth [I]): "
     "events of the VM's devices wait there for the VMM; a full queue "
     "loses events and queues a lost-events header. 0: no vEVENTQ (the "
     "host only counts the events, as before iommufd had it)",
     NULL, F(veventq_depth)},
};
#undef F
const unsigned ioasid_veventq_nparams =
    sizeof(ioasid_veventq_params) / sizeof(ioasid_veventq_params[0]);

static void read_batch(sim_t *sim, void *opaque, uint64_t arg);

/* The guest has handled an event. */
static void ev_handled(sim_t *sim, void *opaque, uint64_t reported)
{
    ioasid_veventq_t *q = opaque;
    q->s.delivered->value++;
    sim_hist_add(q->s.latency, sim_now(sim) - (sim_time_t)reported);
}

/* Wake the reader if it sleeps (the fd became readable). */
static void wake(ioasid_veventq_t *q)
{
    if (q->reading)
        return;
    q->reading = true;
    if (!sim_schedule(q->sim, sim_dist_draw(&q->cfg.wake, q->rng), read_batch,
                      q, 0))
        sim_oom(q->sim, "vEVENTQ");
}

/* One read: up to vmm.batch entries, each event injected in turn. */
static void read_batch(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)arg;
    ioasid_veventq_t *q = opaque;
    sim_time_t t = sim_dist_draw(&q->cfg.read, q->rng);
    uint64_t batch = q->cfg.batch ? q->cfg.batch : 1;
    for (uint64_t n = 0; q->head && n < batch; n++) {
        vevent_t *e = q->head;
        q->head = e->next;
        if (!q->head)
            q->tail = NULL;
        /* A gap in the sequence: that many events were lost. */
        uint32_t gap = (e->seq - q->expect) & SEQ_MASK;
        q->s.lost_seen->value += gap;
        q->expect = (e->seq + 1) & SEQ_MASK;
        if (e->lost_header) {
            q->header_queued = false;
            q->s.headers->value++;
            q->s.lost_seen->value++; /* the header's own index was lost */
        } else {
            q->nevents--;
            t = sim_time_add(t, sim_dist_draw(&q->cfg.inject, q->rng));
            sim_time_t g = sim_time_add(sim_dist_draw(&q->cfg.irq, q->rng),
                                        sim_dist_draw(&q->cfg.handler, q->rng));
            if (!sim_schedule(sim, sim_time_add(t, g), ev_handled, q,
                              (uint64_t)e->reported))
                sim_oom(sim, "vEVENTQ");
        }
        sim_pool_put(&q->pool, e);
    }
    sim_gauge_set(q->s.occ, sim_now(sim), (double)q->nevents);
    q->reading = false;
    if (q->head) { /* more to read: the next read after this one */
        q->reading = true;
        if (!sim_schedule(sim, t, read_batch, q, 0))
            sim_oom(sim, "vEVENTQ");
    }
}

/* Take the lost-events header off the tail (it is only ever there). */
static void drop_header(ioasid_veventq_t *q)
{
    vevent_t **pp = &q->head, *prev = NULL;
    while (*pp != q->tail)
        prev = *pp, pp = &(*pp)->next;
    sim_pool_put(&q->pool, q->tail);
    *pp = NULL;
    q->tail = prev;
    q->header_queued = false;
}

/*
 * As iommufd_viommu_report_event and iommufd_vevent_handler: every report
 * takes the next sequence index. A full queue loses the event: the
 * lost-events header goes to the tail, or, already there, takes the new
 * index. An event that finds room replaces a header at the tail: the gap
 * in the sequence then says how many were lost.
 */
void ioasid_veventq_report(ioasid_veventq_t *q, const iommu_fault_rec_t *r)
{
    (void)r; /* the record is carried as is (iommu_vevent_arm_smmuv3) */
    uint32_t seq = q->next_seq;
    q->next_seq = (q->next_seq + 1) & SEQ_MASK;
    q->s.reported->value++;
    bool full = q->nevents >= q->cfg.veventq_depth;
    if (full)
        q->s.lost->value++;
    if (full && q->header_queued) {
        q->tail->seq = seq;
        return;
    }
    if (q->header_queued)
        drop_header(q);
    vevent_t *e = sim_pool_get(&q->pool);
    if (!e) {
        sim_oom(q->sim, "vEVENTQ");
        return;
    }
    e->next = NULL;
    e->seq = seq;
    e->lost_header = full;
    e->reported = sim_now(q->sim);
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    if (full)
        q->header_queued = true;
    else
        q->nevents++;
    sim_gauge_set(q->s.occ, sim_now(q->sim), (double)q->nevents);
    wake(q);
}

#define VC(field, name, desc, unit)                                            \
    {                                                                          \
        SIM_STAT_COUNTER, name, desc, unit,                                    \
            offsetof(ioasid_veventq_t, s.field)                                \
    }
static const sim_stat_def_t veventq_stats[] = {
    VC(reported, "ioasid.veventq.reported",
       "SMMUv3 events of the VM's devices handed to the vEVENTQ", "events"),
    VC(lost, "ioasid.veventq.lost", "of those, lost: the queue was full",
       "events"),
    VC(delivered, "ioasid.veventq.delivered",
       "events injected and handled by the guest", "events"),
    VC(lost_seen, "ioasid.veventq.lost_seen",
       "lost events the VMM learnt of (sequence gaps, lost-events headers)",
       "events"),
    VC(headers, "ioasid.veventq.lost_headers",
       "IOMMU_VEVENTQ_FLAG_LOST_EVENTS headers read", "headers"),
    {SIM_STAT_HIST, "ioasid.veventq.latency",
     "event reported by the host until the guest's handler has it", "ps",
     offsetof(ioasid_veventq_t, s.latency)},
    {SIM_STAT_GAUGE, "ioasid.veventq.occupancy",
     "events waiting in the vEVENTQ", "events",
     offsetof(ioasid_veventq_t, s.occ)},
};
#undef VC

ioasid_veventq_t *ioasid_veventq_create(sim_t *sim, sim_stats_t *st,
                                        const ioasid_virt_cfg_t *cfg,
                                        sim_rng_t *rng)
{
    ioasid_veventq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->sim = sim;
    q->cfg = *cfg;
    q->rng = rng;
    sim_pool_init(&q->pool, sizeof(vevent_t), 64);
    if (sim_stats_register(st, veventq_stats,
                           sizeof(veventq_stats) / sizeof(veventq_stats[0]),
                           q)) {
        ioasid_veventq_destroy(q);
        return NULL;
    }
    return q;
}

void ioasid_veventq_destroy(ioasid_veventq_t *q)
{
    if (!q)
        return;
    sim_pool_fini(&q->pool);
    free(q);
}

void ioasid_veventq_totals(const ioasid_veventq_t *q,
                           ioasid_veventq_totals_t *out)
{
    out->reported = q->s.reported->value;
    out->lost = q->s.lost->value;
    out->delivered = q->s.delivered->value;
    out->lost_seen = q->s.lost_seen->value;
    out->lost_headers = q->s.headers->value;
}
