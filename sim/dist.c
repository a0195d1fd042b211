/*
 * sim/dist.c - delay distributions: parse, format, draw, mean.
 *
 * Grammar (whitespace allowed between tokens):
 *   dist   := time | simple | "mix(" weight ":" simple { "," weight ":" simple
 * } ")" simple := "fixed(" time ")" | "uniform(" time "," time ")" | "exp("
 * time ")" | "lognormal(" time "," number ")" time   := number [ "ps" | "ns" |
 * "us" | "ms" ]      (ns when no unit) Values are kept in picoseconds as
 * doubles.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dist.h"
#include "sim/rng.h"
#include "sim/time.h"

/* The largest time value and draw (SIM_DELAY_MAX, sim/time.h). */
#define DIST_MAX_PS ((double)SIM_DELAY_MAX)
#define NUM_TOKEN_MAX 64
#define TWO_PI 6.283185307179586476925286766559

typedef struct parser {
    const char *text; /* whole input, for messages */
    const char *p;
    char *err;
    size_t errlen;
} parser_t;

static const char *const kind_names[] = {"fixed", "uniform", "exp", "lognormal",
                                         "mix"};

/* Record an error message and return -EINVAL. */
__attribute__((format(printf, 2, 3))) static int perr(parser_t *ps,
                                                      const char *fmt, ...)
{
    if (ps->err && ps->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err, ps->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static void skip_ws(parser_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t')
        ps->p++;
}

/* A short excerpt of the input at the cursor, for messages. */
static const char *here(const parser_t *ps)
{
    return *ps->p ? ps->p : "end of input";
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Picoseconds per unit; 0 for an unknown unit. */
static double unit_scale(const char *u, size_t n)
{
    if (n == 2 && u[1] == 's') {
        switch (u[0]) {
        case 'p':
            return 1.0;
        case 'n':
            return 1e3;
        case 'u':
            return 1e6;
        case 'm':
            return 1e9;
        }
    }
    return 0.0;
}

/*
 * Scan a decimal number (digits, optional fraction and exponent) at the
 * cursor into *out. `what` names the value in messages.
 */
static int scan_number(parser_t *ps, double *out, const char *what)
{
    const char *s = ps->p;
    const char *q = s;
    char tok[NUM_TOKEN_MAX + 1];
    size_t digits = 0;

    if (*q == '-' || *q == '+')
        q++;
    while (is_digit(*q)) {
        q++;
        digits++;
    }
    if (*q == '.') {
        q++;
        while (is_digit(*q)) {
            q++;
            digits++;
        }
    }
    if (digits == 0)
        return perr(ps, "expected %s (a number) at '%s'", what, here(ps));
    if ((*q == 'e' || *q == 'E') &&
        (is_digit(q[1]) || ((q[1] == '+' || q[1] == '-') && is_digit(q[2])))) {
        q += 2;
        while (is_digit(*q))
            q++;
    }
    size_t n = (size_t)(q - s);
    if (n > NUM_TOKEN_MAX)
        return perr(ps, "number '%.*s...' is too long", 20, s);
    memcpy(tok, s, n);
    tok[n] = '\0';
    double v = strtod(tok, NULL);
    if (!isfinite(v))
        return perr(ps, "%s '%s' is out of range", what, tok);
    if (v < 0 || *s == '-')
        return perr(ps, "%s '%s' is negative (expected a non-negative number)",
                    what, tok);
    ps->p = q;
    *out = v;
    return 0;
}

/* A time: a number with an optional unit (ns if none); result in ps. */
static int scan_time(parser_t *ps, double *ps_out, const char *what)
{
    double v, scale = 1e3;
    const char *start = ps->p;
    int rc = scan_number(ps, &v, what);

    if (rc < 0)
        return rc;
    skip_ws(ps);
    if (is_alpha(*ps->p)) {
        const char *u = ps->p;
        size_t n = 0;
        while (is_alpha(u[n]))
            n++;
        scale = unit_scale(u, n);
        if (scale == 0.0)
            return perr(
                ps,
                "unknown unit '%.*s' after %.*s (expected ps, ns, us or ms)",
                (int)n, u, (int)(u - start), start);
        ps->p += n;
    }
    v *= scale;
    if (v > DIST_MAX_PS)
        return perr(ps, "%s %.*s is too large (at most %.0f s)", what,
                    (int)(ps->p - start), start, DIST_MAX_PS / (double)SIM_S);
    *ps_out = v;
    return 0;
}

/* A plain number (sigma, weight): a time unit after it is an error. */
static int scan_plain(parser_t *ps, double *out, const char *what)
{
    int rc = scan_number(ps, out, what);

    if (rc < 0)
        return rc;
    skip_ws(ps);
    size_t n = 0;
    while (is_alpha(ps->p[n]))
        n++;
    if (n > 0 && unit_scale(ps->p, n) != 0.0)
        return perr(ps, "%s takes no unit, got '%s'", what, ps->p);
    return 0;
}

/* Expect the character c (after optional whitespace). */
static int expect(parser_t *ps, char c, const char *ctx)
{
    skip_ws(ps);
    if (*ps->p != c)
        return perr(ps, "expected '%c' %s, got '%s'", c, ctx, here(ps));
    ps->p++;
    return 0;
}

/* Parse one simple (non-mixture) distribution into part. */
static int parse_simple(parser_t *ps, sim_dist_part_t *part, bool in_mix)
{
    int rc;

    skip_ws(ps);
    memset(part, 0, sizeof(*part));
    part->weight = 1.0;
    if (!is_alpha(*ps->p)) {
        if (!*ps->p)
            return perr(ps, "empty distribution (expected a time or "
                            "fixed/uniform/exp/lognormal/mix(...))");
        part->kind = SIM_DIST_FIXED;
        return scan_time(ps, &part->a, "fixed delay");
    }
    const char *name = ps->p;
    size_t n = 0;
    while (is_alpha(name[n]))
        n++;
    int kind = -1;
    for (int k = 0; k <= SIM_DIST_MIX; k++)
        if (strlen(kind_names[k]) == n && !strncmp(name, kind_names[k], n))
            kind = k;
    if (kind < 0)
        return perr(ps,
                    "unknown distribution '%.*s' (expected fixed, uniform, "
                    "exp, lognormal or mix)",
                    (int)n, name);
    if (kind == SIM_DIST_MIX)
        return perr(ps, in_mix ? "a mix cannot contain another mix"
                               : "mix(...) is only allowed at the top level");
    ps->p += n;
    part->kind = (sim_dist_kind_t)kind;
    char ctx[48];
    snprintf(ctx, sizeof(ctx), "after '%s'", kind_names[kind]);
    if ((rc = expect(ps, '(', ctx)) < 0)
        return rc;
    skip_ws(ps);
    switch (part->kind) {
    case SIM_DIST_FIXED:
        if ((rc = scan_time(ps, &part->a, "fixed delay")) < 0)
            return rc;
        break;
    case SIM_DIST_UNIFORM:
        if ((rc = scan_time(ps, &part->a, "uniform lower bound")) < 0 ||
            (rc = expect(ps, ',', "between the bounds of uniform(a, b)")) < 0)
            return rc;
        skip_ws(ps);
        if ((rc = scan_time(ps, &part->b, "uniform upper bound")) < 0)
            return rc;
        if (part->a > part->b)
            return perr(ps,
                        "uniform(a, b): a (%g ns) is greater than b "
                        "(%g ns); expected a <= b",
                        part->a / 1e3, part->b / 1e3);
        break;
    case SIM_DIST_EXP:
        if ((rc = scan_time(ps, &part->a, "exp mean")) < 0)
            return rc;
        if (!(part->a > 0))
            return perr(ps, "exp(mean): the mean must be positive");
        break;
    case SIM_DIST_LOGNORMAL:
        if ((rc = scan_time(ps, &part->a, "lognormal median")) < 0 ||
            (rc = expect(ps, ',',
                         "between median and sigma of "
                         "lognormal(median, sigma)")) < 0)
            return rc;
        skip_ws(ps);
        if ((rc = scan_plain(ps, &part->b, "lognormal sigma")) < 0)
            return rc;
        if (!(part->a > 0))
            return perr(
                ps, "lognormal(median, sigma): the median must be positive");
        break;
    default:
        return perr(ps, "internal error: bad kind");
    }
    snprintf(ctx, sizeof(ctx), "to close '%s('", kind_names[kind]);
    return expect(ps, ')', ctx);
}

/*
 * Normalise mixture weights to sum 1. If they already sum to exactly 1 they
 * are kept, so that formatted weights parse back to identical values;
 * otherwise the last weight takes 1 minus the others, which makes the
 * stored weights sum to exactly 1 (checked; plain division otherwise).
 */
static void normalise_weights(sim_dist_t *d)
{
    double sum = 0.0;

    for (unsigned i = 0; i < d->nparts; i++)
        sum += d->part[i].weight;
    if (sum == 1.0)
        return;
    double raw[SIM_DIST_MIX_MAX], acc = 0.0;
    for (unsigned i = 0; i < d->nparts; i++)
        raw[i] = d->part[i].weight;
    for (unsigned i = 0; i + 1 < d->nparts; i++) {
        d->part[i].weight = raw[i] / sum;
        acc += d->part[i].weight;
    }
    double last = 1.0 - acc;
    double check = acc + last;
    if (last > 0 && check == 1.0)
        d->part[d->nparts - 1].weight = last;
    else
        d->part[d->nparts - 1].weight = raw[d->nparts - 1] / sum;
}

/* Parse "mix(w: simple, ...)" after the word "mix". */
static int parse_mix(parser_t *ps, sim_dist_t *d)
{
    int rc;
    double sum = 0.0;

    d->kind = SIM_DIST_MIX;
    if ((rc = expect(ps, '(', "after 'mix'")) < 0)
        return rc;
    for (;;) {
        double w;
        if (d->nparts == SIM_DIST_MIX_MAX)
            return perr(ps, "mix has more than %d parts", SIM_DIST_MIX_MAX);
        skip_ws(ps);
        if ((rc = scan_plain(ps, &w, "mix weight")) < 0)
            return rc;
        if (!(w > 0))
            return perr(ps, "mix weight must be positive, got %.17g", w);
        if ((rc = expect(ps, ':', "after the mix weight (mix(w: dist, ...))")) <
            0)
            return rc;
        sim_dist_part_t *part = &d->part[d->nparts];
        if ((rc = parse_simple(ps, part, true)) < 0)
            return rc;
        part->weight = w;
        sum += w;
        d->nparts++;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ')') {
            ps->p++;
            break;
        }
        return perr(ps, "expected ',' or ')' in mix(...), got '%s'", here(ps));
    }
    if (!isfinite(sum))
        return perr(ps, "mix weights are too large");
    for (unsigned i = 0; i < d->nparts; i++)
        if (d->part[i].weight < sum * 1e-12)
            return perr(ps,
                        "mix weight %.17g is negligible next to the total "
                        "%.17g (expected at least 1e-12 of it)",
                        d->part[i].weight, sum);
    normalise_weights(d);
    return 0;
}

int sim_dist_parse(const char *text, sim_dist_t *out, char *err, size_t errlen)
{
    parser_t ps = {.text = text, .p = text, .err = err, .errlen = errlen};
    sim_dist_t d;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!text)
        return perr(&ps, "no distribution given");
    memset(&d, 0, sizeof(d));
    skip_ws(&ps);
    if (!strncmp(ps.p, "mix", 3) && !is_alpha(ps.p[3])) {
        ps.p += 3;
        rc = parse_mix(&ps, &d);
    } else {
        rc = parse_simple(&ps, &d.part[0], false);
        d.kind = d.part[0].kind;
        d.nparts = 1;
    }
    if (rc < 0)
        return rc;
    skip_ws(&ps);
    if (*ps.p)
        return perr(&ps, "unexpected '%s' after the distribution", ps.p);
    *out = d;
    return 0;
}

sim_dist_t sim_dist_fixed(sim_time_t t)
{
    sim_dist_t d;

    memset(&d, 0, sizeof(d));
    d.kind = SIM_DIST_FIXED;
    d.nparts = 1;
    d.part[0].kind = SIM_DIST_FIXED;
    d.part[0].a = (double)t;
    d.part[0].weight = 1.0;
    return d;
}

/* ------------------------------------------------------------ formatting */

/* Append to a bounded buffer (truncating; always NUL-terminated). */
typedef struct sbuf {
    char *buf;
    size_t len, pos;
} sbuf_t;

__attribute__((format(printf, 2, 3))) static void
sb_printf(sbuf_t *sb, const char *fmt, ...)
{
    va_list ap;

    if (sb->pos >= sb->len)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(sb->buf + sb->pos, sb->len - sb->pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb->pos += (size_t)n;
    if (sb->pos >= sb->len)
        sb->pos = sb->len;
}

/* Write a time in ps as text that scan_time() reads back to the same double:
 * the shortest fixed-point ns form that round-trips, else %g, else ps. */
static void fmt_time(char *out, size_t len, double v)
{
    for (int prec = 0; prec <= 9; prec++) {
        snprintf(out, len, "%.*f", prec, v / 1e3);
        if (strtod(out, NULL) * 1e3 == v)
            return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v / 1e3);
        if (strtod(out, NULL) * 1e3 == v)
            return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, len, "%.*gps", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Shortest %g form of a plain number that round-trips. */
static void fmt_plain(char *out, size_t len, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void fmt_part(sbuf_t *sb, const sim_dist_part_t *p)
{
    char a[48], b[48];

    fmt_time(a, sizeof(a), p->a);
    switch (p->kind) {
    case SIM_DIST_FIXED:
        sb_printf(sb, "fixed(%s)", a);
        break;
    case SIM_DIST_UNIFORM:
        fmt_time(b, sizeof(b), p->b);
        sb_printf(sb, "uniform(%s, %s)", a, b);
        break;
    case SIM_DIST_EXP:
        sb_printf(sb, "exp(%s)", a);
        break;
    case SIM_DIST_LOGNORMAL:
        fmt_plain(b, sizeof(b), p->b);
        sb_printf(sb, "lognormal(%s, %s)", a, b);
        break;
    default:
        sb_printf(sb, "invalid");
        break;
    }
}

void sim_dist_format(const sim_dist_t *d, char *buf, size_t len)
{
    sbuf_t sb = {.buf = buf, .len = len, .pos = 0};

    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (d->kind != SIM_DIST_MIX) {
        fmt_part(&sb, &d->part[0]);
        return;
    }
    sb_printf(&sb, "mix(");
    for (unsigned i = 0; i < d->nparts && i < SIM_DIST_MIX_MAX; i++) {
        char w[48];
        fmt_plain(w, sizeof(w), d->part[i].weight);
        sb_printf(&sb, "%s%s: ", i ? ", " : "", w);
        fmt_part(&sb, &d->part[i]);
    }
    sb_printf(&sb, ")");
}

/* -------------------------------------------------------------- drawing */

/* A standard normal variate (Box-Muller, one of the pair). */
static double draw_normal(sim_rng_t *rng)
{
    double u1 = 1.0 - sim_rng_double(rng); /* (0, 1] */
    double u2 = sim_rng_double(rng);

    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

static double draw_part(const sim_dist_part_t *p, sim_rng_t *rng)
{
    switch (p->kind) {
    case SIM_DIST_FIXED:
        return p->a;
    case SIM_DIST_UNIFORM:
        return p->a + (p->b - p->a) * sim_rng_double(rng);
    case SIM_DIST_EXP:
        return -p->a * log(1.0 - sim_rng_double(rng));
    case SIM_DIST_LOGNORMAL:
        return p->b == 0 ? p->a : p->a * exp(p->b * draw_normal(rng));
    default:
        return 0.0;
    }
}

sim_time_t sim_dist_draw(const sim_dist_t *d, sim_rng_t *rng)
{
    double v;

    if (d->kind == SIM_DIST_MIX && d->nparts > 0) {
        double u = sim_rng_double(rng), acc = 0.0;
        unsigned n =
            d->nparts < SIM_DIST_MIX_MAX ? d->nparts : SIM_DIST_MIX_MAX;
        unsigned i = 0;
        for (; i + 1 < n; i++) {
            acc += d->part[i].weight;
            if (u < acc)
                break;
        }
        v = draw_part(&d->part[i], rng);
    } else {
        v = draw_part(&d->part[0], rng);
    }
    if (!(v > 0)) /* negative, zero or NaN */
        return 0;
    if (v >= DIST_MAX_PS) /* a long tail is cut at SIM_DELAY_MAX */
        return SIM_DELAY_MAX;
    return (sim_time_t)floor(v + 0.5);
}

static double part_mean(const sim_dist_part_t *p)
{
    switch (p->kind) {
    case SIM_DIST_FIXED:
    case SIM_DIST_EXP:
        return p->a;
    case SIM_DIST_UNIFORM:
        return 0.5 * (p->a + p->b);
    case SIM_DIST_LOGNORMAL:
        return p->a * exp(0.5 * p->b * p->b);
    default:
        return 0.0;
    }
}

double sim_dist_mean(const sim_dist_t *d)
{
    if (d->kind != SIM_DIST_MIX)
        return part_mean(&d->part[0]);
    double m = 0.0;
    for (unsigned i = 0; i < d->nparts && i < SIM_DIST_MIX_MAX; i++)
        m += d->part[i].weight * part_mean(&d->part[i]);
    return m;
}
