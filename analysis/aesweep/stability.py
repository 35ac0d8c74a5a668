"""Stability of states: the gradient and exact Hessian of the loss, and what they say.

    python3 -m aesweep.stability OUT.h5 [--states final|trajectory] [--sel AXIS=VALUE]...

For each state (W, b) — the final states of a file, base states (the final states of the
file an `init.file` names), or the points of its stored trajectories — in float64, with
the ReLU pattern of the state held fixed (entry (i, j) on where Z_ij = W_i.W_j + b_i > 0;
at a kink, Z_ij = 0 exactly, it is off: the one-sided derivatives from the off side, as the
engine's own gradient takes them):

    grad_norm           |grad L| over all n m + n parameters
    hessian_min         the smallest eigenvalue of the Hessian of L
    hessian_neg         eigenvalues below -tol x max |eigenvalue| (tol: outcome.hessian_tol,
                        at least 2^-20 for float32 runs, whose rounding bends flat directions)
    hessian_dead_share  weight of the smallest eigenvalue's unit eigenvector(s) on the
                        unlearnt features' W_i, b_i (NaN when every feature is learnt)

the same numbers the engine writes (src/trust/stability.c). The script prints, per outcome, how
many final states are saddles (hessian_neg > 0) and how many have no negative curvature.
"""

import numpy as np
import xarray as xr

from . import cli, common

PROG = "aesweep.stability"
DEFAULT_TOL = 1e-9  # outcome.hessian_tol's default
F32_FLOOR = 2.0 ** -20  # the cut of a float32 run is at least this (ae_stability_cut)
VARIABLES = ("grad_norm", "hessian_min", "hessian_neg", "hessian_dead_share")


def loss_hessian(W, b):
    """Gradient (P) and Hessian (P x P) of L at theta = [W (n x m, row i = feature i) | b],
    P = n m + n, the parameters ordered as the engine's theta (W feature-major, then b).

    L = (1/n^2) sum_ij (ReLU(Z_ij) - I_ij)^2; with the pattern fixed, an on entry adds
    (2/n^2) r_ij g_ij to the gradient and (2/n^2)(g_ij g_ij^T + r_ij d2Z_ij) to the Hessian,
    r_ij = Z_ij - I_ij, g_ij = dZ_ij/dtheta: W_j on W_i's slots and W_i on W_j's (2 W_i on
    the diagonal), 1 on b_i; d2Z_ij/dW_i dW_j = I (i != j), d2Z_ii/dW_i^2 = 2 I."""
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n, m = W.shape
    P = n * m + n
    Z = W @ W.T + b[:, None]
    on = Z > 0
    r = np.where(on, Z - np.eye(n), 0.0)
    scale = 2.0 / (n * n)
    D = scale * r  # dL/dZ_ij (0 where off)
    grad = np.concatenate([((D + D.T) @ W).ravel(), D.sum(axis=1)])
    # G[i, j] = g_ij as a P-vector, only for the on entries
    ii, jj = np.nonzero(on)
    G = np.zeros((len(ii), P))
    rows = np.arange(len(ii))
    for k in range(m):
        G[rows, ii * m + k] += W[jj, k]
        G[rows, jj * m + k] += W[ii, k]  # on the diagonal: 2 W_i
    G[rows, n * m + ii] = 1.0
    H = scale * (G.T @ G)
    for k in range(m):  # r_ij on both off-diagonal blocks, 2 r_ii on the diagonal
        at = np.arange(n) * m + k
        H[np.ix_(at, at)] += D + D.T
    return grad, H


def unlearnt_features(W, b):
    recon = np.maximum((np.asarray(W, dtype=np.float64) ** 2).sum(axis=1) + b, 0.0)
    return recon < common.LEARNT


def stability_of(W, b, tol=DEFAULT_TOL):
    """The four numbers of one state (a dict), as src/trust/stability.c computes them."""
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if not (np.isfinite(W).all() and np.isfinite(b).all()):
        return {"grad_norm": np.nan, "hessian_min": np.nan, "hessian_neg": -1, "hessian_dead_share": np.nan}
    n, m = W.shape
    grad, H = loss_hessian(W, b)
    values, vectors = np.linalg.eigh(H)
    cut = tol * max(abs(values[0]), abs(values[-1]))
    cluster = int(np.count_nonzero(values <= values[0] + cut))  # a degenerate smallest eigenvalue
    dead = unlearnt_features(W, b)
    share = np.nan
    if dead.any():
        where = np.concatenate([np.repeat(dead, m), dead])
        share = float((vectors[where, :cluster] ** 2).sum() / cluster)
    return {"grad_norm": float(np.sqrt(grad @ grad)), "hessian_min": float(values[0]),
            "hessian_neg": int(np.count_nonzero(values < -cut)), "hessian_dead_share": share}


def run_tolerance(ds, tol=None):
    """hessian_neg's relative cut for the runs of ds, over its grid (a DataArray or a float):
    tol (default: the file's outcome.hessian_tol), at least 2^-20 where a run is float32."""
    config = common.config(ds)
    tol = float(config.get("outcome.hessian_tol", DEFAULT_TOL)) if tol is None else float(tol)
    if "precision" in ds.coords:
        return xr.where(ds["precision"] == "float32", max(tol, F32_FLOOR), tol)
    return max(tol, F32_FLOOR) if config.get("model.precision", "float32") == "float32" else tol


