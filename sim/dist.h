/*
 * sim/dist.h - delay distributions: parse, format, draw, mean.
 */
#ifndef SIM_DIST_H
#define SIM_DIST_H

#include <stddef.h>

#include "sim/rng.h"
#include "sim/time.h"

typedef enum {
    SIM_DIST_FIXED = 0, /* a */
    SIM_DIST_UNIFORM,   /* [a, b] */
    SIM_DIST_EXP,       /* mean a */
    SIM_DIST_LOGNORMAL, /* median a, sigma b */
    SIM_DIST_MIX,       /* weighted mixture of up to SIM_DIST_MIX_MAX parts */
} sim_dist_kind_t;

#define SIM_DIST_MIX_MAX 4

/* One simple (non-mixture) part: values in picoseconds. */
typedef struct sim_dist_part {
    sim_dist_kind_t kind;
    double a, b;
    double weight; /* mixture weight, normalised to sum 1 */
} sim_dist_part_t;

/* A delay distribution. Values are in picoseconds. */
typedef struct sim_dist {
    sim_dist_kind_t kind;
    unsigned nparts; /* 1 for simple kinds */
    sim_dist_part_t part[SIM_DIST_MIX_MAX];
} sim_dist_t;

/* A fixed delay. */
sim_dist_t sim_dist_fixed(sim_time_t t);

/*
 * Parse a distribution written in nanoseconds (fractions allowed) or with a
 * unit suffix (ps, ns, us, ms) on each number:
 *   "250"  "250ns"  "fixed(250)"  "uniform(100, 300)"  "exp(5us)"
 *   "lognormal(3000, 0.4)" (median, sigma; sigma has no unit)
 *   "mix(0.97: lognormal(2us, 0.4), 0.03: uniform(10us, 100us))"
 * Returns 0, or -EINVAL with a message of what is wrong in err.
 */
int sim_dist_parse(const char *text, sim_dist_t *out, char *err, size_t errlen);

/* Write the canonical text of a distribution (in ns) into buf. */
void sim_dist_format(const sim_dist_t *d, char *buf, size_t len);

/* Draw a value in ps (never negative; rounded to the nearest ps; at most
 * SIM_DELAY_MAX: a draw above it, from a long lognormal or exponential
 * tail, is clamped to it). Parsing rejects a time above SIM_DELAY_MAX. */
sim_time_t sim_dist_draw(const sim_dist_t *d, sim_rng_t *rng);

/* Mean of the distribution in ps. */
double sim_dist_mean(const sim_dist_t *d);

#endif /* SIM_DIST_H */
