"""The study's claims, measured: runs sweeps/findings/*.cfg and writes FINDINGS.md with a figure per claim.

    python3 -m aesweep.findings --out docs            (make findings: docs/FINDINGS.md)
    python3 -m aesweep.findings --quick --out /tmp/f  (tiny grids: checks the pipeline)

Each claim of the optimisation-failure study gets aesweep's measurement (the precision and
horizon it holds at, intervals over replicates only), a figure and a verdict: reproduced,
refuted or qualified. The verdicts come from the rules in the `verdict_*` functions below,
applied to the numbers measured, so other data give other verdicts. --quick shrinks every
grid (seeds, map cells, steps) to seconds: its numbers check the pipeline, not the physics.
"""
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np
from tqdm import tqdm

from . import api, chaos_stats, cli, common
from .stability import loss_hessian

PROG = "aesweep.findings"
ROOT = api.ROOT  # the checkout: its sweeps/ and git history
SWEEPS = os.path.join(ROOT, "sweeps", "findings")
VERDICTS = ("reproduced", "refuted", "qualified")
STUDY_RATE = 0.01          # the study: 1 asymmetric recovery in ~100 seeds
RARE_BAND = (0.003, 0.03)  # "about 1 in 100": a rate whose interval meets this band agrees
STUDY_PLATEAU = 22000      # the study's plateau: from step ~3 000 to the end at 25 000
CRITICAL_GRAD = 1e-3       # |grad L| below this: the hand-made state is (nearly) a critical point


# ---------------------------------------------------------------------------------------
# Running the sweeps

def quicken(text):
    """A config's text with its grids and horizons shrunk for --quick (seconds in all)."""
    text = re.sub(r"range\s*=\s*\[\s*0\s*,\s*(\d+)\s*\]", lambda m: f"range = [0, {min(int(m[1]), 12)}]", text)
    text = re.sub(r"((?:lin|log)space\s*=\s*\[[^,\]]+,[^,\]]+,\s*)(\d+)\s*\]",
                  lambda m: f"{m[1]}{min(int(m[2]), 8)}]", text)
    return re.sub(r"\bsteps\s*=\s*([1-9]\d*)", lambda m: f"steps = {max(1000, int(m[1]) // 10)}", text)


class Runner:
    """Runs the findings' sweeps into one folder and remembers the commands and their times."""

    def __init__(self, work, quick, engine=None):
        self.work, self.quick, self.engine = work, quick, engine
        self.commands, self.seconds = [], 0.0
        os.makedirs(work, exist_ok=True)

    def sweep(self, name, overrides=None, tag=None, quick_overrides=None):
        """Runs sweeps/findings/NAME.cfg into WORK/TAG.h5 (quick_overrides: more --set pairs
        for --quick, where a short run has none of the states the full one selects)."""
        config = os.path.join(SWEEPS, name + ".cfg")
        if self.quick and quick_overrides:
            overrides = {**(overrides or {}), **quick_overrides}
        if self.quick:
            with open(config) as f:
                text = quicken(f.read())
            config = os.path.join(self.work, name + ".quick.cfg")
            with open(config, "w") as f:
                f.write(text)
        out = os.path.join(self.work, (tag or name) + ".h5")
        start = time.time()
        ds = api.run(config, out, overrides=overrides, force=True, engine=self.engine).load()
        took = time.time() - start
        self.seconds += took
        sets = " ".join(f"--set '{a}'" for a in api.set_arguments(overrides)[1::2])
        self.commands.append((f"aesweep run {os.path.relpath(config, ROOT)} -o {out} {sets}".strip(), took))
        return ds


setting = common.config_value  # a setting of the sweep that wrote ds: the horizon, the optimizer...


def code(ds, name):
    return common.outcome_code(ds, name)


def escape_step(ds):
    """Per run, the step from which every feature stays learnt (the largest learnt_step; NaN
    where a feature is unlearnt at the end, -1)."""
    ls = ds.learnt_step.where(ds.learnt_step >= -1)  # past the run's n: no feature
    return ls.max("feature").where(((ls >= 0) | ls.isnull()).all("feature"))


def wilson_text(k, n):
    if n == 0:
        return "– (no runs)"
    lo, hi = common.wilson(k, n)
    return f"{k} of {n} = {100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"


def overlaps(k, n, band):
    """Whether k of n is consistent with a rate in band: k > 0 and the interval meets it."""
    lo, hi = common.wilson(k, n)
    return k > 0 and lo <= band[1] and hi >= band[0]


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def figure_path(out, name):
    os.makedirs(os.path.join(out, "findings"), exist_ok=True)
    return os.path.join(out, "findings", name + ".png")


def title_of(ds, what):
    return (f"{what}\nn = {setting(ds, 'model.n')}, {setting(ds, 'train.optimizer')}, "
            f"{setting(ds, 'train.steps')} steps, init {setting(ds, 'init.scheme')}")


# ---------------------------------------------------------------------------------------
# Claim 1: the symmetric failure is a local optimum

def verdict_local_optimum(ideal_saddle, minima_share):
    """ideal_saddle: the hand-made ideal failure has negative curvature at every n where it is
    a critical point; minima_share: the share of the census's symmetric failures that are
    minima (no negative eigenvalue) and stay symmetric failures in float64."""
    if not ideal_saddle:
        return "reproduced", "the ideal symmetric failure has no negative curvature"
    if minima_share < 0.05:
        return "refuted", "the ideal symmetric failure is a strict saddle, and so are the census's failures"
    return "qualified", ("the ideal symmetric failure (the state the study analysed) is a strict saddle, but "
                         f"{100 * minima_share:.0f} % of the census's symmetric failures are minima that float64 keeps")


