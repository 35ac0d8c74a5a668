/*
 * main.c - the aesweep command line (DESIGN.md section 6): the commands run, zoom (run.c),
 * info, merge, bench and help (help.c: docs/'s reference tables), their help, and the dispatch.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_bench.h"
#include "ae_check.h"
#include "ae_io.h"
#include "cli.h"

#ifdef AE_HAVE_MPI
#include <mpi.h>
#endif

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char commands_text[] =
    "aesweep " AE_VERSION " - train grids of tiny ReLU autoencoders and map where training fails\n"
    "\n"
    "usage:\n"
    "  aesweep run CONFIG -o OUT.h5 [options]   train every run of the sweep CONFIG into OUT.h5\n"
    "  aesweep zoom MAP.h5 -o OUT.h5 --grid PARAM=SPEC... [options]\n"
    "                                           train MAP.h5's sweep again over other axes (a window\n"
    "                                           of the map at higher resolution): its config, its\n"
    "                                           overrides, then these\n"
    "  aesweep info OUT.h5                      progress, outcome table, provenance of a file\n"
    "  aesweep merge OUT.h5 SHARD.h5...         join the shards of one sweep into OUT.h5\n"
    "  aesweep bench [--n N] [--runs R] [--steps S] [--backend B] [--json FILE]\n"
    "                                           model-steps per second and % of FP32 peak\n"
    "  aesweep help config|format|outcomes      the reference tables, as markdown: every setting, every\n"
    "                                           variable of the output, the outcome rules (docs/CONFIG.md,\n"
    "                                           docs/FORMAT.md, docs/OUTCOMES.md)\n"
    "  aesweep --help | --version | aesweep COMMAND --help\n"
    "\n";

static const char run_text[] =
    "usage: aesweep run CONFIG -o OUT.h5 [options]\n"
    "\n"
    "Trains every run of the sweep CONFIG (its grid: one run per point) into OUT.h5, a record per\n"
    "run, flushed batch by batch: a killed sweep loses at most its last batch (--resume).\n"
    "CONFIG - reads the config from standard input (one process; not under mpirun).\n"
    "\n";

static const char zoom_text[] =
    "usage: aesweep zoom MAP.h5 -o OUT.h5 --grid PARAM=SPEC... [options]\n"
    "\n"
    "Trains the sweep MAP.h5 was made from again: its stored config and overrides, then this\n"
    "command's --set and --grid, e.g. a window of an lr x bias_delta map at 4x the resolution:\n"
    "  aesweep zoom map.h5 -o zoom.h5 --grid lr=logspace:-2.5:-2:128 --grid bias_delta=linspace:0:0.05:128\n"
    "Every other setting stays as it was, so the zoom's runs are the map's runs at other points.\n"
    "Options are run's (aesweep run --help); init.file paths are read from the current folder.\n";

static const char run_options_text[] =
    "run options:\n"
    "  -o, --output OUT.h5     output file (required); never overwritten without --resume or --force\n"
    "  --backend auto|cpu|cuda auto (default) takes CUDA when a device is there, else the CPU\n"
    "  --set KEY=VALUE         override a setting, e.g. --set train.steps=500 (repeatable)\n"
    "  --grid PARAM=SPEC       replace the axis of PARAM (a key, or its dimension name: lr), or add one;\n"
    "                          SPEC: linspace:A:B:N | logspace:A:B:N (exponents of 10) | range:A:B[:S]\n"
    "                          | values:X,Y,...   e.g. --grid train.lr=logspace:-4:-1:256 (repeatable)\n"
    "  --resume                complete a killed sweep: train only the runs not yet done (starts OUT.h5 if absent)\n"
    "  --force                 overwrite an existing OUT.h5\n"
    "  --shard K/N             train only slice K of N (0 <= K < N) of the runs into OUT.h5\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "  --isa auto|baseline|avx2|avx512\n"
    "                          CPU instruction set (default auto: the widest this CPU has; all give\n"
    "                          the same bits; one this CPU lacks is an error)\n"
    "  --device K              CUDA device K (default: the first; under MPI: the rank on its node)\n"
    "  --kernel K              CUDA kernel variant: 0 shared, 1 fixed (default;\n"
    "                          beyond its instances: 3), 2 local, 3 warp\n"
    "  --quiet                 no progress line and no notes\n"
    "  --progress-every S      where stderr is not a terminal, a progress line every S seconds\n"
    "                          (default 30; 0: after every batch)\n"
    "\n";

static const char config_text[] =
    "A config (libconfig syntax) sets any of the settings below and a grid over them:\n"
    "\n"
    "  model = { n = 7; m = 2; };\n"
    "  init  = { scheme = \"xavier_normal\"; seed = 0; };\n"
    "  train = { optimizer = \"adamw\"; lr = 1e-3; steps = 5000; };\n"
    "  grid  = ( { param = \"train.lr\";  logspace = [-4.0, -1.0, 16]; },   # 10^-4 .. 10^-1\n"
    "            { param = \"init.seed\"; range = [0, 16]; } );              # 0 .. 15\n"
    "\n"
    "An axis is one of linspace = [a, b, count], logspace = [a, b, count] (a and b are exponents of 10),\n"
    "range = [start, stop(, step)] or values = [...]; its setting names the output dimension (lr, seed,\n"
    "bias_delta, ...). --set takes every setting below, lists and groups as in a config:\n"
    "  --set perturb.features=[0,5]  --set 'trajectory.select={ lr = 0.01; bias_delta = 0.1; }'\n"
    "Text settings: init.file (scheme \"file\": an earlier output), init.select (all, a run index,\n"
    "first:<outcome>, all:<outcome>), perturb.features (\"dead_neighbors\", \"none\" or [i, j, ...]).\n"
    "\n"
    "exit codes: 0 done, 1 runtime failure, 2 usage or config error, 130/143 interrupted (SIGINT/SIGTERM).\n"
    "\n"
    "settings (key, default, range):\n";

/* aesweep --help: the commands, then run's options, the config and every setting. */
static void print_usage(FILE *stream)
{
    fputs(commands_text, stream);
    fputs(run_options_text, stream);
    fputs(config_text, stream);
    ae_config_print_settings(stream);
}

