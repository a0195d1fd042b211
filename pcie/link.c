/*
 * link.c - a PCIe link: per direction a transmitter that serialises one TLP
 * at a time at the lane rate, then a fixed flight latency:
 *     arrival = max(send time, end of the previous TLP) + serialisation
 *               + latency
 * Messages are serialised in the order of their send times. A sender may
 * hand a message over before its send time (pcie_link_send_at, to fold its
 * own processing delay into the send without an event); the result is the
 * same as sending at that time: a message handed over later with an
 * earlier send time goes first and the arrivals behind it are moved.
 * One arrival event per message; no allocation in the steady state (a ring
 * per direction that grows only at a new maximum of messages in flight).
 *
 * Defaults:
 *  - latency: 220 ns one way, derived from the pcie-bench 64 B DMA read
 *    round trip of 0.55-0.60 us with an IOTLB hit (Neugebauer et al.,
 *    SIGCOMM 2018, pcie-bench/data@b2abf2f) minus the device, IOMMU,
 *    memory and serialisation time the model charges on it, halved
 *    (a posted write is half a read: Intel TCC Tools 2021.3 Developer
 *    Guide, "Data Streams Supported"); docs/model.md.
 *  - Gen3 x8, the link of the NFP6000 used for those measurements.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcie/link.h"

const char *const pcie_link_preset_names[PCIE_LINK_NPRESETS + 1] = {
    "custom", "gen3x1", "gen3x2", "gen3x4",  "gen3x8",  "gen3x16",
    "gen4x1", "gen4x2", "gen4x4", "gen4x8",  "gen4x16", "gen5x1",
    "gen5x2", "gen5x4", "gen5x8", "gen5x16", NULL,
};

const sim_param_t pcie_link_params[] = {
    {"link", "latency", SIM_PARAM_TIME, "220", 0, 1e9, "ns",
     "one-way TLP latency device <-> root complex, excluding serialisation "
     "(pcie-bench RTT 0.575 us minus device 50, IOMMU 15, memory 60 and "
     "serialisation 14 ns, halved)",
     NULL, offsetof(pcie_link_cfg_t, latency)},
    {"link", "preset", SIM_PARAM_ENUM, "custom", 0, 0, "",
     "generation and width in one (gen3x1 .. gen5x16: 8/16/32 GT/s per lane, "
     "x1..x16); custom: link.gen and link.lanes",
     pcie_link_preset_names, offsetof(pcie_link_cfg_t, preset)},
    {"link", "gen", SIM_PARAM_UINT, "3", 1, 5, "",
     "PCIe generation (1..5: 2.5, 5, 8, 16, 32 GT/s per lane)", NULL,
     offsetof(pcie_link_cfg_t, gen)},
    {"link", "lanes", SIM_PARAM_UINT, "8", 1, 32, "lanes",
     "link width (pcie-bench NFP6000: x8)", NULL,
     offsetof(pcie_link_cfg_t, lanes)},
    {"link", "mps", SIM_PARAM_UINT, "256", 128, 4096, "bytes",
     "max payload size: writes and read completions are split into TLPs of "
     "at most this size",
     NULL, offsetof(pcie_link_cfg_t, mps)},
    {"link", "mrrs", SIM_PARAM_UINT, "512", 128, 4096, "bytes",
     "max read request size: DMA reads are split into requests of at most "
     "this size",
     NULL, offsetof(pcie_link_cfg_t, mrrs)},
};
const unsigned pcie_link_nparams =
    sizeof(pcie_link_params) / sizeof(pcie_link_params[0]);

/* ------------------------------------------------------------- presets */

/*
 * Generation and width of a preset: index 1 + 5 * (gen - 3) + log2(width)
 * for Gen3..Gen5 and widths 1, 2, 4, 8, 16.
 */
bool pcie_link_preset(unsigned preset, unsigned *gen, unsigned *lanes)
{
    if (preset == PCIE_LINK_CUSTOM || preset >= PCIE_LINK_NPRESETS)
        return false;
    *gen = 3 + (preset - 1) / 5;
    *lanes = 1u << ((preset - 1) % 5);
    return true;
}

