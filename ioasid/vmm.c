/*
 * vmm.c - the /dev/ioasid fault handler and the VMM's fault thread.
 *
 * The 2021 flow (seed thread, Kevin Tian's section 5.6, and
 * fault-path-semantics section 6c item 11):
 *   host driver -> IOASID fault handler: save the raw fault data (rid,
 *   pasid, addr, group) for the response, write a user record into a ring
 *   and signal an eventfd -> the VMM's fault thread wakes, reads records in
 *   batches and routes each to the guest -> ... -> the guest's response
 *   traps to the VMM, which completes the fault with an ioctl -> the host
 *   finds the saved data and answers the device.
 * Routing (vmm.routing):
 *   viommu  - the record is (ioasid, addr): the VMM looks up a device
 *             attached to that IOASID, "a random one if several", and
 *             injects into the guest vIOMMU's page request queue;
 *   vpri    - the fault comes through the assigned device and is injected
 *             through that device's virtual PRI queue: no lookup, and each
 *             device has its own queue and handler (Parav Pandit's reply);
 *   iommufd - what Linux merged: records carry dev_id and a cookie, the
 *             VMM injects into the vIOMMU's queue for that device, and the
 *             response names the cookie (section 5).
 * A full guest queue is answered Success at once (QEMU's later PRQ relay,
 * section 6b item 8: the device retries). A response for a fault that is
 * no longer pending (answered by a detach, or twice) is counted, not
 * obeyed (iommufd write(): unknown cookie is EINVAL, section 5b item 7).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/virt_int.h"

static const char *const routing_names[] = {"viommu", "vpri", "iommufd",
                                            NULL};
static const char *const pt_mode_names[] = {"shared", "separate", NULL};
static const char *const ring_policy_names[] = {"success", "invalid", NULL};

#define F(x) offsetof(ioasid_virt_cfg_t, x)
const sim_param_t ioasid_virt_params[] = {
    {"vm", "devices", SIM_PARAM_UINT, "0", 0, 256, "devices",
     "devices 0..N-1 are assigned to the VM: their PASIDs are guest "
     "processes on nested translation (0: no VM, native SVA only)",
     NULL, F(devices)},
    {"vm", "memory", SIM_PARAM_UINT, "4G", 1u << 20, 1ull << 40, "bytes",
     "guest physical memory for the guest processes' pages", NULL,
     F(memory)},
    {"vm", "s2_on_demand", SIM_PARAM_BOOL, "false", 0, 0, "",
     "the host backs guest memory on first fault (a stage-2 fault the host "
     "handles) instead of all at VM start as VFIO pins it", NULL,
     F(s2_on_demand)},
    {"ioasid", "ring_depth", SIM_PARAM_UINT, "0", 0, 1u << 24, "records",
     "user fault ring entries (0: unbounded, as the iommufd FAULT deliver "
     "list)", NULL, F(ring_depth)},
    {"ioasid", "ring_overflow", SIM_PARAM_ENUM, "success", 0, 0, "",
     "answer to a fault that finds the ring full (success: the device "
     "retries; invalid: the access fails)", ring_policy_names,
     F(ring_overflow)},
    {"ioasid", "report", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "host: report a guest-owned group to the IOASID fault handler, save "
     "the fault data, queue the record (latency-calibration 3.3, [D]/[I])",
     NULL, F(report)},
    {"vmm", "routing", SIM_PARAM_ENUM, "iommufd", 0, 0, "",
     "how a fault reaches the guest: viommu (2021 proposal), vpri (the "
     "device's virtual PRI), iommufd (merged Linux)", routing_names,
     F(routing)},
    {"vmm", "wake", SIM_PARAM_DIST, "5000", 0, 0, "ns",
     "eventfd signal to the VMM fault thread running (poll/epoll wake-up; "
     "latency-calibration 3.3, [I])", NULL, F(wake)},
    {"vmm", "batch", SIM_PARAM_UINT, "2048", 1, 1u << 20, "records",
     "records per read (QEMU PRQ relay: 100, later 2048)", NULL, F(batch)},
    {"vmm", "read", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "one read of the fault queue ([I])", NULL, F(read)},
    {"vmm", "route", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "per record: find the virtual device and build the guest request "
     "(latency-calibration 3.3: read + lookup + build 2 us, [I])", NULL,
     F(route)},
    {"vmm", "lookup", SIM_PARAM_DIST, "200", 0, 0, "ns",
     "viommu only: find the devices attached to the IOASID and pick one "
     "([I])", NULL, F(lookup)},
    {"vmm", "inject", SIM_PARAM_DIST, "3000", 0, 0, "ns",
     "vIOMMU injection: guest PRQ entry, tail, virtual MSI through irqfd "
     "(latency-calibration 3.3, [I])", NULL, F(inject)},
    {"vmm", "inject_vpri", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "vpri injection: the device's virtual PRI queue entry and its MSI, no "
     "vIOMMU queue emulation ([I])", NULL, F(inject_vpri)},
    {"vmm", "exit", SIM_PARAM_DIST, "9500", 0, 0, "ns",
     "guest response: MMIO exit to the VMM and decode (latency-calibration "
     "3.3: 10 us with the guest's descriptor write; qemu:vtd_mem_write "
     "52.8 us upper anchor, [I])", NULL, F(exit)},
    {"vmm", "complete", SIM_PARAM_DIST, "2000", 0, 0, "ns",
     "VMM completes the fault in the kernel (write/ioctl, saved data "
     "lookup); the host's queue submission is host.qi_submit ([I])", NULL,
     F(complete)},
    {"guest", "vcpus", SIM_PARAM_UINT, "4", 1, 1024, "vCPUs",
     "guest vCPUs: the guest's handlers and its background load share them",
     NULL, F(vcpus)},
    {"guest", "background", SIM_PARAM_DOUBLE, "0", 0, 0.99, "",
     "share of the vCPUs' time taken by other work (Poisson arrivals of "
     "guest.bg_job)", NULL, F(background)},
    {"guest", "bg_job", SIM_PARAM_DIST, "exp(50us)", 0, 0, "ns",
     "one piece of background work (it is not preempted)", NULL,
     F(bg_job)},
    {"guest", "halt_wake", SIM_PARAM_DIST, "10000", 0, 0, "ns",
     "extra when a virtual interrupt finds the vCPUs halted (wake-up IPI, "
     "scheduling; latency-calibration 3.3, [I])", NULL, F(halt_wake)},
    {"guest", "irq", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "virtual interrupt to the guest handler thread running ([I])", NULL,
     F(irq)},
    {"guest", "handler", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "guest driver + iopf core per request, no fix-up (latency-calibration "
     "3.3: with guest.irq, 2 us, [I])", NULL, F(handler)},
    {"guest", "mm_minor", SIM_PARAM_DIST, "1000", 0, 0, "ns",
     "guest handle_mm_fault, minor (as the host: 0.75-1.7 us published)",
     NULL, F(mm_minor)},
    {"guest", "pt_mode", SIM_PARAM_ENUM, "shared", 0, 0, "",
     "shared: the I/O page table is the CPU page table (one fix-up); "
     "separate: fix both and invalidate the I/O TLB (seed thread)",
     pt_mode_names, F(pt_mode)},
    {"guest", "iopt_update", SIM_PARAM_DIST, "500", 0, 0, "ns",
     "separate: update the I/O page table entry ([I])", NULL,
     F(iopt_update)},
    {"guest", "inv", SIM_PARAM_DIST, "14000", 0, 0, "ns",
     "guest I/O TLB invalidation: MMIO exit + cache-invalidate ioctl, "
     "before the host's queue (latency-calibration 3.3: 15 us with host QI, "
     "[I])", NULL, F(inv)},
    {"guest", "respond", SIM_PARAM_DIST, "500", 0, 0, "ns",
     "guest driver builds the page response and writes the queue tail ([I])",
     NULL, F(respond)},
};
#undef F
const unsigned ioasid_virt_nparams =
    sizeof(ioasid_virt_params) / sizeof(ioasid_virt_params[0]);

/* ------------------------------------------------------------ faults */

