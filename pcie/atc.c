/*
 * atc.c - the device's Address Translation Cache and ATS invalidation.
 *
 * The ATC holds one entry per translation, of the size the Translation
 * Completion gives (PCIe r4.0 10.2.3: S bit and size), set associative
 * with LRU replacement; several page sizes live side by side, each looked
 * up in turn.
 *
 * ATS invalidation (PCIe r4.0 10.3.1 Invalidate Request, 10.3.2
 * Invalidate Completion): an Invalidate Request drops the matching entries
 * at once; the Invalidate Completion goes back after `inv_proc`, and not
 * before every translated request that used a dropped translation has been
 * sent (writes) or completed (reads). Without a PASID prefix every PASID's
 * entries in the range go. Invalidation trackers come from a pool: nothing
 * is allocated per request in the steady state.
 */
#include "pcie/atc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* An ATS invalidation being handled. */
struct pcie_ats_inv {
    struct pcie_ats_inv *next;
    uint64_t seq;    /* invalidation sequence number at arrival */
    uint64_t lo, hi; /* untranslated range, inclusive */
    sim_time_t t0;
    uint32_t pasid;
    uint32_t waits; /* data phases still using a dropped translation */
    bool any_pasid;
    bool proc_done;
    pcie_msg_t cpl; /* the Invalidate Completion to send */
};

/*
 * Set up the cache (when it has entries) and the invalidation pool.
 */
int pcie_atc_init(pcie_atc_t *a, pcie_dev_env_t *env, uint64_t entries,
                  uint64_t ways, const sim_dist_t *inv_proc)
{
    a->env = env;
    a->inv_proc = inv_proc;
    sim_pool_init(&a->invs, sizeof(pcie_ats_inv_t), 16);
    if (!entries)
        return 0;
    if (!ways)
        ways = 1;
    if (ways > entries)
        ways = entries;
    a->ways = ways;
    a->sets = entries / ways;
    a->e = calloc((size_t)a->sets * ways, sizeof(pcie_atc_entry_t));
    return a->e ? 0 : -ENOMEM;
}

/*
 * Free the cache and the invalidation pool.
 */
void pcie_atc_fini(pcie_atc_t *a)
{
    sim_pool_fini(&a->invs);
    free(a->e);
    a->e = NULL;
}

/* ------------------------------------------------------------------ cache */

/*
 * First entry of the set for (pasid, tag, shift); sets need not be a power
 * of two (multiply-shift range reduction of a 64-bit hash).
 */
static inline pcie_atc_entry_t *atc_set_of(const pcie_atc_t *a, uint32_t pasid,
                                           uint64_t tag, unsigned shift)
{
    uint64_t h = (tag ^ ((uint64_t)pasid << 40) ^ ((uint64_t)shift << 60)) *
                 0x9e3779b97f4a7c15ull;
    uint64_t set = (uint64_t)(((unsigned __int128)(h >> 32) * a->sets) >> 32);
    return &a->e[set * a->ways];
}

/*
 * Look up in every page size the ATC holds.
 */
pcie_atc_entry_t *pcie_atc_lookup(pcie_atc_t *a, uint32_t pasid, uint64_t va,
                                  uint8_t need, bool touch)
{
    for (uint64_t m = a->shifts; m; m &= m - 1) {
        unsigned s = (unsigned)__builtin_ctzll(m);
        uint64_t tag = va >> s;
        pcie_atc_entry_t *set = atc_set_of(a, pasid, tag, s);
        for (unsigned w = 0; w < a->ways; w++) {
            pcie_atc_entry_t *e = &set[w];
            if (e->shift == s && e->tag == tag && e->pasid == pasid &&
                (e->perm & need)) {
                if (touch)
                    e->lru = ++a->clock;
                return e;
            }
        }
    }
    return NULL;
}

/*
 * Forget that an entry of this size is valid (size bookkeeping).
 */
static void atc_drop(pcie_atc_t *a, pcie_atc_entry_t *e)
{
    if (--a->per_shift[e->shift] == 0)
        a->shifts &= ~(1ull << e->shift);
    e->shift = 0;
}

/*
 * Cache a translation: same key, else a free way, else the LRU way.
 */
void pcie_atc_insert(pcie_atc_t *a, uint32_t pasid, uint64_t vbase,
                     unsigned shift, uint64_t xbase, uint8_t perm)
{
    if (!a->e)
        return;
    uint64_t tag = vbase >> shift;
    pcie_atc_entry_t *set = atc_set_of(a, pasid, tag, shift);
    pcie_atc_entry_t *victim = NULL;
    for (unsigned w = 0; w < a->ways; w++) {
        pcie_atc_entry_t *e = &set[w];
        if (e->shift == shift && e->tag == tag && e->pasid == pasid) {
            victim = e;
            break;
        }
        if (!e->shift) {
            if (!victim || victim->shift)
                victim = e;
        } else if (!victim || (victim->shift && e->lru < victim->lru)) {
            victim = e;
        }
    }
    if (victim->shift) {
        if (!(victim->shift == shift && victim->tag == tag &&
              victim->pasid == pasid))
            a->s.evictions->value++;
        atc_drop(a, victim);
    }
    victim->tag = tag;
    victim->pasid = pasid;
    victim->xbase = xbase;
    victim->perm = perm;
    victim->shift = (uint8_t)shift;
    victim->lru = ++a->clock;
    a->per_shift[shift]++;
    a->shifts |= 1ull << shift;
    a->s.fills->value++;
}

