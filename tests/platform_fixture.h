/*
 * tests/platform_fixture.h - a platform built from defaults plus
 * "section.key=value" overrides, fed trace records from an array, and the
 * pieces of an expected fault time computed from the configuration: shared
 * by the platform-level suites (tests/ioasid/, tests/golden/).
 */
#ifndef TESTS_PLATFORM_FIXTURE_H
#define TESTS_PLATFORM_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/test_util.h"
#include "tools/platform/platform.h"

/* A trace mapping's permission: read and write (trace records' TRACE_PERM_*,
 * not IOMMU page-table bits). */
#define PERM_RW (TRACE_PERM_R | TRACE_PERM_W)

/* Trace records built in code. */
static inline trace_record_t rmap(sim_time_t t, uint32_t dev, uint32_t pasid,
                                  uint64_t addr, uint64_t len, unsigned perm,
                                  bool present)
{
    return (trace_record_t){.op = TRACE_MAP,
                            .time = t,
                            .dev = dev,
                            .pasid = pasid,
                            .addr = addr,
                            .len = len,
                            .perm = perm,
                            .present = present};
}

static inline trace_record_t rdma(sim_time_t t, uint32_t dev, uint32_t pasid,
                                  uint64_t addr, uint64_t len, bool write)
{
    return (trace_record_t){.op = write ? TRACE_WRITE : TRACE_READ,
                            .time = t,
                            .dev = dev,
                            .pasid = pasid,
                            .addr = addr,
                            .len = len};
}

static inline trace_record_t runmap(sim_time_t t, uint32_t dev, uint32_t pasid,
                                    uint64_t addr, uint64_t len)
{
    return (trace_record_t){.op = TRACE_UNMAP,
                            .time = t,
                            .dev = dev,
                            .pasid = pasid,
                            .addr = addr,
                            .len = len};
}

static inline trace_record_t rdetach(sim_time_t t, uint32_t dev, uint32_t pasid)
{
    return (trace_record_t){
        .op = TRACE_DETACH, .time = t, .dev = dev, .pasid = pasid};
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

/* The span histogram of stage k (fault.stage.<platform_stage_names[k]>). */
static inline sim_hist_t *stage(pfx_t *h, unsigned k)
{
    char name[64];
    snprintf(name, sizeof(name), "fault.stage.%s", platform_stage_names[k]);
    return hist(h, name);
}

/* Conservation of page requests: each ends responded, auto-responded,
 * dropped by policy or still in flight (docs/model.md, Statistics). */
static inline void check_conservation(const platform_summary_t *s)
{
    ck_assert_uint_eq(s->page_requests, s->pr_responded + s->pr_auto_responded +
                                            s->pr_dropped + s->pr_in_flight);
}

/* Expected times, from the resolved configuration. */

/* A fixed distribution's value in ps. */
static inline sim_time_t fixed_value(const sim_dist_t *d)
{
    ck_assert_int_eq(d->kind, SIM_DIST_FIXED);
    return (sim_time_t)sim_dist_mean(d);
}

/* One-way time of a message on the link: serialisation of its wire bytes
 * (pcie_link_serial_time of pcie_msg_wire_bytes) + link latency. */
static inline sim_time_t hop(const pcie_link_cfg_t *l, unsigned type,
                             uint8_t flags, uint32_t len)
{
    pcie_msg_t m = {0};
    m.type = (uint8_t)type;
    m.flags = flags;
    m.len = len;
    return pcie_link_serial_time(l, pcie_msg_wire_bytes(l, &m)) + l->latency;
}

/*
 * One nested fault whose fix needed `fills` stage-2 pages, handled per
 * host.nested_faults (Linux's routing: drivers/iommu/iommufd/fault.c
 * iommufd_fault_iopf_handler): with `linux` it went to the VMM, which
 * backs the pages (vmm.s2_fix each) between the VM exit and its
 * completion, and the vmm_exit stage is exit + fills x s2_fix + complete +
 * host.qi_submit; with `classify` the host's workers back them and the
 * host_fault stage is iopf + fills x mm_minor + qi_submit. Checks the
 * counters and the stage, then conservation of page requests.
 */
static inline void check_s2_fix_round_trip(pfx_t *h, bool linux_routing,
                                           uint64_t fills)
{
    const ioasid_virt_cfg_t *v = &h->pc.virt;
    const ioasid_host_cfg_t *hc = &h->pc.host;
    if (linux_routing) {
        ck_assert_uint_eq(ctr(h, "host.iopf.guest_groups"), 1);
        ck_assert_uint_eq(ctr(h, "ioasid.faults"), 1);
        sim_hist_t *ve = stage(h, PLATFORM_STAGE_VMM_EXIT);
        ck_assert_uint_eq(ve->count, 1);
        ck_assert_uint_eq(ve->min, fixed_value(&v->exit) +
                                       fills * fixed_value(&v->s2_fix) +
                                       fixed_value(&v->complete) +
                                       fixed_value(&hc->qi_submit));
    } else {
        ck_assert_uint_eq(ctr(h, "host.iopf.guest_groups"), 0);
        ck_assert_uint_eq(ctr(h, "ioasid.faults"), 0);
        sim_hist_t *hf = stage(h, PLATFORM_STAGE_HOST_FAULT);
        ck_assert_uint_eq(hf->count, 1);
        ck_assert_uint_eq(hf->min, fixed_value(&hc->iopf) +
                                       fills * fixed_value(&hc->mm_minor) +
                                       fixed_value(&hc->qi_submit));
    }
    platform_summary_t s;
    platform_summarize(h->p, &s);
    ck_assert_uint_eq(s.pr_in_flight, 0);
    check_conservation(&s);
}

#endif
