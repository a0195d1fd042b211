/*
 * iommu/iommu.h - the IOMMU: simulated physical memory (host and guest),
 * radix page tables and their builder, context and PASID tables, the
 * single-stage and nested walker with its caches (IOTLB, paging-structure
 * caches, stage-2 TLB, context and PASID caches), the page request queue
 * (PRQ / SMMUv3 PRIQ), the fault-record queue, the invalidation queue (QI /
 * SMMUv3 command queue) and the data path of DMA requests.
 *
 * The public header of iommu/: it includes the public sub-headers
 * types.h (value types), mem.h (simulated memory), pt.h (page tables) and
 * guest.h (guest memory). Semantics follow PCIe 10.2-10.4 (ATS, PRI), VT-d
 * 7.4-7.6 (page requests, page group responses) and SMMUv3 8 (PRI queue)
 * with the stall model of Linux arm-smmu-v3.c; each behaviour and default
 * is cited next to its code, and docs/model.md lists them with sources.
 *
 * Contract with devices (pcie/): what the IOMMU does with each message
 * arriving from a device (iommu_rx):
 *  - PCIE_MSG_ATS_REQ: translated for (rid, pasid, addr) through the context
 *    and PASID caches, the IOTLB and the walker; answered with
 *    PCIE_MSG_ATS_CPL: code PCIE_CPL_SC with the granted PCIE_F_R/W/X in
 *    `perm` (0 when the page is not present or a stage faults: the device
 *    then asks with a page request), `xaddr` the translated address and
 *    `size_shift` the size of the translation; PCIE_CPL_UR when the context
 *    or PASID entry is invalid. The No-Write hint (PCIE_F_NW) withholds W.
 *  - PCIE_MSG_MEM_RD / PCIE_MSG_MEM_WR with PCIE_F_XLATED: `addr` is a
 *    translated address; a read is answered after memory.access with
 *    PCIE_MSG_MEM_CPL, code PCIE_CPL_SC, `len` bytes; a write is absorbed.
 *  - PCIE_MSG_MEM_RD / PCIE_MSG_MEM_WR without PCIE_F_XLATED (a device
 *    without ATS): `addr` is untranslated, tagged with `pasid` when
 *    PCIE_F_PASID is set (else IOMMU_PASID_NONE, VT-d's RID_PASID). The
 *    IOMMU translates it on the same path (caches, walker) for the access
 *    (read or write, plus PCIE_F_X / PCIE_F_PRIV) and, on success, performs
 *    the memory access: a read is answered with PCIE_MSG_MEM_CPL, code
 *    PCIE_CPL_SC, `len` bytes. On a fault it writes a non-recoverable fault
 *    record (bounded ring, overflow counted) and answers a read with
 *    PCIE_MSG_MEM_CPL code PCIE_CPL_UR (len 0: the DMA aborts); a faulting
 *    write is dropped. With iommu.stall (SMMUv3 only) a translation fault
 *    is held instead: a stall event goes to the host, which fixes the page
 *    and resumes with RETRY (translate again and complete) or ABORT (UR).
 *    The completion echoes tag, cookie, span, pasid and addr.
 *  - PCIE_MSG_PAGE_REQ: written to the PRQ (or auto-responded / dropped by
 *    the overflow rules of the architecture).
 *  - PCIE_MSG_INV_CPL: completes the device-TLB invalidation whose
 *    PCIE_MSG_INV_REQ carried the same `cookie`.
 * Messages down to a device go through the iommu_send_fn callback.
 */
#ifndef IOMMU_IOMMU_H
#define IOMMU_IOMMU_H

#include "iommu/guest.h"
#include "iommu/mem.h"
#include "iommu/pt.h"
#include "iommu/types.h"

/* -------------------------------------------------------------- IOMMU */

extern const sim_param_t iommu_params[];
extern const unsigned iommu_nparams;

/* Fill the zero "architecture default" fields of cfg from cfg->arch. */
void iommu_cfg_resolve(iommu_cfg_t *cfg);
/* Check constraints between keys (logged naming the keys); 0 or -EINVAL. */
int iommu_cfg_check(const iommu_cfg_t *cfg, sim_log_t *log);

