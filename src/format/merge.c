/*
 * merge.c - `aesweep merge`: shards of one config and build, covering every run once,
 * joined into OUT.part and renamed over OUT; no input is ever changed or the output.
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
/* Merging shards                                                            */
/* ------------------------------------------------------------------------ */

static size_t type_bytes(var_type type)
{
    return type == VT_I8 || type == VT_U8 ? 1 : type == VT_I16 ? 2 : 8; /* I64; REAL and F64, read as double */
}

/* Copies the records of the runs done in `from` into `into`, variable by variable. */
static int merge_records(hid_t into, hid_t from, const uint8_t *from_done, const file_layout *lay, const char *path,
                         ae_error *err)
{
    char *src_data = NULL, *dst_data = NULL;
    int status = -1;
    for (size_t v = 0; v <= N_OUT_VARS; v++) {
        if (v < N_OUT_VARS && !io_has_field(lay->fields, v)) continue;
        const char *name = v < N_OUT_VARS ? out_vars[v].name : "done";
        var_type type = v < N_OUT_VARS ? out_vars[v].type : VT_U8;
        ae_record_shape shape = v < N_OUT_VARS ? out_vars[v].shape : AE_RECORD_RUN;
        uint64_t per_run = ae_record_per_run(shape, (int)lay->n_max, (int)lay->m_max);
        size_t run_bytes = (size_t)per_run * type_bytes(type), bytes = (size_t)lay->runs * run_bytes;
        src_data = ae_xmalloc(bytes);
        dst_data = ae_xmalloc(bytes);
        if (io_read_whole(from, name, io_h5_type(type), src_data, path, err) ||
            io_read_whole(into, name, io_h5_type(type), dst_data, path, err))
            goto fail;
        for (uint64_t r = 0; r < lay->runs; r++)
            if (from_done[r]) memcpy(dst_data + r * run_bytes, src_data + r * run_bytes, run_bytes);
        hid_t ds = H5Dopen2(into, name, H5P_DEFAULT);
        herr_t wrote = ds < 0 ? -1 : H5Dwrite(ds, io_h5_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, dst_data);
        io_h5_close(&ds);
        H5_OR_FAIL(wrote);
        free(src_data);
        free(dst_data);
        src_data = dst_data = NULL;
    }
    status = 0;
fail:
    free(src_data);
    free(dst_data);
    return status;
}

/* Opens a shard, checks that it is an aesweep output of this build with a layout and fields
 * like the first shard's (`first`) and its config (`config`: NULL for the first, which sets
 * it), and reads its `done`. */
static hid_t open_shard(const char *path, char **config, const file_layout *first, file_layout *lay, uint8_t **done,
                        ae_error *err)
{
    if (ae_input_file(path, "a shard", err)) return H5I_INVALID_HID;
    hid_t file = io_open_file(path, H5F_ACC_RDONLY);
    char *json = NULL;
    if (file < 0) {
        io_h5_fail(err, path, "merge: opening it as HDF5", __FILE__, __LINE__);
        return H5I_INVALID_HID;
    }
    if (io_check_stamp(file, path, "merge", err) || io_read_layout(file, path, lay, err)) goto fail;
    int same = !first || (lay->rank == first->rank && lay->n_max == first->n_max && lay->m_max == first->m_max);
    for (int d = 0; first && same && d < lay->rank; d++) same = lay->dims[d] == first->dims[d];
    if (!same) {
        ae_fail(err, "merge: %s has another shape than the first shard", path);
        goto fail;
    }
    if (first && lay->fields != first->fields) {
        char *has = io_field_names(lay->fields), *wants = io_field_names(first->fields);
        ae_fail(err, "merge: %s holds the fields [%s] but the first shard [%s]: shards must keep the same "
                     "output.fields", path, has, wants);
        free(has), free(wants);
        goto fail;
    }
    json = io_get_text_attr(file, "config_json");
    if (!json) {
        ae_fail(err, "merge: %s is not an aesweep output (no config_json)", path);
        goto fail;
    }
    if (*config && strcmp(json, *config) != 0) {
        ae_strbuf diff = {0};
        ae_strbuf_printf(&diff, "%s", "");
        io_describe_difference(*config, "first shard", json, "this shard", &diff);
        ae_fail(err, "merge: %s comes from another config than the first shard%s", path, diff.data);
        ae_strbuf_free(&diff);
        goto fail;
    }
    *done = ae_xmalloc(lay->runs);
    if (io_read_whole(file, "done", H5T_NATIVE_UINT8, *done, path, err)) goto fail;
    if (!*config) *config = json, json = NULL;
    free(json);
    return file;
fail:
    free(json);
    free(*done);
    *done = NULL;
    H5Fclose(file);
    return H5I_INVALID_HID;
}

