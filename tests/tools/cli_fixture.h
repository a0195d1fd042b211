/*
 * tests/tools/cli_fixture.h - shared by the suites that run the iommu-sim
 * binary (test_cli, test_outputs): each test case runs in a fresh working
 * directory under one temporary root per suite, with the binary that
 * ctest built (IOMMUSIM_BINARY_DIR). Define CLI_FX_NAME (the temporary
 * root's name) before including it.
 */
#ifndef TESTS_TOOLS_CLI_FIXTURE_H
#define TESTS_TOOLS_CLI_FIXTURE_H

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/check_run.h"

static char g_root[PATH_MAX];
static char g_dir[PATH_MAX + 16];
static char g_oldcwd[PATH_MAX];
static char g_bin[PATH_MAX];

/* Unchecked: one root per test case, removed whatever happens. */
static void root_setup(void)
{
    iommusim_mkdtemp(g_root, sizeof(g_root), CLI_FX_NAME);
}

static void root_teardown(void)
{
    iommusim_rm_tree(g_root);
}

static void setup(void)
{
    const char *b = getenv("IOMMUSIM_BINARY_DIR");
    ck_assert_msg(b != NULL, "IOMMUSIM_BINARY_DIR not set");
    snprintf(g_bin, sizeof(g_bin), "%s/tools/iommu-sim", b);
    ck_assert_msg(access(g_bin, X_OK) == 0, "no binary %s", g_bin);
    iommusim_enter_tmp(g_dir, sizeof(g_dir), g_root, g_oldcwd,
                       sizeof(g_oldcwd));
}

static void teardown(void)
{
    iommusim_leave_tmp(g_dir, g_oldcwd);
}

static void write_str(const char *name, const char *s)
{
    iommusim_write_file(name, s, strlen(s));
}

#endif
