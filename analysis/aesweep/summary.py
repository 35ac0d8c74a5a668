"""What a sweep found, in a few sentences computed from its file.

    python3 -m aesweep.summary OUT.h5 [--full]

The first sentence gives the outcome shares (a 95 % Wilson interval for perfect when the
runs are replicates), the
second how the share of perfect runs changes along the learning rate, the third how
ragged the boundary between outcomes is on the two-axis map; --full adds recoveries.
`make demo` ends with it; the HTML report opens with the full paragraph.
"""
import json

import numpy as np

from . import cli, common
from .census import census

PROG = "aesweep.summary"
RAGGED = 0.15  # share of neighbouring cells that differ above which the boundary is ragged
SMOOTH = 0.05  # ... and below which it is a few clean lines
UNORDERED = ("seed", "base")  # axes whose order means nothing: no boundary along them


def arguments(p):
    p.add_argument("file", help="aesweep output (HDF5)")
    p.add_argument("--full", action="store_true", help="also recoveries (the report's paragraph)")


def percent(x):
    return f"{100 * x:.0f} %" if np.isfinite(x) else "n/a"


def steps_trained(ds):
    dims = common.grid_dims(ds)
    if "steps" in dims:
        return f"{common.fmt(ds['steps'].values.min())}-{common.fmt(ds['steps'].values.max())}"
    try:
        return str(json.loads(str(ds.attrs["config_json"]))["train.steps"])
    except (KeyError, ValueError):
        return "?"


def display(name):
    return name.replace("_", " ")


def shares_sentence(ds):
    t = census(ds).isel(by=0)
    done = int(t["done"])
    total = int(np.prod([ds.sizes[d] for d in common.grid_dims(ds)]))
    names = [str(n) for n in t["outcome"].values]
    frac = dict(zip(names, t["fraction"].values.tolist()))
    parts = []
    if "perfect" in frac:
        p = t.sel(outcome="perfect")
        interval = (f" (95 % interval {percent(float(p['lo']))}-{percent(float(p['hi']))})"
                    if np.isfinite(float(p["lo"])) else "")  # only over replicates
        parts.append(f"{percent(frac['perfect'])} ended perfect{interval}")
    every = [n for n in names if n in common.FIRES_ON_EVERY_INPUT and frac[n] > 0]
    if every:
        share = sum(frac[n] for n in every)
        parts.append(f"{percent(share)} kept a feature that fires on every input "
                     f"({', '.join(display(n) for n in every)})")
    rest = sorted((n for n in names if n != "perfect" and n not in every and frac[n] > 0), key=lambda n: -frac[n])
    parts += [f"{percent(frac[n])} {display(n)}" for n in rest]
    where = f"{done} of {total} runs" if done < total else f"All {total} runs"
    return f"{where} finished after {steps_trained(ds)} steps: {', '.join(parts)}."


def lr_sentence(ds):
    if "lr" not in common.grid_dims(ds) or ds.sizes["lr"] < 2 or "perfect" not in dict(
            (n, c) for c, n in common.outcome_classes(ds)).keys():
        return None
    share, _ = common.reduce(ds, "outcome", ("lr",), "fraction:perfect")
    share = share.dropna("lr")
    if share.size < 2:
        return None
    if float(share.max()) == float(share.min()):
        return f"The share of perfect runs is {percent(float(share.max()))} at every learning rate."
    return (f"Perfect runs are most common ({percent(float(share.max()))}) at {where(share, share.max())} "
            f"and rarest ({percent(float(share.min()))}) at {where(share, share.min())}.")


def where(share, value):
    """The learning rates where share == value: 'lr = a', 'lr = a, b and c' or 'k learning
    rates (the lowest a, the highest b)'."""
    lrs = [common.fmt(v) for v in np.sort(share["lr"].values[share.values == float(value)])]
    if len(lrs) <= 4:
        return "lr = " + (" and ".join([", ".join(lrs[:-1]), lrs[-1]]) if len(lrs) > 1 else lrs[0])
    return f"{len(lrs)} learning rates (the lowest {lrs[0]}, the highest {lrs[-1]})"


