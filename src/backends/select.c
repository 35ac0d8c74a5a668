/* select.c - choosing a backend: the backend options of the command line and
 * --backend auto|cpu|cuda.  The backends themselves are cpu.c and cuda.c. */
#include "ae_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ae_cpu_isa_names[4] = {"auto", "baseline", "avx2", "avx512"};

/* A whole decimal number in lo..hi, else -1 (every option here takes values >= 0). */
static long parse_count(const char *text, long lo, long hi)
{
    char *end;
    long value = strtol(text, &end, 10);
    return end != text && !*end && value >= lo && value <= hi ? value : -1;
}

int ae_backend_option(const char *arg, const char *value, ae_backend_options *opt, ae_error *err)
{
    if (strcmp(arg, "--backend") && strcmp(arg, "--threads") && strcmp(arg, "--isa") && strcmp(arg, "--device") &&
        strcmp(arg, "--kernel"))
        return 0;
    if (!value) return ae_fail(err, "%s: missing value", arg);
    if (!strcmp(arg, "--backend")) {
        if (strcmp(value, "auto") && strcmp(value, "cpu") && strcmp(value, "cuda"))
            return ae_fail(err, "--backend %s: expects auto, cpu or cuda", value);
        opt->name = value;
    } else if (!strcmp(arg, "--threads")) {
        if ((opt->threads = (int)parse_count(value, 1, 4096)) < 0)
            return ae_fail(err, "--threads %s: expects 1..4096", value);
    } else if (!strcmp(arg, "--isa")) {
        opt->cpu_isa = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(value, ae_cpu_isa_names[k])) opt->cpu_isa = k;
        if (opt->cpu_isa < 0) return ae_fail(err, "--isa %s: expects auto, baseline, avx2 or avx512", value);
    } else if (!strcmp(arg, "--device")) {
        if ((opt->cuda_device = (int)parse_count(value, 0, 1 << 20)) < 0)
            return ae_fail(err, "--device %s: expects a CUDA device number >= 0", value);
    } else if ((opt->cuda_kernel = (int)parse_count(value, 0, 15)) < 0) {
        return ae_fail(err, "--kernel %s: expects a CUDA kernel variant (0 shared, 1 fixed, 2 local, 3 warp)", value);
    }
    return 1;
}

#ifndef AE_HAVE_CUDA
ae_backend *ae_backend_cuda_create(const ae_backend_options *opt, ae_error *err)
{
    (void)opt;
    ae_fail_runtime(err, "this aesweep was built without the CUDA backend");
    return NULL;
}
#endif

ae_backend *ae_backend_select(const ae_backend_options *opt, ae_error *err)
{
    if (strcmp(opt->name, "cpu") == 0) return ae_backend_cpu_create(opt, err);
    if (strcmp(opt->name, "cuda") == 0) return ae_backend_cuda_create(opt, err);
    if (strcmp(opt->name, "auto") != 0) {
        ae_fail(err, "--backend %s: expects auto, cpu or cuda", opt->name);
        return NULL;
    }
    ae_error cuda_err;
    ae_backend *backend = ae_backend_cuda_create(opt, &cuda_err);
    if (backend) return backend;
    /* one short line: the full reason is what `--backend cuda` prints */
    if (!opt->quiet)
        fprintf(stderr, "aesweep: note: no usable CUDA device, training on the CPU (--backend cuda says why)\n");
    return ae_backend_cpu_create(opt, err);
}
