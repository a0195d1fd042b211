/*
 * tests/pcie/test_link.c - the PCIe link model: serialisation time from
 * generation, lane count and line code; bytes on the wire per message type;
 * per-direction FIFO delivery at max(now, busy_until) + serialisation +
 * latency.
 *
 * Serialisation (PCIe base spec: 2.5/5/8/16/32 GT/s per lane; Gen1/2 use
 * 8b/10b, Gen3 and later 128b/130b):
 *     ps = ceil(bytes * 8 * code_num / code_den / (lanes * GT/s) * 1e3)
 * Wire bytes (pcie/link.c): every TLP carries 8 bytes of framing (STP token
 * with sequence number + LCRC); requests and messages have a 4DW (16-byte)
 * header, completions a 3DW (12-byte) one; a PASID TLP prefix adds 4 bytes;
 * a translation completion carries one 8-byte entry and an invalidate
 * request an 8-byte range; payloads are split into TLPs of at most MPS
 * bytes, each with its own header and framing.
 */
#include <check.h>

#include "tests/check_run.h"
#include <stdlib.h>
#include <string.h>

#include "pcie/pcie.h"
#include "sim/sim.h"

static pcie_link_cfg_t link_cfg(unsigned gen, unsigned lanes)
{
    pcie_link_cfg_t c = {.latency = 250 * SIM_NS,
                         .gen = gen,
                         .lanes = lanes,
                         .mps = 256,
                         .mrrs = 512};
    return c;
}

/* ----------------------------------------------------- serialisation */

START_TEST(test_serial_hand_computed)
{
    pcie_link_cfg_t c;
    /* Gen3 x8, 28 bytes: 224 bits * 130/128 = 227.5 wire bits over
     * 8 lanes x 8 GT/s = 64 Gb/s -> 3.5546875 ns -> 3555 ps (rounded up). */
    c = link_cfg(3, 8);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 28), 3555);
    /* Gen3 x8, 256 bytes: 2048 * 130/128 = 2080 bits / 64 -> 32.5 ns. */
    ck_assert_uint_eq(pcie_link_serial_time(&c, 256), 32500);
    /* Gen1 x1 (8b/10b), 100 bytes: 800 * 10/8 = 1000 bits / 2.5 Gb/s =
     * 400 ns exactly. */
    c = link_cfg(1, 1);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 100), 400000);
    /* Gen1 x1, 1 byte: 10 bits / 2.5 Gb/s = 4 ns. */
    ck_assert_uint_eq(pcie_link_serial_time(&c, 1), 4000);
    /* Gen2 x4 (8b/10b), 1 byte: 10 bits / 20 Gb/s = 0.5 ns. */
    c = link_cfg(2, 4);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 1), 500);
    /* Gen4 x2, 64 bytes: 512 * 130/128 = 520 bits / 32 Gb/s = 16.25 ns. */
    c = link_cfg(4, 2);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 64), 16250);
    /* Gen5 x16, 4096 bytes: 32768 * 130/128 = 33280 bits / 512 Gb/s =
     * 65 ns. */
    c = link_cfg(5, 16);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 4096), 65000);
    /* Gen5 x16, 1 byte: 8.125 bits / 512 Gb/s = 15.869... ps -> 16. */
    ck_assert_uint_eq(pcie_link_serial_time(&c, 1), 16);
    /* Gen3 x1, 1 byte: 8.125 bits / 8 Gb/s = 1015.625 ps -> 1016. */
    c = link_cfg(3, 1);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 1), 1016);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 0), 0);
}
END_TEST

/* The general formula, in exact integer arithmetic, over every
 * generation, width and a range of sizes. */
