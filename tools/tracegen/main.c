/*
 * tracegen - write a synthetic workload (traces/gen.c) as a text trace.
 *
 *   tracegen [OPTIONS] [-o FILE]
 *
 * Exit status: 0 ok, 2 usage error, 1 write error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traces/trace.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tracegen [OPTIONS]\n"
            "Write a synthetic I/O trace (text format v1) to stdout or -o "
            "FILE.\n"
            "  --devices N       devices (default 1)\n"
            "  --pasids N        PASIDs per device (default 1)\n"
            "  --dmas N          DMA records (default 1000)\n"
            "  --region BYTES    bytes mapped per (device, PASID) (default "
            "64M; K/M/G suffixes)\n"
            "  --present         populate the region at map time (no faults)\n"
            "  --new-page P      probability a DMA touches a new page "
            "(default 0.1)\n"
            "  --window N        recently touched pages eligible for reuse "
            "(default 64)\n"
            "  --writes P        fraction of DMAs that are writes (default "
            "0.3)\n"
            "  --len BYTES       bytes per DMA, 1..4096 (default 64)\n"
            "  --interval T      mean time between DMAs, ns or with a unit "
            "(default 1us)\n"
            "  --seed N          random seed (default 1)\n"
            "  -o, --output FILE write to FILE instead of stdout\n");
}

static int bad(const char *opt, const char *val, const char *what)
{
    const char *pfx = "workload generator: ";
    if (!strncmp(what, pfx, strlen(pfx)))
        what += strlen(pfx);
    fprintf(stderr, "tracegen: %s '%s': %s (see tracegen --help)\n", opt, val,
            what);
    return 2;
}

/* Parse an unsigned integer with an optional K/M/G (x1024) suffix. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno)
        return -ERANGE;
    unsigned shift = 0;
    if (*end == 'K')
        shift = 10, end++;
    else if (*end == 'M')
        shift = 20, end++;
    else if (*end == 'G')
        shift = 30, end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_prob(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 1))
        return -EINVAL;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"devices", required_argument, NULL, 'd'},
        {"pasids", required_argument, NULL, 'p'},
        {"dmas", required_argument, NULL, 'n'},
        {"region", required_argument, NULL, 'r'},
        {"present", no_argument, NULL, 'P'},
        {"new-page", required_argument, NULL, 'N'},
        {"window", required_argument, NULL, 'w'},
        {"writes", required_argument, NULL, 'W'},
        {"len", required_argument, NULL, 'l'},
        {"interval", required_argument, NULL, 'i'},
        {"seed", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    trace_gen_cfg_t cfg;
    trace_gen_defaults(&cfg);
    const char *out_path = NULL;
    opterr = 0;
    int c, idx = -1;
    uint64_t v;
    sim_log_t quiet; /* the generator's rule a value breaks, not printed */
    sim_log_init(&quiet, SIM_LOG_ERROR, NULL, NULL);
    while ((c = getopt_long(argc, argv, ":o:h", opts, &idx)) != -1) {
        /* The option's name (not argv[optind - 1], which is its value
         * when the value is a separate argument). */
        char opt[32];
        if (idx >= 0)
            snprintf(opt, sizeof(opt), "--%s", opts[idx].name);
        else
            snprintf(opt, sizeof(opt), "-%c", c);
        idx = -1;
        trace_gen_cfg_t one; /* the defaults with this option's value */
        trace_gen_defaults(&one);
        switch (c) {
        case 'd':
        case 'p':
        case 'n':
        case 'r':
        case 'w':
        case 'l':
        case 's':
            if (parse_u64(optarg, &v))
                return bad(opt, optarg, "expected an unsigned integer");
            if (c == 'd' || c == 'p' || c == 'w' || c == 'l') {
                if (v > UINT32_MAX)
                    return bad(opt, optarg, "too large");
            }
            if (c == 'd')
                cfg.devices = one.devices = (unsigned)v;
            if (c == 'p')
                cfg.pasids = one.pasids = (unsigned)v;
            if (c == 'n')
                cfg.dmas = v;
            if (c == 'r')
                cfg.region = one.region = v;
            if (c == 'w')
                cfg.reuse_window = one.reuse_window = (unsigned)v;
            if (c == 'l')
                cfg.dma_len = one.dma_len = (uint32_t)v;
            if (c == 's')
                cfg.seed = v;
            /* Each value against the generator's rule for it, so that the
             * message names the option. */
            if (trace_gen_check(&one, &quiet))
                return bad(opt, optarg, sim_log_last_error(&quiet));
            break;
        case 'P':
            cfg.present = true;
            break;
        case 'N':
            if (parse_prob(optarg, &cfg.new_page))
                return bad(opt, optarg, "expected a probability in [0, 1]");
            break;
        case 'W':
            if (parse_prob(optarg, &cfg.write_fraction))
                return bad(opt, optarg, "expected a probability in [0, 1]");
            break;
        case 'i': {
            char err[256];
            if (sim_parse_time(optarg, &cfg.interval, err, sizeof(err)))
                return bad(opt, optarg, err);
            break;
        }
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "tracegen: option '%s' needs a value\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "tracegen: unknown option '%s'\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tracegen: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    /* Only a rule between options is left (devices x pasids). */
    if (trace_gen_check(&cfg, &quiet)) {
        char both[64];
        snprintf(both, sizeof(both), "%u x %u", cfg.devices, cfg.pasids);
        return bad("--devices x --pasids", both, sim_log_last_error(&quiet));
    }
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_WARN, sim_log_sink_file, stderr);
    trace_gen_t *g = trace_gen_create(&cfg, &log);
    if (!g)
        return 1;
    sim_afile_t af;
    FILE *out = stdout;
    if (out_path) {
        if (sim_afile_open(&af, out_path, &log)) {
            trace_gen_destroy(g);
            return 1;
        }
        out = af.f;
    }
    trace_record_t rec;
    int rc = trace_write_header(out);
    while (!rc && trace_gen_next(g, &rec) == 1)
        rc = trace_write_record(out, &rec);
    int err = errno; /* of the write that failed */
    trace_gen_destroy(g);
    if (!rc && out_path) /* the commit logs its own error */
        return sim_afile_commit(&af, &log) ? 1 : 0;
    if (!rc) {
        if (fflush(stdout) == 0)
            return 0;
        err = errno;
    }
    if (out_path)
        sim_afile_abort(&af); /* an existing file stays as it was */
    fprintf(stderr, "tracegen: cannot write %s: %s\n",
            out_path ? out_path : "standard output", strerror(err ? err : EIO));
    return 1;
}
