/*
 * load.c - reads a sweep config (libconfig syntax), then the command line's --set and
 * --grid, into an ae_config: the settings of every run and the grid axes over them, each
 * checked against the schema (schema.c).  Errors name file, line and key; they never exit.
 */
#define _POSIX_C_SOURCE 200809L /* strtok_r, also where the build does not define it (the fuzz build) */
#include "ae_config.h"
#include "ae_backend.h" /* AE_RECORD_FIELDS_OPTIMIZER */
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Reading values out of libconfig settings                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *path; /* the config file, or "--set" for an override */
    ae_config *cfg;
    ae_error *err;
} parser;

static int is_override(const parser *ps)
{
    return strcmp(ps->path, "--set") == 0;
}

/* An axis of --grid PARAM=SPEC: its errors name the argument (ps->path holds it). */
static int is_grid_override(const parser *ps)
{
    return strncmp(ps->path, "--grid ", 7) == 0;
}

static const char *type_name(int type)
{
    switch (type) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    case CONFIG_TYPE_GROUP: return "a group";
    default: return "nothing";
    }
}

static int is_number(const config_setting_t *node)
{
    int type = config_setting_type(node);
    return type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64 || type == CONFIG_TYPE_FLOAT;
}

static double number_of(const config_setting_t *node)
{
    return config_setting_type(node) == CONFIG_TYPE_FLOAT ? config_setting_get_float(node)
                                                          : (double)config_setting_get_int64(node);
}

static void where_of(const parser *ps, const config_setting_t *node, const char *key, char *out, size_t size)
{
    if (is_grid_override(ps))
        snprintf(out, size, "%s", ps->path);
    else if (is_override(ps))
        snprintf(out, size, "--set %s", key);
    else
        snprintf(out, size, "%s:%d: %s", ps->path, config_setting_source_line(node), key);
}

/* Value of one setting from the file (a number or, for enums, a name). */
static int parse_value(parser *ps, const ae_setting *s, const config_setting_t *node, double *value)
{
    char where[1024];
    where_of(ps, node, s->key, where, sizeof where);
    if (s->type == AE_SET_ENUM) {
        /* a boolean is the name "true" or "false", for the names that have them (outcome.hessian) */
        int type = config_setting_type(node);
        int index = type == CONFIG_TYPE_STRING ? ae_cfg_enum_index(s, config_setting_get_string(node))
                    : type == CONFIG_TYPE_BOOL ? ae_cfg_enum_index(s, config_setting_get_bool(node) ? "true" : "false")
                                               : -1;
        if (index < 0) return ae_cfg_check_number(s, 0, where, ps->err);
        *value = index;
        return 0;
    }
    if (!is_number(node))
        return ae_fail(ps->err, "%s: expects %s, got %s", where,
                       s->type == AE_SET_REAL ? "a number" : "an integer", type_name(config_setting_type(node)));
    *value = number_of(node);
    if (config_setting_type(node) != CONFIG_TYPE_FLOAT) { /* settings are doubles: past 2^53 two integers are one */
        const long long exact = config_setting_get_int64(node);
        if (exact > 9007199254740992LL || exact < -9007199254740992LL)
            return ae_fail(ps->err, "%s: %lld is past 2^53 = 9007199254740992, beyond which integers are not held "
                                    "exactly (two values would be one run)", where, exact);
    }
    return ae_cfg_check_number(s, *value, where, ps->err);
}

static int parse_features_list(parser *ps, const config_setting_t *node, const char *where)
{
    ae_config *cfg = ps->cfg;
    int count = config_setting_length(node);
    if (count == 0) return ae_fail(ps->err, "%s: the feature list is empty", where);
    free(cfg->perturb_features);
    cfg->perturb_features = ae_xcalloc((size_t)count, sizeof(int32_t));
    for (int k = 0; k < count; k++) {
        const config_setting_t *item = config_setting_get_elem(node, (unsigned)k);
        int type = config_setting_type(item);
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return ae_fail(ps->err, "%s: expects feature indices (integers), got %s", where, type_name(type));
        long long feature = config_setting_get_int64(item);
        if (feature < 0 || feature >= AE_N_MAX)
            return ae_fail(ps->err, "%s: feature %lld is out of range [0, %d)", where, feature, AE_N_MAX);
        for (int j = 0; j < k; j++) /* twice would shift its bias twice */
            if (cfg->perturb_features[j] == feature)
                return ae_fail(ps->err, "%s: feature %lld is listed twice", where, feature);
        cfg->perturb_features[k] = (int32_t)feature;
    }
    cfg->n_perturb_features = count;
    cfg->perturb_kind = AE_PERTURB_LIST;
    return 0;
}

static int set_features_text(ae_config *cfg, const char *text, const char *where, ae_error *err)
{
    if (strcmp(text, "dead_neighbors") == 0)
        cfg->perturb_kind = AE_PERTURB_DEAD_NEIGHBORS;
    else if (strcmp(text, "none") == 0)
        cfg->perturb_kind = AE_PERTURB_NONE;
    else
        return ae_fail(err, "%s: expects \"dead_neighbors\", \"none\" or a list of feature indices", where);
    return 0;
}

/* output.fields: record field `name` kept; unknown names are refused with the list. */
static int add_output_field(ae_config *cfg, const char *name, const char *where, ae_error *err)
{
    for (int k = 0; ae_cfg_record_names[k]; k++)
        if (strcmp(ae_cfg_record_names[k], name) == 0) {
            cfg->output_fields |= (uint64_t)1 << k;
            return 0;
        }
    ae_strbuf known = {0};
    for (int k = 0; ae_cfg_record_names[k]; k++) ae_strbuf_printf(&known, "%s%s", k ? ", " : "", ae_cfg_record_names[k]);
    int status = ae_fail(err, "%s: unknown field \"%s\" (the fields are %s; `done` and the coordinates are always "
                              "written)", where, name, known.data);
    ae_strbuf_free(&known);
    return status;
}

/* output.fields = "all", or names separated by commas ("outcome,splay", as --set gives them). */
static int set_output_fields_text(ae_config *cfg, const char *text, const char *where, ae_error *err)
{
    if (strcmp(text, "all") == 0) { /* the optimizer state comes with output.optimizer_state */
        cfg->output_fields = AE_RECORD_FIELDS_DEFAULT;
        return 0;
    }
    char *names = ae_xstrdup(text), *rest = NULL;
    cfg->output_fields = 0;
    int status = 0;
    for (char *name = strtok_r(names, ", ", &rest); name && !status; name = strtok_r(NULL, ", ", &rest))
        status = add_output_field(cfg, name, where, err);
    free(names);
    if (!status && !cfg->output_fields) status = ae_fail(err, "%s: names no field (\"all\" keeps every one)", where);
    return status;
}

/* output.fields = ["outcome", "recovery_step", "splay"]: a list of field names. */
static int parse_output_fields_list(parser *ps, const config_setting_t *node, const char *where)
{
    int count = config_setting_length(node);
    if (count == 0) return ae_fail(ps->err, "%s: the list is empty (\"all\" keeps every field)", where);
    ps->cfg->output_fields = 0;
    for (int k = 0; k < count; k++) {
        const config_setting_t *item = config_setting_get_elem(node, (unsigned)k);
        if (config_setting_type(item) != CONFIG_TYPE_STRING)
            return ae_fail(ps->err, "%s: expects field names in quotes, got %s", where,
                           type_name(config_setting_type(item)));
        if (add_output_field(ps->cfg, config_setting_get_string(item), where, ps->err)) return -1;
    }
    return 0;
}