START_TEST(test_serial_formula)
{
    static const uint64_t mts[] = {0, 2500, 5000, 8000, 16000, 32000};
    static const unsigned widths[] = {1, 2, 4, 8, 16};
    for (unsigned gen = 1; gen <= 5; gen++) {
        uint64_t num = gen <= 2 ? 10 : 130, den = gen <= 2 ? 8 : 128;
        for (unsigned w = 0; w < 5; w++) {
            pcie_link_cfg_t c = link_cfg(gen, widths[w]);
            sim_time_t prev = 0;
            for (uint64_t bytes = 0; bytes <= 4200; bytes += 7) {
                /* bits on the wire * 1e12 / (lanes * MT/s * 1e6) */
                uint64_t n = bytes * 8 * num * 1000000;
                uint64_t d = widths[w] * mts[gen] * den;
                sim_time_t expect = (n + d - 1) / d;
                sim_time_t got = pcie_link_serial_time(&c, bytes);
                ck_assert_uint_eq(got, expect);
                ck_assert_uint_ge(got, prev);
                prev = got;
            }
        }
    }
    /* Twice the lanes, half the time (for a size that divides exactly). */
    pcie_link_cfg_t a = link_cfg(3, 4), b = link_cfg(3, 8);
    ck_assert_uint_eq(pcie_link_serial_time(&a, 1024),
                      2 * pcie_link_serial_time(&b, 1024));
    /* Gen4 is twice Gen3 at the same width (same 128b/130b code). */
    pcie_link_cfg_t g3 = link_cfg(3, 8), g4 = link_cfg(4, 8);
    ck_assert_uint_eq(pcie_link_serial_time(&g3, 1024),
                      2 * pcie_link_serial_time(&g4, 1024));
    /* Gen2 vs Gen3 at 5 vs 8 GT/s: 8b/10b costs 25%, 128b/130b 1.5625%. */
    pcie_link_cfg_t g2 = link_cfg(2, 1), g31 = link_cfg(3, 1);
    ck_assert_uint_eq(pcie_link_serial_time(&g2, 128), 128 * 8 * 10 * 200 / 8);
    ck_assert_uint_eq(pcie_link_serial_time(&g31, 128), 128 * 8 * 130 * 125 / 128);
}
END_TEST

/* --------------------------------------------------------- wire bytes */

#define FRAMING 8u
#define HDR4 16u
#define HDR3 12u
#define PREFIX 4u

static uint32_t wire(const pcie_link_cfg_t *c, unsigned type, uint8_t flags,
                     uint32_t len)
{
    pcie_msg_t m = {0};
    m.type = (uint8_t)type;
    m.flags = flags;
    m.len = len;
    return pcie_msg_wire_bytes(c, &m);
}

/* Payload split into MPS-sized TLPs, each with header + framing. */
static uint32_t split(uint32_t len, uint32_t hdr, uint32_t mps)
{
    uint32_t tlps = len ? (len + mps - 1) / mps : 1;
    return len + tlps * (hdr + FRAMING);
}

