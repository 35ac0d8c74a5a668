/*
 * cli.h - what the command line's files share (src/cli/): errors reported the one way,
 * the ranks of an MPI job, the progress line, and the run/zoom command.
 *
 * API:
 *   ae_cli_usage_error(fmt, ...)   prints "aesweep: ..." and where help is; returns exit 2
 *   ae_cli_report(err)             prints err; returns its exit code
 *   ae_ranks, ae_world_ranks, ae_any_rank, ae_sum_over_ranks, ae_share_text, ae_node_rank
 *                                  the ranks under mpirun (make MPI=1); one rank otherwise
 *   ae_progress_start / _show      a live line on a terminal, a plain line now and then otherwise
 *   ae_cli_run(argc, argv, zoom)   aesweep run and aesweep zoom (src/cli/run.c)
 *   ae_cli_help(argc, argv)        aesweep help config|format|outcomes: docs/'s tables as markdown
 *                                  (src/cli/help.c)
 */
#ifndef AE_CLI_H
#define AE_CLI_H

#include <stdint.h>

#include "ae_util.h"

int ae_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ae_cli_report(const ae_error *err);

typedef struct {
    int rank, size;
} ae_ranks;

ae_ranks ae_world_ranks(void);
int ae_any_rank(int flag);
double ae_sum_over_ranks(double value);
void ae_share_text(char *text, int size);
int ae_node_rank(void);

#define PROGRESS_LOG_SECONDS 30.0 /* --progress-every's default */

typedef struct {
    int live, log; /* live line on a terminal / a plain line every `every` seconds */
    double every, start, last_log;
    uint64_t total, done_before;
} ae_progress;

ae_progress ae_progress_start(int enabled, double every, uint64_t total, uint64_t done_before);
void ae_progress_show(ae_progress *pr, uint64_t done, int final);

int ae_cli_run(int argc, char **argv, int zoom);
int ae_cli_help(int argc, char **argv);

#endif
