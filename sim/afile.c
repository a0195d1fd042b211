/*
 * sim/afile.c - atomic file writes: write "path.tmp.PID", then fflush,
 * fsync and rename over the final name, so a reader never sees a torn file.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "sim/afile.h"
#include "sim/log.h"

int sim_afile_open(sim_afile_t *af, const char *path, sim_log_t *log)
{
    memset(af, 0, sizeof(*af));
    if (!path || !*path) {
        sim_logf(log, SIM_LOG_ERROR, "atomic file: empty path");
        return -EINVAL;
    }
    size_t n = strlen(path);
    if (n >= sizeof(af->path)) {
        /* Quote the start only: the whole path would push the reason out
         * of the log's message buffer. */
        sim_logf(log, SIM_LOG_ERROR,
                 "%.60s...: path too long (%zu bytes, at most %zu)", path, n,
                 sizeof(af->path) - 1);
        return -ENAMETOOLONG;
    }
    memcpy(af->path, path, n + 1);
    /* Room for any path that fits, ".tmp." and a 64-bit PID. */
    _Static_assert(sizeof(af->tmp) >= sizeof(af->path) + 5 + 20,
                   "sim_afile_t.tmp too small for a temporary name");
    snprintf(af->tmp, sizeof(af->tmp), "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "w");
    if (!af->f) {
        int rc = -errno;
        sim_logf(log, SIM_LOG_ERROR, "cannot create %s: %s", af->tmp,
                 strerror(errno));
        return rc;
    }
    return 0;
}

/* Best effort: make the rename itself durable by syncing the directory. */
static void sync_dir(const char *path)
{
    char dir[sizeof(((sim_afile_t *)0)->path)];

    snprintf(dir, sizeof(dir), "%s", path);
    int fd = open(dirname(dir), O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int sim_afile_commit(sim_afile_t *af, sim_log_t *log)
{
    int rc = 0;

    if (!af->f) {
        sim_logf(log, SIM_LOG_ERROR, "%s: atomic file is not open", af->path);
        return -EBADF;
    }
    if (fflush(af->f) != 0 || ferror(af->f)) {
        rc = errno ? -errno : -EIO;
        sim_logf(log, SIM_LOG_ERROR, "cannot write %s: %s", af->tmp,
                 strerror(-rc));
    } else if (fsync(fileno(af->f)) != 0 && errno != EINVAL && errno != EROFS) {
        rc = -errno;
        sim_logf(log, SIM_LOG_ERROR, "cannot sync %s: %s", af->tmp,
                 strerror(errno));
    }
    if (fclose(af->f) != 0 && rc == 0) {
        rc = -errno;
        sim_logf(log, SIM_LOG_ERROR, "cannot close %s: %s", af->tmp,
                 strerror(errno));
    }
    af->f = NULL;
    if (rc == 0 && rename(af->tmp, af->path) != 0) {
        rc = -errno;
        sim_logf(log, SIM_LOG_ERROR, "cannot rename %s to %s: %s", af->tmp,
                 af->path, strerror(errno));
    }
    if (rc != 0) {
        remove(af->tmp);
        return rc;
    }
    sync_dir(af->path);
    return 0;
}

void sim_afile_abort(sim_afile_t *af)
{
    if (!af->f)
        return;
    fclose(af->f);
    af->f = NULL;
    remove(af->tmp);
}
