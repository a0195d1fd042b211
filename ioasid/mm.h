/*
 * ioasid/mm.h - host address spaces (a process mm: its VMAs and the
 * stage-1 I/O page table the IOMMU walks) and the native SVA fault
 * handler their bindings carry: a group is queued on the host's iopf
 * workers with its cost; when a worker finishes, the pages are fixed and
 * the group answered (Linux drivers/iommu/iommu-sva.c:
 * iommu_sva_iopf_handler, iommu_sva_handle_mm).
 */
#ifndef IOASID_MM_H
#define IOASID_MM_H

#include <stdbool.h>
#include <stdint.h>

#include "ioasid/host.h"

typedef struct ioasid_mm ioasid_mm_t;

/* A new, empty address space (a process mm with its stage-1 table) with a
 * fresh domain id; the host releases it when destroyed. NULL on failure. */
ioasid_mm_t *ioasid_mm_create(ioasid_host_t *host);
/* The same, telling why it failed: 0 (*out set), IOASID_NO_DOMAIN (all
 * domain ids in use) or -ENOMEM (*out NULL). */
int ioasid_mm_new(ioasid_host_t *host, ioasid_mm_t **out);

/* Bind (rid, pasid) to mm for native SVA: the PASID entry points to the
 * mm's table with PRI enabled, and the binding carries the native SVA
 * fault handler. Returns 0 or -ENOMEM. */
int ioasid_mm_bind(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid);
/* Tear the binding (rid, pasid) of mm down (ioasid_host_unbind), then call
 * done (may be NULL). When the last binding of mm is gone and its pending
 * unmaps and fault work are over, mm is freed: its pages, its table and
 * its domain id go back to the host. Returns as ioasid_host_unbind. */
int ioasid_mm_unbind(ioasid_mm_t *mm, uint16_t rid, uint32_t pasid,
                     ioasid_host_unbound_fn done, void *opaque);
/* The mm bound to (rid, pasid) for native SVA, or NULL. */
ioasid_mm_t *ioasid_mm_lookup(const ioasid_host_t *host, uint16_t rid,
                              uint32_t pasid);

/*
 * Add a mapping [va, va+len) with perm (IOMMU_PTE_R|W|X) to mm; with
 * `present` its pages are populated at once, otherwise on first fault.
 * Returns 0, -EEXIST (overlaps a mapping), -EINVAL (alignment or address
 * width) or -ENOMEM. Functional: takes no simulated time.
 */
int ioasid_mm_map(ioasid_mm_t *mm, uint64_t va, uint64_t len, uint64_t perm,
                  bool present);
/* The same with pages of 1 << shift bytes (12, 21 or 30: a trace map's
 * page size): va and len are multiples of the page size (else -EINVAL),
 * each page is one leaf of that size, and an unmap may not split one.
 * A fault in a 4 KiB mapping populates a 2 MiB page when host.thp says
 * so and the mapping allows it (see mm.c: fault_shift). */
int ioasid_mm_map_pages(ioasid_mm_t *mm, uint64_t va, uint64_t len,
                        uint64_t perm, bool present, unsigned shift);

/*
 * Remove mappings in [va, va+len) (4 KiB aligned, and splitting no huge
 * page of a mapping: else -EINVAL), clear the
 * page table, then, after host.qi_submit, submit to the invalidation queue
 * an IOTLB invalidation and a device-TLB invalidation per device bound to
 * mm, and a wait descriptor; the latency until the wait completes is
 * measured (host.unmap.latency). Returns 0, IOASID_UNMAP_EMPTY (nothing mapped
 * in the range: a no-op), -EINVAL or -ENOMEM.
 */
int ioasid_mm_unmap(ioasid_mm_t *mm, uint64_t va, uint64_t len);

/* Software touches the page of addr (a read, or a write): Linux
 * handle_mm_fault, as the SVA handler calls it: 0 when the access is now
 * allowed (the page populated, counted host.mm.minor_faults), -EFAULT
 * when it never will be (no mapping, or one without the permission). */
int ioasid_mm_handle_fault(ioasid_mm_t *mm, uint64_t addr, bool write);

#endif /* IOASID_MM_H */
