/*
 * span.c - per-unit-of-work stage timestamps and their histograms.
 *
 * A family of spans has a fixed list of stages. Closing a span marks the
 * last stage at the close time, then walks the marked stages in order: each
 * stage lasts from the previous marked boundary (or the span's start) to its
 * own mark. The durations therefore telescope to exactly end - start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/pool.h"
#include "sim/span.h"
#include "sim/stats.h"
#include "sim/time.h"

/* One group of a breakdown: its histograms, allocated as it is used. */
typedef struct span_group {
    sim_hist_t *stage[SIM_SPAN_MAX_STAGES];
    sim_hist_t *e2e;
    sim_counter_t *closed;
} span_group_t;

typedef struct span_breakdown {
    struct span_breakdown *next;
    int *group_of; /* per first tag (NULL: by the second tag's value) */
    unsigned ntags, ngroups;
    /* By value: the values with a group (groups[0] is "other"), the
     * registry and the statistics' prefix. */
    uint32_t *values;
    unsigned nvalues, max;
    sim_stats_t *st;
    char *prefix;
    span_group_t groups[];
} span_breakdown_t;

struct sim_spans {
    unsigned nstages;
    span_breakdown_t *breakdowns;
    const char *const *names;
    sim_hist_t *stage_hist[SIM_SPAN_MAX_STAGES];
    double *stage_contrib[SIM_SPAN_MAX_STAGES];
    double stage_sum[SIM_SPAN_MAX_STAGES];
    sim_hist_t *e2e;
    sim_counter_t *closed, *failed, *opened, *refaulted, *auto_resp,
        *auto_refaulted;
    uint64_t open_now;
    uint32_t next_id;
    sim_pool_t pool;
    sim_span_observer_fn observer;
    void *observer_opaque;
};

sim_spans_t *sim_spans_create(sim_stats_t *st, const char *prefix,
                              const char *const *stage_names,
                              const char *const *stage_descs, unsigned nstages)
{
    if (nstages == 0 || nstages > SIM_SPAN_MAX_STAGES)
        return NULL;
    sim_spans_t *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return NULL;
    sp->nstages = nstages;
    sp->names = stage_names;
    sim_pool_init(&sp->pool, sizeof(sim_span_t), 256);

    char name[256], desc[256];
    snprintf(name, sizeof(name), "%s.opened", prefix);
    sp->opened = sim_stats_counter(st, name, "spans opened", "spans");
    snprintf(name, sizeof(name), "%s.closed", prefix);
    sp->closed =
        sim_stats_counter(st, name, "spans completed successfully", "spans");
    snprintf(name, sizeof(name), "%s.failed", prefix);
    sp->failed =
        sim_stats_counter(st, name, "spans that ended in failure", "spans");
    snprintf(name, sizeof(name), "%s.refaulted", prefix);
    sp->refaulted = sim_stats_counter(
        st, name,
        "of the closed spans, those whose retry faulted again (the next "
        "fault of a nested one)",
        "spans");
    snprintf(name, sizeof(name), "%s.auto_responded", prefix);
    sp->auto_resp = sim_stats_counter(
        st, name, "spans answered by hardware (auto-response), not served",
        "spans");
    snprintf(name, sizeof(name), "%s.auto_refaulted", prefix);
    sp->auto_refaulted = sim_stats_counter(
        st, name,
        "of the auto-responded spans, those whose retry faulted again",
        "spans");
    snprintf(name, sizeof(name), "%s.e2e", prefix);
    sp->e2e =
        sim_stats_hist(st, name, "end-to-end time of a completed span", "ps");
    for (unsigned k = 0; k < nstages; k++) {
        snprintf(name, sizeof(name), "%s.stage.%s", prefix, stage_names[k]);
        snprintf(desc, sizeof(desc), "stage time: %s",
                 stage_descs ? stage_descs[k] : stage_names[k]);
        sp->stage_hist[k] = sim_stats_hist(st, name, desc, "ps");
        snprintf(name, sizeof(name), "%s.stage.%s.contrib", prefix,
                 stage_names[k]);
        sp->stage_contrib[k] = sim_stats_scalar(
            st, name,
            "stage time summed over completed spans / completed spans", "ps");
    }
    if (!sp->opened || !sp->closed || !sp->failed || !sp->e2e ||
        !sp->refaulted || !sp->auto_resp || !sp->auto_refaulted) {
        sim_spans_destroy(sp);
        return NULL;
    }
    for (unsigned k = 0; k < nstages; k++) {
        if (!sp->stage_hist[k] || !sp->stage_contrib[k]) {
            sim_spans_destroy(sp);
            return NULL;
        }
    }
    return sp;
}

