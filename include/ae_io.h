/*
 * ae_io.h - the HDF5 output file (DESIGN.md section 7) and base states read from one.
 *
 * API:
 *   ae_out_create(path, job, prov, force)  new file with every variable allocated (fill values)
 *   ae_out_resume(path, job, done)         reopen a file of the same config; done[] per run
 *   ae_out_write(out, first, count, res)   a batch of records, flushed, then its `done` flags
 *   ae_out_write_trajectories(out, traj)   the `trajectory` group (written once, at creation)
 *   ae_out_close(out, prov)                final provenance attributes
 *   ae_bases_load(path, select, bases)     W_final / b_final of selected runs of a file
 *   ae_info(path), ae_merge(out, shards)   the `info` and `merge` commands
 *
 * The layout is netCDF-4 compatible: one dimension scale per grid axis plus `feature`
 * and `latent`, contiguous datasets allocated at creation, so that a killed sweep
 * leaves a file whose metadata never changed after its creation.
 */
#ifndef AE_IO_H
#define AE_IO_H

#include "ae_backend.h"

typedef struct {
    const char *backend, *device;
    char start_time[32], end_time[32];
    double model_steps_per_second;
} ae_provenance;

typedef struct ae_out ae_out;

ae_out *ae_out_create(const char *path, const ae_job *job, const ae_provenance *prov, int force,
                      ae_error *err);
/* done: job->grid->total bytes, filled from the file's `done` variable. */
ae_out *ae_out_resume(const char *path, const ae_job *job, uint8_t *done, ae_error *err);
int ae_out_write(ae_out *out, uint64_t first, uint64_t count, const ae_results *res, ae_error *err);
int ae_out_write_trajectories(ae_out *out, const ae_trajectories *traj, ae_error *err);
int ae_out_close(ae_out *out, const ae_provenance *prov, ae_error *err);

int ae_bases_load(ae_bases *bases, const char *path, const char *select, ae_error *err);
void ae_bases_free(ae_bases *bases);

/* `aesweep info FILE`: progress, outcome table, provenance, on stdout. */
int ae_info(const char *path, ae_error *err);

/* `aesweep merge OUT SHARD...`: shards of one config that cover every run exactly once. */
int ae_merge(const char *output, char *const *shards, int n_shards, int force, ae_error *err);

#endif
