/*
 * tests/tools/test_topology.c - machines that are not all alike (issue
 * 12): device classes ([device.NAME]) inheriting [device] and [link],
 * VMs ([vm.NAME]) with the devices assigned to them, device names in
 * traces, and two VMs contending on the one IOMMU and host driver while
 * each keeps its own VMM thread and guest.
 *
 * The inheritance rules are this project's (docs/configuration.md,
 * "Device classes and VMs"); the contention is Linux's: one PRQ handler
 * thread per IOMMU (drivers/iommu/intel/prq.c: intel_iommu_enable_prq
 * requests one threaded IRQ, prq_event_thread), shared by every device
 * behind it whoever owns it, while each VMM reads its own /dev/ioasid
 * FAULT object (drivers/iommu/iommufd/fault.c: one fault queue per
 * object, read by the VMM that opened it).
 */
#include <check.h>
#include <string.h>

#include "tests/check_run.h"
#include "tests/platform_fixture.h"
#include "tools/platform/topology.h"

#define VA 0x7f0000000000ull

/* A configuration from INI text and --set lines, resolved into t; the
 * status of platform_check; the last error (with the sources of its keys,
 * as the CLI reports it) in err. */
typedef struct topo_fx {
    sim_log_t log, cap;
    sim_config_t *cfg;
    platform_cfg_t pc;
    platform_topo_t t;
    char err[1024];
} topo_fx_t;

static topo_fx_t *topo_new(const char *ini, const char *const *sets)
{
    topo_fx_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    sim_log_init(&f->log, SIM_LOG_ERROR, NULL, NULL);
    f->cfg = sim_config_create(&f->log);
    ck_assert_int_eq(platform_register(f->cfg, &f->pc), 0);
    if (ini)
        ck_assert_msg(sim_config_load_string(f->cfg, "t.ini", ini) == 0, "%s",
                      sim_log_last_error(&f->log));
    for (unsigned i = 0; sets && sets[i]; i++)
        ck_assert_msg(sim_config_set(f->cfg, sets[i]) == 0, "%s: %s", sets[i],
                      sim_log_last_error(&f->log));
    return f;
}

/* Resolve: 0, or -EINVAL with f->err the reported message. */
static int topo_resolve(topo_fx_t *f)
{
    sim_log_init(&f->cap, SIM_LOG_ERROR, NULL, NULL);
    int rc = platform_topology(&f->pc, &f->t, &f->cap);
    if (rc) {
        sim_log_t rep;
        sim_log_init(&rep, SIM_LOG_ERROR, NULL, NULL);
        sim_config_report(f->cfg, &rep, sim_log_last_error(&f->cap));
        snprintf(f->err, sizeof(f->err), "%s", sim_log_last_error(&rep));
    }
    return rc;
}

static void topo_free(topo_fx_t *f)
{
    platform_topology_fini(&f->t);
    sim_config_destroy(f->cfg);
    free(f);
}

static const platform_device_t *dev_named(topo_fx_t *f, const char *name)
{
    int i = platform_topology_find(&f->t, name);
    ck_assert_msg(i >= 0, "no device %s", name);
    return &f->t.devs[i];
}

static void err_is(topo_fx_t *f, const char *want)
{
    ck_assert_int_eq(topo_resolve(f), -EINVAL);
    ck_assert_msg(!strcmp(f->err, want), "error\n  %s\nexpected\n  %s", f->err,
                  want);
}

/* ----------------------------------------------------------- devices */

/* Without classes: device.count devices dev0.., RIDs rid_base + i. */
START_TEST(test_no_classes)
{
    topo_fx_t *f = topo_new(NULL, (const char *[]){"device.count=3",
                                                   "device.rid_base=0x200",
                                                   "device.tags=7", NULL});
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(f->t.ndevs, 3);
    ck_assert_uint_eq(f->t.nvms, 0);
    for (unsigned i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "dev%u", i);
        ck_assert_str_eq(f->t.devs[i].name, name);
        ck_assert_uint_eq(f->t.devs[i].rid, 0x200 + i);
        ck_assert_uint_eq(f->t.devs[i].dev.tags, 7);
        ck_assert_int_eq(f->t.devs[i].vm, -1);
    }
    topo_free(f);
}
END_TEST

/* A class inherits every [device] and [link] key it does not set; what it
 * sets wins whatever the order; count is not inherited (one device). */