/*
 * Default of a [link] key from the parameter table (so the defaults are
 * written in one place).
 */
static uint64_t link_default(const char *key)
{
    for (unsigned i = 0; i < pcie_link_nparams; i++)
        if (!strcmp(pcie_link_params[i].key, key))
            return strtoull(pcie_link_params[i].def, NULL, 0);
    return 0;
}

/*
 * Resolve link.preset into link.gen and link.lanes; a key set to something
 * else than its default and the preset's value is a conflict.
 */
int pcie_link_cfg_resolve(pcie_link_cfg_t *cfg, const char *section, char *err,
                          size_t errlen)
{
    const char *sec = section ? section : "link";
    unsigned gen, lanes;
    if (!pcie_link_preset(cfg->preset, &gen, &lanes))
        return 0;
    const char *name = pcie_link_preset_names[cfg->preset];
    if (cfg->gen != gen && cfg->gen != link_default("gen")) {
        snprintf(err, errlen,
                 "%s.preset = %s (Gen%u) conflicts with %s.gen = %llu; "
                 "set one or the other",
                 sec, name, gen, sec, (unsigned long long)cfg->gen);
        return -EINVAL;
    }
    if (cfg->lanes != lanes && cfg->lanes != link_default("lanes")) {
        snprintf(err, errlen,
                 "%s.preset = %s (x%u) conflicts with %s.lanes = %llu; "
                 "set one or the other",
                 sec, name, lanes, sec, (unsigned long long)cfg->lanes);
        return -EINVAL;
    }
    cfg->gen = gen;
    cfg->lanes = lanes;
    return 0;
}

/* ---------------------------------------------------------- wire bytes */

/* Framing + sequence number + LCRC around every TLP (Gen3+: 4-byte STP
 * token with the sequence number, 4-byte LCRC). */
#define TLP_FRAMING 8u
#define TLP_HDR_4DW 16u
#define TLP_HDR_3DW 12u
#define TLP_PASID_PREFIX 4u

/*
 * TLPs needed for `payload` bytes at max payload size `mps` (a TLP without
 * payload still counts one).
 */
static inline uint32_t split_tlps(uint32_t payload, uint32_t mps)
{
    if (!payload)
        return 1;
    if (!(mps & (mps - 1))) /* PCIe MPS values are powers of two */
        return (payload + mps - 1) >> __builtin_ctz(mps);
    return (payload + mps - 1) / mps;
}

/* Bytes for `payload` bytes carried in TLPs of header `hdr`, split by mps. */
static inline uint32_t split_bytes(uint32_t payload, uint32_t hdr, uint32_t mps)
{
    return payload + split_tlps(payload, mps) * (hdr + TLP_FRAMING);
}

/*
 * Wire bytes per message type: requests and messages carry a 4DW header,
 * completions a 3DW one; a PASID prefix adds 4 bytes to the requests that
 * carry it; payloads are split by MPS (PCIe r4.0 2.2).
 */
