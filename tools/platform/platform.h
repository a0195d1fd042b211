/*
 * tools/platform/platform.h - the simulated machine assembled from
 * configuration: devices with their links behind a root complex, the
 * IOMMU, the host driver and address spaces; trace records are read from
 * one or more sources and handed to them in time order. Used by the
 * iommu-sim CLI, the benchmarks and the tests.
 *
 * The public header of the iommusim_platform library: it only gathers the
 * headers of its units (no unit of tools/platform includes it).
 *   types.h    configuration, record sources, run statuses, summary
 *   stages.h   the ordered list of fault stages
 *   machine.h  parameters, checks, create/destroy, accessors
 *   replay.h   platform_run: records merged by time, applied to the model
 *   output.h   summary, stats.txt/json, latency.txt, timeseries.csv
 */
#ifndef TOOLS_PLATFORM_PLATFORM_H
#define TOOLS_PLATFORM_PLATFORM_H

#include "tools/platform/machine.h"
#include "tools/platform/output.h"
#include "tools/platform/replay.h"
#include "tools/platform/stages.h"
#include "tools/platform/types.h"

#endif
