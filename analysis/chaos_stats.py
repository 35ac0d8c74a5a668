"""Chaos statistics over two grid axes: Lyapunov map, recovery label, box-counting dimension, and the uncertainty exponent per region.

    python3 -m analysis.chaos_stats OUT.h5 [--x lr] [--y bias_delta]
        [--label perfect|recovered] [--reduce mean|median] [--base 2|3]
        [--region '[NAME:] lr in [a, b], bias_delta in [c, d]']... [--split OUTCOME]
        [--method auto|twin|grid] [--max-eps CELLS] [--bootstrap N]
        [--logx] [--logy] [--sel AXIS=VALUE]... [-o chaos_stats.png]

Panels: (a) the largest Lyapunov exponent of the twin runs (`lyapunov`, Benettin, reduced over the
other axes; diverging colours centred at 0), (b) the binary label (default: the final
outcome is perfect, i.e. a run that started from a failure state recovered; `recovered`:
the engine's plateau-then-perfect flag) with its boundary cells shaded, (c) box counting
of those boundary cells: log N(s) against log(1/s), with the least-squares line whose
slope is the box-counting dimension. Over other axes the label is the majority of the
finished runs of a cell (a tie counts as 0). Prints the dimension and the Lyapunov summary
(share of runs with Lyapunov > 0 with a 95 % Wilson interval, median Lyapunov). A file without
twin runs (no `lyapunov`, or all NaN) gets panels (b) and (c) only.

Then, per region (a box in settings, from --region or from `# region NAME: ...` comment
lines of the sweep config; default: the whole file), the uncertainty exponent: the
fraction f(eps) of runs that end on the other side of the split (--split, default
perfect vs not) when moved by eps, from each run's `twin_outcome` over the `twin_eps`
axis, or, without twins, from neighbouring cells eps apart on the map (eps in grid
cells); alpha of f ~ eps^alpha by least squares in log-log, with a bootstrap interval,
and a verdict: flat (alpha ~ 0, riddled or fully mixed) or falling like eps (alpha ~ 1,
a smooth boundary). A file with a `sample` axis gets the exponent only (no map).
"""
import re

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Patch

from . import cli, common
from .chaos_map import draw_map, pick_axes

PROG = "analysis.chaos_stats"
SIZE_THREE = (17.0, 5.0)  # inches: Lyapunov map, label map, box counting
SIZE_TWO = (12.0, 5.0)  # inches: without Lyapunov
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
                   help="Lyapunov over the axes not shown (default: mean)")
    p.add_argument("--base", type=int, choices=[2, 3], default=2,
                   help="box sizes are powers of this (default: 2)")
    p.add_argument("--region", action="append", default=[], metavar="'[NAME:] lr in [a, b], bias_delta in [c, d]'",
                   help="a box in two settings for the uncertainty exponent; repeatable (default: the config's "
                        "'# region NAME: ...' comment lines, else the whole file)")
    p.add_argument("--split", default="perfect", metavar="OUTCOME",
                   help="uncertain = ends on the other side of OUTCOME vs not (default: perfect)")
    p.add_argument("--method", choices=["auto", "twin", "grid"], default="auto",
                   help="twin: each run against its twin_outcome over the twin_eps axis; grid: neighbouring "
                        "cells of the outcome map at eps grid cells (default: twin when the file has twins)")
    p.add_argument("--max-eps", type=int, default=None, metavar="CELLS",
                   help="grid method: largest eps in grid cells (default: a quarter of the region's map)")
    p.add_argument("--bootstrap", type=int, default=BOOTSTRAP, metavar="N",
                   help=f"resamples for the 95 %% interval of alpha (default: {BOOTSTRAP}; seed 0)")
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


def lyapunov_values(ds):
    """Finite Lyapunov of finished runs (1-D numpy array), or None when the file has no Lyapunov."""
    if "lyapunov" not in ds.variables:
        return None
    v = common.masked(ds, "lyapunov").values.ravel()
    v = v[np.isfinite(v)]
    return v if v.size else None


