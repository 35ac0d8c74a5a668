/*
 * schema.c - the settings of a sweep, each described once: the table of numeric settings
 * (key, field, bounds, units, default, grid dimension), the text settings, the enums' names,
 * which runs use which setting (the usage rules), the record fields output.fields names,
 * and the resolved config as JSON and as --help's list.  The loader (load.c), the grid
 * (grid.c), `aesweep help config` and docs/CONFIG.md all read these tables.
 */
#include "ae_config.h"
#include "ae_backend.h" /* AE_RECORD_FIELDS: the names output.fields chooses from */
#include "ae_stability.h" /* outcome.hessian's modes */
#include "config_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The settings table                                                        */
/* ------------------------------------------------------------------------ */

static const char *const scheme_names[] = {"xavier_normal", "normal", "uniform", "file", "ideal_failure", NULL};
static const char *const optimizer_names[] = {"sgd", "adam", "adamw", NULL};
static const char *const intervene_names[] = {"none", "anthropic", "repulsor", "gap", NULL};
static const char *const when_names[] = {"step", "plateau", NULL}; /* ae_intervene_when */
static const char *const precision_names[] = {"float32", "float64", NULL};
/* outcome.hessian: ae_hessian_mode; a libconfig boolean reads as "false" or "true" (parse_value) */
static const char *const hessian_names[] = {"auto", "false", "true", NULL};

