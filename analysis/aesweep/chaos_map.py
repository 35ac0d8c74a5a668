"""Heatmap of a per-run variable over two grid axes (the blog's chaos map).

    python3 -m aesweep.chaos_map OUT.h5 [--var splay] [--x lr] [--y bias_delta]
        [--reduce mean|median|fraction:<outcome>] [--panel outcome|recovered]
        [--logx] [--logy] [--sel AXIS=VALUE]... [-o chaos_map.png]

Axes not shown are reduced; runs not done yet are NaN (grey). A categorical --var (outcome,
plateau_kind, recovered, ...) and --panel draw the most frequent class over the reduced axes
with a legend of named colours. The title says what the sweep trained with (n, optimizer,
steps, init, precision). An axis is logarithmic where it spans more than a decade (--logx,
--logy ask for it).
"""
import matplotlib
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from . import cli, common

PROG = "aesweep.chaos_map"
SIZE_ONE = (7.0, 5.5)  # inches, one panel
SIZE_TWO = (13.0, 5.5)  # inches, with --panel
RECOVERED_CLASSES = [(0, "not recovered"), (1, "recovered")]
FLAGS = ("recovered", "twin_recovered")  # 0/1 variables drawn as classes (RECOVERED_CLASSES)


def arguments(p):
    p.add_argument("--var", default="splay", help="per-run variable to map (default: splay)")
    cli.add_map_axes(p)
    p.add_argument("--reduce", default="mean", metavar="HOW",
                   help="over the other axes: mean, median or fraction:<outcome> (default: mean)")
    p.add_argument("--panel", choices=["outcome", "recovered"],
                   help="add a categorical map of this variable")
    cli.add_sel(p)


def categorical(ds, name):
    """[(code, name), ...] for a categorical variable: its flag_values/flag_meanings, or
    not recovered / recovered for a 0/1 flag (recovered, converged, frozen, ...)."""
    if name == "outcome":
        return common.outcome_classes(ds)
    return common.flag_classes(common.require(ds, name)) or RECOVERED_CLASSES


def is_categorical(ds, name):
    """Named codes (flag_meanings) or a 0/1 flag: drawn with a legend, not a colour bar."""
    return "flag_meanings" in ds[name].attrs or name in FLAGS



def draw_categorical(fig, ax, ds, name, x, y, cells):
    """The most frequent class of `name` per cell (over the other axes), a colour per class
    fixed by name, and the legend."""
    classes = categorical(ds, name)
    codes, names = [c for c, _ in classes], [n for _, n in classes]
    values = common.masked(ds, name)
    index = common.mode_index(values, (x, y), codes)
    colors = common.class_colors(names)
    cmap = ListedColormap(colors).with_extremes(bad=common.NAN_COLOR)
    norm = BoundaryNorm(np.arange(len(codes) + 1) - 0.5, len(codes))
    draw_map(ax, ds, index, x, y, cells, cmap=cmap, norm=norm)
    handles = [Patch(color=c, label=n) for c, n in zip(colors, names)]
    handles.append(Patch(color=common.NAN_COLOR, label="not done"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    over = common.others(values, (x, y))
    mode_over = f" (most frequent over {', '.join(over)})" if over else ""
    ax.set_title(f"{name}{mode_over}", fontsize=10)


def draw_map(ax, ds, da, x, y, cells, **kw):
    (xe, xlog, xticks), (ye, ylog, yticks) = cells
    mesh = ax.pcolormesh(xe, ye, da.transpose(y, x).values, **kw)
    ax.set_facecolor(common.NAN_COLOR)
    common.style_axis(ax, "x", ds, x, xlog, xticks)
    common.style_axis(ax, "y", ds, y, ylog, yticks)
    return mesh


def render(ds, var="splay", x=None, y=None, reduce="mean", panel=None, logx=False, logy=False, sel=()):
    """The map of `var` over grid axes x and y (default: lr and bias_delta), reduced over the
    others by `reduce`, and with `panel` a second map of that categorical variable."""
    x, y = common.pick_axes(common.grid_dims(ds), x, y)
    ds = common.prepare(ds, sel, need=[var], sort=(x, y))
    cells = common.map_cells(ds, x, y, logx, logy)
    fraction = reduce.startswith("fraction:")
    reduced = common.others(ds["outcome" if fraction else var], (x, y))

    fig = common.new_figure(*(SIZE_TWO if panel else SIZE_ONE))
    axes = fig.subplots(1, 2 if panel else 1, squeeze=False)[0]
    if is_categorical(ds, var) and not fraction:
        draw_categorical(fig, axes[0], ds, var, x, y, cells)
    else:
        value, cbar_label = common.reduce(ds, var, (x, y), reduce)
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=common.NAN_COLOR)
        limits = dict(vmin=0.0, vmax=1.0) if fraction else {}
        mesh = draw_map(axes[0], ds, value, x, y, cells, cmap=cmap, **limits)
        fig.colorbar(mesh, ax=axes[0], label=cbar_label)
        what = f"fraction {reduce.split(':', 1)[1]}" if fraction else var
        over = f" ({'share of runs' if fraction else reduce} over {', '.join(reduced)})" if reduced else ""
        axes[0].set_title(f"{what}{over}", fontsize=10)
    if panel:
        draw_categorical(fig, axes[1], ds, panel, x, y, cells)
    fig.suptitle(common.sweep_title(ds), fontsize=10)
    return fig


def run(args):
    ds = common.open_dataset(args.file)
    fig = render(ds, args.var, args.x, args.y, args.reduce, args.panel, args.logx, args.logy, args.sel)
    common.save_figure(fig, args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="chaos_map.png")

if __name__ == "__main__":
    cli.run_module(main)
