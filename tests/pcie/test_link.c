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
#include <errno.h>
#include <stdio.h>
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
    ck_assert_uint_eq(pcie_link_serial_time(&g31, 128),
                      128 * 8 * 130 * 125 / 128);
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
        ck_assert_uint_eq(wire(&c, hdr_only[i], P, 0), HDR4 + FRAMING + PREFIX);
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
    pcie_link_t *l =
        pcie_link_create(sim, st, "lnk", &c, on_rx, &up, on_rx, &dn);
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
    /* Stats (published by pcie_link_finish_stats). */
    pcie_link_finish_stats(l);
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
    /* Messages, and TLPs: the 1024-byte write is 4 TLPs at MPS 256, the
     * 4096-byte completion 16. */
    sim_counter_t *ms = sim_stats_find_counter(st, "lnk.up.messages");
    ck_assert_ptr_nonnull(ms);
    ck_assert_uint_eq(ms->value, 4);
    ck_assert_uint_eq(tl->value, 1024 / 256 + 3);
    ck_assert_uint_eq(dt->value, 4096 / 256);
    ck_assert_uint_eq(pr->value, 2);
    ck_assert_uint_eq(by->value, pcie_msg_wire_bytes(&c, &a) +
                                     pcie_msg_wire_bytes(&c, &b) +
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
    pcie_link_t *l =
        pcie_link_create(sim, st, "l", &c, on_rx_copy, &r, on_rx_copy, &r);
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
    const char *keys[] = {"latency", "preset", "gen", "lanes", "mps", "mrrs"};
    for (unsigned k = 0; k < 6; k++) {
        bool found = false;
        for (unsigned i = 0; i < pcie_link_nparams; i++)
            if (!strcmp(pcie_link_params[i].key, keys[k]) &&
                !strcmp(pcie_link_params[i].section, "link"))
                found = true;
        ck_assert_msg(found, "link.%s missing", keys[k]);
    }
}
END_TEST

/* ------------------------------------------------------------ presets */

