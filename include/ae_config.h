/*
 * ae_config.h - sweep configs (libconfig syntax, DESIGN.md section 5) and the grid of runs.
 *
 * API:
 *   ae_setting_find(key)                   the table entry of a numeric setting ("train.lr")
 *   ae_setting_at(k), ae_text_setting_at(k) every setting, for --help and `aesweep help config`
 *   ae_config_load(path, overrides, n, ...) parses a config file, then the command line's
 *                                          --set KEY=VALUE and --grid PARAM=SPEC in their order
 *   ae_config_parse(path, text, ...)       the same from text in memory (a file's stored
 *                                          config for `zoom`, tests, fuzzing)
 *   ae_config_unused_axis(cfg, a, why)     no run of the config uses axis a's setting (and why)
 *   ae_config_free(cfg)
 *   ae_config_json(cfg)                    the resolved config, one key per line (for the file)
 *   ae_sample_value(seed, point, param, p)  setting `param` of point `point` of a sample axis (drawn
 *                                          once, by the loader)
 *   ae_grid_build / ae_grid_free           axes (with the implicit `base` axis) and run count
 *   ae_grid_run(grid, flat, &params, &base) the settings of run number `flat`
 *   ae_grid_model_steps(grid, first, count) training steps of a slice of runs
 *
 * schema.c holds the settings table, load.c the loader, grid.c the runs; load.c and grid.c
 * call into schema.c, never the other way, and not each other.
 * Every error names the file, line and key and returns -1 with err->code = 2.
 */
#ifndef AE_CONFIG_H
#define AE_CONFIG_H

#include "ae_model.h"
#include "ae_util.h"

#include <stdio.h>

#define AE_AXES_MAX 16
#define AE_RUNS_MAX ((uint64_t)1 << 40) /* beyond this no file or GPU is big enough */
#define AE_AXIS_MAX ((uint64_t)1 << 24) /* values of one axis: 128 MiB of coordinates */

typedef enum { AE_SET_INT32, AE_SET_INT64, AE_SET_REAL, AE_SET_ENUM } ae_setting_type;

typedef struct {
    const char *key;       /* "train.lr" */
    const char *dim;       /* dimension name when it is a grid axis: "lr" */
    ae_setting_type type;
    size_t offset;         /* field in ae_params */
    double min, max;       /* inclusive bounds */
    const char *const *names; /* ENUM: value names, NULL-terminated */
    const char *units, *long_name;
} ae_setting;

/* The run defaults (DESIGN.md section 1), the one definition that the config loader,
 * `aesweep bench` and the GPU tests start from. */
void ae_params_defaults(ae_params *p);
/* A float32 run's real settings rounded to float (kept as doubles), as the run uses them:
 * the math then never narrows a setting inside a vectorised loop, where GCC 12's SLP
 * vectoriser was seen to drop a (double)(float) round trip. */
void ae_params_round_to_precision(ae_params *p);

const ae_setting *ae_setting_find(const char *key);
/* Row k of the settings table (NULL past its end): --help and docs/CONFIG.md list them all. */
const ae_setting *ae_setting_at(size_t k);
/* value of setting s as a config writes it: "adamw" (quoted), 0.001, 10000. */
const char *ae_setting_value_text(const ae_setting *s, double value, char text[64]);

/* The settings that are not one number (init.file, output.fields, trajectory.every, ...):
 * each has its own parser; this is what --help and docs/CONFIG.md say of it. */
typedef struct {
    const char *key, *default_text, *meaning;
    int text; /* a text value: --set quotes a bare word (not so the trajectory group's numbers) */
} ae_text_setting;
const ae_text_setting *ae_text_setting_at(size_t k); /* NULL past the last */
/* Where a file keeps record field `field` (AE_RECORD_FIELD_*) without output.fields naming
 * it: NULL always, else the condition ("check.float64 > 0 (in some run)"). */
const char *ae_output_field_when(size_t field);
double ae_setting_get(const ae_setting *s, const ae_params *p);
void ae_setting_put(const ae_setting *s, ae_params *p, double value);

/* A sample axis (DESIGN.md section 5) draws `count` points at random, jointly over up to
 * AE_SAMPLE_PARAMS_MAX real settings, each uniform or log-uniform (bounds: exponents of 10)
 * in [lo, hi]. Point k's value of setting j is Philox word (k * AE_SAMPLE_PARAMS_MAX + j)
 * of stream AE_SAMPLE_STREAM under the axis' seed: it depends on nothing else. */
#define AE_SAMPLE_PARAMS_MAX 8
#define AE_SAMPLE_STREAM 0x53414d50u /* "SAMP": apart from the per-run streams of ae_model.h */

typedef struct {
    const ae_setting *setting;
    double lo, hi;             /* bounds */
    int exponents;             /* loguniform: lo and hi are exponents of 10 */
} ae_sample_param;

typedef struct {
    const ae_setting *setting; /* NULL for the implicit `base` axis and for a sample axis */
    char name[64];             /* dimension name ("sample" for a sample axis) */
    double *values;            /* count values (ENUM: the value's index); sample axis: point k's
                                * setting j at [k * n_params + j] */
    uint64_t count;
    int n_params;              /* sample axis: settings drawn jointly (0 for other axes) */
    ae_sample_param params[AE_SAMPLE_PARAMS_MAX];
    uint64_t seed;             /* sample axis: its own Philox key */
} ae_axis;

double ae_sample_value(uint64_t seed, uint64_t point, int param, const ae_sample_param *p);



