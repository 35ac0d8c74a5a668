"""Shared helpers of the analysis code: open a file, select runs, reduce, colours, plot basics.

matplotlib loads on the first figure or colour (pyplot()), so the text commands (summary,
census tables, aesweep.open) never import it.

Every script reads an aesweep output through xarray (engine "h5netcdf"), so dimensions
come by name: the grid axes are the dimensions of the per-run `done` variable, in grid
order; per-feature variables add `feature`, `W_final` adds `latent`.
"""
import json
import os
import re

import h5py
import numpy as np
import xarray as xr

DPI = 100
Z95 = 1.959963984540054  # two-sided 95 % normal quantile
LEARNT = 0.5  # feature i is learnt when Y_ii = recon_i >= 0.5
NAN_COLOR = "0.85"  # cells of runs not done yet
FIGURE_EXTENSIONS = (".png", ".pdf")
MAX_INT_TICKS = 20  # integer grid axes up to this length get a tick per value


class AnalysisError(Exception):
    """A user-facing error: printed as one line on stderr, exit status 2."""


# ----------------------------------------------------------------------------- files


def open_dataset(path, group=None):
    """The file (or one of its groups) as an xarray Dataset, or a clear AnalysisError.

    A file that a sweep is writing (HDF5 refuses the lock) is read without taking the lock;
    its runs not done yet have done == 0."""
    if not os.path.isfile(path):
        raise AnalysisError(f"no such file: {path}")
    if group is not None and has_group(path, group) is False:
        raise AnalysisError(f"{path} has no '{group}' group")
    try:
        return xr.open_dataset(path, engine="h5netcdf", group=group)
    except (OSError, KeyError, ValueError) as e:
        first = e
    try:  # locked by its writer: read through a handle that does not take the lock
        handle = h5py.File(path, "r", locking=False)
    except OSError:
        raise AnalysisError(f"cannot read {path}: {first}") from None
    try:
        ds = xr.open_dataset(handle, engine="h5netcdf", group=group)
    except (OSError, KeyError, ValueError) as e:
        handle.close()
        raise AnalysisError(f"cannot read {path}: {e}") from None
    close = ds._close

    def close_both():
        if close is not None:
            close()
        handle.close()

    ds.set_close(close_both)
    return ds


def has_group(path, group):
    """True/False when the file can be read, None when it cannot."""
    for lock in ({}, {"locking": False}):  # HDF5's default first: a handle open in this process may use it
        try:
            with h5py.File(path, "r", **lock) as f:
                return group in f and isinstance(f[group], h5py.Group)
        except OSError:
            continue
    return None


def require(ds, *names):
    for name in names:
        if name not in ds.variables:
            # an aesweep output keeps only the record fields its output.fields chose
            raise AnalysisError(f"missing variable '{name}' in file: not written (output.fields) or not a "
                                f"variable of aesweep outputs (has: {', '.join(sorted(ds.data_vars))})")
    return ds[names[0]] if len(names) == 1 else [ds[n] for n in names]


def grid_dims(ds):
    """The grid axes, in grid order (the dimensions of the per-run `done` flag)."""
    return list(require(ds, "done").dims)


def done_mask(ds):
    return require(ds, "done") == 1


def masked(ds, name):
    """Variable `name` with runs that are not done yet set to NaN."""
    return require(ds, name).where(done_mask(ds))


USAGE_RULE = re.compile(r"^(\S+) \((\S+)\) in (.+)$")