void virt_vfault_free(ioasid_virt_t *v, vfault_t *vf)
{
    if (vf->lprev)
        vf->lprev->lnext = vf->lnext;
    else
        v->live = vf->lnext;
    if (vf->lnext)
        vf->lnext->lprev = vf->lprev;
    sim_pool_put(&v->vfaults, vf);
}

/* Answer the host group now (the fault leaves the virtual path). */
static void answer_host(ioasid_virt_t *v, vfault_t *vf, uint8_t code)
{
    ioasid_host_respond(v->host, vf->g, code);
    vf->g = NULL;
    vf->id = 0;
}

static void vmm_run(ioasid_virt_t *v);

static void ev_wake(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_virt_t *v = opaque;
    if (!v->vmm_running)
        vmm_run(v);
}

/* Signal the eventfd: a write while the counter is non-zero coalesces. */
static void signal_eventfd(ioasid_virt_t *v)
{
    if (v->signalled) {
        v->s.coalesced->value++;
        return;
    }
    v->signalled = true;
    v->s.signals->value++;
    sim_schedule(v->sim, sim_dist_draw(&v->cfg.wake, &v->rng), ev_wake, v, 0);
}

/* The host's report is done: queue the record in the ring (or answer a
 * full ring) and signal the eventfd. */
static void ev_reported(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_virt_t *v = opaque;
    vfault_t *vf = (vfault_t *)(uintptr_t)arg;
    sim_time_t now = sim_now(sim);
    if (vf->id == 0) { /* detached meanwhile */
        virt_vfault_free(v, vf);
        return;
    }
    sim_span_mark(vf->g->last->desc.span, PCIE_STAGE_HOST_FAULT, now);
    if (v->cfg.ring_depth && v->ring_n >= v->cfg.ring_depth) {
        v->s.ring_overflow->value++;
        answer_host(v, vf, v->cfg.ring_overflow == IOASID_RING_SUCCESS
                               ? PCIE_PRG_SUCCESS
                               : PCIE_PRG_INVALID);
        virt_vfault_free(v, vf);
        return;
    }
    vf->state = VF_RING;
    vf->next = NULL;
    if (v->ring_tail)
        v->ring_tail->next = vf;
    else
        v->ring_head = vf;
    v->ring_tail = vf;
    v->ring_n++;
    sim_gauge_set(v->s.ring_occ, now, (double)v->ring_n);
    signal_eventfd(v);
}

