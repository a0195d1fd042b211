/*
 * sim/config.c - parameter tables, the INI reader, --set, dump and listing.
 *
 * Every key is declared once in a sim_param_t table; registering a table
 * copies the declarations and applies the defaults. A load parses the whole
 * input into per-key staging values first and applies them only if there
 * was no error, so a rejected file leaves the configuration unchanged.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sim/config.h"
#include "sim/dist.h"
#include "sim/log.h"
#include "sim/pool.h"
#include "sim/time.h"

#define CFG_LINE_MAX 4096        /* longest accepted line, bytes */
#define CFG_FILE_MAX (64u << 20) /* largest accepted file, bytes */
#define CFG_MAX_ERRORS 50        /* stop reporting after this many */
#define CFG_ERR_MAX 512

typedef union cfg_value {
    uint64_t u;
    double d;
    bool b;
    unsigned e;
    sim_time_t t;
    sim_dist_t dist;
    char s[SIM_PARAM_STR_MAX];
} cfg_value_t;

typedef struct cfg_ent {
    sim_param_t p; /* copy of the declaration (strings are the caller's,
                      but an instance key's section and key are owned) */
    void *field;   /* base + offset (an instance key: its own value) */
    char *full;    /* "section.key" */
    /* An instance key ([device.nic] tags): the class key it overrides
     * (index into ents), its member section and an owned key text. */
    bool inst;
    size_t proto;
    char *own_key;
    cfg_value_t staged;
    unsigned staged_gen; /* == cfg->gen: set by the load in progress */
    unsigned staged_line;
    /* Where the value was set last: seq 0 is the default; src NULL with
     * seq > 0 is --set; else src:src_line (src one of cfg->srcs). */
    struct sim_config *owner;
    uint64_t seq;
    const char *src;
    unsigned src_line;
} cfg_ent_t;

/* A class: [NAME.INST] sections declare instances that inherit every key
 * of the class's member sections (sections[0] is NAME itself). */
typedef struct cfg_class {
    char *name;
    const char *const *sections;
} cfg_class_t;

/* An instance, "class.inst"; its keys are ents[first .. first + n). */
typedef struct cfg_inst {
    char *section; /* "device.nic" */
    size_t cls;
    size_t first, n;
    /* Where it was declared: src:line (a loaded file), or --set (src
     * NULL); seq orders it among the values set. */
    const char *src;
    unsigned line;
    uint64_t seq;
} cfg_inst_t;

/* Instances per class at most (each adds a copy of the class's keys). */
#define CFG_MAX_INSTANCES 256

struct sim_config {
    sim_log_t *log;
    cfg_ent_t *ents;
    size_t n, cap;
    cfg_class_t *classes;
    size_t nclasses, classes_cap;
    cfg_inst_t *insts;
    size_t ninsts, insts_cap;
    unsigned gen;
    uint64_t seq; /* values set so far (their order) */
    char **srcs;  /* names of the loaded files */
    size_t nsrcs, srcs_cap;
};

static const char *const type_names[] = {"uint", "double", "bool",  "enum",
                                         "time", "dist",   "string"};

sim_config_t *sim_config_create(sim_log_t *log)
{
    sim_config_t *cfg = calloc(1, sizeof(*cfg));

    if (cfg)
        cfg->log = log;
    else
        sim_logf(log, SIM_LOG_ERROR, "config: out of memory");
    return cfg;
}

/* Forget the instances from the first-th on (and their keys, which are
 * the last entries): a rejected load or --set takes back what it added. */
static void drop_instances(sim_config_t *cfg, size_t first)
{
    while (cfg->ninsts > first) {
        cfg_inst_t *in = &cfg->insts[--cfg->ninsts];
        for (size_t i = in->first; i < in->first + in->n; i++) {
            free(cfg->ents[i].full);
            free(cfg->ents[i].own_key);
            free(cfg->ents[i].field);
        }
        cfg->n = in->first;
        free(in->section);
    }
}

void sim_config_destroy(sim_config_t *cfg)
{
    if (!cfg)
        return;
    drop_instances(cfg, 0);
    for (size_t i = 0; i < cfg->nclasses; i++)
        free(cfg->classes[i].name);
    free(cfg->classes);
    free(cfg->insts);
    for (size_t i = 0; i < cfg->n; i++)
        free(cfg->ents[i].full);
    for (size_t i = 0; i < cfg->nsrcs; i++)
        free(cfg->srcs[i]);
    free(cfg->srcs);
    free(cfg->ents);
    free(cfg);
}

