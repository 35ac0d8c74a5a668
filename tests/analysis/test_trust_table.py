"""aesweep.trust (analysis/aesweep/census.py): the trust table of a file, the same counts as
`aesweep info` prints, in the census script, the summary and the report."""
import re
import subprocess

import numpy as np
import pytest

from conftest import ENGINE, produce
from aesweep import census, common, report, summary


@pytest.fixture(scope="module")
def sgd(tmp_path_factory):
    return produce(tmp_path_factory, "check.cfg", "trust.h5")


def info_trust(path):
    """{outcome: [runs, frozen, saddle, minimum, fr.saddle, unl.1, unl.2, unl.>=3]} from aesweep info."""
    text = subprocess.run([ENGINE, "info", path], capture_output=True, text=True, check=True).stdout
    table = text.split("\ntrust:")[1].split("\n\n")[0]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\s+([a-z_]+)\s+((?:\d+\s*){8})$", line)
        if m:
            rows[m[1]] = [int(v) for v in m[2].split()]
    return rows


def test_trust_counts_what_info_counts(sgd):
    ds = common.open_dataset(sgd)
    t = census.trust(ds)
    rows = info_trust(sgd)
    assert rows and "symmetric_failure" in rows
    for name, values in rows.items():
        got = [int(t[c].sel(outcome=name)) for c in ("runs",) + census.TRUST_COLUMNS]
        assert got == values, name


def test_trust_against_the_file_variables(sgd):
    ds = common.open_dataset(sgd)
    t = census.trust(ds).sel(outcome="all")
    frozen, neg = ds["frozen"].values, ds["hessian_neg"].values
    assert int(t["frozen_saddle"]) == int(np.sum((frozen == 1) & (neg > 0)))
    assert int(t["saddle"]) + int(t["minimum"]) == int(np.sum(neg >= 0))
    unl = 7 - ds["n_learnt"].values
    assert int(t["unlearnt_2"]) == int(np.sum(unl == 2)) > 0  # two-unlearnt failures: something to count
    assert int(t["frozen_saddle"]) > 0  # float32 SGD at lr 0.9 freezes some saddles


def test_a_file_without_the_variables_says_so(tiny):
    ds = common.open_dataset(tiny).drop_vars(["frozen", "hessian_neg"], errors="ignore")
    t = census.trust(ds)
    assert (t["frozen"] == -1).all() and (t["saddle"] == -1).all()
    header, rows = census.trust_rows(t)
    assert rows and all(r[header.index("frozen")] == "-" for r in rows)
    assert summary.trust_sentence(ds) is None


def test_a_seed_census_pools_its_seeds_and_states_its_horizon(sgd, tmp_path, capsys):
    assert census.main([sgd, "-o", str(tmp_path / "c.png")]) == 0  # no --by: seeds are replicates
    table = capsys.readouterr().out.split("\n\n")
    rows = table[0].splitlines()
    assert len(rows) == 2 and rows[1].split()[:2] == ["all", "40"]
    assert "horizon: 25000 training steps; 95 % Wilson interval over replicates (seed)" in table[1]


def test_census_summary_and_report_show_it(sgd, tmp_path, capsys):
    assert census.main([sgd, "-o", str(tmp_path / "c.png"), "--by", "none"]) == 0
    out = capsys.readouterr().out
    assert "trust (frozen:" in out and "frozen saddle" in out
    fs = int(census.trust(common.open_dataset(sgd)).sel(outcome="all")["frozen_saddle"])
    assert f"{fs} runs are frozen at a saddle" in summary.summarize(common.open_dataset(sgd), full=True)
    assert report.main([sgd, "-o", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<summary>Trust: frozen runs, saddles and minima" in page and "<th>frozen saddle</th>" in page
