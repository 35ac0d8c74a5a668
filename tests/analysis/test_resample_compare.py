"""analysis.resample_compare on an engine file with an `intervention` axis (see conftest.py)."""
import numpy as np
import pytest

from analysis import common, resample_compare
from conftest import run_module
from test_scripts import assert_clear_error, check_image, raw

METHODS = ["none", "anthropic", "repulsor"]


def parse(text):
    """{method: (runs, recovered, fraction, lo, hi)} from the printed table."""
    lines = text.strip().splitlines()
    assert lines[0].split() == ["method", "runs", "recovered", "fraction", "[lo,", "hi]"]
    rows = {}
    for line in lines[1:]:
        method, runs, rec, frac, lo, hi = line.replace("[", " ").replace("]", " ").replace(",", " ").split()
        rows[method] = (int(runs), int(rec), float(frac), float(lo), float(hi))
    return rows


def expected(path):
    """Per method (finished runs, perfect runs), from the file as stored."""
    ds = common.open_dataset(path)
    assert ds["outcome"].dims == ("base", "intervention", "intervene_delta", "lr")
    assert [common.fmt(v) for v in ds["intervention"].values] == METHODS
    outcome, done = raw(path, "outcome")
    return {m: (int(done[:, i].sum()), int(np.sum(done[:, i] & (outcome[:, i] == 0))))
            for i, m in enumerate(METHODS)}


def test_resample_compare(resample, tmp_path, capsys):
    out = tmp_path / "compare.png"
    assert resample_compare.main([resample, "-o", str(out)]) == 0
    check_image(out, resample_compare.size(3))
    rows = parse(capsys.readouterr().out)
    want = expected(resample)
    assert list(rows) == METHODS
    for m in METHODS:
        runs, rec, frac, lo, hi = rows[m]
        assert (runs, rec) == want[m] == (12, want[m][1])
        assert frac == pytest.approx(rec / runs, abs=5e-4)
        assert (lo, hi) == pytest.approx(common.wilson(rec, runs), abs=5e-4)


def test_maps_match_file(resample):
    """The per-method map over (lr, intervene_delta) is the share over base of perfect runs."""
    ds = common.open_dataset(resample)
    k, n = resample_compare.recovered_counts(ds, ["intervention", "lr", "intervene_delta"])
    outcome, done = raw(resample, "outcome")
    np.testing.assert_array_equal(n.transpose("intervention", "intervene_delta", "lr").values, done.sum(axis=0))
    np.testing.assert_array_equal(k.transpose("intervention", "intervene_delta", "lr").values,
                                  np.sum(done & (outcome == 0), axis=0))


def test_one_method_pdf_and_other_axes(resample, tmp_path, capsys):
    out = tmp_path / "compare.png"
    assert resample_compare.main([resample, "--sel", "intervention=repulsor", "--x", "base", "--y", "lr",
                                  "-o", str(out)]) == 0
    check_image(out, resample_compare.size(1))
    assert list(parse(capsys.readouterr().out)) == ["repulsor"]
    pdf = tmp_path / "compare.pdf"
    assert resample_compare.main([resample, "-o", str(pdf)]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_pick_axes():
    dims = ["base", "intervention", "intervene_delta", "lr"]
    assert resample_compare.pick_axes(dims) == ("lr", "intervene_delta")
    assert resample_compare.pick_axes(dims, y="base") == ("lr", "base")
    assert resample_compare.pick_axes(["intervention", "seed", "n"]) == ("seed", "n")
    assert resample_compare.pick_axes(["base", "intervention"]) == (None, None)  # summary panel only
    with pytest.raises(common.AnalysisError, match="no 'intervention' dimension"):
        resample_compare.pick_axes(["lr", "bias_delta"])


def test_errors(tiny, resample, tmp_path, capsys):
    proc = run_module("resample_compare", tiny, "-o", tmp_path / "x.png")
    assert_clear_error(proc.returncode, proc.stderr, "no 'intervention' dimension", "intervene.method")
    for args, words in [(["--x", "intervention"], ["cannot be 'intervention'"]),
                        (["--y", "bias_delta"], ["unknown grid axis", "bias_delta"]),
                        (["--sel", "intervention=bogus"], ["empty selection", "bogus"]),
                        (["--x", "lr", "--y", "lr"], ["same axis"])]:
        status = resample_compare.main([resample, *args, "-o", str(tmp_path / "x.png")])
        assert_clear_error(status, capsys.readouterr().err, *words)
    assert_clear_error(resample_compare.main([str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.png")]),
                       capsys.readouterr().err, "no such file")