/* ----------------------------------------------------------- small helpers */

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t len,
                                                         const char *fmt, ...)
{
    va_list ap;

    if (!err || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim whitespace in place: returns the start, cuts the end. */
static char *trim(char *s)
{
    while (is_ws(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_ws(s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool is_name_char(char c, bool allow_dot)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' ||
           (allow_dot && c == '.');
}

static bool valid_name(const char *s, bool allow_dot)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!is_name_char(*s, allow_dot))
            return false;
    return true;
}

/* A number for messages and listings: integers plainly, else %g. */
static void fmt_num(char *b, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(b, n, "%.0f", v == 0 ? 0.0 : v);
    else
        snprintf(b, n, "%g", v);
}

/* The shortest %g form of a double that reads back identically. */
static void fmt_double_rt(char *b, size_t n, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, n, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            return;
    }
}

static bool has_range(const sim_param_t *p)
{
    return (p->type == SIM_PARAM_UINT || p->type == SIM_PARAM_DOUBLE ||
            p->type == SIM_PARAM_TIME) &&
           !(p->min == 0 && p->max == 0);
}

/* ------------------------------------------------------------------ time */

int sim_parse_time(const char *text, sim_time_t *out, char *err, size_t errlen)
{
    static const char *const units[] = {"ps", "ns", "us", "ms"};
    static const uint64_t mults[] = {1, 1000, 1000000, 1000000000};
    static const unsigned decimals[] = {0, 3, 6, 9};
    const char *s = text ? text : "";
    uint64_t ip = 0;
    const char *frac = NULL;
    size_t nfrac = 0, digits = 0;
    int unit = 1; /* ns */

    while (is_ws(*s))
        s++;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (ip > (UINT64_MAX - d) / 10)
            goto too_large;
        ip = ip * 10 + d;
        s++;
        digits++;
    }
    if (*s == '.') {
        frac = ++s;
        while (isdigit((unsigned char)*s)) {
            s++;
            nfrac++;
        }
        digits += nfrac;
    }
    if (digits == 0)
        goto bad;
    while (is_ws(*s))
        s++;
    if (isalpha((unsigned char)*s)) {
        unit = -1;
        for (int i = 0; i < 4; i++)
            if (!strncmp(s, units[i], 2) && !isalpha((unsigned char)s[2]))
                unit = i;
        if (unit < 0) {
            seterr(err, errlen,
                   "'%s' has an unknown unit (expected ps, ns, us or ms)",
                   text);
            return -EINVAL;
        }
        s += 2;
    }
    while (is_ws(*s))
        s++;
    if (*s)
        goto bad;
    uint64_t mult = mults[unit];
    if (ip > UINT64_MAX / mult)
        goto too_large;
    uint64_t v = ip * mult, f = 0;
    for (unsigned i = 0; i < decimals[unit]; i++)
        f = f * 10 + (i < nfrac ? (uint64_t)(frac[i] - '0') : 0);
    if (nfrac > decimals[unit] && frac[decimals[unit]] >= '5')
        f++; /* round to the nearest ps */
    if (v > UINT64_MAX - f)
        goto too_large;
    *out = v + f;
    return 0;
bad:
    seterr(err, errlen,
           "'%s' is not a time (expected a number of ns, fractions allowed, "
           "or a number with a ps/ns/us/ms suffix)",
           text ? text : "");
    return -EINVAL;
too_large:
    seterr(err, errlen, "'%s' is too large for a time", text);
    return -EINVAL;
}

/* ---------------------------------------------------------- value parsing */

static int parse_uint(const char *s, uint64_t *out, char *err, size_t errlen)
{
    const char *p = s;
    unsigned base = 10;
    uint64_t v = 0;
    size_t digits = 0;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            goto too_large;
        v = v * base + d;
        digits++;
    }
    if (digits == 0)
        goto bad;
    uint64_t mult = 1;
    switch (*p) {
    case 'K':
    case 'k':
        mult = 1ull << 10;
        p++;
        break;
    case 'M':
    case 'm':
        mult = 1ull << 20;
        p++;
        break;
    case 'G':
    case 'g':
        mult = 1ull << 30;
        p++;
        break;
    }
    if (*p)
        goto bad;
    if (v > UINT64_MAX / mult)
        goto too_large;
    *out = v * mult;
    return 0;
bad:
    seterr(err, errlen, "'%s' is not an unsigned integer", s);
    return -EINVAL;
too_large:
    seterr(err, errlen, "'%s' is too large (at most %llu)", s,
           (unsigned long long)UINT64_MAX);
    return -EINVAL;
}

static int parse_bool(const char *s, bool *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    seterr(err, errlen,
           "'%s' is not a boolean (expected true/false, yes/no, on/off or 1/0)",
           s);
    return -EINVAL;
}

#define ENUM_ERR_HEAD "'%s' is not a valid value (expected one of: "

static int parse_enum(const sim_param_t *p, const char *s, unsigned *out,
                      char *err, size_t errlen)
{
    char list[CFG_ERR_MAX / 2];
    size_t pos = 0;

    for (unsigned i = 0; p->enum_values && p->enum_values[i]; i++) {
        if (!strcmp(s, p->enum_values[i])) {
            *out = i;
            return 0;
        }
    }
    /* Whole values only, as many as fit in the message with its ')'. */
    int head = snprintf(NULL, 0, ENUM_ERR_HEAD, s);
    size_t room = sizeof(list);
    if (head >= 0 && errlen > (size_t)head + 1 &&
        errlen - (size_t)head - 1 < room)
        room = errlen - (size_t)head - 1;
    list[0] = '\0';
    for (unsigned i = 0; p->enum_values && p->enum_values[i]; i++) {
        int n = snprintf(list + pos, room - pos, "%s%s", i ? ", " : "",
                         p->enum_values[i]);
        if (n < 0 || (size_t)n >= room - pos) {
            list[pos] = '\0';
            break;
        }
        pos += (size_t)n;
    }
    seterr(err, errlen, ENUM_ERR_HEAD "%s)", s, list);
    return -EINVAL;
}

/* Range check of a numeric value (v in the param's unit; ns for TIME). */
static int check_range(const sim_param_t *p, const char *text, double v,
                       char *err, size_t errlen)
{
    char lo[40], hi[40];

    if (!has_range(p) || (v >= p->min && v <= p->max))
        return 0;
    fmt_num(lo, sizeof(lo), p->min);
    fmt_num(hi, sizeof(hi), p->max);
    seterr(err, errlen, "%s is out of range [%s, %s]%s", text, lo, hi,
           p->type == SIM_PARAM_TIME ? " ns" : "");
    return -EINVAL;
}

/* Parse and validate `text` for parameter p into *out. */
static int parse_value(const sim_param_t *p, const char *text, cfg_value_t *out,
                       char *err, size_t errlen)
{
    int rc;
    char derr[CFG_ERR_MAX / 2];

    memset(out, 0, sizeof(*out));
    switch (p->type) {
    case SIM_PARAM_UINT:
        if ((rc = parse_uint(text, &out->u, err, errlen)) < 0)
            return rc;
        return check_range(p, text, (double)out->u, err, errlen);
    case SIM_PARAM_DOUBLE: {
        char *end;
        errno = 0;
        out->d = strtod(text, &end);
        if (!*text || *end || isspace((unsigned char)*text)) {
            seterr(err, errlen, "'%s' is not a number", text);
            return -EINVAL;
        }
        if (!isfinite(out->d)) {
            seterr(err, errlen, "'%s' is not a finite number", text);
            return -EINVAL;
        }
        return check_range(p, text, out->d, err, errlen);
    }
    case SIM_PARAM_BOOL:
        return parse_bool(text, &out->b, err, errlen);
    case SIM_PARAM_ENUM:
        return parse_enum(p, text, &out->e, err, errlen);
    case SIM_PARAM_TIME:
        if ((rc = sim_parse_time(text, &out->t, err, errlen)) < 0)
            return rc;
        if (out->t > SIM_DELAY_MAX) {
            seterr(err, errlen, "%s is too large (at most %.0f s)", text,
                   (double)SIM_DELAY_MAX / (double)SIM_S);
            return -EINVAL;
        }
        return check_range(p, text, (double)out->t / 1e3, err, errlen);
    case SIM_PARAM_DIST:
        if (sim_dist_parse(text, &out->dist, derr, sizeof(derr)) < 0) {
            seterr(err, errlen, "bad distribution '%s': %s", text, derr);
            return -EINVAL;
        }
        return 0;
    case SIM_PARAM_STRING: {
        size_t n = strlen(text);
        if (n >= SIM_PARAM_STR_MAX) {
            seterr(err, errlen, "string too long (%zu bytes, at most %d)", n,
                   SIM_PARAM_STR_MAX - 1);
            return -EINVAL;
        }
        memcpy(out->s, text, n + 1);
        return 0;
    }
    }
    seterr(err, errlen, "bad parameter type %d", (int)p->type);
    return -EINVAL;
}

