#!/usr/bin/env python3
"""jax_batched.py - the aesweep model trained the way a JAX user would batch it.

One run is written plainly: its loss L = (1/n^2) sum_ij (ReLU(W^T W + b 1^T) - I)_ij^2
(DESIGN.md section 1), its gradient by jax.grad, AdamW with PyTorch's semantics
(decoupled decay, bias-corrected moments, eps added to sqrt(v_hat)), and the whole
training as a jitted lax.scan over steps.  jax.vmap maps that over R runs, each with its
own learning rate (log-spaced over --lr-range), so the batch is one compiled program:

    python3 analysis/baselines/jax_batched.py --n 7 --runs 1048576 --steps 1000
    JAX_PLATFORMS=cpu python3 analysis/baselines/jax_batched.py --runs 64 --steps 4   # smoke test

It reports model-steps per second (runs x steps / seconds, compilation excluded: the
program is compiled and run once before the timed call) for comparison with
`aesweep bench --n N`.  Before timing it checks, on a few runs, jax.grad against the
closed-form gradient and the scanned AdamW steps against a float64 NumPy reference.
"""
import argparse
import json
import math
import sys
import time

import numpy as np

import jax
import jax.numpy as jnp


def run_loss(W, b):
    """One run: W (m, n), b (n,); Z[i, j] = W_i . W_j + b_i, column j is sample j."""
    n = W.shape[1]
    Z = W.T @ W + b[:, None]
    return jnp.mean((jax.nn.relu(Z) - jnp.eye(n, dtype=W.dtype)) ** 2)


def train_run(W, b, lr, steps, weight_decay, beta1=0.9, beta2=0.999, eps=1e-8):
    """`steps` AdamW steps of one run (a lax.scan); returns the final W, b and loss."""
    grad = jax.grad(run_loss, argnums=(0, 1))

    def step(state, t):
        W, b, mW, vW, mb, vb = state
        gW, gb = grad(W, b)
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t

        def update(p, g, m, v):
            p = p * (1 - lr * weight_decay)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            p = p - (lr / bc1) * m / (jnp.sqrt(v) / jnp.sqrt(bc2) + eps)
            return p, m, v

        W, mW, vW = update(W, gW, mW, vW)
        b, mb, vb = update(b, gb, mb, vb)
        return (W, b, mW, vW, mb, vb), None

    zeros = (jnp.zeros_like(W), jnp.zeros_like(W), jnp.zeros_like(b), jnp.zeros_like(b))
    ts = jnp.arange(1, steps + 1, dtype=W.dtype)
    (W, b, *_), _ = jax.lax.scan(step, (W, b, zeros[0], zeros[1], zeros[2], zeros[3]), ts)
    return W, b, run_loss(W, b)


def make_trainer(steps, weight_decay):
    """The batched program: vmap over runs (W, b, lr), jit of the whole training."""
    return jax.jit(jax.vmap(lambda W, b, lr: train_run(W, b, lr, steps, weight_decay)))


def reference(W, b, lr, steps, weight_decay, beta1=0.9, beta2=0.999, eps=1e-8):
    """The same training of one run in float64 NumPy with the closed-form gradient."""
    W, b = W.astype(np.float64), b.astype(np.float64)
    n = W.shape[1]
    mW, vW, mb, vb = np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        gW, gb = closed_form_grad(W, b)
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
        out = []
        for p, g, m, v in ((W, gW, mW, vW), (b, gb, mb, vb)):
            p = p * (1 - lr * weight_decay)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            out.append((p - (lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + eps), m, v))
        (W, mW, vW), (b, mb, vb) = out
    assert n == W.shape[1]
    return W, b


def closed_form_grad(W, b):
    """dZ = (2/n^2)(Y - I)[Z > 0]; dL/db_i = sum_j dZ_ij; dL/dW = W (dZ + dZ^T)."""
    n = W.shape[1]
    Z = W.T @ W + b[:, None]
    dZ = 2.0 / (n * n) * (np.maximum(Z, 0) - np.eye(n)) * (Z > 0)
    return W @ (dZ + dZ.T), dZ.sum(axis=1)


