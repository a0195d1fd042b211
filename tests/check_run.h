/*
 * tests/check_run.h - shared by every Check suite: run a suite with the
 * normal report and turn the result into the process exit status; and the
 * file helpers of the suites that work on files (temporary directories, a
 * per-test working directory, whole-file write and read).
 */
#ifndef TESTS_CHECK_RUN_H
#define TESTS_CHECK_RUN_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A fresh directory "<root>/t.XXXXXX" into dir, made the working directory;
 * the previous one is saved into oldcwd. For a checked setup. */
static inline void iommusim_enter_tmp(char *dir, size_t len, const char *root,
                                      char *oldcwd, size_t oldlen)
{
    snprintf(dir, len, "%s/t.XXXXXX", root);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(getcwd(oldcwd, oldlen));
    ck_assert_int_eq(chdir(dir), 0);
}

/* Back to oldcwd (or "/"), and dir removed. For a checked teardown. */
static inline void iommusim_leave_tmp(const char *dir, const char *oldcwd)
{
    if (chdir(oldcwd) != 0)
        (void)chdir("/");
    iommusim_rm_tree(dir);
}

/* Write len bytes of data to the file name (created or truncated). */
static inline void iommusim_write_file(const char *name, const char *data,
                                       size_t len)
{
    FILE *f = fopen(name, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The whole content of a file (malloc'd, NUL-terminated); its length into
 * *len unless len is NULL. */
static inline char *iommusim_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

#endif
