/*
 * tests/iommu/test_iommu_paths.c - the IOMMU's less travelled paths.
 *
 * Invalidation queue:
 *  - every descriptor granularity as it is written in memory, VT-d
 *    (VT-d 6.5.2: 0x1 context-cache, 0x2 IOTLB, 0x6 PASID-based IOTLB,
 *    0x7 PASID-cache, 0x8 PASID-based device-TLB, 0x5 inv_wait; Linux
 *    drivers/iommu/intel/iommu.h QI_*) and SMMUv3 (SMMUv3 4.x: CMD_CFGI_*,
 *    CMD_TLBI_*, CMD_ATC_INV, CMD_SYNC; Linux arm-smmu-v3.h CMDQ_OP_* and
 *    arm_smmu_cmdq_build_cmd), then decoded and applied without error;
 *  - descriptors the queue cannot encode (-EINVAL) and a descriptor the
 *    queue cannot decode (counted in iommu.qi.errors, costing nothing);
 *  - SMMUv3 CMD_CFGI_ALL covering both configuration caches;
 *  - VT-d waits without fence completing per segment (VT-d 6.5.2.12), out
 *    of order when a later segment's ATS completion comes first; stray
 *    ATS Invalidate Completions ignored (PCIe 10.3.2);
 *  - VT-d page-request drain (PD, VT-d 6.5.2.8 / 7.10);
 *  - a RESUME for no stalled transaction (SMMUv3 CMD_RESUME) is an error.
 * The IOMMU unit: messages a device must not send, a Translation
 * Completion granting X (PCIe 10.2.3), the VT-d implicit invalidation of
 * each PGTT (VT-d 6.5.3.1), the stall model refusing bad contexts,
 * creation failures, the configuration defaults of zero sizes.
 * Memory, guest memory and context tables: argument checks and edge
 * cases.
 */
#include "tests/check_run.h"
#include "tests/iommu/iommu_fx.h"
#include "tests/test_util.h"

#define RID 0x0108u
#define PASID 0x123u
#define DOMAIN 5u

/* ----------------------------------------------- invalidation queue */

/* Submit one descriptor and return the words written at its slot. */
static void submit_words(fx_t *f, const iommu_qi_desc_t *d, uint64_t *w)
{
    uint32_t slot = iommu_qi_tail(f->u);
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 1), 0);
    uint64_t a = iommu_qi_base(f->u) +
                 (uint64_t)(slot % f->cfg.qi_depth) * iommu_qi_desc_size(f->u);
    for (unsigned i = 0; i < 2; i++)
        w[i] = iommu_mem_read64(iommu_memory(f->u), a + 8 * i);
}

typedef struct enc_case {
    iommu_qi_desc_t d;
    uint64_t vtd[2], smmu[2];
} enc_case_t;

#define D48 ((uint64_t)DOMAIN << 48)
#define D32 ((uint64_t)DOMAIN << 32)
#define D16 ((uint64_t)DOMAIN << 16)
#define P32 ((uint64_t)PASID << 32)
#define P12 ((uint64_t)PASID << 12)
#define R32 ((uint64_t)RID << 32)
#define R16 ((uint64_t)RID << 16)

/* Expected words: VT-d granularity in bits 5:4, DID 31:16, PASID 51:32,
 * ADDR 63:12 | IH (6) | AM (5:0) in qw1 (VT-d 6.5.2.3, 6.5.2.4, 6.5.2.6);
 * SMMUv3 opcode in 7:0, ASID 63:48, VMID 47:32, SID 63:32, SSV 11, SSID
 * 31:12, SCALE here in 24:20, ADDR | Leaf (0) in dw1, CFGI_ALL with
 * Range 31 (SMMUv3 4.3, 4.4). AM / SCALE: log2 of the pages of the
 * smallest aligned block covering the range. */
static const enc_case_t enc_cases[] = {
    {{.type = IOMMU_QI_IOTLB, .inv = {.gran = IOMMU_INV_GLOBAL}},
     {0x2 | 1u << 4, 0},
     {0x30, 0}},
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_DOMAIN, .domain = DOMAIN}},
     {0x2 | 2u << 4 | D16, 0},
     {0x11 | D48, 0}},
    /* 16 KiB at 2 MiB: AM = 2, leaf only (IH) */
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_S2_RANGE,
              .domain = DOMAIN,
              .addr = 0x200000,
              .len = 0x4000,
              .leaf_only = true}},
     {0x2 | 3u << 4 | D16, 0x200000 | 1u << 6 | 2},
     {0x2a | 2u << 20 | D32, 0x200000 | 1}},
    /* 2^44 bytes: beyond SMMUv3's range: the whole VMID */
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_S2_RANGE,
              .domain = DOMAIN,
              .addr = 0,
              .len = 1ull << 44}},
     {0x2 | 3u << 4 | D16, 32},
     {0x28 | D32, 0}},
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_PASID, .domain = DOMAIN, .pasid = PASID}},
     {0x6 | 2u << 4 | D16 | P32, 0},
     {0x11 | D48, 0}},
    /* every PASID of the domain: VT-d has no such P_IOTLB granularity */
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_RANGE,
              .domain = DOMAIN,
              .pasid = PASID,
              .any_pasid = true,
              .addr = 0x3000,
              .len = 0x1000}},
     {0x2 | 2u << 4 | D16, 0},
     {0x12 | D48, 0x3000}},
    /* a range that wraps the address space ends at its top: 2 pages */
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_RANGE,
              .domain = DOMAIN,
              .pasid = PASID,
              .addr = 0xffffffffffffe000ull,
              .len = 0x4000,
              .leaf_only = true}},
     {0x6 | 3u << 4 | D16 | P32, 0xffffffffffffe000ull | 1u << 6 | 1},
     {0x12 | 1u << 20 | D48, 0xffffffffffffe000ull | 1}},
    {{.type = IOMMU_QI_IOTLB,
      .inv = {.gran = IOMMU_INV_RANGE,
              .domain = DOMAIN,
              .pasid = PASID,
              .addr = 0,
              .len = 1ull << 44}},
     {0x6 | 3u << 4 | D16 | P32, 32},
     {0x11 | D48, 0}},
    /* PASID cache: VT-d granularity 0 domain, 1 PASID, 3 global (device
     * granularities become global); SMMUv3 CFGI_CD / CD_ALL / ALL */
    {{.type = IOMMU_QI_PASID_CACHE,
      .inv = {.gran = IOMMU_INV_DOMAIN, .domain = DOMAIN, .pasid = PASID}},
     {0x7 | D16 | P32, 0},
     {0x04, 31}},
    {{.type = IOMMU_QI_PASID_CACHE,
      .inv = {.gran = IOMMU_INV_PASID, .domain = DOMAIN, .pasid = PASID}},
     {0x7 | 1u << 4 | D16 | P32, 0},
     {0x04, 31}},
    {{.type = IOMMU_QI_PASID_CACHE,
      .inv = {.gran = IOMMU_INV_DEVICE, .rid = RID, .domain = DOMAIN}},
     {0x7 | 3u << 4 | D16, 0},
     {0x06 | R32, 0}},
    {{.type = IOMMU_QI_PASID_CACHE,
      .inv = {.gran = IOMMU_INV_DEVICE_PASID,
              .rid = RID,
              .pasid = PASID,
              .domain = DOMAIN}},
     {0x7 | 3u << 4 | D16 | P32, 0},
     {0x05 | 1u << 11 | P12 | R32, 0}},
    /* context cache: VT-d granularity 1 global, 3 device (SID 47:32) */
    {{.type = IOMMU_QI_CONTEXT_CACHE,
      .inv = {.gran = IOMMU_INV_GLOBAL, .rid = RID}},
     {0x1 | 1u << 4 | R32, 0},
     {0x04, 31}},
    {{.type = IOMMU_QI_CONTEXT_CACHE,
      .inv = {.gran = IOMMU_INV_DEVICE, .rid = RID}},
     {0x1 | 3u << 4 | R32, 0},
     {0x03 | R32, 0}},
    /* device TLB of the whole space: "all" (PCIe 10.3.1: S = 1, address bits
     * 62:12 set; SMMUv3 CMD_ATC_INV Size 52) */
    {{.type = IOMMU_QI_DEVTLB,
      .inv = {.rid = RID, .pasid = PASID, .addr = 0, .len = UINT64_MAX}},
     {0x8 | R16 | P32, 0x7ffffffffffff000ull | 1u << 11},
     {0x40 | 1u << 11 | P12 | R32, 52}},
};

