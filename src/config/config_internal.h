/*
 * config_internal.h - what the loader (load.c) reads from the schema (schema.c); not an API.
 *
 *   ae_cfg_groups, ae_cfg_record_names   the config's groups; the record fields by number
 *   ae_cfg_setting_named(name)           a numeric setting by key ("train.lr") or dimension ("lr")
 *   ae_cfg_is_text_key(key)              a setting that is text, a list or a boolean
 *   ae_cfg_enum_index(s, name)           an enum setting's value of a name, or -1
 *   ae_cfg_check_number(s, v, where, err) v within s's bounds and type; else an error at `where`
 *   ae_cfg_unknown_key(err, where, key)  the error for a key that is no setting ("did you mean")
 *   ae_cfg_note_given(cfg, s)            s was set by the file or the command line
 *   ae_cfg_is_axis_setting(cfg, s)       s is already an axis (or a sample axis's setting)
 *   ae_cfg_field_bit(name)               a record field's bit in output_fields, 0: none
 *   ae_cfg_fields_not_computed(t, c)     the fields runs without twins / without checks lack
 */
#ifndef AE_CONFIG_INTERNAL_H
#define AE_CONFIG_INTERNAL_H

#include "ae_config.h"

extern const char *const ae_cfg_groups[];
extern const char *const ae_cfg_record_names[];

const ae_setting *ae_cfg_setting_named(const char *name);
int ae_cfg_is_text_key(const char *key);
int ae_cfg_enum_index(const ae_setting *s, const char *name);
int ae_cfg_check_number(const ae_setting *s, double value, const char *where, ae_error *err);
int ae_cfg_unknown_key(ae_error *err, const char *where, const char *key);
void ae_cfg_note_given(ae_config *cfg, const ae_setting *s);
int ae_cfg_is_axis_setting(const ae_config *cfg, const ae_setting *s);
uint64_t ae_cfg_field_bit(const char *name);
uint64_t ae_cfg_fields_not_computed(int twins, int checks);

#endif