/* The presets stand for Gen3/Gen4/Gen5 at x1..x16, in name order. */
START_TEST(test_presets)
{
    static const unsigned widths[] = {1, 2, 4, 8, 16};
    ck_assert_str_eq(pcie_link_preset_names[PCIE_LINK_CUSTOM], "custom");
    ck_assert_ptr_null(pcie_link_preset_names[PCIE_LINK_NPRESETS]);
    unsigned g, w;
    ck_assert(!pcie_link_preset(PCIE_LINK_CUSTOM, &g, &w));
    ck_assert(!pcie_link_preset(PCIE_LINK_NPRESETS, &g, &w));
    for (unsigned p = 1; p < PCIE_LINK_NPRESETS; p++) {
        unsigned gen = 3 + (p - 1) / 5, lanes = widths[(p - 1) % 5];
        char name[16];
        snprintf(name, sizeof(name), "gen%ux%u", gen, lanes);
        ck_assert_str_eq(pcie_link_preset_names[p], name);
        ck_assert(pcie_link_preset(p, &g, &w));
        ck_assert_uint_eq(g, gen);
        ck_assert_uint_eq(w, lanes);
        /* A preset serialises like the same gen/lanes given directly, and
         * wins over the gen/lanes fields. */
        pcie_link_cfg_t a = link_cfg(gen, lanes), b = link_cfg(1, 1);
        b.preset = p;
        ck_assert_uint_eq(pcie_link_serial_time(&a, 4416),
                          pcie_link_serial_time(&b, 4416));
        /* Resolving fills gen and lanes (from their defaults, 3 and 8). */
        pcie_link_cfg_t c = link_cfg(3, 8);
        char err[160];
        c.preset = p;
        ck_assert_int_eq(pcie_link_cfg_resolve(&c, NULL, err, sizeof(err)), 0);
        ck_assert_uint_eq(c.gen, gen);
        ck_assert_uint_eq(c.lanes, lanes);
        /* Resolved values read back the same (a dumped config). */
        ck_assert_int_eq(pcie_link_cfg_resolve(&c, NULL, err, sizeof(err)), 0);
    }
    /* Custom changes nothing; a key set to another value conflicts. */
    char err[160];
    pcie_link_cfg_t c = link_cfg(2, 4);
    ck_assert_int_eq(pcie_link_cfg_resolve(&c, NULL, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.gen, 2);
    c.preset = 10; /* gen4x16 */
    ck_assert_str_eq(pcie_link_preset_names[10], "gen4x16");
    ck_assert_int_eq(pcie_link_cfg_resolve(&c, NULL, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "link.gen"));
    c = link_cfg(3, 4);
    c.preset = 10;
    ck_assert_int_eq(pcie_link_cfg_resolve(&c, NULL, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "link.lanes"));
}
END_TEST

/*
 * Serialisation of real TLPs, by hand. Bits on the wire = bytes * 8 *
 * 130/128 (Gen3+); rate = lanes * GT/s.
 *  - ATS Translation Request with PASID prefix, Gen3 x1: 16 + 4 + 8 = 28 B
 *    = 227.5 bits / 8 Gb/s = 28.4375 ns -> 28438 ps;
 *  - read completion of 64 B, Gen3 x8: 64 + 12 + 8 = 84 B = 682.5 bits /
 *    64 Gb/s = 10.6640625 ns -> 10665 ps;
 *  - 256 B posted write with PASID prefix, Gen5 x16: 256 + 16 + 4 + 8 =
 *    284 B = 2307.5 bits / 512 Gb/s = 4.5068359375 ns -> 4507 ps;
 *  - 4 KiB completion at MPS 256, Gen4 x16: 16 TLPs, 4096 + 16 * 20 =
 *    4416 B = 35880 bits / 256 Gb/s = 140.15625 ns -> 140157 ps;
 *  - the same 4 KiB on Gen4 x4: 560.625 ns -> 560625 ps;
 *  - 64 B write on Gen1 x1 (8b/10b): 64 + 16 + 8 = 88 B = 880 bits /
 *    2.5 Gb/s = 352 ns.
 */
START_TEST(test_serial_tlp_hand_computed)
{
    pcie_link_cfg_t c = link_cfg(3, 1);
    pcie_msg_t m = {.type = PCIE_MSG_ATS_REQ, .flags = PCIE_F_PASID};
    ck_assert_uint_eq(pcie_msg_wire_bytes(&c, &m), 28);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 28), 28438);
    c = link_cfg(3, 8);
    m = (pcie_msg_t){.type = PCIE_MSG_MEM_CPL, .len = 64};
    ck_assert_uint_eq(pcie_msg_wire_bytes(&c, &m), 84);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 84), 10665);
    c = link_cfg(1, 1);
    c.preset = 15; /* gen5x16 */
    m = (pcie_msg_t){
        .type = PCIE_MSG_MEM_WR, .flags = PCIE_F_PASID, .len = 256};
    ck_assert_uint_eq(pcie_msg_wire_bytes(&c, &m), 284);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 284), 4507);
    c.preset = 10; /* gen4x16 */
    m = (pcie_msg_t){.type = PCIE_MSG_MEM_CPL, .len = 4096};
    ck_assert_uint_eq(pcie_msg_wire_bytes(&c, &m), 4416);
    ck_assert_uint_eq(pcie_msg_tlps(&c, &m), 16);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 4416), 140157);
    c.preset = 8; /* gen4x4 */
    ck_assert_uint_eq(pcie_link_serial_time(&c, 4416), 560625);
    c = link_cfg(1, 1);
    m = (pcie_msg_t){.type = PCIE_MSG_MEM_WR, .len = 64};
    ck_assert_uint_eq(pcie_msg_wire_bytes(&c, &m), 88);
    ck_assert_uint_eq(pcie_link_serial_time(&c, 88), 352000);
}
END_TEST