/* Each granularity in memory, then consumed: one descriptor of its type
 * counted each, no error, every cost paid. */
START_TEST(test_qi_encodings)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    f->cfg.qi_depth = iommu_config(f->u)->qi_depth;
    const iommu_cfg_t *c = iommu_config(f->u);
    f->answer_inv = true;
    unsigned n[IOMMU_QI_TYPES] = {0};
    sim_time_t cost = 0;
    for (unsigned i = 0; i < N_OF(enc_cases); i++) {
        const enc_case_t *e = &enc_cases[i];
        uint64_t w[2];
        submit_words(f, &e->d, w);
        const uint64_t *want = arch == IOMMU_ARCH_VTD ? e->vtd : e->smmu;
        ck_assert_msg(w[0] == want[0] && w[1] == want[1],
                      "case %u: %llx %llx, want %llx %llx", i,
                      (unsigned long long)w[0], (unsigned long long)w[1],
                      (unsigned long long)want[0], (unsigned long long)want[1]);
        /* SMMUv3 has no PASID-cache command by domain: CMD_CFGI_ALL, a
         * configuration (context-cache) command, does it */
        iommu_qi_type_t t = want[0] == 0x04 && arch == IOMMU_ARCH_SMMUV3
                                ? IOMMU_QI_CONTEXT_CACHE
                                : e->d.type;
        n[t]++;
        cost += t == IOMMU_QI_IOTLB           ? c->qi_iotlb
                : t == IOMMU_QI_PASID_CACHE   ? c->qi_pasid
                : t == IOMMU_QI_CONTEXT_CACHE ? c->qi_context
                                              : c->qi_devtlb;
    }
    iommu_qi_desc_t wait = {.type = IOMMU_QI_WAIT,
                            .fence = true,
                            .drain = true,
                            .done = fx_done,
                            .opaque = f};
    uint64_t w[2];
    uint32_t slot = iommu_qi_tail(f->u) % c->qi_depth;
    submit_words(f, &wait, w);
    if (arch == IOMMU_ARCH_VTD) /* SW (5), FN (6), PD (7), status data */
        ck_assert_uint_eq(w[0], 0x5 | 1u << 5 | 1u << 6 | 1u << 7 |
                                    (uint64_t)slot << 32);
    else /* CMD_SYNC has neither fence nor drain flag: it always fences */
        ck_assert_uint_eq(w[0], 0x46 | (uint64_t)slot << 32);
    fx_run(f);
    for (unsigned t = 0; t < IOMMU_QI_DEVTLB; t++) {
        char name[64];
        snprintf(name, sizeof(name), "iommu.qi.%s", iommu_qi_type_names[t]);
        ck_assert_uint_eq(fx_ctr(f, name), n[t]);
    }
    ck_assert_uint_eq(fx_ctr(f, "iommu.devtlb.invalidations"),
                      n[IOMMU_QI_DEVTLB]);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.errors"), 0);
    ck_assert_uint_eq(f->done_calls, 1);
    /* the fencing wait waits for the completion (inv_delay 0 here) */
    ck_assert_uint_eq(f->done_t[0], cost + c->qi_wait);
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.type, PCIE_MSG_INV_REQ);
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.len, 0); /* all */
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    fx_destroy(f);
}
END_TEST

/* What the queue cannot encode is refused whole (-EINVAL, nothing
 * written); a descriptor it cannot decode (software wrote an unknown
 * type: VT-d reports an Invalidation Queue Error, VT-d 6.5.2.10) is
 * counted as an error, costs nothing, and the queue goes on. */
START_TEST(test_qi_bad_descriptors)
{
    unsigned arch = (unsigned)_i;
    iommu_cfg_t cfg;
    fx_defaults(&cfg);
    cfg.arch = arch;
    fx_t *f = fx_create(&cfg);
    const iommu_cfg_t *c = iommu_config(f->u);
    iommu_qi_desc_t bad[2] = {
        {.type = IOMMU_QI_IOTLB, .inv = {.gran = IOMMU_INV_GLOBAL}},
        {.type = IOMMU_QI_IOTLB, .inv = {.gran = IOMMU_INV_DEVICE}}};
    ck_assert_int_eq(iommu_qi_submit(f->u, bad, 2), -EINVAL);
    bad[1].type = IOMMU_QI_TYPES;
    ck_assert_int_eq(iommu_qi_submit(f->u, bad, 2), -EINVAL);
    ck_assert_uint_eq(iommu_qi_tail(f->u), 0);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);

    iommu_qi_desc_t d[3] = {
        {.type = IOMMU_QI_IOTLB, .inv = {.gran = IOMMU_INV_GLOBAL}},
        {.type = IOMMU_QI_IOTLB, .inv = {.gran = IOMMU_INV_GLOBAL}},
        {.type = IOMMU_QI_WAIT, .done = fx_done, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 3), 0);
    /* The first is being processed; overwrite the second's type: VT-d
     * type 0xf (reserved), SMMUv3 opcode 0xff (none). */
    uint64_t a = iommu_qi_base(f->u) + iommu_qi_desc_size(f->u);
    iommu_mem_write64(iommu_memory(f->u), a,
                      arch == IOMMU_ARCH_VTD ? 0xf : 0xff);
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.errors"), 1);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.iotlb"), 1);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(f->done_t[0], c->qi_iotlb + c->qi_wait);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    fx_destroy(f);
}
END_TEST

