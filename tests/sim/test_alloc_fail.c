/*
 * tests/sim/test_alloc_fail.c - the sim library when memory runs out.
 *
 * The test is linked with -Wl,--wrap for malloc, calloc, realloc,
 * aligned_alloc and strdup (tests/sim/CMakeLists.txt), so every allocation
 * the library makes goes through the wrappers below, which can fail the
 * k-th allocation after arm(k). Each test repeats an operation for
 * k = 1, 2, ... until a run makes no allocation fail, and checks that each
 * failure is the documented one (NULL, -ENOMEM, false, the "out of memory"
 * message), that what did succeed is intact, and that everything allocated
 * is freed again (a count of live wrapped allocations).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "tests/check_run.h"
#include "tests/test_util.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static long g_fail_at; /* fail the g_fail_at-th allocation; 0: none */
static long g_count;   /* allocations since arm() */
static bool g_injected;
static long g_live; /* wrapped allocations not yet freed */

static bool fail_now(void)
{
    if (g_fail_at && ++g_count == g_fail_at) {
        g_injected = true;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    void *p = fail_now() ? NULL : __real_malloc(n);
    g_live += p != NULL;
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = fail_now() ? NULL : __real_calloc(n, size);
    g_live += p != NULL;
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    void *p = fail_now() ? NULL : __real_realloc(old, n);
    g_live += p != NULL && old == NULL;
    return p;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    void *p = fail_now() ? NULL : __real_aligned_alloc(align, n);
    g_live += p != NULL;
    return p;
}

char *__wrap_strdup(const char *s)
{
    char *p = fail_now() ? NULL : __real_strdup(s);
    g_live += p != NULL;
    return p;
}

void __wrap_free(void *p)
{
    g_live -= p != NULL;
    __real_free(p);
}

static void arm(long k)
{
    g_count = 0;
    g_injected = false;
    g_fail_at = k;
}

/* Stop failing; true if an allocation failed since arm(). */
static bool disarm(void)
{
    g_fail_at = 0;
    return g_injected;
}

/* ------------------------------------------------------------ config */

typedef struct cv {
    uint64_t u;
    char s[SIM_PARAM_STR_MAX];
} cv_t;

static const sim_param_t cparams[] = {
    {"s", "u", SIM_PARAM_UINT, "1", 0, 0, "", "a number", NULL,
     offsetof(cv_t, u)},
    {"s", "name", SIM_PARAM_STRING, "x", 0, 0, "", "a name", NULL,
     offsetof(cv_t, s)},
};

/* Create, register, load a string and a file: each allocation failure is
 * reported as out of memory and leaves nothing allocated. A load that
 * cannot keep its file's name still applies the values. */
START_TEST(test_config)
{
    char dir[256], path[300];
    iommusim_mkdtemp(dir, sizeof(dir), "test_alloc_fail");
    snprintf(path, sizeof(path), "%s/c.ini", dir);
    iommusim_write_file(path, "[s]\nname = y\n", 13);
    long k;
    for (k = 1;; k++) {
        sim_log_t log;
        cv_t v;
        sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
        long live = g_live;
        arm(k);
        sim_config_t *cfg = sim_config_create(&log);
        int rr = cfg ? sim_config_register(cfg, cparams, 2, &v) : -ENOMEM;
        int rs = rr == 0 ? sim_config_load_string(cfg, "a.ini", "[s]\nu = 5\n")
                         : -ENOMEM;
        int rf = rs == 0 ? sim_config_load_file(cfg, path) : -ENOMEM;
        bool inj = disarm();
        if (!inj) {
            ck_assert_int_eq(rf, 0);
            ck_assert_uint_eq(v.u, 5);
            ck_assert_str_eq(v.s, "y");
            sim_config_destroy(cfg);
            ck_assert_int_eq(g_live, live);
            break;
        }
        if (cfg && rr < 0) {
            ck_assert_int_eq(rr, -ENOMEM);
            ck_assert_str_eq(sim_log_last_error(&log), "config: out of memory");
        } else if (cfg && rs < 0) {
            ck_assert_int_eq(rs, -ENOMEM);
            ck_assert_str_eq(sim_log_last_error(&log), "a.ini: out of memory");
            ck_assert_uint_eq(v.u, 1); /* nothing applied */
        } else if (cfg && rf < 0) {
            char msg[400];
            snprintf(msg, sizeof(msg), "%s: out of memory", path);
            ck_assert_int_eq(rf, -ENOMEM);
            ck_assert_str_eq(sim_log_last_error(&log), msg);
            ck_assert_uint_eq(v.u, 5);
            ck_assert_str_eq(v.s, "x");
        } else if (cfg) {
            ck_assert_uint_eq(v.u, 5); /* the source name was lost only */
            ck_assert_str_eq(v.s, "y");
        }
        sim_config_destroy(cfg);
        ck_assert_int_eq(g_live, live);
    }
    /* create, the table, its 2 names, the load's state, line, source list
     * and name, at least. */
    ck_assert_int_ge(k, 9);
    iommusim_rm_tree(dir);
}
END_TEST

/* ------------------------------------------------------------ stats */

#define NSTATS 40

/* 40 statistics of each kind in turn (the name index grows twice): a
 * registration that fails returns NULL with the message and leaves the
 * name free; the others are found. */
START_TEST(test_stats)
{
    long k;
    for (k = 1;; k++) {
        sim_log_t log;
        sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
        void *obj[NSTATS];
        char name[NSTATS][16];
        long live = g_live;
        arm(k);
        sim_stats_t *st = sim_stats_create();
        if (st) {
            sim_stats_set_log(st, &log);
            for (int i = 0; i < NSTATS; i++) {
                snprintf(name[i], sizeof(name[i]), "s%d", i);
                switch (i % 4) {
                case 0:
                    obj[i] = sim_stats_counter(st, name[i], "d", "u");
                    break;
                case 1:
                    obj[i] = sim_stats_gauge(st, name[i], "d", "u");
                    break;
                case 2:
                    obj[i] = sim_stats_hist(st, name[i], "d", "u");
                    break;
                default:
                    obj[i] = sim_stats_scalar(st, name[i], "d", "u");
                    break;
                }
            }
        }
        bool inj = disarm();
        if (!st) {
            ck_assert(inj);
            ck_assert_int_eq(g_live, live);
            continue;
        }
        unsigned failed = 0;
        for (int i = 0; i < NSTATS; i++) {
            void *found;
            switch (i % 4) {
            case 0:
                found = sim_stats_find_counter(st, name[i]);
                break;
            case 1:
                found = sim_stats_find_gauge(st, name[i]);
                break;
            case 2:
                found = sim_stats_find_hist(st, name[i]);
                break;
            default:
                found = sim_stats_find_scalar(st, name[i]);
                break;
            }
            ck_assert_ptr_eq(found, obj[i]);
            if (!obj[i]) {
                char msg[64];
                snprintf(msg, sizeof(msg),
                         "stats: out of memory registering '%s'", name[i]);
                ck_assert_str_eq(sim_log_last_error(&log), msg);
                /* The name is still free. */
                ck_assert_ptr_nonnull(sim_stats_counter(st, name[i], "", ""));
                failed++;
            }
        }
        ck_assert_uint_eq(failed, inj ? 1 : 0);
        sim_stats_destroy(st);
        ck_assert_int_eq(g_live, live);
        if (!inj)
            break;
    }
    ck_assert_int_ge(k, 4 * NSTATS);
}
END_TEST

/* ------------------------------------------------------------ engine */

static void ev_count(sim_t *sim, void *opaque, uint64_t arg)
{
    (*(unsigned *)opaque)++;
}

/* 200 events (the heap and the slot array grow twice): a schedule that
 * cannot grow them returns 0 with the message; every other event runs. */
START_TEST(test_engine)
{
    long k;
    for (k = 1;; k++) {
        sim_log_t log;
        sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
        unsigned ok = 0, ran = 0;
        long live = g_live;
        arm(k);
        sim_t *sim = sim_create(&log);
        for (unsigned i = 0; sim && i < 200; i++) {
            if (sim_schedule(sim, i, ev_count, &ran, 0))
                ok++;
            else {
                char msg[80];
                snprintf(msg, sizeof(msg),
                         "sim_schedule: out of memory (%u events pending)", ok);
                ck_assert_str_eq(sim_log_last_error(&log), msg);
            }
        }
        bool inj = disarm();
        if (sim) {
            ck_assert_uint_eq(ok, inj ? 199 : 200);
            sim_run(sim, SIM_TIME_MAX);
            ck_assert_uint_eq(ran, ok);
        }
        sim_destroy(sim);
        ck_assert_int_eq(g_live, live);
        if (!inj)
            break;
    }
    ck_assert_int_ge(k, 5); /* sim, slots, heap, heap again, slots again */
}
END_TEST

/* ------------------------------------------------------------ server */

static void job_done(sim_t *sim, void *opaque, void *job)
{
    (*(unsigned *)opaque)++;
}

/* A server with and without a registry, then 40 jobs on one server (the
 * queue grows from 16 twice): creation fails whole with the message; a
 * job the queue cannot take is dropped and counted; the others run. */
START_TEST(test_server)
{
    for (int with_stats = 0; with_stats < 2; with_stats++) {
        long k;
        for (k = 1;; k++) {
            sim_log_t log;
            sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
            long live = g_live;
            sim_t *sim = sim_create(&log);
            sim_stats_t *st = with_stats ? sim_stats_create() : NULL;
            sim_server_cfg_t cfg = {
                .name = "cpu", .servers = 1, .service = sim_dist_fixed(SIM_NS)};
            unsigned done = 0, accepted = 0;
            arm(k);
            sim_server_t *srv =
                sim_server_create(sim, st, &cfg, NULL, job_done, &done);
            /* One job first, not counted: it allocates the rows of the
             * histogram buckets its times fall in (sim/stats.h), which
             * the 40 jobs then share. */
            bool warm = srv && !disarm();
            if (warm) {
                sim_server_submit_time(srv, NULL, SIM_NS);
                sim_run(sim, SIM_TIME_MAX);
                done = 0;
                arm(k);
            }
            for (unsigned i = 0; warm && i < 40; i++)
                accepted += sim_server_submit_time(srv, NULL, SIM_NS);
            bool inj = warm ? disarm() : true;
            if (srv && !warm) { /* failed at creation or the first job */
                sim_server_destroy(srv);
                srv = NULL;
            }
            if (!srv) {
                ck_assert(inj);
                ck_assert_ptr_nonnull(
                    strstr(sim_log_last_error(&log), "server cpu: "));
            } else {
                ck_assert_uint_eq(accepted, inj ? 39 : 40);
                ck_assert_uint_eq(sim_server_drops(srv), 40 - accepted);
                if (inj)
                    ck_assert_str_eq(sim_log_last_error(&log),
                                     "server cpu: out of memory growing the "
                                     "queue; job dropped");
                sim_run(sim, SIM_TIME_MAX);
                ck_assert_uint_eq(done, accepted);
                ck_assert_uint_eq(sim_server_completions(srv), accepted + 1);
            }
            sim_server_destroy(srv);
            sim_stats_destroy(st);
            sim_destroy(sim);
            ck_assert_int_eq(g_live, live);
            if (!inj)
                break;
        }
        /* Every allocation point was failed once: the engine, the
         * server, its queue growing twice (and the registry's entries). */
        ck_assert_int_ge(k, with_stats ? 20 : 6);
    }
}
END_TEST

/* A completion that cannot be scheduled is logged (the engine's heap is
 * full and cannot grow). */
START_TEST(test_server_completion_not_scheduled)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    unsigned ran = 0;
    sim_server_cfg_t cfg = {
        .name = "cpu", .servers = 1, .service = sim_dist_fixed(SIM_NS)};
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(srv);
    /* One job first, so that its histogram rows exist (sim/stats.h) and
     * the next allocation is the heap's. */
    sim_server_submit_time(srv, NULL, SIM_NS);
    sim_run(sim, SIM_TIME_MAX);
    for (unsigned i = 0; i < 64; i++) /* the heap's first size */
        ck_assert(sim_schedule(sim, SIM_US, ev_count, &ran, 0));
    arm(1);
    sim_server_submit_time(srv, NULL, SIM_NS);
    ck_assert(disarm());
    ck_assert_str_eq(sim_log_last_error(&log),
                     "server cpu: cannot schedule a completion");
    sim_server_destroy(srv);
    sim_destroy(sim);
}
END_TEST