def main():
    ap = argparse.ArgumentParser(description="JAX baseline for aesweep: vmap over runs of a jitted lax.scan")
    ap.add_argument("--runs", type=int, default=1 << 20, help="runs trained side by side (default 1048576)")
    ap.add_argument("--steps", type=int, default=1000, help="timed steps (default 1000)")
    ap.add_argument("--n", type=int, default=7, help="features (default 7)")
    ap.add_argument("--m", type=int, default=2, help="latent dims (default 2)")
    ap.add_argument("--lr-range", default="1e-4,1e-2", help="per-run learning rates, log-spaced (default 1e-4,1e-2)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results as JSON to this file")
    args = ap.parse_args()
    lo, hi = (float(x) for x in args.lr_range.split(","))
    if args.runs < 1 or args.steps < 1 or not 2 <= args.n <= 256 or not 1 <= args.m <= 4 or not 0 < lo <= hi:
        ap.error("expects --runs >= 1, --steps >= 1, 2 <= --n <= 256, 1 <= --m <= 4, 0 < lr lo <= hi")
    device = jax.devices()[0]
    print("jax %s on %s (%s): n=%d m=%d, %d runs x %d steps, AdamW lr %g..%g per run, wd=%g"
          % (jax.__version__, device.platform, device.device_kind, args.n, args.m, args.runs, args.steps, lo, hi,
             args.weight_decay))

    rng = np.random.default_rng(args.seed)
    W0 = (rng.standard_normal((args.runs, args.m, args.n)) * math.sqrt(2.0 / (args.n + args.m))).astype(np.float32)
    b0 = np.zeros((args.runs, args.n), np.float32)
    lr = np.geomspace(lo, hi, args.runs).astype(np.float32)

    # checks on a few runs: jax.grad against the closed form, 5 scanned steps against NumPy
    k = min(4, args.runs)
    gW, gb = jax.vmap(jax.grad(run_loss, argnums=(0, 1)))(jnp.asarray(W0[:k]), jnp.asarray(b0[:k]))
    grad_err = max(float(np.abs(np.asarray(gW[r]) - closed_form_grad(W0[r].astype(np.float64), b0[r])[0]).max())
                   for r in range(k))
    Wc, bc, _ = make_trainer(5, args.weight_decay)(jnp.asarray(W0[:k]), jnp.asarray(b0[:k]), jnp.asarray(lr[:k]))
    step_err = 0.0
    for r in range(k):
        Wr, br = reference(W0[r], b0[r], float(lr[r]), 5, args.weight_decay)
        scale = max(np.abs(Wr).max(), np.abs(br).max(), 1e-30)
        step_err = max(step_err, float(np.abs(np.asarray(Wc[r]) - Wr).max()) / scale,
                       float(np.abs(np.asarray(bc[r]) - br).max()) / scale)
    ok = grad_err < 1e-6 and step_err < 1e-4
    print("checks: jax.grad vs closed form abs. error %.2g; 5 AdamW steps vs float64 NumPy rel. error %.2g: %s"
          % (grad_err, step_err, "ok" if ok else "FAILED"))

    trainer = make_trainer(args.steps, args.weight_decay)
    W, b, lr_d = jnp.asarray(W0), jnp.asarray(b0), jnp.asarray(lr)
    start = time.perf_counter()
    jax.block_until_ready(trainer(W, b, lr_d))  # compile + one run, untimed
    first = time.perf_counter() - start
    start = time.perf_counter()
    _, _, loss = jax.block_until_ready(trainer(W, b, lr_d))
    seconds = time.perf_counter() - start
    final = float(jnp.mean(loss))
    finite = math.isfinite(final)
    rate = args.runs * args.steps / seconds
    print("  %-12s %10.4g model-steps/s  (%.3f s; first call with compiling %.1f s; mean final loss %.4g)"
          % ("vmap_scan", rate, seconds, first, final))
    out = {"jax": jax.__version__, "device": "%s (%s)" % (device.platform, device.device_kind), "n": args.n,
           "m": args.m, "runs": args.runs, "steps": args.steps, "lr_range": [lo, hi], "grad_abs_error": grad_err,
           "adamw_rel_error": step_err,
           "results": {"vmap_scan": {"seconds": seconds, "first_call_seconds": first, "model_steps_per_s": rate,
                                     "mean_final_loss": final}}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if ok and finite else 1


if __name__ == "__main__":
    sys.exit(main())
