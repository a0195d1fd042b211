/*
 * sim/span.h - spans: one unit of work timed through named stages.
 */
#ifndef SIM_SPAN_H
#define SIM_SPAN_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/stats.h"
#include "sim/time.h"

/*
 * A span follows one unit of work (a page request group) through named
 * stages. Each stage is timed from the previous marked boundary to its own
 * mark, so the stage durations of one span add up exactly to its end-to-end
 * time. A span ends in exactly one of these outcomes, each a counter under
 * "<prefix>.":
 *   closed          served and done (for a fault: answered Success by
 *                   software, and the retry no longer faults on what was
 *                   asked for): the only outcome timed into the histograms
 *                   below; of which refaulted: the retry faulted again on
 *                   something else (SIM_SPAN_REFAULTED: the host's stage 2
 *                   after the guest fixed stage 1)
 *   auto_responded  answered without being served (flagged with
 *                   sim_span_set_auto: a hardware auto-response), whatever
 *                   followed; of which auto_refaulted: the retry after it
 *                   faulted again
 *   failed          ended in failure
 * so opened = closed + auto_responded + failed + open. Only closed spans
 * record:
 *   <stage>          histogram of the stage duration (spans that marked it)
 *   <stage>.contrib  scalar: total stage time / spans closed, so the
 *                    contributions add up to the end-to-end mean exactly
 *   e2e              histogram of end-to-end time (open -> close)
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
    uint32_t tag[2]; /* what breakdowns group it by (sim_span_set_tags) */
    void *user;      /* free for the owner */
    bool auto_resp;  /* answered without being served (sim_span_set_auto) */
} sim_span_t;

/* How a span ends (sim_span_end). */
typedef enum sim_span_end {
    SIM_SPAN_DONE,     /* served and done */
    SIM_SPAN_FAILED,   /* ended in failure */
    SIM_SPAN_REFAULTED /* answered, and the retry faulted again */
} sim_span_end_t;

typedef struct sim_spans sim_spans_t;

/* Optional observer, called at close (e.g. a timeline writer); ok is true
 * for a closed span only. */
typedef void (*sim_span_observer_fn)(void *opaque, const sim_spans_t *family,
                                     const sim_span_t *span, sim_time_t end,
                                     bool ok);

/*
 * A family of spans with `nstages` (1..SIM_SPAN_MAX_STAGES) named stages,
 * registering its statistics under "<prefix>." in st (stage_descs may be
 * NULL; the name arrays must outlive the family). NULL on a bad stage
 * count or an allocation or registration failure.
 */
sim_spans_t *sim_spans_create(sim_stats_t *st, const char *prefix,
                              const char *const *stage_names,
                              const char *const *stage_descs, unsigned nstages);
/* Free the family and its open spans (NULL is ignored). */
void sim_spans_destroy(sim_spans_t *sp);
/* Install the observer called at each close (fn NULL: none). */
void sim_spans_set_observer(sim_spans_t *sp, sim_span_observer_fn fn,
                            void *opaque);
/* The name of a stage, or "?" for an index out of range. */
const char *sim_spans_stage_name(const sim_spans_t *sp, unsigned stage);
/*
 * The index of the stage called `name`, or SIM_SPAN_NO_STAGE (also for a
 * NULL family). A module resolves the stages it stamps once, at creation,
 * so the list of stages belongs to whoever builds the family.
 */
unsigned sim_spans_stage(const sim_spans_t *sp, const char *name);
/* The number of stages of the family. */
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
/*
 * The span's work was answered without being served (a page request group
 * answered by hardware, PCIe r4.0 10.4.2 / VT-d 7.4.1): however it ends,
 * it counts as auto_responded, never as closed. NULL is ignored.
 */
static inline void sim_span_set_auto(sim_span_t *s)
{
    if (s)
        s->auto_resp = true;
}
/* The span's two tags (e.g. the device that opened it and the address
 * space), which the family's breakdowns map to their groups. NULL is
 * ignored. */
static inline void sim_span_set_tags(sim_span_t *s, uint32_t tag0,
                                     uint32_t tag1)
{
    if (s) {
        s->tag[0] = tag0;
        s->tag[1] = tag1;
    }
}
/*
 * A breakdown of the family: a closed span whose first tag t has
 * group_of[t] = g >= 0 (t < ntags) is also recorded in group g, whose
 * statistics are
 * "<groups[g]>.e2e", "<groups[g]>.stage.<stage>" (histograms) and
 * "<groups[g]>.closed" (counter), registered sparse (sim_stats_set_sparse):
 * a stage no span of the group went through is absent from the outputs.
 * The arrays are copied. Returns 0, -EINVAL (no group) or -ENOMEM.
 */
int sim_spans_breakdown(sim_spans_t *sp, sim_stats_t *st,
                        const char *const *groups, unsigned ngroups,
                        const int *group_of, unsigned ntags);
/*
 * A breakdown by the second tag, with a group per value as values appear:
 * "<prefix>.<value>.*" for the first `max` distinct values, and
 * "<prefix>.other.*" for all the others (so the outputs stay bounded
 * whatever the number of values). Groups are registered (sparse) when
 * first needed; registering can fail only for memory (the span is then
 * left out of the breakdown). Returns 0, -EINVAL (max 0) or -ENOMEM.
 */
int sim_spans_breakdown_by_value(sim_spans_t *sp, sim_stats_t *st,
                                 const char *prefix, unsigned max);
/* End the span at `end` with outcome `how` (see above) and free it. */
void sim_span_end(sim_spans_t *sp, sim_span_t *s, sim_time_t end,
                  sim_span_end_t how);
/* sim_span_end with SIM_SPAN_DONE (ok) or SIM_SPAN_FAILED. */
void sim_span_close(sim_spans_t *sp, sim_span_t *s, sim_time_t end, bool ok);
/* Update the .contrib scalars (call before writing stats). */
void sim_spans_finish(sim_spans_t *sp);

#endif /* SIM_SPAN_H */