/* ------------------------------------------------------------ spans */

static const char *const stage_names[] = {"a", "b"};

/* A family cannot be created without its statistics; a span cannot be
 * opened when the pool cannot grow (300 spans: the pool's chunk is 256). */
START_TEST(test_spans)
{
    long k;
    for (k = 1;; k++) {
        sim_stats_t *st = sim_stats_create();
        arm(k);
        sim_spans_t *sp = sim_spans_create(st, "f", stage_names, NULL, 2);
        unsigned opened = 0;
        sim_span_t *spans[300];
        for (unsigned i = 0; sp && i < 300; i++) {
            spans[opened] = sim_span_open(sp, 0);
            opened += spans[opened] != NULL;
        }
        bool inj = disarm();
        if (sp) {
            ck_assert_uint_eq(opened, inj ? 299 : 300);
            ck_assert_uint_eq(sim_spans_open_count(sp), opened);
            ck_assert_uint_eq(sim_stats_find_counter(st, "f.opened")->value,
                              opened);
            for (unsigned i = 0; i < opened; i++)
                sim_span_close(sp, spans[i], SIM_NS, true);
            ck_assert_uint_eq(sim_stats_find_counter(st, "f.closed")->value,
                              opened);
        } else {
            ck_assert(inj);
        }
        sim_spans_destroy(sp);
        sim_stats_destroy(st);
        if (!inj)
            break;
    }
    ck_assert_int_ge(k, 3);
}
END_TEST

