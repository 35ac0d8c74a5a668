#!/usr/bin/env python3
"""Every HDF5 file of one test run against its namesake of another, dataset by dataset.

    python3 tests/compare_trees.py BEFORE AFTER [REPO_BEFORE REPO_AFTER]

BEFORE and AFTER are pytest --basetemp folders of the same tests (e.g. before and after a
restructuring).  Each *.h5 under BEFORE must exist under AFTER with the same groups,
datasets (shape, dtype and every bit of the data, NaN payloads included) and attributes.
What a run of the same sweep may change is ignored, and listed here: the times and rate
of the run, the commit, the host, and paths that contain the basetemp folder itself (or
the checkout the tests ran in, REPO_BEFORE and REPO_AFTER, where they ran in two).
Where a test stopped a sweep midway (a kill, a second writer), which runs are done depends
on timing: such files are compared over the runs done in both.
The root attribute `config` (the config file's text, stored as the user wrote it) is
compared without its comment lines where the two differ only there, and such files are
counted apart: a comment edited in a sweep changes no run.
Prints every file that differs and how; exits 1 if any differs or is missing, 0 otherwise.
"""
import os
import sys

import h5py
import numpy as np

# root attributes a second run of the same sweep writes differently
VOLATILE_ATTRS = {"start_time", "end_time", "model_steps_per_second", "git_commit", "device"}
# datasets of wall-clock timings (none in the record today; named here if one appears)
VOLATILE_DATASETS = set()


REPOS = {}  # side's basetemp -> its checkout (REPO_BEFORE, REPO_AFTER)


def attr_value(value, root):
    """An attribute as comparable bytes, with the basetemp folder replaced by ROOT."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        value = value.replace(root, "ROOT")
        return value.replace(REPOS[root], "REPO") if root in REPOS else value
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [attr_value(v, root) for v in value.tolist()]
    if isinstance(value, h5py.Reference):
        return "reference"
    return np.asarray(value).tobytes() + str(np.asarray(value).dtype).encode()


def attrs_of(obj, root):
    return {k: attr_value(v, root) for k, v in obj.attrs.items()
            if k not in VOLATILE_ATTRS and k not in ("DIMENSION_LIST", "REFERENCE_LIST")}


def contents(path, root):
    """{name: (kind, attrs, shape, dtype, bytes)} of every group and dataset in the file."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = ("group", attrs_of(f, root), None, None, None)

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                out[name] = ("group", attrs_of(obj, root), None, None, None)
            elif isinstance(obj, h5py.Dataset):
                if name in VOLATILE_DATASETS:
                    return
                data = obj[()]
                if isinstance(data, np.ndarray) and data.dtype.kind == "O":
                    raw = repr([attr_value(v, root) for v in data.ravel().tolist()]).encode()
                elif isinstance(data, bytes):
                    raw = attr_value(data, root).encode()
                else:
                    raw = np.ascontiguousarray(data).tobytes()
                out[name] = ("dataset", attrs_of(obj, root), obj.shape, str(obj.dtype), raw)

        f.visititems(visit)
    return out


def done_in_both(before, after):
    """Where a file's `done` differs (a test killed the sweep or raced a second writer: which
    runs finished depends on timing), the runs done in both, as a mask of done's shape;
    None where done is the same (or absent)."""
    with h5py.File(before, "r") as f, h5py.File(after, "r") as g:
        if "done" not in f or "done" not in g or f["done"].shape != g["done"].shape:
            return None
        d1, d2 = f["done"][()], g["done"][()]
        return None if np.array_equal(d1, d2) else (d1 == 1) & (d2 == 1)


def runs_differ(before, after, name, mask):
    """Whether dataset `name` differs at the runs of mask (its leading dimensions: done's)."""
    with h5py.File(before, "r") as f, h5py.File(after, "r") as g:
        x, y = f[name][()], g[name][()]
    if x.shape[:mask.ndim] != mask.shape:
        return name != "done"  # not a per-run record
    return np.ascontiguousarray(x[mask]).tobytes() != np.ascontiguousarray(y[mask]).tobytes()


def without_comments(text):
    """A config file's text without its whole-line comments (# or //) and blank lines."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [line for line in str(text).splitlines() if line.strip() and not line.strip().startswith(("#", "//"))]


COMMENTS_ONLY = []  # files whose `config` differs in comment lines only


def compare(before, after, root_before, root_after):
    a, b = contents(before, root_before), contents(after, root_after)
    mask = done_in_both(before, after)
    problems = [f"only before: {n}" for n in sorted(set(a) - set(b))]
    problems += [f"only after: {n}" for n in sorted(set(b) - set(a))]
    for name in sorted(set(a) & set(b)):
        (ka, aa, sa, da, ra), (kb, ab, sb, db, rb) = a[name], b[name]
        if (ka, sa, da) != (kb, sb, db):
            problems.append(f"{name}: {ka} {sa} {da} before, {kb} {sb} {db} after")
        elif ra != rb and (mask is None or runs_differ(before, after, name, mask)):
            problems.append(f"{name}: the data differ")
        for key in sorted(set(aa) | set(ab)):
            if aa.get(key) == ab.get(key):
                continue
            if name == "/" and key == "config" and key in aa and key in ab and \
                    without_comments(aa[key]) == without_comments(ab[key]):
                COMMENTS_ONLY.append(before)
                continue
            problems.append(f"{name}: attribute {key} differs")
    return problems


def main(argv):
    if len(argv) not in (3, 5):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    before, after = (os.path.realpath(p) for p in argv[1:3])
    if len(argv) == 5:
        REPOS[before], REPOS[after] = (os.path.realpath(p) for p in argv[3:])
    files = sorted(os.path.relpath(os.path.join(d, f), before)
                   for d, _, fs in os.walk(before) for f in fs
                   if f.endswith(".h5") and os.path.isfile(os.path.join(d, f))  # not a FIFO a test made
                   and not os.path.islink(os.path.join(d, f)))
    missing, compared, unreadable, partial, differing = [], 0, [], 0, []
    for rel in files:
        other = os.path.join(after, rel)
        if not os.path.exists(other):
            missing.append(rel)
            continue
        try:
            problems = compare(os.path.join(before, rel), other, before, after)
        except OSError as e:  # a file a test left broken on purpose (kill, fault injection)
            unreadable.append(f"{rel}: {e}")
            continue
        compared += 1
        partial += done_in_both(os.path.join(before, rel), other) is not None
        if problems:
            differing.append(rel)
            print(f"{rel} differs:\n  " + "\n  ".join(problems))
    for rel in missing:
        print(f"missing after: {rel}")
    for line in unreadable:
        print(f"not an HDF5 file both times (skipped): {line}")
    print(f"{compared - len(differing)} of {compared} files identical dataset by dataset ({partial} of them, whose runs done depend on "
          f"timing, over the runs done in both; {len(set(COMMENTS_ONLY))} whose stored config text differs in comment "
          f"lines only), {len(missing)} missing after, {len(unreadable)} unreadable")
    return 1 if missing or differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
