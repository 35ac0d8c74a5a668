/*
 * io_hdf5.c - the output file of a sweep, and base states read back from one.
 *
 * Layout (DESIGN.md section 7): one coordinate variable and dimension scale per grid
 * axis, plus `feature` and `latent`; per-run variables over the axes, per-feature ones
 * over (axes, feature), W_final over (axes, feature, latent); `done` per run.  Every
 * dataset is contiguous and allocated (with its fill value) when the file is created,
 * so writing a batch touches raw data only: a sweep killed at any moment leaves the
 * file's metadata as it was after creation, readable, and `--resume` completes it.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_io.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef AE_GIT_COMMIT
#define AE_GIT_COMMIT "unknown"
#endif

/* ------------------------------------------------------------------------ */
/* The variables                                                             */
/* ------------------------------------------------------------------------ */

typedef enum { PER_RUN, PER_FEATURE, PER_WEIGHT } var_shape;
typedef enum { VT_I8, VT_U8, VT_I16, VT_I64, VT_F32 } var_type;

typedef struct {
    const char *name;
    var_shape shape;
    var_type type;
    size_t field; /* offset of the array pointer in ae_results */
    double fill;
    const char *units, *long_name;
} out_var;

#define RES(f) offsetof(ae_results, f)
static const out_var out_vars[] = {
    {"outcome", PER_RUN, VT_I8, RES(outcome), -1, "1", "training outcome"},
    {"recovered", PER_RUN, VT_I8, RES(recovered), -1, "1", "recovered after a failure plateau (1) or not (0)"},
    {"n_learnt", PER_RUN, VT_I16, RES(n_learnt), -1, "1", "learnt features (Y_ii >= 0.5)"},
    {"radius_levels", PER_RUN, VT_I16, RES(radius_levels), -1, "1", "distinct norm levels of learnt features"},
    {"recovery_step", PER_RUN, VT_I64, RES(recovery_step), -2, "step", "step of recovery (-1: none)"},
    {"first_perfect_step", PER_RUN, VT_I64, RES(first_perfect_step), -2, "step",
     "first checked step with every feature learnt (-1: never)"},
    {"diverged_step", PER_RUN, VT_I64, RES(diverged_step), -2, "step", "step the loss became non-finite (-1: never)"},
    {"loss", PER_RUN, VT_F32, RES(loss), NAN, "1", "final MSE loss"},
    {"splay", PER_RUN, VT_F32, RES(splay), NAN, "1", "splay, sum of feature norms"},
    {"asymmetry", PER_RUN, VT_F32, RES(asymmetry), NAN, "1", "norm of the feature sum over the splay"},
    {"min_gap", PER_RUN, VT_F32, RES(min_gap), NAN, "rad", "smallest angle between adjacent learnt features"},
    {"recon", PER_FEATURE, VT_F32, RES(recon), NAN, "1", "reconstruction of the active feature, Y_ii"},
    {"norm", PER_FEATURE, VT_F32, RES(norm), NAN, "1", "feature norm |W_i|"},
    {"b_final", PER_FEATURE, VT_F32, RES(b_final), NAN, "1", "final bias b_i"},
    {"W_final", PER_WEIGHT, VT_F32, RES(W_final), NAN, "1", "final weights W_i"},
};
#define N_OUT_VARS (sizeof out_vars / sizeof out_vars[0])
static const char *const outcome_names[] = {"perfect", "mean_bias_failure", "dead_failure", "diverged"};

static hid_t h5_type(var_type type)
{
    switch (type) {
    case VT_I8: return H5T_NATIVE_INT8;
    case VT_U8: return H5T_NATIVE_UINT8;
    case VT_I16: return H5T_NATIVE_INT16;
    case VT_I64: return H5T_NATIVE_INT64;
    default: return H5T_NATIVE_FLOAT;
    }
}

/* The fill value in the variable's own type (netCDF wants _FillValue to match). */
static void fill_bytes(const out_var *v, void *out)
{
    switch (v->type) {
    case VT_I8: *(int8_t *)out = (int8_t)v->fill; break;
    case VT_U8: *(uint8_t *)out = (uint8_t)v->fill; break;
    case VT_I16: *(int16_t *)out = (int16_t)v->fill; break;
    case VT_I64: *(int64_t *)out = (int64_t)v->fill; break;
    default: *(float *)out = (float)v->fill; break;
    }
}

/* ------------------------------------------------------------------------ */
/* Checked HDF5 calls: a failure names the call, the place, and HDF5's reason. */
/* ------------------------------------------------------------------------ */

static herr_t first_error(unsigned depth, const H5E_error2_t *entry, void *out)
{
    if (depth == 0) snprintf(out, 256, "%s (%s)", entry->desc ? entry->desc : "", entry->func_name);
    return 0;
}