/* Returns NULL on allocation failure or a bad configuration (logged). */
iommu_t *iommu_create(sim_t *sim, sim_stats_t *st, const iommu_cfg_t *cfg,
                      uint64_t seed);
/* Free iommu and its memory (NULL: nothing). */
void iommu_destroy(iommu_t *iommu);

/* Where messages to devices go (see the contract above). */
void iommu_set_downstream(iommu_t *iommu, iommu_send_fn fn, void *opaque);
/* The page request queue interrupt. */
void iommu_set_prq_irq(iommu_t *iommu, iommu_irq_fn fn, void *opaque);
/* The fault-record (SMMUv3 event) queue interrupt. */
void iommu_set_fault_irq(iommu_t *iommu, iommu_irq_fn fn, void *opaque);
/* The span family of page faults: the IOMMU marks the stages it ends,
 * found by name: "page_req" (a page request written to the PRQ, or a
 * stall event to the event queue), "response" (a stalled DMA resumed) and
 * "retry" (a resumed DMA translated). NULL (the default): no marks. */
void iommu_set_spans(iommu_t *iommu, const sim_spans_t *spans);

/* Messages arriving from devices (a pcie_rx_fn; opaque is the iommu). */
void iommu_rx(void *opaque, const pcie_msg_t *msg);

/* The simulated host physical memory of the machine (tables, queues). */
iommu_mem_t *iommu_memory(iommu_t *iommu);
/* The resolved configuration. */
const iommu_cfg_t *iommu_config(const iommu_t *iommu);
/* The architecture the IOMMU follows (iommu.arch). */
iommu_arch_t iommu_arch(const iommu_t *iommu);

/* ------------------------------------------ context and PASID tables */

/*
 * What (RID, PASID) translates with. The IOMMU keeps it in tables in
 * simulated memory: a root table indexed by bus, a context table per bus
 * indexed by devfn, a PASID directory and PASID tables (VT-d scalable
 * mode; the SMMUv3 stream table and CD tables play the same roles). A
 * lookup that misses the context or PASID cache reads them (2 + 2 reads).
 * The entry type, iommu_pasid_entry_t, is in pt.h.
 */

/* Write the entry of (rid, pasid) into the tables. Like hardware, cached
 * copies of a replaced entry stay until the PASID cache is invalidated.
 * Returns 0, -EINVAL (pasid >= 2^20, levels) or -ENOMEM. */
int iommu_set_pasid(iommu_t *iommu, uint16_t rid, uint32_t pasid,
                    const iommu_pasid_entry_t *entry);
/* Mark the entry not present (invalidate the PASID cache afterwards). */
void iommu_clear_pasid(iommu_t *iommu, uint16_t rid, uint32_t pasid);
/* Read the entry from the tables (no cache, no cost): true if present.
 * The decoded tables carry mem and root/levels only (guest is NULL). */
bool iommu_get_pasid(const iommu_t *iommu, uint16_t rid, uint32_t pasid,
                     iommu_pasid_entry_t *out);

/* ------------------------------------------------------ translation */

/*
 * Translate va for (rid, pasid) with `access` (PCIE_F_R, PCIE_F_W,
 * PCIE_F_X, PCIE_F_PRIV; 0 checks nothing): context and PASID caches,
 * IOTLB, then a walk helped by the paging-structure caches, permission
 * check (the first stage that denies is the outcome), optional A/D updates
 * and IOTLB fill. Synchronous and functional: takes no simulated time (the
 * latency it would take is in out->latency) and allocates nothing.
 */
void iommu_translate(iommu_t *iommu, uint16_t rid, uint32_t pasid, uint64_t va,
                     unsigned access, iommu_xlate_t *out);

/* ------------------------------------------------------ invalidation */

/* Functional invalidations (no time); the invalidation queue calls these
 * when it processes a descriptor. Each makes translations in flight
 * re-read the tables before they answer. */
