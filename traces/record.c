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

unsigned trace_page_shift(trace_page_t page)
{
    switch (page) {
    case TRACE_PAGE_2M:
        return 21;
    case TRACE_PAGE_1G:
        return 30;
    case TRACE_PAGE_4K:
        break;
    }
    return 12;
}

const char *trace_page_name(trace_page_t page)
{
    switch (page) {
    case TRACE_PAGE_2M:
        return "2M";
    case TRACE_PAGE_1G:
        return "1G";
    case TRACE_PAGE_4K:
        break;
    }
    return "4K";
}
