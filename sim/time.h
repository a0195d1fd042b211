/*
 * sim/time.h - simulated time: picoseconds on one global clock, and its units.
 */
#ifndef SIM_TIME_H
#define SIM_TIME_H

#include <stdint.h>

/* Simulated time in picoseconds, one global clock. */
typedef uint64_t sim_time_t;

#define SIM_PS ((sim_time_t)1)
#define SIM_NS ((sim_time_t)1000)
#define SIM_US ((sim_time_t)1000000)
#define SIM_MS ((sim_time_t)1000000000)
#define SIM_S ((sim_time_t)1000000000000ull)
#define SIM_TIME_MAX UINT64_MAX

/*
 * The largest single delay a model is given: a time parameter or a value of
 * a delay distribution (sim/dist.h clamps draws to it; sim/config.c rejects
 * larger values). 1000 s: sums of thousands of them stay below
 * SIM_TIME_LIMIT.
 */
#define SIM_DELAY_MAX (1000 * SIM_S)

/*
 * The engine schedules nothing at or after this time (2^62 ps, about 53
 * days of simulated time): a run that would get there stops with an error
 * (sim/engine.h, sim_schedule_at) instead of wrapping around 2^64.
 */
#define SIM_TIME_LIMIT ((sim_time_t)1 << 62)

/* a + b, saturating at SIM_TIME_MAX instead of wrapping: every sum of
 * drawn or configured delays goes through it. */
static inline sim_time_t sim_time_add(sim_time_t a, sim_time_t b)
{
    sim_time_t s = a + b;
    return s < a ? SIM_TIME_MAX : s;
}

#endif /* SIM_TIME_H */