def lyapunov_summary(values):
    """dict: runs, positive, fraction, lo, hi, median."""
    n, k = int(values.size), int(np.count_nonzero(values > 0))
    lo, hi = common.wilson(k, n)
    return dict(runs=n, positive=k, fraction=k / n, lo=float(lo), hi=float(hi), median=float(np.median(values)))


def analyse(ds, x=None, y=None, label="perfect", reduce="mean", base=2, sel=()):
    """The chaos statistics of ds over grid axes x and y, as a Dataset (attrs: x, y, over,
    which, base, dim; variables: the selected runs' axes, `label` and `boundary` over
    (y, x), `counts` over `box_size`, and with twin runs `lyapunov` over (x, y) with the
    summary of every finished run's Lyapunov in its attrs)."""
    x, y = pick_axes(common.grid_dims(ds), x, y)
    ds = common.prepare(ds, sel, need=["outcome" if label == "perfect" else "recovered"], sort=(x, y))
    labels, over = label_map(ds, label, (x, y))
    labels = labels.transpose(y, x)  # rows: y, columns: x; box tiling from (x0, y0)
    boundary = boundary_cells(labels.values)
    dim, sizes, counts = box_counting_dimension(boundary, base)
    out = xr.Dataset({"label": labels, "boundary": (labels.dims, boundary),
                      "counts": ("box_size", counts)}, coords={"box_size": sizes})
    out.attrs.update(x=x, y=y, over=list(over), which=label, base=base, dim=dim)
    lyapunov = lyapunov_values(ds)
    if lyapunov is not None:
        out["lyapunov"], lyapunov_label = common.reduce(ds, "lyapunov", (x, y), reduce)
        out["lyapunov"].attrs.update(lyapunov_summary(lyapunov), long_name=lyapunov_label)
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
    if "lyapunov" in r:
        s = r["lyapunov"].attrs
        lines.append(f"Lyapunov: {s['runs']} runs, fraction > 0: {s['fraction']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}], "
                     f"median {s['median']:.4g} 1/step")
    else:
        lines.append("Lyapunov: none in this file (no twin runs: 'lyapunov' missing or all NaN); "
                     "drawing the label map and box counting only")
    return lines


# ----------------------------------------------------------------------------- uncertainty exponent
#
# A run is "uncertain at scale eps" when a change of size eps moves it to the other side
# of a split of the outcomes (default: perfect or not). The fraction f(eps) of uncertain
# runs scales as eps^alpha: alpha = 1 for a smooth boundary (only runs within eps of it
# are uncertain), alpha = d - D for a boundary of box dimension D in d settings, and
# alpha = 0 where outcomes are mixed at every scale (a riddled or random region).

FLAT_ALPHA = 0.25  # below: f(eps) stays flat over the eps range
SMOOTH_ALPHA = 0.75  # above: f(eps) falls like eps
BOOTSTRAP = 1000  # resamples for the interval of alpha
INTERVAL = (2.5, 97.5)  # percentiles: a 95 % interval
EPS_AXIS = "twin_eps"  # the dimension of a twin.eps grid axis
REGION_TERM = re.compile(r"\s*([A-Za-z_]\w*)\s+in\s+\[\s*([^,\]]+?)\s*,\s*([^\]]+?)\s*\]\s*(?:,|$)")
REGION_COMMENT = re.compile(r"^\s*(?:#|//)\s*region\s+([A-Za-z_][\w-]*)\s*:(.*)$")