/* SMMUv3 CMD_CFGI_ALL invalidates the STEs and the CDs (SMMUv3 4.3.5):
 * the next lookup reads the stream table and the CD again (2 + 2 reads).
 * A VT-d global context-cache invalidation leaves the PASID cache (VT-d
 * 6.5.2.1 / 6.5.2.2: software invalidates the PASID cache itself), so the
 * next lookup hits it and reads nothing. */
START_TEST(test_qi_cfgi_all)
{
    unsigned arch = (unsigned)_i;
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(arch, 8, &pt, RID, PASID, DOMAIN);
    iommu_xlate_t x;
    iommu_translate(f->u, RID, PASID, 0x5000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 4);
    iommu_translate(f->u, RID, PASID, 0x5000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.ctx_reads, 0);
    iommu_qi_desc_t d = {.type = IOMMU_QI_CONTEXT_CACHE,
                         .inv = {.gran = IOMMU_INV_GLOBAL}};
    ck_assert_int_eq(iommu_qi_submit(f->u, &d, 1), 0);
    fx_run(f);
    iommu_translate(f->u, RID, PASID, 0x5000, PCIE_F_R, &x);
    ck_assert_uint_eq(x.ctx_reads, arch == IOMMU_ARCH_SMMUV3 ? 4 : 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.context_cache"), 1);
    fx_destroy(f);
}
END_TEST

static void send_inv_cpl(fx_t *f, uint16_t itag, void *cookie)
{
    pcie_msg_t m = {0};
    m.type = PCIE_MSG_INV_CPL;
    m.rid = RID;
    m.tag = itag;
    m.cookie = cookie;
    fx_inject_at(f, sim_now(f->sim), &m);
    fx_run(f);
}

static void done_a(void *opaque)
{
    fx_t *f = opaque;
    f->done_t[0] = sim_now(f->sim);
    f->done_calls |= 1;
}

static void done_b(void *opaque)
{
    fx_t *f = opaque;
    f->done_t[1] = sim_now(f->sim);
    f->done_calls |= 2;
}

/* VT-d waits without fence (as Linux qi_submit_sync writes them) each
 * close a segment and wait only for its device-TLB completions (VT-d
 * 6.5.2.12): with two segments in flight, the later one's completion
 * (ITAG 1) completes the later wait first. Completions nobody waits for
 * change nothing (PCIe 10.3.2: an unexpected completion is discarded). */
START_TEST(test_qi_vtd_parked_waits)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    /* A completion before any request: ignored. */
    send_inv_cpl(f, 0, NULL);
    send_inv_cpl(f, 0, f->cap); /* not the queue's cookie either */
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    iommu_qi_desc_t d[4] = {
        {.type = IOMMU_QI_DEVTLB,
         .inv = {.rid = RID, .pasid = PASID, .addr = 0x1000, .len = 0x1000}},
        {.type = IOMMU_QI_WAIT, .done = done_a, .opaque = f},
        {.type = IOMMU_QI_DEVTLB,
         .inv = {.rid = RID, .pasid = PASID, .addr = 0x2000, .len = 0x1000}},
        {.type = IOMMU_QI_WAIT, .done = done_b, .opaque = f}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 4), 0);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[0].m.tag, 0); /* ITAG: the wait segment */
    ck_assert_uint_eq(f->cap[1].m.tag, 1);
    ck_assert_uint_eq(f->cap[1].t, 2 * c->qi_devtlb);
    ck_assert_uint_eq(f->done_calls, 0);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 4);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.wait"), 2); /* both parked */
    sim_time_t t1 = sim_now(f->sim);
    send_inv_cpl(f, 1, f->cap[1].m.cookie);
    ck_assert_uint_eq(f->done_calls, 2);
    ck_assert_uint_eq(f->done_t[1], t1 + c->qi_wait);
    sim_time_t t0 = sim_now(f->sim);
    send_inv_cpl(f, 0, f->cap[0].m.cookie);
    ck_assert_uint_eq(f->done_calls, 3);
    ck_assert_uint_eq(f->done_t[0], t0 + c->qi_wait);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    /* Another completion now: nothing is in flight. */
    send_inv_cpl(f, 0, f->cap[0].m.cookie);
    ck_assert_uint_eq(iommu_qi_pending(f->u), 0);
    ck_assert_uint_eq(f->done_calls, 3);
    fx_destroy(f);
}
END_TEST

static void ev_submit_drain_wait(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    (void)arg;
    fx_t *f = opaque;
    iommu_qi_desc_t w = {
        .type = IOMMU_QI_WAIT, .drain = true, .done = fx_done, .opaque = f};
    ck_assert_int_eq(iommu_qi_submit(f->u, &w, 1), 0);
}

/* A VT-d wait with PD (VT-d 6.5.2.8, 7.10) completes only once the page
 * requests the IOMMU accepted before it are written to the PRQ: a request
 * accepted at t0 is written at t0 + prq_write, so the wait submitted at
 * t0 completes at t0 + prq_write + qi_wait (prq_write > 0), not at
 * t0 + qi_wait. */
START_TEST(test_qi_vtd_drain_wait)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    const iommu_cfg_t *c = iommu_config(f->u);
    ck_assert_uint_gt(c->prq_write, 0);
    sim_time_t t0 = 10 * SIM_US;
    pcie_msg_t m = {.type = PCIE_MSG_PAGE_REQ,
                    .flags = PCIE_F_PASID | PCIE_F_R | PCIE_F_LAST,
                    .rid = RID,
                    .pasid = PASID,
                    .addr = 0x7000,
                    .tag = 3};
    fx_inject_at(f, t0, &m);
    ck_assert_uint_ne(sim_schedule_at(f->sim, t0, ev_submit_drain_wait, f, 0),
                      0);
    fx_run(f);
    ck_assert_uint_eq(iommu_prq_count(f->u), 1);
    ck_assert_uint_eq(f->done_calls, 1);
    ck_assert_uint_eq(f->done_t[0], t0 + c->prq_write + c->qi_wait);
    /* Nothing accepted in between: the next drain wait does not wait. */
    sim_time_t t1 = sim_now(f->sim);
    ev_submit_drain_wait(f->sim, f, 0);
    fx_run(f);
    ck_assert_uint_eq(f->done_calls, 2);
    ck_assert_uint_eq(f->done_t[1], t1 + c->qi_wait);
    fx_destroy(f);
}
END_TEST

