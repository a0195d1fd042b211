/*
 * topology.c - the devices and VMs of the machine, from configuration
 * (see topology.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/platform/topology.h"

static const char *const device_sections[] = {"device", "link", NULL};
static const char *const vm_sections[] = {"vm", "ioasid", "vmm", "guest", NULL};

int platform_topology_register(sim_config_t *cfg)
{
    int rc = sim_config_class(cfg, "device", device_sections);
    return rc ? rc : sim_config_class(cfg, "vm", vm_sections);
}

void platform_topology_fini(platform_topo_t *t)
{
    free(t->devs);
    free(t->vms);
    *t = (platform_topo_t){0};
}

int platform_topology_find(const platform_topo_t *t, const char *name)
{
    for (unsigned i = 0; i < t->ndevs; i++)
        if (!strcmp(t->devs[i].name, name))
            return (int)i;
    return -1;
}

/* Did instance i of cls set key (its full name CLASS.NAME.KEY)? */
static bool inst_sets(const sim_config_t *cfg, const char *cls, size_t i,
                      const char *key)
{
    char full[3 * SIM_PARAM_STR_MAX], where[8];
    snprintf(full, sizeof(full), "%s.%s.%s", cls,
             sim_config_instance(cfg, cls, i), key);
    return sim_config_where(cfg, full, where, sizeof(where)) > 0;
}

/* One class of devices: `count` devices named cls0, cls1, ...; the RIDs
 * follow rid_base + their index in the machine unless the class sets its
 * own rid_base (then rid_base + its index in the class). */
static int add_class(platform_topo_t *t, const char *cls, const char *section,
                     const pcie_dev_cfg_t *dc, const pcie_link_cfg_t *lc,
                     uint64_t count, uint64_t rid_base, bool own_base,
                     sim_log_t *log)
{
    char err[256], lsec[SIM_PARAM_STR_MAX + 16];
    pcie_link_cfg_t link = *lc;
    snprintf(lsec, sizeof(lsec), "%s%slink", section ? section : "",
             section ? "." : "");
    if (pcie_link_cfg_resolve(&link, lsec, err, sizeof(err))) {
        sim_logf(log, SIM_LOG_ERROR, "%s", err);
        return -EINVAL;
    }
    if (pcie_dev_cfg_check(dc, section ? section : "device", log))
        return -EINVAL;
    if (t->ndevs + count > PLATFORM_MAX_DEVICES) {
        sim_logf(log, SIM_LOG_ERROR,
                 "%s.count = %" PRIu64 " makes more than %d devices in all",
                 section ? section : "device", count, PLATFORM_MAX_DEVICES);
        return -EINVAL;
    }
    for (uint64_t j = 0; j < count; j++) {
        platform_device_t *d = &t->devs[t->ndevs];
        /* At most 0xff00 + 255: rid_base's range and the number of
         * devices keep every RID in 16 bits. */
        uint64_t rid = rid_base + (own_base ? j : t->ndevs);
        for (unsigned k = 0; k < t->ndevs; k++)
            if (t->devs[k].rid == rid) {
                sim_logf(log, SIM_LOG_ERROR,
                         "%s.rid_base = 0x%" PRIx64 ": device %s%" PRIu64
                         " would have the RID 0x%04" PRIx64 " of device %s",
                         own_base ? section : "device", rid_base, cls, j, rid,
                         t->devs[k].name);
                return -EINVAL;
            }
        *d = (platform_device_t){.dev = *dc, .link = link, .vm = -1};
        d->rid = (uint16_t)rid;
        d->dev.count = 1;
        snprintf(d->cls, sizeof(d->cls), "%s", cls);
        snprintf(d->name, sizeof(d->name), "%s%" PRIu64, cls, j);
        if (platform_topology_find(t, d->name) >= 0) {
            sim_logf(log, SIM_LOG_ERROR,
                     "[%s]: device name %s is taken by another class",
                     section ? section : "device", d->name);
            return -EINVAL;
        }
        t->ndevs++;
    }
    return 0;
}

static int resolve_devices(const platform_cfg_t *pc, platform_topo_t *t,
                           sim_log_t *log)
{
    const sim_config_t *cfg = pc->config;
    size_t n = cfg ? sim_config_instances(cfg, "device") : 0;
    t->classes = n > 0;
    if (!n)
        return add_class(t, "dev", NULL, &pc->dev, &pc->link, pc->dev.count,
                         pc->dev.rid_base, false, log);
    for (size_t i = 0; i < n; i++) {
        const char *name = sim_config_instance(cfg, "device", i);
        char section[SIM_PARAM_STR_MAX + 8];
        snprintf(section, sizeof(section), "device.%s", name);
        pcie_dev_cfg_t dc = pc->dev;
        pcie_link_cfg_t lc = pc->link;
        sim_config_apply(cfg, "device", i, "device", &dc);
        sim_config_apply(cfg, "device", i, "link", &lc);
        /* count is the one key a class does not inherit: one device
         * unless it says how many. */
        uint64_t count = inst_sets(cfg, "device", i, "count") ? dc.count : 1;
        bool own_base = inst_sets(cfg, "device", i, "rid_base");
        int rc =
            add_class(t, name, section, &dc, &lc, count,
                      own_base ? dc.rid_base : pc->dev.rid_base, own_base, log);
        if (rc)
            return rc;
    }
    return 0;
}

/* The key that lists VM v's devices, for messages. */
static void devices_key(const platform_vm_t *v, char *b, size_t n)
{
    if (v->name[0])
        snprintf(b, n, "vm.%s.devices", v->name);
    else
        snprintf(b, n, "vm.devices");
}

