/*
 * bases.c - base states (init.scheme = "file"): W_final and b_final of selected runs
 * of an earlier output, with init.optimizer_state = "keep" also their optimizer state (the
 * opt_ variables of output.optimizer_state), every shape checked before use (the file may
 * come from anyone); and the config an output was made from, with its overrides, which
 * `aesweep zoom` trains again over other axes.
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
static int bases_shape(hid_t file, const char *path, int need_outcome, uint64_t *runs, int *n, int *m,
                       hsize_t *wdims, int *wrank_out, ae_error *err)
{
    hsize_t dims[AE_AXES_MAX + 3];
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
    *wrank_out = wrank;
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

/* The optimizer state of every run of the file, read for init.optimizer_state = "keep". */
typedef struct {
    double *m_W, *m_b, *v_W, *v_b; /* as W_final and b_final */
    int64_t *step;
    int8_t *optimizer;
} file_opt;

static void file_opt_free(file_opt *o)
{
    free(o->m_W), free(o->m_b), free(o->v_W), free(o->v_b), free(o->step), free(o->optimizer);
    memset(o, 0, sizeof *o);
}

/* Reads the opt_ variables, each over the runs (and features, latent dims) of W_final, wdims
 * of rank wrank; opt_optimizer's codes are this version's when its flag_meanings say so. */
static int read_file_opt(hid_t file, const char *path, const hsize_t *wdims, int wrank, uint64_t runs, int n, int m,
                         file_opt *o, ae_error *err)
{
    static const char *const names[6] = {"opt_m_W", "opt_v_W", "opt_m_b", "opt_v_b", "opt_step", "opt_optimizer"};
    for (int k = 0; k < 6; k++)
        if (H5Lexists(file, names[k], H5P_DEFAULT) <= 0)
            return ae_fail(err, "%s: init.optimizer_state = \"keep\" needs the optimizer state of its runs, and it has "
                                "no %s (an output keeps it with output.optimizer_state = true)",
                           path, names[k]);
    for (int k = 0; k < 6; k++) {
        hsize_t dims[AE_AXES_MAX + 3];
        int rank, want = k < 2 ? wrank : k < 4 ? wrank - 1 : wrank - 2;
        if (io_dataset_dims(file, names[k], want, want, dims, &rank, path, err)) return -1;
        for (int d = 0; d < want; d++)
            if (dims[d] != wdims[d])
                return ae_fail(err, "%s: %s is not over W_final's runs%s", path, names[k], k < 4 ? " and features" : "");
    }
    const uint64_t nm = runs * (uint64_t)(n * m), nb = runs * (uint64_t)n;
    o->m_W = ae_xmalloc(nm * sizeof(double)), o->v_W = ae_xmalloc(nm * sizeof(double));
    o->m_b = ae_xmalloc(nb * sizeof(double)), o->v_b = ae_xmalloc(nb * sizeof(double));
    o->step = ae_xmalloc(runs * sizeof(int64_t)), o->optimizer = ae_xmalloc(runs);
    if (io_read_whole(file, "opt_m_W", H5T_NATIVE_DOUBLE, o->m_W, path, err) ||
        io_read_whole(file, "opt_v_W", H5T_NATIVE_DOUBLE, o->v_W, path, err) ||
        io_read_whole(file, "opt_m_b", H5T_NATIVE_DOUBLE, o->m_b, path, err) ||
        io_read_whole(file, "opt_v_b", H5T_NATIVE_DOUBLE, o->v_b, path, err) ||
        io_read_whole(file, "opt_step", H5T_NATIVE_INT64, o->step, path, err) ||
        io_read_whole(file, "opt_optimizer", H5T_NATIVE_INT8, o->optimizer, path, err))
        return -1;
    /* the file's own names of its codes, where it has them (another version may number them otherwise) */
    char *meanings = NULL;
    hid_t ds = H5Dopen2(file, "opt_optimizer", H5P_DEFAULT);
    if (ds >= 0) meanings = io_get_text_attr(ds, "flag_meanings");
    if (ds >= 0) H5Dclose(ds);
    const char *const *known = ae_setting_find("train.optimizer")->names;
    char ours[64];
    snprintf(ours, sizeof ours, "%s %s %s", known[0], known[1], known[2]);
    const int same = !meanings || strcmp(meanings, ours) == 0;
    free(meanings);
    if (!same)
        return ae_fail(err, "%s: opt_optimizer names its codes otherwise than this aesweep (%s)", path, ours);
    return 0;
}

/* Copies run r's state into the next slot of bases (with its optimizer state, when o has one);
 * refuses a state that is not finite. */