#define BIG 1e12
#define FIELD(f) offsetof(ae_params, f)
static const ae_setting settings[] = {
    {"model.n", "n", AE_SET_INT32, FIELD(n), AE_N_MIN, AE_N_MAX, NULL, "1", "number of features"},
    {"model.m", "m", AE_SET_INT32, FIELD(m), AE_M_MIN, AE_M_MAX, NULL, "1", "latent dimensions"},
    {"model.precision", "precision", AE_SET_ENUM, FIELD(precision), 0, 1, precision_names, "1",
     "floating type of training: float32, or float64 (slower; writes float64 variables)"},
    {"init.scheme", "scheme", AE_SET_ENUM, FIELD(scheme), 0, 4, scheme_names, "1", "initialisation scheme"},
    {"init.seed", "seed", AE_SET_INT64, FIELD(seed), 0, 9007199254740992.0, NULL, "1", "Philox seed of the run"},
    {"init.std", "init_std", AE_SET_REAL, FIELD(init_std), 0, 1e6, NULL, "1", "std of normal init"},
    {"init.bound", "init_bound", AE_SET_REAL, FIELD(init_bound), 0, 1e6, NULL, "1", "bound of uniform init"},
    {"init.bias_init", "bias_init", AE_SET_REAL, FIELD(bias_init), -1e6, 1e6, NULL, "1", "initial bias"},
    {"init.radius", "radius", AE_SET_REAL, FIELD(radius), 0, 1e3, NULL, "1", "ideal_failure polygon radius"},
    {"init.dead_eps", "dead_eps", AE_SET_REAL, FIELD(dead_eps), 0, 1e3, NULL, "1", "ideal_failure dead feature norm"},
    {"train.optimizer", "optimizer", AE_SET_ENUM, FIELD(optimizer), 0, 2, optimizer_names, "1", "optimizer"},
    {"train.lr", "lr", AE_SET_REAL, FIELD(lr), 0, 1e6, NULL, "1", "learning rate"},
    {"train.weight_decay", "weight_decay", AE_SET_REAL, FIELD(weight_decay), 0, 1e6, NULL, "1", "weight decay"},
    {"train.beta1", "beta1", AE_SET_REAL, FIELD(beta1), 0, 0.9999999, NULL, "1", "Adam beta1"},
    {"train.beta2", "beta2", AE_SET_REAL, FIELD(beta2), 0, 0.9999999, NULL, "1", "Adam beta2"},
    {"train.eps", "eps", AE_SET_REAL, FIELD(eps), 1e-30, 1, NULL, "1", "Adam epsilon"},
    {"train.momentum", "momentum", AE_SET_REAL, FIELD(momentum), 0, 1, NULL, "1", "SGD momentum"},
    {"train.steps", "steps", AE_SET_INT64, FIELD(steps), 0, BIG, NULL, "step", "training steps"},
    {"train.check_every", "check_every", AE_SET_INT64, FIELD(check_every), 1, BIG, NULL, "step",
     "steps between outcome checks"},
    {"train.plateau_steps", "plateau_steps", AE_SET_INT64, FIELD(plateau_steps), 0, BIG, NULL, "step",
     "failure plateau before a recovery counts"},
    {"outcome.window", "window", AE_SET_INT64, FIELD(outcome_window), 1, BIG, NULL, "step",
     "convergence and plateaus: loss change over this many steps (all steps when fewer)"},
    {"outcome.tol", "tol", AE_SET_REAL, FIELD(outcome_tol), 0, 1e3, NULL, "1",
     "converged / on a plateau: |loss change| <= tol x loss"},
    {"outcome.tilt_max", "tilt_max", AE_SET_REAL, FIELD(tilt_max), 0, 1e6, NULL, "1",
     "symmetric failure below this tilt max_j |W_i.W_j| / b_i, pinned at or above"},
    {"outcome.live_min", "live_min", AE_SET_REAL, FIELD(live_min), 0.5, 1.5, NULL, "1",
     "plateau: every learnt feature has Y_jj >= this"},
    {"outcome.hessian", "hessian", AE_SET_ENUM, FIELD(hessian), 0, 2, hessian_names, "1",
     "stability of the final state in float64 (grad_norm, hessian_min/_neg/_dead_share; ReLU pattern of the "
     "state, Z_ij = 0 off): auto (where n (m + 1) <= 64), false or true"},
    {"outcome.hessian_tol", "hessian_tol", AE_SET_REAL, FIELD(hessian_tol), 0, 1, NULL, "1",
     "hessian_neg counts eigenvalues below -tol x max |eigenvalue| (float64 in every run)"},
    {"perturb.bias_delta", "bias_delta", AE_SET_REAL, FIELD(bias_delta), -1e3, 1e3, NULL, "1",
     "bias perturbation delta"},
    {"intervene.method", "intervention", AE_SET_ENUM, FIELD(intervene), 0, 3, intervene_names, "1",
     "resampling of unlearnt features"},
    {"intervene.when", "when", AE_SET_ENUM, FIELD(intervene_when), 0, 1, when_names, "1",
     "step: at intervene.at_step; plateau: at the run's first check on a plateau (>= train.plateau_steps), once"},
    {"intervene.at_step", "at_step", AE_SET_INT64, FIELD(intervene_at_step), 0, BIG, NULL, "step",
     "step the resampling happens at"},
    {"intervene.scale", "scale", AE_SET_REAL, FIELD(intervene_scale), 0, 1e3, NULL, "1",
     "resampled norm over mean live norm (0: 0.2 anthropic, 0.05 repulsor and gap)"},
    {"intervene.delta", "intervene_delta", AE_SET_REAL, FIELD(intervene_delta), -1e3, 1e3, NULL, "1",
     "repulsor: bias shift of live features facing the repulsor; gap: of the two flanking the gap"},
    {"intervene.noise", "noise", AE_SET_REAL, FIELD(intervene_noise), 0, 1e3, NULL, "1",
     "repulsor, gap: std of the noise added to resampled weights"},
    {"twin.eps", "twin_eps", AE_SET_REAL, FIELD(twin_eps), 0, 1e3, NULL, "1",
     "state twin: start distance; setting twin: the setting's shift (given: every run trains a twin)"},
    {"twin.renorm_every", "renorm_every", AE_SET_INT64, FIELD(twin_renorm_every), 0, BIG, NULL, "step",
     "state twin: pulled back to distance eps every k steps (Benettin; 0: a free twin)"},
    {"check.float64", "check_float64", AE_SET_INT64, FIELD(check_float64), 0, (double)AE_RUNS_MAX, NULL, "1",
     "float32 runs also trained in float64, picked at random from the grid (float64_outcome; 0: none)"},
    {"check.seed", "check_seed", AE_SET_INT64, FIELD(check_seed), 0, 9007199254740992.0, NULL, "1",
     "Philox key of the runs check.float64 picks"},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const ae_params default_params = {
    .n = 7, .m = 2, .precision = AE_FLOAT32, .scheme = AE_INIT_XAVIER_NORMAL, .optimizer = AE_OPT_ADAMW, .seed = 0,
    .init_std = 0.1, .init_bound = 0.1, .bias_init = 0.0,
    .radius = 1.4283556979968262, /* sqrt(2) * 1.01, DESIGN.md section 3 */
    .dead_eps = 1e-3, .lr = 1e-3, .weight_decay = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
    .momentum = 0.0, .steps = 10000, .check_every = 100, .plateau_steps = 2000,
    /* tilt_max 0.5 (DESIGN.md v2.1; it once said 0.1): real symmetric plateaus (b_i = 1/n, the loss at (n-1)/n^3)
     * keep |W_i| ~ 0.01-0.04, tilt 0.1-0.4, while the pinned states sit at tilt ~1: 0.5 splits
     * the census populations by that physics (README.md, "Tilt threshold") */
    .outcome_window = 1000, .outcome_tol = 3e-3, .tilt_max = 0.5, .live_min = 0.9,
    .hessian = AE_HESSIAN_AUTO, .hessian_tol = 1e-9, .bias_delta = 0.0,
    .intervene = AE_INTERVENE_NONE, .intervene_when = AE_WHEN_STEP, .intervene_at_step = 0, .intervene_scale = 0.0, .intervene_delta = 0.0,
    .intervene_noise = 1e-3, .twin_eps = 0.0, .twin_renorm_every = 100, .check_float64 = 0, .check_seed = 0,
};

void ae_params_defaults(ae_params *p) { *p = default_params; }

void ae_params_round_to_precision(ae_params *p)
{
    if (p->precision != AE_FLOAT32) return;
    for (size_t s = 0; s < N_SETTINGS; s++)
        if (settings[s].type == AE_SET_REAL && settings[s].offset != FIELD(hessian_tol)) /* the stability is float64 */
            ae_setting_put(&settings[s], p, (double)(float)ae_setting_get(&settings[s], p));
}

/* The settings that are not one number: text, lists, booleans (text = 1: --set quotes a bare
 * word), and the trajectory group's numbers and lists (parse_trajectory).  Each is parsed by
 * its own code; this table names them for messages, --help and docs/CONFIG.md. */
static const ae_text_setting text_settings[] = {
    {"init.file", "\"\"", "base states: an earlier output, or any HDF5 file with W_final (runs..., feature, latent) "
     "and b_final (runs..., feature); needs init.scheme = \"file\"", 1},
    {"init.select", "\"all\"", "the base states taken from init.file: all | <index> | first:<outcome> | "
     "all:<outcome>[,<outcome>...]; several form a first grid axis `base`", 1},
    {"init.optimizer_state", "\"reset\"", "reset (a fresh optimizer) | keep (continue from the file's opt_ variables: "
     "output.optimizer_state of an earlier sweep)", 1},
    {"perturb.features", "\"none\"", "the features perturb.bias_delta nudges: dead_neighbors (the two learnt features "
     "angularly adjacent to the dead one) | none | [i, j, ...]", 1},
    {"output.fields", "\"all\"", "record fields kept in the file, e.g. [\"outcome\", \"splay\"] or --set "
     "output.fields=outcome,splay; done and the coordinates always stay", 1},
    {"output.optimizer_state", "false", "write each run's optimizer state (opt_optimizer, opt_step, opt_m_W, opt_m_b, "
     "opt_v_W, opt_v_b) beside W_final and b_final", 1},
    {"twin.param", "\"state\"", "state (start eps away) | a real setting (\"perturb.bias_delta\"): the twin differs "
     "in it by +eps (lyapunov NaN); needs twin.eps", 1},
    {"twin.relative", "false", "setting twin: the setting x (1 + eps) instead of + eps; needs twin.eps", 1},
    {"trajectory.every", "0", "record loss, W and b of the runs below every k steps", 0},
    {"trajectory.runs", "[]", "flat run indices [0, 5, ...]", 0},
    {"trajectory.select", "()", "runs by grid coordinates { lr = 0.01; bias_delta = 0.1; } or a list of them: the "
     "nearest grid value; axes not named take their first value", 0},
};
#define N_TEXT_SETTINGS (sizeof text_settings / sizeof text_settings[0])
const char *const ae_cfg_groups[] = {"model", "init", "train", "outcome", "perturb", "trajectory", "intervene",
                                     "twin",  "check", "output", NULL};

/* The record fields output.fields chooses from, in AE_RECORD_FIELDS order (bit k: field k). */
#define RECORD_NAME(name, TYPE, SHAPE, fill, units, long_name) #name,
const char *const ae_cfg_record_names[] = {AE_RECORD_FIELDS(RECORD_NAME) NULL};
#undef RECORD_NAME
_Static_assert(AE_RECORD_FIELD_COUNT <= 64, "output.fields keeps its choice in a uint64_t");

const ae_setting *ae_setting_at(size_t k) { return k < N_SETTINGS ? &settings[k] : NULL; }
const ae_text_setting *ae_text_setting_at(size_t k) { return k < N_TEXT_SETTINGS ? &text_settings[k] : NULL; }

const ae_setting *ae_setting_find(const char *key)
{
    for (size_t s = 0; s < N_SETTINGS; s++)
        if (strcmp(settings[s].key, key) == 0) return &settings[s];
    return NULL;
}

/* A setting by its key ("train.lr") or its dimension name ("lr"). */
const ae_setting *ae_cfg_setting_named(const char *name)
{
    const ae_setting *s = ae_setting_find(name);
    for (size_t k = 0; !s && k < N_SETTINGS; k++)
        if (settings[k].dim && strcmp(settings[k].dim, name) == 0) s = &settings[k];
    return s;
}

/* Settings that only some runs use: `key` matters only where the enum setting `by` is one of
 * `used_by`.  Runs that differ only along such an axis are the same run (the census counts
 * them once, `run` warns of an axis no run uses). */
static const ae_usage_rule usage_rules[] = {
    {"intervene.delta", "intervene.method", " repulsor gap "},
    {"intervene.noise", "intervene.method", " repulsor gap "},
    {"intervene.scale", "intervene.method", " anthropic repulsor gap "},
    {"intervene.at_step", "intervene.method", " anthropic repulsor gap "},
    {"intervene.when", "intervene.method", " anthropic repulsor gap "},
    {"train.momentum", "train.optimizer", " sgd "},
    {"train.beta1", "train.optimizer", " adam adamw "},
    {"train.beta2", "train.optimizer", " adam adamw "},
    {"train.eps", "train.optimizer", " adam adamw "},
    {"init.std", "init.scheme", " normal "},
    {"init.bound", "init.scheme", " uniform "},
    {"init.radius", "init.scheme", " ideal_failure "},
    {"init.dead_eps", "init.scheme", " ideal_failure "},
};

const ae_usage_rule *ae_usage_rule_of(const char *name)
{
    const ae_setting *s = ae_cfg_setting_named(name);
    for (size_t u = 0; s && u < sizeof usage_rules / sizeof usage_rules[0]; u++)
        if (strcmp(usage_rules[u].key, s->key) == 0) return &usage_rules[u];
    return NULL;
}

/* Edit distance of a and b (insertions, deletions, substitutions), capped at 9. */
static int edit_distance(const char *a, const char *b)
{
    const size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 9;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            const int up = row[j];
            int best = diagonal + (a[i - 1] != b[j - 1]); /* substitute */
            if (up + 1 < best) best = up + 1;             /* delete */
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1; /* insert */
            row[j] = best;
            diagonal = up;
        }
    }
    return row[lb] < 9 ? row[lb] : 9;
}

