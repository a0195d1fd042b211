/*
 * sim/engine.h - the discrete-event engine: scheduling, cancelling and
 * running events, in (time, insertion sequence) order.
 */
#ifndef SIM_ENGINE_H
#define SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/log.h"
#include "sim/time.h"

typedef struct sim sim_t;

/* An event handler: runs at the event's time with the two words it was given.
 */
typedef void (*sim_event_fn)(sim_t *sim, void *opaque, uint64_t arg);

/* Handle of a scheduled event, for cancellation. 0 is never a valid handle. */
typedef uint64_t sim_event_id_t;

/*
 * Create an engine. Events are ordered by (time, insertion sequence), so runs
 * are deterministic. Event records come from an internal pool that only grows
 * while the number in flight reaches a new maximum; the steady state
 * allocates nothing. Returns NULL on allocation failure.
 */
sim_t *sim_create(sim_log_t *log);
/* Free an engine and its pending events (their handlers do not run).
 * NULL is ignored. */
void sim_destroy(sim_t *sim);

/* The log given at creation. */
sim_log_t *sim_log(sim_t *sim);

/* Current simulated time. */
sim_time_t sim_now(const sim_t *sim);

/* Schedule fn(opaque, arg) at now + delay (the sum saturates). Returns its
 * handle, or 0 on allocation failure or past the time limit (both logged). */
sim_event_id_t sim_schedule(sim_t *sim, sim_time_t delay, sim_event_fn fn,
                            void *opaque, uint64_t arg);

/*
 * Schedule at an absolute time (a time in the past is treated as now). A
 * time at or after SIM_TIME_LIMIT (sim/time.h) is refused: the engine logs
 * an error once, returns 0 and stops the run; sim_run runs nothing more
 * (sim_past_limit says so), so simulated time never wraps.
 */
sim_event_id_t sim_schedule_at(sim_t *sim, sim_time_t when, sim_event_fn fn,
                               void *opaque, uint64_t arg);

/* Cancel a scheduled event. Returns true if it was pending and is now
 * cancelled, false if it already ran, was cancelled, or is unknown. */
bool sim_cancel(sim_t *sim, sim_event_id_t id);

/* Run the next event. Returns false if none is pending. */
bool sim_step(sim_t *sim);

/*
 * Run events in order until no work is pending (sim_work_pending: only
 * daemon events are left and no work is held), sim_stop() is called, or the
 * next event would be later than `until` (then time advances to `until`). Pass
 * SIM_TIME_MAX to run to completion. Returns the number of events run.
 */
uint64_t sim_run(sim_t *sim, sim_time_t until);

/* Whether an event was refused for being at or after SIM_TIME_LIMIT. */
bool sim_past_limit(const sim_t *sim);

/* Ask sim_run to return after the current event. */
void sim_stop(sim_t *sim);

/*
 * Schedule a daemon event: a periodic sampler or a background load
 * generator, which must not keep a run alive by itself. It runs like any
 * event, but sim_work_pending() does not count it: a daemon reschedules
 * itself only while sim_work_pending() > 0.
 */
sim_event_id_t sim_schedule_daemon(sim_t *sim, sim_time_t delay,
                                   sim_event_fn fn, void *opaque, uint64_t arg);
/*
 * Pending work: events that are not daemons, plus work that is not an
 * event but will be served by one (sim_work_hold), such as a real job
 * waiting in a server's queue behind background work whose completions
 * are daemon events.
 */
size_t sim_work_pending(const sim_t *sim);

/*
 * Count one piece of held work as pending (sim_work_hold) until
 * sim_work_unhold: while any is held, sim_run goes on running daemon
 * events, and daemons that reschedule while sim_work_pending() > 0 keep
 * going. Used by sim/server.c for a real job queued behind daemon work.
 */
void sim_work_hold(sim_t *sim);
void sim_work_unhold(sim_t *sim);

/* Events run so far, and events now pending (cancelled ones excluded). */
uint64_t sim_events_run(const sim_t *sim);
size_t sim_events_pending(const sim_t *sim);

/* An object passed through an event's `arg` word, and back. */
static inline uint64_t sim_ptr_arg(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}
static inline void *sim_arg_ptr(uint64_t arg)
{
    return (void *)(uintptr_t)arg;
}

/*
 * Out of memory inside the model: log "<who>: out of memory" as an error
 * and stop the run (sim_run returns after the current event). The one way
 * a model module reports an allocation failure on an event path.
 */
void sim_oom(sim_t *sim, const char *who);

#endif /* SIM_ENGINE_H */