def distinct_mask(ds):
    """False for runs that repeat another run: they differ from it only along an axis whose
    setting they do not use (the engine writes where a setting is used on its coordinate,
    `used_only_where`: "train.optimizer (optimizer) in sgd"), and are not the first value
    along it. aesweep info counts the same runs, once each."""
    keep = xr.ones_like(done_mask(ds), dtype=bool)
    for dim in grid_dims(ds):
        rule = USAGE_RULE.match(str(ds[dim].attrs.get("used_only_where", "")))
        if not rule or ds.sizes[dim] < 2:
            continue
        key, by_dim, used = rule.group(1), rule.group(2), rule.group(3).split()
        if by_dim in ds.dims and by_dim in ds.coords:
            uses = xr.DataArray(np.isin([str(v) for v in ds[by_dim].values], used), dims=[by_dim])
        else:
            uses = xr.DataArray(str(config_value(ds, key, "")) in used)
        first = xr.DataArray(np.arange(ds.sizes[dim]) == 0, dims=[dim])
        keep = keep & (uses | first)
    return keep


def counted(ds, name):
    """Variable `name` over the runs a census counts: done, each distinct run once (NaN else)."""
    return require(ds, name).where(done_mask(ds) & distinct_mask(ds))


def label(da, fallback=None):
    """'long_name [units]' for axes and colorbars (units '1' or empty are left out)."""
    name = da.attrs.get("long_name", fallback or da.name)
    units = str(da.attrs.get("units", "")).strip()
    return f"{name} [{units}]" if units and units != "1" else str(name)