/* The setting key nearest to `key` (train.lrr: train.lr), or NULL when none is within two
 * edits: for "unknown key" messages. */
static const char *nearest_key(const char *key)
{
    const char *best = NULL;
    int distance = 3;
    for (size_t s = 0; s < N_SETTINGS; s++) {
        const int d = edit_distance(key, settings[s].key);
        if (d < distance) distance = d, best = settings[s].key;
        const int d_dim = settings[s].dim ? edit_distance(key, settings[s].dim) : 9; /* --grid lrr=... */
        if (d_dim < distance) distance = d_dim, best = settings[s].dim;
    }
    for (size_t k = 0; k < N_TEXT_SETTINGS; k++) {
        const int d = text_settings[k].text ? edit_distance(key, text_settings[k].key) : 9;
        if (d < distance) distance = d, best = text_settings[k].key;
    }
    return best;
}

int ae_cfg_unknown_key(ae_error *err, const char *where, const char *key)
{
    const char *near = nearest_key(key);
    if (near) return ae_fail(err, "%s: unknown key (did you mean %s? `aesweep --help` lists the settings)", where, near);
    return ae_fail(err, "%s: unknown key (`aesweep --help` lists the settings)", where);
}

double ae_setting_get(const ae_setting *s, const ae_params *p)
{
    const char *field = (const char *)p + s->offset;
    switch (s->type) {
    case AE_SET_INT64: return (double)*(const int64_t *)field;
    case AE_SET_REAL: return *(const double *)field;
    default: return (double)*(const int32_t *)field;
    }
}

