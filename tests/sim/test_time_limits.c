/*
 * tests/sim/test_time_limits.c - inputs the simulator cannot simulate are
 * refused with one clear error, never a crash or a wrapped time:
 *  - a --set value with an unterminated quote or a bad escape gives the same
 *    error as the INI reader (the INI value grammar, docs/configuration.md)
 *    and exit status 2 (DESIGN: 2 = usage or input error);
 *  - sums of delays saturate (sim_time_add), draws are clamped to
 *    SIM_DELAY_MAX and times above it are rejected when parsed;
 *  - the engine refuses to schedule at or after SIM_TIME_LIMIT (2^62 ps):
 *    the run stops with an error, and the CLI exits 1 (a simulation
 *    error); a trace record past the limit is an input error (exit 2).
 * Limits come from their definitions in sim/time.h, not from a run.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/sim.h"
#include "tests/test_util.h"

extern char **environ;

typedef struct tcfg {
    sim_time_t t;
    sim_dist_t d;
    char name[SIM_PARAM_STR_MAX];
} tcfg_t;

static const sim_param_t params[] = {
    {"link", "name", SIM_PARAM_STRING, "pcie0", 0, 0, "", "link name", NULL,
     offsetof(tcfg_t, name)},
    {"link", "t", SIM_PARAM_TIME, "250", 0, 0, "ns", "a time, no range", NULL,
     offsetof(tcfg_t, t)},
    {"link", "d", SIM_PARAM_DIST, "250", 0, 0, "ns", "a delay", NULL,
     offsetof(tcfg_t, d)},
};

typedef struct fixture {
    sim_log_t log;
    sim_config_t *cfg;
    tcfg_t v;
} fixture_t;

static void fx_init(fixture_t *fx)
{
    memset(fx, 0, sizeof(*fx));
    sim_log_init(&fx->log, SIM_LOG_ERROR, NULL, NULL);
    fx->cfg = sim_config_create(&fx->log);
    ck_assert_ptr_nonnull(fx->cfg);
    ck_assert_int_eq(sim_config_register(fx->cfg, params, N_OF(params), &fx->v),
                     0);
}

/* --set and the INI file give the same one error for the same value. */
static void bad_value(const char *value, const char *why)
{
    fixture_t fx;
    char arg[256], ini[256], msg[512];

    fx_init(&fx);
    snprintf(arg, sizeof(arg), "link.name=%s", value);
    ck_assert_int_eq(sim_config_set(fx.cfg, arg), -EINVAL);
    snprintf(msg, sizeof(msg), "--set %s: %s", arg, why);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);
    ck_assert_uint_eq(fx.log.errors, 1);
    ck_assert_str_eq(fx.v.name, "pcie0");

    snprintf(ini, sizeof(ini), "[link]\nname = %s\n", value);
    ck_assert_int_eq(sim_config_load_string(fx.cfg, "cfg.ini", ini), -EINVAL);
    snprintf(msg, sizeof(msg), "cfg.ini:2: link.name: %s", why);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);
    ck_assert_uint_eq(fx.log.errors, 2);
    sim_config_destroy(fx.cfg);
}

START_TEST(test_set_bad_quote)
{
    const char *unterminated =
        "unterminated quoted value (expected a closing '\"')";
    bad_value("\"", unterminated);
    bad_value("\"abc", unterminated);
    bad_value("\"abc\\\"", unterminated); /* the quote is escaped */
    bad_value("\"a\\qb\"", "bad escape in quoted value (expected \\\\, "
                           "\\\", \\n, \\t or \\r)");
    bad_value("\"a\\", "bad escape in quoted value (expected \\\\, "
                       "\\\", \\n, \\t or \\r)");
}
END_TEST

START_TEST(test_time_add_saturates)
{
    ck_assert_uint_eq(sim_time_add(1, 2), 3);
    ck_assert_uint_eq(sim_time_add(SIM_TIME_MAX - 1, 1), SIM_TIME_MAX);
    ck_assert_uint_eq(sim_time_add(SIM_TIME_MAX - 1, 2), SIM_TIME_MAX);
    ck_assert_uint_eq(sim_time_add(SIM_TIME_MAX, SIM_TIME_MAX), SIM_TIME_MAX);
    /* The documented limits keep sums of many delays below the limit. */
    ck_assert_uint_lt(SIM_DELAY_MAX * 4096, SIM_TIME_LIMIT);
    ck_assert_uint_eq(SIM_TIME_LIMIT, (sim_time_t)1 << 62);
}
END_TEST

