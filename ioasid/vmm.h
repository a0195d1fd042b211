/*
 * ioasid/vmm.h - the VMM's fault thread: it wakes on the FAULT object's
 * eventfd, reads records in batches, routes each to the guest (vmm.routing)
 * and injects it; a guest response traps to it (a VM exit), and it
 * completes the fault with the FAULT object's response call.
 */
#ifndef IOASID_VMM_H
#define IOASID_VMM_H

#include "ioasid/fault.h"
#include "ioasid/guest.h"
#include "ioasid/virt_cfg.h"

/* The [vmm] parameter table (offsets into ioasid_virt_cfg_t). */
extern const sim_param_t ioasid_vmm_params[];
extern const unsigned ioasid_vmm_nparams;

typedef struct ioasid_vmm ioasid_vmm_t;

/* Create the VMM thread between `fault` and `guest`: it installs the
 * FAULT object's wake port and the guest's response port. It draws from
 * `rng` and stamps the `vmm` stage of `spans`. NULL on failure. */
ioasid_vmm_t *ioasid_vmm_create(sim_t *sim, const ioasid_virt_cfg_t *cfg,
                                ioasid_fault_t *fault, ioasid_guest_t *guest,
                                sim_rng_t *rng, const sim_spans_t *spans);
/* The stage-2 port: back in the host the guest pages of rec's group that
 * the guest's stage 1 maps but the host has not; returns how many it
 * backed. Installed by the VM (vm.c) when host.nested_faults = linux. */
typedef unsigned (*ioasid_vmm_s2_fn)(void *opaque, ioasid_fault_rec_t *rec);
void ioasid_vmm_set_s2_fix(ioasid_vmm_t *m, ioasid_vmm_s2_fn fn, void *opaque);
/* NULL is ignored. */
void ioasid_vmm_destroy(ioasid_vmm_t *m);
/* Register the vmm.* counters. 0 or -ENOMEM. */
int ioasid_vmm_stats(ioasid_vmm_t *m, sim_stats_t *st);

#endif /* IOASID_VMM_H */