sim_time_t ioasid_virt_fault(ioasid_virt_t *v, struct gproc *gp,
                             iopf_group_t *g)
{
    sim_time_t cost = sim_dist_draw(&v->cfg.report, &v->rng);
    vfault_t *vf = sim_pool_get(&v->vfaults);
    if (!vf) {
        ioasid_host_respond(v->host, g, PCIE_PRG_INVALID);
        return cost;
    }
    vf->lnext = v->live;
    if (v->live)
        v->live->lprev = vf;
    v->live = vf;
    vf->g = g;
    vf->proc = gp;
    vf->pages = 0;
    for (const iopf_fault_t *f = g->faults; f; f = f->next)
        vf->pages++;
    vf->pdev = ioasid_virt_dev(v, g->last->desc.rid);
    v->s.faults->value++;
    if (++v->next_id == 0) /* cookies are never 0 */
        v->next_id = 1;
    vf->id = v->next_id;
    vf->state = VF_REPORT;
    /* The record is queued and the eventfd signalled when the report,
     * which runs on the host's handler thread, is done. */
    sim_schedule(v->sim, cost, ev_reported, v, (uint64_t)(uintptr_t)vf);
    return cost;
}

/* ------------------------------------------------------ VMM thread */

/* The device the guest is told about for vf. */
static vdev_t *route_target(ioasid_virt_t *v, vfault_t *vf)
{
    if (v->cfg.routing != IOASID_ROUTE_VIOMMU || vf->proc->natt <= 1)
        return vf->pdev;
    /* "If there are multiple, pick a random one" (seed thread). */
    return vf->proc->att[sim_rng_below(&v->rng, vf->proc->natt)];
}

