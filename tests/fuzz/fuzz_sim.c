/*
 * tests/fuzz/fuzz_sim.c - libFuzzer target for a whole short simulation:
 * a configuration and a trace are read, the machine is built and the trace
 * replayed (platform_create, platform_run), and the model's invariants are
 * checked after every run that the inputs let start.
 *
 * Input: configuration lines, a line "%%", then trace records (the text
 * format of docs/trace-format.md). Without a "%%" line the whole input is
 * the trace and the configuration is the default one. So that most inputs
 * reach the model rather than stop in a parser (fuzz_config and
 * fuzz_trace cover those), the configuration is read leniently, one line
 * at a time ("[section]" names the section, "key = value" is applied as
 * --set section.key=value, a line that does not apply is skipped), and
 * the trace header "iommu-sim-trace 1" / "timeunit ns" is supplied when
 * the trace part does not start with it.
 *
 * The run is capped so that one input stays cheap: at most 4 devices and
 * FZ_MAX_RECORDS records (the source ends there), run.max_time at most
 * FZ_MAX_TIME (it is set to that when 0, "no limit"), no time series,
 * DMA and map lengths up to FZ_MAX_LEN (a longer record ends the source),
 * and the sizes of tables, queues and CPUs clamped to small bounds (the
 * machine is then checked by platform_check as usual).
 *
 * Invariants (docs/model.md, "Statistics" and "The end of a run"); the
 * target aborts when one is broken:
 *  - page-request conservation: pri.requests = responded + auto_responded
 *    + dropped + in_flight (platform_summary_t);
 *  - fault groups: resolved + auto + failed <= fault.opened;
 *  - a run that returns PLATFORM_OK is complete, and one that was not cut
 *    by run.max_time has every replayed DMA done or failed (dmas = done +
 *    failed, none unfinished) and no page request in flight (nothing is
 *    left that could answer it: work outstanding, docs/model.md "The end
 *    of a run");
 *  - the fault stage contributions add up to the end-to-end mean: the sum
 *    of the fault.stage.<s> totals divided by the count of fault.e2e
 *    equals mean(fault.e2e) (the stages partition a fault's time);
 *  - no leak (ASan's leak checker, at exit of the fuzzer or the replay).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/platform/platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_DEVICES 4
#define FZ_MAX_RECORDS 64
#define FZ_MAX_TIME (10 * SIM_MS)
#define FZ_MAX_LEN (1ull << 20)
#define FZ_MAX_TABLE 4096

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_sim: check failed: %s (%s:%d)\n", #cond,     \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The trace reader, ending after FZ_MAX_RECORDS records or at a record
 * longer than FZ_MAX_LEN. */
typedef struct capped {
    trace_reader_t *r;
    unsigned n;
} capped_t;

static int capped_next(void *src, trace_record_t *rec)
{
    capped_t *c = src;
    int rc;

    if (c->n >= FZ_MAX_RECORDS)
        return 0;
    rc = trace_next(c->r, rec);
    if (rc == 1 && rec->len > FZ_MAX_LEN)
        return 0;
    if (rc == 1)
        c->n++;
    return rc;
}

static uint64_t counter(platform_t *p, const char *name)
{
    sim_counter_t *c = sim_stats_find_counter(platform_stats(p), name);
    CHECK(c != NULL);
    return c->value;
}

static sim_hist_t *histogram(platform_t *p, const char *name)
{
    sim_hist_t *h = sim_stats_find_hist(platform_stats(p), name);
    CHECK(h != NULL);
    return h;
}

