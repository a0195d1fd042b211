/*
 * tests/pcie/test_rc.c - the root complex's RID -> device table: attach,
 * lookup, a duplicate RID, an unknown RID (warned, dropped), and messages
 * sent down reaching the device with that RID and no other.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/pcie.h"
#include "pcie/rc.h"
#include "sim/sim.h"

#define NDEV 3

/* A message a device sent up, and which device's port received it. */
typedef struct up_seen {
    unsigned port;
    pcie_msg_t m;
} up_seen_t;

typedef struct rcfx rcfx_t;

/* The upstream end of one device's link. */
typedef struct up_port {
    rcfx_t *f;
    unsigned id;
} up_port_t;

struct rcfx {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    pcie_dev_cfg_t dcfg;
    pcie_link_cfg_t lcfg;
    pcie_dev_t *dev[NDEV];
    up_port_t port[NDEV];
    up_seen_t up[16];
    unsigned nup;
    char warning[256];
    unsigned warnings;
};

static void log_sink(void *opaque, sim_log_level_t level, const char *msg)
{
    rcfx_t *f = opaque;
    if (level == SIM_LOG_WARN) {
        f->warnings++;
        snprintf(f->warning, sizeof(f->warning), "%s", msg);
    }
}

static void up_rx(void *opaque, const pcie_msg_t *m)
{
    const up_port_t *p = opaque;
    rcfx_t *f = p->f;
    ck_assert_uint_lt(f->nup, 16);
    f->up[f->nup].port = p->id;
    f->up[f->nup].m = *m;
    f->nup++;
}

/* NDEV devices (RIDs rid_base + i), each with its own upstream port. */
static rcfx_t *fx_make(uint16_t rid_base)
{
    rcfx_t *f = calloc(1, sizeof(*f));
    ck_assert_ptr_nonnull(f);
    sim_config_t *cfg = sim_config_create(NULL);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(
        sim_config_register(cfg, pcie_dev_params, pcie_dev_nparams, &f->dcfg),
        0);
    ck_assert_int_eq(
        sim_config_register(cfg, pcie_link_params, pcie_link_nparams, &f->lcfg),
        0);
    sim_config_destroy(cfg);
    f->dcfg.count = NDEV;
    f->dcfg.rid_base = rid_base;
    char err[256];
    ck_assert_int_eq(pcie_link_cfg_resolve(&f->lcfg, NULL, err, sizeof(err)),
                     0);
    sim_log_init(&f->log, SIM_LOG_WARN, log_sink, f);
    ck_assert_int_eq(pcie_dev_cfg_check(&f->dcfg, NULL, &f->log), 0);
    f->sim = sim_create(&f->log);
    f->st = sim_stats_create();
    ck_assert_ptr_nonnull(f->sim);
    ck_assert_ptr_nonnull(f->st);
    for (unsigned i = 0; i < NDEV; i++) {
        f->port[i] = (up_port_t){.f = f, .id = i};
        pcie_dev_port_t port = {.up_rx = up_rx, .up_opaque = &f->port[i]};
        f->dev[i] =
            pcie_dev_create(f->sim, f->st, i, (uint16_t)(f->dcfg.rid_base + i),
                            &f->dcfg, &f->lcfg, &port, NULL, 1);
        ck_assert_ptr_nonnull(f->dev[i]);
    }
    return f;
}

static void fx_free(rcfx_t *f)
{
    for (unsigned i = 0; i < NDEV; i++)
        pcie_dev_destroy(f->dev[i]);
    sim_stats_destroy(f->st);
    sim_destroy(f->sim);
    free(f);
}

START_TEST(test_attach_lookup)
{
    rcfx_t *f = fx_make(0x100);
    pcie_rc_t *rc = pcie_rc_create(f->sim);
    ck_assert_ptr_nonnull(rc);
    /* Nothing attached: every RID is empty, on any bus. */
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x0000));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x0100));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0xffff));
    /* Devices on two buses, including the first and last RID. */
    ck_assert_int_eq(pcie_rc_attach(rc, 0x0100, f->dev[0]), 0);
    ck_assert_int_eq(pcie_rc_attach(rc, 0x01ff, f->dev[1]), 0);
    ck_assert_int_eq(pcie_rc_attach(rc, 0xffff, f->dev[2]), 0);
    ck_assert_ptr_eq(pcie_rc_dev(rc, 0x0100), f->dev[0]);
    ck_assert_ptr_eq(pcie_rc_dev(rc, 0x01ff), f->dev[1]);
    ck_assert_ptr_eq(pcie_rc_dev(rc, 0xffff), f->dev[2]);
    /* Neighbours on the same bus, the same devfn on another bus. */
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x0101));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x01fe));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x0200));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x00ff));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0xfeff));
    ck_assert_ptr_null(pcie_rc_dev(rc, 0x0000));
    pcie_rc_destroy(rc);
    pcie_rc_destroy(NULL);
    fx_free(f);
}
END_TEST

