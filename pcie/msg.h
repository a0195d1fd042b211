/*
 * pcie/msg.h - PCIe messages (TLPs) exchanged between endpoints and the root
 * complex: ATS translation requests and completions, PRI page requests and
 * PRG responses, memory reads and writes, ATS invalidations (PCIe r4.0
 * 10.2-10.4).
 */
#ifndef PCIE_MSG_H
#define PCIE_MSG_H

#include <stdbool.h>
#include <stddef.h>
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
#define PCIE_F_R 0x01u      /* read requested / granted */
#define PCIE_F_W 0x02u      /* write requested / granted */
#define PCIE_F_X 0x04u      /* execute requested / granted */
#define PCIE_F_PRIV 0x08u   /* privileged mode requested */
#define PCIE_F_LAST 0x10u   /* PRI: last request in its PRG (L bit) */
#define PCIE_F_NW 0x20u     /* ATS: no-write hint */
#define PCIE_F_PASID 0x40u  /* a PASID TLP prefix is present */
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

#endif /* PCIE_MSG_H */
