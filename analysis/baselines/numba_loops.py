#!/usr/bin/env python3
"""numba_loops.py - the aesweep model trained the way a performance-minded Python user
would write it for the CPU: a plain loop per run, compiled by Numba, parallel over runs.

R runs of the tied-weight ReLU autoencoder (docs/DESIGN.md section 1), each trained on its
own thread's iteration of a `prange` over runs: Z = W^T W + b 1^T (X = I), the loss
mean((ReLU(Z) - I)^2), its closed-form gradient and AdamW with PyTorch's semantics (the same
step as numpy_batched.py), written as scalar loops in float32 or float64, compiled with
@njit(parallel=True) and no fastmath (IEEE sqrt and division, as aesweep keeps them).
Reported as model-steps per second (runs x steps / seconds, the compile excluded), for
comparison with `aesweep bench --n N`.

    python3 analysis/baselines/numba_loops.py --n 7 --runs 4096 --steps 1000 [--precision float64] [--json FILE]
"""
import argparse
import json
import time

import numpy as np
from numba import njit, prange
import numba


@njit(cache=False)
def loss_grad(W, b, gW, gb):
    """One run: W (n, m), b (n). Fills gW, gb with dL/dW, dL/db; returns the loss."""
    n, m = W.shape
    scale = W.dtype.type(2.0 / (n * n))
    loss = W.dtype.type(0.0)
    gW[:, :] = 0
    gb[:] = 0
    for i in range(n):
        for j in range(n):
            z = b[i]
            for k in range(m):
                z += W[i, k] * W[j, k]
            target = W.dtype.type(1.0) if i == j else W.dtype.type(0.0)
            y = z if z > 0 else W.dtype.type(0.0)
            r = y - target
            loss += r * r
            if z > 0:
                dz = scale * r
                gb[i] += dz
                for k in range(m):  # dZ_ij reaches W_i through W_j and W_j through W_i
                    gW[i, k] += dz * W[j, k]
                    gW[j, k] += dz * W[i, k]
    return loss / (n * n)


@njit(parallel=True, cache=False)
def train(W, b, steps, lr, weight_decay, beta1, beta2, eps):
    """W (R, n, m), b (R, n), trained in place for `steps` AdamW steps; returns the last losses."""
    runs, n, m = W.shape
    losses = np.zeros(runs, W.dtype)
    for r in prange(runs):
        w, bias = W[r], b[r]
        gW, gb = np.zeros_like(w), np.zeros_like(bias)
        mW, vW, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(bias), np.zeros_like(bias)
        one = w.dtype.type(1.0)
        for t in range(1, steps + 1):
            losses[r] = loss_grad(w, bias, gW, gb)
            correction1 = one - w.dtype.type(beta1) ** t
            correction2 = np.sqrt(one - w.dtype.type(beta2) ** t)
            step = w.dtype.type(lr) / correction1
            decay = one - w.dtype.type(lr * weight_decay)
            for i in range(n):
                for k in range(m):
                    g = gW[i, k]
                    w[i, k] *= decay
                    mW[i, k] += (one - w.dtype.type(beta1)) * (g - mW[i, k])  # PyTorch's lerp
                    vW[i, k] = w.dtype.type(beta2) * vW[i, k] + (one - w.dtype.type(beta2)) * g * g
                    w[i, k] -= step * mW[i, k] / (np.sqrt(vW[i, k]) / correction2 + w.dtype.type(eps))
                g = gb[i]
                bias[i] *= decay
                mb[i] += (one - w.dtype.type(beta1)) * (g - mb[i])
                vb[i] = w.dtype.type(beta2) * vb[i] + (one - w.dtype.type(beta2)) * g * g
                bias[i] -= step * mb[i] / (np.sqrt(vb[i]) / correction2 + w.dtype.type(eps))
    return losses


def initial_state(runs, n, m, dtype, seed=0):
    """Xavier-normal W and zero b, as aesweep's default init.scheme (its own random numbers)."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((runs, n, m)) * np.sqrt(2.0 / (n + m))).astype(dtype)
    return W, np.zeros((runs, n), dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=7)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", help="write the result as JSON to this file")
    args = parser.parse_args(argv)
    dtype = np.float32 if args.precision == "float32" else np.float64
    hyper = (1e-3, 0.01, 0.9, 0.999, 1e-8)  # lr, weight_decay, beta1, beta2, eps: aesweep's defaults
    W, b = initial_state(min(args.runs, 64), args.n, args.m, dtype)
    train(W, b, 2, *hyper)  # compiles
    W, b = initial_state(args.runs, args.n, args.m, dtype)
    start = time.perf_counter()
    losses = train(W, b, args.steps, *hyper)
    seconds = time.perf_counter() - start
    result = {"baseline": "numba_loops", "precision": args.precision, "n": args.n, "m": args.m, "runs": args.runs,
              "steps": args.steps, "seconds": seconds, "model_steps_per_second": args.runs * args.steps / seconds,
              "threads": numba.get_num_threads(), "mean_final_loss": float(losses.mean()), "numba": numba.__version__}
    print(f"numba loops ({args.precision}, {result['threads']} threads): n={args.n} m={args.m} runs={args.runs} "
          f"steps={args.steps}: {result['model_steps_per_second']:.3g} model-steps/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