START_TEST(test_inheritance)
{
    const char *ini = "[device]\n"
                      "tags = 16\n"
                      "count = 4\n"
                      "atc_entries = 32\n"
                      "[device.nic]\n"
                      "count = 2\n"
                      "tags = 64\n"
                      "[device.gpu]\n"
                      "atc_entries = 128\n"
                      "link.preset = gen5x16\n";
    /* A later --set of the class key does not reach an instance that sets
     * it; an instance key set later replaces the earlier one. */
    topo_fx_t *f = topo_new(ini, (const char *[]){"device.tags=8",
                                                  "device.pri_capacity=99",
                                                  "device.gpu.tags=40", NULL});
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(f->t.ndevs, 3);
    ck_assert_str_eq(f->t.devs[0].name, "nic0");
    ck_assert_str_eq(f->t.devs[1].name, "nic1");
    ck_assert_str_eq(f->t.devs[2].name, "gpu0");
    const platform_device_t *nic = dev_named(f, "nic1"),
                            *gpu = dev_named(f, "gpu0");
    ck_assert_uint_eq(nic->dev.tags, 64);        /* the instance's */
    ck_assert_uint_eq(gpu->dev.tags, 40);        /* --set device.gpu.tags */
    ck_assert_uint_eq(nic->dev.atc_entries, 32); /* inherited */
    ck_assert_uint_eq(gpu->dev.atc_entries, 128);
    ck_assert_uint_eq(nic->dev.pri_capacity, 99); /* --set of the class */
    ck_assert_uint_eq(gpu->dev.pri_capacity, 99);
    /* Each device's own link: the preset resolved per device. */
    ck_assert_uint_eq(gpu->link.gen, 5);
    ck_assert_uint_eq(gpu->link.lanes, 16);
    ck_assert_uint_eq(nic->link.gen, f->pc.link.gen);
    ck_assert_uint_eq(nic->link.lanes, f->pc.link.lanes);
    /* RIDs follow the machine's order from device.rid_base. */
    for (unsigned i = 0; i < 3; i++)
        ck_assert_uint_eq(f->t.devs[i].rid, f->pc.dev.rid_base + i);
    ck_assert_str_eq(f->t.devs[2].cls, "gpu");
    topo_free(f);
}
END_TEST

/* The resolved configuration dumps the instances with what they set and
 * reads back to the same machine. */
START_TEST(test_dump_round_trip)
{
    topo_fx_t *f = topo_new(NULL, (const char *[]){"device.nic.count=2",
                                                   "device.nic.link.lanes=4",
                                                   "vm.a.devices=nic1",
                                                   "vm.a.guest.vcpus=3", NULL});
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_config_dump(f->cfg, m), 0);
    fclose(m);
    ck_assert_ptr_nonnull(
        strstr(buf, "\n[device.nic]\ncount = 2\nlink.lanes = 4\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "\n[vm.a]\ndevices = nic1\nguest.vcpus = 3\n"));
    topo_fx_t *g = topo_new(buf, NULL);
    ck_assert_int_eq(topo_resolve(g), 0);
    ck_assert_uint_eq(g->t.ndevs, 2);
    ck_assert_uint_eq(g->t.devs[1].link.lanes, 4);
    ck_assert_uint_eq(g->t.nvms, 1);
    ck_assert_uint_eq(g->t.vms[0].virt.vcpus, 3);
    ck_assert_int_eq(g->t.devs[1].vm, 0);
    ck_assert_int_eq(g->t.devs[0].vm, -1);
    free(buf);
    topo_free(g);
    topo_free(f);
}
END_TEST

/* A class with its own rid_base numbers its devices from it; RIDs that
 * collide or pass 0xffff are errors naming where the key was set. */
START_TEST(test_rids)
{
    topo_fx_t *f = topo_new(NULL, (const char *[]){"device.nic.count=2",
                                                   "device.gpu.rid_base=0x300",
                                                   "device.gpu.count=2", NULL});
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(dev_named(f, "nic1")->rid, 0x101);
    ck_assert_uint_eq(dev_named(f, "gpu0")->rid, 0x300);
    ck_assert_uint_eq(dev_named(f, "gpu1")->rid, 0x301);
    topo_free(f);

    f = topo_new("[device.nic]\ncount = 2\n[device.gpu]\nrid_base = 0x101\n",
                 NULL);
    err_is(f, "t.ini:4: device.gpu.rid_base = 0x101: device gpu0 would have "
              "the RID 0x0101 of device nic1");
    topo_free(f);
    /* The highest RIDs the ranges allow still fit in 16 bits. */
    f = topo_new(NULL, (const char *[]){"device.gpu.rid_base=0xff00",
                                        "device.gpu.count=256", NULL});
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(dev_named(f, "gpu255")->rid, 0xffff);
    topo_free(f);
}
END_TEST

/* Constraints between keys are checked per class and name its keys. */
START_TEST(test_class_errors)
{
    topo_fx_t *f = topo_new("[device.nic]\natc_ways = 3\n", NULL);
    err_is(f, "t.ini:2: device.nic.atc_ways = 3 must divide "
              "device.nic.atc_entries = 64 (device.nic.atc_entries inherited "
              "from device.atc_entries is the default)");
    topo_free(f);
    f = topo_new(NULL, (const char *[]){"device.gpu.link.preset=gen5x16",
                                        "device.gpu.link.gen=4", NULL});
    err_is(f, "--set device.gpu.link.gen: device.gpu.link.preset = gen5x16 "
              "(Gen5) conflicts with device.gpu.link.gen = 4; set one or the "
              "other (device.gpu.link.preset set at --set "
              "device.gpu.link.preset)");
    topo_free(f);
    f = topo_new(NULL, (const char *[]){"device.a.count=200",
                                        "device.b.count=57", NULL});
    err_is(f, "--set device.b.count: device.b.count = 57 makes more than 256 "
              "devices in all");
    topo_free(f);
    /* Names that cannot be instances. */
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    platform_cfg_t pc;
    ck_assert_int_eq(platform_register(cfg, &pc), 0);
    ck_assert_int_eq(sim_config_set(cfg, "device.tags.count=2"), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&log),
                     "--set device.tags.count=2: [device.tags]: 'tags' is a "
                     "key of [device], not a name");
    ck_assert_int_eq(sim_config_load_string(cfg, "n.ini", "[device.a.b]\n"),
                     -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&log),
                     "n.ini:1: bad name 'a.b' in [device.a.b] (letters, "
                     "digits, _ and - expected)");
    ck_assert_int_eq(sim_config_load_string(cfg, "n.ini", "[iommu.x]\n"),
                     -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&log),
                     "n.ini:1: unknown section [iommu.x]");
    /* A rejected file declares nothing. */
    ck_assert_uint_eq(sim_config_instances(cfg, "device"), 0);
    ck_assert_int_eq(
        sim_config_load_string(cfg, "n.ini", "[device.x]\ntags = 1\nbad\n"),
        -EINVAL);
    ck_assert_uint_eq(sim_config_instances(cfg, "device"), 0);
    sim_config_destroy(cfg);
}
END_TEST

