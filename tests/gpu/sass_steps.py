#!/usr/bin/env python3
"""sass_steps.py - warp-instructions per model-step of each thread-per-model kernel,
read from the machine code nvcc built (`make sass`; no GPU needed).

    python3 tests/gpu/sass_steps.py build/sass/cu_train.o [--sms 132] [--ghz 1.98]

How the count is made.  The object's machine code is listed with its source lines
(`cuobjdump -xelf` then `nvdisasm -gi`; the object built with -lineinfo, which changes no
instruction).  In train_fixed<N, M> the training step is fully unrolled inside one loop
over the steps, so the step loop is the backward branch that spans the most instructions
(the init and summary loops are small).  Three numbers per kernel:
  loop    every instruction between the loop's head and its backward branch: the step's
          whole code, every branch side included (Adam and SGD, the slow paths);
  step    the longest path from the head to the backward branch through the loop's
          branches (inner backward edges dropped) that calls no subroutine: nvcc calls
          out only for the slow paths of IEEE division and square root and for 64-bit
          remainders, which a normal step does not take.  Being the longest such path, it
          includes the checks (below) and the costlier optimizer branch (Adam over SGD);
  common  the same path kept out of the checks: the code inlined from the training loop's
          call of ae_step_checks (--rare), which runs only at the tracker's events (every
          check_every steps, the end), at trace points and where a lane's loss may have
          overflowed.  A basic block is part of the checks when most of its instructions
          come from that call (nvcc sometimes merges an instruction of the checks with an
          identical one elsewhere and keeps one source line).  This is the step almost
          every step runs; "-" when the object has no line information.
One thread trains one model, so a warp advances 32 models by one step in `common`
warp-instructions, and each of an SM's 4 schedulers issues at most one warp-instruction
per clock: model-steps/s <= 32 x SMs x 4 x clock / common (H100 SXM: 132 SMs, 1.98 GHz
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
import tempfile

INSTRUCTION = re.compile(r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
FUNCTION = re.compile(r"Function : (\S+)|^\.text\.(\S+):")
LABEL = re.compile(r"^(\.L\w+):")
LABEL_REF = re.compile(r"`\((\.L\w+)\)")
SOURCE = re.compile(r'//## File "([^"]+)", line (\d+)')
TARGET = re.compile(r"\b0x([0-9a-f]+)\s*$")


def find_tool(name, explicit=None):
    """A CUDA binary utility: explicit, the PATH, beside nvcc, $CUDA_HOME/bin, or pip's
    nvidia-cuda-cuobjdump / nvidia-cuda-nvdisasm packages."""
    candidates = [explicit, shutil.which(name)]
    if shutil.which("nvcc"):
        candidates.append(os.path.join(os.path.dirname(os.path.realpath(shutil.which("nvcc"))), name))
    candidates.append(os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", name))
    for path in sys.path:
        candidates += sorted(glob.glob(os.path.join(path, "nvidia", "*", "bin", name)))
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


class Kernel:
    """One function's instructions: code[k] = (address, text, source) where source is the
    instruction's inline chain [(file, line), ...], innermost first (empty without
    -lineinfo).  Branches to labels (nvdisasm) are rewritten to addresses (cuobjdump)."""

    def __init__(self):
        self.code, self.labels = [], {}


def parse(listing):
    """{kernel name: Kernel} from `cuobjdump -sass` or `nvdisasm -gi` output."""
    kernels, current, pending, chain, fresh = {}, None, [], [], False
    for line in listing.splitlines():
        f = FUNCTION.search(line)
        if f:
            current = kernels.setdefault(f.group(1) or f.group(2), Kernel())
            chain, pending = [], []
            continue
        if current is None:
            continue
        lab = LABEL.match(line)
        if lab:
            pending.append(lab.group(1))
            continue
        src = SOURCE.search(line)
        if src:  # a group of these lines, innermost first, precedes the code it describes
            if fresh:
                chain, fresh = [], False
            chain.append((src.group(1), int(src.group(2))))
            continue
        i = INSTRUCTION.match(line)
        if i:
            address = int(i.group(1), 16)
            for p in pending:
                current.labels[p] = address
            pending, fresh = [], True
            current.code.append((address, i.group(2), list(chain)))
    for k in kernels.values():
        k.code = [(a, LABEL_REF.sub(lambda m: hex(k.labels.get(m.group(1), -1)), t), s) for a, t, s in k.code]
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
    index = {c[0]: k for k, c in enumerate(code)}
    best = None
    for k, c in enumerate(code):
        b = branch(c[1])
        if b and b[1] is not None and b[1] <= c[0] and b[1] in index:
            if best is None or k - index[b[1]] > best[1] - best[0]:
                best = (index[b[1]], k)
    return best


def successors(code, index, first, last, k):
    """Indices the instruction at k can pass to inside the loop (forward edges only)."""
    text = code[k][1]
    b = branch(text)
    if b:
        conditional, target = b
        out = [index[target]] if target in index and first < index[target] <= last and index[target] > k else []
        return out + ([k + 1] if conditional else [])
    if opcode(text).startswith(("EXIT", "RET")) and not text.startswith("@"):
        return []
    return [k + 1]


def longest_call_free_path(code, first, last, avoid=None):
    """Instructions on the longest path first -> last inside the loop avoiding CALLs and
    the instructions whose index is in `avoid`; None when there is no such path."""
    index = {c[0]: k for k, c in enumerate(code)}
    avoid = avoid or set()
    NEG = float("-inf")
    length = [NEG] * (last + 1)
    length[first] = 1
    for k in range(first, last):
        if length[k] == NEG:
            continue
        for s in successors(code, index, first, last, k):
            if opcode(code[s][1]).startswith("CALL") or s in avoid:
                continue
            length[s] = max(length[s], length[k] + 1)
    return None if length[last] == NEG else length[last]


def rare_blocks(code, first, last, rare):
    """Indices of the loop's basic blocks that belong to the checks: most of their
    instructions have, in their inline chain, a source line matching the regex `rare`."""
    index = {c[0]: k for k, c in enumerate(code)}
    lines = {}

    def source_line(path, number):
        if path not in lines:
            try:
                with open(path, errors="replace") as f:
                    lines[path] = f.read().splitlines()
            except OSError:
                lines[path] = []
        text = lines[path]
        return text[number - 1] if 0 < number <= len(text) else ""

    from_rare = [any(re.search(rare, source_line(p, n)) for p, n in c[2]) for c in code]
    starts = {first}
    for k in range(first, last + 1):
        b = branch(code[k][1])
        if b or opcode(code[k][1]).startswith(("EXIT", "RET", "CALL")):
            starts.add(k + 1)
            if b and b[1] in index:
                starts.add(index[b[1]])
    starts = sorted(s for s in starts if first <= s <= last)
    avoid = set()
    for begin, end in zip(starts, starts[1:] + [last + 1]):
        if 2 * sum(from_rare[begin:end]) > end - begin:
            avoid.update(range(begin, end))
    return avoid


def listing(obj, cuobjdump, nvdisasm):
    """The object's machine code with source lines: nvdisasm -gi of each cubin in it (the
    object's own name when it is a cubin); cuobjdump -sass when nvdisasm is missing."""
    if not nvdisasm:
        r = subprocess.run([cuobjdump, "-sass", obj], capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr
    obj = os.path.abspath(obj)
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([cuobjdump, "-xelf", "all", obj], capture_output=True, text=True, cwd=tmp)
        cubins = sorted(glob.glob(os.path.join(tmp, "*.cubin")))
        if r.returncode != 0 or not cubins:
            cubins = [obj]  # a cubin itself
        out = []
        for cubin in cubins:
            d = subprocess.run([nvdisasm, "-gi", "-c", cubin], capture_output=True, text=True)
            if d.returncode != 0:
                return d.returncode, "", d.stderr
            out.append(d.stdout)
        return 0, "\n".join(out), ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("object", help="an object with the kernels, built with -lineinfo (build/sass/cu_train.o)")
    ap.add_argument("--cuobjdump", help="path of cuobjdump (default: PATH, beside nvcc, $CUDA_HOME/bin, pip's)")
    ap.add_argument("--sms", type=int, default=132, help="SMs of the device for the bound (H100 SXM: 132)")
    ap.add_argument("--ghz", type=float, default=1.98, help="its boost clock in GHz (H100 SXM: 1.98)")
    ap.add_argument("--kernels", default="train_fixed", help="kernels whose name contains this (default train_fixed)")
    ap.add_argument("--rare", default=r"ae_step_checks\)?\(",
                    help="regex of the source line whose inlined code is the checks (default: its call)")
    args = ap.parse_args()
    cuobjdump = find_tool("cuobjdump", args.cuobjdump)
    if not cuobjdump:
        print("sass_steps.py: no cuobjdump (CUDA toolkit, or `make deps`: pip's nvidia-cuda-cuobjdump "
              "and nvidia-cuda-nvdisasm)", file=sys.stderr)
        return 2
    nvdisasm = find_tool("nvdisasm", os.path.join(os.path.dirname(cuobjdump), "nvdisasm"))
    code, text, err = listing(args.object, cuobjdump, nvdisasm)
    if code != 0:
        print("sass_steps.py: disassembling %s failed: %s" % (args.object, err.strip()), file=sys.stderr)
        return 1
    rows = []
    for name, kernel in parse(text).items():
        if args.kernels not in name:
            continue
        loop = step_loop(kernel.code)
        if not loop:
            continue
        first, last = loop
        step = longest_call_free_path(kernel.code, first, last)
        common = None
        if any(c[2] for c in kernel.code[first:last + 1]):
            common = longest_call_free_path(kernel.code, first, last, rare_blocks(kernel.code, first, last, args.rare))
        per_step = common or step
        bound = 32 * args.sms * 4 * args.ghz * 1e9 / per_step if per_step else 0
        rows.append((demangle(name), last - first + 1, step, common, bound))
    if not rows:
        print("sass_steps.py: no %s kernel with a step loop in %s" % (args.kernels, args.object), file=sys.stderr)
        return 1
    key = lambda r: tuple(int(x) for x in re.findall(r"\d+", r[0])[::-1])  # noqa: E731  by m, then n
    print("warp-instructions per model-step (%s of %s); bound = 32 models x %d SMs x 4 schedulers x "
          "%.2f GHz / common" % ("nvdisasm" if nvdisasm else "cuobjdump -sass", args.object, args.sms, args.ghz))
    print("%-18s %6s %6s %6s %16s" % ("kernel", "loop", "step", "common", "bound steps/s"))
    for name, loop, step, common, bound in sorted(rows, key=key):
        print("%-18s %6d %6d %6s %16.3g" % (name, loop, step, common if common else "-", bound))
    return 0


if __name__ == "__main__":
    sys.exit(main())