void sim_spans_destroy(sim_spans_t *sp)
{
    if (!sp)
        return;
    while (sp->breakdowns) {
        span_breakdown_t *b = sp->breakdowns;
        sp->breakdowns = b->next;
        free(b->group_of);
        free(b->values);
        free(b->prefix);
        free(b);
    }
    sim_pool_fini(&sp->pool);
    free(sp);
}

/* Register the (sparse) statistics of a group called `name`. */
static int group_register(const sim_spans_t *sp, sim_stats_t *st,
                          span_group_t *sg, const char *name)
{
    char n[256], desc[256];
    bool ok;
    sim_stats_set_sparse(st, true);
    snprintf(n, sizeof(n), "%s.closed", name);
    sg->closed = sim_stats_counter(st, n, "spans completed", "spans");
    snprintf(n, sizeof(n), "%s.e2e", name);
    sg->e2e = sim_stats_hist(st, n, "end-to-end time", "ps");
    ok = sg->closed && sg->e2e;
    for (unsigned k = 0; k < sp->nstages && ok; k++) {
        snprintf(n, sizeof(n), "%s.stage.%s", name, sp->names[k]);
        snprintf(desc, sizeof(desc), "stage time: %s", sp->names[k]);
        ok = (sg->stage[k] = sim_stats_hist(st, n, desc, "ps")) != NULL;
    }
    sim_stats_set_sparse(st, false);
    return ok ? 0 : -ENOMEM;
}

int sim_spans_breakdown_by_value(sim_spans_t *sp, sim_stats_t *st,
                                 const char *prefix, unsigned max)
{
    if (!max)
        return -EINVAL;
    span_breakdown_t *b =
        calloc(1, sizeof(*b) + (max + 1) * sizeof(b->groups[0]));
    char *pre = strdup(prefix);
    uint32_t *values = calloc(max, sizeof(*values));
    if (!b || !pre || !values) {
        free(b);
        free(pre);
        free(values);
        return -ENOMEM;
    }
    b->values = values;
    b->max = max;
    b->st = st;
    b->prefix = pre;
    b->ngroups = 1;
    b->next = sp->breakdowns;
    sp->breakdowns = b;
    char name[256];
    snprintf(name, sizeof(name), "%s.other", prefix);
    return group_register(sp, st, &b->groups[0], name);
}

/* The group of value v in a breakdown by value: its own (registered the
 * first time), "other" past the first `max` values, or NULL. */
static span_group_t *value_group(const sim_spans_t *sp, span_breakdown_t *b,
                                 uint32_t v)
{
    for (unsigned i = 0; i < b->nvalues; i++)
        if (b->values[i] == v)
            return &b->groups[i + 1];
    if (b->nvalues == b->max)
        return &b->groups[0];
    char name[256];
    span_group_t *g = &b->groups[b->nvalues + 1];
    snprintf(name, sizeof(name), "%s.%" PRIu32, b->prefix, v);
    if (group_register(sp, b->st, g, name))
        return NULL; /* logged by the registry */
    b->values[b->nvalues++] = v;
    return g;
}

int sim_spans_breakdown(sim_spans_t *sp, sim_stats_t *st,
                        const char *const *groups, unsigned ngroups,
                        const int *group_of, unsigned ntags)
{
    if (!ngroups)
        return -EINVAL;
    span_breakdown_t *b =
        calloc(1, sizeof(*b) + ngroups * sizeof(b->groups[0]));
    int *map = malloc((ntags ? ntags : 1) * sizeof(*map));
    if (!b || !map) {
        free(b);
        free(map);
        return -ENOMEM;
    }
    memcpy(map, group_of, ntags * sizeof(*map));
    b->group_of = map;
    b->ntags = ntags;
    b->ngroups = ngroups;
    b->next = sp->breakdowns;
    sp->breakdowns = b; /* freed with the family whatever follows */
    bool ok = true;
    for (unsigned g = 0; g < ngroups && ok; g++)
        ok = !group_register(sp, st, &b->groups[g], groups[g]);
    return ok ? 0 : -ENOMEM;
}

