/*
 * fuzz_config.c - the config loader under hostile input.
 *
 * With libFuzzer (clang -fsanitize=fuzzer,address,undefined): `make fuzz` mutates the
 * shipped sweeps and the bad-config corpus for FUZZ_SECONDS; crashing inputs land in
 * tests/fuzz/regressions/.  With -DFUZZ_REPLAY (gcc, ASan+UBSan): a main that runs every
 * file named on the command line once; `make sanitize` replays the whole corpus.
 */
#include "ae_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = ae_xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    const ae_override sets[] = {{0, "train.steps=10"}, {1, "lr=logspace:-3:-2:3"}, {0, "perturb.features=dead_neighbors"}};
    ae_config cfg;
    ae_error err;
    if (ae_config_parse(&cfg, "fuzz.cfg", text, sets, (int)(size % 4), &err) == 0) {
        free(ae_config_json(&cfg));
        ae_grid grid;
        if (ae_grid_build(&grid, &cfg, NULL, &err) == 0 && grid.total > 0) {
            ae_params params;
            uint64_t base;
            ae_grid_run(&grid, grid.total - 1, &params, &base);
        }
        ae_grid_free(&grid);
    }
    ae_config_free(&cfg);
    free(text);
    return 0;
}

#ifdef FUZZ_REPLAY
int main(int argc, char **argv)
{
    for (int k = 1; k < argc; k++) {
        ae_error err;
        char *text = ae_read_file(argv[k], &err);
        if (!text) {
            fprintf(stderr, "fuzz_replay: %s\n", err.msg);
            return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)text, strlen(text));
        free(text);
    }
    printf("fuzz_replay: %d inputs, no crash\n", argc - 1);
    return 0;
}
#endif
