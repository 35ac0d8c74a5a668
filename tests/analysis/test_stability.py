"""aesweep.stability: the exact Hessian against finite differences, and against the engine's
own grad_norm / hessian_min / hessian_neg / hessian_dead_share on files it wrote."""
import os
import subprocess

import numpy as np
import pytest

from aesweep import common, stability

from conftest import ENGINE, ROOT, produce, run_module


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    return produce(tmp_path_factory, "stability.cfg", "stability.h5")


def finite_difference_hessian(W, b, h=1e-6):
    theta = np.concatenate([W.ravel(), b])
    n, m = W.shape

    def grad(t):
        return stability.loss_hessian(t[: n * m].reshape(n, m), t[n * m:])[0]

    columns = []
    for e in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[e] += h
        down[e] -= h
        columns.append((grad(up) - grad(down)) / (2 * h))
    return np.array(columns).T


@pytest.mark.parametrize("n,m", [(3, 1), (7, 2), (9, 3), (12, 4)])
def test_hessian_matches_finite_differences(n, m):
    rng = np.random.default_rng(n * 10 + m)
    for _ in range(20):
        W, b = 0.7 * rng.standard_normal((n, m)), 0.3 * rng.standard_normal(n)
        if np.abs(W @ W.T + b[:, None]).min() > 1e-3:  # away from every kink
            break
    else:
        pytest.fail("no random state away from the kinks")
    _, H = stability.loss_hessian(W, b)
    assert np.allclose(H, H.T, rtol=0, atol=0)
    assert np.allclose(H, finite_difference_hessian(W, b), rtol=1e-6, atol=1e-8)


def test_kink_is_off():
    rng = np.random.default_rng(3)
    W, b = 0.8 * rng.standard_normal((4, 2)), np.full(4, -0.4)
    b[1] = -(W[1] @ W[0])  # Z_10 = 0: off, the entry adds nothing
    _, H = stability.loss_hessian(W, b)
    b_off = b.copy()
    b_off[1] -= 1e-3  # clearly off: the same pattern, the same (piecewise quadratic) Hessian
    _, H_off = stability.loss_hessian(W, b_off)
    assert np.allclose(H, H_off, atol=1e-2 * 1e-3 * 10)  # only r changes, by 1e-3 x 2/n^2
    b_on = b.copy()
    b_on[1] += 1e-9
    _, H_on = stability.loss_hessian(W, b_on)
    assert H_on[8 + 1, 8 + 1] - H[8 + 1, 8 + 1] == pytest.approx(2 / 16, rel=1e-6)


def test_engine_and_package_agree(states):
    ds = common.open_dataset(states)
    mine = stability.stability(ds)
    scale = 2.0 / 49  # the size of the Hessian's entries at n = 7
    for name in ("grad_norm", "hessian_min"):
        a, b = mine[name].values, ds[name].values
        assert np.all(np.abs(a - b) <= 1e-9 * np.abs(b) + 1e-13 * scale), name
    assert (mine["hessian_neg"].values == ds["hessian_neg"].values).all()
    a, b = mine["hessian_dead_share"].values, ds["hessian_dead_share"].values
    assert (np.isnan(a) == np.isnan(b)).all()
    assert np.nanmax(np.abs(a - b)) < 1e-6
    # every kind of state is in the file: saddles and states without negative curvature
    assert (ds["hessian_neg"].values > 0).any() and (ds["hessian_neg"].values == 0).any()


def test_symmetric_failures_are_saddles(states):
    """Every run still in the symmetric failure sits at a saddle: its most negative direction
    has almost no weight on the unlearnt feature (it rotates the live ones)."""
    ds = common.open_dataset(states)
    symmetric = (ds["outcome"] == common.outcome_code(ds, "symmetric_failure")).values
    assert symmetric.any()
    assert (ds["hessian_neg"].values[symmetric] >= 2).all()
    assert (ds["hessian_min"].values[symmetric] < -1e-4).all()
    assert (ds["hessian_dead_share"].values[symmetric] < 0.01).all()
    perfect = (ds["outcome"] == common.outcome_code(ds, "perfect")).values
    assert perfect.any() and (ds["hessian_neg"].values[perfect] == 0).all()


def test_trajectory_states(states):
    st = stability.stability(states, states="trajectory")
    assert set(st.dims) == {"run", "step"}
    assert (st["hessian_neg"].isel(step=0).values == 2).all()  # both start in the ideal failure


def test_hessian_switch(tmp_path):
    cfg = os.path.join(ROOT, "tests", "analysis", "tiny.cfg")
    for sets, want_off in ((["outcome.hessian=false"], True), (["model.n=16", "model.m=4"], True),
                           (["model.n=16", "model.m=4", "outcome.hessian=true"], False)):
        out = tmp_path / "switch.h5"
        cmd = [ENGINE, "run", cfg, "-o", str(out), "--force", "--quiet", "--set", "train.steps=50"]
        for s in sets:
            cmd += ["--set", s]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        ds = common.open_dataset(str(out))
        neg = ds["hessian_neg"].values
        assert ((neg == -1).all() if want_off else (neg >= 0).all()), sets
        ds.close()


def test_script_prints_saddles(states):
    proc = run_module("stability", states)
    assert proc.returncode == 0, proc.stderr
    assert "symmetric_failure" in proc.stdout and "saddles" in proc.stdout
