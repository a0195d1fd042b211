/*
 * tests/tools/test_extremes.c - every numeric parameter at the ends of its
 * documented range: for each uint, double and time parameter that
 * `iommu-sim --list-params` lists with a range [min, max], the bundled
 * default scenario is run with --set KEY=min, then with --set KEY=max.
 * Each run must either finish with exit status 0, or be refused at input
 * time with exit status 2 and an "error:" message naming the key
 * (docs/configuration.md: the range is the documented contract, so a
 * value inside it is accepted or explained, never a crash).
 *
 * Each run is bounded: TIMEOUT_S seconds of wall time (then killed: a
 * hang), an output cap (RLIMIT_FSIZE on the child: a file past OUT_CAP
 * kills it with SIGXFSZ; the output directory must stay under OUT_CAP in
 * total) and an address-space cap (RLIMIT_AS, MEM_CAP). Every failure is
 * collected and listed (key=value: what happened) and the test fails at
 * the end. Known failures that other work is fixing are listed in
 * known_failures[] below and reported as expected, not failed.
 * IOMMUSIM_EXTREMES_ONLY=KEY runs one parameter.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/check_run.h"

#define TIMEOUT_S 20
#define OUT_CAP (64ll << 20)
#define MEM_CAP (4ll << 30)

/*
 * key=value pairs known to fail on the code this test was written against,
 * with why (reported as expected failures; a pair that passes is reported
 * so that it can be removed from the list).
 */
static const char *const known_failures[] = {
    /* None: the long-delay runs that once wrote an unbounded time series
     * are bounded by its row cap (sim/series.h). Add "key=value" here
     * only with the defect it shows. */
    NULL,
};

static const char *bin_dir(void)
{
    const char *d = getenv("IOMMUSIM_BINARY_DIR");
    ck_assert_msg(d != NULL, "IOMMUSIM_BINARY_DIR is not set (run by ctest)");
    return d;
}

static off_t du_total;
static int du_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    if (S_ISREG(st->st_mode))
        du_total += st->st_size;
    return 0;
}

static off_t du(const char *dir)
{
    du_total = 0;
    nftw(dir, du_entry, 16, FTW_PHYS);
    return du_total;
}

typedef struct result {
    int status;  /* waitpid status */
    bool killed; /* timed out */
    double secs;
    off_t out; /* bytes written into the output directory */
    char *err; /* stderr text */
} result_t;

/* Run iommu-sim -q -o DIR --set ASSIGN with the caps. */
static void run_sim(const char *assign, const char *dir, result_t *res)
{
    char exe[4096], errpath[4096];
    struct timespec t0, t1;
    pid_t pid;

    snprintf(exe, sizeof(exe), "%s/tools/iommu-sim", bin_dir());
    snprintf(errpath, sizeof(errpath), "%s.stderr", dir);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit fs = {OUT_CAP, OUT_CAP}, as = {MEM_CAP, MEM_CAP};
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd < 0 || null < 0)
            _exit(127);
        dup2(null, 1);
        dup2(fd, 2);
        setrlimit(RLIMIT_FSIZE, &fs);
#if !defined(__SANITIZE_ADDRESS__)
        /* AddressSanitizer reserves terabytes of address space for its
         * shadow memory, so an address-space cap would stop every run of
         * a sanitizer build; there the file and time caps remain. */
        setrlimit(RLIMIT_AS, &as);
#else
        (void)as;
#endif
        execl(exe, exe, "-q", "-o", dir, "--set", assign, (char *)NULL);
        _exit(127);
    }
    memset(res, 0, sizeof(*res));
    for (;;) {
        pid_t w = waitpid(pid, &res->status, WNOHANG);
        ck_assert_int_ge(w, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        res->secs = (double)(t1.tv_sec - t0.tv_sec) +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (w == pid)
            break;
        if (res->secs > TIMEOUT_S && !res->killed) {
            kill(pid, SIGKILL);
            res->killed = true;
        }
        usleep(2000);
    }
    res->out = du(dir);
    res->err = iommusim_slurp(errpath, NULL);
    unlink(errpath);
}

