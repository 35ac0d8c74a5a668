"""Chaos statistics over two settings, per region: the uncertainty exponent, box counting of the boundary, the Lyapunov exponent.

    python3 -m aesweep.chaos_stats OUT.h5 [--x lr] [--y bias_delta]
        [--split perfect|recovered|OUTCOME] [--reduce mean|median] [--base 2|3]
        [--region '[NAME:] lr in [a, b], bias_delta in [c, d]']...
        [--method auto|twin|grid] [--max-eps CELLS] [--bootstrap N]
        [--logx] [--logy] [--sel AXIS=VALUE]... [-o chaos_stats.png]

A region is a box in two settings, from --region or from `# region NAME: ...` comment
lines of the sweep config (the output keeps its config); default: the whole file. Every
run is labelled by the split (--split, default: its final outcome is perfect or not;
`recovered`: the engine's plateau-then-perfect flag; any outcome name). Per region:

- the uncertainty exponent: the fraction f(eps) of runs that end on the other side of the
  split when moved by eps, from each run's `twin_outcome` (`twin_recovered`) over the
  `twin_eps` axis, or, without twins, from neighbouring cells eps apart on the map (eps in
  grid cells); alpha of f ~ eps^alpha by least squares in log-log, with a 95 % bootstrap
  interval over the region's runs (twins) or replicate maps, and a verdict in words: flat
  (alpha ~ 0: riddled or fully mixed), falling like eps (alpha ~ 1: a smooth boundary), or
  in between (a fractal boundary);
- the box-counting dimension of the boundary cells of the split's map inside the region;
- the largest Lyapunov exponent of the runs (`lyapunov`, Benettin's renormalised twins;
  an older file's `ftle` otherwise): quantiles and the share > 0.

Figure: (a) the Lyapunov map (reduced over the other axes, diverging colours centred at
0; left out when the file has none), (b) the split's map (majority of the finished runs
of a cell over the other axes; a tie counts as 0) with its boundary cells shaded and the
regions outlined, (c) box counting per region: log N(s) against log(1/s) with the
least-squares lines whose slopes are the dimensions, (d) f(eps) per region, log-log. A
file with a `sample` axis (random points) gets the printed statistics only.
"""
import re

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Patch, Rectangle

from . import cli, common
from .chaos_map import draw_map
from .common import pick_axes

PROG = "aesweep.chaos_stats"
SIZE_FOUR = (22.0, 5.0)  # inches: Lyapunov map, label map, box counting, f(eps)
SIZE_THREE = (17.0, 5.0)  # inches: without the Lyapunov map
TICKS_MAX = 8  # a labelled tick per value on map axes up to this length
BOUNDARY_SHADE = (0.0, 0.0, 0.0, 0.45)  # drawn over boundary cells of the label map
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)  # of the Lyapunov exponent per region


def arguments(p):
    cli.add_map_axes(p)
    p.add_argument("--split", "--label", default="perfect", metavar="OUTCOME",
                   help="label of a run: its final outcome is OUTCOME or not, or `recovered`: the engine's "
                        "plateau-then-perfect flag (default: perfect; --label is the same option)")
    p.add_argument("--reduce", choices=["mean", "median"], default="mean",
                   help="Lyapunov map over the axes not shown (default: mean)")
    p.add_argument("--base", type=int, choices=[2, 3], default=2,
                   help="box sizes are powers of this (default: 2)")
    p.add_argument("--region", action="append", default=[], metavar="'[NAME:] lr in [a, b], bias_delta in [c, d]'",
                   help="a box in two settings; repeatable (default: the config's "
                        "'# region NAME: ...' comment lines, else the whole file)")
    p.add_argument("--method", choices=["auto", "twin", "grid"], default="auto",
                   help="twin: each run against its twin over the twin_eps axis; grid: neighbouring "
                        "cells of the map at eps grid cells (default: twin when the file has twins at "
                        "two eps or more, or a sample axis)")
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


# ----------------------------------------------------------------------------- labels and Lyapunov exponents


