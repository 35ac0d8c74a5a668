/*
 * help.c - `aesweep help config|format|outcomes`: the reference tables of docs/CONFIG.md,
 * docs/FORMAT.md and docs/OUTCOMES.md as markdown, printed from the tables the engine
 * itself runs on (the settings of src/config/schema.c, AE_RECORD_FIELDS, AE_OUTCOMES), so
 * that the pages cannot drift from the code: tools/update_docs.py pastes them between
 * their pages' markers, and tests/e2e/test_docs.py checks that they are pasted.
 */
#include "ae_config.h"
#include "ae_record.h"
#include "ae_stability.h"
#include "cli.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Text in a table cell: `|` would end the cell and `<index>` would read as an HTML tag
 * (`< 0.5` and `<=` would not: they stay as they are, readable in a terminal too). */
static void cell(FILE *out, const char *text)
{
    for (const char *c = text; *c; c++) {
        if (*c == '|')
            fputs("\\|", out);
        else if (*c == '<' && (isalpha((unsigned char)c[1]) || c[1] == '/' || c[1] == '!'))
            fputs("&lt;", out);
        else
            fputc(*c, out);
    }
}

/* A bound of a setting's range: an integer as one below 10^9, else the shortest float. */
static const char *bound_text(double value, char text[64])
{
    static const ae_setting real = {.type = AE_SET_REAL};
    if (value == (double)(long long)value && value > -1e9 && value < 1e9)
        snprintf(text, 64, "%.0f", value);
    else
        ae_setting_value_text(&real, value, text);
    return text;
}

static const char *default_text(const ae_setting *s, char text[64])
{
    ae_params defaults;
    ae_params_defaults(&defaults);
    return ae_setting_value_text(s, ae_setting_get(s, &defaults), text);
}

/* " adam adamw " -> "adam or adamw" */
static void print_used_by(FILE *out, const char *used_by)
{
    char words[256];
    snprintf(words, sizeof words, "%s", used_by);
    int count = 0;
    for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) fprintf(out, "%s`%s`", count++ ? " or " : "", w);
}

/* ------------------------------------------------------------------------ */
/* aesweep help config                                                        */
/* ------------------------------------------------------------------------ */

static void print_setting_row(FILE *out, const ae_setting *s)
{
    char text[64], lo[64], hi[64];
    fprintf(out, "| `%s` | `%s` | `%s` | ", s->key, s->dim, default_text(s, text));
    if (s->type == AE_SET_ENUM) {
        for (int e = 0; s->names[e]; e++) fprintf(out, "%s`\"%s\"`", e ? ", " : "", s->names[e]);
    } else {
        fprintf(out, "%s in [%s, %s]", s->type == AE_SET_REAL ? "real" : "integer", bound_text(s->min, lo),
                bound_text(s->max, hi));
        if (strcmp(s->units, "1") != 0) fprintf(out, " (%s)", s->units);
    }
    fputs(" | ", out);
    cell(out, s->long_name);
    const ae_usage_rule *rule = ae_usage_rule_of(s->key);
    if (rule) {
        fprintf(out, ". Used only where `%s` is ", rule->by);
        print_used_by(out, rule->used_by);
    }
    fputs(" |\n", out);
}

static int same_group(const char *key, const char *group, size_t length)
{
    return strncmp(key, group, length) == 0 && key[length] == '.';
}

