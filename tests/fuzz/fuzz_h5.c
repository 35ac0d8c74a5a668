/*
 * fuzz_h5.c - the readers of foreign HDF5 files under hostile input: `info` (narrow, wide
 * and --by), the stored config and overrides that `zoom` reads, the base-state loader
 * (init.scheme = "file") and `merge`.
 *
 * Each input is written to a temporary file (HDF5 reads files, not memory) and handed to
 * every reader.  With libFuzzer (`make fuzz-h5`) the corpus tests/fuzz/h5/ is mutated for
 * FUZZ_SECONDS; with -DFUZZ_REPLAY (gcc, ASan+UBSan) a main runs every file named on the
 * command line once, and `make sanitize` replays the corpus.  Both builds stamp their
 * files' commit as "fuzz-corpus", as the corpus is, so `merge` reaches the records.
 * A crash inside HDF5 itself on a corrupt file is HDF5's, not ours; the readers' own job
 * is to check every shape and count before they use it.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int write_temp(char *path, const uint8_t *data, size_t size)
{
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t wrote = write(fd, data + done, size - done);
        if (wrote <= 0) break;
        done += (size_t)wrote;
    }
    close(fd);
    return done == size ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) { /* info prints its tables: not to the fuzzer's terminal */
        quiet = freopen("/dev/null", "w", stdout) != NULL;
    }
    char input[] = "/tmp/aesweep_fuzz_in_XXXXXX", copy[] = "/tmp/aesweep_fuzz_copy_XXXXXX";
    char folder[] = "/tmp/aesweep_fuzz_out_XXXXXX";
    if (write_temp(input, data, size) || write_temp(copy, data, size) || !mkdtemp(folder)) abort();
    ae_error err = {.code = 0};
    const ae_info_options narrow = {0, 60, NULL}, wide = {1, 100, NULL}, by = {0, 100, "lr"};
    ae_info(input, &narrow, &err);
    ae_info(input, &wide, &err);
    ae_info(input, &by, &err);
    ae_stored_config stored; /* what `zoom` reads */
    if (ae_stored_config_read(&stored, input, &err) == 0) ae_stored_config_free(&stored);
    static const char *const selections[] = {"all", "1", "first:perfect", "all:mean_bias_failure,diverged"};
    for (size_t k = 0; k < sizeof selections / sizeof selections[0]; k++) {
        ae_bases bases;
        for (int keep = 0; keep < 2; keep++)
            if (ae_bases_load(&bases, input, selections[k], keep, &err) == 0) ae_bases_free(&bases);
    }
    char output[64];
    snprintf(output, sizeof output, "%s/merged.h5", folder);
    char *shards[2] = {input, copy};
    ae_merge(output, shards, 1, 1, &err);
    ae_merge(output, shards, 2, 1, &err);
    unlink(output);
    rmdir(folder);
    unlink(input);
    unlink(copy);
    return 0;
}

#ifdef FUZZ_REPLAY
int main(int argc, char **argv)
{
    ae_io_startup();
    for (int k = 1; k < argc; k++) {
        FILE *file = fopen(argv[k], "rb");
        if (!file) {
            fprintf(stderr, "fuzz_h5_replay: cannot open %s\n", argv[k]);
            return 1;
        }
        fseek(file, 0, SEEK_END);
        long size = ftell(file);
        rewind(file);
        uint8_t *bytes = ae_xmalloc((size_t)size);
        size_t got = fread(bytes, 1, (size_t)size, file);
        fclose(file);
        LLVMFuzzerTestOneInput(bytes, got);
        free(bytes);
    }
    fprintf(stderr, "fuzz_h5_replay: %d HDF5 inputs, no crash\n", argc - 1);
    return 0;
}
#endif
