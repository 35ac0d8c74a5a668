/*
 * run.c - aesweep run and aesweep zoom: config -> grid -> batches of runs trained by a
 * backend -> records written and flushed batch by batch on the output's writer thread,
 * each batch's write overlapping the next batch's training, with a progress line.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_check.h"
#include "ae_io.h"
#include "cli.h"

#ifdef AE_HAVE_MPI
#include <mpi.h>
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_SECONDS 2.0   /* aim: one flush every ~2 s, so a kill loses little */
#define BATCH_MIN 16
#define BATCH_MAX (1u << 22)

/* ------------------------------------------------------------------------ */
/* Interrupts: SIGINT and SIGTERM stop the sweep after the batch in hand is on disk.  */
/* ------------------------------------------------------------------------ */

/* The signal that asked us to stop (0: none).  A flag is all a handler may safely set;
 * SA_RESETHAND makes a second Ctrl-C kill at once (the file stays resumable). */
static volatile sig_atomic_t interrupted_by;

static void on_interrupt(int sig)
{
    interrupted_by = sig;
}

static void catch_interrupts(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

/* ------------------------------------------------------------------------ */
/* aesweep run                                                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    const char *config_path, *output; /* zoom: config_path is the map whose config it takes */
    ae_backend_options backend;
    ae_override *overrides;           /* --set and --grid, in their order */
    int n_overrides, zoom, resume, force, quiet;
    double progress_every;            /* seconds between plain progress lines (not a terminal) */
    uint64_t shard_index, shard_count;
} run_options;

/* K/N: two whole numbers, 0 <= K < N, each within 64 bits. */
static int parse_shard(const char *text, uint64_t *index, uint64_t *count)
{
    size_t k_digits = strspn(text, "0123456789");
    if (k_digits == 0 || text[k_digits] != '/') return -1;
    const char *n_text = text + k_digits + 1;
    size_t n_digits = strspn(n_text, "0123456789");
    if (n_digits == 0 || n_text[n_digits]) return -1;
    errno = 0;
    unsigned long long k = strtoull(text, NULL, 10), n = strtoull(n_text, NULL, 10);
    if (errno == ERANGE || n == 0 || k >= n) return -1;
    *index = k, *count = n;
    return 0;
}