/* The checks after a run that returned rc. */
static void check_invariants(platform_t *p, const platform_cfg_t *pc, int rc)
{
    platform_summary_t s;

    platform_summarize(p, &s);
    if (s.page_requests !=
        s.pr_responded + s.pr_auto_responded + s.pr_dropped + s.pr_in_flight)
        fprintf(stderr,
                "fuzz_sim: page requests %llu != responded %llu + auto %llu + "
                "dropped %llu + in flight %llu\n",
                (unsigned long long)s.page_requests,
                (unsigned long long)s.pr_responded,
                (unsigned long long)s.pr_auto_responded,
                (unsigned long long)s.pr_dropped,
                (unsigned long long)s.pr_in_flight);
    CHECK(s.page_requests ==
          s.pr_responded + s.pr_auto_responded + s.pr_dropped + s.pr_in_flight);
    CHECK(s.dmas_done + s.dmas_failed <= s.dmas);
    CHECK(s.faults_resolved + s.faults_auto + s.faults_failed <=
          counter(p, "fault.opened"));
    if (rc == PLATFORM_OK)
        CHECK(s.complete);
    bool cut = pc->run.max_time && s.sim_time >= pc->run.max_time;
    if (rc == PLATFORM_OK && !cut) {
        if (s.dmas != s.dmas_done + s.dmas_failed || s.dmas_unfinished ||
            s.pr_in_flight)
            fprintf(stderr,
                    "fuzz_sim: run OK at %llu ps with DMAs %llu, done %llu, "
                    "failed %llu, unfinished %llu, page requests in flight "
                    "%llu\n",
                    (unsigned long long)s.sim_time, (unsigned long long)s.dmas,
                    (unsigned long long)s.dmas_done,
                    (unsigned long long)s.dmas_failed,
                    (unsigned long long)s.dmas_unfinished,
                    (unsigned long long)s.pr_in_flight);
        CHECK(s.dmas == s.dmas_done + s.dmas_failed);
        CHECK(s.dmas_unfinished == 0);
        CHECK(s.pr_in_flight == 0);
    }
    sim_hist_t *e2e = histogram(p, "fault.e2e");
    if (e2e->count) {
        double total = 0, mean = sim_hist_mean(e2e);
        for (unsigned k = 0; k < PLATFORM_STAGE_COUNT; k++) {
            char name[64];
            snprintf(name, sizeof(name), "fault.stage.%s",
                     platform_stage_names[k]);
            total += histogram(p, name)->sum;
        }
        double per = total / (double)e2e->count;
        if (fabs(per - mean) > 1e-6 * mean + 1.0)
            fprintf(stderr,
                    "fuzz_sim: stage contributions %.3f ps != e2e mean "
                    "%.3f ps (%llu faults)\n",
                    per, mean, (unsigned long long)e2e->count);
        CHECK(fabs(per - mean) <= 1e-6 * mean + 1.0);
    }
}

#define CLAMP(field, cap)                                                      \
    do {                                                                       \
        if ((field) > (cap))                                                   \
            (field) = (cap);                                                   \
    } while (0)

/* Bound what makes one run expensive: devices, tables, queues, CPUs, the
 * simulated time; no time series. */
static void clamp_caps(platform_cfg_t *pc)
{
    CLAMP(pc->dev.count, FZ_MAX_DEVICES);
    CLAMP(pc->dev.tags, 256);
    CLAMP(pc->dev.atc_entries, FZ_MAX_TABLE);
    CLAMP(pc->iommu.iotlb_sets, 256);
    CLAMP(pc->iommu.ctx_cache, FZ_MAX_TABLE);
    CLAMP(pc->iommu.pasid_cache, FZ_MAX_TABLE);
    CLAMP(pc->iommu.s2tlb, FZ_MAX_TABLE);
    CLAMP(pc->iommu.prq_depth, FZ_MAX_TABLE);
    CLAMP(pc->iommu.fault_depth, FZ_MAX_TABLE);
    CLAMP(pc->iommu.qi_depth, FZ_MAX_TABLE);
    CLAMP(pc->virt.ring_depth, FZ_MAX_TABLE);
    CLAMP(pc->virt.queue_depth, FZ_MAX_TABLE);
    CLAMP(pc->virt.vcpus, 16);
    CLAMP(pc->host.cpus, 16);
    CLAMP(pc->host.iopf_workers, 16);
    if (pc->run.max_time == 0 || pc->run.max_time > FZ_MAX_TIME)
        pc->run.max_time = FZ_MAX_TIME;
    pc->run.epoch = 0;
}

/* Set instance key NAME.KEY of class cls to cap when its value is above. */
static void clamp_key(sim_config_t *cfg, const char *cls, size_t i,
                      const char *key, uint64_t v, uint64_t cap)
{
    char assign[512];
    if (v <= cap)
        return;
    snprintf(assign, sizeof(assign), "%s.%s.%s=%llu", cls,
             sim_config_instance(cfg, cls, i), key, (unsigned long long)cap);
    CHECK(sim_config_set(cfg, assign) == 0);
}

/* The same bounds for [device.NAME] and [vm.NAME] instances (what they
 * set over the clamped class values); false when there are more device
 * classes than the run may have devices. */
