#!/usr/bin/env python3
"""side_by_side.py - `make bench`: aesweep's CPU rate beside every baseline installed here.

Runs `aesweep bench --backend cpu` for each n (float32 and float64), then in the same
minute, for each n, every baseline that can run on this machine: numpy_batched.py
(float32), numba_loops.py (float32 and float64) and, where PyTorch or JAX are installed,
torch_batched.py --device cpu and jax_batched.py.  Each baseline gets about the same work
(runs x steps x n^2) so a row takes seconds, and prints its own model-steps per second;
the table gives aesweep's rate, its % of the FP32 peak `aesweep bench` prints, and how
many times each baseline's rate it is (same n, same precision).

    python3 analysis/baselines/side_by_side.py --engine build/aesweep [--n 7,16,64,256] [--json FILE]
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(command):
    """Runs a command that writes --json FILE; returns the parsed file (None: it failed)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = subprocess.run([*command, "--json", out], capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            print(f"  ({os.path.basename(command[1] if command[0] == sys.executable else command[0])} failed: "
                  f"{(proc.stderr.strip().splitlines() or ['no message'])[-1]})", file=sys.stderr)
            return None
        with open(out) as f:
            return json.load(f)


def best_rate(result):
    """(model-steps/s, mode) of a baseline's JSON: its one rate, or its fastest mode's."""
    if "model_steps_per_second" in result:
        return result["model_steps_per_second"], ""
    modes = {k: r["model_steps_per_s"] for k, r in result.get("results", {}).items() if "model_steps_per_s" in r}
    mode = max(modes, key=modes.get)
    return modes[mode], mode


def baselines():
    """(label, precision, script, extra arguments, steps) of every baseline this Python can run."""
    have = lambda module: importlib.util.find_spec(module) is not None  # noqa: E731
    found = [("numpy", "float32", "numpy_batched.py", [], 100)]
    if have("numba"):
        found += [("numba", "float32", "numba_loops.py", ["--precision", "float32"], 500),
                  ("numba", "float64", "numba_loops.py", ["--precision", "float64"], 500)]
    if have("torch"):
        found += [("torch", "float32", "torch_batched.py", ["--device", "cpu", "--modes", "eager,graph"], 100)]
    if have("jax"):
        found += [("jax", "float32", "jax_batched.py", [], 100)]
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default=os.path.join(HERE, "..", "..", "build", "aesweep"))
    parser.add_argument("--n", default="7,16,64,256", help="model sizes, comma-separated")
    parser.add_argument("--json", help="also write every rate as JSON to this file")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.n.split(",")]
    engine = run_json([args.engine, "bench", "--backend", "cpu", "--n", args.n, "--precision", "float32,float64"])
    if engine is None:
        return 1
    rates = {(r["n"], r["precision"]): r for r in engine["results"]}
    found = baselines()
    measured = []
    for n in sizes:
        runs = max(16, 4096 * 49 // (n * n))  # about the same work at every n
        for label, precision, script, extra, steps in found:
            result = run_json([sys.executable, os.path.join(HERE, script), "--n", str(n), "--runs", str(runs),
                               "--steps", str(steps), *extra])
            if result is not None:
                rate, mode = best_rate(result)
                measured.append({"baseline": label + (f" {mode}" if mode else ""), "precision": precision, "n": n,
                                 "runs": runs, "steps": steps, "model_steps_per_second": rate})
    print(f"\naesweep ({engine['device']}) beside the baselines installed here, model-steps/s; "
          f"peak {engine['peak_flops']:.3g} FP32 flop/s ({engine['peak_source']})")
    print(f"  {'n':>4} {'precision':9} {'aesweep':>10} {'% peak':>7}  {'baseline':12}  {'rate':>10}  aesweep / baseline")
    for n in sizes:
        for precision in ("float32", "float64"):
            ours = rates.get((n, precision))
            if ours is None:
                continue
            rows = [b for b in measured if b["n"] == n and b["precision"] == precision] or [None]
            for b in rows:
                text = (f"{b['baseline']:12}  {b['model_steps_per_second']:10.3g}  "
                        f"{ours['model_steps_per_s'] / b['model_steps_per_second']:.1f}x") if b else "-"
                print(f"  {n:4d} {precision:9} {ours['model_steps_per_s']:10.3g} {100 * ours['peak_fraction']:6.1f}%  "
                      f"{text}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"aesweep": engine, "baselines": measured}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
