/*
 * tests/sim/test_misc.c - the smaller simcore pieces: object pool, log,
 * atomic files, and the server's unit-level behaviour (FIFO order,
 * immediate start, K servers, bounded queue, explicit service times,
 * statistics registration).
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/sim.h"

/* ------------------------------------------------------------------ pool */

typedef struct obj {
    uint64_t a, b;
    char pad[13];
} obj_t;

START_TEST(test_pool)
{
    sim_pool_t pool;
    obj_t *objs[1000];

    sim_pool_init(&pool, sizeof(obj_t), 16);
    ck_assert_uint_ge(pool.obj_size, sizeof(obj_t));
    ck_assert_uint_eq(pool.obj_size % sizeof(void *), 0);
    for (unsigned i = 0; i < 1000; i++) {
        objs[i] = sim_pool_get(&pool);
        ck_assert_ptr_nonnull(objs[i]);
        ck_assert_uint_eq(objs[i]->a, 0);
        ck_assert_uint_eq(objs[i]->b, 0);
        ck_assert_uint_eq((uintptr_t)objs[i] % sizeof(void *), 0);
        objs[i]->a = i;
        objs[i]->b = ~(uint64_t)i;
        memset(objs[i]->pad, 0x5a, sizeof(objs[i]->pad));
    }
    ck_assert_uint_eq(pool.live, 1000);
    ck_assert_uint_eq(pool.peak, 1000);
    ck_assert_uint_eq(pool.nchunks, 1000 / 16 + 1);
    /* Distinct, intact objects. */
    for (unsigned i = 0; i < 1000; i++) {
        ck_assert_uint_eq(objs[i]->a, i);
        ck_assert_uint_eq(objs[i]->b, ~(uint64_t)i);
    }
    for (unsigned i = 0; i < 1000; i += 2)
        sim_pool_put(&pool, objs[i]);
    ck_assert_uint_eq(pool.live, 500);
    sim_pool_put(&pool, NULL);
    ck_assert_uint_eq(pool.live, 500);
    /* Reuse: no new chunk until live exceeds the previous peak; zeroed. */
    size_t chunks = pool.nchunks;
    for (unsigned i = 0; i < 1000; i += 2) {
        objs[i] = sim_pool_get(&pool);
        ck_assert_uint_eq(objs[i]->a, 0);
        ck_assert_uint_eq(objs[i]->pad[12], 0);
    }
    ck_assert_uint_eq(pool.nchunks, chunks);
    ck_assert_uint_eq(pool.live, 1000);
    ck_assert_uint_eq(pool.peak, 1000);
    for (unsigned i = 0; i < 40; i++)
        ck_assert_ptr_nonnull(sim_pool_get(&pool));
    ck_assert_uint_eq(pool.peak, 1040);
    ck_assert_uint_gt(pool.nchunks, chunks);
    sim_pool_fini(&pool);
    ck_assert_uint_eq(pool.nchunks, 0);

    /* Tiny objects and the default chunk size. */
    sim_pool_init(&pool, 1, 0);
    ck_assert_uint_eq(pool.obj_size, sizeof(void *));
    ck_assert_uint_gt(pool.chunk_objs, 0);
    char *c = sim_pool_get(&pool);
    ck_assert_ptr_nonnull(c);
    sim_pool_put(&pool, c);
    ck_assert_ptr_eq(sim_pool_get(&pool), c);
    sim_pool_fini(&pool);
}
END_TEST

/* ------------------------------------------------------------------- log */

typedef struct sink_rec {
    int n;
    sim_log_level_t level[8];
    char msg[8][128];
} sink_rec_t;

static void rec_sink(void *opaque, sim_log_level_t level, const char *msg)
{
    sink_rec_t *r = opaque;
    if (r->n < 8) {
        r->level[r->n] = level;
        snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
    }
    r->n++;
}