/* twin.param: the real setting a setting twin moves by eps ("state": none, a state twin).
 * Lanes of one CPU group and the two runs of a CUDA pair share the model's shape, the
 * optimizer and the step schedule, and a whole-number setting moved by eps is no setting:
 * so only real settings qualify, and twin.eps itself does not. */
static int set_twin_param(ae_config *cfg, const char *text, const char *where, ae_error *err)
{
    const ae_setting *s = ae_setting_find(text);
    cfg->twin_setting = NULL;
    if (strcmp(text, "state") == 0) return 0;
    if (!s) return ae_fail(err, "%s: \"%s\" is not a setting (\"state\" or a real setting such as \"perturb.bias_delta\")",
                           where, text);
    if (s->type != AE_SET_REAL || s->offset == offsetof(ae_params, twin_eps))
        return ae_fail(err, "%s: a setting twin moves a real setting by eps; %s is %s", where, text,
                       s->type != AE_SET_REAL ? "not real (shape, optimizer, schedule, seed and names are shared by a "
                                                "run and its twin)"
                                              : "the shift itself");
    cfg->twin_setting = s;
    return 0;
}

/* A boolean text key: true or false (libconfig's booleans arrive here as that text). */
static int set_flag(int *flag, const char *text, const char *where, ae_error *err)
{
    if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0) return ae_fail(err, "%s: expects true or false", where);
    *flag = strcmp(text, "true") == 0;
    return 0;
}

static int set_text(ae_config *cfg, const char *key, const char *text, const char *where, ae_error *err)
{
    if (strcmp(key, "perturb.features") == 0) return set_features_text(cfg, text, where, err);
    if (strcmp(key, "output.fields") == 0) return set_output_fields_text(cfg, text, where, err);
    if (strcmp(key, "twin.param") == 0) return set_twin_param(cfg, text, where, err);
    if (strcmp(key, "twin.relative") == 0) return set_flag(&cfg->twin_relative, text, where, err);
    if (strcmp(key, "output.optimizer_state") == 0) return set_flag(&cfg->write_optimizer_state, text, where, err);
    if (strcmp(key, "init.optimizer_state") == 0) {
        if (strcmp(text, "keep") != 0 && strcmp(text, "reset") != 0)
            return ae_fail(err, "%s: expects \"reset\" (start the optimizer afresh) or \"keep\" (continue from the "
                                "file's opt_ variables)", where);
        cfg->keep_optimizer_state = strcmp(text, "keep") == 0;
        cfg->optimizer_state_given = 1;
        return 0;
    }
    char **slot = strcmp(key, "init.file") == 0 ? &cfg->init_file : &cfg->init_select;
    if (!text[0]) return ae_fail(err, "%s: must not be empty", where);
    free(*slot);
    *slot = ae_xstrdup(text);
    return 0;
}

static int parse_text_key(parser *ps, const char *key, const config_setting_t *node)
{
    char where[1024];
    where_of(ps, node, key, where, sizeof where);
    int type = config_setting_type(node);
    if (strcmp(key, "perturb.features") == 0 && (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST))
        return parse_features_list(ps, node, where);
    if (strcmp(key, "output.fields") == 0 && (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST))
        return parse_output_fields_list(ps, node, where);
    const int boolean = strcmp(key, "twin.relative") == 0 || strcmp(key, "output.optimizer_state") == 0;
    if (boolean && type == CONFIG_TYPE_BOOL)
        return set_text(ps->cfg, key, config_setting_get_bool(node) ? "true" : "false", where, ps->err);
    if (type != CONFIG_TYPE_STRING)
        return ae_fail(ps->err, "%s: expects %s, got %s", where, boolean ? "true or false" : "a string", type_name(type));
    return set_text(ps->cfg, key, config_setting_get_string(node), where, ps->err);
}

/* trajectory.select = { lr = 0.01; bias_delta = 0.1; }: one run by its coordinates, kept
 * as written until the grid axes are known (resolve_trajectory_select). */
static int parse_run_select(parser *ps, const config_setting_t *group, const char *where, ae_run_select *sel)
{
    memset(sel, 0, sizeof *sel);
    snprintf(sel->where, sizeof sel->where, "%.200s", where);
    if (config_setting_type(group) != CONFIG_TYPE_GROUP || config_setting_length(group) == 0)
        return ae_fail(ps->err, "%s: expects grid coordinates { lr = 0.01; bias_delta = 0.1; }", where);
    if (config_setting_length(group) > AE_AXES_MAX) return ae_fail(ps->err, "%s: more than %d coordinates", where, AE_AXES_MAX);
    for (int k = 0; k < config_setting_length(group); k++) {
        const config_setting_t *item = config_setting_get_elem(group, (unsigned)k);
        const char *axis = config_setting_name(item);
        snprintf(sel->axis[k], sizeof sel->axis[k], "%s", axis);
        if (config_setting_type(item) == CONFIG_TYPE_STRING)
            snprintf(sel->text[k], sizeof sel->text[k], "%s", config_setting_get_string(item));
        else if (is_number(item))
            sel->value[k] = number_of(item);
        else
            return ae_fail(ps->err, "%s: %s expects a grid value (a number or a name), got %s", where, axis,
                           type_name(config_setting_type(item)));
    }
    sel->count = config_setting_length(group);
    return 0;
}

static int parse_trajectory_select(parser *ps, const config_setting_t *node, const char *where)
{
    ae_config *cfg = ps->cfg;
    int type = config_setting_type(node);
    int count = type == CONFIG_TYPE_GROUP ? 1 : type == CONFIG_TYPE_LIST ? config_setting_length(node) : 0;
    if (count == 0)
        return ae_fail(ps->err, "%s: expects { lr = 0.01; bias_delta = 0.1; } or a list ( {...}, {...} )", where);
    free(cfg->trajectory_select);
    cfg->trajectory_select = ae_xcalloc((size_t)count, sizeof(ae_run_select));
    cfg->n_trajectory_select = 0;
    for (int k = 0; k < count; k++) {
        const config_setting_t *item = type == CONFIG_TYPE_GROUP ? node : config_setting_get_elem(node, (unsigned)k);
        char item_where[256];
        snprintf(item_where, sizeof item_where, "%.200s", where);
        if (type == CONFIG_TYPE_LIST) snprintf(item_where, sizeof item_where, "%.200s[%d]", where, k);
        if (parse_run_select(ps, item, item_where, &cfg->trajectory_select[k])) return -1;
        cfg->n_trajectory_select++;
    }
    return 0;
}

/* trajectory = { every = 100; runs = [0, 5]; select = ( { lr = 0.01; bias_delta = 0.1; } ); } */
static int parse_trajectory(parser *ps, const config_setting_t *group)
{
    char where[1024];
    ae_config *cfg = ps->cfg;
    for (int k = 0; k < config_setting_length(group); k++) {
        const config_setting_t *node = config_setting_get_elem(group, (unsigned)k);
        const char *name = config_setting_name(node);
        int type = config_setting_type(node);
        char key[128];
        snprintf(key, sizeof key, "trajectory.%s", name);
        where_of(ps, node, key, where, sizeof where);
        if (strcmp(name, "every") == 0) {
            if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return ae_fail(ps->err, "%s: expects an integer, got %s", where, type_name(type));
            cfg->trajectory_every = config_setting_get_int64(node);
            if (cfg->trajectory_every < 1) return ae_fail(ps->err, "%s: must be at least 1", where);
        } else if (strcmp(name, "runs") == 0) {
            if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return ae_fail(ps->err, "%s: expects a list of flat run indices [0, 5, ...]", where);
            int count = config_setting_length(node);
            if (count == 0) return ae_fail(ps->err, "%s: the list is empty", where);
            free(cfg->trajectory_runs);
            cfg->trajectory_runs = ae_xcalloc((size_t)count, sizeof(uint64_t));
            cfg->n_trajectory_runs = count;
            for (int r = 0; r < count; r++) {
                const config_setting_t *item = config_setting_get_elem(node, (unsigned)r);
                int item_type = config_setting_type(item);
                if ((item_type != CONFIG_TYPE_INT && item_type != CONFIG_TYPE_INT64) || config_setting_get_int64(item) < 0)
                    return ae_fail(ps->err, "%s: item %d is not a run index (an integer >= 0)", where, r + 1);
                cfg->trajectory_runs[r] = (uint64_t)config_setting_get_int64(item);
            }
        } else if (strcmp(name, "select") == 0) {
            if (parse_trajectory_select(ps, node, where)) return -1;
        } else {
            return ae_fail(ps->err, "%s: unknown key (trajectory has every, runs and select)", where);
        }
    }
    return 0;
}