static bool clamp_instances(sim_config_t *cfg, const platform_cfg_t *pc)
{
    size_t nd = sim_config_instances(cfg, "device");
    if (nd > FZ_MAX_DEVICES)
        return false;
    for (size_t i = 0; i < nd; i++) {
        pcie_dev_cfg_t d = pc->dev;
        sim_config_apply(cfg, "device", i, "device", &d);
        clamp_key(cfg, "device", i, "count", d.count, 1);
        clamp_key(cfg, "device", i, "tags", d.tags, 256);
        clamp_key(cfg, "device", i, "atc_entries", d.atc_entries, FZ_MAX_TABLE);
    }
    for (size_t i = 0; i < sim_config_instances(cfg, "vm"); i++) {
        ioasid_virt_cfg_t v = pc->virt;
        for (const char *const *s =
                 (const char *const[]){"vm", "ioasid", "vmm", "guest", NULL};
             *s; s++)
            sim_config_apply(cfg, "vm", i, *s, &v);
        clamp_key(cfg, "vm", i, "ioasid.ring_depth", v.ring_depth,
                  FZ_MAX_TABLE);
        clamp_key(cfg, "vm", i, "guest.queue_depth", v.queue_depth,
                  FZ_MAX_TABLE);
        clamp_key(cfg, "vm", i, "guest.vcpus", v.vcpus, 16);
    }
    return true;
}

/* Apply the configuration text leniently: "[section]" lines name the
 * section, "key = value" lines are --set section.key=value, anything that
 * does not apply is skipped. */
static void apply_config(sim_config_t *cfg, char *text)
{
    char section[64] = "";

    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n'), *eq, assign[512];
        if (nl)
            *nl = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '[') {
            char *end = strchr(line, ']');
            size_t n = end ? (size_t)(end - line - 1) : 0;
            if (end && n < sizeof(section)) {
                memcpy(section, line + 1, n);
                section[n] = '\0';
            }
        } else if ((eq = strchr(line, '=')) != NULL && section[0]) {
            char *k = line, *ke = eq, *v = eq + 1;
            while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
                ke--;
            while (*v == ' ' || *v == '\t')
                v++;
            if (snprintf(assign, sizeof(assign), "%s.%.*s=%s", section,
                         (int)(ke - k), k, v) < (int)sizeof(assign))
                (void)sim_config_set(cfg, assign);
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Build the machine, replay the trace text and check the invariants. */
static void run_one(platform_cfg_t *pc, sim_log_t *log, const char *trace,
                    size_t tlen)
{
    static const char empty[1];
    platform_t *p = platform_create(pc, log);
    FILE *f;
    trace_reader_t *r;

    if (!p)
        return;
    /* fmemopen rejects size 0 on some libcs: one byte, already read */
    f = tlen ? fmemopen((void *)trace, tlen, "r")
             : fmemopen((void *)empty, 1, "r");
    CHECK(f != NULL);
    if (!tlen)
        (void)fgetc(f);
    r = trace_open_stream(f, "fuzz.trace", log);
    if (r) {
        capped_t c = {r, 0};
        platform_source_t src = {capped_next, &c, "fuzz.trace"};
        int rc = platform_run(p, &src, 1);
        CHECK(rc == PLATFORM_OK || rc == PLATFORM_SIM_ERROR ||
              rc == PLATFORM_INPUT_ERROR);
        check_invariants(p, pc, rc);
        trace_close(r);
    }
    fclose(f);
    platform_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char header[] = "iommu-sim-trace 1\ntimeunit ns\n";
    char *text = malloc(size + 1), *trace;
    sim_log_t log;
    sim_config_t *cfg;
    platform_cfg_t pc;

    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    trace = text;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    cfg = sim_config_create(&log);
    CHECK(cfg != NULL);
    memset(&pc, 0, sizeof(pc));
    CHECK(platform_register(cfg, &pc) == 0);
    /* "%%" on a line of its own separates configuration and trace. */
    char *sep = strncmp(text, "%%\n", 3) == 0 ? text : strstr(text, "\n%%\n");
    if (sep) {
        trace = sep == text ? text + 3 : sep + 4;
        *sep = '\0';
        apply_config(cfg, text);
    }
    clamp_caps(&pc);
    if (clamp_instances(cfg, &pc) && platform_check(&pc, &log) == 0) {
        size_t tlen = size - (size_t)(trace - text);
        if (strncmp(trace, "iommu-sim-trace", 15) == 0) {
            run_one(&pc, &log, trace, tlen);
        } else {
            char *t = malloc(sizeof(header) + tlen);
            CHECK(t != NULL);
            memcpy(t, header, sizeof(header) - 1);
            memcpy(t + sizeof(header) - 1, trace, tlen);
            run_one(&pc, &log, t, sizeof(header) - 1 + tlen);
            free(t);
        }
    }
    sim_config_destroy(cfg);
    free(text);
    return 0;
}
