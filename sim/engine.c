/*
 * sim/engine.c - the discrete-event engine.
 *
 * Event records live in a slot array with a free list; the array doubles
 * only when the number of events in flight reaches a new maximum, so the
 * steady state allocates nothing. The priority queue is an implicit 4-ary
 * heap whose entries carry their key (time, sequence) inline together with
 * the slot index and the slot's generation, so comparisons never touch the
 * slot array. A handle is (generation << 32 | slot + 1). Cancelling frees
 * the slot at once and bumps its generation; the heap entry left behind is
 * stale and is skipped when it reaches the top (the heap is compacted when
 * stale entries make up more than half of it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define NO_SLOT UINT32_MAX
#define HEAP_ARITY 4
#define COMPACT_MIN 64 /* do not bother compacting smaller heaps */

typedef struct heap_ent {
    sim_time_t time;
    uint64_t seq;
    uint32_t slot;
    uint32_t gen;
} heap_ent_t;

typedef struct ev_slot {
    sim_event_fn fn; /* NULL while the slot is free */
    void *opaque;
    uint64_t arg;
    uint32_t gen;
    uint32_t next_free;
} ev_slot_t;

struct sim {
    sim_time_t now;
    uint64_t seq;
    uint64_t run;
    heap_ent_t *heap;
    size_t heap_n, heap_cap;
    ev_slot_t *slots;
    uint32_t nslots, slots_cap;
    uint32_t free_head;
    size_t live;  /* events pending */
    size_t stale; /* heap entries whose event was cancelled */
    bool stop;
    sim_log_t *log;
};

