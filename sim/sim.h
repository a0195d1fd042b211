/*
 * sim/sim.h - public interface of simcore: time, the discrete-event engine,
 * object pools, seeded RNG streams, delay distributions, the `server`
 * resource primitive, the statistics registry, the parameter/config system
 * and the log.
 *
 * Conventions (DESIGN.md section 6): every function returns 0 or a negative
 * errno-style code on failure and reports the reason through the log; none
 * exits or prints to stdout. There are no mutable globals: every object is
 * created and destroyed explicitly.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ time */

/* Simulated time in picoseconds, one global clock. */
typedef uint64_t sim_time_t;

#define SIM_PS ((sim_time_t)1)
#define SIM_NS ((sim_time_t)1000)
#define SIM_US ((sim_time_t)1000000)
#define SIM_MS ((sim_time_t)1000000000)
#define SIM_S ((sim_time_t)1000000000000ull)
#define SIM_TIME_MAX UINT64_MAX

/* ------------------------------------------------------------------- log */

typedef enum {
    SIM_LOG_ERROR = 0,
    SIM_LOG_WARN = 1,
    SIM_LOG_INFO = 2,
    SIM_LOG_DEBUG = 3,
} sim_log_level_t;

/* Receives each message that passes the level filter (no trailing newline). */
typedef void (*sim_log_sink_fn)(void *opaque, sim_log_level_t level,
                                const char *msg);

/*
 * A log: a level filter and a sink. Library code logs through the log it was
 * given; the tool decides where messages go. The last error message is kept
 * so that a caller can report it once (see sim_log_last_error).
 */
typedef struct sim_log {
    sim_log_level_t level;
    sim_log_sink_fn sink; /* NULL: messages are only kept, not passed on */
    void *opaque;
    unsigned errors;       /* number of SIM_LOG_ERROR messages so far */
    char last_error[1024]; /* text of the last SIM_LOG_ERROR message */
} sim_log_t;

/* Initialise a log with a level and a sink (sink may be NULL). */
void sim_log_init(sim_log_t *log, sim_log_level_t level, sim_log_sink_fn sink,
                  void *opaque);

