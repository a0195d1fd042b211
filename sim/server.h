/*
 * sim/server.h - the server resource primitive: K parallel servers in
 * front of a FIFO queue.
 */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/dist.h"
#include "sim/engine.h"
#include "sim/rng.h"
#include "sim/stats.h"

typedef struct sim_server sim_server_t;

/* Called when a job finishes service (at its completion time). */
typedef void (*sim_server_done_fn)(sim_t *sim, void *opaque, void *job);

/*
 * K parallel servers in front of a FIFO queue, optionally bounded (a job
 * arriving to a full queue is dropped and counted). Service times are drawn
 * from `service` with `rng` unless the job gives its own.
 *
 * Registers under `name` in `st` (if st is non-NULL): name.arrivals,
 * name.completions, name.drops (counters), name.queue (gauge: jobs waiting),
 * name.busy (gauge: servers busy), name.wait (histogram: queueing delay, ps),
 * name.service (histogram, ps).
 */
typedef struct sim_server_cfg {
    const char *name;
    unsigned servers;   /* K >= 1 */
    size_t queue_limit; /* 0 = unbounded */
    sim_dist_t service;
} sim_server_cfg_t;

sim_server_t *sim_server_create(sim_t *sim, sim_stats_t *st,
                                const sim_server_cfg_t *cfg, sim_rng_t *rng,
                                sim_server_done_fn done, void *opaque);
/* Cancel the completions in flight and free the server (NULL is ignored). */
void sim_server_destroy(sim_server_t *srv);

/* Submit a job with a service time drawn from the configured distribution.
 * Returns false if the queue is full and the job was dropped. */
bool sim_server_submit(sim_server_t *srv, void *job);

/* Submit a job with an explicit service time. */
bool sim_server_submit_time(sim_server_t *srv, void *job, sim_time_t service);

/* Submit background work (e.g. a guest's other load) with an explicit
 * service time: its completion is a daemon event (sim_schedule_daemon), so
 * background work alone does not keep a run alive. */
bool sim_server_submit_daemon(sim_server_t *srv, void *job, sim_time_t service);

/*
 * Submit a job whose server stays busy after its service ends: the done
 * callback runs at the end of the service as usual, and the server takes
 * no other job until sim_server_release. For work that continues in other
 * modules on the same thread (a vCPU that exits to the VMM and waits for
 * its ioctl to return). Busy and queue gauges count the held server as
 * busy; the service histogram records the service time only.
 */
bool sim_server_submit_held(sim_server_t *srv, void *job, sim_time_t service);
/* Free one held server (it takes the next queued job). Returns 0, or
 * -EINVAL when no server is held. */
int sim_server_release(sim_server_t *srv);
/* Servers held after their service. */
unsigned sim_server_held(const sim_server_t *srv);

/* Jobs waiting (not in service), and servers busy. */
size_t sim_server_queued(const sim_server_t *srv);
unsigned sim_server_busy(const sim_server_t *srv);
/* Totals since creation. */
uint64_t sim_server_completions(const sim_server_t *srv);
uint64_t sim_server_drops(const sim_server_t *srv);
/* Mean waiting time (ps) of the jobs that have started service. */
double sim_server_mean_wait(const sim_server_t *srv);

#endif /* SIM_SERVER_H */