def growth_rate(tr, run=0):
    """The measured e-folding rate per step of the distance from the start state along the
    start's unstable eigenvectors, fitted in the linear regime: where that distance is
    1e-3 to 1e-2 of the live features' mean length (past the start's transient, well
    before the escape bends it); also the Hessian's smallest eigenvalue at the start and
    the curve itself (steps, distance, the fitted points)."""
    W, b = tr.W.isel(run=run).values, tr.b.isel(run=run).values
    steps = tr.step.values
    theta = np.concatenate([W.reshape(len(steps), -1), b], axis=1)
    _, H = loss_hessian(W[0], b[0])
    values, vectors = np.linalg.eigh(H)
    along = np.linalg.norm((theta - theta[0]) @ vectors[:, values < 0], axis=1)
    norms = np.linalg.norm(W[0], axis=1)
    length = norms[norms > 0.5 * norms.max()].mean()
    fit = (along >= 1e-3 * length) & (along <= 1e-2 * length)
    rate = np.polyfit(steps[fit], np.log(along[fit]), 1)[0] if fit.sum() >= 2 else np.nan
    return rate, values[0], steps, along, fit


def claim_local_optimum(r, out):
    spec = r.sweep("spectrum")
    esc = r.sweep("sgd_escape")
    census = r.sweep("sgd_census")
    tr = api.open(os.path.join(r.work, "sgd_escape.h5"), group="trajectory").load()
    lines, rows = [], []
    critical_saddle = []
    for n in spec.n.values:
        s = spec.sel(n=n)
        critical = float(s.grad_norm) < CRITICAL_GRAD
        if critical:
            critical_saddle.append(int(s.hessian_neg) > 0)
        rows.append([int(n), f"{float(s.grad_norm):.1e}", f"{float(s.hessian_min):.3g}", int(s.hessian_neg),
                     f"{100 * float(s.hessian_dead_share):.2g} %", "yes" if critical else "no: not a critical point"])
    ideal_saddle = bool(critical_saddle) and all(critical_saddle)
    lines.append("The hand-made ideal failure (`init.scheme = \"ideal_failure\"`: one feature at W = 0, "
                 "b = 1/n, the others a regular polygon), before any step, float64 "
                 "(`sweeps/findings/spectrum.cfg`); `hessian_dead_share` is the weight of the smallest "
                 "eigenvalue's eigenvectors on the unlearnt feature:\n")
    lines.append(markdown_table(["n", "grad_norm", "hessian_min", "hessian_neg", "dead share", "critical"], rows))
    # the escape from the ideal failure under plain SGD
    steps = int(setting(esc, "train.steps"))
    t = escape_step(esc)
    rows = []
    for p in esc.precision.values:
        cells = []
        for lr in esc.lr.values:
            v = float(t.sel(precision=p, lr=lr))
            name = common.outcome_name(esc, float(esc.outcome.sel(precision=p, lr=lr)))
            cells.append(f"{v:.0f}" if np.isfinite(v) else f"– ({name}, frozen {int(esc.frozen.sel(precision=p, lr=lr))})")
        rows.append([p] + cells)
    lines.append(f"\nPlain SGD (no decay) from the ideal failure of n = 7, {steps} steps "
                 "(`sweeps/findings/sgd_escape.cfg`): the step from which every feature stays learnt "
                 "(– : not within the horizon, with the outcome and `frozen`):\n")
    lines.append(markdown_table(["precision"] + [f"lr {lr:.3g}" for lr in esc.lr.values], rows))
    f64 = t.sel(precision="float64")
    ok = np.isfinite(f64.values)
    slope = np.polyfit(np.log(f64.lr.values[ok]), np.log(f64.values[ok]), 1)[0] if ok.sum() >= 2 else np.nan
    rate, lam, tsteps, along, fit = growth_rate(tr)
    lr_tr = float(esc.lr.sel(lr=1.0, method="nearest"))  # the trajectory's run (sgd_escape.cfg)
    predicted = np.log1p(lr_tr * abs(lam)) if lam < 0 else np.nan
    lines.append(f"\n- float64 escape time against lr: log-log slope {slope:.2f} (a linear instability "
                 "predicts −1: t = ln(size/start) / ln(1 + lr |λ_min|)).")
    lines.append(f"- The stored float64 trajectory at lr {lr_tr:g}: the distance from the start along the start's "
                 f"unstable eigenvectors grows by e every {1 / rate:.0f} steps (rate {rate:.4g} per step, fitted "
                 f"over {int(fit.sum())} checks); the Hessian's λ_min = {lam:.4g} predicts ln(1 + lr|λ_min|) = "
                 f"{predicted:.4g}: {100 * (rate / predicted - 1):+.1f} %.")
    # the census: which failures are arithmetic, saddles, minima
    sym = code(census, "symmetric_failure")
    n_model = int(setting(census, "model.n"))
    rows, minima_kept, sym_all = [], 0, 0
    for lr in census.lr.values:
        c = census.sel(lr=lr)
        is_sym = c.outcome == sym
        frozen, saddle = is_sym & (c.frozen == 1), is_sym & (c.hessian_neg > 0)
        minimum = is_sym & (c.hessian_neg == 0)
        f64_sym = c.float64_outcome == sym
        unl = n_model - c.n_learnt
        checked = is_sym & (c.float64_outcome >= 0)
        minima_kept += int((minimum & f64_sym).sum())
        sym_all += int(checked.sum())
        rows.append([f"{lr:g}", int(is_sym.sum()), int(frozen.sum()), int(saddle.sum()), int(minimum.sum()),
                     int((frozen & saddle).sum()), int((frozen & saddle & ~f64_sym & (c.float64_outcome >= 0)).sum()),
                     f"{int((is_sym & (unl == 1)).sum())} / {int((is_sym & (unl == 2)).sum())}",
                     int((minimum & f64_sym).sum()), int(f64_sym.sum())])
    minima_share = minima_kept / sym_all if sym_all else 0.0
    seeds = census.sizes.get("seed", 1)
    lines.append(f"\nThe plain-SGD census (`sweeps/findings/sgd_census.cfg`: n = 7, xavier_normal, "
                 f"{seeds} seeds per lr, {int(setting(census, 'train.steps'))} steps, float32, every run trained "
                 "again in float64 by `check.float64`), its float32 symmetric failures:\n")
    lines.append(markdown_table(["lr", "sym. failures", "frozen", "saddles", "minima", "frozen saddles",
                                 "of those, leave in float64", "1 / 2 unlearnt", "minima kept in float64",
                                 "float64 sym. failures"], rows))
    verdict, why = verdict_local_optimum(ideal_saddle, minima_share)
    fig = draw_local_optimum(out, spec, esc, t, tsteps, along, fit, rate, predicted)
    return {"key": "local_optimum", "claim": "The symmetric failure is a local optimum: the unlearnt feature "
            "prefers W = 0 and b = 1/n, so training stays there.",
            "where": f"float64 for the spectra; SGD escape in float32 and float64 to {steps} steps; the census in "
                     f"float32 with a float64 check, {int(setting(census, 'train.steps'))} steps",
            "body": "\n".join(lines), "figure": fig, "verdict": verdict, "why": why}


