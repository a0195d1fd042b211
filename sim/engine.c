/*
 * sim/engine.c - the discrete-event engine.
 *
 * Event records live in a slot array with a free list; the array doubles
 * only when the number of events in flight reaches a new maximum, so the
 * steady state allocates nothing.
 *
 * The priority queue is an implicit binary heap of 16-byte entries that
 * carry their whole key inline: the time, and one word holding the
 * insertion sequence number (high bits) and the slot index (low bits).
 * Ordering by that word orders by sequence, so comparisons never touch the
 * slot array, and (time, word) compares as one 128-bit integer. Siblings
 * share a 32-byte aligned block. Removal walks the hole down to a leaf with
 * branch-free child selection and then sifts the last entry up (Floyd's
 * bottom-up variant): measured faster here than a 4-ary heap.
 *
 * A handle is (slot generation << 32 | slot + 1). Cancelling frees the slot
 * at once and bumps its generation; the heap entry left behind is stale
 * (its key no longer matches the key kept in the slot, which plays the role
 * of the generation inside the heap) and is skipped when it reaches the
 * top; the heap is compacted when stale entries make up more than half of
 * it. The key leaves 24 bits for the slot (16M events in flight) and 40 for
 * the sequence number; when that runs out (after 2^40 events), the pending
 * events are renumbered in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "sim/log.h"
#include "sim/time.h"

#ifndef SIM_ENGINE_SEQ_BITS
#define SIM_ENGINE_SEQ_BITS 40
#endif
#define SLOT_BITS (64 - SIM_ENGINE_SEQ_BITS)
#define SLOT_MASK ((UINT64_C(1) << SLOT_BITS) - 1)
/* slot indices are below MAX_SLOTS */
#define MAX_SLOTS                                                              \
    ((uint32_t)(SLOT_MASK < UINT32_MAX - 1 ? SLOT_MASK : UINT32_MAX - 1))
#define SEQ_END (UINT64_C(1) << SIM_ENGINE_SEQ_BITS)
#define NO_SLOT UINT32_MAX
#define COMPACT_MIN 64 /* do not bother compacting smaller heaps */
#define HEAP_PAD 1     /* entry before index 0, to align sibling pairs */

typedef struct heap_ent {
    sim_time_t time;
    uint64_t key; /* seq << SLOT_BITS | slot */
} heap_ent_t;

typedef struct ev_slot {
    sim_event_fn fn; /* NULL while the slot is free */
    void *opaque;
    uint64_t arg;
    uint64_t key; /* key of the slot's live heap entry; 0 when free */
    uint32_t gen;
    uint32_t next_free; /* while free: the free list; while pending:
                           SLOT_DAEMON for a daemon event, else 0 */
} ev_slot_t;

#define SLOT_DAEMON 1u

struct sim {
    sim_time_t now;
    uint64_t seq; /* next sequence number, >= 1 */
    uint64_t run;
    heap_ent_t *heap; /* heap_mem + HEAP_PAD */
    void *heap_mem;
    size_t heap_n, heap_cap;
    ev_slot_t *slots;
    uint32_t nslots, slots_cap;
    uint32_t free_head;
    size_t live;    /* events pending */
    size_t daemons; /* of which daemon events */
    size_t held;    /* work that is not an event (sim_work_hold) */
    size_t stale;   /* heap entries whose event was cancelled */
    bool stop;
    bool past_limit; /* an event was asked for at or after SIM_TIME_LIMIT */
    sim_log_t *log;
};

static inline bool ent_less(const heap_ent_t *a, const heap_ent_t *b)
{
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    return (((u128)a->time << 64) | a->key) < (((u128)b->time << 64) | b->key);
#else
    return (a->time < b->time) | ((a->time == b->time) & (a->key < b->key));
#endif
}