void iommu_invalidate_iotlb(iommu_t *iommu, const iommu_inv_t *inv);
void iommu_invalidate_pasid_cache(iommu_t *iommu, const iommu_inv_t *inv);
void iommu_invalidate_context_cache(iommu_t *iommu, const iommu_inv_t *inv);
/* Shorthand: IOTLB and stage-1 PSC entries of (domain, pasid) overlapping
 * [addr, addr+len); len 0: all of them. */
void iommu_iotlb_invalidate(iommu_t *iommu, uint16_t domain, uint32_t pasid,
                            uint64_t addr, uint64_t len);

/* ------------------------------------------------- queues in memory */

/*
 * The PRQ, the fault-record queue and the invalidation queue are rings in
 * simulated memory with a head (consumer) and a tail (producer). Positions
 * are raw register values: VT-d rings hold an index (one slot stays
 * unused), SMMUv3 rings an index plus a wrap bit (all slots usable); use
 * iommu_*_next to step and never compute positions by hand.
 */

/* PRQ head (software), tail (hardware), depth, and the position after
 * pos. */
uint32_t iommu_prq_head(const iommu_t *iommu);
uint32_t iommu_prq_tail(const iommu_t *iommu);
uint32_t iommu_prq_depth(const iommu_t *iommu);
uint32_t iommu_prq_next(const iommu_t *iommu, uint32_t pos);
/* Entries between head and tail. */
uint32_t iommu_prq_count(const iommu_t *iommu);
/* Physical address of the ring and the size of one descriptor. */
uint64_t iommu_prq_base(const iommu_t *iommu);
unsigned iommu_prq_desc_size(const iommu_t *iommu);
/* Read and decode the descriptor at position pos from memory. */
void iommu_prq_read(const iommu_t *iommu, uint32_t pos, iommu_prq_desc_t *out);
/* Software consumed entries up to (not including) head. */
void iommu_prq_set_head(iommu_t *iommu, uint32_t head);
/* The PRS status bits (IOMMU_PRS_*). */
unsigned iommu_prq_status(const iommu_t *iommu);
/* Write-1-to-clear status bits (VT-d). On SMMUv3, clearing PRO copies
 * OVFLG into OVACKFLG (the overflow acknowledgement). */
void iommu_prq_clear_status(iommu_t *iommu, unsigned bits);

/* Fault-record queue head, tail and the position after pos. */
uint32_t iommu_fault_head(const iommu_t *iommu);
uint32_t iommu_fault_tail(const iommu_t *iommu);
uint32_t iommu_fault_next(const iommu_t *iommu, uint32_t pos);
/* Read and decode the record at position pos from memory. */
void iommu_fault_read(const iommu_t *iommu, uint32_t pos,
                      iommu_fault_rec_t *out);
/* Software consumed records up to (not including) head. */
void iommu_fault_set_head(iommu_t *iommu, uint32_t head);
/* Records were lost since the last acknowledgement (VT-d PFO, SMMUv3
 * EVTQ OVFLG); acknowledge to re-arm. */
bool iommu_fault_overflowed(const iommu_t *iommu);
void iommu_fault_ack_overflow(iommu_t *iommu);

/*
 * Write n descriptors at the tail of the invalidation queue (encoded per
 * architecture: VT-d 32-byte descriptors, SMMUv3 16-byte commands) and
 * move the tail. The IOMMU consumes them in order, each after its
 * configured cost. A device-TLB invalidation sends an ATS Invalidate
 * Request and does not block the queue; a WAIT completes (done) only when
 * every earlier descriptor is done, device-TLB completions included. On
 * VT-d (no fence, as Linux qi_submit_sync) descriptors after a WAIT go on
 * meanwhile, and a WAIT needs only the descriptors since the previous
 * WAIT (VT-d 6.5.2.12); an SMMUv3 CMD_SYNC holds the commands after it
 * until it completes (SMMUv3 4.7.3). When
 * the ring is full, descriptors wait in order for space (software
 * spinning; iommu.qi.full_waits). Returns 0 or -ENOMEM.
 */