static inline uint32_t wire_bytes(const pcie_link_cfg_t *cfg,
                                  const pcie_msg_t *m)
{
    /* Bytes of the messages without payload, and whether a PASID prefix
     * applies (completions carry none). */
    static const uint8_t fixed[PCIE_MSG_TYPES + 1] = {
        [PCIE_MSG_ATS_REQ] = TLP_HDR_4DW + TLP_FRAMING,
        /* 3DW completion header + one 8-byte translation entry */
        [PCIE_MSG_ATS_CPL] = TLP_HDR_3DW + 8 + TLP_FRAMING,
        [PCIE_MSG_PAGE_REQ] = TLP_HDR_4DW + TLP_FRAMING,
        [PCIE_MSG_PRG_RESP] = TLP_HDR_4DW + TLP_FRAMING,
        [PCIE_MSG_MEM_RD] = TLP_HDR_4DW + TLP_FRAMING,
        /* MsgD: 4DW header + 8-byte untranslated range */
        [PCIE_MSG_INV_REQ] = TLP_HDR_4DW + 8 + TLP_FRAMING,
        [PCIE_MSG_INV_CPL] = TLP_HDR_4DW + TLP_FRAMING,
        [PCIE_MSG_TYPES] = TLP_HDR_4DW + TLP_FRAMING, /* unknown */
    };
    static const uint8_t prefixed[PCIE_MSG_TYPES + 1] = {
        [PCIE_MSG_ATS_REQ] = 1,  [PCIE_MSG_PAGE_REQ] = 1,
        [PCIE_MSG_PRG_RESP] = 1, [PCIE_MSG_MEM_RD] = 1,
        [PCIE_MSG_MEM_WR] = 1,   [PCIE_MSG_INV_REQ] = 1,
        [PCIE_MSG_INV_CPL] = 1,
    };
    unsigned t = m->type < PCIE_MSG_TYPES ? m->type : PCIE_MSG_TYPES;
    uint32_t prefix =
        (m->flags & PCIE_F_PASID) && prefixed[t] ? TLP_PASID_PREFIX : 0;
    if (t == PCIE_MSG_MEM_WR)
        return split_bytes(m->len, TLP_HDR_4DW + prefix, (uint32_t)cfg->mps);
    if (t == PCIE_MSG_MEM_CPL)
        return split_bytes(m->len, TLP_HDR_3DW, (uint32_t)cfg->mps);
    return fixed[t] + prefix;
}

uint32_t pcie_msg_wire_bytes(const pcie_link_cfg_t *cfg, const pcie_msg_t *m)
{
    return wire_bytes(cfg, m);
}

/*
 * TLPs of a message: writes and completions with data are split by MPS,
 * everything else is one TLP.
 */
static inline uint32_t msg_tlps(const pcie_link_cfg_t *cfg, const pcie_msg_t *m)
{
    if (m->type == PCIE_MSG_MEM_WR || m->type == PCIE_MSG_MEM_CPL)
        return split_tlps(m->len, (uint32_t)cfg->mps);
    return 1;
}

uint32_t pcie_msg_tlps(const pcie_link_cfg_t *cfg, const pcie_msg_t *m)
{
    return msg_tlps(cfg, m);
}

/* ------------------------------------------------------- serialisation */

/* The link rate as a ratio: serialising `bytes` takes
 * ceil(bytes * num / den) ps. Transfer rate per lane in MT/s and the line
 * code (PCIe 1/2: 8b/10b; PCIe 3 and later: 128b/130b):
 * ps = bytes * 8 bits * code / (lanes * MT/s * 1e6) * 1e12. A preset
 * stands for its generation and width. */
static void link_rate(const pcie_link_cfg_t *cfg, uint64_t *num, uint64_t *den)
{
    static const uint64_t mts[6] = {0, 2500, 5000, 8000, 16000, 32000};
    unsigned gen = cfg->gen >= 1 && cfg->gen <= 5 ? (unsigned)cfg->gen : 3;
    unsigned lanes = cfg->lanes ? (unsigned)cfg->lanes : 1;
    pcie_link_preset(cfg->preset, &gen, &lanes);
    uint64_t code_num = gen <= 2 ? 10 : 130; /* wire bits per ... */
    uint64_t code_den = gen <= 2 ? 8 : 128;  /* ... payload bits */
    *num = 8u * code_num * 1000000u;
    *den = lanes * mts[gen] * code_den;
}

/* ceil(bytes * num / den) without overflow for any byte count. */
static inline sim_time_t serial_ps(uint64_t bytes, uint64_t num, uint64_t den)
{
    unsigned __int128 n = (unsigned __int128)bytes * num;
    return (sim_time_t)((n + den - 1) / den);
}

/*
 * Serialisation time of `bytes` on a link of this configuration.
 */
sim_time_t pcie_link_serial_time(const pcie_link_cfg_t *cfg, uint64_t bytes)
{
    uint64_t num, den;
    link_rate(cfg, &num, &den);
    return serial_ps(bytes, num, den);
}