static void print_config(FILE *out)
{
    /* the groups in the order of the settings table, then those only text settings have */
    const char *groups[32];
    size_t lengths[32];
    int n_groups = 0;
    for (size_t k = 0;; k++) {
        const ae_setting *s = ae_setting_at(k);
        if (!s) break;
        const size_t length = strcspn(s->key, ".");
        int known = 0;
        for (int g = 0; g < n_groups; g++) known |= lengths[g] == length && same_group(s->key, groups[g], length);
        if (!known && n_groups < 32) groups[n_groups] = s->key, lengths[n_groups++] = length;
    }
    for (size_t k = 0; ae_text_setting_at(k); k++) {
        const char *key = ae_text_setting_at(k)->key;
        const size_t length = strcspn(key, ".");
        int known = 0;
        for (int g = 0; g < n_groups; g++) known |= lengths[g] == length && same_group(key, groups[g], length);
        if (!known && n_groups < 32) groups[n_groups] = key, lengths[n_groups++] = length;
    }
    for (int g = 0; g < n_groups; g++) {
        fprintf(out, "### `%.*s`\n\n", (int)lengths[g], groups[g]);
        int numeric = 0;
        for (size_t k = 0; ae_setting_at(k); k++) {
            const ae_setting *s = ae_setting_at(k);
            if (!same_group(s->key, groups[g], lengths[g])) continue;
            if (!numeric++)
                fputs("| setting | axis | default | values | meaning |\n|---|---|---|---|---|\n", out);
            print_setting_row(out, s);
        }
        int text = 0;
        for (size_t k = 0; ae_text_setting_at(k); k++) {
            const ae_text_setting *t = ae_text_setting_at(k);
            if (!same_group(t->key, groups[g], lengths[g])) continue;
            if (!text++) fprintf(out, "%s| setting | default | meaning (not a grid axis) |\n|---|---|---|\n", numeric ? "\n" : "");
            fprintf(out, "| `%s` | `%s` | ", t->key, t->default_text);
            cell(out, t->meaning);
            if (strcmp(t->key, "init.select") == 0) {
                fputs(". Outcomes:", out);
                for (int c = 0; c < AE_OUTCOME_COUNT; c++) fprintf(out, "%s `%s`", c ? "," : "", ae_outcome_name(c));
            }
            if (strcmp(t->key, "output.fields") == 0) fputs(". The fields: the variables of docs/FORMAT.md", out);
            fputs(" |\n", out);
        }
        fputs("\n", out);
    }
}

/* ------------------------------------------------------------------------ */
/* aesweep help format                                                        */
/* ------------------------------------------------------------------------ */

static const char *const type_names[] = {"int8", "uint8", "int16", "int64", "real", "float64"};
static const char *const shape_names[] = {"(axes...)", "(axes..., feature)", "(axes..., feature, latent)"};

static void print_fill(FILE *out, double fill)
{
    if (fill != fill)
        fputs("NaN", out);
    else
        fprintf(out, "%.0f", fill);
}

static void print_format(FILE *out)
{
    enum { T_I8, T_U8, T_I16, T_I64, T_REAL, T_F64 };
    struct {
        const char *name, *units, *long_name;
        int type;
        ae_record_shape shape;
        double fill;
    } fields[] = {
#define FIELD_ROW(name, TYPE, SHAPE, fill, units, long_name) {#name, units, long_name, T_##TYPE, AE_RECORD_##SHAPE, fill},
        AE_RECORD_FIELDS(FIELD_ROW)
#undef FIELD_ROW
    };
    fputs("| variable | dimensions | type | units | before done | meaning (`long_name`) | in the file |\n"
          "|---|---|---|---|---|---|---|\n", out);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        fprintf(out, "| `%s` | %s | %s | %s | ", fields[f].name, shape_names[fields[f].shape], type_names[fields[f].type],
                fields[f].units);
        print_fill(out, fields[f].fill);
        fputs(ae_record_is_flag(f) ? " (a code: no `_FillValue`)" : "", out);
        fputs(" | ", out);
        cell(out, fields[f].long_name);
        const char *when = ae_output_field_when(f);
        fprintf(out, " | %s%s |\n", when ? "where " : "always", when ? when : "");
    }
    fputs("\nThe variables of named codes (CF `flag_values`, `flag_meanings`):\n\n"
          "| variable | codes |\n|---|---|\n", out);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        if (!ae_record_is_flag(f)) continue;
        fprintf(out, "| `%s` | ", fields[f].name);
        if (f == AE_RECORD_FIELD_plateau_kind) {
            /* as the writer gives them: 0 none, else the outcome code of the failure the plateau sat in */
            fprintf(out, "0 `none`, %d `%s`, %d `%s`", AE_OUT_SYMMETRIC_FAILURE, ae_outcome_name(AE_OUT_SYMMETRIC_FAILURE),
                    AE_OUT_PINNED_FAILURE, ae_outcome_name(AE_OUT_PINNED_FAILURE));
        } else if (f == AE_RECORD_FIELD_opt_optimizer) {
            const ae_setting *s = ae_setting_find("train.optimizer");
            for (int e = 0; s->names[e]; e++) fprintf(out, "%s%d `%s`", e ? ", " : "", e, s->names[e]);
        } else {
            for (int c = 0; c < AE_OUTCOME_COUNT; c++) fprintf(out, "%s%d `%s`", c ? ", " : "", c, ae_outcome_name(c));
        }
        fputs(" |\n", out);
    }
    fputs("\n", out);
}