/* TLPs per message: payloads split by MPS, everything else one TLP. */
START_TEST(test_msg_tlps)
{
    pcie_link_cfg_t c = link_cfg(3, 8);
    const uint32_t mpss[] = {128, 256, 384, 4096};
    const uint32_t lens[] = {0, 1, 128, 129, 256, 1000, 4096};
    for (unsigned k = 0; k < 4; k++) {
        c.mps = mpss[k];
        for (unsigned i = 0; i < 7; i++) {
            uint32_t n = lens[i] ? (lens[i] + mpss[k] - 1) / mpss[k] : 1;
            pcie_msg_t m = {.type = PCIE_MSG_MEM_WR, .len = lens[i]};
            ck_assert_uint_eq(pcie_msg_tlps(&c, &m), n);
            m.type = PCIE_MSG_MEM_CPL;
            ck_assert_uint_eq(pcie_msg_tlps(&c, &m), n);
            m.type = PCIE_MSG_MEM_RD;
            ck_assert_uint_eq(pcie_msg_tlps(&c, &m), 1);
        }
    }
}
END_TEST

/* ------------------------------------------------- send ahead (send_at) */

#define NRAND 400

typedef struct arrivals {
    sim_t *sim;
    unsigned n, nsent;
    sim_time_t t[NRAND];
    uint16_t tag[NRAND];
    sim_time_t sent_t[NRAND]; /* by tag */
} arrivals_t;

static void on_arrival(void *opaque, const pcie_msg_t *m)
{
    arrivals_t *a = opaque;
    ck_assert_uint_lt(a->n, NRAND);
    a->t[a->n] = sim_now(a->sim);
    a->tag[a->n] = m->tag;
    a->n++;
}

static void on_sent(sim_t *sim, void *opaque, uint64_t arg)
{
    arrivals_t *a = opaque;
    a->sent_t[arg] = sim_now(sim);
    a->nsent++;
}

/* Link A gets each message at its send time (an event each); link B gets
 * it ahead, at a random earlier moment and in another order. */
typedef struct plan {
    pcie_link_t *a, *b;
    arrivals_t *ra, *rb;
    pcie_msg_t msg[NRAND];
    sim_time_t when[NRAND];
} plan_t;

static void ev_send_a(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    plan_t *p = opaque;
    pcie_link_send_at_notify(p->a, PCIE_UP, &p->msg[arg], p->when[arg], on_sent,
                             p->ra, arg);
}

static void ev_send_b(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    plan_t *p = opaque;
    pcie_link_send_at_notify(p->b, PCIE_UP, &p->msg[arg], p->when[arg], on_sent,
                             p->rb, arg);
}

/*
 * Randomized: handing messages over ahead of their send time, in any
 * order, gives exactly the arrivals (and end-of-serialisation events) of
 * sending each at its time: the serialisation order is that of the send
 * times (ties: order of hand-over, which both links share here).
 */