/* ---------------------------------------------------------------- VMs */

/* Membership by name, by class, by count; the others are native. */
START_TEST(test_vm_membership)
{
    const char *ini = "[device.nic]\ncount = 3\n[device.gpu]\n[device.fpga]\n"
                      "[vm.a]\ndevices = nic1, gpu\nguest.vcpus = 2\n"
                      "[vm.b]\ndevices = nic0 nic2\nvmm.routing = vpri\n";
    topo_fx_t *f = topo_new(ini, NULL);
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(f->t.nvms, 2);
    ck_assert_str_eq(f->t.vms[0].name, "a");
    ck_assert_uint_eq(f->t.vms[0].ndevs, 2);
    ck_assert_uint_eq(f->t.vms[1].ndevs, 2);
    ck_assert_int_eq(dev_named(f, "nic1")->vm, 0);
    ck_assert_uint_eq(dev_named(f, "nic1")->vm_index, 0);
    ck_assert_int_eq(dev_named(f, "gpu0")->vm, 0);
    ck_assert_uint_eq(dev_named(f, "gpu0")->vm_index, 1);
    ck_assert_int_eq(dev_named(f, "nic0")->vm, 1);
    ck_assert_int_eq(dev_named(f, "nic2")->vm, 1);
    ck_assert_uint_eq(dev_named(f, "nic2")->vm_index, 1);
    ck_assert_int_eq(dev_named(f, "fpga0")->vm, -1);
    /* Each VM's own [vmm] and [guest] keys over the class's. */
    ck_assert_uint_eq(f->t.vms[0].virt.vcpus, 2);
    ck_assert_uint_eq(f->t.vms[1].virt.vcpus, f->pc.virt.vcpus);
    ck_assert_uint_eq(f->t.vms[1].virt.routing, IOASID_ROUTE_VPRI);
    ck_assert_uint_eq(f->t.vms[0].virt.routing, f->pc.virt.routing);
    topo_free(f);

    /* The one VM of [vm]: the first N devices, or none with "" or 0. */
    f = topo_new(NULL,
                 (const char *[]){"device.count=3", "vm.devices=2", NULL});
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(f->t.nvms, 1);
    ck_assert_str_eq(f->t.vms[0].name, "");
    ck_assert_int_eq(f->t.devs[1].vm, 0);
    ck_assert_int_eq(f->t.devs[2].vm, -1);
    topo_free(f);
    f = topo_new(NULL, (const char *[]){"vm.devices=0", NULL});
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_uint_eq(f->t.nvms, 0);
    topo_free(f);
}
END_TEST

