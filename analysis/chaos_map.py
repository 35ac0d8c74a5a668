"""Heatmap of a per-run variable over two grid axes (the blog's chaos map).

    python3 -m analysis.chaos_map OUT.h5 [--var splay] [--x lr] [--y bias_delta]
        [--reduce mean|median|fraction:<outcome>] [--panel outcome|recovered]
        [--logx] [--logy] [--sel AXIS=VALUE]... [-o chaos_map.png]

Axes not shown are reduced; runs not done yet are NaN (grey). --panel adds a second
map of a categorical variable: the most frequent class over the reduced axes.
"""
import argparse
import sys

import matplotlib
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from analysis import common

PROG = "analysis.chaos_map"
SIZE_ONE = (7.0, 5.5)  # inches, one panel
SIZE_TWO = (13.0, 5.5)  # inches, with --panel
RECOVERED_CLASSES = [(0, "not recovered"), (1, "recovered")]


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    common.add_common_args(p, "chaos_map.png")
    p.add_argument("--var", default="splay", help="per-run variable to map (default: splay)")
    p.add_argument("--x", help="grid axis on x (default: lr, or the first grid axis)")
    p.add_argument("--y", help="grid axis on y (default: bias_delta, or the second grid axis)")
    p.add_argument("--reduce", default="mean", metavar="HOW",
                   help="over the other axes: mean, median or fraction:<outcome> (default: mean)")
    p.add_argument("--panel", choices=["outcome", "recovered"],
                   help="add a categorical map of this variable")
    p.add_argument("--logx", action="store_true", help="log x axis")
    p.add_argument("--logy", action="store_true", help="log y axis")
    common.add_sel_arg(p)
    return p


def pick_axes(dims, x=None, y=None, prefer=("lr", "bias_delta")):
    """(x, y): the `prefer` pair when the grid has both, else the first two axes."""
    if len(dims) < 2:
        raise common.AnalysisError(f"a chaos map needs two grid axes (file has: {', '.join(dims) or 'none'})")
    for a in (x, y):
        if a is not None and a not in dims:
            raise common.AnalysisError(f"unknown grid axis '{a}' (grid axes: {', '.join(dims)})")
    prefer = list(prefer) if set(prefer) <= set(dims) else dims[:2]
    x = x or next(d for d in [prefer[0]] + dims if d != y)
    y = y or next(d for d in [prefer[1]] + dims if d != x)
    if x == y:
        raise common.AnalysisError(f"--x and --y are the same axis '{x}'")
    return x, y


def categorical(ds, name):
    """[(code, name), ...] for a --panel variable."""
    if name == "outcome":
        return common.outcome_classes(ds)
    return common.flag_classes(common.require(ds, name)) or RECOVERED_CLASSES


def draw_map(ax, ds, da, x, y, cells, **kw):
    (xe, xlog, xticks), (ye, ylog, yticks) = cells
    mesh = ax.pcolormesh(xe, ye, da.transpose(y, x).values, **kw)
    ax.set_facecolor(common.NAN_COLOR)
    common.style_axis(ax, "x", ds, x, xlog, xticks)
    common.style_axis(ax, "y", ds, y, ylog, yticks)
    return mesh


def render(ds, args):
    ds = common.select(ds, args.sel)
    x, y = pick_axes(common.grid_dims(ds), args.x, args.y)
    common.require(ds, args.var)
    common.require_done(ds, args.sel)
    ds = ds.sortby([d for d in (x, y) if common.is_numeric(ds[d].values)])
    cells = (common.axis_cells(ds, x, args.logx), common.axis_cells(ds, y, args.logy))
    fraction = args.reduce.startswith("fraction:")
    reduced = common.others(ds["outcome" if fraction else args.var], (x, y))
    value, cbar_label = common.reduce(ds, args.var, (x, y), args.reduce)

    fig = common.new_figure(*(SIZE_TWO if args.panel else SIZE_ONE))
    axes = fig.subplots(1, 2 if args.panel else 1, squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=common.NAN_COLOR)
    limits = dict(vmin=0.0, vmax=1.0) if fraction else {}
    mesh = draw_map(axes[0], ds, value, x, y, cells, cmap=cmap, **limits)
    fig.colorbar(mesh, ax=axes[0], label=cbar_label)
    what = f"fraction {args.reduce.split(':', 1)[1]}" if fraction else args.var
    over = f" ({'share of runs' if fraction else args.reduce} over {', '.join(reduced)})" if reduced else ""
    axes[0].set_title(f"{what}{over}", fontsize=10)

    if args.panel:
        classes = categorical(ds, args.panel)
        codes, names = [c for c, _ in classes], [n for _, n in classes]
        values = common.masked(ds, args.panel)
        index = common.mode_index(values, (x, y), codes)
        colors = common.class_colors(names)
        cmap = ListedColormap(colors).with_extremes(bad=common.NAN_COLOR)
        norm = BoundaryNorm(np.arange(len(codes) + 1) - 0.5, len(codes))
        draw_map(axes[1], ds, index, x, y, cells, cmap=cmap, norm=norm)
        handles = [Patch(color=c, label=n) for c, n in zip(colors, names)]
        handles.append(Patch(color=common.NAN_COLOR, label="not done"))
        axes[1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8,
                       frameon=False)
        over = common.others(values, (x, y))
        mode_over = f" (most frequent over {', '.join(over)})" if over else ""
        axes[1].set_title(f"{args.panel}{mode_over}", fontsize=10)
    return fig


def main(argv=None):
    args = parser().parse_args(argv)
    return common.run_cli(PROG, lambda a: common.save_figure(render(common.open_dataset(a.file), a), a.output), args)


if __name__ == "__main__":
    sys.exit(main())
