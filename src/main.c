/*
 * main.c - the aesweep command line (DESIGN.md section 6): run, info, merge, bench.
 *
 * `run` is the heart: config -> grid -> batches of runs trained by a backend ->
 * records written and flushed batch by batch, with a progress line on a terminal.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_bench.h"
#include "ae_io.h"

#ifdef AE_HAVE_MPI
#include <mpi.h>
#endif

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_SECONDS 2.0   /* aim: one flush every ~2 s, so a kill loses little */
#define BATCH_MIN 16
#define BATCH_MAX (1u << 22)

static const char usage_text[] =
    "aesweep " AE_VERSION " - train grids of tiny ReLU autoencoders and map where training fails\n"
    "\n"
    "usage:\n"
    "  aesweep run CONFIG -o OUT.h5 [options]   train every run of the sweep CONFIG into OUT.h5\n"
    "  aesweep info OUT.h5                      progress, outcome table, provenance of a file\n"
    "  aesweep merge OUT.h5 SHARD.h5...         join the shards of one sweep into OUT.h5\n"
    "  aesweep bench [--n N] [--runs R] [--steps S] [--backend B] [--json FILE]\n"
    "                                           model-steps per second and % of FP32 peak\n"
    "  aesweep --help | --version\n"
    "\n"
    "run options:\n"
    "  -o, --output OUT.h5     output file (required); never overwritten without --resume or --force\n"
    "  --backend auto|cpu|cuda auto (default) takes CUDA when a device is there, else the CPU\n"
    "  --set KEY=VALUE         override a setting, e.g. --set train.steps=500 (repeatable)\n"
    "  --resume                complete a killed sweep: train only the runs not yet done\n"
    "  --force                 overwrite an existing OUT.h5\n"
    "  --shard K/N             train only slice K of N (0 <= K < N) of the runs into OUT.h5\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "  --isa auto|baseline|avx2|avx512\n"
    "                          CPU instruction set (default auto: the widest this CPU has; all give\n"
    "                          the same bits; one this CPU lacks is an error)\n"
    "  --device K              CUDA device K (default: the first; under MPI: the rank on its node)\n"
    "  --kernel K              CUDA kernel variant: 0 shared, 1 fixed (default), 2 local\n"
    "  --quiet                 no progress line and no notes\n"
    "\n"
    "A config (libconfig syntax) sets any of the settings below and a grid over them:\n"
    "\n"
    "  model = { n = 7; m = 2; };\n"
    "  init  = { scheme = \"xavier_normal\"; seed = 0; };\n"
    "  train = { optimizer = \"adamw\"; lr = 1e-3; steps = 5000; };\n"
    "  grid  = ( { param = \"train.lr\";  logspace = [-4.0, -1.0, 16]; },   # 10^-4 .. 10^-1\n"
    "            { param = \"init.seed\"; range = [0, 16]; } );              # 0 .. 15\n"
    "\n"
    "An axis is one of linspace = [a, b, count], logspace = [a, b, count], range = [start, stop(, step)]\n"
    "or values = [...]; its setting names the output dimension (lr, seed, bias_delta, ...).\n"
    "Text settings: init.file (scheme \"file\": an earlier output), init.select (all, a run index,\n"
    "first:<outcome>, all:<outcome>), perturb.features (\"dead_neighbors\", \"none\" or [i, j, ...]).\n"
    "\n"
    "exit codes: 0 done, 1 runtime failure, 2 usage or config error.\n"
    "\n"
    "settings (key, default, range):\n";

static void print_usage(FILE *stream)
{
    fputs(usage_text, stream);
    ae_config_print_settings(stream);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "aesweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see aesweep --help)\n");
    return AE_EXIT_USAGE;
}

static int report(const ae_error *err)
{
    fprintf(stderr, "aesweep: %s\n", err->msg);
    return err->code ? err->code : AE_EXIT_RUNTIME;
}

/* ------------------------------------------------------------------------ */
/* Ranks: under `mpirun` (make MPI=1) the ranks split the runs and share the output  */
/* file; in one process these are the identity.                              */
/* ------------------------------------------------------------------------ */

typedef struct {
    int rank, size;
} ranks;

