/*
 * pcie/device.h - the endpoint device: DMA tags, its ATC (ATS), its PRI
 * state machine and the PASID stop protocol (the units atc.c, pri.c and
 * stop.c behind device.c).
 */
#ifndef PCIE_DEVICE_H
#define PCIE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcie/dev_cfg.h"
#include "pcie/link.h"
#include "pcie/msg.h"
#include "sim/sim.h"

/* --------------------------------------------------------------- device */

extern const sim_param_t pcie_dev_params[];
extern const unsigned pcie_dev_nparams;

/* Check constraints between [device] keys (logged naming the keys as keys
 * of `section`: "device", or "device.nic" for a device class; NULL:
 * "device"). Returns 0 or -EINVAL. */
int pcie_dev_cfg_check(const pcie_dev_cfg_t *cfg, const char *section,
                       sim_log_t *log);

/* Fault spans: the device stamps the stages it owns (ats_fault, retry, and,
 * through PRI, response) by name (sim_spans_stage) in the span family it
 * is given; the list of stages belongs to whoever builds the family (the
 * platform), so this layer names no stage of the host, VMM or guest. */

/* Create device `index` with requester id `rid` (the platform gives
 * rid_base + index, or a device class's own numbering) and its link.
 * `spans` is the fault span family (may be NULL). Stats under
 * "device<index>." and "link<index>.". The configuration is expected to
 * have passed pcie_dev_cfg_check. */
pcie_dev_t *pcie_dev_create(sim_t *sim, sim_stats_t *st, unsigned index,
                            uint16_t rid, const pcie_dev_cfg_t *cfg,
                            const pcie_link_cfg_t *link_cfg,
                            const pcie_dev_port_t *port, sim_spans_t *spans,
                            uint64_t seed);
/* Free a device, its link and everything in flight. NULL is ignored. */
void pcie_dev_destroy(pcie_dev_t *dev);

/* The device's requester id (rid_base + index). */
uint16_t pcie_dev_rid(const pcie_dev_t *dev);
/* The index the device was created with. */
unsigned pcie_dev_index(const pcie_dev_t *dev);

/* Start a DMA of len > 0 bytes (queued if all tags are busy or the
 * in-order gate is closed). Returns 0, -EINVAL (len 0 or a range that
 * wraps) or -ENOMEM. */
int pcie_dev_dma(pcie_dev_t *dev, uint32_t pasid, uint64_t addr, uint64_t len,
                 bool write);

void pcie_dev_set_dma_done(pcie_dev_t *dev, pcie_dma_done_fn fn, void *opaque);

/* The host software's fix-up of device.fault_policy = partial (see
 * pcie_fixup_fn). Without one, software is assumed to have made the page
 * present; a retranslation that faults again counts against
 * device.pri_retries. */
void pcie_dev_set_fixup(pcie_dev_t *dev, pcie_fixup_fn fn, void *opaque);

/* Deliver a message from the root complex to this device (goes over the
 * device's link, downstream), now or at `when` (see pcie_link_send_at). */
void pcie_dev_send_down(pcie_dev_t *dev, const pcie_msg_t *msg);
void pcie_dev_send_down_at(pcie_dev_t *dev, const pcie_msg_t *msg,
                           sim_time_t when);

/*
 * Stop a PASID on the device (the device side of the PASID stop protocol,
 * PCIe r4.0 6.20.1 as cited in Linux io-pgfault.c): the device stops
 * issuing requests with the PASID (queued DMAs and DMAs waiting for page
 * request allocation fail, DMAs waiting for a PRG response fail without
 * waiting for it), waits for its non-posted requests of the PASID
 * (translation requests, reads) to complete, then, if page requests of the
 * PASID are still outstanding, sends a Stop Marker (L=1, R=W=0, with the
 * PASID) instead of waiting for their responses. `done` (may be NULL) is
 * called at that point, never before this function returns. DMAs for the
 * PASID issued while the stop is in progress fail. Returns 0, -EBUSY (a
 * stop of that PASID is already in progress, or too many stops at once) or
 * -ENOMEM.
 */
int pcie_dev_stop_pasid(pcie_dev_t *dev, uint32_t pasid, pcie_stop_done_fn done,
                        void *opaque);

/* The device's PRI Status register: PCIE_PRI_STATUS_RF and UPRGI as
 * received, STOPPED while PRI is disabled with nothing outstanding, PASID
 * as configured (device.prg_pasid_required). */
unsigned pcie_dev_pri_status(const pcie_dev_t *dev);

/*
 * Reset and re-enable PRI, as the host driver does with Enable=0, Reset=1,
 * Enable=1 (Linux pci_reset_pri + pci_enable_pri): clears RF and UPRGI,
 * forgets every outstanding page request (their DMAs fail; responses that
 * arrive for them later count as UPRGI) and enables PRI again, so that
 * faults are recoverable again after a Response Failure. No effect on a
 * device without PRI.
 */
void pcie_dev_pri_reset(pcie_dev_t *dev);

/* Per-device totals (for the summary and tests). */
void pcie_dev_totals(const pcie_dev_t *dev, pcie_dev_totals_t *out);

/* Publish the statistics kept inside the device's link (see
 * pcie_link_finish_stats); call before reading or writing them. */
void pcie_dev_finish_stats(pcie_dev_t *dev);

#endif /* PCIE_DEVICE_H */
