/*
 * pcie/pcie.h - PCIe messages (TLPs) exchanged between endpoints and the
 * root complex, the link model, and the endpoint device with its ATC (ATS)
 * and PRI state machine.
 *
 * Semantics follow the PCIe ATS/PRI chapter as collected in
 * shared/reference/fault-path-semantics.md section 1 (PCIe r4.0 10.2-10.5):
 * a Translation Completion with R=W=0 makes a PRI-capable device send Page
 * Requests; the PRG Response code decides what happens next.
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

typedef struct pcie_link_cfg {
    sim_time_t latency; /* one-way fixed latency incl. root-port queueing */
    uint64_t gen;       /* 1..5 */
    uint64_t lanes;     /* 1, 2, 4, 8, 16 */
    uint64_t mps;       /* max payload size, bytes */
    uint64_t mrrs;      /* max read request size, bytes */
} pcie_link_cfg_t;

/* Receives a message at its arrival time. The message is only valid during
 * the call. */
typedef void (*pcie_rx_fn)(void *opaque, const pcie_msg_t *msg);

typedef struct pcie_link pcie_link_t;

/* Create a link whose upstream end delivers to up_rx and downstream end to
 * down_rx. Stats under "<name>.up.*" and "<name>.down.*". */
pcie_link_t *pcie_link_create(sim_t *sim, sim_stats_t *st, const char *name,
                              const pcie_link_cfg_t *cfg, pcie_rx_fn up_rx,
                              void *up_opaque, pcie_rx_fn down_rx,
                              void *down_opaque);
void pcie_link_destroy(pcie_link_t *link);

/* Send a message in a direction: each direction serialises one TLP at a time
 * (bandwidth), then the message arrives after the fixed latency. */
void pcie_link_send(pcie_link_t *link, pcie_dir_t dir, const pcie_msg_t *msg);

/* Bytes a message occupies on the wire (headers, prefix, framing, payload
 * split into max-payload-size TLPs). */
uint32_t pcie_msg_wire_bytes(const pcie_link_cfg_t *cfg, const pcie_msg_t *msg);

/* Serialisation time of `bytes` on the link (ps, rounded up). */
sim_time_t pcie_link_serial_time(const pcie_link_cfg_t *cfg, uint64_t bytes);

/* Config keys of [link]. */
extern const sim_param_t pcie_link_params[];
extern const unsigned pcie_link_nparams;

/* --------------------------------------------------------------- device */

typedef struct pcie_dev_cfg {
    uint64_t count;        /* number of identical devices */
    uint64_t rid_base;     /* RID of device 0; device i has rid_base + i */
    uint64_t tags;         /* DMAs in flight at once */
    bool pri;              /* PRI capable */
    uint64_t atc_entries;  /* ATC entries (0 = no caching) */
    uint64_t atc_ways;     /* ATC associativity */
    uint64_t pri_capacity; /* outstanding page requests supported */
    uint64_t pri_retries;  /* Success responses that re-fault before the DMA
                              is given up (bounded livelock) */
    sim_dist_t proc;       /* ATC lookup + building a request */
} pcie_dev_cfg_t;

extern const sim_param_t pcie_dev_params[];
extern const unsigned pcie_dev_nparams;

typedef struct pcie_dev pcie_dev_t;

/* Stages of a fault span, stamped along the way (see docs/model.md). */
typedef enum {
    PCIE_STAGE_ATS_FAULT = 0, /* translation request .. denying completion */
    PCIE_STAGE_PAGE_REQ,      /* device builds page request .. PRQ written */
    PCIE_STAGE_HOST_IRQ,      /* PRQ written .. host handler reports it */
    PCIE_STAGE_HOST_FAULT,    /* reported .. host fixed it, response queued */
    PCIE_STAGE_RESPONSE,      /* response queued .. device has it */
    PCIE_STAGE_RETRY,         /* device retries translation .. completion */
    PCIE_STAGE_DATA,          /* data transfer .. DMA completes */
    PCIE_STAGE_COUNT
} pcie_stage_t;

/* Names and descriptions of the stages, PCIE_STAGE_COUNT entries each. */
extern const char *const pcie_stage_names[];
extern const char *const pcie_stage_descs[];

/*
 * The upstream side of a device: where its link delivers (the root
 * complex / IOMMU).
 */
typedef struct pcie_dev_port {
    pcie_rx_fn up_rx;
    void *up_opaque;
} pcie_dev_port_t;

/* Create device `index` with its link. `spans` is the fault span family
 * (may be NULL). Stats under "device<index>." and "link<index>.". */
pcie_dev_t *pcie_dev_create(sim_t *sim, sim_stats_t *st, unsigned index,
                            const pcie_dev_cfg_t *cfg,
                            const pcie_link_cfg_t *link_cfg,
                            const pcie_dev_port_t *port, sim_spans_t *spans,
                            uint64_t seed);
void pcie_dev_destroy(pcie_dev_t *dev);

uint16_t pcie_dev_rid(const pcie_dev_t *dev);

/* Start a DMA (queued if all tags are busy). Returns 0 or -ENOMEM. */
int pcie_dev_dma(pcie_dev_t *dev, uint32_t pasid, uint64_t addr, uint64_t len,
                 bool write);

/* Deliver a message from the root complex to this device (goes over the
 * device's link, downstream). */
void pcie_dev_send_down(pcie_dev_t *dev, const pcie_msg_t *msg);

/* Per-device totals (for the summary and tests). */
typedef struct pcie_dev_totals {
    uint64_t dmas_started, dmas_done, dmas_failed;
    uint64_t page_requests, prg_responses;
    uint64_t atc_hits, atc_misses;
    uint64_t in_flight; /* DMAs queued or in progress */
} pcie_dev_totals_t;
void pcie_dev_totals(const pcie_dev_t *dev, pcie_dev_totals_t *out);

#endif /* PCIE_PCIE_H */
