/*
 * irq.c - interrupt lines with moderation (iommu.irq_coalesce), shared by
 * the page request queue and the fault-record queue.
 */
#include "iommu/irq.h"

void iommu_irq_init(iommu_irq_t *l, sim_t *sim, sim_time_t window)
{
    l->sim = sim;
    l->window = window;
}

static void ev_irq_timer(sim_t *sim, void *opaque, uint64_t arg)
{
    iommu_irq_t *l = opaque;
    l->timer = false;
    l->last = sim_now(sim);
    l->count->value++;
    if (l->fn)
        l->fn(l->opaque);
}

void iommu_irq_raise(iommu_irq_t *l)
{
    sim_time_t now = sim_now(l->sim), w = l->window;
    if (w && l->timer) {
        l->coalesced->value++;
        return;
    }
    if (w && l->fired && now < sim_time_add(l->last, w)) {
        l->timer = true;
        sim_schedule_at(l->sim, sim_time_add(l->last, w), ev_irq_timer, l, 0);
        return;
    }
    l->fired = true;
    l->last = now;
    l->count->value++;
    if (l->fn)
        l->fn(l->opaque);
}