/* ---------------------------------------------------------------- link */

/*
 * A message handed to one direction: its send time, serialisation time and
 * the end of its serialisation, and the optional "sent" event of its
 * sender (pcie_link_send_at_notify).
 */
typedef struct link_slot {
    pcie_msg_t m;
    sim_time_t ts;  /* send time asked for */
    sim_time_t ser; /* serialisation time */
    sim_time_t end; /* serialisation ends (arrival = end + latency) */
    sim_event_fn sent;
    void *sent_opaque;
    uint64_t sent_arg;
} link_slot_t;

/*
 * One direction. Messages not yet arrived are kept in a ring in send-time
 * order; serialisation ends, and so arrivals, strictly increase along the
 * ring. One event stands for the arrival of the head (the next one is
 * scheduled when it arrives), one for the earliest end of serialisation
 * whose sender wants to know: the engine holds two events per direction,
 * however many messages are in flight.
 */
typedef struct link_dir {
    link_slot_t *ring;
    uint32_t mask; /* ring capacity - 1 (a power of two) */
    uint32_t head, n;
    uint32_t pending_sent; /* slots whose "sent" event has not run */
    uint32_t sent_scan;    /* slots [0, sent_scan) have none pending */
    bool in_sent;          /* running "sent" events (arm once, after) */
    /* Serialisation time of the last size sent per message type, cached:
     * sizes repeat. */
    uint32_t ser_bytes[PCIE_MSG_TYPES + 1];
    sim_time_t ser_ps[PCIE_MSG_TYPES + 1];
    sim_event_id_t arr_ev; /* arrival of the head (0: none) */
    sim_time_t arr_at;
    sim_event_id_t sent_ev; /* earliest pending "sent" (0: none) */
    sim_time_t sent_at;
    pcie_rx_fn rx;
    void *opaque;
    /* Counts kept here, in the hot struct, and published into the
     * statistics by pcie_link_finish_stats. */
    uint64_t n_msgs, n_tlps, n_bytes, n_busy;
    uint64_t n_type[PCIE_MSG_TYPES + 1]; /* the last: unknown types */
    sim_counter_t *msgs, *tlps, *bytes, *busy_ps;
    sim_counter_t *by_type[PCIE_MSG_TYPES];
    double *util;
} link_dir_t;

struct pcie_link {
    sim_t *sim;
    pcie_link_cfg_t cfg;
    uint64_t rate_num, rate_den; /* see link_rate() */
    uint64_t rate_recip;         /* floor((2^64 - 1) / rate_den) */
    uint64_t grows;              /* ring reallocations */
    link_dir_t dir[2];
};

#define LINK_RING_INIT 8u

/*
 * Copy a message field by field. Senders build messages on their stack
 * with narrow stores just before handing them over; a whole-struct copy
 * reads them back with wide loads, which stalls on store forwarding.
 */
static inline void msg_copy(pcie_msg_t *dst, const pcie_msg_t *src)
{
    dst->type = src->type;
    dst->flags = src->flags;
    dst->code = src->code;
    dst->perm = src->perm;
    dst->size_shift = src->size_shift;
    dst->rid = src->rid;
    dst->tag = src->tag;
    dst->pasid = src->pasid;
    dst->len = src->len;
    dst->addr = src->addr;
    dst->xaddr = src->xaddr;
    dst->cookie = src->cookie;
    dst->span = src->span;
}

/*
 * Serialisation time of `bytes` on this link: pcie_link_serial_time() with
 * the rate precomputed, dividing by multiplying with the reciprocal and
 * correcting (exact: the estimate is at most two below the quotient). A
 * message is at most a few KiB, so the numerator fits in 64 bits.
 */
static inline sim_time_t link_ser(const pcie_link_t *l, uint32_t bytes)
{
    uint64_t n = bytes * l->rate_num + l->rate_den - 1;
    uint64_t q = (uint64_t)(((unsigned __int128)n * l->rate_recip) >> 64);
    while (n - q * l->rate_den >= l->rate_den)
        q++;
    return q;
}