def draw_local_optimum(out, spec, esc, t, tsteps, along, fit, rate, predicted):
    fig, axes = panels(15, 4.4, 3)
    ax = axes[0]
    ax.plot(spec.n.values, spec.hessian_min.values, "o-", color="C3")
    ax.axhline(0, color="0.5", lw=0.8)
    for n, g in zip(spec.n.values, spec.grad_norm.values):
        if g >= CRITICAL_GRAD:
            ax.annotate("not critical", (n, float(spec.hessian_min.sel(n=n))), xytext=(4, -10),
                        textcoords="offset points", fontsize=7)
    ax.set(xlabel="n", ylabel="λ_min of the Hessian", title="ideal failure, float64, step 0")
    ax = axes[1]
    for p, style in zip(esc.precision.values, ("s--", "o-")):
        ax.loglog(esc.lr.values, t.sel(precision=p).values, style, label=p)
    ax.set(xlabel="lr", ylabel="escape step", title="plain SGD from the ideal failure (n = 7)")
    ax.legend()
    ax = axes[2]
    ax.semilogy(tsteps, np.where(along > 0, along, np.nan), color="C0", label="measured")
    if np.isfinite(rate) and fit.any():
        s0 = tsteps[fit][0]
        a0 = along[fit][0]
        span = (tsteps > s0 - 15000) & (tsteps < s0 + 15000)
        ax.semilogy(tsteps[span], a0 * np.exp(predicted * (tsteps[span] - s0)), "k:", label="exp(ln(1+lr|λ|) t)")
    ax.set(xlabel="step", ylabel="distance along unstable eigenvectors", title="float64, lr 1")
    ax.legend()
    return save(fig, out, "local_optimum")


def panels(width, height, count):
    fig = common.new_figure(width, height)
    return fig, np.atleast_1d(fig.subplots(1, count))


def save(fig, out, name):
    path = figure_path(out, name)
    common.save_figure(fig, path)
    return os.path.relpath(path, out)


# ---------------------------------------------------------------------------------------
# Claim 2: the failure persists under AdamW

def plateau_stats(ds, horizon=None):
    """Over the seeds of ds (any other axes pooled): runs, runs with a symmetric plateau, of
    those still not escaped at `horizon` (default: the sweep's), median plateau length."""
    horizon = horizon or int(setting(ds, "train.steps"))
    on = (ds.plateau_kind == code(ds, "symmetric_failure")).values.ravel()
    t = escape_step(ds).values.ravel()
    stuck = on & ~(t <= horizon)
    lengths = ds.plateau_length.values.ravel()[on]
    return {"runs": on.size, "plateau": int(on.sum()), "stuck": int(stuck.sum()),
            "median": float(np.median(lengths)) if on.any() else np.nan,
            "long": int((lengths >= STUDY_PLATEAU).sum())}


def verdict_persists(study_stuck, cells_stuck):
    """study_stuck: the share of plateau runs still stuck at the study's horizon and settings;
    cells_stuck: {cell: share} over the settings grid."""
    if study_stuck >= 0.5:
        return "reproduced", "most AdamW runs on a symmetric plateau are still on it at the horizon"
    stuck_cells = [c for c, s in cells_stuck.items() if s > 0.05]
    if study_stuck <= 0.05 and not stuck_cells:
        return "refuted", "almost every AdamW plateau ends by the horizon, at every setting tried"
    return "qualified", ("at the study's settings the plateau ends by the horizon for most runs, but more than "
                         f"5 % stay stuck in {len(stuck_cells)} of {len(cells_stuck)} settings cells ("
                         + "; ".join(stuck_cells[:4]) + ("; …" if len(stuck_cells) > 4 else "") + ")")