static ranks world_ranks(void)
{
    ranks r = {0, 1};
#ifdef AE_HAVE_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r.size);
#endif
    return r;
}

/* Is flag set on any rank? (keeps the ranks' batch loops, and so HDF5's collective
 * flushes, in step) */
static int any_rank(int flag)
{
#ifdef AE_HAVE_MPI
    MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
    return flag;
}

static double sum_over_ranks(double value)
{
#ifdef AE_HAVE_MPI
    MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
    return value;
}

/* Rank 0's text on every rank: collective attribute writes need the same values. */
static void share_text(char *text, int size)
{
#ifdef AE_HAVE_MPI
    MPI_Bcast(text, size, MPI_CHAR, 0, MPI_COMM_WORLD);
#else
    (void)text, (void)size;
#endif
}

/* Each rank of a node drives its own GPU: the rank's index among the node's ranks. */
static int node_rank(void)
{
    int rank = 0;
#ifdef AE_HAVE_MPI
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &rank);
    MPI_Comm_free(&node);
#endif
    return rank;
}

/* ------------------------------------------------------------------------ */
/* Progress                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    int enabled;
    double start;
    uint64_t total, done_before;
} progress;

static void progress_show(const progress *pr, uint64_t done, int final)
{
    if (!pr->enabled) return;
    double elapsed = ae_now() - pr->start;
    double rate = elapsed > 0 ? (double)(done - pr->done_before) / elapsed : 0;
    double eta = rate > 0 ? (double)(pr->total - done) / rate : 0;
    fprintf(stderr, "\r%llu/%llu runs (%.1f%%)  %.4g runs/s  ETA %dm%02ds   %s", (unsigned long long)done,
            (unsigned long long)pr->total, pr->total ? 100.0 * (double)done / (double)pr->total : 100.0, rate,
            (int)(eta / 60), (int)eta % 60, final ? "\n" : "");
    fflush(stderr);
}

/* ------------------------------------------------------------------------ */
/* aesweep run                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *config_path, *output;
    ae_backend_options backend;
    char **sets;
    int n_sets, resume, force, quiet;
    uint64_t shard_index, shard_count;
} run_options;

static int parse_run_options(int argc, char **argv, run_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->backend = (ae_backend_options)AE_BACKEND_OPTIONS_DEFAULT;
    opt->shard_count = 1;
    opt->sets = ae_xcalloc((size_t)argc, sizeof(char *));
    for (int k = 0; k < argc; k++) {
        const char *arg = argv[k];
        int has_value = k + 1 < argc;
        ae_error err;
        int backend_option = ae_backend_option(arg, has_value ? argv[k + 1] : NULL, &opt->backend, &err);
        if (backend_option < 0) return usage_error("%s", err.msg);
        if (backend_option > 0)
            k++;
        else if ((!strcmp(arg, "-o") || !strcmp(arg, "--output")) && has_value)
            opt->output = argv[++k];
        else if (!strcmp(arg, "--set") && has_value)
            opt->sets[opt->n_sets++] = argv[++k];
        else if (!strcmp(arg, "--shard") && has_value) {
            unsigned long long index, count;
            char extra;
            if (sscanf(argv[++k], "%llu/%llu%c", &index, &count, &extra) != 2 || count == 0 || index >= count)
                return usage_error("--shard %s: expects K/N with 0 <= K < N", argv[k]);
            opt->shard_index = index, opt->shard_count = count;
        } else if (!strcmp(arg, "--resume"))
            opt->resume = 1;
        else if (!strcmp(arg, "--force"))
            opt->force = 1;
        else if (!strcmp(arg, "--quiet"))
            opt->quiet = 1;
        else if (arg[0] == '-')
            return usage_error("run: unknown option %s or missing value", arg);
        else if (!opt->config_path)
            opt->config_path = arg;
        else
            return usage_error("run: unexpected argument %s", arg);
    }
    if (!opt->config_path) return usage_error("run: missing CONFIG%s", "");
    if (!opt->output) return usage_error("run: missing -o OUT.h5%s", "");
    if (opt->resume && opt->force) return usage_error("run: --resume and --force exclude each other%s", "");
    opt->backend.quiet = opt->quiet;
    return 0;
}

/* Batch size for the next batch: what the last one's speed says fits in BATCH_SECONDS. */
static uint64_t next_batch_size(uint64_t last_size, double last_seconds, uint64_t minimum)
{
    if (last_seconds <= 0) return last_size * 4;
    double fit = (double)last_size * BATCH_SECONDS / last_seconds;
    uint64_t size = fit < (double)minimum ? minimum : fit > BATCH_MAX ? BATCH_MAX : (uint64_t)fit;
    return size > last_size * 4 ? last_size * 4 : size;
}

