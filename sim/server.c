/*
 * sim/server.c - K parallel servers in front of a FIFO queue.
 *
 * The queue is a power-of-two ring of (job, arrival time, service time)
 * entries; an unbounded queue doubles when full, a bounded one is sized at
 * creation, so nothing is allocated per job in the steady state. Each of
 * the K servers is a slot holding the job in service and the handle of its
 * completion event (so that destroying the server cancels them); free slots
 * are kept on a stack. Statistics go to the registry if one is given, else
 * to private copies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dist.h"
#include "sim/engine.h"
#include "sim/log.h"
#include "sim/rng.h"
#include "sim/server.h"
#include "sim/stats.h"
#include "sim/time.h"

#define QUEUE_INIT_CAP 16

typedef struct qent {
    void *job;
    sim_time_t arrival;
    sim_time_t service;
    bool drawn;  /* draw the service time when the job starts */
    bool daemon; /* background work: its completion is a daemon event */
    bool hold;   /* the server stays busy after the service, until released */
} qent_t;

typedef struct srv_slot {
    void *job;
    sim_event_id_t ev; /* 0 while the slot is idle or held */
    bool hold;         /* keep the slot when the service ends */
    bool daemon;       /* serving background work */
} srv_slot_t;

struct sim_server {
    sim_t *sim;
    char *name;
    unsigned servers, busy;
    size_t limit;
    sim_dist_t service;
    sim_rng_t *rng;
    sim_server_done_fn done;
    void *opaque;

    qent_t *q;
    size_t qcap, qhead, qcount; /* qcap is a power of two */

    srv_slot_t *slot; /* K */
    unsigned *idle;   /* stack of idle slot indices */
    unsigned nidle;
    unsigned *held; /* stack of slots held after their service */
    unsigned nheld;

    /* A real job queued behind background work is pending work although
     * no real event will serve it: the server holds one unit of work in
     * the engine (sim_work_hold) while it has both. */
    size_t qreal;     /* real (non-daemon) jobs in the queue */
    unsigned sdaemon; /* slots serving background work */
    bool holding;

    uint64_t started;
    double wait_sum;

    sim_counter_t *arrivals, *completions, *drops;
    sim_gauge_t *queue_g, *busy_g;
    sim_hist_t *wait_h, *service_h;

    /* Used when no registry is given. */
    sim_counter_t own_arrivals, own_completions, own_drops;
    sim_gauge_t own_queue, own_busy;
    sim_hist_t own_wait, own_service;
    bool own_hists;
};

static size_t pow2_at_least(size_t n)
{
    size_t c = 1;

    while (c < n)
        c <<= 1;
    return c;
}

/* Register name.suffix (counter, gauge or histogram by `kind`). */
static void *reg(sim_stats_t *st, const char *base, const char *suffix,
                 char kind, const char *desc, const char *unit)
{
    char name[256];

    snprintf(name, sizeof(name), "%s.%s", base, suffix);
    switch (kind) {
    case 'c':
        return sim_stats_counter(st, name, desc, unit);
    case 'g':
        return sim_stats_gauge(st, name, desc, unit);
    default:
        return sim_stats_hist(st, name, desc, unit);
    }
}