static int h5_fail(ae_error *err, const char *call, const char *file, int line)
{
    char reason[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, reason);
    return ae_fail_runtime(err, "HDF5: %s failed at %s:%d: %s", call, file, line, reason);
}

#define H5_TRY(expr)                                                                                            \
    do {                                                                                                         \
        if ((expr) < 0) return h5_fail(err, #expr, __FILE__, __LINE__);                                          \
    } while (0)

static int put_text_attr(hid_t object, const char *name, const char *text, ae_error *err)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5_TRY(type);
    H5_TRY(H5Tset_size(type, H5T_VARIABLE));
    H5_TRY(H5Tset_cset(type, H5T_CSET_UTF8));
    hid_t space = H5Screate(H5S_SCALAR);
    H5_TRY(space);
    if (H5Aexists(object, name) > 0) H5_TRY(H5Adelete(object, name));
    hid_t attr = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5_TRY(attr);
    H5_TRY(H5Awrite(attr, type, &text));
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    return 0;
}

static int put_array_attr(hid_t object, const char *name, hid_t type, hsize_t count, const void *values,
                          ae_error *err)
{
    hid_t space = count == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &count, NULL);
    H5_TRY(space);
    if (H5Aexists(object, name) > 0) H5_TRY(H5Adelete(object, name));
    hid_t attr = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5_TRY(attr);
    H5_TRY(H5Awrite(attr, type, values));
    H5Aclose(attr);
    H5Sclose(space);
    return 0;
}

static char *get_text_attr(hid_t object, const char *name)
{
    if (H5Aexists(object, name) <= 0) return NULL;
    hid_t attr = H5Aopen(object, name, H5P_DEFAULT);
    if (attr < 0) return NULL;
    hid_t file_type = H5Aget_type(attr);
    char *result = NULL;
    if (H5Tget_class(file_type) == H5T_STRING) {
        if (H5Tis_variable_str(file_type) > 0) {
            hid_t type = H5Tcopy(H5T_C_S1);
            H5Tset_size(type, H5T_VARIABLE);
            H5Tset_cset(type, H5Tget_cset(file_type));
            char *text = NULL;
            if (H5Aread(attr, type, &text) >= 0 && text) {
                result = ae_xstrdup(text);
                H5free_memory(text);
            }
            H5Tclose(type);
        } else {
            size_t size = H5Tget_size(file_type);
            result = ae_xcalloc(size + 1, 1);
            H5Aread(attr, file_type, result);
        }
    }
    H5Tclose(file_type);
    H5Aclose(attr);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Selecting a contiguous range of flat run numbers in an N-d dataset         */
/* ------------------------------------------------------------------------ */

typedef struct {
    hid_t space;
    int rank;                           /* grid dims */
    int extra;                          /* trailing feature/latent dims, selected whole */
    hsize_t dims[AE_AXES_MAX + 3];
    hsize_t start[AE_AXES_MAX + 3], size[AE_AXES_MAX + 3];
} run_selection;

static herr_t add_block(run_selection *sel, int level)
{
    for (int d = level + 1; d < sel->rank + sel->extra; d++) sel->start[d] = 0, sel->size[d] = sel->dims[d];
    return H5Sselect_hyperslab(sel->space, H5S_SELECT_OR, sel->start, NULL, sel->size, NULL);
}

/* Selects runs [lo, hi) of the sub-grid below the fixed prefix start[0..level): a range
 * of flat indices is a partial head row, whole rows, and a partial tail row. */
static herr_t select_range(run_selection *sel, int level, uint64_t lo, uint64_t hi)
{
    if (lo >= hi) return 0;
    uint64_t inner = 1;
    for (int d = level + 1; d < sel->rank; d++) inner *= sel->dims[d];
    uint64_t first_row = lo / inner, last_row = (hi - 1) / inner;
    if (first_row == last_row && (lo % inner || hi - lo < inner)) {
        sel->start[level] = first_row, sel->size[level] = 1;
        return select_range(sel, level + 1, lo - first_row * inner, hi - first_row * inner);
    }
    uint64_t whole_lo = first_row, whole_hi = last_row + 1;
    if (lo % inner) {
        sel->start[level] = first_row, sel->size[level] = 1;
        if (select_range(sel, level + 1, lo % inner, inner) < 0) return -1;
        whole_lo = first_row + 1;
    }
    if (hi % inner) {
        sel->start[level] = last_row, sel->size[level] = 1;
        if (select_range(sel, level + 1, 0, hi - last_row * inner) < 0) return -1;
        whole_hi = last_row;
    }
    if (whole_lo < whole_hi) {
        sel->start[level] = whole_lo, sel->size[level] = whole_hi - whole_lo;
        return add_block(sel, level);
    }
    return 0;
}

static herr_t select_runs(hid_t space, int rank, int extra, uint64_t first, uint64_t count)
{
    run_selection sel = {.space = space, .rank = rank, .extra = extra};
    if (H5Sget_simple_extent_dims(space, sel.dims, NULL) < 0) return -1;
    if (rank == 0) return H5Sselect_all(space);
    if (H5Sselect_none(space) < 0) return -1;
    return select_range(&sel, 0, first, first + count);
}

/* ------------------------------------------------------------------------ */
/* Creating the file                                                         */
/* ------------------------------------------------------------------------ */

struct ae_out {
    hid_t file;
    int rank; /* grid dims */
    hid_t vars[N_OUT_VARS];
    hid_t done;
    uint64_t n_max, m_max;
};

static int make_coordinate(hid_t file, const char *name, const ae_axis *axis, const char *units,
                           const char *long_name, hid_t *out, ae_error *err)
{
    hsize_t count = axis->count;
    hid_t space = H5Screate_simple(1, &count, NULL);
    H5_TRY(space);
    hid_t ds;
    const ae_setting *s = axis->setting;
    if (s && s->type == AE_SET_ENUM) {
        hid_t type = H5Tcopy(H5T_C_S1);
        H5_TRY(type);
        H5_TRY(H5Tset_size(type, H5T_VARIABLE));
        H5_TRY(H5Tset_cset(type, H5T_CSET_UTF8));
        const char **names = ae_xcalloc(count, sizeof(char *));
        for (hsize_t k = 0; k < count; k++) names[k] = s->names[(int)axis->values[k]];
        ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5_TRY(ds);
        H5_TRY(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, names));
        free(names);
        H5Tclose(type);
    } else if (s && s->type == AE_SET_REAL) {
        ds = H5Dcreate2(file, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5_TRY(ds);
        H5_TRY(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, axis->values));
    } else {
        int64_t *ints = ae_xcalloc(count, sizeof(int64_t));
        for (hsize_t k = 0; k < count; k++) ints[k] = (int64_t)axis->values[k];
        ds = H5Dcreate2(file, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5_TRY(ds);
        H5_TRY(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ints));
        free(ints);
    }
    H5_TRY(H5DSset_scale(ds, name));
    if (put_text_attr(ds, "long_name", long_name, err) || put_text_attr(ds, "units", units, err)) return -1;
    H5Sclose(space);
    *out = ds;
    return 0;
}