def boundary_shares(ds, x, y):
    """Share of neighbouring map cells (most frequent outcome over the other axes) whose
    outcome differs, along x and along y (NaN without neighbours)."""
    codes = [c for c, _ in common.outcome_classes(ds)]
    grid = common.mode_index(common.masked(ds, "outcome"), (x, y), codes).transpose(y, x).values
    out = []
    for axis in (1, 0):
        a, b = np.moveaxis(grid, axis, 0)[1:], np.moveaxis(grid, axis, 0)[:-1]
        ok = np.isfinite(a) & np.isfinite(b)
        out.append(float((a[ok] != b[ok]).mean()) if ok.any() else float("nan"))
    return out


def map_sentence(ds):
    dims = common.grid_dims(ds)
    if len(dims) < 2:
        return None
    x, y = common.pick_axes(dims)
    if {x, y} & set(UNORDERED):
        return None  # neighbouring seeds or base states are not neighbours in any sense
    ds = ds.sortby([d for d in (x, y) if common.is_numeric(ds[d].values)])
    along_x, along_y = boundary_shares(ds, x, y)
    both = np.nanmean([along_x, along_y])
    shape = ("ragged: the outcome changes from cell to cell, as on a chaotic map" if both > RAGGED else
             "a few clean lines between large regions of one outcome" if both < SMOOTH else
             "in between: mostly large regions, with islands along their edges")
    return (f"On the {x} x {y} map, neighbouring cells end differently in {percent(along_x)} of pairs "
            f"along {x} and {percent(along_y)} along {y}; the boundary is {shape}.")


def recovery_sentence(ds):
    if "recovered" not in ds:
        return None
    rec = common.masked(ds, "recovered")
    k, n = int((rec == 1).sum()), int(rec.notnull().sum())
    if k == 0:
        return f"None of the {n} finished runs recovered from a failure plateau."
    text = f"{k} of {n} finished runs ({percent(k / n)}) recovered after a failure plateau"
    if "recovery_step" in ds:
        steps = common.masked(ds, "recovery_step").where(rec == 1).values
        steps = steps[np.isfinite(steps) & (steps >= 0)]
        if steps.size:
            text += f" (median recovery at step {np.median(steps):.0f})"
    return text + "."


def trust_sentence(ds):
    """How many failures float32 arithmetic holds (frozen saddles) and how many are minima."""
    from .census import trust
    t = trust(ds).sel(outcome="all")
    if int(t["frozen_saddle"]) < 0:  # a file without frozen or hessian_neg
        return None
    fs, saddles, minima = (int(t[c]) for c in ("frozen_saddle", "saddle", "minimum"))
    text = (f"Of all final states, {saddles} are saddles and {minima} minima of the loss; {fs} runs are frozen at "
            "a saddle, held there only by rounding")
    return text + (" (model.precision = \"float64\" or check.float64 tells where they would go)." if fs else ".")


def summarize(ds, full=False):
    """The sweep's findings as plain sentences (a str): outcome shares, the trend along the
    learning rate, the map's boundary; with full=True also recoveries and the trust counts
    (saddles, minima, frozen saddles)."""
    common.require(ds, "outcome")
    if not bool(common.done_mask(ds).any()):
        return "No run of this sweep has finished yet."
    sentences = [shares_sentence(ds), lr_sentence(ds), map_sentence(ds)]
    if full:
        sentences += [recovery_sentence(ds), trust_sentence(ds)]
    return " ".join(s for s in sentences if s)


def run(args):
    print(summarize(common.open_dataset(args.file), args.full))


main = cli.script(PROG, __doc__, arguments, run)

if __name__ == "__main__":
    cli.run_module(main)
