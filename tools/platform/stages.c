/*
 * stages.c - the ordered list of fault stages (see stages.h).
 */
#include "tools/platform/stages.h"

const char *const platform_stage_names[PLATFORM_STAGE_COUNT] = {
    "ats_fault", "page_req", "host_irq", "host_fault", "vmm",
    "guest",     "vmm_exit", "response", "retry",      "data",
};

const char *const platform_stage_descs[PLATFORM_STAGE_COUNT] = {
    "device translation request until the completion denying access",
    "device builds the page request until it is written in the PRQ",
    "PRQ write, interrupt and host handler until the request is reported",
    ("host fault handling (queueing, mm fix-up) until the response is "
     "queued; for a guest-owned fault, until it is reported to /dev/ioasid"),
    "VMM: eventfd wake-up, read, routing and injection into the guest",
    "guest: interrupt, handler, mm fix-up, page response written",
    "VM exit to the VMM and completion of the fault in the host",
    "page response through the IOMMU and the link to the device",
    "device re-issues the translation request until its completion",
    "data transfer of the faulting page until the DMA part completes",
};
