/*
 * link.c - a PCIe link: per direction a transmitter that serialises one TLP
 * at a time at the lane rate, then a fixed flight latency.
 *
 * Defaults (shared/reference/latency-calibration.md):
 *  - latency: 250 ns one way, derived from the pcie-bench 64 B DMA read
 *    round trip of 0.55-0.60 us with an IOTLB hit (Neugebauer et al.,
 *    SIGCOMM 2018, pcie-bench/data@b2abf2f) minus the 60 ns host-warm
 *    memory access, halved (Intel TCC rule: a posted write is half a read).
 *  - Gen3 x8, the link of the NFP6000 used for those measurements.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/pcie.h"

const sim_param_t pcie_link_params[] = {
    {"link", "latency", SIM_PARAM_TIME, "250", 0, 1e9, "ns",
     "one-way TLP latency device <-> root complex, excluding serialisation "
     "(pcie-bench RTT 0.55-0.60 us minus 60 ns memory, halved)",
     NULL, offsetof(pcie_link_cfg_t, latency)},
    {"link", "gen", SIM_PARAM_UINT, "3", 1, 5, "", "PCIe generation (1..5)",
     NULL, offsetof(pcie_link_cfg_t, gen)},
    {"link", "lanes", SIM_PARAM_UINT, "8", 1, 32, "lanes",
     "link width (pcie-bench NFP6000: x8)", NULL,
     offsetof(pcie_link_cfg_t, lanes)},
    {"link", "mps", SIM_PARAM_UINT, "256", 128, 4096, "bytes",
     "max payload size: writes and read completions are split into TLPs of "
     "at most this size", NULL, offsetof(pcie_link_cfg_t, mps)},
    {"link", "mrrs", SIM_PARAM_UINT, "512", 128, 4096, "bytes",
     "max read request size: DMA reads are split into requests of at most "
     "this size", NULL, offsetof(pcie_link_cfg_t, mrrs)},
};
const unsigned pcie_link_nparams =
    sizeof(pcie_link_params) / sizeof(pcie_link_params[0]);

static const char *const msg_names[PCIE_MSG_TYPES] = {
    "ats_req", "ats_cpl", "page_req", "prg_resp", "mem_rd",
    "mem_wr",  "mem_cpl", "inv_req",  "inv_cpl",
};

const char *pcie_msg_name(unsigned type)
{
    return type < PCIE_MSG_TYPES ? msg_names[type] : "?";
}

/* Framing + sequence number + LCRC around every TLP (Gen3+: 4-byte STP
 * token with the sequence number, 4-byte LCRC). */
#define TLP_FRAMING 8u
#define TLP_HDR_4DW 16u
#define TLP_HDR_3DW 12u
#define TLP_PASID_PREFIX 4u

/* Bytes for `payload` bytes carried in TLPs of header `hdr`, split by mps. */
static uint32_t split_bytes(uint32_t payload, uint32_t hdr, uint32_t mps)
{
    uint32_t n = payload ? (payload + mps - 1) / mps : 1;
    return payload + n * (hdr + TLP_FRAMING);
}

uint32_t pcie_msg_wire_bytes(const pcie_link_cfg_t *cfg, const pcie_msg_t *m)
{
    uint32_t prefix = (m->flags & PCIE_F_PASID) ? TLP_PASID_PREFIX : 0;
    switch (m->type) {
    case PCIE_MSG_ATS_REQ:
    case PCIE_MSG_MEM_RD:
    case PCIE_MSG_PAGE_REQ:
    case PCIE_MSG_PRG_RESP:
    case PCIE_MSG_INV_CPL:
        return TLP_HDR_4DW + TLP_FRAMING + prefix;
    case PCIE_MSG_ATS_CPL:
        /* 3DW completion header + one 8-byte translation entry. */
        return TLP_HDR_3DW + 8 + TLP_FRAMING;
    case PCIE_MSG_INV_REQ:
        /* MsgD: 4DW header + 8-byte untranslated range. */
        return TLP_HDR_4DW + 8 + TLP_FRAMING + prefix;
    case PCIE_MSG_MEM_WR:
        return split_bytes(m->len, TLP_HDR_4DW + prefix, cfg->mps);
    case PCIE_MSG_MEM_CPL:
        return split_bytes(m->len, TLP_HDR_3DW, cfg->mps);
    default:
        return TLP_HDR_4DW + TLP_FRAMING;
    }
}

/* The link rate as a ratio: serialising `bytes` takes
 * ceil(bytes * num / den) ps. Transfer rate per lane in MT/s and the line
 * code (PCIe 1/2: 8b/10b; PCIe 3 and later: 128b/130b):
 * ps = bytes * 8 bits * code / (lanes * MT/s * 1e6) * 1e12. */
static void link_rate(const pcie_link_cfg_t *cfg, uint64_t *num, uint64_t *den)
{
    static const uint64_t mts[6] = {0, 2500, 5000, 8000, 16000, 32000};
    unsigned gen = cfg->gen >= 1 && cfg->gen <= 5 ? (unsigned)cfg->gen : 3;
    uint64_t code_num = gen <= 2 ? 10 : 130; /* wire bits per ... */
    uint64_t code_den = gen <= 2 ? 8 : 128;  /* ... payload bits */
    *num = 8u * code_num * 1000000u;
    *den = (cfg->lanes ? cfg->lanes : 1) * mts[gen] * code_den;
}

