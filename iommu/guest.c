/*
 * guest.c - a guest's physical memory: GPAs mapped to host frames by a
 * stage-2 table in host memory. GPA space is handed out by a bump
 * allocator; the guest's own page tables take frames from table chunks,
 * each one stage-2 leaf of 1 << table_shift bytes over a contiguous host
 * block, so that tests and workloads can choose whether the stage-2 walks
 * of stage-1 table pointers end at 4 KiB, 2 MiB or 1 GiB leaves. Storage is
 * given to a host frame only when a table uses it.
 *
 * The guest reaches its table frames through its own memory (the CPU's
 * stage 2, KVM's), which always holds them: the chunks record where each
 * lives in host memory. The IOMMU reaches them through the stage-2 table
 * here, which maps a chunk when it is created, or, with tables on demand
 * (vm.s2_on_demand: the host backs guest memory for the IOMMU on first
 * use), only when the host backs it after a stage-2 fault on a table
 * access (iommu_guest_back_table).
 */
#include <errno.h>
#include <stdlib.h>

#include "iommu/guest.h"

/* GPA space starts at 1 GiB: low GPAs stay free for explicit mappings. */
#define GPA_BASE (1ull << 30)

struct iommu_guest {
    iommu_mem_t *mem;
    iommu_pt_t s2;
    unsigned table_shift;
    uint64_t next_gpa;
    uint64_t chunk_gpa;  /* next unused table frame of the current chunk */
    uint64_t chunk_left; /* frames left in it */
    uint64_t *free_tables;
    size_t nfree, free_cap;
    bool tables_on_demand; /* chunks enter stage 2 on first use */
    /* table chunks by GPA (ascending: GPA space is handed out upwards) */
    struct chunk {
        uint64_t gpa, hpa;
    } * chunks;
    size_t nchunks, chunk_cap;
};

iommu_guest_t *iommu_guest_create(iommu_mem_t *mem, unsigned s2_levels,
                                  unsigned table_shift)
{
    if (table_shift != 12 && table_shift != 21 && table_shift != 30)
        return NULL;
    iommu_guest_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->mem = mem;
    g->table_shift = table_shift;
    g->next_gpa = GPA_BASE;
    if (iommu_pt_init(&g->s2, mem, s2_levels)) {
        free(g);
        return NULL;
    }
    return g;
}

void iommu_guest_destroy(iommu_guest_t *g)
{
    if (!g)
        return;
    iommu_pt_destroy(&g->s2);
    free(g->free_tables);
    free(g->chunks);
    free(g);
}

iommu_pt_t *iommu_guest_s2(iommu_guest_t *g)
{
    return &g->s2;
}

uint64_t iommu_guest_reserve(iommu_guest_t *g, uint64_t len, uint64_t align)
{
    if (align < IOMMU_PAGE_SIZE || (align & (align - 1)) || !len ||
        (len & (IOMMU_PAGE_SIZE - 1)))
        return 0;
    uint64_t gpa = (g->next_gpa + align - 1) & ~(align - 1);
    unsigned bits = iommu_pt_va_bits(g->s2.levels);
    if (gpa < g->next_gpa || gpa + len < gpa || (gpa + len - 1) >> bits)
        return 0;
    g->next_gpa = gpa + len;
    return gpa;
}

int iommu_guest_back(iommu_guest_t *g, uint64_t gpa, uint64_t len,
                     uint64_t attr, unsigned max_shift)
{
    if ((gpa | len) & (IOMMU_PAGE_SIZE - 1) || !len ||
        (max_shift != 12 && max_shift != 21 && max_shift != 30))
        return -EINVAL;
    /* Host frames congruent to the GPAs modulo the largest leaf, so that
     * huge leaves can be used where the GPAs allow them: reserve a range
     * one leaf longer and give back the frames around the part used. */
    uint64_t n = len >> IOMMU_PAGE_SHIFT;
    uint64_t a = 1ull << (max_shift - IOMMU_PAGE_SHIFT);
    uint64_t base = iommu_mem_alloc_range(g->mem, n + a, a);
    if (!base)
        return -ENOMEM;
    uint64_t off = (gpa >> IOMMU_PAGE_SHIFT) & (a - 1);
    for (uint64_t i = 0; i < off; i++)
        iommu_mem_free(g->mem, base + (i << IOMMU_PAGE_SHIFT));
    for (uint64_t i = off + n; i < n + a; i++)
        iommu_mem_free(g->mem, base + (i << IOMMU_PAGE_SHIFT));
    return iommu_pt_map_range(&g->s2, gpa, base + (off << IOMMU_PAGE_SHIFT),
                              len, attr, max_shift);
}

void iommu_guest_set_tables_on_demand(iommu_guest_t *g, bool on_demand)
{
    g->tables_on_demand = on_demand;
}

/* The table chunk holding GPA a, or NULL. */
static const struct chunk *chunk_of(const iommu_guest_t *g, uint64_t a)
{
    size_t lo = 0, hi = g->nchunks;
    uint64_t size = 1ull << g->table_shift;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct chunk *c = &g->chunks[mid];
        if (a < c->gpa)
            hi = mid;
        else if (a - c->gpa >= size)
            lo = mid + 1;
        else
            return c;
    }
    return NULL;
}

/* Map chunk c in stage 2: one leaf of the chunk's size. */
static int map_chunk(iommu_guest_t *g, const struct chunk *c)
{
    return iommu_pt_map(&g->s2, c->gpa, c->hpa, g->table_shift,
                        IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_U);
}

/* Start a new chunk of table frames: GPA space, a host block and (unless
 * tables are on demand) one stage-2 leaf over it. Returns 0 or -ENOMEM. */
