/*
 * sim/log.c - the log: a level filter, a sink and the last error message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim/log.h"

void sim_log_init(sim_log_t *log, sim_log_level_t level, sim_log_sink_fn sink,
                  void *opaque)
{
    memset(log, 0, sizeof(*log));
    log->level = level;
    log->sink = sink;
    log->opaque = opaque;
}

/*
 * Format the message once; an error is counted and kept as the last error
 * whatever the level filter says; the sink only sees messages that pass it.
 */
void sim_vlogf(sim_log_t *log, sim_log_level_t level, const char *fmt,
               va_list ap)
{
    char msg[sizeof(log->last_error)];

    if (!log)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (level == SIM_LOG_ERROR) {
        log->errors++;
        memcpy(log->last_error, msg, sizeof(msg));
    }
    if (log->sink && level <= log->level)
        log->sink(log->opaque, level, msg);
}

void sim_logf(sim_log_t *log, sim_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    if (!log)
        return;
    va_start(ap, fmt);
    sim_vlogf(log, level, fmt, ap);
    va_end(ap);
}

const char *sim_log_last_error(const sim_log_t *log)
{
    return log ? log->last_error : "";
}

void sim_log_sink_file(void *opaque, sim_log_level_t level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    FILE *f = opaque ? (FILE *)opaque : stderr;
    const char *name = (unsigned)level < 4 ? names[level] : "log";

    fprintf(f, "%s: %s\n", name, msg);
}