/* ------------------------------------------------------------ series */

static void ev_add(sim_t *sim, void *opaque, uint64_t n)
{
    ((sim_counter_t *)opaque)->value += n;
}

/* A row that cannot be kept is lost (sim/series.c, add_row): the next row
 * still counts only its own epoch. Steps of 1, 2, 4 just before 1, 2, 3
 * us: without failure rows 1, 2, 4; with the first row lost: 2, 4. The
 * run ends at the last step (only the sampler is left), which closes the
 * last row 1 ps before 3 us. */
START_TEST(test_series_row_lost)
{
    for (long k = 1; k <= 3; k++) {
        sim_log_t log;
        sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
        sim_t *sim = sim_create(&log);
        sim_stats_t *st = sim_stats_create();
        sim_counter_t *c = sim_stats_counter(st, "n", "", "");
        for (unsigned i = 0; i < 3; i++)
            sim_schedule(sim, (i + 1) * SIM_US - 1, ev_add, c, 1u << i);
        sim_series_t *ts = sim_series_create(sim, SIM_US);
        ck_assert_int_eq(sim_series_add_counter(ts, "n", c), 0);
        char buf[256] = "";
        FILE *f = fmemopen(buf, sizeof(buf), "w");
        ck_assert_int_eq(sim_series_start(ts, f), 0);
        arm(k); /* the first row grows the time and value arrays */
        sim_run(sim, SIM_TIME_MAX);
        bool inj = disarm();
        sim_series_finish(ts);
        fclose(f);
        if (inj)
            ck_assert_str_eq(buf, "time_ps,n\n2000000,2\n2999999,4\n");
        else
            ck_assert_str_eq(buf,
                             "time_ps,n\n1000000,1\n2000000,2\n2999999,4\n");
        ck_assert_int_eq(inj, k <= 2);
        sim_series_destroy(ts);
        sim_stats_destroy(st);
        sim_destroy(sim);
    }
}
END_TEST