/* A CMD_RESUME whose stall tag holds no transaction is an error (SMMUv3
 * 4.6.x: CMD_RESUME of an STAG not stalled has no effect). */
START_TEST(test_qi_resume_nothing)
{
    iommu_cfg_t cfg;
    fx_defaults(&cfg);
    cfg.arch = IOMMU_ARCH_SMMUV3;
    cfg.stall = true;
    fx_t *f = fx_create(&cfg);
    iommu_qi_desc_t d[2] = {{.type = IOMMU_QI_RESUME,
                             .rid = RID,
                             .prgi = 3,
                             .code = PCIE_PRG_FAILURE},
                            {.type = IOMMU_QI_RESUME,
                             .rid = RID,
                             .prgi = 60000,
                             .code = PCIE_PRG_SUCCESS}};
    ck_assert_int_eq(iommu_qi_submit(f->u, d, 2), 0);
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.resume"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.qi.errors"), 2);
    ck_assert_uint_eq(f->ncap, 0);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------- IOMMU unit */

typedef struct logcap {
    unsigned n;
    char last[256];
} logcap_t;

static void log_sink(void *opaque, sim_log_level_t level, const char *msg)
{
    (void)level;
    logcap_t *l = opaque;
    l->n++;
    snprintf(l->last, sizeof(l->last), "%s", msg);
}

/* A message only a root complex sends (a completion, a PRG response, an
 * invalidate request) arriving from a device is ignored with a warning;
 * so is an ATS Invalidate Completion for no request of the queue. */
START_TEST(test_unexpected_messages)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    logcap_t lc = {0};
    f->log.level = SIM_LOG_WARN;
    f->log.sink = log_sink;
    f->log.opaque = &lc;
    static const unsigned types[] = {PCIE_MSG_ATS_CPL, PCIE_MSG_PRG_RESP,
                                     PCIE_MSG_MEM_CPL, PCIE_MSG_INV_REQ};
    for (unsigned i = 0; i < N_OF(types); i++) {
        pcie_msg_t m = {.type = (uint8_t)types[i], .rid = RID};
        fx_inject_at(f, sim_now(f->sim), &m);
        fx_run(f);
        ck_assert_uint_eq(lc.n, i + 1);
        char want[128];
        snprintf(want, sizeof(want),
                 "iommu: unexpected %s message from %04x ignored",
                 pcie_msg_name(types[i]), RID);
        ck_assert_str_eq(lc.last, want);
    }
    send_inv_cpl(f, 0, NULL);
    ck_assert_uint_eq(lc.n, N_OF(types) + 1);
    char want[128];
    snprintf(want, sizeof(want),
             "iommu: invalidate completion from %04x for no request", RID);
    ck_assert_str_eq(lc.last, want);
    ck_assert_uint_eq(f->ncap, 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.ats.requests"), 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.received"), 0);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.untranslated"), 0);
    fx_destroy(f);
}
END_TEST

static const fx_cap_t *ats_ask(fx_t *f, uint64_t va, uint8_t flags)
{
    pcie_msg_t r = {.type = PCIE_MSG_ATS_REQ,
                    .flags = (uint8_t)(PCIE_F_PASID | flags),
                    .rid = RID,
                    .pasid = PASID,
                    .addr = va,
                    .tag = 9};
    fx_inject_at(f, sim_now(f->sim), &r);
    fx_run(f);
    ck_assert_uint_ge(f->ncap, 1);
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.type, PCIE_MSG_ATS_CPL);
    return &f->cap[f->ncap - 1];
}

/* A Translation Completion grants Execute only with Read (PCIe 10.2.3:
 * "Execute Permitted ... only meaningful when R is Set"); the No-Write
 * hint withholds W (PCIe 10.2.3.x, NW). */
START_TEST(test_ats_exec_permission)
{
    iommu_pt_t pt;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 8, &pt, RID, PASID, DOMAIN);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x10000, 0x90000, 12,
                                  IOMMU_PTE_R | IOMMU_PTE_X | IOMMU_PTE_U),
                     0);
    ck_assert_int_eq(iommu_pt_map(&pt, 0x11000, 0x91000, 12,
                                  IOMMU_PTE_W | IOMMU_PTE_X | IOMMU_PTE_U),
                     0);
    const fx_cap_t *c = ats_ask(f, 0x10000, PCIE_F_R | PCIE_F_X);
    ck_assert_uint_eq(c->m.code, PCIE_CPL_SC);
    ck_assert_uint_eq(c->m.perm, PCIE_F_R | PCIE_F_X);
    ck_assert_uint_eq(c->m.xaddr, 0x90000);
    c = ats_ask(f, 0x11000, PCIE_F_R | PCIE_F_W | PCIE_F_X);
    ck_assert_uint_eq(c->m.perm & (PCIE_F_R | PCIE_F_X), 0);
    c = ats_ask(f, 0x11000, PCIE_F_W | PCIE_F_NW);
    ck_assert_uint_eq(c->m.perm & PCIE_F_W, 0);
    fx_destroy(f);
}
END_TEST

/* Whether the IOTLB holds (pasid, va): a functional translation that
 * reports the hit. */
static bool cached(fx_t *f, uint32_t pasid, uint64_t va)
{
    iommu_xlate_t x;
    iommu_translate(f->u, RID, pasid, va, PCIE_F_R, &x);
    ck_assert_uint_eq(x.outcome, IOMMU_WALK_OK);
    return x.iotlb_hit;
}

static void page_req_at(fx_t *f, uint32_t pasid, uint64_t va)
{
    fx_send_page_req(f, sim_now(f->sim), RID, pasid, va, 1,
                     PCIE_F_R | PCIE_F_LAST);
}

/* VT-d implicit invalidation on a page request (VT-d 6.5.3.1, Table 27)
 * by PGTT: second stage, page-selective-within-domain on the stage-2
 * domain (the page goes, other pages stay); nested, domain-selective on
 * the DID (every PASID of the domain loses its entries). */
