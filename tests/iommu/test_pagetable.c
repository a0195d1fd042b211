/*
 * tests/iommu/test_pagetable.c - simulated memory (iommu_mem: frames,
 * aligned ranges, storage on demand) and radix page tables (iommu_pt): map /
 * map_range / unmap / protect / walk with 4 KiB, 2 MiB and 1 GiB leaves on
 * 4- and 5-level tables, the number of table reads per walk, the permission
 * AND along the walk path, the error cases, the unmap callback, tables
 * freed on destroy, guest stage-1 tables in guest physical memory, and a
 * randomised property test against a plain reference model.
 *
 * Expected read counts follow from the radix structure: a walk reads one
 * entry per level from the top down to the level of its leaf, so a leaf at
 * level L of an N-level table costs N - L + 1 reads (4 KiB leaves are level
 * 1, 2 MiB level 2, 1 GiB level 3), and a walk that finds a non-present
 * entry stops after reading it.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/iommu.h"

#define KiB4 (1ull << 12)
#define MiB2 (1ull << 21)
#define GiB1 (1ull << 30)
#define PTE_RW (IOMMU_PTE_R | IOMMU_PTE_W) /* without IOMMU_PTE_U */
#define RWX (IOMMU_PTE_R | IOMMU_PTE_W | IOMMU_PTE_X)

/* Level of the leaf for a page shift. */
static unsigned leaf_level(unsigned shift)
{
    return shift == 12 ? 1 : shift == 21 ? 2 : 3;
}

/* Reads a walk of an N-level table does to reach a leaf of that size. */
static unsigned reads_for(unsigned levels, unsigned shift)
{
    return levels - leaf_level(shift) + 1;
}

/* Address of the entry for va in the top-level table. */
static uint64_t top_entry_addr(const iommu_pt_t *pt, uint64_t va)
{
    unsigned sh = IOMMU_PAGE_SHIFT + 9 * (pt->levels - 1);
    return pt->root + ((va >> sh) & 511) * 8;
}

typedef struct fixture {
    iommu_mem_t *mem;
    iommu_pt_t pt;
} fixture_t;

static void fx_init(fixture_t *f, unsigned levels)
{
    f->mem = iommu_mem_create();
    ck_assert_ptr_nonnull(f->mem);
    ck_assert_int_eq(iommu_pt_init(&f->pt, f->mem, levels), 0);
    ck_assert_uint_eq(f->pt.levels, levels);
    ck_assert_uint_ne(f->pt.root, 0);
}

static void fx_fini(fixture_t *f)
{
    iommu_mem_destroy(f->mem);
}

/* ------------------------------------------------------------- memory */

START_TEST(test_mem_alloc_rw)
{
    iommu_mem_t *m = iommu_mem_create();
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(iommu_mem_frames(m), 0);
    uint64_t a = iommu_mem_alloc(m, true);
    uint64_t b = iommu_mem_alloc(m, true);
    uint64_t d = iommu_mem_alloc(m, false);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(b, 0);
    ck_assert_uint_ne(d, 0);
    ck_assert_uint_ne(a, b);
    ck_assert_uint_ne(a, d);
    ck_assert_uint_eq(a & (KiB4 - 1), 0);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 2);
    ck_assert_uint_eq(iommu_mem_frames(m), 3);
    /* New frames read as zero; writes land only in their own frame. */
    for (unsigned i = 0; i < 512; i++)
        ck_assert_uint_eq(iommu_mem_read64(m, a + i * 8), 0);
    iommu_mem_write64(m, a + 8, 0x1122334455667788ull);
    iommu_mem_write64(m, b + 4088, 42);
    ck_assert_uint_eq(iommu_mem_read64(m, a + 8), 0x1122334455667788ull);
    ck_assert_uint_eq(iommu_mem_read64(m, a + 16), 0);
    ck_assert_uint_eq(iommu_mem_read64(m, b + 4088), 42);
    ck_assert_uint_eq(iommu_mem_read64(m, b + 8), 0);
    /* An unbacked (data) frame has no storage: reads give 0. */
    iommu_mem_write64(m, d, 99);
    ck_assert_uint_eq(iommu_mem_read64(m, d), 0);
    /* Freeing a backed frame gives back its storage; a reused frame is
     * zeroed again. */
    iommu_mem_free(m, a);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 1);
    ck_assert_uint_eq(iommu_mem_frames(m), 2);
    uint64_t c = iommu_mem_alloc(m, true);
    ck_assert_uint_ne(c, 0);
    ck_assert_uint_eq(iommu_mem_read64(m, c + 8), 0);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 2);
    iommu_mem_destroy(m);
}
END_TEST

/* Many backed frames: each keeps its own content (the frame table grows and
 * rehashes underneath). */
START_TEST(test_mem_many_frames)
{
    iommu_mem_t *m = iommu_mem_create();
    enum { N = 5000 };
    uint64_t *pa = malloc(N * sizeof(*pa));
    ck_assert_ptr_nonnull(pa);
    for (unsigned i = 0; i < N; i++) {
        pa[i] = iommu_mem_alloc(m, true);
        ck_assert_uint_ne(pa[i], 0);
        iommu_mem_write64(m, pa[i] + (i % 512) * 8, 0xabc00000ull + i);
    }
    /* Free every third, then allocate again: contents of the others stay. */
    for (unsigned i = 0; i < N; i += 3)
        iommu_mem_free(m, pa[i]);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), N - (N + 2) / 3);
    for (unsigned i = 0; i < N; i += 3) {
        pa[i] = iommu_mem_alloc(m, true);
        ck_assert_uint_eq(iommu_mem_read64(m, pa[i] + (i % 512) * 8), 0);
        iommu_mem_write64(m, pa[i] + (i % 512) * 8, 0xabc00000ull + i);
    }
    ck_assert_uint_eq(iommu_mem_backed_frames(m), N);
    for (unsigned i = 0; i < N; i++)
        ck_assert_uint_eq(iommu_mem_read64(m, pa[i] + (i % 512) * 8),
                          0xabc00000ull + i);
    free(pa);
    iommu_mem_destroy(m);
}
END_TEST