/* Log a printf-style message. A NULL log discards the message. */
void sim_logf(sim_log_t *log, sim_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_vlogf(sim_log_t *log, sim_log_level_t level, const char *fmt,
               va_list ap);

/* The last error message logged, or "" if none. */
const char *sim_log_last_error(const sim_log_t *log);

/* A sink that writes "level: msg\n" to the FILE* passed as opaque. */
void sim_log_sink_file(void *opaque, sim_log_level_t level, const char *msg);

/* ------------------------------------------------------------ the engine */

typedef struct sim sim_t;

/* An event handler: runs at the event's time with the two words it was given. */
typedef void (*sim_event_fn)(sim_t *sim, void *opaque, uint64_t arg);

/* Handle of a scheduled event, for cancellation. 0 is never a valid handle. */
typedef uint64_t sim_event_id_t;

/*
 * Create an engine. Events are ordered by (time, insertion sequence), so runs
 * are deterministic. Event records come from an internal pool that only grows
 * while the number in flight reaches a new maximum; the steady state
 * allocates nothing. Returns NULL on allocation failure.
 */
sim_t *sim_create(sim_log_t *log);
void sim_destroy(sim_t *sim);

/* The log given at creation. */
sim_log_t *sim_log(sim_t *sim);

/* Current simulated time. */
sim_time_t sim_now(const sim_t *sim);

/* Schedule fn(opaque, arg) at now + delay. Returns its handle (0 only on
 * allocation failure, which is also logged). */
sim_event_id_t sim_schedule(sim_t *sim, sim_time_t delay, sim_event_fn fn,
                            void *opaque, uint64_t arg);

/* Schedule at an absolute time (a time in the past is treated as now). */
sim_event_id_t sim_schedule_at(sim_t *sim, sim_time_t when, sim_event_fn fn,
                               void *opaque, uint64_t arg);

/* Cancel a scheduled event. Returns true if it was pending and is now
 * cancelled, false if it already ran, was cancelled, or is unknown. */
bool sim_cancel(sim_t *sim, sim_event_id_t id);

/* Run the next event. Returns false if none is pending. */
bool sim_step(sim_t *sim);

/*
 * Run events in order until none is pending (or only daemon events are),
 * sim_stop() is called, or the next event would be later than `until` (then
 * time advances to `until`).
 * Pass SIM_TIME_MAX to run to completion. Returns the number of events run.
 */
uint64_t sim_run(sim_t *sim, sim_time_t until);

/* Ask sim_run to return after the current event. */
void sim_stop(sim_t *sim);

/*
 * Schedule a daemon event: a periodic sampler or a background load
 * generator, which must not keep a run alive by itself. It runs like any
 * event, but sim_work_pending() does not count it: a daemon reschedules
 * itself only while sim_work_pending() > 0.
 */
sim_event_id_t sim_schedule_daemon(sim_t *sim, sim_time_t delay,
                                   sim_event_fn fn, void *opaque, uint64_t arg);
/* Pending events that are not daemons. */
size_t sim_work_pending(const sim_t *sim);

/* Events run so far, and events now pending (cancelled ones excluded). */
uint64_t sim_events_run(const sim_t *sim);
size_t sim_events_pending(const sim_t *sim);

/* An object passed through an event's `arg` word, and back. */
static inline uint64_t sim_ptr_arg(const void *p)
{
    return (uint64_t)(uintptr_t)p;
}
static inline void *sim_arg_ptr(uint64_t arg)
{
    return (void *)(uintptr_t)arg;
}

/*
 * Out of memory inside the model: log "<who>: out of memory" as an error
 * and stop the run (sim_run returns after the current event). The one way
 * a model module reports an allocation failure on an event path.
 */
void sim_oom(sim_t *sim, const char *who);

/* ------------------------------------------------------------ object pool */

/*
 * A pool of fixed-size objects: get/put are O(1); memory is obtained in
 * chunks and only when the number of live objects reaches a new maximum.
 */
typedef struct sim_pool {
    size_t obj_size;   /* rounded up to pointer alignment */
    size_t chunk_objs; /* objects per chunk */
    void *free_list;
    void **chunks;
    size_t nchunks, chunks_cap;
    size_t live, peak;
} sim_pool_t;

void sim_pool_init(sim_pool_t *pool, size_t obj_size, size_t chunk_objs);
void sim_pool_fini(sim_pool_t *pool);
/* A zeroed object, or NULL on allocation failure. */
void *sim_pool_get(sim_pool_t *pool);
void sim_pool_put(sim_pool_t *pool, void *obj);

/*
 * A growable array: make room for `need` elements of `elem` bytes in the
 * array *arrp of capacity *cap, doubling from `first` (or from *cap).
 * Returns 0 (the array and *cap may have moved) or -ENOMEM (unchanged).
 * SIM_GROW(arr, cap, need, first) is the typed form.
 */
int sim_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);
#define SIM_GROW(arr, cap, need, first)                                        \
    sim_grow(&(arr), &(cap), (need), sizeof(*(arr)), (first))

/* ------------------------------------------------------------------- RNG */

/* xoshiro256** stream. */
typedef struct sim_rng {
    uint64_t s[4];
} sim_rng_t;

/*
 * Seed a stream from the run seed and a stream name (the component's name),
 * so that adding a component never changes another component's draws.
 */
void sim_rng_seed(sim_rng_t *rng, uint64_t seed, const char *stream);
uint64_t sim_rng_u64(sim_rng_t *rng);
/* Uniform in [0, 1). */
double sim_rng_double(sim_rng_t *rng);
/* Uniform integer in [0, n) (n > 0), without modulo bias. */
uint64_t sim_rng_below(sim_rng_t *rng, uint64_t n);

