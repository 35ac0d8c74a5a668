"""Recovery probability per intervention method (none, anthropic, repulsor, gap, ...).

    python3 -m aesweep.resample_compare OUT.h5 [--x lr] [--y intervene_delta]
        [--logx] [--logy] [--sel AXIS=VALUE]... [-o resample_compare.png]

The file needs an `intervention` grid axis. Recovery probability = the share of
finished runs whose final outcome is perfect. One heatmap per method over the two
axes --x and --y (default: lr and intervene_delta, or the first two other axes), reduced
over every other axis (typically `base`), on one colour scale [0, 1]; a last panel gives
each method's overall recovery probability. Prints the table: method, distinct finished
runs, recovered (perfect) runs, fraction. Without two axes besides `intervention` only
the last panel is drawn.

Statistics say what they are: runs identical by construction (a method trained at every
value of a setting it does not read, e.g. `none` or `anthropic` over intervene_delta)
count once, at that setting's first value; a 95 % Wilson interval is given only when the
runs pooled for a method differ only along replicate axes (seed, base, sample),
otherwise the fraction is a plain share of deterministic grid cells.
"""
import matplotlib
import numpy as np
import xarray as xr

from . import chaos_map, cli, common
from .chaos_map import draw_map

PROG = "aesweep.resample_compare"
METHOD = "intervention"  # the grid axis of intervene.method
# intervention settings (dimension names) a method never reads: its runs along them are one run
UNREAD = {"none": ("intervene_delta", "scale", "noise", "at_step"),
          "anthropic": ("intervene_delta", "noise")}
PANEL = (4.2, 4.6)  # inches per panel (the figure is one row of panels)
COLORBAR = 1.0  # inches added for the shared colour bar
TICKS_MAX = 8  # a labelled tick per value on map axes up to this length
ANNOTATE_MAX = 64  # write k/n into the cells of maps up to this many cells


def arguments(p):
    cli.add_map_axes(p, "lr, or the first axis besides intervention",
                     "intervene_delta, or the second axis besides intervention")
    cli.add_sel(p)


def size(methods, maps=True):
    """Figure size (inches) for this many methods, with or without the per-method maps."""
    if not maps:
        return PANEL
    return (PANEL[0] * (methods + 1) + COLORBAR, PANEL[1])


def pick_axes(dims, x=None, y=None):
    """(x, y) among the grid axes besides `intervention`; (None, None) when fewer than two
    and neither is asked for."""
    if METHOD not in dims:
        raise common.AnalysisError(f"no '{METHOD}' dimension in file: not a sweep over intervene.method "
                                   f"(grid axes: {', '.join(dims) or 'none'})")
    for a in (x, y):
        if a == METHOD:
            raise common.AnalysisError(f"--x/--y cannot be '{METHOD}' (there is one panel per method)")
        if a is not None and a not in dims:
            raise common.AnalysisError(f"unknown grid axis '{a}' (grid axes: {', '.join(dims)})")
    rest = [d for d in dims if d != METHOD]
    if x is None and y is None and len(rest) < 2:
        return None, None
    if len(rest) < 2:
        raise common.AnalysisError(f"maps need two grid axes besides '{METHOD}' "
                                   f"(file has: {', '.join(rest) or 'none'})")
    return common.pick_axes(rest, x, y, prefer=("lr", "intervene_delta"))


def recovered_counts(ds, keep):
    """(recovered, finished) run counts over `keep` (DataArrays; finished = done runs)."""
    outcome = common.masked(ds, "outcome")
    hit = outcome == common.outcome_code(ds, "perfect")
    over = common.others(outcome, keep)
    done = outcome.notnull()
    return hit.sum(over), done.sum(over)


def distinct(ds, method_index, keep=()):
    """The runs of one method (an `intervention` index), each run identical by
    construction once: axes of settings it does not read cut to their first value."""
    sub = ds.isel({METHOD: [method_index]})
    for d in UNREAD.get(common.fmt(ds[METHOD].values[method_index]), ()):
        if d in sub.dims and d not in keep:
            sub = sub.isel({d: [0]})
    return sub


