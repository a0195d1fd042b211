/*
 * vmm.c - the VMM's fault thread and its half of the response.
 *
 * The 2021 flow ("[RFC] /dev/ioasid uAPI proposal", Kevin Tian, linux-iommu
 * and kvm lists, 2021-05-27, section 5.6): upon the eventfd the VMM reads
 * records in batches and routes each to the guest; the guest's response
 * traps to the VMM, which completes the fault (fault.c).
 * Routing (vmm.routing):
 *   viommu  - the record is (ioasid, addr): the VMM looks up a device
 *             attached to that IOASID, "a random one if several", and
 *             injects into the guest vIOMMU's page request queue;
 *   vpri    - the fault comes through the assigned device and is injected
 *             through that device's virtual PRI queue: no lookup, and each
 *             device has its own queue and handler (Parav Pandit, "RE: [RFC]
 *             /dev/ioasid uAPI proposal", 2021-06-01);
 *   iommufd - what Linux merged: records carry dev_id and a cookie, the
 *             VMM injects into the vIOMMU's queue for that device, and the
 *             response names the cookie (drivers/iommu/iommufd/fault.c).
 * The response path is three steps, each in the unit that owns it: the
 * MMIO exit and decode (vmm.exit), the completion write/ioctl
 * (vmm.complete), then the host's submission (host.qi_submit, host.c),
 * which ends the vmm_exit stage. The vCPU that wrote the response stays
 * busy through all three (KVM handles the exit on the vCPU's thread).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "ioasid/vmm.h"

struct ioasid_vmm {
    sim_t *sim;
    ioasid_virt_cfg_t cfg;
    ioasid_fault_t *fault;
    ioasid_guest_t *guest;
    sim_rng_t *rng;
    unsigned st_vmm;
    /* The fault thread: asleep in poll(), waking (vmm.wake under way), or
     * running. eventfd semantics (eventfd(2)): a write wakes a poller only
     * when it makes the counter non-zero while the thread sleeps; a write
     * while the thread runs only sets the counter, and the thread re-reads
     * the queue before it sleeps. */
    enum { VMM_SLEEPING = 0, VMM_WAKING, VMM_RUNNING } state;
    unsigned batch_left;     /* injections of the current read not yet done */
    ioasid_vmm_s2_fn s2_fix; /* back stage-2 pages (vm.c), or NULL */
    void *s2_opaque;
    struct {
        sim_counter_t *reads, *records, *injected, *queue_full;
    } s;
};

static const char *const routing_names[] = {"viommu", "vpri", "iommufd",
                                            "hwviommu", NULL};
static const char *const guest_inv_names[] = {"trap", "hwqueue", NULL};