static size_t value_size(sim_param_type_t t)
{
    switch (t) {
    case SIM_PARAM_UINT:
        return sizeof(uint64_t);
    case SIM_PARAM_DOUBLE:
        return sizeof(double);
    case SIM_PARAM_BOOL:
        return sizeof(bool);
    case SIM_PARAM_ENUM:
        return sizeof(unsigned);
    case SIM_PARAM_TIME:
        return sizeof(sim_time_t);
    case SIM_PARAM_DIST:
        return sizeof(sim_dist_t);
    case SIM_PARAM_STRING:
        return SIM_PARAM_STR_MAX;
    }
    return 0;
}

/* Store a parsed value into the parameter's field, remembering the order
 * (a load then names the file and line; else it came from --set). */
static void store(cfg_ent_t *e, const cfg_value_t *v)
{
    if (e->p.type == SIM_PARAM_STRING)
        memcpy(e->field, v->s, strlen(v->s) + 1);
    else
        memcpy(e->field, v, value_size(e->p.type));
    e->seq = ++e->owner->seq;
    e->src = NULL;
    e->src_line = 0;
}

/* --------------------------------------------------------------- registry */

static cfg_ent_t *find_ent(const sim_config_t *cfg, const char *section,
                           const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->ents[i].p.section, section) &&
            !strcmp(cfg->ents[i].p.key, key))
            return &cfg->ents[i];
    return NULL;
}

static cfg_ent_t *find_full(const sim_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->ents[i].full, name))
            return &cfg->ents[i];
    return NULL;
}

static bool section_known(const sim_config_t *cfg, const char *section)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->ents[i].p.section, section))
            return true;
    return false;
}

const sim_param_t *sim_config_find(const sim_config_t *cfg, const char *name)
{
    const cfg_ent_t *e = name ? find_full(cfg, name) : NULL;

    return e ? &e->p : NULL;
}

/*
 * Check the whole table (names, types, duplicates, defaults) before adding
 * anything, then add it and apply the defaults.
 */
int sim_config_register(sim_config_t *cfg, const sim_param_t *params, size_t n,
                        void *base)
{
    char err[CFG_ERR_MAX];
    cfg_value_t v;

    for (size_t i = 0; i < n; i++) {
        const sim_param_t *p = &params[i];
        const char *sec = p->section ? p->section : "(null)";
        const char *key = p->key ? p->key : "(null)";
        if (!valid_name(p->section, true) || !valid_name(p->key, false)) {
            sim_logf(cfg->log, SIM_LOG_ERROR,
                     "config: bad parameter name '%s.%s' (letters, digits, _ "
                     "and - expected)",
                     sec, key);
            return -EINVAL;
        }
        if ((unsigned)p->type > SIM_PARAM_STRING) {
            sim_logf(cfg->log, SIM_LOG_ERROR, "config: %s.%s: bad type %d", sec,
                     key, (int)p->type);
            return -EINVAL;
        }
        if (p->type == SIM_PARAM_ENUM &&
            (!p->enum_values || !p->enum_values[0])) {
            sim_logf(cfg->log, SIM_LOG_ERROR,
                     "config: %s.%s: enum without values", sec, key);
            return -EINVAL;
        }
        /* A documented range must be one the engine can simulate: a time
         * above SIM_DELAY_MAX could make sums of delays overflow. */
        if (p->type == SIM_PARAM_TIME && has_range(p) &&
            p->max * 1e3 > (double)SIM_DELAY_MAX) {
            sim_logf(cfg->log, SIM_LOG_ERROR,
                     "config: %s.%s: range above the largest delay (%.0f s)",
                     sec, key, (double)SIM_DELAY_MAX / (double)SIM_S);
            return -EINVAL;
        }
        bool dup = find_ent(cfg, p->section, p->key) != NULL;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(params[j].section, p->section) &&
                  !strcmp(params[j].key, p->key);
        if (dup) {
            sim_logf(cfg->log, SIM_LOG_ERROR, "config: duplicate key '%s.%s'",
                     sec, key);
            return -EINVAL;
        }
        if (parse_value(p, p->def ? p->def : "", &v, err, sizeof(err)) < 0) {
            sim_logf(cfg->log, SIM_LOG_ERROR, "config: default of %s.%s: %s",
                     sec, key, err);
            return -EINVAL;
        }
    }
    if (SIM_GROW(cfg->ents, cfg->cap, cfg->n + n, 32))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const sim_param_t *p = &params[i];
        cfg_ent_t *e = &cfg->ents[cfg->n];
        memset(e, 0, sizeof(*e));
        e->p = *p;
        e->owner = cfg;
        e->field = (char *)base + p->offset;
        size_t len = strlen(p->section) + strlen(p->key) + 2;
        e->full = malloc(len);
        if (!e->full)
            goto nomem;
        snprintf(e->full, len, "%s.%s", p->section, p->key);
        parse_value(p, p->def ? p->def : "", &v, err, sizeof(err));
        store(e, &v);
        e->seq = 0; /* the default */
        cfg->n++;
    }
    return 0;
