/*
 * pcie/msg.c - names of the PCIe message types (msg.h).
 */
#include "pcie/msg.h"

static const char *const msg_names[PCIE_MSG_TYPES] = {
    "ats_req", "ats_cpl", "page_req", "prg_resp", "mem_rd",
    "mem_wr",  "mem_cpl", "inv_req",  "inv_cpl",
};

/*
 * Name of a message type, or "?" for an unknown type.
 */
const char *pcie_msg_name(unsigned type)
{
    return type < PCIE_MSG_TYPES ? msg_names[type] : "?";
}