/* Slot at logical position i (0 = head) of a direction's ring. */
static inline link_slot_t *slot_at(link_dir_t *d, uint32_t i)
{
    return &d->ring[(d->head + i) & d->mask];
}

/*
 * The statistics of one direction, registered under "<link>.<dir>." in
 * this order, followed by one counter per message type.
 */
static const sim_stat_def_t link_dir_stat_defs[] = {
    {SIM_STAT_COUNTER, "messages", "messages sent", "messages",
     offsetof(link_dir_t, msgs)},
    {SIM_STAT_COUNTER, "tlps", "TLPs sent (payloads split by max payload size)",
     "TLPs", offsetof(link_dir_t, tlps)},
    {SIM_STAT_COUNTER, "bytes", "bytes on the wire", "bytes",
     offsetof(link_dir_t, bytes)},
    {SIM_STAT_COUNTER, "busy", "time spent serialising", "ps",
     offsetof(link_dir_t, busy_ps)},
    {SIM_STAT_SCALAR, "utilisation",
     "fraction of the simulated time spent serialising (busy / run time)",
     "fraction", offsetof(link_dir_t, util)},
};
#define LINK_DIR_NFIXED                                                        \
    (sizeof(link_dir_stat_defs) / sizeof(link_dir_stat_defs[0]))
#define LINK_DIR_NSTATS (LINK_DIR_NFIXED + PCIE_MSG_TYPES)

/*
 * Register the statistics of one direction.
 */
static int link_dir_stats(link_dir_t *d, sim_stats_t *st, const char *name,
                          const char *dirname)
{
    sim_stat_def_t defs[LINK_DIR_NSTATS];
    char names[LINK_DIR_NSTATS][160], descs[PCIE_MSG_TYPES][160];
    for (size_t i = 0; i < LINK_DIR_NFIXED; i++) {
        defs[i] = link_dir_stat_defs[i];
        snprintf(names[i], sizeof(names[i]), "%s.%s.%s", name, dirname,
                 link_dir_stat_defs[i].name);
        defs[i].name = names[i];
    }
    for (unsigned t = 0; t < PCIE_MSG_TYPES; t++) {
        size_t i = LINK_DIR_NFIXED + t;
        snprintf(names[i], sizeof(names[i]), "%s.%s.%s", name, dirname,
                 pcie_msg_name(t));
        snprintf(descs[t], sizeof(descs[t]), "%s messages sent",
                 pcie_msg_name(t));
        defs[i] = (sim_stat_def_t){
            SIM_STAT_COUNTER, names[i], descs[t], "messages",
            offsetof(link_dir_t, by_type) + t * sizeof(d->by_type[0])};
    }
    return sim_stats_register(st, defs, LINK_DIR_NSTATS, d);
}

/*
 * Create a link with an empty ring per direction.
 */
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
    l->rate_recip = UINT64_MAX / l->rate_den;
    l->dir[PCIE_UP].rx = up_rx;
    l->dir[PCIE_UP].opaque = up_opaque;
    l->dir[PCIE_DOWN].rx = down_rx;
    l->dir[PCIE_DOWN].opaque = down_opaque;
    for (unsigned k = 0; k < 2; k++) {
        size_t cap = 0;
        if (SIM_GROW(l->dir[k].ring, cap, LINK_RING_INIT, LINK_RING_INIT)) {
            pcie_link_destroy(l);
            return NULL;
        }
        l->dir[k].mask = (uint32_t)(cap - 1);
    }
    if (link_dir_stats(&l->dir[PCIE_UP], st, name, "up") ||
        link_dir_stats(&l->dir[PCIE_DOWN], st, name, "down")) {
        pcie_link_destroy(l);
        return NULL;
    }
    return l;
}

/*
 * Free a link (messages still in flight are dropped).
 */