sim_time_t pcie_link_serial_time(const pcie_link_cfg_t *cfg, uint64_t bytes)
{
    uint64_t num, den;
    link_rate(cfg, &num, &den);
    unsigned __int128 n = (unsigned __int128)bytes * num;
    return (sim_time_t)((n + den - 1) / den);
}

typedef struct link_dir {
    sim_time_t busy_until;
    pcie_rx_fn rx;
    void *opaque;
    sim_counter_t *tlps, *bytes;
    sim_counter_t *busy_ps;
    sim_counter_t *by_type[PCIE_MSG_TYPES];
} link_dir_t;

struct pcie_link {
    sim_t *sim;
    pcie_link_cfg_t cfg;
    uint64_t rate_num, rate_den; /* see link_rate() */
    link_dir_t dir[2];
    sim_pool_t pool; /* in-flight pcie_msg_t copies */
};

static int link_dir_stats(link_dir_t *d, sim_stats_t *st, const char *name,
                          const char *dirname)
{
    char n[160], desc[160];
    snprintf(n, sizeof(n), "%s.%s.tlps", name, dirname);
    d->tlps = sim_stats_counter(st, n, "messages sent", "messages");
    snprintf(n, sizeof(n), "%s.%s.bytes", name, dirname);
    d->bytes = sim_stats_counter(st, n, "bytes on the wire", "bytes");
    snprintf(n, sizeof(n), "%s.%s.busy", name, dirname);
    d->busy_ps = sim_stats_counter(st, n, "time spent serialising", "ps");
    if (!d->tlps || !d->bytes || !d->busy_ps)
        return -ENOMEM;
    for (unsigned t = 0; t < PCIE_MSG_TYPES; t++) {
        snprintf(n, sizeof(n), "%s.%s.%s", name, dirname, msg_names[t]);
        snprintf(desc, sizeof(desc), "%s messages sent", msg_names[t]);
        d->by_type[t] = sim_stats_counter(st, n, desc, "messages");
        if (!d->by_type[t])
            return -ENOMEM;
    }
    return 0;
}

pcie_link_t *pcie_link_create(sim_t *sim, sim_stats_t *st, const char *name,
                              const pcie_link_cfg_t *cfg, pcie_rx_fn up_rx,
                              void *up_opaque, pcie_rx_fn down_rx,
                              void *down_opaque)
{
    pcie_link_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->sim = sim;
    l->cfg = *cfg;
    link_rate(cfg, &l->rate_num, &l->rate_den);
    l->dir[PCIE_UP].rx = up_rx;
    l->dir[PCIE_UP].opaque = up_opaque;
    l->dir[PCIE_DOWN].rx = down_rx;
    l->dir[PCIE_DOWN].opaque = down_opaque;
    sim_pool_init(&l->pool, sizeof(pcie_msg_t), 256);
    if (link_dir_stats(&l->dir[PCIE_UP], st, name, "up") ||
        link_dir_stats(&l->dir[PCIE_DOWN], st, name, "down")) {
        pcie_link_destroy(l);
        return NULL;
    }
    return l;
}

void pcie_link_destroy(pcie_link_t *l)
{
    if (!l)
        return;
    sim_pool_fini(&l->pool);
    free(l);
}

/* Arrival of a message at the far end of one direction: hand it to the
 * receiver, then return the in-flight copy to the pool. */
static void link_arrive(pcie_link_t *l, pcie_dir_t dir, uint64_t arg)
{
    pcie_msg_t *m = (pcie_msg_t *)(uintptr_t)arg;
    l->dir[dir].rx(l->dir[dir].opaque, m);
    sim_pool_put(&l->pool, m);
}

static void link_arrive_up(sim_t *sim, void *opaque, uint64_t arg)
{
    link_arrive(opaque, PCIE_UP, arg);
}

static void link_arrive_down(sim_t *sim, void *opaque, uint64_t arg)
{
    link_arrive(opaque, PCIE_DOWN, arg);
}

void pcie_link_send(pcie_link_t *l, pcie_dir_t dir, const pcie_msg_t *msg)
{
    link_dir_t *d = &l->dir[dir];
    pcie_msg_t *m = sim_pool_get(&l->pool);
    if (!m) {
        sim_logf(sim_log(l->sim), SIM_LOG_ERROR,
                 "link: out of memory for an in-flight message");
        sim_stop(l->sim);
        return;
    }
    *m = *msg;
    sim_time_t now = sim_now(l->sim);
    uint32_t bytes = pcie_msg_wire_bytes(&l->cfg, msg);
    /* Same as pcie_link_serial_time(); a TLP is at most a few KiB, so the
     * product fits in 64 bits. */
    sim_time_t ser = (bytes * l->rate_num + l->rate_den - 1) / l->rate_den;
    sim_time_t start = d->busy_until > now ? d->busy_until : now;
    d->busy_until = start + ser;
    d->tlps->value++;
    d->bytes->value += bytes;
    d->busy_ps->value += ser;
    if (msg->type < PCIE_MSG_TYPES)
        d->by_type[msg->type]->value++;
    sim_schedule_at(l->sim, d->busy_until + l->cfg.latency,
                    dir == PCIE_UP ? link_arrive_up : link_arrive_down, l,
                    (uint64_t)(uintptr_t)m);
}
