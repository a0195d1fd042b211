/*
 * iommu/guest.h - a guest's physical memory (unit guest.c) and the
 * page-table memory ops of tables that live in it.
 */
#ifndef IOMMU_GUEST_H
#define IOMMU_GUEST_H

#include "iommu/pt.h"

typedef struct iommu_guest iommu_guest_t;

/*
 * A guest's physical memory: guest physical addresses (GPAs) mapped to
 * host frames by a stage-2 table (host memory). Its stage-1 tables take
 * GPA frames from table chunks of 1 << table_shift bytes (12, 21 or 30),
 * each backed by one contiguous host block and mapped by one stage-2 leaf
 * of that size; storage is given to a frame only when a table uses it.
 */
/* A guest with an empty stage-2 table of s2_levels levels (NULL on a bad
 * table_shift or out of memory); destroy frees its tables. */
iommu_guest_t *iommu_guest_create(iommu_mem_t *mem, unsigned s2_levels,
                                  unsigned table_shift);
void iommu_guest_destroy(iommu_guest_t *guest);
/* The stage-2 table (GPA -> HPA, in host memory). */
iommu_pt_t *iommu_guest_s2(iommu_guest_t *guest);
/* Reserve len bytes of GPA space aligned to `align` bytes (a power of two,
 * at least 4 KiB), not mapped in stage 2. Returns the GPA or 0. */
uint64_t iommu_guest_reserve(iommu_guest_t *guest, uint64_t len,
                             uint64_t align);
/* Back [gpa, gpa+len) with fresh host frames (no storage) mapped in stage
 * 2 with attr, using leaves up to 1 << max_shift. Returns 0 or as
 * iommu_pt_map_range. */
int iommu_guest_back(iommu_guest_t *guest, uint64_t gpa, uint64_t len,
                     uint64_t attr, unsigned max_shift);
/* Tables on demand (set before the first table is allocated): new table
 * chunks are not mapped in stage 2 until iommu_guest_back_table (the host
 * backs guest memory on first use, vm.s2_on_demand); the guest itself
 * still reaches its tables (its CPU's stage 2 is not the IOMMU's). */
void iommu_guest_set_tables_on_demand(iommu_guest_t *guest, bool on_demand);
/* Map in stage 2 the table chunk holding gpa (one leaf, the chunk's host
 * block). Returns 0 (also when mapped already), -ENOENT (gpa is not a
 * table frame) or as iommu_pt_map. */
int iommu_guest_back_table(iommu_guest_t *guest, uint64_t gpa);
/* A new zeroed GPA frame for a guest table (with storage, and mapped in
 * stage 2 unless tables are on demand); returns its GPA or 0. */
uint64_t iommu_guest_alloc_table(iommu_guest_t *guest);
/* Functional stage-2 translation; returns 0 or -EFAULT (not mapped). */
int iommu_guest_to_host(const iommu_guest_t *guest, uint64_t gpa,
                        uint64_t *hpa);

/* Create an empty table in the guest's physical memory (a guest stage-1
 * table: its table addresses are GPAs, reached through the guest's stage
 * 2). Returns 0, -EINVAL or -ENOMEM. */
int iommu_pt_init_guest(iommu_pt_t *pt, iommu_guest_t *guest, unsigned levels);
/* The guest whose memory holds pt's tables, or NULL (a host table). */
iommu_guest_t *iommu_guest_of(const iommu_pt_t *pt);
/* The GPAs of the table frames a walk of va in guest table pt reads, root
 * first, down to the leaf or the first non-present entry (at most max);
 * returns how many (0 for a host table). */
unsigned iommu_guest_table_path(const iommu_pt_t *pt, uint64_t va,
                                uint64_t *gpa, unsigned max);

#endif /* IOMMU_GUEST_H */