def parse_region(text, name=None):
    """'[NAME:] lr in [a, b], bias_delta in [c, d]' -> (name, {setting: (lo, hi)})."""
    head, colon, rest = text.partition(":")
    if colon and re.fullmatch(r"\s*[A-Za-z_][\w-]*\s*", head) and " in " not in head:
        name, text = head.strip(), rest
    bounds, pos = {}, 0
    text = text.strip()
    while pos < len(text):
        m = REGION_TERM.match(text, pos)
        if not m:
            raise common.AnalysisError(f"bad region '{text}' (expected: NAME: lr in [a, b], bias_delta in [c, d])")
        try:
            lo, hi = float(m[2]), float(m[3])
        except ValueError:
            raise common.AnalysisError(f"bad region '{text}': bounds of {m[1]} are not numbers") from None
        if not lo <= hi:
            raise common.AnalysisError(f"bad region '{text}': {m[1]} in [{m[2]}, {m[3]}] is empty")
        bounds[m[1]] = (lo, hi)
        pos = m.end()
    if not bounds:
        raise common.AnalysisError(f"bad region '{text}' (no 'SETTING in [lo, hi]' term)")
    return name, bounds


def regions_in_config(text):
    """Regions written in a sweep config as comments: `# region NAME: lr in [a, b], ...`
    (libconfig ignores them; the output keeps the config text, so they travel with it)."""
    found = []
    for line in str(text or "").splitlines():
        m = REGION_COMMENT.match(line)
        if m:
            found.append(parse_region(m[2], m[1]))
    return found


def regions_for(ds, specs):
    """[(name, bounds)] from --region texts, else from the file's config text, else the whole file."""
    if specs:
        regions = [parse_region(t) for t in specs]
        regions = [(n or f"region{k + 1}", b) for k, (n, b) in enumerate(regions)]
    else:
        regions = regions_in_config(common.provenance(ds).get("config", ""))
    names = [n for n, _ in regions]
    if len(set(names)) != len(names):
        raise common.AnalysisError(f"region names repeat: {', '.join(names)}")
    return regions or [("all", {})]


def region_mask(ds, bounds):
    """True for the runs of ds inside the box (coordinates over grid axes or over `sample`)."""
    mask = xr.DataArray(True)
    for key, (lo, hi) in bounds.items():
        if key not in ds.coords:
            raise common.AnalysisError(f"region: unknown setting '{key}' (coordinates: {', '.join(ds.coords)})")
        mask = mask & (ds[key] >= lo) & (ds[key] <= hi)
    return mask


def split_label(ds, name="outcome", split="perfect"):
    """Per run: 1.0 where variable `name` (outcome codes) is `split`, 0.0 where not, NaN where
    the run is not done (or the value is missing)."""
    value = common.masked(ds, name)
    return (value == common.outcome_code(ds, split)).astype(float).where(value.notnull())


def grid_uncertain(label, eps):
    """(uncertain, assessed) cell counts of a label array (..., rows, cols; 1/0/NaN) at
    distance eps in grid cells: a cell is assessed when it and its four neighbours at
    distance eps along the two last axes exist and have a label, and uncertain when one
    of those neighbours' labels differs from its own. Leading axes are replicates."""
    a = np.asarray(label, dtype=float)
    r, c, e = a.shape[-2], a.shape[-1], int(eps)
    if e < 1 or 2 * e >= r or 2 * e >= c:
        return 0, 0
    centre = a[..., e:r - e, e:c - e]
    around = [a[..., :r - 2 * e, e:c - e], a[..., 2 * e:, e:c - e], a[..., e:r - e, :c - 2 * e], a[..., e:r - e, 2 * e:]]
    ok = np.isfinite(centre)
    differs = np.zeros(centre.shape, dtype=bool)
    for n in around:
        ok &= np.isfinite(n)
        differs |= n != centre
    return int(np.count_nonzero(differs & ok)), int(np.count_nonzero(ok))


def grid_eps(shape, max_eps=None):
    """Distances 1, 2, 4, ... up to min(rows, cols) / 4 grid cells (and up to max_eps)."""
    eps = box_sizes(shape[-2:], 2)
    return eps[eps <= max_eps] if max_eps else eps


