/*
 * pcie/pcie.h - PCIe messages (TLPs) exchanged between endpoints and the
 * root complex, the link model, and the endpoint device with its ATC (ATS)
 * and PRI state machine.
 *
 * Semantics follow the ATS/PRI chapter of the PCIe Base Specification
 * (r4.0 10.2-10.5): a Translation Completion with R=W=0 makes a
 * PRI-capable device send Page Requests (10.4.1); the PRG Response code
 * decides what happens next (10.4.2.1).
 *
 * This is the public header of pcie/: other folders include it and
 * nothing else of pcie/. It includes no other pcie/ header. Inside pcie/,
 * link.c and the device's units (device.c, atc.c, pri.c, stop.c, with
 * their internal headers and the types-only dev_types.h) include it.
 */
#ifndef PCIE_PCIE_H
#define PCIE_PCIE_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"

#define PCIE_PAGE_SHIFT 12
#define PCIE_PAGE_SIZE (1ull << PCIE_PAGE_SHIFT)
#define PCIE_PRG_INDICES 512 /* 9-bit PRG index (PCIe 10.4.1) */
#define PCIE_PASID_MAX (1u << 20)

/* ------------------------------------------------------------- messages */

typedef enum {
    PCIE_MSG_ATS_REQ = 0, /* Translation Request (AT=01), device -> RC */
    PCIE_MSG_ATS_CPL,     /* Translation Completion, RC -> device */
    PCIE_MSG_PAGE_REQ,    /* PRI Page Request message, device -> RC */
    PCIE_MSG_PRG_RESP,    /* PRG Response message, RC -> device */
    PCIE_MSG_MEM_RD,      /* Memory Read request, device -> RC */
    PCIE_MSG_MEM_WR,      /* posted Memory Write, device -> RC */
    PCIE_MSG_MEM_CPL,     /* Completion with data, RC -> device */
    PCIE_MSG_INV_REQ,     /* ATS Invalidate Request, RC -> device */
    PCIE_MSG_INV_CPL,     /* ATS Invalidate Completion, device -> RC */
    PCIE_MSG_TYPES
} pcie_msg_type_t;

/* Request flags (PASID prefix bits, PRI R/W/L bits, ATS hints). */
#define PCIE_F_R 0x01u     /* read requested / granted */
#define PCIE_F_W 0x02u     /* write requested / granted */
#define PCIE_F_X 0x04u     /* execute requested / granted */
#define PCIE_F_PRIV 0x08u  /* privileged mode requested */
#define PCIE_F_LAST 0x10u  /* PRI: last request in its PRG (L bit) */
#define PCIE_F_NW 0x20u    /* ATS: no-write hint */
#define PCIE_F_PASID 0x40u /* a PASID TLP prefix is present */
#define PCIE_F_XLATED 0x80u /* memory request carries a translated address */

/* Translation Completion status. */
#define PCIE_CPL_SC 0u /* successful completion */
#define PCIE_CPL_UR 1u /* unsupported request (bad device context) */
#define PCIE_CPL_CA 4u /* completer abort */

/* PRG Response codes (PCIe 10.4.2.1). Codes 2..14 act as Response Failure. */
#define PCIE_PRG_SUCCESS 0x0u
#define PCIE_PRG_INVALID 0x1u
#define PCIE_PRG_FAILURE 0xFu

/*
 * One message. The fields are those of the TLP; `cookie` and `span` are
 * simulator bookkeeping carried alongside (the requester's context, and the
 * fault being tracked) and are never interpreted by the receiver's model.
 */
typedef struct pcie_msg {
    uint8_t type;       /* pcie_msg_type_t */
    uint8_t flags;      /* PCIE_F_* */
    uint8_t code;       /* ATS_CPL status, PRG_RESP code */
    uint8_t perm;       /* ATS_CPL: granted PCIE_F_R/W/X */
    uint8_t size_shift; /* ATS_CPL: log2 of the translation size */
    uint16_t rid;       /* requester id (bus/dev/fn) */
    uint16_t tag;       /* request tag, PRG index or ITAG */
    uint32_t pasid;
    uint32_t len;   /* MEM: payload bytes; INV: range bytes (0 = all) */
    uint64_t addr;  /* ATS/PRI/INV: untranslated; MEM: the request address */
    uint64_t xaddr; /* ATS_CPL: translated address */
    void *cookie;
    sim_span_t *span;
} pcie_msg_t;

