/*
 * tests/platform_fixture.h - a platform built from defaults plus
 * "section.key=value" overrides, fed trace records from an array: shared by
 * the platform-level suites.
 */
#ifndef TESTS_PLATFORM_FIXTURE_H
#define TESTS_PLATFORM_FIXTURE_H

#include <check.h>
#include <stdlib.h>

#include "tools/platform/platform.h"

/* Trace records built in code. */
static inline trace_record_t rmap(sim_time_t t, uint32_t dev, uint32_t pasid,
                                  uint64_t addr, uint64_t len, unsigned perm,
                                  bool present)
{
    return (trace_record_t){.op = TRACE_MAP, .time = t, .dev = dev,
                            .pasid = pasid, .addr = addr, .len = len,
                            .perm = perm, .present = present};
}

static inline trace_record_t rdma(sim_time_t t, uint32_t dev, uint32_t pasid,
                                  uint64_t addr, uint64_t len, bool write)
{
    return (trace_record_t){.op = write ? TRACE_WRITE : TRACE_READ,
                            .time = t, .dev = dev, .pasid = pasid,
                            .addr = addr, .len = len};
}

static inline trace_record_t runmap(sim_time_t t, uint32_t dev,
                                    uint32_t pasid, uint64_t addr,
                                    uint64_t len)
{
    return (trace_record_t){.op = TRACE_UNMAP, .time = t, .dev = dev,
                            .pasid = pasid, .addr = addr, .len = len};
}

static inline trace_record_t rdetach(sim_time_t t, uint32_t dev,
                                     uint32_t pasid)
{
    return (trace_record_t){.op = TRACE_DETACH, .time = t, .dev = dev,
                            .pasid = pasid};
}

/* Records from an array; line = index + 1. */
typedef struct arr_src {
    const trace_record_t *recs;
    size_t n, i;
} arr_src_t;

static inline int arr_next(void *src, trace_record_t *rec)
{
    arr_src_t *a = src;
    if (a->i >= a->n)
        return 0;
    *rec = a->recs[a->i];
    rec->line = ++a->i;
    return 1;
}

typedef struct pfx {
    sim_log_t log;
    sim_config_t *cfg;
    platform_cfg_t pc;
    platform_t *p;
} pfx_t;

/* Defaults, then each NULL-terminated list of overrides (either may be
 * NULL) in turn. */
static inline pfx_t *pfx_new2(const char *const *a, const char *const *b)
{
    pfx_t *h = calloc(1, sizeof(*h));
    ck_assert_ptr_nonnull(h);
    sim_log_init(&h->log, SIM_LOG_ERROR, NULL, NULL);
    h->cfg = sim_config_create(&h->log);
    ck_assert_ptr_nonnull(h->cfg);
    ck_assert_int_eq(platform_register(h->cfg, &h->pc), 0);
    const char *const *lists[2] = {a, b};
    for (unsigned l = 0; l < 2; l++)
        for (unsigned i = 0; lists[l] && lists[l][i]; i++)
            ck_assert_msg(sim_config_set(h->cfg, lists[l][i]) == 0,
                          "set %s: %s", lists[l][i],
                          sim_log_last_error(&h->log));
    ck_assert_int_eq(platform_check(&h->pc, &h->log), 0);
    h->p = platform_create(&h->pc, &h->log);
    ck_assert_ptr_nonnull(h->p);
    return h;
}

static inline pfx_t *pfx_new(const char *const *sets)
{
    return pfx_new2(sets, NULL);
}

static inline void pfx_free(pfx_t *h)
{
    platform_destroy(h->p);
    sim_config_destroy(h->cfg);
    free(h);
}

/* Replay recs[0..n) and run to the end; the platform's status. */
static inline int pfx_run(pfx_t *h, const trace_record_t *recs, size_t n)
{
    arr_src_t a = {recs, n, 0};
    platform_source_t src = {arr_next, &a, "mem"};
    return platform_run(h->p, &src, 1);
}

static inline uint64_t ctr(pfx_t *h, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(platform_stats(h->p), name);
    ck_assert_msg(c != NULL, "no counter %s", name);
    return c->value;
}

static inline sim_hist_t *hist(pfx_t *h, const char *name)
{
    sim_hist_t *x = sim_stats_find_hist(platform_stats(h->p), name);
    ck_assert_msg(x != NULL, "no histogram %s", name);
    return x;
}

#endif
