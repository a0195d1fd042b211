/*
 * tools/platform/topology.h - the machine's devices and VMs, resolved from
 * configuration: device classes ([device.NAME], each inheriting [device]
 * and [link]) expanded into named devices with their RIDs, and VMs
 * ([vm.NAME], each inheriting [vm], [ioasid], [vmm] and [guest]) with the
 * devices assigned to them. Without [device.NAME] sections the devices are
 * [device] count devices named dev0, dev1, ...; without [vm.NAME]
 * sections, vm.devices (if not empty) makes one VM.
 */
#ifndef TOOLS_PLATFORM_TOPOLOGY_H
#define TOOLS_PLATFORM_TOPOLOGY_H

#include "tools/platform/types.h"

/* Devices in all, at most (the range of device.count). */
#define PLATFORM_MAX_DEVICES 256

typedef struct platform_device {
    char name[SIM_PARAM_STR_MAX + 8]; /* "nic0" */
    char cls[SIM_PARAM_STR_MAX];      /* its class: "nic" ("dev": none) */
    pcie_dev_cfg_t dev;               /* its configuration */
    pcie_link_cfg_t link;             /* its link's (preset resolved) */
    uint16_t rid;
    int vm;            /* the VM it is assigned to (index), -1: native */
    unsigned vm_index; /* its index among that VM's devices */
} platform_device_t;

typedef struct platform_vm {
    char name[SIM_PARAM_STR_MAX]; /* "a" of [vm.a]; "" for the [vm] VM */
    ioasid_virt_cfg_t virt;
    unsigned ndevs; /* devices assigned to it */
} platform_vm_t;

typedef struct platform_topo {
    platform_device_t *devs;
    unsigned ndevs;
    platform_vm_t *vms;
    unsigned nvms;
    bool classes; /* devices come from [device.NAME] sections */
} platform_topo_t;

/* The classes the platform declares ([device.NAME], [vm.NAME]); called by
 * platform_register. Returns 0 or -EINVAL. */
int platform_topology_register(sim_config_t *cfg);

/*
 * Resolve the devices and VMs of pc (whose instances are those of
 * pc->config, if not NULL) into t. An error (a constraint between keys, a
 * device in two VMs, a VM with no device, an unknown device name, RIDs
 * that collide, too many devices) is logged naming the
 * keys, and -EINVAL returned (-ENOMEM for memory); t is then empty.
 */
int platform_topology(const platform_cfg_t *pc, platform_topo_t *t,
                      sim_log_t *log);
void platform_topology_fini(platform_topo_t *t);

/* The index of the device called `name` ("nic0"), or -1. */
int platform_topology_find(const platform_topo_t *t, const char *name);

#endif
