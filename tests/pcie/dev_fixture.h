/*
 * tests/pcie/dev_fixture.h - one endpoint device in front of a fake root
 * complex, shared by the device test suites.
 *
 * The fake records every message the device sends up (with its arrival
 * time) and, depending on the test:
 *  - answers Translation Requests from a small table of translations
 *    (4 KiB or larger, with a translated frame), computed when the
 *    completion is sent (ats_delay after the request arrived);
 *  - answers read requests with completions after mem_delay: a translated
 *    read always succeeds; an untranslated one (device without ATS)
 *    succeeds if the table maps the page with the needed permission, else
 *    gets UR, or is held (stall mode) until the test releases it;
 *  - answers page request groups (tracked per PRG index, with their pages)
 *    with a chosen code after a chosen delay, making the pages present;
 * Answers go back through pcie_dev_send_down at times scheduled with
 * sim_schedule. DMA completions are recorded through the device's done
 * callback.
 */
#ifndef TESTS_PCIE_DEV_FIXTURE_H
#define TESTS_PCIE_DEV_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "pcie/pcie.h"
#include "sim/sim.h"
#include "tests/test_util.h"

#define MAXMSG 8192
#define MAXPAGES 4096
#define MAXGROUP 64
#define PASID 5u
/* Translated frame of an untranslated page by default. */
#define FX_FRAME(va) (0x100000000ull + ((va)&0xfffffff000ull))

typedef struct upmsg {
    sim_time_t t;
    pcie_msg_t m;
} upmsg_t;

/* A translation of the fake table: 1 << shift bytes at va -> frame. */
typedef struct fx_page {
    uint32_t pasid;
    uint64_t va;
    uint64_t frame;
    uint8_t perm;
    uint8_t shift;
} fx_page_t;

/* A DMA end seen by the done callback. */
typedef struct fx_done {
    sim_time_t t;
    uint32_t pasid;
    uint64_t addr, len;
    bool write, ok;
} fx_done_t;

typedef struct fx {
    sim_log_t log;
    sim_t *sim;
    sim_stats_t *st;
    sim_spans_t *spans;
    pcie_dev_cfg_t dcfg;
    pcie_link_cfg_t lcfg;
    pcie_dev_t *dev;

    upmsg_t up[MAXMSG];
    unsigned nup;
    bool no_record; /* do not keep upstream messages in up[] */
    /* called for every upstream message before the fake answers it */
    void (*on_up)(struct fx *f, const pcie_msg_t *m);
    void *user;

    fx_page_t pages[MAXPAGES]; /* the fake translation table */
    unsigned npages;
    uint32_t ur_pasid; /* translation requests with it get UR */

    bool auto_ats, auto_mem;
    sim_time_t ats_delay, mem_delay;
    bool stall; /* hold untranslated reads that fault */
    pcie_msg_t held[64];
    unsigned nheld;
    int auto_prg; /* -1: the test answers page requests itself */
    bool prg_populates;
    sim_time_t prg_delay_unit; /* delay = unit * (1 + (n * 7) % 5) */

    /* page request groups awaiting a response, by PRG index */
    bool outstanding[PCIE_PRG_INDICES];
    uint64_t out_va[PCIE_PRG_INDICES][MAXGROUP];
    unsigned out_n[PCIE_PRG_INDICES]; /* requests received for the index */
    bool out_last[PCIE_PRG_INDICES];  /* the L request arrived */
    uint32_t out_pasid[PCIE_PRG_INDICES];
    unsigned n_out, max_out;           /* groups */
    unsigned pages_out, max_pages_out; /* page request messages */
    unsigned prg_seen, stop_markers;
    bool collision;

    /* messages scheduled for delivery down (a ring of MAXMSG) */
    pcie_msg_t down[MAXMSG];
    bool down_resolve[MAXMSG];  /* ATS_CPL: translate when sent */
    bool down_populate[MAXMSG]; /* PRG_RESP: make its pages present */
    bool down_busy[MAXMSG];
    unsigned ndown;

    fx_done_t done[MAXMSG]; /* the first MAXMSG DMA ends */
    unsigned ndone, nok, nfail;
    struct {
        uint32_t pasid;
        uint64_t va, len;
        bool write;
    } later[64]; /* DMAs issued by dma_at */
    unsigned nlater;
    unsigned stops_done;
    sim_time_t t_stop_done;
    uint32_t stop_done_pasid;
} fx_t;

/* A fixture with the parameter-table defaults and the test choices
 * (proc 50 ns, inv_proc 200 ns, link 100 ns Gen3 x8, fake delays). */
fx_t *fx_new(void);
/* Build the device (after the test adjusted f->dcfg / f->lcfg). */
void fx_start(fx_t *f, bool with_spans);
void fx_free(fx_t *f);

/* Translation table of the fake root complex. */
void page_set(fx_t *f, uint32_t pasid, uint64_t va, uint8_t perm);
void page_map(fx_t *f, uint32_t pasid, uint64_t va, unsigned shift,
              uint64_t frame, uint8_t perm);
void page_unset(fx_t *f, uint32_t pasid, uint64_t va);
bool page_lookup(const fx_t *f, uint32_t pasid, uint64_t va,
                 const fx_page_t **out);

/* Send m down to the device after `delay`. */
void send_down_after(fx_t *f, sim_time_t delay, const pcie_msg_t *m);
/* Answer the page request group with index prgi (with the PASID prefix,
 * its pages made present first when populate). */
void respond(fx_t *f, uint16_t prgi, uint8_t code, bool populate,
             sim_time_t delay);
/* Same with explicit flags and PASID. */
void respond_ex(fx_t *f, uint16_t prgi, uint8_t code, bool populate,
                sim_time_t delay, uint8_t flags, uint32_t pasid);
/* A pcie_stop_done_fn recording into the fixture (opaque = f). */
void fx_on_stop(void *opaque, pcie_dev_t *dev, uint32_t pasid);
/* Issue a DMA at absolute time t (from an event). */
void dma_at(fx_t *f, sim_time_t t, uint32_t pasid, uint64_t va, uint64_t len,
            bool write);
/* Release the held (stalled) reads with status code. */
void release_held(fx_t *f, uint8_t code, sim_time_t delay);

uint64_t ctr(fx_t *f, const char *name);
sim_hist_t *hist(fx_t *f, const char *name);
unsigned count_up(const fx_t *f, unsigned type);
/* The k-th upstream message of a type (k from 0), or NULL. */
const upmsg_t *nth_up(const fx_t *f, unsigned type, unsigned k);
void dma(fx_t *f, uint64_t va, uint64_t len, bool write);
void dma_pasid(fx_t *f, uint32_t pasid, uint64_t va, uint64_t len, bool write);
void run(fx_t *f);

/* One-way time of a message of the fixture's link (serialisation of its
 * wire bytes + latency), and its serialisation alone. */
sim_time_t hop(const fx_t *f, unsigned type, uint8_t flags, uint32_t len);
sim_time_t ser(const fx_t *f, unsigned type, uint8_t flags, uint32_t len);
/* The fixed processing delay of the device. */
sim_time_t proc(const fx_t *f);

#endif