static inline bool ent_less(const heap_ent_t *a, const heap_ent_t *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

/* Move entry e up from the hole at index i. */
static inline void sift_up(heap_ent_t *h, size_t i, heap_ent_t e)
{
    while (i > 0) {
        size_t p = (i - 1) / HEAP_ARITY;
        if (!ent_less(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

/* Move entry e down from the hole at index i in a heap of n entries. */
static inline void sift_down(heap_ent_t *h, size_t n, size_t i, heap_ent_t e)
{
    for (;;) {
        size_t c = i * HEAP_ARITY + 1;
        if (c >= n)
            break;
        size_t m = c;
        size_t end = c + HEAP_ARITY < n ? c + HEAP_ARITY : n;
        for (size_t k = c + 1; k < end; k++)
            if (ent_less(&h[k], &h[m]))
                m = k;
        if (!ent_less(&h[m], &e))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

/* Remove the top entry of the heap. */
static inline void heap_pop(sim_t *sim)
{
    size_t n = --sim->heap_n;
    if (n > 0)
        sift_down(sim->heap, n, 0, sim->heap[n]);
}

/* Drop every stale entry and rebuild the heap (Floyd's method). */
static void heap_compact(sim_t *sim)
{
    size_t n = 0;

    for (size_t i = 0; i < sim->heap_n; i++) {
        heap_ent_t e = sim->heap[i];
        if (sim->slots[e.slot].gen == e.gen)
            sim->heap[n++] = e;
    }
    sim->heap_n = n;
    sim->stale = 0;
    if (n < 2)
        return;
    for (size_t i = (n - 2) / HEAP_ARITY + 1; i-- > 0;)
        sift_down(sim->heap, n, i, sim->heap[i]);
}

sim_t *sim_create(sim_log_t *log)
{
    sim_t *sim = calloc(1, sizeof(*sim));

    if (!sim)
        return NULL;
    sim->log = log;
    sim->free_head = NO_SLOT;
    sim->heap_cap = 64;
    sim->slots_cap = 64;
    sim->heap = malloc(sim->heap_cap * sizeof(*sim->heap));
    sim->slots = malloc(sim->slots_cap * sizeof(*sim->slots));
    if (!sim->heap || !sim->slots) {
        sim_destroy(sim);
        return NULL;
    }
    return sim;
}

void sim_destroy(sim_t *sim)
{
    if (!sim)
        return;
    free(sim->heap);
    free(sim->slots);
    free(sim);
}

sim_log_t *sim_log(sim_t *sim)
{
    return sim->log;
}

sim_time_t sim_now(const sim_t *sim)
{
    return sim->now;
}

/* Take a free slot, growing the slot array by doubling if none is free. */
static uint32_t slot_alloc(sim_t *sim)
{
    uint32_t s = sim->free_head;

    if (s != NO_SLOT) {
        sim->free_head = sim->slots[s].next_free;
        return s;
    }
    if (sim->nslots == sim->slots_cap) {
        if (sim->slots_cap >= NO_SLOT / 2)
            return NO_SLOT;
        uint32_t cap = sim->slots_cap * 2;
        ev_slot_t *p = realloc(sim->slots, (size_t)cap * sizeof(*p));
        if (!p)
            return NO_SLOT;
        sim->slots = p;
        sim->slots_cap = cap;
    }
    s = sim->nslots++;
    sim->slots[s].gen = 0;
    return s;
}

/* Return a slot to the free list; the new generation invalidates handles. */
static inline void slot_free(sim_t *sim, uint32_t s)
{
    ev_slot_t *e = &sim->slots[s];

    e->fn = NULL;
    e->gen++;
    e->next_free = sim->free_head;
    sim->free_head = s;
}

sim_event_id_t sim_schedule_at(sim_t *sim, sim_time_t when, sim_event_fn fn,
                               void *opaque, uint64_t arg)
{
    if (!fn) {
        sim_logf(sim->log, SIM_LOG_ERROR, "sim_schedule: NULL event handler");
        return 0;
    }
    if (when < sim->now)
        when = sim->now;
    if (sim->heap_n == sim->heap_cap) {
        size_t cap = sim->heap_cap * 2;
        heap_ent_t *p = realloc(sim->heap, cap * sizeof(*p));
        if (!p) {
            sim_logf(sim->log, SIM_LOG_ERROR,
                     "sim_schedule: out of memory (%zu events pending)",
                     sim->live);
            return 0;
        }
        sim->heap = p;
        sim->heap_cap = cap;
    }
    uint32_t s = slot_alloc(sim);
    if (s == NO_SLOT) {
        sim_logf(sim->log, SIM_LOG_ERROR,
                 "sim_schedule: out of memory (%zu events pending)", sim->live);
        return 0;
    }
    ev_slot_t *e = &sim->slots[s];
    e->fn = fn;
    e->opaque = opaque;
    e->arg = arg;
    heap_ent_t h = {.time = when, .seq = sim->seq++, .slot = s, .gen = e->gen};
    sift_up(sim->heap, sim->heap_n++, h);
    sim->live++;
    return ((uint64_t)e->gen << 32) | ((uint64_t)s + 1);
}

sim_event_id_t sim_schedule(sim_t *sim, sim_time_t delay, sim_event_fn fn,
                            void *opaque, uint64_t arg)
{
    sim_time_t when = sim->now + delay;

    if (when < sim->now) /* overflow */
        when = SIM_TIME_MAX;
    return sim_schedule_at(sim, when, fn, opaque, arg);
}

bool sim_cancel(sim_t *sim, sim_event_id_t id)
{
    uint64_t lo = id & 0xffffffffu;
    uint32_t gen = (uint32_t)(id >> 32);

    if (lo == 0 || lo > sim->nslots)
        return false;
    uint32_t s = (uint32_t)(lo - 1);
    if (sim->slots[s].gen != gen || !sim->slots[s].fn)
        return false;
    slot_free(sim, s);
    sim->live--;
    sim->stale++;
    if (sim->heap_n >= COMPACT_MIN && sim->stale > sim->heap_n / 2)
        heap_compact(sim);
    return true;
}

/* Pop stale entries off the top; true if a live event is now at the top. */
static inline bool peek_live(sim_t *sim)
{
    while (sim->heap_n > 0) {
        const heap_ent_t *top = &sim->heap[0];
        if (sim->slots[top->slot].gen == top->gen)
            return true;
        heap_pop(sim);
        sim->stale--;
    }
    return false;
}

/* Run the (live) event at the top of the heap. Its slot is freed before
 * the handler runs, so the handler may reuse it. */
static inline void run_top(sim_t *sim)
{
    heap_ent_t top = sim->heap[0];
    ev_slot_t *e = &sim->slots[top.slot];
    sim_event_fn fn = e->fn;
    void *opaque = e->opaque;
    uint64_t arg = e->arg;

    heap_pop(sim);
    slot_free(sim, top.slot);
    sim->live--;
    sim->now = top.time;
    sim->run++;
    fn(sim, opaque, arg);
}

bool sim_step(sim_t *sim)
{
    if (!peek_live(sim))
        return false;
    run_top(sim);
    return true;
}

uint64_t sim_run(sim_t *sim, sim_time_t until)
{
    uint64_t n = 0;

    sim->stop = false;
    while (peek_live(sim)) {
        if (sim->heap[0].time > until) {
            if (until > sim->now)
                sim->now = until;
            break;
        }
        run_top(sim);
        n++;
        if (sim->stop)
            break;
    }
    sim->stop = false;
    return n;
}

void sim_stop(sim_t *sim)
{
    sim->stop = true;
}

uint64_t sim_events_run(const sim_t *sim)
{
    return sim->run;
}

size_t sim_events_pending(const sim_t *sim)
{
    return sim->live;
}
