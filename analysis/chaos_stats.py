"""Chaos statistics over two grid axes: FTLE map, recovery label, box-counting dimension.

    python3 -m analysis.chaos_stats OUT.h5 [--x lr] [--y bias_delta]
        [--label perfect|recovered] [--reduce mean|median] [--base 2|3]
        [--logx] [--logy] [--sel AXIS=VALUE]... [-o chaos_stats.png]

Panels: (a) the finite-time Lyapunov exponent of the twin runs (`ftle`, reduced over the
other axes; diverging colours centred at 0), (b) the binary label (default: the final
outcome is perfect, i.e. a run that started from a failure state recovered; `recovered`:
the engine's plateau-then-perfect flag) with its boundary cells shaded, (c) box counting
of those boundary cells: log N(s) against log(1/s), with the least-squares line whose
slope is the box-counting dimension. Over other axes the label is the majority of the
finished runs of a cell (a tie counts as 0). Prints the dimension and the FTLE summary
(share of runs with FTLE > 0 with a 95 % Wilson interval, median FTLE). A file without
twin runs (no `ftle`, or all NaN) gets panels (b) and (c) only.
"""
import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Patch

from . import cli, common
from .chaos_map import draw_map, pick_axes

PROG = "analysis.chaos_stats"
SIZE_THREE = (17.0, 5.0)  # inches: FTLE map, label map, box counting
SIZE_TWO = (12.0, 5.0)  # inches: without FTLE
TICKS_MAX = 8  # a labelled tick per value on map axes up to this length
BOUNDARY_SHADE = (0.0, 0.0, 0.0, 0.45)  # drawn over boundary cells of the label map
LABELS = {"perfect": ("not perfect", "perfect"), "recovered": ("not recovered", "recovered")}
LABEL_COLORS = {k: common.class_colors(v) for k, v in
                (("perfect", ("not recovered", "perfect")), ("recovered", ("not recovered", "recovered")))}


def arguments(p):
    cli.add_map_axes(p)
    p.add_argument("--label", choices=sorted(LABELS), default="perfect",
                   help="binary label: final outcome perfect, or the `recovered` flag (default: perfect)")
    p.add_argument("--reduce", choices=["mean", "median"], default="mean",
                   help="FTLE over the axes not shown (default: mean)")
    p.add_argument("--base", type=int, choices=[2, 3], default=2,
                   help="box sizes are powers of this (default: 2)")
    cli.add_sel(p)


# ----------------------------------------------------------------------------- box counting


def boundary_cells(label):
    """Cells whose label differs from one of their 4-neighbours' (both sides of an edge).

    NaN cells (no finished run) have no label: they neither are nor make boundary cells.
    """
    a = np.asarray(label, dtype=float)
    if a.ndim != 2:
        raise ValueError("label must be 2-D")
    ok = np.isfinite(a)
    mask = np.zeros(a.shape, dtype=bool)
    for axis in (0, 1):
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        differs = (a[lo] != a[hi]) & ok[lo] & ok[hi]
        mask[lo] |= differs
        mask[hi] |= differs
    return mask


def box_sizes(shape, base=2):
    """1, base, base^2, ... up to min(shape) / 4."""
    if int(base) != base or base < 2:
        raise ValueError(f"box size base must be an integer >= 2, not {base}")
    sizes, s = [], 1
    while s <= min(shape) / 4:
        sizes.append(s)
        s *= int(base)
    return np.array(sizes, dtype=int)