/* -------------------------------------------------------------- init */

START_TEST(test_pt_init_levels)
{
    iommu_mem_t *m = iommu_mem_create();
    iommu_pt_t pt;
    ck_assert_int_eq(iommu_pt_init(&pt, m, 1), -EINVAL);
    ck_assert_int_eq(iommu_pt_init(&pt, m, 6), -EINVAL);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 0);
    ck_assert_int_eq(iommu_pt_init(&pt, m, 4), 0);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 1);
    ck_assert_uint_eq(iommu_pt_va_bits(4), 48);
    ck_assert_uint_eq(iommu_pt_va_bits(5), 57);
    iommu_mem_destroy(m);
}
END_TEST

/* ------------------------------------------------------ walk counts */

/* Map one leaf of each size and walk it: reads = levels - leaf level + 1;
 * the translation keeps the offset inside the page. Runs for 4 and 5
 * levels (_i is the level count). */
START_TEST(test_walk_reads_per_leaf_size)
{
    unsigned levels = (unsigned)_i;
    fixture_t f;
    fx_init(&f, levels);
    /* Three addresses in different top-level (512 GiB) regions. */
    const struct {
        uint64_t va, pa;
        unsigned shift;
    } m[] = {
        {0x0000001234567000ull, 0x0000000abcdef000ull, 12},
        {0x0000010000200000ull, 0x0000004000400000ull, 21},
        {0x0000020040000000ull, 0x0000008000000000ull, 30},
    };
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(
            iommu_pt_map(&f.pt, m[i].va, m[i].pa, m[i].shift, PTE_RW), 0);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t size = 1ull << m[i].shift;
        uint64_t offs[] = {0, 0x123, size - 8};
        for (unsigned k = 0; k < 3; k++) {
            iommu_walk_t w;
            iommu_pt_walk(&f.pt, m[i].va + offs[k], &w);
            ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
            ck_assert_uint_eq(w.reads, reads_for(levels, m[i].shift));
            ck_assert_uint_eq(w.shift, m[i].shift);
            ck_assert_uint_eq(w.pa, m[i].pa + offs[k]);
            ck_assert_uint_eq(w.perm, PTE_RW);
        }
    }
    /* The expected numbers spelled out for the 4-level case. */
    if (levels == 4) {
        ck_assert_uint_eq(reads_for(4, 12), 4);
        ck_assert_uint_eq(reads_for(4, 21), 3);
        ck_assert_uint_eq(reads_for(4, 30), 2);
    }
    fx_fini(&f);
}
END_TEST

