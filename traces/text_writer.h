/*
 * traces/text_writer.h - the writer of the text trace format, whose output
 * the reader (traces/text_reader.h) reads back.
 */
#ifndef TRACES_TEXT_WRITER_H
#define TRACES_TEXT_WRITER_H

#include <stdio.h>

#include "traces/record.h"

/*
 * Writer for the text format: trace_write_header writes the version line
 * and "timeunit ps"; trace_write_record one record line that reads back to
 * the same record (the `line` field aside). Used by generators and tests.
 * Returns 0, -EIO on a write error, or (trace_write_record) -EINVAL for a
 * record the reader would reject (unknown op, len 0, PASID >= 2^20,
 * addr + len wrapping, unknown perm bits, a map whose addr or len is not a
 * multiple of its page size); a 4 KiB map is written without the page
 * field. Time order is the caller's job.
 */
int trace_write_header(FILE *f);
int trace_write_record(FILE *f, const trace_record_t *rec);

#endif /* TRACES_TEXT_WRITER_H */