/* A variable over the first `rank` dims of `scales`, allocated now with its fill value. */
static int make_variable(hid_t file, const char *name, hid_t type, const void *fill, int rank, const hsize_t *dims,
                         const hid_t *scales, hid_t *out, ae_error *err)
{
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    H5_TRY(space);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_TRY(dcpl);
    H5_TRY(H5Pset_layout(dcpl, H5D_CONTIGUOUS));
    H5_TRY(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
    H5_TRY(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
    H5_TRY(H5Pset_fill_value(dcpl, type, fill));
    hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5_TRY(ds);
    for (int d = 0; d < rank; d++) H5_TRY(H5DSattach_scale(ds, scales[d], (unsigned)d));
    H5Pclose(dcpl);
    H5Sclose(space);
    *out = ds;
    return 0;
}

static int write_provenance(hid_t file, const ae_job *job, const ae_provenance *prov, ae_error *err)
{
    char *json = ae_config_json(job->cfg);
    ae_strbuf config = {0};
    ae_strbuf_printf(&config, "%s", job->cfg->text);
    if (job->cfg->overrides && job->cfg->overrides[0])
        ae_strbuf_printf(&config, "\n# --set overrides:\n%s", job->cfg->overrides);
    int status = put_text_attr(file, "title", "aesweep sweep of tiny ReLU autoencoders", err) ||
                 put_text_attr(file, "Conventions", "CF-1.8", err) ||
                 put_text_attr(file, "config", config.data, err) || put_text_attr(file, "config_json", json, err) ||
                 put_text_attr(file, "config_path", job->cfg->path, err) ||
                 put_text_attr(file, "aesweep_version", AE_VERSION, err) ||
                 put_text_attr(file, "git_commit", AE_GIT_COMMIT, err) ||
                 put_text_attr(file, "backend", prov->backend, err) ||
                 put_text_attr(file, "device", prov->device, err) ||
                 put_text_attr(file, "start_time", prov->start_time, err) ||
                 put_text_attr(file, "end_time", prov->end_time, err) ||
                 put_array_attr(file, "model_steps_per_second", H5T_NATIVE_DOUBLE, 0,
                                &prov->model_steps_per_second, err);
    free(json);
    ae_strbuf_free(&config);
    return status ? -1 : 0;
}

static int create_layout(ae_out *out, const ae_job *job, ae_error *err)
{
    const ae_grid *grid = job->grid;
    hid_t file = out->file;
    hid_t scales[AE_AXES_MAX + 3];
    hsize_t dims[AE_AXES_MAX + 3];
    int rank = grid->n_axes;
    for (int a = 0; a < rank; a++) {
        const ae_axis *axis = &grid->axes[a];
        const char *units = axis->setting ? axis->setting->units : "1";
        const char *long_name = axis->setting ? axis->setting->long_name : "index of the base state in its file";
        if (make_coordinate(file, axis->name, axis, units, long_name, &scales[a], err)) return -1;
        dims[a] = axis->count;
    }
    ae_axis feature = {.count = (uint64_t)grid->n_max}, latent = {.count = (uint64_t)grid->m_max};
    feature.values = ae_xcalloc(feature.count, sizeof(double));
    latent.values = ae_xcalloc(latent.count, sizeof(double));
    for (uint64_t k = 0; k < feature.count; k++) feature.values[k] = (double)k;
    for (uint64_t k = 0; k < latent.count; k++) latent.values[k] = (double)k;
    int status = make_coordinate(file, "feature", &feature, "1", "feature index i", &scales[rank], err) ||
                 make_coordinate(file, "latent", &latent, "1", "latent dimension", &scales[rank + 1], err);
    free(feature.values);
    free(latent.values);
    if (status) return -1;
    dims[rank] = feature.count;
    dims[rank + 1] = latent.count;
    for (size_t v = 0; v < N_OUT_VARS; v++) {
        const out_var *var = &out_vars[v];
        int var_rank = rank + (var->shape == PER_FEATURE) + 2 * (var->shape == PER_WEIGHT);
        char fill[8];
        fill_bytes(var, fill);
        hid_t type = h5_type(var->type);
        if (make_variable(file, var->name, type, fill, var_rank, dims, scales, &out->vars[v], err)) return -1;
        if (put_text_attr(out->vars[v], "long_name", var->long_name, err) ||
            put_text_attr(out->vars[v], "units", var->units, err) ||
            put_array_attr(out->vars[v], "_FillValue", type, 0, fill, err))
            return -1;
    }
    int8_t flags[4] = {0, 1, 2, 3};
    if (put_array_attr(out->vars[0], "flag_values", H5T_NATIVE_INT8, 4, flags, err) ||
        put_text_attr(out->vars[0], "flag_meanings", "perfect mean_bias_failure dead_failure diverged", err))
        return -1;
    uint8_t not_done = 0;
    if (make_variable(file, "done", H5T_NATIVE_UINT8, &not_done, rank, dims, scales, &out->done, err) ||
        put_text_attr(out->done, "long_name", "run record written (1) or not yet (0)", err) ||
        put_text_attr(out->done, "units", "1", err))
        return -1;
    for (int d = 0; d < rank + 2; d++) H5Dclose(scales[d]);
    out->rank = rank;
    out->n_max = feature.count;
    out->m_max = latent.count;
    return 0;
}

ae_out *ae_out_create(const char *path, const ae_job *job, const ae_provenance *prov, int force, ae_error *err)
{
    if (!force && access(path, F_OK) == 0) {
        ae_fail(err, "%s exists: use --resume to complete it or --force to overwrite it", path);
        return NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    ae_out *out = ae_xcalloc(1, sizeof *out);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* netCDF-4 tracks creation order; readers such as netCDF-C expect it */
    H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    out->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (out->file < 0) {
        h5_fail(err, "H5Fcreate", __FILE__, __LINE__);
        snprintf(err->msg, sizeof err->msg, "%s: cannot create the output file (is the folder there and writable?)",
                 path);
        free(out);
        return NULL;
    }
    if (create_layout(out, job, err) || write_provenance(out->file, job, prov, err) ||
        H5Fflush(out->file, H5F_SCOPE_GLOBAL) < 0) {
        if (!err->msg[0]) h5_fail(err, "H5Fflush", __FILE__, __LINE__);
        H5Fclose(out->file);
        free(out);
        return NULL;
    }
    return out;
}

/* The `trajectory` group: its own run, step, feature and latent dimensions. */
int ae_out_write_trajectories(ae_out *out, const ae_trajectories *traj, ae_error *err)
{
    if (traj->count == 0) return 0;
    hid_t group = H5Gcreate2(out->file, "trajectory", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5_TRY(group);
    ae_axis axes[4] = {{.count = (uint64_t)traj->count}, {.count = (uint64_t)traj->points},
                       {.count = (uint64_t)traj->n_max}, {.count = (uint64_t)traj->m_max}};
    const char *names[4] = {"run", "step", "feature", "latent"};
    const char *long_names[4] = {"flat index of the run in the grid", "training step", "feature index i",
                                 "latent dimension"};
    hid_t scales[4];
    hsize_t dims[4];
    for (int d = 0; d < 4; d++) {
        axes[d].values = ae_xcalloc(axes[d].count, sizeof(double));
        for (uint64_t k = 0; k < axes[d].count; k++)
            axes[d].values[k] = d == 0 ? (double)traj->runs[k] : d == 1 ? (double)(k * (uint64_t)traj->every) : (double)k;
        int status = make_coordinate(group, names[d], &axes[d], d == 1 ? "step" : "1", long_names[d], &scales[d], err);
        free(axes[d].values);
        if (status) return -1;
        dims[d] = axes[d].count;
    }
    const struct {
        const char *name, *long_name;
        int rank;
        const float *data;
        hid_t scale_dims[4];
    } vars[3] = {{"loss", "MSE loss", 2, traj->loss, {scales[0], scales[1]}},
                 {"W", "weights W_i", 4, traj->W, {scales[0], scales[1], scales[2], scales[3]}},
                 {"b", "bias b_i", 3, traj->b, {scales[0], scales[1], scales[2]}}};
    hsize_t var_dims[4];
    for (int v = 0; v < 3; v++) {
        float fill = NAN;
        hid_t ds;
        for (int d = 0; d < vars[v].rank; d++) var_dims[d] = dims[d];
        if (make_variable(group, vars[v].name, H5T_NATIVE_FLOAT, &fill, vars[v].rank, var_dims, vars[v].scale_dims, &ds,
                          err) ||
            put_text_attr(ds, "long_name", vars[v].long_name, err) || put_text_attr(ds, "units", "1", err) ||
            put_array_attr(ds, "_FillValue", H5T_NATIVE_FLOAT, 0, &fill, err))
            return -1;
        H5_TRY(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, vars[v].data));
        H5Dclose(ds);
    }
    for (int d = 0; d < 4; d++) H5Dclose(scales[d]);
    H5Gclose(group);
    H5_TRY(H5Fflush(out->file, H5F_SCOPE_GLOBAL));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Resuming                                                                  */
/* ------------------------------------------------------------------------ */

/* "what differs" between two resolved configs, line by line. */
static void describe_difference(const char *old_json, const char *new_json, ae_strbuf *sb)
{
    const char *a = old_json, *b = new_json;
    int shown = 0;
    while ((*a || *b) && shown < 6) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || strncmp(a, b, la) != 0) {
            ae_strbuf_printf(sb, "\n  file:   %.*s\n  config: %.*s", (int)(la > 200 ? 200 : la), a,
                             (int)(lb > 200 ? 200 : lb), b);
            shown++;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
}

ae_out *ae_out_resume(const char *path, const ae_job *job, uint8_t *done, ae_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    ae_out *out = ae_xcalloc(1, sizeof *out);
    out->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (out->file < 0) {
        ae_fail_runtime(err, "%s: cannot open for --resume (missing, not HDF5, or locked by a running sweep)", path);
        free(out);
        return NULL;
    }
    char *stored = get_text_attr(out->file, "config_json");
    char *json = ae_config_json(job->cfg);
    if (!stored || strcmp(stored, json) != 0) {
        ae_strbuf diff = {0};
        ae_strbuf_printf(&diff, "%s", "");
        if (stored) describe_difference(stored, json, &diff);
        ae_fail(err, "%s: --resume with a different config is refused%s%s", path,
                stored ? "; what differs:" : " (the file has no aesweep config)", diff.data);
        ae_strbuf_free(&diff);
        free(stored);
        free(json);
        H5Fclose(out->file);
        free(out);
        return NULL;
    }
    free(stored);
    free(json);
    out->rank = job->grid->n_axes;
    out->n_max = (uint64_t)job->grid->n_max;
    out->m_max = (uint64_t)job->grid->m_max;
    int failed = 0;
    for (size_t v = 0; v < N_OUT_VARS; v++) failed |= (out->vars[v] = H5Dopen2(out->file, out_vars[v].name, H5P_DEFAULT)) < 0;
    out->done = H5Dopen2(out->file, "done", H5P_DEFAULT);
    if (failed || out->done < 0 || H5Dread(out->done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) < 0) {
        h5_fail(err, "opening the variables for --resume", __FILE__, __LINE__);
        ae_out_close(out, NULL, NULL);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------------ */
/* Writing batches                                                           */
/* ------------------------------------------------------------------------ */

static int write_runs(ae_out *out, hid_t ds, hid_t mem_type, int extra, uint64_t per_run, uint64_t first,
                      uint64_t count, const void *data, ae_error *err)
{
    hid_t file_space = H5Dget_space(ds);
    H5_TRY(file_space);
    H5_TRY(select_runs(file_space, out->rank, extra, first, count));
    hsize_t elements = count * per_run;
    hid_t mem_space = H5Screate_simple(1, &elements, NULL);
    H5_TRY(mem_space);
    H5_TRY(H5Dwrite(ds, mem_type, mem_space, file_space, H5P_DEFAULT, data));
    H5Sclose(mem_space);
    H5Sclose(file_space);
    return 0;
}

int ae_out_write(ae_out *out, uint64_t first, uint64_t count, const ae_results *res, ae_error *err)
{
    for (size_t v = 0; v < N_OUT_VARS; v++) {
        const out_var *var = &out_vars[v];
        const void *data = *(void *const *)((const char *)res + var->field);
        int extra = var->shape == PER_RUN ? 0 : var->shape == PER_FEATURE ? 1 : 2;
        uint64_t per_run = var->shape == PER_RUN ? 1 : var->shape == PER_FEATURE ? out->n_max : out->n_max * out->m_max;
        if (write_runs(out, out->vars[v], h5_type(var->type), extra, per_run, first, count, data, err)) return -1;
    }
    H5_TRY(H5Fflush(out->file, H5F_SCOPE_GLOBAL));
    /* only now, with the records on disk, do the runs count as done */
    uint8_t *ones = ae_xmalloc(count);
    memset(ones, 1, count);
    int status = write_runs(out, out->done, H5T_NATIVE_UINT8, 0, 1, first, count, ones, err);
    free(ones);
    if (status) return -1;
    H5_TRY(H5Fflush(out->file, H5F_SCOPE_GLOBAL));
    return 0;
}

int ae_out_close(ae_out *out, const ae_provenance *prov, ae_error *err)
{
    int status = 0;
    if (prov) {
        status |= put_text_attr(out->file, "backend", prov->backend, err) ||
                  put_text_attr(out->file, "device", prov->device, err) ||
                  put_text_attr(out->file, "end_time", prov->end_time, err) ||
                  put_array_attr(out->file, "model_steps_per_second", H5T_NATIVE_DOUBLE, 0,
                                 &prov->model_steps_per_second, err);
    }
    for (size_t v = 0; v < N_OUT_VARS; v++)
        if (out->vars[v] > 0) H5Dclose(out->vars[v]);
    if (out->done > 0) H5Dclose(out->done);
    if (H5Fclose(out->file) < 0 && !status) status = h5_fail(err, "H5Fclose", __FILE__, __LINE__);
    free(out);
    return status ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Base states from a file                                                   */
/* ------------------------------------------------------------------------ */

/* Reads a whole float dataset; dims/rank out. */
static float *read_floats(hid_t file, const char *name, hsize_t *dims, int *rank, const char *path, ae_error *err)
{
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0) {
        ae_fail(err, "%s: has no variable %s", path, name);
        return NULL;
    }
    hid_t space = H5Dget_space(ds);
    *rank = H5Sget_simple_extent_ndims(space);
    H5Sget_simple_extent_dims(space, dims, NULL);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    float *data = ae_xmalloc((size_t)count * sizeof(float));
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        h5_fail(err, name, __FILE__, __LINE__);
        free(data);
        data = NULL;
    }
    H5Sclose(space);
    H5Dclose(ds);
    return data;
}

static int outcome_code(const char *name)
{
    for (int k = 0; k < 4; k++)
        if (strcmp(outcome_names[k], name) == 0) return k;
    return -1;
}

int ae_bases_load(ae_bases *bases, const char *path, const char *select, ae_error *err)
{
    memset(bases, 0, sizeof *bases);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return ae_fail(err, "init.file: cannot open %s as HDF5", path);
    hsize_t wdims[AE_AXES_MAX + 3], bdims[AE_AXES_MAX + 3];
    int wrank = 0, brank = 0, status = 0;
    float *W = NULL, *b = NULL;
    int8_t *outcome = NULL;
    W = read_floats(file, "W_final", wdims, &wrank, path, err);
    if (W) b = read_floats(file, "b_final", bdims, &brank, path, err);
    if (!W || !b) {
        status = -1;
        goto done;
    }
    uint64_t runs = 1;
    for (int d = 0; d < wrank - 2; d++) runs *= wdims[d];
    int n = wrank >= 2 ? (int)wdims[wrank - 2] : 0, m = wrank >= 2 ? (int)wdims[wrank - 1] : 0;
    if (wrank < 2 || brank != wrank - 1 || (int)bdims[brank - 1] != n || n < AE_N_MIN || n > AE_N_MAX ||
        m < AE_M_MIN || m > AE_M_MAX) {
        status = ae_fail(err, "%s: W_final must be (runs..., feature, latent) and b_final (runs..., feature) with "
                              "2 <= feature <= 256 and 1 <= latent <= 4",
                         path);
        goto done;
    }
    const char *sel = select ? select : "all";
    int want = -1, first_only = 0;
    uint64_t index = 0;
    if (strncmp(sel, "first:", 6) == 0 || strncmp(sel, "all:", 4) == 0) {
        first_only = sel[0] == 'f';
        const char *name = strchr(sel, ':') + 1;
        want = outcome_code(name);
        if (want < 0) {
            status = ae_fail(err, "init.select = \"%s\": unknown outcome \"%s\" (perfect, mean_bias_failure, "
                                  "dead_failure, diverged)",
                             sel, name);
            goto done;
        }
        outcome = ae_xmalloc(runs);
        hid_t ds = H5Dopen2(file, "outcome", H5P_DEFAULT);
        if (ds < 0 || H5Dread(ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, outcome) < 0) {
            status = ae_fail(err, "%s: init.select by outcome needs an `outcome` variable", path);
            if (ds >= 0) H5Dclose(ds);
            goto done;
        }
        H5Dclose(ds);
    } else if (strcmp(sel, "all") != 0) {
        char *end;
        index = strtoull(sel, &end, 10);
        if (end == sel || *end || sel[0] == '-') {
            status = ae_fail(err, "init.select = \"%s\": expects all, a run index, first:<outcome> or all:<outcome>",
                             sel);
            goto done;
        }
        if (index >= runs) {
            status = ae_fail(err, "init.select = %s: %s has only %llu runs", sel, path, (unsigned long long)runs);
            goto done;
        }
    }
    bases->n = n;
    bases->m = m;
    bases->W = ae_xmalloc(runs * (uint64_t)(n * m) * sizeof(float));
    bases->b = ae_xmalloc(runs * (uint64_t)n * sizeof(float));
    bases->source_index = ae_xmalloc(runs * sizeof(int64_t));
    for (uint64_t r = 0; r < runs; r++) {
        int picked = want >= 0 ? outcome[r] == want : strcmp(sel, "all") == 0 || r == index;
        if (!picked) continue;
        uint64_t k = bases->count++;
        memcpy(bases->W + k * (uint64_t)(n * m), W + r * (uint64_t)(n * m), (size_t)(n * m) * sizeof(float));
        memcpy(bases->b + k * (uint64_t)n, b + r * (uint64_t)n, (size_t)n * sizeof(float));
        bases->source_index[k] = (int64_t)r;
        for (int e = 0; e < n * m; e++)
            if (!isfinite(bases->W[k * (uint64_t)(n * m) + (uint64_t)e])) status = -1;
        for (int i = 0; i < n; i++)
            if (!isfinite(bases->b[k * (uint64_t)n + (uint64_t)i])) status = -1;
        if (status) {
            ae_fail(err, "%s: base state of run %llu is not finite (not done, diverged, or padded to a larger n)", path,
                    (unsigned long long)r);
            goto done;
        }
        if (first_only) break;
    }
    if (bases->count == 0) status = ae_fail(err, "init.select = \"%s\": no run of %s matches", sel, path);
done:
    free(W);
    free(b);
    free(outcome);
    H5Fclose(file);
    if (status) ae_bases_free(bases);
    return status;
}

void ae_bases_free(ae_bases *bases)
{
    free(bases->W);
    free(bases->b);
    free(bases->source_index);
    memset(bases, 0, sizeof *bases);
}

/* ------------------------------------------------------------------------ */
/* Merging shards                                                            */
/* ------------------------------------------------------------------------ */

/* Copies the records of the runs done in `from` into `into`, variable by variable. */
static int merge_records(hid_t into, hid_t from, const uint8_t *from_done, uint64_t runs, ae_error *err)
{
    for (size_t v = 0; v <= N_OUT_VARS; v++) {
        const char *name = v < N_OUT_VARS ? out_vars[v].name : "done";
        hid_t src = H5Dopen2(from, name, H5P_DEFAULT), dst = H5Dopen2(into, name, H5P_DEFAULT);
        H5_TRY(src);
        H5_TRY(dst);
        hid_t file_type = H5Dget_type(src);
        hid_t type = H5Tget_native_type(file_type, H5T_DIR_ASCEND);
        hid_t space = H5Dget_space(src);
        size_t element = H5Tget_size(type);
        uint64_t per_run = (uint64_t)H5Sget_simple_extent_npoints(space) / runs;
        size_t bytes = (size_t)(runs * per_run) * element, run_bytes = (size_t)per_run * element;
        char *src_data = ae_xmalloc(bytes), *dst_data = ae_xmalloc(bytes);
        H5_TRY(H5Dread(src, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, src_data));
        H5_TRY(H5Dread(dst, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst_data));
        for (uint64_t r = 0; r < runs; r++)
            if (from_done[r]) memcpy(dst_data + r * run_bytes, src_data + r * run_bytes, run_bytes);
        H5_TRY(H5Dwrite(dst, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst_data));
        free(src_data);
        free(dst_data);
        H5Sclose(space);
        H5Tclose(type);
        H5Tclose(file_type);
        H5Dclose(src);
        H5Dclose(dst);
    }
    return 0;
}

static int read_done(hid_t file, uint8_t **done, uint64_t *runs, ae_error *err)
{
    hid_t ds = H5Dopen2(file, "done", H5P_DEFAULT);
    H5_TRY(ds);
    hid_t space = H5Dget_space(ds);
    *runs = (uint64_t)H5Sget_simple_extent_npoints(space);
    *done = ae_xmalloc(*runs);
    H5_TRY(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, *done));
    H5Sclose(space);
    H5Dclose(ds);
    return 0;
}

static int copy_file(const char *from, const char *to, ae_error *err)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    int status = 0;
    if (!in || !out) status = ae_fail_runtime(err, "cannot copy %s to %s", from, to);
    char chunk[1 << 16];
    size_t got;
    while (!status && (got = fread(chunk, 1, sizeof chunk, in)) > 0)
        if (fwrite(chunk, 1, got, out) != got) status = ae_fail_runtime(err, "%s: write failed (disk full?)", to);
    if (in) fclose(in);
    if (out && fclose(out) != 0 && !status) status = ae_fail_runtime(err, "%s: write failed (disk full?)", to);
    return status;
}

int ae_merge(const char *output, char *const *shards, int n_shards, int force, ae_error *err)
{
    if (n_shards < 1) return ae_fail(err, "merge: expects OUT.h5 SHARD.h5...");
    if (!force && access(output, F_OK) == 0) return ae_fail(err, "%s exists: use --force to overwrite it", output);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t first = H5Fopen(shards[0], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (first < 0) return ae_fail(err, "merge: cannot open %s as HDF5", shards[0]);
    char *config = get_text_attr(first, "config_json");
    H5Fclose(first);
    if (!config) return ae_fail(err, "merge: %s is not an aesweep output", shards[0]);
    int status = copy_file(shards[0], output, err);
    hid_t into = status ? -1 : H5Fopen(output, H5F_ACC_RDWR, H5P_DEFAULT);
    uint8_t *covered = NULL, *done = NULL;
    uint64_t runs = 0, shard_runs = 0;
    if (!status && (into < 0 || read_done(into, &covered, &runs, err))) status = ae_fail_runtime(err, "merge: cannot reopen %s", output);
    for (int k = 1; k < n_shards && !status; k++) {
        hid_t from = H5Fopen(shards[k], H5F_ACC_RDONLY, H5P_DEFAULT);
        if (from < 0) {
            status = ae_fail(err, "merge: cannot open %s as HDF5", shards[k]);
            break;
        }
        char *other = get_text_attr(from, "config_json");
        if (!other || strcmp(other, config) != 0) {
            ae_strbuf diff = {0};
            ae_strbuf_printf(&diff, "%s", "");
            if (other) describe_difference(config, other, &diff);
            status = ae_fail(err, "merge: %s comes from another config than %s%s", shards[k], shards[0], diff.data);
            ae_strbuf_free(&diff);
        } else if (read_done(from, &done, &shard_runs, err) == 0 && shard_runs == runs) {
            for (uint64_t r = 0; r < runs && !status; r++)
                if (done[r] && covered[r])
                    status = ae_fail(err, "merge: run %llu is in %s and an earlier shard", (unsigned long long)r, shards[k]);
            for (uint64_t r = 0; r < runs && !status; r++) covered[r] |= done[r];
            if (!status) status = merge_records(into, from, done, runs, err);
        } else if (!status) {
            status = ae_fail(err, "merge: %s has %llu runs, %s has %llu", shards[k], (unsigned long long)shard_runs,
                             shards[0], (unsigned long long)runs);
        }
        free(other);
        free(done);
        done = NULL;
        H5Fclose(from);
    }
    uint64_t missing = 0;
    for (uint64_t r = 0; r < runs && !status; r++) missing += !covered[r];
    if (!status && missing)
        status = ae_fail(err, "merge: the shards leave %llu of %llu runs undone (a shard missing or unfinished?)",
                         (unsigned long long)missing, (unsigned long long)runs);
    if (into >= 0) H5Fclose(into);
    if (status) remove(output);
    free(covered);
    free(config);
    return status;
}