def claim_persists(r, out):
    census = r.sweep("adamw_census")
    settings = r.sweep("adamw_settings")
    midway = r.sweep("adamw_midway")
    mid_path = os.path.join(r.work, "adamw_midway.h5")
    every = {"init.select": "all"}  # --quick: 1 000 steps end in no symmetric failure
    keep = r.sweep("adamw_continue", {"init.file": mid_path, "init.optimizer_state": "keep"}, "adamw_keep", every)
    reset = r.sweep("adamw_continue", {"init.file": mid_path, "init.optimizer_state": "reset"}, "adamw_reset", every)
    T = int(setting(census, "train.steps"))
    t = escape_step(census).values.ravel()
    lines = []
    horizons = sorted({h for h in (5000, 10000, 25000, T) if h <= T})
    rows = [[h, wilson_text(int((t <= h).sum()), t.size)] for h in horizons]
    st = plateau_stats(census, 25000 if T >= 25000 else T)
    study_h = 25000 if T >= 25000 else T
    lines.append(f"The AdamW census (`sweeps/findings/adamw_census.cfg`: n = 7, xavier_normal, lr 1e-3, weight "
                 f"decay 0.01, float32, {t.size} seeds, trained to {T} steps): the share of seeds with every "
                 "feature learnt for good by each horizon (from `learnt_step`; intervals over seeds):\n")
    lines.append(markdown_table(["horizon", "all features learnt"], rows))
    lines.append(f"\n- {st['plateau']} of {st['runs']} seeds sat on a symmetric plateau (≥ "
                 f"{setting(census, 'train.plateau_steps')} steps with the loss flat and one feature unlearnt), "
                 f"median length {st['median']:.0f} steps; {wilson_text(st['long'], st['plateau'])} lasted "
                 f"{STUDY_PLATEAU} steps or more (the study's plateau, step ~3 000 to 25 000).")
    study_stuck = st["stuck"] / st["plateau"] if st["plateau"] else 0.0
    lines.append(f"- Still on it at step {study_h}: {wilson_text(st['stuck'], st['plateau'])} of the plateau runs.")
    rows, cells = [], {}
    for eps in settings.eps.values:
        for b2 in settings.beta2.values:
            for wd in settings.weight_decay.values:
                s = plateau_stats(settings.sel(eps=eps, beta2=b2, weight_decay=wd))
                name = f"eps {eps:g}, β₂ {b2:g}, wd {wd:g}"
                cells[name] = s["stuck"] / s["plateau"] if s["plateau"] else 0.0
                rows.append([f"{eps:g}", f"{b2:g}", f"{wd:g}", wilson_text(s["plateau"], s["runs"]),
                             f"{s['median']:.0f}", wilson_text(s["stuck"], s["plateau"])])
    lines.append(f"\nThe dependence on the settings (`sweeps/findings/adamw_settings.cfg`, lr 1e-3, "
                 f"{settings.sizes['seed']} seeds a cell, {int(setting(settings, 'train.steps'))} steps):\n")
    lines.append(markdown_table(["eps", "β₂", "weight decay", "seeds on a symmetric plateau", "median length",
                                 "still on it at the end"], rows))
    # continuing the plateau states with Adam's moments kept or reset
    total = int(setting(midway, "train.steps")) + int(setting(keep, "train.steps"))
    perfect = code(keep, "perfect")
    k_keep, k_reset = int((keep.outcome == perfect).sum()), int((reset.outcome == perfect).sum())
    bases = int(keep.outcome.size)
    same = int((keep.outcome == reset.outcome).sum())
    lines.append(f"\nKeeping Adam's moments or resetting them (`sweeps/findings/adamw_midway.cfg` to step "
                 f"{setting(midway, 'train.steps')} with `output.optimizer_state`, then its {bases} symmetric "
                 f"failures trained on to step {total} by `adamw_continue.cfg`): perfect at step {total} with the "
                 f"moments kept {wilson_text(k_keep, bases)}, reset {wilson_text(k_reset, bases)}; {same} of "
                 f"{bases} end in the same outcome either way. Intervals over the base states.")
    tk, tr_ = escape_step(keep).values.ravel(), escape_step(reset).values.ravel()
    if np.isfinite(tk).any() and np.isfinite(tr_).any():
        lines.append(f"  Median escape after the restart: {np.nanmedian(tk):.0f} steps kept, "
                     f"{np.nanmedian(tr_):.0f} reset.")
    verdict, why = verdict_persists(study_stuck, cells)
    fig = draw_persists(out, census, t, settings, tk, tr_)
    return {"key": "persists", "claim": "Under AdamW the symmetric failure persists: the study's run sat in it "
            "from step ~3 000 to the end at 25 000.",
            "where": f"float32; the census to {T} steps, the settings grid to {int(setting(settings, 'train.steps'))}",
            "body": "\n".join(lines), "figure": fig, "verdict": verdict, "why": why}