/* Not-present walks stop at the first non-present entry. */
START_TEST(test_walk_not_present_reads)
{
    unsigned levels = (unsigned)_i;
    fixture_t f;
    fx_init(&f, levels);
    iommu_walk_t w;
    /* Empty table: the top entry is not present -> 1 read. */
    iommu_pt_walk(&f.pt, 0x7f0000001000ull, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(w.reads, 1);

    /* A 4 KiB neighbour makes every table down to level 1 exist, so the
     * page next to it is missing only at the leaf: `levels` reads. */
    uint64_t va = 0x7f0000200000ull;
    ck_assert_int_eq(iommu_pt_map(&f.pt, va, 0x5000, 12, PTE_RW), 0);
    iommu_pt_walk(&f.pt, va + KiB4, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(w.reads, levels);
    /* Another 2 MiB region of the same 1 GiB: missing at level 2. */
    iommu_pt_walk(&f.pt, va + MiB2, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(w.reads, levels - 1);
    /* Another 1 GiB region of the same 512 GiB: missing at level 3. */
    iommu_pt_walk(&f.pt, va + GiB1, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(w.reads, levels - 2);
    /* An address beyond the input width reads nothing and faults. */
    iommu_pt_walk(&f.pt, 1ull << iommu_pt_va_bits(levels), &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(w.reads, 0);
    fx_fini(&f);
}
END_TEST

/* 5-level tables translate addresses above 2^48; 4-level ones reject them. */
START_TEST(test_five_level_high_addresses)
{
    fixture_t f4, f5;
    fx_init(&f4, 4);
    fx_init(&f5, 5);
    uint64_t va = (1ull << 56) | (3ull << 48) | 0x200000ull;
    ck_assert_int_eq(iommu_pt_map(&f4.pt, va, 0x400000, 21, PTE_RW), -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f5.pt, va, 0x400000, 21, PTE_RW), 0);
    iommu_walk_t w;
    iommu_pt_walk(&f5.pt, va + 0x1234, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.pa, 0x401234);
    ck_assert_uint_eq(w.reads, reads_for(5, 21));
    /* The same low 48 bits in the 5-level table are a different address. */
    iommu_pt_walk(&f5.pt, va & ((1ull << 48) - 1), &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    /* 2^57 is beyond the 5-level width. */
    ck_assert_int_eq(iommu_pt_map(&f5.pt, 1ull << 57, 0x1000, 12, PTE_RW),
                     -EINVAL);
    fx_fini(&f4);
    fx_fini(&f5);
}
END_TEST

/* -------------------------------------------------------- permissions */

START_TEST(test_perm_leaf)
{
    fixture_t f;
    fx_init(&f, 4);
    const uint64_t perms[] = {IOMMU_PTE_R, IOMMU_PTE_R | IOMMU_PTE_W,
                              IOMMU_PTE_R | IOMMU_PTE_X,
                              IOMMU_PTE_R | IOMMU_PTE_U, 0};
    for (unsigned i = 0; i < 5; i++) {
        uint64_t va = 0x10000000ull + i * KiB4;
        /* Bits outside R/W/X/U (A, D, PS, address bits) are not a
         * permission and must not leak into the result. */
        ck_assert_int_eq(iommu_pt_map(&f.pt, va, 0x80000 + i * KiB4, 12,
                                      perms[i] | IOMMU_PTE_A | IOMMU_PTE_D),
                         0);
        iommu_walk_t w;
        iommu_pt_walk(&f.pt, va, &w);
        ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
        ck_assert_uint_eq(w.perm, perms[i]);
        ck_assert_uint_eq(w.pa, 0x80000 + i * KiB4);
    }
    fx_fini(&f);
}
END_TEST

/* The effective permission is the AND of every entry on the path: clear W
 * (then X) in the top-level entry and the leaf's W is no longer granted. */
START_TEST(test_perm_and_along_path)
{
    fixture_t f;
    fx_init(&f, (unsigned)_i);
    /* `other` sits under another top-level entry (each covers 512 GiB with
     * 4 levels, 256 TiB with 5). */
    uint64_t va = 0x7f0000000000ull;
    uint64_t other = f.pt.levels == 5 ? 1ull << 50 : 0x000000400000ull;
    ck_assert_int_eq(iommu_pt_map(&f.pt, va, 0x9000, 12, RWX), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, va + MiB2, 0x400000, 21, RWX), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, other, 0xa000, 12, RWX), 0);
    uint64_t a = top_entry_addr(&f.pt, va);
    ck_assert_uint_ne(a, top_entry_addr(&f.pt, other));
    uint64_t pte = iommu_mem_read64(f.mem, a);
    ck_assert_uint_ne(pte & IOMMU_PTE_P, 0);
    iommu_mem_write64(f.mem, a, pte & ~IOMMU_PTE_W);
    iommu_walk_t w;
    iommu_pt_walk(&f.pt, va, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R | IOMMU_PTE_X);
    iommu_pt_walk(&f.pt, va + MiB2 + 0x42, &w);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R | IOMMU_PTE_X);
    ck_assert_uint_eq(w.pa, 0x400042);
    iommu_mem_write64(f.mem, a, pte & ~(IOMMU_PTE_W | IOMMU_PTE_X));
    iommu_pt_walk(&f.pt, va, &w);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R);
    /* An address under another top-level entry keeps everything. */
    iommu_pt_walk(&f.pt, other, &w);
    ck_assert_uint_eq(w.perm, RWX);
    /* Clearing P in the top-level entry hides the whole subtree. */
    iommu_mem_write64(f.mem, a, pte & ~IOMMU_PTE_P);
    iommu_pt_walk(&f.pt, va, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    ck_assert_uint_eq(w.reads, 1);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(test_map_einval)
{
    fixture_t f;
    fx_init(&f, 4);
    uint64_t backed = iommu_mem_backed_frames(f.mem);
    /* Unsupported sizes. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0, 0, 13, PTE_RW), -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0, 0, 39, PTE_RW), -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0, 0, 0, PTE_RW), -EINVAL);
    /* Misaligned va or pa for the size. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x1800, 0x2000, 12, PTE_RW), -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x1000, 0x2800, 12, PTE_RW), -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x201000, 0x200000, 21, PTE_RW),
                     -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x200000, 0x201000, 21, PTE_RW),
                     -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, GiB1 + MiB2, 0, 30, PTE_RW), -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, GiB1, MiB2, 30, PTE_RW), -EINVAL);
    /* Beyond the 48-bit width. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 1ull << 48, 0x1000, 12, PTE_RW),
                     -EINVAL);
    ck_assert_int_eq(iommu_pt_map(&f.pt, ~0ull << 12, 0x1000, 12, PTE_RW),
                     -EINVAL);
    /* Nothing was built for the rejected maps. */
    ck_assert_uint_eq(iommu_mem_backed_frames(f.mem), backed);
    /* The last page under the width is fine. */
    ck_assert_int_eq(
        iommu_pt_map(&f.pt, (1ull << 48) - KiB4, 0x1000, 12, PTE_RW), 0);
    /* unmap: beyond the width, or wrapping. */
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, 1ull << 48, KiB4, NULL, NULL),
                     -EINVAL);
    ck_assert_int_eq(
        iommu_pt_unmap(&f.pt, (1ull << 48) - KiB4, 2 * KiB4, NULL, NULL),
        -EINVAL);
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, 0x1000, 0, NULL, NULL), 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_map_eexist)
{
    fixture_t f;
    fx_init(&f, 4);
    iommu_walk_t w;
    /* A 4 KiB page inside an existing 2 MiB leaf. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x40000000, 0x80000000, 21, PTE_RW),
                     0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x40001000, 0x1000, 12, PTE_RW),
                     -EEXIST);
    /* A 4 KiB page inside an existing 1 GiB leaf; a 2 MiB leaf too. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 2 * GiB1, 4 * GiB1, 30, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 2 * GiB1 + KiB4, 0x1000, 12, PTE_RW),
                     -EEXIST);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 2 * GiB1 + MiB2, MiB2, 21, PTE_RW),
                     -EEXIST);
    /* A 2 MiB leaf where a table of 4 KiB pages exists. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x60001000, 0x1000, 12, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x60000000, 0x200000, 21, PTE_RW),
                     -EEXIST);
    /* A 1 GiB leaf where a table of 2 MiB pages exists. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x40000000, 0, 30, PTE_RW), -EEXIST);
    /* The existing mappings are untouched by the refused ones. */
    iommu_pt_walk(&f.pt, 0x40001000, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.shift, 21);
    ck_assert_uint_eq(w.pa, 0x80001000);
    iommu_pt_walk(&f.pt, 2 * GiB1 + MiB2 + 5, &w);
    ck_assert_uint_eq(w.shift, 30);
    ck_assert_uint_eq(w.pa, 4 * GiB1 + MiB2 + 5);
    iommu_pt_walk(&f.pt, 0x60001000, &w);
    ck_assert_uint_eq(w.shift, 12);
    iommu_pt_walk(&f.pt, 0x60000000, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    fx_fini(&f);
}
END_TEST

/* Mapping a leaf of the same size again replaces it. */
START_TEST(test_map_replace_same_size)
{
    fixture_t f;
    fx_init(&f, 4);
    iommu_walk_t w;
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x3000, 0x7000, 12, IOMMU_PTE_R), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, 0x3000, 0x9000, 12, PTE_RW), 0);
    iommu_pt_walk(&f.pt, 0x3010, &w);
    ck_assert_uint_eq(w.pa, 0x9010);
    ck_assert_uint_eq(w.perm, PTE_RW);
    ck_assert_int_eq(iommu_pt_map(&f.pt, MiB2, 0x400000, 21, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, MiB2, 0x800000, 21, IOMMU_PTE_R), 0);
    iommu_pt_walk(&f.pt, MiB2 + 0x10, &w);
    ck_assert_uint_eq(w.pa, 0x800010);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------- unmap */