def format_table(header, rows):
    """Fixed-width text lines of a table (cells are strings, right-aligned)."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(line[c]) for line in [header] + rows) for c in range(len(header))]
    return ["  ".join(text.rjust(w) for text, w in zip(line, widths)) for line in [header] + rows]


def provenance(ds):
    """Root attributes, as strings, in file order."""
    return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in ds.attrs.items()}


def config(ds):
    """The settings of the sweep that wrote ds (its config_json attribute), {} without one."""
    try:
        return json.loads(str(ds.attrs["config_json"]))
    except (KeyError, ValueError):
        return {}


def config_value(ds, key, default=None):
    """One setting of the sweep that wrote ds, e.g. "train.steps"."""
    return config(ds).get(key, default)


SWEEP_TITLE_KEYS = (("model.n", "n = {}"), ("train.optimizer", "{}"), ("train.lr", "lr = {}"),
                    ("train.steps", "{} steps"), ("init.scheme", "{} init"), ("model.precision", "{}"))


def sweep_title(ds):
    """What a figure of ds was trained with, in one line ("n = 7, adamw, 5000 steps,
    xavier_normal init, float32"): the settings of SWEEP_TITLE_KEYS that are no grid axis."""
    settings, axes = config(ds), set(grid_dims(ds)) | set(ds.coords)
    parts = []
    for key, text in SWEEP_TITLE_KEYS:
        dim = key.split(".", 1)[1]
        if key in settings and dim not in axes and not (key == "train.lr" and "lr" in axes):
            value = settings[key]
            parts.append(text.format(fmt(value) if isinstance(value, float) else value))
    return ", ".join(parts)


# ----------------------------------------------------------------------------- flags


def flag_classes(da):
    """[(code, name), ...] from CF flag_values / flag_meanings, or None."""
    meanings = da.attrs.get("flag_meanings")
    if meanings is None:
        return None
    names = str(meanings).split()
    codes = np.atleast_1d(da.attrs.get("flag_values", np.arange(len(names)))).astype(int)
    return list(zip(codes.tolist(), names))


def outcome_classes(ds):
    classes = flag_classes(require(ds, "outcome"))
    if classes is None:
        raise AnalysisError("variable 'outcome' has no flag_meanings attribute")
    return classes


def outcome_code(ds, name):
    for code, n in outcome_classes(ds):
        if n == name:
            return code
    names = ", ".join(n for _, n in outcome_classes(ds))
    raise AnalysisError(f"unknown outcome '{name}' (outcomes: {names})")


def outcome_name(ds, code):
    if code is None or not np.isfinite(code):
        return "not done"
    return dict(outcome_classes(ds)).get(int(code), f"outcome {int(code)}")


def outcome_names(ds):
    """The per-run outcome as names (strings; "not done" where a run is not done yet),
    decoded from the file's flag_values / flag_meanings."""
    classes = outcome_classes(ds)
    codes = masked(ds, "outcome")
    lookup = np.array([n for _, n in classes] + ["not done"], dtype=object)
    index = np.full(codes.shape, len(classes))
    for k, (code, _) in enumerate(classes):
        index[codes.values == code] = k
    return codes.copy(data=lookup[index]).rename("outcome_name")


# Outcome groups for prose and summaries: the classes where a feature fires on every input.
FIRES_ON_EVERY_INPUT = ("symmetric_failure", "pinned_failure", "mean_bias_failure")


# ----------------------------------------------------------------------------- selection


def parse_sel(items):
    """['lr=0.01', 'seed=3'] -> {'lr': '0.01', 'seed': '3'}."""
    sel = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise AnalysisError(f"bad selection '{item}' (expected AXIS=VALUE)")
        sel[key.strip()] = value.strip()
    return sel


def select(ds, items):
    """Keep the runs at the given grid coordinates; the selected axes keep length 1.

    Floats match the nearest coordinate, integers and strings must match exactly.
    """
    dims = grid_dims(ds)
    for key, text in parse_sel(items).items():
        if key not in dims:
            raise AnalysisError(f"unknown grid axis '{key}' in --sel (grid axes: {', '.join(dims)})")
        coord = ds[key]
        if coord.dtype.kind == "f":
            try:
                value = float(text)
            except ValueError:
                raise AnalysisError(f"--sel {key}={text}: not a number") from None
            ds = ds.sel({key: [value]}, method="nearest")
        else:
            if coord.dtype.kind in "iu":
                try:
                    value = int(text)
                except ValueError:
                    raise AnalysisError(f"--sel {key}={text}: not an integer") from None
            else:
                value = text
            hits = np.flatnonzero(coord.values == value)
            if hits.size == 0:
                raise AnalysisError(f"empty selection: {key}={text} matches no grid value "
                                    f"({format_values(coord.values)})")
            ds = ds.isel({key: hits})
    return ds


def require_done(ds, items=()):
    """Raise when no run of ds is done (the message names the selection)."""
    if not bool(done_mask(ds).any()):
        where = f" matching {' '.join(items)}" if items else ""
        raise AnalysisError(f"empty selection: no finished runs{where}")
    return ds


def prepare(ds, sel=(), need=(), sort=()):
    """The runs of ds at the selection `sel` (['AXIS=VALUE', ...]), after checking that
    the variables `need` exist and some run is done, with the numeric axes among `sort`
    in ascending order (what every map and table starts with)."""
    ds = select(ds, sel)
    for name in need:
        require(ds, name)
    require_done(ds, sel)
    return ds.sortby([d for d in sort if d is not None and is_numeric(ds[d].values)])


def format_values(values, limit=6):
    values = list(values)
    text = ", ".join(fmt(v) for v in values[:limit])
    return text + (", ..." if len(values) > limit else "")


def fmt(v):
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode()
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def run_coords(ds, index):
    """{axis: value} of flat run `index` of the grid (C order over the grid axes)."""
    dims = grid_dims(ds)
    pos = np.unravel_index(int(index), [ds.sizes[d] for d in dims])
    return {d: ds[d].values[i] for d, i in zip(dims, pos)}


def describe_coords(coords):
    return ", ".join(f"{k}={fmt(v)}" for k, v in coords.items())


# ----------------------------------------------------------------------------- statistics


REPLICATE_AXES = ("seed", "base", "sample")  # runs that differ only along these are replicates


def pooled_statistic(ds, over):
    """How a fraction pooled over the grid axes `over` is to be read: (True, text) when the
    pooled runs differ only along replicate axes (a binomial estimate: Wilson interval),
    (False, text) when it is a plain share of deterministic grid cells."""
    pooled = [d for d in over if d in grid_dims(ds) and ds.sizes[d] > 1]
    deterministic = [d for d in pooled if d not in REPLICATE_AXES]
    if deterministic:
        return False, f"plain share of grid cells over {', '.join(deterministic)}"
    return True, f"95 % Wilson interval over replicates ({', '.join(pooled) or 'one run'})"


def wilson(k, n, z=Z95):
    """Wilson score interval (lo, hi) for k successes in n trials; NaN where n == 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    # exact at the ends (rounding leaves ~1e-17 where the formula gives 0 or 1); NaN stays
    return np.where((k == 0) & (n > 0), 0.0, lo)[()], np.where((k == n) & (n > 0), 1.0, hi)[()]  # [()]: 0-d to scalar


def others(da, keep):
    """The dimensions of da that are not in keep."""
    return [d for d in da.dims if d not in keep]


def reduce(ds, name, keep, how):
    """Variable `name` reduced over every dimension not in `keep`.

    how is 'mean', 'median' or 'fraction:<outcome>' (the share of done runs whose
    `outcome` is <outcome>). Runs not done are NaN and ignored; a cell without a done
    run is NaN. Returns (DataArray over `keep`, label for a colorbar).
    """
    if how in ("mean", "median"):
        da = masked(ds, name)
        dims = others(da, keep)
        text = label(ds[name])
        return (getattr(da, how)(dims, skipna=True), f"{how} {text}") if dims else (da, text)
    if how.startswith("fraction:"):
        outcome = how.split(":", 1)[1]
        code = outcome_code(ds, outcome)
        out = masked(ds, "outcome")
        hits = (out == code).where(out.notnull())
        return hits.mean(others(hits, keep), skipna=True), f"fraction of runs: {outcome}"
    raise AnalysisError(f"bad --reduce '{how}' (use mean, median or fraction:<outcome>)")


def mode_index(da, keep, codes):
    """Index in `codes` of the most frequent code over the dimensions not in `keep`
    (ties: the first); NaN where every value is NaN."""
    dims = others(da, keep)
    counts = xr.concat([(da == c).sum(dims) for c in codes], dim="_code")
    return counts.argmax("_code").astype(float).where(counts.sum("_code") > 0)


# ----------------------------------------------------------------------------- axes


def pick_axes(dims, x=None, y=None, prefer=("lr", "bias_delta")):
    """(x, y): the `prefer` pair when the grid has both, else the first two axes."""
    if len(dims) < 2:
        raise AnalysisError(f"a chaos map needs two grid axes (file has: {', '.join(dims) or 'none'})")
    for a in (x, y):
        if a is not None and a not in dims:
            raise AnalysisError(f"unknown grid axis '{a}' (grid axes: {', '.join(dims)})")
    prefer = list(prefer) if set(prefer) <= set(dims) else dims[:2]
    x = x or next(d for d in [prefer[0]] + dims if d != y)
    y = y or next(d for d in [prefer[1]] + dims if d != x)
    if x == y:
        raise AnalysisError(f"--x and --y are the same axis '{x}'")
    return x, y



def is_numeric(values):
    return np.asarray(values).dtype.kind in "iuf"


def wants_log(values):
    """Log axis when every coordinate is > 0 and they span more than one decade."""
    v = np.asarray(values, dtype=float)
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() > 10


def cell_edges(values, log=False):
    """Edges of the cells centred on sorted `values`: midpoints, extrapolated at the ends.

    With log=True the midpoints are geometric (midpoints of log10 values), so cells
    look even on a log axis. A single value gets a cell one unit (or decade) wide.
    """
    v = np.asarray(values, dtype=float)
    if log:
        if np.any(v <= 0):
            raise AnalysisError("log axis needs coordinates > 0")
        return 10 ** cell_edges(np.log10(v))
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mids = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mids[0]], mids, [2 * v[-1] - mids[-1]]])


def axis_cells(ds, dim, force_log=False):
    """(edges, log, ticks) for a grid axis in a heatmap.

    ticks is (positions, labels), or None to leave them to matplotlib. Non-numeric
    axes (strings) get one unit cell per value, labelled by the value; short integer
    axes (seeds, n) get a tick per value.
    """
    values = ds[dim].values
    if not is_numeric(values):
        return np.arange(len(values) + 1) - 0.5, False, (np.arange(len(values)), [fmt(v) for v in values])
    log = force_log or wants_log(values)
    ticks = (values, [fmt(v) for v in values]) if values.dtype.kind in "iu" and len(values) <= MAX_INT_TICKS else None
    return cell_edges(values, log), log, ticks


def map_cells(ds, x, y, logx=False, logy=False):
    """axis_cells of the two axes of a map: log where the values span more than a decade
    (a zoom into one stays linear) or where asked (logx, logy)."""
    return [axis_cells(ds, d, force) for d, force in ((x, logx), (y, logy))]


def style_axis(ax, which, ds, dim, log, ticks):
    getattr(ax, f"set_{which}label")(label(ds[dim], dim))
    if log:
        getattr(ax, f"set_{which}scale")("log")
    if ticks is not None:
        getattr(ax, f"set_{which}ticks")(*ticks)


# One colour per outcome class, fixed by name, the same in every figure (DESIGN v2 names
# and the v1 names they replace; mean_bias_failure was v2's symmetric_failure).
OUTCOME_COLORS = {
    "perfect": "#2ca02c",               # green
    "symmetric_failure": "#ff7f0e",     # orange
    "mean_bias_failure": "#ff7f0e",
    "pinned_failure": "#d62728",        # red
    "dead_failure": "#9467bd",          # purple
    "interference_failure": "#8c564b",  # brown
    "still_learning": "#17becf",        # cyan
    "diverged": "#000000",
    "recovered": "#1f77b4",             # blue
    "not recovered": "#999999",
    "not done": NAN_COLOR,
}
SPARE_COLORS = ("#e377c2", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78")  # names not listed above


def class_colors(names):
    """A fixed colour per outcome name (a spare colour for a name not in OUTCOME_COLORS)."""
    spare = iter(SPARE_COLORS * (1 + len(names)))
    return [OUTCOME_COLORS[n] if n in OUTCOME_COLORS else next(spare) for n in names]


def pyplot():
    """matplotlib.pyplot with the file backend (Agg), loaded on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def feature_colors(count):
    """One colour per feature index, the same in every figure: tab10 up to 10 features,
    tab20 up to 20, evenly spaced hues beyond, so no two features share a colour."""
    import matplotlib

    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(count)]
    return [matplotlib.colormaps["hsv"](i / count) for i in range(count)]


