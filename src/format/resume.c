/*
 * resume.c - reopening an output for --resume: only a file of this build and this
 * config, with the layout that config makes, trajectories included.
 */

#define _POSIX_C_SOURCE 200809L
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Resuming                                                                  */
/* ------------------------------------------------------------------------ */

static int check_same_config(hid_t file, const char *path, const ae_job *job, ae_error *err)
{
    char *stored = io_get_text_attr(file, "config_json"), *json = ae_config_json(job->cfg);
    int status = 0;
    if (!stored || strcmp(stored, json) != 0) {
        ae_strbuf diff = {0};
        ae_strbuf_printf(&diff, "%s", "");
        if (stored) io_describe_difference(stored, "file", json, "config", &diff);
        status = ae_fail(err, "%s: --resume with a different config is refused%s%s", path,
                         stored ? "; what differs:" : " (the file has no aesweep config)", diff.data);
        ae_strbuf_free(&diff);
    }
    free(stored);
    free(json);
    return status;
}

/* The file's layout is the one its config makes (a stranger's file could claim the config
 * and hold other shapes). */
static int check_grid_layout(const file_layout *lay, const ae_job *job, const char *path, ae_error *err)
{
    const ae_grid *grid = job->grid;
    int same = lay->rank == grid->n_axes && lay->n_max == (uint64_t)grid->n_max && lay->m_max == (uint64_t)grid->m_max;
    for (int d = 0; same && d < lay->rank; d++) same = lay->dims[d] == grid->axes[d].count;
    if (!same) return ae_fail(err, "%s: the variables' shapes are not the ones its config makes", path);
    if (lay->fields == job->cfg->output_fields) return 0;
    char *has = io_field_names(lay->fields), *wants = io_field_names(job->cfg->output_fields);
    ae_fail(err, "%s: the file holds the fields [%s], its config's output.fields makes [%s]", path, has, wants);
    free(has), free(wants);
    return -1;
}

/* Whether dataset ds holds values of `want`'s type (class and size: a stranger's file can
 * claim the config and hold int8 losses or float16 weights, which HDF5 would convert). */
static int check_type(hid_t ds, hid_t want, const char *name, const char *path, ae_error *err)
{
    hid_t type = H5Dget_type(ds);
    const int same = type >= 0 && H5Tget_class(type) == H5Tget_class(want) && H5Tget_size(type) == H5Tget_size(want) &&
                     (H5Tget_class(want) != H5T_INTEGER || H5Tget_sign(type) == H5Tget_sign(want));
    if (type >= 0) H5Tclose(type);
    if (same) return 0;
    return ae_fail(err, "%s: %s is not of the type its config writes (%s %zu bytes): not this sweep's file", path, name,
                   H5Tget_class(want) == H5T_FLOAT ? "float" : "integer", H5Tget_size(want));
}

static int open_trajectories(ae_out *out, const ae_job *job, ae_error *err)
{
    const char *path = out->path;
    static const char *const names[TRAJ_VARS + 1] = {"trajectory/loss", "trajectory/W", "trajectory/b",
                                                     "trajectory/done"};
    ae_trajectories shape;
    ae_trajectories_shape(job, &shape);
    const hsize_t want[4] = {(hsize_t)shape.count, (hsize_t)shape.points, (hsize_t)shape.n_max,
                             (hsize_t)shape.m_max};
    const int ranks[TRAJ_VARS + 1] = {2, 4, 3, 0};
    uint8_t done = 0;
    for (int v = 0; v <= TRAJ_VARS; v++) {
        hsize_t dims[4];
        int rank;
        if (io_dataset_dims(out->file, names[v], ranks[v], ranks[v], dims, &rank, path, err)) return -1;
        for (int d = 0; d < rank; d++)
            if (dims[d] != want[d]) return ae_fail(err, "%s: %s is not the shape its config makes", path, names[v]);
        H5_OR_FAIL(out->traj[v] = H5Dopen2(out->file, names[v], H5P_DEFAULT));
        hid_t type = v < TRAJ_VARS ? io_file_real_type(job->grid) : H5T_NATIVE_UINT8;
        if (check_type(out->traj[v], type, names[v], path, err)) return -1;
    }
    H5_OR_FAIL(H5Dread(out->traj[TRAJ_VARS], H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, &done));
    out->traj_done = done == 1;
    return 0;
fail:
    return -1;
}

ae_out *ae_out_resume(const char *path, const ae_job *job, uint8_t *done, ae_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    /* a leftover OUT.part of a run killed while it built a new output: the caller holds
     * OUT's lock, so no one else is using it */
    char *part = io_part_path(path);
    if (io_world_rank() == 0) remove(part);
    free(part);
    ae_out *out = io_out_new(path);
    file_layout lay;
    out->file = io_open_file(path, H5F_ACC_RDWR);
    if (out->file < 0) {
        io_h5_fail(err, path, "opening the output for --resume", __FILE__, __LINE__);
        goto fail;
    }
    if (io_check_stamp(out->file, path, "--resume", err) || check_same_config(out->file, path, job, err) ||
        io_read_layout(out->file, path, &lay, err) || check_grid_layout(&lay, job, path, err))
        goto fail;
    out->rank = lay.rank;
    out->n_max = lay.n_max;
    out->m_max = lay.m_max;
    out->fields = lay.fields;
    for (size_t v = 0; v < N_OUT_VARS; v++) {
        if (!io_has_field(out->fields, v)) continue;
        const out_var *var = &out_vars[v];
        H5_OR_FAIL(out->vars[v] = H5Dopen2(out->file, var->name, H5P_DEFAULT));
        hid_t want = var->type == VT_REAL ? io_file_real_type(job->grid) : io_h5_type(var->type);
        if (check_type(out->vars[v], want, var->name, path, err)) goto fail;
    }
    H5_OR_FAIL(out->done = H5Dopen2(out->file, "done", H5P_DEFAULT));
    if (check_type(out->done, H5T_NATIVE_UINT8, "done", path, err)) goto fail;
    H5_OR_FAIL(H5Dread(out->done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done));
    if (job->cfg->trajectory_every) {
        if (open_trajectories(out, job, err)) goto fail;
    } else {
        out->traj_done = 1;
    }
    return out;
fail:
    io_out_free(out);
    return NULL;
}