/* Move entry e up from the hole at index i, not above index top. */
static inline void sift_up(heap_ent_t *h, size_t i, size_t top, heap_ent_t e)
{
    while (i > top) {
        size_t p = (i - 1) / 2;
        if (!ent_less(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

/*
 * Fill the hole at index i of a heap of n entries with e: walk the hole
 * down to a leaf along the smaller children, then sift e up from there
 * (e usually comes from the bottom, so it rarely rises far).
 */
__attribute__((always_inline)) static inline void
sift_down(heap_ent_t *h, size_t n, size_t i, heap_ent_t e)
{
    size_t top = i;

    for (;;) {
        size_t c = i * 2 + 1;
        if (c + 1 < n) {
            c += ent_less(&h[c + 1], &h[c]);
        } else if (c >= n) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    sift_up(h, i, top, e);
}

/* Remove the top entry of the heap. */
static inline void heap_pop(sim_t *sim)
{
    size_t n = --sim->heap_n;

    if (n > 0)
        sift_down(sim->heap, n, 0, sim->heap[n]);
}

static inline bool ent_live(const sim_t *sim, const heap_ent_t *e)
{
    return sim->slots[e->key & SLOT_MASK].key == e->key;
}

/* Rebuild the heap in place (Floyd's method). */
static void heapify(sim_t *sim)
{
    size_t n = sim->heap_n;

    if (n < 2)
        return;
    for (size_t i = (n - 2) / 2 + 1; i-- > 0;)
        sift_down(sim->heap, n, i, sim->heap[i]);
}

/* Drop every stale entry and rebuild the heap. */
static void heap_compact(sim_t *sim)
{
    size_t n = 0;

    for (size_t i = 0; i < sim->heap_n; i++)
        if (ent_live(sim, &sim->heap[i]))
            sim->heap[n++] = sim->heap[i];
    sim->heap_n = n;
    sim->stale = 0;
    heapify(sim);
}

static int ent_cmp(const void *a, const void *b)
{
    const heap_ent_t *x = a, *y = b;

    if (ent_less(x, y))
        return -1;
    return ent_less(y, x);
}

/*
 * The sequence numbers are used up: sort the live entries (a sorted array
 * is a heap) and number them again from 1, keeping their order.
 */
static void renumber(sim_t *sim)
{
    heap_compact(sim);
    qsort(sim->heap, sim->heap_n, sizeof(*sim->heap), ent_cmp);
    for (size_t i = 0; i < sim->heap_n; i++) {
        heap_ent_t *e = &sim->heap[i];
        uint64_t slot = e->key & SLOT_MASK;
        e->key = ((uint64_t)(i + 1) << SLOT_BITS) | slot;
        sim->slots[slot].key = e->key;
    }
    sim->seq = sim->heap_n + 1;
}

/* (Re)allocate heap storage for cap entries, aligned so that the two
 * children of any node share one 32-byte block. */
static int heap_alloc(sim_t *sim, size_t cap)
{
    size_t bytes = (cap + HEAP_PAD + 1) * sizeof(heap_ent_t);
    void *mem = aligned_alloc(64, (bytes + 63) / 64 * 64);

    if (!mem)
        return -ENOMEM;
    heap_ent_t *h = (heap_ent_t *)mem + HEAP_PAD;
    if (sim->heap_n)
        memcpy(h, sim->heap, sim->heap_n * sizeof(*h));
    free(sim->heap_mem);
    sim->heap_mem = mem;
    sim->heap = h;
    sim->heap_cap = cap;
    return 0;
}

sim_t *sim_create(sim_log_t *log)
{
    sim_t *sim = calloc(1, sizeof(*sim));

    if (!sim)
        return NULL;
    sim->log = log;
    sim->seq = 1;
    sim->free_head = NO_SLOT;
    sim->slots_cap = 64;
    sim->slots = malloc(sim->slots_cap * sizeof(*sim->slots));
    if (!sim->slots || heap_alloc(sim, 64) < 0) {
        sim_destroy(sim);
        return NULL;
    }
    return sim;
}

void sim_destroy(sim_t *sim)
{
    if (!sim)
        return;
    free(sim->heap_mem);
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
        if (sim->slots_cap >= MAX_SLOTS)
            return NO_SLOT;
        uint32_t cap =
            sim->slots_cap > MAX_SLOTS / 2 ? MAX_SLOTS : sim->slots_cap * 2;
        ev_slot_t *p = realloc(sim->slots, (size_t)cap * sizeof(*p));
        if (!p)
            return NO_SLOT;
        sim->slots = p;
        sim->slots_cap = cap;
    }
    s = sim->nslots++;
    sim->slots[s].gen = 0;
    sim->slots[s].key = 0;
    return s;
}

/* Return a slot to the free list; the new generation invalidates handles
 * and the cleared key makes its heap entry stale. */
static inline void slot_free(sim_t *sim, uint32_t s)
{
    ev_slot_t *e = &sim->slots[s];

    e->fn = NULL;
    e->key = 0;
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
    if (when >= SIM_TIME_LIMIT) {
        /* Refuse rather than wrap: the run stops with an error. */
        if (!sim->past_limit)
            sim_logf(sim->log, SIM_LOG_ERROR,
                     "simulated time would pass its limit of 2^62 ps (%.0f "
                     "s): an event was asked for at %" PRIu64
                     " ps; the run stops",
                     (double)SIM_TIME_LIMIT / (double)SIM_S, when);
        sim->past_limit = true;
        sim->stop = true;
        return 0;
    }
    if (sim->heap_n == sim->heap_cap && heap_alloc(sim, sim->heap_cap * 2) < 0)
        goto nomem;
    uint32_t s = slot_alloc(sim);
    if (s == NO_SLOT)
        goto nomem;
    if (sim->seq == SEQ_END)
        renumber(sim);
    ev_slot_t *e = &sim->slots[s];
    e->fn = fn;
    e->opaque = opaque;
    e->arg = arg;
    e->next_free = 0;
    e->key = (sim->seq++ << SLOT_BITS) | s;
    heap_ent_t h = {.time = when, .key = e->key};
    sift_up(sim->heap, sim->heap_n++, 0, h);
    sim->live++;
    return ((uint64_t)e->gen << 32) | ((uint64_t)s + 1);
nomem:
    sim_logf(sim->log, SIM_LOG_ERROR,
             "sim_schedule: out of memory (%zu events pending)", sim->live);
    return 0;
}

sim_event_id_t sim_schedule(sim_t *sim, sim_time_t delay, sim_event_fn fn,
                            void *opaque, uint64_t arg)
{
    return sim_schedule_at(sim, sim_time_add(sim->now, delay), fn, opaque, arg);
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
    if (sim->slots[s].next_free == SLOT_DAEMON)
        sim->daemons--;
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
        if (ent_live(sim, &sim->heap[0]))
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
    uint32_t s = (uint32_t)(top.key & SLOT_MASK);
    ev_slot_t *e = &sim->slots[s];
    sim_event_fn fn = e->fn;
    void *opaque = e->opaque;
    uint64_t arg = e->arg;

    if (e->next_free == SLOT_DAEMON)
        sim->daemons--;
    heap_pop(sim);
    slot_free(sim, s);
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
    if (sim->past_limit)
        return 0;
    /* Only daemon events left and no work held: the run is over (they
     * would only sample or load an idle model). */
    while ((sim->live > sim->daemons || sim->held > 0) && peek_live(sim)) {
        if (sim->heap[0].time > until) {
            if (until > sim->now)
                sim->now = until;
            break;
        }
        run_top(sim);
        n++;
        if (sim->stop || sim->past_limit)
            break;
    }
    sim->stop = false;
    return n;
}

bool sim_past_limit(const sim_t *sim)
{
    return sim->past_limit;
}

void sim_stop(sim_t *sim)
{
    sim->stop = true;
}

void sim_oom(sim_t *sim, const char *who)
{
    sim_logf(sim_log(sim), SIM_LOG_ERROR, "%s: out of memory", who);
    sim_stop(sim);
}

uint64_t sim_events_run(const sim_t *sim)
{
    return sim->run;
}

sim_event_id_t sim_schedule_daemon(sim_t *sim, sim_time_t delay,
                                   sim_event_fn fn, void *opaque, uint64_t arg)
{
    sim_event_id_t id = sim_schedule(sim, delay, fn, opaque, arg);
    if (id) {
        sim->slots[(id & 0xffffffffu) - 1].next_free = SLOT_DAEMON;
        sim->daemons++;
    }
    return id;
}

size_t sim_work_pending(const sim_t *sim)
{
    return sim->live - sim->daemons + sim->held;
}

void sim_work_hold(sim_t *sim)
{
    sim->held++;
}

void sim_work_unhold(sim_t *sim)
{
    if (sim->held > 0)
        sim->held--;
}

size_t sim_events_pending(const sim_t *sim)
{
    return sim->live;
}
