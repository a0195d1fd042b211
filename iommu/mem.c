/*
 * mem.c - sparse simulated physical memory.
 *
 * Frame numbers are handed out from a counter (frame 0 is never used) and
 * recycled through a free stack. Only backed frames (page tables, queues)
 * have storage: an open-addressing table maps their frame numbers to 4 KiB
 * buffers carved from large chunks, so memory is proportional to the tables
 * in use, not to the address space mapped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"

#define FRAMES_PER_CHUNK 64

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
};

#define DELETED UINT64_MAX

static size_t slot_hash(uint64_t pfn, size_t mask)
{
    return (size_t)((pfn * 0x9e3779b97f4a7c15ull) >> 20) & mask;
}

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

static int push_u64(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        uint64_t *a = realloc(*arr, c * sizeof(**arr));
        if (!a)
            return -ENOMEM;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static uint8_t *frame_storage(iommu_mem_t *m)
{
    if (m->nfree_bufs)
        return m->free_bufs[--m->nfree_bufs];
    if (!m->chunk_left) {
        if (m->nchunks == m->chunks_cap) {
            size_t c = m->chunks_cap ? m->chunks_cap * 2 : 16;
            uint8_t **a = realloc(m->chunks, c * sizeof(*a));
            if (!a)
                return NULL;
            m->chunks = a;
            m->chunks_cap = c;
        }
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

uint64_t iommu_mem_alloc(iommu_mem_t *m, bool backed)
{
    uint64_t pfn = m->nfree ? m->free_pfns[--m->nfree] : m->next_pfn++;
    if (backed) {
        if ((m->used + m->tombs + 1) * 2 > m->nslots && slots_grow(m))
            goto fail;
        uint8_t *data = frame_storage(m);
        if (!data)
            goto fail;
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
    }
    m->frames++;
    return pfn << IOMMU_PAGE_SHIFT;
fail:
    push_u64(&m->free_pfns, &m->nfree, &m->free_cap, pfn);
    return 0;
}

void iommu_mem_free(iommu_mem_t *m, uint64_t pa)
{
    uint64_t pfn = pa >> IOMMU_PAGE_SHIFT;
    if (pfn == 0)
        return;
    frame_slot_t *s = slot_find(m, pfn);
    if (s) {
        if (m->nfree_bufs == m->free_bufs_cap) {
            size_t c = m->free_bufs_cap ? m->free_bufs_cap * 2 : 64;
            uint8_t **a = realloc(m->free_bufs, c * sizeof(*a));
            if (!a)
                return; /* keep the frame: leaking one is harmless */
            m->free_bufs = a;
            m->free_bufs_cap = c;
        }
        m->free_bufs[m->nfree_bufs++] = s->data;
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
    const frame_slot_t *s = slot_find(m, pa >> IOMMU_PAGE_SHIFT);
    if (!s)
        return 0;
    uint64_t v;
    memcpy(&v, s->data + (pa & (IOMMU_PAGE_SIZE - 1) & ~7ull), sizeof(v));
    return v;
}

void iommu_mem_write64(iommu_mem_t *m, uint64_t pa, uint64_t value)
{
    frame_slot_t *s = slot_find(m, pa >> IOMMU_PAGE_SHIFT);
    if (s)
        memcpy(s->data + (pa & (IOMMU_PAGE_SIZE - 1) & ~7ull), &value,
               sizeof(value));
}

uint64_t iommu_mem_backed_frames(const iommu_mem_t *m)
{
    return m->backed;
}

uint64_t iommu_mem_frames(const iommu_mem_t *m)
{
    return m->frames;
}