static int copy_file(const char *from, const char *to, ae_error *err)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    int status = 0;
    if (!in || !out) status = ae_fail_runtime(err, "merge: cannot copy %s to %s: %s", from, to, strerror(errno));
    char chunk[1 << 16];
    size_t got;
    while (!status && (got = fread(chunk, 1, sizeof chunk, in)) > 0)
        if (fwrite(chunk, 1, got, out) != got) status = ae_fail_runtime(err, "%s: %s", to, strerror(errno));
    if (in) fclose(in);
    if (out && fclose(out) != 0 && !status) status = ae_fail_runtime(err, "%s: %s", to, strerror(errno));
    return status;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Builds the merge in `part`: a copy of the first shard with the records of the others. */
static int merge_into(const char *part, char *const *shards, int n_shards, ae_error *err)
{
    const char *path = part;
    char *config = NULL;
    uint8_t *covered = NULL, *done = NULL;
    file_layout first, lay;
    hid_t into = H5I_INVALID_HID, from = open_shard(shards[0], &config, NULL, &first, &covered, err);
    int status = -1;
    if (from < 0) goto fail;
    io_h5_close(&from);
    if (copy_file(shards[0], part, err)) goto fail;
    H5_OR_FAIL(into = io_open_file(part, H5F_ACC_RDWR));
    for (int k = 1; k < n_shards; k++) {
        if ((from = open_shard(shards[k], &config, &first, &lay, &done, err)) < 0) goto fail;
        for (uint64_t r = 0; r < lay.runs; r++)
            if (done[r] && covered[r]) {
                ae_fail(err, "merge: run %llu is in %s and an earlier shard", (unsigned long long)r, shards[k]);
                goto fail;
            }
        for (uint64_t r = 0; r < lay.runs; r++) covered[r] |= done[r];
        if (merge_records(into, from, done, &first, part, err)) goto fail;
        io_h5_close(&from);
        free(done);
        done = NULL;
    }
    uint64_t missing = 0;
    for (uint64_t r = 0; r < first.runs; r++) missing += !covered[r];
    if (missing) {
        ae_fail(err, "merge: the shards leave %llu of %llu runs undone (a shard missing or unfinished?)",
                (unsigned long long)missing, (unsigned long long)first.runs);
        goto fail;
    }
    herr_t closed = H5Fclose(into);
    into = H5I_INVALID_HID; /* closed even when closing failed: never again */
    if (closed < 0) {
        io_h5_fail(err, path, "closing the merged file", __FILE__, __LINE__);
        goto fail;
    }
    status = 0;
fail:
    io_h5_close(&from);
    io_h5_close(&into);
    free(done);
    free(covered);
    free(config);
    return status;
}

int ae_merge(const char *output, char *const *shards, int n_shards, int force, ae_error *err)
{
    if (n_shards < 1) return ae_fail(err, "merge: expects OUT.h5 SHARD.h5...");
    for (int k = 0; k < n_shards; k++)
        if (same_file(output, shards[k]))
            return ae_fail(err, "merge: the output %s is the input %s: merge into a new file", output, shards[k]);
    if (!force && access(output, F_OK) == 0) return ae_fail(err, "%s exists: use --force to overwrite it", output);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char *part = io_part_path(output);
    int status = merge_into(part, shards, n_shards, err);
    if (!status) status = io_rename_into_place(part, output, err);
    if (status) remove(part);
    free(part);
    return status;
}