typedef struct leaf_log {
    unsigned n;
    uint64_t va[64], pa[64];
    unsigned shift[64];
} leaf_log_t;

static void log_leaf(void *opaque, uint64_t va, uint64_t pa, unsigned shift)
{
    leaf_log_t *l = opaque;
    ck_assert_uint_lt(l->n, 64);
    l->va[l->n] = va;
    l->pa[l->n] = pa;
    l->shift[l->n] = shift;
    l->n++;
}

/* Index of va in the log, or -1. */
static int leaf_find(const leaf_log_t *l, uint64_t va)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->va[i] == va)
            return (int)i;
    return -1;
}

START_TEST(test_unmap_callback_each_leaf)
{
    fixture_t f;
    fx_init(&f, (unsigned)_i);
    /* Inside [base, base + 2 GiB): three 4 KiB pages, one 2 MiB page, and
     * one 1 GiB page; outside: one page on each side. */
    uint64_t base = 0x0000008000000000ull; /* 512 GiB */
    const struct {
        uint64_t va, pa;
        unsigned shift;
    } in[] = {
        {base + 0x1000, 0x11000, 12},      {base + 0x5000, 0x15000, 12},
        {base + MiB2 - KiB4, 0x1f000, 12}, {base + MiB2, 0x600000, 21},
        {base + GiB1, 0x40000000, 30},
    };
    for (unsigned i = 0; i < 5; i++)
        ck_assert_int_eq(
            iommu_pt_map(&f.pt, in[i].va, in[i].pa, in[i].shift, PTE_RW), 0);
    uint64_t len = 2 * GiB1;
    ck_assert_int_eq(iommu_pt_map(&f.pt, base - KiB4, 0x99000, 12, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, base + len, 0x98000, 12, PTE_RW), 0);

    leaf_log_t log = {0};
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, base, len, log_leaf, &log), 0);
    ck_assert_uint_eq(log.n, 5);
    for (unsigned i = 0; i < 5; i++) {
        int k = leaf_find(&log, in[i].va);
        ck_assert_int_ge(k, 0);
        ck_assert_uint_eq(log.pa[k], in[i].pa);
        ck_assert_uint_eq(log.shift[k], in[i].shift);
        iommu_walk_t w;
        iommu_pt_walk(&f.pt, in[i].va, &w);
        ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    }
    iommu_walk_t w;
    iommu_pt_walk(&f.pt, base - KiB4, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    iommu_pt_walk(&f.pt, base + len, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    /* Unmapping again removes nothing. */
    log.n = 0;
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, base, len, log_leaf, &log), 0);
    ck_assert_uint_eq(log.n, 0);
    fx_fini(&f);
}
END_TEST

/* A huge leaf only partly inside the range is -EINVAL and stays mapped;
 * the whole leaves in the same range are still removed. */