/* noinline: gcc 12 inlines this and then misreads the table offset (-Wstringop-overflow) */
__attribute__((noinline)) void ae_setting_put(const ae_setting *s, ae_params *p, double value)
{
    char *field = (char *)p + s->offset;
    int64_t wide = (int64_t)value;
    int32_t narrow = (int32_t)value;
    /* memcpy: the field's type is known only from the table row */
    switch (s->type) {
    case AE_SET_INT64: memcpy(field, &wide, sizeof wide); break;
    case AE_SET_REAL: memcpy(field, &value, sizeof value); break;
    default: memcpy(field, &narrow, sizeof narrow); break;
    }
}

int ae_cfg_is_text_key(const char *key)
{
    for (size_t k = 0; k < N_TEXT_SETTINGS; k++)
        if (text_settings[k].text && strcmp(text_settings[k].key, key) == 0) return 1;
    return 0;
}

int ae_cfg_enum_index(const ae_setting *s, const char *name)
{
    for (int e = 0; s->names[e]; e++)
        if (strcmp(s->names[e], name) == 0) return e;
    return -1;
}

static void enum_list(const ae_setting *s, char *out, size_t size)
{
    out[0] = 0;
    for (int e = 0; s->names[e]; e++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s\"%s\"", e ? ", " : "", s->names[e]);
    }
}

