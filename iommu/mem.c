/*
 * mem.c - sparse simulated physical memory.
 *
 * Frame numbers are handed out from a counter (frame 0 is never used) and
 * recycled through a free stack; contiguous aligned ranges come straight
 * from the counter. Only backed frames (page tables, queues) have storage:
 * an open-addressing table maps their frame numbers to 4 KiB buffers carved
 * from large chunks, so memory is proportional to the tables in use, not
 * to the address space mapped. A frame can be given storage after it was
 * allocated (iommu_mem_back), so a large reserved range costs only the
 * frames actually used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/mem.h"
#include "iommu/types.h"

#define FRAMES_PER_CHUNK 64
#define FRAME_CACHE 16

typedef struct frame_slot {
    uint64_t pfn; /* 0 = empty, UINT64_MAX = deleted */
    uint8_t *data;
} frame_slot_t;

struct iommu_mem {
    frame_slot_t *slots;
    size_t nslots, used, tombs;
    uint64_t next_pfn;
    uint64_t *free_pfns;
    size_t nfree, free_cap;
    uint8_t **free_bufs; /* storage of freed backed frames */
    size_t nfree_bufs, free_bufs_cap;
    uint8_t **chunks;
    size_t nchunks, chunks_cap;
    uint8_t *chunk_cur;
    unsigned chunk_left;
    uint64_t backed, frames;
    /* A direct-mapped cache of frame number -> storage in front of the
     * index (frame 0 is never used, so 0 marks an empty slot). It only
     * speeds lookups up: it is not part of the memory's value. */
    uint64_t fc_pfn[FRAME_CACHE];
    uint8_t *fc_data[FRAME_CACHE];
};

#define DELETED UINT64_MAX

/* Home slot of frame pfn in an index of mask + 1 slots. */
static size_t slot_hash(uint64_t pfn, size_t mask)
{
    return (size_t)((pfn * 0x9e3779b97f4a7c15ull) >> 20) & mask;
}

/* The index slot of frame pfn, or NULL if it has no storage. */
static frame_slot_t *slot_find(const iommu_mem_t *m, uint64_t pfn)
{
    if (!m->nslots)
        return NULL;
    size_t mask = m->nslots - 1;
    for (size_t i = slot_hash(pfn, mask);; i = (i + 1) & mask) {
        frame_slot_t *s = &m->slots[i];
        if (s->pfn == pfn)
            return s;
        if (s->pfn == 0)
            return NULL;
    }
}

/* The storage of frame pfn, or NULL (through the frame cache). */
static uint8_t *frame_data(const iommu_mem_t *cm, uint64_t pfn)
{
    iommu_mem_t *m = (iommu_mem_t *)cm; /* the cache is not the value */
    unsigned i = (unsigned)(pfn & (FRAME_CACHE - 1));
    if (m->fc_pfn[i] == pfn && pfn)
        return m->fc_data[i];
    frame_slot_t *s = slot_find(m, pfn);
    if (!s)
        return NULL;
    m->fc_pfn[i] = pfn;
    m->fc_data[i] = s->data;
    return s->data;
}

/* Double the index (or rehash it in place when mostly tombstones). */
static int slots_grow(iommu_mem_t *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 1024;
    if (m->used * 4 < m->nslots) /* mostly tombstones: rehash same size */
        n = m->nslots;
    frame_slot_t *s = calloc(n, sizeof(*s));
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        frame_slot_t *o = &m->slots[i];
        if (o->pfn == 0 || o->pfn == DELETED)
            continue;
        size_t j = slot_hash(o->pfn, n - 1);
        while (s[j].pfn)
            j = (j + 1) & (n - 1);
        s[j] = *o;
    }
    free(m->slots);
    m->slots = s;
    m->nslots = n;
    m->tombs = 0;
    return 0;
}

/* Append v to a growable array. Returns 0 or -ENOMEM. */
static int push_u64(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
    if (SIM_GROW(*arr, *cap, *n + 1, 256))
        return -ENOMEM;
    (*arr)[(*n)++] = v;
    return 0;
}

/* Storage for one frame: a recycled buffer or the next of a chunk. */
static uint8_t *frame_storage(iommu_mem_t *m)
{
    if (m->nfree_bufs)
        return m->free_bufs[--m->nfree_bufs];
    if (!m->chunk_left) {
        if (SIM_GROW(m->chunks, m->chunks_cap, m->nchunks + 1, 16))
            return NULL;
        uint8_t *chunk = malloc((size_t)FRAMES_PER_CHUNK * IOMMU_PAGE_SIZE);
        if (!chunk)
            return NULL;
        m->chunks[m->nchunks++] = chunk;
        m->chunk_cur = chunk;
        m->chunk_left = FRAMES_PER_CHUNK;
    }
    uint8_t *p = m->chunk_cur;
    m->chunk_cur += IOMMU_PAGE_SIZE;
    m->chunk_left--;
    return p;
}

iommu_mem_t *iommu_mem_create(void)
{
    iommu_mem_t *m = calloc(1, sizeof(*m));
    if (m)
        m->next_pfn = 1;
    return m;
}

void iommu_mem_destroy(iommu_mem_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nchunks; i++)
        free(m->chunks[i]);
    free(m->chunks);
    free(m->slots);
    free(m->free_pfns);
    free(m->free_bufs);
    free(m);
}