/* A time or distribution value above SIM_DELAY_MAX (1000 s) is refused;
 * 1000 s itself is accepted. */
START_TEST(test_delay_max_parsed)
{
    fixture_t fx;
    fx_init(&fx);
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.t=1000000ms"), 0);
    ck_assert_uint_eq(fx.v.t, SIM_DELAY_MAX);
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.t=1000001ms"), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&fx.log),
                     "--set link.t=1000001ms: 1000001ms is too large (at "
                     "most 1000 s)");
    ck_assert_uint_eq(fx.v.t, SIM_DELAY_MAX);
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.d=9000000000000000"),
                     -EINVAL); /* 9e15 ns = 9e18 ps */
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.d=exp(1000000ms)"), 0);
    sim_config_destroy(fx.cfg);

    /* A parameter table whose range goes above it is a programming
     * error. */
    static const sim_param_t wide[] = {
        {"x", "t", SIM_PARAM_TIME, "1", 0, 2e12, "ns", "too wide", NULL, 0},
    };
    sim_time_t t;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_int_eq(sim_config_register(cfg, wide, 1, &t), -EINVAL);
    sim_config_destroy(cfg);
}
END_TEST

/* Draws never exceed SIM_DELAY_MAX, and a longer tail never lowers the
 * mean: lognormal(m, s) with s > 0 has mean m*exp(s^2/2) > m; clamped to
 * SIM_DELAY_MAX it is still above the median m. */
START_TEST(test_draw_clamped)
{
    sim_dist_t d;
    char err[128];
    sim_rng_t rng;
    sim_rng_seed(&rng, 7, "test");
    ck_assert_int_eq(sim_dist_parse("lognormal(1ms, 40)", &d, err, sizeof(err)),
                     0);
    double sum = 0;
    unsigned clamped = 0;
    for (unsigned i = 0; i < 10000; i++) {
        sim_time_t v = sim_dist_draw(&d, &rng);
        ck_assert_uint_le(v, SIM_DELAY_MAX);
        clamped += v == SIM_DELAY_MAX;
        sum += (double)v;
    }
    ck_assert_uint_gt(clamped, 0);
    ck_assert(sum / 10000 > (double)SIM_MS);
}
END_TEST

static unsigned g_ran;
static void ev_far(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim, (void)opaque, (void)arg;
    g_ran++;
}

static void ev_near(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)opaque;
    g_ran++;
    /* now + delay lands exactly on the limit, or wraps past 2^64 */
    ck_assert_uint_eq(sim_schedule(sim, arg, ev_far, NULL, 0), 0);
}

static void limit_run(sim_time_t delay)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    g_ran = 0;
    ck_assert_uint_ne(sim_schedule(sim, 10, ev_near, NULL, delay), 0);
    ck_assert_uint_ne(sim_schedule(sim, 20, ev_far, NULL, 0), 0);
    sim_run(sim, SIM_TIME_MAX);
    /* The refused event did not run, the run stopped after ev_near, and
     * time did not move past it. */
    ck_assert_uint_eq(g_ran, 1);
    ck_assert_uint_eq(sim_now(sim), 10);
    ck_assert(sim_past_limit(sim));
    ck_assert_uint_eq(log.errors, 1);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "limit of 2^62 ps"));
    /* Nothing more runs. */
    ck_assert_uint_eq(sim_run(sim, SIM_TIME_MAX), 0);
    ck_assert_uint_eq(g_ran, 1);
    sim_destroy(sim);
}

START_TEST(test_engine_limit)
{
    limit_run(SIM_TIME_LIMIT - 10);
    limit_run(SIM_TIME_MAX - 5); /* 10 + that wraps to 4 */
    /* Just below the limit is fine. */
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    g_ran = 0;
    ck_assert_uint_ne(sim_schedule(sim, SIM_TIME_LIMIT - 1, ev_far, NULL, 0),
                      0);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(g_ran, 1);
    ck_assert_uint_eq(sim_now(sim), SIM_TIME_LIMIT - 1);
    ck_assert_uint_eq(log.errors, 0);
    sim_destroy(sim);
}
END_TEST

/* ------------------------------------------------------------ the CLI */