/* Name of a message type ("ats_req", ...). */
const char *pcie_msg_name(unsigned type);

/* ----------------------------------------------------------------- link */

typedef enum { PCIE_UP = 0, PCIE_DOWN = 1 } pcie_dir_t;

/* link.preset values: PCIE_LINK_CUSTOM uses link.gen and link.lanes; the
 * others are Gen3, Gen4 and Gen5 at x1, x2, x4, x8 and x16, named "gen3x1"
 * .. "gen5x16" in that order. */
#define PCIE_LINK_CUSTOM 0u
#define PCIE_LINK_NPRESETS 16u

typedef struct pcie_link_cfg {
    sim_time_t latency; /* one-way fixed latency incl. root-port queueing */
    uint64_t gen;       /* 1..5 */
    uint64_t lanes;     /* 1, 2, 4, 8, 16 (32 accepted) */
    uint64_t mps;       /* max payload size, bytes */
    uint64_t mrrs;      /* max read request size, bytes */
    unsigned preset;    /* PCIE_LINK_CUSTOM or a preset index */
} pcie_link_cfg_t;

/* Names of the presets, PCIE_LINK_NPRESETS entries then NULL ("custom",
 * "gen3x1", ..., "gen5x16"); the enum values of link.preset. */
extern const char *const pcie_link_preset_names[];

/* Generation and width a preset stands for (false for PCIE_LINK_CUSTOM or
 * an unknown index). */
bool pcie_link_preset(unsigned preset, unsigned *gen, unsigned *lanes);

/*
 * Resolve a preset into cfg->gen and cfg->lanes. A gen or lanes that
 * differs both from its default (3, 8) and from the preset's value is a
 * conflict: returns -EINVAL with a message naming the keys in err.
 * Returns 0 otherwise (also for PCIE_LINK_CUSTOM, which changes nothing).
 */
int pcie_link_cfg_resolve(pcie_link_cfg_t *cfg, char *err, size_t errlen);

/* Receives a message at its arrival time. The message is only valid during
 * the call. */
typedef void (*pcie_rx_fn)(void *opaque, const pcie_msg_t *msg);

typedef struct pcie_link pcie_link_t;

/* Create a link whose upstream end delivers to up_rx and downstream end to
 * down_rx. Stats under "<name>.up.*" and "<name>.down.*" (counted in the
 * link and published by pcie_link_finish_stats). A preset in cfg takes
 * precedence over cfg->gen and cfg->lanes. */
pcie_link_t *pcie_link_create(sim_t *sim, sim_stats_t *st, const char *name,
                              const pcie_link_cfg_t *cfg, pcie_rx_fn up_rx,
                              void *up_opaque, pcie_rx_fn down_rx,
                              void *down_opaque);
/* Free a link; messages still in flight are dropped. NULL is ignored. */
void pcie_link_destroy(pcie_link_t *link);

/* Send a message in a direction now: each direction serialises one TLP at
 * a time (bandwidth), then the message arrives after the fixed latency:
 * arrival = max(send time, end of the previous TLP) + serialisation +
 * latency. */
void pcie_link_send(pcie_link_t *link, pcie_dir_t dir, const pcie_msg_t *msg);

/*
 * Hand a message to the link now for sending at `when` (>= now; earlier is
 * taken as now). The result is exactly that of calling pcie_link_send at
 * `when`: messages are serialised in the order of their send times (equal
 * times in call order), even when a later call asks for an earlier time;
 * arrivals already scheduled are then moved. This lets a sender fold a
 * processing delay into the send without an event of its own.
 */
void pcie_link_send_at(pcie_link_t *link, pcie_dir_t dir,
                       const pcie_msg_t *msg, sim_time_t when);