START_TEST(test_unmap_partial_huge)
{
    fixture_t f;
    fx_init(&f, 4);
    iommu_walk_t w;
    uint64_t h2 = 0x40000000ull + MiB2, h1 = 4 * GiB1;
    ck_assert_int_eq(iommu_pt_map(&f.pt, h2, 0x800000, 21, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, h1, 8 * GiB1, 30, PTE_RW), 0);
    leaf_log_t log = {0};
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, h2 + KiB4, KiB4, log_leaf, &log),
                     -EINVAL);
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, h2, MiB2 - KiB4, log_leaf, &log),
                     -EINVAL);
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, h1 + MiB2, MiB2, log_leaf, &log),
                     -EINVAL);
    ck_assert_uint_eq(log.n, 0);
    iommu_pt_walk(&f.pt, h2 + KiB4, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.pa, 0x801000);
    iommu_pt_walk(&f.pt, h1 + MiB2, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    /* A range holding a whole 4 KiB page and half of the 2 MiB page. */
    ck_assert_int_eq(iommu_pt_map(&f.pt, h2 - KiB4, 0x3000, 12, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, h2 - KiB4, 2 * KiB4, log_leaf, &log),
                     -EINVAL);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(log.va[0], h2 - KiB4);
    iommu_pt_walk(&f.pt, h2 - KiB4, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    iommu_pt_walk(&f.pt, h2, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    /* The whole huge pages unmap fine. */
    log.n = 0;
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, h2, MiB2, log_leaf, &log), 0);
    ck_assert_int_eq(iommu_pt_unmap(&f.pt, h1, GiB1, log_leaf, &log), 0);
    ck_assert_uint_eq(log.n, 2);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------ memory */

/* Tables needed to hold a set of 4 KiB pages: the root, plus one table per
 * distinct region each level below covers. Computed from the addresses. */
static uint64_t tables_needed(const uint64_t *va, unsigned n, unsigned levels)
{
    uint64_t total = 1;
    for (unsigned level = levels - 1; level >= 1; level--) {
        /* A table at `level` covers 2^(12 + 9 * level) bytes. */
        unsigned sh = IOMMU_PAGE_SHIFT + 9 * level;
        for (unsigned i = 0; i < n; i++) {
            bool seen = false;
            for (unsigned j = 0; j < i && !seen; j++)
                seen = (va[j] >> sh) == (va[i] >> sh);
            if (!seen)
                total++;
        }
    }
    return total;
}

START_TEST(test_memory_grows_with_tables_only)
{
    unsigned levels = (unsigned)_i;
    fixture_t f;
    fx_init(&f, levels);
    ck_assert_uint_eq(iommu_mem_backed_frames(f.mem), 1);
    /* 512 pages in one 2 MiB region: only the path of tables is built. */
    enum { N = 1024 };
    uint64_t *va = malloc(N * sizeof(*va));
    ck_assert_ptr_nonnull(va);
    uint64_t base = 0x7f0000000000ull;
    for (unsigned i = 0; i < 512; i++) {
        va[i] = base + i * KiB4;
        uint64_t pa = iommu_mem_alloc(f.mem, false);
        ck_assert_int_eq(iommu_pt_map(&f.pt, va[i], pa, 12, PTE_RW), 0);
    }
    ck_assert_uint_eq(iommu_mem_backed_frames(f.mem),
                      tables_needed(va, 512, levels));
    ck_assert_uint_eq(iommu_mem_backed_frames(f.mem), levels);
    /* 512 more, spread: one per 2 MiB region over 1 GiB and beyond. */
    for (unsigned i = 512; i < N; i++) {
        va[i] = base + (uint64_t)(i - 512) * MiB2 * 3 + KiB4 * (i % 7);
        uint64_t pa = iommu_mem_alloc(f.mem, false);
        ck_assert_int_eq(iommu_pt_map(&f.pt, va[i], pa, 12, PTE_RW), 0);
    }
    uint64_t tables = tables_needed(va, N, levels);
    ck_assert_uint_eq(iommu_mem_backed_frames(f.mem), tables);
    /* Data frames are counted but have no storage. */
    ck_assert_uint_eq(iommu_mem_frames(f.mem), tables + N);
    /* Huge leaves cost no table below their level. */
    uint64_t before = iommu_mem_backed_frames(f.mem);
    ck_assert_int_eq(
        iommu_pt_map(&f.pt, base + 2000 * MiB2, 0x400000000ull, 21, PTE_RW), 0);
    ck_assert_uint_le(iommu_mem_backed_frames(f.mem) - before, levels - 2);
    free(va);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------- builder: ranges, guests */

/* map_range picks the largest leaf that address, output and the remaining
 * length allow: a 4 KiB head up to the first 2 MiB boundary, 2 MiB leaves,
 * a 1 GiB leaf where both sides are 1 GiB aligned, and a 4 KiB tail. */
START_TEST(test_map_range_leaf_sizes)
{
    fixture_t f;
    fx_init(&f, 4);
    uint64_t va = 0x7f0000000000ull + GiB1 - MiB2 - 2 * KiB4;
    uint64_t pa = 0x100000000ull + GiB1 - MiB2 - 2 * KiB4;
    uint64_t len = 2 * KiB4 + MiB2 + GiB1 + MiB2 + KiB4;
    ck_assert_int_eq(iommu_pt_map_range(&f.pt, va, pa, len, PTE_RW, 30), 0);
    static const struct {
        uint64_t off;
        unsigned shift;
    } want[] = {{0, 12},
                {KiB4, 12},
                {2 * KiB4, 21},
                {2 * KiB4 + MiB2, 30},
                {2 * KiB4 + MiB2 + GiB1, 21},
                {2 * KiB4 + 2 * MiB2 + GiB1, 12}};
    for (unsigned i = 0; i < 6; i++) {
        iommu_walk_t w;
        iommu_pt_walk(&f.pt, va + want[i].off + 8, &w);
        ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
        ck_assert_uint_eq(w.shift, want[i].shift);
        ck_assert_uint_eq(w.pa, pa + want[i].off + 8);
    }
    iommu_walk_t w;
    iommu_pt_walk(&f.pt, va + len, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    /* Capped at 2 MiB: no 1 GiB leaf. */
    ck_assert_int_eq(
        iommu_pt_map_range(&f.pt, 0x7f8000000000ull, 0, GiB1, PTE_RW, 21), 0);
    iommu_pt_walk(&f.pt, 0x7f8000000000ull + GiB1 - 1, &w);
    ck_assert_uint_eq(w.shift, 21);
    ck_assert_int_eq(iommu_pt_map_range(&f.pt, 0x10, 0, KiB4, PTE_RW, 12),
                     -EINVAL);
    ck_assert_int_eq(iommu_pt_map_range(&f.pt, 0, 0, KiB4, PTE_RW, 13),
                     -EINVAL);
    fx_fini(&f);
}
END_TEST

/* protect changes the attributes of the leaves fully inside the range
 * (A and D included) and leaves a huge leaf only partly inside alone. */
START_TEST(test_protect)
{
    fixture_t f;
    fx_init(&f, 4);
    uint64_t va = 0x40000000ull;
    ck_assert_int_eq(iommu_pt_map(&f.pt, va, 0x200000, 21, PTE_RW), 0);
    ck_assert_int_eq(iommu_pt_map(&f.pt, va + MiB2, 0x9000, 12,
                                  PTE_RW | IOMMU_PTE_A | IOMMU_PTE_D),
                     0);
    ck_assert_int_eq(iommu_pt_protect(&f.pt, va + MiB2, KiB4, IOMMU_PTE_R), 0);
    iommu_walk_t w;
    iommu_pt_walk(&f.pt, va + MiB2, &w);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R);
    ck_assert_uint_eq(w.pte & (IOMMU_PTE_A | IOMMU_PTE_D), 0);
    ck_assert_uint_eq(w.pa, 0x9000);
    ck_assert_int_eq(
        iommu_pt_protect(&f.pt, va, MiB2 + KiB4, IOMMU_PTE_R | IOMMU_PTE_A), 0);
    iommu_pt_walk(&f.pt, va + 0x1234, &w);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R);
    ck_assert_uint_ne(w.pte & IOMMU_PTE_A, 0);
    ck_assert_uint_eq(w.shift, 21);
    ck_assert_int_eq(iommu_pt_protect(&f.pt, va, KiB4, PTE_RW), -EINVAL);
    iommu_pt_walk(&f.pt, va, &w);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R);
    fx_fini(&f);
}
END_TEST

