/* backend_cpu.c - the CPU backend: each thread trains whole runs, one after another,
 * with the shared per-model math of ae_model.h.  No state outside the backend. */
#include "ae_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    int threads;
} cpu_backend;

static int cpu_train(ae_backend *backend, const ae_job *job, uint64_t first, uint64_t count, ae_results *res,
                     ae_error *err)
{
    (void)err;
    const cpu_backend *cpu = backend->impl;
    const int64_t runs = (int64_t)count;
#pragma omp parallel num_threads(cpu->threads)
    {
        float theta[AE_P_MAX], grad[AE_P_MAX], s1[AE_P_MAX], s2[AE_P_MAX];
        ae_buffers buffers = {theta, grad, s1, s2};
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < runs; r++) {
            ae_params params;
            ae_track track;
            ae_prepare_run(job, first + (uint64_t)r, &params, theta);
            ae_train(&params, &buffers, &track, NULL);
            ae_record_run(res, (uint64_t)r, &params, theta, &track);
        }
    }
    return 0;
}

static void cpu_destroy(ae_backend *backend)
{
    free(backend->impl);
    free(backend);
}

/* "Intel(R) Xeon(R) ..." from /proc/cpuinfo, or "unknown CPU". */
static void cpu_model_name(char *out, size_t size)
{
    snprintf(out, size, "unknown CPU");
    FILE *info = fopen("/proc/cpuinfo", "r");
    if (!info) return;
    char line[512];
    while (fgets(line, sizeof line, info)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 2;
            colon[strcspn(colon, "\n")] = 0;
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(info);
}

int ae_cpu_threads(int requested)
{
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_num_procs();
#else
    (void)requested;
    return 1;
#endif
}

ae_backend *ae_backend_cpu_create(int threads)
{
    ae_backend *backend = ae_xcalloc(1, sizeof *backend);
    cpu_backend *cpu = ae_xcalloc(1, sizeof *cpu);
    cpu->threads = ae_cpu_threads(threads);
    char model[200];
    cpu_model_name(model, sizeof model);
    snprintf(backend->name, sizeof backend->name, "cpu");
    snprintf(backend->device, sizeof backend->device, "%s, %d thread%s", model, cpu->threads,
             cpu->threads == 1 ? "" : "s");
    backend->impl = cpu;
    backend->train = cpu_train;
    backend->destroy = cpu_destroy;
    return backend;
}