/*
 * The same, and run sent(sim, opaque, arg) when the message's
 * serialisation ends (the sender's buffer is free: a posted write is done
 * for its sender). The event moves with the message if a message with an
 * earlier send time is handed over later.
 */
void pcie_link_send_at_notify(pcie_link_t *link, pcie_dir_t dir,
                              const pcie_msg_t *msg, sim_time_t when,
                              sim_event_fn sent, void *opaque, uint64_t arg);

/*
 * The same without a copy: pcie_link_reserve returns a zeroed message in
 * the link's own storage (NULL when out of memory), which the caller fills
 * and hands over with pcie_link_commit before any other call on that
 * direction of the link.
 */
pcie_msg_t *pcie_link_reserve(pcie_link_t *link, pcie_dir_t dir);
void pcie_link_commit(pcie_link_t *link, pcie_dir_t dir, sim_time_t when,
                      sim_event_fn sent, void *opaque, uint64_t arg);

/* Bytes a message occupies on the wire (headers, prefix, framing, payload
 * split into max-payload-size TLPs). */
uint32_t pcie_msg_wire_bytes(const pcie_link_cfg_t *cfg, const pcie_msg_t *msg);

/* TLPs a message is carried in (a payload is split by max payload size). */
uint32_t pcie_msg_tlps(const pcie_link_cfg_t *cfg, const pcie_msg_t *msg);

/* Serialisation time of `bytes` on the link (ps, rounded up): the one
 * formula of the model (the link precomputes its rate from it). */
sim_time_t pcie_link_serial_time(const pcie_link_cfg_t *cfg, uint64_t bytes);

/* Fraction of [0, now] a direction spent serialising (0 when now is 0). */
double pcie_link_utilisation(const pcie_link_t *link, pcie_dir_t dir);

/* Publish the link's statistics (counts per direction and the
 * utilisation); call before reading or writing them. */
void pcie_link_finish_stats(pcie_link_t *link);

/* Times the link grew its in-flight message storage (new maxima only). */
uint64_t pcie_link_mem_grows(const pcie_link_t *link);

/* Config keys of [link]. */
extern const sim_param_t pcie_link_params[];
extern const unsigned pcie_link_nparams;

/* --------------------------------------------------------------- device */

typedef struct pcie_dev_cfg {
    uint64_t count;        /* number of identical devices */
    uint64_t rid_base;     /* RID of device 0; device i has rid_base + i */
    uint64_t tags;         /* DMAs in flight at once */
    bool ats;              /* ATS capable (else DMAs go untranslated) */
    bool pri;              /* PRI capable */
    bool in_order;         /* a fault blocks the device's later DMAs */
    bool prg_pasid_required; /* PRI Status "PRG Response PASID Required" */
    uint64_t atc_entries;  /* ATC entries (0 = no caching) */
    uint64_t atc_ways;     /* ATC associativity */
    uint64_t pri_capacity; /* Outstanding Page Request Capacity */
    uint64_t pri_alloc;    /* allocation the host requests; the device is
                              granted min(capacity, alloc) */
    uint64_t pri_retries;  /* Success responses that re-fault before the DMA
                              is given up (bounded livelock) */
    uint64_t fault_ahead;  /* pages one fault asks for (one group) */
    sim_time_t pri_timeout; /* PRG response timeout (0: none) */
    sim_dist_t proc;       /* ATC lookup + building a request */
    sim_dist_t inv_proc;   /* ATS invalidation handling in the device */
} pcie_dev_cfg_t;

extern const sim_param_t pcie_dev_params[];
extern const unsigned pcie_dev_nparams;

/* Check constraints between [device] keys (logged naming the keys).
 * Returns 0 or -EINVAL. */
int pcie_dev_cfg_check(const pcie_dev_cfg_t *cfg, sim_log_t *log);

typedef struct pcie_dev pcie_dev_t;

