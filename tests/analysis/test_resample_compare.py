"""aesweep.resample_compare on an engine file with an `intervention` axis (see conftest.py)."""
import numpy as np
import pytest

from aesweep import common, resample_compare
from conftest import run_module
from test_scripts import assert_clear_error, check_image, raw

METHODS = ["none", "anthropic", "repulsor"]


def parse(text):
    """{method: (runs, recovered, fraction, lo, hi)} from the printed table (lo, hi NaN
    where it gives a plain fraction), and whether it gave Wilson intervals."""
    lines = text.strip().splitlines()
    assert lines[-1].startswith("runs identical by construction counted once; ")
    head = lines[0].split()
    assert head[:4] == ["method", "distinct", "runs", "recovered"]
    rows = {}
    for line in lines[1:-1]:
        f = line.replace("[", " ").replace("]", " ").replace(",", " ").split()
        lo, hi = (float(f[4]), float(f[5])) if len(f) == 6 else (np.nan, np.nan)
        rows[f[0]] = (int(f[1]), int(f[2]), float(f[3]), lo, hi)
    return rows, "Wilson" in lines[0]


def expected(path, lr=None, delta=None):
    """Per method (distinct finished runs, perfect runs), from the file as stored: `none` and
    `anthropic` do not read intervene.delta, so their runs along it count once."""
    ds = common.open_dataset(path)
    assert ds["outcome"].dims == ("base", "intervention", "intervene_delta", "lr")
    assert [common.fmt(v) for v in ds["intervention"].values] == METHODS
    outcome, done = raw(path, "outcome")
    lrs, deltas = list(ds["lr"].values), list(ds["intervene_delta"].values)
    want = {}
    for i, m in enumerate(METHODS):
        o, d = outcome[:, i], done[:, i]
        if delta is not None:
            o, d = o[:, [deltas.index(delta)]], d[:, [deltas.index(delta)]]
        elif m != "repulsor":
            o, d = o[:, :1], d[:, :1]
        if lr is not None:
            o, d = o[..., [lrs.index(lr)]], d[..., [lrs.index(lr)]]
        want[m] = (int(d.sum()), int(np.sum(d & (o == 0))))
    return want


def test_resample_compare(resample, tmp_path, capsys):
    out = tmp_path / "compare.png"
    assert resample_compare.main([resample, "-o", str(out)]) == 0
    check_image(out, resample_compare.size(3))
    rows, wilson = parse(capsys.readouterr().out)
    want = expected(resample)
    assert list(rows) == METHODS and not wilson  # pooled over lr, a deterministic axis: plain fractions
    assert {m: rows[m][:2] for m in METHODS} == want
    assert [want[m][0] for m in METHODS] == [6, 6, 12]  # 2 bases x 3 lr (x 2 delta for the repulsor)
    for m in METHODS:
        runs, rec, frac, lo, hi = rows[m]
        assert frac == pytest.approx(rec / runs, abs=5e-4) and np.isnan(lo) and np.isnan(hi)


def test_wilson_intervals_only_over_replicates(resample, tmp_path, capsys):
    """One lr and one delta left: the runs pooled per method differ only by base state."""
    assert resample_compare.main([resample, "--sel", "lr=0.01", "--sel", "intervene_delta=0.1",
                                  "-o", str(tmp_path / "c.png")]) == 0
    rows, wilson = parse(capsys.readouterr().out)
    want = expected(resample, lr=0.01, delta=0.1)
    assert wilson
    for m in METHODS:
        runs, rec, frac, lo, hi = rows[m]
        assert (runs, rec) == want[m] and runs == 2
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
    assert list(parse(capsys.readouterr().out)[0]) == ["repulsor"]
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