/* Bad memberships exit at input time naming the file and line. */
START_TEST(test_vm_errors)
{
    topo_fx_t *f = topo_new("[device.nic]\ncount = 2\n\n[vm.a]\ndevices = "
                            "nic0\n[vm.b]\ndevices = nic0, nic1\n",
                            NULL);
    err_is(f, "t.ini:7: vm.b.devices = nic0, nic1: device nic0 is already "
              "assigned by vm.a.devices = nic0 (a device belongs to one VM "
              "at most) (vm.a.devices set at t.ini:5)");
    topo_free(f);
    f = topo_new("[device.nic]\n[vm.a]\ndevices = nic0\n\n[vm.c]\n"
                 "guest.vcpus = 2\n",
                 NULL);
    err_is(f, "t.ini:5: vm.c.devices = \"\": a VM needs at least one device");
    topo_free(f);
    f = topo_new("[device.nic]\ncount = 2\n[vm.a]\ndevices = nic7\n", NULL);
    err_is(f, "t.ini:4: vm.a.devices = nic7: no device or device class "
              "'nic7' (devices are nic0 ... nic1)");
    topo_free(f);
    f = topo_new("[device]\ncount = 4\n[vm]\ndevices = 9\n", NULL);
    err_is(f, "t.ini:4: vm.devices = 9 is more than device.count = 4 "
              "(device.count set at t.ini:2)");
    topo_free(f);
    f = topo_new(NULL, (const char *[]){"vm.a.devices=dev0",
                                        "vm.a.memory=1048577", NULL});
    err_is(f, "--set vm.a.memory: vm.a.memory = 1048577 must be a multiple "
              "of 4096");
    topo_free(f);
}
END_TEST

/* --------------------------------------------------------------- runs */

/* One fault on each of nic0 (VM a) and nic1 (VM b) at the same time,
 * every delay fixed. */
static const char *const fixed[] = {
    "device.proc=50",     "host.irq_latency=2000", "host.prq_desc=200",
    "host.iopf=3000",     "host.mm_minor=1000",    "host.qi_submit=200",
    "guest.background=0", "device.nic.count=2",    NULL};

static const trace_record_t two_faults[] = {
    {.op = TRACE_MAP,
     .time = 0,
     .dev = 0,
     .pasid = 1,
     .addr = VA,
     .len = 0x10000,
     .perm = PERM_RW},
    {.op = TRACE_MAP,
     .time = 0,
     .dev = 1,
     .pasid = 1,
     .addr = VA,
     .len = 0x10000,
     .perm = PERM_RW},
    {.op = TRACE_READ,
     .time = US,
     .dev = 0,
     .pasid = 1,
     .addr = VA + 0x3040,
     .len = 64},
    {.op = TRACE_READ,
     .time = US,
     .dev = 1,
     .pasid = 1,
     .addr = VA + 0x3040,
     .len = 64},
};

static sim_hist_t *stage_named(pfx_t *h, const char *name)
{
    char full[64];
    snprintf(full, sizeof(full), "fault.stage.%s", name);
    return hist(h, full);
}

/*
 * Two VMs share the IOMMU and the host's PRQ thread, so the second fault
 * waits there for the first: its host_irq stage is longer by exactly one
 * pass of the handler (host.irq_latency + host.prq_desc, the same as the
 * first's whole host_irq stage). After the host each VM has its own VMM
 * thread and guest: the vmm, guest and vmm_exit stages are the same for
 * both faults (min == max), and the end-to-end latencies differ by the
 * host wait only. With the two devices in one VM the faults also queue at
 * its one VMM thread (the vmm stage of one of them is longer).
 */
START_TEST(test_two_vms_contend)
{
    const char *const two[] = {"vm.a.devices=nic0", "vm.b.devices=nic1", NULL};
    pfx_t *h = pfx_new2(fixed, two);
    ck_assert_int_eq(pfx_run(h, two_faults, N_OF(two_faults)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "vm.a.vmm.records"), 1);
    ck_assert_uint_eq(ctr(h, "vm.b.vmm.records"), 1);
    ck_assert_uint_eq(ctr(h, "vm.a.guest.mm.faults"), 1);
    ck_assert_uint_eq(ctr(h, "vm.b.guest.mm.faults"), 1);
    sim_hist_t *irq = stage_named(h, "host_irq"), *e2e = hist(h, "fault.e2e");
    ck_assert_uint_eq(irq->count, 2);
    sim_time_t pass = 2000 * 1000 + 200 * 1000; /* irq_latency + prq_desc */
    ck_assert_uint_eq(irq->min, pass);
    ck_assert_uint_eq(irq->max, 2 * pass);
    ck_assert_uint_eq(e2e->max - e2e->min, pass);
    const char *own[] = {"vmm", "guest", "vmm_exit"};
    for (unsigned k = 0; k < N_OF(own); k++) {
        sim_hist_t *s = stage_named(h, own[k]);
        ck_assert_uint_eq(s->count, 2);
        ck_assert_msg(s->min == s->max, "%s: %llu != %llu", own[k],
                      (unsigned long long)s->min, (unsigned long long)s->max);
    }
    sim_time_t vmm_alone = stage_named(h, "vmm")->min;
    pfx_free(h);

    const char *const one[] = {"vm.a.devices=nic", NULL};
    h = pfx_new2(fixed, one);
    ck_assert_int_eq(pfx_run(h, two_faults, N_OF(two_faults)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "vm.a.vmm.records"), 2);
    ck_assert_uint_eq(stage_named(h, "vmm")->min, vmm_alone);
    ck_assert_uint_gt(stage_named(h, "vmm")->max, vmm_alone);
    pfx_free(h);
}
END_TEST

