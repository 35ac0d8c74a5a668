/*
 * ae_bench.h - `aesweep bench`: model-steps per second and fraction of FP32 peak.
 */
#ifndef AE_BENCH_H
#define AE_BENCH_H

int ae_bench_main(int argc, char **argv);

#endif