/* Destroying a table frees every table frame (and only those). */
START_TEST(test_destroy_frees_tables)
{
    fixture_t f;
    fx_init(&f, 4);
    for (unsigned i = 0; i < 64; i++)
        ck_assert_int_eq(iommu_pt_map(&f.pt, 0x7f0000000000ull + i * GiB1 / 4,
                                      0x1000, 12, PTE_RW),
                         0);
    ck_assert_uint_gt(iommu_mem_backed_frames(f.mem), 64);
    iommu_pt_destroy(&f.pt);
    ck_assert_uint_eq(iommu_mem_backed_frames(f.mem), 0);
    ck_assert_uint_eq(f.pt.root, 0);
    fx_fini(&f);
}
END_TEST

/* Reserved ranges are contiguous and aligned, have no storage until
 * given it, and cost host memory only for what is backed. */
START_TEST(test_mem_ranges)
{
    iommu_mem_t *m = iommu_mem_create();
    ck_assert_ptr_nonnull(m);
    uint64_t a = iommu_mem_alloc(m, true);
    uint64_t r = iommu_mem_alloc_range(m, 512, 512);
    ck_assert_uint_ne(r, 0);
    ck_assert_uint_eq(r & (MiB2 - 1), 0);
    ck_assert_uint_gt(r, a);
    ck_assert_uint_eq(iommu_mem_frames(m), 1 + 512);
    ck_assert(!iommu_mem_is_backed(m, r + 5 * KiB4));
    iommu_mem_write64(m, r + 5 * KiB4, 42); /* lost: no storage */
    ck_assert_uint_eq(iommu_mem_read64(m, r + 5 * KiB4), 0);
    ck_assert_int_eq(iommu_mem_back(m, r + 5 * KiB4), 0);
    ck_assert_int_eq(iommu_mem_back(m, r + 5 * KiB4), -EEXIST);
    iommu_mem_write64(m, r + 5 * KiB4 + 8, 42);
    ck_assert_uint_eq(iommu_mem_read64(m, r + 5 * KiB4 + 8), 42);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 2);
    /* The frames skipped for alignment are handed out next. */
    uint64_t b = iommu_mem_alloc(m, false);
    ck_assert_uint_lt(b, r);
    ck_assert_uint_eq(iommu_mem_alloc_range(m, 1, 3), 0); /* not a power */
    size_t host = iommu_mem_host_bytes(m);
    ck_assert_uint_ge(host, 2 * KiB4);
    ck_assert_uint_lt(host, 1u << 22); /* 512 reserved frames cost nothing */
    iommu_mem_destroy(m);
}
END_TEST

/* A guest: its stage-1 table lives in guest physical memory (the root
 * is a GPA, every table frame is mapped by stage 2 with a leaf of the
 * chunk size); data GPAs are backed through stage 2. */
START_TEST(test_guest_tables)
{
    static const unsigned shifts[] = {12, 21, 30};
    unsigned tsh = shifts[_i];
    iommu_mem_t *m = iommu_mem_create();
    iommu_guest_t *g = iommu_guest_create(m, 4, tsh);
    ck_assert_ptr_nonnull(g);
    iommu_pt_t s1;
    ck_assert_int_eq(iommu_pt_init_guest(&s1, g, 4), 0);
    ck_assert_ptr_eq(iommu_guest_of(&s1), g);
    uint64_t hpa;
    ck_assert_int_eq(iommu_guest_to_host(g, s1.root, &hpa), 0);
    ck_assert(iommu_mem_is_backed(m, hpa));
    iommu_walk_t w;
    iommu_pt_walk(iommu_guest_s2(g), s1.root, &w);
    ck_assert_uint_eq(w.shift, tsh);
    /* Data: 4 MiB of GPA, backed with 2 MiB stage-2 leaves. */
    uint64_t gpa = iommu_guest_reserve(g, 2 * MiB2, MiB2);
    ck_assert_uint_ne(gpa, 0);
    ck_assert_int_eq(iommu_guest_to_host(g, gpa, &hpa), -EFAULT);
    ck_assert_int_eq(iommu_guest_back(g, gpa, 2 * MiB2, PTE_RW, 21), 0);
    iommu_pt_walk(iommu_guest_s2(g), gpa + MiB2 + 0x123, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.shift, 21);
    ck_assert_uint_eq(w.pa & (MiB2 - 1), 0x123);
    /* Stage-1 mappings to those GPAs; the guest walk gives GPAs. */
    ck_assert_int_eq(
        iommu_pt_map(&s1, 0x7f0000000000ull, gpa + KiB4, 12, PTE_RW), 0);
    ck_assert_int_eq(
        iommu_pt_map(&s1, 0x7f0000200000ull, gpa + MiB2, 21, PTE_RW), 0);
    iommu_pt_walk(&s1, 0x7f0000000010ull, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.pa, gpa + KiB4 + 0x10);
    iommu_pt_walk(&s1, 0x7f0000300000ull, &w);
    ck_assert_uint_eq(w.pa, gpa + MiB2 + MiB2 / 2);
    /* Unmap, protect and destroy work through stage 2 as well. */
    ck_assert_int_eq(
        iommu_pt_protect(&s1, 0x7f0000000000ull, KiB4, IOMMU_PTE_R), 0);
    iommu_pt_walk(&s1, 0x7f0000000000ull, &w);
    ck_assert_uint_eq(w.perm, IOMMU_PTE_R);
    ck_assert_int_eq(iommu_pt_unmap(&s1, 0x7f0000000000ull, MiB2, NULL, NULL),
                     0);
    iommu_pt_walk(&s1, 0x7f0000000000ull, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
    uint64_t backed = iommu_mem_backed_frames(m);
    iommu_pt_destroy(&s1);
    /* Guest table frames keep their storage for reuse: a new table takes
     * one of them. */
    ck_assert_uint_eq(iommu_mem_backed_frames(m), backed);
    iommu_pt_t s1b;
    ck_assert_int_eq(iommu_pt_init_guest(&s1b, g, 5), 0);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), backed);
    iommu_pt_walk(&s1b, 0x1000, &w);
    ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT); /* zeroed */
    iommu_guest_destroy(g);
    iommu_mem_destroy(m);
}
END_TEST