static bool known(const char *assign)
{
    for (unsigned i = 0; known_failures[i]; i++)
        if (strcmp(known_failures[i], assign) == 0)
            return true;
    return false;
}

/* What is wrong with a run (NULL: nothing). */
static const char *judge(const char *key, const result_t *r, char *why,
                         size_t len)
{
    if (r->killed) {
        snprintf(why, len, "no end within %d s (killed)", TIMEOUT_S);
        return why;
    }
    if (WIFSIGNALED(r->status)) {
        snprintf(why, len, "killed by signal %d (%s)%s", WTERMSIG(r->status),
                 strsignal(WTERMSIG(r->status)),
                 WTERMSIG(r->status) == SIGXFSZ ? ": output past the cap" : "");
        return why;
    }
    int code = WEXITSTATUS(r->status);
    if (r->out > OUT_CAP) {
        snprintf(why, len, "exit %d with %lld bytes of output", code,
                 (long long)r->out);
        return why;
    }
    if (code == 0)
        return NULL;
    const char *e = r->err ? r->err : "";
    if (code == 2 && strstr(e, "error:") && strstr(e, key))
        return NULL;
    snprintf(why, len, "exit %d after %.1f s: %.150s", code, r->secs, e);
    char *nl = strchr(why, '\n');
    if (nl)
        *nl = '\0';
    return why;
}

START_TEST(test_every_numeric_parameter_at_its_range_ends)
{
    char cmd[4096], line[1024], dir[4200], base[4096];
    const char *only = getenv("IOMMUSIM_EXTREMES_ONLY");
    unsigned runs = 0, failed = 0, expected = 0;
    FILE *p;

    iommusim_mkdtemp(base, sizeof(base), "extremes");
    snprintf(cmd, sizeof(cmd), "%s/tools/iommu-sim --list-params", bin_dir());
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (fgets(line, sizeof(line), p)) {
        char key[128], type[32], lo[64], hi[64];
        /* name type default [min, max] ... */
        if (sscanf(line, "%127s %31s %*s [%63[^,], %63[^]]]", key, type, lo,
                   hi) != 4)
            continue;
        if (strcmp(type, "uint") && strcmp(type, "double") &&
            strcmp(type, "time"))
            continue;
        if (only && strcmp(only, key))
            continue;
        const char *ends[2] = {lo, hi};
        for (unsigned i = 0; i < 2; i++) {
            char assign[256], why[256];
            result_t r;
            snprintf(assign, sizeof(assign), "%s=%s", key, ends[i]);
            snprintf(dir, sizeof(dir), "%s/%u", base, runs++);
            run_sim(assign, dir, &r);
            const char *bad = judge(key, &r, why, sizeof(why));
            if (bad && known(assign)) {
                expected++;
                fprintf(stderr, "expected failure: --set %s: %s\n", assign,
                        bad);
            } else if (bad) {
                failed++;
                fprintf(stderr, "FAIL: --set %s: %s\n", assign, bad);
            } else if (known(assign)) {
                fprintf(stderr,
                        "now passes: --set %s (remove it from "
                        "known_failures)\n",
                        assign);
            }
            free(r.err);
            iommusim_rm_tree(dir);
        }
    }
    pclose(p);
    iommusim_rm_tree(base);
    fprintf(stderr, "%u runs, %u failed, %u expected failures\n", runs, failed,
            expected);
    ck_assert_uint_gt(runs, only ? 1 : 40);
    ck_assert_msg(failed == 0,
                  "%u of %u runs at a range end failed (listed above)", failed,
                  runs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("extremes");
    TCase *tc = tcase_create("range_ends");
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, test_every_numeric_parameter_at_its_range_ends);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