static int take_base(ae_bases *bases, const double *W, const double *b, const file_opt *o, uint64_t r,
                     const char *path, ae_error *err)
{
    const uint64_t n = (uint64_t)bases->n, nm = n * (uint64_t)bases->m, P = nm + n, k = bases->count++;
    memcpy(bases->W + k * nm, W + r * nm, nm * sizeof(double));
    memcpy(bases->b + k * n, b + r * n, n * sizeof(double));
    bases->source_index[k] = (int64_t)r;
    for (uint64_t e = 0; e < nm; e++)
        if (!isfinite(bases->W[k * nm + e]))
            goto not_finite;
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(bases->b[k * n + i])) goto not_finite;
    if (!o->m_W) return 0;
    /* in the layout of theta = [W | b] */
    memcpy(bases->opt_m + k * P, o->m_W + r * nm, nm * sizeof(double));
    memcpy(bases->opt_v + k * P, o->v_W + r * nm, nm * sizeof(double));
    memcpy(bases->opt_m + k * P + nm, o->m_b + r * n, n * sizeof(double));
    memcpy(bases->opt_v + k * P + nm, o->v_b + r * n, n * sizeof(double));
    bases->opt_step[k] = o->step[r];
    bases->opt_optimizer[k] = o->optimizer[r];
    for (uint64_t e = 0; e < P; e++)
        if (!isfinite(bases->opt_m[k * P + e]) || !(bases->opt_v[k * P + e] >= 0) || !isfinite(bases->opt_v[k * P + e]))
            return ae_fail(err, "%s: the optimizer state of run %llu is not finite, or has a negative second moment",
                           path, (unsigned long long)r);
    if (o->step[r] < 0 || o->step[r] > (int64_t)1e12 || o->optimizer[r] < AE_OPT_SGD || o->optimizer[r] > AE_OPT_ADAMW)
        return ae_fail(err, "%s: run %llu has opt_step %lld and opt_optimizer %d: no optimizer state", path,
                       (unsigned long long)r, (long long)o->step[r], o->optimizer[r]);
    return 0;
not_finite:
    return ae_fail(err, "%s: base state of run %llu is not finite (not done, diverged, or padded to a larger n)", path,
                   (unsigned long long)r);
}

int ae_bases_load(ae_bases *bases, const char *path, const char *select, int keep_optimizer_state, ae_error *err)
{
    memset(bases, 0, sizeof *bases);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *sel = select ? select : "all";
    if (ae_input_file(path, "init.file", err)) return -1;
    hid_t file = io_open_file(path, H5F_ACC_RDONLY);
    if (file < 0) {
        io_h5_fail(err, path, "init.file: opening it as HDF5", __FILE__, __LINE__);
        err->code = AE_EXIT_USAGE; /* a file the config names */
        return -1;
    }
    double *W = NULL, *b = NULL;
    file_opt opt = {0};
    int8_t *outcome = NULL;
    char *file_names = NULL; /* the file's own class names, for the message when none matches */
    uint64_t runs = 0;
    int n = 0, m = 0, status = -1;
    base_selection pick;
    hsize_t wdims[AE_AXES_MAX + 3];
    int wrank = 0;
    if (bases_shape(file, path, strchr(sel, ':') != NULL, &runs, &n, &m, wdims, &wrank, err) ||
        parse_selection(sel, runs, path, &pick, err))
        goto done;
    if (keep_optimizer_state && read_file_opt(file, path, wdims, wrank, runs, n, m, &opt, err)) goto done;
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
    if (keep_optimizer_state) {
        const uint64_t P = (uint64_t)(n * m + n);
        bases->opt_m = ae_xmalloc(runs * P * sizeof(double));
        bases->opt_v = ae_xmalloc(runs * P * sizeof(double));
        bases->opt_step = ae_xmalloc(runs * sizeof(int64_t));
        bases->opt_optimizer = ae_xmalloc(runs);
    }
    status = 0;
    for (uint64_t r = 0; r < runs && !status; r++) {
        int picked = pick.by_outcome ? outcome[r] >= 0 && pick.wanted[outcome[r]] : pick.all || r == pick.index;
        if (!picked) continue;
        status = take_base(bases, W, b, &opt, r, path, err);
        if (pick.first_only) break;
    }
    if (!status && bases->count == 0)
        status = ae_fail(err, "init.select = \"%s\": no run of %s matches%s%s%s", sel, path,
                         file_names ? " (its outcome classes: " : "", file_names ? file_names : "", file_names ? ")" : "");
done:
    free(W);
    free(b);
    file_opt_free(&opt);
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
    free(bases->opt_m);
    free(bases->opt_v);
    free(bases->opt_step);
    free(bases->opt_optimizer);
    memset(bases, 0, sizeof *bases);
}