/* A record for a VM's device is a guest access; for another, native. */
START_TEST(test_guest_and_native)
{
    const char *const sets[] = {"vm.a.devices=nic1", NULL};
    pfx_t *h = pfx_new2(fixed, sets);
    ck_assert_int_eq(pfx_run(h, two_faults, N_OF(two_faults)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "vm.a.vmm.records"), 1);
    ck_assert_uint_eq(ctr(h, "vm.a.guest.mm.faults"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 1);
    pfx_free(h);
}
END_TEST

/* Device names in a trace resolve through the platform. */
START_TEST(test_trace_names)
{
    static const char text[] = "iommu-sim-trace 1\ntimeunit ns\n"
                               "0 map nic1 1 0x10000 4K rw- present\n"
                               "1 read gpu0 1 0x10000 64\n"
                               "2 read 1 1 0x10000 64\n"
                               "3 read gpu7 1 0x10000 64\n";
    const char *const sets[] = {"device.nic.count=2", "device.gpu.ats=false",
                                NULL};
    pfx_t *h = pfx_new(sets);
    FILE *f = fmemopen((void *)text, sizeof(text) - 1, "r");
    trace_reader_t *r = trace_open_stream(f, "n.trace", &h->log);
    ck_assert_ptr_nonnull(r);
    trace_record_t rec;
    /* Without a lookup a name is an error. */
    ck_assert_int_lt(trace_next(r, &rec), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "n.trace:3:7: device name 'nic1' where no device has a "
                     "name; expected <dev> as a number");
    trace_close(r);
    fclose(f);
    f = fmemopen((void *)text, sizeof(text) - 1, "r");
    r = trace_open_stream(f, "n.trace", &h->log);
    trace_set_dev_lookup(r, platform_device_lookup, h->p);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.dev, 1);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.dev, 2);
    ck_assert_int_eq(trace_next(r, &rec), 1);
    ck_assert_uint_eq(rec.dev, 1);
    ck_assert_int_lt(trace_next(r, &rec), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "n.trace:6:8: unknown device 'gpu7' (not a device of the "
                     "configuration)");
    trace_close(r);
    fclose(f);
    pfx_free(h);
}
END_TEST

/* Read every record of text through a reader with the platform's device
 * names and the map (NULL: the trace's own line, if any); the devices of
 * the records into devs; the reader's status at the end. */
static int read_devs(pfx_t *h, const char *text, const char *map,
                     uint32_t *devs, unsigned max, unsigned *n)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    trace_reader_t *r = trace_open_stream(f, "m.trace", &h->log);
    ck_assert_ptr_nonnull(r);
    trace_set_dev_lookup(r, platform_device_lookup, h->p);
    if (map)
        ck_assert_int_eq(trace_set_dev_map(r, map), 0);
    trace_record_t rec;
    int rc;
    *n = 0;
    while ((rc = trace_next(r, &rec)) == 1 && *n < max)
        devs[(*n)++] = rec.dev;
    trace_close(r);
    fclose(f);
    return rc;
}

/* A trace's own numbering: "devices" line, overridden by the command
 * line's map; numbers in a list are indexes; errors name the record. */