START_TEST(test_log)
{
    sim_log_t log;
    sink_rec_t rec = {0};

    sim_log_init(&log, SIM_LOG_WARN, rec_sink, &rec);
    ck_assert_str_eq(sim_log_last_error(&log), "");
    sim_logf(&log, SIM_LOG_INFO, "info %d", 1);   /* filtered */
    sim_logf(&log, SIM_LOG_WARN, "warn %s", "x"); /* passes */
    sim_logf(&log, SIM_LOG_ERROR, "err %u", 7u);
    sim_logf(&log, SIM_LOG_DEBUG, "debug");
    ck_assert_int_eq(rec.n, 2);
    ck_assert_int_eq(rec.level[0], SIM_LOG_WARN);
    ck_assert_str_eq(rec.msg[0], "warn x");
    ck_assert_str_eq(rec.msg[1], "err 7");
    ck_assert_uint_eq(log.errors, 1);
    ck_assert_str_eq(sim_log_last_error(&log), "err 7");
    sim_logf(NULL, SIM_LOG_ERROR, "nowhere"); /* a NULL log is fine */
    ck_assert_str_eq(sim_log_last_error(NULL), "");

    /* Errors are kept even below the level filter, and without a sink. */
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sim_logf(&log, SIM_LOG_ERROR, "%s", big);
    ck_assert_uint_eq(strlen(sim_log_last_error(&log)),
                      sizeof(log.last_error) - 1);

    /* The file sink. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sim_log_init(&log, SIM_LOG_DEBUG, sim_log_sink_file, f);
    sim_logf(&log, SIM_LOG_ERROR, "e");
    sim_logf(&log, SIM_LOG_WARN, "w");
    sim_logf(&log, SIM_LOG_INFO, "i");
    sim_logf(&log, SIM_LOG_DEBUG, "d");
    fclose(f);
    ck_assert_str_eq(buf, "error: e\nwarning: w\ninfo: i\ndebug: d\n");
    free(buf);
}
END_TEST

/* ---------------------------------------------------------- atomic files */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(test_afile)
{
    char dir[] = "/tmp/test_afile_XXXXXX";
    char path[256];
    sim_afile_t af;
    sim_log_t log;

    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/out.txt", dir);

    /* Commit: the file appears whole, the temporary is gone. */
    ck_assert_int_eq(sim_afile_open(&af, path, &log), 0);
    fprintf(af.f, "hello %d\n", 42);
    ck_assert_int_eq(access(path, F_OK), -1); /* not there before commit */
    ck_assert_int_eq(access(af.tmp, F_OK), 0);
    char tmp[sizeof(af.tmp)];
    strcpy(tmp, af.tmp);
    ck_assert_int_eq(sim_afile_commit(&af, &log), 0);
    char *got = slurp(path);
    ck_assert_str_eq(got, "hello 42\n");
    free(got);
    ck_assert_int_eq(access(tmp, F_OK), -1);

    /* Abort: the old file stays, the temporary is removed. */
    ck_assert_int_eq(sim_afile_open(&af, path, &log), 0);
    fprintf(af.f, "torn");
    strcpy(tmp, af.tmp);
    sim_afile_abort(&af);
    ck_assert_ptr_null(af.f);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    got = slurp(path);
    ck_assert_str_eq(got, "hello 42\n");
    free(got);
    sim_afile_abort(&af); /* twice is harmless */

    /* Replace. */
    ck_assert_int_eq(sim_afile_open(&af, path, &log), 0);
    fprintf(af.f, "second\n");
    ck_assert_int_eq(sim_afile_commit(&af, &log), 0);
    got = slurp(path);
    ck_assert_str_eq(got, "second\n");
    free(got);
    ck_assert_int_eq(sim_afile_commit(&af, &log), -EBADF); /* not open */

    /* A directory that does not exist. */
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/missing/out.txt", dir);
    ck_assert_int_eq(sim_afile_open(&af, bad, &log), -ENOENT);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "cannot create"));
    ck_assert_ptr_nonnull(
        strstr(sim_log_last_error(&log), "missing/out.txt.tmp."));

    /* Renaming over a directory fails at commit; the temporary is removed. */
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/adir", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    char inner[320];
    snprintf(inner, sizeof(inner), "%s/x", sub);
    FILE *f = fopen(inner, "w");
    fclose(f);
    ck_assert_int_eq(sim_afile_open(&af, sub, &log), 0);
    strcpy(tmp, af.tmp);
    ck_assert_int_lt(sim_afile_commit(&af, &log), 0);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_ptr_nonnull(strstr(sim_log_last_error(&log), "cannot rename"));

    unlink(inner);
    rmdir(sub);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---------------------------------------------------------------- server */