/* Nearest value of one axis to a coordinate of trajectory.select, or -1 (error in err). */
static int64_t select_index(const ae_axis *axis, const ae_run_select *sel, int k, ae_error *err)
{
    const ae_setting *s = axis->setting;
    if (!s) return ae_fail(err, "%s: %s: a sample axis has no values to select; use trajectory.runs", sel->where, sel->axis[k]);
    if (s->type == AE_SET_ENUM) {
        int index = sel->text[k][0] ? ae_cfg_enum_index(s, sel->text[k]) : -1;
        for (uint64_t v = 0; index >= 0 && v < axis->count; v++)
            if (axis->values[v] == index) return (int64_t)v;
        return ae_fail(err, "%s: %s = \"%s\" is not a value of the axis", sel->where, sel->axis[k], sel->text[k]);
    }
    if (sel->text[k][0]) return ae_fail(err, "%s: %s expects a number", sel->where, sel->axis[k]);
    uint64_t best = 0;
    for (uint64_t v = 1; v < axis->count; v++)
        if (fabs(axis->values[v] - sel->value[k]) < fabs(axis->values[best] - sel->value[k])) best = v;
    return (int64_t)best;
}

/* trajectory.select -> flat run indices, appended to trajectory.runs (each run once).  Axes
 * the selection does not name take their first value; with base states from a file the
 * indices are those of the first base state. */