/* --------------------------------------------------------- distributions */

typedef enum {
    SIM_DIST_FIXED = 0, /* a */
    SIM_DIST_UNIFORM,   /* [a, b] */
    SIM_DIST_EXP,       /* mean a */
    SIM_DIST_LOGNORMAL, /* median a, sigma b */
    SIM_DIST_MIX,       /* weighted mixture of up to SIM_DIST_MIX_MAX parts */
} sim_dist_kind_t;

#define SIM_DIST_MIX_MAX 4

/* One simple (non-mixture) part: values in picoseconds. */
typedef struct sim_dist_part {
    sim_dist_kind_t kind;
    double a, b;
    double weight; /* mixture weight, normalised to sum 1 */
} sim_dist_part_t;

/* A delay distribution. Values are in picoseconds. */
typedef struct sim_dist {
    sim_dist_kind_t kind;
    unsigned nparts; /* 1 for simple kinds */
    sim_dist_part_t part[SIM_DIST_MIX_MAX];
} sim_dist_t;

/* A fixed delay. */
sim_dist_t sim_dist_fixed(sim_time_t t);

/*
 * Parse a distribution written in nanoseconds (fractions allowed) or with a
 * unit suffix (ps, ns, us, ms) on each number:
 *   "250"  "250ns"  "fixed(250)"  "uniform(100, 300)"  "exp(5us)"
 *   "lognormal(3000, 0.4)" (median, sigma; sigma has no unit)
 *   "mix(0.97: lognormal(2us, 0.4), 0.03: uniform(10us, 100us))"
 * Returns 0, or -EINVAL with a message of what is wrong in err.
 */
int sim_dist_parse(const char *text, sim_dist_t *out, char *err, size_t errlen);

/* Write the canonical text of a distribution (in ns) into buf. */
void sim_dist_format(const sim_dist_t *d, char *buf, size_t len);

/* Draw a value in ps (never negative; rounded to the nearest ps). */
sim_time_t sim_dist_draw(const sim_dist_t *d, sim_rng_t *rng);

/* Mean of the distribution in ps. */
double sim_dist_mean(const sim_dist_t *d);

/* ----------------------------------------------------------------- stats */

typedef struct sim_stats sim_stats_t;

/* A monotonically increasing count. Update with c->value += n. */
typedef struct sim_counter {
    uint64_t value;
} sim_counter_t;

/* A time-weighted gauge (queue length, busy servers, occupancy). */
typedef struct sim_gauge {
    double value;      /* current value */
    double max;        /* largest value seen */
    double integral;   /* sum of value * dt, in value*ps */
    sim_time_t last;   /* time of the last update */
    sim_time_t origin; /* time the gauge started integrating */
} sim_gauge_t;

/*
 * A log-linear histogram of non-negative integers (typically ps): values
 * below 2^SIM_HIST_SUB_BITS are exact; above, each power of two is split
 * into 2^SIM_HIST_SUB_BITS linear buckets, so a reported percentile is
 * within 2^-SIM_HIST_SUB_BITS relative error of the exact value. Count,
 * sum, min, max and the sum of squares are exact.
 */
#define SIM_HIST_SUB_BITS 7
#define SIM_HIST_SUB (1u << SIM_HIST_SUB_BITS)
#define SIM_HIST_BUCKETS ((64 - SIM_HIST_SUB_BITS + 1) * SIM_HIST_SUB)

typedef struct sim_hist {
    uint64_t count;
    uint64_t min, max;
    double sum, sumsq;
    uint64_t *buckets; /* SIM_HIST_BUCKETS counters */
} sim_hist_t;