/* Fault spans: the device stamps the stages it owns (ats_fault, retry, and,
 * through PRI, response) by name (sim_spans_stage) in the span family it
 * is given; the list of stages belongs to whoever builds the family (the
 * platform), so this layer names no stage of the host, VMM or guest. */

/*
 * The upstream side of a device: where its link delivers (the root
 * complex / IOMMU).
 */
typedef struct pcie_dev_port {
    pcie_rx_fn up_rx;
    void *up_opaque;
} pcie_dev_port_t;

/* Create device `index` with its link. `spans` is the fault span family
 * (may be NULL). Stats under "device<index>." and "link<index>.". The
 * configuration is expected to have passed pcie_dev_cfg_check. */
pcie_dev_t *pcie_dev_create(sim_t *sim, sim_stats_t *st, unsigned index,
                            const pcie_dev_cfg_t *cfg,
                            const pcie_link_cfg_t *link_cfg,
                            const pcie_dev_port_t *port, sim_spans_t *spans,
                            uint64_t seed);
/* Free a device, its link and everything in flight. NULL is ignored. */
void pcie_dev_destroy(pcie_dev_t *dev);

/* The device's requester id (rid_base + index). */
uint16_t pcie_dev_rid(const pcie_dev_t *dev);

/* Start a DMA of len > 0 bytes (queued if all tags are busy or the
 * in-order gate is closed). Returns 0, -EINVAL (len 0 or a range that
 * wraps) or -ENOMEM. */
int pcie_dev_dma(pcie_dev_t *dev, uint32_t pasid, uint64_t addr, uint64_t len,
                 bool write);

/* Called when a DMA ends (ok: all its bytes moved; else it failed or was
 * aborted), after its tag was released. It may start new DMAs. */
typedef void (*pcie_dma_done_fn)(void *opaque, pcie_dev_t *dev,
                                 uint32_t pasid, uint64_t addr, uint64_t len,
                                 bool write, bool ok);
void pcie_dev_set_dma_done(pcie_dev_t *dev, pcie_dma_done_fn fn,
                           void *opaque);

/* Deliver a message from the root complex to this device (goes over the
 * device's link, downstream), now or at `when` (see pcie_link_send_at). */
void pcie_dev_send_down(pcie_dev_t *dev, const pcie_msg_t *msg);
void pcie_dev_send_down_at(pcie_dev_t *dev, const pcie_msg_t *msg,
                           sim_time_t when);

/* Called when a PASID stop has completed on the device. */
typedef void (*pcie_stop_done_fn)(void *opaque, pcie_dev_t *dev,
                                  uint32_t pasid);

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
int pcie_dev_stop_pasid(pcie_dev_t *dev, uint32_t pasid,
                        pcie_stop_done_fn done, void *opaque);

/* PRI Status bits as the device reports them (PCIe r4.0 10.5.2.3, Linux
 * pci_regs.h PCI_PRI_STATUS_*). */
#define PCIE_PRI_STATUS_RF 0x0001u      /* Response Failure received */
#define PCIE_PRI_STATUS_UPRGI 0x0002u   /* unexpected PRG index */
#define PCIE_PRI_STATUS_STOPPED 0x0100u /* disabled and nothing outstanding */
#define PCIE_PRI_STATUS_PASID 0x8000u   /* PRG Response PASID Required */

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
typedef struct pcie_dev_totals {
    uint64_t dmas_started, dmas_done, dmas_failed;
    uint64_t page_requests, prg_responses, page_groups, stop_markers;
    uint64_t atc_hits, atc_misses;
    uint64_t in_flight;      /* DMAs queued or in progress */
    uint64_t pri_outstanding; /* page requests awaiting a response */
    uint64_t mem_grows;      /* times the device or its link allocated
                                memory for in-flight state (new maxima) */
} pcie_dev_totals_t;
void pcie_dev_totals(const pcie_dev_t *dev, pcie_dev_totals_t *out);

/* Publish the statistics kept inside the device's link (see
 * pcie_link_finish_stats); call before reading or writing them. */
void pcie_dev_finish_stats(pcie_dev_t *dev);

#endif /* PCIE_PCIE_H */