def draw_persists(out, census, t, settings, tk, tr_):
    fig, axes = panels(15, 4.4, 3)
    T = int(setting(census, "train.steps"))
    grid = np.linspace(0, T, 400)
    ax = axes[0]
    ax.plot(grid, [(t <= g).mean() for g in grid], color="C0")
    ax.set(xlabel="step", ylabel="share of seeds with every feature learnt", ylim=(0, 1.02),
           title=title_of(census, "AdamW census"))
    ax = axes[1]
    labels, shares = [], []
    for eps in settings.eps.values:
        for wd in settings.weight_decay.values:
            s = plateau_stats(settings.sel(eps=eps, weight_decay=wd))
            labels.append(f"eps {eps:g}\nwd {wd:g}")
            shares.append(s["stuck"] / s["plateau"] if s["plateau"] else 0.0)
    ax.bar(range(len(labels)), shares, color="C1")
    ax.set_xticks(range(len(labels)), labels, fontsize=6)
    ax.set(ylabel="plateau runs still stuck at the end", title="AdamW settings (β₂ pooled)")
    ax = axes[2]
    for name, v, c in (("moments kept", tk, "C0"), ("moments reset", tr_, "C3")):
        v = np.sort(v[np.isfinite(v)])
        if v.size:
            ax.step(v, np.arange(1, v.size + 1) / max(tk.size, 1), where="post", color=c, label=name)
    ax.set(xlabel="steps after the restart", ylabel="share escaped", title="plateau states continued")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return save(fig, out, "persists")


# ---------------------------------------------------------------------------------------
# Claim 3: asymmetric recovery is rare

def verdict_rare(study_k, study_n, others):
    """study_k of study_n seeds recover at the study's setting; others: [(label, k, n)]."""
    if overlaps(study_k, study_n, RARE_BAND):
        return "reproduced", "at the study's setting about 1 seed in 100 recovers"
    agree = [label for label, k, n in others if overlaps(k, n, RARE_BAND)]
    lo, hi = common.wilson(study_k, study_n)
    side = "far more" if lo > RARE_BAND[1] else "far fewer"
    if agree:
        return "qualified", (f"at the study's setting {side} seeds recover than 1 in 100; about 1 in 100 only at "
                             + ", ".join(agree[:4]))
    return "refuted", f"{side} seeds recover than 1 in 100, at every setting measured"


def claim_rare(r, out, datasets):
    lrs = r.sweep("adamw_lr")
    rows, others = [], []
    study = None
    for opt in lrs.optimizer.values:
        for lr in lrs.lr.values:
            c = lrs.sel(optimizer=opt, lr=lr)
            k, n = int((c.recovered == 1).sum()), int(c.recovered.size)
            sym = c.plateau_unlearnt.where(c.recovered == 1)
            label = f"{opt} lr {lr:g}"
            rows.append([opt, f"{lr:g}", setting(lrs, "train.steps"), "float32", wilson_text(k, n),
                         f"{int((sym == 1).sum())} / {int((sym >= 2).sum())}"])
            if opt == "adamw" and np.isclose(lr, 1e-3):
                study = (k, n)
            else:
                others.append((label, k, n))
    sgd = datasets["sgd_census"]
    for lr in sgd.lr.values:
        c = sgd.sel(lr=lr)
        k, n = int((c.recovered == 1).sum()), int(c.recovered.size)
        sym = c.plateau_unlearnt.where(c.recovered == 1)
        rows.append(["sgd", f"{lr:g}", setting(sgd, "train.steps"), "float32", wilson_text(k, n),
                     f"{int((sym == 1).sum())} / {int((sym >= 2).sum())}"])
        others.append((f"sgd lr {lr:g}", k, n))
    long = datasets["adamw_census"]
    k, n = int((long.recovered == 1).sum()), int(long.recovered.size)
    rows.append(["adamw", "0.001", setting(long, "train.steps"), "float32", wilson_text(k, n), ""])
    points = [(label, k_, n_) for label, k_, n_ in others] + [(f"adamw lr 0.001 {setting(lrs, 'train.steps')}", *study),
                                                             (f"adamw lr 0.001 {setting(long, 'train.steps')}", k, n)]
    lines = [f"`recovered`: a run that sat on a symmetric plateau and ended perfect. Per optimizer and lr "
             f"(`sweeps/findings/adamw_lr.cfg`: weight decay 0.01, {lrs.sizes['seed']} seeds; the SGD census of "
             "claim 1; the AdamW census of claim 2), intervals over seeds; the last column splits the recoveries "
             "by the unlearnt features on the plateau (1 / 2 or more):\n",
             markdown_table(["optimizer", "lr", "steps", "precision", "seeds recovered", "from 1 / ≥2 unlearnt"],
                            rows)]
    verdict, why = verdict_rare(study[0], study[1], others)
    fig = draw_rare(out, points)
    return {"key": "rare", "claim": "Asymmetric recovery from the symmetric failure is rare: about 1 seed in 100.",
            "where": f"float32, {setting(lrs, 'train.steps')} steps (and {setting(long, 'train.steps')} for the "
                     "AdamW census)",
            "body": "\n".join(lines), "figure": fig, "verdict": verdict, "why": why}


