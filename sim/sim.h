/*
 * sim/sim.h - public interface of simcore: time, the discrete-event engine,
 * object pools, seeded RNG streams, delay distributions, the `server`
 * resource primitive, the statistics registry, the parameter/config system
 * and the log.
 *
 * This is the umbrella header other folders include; each unit of simcore
 * has its own header (sim/engine.h, sim/stats.h, ...) and the units
 * include only those, never this one.
 *
 * Conventions: every function returns 0 or a negative errno-style code on
 * failure and reports the reason through the log; none exits or prints to
 * stdout. There are no mutable globals: every object is created and
 * destroyed explicitly.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/afile.h"
#include "sim/config.h"
#include "sim/dist.h"
#include "sim/engine.h"
#include "sim/log.h"
#include "sim/pool.h"
#include "sim/rng.h"
#include "sim/series.h"
#include "sim/server.h"
#include "sim/span.h"
#include "sim/stats.h"
#include "sim/time.h"

#endif /* SIM_SIM_H */