START_TEST(test_vtd_implicit_invalidation_modes)
{
    iommu_pt_t s1;
    fx_t *f = fx_arch_bound(IOMMU_ARCH_VTD, 64, &s1, RID, PASID, DOMAIN);
    iommu_mem_t *mem = iommu_memory(f->u);
    ck_assert_int_eq(iommu_pt_map(&s1, 0x4000, 0x84000, 12, PTE_RWU), 0);
    /* PASID 2: stage 2 only, stage-2 domain 9, GPA = IOVA */
    iommu_pt_t s2;
    ck_assert_int_eq(iommu_pt_init(&s2, mem, 4), 0);
    ck_assert_int_eq(iommu_pt_map(&s2, 0x6000, 0x86000, 12, PTE_RWU), 0);
    ck_assert_int_eq(iommu_pt_map(&s2, 0x7000, 0x87000, 12, PTE_RWU), 0);
    iommu_pasid_entry_t e2 = {.mode = IOMMU_MODE_S2,
                              .domain = 11,
                              .s2_domain = 9,
                              .s2 = s2,
                              .pri = true};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, 2, &e2), 0);
    ck_assert(!cached(f, PASID, 0x4000));
    ck_assert(!cached(f, 2, 0x6000));
    ck_assert(!cached(f, 2, 0x7000));
    ck_assert(cached(f, PASID, 0x4000));
    ck_assert(cached(f, 2, 0x6000));
    page_req_at(f, 2, 0x6000);
    ck_assert(!cached(f, 2, 0x6000));
    ck_assert(cached(f, 2, 0x7000));
    ck_assert(cached(f, PASID, 0x4000));
    /* PASID 3: nested in DOMAIN; its page request drops PASID's entry. */
    iommu_guest_t *g = iommu_guest_create(mem, 4, 12);
    ck_assert_ptr_nonnull(g);
    iommu_pt_t gs1;
    ck_assert_int_eq(iommu_pt_init_guest(&gs1, g, 4), 0);
    iommu_pasid_entry_t e3 = {.mode = IOMMU_MODE_NESTED,
                              .domain = DOMAIN,
                              .s2_domain = 12,
                              .s1 = gs1,
                              .s2 = *iommu_guest_s2(g),
                              .pri = true};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, 3, &e3), 0);
    page_req_at(f, 3, 0x1000);
    ck_assert(!cached(f, PASID, 0x4000));
    ck_assert(cached(f, 2, 0x7000));
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.implicit_invalidations"), 2);
    ck_assert_uint_eq(fx_ctr(f, "iommu.prq.written"), 2);
    iommu_pt_destroy(&gs1);
    iommu_guest_destroy(g);
    iommu_pt_destroy(&s2);
    fx_destroy(f);
}
END_TEST

static void mem_rd_at(fx_t *f, uint16_t rid, uint32_t pasid, uint64_t addr)
{
    pcie_msg_t m = {.type = PCIE_MSG_MEM_RD,
                    .flags = PCIE_F_PASID,
                    .rid = rid,
                    .pasid = pasid,
                    .addr = addr,
                    .len = 64,
                    .tag = 4};
    fx_inject_at(f, sim_now(f->sim), &m);
    fx_run(f);
}

/* SMMUv3 with stall: a fault without a usable STE (C_BAD_STE) is not
 * recoverable and is not stalled (SMMUv3 3.12.2: only translation-related
 * faults stall): the read gets UR at once and the event says so; a
 * stage-2 fault records the IPA (SMMUv3 7.3 F_TRANSLATION: IPA field). */
START_TEST(test_smmu_unrecoverable_and_s2_fault)
{
    iommu_cfg_t cfg;
    fx_defaults(&cfg);
    cfg.arch = IOMMU_ARCH_SMMUV3;
    cfg.stall = true;
    fx_t *f = fx_create(&cfg);
    mem_rd_at(f, 0x0200, PASID, 0x3000);
    ck_assert_uint_eq(f->ncap, 1);
    ck_assert_uint_eq(f->cap[0].m.type, PCIE_MSG_MEM_CPL);
    ck_assert_uint_eq(f->cap[0].m.code, PCIE_CPL_UR);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.stalled"), 0);
    iommu_fault_rec_t r;
    iommu_fault_read(f->u, iommu_fault_head(f->u), &r);
    ck_assert_uint_eq(r.reason, IOMMU_WALK_BAD_CONTEXT);
    ck_assert_uint_eq(r.rid, 0x0200);
    ck_assert(!r.stall);
    iommu_fault_set_head(f->u, iommu_fault_tail(f->u));
    /* stage 2 only: the GPA 0x5000 is not mapped */
    iommu_pt_t s2;
    ck_assert_int_eq(iommu_pt_init(&s2, iommu_memory(f->u), 4), 0);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_S2, .domain = 1, .s2_domain = 2, .s2 = s2};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
    mem_rd_at(f, RID, PASID, 0x5040);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.stalled"), 1);
    uint32_t pos = iommu_fault_head(f->u);
    ck_assert_uint_ne(pos, iommu_fault_tail(f->u));
    iommu_fault_read(f->u, pos, &r);
    ck_assert_uint_eq(r.reason, IOMMU_WALK_S2_NOT_PRESENT);
    ck_assert(r.stall);
    ck_assert_uint_eq(r.addr, 0x5040);
    ck_assert_uint_eq(r.gpa, 0x5000);
    /* a retry faults and stalls again; an abort gets UR */
    iommu_qi_desc_t d = {.type = IOMMU_QI_RESUME,
                         .rid = RID,
                         .prgi = r.stag,
                         .code = PCIE_PRG_SUCCESS};
    ck_assert_int_eq(iommu_qi_submit(f->u, &d, 1), 0);
    fx_run(f);
    ck_assert_uint_eq(fx_ctr(f, "iommu.dma.stalled"), 2);
    ck_assert_uint_eq(f->ncap, 1);
    iommu_fault_read(f->u, iommu_fault_next(f->u, pos), &r);
    ck_assert(r.stall);
    d.prgi = r.stag;
    d.code = PCIE_PRG_FAILURE;
    ck_assert_int_eq(iommu_qi_submit(f->u, &d, 1), 0);
    fx_run(f);
    ck_assert_uint_eq(f->ncap, 2);
    ck_assert_uint_eq(f->cap[f->ncap - 1].m.code, PCIE_CPL_UR);
    ck_assert_uint_eq(iommu_stalled(f->u), 0);
    iommu_pt_destroy(&s2);
    fx_destroy(f);
}
END_TEST