#define F(x) offsetof(ioasid_virt_cfg_t, x)
const sim_param_t ioasid_vmm_params[] = {
    {"vmm", "routing", SIM_PARAM_ENUM, "iommufd", 0, 0, "",
     "how a fault reaches the guest: viommu (2021 proposal), vpri (the "
     "device's virtual PRI), iommufd (merged Linux), hwviommu (AMD's "
     "hardware vIOMMU: the IOMMU writes the guest's PPR log, the guest's "
     "COMPLETE_PPR_REQUEST needs no exit; any iommu.arch, amdvi its own)",
     routing_names, F(routing)},
    {"vmm", "wake", SIM_PARAM_DIST, "5000", 0, 0, "ns",
     "eventfd signal to the VMM fault thread running (poll/epoll wake-up; "
     "[I])",
     NULL, F(wake)},
    {"vmm", "batch", SIM_PARAM_UINT, "2048", 1, 1u << 20, "records",
     "records per read (QEMU PRQ relay: 100, later 2048)", NULL, F(batch)},
    {"vmm", "read", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "one read of the fault queue ([I])", NULL, F(read)},
    {"vmm", "route", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "per record: find the virtual device and build the guest request "
     "([I]: read + lookup + build 2 us)",
     NULL, F(route)},
    {"vmm", "lookup", SIM_PARAM_DIST, "200", 0, 0, "ns",
     "viommu only: find the devices attached to the IOASID and pick one "
     "([I])",
     NULL, F(lookup)},
    {"vmm", "inject", SIM_PARAM_DIST, "3000", 0, 0, "ns",
     "vIOMMU injection: guest PRQ entry, tail, virtual MSI through irqfd "
     "([I])",
     NULL, F(inject)},
    {"vmm", "inject_vpri", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "vpri injection: the device's virtual PRI queue entry and its MSI, no "
     "vIOMMU queue emulation ([I])",
     NULL, F(inject_vpri)},
    {"vmm", "exit", SIM_PARAM_DIST, "9500", 0, 0, "ns",
     "guest response: MMIO exit to the VMM and decode ([I]: 10 us with the "
     "guest's descriptor write; upper anchor qemu vtd_mem_write 52.8 us, "
     "xlab-uiuc/iommu-vm tracing/host_aggregate.csv)",
     NULL, F(exit)},
    {"vmm", "s2_fix", SIM_PARAM_DIST, "5000", 0, 0, "ns",
     "host.nested_faults=linux: the VMM backs one guest page the host has "
     "not (fault in the RAM block, IOMMUFD_IOAS_MAP; [I])",
     NULL, F(s2_fix)},
    {"vmm", "complete", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "VMM completes the fault in the kernel (write/ioctl, saved data "
     "lookup); the host's queue submission is host.qi_submit ([I])",
     NULL, F(complete)},
    {"vmm", "guest_inv", SIM_PARAM_ENUM, "trap", 0, 0, "",
     "how a guest I/O TLB invalidation reaches the IOMMU: trap (the queue "
     "write exits; QEMU decodes each command and issues one "
     "IOMMU_HWPT_INVALIDATE ioctl per command, hw/arm/smmuv3-accel.c "
     "smmuv3_accel_issue_inv_cmd) or hwqueue (the guest writes a hardware "
     "command queue the host assigned to it: NVIDIA Tegra241 CMDQV, iommufd "
     "IOMMU_HW_QUEUE_ALLOC; no exit, no ioctl)",
     guest_inv_names, F(guest_inv)},
    {"vmm", "inv_cmd", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "guest_inv=trap: per invalidation command, the VMM's decode and its "
     "host invalidation ioctl (the exit is vmm.exit, once per queue write; "
     "guest.inv is the total for one command; [I]: as vmm.complete)",
     NULL, F(inv_cmd)},
    {"vmm", "hwqueue_write", SIM_PARAM_DIST, "300", 0, 0, "ns",
     "guest_inv=hwqueue: the guest writes its commands into the hardware "
     "queue and the producer index in the register page mapped into it "
     "([I])",
     NULL, F(hwqueue_write)},
};
#undef F
const unsigned ioasid_vmm_nparams =
    sizeof(ioasid_vmm_params) / sizeof(ioasid_vmm_params[0]);

/* ------------------------------------------------------ VMM thread */

static void vmm_run(ioasid_vmm_t *m);

static void ev_wake(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    (void)arg;
    ioasid_vmm_t *m = opaque;
    m->state = VMM_RUNNING;
    vmm_run(m);
}

/* The FAULT object's eventfd went from 0 to non-zero. Only a thread asleep
 * in poll() is woken (after vmm.wake); a running thread finds the records
 * when it re-reads before sleeping, so no wake-up is left behind to fire
 * later (one wake-up per 0 -> non-zero transition while asleep). */
static void wake(void *opaque)
{
    ioasid_vmm_t *m = opaque;
    if (m->state != VMM_SLEEPING)
        return;
    m->state = VMM_WAKING;
    sim_schedule(m->sim, sim_dist_draw(&m->cfg.wake, m->rng), ev_wake, m, 0);
}