def table(ds):
    """Per method: distinct finished runs, recovered (perfect) runs, fraction, and a Wilson
    lo and hi where the pooled runs are replicates (NaN otherwise), as a Dataset over
    `intervention`; its `pooled` says over which axes, and of which kind."""
    counts = [recovered_counts(distinct(ds, i), [METHOD]) for i in range(ds.sizes[METHOD])]
    k = xr.concat([c[0] for c in counts], METHOD)
    n = xr.concat([c[1] for c in counts], METHOD)
    replicates, pooled = common.pooled_statistic(ds, [d for d in common.grid_dims(ds) if d != METHOD])
    lo, hi = common.wilson(k.values, n.values)
    if not replicates:
        lo, hi = np.full_like(lo, np.nan), np.full_like(hi, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = k / n
    t = xr.Dataset({"runs": n, "recovered": k, "fraction": frac, "lo": (n.dims, lo), "hi": (n.dims, hi)})
    t.attrs["pooled"] = pooled
    return t


def table_rows(t):
    header = ["method", "distinct runs", "recovered", "fraction [95 % Wilson]" if np.isfinite(t["lo"]).any()
              else "fraction (grid cells)"]
    rows = []
    for m, n, k, f, lo, hi in zip(*(t[v].values for v in (METHOD, "runs", "recovered", "fraction", "lo", "hi"))):
        value = "-" if not n else f"{f:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{f:.3f}"
        rows.append([common.fmt(m), str(int(n)), str(int(k)), value])
    return header, rows


def prepare(ds, x=None, y=None, sel=()):
    """(selected and sorted ds, x, y, table)."""
    x, y = pick_axes(common.grid_dims(ds), x, y)
    ds = common.prepare(ds, sel, need=["outcome"], sort=(x, y))
    return ds, x, y, table(ds)


def annotate(ax, ds, x, y, k, n):
    """k/n in each cell (cells at the coordinate values; string axes at 0, 1, ...)."""
    def centres(d):
        v = ds[d].values
        return v if common.is_numeric(v) else np.arange(len(v))
    k, n = k.transpose(y, x).values, n.transpose(y, x).values
    for i, cy in enumerate(centres(y)):
        for j, cx in enumerate(centres(x)):
            ax.text(cx, cy, f"{k[i, j]}/{n[i, j]}", ha="center", va="center", fontsize=7,
                    color="black" if n[i, j] == 0 or k[i, j] / n[i, j] > 0.5 else "white")


def render(ds, x, y, t, logx=False, logy=False):
    methods = [common.fmt(m) for m in t[METHOD].values]
    runs, fractions = t["runs"].values, t["fraction"].values
    maps = x is not None
    fig = common.new_figure(*size(len(methods), maps))
    axes = list(fig.subplots(1, len(methods) + 1 if maps else 1, squeeze=False)[0])
    if maps:
        cells = common.map_cells(ds, x, y, logx, logy)
        k, n = recovered_counts(ds, [METHOD, x, y])
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = (k / n).where(n > 0)
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=common.NAN_COLOR)
        over = common.others(common.require(ds, "outcome"), (METHOD, x, y))
        over = f"\n(share of finished runs over {', '.join(over)})" if over else ""
        for i, (ax, method) in enumerate(zip(axes, methods)):
            mesh = draw_map(ax, ds, frac.isel({METHOD: i}), x, y, cells, cmap=cmap, vmin=0.0, vmax=1.0)
            common.tick_each_value(ax, "x", ds, x, TICKS_MAX)
            common.tick_each_value(ax, "y", ds, y, TICKS_MAX)
            if ds.sizes[x] * ds.sizes[y] <= ANNOTATE_MAX:
                annotate(ax, ds, x, y, k.isel({METHOD: i}), n.isel({METHOD: i}))
            ax.set_title(f"{method}: recovered {fractions[i]:.0%} of {runs[i]}{over}", fontsize=10)
            if i:
                ax.set_ylabel("")
        fig.colorbar(mesh, ax=axes[:-1], label="recovery probability (final outcome perfect)", fraction=0.04)

    ax = axes[-1]
    pos = np.arange(len(methods))
    ok = runs > 0
    frac = np.nan_to_num(fractions)
    lo, hi = t["lo"].values[ok], t["hi"].values[ok]
    err = np.maximum(0, [frac[ok] - lo, hi - frac[ok]]) if np.isfinite(lo).all() else None
    ax.errorbar(pos[ok], frac[ok], yerr=err, fmt="o", ms=6, capsize=5, color="tab:blue")
    ax.set_xticks(pos, [f"{m}\nn={r}" for m, r in zip(methods, runs)], fontsize=9)
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("recovery probability")
    ax.set_xlabel(common.label(ds[METHOD], METHOD))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"distinct runs per method\n({t.attrs['pooled']})", fontsize=9)
    return fig


def run(args):
    ds, x, y, t = prepare(common.open_dataset(args.file), args.x, args.y, args.sel)
    print("\n".join(common.format_table(*table_rows(t))))
    print(f"runs identical by construction counted once; {t.attrs['pooled']}")
    if x is None:
        print(f"(no maps: the grid has fewer than two axes besides '{METHOD}')")
    common.save_figure(render(ds, x, y, t, args.logx, args.logy), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="resample_compare.png")

if __name__ == "__main__":
    cli.run_module(main)
