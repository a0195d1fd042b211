/*
 * tests/tools/cli_run.h - runs the iommu-sim binary in a child for the
 * suites that check how it ends (test_outputs, test_cli_paths): stdin,
 * stdout and stderr redirected to files, optional limits (file size, an
 * unprivileged user, a stale temporary made before exec), its exit
 * status, the check that stderr holds exactly one message, and that a
 * run left nothing in the working directory. Include
 * after tests/tools/cli_fixture.h (g_bin).
 */
#ifndef TESTS_TOOLS_CLI_RUN_H
#define TESTS_TOOLS_CLI_RUN_H

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How the child runs. */
typedef struct how {
    const char *out; /* stdout file (default "cli.out") */
    int in_fd;       /* stdin (-1: /dev/null) */
    rlim_t fsize;    /* RLIMIT_FSIZE if nonzero (SIGXFSZ ignored) */
    bool nobody;     /* as a user who owns nothing here (when root) */
    /* Before exec, in the child: make ".out.tmp.<its PID>" (what a dead
     * run whose PID came round again left), a directory holding a
     * stats.txt, or a plain file. */
    enum { OWN_NONE, OWN_DIR, OWN_FILE } own_tmp;
} how_t;

static pid_t start(const char *const *args, const how_t *h)
{
    const char *argv[64];
    unsigned n = 0;
    argv[n++] = g_bin;
    for (unsigned i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int in = h->in_fd >= 0 ? h->in_fd : open("/dev/null", O_RDONLY);
        int out = open(h->out ? h->out : "cli.out",
                       O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int err = open("cli.err", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 ||
            dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (h->fsize) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {h->fsize, h->fsize};
            if (setrlimit(RLIMIT_FSIZE, &rl))
                _exit(126);
        }
        if (h->own_tmp != OWN_NONE) {
            char t[64], f[80];
            snprintf(t, sizeof(t), ".out.tmp.%ld", (long)getpid());
            snprintf(f, sizeof(f), "%s/stats.txt", t);
            if (h->own_tmp == OWN_DIR ? mkdir(t, 0777) || close(creat(f, 0666))
                                      : close(creat(t, 0666)))
                _exit(126);
        }
        if (h->nobody && geteuid() == 0 && (setgid(65534) || setuid(65534)))
            _exit(126);
        execv(g_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for the CLI; its exit status (the test fails if it was killed). */
static int finish(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "iommu-sim did not exit (signal %d)",
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

static int cli_how(const char *const *args, const how_t *h)
{
    return finish(start(args, h));
}

static int cli(const char *const *args)
{
    how_t h = {.in_fd = -1};
    return cli_how(args, &h);
}

/* stderr: exactly one line (a coverage build's "profiling:" lines are not
 * the program's), containing every NULL-terminated needle. */
static void err_one_line(const char *const *needles)
{
    char *e = iommusim_slurp("cli.err", NULL);
    size_t lines = 0;
    for (const char *p = e; *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, "profiling:", 10) != 0 &&
            strncmp(p, "libgcov profiling error:", 24) != 0)
            lines++;
        if (!nl)
            break;
        p = nl + 1;
    }
    ck_assert_msg(lines == 1, "expected one message, stderr is:\n%s", e);
    for (unsigned i = 0; needles[i]; i++)
        ck_assert_msg(strstr(e, needles[i]) != NULL,
                      "stderr does not contain '%s':\n%s", needles[i], e);
    free(e);
}

/* Entries of the working directory other than the test's own files (the
 * inputs named in keep, cli.out, cli.err): an output directory, its
 * temporary or its lock. Returns how many; the first into first. */
static unsigned leftovers(const char *const *keep, char *first, size_t len)
{
    DIR *d = opendir(".");
    ck_assert_ptr_nonnull(d);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        bool ok = !strcmp(s, ".") || !strcmp(s, "..") ||
                  !strcmp(s, "cli.out") || !strcmp(s, "cli.err");
        for (unsigned i = 0; keep && keep[i] && !ok; i++)
            ok = !strcmp(s, keep[i]);
        if (!ok && n++ == 0)
            snprintf(first, len, "%s", s);
    }
    closedir(d);
    return n;
}

static void assert_nothing_left(const char *const *keep)
{
    char first[256] = "";
    unsigned n = leftovers(keep, first, sizeof(first));
    ck_assert_msg(n == 0, "%u entries left behind, e.g. '%s'", n, first);
}

#endif