typedef struct done_rec {
    size_t n;
    uintptr_t job[64];
    sim_time_t when[64];
    sim_server_t *srv;
    bool resubmit; /* submit job+100 from the callback, once per job < 100 */
} done_rec_t;

static void on_done(sim_t *sim, void *opaque, void *job)
{
    done_rec_t *r = opaque;
    ck_assert_uint_lt(r->n, 64);
    r->job[r->n] = (uintptr_t)job;
    r->when[r->n] = sim_now(sim);
    r->n++;
    if (r->resubmit && (uintptr_t)job < 100)
        sim_server_submit_time(r->srv, (void *)((uintptr_t)job + 100), 10);
}

START_TEST(test_server_fifo_single)
{
    sim_t *sim = sim_create(NULL);
    sim_stats_t *st = sim_stats_create();
    done_rec_t r = {0};
    sim_server_cfg_t cfg = {
        .name = "s", .servers = 1, .service = sim_dist_fixed(100)};
    sim_rng_t rng;

    sim_rng_seed(&rng, 1, "s");
    sim_server_t *srv = sim_server_create(sim, st, &cfg, &rng, on_done, &r);
    ck_assert_ptr_nonnull(srv);
    /* Arrives to an idle server: starts at once. */
    ck_assert(sim_server_submit(srv, (void *)1));
    ck_assert_uint_eq(sim_server_busy(srv), 1);
    ck_assert_uint_eq(sim_server_queued(srv), 0);
    ck_assert(sim_server_submit(srv, (void *)2));
    ck_assert(sim_server_submit_time(srv, (void *)3, 5));
    ck_assert(sim_server_submit(srv, (void *)4));
    ck_assert_uint_eq(sim_server_queued(srv), 3);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r.n, 4);
    static const uintptr_t jobs[] = {1, 2, 3, 4};
    static const sim_time_t when[] = {100, 200, 205, 305};
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(r.job[i], jobs[i]);
        ck_assert_uint_eq(r.when[i], when[i]);
    }
    ck_assert_uint_eq(sim_server_completions(srv), 4);
    ck_assert_uint_eq(sim_server_busy(srv), 0);
    /* waits: 0, 100, 200, 205 */
    ck_assert_double_eq_tol(sim_server_mean_wait(srv), 505.0 / 4, 1e-9);
    sim_hist_t *w = sim_stats_find_hist(st, "s.wait");
    sim_hist_t *sv = sim_stats_find_hist(st, "s.service");
    ck_assert(w && sv);
    ck_assert_uint_eq(w->count, 4);
    ck_assert_uint_eq(w->min, 0);
    ck_assert_uint_eq(w->max, 205);
    ck_assert_uint_eq(sv->min, 5);
    ck_assert_uint_eq(sv->max, 100);
    ck_assert_uint_eq(sim_stats_find_counter(st, "s.arrivals")->value, 4);
    ck_assert_uint_eq(sim_stats_find_counter(st, "s.completions")->value, 4);
    ck_assert_uint_eq(sim_stats_find_counter(st, "s.drops")->value, 0);
    sim_gauge_t *busy = sim_stats_find_gauge(st, "s.busy");
    sim_gauge_t *queue = sim_stats_find_gauge(st, "s.queue");
    ck_assert(busy && queue);
    ck_assert(busy->max == 1.0);
    ck_assert(queue->max == 3.0);
    ck_assert_double_eq_tol(sim_gauge_mean(busy, 305), 1.0, 1e-12);
    /* queue: 3 on [0,100), 2 on [100,200), 1 on [200,205) -> 505 / 305 */
    ck_assert_double_eq_tol(sim_gauge_mean(queue, 305), 505.0 / 305, 1e-12);
    /* A second server of the same name cannot register. */
    ck_assert_ptr_null(sim_server_create(sim, st, &cfg, &rng, on_done, &r));
    sim_server_destroy(srv);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_server_parallel_bounded)
{
    sim_t *sim = sim_create(NULL);
    done_rec_t r = {0};
    sim_server_cfg_t cfg = {.name = "p",
                            .servers = 3,
                            .queue_limit = 2,
                            .service = sim_dist_fixed(50)};
    sim_rng_t rng;

    sim_rng_seed(&rng, 1, "p");
    /* No registry: the server keeps its own statistics. */
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, &rng, on_done, &r);
    ck_assert_ptr_nonnull(srv);
    for (uintptr_t j = 1; j <= 5; j++)
        ck_assert(sim_server_submit(srv, (void *)j));
    ck_assert_uint_eq(sim_server_busy(srv), 3);
    ck_assert_uint_eq(sim_server_queued(srv), 2);
    ck_assert(!sim_server_submit(srv, (void *)6)); /* full: dropped */
    ck_assert(!sim_server_submit(srv, (void *)7));
    ck_assert_uint_eq(sim_server_drops(srv), 2);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r.n, 5);
    static const sim_time_t when[] = {50, 50, 50, 100, 100};
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_uint_eq(r.job[i], i + 1);
        ck_assert_uint_eq(r.when[i], when[i]);
    }
    ck_assert_uint_eq(sim_server_completions(srv), 5);
    ck_assert_double_eq_tol(sim_server_mean_wait(srv), 100.0 / 5, 1e-9);
    sim_server_destroy(srv);

    /* Zero servers is refused. */
    cfg.servers = 0;
    ck_assert_ptr_null(sim_server_create(sim, NULL, &cfg, &rng, NULL, NULL));
    sim_destroy(sim);
}
END_TEST