/* ------------------------------------------------------------------------ */
/* The config a file was made from (`aesweep zoom`)                          */
/* ------------------------------------------------------------------------ */

/* The root attribute `overrides`: variable-length strings, copied into stored->overrides. */
static int read_overrides(hid_t file, const char *path, ae_stored_config *stored, ae_error *err)
{
    hid_t attr = H5Aopen(file, "overrides", H5P_DEFAULT), file_type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t type = io_string_type(0);
    hssize_t count = -1;
    char **raw = NULL;
    int status = -1;
    if (attr >= 0 && (file_type = H5Aget_type(attr)) >= 0 && H5Tis_variable_str(file_type) > 0 &&
        (space = H5Aget_space(attr)) >= 0)
        count = H5Sget_simple_extent_npoints(space);
    if (count < 0 || count > 100000 || type < 0) {
        ae_fail(err, "%s: its attribute `overrides` is not a list of variable-length strings", path);
        goto done;
    }
    raw = ae_xcalloc((size_t)count + 1, sizeof(char *));
    if (H5Tset_cset(type, H5Tget_cset(file_type)) < 0 || H5Aread(attr, type, raw) < 0) {
        io_h5_fail(err, path, "reading the attribute `overrides`", __FILE__, __LINE__);
        goto done;
    }
    stored->overrides = ae_xcalloc((size_t)count + 1, sizeof(char *));
    for (hssize_t k = 0; k < count; k++) {
        stored->overrides[stored->n++] = ae_xstrdup(raw[k] ? raw[k] : "");
        H5free_memory(raw[k]);
    }
    status = 0;
done:
    free(raw);
    io_h5_close(&type);
    io_h5_close(&space);
    io_h5_close(&file_type);
    io_h5_close(&attr);
    return status;
}

/* Files from before the `overrides` attribute: "KEY=VALUE" lines after "# --set overrides:". */
static void read_legacy_overrides(ae_stored_config *stored)
{
    static const char header[] = "\n# --set overrides:\n";
    char *at = strstr(stored->text, header);
    if (!at) return;
    *at = 0;
    char *line = at + strlen(header);
    int lines = 0;
    for (const char *c = line; *c; c++) lines += *c == '\n';
    stored->overrides = ae_xcalloc((size_t)lines + 2, sizeof(char *));
    for (char *end; *line; line = end + (*end != 0)) {
        end = line + strcspn(line, "\n");
        if (end == line) continue;
        ae_strbuf sb = {0};
        ae_strbuf_printf(&sb, "--set %.*s", (int)(end - line), line);
        stored->overrides[stored->n++] = sb.data;
    }
}

int ae_stored_config_read(ae_stored_config *stored, const char *path, ae_error *err)
{
    memset(stored, 0, sizeof *stored);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (ae_input_file(path, "a sweep's output", err)) return -1;
    hid_t file = io_open_file(path, H5F_ACC_RDONLY);
    if (file < 0) {
        io_h5_fail(err, path, "opening it as HDF5", __FILE__, __LINE__);
        err->code = AE_EXIT_USAGE;
        return -1;
    }
    int status = -1;
    stored->text = io_get_text_attr(file, "config");
    if (!stored->text) {
        ae_fail(err, "%s: no `config` attribute: not an aesweep output", path);
        goto done;
    }
    if (H5Aexists(file, "overrides") > 0) {
        if (read_overrides(file, path, stored, err)) goto done;
        /* the text ends with the overrides block written from the same list */
        char *at = NULL;
        for (char *c = strstr(stored->text, "\n" AE_OVERRIDES_HEADER "\n"); c; c = strstr(c + 1, "\n" AE_OVERRIDES_HEADER "\n"))
            at = c;
        if (at) *at = 0;
    } else {
        read_legacy_overrides(stored);
    }
    stored->ov = ae_xcalloc((size_t)stored->n + 1, sizeof(ae_override));
    for (int k = 0; k < stored->n; k++) {
        const char *o = stored->overrides[k];
        int grid = strncmp(o, "--grid ", 7) == 0;
        if (!grid && strncmp(o, "--set ", 6) != 0) {
            ae_fail(err, "%s: override %d (\"%s\") is neither --set nor --grid", path, k, o);
            goto done;
        }
        stored->ov[k] = (ae_override){grid, o + (grid ? 7 : 6)};
    }
    status = 0;
done:
    H5Fclose(file);
    if (status) {
        ae_stored_config_free(stored);
        err->code = AE_EXIT_USAGE;
    }
    return status;
}

void ae_stored_config_free(ae_stored_config *stored)
{
    for (int k = 0; k < stored->n; k++) free(stored->overrides[k]);
    free(stored->overrides);
    free(stored->ov);
    free(stored->text);
    memset(stored, 0, sizeof *stored);
}