/* The shortest text that reads back as exactly `value` (17 digits at most): a float64
 * setting keeps every bit, and 1e-3 stays "0.001". */
static const char *format_real(double value, char text[32])
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, 32, "%.*g", digits, value);
        if (strtod(text, NULL) == value) break;
    }
    return text;
}

const char *ae_setting_value_text(const ae_setting *s, double value, char text[64])
{
    if (s->type == AE_SET_ENUM)
        snprintf(text, 64, "\"%s\"", s->names[(int)value]);
    else if (s->type == AE_SET_REAL)
        format_real(value, text);
    else
        snprintf(text, 64, "%.0f", value);
    return text;
}

/* A number for a message: an integer as one (300, not 3e+02), else format_real. */
static const char *shortest(double value, char out[32])
{
    if (value == floor(value) && fabs(value) < 1e15) {
        snprintf(out, 32, "%.0f", value);
        return out;
    }
    return format_real(value, out);
}

/* Checks a number for setting s; `where` prefixes the message ("file.cfg:3: train.lr"). */
int ae_cfg_check_number(const ae_setting *s, double value, const char *where, ae_error *err)
{
    if (s->type == AE_SET_ENUM) {
        char names[256];
        enum_list(s, names, sizeof names);
        return ae_fail(err, "%s: expects one of %s", where, names);
    }
    if (!isfinite(value)) return ae_fail(err, "%s: value must be finite", where);
    if ((s->type == AE_SET_INT32 || s->type == AE_SET_INT64) && value != floor(value))
        return ae_fail(err, "%s: expects an integer, got %.10g", where, value);
    if (value < s->min || value > s->max) {
        char v[32], lo[32], hi[32];
        return ae_fail(err, "%s: %s is out of range [%s, %s]", where, shortest(value, v), shortest(s->min, lo),
                       shortest(s->max, hi));
    }
    return 0;
}