START_TEST(test_trace_device_map)
{
    const char *const sets[] = {"device.nic.count=2", "device.gpu.ats=false",
                                NULL};
    pfx_t *h = pfx_new(sets);
    uint32_t d[8];
    unsigned n;
    static const char line[] = "iommu-sim-trace 1\ntimeunit ns\n"
                               "# written for a machine of its own\n"
                               "devices gpu0, nic0\n"
                               "0 read 0 1 0x10000 64\n"
                               "1 read 1 1 0x10000 64\n"
                               "2 read nic1 1 0x10000 64\n";
    ck_assert_int_eq(read_devs(h, line, NULL, d, 8, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(d[0], 2); /* gpu0 */
    ck_assert_uint_eq(d[1], 0); /* nic0 */
    ck_assert_uint_eq(d[2], 1); /* a name is the machine's name */
    /* The command line's map wins over the line; a number is an index. */
    ck_assert_int_eq(read_devs(h, line, "nic1 2", d, 8, &n), 0);
    ck_assert_uint_eq(d[0], 1);
    ck_assert_uint_eq(d[1], 2);
    /* A device past the list. */
    static const char past[] = "iommu-sim-trace 1\ntimeunit ns\n"
                               "devices nic1\n0 read 1 1 0x10000 64\n";
    ck_assert_int_lt(read_devs(h, past, NULL, d, 8, &n), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "m.trace:4:8: device 1 is not in the trace's device "
                     "list (1 devices, 0 to 0)");
    /* A name the machine does not have, found when a record uses it. */
    ck_assert_int_lt(read_devs(h, past, "fpga0", d, 8, &n), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "m.trace:4:8: device 1 is not in the trace's device "
                     "list (1 devices, 0 to 0)");
    static const char zero[] = "iommu-sim-trace 1\ntimeunit ns\n"
                               "0 read 0 1 0x10000 64\n";
    ck_assert_int_lt(read_devs(h, zero, "fpga0", d, 8, &n), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "m.trace:3:8: device 0 is 'fpga0' in the trace's device "
                     "list: not a device of the configuration");
    /* The line comes before the records, and says something. */
    static const char late[] = "iommu-sim-trace 1\ntimeunit ns\n"
                               "0 read 0 1 0x10000 64\ndevices nic0\n";
    ck_assert_int_lt(read_devs(h, late, NULL, d, 8, &n), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "m.trace:4:1: devices line after the first record; "
                     "expected it before the records");
    static const char empty[] = "iommu-sim-trace 1\ntimeunit ns\n"
                                "devices\n";
    ck_assert_int_lt(read_devs(h, empty, NULL, d, 8, &n), 0);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "m.trace:3:1: empty device list");
    FILE *f = fmemopen((void *)zero, strlen(zero), "r");
    trace_reader_t *r = trace_open_stream(f, "m.trace", &h->log);
    ck_assert_int_eq(trace_set_dev_map(r, "nic0,a/b"), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&h->log),
                     "m.trace: bad device 'a/b' in a device list; expected "
                     "names or numbers separated by commas");
    trace_close(r);
    fclose(f);
    pfx_free(h);
}
END_TEST

/* A fault histogram of the run, by name. */
static const sim_hist_t *fh(pfx_t *h, const char *fmt, const char *a)
{
    char name[128];
    snprintf(name, sizeof(name), fmt, a);
    return hist(h, name);
}

/*
 * Breakdowns partition the resolved faults: the per-device groups, the
 * native and guest groups, and the per-VM groups (of the guest faults)
 * each add up to the whole run, count and sum of every stage; a stage no
 * fault of a group went through has no sample there (native faults have
 * no vmm stage) and is left out of stats.txt.
 */