def hex_color(color):
    from matplotlib.colors import to_rgba

    r, g, b, _ = to_rgba(color)
    return "#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255))


def new_figure(width, height, **kwargs):
    """A figure of exactly width x height inches at DPI (no tight bbox: sizes are fixed)."""
    return pyplot().figure(figsize=(width, height), dpi=DPI, layout="constrained", **kwargs)


def save_figure(fig, path):
    """Write the figure as PNG or PDF (by extension) at DPI; close it."""
    plt = pyplot()
    ext = os.path.splitext(path)[1].lower()
    if ext not in FIGURE_EXTENSIONS:
        plt.close(fig)
        raise AnalysisError(f"output must end in .png or .pdf: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        plt.close(fig)
        raise AnalysisError(f"output folder does not exist: {folder}")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def tick_each_value(ax, which, ds, dim, limit=MAX_INT_TICKS):
    """On a numeric axis with at most `limit` coordinates: a labelled tick at each value
    and no minor tick labels (a log axis spanning little more than a decade otherwise
    labels its minor ticks over each other). Longer or string axes are left alone."""
    values = ds[dim].values
    if not is_numeric(values) or len(values) > limit:
        return
    from matplotlib.ticker import NullFormatter

    getattr(ax, f"set_{which}ticks")(values, [fmt(v) for v in values])
    getattr(ax, f"{which}axis").set_minor_formatter(NullFormatter())
