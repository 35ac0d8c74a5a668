#!/usr/bin/env python3
"""torch_batched.py - the aesweep model trained the way a PyTorch user would batch it.

R runs of the tied-weight ReLU autoencoder (DESIGN.md section 1) as one batched model:
W (R, m, n), b (R, n); Z = W^T W + b 1^T with torch.bmm, Y = ReLU(Z), per-run MSE
against the identity, summed over runs for one backward; torch.optim.AdamW on the two
batched tensors (every run at the same lr).  Timed in several modes on one device:

    eager          the loop as written, AdamW's default implementation (foreach on GPU)
    eager_fused    the same with AdamW(fused=True)
    compile        torch.compile of the loss (forward + backward) and of optimizer.step

and reported as model-steps per second (runs x steps / seconds), for comparison with
`aesweep bench --n N`.  Before timing, it checks that its step-0 loss equals the formula
of DESIGN.md computed element by element in float64, and that autograd's gradient
equals the header's closed form (dL/db_i = sum_j dZ_ij, dL/dW_k = sum_j (dZ_kj + dZ_jk) W_j).

    python3 analysis/baselines/torch_batched.py --device cuda --n 7 --runs 65536 --steps 1000
    python3 analysis/baselines/torch_batched.py --device cpu --runs 64 --steps 20   # smoke test
"""
import argparse
import json
import math
import sys
import time

import torch