void sim_spans_set_observer(sim_spans_t *sp, sim_span_observer_fn fn,
                            void *opaque)
{
    sp->observer = fn;
    sp->observer_opaque = opaque;
}

const char *sim_spans_stage_name(const sim_spans_t *sp, unsigned stage)
{
    return stage < sp->nstages ? sp->names[stage] : "?";
}

unsigned sim_spans_stage(const sim_spans_t *sp, const char *name)
{
    for (unsigned k = 0; sp && k < sp->nstages; k++)
        if (strcmp(sp->names[k], name) == 0)
            return k;
    return SIM_SPAN_NO_STAGE;
}

unsigned sim_spans_nstages(const sim_spans_t *sp)
{
    return sp->nstages;
}

uint64_t sim_spans_open_count(const sim_spans_t *sp)
{
    return sp->open_now;
}

sim_span_t *sim_span_open(sim_spans_t *sp, sim_time_t t0)
{
    sim_span_t *s = sim_pool_get(&sp->pool);
    if (!s)
        return NULL;
    s->start = t0;
    s->id = sp->next_id++;
    s->tag[0] = s->tag[1] = 0;
    sp->opened->value++;
    sp->open_now++;
    return s;
}

void sim_span_close(sim_spans_t *sp, sim_span_t *s, sim_time_t end, bool ok)
{
    sim_span_end(sp, s, end, ok ? SIM_SPAN_DONE : SIM_SPAN_FAILED);
}

/* A closed span's stage times (as the family records them) into a group. */
static void record_group(const sim_spans_t *sp, span_group_t *g,
                         const sim_span_t *s, sim_time_t end)
{
    sim_time_t prev = s->start;
    for (unsigned k = 0; k < sp->nstages; k++) {
        if (!(s->marked & (1u << k)))
            continue;
        sim_time_t t = s->t[k] < prev ? prev : s->t[k];
        sim_hist_add(g->stage[k], t - prev);
        prev = t;
    }
    sim_hist_add(g->e2e, end - s->start);
    g->closed->value++;
}

void sim_span_end(sim_spans_t *sp, sim_span_t *s, sim_time_t end,
                  sim_span_end_t how)
{
    if (!s)
        return;
    bool ok = how != SIM_SPAN_FAILED && !s->auto_resp;
    if (s->auto_resp) {
        sp->auto_resp->value++;
        if (how == SIM_SPAN_REFAULTED)
            sp->auto_refaulted->value++;
    } else if (ok) {
        if (how == SIM_SPAN_REFAULTED)
            sp->refaulted->value++;
        sim_span_mark(s, sp->nstages - 1, end);
        sim_time_t prev = s->start;
        for (unsigned k = 0; k < sp->nstages; k++) {
            if (!(s->marked & (1u << k)))
                continue;
            /* Marks are made in simulated-time order, but be robust to a
             * stage marked out of order: never record a negative time. */
            sim_time_t t = s->t[k] < prev ? prev : s->t[k];
            sim_hist_add(sp->stage_hist[k], t - prev);
            sp->stage_sum[k] += (double)(t - prev);
            prev = t;
        }
        sim_hist_add(sp->e2e, end - s->start);
        sp->closed->value++;
        for (span_breakdown_t *b = sp->breakdowns; b; b = b->next) {
            span_group_t *g = NULL;
            if (!b->group_of)
                g = value_group(sp, b, s->tag[1]);
            else if (s->tag[0] < b->ntags && b->group_of[s->tag[0]] >= 0)
                g = &b->groups[b->group_of[s->tag[0]]];
            if (g)
                record_group(sp, g, s, end);
        }
    } else {
        sp->failed->value++;
    }
    if (sp->observer)
        sp->observer(sp->observer_opaque, sp, s, end, ok);
    sp->open_now--;
    sim_pool_put(&sp->pool, s);
}

void sim_spans_finish(sim_spans_t *sp)
{
    uint64_t n = sp->closed->value;
    for (unsigned k = 0; k < sp->nstages; k++)
        *sp->stage_contrib[k] = n ? sp->stage_sum[k] / (double)n : 0.0;
}
