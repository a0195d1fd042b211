/*
 * iommu/mem.h - simulated physical memory (unit mem.c), and the memory
 * seam of page tables: the ops a table reaches its memory through.
 */
#ifndef IOMMU_MEM_H
#define IOMMU_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Sparse physical memory of 4 KiB frames. Frames holding tables and queues
 * are "backed" (have storage); data frames handed to address spaces need
 * only their frame number, so they cost no host memory.
 */
typedef struct iommu_mem iommu_mem_t;

/* An empty memory (NULL when out of memory); destroy frees it all. */
iommu_mem_t *iommu_mem_create(void);
void iommu_mem_destroy(iommu_mem_t *mem);
/* A new zeroed frame; returns its physical address, or 0 when out of
 * memory (frame 0 is never handed out). */
uint64_t iommu_mem_alloc(iommu_mem_t *mem, bool backed);
/* Reserve `nframes` contiguous frames aligned to `align` frames (a power of
 * two), without storage; returns the address of the first, or 0. */
uint64_t iommu_mem_alloc_range(iommu_mem_t *mem, uint64_t nframes,
                               uint64_t align);
/* Give storage (zeroed) to an allocated frame without any. Returns 0,
 * -EEXIST (already backed) or -ENOMEM. */
int iommu_mem_back(iommu_mem_t *mem, uint64_t pa);
/* Whether the frame of pa has storage. */
bool iommu_mem_is_backed(const iommu_mem_t *mem, uint64_t pa);
/* Return a frame (backed or not) for reuse. */
void iommu_mem_free(iommu_mem_t *mem, uint64_t pa);
/* 64-bit access to backed frames (reads of unbacked memory return 0,
 * writes to it are lost). */
uint64_t iommu_mem_read64(const iommu_mem_t *mem, uint64_t pa);
void iommu_mem_write64(iommu_mem_t *mem, uint64_t pa, uint64_t value);
/* Frames allocated (backed, and in all) and now in use. */
uint64_t iommu_mem_backed_frames(const iommu_mem_t *mem);
uint64_t iommu_mem_frames(const iommu_mem_t *mem);
/* Host memory the simulated memory uses (frame storage and indexes). */
size_t iommu_mem_host_bytes(const iommu_mem_t *mem);

/* The storage of the frame of pa (512 entries), or NULL if it has none
 * (for walkers that access a table in place). */
uint64_t *iommu_mem_frame(const iommu_mem_t *mem, uint64_t pa);

/*
 * Where a page table's memory is (the seam between pt.c and whoever owns
 * the address space of its table addresses, in the manner of
 * libvfio-user's lib/tran.h transport ops). `ctx` is the owner's.
 */
typedef struct iommu_pt_mem_ops {
    /* The 64-bit entry at table address a (0 if unreachable). */
    uint64_t (*read)(void *ctx, uint64_t a);
    /* Write the entry at a (lost if unreachable). */
    void (*write)(void *ctx, uint64_t a, uint64_t v);
    /* The 512 entries of the table at a, in place, or NULL (no storage). */
    uint64_t *(*frame)(void *ctx, uint64_t a);
    /* A new zeroed table frame; its address, or 0 when out of memory. */
    uint64_t (*alloc)(void *ctx);
    /* Give a table frame back. */
    void (*free)(void *ctx, uint64_t a);
} iommu_pt_mem_ops_t;

/* Host physical memory as page-table memory (ctx: the iommu_mem_t).
 * pt.c accesses tables with these ops directly, without the indirect
 * calls. */
extern const iommu_pt_mem_ops_t iommu_mem_pt_ops;

#endif /* IOMMU_MEM_H */