/* A job submitted from the done callback must not overtake waiting jobs;
 * an unbounded queue grows past its initial size. */
START_TEST(test_server_fifo_with_callback_submits)
{
    sim_t *sim = sim_create(NULL);
    done_rec_t r = {0};
    sim_server_cfg_t cfg = {
        .name = "c", .servers = 1, .service = sim_dist_fixed(10)};
    sim_rng_t rng;

    sim_rng_seed(&rng, 1, "c");
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, &rng, on_done, &r);
    r.srv = srv;
    r.resubmit = true;
    for (uintptr_t j = 1; j <= 30; j++)
        ck_assert(sim_server_submit(srv, (void *)j));
    ck_assert_uint_eq(sim_server_queued(srv), 29);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r.n, 60);
    for (unsigned i = 0; i < 30; i++) {
        ck_assert_uint_eq(r.job[i], i + 1);
        ck_assert_uint_eq(r.job[30 + i], i + 101);
        ck_assert_uint_eq(r.when[i], 10 * (i + 1));
    }
    sim_server_destroy(srv);
    sim_destroy(sim);
}
END_TEST

/* Destroying a server with jobs in service cancels their completions. */
START_TEST(test_server_destroy_pending)
{
    sim_t *sim = sim_create(NULL);
    done_rec_t r = {0};
    sim_server_cfg_t cfg = {
        .name = "d", .servers = 2, .service = sim_dist_fixed(100)};
    sim_rng_t rng;

    sim_rng_seed(&rng, 1, "d");
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, &rng, on_done, &r);
    for (uintptr_t j = 1; j <= 5; j++)
        sim_server_submit(srv, (void *)j);
    sim_run(sim, 150);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(sim_events_pending(sim), 2);
    sim_server_destroy(srv);
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r.n, 2);
    sim_destroy(sim);
}
END_TEST

/* A held server stays busy past its service until released; the queued
 * job starts at the release, not at the end of the service. */
static void ev_release(sim_t *sim, void *opaque, uint64_t arg)
{
    ck_assert_int_eq(sim_server_release(opaque), 0);
}