nomem:
    sim_logf(cfg->log, SIM_LOG_ERROR, "config: out of memory");
    return -ENOMEM;
}

/* ----------------------------------------------------- classes, instances */

static const cfg_class_t *find_class(const sim_config_t *cfg, const char *name,
                                     size_t len)
{
    for (size_t i = 0; i < cfg->nclasses; i++)
        if (strlen(cfg->classes[i].name) == len &&
            !strncmp(cfg->classes[i].name, name, len))
            return &cfg->classes[i];
    return NULL;
}

static bool class_has(const cfg_class_t *c, const char *section)
{
    for (const char *const *m = c->sections; *m; m++)
        if (!strcmp(*m, section))
            return true;
    return false;
}

int sim_config_class(sim_config_t *cfg, const char *cls,
                     const char *const *sections)
{
    if (!cls || !sections || !sections[0] || strcmp(sections[0], cls) ||
        find_class(cfg, cls, strlen(cls))) {
        sim_logf(cfg->log, SIM_LOG_ERROR,
                 "config: bad class '%s' (its first section must be itself, "
                 "declared once)",
                 cls ? cls : "(null)");
        return -EINVAL;
    }
    for (const char *const *m = sections; *m; m++)
        if (!section_known(cfg, *m)) {
            sim_logf(cfg->log, SIM_LOG_ERROR,
                     "config: class '%s': unknown section [%s]", cls, *m);
            return -EINVAL;
        }
    char *name = strdup(cls);
    if (!name ||
        SIM_GROW(cfg->classes, cfg->classes_cap, cfg->nclasses + 1, 4)) {
        free(name);
        sim_logf(cfg->log, SIM_LOG_ERROR, "config: out of memory");
        return -ENOMEM;
    }
    cfg->classes[cfg->nclasses++] = (cfg_class_t){name, sections};
    return 0;
}

/* Copy the keys of the class's member sections as unset instance keys of
 * the new instance `in` (already in cfg->insts). */
static int instance_keys(sim_config_t *cfg, cfg_inst_t *in)
{
    const cfg_class_t *c = &cfg->classes[in->cls];
    size_t nbase = cfg->n;
    for (size_t i = 0; i < nbase; i++) {
        if (cfg->ents[i].inst || !class_has(c, cfg->ents[i].p.section))
            continue;
        if (SIM_GROW(cfg->ents, cfg->cap, cfg->n + 1, 32))
            return -ENOMEM;
        cfg_ent_t *proto = &cfg->ents[i], *e = &cfg->ents[cfg->n];
        memset(e, 0, sizeof(*e));
        e->p = proto->p;
        e->owner = cfg;
        e->inst = true;
        e->proto = i;
        e->p.section = in->section;
        if (strcmp(proto->p.section, c->name)) {
            size_t len = strlen(proto->p.section) + strlen(proto->p.key) + 2;
            e->own_key = malloc(len);
            if (e->own_key)
                snprintf(e->own_key, len, "%s.%s", proto->p.section,
                         proto->p.key);
            e->p.key = e->own_key;
        }
        size_t len = strlen(in->section) + strlen(proto->p.key) +
                     strlen(proto->p.section) + 3;
        e->full = malloc(len);
        e->field = calloc(1, sizeof(cfg_value_t));
        cfg->n++;
        in->n++;
        if (!e->full || !e->field || !e->p.key)
            return -ENOMEM;
        snprintf(e->full, len, "%s.%s", in->section, e->p.key);
    }
    return 0;
}

/*
 * The instance of section `sec` ("device.nic"), created if new. Returns
 * its index, -1 when sec is not CLASS.NAME of a class, or -2 with err set.
 */
static long instance_get(sim_config_t *cfg, const char *sec, char *err,
                         size_t errlen)
{
    const char *dot = strchr(sec, '.');
    const cfg_class_t *c = dot ? find_class(cfg, sec, (size_t)(dot - sec)) : 0;
    if (!c)
        return -1;
    for (size_t i = 0; i < cfg->ninsts; i++)
        if (!strcmp(cfg->insts[i].section, sec))
            return (long)i;
    const char *name = dot + 1;
    if (!valid_name(name, false)) {
        seterr(err, errlen,
               "bad name '%s' in [%s] (letters, digits, _ and - expected)",
               name, sec);
        return -2;
    }
    if (find_ent(cfg, c->name, name)) {
        seterr(err, errlen, "[%s]: '%s' is a key of [%s], not a name", sec,
               name, c->name);
        return -2;
    }
    size_t cls = (size_t)(c - cfg->classes), count = 0;
    for (size_t i = 0; i < cfg->ninsts; i++)
        count += cfg->insts[i].cls == cls;
    if (count >= CFG_MAX_INSTANCES) {
        seterr(err, errlen, "[%s]: more than %d [%s.NAME] sections", sec,
               CFG_MAX_INSTANCES, c->name);
        return -2;
    }
    char *copy = strdup(sec);
    if (!copy || SIM_GROW(cfg->insts, cfg->insts_cap, cfg->ninsts + 1, 4)) {
        free(copy);
        seterr(err, errlen, "out of memory");
        return -2;
    }
    cfg_inst_t *in = &cfg->insts[cfg->ninsts++];
    *in = (cfg_inst_t){copy, cls, cfg->n, 0, NULL, 0, 0};
    if (instance_keys(cfg, in)) {
        drop_instances(cfg, cfg->ninsts - 1);
        seterr(err, errlen, "out of memory");
        return -2;
    }
    return (long)(cfg->ninsts - 1);
}

static const cfg_inst_t *find_inst(const sim_config_t *cfg, const char *cls,
                                   size_t i)
{
    for (size_t k = 0; k < cfg->ninsts; k++) {
        const cfg_inst_t *in = &cfg->insts[k];
        if (!strcmp(cfg->classes[in->cls].name, cls) && i-- == 0)
            return in;
    }
    return NULL;
}

size_t sim_config_instances(const sim_config_t *cfg, const char *cls)
{
    size_t n = 0;
    while (find_inst(cfg, cls, n))
        n++;
    return n;
}

