#!/usr/bin/env python3
"""sass_steps.py - warp-instructions per model-step of each thread-per-model kernel,
read from the machine code nvcc built (`make sass`; no GPU needed).

    python3 tests/gpu/sass_steps.py build/obj/cu_train.o [--sms 132] [--ghz 1.98]

How the count is made.  `cuobjdump -sass` lists every kernel's instructions with their
addresses.  In train_fixed<N, M> the training step is fully unrolled inside one loop over
the steps, so the step loop is the backward branch that spans the most instructions (the
init and summary loops are small).  Two numbers per kernel:
  loop   every instruction between the loop's head and its backward branch: the step's
         whole code, every branch side included (Adam and SGD, the slow paths);
  step   the longest path from the head to the backward branch through the loop's
         branches (inner backward edges dropped) that calls no subroutine: nvcc calls
         out only for the slow paths of IEEE division and square root and for 64-bit
         remainders, which a normal step does not take.  Being the longest such path, it
         includes the outcome check that runs every check_every steps and the costlier
         optimizer branch (Adam over SGD), so it bounds a normal AdamW step from above
         by the check's few dozen instructions.
One thread trains one model, so a warp advances 32 models by one step in `step`
warp-instructions, and each of an SM's 4 schedulers issues at most one warp-instruction
per clock: model-steps/s <= 32 x SMs x 4 x clock / step (H100 SXM: 132 SMs, 1.98 GHz
boost).  An upper bound: latencies, too few warps per scheduler and memory traffic only
lower the rate.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys

INSTRUCTION = re.compile(r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
FUNCTION = re.compile(r"Function : (\S+)")
TARGET = re.compile(r"\b0x([0-9a-f]+)\s*$")


def find_cuobjdump(explicit):
    """cuobjdump (with nvdisasm beside it): --cuobjdump, the PATH, $CUDA_HOME/bin, or the
    pip packages nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm."""
    candidates = [explicit, shutil.which("cuobjdump"),
                  os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "cuobjdump")]
    for path in sys.path:
        candidates += sorted(glob.glob(os.path.join(path, "nvidia", "*", "bin", "cuobjdump")))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def demangle(name):
    """train_fixed<7,2> (float32), train_fixed<7,2> float64; from before the real type was
    a template parameter too: train_fixed<7,2>."""
    m = re.match(r"_Z\d+(train_\w+?)I([fd]?)Li(\d+)ELi(\d+)E", name)
    if not m:
        return name
    kernel, real, n, m_ = m.groups()
    return "%s<%s,%s>%s" % (kernel, n, m_, " float64" if real == "d" else "")


def parse(sass):
    """{kernel name: [(address, instruction text), ...]} from cuobjdump -sass output."""
    kernels, current = {}, None
    for line in sass.splitlines():
        f = FUNCTION.search(line)
        if f:
            current = kernels.setdefault(f.group(1), [])
            continue
        i = INSTRUCTION.match(line)
        if i and current is not None:
            current.append((int(i.group(1), 16), i.group(2)))
    return kernels


def opcode(text):
    """The opcode of an instruction, past its @P guard."""
    words = text.split()
    return words[1] if len(words) > 1 and words[0].startswith("@") else (words[0] if words else "")


def branch(text):
    """(conditional, target address) of a branch instruction, else None."""
    if not opcode(text).startswith("BRA"):
        return None
    conditional = text.startswith("@")
    t = TARGET.search(text)
    # "BRA P3, 0x..." branches on a predicate operand even without an @ guard
    return (conditional or re.search(r"BRA\S*\s+!?P\d", text) is not None, int(t.group(1), 16) if t else None)


def step_loop(code):
    """(first, last) indices of the step loop: the backward branch with the largest span."""
    index = {a: k for k, (a, _) in enumerate(code)}
    best = None
    for k, (a, text) in enumerate(code):
        b = branch(text)
        if b and b[1] is not None and b[1] <= a and b[1] in index:
            if best is None or k - index[b[1]] > best[1] - best[0]:
                best = (index[b[1]], k)
    return best


def longest_call_free_path(code, first, last):
    """Instructions on the longest path first -> last inside the loop avoiding CALLs."""
    index = {a: k for k, (a, _) in enumerate(code)}
    NEG = float("-inf")
    length = [NEG] * (last + 1)
    length[first] = 1
    for k in range(first, last):
        if length[k] == NEG:
            continue
        text = code[k][1]
        successors = []
        b = branch(text)
        if b:
            conditional, target = b
            if target is not None and target in index and first < index[target] <= last and index[target] > k:
                successors.append(index[target])
            if conditional:
                successors.append(k + 1)
        elif opcode(text).startswith(("EXIT", "RET")) and not text.startswith("@"):
            pass
        else:
            successors.append(k + 1)
        for s in successors:
            if opcode(code[s][1]).startswith("CALL"):
                continue
            length[s] = max(length[s], length[k] + 1)
    return length[last]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("object", help="an object or executable with the kernels (build/obj/cu_train.o)")
    ap.add_argument("--cuobjdump", help="path of cuobjdump (default: PATH, $CUDA_HOME/bin, pip's nvidia-cuda-cuobjdump)")
    ap.add_argument("--sms", type=int, default=132, help="SMs of the device for the bound (H100 SXM: 132)")
    ap.add_argument("--ghz", type=float, default=1.98, help="its boost clock in GHz (H100 SXM: 1.98)")
    ap.add_argument("--kernels", default="train_fixed", help="kernels whose name contains this (default train_fixed)")
    args = ap.parse_args()
    tool = find_cuobjdump(args.cuobjdump)
    if not tool:
        print("sass_steps.py: no cuobjdump (CUDA toolkit, or: python3 -m pip install nvidia-cuda-cuobjdump "
              "nvidia-cuda-nvdisasm)", file=sys.stderr)
        return 2
    env = dict(os.environ, PATH=os.path.dirname(tool) + os.pathsep + os.environ.get("PATH", ""))
    sass = subprocess.run([tool, "-sass", args.object], capture_output=True, text=True, env=env)
    if sass.returncode != 0:
        print("sass_steps.py: %s failed: %s" % (tool, sass.stderr.strip()), file=sys.stderr)
        return 1
    kernels = parse(sass.stdout)
    rows = []
    for name, code in kernels.items():
        if args.kernels not in name:
            continue
        loop = step_loop(code)
        if not loop:
            continue
        first, last = loop
        step = longest_call_free_path(code, first, last)
        bound = 32 * args.sms * 4 * args.ghz * 1e9 / step if step > 0 else 0
        rows.append((demangle(name), last - first + 1, step, bound))
    if not rows:
        print("sass_steps.py: no %s kernel with a step loop in %s" % (args.kernels, args.object), file=sys.stderr)
        return 1
    key = lambda r: tuple(int(x) for x in re.findall(r"\d+", r[0])[::-1])  # noqa: E731  by m, then n
    print("warp-instructions per model-step (cuobjdump -sass of %s); bound = 32 models x %d SMs x 4 schedulers x "
          "%.2f GHz / step" % (args.object, args.sms, args.ghz))
    print("%-18s %6s %6s %16s" % ("kernel", "loop", "step", "bound steps/s"))
    for name, loop, step, bound in sorted(rows, key=key):
        print("%-18s %6d %6d %16.3g" % (name, loop, step, bound))
    return 0


if __name__ == "__main__":
    sys.exit(main())