/* Creation, a column and the first sample: -ENOMEM or NULL. */
START_TEST(test_series_setup)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    sim_counter_t *c = sim_stats_counter(st, "n", "", "");
    arm(1);
    ck_assert_ptr_null(sim_series_create(sim, SIM_US));
    ck_assert(disarm());
    sim_series_t *ts = sim_series_create(sim, SIM_US);
    arm(1);
    ck_assert_int_eq(sim_series_add_counter(ts, "n", c), -ENOMEM);
    ck_assert(disarm());
    unsigned ran = 0;
    for (unsigned i = 0; i < 64; i++) /* fill the engine's heap */
        sim_schedule(sim, SIM_US, ev_count, &ran, 0);
    FILE *f = fopen("/dev/null", "w");
    arm(1);
    ck_assert_int_eq(sim_series_start(ts, f), -ENOMEM);
    ck_assert(disarm());
    fclose(f);
    sim_series_destroy(ts);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* ------------------------------------------------------------ pool */

/* A pool that cannot grow hands out NULL and keeps its counts; growth
 * that would overflow size_t fails without allocating. */
START_TEST(test_pool)
{
    sim_pool_t pool;
    sim_pool_init(&pool, 24, 4);
    arm(1); /* the chunk list */
    ck_assert_ptr_null(sim_pool_get(&pool));
    ck_assert(disarm());
    arm(2); /* the chunk */
    ck_assert_ptr_null(sim_pool_get(&pool));
    ck_assert(disarm());
    ck_assert_uint_eq(pool.live, 0);
    void *a = sim_pool_get(&pool);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(pool.live, 1);
    sim_pool_put(&pool, a);
    sim_pool_fini(&pool);

    /* chunk_objs x obj_size overflows. */
    sim_pool_init(&pool, 1024, SIZE_MAX / 512);
    ck_assert_ptr_null(sim_pool_get(&pool));
    sim_pool_fini(&pool);

    /* sim_grow: capacity doubling past SIZE_MAX/2, bytes past SIZE_MAX,
     * and realloc failing keep the array and its capacity. */
    char *arr = NULL;
    size_t cap = 0;
    ck_assert_int_eq(sim_grow(&arr, &cap, SIZE_MAX, 1, 0), -ENOMEM);
    ck_assert_int_eq(sim_grow(&arr, &cap, SIZE_MAX / 8, 16, 0), -ENOMEM);
    ck_assert_int_eq(sim_grow(&arr, &cap, 3, 1, 0), 0);
    ck_assert_uint_eq(cap, 4); /* from 1, doubled to reach 3 */
    arm(1);
    ck_assert_int_eq(sim_grow(&arr, &cap, 5, 1, 0), -ENOMEM);
    ck_assert(disarm());
    ck_assert_uint_eq(cap, 4);
    ck_assert_ptr_nonnull(arr);
    free(arr);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_engine);
    tcase_add_test(tc, test_server);
    tcase_add_test(tc, test_server_completion_not_scheduled);
    tcase_add_test(tc, test_spans);
    tcase_add_test(tc, test_series_row_lost);
    tcase_add_test(tc, test_series_setup);
    tcase_add_test(tc, test_pool);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