sim_server_t *sim_server_create(sim_t *sim, sim_stats_t *st,
                                const sim_server_cfg_t *cfg, sim_rng_t *rng,
                                sim_server_done_fn done, void *opaque)
{
    sim_log_t *log = sim_log(sim);
    const char *name = cfg->name ? cfg->name : "server";

    if (cfg->servers == 0) {
        sim_logf(log, SIM_LOG_ERROR, "server %s: needs at least 1 server",
                 name);
        return NULL;
    }
    sim_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        goto nomem;
    srv->sim = sim;
    srv->servers = cfg->servers;
    srv->limit = cfg->queue_limit;
    srv->service = cfg->service;
    srv->rng = rng;
    srv->done = done;
    srv->opaque = opaque;
    srv->name = malloc(strlen(name) + 1);
    if (!srv->name)
        goto nomem;
    strcpy(srv->name, name);
    srv->qcap = pow2_at_least(srv->limit ? srv->limit : QUEUE_INIT_CAP);
    srv->q = malloc(srv->qcap * sizeof(*srv->q));
    srv->slot = calloc(srv->servers, sizeof(*srv->slot));
    srv->idle = malloc(srv->servers * sizeof(*srv->idle));
    srv->held = malloc(srv->servers * sizeof(*srv->held));
    if (!srv->q || !srv->slot || !srv->idle || !srv->held)
        goto nomem;
    for (unsigned i = 0; i < srv->servers; i++)
        srv->idle[i] = srv->servers - 1 - i; /* slot 0 on top */
    srv->nidle = srv->servers;

    if (st) {
        srv->arrivals =
            reg(st, name, "arrivals", 'c', "jobs submitted", "jobs");
        srv->completions =
            reg(st, name, "completions", 'c', "jobs completed", "jobs");
        srv->drops = reg(st, name, "drops", 'c',
                         "jobs dropped because the queue was full", "jobs");
        srv->queue_g = reg(st, name, "queue", 'g', "jobs waiting", "jobs");
        srv->busy_g = reg(st, name, "busy", 'g', "servers busy", "servers");
        srv->wait_h = reg(st, name, "wait", 'h', "queueing delay", "ps");
        srv->service_h = reg(st, name, "service", 'h', "service time", "ps");
        if (!srv->arrivals || !srv->completions || !srv->drops ||
            !srv->queue_g || !srv->busy_g || !srv->wait_h || !srv->service_h) {
            sim_logf(log, SIM_LOG_ERROR,
                     "server %s: cannot register its statistics", name);
            sim_server_destroy(srv);
            return NULL;
        }
    } else {
        srv->own_hists = true;
        if (sim_hist_init(&srv->own_wait) < 0 ||
            sim_hist_init(&srv->own_service) < 0)
            goto nomem;
        srv->arrivals = &srv->own_arrivals;
        srv->completions = &srv->own_completions;
        srv->drops = &srv->own_drops;
        srv->queue_g = &srv->own_queue;
        srv->busy_g = &srv->own_busy;
        srv->wait_h = &srv->own_wait;
        srv->service_h = &srv->own_service;
    }
    /* Time-weighted gauges integrate from the server's creation. */
    srv->queue_g->origin = srv->queue_g->last = sim_now(sim);
    srv->busy_g->origin = srv->busy_g->last = sim_now(sim);
    return srv;
nomem:
    sim_logf(log, SIM_LOG_ERROR, "server %s: out of memory", name);
    sim_server_destroy(srv);
    return NULL;
}

/*
 * Keep the engine's count of held work in step: a real job waiting while
 * background work is in service will be served when a daemon completion
 * frees a server, so the run must go on. With no background work in
 * service, whatever frees a server (a real completion, or a release by
 * work elsewhere) is real work already, or nothing will: then the job is
 * left queued and the run can end, for its owner to report.
 */
static void update_hold(sim_server_t *srv)
{
    bool hold = srv->qreal > 0 && srv->sdaemon > 0;
    if (hold == srv->holding)
        return;
    srv->holding = hold;
    if (hold)
        sim_work_hold(srv->sim);
    else
        sim_work_unhold(srv->sim);
}

/* Destroy the server; completions still pending are cancelled (their jobs
 * are not reported). */
void sim_server_destroy(sim_server_t *srv)
{
    if (!srv)
        return;
    if (srv->holding)
        sim_work_unhold(srv->sim);
    for (unsigned i = 0; srv->slot && i < srv->servers; i++)
        if (srv->slot[i].ev)
            sim_cancel(srv->sim, srv->slot[i].ev);
    free(srv->slot);
    free(srv->idle);
    free(srv->held);
    if (srv->own_hists) {
        sim_hist_fini(&srv->own_wait);
        sim_hist_fini(&srv->own_service);
    }
    free(srv->q);
    free(srv->name);
    free(srv);
}

static void complete_cb(sim_t *sim, void *opaque, uint64_t arg);

/* Put a job into service in slot i at the current time. */
static void start_job(sim_server_t *srv, unsigned i, const qent_t *e)
{
    sim_time_t now = sim_now(srv->sim);
    sim_time_t s =
        e->drawn ? sim_dist_draw(&srv->service, srv->rng) : e->service;
    sim_time_t wait = now - e->arrival;

    srv->started++;
    srv->wait_sum += (double)wait;
    sim_hist_add(srv->wait_h, wait);
    sim_hist_add(srv->service_h, s);
    srv->slot[i].job = e->job;
    srv->slot[i].hold = e->hold;
    srv->slot[i].daemon = e->daemon;
    srv->sdaemon += e->daemon;
    srv->slot[i].ev =
        e->daemon ? sim_schedule_daemon(srv->sim, s, complete_cb, srv, i)
                  : sim_schedule(srv->sim, s, complete_cb, srv, i);
    if (!srv->slot[i].ev)
        sim_logf(sim_log(srv->sim), SIM_LOG_ERROR,
                 "server %s: cannot schedule a completion", srv->name);
}