static int train_all(const run_options *opt, const ae_job *job, ae_backend *backend, ae_out *out, uint8_t *done,
                     ae_provenance *prov, ae_error *err)
{
    const ae_grid *grid = job->grid;
    const ranks world = world_ranks();
    /* the slice of this shard, and within it of this MPI rank */
    uint64_t shard_first = grid->total * opt->shard_index / opt->shard_count;
    uint64_t shard_end = grid->total * (opt->shard_index + 1) / opt->shard_count;
    uint64_t first = shard_first + (shard_end - shard_first) * (uint64_t)world.rank / (uint64_t)world.size;
    uint64_t end = shard_first + (shard_end - shard_first) * (uint64_t)(world.rank + 1) / (uint64_t)world.size;
    uint64_t done_before = 0;
    for (uint64_t r = first; r < end; r++) done_before += done[r];
    progress pr = {!opt->quiet && world.rank == 0 && isatty(STDERR_FILENO), ae_now(), end - first, done_before};
    uint64_t minimum = (uint64_t)ae_cpu_threads(opt->backend.threads) * 16;
    minimum = minimum < BATCH_MIN ? BATCH_MIN : minimum;
    uint64_t batch = minimum, done_now = done_before;
    ae_results res;
    ae_results_alloc(&res, batch, grid->n_max, grid->m_max);
    double train_seconds = 0, model_steps = 0;
    for (uint64_t at = first;;) {
        while (at < end && done[at]) at++;
        uint64_t count = end - at < batch ? end - at : batch;
        /* every rank writes (maybe nothing) until no rank has runs left */
        if (!any_rank(count > 0)) break;
        if (count > res.capacity) {
            ae_results_free(&res);
            ae_results_alloc(&res, count, grid->n_max, grid->m_max);
        }
        double t0 = ae_now();
        if (count && backend->train(backend, job, at, count, &res, err)) return -1;
        double seconds = ae_now() - t0;
        if (ae_out_write(out, at, count, &res, err)) return -1;
        train_seconds += seconds;
        model_steps += ae_grid_model_steps(grid, at, count);
        for (uint64_t r = at; r < at + count; r++) {
            done_now += !done[r];
            done[r] = 1;
        }
        progress_show(&pr, done_now, 0);
        at += count;
        if (count) batch = next_batch_size(count, seconds, minimum);
    }
    progress_show(&pr, done_now, 1);
    ae_results_free(&res);
    /* all ranks train at once: the sweep's rate is the sum of theirs */
    prov->model_steps_per_second = sum_over_ranks(train_seconds > 0 ? model_steps / train_seconds : 0);
    return 0;
}