def draw_rare(out, points):
    """points: [(label, k, n)]: k of n seeds recovered."""
    fig, (ax,) = panels(9, 4.4, 1)
    mid = np.array([k / n for _, k, n in points])
    bounds = np.array([common.wilson(k, n) for _, k, n in points])
    err = np.clip([mid - bounds[:, 0], bounds[:, 1] - mid], 0, None)
    ax.errorbar(range(len(mid)), mid, yerr=err, fmt="o", color="C0", capsize=3)
    ax.axhspan(*RARE_BAND, color="C1", alpha=0.2, label="about 1 in 100")
    ax.set_xticks(range(len(points)), [label.replace(" ", "\n", 1) for label, _, _ in points], fontsize=6)
    ax.set(ylabel="share of seeds recovered (95 % Wilson)", title="asymmetric recovery, n = 7, xavier_normal, float32")
    ax.legend()
    return save(fig, out, "rare")


# ---------------------------------------------------------------------------------------
# Claim 4: splay rises with lr, then turns patchy: chaos

def spearman(x, y):
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def verdict_chaos(rho, smooth_verdict, mixed_verdict, disagreement):
    """rho: rank correlation of splay with lr; the chaos_stats verdicts of the low-lr and the
    high-lr region; disagreement: share of high-lr cells whose outcome float32 and float64 differ."""
    mixed = mixed_verdict.startswith(("flat", "falls slower"))
    smooth = smooth_verdict.startswith(("falls like", "no boundary"))
    if rho > 0.5 and mixed and smooth:
        return "qualified", ("splay rises with lr at low lr, and the outcome is chaotic only in the high-lr band (flat or "
                             f"fractal uncertainty, {100 * disagreement:.0f} % of its cells change with precision); "
                             "below it the boundary is smooth")
    if rho > 0.5 and mixed:
        return "reproduced", "splay rises with lr and the map is chaotic wherever it is patchy"
    return "refuted", "splay does not rise with lr, or no region of the map is chaotic"


def claim_chaos(r, out):
    ch = r.sweep("chaos")
    regions = [(name, b) for name, b in chaos_stats.regions_in_config(setting_text(ch))  # that hold cells
               if all(((ch[k] >= lo) & (ch[k] <= hi)).any() for k, (lo, hi) in b.items())]
    perfect = code(ch, "perfect")
    lines, rows, verdicts = [], [], {}
    for p in ch.precision.values:
        one = ch.sel(precision=p)
        u = chaos_stats.regional(one, regions, split="perfect", method="grid", x="lr", y="bias_delta")
        for name in u.region.values:
            s = u.sel(region=name)
            verdicts[(p, str(name))] = str(s.verdict.values)
            f1 = float(s.f.isel(eps=0)) if s.f.size else np.nan
            rows.append([p, str(name), str(s.bounds.values), f"{float(s.alpha):.2f} [{float(s.alpha_lo):.2f}, "
                         f"{float(s.alpha_hi):.2f}]", f"{100 * f1:.1f} %", str(s.verdict.values)])
    splay = ch.sel(precision="float64").splay.median("bias_delta")
    low = dict(regions).get("smooth", {}).get("lr", (0, np.inf))
    below = (splay.lr >= low[0]) & (splay.lr <= low[1])
    rho = spearman(splay.lr.values[below], splay.values[below]) if below.sum() >= 3 else np.nan
    rho_all = spearman(splay.lr.values, splay.values)
    peak = float(splay.lr[int(splay.argmax())])
    mixed_bounds = dict(regions).get("mixed", {}).get("lr", (np.inf, np.inf))
    hi = (ch.lr >= mixed_bounds[0]) & (ch.lr <= mixed_bounds[1])
    out32, out64 = ch.outcome.sel(precision="float32"), ch.outcome.sel(precision="float64")
    cells = int(hi.sum()) * ch.sizes["bias_delta"]
    disagree = float(((out32 != out64) & hi).sum()) / cells if cells else 0.0
    lines.append(f"AdamW (weight decay 0.01) from the ideal failure of n = 7 with the biases of the dead feature's "
                 f"two neighbours raised by Δ, {ch.sizes['bias_delta']} × {ch.sizes['lr']} runs over Δ × lr, "
                 f"{setting(ch, 'train.steps')} steps, in float32 and float64 (`sweeps/findings/chaos.cfg`).\n")
    lines.append(f"- Splay (the study's measure, Σ|W_j|, at the end) against lr, its median over Δ (float64): rank "
                 f"correlation {rho:.2f} with lr in the low-lr region (lr {low[0]:g}–{low[1]:g}), {rho_all:.2f} over "
                 f"the whole map; the median is largest at lr {peak:.2g}.")
    lines.append(f"- Cells of the high-lr band whose outcome differs between float32 and float64: "
                 f"{100 * disagree:.1f} %.")
    lines.append("- Per region (`aesweep.chaos_stats`, grid method: neighbouring cells, the split perfect or not; "
                 "α is the uncertainty exponent, f(1) the share of cells whose neighbour one cell away differs; "
                 "intervals are over the cells of one map, so too narrow):\n")
    lines.append(markdown_table(["precision", "region", "bounds", "α [95 %]", "f(1 cell)", "verdict"], rows))
    verdict, why = verdict_chaos(rho, verdicts.get(("float64", "smooth"), ""), verdicts.get(("float64", "mixed"), ""),
                                 disagree)
    fig = draw_chaos(out, ch, perfect)
    return {"key": "chaos", "claim": "Splay rises with the learning rate and turns patchy at high lr: recovery is "
            "chaotic in Δ × lr.",
            "where": f"float32 and float64, {setting(ch, 'train.steps')} steps", "body": "\n".join(lines),
            "figure": fig, "verdict": verdict, "why": why}


