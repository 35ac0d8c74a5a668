#!/usr/bin/env python3
"""compare.py - compares two aesweep outputs of the same sweep (CPU vs CUDA backend).

    compare.py A.h5 B.h5                   `outcome` equal in every run
    compare.py --max-mismatch 0.01 A B     ... in all but 1 % of the runs
    compare.py --exact A.h5 B.h5           every dataset identical (NaN equal to NaN)

Exit status 1 when they differ more than allowed."""
import argparse
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def equal(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--exact", action="store_true", help="every dataset identical")
    ap.add_argument("--max-mismatch", type=float, default=0.0, help="fraction of runs whose outcome may differ")
    args = ap.parse_args()
    with h5py.File(args.a, "r") as fa, h5py.File(args.b, "r") as fb:
        da, db = datasets(fa), datasets(fb)
        if args.exact:
            bad = [k for k in sorted(set(da) | set(db)) if k not in da or k not in db or not equal(da[k][()], db[k][()])]
            if bad:
                print("DIFFER %s vs %s: %s" % (args.a, args.b, ", ".join(bad)))
                return 1
            print("identical: %s and %s (%d datasets)" % (args.a, args.b, len(da)))
            return 0
        oa, ob = fa["outcome"][()], fb["outcome"][()]
        done = (fa["done"][()] != 0) & (fb["done"][()] != 0)
        if oa.shape != ob.shape or not done.all():
            print("DIFFER: shapes %s vs %s, %d runs not done" % (oa.shape, ob.shape, int((~done).sum())))
            return 1
        differ = oa != ob
        frac = differ.mean() if differ.size else 0.0
        names = ["perfect", "mean_bias", "dead", "diverged"]
        counts = lambda o: ", ".join("%s %d" % (n, int((o == k).sum())) for k, n in enumerate(names))
        print("outcomes %s: %s" % (args.a, counts(oa)))
        print("outcomes %s: %s" % (args.b, counts(ob)))
        print("outcome differs in %d of %d runs (%.3g %%, allowed %.3g %%)" % (differ.sum(), differ.size, 100 * frac,
                                                                              100 * args.max_mismatch))
        if differ.any():
            idx = np.argwhere(differ)[:10]
            print("first differing runs (index: a -> b):",
                  "; ".join("%s: %d -> %d" % (tuple(int(x) for x in i), oa[tuple(i)], ob[tuple(i)]) for i in idx))
        return 0 if frac <= args.max_mismatch else 1


if __name__ == "__main__":
    sys.exit(main())