/* Settings whose mere presence means something: model.n/m given (they must then match a
 * file's base states), twin.eps given (twins are trained, even for eps = 0). */
void ae_cfg_note_given(ae_config *cfg, const ae_setting *s)
{
    if (s->offset == offsetof(ae_params, n)) cfg->n_given = 1;
    if (s->offset == offsetof(ae_params, m)) cfg->m_given = 1;
    if (s->offset == offsetof(ae_params, twin_eps)) cfg->twin_enabled = 1;
}


/* Whether a setting is already an axis of the config, or a setting of its sample axis. */
int ae_cfg_is_axis_setting(const ae_config *cfg, const ae_setting *s)
{
    for (int a = 0; a < cfg->n_axes; a++) {
        if (cfg->axes[a].setting == s) return 1;
        for (int j = 0; j < cfg->axes[a].n_params; j++)
            if (cfg->axes[a].params[j].setting == s) return 1;
    }
    return 0;
}

/* The bit of record field `name` in output_fields (0: no such field). */
uint64_t ae_cfg_field_bit(const char *name)
{
    for (int k = 0; ae_cfg_record_names[k]; k++)
        if (strcmp(ae_cfg_record_names[k], name) == 0) return (uint64_t)1 << k;
    return 0;
}
int ae_config_takes(const ae_config *cfg, const char *key, double value)
{
    const ae_setting *s = ae_setting_find(key);
    if (ae_setting_get(s, &cfg->params) == value && !ae_cfg_is_axis_setting(cfg, s)) return 1;
    for (int a = 0; a < cfg->n_axes; a++)
        for (uint64_t k = 0; cfg->axes[a].setting == s && k < cfg->axes[a].count; k++)
            if (cfg->axes[a].values[k] == value) return 1;
    return 0;
}

int ae_config_unused_axis(const ae_config *cfg, int a, char *why, size_t size)
{
    const ae_setting *s = cfg->axes[a].setting;
    if (!s) return 0; /* a sample axis */
    if (s->offset == offsetof(ae_params, bias_delta) && cfg->perturb_kind == AE_PERTURB_NONE) {
        snprintf(why, size, "%s nudges the biases of perturb.features, which is \"none\" (set perturb.features = "
                            "\"dead_neighbors\" or [i, j, ...])", s->key);
        return 1;
    }
    const ae_usage_rule *rule = ae_usage_rule_of(s->key);
    if (!rule) return 0;
    const ae_setting *by = ae_setting_find(rule->by);
    char taken[256] = "";
    for (int v = 0; by->names[v]; v++) {
        if (!ae_config_takes(cfg, by->key, v)) continue;
        char word[80];
        snprintf(word, sizeof word, " %s ", by->names[v]);
        if (strstr(rule->used_by, word)) return 0;
        snprintf(taken + strlen(taken), sizeof taken - strlen(taken), "%s%s", taken[0] ? ", " : "", by->names[v]);
    }
    snprintf(why, size, "%s matters only where %s is one of%.*s; here it is %s", s->key, by->key,
             (int)strlen(rule->used_by) - 1, rule->used_by, taken);
    return 1;
}

/* The record fields that a file keeps by default only where its runs compute them (and the
 * optimizer state, AE_RECORD_FIELDS_OPTIMIZER, only where output.optimizer_state asks). */
typedef enum { WHEN_TWIN, WHEN_CHECK } field_when;
static const struct {
    const char *field;
    field_when when;
} conditional_fields[] = {{"twin_outcome", WHEN_TWIN},    {"twin_recovered", WHEN_TWIN}, {"twin_distance", WHEN_TWIN},
                          {"lyapunov", WHEN_TWIN},        {"float64_outcome", WHEN_CHECK},
                          {"float64_loss", WHEN_CHECK}};

const char *ae_output_field_when(size_t field)
{
    if (AE_RECORD_FIELDS_OPTIMIZER >> field & 1) return "output.optimizer_state = true";
    for (size_t k = 0; field < AE_RECORD_FIELD_COUNT && k < sizeof conditional_fields / sizeof conditional_fields[0]; k++)
        if (strcmp(conditional_fields[k].field, ae_cfg_record_names[field]) == 0)
            return conditional_fields[k].when == WHEN_TWIN ? "twin.eps is given (every run trains a twin)"
                                                           : "check.float64 > 0 (in some run)";
    return NULL;
}