def setting_text(ds):
    return common.provenance(ds).get("config", "")


def draw_chaos(out, ch, perfect):
    fig, axes = panels(15, 4.6, 3)
    lr, delta = ch.lr.values, ch.bias_delta.values
    for ax, p in zip(axes[:2], ch.precision.values):
        m = ax.pcolormesh(lr, delta, ch.splay.sel(precision=p).transpose("bias_delta", "lr").values, shading="nearest")
        ax.set_xscale("log")
        ax.set(xlabel="lr", ylabel="Δ", title=title_of(ch, f"splay, {p}"))
        fig.colorbar(m, ax=ax)
    differ = (ch.outcome.sel(precision="float32") != ch.outcome.sel(precision="float64"))
    axes[2].pcolormesh(lr, delta, differ.transpose("bias_delta", "lr").values.astype(float), shading="nearest",
                       cmap="Greys", vmin=0, vmax=1)
    axes[2].set_xscale("log")
    axes[2].set(xlabel="lr", ylabel="Δ", title="outcome differs, float32 vs float64 (black)")
    return save(fig, out, "chaos")


# ---------------------------------------------------------------------------------------
# Claim 5: Anthropic's resampling against the proposed repulsor

def rescue_rates(ds):
    """{(method, delta): (rescued, fired)} over the seeds whose intervention fired (on a
    plateau), and the baseline `none` over the same seeds; methods that do not read delta
    counted once (at the first delta)."""
    perfect = code(ds, "perfect")
    fired = (ds.intervened_step >= 0).any(["intervention", "intervene_delta"])
    rates = {}
    for m in ds.intervention.values:
        deltas = ds.intervene_delta.values if m in REPULSORS else ds.intervene_delta.values[:1]
        for d in deltas:
            c = ds.sel(intervention=m, intervene_delta=d)
            rates[(str(m), float(d))] = (int(((c.outcome == perfect) & fired).sum()), int(fired.sum()))
    return rates


REPULSORS = ("repulsor", "gap")  # the study's idea, literal and well-posed (README: resampling)


def verdict_rescue(results):
    """results: {setting: {(method, delta): (k, n)}}: the repulsor idea at its best (the
    literal repulsor or gap, at any delta: the best of those variants, uncorrected for the
    choice) against Anthropic's resampling, by their Wilson intervals, per setting."""
    wins, losses = [], []
    for opt, rates in results.items():
        a_lo, a_hi = common.wilson(*rates[("anthropic", 0.0)])
        best = max((v for (m, _), v in rates.items() if m in REPULSORS), key=lambda v: v[0] / max(v[1], 1))
        r_lo, r_hi = common.wilson(*best)
        if r_lo > a_hi:
            wins.append(opt)
        elif a_lo > r_hi:
            losses.append(opt)
    even = [opt for opt in results if opt not in wins + losses]
    if len(wins) == len(results):
        return "reproduced", "the repulsor idea rescues more plateau runs than Anthropic's resampling in every setting"
    if not wins:
        return "refuted", ("the repulsor idea rescues more plateau runs than resampling in no setting (resampling "
                           "ahead: " + (", ".join(losses) or "none") + "; no difference: " + (", ".join(even) or "none")
                           + ")")
    return "qualified", ("the repulsor idea (its best variant) is ahead of resampling under " + ", ".join(wins)
                         + "; resampling ahead under " + (", ".join(losses) or "none") + "; no difference under "
                         + (", ".join(even) or "none"))


def claim_rescue(r, out):
    # the study's AdamW; AdamW with the decay whose plateaus last (claim 2); SGD where plateaus last
    configs = {"adamw wd 0.01": {"train.optimizer": "adamw", "train.lr": 1e-3, "train.weight_decay": 0.01},
               "adamw wd 0.1": {"train.optimizer": "adamw", "train.lr": 1e-3, "train.weight_decay": 0.1},
               "sgd lr 0.3": {"train.optimizer": "sgd", "train.lr": 0.3, "train.weight_decay": 0.0}}
    results, rows, sets = {}, [], {}
    for opt, over in configs.items():
        ds = r.sweep("rescue", over, "rescue_" + opt.replace(" ", "_"))
        sets[opt] = ds
        results[opt] = rescue_rates(ds)
        base = ds.sel(intervention="none", intervene_delta=ds.intervene_delta.values[0])
        fired = (ds.intervened_step >= 0).any(["intervention", "intervene_delta"])
        unl = base.plateau_unlearnt.where(fired)
        for (m, d), (k, n) in results[opt].items():
            c = ds.sel(intervention=m, intervene_delta=d)
            won = (c.outcome == code(ds, "perfect")) & fired
            split = " / ".join(f"{int((won & (unl == u)).sum())} of {int((unl == u).sum())}" for u in (1, 2))
            rows.append([opt.split()[0], over["train.lr"], over["train.weight_decay"], m, f"{d:g}" if m in REPULSORS else "–", wilson_text(k, n),
                         split])
    first = next(iter(sets.values()))
    seeds = first.sizes["seed"]
    lines = [f"Each method fires once, on a run that sits on a plateau, when it does (`intervene.when = "
             f"\"plateau\"`; `sweeps/findings/rescue.cfg`, n = 7, xavier_normal, {seeds} seeds, "
             f"{setting(first, 'train.steps')} steps, float32). A run is rescued when it ends perfect; "
             "`none` is the same seeds left alone; the rate is over the seeds whose plateau triggered it "
             "(intervals over those seeds), split by the unlearnt features on the plateau (1 / 2):\n",
             markdown_table(["optimizer", "lr", "decay", "method", "Δ", "rescued", "from 1 / 2 unlearnt"], rows)]
    verdict, why = verdict_rescue(results)
    fig = draw_rescue(out, results)
    lines.append("\nThe verdict compares resampling with the best of the four repulsor variants (`repulsor`, the "
                 "study's literal rule; `gap`, the same idea on the widest angular gap; each at both Δ), "
                 "uncorrected for that choice of four.")
    return {"key": "rescue", "claim": "The study's repulsor (dead features seeded against the live sum, biases "
            "nudged) should rescue dead features better than Anthropic's resampling.",
            "where": f"float32, {setting(first, 'train.steps')} steps; " + ", ".join(configs),
            "body": "\n".join(lines), "figure": fig, "verdict": verdict, "why": why}


