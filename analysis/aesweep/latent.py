"""One run's latent plane: the feature vectors W_i, their activation zones, and W^T W.

    python3 -m aesweep.latent OUT.h5 [--sel AXIS=VALUE]... [--outcome NAME] [-o latent.png]

The run is the first finished one matching --sel (nearest value for float axes) and,
with --outcome, having that outcome. Left: W_i as arrows from the origin (dashed when
unlearnt, recon < 0.5) and, lightly shaded in the feature's colour, its activation zone
{h : W_i.h + b_i > 0} clipped to the convex hull of the W_i. Right: W^T W with b as an
extra column.
"""
import numpy as np
from matplotlib.lines import Line2D

from . import cli, common

PROG = "aesweep.latent"
SIZE = (12.0, 5.5)  # inches
PANEL_SIZE = (4.6, 8.4)  # inches per run in a side-by-side comparison (plane above W^T W)
ANNOTATE_MAX = 10  # write the values into the W^T W cells up to this n


def arguments(p):
    cli.add_sel(p)
    p.add_argument("--outcome", help="take the first finished run with this outcome (e.g. perfect)")


def pick_run(ds, sel=(), outcome=None):
    """(flat index in the file's grid, the run as a Dataset with scalar grid coordinates)."""
    dims = common.grid_dims(ds)
    sub = common.select(ds, sel)
    ok = common.done_mask(sub)
    if outcome is not None:
        ok = ok & (common.masked(sub, "outcome") == common.outcome_code(sub, outcome))
    hits = np.flatnonzero(ok.transpose(*dims).values)
    if hits.size == 0:
        what = " ".join(list(sel) + ([f"outcome={outcome}"] if outcome else []))
        raise common.AnalysisError(f"empty selection: no finished run{' matching ' + what if what else ''}")
    pos = np.unravel_index(hits[0], [sub.sizes[d] for d in dims])
    run = sub.isel(dict(zip(dims, pos)))
    index = np.ravel_multi_index([int(np.flatnonzero(ds[d].values == run[d].values)[0]) for d in dims],
                                 [ds.sizes[d] for d in dims]) if dims else 0
    return int(index), run


