/*
 * io_bases.c - base states (init.scheme = "file"): W_final and b_final of selected runs
 * of an earlier output, every shape checked before use (the file may come from anyone).
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
/* Base states from a file                                                   */
/* ------------------------------------------------------------------------ */

/* Shapes of the base-state variables: W_final (runs..., feature, latent), b_final and
 * (when selecting by outcome) outcome over the same leading dims. */
static int bases_shape(hid_t file, const char *path, int need_outcome, uint64_t *runs, int *n, int *m, ae_error *err)
{
    hsize_t wdims[AE_AXES_MAX + 3], dims[AE_AXES_MAX + 3];
    int wrank, rank;
    /* an output that did not keep them (output.fields) can be no source of base states */
    const char *needed[3] = {"W_final", "b_final", need_outcome ? "outcome" : NULL};
    for (int k = 0; k < 3 && needed[k]; k++)
        if (H5Lexists(file, needed[k], H5P_DEFAULT) <= 0)
            return ae_fail(err, "%s: has no %s: base states need W_final and b_final%s (an output keeps them "
                                "unless its output.fields leaves them out)",
                           path, needed[k], need_outcome ? ", and init.select by outcome needs outcome" : "");
    if (io_dataset_dims(file, "W_final", 2, AE_AXES_MAX + 3, wdims, &wrank, path, err) ||
        io_dataset_dims(file, "b_final", wrank - 1, wrank - 1, dims, &rank, path, err))
        return -1;
    for (int d = 0; d < wrank - 1; d++)
        if (dims[d] != wdims[d]) return ae_fail(err, "%s: b_final is not over W_final's runs and features", path);
    if (need_outcome) {
        if (io_dataset_dims(file, "outcome", wrank - 2, wrank - 2, dims, &rank, path, err)) return -1;
        for (int d = 0; d < wrank - 2; d++)
            if (dims[d] != wdims[d]) return ae_fail(err, "%s: outcome is not over W_final's runs", path);
    }
    *runs = 1;
    for (int d = 0; d < wrank - 2; d++) {
        if (wdims[d] > AE_FILE_RUNS_MAX / (*runs ? *runs : 1))
            return ae_fail(err, "%s: W_final has too many runs", path);
        *runs *= wdims[d];
    }
    *n = (int)(wdims[wrank - 2] > AE_N_MAX ? 0 : wdims[wrank - 2]);
    *m = (int)(wdims[wrank - 1] > AE_M_MAX ? 0 : wdims[wrank - 1]);
    if (*n < AE_N_MIN || *m < AE_M_MIN)
        return ae_fail(err,
                       "%s: W_final must be (runs..., feature, latent) with %d <= feature <= %d and %d <= latent <= %d",
                       path, AE_N_MIN, AE_N_MAX, AE_M_MIN, AE_M_MAX);
    return 0;
}

/* init.select: all, a run index, first:<outcome> or all:<outcome>[,<outcome>...]. */
typedef struct {
    int wanted[AE_OUTCOME_COUNT], by_outcome, first_only, all;
    uint64_t index;
} base_selection;

static int parse_selection(const char *sel, uint64_t runs, const char *path, base_selection *pick, ae_error *err)
{
    memset(pick, 0, sizeof *pick);
    if (strncmp(sel, "first:", 6) == 0 || strncmp(sel, "all:", 4) == 0) {
        pick->first_only = sel[0] == 'f';
        pick->by_outcome = 1;
        char names[256];
        snprintf(names, sizeof names, "%s", strchr(sel, ':') + 1);
        char *rest = NULL;
        for (char *name = strtok_r(names, ",", &rest); name; name = strtok_r(NULL, ",", &rest)) {
            int code = ae_outcome_code(name);
            if (code < 0) /* the config checked the names: this is a caller's own select */
                return ae_fail(err, "init.select = \"%s\": unknown outcome \"%s\"", sel, name);
            pick->wanted[code] = 1;
        }
        return 0;
    }
    if (strcmp(sel, "all") == 0) {
        pick->all = 1;
        return 0;
    }
    char *end;
    pick->index = strtoull(sel, &end, 10);
    if (end == sel || *end || sel[0] == '-')
        return ae_fail(err, "init.select = \"%s\": expects all, a run index, first:<outcome> or all:<outcome>", sel);
    if (pick->index >= runs)
        return ae_fail(err, "init.select = %s: %s has only %llu runs", sel, path, (unsigned long long)runs);
    return 0;
}