START_TEST(test_send_at_matches_sending_on_time)
{
    sim_t *sim = sim_create(NULL);
    sim_stats_t *st = sim_stats_create();
    sim_rng_t rng;
    sim_rng_seed(&rng, 77 + (uint64_t)_i, "test_send_at");
    static arrivals_t ra, rb;
    static plan_t p;
    memset(&ra, 0, sizeof(ra));
    memset(&rb, 0, sizeof(rb));
    memset(&p, 0, sizeof(p));
    ra.sim = rb.sim = sim;
    pcie_link_cfg_t c = link_cfg(_i == 0 ? 1 : 3, _i == 0 ? 1 : 4);
    c.latency = 100 * SIM_NS;
    p.a = pcie_link_create(sim, st, "a", &c, on_arrival, &ra, on_arrival, &ra);
    p.b = pcie_link_create(sim, st, "b", &c, on_arrival, &rb, on_arrival, &rb);
    p.ra = &ra;
    p.rb = &rb;
    ck_assert_ptr_nonnull(p.a);
    ck_assert_ptr_nonnull(p.b);
    static const unsigned types[] = {PCIE_MSG_ATS_REQ, PCIE_MSG_MEM_RD,
                                     PCIE_MSG_MEM_WR, PCIE_MSG_PAGE_REQ};
    for (unsigned i = 0; i < NRAND; i++) {
        /* Send times on a coarse grid, so that many are equal. */
        p.when[i] = 1000 * SIM_NS + sim_rng_below(&rng, 400) * 50 * SIM_NS;
        p.msg[i] = mk(types[sim_rng_below(&rng, 4)], (uint16_t)i,
                      (uint32_t)(1 + sim_rng_below(&rng, 2000)));
        /* Hand-over: at most 2 us ahead. The send events of A are
         * scheduled in hand-over order so that equal send times keep the
         * same order on both links. */
        sim_time_t ahead = sim_rng_below(&rng, 2 * SIM_US);
        sim_time_t h = p.when[i] > ahead ? p.when[i] - ahead : 0;
        p.msg[i].addr = h; /* remembered for the ordering below */
    }
    /* Order the plan by hand-over time (stable), then schedule. */
    for (unsigned i = 1; i < NRAND; i++) {
        for (unsigned k = i; k > 0 && p.msg[k - 1].addr > p.msg[k].addr; k--) {
            pcie_msg_t tm = p.msg[k];
            p.msg[k] = p.msg[k - 1];
            p.msg[k - 1] = tm;
            sim_time_t tw = p.when[k];
            p.when[k] = p.when[k - 1];
            p.when[k - 1] = tw;
        }
    }
    for (unsigned i = 0; i < NRAND; i++) {
        p.msg[i].tag = (uint16_t)i;
        ck_assert_uint_ne(sim_schedule_at(sim, p.msg[i].addr, ev_send_b, &p, i),
                          0);
    }
    /* A: at the send time itself, in hand-over order among equal times. */
    unsigned order[NRAND];
    for (unsigned i = 0; i < NRAND; i++)
        order[i] = i;
    for (unsigned i = 1; i < NRAND; i++)
        for (unsigned k = i; k > 0 && p.when[order[k - 1]] > p.when[order[k]];
             k--) {
            unsigned t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    /* Scheduled after B's events, so at an equal time B's hand-overs run
     * first; A's send events at equal times run in hand-over order. */
    for (unsigned i = 0; i < NRAND; i++)
        ck_assert_uint_ne(
            sim_schedule_at(sim, p.when[order[i]], ev_send_a, &p, order[i]), 0);
    sim_run(sim, SIM_TIME_MAX);
    ck_assert_uint_eq(ra.n, NRAND);
    ck_assert_uint_eq(rb.n, NRAND);
    ck_assert_uint_eq(ra.nsent, NRAND);
    ck_assert_uint_eq(rb.nsent, NRAND);
    for (unsigned i = 0; i < NRAND; i++) {
        ck_assert_uint_eq(ra.tag[i], rb.tag[i]);
        ck_assert_uint_eq(ra.t[i], rb.t[i]);
        /* the end of serialisation is one latency before the arrival */
        ck_assert_uint_eq(ra.sent_t[ra.tag[i]], ra.t[i] - c.latency);
        ck_assert_uint_eq(rb.sent_t[rb.tag[i]], rb.t[i] - c.latency);
    }
    /* The arrival order is the send-time order. */
    for (unsigned i = 1; i < NRAND; i++)
        ck_assert_uint_le(p.when[ra.tag[i - 1]], p.when[ra.tag[i]]);
    pcie_link_destroy(p.a);
    pcie_link_destroy(p.b);
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* The link's own serialisation (rate precomputed) gives the formula's
 * time for every generation, width and message size: one write at a time
 * on an idle link arrives serialisation + latency after it was sent. */
START_TEST(test_link_ser_matches_formula)
{
    static const unsigned widths[] = {1, 2, 4, 8, 16};
    sim_t *sim = sim_create(NULL);
    sim_stats_t *st = sim_stats_create();
    rec_t r = {.sim = sim};
    side_t up = {&r, PCIE_UP};
    for (unsigned gen = 1; gen <= 5; gen++) {
        for (unsigned w = 0; w < 5; w++) {
            pcie_link_cfg_t c = link_cfg(gen, widths[w]);
            c.mps = 4096;
            char name[32];
            snprintf(name, sizeof(name), "f%u_%u", gen, w);
            pcie_link_t *l =
                pcie_link_create(sim, st, name, &c, on_rx, &up, on_rx, &up);
            ck_assert_ptr_nonnull(l);
            for (uint32_t len = 1; len <= 4096; len += 37) {
                r.n = 0;
                pcie_msg_t m = mk(PCIE_MSG_MEM_WR, 1, len);
                sim_time_t t0 = sim_now(sim);
                pcie_link_send(l, PCIE_UP, &m);
                sim_run(sim, SIM_TIME_MAX);
                ck_assert_uint_eq(r.n, 1);
                ck_assert_uint_eq(
                    r.t[0],
                    t0 + c.latency +
                        pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &m)));
            }
            pcie_link_destroy(l);
        }
    }
    sim_stats_destroy(st);
    sim_destroy(sim);
}
END_TEST