/* Double the (unbounded) ring, unwrapping it. */
static int queue_grow(sim_server_t *srv)
{
    size_t cap = srv->qcap * 2;
    qent_t *q = malloc(cap * sizeof(*q));

    if (!q)
        return -ENOMEM;
    for (size_t i = 0; i < srv->qcount; i++)
        q[i] = srv->q[(srv->qhead + i) & (srv->qcap - 1)];
    free(srv->q);
    srv->q = q;
    srv->qcap = cap;
    srv->qhead = 0;
    return 0;
}

/* Slot i is free: give it to the head of the queue, or make it idle. */
static void slot_free(sim_server_t *srv, unsigned i, sim_time_t now)
{
    if (srv->qcount > 0) {
        qent_t e = srv->q[srv->qhead];
        srv->qhead = (srv->qhead + 1) & (srv->qcap - 1);
        srv->qcount--;
        srv->qreal -= !e.daemon;
        sim_gauge_set(srv->queue_g, now, (double)srv->qcount);
        start_job(srv, i, &e);
    } else {
        srv->idle[srv->nidle++] = i;
        srv->busy--;
        sim_gauge_set(srv->busy_g, now, (double)srv->busy);
    }
}

/*
 * A completion in slot `arg`: hand the slot to the head of the queue first
 * (so a job submitted from the done callback cannot overtake waiting jobs),
 * then report the finished job. A held job keeps its slot until
 * sim_server_release.
 */
static void complete_cb(sim_t *sim, void *opaque, uint64_t arg)
{
    sim_server_t *srv = opaque;
    unsigned i = (unsigned)arg;
    void *job = srv->slot[i].job;

    srv->slot[i].ev = 0;
    srv->slot[i].job = NULL;
    srv->sdaemon -= srv->slot[i].daemon;
    srv->slot[i].daemon = false;
    if (srv->slot[i].hold) {
        srv->slot[i].hold = false;
        srv->held[srv->nheld++] = i;
    } else {
        slot_free(srv, i, sim_now(sim));
    }
    update_hold(srv);
    srv->completions->value++;
    if (srv->done)
        srv->done(sim, srv->opaque, job);
}

/* Start the job now if a server is free, else queue or drop it. */
static bool submit(sim_server_t *srv, void *job, sim_time_t service, bool drawn,
                   bool daemon, bool hold)
{
    sim_time_t now = sim_now(srv->sim);
    qent_t e = {.job = job,
                .arrival = now,
                .service = service,
                .drawn = drawn,
                .daemon = daemon,
                .hold = hold};

    srv->arrivals->value++;
    if (srv->nidle > 0) {
        srv->busy++;
        sim_gauge_set(srv->busy_g, now, (double)srv->busy);
        start_job(srv, srv->idle[--srv->nidle], &e);
        update_hold(srv);
        return true;
    }
    if (srv->limit && srv->qcount >= srv->limit) {
        srv->drops->value++;
        return false;
    }
    if (srv->qcount == srv->qcap && queue_grow(srv) < 0) {
        sim_logf(sim_log(srv->sim), SIM_LOG_ERROR,
                 "server %s: out of memory growing the queue; job dropped",
                 srv->name);
        srv->drops->value++;
        return false;
    }
    srv->q[(srv->qhead + srv->qcount) & (srv->qcap - 1)] = e;
    srv->qcount++;
    srv->qreal += !daemon;
    sim_gauge_set(srv->queue_g, now, (double)srv->qcount);
    update_hold(srv);
    return true;
}

bool sim_server_submit(sim_server_t *srv, void *job)
{
    return submit(srv, job, 0, true, false, false);
}

bool sim_server_submit_time(sim_server_t *srv, void *job, sim_time_t service)
{
    return submit(srv, job, service, false, false, false);
}

bool sim_server_submit_held(sim_server_t *srv, void *job, sim_time_t service)
{
    return submit(srv, job, service, false, false, true);
}

int sim_server_release(sim_server_t *srv)
{
    if (srv->nheld == 0)
        return -EINVAL;
    slot_free(srv, srv->held[--srv->nheld], sim_now(srv->sim));
    update_hold(srv);
    return 0;
}

unsigned sim_server_held(const sim_server_t *srv)
{
    return srv->nheld;
}

bool sim_server_submit_daemon(sim_server_t *srv, void *job, sim_time_t service)
{
    return submit(srv, job, service, false, true, false);
}

size_t sim_server_queued(const sim_server_t *srv)
{
    return srv->qcount;
}

unsigned sim_server_busy(const sim_server_t *srv)
{
    return srv->busy;
}

uint64_t sim_server_completions(const sim_server_t *srv)
{
    return srv->completions->value;
}

uint64_t sim_server_drops(const sim_server_t *srv)
{
    return srv->drops->value;
}

double sim_server_mean_wait(const sim_server_t *srv)
{
    return srv->started ? srv->wait_sum / (double)srv->started : 0.0;
}