def stability(ds, states="final", tol=None):
    """The stability of states of ds as an xarray.Dataset with grad_norm, hessian_min,
    hessian_neg and hessian_dead_share over the states' own dimensions.

    ds: an aesweep output (xarray.Dataset or a path). states: "final" (W_final, b_final over
    the grid axes: also the base states another sweep's init.file reads from it) or
    "trajectory" (the file's trajectory group: over run and step). tol: hessian_neg's
    relative cut (default: the file's, with the float32 floor for float32 runs)."""
    if not isinstance(ds, xr.Dataset):
        path = str(ds)
        ds = common.open_dataset(path)
        if states == "trajectory":
            traj = common.open_dataset(path, group="trajectory")
            traj.attrs.update(ds.attrs)
            return stability(traj, "trajectory", tol)
    if states == "final":
        W, b = common.require(ds, "W_final", "b_final")
        cut = run_tolerance(ds, tol)
    elif states == "trajectory":
        W, b = common.require(ds, "W", "b")
        cut = run_tolerance(ds, tol)
        if isinstance(cut, xr.DataArray):  # a precision axis: trajectories are by flat run
            cut = float(cut.min())
    else:
        raise common.AnalysisError(f"states must be 'final' or 'trajectory', not {states!r}")
    dims = [d for d in b.dims if d != "feature"]
    shape = [b.sizes[d] for d in dims]
    Wv = W.transpose(*dims, "feature", "latent").values.reshape(-1, W.sizes["feature"], W.sizes["latent"])
    bv = b.transpose(*dims, "feature").values.reshape(-1, b.sizes["feature"])
    cuts = (cut.broadcast_like(b.isel(feature=0)).transpose(*dims).values.ravel()
            if isinstance(cut, xr.DataArray) else np.full(len(bv), cut))
    out = {name: np.full(len(bv), np.nan) for name in VARIABLES}
    out["hessian_neg"] = np.full(len(bv), -1, dtype=np.int64)
    for s in range(len(bv)):
        features = ~np.isnan(bv[s])  # past a run's own n and m: NaN
        if not features.any():
            continue
        Ws = Wv[s][features]
        Ws = Ws[:, ~np.isnan(Ws).all(axis=0)]
        for name, value in stability_of(Ws, bv[s][features], cuts[s]).items():
            out[name][s] = value
    coords = {d: ds[d] for d in dims if d in ds.coords}
    result = xr.Dataset({name: (dims, values.reshape(shape)) for name, values in out.items()}, coords=coords)
    for name in VARIABLES:
        if name in ds.variables:
            result[name].attrs.update({k: v for k, v in ds[name].attrs.items() if k in ("units", "long_name")})
    return result


def saddle_census(ds):
    """Per outcome of the finished runs: runs, saddles (hessian_neg > 0), states without
    negative curvature (hessian_neg = 0), not computed, median hessian_min and median
    hessian_dead_share. Reads the engine's variables (computes them where missing)."""
    names = dict(common.outcome_classes(ds))
    st = ds if "hessian_neg" in ds.variables else stability(ds)
    done = common.done_mask(ds)
    outcome = ds["outcome"].where(done)
    rows = []
    for code, name in sorted(names.items()):
        here = (outcome == code).values
        if not here.any():
            continue
        neg = st["hessian_neg"].values[here]
        computed = neg >= 0
        rows.append({"outcome": name, "runs": int(here.sum()), "saddles": int((neg > 0).sum()),
                     "no_negative_curvature": int((neg == 0).sum()), "not_computed": int((~computed).sum()),
                     "median_hessian_min": float(np.nanmedian(st["hessian_min"].values[here][computed]))
                     if computed.any() else np.nan,
                     "median_dead_share": float(np.nanmedian(st["hessian_dead_share"].values[here][computed]))
                     if computed.any() and np.isfinite(st["hessian_dead_share"].values[here][computed]).any()
                     else np.nan})
    return rows


def arguments(p):
    p.add_argument("file", help="aesweep output (HDF5)")
    p.add_argument("--states", choices=("final", "trajectory"), default="final",
                   help="which states: the final ones (default) or the stored trajectory points")
    cli.add_sel(p)


def run(args):
    if args.states == "trajectory":
        st = stability(args.file, "trajectory")
        print(st.to_dataframe().to_string())
        return
    ds = common.select(common.open_dataset(args.file), args.sel)
    rows = saddle_census(ds)
    header = ["outcome", "runs", "saddles", "no neg. curvature", "not computed", "median hessian_min",
              "median dead share"]
    table = [[r["outcome"], r["runs"], r["saddles"], r["no_negative_curvature"], r["not_computed"],
              common.fmt(r["median_hessian_min"]), common.fmt(r["median_dead_share"])] for r in rows]
    print("\n".join(common.format_table(header, table)))


main = cli.script(PROG, __doc__, arguments, run)

if __name__ == "__main__":
    cli.run_module(main)