START_TEST(test_server_held)
{
    sim_t *sim = sim_create(NULL);
    done_rec_t r = {0};
    sim_server_cfg_t cfg = {
        .name = "h", .servers = 1, .service = sim_dist_fixed(0)};
    sim_rng_t rng;

    sim_rng_seed(&rng, 1, "h");
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, &rng, on_done, &r);
    ck_assert(sim_server_submit_held(srv, (void *)1, 100));
    ck_assert(sim_server_submit_time(srv, (void *)2, 10));
    sim_schedule(sim, 250, ev_release, srv, 0);
    ck_assert_int_eq(sim_server_release(srv), -EINVAL); /* none held yet */
    sim_run(sim, 200);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.when[0], 100);
    ck_assert_uint_eq(sim_server_held(srv), 1);
    ck_assert_uint_eq(sim_server_busy(srv), 1);
    ck_assert_uint_eq(sim_server_queued(srv), 1);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(r.job[1], 2);
    ck_assert_uint_eq(r.when[1], 260); /* released at 250, then 10 */
    ck_assert_uint_eq(sim_server_held(srv), 0);
    ck_assert_uint_eq(sim_server_busy(srv), 0);
    sim_server_destroy(srv);
    sim_destroy(sim);
}
END_TEST

/* ------------------------------------------- growable arrays, OOM, stats */

START_TEST(test_grow)
{
    uint32_t *a = NULL;
    size_t cap = 0;
    ck_assert_int_eq(SIM_GROW(a, cap, 1, 4), 0);
    ck_assert_uint_eq(cap, 4);
    ck_assert_int_eq(SIM_GROW(a, cap, 4, 4), 0);
    ck_assert_uint_eq(cap, 4); /* room already */
    for (uint32_t i = 0; i < 4; i++)
        a[i] = i;
    ck_assert_int_eq(SIM_GROW(a, cap, 9, 4), 0);
    ck_assert_uint_eq(cap, 16); /* doubled twice */
    ck_assert_uint_eq(a[3], 3); /* contents kept */
    ck_assert_int_eq(SIM_GROW(a, cap, SIZE_MAX, 4), -ENOMEM);
    ck_assert_uint_eq(cap, 16);
    free(a);
}
END_TEST

START_TEST(test_oom_stops)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_oom(sim, "unit");
    ck_assert_str_eq(sim_log_last_error(&log), "unit: out of memory");
    ck_assert_uint_eq(log.errors, 1);
    sim_destroy(sim);
}
END_TEST

typedef struct reg_owner {
    sim_counter_t *c;
    sim_gauge_t *g;
    sim_hist_t *h;
    double *x;
} reg_owner_t;

START_TEST(test_stats_register)
{
    static const sim_stat_def_t defs[] = {
        {SIM_STAT_COUNTER, "t.c", "a counter", "n", offsetof(reg_owner_t, c)},
        {SIM_STAT_GAUGE, "t.g", "a gauge", "n", offsetof(reg_owner_t, g)},
        {SIM_STAT_HIST, "t.h", "a histogram", "ps", offsetof(reg_owner_t, h)},
        {SIM_STAT_SCALAR, "t.x", "a scalar", "n", offsetof(reg_owner_t, x)},
    };
    sim_stats_t *st = sim_stats_create();
    reg_owner_t o = {0};
    ck_assert_int_eq(sim_stats_register(st, defs, 4, &o), 0);
    ck_assert_ptr_eq(o.c, sim_stats_find_counter(st, "t.c"));
    ck_assert_ptr_eq(o.g, sim_stats_find_gauge(st, "t.g"));
    ck_assert_ptr_eq(o.h, sim_stats_find_hist(st, "t.h"));
    ck_assert_ptr_eq(o.x, sim_stats_find_scalar(st, "t.x"));
    /* A second registration of the same names fails. */
    reg_owner_t o2 = {0};
    ck_assert_int_eq(sim_stats_register(st, defs, 1, &o2), -ENOMEM);
    sim_stats_destroy(st);
}
END_TEST

START_TEST(test_span_stage_by_name)
{
    static const char *const names[] = {"a", "b", "c"};
    sim_stats_t *st = sim_stats_create();
    sim_spans_t *sp = sim_spans_create(st, "f", names, NULL, 3);
    ck_assert_uint_eq(sim_spans_stage(sp, "b"), 1);
    ck_assert_uint_eq(sim_spans_stage(sp, "zz"), SIM_SPAN_NO_STAGE);
    ck_assert_uint_eq(sim_spans_stage(NULL, "a"), SIM_SPAN_NO_STAGE);
    sim_span_t *s = sim_span_open(sp, 0);
    sim_span_mark(s, SIM_SPAN_NO_STAGE, 5); /* ignored */
    ck_assert_uint_eq(s->marked, 0);
    sim_span_close(sp, s, 10, true);
    sim_spans_destroy(sp);
    sim_stats_destroy(st);
}
END_TEST