const char *sim_config_instance(const sim_config_t *cfg, const char *cls,
                                size_t i)
{
    const cfg_inst_t *in = find_inst(cfg, cls, i);
    return in ? strchr(in->section, '.') + 1 : NULL;
}

int sim_config_apply(const sim_config_t *cfg, const char *cls, size_t i,
                     const char *section, void *base)
{
    const cfg_inst_t *in = find_inst(cfg, cls, i);
    int n = 0;
    if (!in)
        return -ENOENT;
    for (size_t k = in->first; k < in->first + in->n; k++) {
        const cfg_ent_t *e = &cfg->ents[k];
        if (!e->seq || strcmp(cfg->ents[e->proto].p.section, section))
            continue;
        void *f = (char *)base + e->p.offset;
        if (e->p.type == SIM_PARAM_STRING)
            memcpy(f, e->field, strlen(e->field) + 1);
        else
            memcpy(f, e->field, value_size(e->p.type));
        n++;
    }
    return n;
}

/* ------------------------------------------------------------- INI reader */

/*
 * Unquote a "..." value at s (escapes \\ \" \n \t \r) into out (size
 * CFG_LINE_MAX + 1); *rest points after the closing quote.
 */
static int unquote(const char *s, char *out, const char **rest, char *err,
                   size_t errlen)
{
    size_t n = 0;

    for (s++; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            switch (*++s) {
            case '\\':
                c = '\\';
                break;
            case '"':
                c = '"';
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            default:
                seterr(err, errlen,
                       "bad escape in quoted value (expected \\\\, \\\", \\n, "
                       "\\t or \\r)");
                return -EINVAL;
            }
        }
        out[n++] = c;
    }
    if (*s != '"') {
        seterr(err, errlen,
               "unterminated quoted value (expected a closing '\"')");
        return -EINVAL;
    }
    out[n] = '\0';
    *rest = s + 1;
    return 0;
}

/* True if s (after whitespace) is empty or a comment. */
static bool only_comment(const char *s)
{
    while (is_ws(*s))
        s++;
    return !*s || *s == ';' || *s == '#';
}

/*
 * The value text of "key = VALUE": a quoted string, or the raw text up to a
 * comment (';' or '#' at the start or after whitespace), trimmed.
 */
static int extract_value(char *v, char *out, char *err, size_t errlen)
{
    const char *rest;

    while (is_ws(*v))
        v++;
    if (*v == '"') {
        if (unquote(v, out, &rest, err, errlen) < 0)
            return -EINVAL;
        if (!only_comment(rest)) {
            seterr(err, errlen, "unexpected text '%s' after the quoted value",
                   rest);
            return -EINVAL;
        }
        return 0;
    }
    char *p = v;
    for (; *p; p++)
        if ((*p == ';' || *p == '#') && (p == v || is_ws(p[-1])))
            break;
    *p = '\0';
    strcpy(out, trim(v));
    return 0;
}

typedef struct ini_state {
    sim_config_t *cfg;
    const char *name;
    unsigned line;
    unsigned errors;
    char section[CFG_LINE_MAX + 1];
    bool have_section, section_ok;
} ini_state_t;

__attribute__((format(printf, 2, 3))) static void ini_err(ini_state_t *st,
                                                          const char *fmt, ...)
{
    char msg[CFG_ERR_MAX];
    va_list ap;

    st->errors++;
    if (st->errors > CFG_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sim_logf(st->cfg->log, SIM_LOG_ERROR, "%s:%u: %s", st->name, st->line, msg);
}

/* Handle one line (NUL-terminated, without its newline). */
static void ini_line(ini_state_t *st, char *raw)
{
    char *s = trim(raw);
    char err[CFG_ERR_MAX / 2];

    if (!*s || *s == ';' || *s == '#')
        return;
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close) {
            ini_err(st, "expected ']' to close the section name");
            return;
        }
        *close = '\0';
        if (!only_comment(close + 1)) {
            ini_err(st, "unexpected text '%s' after [section]",
                    trim(close + 1));
            return;
        }
        char *name = trim(s + 1);
        st->have_section = true;
        st->section_ok = false;
        if (!valid_name(name, true)) {
            ini_err(st, "bad section name [%s]", name);
            return;
        }
        strcpy(st->section, name);
        if (!section_known(st->cfg, name)) {
            size_t before = st->cfg->ninsts;
            long in = instance_get(st->cfg, name, err, sizeof(err));
            if (in >= 0 && st->cfg->ninsts > before)
                st->cfg->insts[in].line = st->line;
            if (in == -2)
                ini_err(st, "%s", err);
            if (in < 0) {
                if (in == -1)
                    ini_err(st, "unknown section [%s]", name);
                return;
            }
        }
        st->section_ok = true;
        return;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
        ini_err(st, "expected 'key = value' or '[section]'");
        return;
    }
    *eq = '\0';
    char *key = trim(s);
    if (!*key) {
        ini_err(st, "expected 'key = value' or '[section]'");
        return;
    }
    if (!valid_name(key, true)) {
        ini_err(st, "bad key name '%s' (letters, digits, _ and - expected)",
                key);
        return;
    }
    if (!st->have_section) {
        ini_err(st, "key '%s' is outside any [section]", key);
        return;
    }
    if (!st->section_ok)
        return; /* the section was already reported */
    cfg_ent_t *e = find_ent(st->cfg, st->section, key);
    if (!e) {
        ini_err(st, "unknown key '%s' in section [%s]", key, st->section);
        return;
    }
    char value[CFG_LINE_MAX + 1];
    if (extract_value(eq + 1, value, err, sizeof(err)) < 0) {
        ini_err(st, "%s: %s", e->full, err);
        return;
    }
    if (e->staged_gen == st->cfg->gen) {
        ini_err(st, "duplicate key '%s' in section [%s] (first set on line %u)",
                key, st->section, e->staged_line);
        return;
    }
    e->staged_gen = st->cfg->gen;
    e->staged_line = st->line;
    if (parse_value(&e->p, value, &e->staged, err, sizeof(err)) < 0)
        ini_err(st, "%s: %s", e->full, err);
}