START_TEST(test_breakdowns_add_up)
{
    const char *const sets[] = {"device.nic.count=3", "device.gpu.count=1",
                                "vm.a.devices=nic0",  "vm.b.devices=nic1,gpu0",
                                "guest.background=0", NULL};
    pfx_t *h = pfx_new(sets);
    enum { N = 48 };
    trace_record_t recs[4 + N];
    unsigned n = 0;
    for (uint32_t d = 0; d < 4; d++)
        recs[n++] = rmap(0, d, 1, VA, 1u << 20, PERM_RW, false);
    for (unsigned i = 0; i < N; i++)
        recs[n++] =
            rdma(US + i * 3 * US, i % 4, 1, VA + (uint64_t)i * 4096, 64, i & 1);
    ck_assert_int_eq(pfx_run(h, recs, n), PLATFORM_OK);
    const char *groups[][4] = {{"fault.device.nic0", "fault.device.nic1",
                                "fault.device.nic2", "fault.device.gpu0"},
                               {"fault.native", "fault.guest", NULL, NULL}};
    unsigned ngroups[] = {4, 2};
    const sim_hist_t *all = hist(h, "fault.e2e");
    ck_assert_uint_eq(all->count, N);
    for (unsigned b = 0; b < 2; b++) {
        for (unsigned k = 0; k <= PLATFORM_STAGE_COUNT; k++) {
            const char *st =
                k < PLATFORM_STAGE_COUNT ? platform_stage_names[k] : NULL;
            uint64_t count = 0;
            double sum = 0;
            for (unsigned g = 0; g < ngroups[b]; g++) {
                char name[128];
                if (st)
                    snprintf(name, sizeof(name), "%s.stage.%s", groups[b][g],
                             st);
                else
                    snprintf(name, sizeof(name), "%s.e2e", groups[b][g]);
                const sim_hist_t *x = hist(h, name);
                count += x->count;
                sum += x->sum;
            }
            const sim_hist_t *w = st ? fh(h, "fault.stage.%s", st) : all;
            ck_assert_uint_eq(count, w->count);
            ck_assert_double_eq_tol(sum, w->sum, 1e-9 * w->sum + 1);
        }
    }
    /* The VMs' groups add up to the guest group. */
    const sim_hist_t *ga = hist(h, "fault.vm.a.e2e"),
                     *gb = hist(h, "fault.vm.b.e2e"),
                     *gg = hist(h, "fault.guest.e2e");
    ck_assert_uint_eq(ga->count + gb->count, gg->count);
    ck_assert_uint_eq(ga->count, hist(h, "fault.device.nic0.e2e")->count);
    ck_assert_uint_eq(gb->count, hist(h, "fault.device.nic1.e2e")->count +
                                     hist(h, "fault.device.gpu0.e2e")->count);
    /* Native faults went through no VMM stage. */
    ck_assert_uint_eq(hist(h, "fault.native.e2e")->count,
                      hist(h, "fault.device.nic2.e2e")->count);
    ck_assert_uint_gt(hist(h, "fault.native.e2e")->count, 0);
    ck_assert_uint_eq(hist(h, "fault.native.stage.vmm")->count, 0);
    ck_assert_uint_eq(hist(h, "fault.guest.stage.vmm")->count,
                      hist(h, "fault.guest.e2e")->count);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    sim_stats_write_text(platform_stats(h->p), m, 0);
    fclose(m);
    ck_assert_ptr_null(strstr(buf, "fault.native.stage.vmm."));
    ck_assert_ptr_nonnull(strstr(buf, "fault.guest.stage.vmm.count "));
    ck_assert_ptr_nonnull(strstr(buf, "fault.device.nic2.e2e.count "));
    free(buf);
    pfx_free(h);
}
END_TEST

/* Per-PASID histograms are bounded: the first run.stats_pasids PASIDs to
 * fault get their own group, in the order they fault, and all the others
 * share fault.pasid.other; together they add up to the run. */
START_TEST(test_per_pasid_bounded)
{
    const char *const sets[] = {"run.stats_pasids=3", NULL};
    pfx_t *h = pfx_new(sets);
    enum { P = 6, PER = 4 };
    trace_record_t recs[P + P * PER];
    unsigned n = 0;
    for (uint32_t p = 0; p < P; p++)
        recs[n++] = rmap(0, 0, 10 + p, VA, 1u << 20, PERM_RW, false);
    for (unsigned i = 0; i < P * PER; i++) /* PASIDs 15, 14, ... 10 */
        recs[n++] = rdma(US + i * 20 * US, 0, 10 + (P - 1 - i % P),
                         VA + (uint64_t)(i / P) * 4096, 64, false);
    ck_assert_int_eq(pfx_run(h, recs, n), PLATFORM_OK);
    ck_assert_uint_eq(hist(h, "fault.e2e")->count, P * PER);
    uint64_t sum = 0;
    for (uint32_t p = 15; p > 12; p--) { /* the first three to fault */
        char name[64];
        snprintf(name, sizeof(name), "fault.pasid.%u.e2e", p);
        ck_assert_uint_eq(hist(h, name)->count, PER);
        sum += hist(h, name)->count;
    }
    ck_assert_ptr_null(
        sim_stats_find_hist(platform_stats(h->p), "fault.pasid.12.e2e"));
    ck_assert_uint_eq(hist(h, "fault.pasid.other.e2e")->count, 3 * PER);
    sum += hist(h, "fault.pasid.other.e2e")->count;
    ck_assert_uint_eq(sum, hist(h, "fault.e2e")->count);
    pfx_free(h);
}
END_TEST

static int reader_next(void *src, trace_record_t *rec)
{
    return trace_next(src, rec);
}

/* Replay a text trace on h; the platform's status. */
static int run_text(pfx_t *h, const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    trace_reader_t *r = trace_open_stream(f, "d.trace", &h->log);
    ck_assert_ptr_nonnull(r);
    trace_set_dev_lookup(r, platform_device_lookup, h->p);
    platform_source_t src = {reader_next, r, "d.trace"};
    int rc = platform_run(h->p, &src, 1);
    trace_close(r);
    fclose(f);
    return rc;
}

/* A trace that says whose accesses it holds ("domain guest|native") is
 * not replayed on someone else's device: exit 2 naming the record. */
