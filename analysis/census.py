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
SIZE = (8.0, 5.0)  # inches
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
    fig = common.new_figure(*SIZE)
    ax = fig.subplots()
    x = np.arange(len(t["labels"]))
    colors = common.class_colors(t["names"])
    frac = np.nan_to_num(t["frac"])
    bottom = np.zeros(len(x))
    k = len(t["names"])
    top = 1.0
    for j, (name, color) in enumerate(zip(t["names"], colors)):
        ax.bar(x, frac[:, j], 0.8, bottom=bottom, color=color, label=name)
        ok = t["count"][:, j] > 0  # (empty classes: their interval is in the table)
        shift = (j - (k - 1) / 2) * 0.8 / (k + 1)  # interval markers side by side
        centre = bottom + frac[:, j]
        ax.errorbar(x[ok] + shift, centre[ok],
                    yerr=np.maximum(0, [(frac[:, j] - t["lo"][:, j])[ok], (t["hi"][:, j] - frac[:, j])[ok]]),
                    fmt="none", ecolor="0.15", elinewidth=0.8, capsize=2)
        top = max(top, float(np.max(bottom + t["hi"][:, j], initial=0, where=ok)))
        bottom += frac[:, j]
    step = max(1, int(np.ceil(len(x) / MAX_TICKS)))
    ticks = [f"{v}\nn={n}" for v, n in zip(t["labels"], t["done"])]
    ax.set_xticks(x[::step], ticks[::step], fontsize=8)
    ax.set_xlabel(common.label(ds[t["by"]], t["by"]) if t["by"] else "")
    ax.set_ylabel("fraction of finished runs")
    ax.set_ylim(0, max(1.0, top) + 0.02)
    pad = max(0.0, (3 - len(x)) / 2)  # keep one or two bars from filling the width
    ax.set_xlim(-0.6 - pad, len(x) - 0.4 + pad)
    ax.set_title(f"outcomes{' by ' + t['by'] if t['by'] else ''} "
                 "(whiskers: 95 % Wilson interval of each class, from its segment's base)", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
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
