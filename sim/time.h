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

#endif /* SIM_TIME_H */
