/*
 * sim/rng.h - seeded random number streams, one per component.
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdint.h>

/* xoshiro256** stream. */
typedef struct sim_rng {
    uint64_t s[4];
} sim_rng_t;

/*
 * Seed a stream from the run seed and a stream name (the component's name),
 * so that adding a component never changes another component's draws.
 */
void sim_rng_seed(sim_rng_t *rng, uint64_t seed, const char *stream);
/* The next 64 random bits of the stream. */
uint64_t sim_rng_u64(sim_rng_t *rng);
/* Uniform in [0, 1). */
double sim_rng_double(sim_rng_t *rng);
/* Uniform integer in [0, n) (n > 0), without modulo bias. */
uint64_t sim_rng_below(sim_rng_t *rng, uint64_t n);

#endif /* SIM_RNG_H */
