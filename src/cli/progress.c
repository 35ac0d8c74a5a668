/* progress.c - a sweep's progress on stderr: a live line on a terminal, a plain line every
 * --progress-every seconds otherwise. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <unistd.h>


ae_progress ae_progress_start(int enabled, double every, uint64_t total, uint64_t done_before)
{
    int live = enabled && isatty(STDERR_FILENO);
    ae_progress pr = {live, enabled && !live, every, ae_now(), ae_now(), total, done_before};
    return pr;
}

void ae_progress_show(ae_progress *pr, uint64_t done, int final)
{
    double now = ae_now();
    if (!pr->live && !(pr->log && !final && now - pr->last_log >= pr->every)) return;
    pr->last_log = now;
    double elapsed = now - pr->start;
    double rate = elapsed > 0 ? (double)(done - pr->done_before) / elapsed : 0;
    double eta = rate > 0 ? (double)(pr->total - done) / rate : 0;
    fprintf(stderr, "%saesweep: %llu/%llu runs (%.1f%%)  %.4g runs/s  ETA %dm%02ds%s", pr->live ? "\r" : "",
            (unsigned long long)done, (unsigned long long)pr->total,
            pr->total ? 100.0 * (double)done / (double)pr->total : 100.0, rate, (int)(eta / 60), (int)eta % 60,
            pr->live && !final ? "   " : "\n");
    fflush(stderr);
}