static int command_run(int argc, char **argv)
{
    run_options opt;
    int status = parse_run_options(argc, argv, &opt);
    if (status) {
        free(opt.sets);
        return status;
    }
    ae_error err = {.code = 0};
    ae_config cfg;
    ae_bases bases = {0};
    ae_grid grid = {0};
    ae_backend *backend = NULL;
    ae_out *out = NULL;
    uint8_t *done = NULL;
    status = -1;
    if (ae_config_load(&cfg, opt.config_path, opt.sets, opt.n_sets, &err)) goto finish;
    if (cfg.params.scheme == AE_INIT_FILE && ae_bases_load(&bases, cfg.init_file, cfg.init_select, &err))
        goto finish;
    if (ae_grid_build(&grid, &cfg, cfg.params.scheme == AE_INIT_FILE ? &bases : NULL, &err)) goto finish;
    ae_job job = {&cfg, &grid, cfg.params.scheme == AE_INIT_FILE ? &bases : NULL};
    const ranks world = world_ranks();
    if (world.size > 1 && opt.backend.cuda_device < 0) opt.backend.cuda_device = node_rank();
    opt.backend.quiet |= world.rank > 0;
    backend = ae_backend_select(&opt.backend, &err);
    if (!backend) goto finish;
    ae_provenance prov = {.backend = backend->name, .device = backend->device};
    ae_utc_time(prov.start_time, sizeof prov.start_time);
    snprintf(prov.end_time, sizeof prov.end_time, "running");
    share_text(prov.start_time, sizeof prov.start_time);
    share_text(backend->device, sizeof backend->device);
    done = ae_xcalloc(grid.total, 1);
    out = opt.resume ? ae_out_resume(opt.output, &job, done, &err)
                     : ae_out_create(opt.output, &job, &prov, opt.force, &err);
    if (!out) goto finish;
    if (!opt.resume && cfg.trajectory_every) {
        ae_trajectories traj;
        ae_trajectories_train(&job, &traj);
        int failed = ae_out_write_trajectories(out, &traj, &err);
        ae_trajectories_free(&traj);
        if (failed) goto finish;
    }
    if (world.size > 1 && world.rank == 0 && !opt.quiet)
        fprintf(stderr, "aesweep: %llu runs over %d MPI ranks on %s (%s)\n", (unsigned long long)grid.total, world.size,
                backend->name, backend->device);
    else if (world.rank > 0 || opt.quiet)
        ;
    else if (opt.shard_count > 1)
        fprintf(stderr, "aesweep: shard %llu/%llu of %llu runs on %s (%s)\n", (unsigned long long)opt.shard_index,
                (unsigned long long)opt.shard_count, (unsigned long long)grid.total, backend->name, backend->device);
    else if (!opt.quiet)
        fprintf(stderr, "aesweep: %llu runs on %s (%s)\n", (unsigned long long)grid.total, backend->name,
                backend->device);
    if (train_all(&opt, &job, backend, out, done, &prov, &err)) goto finish;
    ae_utc_time(prov.end_time, sizeof prov.end_time);
    share_text(prov.end_time, sizeof prov.end_time);
    status = ae_out_close(out, &prov, &err);
    out = NULL;
    if (status == 0 && !opt.quiet && world.rank == 0)
        fprintf(stderr, "aesweep: wrote %s (%.3g model-steps/s)\n", opt.output, prov.model_steps_per_second);
finish:
    if (out) ae_out_close(out, NULL, NULL);
    if (backend) backend->destroy(backend);
    free(done);
    ae_grid_free(&grid);
    ae_bases_free(&bases);
    if (cfg.path) ae_config_free(&cfg);
    free(opt.sets);
    if (status && world_ranks().size > 1) {
        /* a config error stops every rank alike; a runtime failure of one rank leaves the
         * others waiting in collective calls: take the whole job down */
        if (err.code == AE_EXIT_USAGE) return world_ranks().rank == 0 ? report(&err) : AE_EXIT_USAGE;
        report(&err);
#ifdef AE_HAVE_MPI
        MPI_Abort(MPI_COMM_WORLD, AE_EXIT_RUNTIME);
#endif
    }
    return status ? report(&err) : AE_EXIT_OK;
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
    if (argc < 2) {
        print_usage(stderr);
        return AE_EXIT_USAGE;
    }
    const char *command = argv[1];
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
    if (!strcmp(command, "run")) return command_run(argc - 2, argv + 2);
    if (!strcmp(command, "info")) {
        if (argc != 3) return usage_error("info: expects one file: aesweep info OUT.h5%s", "");
        ae_error err = {.code = 0};
        return ae_info(argv[2], &err) ? report(&err) : AE_EXIT_OK;
    }
    if (!strcmp(command, "merge")) {
        int force = argc > 2 && !strcmp(argv[2], "--force");
        if (argc - 2 - force < 2) return usage_error("merge: expects [--force] OUT.h5 SHARD.h5...%s", "");
        ae_error err = {.code = 0};
        return ae_merge(argv[2 + force], argv + 3 + force, argc - 3 - force, force, &err) ? report(&err) : AE_EXIT_OK;
    }
    if (!strcmp(command, "bench")) return ae_bench_main(argc - 2, argv + 2);
    return usage_error("unknown command %s", command);
}
