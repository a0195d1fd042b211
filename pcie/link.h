/*
 * pcie/link.h - the link model: per direction a fixed latency plus the
 * serialisation time of each TLP from its size, the lane count and the
 * generation, with presets gen3x1 .. gen5x16.
 */
#ifndef PCIE_LINK_H
#define PCIE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcie/msg.h"
#include "sim/sim.h"

/* ----------------------------------------------------------------- link */

typedef enum { PCIE_UP = 0, PCIE_DOWN = 1 } pcie_dir_t;

/* link.preset values: PCIE_LINK_CUSTOM uses link.gen and link.lanes; the
 * others are Gen3, Gen4 and Gen5 at x1, x2, x4, x8 and x16, named "gen3x1"
 * .. "gen5x16" in that order. */
#define PCIE_LINK_CUSTOM 0u
#define PCIE_LINK_NPRESETS 16u

typedef struct pcie_link_cfg {
    sim_time_t latency; /* one-way fixed latency incl. root-port queueing */
    uint64_t gen;       /* 1..5 */
    uint64_t lanes;     /* 1, 2, 4, 8, 16 (32 accepted) */
    uint64_t mps;       /* max payload size, bytes */
    uint64_t mrrs;      /* max read request size, bytes */
    unsigned preset;    /* PCIE_LINK_CUSTOM or a preset index */
} pcie_link_cfg_t;

/* Names of the presets, PCIE_LINK_NPRESETS entries then NULL ("custom",
 * "gen3x1", ..., "gen5x16"); the enum values of link.preset. */
extern const char *const pcie_link_preset_names[];

/* Generation and width a preset stands for (false for PCIE_LINK_CUSTOM or
 * an unknown index). */
bool pcie_link_preset(unsigned preset, unsigned *gen, unsigned *lanes);

/*
 * Resolve a preset into cfg->gen and cfg->lanes. A gen or lanes that
 * differs both from its default (3, 8) and from the preset's value is a
 * conflict: returns -EINVAL with a message naming the keys in err, as
 * keys of `section` ("link", or "device.nic.link" for a device's own;
 * NULL: "link"). Returns 0 otherwise (also for PCIE_LINK_CUSTOM, which
 * changes nothing).
 */
int pcie_link_cfg_resolve(pcie_link_cfg_t *cfg, const char *section, char *err,
                          size_t errlen);

/* Receives a message at its arrival time. The message is only valid during
 * the call. */
typedef void (*pcie_rx_fn)(void *opaque, const pcie_msg_t *msg);

typedef struct pcie_link pcie_link_t;

/* Create a link whose upstream end delivers to up_rx and downstream end to
 * down_rx. Stats under "<name>.up.*" and "<name>.down.*" (counted in the
 * link and published by pcie_link_finish_stats). A preset in cfg takes
 * precedence over cfg->gen and cfg->lanes. */
pcie_link_t *pcie_link_create(sim_t *sim, sim_stats_t *st, const char *name,
                              const pcie_link_cfg_t *cfg, pcie_rx_fn up_rx,
                              void *up_opaque, pcie_rx_fn down_rx,
                              void *down_opaque);
/* Free a link; messages still in flight are dropped. NULL is ignored. */
void pcie_link_destroy(pcie_link_t *link);

/* Send a message in a direction now: each direction serialises one TLP at
 * a time (bandwidth), then the message arrives after the fixed latency:
 * arrival = max(send time, end of the previous TLP) + serialisation +
 * latency. */
void pcie_link_send(pcie_link_t *link, pcie_dir_t dir, const pcie_msg_t *msg);

/*
 * Hand a message to the link now for sending at `when` (>= now; earlier is
 * taken as now). The result is exactly that of calling pcie_link_send at
 * `when`: messages are serialised in the order of their send times (equal
 * times in call order), even when a later call asks for an earlier time;
 * arrivals already scheduled are then moved. This lets a sender fold a
 * processing delay into the send without an event of its own.
 */
void pcie_link_send_at(pcie_link_t *link, pcie_dir_t dir, const pcie_msg_t *msg,
                       sim_time_t when);

/*
 * The same, and run sent(sim, opaque, arg) when the message's
 * serialisation ends (the sender's buffer is free: a posted write is done
 * for its sender). The event moves with the message if a message with an
 * earlier send time is handed over later.
 */
void pcie_link_send_at_notify(pcie_link_t *link, pcie_dir_t dir,
                              const pcie_msg_t *msg, sim_time_t when,
                              sim_event_fn sent, void *opaque, uint64_t arg);

/*
 * The same without a copy: pcie_link_reserve returns a zeroed message in
 * the link's own storage (NULL when out of memory), which the caller fills
 * and hands over with pcie_link_commit before any other call on that
 * direction of the link.
 */
pcie_msg_t *pcie_link_reserve(pcie_link_t *link, pcie_dir_t dir);
void pcie_link_commit(pcie_link_t *link, pcie_dir_t dir, sim_time_t when,
                      sim_event_fn sent, void *opaque, uint64_t arg);

/* Bytes a message occupies on the wire (headers, prefix, framing, payload
 * split into max-payload-size TLPs). */
uint32_t pcie_msg_wire_bytes(const pcie_link_cfg_t *cfg, const pcie_msg_t *msg);

/* TLPs a message is carried in (a payload is split by max payload size). */
uint32_t pcie_msg_tlps(const pcie_link_cfg_t *cfg, const pcie_msg_t *msg);

/* Serialisation time of `bytes` on the link (ps, rounded up): the one
 * formula of the model (the link precomputes its rate from it). */
sim_time_t pcie_link_serial_time(const pcie_link_cfg_t *cfg, uint64_t bytes);

/* Fraction of [0, now] a direction spent serialising (0 when now is 0). */
double pcie_link_utilisation(const pcie_link_t *link, pcie_dir_t dir);

/* Publish the link's statistics (counts per direction and the
 * utilisation); call before reading or writing them. */
void pcie_link_finish_stats(pcie_link_t *link);

/* Times the link grew its in-flight message storage (new maxima only). */
uint64_t pcie_link_mem_grows(const pcie_link_t *link);

/* Config keys of [link]. */
extern const sim_param_t pcie_link_params[];
extern const unsigned pcie_link_nparams;

#endif /* PCIE_LINK_H */
