/*
 * sim/afile.h - atomic file writes (write a temporary, then rename).
 */
#ifndef SIM_AFILE_H
#define SIM_AFILE_H

#include <stdio.h>

#include "sim/log.h"

/*
 * Write a file atomically: open "path.tmp.PID" for writing, and on commit
 * fflush+fsync and rename over path. On abort (or commit failure) the
 * temporary file is removed.
 */
typedef struct sim_afile {
    FILE *f;
    char path[4096];
    char tmp[4200];
} sim_afile_t;

/* Open the temporary file; af->f is where to write. 0 or -errno (logged). */
int sim_afile_open(sim_afile_t *af, const char *path, sim_log_t *log);
/* Flush, sync and rename over the path. 0 or -errno (logged). */
int sim_afile_commit(sim_afile_t *af, sim_log_t *log);
/* Close and remove the temporary file; path is left as it was. */
void sim_afile_abort(sim_afile_t *af);

#endif /* SIM_AFILE_H */