def convex_hull(points):
    """Counter-clockwise hull vertices of 2-D points (Andrew's monotone chain)."""
    pts = sorted(set(map(tuple, np.asarray(points, float))))
    if len(pts) < 3:
        return np.array(pts)

    def turn(o, a, p):  # z of (a - o) x (p - o): > 0 for a left turn
        return (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0])

    def half(seq):
        out = []
        for p in seq:
            while len(out) >= 2 and turn(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.array(half(pts) + half(pts[::-1]))


def clip_half_plane(polygon, w, b):
    """The part of a convex polygon where w.h + b > 0 (Sutherland-Hodgman, one edge)."""
    s = polygon @ w + b
    out = []
    for k in range(len(polygon)):
        j = (k + 1) % len(polygon)
        if s[k] > 0:
            out.append(polygon[k])
        if (s[k] > 0) != (s[j] > 0):
            out.append(polygon[k] + s[k] / (s[k] - s[j]) * (polygon[j] - polygon[k]))
    return np.array(out).reshape(-1, 2)


def run_arrays(run):
    """W (n, 2), b (n,), recon (n,) of the run's own features (NaN padding dropped)."""
    W, b, recon = (common.require(run, v).values.astype(float) for v in ("W_final", "b_final", "recon"))
    latent = ~np.all(np.isnan(W), axis=0)
    W = W[:, latent]
    if W.shape[1] > 2:
        raise common.AnalysisError(f"the latent plot needs m <= 2 (this run has m = {W.shape[1]})")
    W = np.pad(W, ((0, 0), (0, 2 - W.shape[1])))
    feat = np.isfinite(W).all(axis=1) & np.isfinite(b)
    return W[feat], b[feat], recon[feat]


def draw_plane(ax, key, W, b, recon, colors):
    hull = convex_hull(W)
    if len(hull) >= 3:
        for w, bi, c in zip(W, b, colors):
            zone = clip_half_plane(hull, w, bi)
            if len(zone) >= 3:
                ax.fill(zone[:, 0], zone[:, 1], color=c, alpha=0.15, lw=0)
        ax.fill(hull[:, 0], hull[:, 1], fill=False, ec="0.6", lw=0.8)
    handles = []
    for i, (w, bi, r, c) in enumerate(zip(W, b, recon, colors)):
        style = "-" if r >= common.LEARNT else "--"
        ax.annotate("", xy=w, xytext=(0, 0),
                    arrowprops=dict(arrowstyle="-|>", color=c, lw=1.6, ls=style, shrinkA=0, shrinkB=0))
        ax.text(*(w * 1.08), str(i), color=c, ha="center", va="center", fontsize=9)
        handles.append(Line2D([], [], color=c, ls=style, label=f"{i}: recon {r:.2f}, b {bi:+.2f}"))
    r = 1.2 * max(float(np.max(np.linalg.norm(W, axis=1), initial=0)), 1e-3)
    ax.set(xlim=(-r, r), ylim=(-r, r), xlabel="latent 0", ylabel="latent 1")
    ax.set_box_aspect(1)  # square box and equal ranges: equal scales
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    ax.axvline(0, color="0.85", lw=0.5, zorder=0)
    key.axis("off")
    key.legend(handles=handles, loc="upper left", fontsize=8, frameon=False,
               title="feature (dashed: unlearnt)", title_fontsize=8)


def draw_gram(fig, ax, W, b):
    n = len(b)
    M = np.column_stack([W @ W.T, b])
    vmax = max(float(np.nanmax(np.abs(M))), 1e-6)
    im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.axvline(n - 0.5, color="k", lw=1.5)
    ax.set_xticks(range(n + 1), [str(i) for i in range(n)] + ["b"])
    ax.set_yticks(range(n))
    ax.set(xlabel="feature j", ylabel="feature i")
    if n <= ANNOTATE_MAX:
        for (i, j), v in np.ndenumerate(M):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(v) > 0.6 * vmax else "black")
    fig.colorbar(im, ax=ax, label="W_i . W_j   (last column: b_i)", shrink=0.85)


def describe(ds, run, index):
    coords = common.describe_coords({d: run[d].values for d in common.grid_dims(ds)})
    outcome = common.outcome_name(ds, float(run["outcome"])) if "outcome" in run else ""
    recovered = " (recovered)" if "recovered" in run and int(run["recovered"]) == 1 else ""
    return f"run {index}: {coords}   [{outcome}{recovered}]"


def render(ds, sel=(), outcome=None):
    """The latent plane and W^T W of the first finished run matching sel and outcome."""
    index, run = pick_run(ds, sel, outcome)
    W, b, recon = run_arrays(run)
    colors = common.feature_colors(len(b))
    fig = common.new_figure(*SIZE)
    left, key, right = fig.subplots(1, 3, width_ratios=[1.0, 0.3, 0.9])  # key: the legend
    draw_plane(left, key, W, b, recon, colors)
    draw_gram(fig, right, W, b)
    fig.suptitle(describe(ds, run, index), fontsize=10)
    left.set_title("features W_i and activation zones", fontsize=10)
    right.set_title("W^T W (+ b)", fontsize=10)
    return fig


def render_side_by_side(ds, picks):
    """One column per (title, W, b, recon) in picks: the latent plane above W^T W, all with
    the same feature colours."""
    fig = common.new_figure(PANEL_SIZE[0] * len(picks), PANEL_SIZE[1])
    grid = fig.subplots(3, len(picks), squeeze=False, height_ratios=[1.0, 0.32, 0.9])
    for col, (title, W, b, recon) in enumerate(picks):
        plane, key, gram = grid[:, col]
        draw_plane(plane, key, W, b, recon, common.feature_colors(len(b)))
        draw_gram(fig, gram, W, b)
        plane.set_title(title, fontsize=9)
    return fig


def run(args):
    common.save_figure(render(common.open_dataset(args.file), args.sel, args.outcome), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="latent.png")

if __name__ == "__main__":
    cli.run_module(main)