/* The device the guest is told about for rec. */
static ioasid_vdev_t *route_target(ioasid_vmm_t *m, ioasid_fault_rec_t *rec)
{
    const ioasid_gproc_t *gp = rec->ioas;
    if (m->cfg.routing != IOASID_ROUTE_VIOMMU || gp->natt <= 1)
        return rec->dev;
    /* "If there are multiple, pick a random one" (the 2021 proposal). */
    return gp->att[sim_rng_below(m->rng, gp->natt)];
}

/* The refused record's Success is written to the host. */
static void ev_full_answered(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    ioasid_vmm_t *m = opaque;
    ioasid_fault_rec_t *rec = sim_arg_ptr(arg);
    ioasid_fault_respond(m->fault, rec, rec->resp_id, rec->code, NULL, NULL);
}

/* One record has been routed and injected: it enters a guest queue (the
 * `vmm` stage ends). When the batch's last record is in, the thread reads
 * again or sleeps. */
static void ev_injected(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_vmm_t *m = opaque;
    ioasid_fault_rec_t *rec = sim_arg_ptr(arg);
    if (rec->id == 0) { /* detached meanwhile */
        ioasid_fault_rec_free(m->fault, rec);
    } else {
        ioasid_vdev_t *target = rec->target;
        ioasid_gq_t *q = m->cfg.routing == IOASID_ROUTE_VPRI
                             ? target->vpri
                             : ioasid_guest_viommu_queue(m->guest);
        sim_span_mark(rec->g->last->desc.span, m->st_vmm, sim_now(sim));
        if (ioasid_guest_deliver(m->guest, q, rec) == 0) {
            m->s.injected->value++;
        } else {
            /* The guest queue is full: QEMU's relay (intel_iommu_accel.c,
             * "intel_iommu: Enable PRQ support for passthrough device",
             * later version) at once writes SUCCESS for the cookie to the
             * host FAULT fd, as VT-d 7.5 answers a full PRQ: the device
             * retries. The write is a completion (vmm.complete). */
            m->s.queue_full->value++;
            /* Answered without being served: not a resolved fault. */
            sim_span_set_auto(rec->g->last->desc.span);
            rec->resp_id = rec->id;
            rec->code = PCIE_PRG_SUCCESS;
            sim_schedule(sim, sim_dist_draw(&m->cfg.complete, m->rng),
                         ev_full_answered, m, sim_ptr_arg(rec));
        }
    }
    if (--m->batch_left == 0)
        vmm_run(m);
}

/*
 * Read a batch of records (one read) and route each in turn: per request
 * the route cost (+ the IOASID lookup for viommu), then the injection. The
 * thread is serial: record k is injected after the costs of records 0..k.
 */
static void vmm_run(ioasid_vmm_t *m)
{
    ioasid_fault_eventfd_read(m->fault); /* the read clears the eventfd */
    if (ioasid_fault_ring_empty(m->fault)) {
        m->state = VMM_SLEEPING; /* back to poll() */
        return;
    }
    m->s.reads->value++;
    sim_time_t t = sim_dist_draw(&m->cfg.read, m->rng);
    ioasid_fault_rec_t *rec;
    for (uint64_t n = 0;
         n < m->cfg.batch && (rec = ioasid_fault_read(m->fault)); n++) {
        m->s.records->value++;
        for (unsigned p = 0; p < rec->pages; p++)
            t = sim_time_add(t, sim_dist_draw(&m->cfg.route, m->rng));
        if (m->cfg.routing == IOASID_ROUTE_VIOMMU)
            t = sim_time_add(t, sim_dist_draw(&m->cfg.lookup, m->rng));
        rec->target = route_target(m, rec);
        t = sim_time_add(t, sim_dist_draw(m->cfg.routing == IOASID_ROUTE_VPRI
                                              ? &m->cfg.inject_vpri
                                              : &m->cfg.inject,
                                          m->rng));
        m->batch_left++;
        sim_schedule(m->sim, t, ev_injected, m, sim_ptr_arg(rec));
    }
    ioasid_fault_read_done(m->fault);
}

