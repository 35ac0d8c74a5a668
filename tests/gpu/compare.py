#!/usr/bin/env python3
"""compare.py - compares two aesweep outputs of the same sweep (CPU vs CUDA backend).

    compare.py A.h5 B.h5                   `outcome` equal in every run
    compare.py --max-mismatch 0.01 A B     ... in all but 1 % of the runs
    compare.py --stat A.h5 B.h5            the fraction of each outcome agrees (4 standard
                                           errors): for chaotic maps, where FMA contraction on
                                           the GPU moves runs on basin boundaries
    compare.py --exact A.h5 B.h5           every dataset identical (NaN equal to NaN), except
                                           --close VAR=RTOL ones (default min_gap=1e-6: the
                                           device's acosf is not glibc's)

Prints what differs; exit status 1 when the files differ more than allowed."""
import argparse
import sys

import h5py
import numpy as np



def outcome_names(f):
    """The outcome classes, from the file's CF flag_values / flag_meanings."""
    meanings = f["outcome"].attrs["flag_meanings"]
    meanings = meanings.decode() if isinstance(meanings, bytes) else meanings
    return dict(zip((int(v) for v in f["outcome"].attrs["flag_values"]), meanings.split()))


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def same(a, b, rtol=None):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    if rtol is None:
        return np.array_equal(a, b, equal_nan=True)
    return np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def exact(fa, fb, close):
    da, db = datasets(fa), datasets(fb)
    bad = []
    for k in sorted(set(da) | set(db)):
        if k not in da or k not in db:
            bad.append(k + " (missing)")
        elif not same(da[k][()], db[k][()], close.get(k.split("/")[-1])):
            bad.append(k)
    if bad:
        print("DIFFER: %s" % ", ".join(bad))
        return 1
    print("identical: %d datasets%s" % (len(da), " (%s within rtol)" % ", ".join(close) if close else ""))
    return 0


def outcomes(fa, fb, max_mismatch, stat):
    oa, ob = fa["outcome"][()], fb["outcome"][()]
    done = (fa["done"][()] != 0) & (fb["done"][()] != 0)
    if oa.shape != ob.shape or not done.all():
        print("DIFFER: shapes %s vs %s, %d runs not done in both" % (oa.shape, ob.shape, int((~done).sum())))
        return 1
    names = outcome_names(fa)
    for label, o in (("A", oa), ("B", ob)):
        print("outcomes %s: %s" % (label, ", ".join("%s %d" % (n, int((o == k).sum())) for k, n in names.items())))
    differ = oa != ob
    frac = float(differ.mean()) if differ.size else 0.0
    print("outcome differs in %d of %d runs (%.3g %%)" % (differ.sum(), differ.size, 100 * frac))
    if differ.any():
        idx = np.argwhere(differ)[:10]
        print("  first ones (grid index: A -> B):",
              "; ".join("%s: %d -> %d" % (tuple(int(x) for x in i), oa[tuple(i)], ob[tuple(i)]) for i in idx))
    if not stat:
        ok = frac <= max_mismatch
        print("%s: at most %.3g %% may differ" % ("ok" if ok else "FAILED", 100 * max_mismatch))
        return 0 if ok else 1
    n, ok = oa.size, True
    for k, name in names.items():
        pa, pb = (oa == k).mean(), (ob == k).mean()
        p = (pa + pb) / 2
        bound = 4 * np.sqrt(2 * p * (1 - p) / n) + 1.0 / n
        good = abs(pa - pb) <= bound
        ok &= bool(good)
        print("  %-18s %.4f vs %.4f  |diff| %.4f %s %.4f" % (name, pa, pb, abs(pa - pb), "<=" if good else ">", bound))
    print("%s: outcome fractions agree within 4 standard errors" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--exact", action="store_true", help="every dataset identical")
    ap.add_argument("--close", action="append", default=[], metavar="VAR=RTOL",
                    help="with --exact: compare VAR with a relative tolerance (default min_gap=1e-6)")
    ap.add_argument("--stat", action="store_true", help="outcome fractions agree, not each run")
    ap.add_argument("--max-mismatch", type=float, default=0.0, help="fraction of runs whose outcome may differ")
    args = ap.parse_args()
    close = dict(item.split("=", 1) for item in (args.close or ["min_gap=1e-6"]))
    close = {k: float(v) for k, v in close.items()}
    print("A = %s\nB = %s" % (args.a, args.b))
    with h5py.File(args.a, "r") as fa, h5py.File(args.b, "r") as fb:
        if args.exact:
            return exact(fa, fb, close)
        return outcomes(fa, fb, args.max_mismatch, args.stat)


if __name__ == "__main__":
    sys.exit(main())