void pcie_link_destroy(pcie_link_t *l)
{
    if (!l)
        return;
    free(l->dir[PCIE_UP].ring);
    free(l->dir[PCIE_DOWN].ring);
    free(l);
}

static void link_arrive_ev(sim_t *sim, void *opaque, uint64_t arg);
static void link_sent_ev(sim_t *sim, void *opaque, uint64_t arg);

/*
 * (Re)schedule the arrival event of a direction for its head, if it is
 * not already set for that time.
 */
static inline void arm_arrival(pcie_link_t *l, pcie_dir_t dir)
{
    link_dir_t *d = &l->dir[dir];
    sim_time_t at = sim_time_add(d->ring[d->head].end, l->cfg.latency);
    if (d->arr_ev) {
        if (d->arr_at == at)
            return;
        sim_cancel(l->sim, d->arr_ev);
    }
    d->arr_at = at;
    d->arr_ev = sim_schedule_at(l->sim, at, link_arrive_ev, l, dir);
}

/*
 * (Re)schedule the "sent" event of a direction for the earliest end of
 * serialisation among the slots still waiting for theirs. An event that
 * ends up early (the slot was pushed back) finds nothing to do and moves.
 */
static void arm_sent(pcie_link_t *l, pcie_dir_t dir)
{
    link_dir_t *d = &l->dir[dir];
    if (!d->pending_sent || d->in_sent)
        return;
    while (!slot_at(d, d->sent_scan)->sent)
        d->sent_scan++;
    sim_time_t at = slot_at(d, d->sent_scan)->end;
    if (d->sent_ev) {
        if (d->sent_at <= at)
            return;
        sim_cancel(l->sim, d->sent_ev);
    }
    d->sent_at = at;
    d->sent_ev = sim_schedule_at(l->sim, at, link_sent_ev, l, dir);
}

/*
 * Run the "sent" events of every slot whose serialisation has ended, in
 * order (a slot's callback may hand new messages to the link: they end
 * later, and earlier slots keep their places).
 */
static void link_sent(pcie_link_t *l, pcie_dir_t dir)
{
    link_dir_t *d = &l->dir[dir];
    sim_time_t now = sim_now(l->sim);
    d->sent_ev = 0;
    d->in_sent = true;
    for (uint32_t i = d->sent_scan; i < d->n && d->pending_sent; i++) {
        link_slot_t *x = slot_at(d, i);
        if (x->end > now)
            break;
        if (!x->sent)
            continue;
        sim_event_fn fn = x->sent;
        x->sent = NULL;
        d->pending_sent--;
        fn(l->sim, x->sent_opaque, x->sent_arg);
    }
    d->in_sent = false;
    arm_sent(l, dir);
}

/* End-of-serialisation event of a direction (arg). */
static void link_sent_ev(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    link_sent(opaque, (pcie_dir_t)arg);
}

/*
 * Arrival at the far end of one direction: the head of the ring arrives;
 * it is taken off the ring (and the next head's arrival scheduled) before
 * the receiver runs, which may send.
 */
static inline void link_arrive(pcie_link_t *l, pcie_dir_t dir)
{
    link_dir_t *d = &l->dir[dir];
    link_slot_t *h = &d->ring[d->head];
    if (h->sent) {
        /* Zero latency: its "sent" event is due at this same time. */
        sim_event_fn fn = h->sent;
        h->sent = NULL;
        d->pending_sent--;
        fn(l->sim, h->sent_opaque, h->sent_arg);
        h = &d->ring[d->head]; /* the ring may have grown */
    }
    pcie_msg_t m = h->m;
    d->head = (d->head + 1) & d->mask;
    d->n--;
    if (d->sent_scan)
        d->sent_scan--;
    if (!d->n)
        d->head = 0; /* empty: the next message reuses the warm first slot */
    d->arr_ev = 0;
    if (d->n)
        arm_arrival(l, dir);
    d->rx(d->opaque, &m);
}

/* Arrival event of a direction (arg). */
static void link_arrive_ev(sim_t *sim, void *opaque, uint64_t arg)
{
    (void)sim;
    link_arrive(opaque, (pcie_dir_t)arg);
}