def box_counting_dimension(mask, base=2):
    """Box-counting dimension of the True cells of a 2-D mask.

    For each box size s in 1, base, base^2, ... up to min(mask.shape) / 4, N(s) is the
    number of s x s boxes, tiled from index (0, 0) (the last row/column of boxes may be
    cut by the edge), that hold at least one True cell; the dimension is the
    least-squares slope of log N(s) against log(1/s). Returns (dimension, sizes, counts);
    the dimension is NaN with fewer than two sizes or no True cell.

    On a map of cells the boundary is two cells thick at s = 1 (both sides are marked),
    and one box thick at s >= 2 unless it falls on a box edge: on a 256 x 256 map an
    axis-parallel straight boundary reads 1.0 on the box edges of every size (x >= 128)
    but 1.1 to 1.2 elsewhere (x >= 101: 1.107, x >= 100: 1.214); a diagonal reads 1.03.
    The finest scale is the least reliable point of the fit.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError("mask must be 2-D")
    sizes = box_sizes(mask.shape, base)
    counts = []
    for s in sizes:
        rows, cols = -(-mask.shape[0] // s), -(-mask.shape[1] // s)
        padded = np.zeros((rows * s, cols * s), dtype=bool)
        padded[:mask.shape[0], :mask.shape[1]] = mask
        counts.append(int(padded.reshape(rows, s, cols, s).any(axis=(1, 3)).sum()))
    counts = np.array(counts, dtype=int)
    if len(sizes) < 2 or not counts.all():
        return float("nan"), sizes, counts
    slope = np.polyfit(np.log(1.0 / sizes), np.log(counts), 1)[0]
    return float(slope), sizes, counts


# ----------------------------------------------------------------------------- data


def run_label(ds, which):
    """Per run: 1.0 where the label holds, 0.0 where not, NaN where not done."""
    if which == "perfect":
        value = common.masked(ds, "outcome")
        hit = value == common.outcome_code(ds, "perfect")
    else:
        value = common.masked(ds, "recovered")
        hit = value == 1
    return hit.astype(float).where(value.notnull())


def label_map(ds, which, keep):
    """(label over keep: 1/0/NaN by majority of finished runs, axes reduced over)."""
    per_run = run_label(ds, which)
    over = common.others(per_run, keep)
    share = per_run.mean(over, skipna=True) if over else per_run
    return (share > 0.5).astype(float).where(share.notnull()), over


def ftle_values(ds):
    """Finite FTLE of finished runs (1-D numpy array), or None when the file has no FTLE."""
    if "ftle" not in ds.variables:
        return None
    v = common.masked(ds, "ftle").values.ravel()
    v = v[np.isfinite(v)]
    return v if v.size else None


def ftle_summary(values):
    """dict: runs, positive, fraction, lo, hi, median."""
    n, k = int(values.size), int(np.count_nonzero(values > 0))
    lo, hi = common.wilson(k, n)
    return dict(runs=n, positive=k, fraction=k / n, lo=float(lo), hi=float(hi), median=float(np.median(values)))


def analyse(ds, x=None, y=None, label="perfect", reduce="mean", base=2, sel=()):
    """The chaos statistics of ds over grid axes x and y, as a Dataset (attrs: x, y, over,
    which, base, dim; variables: the selected runs' axes, `label` and `boundary` over
    (y, x), `counts` over `box_size`, and with twin runs `ftle` over (x, y) with the
    summary of every finished run's FTLE in its attrs)."""
    x, y = pick_axes(common.grid_dims(ds), x, y)
    ds = common.prepare(ds, sel, need=["outcome" if label == "perfect" else "recovered"], sort=(x, y))
    labels, over = label_map(ds, label, (x, y))
    labels = labels.transpose(y, x)  # rows: y, columns: x; box tiling from (x0, y0)
    boundary = boundary_cells(labels.values)
    dim, sizes, counts = box_counting_dimension(boundary, base)
    out = xr.Dataset({"label": labels, "boundary": (labels.dims, boundary),
                      "counts": ("box_size", counts)}, coords={"box_size": sizes})
    out.attrs.update(x=x, y=y, over=list(over), which=label, base=base, dim=dim)
    ftle = ftle_values(ds)
    if ftle is not None:
        out["ftle"], ftle_label = common.reduce(ds, "ftle", (x, y), reduce)
        out["ftle"].attrs.update(ftle_summary(ftle), long_name=ftle_label)
    return out, ds


def why_undefined(r):
    if r.sizes["box_size"] < 2:
        shape = r["label"].shape
        return (f"undefined: the {shape[1]} x {shape[0]} grid allows {r.sizes['box_size']} box size(s); "
                f"two need min(grid) >= {4 * r.attrs['base']}")
    return "undefined: no boundary (every cell has the same label)"


def report_lines(r):
    a = r.attrs
    shape = r["label"].shape
    over = f", majority over {', '.join(a['over'])}" if a["over"] else ""
    sizes, counts = r["box_size"].values, r["counts"].values
    lines = [f"label: {a['which']} ({LABELS[a['which']][1]} = 1){over}",
             f"grid: {a['x']} x {a['y']} = {shape[1]} x {shape[0]} cells, "
             f"{int(np.count_nonzero(r['boundary'].values))} boundary cells",
             f"box counting (base {a['base']}): s = {' '.join(map(str, sizes)) or 'none'}; "
             f"N(s) = {' '.join(map(str, counts)) or 'none'}"]
    dim = f"{a['dim']:.4f}" if np.isfinite(a["dim"]) else why_undefined(r)
    lines.append(f"box-counting dimension: {dim}")
    if "ftle" in r:
        s = r["ftle"].attrs
        lines.append(f"FTLE: {s['runs']} runs, fraction > 0: {s['fraction']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}], "
                     f"median {s['median']:.4g} 1/step")
    else:
        lines.append("FTLE: none in this file (no twin runs: 'ftle' missing or all NaN); "
                     "drawing the label map and box counting only")
    return lines


# ----------------------------------------------------------------------------- figure


def render(r, ds, logx=False, logy=False, reduce="mean"):
    a = r.attrs
    x, y, has_ftle = a["x"], a["y"], "ftle" in r
    cells = common.map_cells(ds, x, y, logx, logy)
    fig = common.new_figure(*(SIZE_THREE if has_ftle else SIZE_TWO))
    axes = list(fig.subplots(1, 3 if has_ftle else 2))
    over = f" ({reduce} over {', '.join(a['over'])})" if a["over"] else ""

    if has_ftle:
        ax = axes.pop(0)
        ftle = r["ftle"]
        finite = np.abs(ftle.values[np.isfinite(ftle.values)])
        half = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=common.NAN_COLOR)
        mesh = draw_map(ax, ds, ftle, x, y, cells, cmap=cmap, norm=Normalize(-half, half))
        ticks(ax, ds, x, y)
        fig.colorbar(mesh, ax=ax, label=ftle.attrs["long_name"])
        s = ftle.attrs
        ax.set_title(f"(a) FTLE{over}\n{s['fraction']:.0%} of {s['runs']} runs > 0, "
                     f"median {s['median']:.3g} 1/step", fontsize=10)

    ax = axes.pop(0)
    names = list(LABELS[a["which"]])
    colors = list(LABEL_COLORS[a["which"]])
    boundary = r["boundary"].values
    draw_map(ax, ds, r["label"], x, y, cells, cmap=ListedColormap(colors).with_extremes(bad=common.NAN_COLOR),
             vmin=-0.5, vmax=1.5)
    ticks(ax, ds, x, y)
    shade = np.ma.masked_where(~boundary, np.ones(boundary.shape))
    (xe, _, _), (ye, _, _) = cells
    ax.pcolormesh(xe, ye, shade, cmap=ListedColormap([BOUNDARY_SHADE]), vmin=0, vmax=1)
    handles = [Patch(color=c, label=n) for c, n in zip(colors, names)]
    handles += [Patch(color=BOUNDARY_SHADE, label="boundary cell"), Patch(color=common.NAN_COLOR, label="not done")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    majority = f" (majority over {', '.join(a['over'])})" if a["over"] else ""
    ax.set_title(f"(b) {a['which']}{majority}\n{int(np.count_nonzero(boundary))} boundary cells", fontsize=10)

    ax = axes.pop(0)
    sizes, counts = r["box_size"].values, r["counts"].values
    ok = counts > 0
    lx, ly = np.log(1.0 / sizes[ok]), np.log(counts[ok])
    ax.plot(lx, ly, "o", color="tab:blue", label="boxes holding a boundary cell")
    for s, px, py in zip(sizes[ok], lx, ly):
        ax.annotate(f"s={s}", (px, py), textcoords="offset points", xytext=(4, -10), fontsize=8)
    if np.isfinite(a["dim"]):
        slope, intercept = np.polyfit(lx, ly, 1)
        ends = np.array([lx.min(), lx.max()])
        ax.plot(ends, slope * ends + intercept, "-", color="tab:red", label=f"fit: dimension {a['dim']:.3f}")
        title = f"dimension {a['dim']:.3f}"
    else:
        title = "dimension undefined"
        ax.text(0.5, 0.95, why_undefined(r).replace(": ", ":\n", 1).replace("; ", ";\n"),
                transform=ax.transAxes, ha="center", va="top", fontsize=9)
    ax.set_xlabel("log(1/s)   (s: box side in cells)")
    ax.set_ylabel("log N(s)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"(c) box counting of the boundary, base {a['base']}: {title}", fontsize=10)
    return fig


def ticks(ax, ds, x, y):
    common.tick_each_value(ax, "x", ds, x, TICKS_MAX)
    common.tick_each_value(ax, "y", ds, y, TICKS_MAX)


def run(args):
    r, ds = analyse(common.open_dataset(args.file), args.x, args.y, args.label, args.reduce, args.base, args.sel)
    print("\n".join(report_lines(r)))
    common.save_figure(render(r, ds, args.logx, args.logy, args.reduce), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="chaos_stats.png")

if __name__ == "__main__":
    cli.run_module(main)