START_TEST(test_trace_domain)
{
#define HDR "iommu-sim-trace 1\ntimeunit ns\n"
    static const struct {
        const char *text, *error;
    } cases[] = {
        {HDR "domain guest\n"
             "0 map nic1 1 0x10000 4K rw- absent\n"
             "1 map nic0 1 0x10000 4K rw- absent\n",
         "d.trace:5: the trace says 'domain guest' but device nic0 is "
         "assigned to no VM (vm.devices)"},
        {HDR "domain native\n"
             "0 map nic1 1 0x10000 4K rw- absent\n",
         "d.trace:4: the trace says 'domain native' but device nic1 is "
         "assigned to a VM (vm.devices)"},
        {HDR "domain host\n",
         "d.trace:3:8: expected 'domain guest' or 'domain native'"},
        {HDR "0 map nic1 1 0x10000 4K rw- absent\n"
             "domain guest\n",
         "d.trace:4:1: domain line after the first record; expected it "
         "before the records"},
    };
#undef HDR
    const char *const sets[] = {"device.nic.count=2", "vm.a.devices=nic1",
                                NULL};
    for (unsigned c = 0; c < N_OF(cases); c++) {
        pfx_t *h = pfx_new(sets);
        ck_assert_int_eq(run_text(h, cases[c].text), PLATFORM_INPUT_ERROR);
        ck_assert_str_eq(sim_log_last_error(&h->log), cases[c].error);
        /* The first case's nic1 map went in before nic0's was refused. */
        if (c == 0)
            ck_assert_uint_eq(ctr(h, "trace.maps"), 1);
        pfx_free(h);
    }
}
END_TEST

/* The text of the first fenced block (after its "```" line) that follows
 * `heading` in doc (a file of the source tree), malloc'd. */
static char *doc_block(const char *doc, const char *heading)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", getenv("IOMMUSIM_SOURCE_DIR"), doc);
    char *t = iommusim_slurp(path, NULL);
    char *h = strstr(t, heading);
    ck_assert_msg(h != NULL, "%s: no '%s'", doc, heading);
    char *b = strstr(h, "```");
    ck_assert_ptr_nonnull(b);
    b = strchr(b, '\n') + 1;
    char *e = strstr(b, "```");
    ck_assert_ptr_nonnull(e);
    char *out = strndup(b, (size_t)(e - b));
    free(t);
    return out;
}

/* The examples of docs/configuration.md ("Device classes and VMs") and
 * docs/trace-format.md ("Device names", "Merging traces") run as shown:
 * the machine loads, each trace replays on it to the end, and the device
 * numbering is the one the text says. */
START_TEST(test_doc_examples)
{
    char *ini = doc_block("docs/configuration.md", "## Device classes and VMs");
    topo_fx_t *f = topo_new(ini, NULL);
    ck_assert_int_eq(topo_resolve(f), 0);
    ck_assert_str_eq(f->t.devs[2].name, "gpu0");
    ck_assert_uint_eq(f->t.nvms, 2);
    const char *traces[] = {"### Device names", "### Merging traces"};
    uint32_t want_dev[] = {0, 1}; /* their first DMA: nic0, then nic1 */
    for (unsigned i = 0; i < 2; i++) {
        pfx_t *h = calloc(1, sizeof(*h));
        sim_log_init(&h->log, SIM_LOG_ERROR, NULL, NULL);
        h->cfg = sim_config_create(&h->log);
        ck_assert_int_eq(platform_register(h->cfg, &h->pc), 0);
        ck_assert_int_eq(sim_config_load_string(h->cfg, "doc.ini", ini), 0);
        ck_assert_int_eq(platform_check(&h->pc, &h->log), 0);
        h->p = platform_create(&h->pc, &h->log);
        ck_assert_ptr_nonnull(h->p);
        char *text = doc_block("docs/trace-format.md", traces[i]);
        ck_assert_msg(run_text(h, text) == PLATFORM_OK, "%s: %s", traces[i],
                      sim_log_last_error(&h->log));
        char name[64];
        snprintf(name, sizeof(name), "device%u.dmas_done", want_dev[i]);
        ck_assert_uint_ge(ctr(h, name), 1);
        free(text);
        pfx_free(h);
    }
    topo_free(f);
    free(ini);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("topology");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_no_classes);
    tcase_add_test(tc, test_inheritance);
    tcase_add_test(tc, test_dump_round_trip);
    tcase_add_test(tc, test_rids);
    tcase_add_test(tc, test_class_errors);
    tcase_add_test(tc, test_vm_membership);
    tcase_add_test(tc, test_vm_errors);
    tcase_add_test(tc, test_two_vms_contend);
    tcase_add_test(tc, test_guest_and_native);
    tcase_add_test(tc, test_trace_names);
    tcase_add_test(tc, test_trace_device_map);
    tcase_add_test(tc, test_breakdowns_add_up);
    tcase_add_test(tc, test_per_pasid_bounded);
    tcase_add_test(tc, test_trace_domain);
    tcase_add_test(tc, test_doc_examples);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