static const char info_usage[] =
    "usage: aesweep info [--wide] [--by AXIS] OUT.h5\n"
    "\n"
    "Progress (runs done of the grid), the outcome table and the provenance of an output file.\n"
    "Works on a file that a sweep is still writing. The tables fit the terminal ($COLUMNS):\n"
    "outcome columns no run has are named, not drawn, and an axis of more than 16 values is\n"
    "shown at evenly spaced values.\n"
    "  --wide      every column and every value, with Wilson intervals however wide\n"
    "  --by AXIS   only the table of AXIS (a dimension name: lr, bias_delta, ...), every value\n";

static const char merge_usage[] =
    "usage: aesweep merge [--force] OUT.h5 SHARD.h5...\n"
    "\n"
    "Join the shards of one sweep (aesweep run --shard K/N) into OUT.h5. The inputs are never\n"
    "changed; --force replaces an existing OUT.h5.\n";

/* `aesweep COMMAND --help`: 1 when argv holds --help or -h (the help went to stdout). */
static int command_help(const char *command, int argc, char **argv)
{
    for (int k = 0; k < argc; k++) {
        if (strcmp(argv[k], "--help") != 0 && strcmp(argv[k], "-h") != 0) continue;
        if (!strcmp(command, "info"))
            fputs(info_usage, stdout);
        else if (!strcmp(command, "merge"))
            fputs(merge_usage, stdout);
        else if (!strcmp(command, "zoom"))
            fputs(zoom_text, stdout), fputs("\n", stdout), fputs(run_options_text, stdout);
        else { /* run: every option and setting */
            fputs(run_text, stdout);
            fputs(run_options_text, stdout);
            fputs(config_text, stdout);
            ae_config_print_settings(stdout);
        }
        return 1;
    }
    return 0;
}

int ae_cli_usage_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "aesweep: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n(see aesweep --help)\n");
    va_end(args);
    return AE_EXIT_USAGE;
}

int ae_cli_report(const ae_error *err)
{
    fprintf(stderr, "aesweep: %s\n", err->msg);
    return err->code ? err->code : AE_EXIT_RUNTIME;
}

/* ------------------------------------------------------------------------ */
/* aesweep info                                                              */
/* ------------------------------------------------------------------------ */

