/*
 * sim/log.h - the log: a level filter, a sink, and the last error kept.
 */
#ifndef SIM_LOG_H
#define SIM_LOG_H

#include <stdarg.h>

typedef enum {
    SIM_LOG_ERROR = 0,
    SIM_LOG_WARN = 1,
    SIM_LOG_INFO = 2,
    SIM_LOG_DEBUG = 3,
} sim_log_level_t;

/* Receives each message that passes the level filter (no trailing newline). */
typedef void (*sim_log_sink_fn)(void *opaque, sim_log_level_t level,
                                const char *msg);

/*
 * A log: a level filter and a sink. Library code logs through the log it was
 * given; the tool decides where messages go. The last error message is kept
 * so that a caller can report it once (see sim_log_last_error).
 */
typedef struct sim_log {
    sim_log_level_t level;
    sim_log_sink_fn sink; /* NULL: messages are only kept, not passed on */
    void *opaque;
    unsigned errors;       /* number of SIM_LOG_ERROR messages so far */
    char last_error[1024]; /* text of the last SIM_LOG_ERROR message */
} sim_log_t;

/* Initialise a log with a level and a sink (sink may be NULL). */
void sim_log_init(sim_log_t *log, sim_log_level_t level, sim_log_sink_fn sink,
                  void *opaque);

/* Log a printf-style message. A NULL log discards the message. */
void sim_logf(sim_log_t *log, sim_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with a va_list. */
void sim_vlogf(sim_log_t *log, sim_log_level_t level, const char *fmt,
               va_list ap);

/* The last error message logged, or "" if none. */
const char *sim_log_last_error(const sim_log_t *log);

/* A sink that writes "level: msg\n" to the FILE* passed as opaque. */
void sim_log_sink_file(void *opaque, sim_log_level_t level, const char *msg);

#endif /* SIM_LOG_H */