def loglog_slope(eps, f):
    """Least-squares slope of log f against log eps over the points with f > 0, along the
    last axis (f may carry leading axes: one slope each); NaN with fewer than two points."""
    f = np.asarray(f, dtype=float)
    x = np.broadcast_to(np.log(np.asarray(eps, dtype=float)), f.shape)
    use = (f > 0) & np.isfinite(x)
    w = use.astype(float)
    count = w.sum(-1)
    y = np.log(np.where(use, f, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (w * np.where(use, x, 0)).sum(-1, keepdims=True) / count[..., None]
        ym = (w * y).sum(-1, keepdims=True) / count[..., None]
        dx = np.where(use, x - xm, 0.0)
        slope = (dx * (y - ym)).sum(-1) / (dx * dx).sum(-1)
    return np.where((count >= 2) & np.isfinite(slope), slope, np.nan)


def fit_alpha(eps, uncertain, assessed, n_boot=BOOTSTRAP, seed=0):
    """(alpha, lo, hi): the log-log slope of f = uncertain / assessed against eps, and its
    95 % bootstrap interval. Each f(eps) is resampled from its own runs or cells with
    replacement (for 0/1 indicators: a binomial draw), so the interval covers the counting
    noise of f; on a grid, neighbouring cells are correlated and the interval is narrower
    than the spread between independent maps would be."""
    eps = np.asarray(eps, dtype=float)
    k, n = np.asarray(uncertain, dtype=float), np.asarray(assessed, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n > 0, k / n, np.nan)
    alpha = float(loglog_slope(eps, f))
    if not np.isfinite(alpha) or n_boot <= 0:
        return alpha, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.binomial(n.astype(np.int64), np.nan_to_num(f), size=(int(n_boot), f.size))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = loglog_slope(eps, np.where(n > 0, draws / n, np.nan))
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        return alpha, float("nan"), float("nan")
    lo, hi = np.percentile(boot, INTERVAL)
    return alpha, float(lo), float(hi)


def verdict(alpha, lo, hi, uncertain):
    """What f(eps) does over the eps range, in words (alpha and its interval lo, hi)."""
    if not np.asarray(uncertain).any():
        return "no boundary: one side of the split throughout"
    if not np.isfinite(alpha):
        return "undefined: alpha needs f > 0 at two eps values or more"
    if lo <= FLAT_ALPHA and hi >= SMOOTH_ALPHA:
        return "undecided: the interval reaches both flat and falling like eps (more runs or eps values)"
    if alpha < FLAT_ALPHA:
        return "flat: riddled or fully mixed"
    if alpha > SMOOTH_ALPHA:
        return "falls like eps: a smooth boundary"
    return "falls slower than eps: a fractal boundary"


def twin_counts(ds, mask, split, eps_axis):
    """(eps values, uncertain, assessed) from twin_outcome against outcome, per eps value."""
    differs = split_label(ds, "outcome", split) != split_label(ds, "twin_outcome", split)
    ok = split_label(ds, "outcome", split).notnull() & split_label(ds, "twin_outcome", split).notnull() & mask
    over = [d for d in ok.dims if d != eps_axis]
    k = (differs & ok).sum(over)
    n = ok.sum(over)
    if eps_axis in ok.dims:
        return ds[eps_axis].values.astype(float), k.values.astype(int), n.values.astype(int)
    return np.array([np.nan]), np.atleast_1d(k.values).astype(int), np.atleast_1d(n.values).astype(int)


def region_map(ds, bounds, split, x, y):
    """The split label on the (y, x) grid of the region: (labels over (others..., y, x),
    the majority label over the other axes (y, x) for box counting)."""
    keep = {d: np.flatnonzero(((ds[d] >= bounds[d][0]) & (ds[d] <= bounds[d][1])).values)
            for d in (x, y) if d in bounds}
    label = split_label(ds.isel(keep), "outcome", split)
    rest = [d for d in label.dims if d not in (x, y)]
    share = label.mean(rest, skipna=True) if rest else label
    majority = (share > 0.5).astype(float).where(share.notnull()).transpose(y, x).values
    return label.transpose(*rest, y, x).values, majority


def grid_counts(labels, max_eps=None):
    """(eps in grid cells, uncertain, assessed) of a label array (replicates..., y, x)."""
    eps = grid_eps(labels.shape, max_eps)
    counts = np.array([grid_uncertain(labels, e) for e in eps], dtype=int).reshape(-1, 2)
    return eps.astype(float), counts[:, 0], counts[:, 1]


def uncertainty(ds, regions=(), split="perfect", method="auto", x=None, y=None, eps_axis=EPS_AXIS,
                max_eps=None, n_boot=BOOTSTRAP, seed=0):
    """The uncertainty exponent per region, as a Dataset over (region, eps): `uncertain`,
    `assessed`, `f`; over region: `alpha`, `alpha_lo`, `alpha_hi` (95 % bootstrap),
    `verdict`, `box_dim` (box counting of the region's boundary cells on the x-y map; NaN
    with a `sample` axis or a region bounded in other settings),
    `bounds` (text). attrs: method, split, x, y, eps_units.

    regions: [(name, {setting: (lo, hi)})]; empty: the whole file. method "twin" compares
    each run's outcome with its twin's (`twin_outcome`, eps = the `twin_eps` axis); "grid"
    compares neighbouring cells of the outcome map over two grid axes x and y (eps in grid
    cells, up to max_eps); "auto" takes "twin" when the file has finished twins. Every
    axis other than x and y (or eps) holds replicates: their runs or maps are pooled.
    """
    common.require(ds, "outcome")
    common.outcome_code(ds, split)
    has_twins = "twin_outcome" in ds.variables and bool(common.masked(ds, "twin_outcome").notnull().any())
    if method == "auto":
        method = "twin" if has_twins else "grid"
    if method == "twin" and not has_twins:
        raise common.AnalysisError("no finished twin runs in this file ('twin_outcome' missing or empty): use the grid method")
    regions = list(regions) or [("all", {})]
    dims = common.grid_dims(ds)
    if method == "grid" and "sample" in dims:
        raise common.AnalysisError("no finished twin runs with a `twin_outcome` in this file, and the grid method "
                                   "needs a grid: a `sample` axis has no neighbours")
    if "sample" not in dims:
        x, y = pick_axes(dims, x, y)
        ds = ds.sortby([d for d in (x, y) if common.is_numeric(ds[d].values)])
    per_region = []
    for name, bounds in regions:
        box = float("nan")
        outside = [key for key in bounds if key not in (x, y)]
        if method == "grid" and outside:
            raise common.AnalysisError(f"region {name}: '{outside[0]}' is not one of the map axes {x}, {y}")
        if "sample" not in dims and not outside:  # a box of the map: count its boundary's boxes
            labels, majority = region_map(ds, bounds, split, x, y)
            box = box_counting_dimension(boundary_cells(majority))[0]
        if method == "grid":
            eps, k, n = grid_counts(labels, max_eps)
        else:
            eps, k, n = twin_counts(ds, region_mask(ds, bounds), split, eps_axis)
        alpha, lo, hi = fit_alpha(eps, k, n, n_boot, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(n > 0, k / n, np.nan)
        text = ", ".join(f"{key} in [{common.fmt(a)}, {common.fmt(b)}]" for key, (a, b) in bounds.items()) or "everything"
        per_region.append(xr.Dataset(
            {"uncertain": ("eps", k), "assessed": ("eps", n), "f": ("eps", f),
             "alpha": alpha, "alpha_lo": lo, "alpha_hi": hi, "verdict": verdict(alpha, lo, hi, k), "box_dim": box,
             "bounds": text}, coords={"eps": eps}).expand_dims(region=[name]))
    out = xr.concat(per_region, "region", join="outer", fill_value={"uncertain": 0, "assessed": 0})
    out.attrs.update(method=method, split=split, x=x or "", y=y or "",
                     eps_units="grid cells" if method == "grid" else eps_axis)
    return out


def uncertainty_lines(u):
    a = u.attrs
    where = f"neighbours in the {a['x']} x {a['y']} map" if a["method"] == "grid" else "each run against its twin"
    lines = [f"uncertainty exponent: split {a['split']} vs not; method {a['method']} ({where}); "
             f"eps in {a['eps_units']}; f(eps) ~ eps^alpha, 95 % bootstrap interval"]
    for r in u["region"].values:
        s = u.sel(region=r)
        keep = s["assessed"].values > 0
        eps = s["eps"].values[keep]
        lines.append(f"region {r} ({s['bounds'].item()}):")
        rows = [["eps"] + [common.fmt(e) for e in eps],
                ["f(eps)"] + [f"{v:.4g}" for v in s["f"].values[keep]],
                ["runs"] + [str(v) for v in s["assessed"].values[keep]]]
        lines += ["  " + line for line in common.format_table(rows[0], rows[1:])]
        alpha = s["alpha"].item()
        text = (f"{alpha:.3f} [{s['alpha_lo'].item():.3f}, {s['alpha_hi'].item():.3f}]"
                if np.isfinite(alpha) else "undefined")
        box = s["box_dim"].item()
        box = f"; box-counting dimension {box:.3f}" if np.isfinite(box) else ""
        lines.append(f"  alpha = {text}: {s['verdict'].item()}{box}")
    return lines


# ----------------------------------------------------------------------------- figure


def render(r, ds, logx=False, logy=False, reduce="mean"):
    a = r.attrs
    x, y, has_lyapunov = a["x"], a["y"], "lyapunov" in r
    cells = common.map_cells(ds, x, y, logx, logy)
    fig = common.new_figure(*(SIZE_THREE if has_lyapunov else SIZE_TWO))
    axes = list(fig.subplots(1, 3 if has_lyapunov else 2))
    over = f" ({reduce} over {', '.join(a['over'])})" if a["over"] else ""

    if has_lyapunov:
        ax = axes.pop(0)
        lyapunov = r["lyapunov"]
        finite = np.abs(lyapunov.values[np.isfinite(lyapunov.values)])
        half = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=common.NAN_COLOR)
        mesh = draw_map(ax, ds, lyapunov, x, y, cells, cmap=cmap, norm=Normalize(-half, half))
        ticks(ax, ds, x, y)
        fig.colorbar(mesh, ax=ax, label=lyapunov.attrs["long_name"])
        s = lyapunov.attrs
        ax.set_title(f"(a) Lyapunov{over}\n{s['fraction']:.0%} of {s['runs']} runs > 0, "
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
    ds = common.open_dataset(args.file)
    if "sample" in common.grid_dims(ds):  # points drawn at random: no map, no boxes
        u = uncertainty(common.prepare(ds, args.sel, need=["outcome"]), regions_for(ds, args.region), args.split,
                        args.method, eps_axis=EPS_AXIS, n_boot=args.bootstrap)
        print("\n".join(uncertainty_lines(u)))
        print(f"no map drawn: the runs lie at random points (`sample` axis); {args.output} not written")
        return
    r, ds = analyse(ds, args.x, args.y, args.label, args.reduce, args.base, args.sel)
    print("\n".join(report_lines(r)))
    u = uncertainty(ds, regions_for(ds, args.region), args.split, args.method, r.attrs["x"], r.attrs["y"],
                    max_eps=args.max_eps, n_boot=args.bootstrap)
    print("\n".join(uncertainty_lines(u)))
    common.save_figure(render(r, ds, args.logx, args.logy, args.reduce), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="chaos_stats.png")

if __name__ == "__main__":
    cli.run_module(main)