/* --------------------------------------------------- server: limits */

/* A server needs at least one server, and its seven statistics names:
 * each one already taken refuses the server with a message. */
START_TEST(test_server_create_refused)
{
    static const char *const suffixes[] = {
        "arrivals", "completions", "drops", "queue", "busy", "wait", "service"};
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_server_cfg_t cfg = {.servers = 0, .service = sim_dist_fixed(SIM_NS)};
    ck_assert_ptr_null(sim_server_create(sim, NULL, &cfg, NULL, NULL, NULL));
    ck_assert_str_eq(sim_log_last_error(&log),
                     "server server: needs at least 1 server");
    cfg.name = "srv";
    cfg.servers = 2;
    for (unsigned i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        sim_stats_t *st = sim_stats_create();
        char name[64];
        snprintf(name, sizeof(name), "srv.%s", suffixes[i]);
        ck_assert_ptr_nonnull(sim_stats_scalar(st, name, "", ""));
        ck_assert_ptr_null(sim_server_create(sim, st, &cfg, NULL, NULL, NULL));
        ck_assert_str_eq(sim_log_last_error(&log),
                         "server srv: cannot register its statistics");
        sim_stats_destroy(st);
    }
    sim_server_destroy(NULL);
    sim_destroy(sim);
}
END_TEST

/* A real job queued behind background (daemon) work holds one unit of
 * work in the engine (sim/server.c, update_hold); destroying the server
 * gives it back. Before any job starts the mean wait is 0. */
START_TEST(test_server_hold_released_by_destroy)
{
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_server_cfg_t cfg = {
        .name = "vcpu", .servers = 1, .service = sim_dist_fixed(SIM_NS)};
    sim_server_t *srv = sim_server_create(sim, NULL, &cfg, NULL, NULL, NULL);
    ck_assert(sim_server_mean_wait(srv) == 0.0);
    ck_assert(sim_server_submit_daemon(srv, NULL, SIM_US));
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    ck_assert(sim_server_submit_time(srv, NULL, SIM_NS));
    ck_assert_uint_eq(sim_server_queued(srv), 1);
    ck_assert_uint_eq(sim_work_pending(sim), 1);
    sim_server_destroy(srv);
    ck_assert_uint_eq(sim_work_pending(sim), 0);
    ck_assert_uint_eq(sim_events_pending(sim), 0);
    sim_destroy(sim);
}
END_TEST

/* ---------------------------------------------- atomic files: failures */

/* An empty or NULL path and a path too long for the buffer: refused
 * before any file is made. */
START_TEST(test_afile_bad_paths)
{
    sim_afile_t af;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    ck_assert_int_eq(sim_afile_open(&af, "", &log), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&log), "atomic file: empty path");
    ck_assert_int_eq(sim_afile_open(&af, NULL, &log), -EINVAL);
    ck_assert_ptr_null(af.f);
    char *p = malloc(sizeof(af.path) + 1);
    memset(p, 'a', sizeof(af.path));
    p[sizeof(af.path)] = '\0';
    ck_assert_int_eq(sim_afile_open(&af, p, &log), -ENAMETOOLONG);
    /* The message quotes the path's start and keeps the reason. */
    char msg[256];
    snprintf(msg, sizeof(msg),
             "%.60s...: path too long (%zu bytes, at most "
             "%zu)",
             p, sizeof(af.path), sizeof(af.path) - 1);
    ck_assert_str_eq(sim_log_last_error(&log), msg);
    free(p);
}
END_TEST

/* A path under a regular file cannot be created (ENOTDIR); a write that
 * fails (a file size limit, RLIMIT_FSIZE, with SIGXFSZ ignored so the
 * write returns EFBIG) fails the commit, removes the temporary and leaves
 * the old file. */
