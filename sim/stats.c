/*
 * sim/stats.c - histograms, gauges and the statistics registry.
 *
 * Histogram buckets are log-linear: values below SIM_HIST_SUB are their own
 * bucket; a value with its highest set bit at position m >= SUB_BITS falls
 * in group (m - SUB_BITS + 1), whose SIM_HIST_SUB buckets each span
 * 2^(m - SUB_BITS) values. The registry keeps entries in registration order
 * plus an open-addressing hash index on the name.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sim/log.h"
#include "sim/pool.h"
#include "sim/stats.h"
#include "sim/time.h"

/* ------------------------------------------------------------ histograms */

static inline unsigned hist_bucket(uint64_t v)
{
    if (v < SIM_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - SIM_HIST_SUB_BITS;
    return (shift + 1) * SIM_HIST_SUB + (unsigned)((v >> shift) - SIM_HIST_SUB);
}

/* The smallest and largest value of bucket i. */
static void bucket_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
    if (i < SIM_HIST_SUB) {
        *lo = *hi = i;
        return;
    }
    unsigned shift = i / SIM_HIST_SUB - 1;
    uint64_t sub = i % SIM_HIST_SUB;
    *lo = (SIM_HIST_SUB + sub) << shift;
    *hi = *lo + ((UINT64_C(1) << shift) - 1);
}

int sim_hist_init(sim_hist_t *h)
{
    memset(h, 0, sizeof(*h));
    return 0;
}

void sim_hist_fini(sim_hist_t *h)
{
    for (unsigned r = 0; r < SIM_HIST_ROWS; r++) {
        free(h->rows[r]);
        h->rows[r] = NULL;
    }
}

void sim_hist_reset(sim_hist_t *h)
{
    for (unsigned r = 0; r < SIM_HIST_ROWS; r++)
        if (h->rows[r])
            memset(h->rows[r], 0, SIM_HIST_SUB * sizeof(uint64_t));
    h->count = h->min = h->max = h->unbucketed = 0;
    h->sum = h->sumsq = 0;
}

uint64_t sim_hist_bucket(const sim_hist_t *h, unsigned i, uint64_t *lo,
                         uint64_t *hi)
{
    uint64_t l, u;
    bucket_range(i, &l, &u);
    if (lo)
        *lo = l;
    if (hi)
        *hi = u;
    const uint64_t *row = h->rows[i / SIM_HIST_SUB];
    return row ? row[i % SIM_HIST_SUB] : 0;
}

/* Add n to bucket i, allocating its row the first time. */
static void bucket_add(sim_hist_t *h, unsigned i, uint64_t n)
{
    uint64_t **row = &h->rows[i / SIM_HIST_SUB];
    if (!*row && !(*row = calloc(SIM_HIST_SUB, sizeof(uint64_t)))) {
        h->unbucketed += n;
        return;
    }
    (*row)[i % SIM_HIST_SUB] += n;
}

void sim_hist_add_n(sim_hist_t *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    if (h->count == 0) {
        h->min = h->max = v;
    } else {
        if (v < h->min)
            h->min = v;
        if (v > h->max)
            h->max = v;
    }
    h->count += n;
    double dv = (double)v;
    h->sum += dv * (double)n;
    h->sumsq += dv * dv * (double)n;
    bucket_add(h, hist_bucket(v), n);
}

void sim_hist_add(sim_hist_t *h, uint64_t v)
{
    sim_hist_add_n(h, v, 1);
}

/*
 * Nearest rank: the sample of rank ceil(p/100 * count). The first and last
 * ranks are the exact min and max; otherwise the midpoint of the bucket
 * holding that rank, clamped to [min, max].
 */