/* One record has been routed and injected: it enters a guest queue. When
 * the batch's last record is in, the thread reads again or sleeps. */
static void ev_injected(sim_t *sim, void *opaque, uint64_t arg)
{
    ioasid_virt_t *v = opaque;
    vfault_t *vf = (vfault_t *)(uintptr_t)arg;
    if (vf->id == 0) { /* detached meanwhile */
        virt_vfault_free(v, vf);
    } else {
        gq_t *q = v->cfg.routing == IOASID_ROUTE_VPRI ? vf->target->vpri
                                                      : &v->viommu_q;
        v->s.injected->value++;
        virt_guest_deliver(v, q, vf);
    }
    if (--v->batch_left == 0)
        vmm_run(v);
}

/*
 * Read a batch of records (one read) and route each in turn: per request
 * the route cost (+ the IOASID lookup for viommu), then the injection. The
 * thread is serial: record k is injected after the costs of records 0..k.
 */
static void vmm_run(ioasid_virt_t *v)
{
    v->signalled = false; /* the read clears the eventfd */
    if (!v->ring_head) {
        v->vmm_running = false;
        return;
    }
    v->vmm_running = true;
    v->s.reads->value++;
    sim_time_t t = sim_dist_draw(&v->cfg.read, &v->rng);
    for (uint64_t n = 0; n < v->cfg.batch && v->ring_head; n++) {
        vfault_t *vf = v->ring_head;
        v->ring_head = vf->next;
        if (!v->ring_head)
            v->ring_tail = NULL;
        v->ring_n--;
        vf->next = NULL;
        vf->state = VF_VMM;
        v->s.records->value++;
        for (unsigned p = 0; p < vf->pages; p++)
            t += sim_dist_draw(&v->cfg.route, &v->rng);
        if (v->cfg.routing == IOASID_ROUTE_VIOMMU)
            t += sim_dist_draw(&v->cfg.lookup, &v->rng);
        vf->target = route_target(v, vf);
        t += sim_dist_draw(v->cfg.routing == IOASID_ROUTE_VPRI
                               ? &v->cfg.inject_vpri
                               : &v->cfg.inject,
                           &v->rng);
        v->batch_left++;
        sim_schedule(v->sim, t, ev_injected, v, (uint64_t)(uintptr_t)vf);
    }
    sim_gauge_set(v->s.ring_occ, sim_now(v->sim), (double)v->ring_n);
}

/* -------------------------------------------------------- completion */

void virt_vmm_complete(ioasid_virt_t *v, vfault_t *vf, uint32_t id,
                       uint8_t code)
{
    v->s.responses->value++;
    if (vf->id == 0 || vf->id != id || vf->state != VF_GUEST || !vf->g) {
        /* Answered already (detach) or never pending: EINVAL, counted. */
        v->s.resp_unknown->value++;
        virt_vfault_free(v, vf);
        return;
    }
    /* iommufd accepts Success and Invalid only (fault-path-semantics 5a
     * item 4): a guest Response Failure becomes Invalid. */
    answer_host(v, vf, code == PCIE_PRG_SUCCESS ? PCIE_PRG_SUCCESS
                                                : PCIE_PRG_INVALID);
    virt_vfault_free(v, vf);
}