/* ------------------------------------------------------------------------ */
/* aesweep help outcomes                                                      */
/* ------------------------------------------------------------------------ */

/* The settings the outcome, plateau, frozen and trust rules read, in the order the page
 * explains them. */
static const char *const rule_settings[] = {
    "outcome.window",  "outcome.tol",    "outcome.tilt_max",    "outcome.live_min", "train.check_every",
    "train.plateau_steps", "intervene.when", "outcome.hessian", "outcome.hessian_tol", "check.float64",
    "check.seed"};

static void print_outcomes(FILE *out)
{
    fputs("| code | name | rule |\n|---|---|---|\n", out);
#define OUTCOME_ROW(id, code, name, meaning) fprintf(out, "| %d | `%s` | ", code, name), cell(out, meaning), fputs(" |\n", out);
    AE_OUTCOMES(OUTCOME_ROW)
#undef OUTCOME_ROW
    fputs("\nThe settings of the rules, with their defaults:\n\n| setting | default | meaning |\n|---|---|---|\n", out);
    for (size_t k = 0; k < sizeof rule_settings / sizeof rule_settings[0]; k++) {
        const ae_setting *s = ae_setting_find(rule_settings[k]);
        char text[64];
        fprintf(out, "| `%s` | `%s` | ", s->key, default_text(s, text));
        cell(out, s->long_name);
        fputs(" |\n", out);
    }
    fprintf(out,
            "\nFixed in the code: a feature is learnt when Y_ii >= %g; radius levels split where sorted norms jump by "
            "more than %.0f %%; `outcome.window` may span at most %d checks of `train.check_every`; `outcome.hessian` "
            "= \"auto\" computes the stability where n (m + 1) <= %d; a float32 run's `hessian_neg` cut is at least "
            "2^%d.\n\n",
            AE_LEARNT_THRESHOLD, (AE_RADIUS_JUMP - 1) * 100, AE_TRACK_RING - 1, AE_HESSIAN_AUTO_P_MAX,
            ilogb(AE_HESSIAN_F32_FLOOR));
}

int ae_cli_help(int argc, char **argv)
{
    static const struct {
        const char *topic;
        void (*print)(FILE *);
    } topics[] = {{"config", print_config}, {"format", print_format}, {"outcomes", print_outcomes}};
    for (size_t k = 0; argc == 1 && k < sizeof topics / sizeof topics[0]; k++)
        if (strcmp(argv[0], topics[k].topic) == 0) {
            topics[k].print(stdout);
            return fflush(stdout) == 0 ? AE_EXIT_OK : AE_EXIT_RUNTIME;
        }
    return ae_cli_usage_error("help: expects one of config, format, outcomes (the markdown of docs/CONFIG.md, "
                              "docs/FORMAT.md, docs/OUTCOMES.md), or nothing");
}