static char g_dir[PATH_MAX];

/* Run iommu-sim with args in g_dir; stderr -> err.txt. Exit status, or
 * 128 + signal. */
static int cli(const char *const *args)
{
    const char *b = getenv("IOMMUSIM_BINARY_DIR");
    char bin[PATH_MAX], errf[PATH_MAX + 16];
    const char *argv[16];
    unsigned n = 0;
    ck_assert_ptr_nonnull(b);
    snprintf(bin, sizeof(bin), "%s/tools/iommu-sim", b);
    snprintf(errf, sizeof(errf), "%s/err.txt", g_dir);
    argv[n++] = bin;
    for (unsigned i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    ck_assert_int_eq(
        posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
}

static void err_has(const char *needle)
{
    char f[PATH_MAX + 16];
    path(f, sizeof(f), "err.txt");
    char *e = iommusim_slurp(f, NULL);
    ck_assert_msg(strstr(e, needle) != NULL, "stderr lacks '%s':\n%s", needle,
                  e);
    free(e);
}

static void cli_setup(void)
{
    iommusim_mkdtemp(g_dir, sizeof(g_dir), "test_time_limits");
}

static void cli_teardown(void)
{
    iommusim_rm_tree(g_dir);
}

START_TEST(test_cli_bad_quote_exit2)
{
    char ini[PATH_MAX + 16], out[PATH_MAX + 16];
    path(ini, sizeof(ini), "bad.ini");
    path(out, sizeof(out), "out");
    iommusim_write_file(ini, "[vm]\ndevices = \"\n", 17);
    ck_assert_int_eq(
        cli((const char *[]){"-q", "-o", out, "--set", "vm.devices=\"", NULL}),
        2);
    err_has("--set vm.devices=\": unterminated quoted value");
    ck_assert_int_eq(cli((const char *[]){"-q", "-o", out, "--set",
                                          "vm.devices=\"\\x\"", NULL}),
                     2);
    err_has("bad escape in quoted value");
    ck_assert_int_eq(cli((const char *[]){"-q", "-o", out, "-c", ini, NULL}),
                     2);
    err_has("bad.ini:2: vm.devices: unterminated quoted value");
}
END_TEST

#define HDR "iommu-sim-trace 1\ntimeunit ps\n"
#define MAP1 "0 map 0 1 0x7f0000000000 64K rw- absent\n"

/* A fault that starts 1 ns before SIM_TIME_LIMIT must end after it: the
 * run stops with an error and exit 1 (DESIGN: 1 = simulation error). A
 * record at the limit is an input error: exit 2 naming its line. */
START_TEST(test_cli_time_limit)
{
    char tr[PATH_MAX + 16], out[PATH_MAX + 16], text[256];
    path(tr, sizeof(tr), "t.trace");
    path(out, sizeof(out), "out");
    snprintf(text, sizeof(text), HDR MAP1 "%llu read 0 1 0x7f0000000000 64\n",
             (unsigned long long)(SIM_TIME_LIMIT - SIM_NS));
    iommusim_write_file(tr, text, strlen(text));
    /* run.epoch=0: no sampler ticking through 53 simulated days */
    ck_assert_int_eq(cli((const char *[]){"-q", "--set", "run.epoch=0", "-o",
                                          out, tr, NULL}),
                     1);
    err_has("limit of 2^62 ps");

    snprintf(text, sizeof(text), HDR MAP1 "%llu read 0 1 0x7f0000000000 64\n",
             (unsigned long long)SIM_TIME_LIMIT);
    iommusim_write_file(tr, text, strlen(text));
    ck_assert_int_eq(cli((const char *[]){"-q", "-o", out, tr, NULL}), 2);
    err_has("t.trace:4: record time");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("time_limits");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_set_bad_quote);
    tcase_add_test(tc, test_time_add_saturates);
    tcase_add_test(tc, test_delay_max_parsed);
    tcase_add_test(tc, test_draw_clamped);
    tcase_add_test(tc, test_engine_limit);
    suite_add_tcase(s, tc);
    TCase *cli_tc = tcase_create("cli");
    tcase_add_checked_fixture(cli_tc, cli_setup, cli_teardown);
    tcase_add_test(cli_tc, test_cli_bad_quote_exit2);
    tcase_add_test(cli_tc, test_cli_time_limit);
    suite_add_tcase(s, cli_tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