/*
 * Double a full ring, keeping the logical order (the arrival events carry
 * no slot, so nothing else changes). Returns 0 or -ENOMEM.
 */
static int ring_grow(pcie_link_t *l, link_dir_t *d)
{
    size_t old = (size_t)d->mask + 1, cap = old;
    if (SIM_GROW(d->ring, cap, old + 1, LINK_RING_INIT))
        return -ENOMEM;
    /* Slots [0, old) kept their places; the ring was full, so the part
     * that wrapped round, [0, head), moves to just after the old end. */
    memcpy(&d->ring[old], &d->ring[0], d->head * sizeof(*d->ring));
    d->mask = (uint32_t)(cap - 1);
    l->grows++;
    return 0;
}

/*
 * The slow path of pcie_link_commit: the message at the tail has an
 * earlier send time than messages already handed to the link. It goes
 * before every message with a later send time (none of which has started:
 * their send times are in the future), and the serialisation of those is
 * pushed back; the direction's events move if their slots moved.
 */
static void link_insert(pcie_link_t *l, pcie_dir_t dir)
{
    link_dir_t *d = &l->dir[dir];
    link_slot_t n = *slot_at(d, d->n - 1);
    uint32_t k = d->n - 1;
    while (k > 0 && slot_at(d, k - 1)->ts > n.ts)
        k--;
    for (uint32_t i = d->n - 1; i > k; i--)
        *slot_at(d, i) = *slot_at(d, i - 1);
    sim_time_t prev_end = k ? slot_at(d, k - 1)->end : 0;
    *slot_at(d, k) = n;
    if (k < d->sent_scan)
        d->sent_scan = n.sent ? k : d->sent_scan + 1;
    for (uint32_t i = k; i < d->n; i++) {
        link_slot_t *x = slot_at(d, i);
        sim_time_t end =
            sim_time_add(x->ts > prev_end ? x->ts : prev_end, x->ser);
        if (i > k && end == x->end)
            break; /* this one and the ones after it keep their times */
        x->end = end;
        prev_end = end;
    }
    arm_arrival(l, dir);
    arm_sent(l, dir);
}

/*
 * The next message of the direction's ring, after the others (the ring
 * grows when full), not cleared. NULL when out of memory (logged, the run
 * stops).
 */
static inline pcie_msg_t *reserve_slot(pcie_link_t *l, pcie_dir_t dir)
{
    link_dir_t *d = &l->dir[dir];
    if (d->n > d->mask && ring_grow(l, d)) {
        sim_oom(l->sim, "link");
        return NULL;
    }
    return &slot_at(d, d->n)->m;
}

/*
 * Hand the reserved message over for sending at `when`, with an optional
 * event at the end of its serialisation: counted now, serialised after
 * every message with an earlier or equal send time.
 */
static inline void commit_slot(pcie_link_t *l, pcie_dir_t dir, sim_time_t when,
                               sim_event_fn sent, void *opaque, uint64_t arg)
{
    link_dir_t *d = &l->dir[dir];
    sim_time_t now = sim_now(l->sim);
    if (when < now)
        when = now;
    link_slot_t *s = slot_at(d, d->n);
    const pcie_msg_t *msg = &s->m;
    unsigned t = msg->type < PCIE_MSG_TYPES ? msg->type : PCIE_MSG_TYPES;
    uint32_t bytes = wire_bytes(&l->cfg, msg);
    if (bytes != d->ser_bytes[t]) {
        d->ser_bytes[t] = bytes;
        d->ser_ps[t] = link_ser(l, bytes);
    }
    sim_time_t ser = d->ser_ps[t];
    d->n_msgs++;
    d->n_tlps += msg_tlps(&l->cfg, msg);
    d->n_bytes += bytes;
    d->n_busy += ser;
    d->n_type[t]++;
    s->ts = when;
    s->ser = ser;
    s->sent = sent;
    s->sent_opaque = opaque;
    s->sent_arg = arg;
    if (sent)
        d->pending_sent++;
    link_slot_t *last = d->n ? slot_at(d, d->n - 1) : NULL;
    d->n++;
    if (last && last->ts > when) {
        link_insert(l, dir);
        return;
    }
    /* In send-time order (the usual case): append. The last message
     * delivered ended before now, so only the ring's last one matters. */
    sim_time_t start = last && last->end > when ? last->end : when;
    s->end = start + ser;
    if (!last)
        arm_arrival(l, dir);
    if (sent && (!d->sent_ev || s->end < d->sent_at))
        arm_sent(l, dir);
}