uint64_t sim_hist_percentile(const sim_hist_t *h, double p)
{
    if (h->count == 0)
        return 0;
    if (!(p > 0))
        return h->min;
    if (p >= 100)
        return h->max;
    double r = p / 100.0 * (double)h->count;
    double rc = ceil(r - r * 1e-12); /* absorb rounding of p/100 */
    uint64_t rank = rc < 1 ? 1 : (uint64_t)rc;
    if (rank >= h->count)
        return h->max;
    if (rank == 1)
        return h->min;
    if (h->unbucketed) /* the rank among the values in buckets */
        rank =
            (uint64_t)ceil((double)rank * (double)(h->count - h->unbucketed) /
                           (double)h->count);
    uint64_t cum = 0;
    unsigned last = hist_bucket(h->max);
    for (unsigned i = hist_bucket(h->min); i <= last; i++) {
        const uint64_t *row = h->rows[i / SIM_HIST_SUB];
        if (!row) { /* a whole power of two without values */
            i |= SIM_HIST_SUB - 1;
            continue;
        }
        cum += row[i % SIM_HIST_SUB];
        if (cum >= rank) {
            uint64_t lo, hi;
            bucket_range(i, &lo, &hi);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max;
}

double sim_hist_mean(const sim_hist_t *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

/* Population standard deviation. */
double sim_hist_stdev(const sim_hist_t *h)
{
    if (h->count == 0)
        return 0.0;
    double m = h->sum / (double)h->count;
    double var = h->sumsq / (double)h->count - m * m;
    return var > 0 ? sqrt(var) : 0.0;
}

void sim_hist_merge(sim_hist_t *dst, const sim_hist_t *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0) {
        dst->min = src->min;
        dst->max = src->max;
    } else {
        if (src->min < dst->min)
            dst->min = src->min;
        if (src->max > dst->max)
            dst->max = src->max;
    }
    dst->count += src->count;
    dst->sum += src->sum;
    dst->sumsq += src->sumsq;
    dst->unbucketed += src->unbucketed;
    for (unsigned i = 0; i < SIM_HIST_BUCKETS; i++) {
        const uint64_t *row = src->rows[i / SIM_HIST_SUB];
        if (!row) {
            i |= SIM_HIST_SUB - 1;
            continue;
        }
        if (row[i % SIM_HIST_SUB])
            bucket_add(dst, i, row[i % SIM_HIST_SUB]);
    }
}

/* ---------------------------------------------------------------- gauges */

void sim_gauge_set(sim_gauge_t *g, sim_time_t now, double value)
{
    if (now > g->last) {
        g->integral += g->value * (double)(now - g->last);
        g->last = now;
    }
    g->value = value;
    if (value > g->max)
        g->max = value;
}

double sim_gauge_mean(const sim_gauge_t *g, sim_time_t now)
{
    if (now < g->last)
        now = g->last;
    if (now <= g->origin)
        return g->value;
    double integral = g->integral + g->value * (double)(now - g->last);
    return integral / (double)(now - g->origin);
}

/* -------------------------------------------------------------- registry */

typedef enum { ST_COUNTER, ST_GAUGE, ST_HIST, ST_SCALAR } st_kind_t;

typedef struct stat_ent {
    st_kind_t kind;
    bool sparse; /* written only when it has something (sim_stats_set_sparse) */
    char *name, *desc, *unit;
    void *obj;
} stat_ent_t;

struct sim_stats {
    stat_ent_t *ents;
    size_t n, cap;
    uint32_t *index;  /* entry index + 1; 0 = empty */
    size_t index_cap; /* power of two */
    sim_log_t *log;
    char *prefix; /* prepended to the names registered (NULL: none) */
    bool sparse;  /* the entries registered now are sparse */
};

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Slot of name in the index: where it is, or the empty slot to put it. */
static size_t index_slot(const sim_stats_t *st, const char *name)
{
    size_t mask = st->index_cap - 1;
    size_t i = (size_t)name_hash(name) & mask;

    while (st->index[i] && strcmp(st->ents[st->index[i] - 1].name, name))
        i = (i + 1) & mask;
    return i;
}

/* Double the hash index and reinsert every entry. */
static int index_grow(sim_stats_t *st)
{
    size_t cap = st->index_cap ? st->index_cap * 2 : 64;
    uint32_t *idx = calloc(cap, sizeof(*idx));

    if (!idx)
        return -ENOMEM;
    free(st->index);
    st->index = idx;
    st->index_cap = cap;
    for (size_t e = 0; e < st->n; e++)
        st->index[index_slot(st, st->ents[e].name)] = (uint32_t)(e + 1);
    return 0;
}

sim_stats_t *sim_stats_create(void)
{
    sim_stats_t *st = calloc(1, sizeof(*st));

    if (st && index_grow(st) < 0) {
        free(st);
        return NULL;
    }
    return st;
}

static void ent_free(stat_ent_t *e)
{
    if (e->kind == ST_HIST)
        sim_hist_fini(e->obj);
    free(e->obj);
    free(e->name);
    free(e->desc);
    free(e->unit);
}

void sim_stats_destroy(sim_stats_t *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        ent_free(&st->ents[i]);
    free(st->ents);
    free(st->index);
    free(st->prefix);
    free(st);
}

void sim_stats_set_log(sim_stats_t *st, sim_log_t *log)
{
    st->log = log;
}

void sim_stats_set_sparse(sim_stats_t *st, bool sparse)
{
    st->sparse = sparse;
}

/* An entry with nothing to say: sparse, and a counter at 0 or an empty
 * histogram. */
static bool omitted(const stat_ent_t *e)
{
    if (!e->sparse)
        return false;
    if (e->kind == ST_HIST)
        return ((const sim_hist_t *)e->obj)->count == 0;
    return e->kind == ST_COUNTER && ((const sim_counter_t *)e->obj)->value == 0;
}

int sim_stats_set_prefix(sim_stats_t *st, const char *prefix)
{
    char *p = prefix && *prefix ? strdup(prefix) : NULL;
    if (prefix && *prefix && !p)
        return -ENOMEM;
    free(st->prefix);
    st->prefix = p;
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);

    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

/* Register a new entry of `size` zeroed bytes; NULL if the name is taken
 * or memory runs out. */
static void *stats_add(sim_stats_t *st, st_kind_t kind, size_t size,
                       const char *base, const char *desc, const char *unit)
{
    char name[256];
    if (!base || !*base) {
        sim_logf(st->log, SIM_LOG_ERROR, "stats: empty statistic name");
        return NULL;
    }
    if (snprintf(name, sizeof(name), "%s%s", st->prefix ? st->prefix : "",
                 base) >= (int)sizeof(name)) {
        sim_logf(st->log, SIM_LOG_ERROR, "stats: name too long: %s%s",
                 st->prefix, base);
        return NULL;
    }
    if ((st->n + 1) * 2 > st->index_cap && index_grow(st) < 0)
        goto nomem;
    size_t slot = index_slot(st, name);
    if (st->index[slot]) {
        sim_logf(st->log, SIM_LOG_ERROR,
                 "stats: statistic '%s' is already registered", name);
        return NULL;
    }
    if (SIM_GROW(st->ents, st->cap, st->n + 1, 32))
        goto nomem;
    stat_ent_t e = {.kind = kind, .sparse = st->sparse};
    e.name = dup_str(name);
    e.desc = dup_str(desc);
    e.unit = dup_str(unit);
    e.obj = calloc(1, size);
    if (!e.name || !e.desc || !e.unit || !e.obj ||
        (kind == ST_HIST && sim_hist_init(e.obj) < 0)) {
        if (kind == ST_HIST && e.obj)
            sim_hist_fini(e.obj);
        e.kind = ST_COUNTER;
        ent_free(&e);
        goto nomem;
    }
    st->ents[st->n++] = e;
    st->index[slot] = (uint32_t)st->n;
    return e.obj;
nomem:
    sim_logf(st->log, SIM_LOG_ERROR, "stats: out of memory registering '%s'",
             name);
    return NULL;
}

sim_counter_t *sim_stats_counter(sim_stats_t *st, const char *name,
                                 const char *desc, const char *unit)
{
    return stats_add(st, ST_COUNTER, sizeof(sim_counter_t), name, desc, unit);
}

sim_gauge_t *sim_stats_gauge(sim_stats_t *st, const char *name,
                             const char *desc, const char *unit)
{
    return stats_add(st, ST_GAUGE, sizeof(sim_gauge_t), name, desc, unit);
}

sim_hist_t *sim_stats_hist(sim_stats_t *st, const char *name, const char *desc,
                           const char *unit)
{
    return stats_add(st, ST_HIST, sizeof(sim_hist_t), name, desc, unit);
}

double *sim_stats_scalar(sim_stats_t *st, const char *name, const char *desc,
                         const char *unit)
{
    return stats_add(st, ST_SCALAR, sizeof(double), name, desc, unit);
}

int sim_stats_register(sim_stats_t *st, const sim_stat_def_t *defs, size_t n,
                       void *base)
{
    for (size_t i = 0; i < n; i++) {
        const sim_stat_def_t *d = &defs[i];
        void *obj = NULL;
        switch (d->kind) {
        case SIM_STAT_COUNTER:
            obj = sim_stats_counter(st, d->name, d->desc, d->unit);
            break;
        case SIM_STAT_GAUGE:
            obj = sim_stats_gauge(st, d->name, d->desc, d->unit);
            break;
        case SIM_STAT_HIST:
            obj = sim_stats_hist(st, d->name, d->desc, d->unit);
            break;
        case SIM_STAT_SCALAR:
            obj = sim_stats_scalar(st, d->name, d->desc, d->unit);
            break;
        }
        if (!obj)
            return -ENOMEM;
        *(void **)((char *)base + d->off) = obj;
    }
    return 0;
}

static void *stats_find(sim_stats_t *st, const char *name, st_kind_t kind)
{
    if (!name)
        return NULL;
    uint32_t e = st->index[index_slot(st, name)];
    if (!e || st->ents[e - 1].kind != kind)
        return NULL;
    return st->ents[e - 1].obj;
}

sim_counter_t *sim_stats_find_counter(sim_stats_t *st, const char *name)
{
    return stats_find(st, name, ST_COUNTER);
}

sim_hist_t *sim_stats_find_hist(sim_stats_t *st, const char *name)
{
    return stats_find(st, name, ST_HIST);
}

sim_gauge_t *sim_stats_find_gauge(sim_stats_t *st, const char *name)
{
    return stats_find(st, name, ST_GAUGE);
}

double *sim_stats_find_scalar(sim_stats_t *st, const char *name)
{
    return stats_find(st, name, ST_SCALAR);
}

/* ---------------------------------------------------------------- output */

/*
 * A double as text: integral values below 1e15 as integers, others with
 * %.10g; non-finite values as nan/inf (text) or null (JSON).
 */
static void fmt_double(char *b, size_t n, double v, bool json)
{
    if (isnan(v))
        snprintf(b, n, "%s", json ? "null" : "nan");
    else if (isinf(v))
        snprintf(b, n, "%s", json ? "null" : v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(b, n, "%.0f", v == 0 ? 0.0 : v);
    else
        snprintf(b, n, "%.10g", v);
}

/* One text line: "name value # desc (unit)" (parts omitted when empty). */
static void text_line(FILE *out, const char *name, const char *suffix,
                      const char *value, const char *desc, const char *unit)
{
    fprintf(out, "%s%s %s", name, suffix, value);
    if (*desc || *unit)
        fputs(" #", out);
    if (*desc)
        fprintf(out, " %s", desc);
    if (*unit)
        fprintf(out, " (%s)", unit);
    fputc('\n', out);
}

/* The nine summary values of a histogram, in output order. */
typedef struct hist_summary {
    char count[24], mean[40], stdev[40], min[24], p50[24], p90[24], p99[24],
        p999[24], max[24];
} hist_summary_t;

static void hist_summarise(const sim_hist_t *h, hist_summary_t *s, bool json)
{
    snprintf(s->count, sizeof(s->count), "%llu", (unsigned long long)h->count);
    fmt_double(s->mean, sizeof(s->mean), sim_hist_mean(h), json);
    fmt_double(s->stdev, sizeof(s->stdev), sim_hist_stdev(h), json);
    snprintf(s->min, sizeof(s->min), "%llu",
             (unsigned long long)(h->count ? h->min : 0));
    snprintf(s->p50, sizeof(s->p50), "%llu",
             (unsigned long long)sim_hist_percentile(h, 50));
    snprintf(s->p90, sizeof(s->p90), "%llu",
             (unsigned long long)sim_hist_percentile(h, 90));
    snprintf(s->p99, sizeof(s->p99), "%llu",
             (unsigned long long)sim_hist_percentile(h, 99));
    snprintf(s->p999, sizeof(s->p999), "%llu",
             (unsigned long long)sim_hist_percentile(h, 99.9));
    snprintf(s->max, sizeof(s->max), "%llu",
             (unsigned long long)(h->count ? h->max : 0));
}

/* A histogram that lost samples to a row it could not allocate cannot
 * be written as if it were whole: say so, and fail the output. */
static int check_whole(const sim_stats_t *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const stat_ent_t *e = &st->ents[i];
        if (e->kind == ST_HIST && ((const sim_hist_t *)e->obj)->unbucketed) {
            sim_logf(
                st->log, SIM_LOG_ERROR,
                "stats: histogram %s lost %llu samples: out of memory", e->name,
                (unsigned long long)((const sim_hist_t *)e->obj)->unbucketed);
            return -ENOMEM;
        }
    }
    return 0;
}

int sim_stats_write_text(sim_stats_t *st, FILE *out, sim_time_t now)
{
    if (check_whole(st))
        return -ENOMEM;
    char v[64], m[64];

    for (size_t i = 0; i < st->n; i++) {
        const stat_ent_t *e = &st->ents[i];
        if (omitted(e))
            continue;
        switch (e->kind) {
        case ST_COUNTER:
            snprintf(v, sizeof(v), "%llu",
                     (unsigned long long)((sim_counter_t *)e->obj)->value);
            text_line(out, e->name, "", v, e->desc, e->unit);
            break;
        case ST_SCALAR:
            fmt_double(v, sizeof(v), *(double *)e->obj, false);
            text_line(out, e->name, "", v, e->desc, e->unit);
            break;
        case ST_GAUGE: {
            const sim_gauge_t *g = e->obj;
            fmt_double(v, sizeof(v), sim_gauge_mean(g, now), false);
            fmt_double(m, sizeof(m), g->max, false);
            text_line(out, e->name, ".mean", v, e->desc, e->unit);
            text_line(out, e->name, ".max", m, e->desc, e->unit);
            break;
        }
        case ST_HIST: {
            hist_summary_t s;
            hist_summarise(e->obj, &s, false);
            text_line(out, e->name, ".count", s.count, e->desc, "samples");
            text_line(out, e->name, ".mean", s.mean, e->desc, e->unit);
            text_line(out, e->name, ".stdev", s.stdev, e->desc, e->unit);
            text_line(out, e->name, ".min", s.min, e->desc, e->unit);
            text_line(out, e->name, ".p50", s.p50, e->desc, e->unit);
            text_line(out, e->name, ".p90", s.p90, e->desc, e->unit);
            text_line(out, e->name, ".p99", s.p99, e->desc, e->unit);
            text_line(out, e->name, ".p999", s.p999, e->desc, e->unit);
            text_line(out, e->name, ".max", s.max, e->desc, e->unit);
            break;
        }
        }
    }
    return ferror(out) ? -EIO : 0;
}

/* A JSON string literal. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_tail(FILE *out, const stat_ent_t *e)
{
    fputs(", \"desc\": ", out);
    json_str(out, e->desc);
    fputs(", \"unit\": ", out);
    json_str(out, e->unit);
    fputc('}', out);
}

int sim_stats_write_json(sim_stats_t *st, FILE *out, sim_time_t now)
{
    if (check_whole(st))
        return -ENOMEM;
    char v[64], m[64];

    bool first = true;
    fputs("{", out);
    for (size_t i = 0; i < st->n; i++) {
        const stat_ent_t *e = &st->ents[i];
        if (omitted(e))
            continue;
        fputs(first ? "\n  " : ",\n  ", out);
        first = false;
        json_str(out, e->name);
        fputs(": ", out);
        switch (e->kind) {
        case ST_COUNTER:
            fprintf(out, "%llu",
                    (unsigned long long)((sim_counter_t *)e->obj)->value);
            break;
        case ST_SCALAR:
            fmt_double(v, sizeof(v), *(double *)e->obj, true);
            fputs(v, out);
            break;
        case ST_GAUGE: {
            const sim_gauge_t *g = e->obj;
            fmt_double(v, sizeof(v), sim_gauge_mean(g, now), true);
            fmt_double(m, sizeof(m), g->max, true);
            fprintf(out, "{\"mean\": %s, \"max\": %s", v, m);
            json_tail(out, e);
            break;
        }
        case ST_HIST: {
            hist_summary_t s;
            hist_summarise(e->obj, &s, true);
            fprintf(out,
                    "{\"count\": %s, \"mean\": %s, \"stdev\": %s, \"min\": %s, "
                    "\"p50\": %s, \"p90\": %s, \"p99\": %s, \"p999\": %s, "
                    "\"max\": %s",
                    s.count, s.mean, s.stdev, s.min, s.p50, s.p90, s.p99,
                    s.p999, s.max);
            json_tail(out, e);
            break;
        }
        }
    }
    fputs("\n}\n", out);
    return ferror(out) ? -EIO : 0;
}
