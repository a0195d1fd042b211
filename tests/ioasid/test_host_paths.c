/*
 * tests/ioasid/test_host_paths.c - the host driver's and the host mm's
 * rarer paths (ioasid/host.c, mm.c, vma.c): domain id bookkeeping and
 * binding errors on a host of its own, and native address spaces whose
 * mappings are cut, bound twice or unbound while work is pending, on the
 * platform.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioasid/host.h"
#include "ioasid/mm.h"
#include "iommu/iommu.h"

#include "tests/check_run.h"
#include "tests/platform_fixture.h"

/* ------------------------------------------- a host on its own IOMMU */

typedef struct hx {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    iommu_cfg_t icfg;
    ioasid_host_cfg_t hcfg;
    iommu_t *u;
    ioasid_host_t *h;
} hx_t;

/* An IOMMU and its host driver from the parameter tables' defaults (as
 * test_host_driver's fixture, without a device). */
static hx_t *hx_new(void)
{
    hx_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    sim_log_init(&f->log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *sc = sim_config_create(&f->log);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(
        sim_config_register(sc, iommu_params, iommu_nparams, &f->icfg), 0);
    ck_assert_int_eq(sim_config_register(sc, ioasid_host_params,
                                         ioasid_host_nparams, &f->hcfg),
                     0);
    sim_config_destroy(sc);
    f->sim = sim_create(&f->log);
    f->st = sim_stats_create();
    ck_assert_ptr_nonnull(f->sim);
    ck_assert_ptr_nonnull(f->st);
    f->u = iommu_create(f->sim, f->st, &f->icfg, 1);
    ck_assert_ptr_nonnull(f->u);
    f->h = ioasid_host_create(f->sim, f->st, &f->hcfg, f->u, NULL, 1);
    ck_assert_ptr_nonnull(f->h);
    return f;
}

static void hx_free(hx_t *f)
{
    ioasid_host_destroy(f->h);
    iommu_destroy(f->u);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

/* Domain ids (VT-d DID, SMMUv3 ASID) are handed out from 1, 0 being
 * reserved (ioasid/host.h: ioasid_host_alloc_domain), and a freed id is
 * reused first (Linux frees the DID / ASID with the domain:
 * intel/iommu.c domain_detach_iommu -> ida_free); freeing 0 or an id
 * never handed out changes nothing. */
START_TEST(test_domain_ids)
{
    hx_t *f = hx_new();
    ck_assert_uint_eq(ioasid_host_domains_used(f->h), 0);
    int a = ioasid_host_alloc_domain(f->h);
    int b = ioasid_host_alloc_domain(f->h);
    ck_assert_int_eq(a, 1);
    ck_assert_int_eq(b, 2);
    ck_assert_uint_eq(ioasid_host_domains_used(f->h), 2);
    ioasid_host_free_domain(f->h, 0);
    ioasid_host_free_domain(f->h, 77);
    ck_assert_uint_eq(ioasid_host_domains_used(f->h), 2);
    ioasid_host_free_domain(f->h, (uint16_t)a);
    ck_assert_uint_eq(ioasid_host_domains_used(f->h), 1);
    ck_assert_int_eq(ioasid_host_alloc_domain(f->h), a);
    ck_assert_uint_eq(ioasid_host_domains_used(f->h), 2);
    hx_free(f);
}
END_TEST

/* Unbinding what is not bound is -ENOENT (Linux iommu.c:
 * iommu_detach_device_pasid finds no domain to detach; the model reports
 * it), and a bound address space is found by its (RID,
 * PASID) only. Binding the same (RID, PASID) twice keeps one binding. */
START_TEST(test_bind_lookup_unbind)
{
    hx_t *f = hx_new();
    ioasid_mm_t *mm = ioasid_mm_create(f->h);
    ck_assert_ptr_nonnull(mm);
    ck_assert_uint_eq(ioasid_host_domains_used(f->h), 1);
    ck_assert_int_eq(ioasid_host_unbind(f->h, 0x100, 5, NULL, NULL), -ENOENT);
    ck_assert_int_eq(ioasid_mm_unbind(mm, 0x100, 5, NULL, NULL), -ENOENT);
    ck_assert_int_eq(ioasid_mm_bind(mm, 0x100, 5), 0);
    ck_assert_int_eq(ioasid_mm_bind(mm, 0x100, 5), 0);
    ck_assert_ptr_eq(ioasid_mm_lookup(f->h, 0x100, 5), mm);
    ck_assert_ptr_null(ioasid_mm_lookup(f->h, 0x100, 6));
    ck_assert_ptr_null(ioasid_mm_lookup(f->h, 0x200, 5));
    hx_free(f);
}
END_TEST

/* ---------------------------------------------- native, on the platform */

/* An unmap of the middle of a mapping leaves two mappings (Linux
 * mm/mmap.c: do_vmi_munmap splits the VMA): the pages on both sides stay
 * present (no fault), a DMA to the hole is answered Invalid (no VMA:
 * iommu-sva.c iommu_sva_handle_mm) and fails. */
START_TEST(test_unmap_hole)
{
    pfx_t *h = pfx_new((const char *[]){NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 16384, PERM_RW, true),
        runmap(1 * US, 0, 1, BASE + 4096, 8192),
        rdma(100 * US, 0, 1, BASE, 64, false),
        rdma(110 * US, 0, 1, BASE + 12288, 64, true),
        rdma(120 * US, 0, 1, BASE + 4096, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "host.unmap.count"), 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 2);
    ck_assert_uint_eq(ctr(h, "device0.dmas_failed"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.bad_access"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 0);
    pfx_free(h);
}
END_TEST

/* Two unmaps of one address space pending together (LIFO list of pending
 * unmaps, mm.c unmap_done): both complete, each measured once. */
START_TEST(test_two_unmaps_pending)
{
    pfx_t *h = pfx_new((const char *[]){NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 16384, PERM_RW, true),
        runmap(1 * US, 0, 1, BASE, 4096),
        runmap(1 * US, 0, 1, BASE + 8192, 4096),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "host.unmap.count"), 2);
    ck_assert_uint_eq(hist(h, "host.unmap.latency")->count, 2);
    pfx_free(h);
}
END_TEST

/* A detach while an unmap's invalidation is pending: the address space is
 * freed only after both (mm.c mm_release: dead and not busy); a later map
 * of the PASID binds a new, empty one whose page is present again. */
START_TEST(test_detach_with_unmap_pending)
{
    pfx_t *h = pfx_new((const char *[]){NULL});
    const trace_record_t recs[] = {
        rmap(0, 0, 1, BASE, 8192, PERM_RW, true),
        runmap(1 * US, 0, 1, BASE, 4096),
        rdetach(1 * US, 0, 1),
        rmap(200 * US, 0, 1, BASE, 4096, TRACE_PERM_R, true),
        rdma(300 * US, 0, 1, BASE, 64, false),
    };
    ck_assert_int_eq(pfx_run(h, recs, N_OF(recs)), PLATFORM_OK);
    ck_assert_uint_eq(ctr(h, "host.unbinds"), 1);
    ck_assert_uint_eq(hist(h, "host.unmap.latency")->count, 1);
    ck_assert_uint_eq(ctr(h, "device0.dmas_done"), 1);
    ck_assert_uint_eq(ctr(h, "host.mm.minor_faults"), 0);
    pfx_free(h);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("host_paths");
    TCase *host = tcase_create("host");
    tcase_add_test(host, test_domain_ids);
    tcase_add_test(host, test_bind_lookup_unbind);
    suite_add_tcase(s, host);
    TCase *mm = tcase_create("mm");
    tcase_add_test(mm, test_unmap_hole);
    tcase_add_test(mm, test_two_unmaps_pending);
    tcase_add_test(mm, test_detach_with_unmap_pending);
    suite_add_tcase(s, mm);
    return s;
}

int main(void)
{
    return iommusim_run_suite(suite());
}
