/*
 * tools/platform/machine.h - the machine assembled from configuration:
 * devices with their links behind a root complex, the IOMMU, the host
 * driver and, if configured, a VM. Parameter registration, checks between
 * parameters, creation and the accessors tools and tests use.
 */
#ifndef TOOLS_PLATFORM_MACHINE_H
#define TOOLS_PLATFORM_MACHINE_H

#include "tools/platform/types.h"

/* Register every parameter table of the platform into cfg (values live in
 * pc). Returns 0 or -EINVAL. */
int platform_register(sim_config_t *cfg, platform_cfg_t *pc);

/* Check constraints between parameters and the machine they describe
 * (platform_topology: device classes, VMs and their devices; logged
 * naming the keys); returns 0 or -EINVAL. */
int platform_check(const platform_cfg_t *pc, sim_log_t *log);

/* Build the machine from a configuration that passed platform_check.
 * Returns NULL on failure (logged). */
platform_t *platform_create(const platform_cfg_t *pc, sim_log_t *log);

/* Free the machine and everything it built (NULL is allowed); an output
 * opened by platform_open_outputs and not completed leaves no file. */
void platform_destroy(platform_t *p);

/* The engine, the statistics, the IOMMU and device `index` (NULL past the
 * last device), for tests and tools. */
sim_t *platform_sim(platform_t *p);
sim_stats_t *platform_stats(platform_t *p);
iommu_t *platform_iommu(platform_t *p);
pcie_dev_t *platform_device(platform_t *p, unsigned index);

/* The index of the device called `name` ("nic0", "dev1"), or -1; the
 * signature of a trace reader's device lookup (trace_set_dev_lookup), with
 * the platform as opaque. */
int platform_device_lookup(void *platform, const char *name);

#endif
