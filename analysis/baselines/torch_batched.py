#!/usr/bin/env python3
"""torch_batched.py - the aesweep model trained the way a PyTorch user would batch it.

R runs of the tied-weight ReLU autoencoder (DESIGN.md section 1) as one batched model:
W (R, m, n), b (R, n); Z = W^T W + b 1^T with torch.bmm, Y = ReLU(Z), per-run MSE
against the identity, summed over runs for one backward; torch.optim.AdamW on the two
batched tensors (every run at the same lr).  Timed in several modes on one device:

    eager          the loop as written, AdamW's default implementation (foreach on GPU)
    eager_fused    the same with AdamW(fused=True)
    compile        torch.compile of the loss (forward + backward) and of optimizer.step
    graph          the whole step as one function (closed-form gradient, AdamW written
                   out with PyTorch's semantics, a learning rate per run, log-spaced over
                   --lr-range), torch.compile'd, and on CUDA captured --graph-steps steps
                   at a time into a CUDA graph that is replayed (--no-compile: eager)

and reported as model-steps per second (runs x steps / seconds), for comparison with
`aesweep bench --n N`.  Before timing, it checks that its step-0 loss equals the formula
of DESIGN.md computed element by element in float64, and that autograd's gradient
equals the header's closed form (dL/db_i = sum_j dZ_ij, dL/dW_k = sum_j (dZ_kj + dZ_jk) W_j),
and that 5 steps of the graph mode's step equal torch.optim.AdamW's at one learning rate.

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


def whole_step(W, b, mW, vW, mb, vb, t, lr, weight_decay, beta1=0.9, beta2=0.999, eps=1e-8):
    """One AdamW step of every run, functional (new tensors out), in one traceable function:
    the closed-form gradient of check_formula, then torch.optim.AdamW's update
    (p *= 1 - lr wd; m, v moments; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)).
    lr: (R, 1, 1), one learning rate per run; t: the step number as a 0-d tensor, so a
    captured graph replays with the step count advancing on the device."""
    n = W.shape[2]
    Z = torch.bmm(W.transpose(1, 2), W) + b.unsqueeze(2)
    eye = torch.eye(n, dtype=W.dtype, device=W.device)
    dZ = (2.0 / (n * n)) * (torch.relu(Z) - eye) * (Z > 0)
    gW = torch.bmm(W, dZ + dZ.transpose(1, 2))
    gb = dZ.sum(dim=2)
    t = t + 1
    bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
    out = []
    for p, g, m, v, rate in ((W, gW, mW, vW, lr), (b, gb, mb, vb, lr.squeeze(2))):
        p = p * (1 - rate * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        out += [p - (rate / bc1) * m / (torch.sqrt(v) / torch.sqrt(bc2) + eps), m, v]
    W, mW, vW, b, mb, vb = out
    return W, b, mW, vW, mb, vb, t


def check_whole_step(W0, b0, args, steps=5, runs_to_check=4):
    """whole_step (eager, float64 on the CPU) against torch.optim.AdamW on the autograd
    loss, one learning rate for all runs: the largest relative difference of W and b."""
    W0, b0 = W0[:runs_to_check].detach().double().cpu(), b0[:runs_to_check].detach().double().cpu()
    W, b = W0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([W, b], lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        per_run_loss(W, b).sum().backward()
        opt.step()
    state = (W0, b0, torch.zeros_like(W0), torch.zeros_like(W0), torch.zeros_like(b0), torch.zeros_like(b0),
             torch.zeros((), dtype=torch.float64))
    lr = torch.full((W0.shape[0], 1, 1), args.lr, dtype=torch.float64)
    for _ in range(steps):
        state = whole_step(*state, lr, args.weight_decay)
    scale = max(float(W.detach().abs().max()), float(b.detach().abs().max()), 1e-30)
    return max(float((state[0] - W.detach()).abs().max()), float((state[1] - b.detach()).abs().max())) / scale


def time_graph(args, device):
    """The graph mode: whole_step compiled (unless --no-compile), per-run learning rates,
    and on CUDA --graph-steps steps captured into one CUDA graph, replayed."""
    W, b = initial_state(args.runs, args.n, args.m, device, args.seed)
    zeros = lambda x: torch.zeros_like(x)  # noqa: E731
    state = [W, b, zeros(W), zeros(W), zeros(b), zeros(b), torch.zeros((), dtype=torch.float32, device=device)]
    lo, hi = (float(x) for x in args.lr_range.split(","))
    lr = torch.logspace(math.log10(lo), math.log10(hi), args.runs, device=device).reshape(args.runs, 1, 1)
    fn = whole_step if args.no_compile else torch.compile(whole_step, fullgraph=True)
    graph_steps = args.graph_steps if device.type == "cuda" else 1
    steps = max(graph_steps, args.steps // graph_steps * graph_steps)

    def advance(count):
        nonlocal state
        for _ in range(count):
            state = list(fn(*state, lr, args.weight_decay))

    if device.type == "cuda":
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # compile and warm up off the capture stream
            advance(max(args.warmup, 3))
        torch.cuda.current_stream().wait_stream(side)
        static = [x.clone() for x in state]
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            state = static
            advance(graph_steps)
            for dst, src in zip(static, state):
                dst.copy_(src)
        state = static
        run = lambda: [graph.replay() for _ in range(steps // graph_steps)]  # noqa: E731
    else:
        advance(args.warmup)
        run = lambda: advance(steps)  # noqa: E731
    sync(device)
    start = time.perf_counter()
    run()
    sync(device)
    seconds = time.perf_counter() - start
    final = float(per_run_loss(state[0], state[1]).mean())
    if not math.isfinite(final):
        raise RuntimeError("loss is not finite after training")
    return {"seconds": seconds, "steps": steps, "model_steps_per_s": args.runs * steps / seconds,
            "mean_final_loss": final, "compiled": not args.no_compile, "cuda_graph_steps": graph_steps,
            "lr_range": [lo, hi]}


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
    ap.add_argument("--modes", default="eager,eager_fused,compile,graph", help="comma-separated subset")
    ap.add_argument("--lr-range", default="1e-4,1e-2", help="graph mode: per-run learning rates, log-spaced")
    ap.add_argument("--graph-steps", type=int, default=50, help="graph mode: steps per captured CUDA graph")
    ap.add_argument("--no-compile", action="store_true", help="graph mode: run the whole step eagerly")
    ap.add_argument("--json", help="write the results as JSON to this file ('-': stdout)")
    args = ap.parse_args()
    if args.runs < 1 or args.steps < 1 or args.warmup < 0 or not 2 <= args.n <= 256 or not 1 <= args.m <= 4:
        ap.error("expects --runs >= 1, --steps >= 1, --warmup >= 0, 2 <= --n <= 256, 1 <= --m <= 4")
    device = torch.device(args.device)
    modes = [x for x in args.modes.split(",") if x]
    unknown = set(modes) - {"eager", "eager_fused", "compile", "graph"}
    if unknown:
        ap.error("unknown modes: %s" % ", ".join(sorted(unknown)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print("torch %s on %s (%s): n=%d m=%d, %d runs x %d steps, AdamW lr=%g wd=%g"
          % (torch.__version__, device, name, args.n, args.m, args.runs, args.steps, args.lr, args.weight_decay))

    W0, b0 = initial_state(args.runs, args.n, args.m, device, args.seed)
    loss_err, grad_err, loss32_err = check_formula(W0, b0)
    step_err = check_whole_step(W0, b0, args)
    ok = loss_err < 1e-12 and grad_err < 1e-12 and loss32_err < 1e-5 and step_err < 1e-9
    print("step-0 check against the formula: float64 loss rel. error %.2g, gradient abs. error %.2g; "
          "float32 loss on %s rel. error %.2g; graph mode's step vs torch.optim.AdamW, 5 steps in float64, "
          "rel. error %.2g: %s" % (loss_err, grad_err, device, loss32_err, step_err, "ok" if ok else "FAILED"))

    results = {}
    for mode in modes:
        if mode == "eager_fused" and device.type != "cuda":
            continue  # fused AdamW is a CUDA kernel
        try:
            results[mode] = time_graph(args, device) if mode == "graph" else time_mode(args, device, mode)
            r = results[mode]
            print("  %-12s %10.4g model-steps/s  (%.3f s, mean final loss %.4g)"
                  % (mode, r["model_steps_per_s"], r["seconds"], r["mean_final_loss"]))
        except Exception as exc:  # torch.compile can be missing a compiler, etc.: report, go on
            results[mode] = {"error": "%s: %s" % (type(exc).__name__, exc)}
            print("  %-12s failed: %s" % (mode, results[mode]["error"]))
    out = {"torch": torch.__version__, "device": name, "n": args.n, "m": args.m, "runs": args.runs,
           "steps": args.steps, "step0_loss_rel_error": loss_err, "step0_grad_abs_error": grad_err,
           "step0_float32_loss_rel_error": loss32_err, "whole_step_vs_adamw_rel_error": step_err,
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