/* Copies run r's state into the next slot of bases; refuses a state that is not finite. */
static int take_base(ae_bases *bases, const double *W, const double *b, uint64_t r, const char *path, ae_error *err)
{
    const uint64_t n = (uint64_t)bases->n, nm = n * (uint64_t)bases->m, k = bases->count++;
    memcpy(bases->W + k * nm, W + r * nm, nm * sizeof(double));
    memcpy(bases->b + k * n, b + r * n, n * sizeof(double));
    bases->source_index[k] = (int64_t)r;
    for (uint64_t e = 0; e < nm; e++)
        if (!isfinite(bases->W[k * nm + e]))
            goto not_finite;
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(bases->b[k * n + i])) goto not_finite;
    return 0;
not_finite:
    return ae_fail(err, "%s: base state of run %llu is not finite (not done, diverged, or padded to a larger n)", path,
                   (unsigned long long)r);
}

int ae_bases_load(ae_bases *bases, const char *path, const char *select, ae_error *err)
{
    memset(bases, 0, sizeof *bases);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *sel = select ? select : "all";
    hid_t file = io_open_file(path, H5F_ACC_RDONLY);
    if (file < 0) {
        io_h5_fail(err, path, "init.file: opening it as HDF5", __FILE__, __LINE__);
        err->code = AE_EXIT_USAGE; /* a file the config names */
        return -1;
    }
    double *W = NULL, *b = NULL;
    int8_t *outcome = NULL;
    char *file_names = NULL; /* the file's own class names, for the message when none matches */
    uint64_t runs = 0;
    int n = 0, m = 0, status = -1;
    base_selection pick;
    if (bases_shape(file, path, strchr(sel, ':') != NULL, &runs, &n, &m, err) ||
        parse_selection(sel, runs, path, &pick, err))
        goto done;
    W = ae_xmalloc(runs * (uint64_t)(n * m) * sizeof(double));
    b = ae_xmalloc(runs * (uint64_t)n * sizeof(double));
    if (io_read_whole(file, "W_final", H5T_NATIVE_DOUBLE, W, path, err) ||
        io_read_whole(file, "b_final", H5T_NATIVE_DOUBLE, b, path, err))
        goto done;
    if (pick.by_outcome) {
        outcome = ae_xmalloc(runs);
        if (io_read_whole(file, "outcome", H5T_NATIVE_INT8, outcome, path, err)) goto done;
        io_outcomes_in_this_version(file, outcome, runs, &file_names);
    }
    bases->n = n;
    bases->m = m;
    bases->W = ae_xmalloc(runs * (uint64_t)(n * m) * sizeof(double));
    bases->b = ae_xmalloc(runs * (uint64_t)n * sizeof(double));
    bases->source_index = ae_xmalloc(runs * sizeof(int64_t));
    status = 0;
    for (uint64_t r = 0; r < runs && !status; r++) {
        int picked = pick.by_outcome ? outcome[r] >= 0 && pick.wanted[outcome[r]] : pick.all || r == pick.index;
        if (!picked) continue;
        status = take_base(bases, W, b, r, path, err);
        if (pick.first_only) break;
    }
    if (!status && bases->count == 0)
        status = ae_fail(err, "init.select = \"%s\": no run of %s matches%s%s%s", sel, path,
                         file_names ? " (its outcome classes: " : "", file_names ? file_names : "", file_names ? ")" : "");
done:
    free(W);
    free(b);
    free(outcome);
    free(file_names);
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