def split_label(ds, split="perfect", twin=False):
    """Per run (twin: per twin): 1.0 on the `split` side, 0.0 on the other, NaN where the run
    is not done. split: an outcome name (from `outcome` / `twin_outcome`, which share their
    codes) or `recovered` (the `recovered` / `twin_recovered` flag)."""
    if split == "recovered":
        value = common.masked(ds, "twin_recovered" if twin else "recovered")
        return (value == 1).astype(float).where(value.notnull())
    value = common.masked(ds, "twin_outcome" if twin else "outcome")
    return (value == split_code(ds, split)).astype(float).where(value.notnull())


def split_code(ds, split):
    try:
        return common.outcome_code(ds, split)
    except common.AnalysisError as e:
        raise common.AnalysisError(f"{e}, or recovered") from None


def majority(label, keep):
    """1/0/NaN over the dims `keep`: the majority of the finished runs over the other dims
    (a tie counts as 0; NaN where none is finished)."""
    over = common.others(label, keep)
    share = label.mean(over, skipna=True) if over else label
    return (share > 0.5).astype(float).where(share.notnull())


def lyapunov_name(ds):
    """`lyapunov` (Benettin's renormalised twins), or an older file's `ftle`; None when
    neither has a finite value (no state twins: none, or setting twins only)."""
    return next((v for v in ("lyapunov", "ftle") if v in ds.variables and bool(np.isfinite(ds[v]).any())), None)


def lyapunov_summary(ds, mask):
    """dict of the finite Lyapunov exponents of the finished runs where `mask`: runs,
    positive, fraction (> 0), lo, hi (a 95 % Wilson interval when the runs are replicates,
    NaN over deterministic grid cells), how (that rule in words), and the QUANTILES as q10,
    q25, ... (NaN without values). None when the file has no Lyapunov variable."""
    name = lyapunov_name(ds)
    if name is None:
        return None
    v = common.masked(ds, name).where(mask).values.ravel()
    v = v[np.isfinite(v)]
    k = int(np.count_nonzero(v > 0))
    replicates, how = common.pooled_statistic(ds, common.grid_dims(ds))
    lo, hi = common.wilson(k, v.size) if replicates and v.size else (np.nan, np.nan)
    q = np.quantile(v, QUANTILES) if v.size else np.full(len(QUANTILES), np.nan)
    out = dict(runs=int(v.size), positive=k, fraction=k / v.size if v.size else np.nan,
               lo=float(lo), hi=float(hi), how=how, variable=name)
    out.update({f"q{round(100 * p)}": float(x) for p, x in zip(QUANTILES, q)})
    return out


# ----------------------------------------------------------------------------- uncertainty exponent
#
# A run is "uncertain at scale eps" when a change of size eps moves it to the other side
# of a split of the outcomes (default: perfect or not). The fraction f(eps) of uncertain
# runs scales as eps^alpha: alpha = 1 for a smooth boundary (only runs within eps of it
# are uncertain), alpha = d - D for a boundary of box dimension D in d settings, and
# alpha = 0 where outcomes are mixed at every scale (a riddled or random region).

