/*
 * tools/platform/stages.h - the stages of a fault, in the order a fault
 * goes through them. The platform creates the "fault" span family from
 * this list (stats "fault.stage.<name>"); each model module finds the
 * indices of the stages it stamps by name (sim_spans_stage), so the model
 * folders below do not need to know the whole path (a device does not
 * know there is a VMM or a guest).
 */
#ifndef TOOLS_PLATFORM_STAGES_H
#define TOOLS_PLATFORM_STAGES_H

typedef enum {
    PLATFORM_STAGE_ATS_FAULT = 0, /* translation request .. denying cpl */
    PLATFORM_STAGE_PAGE_REQ,      /* device builds page request .. in PRQ */
    PLATFORM_STAGE_HOST_IRQ,      /* PRQ written .. host handler reports it */
    PLATFORM_STAGE_HOST_FAULT,    /* reported .. host fixed it, response
                                     queued; guest-owned: .. reported to
                                     /dev/ioasid */
    PLATFORM_STAGE_VMM,           /* .. the VMM woke, read, routed, injected */
    PLATFORM_STAGE_GUEST,         /* .. the guest handled it, response
                                     written */
    PLATFORM_STAGE_VMM_EXIT,      /* .. VM exit, VMM completed it in the
                                     host */
    PLATFORM_STAGE_RESPONSE,      /* response queued .. device has it */
    PLATFORM_STAGE_RETRY,         /* device retries translation .. cpl */
    PLATFORM_STAGE_DATA,          /* data transfer .. DMA completes */
    PLATFORM_STAGE_COUNT
} platform_stage_t;

/* Names ("ats_fault", "page_req", ...) and one-line descriptions of the
 * stages, PLATFORM_STAGE_COUNT entries each, indexed by platform_stage_t. */
extern const char *const platform_stage_names[PLATFORM_STAGE_COUNT];
extern const char *const platform_stage_descs[PLATFORM_STAGE_COUNT];

#endif