/* The options of `run` and of `zoom` (zoom 1: the first argument is the map, not a config). */
static int parse_run_options(int argc, char **argv, int zoom, run_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->backend = (ae_backend_options)AE_BACKEND_OPTIONS_DEFAULT;
    opt->shard_count = 1;
    opt->zoom = zoom;
    opt->progress_every = PROGRESS_LOG_SECONDS;
    opt->overrides = ae_xcalloc((size_t)argc + 1, sizeof(ae_override));
    const char *command = zoom ? "zoom" : "run";
    for (int k = 0; k < argc; k++) {
        const char *arg = argv[k];
        int has_value = k + 1 < argc;
        ae_error err;
        int backend_option = ae_backend_option(arg, has_value ? argv[k + 1] : NULL, &opt->backend, &err);
        if (backend_option < 0) return ae_cli_usage_error("%s", err.msg);
        if (backend_option > 0)
            k++;
        else if ((!strcmp(arg, "-o") || !strcmp(arg, "--output")) && has_value)
            opt->output = argv[++k];
        else if ((!strcmp(arg, "--set") || !strcmp(arg, "--grid")) && has_value)
            opt->overrides[opt->n_overrides++] = (ae_override){arg[2] == 'g', argv[++k]};
        else if (!strcmp(arg, "--shard") && has_value) {
            if (parse_shard(argv[++k], &opt->shard_index, &opt->shard_count))
                return ae_cli_usage_error("--shard %s: expects K/N, whole numbers with 0 <= K < N < 2^64", argv[k]);
        } else if (!strcmp(arg, "--progress-every") && has_value) {
            char *end;
            opt->progress_every = strtod(argv[++k], &end);
            if (end == argv[k] || *end || !(opt->progress_every >= 0 && opt->progress_every <= 1e6))
                return ae_cli_usage_error("--progress-every %s: expects seconds, 0 to 1e6", argv[k]);
        } else if (!strcmp(arg, "--resume"))
            opt->resume = 1;
        else if (!strcmp(arg, "--force"))
            opt->force = 1;
        else if (!strcmp(arg, "--quiet"))
            opt->quiet = 1;
        else if (arg[0] == '-' && arg[1]) /* "-" alone: the config on standard input */
            return ae_cli_usage_error("%s: unknown option %s or missing value", command, arg);
        else if (!opt->config_path)
            opt->config_path = arg;
        else
            return ae_cli_usage_error("%s: unexpected argument %s", command, arg);
    }
    if (!opt->config_path) return ae_cli_usage_error("%s: missing %s", command, zoom ? "MAP.h5" : "CONFIG");
    if (!opt->output) return ae_cli_usage_error("%s: missing -o OUT.h5", command);
    if (opt->resume && opt->force) return ae_cli_usage_error("%s: --resume and --force exclude each other", command);
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

/* first + size * k / n without overflow (shards and ranks slice the runs this way). */
static uint64_t slice_point(uint64_t first, uint64_t size, uint64_t k, uint64_t n)
{
    return first + (uint64_t)((unsigned __int128)size * k / n);
}

/* Everything one `run` holds, built step by step and freed in one place. */
typedef struct {
    ae_config cfg;
    int cfg_loaded;
    ae_bases bases;
    ae_grid grid;
    ae_job job;
    ae_check check; /* check.float64: the runs also trained in float64 */
    ae_lock *lock;
    ae_backend *backend;
    ae_provenance prov;
    ae_out *out;
    uint8_t *done;
    uint64_t first, end; /* this process's runs */
    uint64_t done_now;   /* of them, done */
    int resumed;         /* the output was there and is resumed */
    double model_steps;  /* trained by this session, all ranks */
} sweep;

static void sweep_free(sweep *s)
{
    if (s->out) ae_out_close(s->out, NULL, NULL);
    if (s->backend) s->backend->destroy(s->backend);
    ae_lock_release(s->lock);
    free(s->done);
    ae_check_free(&s->check);
    ae_grid_free(&s->grid);
    ae_bases_free(&s->bases);
    if (s->cfg_loaded) ae_config_free(&s->cfg);
}

/* -o must not name the config or the base-state file (--force would replace it). */
static int check_output_is_not_an_input(const run_options *opt, const ae_config *cfg, ae_error *err)
{
    struct stat out, in;
    if (stat(opt->output, &out) != 0) return 0;
    const char *inputs[2] = {opt->config_path, cfg->params.scheme == AE_INIT_FILE ? cfg->init_file : NULL};
    for (int k = 0; k < 2; k++)
        if (inputs[k] && stat(inputs[k], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
            return ae_fail(err, "%s: -o %s is the %s: give the output another name", opt->zoom ? "zoom" : "run",
                           opt->output, k > 0 ? "init.file of the config" : opt->zoom ? "map zoomed into" : "config file");
    return 0;
}

/* Rank 0 takes the output's lock; every rank learns whether it got it. */
static int lock_output(const run_options *opt, sweep *s, ae_error *err)
{
    int failed = 0;
    if (ae_world_ranks().rank == 0) failed = !(s->lock = ae_lock_output(opt->output, err));
    if (ae_any_rank(failed) && !failed) ae_fail_runtime(err, "rank 0 could not lock %s", opt->output);
    return ae_any_rank(failed) ? -1 : 0;
}

/* The stored trajectories are held in memory while they train and allocated in the file
 * at its creation: a config that asks for more than this machine's memory is a config
 * error, said before anything is written (not an "out of memory" later). */
static int check_trajectory_size(const ae_job *job, ae_error *err)
{
    ae_trajectories shape;
    ae_trajectories_shape(job, &shape);
    if (!shape.count) return 0;
    const double per_point = 1.0 + (double)shape.n_max * (double)shape.m_max + (double)shape.n_max; /* loss, W, b */
    const double bytes = (double)shape.count * (double)shape.points * per_point * sizeof(double) +
                         (double)shape.points * AE_P_MAX * sizeof(double);
    const double memory = ae_physical_memory();
    if (memory > 0 && bytes > memory)
        return ae_fail(err, "%s: trajectory: %lld runs x %lld points (train.steps / trajectory.every + 1) need %.3g GB, "
                            "more than this machine's %.3g GB: raise trajectory.every or store fewer runs",
                       job->cfg->path, (long long)shape.count, (long long)shape.points, bytes / 1e9, memory / 1e9);
    return 0;
}

/* The config file and the command line's overrides; for zoom the map's stored config and
 * overrides, then the command line's. */
static int load_config(const run_options *opt, ae_config *cfg, ae_error *err)
{
    if (!opt->zoom) return ae_config_load(cfg, opt->config_path, opt->overrides, opt->n_overrides, err);
    ae_stored_config stored;
    if (ae_stored_config_read(&stored, opt->config_path, err)) {
        memset(cfg, 0, sizeof *cfg);
        return -1;
    }
    ae_override *all = ae_xcalloc((size_t)(stored.n + opt->n_overrides) + 1, sizeof(ae_override));
    memcpy(all, stored.ov, (size_t)stored.n * sizeof *all);
    memcpy(all + stored.n, opt->overrides, (size_t)opt->n_overrides * sizeof *all);
    int status = ae_config_parse(cfg, opt->config_path, stored.text, all, stored.n + opt->n_overrides, err);
    free(all);
    ae_stored_config_free(&stored);
    return status;
}

/* Axes no run uses (perturb.bias_delta without perturb.features, momentum under adamw):
 * each repeats every run, which is never what a sweep means. */
static void warn_unused_axes(const ae_config *cfg)
{
    for (int a = 0; a < cfg->n_axes; a++) {
        char why[512];
        if (ae_config_unused_axis(cfg, a, why, sizeof why))
            fprintf(stderr, "aesweep: warning: axis %s changes nothing (every run repeats along it): %s\n",
                    cfg->axes[a].name, why);
    }
}

/* Config, base states and grid, and the output locked, before anything is trained. */
static int prepare_sweep(const run_options *opt, sweep *s, ae_error *err)
{
    int failed = load_config(opt, &s->cfg, err);
    s->cfg_loaded = 1; /* freed by sweep_free, also what a failed load holds */
    if (failed) return -1;
    int from_file = s->cfg.params.scheme == AE_INIT_FILE;
    if (check_output_is_not_an_input(opt, &s->cfg, err) || lock_output(opt, s, err)) return -1;
    if (ae_world_ranks().rank == 0) warn_unused_axes(&s->cfg);
    if (from_file &&
        ae_bases_load(&s->bases, s->cfg.init_file, s->cfg.init_select, s->cfg.keep_optimizer_state, err))
        return -1;
    if (ae_grid_build(&s->grid, &s->cfg, from_file ? &s->bases : NULL, err) || ae_check_pick(&s->check, &s->grid, err))
        return -1;
    s->job = (ae_job){&s->cfg, &s->grid, from_file ? &s->bases : NULL};
    if (check_trajectory_size(&s->job, err)) return -1;
    /* the slice of this shard, and within it of this MPI rank */
    const ae_ranks world = ae_world_ranks();
    uint64_t shard_first = slice_point(0, s->grid.total, opt->shard_index, opt->shard_count);
    uint64_t shard_end = slice_point(0, s->grid.total, opt->shard_index + 1, opt->shard_count);
    s->first = slice_point(shard_first, shard_end - shard_first, (uint64_t)world.rank, (uint64_t)world.size);
    s->end = slice_point(shard_first, shard_end - shard_first, (uint64_t)world.rank + 1, (uint64_t)world.size);
    return 0;
}

/* Creates the output, or reopens it for --resume (which starts it when it is not there yet). */
static int open_output(const run_options *opt, sweep *s, ae_error *err)
{
    s->done = ae_xcalloc(s->grid.total, 1);
    int resume = s->resumed = opt->resume && access(opt->output, F_OK) == 0;
    if (opt->resume && !resume && !opt->quiet && ae_world_ranks().rank == 0)
        fprintf(stderr, "aesweep: %s is not there yet: starting it\n", opt->output);
    s->out = resume ? ae_out_resume(opt->output, &s->job, s->done, err)
                    : ae_out_create(opt->output, &s->job, &s->prov, opt->force, s->done, err);
    if (!s->out) return -1;
    for (uint64_t r = s->first; r < s->end; r++) s->done_now += s->done[r];
    return 0;
}

/* The trajectory runs (trajectory.runs), trained in full and stored once, when the file
 * does not hold them yet: a new file, or a --resume of one that stopped before they were. */
static int store_trajectories(sweep *s, ae_error *err)
{
    if (!ae_out_needs_trajectories(s->out)) return 0;
    ae_trajectories traj;
    ae_trajectories_train(&s->job, &traj);
    int failed = ae_out_write_trajectories(s->out, &traj, err);
    ae_trajectories_free(&traj);
    return failed;
}

static void announce(const run_options *opt, const sweep *s)
{
    const ae_ranks world = ae_world_ranks();
    const ae_backend *backend = s->backend;
    if (world.rank > 0 || opt->quiet) return;
    if (world.size > 1)
        fprintf(stderr, "aesweep: %llu runs over %d MPI ranks on %s (%s)\n", (unsigned long long)s->grid.total,
                world.size, backend->name, backend->device);
    else if (opt->shard_count > 1)
        fprintf(stderr, "aesweep: shard %llu/%llu of %llu runs on %s (%s)\n", (unsigned long long)opt->shard_index,
                (unsigned long long)opt->shard_count, (unsigned long long)s->grid.total, backend->name,
                backend->device);
    else
        fprintf(stderr, "aesweep: %llu runs on %s (%s)\n", (unsigned long long)s->grid.total, backend->name,
                backend->device);
    if (s->check.count)
        fprintf(stderr, "aesweep: %llu of them picked at random (check.float64) are also trained in float64 on the "
                        "CPU, each in its batch (float64_outcome)\n",
                (unsigned long long)s->check.count);
}

/* The batch whose write is in flight on the output's writer thread (count 0: none). */
typedef struct {
    uint64_t at, count;
} batch_in_flight;

/* Waits for the write in flight; only then, with its records on disk, do its runs count as done. */
static int finish_write(sweep *s, batch_in_flight *w, ae_progress *pr, ae_error *err)
{
    const uint64_t at = w->at, count = w->count;
    w->count = 0;
    if (ae_out_write_wait(s->out, err)) return -1;
    for (uint64_t r = at; r < at + count; r++) {
        s->done_now += !s->done[r];
        s->done[r] = 1;
    }
    ae_progress_show(pr, s->done_now, 0);
    return 0;
}

/* Trains and writes the runs not done, batch by batch, until all are or a signal asks to
 * stop.  Double-buffered: batch k is written (ae_out_write_start, the writer thread) while
 * batch k+1 trains into the other buffer, and a buffer is trained into again only after
 * its write has completed.  Every HDF5 call of the loop happens on the writer thread. */
static int train_all(const run_options *opt, sweep *s, ae_error *err)
{
    const ae_grid *grid = &s->grid;
    const uint64_t first = s->first, end = s->end;
    const uint8_t *done = s->done;
    ae_progress pr = ae_progress_start(!opt->quiet && ae_world_ranks().rank == 0, opt->progress_every, end - first, s->done_now);
    uint64_t minimum = (uint64_t)ae_cpu_threads(opt->backend.threads) * 16;
    minimum = minimum < BATCH_MIN ? BATCH_MIN : minimum;
    uint64_t batch = minimum;
    ae_results res[2];
    for (int k = 0; k < 2; k++) ae_results_alloc(&res[k], batch, grid->n_max, grid->m_max, s->cfg.write_optimizer_state);
    batch_in_flight writing = {0, 0};
    double train_seconds = 0, model_steps = 0;
    int status = 0, next = 0; /* next: the buffer to train into (not in flight) */
    for (uint64_t at = first;;) {
        while (at < end && done[at]) at++;
        uint64_t count = end - at < batch ? end - at : batch;
        /* every rank writes (maybe nothing) until no rank has runs left or any was interrupted */
        if (!ae_any_rank(count > 0) || ae_any_rank(interrupted_by != 0)) break;
        ae_results *buffer = &res[next];
        if (count > buffer->capacity) {
            ae_results_free(buffer);
            ae_results_alloc(buffer, count, grid->n_max, grid->m_max, s->cfg.write_optimizer_state);
        }
        double t0 = ae_now();
        if (count && s->backend->train(s->backend, &s->job, at, count, buffer, err)) {
            status = -1;
            break;
        }
        /* the batch's float64 checks, in its time: the progress line's rate and ETA count them */
        ae_check_train(&s->check, &s->job, at, count, buffer, ae_cpu_threads(opt->backend.threads));
        double seconds = ae_now() - t0;
        if (finish_write(s, &writing, &pr, err)) {
            status = -1;
            break;
        }
        ae_out_write_start(s->out, at, count, buffer);
        writing = (batch_in_flight){at, count};
        next ^= 1;
        train_seconds += seconds;
        model_steps += ae_grid_model_steps(grid, at, count);
        at += count;
        if (count) batch = next_batch_size(count, seconds, minimum);
    }
    /* the last batch's write (or, after a failure to train, the one before it) still counts */
    ae_error write_err;
    if (finish_write(s, &writing, &pr, status ? &write_err : err)) status = -1;
    if (!status) ae_progress_show(&pr, s->done_now, 1);
    for (int k = 0; k < 2; k++) ae_results_free(&res[k]);
    /* all ranks train at once: the sweep's rate is the sum of theirs */
    s->prov.model_steps_per_second = ae_sum_over_ranks(train_seconds > 0 ? model_steps / train_seconds : 0);
    s->model_steps = ae_sum_over_ranks(model_steps);
    return status;
}

/* After SIGINT or SIGTERM: the file holds every finished batch; say so and how to go on. */
static int report_interrupt(const run_options *opt, sweep *s)
{
    ae_out_close(s->out, NULL, NULL);
    s->out = NULL;
    int sig = interrupted_by ? (int)interrupted_by : SIGINT;
    uint64_t done_all = (uint64_t)ae_sum_over_ranks((double)s->done_now);
    uint64_t total = s->end - s->first;
    total = (uint64_t)ae_sum_over_ranks((double)total);
    if (ae_world_ranks().rank == 0 && done_all < total)
        fprintf(stderr, "aesweep: interrupted by %s: %llu of %llu runs done in %s; the same command with --resume "
                        "finishes them\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)done_all, (unsigned long long)total,
                opt->output);
    else if (ae_world_ranks().rank == 0)
        fprintf(stderr, "aesweep: interrupted by %s after all %llu runs were done: %s holds them all (the same "
                        "command with --resume records its end time)\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)total, opt->output);
    return 128 + sig;
}

/* `aesweep run` (zoom 0) and `aesweep zoom` (1): the same sweep, from a config file or from
 * the config stored in a map. */
int ae_cli_run(int argc, char **argv, int zoom)
{
    run_options opt;
    int status = parse_run_options(argc, argv, zoom, &opt);
    if (status) {
        free(opt.overrides);
        return status;
    }
    catch_interrupts();
    ae_error err = {.code = 0};
    sweep s;
    memset(&s, 0, sizeof s);
    status = -1;
    const ae_ranks world = ae_world_ranks();
    char *output = ae_output_file(opt.output, &err); /* a symlink's target; refused: not a regular file */
    if (!output) goto finish;
    opt.output = output;
    if (prepare_sweep(&opt, &s, &err)) goto finish;
    if (world.size > 1 && opt.backend.cuda_device < 0) opt.backend.cuda_device = ae_node_rank();
    opt.backend.quiet |= world.rank > 0;
    s.backend = ae_backend_select(&opt.backend, &err);
    if (!s.backend) goto finish;
    s.prov = (ae_provenance){.backend = s.backend->name, .device = s.backend->device};
    ae_utc_time(s.prov.start_time, sizeof s.prov.start_time);
    snprintf(s.prov.end_time, sizeof s.prov.end_time, "running");
    ae_share_text(s.prov.start_time, sizeof s.prov.start_time);
    ae_share_text(s.backend->device, sizeof s.backend->device);
    if (open_output(&opt, &s, &err) || store_trajectories(&s, &err)) goto finish;
    announce(&opt, &s);
    if (train_all(&opt, &s, &err)) goto finish;
    if (ae_any_rank(interrupted_by != 0)) {
        status = report_interrupt(&opt, &s);
        goto finish;
    }
    ae_utc_time(s.prov.end_time, sizeof s.prov.end_time);
    ae_share_text(s.prov.end_time, sizeof s.prov.end_time);
    /* a --resume that found nothing to do keeps the provenance of the session that trained */
    status = ae_out_close(s.out, s.resumed && s.model_steps == 0 ? NULL : &s.prov, &err);
    s.out = NULL;
    if (status == 0 && !opt.quiet && world.rank == 0)
        fprintf(stderr, "aesweep: wrote %s (%.3g model-steps/s)\n", opt.output, s.prov.model_steps_per_second);
finish:
    sweep_free(&s);
    free(opt.overrides);
    free(output);
    if (status > 0) return status;
    if (status && world.size > 1) {
        /* a config error stops every rank alike; a runtime failure of one rank leaves the
         * others waiting in collective calls: take the whole job down */
        if (err.code == AE_EXIT_USAGE) return world.rank == 0 ? ae_cli_report(&err) : AE_EXIT_USAGE;
        ae_cli_report(&err);
#ifdef AE_HAVE_MPI
        MPI_Abort(MPI_COMM_WORLD, AE_EXIT_RUNTIME);
#endif
    }
    return status ? ae_cli_report(&err) : AE_EXIT_OK;
}
