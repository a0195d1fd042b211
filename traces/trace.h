/*
 * traces/trace.h - trace records and the streaming trace reader/writer.
 *
 * The text format (v1) is documented in docs/trace-format.md. The reader
 * holds one line at a time: memory does not grow with trace length. It
 * knows nothing of devices: it checks syntax, number ranges and time order;
 * the platform checks that devices and PASIDs exist.
 *
 * This is the public header other folders include. Each unit of the
 * library has its own header (record, text_reader, text_writer, gen), and
 * the units include only those, never this one.
 */
#ifndef TRACES_TRACE_H
#define TRACES_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/sim.h"
#include "traces/gen.h"
#include "traces/record.h"
#include "traces/text_reader.h"
#include "traces/text_writer.h"

#endif /* TRACES_TRACE_H */