/* Give pfn storage (zeroed) and index it. Returns 0 or -ENOMEM. */
static int frame_back(iommu_mem_t *m, uint64_t pfn)
{
    if ((m->used + m->tombs + 1) * 2 > m->nslots && slots_grow(m))
        return -ENOMEM;
    uint8_t *data = frame_storage(m);
    if (!data)
        return -ENOMEM;
    memset(data, 0, IOMMU_PAGE_SIZE);
    size_t mask = m->nslots - 1;
    size_t i = slot_hash(pfn, mask);
    while (m->slots[i].pfn != 0 && m->slots[i].pfn != DELETED)
        i = (i + 1) & mask;
    if (m->slots[i].pfn == DELETED)
        m->tombs--;
    m->slots[i].pfn = pfn;
    m->slots[i].data = data;
    m->used++;
    m->backed++;
    return 0;
}

uint64_t iommu_mem_alloc(iommu_mem_t *m, bool backed)
{
    uint64_t pfn = m->nfree ? m->free_pfns[--m->nfree] : m->next_pfn++;
    if (backed && frame_back(m, pfn)) {
        push_u64(&m->free_pfns, &m->nfree, &m->free_cap, pfn);
        return 0;
    }
    m->frames++;
    return pfn << IOMMU_PAGE_SHIFT;
}

uint64_t iommu_mem_alloc_range(iommu_mem_t *m, uint64_t nframes, uint64_t align)
{
    if (!nframes || !align || (align & (align - 1)))
        return 0;
    uint64_t first = (m->next_pfn + align - 1) & ~(align - 1);
    if (first + nframes < first || first + nframes > (1ull << 40))
        return 0; /* beyond the 52-bit physical address space */
    /* The frames skipped for alignment go to the free stack. */
    for (uint64_t pfn = m->next_pfn; pfn < first; pfn++)
        if (push_u64(&m->free_pfns, &m->nfree, &m->free_cap, pfn))
            return 0;
    m->next_pfn = first + nframes;
    m->frames += nframes;
    return first << IOMMU_PAGE_SHIFT;
}

int iommu_mem_back(iommu_mem_t *m, uint64_t pa)
{
    uint64_t pfn = pa >> IOMMU_PAGE_SHIFT;
    if (pfn == 0 || pfn >= m->next_pfn)
        return -EINVAL;
    if (slot_find(m, pfn))
        return -EEXIST;
    return frame_back(m, pfn);
}

bool iommu_mem_is_backed(const iommu_mem_t *m, uint64_t pa)
{
    return slot_find(m, pa >> IOMMU_PAGE_SHIFT) != NULL;
}

void iommu_mem_free(iommu_mem_t *m, uint64_t pa)
{
    uint64_t pfn = pa >> IOMMU_PAGE_SHIFT;
    if (pfn == 0)
        return;
    frame_slot_t *s = slot_find(m, pfn);
    if (s) {
        if (SIM_GROW(m->free_bufs, m->free_bufs_cap, m->nfree_bufs + 1, 64))
            return; /* keep the frame: leaking one is harmless */
        m->free_bufs[m->nfree_bufs++] = s->data;
        if (m->fc_pfn[pfn & (FRAME_CACHE - 1)] == pfn)
            m->fc_pfn[pfn & (FRAME_CACHE - 1)] = 0;
        s->pfn = DELETED;
        s->data = NULL;
        m->used--;
        m->tombs++;
        m->backed--;
    }
    if (push_u64(&m->free_pfns, &m->nfree, &m->free_cap, pfn) == 0)
        m->frames--;
}

uint64_t iommu_mem_read64(const iommu_mem_t *m, uint64_t pa)
{
    const uint8_t *d = frame_data(m, pa >> IOMMU_PAGE_SHIFT);
    if (!d)
        return 0;
    uint64_t v;
    memcpy(&v, d + (pa & (IOMMU_PAGE_SIZE - 1) & ~7ull), sizeof(v));
    return v;
}

void iommu_mem_write64(iommu_mem_t *m, uint64_t pa, uint64_t value)
{
    uint8_t *d = frame_data(m, pa >> IOMMU_PAGE_SHIFT);
    if (d)
        memcpy(d + (pa & (IOMMU_PAGE_SIZE - 1) & ~7ull), &value, sizeof(value));
}

uint64_t *iommu_mem_frame(const iommu_mem_t *m, uint64_t pa)
{
    return (uint64_t *)(void *)frame_data(m, pa >> IOMMU_PAGE_SHIFT);
}

uint64_t iommu_mem_backed_frames(const iommu_mem_t *m)
{
    return m->backed;
}

uint64_t iommu_mem_frames(const iommu_mem_t *m)
{
    return m->frames;
}

size_t iommu_mem_host_bytes(const iommu_mem_t *m)
{
    return sizeof(*m) + m->nslots * sizeof(frame_slot_t) +
           m->nchunks * (size_t)FRAMES_PER_CHUNK * IOMMU_PAGE_SIZE +
           m->chunks_cap * sizeof(uint8_t *) + m->free_cap * sizeof(uint64_t) +
           m->free_bufs_cap * sizeof(uint8_t *);
}

/* ------------------------------------------- as page-table memory */

static uint64_t mpt_read(void *ctx, uint64_t a)
{
    return iommu_mem_read64(ctx, a);
}

static void mpt_write(void *ctx, uint64_t a, uint64_t v)
{
    iommu_mem_write64(ctx, a, v);
}

static uint64_t *mpt_frame(void *ctx, uint64_t a)
{
    return iommu_mem_frame(ctx, a);
}

static uint64_t mpt_alloc(void *ctx)
{
    return iommu_mem_alloc(ctx, true);
}

static void mpt_free(void *ctx, uint64_t a)
{
    iommu_mem_free(ctx, a);
}

const iommu_pt_mem_ops_t iommu_mem_pt_ops = {
    .read = mpt_read,
    .write = mpt_write,
    .frame = mpt_frame,
    .alloc = mpt_alloc,
    .free = mpt_free,
};