/* Zero sizes take the architecture defaults, sizes below the minimum the
 * minimum (a ring needs two slots, VT-d 6.5.2: one stays empty). */
START_TEST(test_cfg_resolve_minimums)
{
    iommu_cfg_t c;
    fx_defaults(&c);
    c.qi_depth = 0;
    c.prq_depth = 1;
    c.fault_depth = 1;
    c.walkers = 0;
    c.psc_ways = 0;
    iommu_cfg_resolve(&c);
    ck_assert_uint_eq(c.qi_depth, 256);
    ck_assert_uint_eq(c.prq_depth, 2);
    ck_assert_uint_eq(c.fault_depth, 2);
    ck_assert_uint_eq(c.walkers, 1);
    ck_assert_uint_eq(c.psc_ways, 1);
    c.qi_depth = 1;
    iommu_cfg_resolve(&c);
    ck_assert_uint_eq(c.qi_depth, 2);
}
END_TEST

/* Statistics names the IOMMU registers, one of each group (the walk
 * outcomes' name is built from iommu_walk_outcome_names); with the name
 * taken already, creation fails and frees what it built (ASan checks). */
static const char *const taken_names[] = {
    "iommu.iotlb.hits",       "iommu.iotlb.misses",  "iommu.psc.s1.l2.hits",
    "iommu.psc.s2.l3.misses", "iommu.ats.requests",  "iommu.qi.wait",
    NULL /* walk */,          "iommu.prq.occupancy", "iommu.walker.arrivals",
};

START_TEST(test_create_fails_on_taken_stat)
{
    char name[96];
    snprintf(name, sizeof(name), "%s",
             taken_names[_i] ? taken_names[_i] : "iommu.walk.");
    if (!taken_names[_i])
        strcat(name, iommu_walk_outcome_names[IOMMU_WALK_S1_PERM]);
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_t *sim = sim_create(&log);
    sim_stats_t *st = sim_stats_create();
    iommu_cfg_t c;
    fx_defaults(&c);
    /* The name is one the IOMMU registers. */
    iommu_t *u = iommu_create(sim, st, &c, 1);
    ck_assert_ptr_nonnull(u);
    ck_assert_msg(sim_stats_find_counter(st, name) ||
                      sim_stats_find_gauge(st, name) ||
                      sim_stats_find_hist(st, name),
                  "%s", name);
    iommu_destroy(u);
    sim_stats_destroy(st);
    st = sim_stats_create();
    ck_assert_ptr_nonnull(sim_stats_counter(st, name, "taken", "x"));
    ck_assert_ptr_null(iommu_create(sim, st, &c, 1));
    sim_stats_destroy(st);
    sim_destroy(sim);
    iommu_destroy(NULL);
}
END_TEST

/* ------------------------------------------------ context tables */

/* Entries the tables cannot hold are refused (PASIDs are 20 bits, PCIe
 * 6.20; first-stage tables of 4 or 5 levels, VT-d 3.6; second-stage 2 to
 * 5, VT-d 3.7); clearing an entry whose tables do not exist is a no-op. */
START_TEST(test_ctx_set_and_clear_edges)
{
    iommu_cfg_t cfg;
    fx_defaults(&cfg);
    fx_t *f = fx_create(&cfg);
    iommu_mem_t *mem = iommu_memory(f->u);
    iommu_pt_t s1, s2;
    ck_assert_int_eq(iommu_pt_init(&s1, mem, 4), 0);
    ck_assert_int_eq(iommu_pt_init(&s2, mem, 4), 0);
    iommu_pasid_entry_t e = {
        .mode = IOMMU_MODE_NESTED, .domain = 1, .s1 = s1, .s2 = s2};
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PCIE_PASID_MAX, &e), -EINVAL);
    e.mode = (iommu_mode_t)(IOMMU_MODE_NESTED + 1);
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), -EINVAL);
    e.mode = IOMMU_MODE_NESTED;
    e.s1.levels = 3;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), -EINVAL);
    e.s1.levels = 6;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), -EINVAL);
    e.s1.levels = 4;
    e.s2.levels = 1;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), -EINVAL);
    e.s2.levels = 6;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), -EINVAL);
    e.mode = IOMMU_MODE_S2;
    e.s1.levels = 3; /* ignored without stage 1 */
    e.s2.levels = 2;
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID, &e), 0);
    e.mode = IOMMU_MODE_S1;
    e.s1.levels = 5;
    e.s2.levels = 9; /* ignored without stage 2 */
    ck_assert_int_eq(iommu_set_pasid(f->u, RID, PASID + 1, &e), 0);
    iommu_pasid_entry_t out;
    ck_assert(iommu_get_pasid(f->u, RID, PASID, &out));
    ck_assert_uint_eq(out.mode, IOMMU_MODE_S2);
    ck_assert_uint_eq(out.s2.levels, 2);
    ck_assert(iommu_get_pasid(f->u, RID, PASID + 1, &out));
    ck_assert_uint_eq(out.s1.levels, 5);
    /* no root entry (another bus), no context entry (same bus, another
     * devfn), no PASID table (another block of 64 PASIDs) */
    iommu_clear_pasid(f->u, RID + 0x100, PASID);
    iommu_clear_pasid(f->u, RID + 1, PASID);
    iommu_clear_pasid(f->u, RID, PASID + 64);
    ck_assert(!iommu_get_pasid(f->u, RID + 0x100, PASID, &out));
    ck_assert(!iommu_get_pasid(f->u, RID + 1, PASID, &out));
    ck_assert(!iommu_get_pasid(f->u, RID, PASID + 64, &out));
    ck_assert(iommu_get_pasid(f->u, RID, PASID, &out));
    /* the PASID is masked to 20 bits */
    iommu_clear_pasid(f->u, RID, PASID | PCIE_PASID_MAX);
    ck_assert(!iommu_get_pasid(f->u, RID, PASID, &out));
    ck_assert(iommu_get_pasid(f->u, RID, PASID + 1, &out));
    iommu_pt_destroy(&s1);
    iommu_pt_destroy(&s2);
    fx_destroy(f);
}
END_TEST

/* ------------------------------------------------------------ memory */