/* The width info fits: $COLUMNS, else the terminal's, else 100. */
static int terminal_columns(void)
{
    const char *env = getenv("COLUMNS");
    struct winsize size;
    if (env && atoi(env) >= 40 && atoi(env) <= 10000) return atoi(env);
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40) return size.ws_col;
    return 100;
}

static int command_info(int argc, char **argv)
{
    ae_info_options opt = {0, terminal_columns(), NULL};
    const char *path = NULL;
    for (int k = 0; k < argc; k++) {
        if (!strcmp(argv[k], "--wide"))
            opt.wide = 1;
        else if (!strcmp(argv[k], "--by") && k + 1 < argc)
            opt.by = argv[++k];
        else if (argv[k][0] == '-' || path)
            return ae_cli_usage_error("info: unexpected %s: aesweep info [--wide] [--by AXIS] OUT.h5", argv[k]);
        else
            path = argv[k];
    }
    if (!path) return ae_cli_usage_error("info: expects one file: aesweep info [--wide] [--by AXIS] OUT.h5");
    ae_error err = {.code = 0};
    return ae_info(path, &opt, &err) ? ae_cli_report(&err) : AE_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* aesweep merge                                                             */
/* ------------------------------------------------------------------------ */

static int command_merge(int argc, char **argv)
{
    int force = argc > 0 && !strcmp(argv[0], "--force");
    if (argc - force < 2) return ae_cli_usage_error("merge: expects [--force] OUT.h5 SHARD.h5...");
    char *const *shards = argv + force + 1;
    int n_shards = argc - force - 1;
    ae_error err = {.code = 0};
    char *file = ae_output_file(argv[force], &err); /* a symlink's target; refused: not a regular file */
    if (!file) return ae_cli_report(&err);
    const char *output = file;
    ae_lock *lock = ae_lock_output(output, &err);
    if (!lock) {
        free(file);
        return ae_cli_report(&err);
    }
    int status = 0;
    for (int k = 0; k < n_shards && !status; k++) {
        long pid = ae_lock_holder(shards[k]);
        if (pid)
            status = ae_fail_runtime(&err, "merge: %s is still being written (pid %ld): merge when it is done",
                                     shards[k], pid);
    }
    if (!status) status = ae_merge(output, shards, n_shards, force, &err);
    ae_lock_release(lock);
    free(file);
    return status ? ae_cli_report(&err) : AE_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------ */

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
#ifdef AE_HAVE_MPI
    MPI_Init(&argc, &argv);
#endif
    ae_io_startup();
    int status = dispatch(argc, argv);
#ifdef AE_HAVE_MPI
    MPI_Finalize();
#endif
    return status;
}

static int dispatch(int argc, char **argv)
{
    /* a file-size limit (or a full quota) must be a write error we report, not a silent death */
    signal(SIGXFSZ, SIG_IGN);
    /* a reader that closed our stdout or stderr (`2>&1 | head -1`) must not kill a sweep:
     * the progress lines are lost, the runs are not */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        print_usage(stderr);
        return AE_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (!strcmp(command, "help") && argc > 2) return ae_cli_help(argc - 2, argv + 2);
    if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
        print_usage(stdout);
        return AE_EXIT_OK;
    }
    if (!strcmp(command, "--version")) {
#ifdef AE_HAVE_CUDA
        printf("aesweep %s (backends: cpu, cuda)\n", AE_VERSION);
#else
        printf("aesweep %s (backends: cpu)\n", AE_VERSION);
#endif
        return AE_EXIT_OK;
    }
    if ((!strcmp(command, "run") || !strcmp(command, "zoom") || !strcmp(command, "info") ||
         !strcmp(command, "merge")) &&
        command_help(command, argc - 2, argv + 2))
        return AE_EXIT_OK;
    if (!strcmp(command, "run") || !strcmp(command, "zoom"))
        return ae_cli_run(argc - 2, argv + 2, !strcmp(command, "zoom"));
    if (!strcmp(command, "info")) return command_info(argc - 2, argv + 2);
    if (!strcmp(command, "merge")) return command_merge(argc - 2, argv + 2);
    if (!strcmp(command, "bench")) return ae_bench_main(argc - 2, argv + 2);
    return ae_cli_usage_error("unknown command %s", command);
}