START_TEST(test_wire_bytes_per_type)
{
    pcie_link_cfg_t c = link_cfg(3, 8);
    const uint8_t P = PCIE_F_PASID;
    /* Header-only requests and messages: 4DW header + framing (+ prefix). */
    const unsigned hdr_only[] = {PCIE_MSG_ATS_REQ, PCIE_MSG_MEM_RD,
                                 PCIE_MSG_PAGE_REQ, PCIE_MSG_PRG_RESP,
                                 PCIE_MSG_INV_CPL};
    for (unsigned i = 0; i < 5; i++) {
        ck_assert_uint_eq(wire(&c, hdr_only[i], 0, 0), HDR4 + FRAMING);
        ck_assert_uint_eq(wire(&c, hdr_only[i], P, 0),
                          HDR4 + FRAMING + PREFIX);
        /* A read request's length asks for data; it carries none. */
        ck_assert_uint_eq(wire(&c, hdr_only[i], P, 512),
                          HDR4 + FRAMING + PREFIX);
    }
    ck_assert_uint_eq(wire(&c, PCIE_MSG_ATS_REQ, P, 0), 28);
    /* Translation completion: 3DW header + one 8-byte entry; no prefix. */
    ck_assert_uint_eq(wire(&c, PCIE_MSG_ATS_CPL, 0, 0), HDR3 + 8 + FRAMING);
    ck_assert_uint_eq(wire(&c, PCIE_MSG_ATS_CPL, P, 0), 28);
    /* Invalidate request: 4DW header + 8-byte range (+ prefix). */
    ck_assert_uint_eq(wire(&c, PCIE_MSG_INV_REQ, 0, 0), HDR4 + 8 + FRAMING);
    ck_assert_uint_eq(wire(&c, PCIE_MSG_INV_REQ, P, 0),
                      HDR4 + 8 + FRAMING + PREFIX);
    /* Memory write: 4DW header (+ prefix) per MPS chunk. */
    const uint32_t lens[] = {0, 1, 64, 255, 256, 257, 1000, 4096};
    const uint32_t mpss[] = {128, 256, 512, 4096};
    for (unsigned k = 0; k < 4; k++) {
        c.mps = mpss[k];
        for (unsigned i = 0; i < 8; i++) {
            ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_WR, 0, lens[i]),
                              split(lens[i], HDR4, mpss[k]));
            ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_WR, P, lens[i]),
                              split(lens[i], HDR4 + PREFIX, mpss[k]));
            /* Completion with data: 3DW header per chunk, no prefix. */
            ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_CPL, 0, lens[i]),
                              split(lens[i], HDR3, mpss[k]));
            ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_CPL, P, lens[i]),
                              split(lens[i], HDR3, mpss[k]));
        }
    }
    /* Spelled out: 1000 bytes at MPS 256 is 4 TLPs. */
    c.mps = 256;
    ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_WR, P, 1000), 1000 + 4 * 28);
    ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_CPL, 0, 64), 84);
    c.mps = 128;
    ck_assert_uint_eq(wire(&c, PCIE_MSG_MEM_CPL, 0, 4096), 4096 + 32 * 20);
}
END_TEST

START_TEST(test_msg_names)
{
    ck_assert_str_eq(pcie_msg_name(PCIE_MSG_ATS_REQ), "ats_req");
    ck_assert_str_eq(pcie_msg_name(PCIE_MSG_PAGE_REQ), "page_req");
    ck_assert_str_eq(pcie_msg_name(PCIE_MSG_INV_CPL), "inv_cpl");
    ck_assert_str_eq(pcie_msg_name(PCIE_MSG_TYPES), "?");
}
END_TEST

/* ------------------------------------------------------------ delivery */

#define MAXREC 64

typedef struct rec {
    sim_t *sim;
    unsigned n;
    sim_time_t t[MAXREC];
    uint16_t tag[MAXREC];
    pcie_dir_t dir[MAXREC];
} rec_t;

typedef struct side {
    rec_t *r;
    pcie_dir_t dir;
} side_t;

static void on_rx(void *opaque, const pcie_msg_t *m)
{
    side_t *s = opaque;
    rec_t *r = s->r;
    ck_assert_uint_lt(r->n, MAXREC);
    r->t[r->n] = sim_now(r->sim);
    r->tag[r->n] = m->tag;
    r->dir[r->n] = s->dir;
    r->n++;
}

typedef struct sender {
    pcie_link_t *link;
    pcie_msg_t msg[MAXREC];
    pcie_dir_t dir[MAXREC];
    unsigned n;
} sender_t;

static void ev_send(sim_t *sim, void *opaque, uint64_t arg)
{
    sender_t *s = opaque;
    pcie_link_send(s->link, s->dir[arg], &s->msg[arg]);
}

/* Send msg in dir at absolute time t. */
static void send_at(sim_t *sim, sender_t *s, sim_time_t t, pcie_dir_t dir,
                    const pcie_msg_t *m)
{
    s->msg[s->n] = *m;
    s->dir[s->n] = dir;
    ck_assert_uint_ne(sim_schedule_at(sim, t, ev_send, s, s->n), 0);
    s->n++;
}

