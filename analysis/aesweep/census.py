"""Outcome census: the share of each outcome class, with 95 % Wilson intervals over replicates.

    python3 -m aesweep.census OUT.h5 [--by AXIS|none] [--sel AXIS=VALUE]... [-o census.png]

Draws the outcome fractions (one bar per value of --by, default: the first grid axis that
is not a replicate axis (seed, base, sample);
`none` for a single bar over all runs; a numeric axis such as the learning rate is drawn
on its own numeric, log where it spans decades, scale) and prints the table: value,
finished runs, per outcome the percentage [lo, hi] and the plateaus recovered; then the trust table (trust: per
outcome the runs frozen by rounding, the final states that are saddles or minima, the frozen
saddles, and the runs by their number of unlearnt features); where the sweep has a float64
check (check.float64), its agreement table too (float64_agreement).
"""
import numpy as np
import xarray as xr

from . import cli, common

PROG = "aesweep.census"
SIZE = (13.0, 5.5)  # inches
MAX_TICKS = 16  # category tick labels shown at most (the others are thinned out)


def arguments(p):
    p.add_argument("--by", help="grid axis to break the census down by, or 'none' (default: the first grid axis "
                                "that is not a replicate axis: seed, base and sample are pooled)")
    cli.add_sel(p)


def census(ds, by=None):
    """The outcome census of ds as a Dataset over (by, outcome), `by` a grid axis or None
    (all runs together: by has the single value "all").

    Variables: done (finished runs per row), count, fraction, lo, hi (95 % Wilson
    interval, only where a row's runs differ only along replicate axes; NaN where the row
    pools deterministic grid cells); coordinate `outcome`: the class names from the file's
    flag attributes.  Attribute `pooled` says which of the two a row is.
    """
    classes = common.outcome_classes(ds)
    outcome = common.counted(ds, "outcome")  # identical runs (an unused setting's axis) once
    keep = [by] if by else []
    over = common.others(outcome, keep)
    done = outcome.notnull().sum(over)
    count = xr.concat([(outcome == code).sum(over) for code, _ in classes], dim="outcome")
    if not by:
        done, count = done.expand_dims(by=["all"]), count.expand_dims(by=["all"])
        by_dim = "by"
    else:
        by_dim = by
    count = count.assign_coords(outcome=[n for _, n in classes]).transpose(by_dim, "outcome")
    lo, hi = common.wilson(count.values, done.values[:, None])
    replicates, pooled = common.pooled_statistic(ds, over)
    if not replicates:
        lo, hi = np.full_like(lo, np.nan), np.full_like(hi, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = count / done
    out = xr.Dataset({"done": done, "count": count, "fraction": fraction,
                      "lo": (count.dims, lo), "hi": (count.dims, hi)})
    kinds = common.flag_classes(ds["plateau_kind"]) if "plateau_kind" in ds and "recovered" in ds else None
    if kinds:  # runs whose longest plateau was of each failure kind, and of them the recovered
        kind, recovered = common.counted(ds, "plateau_kind"), common.counted(ds, "recovered")
        codes = [(c, n) for c, n in kinds if n != "none"]
        plateaus = xr.concat([(kind == c).sum(over) for c, _ in codes], dim="plateau")
        back = xr.concat([((kind == c) & (recovered == 1)).sum(over) for c, _ in codes], dim="plateau")
        if not by:
            plateaus, back = plateaus.expand_dims(by=["all"]), back.expand_dims(by=["all"])
        names = {"symmetric_failure": "symmetric", "pinned_failure": "pinned"}
        out["plateaus"] = plateaus.assign_coords(plateau=[names.get(n, n) for _, n in codes]).transpose(by_dim, ...)
        out["plateaus_recovered"] = back.assign_coords(plateau=out["plateau"].values).transpose(by_dim, ...)
    out.attrs["by"] = by or ""
    out.attrs["pooled"] = pooled
    if by:
        out[by].attrs.update(ds[by].attrs)
    return out


def float64_agreement(ds):
    """check.float64's agreement: how often a float32 run's outcome is that of the same run
    trained again in float64, as a Dataset over `outcome` ("all", then each class: the float32
    outcome), or None when the file holds no checked run.

    Variables: checked (finished runs with a float64 check), agree, fraction, lo, hi (95 %
    Wilson interval: the checked runs are a random sample of the grid's float32 runs, so the
    fraction estimates the whole grid's), and `float64` over (outcome, float64_outcome): how
    many checked runs of each float32 outcome ended in each class in float64.
    """
    if "float64_outcome" not in ds:
        return None
    classes = common.outcome_classes(ds)
    names = [n for _, n in classes]
    outcome = common.masked(ds, "outcome").values.ravel()
    checked = ds["float64_outcome"].where(common.done_mask(ds)).values.ravel()
    picked = np.isfinite(checked) & (checked >= 0) & np.isfinite(outcome)
    if not picked.any():
        return None
    pairs = np.array([[np.sum(picked & (outcome == a) & (checked == b)) for b, _ in classes] for a, _ in classes])
    total = np.concatenate([[pairs.sum()], pairs.sum(axis=1)])
    agree = np.concatenate([[np.trace(pairs)], np.diag(pairs)])
    lo, hi = common.wilson(agree, total)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = agree / total
    rows = ["all"] + names
    out = xr.Dataset({"checked": ("outcome", total), "agree": ("outcome", agree), "fraction": ("outcome", fraction),
                      "lo": ("outcome", lo), "hi": ("outcome", hi),
                      "float64": (("outcome", "float64_outcome"), np.vstack([pairs.sum(axis=0), pairs]))},
                     coords={"outcome": rows, "float64_outcome": names})
    out.attrs["note"] = ("runs picked at random from the grid (check.float64) and trained again in float64: "
                         "a random sample, so the intervals estimate the whole grid's agreement")
    return out


TRUST_COLUMNS = ("frozen", "saddle", "minimum", "frozen_saddle", "unlearnt_1", "unlearnt_2", "unlearnt_3plus")


def unlearnt_count(ds):
    """Per run, its number of unlearnt features: n - n_learnt (n from the `n` axis, else the
    config's model.n)."""
    n = ds["n"] if "n" in ds.coords else common.config_value(ds, "model.n")
    return n - common.masked(ds, "n_learnt")


def trust(ds):
    """What makes the census trustworthy (DESIGN.md section 9), as a Dataset over `outcome`
    (each class, then "all"): runs (finished), and the counts of TRUST_COLUMNS among them:
    frozen (every update of the learnt features rounded away while their gradient is not
    zero), saddle / minimum (hessian_neg > 0 / == 0), frozen_saddle (held only by rounding:
    an arithmetic failure), unlearnt_1, _2, _3plus (runs by their number of unlearnt
    features). A column whose variable the file lacks is -1 throughout. Plain counts."""
    classes = common.outcome_classes(ds)
    outcome = common.counted(ds, "outcome")
    columns = {}
    if "frozen" in ds:
        columns["frozen"] = common.masked(ds, "frozen") == 1
    if "hessian_neg" in ds:
        neg = common.masked(ds, "hessian_neg")
        columns["saddle"], columns["minimum"] = neg > 0, neg == 0
    if "frozen" in ds and "hessian_neg" in ds:
        columns["frozen_saddle"] = columns["frozen"] & columns["saddle"]
    if "n_learnt" in ds:
        unl = unlearnt_count(ds)
        columns.update(unlearnt_1=unl == 1, unlearnt_2=unl == 2, unlearnt_3plus=unl >= 3)
    rows = [(name, outcome == code) for code, name in classes] + [("all", outcome.notnull())]
    data = {"runs": ("outcome", [int(mask.sum()) for _, mask in rows])}
    for column in TRUST_COLUMNS:
        values = [int((mask & columns[column]).sum()) if column in columns else -1 for _, mask in rows]
        data[column] = ("outcome", values)
    return xr.Dataset(data, coords={"outcome": [name for name, _ in rows]})


def trust_rows(t):
    """(header, rows) of the trust table (outcomes with runs; '-' where the file lacks the variable)."""
    header = ["outcome", "runs"] + [c.replace("_", " ") for c in TRUST_COLUMNS]
    rows = [[str(name), str(int(t["runs"][k]))] + [str(int(t[c][k])) if int(t[c][k]) >= 0 else "-"
                                                   for c in TRUST_COLUMNS]
            for k, name in enumerate(t["outcome"].values) if int(t["runs"][k])]
    return header, rows


TRUST_NOTE = ("frozen: every update of the learnt features in the last outcome.window steps rounded away while "
              "their gradient is not zero (another precision would move on); saddle / minimum: the final "
              "state's exact Hessian has negative eigenvalues / none; frozen saddle: held there only by "
              "rounding, an arithmetic failure; unlearnt N: runs by their number of unlearnt features")


def agreement_rows(a):
    """(header, rows) of the float64 check's table: float32 outcome, checked, agree [lo, hi],
    and where the others ended in float64."""
    header = ["float32 outcome", "checked", "agree in float64", "others in float64"]
    rows = []
    for k, row in enumerate(a["outcome"].values):
        n = int(a["checked"][k])
        if not n:
            continue
        elsewhere = [f"{int(c)} {name}" for name, c in zip(a["float64_outcome"].values, a["float64"].values[k])
                     if c and name != row]
        rows.append([str(row), str(n), f"{int(a['agree'][k])} ({percent(a['fraction'][k])} "
                     f"[{percent(a['lo'][k])}, {percent(a['hi'][k])}])", ", ".join(elsewhere) if k else "-"])
    return header, rows


def by_axis(ds, by):
    """The --by option as a grid axis name or None; by default the first grid axis that is
    not a replicate axis (a seed census pools its seeds, as `aesweep info` does)."""
    dims = common.grid_dims(ds)
    settings = [d for d in dims if d not in common.REPLICATE_AXES]
    by = by if by is not None else (settings[0] if settings else "none")
    if by == "none":
        return None
    if by not in dims:
        raise common.AnalysisError(f"unknown grid axis '{by}' for --by (grid axes: {', '.join(dims)}, none)")
    return by


def row_dim(t):
    return t.attrs["by"] or "by"


def percent(fraction):
    """A fraction as a percentage, 2 decimals; 2 significant digits below 0.01 % (a rare
    outcome of a large census is not 0)."""
    value = 100.0 * float(fraction)
    return f"{value:.2g}%" if 0 < value < 0.01 else f"{value:.2f}%"


def cell(t, row, name):
    """'fraction [lo, hi]' (percent) of one row and outcome, '-' without finished runs."""
    one = t.isel({row_dim(t): row}).sel(outcome=name)
    if int(one["done"]) == 0:
        return "-"
    if not np.isfinite(float(one["lo"])):
        return percent(one["fraction"])
    return f"{percent(one['fraction'])} [{percent(one['lo'])}, {percent(one['hi'])}]"


def table_rows(t):
    """(header, rows) of the census table, shared by the text and the HTML report: per row
    the finished runs, each outcome's percentage [95 % interval], and where the file keeps
    plateaus, runs recovered / runs whose longest plateau was symmetric, pinned."""
    names = [str(n) for n in t["outcome"].values]
    dim = row_dim(t)
    kinds = [str(k) for k in t["plateau"].values] if "plateaus" in t else []
    header = [t.attrs["by"] or "runs", "done"] + names + [f"{k} plateaus recovered" for k in kinds]
    rows = []
    for r, (v, d) in enumerate(zip(t[dim].values, t["done"].values)):
        plateaus = [f"{int(t['plateaus_recovered'][r, j])}/{int(t['plateaus'][r, j])}" for j in range(len(kinds))]
        rows.append([common.fmt(v), str(int(d))] + [cell(t, r, n) for n in names] + plateaus)
    return header, rows


def render(ds, t):
    """Left: the outcome fractions stacked. Right: each outcome's fraction with its 95 %
    Wilson interval (outcomes seen at least once). A numeric `by` axis is numeric here."""
    fig = common.new_figure(*SIZE)
    bars, points = fig.subplots(1, 2, sharex=True)
    dim = row_dim(t)
    names = [str(n) for n in t["outcome"].values]
    colors = common.class_colors(names)
    values = t[dim].values
    numeric = bool(t.attrs["by"]) and common.is_numeric(values) and len(values) > 1
    if numeric:
        order = np.argsort(values.astype(float))
        t = t.isel({dim: order})
        values = t[dim].values.astype(float)
        log = common.wants_log(values)
        edges = common.cell_edges(values, log)
        left, width, x = edges[:-1], np.diff(edges), values
    else:
        x = np.arange(len(values), dtype=float)
        left, width = x - 0.4, np.full(len(x), 0.8)
    frac = np.nan_to_num(t["fraction"].values)
    done = t["done"].values
    bottom = np.zeros(len(x))
    for j, (name, color) in enumerate(zip(names, colors)):
        # edges in the bar's own colour: no hairline of background between stacked segments
        bars.bar(left, frac[:, j], width * 0.92, bottom=bottom, align="edge", color=color, label=name,
                 edgecolor=color, linewidth=0.5)
        bottom += frac[:, j]
    seen = [j for j in range(len(names)) if t["count"].values[:, j].sum() > 0]
    ok = done > 0
    for rank, j in enumerate(seen):
        lo, hi = t["lo"].values[:, j], t["hi"].values[:, j]
        err = np.maximum(0, [frac[ok, j] - lo[ok], hi[ok] - frac[ok, j]]) if np.isfinite(lo[ok]).all() else None
        xs = x[ok] if numeric else x[ok] + (rank - (len(seen) - 1) / 2) * 0.6 / max(len(seen), 1)
        points.errorbar(xs, frac[ok, j], yerr=err, fmt="o-", ms=4, lw=1, capsize=3, color=colors[j], label=names[j])
    label = common.label(ds[dim], dim) if t.attrs["by"] else ""
    for ax in (bars, points):
        ax.set_xlabel(label + ("   (n: finished runs per bar in the table)" if numeric else ""))
        ax.set_ylim(-0.02, 1.02)
        if numeric:
            if log:
                ax.set_xscale("log")
            ax.set_xlim(edges[0], edges[-1])
        else:
            step = max(1, int(np.ceil(len(x) / MAX_TICKS)))
            ticks = [f"{common.fmt(v)}\nn={n}" for v, n in zip(values, done)]
            pad = max(0.0, (3 - len(x)) / 2)  # keep one or two bars from filling the width
            ax.set_xticks(x[::step], ticks[::step], fontsize=8)
            ax.set_xlim(-0.6 - pad, len(x) - 0.4 + pad)
    by = f" by {t.attrs['by']}" if t.attrs["by"] else ""
    bars.set_ylabel("fraction of finished runs")
    bars.set_title(f"outcomes{by}", fontsize=10)
    points.set_title(f"outcome fractions{by}\n({t.attrs['pooled']})", fontsize=9)
    points.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    bars.legend(loc="upper left", bbox_to_anchor=(0, -0.15), fontsize=8, frameon=False, ncol=4)
    return fig


def run(args):
    ds = common.open_dataset(args.file)
    ds = common.prepare(ds, args.sel, need=["outcome"])
    t = census(ds, by_axis(ds, args.by))
    print("\n".join(common.format_table(*table_rows(t))))
    steps = common.config_value(ds, "train.steps")
    print(f"\nhorizon: {'the train.steps axis' if 'steps' in common.grid_dims(ds) else steps} training steps; "
          f"{t.attrs['pooled']}")
    print(f"\ntrust ({TRUST_NOTE})")
    print("\n".join(common.format_table(*trust_rows(trust(ds)))))
    agreement = float64_agreement(ds)
    if agreement is not None:
        print("\nfloat64 check (%s)" % agreement.attrs["note"])
        print("\n".join(common.format_table(*agreement_rows(agreement))))
    common.save_figure(render(ds, t), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="census.png")

if __name__ == "__main__":
    cli.run_module(main)