/* A standalone histogram (not registered), e.g. for tests. */
int sim_hist_init(sim_hist_t *h);
void sim_hist_fini(sim_hist_t *h);
void sim_hist_reset(sim_hist_t *h);
void sim_hist_add(sim_hist_t *h, uint64_t v);
void sim_hist_add_n(sim_hist_t *h, uint64_t v, uint64_t n);
/* The value at percentile p in [0, 100] (nearest-rank); 0 if empty. */
uint64_t sim_hist_percentile(const sim_hist_t *h, double p);
double sim_hist_mean(const sim_hist_t *h);
double sim_hist_stdev(const sim_hist_t *h);
/* Add every sample of src into dst. */
void sim_hist_merge(sim_hist_t *dst, const sim_hist_t *src);

/* A registry of named statistics. Names are dotted: "iommu.iotlb.hits". */
sim_stats_t *sim_stats_create(void);
void sim_stats_destroy(sim_stats_t *st);

/*
 * Register a statistic; the registry owns it. `unit` is free text ("ps",
 * "requests", "entries"). Returns NULL on allocation failure or when the
 * name is already registered (a programming error, which is logged if a
 * log was attached with sim_stats_set_log).
 */
sim_counter_t *sim_stats_counter(sim_stats_t *st, const char *name,
                                 const char *desc, const char *unit);
sim_gauge_t *sim_stats_gauge(sim_stats_t *st, const char *name,
                             const char *desc, const char *unit);
sim_hist_t *sim_stats_hist(sim_stats_t *st, const char *name,
                           const char *desc, const char *unit);
/* A derived scalar, set by the owner before writing (e.g. throughput). */
double *sim_stats_scalar(sim_stats_t *st, const char *name, const char *desc,
                         const char *unit);
void sim_stats_set_log(sim_stats_t *st, sim_log_t *log);

/*
 * Table-driven registration, like parameters: each row names a statistic
 * and where the owner keeps the pointer the registry returns (`off`: the
 * offset, from `base`, of a sim_counter_t *, sim_gauge_t *, sim_hist_t *
 * or double *, by `kind`). Rows are registered in order (the order of
 * stats.txt). Returns 0 or -ENOMEM (a row failed, logged).
 */
typedef enum {
    SIM_STAT_COUNTER,
    SIM_STAT_GAUGE,
    SIM_STAT_HIST,
    SIM_STAT_SCALAR,
} sim_stat_kind_t;

typedef struct sim_stat_def {
    sim_stat_kind_t kind;
    const char *name, *desc, *unit;
    size_t off;
} sim_stat_def_t;

int sim_stats_register(sim_stats_t *st, const sim_stat_def_t *defs, size_t n,
                       void *base);

/* Look up by name (NULL if absent or of another kind). */
sim_counter_t *sim_stats_find_counter(sim_stats_t *st, const char *name);
sim_hist_t *sim_stats_find_hist(sim_stats_t *st, const char *name);
sim_gauge_t *sim_stats_find_gauge(sim_stats_t *st, const char *name);
double *sim_stats_find_scalar(sim_stats_t *st, const char *name);

/* Gauges: set the value at time now (integrates the previous value). */
void sim_gauge_set(sim_gauge_t *g, sim_time_t now, double value);
static inline void sim_gauge_add(sim_gauge_t *g, sim_time_t now, double d)
{
    sim_gauge_set(g, now, g->value + d);
}
/* Time-weighted mean from the gauge's origin to `now`. */
double sim_gauge_mean(const sim_gauge_t *g, sim_time_t now);

/*
 * Write all statistics, in registration order.
 * Text: one line per scalar, "name value # description (unit)"; a gauge
 * gives name.mean / name.max; a histogram gives name.count, .mean, .stdev,
 * .min, .p50, .p90, .p99, .p999, .max.
 * JSON: one object; counters/scalars as numbers, gauges and histograms as
 * objects with the same fields, plus "desc" and "unit".
 * `now` is the end time used for time-weighted means. Returns 0 or -errno.
 */
int sim_stats_write_text(sim_stats_t *st, FILE *out, sim_time_t now);
int sim_stats_write_json(sim_stats_t *st, FILE *out, sim_time_t now);

/* ---------------------------------------------------------------- server */

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

/* ---------------------------------------------------------------- config */