static pcie_msg_t mk(unsigned type, uint16_t tag, uint32_t len)
{
    pcie_msg_t m = {0};
    m.type = (uint8_t)type;
    m.flags = PCIE_F_PASID;
    m.tag = tag;
    m.len = len;
    return m;
}

START_TEST(test_link_fifo_timing)
{
    sim_t *sim = sim_create(NULL);
    sim_stats_t *st = sim_stats_create();
    rec_t r = {.sim = sim};
    side_t up = {&r, PCIE_UP}, dn = {&r, PCIE_DOWN};
    pcie_link_cfg_t c = link_cfg(3, 8);
    c.latency = 200 * SIM_NS;
    pcie_link_t *l = pcie_link_create(sim, st, "lnk", &c, on_rx, &up, on_rx,
                                      &dn);
    ck_assert_ptr_nonnull(l);
    sender_t s = {.link = l};
    /* Two back-to-back messages up at t0: the second waits for the first
     * to be serialised; then an idle gap; a message down at t0 is not
     * delayed by the up direction. */
    sim_time_t t0 = 1000 * SIM_NS;
    pcie_msg_t a = mk(PCIE_MSG_MEM_WR, 1, 1024);
    pcie_msg_t b = mk(PCIE_MSG_ATS_REQ, 2, 0);
    pcie_msg_t d = mk(PCIE_MSG_MEM_CPL, 3, 4096);
    send_at(sim, &s, t0, PCIE_UP, &a);
    send_at(sim, &s, t0, PCIE_UP, &b);
    send_at(sim, &s, t0, PCIE_DOWN, &d);
    sim_time_t ta = pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &a));
    sim_time_t tb = pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &b));
    sim_time_t td = pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &d));
    /* A third message up, sent while the link is still busy with a and b
     * (but after a finished), then one after the link went idle. */
    sim_time_t t3 = t0 + ta + 1;
    pcie_msg_t e = mk(PCIE_MSG_PAGE_REQ, 4, 0);
    send_at(sim, &s, t3, PCIE_UP, &e);
    sim_time_t te = pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &e));
    sim_time_t t4 = t0 + 10 * SIM_US;
    pcie_msg_t g = mk(PCIE_MSG_PAGE_REQ, 5, 0);
    send_at(sim, &s, t4, PCIE_UP, &g);
    sim_run(sim, SIM_TIME_MAX);

    ck_assert_uint_eq(r.n, 5);
    /* Find each by tag and check its arrival. */
    sim_time_t arrive[6] = {0};
    for (unsigned i = 0; i < r.n; i++) {
        arrive[r.tag[i]] = r.t[i];
        ck_assert_uint_eq(r.dir[i], r.tag[i] == 3 ? PCIE_DOWN : PCIE_UP);
    }
    ck_assert_uint_eq(arrive[1], t0 + ta + c.latency);
    ck_assert_uint_eq(arrive[2], t0 + ta + tb + c.latency);
    ck_assert_uint_eq(arrive[3], t0 + td + c.latency);
    /* e queued behind b: starts at max(t3, t0 + ta + tb). */
    sim_time_t busy = t0 + ta + tb;
    ck_assert_uint_eq(arrive[4], (t3 > busy ? t3 : busy) + te + c.latency);
    ck_assert_uint_eq(arrive[5], t4 + te + c.latency);
    /* FIFO per direction: up messages arrive in send order. */
    unsigned last = 0;
    for (unsigned i = 0; i < r.n; i++) {
        if (r.dir[i] != PCIE_UP)
            continue;
        ck_assert_uint_gt(r.tag[i], last);
        last = r.tag[i];
    }
    /* Stats. */
    sim_counter_t *tl = sim_stats_find_counter(st, "lnk.up.tlps");
    sim_counter_t *by = sim_stats_find_counter(st, "lnk.up.bytes");
    sim_counter_t *bz = sim_stats_find_counter(st, "lnk.up.busy");
    sim_counter_t *pr = sim_stats_find_counter(st, "lnk.up.page_req");
    sim_counter_t *dt = sim_stats_find_counter(st, "lnk.down.tlps");
    ck_assert_ptr_nonnull(tl);
    ck_assert_ptr_nonnull(by);
    ck_assert_ptr_nonnull(bz);
    ck_assert_ptr_nonnull(pr);
    ck_assert_ptr_nonnull(dt);
    ck_assert_uint_eq(tl->value, 4);
    ck_assert_uint_eq(dt->value, 1);
    ck_assert_uint_eq(pr->value, 2);
    ck_assert_uint_eq(by->value,
                      pcie_msg_wire_bytes(&c, &a) + pcie_msg_wire_bytes(&c, &b) +
                          2 * pcie_msg_wire_bytes(&c, &e));
    ck_assert_uint_eq(bz->value, ta + tb + 2 * te);
    pcie_link_destroy(l);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* Many messages sent at once arrive one serialisation apart, in order,
 * and the message fields come through unchanged. */