FLAT_ALPHA = 0.25  # below: f(eps) stays flat over the eps range
SMOOTH_ALPHA = 0.75  # above: f(eps) falls like eps
MIN_UNCERTAIN = 20  # fewer uncertain runs over all eps: too few to judge f(eps) by
BOOTSTRAP = 1000  # resamples for the interval of alpha
INTERVAL = (2.5, 97.5)  # percentiles: a 95 % interval
BOOT_CHUNK = 100  # resamples drawn at once (memory: BOOT_CHUNK x units x eps counts)
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
    95 % bootstrap interval.

    uncertain and assessed are counts over eps (1-D) or per replicate unit over (unit, eps):
    a run and its twins at every eps, or a replicate map. With units, the bootstrap draws
    units with replacement, keeping each unit's counts over eps together (they share a run
    or a map, so f at neighbouring eps is correlated and resampled as such). With 1-D
    counts (one map) each f(eps) is drawn as a binomial of its own cells: that covers the
    counting noise only; neighbouring cells are correlated and the interval is narrower
    than the spread between independent maps would be."""
    eps = np.asarray(eps, dtype=float)
    k, n = np.asarray(uncertain, dtype=np.int64), np.asarray(assessed, dtype=np.int64)
    total_k, total_n = (k, n) if k.ndim == 1 else (k.sum(0), n.sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(total_n > 0, total_k / total_n, np.nan)
    alpha = float(loglog_slope(eps, f))
    if not np.isfinite(alpha) or n_boot <= 0:
        return alpha, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if k.ndim == 1:
        bk, bn = rng.binomial(n, np.nan_to_num(f), size=(int(n_boot), f.size)), n
    else:  # units drawn with replacement, in chunks of BOOT_CHUNK resamples
        parts = []
        for start in range(0, int(n_boot), BOOT_CHUNK):
            pick = rng.integers(0, k.shape[0], size=(min(BOOT_CHUNK, int(n_boot) - start), k.shape[0]))
            parts.append((k[pick].sum(1), n[pick].sum(1)))
        bk, bn = (np.concatenate(p) for p in zip(*parts))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = loglog_slope(eps, np.where(bn > 0, bk / bn, np.nan))
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        return alpha, float("nan"), float("nan")
    lo, hi = np.percentile(boot, INTERVAL)
    return alpha, float(lo), float(hi)


def verdict(alpha, lo, hi, uncertain):
    """What f(eps) does over the eps range, in words, judged by the interval [lo, hi] of
    alpha (by alpha itself when there is no interval): flat when all of it lies below
    FLAT_ALPHA, falling like eps when all of it lies above SMOOTH_ALPHA, in between
    (a fractal boundary) when all of it lies between, else undecided between those; no
    verdict from fewer than MIN_UNCERTAIN uncertain runs in all (f = 0 at an eps drops out
    of the log-log fit, so a handful of scattered runs would read as flat)."""
    total = int(np.asarray(uncertain).sum())
    if not total:
        return "no boundary: one side of the split throughout"
    if total < MIN_UNCERTAIN:  # the slope of a few scattered counts says nothing
        return f"too few uncertain runs to judge ({total} over every eps, fewer than {MIN_UNCERTAIN})"
    if not np.isfinite(alpha):
        return "undefined: alpha needs f > 0 at two eps values or more"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo = hi = alpha
    kinds = [("flat: riddled or fully mixed", -np.inf, FLAT_ALPHA),
             ("falls slower than eps: a fractal boundary", FLAT_ALPHA, SMOOTH_ALPHA),
             ("falls like eps: a smooth boundary", SMOOTH_ALPHA, np.inf)]
    reached = [text for text, a, b in kinds if lo < b and hi >= a]
    if len(reached) == 1:
        return reached[0]
    return ("undecided: the interval reaches " + " and ".join(t.split(":")[0] for t in reached)
            + " (more runs or eps values)")


def twin_counts(ds, mask, split, eps_axis):
    """(eps values, uncertain, assessed): per run of the region (unit) and eps value, 1/0
    whether the run and its twin fall on different sides of the split, and whether both
    are finished; over (unit, eps)."""
    run, twin = split_label(ds, split), split_label(ds, split, twin=True)
    ok = run.notnull() & twin.notnull() & mask
    differs = (run != twin) & ok
    if eps_axis in ok.dims:
        eps = ds[eps_axis].values.astype(float)
        ok, differs = (a.transpose(..., eps_axis) for a in (ok, differs))
    else:
        eps = np.array([np.nan])
    shape = (-1, eps.size)
    keep = ok.values.reshape(shape).any(1)  # units inside the region with a finished pair
    return eps, differs.values.reshape(shape)[keep].astype(int), ok.values.reshape(shape)[keep].astype(int)


def region_map(ds, bounds, split, x, y):
    """The split label on the (y, x) grid of the region: (labels over (others..., y, x),
    the majority label over the other axes (y, x) for box counting, the other axes)."""
    keep = {d: np.flatnonzero(((ds[d] >= bounds[d][0]) & (ds[d] <= bounds[d][1])).values)
            for d in (x, y) if d in bounds}
    label = split_label(ds.isel(keep), split)
    rest = common.others(label, (x, y))
    return label.transpose(*rest, y, x), majority(label, (x, y)).transpose(y, x).values, rest


def grid_counts(labels, rest, max_eps=None):
    """(eps in grid cells, uncertain, assessed) of a label array (others..., y, x): per
    replicate map (unit) over (unit, eps) when every other axis is a replicate axis and
    there are two maps or more, else summed over the maps, over eps."""
    eps = grid_eps(labels.shape, max_eps)
    maps = labels.values.reshape((-1,) + labels.shape[-2:])
    counts = np.array([[grid_uncertain(m, e) for e in eps] for m in maps], dtype=int).reshape(len(maps), eps.size, 2)
    if len(maps) < 2 or any(d not in common.REPLICATE_AXES for d in rest):
        counts = counts.sum(0)
    return eps.astype(float), counts[..., 0], counts[..., 1]


def interval_text(method, units):
    if units is None:
        return "binomial over the cells of one map (neighbouring cells are correlated: too narrow)"
    return f"bootstrap over {units} {'runs' if method == 'twin' else 'replicate maps'}"


def regional(ds, regions=(), split="perfect", method="auto", x=None, y=None, eps_axis=EPS_AXIS,
             max_eps=None, base=2, n_boot=BOOTSTRAP, seed=0):
    """The chaos statistics per region, as a Dataset over region:

    - over (region, eps): `uncertain`, `assessed`, `f`; over region: `alpha`, `alpha_lo`,
      `alpha_hi` (95 % bootstrap), `interval` (how it was drawn), `verdict` (words);
    - `box_dim` and over (region, box_size) `box_count` (-1: no such box size in the
      region): box counting of the boundary cells of the region's x-y map of the split
      (majority over the other axes); NaN with a `sample` axis or a region bounded in
      other settings;
    - with a Lyapunov variable: `lyap_runs`, `lyap_fraction` (> 0), `lyap_lo`, `lyap_hi`
      (Wilson, over replicates only) and over (region, quantile) `lyapunov`;
    - `bounds` (text). attrs: method, split, x, y, eps_units, base, lyapunov (variable name
      or ""), lyap_how.

    regions: [(name, {setting: (lo, hi)})]; empty: the whole file. method "twin" compares
    each run's side of the split with its twin's (eps = the `twin_eps` axis); "grid"
    compares neighbouring cells of the map over grid axes x and y (eps in grid cells, up to
    max_eps); "auto" takes "twin" when the file has finished twins over two eps values or
    more (or random points, which have no neighbours), else "grid".
    """
    common.require(ds, "outcome" if split != "recovered" else "recovered")
    if split != "recovered":
        split_code(ds, split)
    twin_var = "twin_recovered" if split == "recovered" else "twin_outcome"
    has_twins = twin_var in ds.variables and bool(common.masked(ds, twin_var).notnull().any())
    dims = common.grid_dims(ds)
    if method == "auto":  # twins at one eps give f at that eps only: then the map's neighbours
        many_eps = eps_axis in dims and ds.sizes[eps_axis] > 1
        method = "twin" if has_twins and (many_eps or "sample" in dims) else "grid"
    if method == "twin" and not has_twins:
        raise common.AnalysisError(f"no finished twin runs in this file ('{twin_var}' missing or empty): "
                                   "use the grid method")
    regions = list(regions) or [("all", {})]
    if method == "grid" and "sample" in dims:
        raise common.AnalysisError(f"no finished twin runs with a `{twin_var}` in this file, and the grid method "
                                   "needs a grid: a `sample` axis has no neighbours")
    if "sample" not in dims:
        x, y = pick_axes(dims, x, y)
        ds = ds.sortby([d for d in (x, y) if common.is_numeric(ds[d].values)])
    per_region, lyap_how = [], ""
    for name, bounds in regions:
        box, sizes, counts = float("nan"), np.zeros(0, int), np.zeros(0, int)
        outside = [key for key in bounds if key not in (x, y)]
        if method == "grid" and outside:
            raise common.AnalysisError(f"region {name}: '{outside[0]}' is not one of the map axes {x}, {y}")
        mask = region_mask(ds, bounds)
        if "sample" not in dims and not outside:  # a box of the map: count its boundary's boxes
            labels, major, rest = region_map(ds, bounds, split, x, y)
            box, sizes, counts = box_counting_dimension(boundary_cells(major), base)
        if method == "grid":
            eps, k, n = grid_counts(labels, rest, max_eps)
        else:
            eps, k, n = twin_counts(ds, mask, split, eps_axis)
        alpha, lo, hi = fit_alpha(eps, k, n, n_boot, seed)
        k_eps, n_eps = (k, n) if k.ndim == 1 else (k.sum(0), n.sum(0))
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(n_eps > 0, k_eps / n_eps, np.nan)
        text = ", ".join(f"{key} in [{common.fmt(a)}, {common.fmt(b)}]" for key, (a, b) in bounds.items()) or "everything"
        data = {"uncertain": ("eps", k_eps), "assessed": ("eps", n_eps), "f": ("eps", f),
                "alpha": alpha, "alpha_lo": lo, "alpha_hi": hi, "verdict": verdict(alpha, lo, hi, k_eps),
                "interval": interval_text(method, k.shape[0] if k.ndim == 2 else None),
                "box_dim": box, "box_count": ("box_size", counts), "bounds": text}
        lyap = lyapunov_summary(ds, mask)
        if lyap is not None:
            lyap_how = lyap["how"]
            data.update(lyap_runs=lyap["runs"], lyap_fraction=lyap["fraction"], lyap_lo=lyap["lo"],
                        lyap_hi=lyap["hi"], lyapunov=("quantile", [lyap[f"q{round(100 * p)}"] for p in QUANTILES]))
        per_region.append(xr.Dataset(data, coords={"eps": eps, "box_size": sizes, "quantile": list(QUANTILES)})
                          .expand_dims(region=[name]))
    out = xr.concat(per_region, "region", join="outer",
                    fill_value={"uncertain": 0, "assessed": 0, "box_count": -1, "f": np.nan})
    out.attrs.update(method=method, split=split, x=x or "", y=y or "", base=base, lyap_how=lyap_how,
                     lyapunov=lyapunov_name(ds) or "",
                     eps_units="grid cells" if method == "grid" else eps_axis)
    return out


def region_lines(u):
    a = u.attrs
    where = f"neighbours in the {a['x']} x {a['y']} map" if a["method"] == "grid" else "each run against its twin"
    lines = [f"split: {a['split']} vs not; uncertainty exponent by method {a['method']} ({where}); "
             f"eps in {a['eps_units']}; f(eps) ~ eps^alpha with a 95 % interval"]
    if a["lyapunov"]:
        lines.append(f"Lyapunov exponent: `{a['lyapunov']}` [1/step]; share > 0: {a['lyap_how']}")
    else:
        lines.append("Lyapunov exponent: none in this file (no finite `lyapunov` or `ftle`: no state twins)")
    for r in u["region"].values:
        s = u.sel(region=r)
        keep = s["assessed"].values > 0
        lines.append(f"region {r} ({s['bounds'].item()}):")
        rows = [["eps"] + [common.fmt(e) for e in s["eps"].values[keep]],
                ["f(eps)"] + [f"{v:.4g}" for v in s["f"].values[keep]],
                ["runs"] + [str(v) for v in s["assessed"].values[keep]]]
        lines += ["  " + line for line in common.format_table(rows[0], rows[1:])]
        alpha = s["alpha"].item()
        lines.append(f"  alpha = {alpha:.3f} [{s['alpha_lo'].item():.3f}, {s['alpha_hi'].item():.3f}] "
                     f"({s['interval'].item()}): {s['verdict'].item()}" if np.isfinite(alpha)
                     else f"  alpha: {s['verdict'].item()}")
        lines.append("  " + box_line(s, a["base"]))
        if a["lyapunov"]:
            lines.append("  " + lyapunov_line(s))
    return lines


def box_line(s, base):
    counts = s["box_count"].values
    sizes = s["box_size"].values[counts >= 0]
    counts = counts[counts >= 0]
    if not sizes.size:
        return "box counting: none (the region is no box of the map)"
    dim = s["box_dim"].item()
    if np.isfinite(dim):
        dim = f"{dim:.3f}"
    elif sizes.size < 2:
        dim = f"undefined: {sizes.size} box size(s) fit the region; two need {4 * base} cells a side"
    else:
        dim = "undefined: no boundary in the region"
    return (f"box counting (base {base}): s = {' '.join(map(str, sizes))}; N(s) = {' '.join(map(str, counts))}; "
            f"dimension {dim}")


def lyapunov_line(s):
    runs = int(s["lyap_runs"].item())
    if not runs:
        return "Lyapunov: no finite value in the region"
    q = " ".join(f"{v:.4g}" for v in s["lyapunov"].values)
    frac, lo, hi = (s[k].item() for k in ("lyap_fraction", "lyap_lo", "lyap_hi"))
    interval = f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else ""
    cuts = "/".join(str(round(100 * p)) for p in QUANTILES)
    return f"Lyapunov: {runs} runs, quantiles {cuts} %: {q}; fraction > 0: {frac:.3f}{interval}"


# ----------------------------------------------------------------------------- figure


def label_map(ds, split, x, y):
    """The split's map over (y, x) (majority over the other axes), its boundary cells, and
    the axes reduced over."""
    label = split_label(ds, split)
    over = common.others(label, (x, y))
    major = majority(label, (x, y)).transpose(y, x)
    return major, boundary_cells(major.values), over


def outline_regions(ax, regions, ds, x, y):
    """A dashed rectangle per region that is a box of the map (clipped to the map)."""
    for name, bounds in regions:
        if not bounds or any(key not in (x, y) for key in bounds):
            continue
        (x0, x1), (y0, y1) = ((max(lo, ds[d].values.min()), min(hi, ds[d].values.max()))
                              for d in (x, y) for lo, hi in [bounds.get(d, (-np.inf, np.inf))])
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, ls="--", ec="white"))
        ax.annotate(name, (x0, y1), xytext=(3, -11), textcoords="offset points", color="white", fontsize=8)


def render(u, ds, regions=(), logx=False, logy=False, reduce="mean"):
    a = u.attrs
    x, y, split, lyap = a["x"], a["y"], a["split"], a["lyapunov"]
    cells = common.map_cells(ds, x, y, logx, logy)
    fig = common.new_figure(*(SIZE_FOUR if lyap else SIZE_THREE))
    axes = list(fig.subplots(1, 4 if lyap else 3))
    major, boundary, over = label_map(ds, split, x, y)

    if lyap:
        ax = axes.pop(0)
        value, cbar = common.reduce(ds, lyap, (x, y), reduce)
        finite = np.abs(value.values[np.isfinite(value.values)])
        half = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=common.NAN_COLOR)
        mesh = draw_map(ax, ds, value, x, y, cells, cmap=cmap, norm=Normalize(-half, half))
        ticks(ax, ds, x, y)
        outline_regions(ax, regions, ds, x, y)
        fig.colorbar(mesh, ax=ax, label=cbar)
        lover = common.others(common.require(ds, lyap), (x, y))
        ax.set_title(f"(a) largest Lyapunov exponent `{lyap}`" + (f" ({reduce} over {', '.join(lover)})" if lover else "")
                     + "\ngrey: none (setting twins, no twin, not done)", fontsize=10)

    ax = axes.pop(0)
    names = [f"not {split}", split]
    colors = list(common.class_colors(("not recovered", "perfect")))
    draw_map(ax, ds, major, x, y, cells, cmap=ListedColormap(colors).with_extremes(bad=common.NAN_COLOR),
             vmin=-0.5, vmax=1.5)
    ticks(ax, ds, x, y)
    shade = np.ma.masked_where(~boundary, np.ones(boundary.shape))
    (xe, _, _), (ye, _, _) = cells
    ax.pcolormesh(xe, ye, shade, cmap=ListedColormap([BOUNDARY_SHADE]), vmin=0, vmax=1)
    outline_regions(ax, regions, ds, x, y)
    handles = [Patch(color=c, label=n) for c, n in zip(colors, names)]
    handles += [Patch(color=BOUNDARY_SHADE, label="boundary cell"), Patch(color=common.NAN_COLOR, label="not done")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    over = f" (majority over {', '.join(over)})" if over else ""
    ax.set_title(f"(b) {split}{over}\n{int(np.count_nonzero(boundary))} boundary cells", fontsize=10)

    ax = axes.pop(0)
    for k, r in enumerate(u["region"].values):
        s = u.sel(region=r)
        counts = s["box_count"].values
        ok = counts > 0
        if ok.sum() < 1:
            continue
        lx, ly = np.log(1.0 / s["box_size"].values[ok]), np.log(counts[ok])
        color = f"C{k % 10}"
        dim = s["box_dim"].item()
        ax.plot(lx, ly, "o", color=color, label=f"{r}: dimension " + (f"{dim:.3f}" if np.isfinite(dim) else "undefined"))
        if np.isfinite(dim):
            slope, intercept = np.polyfit(lx, ly, 1)
            ax.plot(lx[[0, -1]], slope * lx[[0, -1]] + intercept, "-", color=color)
    ax.set_xlabel("log(1/s)   (s: box side in cells)")
    ax.set_ylabel("log N(s)   (boxes holding a boundary cell)")
    legend_if_any(ax)
    ax.set_title(f"(c) box counting of the boundary per region, base {a['base']}", fontsize=10)

    ax = axes.pop(0)
    for k, r in enumerate(u["region"].values):
        s = u.sel(region=r)
        use = (s["assessed"].values > 0) & (s["f"].values > 0)
        if not use.any():
            continue
        eps, f = s["eps"].values[use], s["f"].values[use]
        alpha = s["alpha"].item()
        ax.plot(eps, f, "o-", color=f"C{k % 10}",
                label=f"{r}: alpha " + (f"{alpha:.2f} [{s['alpha_lo'].item():.2f}, {s['alpha_hi'].item():.2f}]"
                                         if np.isfinite(alpha) else "undefined"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"eps ({a['eps_units']})")
    ax.set_ylabel("f(eps): share of runs on the other side at eps")
    legend_if_any(ax)
    ax.set_title(f"(d) uncertainty exponent per region, method {a['method']}", fontsize=10)
    return fig


def legend_if_any(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "nothing to draw (see the printed lines)", transform=ax.transAxes, ha="center", fontsize=9)


def ticks(ax, ds, x, y):
    common.tick_each_value(ax, "x", ds, x, TICKS_MAX)
    common.tick_each_value(ax, "y", ds, y, TICKS_MAX)


def run(args):
    ds = common.open_dataset(args.file)
    sample = "sample" in common.grid_dims(ds)
    if not sample:
        args.x, args.y = pick_axes(common.grid_dims(ds), args.x, args.y)
    ds = common.prepare(ds, args.sel, need=["recovered" if args.split == "recovered" else "outcome"],
                        sort=() if sample else (args.x, args.y))
    regions = regions_for(ds, args.region)
    u = regional(ds, regions, args.split, args.method, args.x, args.y,
                 max_eps=args.max_eps, base=args.base, n_boot=args.bootstrap)
    print("\n".join(region_lines(u)))
    if sample:  # points drawn at random: no map, no boxes
        print(f"no map drawn: the runs lie at random points (`sample` axis); {args.output} not written")
        return
    common.save_figure(render(u, ds, regions, args.logx, args.logy, args.reduce), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="chaos_stats.png")

if __name__ == "__main__":
    cli.run_module(main)