/* -------------------------------------------------------- completion */

/* The host's response step returned (on VT-d when qi_submit_sync's wait
 * completed): the completion returns and the exiting vCPU goes back to
 * the guest. */
static void response_done(void *opaque)
{
    ioasid_vmm_t *m = opaque;
    ioasid_guest_vcpu_release(m->guest);
}

/* The completion step is over: the kernel takes the response. */
static void ev_completed(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    ioasid_vmm_t *m = opaque;
    ioasid_fault_rec_t *rec = sim_arg_ptr(arg);
    ioasid_fault_respond(m->fault, rec, rec->resp_id, rec->code, response_done,
                         m);
}

/* The exit is decoded. With Linux's nested fault routing every fault
 * came through the FAULT object, stage-2 ones too: the VMM backs in the
 * host the guest pages the group still needs (vmm.s2_fix each, through the
 * port vm.c installs), then completes the fault (write/ioctl). */
static void ev_exited(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_vmm_t *m = opaque;
    ioasid_fault_rec_t *rec = sim_arg_ptr(arg);
    sim_time_t t = 0;
    if (m->s2_fix && rec->id != 0 && rec->g && rec->code == PCIE_PRG_SUCCESS) {
        unsigned n = m->s2_fix(m->s2_opaque, rec);
        for (unsigned i = 0; i < n; i++)
            t = sim_time_add(t, sim_dist_draw(&m->cfg.s2_fix, m->rng));
    }
    t = sim_time_add(t, sim_dist_draw(&m->cfg.complete, m->rng));
    sim_schedule(sim, t, ev_completed, m, arg);
}

void ioasid_vmm_set_s2_fix(ioasid_vmm_t *m, ioasid_vmm_s2_fn fn, void *opaque)
{
    m->s2_fix = fn;
    m->s2_opaque = opaque;
}

/* The guest wrote a page response: the MMIO write exits to the VMM. */
static void respond_trap(void *opaque, ioasid_fault_rec_t *rec, uint32_t id,
                         uint8_t code)
{
    ioasid_vmm_t *m = opaque;
    rec->resp_id = id;
    rec->code = code;
    sim_schedule(m->sim, sim_dist_draw(&m->cfg.exit, m->rng), ev_exited, m,
                 sim_ptr_arg(rec));
}

/* --------------------------------------------------------- lifecycle */

#define MC(f, n, d, u)                                                         \
    {                                                                          \
        SIM_STAT_COUNTER, n, d, u, offsetof(ioasid_vmm_t, s.f)                 \
    }
static const sim_stat_def_t vmm_stats[] = {
    MC(reads, "vmm.reads", "reads of the fault queue", "reads"),
    MC(records, "vmm.records", "records routed", "records"),
    MC(injected, "vmm.injected", "requests injected into the guest",
       "requests"),
    MC(queue_full, "vmm.guest_queue_full",
       "records answered Success because the guest queue was full", "records"),
};
#undef MC

int ioasid_vmm_stats(ioasid_vmm_t *m, sim_stats_t *st)
{
    return sim_stats_register(st, vmm_stats,
                              sizeof(vmm_stats) / sizeof(vmm_stats[0]), m);
}

ioasid_vmm_t *ioasid_vmm_create(sim_t *sim, const ioasid_virt_cfg_t *cfg,
                                ioasid_fault_t *fault, ioasid_guest_t *guest,
                                sim_rng_t *rng, const sim_spans_t *spans)
{
    ioasid_vmm_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->sim = sim;
    m->cfg = *cfg;
    m->fault = fault;
    m->guest = guest;
    m->rng = rng;
    m->st_vmm = sim_spans_stage(spans, "vmm");
    ioasid_fault_set_wake(fault, wake, m);
    ioasid_guest_set_respond(guest, respond_trap, m);
    return m;
}

void ioasid_vmm_destroy(ioasid_vmm_t *m)
{
    free(m);
}