/* Parse a buffer of `len` bytes (may hold NUL bytes); apply if no error. */
static int load_buf(sim_config_t *cfg, const char *name, const char *buf,
                    size_t len)
{
    ini_state_t *st = calloc(1, sizeof(*st));
    char *line = malloc(CFG_LINE_MAX + 1);
    size_t pos = 0;

    if (!st || !line) {
        free(st);
        free(line);
        sim_logf(cfg->log, SIM_LOG_ERROR, "%s: out of memory", name);
        return -ENOMEM;
    }
    st->cfg = cfg;
    st->name = name;
    size_t ninsts = cfg->ninsts;
    if (++cfg->gen == 0) { /* wrapped: forget every old staging mark */
        for (size_t i = 0; i < cfg->n; i++)
            cfg->ents[i].staged_gen = 0;
        cfg->gen = 1;
    }
    while (pos < len && st->errors <= CFG_MAX_ERRORS) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - pos;
        st->line++;
        if (n > 0 && buf[pos + n - 1] == '\r')
            n--;
        if (n > CFG_LINE_MAX)
            ini_err(st, "line too long (%zu bytes, at most %d)", n,
                    CFG_LINE_MAX);
        else if (memchr(buf + pos, '\0', n))
            ini_err(st, "NUL byte in line (a text file is expected)");
        else {
            memcpy(line, buf + pos, n);
            line[n] = '\0';
            ini_line(st, line);
        }
        pos = end + 1;
    }
    unsigned errors = st->errors;
    if (errors > CFG_MAX_ERRORS)
        sim_logf(cfg->log, SIM_LOG_ERROR, "%s: too many errors, giving up",
                 name);
    free(st);
    free(line);
    if (errors) {
        drop_instances(cfg, ninsts);
        return -EINVAL;
    }
    const char *src = NULL;
    if (!SIM_GROW(cfg->srcs, cfg->srcs_cap, cfg->nsrcs + 1, 4) &&
        (src = strdup(name)) != NULL)
        cfg->srcs[cfg->nsrcs++] = (char *)src;
    for (size_t i = ninsts; i < cfg->ninsts; i++) {
        cfg->insts[i].src = src;
        cfg->insts[i].seq = ++cfg->seq;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        cfg_ent_t *e = &cfg->ents[i];
        if (e->staged_gen != cfg->gen)
            continue;
        store(e, &e->staged);
        e->src = src;
        e->src_line = e->staged_line;
    }
    return 0;
}

int sim_config_load_string(sim_config_t *cfg, const char *name,
                           const char *text)
{
    return load_buf(cfg, name ? name : "<string>", text ? text : "",
                    text ? strlen(text) : 0);
}

int sim_config_load_file(sim_config_t *cfg, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (!f) {
        rc = -errno;
        sim_logf(cfg->log, SIM_LOG_ERROR, "%s: cannot open: %s", path,
                 strerror(errno));
        return rc;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= CFG_FILE_MAX) {
                sim_logf(cfg->log, SIM_LOG_ERROR,
                         "%s: file too large (at most %u bytes)", path,
                         CFG_FILE_MAX);
                rc = -EFBIG;
                goto out;
            }
            cap = cap ? cap * 2 : 65536;
            char *p = realloc(buf, cap);
            if (!p) {
                sim_logf(cfg->log, SIM_LOG_ERROR, "%s: out of memory", path);
                rc = -ENOMEM;
                goto out;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        sim_logf(cfg->log, SIM_LOG_ERROR, "%s: read error", path);
        rc = -EIO;
        goto out;
    }
    rc = load_buf(cfg, path, buf, len);
out:
    free(buf);
    fclose(f);
    return rc;
}

int sim_config_set(sim_config_t *cfg, const char *assignment)
{
    char buf[CFG_LINE_MAX + 1], value[CFG_LINE_MAX + 1];
    char err[CFG_ERR_MAX / 2];
    cfg_value_t v;
    const char *a = assignment ? assignment : "";

    if (strlen(a) > CFG_LINE_MAX) {
        sim_logf(cfg->log, SIM_LOG_ERROR, "--set %.40s...: argument too long",
                 a);
        return -EINVAL;
    }
    strcpy(buf, a);
    char *eq = strchr(buf, '=');
    if (!eq) {
        sim_logf(cfg->log, SIM_LOG_ERROR,
                 "--set %s: expected section.key=value", a);
        return -EINVAL;
    }
    *eq = '\0';
    char *name = trim(buf);
    char *dot = strrchr(name, '.');
    if (!dot || dot == name || !dot[1]) {
        sim_logf(cfg->log, SIM_LOG_ERROR,
                 "--set %s: expected section.key=value", a);
        return -EINVAL;
    }
    size_t ninsts = cfg->ninsts;
    cfg_ent_t *e = find_full(cfg, name);
    char *dot2 = strchr(name, '.');
    dot2 = dot2 ? strchr(dot2 + 1, '.') : NULL;
    if (!e && dot2) { /* CLASS.NAME.KEY: the instance is new */
        *dot2 = '\0';
        long in = instance_get(cfg, name, err, sizeof(err));
        *dot2 = '.';
        if (in == -2) {
            sim_logf(cfg->log, SIM_LOG_ERROR, "--set %s: %s", a, err);
            return -EINVAL;
        }
        e = in >= 0 ? find_full(cfg, name) : NULL;
    }
    if (!e) {
        drop_instances(cfg, ninsts);
        sim_logf(cfg->log, SIM_LOG_ERROR, "--set %s: unknown key '%s'", a,
                 name);
        return -EINVAL;
    }
    char *raw = trim(eq + 1);
    if (*raw == '"') {
        const char *rest;
        /* rest is set only when unquote() succeeds: read it only then. */
        int rc = unquote(raw, value, &rest, err, sizeof(err));
        if (rc == 0 && *rest) {
            seterr(err, sizeof(err), "unexpected text after the quoted value");
            rc = -EINVAL;
        }
        if (rc < 0) {
            drop_instances(cfg, ninsts);
            sim_logf(cfg->log, SIM_LOG_ERROR, "--set %s: %s", a, err);
            return -EINVAL;
        }
    } else {
        strcpy(value, raw);
    }
    if (parse_value(&e->p, value, &v, err, sizeof(err)) < 0) {
        drop_instances(cfg, ninsts);
        sim_logf(cfg->log, SIM_LOG_ERROR, "--set %s: %s", a, err);
        return -EINVAL;
    }
    if (cfg->ninsts > ninsts)
        cfg->insts[ninsts].seq = ++cfg->seq;
    store(e, &v);
    return 0;
}

