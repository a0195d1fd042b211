/*
 * traces/record.c - names of the trace ops, as the text format writes them
 * (docs/trace-format.md).
 */
#include "traces/record.h"

const char *trace_op_name(trace_op_t op)
{
    switch (op) {
    case TRACE_MAP:
        return "map";
    case TRACE_UNMAP:
        return "unmap";
    case TRACE_READ:
        return "read";
    case TRACE_WRITE:
        return "write";
    case TRACE_DETACH:
        return "detach";
    }
    return "?";
}