/* trajectory.select: one run named by its coordinates, { lr = 0.01; bias_delta = 0.1; } */
typedef struct {
    int count;                       /* coordinates given */
    char axis[AE_AXES_MAX][64];      /* dimension names ("lr") */
    double value[AE_AXES_MAX];       /* numbers (nearest grid value wins) */
    char text[AE_AXES_MAX][64];      /* names, for axes of named values ("repulsor"); "" for numbers */
    char where[256];                 /* "file:line: trajectory.select" for errors */
} ae_run_select;

typedef struct {
    char *path;          /* config file as given */
    char *text;          /* its text, stored in the output */
    char **overrides;    /* the command line's "--set KEY=VALUE" / "--grid PARAM=SPEC", in order */
    int n_overrides;
    ae_params params;    /* defaults, then the file, then --set */
    char *init_file;     /* scheme "file": source of base states */
    char *init_select;   /* "all", "<index>", "first:<outcome>", "all:<outcome>" */
    int keep_optimizer_state;        /* init.optimizer_state = "keep": continue from the file's opt_ variables */
    int optimizer_state_given;       /* init.optimizer_state appears (it needs scheme "file") */
    int write_optimizer_state;       /* output.optimizer_state = true: the opt_ fields are written */
    int n_given, m_given;            /* model.n / model.m appear in the config */
    int twin_enabled;                /* twin.eps appears: every run trains a twin */
    const ae_setting *twin_setting;  /* twin.param: the setting a setting twin moves; NULL: a state twin */
    int twin_relative;               /* twin.relative: the setting x (1 + eps) rather than + eps */
    ae_perturb_kind perturb_kind;
    int32_t *perturb_features;       /* AE_PERTURB_LIST */
    int n_perturb_features;
    int64_t trajectory_every;        /* record loss, W, b of some runs every k steps (0: off) */
    uint64_t *trajectory_runs;       /* flat run indices (trajectory.runs, then trajectory.select) */
    int n_trajectory_runs;
    ae_run_select *trajectory_select; /* resolved into trajectory_runs once the axes are known */
    int n_trajectory_select;
    ae_axis axes[AE_AXES_MAX];       /* the config's grid axes, in order */
    int n_axes;
    uint64_t output_fields;          /* output.fields, with the optimizer state where output.optimizer_state:
                                        bit k keeps field k of AE_RECORD_FIELDS */
} ae_config;

/* A command-line override: --set KEY=VALUE (grid 0) or --grid PARAM=SPEC (grid 1), which
 * replaces the axis of PARAM (a key or its dimension name) where there is one, else
 * appends one; SPEC is linspace:A:B:N, logspace:A:B:N, range:A:B[:S] or values:X,Y,... */
typedef struct {
    int grid;
    const char *text; /* "KEY=VALUE" / "PARAM=SPEC" */
} ae_override;

int ae_config_load(ae_config *cfg, const char *path, const ae_override *overrides, int n_overrides, ae_error *err);
/* The same from text already in memory (path: the name errors use). */
int ae_config_parse(ae_config *cfg, const char *path, const char *text, const ae_override *overrides,
                    int n_overrides, ae_error *err);
void ae_config_free(ae_config *cfg);
/* Whether some run of the config may have setting `key` (a table key) at `value`. */
int ae_config_takes(const ae_config *cfg, const char *key, double value);
char *ae_config_json(const ae_config *cfg); /* malloc'd */
/* 1 when no run of the config uses the setting of axis a, with the reason in why ("momentum
 * moves only sgd; train.optimizer is adamw"): such an axis repeats every run. */
int ae_config_unused_axis(const ae_config *cfg, int a, char *why, size_t size);
/* The rule behind it, for a setting given by its dimension name ("momentum"): the enum
 * setting that decides (its dimension name and key) and the values that use it, each
 * between spaces (" sgd "); NULL for a setting every run uses. */
typedef struct {
    const char *key, *by, *used_by;
} ae_usage_rule;
const ae_usage_rule *ae_usage_rule_of(const char *key);
void ae_config_print_settings(FILE *stream); /* the table, for --help */

/* Base states read from a file (scheme "file"); with init.optimizer_state = "keep" also the
 * optimizer state each had (the file's opt_ variables), in the layout of theta = [W | b]. */
typedef struct {
    uint64_t count;
    int n, m;
    double *W;               /* count * n * m (read as double: a float64 source loses nothing) */
    double *b;               /* count * n */
    int64_t *source_index;   /* flat run index in the source file */
    double *opt_m, *opt_v;   /* "keep": count * (n * m + n): first and second moments; NULL: "reset" */
    int64_t *opt_step;       /* "keep": count steps taken */
    int8_t *opt_optimizer;   /* "keep": count optimizers (ae_optimizer) */
} ae_bases;

typedef struct {
    const ae_config *cfg;
    ae_params params;              /* cfg->params, with n and m of the base states if any */
    ae_axis axes[AE_AXES_MAX + 1]; /* `base` first when several base states, then cfg->axes */
    int n_axes;
    int has_base_axis;
    uint64_t total;
    int n_max, m_max;              /* over the grid: per-feature data is padded to these */
    int any_float64;               /* some run trains in float64: the file's floats are float64 */
} ae_grid;

int ae_grid_build(ae_grid *grid, const ae_config *cfg, const ae_bases *bases, ae_error *err);
void ae_grid_free(ae_grid *grid);
/* Settings of run `flat` (row-major over the axes); *base gets its base state index (0 if none). */
void ae_grid_run(const ae_grid *grid, uint64_t flat, ae_params *params, uint64_t *base);
/* The same in `precision` (ae_precision; -1: the run's own), its settings rounded for it. */
void ae_grid_run_in(const ae_grid *grid, uint64_t flat, int precision, ae_params *params, uint64_t *base);
/* Training steps of runs first .. first+count-1 together (no decoding unless steps is an axis). */
double ae_grid_model_steps(const ae_grid *grid, uint64_t first, uint64_t count);

#endif
