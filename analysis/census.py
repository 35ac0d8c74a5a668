"""Outcome census: the share of each outcome class, with 95 % Wilson intervals.

    python3 -m analysis.census OUT.h5 [--by AXIS|none] [--sel AXIS=VALUE]... [-o census.png]

Draws stacked bars (one per value of --by, default: the first grid axis; `none` for a
single bar over all runs) and prints the table: value, finished runs, and per outcome
the fraction [lo, hi].
"""
import argparse
import sys

import numpy as np

from analysis import common

PROG = "analysis.census"
SIZE = (13.0, 5.5)  # inches
MAX_TICKS = 16  # tick labels shown at most (the others are thinned out)


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    common.add_common_args(p, "census.png")
    p.add_argument("--by", help="grid axis to break the census down by, or 'none' (default: first grid axis)")
    common.add_sel_arg(p)
    return p


def census(ds, by):
    """Counts per outcome class along `by` (None: all runs together).

    Returns dict: by, labels (one per row), done (rows), names (classes),
    count, frac, lo, hi (rows x classes).
    """
    classes = common.outcome_classes(ds)
    outcome = common.masked(ds, "outcome")
    keep = [by] if by else []
    done = common.done_mask(ds).sum(common.others(outcome, keep)).values.reshape(-1)
    count = np.stack([(outcome == code).sum(common.others(outcome, keep)).values.reshape(-1)
                      for code, _ in classes], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = count / done[:, None]
    lo, hi = common.wilson(count, done[:, None])
    labels = [common.fmt(v) for v in ds[by].values] if by else ["all"]
    return dict(by=by, labels=labels, done=done, names=[n for _, n in classes],
                count=count, frac=frac, lo=lo, hi=hi)


def prepare(ds, args):
    """(selected ds, census table) for the command-line options."""
    ds = common.select(ds, args.sel)
    dims = common.grid_dims(ds)
    common.require(ds, "outcome")
    by = args.by if args.by is not None else (dims[0] if dims else "none")
    if by == "none":
        by = None
    elif by not in dims:
        raise common.AnalysisError(f"unknown grid axis '{by}' for --by (grid axes: {', '.join(dims)}, none)")
    common.require_done(ds, args.sel)
    return ds, census(ds, by)


def cell(t, row, j):
    if t["done"][row] == 0:
        return "-"
    return f"{t['frac'][row, j]:.3f} [{t['lo'][row, j]:.3f}, {t['hi'][row, j]:.3f}]"


def format_table(t):
    """The census as fixed-width text lines."""
    header = [t["by"] or "runs", "done"] + t["names"]
    rows = [[t["labels"][r], str(t["done"][r])] + [cell(t, r, j) for j in range(len(t["names"]))]
            for r in range(len(t["labels"]))]
    widths = [max(len(line[c]) for line in [header] + rows) for c in range(len(header))]
    return ["  ".join(text.rjust(w) for text, w in zip(line, widths)) for line in [header] + rows]


def render(ds, t):
    """Left: stacked bars of the outcome fractions. Right: each outcome's fraction with
    its 95 % Wilson interval (outcomes seen at least once)."""
    fig = common.new_figure(*SIZE)
    bars, points = fig.subplots(1, 2, sharex=True)
    x = np.arange(len(t["labels"]))
    colors = common.class_colors(t["names"])
    frac = np.nan_to_num(t["frac"])
    seen = [j for j in range(len(t["names"])) if t["count"][:, j].sum() > 0]
    bottom = np.zeros(len(x))
    for j, (name, color) in enumerate(zip(t["names"], colors)):
        bars.bar(x, frac[:, j], 0.8, bottom=bottom, color=color, label=name)
        bottom += frac[:, j]
    for rank, j in enumerate(seen):
        ok = t["done"] > 0
        shift = (rank - (len(seen) - 1) / 2) * 0.6 / max(len(seen), 1)  # side by side
        err = np.maximum(0, [frac[ok, j] - t["lo"][ok, j], t["hi"][ok, j] - frac[ok, j]])
        points.errorbar(x[ok] + shift, frac[ok, j], yerr=err, fmt="o-", ms=4, lw=1, capsize=3,
                        color=colors[j], label=t["names"][j])
    step = max(1, int(np.ceil(len(x) / MAX_TICKS)))
    ticks = [f"{v}\nn={n}" for v, n in zip(t["labels"], t["done"])]
    pad = max(0.0, (3 - len(x)) / 2)  # keep one or two bars from filling the width
    for ax in (bars, points):
        ax.set_xticks(x[::step], ticks[::step], fontsize=8)
        ax.set_xlabel(common.label(ds[t["by"]], t["by"]) if t["by"] else "")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(-0.6 - pad, len(x) - 0.4 + pad)
    by = f" by {t['by']}" if t["by"] else ""
    bars.set_ylabel("fraction of finished runs (n below each bar)")
    bars.set_title(f"outcomes{by}", fontsize=10)
    points.set_title(f"outcome fractions{by}, 95 % Wilson intervals", fontsize=10)
    points.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    bars.legend(loc="upper left", bbox_to_anchor=(0, -0.15), fontsize=8, frameon=False, ncol=4)
    return fig


def run(args):
    ds, t = prepare(common.open_dataset(args.file), args)
    print("\n".join(format_table(t)))
    common.save_figure(render(ds, t), args.output)


def main(argv=None):
    args = parser().parse_args(argv)
    return common.run_cli(PROG, run, args)


if __name__ == "__main__":
    sys.exit(main())