typedef enum {
    SIM_PARAM_UINT = 0, /* uint64_t; decimal or 0x hex; suffixes K M G (x1024) */
    SIM_PARAM_DOUBLE,   /* double */
    SIM_PARAM_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
    SIM_PARAM_ENUM,     /* unsigned: index into enum_values */
    SIM_PARAM_TIME,     /* sim_time_t ps, from ns (fractions) or a unit suffix */
    SIM_PARAM_DIST,     /* sim_dist_t, see sim_dist_parse */
    SIM_PARAM_STRING,   /* char[SIM_PARAM_STR_MAX] */
} sim_param_type_t;

#define SIM_PARAM_STR_MAX 128

/*
 * One configuration key, declared once. The table drives parsing,
 * validation, --set, the listing and the dump. `offset` is the field's
 * offset in the component's config struct.
 */
typedef struct sim_param {
    const char *section; /* "iommu" */
    const char *key;     /* "walk_read" */
    sim_param_type_t type;
    const char *def;    /* default, as text */
    double min, max;    /* allowed range for UINT/DOUBLE/TIME (TIME in ns);
                           min == max == 0: no range check */
    const char *unit;   /* "ns", "entries", ... */
    const char *desc;   /* one line */
    const char *const *enum_values; /* NULL-terminated, for ENUM */
    size_t offset;
} sim_param_t;

typedef struct sim_config sim_config_t;

sim_config_t *sim_config_create(sim_log_t *log);
void sim_config_destroy(sim_config_t *cfg);

/*
 * Register a table of `n` parameters whose values live in the struct at
 * `base`. Defaults are applied at once. Returns 0 or -EINVAL (a duplicate
 * key, or a default that does not parse: a programming error).
 */
int sim_config_register(sim_config_t *cfg, const sim_param_t *params, size_t n,
                        void *base);

/*
 * Read an INI file ([section] then key = value; ';' or '#' comments).
 * An unknown section or key, a duplicate key, a bad value, an out-of-range
 * value or a syntax error is logged as "FILE:LINE: ..." naming the key, and
 * -EINVAL returned. A missing file gives -ENOENT (also logged).
 */
int sim_config_load_file(sim_config_t *cfg, const char *path);

/* Same, from a string (name is used in messages). */
int sim_config_load_string(sim_config_t *cfg, const char *name,
                           const char *text);

/* Apply "section.key=value" (from --set). Errors name the argument. */
int sim_config_set(sim_config_t *cfg, const char *assignment);

/* Look up a parameter by "section.key" (NULL if unknown). */
const sim_param_t *sim_config_find(const sim_config_t *cfg, const char *name);

/* Write the resolved configuration as an INI file that reads back to the
 * same values. */
int sim_config_dump(const sim_config_t *cfg, FILE *out);

/* Write the list of all keys: name, type, default, range, unit, description. */
int sim_config_list(const sim_config_t *cfg, FILE *out);

/* Parse a time: ns by default, fractions allowed, or ps/ns/us/ms suffix. */
int sim_parse_time(const char *text, sim_time_t *out, char *err, size_t errlen);

/* ---------------------------------------------------------- atomic files */

/*
 * Write a file atomically: open "path.tmp.PID" for writing, and on commit
 * fflush+fsync and rename over path. On abort (or commit failure) the
 * temporary file is removed.
 */
typedef struct sim_afile {
    FILE *f;
    char path[4096];
    char tmp[4200];
} sim_afile_t;

int sim_afile_open(sim_afile_t *af, const char *path, sim_log_t *log);
int sim_afile_commit(sim_afile_t *af, sim_log_t *log);
void sim_afile_abort(sim_afile_t *af);


/* ----------------------------------------------------------------- spans */

