/*
 * traces/text_reader.h - the streaming reader of the text trace format.
 *
 * The text format (v1) is documented in docs/trace-format.md. The reader
 * holds one line at a time: memory does not grow with trace length.
 */
#ifndef TRACES_TEXT_READER_H
#define TRACES_TEXT_READER_H

#include <stdint.h>
#include <stdio.h>

#include "sim/sim.h"
#include "traces/record.h"

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

/*
 * Device names: with a lookup set, a record's <dev> may be a name (a
 * letter first: "nic0") as well as a number; lookup(opaque, name) returns
 * the device's index, or -1 for a name it does not know (an input error
 * naming it). Without a lookup a name is an input error. The lookup must
 * outlive the reader.
 */
typedef int (*trace_dev_lookup_fn)(void *opaque, const char *name);
void trace_set_dev_lookup(trace_reader_t *r, trace_dev_lookup_fn lookup,
                          void *opaque);

/*
 * The trace's own device numbering, so that traces written apart can be
 * merged: with a device list (names or numbers, commas or blanks between
 * them), a numeric <dev> k of the trace is the list's k-th device (a name
 * through the lookup, a number that index); k past the list is an input
 * error. The list comes from a "devices nic0,nic1" line before the first
 * record, or from trace_set_dev_map (the command line's --trace-devices),
 * which takes precedence over the line. At most TRACE_MAX_DEVMAP devices.
 * trace_set_dev_map returns 0 or -EINVAL / -ENOMEM (logged naming the
 * trace).
 */
#define TRACE_MAX_DEVMAP 4096
int trace_set_dev_map(trace_reader_t *r, const char *list);
uint64_t trace_line(const trace_reader_t *r);

/* Close the reader (and the file, unless opened with trace_open_stream). */
void trace_close(trace_reader_t *r);

#endif /* TRACES_TEXT_READER_H */
