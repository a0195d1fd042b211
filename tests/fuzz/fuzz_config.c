/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for the configuration
 * reader: the INI syntax (sim_config_load_string), "section.key=value"
 * assignments as --set gives them (sim_config_set) and every value syntax
 * the parameter tables use, the distribution syntax (sim_dist_parse)
 * included, on the platform's real tables (platform_register).
 *
 * Input: text. Lines that start with "--set " are assignments, applied in
 * order after the rest of the text has been read as an INI file.
 *
 * Besides memory errors (ASan/UBSan), it checks the reader's contract and
 * aborts if it is broken:
 *  - a rejected input logs at least one error;
 *  - an accepted configuration dumps (sim_config_dump) to an INI text that
 *    reads back without error into a fresh configuration, and that one
 *    dumps to the identical text (sim/config.h: "an INI file that reads
 *    back to the same values");
 *  - every distribution value (the text after "=" of a --set line) that
 *    sim_dist_parse accepts formats (sim_dist_format) to a canonical text
 *    that parses back to a distribution with the same canonical text and
 *    the same mean.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/platform/platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_config: check failed: %s (%s:%d)\n", #cond,  \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The configuration's dump, as a malloc'd string. */
static char *dump(const sim_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    CHECK(f != NULL);
    CHECK(sim_config_dump(cfg, f) == 0);
    CHECK(fclose(f) == 0);
    return buf;
}

typedef struct fz_cfg {
    sim_log_t log;
    sim_config_t *cfg;
    platform_cfg_t pc;
} fz_cfg_t;

static fz_cfg_t *fz_new(void)
{
    fz_cfg_t *c = calloc(1, sizeof(*c));

    CHECK(c != NULL);
    sim_log_init(&c->log, SIM_LOG_ERROR, NULL, NULL);
    c->cfg = sim_config_create(&c->log);
    CHECK(c->cfg != NULL);
    CHECK(platform_register(c->cfg, &c->pc) == 0);
    return c;
}

static void fz_free(fz_cfg_t *c)
{
    sim_config_destroy(c->cfg);
    free(c);
}

/* A distribution's canonical text survives a parse -> format round trip. */
static void dist_round_trip(const char *text)
{
    sim_dist_t d, back;
    char err[128], canon[256], canon2[256];

    if (sim_dist_parse(text, &d, err, sizeof(err)) != 0)
        return;
    sim_dist_format(&d, canon, sizeof(canon));
    CHECK(sim_dist_parse(canon, &back, err, sizeof(err)) == 0);
    sim_dist_format(&back, canon2, sizeof(canon2));
    CHECK(strcmp(canon, canon2) == 0);
    double m = sim_dist_mean(&d), m2 = sim_dist_mean(&back);
    CHECK(isfinite(m) && m >= 0);
    CHECK(fabs(m - m2) <= 1e-9 * (m > 1 ? m : 1) + 1e-3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *ini = malloc(size + 1), *sets;
    size_t ni = 0;
    int rc = 0;
    fz_cfg_t *a;

    CHECK(text && ini);
    memcpy(text, data, size);
    text[size] = '\0';
    /* Split: "--set " lines apart, the rest is the INI text. */
    sets = text;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (strncmp(line, "--set ", 6) != 0) {
            memcpy(ini + ni, line, len);
            ni += len;
        }
        line = nl ? nl + 1 : NULL;
    }
    ini[ni] = '\0';

    a = fz_new();
    unsigned errors = a->log.errors;
    rc = sim_config_load_string(a->cfg, "fuzz", ini);
    if (rc != 0)
        CHECK(a->log.errors > errors);
    for (char *line = sets; rc == 0 && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "--set ", 6) == 0) {
            const char *eq = strchr(line + 6, '=');
            if (eq)
                dist_round_trip(eq + 1);
            errors = a->log.errors;
            rc = sim_config_set(a->cfg, line + 6);
            if (rc != 0)
                CHECK(a->log.errors > errors);
        }
        line = nl ? nl + 1 : NULL;
    }
    if (rc == 0) {
        /* Accepted: dump, reload into a fresh configuration, dump again. */
        char *d1 = dump(a->cfg), *d2;
        fz_cfg_t *b = fz_new();
        int rc2 = sim_config_load_string(b->cfg, "dump", d1);
        if (rc2 != 0)
            fprintf(stderr, "fuzz_config: the dump does not reload: %s\n",
                    sim_log_last_error(&b->log));
        CHECK(rc2 == 0);
        d2 = dump(b->cfg);
        if (strcmp(d1, d2) != 0)
            fprintf(stderr,
                    "fuzz_config: dump differs after reload\n%s\n--\n%s\n", d1,
                    d2);
        CHECK(strcmp(d1, d2) == 0);
        free(d1);
        free(d2);
        fz_free(b);
    }
    fz_free(a);
    free(text);
    free(ini);
    return 0;
}
