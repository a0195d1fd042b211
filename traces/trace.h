/*
 * traces/trace.h - trace records and the streaming trace reader/writer.
 *
 * The text format (v1) is documented in docs/trace-format.md. The reader
 * holds one line at a time: memory does not grow with trace length. It
 * knows nothing of devices: it checks syntax, number ranges and time order;
 * the platform checks that devices and PASIDs exist.
 */
#ifndef TRACES_TRACE_H
#define TRACES_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/sim.h"

#define TRACE_FORMAT_VERSION 1

/* Longest accepted text line, in bytes (longer lines are an error). */
#define TRACE_MAX_LINE 4096

typedef enum {
    TRACE_MAP = 0, /* create a mapping (a VMA) in an address space */
    TRACE_UNMAP,   /* remove mappings in a range */
    TRACE_READ,    /* DMA read */
    TRACE_WRITE,   /* DMA write */
    TRACE_DETACH,  /* tear down (dev, PASID): stop, answer pending faults */
} trace_op_t;

/* Permission bits of a mapping. */
#define TRACE_PERM_R 0x1u
#define TRACE_PERM_W 0x2u
#define TRACE_PERM_X 0x4u

/* One trace record. */
typedef struct trace_record {
    trace_op_t op;
    sim_time_t time; /* absolute, ps (converted from the trace's time unit) */
    uint32_t dev;    /* device index */
    uint32_t pasid;  /* 20-bit PASID */
    uint64_t addr;   /* virtual (untranslated) address (0 for detach) */
    uint64_t len;    /* bytes, > 0 (0 for detach) */
    unsigned perm;   /* TRACE_MAP: TRACE_PERM_* */
    bool present;    /* TRACE_MAP: populated now (true) or on first fault */
    uint64_t line;   /* source line of the record (1-based) */
} trace_record_t;

typedef struct trace_reader trace_reader_t;

/*
 * Open a trace file ("-" is standard input) and read its header. Errors
 * (missing file, empty file, binary content, bad or unsupported header) are
 * logged as "FILE:LINE:COL: what is wrong; expected ..." and NULL returned.
 */
trace_reader_t *trace_open(const char *path, sim_log_t *log);

/* Same, over an already open stream (not closed by trace_close). */
trace_reader_t *trace_open_stream(FILE *f, const char *name, sim_log_t *log);

/*
 * Read the next record. Returns 1 with *rec filled, 0 at the end of the
 * trace, or -EINVAL on a malformed record (logged with file, line, column
 * and what was expected). Checks: known op, field count, numbers that fit
 * (no overflow), addr + len does not wrap, len > 0, PASID < 2^20, time not
 * earlier than the previous record's, no NUL bytes, line length.
 */
int trace_next(trace_reader_t *r, trace_record_t *rec);

/* File name and the line number of the last line read. */
const char *trace_name(const trace_reader_t *r);
uint64_t trace_line(const trace_reader_t *r);

/* Close the reader (and the file, unless opened with trace_open_stream). */
void trace_close(trace_reader_t *r);

/*
 * Writer for the text format: trace_write_header writes the version line
 * and "timeunit ps"; trace_write_record one record line that reads back to
 * the same record (the `line` field aside). Used by generators and tests.
 * Returns 0, -EIO on a write error, or (trace_write_record) -EINVAL for a
 * record the reader would reject (unknown op, len 0, PASID >= 2^20,
 * addr + len wrapping, unknown perm bits); time order is the caller's job.
 */
int trace_write_header(FILE *f);
int trace_write_record(FILE *f, const trace_record_t *rec);

/* Name of an op as written in the text format ("map", "read", ...). */
const char *trace_op_name(trace_op_t op);


/* ------------------------------------------------- workload generator */

/*
 * A synthetic workload, streamed record by record (nothing is stored): for
 * every (device, PASID) one mapping of `region` bytes, populated or not,
 * then `dmas` DMAs spread over all (device, PASID) pairs in turn, with
 * exponential inter-arrival times. A DMA touches a page never touched
 * before with probability `new_page` (a fault when the region is absent),
 * otherwise a page among the last `reuse_window` pages it touched (ATC,
 * IOTLB or walk-cache hits). Deterministic for a given seed.
 */
typedef struct trace_gen_cfg {
    unsigned devices;      /* >= 1 */
    unsigned pasids;       /* per device, >= 1 */
    uint64_t dmas;         /* DMA records */
    uint64_t region;       /* bytes mapped per (device, PASID), page multiple */
    bool present;          /* region populated at map time */
    double new_page;       /* probability a DMA touches a new page */
    unsigned reuse_window; /* pages eligible for reuse, >= 1 */
    double write_fraction; /* probability a DMA is a write */
    uint32_t dma_len;      /* bytes per DMA (within one page), >= 1 */
    sim_time_t interval;   /* mean time between DMAs (ps) */
    uint64_t seed;
} trace_gen_cfg_t;

typedef struct trace_gen trace_gen_t;

/* Defaults: 1 device, 1 PASID, 1000 DMAs, 64 MiB absent, new_page 0.1,
 * window 64, writes 0.3, 64-byte DMAs, 1 us apart, seed 1. */
void trace_gen_defaults(trace_gen_cfg_t *cfg);
/* Check a configuration; logs what is wrong and returns -EINVAL. */
int trace_gen_check(const trace_gen_cfg_t *cfg, sim_log_t *log);
trace_gen_t *trace_gen_create(const trace_gen_cfg_t *cfg, sim_log_t *log);
/* Next record: 1, or 0 at the end. */
int trace_gen_next(trace_gen_t *g, trace_record_t *rec);
void trace_gen_destroy(trace_gen_t *g);

#endif /* TRACES_TRACE_H */