def draw_rescue(out, results):
    fig, axes = panels(5 * len(results), 4.4, len(results))
    for ax, (opt, rates) in zip(np.atleast_1d(axes), results.items()):
        labels, mid, err = [], [], [[], []]
        for (m, d), (k, n) in rates.items():
            lo, hi = common.wilson(k, n) if n else (0, 0)
            p = k / n if n else 0
            labels.append(f"{m}\nΔ {d:g}" if m in REPULSORS else m)
            mid.append(p), err[0].append(max(p - lo, 0)), err[1].append(max(hi - p, 0))
        ax.bar(range(len(mid)), mid, yerr=err, capsize=3, color="C2")
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set(ylim=(0, 1.05), ylabel="plateau runs rescued (95 % Wilson)", title=f"{opt}: interventions on a plateau")
    return save(fig, out, "rescue")


# ---------------------------------------------------------------------------------------
# The report

def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, CPU backend"


def commit():
    try:
        sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "") if sha else "unknown"
    except OSError:
        return "unknown"


def render(findings, runner, started, elapsed, quick, command):
    head = ["# Findings: the optimisation-failure study, claim by claim", "",
            f"Produced on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} on {machine()}, at commit "
            f"{commit()}, by `{command}` in {elapsed / 60:.1f} min (the engine's sweeps: {runner.seconds:.0f} s).",
            ""]
    if quick:
        head += ["**Quick variant (`--quick`): tiny grids and horizons that check the pipeline. These numbers and "
                 "verdicts say nothing about the physics.**", ""]
    head += ["Every number below comes from the sweeps listed at the end; intervals are 95 % Wilson intervals over "
             "replicates (seeds or base states) only; runs that are the same run are counted once. Each verdict is "
             "the rule in `analysis/aesweep/findings.py` (`verdict_*`) applied to these numbers.", "",
             "| # | claim | verdict |", "|---|---|---|"]
    head += [f"| {k + 1} | {f['claim']} | **{f['verdict']}** |" for k, f in enumerate(findings)]
    body = []
    for k, f in enumerate(findings):
        body += ["", f"## {k + 1}. {f['claim']}", "", f"*Precision and horizon:* {f['where']}.", "", f["body"], "",
                 f"![{f['key']}]({f['figure']})", "", f"**Verdict: {f['verdict']}** — {f['why']}."]
    tail = ["", "## Commands", "", "| command | seconds |", "|---|---|"]
    tail += [f"| `{c}` | {s:.1f} |" for c, s in runner.commands]
    return "\n".join(head + body + tail) + "\n"


CLAIMS = ("local_optimum", "persists", "rare", "chaos", "rescue")


def arguments(p):
    p.add_argument("--out", default="docs", help="folder for FINDINGS.md and findings/*.png (default: docs)")
    p.add_argument("--work", help="folder for the sweeps' output files (default: OUT/findings-data)")
    p.add_argument("--quick", action="store_true", help="tiny grids and horizons: seconds, checks the pipeline only")
    p.add_argument("--engine", help="the aesweep binary (default: build/aesweep)")


def run(args):
    started = time.time()
    work = args.work or os.path.join(args.out, "findings-data")
    runner = Runner(work, args.quick, args.engine)
    findings, data = [], {}
    with tqdm(total=len(CLAIMS), desc="findings", unit="claim", file=sys.stderr) as bar:
        for key in CLAIMS:
            bar.set_postfix_str(key)
            if key == "local_optimum":
                f = claim_local_optimum(runner, args.out)
                data["sgd_census"] = api.open(os.path.join(work, "sgd_census.h5")).load()
            elif key == "persists":
                f = claim_persists(runner, args.out)
                data["adamw_census"] = api.open(os.path.join(work, "adamw_census.h5")).load()
            elif key == "rare":
                f = claim_rare(runner, args.out, data)
            elif key == "chaos":
                f = claim_chaos(runner, args.out)
            else:
                f = claim_rescue(runner, args.out)
            assert f["verdict"] in VERDICTS
            findings.append(f)
            bar.update()
    command = ("python3 -m aesweep.findings" + " --quick" * args.quick + f" --out {args.out}"
               + f" --work {args.work}" * bool(args.work))
    text = render(findings, runner, started, time.time() - started, args.quick, command)
    path = os.path.join(args.out, "FINDINGS.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}: " + ", ".join(f"{f['key']} {f['verdict']}" for f in findings))


main = cli.script(PROG, __doc__, arguments, run)

if __name__ == "__main__":
    cli.run_module(main)
