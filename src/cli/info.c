/*
 * info.c - `aesweep info FILE`: how far a sweep got, what its runs ended as after how many
 * training steps (overall and per value of every axis that is not a replicate axis, with
 * 95 % Wilson intervals only over replicates), and where it came from.
 * Works on unfinished files: only runs marked done are counted.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_io.h"
#include "ae_stats.h"
#include "io_internal.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INFO_ROWS 16 /* rows of an axis' table, unless --wide or --by asks for each value */

#define K AE_OUTCOME_COUNT

typedef struct {
    char name[64];
    hsize_t count;
    char **labels; /* printable coordinate values */
} info_axis;

/* One root attribute's line: text (io_get_text_attr: one string, of either kind) or one
 * number; a foreign file's array attribute is named, not read into a one-value buffer. */
static void print_attr(hid_t file, const char *label, const char *name)
{
    if (H5Aexists(file, name) <= 0) return;
    char *text = io_get_text_attr(file, name);
    if (text) {
        printf("%-16s %s\n", label, text);
        free(text);
        return;
    }
    hid_t attr = H5Aopen(file, name, H5P_DEFAULT), space = H5Aget_space(attr), type = H5Aget_type(attr);
    const hssize_t points = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    double value = 0;
    if (points != 1 || H5Tget_class(type) == H5T_STRING)
        printf("%-16s (the file's `%s` is not one value: not shown)\n", label, name);
    else if (H5Aread(attr, H5T_NATIVE_DOUBLE, &value) >= 0)
        printf("%-16s %.4g\n", label, value);
    H5Tclose(type), H5Sclose(space), H5Aclose(attr);
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
    hsize_t scale_count = 0;
    if (H5DSiterate_scales(ds, d, NULL, grab_scale, &scale) >= 0 && scale >= 0) {
        /* a scale of another shape than its dimension is not used (a file may be hostile) */
        hid_t scale_space = H5Dget_space(scale);
        if (scale_space < 0 || H5Sget_simple_extent_ndims(scale_space) != 1 ||
            H5Sget_simple_extent_dims(scale_space, &scale_count, NULL) != 1 || scale_count != count) {
            H5Dclose(scale);
            scale = -1;
        }
        if (scale_space >= 0) H5Sclose(scale_space);
    }
    if (scale < 0) {
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

/* ------------------------------------------------------------------------ */
/* What the counts mean                                                      */
/* ------------------------------------------------------------------------ */

/* Axes whose runs are replicates of one experiment (random init, base states, random
 * samples): a fraction over them is a binomial estimate and gets a Wilson interval.  Over
 * any other axis a fraction describes a deterministic set of grid cells, and is shown
 * as it is. */
static int is_replicate_axis(const char *name)
{
    return strcmp(name, "seed") == 0 || strcmp(name, "base") == 0 || strcmp(name, "sample") == 0;
}


/* The text value of "key" in the resolved config (JSON, one key per line), or "". */
static void json_value(const char *json, const char *key, char *out, size_t size)
{
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = json ? strstr(json, pattern) : NULL;
    out[0] = 0;
    if (!at) return;
    at += strlen(pattern);
    if (*at == '"') at++;
    size_t length = strcspn(at, "\",\n");
    snprintf(out, size, "%.*s", (int)(length < size ? length : size - 1), at);
}

/* The counts of one table row.  varies: the runs counted differ along a non-replicate
 * axis (then the row's fractions get no interval). */
typedef struct {
    uint64_t counts[K], done, plateaus[3], recovered[3];
    int64_t first[AE_AXES_MAX + 1];
    int varies;
} census_row;

static void row_init(census_row *row)
{
    memset(row, 0, sizeof *row);
    for (int a = 0; a <= AE_AXES_MAX; a++) row->first[a] = -1;
}

static void row_add(census_row *row, int outcome, int kind, int recovered, const uint64_t *index, int rank,
                    const int *replicate)
{
    row->counts[outcome]++, row->done++;
    if (kind > 0 && kind < 3) row->plateaus[kind]++, row->recovered[kind] += recovered == 1;
    for (int a = 0; a < rank; a++) {
        if (replicate[a]) continue;
        if (row->first[a] < 0) row->first[a] = (int64_t)index[a];
        row->varies |= row->first[a] != (int64_t)index[a];
    }
}

/* What a table shows: the outcome columns with runs (every one with --wide; K: fires on
 * every input), intervals where some row holds replicates and they fit the terminal. */
typedef struct {
    int shown[K + 1];
    int intervals, plateaus;
} table_layout;

static int cell_width(const table_layout *t, int k)
{
    const int name = (int)strlen(k < K ? ae_outcome_name(k) : "fires_on_every_input");
    const int cell = t->intervals ? 22 : 7;
    return name > cell ? name : cell;
}

static int table_width(const table_layout *t)
{
    int width = 2 + 12 + 1 + 8 + (t->plateaus ? 2 + 13 + 1 + 13 : 0);
    for (int k = 0; k <= K; k++) width += t->shown[k] ? 2 + cell_width(t, k) : 0;
    return width;
}

static uint64_t row_count(const census_row *row, int k)
{
    return k < K ? row->counts[k] : row->counts[AE_OUT_SYMMETRIC_FAILURE] + row->counts[AE_OUT_PINNED_FAILURE];
}

/* One table row: runs counted, each outcome's fraction (with its 95 % Wilson interval when
 * the runs are replicates), "fires on every input" (symmetric + pinned), plateaus. */
static void print_row(const char *label, const census_row *row, const table_layout *t)
{
    printf("  %-12s %8llu", label, (unsigned long long)row->done);
    for (int k = 0; k <= K; k++) {
        if (!t->shown[k]) continue;
        const uint64_t count = row_count(row, k);
        const int width = cell_width(t, k);
        double lo, hi, fraction = row->done ? 100.0 * (double)count / (double)row->done : 0;
        ae_wilson(count, row->done, &lo, &hi);
        char cell[64];
        if (!row->done)
            snprintf(cell, sizeof cell, "-");
        else if (row->varies || !t->intervals)
            snprintf(cell, sizeof cell, "%6.2f%%", fraction);
        else
            snprintf(cell, sizeof cell, "%6.2f%% [%5.2f,%6.2f]", fraction, 100 * lo, 100 * hi);
        printf("  %-*s", width, cell);
    }
    if (t->plateaus)
        printf("  %6llu/%-6llu %6llu/%-6llu", (unsigned long long)row->recovered[1],
               (unsigned long long)row->plateaus[1], (unsigned long long)row->recovered[2],
               (unsigned long long)row->plateaus[2]);
    printf("\n");
}

static void print_header(const char *first, const table_layout *t)
{
    printf("  %-12s %8s", first, "runs");
    for (int k = 0; k <= K; k++)
        if (t->shown[k]) printf("  %-*s", cell_width(t, k), k < K ? ae_outcome_name(k) : "fires_on_every_input");
    if (t->plateaus) printf("  %-13s %-13s", "sym_plateaus", "pin_plateaus");
    printf("\n");
}

/* The `all` row as a column, one line per outcome shown: room for every interval. */
static void print_transposed(const census_row *all, const table_layout *t)
{
    printf("  %-22s %8s %9s  %s\n", "all", "runs", "fraction", "[95% Wilson interval]");
    for (int k = 0; k <= K; k++) {
        if (!t->shown[k]) continue;
        const uint64_t count = row_count(all, k);
        double lo, hi;
        ae_wilson(count, all->done, &lo, &hi);
        if (!all->done) {
            printf("  %-22s %8llu %9s\n", k < K ? ae_outcome_name(k) : "fires_on_every_input", 0ULL, "-");
            continue;
        }
        printf("  %-22s %8llu %8.2f%%  [%5.2f, %6.2f]\n", k < K ? ae_outcome_name(k) : "fires_on_every_input",
               (unsigned long long)count, 100.0 * (double)count / (double)all->done, 100 * lo, 100 * hi);
    }
    printf("  %-22s %8llu\n", "counted", (unsigned long long)all->done);
    if (t->plateaus)
        printf("  plateaus recovered: symmetric %llu/%llu, pinned %llu/%llu\n", (unsigned long long)all->recovered[1],
               (unsigned long long)all->plateaus[1], (unsigned long long)all->recovered[2],
               (unsigned long long)all->plateaus[2]);
}

/* The layout of a table of `count` rows: the columns of `all` (every one when wide),
 * intervals when a row holds replicates and the table then fits `columns`. */
static table_layout plan_table(const census_row *all, const census_row *rows, uint64_t count, int has_plateaus,
                               const ae_info_options *opt)
{
    table_layout t = {{0}, 0, has_plateaus};
    for (int k = 0; k <= K; k++) t.shown[k] = opt->wide || row_count(all, k) > 0;
    for (uint64_t r = 0; r < count; r++) t.intervals |= rows[r].done > 0 && !rows[r].varies;
    if (t.intervals && !opt->wide && table_width(&t) > opt->columns) t.intervals = 0;
    return t;
}

/* A per-run variable read as `mem` values of `size` bytes (NULL when the file has none:
 * older files, or output.fields left it out). */
static void *read_runs(hid_t file, const char *name, uint64_t total, hid_t mem, size_t size)
{
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0) return NULL;
    hid_t space = H5Dget_space(ds); /* a variable of another size than `done` is not read (a file may be hostile) */
    hssize_t points = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (space >= 0) H5Sclose(space);
    if (points != (hssize_t)total) {
        H5Dclose(ds);
        return NULL;
    }
    void *data = ae_xmalloc(total * size);
    if (H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) free(data), data = NULL;
    H5Dclose(ds);
    return data;
}

static int8_t *read_runs_i8(hid_t file, const char *name, uint64_t total)
{
    return read_runs(file, name, total, H5T_NATIVE_INT8, 1);
}

/* Whether run `index` ignores its coordinate along axis a (ae_usage_rule_of): then only
 * its first value along a is counted, the others being the same run again. */
static int ignores_axis(int a, const uint64_t *index, int rank, const info_axis *axes, const char *json)
{
    const ae_usage_rule *rule = ae_usage_rule_of(axes[a].name);
    if (!rule) return 0;
    const ae_setting *by = ae_setting_find(rule->by);
    char value[64] = "", word[80];
    for (int c = 0; c < rank; c++)
        if (strcmp(axes[c].name, by->dim) == 0) snprintf(value, sizeof value, "%s", axes[c].labels[index[c]]);
    if (!value[0]) json_value(json, rule->by, value, sizeof value);
    snprintf(word, sizeof word, " %s ", value);
    return strstr(rule->used_by, word) == NULL;
}

/* The arithmetic the runs trained in: the values of the precision grid axis, or the
 * config's model.precision (files from before it trained in float32). */
static void print_precision(hid_t file, int rank, const hsize_t *dims, const info_axis *axes)
{
    for (int a = 0; a < rank; a++) {
        if (strcmp(axes[a].name, "precision") != 0) continue;
        printf("%-16s", "precision");
        for (hsize_t v = 0; v < dims[a]; v++) printf("%s %s", v ? "," : "", axes[a].labels[v]);
        printf(" (grid axis)\n");
        return;
    }
    char *json = io_get_text_attr(file, "config_json"), value[32];
    json_value(json, "model.precision", value, sizeof value);
    printf("%-16s %s\n", "precision", value[0] ? value : "float32");
    free(json);
}

/* What makes the census trustworthy (DESIGN.md section 9), over the runs it counted: per
 * outcome the runs frozen by rounding, the final states that are saddles (hessian_neg > 0)
 * or minima, and the frozen saddles, which another precision would carry on; the failures
 * by their number of unlearnt features, which rescue rates depend on. */
typedef struct {
    uint64_t runs[K], frozen[K], saddle[K], minimum[K], frozen_saddle[K], unlearnt[K][4];
} trust_counts;

static void print_trust(const trust_counts *t, int has_frozen, int has_hessian, int has_unlearnt)
{
    printf("\ntrust: of the runs counted above, by outcome\n"
           "  frozen: every update of the learnt features since the anchor step (T - outcome.window)\n"
           "    rounded away while their gradient is not zero: the run cannot move again in its precision\n"
           "    (model.precision = \"float64\" tells whether it would); at a minimum that is convergence\n"
           "    to rounding, harmless; at a saddle it is not\n"
           "  saddle / minimum: the final state's exact Hessian has negative eigenvalues / none\n"
           "    (outcome.hessian); fr.saddle: frozen at a saddle, held only by rounding: an arithmetic failure\n"
           "  unl.1 / unl.2 / unl.>=3: runs of each outcome by their number of unlearnt features\n");
    printf("  %-22s %8s %8s %8s %8s %8s %8s %8s %8s\n", "outcome", "runs", "frozen", "saddle", "minimum", "fr.saddle",
           "unl.1", "unl.2", "unl.>=3");
    for (int k = 0; k < K; k++) {
        if (!t->runs[k]) continue;
        printf("  %-22.22s %8llu", ae_outcome_name(k), (unsigned long long)t->runs[k]);
        const uint64_t values[] = {t->frozen[k],        t->saddle[k],      t->minimum[k], t->frozen_saddle[k],
                                   t->unlearnt[k][1], t->unlearnt[k][2], t->unlearnt[k][3]};
        const int shown[] = {has_frozen, has_hessian, has_hessian, has_frozen && has_hessian,
                             has_unlearnt, has_unlearnt, has_unlearnt};
        for (int c = 0; c < 7; c++)
            shown[c] ? printf(" %8llu", (unsigned long long)values[c]) : printf(" %8s", "-");
        printf("\n");
    }
    if (!has_frozen || !has_hessian || !has_unlearnt)
        printf("  -: the file keeps no %s%s%s\n", has_frozen ? "" : "frozen ", has_hessian ? "" : "hessian_neg ",
               has_unlearnt ? "" : "n_learnt");
}

/* The axis named `n`, or -1; without one every run has the config's model.n (0: unknown). */
static int n_axis_of(int rank, const info_axis *axes)
{
    for (int a = 0; a < rank; a++)
        if (strcmp(axes[a].name, "n") == 0) return a;
    return -1;
}

/* Whether some run trained in float32: a float32 value of the precision axis, or the config's
 * model.precision (files from before it trained in float32). */
static int has_float32_runs(hid_t file, int rank, const hsize_t *dims, const info_axis *axes)
{
    for (int a = 0; a < rank; a++) {
        if (strcmp(axes[a].name, "precision") != 0) continue;
        for (hsize_t v = 0; v < dims[a]; v++)
            if (strcmp(axes[a].labels[v], "float32") == 0) return 1;
        return 0;
    }
    char *json = io_get_text_attr(file, "config_json"), value[32];
    json_value(json, "model.precision", value, sizeof value);
    free(json);
    return !value[0] || strcmp(value, "float32") == 0;
}

/* check.float64: how often a float32 outcome is the outcome of the same run in float64, over
 * all checked runs and per float32 outcome, with where the others end in float64.  The checked
 * runs are a random sample of the grid (Philox, check.seed), so their fractions get Wilson
 * intervals as estimates for the whole grid.  A float32 sweep without checks gets the hint. */
static void float64_agreement(hid_t file, const int8_t *outcome, const uint8_t *done, uint64_t total, int rank,
                              const hsize_t *dims, const info_axis *axes)
{
    if (!has_float32_runs(file, rank, dims, axes)) return;
    int8_t *checked = read_runs_i8(file, "float64_outcome", total);
    uint64_t pairs[K][K] = {{0}}, all = 0, agree = 0;
    char *names = NULL;
    if (checked) io_outcomes_in_this_version(file, checked, total, &names); /* the codes of `outcome` */
    free(names);
    for (uint64_t r = 0; checked && r < total; r++) {
        if (!done[r] || outcome[r] < 0 || outcome[r] >= K || checked[r] < 0 || checked[r] >= K) continue;
        pairs[outcome[r]][checked[r]]++, all++, agree += outcome[r] == checked[r];
    }
    free(checked);
    if (!all) {
        printf("\nfloat64 check: none (which of these outcomes float32 arithmetic decided is unknown;\n"
               "  --set check.float64=200 trains 200 runs picked at random again in float64)\n");
        return;
    }
    char *json = io_get_text_attr(file, "config_json"), k_text[32], seed[32];
    json_value(json, "check.float64", k_text, sizeof k_text);
    json_value(json, "check.seed", seed, sizeof seed);
    free(json);
    printf("\nfloat64 check: %llu finished float32 runs of those picked at random (check.float64 = %s, check.seed = %s)\n"
           "  were trained again in float64 with the same seeds and settings; a random sample of the grid's\n"
           "  float32 runs, so [95%% Wilson intervals] estimate the agreement over the whole grid\n",
           (unsigned long long)all, k_text[0] ? k_text : "?", seed[0] ? seed : "?");
    for (int k = -1; k < K; k++) {
        uint64_t row = 0, same = k < 0 ? agree : pairs[k][k];
        for (int j = 0; j < K && k >= 0; j++) row += pairs[k][j];
        if (k < 0) row = all;
        if (!row) continue;
        double lo, hi;
        ae_wilson(same, row, &lo, &hi);
        printf("  %-22s %6llu of %-6llu agree  %6.2f%% [%5.2f,%6.2f]", k < 0 ? "all" : ae_outcome_name(k),
               (unsigned long long)same, (unsigned long long)row, 100.0 * (double)same / (double)row, 100 * lo,
               100 * hi);
        for (int j = 0, shown = 0; j < K && k >= 0; j++)
            if (j != k && pairs[k][j])
                printf("%s%llu %s", shown++ ? ", " : "   in float64: ", (unsigned long long)pairs[k][j],
                       ae_outcome_name(j));
        printf("\n");
    }
}

/* The census: all runs, then by the value of each axis that is not a replicate axis;
 * runs identical by construction counted once; the training horizon named. */
static void census_tables(hid_t file, const int8_t *outcome, const uint8_t *done, uint64_t total, int rank,
                          const hsize_t *dims, const info_axis *axes, const ae_info_options *opt)
{
    ae_info_options wide = *opt;
    wide.wide = 1;
    char *json = io_get_text_attr(file, "config_json"), steps[32];
    int8_t *kind = read_runs_i8(file, "plateau_kind", total), *recovered = read_runs_i8(file, "recovered", total);
    int8_t *frozen = read_runs_i8(file, "frozen", total), *hessian_neg = read_runs_i8(file, "hessian_neg", total);
    int32_t *n_learnt = read_runs(file, "n_learnt", total, H5T_NATIVE_INT32, sizeof(int32_t));
    trust_counts trust;
    memset(&trust, 0, sizeof trust);
    char config_n_text[32] = "";
    json_value(json, "model.n", config_n_text, sizeof config_n_text);
    const int n_axis = n_axis_of(rank, axes), config_n = atoi(config_n_text);
    int replicate[AE_AXES_MAX + 1], steps_axis = -1;
    uint64_t dropped[AE_AXES_MAX + 1] = {0}, index[AE_AXES_MAX + 1];
    census_row all, *by_value[AE_AXES_MAX + 1];
    row_init(&all);
    for (int a = 0; a < rank; a++) {
        replicate[a] = is_replicate_axis(axes[a].name);
        if (strcmp(axes[a].name, "steps") == 0) steps_axis = a;
        by_value[a] = ae_xmalloc(dims[a] * sizeof(census_row));
        for (hsize_t v = 0; v < dims[a]; v++) row_init(&by_value[a][v]);
    }
    for (uint64_t r = 0; r < total; r++) {
        if (!done[r] || outcome[r] < 0 || outcome[r] >= K) continue;
        uint64_t rest = r;
        for (int a = rank - 1; a >= 0; a--) index[a] = rest % dims[a], rest /= dims[a];
        int duplicate = 0;
        for (int a = 0; a < rank && !duplicate; a++)
            if (index[a] > 0 && ignores_axis(a, index, rank, axes, json)) duplicate = 1, dropped[a]++;
        if (duplicate) continue;
        int k = kind ? kind[r] : 0, rec = recovered ? recovered[r] : 0;
        row_add(&all, outcome[r], k, rec, index, rank, replicate);
        const int o = outcome[r], n = n_axis >= 0 ? atoi(axes[n_axis].labels[index[n_axis]]) : config_n;
        trust.runs[o]++;
        trust.frozen[o] += frozen && frozen[r] == 1;
        trust.saddle[o] += hessian_neg && hessian_neg[r] > 0, trust.minimum[o] += hessian_neg && hessian_neg[r] == 0;
        trust.frozen_saddle[o] += frozen && hessian_neg && frozen[r] == 1 && hessian_neg[r] > 0;
        const int unlearnt = n_learnt && n > 0 ? n - n_learnt[r] : 0;
        if (unlearnt > 0) trust.unlearnt[o][unlearnt < 3 ? unlearnt : 3]++;
        for (int a = 0; a < rank; a++) row_add(&by_value[a][index[a]], outcome[r], k, rec, index, rank, replicate);
    }
    json_value(json, "train.steps", steps, sizeof steps);
    if (steps_axis >= 0)
        printf("\ncensus by training steps (the `steps` axis: see `by steps`)\n");
    else
        printf("\ncensus after %s training steps\n", steps[0] ? steps : "?");
    printf("  fractions of the runs counted; [95%% Wilson interval] only where a row's runs are replicates\n"
           "  (they differ only along seed, base or sample axes), a plain fraction over grid cells otherwise;\n"
           "  plateaus: runs recovered / runs whose longest plateau (>= train.plateau_steps) was\n"
           "  symmetric, pinned\n");
    for (int a = 0; a < rank; a++)
        if (replicate[a]) printf("  %s: %llu replicates, pooled in every row\n", axes[a].name, (unsigned long long)dims[a]);
    for (int a = 0; a < rank; a++)
        if (dropped[a])
            printf("  %llu runs identical by construction counted once: they differ from a counted run only in %s,\n"
                   "  which their settings do not use\n",
                   (unsigned long long)dropped[a], axes[a].name);
    int has_plateaus = kind && recovered;
    if (!has_plateaus)
        printf("  plateaus: not shown, the file keeps no %s (output.fields)\n",
               !kind && !recovered ? "plateau_kind and recovered" : !kind ? "plateau_kind" : "recovered");
    char empty[512] = "";
    for (int k = 0; k < K && !opt->wide; k++)
        if (!all.counts[k]) snprintf(empty + strlen(empty), sizeof empty - strlen(empty), "%s%s", empty[0] ? ", " : "",
                                     ae_outcome_name(k));
    if (empty[0]) printf("  no run ended %s\n  (their columns are left out; --wide shows every column)\n", empty);
    const int any_plateau = all.plateaus[1] + all.plateaus[2] > 0;
    if (has_plateaus && !any_plateau && !opt->wide)
        printf("  no run had a plateau (its columns are left out)\n");
    has_plateaus = has_plateaus && (any_plateau || opt->wide);
    table_layout layout = plan_table(&all, &all, 1, has_plateaus, opt);
    if (!layout.intervals && plan_table(&all, &all, 1, has_plateaus, &wide).intervals)
        print_transposed(&all, &layout); /* replicates: their intervals, one outcome a line */
    else
        print_header("", &layout), print_row("all", &all, &layout);
    print_trust(&trust, frozen != NULL, hessian_neg != NULL, n_learnt != NULL);
    for (int a = 0; a < rank; a++) {
        const int asked = opt->by && strcmp(opt->by, axes[a].name) == 0;
        if (!replicate[a] && dims[a] > 1 && (!opt->by || asked)) {
            /* a long axis: evenly spaced values, its ends included, unless asked for whole */
            const hsize_t step = opt->wide || asked || dims[a] <= INFO_ROWS ? 1 : (dims[a] + INFO_ROWS - 2) / (INFO_ROWS - 1);
            layout = plan_table(&all, by_value[a], dims[a], has_plateaus, opt);
            printf("\nby %s", axes[a].name);
            if (step > 1)
                printf(" (every %llu%s of its %llu values, and the last; --by %s shows each)",
                       (unsigned long long)step, step == 2 ? "nd" : step == 3 ? "rd" : "th", (unsigned long long)dims[a],
                       axes[a].name);
            if (!layout.intervals && plan_table(&all, by_value[a], dims[a], has_plateaus, &wide).intervals)
                printf(" (Wilson intervals left out to fit %d columns: --wide)", opt->columns);
            printf("\n");
            print_header(axes[a].name, &layout);
            for (hsize_t v = 0; v < dims[a]; v++)
                if (v % step == 0 || v == dims[a] - 1) print_row(axes[a].labels[v], &by_value[a][v], &layout);
        }
        free(by_value[a]);
    }
    if (opt->by) {
        int found = 0;
        for (int a = 0; a < rank; a++) found |= strcmp(opt->by, axes[a].name) == 0;
        if (!found) printf("\nby %s: the file has no such axis\n", opt->by);
    }
    free(json), free(kind), free(recovered), free(frozen), free(hessian_neg), free(n_learnt);
}

/* The grid shape of a file, from `done` and (when the file keeps it) `outcome`, checked
 * before any use: the same rank (at most AE_AXES_MAX + 1) and dims, none zero, and as
 * many bytes stored as declared. */
static int info_shape(hid_t done_ds, hid_t outcome_ds, hsize_t *dims, int *rank, hssize_t *total)
{
    hid_t spaces[2] = {H5Dget_space(done_ds), outcome_ds >= 0 ? H5Dget_space(outcome_ds) : H5I_INVALID_HID};
    int ranks[2] = {-1, -1}, status = -1;
    hsize_t other[AE_AXES_MAX + 1];
    for (int k = 0; k < 2; k++)
        if (spaces[k] >= 0 && H5Sget_simple_extent_type(spaces[k]) != H5S_NULL)
            ranks[k] = H5Sget_simple_extent_ndims(spaces[k]);
    if (ranks[0] < 0 || ranks[0] > AE_AXES_MAX + 1 || (outcome_ds >= 0 && ranks[1] != ranks[0])) goto done;
    *rank = ranks[0];
    H5Sget_simple_extent_dims(spaces[0], dims, NULL);
    if (outcome_ds >= 0) H5Sget_simple_extent_dims(spaces[1], other, NULL);
    *total = H5Sget_simple_extent_npoints(spaces[0]);
    for (int d = 0; d < *rank; d++)
        if (dims[d] == 0 || (outcome_ds >= 0 && dims[d] != other[d])) goto done;
    /* the bytes a reader allocates must be in the file (one byte per run, each) */
    if (*total <= 0 || H5Dget_storage_size(done_ds) < (hsize_t)*total ||
        (outcome_ds >= 0 && H5Dget_storage_size(outcome_ds) < (hsize_t)*total))
        goto done;
    status = 0;
done:
    for (int k = 0; k < 2; k++)
        if (spaces[k] >= 0) H5Sclose(spaces[k]);
    return status;
}

/* The record fields the file keeps, when output.fields left some out. */
static void print_fields(hid_t file, int columns)
{
    uint64_t kept = 0;
    for (size_t v = 0; v < N_OUT_VARS; v++) kept |= (uint64_t)(H5Lexists(file, out_vars[v].name, H5P_DEFAULT) > 0) << v;
    if (kept == AE_RECORD_FIELDS_DEFAULT) return; /* the optimizer state is left out unless asked for */
    if (kept == AE_RECORD_FIELDS_ALL) {
        printf("%-16s every record field and the optimizer state (output.optimizer_state)\n", "fields");
        return;
    }
    char *names = io_field_names(kept);
    printf("%-16s", "fields");
    int at = 16; /* the names, wrapped to the terminal under their first */
    for (char *name = strtok(names, " "); name; name = strtok(NULL, " ")) {
        if (at > 17 && at + 1 + (int)strlen(name) > columns) printf("\n%-16s", ""), at = 16;
        at += printf(" %s", name);
    }
    printf("%s\n%-16s (output.fields; the others are not in the file)\n", names[0] ? "" : " none", "");
    free(names);
}

int ae_info(const char *path, const ae_info_options *opt, ae_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (ae_input_file(path, "an aesweep output", err)) return -1;
    /* A running sweep's writer takes no HDF5 file lock (its layout never changes after
     * creation, and `done` marks only flushed records), so this opens like any reader. */
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return ae_fail_runtime(err, "%s: cannot open as HDF5 (missing or not an aesweep file?)", path);
    hid_t done_ds = H5Dopen2(file, "done", H5P_DEFAULT);
    /* outcome is there unless output.fields left it out: then there is no census */
    hid_t outcome_ds = H5Lexists(file, "outcome", H5P_DEFAULT) > 0 ? H5Dopen2(file, "outcome", H5P_DEFAULT) : H5I_INVALID_HID;
    if (done_ds < 0) {
        if (outcome_ds >= 0) H5Dclose(outcome_ds);
        H5Fclose(file);
        return ae_fail_runtime(err, "%s: not an aesweep output (no `done` variable)", path);
    }
    int rank;
    hsize_t dims[AE_AXES_MAX + 1];
    hssize_t total = 0;
    if (info_shape(done_ds, outcome_ds, dims, &rank, &total)) {
        if (outcome_ds >= 0) H5Dclose(outcome_ds);
        H5Dclose(done_ds);
        H5Fclose(file);
        return ae_fail_runtime(err, "%s: not an aesweep output (done, and outcome where it is kept, must share one "
                                    "shape of at most %d dimensions, none of length zero)",
                               path, AE_AXES_MAX + 1);
    }
    int8_t *outcome = outcome_ds >= 0 ? ae_xmalloc((size_t)total) : NULL;
    uint8_t *done = ae_xmalloc((size_t)total);
    int status = 0;
    if ((outcome && H5Dread(outcome_ds, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, outcome) < 0) ||
        H5Dread(done_ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) < 0) {
        status = ae_fail_runtime(err, "%s: cannot read outcome/done", path);
        goto cleanup;
    }
    char *classes = NULL; /* the file's own class names: another version numbers them otherwise */
    if (outcome) io_outcomes_in_this_version(file, outcome, (uint64_t)total, &classes);
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
    print_fields(file, opt->columns);
    printf("%-16s", "grid");
    for (int a = 0; a < rank; a++) {
        read_axis(done_ds, (unsigned)a, dims[a], &axes[a]);
        printf("%s %s[%llu: %s .. %s]", a ? " x" : "", axes[a].name, (unsigned long long)dims[a], axes[a].labels[0],
               axes[a].labels[dims[a] - 1]);
    }
    printf("%s = %lld runs\n", rank ? "" : " (one run)", (long long)total);
    print_precision(file, rank, dims, axes);
    uint64_t n_done = 0;
    for (hssize_t r = 0; r < total; r++) n_done += done[r] != 0;
    /* end_time stays "running" until a session finishes its runs: a file that ended with
     * runs not done is a shard (--shard), whose other runs are other files' */
    char *ended = io_get_text_attr(file, "end_time");
    const int finished = ended && strcmp(ended, "running") != 0;
    free(ended);
    printf("%-16s %llu / %lld (%.1f%%)%s\n", "done", (unsigned long long)n_done, (long long)total,
           total ? 100.0 * (double)n_done / (double)total : 0.0,
           n_done == (uint64_t)total ? ""
           : finished ? "  -- a finished shard (--shard): the other runs are other shards' (aesweep merge joins them)"
                      : "  -- incomplete (still running, or stopped: --resume finishes it)");
    uint64_t foreign = 0;
    for (hssize_t r = 0; outcome && r < total; r++) foreign += done[r] && outcome[r] < 0;
    if (foreign)
        printf("%-16s %llu finished runs carry outcome classes this aesweep does not have (the file's: %s): "
               "they are in no column\n",
               "note", (unsigned long long)foreign, classes ? classes : "none named");
    free(classes);
    if (outcome) {
        census_tables(file, outcome, done, (uint64_t)total, rank, dims, axes, opt);
        float64_agreement(file, outcome, done, (uint64_t)total, rank, dims, axes);
    } else
        printf("\ncensus: not shown, the file keeps no `outcome` (its output.fields left it out)\n");
    for (int a = 0; a < rank; a++) {
        for (hsize_t v = 0; v < dims[a]; v++) free(axes[a].labels[v]);
        free(axes[a].labels);
    }
cleanup:
    free(outcome);
    free(done);
    if (outcome_ds >= 0) H5Dclose(outcome_ds);
    H5Dclose(done_ds);
    H5Fclose(file);
    return status;
}