/* Checks that only make sense once everything is read. */
/* The bits of the conditional fields that runs without twins (twins = 0) or without a
 * float64 check (checks = 0) do not compute. */
uint64_t ae_cfg_fields_not_computed(int twins, int checks)
{
    uint64_t bits = 0;
    for (size_t k = 0; k < sizeof conditional_fields / sizeof conditional_fields[0]; k++)
        if (conditional_fields[k].when == WHEN_TWIN ? !twins : !checks) bits |= ae_cfg_field_bit(conditional_fields[k].field);
    return bits;
}

/* ------------------------------------------------------------------------ */
/* The resolved config as JSON: one key per line, so two can be diffed.       */
/* ------------------------------------------------------------------------ */

static void json_string(ae_strbuf *sb, const char *text)
{
    ae_strbuf_printf(sb, "\"");
    for (const char *c = text; *c; c++) {
        if (*c == '"' || *c == '\\')
            ae_strbuf_printf(sb, "\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            ae_strbuf_printf(sb, "\\u%04x", (unsigned char)*c);
        else
            ae_strbuf_printf(sb, "%c", *c);
    }
    ae_strbuf_printf(sb, "\"");
}

static void json_value(ae_strbuf *sb, const ae_setting *s, double value)
{
    char text[32];
    if (s->type == AE_SET_ENUM)
        json_string(sb, s->names[(int)value]);
    else if (s->type == AE_SET_REAL)
        ae_strbuf_printf(sb, "%s", format_real(value, text));
    else
        ae_strbuf_printf(sb, "%.0f", value);
}

char *ae_config_json(const ae_config *cfg)
{
    ae_strbuf sb = {0};
    ae_strbuf_printf(&sb, "{\n");
    for (size_t k = 0; k < N_SETTINGS; k++) {
        ae_strbuf_printf(&sb, "  \"%s\": ", settings[k].key);
        json_value(&sb, &settings[k], ae_setting_get(&settings[k], &cfg->params));
        ae_strbuf_printf(&sb, ",\n");
    }
    ae_strbuf_printf(&sb, "  \"init.file\": ");
    json_string(&sb, cfg->init_file ? cfg->init_file : "");
    ae_strbuf_printf(&sb, ",\n  \"init.select\": ");
    json_string(&sb, cfg->init_select ? cfg->init_select : "all");
    ae_strbuf_printf(&sb, ",\n  \"init.optimizer_state\": \"%s\"", cfg->keep_optimizer_state ? "keep" : "reset");
    ae_strbuf_printf(&sb, ",\n  \"perturb.features\": ");
    if (cfg->perturb_kind == AE_PERTURB_LIST) {
        ae_strbuf_printf(&sb, "[");
        for (int k = 0; k < cfg->n_perturb_features; k++)
            ae_strbuf_printf(&sb, "%s%d", k ? ", " : "", cfg->perturb_features[k]);
        ae_strbuf_printf(&sb, "]");
    } else {
        json_string(&sb, cfg->perturb_kind == AE_PERTURB_DEAD_NEIGHBORS ? "dead_neighbors" : "none");
    }
    ae_strbuf_printf(&sb, ",\n  \"output.fields\": [");
    for (int k = 0, listed = 0; ae_cfg_record_names[k]; k++)
        if (cfg->output_fields >> k & 1) ae_strbuf_printf(&sb, "%s\"%s\"", listed++ ? ", " : "", ae_cfg_record_names[k]);
    ae_strbuf_printf(&sb, "]");
    ae_strbuf_printf(&sb, ",\n  \"output.optimizer_state\": %s", cfg->write_optimizer_state ? "true" : "false");
    ae_strbuf_printf(&sb, ",\n  \"twin.enabled\": %s,\n  \"twin.param\": ", cfg->twin_enabled ? "true" : "false");
    json_string(&sb, cfg->twin_setting ? cfg->twin_setting->key : "state");
    ae_strbuf_printf(&sb, ",\n  \"twin.relative\": %s", cfg->twin_relative ? "true" : "false");
    ae_strbuf_printf(&sb, ",\n  \"trajectory.every\": %lld,\n  \"trajectory.runs\": [", (long long)cfg->trajectory_every);
    for (int k = 0; k < cfg->n_trajectory_runs; k++)
        ae_strbuf_printf(&sb, "%s%llu", k ? ", " : "", (unsigned long long)cfg->trajectory_runs[k]);
    ae_strbuf_printf(&sb, "]");
    ae_strbuf_printf(&sb, ",\n  \"grid\": [");
    for (int a = 0; a < cfg->n_axes; a++) {
        const ae_axis *axis = &cfg->axes[a];
        if (axis->n_params) {
            ae_strbuf_printf(&sb, "%s\n    {\"sample\": %llu, \"seed\": %llu, \"params\": [", a ? "," : "",
                             (unsigned long long)axis->count, (unsigned long long)axis->seed);
            for (int j = 0; j < axis->n_params; j++)
                ae_strbuf_printf(&sb, "%s{\"param\": \"%s\", \"%s\": [%.17g, %.17g]}", j ? ", " : "",
                                 axis->params[j].setting->key, axis->params[j].exponents ? "loguniform" : "uniform",
                                 axis->params[j].lo, axis->params[j].hi);
            ae_strbuf_printf(&sb, "]}");
            continue;
        }
        ae_strbuf_printf(&sb, "%s\n    {\"param\": \"%s\", \"values\": [", a ? "," : "", axis->setting->key);
        for (uint64_t k = 0; k < axis->count; k++) {
            if (k) ae_strbuf_printf(&sb, ", ");
            json_value(&sb, axis->setting, axis->values[k]);
        }
        ae_strbuf_printf(&sb, "]}");
    }
    ae_strbuf_printf(&sb, "%s]\n}\n", cfg->n_axes ? "\n  " : "");
    return sb.data;
}

void ae_config_print_settings(FILE *stream)
{
    for (size_t k = 0; k < N_SETTINGS; k++) {
        const ae_setting *s = &settings[k];
        double value = ae_setting_get(s, &default_params);
        char text[256];
        if (s->type == AE_SET_ENUM) {
            char names[200];
            enum_list(s, names, sizeof names);
            snprintf(text, sizeof text, "\"%s\"   one of %s", s->names[(int)value], names);
        } else {
            snprintf(text, sizeof text, "%-10.6g [%.8g, %.8g]", value, s->min, s->max);
        }
        fprintf(stream, "  %-20s %s  %s\n", s->key, text, s->long_name);
    }
    for (size_t k = 0; k < N_TEXT_SETTINGS; k++) {
        const ae_text_setting *t = &text_settings[k];
        fprintf(stream, "  %-20s %-6s", t->key, t->default_text);
        /* the meaning wrapped to lines of about 100 columns, under its first word */
        int column = 29;
        for (const char *word = t->meaning; *word;) {
            const size_t length = strcspn(word, " ");
            if (column + 1 + (int)length > 100) fprintf(stream, "\n%29s", ""), column = 29;
            fprintf(stream, " %.*s", (int)length, word);
            column += 1 + (int)length;
            word += length + (word[length] == ' ');
        }
        fprintf(stream, "\n");
        if (strcmp(t->key, "init.select") == 0) {
            fprintf(stream, "  %-27s outcomes:", "");
            for (int c = 0; c < AE_OUTCOME_COUNT; c++) fprintf(stream, " %d %s", c, ae_outcome_name(c));
            fprintf(stream, "\n");
        }
        if (strcmp(t->key, "output.fields") == 0) {
            fprintf(stream, "  %-27s the fields:", "");
            for (int f = 0; ae_cfg_record_names[f]; f++)
                fprintf(stream, "%s%s", f % 7 ? ", " : f ? ",\n                              " : " ", ae_cfg_record_names[f]);
            fprintf(stream, "\n");
        }
    }
    fprintf(stream, "\nThe same, with every rule, as markdown: aesweep help config (docs/CONFIG.md); the output file:\n"
                    "aesweep help format (docs/FORMAT.md); the outcome classes: aesweep help outcomes (docs/OUTCOMES.md).\n");
}