/* ------------------------------------------------- randomised property */

/* splitmix64: the test's own deterministic generator. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Reference: one slot per page of each window. */
typedef struct ref_page {
    bool valid;
    uint64_t pa;
    uint64_t perm;
} ref_page_t;

#define W4K_PAGES 4096u /* 16 MiB window of 4 KiB pages */
#define W2M_PAGES 64u   /* 128 MiB window of 2 MiB pages */
#define W1G_PAGES 4u    /* 4 GiB window of 1 GiB pages */

typedef struct model {
    uint64_t base4k, base2m, base1g;
    ref_page_t p4k[W4K_PAGES], p2m[W2M_PAGES], p1g[W1G_PAGES];
} model_t;

typedef struct unmap_check {
    const model_t *m;
    unsigned shift;
    unsigned count;
    bool bad;
} unmap_check_t;

/* The unmap callback must only report leaves the reference holds, with
 * the reference's physical address. */
static void check_leaf(void *opaque, uint64_t va, uint64_t pa, unsigned shift)
{
    unmap_check_t *c = opaque;
    const model_t *m = c->m;
    const ref_page_t *r = NULL;
    if (shift == 12 && va >= m->base4k && va < m->base4k + W4K_PAGES * KiB4)
        r = &m->p4k[(va - m->base4k) >> 12];
    else if (shift == 21 && va >= m->base2m &&
             va < m->base2m + W2M_PAGES * MiB2)
        r = &m->p2m[(va - m->base2m) >> 21];
    else if (shift == 30 && va >= m->base1g &&
             va < m->base1g + W1G_PAGES * GiB1)
        r = &m->p1g[(va - m->base1g) >> 30];
    if (!r || !r->valid || r->pa != pa || shift != c->shift)
        c->bad = true;
    c->count++;
}

static const uint64_t perm_choices[] = {
    IOMMU_PTE_R,          PTE_RW, IOMMU_PTE_R | IOMMU_PTE_X, RWX,
    PTE_RW | IOMMU_PTE_U, 0};

/* Compare a walk of va with the reference. */
static void check_walk(const iommu_pt_t *pt, const model_t *m, uint64_t va,
                       unsigned levels)
{
    const ref_page_t *r = NULL;
    unsigned shift = 0;
    if (va >= m->base4k && va < m->base4k + W4K_PAGES * KiB4) {
        r = &m->p4k[(va - m->base4k) >> 12];
        shift = 12;
    } else if (va >= m->base2m && va < m->base2m + W2M_PAGES * MiB2) {
        r = &m->p2m[(va - m->base2m) >> 21];
        shift = 21;
    } else {
        r = &m->p1g[(va - m->base1g) >> 30];
        shift = 30;
    }
    iommu_walk_t w;
    iommu_pt_walk(pt, va, &w);
    if (!r->valid) {
        ck_assert_int_eq(w.outcome, IOMMU_WALK_S1_NOT_PRESENT);
        ck_assert_uint_le(w.reads, reads_for(levels, shift));
        return;
    }
    ck_assert_int_eq(w.outcome, IOMMU_WALK_OK);
    ck_assert_uint_eq(w.shift, shift);
    ck_assert_uint_eq(w.pa, r->pa + (va & ((1ull << shift) - 1)));
    ck_assert_uint_eq(w.perm, r->perm);
    ck_assert_uint_eq(w.reads, reads_for(levels, shift));
}