def initial_state(runs, n, m, device, seed):
    """xavier_normal W (std sqrt(2/(n+m))), b = 0; from torch's generator (not Philox)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    W = torch.randn(runs, m, n, generator=gen, dtype=torch.float32) * math.sqrt(2.0 / (n + m))
    b = torch.zeros(runs, n, dtype=torch.float32)
    return W.to(device), b.to(device)


def per_run_loss(W, b):
    """L_r = (1/n^2) sum_ij (ReLU(Z_r)_ij - I_ij)^2 with Z_r = W_r^T W_r + b_r 1^T: (R,)."""
    n = W.shape[2]
    Z = torch.bmm(W.transpose(1, 2), W) + b.unsqueeze(2)  # Z[r, i, j]: b_i added along row i
    eye = torch.eye(n, dtype=W.dtype, device=W.device)
    return ((torch.relu(Z) - eye) ** 2).mean(dim=(1, 2))


def check_formula(W, b, runs_to_check=4):
    """Step-0 loss and gradient of the batched model against the definitions: the batched
    code in float64 (loss relative and gradient absolute error, ~1e-16 expected) and the
    float32 loss on the device (relative error, ~1e-7 expected)."""
    with torch.no_grad():
        loss32 = per_run_loss(W[:runs_to_check], b[:runs_to_check]).double().cpu()
    W = W[:runs_to_check].detach().double().cpu().requires_grad_(True)
    b = b[:runs_to_check].detach().double().cpu().requires_grad_(True)
    batched = per_run_loss(W, b)
    batched.sum().backward()
    R, m, n = W.shape
    worst_loss = worst_grad = worst32 = 0.0
    for r in range(R):
        w, bias = W[r].detach(), b[r].detach()  # w[k, i]: latent k of feature i
        loss, dZ = 0.0, torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                z = sum(float(w[k, i]) * float(w[k, j]) for k in range(m)) + float(bias[i])
                residual = max(z, 0.0) - (1.0 if i == j else 0.0)
                loss += residual * residual
                dZ[i, j] = 2.0 / (n * n) * residual if z > 0 else 0.0
        loss /= n * n
        gb = dZ.sum(dim=1)
        gW = w @ (dZ + dZ.T)  # column k of W^T: sum_j (dZ_kj + dZ_jk) W_j
        worst_loss = max(worst_loss, abs(loss - float(batched[r])) / max(abs(loss), 1e-30))
        worst_grad = max(worst_grad, float((gW - W.grad[r]).abs().max()), float((gb - b.grad[r]).abs().max()))
        worst32 = max(worst32, abs(loss - float(loss32[r])) / max(abs(loss), 1e-30))
    return worst_loss, worst_grad, worst32


def make_step(W, b, args, mode):
    """One training step of every run for the given mode (a closure over W, b, optimizer)."""
    opt_kwargs = dict(lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)
    if mode == "eager_fused":
        opt_kwargs["fused"] = True
    opt = torch.optim.AdamW([W, b], **opt_kwargs)
    if mode == "compile":
        # the recipe of PyTorch's "compiling the optimizer" tutorial; gradients are zeroed
        # in place so the compiled step always sees the same tensors
        loss_fn = torch.compile(lambda W_, b_: per_run_loss(W_, b_).sum())

        @torch.compile(fullgraph=False)
        def opt_step():
            opt.step()
    else:
        loss_fn = lambda W_, b_: per_run_loss(W_, b_).sum()  # noqa: E731
        opt_step = opt.step
    set_to_none = mode != "compile"

    def step():
        opt.zero_grad(set_to_none=set_to_none)
        loss = loss_fn(W, b)
        loss.backward()
        opt_step()
        return loss

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_mode(args, device, mode):
    W0, b0 = initial_state(args.runs, args.n, args.m, device, args.seed)
    W, b = W0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    step = make_step(W, b, args, mode)
    for _ in range(args.warmup):  # compilation, allocator, cuBLAS heuristics
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync(device)
    seconds = time.perf_counter() - start
    final = float(loss) / args.runs
    if not math.isfinite(final):
        raise RuntimeError("loss is not finite after training")
    return {"seconds": seconds, "model_steps_per_s": args.runs * args.steps / seconds, "mean_final_loss": final}


def main():
    ap = argparse.ArgumentParser(description="PyTorch baseline for aesweep: batched runs, model-steps/s")
    ap.add_argument("--runs", type=int, default=65536, help="runs trained side by side (default 65536)")
    ap.add_argument("--steps", type=int, default=1000, help="timed steps (default 1000)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    ap.add_argument("--n", type=int, default=7, help="features (default 7)")
    ap.add_argument("--m", type=int, default=2, help="latent dims (default 2)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--modes", default="eager,eager_fused,compile", help="comma-separated subset")
    ap.add_argument("--json", help="write the results as JSON to this file ('-': stdout)")
    args = ap.parse_args()
    if args.runs < 1 or args.steps < 1 or args.warmup < 0 or not 2 <= args.n <= 256 or not 1 <= args.m <= 4:
        ap.error("expects --runs >= 1, --steps >= 1, --warmup >= 0, 2 <= --n <= 256, 1 <= --m <= 4")
    device = torch.device(args.device)
    modes = [x for x in args.modes.split(",") if x]
    unknown = set(modes) - {"eager", "eager_fused", "compile"}
    if unknown:
        ap.error("unknown modes: %s" % ", ".join(sorted(unknown)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print("torch %s on %s (%s): n=%d m=%d, %d runs x %d steps, AdamW lr=%g wd=%g"
          % (torch.__version__, device, name, args.n, args.m, args.runs, args.steps, args.lr, args.weight_decay))

    W0, b0 = initial_state(args.runs, args.n, args.m, device, args.seed)
    loss_err, grad_err, loss32_err = check_formula(W0, b0)
    ok = loss_err < 1e-12 and grad_err < 1e-12 and loss32_err < 1e-5
    print("step-0 check against the formula: float64 loss rel. error %.2g, gradient abs. error %.2g; "
          "float32 loss on %s rel. error %.2g: %s" % (loss_err, grad_err, device, loss32_err, "ok" if ok else "FAILED"))

    results = {}
    for mode in modes:
        if mode == "eager_fused" and device.type != "cuda":
            continue  # fused AdamW is a CUDA kernel
        try:
            results[mode] = time_mode(args, device, mode)
            r = results[mode]
            print("  %-12s %10.4g model-steps/s  (%.3f s, mean final loss %.4g)"
                  % (mode, r["model_steps_per_s"], r["seconds"], r["mean_final_loss"]))
        except Exception as exc:  # torch.compile can be missing a compiler, etc.: report, go on
            results[mode] = {"error": "%s: %s" % (type(exc).__name__, exc)}
            print("  %-12s failed: %s" % (mode, results[mode]["error"]))
    out = {"torch": torch.__version__, "device": name, "n": args.n, "m": args.m, "runs": args.runs,
           "steps": args.steps, "step0_loss_rel_error": loss_err, "step0_grad_abs_error": grad_err,
           "step0_float32_loss_rel_error": loss32_err,
           "results": results}
    if args.json:
        text = json.dumps(out, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    return 0 if ok and all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
