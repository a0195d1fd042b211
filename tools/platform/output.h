/*
 * tools/platform/output.h - the outputs of a run: the summary, stats.txt,
 * stats.json, latency.txt and timeseries.csv.
 */
#ifndef TOOLS_PLATFORM_OUTPUT_H
#define TOOLS_PLATFORM_OUTPUT_H

#include <stdio.h>

#include "tools/platform/types.h"

/* Fill `out` with the figures of the run so far. */
void platform_summarize(platform_t *p, platform_summary_t *out);

/* Print the short summary. */
void platform_print_summary(const platform_summary_t *s, FILE *out);

/* Before platform_run: start writing timeseries.csv into dir (if
 * run.epoch > 0); platform_write_outputs completes it, and a platform
 * destroyed without it leaves no file. Returns 0 or -errno. */
int platform_open_outputs(platform_t *p, const char *dir);

/* Write stats.txt, stats.json and latency.txt into dir (atomically), and
 * complete timeseries.csv if it was opened. Returns 0 or -errno. */
int platform_write_outputs(platform_t *p, const char *dir);

#endif
