/*
 * tests/check_run.h - shared by every Check suite: run a suite with the
 * normal report and turn the result into the process exit status.
 */
#ifndef TESTS_CHECK_RUN_H
#define TESTS_CHECK_RUN_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static inline int iommusim_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static inline int iommusim_rm_entry(const char *path, const struct stat *st,
                                    int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* Remove a directory tree (nothing if dir is ""). */
static inline void iommusim_rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, iommusim_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Make a fresh directory "$TMPDIR/<name>.XXXXXX" into buf; a test cannot
 * run without it, so failure aborts. */
static inline void iommusim_mkdtemp(char *buf, size_t len, const char *name)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, len, "%s/%s.XXXXXX", t && *t ? t : "/tmp", name);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
}

#endif
