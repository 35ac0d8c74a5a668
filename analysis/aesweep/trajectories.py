"""Training trajectories: loss, feature norms |W_i| and biases b_i against step.

    python3 -m aesweep.trajectories OUT.h5 [--run R]... [-o trajectories.png]

One row per stored run (the file's `trajectory` group; --run picks flat run indices).
Each feature keeps its colour of every other figure; the features unlearnt at the end of
the run (recon < 0.5: the dead features) are drawn thick and dashed, the others thin.
"""
import numpy as np

from . import cli, common

PROG = "aesweep.trajectories"
ROW_SIZE = (12.0, 3.0)  # inches per run shown


def arguments(p):
    p.add_argument("--run", type=int, action="append", default=[], metavar="R",
                   help="flat run index to show (repeatable; default: every stored run)")


def open_trajectories(path, runs=()):
    """The `trajectory` group, restricted to `runs` (flat indices) when given."""
    tr = common.open_dataset(path, group="trajectory")
    common.require(tr, "loss", "W", "b")
    if runs:
        missing = sorted(set(runs) - set(tr["run"].values.tolist()))
        if missing:
            raise common.AnalysisError(f"empty selection: run {missing[0]} has no stored trajectory "
                                       f"(stored: {common.format_values(tr['run'].values, 12)})")
        tr = tr.sel(run=list(runs))
    if tr.sizes.get("run", 0) == 0 or tr.sizes.get("step", 0) == 0:
        raise common.AnalysisError("empty selection: the trajectory group holds no data")
    return tr


def dead_features(ds, run, W, b):
    """Features unlearnt at the end of `run`: the file's final recon when the run is done,
    else the last stored step's Y_ii = ReLU(|W_i|^2 + b_i)."""
    coords = common.run_coords(ds, run)
    one = ds.sel(coords)
    if "recon" in ds and bool(one["done"] == 1):
        recon = one["recon"].values
    else:
        recon = np.maximum((W[-1] ** 2).sum(-1) + b[-1], 0)
    return {i for i, r in enumerate(recon) if np.isfinite(r) and r < common.LEARNT}, coords, one


def draw_run(axes, ds, tr, run):
    steps = tr["step"].values
    sub = tr.sel(run=run)
    W = sub["W"].transpose("step", "feature", ...).values.astype(float)
    b = sub["b"].transpose("step", "feature").values.astype(float)
    dead, coords, one = dead_features(ds, run, W, b)
    colors = common.feature_colors(W.shape[1])
    loss_ax, norm_ax, bias_ax = axes
    loss = sub["loss"].values
    loss_ax.plot(steps, loss, color="k", lw=1)
    if common.wants_log(loss[np.isfinite(loss)]):
        loss_ax.set_yscale("log")
    for i in range(W.shape[1]):
        if not np.isfinite(W[:, i]).any():
            continue  # past this run's own n
        style = dict(color=colors[i], lw=2.5, ls="--", zorder=3) if i in dead else dict(color=colors[i], lw=0.9)
        norm_ax.plot(steps, np.linalg.norm(W[:, i], axis=-1), label=f"{i}{' (dead)' if i in dead else ''}", **style)
        bias_ax.plot(steps, b[:, i], **style)
    bias_ax.axhline(0, color="0.7", lw=0.6, zorder=0)
    outcome = common.outcome_name(ds, float(one["outcome"])) if "outcome" in one else ""
    loss_ax.set_title(f"run {run}: {common.describe_coords(coords)}  [{outcome}]", fontsize=9, loc="left")
    loss_ax.set_ylabel(common.label(tr["loss"], "loss"))
    norm_ax.set_ylabel("|W_i|")
    bias_ax.set_ylabel("b_i")
    norm_ax.legend(fontsize=7, ncol=2, frameon=False, title="feature", title_fontsize=7)
    for ax in axes:
        ax.set_xlabel("step")


def render(ds, tr):
    runs = tr["run"].values.tolist()
    fig = common.new_figure(ROW_SIZE[0], ROW_SIZE[1] * len(runs))
    rows = fig.subplots(len(runs), 3, squeeze=False)
    for axes, run in zip(rows, runs):
        draw_run(axes, ds, tr, int(run))
    return fig


def run(args):
    ds = common.open_dataset(args.file)
    common.grid_dims(ds)  # requires `done`
    tr = open_trajectories(args.file, args.run)
    common.save_figure(render(ds, tr), args.output)


main = cli.script(PROG, __doc__, arguments, run, figure="trajectories.png")

if __name__ == "__main__":
    cli.run_module(main)