/*
 * Reserve the next message of a direction (see reserve_slot).
 */
pcie_msg_t *pcie_link_reserve(pcie_link_t *l, pcie_dir_t dir)
{
    pcie_msg_t *m = reserve_slot(l, dir);
    if (m)
        memset(m, 0, sizeof(*m));
    return m;
}

/*
 * Hand the reserved message over (see commit_slot).
 */
void pcie_link_commit(pcie_link_t *l, pcie_dir_t dir, sim_time_t when,
                      sim_event_fn sent, void *opaque, uint64_t arg)
{
    commit_slot(l, dir, when, sent, opaque, arg);
}

/*
 * Hand a message to a direction for sending at `when`, with an optional
 * event at the end of its serialisation.
 */
void pcie_link_send_at_notify(pcie_link_t *l, pcie_dir_t dir,
                              const pcie_msg_t *msg, sim_time_t when,
                              sim_event_fn sent, void *opaque, uint64_t arg)
{
    pcie_msg_t *m = reserve_slot(l, dir);
    if (!m)
        return;
    msg_copy(m, msg);
    commit_slot(l, dir, when, sent, opaque, arg);
}

/*
 * Hand a message to a direction for sending at `when`.
 */
void pcie_link_send_at(pcie_link_t *l, pcie_dir_t dir, const pcie_msg_t *msg,
                       sim_time_t when)
{
    pcie_link_send_at_notify(l, dir, msg, when, NULL, NULL, 0);
}

/*
 * Send now: pcie_link_send_at at the current time.
 */
void pcie_link_send(pcie_link_t *l, pcie_dir_t dir, const pcie_msg_t *msg)
{
    pcie_link_send_at(l, dir, msg, sim_now(l->sim));
}

/*
 * Busy time over elapsed time of one direction (serialisation already
 * handed to the link but ending after now is not counted).
 */
double pcie_link_utilisation(const pcie_link_t *l, pcie_dir_t dir)
{
    const link_dir_t *d = &l->dir[dir];
    sim_time_t now = sim_now(l->sim);
    if (!now)
        return 0;
    uint64_t busy = d->n_busy;
    /* Subtract what lies beyond now (messages still being serialised or
     * waiting to start). */
    for (uint32_t i = 0; i < d->n; i++) {
        const link_slot_t *s = &d->ring[(d->head + i) & d->mask];
        if (s->end > now) {
            sim_time_t start = s->end - s->ser;
            busy -= start >= now ? s->ser : s->end - now;
        }
    }
    return (double)busy / (double)now;
}

/*
 * Publish the counts of both directions into their statistics, and the
 * utilisation.
 */
void pcie_link_finish_stats(pcie_link_t *l)
{
    for (unsigned k = 0; k < 2; k++) {
        link_dir_t *d = &l->dir[k];
        d->msgs->value = d->n_msgs;
        d->tlps->value = d->n_tlps;
        d->bytes->value = d->n_bytes;
        d->busy_ps->value = d->n_busy;
        for (unsigned t = 0; t < PCIE_MSG_TYPES; t++)
            d->by_type[t]->value = d->n_type[t];
        *d->util = pcie_link_utilisation(l, (pcie_dir_t)k);
    }
}

/*
 * Ring reallocations so far.
 */
uint64_t pcie_link_mem_grows(const pcie_link_t *l)
{
    return l->grows;
}
