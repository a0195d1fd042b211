/*
 * sim/config.h - configuration parameters: tables, INI files, --set, listing.
 */
#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/log.h"
#include "sim/time.h"

typedef enum {
    SIM_PARAM_UINT =
        0,            /* uint64_t; decimal or 0x hex; suffixes K M G (x1024) */
    SIM_PARAM_DOUBLE, /* double */
    SIM_PARAM_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
    SIM_PARAM_ENUM,   /* unsigned: index into enum_values */
    SIM_PARAM_TIME,   /* sim_time_t ps, from ns (fractions) or a unit suffix */
    SIM_PARAM_DIST,   /* sim_dist_t, see sim_dist_parse */
    SIM_PARAM_STRING, /* char[SIM_PARAM_STR_MAX] */
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
    const char *def;  /* default, as text */
    double min, max;  /* allowed range for UINT/DOUBLE/TIME (TIME in ns);
                         min == max == 0: no range check */
    const char *unit; /* "ns", "entries", ... */
    const char *desc; /* one line */
    const char *const *enum_values; /* NULL-terminated, for ENUM */
    size_t offset;
} sim_param_t;

typedef struct sim_config sim_config_t;

/* An empty configuration whose errors go to log (NULL on allocation
 * failure), and its destruction (NULL is ignored). */
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

/*
 * Where the key `name` was set last, into buf: "FILE:LINE" (a loaded
 * file), "--set KEY" or "the default" (an instance key the instance does
 * not set: where the instance was declared). Returns the order in which
 * the key was set (0: never, it has its default or inherits).
 */
uint64_t sim_config_where(const sim_config_t *cfg, const char *name, char *buf,
                          size_t len);
/*
 * Log an error about keys (a constraint between keys, found after the
 * configuration is loaded) with their sources: the message is prefixed by
 * where the key it names that was set last was set, and the other keys it
 * names are followed by where they were set, e.g.
 * "cfg.ini:12: vm.devices = 9 is more than device.count = 4
 * (device.count set at cfg.ini:3)".
 */
void sim_config_report(const sim_config_t *cfg, sim_log_t *log,
                       const char *msg);

/*
 * Classes of instances. sim_config_class makes the registered section
 * `cls` a class whose instances are declared by [cls.NAME] sections (or
 * --set cls.NAME.KEY=VALUE). An instance has every key of the class's
 * member sections (sections: NULL-terminated, registered, sections[0] ==
 * cls), written KEY for cls's own keys and SECTION.KEY for the others
 * ("[vm.a] guest.vcpus = 2"). A key the instance does not set inherits the
 * class's value; one it sets overrides it, whatever the order they were
 * set in. NAME is letters, digits, _ and -, not a key of [cls]; a class
 * has at most 256 instances. Returns 0, -EINVAL or -ENOMEM.
 */
int sim_config_class(sim_config_t *cfg, const char *cls,
                     const char *const *sections);
/* Instances of class cls (in the order first declared), and the NAME of
 * the i-th (NULL past the end). */
size_t sim_config_instances(const sim_config_t *cfg, const char *cls);
const char *sim_config_instance(const sim_config_t *cfg, const char *cls,
                                size_t i);
/* Write the keys of member section `section` that the i-th instance of cls
 * sets into the struct at base (laid out as the table registered for
 * section). Start from a copy of the class's struct: together they are
 * the instance's values. Returns the number of keys written, or -ENOENT. */
int sim_config_apply(const sim_config_t *cfg, const char *cls, size_t i,
                     const char *section, void *base);

/* Write the resolved configuration as an INI file that reads back to the
 * same values. */
int sim_config_dump(const sim_config_t *cfg, FILE *out);

/* Write the list of all keys: name, type, default, range, unit,
 * description; then one row per class (name CLASS.NAME.KEY, type
 * "section") saying how its instances inherit. */
int sim_config_list(const sim_config_t *cfg, FILE *out);

/* Parse a time: ns by default, fractions allowed, or ps/ns/us/ms suffix. */
int sim_parse_time(const char *text, sim_time_t *out, char *err, size_t errlen);

#endif /* SIM_CONFIG_H */