/* ------------------------------------------- where values were set */

/* The instance an instance key belongs to. */
static const cfg_inst_t *inst_of(const sim_config_t *cfg, const cfg_ent_t *e)
{
    size_t k = (size_t)(e - cfg->ents);
    for (size_t i = 0; e->inst && i < cfg->ninsts; i++)
        if (k >= cfg->insts[i].first &&
            k < cfg->insts[i].first + cfg->insts[i].n)
            return &cfg->insts[i];
    return NULL;
}

/* "FILE:LINE", "--set KEY" or "the default" into buf; an instance key it
 * does not set is placed where its instance was declared. Returns the
 * order of that setting (0: the default). */
static uint64_t fmt_where(const sim_config_t *cfg, const cfg_ent_t *e,
                          char *buf, size_t len)
{
    const cfg_inst_t *in = e->seq ? NULL : inst_of(cfg, e);
    if (in && in->src)
        snprintf(buf, len, "%s:%u", in->src, in->line);
    else if (in)
        snprintf(buf, len, "--set %s", e->full);
    else if (!e->seq)
        snprintf(buf, len, "the default");
    else if (!e->src)
        snprintf(buf, len, "--set %s", e->full);
    else
        snprintf(buf, len, "%s:%u", e->src, e->src_line);
    return in ? in->seq : e->seq;
}

uint64_t sim_config_where(const sim_config_t *cfg, const char *name, char *buf,
                          size_t len)
{
    const cfg_ent_t *e = name ? find_full(cfg, name) : NULL;
    if (!e) {
        snprintf(buf, len, "unknown key");
        return 0;
    }
    fmt_where(cfg, e, buf, len);
    return e->seq;
}

/* Is the key `full` at p, as a whole word of msg? */
static bool word_at(const char *msg, const char *p, const char *full)
{
    size_t n = strlen(full);
    return (p == msg || !is_name_char(p[-1], true)) &&
           !is_name_char(p[n], true);
}

void sim_config_report(const sim_config_t *cfg, sim_log_t *log, const char *msg)
{
    const cfg_ent_t *named[8], *last = NULL;
    uint64_t last_seq = 0;
    char w[CFG_ERR_MAX / 2];
    size_t nnamed = 0;
    /* The keys the message names, in the order they appear. */
    for (const char *p = msg; *p && nnamed < 8; p++) {
        if (p != msg && is_name_char(p[-1], true))
            continue;
        for (size_t i = 0; i < cfg->n; i++) {
            const cfg_ent_t *e = &cfg->ents[i];
            if (strncmp(p, e->full, strlen(e->full)) ||
                !word_at(msg, p, e->full))
                continue;
            bool seen = false;
            for (size_t k = 0; k < nnamed; k++)
                seen |= named[k] == e;
            if (!seen)
                named[nnamed++] = e;
            uint64_t seq = fmt_where(cfg, e, w, sizeof(w));
            if (!last || seq > last_seq)
                last = e, last_seq = seq;
            break;
        }
    }
    char where[CFG_ERR_MAX], others[CFG_ERR_MAX] = "";
    size_t o = 0;
    for (size_t k = 0; k < nnamed; k++) {
        if (named[k] == last)
            continue;
        const cfg_ent_t *e = named[k];
        const char *inherits = "";
        if (e->inst && !e->seq) { /* its value is the class's */
            e = &cfg->ents[e->proto];
            inherits = " inherited from ";
        }
        uint64_t seq = fmt_where(cfg, e, w, sizeof(w));
        int m = snprintf(others + o, sizeof(others) - o, "%s%s%s%s %s %s",
                         o ? "; " : " (", named[k]->full, inherits,
                         *inherits ? e->full : "", seq ? "set at" : "is", w);
        if (m > 0 && (size_t)m < sizeof(others) - o)
            o += (size_t)m;
    }
    if (o && o + 1 < sizeof(others))
        others[o++] = ')', others[o] = '\0';
    if (!last) {
        sim_logf(log, SIM_LOG_ERROR, "%s", msg);
        return;
    }
    if (!last_seq)
        snprintf(where, sizeof(where), "defaults");
    else
        fmt_where(cfg, last, where, sizeof(where));
    sim_logf(log, SIM_LOG_ERROR, "%s: %s%s", where, msg, others);
}

/* ------------------------------------------------------- dump and listing */

/* Does a string value need quotes to read back unchanged? */
static bool needs_quotes(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || is_ws(s[0]) || is_ws(s[n - 1]) || s[0] == '"')
        return true;
    for (; *s; s++)
        if (*s == ';' || *s == '#' || *s == '\\' || *s == '"' ||
            (unsigned char)*s < 0x20)
            return true;
    return false;
}

static void write_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        switch (*s) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        default:
            fputc(*s, out);
        }
    }
    fputc('"', out);
}

/* A time in ps as exact ns text: "250", "1.5", "0.001". */
static void fmt_time_ns(char *b, size_t n, sim_time_t t)
{
    unsigned frac = (unsigned)(t % 1000);

    if (frac == 0) {
        snprintf(b, n, "%llu", (unsigned long long)(t / 1000));
        return;
    }
    char f[4];
    snprintf(f, sizeof(f), "%03u", frac);
    for (int i = 2; i > 0 && f[i] == '0'; i--)
        f[i] = '\0';
    snprintf(b, n, "%llu.%s", (unsigned long long)(t / 1000), f);
}