START_TEST(test_afile_write_failures)
{
    char dir[256], file[300], path[320], msg[4400];
    sim_afile_t af;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    iommusim_mkdtemp(dir, sizeof(dir), "test_afile");
    snprintf(file, sizeof(file), "%s/plain", dir);
    iommusim_write_file(file, "old\n", 4);
    snprintf(path, sizeof(path), "%s/out.txt", file);
    ck_assert_int_eq(sim_afile_open(&af, path, &log), -ENOTDIR);
    snprintf(msg, sizeof(msg), "cannot create %s.tmp.%ld: Not a directory",
             path, (long)getpid());
    ck_assert_str_eq(sim_log_last_error(&log), msg);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 1024, .rlim_max = RLIM_INFINITY};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(sim_afile_open(&af, file, &log), 0);
    char tmp[sizeof(af.tmp)];
    strcpy(tmp, af.tmp);
    for (int i = 0; i < 4096; i++)
        fputc('x', af.f);
    ck_assert_int_eq(sim_afile_commit(&af, &log), -EFBIG);
    snprintf(msg, sizeof(msg), "cannot write %s: File too large", tmp);
    ck_assert_str_eq(sim_log_last_error(&log), msg);
    ck_assert_ptr_null(af.f);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    char *got = iommusim_slurp(file, NULL);
    ck_assert_str_eq(got, "old\n");
    free(got);
    iommusim_rm_tree(dir);
}
END_TEST

/* ----------------------------------------------------- log and rng */

static void vlog(sim_log_t *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sim_vlogf(log, SIM_LOG_ERROR, fmt, ap);
    va_end(ap);
}

/* A NULL log takes nothing; the file sink writes "LEVEL: msg" to its FILE,
 * or to stderr when given none, and "log" for a level it does not know. */
START_TEST(test_log_sink_and_null)
{
    vlog(NULL, "%s", "dropped");
    sim_logf(NULL, SIM_LOG_ERROR, "dropped");
    ck_assert_str_eq(sim_log_last_error(NULL), "");

    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    sim_log_sink_file(f, SIM_LOG_WARN, "w1");
    sim_log_sink_file(f, (sim_log_level_t)9, "odd");
    fclose(f);
    ck_assert_str_eq(buf, "warning: w1\nlog: odd\n");

    char dir[256], path[300];
    iommusim_mkdtemp(dir, sizeof(dir), "test_log");
    snprintf(path, sizeof(path), "%s/err.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *e = fopen(path, "w");
    ck_assert_int_eq(dup2(fileno(e), 2), 2);
    sim_log_sink_file(NULL, SIM_LOG_ERROR, "to stderr");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(e);
    char *got = iommusim_slurp(path, NULL);
    ck_assert_str_eq(got, "error: to stderr\n");
    free(got);
    iommusim_rm_tree(dir);
}
END_TEST

/* sim_rng_below(0) is 0 without drawing; below(1) is always 0. */
START_TEST(test_rng_below_edges)
{
    sim_rng_t a, b;
    sim_rng_seed(&a, 7, "x");
    sim_rng_seed(&b, 7, "x");
    ck_assert_uint_eq(sim_rng_below(&a, 0), 0);
    ck_assert_uint_eq(sim_rng_u64(&a), sim_rng_u64(&b)); /* no draw */
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(sim_rng_below(&a, 1), 0);
    /* A NULL stream name hashes like "". */
    sim_rng_seed(&a, 3, NULL);
    sim_rng_seed(&b, 3, "");
    ck_assert_uint_eq(sim_rng_u64(&a), sim_rng_u64(&b));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("misc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_log);
    tcase_add_test(tc, test_afile);
    tcase_add_test(tc, test_server_fifo_single);
    tcase_add_test(tc, test_server_parallel_bounded);
    tcase_add_test(tc, test_server_fifo_with_callback_submits);
    tcase_add_test(tc, test_server_destroy_pending);
    tcase_add_test(tc, test_server_held);
    tcase_add_test(tc, test_grow);
    tcase_add_test(tc, test_oom_stops);
    tcase_add_test(tc, test_stats_register);
    tcase_add_test(tc, test_span_stage_by_name);
    tcase_add_test(tc, test_server_create_refused);
    tcase_add_test(tc, test_server_hold_released_by_destroy);
    tcase_add_test(tc, test_afile_bad_paths);
    tcase_add_test(tc, test_afile_write_failures);
    tcase_add_test(tc, test_log_sink_and_null);
    tcase_add_test(tc, test_rng_below_edges);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}