/* Assign device d to VM vi. */
static int assign(platform_topo_t *t, unsigned vi, unsigned d, sim_log_t *log)
{
    platform_vm_t *v = &t->vms[vi];
    platform_device_t *dev = &t->devs[d];
    char k1[SIM_PARAM_STR_MAX + 16], k2[SIM_PARAM_STR_MAX + 16];
    if (dev->vm == (int)vi)
        return 0; /* listed twice by one VM: once */
    if (dev->vm >= 0) {
        devices_key(&t->vms[dev->vm], k1, sizeof(k1));
        devices_key(v, k2, sizeof(k2));
        sim_logf(log, SIM_LOG_ERROR,
                 "%s = %s: device %s is already assigned by %s = %s (a "
                 "device belongs to one VM at most)",
                 k2, v->virt.devices, dev->name, k1,
                 t->vms[dev->vm].virt.devices);
        return -EINVAL;
    }
    dev->vm = (int)vi;
    dev->vm_index = v->ndevs++;
    return 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Read VM vi's list of devices: names and classes separated by commas or
 * spaces, or one number N (the first N devices). */
static int assign_list(platform_topo_t *t, unsigned vi, sim_log_t *log)
{
    platform_vm_t *v = &t->vms[vi];
    char list[SIM_PARAM_STR_MAX], key[SIM_PARAM_STR_MAX + 16];
    snprintf(list, sizeof(list), "%s", v->virt.devices);
    devices_key(v, key, sizeof(key));
    char *save = NULL, *tok = strtok_r(list, ", \t", &save);
    if (tok && all_digits(tok) && !strtok_r(NULL, ", \t", &save)) {
        unsigned long long n = strtoull(tok, NULL, 10);
        if (n > t->ndevs) {
            if (v->name[0] || t->classes)
                sim_logf(log, SIM_LOG_ERROR,
                         "%s = %s is more than the %u devices", key, tok,
                         t->ndevs);
            else
                sim_logf(log, SIM_LOG_ERROR,
                         "vm.devices = %llu is more than device.count = %u", n,
                         t->ndevs);
            return -EINVAL;
        }
        for (unsigned d = 0; d < n; d++)
            if (assign(t, vi, d, log))
                return -EINVAL;
        return 0;
    }
    for (; tok; tok = strtok_r(NULL, ", \t", &save)) {
        int d = platform_topology_find(t, tok);
        bool found = d >= 0;
        if (found && assign(t, vi, (unsigned)d, log))
            return -EINVAL;
        for (unsigned k = 0; k < t->ndevs && !found; k++)
            if (!strcmp(t->devs[k].cls, tok))
                for (unsigned j = k; j < t->ndevs; j++) {
                    if (strcmp(t->devs[j].cls, tok))
                        continue;
                    if (assign(t, vi, j, log))
                        return -EINVAL;
                    found = true;
                }
        if (!found) {
            sim_logf(log, SIM_LOG_ERROR,
                     "%s = %s: no device or device class '%s' (devices are "
                     "%s ... %s)",
                     key, v->virt.devices, tok, t->devs[0].name,
                     t->devs[t->ndevs - 1].name);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_vm(const platform_vm_t *v, sim_log_t *log)
{
    char key[SIM_PARAM_STR_MAX + 16];
    snprintf(key, sizeof(key), "vm%s%s.memory", v->name[0] ? "." : "", v->name);
    if (v->virt.memory & (IOMMU_PAGE_SIZE - 1)) {
        sim_logf(log, SIM_LOG_ERROR,
                 "%s = %" PRIu64 " must be a multiple of 4096", key,
                 v->virt.memory);
        return -EINVAL;
    }
    if (!v->ndevs && v->name[0]) {
        sim_logf(log, SIM_LOG_ERROR,
                 "vm.%s.devices = %s: a VM needs at least one device", v->name,
                 v->virt.devices[0] ? v->virt.devices : "\"\"");
        return -EINVAL;
    }
    return 0;
}

static int resolve_vms(const platform_cfg_t *pc, platform_topo_t *t,
                       sim_log_t *log)
{
    const sim_config_t *cfg = pc->config;
    size_t n = cfg ? sim_config_instances(cfg, "vm") : 0;
    if (!n) {
        const char *d = pc->virt.devices;
        if (!d[strspn(d, ", \t0")]) /* empty, or "0": no VM */
            return check_vm(&(platform_vm_t){.virt = pc->virt}, log);
        t->vms[0] = (platform_vm_t){.virt = pc->virt};
        t->nvms = 1;
    }
    for (size_t i = 0; i < n; i++) {
        platform_vm_t *v = &t->vms[t->nvms++];
        *v = (platform_vm_t){.virt = pc->virt};
        snprintf(v->name, sizeof(v->name), "%s",
                 sim_config_instance(cfg, "vm", i));
        for (const char *const *s = vm_sections; *s; s++)
            sim_config_apply(cfg, "vm", i, *s, &v->virt);
    }
    for (unsigned i = 0; i < t->nvms; i++)
        if (assign_list(t, i, log) || check_vm(&t->vms[i], log))
            return -EINVAL;
    return 0;
}

int platform_topology(const platform_cfg_t *pc, platform_topo_t *t,
                      sim_log_t *log)
{
    size_t nvms = pc->config ? sim_config_instances(pc->config, "vm") : 0;
    *t = (platform_topo_t){0};
    t->devs = calloc(PLATFORM_MAX_DEVICES, sizeof(*t->devs));
    t->vms = calloc(nvms ? nvms : 1, sizeof(*t->vms));
    if (!t->devs || !t->vms) {
        platform_topology_fini(t);
        sim_logf(log, SIM_LOG_ERROR, "out of memory");
        return -ENOMEM;
    }
    if (resolve_devices(pc, t, log) || resolve_vms(pc, t, log)) {
        platform_topology_fini(t);
        return -EINVAL;
    }
    return 0;
}
