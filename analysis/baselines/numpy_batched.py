"""The aesweep model and AdamW written the way a user would in NumPy: batched over runs
with einsum, float32.  Prints model-steps per second, to compare with `aesweep bench`.

    python3 analysis/baselines/numpy_batched.py --n 7 --runs 4096 --steps 200 [--json FILE]
"""
import argparse
import json
import time

import numpy as np


def loss_and_grad(W, b, eye):
    """W: (runs, n, m), b: (runs, n). Returns per-run loss and gradients."""
    n = W.shape[1]
    Z = np.einsum("rim,rjm->rij", W, W) + b[:, :, None]  # Z[r, i, j]: output i of sample j
    Y = np.maximum(Z, 0)
    residual = Y - eye
    loss = (residual ** 2).mean(axis=(1, 2))
    dZ = (2.0 / n ** 2) * residual * (Z > 0)
    gb = dZ.sum(axis=2)
    gW = np.einsum("rij,rjm->rim", dZ + dZ.transpose(0, 2, 1), W)
    return loss, gW, gb


def train(runs, n, m, steps, lr=1e-3, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8, seed=0):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((runs, n, m)) * np.sqrt(2.0 / (n + m))).astype(np.float32)
    b = np.zeros((runs, n), np.float32)
    params = [W, b]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    eye = np.eye(n, dtype=np.float32)
    loss = None
    for t in range(1, steps + 1):
        loss, gW, gb = loss_and_grad(W, b, eye)
        for p, g, m1, m2 in zip(params, (gW, gb), first, second):
            p *= np.float32(1 - lr * weight_decay)
            m1 += np.float32(1 - betas[0]) * (g - m1)
            m2 *= np.float32(betas[1])
            m2 += np.float32(1 - betas[1]) * g * g
            denom = np.sqrt(m2) / np.float32(np.sqrt(1 - betas[1] ** t)) + np.float32(eps)
            p -= np.float32(lr / (1 - betas[0] ** t)) * m1 / denom
    return loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=7)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--json", help="write the result as JSON to this file")
    args = parser.parse_args(argv)
    # the loss of a known state, to show the model is the engine's: W = 0, b = 1/n gives
    # (1/n^2) (n (1 - 1/n)^2 + (n^2 - n) / n^2)
    n = args.n
    W0, b0 = np.zeros((1, n, args.m), np.float32), np.full((1, n), 1.0 / n, np.float32)
    expected = (n * (1 - 1 / n) ** 2 + (n * n - n) / n ** 2) / n ** 2
    assert abs(loss_and_grad(W0, b0, np.eye(n, dtype=np.float32))[0][0] - expected) < 1e-6
    train(min(args.runs, 64), args.n, args.m, 5)  # warm-up
    start = time.perf_counter()
    loss = train(args.runs, args.n, args.m, args.steps)
    seconds = time.perf_counter() - start
    result = {"baseline": "numpy_batched", "n": args.n, "m": args.m, "runs": args.runs, "steps": args.steps,
              "seconds": seconds, "model_steps_per_second": args.runs * args.steps / seconds,
              "mean_final_loss": float(loss.mean()), "numpy": np.__version__}
    print(f"numpy batched: n={args.n} m={args.m} runs={args.runs} steps={args.steps}: "
          f"{result['model_steps_per_second']:.3g} model-steps/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