static int resolve_trajectory_select(ae_config *cfg, ae_error *err)
{
    for (int r = 0; r < cfg->n_trajectory_select; r++) {
        const ae_run_select *sel = &cfg->trajectory_select[r];
        int64_t index[AE_AXES_MAX] = {0};
        for (int k = 0; k < sel->count; k++) {
            int a = 0;
            while (a < cfg->n_axes && strcmp(cfg->axes[a].name, sel->axis[k]) != 0) a++;
            if (a == cfg->n_axes) {
                char names[AE_AXES_MAX * 66] = "";
                for (int b = 0; b < cfg->n_axes; b++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", b ? ", " : "", cfg->axes[b].name);
                return ae_fail(err, "%s: %s is not a grid axis (axes: %s)", sel->where, sel->axis[k],
                               cfg->n_axes ? names : "none");
            }
            index[a] = select_index(&cfg->axes[a], sel, k, err);
            if (index[a] < 0) return -1;
        }
        uint64_t flat = 0;
        for (int a = 0; a < cfg->n_axes; a++) flat = flat * cfg->axes[a].count + (uint64_t)index[a];
        int seen = 0;
        for (int k = 0; k < cfg->n_trajectory_runs; k++) seen |= cfg->trajectory_runs[k] == flat;
        if (seen) continue;
        uint64_t *runs = ae_xcalloc((size_t)cfg->n_trajectory_runs + 1, sizeof(uint64_t));
        if (cfg->n_trajectory_runs) memcpy(runs, cfg->trajectory_runs, (size_t)cfg->n_trajectory_runs * sizeof(uint64_t));
        runs[cfg->n_trajectory_runs++] = flat;
        free(cfg->trajectory_runs);
        cfg->trajectory_runs = runs;
    }
    return 0;
}

/* model = {...}; init = {...}; ... : every member must be a known key. */
static int parse_group(parser *ps, const config_setting_t *group, const char *group_name)
{
    char where[1024];
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
        where_of(ps, group, group_name, where, sizeof where);
        return ae_fail(ps->err, "%s: expects a group { ... }, got %s", where, type_name(config_setting_type(group)));
    }
    for (int k = 0; k < config_setting_length(group); k++) {
        const config_setting_t *node = config_setting_get_elem(group, (unsigned)k);
        char key[256];
        snprintf(key, sizeof key, "%s.%s", group_name, config_setting_name(node));
        if (ae_cfg_is_text_key(key)) {
            if (parse_text_key(ps, key, node)) return -1;
            continue;
        }
        const ae_setting *s = ae_setting_find(key);
        if (!s) {
            where_of(ps, node, key, where, sizeof where);
            return ae_cfg_unknown_key(ps->err, where, key);
        }
        double value;
        if (parse_value(ps, s, node, &value)) return -1;
        ae_setting_put(s, &ps->cfg->params, value);
        ae_cfg_note_given(ps->cfg, s);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Grid axes                                                                 */
/* ------------------------------------------------------------------------ */

static int parse_axis_triplet(parser *ps, const config_setting_t *node, const char *where, double triplet[3],
                              int min_items, int max_items)
{
    int type = config_setting_type(node);
    int count = (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST) ? config_setting_length(node) : -1;
    if (count < min_items || count > max_items)
        return ae_fail(ps->err, "%s: expects [start, stop%s]", where, max_items == 3 ? ", count" : "");
    for (int k = 0; k < count; k++) {
        const config_setting_t *item = config_setting_get_elem(node, (unsigned)k);
        if (!is_number(item)) return ae_fail(ps->err, "%s: item %d is not a number", where, k + 1);
        triplet[k] = number_of(item);
        if (!isfinite(triplet[k])) return ae_fail(ps->err, "%s: item %d is not finite", where, k + 1);
    }
    return count;
}

static int fill_axis(parser *ps, ae_axis *axis, const config_setting_t *spec, const char *spec_name,
                     const char *where)
{
    const ae_setting *s = axis->setting;
    double t[3] = {0, 0, 1};
    uint64_t count = 0;
    if (strcmp(spec_name, "values") == 0) {
        int type = config_setting_type(spec);
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
            return ae_fail(ps->err, "%s: values expects a list [...]", where);
        count = (uint64_t)config_setting_length(spec);
        if (count == 0) return ae_fail(ps->err, "%s: empty axis (no values)", where);
        axis->values = ae_xcalloc(count, sizeof(double));
        for (uint64_t k = 0; k < count; k++) {
            const config_setting_t *item = config_setting_get_elem(spec, (unsigned)k);
            if (parse_value(ps, s, item, &axis->values[k])) return -1;
        }
        axis->count = count;
        return 0;
    }
    if (s->type == AE_SET_ENUM) return ae_fail(ps->err, "%s: %s is a name: use values = [\"...\"]", where, s->key);
    int is_range = strcmp(spec_name, "range") == 0;
    int items = parse_axis_triplet(ps, spec, where, t, is_range ? 2 : 3, 3);
    if (items < 0) return -1;
    if (is_range) {
        if (t[2] == 0) return ae_fail(ps->err, "%s: range step must not be 0", where);
        double span = ceil((t[1] - t[0]) / t[2]);
        if (!(span > 0)) return ae_fail(ps->err, "%s: empty axis (range [%g, %g) has no values)", where, t[0], t[1]);
        if (span > (double)AE_AXIS_MAX)
            return ae_fail(ps->err, "%s: range has %.0f values, more than one axis takes (%llu)", where, span,
                           (unsigned long long)AE_AXIS_MAX);
        count = (uint64_t)span;
    } else {
        /* logspace = [1e-4, 1e-1, 8] means 10^0.0001 .. 10^0.1 = 1.0002 .. 1.26: values where
         * exponents belong. Exponents of 10 inside (0, 1) are not what anyone sweeps. */
        if (strcmp(spec_name, "logspace") == 0 && t[0] > 0 && t[0] < 1 && t[1] > 0 && t[1] < 1)
            return ae_fail(ps->err, "%s: logspace bounds are exponents of 10, so [%g, %g] spans %.4g .. %.4g; "
                                    "for values from %g to %g write logspace = [%.4g, %.4g, %g]",
                           where, t[0], t[1], pow(10.0, t[0]), pow(10.0, t[1]), t[0], t[1], log10(t[0]),
                           log10(t[1]), t[2]);
        if (t[2] != floor(t[2]) || t[2] < 0)
            return ae_fail(ps->err, "%s: count must be a whole number, got %g", where, t[2]);
        if (t[2] > (double)AE_AXIS_MAX)
            return ae_fail(ps->err, "%s: %.0f values, more than one axis takes (%llu)", where, t[2],
                           (unsigned long long)AE_AXIS_MAX);
        count = (uint64_t)t[2];
        if (count == 0) return ae_fail(ps->err, "%s: empty axis (count is 0)", where);
    }
    axis->values = ae_xcalloc(count, sizeof(double));
    axis->count = count;
    char item_where[1100];
    for (uint64_t k = 0; k < count; k++) {
        double frac = count > 1 ? (double)k / (double)(count - 1) : 0.0;
        double value = is_range ? t[0] + (double)k * t[2]
                       : k == count - 1 && count > 1 ? t[1]
                                                     : t[0] + (t[1] - t[0]) * frac;
        if (strcmp(spec_name, "logspace") == 0) value = pow(10.0, value);
        axis->values[k] = value;
        snprintf(item_where, sizeof item_where, "%s (value %llu)", where, (unsigned long long)k);
        if (ae_cfg_check_number(s, value, item_where, ps->err)) return -1;
    }
    return 0;
}

/* One entry of a sample axis' params: { param = "train.lr"; loguniform = [-1.5, -1.0]; } */
static int parse_sample_param(parser *ps, const config_setting_t *node, const char *axis_where, int j,
                              ae_sample_param *p)
{
    char where[1100];
    snprintf(where, sizeof where, "%s.params[%d]", axis_where, j);
    if (config_setting_type(node) != CONFIG_TYPE_GROUP)
        return ae_fail(ps->err, "%s: expects a group { param = \"...\"; uniform = [lo, hi]; }", where);
    const char *param = NULL;
    const config_setting_t *bounds = NULL;
    for (int k = 0; k < config_setting_length(node); k++) {
        const config_setting_t *member = config_setting_get_elem(node, (unsigned)k);
        const char *name = config_setting_name(member);
        snprintf(where, sizeof where, "%s:%d: grid sample.params[%d].%s", ps->path, config_setting_source_line(member),
                 j, name);
        if (strcmp(name, "param") == 0 && config_setting_type(member) == CONFIG_TYPE_STRING) {
            param = config_setting_get_string(member);
        } else if (strcmp(name, "param") == 0) {
            return ae_fail(ps->err, "%s: expects a setting name such as \"train.lr\"", where);
        } else if (!strcmp(name, "uniform") || !strcmp(name, "loguniform")) {
            if (bounds) return ae_fail(ps->err, "%s: a sample param takes one of uniform, loguniform", where);
            bounds = member;
        } else {
            return ae_fail(ps->err, "%s: unknown key (a sample param has param and uniform or loguniform)", where);
        }
    }
    snprintf(where, sizeof where, "%s:%d: grid sample.params[%d]", ps->path, config_setting_source_line(node), j);
    if (!param) return ae_fail(ps->err, "%s: missing param = \"group.key\"", where);
    if (!bounds) return ae_fail(ps->err, "%s: missing uniform = [lo, hi] or loguniform = [lo, hi]", where);
    snprintf(where, sizeof where, "%s:%d: grid sample.params[%d] %s", ps->path, config_setting_source_line(bounds), j,
             param);
    p->setting = ae_setting_find(param);
    if (!p->setting) return ae_fail(ps->err, "%s: unknown setting", where);
    if (p->setting->type != AE_SET_REAL)
        return ae_fail(ps->err, "%s: a sample axis draws real numbers; this setting is not real (use a grid axis)", where);
    if (ae_cfg_is_axis_setting(ps->cfg, p->setting)) return ae_fail(ps->err, "%s: this setting is already an axis", where);
    double t[3];
    if (parse_axis_triplet(ps, bounds, where, t, 2, 2) < 0) return -1;
    p->lo = t[0];
    p->hi = t[1];
    p->exponents = strcmp(config_setting_name(bounds), "loguniform") == 0;
    if (!(p->lo < p->hi)) return ae_fail(ps->err, "%s: empty range [%g, %g] (lo must be below hi)", where, p->lo, p->hi);
    if (p->exponents && p->lo > 0 && p->lo < 1 && p->hi > 0 && p->hi < 1)
        return ae_fail(ps->err, "%s: loguniform bounds are exponents of 10, so [%g, %g] spans %.4g .. %.4g; "
                                "for values from %g to %g write loguniform = [%.4g, %.4g]",
                       where, p->lo, p->hi, pow(10.0, p->lo), pow(10.0, p->hi), p->lo, p->hi, log10(p->lo), log10(p->hi));
    for (int end = 0; end < 2; end++) {
        double bound = end ? p->hi : p->lo;
        if (ae_cfg_check_number(p->setting, p->exponents ? pow(10.0, bound) : bound, where, ps->err)) return -1;
    }
    ae_cfg_note_given(ps->cfg, p->setting);
    return 0;
}

/* One point of a sample axis: Philox stream AE_SAMPLE_STREAM, counter = point and setting,
 * uniform on (lo, hi) or on a log scale when p->exponents. */
double ae_sample_value(uint64_t seed, uint64_t point, int param, const ae_sample_param *p)
{
    uint64_t index = point * AE_SAMPLE_PARAMS_MAX + (uint64_t)param;
    uint32_t words[4];
    ae_philox4x32_10(index >> 2, AE_SAMPLE_STREAM, seed, words);
    double x = p->lo + (p->hi - p->lo) * ae_unit_open(words[index & 3]); /* in (lo, hi) */
    return p->exponents ? pow(10.0, x) : x;
}

/* { sample = N; seed = S; params = ( {...}, ... ); }: one dimension `sample`, its points drawn
 * now (ae_sample_value), so every run, shard and thread reads the same table. */
static int parse_sample_axis(parser *ps, const config_setting_t *node, const char *axis_where)
{
    ae_config *cfg = ps->cfg;
    ae_axis *axis = &cfg->axes[cfg->n_axes];
    const config_setting_t *params = NULL;
    int has_count = 0;
    char where[1100];
    for (int k = 0; k < config_setting_length(node); k++) {
        const config_setting_t *member = config_setting_get_elem(node, (unsigned)k);
        const char *name = config_setting_name(member);
        snprintf(where, sizeof where, "%s:%d: grid sample.%s", ps->path, config_setting_source_line(member), name);
        int is_int = config_setting_type(member) == CONFIG_TYPE_INT || config_setting_type(member) == CONFIG_TYPE_INT64;
        int is_count = strcmp(name, "sample") == 0;
        if (is_count || !strcmp(name, "seed")) {
            long long value = is_int ? config_setting_get_int64(member) : -1;
            long long least = is_count ? 1 : 0, most = is_count ? (long long)AE_AXIS_MAX : INT64_MAX;
            if (!is_int || value < least || value > most)
                return ae_fail(ps->err, "%s: expects an integer in [%lld, %lld]", where, least, most);
            if (is_count) {
                axis->count = (uint64_t)value;
                has_count = 1;
            } else {
                axis->seed = (uint64_t)value;
            }
        } else if (!strcmp(name, "params")) {
            int type = config_setting_type(member);
            if ((type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY) || config_setting_length(member) < 1 ||
                config_setting_length(member) > AE_SAMPLE_PARAMS_MAX)
                return ae_fail(ps->err, "%s: expects a list of 1 to %d groups ( { param = ...; uniform = [lo, hi]; }, ... )",
                               where, AE_SAMPLE_PARAMS_MAX);
            params = member;
        } else {
            return ae_fail(ps->err, "%s: unknown key (a sample axis has sample, seed and params)", where);
        }
    }
    if (!has_count) return ae_fail(ps->err, "%s: missing sample = <number of points>", axis_where);
    if (!params) return ae_fail(ps->err, "%s: missing params = ( { param = ...; uniform = [lo, hi]; }, ... )", axis_where);
    for (int a = 0; a < cfg->n_axes; a++)
        if (cfg->axes[a].n_params) return ae_fail(ps->err, "%s: a grid has one sample axis at most", axis_where);
    snprintf(axis->name, sizeof axis->name, "sample");
    cfg->n_axes++; /* owned from here, so free() reaches its values */
    for (int j = 0; j < config_setting_length(params); j++) {
        if (parse_sample_param(ps, config_setting_get_elem(params, (unsigned)j), axis_where, j, &axis->params[j]))
            return -1;
        axis->n_params = j + 1;
    }
    axis->values = ae_xcalloc(axis->count * (uint64_t)axis->n_params, sizeof(double));
    for (uint64_t k = 0; k < axis->count; k++)
        for (int j = 0; j < axis->n_params; j++)
            axis->values[k * (uint64_t)axis->n_params + j] = ae_sample_value(axis->seed, k, j, &axis->params[j]);
    return 0;
}

/* "file:line: grid[k]" then `tail` (".linspace", " train.lr"), or the --grid argument for an
 * axis given there. */
static void axis_where(const parser *ps, const config_setting_t *node, int index, const char *tail, char *out,
                       size_t size)
{
    if (is_grid_override(ps))
        snprintf(out, size, "%s", ps->path);
    else
        snprintf(out, size, "%s:%d: grid[%d]%s", ps->path, config_setting_source_line(node), index, tail);
}

static int parse_axis(parser *ps, const config_setting_t *node, int index)
{
    char where[1024];
    axis_where(ps, node, index, "", where, sizeof where);
    if (config_setting_type(node) != CONFIG_TYPE_GROUP)
        return ae_fail(ps->err, "%s: expects a group { param = \"...\"; values = [...]; }", where);
    ae_config *cfg = ps->cfg;
    if (cfg->n_axes == AE_AXES_MAX) return ae_fail(ps->err, "%s: more than %d axes", where, AE_AXES_MAX);
    if (config_setting_get_member(node, "sample")) return parse_sample_axis(ps, node, where);
    ae_axis *axis = &cfg->axes[cfg->n_axes];
    const config_setting_t *spec = NULL;
    const char *param = NULL;
    for (int k = 0; k < config_setting_length(node); k++) {
        const config_setting_t *member = config_setting_get_elem(node, (unsigned)k);
        const char *name = config_setting_name(member);
        char tail[96];
        snprintf(tail, sizeof tail, ".%s", name);
        axis_where(ps, member, index, tail, where, sizeof where);
        if (strcmp(name, "param") == 0) {
            if (config_setting_type(member) != CONFIG_TYPE_STRING)
                return ae_fail(ps->err, "%s: expects a setting name such as \"train.lr\"", where);
            param = config_setting_get_string(member);
        } else if (!strcmp(name, "linspace") || !strcmp(name, "logspace") || !strcmp(name, "range") ||
                   !strcmp(name, "values")) {
            if (spec) return ae_fail(ps->err, "%s: an axis takes one of linspace, logspace, range, values", where);
            spec = member;
        } else {
            return ae_fail(ps->err, "%s: unknown key (an axis has param and one of linspace, logspace, range, "
                                    "values)",
                           where);
        }
    }
    axis_where(ps, node, index, "", where, sizeof where);
    if (!param) return ae_fail(ps->err, "%s: missing param = \"group.key\"", where);
    if (!spec) return ae_fail(ps->err, "%s: missing linspace, logspace, range or values", where);
    axis->setting = ae_setting_find(param);
    char tail[160];
    snprintf(tail, sizeof tail, " %s", param);
    axis_where(ps, spec, index, tail, where, sizeof where);
    if (!axis->setting)
        return ae_fail(ps->err, "%s: %s", where,
                       ae_cfg_is_text_key(param) ? "is not numeric and cannot be a grid axis" : "unknown setting");
    if (ae_cfg_is_axis_setting(cfg, axis->setting)) return ae_fail(ps->err, "%s: this setting is already an axis", where);
    snprintf(axis->name, sizeof axis->name, "%s", axis->setting->dim);
    ae_cfg_note_given(cfg, axis->setting);
    cfg->n_axes++; /* owned from here, so free() reaches its values */
    return fill_axis(ps, axis, spec, config_setting_name(spec), where);
}

static int parse_grid(parser *ps, const config_setting_t *grid)
{
    int type = config_setting_type(grid);
    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY) {
        char where[1024];
        where_of(ps, grid, "grid", where, sizeof where);
        return ae_fail(ps->err, "%s: expects a list ( { param = ...; ... }, ... )", where);
    }
    for (int k = 0; k < config_setting_length(grid); k++)
        if (parse_axis(ps, config_setting_get_elem(grid, (unsigned)k), k)) return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* --set KEY=VALUE                                                           */
/* ------------------------------------------------------------------------ */

static char *normalise_numbers(const char *text);
static int parse_root(parser *ps, config_t *lc);

/* --set KEY=VALUE where VALUE is libconfig text (a list, a group, a string) or KEY is a text
 * or trajectory setting: read as `group = { member = VALUE; };` and parsed like the file. */
static int apply_set_text(ae_config *cfg, const char *key, const char *value, ae_error *err)
{
    const char *dot = strchr(key, '.');
    if (!dot || !dot[1] || strchr(dot + 1, '.')) return ae_fail(err, "--set %s: unknown key", key);
    ae_strbuf snippet = {0};
    int quote = ae_cfg_is_text_key(key) && !strchr("\"[(", value[0]);
    ae_strbuf_printf(&snippet, "%.*s = { %s = %s", (int)(dot - key), key, dot + 1, quote ? "\"" : "");
    for (const char *c = value; quote && *c; c++) ae_strbuf_printf(&snippet, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
    ae_strbuf_printf(&snippet, "%s; };\n", quote ? "\"" : value);
    char *normalised = normalise_numbers(snippet.data);
    config_t lc;
    config_init(&lc);
    int status;
    if (config_read_string(&lc, normalised) != CONFIG_TRUE) {
        status = ae_fail(err, "--set %s: cannot read \"%s\" (a number, \"text\", a list [1, 2] or a group "
                              "{ lr = 0.01; })", key, value);
    } else {
        parser ps = {"--set", cfg, err};
        status = parse_root(&ps, &lc);
    }
    config_destroy(&lc);
    free(normalised);
    free(snippet.data);
    return status;
}

static int apply_set(ae_config *cfg, const char *assignment, ae_error *err)
{
    const char *equals = strchr(assignment, '=');
    char key[256], where[512];
    if (!equals || equals == assignment || (size_t)(equals - assignment) >= sizeof key)
        return ae_fail(err, "--set %s: expects KEY=VALUE, e.g. --set train.steps=500", assignment);
    snprintf(key, sizeof key, "%.*s", (int)(equals - assignment), assignment);
    const char *text = equals + 1;
    snprintf(where, sizeof where, "--set %s", key);
    if (strncmp(key, "grid", 4) == 0 && strchr(".[(", key[4]))
        return ae_fail(err, "%s: the grid changes with --grid PARAM=SPEC, e.g. --grid train.lr=logspace:-4:-1:256 "
                            "(the axis of PARAM replaced, or appended)", where);
    if (ae_cfg_is_text_key(key) || strncmp(key, "trajectory.", 11) == 0 || strchr("[({\"", text[0]))
        return apply_set_text(cfg, key, text, err);
    const ae_setting *s = ae_setting_find(key);
    if (!s) return ae_cfg_unknown_key(err, where, key);
    if (ae_cfg_is_axis_setting(cfg, s))
        return ae_fail(err, "%s: is a grid axis in the config; --grid %s=SPEC changes it", where, s->dim);
    double value;
    if (s->type == AE_SET_ENUM) {
        int index = ae_cfg_enum_index(s, text);
        if (index < 0) return ae_cfg_check_number(s, 0, where, err);
        value = index;
    } else {
        char *end;
        value = strtod(text, &end);
        if (end == text || *end) return ae_fail(err, "%s: \"%s\" is not a number", where, text);
        if (ae_cfg_check_number(s, value, where, err)) return -1;
    }
    ae_setting_put(s, &cfg->params, value);
    ae_cfg_note_given(cfg, s);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* --grid PARAM=SPEC                                                         */
/* ------------------------------------------------------------------------ */

/* SPEC as the body of a libconfig axis: "logspace:-4:-1:256" -> `logspace = [-4, -1, 256];`,
 * "values:adam,adamw" -> `values = ["adam", "adamw"];` (names quoted for an enum setting).
 * NULL when SPEC names no kind. */
static char *axis_text(const ae_setting *s, const char *spec)
{
    static const char *const kinds[] = {"linspace", "logspace", "range", "values", NULL};
    const char *colon = strchr(spec, ':');
    int kind = -1;
    for (int k = 0; colon && kinds[k]; k++)
        if ((size_t)(colon - spec) == strlen(kinds[k]) && strncmp(spec, kinds[k], strlen(kinds[k])) == 0) kind = k;
    if (kind < 0) return NULL;
    const int quote = kind == 3 && s->type == AE_SET_ENUM;
    ae_strbuf text = {0};
    ae_strbuf_printf(&text, "axis = { param = \"%s\"; %s = [%s", s->key, kinds[kind], quote ? "\"" : "");
    for (const char *c = colon + 1; *c; c++) {
        const int separator = *c == ',' || (*c == ':' && kind < 3);
        if (separator)
            ae_strbuf_printf(&text, "%s, %s", quote ? "\"" : "", quote ? "\"" : "");
        else if (*c == '"' || *c == '\\' || *c == '\n')
            ae_strbuf_printf(&text, "?"); /* no value holds these: an error, not a way out of the string */
        else
            ae_strbuf_printf(&text, "%c", *c);
    }
    ae_strbuf_printf(&text, "%s]; };\n", quote ? "\"" : "");
    return text.data;
}

static int apply_grid(ae_config *cfg, const char *assignment, ae_error *err)
{
    char where[512], param[128];
    const char *equals = strchr(assignment, '=');
    snprintf(where, sizeof where, "--grid %s", assignment);
    if (!equals || equals == assignment || (size_t)(equals - assignment) >= sizeof param)
        return ae_fail(err, "%s: expects PARAM=SPEC, e.g. --grid train.lr=logspace:-4:-1:256", where);
    snprintf(param, sizeof param, "%.*s", (int)(equals - assignment), assignment);
    const ae_setting *s = ae_cfg_setting_named(param);
    if (!s) {
        if (ae_cfg_is_text_key(param)) return ae_fail(err, "%s: %s is not numeric and cannot be a grid axis", where, param);
        return ae_cfg_unknown_key(err, where, param);
    }
    int at = -1; /* the axis of this setting, replaced in place */
    for (int a = 0; a < cfg->n_axes; a++) {
        if (cfg->axes[a].setting == s) at = a;
        for (int j = 0; j < cfg->axes[a].n_params; j++)
            if (cfg->axes[a].params[j].setting == s)
                return ae_fail(err, "%s: %s is drawn by the sample axis; change it in the config", where, s->key);
    }
    if (at < 0 && cfg->n_axes == AE_AXES_MAX) return ae_fail(err, "%s: more than %d axes", where, AE_AXES_MAX);
    char *text = axis_text(s, equals + 1);
    if (!text)
        return ae_fail(err, "%s: SPEC is one of linspace:A:B:N, logspace:A:B:N (exponents of 10), range:A:B[:S], "
                            "values:X,Y,...",
                       where);
    char *normalised = normalise_numbers(text);
    config_t lc;
    config_init(&lc);
    int status;
    if (config_read_string(&lc, normalised) != CONFIG_TRUE) {
        status = ae_fail(err, "%s: cannot read the values (numbers, or names for %s)", where, s->key);
    } else {
        /* take the old axis out, parse the new one at the end, and move it to the old place */
        ae_axis old = {0};
        if (at >= 0) {
            old = cfg->axes[at];
            memmove(&cfg->axes[at], &cfg->axes[at + 1], (size_t)(cfg->n_axes - at - 1) * sizeof old);
            cfg->n_axes--;
            memset(&cfg->axes[cfg->n_axes], 0, sizeof old); /* parse_axis fills a clean slot */
        }
        parser ps = {where, cfg, err};
        status = parse_axis(&ps, config_lookup(&lc, "axis"), at >= 0 ? at : cfg->n_axes);
        if (at >= 0 && status == 0) {
            ae_axis fresh = cfg->axes[cfg->n_axes - 1];
            memmove(&cfg->axes[at + 1], &cfg->axes[at], (size_t)(cfg->n_axes - 1 - at) * sizeof fresh);
            cfg->axes[at] = fresh;
        }
        free(old.values);
    }
    config_destroy(&lc);
    free(normalised);
    free(text);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

static int parse_root(parser *ps, config_t *lc)
{
    const config_setting_t *root = config_root_setting(lc);
    for (int k = 0; k < config_setting_length(root); k++) {
        const config_setting_t *node = config_setting_get_elem(root, (unsigned)k);
        const char *name = config_setting_name(node);
        int known = 0;
        for (int g = 0; ae_cfg_groups[g]; g++)
            if (strcmp(ae_cfg_groups[g], name) == 0) known = 1;
        if (strcmp(name, "grid") == 0) {
            if (parse_grid(ps, node)) return -1;
        } else if (strcmp(name, "trajectory") == 0 && config_setting_type(node) == CONFIG_TYPE_GROUP) {
            if (parse_trajectory(ps, node)) return -1;
        } else if (known) {
            if (parse_group(ps, node, name)) return -1;
        } else {
            char where[1024];
            where_of(ps, node, name, where, sizeof where);
            return ae_fail(ps->err, "%s: unknown section (expected model, init, train, outcome, perturb, intervene, twin, trajectory, output, grid)", where);
        }
    }
    return 0;
}

/* The largest (sign 1) or smallest (sign -1) value a numeric setting takes in any run. */
static double setting_extreme(const ae_config *cfg, const ae_setting *s, double sign)
{
    double best = ae_setting_get(s, &cfg->params);
    for (int a = 0; a < cfg->n_axes; a++)
        if (cfg->axes[a].setting == s)
            for (uint64_t k = 0; k < cfg->axes[a].count; k++)
                if (sign * cfg->axes[a].values[k] > sign * best) best = cfg->axes[a].values[k];
    return best;
}

/* init.select = "first:<outcome>" or "all:<outcome>[,<outcome>...]": every name known. */
static int check_select_outcomes(const ae_config *cfg, ae_error *err)
{
    const char *select = cfg->init_select;
    if (!select || (strncmp(select, "first:", 6) != 0 && strncmp(select, "all:", 4) != 0)) return 0;
    char names[256];
    snprintf(names, sizeof names, "%s", strchr(select, ':') + 1);
    for (char *name = strtok(names, ","); name; name = strtok(NULL, ",")) {
        if (ae_outcome_retired(name))
            return ae_fail(err, "%s: init.select = \"%s\": %s", cfg->path, select, ae_outcome_retired(name));
        if (ae_outcome_code(name) < 0) {
            char known[256] = "";
            for (int k = 0; k < AE_OUTCOME_COUNT; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "", ae_outcome_name(k));
            return ae_fail(err, "%s: init.select = \"%s\": unknown outcome \"%s\" (%s)", cfg->path, select, name, known);
        }
    }
    return 0;
}

static int check_whole(ae_config *cfg, ae_error *err)
{
    if ((cfg->twin_setting || cfg->twin_relative) && !cfg->twin_enabled)
        return ae_fail(err, "%s: twin.param and twin.relative need twin.eps (the twin's shift)", cfg->path);
    /* gap places features by angle in the latent plane: there is no such order for m != 2 */
    const ae_setting *latent = ae_setting_find("model.m");
    if (ae_config_takes(cfg, "intervene.method", AE_INTERVENE_GAP) &&
        (setting_extreme(cfg, latent, 1) != 2 || setting_extreme(cfg, latent, -1) != 2))
        return ae_fail(err, "%s: intervene.method = \"gap\" needs model.m = 2 (angular gaps exist in a plane only)",
                       cfg->path);
    if (resolve_trajectory_select(cfg, err)) return -1;
    if ((cfg->trajectory_every || cfg->n_trajectory_runs) && !(cfg->trajectory_every && cfg->n_trajectory_runs))
        return ae_fail(err, "%s: trajectory needs every = <steps> and runs = [<run index>, ...] or select = "
                            "{ <axis> = <value>; ... }", cfg->path);
    uint64_t total = 1;
    for (int a = 0; a < cfg->n_axes; a++) {
        if (cfg->axes[a].count > AE_RUNS_MAX / total)
            return ae_fail(err, "%s: the grid has more than %llu runs (axis %s makes it overflow)", cfg->path,
                           (unsigned long long)AE_RUNS_MAX, cfg->axes[a].name);
        total *= cfg->axes[a].count;
    }
    if (cfg->params.scheme == AE_INIT_FILE && !cfg->init_file)
        return ae_fail(err, "%s: init.scheme = \"file\" needs init.file = \"earlier.h5\"", cfg->path);
    if (cfg->params.scheme != AE_INIT_FILE && (cfg->init_file || cfg->init_select || cfg->optimizer_state_given))
        return ae_fail(err, "%s: init.file, init.select and init.optimizer_state need init.scheme = \"file\"",
                       cfg->path);
    /* the optimizer state is one record (its moments mean nothing without its step count):
     * output.optimizer_state writes all of it, output.fields cannot pick parts */
    if ((cfg->output_fields & AE_RECORD_FIELDS_OPTIMIZER) && !cfg->write_optimizer_state)
        return ae_fail(err, "%s: output.fields: the opt_ fields are the optimizer state, written all together with "
                            "output.optimizer_state = true",
                       cfg->path);
    if (cfg->write_optimizer_state) cfg->output_fields |= AE_RECORD_FIELDS_OPTIMIZER;
    if ((cfg->output_fields & ~AE_RECORD_FIELDS_OPTIMIZER) == AE_RECORD_FIELDS_DEFAULT) {
        /* by default a file holds what its runs compute: no all-NaN twin or check variables */
        const int checks = setting_extreme(cfg, ae_setting_find("check.float64"), 1) > 0;
        cfg->output_fields &= ~ae_cfg_fields_not_computed(cfg->twin_enabled, checks);
    }
    if (cfg->params.check_float64 > 0 && !ae_config_takes(cfg, "model.precision", AE_FLOAT32))
        return ae_fail(err, "%s: check.float64 = %lld: checks float32 runs in float64, and every run of this sweep "
                            "is float64 already",
                       cfg->path, (long long)cfg->params.check_float64);
    if (check_select_outcomes(cfg, err)) return -1;
    /* the plateau test compares the loss with a check at most AE_TRACK_RING - 1 checks back */
    const ae_setting *window = ae_setting_find("outcome.window"), *check_every = ae_setting_find("train.check_every");
    double widest = setting_extreme(cfg, window, 1), densest = setting_extreme(cfg, check_every, -1);
    if (ceil(widest / densest) > AE_TRACK_RING - 1)
        return ae_fail(err, "%s: outcome.window = %.0f spans more than %d checks of train.check_every = %.0f; "
                            "raise train.check_every to at least %.0f",
                       cfg->path, widest, AE_TRACK_RING - 1, densest, ceil(widest / (AE_TRACK_RING - 1)));
    for (int a = 0; a < cfg->n_axes; a++) {
        const ae_setting *s = cfg->axes[a].setting;
        if (!s) continue; /* a sample axis: real settings only */
        if (s->offset == offsetof(ae_params, check_float64) || s->offset == offsetof(ae_params, check_seed))
            return ae_fail(err, "%s: %s describes the sweep, not a run: it cannot be an axis", cfg->path, s->key);
        int shape_axis = s->offset == offsetof(ae_params, n) || s->offset == offsetof(ae_params, m);
        if (shape_axis && cfg->params.scheme == AE_INIT_FILE)
            return ae_fail(err, "%s: %s cannot be an axis with base states from a file", cfg->path, s->key);
        if (s->offset == offsetof(ae_params, scheme))
            for (uint64_t k = 0; k < cfg->axes[a].count; k++)
                if (cfg->axes[a].values[k] == AE_INIT_FILE)
                    return ae_fail(err, "%s: init.scheme \"file\" cannot be an axis value", cfg->path);
    }
    return 0;
}

/* Two traps of libconfig 1.5, closed before it reads the text:
 *  - its arrays hold one scalar type, so `logspace = [-4.0, -1.0, 64]` (DESIGN.md's own
 *    example) is a syntax error: integers of an array that also holds a float become
 *    floats ("64" -> "64.0");
 *  - integers past 32 bits silently wrap (1000000000000 reads as -727379968): such
 *    literals get libconfig's 64-bit suffix ("1000000000000L").
 * Only characters are inserted within lines, outside strings and comments, so line
 * numbers in errors stay right. */
static int is_float_literal(const char *token, size_t length)
{
    if (length > 1 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) return 0;
    for (size_t k = 0; k < length; k++)
        if (token[k] == '.' || token[k] == 'e' || token[k] == 'E') return 1;
    return 0;
}

static size_t skip_string_or_comment(const char *text, size_t at)
{
    if (text[at] == '"') {
        for (at++; text[at] && text[at] != '"'; at++)
            if (text[at] == '\\' && text[at + 1]) at++;
        return text[at] ? at + 1 : at;
    }
    if (text[at] == '#' || (text[at] == '/' && text[at + 1] == '/')) return at + strcspn(text + at, "\n");
    if (text[at] == '/' && text[at + 1] == '*') {
        const char *end = strstr(text + at + 2, "*/");
        return end ? (size_t)(end - text) + 2 : strlen(text);
    }
    return at;
}

static size_t number_length(const char *text)
{
    size_t k = 0;
    if (text[k] == '+' || text[k] == '-') k++;
    while (isalnum((unsigned char)text[k]) || text[k] == '.' ||
           ((text[k] == '+' || text[k] == '-') && (text[k - 1] == 'e' || text[k - 1] == 'E')))
        k++;
    return k;
}

/* Line of the first @include outside strings and comments, or 0. */
static int include_line(const char *text)
{
    int line = 1;
    for (size_t at = 0; text[at];) {
        size_t skipped = skip_string_or_comment(text, at);
        for (size_t k = at; k < skipped; k++) line += text[k] == '\n';
        if (skipped != at) {
            at = skipped;
            continue;
        }
        if (strncmp(text + at, "@include", 8) == 0) return line;
        line += text[at++] == '\n';
    }
    return 0;
}

/* Is the number token at text (length bytes) an integer past 32 bits, which libconfig
 * would wrap? */
static int is_big_integer(const char *text, size_t length)
{
    int sign = text[0] == '-' || text[0] == '+';
    if (is_float_literal(text, length) || strspn(text + sign, "0123456789") != length - (size_t)sign) return 0;
    errno = 0;
    long long value = strtoll(text, NULL, 10);
    return errno == ERANGE || value > 2147483647LL || value < -2147483648LL;
}

/* Copies the number token at text (length bytes) to out, rewritten against the two traps
 * above is_float_literal: an integer gets ".0" where as_float (it is in an array holding a
 * float), "L" where as_wide (in an array holding a big integer) or where it is big itself. */
static void copy_number(ae_strbuf *out, const char *text, size_t length, int as_float, int as_wide)
{
    int sign = text[0] == '-' || text[0] == '+';
    int integer = !is_float_literal(text, length) && strspn(text + sign, "0123456789") == length - (size_t)sign;
    errno = 0;
    /* past int64 libconfig would clamp it to another number: a float keeps its value, and
     * the checks then say what it is (out of range, or not an integer index) */
    const int past_int64 = integer && (strtoll(text, NULL, 10), errno == ERANGE);
    const char *suffix = !integer                ? ""
                         : as_float || past_int64 ? ".0"
                         : as_wide || is_big_integer(text, length) ? "L"
                                                                    : "";
    ae_strbuf_printf(out, "%.*s%s", (int)length, text, suffix);
}

static int starts_number(const char *text, size_t at)
{
    if (at > 0 && (isalnum((unsigned char)text[at - 1]) || text[at - 1] == '_' || text[at - 1] == '.')) return 0;
    return isdigit((unsigned char)text[at]) ||
           ((text[at] == '-' || text[at] == '+') && isdigit((unsigned char)text[at + 1]));
}

static char *normalise_numbers(const char *text)
{
    ae_strbuf out = {0};
    ae_strbuf_printf(&out, "%s", "");
    size_t at = 0, array_end = 0;
    int in_float_array = 0, in_wide_array = 0;
    while (text[at]) {
        size_t skipped = skip_string_or_comment(text, at);
        if (skipped != at) {
            ae_strbuf_printf(&out, "%.*s", (int)(skipped - at), text + at);
            at = skipped;
            continue;
        }
        /* does this array hold a float?  (a '[' inside the array scanned last is no new
         * array, libconfig's arrays hold scalars: scanning again from it would make a run of
         * unclosed '[' quadratic) */
        if (text[at] == '[' && at >= array_end) {
            size_t close = at + 1;
            in_float_array = in_wide_array = 0;
            while (text[close] && text[close] != ']') {
                size_t next = skip_string_or_comment(text, close);
                if (next != close) {
                    close = next;
                } else if (starts_number(text, close) || (text[close] == '.' && isdigit((unsigned char)text[close + 1]))) {
                    size_t length = number_length(text + close);
                    in_float_array |= is_float_literal(text + close, length);
                    in_wide_array |= is_big_integer(text + close, length);
                    close += length;
                } else {
                    close++;
                }
            }
            array_end = close;
        }
        if (starts_number(text, at)) {
            size_t length = number_length(text + at);
            copy_number(&out, text + at, length, in_float_array && at < array_end, in_wide_array && at < array_end);
            at += length;
            continue;
        }
        ae_strbuf_printf(&out, "%c", text[at++]);
    }
    return out.data;
}

int ae_config_parse(ae_config *cfg, const char *path, const char *text, const ae_override *overrides,
                    int n_overrides, ae_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    ae_params_defaults(&cfg->params);
    cfg->output_fields = AE_RECORD_FIELDS_DEFAULT;
    cfg->path = ae_xstrdup(path);
    cfg->text = ae_xstrdup(text);
    config_t lc;
    config_init(&lc);
    int status = 0;
    char *normalised = normalise_numbers(cfg->text);
    int include = include_line(cfg->text);
    if (include) {
        /* the config's text is stored in the output: a sweep must be one whole file */
        status = ae_fail(err, "%s:%d: @include is not supported: a sweep config is one file", path, include);
    } else if (config_read_string(&lc, normalised) != CONFIG_TRUE) {
        status = ae_fail(err, "%s:%d: syntax error: %s", path, config_error_line(&lc), config_error_text(&lc));
    } else {
        parser ps = {path, cfg, err};
        status = parse_root(&ps, &lc);
    }
    config_destroy(&lc);
    free(normalised);
    cfg->overrides = ae_xcalloc((size_t)n_overrides + 1, sizeof(char *));
    for (int k = 0; k < n_overrides && status == 0; k++) {
        const ae_override *o = &overrides[k];
        status = o->grid ? apply_grid(cfg, o->text, err) : apply_set(cfg, o->text, err);
        ae_strbuf line = {0};
        ae_strbuf_printf(&line, "%s %s", o->grid ? "--grid" : "--set", o->text);
        cfg->overrides[cfg->n_overrides++] = line.data;
    }
    if (status == 0) status = check_whole(cfg, err);
    return status;
}

int ae_config_load(ae_config *cfg, const char *path, const ae_override *overrides, int n_overrides, ae_error *err)
{
    char *text = ae_read_file(path, err);
    if (!text) {
        memset(cfg, 0, sizeof *cfg);
        return -1;
    }
    const char *name = strcmp(path, "-") == 0 ? "(standard input)" : path; /* for errors and config_path */
    int status = ae_config_parse(cfg, name, text, overrides, n_overrides, err);
    free(text);
    return status;
}

void ae_config_free(ae_config *cfg)
{
    for (int a = 0; a < cfg->n_axes; a++) free(cfg->axes[a].values);
    free(cfg->path);
    free(cfg->text);
    for (int k = 0; k < cfg->n_overrides; k++) free(cfg->overrides[k]);
    free(cfg->overrides);
    free(cfg->init_file);
    free(cfg->init_select);
    free(cfg->perturb_features);
    free(cfg->trajectory_runs);
    free(cfg->trajectory_select);
    memset(cfg, 0, sizeof *cfg);
}

