/*
 * tools/platform/replay.h - the replay of trace records: the sources are
 * merged by time and each record is applied to its device, to the host
 * (native SVA) or to the VM that owns the device.
 */
#ifndef TOOLS_PLATFORM_REPLAY_H
#define TOOLS_PLATFORM_REPLAY_H

#include <signal.h>

#include "tools/platform/types.h"

/*
 * Replay the sources, merged by time (ties: in source order, then record
 * order), and run the simulation until every DMA is done (or run.max_time).
 * An input error (bad record, unknown device or PASID, address beyond the
 * table's width, overlapping map) stops the run with PLATFORM_INPUT_ERROR,
 * logged as "FILE:LINE: what is wrong"; an error of the model (out of
 * memory, an error logged during the run) gives PLATFORM_SIM_ERROR; an
 * interruption (platform_set_interrupt) gives PLATFORM_INTERRUPTED.
 * Returns PLATFORM_OK otherwise.
 */
int platform_run(platform_t *p, platform_source_t *srcs, unsigned nsrcs);

/*
 * Let platform_run stop early: while *flag is nonzero (a signal handler
 * sets it) the run stops within a few thousand events, leaving the
 * events still scheduled unrun, and returns PLATFORM_INTERRUPTED. NULL
 * (the default) never stops it.
 */
void platform_set_interrupt(platform_t *p, const volatile sig_atomic_t *flag);

/* Free the replay's state left by a run that ended with detaches in
 * progress (platform_destroy calls it). */
void platform_replay_fini(platform_t *p);

#endif