START_TEST(test_mem_edges)
{
    iommu_mem_destroy(NULL);
    iommu_mem_t *m = iommu_mem_create();
    ck_assert_ptr_nonnull(m);
    /* Empty: nothing backed, reads 0, writes lost. */
    ck_assert(!iommu_mem_is_backed(m, 0x1000));
    ck_assert_uint_eq(iommu_mem_read64(m, 0x1000), 0);
    iommu_mem_write64(m, 0x1000, 5);
    ck_assert_ptr_null(iommu_mem_frame(m, 0x1000));
    /* Frame 0 is never handed out, and not given back. */
    iommu_mem_free(m, 0);
    ck_assert_uint_eq(iommu_mem_frames(m), 0);
    ck_assert_int_eq(iommu_mem_back(m, 0), -EINVAL);
    ck_assert_int_eq(iommu_mem_back(m, 0x1000), -EINVAL); /* not allocated */
    /* Ranges: a power-of-two alignment, at least one frame, within the
     * 52-bit physical address space (2^40 frames). */
    ck_assert_uint_eq(iommu_mem_alloc_range(m, 0, 1), 0);
    ck_assert_uint_eq(iommu_mem_alloc_range(m, 1, 0), 0);
    ck_assert_uint_eq(iommu_mem_alloc_range(m, 1, 3), 0);
    ck_assert_uint_eq(iommu_mem_alloc_range(m, 1ull << 40, 1), 0);
    ck_assert_uint_eq(iommu_mem_alloc_range(m, UINT64_MAX, 1), 0);
    ck_assert_uint_eq(iommu_mem_frames(m), 0);
    /* Frames 1..7 skipped for an 8-aligned range are handed out next
     * (last skipped first). */
    uint64_t r = iommu_mem_alloc_range(m, 8, 8);
    ck_assert_uint_eq(r, 8ull << 12);
    ck_assert_uint_eq(iommu_mem_frames(m), 8);
    ck_assert_uint_eq(iommu_mem_alloc(m, false), 7ull << 12);
    ck_assert_int_eq(iommu_mem_back(m, r), 0);
    ck_assert_int_eq(iommu_mem_back(m, r), -EEXIST);
    /* The memory as page-table memory. */
    const iommu_pt_mem_ops_t *ops = &iommu_mem_pt_ops;
    uint64_t t = ops->alloc(m);
    ck_assert_uint_ne(t, 0);
    ck_assert(iommu_mem_is_backed(m, t));
    ops->write(m, t + 16, 0xabcd);
    ck_assert_uint_eq(ops->read(m, t + 16), 0xabcd);
    ck_assert_uint_eq(ops->frame(m, t)[2], 0xabcd);
    uint64_t backed = iommu_mem_backed_frames(m);
    ops->free(m, t);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), backed - 1);
    ck_assert(!iommu_mem_is_backed(m, t));
    iommu_mem_destroy(m);
}
END_TEST

/* Many frames freed leave tombstones in the index; when they fill it the
 * index is rebuilt at the same size (no growth: the host memory it uses
 * stays the same) and every backed frame keeps its contents. */
START_TEST(test_mem_rehash_in_place)
{
    iommu_mem_t *m = iommu_mem_create();
    enum { N = 1000 };
    static uint64_t pa[N];
    for (unsigned i = 0; i < N; i++) {
        pa[i] = iommu_mem_alloc(m, true);
        ck_assert_uint_ne(pa[i], 0);
    }
    for (unsigned i = 0; i < N; i++)
        iommu_mem_free(m, pa[i]);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), 0);
    uint64_t base = iommu_mem_alloc_range(m, N, 1);
    ck_assert_uint_ne(base, 0);
    size_t bytes = 0;
    for (unsigned i = 0; i < N; i++) {
        uint64_t a = base + ((uint64_t)i << 12);
        ck_assert_int_eq(iommu_mem_back(m, a), 0);
        iommu_mem_write64(m, a + 8, i + 1);
        if (i == 0)
            bytes = iommu_mem_host_bytes(m);
    }
    ck_assert_uint_eq(iommu_mem_host_bytes(m), bytes);
    ck_assert_uint_eq(iommu_mem_backed_frames(m), N);
    for (unsigned i = 0; i < N; i++)
        ck_assert_uint_eq(iommu_mem_read64(m, base + ((uint64_t)i << 12) + 8),
                          i + 1);
    iommu_mem_destroy(m);
}
END_TEST

/* ------------------------------------------------------ guest memory */

START_TEST(test_guest_argument_checks)
{
    iommu_mem_t *m = iommu_mem_create();
    ck_assert_ptr_null(iommu_guest_create(m, 4, 13));
    ck_assert_ptr_null(iommu_guest_create(m, 1, 12)); /* stage-2 levels */
    iommu_guest_t *g = iommu_guest_create(m, 4, 12);
    ck_assert_ptr_nonnull(g);
    /* reserve: align a power of two >= 4 KiB, len a non-zero multiple of
     * 4 KiB, inside the 48-bit space of a 4-level stage 2 */
    ck_assert_uint_eq(iommu_guest_reserve(g, 0x1000, 0x800), 0);
    ck_assert_uint_eq(iommu_guest_reserve(g, 0x1000, 0x3000), 0);
    ck_assert_uint_eq(iommu_guest_reserve(g, 0, 0x1000), 0);
    ck_assert_uint_eq(iommu_guest_reserve(g, 0x1800, 0x1000), 0);
    ck_assert_uint_eq(iommu_guest_reserve(g, 1ull << 48, 0x1000), 0);
    ck_assert_uint_eq(iommu_guest_reserve(g, 0x1000, 1ull << 63), 0);
    uint64_t gpa = iommu_guest_reserve(g, 0x2000, 0x1000);
    ck_assert_uint_eq(gpa, 1ull << 30); /* GPA space starts at 1 GiB */
    /* back: aligned, non-empty, leaves of 4 KiB, 2 MiB or 1 GiB */
    ck_assert_int_eq(iommu_guest_back(g, gpa + 1, 0x1000, PTE_RWU, 12),
                     -EINVAL);
    ck_assert_int_eq(iommu_guest_back(g, gpa, 0, PTE_RWU, 12), -EINVAL);
    ck_assert_int_eq(iommu_guest_back(g, gpa, 0x1800, PTE_RWU, 12), -EINVAL);
    ck_assert_int_eq(iommu_guest_back(g, gpa, 0x1000, PTE_RWU, 13), -EINVAL);
    ck_assert_int_eq(iommu_guest_back(g, gpa, 0x2000, PTE_RWU, 21), 0);
    uint64_t h0, h1;
    ck_assert_int_eq(iommu_guest_to_host(g, gpa, &h0), 0);
    ck_assert_int_eq(iommu_guest_to_host(g, gpa + 0x1000, &h1), 0);
    ck_assert_uint_eq(h1, h0 + 0x1000);
    /* congruent modulo 2 MiB, so that a 2 MiB leaf could map it */
    ck_assert_uint_eq(h0 & 0x1fffff, gpa & 0x1fffff);
    /* not a table frame */
    ck_assert_int_eq(iommu_guest_back_table(g, gpa), -ENOENT);
    /* a length that wraps the GPA space */
    ck_assert_uint_eq(iommu_guest_reserve(g, ~0xfffull, 0x1000), 0);
    /* 1 GiB leaves allowed: the host frame is congruent modulo 1 GiB */
    uint64_t g2 = iommu_guest_reserve(g, 0x1000, 0x1000);
    ck_assert_int_eq(iommu_guest_back(g, g2, 0x1000, PTE_RWU, 30), 0);
    ck_assert_int_eq(iommu_guest_to_host(g, g2, &h1), 0);
    ck_assert_uint_eq(h1 & 0x3fffffff, g2 & 0x3fffffff);
    /* A guest table reaches a GPA outside its chunks through stage 2. */
    iommu_pt_t gpt;
    ck_assert_int_eq(iommu_pt_init_guest(&gpt, g, 4), 0);
    ck_assert_int_eq(iommu_mem_back(m, h0), 0);
    iommu_mem_write64(m, h0 + 16, 99);
    ck_assert_uint_eq(gpt.ops->read(gpt.ops_ctx, gpa + 16), 99);
    gpt.ops->write(gpt.ops_ctx, gpa + 24, 98);
    ck_assert_uint_eq(iommu_mem_read64(m, h0 + 24), 98);
    ck_assert_ptr_eq(gpt.ops->frame(gpt.ops_ctx, gpa), iommu_mem_frame(m, h0));
    iommu_pt_destroy(&gpt);
    iommu_guest_destroy(g);
    iommu_guest_destroy(NULL);
    iommu_mem_destroy(m);
}
END_TEST