START_TEST(test_duplicate_rid)
{
    rcfx_t *f = fx_make(0x100);
    pcie_rc_t *rc = pcie_rc_create(f->sim);
    ck_assert_ptr_nonnull(rc);
    ck_assert_int_eq(pcie_rc_attach(rc, 0x0342, f->dev[0]), 0);
    ck_assert_int_eq(pcie_rc_attach(rc, 0x0342, f->dev[1]), -EEXIST);
    ck_assert_int_eq(pcie_rc_attach(rc, 0x0342, f->dev[0]), -EEXIST);
    /* The first attachment stands. */
    ck_assert_ptr_eq(pcie_rc_dev(rc, 0x0342), f->dev[0]);
    /* The same device may sit at a second RID (several functions). */
    ck_assert_int_eq(pcie_rc_attach(rc, 0x0343, f->dev[0]), 0);
    ck_assert_ptr_eq(pcie_rc_dev(rc, 0x0343), f->dev[0]);
    pcie_rc_destroy(rc);
    fx_free(f);
}
END_TEST

START_TEST(test_unknown_rid_warns)
{
    rcfx_t *f = fx_make(0x100);
    pcie_rc_t *rc = pcie_rc_create(f->sim);
    ck_assert_ptr_nonnull(rc);
    ck_assert_int_eq(pcie_rc_attach(rc, 0x0100, f->dev[0]), 0);
    pcie_msg_t inv = {.type = PCIE_MSG_INV_REQ, .tag = 1};
    /* On a bus with a device, and on a bus with none. */
    pcie_rc_send_down(rc, 0x0101, &inv);
    ck_assert_uint_eq(f->warnings, 1);
    ck_assert_str_eq(f->warning, "root complex: no device with RID 0101");
    pcie_rc_send_down(rc, 0x2a05, &inv);
    ck_assert_uint_eq(f->warnings, 2);
    ck_assert_str_eq(f->warning, "root complex: no device with RID 2a05");
    sim_run(f->sim, SIM_TIME_MAX);
    /* Dropped: no device received it, so none answered. */
    ck_assert_uint_eq(f->nup, 0);
    ck_assert_uint_eq(f->log.errors, 0);
    pcie_rc_destroy(rc);
    fx_free(f);
}
END_TEST

/* An invalidation sent down by RID is answered (Invalidate Completion) by
 * the device with that RID, through its own port, and by no other. */
START_TEST(test_send_reaches_the_device)
{
    rcfx_t *f = fx_make(0x100);
    pcie_rc_t *rc = pcie_rc_create(f->sim);
    ck_assert_ptr_nonnull(rc);
    for (unsigned i = 0; i < NDEV; i++)
        ck_assert_int_eq(pcie_rc_attach(rc, pcie_dev_rid(f->dev[i]), f->dev[i]),
                         0);
    const unsigned order[] = {2, 0};
    for (unsigned k = 0; k < 2; k++) {
        pcie_msg_t inv = {.type = PCIE_MSG_INV_REQ, .tag = (uint16_t)(10 + k)};
        pcie_rc_send_down(rc, (uint16_t)(0x100 + order[k]), &inv);
        sim_run(f->sim, SIM_TIME_MAX);
        ck_assert_uint_eq(f->nup, k + 1);
        const up_seen_t *u = &f->up[k];
        ck_assert_uint_eq(u->port, order[k]);
        ck_assert_uint_eq(u->m.type, PCIE_MSG_INV_CPL);
        ck_assert_uint_eq(u->m.rid, 0x100 + order[k]);
        ck_assert_uint_eq(u->m.tag, 10 + k);
    }
    ck_assert_uint_eq(f->warnings, 0);
    pcie_rc_destroy(rc);
    fx_free(f);
}
END_TEST

static Suite *rc_suite(void)
{
    Suite *s = suite_create("pcie_rc");
    TCase *tc = tcase_create("rc");
    tcase_add_test(tc, test_attach_lookup);
    tcase_add_test(tc, test_duplicate_rid);
    tcase_add_test(tc, test_unknown_rid_warns);
    tcase_add_test(tc, test_send_reaches_the_device);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(rc_suite());
}
