/*
 * tests/fuzz/fuzz_trace.c - libFuzzer target for the text trace reader.
 *
 * Feeds the input to trace_open_stream through fmemopen and reads every
 * record. Besides memory errors (ASan/UBSan), it checks the reader's
 * contract and aborts if it is broken: every record returned obeys the
 * documented ranges and time order and survives a writer -> reader round
 * trip; every failure is logged exactly once with a "NAME:" prefix.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traces/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_trace: check failed: %s (%s:%d)\n", #cond,   \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Write rec and read it back: it must come back identical. */
static void round_trip(const trace_record_t *rec)
{
    char buf[256];
    FILE *f = fmemopen(buf, sizeof(buf), "w+");
    trace_reader_t *r;
    trace_record_t back;
    sim_log_t log;

    CHECK(f != NULL);
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    CHECK(trace_write_header(f) == 0);
    CHECK(trace_write_record(f, rec) == 0);
    rewind(f);
    r = trace_open_stream(f, "rt", &log);
    CHECK(r != NULL);
    CHECK(trace_next(r, &back) == 1);
    CHECK(back.op == rec->op && back.time == rec->time &&
          back.dev == rec->dev && back.pasid == rec->pasid &&
          back.addr == rec->addr && back.len == rec->len &&
          back.perm == rec->perm && back.present == rec->present &&
          back.line == 3);
    CHECK(trace_next(r, &back) == 0);
    trace_close(r);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char empty[1];
    sim_log_t log;
    trace_reader_t *r;
    trace_record_t rec;
    sim_time_t prev = 0;
    uint64_t prev_line = 0;
    int rc;
    /* fmemopen rejects size 0 on some libcs: give it one byte and no data */
    FILE *f = size ? fmemopen((void *)data, size, "r")
                   : fmemopen((void *)empty, 1, "r");

    CHECK(f != NULL);
    if (!size)
        (void)fgetc(f); /* now at end of file */
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    r = trace_open_stream(f, "fuzz", &log);
    if (!r) {
        CHECK(log.errors == 1);
        CHECK(strncmp(sim_log_last_error(&log), "fuzz:", 5) == 0);
        fclose(f);
        return 0;
    }
    while ((rc = trace_next(r, &rec)) == 1) {
        CHECK((unsigned)rec.op <= TRACE_DETACH);
        CHECK(rec.pasid < (1u << 20));
        if (rec.op == TRACE_DETACH)
            CHECK(rec.addr == 0 && rec.len == 0);
        else
            CHECK(rec.len > 0 && rec.len - 1 <= UINT64_MAX - rec.addr);
        CHECK(rec.perm <= 7);
        CHECK(rec.op == TRACE_MAP || (rec.perm == 0 && !rec.present));
        CHECK(rec.time >= prev);
        CHECK(rec.line > prev_line && rec.line == trace_line(r));
        prev = rec.time;
        prev_line = rec.line;
        round_trip(&rec);
    }
    CHECK(rc == 0 || rc == -EINVAL || rc == -EIO);
    CHECK(log.errors == (rc == 0 ? 0u : 1u));
    if (rc) {
        CHECK(strncmp(sim_log_last_error(&log), "fuzz:", 5) == 0);
        CHECK(trace_next(r, &rec) == rc); /* sticky, not logged again */
        CHECK(log.errors == 1);
    } else {
        CHECK(trace_next(r, &rec) == 0);
    }
    trace_close(r);
    fclose(f);
    return 0;
}
