"""The Numba baseline (analysis/baselines/numba_loops.py) trains the same model as the
NumPy one: the same loss and gradient on random states, and the same AdamW trajectory as
a NumPy loop of the same step, in float64."""
import os
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "analysis", "baselines"))
import numba_loops  # noqa: E402  (numba: make deps installs it)
import numpy_batched  # noqa: E402, I001


def test_loss_and_gradient_match_numpy():
    rng = np.random.default_rng(3)
    for n, m in ((7, 2), (16, 3)):
        W = rng.standard_normal((5, n, m))
        b = rng.standard_normal((5, n)) * 0.3
        loss, gW, gb = numpy_batched.loss_and_grad(W, b, np.eye(n))
        for r in range(5):
            gWr, gbr = np.zeros((n, m)), np.zeros(n)
            assert numba_loops.loss_grad(W[r].copy(), b[r].copy(), gWr, gbr) == pytest.approx(loss[r], rel=1e-12)
            np.testing.assert_allclose(gWr, gW[r], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(gbr, gb[r], rtol=1e-10, atol=1e-14)


def test_adamw_steps_match_a_numpy_loop():
    lr, wd, b1, b2, eps, steps = 1e-2, 0.01, 0.9, 0.999, 1e-8, 30
    W, b = numba_loops.initial_state(4, 7, 2, np.float64, seed=1)
    W_ref, b_ref = W.copy(), b.copy()
    numba_loops.train(W, b, steps, lr, wd, b1, b2, eps)
    moments = [[np.zeros_like(W_ref), np.zeros_like(W_ref)], [np.zeros_like(b_ref), np.zeros_like(b_ref)]]
    for t in range(1, steps + 1):
        _, gW, gb = numpy_batched.loss_and_grad(W_ref, b_ref, np.eye(7))
        for p, g, (m1, m2) in zip((W_ref, b_ref), (gW, gb), moments):
            p *= 1 - lr * wd
            m1 += (1 - b1) * (g - m1)
            m2 *= b2
            m2 += (1 - b2) * g * g
            p -= lr / (1 - b1 ** t) * m1 / (np.sqrt(m2) / np.sqrt(1 - b2 ** t) + eps)
    assert not np.allclose(W, numba_loops.initial_state(4, 7, 2, np.float64, seed=1)[0])  # it trained
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-12)


def test_the_script_reports_a_rate(tmp_path):
    out = tmp_path / "numba.json"
    assert numba_loops.main(["--n", "7", "--runs", "32", "--steps", "20", "--precision", "float64",  # compiled above
                             "--json", str(out)]) == 0
    import json

    result = json.loads(out.read_text())
    assert result["baseline"] == "numba_loops" and result["model_steps_per_second"] > 0
    assert np.isfinite(result["mean_final_loss"])