/* Utilisation = serialisation time / elapsed time, per direction. */
START_TEST(test_utilisation)
{
    sim_t *sim = sim_create(NULL);
    sim_stats_t *st = sim_stats_create();
    rec_t r = {.sim = sim};
    side_t up = {&r, PCIE_UP}, dn = {&r, PCIE_DOWN};
    pcie_link_cfg_t c = link_cfg(1, 1);
    c.latency = 0;
    pcie_link_t *l = pcie_link_create(sim, st, "u", &c, on_rx, &up, on_rx, &dn);
    sender_t s = {.link = l};
    pcie_msg_t w = mk(PCIE_MSG_MEM_WR, 1, 64);
    send_at(sim, &s, 0, PCIE_UP, &w);
    send_at(sim, &s, 0, PCIE_UP, &w);
    sim_run(sim, SIM_TIME_MAX);
    sim_time_t busy =
        2 * pcie_link_serial_time(&c, pcie_msg_wire_bytes(&c, &w));
    pcie_msg_t d = mk(PCIE_MSG_MEM_RD, 2, 64); /* sent down at the end */
    send_at(sim, &s, 4 * busy, PCIE_DOWN, &d);
    sim_run(sim, 4 * busy); /* time advances to 4 x busy */
    ck_assert_uint_eq(sim_now(sim), 4 * busy);
    ck_assert(pcie_link_utilisation(l, PCIE_UP) == 0.25);
    /* The down message is being serialised: nothing of it counts yet. */
    ck_assert(pcie_link_utilisation(l, PCIE_DOWN) == 0.0);
    pcie_link_finish_stats(l);
    double *u = sim_stats_find_scalar(st, "u.up.utilisation");
    ck_assert_ptr_nonnull(u);
    ck_assert(*u == 0.25);
    pcie_link_destroy(l);
    sim_stats_destroy(st);
    sim_destroy(sim);
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
    tcase_add_test(tc, test_presets);
    tcase_add_test(tc, test_serial_tlp_hand_computed);
    tcase_add_test(tc, test_msg_tlps);
    suite_add_tcase(s, tc);
    tc = tcase_create("delivery");
    tcase_add_test(tc, test_link_fifo_timing);
    tcase_add_test(tc, test_link_burst_and_fields);
    tcase_add_test(tc, test_link_params_table);
    tcase_add_loop_test(tc, test_send_at_matches_sending_on_time, 0, 3);
    tcase_add_test(tc, test_utilisation);
    tcase_add_test(tc, test_link_ser_matches_formula);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return iommusim_run_suite(link_suite());
}