static pcie_msg_t g_seen[MAXREC];
static unsigned g_nseen;

static void on_rx_copy(void *opaque, const pcie_msg_t *m)
{
    rec_t *r = opaque;
    r->t[r->n++] = sim_now(r->sim);
    g_seen[g_nseen++] = *m;
}

START_TEST(test_link_burst_and_fields)
{
    sim_t *sim = sim_create(NULL);
    sim_stats_t *st = sim_stats_create();
    rec_t r = {.sim = sim};
    pcie_link_cfg_t c = link_cfg(1, 1); /* slow: serialisation dominates */
    c.latency = 0;
    pcie_link_t *l = pcie_link_create(sim, st, "l", &c, on_rx_copy, &r,
                                      on_rx_copy, &r);
    g_nseen = 0;
    for (unsigned i = 0; i < 20; i++) {
        pcie_msg_t m = mk(PCIE_MSG_MEM_WR, (uint16_t)i, 64 * (i + 1));
        m.rid = 0x1234;
        m.pasid = 0xabcde;
        m.addr = 0x1000ull * i + 0x7f0000000000ull;
        m.cookie = &r + i;
        pcie_link_send(l, PCIE_UP, &m);
    }
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(r.n, 20);
    sim_time_t t = 0;
    for (unsigned i = 0; i < 20; i++) {
        pcie_msg_t m = mk(PCIE_MSG_MEM_WR, (uint16_t)i, 64 * (i + 1));
        t += pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &m));
        ck_assert_uint_eq(r.t[i], t);
        ck_assert_uint_eq(g_seen[i].tag, i);
        ck_assert_uint_eq(g_seen[i].len, 64 * (i + 1));
        ck_assert_uint_eq(g_seen[i].rid, 0x1234);
        ck_assert_uint_eq(g_seen[i].pasid, 0xabcde);
        ck_assert_uint_eq(g_seen[i].addr, 0x1000ull * i + 0x7f0000000000ull);
        ck_assert_ptr_eq(g_seen[i].cookie, &r + i);
    }
    pcie_link_destroy(l);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

START_TEST(test_link_params_table)
{
    /* The [link] keys exist with their documented defaults. */
    const char *keys[] = {"latency", "gen", "lanes", "mps", "mrrs"};
    for (unsigned k = 0; k < 5; k++) {
        bool found = false;
        for (unsigned i = 0; i < pcie_link_nparams; i++)
            if (!strcmp(pcie_link_params[i].key, keys[k]) &&
                !strcmp(pcie_link_params[i].section, "link"))
                found = true;
        ck_assert_msg(found, "link.%s missing", keys[k]);
    }
}
END_TEST

static Suite *link_suite(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("serial");
    tcase_add_test(tc, test_serial_hand_computed);
    tcase_add_test(tc, test_serial_formula);
    tcase_add_test(tc, test_wire_bytes_per_type);
    tcase_add_test(tc, test_msg_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("delivery");
    tcase_add_test(tc, test_link_fifo_timing);
    tcase_add_test(tc, test_link_burst_and_fields);
    tcase_add_test(tc, test_link_params_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(link_suite());
}