static int new_chunk(iommu_guest_t *g)
{
    uint64_t size = 1ull << g->table_shift;
    uint64_t gpa = iommu_guest_reserve(g, size, size);
    uint64_t frames = size >> IOMMU_PAGE_SHIFT;
    uint64_t hpa = gpa ? iommu_mem_alloc_range(g->mem, frames, frames) : 0;
    if (!hpa || SIM_GROW(g->chunks, g->chunk_cap, g->nchunks + 1, 16))
        return -ENOMEM;
    struct chunk *c = &g->chunks[g->nchunks];
    *c = (struct chunk){gpa, hpa};
    if (!g->tables_on_demand && map_chunk(g, c))
        return -ENOMEM;
    g->nchunks++;
    g->chunk_gpa = gpa;
    g->chunk_left = frames;
    return 0;
}

int iommu_guest_back_table(iommu_guest_t *g, uint64_t gpa)
{
    const struct chunk *c = chunk_of(g, gpa);
    if (!c)
        return -ENOENT;
    uint64_t hpa;
    if (iommu_guest_to_host(g, gpa, &hpa) == 0)
        return 0; /* backed already */
    return map_chunk(g, c);
}

/* Host physical address of GPA a as the guest reaches it (its table
 * frames always, other GPAs through stage 2); 0: not reachable. */
static uint64_t gpt_hpa(const iommu_guest_t *g, uint64_t a)
{
    const struct chunk *c = chunk_of(g, a);
    if (c)
        return c->hpa + (a - c->gpa);
    uint64_t hpa;
    return iommu_guest_to_host(g, a, &hpa) ? 0 : hpa;
}

uint64_t iommu_guest_alloc_table(iommu_guest_t *g)
{
    if (g->nfree) {
        uint64_t gpa = g->free_tables[--g->nfree];
        uint64_t hpa = gpt_hpa(g, gpa);
        if (!hpa)
            return 0;
        for (unsigned i = 0; i < 512; i++)
            iommu_mem_write64(g->mem, hpa + i * 8, 0);
        return gpa;
    }
    if (!g->chunk_left && new_chunk(g))
        return 0;
    uint64_t gpa = g->chunk_gpa, hpa = gpt_hpa(g, gpa);
    if (!hpa || iommu_mem_back(g->mem, hpa))
        return 0;
    g->chunk_gpa += IOMMU_PAGE_SIZE;
    g->chunk_left--;
    return gpa;
}

/* Give a table frame back for reuse by the guest's tables. */
static void guest_free_table(iommu_guest_t *g, uint64_t gpa)
{
    if (SIM_GROW(g->free_tables, g->free_cap, g->nfree + 1, 64))
        return; /* the frame stays unused: harmless */
    g->free_tables[g->nfree++] = gpa;
}

int iommu_guest_to_host(const iommu_guest_t *g, uint64_t gpa, uint64_t *hpa)
{
    iommu_walk_t w;
    iommu_pt_walk(&g->s2, gpa, &w);
    if (w.outcome != IOMMU_WALK_OK)
        return -EFAULT;
    *hpa = w.pa;
    return 0;
}

/* ------------------------------------- page-table memory of the guest */

static uint64_t gpt_read(void *ctx, uint64_t a)
{
    const iommu_guest_t *g = ctx;
    uint64_t hpa = gpt_hpa(g, a);
    return hpa ? iommu_mem_read64(g->mem, hpa) : 0;
}

static void gpt_write(void *ctx, uint64_t a, uint64_t v)
{
    iommu_guest_t *g = ctx;
    uint64_t hpa = gpt_hpa(g, a);
    if (hpa)
        iommu_mem_write64(g->mem, hpa, v);
}

static uint64_t *gpt_frame(void *ctx, uint64_t a)
{
    const iommu_guest_t *g = ctx;
    uint64_t hpa = gpt_hpa(g, a);
    return hpa ? iommu_mem_frame(g->mem, hpa) : NULL;
}

static uint64_t gpt_alloc(void *ctx)
{
    return iommu_guest_alloc_table(ctx);
}

static void gpt_free(void *ctx, uint64_t a)
{
    guest_free_table(ctx, a);
}

/* Tables in guest physical memory: each table address goes through the
 * guest's stage 2 (a functional walk, not counted as a table read). */
static const iommu_pt_mem_ops_t guest_pt_ops = {
    .read = gpt_read,
    .write = gpt_write,
    .frame = gpt_frame,
    .alloc = gpt_alloc,
    .free = gpt_free,
};

int iommu_pt_init_guest(iommu_pt_t *pt, iommu_guest_t *g, unsigned levels)
{
    return iommu_pt_init_ops(pt, g->mem, &guest_pt_ops, g, levels);
}

iommu_guest_t *iommu_guest_of(const iommu_pt_t *pt)
{
    return pt->ops == &guest_pt_ops ? pt->ops_ctx : NULL;
}

unsigned iommu_guest_table_path(const iommu_pt_t *pt, uint64_t va,
                                uint64_t *gpa, unsigned max)
{
    const iommu_guest_t *g = iommu_guest_of(pt);
    unsigned n = 0;
    if (!g || (iommu_pt_va_bits(pt->levels) < 64 &&
               (va >> iommu_pt_va_bits(pt->levels))))
        return 0;
    uint64_t table = pt->root;
    for (unsigned level = pt->levels; level >= 1 && n < max; level--) {
        gpa[n++] = table;
        uint64_t pte = gpt_read(
            (void *)g,
            table + ((va >> (IOMMU_PAGE_SHIFT + 9 * (level - 1))) & 511) * 8);
        if (!(pte & IOMMU_PTE_P) || level == 1 || (pte & IOMMU_PTE_PS))
            break;
        table = pte & IOMMU_PTE_ADDR;
    }
    return n;
}