/* Write the current value of e as INI text. */
static void write_value(FILE *out, const cfg_ent_t *e)
{
    char b[512];
    const void *f = e->field;

    switch (e->p.type) {
    case SIM_PARAM_UINT:
        fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)f);
        break;
    case SIM_PARAM_DOUBLE:
        fmt_double_rt(b, sizeof(b), *(const double *)f);
        fputs(b, out);
        break;
    case SIM_PARAM_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case SIM_PARAM_ENUM: {
        unsigned v = *(const unsigned *)f, k = 0;
        while (e->p.enum_values[k] && k < v)
            k++;
        if (e->p.enum_values[k])
            fputs(e->p.enum_values[k], out);
        else
            fprintf(out, "%u", v); /* invalid: will not read back */
        break;
    }
    case SIM_PARAM_TIME:
        fmt_time_ns(b, sizeof(b), *(const sim_time_t *)f);
        fputs(b, out);
        break;
    case SIM_PARAM_DIST:
        sim_dist_format((const sim_dist_t *)f, b, sizeof(b));
        fputs(b, out);
        break;
    case SIM_PARAM_STRING: {
        const char *s = f;
        char tmp[SIM_PARAM_STR_MAX];
        memcpy(tmp, s, SIM_PARAM_STR_MAX);
        tmp[SIM_PARAM_STR_MAX - 1] = '\0';
        if (needs_quotes(tmp))
            write_quoted(out, tmp);
        else
            fputs(tmp, out);
        break;
    }
    }
}

/* Sections in order of first registration, each with its keys in order. */
int sim_config_dump(const sim_config_t *cfg, FILE *out)
{
    bool first = true;

    for (size_t i = 0; i < cfg->n; i++) {
        const char *sec = cfg->ents[i].p.section;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(cfg->ents[j].p.section, sec);
        if (seen)
            continue;
        fprintf(out, "%s[%s]\n", first ? "" : "\n", sec);
        first = false;
        for (size_t j = i; j < cfg->n; j++) {
            const cfg_ent_t *e = &cfg->ents[j];
            if (strcmp(e->p.section, sec) || (e->inst && !e->seq))
                continue; /* an instance lists what it overrides */
            fprintf(out, "%s = ", e->p.key);
            write_value(out, e);
            fputc('\n', out);
        }
    }
    return ferror(out) ? -EIO : 0;
}

/* The type column of the listing: "enum(a|b|c)" for enums. */
static void list_type(char *b, size_t n, const sim_param_t *p)
{
    size_t pos;

    snprintf(b, n, "%s", type_names[p->type]);
    if (p->type != SIM_PARAM_ENUM)
        return;
    pos = strlen(b);
    for (unsigned i = 0; p->enum_values[i] && pos + 2 < n; i++) {
        int k = snprintf(b + pos, n - pos, "%c%s", i ? '|' : '(',
                         p->enum_values[i]);
        if (k < 0 || (size_t)k >= n - pos)
            break;
        pos += (size_t)k;
    }
    if (pos + 1 < n)
        snprintf(b + pos, n - pos, ")");
}

static void list_range(char *b, size_t n, const sim_param_t *p)
{
    char lo[40], hi[40];

    if (!has_range(p)) {
        snprintf(b, n, "-");
        return;
    }
    fmt_num(lo, sizeof(lo), p->min);
    fmt_num(hi, sizeof(hi), p->max);
    snprintf(b, n, "[%s, %s]", lo, hi);
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* The row of a class in the listing: its name column and description. */
static void class_row(const cfg_class_t *c, char *name, size_t nlen, char *desc,
                      size_t dlen)
{
    size_t o = 0;
    snprintf(name, nlen, "%s.NAME.KEY", c->name);
    int m = snprintf(desc, dlen,
                     "[%s.NAME] sections declare instances; each inherits "
                     "every key of [%s]",
                     c->name, c->name);
    o = m > 0 ? (size_t)m : 0;
    for (const char *const *sec = c->sections + 1; *sec && o < dlen; sec++) {
        m = snprintf(desc + o, dlen - o, "%s[%s] (written %s.KEY)",
                     sec[1] ? ", " : " and ", *sec, *sec);
        o += m > 0 ? (size_t)m : 0;
    }
    if (o < dlen)
        snprintf(desc + o, dlen - o,
                 "; a key the instance sets overrides the class's, wherever "
                 "each was set (--set %s.NAME.KEY=VALUE)",
                 c->name);
}

/* One row per key, columns aligned: name type default range unit desc;
 * then one row per class. */
int sim_config_list(const sim_config_t *cfg, FILE *out)
{
    size_t w[5] = {4, 4, 7, 5, 4};
    char type[256], range[96], cname[128], cdesc[1024];

    for (size_t i = 0; i < cfg->n; i++) {
        const sim_param_t *p = &cfg->ents[i].p;
        size_t l[5];
        if (cfg->ents[i].inst)
            continue;
        list_type(type, sizeof(type), p);
        list_range(range, sizeof(range), p);
        l[0] = strlen(cfg->ents[i].full);
        l[1] = strlen(type);
        l[2] = strlen(or_dash(p->def)) + (p->def && *p->def ? 0 : 1);
        l[3] = strlen(range);
        l[4] = strlen(or_dash(p->unit));
        for (int k = 0; k < 5; k++)
            if (l[k] > w[k])
                w[k] = l[k];
    }
    for (size_t i = 0; i < cfg->nclasses; i++) {
        class_row(&cfg->classes[i], cname, sizeof(cname), cdesc, sizeof(cdesc));
        if (strlen(cname) > w[0])
            w[0] = strlen(cname);
    }
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], "name",
            (int)w[1], "type", (int)w[2], "default", (int)w[3], "range",
            (int)w[4], "unit", "description");
    for (size_t i = 0; i < cfg->n; i++) {
        const sim_param_t *p = &cfg->ents[i].p;
        if (cfg->ents[i].inst)
            continue;
        list_type(type, sizeof(type), p);
        list_range(range, sizeof(range), p);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0],
                cfg->ents[i].full, (int)w[1], type, (int)w[2],
                p->def && *p->def ? p->def : "\"\"", (int)w[3], range,
                (int)w[4], or_dash(p->unit), p->desc ? p->desc : "");
    }
    for (size_t i = 0; i < cfg->nclasses; i++) {
        class_row(&cfg->classes[i], cname, sizeof(cname), cdesc, sizeof(cdesc));
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], cname,
                (int)w[1], "section", (int)w[2], "-", (int)w[3], "-", (int)w[4],
                "-", cdesc);
    }
    return ferror(out) ? -EIO : 0;
}