/*
 * A span follows one unit of work (a page request group) through named
 * stages. Each stage is timed from the previous marked boundary to its own
 * mark, so the stage durations of one span add up exactly to its end-to-end
 * time. Closing a span records, under "<prefix>.":
 *   <stage>          histogram of the stage duration (spans that marked it)
 *   <stage>.contrib  scalar: total stage time / spans closed, so the
 *                    contributions add up to the end-to-end mean exactly
 *   e2e              histogram of end-to-end time (open -> close)
 *   closed, failed   counters
 * Spans come from a pool: no allocation in the steady state.
 */
#define SIM_SPAN_MAX_STAGES 24
/* A stage a span family does not have: marks of it are ignored. */
#define SIM_SPAN_NO_STAGE 0xffu

typedef struct sim_span {
    sim_time_t start;
    sim_time_t t[SIM_SPAN_MAX_STAGES];
    uint32_t marked; /* bit k: stage k marked */
    uint32_t id;     /* sequence number of the span (0, 1, ...) */
    void *user;      /* free for the owner */
} sim_span_t;

typedef struct sim_spans sim_spans_t;

/* Optional observer, called at close (e.g. a timeline writer). */
typedef void (*sim_span_observer_fn)(void *opaque, const sim_spans_t *family,
                                     const sim_span_t *span, sim_time_t end,
                                     bool ok);

sim_spans_t *sim_spans_create(sim_stats_t *st, const char *prefix,
                              const char *const *stage_names,
                              const char *const *stage_descs,
                              unsigned nstages);
void sim_spans_destroy(sim_spans_t *sp);
void sim_spans_set_observer(sim_spans_t *sp, sim_span_observer_fn fn,
                            void *opaque);
const char *sim_spans_stage_name(const sim_spans_t *sp, unsigned stage);
/*
 * The index of the stage called `name`, or SIM_SPAN_NO_STAGE (also for a
 * NULL family). A module resolves the stages it stamps once, at creation,
 * so the list of stages belongs to whoever builds the family.
 */
unsigned sim_spans_stage(const sim_spans_t *sp, const char *name);
unsigned sim_spans_nstages(const sim_spans_t *sp);
/* Spans open now. */
uint64_t sim_spans_open_count(const sim_spans_t *sp);

/* Open a span starting at t0 (NULL on allocation failure). */
sim_span_t *sim_span_open(sim_spans_t *sp, sim_time_t t0);
/* Mark the end of `stage` at time t (a later mark of the same stage wins). */
static inline void sim_span_mark(sim_span_t *s, unsigned stage, sim_time_t t)
{
    if (s && stage < SIM_SPAN_MAX_STAGES) {
        s->t[stage] = t;
        s->marked |= 1u << stage;
    }
}
/* Close at `end`: record the histograms (ok) or count it failed; free it. */
void sim_span_close(sim_spans_t *sp, sim_span_t *s, sim_time_t end, bool ok);
/* Update the .contrib scalars (call before writing stats). */
void sim_spans_finish(sim_spans_t *sp);


/* ----------------------------------------------------------- time series */

/*
 * Per-epoch samples of chosen statistics, streamed as CSV rows while the
 * simulation runs (memory does not grow with the run): a gauge gives its
 * time-weighted mean over the epoch, a counter its increase. The first
 * column is the epoch's end time in ps. The sampler is a daemon: it stops
 * by itself when no other work is pending, after writing a last row.
 */
typedef struct sim_series sim_series_t;

sim_series_t *sim_series_create(sim_t *sim, sim_time_t epoch);
void sim_series_destroy(sim_series_t *ts);
int sim_series_add_gauge(sim_series_t *ts, const char *name, sim_gauge_t *g);
int sim_series_add_counter(sim_series_t *ts, const char *name,
                           sim_counter_t *c);
/* Write the header row to out and schedule the first sample. */
int sim_series_start(sim_series_t *ts, FILE *out);
/* Write the row of the epoch in progress (if any time passed since the
 * last row) and stop sampling. */
void sim_series_finish(sim_series_t *ts);
/* Rows written so far. */
uint64_t sim_series_rows(const sim_series_t *ts);

#endif /* SIM_SIM_H */
