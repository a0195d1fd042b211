/*
 * tests/test_util.h - small macros shared by the test suites. Permission
 * sets have their own names where they are defined, because they mean
 * different things per layer: PERM_RW (trace records, TRACE_PERM_*) in
 * tests/platform_fixture.h, PTE_RWU (IOMMU page-table entries, IOMMU_PTE_*)
 * in tests/iommu/iommu_fx.h.
 */
#ifndef TESTS_TEST_UTIL_H
#define TESTS_TEST_UTIL_H

#include "sim/time.h"

/* Number of elements of an array (not a pointer). */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* One microsecond in simulator time (ps). */
#define US SIM_US

/* A user virtual address the suites map their buffers at (page-aligned,
 * inside a 47-bit user address space). */
#define BASE 0x7f0000000000ull

#endif