START_TEST(test_random_against_reference)
{
    unsigned levels = (unsigned)_i;
    fixture_t f;
    fx_init(&f, levels);
    model_t *m = calloc(1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    /* Three windows in separate top-level regions; with 5 levels one of
     * them sits above 2^48. */
    m->base4k = 0x00007f0000000000ull;
    m->base2m = 0x0000100000000000ull;
    m->base1g = levels == 5 ? 0x0100000000000000ull : 0x0000200000000000ull;
    uint64_t seed = 0x5eed1234abcdull + levels;
    const unsigned ops = 120000;
    unsigned maps = 0, unmaps = 0, walks = 0, partials = 0, removed = 0;
    for (unsigned op = 0; op < ops; op++) {
        uint64_t r = rnd(&seed);
        unsigned kind = (unsigned)(r % 100);
        unsigned win = (unsigned)((r >> 8) % 10); /* 0-6: 4K, 7-8: 2M, 9: 1G */
        uint64_t perm = perm_choices[(r >> 16) % 6];
        ref_page_t *pages;
        uint64_t base, npages, size;
        unsigned shift;
        if (win <= 6) {
            pages = m->p4k, base = m->base4k, npages = W4K_PAGES, shift = 12;
        } else if (win <= 8) {
            pages = m->p2m, base = m->base2m, npages = W2M_PAGES, shift = 21;
        } else {
            pages = m->p1g, base = m->base1g, npages = W1G_PAGES, shift = 30;
        }
        size = 1ull << shift;
        if (kind < 40) {
            /* map one page (or replace it) */
            uint64_t i = rnd(&seed) % npages;
            uint64_t pa = (rnd(&seed) % (1ull << (40 - shift))) << shift;
            ck_assert_int_eq(
                iommu_pt_map(&f.pt, base + i * size, pa, shift, perm), 0);
            pages[i] = (ref_page_t){true, pa, perm};
            maps++;
        } else if (kind < 60) {
            /* unmap a run of whole pages, counted against the reference */
            uint64_t i = rnd(&seed) % npages;
            uint64_t n = 1 + rnd(&seed) % (shift == 12 ? 64 : 3);
            if (i + n > npages)
                n = npages - i;
            unmap_check_t c = {m, shift, 0, false};
            unsigned expect = 0;
            for (uint64_t k = i; k < i + n; k++)
                expect += pages[k].valid;
            ck_assert_int_eq(iommu_pt_unmap(&f.pt, base + i * size, n * size,
                                            check_leaf, &c),
                             0);
            ck_assert(!c.bad);
            ck_assert_uint_eq(c.count, expect);
            for (uint64_t k = i; k < i + n; k++)
                pages[k].valid = false;
            removed += expect;
            unmaps++;
        } else if (kind < 63 && shift > 12) {
            /* unmap part of a huge page: refused when it is mapped, and
             * nothing changes either way */
            uint64_t i = rnd(&seed) % npages;
            uint64_t off = (1 + rnd(&seed) % 511) * KiB4;
            unmap_check_t c = {m, shift, 0, false};
            int rc = iommu_pt_unmap(&f.pt, base + i * size + off, KiB4,
                                    check_leaf, &c);
            ck_assert_int_eq(rc, pages[i].valid ? -EINVAL : 0);
            ck_assert_uint_eq(c.count, 0);
            partials++;
        } else {
            /* walk an address with a random offset */
            uint64_t i = rnd(&seed) % npages;
            uint64_t off = rnd(&seed) & (size - 1);
            check_walk(&f.pt, m, base + i * size + off, levels);
            walks++;
        }
    }
    /* Every page of every window agrees with the reference at the end. */
    for (unsigned i = 0; i < W4K_PAGES; i++)
        check_walk(&f.pt, m, m->base4k + i * KiB4 + 8, levels);
    for (unsigned i = 0; i < W2M_PAGES; i++)
        check_walk(&f.pt, m, m->base2m + i * MiB2 + 0x1238, levels);
    for (unsigned i = 0; i < W1G_PAGES; i++)
        check_walk(&f.pt, m, m->base1g + i * GiB1 + 0x123458, levels);
    ck_assert_uint_eq(maps + unmaps + walks + partials, ops);
    ck_assert_uint_gt(maps, 10000);
    ck_assert_uint_gt(unmaps, 10000);
    ck_assert_uint_gt(walks, 10000);
    ck_assert_uint_gt(removed, 1000);
    /* Tables: at most one per 2 MiB region of the 4K window, one per 1 GiB
     * region of the 2M window and one per level above: bounded by the
     * windows, not by the number of operations. */
    ck_assert_uint_le(iommu_mem_backed_frames(f.mem),
                      1 + 3 * (levels - 1) + W4K_PAGES / 512 + 1);
    free(m);
    fx_fini(&f);
}
END_TEST

static Suite *pt_suite(void)
{
    Suite *s = suite_create("pagetable");
    TCase *tc = tcase_create("mem");
    tcase_add_test(tc, test_mem_alloc_rw);
    tcase_add_test(tc, test_mem_many_frames);
    suite_add_tcase(s, tc);

    tc = tcase_create("walk");
    tcase_add_test(tc, test_pt_init_levels);
    tcase_add_loop_test(tc, test_walk_reads_per_leaf_size, 4, 6);
    tcase_add_loop_test(tc, test_walk_not_present_reads, 4, 6);
    tcase_add_test(tc, test_five_level_high_addresses);
    tcase_add_test(tc, test_perm_leaf);
    tcase_add_loop_test(tc, test_perm_and_along_path, 4, 6);
    suite_add_tcase(s, tc);

    tc = tcase_create("map_unmap");
    tcase_add_test(tc, test_map_einval);
    tcase_add_test(tc, test_map_eexist);
    tcase_add_test(tc, test_map_replace_same_size);
    tcase_add_loop_test(tc, test_unmap_callback_each_leaf, 4, 6);
    tcase_add_test(tc, test_unmap_partial_huge);
    tcase_add_loop_test(tc, test_memory_grows_with_tables_only, 4, 6);
    tcase_add_test(tc, test_map_range_leaf_sizes);
    tcase_add_test(tc, test_protect);
    tcase_add_test(tc, test_destroy_frees_tables);
    tcase_add_test(tc, test_mem_ranges);
    tcase_add_loop_test(tc, test_guest_tables, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("property");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_random_against_reference, 4, 6);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(pt_suite());
}
