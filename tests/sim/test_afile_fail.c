/*
 * tests/sim/test_afile_fail.c - atomic file commits when the system calls
 * after the write fail (sim/afile.h): fsync, fclose, and the best-effort
 * sync of the directory.
 *
 * Linked with -Wl,--wrap=fsync,--wrap=fclose,--wrap=open
 * (tests/sim/CMakeLists.txt): each wrapper passes through unless a test
 * set an errno for it, then fails once with that errno (fclose still
 * closes the stream, as a failing fclose does).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim.h"
#include "tests/check_run.h"

int __real_fsync(int fd);
int __real_fclose(FILE *f);
int __real_open(const char *path, int flags, ...);
int __wrap_fsync(int fd);
int __wrap_fclose(FILE *f);
int __wrap_open(const char *path, int flags, ...);

static int g_fsync_err, g_fclose_err, g_open_err;
static unsigned g_open_calls;

int __wrap_fsync(int fd)
{
    if (g_fsync_err) {
        errno = g_fsync_err;
        g_fsync_err = 0;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_fclose(FILE *f)
{
    int rc = __real_fclose(f);
    if (g_fclose_err) {
        errno = g_fclose_err;
        g_fclose_err = 0;
        return EOF;
    }
    return rc;
}

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    g_open_calls++;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (g_open_err) {
        errno = g_open_err;
        g_open_err = 0;
        return -1;
    }
    return __real_open(path, flags, mode);
}

static char g_dir[256], g_path[320];
static sim_log_t g_log;

static void setup(void)
{
    iommusim_mkdtemp(g_dir, sizeof(g_dir), "test_afile_fail");
    snprintf(g_path, sizeof(g_path), "%s/out.txt", g_dir);
    iommusim_write_file(g_path, "old\n", 4);
    sim_log_init(&g_log, SIM_LOG_ERROR, NULL, NULL);
}

static void teardown(void)
{
    iommusim_rm_tree(g_dir);
}

/* Open, write "new\n", commit with the armed failure; returns the commit's
 * result and the temporary's name into tmp. */
static int commit_new(char *tmp, size_t len)
{
    sim_afile_t af;
    ck_assert_int_eq(sim_afile_open(&af, g_path, &g_log), 0);
    snprintf(tmp, len, "%s", af.tmp);
    fputs("new\n", af.f);
    int rc = sim_afile_commit(&af, &g_log);
    ck_assert_ptr_null(af.f);
    return rc;
}

/* The content of the target and that no temporary is left. */
static void check_state(const char *tmp, const char *content)
{
    char *got = iommusim_slurp(g_path, NULL);
    ck_assert_str_eq(got, content);
    free(got);
    ck_assert_int_eq(access(tmp, F_OK), -1);
}

/* fsync failing with EIO fails the commit: the old file stays. */
START_TEST(test_fsync_fails)
{
    char tmp[4300], msg[4400];
    g_fsync_err = EIO;
    ck_assert_int_eq(commit_new(tmp, sizeof(tmp)), -EIO);
    snprintf(msg, sizeof(msg), "cannot sync %s: Input/output error", tmp);
    ck_assert_str_eq(sim_log_last_error(&g_log), msg);
    check_state(tmp, "old\n");
}
END_TEST

/* A file system that cannot sync (EINVAL, EROFS: fsync(2)) is not an
 * error: the commit goes on. */
START_TEST(test_fsync_unsupported)
{
    char tmp[4300];
    g_fsync_err = EINVAL;
    ck_assert_int_eq(commit_new(tmp, sizeof(tmp)), 0);
    check_state(tmp, "new\n");
    iommusim_write_file(g_path, "old\n", 4);
    g_fsync_err = EROFS;
    ck_assert_int_eq(commit_new(tmp, sizeof(tmp)), 0);
    check_state(tmp, "new\n");
    ck_assert_uint_eq(g_log.errors, 0);
}
END_TEST

/* fclose failing (e.g. a deferred write error on NFS) fails the commit;
 * after an earlier error it is not reported again. */
START_TEST(test_fclose_fails)
{
    char tmp[4300], msg[4400];
    g_fclose_err = EIO;
    ck_assert_int_eq(commit_new(tmp, sizeof(tmp)), -EIO);
    snprintf(msg, sizeof(msg), "cannot close %s: Input/output error", tmp);
    ck_assert_str_eq(sim_log_last_error(&g_log), msg);
    check_state(tmp, "old\n");

    g_fsync_err = EIO;
    g_fclose_err = ENOSPC;
    ck_assert_int_eq(commit_new(tmp, sizeof(tmp)), -EIO);
    ck_assert_uint_eq(g_log.errors, 2);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&g_log), "cannot sync"));
    check_state(tmp, "old\n");
}
END_TEST

/* The directory sync after the rename is best effort: a directory that
 * cannot be opened does not fail a commit that is already done. */
START_TEST(test_dir_sync_fails)
{
    char tmp[4300];
    g_open_calls = 0;
    g_open_err = EACCES;
    ck_assert_int_eq(commit_new(tmp, sizeof(tmp)), 0);
    ck_assert_uint_eq(g_open_calls, 1);
    ck_assert_int_eq(g_open_err, 0); /* it was tried */
    check_state(tmp, "new\n");
    ck_assert_uint_eq(g_log.errors, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("afile_fail");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fsync_fails);
    tcase_add_test(tc, test_fsync_unsupported);
    tcase_add_test(tc, test_fclose_fails);
    tcase_add_test(tc, test_dir_sync_fails);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
