/*
 * ae_io.h - the HDF5 output file (DESIGN.md section 7), base states read from one, and
 * the one-writer lock on an output.
 *
 * API:
 *   ae_output_file(out)             the file -o names, as a writer must take it (symlink
 *                                   followed; refused: not a regular file, hard-linked)
 *   ae_lock_output(out) / _release  the output's writer lock (held: error naming the pid)
 *   ae_lock_holder(out)             pid writing `out` now (0: none), without taking it
 *   ae_out_create(path, job, prov, force)  new file, built as OUT.part and renamed into place
 *   ae_out_resume(path, job, done)         reopen a file of this build and config; done[] per run
 *   ae_out_write(out, first, count, res)   a batch of records, flushed, then its `done` flags
 *   ae_out_write_start / _wait             the same on the output's writer thread, overlapping
 *                                          the caller's next batch
 *   ae_out_needs_trajectories(out)         the trajectory group is there and not yet written
 *   ae_out_write_trajectories(out, traj)   its loss, W and b, then its `done`
 *   ae_out_close(out, prov)                final provenance, rewritten in place
 *   ae_bases_load(path, select, keep, bases)  W_final / b_final of selected runs of a file (keep:
 *                                          and their optimizer state)
 *   ae_stored_config_read(path)            the config a file was made from, and its command-
 *                                          line overrides (for `zoom`)
 *   ae_info(path), ae_merge(out, shards)   the `info` and `merge` commands
 *
 * The layout is netCDF-4 compatible: one dimension scale per grid axis plus `feature`
 * and `latent`, contiguous datasets allocated at creation, so that a killed sweep
 * leaves a file whose metadata never changed after its creation.  Every reader checks
 * the shapes of a file before it uses them: a file may come from a stranger.
 */
#ifndef AE_IO_H
#define AE_IO_H

#include "ae_backend.h"

/* First thing in main: HDF5 settings that must precede any other HDF5 call. */
void ae_io_startup(void);

/* The one name of the output file `output` (malloc'd): a symlink's target, else output
 * itself; NULL with err where it is not a regular file or has more than one hard link. */
char *ae_output_file(const char *output, ae_error *err);

typedef struct ae_lock ae_lock;
ae_lock *ae_lock_output(const char *output, ae_error *err);
void ae_lock_release(ae_lock *lock);
long ae_lock_holder(const char *output);

typedef struct {
    const char *backend, *device;
    char start_time[32], end_time[32];
    double model_steps_per_second;
} ae_provenance;

typedef struct ae_out ae_out;

/* done: job->grid->total bytes, filled from the file's `done` variable (zeros when created). */
ae_out *ae_out_create(const char *path, const ae_job *job, const ae_provenance *prov, int force, uint8_t *done,
                      ae_error *err);
ae_out *ae_out_resume(const char *path, const ae_job *job, uint8_t *done, ae_error *err);
int ae_out_write(ae_out *out, uint64_t first, uint64_t count, const ae_results *res, ae_error *err);
/* Hands a batch to the output's writer thread and returns at once; `res` must stay as it is
 * until ae_out_write_wait returns, and the caller makes no HDF5 call until then.  One batch
 * in flight at a time: call ae_out_write_wait first.  (Under MPI the write is collective
 * and happens here, in the caller's thread.) */
void ae_out_write_start(ae_out *out, uint64_t first, uint64_t count, const ae_results *res);
/* Waits until the batch in flight (if any) is written: 0 when its records and then its
 * `done` flags are on disk, as ae_out_write returns. */
int ae_out_write_wait(ae_out *out, ae_error *err);
int ae_out_needs_trajectories(const ae_out *out);
int ae_out_write_trajectories(ae_out *out, const ae_trajectories *traj, ae_error *err);
/* prov NULL: close without touching the provenance (a failed or interrupted sweep). */
int ae_out_close(ae_out *out, const ae_provenance *prov, ae_error *err);

/* keep_optimizer_state (init.optimizer_state = "keep"): also each base's optimizer state,
 * the file's opt_ variables (an error naming what is missing when it has none). */
int ae_bases_load(ae_bases *bases, const char *path, const char *select, int keep_optimizer_state, ae_error *err);
void ae_bases_free(ae_bases *bases);

/* The root attribute `config` holds the config's text, then this line and the overrides,
 * one per line; the attribute `overrides` holds them one string each. */
#define AE_OVERRIDES_HEADER "# command-line overrides, in order:"

/* The config text of output `path` without the overrides block (malloc'd) and its overrides
 * (*overrides: malloc'd array of malloc'd strings, free with ae_stored_config_free), parsed
 * into ov[] (grid flag and the text after "--set " / "--grid "). */
typedef struct {
    char *text;
    char **overrides;
    ae_override *ov;
    int n;
} ae_stored_config;
int ae_stored_config_read(ae_stored_config *stored, const char *path, ae_error *err);
void ae_stored_config_free(ae_stored_config *stored);

/* `aesweep info FILE`: progress, outcome table, provenance, on stdout, fitted to `columns`
 * (outcome columns no run has left out, long axes shown at evenly spaced values) unless
 * `wide`; `by`: only that axis' table, every value of it. */
typedef struct {
    int wide, columns;
    const char *by;
} ae_info_options;
int ae_info(const char *path, const ae_info_options *opt, ae_error *err);

/* `aesweep merge OUT SHARD...`: shards of one config that cover every run exactly once,
 * built as OUT.part and renamed over OUT; never an input as the output. */
int ae_merge(const char *output, char *const *shards, int n_shards, int force, ae_error *err);

#endif