/* Guest tables: the frames a walk reads, root first; frames given back
 * are reused zeroed; addresses the guest cannot reach read 0 and lose
 * writes; tables on demand enter stage 2 only when backed. */
START_TEST(test_guest_tables)
{
    iommu_mem_t *m = iommu_mem_create();
    iommu_guest_t *g = iommu_guest_create(m, 4, 21);
    iommu_guest_set_tables_on_demand(g, true);
    iommu_pt_t pt, host;
    ck_assert_int_eq(iommu_pt_init_guest(&pt, g, 4), 0);
    ck_assert_int_eq(iommu_pt_init(&host, m, 4), 0);
    ck_assert_ptr_eq(iommu_guest_of(&pt), g);
    ck_assert_ptr_null(iommu_guest_of(&host));
    ck_assert_int_eq(iommu_pt_map(&pt, 0x40000000, 0x1000, 12, PTE_RWU), 0);
    uint64_t path[8];
    ck_assert_uint_eq(iommu_guest_table_path(&host, 0x40000000, path, 8), 0);
    ck_assert_uint_eq(iommu_guest_table_path(&pt, 1ull << 48, path, 8), 0);
    ck_assert_uint_eq(iommu_guest_table_path(&pt, 0x40000000, path, 8), 4);
    ck_assert_uint_eq(path[0], pt.root);
    /* 2 MiB chunks: the four tables are consecutive frames of one */
    for (unsigned i = 1; i < 4; i++)
        ck_assert_uint_eq(path[i], path[0] + i * 0x1000ull);
    ck_assert_uint_eq(iommu_guest_table_path(&pt, 0x40000000, path, 2), 2);
    /* a non-present entry ends the path */
    ck_assert_uint_eq(iommu_guest_table_path(&pt, 1ull << 40, path, 8), 1);
    /* On demand: not in stage 2 until backed, then once only. */
    uint64_t hpa;
    ck_assert_int_eq(iommu_guest_to_host(g, pt.root, &hpa), -EFAULT);
    ck_assert_int_eq(iommu_guest_back_table(g, pt.root), 0);
    ck_assert_int_eq(iommu_guest_to_host(g, pt.root, &hpa), 0);
    ck_assert_int_eq(iommu_guest_back_table(g, path[1]), 0);
    /* Reuse: a table given back comes back zeroed. */
    const iommu_pt_mem_ops_t *ops = pt.ops;
    uint64_t t = ops->alloc(pt.ops_ctx);
    ck_assert_uint_ne(t, 0);
    ops->write(pt.ops_ctx, t + 8, 77);
    ck_assert_uint_eq(ops->read(pt.ops_ctx, t + 8), 77);
    ck_assert_ptr_nonnull(ops->frame(pt.ops_ctx, t));
    ops->free(pt.ops_ctx, t);
    ck_assert_uint_eq(iommu_guest_alloc_table(g), t);
    ck_assert_uint_eq(ops->read(pt.ops_ctx, t + 8), 0);
    /* Outside every chunk and not in stage 2. */
    ck_assert_uint_eq(ops->read(pt.ops_ctx, 0x5000), 0);
    ops->write(pt.ops_ctx, 0x5000, 1);
    ck_assert_ptr_null(ops->frame(pt.ops_ctx, 0x5000));
    iommu_pt_destroy(&pt);
    iommu_pt_destroy(&host);
    iommu_guest_destroy(g);
    iommu_mem_destroy(m);
}
END_TEST

static Suite *paths_suite(void)
{
    Suite *s = suite_create("iommu_paths");
    TCase *tc = tcase_create("qi");
    tcase_add_loop_test(tc, test_qi_encodings, 0, 2);
    tcase_add_loop_test(tc, test_qi_bad_descriptors, 0, 2);
    tcase_add_loop_test(tc, test_qi_cfgi_all, 0, 2);
    tcase_add_test(tc, test_qi_vtd_parked_waits);
    tcase_add_test(tc, test_qi_vtd_drain_wait);
    tcase_add_test(tc, test_qi_resume_nothing);
    suite_add_tcase(s, tc);
    tc = tcase_create("unit");
    tcase_add_test(tc, test_unexpected_messages);
    tcase_add_test(tc, test_ats_exec_permission);
    tcase_add_test(tc, test_vtd_implicit_invalidation_modes);
    tcase_add_test(tc, test_smmu_unrecoverable_and_s2_fault);
    tcase_add_test(tc, test_cfg_resolve_minimums);
    tcase_add_loop_test(tc, test_create_fails_on_taken_stat, 0,
                        (int)N_OF(taken_names));
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, test_ctx_set_and_clear_edges);
    tcase_add_test(tc, test_mem_edges);
    tcase_add_test(tc, test_mem_rehash_in_place);
    tcase_add_test(tc, test_guest_argument_checks);
    tcase_add_test(tc, test_guest_tables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(paths_suite());
}