int iommu_qi_submit(iommu_t *iommu, const iommu_qi_desc_t *descs, unsigned n);
/* Invalidation queue head, tail, ring address and descriptor size. */
uint32_t iommu_qi_head(const iommu_t *iommu);
uint32_t iommu_qi_tail(const iommu_t *iommu);
uint64_t iommu_qi_base(const iommu_t *iommu);
unsigned iommu_qi_desc_size(const iommu_t *iommu);
/* Descriptors submitted and not yet done (device-TLB completions
 * included). */
uint64_t iommu_qi_pending(const iommu_t *iommu);

/* Page requests received, written, auto-responded, dropped, stop markers
 * and host responses (iommu_prq_totals_t, for conservation checks). */
void iommu_prq_totals(const iommu_t *iommu, iommu_prq_totals_t *out);

/* ------------------------------- hardware vIOMMU: guest PPR logs */

/*
 * A hardware-accelerated vIOMMU (AMD's HW-vIOMMU: #48882 rev 3.07+, the
 * guest's virtualized PPR log and command buffer; Linux RFC "iommu/amd:
 * Introduce support for HW accelerated vIOMMU w/ nested page table",
 * Suravee Suthikulpanit, 2023-06-21, where the guest PPR log is still
 * work in progress) writes the page requests of a guest's devices
 * straight into the guest's own PPR log, with the guest's interrupt, and
 * processes the guest's COMPLETE_PPR_REQUEST commands itself: neither the
 * host's log nor the host driver sees them. The log has the IOMMU's
 * entry format and overflow rule (iommu.arch) and its own size; a request
 * the `host` port calls the host's (a stage-2 fault) goes to the host's
 * PRQ as before.
 */
typedef struct iommu_vlog iommu_vlog_t;
/* Whether page request m of a routed device is the host's. */
typedef bool (*iommu_vlog_host_fn)(void *opaque, const pcie_msg_t *m);
/* A guest log of `depth` entries (at least 2) owned by iommu (freed with
 * it), registering <name>.* statistics; NULL on allocation failure. */
iommu_vlog_t *iommu_vlog_create(iommu_t *iommu, sim_stats_t *st,
                                const char *name, uint64_t depth,
                                iommu_vlog_host_fn host, void *opaque);
/* Page requests of device rid go to log l (0, or -ENOMEM). */
int iommu_vlog_route(iommu_vlog_t *l, uint16_t rid);
/* The guest's interrupt of the log. */
void iommu_vlog_set_irq(iommu_vlog_t *l, iommu_irq_fn fn, void *opaque);
/* Head, tail, next position and entries of the log; read the entry at
 * pos; software consumed up to head; status (IOMMU_PRS_*) and its RW1C
 * clear, PRO restarting the log after an overflow. */
uint32_t iommu_vlog_head(const iommu_vlog_t *l);
uint32_t iommu_vlog_tail(const iommu_vlog_t *l);
uint32_t iommu_vlog_next(const iommu_vlog_t *l, uint32_t pos);
uint32_t iommu_vlog_count(const iommu_vlog_t *l);
void iommu_vlog_read(const iommu_vlog_t *l, uint32_t pos,
                     iommu_prq_desc_t *out);
void iommu_vlog_set_head(iommu_vlog_t *l, uint32_t head);
unsigned iommu_vlog_status(const iommu_vlog_t *l);
void iommu_vlog_clear_status(iommu_vlog_t *l, unsigned bits);
/* The guest wrote COMPLETE_PPR_REQUEST for the group whose last request
 * is `last` (`pages` requests) into its virtualized command buffer: the
 * vIOMMU processes the guest's commands in order, each after
 * iommu.qi_page_resp, and sends the PRG Response (no VM exit). */
void iommu_vlog_complete(iommu_vlog_t *l, const iommu_prq_desc_t *last,
                         uint8_t code, unsigned pages);
/* Page requests the guests' logs answered (through iommu_vlog_complete). */
uint64_t iommu_vlog_responded(const iommu_t *iommu);

/* Untranslated DMA requests held in the stall model (SMMUv3). */
uint64_t iommu_stalled(const iommu_t *iommu);

#endif /* IOMMU_IOMMU_H */
