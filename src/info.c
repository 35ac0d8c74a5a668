/*
 * info.c - `aesweep info FILE`: how far a sweep got, what its runs ended as (with 95 %
 * Wilson intervals, overall and per value of every grid axis), and where it came from.
 * Works on unfinished files: only runs marked done are counted.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_io.h"
#include "ae_stats.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INFO_ROWS_MAX 40 /* values of one axis shown before eliding */

#define K AE_OUTCOME_COUNT

typedef struct {
    char name[64];
    hsize_t count;
    char **labels; /* printable coordinate values */
} info_axis;

static void print_attr(hid_t file, const char *label, const char *name)
{
    if (H5Aexists(file, name) <= 0) return;
    hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    hid_t type = H5Aget_type(attr);
    if (H5Tget_class(type) == H5T_STRING) {
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        char *text = NULL;
        if (H5Tis_variable_str(type) > 0 && H5Aread(attr, mem, &text) >= 0 && text) {
            printf("%-16s %s\n", label, text);
            H5free_memory(text);
        }
        H5Tclose(mem);
    } else {
        double value = 0;
        if (H5Aread(attr, H5T_NATIVE_DOUBLE, &value) >= 0) printf("%-16s %.4g\n", label, value);
    }
    H5Tclose(type);
    H5Aclose(attr);
}

static herr_t grab_scale(hid_t did, unsigned dim, hid_t dsid, void *out)
{
    (void)did, (void)dim;
    *(hid_t *)out = H5Dopen2(dsid, ".", H5P_DEFAULT);
    return 1; /* first scale only */
}

/* Name and printable values of dimension d of ds. */
static int read_axis(hid_t ds, unsigned d, hsize_t count, info_axis *axis)
{
    hid_t scale = -1;
    axis->count = count;
    axis->labels = ae_xcalloc(count, sizeof(char *));
    snprintf(axis->name, sizeof axis->name, "dim%u", d);
    if (H5DSiterate_scales(ds, d, NULL, grab_scale, &scale) < 0 || scale < 0) {
        for (hsize_t k = 0; k < count; k++) {
            char text[32];
            snprintf(text, sizeof text, "%llu", (unsigned long long)k);
            axis->labels[k] = ae_xstrdup(text);
        }
        return 0;
    }
    H5DSget_scale_name(scale, axis->name, sizeof axis->name);
    hid_t type = H5Dget_type(scale);
    if (H5Tget_class(type) == H5T_STRING) {
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        char **names = ae_xcalloc(count, sizeof(char *));
        H5Dread(scale, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, names);
        for (hsize_t k = 0; k < count; k++) axis->labels[k] = ae_xstrdup(names[k] ? names[k] : "?");
        hid_t space = H5Dget_space(scale);
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mem, space, H5P_DEFAULT, names);
#else
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, names);
#endif
        H5Sclose(space);
        free(names);
        H5Tclose(mem);
    } else {
        double *values = ae_xcalloc(count, sizeof(double));
        H5Dread(scale, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
        for (hsize_t k = 0; k < count; k++) {
            char text[32];
            snprintf(text, sizeof text, "%.6g", values[k]);
            axis->labels[k] = ae_xstrdup(text);
        }
        free(values);
    }
    H5Tclose(type);
    H5Dclose(scale);
    return 0;
}

/* One table row: done runs and each outcome's fraction with its Wilson interval. */
static void print_row(const char *label, const uint64_t counts[K], uint64_t done)
{
    printf("  %-12s %9llu", label, (unsigned long long)done);
    for (int k = 0; k < K; k++) {
        double lo, hi;
        ae_wilson(counts[k], done, &lo, &hi);
        if (done)
            printf("   %5.1f%% [%5.1f,%5.1f]", 100.0 * (double)counts[k] / (double)done, 100 * lo, 100 * hi);
        else
            printf("   %21s", "-");
    }
    printf("\n");
}

static void print_header(const char *first)
{
    printf("  %-12s %9s", first, "done");
    for (int k = 0; k < K; k++) printf("   %-21s", ae_outcome_name(k));
    printf("\n");
}

