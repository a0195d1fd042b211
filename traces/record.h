/*
 * traces/record.h - one trace record, its ops and permission bits, as the
 * readers, writers and generators exchange them.
 */
#ifndef TRACES_RECORD_H
#define TRACES_RECORD_H

#include <stdbool.h>
#include <stdint.h>

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

/* Page size of a mapping (the text format's optional last field of a
 * map record: 4K, 2M or 1G; 4 KiB when absent). */
typedef enum {
    TRACE_PAGE_4K = 0, /* 4 KiB pages (the default) */
    TRACE_PAGE_2M,     /* 2 MiB pages */
    TRACE_PAGE_1G,     /* 1 GiB pages */
} trace_page_t;

/* One trace record. */
/* Whose accesses a trace says its records are ("domain" line). */
typedef enum {
    TRACE_DOMAIN_ANY = 0, /* not said: the device decides */
    TRACE_DOMAIN_NATIVE,  /* host processes (native SVA) */
    TRACE_DOMAIN_GUEST,   /* guest processes of a VM */
} trace_domain_t;

typedef struct trace_record {
    trace_op_t op;
    trace_domain_t domain; /* what the trace says of its records */
    sim_time_t time;   /* absolute, ps (converted from the trace's time unit) */
    uint32_t dev;      /* device index */
    uint32_t pasid;    /* 20-bit PASID */
    uint64_t addr;     /* virtual (untranslated) address (0 for detach) */
    uint64_t len;      /* bytes, > 0 (0 for detach) */
    unsigned perm;     /* TRACE_MAP: TRACE_PERM_* */
    bool present;      /* TRACE_MAP: populated now (true) or on first fault */
    trace_page_t page; /* TRACE_MAP: page size (addr and len multiples) */
    uint64_t line;     /* source line of the record (1-based) */
} trace_record_t;

/* Name of an op as written in the text format ("map", "read", ...). */
const char *trace_op_name(trace_op_t op);

/* log2 of a page size's bytes: 12, 21 or 30. */
unsigned trace_page_shift(trace_page_t page);
/* Name of a page size as written in the text format ("4K", "2M", "1G"). */
const char *trace_page_name(trace_page_t page);

#endif /* TRACES_RECORD_H */
