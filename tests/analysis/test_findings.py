"""aesweep.findings: the quick pipeline end to end, the verdict rules, and the saddle's
growth rate against the Hessian on a real engine trajectory."""
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ENGINE, MODULE_ENV, ROOT
from aesweep import api, findings


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("findings")
    proc = subprocess.run([sys.executable, "-m", "aesweep.findings", "--quick", "--out", str(out),
                           "--engine", ENGINE], cwd=ROOT, env=MODULE_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_quick_run_answers_every_claim_with_a_figure_and_a_verdict(quick):
    out, proc = quick
    text = (out / "FINDINGS.md").read_text()
    assert re.search(r"Produced on \d{4}-\d\d-\d\d \d\d:\d\d UTC on .+, at commit \w+", text)
    assert "--quick" in text and "say nothing about the physics" in text
    sections = re.split(r"\n## \d\. ", text)[1:]
    assert len(sections) == len(findings.CLAIMS)
    for section in sections:
        assert "*Precision and horizon:*" in section
        figure = re.search(r"!\[\w+\]\(([^)]+)\)", section)[1]
        assert (out / figure).stat().st_size > 10000, figure  # a drawn PNG, not an empty file
        verdict = re.search(r"\*\*Verdict: (\w+)\*\* — .+", section)[1]
        assert verdict in findings.VERDICTS
    assert "aesweep run sweeps/findings/" not in text or "quick.cfg" in text  # the configs it really ran
    assert "findings:" in proc.stderr  # tqdm's progress bar


def test_quicken_shrinks_grids_and_horizons_but_keeps_a_zero_horizon():
    text = 'steps = 25000; x = { range = [0, 2000]; }; y = { logspace = [-4.0, -0.8, 96]; }; z = { steps = 0; }'
    q = findings.quicken(text)
    assert "steps = 2500" in q and "range = [0, 12]" in q and "logspace = [-4.0, -0.8, 8]" in q
    assert "steps = 0;" in q


def test_local_optimum_verdict_follows_the_curvature_and_the_minima():
    assert findings.verdict_local_optimum(False, 0.0)[0] == "reproduced"
    assert findings.verdict_local_optimum(True, 0.01)[0] == "refuted"
    assert findings.verdict_local_optimum(True, 0.4)[0] == "qualified"


def test_persists_verdict():
    assert findings.verdict_persists(0.7, {})[0] == "reproduced"
    assert findings.verdict_persists(0.001, {"eps 1e-8": 0.0, "eps 1e-4": 0.02})[0] == "refuted"
    verdict, why = findings.verdict_persists(0.001, {"eps 1e-8": 0.0, "wd 0.1": 0.3})
    assert verdict == "qualified" and "wd 0.1" in why


def test_rare_verdict_reads_the_intervals():
    assert findings.verdict_rare(1, 100, [])[0] == "reproduced"
    assert findings.verdict_rare(540, 1000, [("sgd lr 0.1", 0, 3000)])[0] == "refuted"
    verdict, why = findings.verdict_rare(540, 1000, [("sgd lr 0.3", 10, 1000)])
    assert verdict == "qualified" and "sgd lr 0.3" in why


def test_chaos_verdict():
    smooth, flat = "falls like eps: a smooth boundary", "flat: riddled or fully mixed"
    assert findings.verdict_chaos(0.9, smooth, flat, 0.5)[0] == "qualified"
    assert findings.verdict_chaos(0.9, flat, flat, 0.5)[0] == "reproduced"
    assert findings.verdict_chaos(0.9, smooth, smooth, 0.0)[0] == "refuted"
    assert findings.verdict_chaos(-0.2, smooth, flat, 0.5)[0] == "refuted"


def test_rescue_verdict_compares_intervals_per_optimizer():
    win = {("anthropic", 0.0): (10, 100), ("repulsor", 0.0): (20, 100), ("repulsor", 0.1): (60, 100)}
    lose = {("anthropic", 0.0): (60, 100), ("repulsor", 0.0): (5, 100), ("repulsor", 0.1): (10, 100)}
    assert findings.verdict_rescue({"adamw": win, "sgd": win})[0] == "reproduced"
    assert findings.verdict_rescue({"adamw": lose, "sgd": lose})[0] == "refuted"
    assert findings.verdict_rescue({"adamw": win, "sgd": lose})[0] == "qualified"
    even = {("anthropic", 0.0): (50, 100), ("repulsor", 0.0): (48, 100), ("gap", 0.1): (52, 100)}
    assert findings.verdict_rescue({"adamw": even, "sgd": even})[0] == "refuted"
    gap_wins = {**even, ("gap", 0.1): (80, 100)}  # the well-posed form counts as the repulsor idea
    assert findings.verdict_rescue({"adamw": gap_wins, "sgd": even})[0] == "qualified"


def test_escape_step_is_the_last_feature_learnt_or_nan():
    import xarray as xr
    ls = xr.DataArray([[0, 300, 4500], [0, -1, 200]], dims=("run", "feature"))
    got = findings.escape_step(xr.Dataset({"learnt_step": ls}))
    assert got.values[0] == 4500 and np.isnan(got.values[1])


def test_the_saddle_grows_at_the_rate_its_hessian_predicts(tmp_path):
    """Plain SGD in float64 from the ideal failure (n = 7): the distance along the unstable
    eigenvectors grows by 1 + lr |lambda_min| a step, as a linear instability must."""
    config = {"model": {"n": 7, "m": 2, "precision": "float64"}, "init": {"scheme": "ideal_failure"},
              "train": {"optimizer": "sgd", "lr": 1.0, "weight_decay": 0.0, "steps": 30000, "check_every": 100},
              "trajectory": {"every": 100, "runs": [0]}}
    api.run(config, tmp_path / "escape.h5", engine=ENGINE)
    tr = api.open(tmp_path / "escape.h5", group="trajectory").load()
    rate, lam, _, along, fit = findings.growth_rate(tr)
    assert lam < 0 and fit.sum() >= 5
    assert rate == pytest.approx(np.log1p(abs(lam)), rel=0.03)