int ae_info(const char *path, ae_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    /* A running sweep holds HDF5's file lock.  Reading past it is safe here: the file's
     * metadata never changes after creation and `done` marks only flushed records. */
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return ae_fail_runtime(err, "%s: cannot open as HDF5 (missing or not an aesweep file?)", path);
    hid_t outcome_ds = H5Dopen2(file, "outcome", H5P_DEFAULT), done_ds = H5Dopen2(file, "done", H5P_DEFAULT);
    if (outcome_ds < 0 || done_ds < 0) {
        H5Fclose(file);
        return ae_fail_runtime(err, "%s: not an aesweep output (no outcome/done variables)", path);
    }
    hid_t space = H5Dget_space(outcome_ds);
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[AE_AXES_MAX + 3];
    H5Sget_simple_extent_dims(space, dims, NULL);
    hssize_t total = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    int8_t *outcome = ae_xmalloc((size_t)total);
    uint8_t *done = ae_xmalloc((size_t)total);
    int status = 0;
    if (H5Dread(outcome_ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, outcome) < 0 ||
        H5Dread(done_ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) < 0) {
        status = ae_fail_runtime(err, "%s: cannot read outcome/done", path);
        goto cleanup;
    }
    info_axis axes[AE_AXES_MAX + 1];
    printf("%-16s %s\n", "file", path);
    print_attr(file, "aesweep", "aesweep_version");
    print_attr(file, "git commit", "git_commit");
    print_attr(file, "config", "config_path");
    print_attr(file, "backend", "backend");
    print_attr(file, "device", "device");
    print_attr(file, "started", "start_time");
    print_attr(file, "ended", "end_time");
    print_attr(file, "model-steps/s", "model_steps_per_second");
    printf("%-16s", "grid");
    for (int a = 0; a < rank; a++) {
        read_axis(outcome_ds, (unsigned)a, dims[a], &axes[a]);
        printf("%s %s[%llu: %s .. %s]", a ? " x" : "", axes[a].name, (unsigned long long)dims[a], axes[a].labels[0],
               axes[a].labels[dims[a] - 1]);
    }
    printf("%s = %lld runs\n", rank ? "" : " (one run)", (long long)total);
    uint64_t counts[K] = {0}, n_done = 0;
    for (hssize_t r = 0; r < total; r++)
        if (done[r] && outcome[r] >= 0 && outcome[r] < K) counts[outcome[r]]++, n_done++;
    printf("%-16s %llu / %lld (%.1f%%)%s\n", "done", (unsigned long long)n_done, (long long)total,
           total ? 100.0 * (double)n_done / (double)total : 0.0, n_done < (uint64_t)total ? "  -- incomplete (still running, or stopped: --resume finishes it)" : "");
    printf("\noutcomes (fraction of done runs, 95%% Wilson interval)\n");
    print_header("");
    print_row("all", counts, n_done);
    /* one pass: per axis, per value, runs done and runs of each outcome */
    uint64_t *by_value[AE_AXES_MAX + 1];
    for (int a = 0; a < rank; a++) by_value[a] = ae_xcalloc(dims[a] * (K + 1), sizeof(uint64_t));
    for (hssize_t r = 0; r < total; r++) {
        if (!done[r] || outcome[r] < 0 || outcome[r] >= K) continue;
        uint64_t rest = (uint64_t)r;
        for (int a = rank - 1; a >= 0; a--) {
            uint64_t *cell = by_value[a] + rest % dims[a] * (K + 1);
            cell[outcome[r]]++, cell[K]++;
            rest /= dims[a];
        }
    }
    for (int a = 0; a < rank; a++) {
        printf("\nby %s\n", axes[a].name);
        print_header(axes[a].name);
        for (hsize_t v = 0; v < dims[a]; v++) {
            if (v == INFO_ROWS_MAX) {
                printf("  ... %llu more values\n", (unsigned long long)(dims[a] - v));
                break;
            }
            print_row(axes[a].labels[v], by_value[a] + v * (K + 1), by_value[a][v * (K + 1) + K]);
        }
        free(by_value[a]);
    }
    for (int a = 0; a < rank; a++) {
        for (hsize_t v = 0; v < dims[a]; v++) free(axes[a].labels[v]);
        free(axes[a].labels);
    }
cleanup:
    free(outcome);
    free(done);
    H5Dclose(outcome_ds);
    H5Dclose(done_ds);
    H5Fclose(file);
    return status;
}