/*
 * Drop every entry overlapping [lo, hi] of `pasid` (or of every PASID).
 */
static void atc_invalidate(pcie_atc_t *a, bool any_pasid, uint32_t pasid,
                           uint64_t lo, uint64_t hi)
{
    if (!a->e)
        return;
    size_t n = (size_t)a->sets * a->ways;
    for (size_t i = 0; i < n; i++) {
        pcie_atc_entry_t *e = &a->e[i];
        if (!e->shift || (!any_pasid && e->pasid != pasid))
            continue;
        uint64_t base = e->tag << e->shift;
        uint64_t last = base + ((1ull << e->shift) - 1);
        if (base <= hi && last >= lo) {
            atc_drop(a, e);
            a->s.inval->value++;
        }
    }
}

/* ----------------------------------------------------------- invalidation */

/*
 * Whether the job's current data phase uses a translation the invalidation
 * dropped.
 */
static inline bool inv_covers(const pcie_ats_inv_t *t, const pcie_job_t *j)
{
    if (!t->any_pasid && t->pasid != j->pasid)
        return false;
    uint64_t va = j->addr + j->off;
    return va <= t->hi && va + j->chunk - 1 >= t->lo;
}

/*
 * Send an invalidation's completion and forget it.
 */
static void inv_complete(pcie_atc_t *a, pcie_ats_inv_t *t)
{
    for (pcie_ats_inv_t **pp = &a->invs_head; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    sim_time_t now = sim_now(a->env->sim);
    sim_hist_add(a->s.inv_latency, now - t->t0);
    pcie_env_send_up(a->env, &t->cpl, now);
    sim_pool_put(&a->invs, t);
}

/*
 * Invalidations that arrived while this data phase used a dropped
 * translation stop waiting for it.
 */
void pcie_atc_data_done(pcie_atc_t *a, const pcie_job_t *j)
{
    pcie_ats_inv_t *t = a->invs_head;
    while (t) {
        pcie_ats_inv_t *next = t->next;
        if (j->data_seq < t->seq && inv_covers(t, j) && --t->waits == 0 &&
            t->proc_done)
            inv_complete(a, t);
        t = next;
    }
}

/* The device's invalidation processing time has passed. */
static void ev_inv_proc(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    pcie_ats_inv_t *t = sim_arg_ptr(arg);
    t->proc_done = true;
    if (t->waits == 0)
        inv_complete(opaque, t);
}

/*
 * An ATS Invalidate Request: drop the matching entries now; complete after
 * inv_proc and after every data phase that used a dropped translation (the
 * completion means the function no longer uses the translations; posted
 * writes go ahead of it on the link, reads must have completed [I: the
 * intent of PCIe r4.0 10.3, not read in the spec]).
 */
void pcie_atc_rx_inv(pcie_atc_t *a, const pcie_msg_t *m,
                     pcie_job_t *const *active, unsigned nactive)
{
    pcie_dev_env_t *env = a->env;
    a->s.inv_reqs->value++;
    pcie_ats_inv_t *t = sim_pool_get(&a->invs);
    if (!t) {
        char who[32];
        snprintf(who, sizeof(who), "device%u", env->index);
        sim_oom(env->sim, who);
        return;
    }
    t->seq = ++a->inv_seq;
    t->any_pasid = !(m->flags & PCIE_F_PASID);
    t->pasid = m->pasid;
    if (m->len == 0) {
        t->lo = 0;
        t->hi = UINT64_MAX;
    } else {
        t->lo = m->addr;
        t->hi = m->len - 1 > UINT64_MAX - m->addr ? UINT64_MAX
                                                  : m->addr + m->len - 1;
    }
    t->t0 = sim_now(env->sim);
    atc_invalidate(a, t->any_pasid, t->pasid, t->lo, t->hi);
    for (unsigned i = 0; i < nactive; i++) {
        const pcie_job_t *j = active[i];
        if (j->state == PCIE_JOB_DATA && j->xlated && inv_covers(t, j))
            t->waits++;
    }
    t->cpl.type = PCIE_MSG_INV_CPL;
    t->cpl.tag = m->tag;
    t->cpl.pasid = m->pasid;
    t->cpl.flags = m->flags & PCIE_F_PASID;
    t->cpl.cookie = m->cookie;
    t->next = a->invs_head;
    a->invs_head = t;
    sim_schedule(env->sim, sim_dist_draw(a->inv_proc, &env->rng), ev_inv_proc,
                 a, sim_ptr_arg(t));
}
